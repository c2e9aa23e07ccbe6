# SPDX-License-Identifier: MIT
# The incremental frame parser: every split point, one byte at a time, early rejection.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;

use WireTest;
use Wire qw(:all);
use Wire::FrameParser;
use Wire::Vectors qw(load_vectors);

my @frames = (
    [ MSG_BYE, '' ],
    [ MSG_PING, "\1\2\3\4\5\6\7\x08" ],
    [ MSG_ECHO, join '', map { chr(($_ * 131 + 7) % 256) } 0 .. 299 ],
    [ 0xfffe, encode_fields([ [ u8 => 1 ] ]) ],
);
push @frames, map { [ Wire::decode_frame($_->{bytes}) ] }
              grep { $_->{kind} eq 'frame' } @{ load_vectors(proto_file('vectors.txt')) };
my $stream = join '', map { encode_frame(@$_) } @frames;
my $expect = join "\n", map { "$_->[0]:" . unpack 'H*', $_->[1] } @frames;

sub drain {
    my ($p, $out) = @_;
    while (my ($t, $payload) = $p->next_frame) {
        push @$out, "$t:" . unpack 'H*', $payload;
    }
}

my @bad;
for my $k (0 .. length $stream) {
    my $p = Wire::FrameParser->new;
    my @got;
    $p->push(substr $stream, 0, $k);
    drain($p, \@got);
    $p->push(substr $stream, $k);
    drain($p, \@got);
    push @bad, $k if join("\n", @got) ne $expect || $p->buffered;
}
ok(!@bad, 'all ' . (length($stream) + 1) . ' split points give the same ' . scalar(@frames) . ' frames')
    or diag("bad split points: @bad[0 .. ($#bad < 9 ? $#bad : 9)]");

{
    my $p = Wire::FrameParser->new;
    my @got;
    for my $byte (split //, $stream) {
        $p->push($byte);
        drain($p, \@got);
    }
    is(join("\n", @got), $expect, 'one byte at a time');
}
{
    my $p = Wire::FrameParser->new;
    my @got;
    $p->push($stream);
    drain($p, \@got);
    is(join("\n", @got), $expect, 'all at once');
    $p->push('');
    is_deeply([ $p->next_frame ], [], 'nothing more');
}
{    # three-way splits, pseudo-random but reproducible
    my $seed = 12345;
    my $rand = sub { $seed = ($seed * 1103515245 + 12345) % 2**31; $seed % $_[0] };
    my $fails = 0;
    for (1 .. 300) {
        my @cut = sort { $a <=> $b } map { $rand->(length($stream) + 1) } 1 .. 2;
        my $p = Wire::FrameParser->new;
        my @got;
        for my $piece (substr($stream, 0, $cut[0]), substr($stream, $cut[0], $cut[1] - $cut[0]),
                       substr($stream, $cut[1])) {
            $p->push($piece);
            drain($p, \@got);
        }
        $fails++ if join("\n", @got) ne $expect;
    }
    is($fails, 0, '300 three-way splits');
}

# An oversize length is rejected on the header's 8th byte, before any payload.
{
    my $p = Wire::FrameParser->new(max_payload => 16777216);
    my $h = encode_header(MSG_ECHO, 16777217);
    $p->push(substr $h, 0, 7);
    is_deeply([ $p->next_frame ], [], '7 header bytes: nothing yet, no error');
    throws_wire { $p->push(substr $h, 7) } 'TOOBIG', 'the 8th byte brings TOOBIG', 4;
    throws_wire { $p->next_frame } 'TOOBIG', 'the parser stays failed', 4;
    throws_wire { $p->push("\0") } 'TOOBIG', '... for push too', 4;
}
{
    my $p = Wire::FrameParser->new(max_payload => 16777216);
    is_deeply([ eval { $p->push(encode_header(MSG_ECHO, 16777216)); $p->next_frame } ], [],
              'a length of exactly 16777216 is accepted');
    ok(!$@, '... without error');
}
{
    my $p = Wire::FrameParser->new(max_payload => 10);
    $p->push(encode_frame(MSG_ECHO, 'x' x 10));
    is(($p->next_frame)[1], 'x' x 10, 'max_payload 10: 10 bytes pass');
    throws_wire { $p->push(encode_header(MSG_ECHO, 11)) } 'TOOBIG', 'max_payload 10: 11 is TOOBIG', 4;
}
{    # a good frame followed by a bad header: the frame comes out, then the error
    my $p = Wire::FrameParser->new;
    $p->push(encode_frame(MSG_PING, 'ab') . "\x02\0\0\1\0\0\0\0");
    is_deeply([ $p->next_frame ], [ MSG_PING, 'ab' ], 'the good frame first');
    throws_wire { $p->next_frame } 'VERSION', 'then the bad header', 0;
}
throws_wire { Wire::FrameParser->new->push("\1\1\0\1\0\0\0\0") } 'HEADER', 'flags', 1;
throws_wire { Wire::FrameParser->new->push("\1\0\0\0\0\0\0\0") } 'HEADER', 'type 0', 2;
throws_wire { Wire::FrameParser->new->push("\x{100}") } 'INVAL', 'characters above 0xFF';

done_testing;
