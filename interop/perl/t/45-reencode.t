# SPDX-License-Identifier: MIT
# reencode_fields (ROUNDTRIP without a value tree) against decode_fields then encode_fields: the same
# bytes, or the same error at the same offset, for every vector, for mutations of them, and for the
# shapes the walk treats apart (fixed-size lists in chunks, lists of lists inline, groups, depth).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;

use WireTest;
use Wire qw(:all);
use Wire::Vectors qw(load_vectors);

# What a payload gives: its re-encoding in hex, or the error's name and offset.
sub outcome {
    my ($code) = @_;
    my $out = eval { $code->() };
    return 'bytes ' . unpack('H*', $out) if defined $out;
    my $e = $@;
    return ref $e && $e->isa('Wire::Error') ? $e->name . ' at ' . ($e->offset // 'none') : "died: $e";
}
sub reference { my ($p) = @_; outcome(sub { encode_fields(decode_fields($p)) }) }
sub walk      { my ($p) = @_; outcome(sub { reencode_fields($p) }) }

my @payloads = map { $_->{bytes} } grep { $_->{kind} eq 'ok' || $_->{kind} eq 'err' }
                                       @{ load_vectors(proto_file('vectors.txt')) };
cmp_ok(scalar @payloads, '>', 200, 'vectors.txt gives the ok and err payloads');
my @differ = grep { reference($_) ne walk($_) } @payloads;
ok(!@differ, 'every ok and err vector: the same bytes or the same error')
    or diag(map { unpack('H*', $_) . ': ' . reference($_) . ' vs ' . walk($_) . "\n" } @differ[0 .. 4]);

# Mutations: one byte changed, one byte dropped or the payload cut, seeded so that a failure repeats.
srand 20261202;
my ($n, @bad) = (0);
for my $p (grep { length } @payloads) {
    for (1 .. 12) {
        my $m = $p;
        my $at = int rand length $m;
        my $how = int rand 3;
        if ($how == 0) { substr($m, $at, 1) = chr int rand 256 }
        elsif ($how == 1) { substr($m, $at, 1) = '' }
        else { $m = substr $m, 0, $at }
        $n++;
        push @bad, $m if reference($m) ne walk($m);
    }
}
ok(!@bad, "$n mutated vectors: the same bytes or the same error")
    or diag(map { unpack('H*', $_) . ': ' . reference($_) . ' vs ' . walk($_) . "\n" } @bad[0 .. 4]);

# Shapes: each is compared with the reference and must be what its name says.
my $lol = sub {    # a list of $n lists of u8, each of $k elements
    my ($n, $k) = @_;
    pack('CCN', 0x50, 0x50, $n) . (pack('CN', 0x01, $k) . ("\x01" x $k)) x $n;
};
my $nest = sub {    # $d nested lists (list:list of one element, ...) around an empty list:u8
    my ($d) = @_;
    pack('CC', 0x50, 0x50) . (pack('N', 1) . "\x50") x ($d - 2) . pack('N', 1) . pack('CN', 0x01, 0);
};
my $groups = sub {    # $d nested groups around a u8
    my ($d) = @_;
    my $v = "\x01\x07";
    $v = "\x51" . pack('N', length $v) . $v for 1 .. $d;
    return $v;
};
my @shapes = (
    [ 'bool list over several chunks', pack('CCN', 0x50, 0x30, 10000) . ("\x01\x00" x 5000), qr/\Abytes / ],
    [ 'bool list, bad byte in the third chunk', pack('CCN', 0x50, 0x30, 10000) . ("\x01" x 9000) . "\x02" . ("\x00" x 999),
      qr/\ABADBOOL at 9006\z/ ],
    [ 'u16 list over several chunks', pack('CCN', 0x50, 0x02, 9000) . pack('n*', 1 .. 9000), qr/\Abytes / ],
    [ 'u16 list one byte short', pack('CCN', 0x50, 0x02, 9000) . substr(pack('n*', 1 .. 9000), 1), qr/\ALENGTH at 2\z/ ],
    [ 'f32 and f64 lists, NaN payloads', pack('CCN', 0x50, 0x23, 2) . pack('NN', 0x7f800001, 0xffc00001)
      . pack('CCN', 0x50, 0x24, 1) . pack('H*', '7ff0000000000001'), qr/\Abytes / ],
    [ 'list of lists, empty and not', $lol->(3, 0) . $lol->(3, 2), qr/\Abytes / ],
    [ 'list of lists, an inner count too large', pack('CCN', 0x50, 0x50, 2) . pack('CN', 0x01, 0) . pack('CN', 0x01, 9),
      qr/\ALENGTH at 12\z/ ],
    [ 'list of lists, an inner element tag unknown', pack('CCN', 0x50, 0x50, 2) . pack('CN', 0x01, 0) . pack('CN', 0x7f, 0),
      qr/\ABADTAG at 11\z/ ],
    [ 'list of lists cut in an element count', substr(pack('CCN', 0x50, 0x50, 2) . pack('CN', 0x01, 0) x 2, 0, 14),
      qr/\ALENGTH at 2\z/ ],
    [ 'list of lists of strings', pack('CCN', 0x50, 0x50, 1) . pack('CN', 0x40, 2) . pack('N', 1) . 'a' . pack('N', 2) . "\xc3\xa9",
      qr/\Abytes / ],
    [ 'list of lists of strings, bad UTF-8', pack('CCN', 0x50, 0x50, 1) . pack('CN', 0x40, 1) . pack('N', 1) . "\xff",
      qr/\AUTF8 at 15\z/ ],
    [ 'lists nested 32 deep', $nest->(32), qr/\Abytes / ],
    [ 'lists nested 33 deep', $nest->(33), qr/\ADEPTH at 161\z/ ],
    [ 'lists nested 100000 deep', $nest->(100000), qr/\ADEPTH at 161\z/ ],
    [ 'groups nested 32 deep', $groups->(32), qr/\Abytes / ],
    [ 'groups nested 33 deep', $groups->(33), qr/\ADEPTH at 160\z/ ],
    [ 'a list of groups', pack('CCN', 0x50, 0x51, 2) . pack('N', 2) . "\x01\x05" . pack('N', 0), qr/\Abytes / ],
    [ 'bytes over several slices', pack('CN', 0x41, 200001) . substr(pack('N*', 0 .. 50000), 0, 200001), qr/\Abytes / ],
    [ 'bytes over several slices, one short', pack('CN', 0x41, 200001) . substr(pack('N*', 0 .. 50000), 0, 200000),
      qr/\ALENGTH at 1\z/ ],
    [ 'a string over several slices, multibyte characters across each cut',
      pack('CN', 0x40, 200004) . ("\xe2\x82\xac" x 66667) . "a\xf0\x9f", qr/\AUTF8 at 200007\z/ ],
    [ 'a string over several slices', pack('CN', 0x40, 200004) . ("\xf0\x9f\x98\x80" x 50001), qr/\Abytes / ],
    [ 'a string over several slices, cut inside characters', pack('CN', 0x40, 200001) . ("\xe2\x82\xac" x 66667),
      qr/\Abytes / ],
    [ 'strings and bytes', pack('CN', 0x40, 3) . "a\xc3\xa9" . pack('CN', 0x41, 2) . "\xff\x00", qr/\Abytes / ],
);
for my $s (@shapes) {
    my ($label, $p, $want) = @$s;
    my $got = walk($p);
    is($got, reference($p), "$label: as decode then encode");
    like($got, $want, "$label: " . ($want =~ /bytes/ ? 'bytes' : 'the error'));
    is($got, 'bytes ' . unpack('H*', $p), "$label: the input again") if $want =~ /bytes/;
}

# A payload given as a utf8-flagged string is judged as its octets, as decode_fields does.
my $u = pack('CN', 0x41, 1) . "\xe9";
utf8::upgrade($u);
is(walk($u), 'bytes ' . unpack('H*', pack('CN', 0x41, 1) . "\xe9"), 'a utf8-flagged payload: its octets');
is(walk(pack('CN', 0x41, 1) . "\x{100}"), 'RANGE at none', 'a payload with a character above 0xFF: RANGE');

done_testing;
