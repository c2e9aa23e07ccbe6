# SPDX-License-Identifier: MIT
# server.pl's options and behaviour of SPEC 9.3 beyond proto/sessions.txt: bad options, --help,
# --version, --max-conns, --quiet and the log line, the idle timeout that does not run while a frame
# is in progress, and SIGTERM that lets the frames in flight finish.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Select;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use Test::More;

use WireTest;
use Wire qw(:all);
use Wire::IO qw(connect_to client_hello deadline read_frame write_all wait_eof);

$SIG{PIPE} = 'IGNORE';
my $dir = "$FindBin::Bin/..";

# Runs server.pl with @args to its end, at most 10 s (a server that accepts what it should refuse
# would run forever): (exit status or 'still running', its stdout and stderr).
sub run_server {
    my (@args) = @_;
    pipe my $r, my $w or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $r;
        open STDOUT, '>&', $w or die;
        open STDERR, '>&', $w or die;
        exec $^X, "-I$dir/lib", "$dir/server.pl", map { split ' ' } @args or die "exec: $!";
    }
    close $w;
    my $out = '';
    my $sel = IO::Select->new($r);
    my $until = time + 10;
    while (time < $until && $sel->can_read($until - time)) {
        sysread($r, $out, 65536, length $out) or last;
    }
    my $done = waitpid($pid, WNOHANG) == $pid || (sleep(0.2), waitpid($pid, WNOHANG) == $pid);
    return ($? >> 8, $out) if $done;
    kill KILL => $pid;
    waitpid $pid, 0;
    return ('still running', $out);
}

# --- the command line (SPEC 9.3): exactly its options; anything else is exit status 2 ---------------
for my $bad ([ '--timeout 5', 'an old option' ], [ '--max-connections 3', 'an old option' ],
             [ '--linger 1', 'an old option' ], [ '--nope', 'an unknown option' ],
             [ '--port 65536', 'a port over 65535' ], [ '--port -1', 'a negative port' ],
             [ '--max-payload 1036', 'a max payload under 1037' ],
             [ '--max-payload 4294967288', 'a max payload whose frame would not fit a u32 length' ],
             [ '--max-conns 0', 'no connection at all' ], [ '--idle-timeout 0', 'a zero idle timeout' ],
             [ '--frame-timeout abc', 'a timeout that is no number' ], [ '--port', 'a missing value' ],
             [ 'extra', 'an argument that is no option' ], [ '-port 1', 'a single dash' ]) {
    my ($args, $why) = @$bad;
    my ($rc, $out) = run_server($args);
    is($rc, 2, "$args ($why): exit status 2");
    like($out, qr/\Aserver\.pl: /, "$args: says why on stderr");
}
{
    my ($rc, $out) = run_server('--help');
    is($rc, 0, '--help: exit status 0');
    like($out, qr/--$_\b/, "--help lists --$_")
        for qw(host port max-payload max-conns idle-timeout frame-timeout vectors quiet version help);
    ($rc, $out) = run_server('--version');
    is($rc, 0, '--version: exit status 0');
    like($out, qr/protocol version 1\b/, '--version names the protocol version');
}

# --- --max-conns: one more gets ERROR(LIMIT, none) and a graceful close -------------------------
{
    my $srv = start_server('--max-conns', 1);
    my $first = connect_to('127.0.0.1', $srv->{port});
    client_hello($first, name => 't', deadline => deadline(5));
    my $t0 = time;
    my $second = connect_to('127.0.0.1', $srv->{port});
    my ($type, $p) = eval { read_frame($second, deadline => deadline(5)) };
    my $e = defined $type && $type == MSG_ERROR ? parse_error($p) : undef;
    is($e ? $e->name . ' at ' . ($e->offset // 'none') : 'no ERROR', 'LIMIT at none',
       '--max-conns 1: a second connection gets ERROR(LIMIT, none)');
    ok(wait_eof($second, deadline(5)), '... then EOF (a graceful close, not a reset)');
    ok(time - $t0 < 2, '... at once');
    close $first;
    my $again;
    for (1 .. 50) {    # the first connection's process ends, and is reaped, shortly after it closed
        sleep 0.1;
        my $s = connect_to('127.0.0.1', $srv->{port});
        $again = eval { client_hello($s, name => 't', deadline => deadline(5)) } and last;
    }
    ok($again, 'once the first is gone, a new connection is served');
    is(stop_server($srv), 0, 'server exits 0');
    open my $log, '<', $srv->{log} or die;
    my @log = <$log>;
    ok((grep { /127\.0\.0\.1:\d+: closed after 0 frames in \(0 bytes\), 1 frames out \(\d+ bytes\): LIMIT$/ } @log),
       'the refused connection is logged: LIMIT') or diag(@log);
}

# --- the log line (SPEC 9.3), and --quiet ----------------------------------------------------
for my $quiet (0, 1) {
    my $srv = start_server($quiet ? '--quiet' : ());
    my $s = connect_to('127.0.0.1', $srv->{port});
    client_hello($s, name => 't', deadline => deadline(5));
    write_all($s, encode_frame(MSG_PING, 'abc') . encode_frame(MSG_BYE, ''), deadline(5));
    wait_eof($s, deadline(5));
    close $s;
    $s = connect_to('127.0.0.1', $srv->{port});
    write_all($s, "\x02\0\0\1\0\0\0\0", deadline(5));
    wait_eof($s, deadline(5));
    close $s;
    sleep 0.3;
    is(stop_server($srv), 0, 'server exits 0');
    open my $log, '<', $srv->{log} or die;
    my @all = <$log>;
    my @conn = grep { /closed after/ } @all;
    if ($quiet) {   # SPEC 9.3: every log line, the listening and stopped lines too
        is(scalar @all, 0, '--quiet: not one log line') or diag(@all);
        next;
    }
    is(scalar @conn, 2, 'one log line per connection');
    like($conn[0] // '', qr/: 127\.0\.0\.1:\d+: closed after 3 frames in \(\d+ bytes\), 3 frames out \(\d+ bytes\): BYE$/,
         'the log line: peer address, frames in and out, why it ended (BYE)');
    like($conn[1] // '', qr/: closed after 0 frames in \(8 bytes\), 1 frames out \(\d+ bytes\): sent ERROR VERSION at 0/,
         'the log line of a refused frame');
}

# --- the idle timeout does not run while a frame is in progress; the frame timeout does -------------
{
    my $srv = start_server('--idle-timeout', 1, '--frame-timeout', 3, '--quiet');
    my $s = connect_to('127.0.0.1', $srv->{port});
    client_hello($s, name => 't', deadline => deadline(5));
    my $t0 = time;
    for my $byte (split //, encode_frame(MSG_PING, 'z')) {    # 9 bytes over 1.8 s: beyond the idle timeout
        write_all($s, $byte, deadline(5));
        sleep 0.2;
    }
    my ($type, $p) = eval { read_frame($s, deadline => deadline(5)) };
    is($type // "none ($@)", MSG_PONG, 'a frame trickled in for longer than the idle timeout is answered');
    ok(time - $t0 > 1.5, sprintf '... it took %.1f s', time - $t0);
    close $s;

    $s = connect_to('127.0.0.1', $srv->{port});
    client_hello($s, name => 't', deadline => deadline(5));
    write_all($s, "\x01\x00", deadline(5));
    $t0 = time;
    ($type, $p) = eval { read_frame($s, deadline => deadline(8)) };
    my $e = defined $type && $type == MSG_ERROR ? parse_error($p) : undef;
    is($e ? $e->name . ' at ' . ($e->offset // 'none') : 'no ERROR', 'TIMEOUT at none',
       'a frame begun and not finished: ERROR(TIMEOUT, none)');
    my $took = time - $t0;
    ok($took > 2.5 && $took < 5, sprintf '... after the frame timeout (3 s), not the idle one (1 s): %.1f s', $took);
    close $s;
    is(stop_server($srv), 0, 'server exits 0');
}

# --- SIGTERM: the frames in flight are answered, then every connection is closed -----------------
{
    my $srv = start_server('--frame-timeout', 5);
    my $busy = connect_to('127.0.0.1', $srv->{port});
    client_hello($busy, name => 't', deadline => deadline(5));
    my $idle = connect_to('127.0.0.1', $srv->{port});
    client_hello($idle, name => 't', deadline => deadline(5));
    my $frame = encode_frame(MSG_PING, 'in flight');
    write_all($busy, substr($frame, 0, 5), deadline(5));
    sleep 0.3;
    kill TERM => $srv->{pid};
    ok(wait_eof($idle, deadline(5)), 'SIGTERM: an idle connection is closed');
    write_all($busy, substr($frame, 5), deadline(5));
    my ($type, $p) = eval { read_frame($busy, deadline => deadline(5)) };
    is_deeply([ $type, $p ], [ MSG_PONG, 'in flight' ], 'SIGTERM: a frame in flight is still answered');
    ok(wait_eof($busy, deadline(5)), '... then the connection is closed');
    is(stop_server($srv, 0), 0, 'the server exits 0');
    open my $log, '<', $srv->{log} or die;
    is(scalar(grep { /closed after .*: shutdown$/ } <$log>), 2, 'both connections logged: shutdown');
}

done_testing;
