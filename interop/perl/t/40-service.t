# SPDX-License-Identifier: MIT
# The interop service without sockets: every request type, replies and refusals.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;

use WireTest;
use Wire qw(:all);
use Wire::Interop;
use Wire::Notation qw(parse_fields);
use Wire::Vectors qw(load_vectors);

my $vectors = load_vectors(proto_file('vectors.txt'));
my $service = Wire::Interop->new(vectors => $vectors);
my @ok = grep { $_->{kind} eq 'ok' } @$vectors;
my $name = sub { encode_fields([ [ string => $_[0] ] ]) };

sub result { [ map { $_->[1] } @{ decode_fields($_[0]) } ] }

my (@get_bad, @check_bad, @rt_bad);
for my $v (@ok) {
    my ($t, $p) = $service->handle(MSG_VECTOR_GET, $name->($v->{name}));
    push @get_bad, $v->{name} unless $t == MSG_VECTOR_DATA && $p eq $name->($v->{name}) . $v->{bytes};
    ($t, $p) = $service->handle(MSG_VECTOR_CHECK, $name->($v->{name}) . $v->{bytes});
    push @check_bad, $v->{name} unless $t == MSG_VECTOR_RESULT && result($p)->[0] == 0;
    ($t, $p) = $service->handle(MSG_ROUNDTRIP, $v->{bytes});
    push @rt_bad, $v->{name} unless $t == MSG_ROUNDTRIP_REPLY && $p eq $v->{bytes};
}
ok(!@get_bad, 'VECTOR_GET gives name + hex for all ' . @ok . ' ok vectors') or diag("@get_bad");
ok(!@check_bad, 'VECTOR_CHECK matches all ok vectors') or diag("@check_bad");
ok(!@rt_bad, 'ROUNDTRIP reproduces all ok vectors') or diag("@rt_bad");

my ($t, $p) = $service->handle(MSG_VECTOR_CHECK, $name->('u16.0') . encode_fields(parse_fields('u16:1')));
is_deeply(result($p), [ 1, '0', 'u16:0', 'u16:1' ], 'VECTOR_CHECK: a wrong value');
($t, $p) = $service->handle(MSG_VECTOR_CHECK, $name->('u16.0'));
is_deeply(result($p), [ 1, '0', 'u16:0', '(missing)' ], 'VECTOR_CHECK: a missing field');
($t, $p) = $service->handle(MSG_VECTOR_CHECK, $name->('no-such-vector'));
is_deeply(result($p), [ 2, '', '', '' ], 'VECTOR_CHECK: unknown name');
my ($err) = grep { $_->{kind} eq 'err' } @$vectors;
($t, $p) = $service->handle(MSG_VECTOR_CHECK, $name->($err->{name}));
is(result($p)->[0], 2, 'VECTOR_CHECK: err vectors cannot be checked');
($t, $p) = $service->handle(MSG_VECTOR_GET, $name->('no-such-vector'));
is_deeply([ $t, @{ result($p) } ], [ MSG_VECTOR_RESULT, 2, '', '', '' ], 'VECTOR_GET: unknown name');
($t, $p) = $service->handle(MSG_ECHO, "\0\xff");
is_deeply([ $t, $p ], [ MSG_ECHO_REPLY, "\0\xff" ], 'ECHO');

throws_wire { $service->handle(MSG_VECTOR_CHECK, encode_fields(parse_fields('u8:1'))) } 'MESSAGE',
    'VECTOR_CHECK without a name', 0;
throws_wire { $service->handle(MSG_VECTOR_CHECK, '') } 'MESSAGE', 'VECTOR_CHECK empty', 0;
throws_wire { $service->handle(MSG_VECTOR_GET, $name->('x') . "\x01\x01") } 'MESSAGE',
    'VECTOR_GET with an extra field', 6;
throws_wire { $service->handle(MSG_VECTOR_CHECK, $name->('u8.0') . "\x30\x02") } 'BADBOOL',
    'VECTOR_CHECK with a bad payload: payload offset', 10;
for my $e (grep { $_->{kind} eq 'err' } @$vectors) {
    throws_wire { $service->handle(MSG_ROUNDTRIP, $e->{bytes}) } $e->{code},
        "ROUNDTRIP refuses $e->{name}", $e->{offset};
}
ok(!$service->handles(MSG_PING), 'control messages are not the service\'s');
throws_wire { $service->handle(0x0200, '') } 'UNEXPECTED', 'unknown request type';

done_testing;
