# SPDX-License-Identifier: MIT
package Wire;

use strict;
use warnings;

use Config;
use B ();
use Scalar::Util qw(blessed looks_like_number);
use overload ();
use Exporter 'import';

use Wire::Error qw(wire_error);
use Wire::F32;

our $VERSION = '1.00';

# u64 values, i64 wrapping and 'Q>'/'q>' need 64-bit integers; fail loudly instead of losing bits.
sub _require_64bit {
    my ($ivsize) = @_;
    die "Wire needs a perl built with 64-bit integers (\$Config{ivsize} >= 8); "
      . "this perl has ivsize $ivsize\n"
        unless $ivsize >= 8;
    return 1;
}
BEGIN { _require_64bit($Config{ivsize}) }

# The protocol's limits: proto/limits.txt, name for name (t/05-tables.t checks them).
use constant {
    PROTOCOL_VERSION    => 1,
    HEADER_SIZE         => 8,
    MAX_DEPTH           => 32,
    DEFAULT_MAX_PAYLOAD => 16777216,
    MIN_MAX_PAYLOAD     => 1037,          # the largest ERROR payload (SPEC 7.4, 8.1)
    HELLO_NAME_MAX      => 255,
    ERROR_TEXT_MAX      => 1024,
    NO_OFFSET           => 0xFFFFFFFF,
    # The UDP profile (SPEC 15.4): 65535 - 20 (IPv4) - 8 (UDP); less the request id and header.
    UDP_MAX_DATAGRAM    => 65507,
    UDP_MAX_PAYLOAD     => 65495,
};

# The message types of SPEC 7.1 (proto/messages.txt): one MSG_<NAME> constant per row.
my @MESSAGES;
BEGIN {
    @MESSAGES = (
        [ 0x0001, 'HELLO' ],        [ 0x0002, 'ERROR' ],         [ 0x0003, 'PING' ],
        [ 0x0004, 'PONG' ],         [ 0x0005, 'BYE' ],           [ 0x0100, 'ECHO' ],
        [ 0x0101, 'ECHO_REPLY' ],   [ 0x0102, 'ROUNDTRIP' ],     [ 0x0103, 'ROUNDTRIP_REPLY' ],
        [ 0x0104, 'VECTOR_CHECK' ], [ 0x0105, 'VECTOR_RESULT' ], [ 0x0106, 'VECTOR_GET' ],
        [ 0x0107, 'VECTOR_DATA' ],  [ 0x0108, 'STATS' ],         [ 0x0109, 'STATS_REPLY' ],
    );
}
use constant { map { ("MSG_$_->[1]" => $_->[0]) } @MESSAGES };
my %MESSAGE_NAME = map { ($_->[0] => $_->[1]) } @MESSAGES;

my @CONSTANTS = (qw(
    PROTOCOL_VERSION HEADER_SIZE MAX_DEPTH DEFAULT_MAX_PAYLOAD MIN_MAX_PAYLOAD HELLO_NAME_MAX
    ERROR_TEXT_MAX NO_OFFSET UDP_MAX_DATAGRAM UDP_MAX_PAYLOAD
), map { "MSG_$_->[1]" } @MESSAGES);
my @FUNCTIONS = qw(
    encode_fields encode_value decode_fields decode_fields_with_offsets reencode_fields field_heads
    utf8_error_offset
    encode_header decode_header encode_frame decode_frame
    hello_payload parse_hello error_payload parse_error
    tag_of type_of is_type message_name message_types
);
our @EXPORT_OK = (@CONSTANTS, @FUNCTIONS);
our %EXPORT_TAGS = (all => [@EXPORT_OK], constants => [@CONSTANTS], functions => [@FUNCTIONS]);

my %TAG = (
    u8 => 0x01, u16 => 0x02, u32 => 0x03, u64 => 0x04,
    i8 => 0x11, i16 => 0x12, i32 => 0x13, i64 => 0x14,
    f32 => 0x23, f64 => 0x24, bool => 0x30,
    string => 0x40, bytes => 0x41, list => 0x50, group => 0x51,
);
my %TYPE = reverse %TAG;
my @TYPE_BY_TAG;
$TYPE_BY_TAG[ $TAG{$_} ] = $_ for keys %TAG;

# The smallest possible encoding of one value: the divisor of the list count plausibility check.
my %MIN_SIZE = (
    u8 => 1, i8 => 1, bool => 1, u16 => 2, i16 => 2, u32 => 4, i32 => 4, f32 => 4,
    u64 => 8, i64 => 8, f64 => 8, string => 4, bytes => 4, group => 4, list => 5,
);
my %INT_PACK = (
    u8 => 'C', u16 => 'n', u32 => 'N', u64 => 'Q>',
    i8 => 'c', i16 => 's>', i32 => 'l>', i64 => 'q>',
);
# Bounds as normalised decimal strings, so range checks never go through a lossy NV.
my %INT_RANGE = (
    u8  => [ '0', '255' ],
    u16 => [ '0', '65535' ],
    u32 => [ '0', '4294967295' ],
    u64 => [ '0', '18446744073709551615' ],
    i8  => [ '-128', '127' ],
    i16 => [ '-32768', '32767' ],
    i32 => [ '-2147483648', '2147483647' ],
    i64 => [ '-9223372036854775808', '9223372036854775807' ],
);
my %FIXED_PACK = (%INT_PACK, f64 => 'd>');
my %FIXED_SIZE = ((map { ($_ => $MIN_SIZE{$_}) } keys %FIXED_PACK), f32 => 4, bool => 1);
# The integer and f64 unpack templates by tag, for the decoder's inline path.
my @DEC_FIXED_PACK;
my @DEC_FIXED_STAR;
$DEC_FIXED_PACK[ $TAG{$_} ] = $FIXED_PACK{$_}, $DEC_FIXED_STAR[ $TAG{$_} ] = "$FIXED_PACK{$_}*"
    for keys %FIXED_PACK;

sub tag_of  { $TAG{ $_[0] } }
sub type_of { $TYPE{ $_[0] } }
sub is_type { defined $_[0] && exists $TAG{ $_[0] } }

sub message_name  { defined $_[0] ? $MESSAGE_NAME{ $_[0] } : undef }
sub message_types { map { [@$_] } @MESSAGES }

# ---------------------------------------------------------------------------------------------
# Encoder

sub encode_fields {
    my ($fields) = @_;
    my $out = '';
    _enc_fields(\$out, $fields, 0);
    return $out;
}

sub encode_value {
    my ($type, $value) = @_;
    wire_error('INVAL', undef, 'unknown type ' . _show($type)) unless is_type($type);
    my $out = '';
    _enc_value(\$out, $type, $value, 0);
    return $out;
}

# The encoder's dispatch: one hash look-up gives the kind of a type (and whether it is a type).
use constant { _K_INT => 1, _K_F64 => 2, _K_F32 => 3, _K_BOOL => 4, _K_STRING => 5, _K_BYTES => 6,
               _K_LIST => 7, _K_GROUP => 8 };
my %ENC_KIND = ((map { ($_ => _K_INT) } keys %INT_PACK), f64 => _K_F64, f32 => _K_F32,
                bool => _K_BOOL, string => _K_STRING, bytes => _K_BYTES, list => _K_LIST,
                group => _K_GROUP);
# Numeric bounds for the fast integer check (IV/UV, exact), beside the decimal ones of %INT_RANGE.
my %INT_MIN = (u8 => 0, u16 => 0, u32 => 0, u64 => 0,
               i8 => -128, i16 => -32768, i32 => -2147483648, i64 => -9223372036854775807 - 1);
my %INT_MAX = (u8 => 255, u16 => 65535, u32 => 4294967295, u64 => 18446744073709551615,
               i8 => 127, i16 => 32767, i32 => 2147483647, i64 => 9223372036854775807);

# Lists of integers (and the Wire::Layout encoder) check all their values at once: joined with
# spaces, they must match a regex of canonical decimal texts each within the type's range (exact,
# digit by digit: _range_re), and their doubles must be those of their texts, which is the
# $v == $s above for every value at once. So that doubles are exact, the batch takes values of at
# most 15 digits (u64 and i64 values beyond go element by element, the slower exact way).
use constant _BATCH_MAX => '999999999999999';

# A regex source matching the canonical decimal texts (no sign for 0, no leading zero) of 0..$n
# (1..$n with $nonzero).
sub _le_re {
    my ($n, $nonzero) = @_;
    my $l = length $n;
    my @alt = $nonzero ? () : ('0');
    push @alt, '[1-9]' . ($l > 2 ? "[0-9]{0," . ($l - 2) . '}' : $l == 2 ? '[0-9]?' : '')
        if $l >= 2;
    for my $i (0 .. $l - 1) {
        my $d = substr $n, $i, 1;
        my $low = $i == 0 ? 1 : 0;
        next if $d <= $low;
        push @alt, substr($n, 0, $i) . "[$low-" . ($d - 1) . ']'
                 . ($l - 1 - $i ? '[0-9]' . ($l - 1 - $i > 1 ? '{' . ($l - 1 - $i) . '}' : '') : '');
    }
    push @alt, $n unless $nonzero && $n eq '0';
    return '(?:' . join('|', @alt) . ')';
}
sub _range_re {
    my ($lo, $hi) = @_;    # decimal texts, $lo <= 0 <= $hi
    my $cap = sub { length($_[0]) > length(_BATCH_MAX) ? _BATCH_MAX : $_[0] };
    my $re = _le_re($cap->($hi));
    $re = "(?:-" . _le_re($cap->(substr $lo, 1), 1) . "|$re)" if $lo =~ /\A-/;
    return $re;
}
our %BATCH_RE = ((map { ($_ => _range_re(@{ $INT_RANGE{$_} })) } keys %INT_PACK), bool => '[01]');
my %INT_PACK_STAR = map { ($_ => "$INT_PACK{$_}*") } keys %INT_PACK;
my %LIST_RE = map { ($_ => qr/\A(?:$BATCH_RE{$_} )*$BATCH_RE{$_}\z/) } keys %BATCH_RE;

# The fast integer check, inline where it is used (a sub call costs as much as the check):
#   defined $v && !ref $v && ($s = "$v") =~ /\A(?:0|-?[1-9][0-9]{0,17})\z/ && $v == $s
#   && $v >= $INT_MIN{$type} && $v <= $INT_MAX{$type}
# accepts, with the value $s, exactly what _checked_int accepts with that value: a canonical
# decimal text of at most 18 digits is an exact IV; "$v" is that text for an IV, the string itself
# for a string, and for a float (printed with 15 significant digits) $v == $s holds only when the
# float is integral and equal to it, so also to its '%.0f' text; a dual value whose number is not
# its text fails $v == $s. Everything else (19-20 digits, "007", "+7", "1e3", NaN, objects ...)
# goes to _checked_int, which decides and words the error. t/47-fastpath.t holds them together.

sub _enc_fields {
    my ($out, $fields, $depth) = @_;
    wire_error('INVAL', undef, 'fields must be an array reference') unless ref $fields eq 'ARRAY';
    for my $f (@$fields) {
        wire_error('INVAL', undef, 'a field must be [type => value]')
            unless ref $f eq 'ARRAY' && @$f == 2;
        my $type = $f->[0];
        my $kind = defined $type && $ENC_KIND{$type};
        wire_error('INVAL', undef, 'unknown type ' . _show($type)) unless $kind;
        my $v = $f->[1];    # a copy, as _enc_value takes it: get-magic runs once
        my $s;
        if ($kind == _K_INT) {
            $$out .= chr($TAG{$type}) . pack $INT_PACK{$type},
                (defined $v && !ref $v && ($s = "$v") =~ /\A(?:0|-?[1-9][0-9]{0,17})\z/
                 && $v == $s && $v >= $INT_MIN{$type} && $v <= $INT_MAX{$type})
                ? $s : _checked_int($type, $v);
        }
        elsif ($kind == _K_STRING && defined $v && !ref $v) {
            $s = "$v";
            utf8::encode($s);
            _string_bytes($v) if $s =~ /[\x80-\xff]/ && defined _utf8_bad(\$s);    # its error
            wire_error('RANGE', undef, 'length ' . length($s) . ' does not fit in a u32')
                if length $s > 0xFFFFFFFF;
            $$out .= "\x40" . pack('N', length $s) . $s;
        }
        elsif ($kind == _K_BYTES && defined $v && !ref $v && !utf8::is_utf8($v)) {
            wire_error('RANGE', undef, 'length ' . length($v) . ' does not fit in a u32')
                if length $v > 0xFFFFFFFF;
            $$out .= "\x41" . pack('N', length $v) . $v;
        }
        elsif ($kind == _K_F64 && defined $v && !ref $v && looks_like_number($v)) {
            $$out .= "\x24" . pack 'd>', $v;
        }
        elsif ($kind == _K_BOOL && defined $v && !ref $v
               && (($s = "$v") eq '1' || $s eq '0') && $v == $s) {
            $$out .= $s ? "\x30\x01" : "\x30\x00";
        }
        else {
            $$out .= chr $TAG{$type};
            _enc_value($out, $type, $v, $depth);
        }
    }
    return;
}

# $depth is the depth of the sequence holding this value; a container value sits one deeper.
sub _enc_value {
    my ($out, $type, $v, $depth) = @_;
    if (my $fmt = $INT_PACK{$type}) {
        $$out .= pack $fmt, _checked_int($type, $v);
    }
    elsif ($type eq 'f64') {
        wire_error('RANGE', undef, 'f64 value is not a number: ' . _show($v))
            unless defined $v && !ref $v && looks_like_number($v);
        $$out .= pack 'd>', $v;
    }
    elsif ($type eq 'f32') {
        my $f = blessed $v && $v->isa('Wire::F32') ? $v : Wire::F32->from_number($v);
        $$out .= pack 'N', $f->bits;
    }
    elsif ($type eq 'bool') {
        $$out .= chr _checked_bool($v);
    }
    elsif ($type eq 'string') {
        my $b = _string_bytes($v);
        $$out .= pack('N', _checked_len($b)) . $b;
    }
    elsif ($type eq 'bytes') {
        my $b = _byte_string($v);
        $$out .= pack('N', _checked_len($b)) . $b;
    }
    elsif ($type eq 'list') {
        wire_error('DEPTH', undef, 'nesting deeper than ' . MAX_DEPTH) if $depth >= MAX_DEPTH;
        wire_error('INVAL', undef, 'a list value must be [element_type => [values]]')
            unless ref $v eq 'ARRAY' && @$v == 2 && ref $v->[1] eq 'ARRAY';
        my ($et, $items) = @$v;
        wire_error('INVAL', undef, 'unknown list element type ' . _show($et)) unless is_type($et);
        wire_error('RANGE', undef, 'list has more than 2**32-1 elements') if @$items > 0xFFFFFFFF;
        $$out .= pack 'CN', $TAG{$et}, scalar @$items;
        if (my $efmt = $INT_PACK{$et}) {
            my @c = @$items;    # copies, as _enc_value takes them: get-magic runs once
            my $j;
            {
                no warnings 'uninitialized';    # an undef is not a decimal: the exact way words it
                if (!grep({ ref } @c) && ($j = join ' ', @c) =~ $LIST_RE{$et}
                    && ($j =~ tr/ //) == $#c    # no value of its own holds a space
                    && pack('d>*', @c) eq pack('d>*', split / /, $j)) {
                    $$out .= pack $INT_PACK_STAR{$et}, @c;
                    return;
                }
            }
            my ($lo, $hi, $s) = ($INT_MIN{$et}, $INT_MAX{$et});
            for my $e (@c) {    # element by element: the fast check, else the exact one
                my $x = $e;
                $$out .= pack $efmt,
                    (defined $x && !ref $x && ($s = "$x") =~ /\A(?:0|-?[1-9][0-9]{0,17})\z/
                     && $x == $s && $x >= $lo && $x <= $hi)
                    ? $s : _checked_int($et, $x);
            }
        }
        else {
            _enc_value($out, $et, $_, $depth + 1) for @$items;
        }
    }
    else {    # group: reserve the length word, encode in place, then patch it (no copying).
        wire_error('DEPTH', undef, 'nesting deeper than ' . MAX_DEPTH) if $depth >= MAX_DEPTH;
        wire_error('INVAL', undef, 'a group value must be an array reference of fields')
            unless ref $v eq 'ARRAY';
        my $at = length $$out;
        $$out .= "\0\0\0\0";
        _enc_fields($out, $v, $depth + 1);
        substr($$out, $at, 4) = pack 'N', _checked_len_n(length($$out) - $at - 4);
    }
    return;
}

sub _checked_len { _checked_len_n(length $_[0]) }

sub _checked_len_n {
    my ($n) = @_;
    wire_error('RANGE', undef, "length $n does not fit in a u32") if $n > 0xFFFFFFFF;
    return $n;
}

# The integer a Perl scalar holds, as a normalised decimal string, or undef if it holds none.
# Judged from the scalar's own flags so that nothing is rounded on the way: a string must be a
# plain decimal literal ("1e3", " 12", "0x10" are not), a float must be integral, and a float
# that was turned into a string must agree with that string (123456789012345.6 prints as
# "123456789012346").
sub _integer_string {
    my ($v) = @_;    # a copy: get-magic has run, and the flags below are this value's own
    return undef unless defined $v;
    if (ref $v) {
        return undef unless blessed $v && overload::Method($v, '""');
        $v = "$v";    # e.g. Math::BigInt: judged by its decimal text
    }
    my $sv    = B::svref_2object(\$v);
    my $flags = $sv->FLAGS;
    my $s;
    if ($flags & B::SVf_POK) {
        return undef unless $v =~ /\A([+-]?)0*([0-9]+)\z/;
        $s = ($1 eq '-' && $2 ne '0') ? "-$2" : $2;
    }
    if (($flags & B::SVf_NOK) && !($flags & B::SVf_IOK)) {
        my $n = $sv->NV;
        return undef unless $n == $n && $n - $n == 0 && $n == int $n;    # not NaN, finite, integral
        my $t = sprintf '%.0f', $n;                                       # exact for integral doubles
        $t = '0' if $t eq '-0';
        return undef if defined $s && $s ne $t;
        $s = $t;
    }
    elsif (!defined $s) {
        return undef unless $flags & B::SVf_IOK;
        $s = "$v";    # IV/UV stringification is exact
    }
    return $s;
}

sub _dec_cmp {
    my ($x, $y) = @_;
    my $nx = substr($x, 0, 1) eq '-';
    my $ny = substr($y, 0, 1) eq '-';
    return $nx ? -1 : 1 if $nx != $ny;
    my $c = length($x) <=> length($y) || $x cmp $y;
    return $nx ? -$c : $c;
}

sub _checked_int {
    my ($type, $v) = @_;
    my $s = _integer_string($v);
    wire_error('RANGE', undef, "$type value is not an integer: " . _show($v)) unless defined $s;
    my ($lo, $hi) = @{ $INT_RANGE{$type} };
    wire_error('RANGE', undef, "$type value $s is out of range $lo..$hi")
        if _dec_cmp($s, $lo) < 0 || _dec_cmp($s, $hi) > 0;
    return 0 + $s;    # in range, so Perl numifies it exactly to an IV or UV
}

sub _checked_bool {
    my ($v) = @_;
    # Perl's own false ('' or !!0) is accepted besides 0 and 1.
    return 0 if defined $v && !ref $v && $v eq '';
    my $s = _integer_string($v);
    wire_error('RANGE', undef, 'bool value must be 0 or 1, got ' . _show($v))
        unless defined $s && ($s eq '0' || $s eq '1');
    return $s;
}

sub _scalar_text {
    my ($type, $v) = @_;
    wire_error('RANGE', undef, "$type value must be a defined scalar") unless defined $v;
    wire_error('RANGE', undef, "$type value must not be a reference")
        if ref $v && !(blessed $v && overload::Method($v, '""'));
    return "$v";
}

# A string field is Perl text: its characters are encoded to UTF-8 here, whatever the internal
# utf8 flag says ("\xe9" and "\x{e9}" are both "é" and give c3 a9). Surrogates and code points
# above U+10FFFF have no UTF-8 form on the wire.
sub _string_bytes {
    my $b = _scalar_text('string', $_[0]);
    utf8::encode($b);
    my $bad = utf8_error_offset($b);
    wire_error('RANGE', undef, "string value has a character that is not a Unicode scalar value "
                             . "(UTF-8 byte offset $bad)")
        if defined $bad;
    return $b;
}

# A bytes field is octets: a character above 0xFF cannot be one.
sub _byte_string {
    my $b = _scalar_text('bytes', $_[0]);
    wire_error('RANGE', undef, 'bytes value has a character above 0xFF')
        if utf8::is_utf8($b) && !utf8::downgrade($b, 1);
    return $b;
}

sub _show {
    my ($v) = @_;
    return 'undef' unless defined $v;
    return ref($v) . ' reference' if ref $v && !blessed $v;
    my $s = "$v";
    $s = substr($s, 0, 40) . '...' if length $s > 43;
    $s =~ s/([^\x20-\x7e])/sprintf(ord $1 > 0xff ? '\\x{%x}' : '\\x%02x', ord $1)/ge;
    return "'$s'";
}

# ---------------------------------------------------------------------------------------------
# UTF-8 (Unicode Table 3-7)

# Offset of the lead byte of the first ill-formed sequence in a byte string, or undef if valid.
sub utf8_error_offset {
    my ($s) = @_;
    return _utf8_bad(\$s);
}

# The same on the string $$s itself: a 16 MiB string is not copied to be checked.
sub _utf8_bad {
    my ($s) = @_;
    return undef unless $$s =~ /[^\x00-\x7f]/;
    pos($$s) = 0;
    # One well-formed sequence (or ASCII run) per match: where matching stops is the bad lead byte.
    1 while $$s =~ /\G(?:[\x00-\x7f]+
                    |[\xc2-\xdf][\x80-\xbf]
                    |\xe0[\xa0-\xbf][\x80-\xbf]
                    |[\xe1-\xec\xee\xef][\x80-\xbf][\x80-\xbf]
                    |\xed[\x80-\x9f][\x80-\xbf]
                    |\xf0[\x90-\xbf][\x80-\xbf][\x80-\xbf]
                    |[\xf1-\xf3][\x80-\xbf][\x80-\xbf][\x80-\xbf]
                    |\xf4[\x80-\x8f][\x80-\xbf][\x80-\xbf])/xgc;
    my $p = pos($$s) // 0;
    pos($$s) = undef;
    return $p < length $$s ? $p : undef;
}

# ---------------------------------------------------------------------------------------------
# Decoder (SPEC 5.2: the first problem found, at the first byte of the smallest wrong element)

sub decode_fields {
    # Octets (the usual case) are walked in place, one call less; see _decode_payload.
    return _dec_fields(\$_[0], 0, length $_[0], 0, undef) unless utf8::is_utf8($_[0]);
    my ($fields) = _decode_payload($_[0], 0);
    return $fields;
}

sub decode_fields_with_offsets {
    return _decode_payload($_[0], 1);
}

sub _decode_payload {
    my (undef, $want_offsets) = @_;
    my $bref = \$_[0];
    if (utf8::is_utf8($$bref)) {    # a payload is octets; work on a downgraded copy
        my $copy = $$bref;
        wire_error('RANGE', undef, 'payload has a character above 0xFF')
            unless utf8::downgrade($copy, 1);
        $bref = \$copy;
    }
    my @offsets;
    my $fields = _dec_fields($bref, 0, length $$bref, 0, $want_offsets ? \@offsets : undef);
    return ($fields, \@offsets);
}

sub _dec_fields {
    my ($b, $pos, $end, $depth, $offsets) = @_;
    my @fields;
    while ($pos < $end) {
        my $tag  = vec $$b, $pos, 8;
        my $type = $TYPE_BY_TAG[$tag];
        wire_error('BADTAG', $pos, sprintf 'unknown type tag 0x%02x', $tag) unless defined $type;
        push @$offsets, $pos if $offsets;
        # The common scalars inline (a call per field costs more than decoding it), with the
        # checks, messages and offsets of _dec_value; everything else goes through it.
        my $at = $pos + 1;
        if (my $fmt = $DEC_FIXED_PACK[$tag]) {
            my $size = $FIXED_SIZE{$type};
            wire_error('TRUNCATED', $at, "$type value needs $size bytes, " . ($end - $at) . ' left')
                if $end - $at < $size;
            push @fields, [ $type => unpack $fmt, substr $$b, $at, $size ];
            $pos = $at + $size;
        }
        elsif ($tag == 0x40 || $tag == 0x41) {
            wire_error('TRUNCATED', $at, "$type length needs 4 bytes") if $end - $at < 4;
            my $n    = unpack 'N', substr $$b, $at, 4;
            my $left = $end - $at - 4;
            wire_error('LENGTH', $at, "$type length $n larger than the $left bytes left") if $n > $left;
            my $data = substr $$b, $at + 4, $n;
            if ($tag == 0x40) {
                my $bad = $data =~ /[\x80-\xff]/ ? _utf8_bad(\$data) : undef;
                wire_error('UTF8', $at + 4 + $bad, 'ill-formed UTF-8 sequence') if defined $bad;
                utf8::decode($data);
            }
            push @fields, [ $type => $data ];
            $pos = $at + 4 + $n;
        }
        elsif ($tag == 0x30 && $at < $end && vec($$b, $at, 8) <= 1) {
            push @fields, [ bool => vec $$b, $at, 8 ];
            $pos = $at + 1;
        }
        elsif ($tag == 0x50 && $depth < MAX_DEPTH && $end - $at >= 5
               && (my $efmt = $DEC_FIXED_STAR[ vec $$b, $at, 8 ])) {
            # A list of integers or f64 whose head is there: its count checked as _dec_value
            # checks it, its elements in one unpack. Anything else goes through _dec_value.
            my $et    = $TYPE_BY_TAG[ vec $$b, $at, 8 ];
            my $count = unpack 'N', substr $$b, $at + 1, 4;
            my $size  = $FIXED_SIZE{$et};
            my $left  = $end - $at - 5;
            wire_error('LENGTH', $at + 1, "list count $count too large for $left bytes of $et values")
                if $count > int($left / $size);
            push @fields, [ list => [ $et => [ unpack $efmt, substr $$b, $at + 5, $count * $size ] ] ];
            $pos = $at + 5 + $count * $size;
        }
        else {
            my $v;
            ($v, $pos) = _dec_value($b, $type, $at, $end, $depth, $pos);
            push @fields, [ $type => $v ];
        }
    }
    return \@fields;
}

# Decodes one value of $type at $pos (not past $end) inside a sequence at $depth. $at is where a
# DEPTH error is reported: the tag byte of a field, the first byte of a list element.
sub _dec_value {
    my ($b, $type, $pos, $end, $depth, $at) = @_;
    if (my $size = $FIXED_SIZE{$type}) {
        wire_error('TRUNCATED', $pos, "$type value needs $size bytes, " . ($end - $pos) . ' left')
            if $end - $pos < $size;
        my $raw = substr $$b, $pos, $size;
        if ($type eq 'bool') {
            my $byte = ord $raw;
            wire_error('BADBOOL', $pos, sprintf 'bool byte 0x%02x', $byte) if $byte > 1;
            return ($byte, $pos + 1);
        }
        return (Wire::F32->from_bits(unpack 'N', $raw), $pos + 4) if $type eq 'f32';
        return (unpack($FIXED_PACK{$type}, $raw), $pos + $size);
    }
    if ($type eq 'string' || $type eq 'bytes') {
        my $n = _dec_length($b, $pos, $end, $type);
        my $data = substr $$b, $pos + 4, $n;
        if ($type eq 'string') {
            my $bad = utf8_error_offset($data);
            wire_error('UTF8', $pos + 4 + $bad, 'ill-formed UTF-8 sequence') if defined $bad;
            utf8::decode($data);
        }
        return ($data, $pos + 4 + $n);
    }
    wire_error('DEPTH', $at, 'nesting deeper than ' . MAX_DEPTH) if $depth >= MAX_DEPTH;
    if ($type eq 'group') {
        my $n = _dec_length($b, $pos, $end, 'group');
        return (_dec_fields($b, $pos + 4, $pos + 4 + $n, $depth + 1), $pos + 4 + $n);
    }
    # list: element tag present, known; count present, plausible; then the elements.
    wire_error('TRUNCATED', $pos, 'list element tag missing') if $pos >= $end;
    my $etag = ord substr $$b, $pos, 1;
    my $et   = $TYPE_BY_TAG[$etag];
    wire_error('BADTAG', $pos, sprintf 'unknown list element tag 0x%02x', $etag) unless defined $et;
    $pos++;
    wire_error('TRUNCATED', $pos, 'list count needs 4 bytes') if $end - $pos < 4;
    my $count = unpack 'N', substr $$b, $pos, 4;
    my $left  = $end - $pos - 4;
    wire_error('LENGTH', $pos, "list count $count too large for $left bytes of $et values")
        if $count > int($left / $MIN_SIZE{$et});
    $pos += 4;
    my @items;
    if (my $fmt = $FIXED_PACK{$et}) {    # fixed-size numbers: one unpack for the whole list
        my $size = $FIXED_SIZE{$et};
        @items = unpack "$fmt$count", substr $$b, $pos, $count * $size;
        $pos += $count * $size;
    }
    elsif ($et eq 'f32') {
        @items = map { Wire::F32->from_bits($_) } unpack "N$count", substr $$b, $pos, $count * 4;
        $pos += $count * 4;
    }
    elsif ($et eq 'bool') {
        @items = unpack "C$count", substr $$b, $pos, $count;
        for my $i (0 .. $#items) {
            wire_error('BADBOOL', $pos + $i, sprintf 'bool byte 0x%02x', $items[$i])
                if $items[$i] > 1;
        }
        $pos += $count;
    }
    else {
        $#items = $count - 1;    # count was checked against the bytes left: safe to size
        for my $i (0 .. $count - 1) {
            ($items[$i], $pos) = _dec_value($b, $et, $pos, $end, $depth + 1, $pos);
        }
    }
    return ([ $et => \@items ], $pos);
}

sub _dec_length {
    my ($b, $pos, $end, $what) = @_;
    wire_error('TRUNCATED', $pos, "$what length needs 4 bytes") if $end - $pos < 4;
    my $n    = unpack 'N', substr $$b, $pos, 4;
    my $left = $end - $pos - 4;
    wire_error('LENGTH', $pos, "$what length $n larger than the $left bytes left") if $n > $left;
    return $n;
}

# ---------------------------------------------------------------------------------------------
# Decode then encode in one walk (ROUNDTRIP, SPEC 10.3): the same checks in the same order as the
# decoder, and each value, once decoded to its Perl value, is encoded at once. No value tree: a
# tree costs about 250 bytes of Perl data per empty list (55x its payload), this walk the output
# plus one value.

use constant _CHUNK => 4096;     # fixed-size list elements converted per unpack
use constant _SLICE => 65536;    # bytes copied at a time
# The Perl value of an f32 is its bit pattern (a Wire::F32 boxes the u32), of a bool 0 or 1.
my %RE_PACK = (%FIXED_PACK, f32 => 'N', bool => 'C');

sub reencode_fields {
    my $bref = \$_[0];
    if (utf8::is_utf8($$bref)) {
        my $copy = $$bref;
        wire_error('RANGE', undef, 'payload has a character above 0xFF')
            unless utf8::downgrade($copy, 1);
        $bref = \$copy;
    }
    # A valid payload's encoding is as long as the payload: reserve it once, since growing a
    # string by appending can copy it (a transient 2x).
    my $out = '';
    if (length $$bref) {
        vec($out, length($$bref) - 1, 8) = 0;
        $out = '';    # keeps the buffer
    }
    _re_fields($bref, 0, length $$bref, 0, \$out);
    return $out;
}

sub _re_fields {
    my ($b, $pos, $end, $depth, $out) = @_;
    while ($pos < $end) {
        my $tag  = vec $$b, $pos, 8;
        my $type = $TYPE_BY_TAG[$tag];
        wire_error('BADTAG', $pos, sprintf 'unknown type tag 0x%02x', $tag) unless defined $type;
        $$out .= chr $TAG{$type};
        $pos = _re_value($b, $type, $pos + 1, $end, $depth, $pos, $out);
    }
    return;
}

# The top-level fields of a payload without their values: the payload is checked whole, as
# decode_fields checks it (the same error at the same offset), and each field given as [type,
# offset of its tag, element type if it is a list]. For requests that need a few values of a large
# payload (STATS, VECTOR_CHECK) without its value tree. With $max, only the first $max heads are
# kept (the whole payload is still checked): 174,760 heads cost 33x a 1 MiB payload.
sub field_heads {
    my $bref = \$_[0];
    my $max  = $_[1];
    if (utf8::is_utf8($$bref)) {
        my $copy = $$bref;
        wire_error('RANGE', undef, 'payload has a character above 0xFF')
            unless utf8::downgrade($copy, 1);
        $bref = \$copy;
    }
    my ($pos, $end, @heads) = (0, length $$bref);
    while ($pos < $end) {
        my $tag  = vec $$bref, $pos, 8;
        my $type = $TYPE_BY_TAG[$tag];
        wire_error('BADTAG', $pos, sprintf 'unknown type tag 0x%02x', $tag) unless defined $type;
        my $et = $type eq 'list' && $pos + 1 < $end ? $TYPE_BY_TAG[ vec $$bref, $pos + 1, 8 ] : undef;
        push @heads, [ $type, $pos, $et ] if !defined $max || @heads < $max;
        my $scratch = '';    # the field's encoding, dropped: only the walk's checks count here
        $pos = _re_value($bref, $type, $pos + 1, $end, 0, $pos, \$scratch);
        undef $scratch;      # a lexical keeps its buffer after the call: give a large one back now
    }
    return \@heads;
}

# A list value's element tag and count at $pos, checked as _dec_value does: ($type, $count, $pos
# after them).
sub _re_list_head {
    my ($b, $pos, $end) = @_;
    wire_error('TRUNCATED', $pos, 'list element tag missing') if $pos >= $end;
    my $etag = vec $$b, $pos, 8;
    my $et   = $TYPE_BY_TAG[$etag];
    wire_error('BADTAG', $pos, sprintf 'unknown list element tag 0x%02x', $etag) unless defined $et;
    $pos++;
    wire_error('TRUNCATED', $pos, 'list count needs 4 bytes') if $end - $pos < 4;
    my $count = unpack "\@$pos N", $$b;
    my $left  = $end - $pos - 4;
    wire_error('LENGTH', $pos, "list count $count too large for $left bytes of $et values")
        if $count > int($left / $MIN_SIZE{$et});
    return ($et, $count, $pos + 4);
}

# The $count elements of a list at $depth, from $pos; returns the position after them.
sub _re_items {
    my ($b, $et, $count, $pos, $end, $depth, $out) = @_;
    if (my $size = $FIXED_SIZE{$et}) {
        my $fmt = $RE_PACK{$et};
        for (my $done = 0; $done < $count; $done += _CHUNK) {
            my $k = $count - $done < _CHUNK ? $count - $done : _CHUNK;
            my @v = unpack "\@$pos $fmt$k", $$b;
            if ($et eq 'bool' && substr($$b, $pos, $k) =~ /[^\x00\x01]/) {
                wire_error('BADBOOL', $pos + $-[0], sprintf 'bool byte 0x%02x', $v[ $-[0] ]);
            }
            $$out .= pack "$fmt$k", @v;
            $pos += $k * $size;
        }
        return $pos;
    }
    if ($et eq 'list' && $count) {
        # Lists of lists, inline: one call per element would double the time of a payload of
        # millions of empty lists.
        wire_error('DEPTH', $pos, 'nesting deeper than ' . MAX_DEPTH) if $depth + 1 >= MAX_DEPTH;
        for (1 .. $count) {    # _re_list_head inline
            wire_error('TRUNCATED', $pos, 'list element tag missing') if $pos >= $end;
            my $etag = vec $$b, $pos, 8;
            my $et2  = $TYPE_BY_TAG[$etag];
            wire_error('BADTAG', $pos, sprintf 'unknown list element tag 0x%02x', $etag)
                unless defined $et2;
            wire_error('TRUNCATED', $pos + 1, 'list count needs 4 bytes') if $end - $pos < 5;
            my $count2 = unpack 'N', substr $$b, $pos + 1, 4;
            $pos += 5;
            if ($count2) {
                my $left = $end - $pos;
                wire_error('LENGTH', $pos - 4, "list count $count2 too large for $left bytes of $et2 values")
                    if $count2 > int($left / $MIN_SIZE{$et2});
                $$out .= pack 'CN', $etag, $count2;
                $pos = _re_items($b, $et2, $count2, $pos, $end, $depth + 1, $out);
            }
            else {
                $$out .= pack 'CN', $etag, 0;
            }
        }
        return $pos;
    }
    $pos = _re_value($b, $et, $pos, $end, $depth + 1, $pos, $out) for 1 .. $count;
    return $pos;
}

# As _dec_value, appending the value's encoding to $$out; returns the position after the value.
sub _re_value {
    my ($b, $type, $pos, $end, $depth, $at, $out) = @_;
    if ($type eq 'list' || $type eq 'group') {
        wire_error('DEPTH', $at, 'nesting deeper than ' . MAX_DEPTH) if $depth >= MAX_DEPTH;
        if ($type eq 'group') {
            my $n = _dec_length($b, $pos, $end, 'group');
            my $len_at = length $$out;
            $$out .= "\0\0\0\0";
            _re_fields($b, $pos + 4, $pos + 4 + $n, $depth + 1, $out);
            substr($$out, $len_at, 4) = pack 'N', length($$out) - $len_at - 4;
            return $pos + 4 + $n;
        }
        my ($et, $count);
        ($et, $count, $pos) = _re_list_head($b, $pos, $end);
        $$out .= pack 'CN', $TAG{$et}, $count;
        return _re_items($b, $et, $count, $pos, $end, $depth, $out);
    }
    if ($type eq 'bytes') {    # octets, their own Perl value: copied a slice at a time, not held twice
        my $n = _dec_length($b, $pos, $end, $type);
        $$out .= pack 'N', $n;
        for (my $at = 0; $at < $n; $at += _SLICE) {
            $$out .= substr $$b, $pos + 4 + $at, $n - $at < _SLICE ? $n - $at : _SLICE;
        }
        return $pos + 4 + $n;
    }
    if ($type eq 'string') {
        my $n = _dec_length($b, $pos, $end, $type);
        my $data = unpack "\@${\($pos + 4)} a$n", $$b;    # not substr: its target would keep a copy
        my $bad = _utf8_bad(\$data);
        wire_error('UTF8', $pos + 4 + $bad, 'ill-formed UTF-8 sequence') if defined $bad;
        # Decoded to Perl text and encoded again a slice at a time (cut before a lead byte):
        # utf8::decode copies its string, and a 16 MiB one would be held three times.
        $$out .= pack 'N', $n;
        for (my $at = 0; $at < $n;) {
            my $cut = $n - $at <= _SLICE ? $n : $at + _SLICE;
            $cut-- while $cut < $n && (vec($data, $cut, 8) & 0xc0) == 0x80;
            my $text = substr $data, $at, $cut - $at;
            utf8::decode($text);    # the Perl text decode_fields gives
            utf8::encode($text);    # and its UTF-8 again, as encode_fields makes it
            $$out .= $text;
            $at = $cut;
        }
        undef $data;    # a lexical keeps its buffer after the call: give a large one back now
        return $pos + 4 + $n;
    }
    my $size = $FIXED_SIZE{$type};
    wire_error('TRUNCATED', $pos, "$type value needs $size bytes, " . ($end - $pos) . ' left')
        if $end - $pos < $size;
    if ($type eq 'bool') {
        my $byte = vec $$b, $pos, 8;
        wire_error('BADBOOL', $pos, sprintf 'bool byte 0x%02x', $byte) if $byte > 1;
        $$out .= chr $byte;
    }
    else {
        my $fmt = $RE_PACK{$type};
        $$out .= pack $fmt, unpack "\@$pos $fmt", $$b;
    }
    return $pos + $size;
}

# ---------------------------------------------------------------------------------------------
# Frames

sub encode_header {
    my ($type, $length) = @_;
    my $t = _integer_string($type);
    wire_error('RANGE', undef, 'message type must be 1..65535, got ' . _show($type))
        unless defined $t && _dec_cmp($t, '1') >= 0 && _dec_cmp($t, '65535') <= 0;
    my $n = _integer_string($length);
    wire_error('RANGE', undef, 'payload length must be 0..4294967295, got ' . _show($length))
        unless defined $n && _dec_cmp($n, '0') >= 0 && _dec_cmp($n, '4294967295') <= 0;
    return pack 'CCnN', PROTOCOL_VERSION, 0, $t, $n;
}

sub encode_frame {
    my ($type, $payload) = @_;
    my $p = _byte_string($payload);
    return encode_header($type, length $p) . $p;
}

# Checks in the order of SPEC 2.3: version, flags, type, length. Only the first 8 bytes are read.
sub decode_header {
    my ($bytes, $max_payload) = @_;
    $max_payload //= DEFAULT_MAX_PAYLOAD;
    wire_error('TRUNCATED', length $bytes, 'frame header needs 8 bytes') if length $bytes < 8;
    my ($version, $flags, $type, $length) = unpack 'CCnN', $bytes;
    wire_error('VERSION', 0, "unsupported protocol version $version") if $version != PROTOCOL_VERSION;
    wire_error('HEADER', 1, sprintf 'reserved flags 0x%02x are not 0', $flags) if $flags;
    wire_error('HEADER', 2, 'message type 0 is invalid') if $type == 0;
    wire_error('TOOBIG', 4, "payload length $length exceeds the limit $max_payload")
        if $length > $max_payload;
    return ($type, $length);
}

# Exactly one whole frame; error offsets count from the first byte of the frame.
sub decode_frame {
    my ($bytes, $max_payload) = @_;
    my ($type, $length) = decode_header($bytes, $max_payload);
    my $have = length($bytes) - HEADER_SIZE;
    wire_error('TRUNCATED', length $bytes, "frame payload has $have of $length bytes")
        if $have < $length;
    wire_error('LENGTH', HEADER_SIZE + $length, 'bytes after the end of the frame')
        if $have > $length;
    return ($type, substr $bytes, HEADER_SIZE);
}

# ---------------------------------------------------------------------------------------------
# Control messages (SPEC 7.2-7.4, proto/control.txt). The payload is decoded whole first (its errors
# at their SPEC 5 offsets), then the fields are judged in order; offsets count from the payload, like
# every codec error. Extra trailing fields are ignored (they have been decoded, so they are valid).

# 13 = u16 field (3) + u32 field (5) + string tag and length word (5): what precedes the text.
use constant _CONTROL_HEAD => 13;

sub hello_payload {
    my ($name, $max_payload) = @_;
    $max_payload //= DEFAULT_MAX_PAYLOAD;
    my $p = encode_fields([ [ u16 => PROTOCOL_VERSION ], [ u32 => $max_payload ], [ string => $name ] ]);
    # What a receiver would refuse (SPEC 7.2) is never sent.
    wire_error('RANGE', undef, "HELLO max_payload $max_payload is below " . MIN_MAX_PAYLOAD)
        if $max_payload < MIN_MAX_PAYLOAD;
    wire_error('RANGE', undef, 'HELLO peer name longer than ' . HELLO_NAME_MAX . ' bytes')
        if length($p) - _CONTROL_HEAD > HELLO_NAME_MAX;
    return $p;
}

sub parse_hello {
    my ($payload) = @_;
    my ($f, $off) = decode_fields_with_offsets($payload);
    my $version = _control_field($f, $off, $payload, 'HELLO', 0, 'u16', 'version');
    # Judged first and alone: another version's HELLO may define the other fields differently.
    wire_error('VERSION', $off->[0] + 1, "HELLO announces protocol version $version")
        if $version != PROTOCOL_VERSION;
    my $max = _control_field($f, $off, $payload, 'HELLO', 1, 'u32', 'max_payload');
    wire_error('MESSAGE', $off->[1] + 1, "HELLO max_payload $max is below " . MIN_MAX_PAYLOAD)
        if $max < MIN_MAX_PAYLOAD;
    my $name = _control_field($f, $off, $payload, 'HELLO', 2, 'string', 'name');
    my $len = _string_length($payload, $off->[2]);
    wire_error('MESSAGE', $off->[2] + 1, "HELLO peer name of $len bytes, longer than " . HELLO_NAME_MAX)
        if $len > HELLO_NAME_MAX;
    return { version => $version, max_payload => $max, name => $name };
}

sub error_payload {
    my ($code, $offset, $message) = @_;
    $code = Wire::Error->code_of($code) // $code;
    $message //= eval { Wire::Error->new(code => $code)->message } // 'error';
    my $p = encode_fields([ [ u16 => $code ], [ u32 => $offset // NO_OFFSET ], [ string => $message ] ]);
    wire_error('RANGE', undef, 'ERROR message longer than ' . ERROR_TEXT_MAX . ' bytes')
        if length($p) - _CONTROL_HEAD > ERROR_TEXT_MAX;
    return $p;
}

# An ERROR message as a Wire::Error (its offset undef for 0xFFFFFFFF).
sub parse_error {
    my ($payload) = @_;
    my ($f, $off) = decode_fields_with_offsets($payload);
    my $code   = _control_field($f, $off, $payload, 'ERROR', 0, 'u16', 'code');
    my $offset = _control_field($f, $off, $payload, 'ERROR', 1, 'u32', 'offset');
    my $text   = _control_field($f, $off, $payload, 'ERROR', 2, 'string', 'message');
    my $len = _string_length($payload, $off->[2]);
    wire_error('MESSAGE', $off->[2] + 1, "ERROR message of $len bytes, longer than " . ERROR_TEXT_MAX)
        if $len > ERROR_TEXT_MAX;
    return Wire::Error->new(code => $code, offset => $offset == NO_OFFSET ? undef : $offset,
                            message => $text);
}

# Field $i's value, which must be of $type: else MESSAGE at its tag byte, or at the end of the
# payload, where it would have started, when it is missing.
sub _control_field {
    my ($f, $off, $payload, $what, $i, $type, $label) = @_;
    wire_error('MESSAGE', length $payload, "$what $label ($type) is missing") if $i > $#$f;
    wire_error('MESSAGE', $off->[$i], "$what $label is $f->[$i][0], expected $type")
        if $f->[$i][0] ne $type;
    return $f->[$i][1];
}

# The byte length of the (valid) string field whose tag is at $at: its length word.
sub _string_length { unpack 'N', substr $_[0], $_[1] + 1, 4 }

1;

__END__

=encoding utf8

=head1 NAME

Wire - the wire protocol v1 codec for Perl: typed fields, frames, control messages

=head1 SYNOPSIS

    use Wire qw(:all);

    my $payload = encode_fields([
        [ u32    => 16909060 ],
        [ string => "h\x{e9}llo" ],                      # Perl text, sent as UTF-8
        [ list   => [ i64 => [ -1, 2, 3 ] ] ],
        [ group  => [ [ bool => 1 ], [ f32 => Wire::F32->from_bits(0x7f800001) ] ] ],
    ]);
    my $fields = decode_fields($payload);                # the same structure back
    my $frame  = encode_frame(MSG_ROUNDTRIP, $payload);
    my ($type, $length) = decode_header($frame, DEFAULT_MAX_PAYLOAD);

=head1 DESCRIPTION

Implements the wire protocol v1 of SPEC.md: the 8-byte frame header, the 15 field types, the canonical
encoding, the strict decoder with the error codes and offsets every implementation reports, and
the HELLO/ERROR control messages. Companion modules: L<Wire::FrameParser> (incremental frame
parsing), L<Wire::IO> (blocking socket I/O with deadlines), L<Wire::Notation> (the proto/ value
notation), L<Wire::Vectors> (proto/vectors.txt and stats.txt), L<Wire::Interop> (the interop
service), L<Wire::Error>, L<Wire::F32>, L<Wire::Layout> (a fixed list of field types compiled
once: the same codec, about twice as fast).

Loading fails with a clear message on a perl without 64-bit integers (C<$Config{ivsize} < 8>).

Every function reports failure by dying with a L<Wire::Error>.

=head1 VALUE MODEL

A B<field> is a two-element array reference C<< [ TYPE => VALUE ] >>; a payload is an array reference of
fields. TYPE is one of the type names below; VALUE is a value of that type:

=over 4

=item C<u8 u16 u32 u64 i8 i16 i32 i64>

A Perl integer. Decoding gives an IV, or a UV for u64 values above 2**63-1. Encoding accepts an
integer (IV/UV), an integral float (NV) such as C<1e3> or C<2**63>, or a string that is a plain
decimal literal (C<"18446744073709551615">, C<"-5">, C<"+7">, C<"007">). Anything else is a
B<RANGE> error, never a silent truncation: a fractional number (C<1.5>), a string that is not a
decimal literal (C<"1e3">, C<" 12">, C<"0x10">, C<"">), NaN and infinities, a float whose printed form
lost digits, C<undef>, references (objects with string overloading, such as Math::BigInt, are judged
by their decimal text). So is a value outside the type's range (u8 256, i8 -129, u64 -1, u64
C<"18446744073709551616">; 2**64 is a float and out of range too). Range checks are done on decimal
strings, so no value goes through a lossy double.

=item C<f32>

A L<Wire::F32> object holding the exact 32-bit pattern (decoding always gives one; NaN payloads and
signalling NaNs survive). Encoding also accepts a plain Perl number, rounded to single precision.

=item C<f64>

A Perl number (NV), decoded with C<unpack 'd E<gt>'>; the 64 bits, NaN payloads included, survive a
decode/encode round trip. Encoding accepts anything C<looks_like_number> (else RANGE).

=item C<bool>

Decodes to C<1> or C<0>. Encoding accepts 0, 1 (any integer form as above) and Perl's false C<''>;
anything else (2, -1, C<"yes">) is RANGE.

=item C<string>

Perl B<text> (a character string). The encoder UTF-8 encodes a copy of the characters, whatever
the scalar's internal utf8 flag: C<"\xe9"> and C<"\x{e9}"> are the same text "E<eacute>" and both give
C<c3 a9>; the byte string C<"\xc3\xa9"> is two characters and gives C<c3 83 c2 a9>. Encode text,
not UTF-8 bytes (use C<utf8::decode> or Encode first when you hold bytes). Characters that are not
Unicode scalar values (surrogates, above U+10FFFF) are RANGE. Decoding validates the bytes
strictly (Unicode Table 3-7) before turning them into text.

=item C<bytes>

A byte string (octets). A string holding a character above 0xFF is RANGE; a utf8-flagged string
whose characters are all E<lt>= 0xFF is used as its octets.

=item C<list>

C<< [ ELEMENT_TYPE => [ VALUE, ... ] ] >>: the element type name and an array reference of B<values>
(not fields). Elements of a list of lists are list values C<< [ TYPE => [...] ] >>, of a list of groups
group values (array references of fields). Example: C<< [ list => [ list => [ [ u8 => [1] ], [ u8 => [] ] ] ] ] >>.

=item C<group>

An array reference of fields: C<< [ group => [ [ u8 => 1 ], [ string => 'x' ] ] ] >>.

=back

Structural mistakes (a field that is not a pair, an unknown type name, a list value that is not
C<[type, [values]]>) are B<INVAL>. Nesting beyond depth 32 is B<DEPTH> for the encoder as for the
decoder. Encoder errors have no offset.

=head1 FUNCTIONS

All are exportable; C<:all>, C<:functions> and C<:constants> export groups.

=head2 Codec

=over 4

=item C<encode_fields(\@fields)>

The payload bytes of the fields.

=item C<encode_value($type, $value)>

One value without its tag (as a list element is encoded).

=item C<decode_fields($payload)>

Decodes a whole payload to an array reference of fields. Strict, following SPEC 5: walks the
fields in order and throws the first problem found with the offset (from the first payload byte) of
the first byte of the smallest wrong element: BADTAG (unknown tag or list element tag), TRUNCATED
(a fixed-size value, list element tag, or u32 length/count cut short), LENGTH (a string, bytes or
group length larger than the bytes left in the enclosing container; a list count larger than
C<bytes left / minimum element size>, checked before anything is allocated), BADBOOL, UTF8 (the lead
byte of the first ill-formed sequence), DEPTH (a container at depth 33; checked before anything of
the container is read). A payload holding a character above 0xFF is RANGE.

=item C<decode_fields_with_offsets($payload)>

Returns C<(\@fields, \@offsets)>, the offsets being those of the top-level fields' tag bytes.

=item C<reencode_fields($payload)>

C<encode_fields(decode_fields($payload))> without the value tree: one walk makes the checks of
C<decode_fields> in the same order (the same error at the same offset) and encodes each value as
soon as it is decoded to its Perl value. Memory is the output plus one value (a tree costs about
250 bytes of Perl data per empty list). ROUNDTRIP uses it.

=item C<field_heads($payload)>, C<field_heads($payload, $max)>

Checks the whole payload as C<decode_fields> does and returns the top-level fields without their
values: C<[ [type, offset, list element type or undef], ... ]>; with C<$max>, only the first
C<$max> of them.

=item C<utf8_error_offset($bytes)>

C<undef> if the byte string is well-formed UTF-8, else the offset of the lead byte of the first
ill-formed sequence (a stray continuation byte or invalid lead byte being its own lead).

=item C<tag_of($type)>, C<type_of($tag)>, C<is_type($type)>

Tag/name mapping (u8 0x01 ... group 0x51).

=back

=head2 Frames

=over 4

=item C<encode_header($type, $length)>, C<encode_frame($type, $payload)>

The 8-byte header (version 1, flags 0), or header plus payload. Type must be 1..65535, length
0..2**32-1 (else RANGE); the payload must be octets.

=item C<decode_header($bytes, $max_payload)>

Checks the first 8 bytes in the order of SPEC 2.3 and returns C<($type, $length)>: version E<ne> 1 is
VERSION at 0, flags E<ne> 0 HEADER at 1, type 0 HEADER at 2, length E<gt> C<$max_payload> (default
16777216) TOOBIG at 4. Fewer than 8 bytes: TRUNCATED at the number of bytes given.

=item C<decode_frame($bytes, $max_payload)>

Exactly one whole frame: returns C<($type, $payload)>. On top of the header errors: a payload
shorter than the header's length is TRUNCATED at the end of the bytes given; bytes after the frame
are LENGTH at the first of them. Offsets count from the first byte of the frame. The payload is
not decoded (ECHO and PING payloads are opaque); decode it with C<decode_fields> and add 8 to an
error offset to get the frame offset used in ERROR messages.

=back

=head2 Control messages

The HELLO and ERROR codec of SPEC 7.2-7.4, checked against every case of F<proto/control.txt>
(t/04-control.t). The parsers decode the whole payload first (its errors, as C<decode_fields> reports them, at
their payload offsets), then judge the fields in order; a field of the wrong type is MESSAGE at its
tag byte, a missing one MESSAGE at the payload's end (where it would start), a value not allowed
MESSAGE at the first byte of the value (right after the tag). Extra trailing fields are ignored. A
server answering the frame adds 8 (the header) to the offset.

=over 4

=item C<hello_payload($name, $max_payload)>

HELLO: u16 version 1, u32 max_payload (default 16777216), string name. Refuses with RANGE what a
receiver would refuse: a name over C<HELLO_NAME_MAX> (255) bytes, a max_payload under
C<MIN_MAX_PAYLOAD> (1037).

=item C<parse_hello($payload)>

Returns C<{ version, max_payload, name }>. The version is judged first and alone: a u16 other than
1 is VERSION at payload offset 1, whatever follows. Then max_payload E<lt> 1037 is MESSAGE at 4 (its
value), a name over 255 bytes MESSAGE at its length word (9 for a HELLO whose fields are in the
usual order).

=item C<error_payload($code_or_name, $offset, $message)>

ERROR: u16 code, u32 offset (C<undef> gives C<NO_OFFSET>, 0xFFFFFFFF), string message (default:
the errors.txt text of the code). A message over C<ERROR_TEXT_MAX> (1024) bytes is RANGE. With the
smallest max_payload a peer may announce (1037, the largest ERROR payload), every ERROR fits.

=item C<parse_error($payload)>

The ERROR as a L<Wire::Error> (offset C<undef> for 0xFFFFFFFF). A message over 1024 bytes is
MESSAGE at its length word: the ERROR is malformed (and, SPEC 7.4, still not answered). Application
codes 256..65535 are named C<APP>I<code>.

=back

PING/PONG payloads are opaque bytes and BYE is empty (a BYE payload must still decode as fields),
so they need no helper; L<Wire::IO> sends and receives all of them.

=head2 Message types

=over 4

=item C<message_name($type)>

The SPEC 7.1 name of a message type (C<"STATS"> for 0x0108), or C<undef>.

=item C<message_types>

The table as a list of C<[number, NAME]>, in numeric order (t/05-tables.t checks it equals
F<proto/messages.txt>).

=back

=head1 CONSTANTS

The limits of F<proto/limits.txt>, named after it: C<HEADER_SIZE> (8), C<MAX_DEPTH> (32),
C<DEFAULT_MAX_PAYLOAD> (16777216), C<MIN_MAX_PAYLOAD> (1037), C<HELLO_NAME_MAX> (255),
C<ERROR_TEXT_MAX> (1024), C<NO_OFFSET> (0xFFFFFFFF), C<UDP_MAX_DATAGRAM> (65507) and
C<UDP_MAX_PAYLOAD> (65495) (the UDP profile, L<Wire::Datagram>); C<PROTOCOL_VERSION> (1); and one
C<MSG_>I<NAME> per message type: C<MSG_HELLO> (1), C<MSG_ERROR>, C<MSG_PING>, C<MSG_PONG>,
C<MSG_BYE> (5), C<MSG_ECHO> (0x100), C<MSG_ECHO_REPLY>, C<MSG_ROUNDTRIP>, C<MSG_ROUNDTRIP_REPLY>,
C<MSG_VECTOR_CHECK>, C<MSG_VECTOR_RESULT>, C<MSG_VECTOR_GET>, C<MSG_VECTOR_DATA>, C<MSG_STATS>,
C<MSG_STATS_REPLY> (0x109).

=cut
