# SPDX-License-Identifier: MIT
# proto/stats.txt computed locally (directly and through the service's STATS handler), and the
# arithmetic traps behind it.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;

use WireTest;
use Wire qw(:all);
use Wire::Interop qw(stats_fields f64_add crc32 echo_pattern);
use Wire::Notation qw(compare_fields parse_fields);
use Wire::Vectors qw(load_stats);

my $path = proto_file('stats.txt');
ok(-f $path, "proto/stats.txt exists ($path)") or BAIL_OUT('no stats');
my $cases = load_stats($path);
ok(@$cases >= 8, scalar(@$cases) . ' stats cases');

my $service = Wire::Interop->new;
for my $c (@$cases) {
    my ($i64, $f64, $bytes) = map { $_->[1] } @{ $c->{request} };
    my $d = compare_fields($c->{reply}, stats_fields($i64->[1], $f64->[1], $bytes));
    ok(!$d, "$c->{name}: computed reply") or diag("at $d->{path}: expected $d->{expected}, got $d->{got}");

    my ($type, $payload) = $service->handle(MSG_STATS, encode_fields($c->{request}));
    is($type, MSG_STATS_REPLY, "$c->{name}: STATS_REPLY");
    $d = compare_fields($c->{reply}, decode_fields($payload));
    ok(!$d, "$c->{name}: reply through the service") or diag("at $d->{path}: expected $d->{expected}, got $d->{got}");
}

# Perl's "+" adds integral doubles as integers; f64_add must be one IEEE addition.
{
    my ($a, $b, $c) = (9007199254740991.0, 2.0, -1.0);    # 2**53-1, 2, -1
    my $ieee = f64_add(f64_add(f64_add(0.0, $a), $b), $c);
    is(unpack('H*', pack 'd>', $ieee), unpack('H*', pack 'd>', 9007199254740991.0),
       'f64_add: (2**53-1) + 2 rounds to 2**53, then - 1 gives 2**53-1');
    my $perl = $a + $b + $c;
    isnt($perl, 9007199254740991, "Perl's own + keeps integer precision here (the trap)");
    my $r = stats_fields([], [ $a, $b, $c ], '');
    is(unpack('H*', pack 'd>', $r->[3][1]), unpack('H*', pack 'd>', 9007199254740991.0),
       'stats_fields sums with IEEE additions, not with Perl\'s +');
    my $qnan = unpack 'd>', pack 'H*', '7ff8000000000000';
    my $snan = unpack 'd>', pack 'H*', '7ff0000000000001';
    is(unpack('H*', pack 'd>', f64_add(1.0, $snan)), '7ff8000000000001', 'a NaN element is made quiet');
    is(unpack('H*', pack 'd>', f64_add($qnan, $snan)), '7ff8000000000000', 'the NaN accumulator wins');
    is(unpack('H*', pack 'd>', f64_add(0.0, -0.0)), '0000000000000000', '+0.0 + -0.0 = +0.0');
    is(unpack('H*', pack 'd>', f64_add(-0.0, -0.0)), '8000000000000000', '-0.0 + -0.0 = -0.0');
}

is(crc32('123456789'), 0xcbf43926, 'CRC-32 check value');
is(crc32(''), 0, 'CRC-32 of nothing');
is(unpack('H*', echo_pattern(4)), '078a0d90', 'echo pattern starts 07 8a 0d 90');
is(length echo_pattern(1048576), 1048576, 'echo pattern length');
is(substr(echo_pattern(600), 256, 4), substr(echo_pattern(4), 0, 4), 'echo pattern period 256');

# The service refuses STATS payloads that are not (list of i64, list of f64, bytes). A list of the
# wrong element type is MESSAGE at its element tag, the first byte of the value (SPEC 7.2).
for my $bad ([ 'list:i64 [ ] list:f64 [ ]', 'MESSAGE', 12, 'bytes missing' ],
             [ 'list:u64 [ ] list:f64 [ ] bytes:', 'MESSAGE', 1, 'list of u64 (at the element tag)' ],
             [ 'list:i64 [ ] list:i64 [ ] bytes:', 'MESSAGE', 7, 'two lists of i64 (at the element tag)' ],
             [ 'u64:1 list:f64 [ ] bytes:', 'MESSAGE', 0, 'a u64 instead of the list (at its tag)' ],
             [ 'list:i64 [ ] bytes: bytes:', 'MESSAGE', 6, 'bytes instead of the f64 list' ],
             [ 'list:i64 [ ] list:f64 [ ] bytes: u8:1', 'MESSAGE', 17, 'an extra field' ]) {
    my ($text, $code, $offset, $label) = @$bad;
    throws_wire { $service->handle(MSG_STATS, encode_fields(parse_fields($text))) } $code,
        "STATS refuses: $label", $offset;
}

# Large lists are summed a slice at a time (4096 values, 64 KiB of bytes): the same answer as all at
# once, also for the order-sensitive f64 sum, and across slice edges.
{
    srand 7;
    my @i = map { int(rand 2**62) - 2**61 } 1 .. 10000;
    push @i, 9223372036854775807, -9223372036854775807 - 1;
    my @f = map { (rand() - 0.5) * 10**(int(rand 40) - 20) } 1 .. 9999;
    push @f, 2**53, 1.0, -1.0;
    my $bytes = join '', map { chr int rand 256 } 1 .. 200003;
    my ($type, $payload) = $service->handle(MSG_STATS, encode_fields([ [ list => [ i64 => \@i ] ],
                                                                      [ list => [ f64 => \@f ] ],
                                                                      [ bytes => $bytes ] ]));
    is($type, MSG_STATS_REPLY, 'STATS of 10002 i64, 10002 f64 and 200003 bytes: STATS_REPLY');
    is(unpack('H*', $payload), unpack('H*', encode_fields(stats_fields(\@i, \@f, $bytes))),
       '... the sums, extremes and CRC of the values all at once');
}

done_testing;
