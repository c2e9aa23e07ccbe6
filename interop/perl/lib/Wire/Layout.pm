# SPDX-License-Identifier: MIT
package Wire::Layout;

use strict;
use warnings;

use Scalar::Util ();
use Wire ();
use Wire::Error qw(wire_error);

# A precompiled layout: a fixed list of top-level field types compiled once into one pack template
# and two generated subs, so that encoding is one pack after the value checks and decoding one
# unpack plus the checks. Anything the fast code is not sure of goes to the generic codec
# (Wire::encode_fields / Wire::decode_fields_with_offsets), which then decides and words the error:
# the results, errors, codes and offsets are the generic codec's by construction.

my %TAG = map { ($_ => Wire::tag_of($_)) }
    qw(u8 u16 u32 u64 i8 i16 i32 i64 f32 f64 bool string bytes);
my %PACK = (u8 => 'C', u16 => 'n', u32 => 'N', u64 => 'Q>', i8 => 'c', i16 => 's>', i32 => 'l>',
            i64 => 'q>', f32 => 'N', f64 => 'd>', bool => 'C');
my %CLASS;    # list of types => the class compiled for it

# The check that a value other than an integer or a bool is encoded as is (the generic encoder's
# fast checks, Wire.pm); $v is the value, $s receives what is packed.
sub _check_code {
    my ($type, $v, $s) = @_;
    return "(defined $v && !ref $v && Scalar::Util::looks_like_number($v) && (($s = $v), 1))"
        if $type eq 'f64';
    return "(Scalar::Util::blessed($v) && $v->isa('Wire::F32') && (($s = $v->bits), 1))"
        if $type eq 'f32';
    return "(defined $v && !ref $v && (($s = \"$v\"), utf8::encode($s), 1)"
         . " && ($s !~ /[\\x80-\\xff]/ || !defined Wire::_utf8_bad(\\$s))"
         . " && length $s <= 4294967295)"
        if $type eq 'string';
    return "(defined $v && !ref $v && !utf8::is_utf8($v) && length $v <= 4294967295"
         . " && (($s = $v), 1))"
        if $type eq 'bytes';
    die "no check for $type";
}

sub new {
    my ($class, @types) = @_;
    my (@fields, @enc_tpl, @dec_tpl, @rep_tpl);
    for my $t (@types) {
        my ($type, $et) = defined $t && $t =~ /\A(list):(\w+)\z/ ? ($1, $2) : ($t, undef);
        if (defined $type && $type eq 'list') {
            wire_error('INVAL', undef, "a layout list needs a fixed-size element type, got '$et'")
                unless exists $PACK{$et};
            push @fields, { type => 'list', et => $et };
            push @enc_tpl, "C C N/$PACK{$et}%d";
            push @dec_tpl, "C C N X4 N/$PACK{$et}";
            push @rep_tpl, "C C N X4 N/$PACK{$et}%d";
        }
        else {
            wire_error('INVAL', undef, 'a layout type must be a scalar type or list:TYPE, got '
                                     . (defined $type ? "'$type'" : 'undef'))
                unless defined $type && exists $TAG{$type};
            push @fields, { type => $type };
            my $f = $type eq 'string' || $type eq 'bytes' ? 'N/a*' : $PACK{$type};
            push @enc_tpl, "C $f";
            push @dec_tpl, "C $f";
            push @rep_tpl, "C $f";
        }
    }
    my $self = { types => [@types], fields => \@fields };
    # One class per list of types, compiled once, its subs called as methods without a hop.
    my $sig = join ',', map { $_->{type} eq 'list' ? "list:$_->{et}" : $_->{type} } @fields;
    return bless $self, $CLASS{$sig} if $CLASS{$sig};
    my $n = @fields;
    my $has_list = grep { $_->{type} eq 'list' } @fields;
    my $enc_tpl = join ' ', @enc_tpl;
    my $dec_tpl = join ' ', @dec_tpl;
    my $rep_tpl = join ' ', @rep_tpl;
    $enc_tpl =~ s/%/%%/g unless $has_list;    # no counts to fill in
    $rep_tpl =~ s/%/%%/g unless $has_list;

    # Encoder: the integers and bools, list elements included, checked all at once as the
    # generic encoder checks a list of integers (Wire.pm, %BATCH_RE: one regex on their texts
    # joined, one comparison of their doubles), the other values one by one; then one pack.
    my (@checks, @args, @counts, @lists, @batch, @batch_re, $batch_n);
    $batch_n = 0;
    for my $i (0 .. $#fields) {
        my $f = $fields[$i];
        my $type = $f->{type};
        if ($type eq 'list') {
            my $et = $f->{et};
            push @lists, "ref \$v$i eq 'ARRAY'";
            if (exists $Wire::BATCH_RE{$et}) {
                push @batch, "\@e$i";
                push @batch_re, "(?:$Wire::BATCH_RE{$et} )*";
                push @counts, "scalar \@e$i";
            }
            else {
                my $c = _check_code($et, '$x', '$s');
                push @checks, "do { my \$ok = 1; my \$s; \@e$i = ();"
                            . " for my \$e (\@\$v$i) { my \$x = \$e; $c or do { \$ok = 0; last };"
                            . " push \@e$i, \$s } \$ok }";
                push @counts, "scalar \@e$i";
            }
            push @args, sprintf('0x%02x, %d, @e%d', 0x50, Wire::tag_of($et), $i);
        }
        elsif (exists $Wire::BATCH_RE{$type}) {
            push @batch, "\$v$i";
            push @batch_re, "$Wire::BATCH_RE{$type} ";
            $batch_n++;
            push @args, sprintf '0x%02x, $v%d', $TAG{$type}, $i;
        }
        else {
            push @checks, _check_code($type, "\$v$i", "\$s$i");
            push @args, sprintf '0x%02x, $s%d', $TAG{$type}, $i;
        }
    }
    my $vars = join ', ', map { "\$v$_" } 0 .. $#fields;
    my $svars = join ', ', map { "\$s$_, \@e$_" } 0 .. $#fields;
    my $tpl_expr = $has_list ? 'sprintf($ENC_TPL, ' . join(', ', @counts) . ')' : '$ENC_TPL';
    my $copies = join '', map { /\@e(\d+)/ ? "    \@e$1 = \@\$v$1;\n" : () } @batch;
    my $batch_code = '';
    if (@batch) {
        my $items = join ', ', @batch;
        my $count = join ' + ', $batch_n, map { "\@e$_" } map { /\@e(\d+)/ ? $1 : () } @batch;
        $batch_code = <<"CODE";
    {
        no warnings 'uninitialized';    # an undef is not a decimal: the generic path words it
        my \$j;
        return \$self->_encode_generic(\@_)
            unless !grep({ ref } $items)
            && (\$j = join ' ', $items, '') =~ /\\A@{[ join '', @batch_re ]}\\z/
            && (\$j =~ tr/ //) == $count
            && pack('d>*', $items) eq pack('d>*', split / /, \$j);
    }
CODE
    }
    my $list_code = @lists ? "    return \$self->_encode_generic(\@_) unless "
                           . join(' && ', @lists) . ";\n" : '';
    my $check_code = @checks ? "    return \$self->_encode_generic(\@_) unless "
                             . join("\n        && ", @checks) . ";\n" : '';
    my $enc_code = <<"CODE";
sub {
    my \$self = shift;
    wire_error('INVAL', undef, "layout of $n fields given " . scalar(\@_) . ' values') if \@_ != $n;
    my ($vars) = \@_;
    my ($svars);
$list_code$copies$batch_code$check_code    return pack $tpl_expr, @{[ join ', ', @args ]};
}
CODE

    # Decoder: one unpack, the checks that the generic decoder makes on values (bool bytes, UTF-8),
    # and the proof that the walk was faithful: packing what was read gives the payload back.
    my (@dec, @ret, @rep_counts);
    for my $i (0 .. $#fields) {
        my $f = $fields[$i];
        my $type = $f->{type};
        if ($type eq 'list') {
            my $et = $f->{et};
            push @dec, sprintf('$s[$i] == 0x50 && $s[$i + 1] == %d || goto SLOW;', Wire::tag_of($et)),
                       "my \$c$i = \$s[\$i + 2]; \$i + 3 + \$c$i <= \@s || goto SLOW;",
                       "my \@l$i = \@s[\$i + 3 .. \$i + 2 + \$c$i]; \$i += 3 + \$c$i;";
            push @dec, "\$_ > 1 && goto SLOW for \@l$i;" if $et eq 'bool';
            push @dec, "\@l$i = map { my \$b = \$_ + 0; bless \\\$b, 'Wire::F32' } \@l$i;"
                if $et eq 'f32';
            push @ret, "\\\@l$i";
            push @rep_counts, "\$c$i";
            next;
        }
        push @dec, sprintf('$s[$i] == 0x%02x || goto SLOW; my $r%d = $s[$i + 1]; $i += 2;',
                           $TAG{$type}, $i);
        push @dec, "\$r$i > 1 && goto SLOW;" if $type eq 'bool';
        push @dec, "\$r$i =~ /[\\x80-\\xff]/ && defined Wire::_utf8_bad(\\\$r$i) && goto SLOW;"
                 . " utf8::decode(\$r$i);"
            if $type eq 'string';
        push @dec, "\$r$i = do { my \$b = \$r$i + 0; bless \\\$b, 'Wire::F32' };" if $type eq 'f32';
        push @ret, "\$r$i";
    }
    my $rep_expr = $has_list ? 'sprintf($REP_TPL, ' . join(', ', @rep_counts) . ')' : '$REP_TPL';
    my $dec_code = <<"CODE";
sub {
    my \$self = shift;
    goto SLOW if utf8::is_utf8(\$_[0]);
    {
        # Until the last check, what was read may be misread (a cut payload shifts the slots):
        # it only decides between returning and SLOW, so its warnings would be noise.
        no warnings;
        my \@s;
        {    # a length or count missing at the end: unpack dies
            local \$@;
            eval { \@s = unpack \$DEC_TPL, \$_[0]; 1 } || goto SLOW;
        }
        my \$i = 0;
        @{[ join "\n        ", @dec ]}
        \$i == \@s || goto SLOW;
        pack($rep_expr, \@s) eq \$_[0] || goto SLOW;
        return (@{[ join ', ', @ret ]});
    }
  SLOW:
    return \$self->_decode_generic(\$_[0]);
}
CODE
    my $pkg = 'Wire::Layout::_C' . (keys(%CLASS) + 1);
    {
        no strict 'refs';
        @{"${pkg}::ISA"} = ('Wire::Layout');
        *{"${pkg}::encode"} = _compile($enc_code, $enc_tpl, $dec_tpl, $rep_tpl);
        *{"${pkg}::decode"} = _compile($dec_code, $enc_tpl, $dec_tpl, $rep_tpl);
        ${"${pkg}::CODE"} = "$enc_code\n$dec_code";    # what was generated, for the curious
    }
    return bless $self, $CLASS{$sig} = $pkg;
}

sub _compile {
    my ($code, @tpl) = @_;
    my $sub = _eval_closure($code, @tpl);
    die "Wire::Layout: generated code does not compile: $@\n$code" unless $sub;
    return $sub;
}

# Outside any lexical scope of this file but the templates, so the generated code sees only them.
sub _eval_closure {
    my ($ENC_TPL, $DEC_TPL, $REP_TPL) = @_[ 1 .. 3 ];
    return eval $_[0];    ## no critic (ProhibitStringyEval)
}

sub types { @{ $_[0]{types} } }

# The generated code of this layout's class.
sub code { no strict 'refs'; ${ ref($_[0]) . '::CODE' } }

# The fields the generic codec takes for these values.
sub _fields_of {
    my ($self, $values) = @_;
    my $f = $self->{fields};
    return [ map {
        $f->[$_]{type} eq 'list'
            ? [ list => [ $f->[$_]{et} => $values->[$_] ] ]
            : [ $f->[$_]{type} => $values->[$_] ]
    } 0 .. $#$f ];
}

sub _encode_generic {
    my ($self, @values) = @_;
    my $f = $self->{fields};
    for my $i (0 .. $#$f) {    # the generic encoder would take a non-array as its INVAL
        next unless $f->[$i]{type} eq 'list';
        wire_error('INVAL', undef, 'a layout list value must be an array reference of values')
            unless ref $values[$i] eq 'ARRAY';
    }
    return Wire::encode_fields($self->_fields_of(\@values));
}

sub _decode_generic {
    my ($self) = @_;
    my ($got, $off) = Wire::decode_fields_with_offsets($_[1]);
    my $f = $self->{fields};
    my @values;
    for my $i (0 .. $#$f) {
        my $want = $f->[$i]{type};
        wire_error('TYPE', length $_[1], "field $i ($want) is missing") if $i > $#$got;
        my ($type, $v) = @{ $got->[$i] };
        wire_error('TYPE', $off->[$i], "field $i is $type, expected $want") if $type ne $want;
        if ($want eq 'list') {
            wire_error('TYPE', $off->[$i] + 1, "field $i is list:$v->[0], expected list:$f->[$i]{et}")
                if $v->[0] ne $f->[$i]{et};
            $v = $v->[1];
        }
        push @values, $v;
    }
    wire_error('TYPE', $off->[ scalar @$f ], 'field ' . scalar(@$f) . ' is not in the layout')
        if @$got > @$f;
    return @values;
}

1;

__END__

=encoding utf8

=head1 NAME

Wire::Layout - a precompiled layout of top-level fields: encode and decode in one pack / unpack

=head1 SYNOPSIS

    use Wire::Layout;

    my $layout = Wire::Layout->new(qw(u32 i64 f64 string bool u16 bytes list:i32));
    my $payload = $layout->encode(16909060, -1234567890123, 21.5, 'sensor-kitchen-1', 1, 513,
                                  "\x00\x01", [ 1, -2, 3, -4 ]);
    my ($u32, $i64, $f64, $name, $flag, $u16, $bytes, $list) = $layout->decode($payload);

=head1 DESCRIPTION

For a message whose fields are always the same types in the same order, C<Wire::Layout> compiles
the list of types once into one C<pack> template and two generated subs. Values and payloads are
those of L<Wire/VALUE MODEL>, without the type names: a field's value is given as is, a list's
value is an array reference of its elements.

It is the same codec as the generic API, only faster (measured by F<bench/peers/codec_perl.pl>):
whatever the fast code is not sure of (a value that is not a plain one, such as C<"007">, an
object or anything out of range; a payload that is not exactly the canonical encoding of the
layout) is handed to L<Wire/encode_fields> or L<Wire/decode_fields_with_offsets>, so the bytes, the
values, the errors, their codes and their offsets are theirs on any input (t/47-fastpath.t checks
it on every vector of F<proto/vectors.txt> and thousands of mutations).

=over 4

=item C<< Wire::Layout->new(@types) >>

C<@types> are scalar type names (C<u8> .. C<i64>, C<f32>, C<f64>, C<bool>, C<string>, C<bytes>)
and C<list:>I<TYPE> for a list of a fixed-size scalar type (integers, C<f32>, C<f64>, C<bool>).
Anything else (groups, lists of strings, of lists) is INVAL: use the generic API for those.

=item C<< $layout->encode(@values) >>

The payload, as C<encode_fields> gives it for the fields C<< [ $types[$i] => $values[$i] ] >> (a list
as C<< [ list => [ TYPE => $values[$i] ] ] >>), with its errors (RANGE, INVAL, DEPTH). The wrong
number of values, or a list value that is not an array reference, is INVAL.

=item C<< $layout->decode($payload) >>

The values, in the order of the layout (a list as an array reference of its elements). A payload
that C<decode_fields> rejects is rejected with the same error and offset. A valid payload whose
fields are not those of the layout is TYPE: at the tag of the first field of another type, at its
list element tag for a list of another element type, at the end of the payload for a missing
field, at the tag of the first field past the layout.

=item C<< $layout->types >>

The types given to C<new>.

=item C<< $layout->code >>

The Perl source generated for the layout (for the curious, and for profiling).

=back

The fast code takes, besides strings, bytes, f64 numbers and Wire::F32 objects: integers and bools
that are plain Perl integers, integral floats or canonical decimal strings (C<"12">, not C<"012">)
of at most 15 digits, in range. Others (u64 and i64 values of 16 digits or more, C<"+7">, objects,
C<''> for false) are encoded by the generic encoder: the same bytes or error, more slowly. The
layouts of one list of types share one class, compiled the first time
(C<< ref $layout >> is a subclass of C<Wire::Layout>); compiling costs a millisecond or two.

=cut
