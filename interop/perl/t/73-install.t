# SPDX-License-Identifier: MIT
# The distribution the CPAN way, in a copy of interop/perl in a temporary directory (the source tree
# gets nothing generated): perl Makefile.PL && make && make test && make install into an
# INSTALL_BASE, its MANIFEST and META, then the installed modules used from outside the source tree.
use strict;
use warnings;

use Config;
use FindBin;
use File::Copy qw(copy);
use File::Find;
use File::Path qw(make_path);
use File::Spec;
use File::Temp qw(tempdir);
use JSON::PP;
use Test::More;

my $perl_dir = File::Spec->rel2abs(File::Spec->catdir($FindBin::Bin, File::Spec->updir));
my $proto    = File::Spec->catdir($perl_dir, File::Spec->updir, File::Spec->updir, 'proto');
my $make     = $Config{make} || 'make';
plan skip_all => "no $make" unless grep { -x "$_/$make" } File::Spec->path;

my @generated = qw(Makefile blib MYMETA.json MYMETA.yml pm_to_blib);
my @before = grep { -e "$perl_dir/$_" } @generated;

my $tmp  = tempdir(CLEANUP => 1);
my $src  = "$tmp/src/interop/perl";    # tests find proto/ two levels up, as in the tree
my $inst = "$tmp/inst";

# The copy: the files git would have (no build output from someone's run in the tree).
sub copy_tree {
    my ($from, $to) = @_;
    find({ no_chdir => 1, wanted => sub {
        my $rel = File::Spec->abs2rel($_, $from);
        if ($rel =~ m{\A(?:blib\z|blib/|Makefile\z|MYMETA\.|pm_to_blib|Wire-Protocol-)} ) { $File::Find::prune = 1; return }
        if (-d) { make_path("$to/$rel") } else { copy($_, "$to/$rel") or die "copy $rel: $!" }
    } }, $from);
}
copy_tree($perl_dir, $src);
copy_tree($proto, "$tmp/src/proto");

# Runs a command in $dir; returns its output (stdout and stderr), and the exit status in $?.
sub run_in {
    my ($dir, $env, @cmd) = @_;
    my $pid = open my $fh, '-|' // die "fork: $!";
    if (!$pid) {
        chdir $dir or die "chdir $dir: $!";
        @ENV{ keys %$env } = values %$env;
        open STDERR, '>&', \*STDOUT or die;
        exec @cmd or die "exec @cmd: $!";
    }
    local $/;
    my $out = <$fh>;
    close $fh;
    return $out // '';
}

# Nothing of the tree's environment leaks in: the build sees only what it builds.
my %clean = (PERL5LIB => '', PERL_MM_OPT => '', PERL_MB_OPT => '', PERL5OPT => '');
my $out = run_in($src, \%clean, $^X, 'Makefile.PL', "INSTALL_BASE=$inst");
is($?, 0, 'perl Makefile.PL') or diag($out);
unlike($out, qr/Warning|not found|missing/i, '... without warnings') or diag($out);
$out = run_in($src, \%clean, $make);
is($?, 0, 'make') or diag($out);
# The quick tests: the whole suite takes its own prove run, and this test would call itself.
$out = run_in($src, \%clean, $make, 'test', 'TEST_FILES=t/00-load.t t/01-errors.t t/04-control.t t/05-tables.t');
is($?, 0, 'make test') or diag($out);
like($out, qr/All tests successful/, '... passes');
$out = run_in($src, \%clean, $make, 'install');
is($?, 0, 'make install') or diag($out);

# MANIFEST: every file listed exists, every file of the copy is listed.
$out = run_in($src, \%clean, $^X, '-MExtUtils::Manifest=manicheck,filecheck', '-e',
              '$ExtUtils::Manifest::Quiet = 0; my @m = manicheck(); my @e = filecheck(); exit(@m || @e ? 1 : 0)');
is($?, 0, 'MANIFEST lists exactly the files of the distribution') or diag($out);

my $meta = decode_json(do { local (@ARGV, $/) = "$src/MYMETA.json"; <> });
is($meta->{name}, 'Wire-Protocol', 'META name: Wire-Protocol');
require Wire;
is($meta->{version}, $Wire::VERSION, 'META version: Wire.pm\'s');
is_deeply($meta->{license}, ['mit'], 'META license: mit');
like($meta->{abstract} // '', qr/wire protocol/, 'META abstract from the POD');
$out = run_in($src, \%clean, $make, 'distdir');
is($?, 0, 'make distdir (writes META.json)') or diag($out);
my ($distmeta) = glob "$src/Wire-Protocol-*/META.json";
ok($distmeta && (decode_json(do { local (@ARGV, $/) = $distmeta; <> })->{license}[0] // '') eq 'mit',
   'the distribution\'s META.json says mit');

my $lib = "$inst/lib/perl5";
ok(-f "$lib/$_", "installed $_") for qw(Wire.pm Wire/Connection.pm Wire/Error.pm Wire/IO.pm Wire/Layout.pm);
ok(-f "$inst/man/man3/Wire::Connection.3pm" || -f "$inst/man/man3/Wire.Connection.3pm"
   || grep({ /Connection/ } glob "$inst/man/man3/*"), 'installed the manual page of Wire::Connection');

# From outside the tree: cwd elsewhere, only the install in PERL5LIB.
my $away = "$tmp/elsewhere";
make_path($away);
my $prog = 'use Wire qw(encode_fields decode_fields); use Wire::Connection;'
         . ' my $p = encode_fields([[u16 => 513], [string => "hi"]]);'
         . ' my $f = decode_fields($p);'
         . ' print unpack("H*", $p), " $f->[0][1] $f->[1][1] $INC{q(Wire.pm)}\n"';
$out = run_in($away, { %clean, PERL5LIB => $lib }, $^X, '-e', $prog);
is($?, 0, 'the installed modules load from outside the tree') or diag($out);
is($out, "02020140000000026869 513 hi $lib/Wire.pm\n", '... encode and decode, with Wire.pm from the install');

is_deeply([ grep { -e "$perl_dir/$_" } @generated ], \@before, 'nothing generated was left in the source tree');

done_testing;
