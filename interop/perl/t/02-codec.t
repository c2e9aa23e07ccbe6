# SPDX-License-Identifier: MIT
# The codec's traps, one by one: integer range and exactness, the utf8 flag, bytes, f32/f64 bits,
# depth, decoder check order, structural misuse, and UTF-8 validation against a reference.
use strict;
use warnings;

use B ();
use FindBin;
use lib "$FindBin::Bin/lib";
use Math::BigInt;
use Test::More;

use WireTest;
use Wire qw(:all);
use Wire::F32;

sub hex_of { unpack 'H*', encode_fields([@_]) }
sub bin    { pack 'H*', join '', @_ }

# --- integers: RANGE instead of truncation ---------------------------------------------------
my @range = (
    [ u8  => 256,                      'u8 256' ],
    [ u8  => -1,                       'u8 -1' ],
    [ i8  => -129,                     'i8 -129' ],
    [ i8  => 128,                      'i8 128' ],
    [ u16 => 65536,                    'u16 65536' ],
    [ i16 => -32769,                   'i16 -32769' ],
    [ u32 => 4294967296,               'u32 2**32' ],
    [ i32 => 2147483648,               'i32 2**31' ],
    [ u64 => '18446744073709551616',   'u64 2**64 as a string' ],
    [ u64 => 2**64,                    'u64 2**64 as a float' ],
    [ u64 => 1e20,                     'u64 1e20 (a float beyond UV)' ],
    [ u64 => -1,                       'u64 -1' ],
    [ i64 => '9223372036854775808',    'i64 2**63' ],
    [ i64 => '-9223372036854775809',   'i64 -2**63-1' ],
    [ u32 => 1.5,                      '1.5 as an integer' ],
    [ i32 => -0.5,                     '-0.5 as an integer' ],
    [ u16 => '1e3',                    'the string "1e3"' ],
    [ u16 => ' 12',                    'a string with a leading space' ],
    [ u16 => '12abc',                  'a string with trailing garbage' ],
    [ u16 => '0x10',                   'a hex string' ],
    [ u16 => '',                       'the empty string' ],
    [ u16 => '1.0',                    'the string "1.0"' ],
    [ u64 => 9**9**9,                  'infinity' ],
    [ u64 => -9**9**9 / 9**9**9,       'NaN' ],
    [ u8  => undef,                    'undef' ],
    [ u8  => [1],                      'an array reference' ],
    [ bool => 2,                       'bool 2' ],
    [ bool => -1,                      'bool -1' ],
    [ bool => 'true',                  'bool "true"' ],
    [ bool => undef,                   'bool undef' ],
    [ bytes => "\x{100}",              'bytes with a wide character' ],
    [ bytes => "ab\x{263a}",           'bytes with a wide character after octets' ],
    [ string => undef,                 'string undef' ],
    [ string => "\x{d800}",            'string with a surrogate' ],
    [ string => "a\x{110000}",         'string above U+10FFFF' ],
    [ f64 => 'abc',                    'f64 from a non-number' ],
    [ f64 => undef,                    'f64 undef' ],
    [ f32 => 'abc',                    'f32 from a non-number' ],
);
for my $r (@range) {
    my ($type, $v, $label) = @$r;
    throws_wire { encode_fields([ [ $type => $v ] ]) } 'RANGE', "RANGE: $label", 'none';
}

{    # a string numified keeps its text: "1e3" stays refused after numeric use
    my $s = '1e3';
    my $n = $s + 0;
    is($n, 1000, 'the string "1e3" is 1000 to Perl');
    throws_wire { encode_fields([ [ u16 => $s ] ]) } 'RANGE', 'RANGE: "1e3" after numeric use';
}
{    # a float that prints with fewer digits than it has is not taken at its printed value
    my $x = 123456789012345.6;
    my $printed = "$x";
    is($printed, '123456789012346', 'the float prints rounded');
    throws_wire { encode_fields([ [ u64 => $x ] ]) } 'RANGE', 'RANGE: non-integral float even after printing';
}

my @accepted = (
    [ u8  => 255,                     '01ff' ],
    [ u8  => '007',                   '0107' ],
    [ i8  => '+5',                    '1105' ],
    [ i8  => -128,                    '1180' ],
    [ u16 => 1e3,                     '0203e8' ],          # an integral float
    [ u16 => 3.0,                     '020003' ],
    [ u64 => 2**63,                   '048000000000000000' ],
    [ u64 => 18446744073709551615,    '04ffffffffffffffff' ],
    [ u64 => '18446744073709551615',  '04ffffffffffffffff' ],
    [ u64 => Math::BigInt->new('18446744073709551615'), '04ffffffffffffffff' ],
    [ i64 => -9223372036854775808,    '148000000000000000' ],
    [ i64 => '-9223372036854775808',  '148000000000000000' ],
    [ i64 => -2**63,                  '148000000000000000' ],
    [ i32 => '-0',                    '1300000000' ],
    [ bool => 0,                      '3000' ],
    [ bool => 1,                      '3001' ],
    [ bool => '',                     '3000' ],
    [ bool => !!1,                    '3001' ],
    [ bool => !!0,                    '3000' ],
    [ bool => '1',                    '3001' ],
);
for my $r (@accepted) {
    my ($type, $v, $hex) = @$r;
    my $label = ref $v ? ref $v : defined $v ? $v : 'undef';
    is(eval { hex_of([ $type => $v ]) } // "error: $@", $hex, "$type $label encodes to $hex");
}

{    # u64 above 2**63-1 decodes to an exact UV
    my $f = decode_fields(bin('04ffffffffffffffff'))->[0][1];
    is("$f", '18446744073709551615', 'u64 max decodes exactly');
    ok(B::svref_2object(\$f)->FLAGS & B::SVf_IVisUV, '... as a UV');
    my $g = decode_fields(bin('148000000000000000'))->[0][1];
    is("$g", '-9223372036854775808', 'i64 min decodes exactly');
}

# --- strings and the utf8 flag ---------------------------------------------------------------
{
    my $latin1 = "\xe9";                 # "é" held as one octet, utf8 flag off
    my $upgraded = "\xe9";
    utf8::upgrade($upgraded);            # the same text, utf8 flag on
    my $bytes = "\xc3\xa9";              # the UTF-8 encoding of "é": two characters to Perl
    ok(!utf8::is_utf8($latin1) && utf8::is_utf8($upgraded), 'the two "é" differ only by the flag');
    is(hex_of([ string => $latin1 ]),   '4000000002c3a9', '"é" without the utf8 flag is c3 a9');
    is(hex_of([ string => $upgraded ]), '4000000002c3a9', '"é" with the utf8 flag is c3 a9 too');
    is(hex_of([ string => $bytes ]),    '4000000004c383c2a9',
       'the byte string c3 a9 is two characters and is encoded as such (not passed through)');
    isnt(hex_of([ string => $bytes ]), hex_of([ string => $latin1 ]),
         'text and its UTF-8 bytes do not encode alike by accident');
    is(hex_of([ string => "\x{20ac}\x{1f600}" ]), '4000000007e282acf09f9880', 'wide characters');
    is($latin1, "\xe9", 'encoding does not change the caller\'s string');

    my $s = decode_fields(bin('4000000002c3a9'))->[0][1];
    is(length $s, 1, 'decoded "é" is one character');
    is($s, "\x{e9}", 'decoded strings are text');
    my $nul = decode_fields(bin('4000000003610062'))->[0][1];
    is($nul, "a\0b", 'NUL is a character like any other');
    is(hex_of([ string => "a\0b" ]), '4000000003610062', 'NUL encodes');
    is(hex_of([ string => 42 ]), '40000000023432', 'a number is used as its text');

    is(hex_of([ bytes => $upgraded ]), '4100000001e9',
       'bytes: an upgraded string of octets is used as its octets');
    is(hex_of([ bytes => "\xc3\xa9" ]), '4100000002c3a9', 'bytes are passed through');
    my $b = decode_fields(bin('4100000002c3a9'))->[0][1];
    ok(!utf8::is_utf8($b) && $b eq "\xc3\xa9", 'decoded bytes are an octet string');
}

# --- floats: bits survive --------------------------------------------------------------------
{
    my $snan = Wire::F32->from_bits(0x7f800001);
    is(hex_of([ f32 => $snan ]), '237f800001', 'f32 signalling NaN 0x7f800001 encodes');
    my $d = decode_fields(bin('237f800001'))->[0][1];
    isa_ok($d, 'Wire::F32', 'decoded f32');
    is($d->as_hex, '0x7f800001', 'f32 signalling NaN decodes with its payload');
    is(hex_of([ f32 => $d ]), '237f800001', 'f32 signalling NaN round trip');
    for my $bits (0x80000000, 0x00000001, 0xffc00001, 0x7f7fffff, 0xff800000) {
        my $x = decode_fields(pack 'CN', 0x23, $bits)->[0][1];
        is($x->bits, $bits, sprintf 'f32 0x%08x survives decoding', $bits);
    }
    is(hex_of([ f32 => 1.5 ]), '233fc00000', 'f32 from a Perl number');
    is(Wire::F32->from_number(0.1)->as_hex, '0x3dcccccd', 'f32 rounds to nearest');
    is(Wire::F32->from_bits(0x3fc00000)->value, 1.5, 'f32 value');
    throws_wire { Wire::F32->from_bits(2**32) } 'RANGE', 'f32 bits above 32 bits';

    for my $hex (qw(7ff0000000000001 7ff8000000000001 fff8dead0000beef 7ff4000000000000
                    8000000000000000 0000000000000001)) {
        my $b = pack 'H*', $hex;
        is(unpack('H*', pack 'd>', unpack 'd>', $b), $hex, "f64 $hex survives pack(unpack)");
        my @copies = (decode_fields("\x24$b")->[0][1]);
        my %h = (v => $copies[0]);
        is(unpack('H*', encode_fields([ [ f64 => $h{v} ] ])), "24$hex",
           "f64 $hex survives decode, copies and encode");
    }
    is(hex_of([ f64 => -0.0 ]), '248000000000000000', 'f64 -0.0');
    is(hex_of([ f64 => '1.5' ]), '243ff8000000000000', 'f64 from a numeric string');
}

# --- containers and depth --------------------------------------------------------------------
{
    my $v = [ u8 => [] ];
    $v = [ list => [$v] ] for 2 .. 32;
    my $deep = [ [ list => $v ] ];                           # 32 nested lists
    my $enc = encode_fields($deep);
    is(length $enc, 32 * 5 + 1, 'depth 32 encodes');
    is_deeply(decode_fields($enc), $deep, 'depth 32 decodes');
    throws_wire { encode_fields([ [ group => $deep ] ]) } 'DEPTH', 'the encoder refuses depth 33';

    my $g = [];
    $g = [ [ group => $g ] ] for 1 .. 33;
    my $bytes = '';
    $bytes = "\x51" . pack('N', length $bytes) . $bytes for 1 .. 33;
    throws_wire { decode_fields($bytes) } 'DEPTH', '33 nested groups: DEPTH at the 33rd tag', 32 * 5;

    is(hex_of([ list => [ group => [ [ [ u8 => 1 ] ], [] ] ] ]),
       '505100000002000000020101' . '00000000', 'list of groups');
    is(hex_of([ list => [ string => [ 'a', '' ] ] ]), '5040000000020000000161' . '00000000',
       'list of strings');
    is(hex_of([ list => [ bool => [ 1, 0, '' ] ] ]), '5030000000030100' . '00', 'list of bools');
    is_deeply(decode_fields(bin('50300000000101')), [ [ list => [ bool => [1] ] ] ], 'bool list decodes');
}

# --- decoder check order and offsets ---------------------------------------------------------
throws_wire { decode_fields(bin('50')) } 'TRUNCATED', 'list: element tag missing', 1;
throws_wire { decode_fields(bin('5099')) } 'BADTAG', 'list: element tag unknown', 1;
throws_wire { decode_fields(bin('5001000000')) } 'TRUNCATED', 'list: count cut short', 2;
throws_wire { decode_fields(bin('5004ffffffff', '00' x 64)) } 'LENGTH', 'list: huge count refused before allocating', 2;
throws_wire { decode_fields(bin('50500000000101000000')) } 'LENGTH', 'list of lists: count vs minimum size 5', 2;
throws_wire { decode_fields(bin('0301')) } 'TRUNCATED', 'fixed value cut short', 1;
throws_wire { decode_fields(bin('3002')) } 'BADBOOL', 'bool 2', 1;
throws_wire { decode_fields(bin('50300000000301' . '0002')) } 'BADBOOL', 'bool 2 in a list', 8;
throws_wire { decode_fields(bin('400000')) } 'TRUNCATED', 'string: length cut short', 1;
throws_wire { decode_fields(bin('400000000261')) } 'LENGTH', 'string: length past the end', 1;
throws_wire { decode_fields(bin('400000000361c080')) } 'UTF8', 'UTF-8 error at its lead', 6;
throws_wire { decode_fields(bin('51000000020301', '02')) } 'TRUNCATED', 'a group bounds its fields', 6;
throws_wire { decode_fields(bin('00')) } 'BADTAG', 'tag 0x00', 0;
throws_wire { decode_fields("\x{100}") } 'RANGE', 'a payload of characters is refused';

# --- structural misuse is INVAL --------------------------------------------------------------
throws_wire { encode_fields({}) } 'INVAL', 'fields not an array';
throws_wire { encode_fields([ [ u8 => 1, 2 ] ]) } 'INVAL', 'a field with three elements';
throws_wire { encode_fields([ [ u9 => 1 ] ]) } 'INVAL', 'unknown type name';
throws_wire { encode_fields([ [ list => [ u8 => 1 ] ] ]) } 'INVAL', 'list items not an array';
throws_wire { encode_fields([ [ list => [ u9 => [] ] ] ]) } 'INVAL', 'unknown list element type';
throws_wire { encode_fields([ [ group => 1 ] ]) } 'INVAL', 'group value not an array';
is(encode_value(u16 => 258), "\x01\x02", 'encode_value has no tag');

# --- UTF-8 validation against an independent reference ---------------------------------------
# The reference decodes code points arithmetically (no table), so it checks the table-driven
# validator from another angle: shortest form, no surrogates, nothing above U+10FFFF.
sub ref_bad {
    my @b = unpack 'C*', $_[0];
    my $i = 0;
    while ($i < @b) {
        my $c = $b[$i];
        if ($c < 0x80) { $i++; next }
        my ($n, $min, $cp) = $c >= 0xc0 && $c < 0xe0 ? (2, 0x80, $c & 0x1f)
                           : $c >= 0xe0 && $c < 0xf0 ? (3, 0x800, $c & 0x0f)
                           : $c >= 0xf0 && $c < 0xf8 ? (4, 0x10000, $c & 0x07)
                           : return $i;
        for my $k (1 .. $n - 1) {
            my $d = $b[ $i + $k ];
            return $i if !defined $d || ($d & 0xc0) != 0x80;
            $cp = ($cp << 6) | ($d & 0x3f);
        }
        return $i if $cp < $min || $cp > 0x10ffff || ($cp >= 0xd800 && $cp <= 0xdfff);
        $i += $n;
    }
    return undef;
}
{
    my @bad;
    my $checked = 0;
    my $check = sub {
        my ($s) = @_;
        $checked++;
        my ($got, $want) = (utf8_error_offset($s), ref_bad($s));
        push @bad, unpack('H*', $s) . ': got ' . ($got // 'valid') . ', want ' . ($want // 'valid')
            if ($got // -1) != ($want // -1);
    };
    for my $x (0 .. 255) {
        $check->("a" . chr $x);
        for my $y (0 .. 255) {
            $check->(chr($x) . chr($y));
            $check->(chr($x) . chr($y) . "\x80\x80") if $x >= 0xe0;
            $check->(chr($x) . chr($y) . "\xbf") if $x >= 0xe0 && $x < 0xf0;
        }
    }
    ok(!@bad, "UTF-8 validator agrees with the reference on $checked strings")
        or diag(join "\n", @bad[ 0 .. ($#bad < 9 ? $#bad : 9) ]);
    is(utf8_error_offset("ab\xf4\x8f\xbf\xbf\xf4\x90\x80\x80"), 6, 'U+10FFFF ok, U+110000 not');
    is(utf8_error_offset("\xef\xbf\xbe"), undef, 'U+FFFE is valid');
    is(utf8_error_offset("x\xe2\x82"), 1, 'a sequence cut by the end: its lead');
}

# --- 64-bit wrapping (the STATS i64 sum) -----------------------------------------------------
{
    use integer;
    my $x = 9223372036854775807;
    $x += 1;
    is($x, -9223372036854775807 - 1, 'use integer wraps i64 max + 1 to i64 min');
}

done_testing;
