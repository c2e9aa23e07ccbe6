# SPDX-License-Identifier: MIT
package Wire::Datagram;

# The UDP datagram profile (SPEC 15): a 4-byte request id, then exactly one frame, per datagram.

use strict;
use warnings;

use Errno qw(EINTR EAGAIN EWOULDBLOCK ECONNREFUSED);
use Exporter 'import';
use IO::Socket::IP;
use Socket qw(SOCK_DGRAM getaddrinfo);
use Time::HiRes ();

use Wire qw(decode_header encode_frame HEADER_SIZE UDP_MAX_DATAGRAM UDP_MAX_PAYLOAD);
use Wire::Error qw(wire_error);

use constant {
    REQUEST_ID_SIZE => 4,
    # One byte more than the largest datagram accepted: a datagram that fills it was too large,
    # which is how truncation shows without recvmsg's MSG_TRUNC (SPEC 15.4).
    UDP_RECV_SIZE   => UDP_MAX_DATAGRAM + 1,
    FIRST_TIMEOUT   => 0.1,    # SPEC 15.7: the interop clients' retry policy
    MAX_TIMEOUT     => 1,
    SENDS           => 8,
};

our @EXPORT_OK = qw(encode_datagram datagram_id datagram_header decode_datagram recv_datagram
                    retry_timeouts
                    udp_peer udp_request REQUEST_ID_SIZE UDP_RECV_SIZE FIRST_TIMEOUT MAX_TIMEOUT
                    SENDS);
our %EXPORT_TAGS = (all => [@EXPORT_OK]);

sub encode_datagram {
    my ($id, $type, $payload) = @_;
    $payload //= '';
    wire_error('RANGE', undef, 'request id must be 0..4294967295, got ' . ($id // 'undef'))
        unless defined $id && $id =~ /\A[0-9]{1,10}\z/ && $id <= 4294967295;
    wire_error('TOOBIG', undef, sprintf 'a payload of %d bytes does not fit in a datagram (at most %d)',
                                        length $payload, UDP_MAX_PAYLOAD)
        if length $payload > UDP_MAX_PAYLOAD;
    return pack('N', $id) . encode_frame($type, $payload);
}

sub datagram_id {
    my ($bytes) = @_;
    return length $bytes < REQUEST_ID_SIZE ? undef : unpack 'N', $bytes;
}

# SPEC 15.3 steps 1 to 3, in their order: ($id, $type, $length). Offsets are frame offsets (the id
# not counted). A server looks at the type here, before the size: an ERROR is dropped whatever its
# size (step 4).
sub datagram_header {
    my ($bytes, $max_payload) = @_;
    $max_payload = UDP_MAX_PAYLOAD if !defined $max_payload || $max_payload > UDP_MAX_PAYLOAD;
    my $size = length $bytes;
    wire_error('TRUNCATED', undef, "a datagram of $size bytes has no request id")
        if $size < REQUEST_ID_SIZE;
    wire_error('TRUNCATED', 0, 'the frame header needs 8 bytes, the datagram has ' . ($size - REQUEST_ID_SIZE))
        if $size < REQUEST_ID_SIZE + HEADER_SIZE;
    my ($type, $length) = decode_header(substr($bytes, REQUEST_ID_SIZE, HEADER_SIZE), $max_payload);
    return (unpack('N', $bytes), $type, $length);
}

# Steps 1 to 3 and 5, what a client applies to what it receives: ($id, $type, $payload).
sub decode_datagram {
    my ($bytes, $max_payload) = @_;
    my ($id, $type, $length) = datagram_header($bytes, $max_payload);
    my $have = length($bytes) - REQUEST_ID_SIZE - HEADER_SIZE;
    wire_error('LENGTH', 4, "the header announces $length payload bytes, the datagram carries $have")
        if $have != $length;
    return ($id, $type, substr $bytes, REQUEST_ID_SIZE + HEADER_SIZE);
}

# One datagram: ($bytes, $source, $filled), or () when none is waiting on a non-blocking socket
# (or the call was interrupted). $filled: the datagram filled the buffer, so it may have been cut.
sub recv_datagram {
    my ($sock, $size) = @_;
    my $source = recv $sock, my $buf, $size // UDP_RECV_SIZE, 0;
    if (!defined $source) {
        return () if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
        wire_error('IO', undef, $! == ECONNREFUSED ? 'nothing listens there (connection refused)'
                                                   : "recv: $!");
    }
    return ($buf, $source, length $buf >= ($size // UDP_RECV_SIZE));
}

sub retry_timeouts {
    my ($first, $max, $sends) = @_;
    my @waits = ($first);
    push @waits, ($waits[-1] * 2 < $max ? $waits[-1] * 2 : $max) while @waits < $sends;
    return @waits[ 0 .. $sends - 1 ];
}

# ---------------------------------------------------------------------------------------------
# The client side of SPEC 15.7: one request outstanding, its id, its retries.

sub udp_peer {
    my ($host, $port, %opt) = @_;
    my ($err) = getaddrinfo($host, $port, { socktype => SOCK_DGRAM });
    wire_error('ADDRESS', undef, "cannot resolve [$host]:$port: $err") if $err;
    # Connected: the kernel then drops datagrams from anyone but the server.
    my $sock = IO::Socket::IP->new(PeerHost => $host, PeerPort => $port, Proto => 'udp')
        or wire_error('IO', undef, "cannot reach [$host]:$port: " . ($@ || $!));
    return {
        sock    => $sock,
        first   => $opt{first_timeout} // FIRST_TIMEOUT,
        max     => $opt{max_timeout} // MAX_TIMEOUT,
        sends   => $opt{sends} // SENDS,
        # A random start: a late reply to a previous run on the same port is unlikely to match.
        next_id => int rand 4294967296,
        sent    => 0, retries => 0, stray => 0, bad => 0,
    };
}

# Sends a request until its answer comes (the reply, or an ERROR for it): ($type, $payload).
# TIMEOUT after the last send; IO when an ICMP error says nothing listens (retrying cannot help).
sub udp_request {
    my ($peer, $type) = @_;
    my $id = $peer->{next_id};
    $peer->{next_id} = ($id + 1) % 4294967296;
    my $datagram = encode_datagram($id, $type, $_[2]);    # TOOBIG (not sent) when it cannot fit
    my $waited = 0;
    my $n = 0;
    for my $wait (retry_timeouts(@$peer{qw(first max sends)})) {
        my $sent = send $peer->{sock}, $datagram, 0;
        wire_error('IO', undef, $! == ECONNREFUSED ? 'nothing listens there (connection refused)'
                                                   : "send: $!")
            unless defined $sent;
        $peer->{sent}++;
        $peer->{retries}++ if $n++;
        my @answer = _wait_answer($peer, $id, Time::HiRes::time() + $wait);
        return @answer if @answer;
        $waited += $wait;
    }
    wire_error('TIMEOUT', undef, sprintf 'no answer to request id %d after %d sends (%.1f s)',
                                         $id, $peer->{sends}, $waited);
}

# The answer to $id before $deadline, or (); every other datagram is dropped (SPEC 15.7).
sub _wait_answer {
    my ($peer, $id, $deadline) = @_;
    my $fd = fileno $peer->{sock};
    while (1) {
        my $left = $deadline - Time::HiRes::time();
        return () if $left <= 0;
        my $bits = '';
        vec($bits, $fd, 1) = 1;
        my $ready = select $bits, undef, undef, $left;
        next if $ready < 0 && $! == EINTR;
        return () if $ready <= 0;
        my ($bytes) = recv_datagram($peer->{sock}) or next;
        my ($got, $type, $payload) = eval { decode_datagram($bytes) };
        if (!defined $got) {    # steps 1-3 or 5 failed (a cut datagram too): never answered
            $peer->{bad}++;
            next;
        }
        if ($got != $id) {      # a duplicate, a late answer, a stray
            $peer->{stray}++;
            next;
        }
        return ($type, $payload);
    }
}

1;

__END__

=head1 NAME

Wire::Datagram - the UDP datagram profile of the wire protocol (SPEC.md section 15)

=head1 SYNOPSIS

    use Wire qw(:all);
    use Wire::Datagram qw(:all);

    my $bytes = encode_datagram(1, MSG_PING, "\1\2\3");      # id, then one frame
    my ($id, $type, $payload) = decode_datagram($bytes);   # or dies with a Wire::Error

    my $peer = udp_peer('127.0.0.1', 7000);                 # a connected UDP socket
    my ($rtype, $rpayload) = udp_request($peer, MSG_PING, "\1\2\3");

=head1 DESCRIPTION

Over UDP a datagram is a request id (u32, big-endian, chosen by the client, copied into the
answer) followed by exactly one frame, and nothing after it. There is no handshake; a client
retries a request that got no answer, with the same id.

=over 4

=item C<encode_datagram($id, $type, $payload)>

The datagram. RANGE for an id outside 0..4294967295; TOOBIG (no offset) for a payload over
C<UDP_MAX_PAYLOAD> (65495), which no datagram can carry.

=item C<datagram_id($bytes)>

The request id, or undef for fewer than 4 bytes (such a datagram is dropped unanswered).

=item C<datagram_header($bytes, $max_payload)>

SPEC 15.3 steps 1 to 3, in order: TRUNCATED (no offset) under 4 bytes, TRUNCATED at 0 under 12,
the header checks (VERSION 0, HEADER 1 or 2, TOOBIG 4 against C<$max_payload>, which is capped at
65495). Offsets are frame offsets, so that a bad frame gets the same ERROR as over TCP. Returns
C<($id, $type, $length)>. A server judges the type here, before the size: an ERROR frame is
dropped even when its size disagrees with its header (step 4).

=item C<decode_datagram($bytes, $max_payload)>

Steps 1 to 3 and 5 (what a client applies to what it receives): C<datagram_header>, then LENGTH
at 4 when the datagram is not 12 + the header's length bytes. Returns C<($id, $type, $payload)>;
the type and the payload are the caller's to judge.

=item C<recv_datagram($sock, $size)>

One datagram into a buffer of C<$size> bytes (default C<UDP_RECV_SIZE>, 65508, one more than the
largest datagram): C<($bytes, $source_address, $filled)>, or an empty list when nothing is waiting
on a non-blocking socket or the call was interrupted. C<$filled> is true when the datagram filled
the buffer: with the default size it was larger than 65507 bytes, and cut (the kernel discards the
rest). Either way C<decode_datagram> judges what arrived (LENGTH or TOOBIG), never the whole. IO on
a failure (an ICMP "port unreachable" on a connected socket reads as "connection refused").

=item C<retry_timeouts($first, $max, $sends)>

How long each send waits: C<$first>, doubled up to C<$max>, C<$sends> values. SPEC 15.7's policy
(0.1, 1, 8) gives 0.1 0.2 0.4 0.8 1 1 1 1: 5.5 s in all.

=item C<udp_peer($host, $port, first_timeout =E<gt> 0.1, max_timeout =E<gt> 1, sends =E<gt> 8)>

A UDP socket connected to the server (the kernel then drops datagrams from elsewhere) and the
state of SPEC 15.7: the next request id (from a random start) and counters C<sent>,
C<retries>, C<stray> (answers for another id: duplicates, late answers) and C<bad> (datagrams that
fail C<decode_datagram>).

=item C<udp_request($peer, $type, $payload)>

Sends the request and waits for the datagram carrying its id, sending the same datagram again each
time a timeout of C<retry_timeouts> expires; returns the answer's C<($type, $payload)> (an ERROR
for it included). Whatever else arrives is dropped and counted. TIMEOUT after the last send; IO
when the system reports that nothing listens on the port; TOOBIG (nothing sent) for a payload that
cannot fit.

=back

=cut
