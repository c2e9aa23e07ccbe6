# SPDX-License-Identifier: MIT
package Wire::FrameParser;

use strict;
use warnings;

use Wire qw(decode_header HEADER_SIZE DEFAULT_MAX_PAYLOAD);
use Wire::Error qw(wire_error);

sub new {
    my ($class, %arg) = @_;
    return bless {
        max_payload => $arg{max_payload} // DEFAULT_MAX_PAYLOAD,
        buf         => '',
        type        => undef,    # header of the frame being assembled, once its 8 bytes are in
        length      => undef,
        error       => undef,
    }, $class;
}

# Appends bytes. The header of the pending frame is checked as soon as its 8 bytes are in, so an
# oversize length is rejected before any of its payload is waited for.
sub push {
    my ($self, $bytes) = @_;
    die $self->{error} if $self->{error};
    wire_error('INVAL', undef, 'frame parser input must be octets')
        if utf8::is_utf8($bytes) && !utf8::downgrade($bytes, 1);
    $self->{buf} .= $bytes;
    $self->_header;
    return;
}

# The next complete frame as ($type, $payload), or the empty list if none is complete yet.
sub next_frame {
    my ($self) = @_;
    die $self->{error} if $self->{error};
    return unless defined $self->{type} && length $self->{buf} >= HEADER_SIZE + $self->{length};
    my $type    = $self->{type};
    my $payload = substr $self->{buf}, HEADER_SIZE, $self->{length};
    substr($self->{buf}, 0, HEADER_SIZE + $self->{length}) = '';
    $self->{type} = $self->{length} = undef;
    # A bad next header must not lose this frame: it is kept and thrown by the next call.
    eval { $self->_header };
    return ($type, $payload);
}

sub buffered { length $_[0]{buf} }

sub _header {
    my ($self) = @_;
    return if defined $self->{type} || length $self->{buf} < HEADER_SIZE;
    my ($type, $length) = eval { decode_header($self->{buf}, $self->{max_payload}) };
    if (!defined $type) {
        $self->{error} = $@;    # the stream cannot be resynchronised: stay failed
        die $@;
    }
    @$self{qw(type length)} = ($type, $length);
    return;
}

1;

__END__

=encoding utf8

=head1 NAME

Wire::FrameParser - incremental frame parser: bytes in any chunking, whole frames out

=head1 SYNOPSIS

    my $p = Wire::FrameParser->new(max_payload => 16777216);
    while (sysread $sock, my $chunk, 65536) {
        $p->push($chunk);                       # dies with a Wire::Error on a bad header
        while (my ($type, $payload) = $p->next_frame) {
            ...
        }
    }

=head1 DESCRIPTION

=over 4

=item C<< Wire::FrameParser->new(max_payload => $n) >>

C<max_payload> defaults to 16777216.

=item C<push($bytes)>

Appends octets (a string with a character above 0xFF is INVAL). As soon as the 8 header bytes of
the pending frame are in, they are checked like L<Wire/decode_header> does (VERSION at 0, HEADER at
1 or 2, TOOBIG at 4): an oversize length is rejected right there, whatever follows. After an
error the parser is dead: every later call throws the same error.

=item C<next_frame>

Returns C<($type, $payload)> for the next complete frame, or the empty list. Call it in a loop: one
push may complete several frames. When a frame is followed by a bad header, the frame is returned
and the next call throws the header's error.

=item C<buffered>

Bytes held and not yet returned.

=back

=cut
