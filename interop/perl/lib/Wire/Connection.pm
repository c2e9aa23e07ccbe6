# SPDX-License-Identifier: MIT
package Wire::Connection;

use strict;
use warnings;

use Errno qw(EINTR EAGAIN EWOULDBLOCK);
use Socket ();
use Time::HiRes ();

use Wire qw(decode_header encode_fields encode_frame hello_payload parse_hello parse_error error_payload
            message_name HEADER_SIZE DEFAULT_MAX_PAYLOAD NO_OFFSET
            MSG_HELLO MSG_ERROR MSG_PING MSG_PONG MSG_BYE);
use Wire::Error qw(wire_error);
use Wire::IO qw(connect_to wait_eof deadline);

our $VERSION = '1.00';

# Reads ask for at most this much, so the input buffer grows with the bytes that came, never with
# a length a peer announced (SPEC 2.4).
use constant READ_CHUNK => 65536;
# The bounded drain of a graceful close (SPEC 8.4), in seconds.
use constant DRAIN => 1;

sub connect {
    my ($class, %opt) = @_;
    wire_error('INVAL', undef, 'Wire::Connection->connect: port is required') unless defined $opt{port};
    my $host    = $opt{host} // '127.0.0.1';
    my $timeout = $opt{timeout} // 10;
    wire_error('INVAL', undef, "Wire::Connection->connect: timeout '$timeout' is not a number of seconds")
        unless $timeout =~ /\A(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\z/;
    my $max     = $opt{max_payload} // DEFAULT_MAX_PAYLOAD;
    # Encoded before connecting: a bad name or limit is RANGE without touching the network.
    my $hello = hello_payload($opt{name} // 'perl-wire', $max);
    my $dl    = _deadline_of($timeout);
    my $sock  = connect_to($host, $opt{port}, timeout => $timeout > 0 ? $timeout : 10);
    my $self  = bless {
        sock        => $sock,
        peer_addr   => _addr_text($sock, $host, $opt{port}),
        timeout     => $timeout,
        max_payload => $max,
        in          => '',
        head        => undef,       # [type, length] of the frame being received, once checked
        state       => 'hello',     # hello, open, closed
        error       => undef,       # why it is closed (a Wire::Error), sticky
        peer_error  => undef,
        pings       => [],          # payloads of PINGs sent and not yet answered, in order
        queued      => [],          # messages that came while ping() waited
        stats       => { frames_in => 0, bytes_in => 0, frames_out => 0, bytes_out => 0 },
    }, $class;
    $self->_write(MSG_HELLO, $hello, $dl);
    my ($type, $payload) = $self->_frame($dl);
    $self->_peer_error($payload) if $type == MSG_ERROR;
    my $peer = eval { parse_hello($payload) };
    if (!$peer) {
        my $e = $@;
        die $e unless ref $e && $e->isa('Wire::Error');
        $self->_fail($e->code, defined $e->offset ? HEADER_SIZE + $e->offset : NO_OFFSET, $e->message);
    }
    $self->{peer}  = $peer;
    $self->{state} = 'open';
    return $self;
}

sub peer_name   { $_[0]{peer} ? $_[0]{peer}{name} : undef }
sub peer_max    { $_[0]{peer} ? $_[0]{peer}{max_payload} : undef }
sub peer_addr   { $_[0]{peer_addr} }
sub max_payload { $_[0]{max_payload} }
sub socket      { $_[0]{sock} }
sub is_open     { $_[0]{state} eq 'open' }
sub error       { $_[0]{error} }
sub peer_error  { $_[0]{peer_error} }
sub stats       { return { %{ $_[0]{stats} } } }

sub send {
    my ($self, $type, $payload, %opt) = @_;
    $self->_usable;
    wire_error('INVAL', undef, 'message type ' . ($type // 'undef') . ' is not a u16')
        unless defined $type && $type =~ /\A[0-9]+\z/ && $type <= 0xFFFF;
    # The connection does the control messages itself, as wire_conn does.
    wire_error('INVAL', undef, sprintf 'message type 0x%04x (%s) is sent by the connection itself: use %s',
               $type, message_name($type), $type == MSG_PING ? 'ping()' : 'bye() or close()')
        if $type >= MSG_HELLO && $type <= MSG_BYE;
    $payload = encode_fields($payload) if ref $payload eq 'ARRAY';
    $payload //= '';
    wire_error('INVAL', undef, 'payload has a character above 0xFF: encode it first')
        if utf8::is_utf8($payload) && !utf8::downgrade($payload, 1);
    # What the peer would refuse is not sent (SPEC 8.1).
    wire_error('TOOBIG', undef, length($payload) . " byte payload exceeds the peer's max_payload $self->{peer}{max_payload}")
        if length $payload > $self->{peer}{max_payload};
    $self->_write($type, $payload, _deadline_of($opt{timeout} // $self->{timeout}));
    return;
}

sub recv {
    my ($self, %opt) = @_;
    $self->_usable;
    return @{ shift @{ $self->{queued} } } if @{ $self->{queued} };
    my $dl = _deadline_of($opt{timeout} // $self->{timeout});
    while (1) {
        my ($type, $payload) = $self->_message($dl);
        if ($type == MSG_PONG) {
            # Only a PONG we asked for gets here; ping() is not waiting for it any more.
            shift @{ $self->{pings} };
            next;
        }
        return ($type, $payload);
    }
}

sub request {
    my ($self, $type, $payload, %opt) = @_;
    $self->send($type, $payload, %opt);
    return $self->recv(%opt);
}

sub ping {
    my ($self, $payload, %opt) = @_;
    $self->_usable;
    $payload //= '';
    wire_error('INVAL', undef, 'PING payload has a character above 0xFF')
        if utf8::is_utf8($payload) && !utf8::downgrade($payload, 1);
    wire_error('TOOBIG', undef, length($payload) . " byte PING exceeds the peer's max_payload $self->{peer}{max_payload}")
        if length $payload > $self->{peer}{max_payload};
    my $dl = _deadline_of($opt{timeout} // $self->{timeout});
    my $t0 = Time::HiRes::time();
    $self->_write(MSG_PING, $payload, $dl);
    push @{ $self->{pings} }, $payload;
    my $mine = @{ $self->{pings} };    # PONGs come in order: ours is the $mine-th
    while (1) {
        my ($type, $got) = $self->_message($dl);
        if ($type != MSG_PONG) {
            push @{ $self->{queued} }, [ $type, $got ];    # for recv(), in order
            next;
        }
        my $sent = shift @{ $self->{pings} };
        $self->_fail('MESSAGE', NO_OFFSET, 'PONG payload differs from its PING') if $got ne $sent;
        return Time::HiRes::time() - $t0 if --$mine == 0;
    }
}

sub bye {
    my ($self, %opt) = @_;
    $self->_usable;
    my $dl = _deadline_of($opt{timeout} // $self->{timeout});
    $self->_write(MSG_BYE, '', $dl);
    $self->{state} = 'bye';
    my $answered = 0;
    my $ok = eval {
        while (1) {
            my ($type, $payload) = $self->_frame($dl);
            $self->_peer_error($payload) if $type == MSG_ERROR;
            # Replies still coming and PINGs are discarded: after its BYE a side sends nothing more.
            if ($type == MSG_BYE) { $answered = 1; last }
        }
        1;
    };
    if (!$ok) {
        my $e = $@;
        # EOF instead of the answering BYE is a normal end (SPEC 8.5).
        if (ref $e && $e->isa('Wire::Error') && $e->name eq 'CLOSED') {
            $self->{error} = undef;
            return 0;
        }
        $self->_closed($e) unless $self->{state} eq 'closed';
        die $e;
    }
    $self->_drain;
    $self->_closed(undef);
    return $answered;
}

sub close {
    my ($self) = @_;
    return if $self->{state} eq 'closed';
    $self->_drain;
    $self->_closed(undef);
    return;
}

sub DESTROY {
    my ($self) = @_;
    CORE::close($self->{sock}) if $self->{sock} && $self->{state} ne 'closed';
}

# --- internals -----------------------------------------------------------------------------------

sub _deadline_of {
    my ($seconds) = @_;
    return defined $seconds && $seconds > 0 ? deadline($seconds) : undef;
}

sub _addr_text {
    my ($sock, $host, $port) = @_;
    my $h = eval { $sock->peerhost } // $host;
    my $p = eval { $sock->peerport } // $port;
    return $h =~ /:/ ? "[$h]:$p" : "$h:$p";
}

sub _usable {
    my ($self) = @_;
    return if $self->{state} eq 'open';
    die $self->{error} if $self->{error};
    wire_error('INVAL', undef, 'the connection is closed');
}

# The graceful end of SPEC 8.4: FIN after what we sent, then a bounded drain so that unread input
# does not turn our close into an RST that destroys it. Skipped when a failed write closed it.
sub _drain {
    my ($self) = @_;
    return unless defined fileno $self->{sock};
    shutdown $self->{sock}, 1;
    wait_eof($self->{sock}, _deadline_of(DRAIN));
    return;
}

sub _closed {
    my ($self, $error) = @_;
    CORE::close($self->{sock}) if defined fileno $self->{sock};
    $self->{state} = 'closed';
    $self->{error} = $error;
    $self->{in} = '';
    return;
}

# The connection is over with this error: we send ERROR(code, offset) and close gracefully (SPEC
# 8.4), then throw it.
sub _fail {
    my ($self, $code, $offset, $message) = @_;
    my $e = Wire::Error->new(code => $code, offset => $offset == NO_OFFSET ? undef : $offset,
                             message => $message);
    eval { $self->_write(MSG_ERROR, error_payload($e->code, $offset, $message), _deadline_of(DRAIN)) };
    $self->_drain;
    $self->_closed($e);
    die $e;
}

# The peer sent ERROR: the connection is over, nothing is answered (SPEC 8.3 step 2). Thrown as
# PEER, the peer's error kept in peer_error().
sub _peer_error {
    my ($self, $payload) = @_;
    my $pe = eval { parse_error($payload) }
        // Wire::Error->new(code => 'MESSAGE', message => 'unreadable ERROR payload');
    $self->{peer_error} = $pe;
    my $text = 'peer sent ERROR ' . $pe->name . ' (' . $pe->code . ')'
             . (defined $pe->offset ? ' at offset ' . $pe->offset : '') . ': ' . $pe->message;
    my $e = Wire::Error->new(code => 'PEER', message => $text);
    $self->_closed($e);
    die $e;
}

sub _write {
    my ($self, $type, $payload, $dl) = @_;
    my $frame = encode_frame($type, $payload);
    # SIGPIPE would kill the program on a peer that went away: a failed write is IO instead.
    local $SIG{PIPE} = 'IGNORE';
    my ($off, $len) = (0, length $frame);
    while ($off < $len) {
        my $ok = eval { $self->_wait(1, $dl); 1 };
        if (!$ok) {
            # A frame cut off in the middle cannot be resumed: the stream is lost.
            my $e = $@;
            $self->_closed($e) if $off > 0 || !(ref $e && $e->name eq 'TIMEOUT');
            die $e;
        }
        my $n = syswrite $self->{sock}, $frame, $len - $off, $off;
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
            my $e = Wire::Error->new(code => 'IO', message => "write: $!");
            $self->_closed($e);
            die $e;
        }
        $off += $n;
    }
    $self->{stats}{frames_out}++;
    $self->{stats}{bytes_out} += $len;
    return;
}

# Wire::IO's wait (select retried after EINTR, TIMEOUT at the deadline) on this connection's socket.
sub _wait {
    my ($self, $write, $dl) = @_;
    return Wire::IO::_wait($self->{sock}, $write, $dl);
}

# The next whole frame, header checks first (SPEC 8.3): a bad header or a type not allowed now is
# answered with ERROR as soon as its 8 bytes are in. A timeout keeps what was received, so the
# connection stays usable.
sub _frame {
    my ($self, $dl) = @_;
    while (1) {
        if (!$self->{head} && length $self->{in} >= HEADER_SIZE) {
            my ($type, $length) = eval { decode_header($self->{in}, $self->{max_payload}) };
            if (!defined $type) {
                my $e = $@;
                die $e unless ref $e && $e->isa('Wire::Error');
                $self->_fail($e->code, $e->offset // NO_OFFSET, $e->message);
            }
            $self->_fail('UNEXPECTED', 2, sprintf 'message type 0x%04x not expected here', $type)
                unless $self->_allowed($type);
            $self->{head} = [ $type, $length ];
        }
        if ($self->{head} && length $self->{in} >= HEADER_SIZE + $self->{head}[1]) {
            my ($type, $length) = @{ $self->{head} };
            my $payload = substr $self->{in}, HEADER_SIZE, $length;
            substr($self->{in}, 0, HEADER_SIZE + $length) = '';
            $self->{head} = undef;
            $self->{stats}{frames_in}++;
            return ($type, $payload);
        }
        $self->_fill($dl);
    }
}

# SPEC 8.6, for a client.
sub _allowed {
    my ($self, $type) = @_;
    return 1 if $type == MSG_ERROR;
    return $type == MSG_HELLO if $self->{state} eq 'hello';
    return 1 if $self->{state} eq 'bye';    # discarded anyway
    return 0 if $type == MSG_HELLO;
    return scalar @{ $self->{pings} } if $type == MSG_PONG;
    return 1 if $type == MSG_PING || $type == MSG_BYE;
    return $type >= 0x0100;    # 0x0006..0x00FF are reserved
}

sub _fill {
    my ($self, $dl) = @_;
    $self->_wait(0, $dl);
    my $n = sysread $self->{sock}, $self->{in}, READ_CHUNK, length $self->{in};
    if (!defined $n) {
        return if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
        my $e = Wire::Error->new(code => 'IO', message => "read: $!");
        $self->_closed($e);
        die $e;
    }
    if ($n == 0) {
        # EOF: at a frame boundary the peer went away (CLOSED); inside a frame, the frame is lost
        # (TRUNCATED), SPEC 8.5. Never an undef that a caller could take for a message.
        my $e = length $self->{in}
            ? Wire::Error->new(code => 'TRUNCATED',
                               message => 'connection closed in the middle of a frame ('
                                        . length($self->{in}) . ' bytes of it received)')
            : Wire::Error->new(code => 'CLOSED', message => 'connection closed by peer');
        $self->_closed($e);
        die $e;
    }
    $self->{stats}{bytes_in} += $n;
    return;
}

# The next frame for the application: PINGs answered, ERROR thrown as PEER, BYE answered and
# thrown as CLOSED. A PONG comes out only when one was asked for (_allowed).
sub _message {
    my ($self, $dl) = @_;
    while (1) {
        my ($type, $payload) = $self->_frame($dl);
        $self->_peer_error($payload) if $type == MSG_ERROR;
        if ($type == MSG_PING) {
            # A PONG the peer could not take is ERROR(TOOBIG) instead (SPEC 7.5).
            $self->_fail('TOOBIG', NO_OFFSET, length($payload) . " byte PONG exceeds the peer's max_payload")
                if length $payload > $self->{peer}{max_payload};
            $self->_write(MSG_PONG, $payload, $dl);
            next;
        }
        if ($type == MSG_BYE) {
            # The peer is finishing: answer BYE, close the graceful way (SPEC 8.5).
            eval { $self->_write(MSG_BYE, '', _deadline_of(DRAIN)) };
            $self->_drain;
            my $e = Wire::Error->new(code => 'CLOSED', message => 'the peer said BYE');
            $self->_closed($e);
            die $e;
        }
        return ($type, $payload);
    }
}

1;

__END__

=encoding utf8

=head1 NAME

Wire::Connection - a client connection: HELLO done, send, recv, request, ping, bye

=head1 SYNOPSIS

    use Wire qw(MSG_ROUNDTRIP decode_fields);
    use Wire::Connection;

    my $c = Wire::Connection->connect(host => '127.0.0.1', port => 7000, name => 'me',
                                      timeout => 10);
    printf "connected to %s (%s)\n", $c->peer_name, $c->peer_addr;
    my ($type, $payload) = $c->request(MSG_ROUNDTRIP, [ [ u32 => 7 ], [ string => "h\x{e9}llo" ] ]);
    my $fields = decode_fields($payload);    # [ [ u32 => 7 ], [ string => "h\x{e9}llo" ] ]
    $c->ping("abc");
    $c->bye;

=head1 DESCRIPTION

The Perl form of C's C<wire_conn> blocking helpers (C<wire_conn_connect>, C<wire_conn_send>,
C<wire_conn_recv>, C<wire_conn_request>, C<wire_conn_ping>, C<wire_conn_hangup>,
C<wire_conn_close>): one object owns the socket, its input buffer, the peer's HELLO and the reason
it ended. While a call waits it answers the peer's PINGs, and it applies the checks of SPEC 8.3 to
what comes: a bad header, a type not allowed now (a second HELLO, an unsolicited PONG, a reserved
type) or a bad HELLO is answered with ERROR (code and frame offset) and a graceful close (SPEC 8.4),
then thrown.

Every failure is a L<Wire::Error> thrown with C<die>, with the code of SPEC 6. After one that ends
the connection, every later call throws the same error again (C<error> returns it); after C<bye>
or C<close>, INVAL. Only TIMEOUT while waiting for a frame leaves the connection usable: what was
half received is kept for the next call.

=head1 METHODS

=over 4

=item C<< Wire::Connection->connect(port => $port, host => $host, name => $name, max_payload => $n, timeout => $s) >>

Connects (IPv4 or IPv6) and exchanges HELLOs, all within C<timeout> seconds (default 10; 0: no
limit, though the TCP connect itself still gives up after 10 s; it is also the default of every
later call; not a number: INVAL). C<host> defaults to 127.0.0.1, C<name> to
C<perl-wire>, C<max_payload> (what we accept) to 16777216. Errors: ADDRESS (the name does not
resolve), IO (the connection fails), TIMEOUT, PEER (the server answered ERROR, e.g. LIMIT), RANGE
(a name over 255 bytes, a max_payload under 1037), or the code of a bad server HELLO. Frames that
came right after the server's HELLO wait for C<recv>.

=item C<< $c->send($type, $payload, timeout => $s) >>

Sends one message. C<$payload> is a byte string, or an array reference of fields that is encoded
with L<Wire/encode_fields>. HELLO, ERROR, PING, PONG and BYE are INVAL (the connection sends
those itself), a type that is not a u16 is INVAL, a character above 0xFF is INVAL, a payload over
the peer's max_payload is TOOBIG, and nothing is sent.

=item C<< ($type, $payload) = $c->recv(timeout => $s) >>

The next message: an application or interop-service frame (type 0x0100 and up). It never returns
undef or an empty list. At the end it throws: CLOSED when the peer closed at a frame boundary or
said BYE (which is answered), TRUNCATED when it closed in the middle of a frame, PEER when it sent
ERROR (its code, offset and text in C<peer_error>), TIMEOUT, IO, or the code of the ERROR we sent
for what it sent.

=item C<< ($type, $payload) = $c->request($type, $payload, timeout => $s) >>

C<send>, then C<recv>: the reply (requests are answered in order, SPEC 8.1).

=item C<< $seconds = $c->ping($payload, timeout => $s) >>

Sends PING and waits for its PONG; returns the round trip in seconds. Messages that arrive first
are kept, in order, for C<recv>. A PONG with another payload is MESSAGE (sent to the peer too).

=item C<< $answered = $c->bye(timeout => $s) >>

Sends BYE, discards what still comes (replies, PINGs) until the answering BYE (1) or EOF (0), then
closes gracefully. TIMEOUT or PEER when neither came. The connection is closed afterwards either way.

=item C<< $c->close >>

Closes without BYE, gracefully: C<shutdown(SHUT_WR)>, a bounded drain of a second, close. Nothing
is thrown; calling it again does nothing.

=item C<peer_name>, C<peer_max>, C<peer_addr>, C<max_payload>

The server's HELLO name and max_payload, its address (C<127.0.0.1:7000>, C<[::1]:7000>), ours.

=item C<is_open>, C<error>, C<peer_error>

True until the connection ends; the L<Wire::Error> that ended it (C<undef> after C<bye> or
C<close>); the server's ERROR as a L<Wire::Error> (code, offset, text) when it sent one.

=item C<stats>

C<{ frames_in, bytes_in, frames_out, bytes_out }> so far.

=item C<socket>

The socket (non-blocking). Reading from or writing to it yourself breaks the framing.

=back

=cut
