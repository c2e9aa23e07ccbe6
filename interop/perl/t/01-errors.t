# SPDX-License-Identifier: MIT
# The error table equals proto/errors.txt, and Wire::Error behaves as documented.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;

use WireTest;
use Wire::Error qw(:codes wire_error);

my $path = proto_file('errors.txt');
open my $fh, '<', $path or BAIL_OUT("cannot open $path: $!");
my @file = map { chomp; $_ } grep { !/\A#/ && /\S/ } <$fh>;
my @ours = map { join ' ', @$_ } Wire::Error->table;
is_deeply(\@ours, \@file, 'Wire::Error table equals proto/errors.txt line by line');

for my $row (Wire::Error->table) {
    my ($code, $name) = @$row;
    no strict 'refs';
    is(&{"Wire::Error::E_$name"}(), $code, "E_$name is $code");
    is(Wire::Error->code_of($name), $code, "code_of $name");
    is(Wire::Error->name_of($code), $name, "name_of $code");
}

my $e = error_of { wire_error('UTF8', 13, 'ill-formed') };
isa_ok($e, 'Wire::Error');
is($e->code, E_UTF8, 'code');
is($e->name, 'UTF8', 'name');
is($e->offset, 13, 'offset');
is($e->message, 'ill-formed', 'message');
is("$e", 'wire error UTF8 (5) at offset 13: ill-formed', 'stringification');

my $n = error_of { Wire::Error->throw(E_IO) };
is($n->offset, undef, 'no offset');
is("$n", 'wire error IO (15): I/O error', 'default message, no offset in the text');
ok($n ? 1 : 0, 'an error object is true');

my $app = Wire::Error->new(code => 300, message => 'app');
is($app->name, 'APP300', 'application codes get a generated name');
ok(!eval { Wire::Error->new(code => 'NOPE'); 1 }, 'unknown names are refused');
ok(!eval { Wire::Error->new(code => 70000); 1 }, 'codes above 65535 are refused');

done_testing;
