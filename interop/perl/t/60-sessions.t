# SPDX-License-Identifier: MIT
# Every session of proto/sessions.txt against server.pl, started with the file's config line, each on
# its own connection, several at once (proto/README.md section 8; SPEC 8). Pure Perl: this is the
# tester's side of wire-conform's session checks.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Errno qw(EINTR EAGAIN EWOULDBLOCK);
use File::Temp qw(tempdir);
use IO::Select;
use POSIX ();
use Time::HiRes qw(time);
use Test::More;

use WireTest;
use Wire qw(:all);
use Wire::IO qw(connect_to write_all);
use Wire::Notation qw(compare_fields format_hex);
use Wire::Vectors qw(load_sessions);

use constant {
    MIN_SESSIONS => 78,      # the file's sessions when this test was written: a truncated file fails
    CLOSE_MS     => 2000,    # after an ERROR (or for expect-close): how long the server may take to close
    WORKERS      => 8,       # sessions at once
};

$SIG{PIPE} = 'IGNORE';
my $file = load_sessions(proto_file('sessions.txt'));
my @sessions = @{ $file->{sessions} };
cmp_ok(scalar @sessions, '>=', MIN_SESSIONS, 'sessions.txt has at least ' . MIN_SESSIONS . ' sessions');

my $srv = start_server(@{ $file->{config} }, '--host', '127.0.0.1', '--port', 0);
BAIL_OUT('server.pl did not start') unless defined $srv->{port} && $srv->{port} =~ /\A[0-9]+\z/;

# ---------------------------------------------------------------------------------------------
# The tester's side of one connection: what the server sent, not yet taken.

sub describe_frame {
    my ($type, $payload) = @_;
    if ($type == MSG_ERROR) {
        my $e = eval { parse_error($payload) };
        return $e ? sprintf("ERROR %s at %s ('%s')", $e->name, $e->offset // 'none', $e->message)
                  : 'a malformed ERROR';
    }
    my $hex = format_hex(substr $payload, 0, 24);
    return sprintf '%s with %d bytes %s%s', message_name($type) // sprintf('0x%04x', $type),
                   length $payload, $hex, length $payload > 24 ? '...' : '';
}

# Reads what comes until $until: 1 some bytes, 0 nothing in time, -1 the stream ended (eof or reset).
sub read_more {
    my ($c, $until) = @_;
    return -1 if $c->{eof} || $c->{reset};
    my $sel = IO::Select->new($c->{sock});
    while (1) {
        my $left = $until - time;
        return 0 if $left <= 0;
        next unless $sel->can_read($left);
        my $n = sysread $c->{sock}, $c->{buf}, 1 << 20, length $c->{buf};
        return 1 if $n;
        next if !defined $n && ($! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK);
        $c->{defined $n ? 'eof' : 'reset'} = 1;
        return -1;
    }
}

# The next frame within $ms: ($type, $payload), or (undef, why not).
sub next_frame {
    my ($c, $ms) = @_;
    my $until = time + $ms / 1000;
    while (1) {
        if (length $c->{buf} >= HEADER_SIZE) {
            my ($type, $len) = eval { decode_header($c->{buf}, 0xFFFFFFFF) };
            return (undef, "the server sent a bad frame header ($@)") unless defined $type;
            if (length $c->{buf} >= HEADER_SIZE + $len) {
                my $payload = substr $c->{buf}, HEADER_SIZE, $len;
                substr($c->{buf}, 0, HEADER_SIZE + $len) = '';
                return ($type, $payload);
            }
        }
        my $r = read_more($c, $until);
        next if $r > 0;
        my $half = length $c->{buf} ? ' after half a frame' : '';
        return (undef, $r == 0 ? "nothing came within $ms ms$half"
                               : ($c->{reset} ? 'the server reset the connection' : 'the server closed the connection') . $half);
    }
}

# The server closes within $ms, sending nothing more: undef, or why not.
sub expect_close {
    my ($c, $ms, $after) = @_;
    my $until = time + $ms / 1000;
    1 while !length $c->{buf} && read_more($c, $until) > 0;
    if (length $c->{buf}) {
        my ($type, $payload) = next_frame($c, 0);
        return "expected the server to close$after, got "
             . (defined $type ? describe_frame($type, $payload) : format_hex($c->{buf}));
    }
    return "expected the server to close$after, it reset the connection (not the graceful close of SPEC 8.4)"
        if $c->{reset};
    return "expected the server to close$after, it kept the connection open $ms ms" unless $c->{eof};
    return undef;
}

sub expected_type { message_name($_[0]) // sprintf '0x%04x', $_[0] }

# One step: undef when it passed, else why not.
sub run_step {
    my ($c, $st) = @_;
    my $step = $st->{step};
    if ($step eq 'hello') {
        write_all($c->{sock}, encode_frame(MSG_HELLO, hello_payload('perl-sessions', DEFAULT_MAX_PAYLOAD)),
                  time + 5);
        my ($type, $payload) = next_frame($c, $st->{ms});
        return "expected HELLO: $payload" unless defined $type;
        my $h = $type == MSG_HELLO && eval { parse_hello($payload) };
        return "expected HELLO u16:1 u32:$file->{max_payload} string:*, got " . describe_frame($type, $payload)
            unless $h && $h->{max_payload} == $file->{max_payload};
        return undef;
    }
    if ($step eq 'send' || $step eq 'raw') {
        my $bytes = $step eq 'send' ? encode_frame($st->{type}, $st->{bytes}) : $st->{bytes};
        return eval { write_all($c->{sock}, $bytes, time + 5); 1 } ? undef : "sending: $@";
    }
    if ($step eq 'shutdown') {
        shutdown $c->{sock}, 1;
        return undef;
    }
    if ($step eq 'expect') {
        my $want = expected_type($st->{type});
        my ($type, $payload) = next_frame($c, $st->{ms});
        return "expected $want: $payload" unless defined $type;
        my $got = describe_frame($type, $payload);
        return "expected $want, got $got" if $type != $st->{type};
        if ($st->{fields}) {
            my $fields = eval { decode_fields($payload) } or return "expected $want, got $got: it does not decode";
            my $d = compare_fields($st->{fields}, $fields);
            return "expected $want, got $got: field $d->{path} is $d->{got}, expected $d->{expected}" if $d;
        }
        elsif ($payload ne $st->{bytes}) {
            return "expected $want with " . length($st->{bytes}) . ' bytes ' . format_hex(substr $st->{bytes}, 0, 24)
                 . ", got $got";
        }
        return undef;
    }
    if ($step eq 'expect-error') {
        my $want = "ERROR $st->{code} at " . ($st->{offset} // 'none');
        my ($type, $payload) = next_frame($c, $st->{ms});
        return "expected $want: $payload" unless defined $type;
        my $e = $type == MSG_ERROR && eval { parse_error($payload) };
        return "expected $want, got " . describe_frame($type, $payload)
            unless $e && $e->name eq $st->{code} && ($e->offset // 'none') eq ($st->{offset} // 'none');
        return expect_close($c, CLOSE_MS, " after ERROR $st->{code}");
    }
    return expect_close($c, $st->{ms} > CLOSE_MS ? $st->{ms} : CLOSE_MS, '');    # expect-close
}

# A whole session on a new connection: undef when it passed, else why not.
sub run_session {
    my ($s) = @_;
    my $sock = eval { connect_to('127.0.0.1', $srv->{port}, timeout => 3) } or return "cannot connect: $@";
    my $c = { sock => $sock, buf => '' };
    my $i = 0;
    for my $st (@{ $s->{steps} }) {
        $i++;
        my $why = run_step($c, $st);
        next unless defined $why;
        close $sock;
        return "step $i (line $st->{line}): $why";
    }
    close $sock;
    return undef;
}

# ---------------------------------------------------------------------------------------------
# WORKERS sessions at once, each in a child that writes its verdict to a file. The sessions that wait
# for a timeout (seconds each) start first, so that they overlap with all the others.

my $dir = tempdir(CLEANUP => 1);
my @order = sort { slow($b) <=> slow($a) || $a <=> $b } 0 .. $#sessions;
sub slow { scalar grep { $_->{step} eq 'expect-error' && $_->{code} eq 'TIMEOUT' } @{ $sessions[ $_[0] ]{steps} } }

my $t0 = time;
my %running;
while (@order || %running) {
    while (@order && keys %running < WORKERS) {
        my $k = shift @order;
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my $why = eval { run_session($sessions[$k]) } // ($@ ? "the runner died: $@" : undef);
            open my $out, '>', "$dir/$k" or POSIX::_exit(1);
            print $out defined $why ? "FAIL $why" : 'ok';
            close $out;
            POSIX::_exit(0);    # not exit: the parent's END blocks and temp dirs are not the child's
        }
        $running{$pid} = $k;
    }
    my $pid = waitpid -1, 0;
    delete $running{$pid} if $pid > 0;
}
my $took = time - $t0;

for my $k (0 .. $#sessions) {
    my $s = $sessions[$k];
    my $verdict = 'FAIL no verdict (the worker died)';
    if (open my $in, '<', "$dir/$k") {
        local $/;
        $verdict = <$in>;
    }
    ok($verdict eq 'ok', "session $s->{name} (SPEC $s->{spec})") or diag($verdict =~ s/\AFAIL //r);
}
note(sprintf '%d sessions in %.1f s', scalar @sessions, $took);

is(stop_server($srv), 0, 'the server exits 0 on SIGTERM');

done_testing;
