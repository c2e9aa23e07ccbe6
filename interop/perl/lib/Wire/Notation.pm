# SPDX-License-Identifier: MIT
package Wire::Notation;

use strict;
use warnings;

use Exporter 'import';
use Wire qw(encode_value decode_fields is_type tag_of type_of utf8_error_offset);
use Wire::Error qw(wire_error);
use Wire::F32;

our @EXPORT_OK = qw(parse_hex format_hex parse_fields format_fields format_field format_value
                    compare_fields compare_payload is_any);

sub _bad { wire_error('INVAL', undef, "notation: $_[0]") }

sub parse_hex {
    my ($text) = @_;
    my $out = '';
    for my $tok (split ' ', $text) {
        my ($hex, $n) = $tok =~ /\A((?:[0-9a-f]{2})+)(?:\*(0|[1-9][0-9]*))?\z/
            or _bad("bad hex token '$tok'");
        $out .= pack('H*', $hex) x ($n // 1);
    }
    return $out;
}

sub format_hex { unpack 'H*', $_[0] }

# The value of a "TYPE:*" token (sessions.txt expect steps): any value of that type matches it.
our $ANY = bless \(my $any = '*'), 'Wire::Notation::Any';
our $WILDCARDS = 0;

sub is_any { ref $_[0] && ref $_[0] eq 'Wire::Notation::Any' }

sub parse_fields {
    my ($text, %opt) = @_;
    local $WILDCARDS = $opt{wildcards} ? 1 : 0;
    my @tok = split ' ', $text;
    my $i = 0;
    return _fields(\@tok, \$i, undef);
}

# Fields up to the closing token $close (undef: up to the end of the text).
sub _fields {
    my ($tok, $i, $close) = @_;
    my @fields;
    while (1) {
        if ($$i >= @$tok) {
            _bad("missing '$close'") if defined $close;
            return \@fields;
        }
        if (defined $close && $tok->[$$i] eq $close) {
            $$i++;
            return \@fields;
        }
        push @fields, _item($tok, $i);
    }
}

# One full token, with its brackets for a container: returns [type => value].
sub _item {
    my ($tok, $i) = @_;
    my $t = $tok->[ $$i++ ];
    if ($t eq 'group') {
        _expect($tok, $i, '{', 'group');
        return [ group => _fields($tok, $i, '}') ];
    }
    if ($t =~ /\Alist:(.*)\z/) {
        my $et = $1;
        _bad("unknown list element type '$et'") unless is_type($et);
        _expect($tok, $i, '[', $t);
        my @items;
        while (1) {
            _bad("missing ']' of $t") if $$i >= @$tok;
            if ($tok->[$$i] eq ']') {
                $$i++;
                return [ list => [ $et => \@items ] ];
            }
            my $item = _item($tok, $i);
            _bad("$item->[0] element in a $t") if $item->[0] ne $et;
            push @items, $item->[1];
        }
    }
    my ($type, $text) = $t =~ /\A([a-z0-9]+):(.*)\z/s or _bad("bad token '$t'");
    return [ $type => _scalar($type, $text, $t) ];
}

sub _expect {
    my ($tok, $i, $want, $after) = @_;
    _bad("expected '$want' after '$after'")
        unless $$i < @$tok && $tok->[ $$i++ ] eq $want;
    return;
}

sub _scalar {
    my ($type, $text, $t) = @_;
    return $ANY if $WILDCARDS && $text eq '*' && is_type($type) && $type ne 'list' && $type ne 'group';
    if ($type =~ /\A[ui](?:8|16|32|64)\z/) {
        # Canonical spelling only: no '+', no leading zeros, no '-0'.
        my $re = $type =~ /\Ai/ ? qr/\A(?:0|-?[1-9][0-9]*)\z/ : qr/\A(?:0|[1-9][0-9]*)\z/;
        _bad("bad $type number in '$t'") unless $text =~ $re;
        encode_value($type, $text);    # the range check, as RANGE
        return 0 + $text;
    }
    if ($type eq 'f32') {
        _bad("f32 needs 0x and 8 hex digits: '$t'") unless $text =~ /\A0x([0-9a-f]{8})\z/;
        return Wire::F32->from_bits(hex $1);
    }
    if ($type eq 'f64') {
        _bad("f64 needs 0x and 16 hex digits: '$t'") unless $text =~ /\A0x([0-9a-f]{16})\z/;
        return unpack 'd>', pack 'H16', $1;
    }
    if ($type eq 'bool') {
        return 1 if $text eq 'true';
        return 0 if $text eq 'false';
        _bad("bool must be true or false: '$t'");
    }
    if ($type eq 'bytes') {
        return parse_hex($text);
    }
    if ($type eq 'string') {
        my $b = parse_hex($text);
        _bad("string is not valid UTF-8: '$t'") if defined utf8_error_offset($b);
        utf8::decode($b);
        return $b;
    }
    _bad("unknown type in '$t'");
}

sub format_fields { join ' ', map { format_field($_) } @{ $_[0] } }

sub format_field {
    my ($f) = @_;
    return format_value(@$f);
}

# Scalars are rendered from their canonical encoding, so the text shows exactly what goes on the
# wire (and a value that cannot be encoded is an error here too).
sub format_value {
    my ($type, $v) = @_;
    wire_error('INVAL', undef, 'unknown type ' . ($type // 'undef')) unless is_type($type);
    return "$type:*" if is_any($v);
    if ($type eq 'group') {
        my $inner = format_fields($v);
        return $inner eq '' ? 'group { }' : "group { $inner }";
    }
    if ($type eq 'list') {
        wire_error('INVAL', undef, 'a list value must be [element_type => [values]]')
            unless ref $v eq 'ARRAY' && @$v == 2 && ref $v->[1] eq 'ARRAY';
        my ($et, $items) = @$v;
        my $inner = join ' ', map { format_value($et, $_) } @$items;
        return $inner eq '' ? "list:$et [ ]" : "list:$et [ $inner ]";
    }
    my $b = encode_value($type, $v);
    return 'bool:' . (ord $b ? 'true' : 'false') if $type eq 'bool';
    return sprintf 'f32:0x%s', unpack 'H8', $b if $type eq 'f32';
    return sprintf 'f64:0x%s', unpack 'H16', $b if $type eq 'f64';
    return "$type:" . unpack 'H*', substr $b, 4 if $type eq 'string' || $type eq 'bytes';
    my %fmt = (u8 => 'C', u16 => 'n', u32 => 'N', u64 => 'Q>',
               i8 => 'c', i16 => 's>', i32 => 'l>', i64 => 'q>');
    return "$type:" . unpack $fmt{$type}, $b;
}

# First difference between two field sequences, as VECTOR_RESULT reports it (SPEC 10.4):
# undef when equal, else { path, expected, got }.
sub compare_fields {
    my ($expected, $got) = @_;
    return _compare_seq($expected, $got, '');
}

sub _compare_seq {
    my ($exp, $got, $prefix) = @_;
    my $n = @$exp > @$got ? @$exp : @$got;
    for my $i (0 .. $n - 1) {
        my $path = $prefix eq '' ? $i : "$prefix.$i";
        return { path => $path, expected => format_field($exp->[$i]), got => '(missing)' }
            if $i > $#$got;
        return { path => $path, expected => '(none)', got => format_field($got->[$i]) }
            if $i > $#$exp;
        my $diff = _compare_item($exp->[$i], $got->[$i], $path);
        return $diff if $diff;
    }
    return undef;
}

sub _compare_item {
    my ($e, $g, $path) = @_;
    if ($e->[0] eq $g->[0]) {
        return undef if is_any($e->[1]);
        return _compare_seq($e->[1], $g->[1], $path) if $e->[0] eq 'group';
        if ($e->[0] eq 'list') {
            my ($et, $gt) = ($e->[1][0], $g->[1][0]);
            return _compare_seq([ map { [ $et => $_ ] } @{ $e->[1][1] } ],
                                [ map { [ $gt => $_ ] } @{ $g->[1][1] } ], $path)
                if $et eq $gt;
        }
        else {
            my ($es, $gs) = (format_field($e), format_field($g));
            return undef if $es eq $gs;
            return { path => $path, expected => $es, got => $gs };
        }
    }
    return { path => $path, expected => format_field($e), got => format_field($g) };
}

# ---------------------------------------------------------------------------------------------
# The same comparison against a payload's bytes (VECTOR_CHECK): no value tree of what was received.
# Items are read where the walk reaches them; a scalar matches when its encoding is the expected
# value's (encodings are canonical: equal values, equal bytes); only the item shown as `got` is
# formatted, and only as far as RESULT_TEXT_MAX characters.

use constant RESULT_TEXT_MAX => 1024;    # longer got texts are abbreviated (SPEC 10.4 allows it)
my %SIZE = (u8 => 1, u16 => 2, u32 => 4, u64 => 8, i8 => 1, i16 => 2, i32 => 4, i64 => 8,
            f32 => 4, f64 => 8, bool => 1);

sub compare_payload {
    my (undef, undef, $pos) = @_;
    my $b = \$_[1];
    if (utf8::is_utf8($$b)) {    # octets: a checked payload downgrades
        my $copy = $$b;
        utf8::downgrade($copy);
        $b = \$copy;
    }
    my ($diff) = _cmp_seq_b($_[0], $b, $pos, length $$b, undef, undef, '');
    return $diff;
}

# The fields from $pos to $end (no $et), or the $count elements of type $et from $pos, against
# @$exp: (difference or undef, position after them).
sub _cmp_seq_b {
    my ($exp, $b, $pos, $end, $et, $count, $prefix) = @_;
    for (my $i = 0;; $i++) {
        my $have = defined $et ? $i < $count : $pos < $end;
        last if !$have && $i > $#$exp;
        my $path = $prefix eq '' ? $i : "$prefix.$i";
        return { path => $path, expected => format_field($exp->[$i]), got => '(missing)' } unless $have;
        my $type = $et // type_of(vec $$b, $pos++, 8);
        return { path => $path, expected => '(none)', got => _got_text($b, $type, $pos) } if $i > $#$exp;
        my $diff;
        ($diff, $pos) = _cmp_item_b($exp->[$i], $b, $type, $pos, $path);
        return $diff if $diff;
    }
    return (undef, $pos);
}

# The expected item $e against the value of $type at $pos: (difference or undef, position after).
sub _cmp_item_b {
    my ($e, $b, $type, $pos, $path) = @_;
    my ($t, $v) = @$e;
    if ($t eq $type) {
        return (undef, _skip_b($b, $type, $pos)) if is_any($v);
        if ($t eq 'group') {
            my $n = unpack "\@$pos N", $$b;
            my ($diff) = _cmp_seq_b($v, $b, $pos + 4, $pos + 4 + $n, undef, undef, $path);
            return $diff ? ($diff) : (undef, $pos + 4 + $n);
        }
        if ($t eq 'list') {
            my ($et, $count) = (type_of(vec $$b, $pos, 8), unpack "\@${\($pos + 1)} N", $$b);
            return _cmp_seq_b([ map { [ $v->[0] => $_ ] } @{ $v->[1] } ], $b, $pos + 5, undef, $et, $count,
                              $path)
                if $et eq $v->[0];
        }
        else {
            my $enc  = encode_value($t, $v);
            my $size = $SIZE{$t} // 4 + unpack "\@$pos N", $$b;
            return (undef, $pos + $size) if $size == length $enc && $enc eq substr $$b, $pos, $size;
        }
    }
    return { path => $path, expected => format_field($e), got => _got_text($b, $type, $pos) };
}

# Position after the (checked) value of $type at $pos.
sub _skip_b {
    my ($b, $type, $pos) = @_;
    return $pos + $SIZE{$type} if $SIZE{$type};
    return $pos + 4 + unpack "\@$pos N", $$b unless $type eq 'list';
    my ($et, $count) = (type_of(vec $$b, $pos, 8), unpack "\@${\($pos + 1)} N", $$b);
    $pos += 5;
    return $pos + $count * $SIZE{$et} if $SIZE{$et};
    $pos = _skip_b($b, $et, $pos) for 1 .. $count;
    return $pos;
}

# The value of $type at $pos in the notation, as format_value gives it, if that is at most
# RESULT_TEXT_MAX characters; else abbreviated: `list:u8 (300 elements)`, `group { ... }`, a
# string or bytes value as its first 48 bytes then `...(300 bytes)`.
sub _got_text {
    my ($b, $type, $pos) = @_;
    my $room = RESULT_TEXT_MAX;
    my ($text) = _fmt_b($b, $type, $pos, \$room);
    return $text if defined $text;
    return sprintf 'list:%s (%u elements)', type_of(vec $$b, $pos, 8), unpack "\@${\($pos + 1)} N", $$b
        if $type eq 'list';
    return 'group { ... }' if $type eq 'group';
    my $n = unpack "\@$pos N", $$b;    # string or bytes: the others are short
    return "$type:" . unpack('H*', substr $$b, $pos + 4, 48) . "...($n bytes)";
}

# (text, position after) of the value of $type at $pos, or () once the text would pass $$room
# characters (what is left of them is counted down).
sub _fmt_b {
    my ($b, $type, $pos, $room) = @_;
    my ($text, $end);
    if (my $size = $SIZE{$type}) {
        $text = format_field(decode_fields(chr(tag_of($type)) . substr $$b, $pos, $size)->[0]);
        $end  = $pos + $size;
    }
    elsif ($type eq 'string' || $type eq 'bytes') {
        my $n = unpack "\@$pos N", $$b;
        return () if 2 * $n + length($type) + 1 > $$room;
        $text = "$type:" . unpack 'H*', substr $$b, $pos + 4, $n;
        $end  = $pos + 4 + $n;
    }
    else {
        my ($et, $count, $stop, $open, $close);
        if ($type eq 'list') {
            ($et, $count) = (type_of(vec $$b, $pos, 8), unpack "\@${\($pos + 1)} N", $$b);
            ($open, $close, $pos) = ("list:$et [", ' ]', $pos + 5);
        }
        else {
            ($stop, $open, $close) = ($pos + 4 + unpack("\@$pos N", $$b), 'group {', ' }');
            $pos += 4;
        }
        $$room -= length($open) + length($close);
        return () if $$room < 0;
        my @parts;
        while (defined $et ? @parts < $count : $pos < $stop) {
            return () if --$$room < 0;    # the space before the item
            my ($t, $p) = defined $et ? ($et, $pos) : (type_of(vec $$b, $pos, 8), $pos + 1);
            my ($part, $after) = _fmt_b($b, $t, $p, $room) or return ();
            push @parts, $part;
            $pos = $after;
        }
        return ($open . join('', map { " $_" } @parts) . $close, $pos);
    }
    $$room -= length $text;
    return $$room < 0 ? () : ($text, $end);
}

1;

__END__

=encoding utf8

=head1 NAME

Wire::Notation - the proto/ value notation: parse, format, compare

=head1 SYNOPSIS

    use Wire::Notation qw(parse_fields format_fields parse_hex compare_fields);

    my $fields = parse_fields('u32:16909060 list:u8 [ u8:1 u8:2 ] group { string:61 }');
    print format_fields($fields), "\n";          # the same text back
    my $bytes = parse_hex('01 ab*3');            # "\x01\xab\xab\xab"
    my $diff = compare_fields($expected, $got);  # undef, or { path, expected, got }

=head1 DESCRIPTION

The text notation of F<proto/vectors.txt> and F<proto/stats.txt> (SPEC 10.7, proto/README.md 1.2), mapped to the value
model of L<Wire>:

    u8:N .. u64:N, i8:N .. i64:N   decimal (signed with optional -)   integer
    f32:0xXXXXXXXX                 exact bits                          Wire::F32
    f64:0xXXXXXXXXXXXXXXXX         exact bits                          NV
    bool:true bool:false                                               1 / 0
    string:<hex> bytes:<hex>       content bytes, ab*300 repeats       text / octets
    list:E [ full tokens of E ]                                        [ E => [values] ]
    group { fields }                                                   [fields]

=over 4

=item C<parse_fields($text)>, C<parse_fields($text, wildcards =E<gt> 1)>

Array reference of fields. With C<wildcards>, a scalar written C<TYPE:*> (as in the C<expect> steps
of F<proto/sessions.txt>) is the value C<$Wire::Notation::ANY> (C<is_any> tells it), which
C<compare_fields> matches with any value of that type. Only the canonical spelling of proto/README.md is accepted (decimal
without C<+>, leading zeros or C<-0>; lowercase hex). Errors (bad token, value out of range, a string that is not valid UTF-8,
an element of the wrong type, unbalanced brackets) are INVAL (RANGE for out-of-range numbers).

=item C<format_fields(\@fields)>, C<< format_field([type => value]) >>, C<format_value($type, $value)>

The canonical text: lowercase hex without repetition, C<list:E [ ]> and C<group { }> when
empty, single spaces. A value that cannot be encoded throws as the encoder does.

=item C<parse_hex($text)>, C<format_hex($bytes)>

Space-separated tokens of lowercase hex, each an even number of digits optionally followed by
C<*n> (repeat n times, n E<gt>= 0, no leading zeros); and lowercase hex without separators.

=item C<compare_fields(\@expected, \@got)>

C<undef> when equal (floats compared by bits, everything by its canonical encoding), else a hash
reference C<{ path, expected, got }> for the first difference in the order of SPEC 10.4: the path
is the 0-based index of the top-level field, then C<.i> per level (list element or group field);
expected and got are the differing items in this notation, C<(missing)> for got when it has fewer
items, C<(none)> for expected when it has more. A list whose element type differs mismatches as a
whole.

=item C<compare_payload(\@expected, $payload, $pos)>

The answer of C<compare_fields(\@expected, $got)> where C<$got> would be the fields of
C<$payload> from offset C<$pos> on, without decoding them (the payload must have passed the
decoder's checks, e.g. by L<Wire/field_heads>): only the items the comparison reaches are read,
and C<got> is abbreviated when its text would pass 1024 characters (C<list:u8 (300 elements)>,
C<group { ... }>, a string or bytes value as its first 48 bytes in hex then C<...(300 bytes)>),
as SPEC 10.4 allows.

=back

=cut
