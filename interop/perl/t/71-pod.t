# SPDX-License-Identifier: MIT
# The POD of every module and program: podchecker finds no error and no warning, and no formatting
# code was cut short by a ">" of its own text (C<[ a => b ]> renders as "[ a =" b ]>).
use strict;
use warnings;

use FindBin;
use File::Find;
use File::Spec;
use Pod::Checker;
use Pod::Simple::SimpleTree;
use Test::More;

my $dir = File::Spec->catdir($FindBin::Bin, File::Spec->updir);
my @files;
find({ no_chdir => 1, wanted => sub { push @files, $_ if /\.pm\z/ } }, "$dir/lib");
push @files, grep { -f } map { "$dir/$_" } qw(server.pl client.pl);
@files = sort @files;
cmp_ok(scalar @files, '>=', 11, 'found the modules (' . scalar(@files) . ' files)');

# The text of every formatting code (C<>, B<>, I<>, F<>), from the parsed tree.
sub codes {
    my ($node, $out) = @_;
    return unless ref $node eq 'ARRAY';
    my ($name, undef, @kids) = @$node;
    push @$out, join '', map { ref $_ ? '' : $_ } @kids if $name =~ /\A[CBIF]\z/;
    codes($_, $out) for @kids;
}

for my $f (@files) {
    (my $short = $f) =~ s{\A\Q$dir\E/}{};
    my $report = '';
    open my $out, '>', \$report or die;
    my $c = Pod::Checker->new(-warnings => 2);
    $c->parse_from_file($f, $out);
    ok($c->num_errors == 0 && $c->num_warnings == 0, "podchecker: $short: no errors, no warnings")
        or diag($report);
    my $tree = Pod::Simple::SimpleTree->new->parse_file($f)->root;
    my @codes;
    codes($tree, \@codes);
    my @cut = grep { /[^-=!<>~\s]\s*[-=]\z/ } @codes;    # "==" alone is an operator, fine
    ok(!@cut, "$short: no formatting code ends in '=' or '-' (a '>' of => or -> ended it)")
        or diag(join "\n", map { "  C<$_>" } @cut);
}

done_testing;
