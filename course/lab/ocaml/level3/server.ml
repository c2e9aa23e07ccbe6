(* SPDX-License-Identifier: MIT *)
(* server.ml -- a wire server in OCaml, written level by level (the lab in course/).

   Build: ocamlopt -I +unix -I +threads unix.cmxa threads.cmxa server.ml -o server
   Run:   ./server [--port P] [--vectors FILE]      (prints its port, then serves 127.0.0.1:P)
   Grade: wire-conform server --level N 127.0.0.1 P

   Only the standard library, unix and threads. The protocol is SPEC.md; the sections are named
   where each piece is built. The configuration is proto/sessions.txt's config line: max payload
   1048576, idle timeout 2 s, frame timeout 1 s.

   Why Int32/Int64 in places: OCaml's int is 63 bits (one bit is the garbage collector's tag,
   SPEC 13.2), so u8..u32 and i8..i32 fit in an int, but u64 and i64 need Int64.t, and a float is
   kept as the bits of its IEEE pattern (Int32.t for f32, Int64.t for f64) so that every bit,
   NaN payloads included, survives (SPEC 13.3). *)

(* ---------- constants (SPEC 6, 7.1, 9.3) ---------- *)

let max_payload = 1048576 (* the largest payload we accept, announced in our HELLO *)
let idle_timeout = 2.0 (* seconds without a complete frame *)
let frame_timeout = 1.0 (* seconds for a frame to arrive whole once it has started *)
let server_name = "ocaml-lab-server"
let no_offset = 0xFFFF_FFFF (* the ERROR offset when there is none (TIMEOUT, TOOBIG of a reply) *)

(* error codes (SPEC 6, proto/errors.txt) *)
let e_truncated = 1
let e_badtag = 2
let e_badbool = 4
let e_utf8 = 5
let e_length = 6
let e_depth = 7
let e_toobig = 8
let e_version = 10
let e_header = 11
let e_unexpected = 12
let e_message = 13
let e_timeout = 17

let error_text code =
  match code with
  | 1 -> "value runs past the end of the data"
  | 2 -> "unknown type tag"
  | 4 -> "bool byte is neither 0 nor 1"
  | 5 -> "string is not valid UTF-8"
  | 6 -> "length or count larger than the bytes that remain"
  | 7 -> "nesting deeper than 32 levels"
  | 8 -> "frame payload larger than the receiver's limit"
  | 10 -> "unsupported protocol version"
  | 11 -> "malformed frame header"
  | 12 -> "message type not expected here"
  | 13 -> "message fields do not match its definition"
  | 17 -> "operation timed out"
  | _ -> "error"

(* Something the peer did wrong: the ERROR code and its offset in the frame (SPEC 5.1). *)
exception Wire_error of int * int

(* A decoding failure: the code and the offset in the payload (8 is added for the ERROR). *)
exception Decode_error of int * int

exception Timeout

(* ---------- reading and writing a socket (SPEC 13.5) ---------- *)

(* Wait until [fd] has something to read, or raise Timeout when [deadline] passes. A blocking
   read would wait forever for a peer that sends nothing, and an iterative server would then serve
   nobody else: every read waits here first (the timeouts of SPEC 9.3, explained at level 5).
   select only takes descriptors below FD_SETSIZE (1024): enough for a lab. *)
let wait_readable fd deadline =
  let rec wait () =
    let left = deadline -. Unix.gettimeofday () in
    if left <= 0.0 then raise Timeout;
    match Unix.select [ fd ] [] [] left with
    | [], _, _ -> wait () (* woke up early: look at the clock again *)
    | _ -> ()
    | exception Unix.Unix_error (Unix.EINTR, _, _) -> wait ()
  in
  wait ()

(* Read exactly [len] bytes into [buf] at [off]. One read returns whatever has arrived, maybe
   less than asked (TCP is a byte stream, SPEC 13.4): loop until we have them all. *)
let read_exact fd buf off len deadline =
  let got = ref 0 in
  while !got < len do
    wait_readable fd deadline;
    match Unix.read fd buf (off + !got) (len - !got) with
    | 0 -> raise End_of_file (* the peer closed *)
    | n -> got := !got + n
    | exception Unix.Unix_error (Unix.EINTR, _, _) -> () (* a signal: just read again *)
  done

(* Write all of [buf]. *)
let write_all fd buf =
  (* A write may take only part of the buffer (Unix.single_write takes at most 64 KiB at a time):
     loop until every byte is out, as C's writen does (SPEC 13.5). *)
  let sent = ref 0 in
  while !sent < Bytes.length buf do
    match Unix.single_write fd buf !sent (Bytes.length buf - !sent) with
    | n -> sent := !sent + n
    | exception Unix.Unix_error (Unix.EINTR, _, _) -> ()
  done

(* ---------- frames (SPEC 2) ---------- *)

(* A u32 from 4 big-endian bytes. Bytes.get_int32_be gives a signed Int32; on a 64-bit OCaml the
   int holds all 32 bits, so masking gives back the unsigned value. *)
let get_u32 b pos = Int32.to_int (Bytes.get_int32_be b pos) land 0xFFFF_FFFF

(* A frame: the 8-byte header (version 1, flags 0, u16 type, u32 length), then the payload. *)
let frame typ payload =
  let len = Bytes.length payload in
  let f = Bytes.create (8 + len) in
  Bytes.set_uint8 f 0 1;
  Bytes.set_uint8 f 1 0;
  Bytes.set_uint16_be f 2 typ;
  Bytes.set_int32_be f 4 (Int32.of_int len);
  Bytes.blit payload 0 f 8 len;
  f

(* Check a header in the order of SPEC 2.3, stopping at the first failure; return type and
   length. The length is checked against [limit] before any payload byte is read or allocated
   (2.4). *)
let check_header limit h =
  if Bytes.get_uint8 h 0 <> 1 then raise (Wire_error (e_version, 0));
  if Bytes.get_uint8 h 1 <> 0 then raise (Wire_error (e_header, 1));
  let typ = Bytes.get_uint16_be h 2 in
  if typ = 0 then raise (Wire_error (e_header, 2));
  let len = get_u32 h 4 in
  if len > limit then raise (Wire_error (e_toobig, 4));
  (typ, len)

(* ---------- typed fields: the values (SPEC 3) ---------- *)

type value =
  | U8 of int
  | U16 of int
  | U32 of int
  | U64 of int64 (* the 64 bits, read as unsigned when printed *)
  | I8 of int
  | I16 of int
  | I32 of int
  | I64 of int64
  | F32 of int32 (* the IEEE bit pattern, never converted to a float *)
  | F64 of int64 (* idem *)
  | Bool of bool
  | Str of string (* UTF-8, checked *)
  | Bin of string (* bytes: any octets *)
  | List of int * value list (* element tag, elements *)
  | Group of value list

(* The size of a fixed-size value, by tag; 0 for the others (SPEC 3.2). *)
let fixed_size tag =
  match tag with
  | 0x01 | 0x11 | 0x30 -> 1
  | 0x02 | 0x12 -> 2
  | 0x03 | 0x13 | 0x23 -> 4
  | 0x04 | 0x14 | 0x24 -> 8
  | _ -> 0

let known_tag tag = fixed_size tag > 0 || tag = 0x40 || tag = 0x41 || tag = 0x50 || tag = 0x51

(* The fewest bytes a value of this tag takes: what the list count check divides by (5.4). *)
let min_size tag = match tag with 0x40 | 0x41 | 0x51 -> 4 | 0x50 -> 5 | t -> fixed_size t

(* ---------- decoding (SPEC 4, 5) ---------- *)

(* Given from level 1 on, because HELLO's fields need it: scalars, strings and bytes. Level 4
   adds lists and groups, and with them the DEPTH limit. *)

(* Well-formed UTF-8 (SPEC 4): the error is at the lead byte of the bad sequence. *)
let check_utf8 b start len =
  let stop = start + len in
  let in_range i lo hi = i < stop && Bytes.get_uint8 b i >= lo && Bytes.get_uint8 b i <= hi in
  let i = ref start in
  while !i < stop do
    let c = Bytes.get_uint8 b !i in
    (* the sequence's length and the range allowed for its second byte (Table 3-7) *)
    let n, lo, hi =
      if c < 0x80 then (1, 0, 0)
      else if c >= 0xC2 && c <= 0xDF then (2, 0x80, 0xBF)
      else if c = 0xE0 then (3, 0xA0, 0xBF) (* no overlong forms *)
      else if c = 0xED then (3, 0x80, 0x9F) (* no surrogates *)
      else if c >= 0xE1 && c <= 0xEF then (3, 0x80, 0xBF)
      else if c = 0xF0 then (4, 0x90, 0xBF)
      else if c >= 0xF1 && c <= 0xF3 then (4, 0x80, 0xBF)
      else if c = 0xF4 then (4, 0x80, 0x8F) (* nothing above U+10FFFF *)
      else raise (Decode_error (e_utf8, !i))
    in
    if n > 1 && not (in_range (!i + 1) lo hi) then raise (Decode_error (e_utf8, !i));
    for k = 2 to n - 1 do
      if not (in_range (!i + k) 0x80 0xBF) then raise (Decode_error (e_utf8, !i))
    done;
    i := !i + n
  done

(* A u32 length word at [pos] that must fit before [stop] (TRUNCATED, LENGTH: SPEC 5.3). *)
let read_length b pos stop =
  if stop - pos < 4 then raise (Decode_error (e_truncated, pos));
  let n = get_u32 b pos in
  if n > stop - pos - 4 then raise (Decode_error (e_length, pos));
  n

(* The fields in [pos, stop), as (payload offset of the tag, value): the walk of SPEC 5.2. [depth]
   is the depth of the enclosing container (the payload is 0). *)
let rec decode_fields b pos stop depth =
  if pos >= stop then []
  else begin
    let tag = Bytes.get_uint8 b pos in
    if not (known_tag tag) then raise (Decode_error (e_badtag, pos));
    if (tag = 0x50 || tag = 0x51) && depth + 1 > 32 then raise (Decode_error (e_depth, pos));
    let v, next = decode_value b (pos + 1) stop tag (depth + 1) in
    (pos, v) :: decode_fields b next stop depth
  end

(* One value of type [tag] at [pos]: the value and where the next thing starts. [d] is its depth
   if it is a container. The byte order is big-endian: the _be functions (SPEC 13.1). *)
and decode_value b pos stop tag d =
  let size = fixed_size tag in
  if size > 0 then begin
    if stop - pos < size then raise (Decode_error (e_truncated, pos));
    let v =
      match tag with
      | 0x01 -> U8 (Bytes.get_uint8 b pos)
      | 0x02 -> U16 (Bytes.get_uint16_be b pos)
      | 0x03 -> U32 (get_u32 b pos)
      | 0x04 -> U64 (Bytes.get_int64_be b pos)
      | 0x11 -> I8 (Bytes.get_int8 b pos)
      | 0x12 -> I16 (Bytes.get_int16_be b pos)
      | 0x13 -> I32 (Int32.to_int (Bytes.get_int32_be b pos))
      | 0x14 -> I64 (Bytes.get_int64_be b pos)
      | 0x23 -> F32 (Bytes.get_int32_be b pos)
      | 0x24 -> F64 (Bytes.get_int64_be b pos)
      | _ (* 0x30 bool *) -> (
          match Bytes.get_uint8 b pos with
          | 0 -> Bool false
          | 1 -> Bool true
          | _ -> raise (Decode_error (e_badbool, pos)))
    in
    (v, pos + size)
  end
  else
    match tag with
    | 0x40 (* string *) ->
        let n = read_length b pos stop in
        check_utf8 b (pos + 4) n;
        (Str (Bytes.sub_string b (pos + 4) n), pos + 4 + n)
    | 0x41 (* bytes *) ->
        let n = read_length b pos stop in
        (Bin (Bytes.sub_string b (pos + 4) n), pos + 4 + n)
    | _ ->
        (* TODO level 4: decode lists and groups (SPEC 3.4-3.6, 5.2); this stub refuses them. *)
        ignore d;
        raise (Decode_error (e_badtag, pos - 1))

(* Decode a whole payload; an error becomes the ERROR's code at 8 + payload offset (5.1). *)
let decode_payload payload =
  try decode_fields payload 0 (Bytes.length payload) 0
  with Decode_error (code, off) -> raise (Wire_error (code, 8 + off))

(* Checking fields against a message's definition (SPEC 7.2): the next field, or MESSAGE at
   8 + payload length where the missing field would start. *)
let next_field payload fields =
  match fields with
  | [] -> raise (Wire_error (e_message, 8 + Bytes.length payload))
  | f :: rest -> (f, rest)

(* MESSAGE at a field's tag byte (wrong type) or at its value's first byte (value not allowed). *)
let wrong_type off = raise (Wire_error (e_message, 8 + off))
let wrong_value off = raise (Wire_error (e_message, 8 + off + 1))

(* ---------- encoding (SPEC 3) ---------- *)

let add_u32 buf n = Buffer.add_int32_be buf (Int32.of_int n) (* keeps the low 32 bits *)

(* HELLO and ERROR payloads, built field by field: a tag, then the value in network order. *)
let hello_payload () =
  let b = Buffer.create 32 in
  Buffer.add_uint8 b 0x02;
  Buffer.add_uint16_be b 1 (* u16 version *);
  Buffer.add_uint8 b 0x03;
  add_u32 b max_payload (* u32 max_payload *);
  Buffer.add_uint8 b 0x40;
  add_u32 b (String.length server_name);
  Buffer.add_string b server_name (* string name *);
  Buffer.to_bytes b

let error_payload code offset =
  let text = error_text code in
  let b = Buffer.create 64 in
  Buffer.add_uint8 b 0x02;
  Buffer.add_uint16_be b code;
  Buffer.add_uint8 b 0x03;
  add_u32 b offset;
  Buffer.add_uint8 b 0x40;
  add_u32 b (String.length text);
  Buffer.add_string b text;
  Buffer.to_bytes b

let tag_of v =
  match v with
  | U8 _ -> 0x01
  | U16 _ -> 0x02
  | U32 _ -> 0x03
  | U64 _ -> 0x04
  | I8 _ -> 0x11
  | I16 _ -> 0x12
  | I32 _ -> 0x13
  | I64 _ -> 0x14
  | F32 _ -> 0x23
  | F64 _ -> 0x24
  | Bool _ -> 0x30
  | Str _ -> 0x40
  | Bin _ -> 0x41
  | List _ -> 0x50
  | Group _ -> 0x51

(* A value without its tag (a list element); put_field writes a field (tag + value). *)
let rec put_value buf v =
  match v with
  | U8 _ | U16 _ | U32 _ | U64 _ | I8 _ | I16 _ | I32 _ | I64 _ | F32 _ | F64 _ | Bool _ | Str _ | Bin _ ->
      () (* TODO level 3: write each value in network byte order (SPEC 3.2, 3.3, 13.1). *)
  | List _ | Group _ -> () (* TODO level 4: encode lists and groups (SPEC 3.4, 3.5). *)

and put_field buf v =
  Buffer.add_uint8 buf (tag_of v);
  put_value buf v

let encode fields =
  let buf = Buffer.create 256 in
  List.iter (put_field buf) fields;
  Buffer.to_bytes buf

(* ---------- the value notation and proto/vectors.txt (SPEC 10.7, 10.8): given code ---------- *)

let tag_names =
  [ ("u8", 0x01); ("u16", 0x02); ("u32", 0x03); ("u64", 0x04); ("i8", 0x11); ("i16", 0x12);
    ("i32", 0x13); ("i64", 0x14); ("f32", 0x23); ("f64", 0x24); ("bool", 0x30);
    ("string", 0x40); ("bytes", 0x41); ("list", 0x50); ("group", 0x51) ]

let tag_name tag = fst (List.find (fun (_, t) -> t = tag) tag_names)

let to_hex s = String.concat "" (List.map (fun c -> Printf.sprintf "%02x" (Char.code c)) (List.of_seq (String.to_seq s)))

(* "6869" -> "hi"; "ab*3" -> "\xab\xab\xab" *)
let of_hex tok =
  let hex, times =
    match String.index_opt tok '*' with
    | None -> (tok, 1)
    | Some i -> (String.sub tok 0 i, int_of_string (String.sub tok (i + 1) (String.length tok - i - 1)))
  in
  let one = String.init (String.length hex / 2) (fun i -> Char.chr (int_of_string ("0x" ^ String.sub hex (2 * i) 2))) in
  String.concat "" (List.init times (fun _ -> one))

(* A value in the notation, as VECTOR_RESULT shows it: u32:7, list:u8 [ u8:1 ], group { }. *)
let rec notation v =
  match v with
  | U8 n -> Printf.sprintf "u8:%d" n
  | U16 n -> Printf.sprintf "u16:%d" n
  | U32 n -> Printf.sprintf "u32:%d" n
  | U64 n -> Printf.sprintf "u64:%Lu" n
  | I8 n -> Printf.sprintf "i8:%d" n
  | I16 n -> Printf.sprintf "i16:%d" n
  | I32 n -> Printf.sprintf "i32:%d" n
  | I64 n -> Printf.sprintf "i64:%Ld" n
  | F32 n -> Printf.sprintf "f32:0x%08lx" n
  | F64 n -> Printf.sprintf "f64:0x%016Lx" n
  | Bool x -> if x then "bool:true" else "bool:false"
  | Str s -> "string:" ^ short_hex s
  | Bin s -> "bytes:" ^ short_hex s
  | List (e, vs) -> "list:" ^ tag_name e ^ " [ " ^ String.concat "" (List.map (fun v -> notation v ^ " ") vs) ^ "]"
  | Group vs -> "group { " ^ String.concat "" (List.map (fun v -> notation v ^ " ") vs) ^ "}"

(* long contents are cut, as SPEC 10.4 allows: the text is for humans *)
and short_hex s =
  if String.length s <= 48 then to_hex s
  else to_hex (String.sub s 0 48) ^ Printf.sprintf "...(%d bytes)" (String.length s)

(* Parse tokens into values until a closing bracket or the end: the tokens left over. *)
let rec parse_values toks =
  match toks with
  | [] | ("]" | "}") :: _ -> ([], toks)
  | tok :: rest ->
      let v, rest = parse_value tok rest in
      let vs, rest = parse_values rest in
      (v :: vs, rest)

and parse_value tok rest =
  let closing want rest = match rest with t :: r when t = want -> r | _ -> failwith ("expected " ^ want) in
  if tok = "group" then begin
    let vs, rest = parse_values (closing "{" rest) in
    (Group vs, closing "}" rest)
  end
  else begin
    let i = String.index tok ':' in
    let kind = String.sub tok 0 i and arg = String.sub tok (i + 1) (String.length tok - i - 1) in
    match kind with
    | "list" ->
        let vs, rest = parse_values (closing "[" rest) in
        (List (List.assoc arg tag_names, vs), closing "]" rest)
    | "u8" -> (U8 (int_of_string arg), rest)
    | "u16" -> (U16 (int_of_string arg), rest)
    | "u32" -> (U32 (int_of_string arg), rest)
    | "u64" -> (U64 (Int64.of_string ("0u" ^ arg)), rest) (* 0u: unsigned decimal *)
    | "i8" -> (I8 (int_of_string arg), rest)
    | "i16" -> (I16 (int_of_string arg), rest)
    | "i32" -> (I32 (int_of_string arg), rest)
    | "i64" -> (I64 (Int64.of_string arg), rest)
    | "f32" -> (F32 (Int32.of_string arg), rest) (* 0x...: the bits *)
    | "f64" -> (F64 (Int64.of_string arg), rest)
    | "bool" -> (Bool (arg = "true"), rest)
    | "string" -> (Str (of_hex arg), rest)
    | "bytes" -> (Bin (of_hex arg), rest)
    | _ -> failwith ("unknown value " ^ tok)
  end

(* name -> fields, for the ok vectors only (SPEC 10.4: the others are unknown names) *)
let vectors : (string, value list) Hashtbl.t = Hashtbl.create 256

let split_on_bar line =
  (* the separator is " | "; "|" appears nowhere else (10.8) *)
  List.map String.trim (String.split_on_char '|' line)

let words s = List.filter (fun w -> w <> "") (String.split_on_char ' ' s)

let load_vectors path =
  let ic = open_in path in
  (try
     while true do
       let line = input_line ic in
       match split_on_bar line with
       | head :: fields :: _ -> (
           match words head with
           | [ "ok"; name ] -> Hashtbl.replace vectors name (fst (parse_values (words fields)))
           | _ -> ())
       | _ -> ()
     done
   with End_of_file -> ());
  close_in ic

(* --vectors, else $WIRE_PROTO_DIR/vectors.txt, else proto/vectors.txt here or in a parent. *)
let find_vectors given =
  let rec up dir =
    let p = Filename.concat (Filename.concat dir "proto") "vectors.txt" in
    if Sys.file_exists p then Some p
    else
      let parent = Filename.dirname dir in
      if parent = dir then None else up parent
  in
  match given with
  | Some p -> Some p
  | None -> (
      match Sys.getenv_opt "WIRE_PROTO_DIR" with
      | Some d when Sys.file_exists (Filename.concat d "vectors.txt") -> Some (Filename.concat d "vectors.txt")
      | _ -> up (Sys.getcwd ()))

(* ---------- the interop service (SPEC 10): a request payload -> the reply's type and payload ---------- *)



(* The requests we serve, by type: decided from the header alone (SPEC 8.3 step 3). *)
let service typ : (bytes -> int * bytes) option =
  match typ with
  | 0x0003 (* PING -> PONG, the same payload *) -> Some (fun p -> (0x0004, p))
  | 0x0100 (* ECHO -> ECHO_REPLY, the same payload *) -> Some (fun p -> (0x0101, p))
  (* TODO level 3: serve ROUNDTRIP (0x0102), VECTOR_CHECK (0x0104), VECTOR_GET (0x0106) here. *)
  (* TODO level 4: serve STATS (0x0108) here. *)
  | _ -> None

(* ---------- one connection (SPEC 8) ---------- *)

type conn = {
  fd : Unix.file_descr;
  mutable peer_max : int; (* the max payload the client announced in its HELLO *)
  mutable hello_done : bool;
  mutable last_frame : float; (* when the last complete frame arrived (or accept): idle timeout *)
}

(* Send a reply, unless it is larger than what the client said it accepts (10.1). *)
let reply c (typ, payload) =
  if Bytes.length payload > c.peer_max then raise (Wire_error (e_toobig, no_offset));
  write_all c.fd (frame typ payload)

(* The graceful close (SPEC 8.4): FIN after our last frame, then read and discard what the peer
   still sends, for a second at most, so that close() does not send an RST that would destroy
   our last frame before the peer reads it. *)
let close_gracefully fd =
  (try Unix.shutdown fd Unix.SHUTDOWN_SEND with Unix.Unix_error _ -> ());
  let scratch = Bytes.create 4096 in
  let deadline = Unix.gettimeofday () +. 1.0 in
  let rec drain () =
    let left = deadline -. Unix.gettimeofday () in
    if left > 0.0 then
      match Unix.select [ fd ] [] [] left with
      | [], _, _ -> ()
      | _ -> if Unix.read fd scratch 0 (Bytes.length scratch) > 0 then drain ()
      | exception Unix.Unix_error (Unix.EINTR, _, _) -> drain ()
  in
  (try drain () with Unix.Unix_error _ -> ());
  Unix.close fd

(* HELLO (7.3): u16 version 1, u32 max_payload >= 1037, string name <= 255 bytes; extra
   fields are ignored (7.2). The version is judged first: another version may differ after it. *)
let hello c payload =
  let fields = decode_payload payload in
  let (o, f), rest = next_field payload fields in
  (match f with U16 1 -> () | U16 _ -> raise (Wire_error (e_version, 8 + o + 1)) | _ -> wrong_type o);
  let (o, f), rest = next_field payload rest in
  (match f with U32 n when n >= 1037 -> c.peer_max <- n | U32 _ -> wrong_value o | _ -> wrong_type o);
  let (o, f), _ = next_field payload rest in
  (match f with Str s when String.length s <= 255 -> () | Str _ -> wrong_value o | _ -> wrong_type o);
  c.hello_done <- true;
  reply c (0x0001, hello_payload ())

(* Serve frames until the connection ends; the caller closes it. *)
let serve c =
  let finished = ref false in
  while not !finished do
    let h = Bytes.create 8 in
    (* the idle timeout runs until a frame's first byte, then the frame timeout (9.3) *)
    read_exact c.fd h 0 1 (c.last_frame +. idle_timeout);
    let deadline = Unix.gettimeofday () +. frame_timeout in
    read_exact c.fd h 1 7 deadline;
    let typ, len = check_header max_payload h in
    let read_payload () =
      let p = Bytes.create len in
      read_exact c.fd p 0 len deadline;
      c.last_frame <- Unix.gettimeofday ();
      p
    in
    (* What may come now (8.3, 8.6) is decided from the header, before reading the payload,
       which may be long or never come. *)
    if typ = 0x0002 then finished := true (* ERROR: the connection is over, never answer it *)
    else if not c.hello_done then begin
      if typ <> 0x0001 then raise (Wire_error (e_unexpected, 2));
      hello c (read_payload ())
    end
    else if typ = 0x0005 then begin
      (* BYE: decode it (it must be valid fields), answer BYE, and stop: what follows is dropped *)
      ignore (decode_payload (read_payload ()));
      reply c (0x0005, Bytes.empty);
      finished := true
    end
    else
      match service typ with
      | Some handle -> reply c (handle (read_payload ()))
      | None -> raise (Wire_error (e_unexpected, 2))
  done

let serve_client fd =
  let c = { fd; peer_max = 1037; hello_done = false; last_frame = Unix.gettimeofday () } in
  let send_error code off = try write_all fd (frame 0x0002 (error_payload code off)) with Unix.Unix_error _ -> () in
  let why =
    try
      serve c;
      "BYE or ERROR"
    with
    | Wire_error (code, off) ->
        send_error code off;
        Printf.sprintf "sent ERROR %d at %d" code off
    | End_of_file -> "EOF"
    | Timeout ->
        (* TODO level 5: send ERROR(TIMEOUT, 0xFFFFFFFF) before closing (SPEC 9.3). *)
        "timeout"
    | Unix.Unix_error (e, _, _) -> Unix.error_message e
    | Failure why -> why
  in
  close_gracefully fd;
  Printf.eprintf "server: connection closed: %s\n%!" why


(* TODO level 6: check the datagram as SPEC 15.3 says, then answer it as over TCP (15.5). *)
let udp_answer d n =
  if n < 4 then None else Some (Bytes.cat (Bytes.sub d 0 4) (frame 0x0002 (error_payload e_unexpected 2)))


(* ---------- the listening socket and the accept loop ---------- *)

let open_listener port =
  let s = Unix.socket Unix.PF_INET Unix.SOCK_STREAM 0 in
  Unix.setsockopt s Unix.SO_REUSEADDR true (* restart at once, without waiting for TIME_WAIT *);
  Unix.bind s (Unix.ADDR_INET (Unix.inet_addr_loopback, port));
  Unix.listen s 64;
  s

let port_of s = match Unix.getsockname s with Unix.ADDR_INET (_, p) -> p | _ -> 0


let rec accept_loop listener =
  (match Unix.accept listener with
  | fd, _ ->
      (* TODO level 5: serve each client in its own Thread; this iterative server serves one at a time. *)
      serve_client fd
  | exception Unix.Unix_error ((Unix.EINTR | Unix.ECONNABORTED), _, _) -> ()
  | exception Unix.Unix_error (e, _, _) ->
      (* out of descriptors, for example: do not spin *)
      Printf.eprintf "server: accept: %s\n%!" (Unix.error_message e);
      Unix.sleepf 0.1);
  accept_loop listener

let () =
  let port = ref 0 and vectors_file = ref None in
  let usage () =
    prerr_endline "usage: server [--port P] [--vectors FILE]";
    exit 2
  in
  let rec options = function
    | "--port" :: p :: rest -> (
        match int_of_string_opt p with
        | Some n when n >= 0 && n <= 65535 ->
            port := n;
            options rest
        | _ -> usage ())
    | "--vectors" :: f :: rest ->
        vectors_file := Some f;
        options rest
    | [] -> ()
    | _ -> usage ()
  in
  options (List.tl (Array.to_list Sys.argv));
  ignore !vectors_file;
  (match find_vectors !vectors_file with
  | Some path -> load_vectors path
  | None ->
      prerr_endline "server: cannot find proto/vectors.txt (use --vectors FILE)";
      exit 2);
  (* a client that leaves must not kill us: a write then fails with EPIPE (13.5) *)
  Sys.set_signal Sys.sigpipe Sys.Signal_ignore;
  let stop = Sys.Signal_handle (fun _ -> exit 0) in
  Sys.set_signal Sys.sigterm stop;
  Sys.set_signal Sys.sigint stop;
  let listener = open_listener !port in
  (* the first line of stdout is the port: how a script learns it with --port 0 *)
  Printf.printf "%d\n%!" (port_of listener);
  accept_loop listener
