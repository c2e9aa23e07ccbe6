# SPDX-License-Identifier: MIT
# Wire::Connection against server.pl and against scripted fake servers: the handshake, send, recv,
# request, ping, bye, close, and every way it ends (CLOSED, TRUNCATED, PEER, the ERRORs it sends).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Socket::IP;
use Time::HiRes qw(time);
use Test::More;

use WireTest;
use Wire qw(:all);
use Wire::Connection;
use Wire::IO qw(read_frame write_all deadline);

$SIG{PIPE} = 'IGNORE';
my @warnings;
$SIG{__WARN__} = sub { push @warnings, @_ };

is($Wire::Connection::VERSION, $Wire::VERSION, 'Wire::Connection has the distribution version');

# A one-connection fake server: the child accepts, reads the client's HELLO, runs $code with the
# socket, and reports what $code returns on a pipe. Returns (port, a sub that waits for the report).
sub fake {
    my ($code) = @_;
    my $l = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 5, ReuseAddr => 1)
        or die "listen: $!";
    pipe my $r, my $w or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $r;
        local $SIG{ALRM} = sub { exit 3 };
        alarm 10;
        my $s = $l->accept or exit 2;
        my $report = eval {
            my ($t) = read_frame($s, deadline => deadline(5));
            die "first frame $t, not HELLO\n" unless $t == MSG_HELLO;
            $code->($s) // '';
        } // "fake died: $@";
        syswrite $w, $report;
        exit 0;
    }
    close $w;
    my $port = $l->sockport;
    close $l;
    return ($port, sub { local $/; my $got = <$r>; waitpid $pid, 0; $got // '' });
}

sub hello { encode_frame(MSG_HELLO, hello_payload($_[0] // 'fake', $_[1] // DEFAULT_MAX_PAYLOAD)) }

# What the client sent next, as "TYPE" or "ERROR NAME offset" (offset "none"), or "EOF".
sub next_seen {
    my ($s) = @_;
    my ($t, $p) = eval { read_frame($s, deadline => deadline(5)) };
    return 'EOF' unless defined $t;
    return message_name($t) // $t unless $t == MSG_ERROR;
    my $e = parse_error($p);
    return 'ERROR ' . $e->name . ' ' . ($e->offset // 'none');
}

# --- against server.pl -----------------------------------------------------------------------------

my $srv = start_server('--quiet');
ok($srv->{port}, 'server.pl started') or BAIL_OUT('no server');
{
    my $c = Wire::Connection->connect(port => $srv->{port}, name => 'conn-test', timeout => 5);
    ok($c->is_open, 'connect: open after HELLO');
    is($c->peer_name, 'perl-server', 'peer_name is the server HELLO name');
    is($c->peer_max, 16777216, 'peer_max is its max_payload');
    like($c->peer_addr, qr/\A127\.0\.0\.1:\Q$srv->{port}\E\z/, 'peer_addr');

    $c->send(MSG_ECHO, "\x00\xffecho");
    my ($t, $p) = $c->recv;
    is($t, MSG_ECHO_REPLY, 'send + recv: ECHO_REPLY');
    is($p, "\x00\xffecho", '... with the ECHO payload');

    my @fields = ([ u32 => 7 ], [ string => "h\x{e9}llo" ], [ list => [ u16 => [ 1, 2 ] ] ]);
    ($t, $p) = $c->request(MSG_ROUNDTRIP, \@fields);
    is($t, MSG_ROUNDTRIP_REPLY, 'request with fields: ROUNDTRIP_REPLY');
    is_deeply(decode_fields($p), \@fields, '... the same fields back');

    my $rtt = $c->ping('abc');
    ok(defined $rtt && $rtt >= 0 && $rtt < 5, 'ping returns the round trip in seconds');

    # A timeout leaves the connection usable.
    my $t0 = time;
    throws_wire { $c->recv(timeout => 0.2) } 'TIMEOUT', 'recv with nothing to come: TIMEOUT';
    cmp_ok(time - $t0, '<', 4, '... after about the timeout');
    ok($c->is_open, '... and the connection is still open');
    ($t, $p) = $c->request(MSG_ECHO, 'again');
    is($p, 'again', '... and still works');

    # Requests pipelined before a ping: the replies wait for recv, in order.
    $c->send(MSG_ECHO, 'one');
    $c->send(MSG_ECHO, 'two');
    $c->ping('p');
    is(($c->recv)[1], 'one', 'replies that came during ping() are kept for recv, in order');
    is(($c->recv)[1], 'two', '... both');

    my $st = $c->stats;
    is($st->{frames_out}, 8, 'stats: frames out (HELLO, 5 messages, 2 PINGs)');
    is($st->{frames_in}, 8, 'stats: frames in');

    is($c->bye, 1, 'bye: the server answered BYE');
    ok(!$c->is_open, '... closed');
    is($c->error, undef, '... without an error');
    throws_wire { $c->send(MSG_ECHO, 'x') } 'INVAL', 'send after bye: INVAL';
    throws_wire { $c->recv } 'INVAL', 'recv after bye: INVAL';
    $c->close;
    pass('close after bye does nothing');
}
{
    my $c = Wire::Connection->connect(port => $srv->{port});
    throws_wire { $c->send(MSG_HELLO, '') } 'INVAL', 'send HELLO: INVAL';
    throws_wire { $c->send(MSG_PING, '') } 'INVAL', 'send PING: INVAL (use ping)';
    throws_wire { $c->send(MSG_BYE, '') } 'INVAL', 'send BYE: INVAL (use bye)';
    throws_wire { $c->send(70000, '') } 'INVAL', 'send a type over 0xFFFF: INVAL';
    throws_wire { $c->send(MSG_ECHO, "\x{100}") } 'INVAL', 'send characters: INVAL';
    throws_wire { $c->send(MSG_ROUNDTRIP, [ [ u8 => 256 ] ]) } 'RANGE', 'send bad fields: RANGE';
    ok($c->is_open, 'refused sends leave it open');
    is(($c->request(MSG_ECHO, 'ok'))[1], 'ok', '... and usable');
    $c->close;
    ok(!$c->is_open, 'close: closed');
    throws_wire { $c->ping } 'INVAL', 'ping after close: INVAL';
}
is(stop_server($srv), 0, 'server.pl exits 0 on TERM');

throws_wire { Wire::Connection->connect(port => 1, name => 'x' x 256) } 'RANGE',
    'a name over 255 bytes: RANGE, before connecting';
throws_wire { Wire::Connection->connect() } 'INVAL', 'no port: INVAL';
throws_wire { Wire::Connection->connect(port => 1, timeout => 'soon') } 'INVAL', 'a timeout that is not a number: INVAL';
{
    my $l = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 1) or die;
    my $port = $l->sockport;
    close $l;
    throws_wire { Wire::Connection->connect(port => $port) } 'IO', 'connection refused: IO';
}

# --- against fake servers ----------------------------------------------------------------------------

{
    my ($port, $done) = fake(sub { write_all($_[0], encode_frame(MSG_ERROR, error_payload('LIMIT', undef, 'too many'))); '' });
    my $e = throws_wire { Wire::Connection->connect(port => $port) } 'PEER', 'server refuses with ERROR: PEER';
    like("$e", qr/peer sent ERROR LIMIT \(19\): too many/, '... saying what the server sent');
    $done->();
}
{
    my ($port, $done) = fake(sub { write_all($_[0], hello('fake', 1037)); next_seen($_[0]) });
    my $c = Wire::Connection->connect(port => $port);
    is($c->peer_max, 1037, 'peer_max from a server announcing 1037');
    throws_wire { $c->send(MSG_ECHO, 'x' x 1038) } 'TOOBIG', 'a payload over peer_max: TOOBIG';
    throws_wire { $c->ping('x' x 1038) } 'TOOBIG', 'a PING over peer_max: TOOBIG';
    $c->send(MSG_ECHO, 'x' x 1037);
    is($done->(), 'ECHO', '... not sent: the server saw the 1037-byte ECHO first');
}
{
    my ($port, $done) = fake(sub { write_all($_[0], hello() . encode_frame(MSG_ECHO_REPLY, 'early')); '' });
    my $c = Wire::Connection->connect(port => $port);
    is(($c->recv)[1], 'early', 'a frame in the same write as the HELLO waits for recv');
    my $e = throws_wire { $c->recv } 'CLOSED', 'then EOF at a frame boundary: CLOSED, not undef';
    like("$e", qr/closed by peer/, '... saying so');
    ok(!$c->is_open, '... closed');
    throws_wire { $c->recv } 'CLOSED', 'and again: the same error (sticky)';
    is($c->error->name, 'CLOSED', 'error() says why');
    $done->();
}
{
    my ($port, $done) = fake(sub { write_all($_[0], hello() . substr(encode_frame(MSG_ECHO_REPLY, 'cut'), 0, 9)); '' });
    my $c = Wire::Connection->connect(port => $port);
    throws_wire { $c->recv } 'TRUNCATED', 'EOF in the middle of a frame: TRUNCATED';
    $done->();
}
{
    my ($port, $done) = fake(sub {
        my ($s) = @_;
        write_all($s, hello());
        read_frame($s, deadline => deadline(5));    # the ECHO
        write_all($s, encode_frame(MSG_PING, 'p1') . encode_frame(MSG_PING, 'p2'));
        my @seen = map { my ($t, $p) = read_frame($s, deadline => deadline(5)); message_name($t) . ":$p" } 1 .. 2;
        write_all($s, encode_frame(MSG_ECHO_REPLY, 'reply'));
        join ' ', @seen;
    });
    my $c = Wire::Connection->connect(port => $port);
    is(($c->request(MSG_ECHO, 'q'))[1], 'reply', 'PINGs before the reply: the reply comes out');
    is($done->(), 'PONG:p1 PONG:p2', '... and each PING was answered with its PONG first');
}
{
    my ($port, $done) = fake(sub { write_all($_[0], hello() . encode_frame(MSG_PONG, 'x')); next_seen($_[0]) });
    my $c = Wire::Connection->connect(port => $port);
    throws_wire { $c->recv } 'UNEXPECTED', 'an unsolicited PONG: UNEXPECTED at 2', 2;
    is($done->(), 'ERROR UNEXPECTED 2', '... sent to the server as ERROR(UNEXPECTED, 2)');
}
{
    my ($port, $done) = fake(sub { write_all($_[0], hello() . hello()); next_seen($_[0]) });
    my $c = Wire::Connection->connect(port => $port);
    throws_wire { $c->recv } 'UNEXPECTED', 'a second HELLO: UNEXPECTED at 2', 2;
    is($done->(), 'ERROR UNEXPECTED 2', '... sent as ERROR');
}
{
    # A header announcing 1000 bytes that never come: refused from the header, at once.
    my ($port, $done) = fake(sub { write_all($_[0], hello() . encode_header(0x0050, 1000)); next_seen($_[0]) });
    my $c = Wire::Connection->connect(port => $port);
    my $t0 = time;
    throws_wire { $c->recv(timeout => 10) } 'UNEXPECTED', 'a reserved type: UNEXPECTED at 2', 2;
    cmp_ok(time - $t0, '<', 5, '... from the header alone, without waiting for the payload');
    is($done->(), 'ERROR UNEXPECTED 2', '... sent as ERROR');
}
{
    my ($port, $done) = fake(sub { write_all($_[0], hello() . "\x02\x00\x01\x01\x00\x00\x00\x00"); next_seen($_[0]) });
    my $c = Wire::Connection->connect(port => $port);
    throws_wire { $c->recv } 'VERSION', 'a frame of version 2: VERSION at 0', 0;
    is($done->(), 'ERROR VERSION 0', '... sent as ERROR(VERSION, 0)');
}
{
    my ($port, $done) = fake(sub { write_all($_[0], hello() . encode_header(MSG_ECHO_REPLY, 2000)); next_seen($_[0]) });
    my $c = Wire::Connection->connect(port => $port, max_payload => 1037);
    throws_wire { $c->recv } 'TOOBIG', 'a frame over our max_payload: TOOBIG at 4', 4;
    is($done->(), 'ERROR TOOBIG 4', '... sent as ERROR(TOOBIG, 4)');
}
{
    my $bad = encode_fields([ [ u16 => 2 ], [ u32 => 1 << 24 ], [ string => 'v2' ] ]);
    my ($port, $done) = fake(sub { write_all($_[0], encode_frame(MSG_HELLO, $bad)); next_seen($_[0]) });
    throws_wire { Wire::Connection->connect(port => $port) } 'VERSION', 'a HELLO of version 2: VERSION at 9', 9;
    is($done->(), 'ERROR VERSION 9', '... sent as ERROR(VERSION, 9)');
}
{
    my ($port, $done) = fake(sub { write_all($_[0], encode_frame(MSG_PING, '')); next_seen($_[0]) });
    throws_wire { Wire::Connection->connect(port => $port) } 'UNEXPECTED', 'a PING before HELLO: UNEXPECTED at 2', 2;
    is($done->(), 'ERROR UNEXPECTED 2', '... sent as ERROR');
}
{
    my ($port, $done) = fake(sub { write_all($_[0], hello() . encode_frame(MSG_BYE, '')); next_seen($_[0]) });
    my $c = Wire::Connection->connect(port => $port);
    my $e = throws_wire { $c->recv } 'CLOSED', 'the server says BYE: recv throws CLOSED';
    like("$e", qr/BYE/, '... saying BYE');
    is($done->(), 'BYE', '... after answering BYE');
}
{
    my ($port, $done) = fake(sub {
        my ($s) = @_;
        write_all($s, hello());
        read_frame($s, deadline => deadline(5));
        write_all($s, encode_frame(MSG_ERROR, error_payload('MESSAGE', 12, 'bad field')));
        '';
    });
    my $c = Wire::Connection->connect(port => $port);
    throws_wire { $c->request(MSG_ROUNDTRIP, '') } 'PEER', 'an ERROR as reply: PEER';
    my $pe = $c->peer_error;
    ok($pe && $pe->name eq 'MESSAGE' && $pe->offset == 12 && $pe->message eq 'bad field',
       'peer_error: the code, offset and text the server sent');
    throws_wire { $c->send(MSG_ECHO, '') } 'PEER', 'then every call throws PEER';
    $done->();
}
{
    my ($port, $done) = fake(sub {
        my ($s) = @_;
        write_all($s, hello());
        my ($t) = read_frame($s, deadline => deadline(5));
        write_all($s, encode_frame(MSG_ECHO_REPLY, 'late') . encode_frame(MSG_PING, '') . encode_frame(MSG_BYE, ''));
        my $after = next_seen($s);
        message_name($t) . " then $after";
    });
    my $c = Wire::Connection->connect(port => $port);
    is($c->bye, 1, 'bye: replies and PINGs before the answering BYE are discarded');
    is($done->(), 'BYE then EOF', '... nothing is sent after our BYE (no PONG)');
}
{
    my ($port, $done) = fake(sub { write_all($_[0], hello()); next_seen($_[0]) });
    my $c = Wire::Connection->connect(port => $port);
    $c->close;
    is($done->(), 'EOF', 'close: the server sees EOF, no BYE');
}

is_deeply([ grep { /Connection\.pm/ } @warnings ], [], 'Wire::Connection warned about nothing');

done_testing;
