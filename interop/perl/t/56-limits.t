# SPDX-License-Identifier: MIT
# server.pl under hostile load (issue 10): a flood of connections past --max-conns, running out of
# descriptors and of processes, children reaped, memory per request, nothing allocated from an
# announced length, and a nesting bomb in a BYE.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Select;
use POSIX ();
use Socket qw(PF_INET SOCK_STREAM inet_aton pack_sockaddr_in);
use Time::HiRes qw(time sleep);
use Test::More;

use WireTest;
use Wire qw(:all);
use Wire::IO qw(connect_to client_hello deadline read_frame write_all wait_eof ping);

$SIG{PIPE} = 'IGNORE';
my $TICK = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;

sub children_of {
    my ($pid) = @_;
    open my $f, '<', "/proc/$pid/task/$pid/children" or return ();
    return split ' ', (<$f> // '');
}

sub status_of {
    my ($pid) = @_;
    my %h;
    open my $f, '<', "/proc/$pid/status" or return \%h;
    while (<$f>) { $h{$1} = $2 if /\A(\w+):\s+(\S+)/ }
    return \%h;
}

sub cpu_seconds {    # user + system time of a process
    my ($pid) = @_;
    open my $f, '<', "/proc/$pid/stat" or return 0;
    my @f = split ' ', (<$f> =~ s/\A.*\)\s//sr);
    return ($f[11] + $f[12]) / $TICK;
}

sub log_lines {
    my ($srv) = @_;
    open my $f, '<', $srv->{log} or return ();
    return <$f>;
}

sub served_client {
    my ($port) = @_;
    my $s = connect_to('127.0.0.1', $port);
    client_hello($s, name => 't', deadline => deadline(5));
    return $s;
}

# The connection processes that are left once $seconds have passed or none is (a closed client's
# process may still be ending).
sub settle {
    my ($pid, $seconds) = @_;
    my $until = time + ($seconds // 5);
    sleep 0.05 while children_of($pid) && time < $until;
    return children_of($pid);
}

# A new connection is served within $seconds (retried: a freed slot takes a reap to show).
sub served_again {
    my ($port, $seconds) = @_;
    my $until = time + $seconds;
    while (time < $until) {
        my $s = eval { served_client($port) };
        return 1 if $s && close $s;
        sleep 0.1;
    }
    return 0;
}

# $n connections at once, each sending HELLO: how many got ERROR(LIMIT, none) then EOF, and the
# longest wait for it from each connect.
sub flood {
    my ($port, $n) = @_;
    my $addr = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
    my $hello = encode_frame(MSG_HELLO, hello_payload('flood'));
    my (%t0, %buf, @open);
    my $sel = IO::Select->new;
    my ($limit, $max, @other) = (0, 0);
    my $collect = sub {    # the answers that have come, so that the wait counted is the server's
        my ($wait) = @_;
        for my $s ($sel->can_read($wait)) {
            my $fd = fileno $s;
            my $r = sysread $s, $buf{$fd}, 4096, length $buf{$fd};
            next if $r;
            my ($type, $p) = eval { decode_frame($buf{$fd}) };
            my $e = defined $type && $type == MSG_ERROR ? eval { parse_error($p) } : undef;
            if ($e && $e->name eq 'LIMIT' && !defined $e->offset) {
                $limit++;
                my $d = time - $t0{$fd};
                $max = $d if $d > $max;
            }
            else { push @other, defined $r ? unpack('H*', $buf{$fd}) : "read: $!" }
            $sel->remove($s);
        }
    };
    for my $i (1 .. $n) {
        socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
        connect($s, $addr) or die "connect: $!";
        $t0{ fileno $s } = time;
        $buf{ fileno $s } = '';
        syswrite $s, $hello;
        $sel->add($s);
        push @open, $s;
        $collect->(0) if $i % 25 == 0;
    }
    my $until = time + 20;
    $collect->(1) while $sel->count && time < $until;
    close $_ for @open;
    return { limit => $limit, max => $max, other => \@other, unanswered => $sel->count };
}

# A well-behaved client in its own process: HELLO, then a PING every 20 ms for $seconds; reports
# "ready" once served, then "<pongs> <failures> <longest round trip>".
sub start_pinger {
    my ($port, $seconds) = @_;
    pipe my $r, my $w or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $r;
        $w->autoflush(1);
        my ($pongs, $fail, $max) = (0, 0, 0);
        my $s = eval { served_client($port) };
        print $w $s ? "ready\n" : "not served\n";
        my $until = time + $seconds;
        while ($s && time < $until) {
            my $t = time;
            my $got = eval { ping($s, 'x' x 16, deadline => deadline(5)) };
            if (defined $got && $got eq 'x' x 16) { $pongs++ } else { $fail++; last }
            $max = time - $t if time - $t > $max;
            sleep 0.02;
        }
        close $s if $s;
        print $w "$pongs $fail $max\n";
        POSIX::_exit(0);
    }
    close $w;
    my $ready = <$r>;
    return { pid => $pid, r => $r, ready => ($ready // '') eq "ready\n" };
}

sub pinger_result {
    my ($p) = @_;
    my $line = readline $p->{r};
    waitpid $p->{pid}, 0;
    return [ split ' ', $line // '0 1 0' ];
}

# --- a flood past --max-conns: refused by the parent, quickly, without forking ------------------
{
    my $srv = start_server('--max-conns', 2);
    my $pinger = start_pinger($srv->{port}, 3);
    ok($pinger->{ready}, 'flood: a well-behaved client is served');
    my $idle = served_client($srv->{port});
    my $cpu0 = cpu_seconds($srv->{pid});
    my $t0 = time;
    my $f = flood($srv->{port}, 1500);
    my $took = time - $t0;
    is($f->{limit}, 1500, '1500 connections past --max-conns 2: every one gets ERROR(LIMIT, none), then EOF')
        or diag("other answers: @{ $f->{other} }[0 .. 2]; unanswered: $f->{unanswered}");
    cmp_ok($f->{max}, '<', 2, '... each within 2 s of its connect');
    cmp_ok($took, '<', 8, sprintf '... all of them within 8 s (%.2f s)', $took);
    diag(sprintf 'flood of 1500: %.2f s in all, longest wait for LIMIT %.3f s, server CPU %.2f s',
                 $took, $f->{max}, cpu_seconds($srv->{pid}) - $cpu0);
    is(scalar(children_of($srv->{pid})), 2, '... refused without a process each (2 children: the served clients)');
    my ($pongs, $fail, $max) = @{ pinger_result($pinger) };
    ok($pongs > 10 && !$fail, "the well-behaved client lost nothing ($pongs PONGs)");
    cmp_ok($max, '<', 1, sprintf '... and waited at most %.3f s for a PONG', $max);
    close $idle;
    ok(served_again($srv->{port}, 5), 'a freed slot serves a new client');
    my @left = settle($srv->{pid});
    is(scalar @left, 0, 'every child is reaped once its client has gone: no zombie')
        or diag(map { "$_: " . (status_of($_)->{State} // '?') . "\n" } @left);
    my $refusals = grep { /: closed after 0 frames in \(0 bytes\), 1 frames out \(\d+ bytes\): LIMIT$/ } log_lines($srv);
    cmp_ok($refusals, '>=', 1500, 'each refusal is logged, as every connection is');
    is(stop_server($srv), 0, 'server exits 0');
}

# --- out of descriptors: no busy loop, no log flood, every client told LIMIT ----------------------
{
    my $srv = start_server({ ulimit => '-n 16' }, '--max-conns', 1);
    ok(defined $srv->{port}, 'EMFILE: server.pl runs with 16 descriptors');
    my $first = served_client($srv->{port});
    my $cpu0 = cpu_seconds($srv->{pid});
    my $f = flood($srv->{port}, 300);
    is($f->{limit}, 300, '300 connections with the parent out of descriptors: every one gets ERROR(LIMIT)')
        or diag("other answers: @{ $f->{other} }[0 .. 2]; unanswered: $f->{unanswered}");
    cmp_ok($f->{max}, '<', 3, sprintf '... each within 3 s (longest %.3f s)', $f->{max});
    sleep 1;
    my $cpu = cpu_seconds($srv->{pid}) - $cpu0;
    cmp_ok($cpu, '<', 2, sprintf 'the server does not spin (%.2f s of CPU for the flood and 1 s after)', $cpu);
    my @said = grep { /descriptors|accept:/ && !/closed after/ } log_lines($srv);
    cmp_ok(scalar @said, '<=', 8, 'at most one log line a second about it') or diag(@said[0 .. 4]);
    close $first;
    ok(served_again($srv->{port}, 5), 'once descriptors are free, a new client is served');
    is(stop_server($srv), 0, 'server exits 0');
}

# --- out of processes (fork fails with EAGAIN): LIMIT, no log flood, served again once free --------
SKIP: {
    skip 'RLIMIT_NPROC binds only a user that is not root: the test needs root to run as nobody', 6
        if $> != 0 || !defined getpwnam('nobody');
    my $nobody = getpwnam 'nobody';
    my $running = () = grep { (stat $_)[4] == $nobody } glob '/proc/[0-9]*';
    my $srv = start_server({ uid => $nobody, ulimit => '-u ' . ($running + 2) }, '--max-conns', 100);
    ok(defined $srv->{port}, 'EAGAIN: server.pl runs as nobody with room for one child');
    my $first = served_client($srv->{port});
    my $f = flood($srv->{port}, 40);
    is($f->{limit}, 40, 'fork fails: each of 40 connections gets ERROR(LIMIT)')
        or diag("other answers: @{ $f->{other} }[0 .. 2]; unanswered: $f->{unanswered}");
    my @said = grep { /fork:/ && !/closed after/ } log_lines($srv);
    cmp_ok(scalar @said, '<=', 3, 'at most one log line a second about it') or diag(@said[0 .. 4]);
    close $first;
    ok(served_again($srv->{port}, 5), 'once the child is gone, a new client is served');
    is(stop_server($srv), 0, 'server exits 0');
    ok(1, 'run as nobody');
}

# --- memory per request, and none from an announced length -------------------------------------------
{
    my $srv = start_server();
    my $s = served_client($srv->{port});
    my ($child) = children_of($srv->{pid});
    my $n = 400_000;    # empty lists: the densest value tree, 5 bytes each
    my $payload = pack('CCN', 0x50, 0x50, $n) . ("\x01\0\0\0\0" x $n);
    my $before = status_of($child)->{VmHWM};
    my $t0 = time;
    write_all($s, encode_frame(MSG_ROUNDTRIP, $payload), deadline(30));
    my ($type, $reply) = read_frame($s, deadline => deadline(30));
    my $took = time - $t0;
    ok($type == MSG_ROUNDTRIP_REPLY && $reply eq $payload, "ROUNDTRIP of $n empty lists: the same bytes back");
    my $grew = (status_of($child)->{VmHWM} - $before) * 1024;
    cmp_ok($grew / length $payload, '<=', 4, sprintf '... the child peaks at %.1fx the payload (at most 4x), in %.2f s',
                                                    $grew / length $payload, $took);
    close $s;

    # The other requests whose payload is fields: refused or answered without a value tree either.
    my $i64s = 250_000;
    my $u80  = pack('CN', 0x40, 4) . 'u8.0';
    for my $req ([ MSG_VECTOR_CHECK, MSG_VECTOR_RESULT, "VECTOR_CHECK of an unknown name and $n empty lists",
                   pack('CN', 0x40, 1) . 'x' . $payload ],
                 [ MSG_VECTOR_CHECK, MSG_VECTOR_RESULT, "VECTOR_CHECK of u8.0, u8:0 and $n empty lists as fields",
                   $u80 . "\x01\x00" . ("\x50\x01\0\0\0\0" x $n), [ 1, '1', '(none)', 'list:u8 [ ]' ] ],
                 [ MSG_VECTOR_CHECK, MSG_VECTOR_RESULT, "VECTOR_CHECK of u8.0 and a list of $n empty lists",
                   $u80 . $payload, [ 1, '0', 'u8:0', "list:list ($n elements)" ] ],
                 [ MSG_STATS, MSG_STATS_REPLY, "STATS of $i64s i64",
                   pack('CCN', 0x50, 0x14, $i64s) . pack('q>*', 1 .. $i64s) . pack('CCN', 0x50, 0x24, 0)
                   . pack('CN', 0x41, 0) ]) {
        my ($mt, $want, $label, $p, $result) = @$req;
        settle($srv->{pid});
        $s = served_client($srv->{port});
        ($child) = children_of($srv->{pid});
        $before = status_of($child)->{VmHWM};
        write_all($s, encode_frame($mt, $p), deadline(30));
        ($type, $reply) = read_frame($s, deadline => deadline(30));
        is($type, $want, "$label: answered");
        is_deeply([ map { $_->[1] } @{ decode_fields($reply) } ], $result, '... status, path, expected, got')
            if $result;
        $grew = (status_of($child)->{VmHWM} - $before) * 1024;
        cmp_ok($grew / length $p, '<=', 4, sprintf '... the child peaks at %.1fx the payload (at most 4x)',
                                                   $grew / length $p);
        close $s;
    }

    $s = served_client($srv->{port});
    ($child) = children_of($srv->{pid});
    $before = status_of($child)->{VmData};
    write_all($s, encode_header(MSG_ROUNDTRIP, 16777216) . "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a", deadline(5));
    sleep 0.3;
    my $after = status_of($child)->{VmData};
    cmp_ok(($after - $before) / 1024, '<', 4, sprintf 'a header announcing 16 MiB then 10 bytes: the child grows by '
                                                      . '%d kB, not 16 MiB', $after - $before);
    close $s;
    is(stop_server($srv), 0, 'server exits 0');
}

# --- a nesting bomb in a BYE: decoded, refused at the depth limit, no deep recursion ---------------
{
    my $srv = start_server();
    my $s = served_client($srv->{port});
    my $levels = 100_000;
    my $bomb = pack('CC', 0x50, 0x50) . (pack('N', 1) . "\x50") x ($levels - 2) . pack('N', 1) . pack('CN', 0x01, 0);
    my $t0 = time;
    write_all($s, encode_frame(MSG_BYE, $bomb), deadline(10));
    my ($type, $p) = eval { read_frame($s, deadline => deadline(10)) };
    my $e = defined $type && $type == MSG_ERROR ? parse_error($p) : undef;
    is($e ? $e->name . ' at ' . ($e->offset // 'none') : defined $type ? sprintf('type 0x%04x', $type) : "nothing: $@",
       'DEPTH at 169', "a BYE of $levels nested lists: ERROR(DEPTH, 8 + 161), the 33rd level");
    cmp_ok(time - $t0, '<', 3, '... at once');
    ok(wait_eof($s, deadline(5)), '... then EOF');
    close $s;
    is(stop_server($srv), 0, 'server exits 0');
    my @bad = grep { /Deep recursion|internal error/ } log_lines($srv);
    ok(!@bad, 'no deep recursion in the server') or diag(@bad[0 .. 2]);
}

done_testing;
