(* Interop service logic (SPEC 10.1-10.6), independent of sockets so the
   tests can drive it directly. *)

open Wire

(* ------------------------------------------------------------------ *)
(* CRC-32 (IEEE 802.3 / zlib, reflected 0xEDB88320)                    *)

let crc_table =
  Array.init 256 (fun n ->
      let c = ref n in
      for _ = 1 to 8 do
        c := if !c land 1 = 1 then 0xEDB88320 lxor (!c lsr 1) else !c lsr 1
      done;
      !c)

let crc32 s =
  let c = ref 0xFFFF_FFFF in
  String.iter (fun ch ->
      c := crc_table.((!c lxor Char.code ch) land 0xFF) lxor (!c lsr 8)) s;
  !c lxor 0xFFFF_FFFF

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

let stats_of_fields located payload =
  let field = message_field "STATS" payload located in
  (* A list of the wrong element type is a value not allowed: MESSAGE at
     the value's first byte, the element tag right after the list tag
     (SPEC 7.2). *)
  let ints =
    match field 0 T_list with
    | _, List (T_i64, vs) -> List.map (function I64 x -> x | _ -> assert false) vs
    | p, _ -> fail ~offset:(p + 1) MESSAGE "STATS: field 0 must be list:i64" in
  let floats =
    match field 1 T_list with
    | _, List (T_f64, vs) -> List.map (function F64 x -> x | _ -> assert false) vs
    | p, _ -> fail ~offset:(p + 1) MESSAGE "STATS: field 1 must be list:f64" in
  let data = match field 2 T_bytes with _, Bytes b -> b | _ -> assert false in
  (match List.nth_opt located 3 with
   | Some (p, _) -> fail ~offset:p MESSAGE "STATS: more than 3 fields"
   | None -> ());
  stats ints floats data

let stats_reply_of_request payload = stats_of_fields (decode_located payload) payload

(* ------------------------------------------------------------------ *)
(* VECTOR_CHECK comparison                                             *)

type mismatch = { path : string; expected : string; got : string }

let missing = "(missing)"
let none = "(none)"

let rec compare_item path e g =
  match e, g with
  | List (t, es), List (u, gs) when t = u -> compare_seq path es gs
  | Group es, Group gs -> compare_seq path es gs
  | _ ->
    if equal_value e g then None
    else Some { path; expected = Wire_text.format_value e; got = Wire_text.format_value g }

(* Indices are appended per level: "3", then "3.0", "3.0.5". *)
and compare_seq prefix es gs =
  let rec go i es gs =
    let path = if prefix = "" then string_of_int i else prefix ^ "." ^ string_of_int i in
    match es, gs with
    | [], [] -> None
    | e :: _, [] -> Some { path; expected = Wire_text.format_value e; got = missing }
    | [], g :: _ -> Some { path; expected = none; got = Wire_text.format_value g }
    | e :: es, g :: gs ->
      match compare_item path e g with
      | None -> go (i + 1) es gs
      | m -> m in
  go 0 es gs

let compare_fields ~expected ~got = compare_seq "" expected got

let status_match = 0
let status_mismatch = 1
let status_unknown = 2
let max_shown = 4096

(* Keeps VECTOR_RESULT small whatever the vector: notation is ASCII. *)
let clip s =
  if String.length s <= max_shown then s else String.sub s 0 (max_shown - 3) ^ "..."

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
      | Wire_text.Ok_vector v -> Hashtbl.replace t v.name v.values
      | _ -> ()) vs;
  t

let is_service_request ty =
  ty = Msg.echo || ty = Msg.roundtrip || ty = Msg.vector_check
  || ty = Msg.vector_get || ty = Msg.stats

let name_field what payload located =
  match message_field what payload located 0 T_string with
  | _, String n -> n
  | _ -> assert false

(* Offsets in the errors raised here are payload offsets; the caller adds
   the 8 header bytes before sending ERROR. *)
let serve table ty payload =
  if ty = Msg.echo then Msg.echo_reply, payload
  else if ty = Msg.roundtrip then
    (* Through native values and back: proves the codec, not a copy. *)
    Msg.roundtrip_reply, encode_fields (decode_fields payload)
  else if ty = Msg.vector_check then begin
    let located = decode_located payload in
    let name = name_field "VECTOR_CHECK" payload located in
    let got = List.map snd (List.tl located) in
    match Hashtbl.find_opt table name with
    | None -> Msg.vector_result, vector_result_payload ~status:status_unknown None
    | Some expected ->
      match compare_fields ~expected ~got with
      | None -> Msg.vector_result, vector_result_payload ~status:status_match None
      | m -> Msg.vector_result, vector_result_payload ~status:status_mismatch m
  end
  else if ty = Msg.vector_get then begin
    let located = decode_located payload in
    let name = name_field "VECTOR_GET" payload located in
    (match List.nth_opt located 1 with
     | Some (p, _) -> fail ~offset:p MESSAGE "VECTOR_GET: more than 1 field"
     | None -> ());
    match Hashtbl.find_opt table name with
    | None -> Msg.vector_result, vector_result_payload ~status:status_unknown None
    | Some values -> Msg.vector_data, encode_fields (String name :: values)
  end
  else if ty = Msg.stats then Msg.stats_reply, encode_fields (stats_reply_of_request payload)
  else invalid_arg ("Wire_interop.serve: not a service request: " ^ Msg.name ty)
