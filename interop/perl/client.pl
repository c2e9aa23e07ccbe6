#!/usr/bin/env perl
# SPDX-License-Identifier: MIT
# The wire interop exchange of SPEC 10.10, against any server. Throughout, the client behaves as SPEC
# 8.6 lets a server expect: it answers the server's PINGs at any time (Wire::IO::expect_frame), takes
# frames however the stream cuts them (Wire::IO reads exact byte counts), and never sends a payload
# larger than the server announced (such a case fails and is not sent). With --udp, the exchange of
# SPEC 15.8 over UDP instead: the same cases but those that need a connection, each request sent
# again on loss as SPEC 15.7 says (Wire::Datagram::udp_request).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Getopt::Long qw(GetOptions);
use IO::Handle;
use POSIX qw(ceil);

use Wire qw(:all);
use Wire::Datagram qw(udp_peer udp_request);
use Wire::Error qw(wire_error);
use Wire::Interop qw(echo_pattern);
use Wire::IO qw(connect_to client_hello deadline expect_frame write_frame wait_eof ping bye);
use Wire::Notation qw(compare_fields format_hex);
use Wire::Vectors qw(load_vectors load_stats find_proto_file);

my %opt = (
    host    => '127.0.0.1',
    vectors => find_proto_file('vectors.txt', $FindBin::Bin),
    stats   => find_proto_file('stats.txt', $FindBin::Bin),
    timeout => 10,
);
GetOptions(\%opt, 'host=s', 'port=i', 'vectors=s', 'stats=s', 'timeout=f', 'udp', 'help') or usage(2);
usage(0) if $opt{help};
usage(2) unless defined $opt{port};
unless ($opt{port} =~ /\A[0-9]+\z/ && $opt{port} >= 1 && $opt{port} <= 65535) {
    print STDERR "client.pl: --port must be 1..65535, not $opt{port}\n";
    exit 2;
}

sub usage {
    print STDERR "usage: client.pl [--udp] --host H --port P [--vectors FILE] [--stats FILE] "
               . "[--timeout SECONDS_PER_CASE]\n"
               . "  --udp  run the exchange over UDP (SPEC.md 15.8): each request sent again after"
               . " 100 ms,\n         the wait doubled up to 1 s, 8 sends at most\n";
    exit $_[0];
}

for my $file (qw(vectors stats)) {
    next if defined $opt{$file};
    print STDERR "client.pl: no proto/$file.txt found (use --$file)\n";
    exit 2;
}
my $vectors = eval { load_vectors($opt{vectors}) } or do { print STDERR "client.pl: $@\n"; exit 2 };
my $stats   = eval { load_stats($opt{stats}) }     or do { print STDERR "client.pl: $@\n"; exit 2 };
my @ok  = grep { $_->{kind} eq 'ok' } @$vectors;
my @err = grep { $_->{kind} eq 'err' } @$vectors;

$SIG{PIPE} = 'IGNORE';
STDOUT->autoflush(1);

my ($passed, $failed) = (0, 0);
my $main;    # the shared connection: { sock, peer }; reopened after a failure that desyncs it

# A failure that leaves the connection in step (a wrong value in a well-formed reply).
sub mismatch { die { mismatch => join '', @_ } }

sub case {
    my ($name, $code) = @_;
    my $dl = deadline($opt{timeout});
    # Deadlines bound every read and write; the alarm is a backstop for anything else that could
    # block (name resolution, a bug), so that one case can never hang the run. Over UDP the retry
    # policy bounds a case (5.5 s): the alarm must not cut it shorter.
    my $limit = $opt{udp} && $opt{timeout} < 10 ? 10 : $opt{timeout};
    local $SIG{ALRM} = sub { wire_error('TIMEOUT', undef, "case exceeded $limit s") };
    alarm ceil($limit) + 1;
    my $ok = eval { $code->($dl); 1 };
    alarm 0;
    if ($ok) {
        print "ok   $name\n";
        $passed++;
        return;
    }
    my $e = $@;
    my $why = ref $e eq 'HASH' ? $e->{mismatch} : "$e";
    if (ref $e ne 'HASH' && $main) {    # the stream's state is unknown: start afresh
        close $main->{sock};
        undef $main;
    }
    $why =~ s/\s+/ /g;
    $why =~ s/ \z//;
    print "FAIL $name: $why\n";
    $failed++;
    return;
}

sub open_conn {
    my ($dl) = @_;
    my $sock = connect_to($opt{host}, $opt{port}, timeout => $opt{timeout});
    my $peer = client_hello($sock, name => 'perl-client', max_payload => DEFAULT_MAX_PAYLOAD,
                            deadline => $dl);
    mismatch("server HELLO has version $peer->{version}") if $peer->{version} != PROTOCOL_VERSION;
    return { sock => $sock, peer => $peer };
}

sub main_conn { $main //= open_conn($_[0]) }

# Sends one request and returns the reply payload, which must be of type $want; the server's PINGs
# that come first are answered. A request larger than the server's max_payload is not sent: the
# case fails, and the connection stays in step.
sub request {
    my ($c, $type, $payload, $want, $dl) = @_;
    my $max = $c->{peer}{max_payload};
    mismatch(sprintf '%d byte %s payload exceeds the server\'s max_payload %d: not sent',
                     length $payload, message_name($type) // $type, $max)
        if length $payload > $max;
    write_frame($c->{sock}, $type, $payload, deadline => $dl, peer_max => $max);
    return expect_frame($c->{sock}, $want, deadline => $dl, max_payload => DEFAULT_MAX_PAYLOAD,
                        peer_max => $max);
}

sub short_hex {
    my $h = format_hex($_[0]);
    return length $h > 64 ? substr($h, 0, 64) . '...(' . length($_[0]) . ' bytes)' : $h;
}

sub same_bytes {
    my ($what, $want, $got) = @_;
    return if $got eq $want;
    my $i = 0;
    $i++ while $i < length $want && $i < length $got && substr($want, $i, 1) eq substr($got, $i, 1);
    mismatch("$what differs from byte $i: expected ", short_hex(substr $want, $i),
             ', got ', short_hex(substr $got, $i));
}

sub same_fields {
    my ($what, $want, $got) = @_;
    my $d = compare_fields($want, $got) or return;
    mismatch("$what differs at $d->{path}: expected $d->{expected}, got $d->{got}");
}

# VECTOR_RESULT as (status, path, expected, got).
sub vector_result {
    my ($payload) = @_;
    my $f = decode_fields($payload);
    mismatch('malformed VECTOR_RESULT')
        unless @$f == 4 && $f->[0][0] eq 'u8' && !grep { $_->[0] ne 'string' } @$f[ 1 .. 3 ];
    return map { $_->[1] } @$f;
}

run_udp() if $opt{udp};

case('hello', sub {
    $main = open_conn($_[0]);
});

for my $v (@ok) {
    case("check:$v->{name}", sub {
        my ($dl) = @_;
        my $p = request(main_conn($dl), MSG_VECTOR_CHECK,
                        encode_fields([ [ string => $v->{name} ] ]) . $v->{bytes},
                        MSG_VECTOR_RESULT, $dl);
        my ($status, $path, $exp, $got) = vector_result($p);
        mismatch("status $status at $path: expected $exp, got $got") if $status != 0;
    });
}

case('check-unknown', sub {
    my ($dl) = @_;
    my $p = request(main_conn($dl), MSG_VECTOR_CHECK, encode_fields([ [ string => 'no-such-vector' ] ]),
                    MSG_VECTOR_RESULT, $dl);
    my ($status) = vector_result($p);
    mismatch("status $status, expected 2") if $status != 2;
});

for my $v (@ok) {
    case("get:$v->{name}", sub {
        my ($dl) = @_;
        my $p = request(main_conn($dl), MSG_VECTOR_GET, encode_fields([ [ string => $v->{name} ] ]),
                        MSG_VECTOR_DATA, $dl);
        my $name = encode_fields([ [ string => $v->{name} ] ]);
        same_bytes('name field', $name, substr $p, 0, length $name);
        my $data = substr $p, length $name;
        same_bytes('vector data', $v->{bytes}, $data);
        same_fields('decoded vector data', $v->{fields}, decode_fields($data));
    });
}

for my $v (@ok) {
    case("roundtrip:$v->{name}", sub {
        my ($dl) = @_;
        same_bytes('reply', $v->{bytes},
                   request(main_conn($dl), MSG_ROUNDTRIP, $v->{bytes}, MSG_ROUNDTRIP_REPLY, $dl));
    });
}

for my $n (0, 1, 4096, 1048576) {
    case("echo:$n", sub {
        my ($dl) = @_;
        my $data = echo_pattern($n);
        same_bytes('reply', $data, request(main_conn($dl), MSG_ECHO, $data, MSG_ECHO_REPLY, $dl));
    });
}

case('ping', sub {
    my ($dl) = @_;
    my $c = main_conn($dl);
    my $data = pack 'C*', 1 .. 8;
    same_bytes('PONG', $data, ping($c->{sock}, $data, deadline => $dl, max_payload => DEFAULT_MAX_PAYLOAD,
                                   peer_max => $c->{peer}{max_payload}));
});

for my $s (@$stats) {
    case("stats:$s->{name}", sub {
        my ($dl) = @_;
        my $p = request(main_conn($dl), MSG_STATS, encode_fields($s->{request}), MSG_STATS_REPLY, $dl);
        same_fields('reply', $s->{reply}, decode_fields($p));
    });
}

# BYE ends the main connection before the reject cases open their own, so the client never holds
# two connections at once and an iterative server can run the whole exchange.
case('bye', sub {
    my ($dl) = @_;
    my $c = main_conn($dl);
    undef $main;
    my ($answered, $closed) = bye($c->{sock}, deadline => $dl);
    mismatch('EOF instead of the answering BYE') unless $answered;
    mismatch('no EOF after BYE') unless $closed;
});

for my $v (@err) {
    case("reject:$v->{name}", sub {
        my ($dl) = @_;
        my $c = open_conn($dl);
        my $p = request($c, MSG_ROUNDTRIP, $v->{bytes}, MSG_ERROR, $dl);
        my $e = parse_error($p);
        my $want = sprintf '%s at %d', $v->{code}, HEADER_SIZE + $v->{offset};
        my $got  = sprintf '%s at %s', $e->name, $e->offset // 'none';
        mismatch("expected ERROR $want, got ERROR $got (", $e->message, ')') if $got ne $want;
        my $eof = wait_eof($c->{sock}, $dl);
        close $c->{sock};
        mismatch('the server did not close after ERROR') unless $eof;
    });
}

print "$passed passed, $failed failed\n";
exit($failed ? 1 : 0);

# ---------------------------------------------------------------------------------------------
# --udp: the exchange of SPEC 15.8. No connection, so no hello, no bye, and no new socket for the
# reject cases: the server goes on after each ERROR.

sub run_udp {
    my $peer = eval { udp_peer($opt{host}, $opt{port}) } or do {
        print STDERR "client.pl: $@\n";
        exit 2;
    };
    # The answer to one request, which must be of type $want (an ERROR otherwise is the reason).
    my $request = sub {
        my ($type, $payload, @want) = @_;
        my ($rtype, $rpayload) = udp_request($peer, $type, $payload);
        return ($rtype, $rpayload) if grep { $_ == $rtype } @want;
        if ($rtype == MSG_ERROR) {
            my $e = eval { parse_error($rpayload) } or mismatch('server sent a malformed ERROR');
            mismatch(sprintf 'server sent ERROR %s at %s: %s', $e->name, $e->offset // 'none', $e->message);
        }
        mismatch(sprintf 'expected %s, got message type 0x%04x',
                         join(' or ', map { message_name($_) } @want), $rtype);
    };
    # The vectors whose VECTOR_CHECK payload (name field + data) fits in a datagram; their
    # VECTOR_DATA has the same size.
    my @fit = grep { 5 + length($_->{name}) + length($_->{bytes}) <= UDP_MAX_PAYLOAD } @ok;
    for my $v (@fit) {
        case("check:$v->{name}", sub {
            my (undef, $p) = $request->(MSG_VECTOR_CHECK, encode_fields([ [ string => $v->{name} ] ]) . $v->{bytes},
                                        MSG_VECTOR_RESULT);
            my ($status, $path, $exp, $got) = vector_result($p);
            mismatch("status $status at $path: expected $exp, got $got") if $status != 0;
        });
    }
    case('check-unknown', sub {
        my (undef, $p) = $request->(MSG_VECTOR_CHECK, encode_fields([ [ string => 'no-such-vector' ] ]),
                                    MSG_VECTOR_RESULT);
        my ($status) = vector_result($p);
        mismatch("status $status, expected 2") if $status != 2;
    });
    for my $v (@fit) {
        case("get:$v->{name}", sub {
            my $name = encode_fields([ [ string => $v->{name} ] ]);
            my ($t, $p) = $request->(MSG_VECTOR_GET, $name, MSG_VECTOR_DATA, MSG_VECTOR_RESULT);
            mismatch('VECTOR_RESULT status ' . (vector_result($p))[0] . ' instead of VECTOR_DATA')
                if $t == MSG_VECTOR_RESULT;
            same_bytes('name field', $name, substr $p, 0, length $name);
            my $data = substr $p, length $name;
            same_bytes('vector data', $v->{bytes}, $data);
            same_fields('decoded vector data', $v->{fields}, decode_fields($data));
        });
    }
    for my $v (@fit) {
        case("roundtrip:$v->{name}", sub {
            same_bytes('reply', $v->{bytes}, ($request->(MSG_ROUNDTRIP, $v->{bytes}, MSG_ROUNDTRIP_REPLY))[1]);
        });
    }
    for my $n (0, 1, 4096, UDP_MAX_PAYLOAD) {
        case("echo:$n", sub {
            my $data = echo_pattern($n);
            same_bytes('reply', $data, ($request->(MSG_ECHO, $data, MSG_ECHO_REPLY))[1]);
        });
    }
    case('ping', sub {
        my $data = pack 'C*', 1 .. 8;
        same_bytes('PONG', $data, ($request->(MSG_PING, $data, MSG_PONG))[1]);
    });
    for my $s (@$stats) {
        case("stats:$s->{name}", sub {
            same_fields('reply', $s->{reply},
                        decode_fields(($request->(MSG_STATS, encode_fields($s->{request}), MSG_STATS_REPLY))[1]));
        });
    }
    for my $v (@err) {
        case("reject:$v->{name}", sub {
            my (undef, $p) = $request->(MSG_ROUNDTRIP, $v->{bytes}, MSG_ERROR);
            my $e = parse_error($p);
            my $want = sprintf '%s at %d', $v->{code}, HEADER_SIZE + $v->{offset};
            my $got  = sprintf '%s at %s', $e->name, $e->offset // 'none';
            mismatch("expected ERROR $want, got ERROR $got (", $e->message, ')') if $got ne $want;
        });
    }
    print "$passed passed, $failed failed\n";
    # What loss and duplication cost, for whoever runs us through a lossy path.
    printf STDERR "client.pl: udp: %d datagrams sent (%d retries), %d stray answers and %d bad"
                . " datagrams dropped\n", @$peer{qw(sent retries stray bad)};
    exit($failed ? 1 : 0);
}

__END__

=head1 NAME

client.pl - the Perl wire interop client

=head1 SYNOPSIS

    perl interop/perl/client.pl [--udp] --host 127.0.0.1 --port P [--vectors FILE] [--stats FILE]
                                [--timeout 10]

Runs the interop exchange of SPEC.md 10.10 and prints C<ok   E<lt>caseE<gt>> or
C<FAIL E<lt>caseE<gt>: E<lt>reasonE<gt>> per case, then C<N passed, M failed>; exits 0 iff no case
failed (1 otherwise, 2 for bad arguments or unreadable proto files). C<--timeout> bounds each case
(seconds). After a failure that may have left the shared connection out of step (an ERROR, a
timeout, an unexpected message), the next case opens a new connection with a new HELLO, so one
failure does not fail the rest. The server's PINGs are answered whenever they come, also while a
reply is awaited; a request larger than the max_payload the server announced fails its case and is
not sent. Without C<--vectors> / C<--stats> the files are looked for as SPEC 10.10 says
(C<$WIRE_PROTO_DIR>, F<proto/> here, the source tree's F<proto/>).

C<--udp> runs the exchange of SPEC.md 15.8 over UDP instead, with the same case names and report
lines: the check, get and roundtrip cases of every C<ok> vector whose VECTOR_CHECK payload fits in
a datagram (65495 bytes), C<check-unknown>, C<echo:0>, C<echo:1>, C<echo:4096>, C<echo:65495>,
C<ping>, the stats cases and the reject cases (no C<hello>, no C<bye>, no new socket per reject:
the server goes on after its ERROR). Each request is a datagram with a request id (from a random
start), sent again with the same id when no answer has come after 100 ms, the wait doubled up to
1 s, 8 sends at most (5.5 s); answers for another id (duplicates, late answers) and datagrams that
fail SPEC 15.3's steps 1-3 and 5 are dropped, and counted on stderr at the end. A case fails if its
request gets no answer after the last send.

=cut
