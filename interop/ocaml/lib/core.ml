(* SPDX-License-Identifier: MIT *)
(* wire protocol v1: errors, value model, codec, framing, incremental
   parser, blocking I/O and control messages.  See core.mli for the API
   documentation; comments here explain the why of the implementation. *)

(* u32 values live in [int]; that needs the 63-bit int of a 64-bit OCaml. *)
let () =
  if Sys.int_size < 63 then
    failwith "wire: a 64-bit OCaml is required (u32 values are held in int)"

(* ------------------------------------------------------------------ *)
(* Errors                                                              *)

type code =
  | OK | TRUNCATED | BADTAG | TYPE | BADBOOL | UTF8 | LENGTH | DEPTH | TOOBIG
  | OVERFLOW | VERSION | HEADER | UNEXPECTED | MESSAGE | RANGE | IO | CLOSED
  | TIMEOUT | ADDRESS | LIMIT | INVAL | PEER

type code_info = {
  code : code;
  number : int;
  name : string;
  on_wire : bool;
  meaning : string;
}

let code_table =
  let c code number name on_wire meaning =
    { code; number; name; on_wire; meaning } in
  [ c OK 0 "OK" false "success";
    c TRUNCATED 1 "TRUNCATED" true "value runs past the end of the data";
    c BADTAG 2 "BADTAG" true "unknown type tag";
    c TYPE 3 "TYPE" true "field has another type than the one expected";
    c BADBOOL 4 "BADBOOL" true "bool byte is neither 0 nor 1";
    c UTF8 5 "UTF8" true "string is not valid UTF-8";
    c LENGTH 6 "LENGTH" true "length or count larger than the bytes that remain";
    c DEPTH 7 "DEPTH" true "nesting deeper than 32 levels";
    c TOOBIG 8 "TOOBIG" true "frame payload larger than the receiver's limit";
    c OVERFLOW 9 "OVERFLOW" false "output buffer too small";
    c VERSION 10 "VERSION" true "unsupported protocol version";
    c HEADER 11 "HEADER" true "malformed frame header";
    c UNEXPECTED 12 "UNEXPECTED" true "message type not expected here";
    c MESSAGE 13 "MESSAGE" true "message fields do not match its definition";
    c RANGE 14 "RANGE" false "value out of range for its wire type";
    c IO 15 "IO" false "I/O error";
    c CLOSED 16 "CLOSED" false "connection closed by peer";
    c TIMEOUT 17 "TIMEOUT" true "operation timed out";
    c ADDRESS 18 "ADDRESS" false "cannot resolve or use the address";
    c LIMIT 19 "LIMIT" true "a resource limit was reached";
    c INVAL 20 "INVAL" false "invalid argument or API misuse";
    c PEER 21 "PEER" false "the peer sent an ERROR and closed the connection" ]

let code_info c = List.find (fun i -> i.code = c) code_table
let code_number c = (code_info c).number
let code_name c = (code_info c).name
let code_meaning c = (code_info c).meaning
let code_on_wire c = (code_info c).on_wire

let code_of_number n =
  match List.find_opt (fun i -> i.number = n) code_table with
  | Some i -> Some i.code
  | None -> None

let code_of_name s =
  match List.find_opt (fun i -> i.name = s) code_table with
  | Some i -> Some i.code
  | None -> None

let code_number_name n =
  match code_of_number n with
  | Some c -> code_name c
  | None -> Printf.sprintf "code %d" n

type error = { code : code; offset : int option; message : string }

exception Error of error

let error_name e = code_name e.code
let error_number e = code_number e.code

let fail ?offset code message = raise (Error { code; offset; message })
let failf ?offset code fmt = Printf.ksprintf (fun s -> fail ?offset code s) fmt

let string_of_error e =
  match e.offset with
  | Some o -> Printf.sprintf "%s at offset %d: %s" (code_name e.code) o e.message
  | None -> Printf.sprintf "%s: %s" (code_name e.code) e.message

let () =
  Printexc.register_printer (function
    | Error e -> Some ("Wire.Error(" ^ string_of_error e ^ ")")
    | _ -> None)

let catch f =
  match f () with
  | v -> Result.Ok v
  | exception Error e -> Result.Error e

(* ------------------------------------------------------------------ *)
(* Tags and values                                                     *)

type tag =
  | T_u8 | T_u16 | T_u32 | T_u64 | T_i8 | T_i16 | T_i32 | T_i64
  | T_f32 | T_f64 | T_bool | T_string | T_bytes | T_list | T_group

let all_tags =
  [ T_u8; T_u16; T_u32; T_u64; T_i8; T_i16; T_i32; T_i64; T_f32; T_f64;
    T_bool; T_string; T_bytes; T_list; T_group ]

let tag_byte = function
  | T_u8 -> 0x01 | T_u16 -> 0x02 | T_u32 -> 0x03 | T_u64 -> 0x04
  | T_i8 -> 0x11 | T_i16 -> 0x12 | T_i32 -> 0x13 | T_i64 -> 0x14
  | T_f32 -> 0x23 | T_f64 -> 0x24 | T_bool -> 0x30
  | T_string -> 0x40 | T_bytes -> 0x41 | T_list -> 0x50 | T_group -> 0x51

let tag_of_byte = function
  | 0x01 -> Some T_u8 | 0x02 -> Some T_u16 | 0x03 -> Some T_u32
  | 0x04 -> Some T_u64 | 0x11 -> Some T_i8 | 0x12 -> Some T_i16
  | 0x13 -> Some T_i32 | 0x14 -> Some T_i64 | 0x23 -> Some T_f32
  | 0x24 -> Some T_f64 | 0x30 -> Some T_bool | 0x40 -> Some T_string
  | 0x41 -> Some T_bytes | 0x50 -> Some T_list | 0x51 -> Some T_group
  | _ -> None

(* tag_of_byte as a table, for the decoder's hot path: one load instead of
   a call and a jump through a match. *)
let tag_table = Array.init 256 tag_of_byte
let[@inline] tag_at s p = Array.unsafe_get tag_table (String.get_uint8 s p)

let tag_name = function
  | T_u8 -> "u8" | T_u16 -> "u16" | T_u32 -> "u32" | T_u64 -> "u64"
  | T_i8 -> "i8" | T_i16 -> "i16" | T_i32 -> "i32" | T_i64 -> "i64"
  | T_f32 -> "f32" | T_f64 -> "f64" | T_bool -> "bool"
  | T_string -> "string" | T_bytes -> "bytes" | T_list -> "list"
  | T_group -> "group"

let tag_of_name s = List.find_opt (fun t -> tag_name t = s) all_tags

let min_size = function
  | T_u8 | T_i8 | T_bool -> 1
  | T_u16 | T_i16 -> 2
  | T_u32 | T_i32 | T_f32 -> 4
  | T_u64 | T_i64 | T_f64 -> 8
  | T_string | T_bytes | T_group -> 4
  | T_list -> 5

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

let tag_of_value = function
  | U8 _ -> T_u8 | U16 _ -> T_u16 | U32 _ -> T_u32 | U64 _ -> T_u64
  | I8 _ -> T_i8 | I16 _ -> T_i16 | I32 _ -> T_i32 | I64 _ -> T_i64
  | F32 _ -> T_f32 | F64 _ -> T_f64 | Bool _ -> T_bool
  | String _ -> T_string | Bytes _ -> T_bytes | List _ -> T_list
  | Group _ -> T_group

(* Floats are compared by their bits: NaN must equal the same NaN and
   0.0 must differ from -0.0, which (=) on floats gets both wrong. *)
let rec equal_value a b =
  match a, b with
  | F64 x, F64 y -> Int64.equal (Int64.bits_of_float x) (Int64.bits_of_float y)
  | F32 x, F32 y -> Int32.equal x y
  | U64 x, U64 y | I64 x, I64 y -> Int64.equal x y
  | (U8 x, U8 y) | (U16 x, U16 y) | (U32 x, U32 y)
  | (I8 x, I8 y) | (I16 x, I16 y) | (I32 x, I32 y) -> Int.equal x y
  | Bool x, Bool y -> Bool.equal x y
  | String x, String y | Bytes x, Bytes y -> String.equal x y
  | List (t, xs), List (u, ys) -> t = u && equal_values xs ys
  | Group xs, Group ys -> equal_values xs ys
  | _ -> false

and equal_values xs ys =
  match xs, ys with
  | [], [] -> true
  | x :: xs, y :: ys -> equal_value x y && equal_values xs ys
  | _ -> false

(* ------------------------------------------------------------------ *)
(* Ranges, smart constructors, 64-bit text                             *)

let u8_max = 0xFF
let u16_max = 0xFFFF
let u32_max = 0xFFFF_FFFF
let i32_min = -0x8000_0000
let i32_max = 0x7FFF_FFFF

let check_range what lo hi n =
  if n < lo || n > hi then
    failf RANGE "%s value %d out of range %d..%d" what n lo hi

let u8 n = check_range "u8" 0 u8_max n; U8 n
let u16 n = check_range "u16" 0 u16_max n; U16 n
let u32 n = check_range "u32" 0 u32_max n; U32 n
let i8 n = check_range "i8" (-0x80) 0x7F n; I8 n
let i16 n = check_range "i16" (-0x8000) 0x7FFF n; I16 n
let i32 n = check_range "i32" i32_min i32_max n; I32 n

let check_value_range = function
  | U8 n -> ignore (u8 n)
  | U16 n -> ignore (u16 n)
  | U32 n -> ignore (u32 n)
  | I8 n -> ignore (i8 n)
  | I16 n -> ignore (i16 n)
  | I32 n -> ignore (i32 n)
  | _ -> ()

(* Int32.bits_of_float converts with C's (float) cast, i.e. round to
   nearest even; a finite double beyond the binary32 range becomes
   infinity, which would silently change the value: RANGE instead. *)
let f32_of_float x =
  let bits = Int32.bits_of_float x in
  if Float.is_finite x && Int32.equal (Int32.logand bits 0x7FFF_FFFFl) 0x7F80_0000l
  then failf RANGE "f32: %h is finite but too large for binary32" x
  else bits

let float_of_f32 = Int32.float_of_bits
let f32 x = F32 (f32_of_float x)

let u64_to_string x = Printf.sprintf "%Lu" x

(* Canonical decimal only (as in proto/): no sign other than a leading
   '-', no leading zeros, no "-0"; so parse and print are inverses. *)
let all_digits s =
  s <> "" && String.for_all (fun c -> c >= '0' && c <= '9') s
  && (s = "0" || s.[0] <> '0')

let u64_of_string s =
  if not (all_digits s) then failf INVAL "u64: %S is not a decimal number" s;
  (* acc * 10 + d <= 2^64-1  <=>  acc <= (2^64-1 - d) / 10, unsigned. *)
  String.fold_left
    (fun acc c ->
       let d = Int64.of_int (Char.code c - 48) in
       let limit = Int64.unsigned_div (Int64.sub (-1L) d) 10L in
       if Int64.unsigned_compare acc limit > 0 then
         failf RANGE "u64: %s is larger than 18446744073709551615" s;
       Int64.add (Int64.mul acc 10L) d)
    0L s

let i64_of_string s =
  let body =
    if String.length s > 0 && s.[0] = '-' then String.sub s 1 (String.length s - 1)
    else s in
  if not (all_digits body) || s = "-0" then failf INVAL "i64: %S is not a decimal number" s;
  (* Syntax is checked above, so Int64.of_string's only failure left is
     overflow (it never accepts a decimal outside the signed range). *)
  match Int64.of_string s with
  | x -> x
  | exception Failure _ -> failf RANGE "i64: %s is out of range" s

let int_of_decimal what s =
  let body =
    if String.length s > 0 && s.[0] = '-' then String.sub s 1 (String.length s - 1)
    else s in
  if not (all_digits body) || s = "-0" then failf INVAL "%s: %S is not a decimal number" what s;
  match int_of_string s with
  | n -> n
  | exception Failure _ -> failf RANGE "%s: %s is out of range" what s

(* ------------------------------------------------------------------ *)
(* UTF-8 (Unicode Table 3-7)                                           *)

(* Top-level and closure-free, returning -1 or an offset rather than an
   option: the codec runs it on every string, where the closures and the
   option of a local loop cost more than the check itself. *)
let byte_in s stop i lo hi =
  i < stop && (let b = Char.code (String.unsafe_get s i) in b >= lo && b <= hi)

(* -1 if [s.[i..stop-1]] is well-formed, else the offset of the lead byte
   of the first ill-formed sequence. *)
let rec utf8_scan s i stop =
  (* Eight ASCII bytes at a time while they last. *)
  if i + 8 <= stop
  && Int64.logand (String.get_int64_ne s i) 0x8080_8080_8080_8080L = 0L
  then utf8_scan s (i + 8) stop
  else if i >= stop then -1
  else
    let c = Char.code (String.unsafe_get s i) in
    if c < 0x80 then utf8_scan s (i + 1) stop else utf8_multi s i stop c

(* The lead [c] at [i] fixes the count of continuation bytes and the range
   of the second byte; 80..C1 and F5..FF are never a valid lead. *)
and utf8_multi s i stop c =
  if c >= 0xC2 && c <= 0xDF then
    if byte_in s stop (i + 1) 0x80 0xBF then utf8_scan s (i + 2) stop else i
  else if c >= 0xE0 && c <= 0xEF then
    let lo = if c = 0xE0 then 0xA0 else 0x80 and hi = if c = 0xED then 0x9F else 0xBF in
    if byte_in s stop (i + 1) lo hi && byte_in s stop (i + 2) 0x80 0xBF then utf8_scan s (i + 3) stop
    else i
  else if c >= 0xF0 && c <= 0xF4 then
    let lo = if c = 0xF0 then 0x90 else 0x80 and hi = if c = 0xF4 then 0x8F else 0xBF in
    if byte_in s stop (i + 1) lo hi && byte_in s stop (i + 2) 0x80 0xBF
       && byte_in s stop (i + 3) 0x80 0xBF
    then utf8_scan s (i + 4) stop
    else i
  else i

let utf8_error s off len =
  let e = utf8_scan s off (off + len) in
  if e < 0 then None else Some e

let utf8_valid s = utf8_scan s 0 (String.length s) < 0

(* ------------------------------------------------------------------ *)
(* Encoder                                                             *)

let max_depth = 32

(* The encoder writes into a growable byte buffer of its own rather than a
   Buffer.t: a group's length word is reserved and patched once its fields
   are written (no sub-buffer to build and copy per group), capacity is
   checked once per field rather than once per write, and the checks are
   inline (no value rebuilt to check a range, no closure per list). *)
type writer = {
  mutable buf : Bytes.t;
  mutable len : int;
  (* For Writer only: the open list's element type, its elements still to
     write (0: no list open) and the index of the next one. *)
  mutable elem : tag;
  mutable left : int;
  mutable index : int;
}

let new_writer capacity = { buf = Bytes.create capacity; len = 0; elem = T_u8; left = 0; index = 0 }

let grow w n =
  let cap = ref (max 64 (2 * Bytes.length w.buf)) in
  while !cap < w.len + n do cap := 2 * !cap done;
  let b = Bytes.create !cap in
  Bytes.blit w.buf 0 b 0 w.len;
  w.buf <- b

let[@inline] reserve w n = if w.len + n > Bytes.length w.buf then grow w n

(* The set_* write at the end without a bounds check of their own: every
   caller has reserved the room first (reserve), in the same function and
   for at most the bytes it writes next. *)
external set8u : Bytes.t -> int -> int -> unit = "%bytes_unsafe_set"
external set16u : Bytes.t -> int -> int -> unit = "%caml_bytes_set16u"
external set32u : Bytes.t -> int -> int32 -> unit = "%caml_bytes_set32u"
external set64u : Bytes.t -> int -> int64 -> unit = "%caml_bytes_set64u"
external swap16 : int -> int = "%bswap16"
external swap32 : int32 -> int32 = "%bswap_int32"
external swap64 : int64 -> int64 = "%bswap_int64"

let[@inline] set_u8 w n =
  set8u w.buf w.len (n land 0xFF);
  w.len <- w.len + 1

let[@inline] set_u16 w n =
  let n = n land 0xFFFF in
  set16u w.buf w.len (if Sys.big_endian then n else swap16 n);
  w.len <- w.len + 2

let[@inline] set_i32 w x =
  set32u w.buf w.len (if Sys.big_endian then x else swap32 x);
  w.len <- w.len + 4

(* Int32.of_int keeps the low 32 bits, i.e. the right bit pattern for
   0..2^32-1 even when it reads back negative as an int32. *)
let[@inline] set_u32 w n = set_i32 w (Int32.of_int n)

let[@inline] set_i64 w x =
  set64u w.buf w.len (if Sys.big_endian then x else swap64 x);
  w.len <- w.len + 8

(* Short strings are copied a word at a time here: Bytes.blit_string is a C
   call that costs more than the copy below 64 bytes or so.  The range is
   checked once, as Bytes.blit_string checks it, then read and written
   without a check per word. *)
external get64u : string -> int -> int64 = "%caml_string_get64u"

let copy_string s src b dst n =
  if n > 64 then Bytes.blit_string s src b dst n
  else begin
    if n < 0 || src < 0 || src > String.length s - n || dst < 0 || dst > Bytes.length b - n then
      invalid_arg "Wire.copy_string";
    let words = n lsr 3 in
    for i = 0 to words - 1 do
      set64u b (dst + (8 * i)) (get64u s (src + (8 * i)))
    done;
    for i = 8 * words to n - 1 do
      Bytes.unsafe_set b (dst + i) (String.unsafe_get s (src + i))
    done
  end

let range_error what lo hi n = failf RANGE "%s value %d out of range %d..%d" what n lo hi
let length_error what n = failf RANGE "%s of %d does not fit in a u32" what n

(* A length word and the string after it. *)
let put_string w what s =
  let n = String.length s in
  if n > u32_max then length_error what n;
  reserve w (4 + n);
  set_u32 w n;
  copy_string s 0 w.buf w.len n;
  w.len <- w.len + n

(* Tags are constant constructors: physical equality is their equality,
   without a call to the polymorphic compare. *)
let[@inline] same_tag (a : tag) (b : tag) = a == b

let field_tag_byte = function
  | U8 _ -> 0x01 | U16 _ -> 0x02 | U32 _ -> 0x03 | U64 _ -> 0x04
  | I8 _ -> 0x11 | I16 _ -> 0x12 | I32 _ -> 0x13 | I64 _ -> 0x14
  | F32 _ -> 0x23 | F64 _ -> 0x24 | Bool _ -> 0x30
  | String _ -> 0x40 | Bytes _ -> 0x41 | List _ -> 0x50 | Group _ -> 0x51

(* The checks and their order are those of the Buffer encoder this
   replaced: a value's range first, a string's UTF-8 before its length, a
   container's depth before its contents, a list element's type before its
   value, a group's length after its fields.  The caller has reserved 8
   bytes, enough for any number; strings and containers reserve their own. *)
let rec put_value w depth v =
  match v with
  | U8 n -> if n < 0 || n > u8_max then range_error "u8" 0 u8_max n; set_u8 w n
  | U16 n -> if n < 0 || n > u16_max then range_error "u16" 0 u16_max n; set_u16 w n
  | U32 n -> if n < 0 || n > u32_max then range_error "u32" 0 u32_max n; set_u32 w n
  | I8 n -> if n < -0x80 || n > 0x7F then range_error "i8" (-0x80) 0x7F n; set_u8 w (n land 0xFF)
  | I16 n ->
    if n < -0x8000 || n > 0x7FFF then range_error "i16" (-0x8000) 0x7FFF n;
    set_u16 w (n land 0xFFFF)
  | I32 n -> if n < i32_min || n > i32_max then range_error "i32" i32_min i32_max n; set_u32 w n
  | U64 x | I64 x -> set_i64 w x
  | F32 x -> set_i32 w x
  | F64 x -> set_i64 w (Int64.bits_of_float x)
  | Bool x -> set_u8 w (if x then 1 else 0)
  | String s ->
    let e = utf8_scan s 0 (String.length s) in
    if e >= 0 then failf UTF8 "string to encode is not valid UTF-8 (byte %d of the string)" e;
    put_string w "string length" s
  | Bytes s -> put_string w "bytes length" s
  | List (t, vs) ->
    if depth + 1 > max_depth then fail DEPTH "list would be nested deeper than 32 levels";
    let n = List.length vs in
    if n > u32_max then length_error "list count" n;
    reserve w 5;
    set_u8 w (tag_byte t);
    set_u32 w n;
    put_elements w (depth + 1) t 0 vs
  | Group vs ->
    if depth + 1 > max_depth then fail DEPTH "group would be nested deeper than 32 levels";
    reserve w 4;
    let at = w.len in
    w.len <- at + 4;
    put_fields w (depth + 1) vs;
    let n = w.len - (at + 4) in
    if n > u32_max then length_error "group length" n;
    Bytes.set_int32_be w.buf at (Int32.of_int n)

and put_elements w depth t i = function
  | [] -> ()
  | v :: vs ->
    if not (same_tag (tag_of_value v) t) then
      failf TYPE "list:%s element %d is a %s" (tag_name t) i (tag_name (tag_of_value v));
    reserve w 8;
    put_value w depth v;
    put_elements w depth t (i + 1) vs

(* A field: its tag, then its value, the numbers written here directly (one
   dispatch per field, not two), in the same order of writes and checks. *)
and put_fields w depth = function
  | [] -> ()
  | v :: vs ->
    reserve w 9;
    (match v with
     | U8 n -> set_u8 w 0x01; if n < 0 || n > u8_max then range_error "u8" 0 u8_max n; set_u8 w n
     | U16 n ->
       set_u8 w 0x02;
       if n < 0 || n > u16_max then range_error "u16" 0 u16_max n;
       set_u16 w n
     | U32 n ->
       set_u8 w 0x03;
       if n < 0 || n > u32_max then range_error "u32" 0 u32_max n;
       set_u32 w n
     | I32 n ->
       set_u8 w 0x13;
       if n < i32_min || n > i32_max then range_error "i32" i32_min i32_max n;
       set_u32 w n
     | U64 x -> set_u8 w 0x04; set_i64 w x
     | I64 x -> set_u8 w 0x14; set_i64 w x
     | F64 x -> set_u8 w 0x24; set_i64 w (Int64.bits_of_float x)
     | Bool x -> set_u8 w 0x30; set_u8 w (if x then 1 else 0)
     | v -> set_u8 w (field_tag_byte v); put_value w depth v);
    put_fields w depth vs

(* The Buffer functions keep their contract: on error, what was written of
   the field before it is appended too (a partial field). *)
let with_buffer b f =
  let w = new_writer 64 in
  match f w with
  | () -> Buffer.add_subbytes b w.buf 0 w.len
  | exception e -> Buffer.add_subbytes b w.buf 0 w.len; raise e

let encode_field b v =
  with_buffer b (fun w -> reserve w 9; set_u8 w (field_tag_byte v); put_value w 0 v)

let encode_value b v = with_buffer b (fun w -> reserve w 8; put_value w 0 v)

(* 256 bytes hold most control and interop messages without growing. *)
let encode_fields vs =
  let w = new_writer 256 in
  put_fields w 0 vs;
  Bytes.sub_string w.buf 0 w.len

(* ------------------------------------------------------------------ *)
(* Decoder (strict, SPEC 3 and 5)                                      *)

let get_u32 s p = Int32.to_int (String.get_int32_be s p) land 0xFFFF_FFFF

(* Every check below raises at the first problem, with the offset of the
   smallest wrong element, in the order fixed by SPEC 5.2 and 5.5.  The
   raising halves are apart so that the checks inline. *)

let truncated p lim n =
  failf ~offset:p TRUNCATED "%d-byte value needs %d bytes, %d left" n n (lim - p)

let[@inline] need p lim n = if lim - p < n then truncated p lim n

let length_truncated p lim what =
  failf ~offset:p TRUNCATED "%s length needs 4 bytes, %d left" what (lim - p)

let length_too_long p lim what n =
  failf ~offset:p LENGTH "%s length %d but only %d bytes left" what n (lim - (p + 4))

(* A u32 length word followed by that many bytes within [lim]. *)
let[@inline] read_length s p lim what =
  if lim - p < 4 then length_truncated p lim what;
  let n = get_u32 s p in
  if n > lim - (p + 4) then length_too_long p lim what n;
  n

let bad_tag p b = failf ~offset:p BADTAG "unknown tag 0x%02x" b

(* String.sub with the copy of copy_string: one C call (the allocation)
   instead of two. *)
let sub s off n =
  let b = Bytes.create n in
  copy_string s off b 0 n;
  Bytes.unsafe_to_string b

(* How many list elements or fields are consed by recursion before the
   decoder builds the rest reversed: bounds the stack at 32 levels. *)
let forward_max = 1000

(* [depth] is the depth of the sequence holding this value; a container
   value opens level [depth + 1].  [first] is the offset blamed for DEPTH:
   the tag byte of a field, the element's first byte inside a list.  The
   value starts at [!pos], which is left just after it: one position cell
   per decode, where returning (value, offset) pairs allocated one per
   value. *)
(* A list value's element tag and count at [p], checked in SPEC 5.5's order (the tag is known, the
   count's 4 bytes are there, the count can fit): the tag, the count, and where the elements
   start. Shared by the decoder, the validator and Reader.list, so that all three refuse a list
   with the same code at the same offset. *)
let list_header s p lim =
  if lim - p < 1 then fail ~offset:p TRUNCATED "list element tag missing";
  let e =
    match tag_at s p with
    | Some e -> e
    | None -> failf ~offset:p BADTAG "unknown list element tag 0x%02x" (String.get_uint8 s p) in
  let cp = p + 1 in
  if lim - cp < 4 then failf ~offset:cp TRUNCATED "list count needs 4 bytes, %d left" (lim - cp);
  let count = get_u32 s cp in
  let q = cp + 4 in
  (* Division, not multiplication: cannot overflow, and rejects a huge count before anything is
     allocated for it. *)
  if count > (lim - q) / min_size e then
    failf ~offset:cp LENGTH "list count %d of %s cannot fit in %d bytes" count (tag_name e) (lim - q);
  (e, count, q)

let rec read_value s t lim depth first pos =
  let p = !pos in
  match t with
  | T_u8 -> need p lim 1; pos := p + 1; U8 (String.get_uint8 s p)
  | T_u16 -> need p lim 2; pos := p + 2; U16 (String.get_uint16_be s p)
  | T_u32 -> need p lim 4; pos := p + 4; U32 (get_u32 s p)
  | T_u64 -> need p lim 8; pos := p + 8; U64 (String.get_int64_be s p)
  | T_i8 -> need p lim 1; pos := p + 1; I8 (String.get_int8 s p)
  | T_i16 -> need p lim 2; pos := p + 2; I16 (String.get_int16_be s p)
  | T_i32 -> need p lim 4; pos := p + 4; I32 (Int32.to_int (String.get_int32_be s p))
  | T_i64 -> need p lim 8; pos := p + 8; I64 (String.get_int64_be s p)
  | T_f32 -> need p lim 4; pos := p + 4; F32 (String.get_int32_be s p)
  | T_f64 -> need p lim 8; pos := p + 8; F64 (Int64.float_of_bits (String.get_int64_be s p))
  | T_bool ->
    need p lim 1;
    pos := p + 1;
    (match String.get_uint8 s p with
     | 0 -> Bool false
     | 1 -> Bool true
     | b -> failf ~offset:p BADBOOL "bool byte is 0x%02x" b)
  | T_string ->
    let n = read_length s p lim "string" in
    let q = p + 4 in
    let e = utf8_scan s q (q + n) in
    if e >= 0 then failf ~offset:e UTF8 "ill-formed UTF-8 sequence";
    pos := q + n;
    String (sub s q n)
  | T_bytes ->
    let n = read_length s p lim "bytes" in
    pos := p + 4 + n;
    Bytes (sub s (p + 4) n)
  | T_list ->
    if depth + 1 > max_depth then
      fail ~offset:first DEPTH "list nested deeper than 32 levels";
    let e, count, q = list_header s p lim in
    pos := q;
    List (e, read_elements s e lim (depth + 1) pos count)
  | T_group ->
    if depth + 1 > max_depth then
      fail ~offset:first DEPTH "group nested deeper than 32 levels";
    let n = read_length s p lim "group" in
    let q = p + 4 in
    pos := q;
    let vs = read_seq s (q + n) (depth + 1) pos forward_max in
    pos := q + n;
    Group vs

(* [count] elements from [!pos], in order.  The first [forward_max] are
   consed on the way back from the recursion (no reversed copy); a longer
   list is built reversed and turned round, so the stack stays bounded. *)
and read_elements s e lim depth pos count =
  if count > forward_max then begin
    let acc = ref [] in
    for _ = 1 to count do
      acc := read_value s e lim depth !pos pos :: !acc
    done;
    List.rev !acc
  end
  else elements_forward s e lim depth pos count

and elements_forward s e lim depth pos k =
  if k = 0 then []
  else
    let v = read_value s e lim depth !pos pos in
    v :: elements_forward s e lim depth pos (k - 1)

(* Fields from [!pos] to exactly [lim], in order: up to [budget] of them
   by recursion, as above, the rest by read_seq_rev. *)
and read_seq s lim depth pos budget =
  let p = !pos in
  if p >= lim then []
  else if budget = 0 then List.rev (read_seq_rev s lim depth pos [])
  else
    let v = read_field s lim depth pos p in
    v :: read_seq s lim depth pos (budget - 1)

(* The field whose tag is at [p]: the common numbers read here at once (one
   dispatch on the tag byte, not two), with read_value's checks. *)
and read_field s lim depth pos p =
  let q = p + 1 in
  match String.get_uint8 s p with
  | 0x02 -> need q lim 2; pos := q + 2; U16 (String.get_uint16_be s q)
  | 0x03 -> need q lim 4; pos := q + 4; U32 (get_u32 s q)
  | 0x13 -> need q lim 4; pos := q + 4; I32 (Int32.to_int (String.get_int32_be s q))
  | 0x14 -> need q lim 8; pos := q + 8; I64 (String.get_int64_be s q)
  | 0x24 -> need q lim 8; pos := q + 8; F64 (Int64.float_of_bits (String.get_int64_be s q))
  | b ->
    match Array.unsafe_get tag_table b with
    | None -> bad_tag p b
    | Some t ->
      pos := q;
      read_value s t lim depth p pos

and read_seq_rev s lim depth pos acc =
  let p = !pos in
  if p >= lim then acc
  else
    let b = String.get_uint8 s p in
    match Array.unsafe_get tag_table b with
    | None -> bad_tag p b
    | Some t ->
      pos := p + 1;
      let v = read_value s t lim depth p pos in
      read_seq_rev s lim depth pos (v :: acc)

(* The same, each field paired with the offset of its tag byte. *)
let rec read_seq_located s lim pos acc =
  let p = !pos in
  if p >= lim then List.rev acc
  else
    let b = String.get_uint8 s p in
    match Array.unsafe_get tag_table b with
    | None -> bad_tag p b
    | Some t ->
      pos := p + 1;
      let v = read_value s t lim 0 p pos in
      read_seq_located s lim pos ((p, v) :: acc)

(* The same walk as read_value/read_seq, with the same checks in the
   same order, building nothing: a server whose reply does not need the
   values (ROUNDTRIP, BYE, the fields of HELLO it skips) validates a
   16 MiB payload without the value tree that would cost 20 times the
   payload.  test_wire checks that both walks agree on every vector and
   on mutations of them. *)
let rec skip_value s t p lim depth first =
  match t with
  | T_u8 | T_i8 -> need p lim 1; p + 1
  | T_u16 | T_i16 -> need p lim 2; p + 2
  | T_u32 | T_i32 | T_f32 -> need p lim 4; p + 4
  | T_u64 | T_i64 | T_f64 -> need p lim 8; p + 8
  | T_bool ->
    need p lim 1;
    let b = String.get_uint8 s p in
    if b > 1 then failf ~offset:p BADBOOL "bool byte is 0x%02x" b;
    p + 1
  | T_string ->
    let n = read_length s p lim "string" in
    let q = p + 4 in
    let e = utf8_scan s q (q + n) in
    if e >= 0 then failf ~offset:e UTF8 "ill-formed UTF-8 sequence";
    q + n
  | T_bytes -> p + 4 + read_length s p lim "bytes"
  | T_list ->
    if depth + 1 > max_depth then
      fail ~offset:first DEPTH "list nested deeper than 32 levels";
    let e, count, q = list_header s p lim in
    let q = ref q in
    for _ = 1 to count do
      q := skip_value s e !q lim (depth + 1) !q
    done;
    !q
  | T_group ->
    if depth + 1 > max_depth then
      fail ~offset:first DEPTH "group nested deeper than 32 levels";
    let n = read_length s p lim "group" in
    let q = p + 4 in
    skip_seq s q (q + n) (depth + 1) (fun _ _ -> ());
    q + n

(* Fields from [p] to exactly [lim]; [seen p tag] is told each one. *)
and skip_seq s p lim depth seen =
  if p < lim then begin
    let b = String.get_uint8 s p in
    match Array.unsafe_get tag_table b with
    | None -> failf ~offset:p BADTAG "unknown tag 0x%02x" b
    | Some t ->
      seen p t;
      let q = skip_value s t (p + 1) lim depth p in
      skip_seq s q lim depth seen
  end

let validate_fields s = skip_seq s 0 (String.length s) 0 (fun _ _ -> ())

let field_tags ?(max = max_int) s =
  let acc = ref [] and n = ref 0 in
  skip_seq s 0 (String.length s) 0 (fun p t ->
      if !n < max then begin acc := (p, t) :: !acc; incr n end);
  List.rev !acc

let value_end s t p = skip_value s t p (String.length s) 0 p

let decode_value_at s t p = read_value s t (String.length s) 0 p (ref p)

let decode_field_at s p =
  match tag_at s p with
  | None -> bad_tag p (String.get_uint8 s p)
  | Some t -> read_value s t (String.length s) 0 p (ref (p + 1))

let decode_located s = read_seq_located s (String.length s) (ref 0) []
let decode_fields s = read_seq s (String.length s) 0 (ref 0) forward_max
let decode s = catch (fun () -> decode_fields s)

(* ------------------------------------------------------------------ *)
(* Writer and Reader: one field at a time, no value tree               *)

(* The same writes and checks as put_fields/put_value and the same reads and
   checks as read_field/read_value, one typed call per field or list
   element, so that a caller who knows the message's layout pays for
   neither the value tree nor a dispatch on it. *)
module Writer = struct
  type t = writer

  let create ?(capacity = 256) () = new_writer (max 16 capacity)
  let clear t = t.len <- 0; t.left <- 0
  let length t = t.len

  let complete t =
    if t.left > 0 then
      failf INVAL "list:%s has %d elements still to write" (tag_name t.elem) t.left

  let contents t = complete t; Bytes.sub_string t.buf 0 t.len
  let buffer t = complete t; t.buf

  let element_type t tag =
    failf TYPE "list:%s element %d is a %s" (tag_name t.elem) t.index (tag_name tag)

  (* The tag byte of a field, or the element checks inside a list; then
     room for the [n] bytes of the value, counted as written: returns where
     they go.  (After an error the writer's state is unspecified.) *)
  let[@inline] start t tag byte n =
    let p = t.len in
    if t.left = 0 then begin
      if p + n + 1 > Bytes.length t.buf then grow t (n + 1);
      set8u t.buf p byte;
      t.len <- p + 1 + n;
      p + 1
    end
    else begin
      if not (same_tag tag t.elem) then element_type t tag;
      t.left <- t.left - 1;
      t.index <- t.index + 1;
      if p + n > Bytes.length t.buf then grow t n;
      t.len <- p + n;
      p
    end

  let[@inline] be16 b q n = set16u b q (if Sys.big_endian then n else swap16 (n land 0xFFFF))
  let[@inline] be32 b q x = set32u b q (if Sys.big_endian then x else swap32 x)
  let[@inline] be64 b q x = set64u b q (if Sys.big_endian then x else swap64 x)

  let u8 t n =
    let q = start t T_u8 0x01 1 in
    if n < 0 || n > u8_max then range_error "u8" 0 u8_max n;
    set8u t.buf q n

  let u16 t n =
    let q = start t T_u16 0x02 2 in
    if n < 0 || n > u16_max then range_error "u16" 0 u16_max n;
    be16 t.buf q n

  let u32 t n =
    let q = start t T_u32 0x03 4 in
    if n < 0 || n > u32_max then range_error "u32" 0 u32_max n;
    be32 t.buf q (Int32.of_int n)

  let u64 t x = be64 t.buf (start t T_u64 0x04 8) x

  let i8 t n =
    let q = start t T_i8 0x11 1 in
    if n < -0x80 || n > 0x7F then range_error "i8" (-0x80) 0x7F n;
    set8u t.buf q (n land 0xFF)

  let i16 t n =
    let q = start t T_i16 0x12 2 in
    if n < -0x8000 || n > 0x7FFF then range_error "i16" (-0x8000) 0x7FFF n;
    be16 t.buf q n

  let i32 t n =
    let q = start t T_i32 0x13 4 in
    if n < i32_min || n > i32_max then range_error "i32" i32_min i32_max n;
    be32 t.buf q (Int32.of_int n)

  let i64 t x = be64 t.buf (start t T_i64 0x14 8) x
  let f32 t x = be32 t.buf (start t T_f32 0x23 4) x
  let f64 t x = be64 t.buf (start t T_f64 0x24 8) (Int64.bits_of_float x)
  let bool t x = set8u t.buf (start t T_bool 0x30 1) (if x then 1 else 0)

  let string t s =
    ignore (start t T_string 0x40 0);
    let e = utf8_scan s 0 (String.length s) in
    if e >= 0 then failf UTF8 "string to encode is not valid UTF-8 (byte %d of the string)" e;
    put_string t "string length" s

  let bytes t s = ignore (start t T_bytes 0x41 0); put_string t "bytes length" s

  let list t e count =
    if t.left > 0 then fail INVAL "Writer.list inside a list: use encode_fields";
    (match e with
     | T_list | T_group -> fail INVAL "Writer.list of lists or groups: use encode_fields"
     | _ -> ());
    if count < 0 then failf INVAL "list count %d" count;
    if count > u32_max then length_error "list count" count;
    reserve t 6;
    set_u8 t 0x50;
    set_u8 t (tag_byte e);
    set_u32 t count;
    t.elem <- e;
    t.left <- count;
    t.index <- 0
end

module Reader = struct
  type t = {
    s : string;
    lim : int;  (* String.length s *)
    mutable pos : int;
    mutable elem : tag;  (* element type of the open list *)
    mutable left : int;  (* its elements still to read; 0: no list open *)
  }

  let create ?len s =
    let lim =
      match len with
      | None -> String.length s
      | Some n ->
        if n < 0 || n > String.length s then failf INVAL "Reader.create: len %d of a %d-byte string" n (String.length s);
        n in
    { s; lim; pos = 0; elem = T_u8; left = 0 }
  let offset t = t.pos
  let at_end t = t.left = 0 && t.pos >= t.lim

  (* The rest of the payload from [p], validated as decode_fields would:
     [left] elements of [e] first.  Raises the first error there is. *)
  let validate_rest t p left e =
    let q = ref p in
    for _ = 1 to left do q := skip_value t.s e !q t.lim 1 !q done;
    skip_seq t.s !q t.lim 0 (fun _ _ -> ())

  (* A field of another type than the one asked for: the payload's own
     first error if it has one (what decode_fields raises), else TYPE. *)
  let field_type t tag p =
    validate_rest t p 0 T_u8;
    failf ~offset:p TYPE "field is a %s, expected a %s"
      (tag_name (Option.get (tag_of_byte (String.get_uint8 t.s p)))) (tag_name tag)

  let element_type t tag =
    validate_rest t t.pos t.left t.elem;
    failf ~offset:t.pos TYPE "list element is a %s, expected a %s" (tag_name t.elem) (tag_name tag)

  let no_field t tag = failf ~offset:t.pos TYPE "no field left, expected a %s" (tag_name tag)

  (* Where the value of a [tag] field or element starts, once its tag and
     its [n] bytes are checked; the position moves past them.  The pos
     only grows from 0 and [need] keeps it within [lim], so the reads
     below need no bounds check of their own. *)
  let[@inline] start t tag byte n =
    let p = t.pos in
    if t.left = 0 then begin
      if p >= t.lim then no_field t tag;
      let b = Char.code (String.unsafe_get t.s p) in
      if b <> byte then field_type t tag p;
      let q = p + 1 in
      need q t.lim n;
      t.pos <- q + n;
      q
    end
    else begin
      if not (same_tag tag t.elem) then element_type t tag;
      need p t.lim n;
      t.left <- t.left - 1;
      t.pos <- p + n;
      p
    end

  external get16u : string -> int -> int = "%caml_string_get16u"
  external get32u : string -> int -> int32 = "%caml_string_get32u"
  external swap16 : int -> int = "%bswap16"
  external swap32 : int32 -> int32 = "%bswap_int32"
  external swap64 : int64 -> int64 = "%bswap_int64"

  let[@inline] be16 s p = if Sys.big_endian then get16u s p else swap16 (get16u s p)
  let[@inline] be32 s p = if Sys.big_endian then get32u s p else swap32 (get32u s p)
  let[@inline] be64 s p = if Sys.big_endian then get64u s p else swap64 (get64u s p)

  let u8 t = Char.code (String.unsafe_get t.s (start t T_u8 0x01 1))
  let u16 t = be16 t.s (start t T_u16 0x02 2)
  let u32 t = Int32.to_int (be32 t.s (start t T_u32 0x03 4)) land 0xFFFF_FFFF
  let u64 t = be64 t.s (start t T_u64 0x04 8)
  let i8 t = (Char.code (String.unsafe_get t.s (start t T_i8 0x11 1)) lxor 0x80) - 0x80
  let i16 t = ((be16 t.s (start t T_i16 0x12 2)) lxor 0x8000) - 0x8000
  let i32 t = Int32.to_int (be32 t.s (start t T_i32 0x13 4))
  let i64 t = be64 t.s (start t T_i64 0x14 8)
  let f32 t = be32 t.s (start t T_f32 0x23 4)
  let f64 t = Int64.float_of_bits (be64 t.s (start t T_f64 0x24 8))

  let bool t =
    let p = start t T_bool 0x30 1 in
    match String.get_uint8 t.s p with
    | 0 -> false
    | 1 -> true
    | b -> failf ~offset:p BADBOOL "bool byte is 0x%02x" b

  let blob t tag byte what utf8 =
    let p = start t tag byte 0 in
    let n = read_length t.s p t.lim what in
    let q = p + 4 in
    if utf8 then begin
      let e = utf8_scan t.s q (q + n) in
      if e >= 0 then failf ~offset:e UTF8 "ill-formed UTF-8 sequence"
    end;
    t.pos <- q + n;
    sub t.s q n

  let string t = blob t T_string 0x40 "string" true
  let bytes t = blob t T_bytes 0x41 "bytes" false

  let list t e =
    if t.left > 0 then fail ~offset:t.pos INVAL "Reader.list inside a list: use decode_fields";
    (match e with
     | T_list | T_group -> fail INVAL "Reader.list of lists or groups: use decode_fields"
     | _ -> ());
    let p = start t T_list 0x50 0 in
    let s = t.s and lim = t.lim in
    let got, count, q = list_header s p lim in
    if not (same_tag got e) then begin
      validate_rest t q count got;
      failf ~offset:p TYPE "list of %s, expected a list of %s" (tag_name got) (tag_name e)
    end;
    t.pos <- q;
    t.elem <- e;
    t.left <- count;
    count

  let finish t =
    validate_rest t t.pos t.left t.elem;
    t.left <- 0;
    t.pos <- t.lim
end

(* ------------------------------------------------------------------ *)
(* Frames                                                              *)

let protocol_version = 1
let header_size = 8
let default_max_payload = 16_777_216

(* The largest ERROR payload (SPEC 7.4, 8.1): whatever a peer announces,
   every HELLO and ERROR fits. *)
let min_max_payload = 1037

type header = { msg_type : int; length : int }

(* Checks a header in the order of SPEC 2.3 (version, flags, type,
   length) once its 8 bytes are in, never before: SPEC 2.3 judges the
   complete header, and EOF inside one (SPEC 8.5) closes without an ERROR,
   where checking a prefix answered `02 00 00 01 00 00 00` + EOF with
   VERSION.  Offsets are frame offsets (0, 1, 2, 4). *)
let check_header_bytes ~max_payload b off avail =
  if avail < header_size then None
  else begin
    if Bytes.get_uint8 b off <> protocol_version then
      failf ~offset:0 VERSION "frame version %d, expected 1" (Bytes.get_uint8 b off);
    if Bytes.get_uint8 b (off + 1) <> 0 then
      failf ~offset:1 HEADER "frame flags 0x%02x, must be 0" (Bytes.get_uint8 b (off + 1));
    if Bytes.get_uint16_be b (off + 2) = 0 then
      fail ~offset:2 HEADER "frame type 0 is invalid";
    let len = Int32.to_int (Bytes.get_int32_be b (off + 4)) land 0xFFFF_FFFF in
    if len > max_payload then
      failf ~offset:4 TOOBIG "payload length %d exceeds the limit %d" len max_payload;
    Some { msg_type = Bytes.get_uint16_be b (off + 2); length = len }
  end

(* The first header field that is not complete (a TRUNCATED offset). *)
let missing_header_field avail =
  if avail < 1 then 0 else if avail < 2 then 1 else if avail < 4 then 2 else 4

let decode_header ?(max_payload = default_max_payload) s off =
  let avail = max 0 (min header_size (String.length s - off)) in
  match check_header_bytes ~max_payload (Bytes.unsafe_of_string s) off avail with
  | Some h -> h
  | None ->
    failf ~offset:(missing_header_field avail) TRUNCATED
      "frame header needs 8 bytes, %d present" avail

let check_msg_type t =
  if t < 1 || t > 0xFFFF then failf INVAL "message type %d is not in 1..65535" t

let encode_header ~msg_type ~length =
  check_msg_type msg_type;
  if length < 0 || length > u32_max then failf RANGE "payload length %d" length;
  let b = Bytes.create header_size in
  Bytes.set_uint8 b 0 protocol_version;
  Bytes.set_uint8 b 1 0;
  Bytes.set_uint16_be b 2 msg_type;
  Bytes.set_int32_be b 4 (Int32.of_int length);
  Bytes.unsafe_to_string b

let check_frame_payload ?(max_payload = default_max_payload) msg_type payload =
  check_msg_type msg_type;
  let n = String.length payload in
  if n > max_payload then
    failf TOOBIG "payload of %d bytes exceeds the receiver's limit %d" n max_payload

let encode_frame ?max_payload msg_type payload =
  check_frame_payload ?max_payload msg_type payload;
  encode_header ~msg_type ~length:(String.length payload) ^ payload

let decode_frame ?(max_payload = default_max_payload) s =
  let h = decode_header ~max_payload s 0 in
  let have = String.length s - header_size in
  if have < h.length then
    failf ~offset:(header_size + have) TRUNCATED
      "frame payload of %d bytes, only %d present" h.length have;
  if have > h.length then
    failf ~offset:(header_size + h.length) INVAL
      "%d bytes after the end of the frame" (have - h.length);
  h.msg_type, String.sub s header_size h.length

let shift_error base e =
  match e.offset with
  | Some o -> { e with offset = Some (base + o) }
  | None -> e

let decode_payload_in_frame payload =
  match decode_fields payload with
  | v -> v
  | exception Error e -> raise (Error (shift_error header_size e))

(* ------------------------------------------------------------------ *)
(* Incremental frame parser                                            *)

module Parser = struct
  type event = Frame of int * string | Await | Failed of error

  (* Bytes [start, stop) of [buf] are buffered.  Frames in [start, scan)
     are complete and have valid headers; the header at [scan] is
     incomplete, or invalid (then [failure] is set).  Errors are held back
     until the frames before them were taken, so replies stay in order. *)
  type t = {
    max_payload : int;
    mutable buf : Bytes.t;
    mutable start : int;
    mutable stop : int;
    mutable scan : int;
    mutable failure : error option;
  }

  let initial_capacity = 4096
  let idle_capacity = 65536

  let create ?(max_payload = default_max_payload) () =
    { max_payload; buf = Bytes.create initial_capacity; start = 0; stop = 0; scan = 0;
      failure = None }

  (* Where the frame in progress ends (relative to [start]), once its
     header is in. *)
  let frame_end t =
    if t.failure <> None || t.stop - t.scan < header_size then None
    else
      let len = Int32.to_int (Bytes.get_int32_be t.buf (t.scan + 4)) land 0xFFFF_FFFF in
      Some (t.scan - t.start + header_size + len)

  (* The buffer doubles, so it never holds more than twice what was
     received (SPEC 9.2: nothing is allocated from a length that only
     announces bytes).  When the end of the frame in progress is within
     one more doubling, it grows to exactly that end instead: a 16 MiB
     frame then costs 16 MiB, not the 32 MiB of the next power of two. *)
  let make_room t n =
    if t.stop + n > Bytes.length t.buf then begin
      let live = t.stop - t.start in
      let buf =
        if live + n <= Bytes.length t.buf then t.buf
        else
          let doubled = max (live + n) (2 * Bytes.length t.buf) in
          match frame_end t with
          | Some e when e >= live + n && e <= 2 * doubled -> Bytes.create e
          | _ -> Bytes.create doubled in
      Bytes.blit t.buf t.start buf 0 live;
      t.buf <- buf;
      t.scan <- t.scan - t.start;
      t.stop <- live;
      t.start <- 0
    end

  let rec validate t =
    let avail = t.stop - t.scan in
    match check_header_bytes ~max_payload:t.max_payload t.buf t.scan avail with
    | exception Error e ->
      t.failure <- Some e;
      (* Nothing after a bad header is ever used: drop it now. *)
      t.stop <- t.scan
    | Some h when avail >= header_size + h.length ->
      t.scan <- t.scan + header_size + h.length;
      validate t
    | Some _ | None -> ()

  let feed t s off len =
    if off < 0 || len < 0 || off > String.length s - len then
      invalid_arg "Wire.Parser.feed";
    if t.failure = None && len > 0 then begin
      make_room t len;
      Bytes.blit_string s off t.buf t.stop len;
      t.stop <- t.stop + len;
      validate t
    end

  let feed_string t s = feed t s 0 (String.length s)

  let next t =
    if t.start < t.scan then begin
      let ty = Bytes.get_uint16_be t.buf (t.start + 2) in
      let len = Int32.to_int (Bytes.get_int32_be t.buf (t.start + 4)) land 0xFFFF_FFFF in
      let payload = Bytes.sub_string t.buf (t.start + header_size) len in
      t.start <- t.start + header_size + len;
      if t.start = t.stop then begin
        t.start <- 0; t.stop <- 0; t.scan <- 0;
        (* An idle connection must not keep the buffer of its largest
           frame. *)
        if Bytes.length t.buf > idle_capacity then t.buf <- Bytes.create initial_capacity
      end;
      Frame (ty, payload)
    end
    else
      match t.failure with
      | Some e -> Failed e
      | None -> Await

  let failure t = t.failure
  let buffered t = t.stop - t.start
  let in_frame t = t.stop > t.scan

  (* The frame at [scan] is incomplete; once its 8 header bytes are in
     they have passed the checks (or [failure] would be set). *)
  let pending t =
    if t.failure <> None || t.stop - t.scan < header_size then None
    else
      Some { msg_type = Bytes.get_uint16_be t.buf (t.scan + 2);
             length = Int32.to_int (Bytes.get_int32_be t.buf (t.scan + 4)) land 0xFFFF_FFFF }
end

(* ------------------------------------------------------------------ *)
(* Blocking I/O                                                        *)

let unix_error what (err : Unix.error) =
  match err with
  | Unix.EAGAIN | Unix.EWOULDBLOCK -> failf TIMEOUT "%s: timed out" what
  | Unix.EPIPE | Unix.ECONNRESET -> failf CLOSED "%s: %s" what (Unix.error_message err)
  | e -> failf IO "%s: %s" what (Unix.error_message e)

(* With a deadline, wait (select) until the fd is ready or time is up.
   EINTR only means a signal arrived: recompute the time left and retry. *)
let rec wait_ready ?deadline fd ~write =
  match deadline with
  | None -> ()
  | Some d ->
    let left = d -. Unix.gettimeofday () in
    if left <= 0. then fail TIMEOUT "timed out";
    let r, w = if write then [], [ fd ] else [ fd ], [] in
    match Unix.select r w [] left with
    | [], [], _ -> wait_ready ?deadline fd ~write
    | _ -> ()
    | exception Unix.Unix_error (Unix.EINTR, _, _) -> wait_ready ?deadline fd ~write
    | exception Unix.Unix_error (e, _, _) -> unix_error "select" e

(* Unix.write loops internally but loses the count of bytes already
   written when a later chunk fails (EINTR); single_write does one
   write(2), so the loop here always knows where it is. *)
let write_all ?deadline fd s =
  let rec go off len =
    if len > 0 then begin
      wait_ready ?deadline fd ~write:true;
      match Unix.single_write_substring fd s off len with
      | n -> go (off + n) (len - n)
      | exception Unix.Unix_error (Unix.EINTR, _, _) -> go off len
      | exception Unix.Unix_error (e, _, _) -> unix_error "write" e
    end in
  go 0 (String.length s)

let rec read_some ?deadline fd buf off len =
  wait_ready ?deadline fd ~write:false;
  match Unix.read fd buf off len with
  | n -> n
  | exception Unix.Unix_error (Unix.EINTR, _, _) -> read_some ?deadline fd buf off len
  | exception Unix.Unix_error (e, _, _) -> unix_error "read" e

let really_read ?deadline fd buf off len =
  let rec go off len =
    if len > 0 then
      match read_some ?deadline fd buf off len with
      | 0 -> fail CLOSED "connection closed by peer"
      | n -> go (off + n) (len - n) in
  go off len

let read_frame ?deadline ?(max_payload = default_max_payload) fd =
  let hdr = Bytes.create header_size in
  (* EOF before the first byte is a clean close between frames. *)
  let first = read_some ?deadline fd hdr 0 header_size in
  if first = 0 then fail CLOSED "connection closed by peer";
  (try really_read ?deadline fd hdr first (header_size - first)
   with Error { code = CLOSED; _ } ->
     fail CLOSED "connection closed by peer inside a frame header");
  match check_header_bytes ~max_payload hdr 0 header_size with
  | None -> assert false
  | Some h ->
    (* The header was checked before any payload byte is read.  The buffer
       then doubles as bytes arrive, up to the announced length: allocating
       that length at once would let 8 bytes reserve 16 MiB (SPEC 2.4). *)
    let payload = ref (Bytes.create (min h.length 65536)) and got = ref 0 in
    (try
       while !got < h.length do
         if !got = Bytes.length !payload then begin
           let bigger = Bytes.create (min h.length (2 * Bytes.length !payload)) in
           Bytes.blit !payload 0 bigger 0 !got;
           payload := bigger
         end;
         match read_some ?deadline fd !payload !got (Bytes.length !payload - !got) with
         | 0 -> fail CLOSED "connection closed by peer"
         | n -> got := !got + n
       done
     with Error { code = CLOSED; _ } ->
       fail CLOSED "connection closed by peer inside a frame payload");
    h.msg_type, Bytes.unsafe_to_string !payload

let write_frame ?deadline ?max_payload fd msg_type payload =
  if String.length payload <= 65536 then
    (* One buffer, one write sequence: no Nagle stall between header and
       payload of a small frame. *)
    write_all ?deadline fd (encode_frame ?max_payload msg_type payload)
  else begin
    (* A large payload is not copied behind its header: that copy was one
       more payload's worth of memory per reply. *)
    check_frame_payload ?max_payload msg_type payload;
    write_all ?deadline fd (encode_header ~msg_type ~length:(String.length payload));
    write_all ?deadline fd payload
  end

(* SPEC 8.4: "about a second". *)
let drain_time = 1.0

let shutdown_and_close ?(drain = drain_time) fd =
  (try Unix.shutdown fd Unix.SHUTDOWN_SEND with Unix.Unix_error _ -> ());
  (* Drain what the peer still sends so closing does not turn its unread
     data into an RST that could destroy our last frame in flight; bounded,
     since a hostile peer can send forever. *)
  let deadline = Unix.gettimeofday () +. drain in
  let buf = Bytes.create 65536 in
  (try
     while read_some ~deadline fd buf 0 (Bytes.length buf) > 0 do () done
   with Error _ -> ());
  try Unix.close fd with Unix.Unix_error _ -> ()

(* ------------------------------------------------------------------ *)
(* Messages                                                            *)

module Msg = struct
  let hello = 0x0001
  let error = 0x0002
  let ping = 0x0003
  let pong = 0x0004
  let bye = 0x0005
  let echo = 0x0100
  let echo_reply = 0x0101
  let roundtrip = 0x0102
  let roundtrip_reply = 0x0103
  let vector_check = 0x0104
  let vector_result = 0x0105
  let vector_get = 0x0106
  let vector_data = 0x0107
  let stats = 0x0108
  let stats_reply = 0x0109

  let all =
    [ hello, "HELLO"; error, "ERROR"; ping, "PING"; pong, "PONG"; bye, "BYE";
      echo, "ECHO"; echo_reply, "ECHO_REPLY"; roundtrip, "ROUNDTRIP";
      roundtrip_reply, "ROUNDTRIP_REPLY"; vector_check, "VECTOR_CHECK";
      vector_result, "VECTOR_RESULT"; vector_get, "VECTOR_GET";
      vector_data, "VECTOR_DATA"; stats, "STATS"; stats_reply, "STATS_REPLY" ]

  let name t =
    match List.assoc_opt t all with
    | Some n -> n
    | None -> Printf.sprintf "0x%04x" t

  let of_name n =
    match List.find_opt (fun (_, m) -> m = n) all with
    | Some (t, _) -> Some t
    | None -> None
end

let no_offset = 0xFFFF_FFFF
let max_peer_name = 255
let max_error_text = 1024

(* Field [i] of a message must exist and have tag [t]; otherwise MESSAGE
   at the field's tag byte (or at the payload end when it is missing). *)
let message_field what payload located i t =
  match List.nth_opt located i with
  | None ->
    failf ~offset:(String.length payload) MESSAGE "%s: field %d (%s) is missing"
      what i (tag_name t)
  | Some (p, v) ->
    if tag_of_value v <> t then
      failf ~offset:p MESSAGE "%s: field %d is %s, expected %s" what i
        (tag_name (tag_of_value v)) (tag_name t);
    p, v

let message_field_offset what payload tags i t =
  match List.nth_opt tags i with
  | None ->
    failf ~offset:(String.length payload) MESSAGE "%s: field %d (%s) is missing"
      what i (tag_name t)
  | Some (p, u) ->
    if u <> t then
      failf ~offset:p MESSAGE "%s: field %d is %s, expected %s" what i (tag_name u) (tag_name t);
    p

let message_field_at what payload tags i t =
  let p = message_field_offset what payload tags i t in
  p, decode_field_at payload p

type hello = { version : int; max_payload : int; peer_name : string }

(* SPEC 7.2: an encoder refuses what a receiver would refuse, so it is
   never sent. *)
let hello_payload ?(version = protocol_version) ~max_payload name =
  if String.length name > max_peer_name then
    failf RANGE "HELLO name of %d bytes (at most %d)" (String.length name) max_peer_name;
  if max_payload < min_max_payload then
    failf RANGE "HELLO max_payload %d is under the minimum %d" max_payload min_max_payload;
  encode_fields [ U16 version; U32 max_payload; String name ]

(* SPEC 7.2: the whole payload decodes first, then the fields are judged
   in order; a value that is not allowed is MESSAGE at its first byte
   (p + 1, right after the tag). *)
let parse_hello payload =
  (* Only the fields judged are decoded: a HELLO (or ERROR) padded with
     millions of extra fields must not cost their value tree. *)
  let field = message_field_at "HELLO" payload (field_tags ~max:3 payload) in
  (* The version first, and alone: another version's HELLO may define
     its other fields differently, so nothing after it is judged. *)
  let version =
    match field 0 T_u16 with
    | p, U16 v ->
      if v <> protocol_version then
        failf ~offset:(p + 1) VERSION "peer speaks protocol version %d, not %d" v
          protocol_version;
      v
    | _ -> assert false in
  let max_payload =
    match field 1 T_u32 with
    | p, U32 m ->
      if m < min_max_payload then
        failf ~offset:(p + 1) MESSAGE "HELLO: max_payload %d is under the minimum %d" m
          min_max_payload;
      m
    | _ -> assert false in
  let peer_name =
    match field 2 T_string with
    | p, String n ->
      if String.length n > max_peer_name then
        failf ~offset:(p + 1) MESSAGE "HELLO: name of %d bytes (at most %d)"
          (String.length n) max_peer_name;
      n
    | _ -> assert false in
  { version; max_payload; peer_name }

type error_message = { err_code : int; err_offset : int option; err_text : string }

(* Cut at a character boundary so the text stays valid UTF-8. *)
let utf8_prefix s n =
  if String.length s <= n then s
  else
    let rec back i =
      if i > 0 && Char.code s.[i] land 0xC0 = 0x80 then back (i - 1) else i in
    let cut = String.sub s 0 (back n) in
    if utf8_valid cut then cut else ""

let error_payload ~code ?offset text =
  if code < 0 || code > u16_max then failf RANGE "error code %d" code;
  let off =
    match offset with
    | None -> no_offset
    | Some o -> if o < 0 || o > u32_max then failf RANGE "error offset %d" o else o in
  if String.length text > max_error_text then
    failf RANGE "ERROR text of %d bytes (at most %d)" (String.length text) max_error_text;
  encode_fields [ U16 code; U32 off; String text ]

(* Same rules as parse_hello (SPEC 7.2); a text over the limit makes the
   ERROR malformed (the receiver still closes without answering, 7.4). *)
let parse_error_message payload =
  let field = message_field_at "ERROR" payload (field_tags ~max:3 payload) in
  match field 0 T_u16, field 1 T_u32, field 2 T_string with
  | (_, U16 c), (_, U32 o), (p, String t) ->
    if String.length t > max_error_text then
      failf ~offset:(p + 1) MESSAGE "ERROR: text of %d bytes (at most %d)"
        (String.length t) max_error_text;
    { err_code = c; err_offset = (if o = no_offset then None else Some o);
      err_text = t }
  | _ -> assert false

let hello_frame ?version ~max_payload name =
  encode_frame Msg.hello (hello_payload ?version ~max_payload name)

let error_frame ~code ?offset text =
  encode_frame Msg.error (error_payload ~code ?offset text)

let ping_frame payload = encode_frame Msg.ping payload
let pong_frame payload = encode_frame Msg.pong payload
let bye_frame = encode_frame Msg.bye ""

(* SPEC 7.5: a PING is answered at any time, also while a reply is
   awaited, and its PONG goes out before the next frame is read. *)
let read_frame_answering_pings ?deadline ?max_payload ~peer_max fd =
  let rec go () =
    let ty, payload = read_frame ?deadline ?max_payload fd in
    if ty <> Msg.ping then ty, payload
    else if String.length payload > peer_max then begin
      (try
         write_frame ?deadline fd Msg.error
           (error_payload ~code:(code_number TOOBIG) (code_meaning TOOBIG))
       with Error _ -> ());
      failf TOOBIG "PING of %d bytes: its PONG would exceed the peer's max_payload %d"
        (String.length payload) peer_max
    end
    else begin
      write_frame ?deadline ~max_payload:peer_max fd Msg.pong payload;
      go ()
    end in
  go ()
