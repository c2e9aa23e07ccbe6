# SPDX-License-Identifier: MIT
# VECTOR_CHECK compares the payload's bytes where the comparison reaches them (issue 10): the same
# answer as decoding every field and comparing the value trees (compare_fields), on the ok vectors
# and mutations of them; a got text over 1024 characters is abbreviated.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;

use WireTest;
use Wire qw(:all);
use Wire::Interop;
use Wire::Notation qw(compare_fields);
use Wire::Vectors qw(load_vectors);

my $vectors = load_vectors(proto_file('vectors.txt'));
my $service = Wire::Interop->new(vectors => $vectors);
my @ok = grep { $_->{kind} eq 'ok' } @$vectors;
my %ok = map { $_->{name} => $_ } @ok;
my $name = sub { encode_fields([ [ string => $_[0] ] ]) };

sub err_of { my ($e) = @_; ref $e && $e->can('name') ? [ 'ERROR', $e->name, $e->offset ] : [ 'DIED', "$e" ] }

# The answer before: every field decoded, then compared as trees.
sub reference {
    my ($p) = @_;
    my $fields = eval { decode_fields($p) } or return err_of($@);
    return [ 'ERROR', 'MESSAGE' ] unless @$fields && $fields->[0][0] eq 'string';
    my ($head, @got) = @$fields;
    my $case = $ok{ $head->[1] } or return [ 2, '', '', '' ];
    my $diff = compare_fields($case->{fields}, \@got) or return [ 0, '', '', '' ];
    return [ 1, @$diff{qw(path expected got)} ];
}

sub answer {
    my ($p) = @_;
    my ($t, $r) = eval { $service->handle(MSG_VECTOR_CHECK, $p) };
    return err_of($@) unless defined $t;
    return [ 'TYPE', $t ] unless $t == MSG_VECTOR_RESULT;
    return [ map { $_->[1] } @{ decode_fields($r) } ];
}

# The same, or (a got text over 1024 characters) the same but got abbreviated.
my ($same, $abbreviated, @bad) = (0, 0);
sub check {
    my ($label, $p) = @_;
    my ($want, $have) = (reference($p), answer($p));
    splice @$have, 2 if @$want == 2 && $have->[0] eq 'ERROR';    # no name: MESSAGE, where is 40-service.t's
    if ($want->[0] eq '1' && length $want->[3] > 1024) {
        my $ok = $have->[0] eq '1' && $have->[1] eq $want->[1] && $have->[2] eq $want->[2]
              && length $have->[3] <= 1024
              && $have->[3] =~ /\A(?:list:\w+ \(\d+ elements\)|group \{ \.\.\. \}|(?:string|bytes):[0-9a-f]{96}\.\.\.\(\d+ bytes\))\z/;
        $ok ? $abbreviated++ : push @bad, [ $label, $want, $have ];
        return;
    }
    my $eq = @$want == @$have && !grep { ($want->[$_] // '') ne ($have->[$_] // '') } 0 .. $#$want;
    $eq ? $same++ : push @bad, [ $label, $want, $have ];
    return;
}

# Every vector against itself and an eighth of the others; each of its first 24 and last 8 bytes
# cut there, or changed (about 12,000 checks: some vectors are 64 KiB).
for my $k (0 .. $#ok) {
    my $v = $ok[$k];
    my ($n, $b) = ($name->($v->{name}), $v->{bytes});
    check("$v->{name}: itself", $n . $b);
    check("$v->{name}: nothing", $n);
    check("$v->{name}: twice", $n . $b . $b);
    check("$v->{name}: with $ok[$_]{name}", $n . $ok[$_]{bytes}) for grep { ($_ - $k) % 8 == 1 } 0 .. $#ok;
    for my $i (grep { $_ < 24 || $_ >= length($b) - 8 } 0 .. length($b) - 1) {
        check("$v->{name}: cut at $i", $n . substr $b, 0, $i);
        for my $x (0x01, 0x80, 0xff) {
            my $m = $b;
            vec($m, $i, 8) ^= $x;
            check("$v->{name}: byte $i ^ $x", $n . $m);
        }
    }
}

# Larger than the vectors: abbreviated got texts, and nesting.
my $list300 = encode_fields([ [ list => [ u8 => [ (7) x 300 ] ] ] ]);
check('u8.0 with a list of 300 u8', $name->('u8.0') . $list300);
check('u8.0 with u8:0 then a list of 300 u8', $name->('u8.0') . "\x01\x00" . $list300);
check('u8.0 with a string of 600 bytes', $name->('u8.0') . encode_fields([ [ string => 'a' x 600 ] ]));
check('u8.0 with bytes of 511 bytes', $name->('u8.0') . encode_fields([ [ bytes => "\x01" x 511 ] ]));
check('u8.0 with bytes of 512 bytes', $name->('u8.0') . encode_fields([ [ bytes => "\x01" x 512 ] ]));
check('u8.0 with a group of 300 u8', $name->('u8.0') . encode_fields([ [ group => [ ([ u8 => 1 ]) x 300 ] ] ]));
check('u8.0 with nested groups and lists',
      $name->('u8.0') . encode_fields([ [ group => [ [ list => [ group => [ [ [ u8 => 1 ], [ string => 'x' ] ] ] ] ],
                                                     [ list => [ list => [ [ u16 => [ 1, 2 ] ] ] ] ] ] ] ]));
for my $k (1 .. 3) {
    check("u8.0 with u8:0 then $k lists of 100 lists of 2 i8",
          $name->('u8.0') . "\x01\x00" . encode_fields([ ([ list => [ list => [ ([ i8 => [ 1, -1 ] ]) x 100 ] ] ]) x $k ]));
}

ok(!@bad, "VECTOR_CHECK answers as a full decode and compare_fields: $same the same, $abbreviated abbreviated")
    or diag(explain([ @bad[0 .. ($#bad < 4 ? $#bad : 4)] ]));
cmp_ok($abbreviated, '>=', 4, 'some got texts were abbreviated');
cmp_ok($same, '>', 9_000, 'and many compared');

my ($t, $p) = $service->handle(MSG_VECTOR_CHECK, $name->('u8.0') . $list300);
is_deeply([ map { $_->[1] } @{ decode_fields($p) } ], [ 1, '0', 'u8:0', 'list:u8 (300 elements)' ],
          'a list whose text is over 1024 characters: list:u8 (300 elements)');
($t, $p) = $service->handle(MSG_VECTOR_CHECK, $name->('u8.0') . encode_fields([ [ bytes => "\x01" x 600 ] ]));
is_deeply([ map { $_->[1] } @{ decode_fields($p) } ], [ 1, '0', 'u8:0', 'bytes:' . ('01' x 48) . '...(600 bytes)' ],
          'bytes over 1024 characters: the first 48 then ...(600 bytes)');

done_testing;
