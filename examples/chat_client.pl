#!/usr/bin/env perl
# SPDX-License-Identifier: MIT
# chat_client.pl HOST PORT NAME - the chat client in Perl: says each line of stdin, prints every line said.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../interop/perl/lib";
use IO::Select;
use Time::HiRes ();
use Wire qw(encode_fields decode_fields_with_offsets error_payload parse_error MSG_ERROR MSG_PING MSG_PONG MSG_BYE);
use Wire::FrameParser;
use Wire::IO qw(connect_to client_hello write_frame close_gracefully deadline);

use constant { CHAT_SAY => 0x8101, CHAT_LINE => 0x8102, WAIT => 5 };    # WAIT: seconds any one wait may take

@ARGV == 3 or die "usage: chat_client.pl HOST PORT NAME\n";
my ($host, $port, $name) = @ARGV;
utf8::decode($name);                          # arguments are UTF-8 bytes; a HELLO name is text
$SIG{PIPE} = 'IGNORE';                        # a closed peer is then an IO error, not death
binmode STDOUT, ':encoding(UTF-8)';
$| = 1;                                       # each line out at once, for a reader at the end of a pipe
my ($sock, $server, $bye_by);                 # $bye_by: once our BYE is sent, when the answer is due

sub send_frame { write_frame($sock, $_[0], $_[1], deadline => deadline(WAIT), peer_max => $server->{max_payload}) }

# SPEC 8.4: ERROR, then the graceful close
sub refuse {
    my ($code, $offset, $text) = @_;
    eval { send_frame(MSG_ERROR, error_payload($code, $offset, $text)) };
    close_gracefully($sock, 1);
    die "refused a frame from the server: $code at offset $offset: $text\n";
}

sub on_frame {
    my ($type, $payload) = @_;
    if ($type == CHAT_LINE) {
        (my ($f, $off) = eval { decode_fields_with_offsets($payload) })
            or refuse($@->name, 8 + $@->offset, $@->message);   # SPEC 7.2: decoded whole first
        for my $i (0, 1, 2) {                 # SPEC 7.2: the wrong field's tag, or where a missing one starts
            my $ok = $i < 2 ? $f->[$i] && $f->[$i][0] eq 'string' : !$f->[$i];
            refuse('MESSAGE', 8 + ($off->[$i] // length $payload), 'CHAT_LINE is two strings') unless $ok;
        }
        print "$f->[0][1]: $f->[1][1]\n";
    } elsif ($type == MSG_PING) {
        send_frame(MSG_PONG, $payload);
    } elsif ($type == MSG_BYE) {              # the answer to ours, or the server's own: answered
        send_frame(MSG_BYE, '') unless defined $bye_by;
        close_gracefully($sock, 1);
        exit 0;
    } elsif ($type == MSG_ERROR) {
        die 'the server sent ' . parse_error($payload) . "\n";
    } else {
        refuse('UNEXPECTED', 2, sprintf 'a chat client takes CHAT_LINE only, not 0x%04x', $type);
    }
}

sub say_line {
    my ($text) = @_;
    utf8::decode($text) or return warn "chat_client.pl: line not sent: not UTF-8\n";
    eval { send_frame(CHAT_SAY, encode_fields([ [ string => $text ] ])); 1 }
        or warn "chat_client.pl: line not sent: $@\n";
}

sub main {
    # client_hello reads exactly the HELLO frame: what the server sends right after it stays in the socket
    $sock = connect_to($host, $port, timeout => WAIT);
    $server = client_hello($sock, name => $name, deadline => deadline(WAIT));
    my ($parser, $sel, $in) = (Wire::FrameParser->new, IO::Select->new($sock, \*STDIN), '');
    while (1) {
        my $left = defined $bye_by ? $bye_by - Time::HiRes::time() : undef;
        die "no BYE from the server in time\n" if defined $left && $left <= 0;
        for my $fh ($sel->can_read($left)) {
            my $n = sysread $fh, my $chunk, 65536;
            next if !defined $n && ($!{EINTR} || $!{EAGAIN});
            die "read: $!\n" unless defined $n;
            if (fileno($fh) == fileno($sock)) {
                die "the server closed the connection\n" if $n == 0 && !defined $bye_by;
                exit 0 if $n == 0;            # EOF answers our BYE as well as a BYE does (SPEC 8.5)
                my @frames;
                my $bad = eval { $parser->push($chunk); while (my @f = $parser->next_frame) { push @frames, \@f } 0 }
                    // $@;
                on_frame(@$_) for @frames;    # the frames before a bad header are still handled
                refuse($bad->name, $bad->offset, $bad->message) if $bad;
            } elsif ($n == 0) {               # end of stdin: the last line, then BYE
                $sel->remove(\*STDIN);
                say_line($in) if length $in;
                send_frame(MSG_BYE, '');
                $bye_by = deadline(WAIT);
            } else {
                $in .= $chunk;
                say_line($1) while $in =~ s/\A([^\n]*)\n//;
            }
        }
    }
}

eval { main(); 1 } or do { my $e = "$@"; chomp $e; print STDERR "chat_client.pl: $e\n"; exit 1 };
