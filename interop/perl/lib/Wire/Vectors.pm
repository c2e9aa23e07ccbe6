package Wire::Vectors;

use strict;
use warnings;

use Exporter 'import';
use Wire::Error qw(wire_error);
use Wire::Notation qw(parse_fields parse_hex);

our @EXPORT_OK = qw(load_vectors load_stats parse_vector_line parse_stats_line);

sub _read_lines {
    my ($path) = @_;
    open my $fh, '<:raw', $path or wire_error('IO', undef, "cannot open $path: $!");
    my @lines = <$fh>;
    close $fh;
    return @lines;
}

# Runs $parse on every non-comment line, prefixing errors with the file and line, and rejects
# duplicate names.
sub _load {
    my ($path, $parse) = @_;
    my (@cases, %seen);
    my $n = 0;
    for my $line (_read_lines($path)) {
        $n++;
        next if $line =~ /\A\s*(?:#|\z)/;
        my $case = eval { $parse->($line) };
        if (!$case) {
            my $e = $@;
            wire_error(ref $e ? $e->code : 'INVAL', undef, "$path line $n: " . (ref $e ? $e->message : $e));
        }
        wire_error('INVAL', undef, "$path line $n: duplicate name '$case->{name}'")
            if $seen{ $case->{name} }++;
        $case->{line} = $n;
        push @cases, $case;
    }
    return \@cases;
}

sub _split3 {
    my ($line) = @_;
    $line =~ s/\s+\z//;
    my @part = split /\|/, $line, -1;
    wire_error('INVAL', undef, "expected 3 columns separated by ' | '") unless @part == 3;
    s/\A\s+|\s+\z//g for @part;
    return @part;
}

sub parse_vector_line {
    my ($line) = @_;
    my ($head, $mid, $hex) = _split3($line);
    my ($kind, $name) = $head =~ /\A(ok|err|frame|ferr)\s+([a-z0-9._-]+)\z/
        or wire_error('INVAL', undef, "bad case kind or name in '$head'");
    my %case = (kind => $kind, name => $name, bytes => parse_hex($hex));
    if ($kind eq 'ok') {
        $case{fields} = parse_fields($mid);
    }
    elsif ($kind eq 'frame') {
        my ($type, $fields) = $mid =~ /\A0x([0-9a-f]{4})(?:\s+(.*))?\z/s
            or wire_error('INVAL', undef, "frame needs '0xNNNN <fields>', got '$mid'");
        $case{type}   = hex $type;
        $case{fields} = parse_fields($fields // '');
    }
    else {
        my ($code, $offset) = $mid =~ /\A([A-Z0-9]+)\s+([0-9]+)\z/
            or wire_error('INVAL', undef, "expected '<CODE> <offset>', got '$mid'");
        wire_error('INVAL', undef, "unknown error code '$code'")
            unless defined Wire::Error->code_of($code);
        @case{qw(code offset)} = ($code, 0 + $offset);
    }
    return \%case;
}

sub parse_stats_line {
    my ($line) = @_;
    my ($head, $request, $reply) = _split3($line);
    my ($name) = $head =~ /\Astats\s+([a-z0-9._-]+)\z/
        or wire_error('INVAL', undef, "bad stats name in '$head'");
    return { name => $name, request => parse_fields($request), reply => parse_fields($reply) };
}

sub load_vectors { _load($_[0], \&parse_vector_line) }

sub load_stats { _load($_[0], \&parse_stats_line) }

1;

__END__

=encoding utf8

=head1 NAME

Wire::Vectors - read proto/vectors.txt and proto/stats.txt

=head1 SYNOPSIS

    use Wire::Vectors qw(load_vectors load_stats);

    for my $case (@{ load_vectors('proto/vectors.txt') }) {
        next unless $case->{kind} eq 'ok';
        # $case->{name}, $case->{fields}, $case->{bytes}
    }

=head1 DESCRIPTION

=over 4

=item C<load_vectors($path)>

The cases in file order, each a hash reference with C<kind>, C<name>, C<line> and C<bytes> (the hex
column as octets), plus:

    ok      fields            (parsed with Wire::Notation)
    frame   type, fields      (type as a number; bytes are the whole frame)
    err     code, offset      (code as its name, e.g. "LENGTH"; payload offset)
    ferr    code, offset      (offset in the frame)

=item C<load_stats($path)>

Hash references C<{ name, request, reply, line }> with both columns parsed to fields.

=item C<parse_vector_line($line)>, C<parse_stats_line($line)>

One line of each file.

=back

Any problem (unreadable file: IO; bad line, duplicate name: INVAL, RANGE for an out-of-range
number) throws a L<Wire::Error> whose message names the file and line.

=cut
