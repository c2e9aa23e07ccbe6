(* SPDX-License-Identifier: MIT *)
(* Interop service logic (SPEC 10.1-10.6), independent of sockets so the
   tests can drive it directly. *)

open Core

(* ------------------------------------------------------------------ *)
(* CRC-32 (IEEE 802.3 / zlib, reflected 0xEDB88320)                    *)

let crc_table =
  Array.init 256 (fun n ->
      let c = ref n in
      for _ = 1 to 8 do
        c := if !c land 1 = 1 then 0xEDB88320 lxor (!c lsr 1) else !c lsr 1
      done;
      !c)

let crc32_sub s off len =
  let c = ref 0xFFFF_FFFF in
  for i = off to off + len - 1 do
    c := crc_table.((!c lxor Char.code (String.unsafe_get s i)) land 0xFF) lxor (!c lsr 8)
  done;
  !c lxor 0xFFFF_FFFF

let crc32 s = crc32_sub s 0 (String.length s)

(* ------------------------------------------------------------------ *)
(* STATS                                                               *)

let stats ints floats data =
  (* Int64.add wraps mod 2^64, as required. *)
  let isum = List.fold_left Int64.add 0L ints in
  let imin = List.fold_left (fun m x -> if Int64.compare x m < 0 then x else m) Int64.max_int ints in
  let imax = List.fold_left (fun m x -> if Int64.compare x m > 0 then x else m) Int64.min_int ints in
  (* Left to right from +0.0; (<) and (>) on floats are IEEE comparisons,
     false for NaN, so a NaN never becomes min or max. *)
  let fsum = List.fold_left ( +. ) 0.0 floats in
  let fmin = List.fold_left (fun m (x : float) -> if x < m then x else m) Float.infinity floats in
  let fmax = List.fold_left (fun m (x : float) -> if x > m then x else m) Float.neg_infinity floats in
  [ I64 isum; I64 imin; I64 imax; F64 fsum; F64 fmin; F64 fmax; U32 (crc32 data) ]

(* SPEC 10.6 read from the payload's bytes, with the checks of 7.2 (a list
   of the wrong element type is a value not allowed: MESSAGE at its
   element tag, right after the list tag): as values, 2 million i64 cost 64 bytes each instead of
   8.  [field_tags] validated the whole payload first, so every count and
   element below is within it. *)
let get_u32 s p = Int32.to_int (String.get_int32_be s p) land 0xFFFF_FFFF

let stats_reply_of_request payload =
  let tags = field_tags ~max:4 payload in
  let field = message_field_offset "STATS" payload tags in
  let list_of i elem what =
    let p = field i T_list in
    if String.get_uint8 payload (p + 1) <> tag_byte elem then
      fail ~offset:(p + 1) MESSAGE ("STATS: field " ^ string_of_int i ^ " must be " ^ what);
    p + 6, get_u32 payload (p + 2) in
  let ip, icount = list_of 0 T_i64 "list:i64" in
  let fp, fcount = list_of 1 T_f64 "list:f64" in
  let dp = field 2 T_bytes in
  (match List.nth_opt tags 3 with
   | Some (p, _) -> fail ~offset:p MESSAGE "STATS: more than 3 fields"
   | None -> ());
  let isum = ref 0L and imin = ref Int64.max_int and imax = ref Int64.min_int in
  for k = 0 to icount - 1 do
    let x = String.get_int64_be payload (ip + 8 * k) in
    isum := Int64.add !isum x;
    if Int64.compare x !imin < 0 then imin := x;
    if Int64.compare x !imax > 0 then imax := x
  done;
  let fsum = ref 0.0 and fmin = ref Float.infinity and fmax = ref Float.neg_infinity in
  for k = 0 to fcount - 1 do
    let x = Int64.float_of_bits (String.get_int64_be payload (fp + 8 * k)) in
    fsum := !fsum +. x;
    if x < !fmin then fmin := x;
    if x > !fmax then fmax := x
  done;
  [ I64 !isum; I64 !imin; I64 !imax; F64 !fsum; F64 !fmin; F64 !fmax;
    U32 (crc32_sub payload (dp + 5) (get_u32 payload (dp + 1))) ]

(* ------------------------------------------------------------------ *)
(* VECTOR_CHECK comparison                                             *)

type mismatch = { path : string; expected : string; got : string }

let missing = "(missing)"
let none = "(none)"

let status_match = 0
let status_mismatch = 1
let status_unknown = 2
let max_shown = 4096

(* Keeps VECTOR_RESULT small whatever the vector: notation is ASCII. *)
let clip s =
  if String.length s <= max_shown then s else String.sub s 0 (max_shown - 3) ^ "..."

let rec compare_item path e g =
  match e, g with
  | List (t, es), List (u, gs) when t = u -> compare_seq path es gs
  | Group es, Group gs -> compare_seq path es gs
  | _ ->
    if equal_value e g then None
    else Some { path; expected = Text.format_value e; got = Text.format_value g }

(* Indices are appended per level: "3", then "3.0", "3.0.5". *)
and compare_seq prefix es gs =
  let rec go i es gs =
    let path = if prefix = "" then string_of_int i else prefix ^ "." ^ string_of_int i in
    match es, gs with
    | [], [] -> None
    | e :: _, [] -> Some { path; expected = Text.format_value e; got = missing }
    | [], g :: _ -> Some { path; expected = none; got = Text.format_value g }
    | e :: es, g :: gs ->
      match compare_item path e g with
      | None -> go (i + 1) es gs
      | m -> m in
  go 0 es gs

let compare_fields ~expected ~got = compare_seq "" expected got

(* The same comparison, with the request's values read from its bytes
   where they are needed and never built as a tree: a 16 MiB request that
   does not match must not cost 20 times its size.  [payload] passed
   validation; [off] is where the got fields begin. *)

(* The got side: tagged fields up to [lim], or [left] untagged values of
   one list's element tag. *)
type cursor = { s : string; mutable p : int; lim : int; elem : tag option; mutable left : int }

let next_item c =
  match c.elem with
  | None ->
    if c.p >= c.lim then None
    else
      let t = match tag_of_byte (String.get_uint8 c.s c.p) with Some t -> t | None -> assert false in
      let vp = c.p + 1 in
      c.p <- value_end c.s t vp;
      Some (t, vp)
  | Some t ->
    if c.left = 0 then None
    else begin
      c.left <- c.left - 1;
      let vp = c.p in
      c.p <- value_end c.s t vp;
      Some (t, vp)
    end

let list_elem s vp = match tag_of_byte (String.get_uint8 s vp) with Some t -> t | None -> assert false
let list_cursor s vp =
  { s; p = vp + 5; lim = String.length s; elem = Some (list_elem s vp);
    left = Int32.to_int (String.get_int32_be s (vp + 1)) land 0xFFFF_FFFF }
let group_cursor s vp =
  let n = Int32.to_int (String.get_int32_be s vp) land 0xFFFF_FFFF in
  { s; p = vp + 4; lim = vp + 4 + n; elem = None; left = 0 }

exception Enough

(* Text.format_value of the value at [vp], cut once it is longer than
   [max_shown] ([clip] then says so the same way): only that much is built. *)
let format_at s t vp =
  let b = Buffer.create 256 in
  let add x =
    Buffer.add_string b x;
    if Buffer.length b > max_shown then raise Enough in
  let rec value t vp =
    match t with
    | T_list ->
      add ("list:" ^ tag_name (list_elem s vp) ^ " [");
      items (list_cursor s vp);
      add " ]"
    | T_group ->
      add "group {";
      items (group_cursor s vp);
      add " }"
    | t -> add (Text.format_value (decode_value_at s t vp))
  and items c =
    match next_item c with
    | None -> ()
    | Some (t, vp) -> add " "; value t vp; items c in
  (try value t vp with Enough -> ());
  clip (Buffer.contents b)

let rec compare_item_at s path e (t, vp) =
  match e with
  | List (et, es) when t = T_list && list_elem s vp = et -> compare_seq_at s path es (list_cursor s vp)
  | Group es when t = T_group -> compare_seq_at s path es (group_cursor s vp)
  | _ ->
    let same =
      t = tag_of_value e && t <> T_list && t <> T_group && equal_value e (decode_value_at s t vp) in
    if same then None
    else Some { path; expected = clip (Text.format_value e); got = format_at s t vp }

and compare_seq_at s prefix es c =
  let rec go i es =
    let path = if prefix = "" then string_of_int i else prefix ^ "." ^ string_of_int i in
    match es, next_item c with
    | [], None -> None
    | e :: _, None -> Some { path; expected = clip (Text.format_value e); got = missing }
    | [], Some (t, vp) -> Some { path; expected = none; got = format_at s t vp }
    | e :: es, Some g ->
      match compare_item_at s path e g with
      | None -> go (i + 1) es
      | m -> m in
  go 0 es

let compare_payload ~expected payload off =
  compare_seq_at payload "" expected
    { s = payload; p = off; lim = String.length payload; elem = None; left = 0 }

let vector_result_payload ~status m =
  let path, e, g =
    match m with
    | None -> "", "", ""
    | Some m -> m.path, clip m.expected, clip m.got in
  encode_fields [ U8 status; String path; String e; String g ]

let parse_vector_result payload =
  let fs = decode_located payload in
  let field = message_field "VECTOR_RESULT" payload fs in
  match field 0 T_u8, field 1 T_string, field 2 T_string, field 3 T_string with
  | (_, U8 s), (_, String p), (_, String e), (_, String g) -> s, p, e, g
  | _ -> assert false

(* ------------------------------------------------------------------ *)
(* Request dispatch                                                    *)

type table = (string, value list) Hashtbl.t

let table_of_vectors vs =
  let t = Hashtbl.create 64 in
  List.iter (function
      | Text.Ok_vector v -> Hashtbl.replace t v.name v.values
      | _ -> ()) vs;
  t

let is_service_request ty =
  ty = Msg.echo || ty = Msg.roundtrip || ty = Msg.vector_check
  || ty = Msg.vector_get || ty = Msg.stats

(* Offsets in the errors raised here are payload offsets; the caller adds
   the 8 header bytes before sending ERROR. *)
let roundtrip_full_max = 65536

let serve table ty payload =
  if ty = Msg.echo then Msg.echo_reply, payload
  else if ty = Msg.roundtrip then
    if String.length payload <= roundtrip_full_max then
      (* Through native values and back: proves the codec, not a copy. *)
      Msg.roundtrip_reply, encode_fields (decode_fields payload)
    else begin
      (* The decoder is strict and the encoding canonical (SPEC 3.7), so
         the re-encoding of a payload that decodes is that payload (test_wire
         checks it on every vector): a large one is validated, and
         answered without its value tree (20 times the payload). *)
      validate_fields payload;
      Msg.roundtrip_reply, payload
    end
  else if ty = Msg.vector_check then begin
    let tags = field_tags ~max:2 payload in
    let name =
      match message_field_at "VECTOR_CHECK" payload tags 0 T_string with
      | _, String n -> n
      | _ -> assert false in
    match Hashtbl.find_opt table name with
    | None -> Msg.vector_result, vector_result_payload ~status:status_unknown None
    | Some expected ->
      (* Equal values have equal encodings (one value, one encoding):
         only a mismatch needs the decoded values, to say where. *)
      let rest = match tags with [ _; (p, _) ] -> p | _ -> String.length payload in
      match compare_payload ~expected payload rest with
      | None -> Msg.vector_result, vector_result_payload ~status:status_match None
      | m -> Msg.vector_result, vector_result_payload ~status:status_mismatch m
  end
  else if ty = Msg.vector_get then begin
    let located = field_tags ~max:2 payload in
    let name =
      match message_field_at "VECTOR_GET" payload located 0 T_string with
      | _, String n -> n
      | _ -> assert false in
    (match List.nth_opt located 1 with
     | Some (p, _) -> fail ~offset:p MESSAGE "VECTOR_GET: more than 1 field"
     | None -> ());
    match Hashtbl.find_opt table name with
    | None -> Msg.vector_result, vector_result_payload ~status:status_unknown None
    | Some values -> Msg.vector_data, encode_fields (String name :: values)
  end
  else if ty = Msg.stats then Msg.stats_reply, encode_fields (stats_reply_of_request payload)
  else invalid_arg ("Wire.Interop.serve: not a service request: " ^ Msg.name ty)
