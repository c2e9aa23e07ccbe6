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

# TODO level 1: connect to --host/--port, then HELLO, PING, BYE, printing `ok   <case>` or `FAIL <case>: <why>` (SPEC 10.10)
print "0 passed, 3 failed\n";
exit 1;

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
