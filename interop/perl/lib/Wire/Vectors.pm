# SPDX-License-Identifier: MIT
package Wire::Vectors;

use strict;
use warnings;

use Exporter 'import';
use File::Spec;
use Wire qw(encode_fields message_types);
use Wire::Error qw(wire_error);
use Wire::Notation qw(parse_fields parse_hex);

our @EXPORT_OK = qw(load_vectors load_stats load_control load_sessions parse_vector_line
                    parse_stats_line parse_control_line find_proto_file);

# SPEC 10.10: $WIRE_PROTO_DIR, then proto/ under the current directory, then the source tree's proto/
# ($program_dir is where the program is: interop/perl). The first file that exists, or undef.
sub find_proto_file {
    my ($name, $program_dir) = @_;
    my @dirs = grep { defined } $ENV{WIRE_PROTO_DIR}, 'proto',
        defined $program_dir ? File::Spec->catdir($program_dir, File::Spec->updir, File::Spec->updir, 'proto')
                             : undef;
    for my $dir (grep { length } @dirs) {
        my $path = File::Spec->catfile($dir, $name);
        return $path if -f $path;
    }
    return undef;
}

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
            if $seen{ $case->{key} // $case->{name} }++;
        delete $case->{key};
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

# proto/control.txt (proto/README.md section 9): <msg>[-decode|-err|-range] <name> | ... | <hex>.
sub parse_control_line {
    my ($line) = @_;
    my ($head, $mid, $hex) = _split3($line);
    my ($msg, $test, $name) = $head =~ /\A(hello|error)(|-decode|-err|-range)\s+([a-z0-9._-]+)\z/
        or wire_error('INVAL', undef, "bad case kind or name in '$head'");
    # control.txt reuses a name across kinds (hello-err and hello-range name-too-long): unique per kind.
    my %case = (kind => "$msg$test", message => $msg, test => $test eq '' ? 'codec' : substr($test, 1),
                name => $name, key => "$msg$test $name", bytes => parse_hex($hex));
    if ($case{test} eq 'err') {
        my ($code, $offset) = $mid =~ /\A([A-Z0-9]+)\s+([0-9]+)\z/
            or wire_error('INVAL', undef, "expected '<CODE> <offset>', got '$mid'");
        wire_error('INVAL', undef, "unknown error code '$code'")
            unless defined Wire::Error->code_of($code);
        @case{qw(code offset)} = ($code, 0 + $offset);
    }
    else {
        $case{fields} = parse_fields($mid);
        my @types = map { $_->[0] } @{ $case{fields} };
        my @want = qw(u16 u32 string);    # HELLO and ERROR alike
        wire_error('INVAL', undef, "a $msg case has the fields @want, not '@types'")
            unless "@types" eq "@want";
        wire_error('INVAL', undef, 'a range case has no hex') if $case{test} eq 'range' && length $hex;
    }
    return \%case;
}

sub load_control { _load($_[0], \&parse_control_line) }

my %MESSAGE_TYPE = map { ($_->[1] => $_->[0]) } message_types();
my %STEP = map { ($_ => 1) } qw(hello send raw shutdown expect expect-error expect-close);
use constant EXPECT_MS => 5000;    # an expect step's wait unless its third column says otherwise

# proto/sessions.txt (proto/README.md section 8): { config => [options], max_payload, sessions =>
# [ { name, spec, line, steps => [ { step, line, ... } ] } ] }.
sub load_sessions {
    my ($path) = @_;
    my %file;
    my $n = 0;
    for my $line (_read_lines($path)) {
        $n++;
        next if $line =~ /\A\s*(?:#|\z)/;
        my $ok = eval { _session_line(\%file, $line, $n); 1 };
        if (!$ok) {
            my $e = $@;
            wire_error(ref $e ? $e->code : 'INVAL', undef, "$path line $n: " . (ref $e ? $e->message : $e));
        }
    }
    wire_error('INVAL', undef, "$path: no config line") unless $file{config};
    delete $file{seen};
    $file{sessions} //= [];
    return \%file;
}

sub _session_line {
    my ($file, $line, $n) = @_;
    my ($what, $col2, $col3) = _split3($line);
    if ($what eq 'config') {
        wire_error('INVAL', undef, 'config comes once, first') if $file->{config} || $file->{sessions};
        $file->{config} = [ split ' ', $col2 ];
        my %o = @{ $file->{config} } % 2 ? () : @{ $file->{config} };
        $file->{max_payload} = $o{'--max-payload'} // Wire::DEFAULT_MAX_PAYLOAD;
        return;
    }
    wire_error('INVAL', undef, 'the config line comes first') unless $file->{config};
    if ($what =~ /\Asession\s+([a-z0-9._-]+)\z/) {
        wire_error('INVAL', undef, "duplicate session '$1'") if $file->{seen}{$1}++;
        push @{ $file->{sessions} }, { name => $1, spec => $col2, line => $n, steps => [] };
        return;
    }
    wire_error('INVAL', undef, 'a step before the first session') unless $file->{sessions};
    my ($step, $arg) = $what =~ /\A(\S+)(?:\s+(\S+))?\z/
        or wire_error('INVAL', undef, "bad step '$what'");
    wire_error('INVAL', undef, "unknown step '$step'") unless $STEP{$step};
    my %st = (step => $step, line => $n, ms => EXPECT_MS);
    if ($step eq 'send' || $step eq 'expect') {
        wire_error('INVAL', undef, "'$step' needs a message type") unless defined $arg;
        $st{type} = $MESSAGE_TYPE{$arg} // ($arg =~ /\A0x([0-9a-f]{4})\z/ ? hex $1 : 0);
        wire_error('INVAL', undef, "unknown message type '$arg'") unless $st{type};
        wire_error('INVAL', undef, 'a payload is fields or hex, not both') if length $col2 && length $col3;
        if (length $col2) {
            $st{fields} = parse_fields($col2, wildcards => $step eq 'expect');
            $st{bytes} = encode_fields($st{fields}) if $step eq 'send';
        }
        else {
            $st{bytes} = parse_hex($col3);
        }
    }
    elsif ($step eq 'expect-error') {
        wire_error('INVAL', undef, "expect-error needs an error name, not '" . ($arg // '') . "'")
            unless defined $arg && defined Wire::Error->code_of($arg);
        $st{code} = $arg;
        wire_error('INVAL', undef, "expect-error needs an offset or none, not '$col2'")
            unless $col2 =~ /\A(?:none|[0-9]+)\z/;
        $st{offset} = $col2 eq 'none' ? undef : 0 + $col2;
    }
    else {
        wire_error('INVAL', undef, "'$step' takes no argument") if defined $arg;
        $st{bytes} = parse_hex($col3) if $step eq 'raw';
        wire_error('INVAL', undef, 'raw needs bytes') if $step eq 'raw' && !length $st{bytes};
    }
    if ($step eq 'expect-error' || $step eq 'expect-close') {
        wire_error('INVAL', undef, "bad wait '$col3' (milliseconds)") unless $col3 =~ /\A(?:|[1-9][0-9]*)\z/;
        $st{ms} = 0 + $col3 if length $col3;
    }
    push @{ $file->{sessions}[-1]{steps} }, \%st;
    return;
}

sub load_vectors { _load($_[0], \&parse_vector_line) }

sub load_stats { _load($_[0], \&parse_stats_line) }

1;

__END__

=encoding utf8

=head1 NAME

Wire::Vectors - read proto/vectors.txt, stats.txt, control.txt and sessions.txt

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

=item C<load_control($path)>

The cases of F<proto/control.txt> (proto/README.md section 9) in file order: hash references with
C<kind> (C<hello>, C<hello-err>, ...), C<message> (C<hello> or C<error>), C<test> (C<codec>,
C<decode>, C<err>, C<range>), C<name>, C<line>, C<bytes> (the payload), and C<fields> (the three
fields) or C<code> and C<offset> (payload offset) for C<err> cases.

=item C<load_sessions($path)>

F<proto/sessions.txt> (proto/README.md section 8): C<{ config, max_payload, sessions }>, C<config>
being the config line's server options as a list, C<max_payload> its C<--max-payload>. Each session
is C<{ name, spec, line, steps }>; each step C<{ step, line, ms, ... }> with C<step> one of
C<hello send raw shutdown expect expect-error expect-close>, C<ms> its wait (default 5000), and:
C<type> (the message type number) for C<send> and C<expect>; C<bytes> the payload or raw bytes
(C<send>: encoded from the fields column when there is one); C<fields> the fields column (C<expect>:
parsed with wildcards, see L<Wire::Notation/parse_fields>); C<code> and C<offset> (C<undef> for
C<none>) for C<expect-error>.

=item C<find_proto_file($name, $program_dir)>

Where a proto/ file is, as SPEC 10.10 says: in C<$WIRE_PROTO_DIR>, in F<proto/> under the current
directory, or in the F<proto/> of the source tree (C<$program_dir/../../proto>, C<$program_dir>
being the program's directory, F<interop/perl>). The first that exists, or C<undef>.

=item C<parse_vector_line($line)>, C<parse_stats_line($line)>, C<parse_control_line($line)>

One line of each file.

=back

Any problem (unreadable file: IO; bad line, duplicate name: INVAL, RANGE for an out-of-range
number) throws a L<Wire::Error> whose message names the file and line.

=cut
