#!/usr/bin/perl
# SPDX-License-Identifier: MIT
# The level-1 client: HELLO, PING, BYE against a wire server, reported as the interop exchange
# does (SPEC 10.10). Core modules only. POD at the end.
use strict;
use warnings;
use Getopt::Long qw(GetOptions);
use IO::Socket::INET;

use constant { HELLO => 1, ERROR => 2, PING => 3, PONG => 4, BYE => 5 };
use constant { MY_MAX_PAYLOAD => 16777216, NAME => 'perl-client' };

# BEGIN LEVEL 1
# Exactly $n bytes: one sysread returns whatever has arrived, maybe less (SPEC 13.4).
sub read_exact {
    my ($sock, $n) = @_;
    my $data = '';
    while (length $data < $n) {
        my $got = sysread $sock, $data, $n - length $data, length $data;
        next if !defined $got && $!{EINTR};
        die "the server closed the connection\n" unless $got;
    }
    return $data;
}

# header: version 1, flags 0, u16 type ('n'), u32 length ('N'): big-endian (SPEC 2.1, 13.1)
sub send_frame {
    my ($sock, $type, $payload) = @_;
    print {$sock} pack('C C n N', 1, 0, $type, length $payload) . $payload
        or die "cannot send: $!\n";
}

# The next frame that is not a PING; the server may PING us at any time (SPEC 7.5).
sub read_reply {
    my ($sock) = @_;
    while (1) {
        my (undef, undef, $type, $length) = unpack 'C C n N', read_exact($sock, 8);
        my $payload = read_exact($sock, $length);
        if ($type == PING) {
            send_frame($sock, PONG, $payload);
        } elsif ($type == ERROR) {
            my ($code, $offset) = unpack 'x n x N', $payload;    # u16 code, u32 offset (SPEC 7.4)
            die "the server sent ERROR code $code at offset $offset\n";
        } else {
            return ($type, $payload);
        }
    }
}

sub case_hello {
    my ($sock) = @_;
    # HELLO's fields: u16 version 1, u32 max payload, string name, each after its tag (SPEC 7.3)
    send_frame($sock, HELLO, pack('C n C N C N', 0x02, 1, 0x03, MY_MAX_PAYLOAD, 0x40, length NAME) . NAME);
    my ($type, $payload) = read_reply($sock);
    die sprintf("expected HELLO version 1, got type 0x%04x\n", $type)
        unless $type == HELLO && substr($payload, 0, 3) eq "\x02\x00\x01";
}

sub case_ping {
    my ($sock) = @_;
    my $data = pack 'C*', 1 .. 8;
    send_frame($sock, PING, $data);
    my ($type, $payload) = read_reply($sock);
    die sprintf("expected PONG 0102030405060708, got type 0x%04x payload %s\n", $type, unpack 'H*', $payload)
        unless $type == PONG && $payload eq $data;
}

sub case_bye {
    my ($sock) = @_;
    send_frame($sock, BYE, '');
    my ($type) = read_reply($sock);
    die sprintf("expected BYE, got type 0x%04x\n", $type) unless $type == BYE;
    # after its BYE the server closes: EOF (SPEC 8.5)
    die "expected EOF after BYE\n" if sysread $sock, my $more, 1;
}

my ($host, $port) = ('127.0.0.1', undef);
GetOptions('host=s' => \$host, 'port=i' => \$port) && defined $port
    or die "usage: client.pl --host H --port P\n";
$SIG{PIPE} = 'IGNORE';    # a server that leaves makes our write fail (EPIPE), not kill us
$| = 1;
my $sock = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Proto => 'tcp', Timeout => 10)
    or die "client.pl: cannot connect to $host:$port: $@\n";
$sock->autoflush(1);
my ($passed, $failed) = (0, 0);
for my $case ([hello => \&case_hello], [ping => \&case_ping], [bye => \&case_bye]) {
    my ($name, $run) = @$case;
    if (eval { $run->($sock); 1 }) {
        print "ok   $name\n";
        $passed++;
    } else {
        chomp(my $why = $@);
        print "FAIL $name: $why\n";
        $failed++;
    }
}
close $sock;
print "$passed passed, $failed failed\n";
exit($failed ? 1 : 0);
# ELSE LEVEL 1
# TODO level 1: connect to --host/--port, then HELLO, PING, BYE, printing `ok   <case>` or `FAIL <case>: <why>` (SPEC 10.10)
print "0 passed, 3 failed\n";
exit 1;
# END LEVEL 1

__END__

=head1 NAME

client.pl - the lab's level-1 wire client: HELLO, PING, BYE

=head1 SYNOPSIS

    perl client.pl --host H --port P

=head1 DESCRIPTION

Runs the interop exchange's C<hello>, C<ping> and C<bye> cases (SPEC.md 10.10) on one connection,
prints C<ok   NAME> or C<FAIL NAME: REASON> for each, then C<N passed, M failed>; exits 0 when
nothing failed. It answers the server's PINGs while it waits for a reply. Graded by
C<wire-conform client --level 1 -- perl client.pl>.

=cut
