(* SPDX-License-Identifier: MIT *)
(** The [proto/] text formats shared by every peer: hex with repetition,
    the value notation, [vectors.txt], [stats.txt] and [errors.txt].
    Every parse error raises [Wire.Error] with code [INVAL] (or [RANGE] for
    an out-of-range number), file and line in the message. *)

(** {1 Hex} *)

val hex_decode : string -> string
(** Even number of hex digits (either case) to bytes. *)

val hex_encode : string -> string
(** Bytes to lowercase hex digits, no spaces. *)

val hex_token : string -> string
(** One token: hex digits, or [<hex>*<n>] (that byte string n times). *)

val parse_hex : string -> string
(** Space-separated hex tokens, concatenated. *)

val format_hex : string -> string
(** One 2-digit token per byte, space-separated. *)

val hex_compact : string -> string
(** Content hex for [string:]/[bytes:]: [<unit>*<n>] when a string of at
    least 8 bytes is a repeated unit, else plain hex. *)

(** {1 Value notation} *)

val format_value : Core.value -> string
(** e.g. ["u32:16909060"], ["u64:18446744073709551615"],
    ["f32:0x7f800001"], ["string:6162"], ["list:u8 [ u8:1 u8:2 ]"],
    ["group { }"].  Floats as their exact bits. *)

val format_fields : Core.value list -> string
(** Space-separated {!format_value}. *)

val parse_fields : string -> Core.value list
(** Inverse of {!format_fields}: decimal integers (range-checked, [RANGE]
    otherwise), [u64] up to 18446744073709551615, [f32:0x] + 8 / [f64:0x]
    + 16 hex digits (bit patterns), [bool:true|false], [string:<hex>]
    (must be UTF-8), [bytes:<hex>] (both with optional [*n] repetition),
    [list:<E> \[ ... \]] (elements must be of type E), [group { ... }]. *)

val parse_words : string list -> Core.value list
(** {!parse_fields} on pre-split words. *)

(** {1 Files} *)

(** One line of [vectors.txt]; [data] is the decoded hex. *)
type vector =
  | Ok_vector of { name : string; values : Core.value list; data : string }
  | Err_vector of { name : string; code : Core.code; offset : int; data : string }
  | Frame_vector of { name : string; msg_type : int; values : Core.value list; data : string }
  | Ferr_vector of { name : string; code : Core.code; offset : int; data : string }

val vector_name : vector -> string

(** One line of [stats.txt]. *)
type stats_case = { stats_name : string; request : Core.value list; reply : Core.value list }

val parse_vector_line : string -> vector
val load_vectors : string -> vector list
(** All cases in file order; names must be unique. *)

val parse_stats_line : string -> stats_case
val load_stats : string -> stats_case list

val load_errors : string -> (int * string * bool * string) list
(** [errors.txt] rows: number, name, [true] for "wire", message. *)

(** {1 control.txt, messages.txt, limits.txt} *)

type control_message = Hello_message | Error_message

(** What a [control.txt] case asks (proto/README.md section 9). *)
type control_test =
  | Encodes of Core.value list
  (** [hello] / [error]: the fields encode to exactly the hex, and the hex
      decodes to the fields *)
  | Decodes of Core.value list
  (** [-decode]: the hex (with extra trailing fields) decodes to the fields *)
  | Fails of Core.code * int
  (** [-err]: decoding the hex fails with that code at that payload offset *)
  | Refused of Core.value list  (** [-range]: the encoder refuses the fields with RANGE *)

(** One line of [control.txt]; the fields are always the message's three
    (u16, u32, string); [ctl_data] is the decoded hex. *)
type control_case = {
  ctl_kind : string;  (** e.g. ["hello-err"] *)
  ctl_message : control_message;
  ctl_name : string;
  ctl_test : control_test;
  ctl_data : string;
}

val parse_control_line : string -> control_case
val load_control : string -> control_case list
(** All cases in file order; a name is unique within its kind. *)

val load_messages : string -> (int * string) list
(** [messages.txt]: each type number with its NAME. *)

val load_limits : string -> (string * int) list
(** [limits.txt]: each limit's name and value. *)

(** {1 Locating proto/} *)

val find_proto_dir : ?file:string -> string -> string option
(** [find_proto_dir dir]: the first [proto/] directory holding [file]
    (default ["vectors.txt"]) in [dir] or one of its ancestors. *)

val default_proto_file : string -> string option
(** The path of [proto/<file>]: [$WIRE_PROTO_DIR] if set, else searched
    upwards from the executable's directory, then from the current
    directory. *)
