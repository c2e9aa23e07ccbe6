# SPDX-License-Identifier: MIT
# server.pl and client.pl as programs: the whole exchange, the lifecycle rules seen from a raw
# socket, concurrency, timeouts, signals, and a client facing broken servers.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use IO::Socket::IP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use Test::More;

use WireTest;
use Wire qw(:all);
use Wire::IO qw(connect_to client_hello deadline read_frame write_all write_frame wait_eof);
use Wire::Notation qw(parse_fields);
use Wire::Vectors qw(load_vectors load_stats);

$SIG{PIPE} = 'IGNORE';
my $dir    = "$FindBin::Bin/..";
my $tmp    = tempdir(CLEANUP => 1);
my @perl   = ($^X, "-I$dir/lib");

sub run_client {
    my (@args) = @_;
    open my $fh, '-|', @perl, "$dir/client.pl", @args or die "client: $!";
    my @lines = <$fh>;
    close $fh;
    chomp @lines;
    return ($? >> 8, @lines);
}

sub hello_conn {
    my ($port, %opt) = @_;
    my $s = connect_to('127.0.0.1', $port, timeout => 5);
    client_hello($s, name => 'test', max_payload => $opt{max} // DEFAULT_MAX_PAYLOAD,
                 deadline => deadline(5));
    return $s;
}

# Sends raw bytes and expects ERROR(code, offset) followed by EOF.
sub expect_error {
    my ($s, $bytes, $code, $offset, $label) = @_;
    write_all($s, $bytes, deadline(5)) if length $bytes;
    my ($type, $payload) = eval { read_frame($s, deadline => deadline(5)) };
    my $got = !defined $type ? "no frame ($@)"
            : $type != MSG_ERROR ? sprintf('type 0x%04x', $type)
            : do { my $e = parse_error($payload); $e->name . ' at ' . ($e->offset // 'none') };
    is($got, "$code at $offset", "$label: ERROR $code at $offset");
    ok(wait_eof($s, deadline(5)), "$label: then EOF");
    close $s;
}

my $vectors = load_vectors(proto_file('vectors.txt'));
my $stats   = load_stats(proto_file('stats.txt'));
my @ok      = grep { $_->{kind} eq 'ok' } @$vectors;
my @err     = grep { $_->{kind} eq 'err' } @$vectors;

my $srv = start_server();
like($srv->{port}, qr/\A[0-9]+\z/, "the server prints its port ($srv->{port})");

# --- the whole exchange ----------------------------------------------------------------------
{
    my ($rc, @lines) = run_client('--host', '127.0.0.1', '--port', $srv->{port});
    my @names = ('hello', map({ "check:$_->{name}" } @ok), 'check-unknown',
                 map({ "get:$_->{name}" } @ok), map({ "roundtrip:$_->{name}" } @ok),
                 'echo:0', 'echo:1', 'echo:4096', 'echo:1048576', 'ping',
                 map({ "stats:$_->{name}" } @$stats), 'bye', map({ "reject:$_->{name}" } @err));
    is($rc, 0, 'client exits 0');
    is($lines[-1], scalar(@names) . ' passed, 0 failed', 'last line: ' . scalar(@names) . ' passed');
    is_deeply([ @lines[ 0 .. $#lines - 1 ] ], [ map { "ok   $_" } @names ],
              'every case, in the order of SPEC 10.10, is ok');
}

# --- lifecycle, seen from a raw socket -------------------------------------------------------
my $port = $srv->{port};
expect_error(connect_to('127.0.0.1', $port), encode_frame(MSG_PING, 'x'), 'UNEXPECTED', 2,
             'PING before HELLO');
expect_error(connect_to('127.0.0.1', $port), "\x02\0\0\1\0\0\0\0", 'VERSION', 0, 'frame version 2');
expect_error(connect_to('127.0.0.1', $port), "\x01\x01\0\1\0\0\0\0", 'HEADER', 1, 'flags 1');
expect_error(connect_to('127.0.0.1', $port), "\x01\0\0\0\0\0\0\0", 'HEADER', 2, 'type 0');
expect_error(connect_to('127.0.0.1', $port), encode_header(MSG_HELLO, 16777217), 'TOOBIG', 4,
             'length 16777217, judged from the header alone');
expect_error(connect_to('127.0.0.1', $port),
             encode_frame(MSG_HELLO, encode_fields(parse_fields('u16:2 u32:1000 string:78'))),
             'VERSION', 9, 'HELLO version 2 (at its value)');
expect_error(connect_to('127.0.0.1', $port),
             encode_frame(MSG_HELLO, encode_fields(parse_fields('u16:1 u32:16777216'))),
             'MESSAGE', 16, 'HELLO without a name (at the payload end)');
expect_error(connect_to('127.0.0.1', $port),
             encode_frame(MSG_HELLO, encode_fields(parse_fields('u16:1 u16:1000 string:'))),
             'MESSAGE', 11, 'HELLO with a u16 max_payload (at its tag)');
expect_error(connect_to('127.0.0.1', $port), encode_frame(MSG_HELLO, "\x40\0\0\0\1\xff"),
             'UTF8', 13, 'HELLO with a bad name');
expect_error(hello_conn($port), encode_frame(0x0200, ''), 'UNEXPECTED', 2, 'an unknown type');
expect_error(hello_conn($port), encode_frame(MSG_HELLO, hello_payload('again')), 'UNEXPECTED', 2,
             'a second HELLO');
expect_error(hello_conn($port), encode_frame(MSG_STATS, encode_fields(parse_fields('list:i64 [ ]'))),
             'MESSAGE', 14, 'STATS without its f64 list');
expect_error(hello_conn($port, max => MIN_MAX_PAYLOAD), encode_frame(MSG_ECHO, 'x' x (MIN_MAX_PAYLOAD + 1)),
             'TOOBIG', 'none', 'a reply larger than our announced max_payload');
{
    my $s = hello_conn($port);
    write_frame($s, MSG_VECTOR_CHECK, encode_fields(parse_fields('string:75382e30 u8:1')));
    my ($type, $p) = read_frame($s, deadline => deadline(5));
    is_deeply([ $type, map { $_->[1] } @{ decode_fields($p) } ],
              [ MSG_VECTOR_RESULT, 1, '0', 'u8:0', 'u8:1' ], 'VECTOR_CHECK mismatch: status 1 and where');
    write_frame($s, MSG_VECTOR_CHECK, encode_fields(parse_fields('string:75382e30 u8:0 u8:0')));
    ($type, $p) = read_frame($s, deadline => deadline(5));
    is_deeply([ map { $_->[1] } @{ decode_fields($p) } ], [ 1, '1', '(none)', 'u8:0' ],
              'VECTOR_CHECK with an extra field');
    write_frame($s, MSG_VECTOR_GET, encode_fields(parse_fields('string:6e6f7065')));
    ($type, $p) = read_frame($s, deadline => deadline(5));
    is_deeply([ $type, map { $_->[1] } @{ decode_fields($p) } ], [ MSG_VECTOR_RESULT, 2, '', '', '' ],
              'VECTOR_GET of an unknown name: status 2');
    write_frame($s, MSG_BYE, '');
    is((read_frame($s, deadline => deadline(5)))[0], MSG_BYE, 'BYE is answered');
    ok(wait_eof($s, deadline(5)), '... then EOF');
}

# --- concurrency: an idle connection does not hold up another one ----------------------------
{
    my $idle = hello_conn($port);
    my $t0 = time;
    my $s = hello_conn($port);
    write_frame($s, MSG_PING, 'abc');
    is_deeply([ read_frame($s, deadline => deadline(5)) ], [ MSG_PONG, 'abc' ],
              'a second connection is served while the first is open');
    ok(time - $t0 < 2, '... at once');
    my @kids = children($srv->{pid});
    ok(@kids >= 2, scalar(@kids) . ' connection processes');
    is(stop_server($srv), 0, 'SIGTERM: the server exits 0');
    ok(!grep({ kill 0, $_ } @kids), 'no connection process is left behind');
    ok(wait_eof($idle, deadline(5)), 'open connections are closed');
}

sub children {
    my ($ppid) = @_;
    my @pids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        push @pids, $1 if $line =~ /\A(\d+) \(.*\) \S+ (\d+)/ && $2 == $ppid;
    }
    return @pids;
}

# --- options: --max-payload, --idle-timeout, SIGINT ------------------------------------------
{
    my $s2 = start_server('--max-payload', 2000, '--idle-timeout', 1, '--host', '127.0.0.1');
    my $c = connect_to('127.0.0.1', $s2->{port});
    my $peer = client_hello($c, name => 't', max_payload => 1037, deadline => deadline(5));
    is($peer->{max_payload}, 2000, 'HELLO announces --max-payload');
    expect_error($c, encode_header(MSG_ECHO, 2001), 'TOOBIG', 4, '--max-payload 2000: 2001 bytes');
    my $idle = hello_conn($s2->{port});
    my $t0 = time;
    expect_error($idle, '', 'TIMEOUT', 'none', '--idle-timeout 1: an idle peer');
    ok(time - $t0 < 4, '... in time');
    is(stop_server($s2, 'INT'), 0, 'SIGINT: the server exits 0');
    open my $log, '<', $s2->{log} or die;
    my @log = <$log>;
    is(scalar(grep { /: 127\.0\.0\.1:\d+: closed after / } @log), 2, 'one log line per connection');
}

# --- IPv6 -----------------------------------------------------------------------------------
SKIP: {
    my $probe = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0, Listen => 1);
    skip 'no IPv6 loopback here', 2 unless $probe;
    close $probe;
    my $s6 = start_server('--host', '::1');
    my $c = connect_to('::1', $s6->{port});
    my $peer = client_hello($c, name => 't', max_payload => MIN_MAX_PAYLOAD, deadline => deadline(5));
    is($peer->{name}, 'perl-server', 'IPv6: HELLO over ::1');
    close $c;
    is(stop_server($s6), 0, 'IPv6: server exits 0');
}

# --- the client against broken servers -------------------------------------------------------
my $small_vectors = "$tmp/vectors.txt";
my $small_stats   = "$tmp/stats.txt";
{
    open my $v, '>', $small_vectors or die;
    print $v "ok x | u8:1 | 01 01\nerr y | BADTAG 0 | 00\n";
    open my $s, '>', $small_stats or die;
    print $s "stats z | list:i64 [ ] list:f64 [ ] bytes: | i64:0 i64:9223372036854775807 "
           . "i64:-9223372036854775808 f64:0x0000000000000000 f64:0x7ff0000000000000 "
           . "f64:0xfff0000000000000 u32:0\n";
}
my @small = ('--vectors', $small_vectors, '--stats', $small_stats);

# A server that answers HELLO and then nothing: every other case must time out, not hang.
sub fake_server {
    my ($behaviour) = @_;
    my $l = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 16) or die $@;
    my $pid = fork // die;
    if (!$pid) {
        while (my $c = $l->accept) {
            my ($type) = eval { read_frame($c, deadline => deadline(30)) };
            write_frame($c, MSG_HELLO, hello_payload('fake')) if defined $type;
            $behaviour->($c);
            close $c;
        }
        exit 0;
    }
    my $port = $l->sockport;
    close $l;
    return ($pid, $port);
}
{
    my ($pid, $fport) = fake_server(sub { wait_eof($_[0], deadline(30)) });
    my $t0 = time;
    my ($rc, @lines) = run_client('--port', $fport, '--timeout', 0.5, @small);
    my $took = time - $t0;
    kill TERM => $pid;
    waitpid $pid, 0;
    is($rc, 1, 'silent server: client exits 1');
    is($lines[0], 'ok   hello', 'silent server: hello passes');
    is(scalar(grep { /\AFAIL \S+: .*TIMEOUT/ } @lines), 12, 'silent server: the 12 other cases time out')
        or diag(join "\n", @lines);
    is($lines[-1], '1 passed, 12 failed', 'silent server: summary');
    ok($took < 20, sprintf 'silent server: done in %.1f s', $took);
}
{
    my ($pid, $fport) = fake_server(sub {
        my ($c) = @_;
        while (my ($type) = eval { read_frame($c, deadline => deadline(30)) }) {
            write_frame($c, MSG_ECHO_REPLY, 'wrong');    # a well-formed but wrong reply to all
        }
    });
    my ($rc, @lines) = run_client('--port', $fport, @small);
    kill TERM => $pid;
    waitpid $pid, 0;
    is($rc, 1, 'wrong server: client exits 1');
    like((grep { /\AFAIL echo:4096: / } @lines)[0] // '', qr/differs from byte 0/,
         'wrong server: a wrong ECHO reply is reported');
    like((grep { /\AFAIL roundtrip:x: / } @lines)[0] // '', qr/expected message type 0x0103, got 0x0101/,
         'wrong server: a wrong reply type is reported');
    is(scalar(grep { /\A(?:ok  |FAIL) / } @lines), 13, 'wrong server: every case ran');
}
{
    my $l = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 1) or die $@;
    my $dead = $l->sockport;
    close $l;
    my ($rc, @lines) = run_client('--port', $dead, @small);
    is($rc, 1, 'no server: client exits 1');
    is($lines[-1], '0 passed, 13 failed', 'no server: every case fails');
    like($lines[0], qr/\AFAIL hello: .*IO/, 'no server: the reason says why');
}
{
    # IO::Socket::IP would listen on 99999 mod 65536: out-of-range ports are usage errors
    for my $case ([ 'server.pl', '99999' ], [ 'server.pl', '65536' ], [ 'client.pl', '0' ], [ 'client.pl', '70000' ]) {
        my ($prog, $port) = @$case;
        my $out = qx{$^X -I$dir/lib $dir/$prog --port $port 2>&1};
        is($? >> 8, 2, "$prog --port $port: exit status 2");
        like($out, qr/--port must be/, "$prog --port $port: says why");
    }
}

done_testing;
