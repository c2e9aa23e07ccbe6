# SPDX-License-Identifier: MIT
package Wire::Interop;

use strict;
use warnings;

use Exporter 'import';
use Compress::Raw::Zlib ();
use POSIX ();

use Wire qw(:all);
use Wire::Error qw(wire_error);
use Wire::Notation qw(compare_payload);

our @EXPORT_OK = qw(echo_pattern crc32 stats_fields f64_add);

my $PATTERN = pack 'C*', map { ($_ * 131 + 7) % 256 } 0 .. 255;

# Echo payload of SPEC 10.10 (case 6): byte i = (i * 131 + 7) mod 256 (period 256).
sub echo_pattern {
    my ($n) = @_;
    return substr $PATTERN x (int($n / 256) + 1), 0, $n;
}

# IEEE 802.3 / zlib CRC-32 (reflected 0xEDB88320, init and final xor 0xFFFFFFFF).
sub crc32 { Compress::Raw::Zlib::crc32($_[0]) }

# One IEEE binary64 addition s + x. Perl's own "+" is not one: when both operands hold integral
# values it adds them as 64-bit integers, keeping precision a double does not have
# ((2**53-1) + 2 - 1 gives 2**53 instead of 2**53-1). fma(x, 1, s) rounds the exact x + s once,
# which is the IEEE sum. NaNs follow what C's s + x does on x86-64: the accumulator's NaN wins,
# else the element's, made quiet.
sub f64_add {
    my ($s, $x) = @_;
    return $s if $s != $s;
    return unpack 'd>', pack 'Q>', unpack('Q>', pack 'd>', $x) | (1 << 51) if $x != $x;
    return POSIX::fma($x, 1.0, $s);
}

# The 7 STATS_REPLY fields (SPEC 10.6) for a list of i64, a list of f64 and bytes.
sub stats_fields {
    my ($i64s, $f64s, $bytes) = @_;
    my ($i, $f) = (_i64_start(), _f64_start());
    _i64_add($i, $i64s);
    _f64_add($f, $f64s);
    return _stats_reply($i, $f, crc32($bytes));
}

# Accumulators, so that a large request can be summed a slice at a time (in order: f64 sums are
# not associative).
sub _i64_start { [ 0, 9223372036854775807, -9223372036854775807 - 1 ] }
sub _f64_start { [ 0.0, 9**9**9, -9**9**9 ] }

sub _i64_add {
    my ($acc, $values) = @_;
    {
        use integer;    # two's complement wrapping, mod 2**64
        $acc->[0] += $_ for @$values;
    }
    for my $v (@$values) {
        $acc->[1] = $v if $v < $acc->[1];
        $acc->[2] = $v if $v > $acc->[2];
    }
    return;
}

sub _f64_add {
    my ($acc, $values) = @_;
    for my $x (@$values) {
        $acc->[0] = f64_add($acc->[0], $x);
        $acc->[1] = $x if $x < $acc->[1];    # NaN compares false: never min or max
        $acc->[2] = $x if $x > $acc->[2];
    }
    return;
}

sub _stats_reply {
    my ($i, $f, $crc) = @_;
    return [
        [ i64 => $i->[0] ], [ i64 => $i->[1] ], [ i64 => $i->[2] ],
        [ f64 => $f->[0] ], [ f64 => $f->[1] ], [ f64 => $f->[2] ],
        [ u32 => $crc ],
    ];
}

sub new {
    my ($class, %arg) = @_;
    my %ok = map { $_->{name} => $_ } grep { $_->{kind} eq 'ok' } @{ $arg{vectors} // [] };
    return bless { ok => \%ok }, $class;
}

my %HANDLER = (
    MSG_ECHO()         => \&_echo,
    MSG_ROUNDTRIP()    => \&_roundtrip,
    MSG_VECTOR_CHECK() => \&_vector_check,
    MSG_VECTOR_GET()   => \&_vector_get,
    MSG_STATS()        => \&_stats,
);

sub handles { exists $HANDLER{ $_[1] } }

# One request to one reply: ($reply_type, $reply_payload). Throws a Wire::Error whose offset counts
# from the first payload byte (a server adds 8 for its ERROR message).
sub handle {
    my ($self, $type) = @_;
    my $h = $HANDLER{$type} or wire_error('UNEXPECTED', undef, sprintf 'message type 0x%04x', $type);
    return $h->($self, $_[2]);    # not copied to a lexical: a payload may be 16 MiB
}

sub _echo { (MSG_ECHO_REPLY, $_[1]) }

# Decoded to Perl values, encoded again: the reply must be the request, byte for byte. Value by
# value (reencode_fields), so that memory stays a small multiple of the payload.
sub _roundtrip { (MSG_ROUNDTRIP_REPLY, reencode_fields($_[1])) }

sub _vector_result {
    my ($status, $path, $expected, $got) = @_;
    return (MSG_VECTOR_RESULT, encode_fields([
        [ u8 => $status ], [ string => $path // '' ], [ string => $expected // '' ],
        [ string => $got // '' ],
    ]));
}

# Checked whole without a value tree first (a 16 MiB payload of empty lists would cost 55x): an
# unknown name is answered from the name alone; a known one is compared with the payload's bytes
# where the comparison reaches them (a value tree of 1 MiB of extra empty lists cost 128x).
sub _vector_check {
    my ($self) = @_;
    my $heads = field_heads($_[1], 2);
    _want_head($heads, $_[1], 0, 'string', 'VECTOR_CHECK vector name');
    my $at   = @$heads > 1 ? $heads->[1][1] : length $_[1];
    my $name = decode_fields(substr $_[1], 0, $at)->[0][1];
    my $case = $self->{ok}{$name} or return _vector_result(2);
    my $diff = compare_payload($case->{fields}, $_[1], $at);
    return _vector_result(0) unless $diff;
    return _vector_result(1, @$diff{qw(path expected got)});
}

sub _vector_get {
    my ($self, $payload) = @_;
    my ($fields, $off) = decode_fields_with_offsets($payload);
    _want($fields, $off, $payload, 0, 'string', 'VECTOR_GET vector name');
    _no_more($fields, $off, 1, 'VECTOR_GET');
    my $name = $fields->[0][1];
    my $case = $self->{ok}{$name} or return _vector_result(2);
    # From the values parsed from the proto/ text, through our encoder; never the file's hex.
    return (MSG_VECTOR_DATA, encode_fields([ [ string => $name ], @{ $case->{fields} } ]));
}

# Checked whole without a value tree, then summed a slice of values at a time: memory stays near
# the payload's size (a list of 2 million i64 values would cost 10x).
sub _stats {
    my ($self) = @_;
    my $heads = field_heads($_[1], 4);    # a 4th is an error: no more are needed
    _want_head($heads, $_[1], 0, 'list', 'STATS i64 list', 'i64');
    _want_head($heads, $_[1], 1, 'list', 'STATS f64 list', 'f64');
    _want_head($heads, $_[1], 2, 'bytes', 'STATS bytes');
    wire_error('MESSAGE', $heads->[3][1], 'STATS has more than 3 fields') if @$heads > 3;
    my ($i, $f) = (_i64_start(), _f64_start());
    _each_slice($_[1], $heads->[0][1], 'q>', 8, sub { _i64_add($i, \@_) });
    _each_slice($_[1], $heads->[1][1], 'd>', 8, sub { _f64_add($f, \@_) });
    my $at  = $heads->[2][1] + 1;
    my $n   = unpack "\@$at N", $_[1];
    my $crc = crc32('');
    for (my $done = 0; $done < $n; $done += 65536) {
        $crc = Compress::Raw::Zlib::crc32(substr($_[1], $at + 4 + $done, $n - $done < 65536 ? $n - $done : 65536), $crc);
    }
    return (MSG_STATS_REPLY, encode_fields(_stats_reply($i, $f, $crc)));
}

# Calls $code with the values of the (valid) list field whose tag is at $at, 4096 at a time.
sub _each_slice {
    my (undef, $at, $fmt, $size, $code) = @_;
    my $count = unpack "\@${\($at + 2)} N", $_[0];
    my $pos = $at + 6;
    for (my $done = 0; $done < $count; $done += 4096) {
        my $k = $count - $done < 4096 ? $count - $done : 4096;
        $code->(unpack "\@$pos $fmt$k", $_[0]);
        $pos += $k * $size;
    }
    return;
}

# _want for field_heads: the same errors at the same offsets.
sub _want_head {
    my ($heads, undef, $i, $type, $what, $elem) = @_;
    wire_error('MESSAGE', length $_[1], "$what is missing") if $i > $#$heads;
    my ($t, $off, $et) = @{ $heads->[$i] };
    wire_error('MESSAGE', $off, "$what must be " . ($elem ? "a list of $elem" : $type) . ", got $t")
        if $t ne $type;
    wire_error('MESSAGE', $off + 1, "$what must be a list of $elem, got a list of $et")
        if defined $elem && $et ne $elem;
    return;
}

# SPEC 7.2: MESSAGE at the field's tag byte (wrong type), at the first byte of its value, right
# after the tag (a list of the wrong element type: the element tag), or at the payload end (missing).
sub _want {
    my ($fields, $off, $payload, $i, $type, $what, $elem) = @_;
    wire_error('MESSAGE', length $payload, "$what is missing") if $i > $#$fields;
    my $f = $fields->[$i];
    wire_error('MESSAGE', $off->[$i], "$what must be " . ($elem ? "a list of $elem" : $type)
                                      . ", got $f->[0]")
        if $f->[0] ne $type;
    wire_error('MESSAGE', $off->[$i] + 1, "$what must be a list of $elem, got a list of $f->[1][0]")
        if defined $elem && $f->[1][0] ne $elem;
    return;
}

sub _no_more {
    my ($fields, $off, $n, $what) = @_;
    wire_error('MESSAGE', $off->[$n], "$what has more than $n fields") if @$fields > $n;
    return;
}

1;

__END__

=encoding utf8

=head1 NAME

Wire::Interop - the interop service of SPEC 10, and its helpers

=head1 SYNOPSIS

    use Wire::Interop qw(stats_fields echo_pattern);

    my $service = Wire::Interop->new(vectors => Wire::Vectors::load_vectors($path));
    if ($service->handles($type)) {
        my ($reply_type, $reply_payload) = $service->handle($type, $payload);
    }

=head1 DESCRIPTION

=over 4

=item C<< Wire::Interop->new(vectors => \@cases) >>

The cases as returned by L<Wire::Vectors/load_vectors>; only C<ok> cases can be checked or got.

=item C<handles($type)>, C<handle($type, $payload)>

The request types ECHO, ROUNDTRIP, VECTOR_CHECK, VECTOR_GET and STATS. C<handle> returns the reply
C<($type, $payload)> or throws a L<Wire::Error> whose offset counts from the first payload byte:
decoding errors as L<Wire/decode_fields>, MESSAGE for a missing, wrongly typed or extra field (at
its tag byte, or the payload end when missing; a list of the wrong element type at its element
tag, SPEC 7.2). VECTOR_CHECK accepts any fields after the name
and compares them with the parsed vector as L<Wire::Notation/compare_fields> does, reading only
what the comparison reaches (L<Wire::Notation/compare_payload>: a long C<got> is abbreviated);
VECTOR_GET takes exactly the name; STATS exactly a list of i64, a list of f64 and bytes. An
unknown vector name gives VECTOR_RESULT with status 2 and three empty strings.

=item C<stats_fields(\@i64, \@f64, $bytes)>

The 7 STATS_REPLY fields: i64 sum wrapping mod 2**64 (C<use integer>), i64 min and max (i64 max
and min values when empty), f64 sum by sequential IEEE additions from +0.0 (see C<f64_add>), f64
min and max by C<E<lt>>/C<E<gt>> (+inf/-inf when empty; NaN never chosen), u32 CRC-32 of the bytes.

=item C<f64_add($s, $x)>

One IEEE binary64 addition. Perl's C<+> adds integral operands as 64-bit integers and so is not
one; this uses C<POSIX::fma($x, 1, $s)>. A NaN accumulator stays; otherwise a NaN element gives
that NaN, quiet (what C's C<s + x> does on x86-64).

=item C<crc32($bytes)>, C<echo_pattern($n)>

The IEEE CRC-32, and the n-byte ECHO payload of SPEC 10.10.

=back

=cut
