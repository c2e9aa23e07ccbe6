#!/usr/bin/perl
# SPDX-License-Identifier: MIT
# The Perl peer's codec against Perl's plain packing of the same bytes (issue 11): the
# representative message encoded, decoded, and both, by Wire's generic API (encode_fields /
# decode_fields), by its precompiled layout (Wire::Layout), and by one pack / unpack with a
# constant template. Measured alternately in one process; medians of >= 5 runs of >= 0.2 s each.
#
#   perl bench/peers/codec_perl.pl [--seconds S] [--runs N]
#
# Prints free text, then lines "result perl <name> <unit> <median> <min> <max>".
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../../interop/perl/lib";
use Getopt::Long;
use Time::HiRes qw(time);
use Wire qw(encode_fields decode_fields);
# Wire::Layout is newer than the generic API: without it (an older tree) its rows are left out.
my $have_layout = eval { require Wire::Layout; 1 };

my $started = time;
my $seconds = 20;
my $runs    = 5;
GetOptions('seconds=f' => \$seconds, 'runs=i' => \$runs)
    or die "usage: $0 [--seconds S] [--runs N]\n";
$runs = 5 if $runs < 5;

# ---------------------------------------------------------------------------------------------
# The representative message (bench/message.hex is the one truth)

my $hexfile = "$FindBin::Bin/../message.hex";
open my $fh, '<', $hexfile or die "$0: $hexfile: $!\n";
my $hex = <$fh>;
close $fh;
$hex =~ s/\s+//g;
my $expected = pack 'H*', $hex;

my $STR   = 'sensor-kitchen-1';
my $BYTES = join '', map { chr } 0 .. 15;
my $F64   = unpack 'd>', pack 'H*', '4035800000000000';    # 21.5
my @LIST  = (1, -2, 3, -4);

my $fields = [
    [ u32    => 16909060 ],
    [ i64    => -1234567890123 ],
    [ f64    => $F64 ],
    [ string => $STR ],
    [ bool   => 1 ],
    [ u16    => 513 ],
    [ bytes  => $BYTES ],
    [ list   => [ i32 => [@LIST] ] ],
];
my @TYPES  = qw(u32 i64 f64 string bool u16 bytes list:i32);
my @values = (16909060, -1234567890123, $F64, $STR, 1, 513, $BYTES, [@LIST]);
my $layout = $have_layout ? Wire::Layout->new(@TYPES) : undef;

# Plain packing: tags, the list's element tag and count are constants; N/a* writes the lengths.
my $TEMPLATE = 'C N C q> C d> C N/a* C C C n C N/a* C C N/l>';
sub plain_encode {
    my $s = $_[3];
    utf8::encode($s);
    return pack $TEMPLATE, 0x03, $_[0], 0x14, $_[1], 0x24, $_[2], 0x40, $s, 0x30, $_[4],
        0x02, $_[5], 0x41, $_[6], 0x50, 0x13, @{ $_[7] };
}
sub plain_decode {
    my (undef, $u32, undef, $i64, undef, $f64, undef, $s, undef, $bool, undef, $u16, undef,
        $bytes, undef, undef, @list) = unpack $TEMPLATE, $_[0];
    utf8::decode($s) or die "plain: bad UTF-8\n";    # validates, as Wire's decoder does
    return ($u32, $i64, $f64, $s, $bool, $u16, $bytes, \@list);
}

# ---------------------------------------------------------------------------------------------
# Start-up checks: the bytes, and the values decoded back

my $fail = 0;
sub check_bytes {
    my ($name, $got) = @_;
    return if $got eq $expected;
    print STDERR "$0: $name encodes " . unpack('H*', $got) . "\n   expected $hex\n";
    $fail = 1;
}
sub check_values {
    my ($name, @v) = @_;
    my $ok = @v == 8
        && $v[0] == 16909060 && $v[1] == -1234567890123
        && pack('d>', $v[2]) eq pack('d>', $F64)
        && $v[3] eq $STR && $v[4] == 1 && $v[5] == 513 && $v[6] eq $BYTES
        && ref $v[7] eq 'ARRAY' && "@{ $v[7] }" eq "@LIST";
    return if $ok;
    print STDERR "$0: $name decodes to other values\n";
    $fail = 1;
}
sub wire_values {
    my ($f) = @_;
    my @t = map { $_->[0] } @$f;
    if ("@t" ne 'u32 i64 f64 string bool u16 bytes list' || $f->[7][1][0] ne 'i32') {
        print STDERR "$0: wire decodes to other types: @t\n";
        $fail = 1;
        return ();
    }
    return ((map { $_->[1] } @$f[ 0 .. 6 ]), $f->[7][1][1]);
}

check_bytes('wire', encode_fields($fields));
check_bytes('wire layout', $layout->encode(@values)) if $layout;
check_bytes('plain', plain_encode(@values));
check_values('wire', wire_values(decode_fields($expected)));
check_values('wire layout', $layout->decode($expected)) if $layout;
check_values('plain', plain_decode($expected));
exit 1 if $fail;

# ---------------------------------------------------------------------------------------------
# Timing

my %BENCH = (
    'wire.encode'         => sub { encode_fields($fields) for 1 .. $_[0] },
    'wire.decode'         => sub { decode_fields($expected) for 1 .. $_[0] },
    'wire.encode_decode'  => sub { decode_fields(encode_fields($fields)) for 1 .. $_[0] },
    'layout.encode'       => sub { $layout->encode(@values) for 1 .. $_[0] },
    'layout.decode'       => sub { my @v = $layout->decode($expected) for 1 .. $_[0] },
    'layout.encode_decode'=> sub { my @v = $layout->decode($layout->encode(@values)) for 1 .. $_[0] },
    'plain.encode'        => sub { plain_encode(@values) for 1 .. $_[0] },
    'plain.decode'        => sub { my @v = plain_decode($expected) for 1 .. $_[0] },
    'plain.encode_decode' => sub { my @v = plain_decode(plain_encode(@values)) for 1 .. $_[0] },
);
my @OPS   = qw(encode decode encode_decode);
my @IMPLS = $layout ? qw(wire layout plain) : qw(wire plain);
delete @BENCH{ grep { /^layout/ } keys %BENCH } unless $layout;
my $names = @OPS * @IMPLS;

# Each run lasts about $run_s: 80% of the budget shared out, never under 0.25 s (so a --seconds
# below about 9 x 5 x 0.25 = 11 s is not honoured; 20 s by default). Iteration counts follow the
# machine's speed from run to run (on a shared machine it changes), so the whole stays bounded.
my $calib_s = 0.05;
my $run_s   = ($seconds * 0.8 - $names * $calib_s) / ($names * $runs);
$run_s = 0.25 if $run_s < 0.25;

sub timed {
    my ($code, $n) = @_;
    my $t0 = time;
    $code->($n);
    return time - $t0;
}

# Iterations per run from a short calibration of each name.
my %iters;
for my $name (sort keys %BENCH) {
    my $n = 100;
    my $t;
    $n *= 2 while ($t = timed($BENCH{$name}, $n)) < $calib_s;
    $iters{$name} = int($n * $run_s / $t) + 1;
}

my (%us, %ratio);
for my $r (1 .. $runs) {
    for my $op (@OPS) {
        my %this;
        # Alternate the order each run, so neither side always runs first.
        my @order = $r % 2 ? @IMPLS : reverse @IMPLS;
        for my $impl (@order) {
            my $name = "$impl.$op";
            my $t = timed($BENCH{$name}, $iters{$name});
            $this{$impl} = $t / $iters{$name} * 1e6;
            push @{ $us{$name} }, $this{$impl};
            $iters{$name} = int($iters{$name} * $run_s / $t) + 1;
        }
        push @{ $ratio{"ratio.$op"} },        $this{wire} / $this{plain};
        push @{ $ratio{"ratio_layout.$op"} }, $this{layout} / $this{plain} if $layout;
    }
}

sub stats {
    my @s = sort { $a <=> $b } @_;
    my $m = @s % 2 ? $s[ $#s / 2 ] : ($s[ @s / 2 - 1 ] + $s[ @s / 2 ]) / 2;
    return ($m, $s[0], $s[-1]);
}

printf "Perl %vd, %d runs of about %.2f s per figure, alternating, %.1f s in all\n", $^V, $runs,
    $run_s, time - $started;
print "wire = encode_fields/decode_fields (generic API), layout = Wire::Layout (precompiled),\n"
    . "plain = one pack/unpack with a constant template; ratio = wire/plain per run pair\n";
for my $op (@OPS) {
    for my $impl (@IMPLS) {
        printf "result perl %s us %.3f %.3f %.3f\n", "$impl.$op", stats(@{ $us{"$impl.$op"} });
    }
    printf "result perl %s x %.2f %.2f %.2f\n", "ratio.$op", stats(@{ $ratio{"ratio.$op"} });
    printf "result perl %s x %.2f %.2f %.2f\n", "ratio_layout.$op",
        stats(@{ $ratio{"ratio_layout.$op"} }) if $layout;
}
exit 0;
