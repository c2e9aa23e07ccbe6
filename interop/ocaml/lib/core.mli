(* SPDX-License-Identifier: MIT *)
(** The core of {!Wire} (the library's [Wire] module includes it whole):
    everything that does not depend on the [proto/] text files: error
    codes, the value model, the strict codec, frame headers, an
    incremental frame parser, blocking I/O helpers and the control
    messages (HELLO, ERROR, PING/PONG, BYE).

    All failures are reported by raising {!Error}; {!catch} turns that
    into a [result].  Requires a 64-bit OCaml (checked at start-up):
    u32 values are held in [int]. *)

(** {1 Errors} *)

(** Error codes, identical to [proto/errors.txt] (the number is given by
    {!code_number}). *)
type code =
  | OK  (** 0, success (never raised) *)
  | TRUNCATED  (** 1, value runs past the end of the data *)
  | BADTAG  (** 2, unknown type tag *)
  | TYPE  (** 3, field has another type than the one expected *)
  | BADBOOL  (** 4, bool byte is neither 0 nor 1 *)
  | UTF8  (** 5, string is not valid UTF-8 *)
  | LENGTH  (** 6, length or count larger than the bytes that remain *)
  | DEPTH  (** 7, nesting deeper than 32 levels *)
  | TOOBIG  (** 8, frame payload larger than the receiver's limit *)
  | OVERFLOW  (** 9, output buffer too small (local) *)
  | VERSION  (** 10, unsupported protocol version *)
  | HEADER  (** 11, malformed frame header *)
  | UNEXPECTED  (** 12, message type not expected here *)
  | MESSAGE  (** 13, message fields do not match its definition *)
  | RANGE  (** 14, value out of range for its wire type (local) *)
  | IO  (** 15, I/O error (local) *)
  | CLOSED  (** 16, connection closed by peer (local) *)
  | TIMEOUT  (** 17, operation timed out *)
  | ADDRESS  (** 18, cannot resolve or use the address (local) *)
  | LIMIT  (** 19, a resource limit was reached *)
  | INVAL  (** 20, invalid argument or API misuse (local) *)
  | PEER  (** 21, the peer sent an ERROR and closed the connection (local) *)

(** One row of the error table. *)
type code_info = {
  code : code;
  number : int;  (** the number sent in ERROR frames *)
  name : string;  (** e.g. ["TRUNCATED"] *)
  on_wire : bool;  (** [true] for "wire" codes, [false] for "local" ones *)
  meaning : string;  (** the one-line message of [proto/errors.txt] *)
}

val code_table : code_info list
(** All codes in numeric order, exactly the rows of [proto/errors.txt]. *)

val code_number : code -> int
val code_name : code -> string
val code_meaning : code -> string
val code_on_wire : code -> bool

val code_of_number : int -> code option
(** [None] for numbers outside the table (e.g. application codes >= 256). *)

val code_of_name : string -> code option

val code_number_name : int -> string
(** The name of a numeric code, or ["code N"] when it is not in the table. *)

(** An error: its code, the byte offset it refers to (if any) and a
    human-readable message.  Codec errors count offsets from the first
    payload byte; frame-header errors use the header offsets 0, 1, 2, 4. *)
type error = { code : code; offset : int option; message : string }

exception Error of error
(** Raised by every function of this library on failure. *)

val error_name : error -> string
(** e.g. ["LENGTH"]. *)

val error_number : error -> int

val fail : ?offset:int -> code -> string -> 'a
(** [fail ?offset code msg] raises {!Error}. *)

val failf : ?offset:int -> code -> ('a, unit, string, 'b) format4 -> 'a
(** [printf]-style {!fail}. *)

val string_of_error : error -> string
(** ["NAME at offset N: message"] or ["NAME: message"]. *)

val catch : (unit -> 'a) -> ('a, error) result
(** Runs the function, turning {!Error} into [Error]. *)

val shift_error : int -> error -> error
(** [shift_error base e] adds [base] to the offset of [e], if it has one
    (e.g. [8] turns a payload offset into a frame offset). *)

(** {1 Tags and values} *)

(** The 15 type tags. *)
type tag =
  | T_u8  (** 0x01 *)
  | T_u16  (** 0x02 *)
  | T_u32  (** 0x03 *)
  | T_u64  (** 0x04 *)
  | T_i8  (** 0x11 *)
  | T_i16  (** 0x12 *)
  | T_i32  (** 0x13 *)
  | T_i64  (** 0x14 *)
  | T_f32  (** 0x23 *)
  | T_f64  (** 0x24 *)
  | T_bool  (** 0x30 *)
  | T_string  (** 0x40 *)
  | T_bytes  (** 0x41 *)
  | T_list  (** 0x50 *)
  | T_group  (** 0x51 *)

val all_tags : tag list
val tag_byte : tag -> int
val tag_of_byte : int -> tag option
(** [None] for every unknown tag byte, including 0x00. *)

val tag_name : tag -> string
(** The notation name: ["u8"], ..., ["list"], ["group"]. *)

val tag_of_name : string -> tag option

val min_size : tag -> int
(** Smallest encoded size of an (untagged) value of this type, used by the
    list-count plausibility check: 1, 2, 4 or 8 for numbers and bool, 4
    for string/bytes/group, 5 for list. *)

(** A decoded or to-be-encoded value.

    - [U8], [U16], [U32], [I8], [I16], [I32] hold an OCaml [int] (63 bits,
      so u32 fits); the encoder raises [RANGE] if it is outside the type's
      range — it never truncates.
    - [I64] holds an [int64].  [U64] holds the same 64 bits with unsigned
      meaning: print with {!u64_to_string} ([%Lu]), parse with
      {!u64_of_string}, compare with [Int64.unsigned_compare].
    - [F32] holds the binary32 bit pattern as an [int32] (an OCaml float
      would widen it, and widening quiets a signalling NaN); use
      {!f32_of_float} / {!float_of_f32} to convert.
    - [F64] holds a [float]; its 64 bits are preserved exactly (NaN
      payloads, signalling NaNs, -0.0).  Compare with {!equal_value},
      which compares floats by bits.
    - [String] holds UTF-8 bytes (validated on encode and decode);
      [Bytes] holds raw octets.
    - [List (e, vs)]: every element must have tag [e] ([TYPE] otherwise).
    - [Group fs]: a nested sequence of fields. *)
type value =
  | U8 of int
  | U16 of int
  | U32 of int
  | U64 of int64
  | I8 of int
  | I16 of int
  | I32 of int
  | I64 of int64
  | F32 of int32
  | F64 of float
  | Bool of bool
  | String of string
  | Bytes of string
  | List of tag * value list
  | Group of value list

val tag_of_value : value -> tag

val equal_value : value -> value -> bool
(** Structural equality with floats compared by their bits. *)

val equal_values : value list -> value list -> bool

(** {2 Ranges and conversions} *)

val u8_max : int
val u16_max : int
val u32_max : int
(** [0xFFFF_FFFF]. *)

val i32_min : int
val i32_max : int

val u8 : int -> value
(** Range-checked constructor: raises [RANGE] outside 0..255.  Likewise
    the five below. *)

val u16 : int -> value
val u32 : int -> value
val i8 : int -> value
val i16 : int -> value
val i32 : int -> value

val check_value_range : value -> unit
(** Raises [RANGE] if a small-integer value is outside its type's range
    (not recursive). *)

val f32_of_float : float -> int32
(** Rounds a double to the nearest binary32 and returns its bits.  Raises
    [RANGE] if the double is finite but rounds to infinity.  NaN inputs
    give a quiet NaN. *)

val float_of_f32 : int32 -> float
(** Widens binary32 bits to a double (note: quiets a signalling NaN; keep
    the [int32] when the bits matter). *)

val f32 : float -> value
(** [F32 (f32_of_float x)]. *)

val u64_to_string : int64 -> string
(** Unsigned decimal: [u64_to_string (-1L) = "18446744073709551615"]. *)

val u64_of_string : string -> int64
(** Canonical decimal (no leading zeros), 0..18446744073709551615; [INVAL] on bad syntax,
    [RANGE] on overflow. *)

val i64_of_string : string -> int64
(** Optional [-] then canonical decimal digits; [INVAL] on bad syntax (no [+], [0x], leading zeros, [-0]
    or [_]), [RANGE] outside the int64 range. *)

val int_of_decimal : string -> string -> int
(** [int_of_decimal what s]: optional [-] then canonical decimal digits (no leading zeros, no [-0]), as an
    [int]; [what] names the thing in error messages. *)

(** {2 UTF-8} *)

val utf8_error : string -> int -> int -> int option
(** [utf8_error s off len] is [None] if [s.[off..off+len-1]] is
    well-formed UTF-8 (Unicode Table 3-7), else the offset (in [s]) of the
    lead byte of the first ill-formed sequence; a stray continuation byte
    or an impossible lead (C0, C1, F5..FF) is its own lead. *)

val utf8_valid : string -> bool

(** {1 Codec} *)

val max_depth : int
(** 32: a container at depth 32 is fine, at depth 33 is [DEPTH]. *)

val encode_fields : value list -> string
(** The canonical encoding of a payload (a sequence of fields).  Raises
    [RANGE] (integer out of range, length over u32), [UTF8] (invalid
    string), [TYPE] (list element of the wrong type) or [DEPTH] (nesting
    beyond 32).  Error offsets are [None]. *)

val encode_field : Buffer.t -> value -> unit
(** Appends one field (tag + value).  On error the buffer holds a partial
    field. *)

val encode_value : Buffer.t -> value -> unit
(** Appends an untagged value (as found in a list). *)

val decode_fields : string -> value list
(** Strict decoder for a whole payload, following SPEC 3 and 5 (the walk of 5.2): the
    first problem in field order is reported, at the offset of the
    smallest wrong element, with the checks in the normative order.  A
    list count is checked against the remaining bytes before anything is
    allocated for it. *)

val decode : string -> (value list, error) result
(** {!decode_fields} as a result. *)

val decode_located : string -> (int * value) list
(** Like {!decode_fields}, each top-level field paired with the offset of
    its tag byte. *)

val validate_fields : string -> unit
(** Raises exactly what {!decode_fields} would raise on the same payload
    (same code, same offset), and builds no value: memory stays constant
    whatever the payload. *)

val field_tags : ?max:int -> string -> (int * tag) list
(** Validates the whole payload as {!validate_fields} does, then returns the
    offset of the tag byte and the tag of its first [max] (default: all)
    top-level fields. *)

val value_end : string -> tag -> int -> int
(** [value_end payload tag p]: where the untagged value of [tag] at [p] ends, in a payload
    that passed {!validate_fields}. *)

val decode_value_at : string -> tag -> int -> value
(** [decode_value_at payload tag p] decodes the untagged value of [tag] at [p], in a payload
    that passed {!validate_fields}. *)

val decode_field_at : string -> int -> value
(** [decode_field_at payload p] decodes the field whose tag byte is at
    [p], as {!decode_fields} would; meant for a payload that passed
    {!validate_fields}. *)

val decode_payload_in_frame : string -> value list
(** {!decode_fields} with error offsets shifted by 8 (frame offsets, as
    sent in an ERROR message). *)

(** {2 One field at a time}

    For a caller who knows a message's layout: one typed call per field or
    list element, without the {!value} tree (on [bench/message.hex],
    encode+decode took 0.8 times as long as with {!encode_fields} and
    {!decode_fields}, 1.8 times as long as plain [Bytes] packing).  Lists of
    numbers, bools, strings or bytes only; nested lists and groups go
    through {!encode_fields} / {!decode_fields}.  After an error a writer
    or reader is left in an unspecified state (use {!Writer.clear} or a new
    one). *)

(** Writes a payload field by field.  Each call writes one field (tag and
    value); after {!Writer.list}, the next [count] calls write its
    elements (untagged) instead.  The checks, their order and their errors
    are {!encode_fields}': [RANGE] (a number outside its type, a length
    over u32), [UTF8] (a string that is not UTF-8), [TYPE] (a list element
    of another type, with the same message).  [INVAL] for a list not
    written whole, a list inside a list, a list of lists or groups. *)
module Writer : sig
  type t

  val create : ?capacity:int -> unit -> t
  (** An empty payload; [capacity] (default 256 bytes) is where the
      buffer starts, it grows as needed. *)

  val clear : t -> unit
  (** Empties it, keeping its buffer (no allocation for the next payload). *)

  val length : t -> int
  (** Bytes written so far. *)

  val contents : t -> string
  (** The payload written so far (a copy); [INVAL] while a list still
      lacks elements. *)

  val buffer : t -> Bytes.t
  (** The writer's own buffer, not a copy: its first {!length} bytes are
      the payload (e.g. for [Unix.write fd (buffer w) 0 (length w)]),
      valid until the next call on the writer.  [INVAL] as {!contents}. *)

  val u8 : t -> int -> unit
  val u16 : t -> int -> unit
  val u32 : t -> int -> unit
  val u64 : t -> int64 -> unit
  val i8 : t -> int -> unit
  val i16 : t -> int -> unit
  val i32 : t -> int -> unit
  val i64 : t -> int64 -> unit
  val f32 : t -> int32 -> unit
  (** The binary32 bits, as in {!F32}. *)

  val f64 : t -> float -> unit
  val bool : t -> bool -> unit
  val string : t -> string -> unit
  val bytes : t -> string -> unit

  val list : t -> tag -> int -> unit
  (** [list w e count] writes a list's tag, element type and count; the
      next [count] calls must write elements of type [e]. *)
end

(** Reads a payload field by field: each call reads the next field, which
    must have the type asked for; after {!Reader.list}, the next [count]
    calls read its elements instead.

    Errors are {!decode_fields}' on the same payload, code, offset and
    message: each call makes the checks {!decode_fields} makes on that
    field, in the same order, and a call that finds a field of another
    type first validates the rest of the payload, so that a payload that
    {!decode_fields} rejects is rejected with the same error.  Only a
    payload that decodes but does not have the layout asked for gets
    [TYPE]: at the field's tag ("field is a i64, expected a u32"), at the
    element (list of another element type: at the list's element-type
    byte), or at the payload's end when no field is left.  [INVAL] for a
    list inside a list, a list of lists or groups.  Call {!Reader.finish}
    to validate whatever was not read. *)
module Reader : sig
  type t

  val create : ?len:int -> string -> t
  (** A reader of the payload [s.[0..len-1]] (default: all of [s]) at its
      first byte; the string is not copied and must not change while it
      is read (it may be [Bytes.unsafe_to_string] of a {!Writer.buffer}).
      [INVAL] unless [0 <= len <= String.length s]. *)

  val offset : t -> int
  (** Where the next field or element starts. *)

  val at_end : t -> bool
  (** [true] when no field or element is left. *)

  val u8 : t -> int
  val u16 : t -> int
  val u32 : t -> int
  val u64 : t -> int64
  val i8 : t -> int
  val i16 : t -> int
  val i32 : t -> int
  val i64 : t -> int64
  val f32 : t -> int32
  val f64 : t -> float
  val bool : t -> bool
  val string : t -> string
  (** A copy, validated UTF-8. *)

  val bytes : t -> string

  val list : t -> tag -> int
  (** [list r e] opens a list whose elements must be of type [e] and
      returns its count (checked against the bytes that remain, as
      {!decode_fields} checks it). *)

  val finish : t -> unit
  (** Validates the elements and fields not read, as {!validate_fields}
      would (same errors); the payload is then known valid whole. *)
end

(** {1 Frames} *)

val protocol_version : int
(** 1 *)

val header_size : int
(** 8 *)

val default_max_payload : int
(** 16777216 (a payload of exactly that size is accepted). *)

val min_max_payload : int
(** 1037, the largest ERROR payload: the smallest max_payload a HELLO may
    announce (SPEC 8.1), so that every HELLO and ERROR fits. *)

type header = { msg_type : int; length : int }

val check_header_bytes : max_payload:int -> Bytes.t -> int -> int -> header option
(** [check_header_bytes ~max_payload b off avail]: [None] while fewer
    than 8 header bytes are present at [off] ([avail]), whatever they are
    (SPEC 2.3 checks the complete header); then checks them in the order
    version ([VERSION] at 0), flags ([HEADER] at 1), type ([HEADER] at 2),
    length ([TOOBIG] at 4) and returns the header. *)

val decode_header : ?max_payload:int -> string -> int -> header
(** Checks and decodes the header at the given offset; [TRUNCATED] (at
    the first incomplete header field's offset) if fewer than 8 bytes. *)

val encode_header : msg_type:int -> length:int -> string
(** [INVAL] unless [1 <= msg_type <= 65535]; [RANGE] for a bad length. *)

val encode_frame : ?max_payload:int -> int -> string -> string
(** [encode_frame ?max_payload msg_type payload]: header + payload.  Raises
    [TOOBIG] if the payload exceeds [max_payload] (the receiver's limit,
    default 16777216). *)

val decode_frame : ?max_payload:int -> string -> int * string
(** Exactly one whole frame: header checks, then [TRUNCATED] at the first
    missing byte if the payload is short, [INVAL] at the frame end if
    bytes follow it.  Returns [(msg_type, payload)]; the payload is not
    decoded. *)

(** Incremental frame parser: feed bytes in any chunking, take complete
    frames out.  Header errors are detected as soon as the 8 header bytes
    are in, not before (SPEC 2.3: a partial header cut by EOF is lost, not
    reported); an oversize length is thus rejected before any payload is
    buffered.  They are reported by {!next} only after the complete frames
    that preceded them. *)
module Parser : sig
  type t

  type event =
    | Frame of int * string  (** a complete frame: type, payload *)
    | Await  (** need more bytes *)
    | Failed of error
    (** the stream is invalid from here on (offset within the frame) *)

  val create : ?max_payload:int -> unit -> t
  (** [max_payload] is this receiver's limit (default 16777216). *)

  val feed : t -> string -> int -> int -> unit
  (** [feed t s off len] appends bytes; ignored once the parser failed. *)

  val feed_string : t -> string -> unit

  val next : t -> event
  (** The next complete frame, else the pending failure, else [Await]. *)

  val failure : t -> error option
  (** The failure detected so far, even if frames precede it. *)

  val buffered : t -> int
  (** Bytes held (complete frames not taken yet plus a partial frame). *)

  val in_frame : t -> bool
  (** [true] if a partial frame is buffered (EOF now would cut a frame). *)

  val pending : t -> header option
  (** The header of the partial frame being received, as soon as its 8
      bytes are in (they passed the header checks), before its payload
      has arrived; [None] without one.  Complete frames before it may
      still be waiting for {!next}.  It lets a receiver judge the type
      from the header alone (SPEC 8.3 step 3). *)
end

(** {1 Blocking I/O}

    All helpers retry on [EINTR], survive partial reads and writes, and map
    errors: [EAGAIN]/[EWOULDBLOCK] (e.g. [SO_RCVTIMEO]) and an expired
    [deadline] to [TIMEOUT], [EPIPE]/[ECONNRESET] to [CLOSED], others to
    [IO].  [deadline] is an absolute [Unix.gettimeofday] time, enforced
    with [select] before each system call.  Callers should ignore
    [SIGPIPE]. *)

val wait_ready : ?deadline:float -> Unix.file_descr -> write:bool -> unit
val write_all : ?deadline:float -> Unix.file_descr -> string -> unit

val read_some : ?deadline:float -> Unix.file_descr -> Bytes.t -> int -> int -> int
(** One [read]; [0] means end of file. *)

val really_read : ?deadline:float -> Unix.file_descr -> Bytes.t -> int -> int -> unit
(** Exactly [len] bytes, or [CLOSED] at end of file. *)

val read_frame : ?deadline:float -> ?max_payload:int -> Unix.file_descr -> int * string
(** Reads one frame; the header is checked (version, flags, type, length
    against [max_payload]) before any payload byte is read.  [CLOSED] on
    end of file. *)

val write_frame :
  ?deadline:float -> ?max_payload:int -> Unix.file_descr -> int -> string -> unit
(** Writes one frame; [max_payload] is the peer's limit ([TOOBIG] before
    anything is written if exceeded). *)

val drain_time : float
(** 1 second: how long {!shutdown_and_close} drains by default ("about a
    second", SPEC 8.4). *)

val shutdown_and_close : ?drain:float -> Unix.file_descr -> unit
(** Graceful close after a final frame (SPEC 8.4): [shutdown(SHUT_WR)],
    then read and discard input into a small buffer until EOF or [drain]
    seconds (default {!drain_time}), then [close].  Never raises. *)

(** {1 Messages} *)

(** Message type numbers. *)
module Msg : sig
  val hello : int  (** 0x0001 *)

  val error : int  (** 0x0002 *)

  val ping : int  (** 0x0003 *)

  val pong : int  (** 0x0004 *)

  val bye : int  (** 0x0005 *)

  val echo : int  (** 0x0100 *)

  val echo_reply : int  (** 0x0101 *)

  val roundtrip : int  (** 0x0102 *)

  val roundtrip_reply : int  (** 0x0103 *)

  val vector_check : int  (** 0x0104 *)

  val vector_result : int  (** 0x0105 *)

  val vector_get : int  (** 0x0106 *)

  val vector_data : int  (** 0x0107 *)

  val stats : int  (** 0x0108 *)

  val stats_reply : int  (** 0x0109 *)

  val all : (int * string) list
  (** Every defined type with its SPEC 7.1 name, in numeric order (the
      rows of [proto/messages.txt]). *)

  val name : int -> string
  (** ["HELLO"], ..., or ["0xNNNN"] for others. *)

  val of_name : string -> int option
  (** [of_name "PING" = Some 0x0003]. *)
end

val no_offset : int
(** [0xFFFFFFFF], the ERROR offset meaning "none" ([no_offset] in
    [proto/limits.txt], like {!header_size}, {!max_depth},
    {!default_max_payload} and {!min_max_payload}). *)

val max_peer_name : int
(** 255 bytes, the longest HELLO name ([hello_name_max] in
    [proto/limits.txt]). *)

val max_error_text : int
(** 1024 bytes, the longest ERROR text ([error_text_max] in
    [proto/limits.txt]). *)

val message_field :
  string -> string -> (int * value) list -> int -> tag -> int * value
(** [message_field what payload located i tag] returns field [i] of a
    decoded message (offset, value), raising [MESSAGE] if it is missing
    (offset = payload length) or has another tag (offset = its tag). *)

val message_field_at :
  string -> string -> (int * tag) list -> int -> tag -> int * value
(** {!message_field} over {!field_tags}: only field [i] is decoded. *)

val message_field_offset : string -> string -> (int * tag) list -> int -> tag -> int
(** {!message_field_at} without decoding: the offset of field [i]'s tag. *)

(** A decoded HELLO. *)
type hello = { version : int; max_payload : int; peer_name : string }

val hello_payload : ?version:int -> max_payload:int -> string -> string
(** [u16 version (default 1), u32 max_payload, string name].  Refuses with
    [RANGE] what a receiver would refuse (SPEC 7.2): a name over
    {!max_peer_name} bytes, a max_payload under {!min_max_payload} (or
    over {!u32_max}), a version outside u16. *)

val parse_hello : string -> hello
(** Decodes a HELLO payload by the rules of SPEC 7.2 ([proto/control.txt]),
    with payload offsets: the whole payload decodes first (its errors at
    their SPEC 5 offsets); then field 0 must be a u16 ([MESSAGE] at its
    tag otherwise) whose value is 1 ([VERSION] at the value's first byte,
    offset 1, and nothing after it is judged); then a u32 max_payload of
    at least {!min_max_payload} ([MESSAGE] at the tag, or at the value's
    first byte, offset 4); then a string name of at most {!max_peer_name}
    bytes ([MESSAGE] at the tag, or at its length word, offset 9).  A
    missing field is [MESSAGE] at the payload's end.  Extra trailing
    fields are ignored. *)

(** A decoded ERROR message; [err_offset] is [None] for 0xFFFFFFFF. *)
type error_message = { err_code : int; err_offset : int option; err_text : string }

val error_payload : code:int -> ?offset:int -> string -> string
(** [u16 code, u32 offset (0xFFFFFFFF if none), string text].  [RANGE] for
    a code outside u16, an offset outside u32, or a text over
    {!max_error_text} bytes (SPEC 7.2: never sent); [UTF8] for a text
    that is not UTF-8.  Use {!utf8_prefix} to fit a long text. *)

val utf8_prefix : string -> int -> string
(** [utf8_prefix s n]: the longest prefix of the UTF-8 string [s] of at
    most [n] bytes that ends at a character boundary. *)

val parse_error_message : string -> error_message
(** Decodes an ERROR payload by the rules of SPEC 7.2, payload offsets:
    decoded whole first, then u16 code, u32 offset, string text, each
    [MESSAGE] at its tag if missing or mistyped; a text over
    {!max_error_text} bytes is [MESSAGE] at its length word (offset 9).
    Extra trailing fields are ignored. *)

val hello_frame : ?version:int -> max_payload:int -> string -> string
val error_frame : code:int -> ?offset:int -> string -> string
val ping_frame : string -> string
val pong_frame : string -> string
val bye_frame : string

val read_frame_answering_pings :
  ?deadline:float -> ?max_payload:int -> peer_max:int -> Unix.file_descr -> int * string
(** {!read_frame} for a side waiting for a reply after the handshake
    (SPEC 7.5, 8.6): every PING that comes first is answered with a PONG
    carrying its payload, written before the next frame is read; the
    first frame that is not a PING is returned.  [peer_max] is the
    max_payload the peer announced: a PING whose PONG would exceed it is
    answered with ERROR(TOOBIG, none) and [TOOBIG] is raised (the caller
    then closes). *)
