# SPDX-License-Identifier: MIT
# The Wire::Connection example of README.md, taken from the README, run against server.pl: it must
# stay at most 25 lines and print what the README shows.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use File::Spec;
use File::Temp qw(tempdir);
use Test::More;

use WireTest;

my $dir = File::Spec->catdir($FindBin::Bin, File::Spec->updir);
open my $fh, '<:encoding(UTF-8)', "$dir/README.md" or die "README.md: $!";
my $readme = do { local $/; <$fh> };
my ($section) = $readme =~ /^## Connection\n(.*?)^## /ms;
ok($section, 'README.md has a Connection section') or BAIL_OUT('no section');
my ($code)  = $section =~ /^```perl\n(.*?)^```\n/ms;
my ($shown) = $section =~ /^```perl\n.*?^```\n.*?^```\n(.*?)^```\n/ms;
ok($code && $shown, 'it has the example and its output');
my $lines = () = $code =~ /\n/g;
cmp_ok($lines, '<=', 25, "the example is short ($lines lines)");
like($code, qr/Wire::Connection->connect/, 'it uses Wire::Connection');

my $tmp = tempdir(CLEANUP => 1);
open my $out, '>:encoding(UTF-8)', "$tmp/example.pl" or die;
print {$out} $code;
close $out;

my $srv = start_server();
ok($srv->{port}, 'server.pl started');
my $got = do {
    open my $run, '-|:encoding(UTF-8)', $^X, "-I$dir/lib", "$tmp/example.pl", $srv->{port} or die "run: $!";
    local $/;
    <$run>;
};
is($?, 0, 'the example exits 0');
is($got, $shown, 'it prints what the README shows');
is(stop_server($srv), 0, 'server.pl stopped');
my $log = do { local (@ARGV, $/) = $srv->{log}; <> } // '';
like($log, qr/closed after 5 frames in .*: BYE$/m, 'the server saw HELLO, ECHO, ROUNDTRIP, PING and BYE (its log line)')
    or diag($log);

done_testing;
