# SPDX-License-Identifier: MIT
# The message type table equals proto/messages.txt and the limits equal proto/limits.txt (the error
# table is t/01-errors.t's).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;

use WireTest;
use Wire qw(:all);
use Wire::Interop;

sub case_lines {
    my ($name) = @_;
    my $path = proto_file($name);
    open my $fh, '<', $path or BAIL_OUT("cannot open $path: $!");
    return map { chomp; $_ } grep { !/\A#/ && /\S/ } <$fh>;
}

# --- messages.txt: <type> <NAME> <sent-by> <kind> [<field> ...] --------------------------------
my @rows = map { [ split ' ' ] } case_lines('messages.txt');
my @file = map {
    $_->[0] =~ /\A0x[0-9a-f]{4}\z/ or BAIL_OUT("messages.txt: bad type '$_->[0]'");
    [ hex $_->[0], $_->[1] ];
} @rows;
cmp_ok(scalar @file, '>=', 15, 'messages.txt has the 15 types of SPEC 7.1 at least');
is_deeply([ message_types() ], \@file, 'Wire message table equals messages.txt (number and NAME, in order)');
for my $row (@file) {
    my ($type, $name) = @$row;
    my $const = Wire->can("MSG_$name");
    is($const ? $const->() : undef, $type, sprintf 'MSG_%s is 0x%04x', $name, $type);
    is(message_name($type), $name, sprintf 'message_name(0x%04x) is %s', $type, $name);
}
is(message_name(0x0006), undef, 'an unassigned type has no name');

# The requests the service serves are exactly the client-sent interop types (0x0100..0x01ff).
my @requests = map { hex $_->[0] } grep { $_->[2] eq 'client' && hex $_->[0] >= 0x0100 } @rows;
my $service = Wire::Interop->new;
is_deeply([ grep { $service->handles($_) } 0x0100 .. 0x01ff ], \@requests,
          'Wire::Interop serves exactly the client requests of messages.txt');

# --- limits.txt: <name> <decimal value>, one constant each, named after it ---------------------
my %limits = map { /\A([a-z_]+) ([0-9]+)\z/ or BAIL_OUT("limits.txt: bad line '$_'"); ($1 => $2) }
             case_lines('limits.txt');
is_deeply([ sort keys %limits ],
          [ sort qw(header_size max_depth default_max_payload min_max_payload hello_name_max
                    error_text_max no_offset udp_max_datagram udp_max_payload) ],
          'limits.txt has the nine limits');
for my $name (sort keys %limits) {
    my $const = Wire->can(uc $name);
    is($const ? $const->() : undef, $limits{$name}, uc($name) . " is $limits{$name}");
}

done_testing;
