# SPDX-License-Identifier: MIT
# Wire::IO over socket pairs: partial reads and writes, EINTR, deadlines, EOF, early TOOBIG.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Digest::MD5 qw(md5_hex);
use IO::Handle;
use IO::Socket::IP;
use Socket qw(AF_UNIX SOCK_STREAM PF_UNSPEC);
use Time::HiRes qw(time sleep ualarm);
use Test::More;

use WireTest;
use Wire qw(:all);
use Wire::IO qw(deadline connect_to write_all read_exact read_frame write_frame wait_eof
                close_gracefully expect_frame ping bye client_hello);

$SIG{PIPE} = 'IGNORE';

sub pair {
    socketpair(my $a, my $b, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die "socketpair: $!";
    $_->autoflush(1) for $a, $b;
    return ($a, $b);
}

# Runs $code in a child with one end of a pair; returns the parent's end and the child's pid.
sub with_child {
    my ($code) = @_;
    my ($mine, $theirs) = pair();
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $mine;
        $code->($theirs);
        exit 0;
    }
    close $theirs;
    return ($mine, $pid);
}

{    # partial writes: a non-blocking 8 MiB write to a slow reader
    my $data = join '', map { pack 'N', $_ } 0 .. 2 * 1024 * 1024 - 1;
    my ($s, $pid) = with_child(sub {
        my ($fh) = @_;
        my $got = '';
        while (length $got < length $data) {
            my $n = sysread $fh, $got, 65536, length $got;
            last unless $n;
            sleep 0.001;
        }
        syswrite $fh, md5_hex($got);
    });
    $s->blocking(0);
    is(write_all($s, $data, deadline(30)), length $data, 'write_all returns the length');
    is(read_exact($s, 32, deadline(30)), md5_hex($data), 'the reader got all 8 MiB intact');
    waitpid $pid, 0;
}

{    # partial reads: a frame dribbled in pieces
    my $frame = encode_frame(MSG_ECHO, 'x' x 100_000);
    my ($s, $pid) = with_child(sub {
        my ($fh) = @_;
        syswrite $fh, substr($frame, $_, 1) for 0 .. 9;    # header byte by byte, then 2 payload bytes
        sleep 0.05;
        syswrite $fh, substr($frame, 10, 50_000);
        sleep 0.05;
        syswrite $fh, substr($frame, 50_010);
    });
    my ($type, $payload) = read_frame($s, deadline => deadline(10));
    is($type, MSG_ECHO, 'dribbled frame: type');
    is($payload, 'x' x 100_000, 'dribbled frame: payload');
    waitpid $pid, 0;
}

# EINTR: a signal every 20 ms while waiting 0.5 s for data, with and without a deadline.
for my $case ([ 'select with a deadline', deadline(10), 0 ],
              [ 'blocking sysread without a deadline', undef, 1 ]) {
    my ($label, $dl, $blocking) = @$case;
    my ($s, $pid) = with_child(sub { sleep 0.5; syswrite $_[0], encode_frame(MSG_PING, 'late') });
    $s->blocking($blocking);
    my $alarms = 0;
    local $SIG{ALRM} = sub { $alarms++ };
    ualarm(20_000, 20_000);
    my @frame = eval { read_frame($s, deadline => $dl) };
    ualarm(0);
    is_deeply(\@frame, [ MSG_PING, 'late' ], "EINTR, $label: the frame arrives") or diag($@);
    cmp_ok($alarms, '>', 5, "EINTR, $label: $alarms signals came in meanwhile");
    waitpid $pid, 0;
}

{    # deadlines
    my ($a, $b) = pair();
    my $t0 = time;
    throws_wire { read_frame($a, deadline => deadline(0.3)) } 'TIMEOUT', 'read times out';
    my $took = time - $t0;
    ok($took >= 0.29 && $took < 2, sprintf 'after %.2f s', $took);

    $a->blocking(0);
    $t0 = time;
    throws_wire { write_all($a, "\0" x (64 * 1024 * 1024), deadline(0.3)) } 'TIMEOUT',
        'a write the peer does not read times out';
    ok(time - $t0 < 2, 'in time');
}

{    # EOF
    my ($a, $b) = pair();
    close $b;
    throws_wire { read_frame($a, deadline => deadline(5)) } 'CLOSED', 'EOF before a frame is CLOSED';
    ($a, $b) = pair();
    syswrite $b, substr(encode_frame(MSG_PING, 'abcd'), 0, 10);
    close $b;
    my $e = throws_wire { read_frame($a, deadline => deadline(5)) } 'CLOSED', 'EOF inside a frame is CLOSED';
    like($e->message, qr/middle/, '... saying so');
}

{    # the header is judged before any payload is read
    my ($a, $b) = pair();
    syswrite $b, encode_header(MSG_ECHO, 16777217) . 'rest';
    throws_wire { read_frame($a, deadline => deadline(5), max_payload => 16777216) } 'TOOBIG',
        'TOOBIG from the header', 4;
    is(read_exact($a, 4, deadline(5)), 'rest', 'no payload byte was consumed');
    syswrite $b, "\x02\0\0\1\0\0\0\0";
    throws_wire { read_frame($a, deadline => deadline(5)) } 'VERSION', 'VERSION from the header', 0;
}

{
    my ($a, $b) = pair();
    throws_wire { write_frame($a, MSG_ECHO, 'x' x 11, peer_max => 10) } 'TOOBIG',
        'write_frame respects the peer max_payload';
    write_frame($a, MSG_ECHO, 'x' x 10, peer_max => 10);
    is_deeply([ read_frame($b, deadline => deadline(5)) ], [ MSG_ECHO, 'x' x 10 ], 'up to it is fine');
}

{    # the control helpers against a scripted peer
    my ($s, $pid) = with_child(sub {
        my ($fh) = @_;
        my (undef, $p) = read_frame($fh);
        write_frame($fh, MSG_PONG, $p);
        read_frame($fh);
        write_frame($fh, MSG_ERROR, error_payload('LIMIT', undef, 'busy'));
        read_frame($fh);                 # BYE
        write_frame($fh, MSG_BYE, '');
        shutdown $fh, 1;
        wait_eof($fh, deadline(5));
    });
    is(ping($s, 'abc', deadline => deadline(5)), 'abc', 'ping returns the PONG payload');
    write_frame($s, MSG_ECHO, 'x');
    my $e = throws_wire { expect_frame($s, MSG_ECHO_REPLY, deadline => deadline(5)) } 'LIMIT',
        'an ERROR answer is thrown as its error';
    is($e->message, 'busy', '... with its message');
    is_deeply([ bye($s, deadline => deadline(5)) ], [ 1, 1 ], 'bye: answered, then EOF');
    waitpid $pid, 0;

    ($s, $pid) = with_child(sub { read_frame($_[0]); close $_[0] });
    is_deeply([ bye($s, deadline => deadline(5)) ], [ 0, 1 ], 'bye: EOF instead of an answer');
    waitpid $pid, 0;
}

{    # the receive path answers PINGs that come before the reply (SPEC 7.5): coalesced, byte by byte
    my ($s, $pid) = with_child(sub {
        my ($fh) = @_;
        read_frame($fh);    # the request
        my $burst = join '', map { encode_frame(MSG_PING, $_) } 'p1', 'p2';
        syswrite $fh, $_ for split //, $burst . encode_frame(MSG_ECHO_REPLY, 'reply');
        my @pongs = map { join ':', eval { read_frame($fh, deadline => deadline(2)) } } 1, 2;
        write_frame($fh, MSG_ECHO_REPLY, "@pongs");
        eval { read_frame($fh, deadline => deadline(5)) } or return;    # the PING of ping()
        syswrite $fh, encode_frame(MSG_PING, 'p3') . encode_frame(MSG_PONG, 'mine');
        eval { write_frame($fh, MSG_ECHO_REPLY, join ':', eval { read_frame($fh, deadline => deadline(2)) }) };
    });
    write_frame($s, MSG_ECHO, 'q');
    my $got = sub { my $v = eval { $_[0]->() }; defined $v ? $v : "died: $@" };
    is($got->(sub { expect_frame($s, MSG_ECHO_REPLY, deadline => deadline(5)) }), 'reply',
       'two PINGs then the reply, one byte per write: the reply comes');
    is($got->(sub { expect_frame($s, MSG_ECHO_REPLY, deadline => deadline(2)) }), '4:p1 4:p2',
       '... and both PINGs were answered with their payloads, in order');
    is($got->(sub { ping($s, 'mine', deadline => deadline(5)) }), 'mine',
       'ping: a PING of the peer first, then our PONG');
    is($got->(sub { expect_frame($s, MSG_ECHO_REPLY, deadline => deadline(2)) }), '4:p3',
       '... and that PING was answered');
    close $s;
    waitpid $pid, 0;

    ($s, $pid) = with_child(sub { write_frame($_[0], MSG_PING, 'early'); eval { read_frame($_[0]) } });
    throws_wire { expect_frame($s, MSG_HELLO, deadline => deadline(5), pings => 0) } 'UNEXPECTED',
        'pings => 0: a PING is UNEXPECTED';
    close $s;
    waitpid $pid, 0;
    ($s, $pid) = with_child(sub { read_frame($_[0]); write_frame($_[0], MSG_PING, 'early'); eval { read_frame($_[0]) } });
    throws_wire { client_hello($s, name => 't', deadline => deadline(5)) } 'UNEXPECTED',
        'client_hello: a PING before the server HELLO is UNEXPECTED (SPEC 8.6)';
    close $s;
    waitpid $pid, 0;

    # A PONG the peer could not accept is not sent: ERROR(TOOBIG, none) instead.
    ($s, $pid) = with_child(sub {
        my ($fh) = @_;
        write_frame($fh, MSG_PING, 'x' x 11);
        my ($type, $p) = read_frame($fh, deadline => deadline(5));
        my $e = $type == MSG_ERROR ? parse_error($p) : undef;
        exit($e && $e->name eq 'TOOBIG' && !defined $e->offset ? 0 : 1);
    });
    throws_wire { expect_frame($s, MSG_ECHO_REPLY, deadline => deadline(5), peer_max => 10) } 'TOOBIG',
        'a PING whose PONG exceeds the peer\'s max_payload is TOOBIG';
    close $s;
    waitpid $pid, 0;
    is($? >> 8, 0, '... and the peer got ERROR(TOOBIG, none), not the PONG');
}

{    # graceful close: the peer sees EOF while we still drain what it sends
    my ($s, $pid) = with_child(sub {
        my ($fh) = @_;
        syswrite $fh, 'z' x 100_000;
        exit(wait_eof($fh, deadline(5)) ? 0 : 1);
    });
    close_gracefully($s, 5);
    waitpid $pid, 0;
    is($? >> 8, 0, 'close_gracefully: the peer saw EOF');
}

{
    throws_wire { connect_to('no-such-host.invalid', 1, timeout => 5) } 'ADDRESS',
        'an unresolvable name is ADDRESS';
    my $l = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 1) or die $@;
    my $port = $l->sockport;
    close $l;
    throws_wire { connect_to('127.0.0.1', $port, timeout => 5) } 'IO', 'a refused connection is IO';
}


# A deadline that has passed while the process was not running does not refuse what has arrived
# (a loaded machine can deschedule a server for longer than its frame timeout); with nothing there
# it is TIMEOUT at once.
{
    my ($a, $b) = pair();
    $b->blocking(0);
    syswrite $a, "abc";
    is(eval { read_exact($b, 3, time - 5) } // "error: $@", 'abc', 'read_exact with a past deadline: the bytes there');
    my $t0 = time;
    throws_wire { read_exact($b, 1, time - 5) } 'TIMEOUT', 'read_exact with a past deadline and nothing there: TIMEOUT';
    cmp_ok(time - $t0, '<', 0.5, '... at once');
}

done_testing;
