(* SPDX-License-Identifier: MIT *)
(* The codec as it was before it was tuned (issue 11), kept verbatim as the oracle of
   equiv.ml: the tuned Wire must give the same bytes, values, error codes, offsets and
   messages on every input.  Only the references to Wire were added. *)

open Wire

let max_depth = Wire.max_depth

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
