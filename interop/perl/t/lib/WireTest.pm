# SPDX-License-Identifier: MIT
package WireTest;

# Shared by the tests: where proto/ is, a way to look at a thrown Wire::Error, and server.pl as a
# child process.

use strict;
use warnings;

use Exporter 'import';
use File::Spec;
use File::Temp qw(tempdir);
use FindBin;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(time sleep);

our @EXPORT = qw(proto_file error_of throws_wire start_server stop_server);

my $PERL_DIR = File::Spec->catdir($FindBin::Bin, File::Spec->updir);
my $TMP;
my %RUNNING;    # servers started and not stopped: pid => the test process that started them

# A test that dies half-way must not leave its servers running (only the process that started them
# stops them: a forked helper that exits does not).
END {
    local $?;    # the test's own exit status
    for my $pid (grep { $RUNNING{$_} == $$ } keys %RUNNING) {
        kill TERM => $pid;    # it stops its connection processes too
        my $until = time + 5;
        sleep 0.05 while !waitpid($pid, WNOHANG) && time < $until;
        kill KILL => $pid;
        waitpid $pid, 0;
    }
}

sub proto_file {
    my ($name) = @_;
    return File::Spec->catfile($FindBin::Bin, File::Spec->updir, File::Spec->updir,
                               File::Spec->updir, 'proto', $name);
}

# The Wire::Error thrown by $code, or undef if it returned. Anything else thrown is re-thrown.
sub error_of(&) {
    my ($code) = @_;
    return undef if eval { $code->(); 1 };
    my $e = $@;
    die $e unless ref $e && $e->isa('Wire::Error');
    return $e;
}

# One test: $code throws a Wire::Error named $name (and at $offset when $offset is given;
# the string 'none' asks for an undefined offset).
sub throws_wire(&$$;$) {
    my ($code, $name, $label, $offset) = @_;
    my $e = eval { error_of(\&$code) };
    my $got = !defined $e ? ($@ ? "died: $@" : 'no error')
            : $e->name . ' at ' . ($e->offset // 'none');
    my $want = $name . (defined $offset ? " at $offset" : '');
    my $ok = defined $e && $e->name eq $name
          && (!defined $offset || ($offset eq 'none' ? !defined $e->offset
                                                     : defined $e->offset && $e->offset == $offset));
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    ok($ok, $label) or diag("want $want, got $got");
    return $e;
}

# Starts server.pl with @args, its stderr in a log file; returns { pid, port, log, out } once it has
# printed its port (port undef if it did not within 10 s). A leading hash reference can ask for
# limits: { ulimit => '-n 16' } (sh's ulimit arguments), { uid => 65534 } (run as that user; root
# only).
sub start_server {
    my %how = ref $_[0] eq 'HASH' ? %{ shift @_ } : ();
    my (@args) = @_;
    $TMP //= tempdir(CLEANUP => 1);
    my $log = "$TMP/server-" . time . "-$$-" . int(rand 1e6) . '.log';
    pipe my $r, my $w or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $r;
        open STDOUT, '>&', $w or die;
        open STDERR, '>', $log or die;
        if (defined $how{uid}) {
            POSIX::setgid($how{uid}) or die "setgid: $!";
            POSIX::setuid($how{uid}) or die "setuid: $!";
        }
        my @cmd = ($^X, "-I$PERL_DIR/lib", "$PERL_DIR/server.pl", @args);
        # bash's ulimit knows -u (processes); dash's does not.
        @cmd = ((-x '/bin/bash' ? '/bin/bash' : '/bin/sh'), '-c', "ulimit $how{ulimit} && exec \"\$@\"", 'sh', @cmd)
            if $how{ulimit};
        exec @cmd or die "exec: $!";
    }
    close $w;
    my $port;
    {
        local $SIG{ALRM} = sub { die "server did not print its port\n" };
        alarm 10;
        $port = eval { <$r> };
        alarm 0;
    }
    chomp $port if defined $port;
    $RUNNING{$pid} = $$;
    return { pid => $pid, port => $port, log => $log, out => $r };
}

# Signals the server (TERM by default) and waits up to 10 s: its wait status, or 'still running'.
sub stop_server {
    my ($s, $signal) = @_;
    kill $signal // 'TERM', $s->{pid};
    my $until = time + 10;
    my $got = 0;
    while (time < $until) {
        $got = waitpid $s->{pid}, WNOHANG;
        last if $got;
        sleep 0.02;
    }
    return 'still running' unless $got == $s->{pid};
    delete $RUNNING{ $s->{pid} };
    return $?;
}

1;
