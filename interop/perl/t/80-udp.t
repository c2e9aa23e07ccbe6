# SPDX-License-Identifier: MIT
# The UDP datagram profile (SPEC 15): Wire::Datagram's codec and retries, every case of proto/udp.txt
# against server.pl --udp (started as for proto/sessions.txt), truncation detection, the server's
# --udp option and SIGTERM, and client.pl --udp against server.pl --udp through a relay that drops,
# duplicates and delays datagrams in both directions.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Errno qw(EINTR);
use IO::Select;
use IO::Socket::IP;
use POSIX qw(WNOHANG);
use Socket qw(AF_INET6);
use Time::HiRes qw(time sleep);
use Test::More;

use WireTest;
use Wire qw(:all);
use Wire::Datagram qw(:all);
use Wire::IO ();
use Wire::Notation qw(parse_hex format_hex);
use Wire::Vectors qw(load_sessions load_vectors load_stats);

use constant {
    MIN_CASES      => 44,    # udp.txt's cases when this test was written: a truncated file fails
    ANSWER_SECONDS => 10,    # a bound on an answer that must come (loopback, a loaded machine)
    NONE_SECONDS   => 1,     # how long "nothing comes back" is watched (proto/README.md section 10)
    CLIENT_SECONDS => 300,   # the whole exchange through the lossy relay: about 10 s when it works
};

$SIG{PIPE} = 'IGNORE';
my $dir = "$FindBin::Bin/..";

sub err_of {
    my ($code) = @_;
    my $e = error_of(\&$code);
    return defined $e ? $e->name . ' at ' . ($e->offset // 'none') : 'no error';
}

# --- the codec (SPEC 15.2, 15.3) ----------------------------------------------------------------
is(format_hex(encode_datagram(1, MSG_PING, pack 'C*', 1 .. 8)),
   '00000001' . '01000003' . '00000008' . '0102030405060708', 'SPEC 15.2: the PING datagram');
is_deeply([ decode_datagram(parse_hex('00000001 01000003 00000008 0102030405060708')) ],
          [ 1, MSG_PING, pack 'C*', 1 .. 8 ], 'decoded: id, type, payload');
for my $id (0, 1, 0x01020304, 4294967295) {
    my $d = encode_datagram($id, MSG_ECHO, 'ab');
    is(unpack('N', $d), $id, "id $id is the first 4 bytes, big-endian");
    is(datagram_id($d), $id, "datagram_id gives $id back");
    is((decode_datagram($d))[0], $id, "decode_datagram gives $id back");
}
is(err_of(sub { encode_datagram($_, MSG_ECHO, '') }), 'RANGE at none', "id '$_' is refused")
    for -1, 4294967296, 'x', 1.5;
is(length encode_datagram(7, MSG_ECHO, 'z' x UDP_MAX_PAYLOAD), UDP_MAX_DATAGRAM,
   'the largest payload makes the largest datagram');
is(err_of(sub { encode_datagram(7, MSG_ECHO, 'z' x (UDP_MAX_PAYLOAD + 1)) }), 'TOOBIG at none',
   'one byte more does not fit');
is(UDP_RECV_SIZE, 65508, 'the receive buffer has room for one byte more than the largest datagram');
is_deeply([ retry_timeouts(FIRST_TIMEOUT, MAX_TIMEOUT, SENDS) ], [ 0.1, 0.2, 0.4, 0.8, 1, 1, 1, 1 ],
          'SPEC 15.7: 100 ms, doubled up to 1 s, 8 sends');

# SPEC 15.3 steps 1 to 3 and 5, in their order, with frame offsets
for my $row ([ '', 'TRUNCATED at none' ], [ '000001', 'TRUNCATED at none' ],
             [ '00000015', 'TRUNCATED at 0' ], [ '000000150100000300', 'TRUNCATED at 0' ],
             [ '0000001601000003000000', 'TRUNCATED at 0' ],
             [ '00000017020000030000000578', 'VERSION at 0' ], [ '000000180180000300000000', 'HEADER at 1' ],
             [ '000000190100000000000000', 'HEADER at 2' ], [ '0000001a010001000000ffd8', 'TOOBIG at 4' ],
             [ '0000001b01000100ffffffff', 'TOOBIG at 4' ],
             [ '0000001c0100010000000005616263', 'LENGTH at 4' ],
             [ '0000001d010001000000000261626364', 'LENGTH at 4' ],
             [ '0000001e010000030000000000', 'LENGTH at 4' ]) {
    my ($hex, $want) = @$row;
    is(err_of(sub { decode_datagram(parse_hex($hex)) }), $want, "datagram '$hex': $want");
}
is(datagram_id(parse_hex('000001')), undef, 'under 4 bytes: no id');
is_deeply([ datagram_header(parse_hex('0000003101000002000000140200')) ], [ 0x31, MSG_ERROR, 0x14 ],
          'datagram_header: id, type, length, whatever the size');
is(err_of(sub { datagram_header(parse_hex('0000001a010001000000ffd8')) }), 'TOOBIG at 4',
   'datagram_header: the header checks');
my $head2000 = parse_hex('00000001 01000100 000007d0');
is(err_of(sub { decode_datagram($head2000 . 'x' x 2000, 1999) }), 'TOOBIG at 4', 'max payload 1999');
is(length((decode_datagram($head2000 . 'x' x 2000, 2000))[2]), 2000, 'max payload 2000');
is(err_of(sub { decode_datagram(parse_hex('00000001 01000100 0000ffd8') . 'x' x 65496, 0xFFFFFFFF) }),
   'TOOBIG at 4', 'a larger max payload is capped at 65495');

# --- truncation (SPEC 15.4) ----------------------------------------------------------------------
sub udp_pair {
    my ($host) = @_;
    my $rx = IO::Socket::IP->new(LocalHost => $host, LocalPort => 0, Proto => 'udp') or return;
    my $tx = IO::Socket::IP->new(PeerHost => $host, PeerPort => $rx->sockport, Proto => 'udp') or return;
    return ($tx, $rx);
}

# The next datagram on $sock within $seconds, or undef.
sub take {
    my ($sock, $seconds, $size) = @_;
    my $sel = IO::Select->new($sock);
    my $until = time + $seconds;
    while ((my $left = $until - time) > 0) {
        next unless $sel->can_read($left);
        my ($bytes, undef, $filled) = recv_datagram($sock, $size) or next;
        return wantarray ? ($bytes, $filled) : $bytes;
    }
    return;
}

{
    my ($tx, $rx) = udp_pair('127.0.0.1');
    my $whole = encode_datagram(31, MSG_ECHO, 'Z' x 3000);
    send $tx, $whole, 0;
    my ($got, $filled) = take($rx, ANSWER_SECONDS, 1024);
    ok($filled, 'a datagram cut by a 1024-byte buffer is reported');
    is($got, substr($whole, 0, 1024), 'and the bytes are its first 1024');
    is(err_of(sub { decode_datagram($got) }), 'LENGTH at 4', 'judged on what arrived: LENGTH at 4');
    send $tx, $whole, 0;
    ($got, $filled) = take($rx, ANSWER_SECONDS);
    ok($got eq $whole && !$filled, 'with the default buffer the same datagram comes whole');
    send $tx, encode_datagram(32, MSG_ECHO, 'Z' x UDP_MAX_PAYLOAD), 0;
    ($got, $filled) = take($rx, ANSWER_SECONDS);
    ok(length $got == UDP_MAX_DATAGRAM && !$filled, 'the largest datagram fits the default buffer');
}
SKIP: {
    # Only IPv6 carries more than 65507 bytes of UDP data (65527): one byte too many fills the buffer.
    my ($tx, $rx) = udp_pair('::1');
    skip 'no IPv6 loopback', 4 unless $rx;
    for my $size (UDP_RECV_SIZE, 65527) {
        send $tx, parse_hex('00000001 01000100 00000064') . 'Q' x ($size - 12), 0;
        my ($got, $filled) = take($rx, ANSWER_SECONDS);
        ok($filled && length $got == UDP_RECV_SIZE, "a $size-byte datagram fills the default buffer");
        is(err_of(sub { decode_datagram($got) }), 'LENGTH at 4', "and is judged LENGTH at 4, not as whole");
    }
}

# --- udp.txt against server.pl --udp --------------------------------------------------------------
sub parse_udp {
    my ($text) = @_;
    my @cases;
    my $n = 0;
    for my $line (split /\n/, $text) {
        $n++;
        next if $line eq '' || $line =~ /\A#/;
        my @part = map { s/\A +| +\z//gr } split /\|/, $line, -1;
        die "udp.txt line $n: not a case\n" unless @part == 3 && $part[0] =~ /\Audp ([a-z0-9._-]+)\z/;
        my %c = (name => $1, line => $n, datagram => parse_hex($part[1]));
        my @w = split / /, $part[2];
        if (@w >= 1 && $w[0] eq 'reply') { @c{qw(kind frame)} = ('reply', parse_hex(join ' ', @w[ 1 .. $#w ])) }
        elsif (@w == 3 && $w[0] eq 'error' && defined Wire::Error->code_of($w[1]) && $w[2] =~ /\A[0-9]+\z/) {
            @c{qw(kind code offset)} = ('error', $w[1], $w[2] == NO_OFFSET ? 'none' : $w[2]);
        }
        elsif ("@w" eq 'none') { $c{kind} = 'none' }
        else { die "udp.txt line $n: bad expectation '$part[2]'\n" }
        push @cases, \%c;
    }
    return \@cases;
}

sub describe {
    my ($bytes) = @_;
    my ($id, $type, $payload) = eval { decode_datagram($bytes, 0xFFFFFFFF) };
    return 'a bad datagram (' . err_of(sub { decode_datagram($bytes) }) . ')' unless defined $id;
    return sprintf 'id %d, type 0x%04x, %d payload bytes', $id, $type, length $payload if $type != MSG_ERROR;
    my $e = eval { parse_error($payload) } or return "id $id, a malformed ERROR";
    return sprintf 'id %d, ERROR %s at %s', $id, $e->name, $e->offset // 'none';
}

# Why the server on $port does not answer $c as udp.txt says, or undef. From a fresh socket; then
# the server must still answer a PING with another id, and nothing else may come first.
sub run_case {
    my ($c, $port, $answer_seconds) = @_;
    my $sock = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port, Proto => 'udp')
        or return "socket: $@";
    send $sock, $c->{datagram}, 0;
    my $got = take($sock, $c->{kind} eq 'none' ? NONE_SECONDS : $answer_seconds // ANSWER_SECONDS);
    if ($c->{kind} eq 'none') {
        return 'expected nothing, got ' . describe($got) if defined $got;
    }
    elsif (!defined $got) { return 'no answer' }
    elsif (substr($got, 0, 4) ne substr($c->{datagram}, 0, 4)) {
        return 'the answer carries another id: ' . describe($got);
    }
    elsif ($c->{kind} eq 'reply' && substr($got, 4) ne $c->{frame}) {
        return 'expected the frame ' . substr(format_hex($c->{frame}), 0, 80) . ', got ' . describe($got);
    }
    elsif ($c->{kind} eq 'error') {
        my ($id, $type, $payload) = eval { decode_datagram($got) };
        my $e = defined $id && $type == MSG_ERROR && eval { parse_error($payload) };
        return "expected ERROR $c->{code} at $c->{offset}, got " . describe($got)
            unless $e && $e->name eq $c->{code} && ($e->offset // 'none') eq $c->{offset};
    }
    my $check = ((datagram_id($c->{datagram}) // 0) + 1) % 4294967296;    # another id
    send $sock, encode_datagram($check, MSG_PING, "\x0a\x0b"), 0;
    $got = take($sock, ANSWER_SECONDS);
    return 'then, instead of the PONG to a PING: ' . (defined $got ? describe($got) : 'nothing')
        unless defined $got && $got eq encode_datagram($check, MSG_PONG, "\x0a\x0b");
    return undef;
}

my $cases = do {
    open my $fh, '<', proto_file('udp.txt') or BAIL_OUT("udp.txt: $!");
    local $/;
    parse_udp(scalar <$fh>);
};
cmp_ok(scalar @$cases, '>=', MIN_CASES, 'udp.txt has at least ' . MIN_CASES . ' cases');
is_deeply([ sort keys %{ { map { ($_->{kind} => 1) } @$cases } } ], [qw(error none reply)],
          'with every kind of expectation');

my $sessions = load_sessions(proto_file('sessions.txt'));
my $srv = start_server(@{ $sessions->{config} }, '--udp', '--host', '127.0.0.1', '--port', 0);
BAIL_OUT('server.pl --udp did not start') unless defined $srv->{port} && $srv->{port} =~ /\A[0-9]+\z/;

# The cases in a few processes at once (those expecting nothing wait a second each).
{
    my $workers = 6;
    my (%why, @kids);
    for my $w (0 .. $workers - 1) {
        pipe my $r, my $wr or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            close $r;
            for my $i (grep { $_ % $workers == $w } 0 .. $#$cases) {
                my $why = run_case($cases->[$i], $srv->{port}) // '';
                $why =~ s/\n/ /g;
                print {$wr} "$i $why\n";
            }
            close $wr;
            POSIX::_exit(0);
        }
        close $wr;
        push @kids, [ $pid, $r ];
    }
    for my $k (@kids) {
        my $fh = $k->[1];
        while (my $line = <$fh>) {
            chomp $line;
            my ($i, $why) = split / /, $line, 2;
            $why{$i} = $why;
        }
        waitpid $k->[0], 0;
    }
    for my $i (0 .. $#$cases) {
        my $c = $cases->[$i];
        ok(defined $why{$i} && $why{$i} eq '', "udp.txt $c->{name} (line $c->{line})")
            or diag($why{$i} // 'not run');
    }
}

# The runner must fail a case whose expectation the server does not meet.
for my $wrong (@{ parse_udp(join '', map { "$_\n" }
        'udp reply-frame | 0000000101000003000000010a | reply 01000004000000010b',
        'udp error-code | 0000001c0100010000000005616263 | error TRUNCATED 4',
        'udp error-offset | 0000001c0100010000000005616263 | error LENGTH 5',
        'udp error-not-reply | 0000000101000003000000010a | error LENGTH 4',
        'udp none-answered | 000000290100000500000000 | none',
        'udp answered-none | 000001 | reply 0100000400000000') }) {
    ok(defined run_case($wrong, $srv->{port}, 1), "the runner fails a wrong expectation: $wrong->{name}");
}
for my $bad ('udp a | 00 |', 'udp a | 00 | maybe', 'udp a | 00 | error NOPE 1', 'vector a | 00 | none',
             'udp a | zz | none') {
    ok(!eval { parse_udp("$bad\n"); 1 }, "the parser refuses '$bad'");
}

# TCP is served beside UDP, on the same port number.
{
    my $c = Wire::IO::connect_to('127.0.0.1', $srv->{port}, timeout => ANSWER_SECONDS);
    my $hello = Wire::IO::client_hello($c, name => 't', deadline => time + ANSWER_SECONDS);
    is($hello->{version}, 1, 'TCP on the same port number still says HELLO');
    close $c;
}

# SIGTERM: exit 0, the UDP counts logged, no process left behind.
is(stop_server($srv), 0, 'SIGTERM stops server.pl --udp with status 0');
my $log = do { local (@ARGV, $/) = $srv->{log}; <> } // '';
like($log, qr/udp: (\d+) datagrams in \(0 filled the buffer\), \d+ answered, \d+ not answered/,
     'its stop line counts the datagrams');
is(kill(0, $srv->{pid}), 0, 'and it is gone (reaped)');

# --- the options ----------------------------------------------------------------------------------
{
    my $help = `$^X -I$dir/lib $dir/server.pl --help`;
    like($help, qr/^  --udp /m, 'server.pl --help documents --udp');
    my $chelp = `$^X -I$dir/lib $dir/client.pl --help 2>&1`;
    like($chelp, qr/--udp/, 'client.pl --help documents --udp');
    my $taken = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Proto => 'udp') or die $@;
    my $port = $taken->sockport;
    my $out = `$^X -I$dir/lib $dir/server.pl --udp --port $port 2>&1`;
    is($? >> 8, 2, 'a UDP port that is taken, asked for by number: exit status 2');
    like($out, qr/cannot listen .*UDP/, 'and says why');
    my $plain = start_server('--quiet');
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $plain->{port}, Proto => 'udp') or die $@;
    send $s, encode_datagram(1, MSG_PING, ''), 0;
    my $got = eval { take($s, ANSWER_SECONDS) };
    like($@, qr/connection refused/, 'without --udp nothing answers on UDP (port unreachable)');
    is(stop_server($plain), 0, 'that server stops too');
}

# --- udp_request: retries with the same id, strays and bad datagrams dropped ------------------------
{
    my $silent = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Proto => 'udp') or die $@;
    my $peer = udp_peer('127.0.0.1', $silent->sockport, first_timeout => 0.01, max_timeout => 0.02,
                        sends => 3);
    my $e = error_of { udp_request($peer, MSG_PING, 'abc') };
    ok($e && $e->name eq 'TIMEOUT' && $e->message =~ /after 3 sends/, 'no answer: TIMEOUT after 3 sends')
        or diag($e // 'no error');
    my @sent = map { scalar take($silent, ANSWER_SECONDS) } 1 .. 3;
    ok(defined $sent[2] && $sent[0] eq $sent[1] && $sent[1] eq $sent[2], 'the same datagram 3 times (same id)');
    is_deeply([ (decode_datagram($sent[0]))[1, 2] ], [ MSG_PING, 'abc' ], 'the request itself');
    is_deeply([ @$peer{qw(sent retries)} ], [ 3, 2 ], '3 sent, 2 of them retries');
    error_of { udp_request($peer, MSG_PING, 'd') };
    is(datagram_id(scalar take($silent, ANSWER_SECONDS)), (datagram_id($sent[0]) + 1) % 4294967296,
       'the next request has the next id');
    take($silent, 1) for 1 .. 2;

    my $answering = udp_peer('127.0.0.1', $silent->sockport, first_timeout => ANSWER_SECONDS);
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        my $sel = IO::Select->new($silent);
        $sel->can_read(ANSWER_SECONDS) or POSIX::_exit(1);
        my ($bytes, $source) = recv_datagram($silent);
        my $id = datagram_id($bytes);
        send $silent, $_, 0, $source
            for encode_datagram(($id + 1) % 4294967296, MSG_PONG, 'x'),     # another id
                "\0\1",                                                      # no id
                substr($bytes, 0, 4) . parse_hex('01000004 00000005') . 'y', # LENGTH
                encode_datagram($id, MSG_PONG, 'right');
        POSIX::_exit(0);
    }
    my @answer = udp_request($answering, MSG_PING, 'right');
    waitpid $pid, 0;
    is_deeply(\@answer, [ MSG_PONG, 'right' ], 'the answer with the id is taken');
    is_deeply([ @$answering{qw(stray bad retries)} ], [ 1, 2, 0 ], 'the others were dropped and counted');
    is(err_of(sub { udp_request($answering, MSG_ECHO, 'x' x (UDP_MAX_PAYLOAD + 1)) }), 'TOOBIG at none',
       'a payload over the datagram is not sent');
    is($answering->{sent}, 1, 'nothing more was sent');
}

# --- client.pl --udp through a lossy relay -------------------------------------------------------
# A fixed pattern rather than chance, in each direction: every 29th datagram dropped, every 17th
# sent twice, every 31st held back 150 ms (longer than the client's first timeout, so its retry
# overtakes it). A request can never be lost 8 times in a row, so the test cannot fail by bad luck,
# yet every kind of trouble happens many times. The relay reports its counts on a pipe.
sub lossy_relay {
    my ($target) = @_;
    my $front = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Proto => 'udp') or die $@;
    my $back  = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $target, Proto => 'udp') or die $@;
    pipe my $r, my $w or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $r;
        my (%count, %seen, @held, $client);
        my $stop = 0;
        $SIG{TERM} = sub { $stop = 1 };
        my $out = sub {
            my ($dir, $bytes) = @_;
            if ($dir eq 'up') { send $back, $bytes, 0 }
            elsif (defined $client) { send $front, $bytes, 0, $client }
        };
        my $sel = IO::Select->new($front, $back);
        until ($stop) {
            my $wait = @held ? $held[0][0] - time : 0.05;
            $wait = 0 if $wait < 0;
            for my $fh ($sel->can_read($wait > 0.05 ? 0.05 : $wait)) {
                my ($bytes, $source) = recv_datagram($fh) or next;
                my $dir = $fh == $front ? 'up' : 'down';
                $client = $source if $dir eq 'up';
                my $n = ++$seen{$dir};
                if    ($n % 29 == 3) { $count{dropped}++ }
                elsif ($n % 31 == 5) { $count{delayed}++; push @held, [ time + 0.15, $dir, $bytes ] }
                else {
                    my $copies = $n % 17 == 1 ? 2 : 1;
                    $count{duplicated}++ if $copies == 2;
                    $out->($dir, $bytes) for 1 .. $copies;
                }
            }
            while (@held && $held[0][0] <= time) {
                my $h = shift @held;
                $out->($h->[1], $h->[2]);
            }
        }
        print {$w} join(' ', map { "$_=" . ($count{$_} // 0) } qw(dropped duplicated delayed)), "\n";
        close $w;
        POSIX::_exit(0);
    }
    close $w;
    return { pid => $pid, port => $front->sockport, out => $r };
}

# Runs @cmd for at most $seconds (a client that never gets its answers would take 5.5 s a case):
# its exit status ('killed' past the time) and its output lines, stdout and stderr.
sub run_bounded {
    my ($seconds, @cmd) = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        exec @cmd or POSIX::_exit(127);
    }
    my ($out, $eof, $sel, $until) = ('', 0, IO::Select->new($fh), time + $seconds);
    while (!$eof && (my $left = $until - time) > 0) {
        next unless $sel->can_read($left);
        my $n = sysread $fh, $out, 65536, length $out;
        next if !defined $n && $! == EINTR;
        $eof = !$n;
    }
    kill KILL => $pid unless $eof;
    waitpid $pid, 0;
    my $status = $eof ? $? >> 8 : 'killed';
    close $fh;
    return ($status, split /\n/, $out);
}

{
    my $server = start_server('--udp', '--quiet');
    my $relay = lossy_relay($server->{port});
    my $t0 = time;
    my ($status, @lines) = run_bounded(CLIENT_SECONDS, $^X, "-I$dir/lib", "$dir/client.pl", '--udp',
                                       '--host', '127.0.0.1', '--port', $relay->{port});
    my $took = time - $t0;
    kill TERM => $relay->{pid};
    my $fh = $relay->{out};
    my $counts = <$fh> // '';
    waitpid $relay->{pid}, 0;
    my ($stderr) = grep { /\Aclient\.pl: udp:/ } @lines;
    my @report = grep { !/\Aclient\.pl: udp:/ } @lines;
    my @fails = grep { !/\Aok   / } @report[ 0 .. $#report - 1 ];
    is_deeply(\@fails, [], 'client.pl --udp through the lossy relay: no case fails') or diag("@lines[-3 .. -1]");
    is($status, 0, 'it exits 0');
    my $vectors = load_vectors(proto_file('vectors.txt'));
    my @ok = grep { $_->{kind} eq 'ok' } @$vectors;
    my @fit = grep { 5 + length($_->{name}) + length($_->{bytes}) <= UDP_MAX_PAYLOAD } @ok;
    cmp_ok(scalar @fit, '<', scalar @ok, 'bytes.large-70000 does not fit in a datagram');
    my $expected = 3 * @fit + 1 + 4 + 1 + @{ load_stats(proto_file('stats.txt')) }
                 + grep { $_->{kind} eq 'err' } @$vectors;
    is($report[-1], "$expected passed, 0 failed", 'every case of SPEC 15.8 ran and passed');
    ok((grep { $_ eq 'ok   echo:65495' } @report) && !(grep { /hello|bye/ } @report),
       'echo:65495, and no hello or bye');
    my %c = $counts =~ /(\w+)=(\d+)/g;
    cmp_ok($c{$_} // 0, '>', 20, "the relay $_ datagrams ($counts; " . sprintf('%.1f s)', $took))
        for qw(dropped duplicated delayed);
    my ($retries, $stray) = ($stderr // '') =~ /\((\d+) retries\), (\d+) stray/;
    cmp_ok($retries // 0, '>', 20, "the client retried ($stderr)");
    cmp_ok($stray // 0, '>', 20, 'and dropped the duplicates');
    is(stop_server($server), 0, 'server stopped');
}

done_testing;
