# SPDX-License-Identifier: MIT
# The codec's fast paths (issue 11) against the exact ones: the generic encoder and decoder against
# the codec as it was before them (t/lib/WireOrig.pm), and Wire::Layout against the generic codec.
# The same bytes, the same values, or the same error: code, offset and message. On every vector of
# proto/vectors.txt, thousands of seeded mutations of them and of the representative message, and
# every integer type at and just past its limits in every form a Perl value can take.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Math::BigInt;
use Scalar::Util qw(blessed dualvar);

use WireTest;
use WireOrig;
use Wire qw(:all);
use Wire::Layout;
use Wire::Vectors qw(load_vectors);

# A canonical text of a value tree: strings in hex with their utf8 flag, f32 as bits, numbers as
# the bits of their double and their decimal text.
sub show {
    my ($v) = @_;
    return 'undef' unless defined $v;
    return 'f32:' . $v->bits if blessed $v && $v->isa('Wire::F32');
    return '[' . join(',', map { show($_) } @$v) . ']' if ref $v eq 'ARRAY';
    return (utf8::is_utf8($v) ? 'u' : 'b') . unpack('H*', do { my $c = $v; utf8::encode($c); $c });
}
# What a call gives, and the warnings it makes (without their place: the files differ).
sub outcome {
    my ($code) = @_;
    my @warned;
    local $SIG{__WARN__} = sub { push @warned, $_[0] =~ s/ at \S+ line \d+\.?\n?\z//r };
    my @r = eval { $code->() };
    my $e = $@;
    my $w = @warned ? ' warned: ' . join('; ', @warned) : '';
    return 'ok ' . join(' ', map { show($_) } @r) . $w unless $e;
    return 'died: ' . $e . $w unless ref $e && $e->isa('Wire::Error');
    return sprintf('error %d %s at %s: %s', $e->code, $e->name, $e->offset // 'none', $e->message) . $w;
}
# Outcomes differ: a test per group of checks, the first differences in diag.
sub same_outcomes {
    my ($what, $pairs) = @_;
    my @bad = grep { $_->[1] ne $_->[2] } @$pairs;
    ok(!@bad, sprintf '%s: %d cases, the same outcome', $what, scalar @$pairs)
        or diag(map { "$_->[0]:\n  exact: $_->[1]\n  fast:  $_->[2]\n" } @bad[ 0 .. ($#bad < 4 ? $#bad : 4) ]);
}

# ---------------------------------------------------------------------------------------------
# Decoding: vectors and mutations

my @payloads = map { $_->{bytes} } grep { $_->{kind} eq 'ok' || $_->{kind} eq 'err' }
                                       @{ load_vectors(proto_file('vectors.txt')) };
cmp_ok(scalar @payloads, '>', 200, 'vectors.txt gives the ok and err payloads');

my $rep = do {
    open my $fh, '<', "$FindBin::Bin/../../../bench/message.hex" or die "bench/message.hex: $!";
    my $h = <$fh>;
    $h =~ s/\s+//g;
    pack 'H*', $h;
};
push @payloads, $rep;

srand 20261203;
sub mutations {
    my ($p, $n) = @_;
    my @m;
    for (1 .. $n) {
        my $m = $p;
        my $at = int rand length $m;
        my $how = int rand 4;
        if    ($how == 0) { substr($m, $at, 1) = chr int rand 256 }
        elsif ($how == 1) { substr($m, $at, 1) = chr(ord(substr $m, $at, 1) ^ (1 << int rand 8)) }
        elsif ($how == 2) { substr($m, $at, 1) = '' }
        else              { $m = substr $m, 0, $at }
        push @m, $m;
    }
    return @m;
}
my @all = (@payloads, map { length $_ ? mutations($_, 10) : () } @payloads);
push @all, mutations($rep, 3000), map { substr $rep, 0, $_ } 0 .. length($rep) - 1;

same_outcomes('decode_fields_with_offsets against the original', [ map {
    my $p = $_;
    [ unpack('H*', $p), outcome(sub { WireOrig::decode_fields_with_offsets($p) }),
                        outcome(sub { decode_fields_with_offsets($p) }) ]
} @all ]);
same_outcomes('encode_fields of every decoded vector against the original', [ map {
    my $p = $_;
    my $f = eval { WireOrig::decode_fields($p) };
    $f ? [ unpack('H*', $p), outcome(sub { WireOrig::encode_fields($f) }),
                             outcome(sub { encode_fields($f) }) ] : ()
} @all ]);

# Wire::Layout: for every payload whose types a layout can hold, that layout against the generic
# codec (decode then shape check, _decode_generic), on the payload and on mutations of it.
my %LAYOUT_SCALAR = map { ($_ => 1) } qw(u8 u16 u32 u64 i8 i16 i32 i64 f32 f64 bool string bytes);
my %LAYOUT_ELEM   = map { ($_ => 1) } qw(u8 u16 u32 u64 i8 i16 i32 i64 f32 f64 bool);
sub layout_types {
    my ($f) = @_;
    my @t;
    for (@$f) {
        if ($_->[0] eq 'list') { return unless $LAYOUT_ELEM{ $_->[1][0] }; push @t, "list:$_->[1][0]" }
        else                   { return unless $LAYOUT_SCALAR{ $_->[0] }; push @t, $_->[0] }
    }
    return @t;
}
my (@ldec, @lenc, $layouts);
for my $p (@payloads) {
    my $f = eval { decode_fields($p) } or next;
    my @types = layout_types($f) or next;
    my $l = Wire::Layout->new(@types);
    $layouts++;
    for my $q ($p, mutations($p, 20)) {
        push @ldec, [ "@types: " . unpack('H*', $q), outcome(sub { $l->_decode_generic($q) }),
                      outcome(sub { $l->decode($q) }) ];
    }
    my @values = map { $_->[0] eq 'list' ? $_->[1][1] : $_->[1] } @$f;
    push @lenc, [ "@types", outcome(sub { WireOrig::encode_fields($l->_fields_of(\@values)) }),
                  outcome(sub { $l->encode(@values) }) ];
}
my $rl = Wire::Layout->new(qw(u32 i64 f64 string bool u16 bytes list:i32));
push @ldec, map { my $q = $_; [ 'rep ' . unpack('H*', $q), outcome(sub { $rl->_decode_generic($q) }),
                                outcome(sub { $rl->decode($q) }) ] }
            $rep, mutations($rep, 3000), map { substr $rep, 0, $_ } 0 .. length($rep) - 1;
# Other layouts over the representative message: every field another type, one missing, one extra.
for my $t (qw(u8 i64 string list:i64 list:bool f32)) {
    for my $i (0 .. 7) {
        my @types = $rl->types;
        $types[$i] = $t;
        my $l = Wire::Layout->new(@types);
        push @ldec, [ "@types", outcome(sub { $l->_decode_generic($rep) }), outcome(sub { $l->decode($rep) }) ];
    }
}
for my $l (Wire::Layout->new(($rl->types)[ 0 .. 6 ]), Wire::Layout->new($rl->types, 'u8')) {
    push @ldec, [ join(' ', $l->types), outcome(sub { $l->_decode_generic($rep) }),
                  outcome(sub { $l->decode($rep) }) ];
}
cmp_ok($layouts, '>', 50, "$layouts vectors fit a layout");
same_outcomes('Wire::Layout decode against the generic decoder', \@ldec);
same_outcomes('Wire::Layout encode of decoded vectors against the original encode_fields', \@lenc);

# ---------------------------------------------------------------------------------------------
# Encoding: integers at and past their limits, in every form

my %LIMIT = (
    u8  => [ '0', '255' ],                     u16 => [ '0', '65535' ],
    u32 => [ '0', '4294967295' ],              u64 => [ '0', '18446744073709551615' ],
    i8  => [ '-128', '127' ],                  i16 => [ '-32768', '32767' ],
    i32 => [ '-2147483648', '2147483647' ],    i64 => [ '-9223372036854775808', '9223372036854775807' ],
);
# Decimal text plus or minus one, exactly (no number on the way).
sub dec_add {
    my ($s, $d) = @_;
    return Math::BigInt->new($s)->badd($d)->bstr;
}
# Each entry: [ label, a sub making a fresh value ] (a value used as a number or string changes its
# flags, so every path gets its own).
my @forms;
for my $type (sort keys %LIMIT) {
    for my $lim (@{ $LIMIT{$type} }) {
        for my $s ($lim, dec_add($lim, 1), dec_add($lim, -1), dec_add($lim, 2), dec_add($lim, -2)) {
            push @forms, [ "str $s", sub { "$s" } ], [ "num $s", sub { 0 + $s } ],
                         [ "nv $s", sub { 0.0 + $s } ], [ "used $s", sub { my $x = "$s"; my $y = $x + 0; $x } ],
                         [ "big $s", sub { Math::BigInt->new($s) } ], [ "+ $s", sub { "+$s" } ],
                         [ "0 $s", sub { "0$s" } ], [ "sp $s", sub { " $s" } ], [ "nl $s", sub { "$s\n" } ];
        }
    }
}
push @forms, map { my $v = $_; [ "str '$v'", sub { "$v" } ] }
    '1e3', ' 1', '1 ', '0x10', '0b1', '1_000', '', '-', '+', '-0', '+0', '00', '-00', '0.0', '1.0', '1.5',
    '-1.5', '1e0', 'inf', 'Inf', '-Inf', 'nan', 'NaN', 'abc', '12abc', "\x{661}", '٣',
    '9007199254740993', '9007199254740992', '-9007199254740993', '18446744073709551616',
    '99999999999999999999999999', '-99999999999999999999999999', '123456789012345678',
    '1234567890123456789', '-123456789012345678', '000000000000000000000001',
    '999999999999999', '-999999999999999', '1000000000000000', '-1000000000000000', '999999999999998',
    '9007199254740991', '-9007199254740991', '1 2', '1  2', ' ', '1,2';
push @forms, map { my $v = $_; [ "nv $v", sub { 0 + $v } ] }
    1.5, -1.5, 0.5, -0.0, 1e3, 1e15, 1e16, 2**53, 2**53 + 2, 2**63, -2**63, 2**64, 2**64 * 2,
    123456789012345.4, 123456789012345.6, -123456789012345.4, 1e300, -1e300, 9**9**9, -9**9**9,
    1000000000.000001, -1000000000.000001, 255.00000000001, 999999999999999.0, 1e15 - 1, 1e15 + 1;
push @forms, [ 'nan', sub { 9**9**9 / 9**9**9 } ], [ 'undef', sub { undef } ],
    [ 'aref', sub { [] } ], [ 'href', sub { {} } ], [ 'true', sub { !!1 } ], [ 'false', sub { !!0 } ],
    [ 'dualvar 5 "5"', sub { dualvar 5, '5' } ], [ 'dualvar 6 "5"', sub { dualvar 6, '5' } ],
    [ 'dualvar 5.5 "5"', sub { dualvar 5.5, '5' } ], [ 'dualvar 5 "x"', sub { dualvar 5, 'x' } ],
    [ 'dualvar 1 "1"', sub { dualvar 1, '1' } ], [ 'dualvar 2 "1"', sub { dualvar 2, '1' } ],
    [ 'dualvar 1.5 "1"', sub { dualvar 1.5, '1' } ], [ 'dualvar 1 "0"', sub { dualvar 1, '0' } ],
    [ 'int then str', sub { my $x = 42; my $y = "$x"; $x } ], [ 'str 42 as num', sub { my $x = '42'; my $y = $x * 1; $x } ],
    [ 'nv 42.0 as str', sub { my $x = 42.0; my $y = "$x"; $x } ], [ 'uv max', sub { ~0 } ],
    [ 'iv min', sub { -(~0 >> 1) - 1 } ], [ 'F32', sub { Wire::F32->from_bits(1) } ];

my (@int_pairs, @bool_pairs);
for my $type ((sort keys %LIMIT), 'bool') {
    for my $form (@forms) {
        my ($label, $make) = @$form;
        my $exact = outcome(sub { WireOrig::encode_fields([ [ $type => $make->() ] ]) });
        my $exact_list = outcome(sub { WireOrig::encode_fields([ [ list => [ $type => [ 1, $make->() ] ] ] ]) });
        my $pairs = $type eq 'bool' ? \@bool_pairs : \@int_pairs;
        push @$pairs,
            [ "$type field $label", $exact, outcome(sub { encode_fields([ [ $type => $make->() ] ]) }) ],
            [ "$type value $label", outcome(sub { WireOrig::encode_value($type => $make->()) }),
              outcome(sub { encode_value($type => $make->()) }) ],
            [ "$type list $label", $exact_list,
              outcome(sub { encode_fields([ [ list => [ $type => [ 1, $make->() ] ] ] ]) }) ],
            [ "$type layout $label", $exact, outcome(sub { Wire::Layout->new($type)->encode($make->()) }) ],
            [ "$type layout list $label", $exact_list,
              outcome(sub { Wire::Layout->new("list:$type")->encode([ 1, $make->() ]) }) ];
    }
}
same_outcomes('integers at and past their limits, every form', \@int_pairs);
same_outcomes('bools in every form', \@bool_pairs);

# Strings, bytes, f64 and f32 values the fast paths take or leave.
my @other = (
    [ string => 'sensor' ], [ string => "h\x{e9}llo" ], [ string => "h\xe9llo" ], [ string => "\x{d800}" ],
    [ string => "\x{110000}" ], [ string => "\x{10ffff}" ], [ string => '' ], [ string => 42 ],
    [ string => 1.5 ], [ string => undef ], [ string => [] ], [ string => Math::BigInt->new(7) ],
    [ bytes => "\x00\xff" ], [ bytes => "\x{100}" ], [ bytes => do { my $x = "\xe9"; utf8::upgrade($x); $x } ],
    [ bytes => '' ], [ bytes => 12 ], [ bytes => undef ], [ bytes => {} ],
    [ f64 => 21.5 ], [ f64 => '21.5' ], [ f64 => 'abc' ], [ f64 => undef ], [ f64 => '' ], [ f64 => 9**9**9 ],
    [ f64 => [] ], [ f32 => Wire::F32->from_bits(0x7f800001) ], [ f32 => 1.5 ], [ f32 => 'x' ],
    [ f32 => undef ],
);
my @opairs;
for my $c (@other) {
    my ($type, $v) = @$c;
    my $label = "$type " . show($v);
    push @opairs,
        [ "$label field", outcome(sub { WireOrig::encode_fields([ [ $type => $v ] ]) }),
          outcome(sub { encode_fields([ [ $type => $v ] ]) }) ],
        [ "$label layout", outcome(sub { WireOrig::encode_fields([ [ $type => $v ] ]) }),
          outcome(sub { Wire::Layout->new($type)->encode($v) }) ];
    push @opairs, [ "$label layout list", outcome(sub { WireOrig::encode_fields([ [ list => [ $type => [$v] ] ] ]) }),
                    outcome(sub { Wire::Layout->new("list:$type")->encode([$v]) }) ]
        if $type eq 'f64' || $type eq 'f32';
}
same_outcomes('strings, bytes, f64, f32 values', \@opairs);

# The representative message, through every API.
my @values = (16909060, -1234567890123, unpack('d>', pack 'H*', '4035800000000000'),
              'sensor-kitchen-1', 1, 513, join('', map { chr } 0 .. 15), [ 1, -2, 3, -4 ]);
is(unpack('H*', $rl->encode(@values)), unpack('H*', $rep), 'layout encodes bench/message.hex');
is(unpack('H*', encode_fields($rl->_fields_of(\@values))), unpack('H*', $rep), 'encode_fields too');
is(outcome(sub { $rl->decode($rep) }), 'ok ' . join(' ', map { show($_) } @values), 'layout decodes it');

# Misuse of the layout API.
like(outcome(sub { $rl->encode(1) }), qr/\Aerror 20 INVAL at none: layout of 8 fields given 1 values/,
     'the wrong number of values is INVAL');
like(outcome(sub { $rl->encode(@values[ 0 .. 6 ], 5) }), qr/\Aerror 20 INVAL/, 'a list value not an array is INVAL');
like(outcome(sub { Wire::Layout->new('group') }), qr/\Aerror 20 INVAL/, 'a group is not a layout type');
like(outcome(sub { Wire::Layout->new('list:string') }), qr/\Aerror 20 INVAL/, 'nor a list of strings');
like(outcome(sub { $rl->decode("\x{100}") }), qr/\Aerror 14 RANGE/, 'a payload above 0xFF is RANGE');
is(outcome(sub { my $p = $rep; utf8::upgrade($p); $rl->decode($p) }), outcome(sub { $rl->decode($rep) }),
   'an upgraded payload decodes as its octets');
{
    my @warned;
    local $SIG{__WARN__} = sub { push @warned, @_ };
    eval { $rl->decode($_) } for mutations($rep, 500);
    is(scalar @warned, 0, 'no warnings from the fast decoder on mutated payloads') or diag(@warned[0 .. 2]);
}

done_testing;
