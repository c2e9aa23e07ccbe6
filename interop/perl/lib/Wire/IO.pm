# SPDX-License-Identifier: MIT
package Wire::IO;

use strict;
use warnings;

use Exporter 'import';
use Errno qw(EINTR EAGAIN EWOULDBLOCK);
use IO::Socket::IP;
use Socket qw(IPPROTO_TCP TCP_NODELAY SOCK_STREAM getaddrinfo);
use Time::HiRes ();

use Wire qw(decode_header encode_header encode_frame hello_payload parse_hello parse_error error_payload
            HEADER_SIZE DEFAULT_MAX_PAYLOAD MSG_HELLO MSG_ERROR MSG_PING MSG_PONG MSG_BYE);
use Wire::Error qw(wire_error);

our @EXPORT_OK = qw(deadline connect_to write_all read_exact read_append read_frame write_frame
                    wait_eof close_gracefully client_hello expect_frame answer_ping ping bye);

sub deadline {
    my ($seconds) = @_;
    return defined $seconds ? Time::HiRes::time() + $seconds : undef;
}

sub connect_to {
    my ($host, $port, %opt) = @_;
    # Resolving first tells a bad address (ADDRESS) apart from a failed connection (IO).
    my ($err) = getaddrinfo($host, $port, { socktype => SOCK_STREAM });
    wire_error('ADDRESS', undef, "cannot resolve [$host]:$port: $err") if $err;
    my $sock = IO::Socket::IP->new(
        PeerHost => $host,
        PeerPort => $port,
        Proto    => 'tcp',
        Timeout  => $opt{timeout} // 10,
    ) or wire_error('IO', undef, "cannot connect to [$host]:$port: " . ($@ || $!));
    setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);
    # Non-blocking, so that a deadline also bounds a write that the peer does not drain.
    $sock->blocking(0);
    return $sock;
}

# Waits until $fh is readable ($write false) or writable, retrying select() after EINTR with the
# time left. Without a deadline, waits forever.
sub _wait {
    my ($fh, $write, $deadline) = @_;
    my $fd = fileno $fh;
    wire_error('IO', undef, 'handle is closed') unless defined $fd;
    while (1) {
        my $left;
        if (defined $deadline) {
            # Past the deadline, still look once: a process descheduled for longer than a frame
            # timeout (a loaded machine) must not refuse bytes that are already there.
            $left = $deadline - Time::HiRes::time();
            $left = 0 if $left < 0;
        }
        my $bits = '';
        vec($bits, $fd, 1) = 1;
        my ($r, $w) = $write ? (undef, $bits) : ($bits, undef);
        my $n = select $r, $w, undef, $left;
        return if $n > 0;
        wire_error('IO', undef, "select: $!") unless $n == 0 || $! == EINTR;
        wire_error('TIMEOUT', undef, 'operation timed out')
            if defined $deadline && Time::HiRes::time() >= $deadline;
    }
}

sub _retryable { $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK }

sub write_all {
    my ($fh, undef, $deadline) = @_;
    my $data = \$_[1];    # not copied: it may be a 16 MiB payload
    my ($off, $len) = (0, length $$data);
    while ($off < $len) {
        _wait($fh, 1, $deadline) if defined $deadline;
        my $n = syswrite $fh, $$data, $len - $off, $off;
        if (!defined $n) {
            wire_error('IO', undef, "write: $!") unless _retryable();
            _wait($fh, 1, $deadline) if $! != EINTR;    # would block: wait until writable
            next;
        }
        $off += $n;
    }
    return $len;
}

# sysread grows its buffer to the length asked for before anything arrives: asking for what a
# header announces would reserve 16 MiB for 8 bytes (SPEC 2.4, 9.2). At most this much is asked at a
# time, so the buffer grows only with the bytes that came.
use constant READ_CHUNK => 65536;

sub read_exact {
    my ($fh, $want, $deadline) = @_;
    my $buf = '';
    read_append($fh, \$buf, $want, $deadline);
    return $buf;
}

# Appends exactly $want bytes to $$buf (a buffer the caller owns, so that a large payload is never
# copied on its way out).
sub read_append {
    my ($fh, $buf, $want, $deadline) = @_;
    my $start = length $$buf;
    my $end   = $start + $want;
    while (length $$buf < $end) {
        _wait($fh, 0, $deadline) if defined $deadline;
        my $ask = $end - length $$buf;
        $ask = READ_CHUNK if $ask > READ_CHUNK;
        my $n = sysread $fh, $$buf, $ask, length $$buf;
        if (!defined $n) {
            wire_error('IO', undef, "read: $!") unless _retryable();
            _wait($fh, 0, $deadline) if $! != EINTR;
            next;
        }
        wire_error('CLOSED', undef, length $$buf > $start ? 'connection closed in the middle of a frame'
                                                          : 'connection closed by peer')
            if $n == 0;
    }
    return $want;
}

# One frame: the header is checked (VERSION/HEADER/TOOBIG with header offsets) before any of the
# payload is read.
sub read_frame {
    my ($fh, %opt) = @_;
    my $deadline = $opt{deadline};
    my $header = read_exact($fh, HEADER_SIZE, $deadline);
    my ($type, $length) = decode_header($header, $opt{max_payload} // DEFAULT_MAX_PAYLOAD);
    my $payload = '';
    if (!eval { read_append($fh, \$payload, $length, $deadline); 1 }) {
        my $e = $@;
        wire_error('CLOSED', undef, 'connection closed in the middle of a frame')
            if ref $e && $e->name eq 'CLOSED';
        die $e;
    }
    return ($type, $payload);
}

sub write_frame {
    my ($fh, $type, undef, %opt) = @_;
    my $payload = \($_[2] // '');    # not copied: it may be a 16 MiB payload
    wire_error('TOOBIG', undef, length($$payload) . " byte payload exceeds the peer's limit $opt{peer_max}")
        if defined $opt{peer_max} && length $$payload > $opt{peer_max};
    return write_all($fh, encode_frame($type, $$payload), $opt{deadline}) if length $$payload <= READ_CHUNK;
    # A large payload goes out after its header rather than copied behind it.
    wire_error('RANGE', undef, 'payload has a character above 0xFF')
        if utf8::is_utf8($$payload) && $$payload =~ /[^\x00-\xff]/;
    my $header = encode_header($type, length $$payload);
    write_all($fh, $header, $opt{deadline});
    return HEADER_SIZE + write_all($fh, $$payload, $opt{deadline});
}

# Reads and discards until EOF; true if EOF came before the deadline.
sub wait_eof {
    my ($fh, $deadline) = @_;
    while (1) {
        my $ok = eval { _wait($fh, 0, $deadline); 1 };
        return 0 unless $ok;
        my $n = sysread $fh, my $junk, 65536;
        return 1 if defined $n && $n == 0;
        return 1 if !defined $n && !_retryable();    # reset: the peer is gone too
    }
}

# SPEC 8.4: after a last message (ERROR, BYE), shut down our side, then drain the peer's input
# for a bounded time so unread data does not turn into an RST that destroys what we sent.
sub close_gracefully {
    my ($fh, $seconds) = @_;
    shutdown $fh, 1;
    wait_eof($fh, deadline($seconds // 2));
    close $fh;
    return;
}

# Reads frames until one of type $want and returns its payload. After the handshake (pings => 1, the
# default) a PING may come at any time, also while a reply is awaited (SPEC 7.5): it is answered at
# once, the PONG going out before the reply is read, and the wait goes on. An ERROR instead is thrown
# as the Wire::Error it carries; any other type is UNEXPECTED.
sub expect_frame {
    my ($fh, $want, %opt) = @_;
    my $pings = $opt{pings} // 1;
    while (1) {
        my ($type, $payload) = read_frame($fh, deadline => $opt{deadline},
                                          max_payload => $opt{max_payload});
        if ($pings && $type == MSG_PING && $want != MSG_PING) {
            answer_ping($fh, $payload, %opt);
            next;
        }
        die parse_error($payload) if $type == MSG_ERROR && $want != MSG_ERROR;
        wire_error('UNEXPECTED', undef, sprintf 'expected message type 0x%04x, got 0x%04x', $want, $type)
            if $type != $want;
        return $payload;
    }
}

# PONG with the PING's payload; one the peer could not accept (over its announced peer_max) is
# ERROR(TOOBIG, none) instead, and thrown (SPEC 7.5, 10.1): what the peer refuses is never sent.
sub answer_ping {
    my ($fh, $payload, %opt) = @_;
    if (defined $opt{peer_max} && length $payload > $opt{peer_max}) {
        my $why = length($payload) . " byte PONG exceeds the peer's max_payload $opt{peer_max}";
        eval { write_frame($fh, MSG_ERROR, error_payload('TOOBIG', undef, $why), deadline => $opt{deadline}) };
        wire_error('TOOBIG', undef, $why);
    }
    write_frame($fh, MSG_PONG, $payload, deadline => $opt{deadline});
    return;
}

# Client side of the HELLO exchange: returns the server's HELLO as { version, max_payload, name }.
# Before the handshake only HELLO (or ERROR) may come: a PING then is UNEXPECTED (SPEC 8.6).
sub client_hello {
    my ($fh, %opt) = @_;
    write_frame($fh, MSG_HELLO, hello_payload($opt{name}, $opt{max_payload}),
                deadline => $opt{deadline});
    return parse_hello(expect_frame($fh, MSG_HELLO, %opt, pings => 0));
}

# PING with $payload; returns the PONG's payload (the caller compares).
sub ping {
    my ($fh, $payload, %opt) = @_;
    write_frame($fh, MSG_PING, $payload, deadline => $opt{deadline}, peer_max => $opt{peer_max});
    return expect_frame($fh, MSG_PONG, %opt);
}

# BYE, the answering BYE, then the peer's EOF; closes the handle. Returns (answered, closed):
# whether the BYE answer came (rather than EOF at once), and whether EOF followed in time. After its
# BYE a side sends nothing more (SPEC 8.5): a PING that still comes is skipped, not answered.
sub bye {
    my ($fh, %opt) = @_;
    write_frame($fh, MSG_BYE, '', deadline => $opt{deadline});
    my $answered = eval {
        1 while (_bye_frame($fh, \%opt))[0] == MSG_PING;
        1;
    };
    if (!$answered) {
        my $e = $@;
        die $e unless ref $e && $e->isa('Wire::Error') && $e->name eq 'CLOSED';
    }
    my $closed = $answered ? wait_eof($fh, $opt{deadline}) : 1;
    close $fh;
    return ($answered ? 1 : 0, $closed ? 1 : 0);
}

# One frame for bye(): PING or BYE; ERROR is thrown as its error, anything else is UNEXPECTED.
sub _bye_frame {
    my ($fh, $opt) = @_;
    my ($type, $payload) = read_frame($fh, deadline => $opt->{deadline},
                                      max_payload => $opt->{max_payload});
    die parse_error($payload) if $type == MSG_ERROR;
    wire_error('UNEXPECTED', undef, sprintf 'expected message type 0x%04x, got 0x%04x', MSG_BYE, $type)
        unless $type == MSG_BYE || $type == MSG_PING;
    return ($type, $payload);
}

1;

__END__

=encoding utf8

=head1 NAME

Wire::IO - blocking frame I/O over sockets, with deadlines

=head1 SYNOPSIS

    use Wire::IO qw(connect_to client_hello read_frame write_frame deadline close_gracefully);

    my $sock = connect_to('127.0.0.1', 4000, timeout => 5);
    my $dl   = deadline(10);                   # absolute time, or undef for none
    my $peer = client_hello($sock, name => 'perl-client', max_payload => 16777216, deadline => $dl);
    write_frame($sock, Wire::MSG_PING, "\1\2\3", deadline => $dl, peer_max => $peer->{max_payload});
    my ($type, $payload) = read_frame($sock, deadline => $dl, max_payload => 16777216);

=head1 DESCRIPTION

Each call blocks until it is done, the deadline (an absolute C<Time::HiRes::time> value, or
C<undef> for none) has passed (TIMEOUT), the peer closed (CLOSED) or the system failed (IO). Short
reads and writes are continued, and system calls interrupted by a signal (EINTR) are retried with
the time left. The handles may be blocking or non-blocking; C<connect_to> returns a non-blocking
one so that a deadline also bounds a write the peer does not read. Ignore SIGPIPE
(C<$SIG{PIPE} = 'IGNORE'>) so that writing to a closed peer is an IO error rather than death.

=over 4

=item C<deadline($seconds)>

Now plus C<$seconds>, or C<undef> when C<$seconds> is undef.

=item C<connect_to($host, $port, timeout =E<gt> $s)>

A TCP connection over IPv4 or IPv6 (IO::Socket::IP), TCP_NODELAY on, non-blocking. ADDRESS when
the name does not resolve, IO when the connection fails.

=item C<write_all($fh, $bytes, $deadline)>, C<read_exact($fh, $n, $deadline)>

All of the bytes, or an error. Reads ask for at most 64 KiB at a time, so memory grows with the
bytes received, never with a length a peer announced (SPEC 2.4).

=item C<read_append($fh, \$buffer, $n, $deadline)>

As C<read_exact>, appending the C<$n> bytes to C<$buffer> (no copy of a large payload).

=item C<read_frame($fh, deadline =E<gt> $d, max_payload =E<gt> $n)>

C<($type, $payload)>. The header is checked (as L<Wire/decode_header>: VERSION, HEADER, TOOBIG with
the header offset) before any payload byte is read. EOF is CLOSED.

=item C<write_frame($fh, $type, $payload, deadline =E<gt> $d, peer_max =E<gt> $n)>

Sends one frame; a payload larger than C<peer_max> (the peer's announced max_payload) is refused
with TOOBIG before anything is sent.

=item C<wait_eof($fh, $deadline)>

Reads and discards input; true if the peer closed before the deadline.

=item C<close_gracefully($fh, $seconds)>

C<shutdown(SHUT_WR)>, drain input until EOF or C<$seconds> (default 2) have passed, close.

=item C<expect_frame($fh, $type, deadline =E<gt> $d, max_payload =E<gt> $n, peer_max =E<gt> $m, pings =E<gt> 1)>

Reads frames until one of type C<$type> and returns its payload. A PING that comes first (the peer
may PING at any time after the handshake, also while a reply is awaited: SPEC 7.5) is answered at
once with C<answer_ping>, and the wait goes on: the PONG goes out before the reply is read. C<pings
=E<gt> 0> turns that off (before the handshake a PING is UNEXPECTED). An ERROR instead is thrown as
the L<Wire::Error> it carries (see L<Wire/parse_error>); another type is UNEXPECTED.

=item C<answer_ping($fh, $payload, deadline =E<gt> $d, peer_max =E<gt> $m)>

Sends the PONG. One larger than C<peer_max> (the max_payload the peer announced) is not sent: the
peer gets ERROR(TOOBIG, none) instead, and TOOBIG is thrown.

=item C<client_hello($fh, name =E<gt> $name, max_payload =E<gt> $n, deadline =E<gt> $d)>

Sends HELLO and returns the server's HELLO (see L<Wire/parse_hello>): any other frame (a PING too)
is an error, as C<expect_frame> with C<pings =E<gt> 0>.

=item C<ping($fh, $payload, deadline =E<gt> $d, peer_max =E<gt> $n)>

Sends PING and returns the PONG's payload (answering the peer's own PINGs meanwhile).

=item C<bye($fh, deadline =E<gt> $d)>

Sends BYE, reads the answering BYE (EOF instead is accepted, as SPEC 8.5 allows; a PING that comes
first is skipped, since after its BYE a side sends nothing more), waits for EOF, closes the handle.
Returns C<(answered, closed)>: 1/0 each.

=back

=cut
