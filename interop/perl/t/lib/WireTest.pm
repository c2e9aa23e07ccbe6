package WireTest;

# Shared by the tests: where proto/ is, and a way to look at a thrown Wire::Error.

use strict;
use warnings;

use Exporter 'import';
use File::Spec;
use FindBin;
use Test::More;

our @EXPORT = qw(proto_file error_of throws_wire);

sub proto_file {
    my ($name) = @_;
    return File::Spec->catfile($FindBin::Bin, File::Spec->updir, File::Spec->updir,
                               File::Spec->updir, 'proto', $name);
}

# The Wire::Error thrown by $code, or undef if it returned. Anything else thrown is re-thrown.
sub error_of(&) {
    my ($code) = @_;
    return undef if eval { $code->(); 1 };
    my $e = $@;
    die $e unless ref $e && $e->isa('Wire::Error');
    return $e;
}

# One test: $code throws a Wire::Error named $name (and at $offset when $offset is given;
# the string 'none' asks for an undefined offset).
sub throws_wire(&$$;$) {
    my ($code, $name, $label, $offset) = @_;
    my $e = eval { error_of(\&$code) };
    my $got = !defined $e ? ($@ ? "died: $@" : 'no error')
            : $e->name . ' at ' . ($e->offset // 'none');
    my $want = $name . (defined $offset ? " at $offset" : '');
    my $ok = defined $e && $e->name eq $name
          && (!defined $offset || ($offset eq 'none' ? !defined $e->offset
                                                     : defined $e->offset && $e->offset == $offset));
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    ok($ok, $label) or diag("want $want, got $got");
    return $e;
}

1;
