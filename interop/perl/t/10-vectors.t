# SPDX-License-Identifier: MIT
# Every case of proto/vectors.txt: ok (encode, decode, re-encode), err (code and offset),
# frame (header, payload fields, encode, incremental parser), ferr (rejected from the header alone).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;

use WireTest;
use Wire qw(:all);
use Wire::FrameParser;
use Wire::Notation qw(compare_fields format_fields format_hex);
use Wire::Vectors qw(load_vectors);

my $path = proto_file('vectors.txt');
ok(-f $path, "proto/vectors.txt exists ($path)") or BAIL_OUT('no vectors');
my $cases = load_vectors($path);
my %kinds;
$kinds{ $_->{kind} }++ for @$cases;
ok($kinds{$_}, "vectors.txt has $_ cases") for qw(ok err frame ferr);

sub diff_text {
    my ($d) = @_;
    return $d ? "at $d->{path}: expected $d->{expected}, got $d->{got}" : '';
}

for my $c (@$cases) {
    my $n = "$c->{kind} $c->{name}";
    if ($c->{kind} eq 'ok') {
        my $enc = eval { encode_fields($c->{fields}) };
        is(defined $enc ? format_hex($enc) : "error: $@", format_hex($c->{bytes}), "$n: encode");
        my $dec = eval { decode_fields($c->{bytes}) };
        if (!$dec) {
            fail("$n: decode ($@)");
            fail("$n: re-encode");
            next;
        }
        my $d = compare_fields($c->{fields}, $dec);
        ok(!$d, "$n: decode gives the values") or diag(diff_text($d));
        my $re = eval { encode_fields($dec) };
        is(defined $re ? format_hex($re) : "error: $@", format_hex($c->{bytes}), "$n: re-encode");
    }
    elsif ($c->{kind} eq 'err') {
        throws_wire { decode_fields($c->{bytes}) } $c->{code}, "$n: decode fails", $c->{offset};
    }
    elsif ($c->{kind} eq 'frame') {
        my ($type, $payload) = eval { decode_frame($c->{bytes}, DEFAULT_MAX_PAYLOAD) };
        is($type, $c->{type}, "$n: header") or diag($@);
        my $dec = eval { decode_fields($payload // '') };
        my $d = $dec ? compare_fields($c->{fields}, $dec) : { path => '-', expected => '', got => "$@" };
        ok(!$d, "$n: payload decodes to the fields") or diag(diff_text($d));
        my $enc = eval { encode_frame($c->{type}, encode_fields($c->{fields})) };
        is(defined $enc ? format_hex($enc) : "error: $@", format_hex($c->{bytes}), "$n: encode");
        my $p = Wire::FrameParser->new;
        $p->push($_) for split //, $c->{bytes};
        my @got = $p->next_frame;
        ok(@got == 2 && $got[0] == $c->{type} && $got[1] eq $payload && !$p->buffered,
           "$n: incremental parser, one byte at a time");
    }
    else {    # ferr: the header alone is enough to reject
        my $header = substr $c->{bytes}, 0, 8;
        throws_wire { decode_header($header, DEFAULT_MAX_PAYLOAD) } $c->{code},
            "$n: header rejected", $c->{offset};
        throws_wire { decode_frame($c->{bytes}, DEFAULT_MAX_PAYLOAD) } $c->{code},
            "$n: whole frame rejected", $c->{offset};
        my $p = Wire::FrameParser->new(max_payload => DEFAULT_MAX_PAYLOAD);
        throws_wire { $p->push($header) } $c->{code}, "$n: parser rejects on the 8th byte",
            $c->{offset};
    }
}

done_testing;
