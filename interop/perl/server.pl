#!/usr/bin/env perl
# The wire interop service (design §7) with the connection lifecycle of §6.
#
# Concurrency: one forked child per connection. Each connection is a strictly sequential
# conversation (one reply per request, in order), so a child can use plain blocking I/O with
# deadlines and mirror the lifecycle step by step; a slow or broken peer can only stall or crash
# its own child; and a 16 MiB payload in one connection does not delay the others, which a
# single-threaded event loop would have to avoid with explicit buffering on both directions.
# The parent only accepts, reaps children on SIGCHLD, and on SIGTERM/SIGINT stops them all.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Errno qw(EINTR EAGAIN EWOULDBLOCK);
use Getopt::Long qw(GetOptions);
use IO::Handle;
use IO::Select;
use IO::Socket::IP;
use POSIX qw(WNOHANG SIGCHLD SIGINT SIGTERM SIG_BLOCK SIG_UNBLOCK sigprocmask);
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time sleep);

use Wire qw(:all);
use Wire::Error;
use Wire::Interop;
use Wire::IO qw(deadline read_frame write_frame close_gracefully);
use Wire::Vectors qw(load_vectors);

my %opt = (
    host          => '127.0.0.1',
    port          => 0,
    vectors       => "$FindBin::Bin/../../proto/vectors.txt",
    'max-payload' => DEFAULT_MAX_PAYLOAD,
    timeout       => 60,
);
GetOptions(\%opt, 'host=s', 'port=i', 'vectors=s', 'max-payload=i', 'timeout=f', 'help')
    or usage(2);
usage(0) if $opt{help};
die "server.pl: --max-payload must be 0..4294967295\n"
    unless $opt{'max-payload'} >= 0 && $opt{'max-payload'} <= 0xFFFFFFFF;
# IO::Socket::IP would take 99999 and listen on 99999 mod 65536
unless ($opt{port} =~ /\A[0-9]+\z/ && $opt{port} <= 65535) {
    print STDERR "server.pl: --port must be 0..65535, not $opt{port}\n";
    exit 2;
}

sub usage {
    print STDERR "usage: server.pl [--host H] [--port P] [--vectors FILE] [--max-payload N] "
               . "[--timeout SECONDS]\n";
    exit $_[0];
}

sub logline { printf STDERR "perl-server[%d]: %s\n", $$, $_[0] }

my $cases = eval { load_vectors($opt{vectors}) } or die "server.pl: $@\n";
my $service = Wire::Interop->new(vectors => $cases);

my $listener = IO::Socket::IP->new(
    LocalHost => $opt{host},
    LocalPort => $opt{port},
    Listen    => 128,
    ReuseAddr => 1,
) or die "server.pl: cannot listen on [$opt{host}]:$opt{port}: " . ($@ || $!) . "\n";

$SIG{PIPE} = 'IGNORE';    # a write to a vanished peer is an IO error, not death
STDOUT->autoflush(1);
print $listener->sockport, "\n";
logline("listening on [$opt{host}]:" . $listener->sockport . ', ' . scalar(@$cases) . ' vectors');

my %children;
my $stop = 0;
$SIG{CHLD} = sub {
    while ((my $pid = waitpid -1, WNOHANG) > 0) { delete $children{$pid} }
};
$SIG{TERM} = $SIG{INT} = sub { $stop = 1 };

# The 1 s select bounds the time between a signal and the loop noticing it, even if the signal
# lands between the $stop check and the wait. A non-blocking listener keeps accept from hanging
# when a connection is aborted between select and accept.
$listener->blocking(0);
my $select = IO::Select->new($listener);
until ($stop) {
    next unless $select->can_read(1);
    my $conn = $listener->accept;
    if (!$conn) {
        logline("accept: $!") unless $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
        next;
    }
    # Signals wait until the fork is done: SIGCHLD so that a child that ends at once is not reaped
    # before it is in %children (it would stay there forever); SIGTERM/SIGINT so that the child
    # gets them only with the default action restored (else it would ignore them and live on).
    my $blocked = POSIX::SigSet->new(SIGCHLD, SIGTERM, SIGINT);
    sigprocmask(SIG_BLOCK, $blocked);
    my $pid = fork;
    if (!defined $pid) {
        sigprocmask(SIG_UNBLOCK, $blocked);
        logline("fork: $!");
        close $conn;
        next;
    }
    if (!$pid) {
        $SIG{$_} = 'DEFAULT' for qw(CHLD TERM INT);
        sigprocmask(SIG_UNBLOCK, $blocked);
        close $listener;
        serve($conn);
        exit 0;
    }
    $children{$pid} = 1;
    sigprocmask(SIG_UNBLOCK, $blocked);
    close $conn;
}

close $listener;
stop_children();
logline('stopped');
exit 0;

# Ends every connection child: SIGTERM, up to 5 s to go, then SIGKILL.
sub stop_children {
    local $SIG{CHLD} = 'DEFAULT';
    kill TERM => keys %children;
    my $until = time + 5;
    while (%children && time < $until) {
        my $pid = waitpid -1, WNOHANG;
        if ($pid > 0) { delete $children{$pid} }
        elsif ($pid < 0) { %children = () }    # nothing left to wait for
        else { sleep 0.02 }
    }
    for my $pid (keys %children) {
        kill KILL => $pid;
        waitpid $pid, 0;
    }
    return;
}

# One connection, from HELLO to close; logs one line.
sub serve {
    my ($sock) = @_;
    my $peer = '[' . ($sock->peerhost // '?') . ']:' . ($sock->peerport // '?');
    setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);
    $sock->blocking(0);    # so that deadlines bound writes too
    my %conn = (sock => $sock, requests => 0, peer_max => undef, graceful => 0);
    my $t0 = time;
    my $outcome = eval { session(\%conn) } // do {
        my $e = $@;
        close $sock;
        ref $e ? "ended: $e" : "ended: internal error: $e";
    };
    $outcome =~ s/\s+\z//;
    logline(sprintf '%s %s; %d requests in %.3f s', $peer, $outcome, $conn{requests}, time - $t0);
    # The drain comes after the log line: a stop signal during it ends this child at once.
    close_gracefully($sock, 2) if $conn{graceful};
    return;
}

sub session {
    my ($c) = @_;
    my $sock = $c->{sock};
    while (1) {
        my ($type, $payload);
        my $read = eval {
            ($type, $payload) = read_frame($sock, max_payload => $opt{'max-payload'},
                                           deadline => deadline($opt{timeout}));
            1;
        };
        if (!$read) {
            my $e = $@;
            die $e unless ref $e && $e->isa('Wire::Error');
            if ($e->name eq 'CLOSED' || $e->name eq 'IO') {
                close $sock;
                return 'closed: ' . $e->message;
            }
            # A bad header (offset 0, 1, 2 or 4) or an idle/slow peer (TIMEOUT, no offset).
            return refuse($c, $e, $e->offset);
        }
        $c->{requests}++;

        my ($rtype, $rpayload);
        if (!defined $c->{peer_max}) {
            return refuse($c, unexpected($type, 'HELLO first'), 2) if $type != MSG_HELLO;
            my $hello = eval { parse_hello($payload) } or return refuse_payload($c, $@);
            $c->{peer_max} = $hello->{max_payload};
            ($rtype, $rpayload) = (MSG_HELLO, hello_payload('perl-server', $opt{'max-payload'}));
        }
        elsif ($type == MSG_BYE) {
            ($rtype, $rpayload) = (MSG_BYE, '');
        }
        elsif ($type == MSG_PING) {
            ($rtype, $rpayload) = (MSG_PONG, $payload);
        }
        elsif ($service->handles($type)) {
            ($rtype, $rpayload) = eval { $service->handle($type, $payload) };
            return refuse_payload($c, $@) unless defined $rtype;
        }
        elsif ($type == MSG_ERROR) {
            my $e = eval { parse_error($payload) } // $@;
            close $sock;
            return "peer sent ERROR: $e";
        }
        else {
            return refuse($c, unexpected($type, 'a request'), 2);
        }

        # A reply the peer cannot accept is not sent: the peer gets an ERROR instead.
        return refuse($c, Wire::Error->new(code => 'TOOBIG', message => length($rpayload)
                          . " byte reply exceeds your max_payload $c->{peer_max}"), undef)
            if length $rpayload > $c->{peer_max};
        write_frame($sock, $rtype, $rpayload, deadline => deadline($opt{timeout}));
        if ($rtype == MSG_BYE) {
            $c->{graceful} = 1;    # serve() logs, then closes gracefully
            return 'bye';
        }
    }
}

sub unexpected {
    my ($type, $want) = @_;
    return Wire::Error->new(code => 'UNEXPECTED',
                            message => sprintf 'message type 0x%04x is not expected here (want %s)',
                                               $type, $want);
}

# An error in a payload: its offset counts from the payload, the ERROR's from the frame.
sub refuse_payload {
    my ($c, $e) = @_;
    die $e unless ref $e && $e->isa('Wire::Error');
    return refuse($c, $e, defined $e->offset ? HEADER_SIZE + $e->offset : undef);
}

# Design §6: send ERROR(code, offset, text); serve() then shuts down our side, drains briefly, closes.
sub refuse {
    my ($c, $e, $offset) = @_;
    my $payload = eval { error_payload($e->code, $offset, $e->message, $c->{peer_max}) };
    eval { write_frame($c->{sock}, MSG_ERROR, $payload, deadline => deadline(5)) } if defined $payload;
    $c->{graceful} = 1;    # serve() logs, then closes gracefully
    return sprintf 'sent ERROR %s at %s: %s', $e->name, $offset // 'none', $e->message;
}

__END__

=head1 NAME

server.pl - the Perl wire interop server

=head1 SYNOPSIS

    perl interop/perl/server.pl [--host 127.0.0.1] [--port 0] [--vectors proto/vectors.txt]
                                [--max-payload 16777216] [--timeout 60]

Prints the listening port alone on the first line of stdout, logs one line per connection on
stderr, serves connections concurrently (a process each) and exits 0 on SIGTERM or SIGINT after
stopping its children. C<--timeout> is the idle/slow-peer limit in seconds for each frame read or
write; a peer that exceeds it gets ERROR(TIMEOUT) and is closed.

=cut
