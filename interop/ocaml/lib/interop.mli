(* SPDX-License-Identifier: MIT *)
(** The interop service (SPEC 10.1-10.6) as pure functions: CRC-32, STATS,
    the VECTOR_CHECK comparison and the request dispatcher used by the
    server.  No sockets here. *)

val crc32 : string -> int
(** CRC-32 (IEEE 802.3 / zlib): [crc32 "123456789" = 0xCBF43926]. *)

val stats : int64 list -> float list -> string -> Core.value list
(** The 7 STATS_REPLY fields: i64 sum (wrapping), i64 min, i64 max (empty
    list: max_int / min_int), f64 sum (left to right from +0.0), f64 min,
    f64 max (empty: +inf / -inf; compared with [<] / [>], so NaN never
    wins), u32 CRC-32 of the bytes. *)

val stats_reply_of_request : string -> Core.value list
(** Validates a STATS payload ([list:i64], [list:f64], [bytes], nothing
    else) and computes what {!stats} gives, from its bytes (no list is
    built).  [MESSAGE] otherwise, payload offsets
    (SPEC 7.2): at a field's tag if it is missing, extra or of another
    type, at its element tag (tag + 1) if it is a list of the wrong
    element type. *)

(** Where a VECTOR_CHECK went wrong: [path] ["3"] or ["2.0.5"] (field
    index, then one [.i] per nesting level), the expected and received
    items in the value notation, ["(missing)"] as [got] when the peer sent
    fewer items, ["(none)"] as [expected] when it sent more. *)
type mismatch = { path : string; expected : string; got : string }

val compare_fields : expected:Core.value list -> got:Core.value list -> mismatch option
(** [None] if equal (floats by bits).  Descends into a list (same element
    type) or group on both sides; any other difference is reported at the
    item itself. *)

val compare_payload : expected:Core.value list -> string -> int -> mismatch option
(** [compare_payload ~expected payload off]: {!compare_fields} against the fields of [payload]
    from offset [off] (a payload that passed {!Wire.validate_fields}), read from its bytes
    without building them; texts are already {!clip}ped. *)

val clip : string -> string
(** A text cut to the 4096 characters VECTOR_RESULT shows (the last three then "..."). *)

val status_match : int
(** 0 *)

val status_mismatch : int
(** 1 *)

val status_unknown : int
(** 2 *)

val vector_result_payload : status:int -> mismatch option -> string
(** [u8 status, string path, string expected, string got] (the last two
    clipped to 4096 bytes, ending in ["..."] if clipped). *)

val parse_vector_result : string -> int * string * string * string

(** Known [ok] vectors by name. *)
type table = (string, Core.value list) Hashtbl.t

val table_of_vectors : Text.vector list -> table

val is_service_request : int -> bool
(** ECHO, ROUNDTRIP, VECTOR_CHECK, VECTOR_GET or STATS. *)

val serve : table -> int -> string -> int * string
(** [serve table msg_type payload] answers one service request with
    [(reply_type, reply_payload)].  Raises [Wire.Error] (decoding errors,
    [MESSAGE]) with payload offsets; [Invalid_argument] if [msg_type] is
    not a service request. *)
