# SPDX-License-Identifier: MIT
package Wire::Error;

use strict;
use warnings;

use Exporter 'import';

# The one error table of the protocol; t/01-errors.t checks it equals proto/errors.txt line by line.
my @TABLE = (
    [ 0,  'OK',         'local', 'success' ],
    [ 1,  'TRUNCATED',  'wire',  'value runs past the end of the data' ],
    [ 2,  'BADTAG',     'wire',  'unknown type tag' ],
    [ 3,  'TYPE',       'wire',  'field has another type than the one expected' ],
    [ 4,  'BADBOOL',    'wire',  'bool byte is neither 0 nor 1' ],
    [ 5,  'UTF8',       'wire',  'string is not valid UTF-8' ],
    [ 6,  'LENGTH',     'wire',  'length or count larger than the bytes that remain' ],
    [ 7,  'DEPTH',      'wire',  'nesting deeper than 32 levels' ],
    [ 8,  'TOOBIG',     'wire',  "frame payload larger than the receiver's limit" ],
    [ 9,  'OVERFLOW',   'local', 'output buffer too small' ],
    [ 10, 'VERSION',    'wire',  'unsupported protocol version' ],
    [ 11, 'HEADER',     'wire',  'malformed frame header' ],
    [ 12, 'UNEXPECTED', 'wire',  'message type not expected here' ],
    [ 13, 'MESSAGE',    'wire',  'message fields do not match its definition' ],
    [ 14, 'RANGE',      'local', 'value out of range for its wire type' ],
    [ 15, 'IO',         'local', 'I/O error' ],
    [ 16, 'CLOSED',     'local', 'connection closed by peer' ],
    [ 17, 'TIMEOUT',    'wire',  'operation timed out' ],
    [ 18, 'ADDRESS',    'local', 'cannot resolve or use the address' ],
    [ 19, 'LIMIT',      'wire',  'a resource limit was reached' ],
    [ 20, 'INVAL',      'local', 'invalid argument or API misuse' ],
    [ 21, 'PEER',       'local', 'the peer sent an ERROR and closed the connection' ],
);

my (%CODE, %BY_CODE);
for my $row (@TABLE) {
    $CODE{ $row->[1] } = $row->[0];
    $BY_CODE{ $row->[0] } = $row;
}

our @EXPORT_OK = ((map { "E_$_->[1]" } @TABLE), qw(wire_error));
our %EXPORT_TAGS = (codes => [ map { "E_$_->[1]" } @TABLE ]);

# E_OK .. E_PEER constants, generated from the table so the two cannot drift apart.
for my $row (@TABLE) {
    my $code = $row->[0];
    no strict 'refs';
    *{"E_$row->[1]"} = sub () { $code };
}

use overload
    '""'     => sub { $_[0]->as_string },
    'bool'   => sub { 1 },
    fallback => 1;

sub table { return map { [@$_] } @TABLE }

sub code_of {
    my (undef, $name) = @_;
    return $CODE{$name};
}

sub name_of {
    my (undef, $code) = @_;
    my $row = $BY_CODE{$code};
    return $row ? $row->[1] : undef;
}

sub new {
    my ($class, %arg) = @_;
    my $code = $arg{code};
    $code = $CODE{$code} if defined $code && exists $CODE{$code};
    die "Wire::Error->new: unknown error code or name '" . ($arg{code} // 'undef') . "'\n"
        unless defined $code && $code =~ /\A[0-9]+\z/ && $code <= 65535;
    my $row = $BY_CODE{$code};
    my $self = bless {
        code    => $code + 0,
        name    => $row ? $row->[1] : "APP$code",
        offset  => $arg{offset},
        message => $arg{message} // ($row ? $row->[3] : 'application error'),
    }, $class;
    return $self;
}

sub throw {
    my ($class, $code, $offset, $message) = @_;
    die $class->new(code => $code, offset => $offset, message => $message);
}

# Functional shorthand used all over the codec: wire_error(NAME, offset, message).
sub wire_error { Wire::Error->throw(@_) }

sub code    { $_[0]{code} }
sub name    { $_[0]{name} }
sub offset  { $_[0]{offset} }
sub message { $_[0]{message} }

sub as_string {
    my ($self) = @_;
    my $s = "wire error $self->{name} ($self->{code})";
    $s .= " at offset $self->{offset}" if defined $self->{offset};
    return "$s: $self->{message}";
}

1;

__END__

=encoding utf8

=head1 NAME

Wire::Error - the error object thrown by every Wire module

=head1 SYNOPSIS

    use Wire::Error qw(:codes);

    my $ok = eval { Wire::decode_fields($payload); 1 };
    if (!$ok) {
        my $e = $@;                       # a Wire::Error
        die $e unless ref $e && $e->isa('Wire::Error');
        printf "%s at %d\n", $e->name, $e->offset;   # e.g. "UTF8 at 13"
        print "bad bool\n" if $e->code == E_BADBOOL;
    }

=head1 DESCRIPTION

All Wire functions report failure by C<die>-ing with a C<Wire::Error> object. The codes and names
are exactly those of F<proto/errors.txt>:

    0 OK  1 TRUNCATED  2 BADTAG  3 TYPE  4 BADBOOL  5 UTF8  6 LENGTH  7 DEPTH  8 TOOBIG
    9 OVERFLOW  10 VERSION  11 HEADER  12 UNEXPECTED  13 MESSAGE  14 RANGE  15 IO
    16 CLOSED  17 TIMEOUT  18 ADDRESS  19 LIMIT  20 INVAL  21 PEER

Codes 256..65535 are application codes (named C<APP>I<code>), as received in an ERROR message.

=head1 METHODS

=over 4

=item C<code>

The numeric code.

=item C<name>

The name, e.g. C<"LENGTH">.

=item C<offset>

A byte offset, or C<undef> when there is none. For the codec it counts from the first payload
byte; for frame header errors it is the header offset (0, 1, 2 or 4); for errors found in a whole
frame (L<Wire/decode_frame>) it counts from the first byte of the frame.

=item C<message>

Human-readable text.

=item stringification

C<"wire error NAME (code) at offset N: message"> (the offset part only when defined). The object is
always true in boolean context.

=back

=head1 CLASS METHODS AND FUNCTIONS

=over 4

=item C<< Wire::Error->new(code => $code_or_name, offset => $off, message => $text) >>

=item C<< Wire::Error->throw($code_or_name, $offset, $message) >>

Create (and C<die> with) an error. C<$message> defaults to the table's text.

=item C<wire_error($code_or_name, $offset, $message)>

Exportable shorthand for C<throw>.

=item C<< Wire::Error->code_of($name) >>, C<< Wire::Error->name_of($code) >>

Table look-ups (C<undef> when unknown).

=item C<< Wire::Error->table >>

The table as a list of C<[code, name, 'wire'|'local', message]>.

=item C<E_OK> .. C<E_PEER>

Constants, exportable one by one or all with C<:codes>.

=back

=cut
