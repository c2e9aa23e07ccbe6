# SPDX-License-Identifier: MIT
# The proto/ value notation: parsing, formatting, hex, comparison paths, file loading.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempfile);
use Test::More;

use WireTest;
use Wire qw(encode_fields);
use Wire::Notation qw(parse_hex format_hex parse_fields format_fields format_value compare_fields);
use Wire::Vectors qw(load_vectors parse_vector_line parse_stats_line);

is(parse_hex(''), '', 'empty hex');
is(format_hex(parse_hex('01 ab*3 cdef*0 00')), '01ababab00', 'hex tokens and repetition');
is(length parse_hex('616263*100'), 300, 'repetition of a multi-byte token');
throws_wire { parse_hex('abc') } 'INVAL', 'odd number of digits';
throws_wire { parse_hex('zz') } 'INVAL', 'not hex';
throws_wire { parse_hex('ab*') } 'INVAL', 'repetition without a count';
throws_wire { parse_hex('AB') } 'INVAL', 'uppercase hex';
throws_wire { parse_hex('*3') } 'INVAL', 'a repetition of nothing';
throws_wire { parse_hex('ab*01') } 'INVAL', 'a count with a leading zero';

my @round = (
    '',
    'u8:0 u16:258 u32:16909060 u64:18446744073709551615',
    'i8:-128 i16:-2 i32:2147483647 i64:-9223372036854775808',
    'f32:0x7f800001 f64:0x7ff0000000000001 f64:0x8000000000000000',
    'bool:true bool:false string: string:e282ac bytes: bytes:00ff',
    'list:u8 [ ] list:u8 [ u8:1 u8:2 ] list:list [ list:u8 [ ] list:u8 [ u8:7 ] ]',
    'list:group [ group { } group { u8:1 } ] list:string [ string:61 ]',
    'group { u8:1 group { list:f32 [ f32:0x00000000 ] } } u8:9',
);
for my $text (@round) {
    is(format_fields(parse_fields($text)), $text, "format(parse('$text')) is the same text");
}
is(format_fields(parse_fields('bytes:ab*3')), 'bytes:ababab', 'repetition is expanded');
is(format_fields(parse_fields('  u8:1   u8:2 ')), 'u8:1 u8:2', 'extra spaces are tolerated');

my $f = parse_fields('u64:18446744073709551615 string:c3a9 f32:0x7f800001 bool:true');
is("$f->[0][1]", '18446744073709551615', 'u64 max parses exactly');
is($f->[1][1], "\x{e9}", 'string contents become text');
is($f->[2][1]->bits, 0x7f800001, 'f32 bits are kept');
is($f->[3][1], 1, 'bool true is 1');
is(unpack('H*', encode_fields(parse_fields('list:bool [ bool:true bool:false ]'))),
   '5030000000020100', 'parsed values encode');

for my $bad ('u8:256', 'i8:-129', 'u8:-1', 'u8:x', 'u8:', 'f32:0x123', 'f64:1.5', 'bool:yes',
             'string:c0', 'list:u8 [ u16:1 ]', 'list:u8 [ u8:1', 'group { u8:1', 'list:u9 [ ]',
             'group u8:1', 'foo:1', '[', 'u8:1 ]', 'u8:01', 'i8:-0', 'i8:+1', 'f32:0x7F800001',
             'string:C3A9') {
    ok(!eval { parse_fields($bad); 1 }, "'$bad' is refused") or diag('parsed');
}

is(format_value(f64 => -0.0), 'f64:0x8000000000000000', 'format -0.0 by bits');
is(format_value(i16 => -2), 'i16:-2', 'format negative');

# compare_fields: the path and the items of SPEC 10.4
sub cmp_text {
    my $d = compare_fields(parse_fields($_[0]), parse_fields($_[1]));
    return $d ? "$d->{path}|$d->{expected}|$d->{got}" : 'equal';
}
is(cmp_text('u32:16909060', 'u32:16909060'), 'equal', 'equal');
is(cmp_text('u8:1 u32:16909060', 'u8:1 u32:67305985'), '1|u32:16909060|u32:67305985', 'scalar mismatch');
is(cmp_text('u8:1 u16:1', 'u8:1 u32:1'), '1|u16:1|u32:1', 'type mismatch');
is(cmp_text('u8:1 u8:2', 'u8:1'), '1|u8:2|(missing)', 'fewer items: (missing)');
is(cmp_text('u8:1', 'u8:1 u8:2'), '1|(none)|u8:2', 'more items: (none)');
is(cmp_text('u8:0 u8:0 group { u8:1 list:u8 [ u8:1 u8:2 u8:3 u8:4 u8:5 u8:6 ] }',
            'u8:0 u8:0 group { u8:1 list:u8 [ u8:1 u8:2 u8:3 u8:4 u8:5 u8:7 ] }'),
   '2.1.5|u8:6|u8:7', 'nested path');
is(cmp_text('list:u8 [ ]', 'list:u16 [ ]'), '0|list:u8 [ ]|list:u16 [ ]', 'element type mismatch');
is(cmp_text('f64:0x7ff8000000000000', 'f64:0x7ff8000000000001'),
   '0|f64:0x7ff8000000000000|f64:0x7ff8000000000001', 'floats compare by bits (NaN payloads)');
is(cmp_text('f64:0x0000000000000000', 'f64:0x8000000000000000'),
   '0|f64:0x0000000000000000|f64:0x8000000000000000', '+0.0 is not -0.0');
is(cmp_text('list:list [ list:u8 [ u8:1 ] ]', 'list:list [ list:u8 [ ] ]'),
   '0.0.0|u8:1|(missing)', 'list of lists');

# Lines of both files
my $c = parse_vector_line("ok empty-payload |  | \n");
is_deeply([ @$c{qw(kind name bytes)}, scalar @{ $c->{fields} } ], [ 'ok', 'empty-payload', '', 0 ],
          'an ok line with empty columns');
$c = parse_vector_line('ok x | u8:1 | 01 01');
is_deeply([ @$c{qw(kind name bytes)} ], [ 'ok', 'x', "\x01\x01" ], 'an ok line without trailing space');
$c = parse_vector_line('err e | LENGTH 1 | 40 00000002 61');
is_deeply([ @$c{qw(kind code offset)} ], [ 'err', 'LENGTH', 1 ], 'an err line');
$c = parse_vector_line('frame f | 0x0005 | 01 00 0005 00000000');
is_deeply([ $c->{type}, scalar @{ $c->{fields} } ], [ 5, 0 ], 'a frame line without fields');
$c = parse_vector_line('ferr g | TOOBIG 4 | 01 00 0100 ffffffff');
is_deeply([ @$c{qw(kind code offset)} ], [ 'ferr', 'TOOBIG', 4 ], 'a ferr line');
$c = parse_stats_line('stats s | list:i64 [ ] list:f64 [ ] bytes: | u32:0');
is_deeply([ $c->{name}, scalar @{ $c->{request} }, scalar @{ $c->{reply} } ], [ 's', 3, 1 ], 'a stats line');
for my $bad ('ok x | u8:1', 'ok X | u8:1 | 01 01', 'okay x | | ', 'err e | NOPE 1 | 00',
             'err e | LENGTH | 00', 'frame f | 5 | 00', 'ok x | u8:1 | 01 01 | 02') {
    ok(!eval { parse_vector_line($bad); 1 }, "line '$bad' is refused");
}

my ($fh, $tmp) = tempfile(UNLINK => 1);
print $fh "# comment\n\nok a | u8:1 | 01 01\nok a | u8:2 | 01 02\n";
close $fh;
my $e = throws_wire { load_vectors($tmp) } 'INVAL', 'duplicate names are refused';
like($e->message, qr/line 4: duplicate name 'a'/, '... naming the line');
throws_wire { load_vectors("$tmp.missing") } 'IO', 'a missing file is IO';

done_testing;
