# SPDX-License-Identifier: MIT
# The HELLO and ERROR codec against every case of proto/control.txt (SPEC 7.2-7.4; the format is
# proto/README.md section 9): encoders, decoders with their codes and offsets, and RANGE refusals.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;

use WireTest;
use Wire qw(:all);
use Wire::Notation qw(format_fields format_hex);
use Wire::Vectors qw(load_control);

my $path  = proto_file('control.txt');
my $cases = load_control($path);

# A truncated or emptied file must not pass: every case line was loaded, and there are at least as
# many of each kind as when this test was written.
open my $fh, '<', $path or BAIL_OUT("cannot open $path: $!");
my $lines = grep { !/\A#/ && /\S/ } <$fh>;
is(scalar @$cases, $lines, "every case line of control.txt is a case ($lines)");
my %min = (hello => 4, 'hello-decode' => 2, 'hello-err' => 18, 'hello-range' => 3,
           error => 4, 'error-decode' => 1, 'error-err' => 9, 'error-range' => 1);
my %count;
$count{ $_->{kind} }++ for @$cases;
cmp_ok($count{$_} // 0, '>=', $min{$_}, "at least $min{$_} $_ cases") for sort keys %min;
is_deeply([ sort keys %count ], [ sort keys %min ], 'no other kind of case');

# The three fields as the decoders return them, and back.
sub hello_fields { my ($h) = @_; [ [ u16 => $h->{version} ], [ u32 => $h->{max_payload} ], [ string => $h->{name} ] ] }
sub error_fields {
    my ($e) = @_;
    return [ [ u16 => $e->code ], [ u32 => $e->offset // NO_OFFSET ], [ string => $e->message ] ];
}
my %decode = (hello => sub { hello_fields(parse_hello($_[0])) },
              error => sub { error_fields(parse_error($_[0])) });
my %encode = (
    hello => sub {
        my ($v, $max, $name) = map { $_->[1] } @{ $_[0] };
        die "the HELLO encoder only speaks version 1, not $v\n" if $v != PROTOCOL_VERSION;
        return hello_payload($name, $max);
    },
    error => sub { error_payload(map { $_->[1] } @{ $_[0] }) },
);

for my $c (@$cases) {
    my $label = "$c->{kind} $c->{name}";
    my ($enc, $dec) = ($encode{ $c->{message} }, $decode{ $c->{message} });
    if ($c->{test} eq 'codec' || $c->{test} eq 'decode') {
        my $got = eval { $dec->($c->{bytes}) };
        is(defined $got ? format_fields($got) : "error: $@", format_fields($c->{fields}), "$label: decodes");
        next if $c->{test} eq 'decode';
        my $bytes = eval { $enc->($c->{fields}) };
        is(defined $bytes ? format_hex($bytes) : "error: $@", format_hex($c->{bytes}), "$label: encodes");
    }
    elsif ($c->{test} eq 'err') {
        throws_wire { $dec->($c->{bytes}) } $c->{code}, "$label: $c->{code} at $c->{offset}", $c->{offset};
    }
    else {
        throws_wire { $enc->($c->{fields}) } 'RANGE', "$label: the encoder refuses it";
    }
}

# What the server adds: the frame offset is the payload offset plus the header.
my $e = error_of { parse_hello(encode_fields([ [ u16 => 1 ], [ u32 => 1 << 24 ], [ string => 'n' x 256 ] ])) };
is($e->offset + HEADER_SIZE, 17, 'a 256-byte name is ERROR(MESSAGE, 17) on the wire (SPEC 7.2)');

done_testing;
