#!/usr/bin/perl
# SPDX-License-Identifier: MIT
# A wire server in one file, core modules only: the lab's reference solution in Perl.
# Read it from top to bottom: that is the order in which it is built, level by level.
# SPEC.md is the reference; the section numbers in the comments point into it. POD at the end.
use strict;
use warnings;
use Getopt::Long qw(GetOptions);
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Socket qw(SHUT_WR);
use Time::HiRes qw(time);
use Compress::Raw::Zlib ();    # for crc32 (SPEC 10.6): a core module

# ---------------------------------------------------------------------------------------------
# Constants (SPEC 6, 7.1, 9.1, proto/sessions.txt's config line)
# ---------------------------------------------------------------------------------------------

use constant {
    MAX_PAYLOAD     => 1048576,    # the largest payload we accept, announced in our HELLO (2.4)
    IDLE_TIMEOUT    => 2,          # seconds without a complete frame: ERROR(TIMEOUT) (9.3)
    FRAME_TIMEOUT   => 1,          # seconds for a started frame to arrive whole (9.3)
    DRAIN_TIME      => 1,          # how long we read and discard after our last frame (8.4)
    MIN_MAX_PAYLOAD => 1037,       # the largest ERROR payload: every peer must accept it (8.1)
    MAX_DEPTH       => 32,         # nesting limit for lists and groups (3.6)
    NO_OFFSET       => 0xFFFFFFFF, # ERROR offset when there is none (7.4)
    SERVER_NAME     => 'perl-lab-server',
};
# read_exact() loops until a whole payload is in, however the stream cuts it (2.5, 13.4): so we
# take every payload our HELLO allows, even a 1 MiB one that arrives in dozens of pieces.
use constant LARGEST_PAYLOAD => MAX_PAYLOAD;

# message types (7.1)
use constant {
    HELLO => 0x0001, ERROR => 0x0002, PING => 0x0003, PONG => 0x0004, BYE => 0x0005,
    ECHO => 0x0100, ECHO_REPLY => 0x0101, ROUNDTRIP => 0x0102, ROUNDTRIP_REPLY => 0x0103,
    VECTOR_CHECK => 0x0104, VECTOR_RESULT => 0x0105, VECTOR_GET => 0x0106, VECTOR_DATA => 0x0107,
    STATS => 0x0108, STATS_REPLY => 0x0109,
};

# error codes (6): only those a server sends, with the errors.txt message
use constant {
    TRUNCATED => 1, BADTAG => 2, BADBOOL => 4, UTF8 => 5, LENGTH => 6, DEPTH => 7,
    TOOBIG => 8, VERSION => 10, HEADER => 11, UNEXPECTED => 12, MESSAGE => 13, TIMEOUT => 17,
};
my %ERROR_TEXT = (
    1 => 'value runs past the end of the data', 2 => 'unknown type tag',
    4 => 'bool byte is neither 0 nor 1', 5 => 'string is not valid UTF-8',
    6 => 'length or count larger than the bytes that remain', 7 => 'nesting deeper than 32 levels',
    8 => "frame payload larger than the receiver's limit", 10 => 'unsupported protocol version',
    11 => 'malformed frame header', 12 => 'message type not expected here',
    13 => 'message fields do not match its definition', 17 => 'operation timed out',
);

# field tags (3.2)
use constant {
    U8 => 0x01, U16 => 0x02, U32 => 0x03, U64 => 0x04, I8 => 0x11, I16 => 0x12, I32 => 0x13,
    I64 => 0x14, F32 => 0x23, F64 => 0x24, BOOL => 0x30, STRING => 0x40, BYTES => 0x41,
    LIST => 0x50, GROUP => 0x51,
};
my %TAG_NAME = (0x01 => 'u8', 0x02 => 'u16', 0x03 => 'u32', 0x04 => 'u64', 0x11 => 'i8',
    0x12 => 'i16', 0x13 => 'i32', 0x14 => 'i64', 0x23 => 'f32', 0x24 => 'f64', 0x30 => 'bool',
    0x40 => 'string', 0x41 => 'bytes', 0x50 => 'list', 0x51 => 'group');

# The pack template and size of each fixed-size value. 'n', 'N' and the '>' modifier are
# big-endian, the network byte order, whatever this machine's own order is (13.1); 'c' is a
# signed byte. Floats are kept as their bits ('N', 'Q>'): that keeps NaN payloads and -0.0 (13.3).
my %SCALAR = (0x01 => ['C', 1], 0x02 => ['n', 2], 0x03 => ['N', 4], 0x04 => ['Q>', 8],
    0x11 => ['c', 1], 0x12 => ['s>', 2], 0x13 => ['l>', 4], 0x14 => ['q>', 8],
    0x23 => ['N', 4], 0x24 => ['Q>', 8], 0x30 => ['C', 1]);

# A decoded field is [tag, value]: the tag must be kept, since u8:200 and u16:200 are different
# values (3.7). Values: a number (integers, and the bits of floats), 0 or 1 (bool), a byte string
# (a string's UTF-8 bytes, or bytes), [element tag, [values]] for a list, [fields] for a group.

# A protocol error, thrown with die: answered with ERROR(code, offset). The offset counts from
# the frame's first byte (5.1), or is NO_OFFSET.
sub wire_error {
    my ($code, $offset, $text) = @_;
    die { code => $code, offset => $offset, text => $text // $ERROR_TEXT{$code} };
}

sub logmsg { print STDERR "server.pl: @_\n" }

# ---------------------------------------------------------------------------------------------
# Decoding fields (SPEC 3, 4, 5.2): offsets here count from the payload's first byte
# ---------------------------------------------------------------------------------------------

# Well-formed UTF-8 sequences, Unicode Table 3-7 (SPEC 4): no overlong forms, no surrogates,
# nothing above U+10FFFF.
my $UTF8_SEQUENCE = qr/[\x00-\x7f]+|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]
    |[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}
    |[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}/x;

# Dies UTF8 at the lead byte of the first bad sequence: right after the longest valid prefix.
sub check_utf8 {
    my ($data, $start, $n) = @_;
    my $s = substr $data, $start, $n;
    pos($s) = 0;
    1 while $s =~ /\G$UTF8_SEQUENCE/gc;    # one sequence (or ASCII run) per match, from pos()
    my $valid = pos($s) // 0;
    wire_error(UTF8, $start + $valid) if $valid < $n;
}

# The fields in $data from $pos to $end (a payload, or a group's content), in order; dies at the
# first problem with its payload offset (5.2). $starts, if given, collects where each field begins.
sub decode_fields {
    my ($data, $pos, $end, $depth, $starts) = @_;
    my @fields;
    while ($pos < $end) {
        my $tag = ord substr $data, $pos, 1;
        wire_error(BADTAG, $pos) unless $TAG_NAME{$tag};
        # checked before anything of the container is read (3.6)
        wire_error(DEPTH, $pos) if ($tag == LIST || $tag == GROUP) && $depth + 1 > MAX_DEPTH;
        push @$starts, $pos if $starts;
        (my $value, $pos) = decode_value($data, $pos + 1, $end, $tag, $depth + 1);
        push @fields, [$tag, $value];
    }
    return \@fields;
}

# One value of type $tag at $pos: returns it and the position after it. $end is the end of the
# innermost group or of the payload: "bytes left" never goes past it (3.5).
sub decode_value {
    my ($data, $pos, $end, $tag, $depth) = @_;
    if (my $s = $SCALAR{$tag}) {
        my ($template, $size) = @$s;
        wire_error(TRUNCATED, $pos) if $end - $pos < $size;
        my $value = unpack "x$pos $template", $data;
        wire_error(BADBOOL, $pos) if $tag == BOOL && $value > 1;
        return ($value, $pos + $size);
    }
    return decode_list($data, $pos, $end, $depth) if $tag == LIST;
    # string, bytes and group: a u32 length, checked against what is left BEFORE anything is
    # read or kept (9.2)
    wire_error(TRUNCATED, $pos) if $end - $pos < 4;
    my $n = unpack "x$pos N", $data;
    wire_error(LENGTH, $pos) if $n > $end - $pos - 4;
    my $start = $pos + 4;
    return (decode_group($data, $start, $start + $n, $depth), $start + $n) if $tag == GROUP;
    check_utf8($data, $start, $n) if $tag == STRING;
    return (substr($data, $start, $n), $start + $n);
}

sub decode_list { die "TODO level 4: decode a list (SPEC 3.4, 5.2, 5.4)\n" }
sub decode_group { die "TODO level 4: decode a group's fields (SPEC 3.5)\n" }

# The payload's fields and the FRAME offset of each one; a decoding error dies at its frame
# offset, 8 + its payload offset (5.1).
sub decode_payload {
    my ($payload) = @_;
    my @starts;
    my $fields = eval { decode_fields($payload, 0, length $payload, 0, \@starts) };
    if (my $e = $@) {
        $e->{offset} += 8 if ref $e;
        die $e;
    }
    return ($fields, [map { $_ + 8 } @starts]);
}

# ---------------------------------------------------------------------------------------------
# Encoding fields (SPEC 3): the exact inverse of decoding (3.7)
# ---------------------------------------------------------------------------------------------

sub encode_value {
    my ($tag, $value) = @_;
    return pack $SCALAR{$tag}[0], $value if $SCALAR{$tag};
    return pack('N', length $value) . $value if $tag == STRING || $tag == BYTES;
    return encode_container($tag, $value);
}

sub encode_fields {
    my ($fields) = @_;
    return join '', map { chr($_->[0]) . encode_value(@$_) } @$fields;
}

sub encode_container { die "TODO level 4: encode lists and groups (SPEC 3.4, 3.5)\n" }

# ---------------------------------------------------------------------------------------------
# proto/vectors.txt and the value notation (SPEC 10.7, 10.8): given, it is not the lesson
# ---------------------------------------------------------------------------------------------

my %NAME_TAG = reverse %TAG_NAME;

# `6869`, `ab*300` (repeated), or empty: the content of a string or bytes token.
sub parse_content {
    my ($text) = @_;
    my ($hex, $count) = split /\*/, $text;
    return pack('H*', $hex // '') x ($count // 1);
}

# One value of type $tag from $tokens->[$i]; returns it and the next $i.
sub parse_value {
    my ($tokens, $i, $tag) = @_;
    if ($tag == GROUP) {                               # group { fields }
        my ($fields, $next) = parse_fields($tokens, $i + 2, '}');
        return ($fields, $next + 1);
    }
    my (undef, $text) = split /:/, $tokens->[$i], 2;
    if ($tag == LIST) {                                # list:E [ values ]
        my ($elem, @items) = ($NAME_TAG{$text});
        $i += 2;
        while ($tokens->[$i] ne ']') {
            (my $item, $i) = parse_value($tokens, $i, $elem);
            push @items, $item;
        }
        return ([$elem, \@items], $i + 1);
    }
    return (parse_content($text), $i + 1) if $tag == STRING || $tag == BYTES;
    return ($text eq 'true' ? 1 : 0, $i + 1) if $tag == BOOL;
    # float bits: through pack, as hex() of more than 32 bits is not portable
    return (unpack('Q>', pack 'H16', substr $text, 2), $i + 1) if $tag == F64;
    return (unpack('N', pack 'H8', substr $text, 2), $i + 1) if $tag == F32;
    return ($text, $i + 1);                            # decimal: exact, also past 2**53
}

sub parse_fields {
    my ($tokens, $i, $stop) = @_;
    my @fields;
    while ($i < @$tokens && (!defined $stop || $tokens->[$i] ne $stop)) {
        my ($name) = split /:/, $tokens->[$i];
        my $tag = $NAME_TAG{$name};
        (my $value, $i) = parse_value($tokens, $i, $tag);
        push @fields, [$tag, $value];
    }
    return (\@fields, $i);
}

# The `ok` vectors of a vectors.txt: name -> fields (the other kinds are not served).
sub load_vectors {
    my ($path) = @_;
    open my $fh, '<', $path or die "cannot read $path: $!\n";
    my %vectors;
    while (my $line = <$fh>) {
        next if $line =~ /^(#|\s*$)/;
        my ($head, $fields) = map { s/^\s+|\s+$//gr } split /\|/, $line;
        my ($kind, $name) = split ' ', $head;
        $vectors{$name} = (parse_fields([split ' ', $fields], 0, undef))[0] if $kind eq 'ok';
    }
    return \%vectors;
}

# --vectors, else $WIRE_PROTO_DIR/vectors.txt, else proto/vectors.txt here or in a parent.
sub find_vectors {
    my ($option) = @_;
    return $option if defined $option;
    return "$ENV{WIRE_PROTO_DIR}/vectors.txt" if $ENV{WIRE_PROTO_DIR};
    my $dir = '.';
    for (1 .. 64) {
        return "$dir/proto/vectors.txt" if -f "$dir/proto/vectors.txt";
        $dir = "$dir/..";
    }
    return 'proto/vectors.txt';
}

# One value in the value notation, for VECTOR_RESULT's expected and got (10.4).
sub notation {
    my ($tag, $value) = @_;
    if ($tag == LIST) {
        my ($elem, $items) = @$value;
        return "list:$TAG_NAME{$elem} [ " . join('', map { notation($elem, $_) . ' ' } @$items) . ']';
    }
    return 'group { ' . join('', map { notation(@$_) . ' ' } @$value) . '}' if $tag == GROUP;
    my $text = $tag == STRING || $tag == BYTES ? unpack('H*', $value)
        : $tag == BOOL ? ($value ? 'true' : 'false')
        : $tag == F32  ? sprintf('0x%08x', $value)
        : $tag == F64  ? sprintf('0x%016x', $value)
        : $value;
    return "$TAG_NAME{$tag}:$text";
}

# The first difference between two sequences of fields, depth first (10.4): (path, expected,
# got), or nothing when they match.
sub compare {
    my ($expected, $got, $path) = @_;
    my $n = @$expected > @$got ? @$expected : @$got;
    for my $i (0 .. $n - 1) {
        my $here = $path eq '' ? $i : "$path.$i";
        return ($here, notation(@{ $expected->[$i] }), '(missing)') if $i >= @$got;
        return ($here, '(none)', notation(@{ $got->[$i] })) if $i >= @$expected;
        my ($etag, $evalue, $gtag, $gvalue) = (@{ $expected->[$i] }, @{ $got->[$i] });
        return ($here, notation($etag, $evalue), notation($gtag, $gvalue)) if $etag != $gtag;
        my @found;
        if ($etag == LIST || $etag == GROUP) {
            @found = compare_inside($etag, $evalue, $gvalue, $here);
        } elsif ($evalue ne $gvalue) {    # same integer, float BITS, bool, bytes: as strings, exact
            @found = ($here, notation($etag, $evalue), notation($gtag, $gvalue));
        }
        return @found if @found;
    }
    return;
}

sub compare_inside {
    my ($tag, $expected, $got, $path) = @_;
    # TODO level 4: compare lists element by element and groups field by field (SPEC 10.4)
    my ($e, $g) = (notation($tag, $expected), notation($tag, $got));
    return $e eq $g ? () : ($path, $e, $g);
}

# ---------------------------------------------------------------------------------------------
# One connection's protocol. No I/O here: frames to send accumulate in $self->{out}.
# ---------------------------------------------------------------------------------------------

# The 8-byte header (2.1): version 1, flags 0, u16 type ('n'), u32 length ('N'), big-endian.
sub frame {
    my ($type, $payload) = @_;
    return pack('C C n N', 1, 0, $type, length $payload) . $payload;
}

# ERROR's fields (7.4): u16 code, u32 offset, string message; built by hand.
sub error_payload {
    my ($code, $offset, $text) = @_;
    my $message = substr $text, 0, 1024;
    return pack('C n C N C N', U16, $code, U32, $offset, STRING, length $message) . $message;
}

sub new_session {
    my ($vectors) = @_;
    return { vectors => $vectors, handshake_done => 0, peer_max => MIN_MAX_PAYLOAD,
        out => '', type => 0, frames_in => 0, why => '' };
}

# the requests we serve after the handshake, and who answers each
my %HANDLER = (PING, \&on_ping, BYE, \&on_bye, ECHO, \&on_echo, ROUNDTRIP, \&on_roundtrip,
    VECTOR_CHECK, \&on_vector_check, VECTOR_GET, \&on_vector_get, STATS, \&on_stats);

sub send_frame {
    my ($self, $type, $payload) = @_;
    # never send more than the client said it accepts (8.1, 10.1)
    wire_error(TOOBIG, NO_OFFSET, 'the reply is larger than your max payload')
        if length $payload > $self->{peer_max};
    $self->{out} .= frame($type, $payload);
}

sub fail {
    my ($self, $e) = @_;
    $self->{out} .= frame(ERROR, error_payload($e->{code}, $e->{offset}, $e->{text}));
    $self->{why} = "sent ERROR $e->{code} at $e->{offset}";
}

# The 8 header bytes have arrived (8.3 steps 1-3): returns the payload length to read next, or
# undef when the connection ends now (an ERROR may have been queued).
sub on_header {
    my ($self, $header) = @_;
    my ($version, $flags, $type, $length) = unpack 'C C n N', $header;
    my $ok = eval {
        # 2.3: in this order, the first failure wins
        wire_error(VERSION, 0) if $version != 1;
        wire_error(HEADER, 1) if $flags != 0;
        wire_error(HEADER, 2) if $type == 0;
        wire_error(TOOBIG, 4) if $length > MAX_PAYLOAD;    # from the header alone (2.4)
        wire_error(TOOBIG, 4, 'this server does not take payloads over 64 KiB yet')
            if $length > LARGEST_PAYLOAD;
        if ($type == ERROR) {                              # never answered (7.4)
            $self->{why} = 'the client sent ERROR';
            return undef;
        }
        # decided now, without waiting for a payload that may never come (8.3 step 3)
        my $allowed = $self->{handshake_done} ? exists $HANDLER{$type} : $type == HELLO;
        wire_error(UNEXPECTED, 2) unless $allowed;
        1;
    };
    if (!$ok) {
        fail($self, $@) if ref $@;
        return undef;
    }
    $self->{type} = $type;
    return $length;
}

# The whole frame has arrived (8.3 steps 4-6): answer it. False: the connection ends.
sub on_payload {
    my ($self, $payload) = @_;
    $self->{frames_in}++;
    my $going_on = eval {
        return on_hello($self, $payload) if $self->{type} == HELLO;
        $HANDLER{ $self->{type} }->($self, $payload);
    };
    return $going_on unless $@;
    if (ref $@) {
        fail($self, $@);
    } else {                          # a part still to write (a skeleton's TODO), or a bug: log it
        logmsg("not written yet? $@");
        $self->{why} = 'died';
    }
    return 0;
}

sub on_hello {
    my ($self, $payload) = @_;
    my ($f, $at) = decode_payload($payload);
    my $end = 8 + length $payload;    # where a missing field would have started (7.2)
    # field 0, u16 version, is judged first and alone: another version may differ after it
    wire_error(MESSAGE, @$f ? $at->[0] : $end) unless @$f && $f->[0][0] == U16;
    wire_error(VERSION, $at->[0] + 1) if $f->[0][1] != 1;
    wire_error(MESSAGE, @$f > 1 ? $at->[1] : $end) unless @$f > 1 && $f->[1][0] == U32;
    wire_error(MESSAGE, $at->[1] + 1) if $f->[1][1] < MIN_MAX_PAYLOAD;   # the value, after the tag
    wire_error(MESSAGE, @$f > 2 ? $at->[2] : $end) unless @$f > 2 && $f->[2][0] == STRING;
    wire_error(MESSAGE, $at->[2] + 1) if length $f->[2][1] > 255;   # at the string's length word
    # extra fields after the name are ignored (control messages, 7.2)
    $self->{peer_max} = $f->[1][1];
    $self->{handshake_done} = 1;
    # our HELLO, field by field: u16 version 1, u32 max payload, string name (7.3)
    send_frame($self, HELLO, pack('C n C N C N', U16, 1, U32, MAX_PAYLOAD, STRING, length SERVER_NAME)
        . SERVER_NAME);
    return 1;
}

sub on_ping {
    my ($self, $payload) = @_;
    send_frame($self, PONG, $payload);    # the same bytes back (7.5)
    return 1;
}

sub on_bye {
    my ($self, $payload) = @_;
    decode_payload($payload);             # BYE's payload is fields: it must decode (extra ignored)
    send_frame($self, BYE, '');
    $self->{why} = 'BYE';
    return 0;                             # then close gracefully (8.5)
}

sub on_echo {
    my ($self, $payload) = @_;
    send_frame($self, ECHO_REPLY, $payload);    # opaque bytes: nothing to decode (10.2)
    return 1;
}

sub on_roundtrip {
    my ($self, $payload) = @_;
    # decode into values, encode them again: canonical encoding gives the same bytes (3.7, 10.3)
    my ($fields) = decode_payload($payload);
    send_frame($self, ROUNDTRIP_REPLY, encode_fields($fields));
    return 1;
}

# VECTOR_CHECK and VECTOR_GET start with `string name` (10.4, 10.5).
sub vector_name {
    my ($payload) = @_;
    my ($f, $at) = decode_payload($payload);
    wire_error(MESSAGE, @$f ? $at->[0] : 8) unless @$f && $f->[0][0] == STRING;
    return ($f->[0][1], [@$f[1 .. $#$f]], $at);
}

sub unknown_vector {
    my ($self) = @_;
    send_frame($self, VECTOR_RESULT, encode_fields([[U8, 2], [STRING, ''], [STRING, ''], [STRING, '']]));
    return 1;
}

sub on_vector_check {
    my ($self, $payload) = @_;
    my ($name, $got) = vector_name($payload);
    my $expected = $self->{vectors}{$name};
    return unknown_vector($self) unless $expected;    # status 2: not an `ok` vector
    my ($path, $exp, $gotten) = compare($expected, $got, '');
    my @result = defined $path ? (1, $path, $exp, $gotten) : (0, '', '', '');
    send_frame($self, VECTOR_RESULT, encode_fields([[U8, $result[0]], map { [STRING, $_] } @result[1 .. 3]]));
    return 1;
}

sub on_vector_get {
    my ($self, $payload) = @_;
    my ($name, $rest, $at) = vector_name($payload);
    wire_error(MESSAGE, $at->[1]) if @$rest;          # exactly one field (7.2)
    my $fields = $self->{vectors}{$name};
    return unknown_vector($self) unless $fields;
    # made by OUR encoder from the parsed values: that is what the client checks (10.5)
    send_frame($self, VECTOR_DATA, encode_fields([[STRING, $name], @$fields]));
    return 1;
}

sub on_stats {
    my ($self, $payload) = @_;
    wire_error(UNEXPECTED, 2, 'TODO level 4: compute the STATS_REPLY fields (SPEC 10.6)');
}


# ---------------------------------------------------------------------------------------------
# Reading and closing (blocking sockets)
# ---------------------------------------------------------------------------------------------


# 8.4: FIN after our last frame, then read and throw away what the client still sends, for a
# bounded time, so that close() does not answer with an RST that would destroy our last frame.
sub graceful_close {
    my ($sock) = @_;
    shutdown $sock, SHUT_WR;
    my $deadline = time + DRAIN_TIME;
    my $sel = IO::Select->new($sock);
    while ((my $left = $deadline - time) > 0) {
        last unless $sel->can_read($left);
        last unless sysread $sock, my $junk, 65536;    # EOF (or error): the client has closed
    }
    close $sock;
}

# Waits until $sock is readable or $deadline (a time()) has passed; false on timeout. Without
# it, one client that stops sending in the middle of a frame would block this server forever.
sub wait_readable {
    my ($sock, $deadline) = @_;
    my $left = $deadline - time;
    return $left > 0 && IO::Select->new($sock)->can_read($left) ? 1 : 0;
}

# Exactly $n bytes, or fewer at EOF: one sysread may return any part of what was sent (13.4).
# Each wait ends at $deadline: then it returns undef.
sub read_exact {
    my ($sock, $n, $deadline) = @_;
    my $data = '';
    while (length $data < $n) {
        return undef unless wait_readable($sock, $deadline);
        my $got = sysread $sock, $data, $n - length $data, length $data;
        next if !defined $got && $!{EINTR};    # a signal (SIGCHLD...) interrupted the wait
        last unless $got;                      # EOF, or an error such as ECONNRESET
    }
    return $data;
}

# Read a header, check it, read its payload, answer; until the connection ends (8.3).
sub serve_connection {
    my ($sock, $self) = @_;
    while (1) {
        # idle timeout: the first byte of the next frame must come within IDLE_TIMEOUT of the
        # last complete frame; from that byte on, the whole frame within FRAME_TIMEOUT (9.3)
        if (!wait_readable($sock, time + IDLE_TIMEOUT)) {
            fail($self, { code => TIMEOUT, offset => NO_OFFSET, text => $ERROR_TEXT{+TIMEOUT} });
            last;
        }
        my $deadline = time + FRAME_TIMEOUT;
        my $header = read_exact($sock, 8, $deadline);
        if (!defined $header) {
            fail($self, { code => TIMEOUT, offset => NO_OFFSET, text => $ERROR_TEXT{+TIMEOUT} });
            last;
        }
        if (length $header < 8) {
            $self->{why} ||= 'EOF';    # at a frame boundary, or in a header (8.5): no ERROR
            last;
        }
        my $length = on_header($self, $header);
        last unless defined $length;
        my $payload = read_exact($sock, $length, $deadline);
        if (!defined $payload) {
            fail($self, { code => TIMEOUT, offset => NO_OFFSET, text => $ERROR_TEXT{+TIMEOUT} });
            last;
        }
        if (length $payload < $length) {
            $self->{why} = 'EOF in a frame';
            last;
        }
        my $going_on = on_payload($self, $payload);
        write_all($sock, $self) or return;
        last unless $going_on;
    }
    write_all($sock, $self);
    graceful_close($sock);
}

# Sends what the session has queued; a short write is continued (13.5).
sub write_all {
    my ($sock, $self) = @_;
    while (length $self->{out}) {
        my $n = syswrite $sock, $self->{out};
        next if !defined $n && $!{EINTR};
        if (!defined $n) {
            $self->{why} = "I/O error: $!";    # EPIPE: SIGPIPE is ignored, see main
            $self->{out} = '';
            return 0;
        }
        substr($self->{out}, 0, $n) = '';
    }
    return 1;
}

# ---------------------------------------------------------------------------------------------
# Accepting clients
# ---------------------------------------------------------------------------------------------

sub serve_forever {
    my ($listener, $vectors, $udp) = @_;
    # TODO level 5: serve many clients at once: fork a child per client, the parent accepts (SPEC 13.7)
    # Meanwhile, an iterative server: one client at a time, the next ones wait in the listen queue.
    while (1) {
        my $sock = $listener->accept or next;
        my $self = new_session($vectors);
        my $peer = $sock->peerhost . ':' . $sock->peerport;
        serve_connection($sock, $self);
        logmsg("$peer: closed after $self->{frames_in} frames in: $self->{why}");
    }
}


sub listen_tcp {
    my ($port) = @_;
    my $listener = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
        Proto => 'tcp', Listen => 128, ReuseAddr => 1)    # SO_REUSEADDR: restart at once (13.6)
        or die "server.pl: cannot listen on port $port: $@\n";
    return $listener;
}

# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------

my ($port, $vectors_file) = (0, undef);
GetOptions('port=i' => \$port, 'vectors=s' => \$vectors_file)
    or die "usage: server.pl [--port P] [--vectors FILE]\n";
my $vectors = {};
$vectors = eval { load_vectors(find_vectors($vectors_file)) };
if (!$vectors) {
    logmsg("$@(use --vectors FILE)");
    exit 2;
}

# SIGTERM and SIGINT end the server with status 0. SIGPIPE would kill us when a client leaves
# while we write: ignored, the write fails with EPIPE instead (13.5).
$SIG{TERM} = $SIG{INT} = sub { exit 0 };
$SIG{PIPE} = 'IGNORE';

# TODO level 6: also bind a UDP socket to the TCP port's number, and answer its datagrams (SPEC 15)
my ($listener, $udp) = (listen_tcp($port), undef);
$| = 1;
print $listener->sockport, "\n";     # the port, alone on the first line
serve_forever($listener, $vectors, $udp);

__END__

=head1 NAME

server.pl - a wire server in one file, the lab's reference solution in Perl

=head1 SYNOPSIS

    perl server.pl [--port P] [--vectors FILE]

=head1 DESCRIPTION

Listens on 127.0.0.1, port P (default 0: any free port), prints the port alone on the first line of
stdout, logs to stderr, and exits 0 on SIGTERM or SIGINT. Its configuration is that of
proto/sessions.txt: max payload 1048576, idle timeout 2 s, frame timeout 1 s. Graded by
C<wire-conform server --level N 127.0.0.1 PORT> (SPEC.md section 14).

Without C<--vectors> it reads C<$WIRE_PROTO_DIR/vectors.txt>, else C<proto/vectors.txt> in the
current directory or the nearest parent that has one.

=cut
