#!/usr/bin/env perl
# SPDX-License-Identifier: MIT
# The wire interop server: the interop service (SPEC 10) with the connection lifecycle of SPEC 8 and
# the options of SPEC 9.3.
#
# Concurrency: one forked child per connection. Each connection is a strictly sequential
# conversation (one reply per request, in order), so a child can use plain blocking I/O with
# deadlines and mirror SPEC 8.3 step by step; a slow or broken peer can only stall or crash its own
# child; and a 16 MiB payload in one connection does not delay the others, which a single-threaded
# event loop would have to avoid with explicit buffering on both directions. The parent only
# accepts (refusing connections over --max-conns itself, without blocking), reaps children on
# SIGCHLD, and on SIGTERM/SIGINT stops them all. With --udp the parent's loop also serves the UDP
# datagram profile (SPEC 15) on the UDP port of the same number: each datagram is answered at once
# from itself alone, which costs the loop no more than one small request (65495 bytes at most).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Errno qw(EINTR EAGAIN EWOULDBLOCK EMFILE ENFILE EADDRINUSE);
use Getopt::Long qw(GetOptionsFromArray);
use IO::Handle;
use IO::Select;
use IO::Socket::IP;
use POSIX qw(WNOHANG SIGCHLD SIGINT SIGTERM SIG_BLOCK SIG_UNBLOCK sigprocmask);
use Socket qw(IPPROTO_TCP TCP_NODELAY getnameinfo NI_NUMERICHOST NI_NUMERICSERV);
use Time::HiRes qw(time sleep);

use Wire qw(:all);
use Wire::Error;
use Wire::Datagram qw(datagram_id datagram_header decode_datagram encode_datagram recv_datagram);
use Wire::Interop;
use Wire::IO qw(deadline read_append write_all write_frame close_gracefully);
use Wire::Vectors qw(load_vectors find_proto_file);

use constant {
    NAME          => 'perl-server',
    DRAIN_SECONDS => 1,      # the bounded drain of a graceful close (SPEC 8.4: "about a second")
    POLL_SECONDS  => 0.25,   # how often a child waiting for a frame looks at the stop flag
    MAX_DRAINING  => 64,     # refused connections the parent drains at once; more are just closed
    UDP_BATCH     => 64,     # datagrams answered per turn of the loop, so that accepting goes on
    BIND_ATTEMPTS => 64,     # --udp --port 0: TCP and UDP ports of the same number, tried this often
};

my %opt = (
    host            => '127.0.0.1',
    port            => 0,
    'max-payload'   => DEFAULT_MAX_PAYLOAD,
    'max-conns'     => 1024,
    'idle-timeout'  => 60,
    'frame-timeout' => 10,
);
parse_options(@ARGV);

sub usage_text {
    return <<"END";
usage: server.pl [options]
Serves the wire interop service (SPEC.md section 10) over TCP, one process per connection.

  --host H             address to listen on (default 127.0.0.1; '::' = IPv6 and IPv4)
  --port P             TCP port, 0..65535 (default 0: the system picks one); the port is printed
                       alone on the first line of stdout
  --max-payload BYTES  largest payload accepted, announced in HELLO (default 16777216, at least
                       @{[ MIN_MAX_PAYLOAD ]}); a larger frame is refused from its header: ERROR(TOOBIG), close
  --max-conns N        connections at once (default 1024); one more gets ERROR(LIMIT), close
  --idle-timeout SEC   no complete frame for SEC s: ERROR(TIMEOUT), close (default 60)
  --frame-timeout SEC  a started frame must be complete within SEC s, else ERROR(TIMEOUT), close
                       (slowloris defence; default 10)
  --vectors FILE       golden vectors for VECTOR_CHECK/VECTOR_GET (default: proto/vectors.txt
                       from \$WIRE_PROTO_DIR, the current directory, or next to the program)
  --quiet              no per-connection log lines on stderr
  --udp                also serve the UDP datagram profile (SPEC.md section 15) on the UDP port
                       with the same number as the TCP port
  --version            the program's and the protocol's versions
  --help               this text
END
}

sub bad_usage {
    print STDERR "server.pl: $_[0] (see --help)\n";
    exit 2;
}

# SPEC 9.3: exactly its options; a bad option or value is a message on stderr and exit status 2.
sub parse_options {
    my @args = @_;
    my %got;
    Getopt::Long::Configure(qw(no_auto_abbrev no_ignore_case no_getopt_compat pass_through),
                            'prefix_pattern=--', 'long_prefix_pattern=--');
    GetOptionsFromArray(\@args, \%got, 'host=s', 'port=s', 'max-payload=s', 'max-conns=s',
                        'idle-timeout=s', 'frame-timeout=s', 'vectors=s', 'quiet', 'udp', 'version', 'help')
        or bad_usage('bad options');
    if (@args) {    # pass_through leaves an option without its value here too
        bad_usage("$args[0] needs a value")
            if $args[0] =~ /\A--(?:host|port|max-payload|max-conns|idle-timeout|frame-timeout|vectors)\z/;
        bad_usage("unknown argument '$args[0]'");
    }
    if ($got{help}) {
        print usage_text();
        exit 0;
    }
    if ($got{version}) {
        printf "server.pl (Perl Wire %s), protocol version %d\n", $Wire::VERSION, PROTOCOL_VERSION;
        exit 0;
    }
    my %range = (port => [ 0, 65535 ], 'max-payload' => [ MIN_MAX_PAYLOAD, 0xFFFFFFFF - HEADER_SIZE ],
                 'max-conns' => [ 1, 1000000 ], 'idle-timeout' => [ 1, 86400 ],
                 'frame-timeout' => [ 1, 86400 ]);
    for my $name (sort keys %range) {
        next unless defined $got{$name};
        my ($lo, $hi) = @{ $range{$name} };
        bad_usage("--$name must be an integer in $lo..$hi, not '$got{$name}'")
            unless $got{$name} =~ /\A[0-9]{1,10}\z/ && $got{$name} >= $lo && $got{$name} <= $hi;
        $got{$name} += 0;
    }
    %opt = (%opt, %got);
    return;
}

# --quiet silences every log line (SPEC 9.3); errors that stop the server print on their own.
sub logline { printf STDERR "%s[%d]: %s\n", NAME, $$, $_[0] unless $opt{quiet} }

my $vectors = $opt{vectors} // find_proto_file('vectors.txt', $FindBin::Bin);
my $cases = [];
if (defined $vectors) {
    $cases = eval { load_vectors($vectors) } or do {
        print STDERR "server.pl: $@\n";
        exit 2;
    };
}
else {
    logline('no proto/vectors.txt found (use --vectors): VECTOR_* answer "unknown"');
}
my $service = Wire::Interop->new(vectors => $cases);

my ($listener, $udp);
for my $attempt (1 .. BIND_ATTEMPTS) {
    $listener = IO::Socket::IP->new(
        LocalHost => $opt{host},
        LocalPort => $opt{port},
        Listen    => 1024,    # a flood waits in the queue rather than in SYN retries of 1 s and more
        ReuseAddr => 1,
    ) or cannot_listen("[$opt{host}]:$opt{port}: " . ($@ || $!));
    last unless $opt{udp};
    # SPEC 15.8: UDP on the number TCP got; with --port 0, if that UDP port is taken, both again.
    $udp = IO::Socket::IP->new(LocalHost => $opt{host}, LocalPort => $listener->sockport,
                               Proto => 'udp');
    last if $udp;
    my ($errno, $why, $port) = ($! + 0, $@ || "$!", $listener->sockport);
    close $listener;
    cannot_listen("[$opt{host}]:$port (UDP): $why")
        if $opt{port} || $errno != EADDRINUSE || $attempt == BIND_ATTEMPTS;
}

# The address cannot be used (taken, not ours): said on stderr, exit status 2 as for a bad value.
sub cannot_listen {
    print STDERR "server.pl: cannot listen on $_[0]\n";
    exit 2;
}

$SIG{PIPE} = 'IGNORE';    # a write to a vanished peer is an IO error, not death
$SIG{HUP}  = 'IGNORE';    # closing the terminal does not stop the server: SIGTERM does (SPEC 9.3)
STDOUT->autoflush(1);
print $listener->sockport, "\n";
logline("listening on [$opt{host}]:" . $listener->sockport . ", max payload $opt{'max-payload'}, "
        . scalar(@$cases) . ' vectors');

my %children;
my $stop = 0;
$SIG{CHLD} = sub { reap() };
$SIG{TERM} = $SIG{INT} = sub { $stop = 1 };

# The 1 s select bounds the time between a signal and the loop noticing it, even if the signal
# lands between the $stop check and the wait. A non-blocking listener keeps accept from hanging
# when a connection is aborted between select and accept.
$listener->blocking(0);
my $select = IO::Select->new($listener);
my %udp_count = (in => 0, filled => 0, answered => 0, unanswered => 0);
if ($udp) {
    $udp->blocking(0);
    $select->add($udp);
}
my %draining;      # refused connections: fileno => { sock, until }
my $paused = 0;    # accepting stops until then (out of descriptors with no reserve to give back)
# A descriptor kept in reserve: out of descriptors (EMFILE), it is given back so that the pending
# connections can still be accepted and refused with ERROR(LIMIT) rather than left to spin on.
my $reserve;
open $reserve, '<', '/dev/null' or undef $reserve;
my %last_said;     # what the rate-limited log said last: what => [ time, times unsaid since ]
# Every refusal sends the same bytes: encoded once.
my $LIMIT_FRAME = encode_frame(MSG_ERROR, error_payload('LIMIT', undef,
                                                        "too many connections ($opt{'max-conns'})"));
until ($stop) {
    my @ready = $select->can_read(next_wait());
    for my $fh (@ready) {
        if ($fh == $listener) { accept_some() }
        elsif ($udp && $fh == $udp) { serve_datagrams() }
        else { drain_some($fh) }
    }
    my $now = time;
    for my $d (values %draining) { end_drain($d->{sock}) if $now >= $d->{until} }
    if ($paused && $now >= $paused) {
        $paused = 0;
        $select->add($listener);
    }
    reap();    # SIGCHLD may be coalesced or come during a fork: never leave a zombie behind
}

close $listener;
if ($udp) {
    close $udp;
    logline(sprintf 'udp: %d datagrams in (%d filled the buffer), %d answered, %d not answered',
                    @udp_count{qw(in filled answered unanswered)});
}
end_drain($_->{sock}) for values %draining;
stop_children();
logline('stopped');
exit 0;

sub reap {
    while ((my $pid = waitpid -1, WNOHANG) > 0) { delete $children{$pid} }
    return;
}

sub next_wait {
    my $wait = 1;
    for my $d (values %draining) {
        my $left = $d->{until} - time;
        $wait = $left if $left < $wait;
    }
    if ($paused) {
        my $left = $paused - time;
        $wait = $left if $left < $wait;
    }
    return $wait > 0 ? $wait : 0;
}

# A log line about a resource running out, at most once a second however often it happens.
sub logline_limited {
    my ($what, $text) = @_;
    my $l = $last_said{$what} //= [ 0, 0 ];
    if (time - $l->[0] < 1) {
        $l->[1]++;
        return;
    }
    logline($text . ($l->[1] ? " ($l->[1] more since the last such line)" : ''));
    @$l = (time, 0);
    return;
}

# Accepts what is pending, up to a batch, so that a flood of connections is refused at the rate
# accept() allows rather than one per wakeup of the loop.
sub accept_some {
    for (1 .. 64) {
        my $paddr = accept(my $conn, $listener);
        if (!$paddr) {
            return if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
            return out_of_descriptors() if $! == EMFILE || $! == ENFILE;
            logline_limited(accept => "accept: $!");
            return;
        }
        if (keys %children >= $opt{'max-conns'}) {
            refuse_conn($conn, $paddr, 'LIMIT');
            next;
        }
        spawn($conn, $paddr);
    }
    return;
}

# EMFILE/ENFILE: the reserve descriptor is given back, one pending connection accepted and refused
# with ERROR(LIMIT), the reserve taken again, until none is pending. Without a reserve (or when
# even that does not help), accepting stops for 100 ms. Never a busy loop.
sub out_of_descriptors {
    my $refused = 0;
    while ($reserve && $refused < 64) {    # past 64, the loop comes back: the listener is readable
        close $reserve;
        undef $reserve;
        my $paddr = accept(my $conn, $listener);
        refuse_conn($conn, $paddr, 'LIMIT (out of descriptors)', 1) if $paddr;
        open $reserve, '<', '/dev/null' or undef $reserve;
        last unless $paddr;
        $refused++;
    }
    my $pause = !$refused;
    logline_limited(emfile => 'out of descriptors: refusing new connections with LIMIT'
                              . ($pause ? ', accepting paused for 100 ms' : ''));
    if ($pause) {
        $select->remove($listener);
        $paused = time + 0.1;
    }
    return;
}

sub spawn {
    my ($conn, $paddr) = @_;
    # Signals wait until the fork is done: SIGCHLD so that a child that ends at once is not reaped
    # before it is in %children (it would stay there forever); SIGTERM/SIGINT so that the child
    # gets them only with its own handlers in place.
    my $blocked = POSIX::SigSet->new(SIGCHLD, SIGTERM, SIGINT);
    sigprocmask(SIG_BLOCK, $blocked);
    my $pid = fork;
    if (!defined $pid) {    # EAGAIN, ENOMEM: refused like a connection over the limit
        my $why = "$!";
        sigprocmask(SIG_UNBLOCK, $blocked);
        logline_limited(fork => "fork: $why: refusing new connections with LIMIT");
        refuse_conn($conn, $paddr, "LIMIT (fork: $why)");
        return;
    }
    if (!$pid) {
        my $stopping = 0;
        $SIG{CHLD} = 'DEFAULT';
        $SIG{TERM} = $SIG{INT} = sub { $stopping = 1 };
        sigprocmask(SIG_UNBLOCK, $blocked);
        close $listener;
        close $udp if $udp;
        close $reserve if $reserve;
        end_drain($_->{sock}) for values %draining;
        serve($conn, peer_name($paddr), \$stopping);
        POSIX::_exit(0);    # the log line is out (STDERR is unbuffered): skip global destruction
    }
    $children{$pid} = 1;
    sigprocmask(SIG_UNBLOCK, $blocked);
    close $conn;
    return;
}

# One connection refused (over --max-conns, or out of processes or descriptors): ERROR(LIMIT,
# none) by a non-blocking write (a new socket's buffer takes these few bytes at once), then the
# graceful close of SPEC 8.4, drained by this loop so that accepting never waits for it. Past
# MAX_DRAINING at once (or out of descriptors: $now), what has arrived is read and the socket
# closed at once.
sub refuse_conn {
    my ($conn, $paddr, $why, $now) = @_;
    $conn->blocking(0);
    my $n = syswrite $conn, $LIMIT_FRAME;
    shutdown $conn, 1;
    logline(sprintf '%s: closed after 0 frames in (0 bytes), %d frames out (%d bytes): %s',
                    peer_name($paddr), ($n // 0) == length $LIMIT_FRAME ? 1 : 0, $n // 0, $why)
        unless $opt{quiet};
    if ($now || keys %draining >= MAX_DRAINING) {
        sysread $conn, my $junk, 65536;    # unread input would turn the close into a reset
        close $conn;
        return;
    }
    $draining{ fileno $conn } = { sock => $conn, until => time + DRAIN_SECONDS };
    $select->add($conn);
    return;
}

sub drain_some {
    my ($fh) = @_;
    my $n = sysread $fh, my $junk, 65536;
    end_drain($fh) if !defined $n && !($! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK) || defined $n && $n == 0;
    return;
}

sub end_drain {
    my ($fh) = @_;
    delete $draining{ fileno $fh };
    $select->remove($fh);
    close $fh;
    return;
}

# Ends every connection child: SIGTERM (each answers what it has received and closes), up to the
# frame timeout and a drain to go, then SIGKILL.
sub stop_children {
    local $SIG{CHLD} = 'DEFAULT';
    kill TERM => keys %children;
    my $until = time + $opt{'frame-timeout'} + DRAIN_SECONDS + 1;
    while (%children && time < $until) {
        my $pid = waitpid -1, WNOHANG;
        if ($pid > 0) { delete $children{$pid} }
        elsif ($pid < 0) { %children = () }    # nothing left to wait for
        else { sleep 0.02 }
    }
    for my $pid (keys %children) {
        kill KILL => $pid;
        waitpid $pid, 0;
    }
    return;
}

# "host:port" of a peer from its address as accept() returns it.
sub peer_name {
    my ($paddr) = @_;
    my ($err, $host, $port) = getnameinfo($paddr, NI_NUMERICHOST | NI_NUMERICSERV);
    return '?:?' if $err;
    return ($host =~ /:/ ? "[$host]" : $host) . ':' . $port;
}

# ---------------------------------------------------------------------------------------------
# The UDP datagram profile (SPEC 15), in the parent's loop: what is waiting, up to a batch.

sub serve_datagrams {
    for (1 .. UDP_BATCH) {
        my ($bytes, $source, $filled) = eval { recv_datagram($udp) };
        if (!defined $bytes) {    # nothing more waiting, or an ICMP error for an earlier answer
            return;
        }
        $udp_count{in}++;
        $udp_count{filled}++ if $filled;    # judged on what arrived: LENGTH or TOOBIG (SPEC 15.4)
        my $answer = eval { answer_datagram($bytes) };
        if (!defined $answer) {
            logline("udp: internal error: $@") if $@;
            $udp_count{unanswered}++;
            next;
        }
        # A full socket buffer loses the answer, like any loss (SPEC 15.1): the client retries.
        if (defined send $udp, $answer, 0, $source) { $udp_count{answered}++ }
        else { $udp_count{unanswered}++ }
    }
    return;
}

# The datagram answering $bytes, or undef: nothing is sent (SPEC 15.3, in its order).
sub answer_datagram {
    my ($bytes) = @_;
    my $id = datagram_id($bytes) // return undef;    # step 1: no id to answer with
    # The UDP max payload: the smaller of the datagram's and --max-payload (SPEC 15.4).
    my $max = $opt{'max-payload'} < UDP_MAX_PAYLOAD ? $opt{'max-payload'} : UDP_MAX_PAYLOAD;
    my (undef, $type) = eval { datagram_header($bytes, $max) };    # steps 2, 3
    return udp_error($id, $@) unless defined $type;
    return undef if $type == MSG_ERROR;    # step 4: never answered (SPEC 7.4), whatever its size
    my ($got, undef, $payload) = eval { decode_datagram($bytes, $max) };    # step 5
    return udp_error($id, $@) unless defined $got;
    if ($type != MSG_PING && !$service->handles($type)) {    # step 6
        return udp_error($id, Wire::Error->new(code => 'UNEXPECTED', offset => 2, message =>
                             sprintf 'message type %s is not served over UDP',
                                     message_name($type) // sprintf '0x%04x', $type));
    }
    my ($rtype, $rpayload) = $type == MSG_PING ? (MSG_PONG, $payload)
                           : eval { $service->handle($type, $payload) };    # step 7, as over TCP
    if (!defined $rtype) {    # a payload error: its offset counts the header (SPEC 5.1)
        my $e = $@;
        die $e unless ref $e && $e->isa('Wire::Error');
        return udp_error($id, Wire::Error->new(code => $e->code, message => $e->message,
                                               offset => defined $e->offset ? HEADER_SIZE + $e->offset : undef));
    }
    # A reply no datagram can carry: TOOBIG with no offset instead (SPEC 15.4).
    return udp_error($id, Wire::Error->new(code => 'TOOBIG', message => length($rpayload)
                                               . ' byte reply does not fit in a datagram'))
        if length $rpayload > UDP_MAX_PAYLOAD;
    return encode_datagram($id, $rtype, $rpayload);
}

sub udp_error {
    my ($id, $e) = @_;
    die $e unless ref $e && $e->isa('Wire::Error');
    utf8::encode(my $t = $e->message);
    if (length $t > ERROR_TEXT_MAX) {    # our texts are short, but never send what a receiver refuses
        $t = substr $t, 0, ERROR_TEXT_MAX;
        $t = substr $t, 0, utf8_error_offset($t) // length $t;
    }
    utf8::decode($t);
    return encode_datagram($id, MSG_ERROR, error_payload($e->code, $e->offset, $t));
}

# ---------------------------------------------------------------------------------------------
# One connection (in its child), from accept to close; logs one line when it ends.

sub serve {
    my ($sock, $peer, $stopping) = @_;
    setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);
    $sock->blocking(0);    # so that deadlines bound writes too
    my %c = (sock => $sock, stopping => $stopping, peer => $peer, peer_max => undef,
             frames_in => 0, bytes_in => 0, frames_out => 0, bytes_out => 0, graceful => 0);
    my $why = eval { session(\%c) } // do {
        my $e = $@;
        $c{graceful} = 0;
        ref $e && $e->isa('Wire::Error') ? $e->name . ': ' . $e->message : "internal error: $e";
    };
    $why =~ s/\s+\z//;
    if ($c{graceful}) { close_gracefully($sock, DRAIN_SECONDS) }
    else { close $sock }
    logline(sprintf '%s: closed after %d frames in (%d bytes), %d frames out (%d bytes): %s', $c{peer},
                    @c{qw(frames_in bytes_in frames_out bytes_out)}, $why)
        unless $opt{quiet};
    return;
}

# SPEC 8.6: what may come now. Before the handshake HELLO (and ERROR); after it the requests the
# service serves, PING, BYE (and ERROR). A PONG is never valid: this server sends no PING.
sub allowed {
    my ($c, $type) = @_;
    return 1 if $type == MSG_ERROR;
    return $type == MSG_HELLO unless defined $c->{peer_max};
    return $type == MSG_PING || $type == MSG_BYE || $service->handles($type);
}

# The frames of one connection, in the order of SPEC 8.3. Returns why the connection ended.
sub session {
    my ($c) = @_;
    my $sock = $c->{sock};
    while (1) {
        # Idle: no frame in progress. Its timeout runs from accept or the last reply sent.
        my $state = wait_first_byte($c, time + $opt{'idle-timeout'});
        return 'shutdown' if $state eq 'stop';
        return refuse($c, 'TIMEOUT', undef, "no frame within $opt{'idle-timeout'} s (idle timeout)")
            if $state eq 'timeout';

        # A frame has begun: the frame timeout runs until its last byte.
        my $frame_dl = time + $opt{'frame-timeout'};
        my ($header, $e) = receive($c, HEADER_SIZE, $frame_dl, 1);
        return $e if defined $e;
        my ($type, $length) = eval { decode_header($header, $opt{'max-payload'}) };
        return refuse($c, $@->name, $@->offset, $@->message) unless defined $type;    # step 1
        return refuse($c, 'UNEXPECTED', 2, unexpected_text($c, $type))                 # step 3
            unless allowed($c, $type);
        my $payload = '';
        if ($length) {
            $e = receive_into($c, \$payload, $length, $frame_dl, 0, $type == MSG_ERROR);
            return $e if defined $e;
        }
        $c->{frames_in}++;

        if ($type == MSG_ERROR) {    # step 2: the connection is over; never answered
            my $peer_e = eval { parse_error($payload) };
            $c->{graceful} = 1;
            return $peer_e ? sprintf('peer sent ERROR %s at %s', $peer_e->name, $peer_e->offset // 'none')
                           : 'peer sent a malformed ERROR (' . $@->name . ')';
        }
        if ($type == MSG_HELLO) {
            my $hello = eval { parse_hello($payload) } or return refuse_payload($c, $@);    # steps 4, 5
            $c->{peer_max} = $hello->{max_payload};
            reply($c, MSG_HELLO, hello_payload(NAME, $opt{'max-payload'})) or return $c->{why};
            next;
        }
        if ($type == MSG_BYE) {    # a control message: its payload must decode, extra fields ignored
            eval { decode_fields($payload); 1 } or return refuse_payload($c, $@);
            reply($c, MSG_BYE, '') or return $c->{why};
            $c->{graceful} = 1;    # frames after a BYE are discarded by the drain (SPEC 8.5)
            return 'BYE';
        }
        if ($type == MSG_PING) {
            reply($c, MSG_PONG, $payload) or return $c->{why};
            next;
        }
        my ($rtype, $rpayload) = eval { $service->handle($type, $payload) };
        return refuse_payload($c, $@) unless defined $rtype;
        undef $payload;    # a lexical keeps its buffer: an idle connection must not hold 16 MiB
        reply($c, $rtype, $rpayload) or return $c->{why};
        undef $rpayload;
    }
}

# Waits for the first byte of the next frame: 'ready', 'timeout' (the idle timeout) or 'stop' (a
# stop signal came while no frame was in progress; what has arrived already is served first).
sub wait_first_byte {
    my ($c, $deadline) = @_;
    my $sel = IO::Select->new($c->{sock});
    while (1) {
        return 'ready' if $sel->can_read(0);
        return 'stop' if ${ $c->{stopping} };
        my $left = $deadline - time;
        return 'timeout' if $left <= 0;
        return 'ready' if $sel->can_read($left < POLL_SECONDS ? $left : POLL_SECONDS);
    }
}

# $n bytes of the current frame before $deadline: ($bytes, undef), or (undef, why the connection
# ended) once it has been dealt with: EOF (at a frame boundary when $first, else the partial frame
# is lost), a reset, or the frame timeout (ERROR(TIMEOUT), except for an ERROR frame: never
# answered).
sub receive {
    my ($c, $n, $deadline, $first, $is_error) = @_;
    my $bytes = '';
    my $e = receive_into($c, \$bytes, $n, $deadline, $first, $is_error);
    return defined $e ? (undef, $e) : ($bytes, undef);
}

# As receive, appending to $$buf (the caller's buffer: a payload is never copied); returns undef, or
# why the connection ended.
sub receive_into {
    my ($c, $buf, $n, $deadline, $first, $is_error) = @_;
    if ($first) {    # the first byte alone, so that EOF at a frame boundary is told apart
        my $e = receive_into($c, $buf, 1, $deadline);
        return $e =~ /\ATRUNCATED/ ? 'EOF' : $e if defined $e;
        $n--;
    }
    if (!eval { read_append($c->{sock}, $buf, $n, $deadline); 1 }) {
        my $e = $@;
        die $e unless ref $e && $e->isa('Wire::Error');
        return 'TRUNCATED: EOF in the middle of a frame' if $e->name eq 'CLOSED';
        return 'IO: ' . $e->message if $e->name ne 'TIMEOUT';
        if ($is_error) {
            $c->{graceful} = 1;
            return 'TIMEOUT: an ERROR frame that never ended (not answered)';
        }
        return refuse($c, 'TIMEOUT', undef, "frame not complete within $opt{'frame-timeout'} s");
    }
    $c->{bytes_in} += $n;
    return undef;
}

sub unexpected_text {
    my ($c, $type) = @_;
    my $name = message_name($type) // sprintf '0x%04x', $type;
    return "message type $name is not expected " . (defined $c->{peer_max} ? 'here' : 'before HELLO');
}

# Sends a reply, unless the peer could not accept it (SPEC 10.1): then ERROR(TOOBIG, none). False
# when the connection is over ($c->{why} says why).
sub reply {
    my ($c, $type) = @_;
    my $payload = \$_[2];    # not copied: it may be a 16 MiB payload
    if (length $$payload > $c->{peer_max}) {
        $c->{why} = refuse($c, 'TOOBIG', undef, length($$payload)
                           . " byte reply exceeds your max_payload $c->{peer_max}");
        return 0;
    }
    # A peer that does not read its replies within the idle timeout is closed, without an ERROR
    # (which could not get past the unread replies).
    my $ok = eval { send_frame($c, $type, $$payload, $opt{'idle-timeout'}); 1 };
    return 1 if $ok;
    my $e = $@;
    die $e unless ref $e && $e->isa('Wire::Error');
    $c->{why} = $e->name eq 'TIMEOUT' ? 'TIMEOUT: the peer does not read its replies' : 'IO: ' . $e->message;
    return 0;
}

sub send_frame {
    my ($c, $type, undef, $seconds) = @_;
    $c->{bytes_out} += write_frame($c->{sock}, $type, $_[2], deadline => deadline($seconds));
    $c->{frames_out}++;
    return;
}

# An error in a payload: its offset counts from the payload, the ERROR's from the frame (SPEC 5.1).
sub refuse_payload {
    my ($c, $e) = @_;
    die $e unless ref $e && $e->isa('Wire::Error');
    return refuse($c, $e->name, defined $e->offset ? HEADER_SIZE + $e->offset : undef, $e->message);
}

# SPEC 8.4: send ERROR(code, offset, text); serve() then shuts down our side, drains briefly, closes.
sub refuse {
    my ($c, $code, $offset, $text) = @_;
    utf8::encode(my $t = $text);    # our texts are short, but never send what a receiver refuses
    if (length $t > ERROR_TEXT_MAX) {
        $t = substr $t, 0, ERROR_TEXT_MAX;
        $t = substr $t, 0, utf8_error_offset($t) // length $t;    # not half a character
    }
    utf8::decode($t);
    eval { send_frame($c, MSG_ERROR, error_payload($code, $offset, $t), $opt{'frame-timeout'}) };
    $c->{graceful} = 1;
    return sprintf 'sent ERROR %s at %s: %s', $code, $offset // 'none', $text;
}

__END__

=head1 NAME

server.pl - the Perl wire interop server

=head1 SYNOPSIS

    perl interop/perl/server.pl [--host 127.0.0.1] [--port 0] [--max-payload 16777216]
        [--max-conns 1024] [--idle-timeout 60] [--frame-timeout 10] [--vectors FILE]
        [--quiet] [--udp] [--version] [--help]

=head1 DESCRIPTION

The options, defaults and behaviour of SPEC.md 9.3, common to the four interop servers. Prints the
listening port alone on the first line of stdout, serves connections concurrently (a process
each), logs one line per connection on stderr when it ends (peer address, frames and bytes in and
out, why it ended; C<--quiet> silences them), and on SIGTERM or SIGINT stops accepting, lets every
connection answer the frames it has received, closes them and exits 0. SIGHUP is ignored.

Every frame is handled in the order of SPEC 8.3: the header checks (answered from the 8 header
bytes), an ERROR closes the connection without an answer, a type not allowed now is
ERROR(UNEXPECTED, 2) as soon as its header is in, the payload is decoded whole and then checked
field by field (the errors at their frame offsets), then answered.

C<--max-conns>: a connection beyond that many gets ERROR(LIMIT, 0xFFFFFFFF) from the accepting
process and is closed gracefully, without holding up the others: no process is forked for it, the
ERROR is written without blocking, and at most 64 refused connections are drained at once (the
others are closed at once, after reading what they sent). Out of descriptors (EMFILE), a
descriptor kept in reserve is given back to accept and refuse the pending connections with LIMIT
(without one, accepting pauses 100 ms); a failed fork is LIMIT too; each is logged at most once a
second. Children are reaped on SIGCHLD and again on every turn of the loop. C<--idle-timeout>: no frame begun
for that many seconds (from accept or the last reply) is ERROR(TIMEOUT, 0xFFFFFFFF); a peer that
does not read its replies within it is closed. C<--frame-timeout>: a frame whose first byte has
arrived must be complete within that many seconds, else ERROR(TIMEOUT, 0xFFFFFFFF). Timeouts are
whole seconds. A bad option or value is a message on stderr and exit status 2.

C<--udp>: the UDP datagram profile of SPEC.md section 15 is served too, on the UDP port with the
same number as the TCP port (with C<--port 0>, TCP is bound first and UDP to its number; if that
UDP port is taken, both are tried again). The parent's loop reads each datagram into a buffer of
65508 bytes and answers it at once, to its source: a request id and one frame, checked in the
order of SPEC 15.3 (a datagram under 4 bytes and any ERROR frame, whatever its size, are not
answered; HELLO, BYE and
every type the service does not serve are ERROR(UNEXPECTED, 2); a reply over 65495 bytes is
ERROR(TOOBIG, 0xFFFFFFFF)), with no state kept per client. The stop line counts the datagrams in
and answered.

=cut
