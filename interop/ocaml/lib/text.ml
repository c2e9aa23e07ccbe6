(* SPDX-License-Identifier: MIT *)
(* The proto/ text formats: hex with repetition, the value notation,
   vectors.txt, stats.txt and errors.txt. *)

open Core

let fail_inval fmt = failf INVAL fmt

(* ------------------------------------------------------------------ *)
(* Hex                                                                 *)

let hex_digit c =
  match c with
  | '0' .. '9' -> Char.code c - 48
  | 'a' .. 'f' -> Char.code c - 87
  | 'A' .. 'F' -> Char.code c - 55
  | _ -> fail_inval "bad hex digit %C" c

let hex_decode h =
  let n = String.length h in
  if n mod 2 <> 0 then fail_inval "odd number of hex digits in %S" h;
  String.init (n / 2) (fun i ->
      Char.chr ((hex_digit h.[2 * i] lsl 4) lor hex_digit h.[(2 * i) + 1]))

let hex_encode s =
  let d = "0123456789abcdef" in
  String.init (2 * String.length s) (fun i ->
      let b = Char.code s.[i / 2] in
      d.[if i mod 2 = 0 then b lsr 4 else b land 15])

(* A token is hex digits, or <hex>*<n>: that byte string repeated n times. *)
let hex_token tok =
  match String.index_opt tok '*' with
  | None -> hex_decode tok
  | Some i ->
    let unit = hex_decode (String.sub tok 0 i) in
    let rep = String.sub tok (i + 1) (String.length tok - i - 1) in
    if not (rep <> "" && String.for_all (fun c -> c >= '0' && c <= '9') rep) then
      fail_inval "bad repetition count in %S" tok;
    let n = int_of_string rep in
    let b = Buffer.create (String.length unit * n) in
    for _ = 1 to n do Buffer.add_string b unit done;
    Buffer.contents b

let split_words s =
  String.split_on_char ' ' (String.map (fun c -> if c = '\t' then ' ' else c) s)
  |> List.filter (fun w -> w <> "")

let parse_hex s = String.concat "" (List.map hex_token (split_words s))

(* Shortest whole-string period, so long repetitive contents print as
   one <unit>*<n> token, as the notation allows. *)
let hex_compact s =
  let n = String.length s in
  let repeats p =
    let rec ok i = i >= n || (s.[i] = s.[i mod p] && ok (i + 1)) in
    ok p in
  let rec find p =
    if p > n / 2 then None
    else if n mod p = 0 && repeats p then Some p
    else find (p + 1) in
  match if n >= 8 then find 1 else None with
  | Some p -> Printf.sprintf "%s*%d" (hex_encode (String.sub s 0 p)) (n / p)
  | None -> hex_encode s

let format_hex s =
  let b = Buffer.create (3 * String.length s) in
  String.iteri (fun i c ->
      if i > 0 then Buffer.add_char b ' ';
      Buffer.add_string b (hex_encode (String.make 1 c))) s;
  Buffer.contents b

(* ------------------------------------------------------------------ *)
(* Value notation                                                      *)

let rec format_value v =
  match v with
  | U8 n -> "u8:" ^ string_of_int n
  | U16 n -> "u16:" ^ string_of_int n
  | U32 n -> "u32:" ^ string_of_int n
  | U64 x -> "u64:" ^ u64_to_string x
  | I8 n -> "i8:" ^ string_of_int n
  | I16 n -> "i16:" ^ string_of_int n
  | I32 n -> "i32:" ^ string_of_int n
  | I64 x -> Printf.sprintf "i64:%Ld" x
  | F32 x -> Printf.sprintf "f32:0x%08lx" x
  | F64 x -> Printf.sprintf "f64:0x%016Lx" (Int64.bits_of_float x)
  | Bool b -> if b then "bool:true" else "bool:false"
  | String s -> "string:" ^ hex_compact s
  | Bytes s -> "bytes:" ^ hex_compact s
  | List (t, vs) ->
    String.concat " " (("list:" ^ tag_name t) :: "[" :: List.map format_value vs @ [ "]" ])
  | Group vs -> String.concat " " (("group" :: "{" :: List.map format_value vs) @ [ "}" ])

let format_fields vs = String.concat " " (List.map format_value vs)

let fixed_hex what digits s =
  let n = String.length s in
  if n <> digits + 2 || String.sub s 0 2 <> "0x" then
    fail_inval "%s needs 0x and %d hex digits, got %S" what digits s;
  String.iter (fun c -> ignore (hex_digit c)) (String.sub s 2 digits);
  s

let parse_scalar tok =
  let i =
    match String.index_opt tok ':' with
    | Some i -> i
    | None -> fail_inval "token %S is not <type>:<value>" tok in
  let ty = String.sub tok 0 i and x = String.sub tok (i + 1) (String.length tok - i - 1) in
  let small make what = make (int_of_decimal what x) in
  match ty with
  | "u8" -> small u8 "u8"
  | "u16" -> small u16 "u16"
  | "u32" -> small u32 "u32"
  | "i8" -> small i8 "i8"
  | "i16" -> small i16 "i16"
  | "i32" -> small i32 "i32"
  | "u64" -> U64 (u64_of_string x)
  | "i64" -> I64 (i64_of_string x)
  (* Int32/Int64.of_string read 0x... as the full unsigned bit range. *)
  | "f32" -> F32 (Int32.of_string (fixed_hex "f32" 8 x))
  | "f64" -> F64 (Int64.float_of_bits (Int64.of_string (fixed_hex "f64" 16 x)))
  | "bool" ->
    (match x with
     | "true" -> Bool true
     | "false" -> Bool false
     | _ -> fail_inval "bad bool %S" tok)
  | "string" ->
    let s = if x = "" then "" else hex_token x in
    if not (utf8_valid s) then fail_inval "string %S is not valid UTF-8" tok;
    String s
  | "bytes" -> Bytes (if x = "" then "" else hex_token x)
  | _ -> fail_inval "unknown token %S" tok

(* Recursive descent over the word list; returns the rest of the words. *)
let rec parse_item words =
  match words with
  | [] -> fail_inval "value expected, end of text found"
  | "group" :: "{" :: rest ->
    let vs, rest = parse_seq "}" rest in
    Group vs, rest
  | "group" :: _ -> fail_inval "group must be followed by {"
  | w :: rest when String.length w > 5 && String.sub w 0 5 = "list:" ->
    let e =
      match tag_of_name (String.sub w 5 (String.length w - 5)) with
      | Some e -> e
      | None -> fail_inval "unknown list element type in %S" w in
    (match rest with
     | "[" :: rest ->
       let vs, rest = parse_seq "]" rest in
       List.iteri (fun i v ->
           if tag_of_value v <> e then
             fail_inval "%s element %d is %s" w i (format_value v)) vs;
       List (e, vs), rest
     | _ -> fail_inval "%s must be followed by [" w)
  | w :: rest -> parse_scalar w, rest

and parse_seq close words =
  let rec go acc words =
    match words with
    | w :: rest when w = close -> List.rev acc, rest
    | [] -> fail_inval "missing %s" close
    | _ ->
      let v, rest = parse_item words in
      go (v :: acc) rest in
  go [] words

let parse_words words =
  let rec go acc = function
    | [] -> List.rev acc
    | ws ->
      let v, rest = parse_item ws in
      go (v :: acc) rest in
  go [] words

let parse_fields s = parse_words (split_words s)

(* ------------------------------------------------------------------ *)
(* vectors.txt / stats.txt                                             *)

type vector =
  | Ok_vector of { name : string; values : value list; data : string }
  | Err_vector of { name : string; code : code; offset : int; data : string }
  | Frame_vector of { name : string; msg_type : int; values : value list; data : string }
  | Ferr_vector of { name : string; code : code; offset : int; data : string }

let vector_name = function
  | Ok_vector v -> v.name
  | Err_vector v -> v.name
  | Frame_vector v -> v.name
  | Ferr_vector v -> v.name

type stats_case = { stats_name : string; request : value list; reply : value list }

let read_lines path =
  let ic = open_in_bin path in
  Fun.protect ~finally:(fun () -> close_in ic) (fun () ->
      let rec go n acc =
        match input_line ic with
        | l -> go (n + 1) ((n, l) :: acc)
        | exception End_of_file -> List.rev acc in
      go 1 [])

let strip_cr l =
  if l <> "" && l.[String.length l - 1] = '\r' then String.sub l 0 (String.length l - 1)
  else l

let content_lines path =
  read_lines path
  |> List.map (fun (n, l) -> n, String.trim (strip_cr l))
  |> List.filter (fun (_, l) -> l <> "" && l.[0] <> '#')

let valid_name s =
  s <> ""
  && String.for_all
    (fun c -> (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c = '.' || c = '_' || c = '-')
    s

(* Errors from the line parsers get the file and line prefixed. *)
let at path n f =
  try f () with
  | Error e -> raise (Error { e with message = Printf.sprintf "%s:%d: %s" path n e.message })

let split_line l =
  (* '|' never appears elsewhere, so a plain split is exact. *)
  match String.split_on_char '|' l with
  | [ a; b; c ] -> (split_words a, String.trim b, String.trim c)
  | _ -> fail_inval "expected 3 columns separated by ' | '"

let code_offset s =
  match split_words s with
  | [ c; o ] ->
    let code =
      match code_of_name c with Some c -> c | None -> fail_inval "unknown code %S" c in
    code, int_of_decimal "offset" o
  | _ -> fail_inval "expected <CODE> <offset>, got %S" s

let parse_vector_line l =
  let head, mid, hex = split_line l in
  let kind, name =
    match head with
    | [ k; n ] -> k, n
    | _ -> fail_inval "expected <kind> <name>" in
  if not (valid_name name) then fail_inval "bad vector name %S" name;
  let data = parse_hex hex in
  match kind with
  | "ok" -> Ok_vector { name; values = parse_fields mid; data }
  | "err" ->
    let code, offset = code_offset mid in
    Err_vector { name; code; offset; data }
  | "ferr" ->
    let code, offset = code_offset mid in
    Ferr_vector { name; code; offset; data }
  | "frame" ->
    (match split_words mid with
     | t :: rest ->
       let msg_type =
         if String.length t = 6 && String.sub t 0 2 = "0x" then
           int_of_string (fixed_hex "type" 4 t)
         else fail_inval "frame type must be 0xNNNN, got %S" t in
       Frame_vector { name; msg_type; values = parse_words rest; data }
     | [] -> fail_inval "frame type missing")
  | k -> fail_inval "unknown case kind %S" k

let check_unique path names =
  let seen = Hashtbl.create 64 in
  List.iter (fun (n, name) ->
      if Hashtbl.mem seen name then
        raise (Error { code = INVAL; offset = None;
                       message = Printf.sprintf "%s:%d: duplicate name %S" path n name });
      Hashtbl.add seen name ()) names

let load_vectors path =
  let vs =
    List.map (fun (n, l) -> n, at path n (fun () -> parse_vector_line l))
      (content_lines path) in
  check_unique path (List.map (fun (n, v) -> n, vector_name v) vs);
  List.map snd vs

let parse_stats_line l =
  let head, req, rep = split_line l in
  match head with
  | [ "stats"; name ] ->
    if not (valid_name name) then fail_inval "bad case name %S" name;
    { stats_name = name; request = parse_fields req; reply = parse_fields rep }
  | _ -> fail_inval "expected stats <name>"

let load_stats path =
  let cs =
    List.map (fun (n, l) -> n, at path n (fun () -> parse_stats_line l))
      (content_lines path) in
  check_unique path (List.map (fun (n, c) -> n, c.stats_name) cs);
  List.map snd cs

let load_errors path =
  List.map (fun (n, l) ->
      at path n (fun () ->
          match String.split_on_char ' ' l with
          | num :: name :: kind :: msg ->
            let on_wire =
              match kind with
              | "wire" -> true
              | "local" -> false
              | k -> fail_inval "bad kind %S" k in
            (int_of_decimal "code" num, name, on_wire, String.concat " " msg)
          | _ -> fail_inval "bad errors.txt line"))
    (content_lines path)

(* ------------------------------------------------------------------ *)
(* control.txt, messages.txt, limits.txt                               *)

type control_message = Hello_message | Error_message

type control_test =
  | Encodes of value list
  | Decodes of value list
  | Fails of code * int
  | Refused of value list

type control_case = {
  ctl_kind : string;
  ctl_message : control_message;
  ctl_name : string;
  ctl_test : control_test;
  ctl_data : string;
}

let parse_control_line l =
  let head, mid, hex = split_line l in
  let kind, name =
    match head with
    | [ k; n ] -> k, n
    | _ -> fail_inval "expected <kind> <name>" in
  if not (valid_name name) then fail_inval "bad case name %S" name;
  let message, variant =
    match String.index_opt kind '-' with
    | None -> kind, ""
    | Some i -> String.sub kind 0 i, String.sub kind (i + 1) (String.length kind - i - 1) in
  let ctl_message =
    match message with
    | "hello" -> Hello_message
    | "error" -> Error_message
    | _ -> fail_inval "unknown case kind %S" kind in
  let ctl_test =
    match variant with
    | "" -> Encodes (parse_fields mid)
    | "decode" -> Decodes (parse_fields mid)
    | "err" -> let c, o = code_offset mid in Fails (c, o)
    | "range" -> Refused (parse_fields mid)
    | _ -> fail_inval "unknown case kind %S" kind in
  { ctl_kind = kind; ctl_message; ctl_name = name; ctl_test; ctl_data = parse_hex hex }

let load_control path =
  let cs =
    List.map (fun (n, l) -> n, at path n (fun () -> parse_control_line l))
      (content_lines path) in
  (* Unique per kind only: control.txt reuses a name across kinds
     (hello-err and hello-range name-too-long). *)
  check_unique path (List.map (fun (n, c) -> n, c.ctl_kind ^ " " ^ c.ctl_name) cs);
  List.map snd cs

let load_messages path =
  List.map (fun (n, l) ->
      at path n (fun () ->
          match String.split_on_char ' ' l with
          | t :: name :: _ when String.length t = 6 && String.sub t 0 2 = "0x" ->
            int_of_string (fixed_hex "type" 4 t), name
          | _ -> fail_inval "bad messages.txt line"))
    (content_lines path)

let load_limits path =
  List.map (fun (n, l) ->
      at path n (fun () ->
          match String.split_on_char ' ' l with
          | [ name; v ] -> name, int_of_decimal name v
          | _ -> fail_inval "bad limits.txt line"))
    (content_lines path)

(* ------------------------------------------------------------------ *)
(* Locating proto/                                                     *)

let absolute p =
  if Filename.is_relative p then Filename.concat (Sys.getcwd ()) p else p

let find_proto_dir ?(file = "vectors.txt") start =
  let rec up dir =
    let cand = Filename.concat dir "proto" in
    if Sys.file_exists (Filename.concat cand file) then Some cand
    else
      let parent = Filename.dirname dir in
      if parent = dir then None else up parent in
  up (absolute start)

let default_proto_file file =
  match Sys.getenv_opt "WIRE_PROTO_DIR" with
  | Some d when Sys.file_exists (Filename.concat d file) -> Some (Filename.concat d file)
  | _ ->
    let from_exe = Filename.dirname (absolute Sys.executable_name) in
    match find_proto_dir ~file from_exe with
    | Some d -> Some (Filename.concat d file)
    | None ->
      match find_proto_dir ~file (Sys.getcwd ()) with
      | Some d -> Some (Filename.concat d file)
      | None -> None
