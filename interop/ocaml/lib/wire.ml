(* wire protocol v1: errors, value model, codec, framing, incremental
   parser, blocking I/O and control messages.  See wire.mli for the API
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

let utf8_error s off len =
  let stop = off + len in
  let byte i = Char.code (String.unsafe_get s i) in
  let in_range i lo hi = i < stop && (let b = byte i in b >= lo && b <= hi) in
  let rec go i =
    if i >= stop then None
    else
      let c = byte i in
      if c < 0x80 then go (i + 1)
      else
        (* continuation bytes after the lead, and the range of the 2nd byte *)
        let more, lo, hi =
          if c >= 0xC2 && c <= 0xDF then 1, 0x80, 0xBF
          else if c = 0xE0 then 2, 0xA0, 0xBF
          else if c >= 0xE1 && c <= 0xEC then 2, 0x80, 0xBF
          else if c = 0xED then 2, 0x80, 0x9F
          else if c = 0xEE || c = 0xEF then 2, 0x80, 0xBF
          else if c = 0xF0 then 3, 0x90, 0xBF
          else if c >= 0xF1 && c <= 0xF3 then 3, 0x80, 0xBF
          else if c = 0xF4 then 3, 0x80, 0x8F
          else 0, 0, 0 (* 80..C1, F5..FF: never a valid lead *) in
        if more = 0 || not (in_range (i + 1) lo hi) then Some i
        else if more >= 2 && not (in_range (i + 2) 0x80 0xBF) then Some i
        else if more >= 3 && not (in_range (i + 3) 0x80 0xBF) then Some i
        else go (i + more + 1)
  in
  go off

let utf8_valid s = utf8_error s 0 (String.length s) = None

(* ------------------------------------------------------------------ *)
(* Encoder                                                             *)

let max_depth = 32

let add_u32 b n =
  (* Int32.of_int keeps the low 32 bits, i.e. the right bit pattern for
     0..2^32-1 even when it reads back negative as an int32. *)
  Buffer.add_int32_be b (Int32.of_int n)

let add_length b what n =
  if n > u32_max then failf RANGE "%s of %d does not fit in a u32" what n;
  add_u32 b n

let rec add_value b depth v =
  check_value_range v;
  match v with
  | U8 n -> Buffer.add_uint8 b n
  | U16 n -> Buffer.add_uint16_be b n
  | U32 n -> add_u32 b n
  | U64 x | I64 x -> Buffer.add_int64_be b x
  | I8 n -> Buffer.add_int8 b n
  | I16 n -> Buffer.add_int16_be b n
  | I32 n -> Buffer.add_int32_be b (Int32.of_int n)
  | F32 x -> Buffer.add_int32_be b x
  | F64 x -> Buffer.add_int64_be b (Int64.bits_of_float x)
  | Bool x -> Buffer.add_uint8 b (if x then 1 else 0)
  | String s ->
    (match utf8_error s 0 (String.length s) with
     | Some i ->
       failf UTF8 "string to encode is not valid UTF-8 (byte %d of the string)" i
     | None -> ());
    add_length b "string length" (String.length s);
    Buffer.add_string b s
  | Bytes s ->
    add_length b "bytes length" (String.length s);
    Buffer.add_string b s
  | List (t, vs) ->
    if depth + 1 > max_depth then
      fail DEPTH "list would be nested deeper than 32 levels";
    Buffer.add_uint8 b (tag_byte t);
    add_length b "list count" (List.length vs);
    List.iteri
      (fun i v ->
         if tag_of_value v <> t then
           failf TYPE "list:%s element %d is a %s" (tag_name t) i
             (tag_name (tag_of_value v));
         add_value b (depth + 1) v)
      vs
  | Group vs ->
    if depth + 1 > max_depth then
      fail DEPTH "group would be nested deeper than 32 levels";
    (* The length precedes the fields: encode them aside first.  Depth is
       bounded by 32, so the extra copying is bounded too. *)
    let sub = Buffer.create 64 in
    List.iter (add_field sub (depth + 1)) vs;
    add_length b "group length" (Buffer.length sub);
    Buffer.add_buffer b sub

and add_field b depth v =
  Buffer.add_uint8 b (tag_byte (tag_of_value v));
  add_value b depth v

let encode_field b v = add_field b 0 v
let encode_value b v = add_value b 0 v

let encode_fields vs =
  let b = Buffer.create 64 in
  List.iter (add_field b 0) vs;
  Buffer.contents b

(* ------------------------------------------------------------------ *)
(* Decoder (strict, SPEC 3 and 5)                                      *)

let get_u32 s p = Int32.to_int (String.get_int32_be s p) land 0xFFFF_FFFF

(* Every check below raises at the first problem, with the offset of the
   smallest wrong element, in the order fixed by SPEC 5.2 and 5.5. *)

let need p lim n =
  if lim - p < n then
    failf ~offset:p TRUNCATED "%d-byte value needs %d bytes, %d left" n n (lim - p)

(* A u32 length word followed by that many bytes within [lim]. *)
let read_length s p lim what =
  if lim - p < 4 then
    failf ~offset:p TRUNCATED "%s length needs 4 bytes, %d left" what (lim - p);
  let n = get_u32 s p in
  if n > lim - (p + 4) then
    failf ~offset:p LENGTH "%s length %d but only %d bytes left" what n (lim - (p + 4));
  n

(* [depth] is the depth of the sequence holding this value; a container
   value opens level [depth + 1].  [first] is the offset blamed for DEPTH:
   the tag byte of a field, the element's first byte inside a list. *)
let rec decode_value s t p lim depth first =
  match t with
  | T_u8 -> need p lim 1; U8 (String.get_uint8 s p), p + 1
  | T_u16 -> need p lim 2; U16 (String.get_uint16_be s p), p + 2
  | T_u32 -> need p lim 4; U32 (get_u32 s p), p + 4
  | T_u64 -> need p lim 8; U64 (String.get_int64_be s p), p + 8
  | T_i8 -> need p lim 1; I8 (String.get_int8 s p), p + 1
  | T_i16 -> need p lim 2; I16 (String.get_int16_be s p), p + 2
  | T_i32 -> need p lim 4; I32 (Int32.to_int (String.get_int32_be s p)), p + 4
  | T_i64 -> need p lim 8; I64 (String.get_int64_be s p), p + 8
  | T_f32 -> need p lim 4; F32 (String.get_int32_be s p), p + 4
  | T_f64 ->
    need p lim 8;
    F64 (Int64.float_of_bits (String.get_int64_be s p)), p + 8
  | T_bool ->
    need p lim 1;
    (match String.get_uint8 s p with
     | 0 -> Bool false, p + 1
     | 1 -> Bool true, p + 1
     | b -> failf ~offset:p BADBOOL "bool byte is 0x%02x" b)
  | T_string ->
    let n = read_length s p lim "string" in
    let q = p + 4 in
    (match utf8_error s q n with
     | Some i -> failf ~offset:i UTF8 "ill-formed UTF-8 sequence"
     | None -> ());
    String (String.sub s q n), q + n
  | T_bytes ->
    let n = read_length s p lim "bytes" in
    Bytes (String.sub s (p + 4) n), p + 4 + n
  | T_list ->
    if depth + 1 > max_depth then
      fail ~offset:first DEPTH "list nested deeper than 32 levels";
    if lim - p < 1 then fail ~offset:p TRUNCATED "list element tag missing";
    let e =
      match tag_of_byte (String.get_uint8 s p) with
      | Some e -> e
      | None ->
        failf ~offset:p BADTAG "unknown list element tag 0x%02x"
          (String.get_uint8 s p) in
    let cp = p + 1 in
    if lim - cp < 4 then
      failf ~offset:cp TRUNCATED "list count needs 4 bytes, %d left" (lim - cp);
    let count = get_u32 s cp in
    let q = cp + 4 in
    (* Division, not multiplication: cannot overflow, and rejects a huge
       count before anything is allocated for it. *)
    if count > (lim - q) / min_size e then
      failf ~offset:cp LENGTH "list count %d of %s cannot fit in %d bytes"
        count (tag_name e) (lim - q);
    let acc = ref [] and q = ref q in
    for _ = 1 to count do
      let v, q' = decode_value s e !q lim (depth + 1) !q in
      acc := v :: !acc;
      q := q'
    done;
    List (e, List.rev !acc), !q
  | T_group ->
    if depth + 1 > max_depth then
      fail ~offset:first DEPTH "group nested deeper than 32 levels";
    let n = read_length s p lim "group" in
    let q = p + 4 in
    Group (List.rev_map snd (decode_seq s q (q + n) (depth + 1) [])), q + n

(* Fields from [p] to exactly [lim]; returns (offset, value) reversed. *)
and decode_seq s p lim depth acc =
  if p >= lim then acc
  else
    let b = String.get_uint8 s p in
    match tag_of_byte b with
    | None -> failf ~offset:p BADTAG "unknown tag 0x%02x" b
    | Some t ->
      let v, q = decode_value s t (p + 1) lim depth p in
      decode_seq s q lim depth ((p, v) :: acc)

(* The same walk as decode_value/decode_seq, with the same checks in the
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
    (match utf8_error s q n with
     | Some i -> failf ~offset:i UTF8 "ill-formed UTF-8 sequence"
     | None -> ());
    q + n
  | T_bytes -> p + 4 + read_length s p lim "bytes"
  | T_list ->
    if depth + 1 > max_depth then
      fail ~offset:first DEPTH "list nested deeper than 32 levels";
    if lim - p < 1 then fail ~offset:p TRUNCATED "list element tag missing";
    let e =
      match tag_of_byte (String.get_uint8 s p) with
      | Some e -> e
      | None ->
        failf ~offset:p BADTAG "unknown list element tag 0x%02x"
          (String.get_uint8 s p) in
    let cp = p + 1 in
    if lim - cp < 4 then
      failf ~offset:cp TRUNCATED "list count needs 4 bytes, %d left" (lim - cp);
    let count = get_u32 s cp in
    let q = cp + 4 in
    if count > (lim - q) / min_size e then
      failf ~offset:cp LENGTH "list count %d of %s cannot fit in %d bytes"
        count (tag_name e) (lim - q);
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
    match tag_of_byte b with
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

let decode_value_at s t p = fst (decode_value s t p (String.length s) 0 p)

let decode_field_at s p =
  match tag_of_byte (String.get_uint8 s p) with
  | None -> failf ~offset:p BADTAG "unknown tag 0x%02x" (String.get_uint8 s p)
  | Some t -> fst (decode_value s t (p + 1) (String.length s) 0 p)

let decode_located s = List.rev (decode_seq s 0 (String.length s) 0 [])
let decode_fields s = List.rev_map snd (decode_seq s 0 (String.length s) 0 [])
let decode s = catch (fun () -> decode_fields s)

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
