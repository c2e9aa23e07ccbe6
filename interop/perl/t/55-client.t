# SPDX-License-Identifier: MIT
# client.pl against an awkward but legal server (SPEC 7.5, 8.6, 10.10): a relay in front of server.pl
# that PINGs right after its HELLO and before some replies, in the same write (several frames in one
# segment, two PINGs in a row too), and writes some frames one byte per write. The client must answer
# every PING and still get every reply. Then the relay announces the smallest max_payload (1037): the
# client must fail the cases that would send more, without sending them, and pass the others.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use Errno qw(EAGAIN EWOULDBLOCK EINTR);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::IP;
use POSIX ();
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time sleep);
use Test::More;

use WireTest;
use Wire qw(:all);
use Wire::FrameParser;
use Wire::IO qw(connect_to deadline write_all);

$SIG{PIPE} = 'IGNORE';
my $dir = "$FindBin::Bin/..";
my $tmp = tempdir(CLEANUP => 1);

# A few vectors (one of 3000 bytes, over 1037), one err vector, one stats case.
my %want = map { ($_ => 1) } qw(u32.pattern list.u8 group.nested string.1000-euro err.u32-truncated);
open my $vin, '<', proto_file('vectors.txt') or die;
open my $vout, '>', "$tmp/vectors.txt" or die;
print $vout grep { /\A(?:ok|err) (\S+) / && $want{$1} } <$vin>;
close $vout;
open my $sin, '<', proto_file('stats.txt') or die;
open my $sout, '>', "$tmp/stats.txt" or die;
print $sout((grep { /\Astats / } <$sin>)[0]);
close $sout;
my @files = ('--vectors', "$tmp/vectors.txt", '--stats', "$tmp/stats.txt");
my $cases = 1 + 4 * 3 + 1 + 4 + 1 + 1 + 1 + 1;    # hello, check/get/roundtrip, check-unknown, echo x4,
                                                  # ping, stats, bye, reject

my $srv = start_server('--quiet');
BAIL_OUT('server.pl did not start') unless defined $srv->{port};

# ---------------------------------------------------------------------------------------------
# The relay: one child per client connection, each connected to server.pl. It writes what it saw
# to "$results/<n>" when the connection is over.

sub relay_server {
    my (%cfg) = @_;
    my $l = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 16) or die $@;
    mkdir $cfg{results} or die "mkdir: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        $SIG{CHLD} = 'IGNORE';    # relay children reap themselves
        my $n = 0;
        while (1) {
            my $c = $l->accept or next;
            $n++;
            open my $mark, '>', "$cfg{results}/$n.started" or die;
            close $mark;
            my $kid = fork // die "fork: $!";
            if (!$kid) {
                close $l;
                relay($c, "$cfg{results}/$n", %cfg);
                POSIX::_exit(0);
            }
            close $c;
        }
    }
    my $port = $l->sockport;
    close $l;
    return ($pid, $port);
}

sub relay {
    my ($c, $result, %cfg) = @_;
    my $s = connect_to('127.0.0.1', $srv->{port}, timeout => 5);
    setsockopt($c, IPPROTO_TCP, TCP_NODELAY, 1);
    $c->blocking(0);
    my %r = map { ($_ => 0) } qw(pings pongs bad_pongs oversize coalesced bytewise frames_up);
    my ($up, $down) = map { Wire::FrameParser->new(max_payload => DEFAULT_MAX_PAYLOAD) } 1, 2;
    my (@pending, $replies, $seq);
    my $ping = sub {
        my $p = pack 'a4N', 'perl', ++$seq;
        push @pending, $p;
        $r{pings}++;
        return encode_frame(MSG_PING, $p);
    };
    my $from_client = sub {
        my ($type, $p) = @_;
        $r{frames_up}++;
        $r{oversize}++ if length $p > $cfg{announce};
        if ($type == MSG_PONG && @pending) {    # the answer to one of our PINGs: the oldest
            $r{ shift(@pending) eq $p ? 'pongs' : 'bad_pongs' }++;
            return;
        }
        write_all($s, encode_frame($type, $p), deadline(10));
    };
    my $from_server = sub {
        my ($type, $p) = @_;
        my $reply = $type >= 0x0100 && $type <= 0x01ff;
        my $out = '';
        if ($reply && $cfg{awkward}) {
            $replies++;
            $out .= $ping->() if $replies % 3 == 0;
            $out .= $ping->() . $ping->() if $replies % 7 == 0;
        }
        substr($p, 4, 4) = pack 'N', $cfg{announce} if $type == MSG_HELLO;    # the u32 max_payload value
        $out .= encode_frame($type, $p);
        $out .= $ping->() if $type == MSG_HELLO && $cfg{awkward};    # right behind the HELLO
        $r{coalesced}++ if length $out > HEADER_SIZE + length $p;
        if ($cfg{awkward} && $reply && $replies % 2 == 0 && length $out <= 600) {
            $r{bytewise}++;
            write_all($c, $_, deadline(10)) for split //, $out;    # one segment per byte (TCP_NODELAY)
        }
        else {
            write_all($c, $out, deadline(10));
        }
    };
    my $sel = IO::Select->new($c, $s);
    my %open = (client => 1, server => 1);
    while (%open) {
        my @ready = $sel->can_read(30) or last;
        for my $fh (@ready) {
            my $n = sysread $fh, my $buf, 1 << 20;
            next if !defined $n && ($! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR);
            my $from = $fh == $c ? 'client' : 'server';
            if (!$n) {    # that side is done: so is the other direction
                shutdown($fh == $c ? $s : $c, 1);
                $sel->remove($fh);
                delete $open{$from};
                next;
            }
            my ($parser, $handle) = $from eq 'client' ? ($up, $from_client) : ($down, $from_server);
            my $ok = eval {
                $parser->push($buf);
                while (my ($type, $p) = $parser->next_frame) { $handle->($type, $p) }
                1;
            };
            %open = () unless $ok;
        }
    }
    $r{left} = @pending;
    open my $out, '>', $result or die;
    print $out map { "$_=$r{$_}\n" } sort keys %r;
    close $out;
    return;
}

# Runs client.pl against a relay; returns (exit status, output lines, summed relay results).
sub run_relayed {
    my (%cfg) = @_;
    $cfg{results} = "$tmp/" . ($cfg{awkward} ? 'awkward' : 'small') . '-' . $cfg{announce};
    my ($pid, $port) = relay_server(%cfg);
    open my $fh, '-|', $^X, "-I$dir/lib", "$dir/client.pl", '--port', $port, '--timeout', 10, @files
        or die "client: $!";
    my @lines = <$fh>;
    close $fh;
    my $rc = $? >> 8;
    chomp @lines;
    my %sum;
    my $until = time + 10;    # the relays end just after the client's connections
    while (time < $until) {
        my @started = glob "$cfg{results}/*.started";
        last unless grep { !-e s/\.started\z//r } @started;
        sleep 0.05;
    }
    for my $f (grep { !/\.started\z/ } glob "$cfg{results}/*") {
        open my $in, '<', $f or die;
        /\A(\w+)=(\d+)\z/ and $sum{$1} += $2 for map { chomp; $_ } <$in>;
        $sum{connections}++;
    }
    kill KILL => $pid;
    waitpid $pid, 0;
    return ($rc, \@lines, \%sum);
}

# --- PINGs at any time, frames cut and coalesced ----------------------------------------------
{
    my ($rc, $lines, $r) = run_relayed(announce => DEFAULT_MAX_PAYLOAD, awkward => 1);
    is($rc, 0, 'awkward server: client exits 0');
    is($lines->[-1], "$cases passed, 0 failed", "awkward server: all $cases cases pass")
        or diag(join "\n", grep { /\AFAIL/ } @$lines);
    is($r->{connections}, 2, 'awkward server: two connections (the exchange, one reject)');
    cmp_ok($r->{pings}, '>=', 6, "awkward server: $r->{pings} PINGs sent");
    is($r->{pongs}, $r->{pings}, 'awkward server: every PING answered with its payload, in order');
    is($r->{bad_pongs}, 0, 'awkward server: no wrong PONG');
    is($r->{left}, 0, 'awkward server: no PING left unanswered');
    cmp_ok($r->{coalesced}, '>=', 4, "awkward server: $r->{coalesced} writes held several frames");
    cmp_ok($r->{bytewise}, '>=', 4, "awkward server: $r->{bytewise} frames sent one byte per write");
}

# --- the server's max_payload is never exceeded -------------------------------------------------
{
    my ($rc, $lines, $r) = run_relayed(announce => MIN_MAX_PAYLOAD, awkward => 0);
    my @too_big = qw(check:string.1000-euro roundtrip:string.1000-euro echo:4096 echo:1048576);
    is($rc, 1, 'max_payload 1037: client exits 1');
    is($lines->[-1], ($cases - @too_big) . ' passed, ' . @too_big . ' failed',
       'max_payload 1037: only the cases that would send more fail');
    for my $name (@too_big) {
        like((grep { /\AFAIL \Q$name\E: / } @$lines)[0] // "no FAIL $name",
             qr/exceeds the server's max_payload 1037: not sent/, "max_payload 1037: $name fails, not sent");
    }
    ok((grep { $_ eq 'ok   get:string.1000-euro' } @$lines), 'max_payload 1037: a large reply is fine');
    ok((grep { $_ eq 'ok   bye' } @$lines), 'max_payload 1037: the connection stayed in step to the end');
    is($r->{oversize}, 0, 'max_payload 1037: the client sent no payload over 1037 bytes');
    cmp_ok($r->{frames_up}, '>=', $cases - @too_big, "max_payload 1037: $r->{frames_up} frames came");
}

is(stop_server($srv), 0, 'server exits 0');

done_testing;
