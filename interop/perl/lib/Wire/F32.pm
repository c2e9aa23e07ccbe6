# SPDX-License-Identifier: MIT
package Wire::F32;

use strict;
use warnings;

use Scalar::Util qw(looks_like_number);
use Wire::Error qw(wire_error);

# Numeric use gives the (widened) value; equality of two F32s should be done with ->bits.
use overload
    '0+'     => sub { $_[0]->value },
    '""'     => sub { $_[0]->value },
    fallback => 1;

sub from_bits {
    my ($class, $bits) = @_;
    wire_error('RANGE', undef, 'f32 bit pattern must be an integer 0..0xFFFFFFFF')
        unless defined $bits && !ref $bits && $bits =~ /\A[0-9]+\z/ && $bits <= 0xFFFFFFFF;
    return bless \(my $b = $bits + 0), $class;
}

sub from_number {
    my ($class, $n) = @_;
    wire_error('RANGE', undef, 'f32 value is not a number')
        unless defined $n && !ref $n && looks_like_number($n);
    # pack 'f>' is C's double-to-float conversion: round to nearest, overflow to infinity.
    return $class->from_bits(unpack 'N', pack 'f>', $n);
}

sub bits { ${ $_[0] } }

sub as_hex { sprintf '0x%08x', ${ $_[0] } }

# Widening to double: exact for every non-NaN; a signalling NaN comes back quiet, which is why the
# codec never goes through this and keeps the bit pattern instead.
sub value { unpack 'f>', pack 'N', ${ $_[0] } }

1;

__END__

=encoding utf8

=head1 NAME

Wire::F32 - an IEEE 754 binary32 value kept as its exact 32-bit pattern

=head1 SYNOPSIS

    my $x = Wire::F32->from_bits(0x7f800001);   # a signalling NaN
    my $y = Wire::F32->from_number(1.5);        # 0x3fc00000
    printf "%s %s\n", $x->as_hex, $y->value;        # 0x7f800001 1.5

=head1 DESCRIPTION

Perl has no single-precision type: C<unpack 'f>'> widens to a double and quiets a signalling NaN,
so a decoded f32 could not be re-encoded bit for bit. Wire therefore decodes every f32 to a
C<Wire::F32> object that holds the bit pattern, and encodes it back unchanged.

=over 4

=item C<< Wire::F32->from_bits($u32) >>

From a bit pattern 0..0xFFFFFFFF (else a RANGE L<Wire::Error>).

=item C<< Wire::F32->from_number($n) >>

From a Perl number, rounded as C's C<(float)> conversion (overflow gives infinity).

=item C<bits>, C<as_hex>

The pattern as an integer, or as C<"0x%08x">.

=item C<value>

The value as a Perl number (double). Numeric and string use of the object give this value too.
Compare two F32 values with C<bits>, not with C<==> (NaN) or C<eq>.

=back

=cut
