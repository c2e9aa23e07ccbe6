(* SPDX-License-Identifier: MIT *)
(* Runs every session of proto/sessions.txt (format: proto/README.md
   section 8) against the OCaml server, in pure OCaml: the server is
   started with the file's config line options, each session runs on its
   own connection, several at a time (each in a forked process), and one
   line per session reports it.  Fails if any session fails or if the file
   holds fewer sessions than it did when this was written.
   Usage: sessions.exe SERVER_EXE  (dune passes it). *)

open Wire
open Harness

let server_exe = Sys.argv.(1)

(* 78 sessions today: a truncated file must not pass. *)
let min_sessions = 78

(* How many sessions run at once: enough to overlap the three ~2 s
   timeout.* sessions with the rest, few enough for a 2-core machine. *)
let parallel = 8

let expect_ms = 5000 (* an expect step's wait unless column 3 says otherwise *)
let close_ms = 2000 (* after an ERROR: how long the server may take to close *)
let hello_name = "ocaml-sessions"

(* ------------------------------------------------------------------ *)
(* The file                                                            *)

(* An expected payload's fields; [T:*] matches any value of type T. *)
type pattern =
  | Any of tag
  | Value of value
  | P_list of tag * pattern list
  | P_group of pattern list

type expected = Fields of pattern list | Exact of string

type step =
  | Hello
  | Send of int * string
  | Raw of string
  | Shutdown
  | Expect of int * expected * int
  | Expect_error of code * int option * int
  | Expect_close of int

type session = { name : string; spec : string; steps : (int * step) list }

let bad line fmt = Printf.ksprintf (fun s -> failwith (Printf.sprintf "sessions.txt:%d: %s" line s)) fmt

let split_words s = String.split_on_char ' ' s |> List.filter (( <> ) "")

let rec parse_pattern line = function
  | "group" :: "{" :: rest ->
    let ps, rest = parse_patterns line "}" rest in
    P_group ps, rest
  | w :: "[" :: rest when String.length w > 5 && String.sub w 0 5 = "list:" ->
    let e =
      match tag_of_name (String.sub w 5 (String.length w - 5)) with
      | Some e -> e
      | None -> bad line "unknown list type %S" w in
    let ps, rest = parse_patterns line "]" rest in
    P_list (e, ps), rest
  | w :: rest ->
    (match String.index_opt w ':' with
     | Some i when String.sub w (i + 1) (String.length w - i - 1) = "*" ->
       (match tag_of_name (String.sub w 0 i) with
        | Some t -> Any t, rest
        | None -> bad line "unknown type in %S" w)
     | _ ->
       match Wire.Text.parse_words [ w ] with
       | [ v ] -> Value v, rest
       | _ -> bad line "bad token %S" w)
  | [] -> bad line "value expected"

and parse_patterns line close words =
  let rec go acc = function
    | w :: rest when w = close -> List.rev acc, rest
    | [] -> bad line "missing %s" close
    | ws -> let p, rest = parse_pattern line ws in go (p :: acc) rest in
  go [] words

let parse_all_patterns line s =
  let rec go acc = function
    | [] -> List.rev acc
    | ws -> let p, rest = parse_pattern line ws in go (p :: acc) rest in
  go [] (split_words s)

let rec matches p v =
  match p, v with
  | Any t, v -> tag_of_value v = t
  | Value x, v -> equal_value x v
  | P_list (t, ps), List (u, vs) -> t = u && matches_all ps vs
  | P_group ps, Group vs -> matches_all ps vs
  | _ -> false

and matches_all ps vs =
  List.length ps = List.length vs && List.for_all2 matches ps vs

let msg_type line t =
  match Msg.of_name t with
  | Some n -> n
  | None ->
    if String.length t = 6 && String.sub t 0 2 = "0x" then
      match int_of_string_opt t with Some n when n > 0 -> n | _ -> bad line "bad type %S" t
    else bad line "unknown message type %S" t

let wait_ms line col3 default =
  if col3 = "" then default
  else match int_of_string_opt col3 with
    | Some ms when ms > 0 -> ms
    | _ -> bad line "bad wait %S (milliseconds)" col3

let parse_step line what col2 col3 =
  let kind, arg =
    match String.index_opt what ' ' with
    | Some i -> String.sub what 0 i, Some (String.trim (String.sub what i (String.length what - i)))
    | None -> what, None in
  let need_type () = match arg with Some t -> msg_type line t | None -> bad line "%s needs a type" kind in
  let payload () =
    if col2 <> "" && col3 <> "" then bad line "a payload is fields or hex, not both"
    else if col2 <> "" then encode_fields (Wire.Text.parse_fields col2)
    else Wire.Text.parse_hex col3 in
  match kind with
  | "hello" -> Hello
  | "shutdown" -> Shutdown
  | "raw" ->
    let b = Wire.Text.parse_hex col3 in
    if b = "" then bad line "raw needs bytes";
    Raw b
  | "send" -> let t = need_type () in Send (t, payload ())
  | "expect" ->
    let t = need_type () in
    if col2 <> "" && col3 <> "" then bad line "a payload is fields or hex, not both";
    let e = if col2 <> "" then Fields (parse_all_patterns line col2) else Exact (Wire.Text.parse_hex col3) in
    Expect (t, e, expect_ms)
  | "expect-error" ->
    let code =
      match Option.bind arg code_of_name with
      | Some c -> c
      | None -> bad line "expect-error needs an error name" in
    let offset =
      if col2 = "none" then None
      else match int_of_string_opt col2 with
        | Some o when o >= 0 -> Some o
        | _ -> bad line "expect-error needs an offset or none, not %S" col2 in
    Expect_error (code, offset, wait_ms line col3 expect_ms)
  | "expect-close" -> Expect_close (max close_ms (wait_ms line col3 close_ms))
  | k -> bad line "unknown step %S" k

(* Returns the config line's options and the sessions in file order. *)
let load path =
  let lines =
    let ic = open_in_bin path in
    Fun.protect ~finally:(fun () -> close_in ic) (fun () ->
        let rec go n acc =
          match input_line ic with
          | l -> go (n + 1) ((n, String.trim l) :: acc)
          | exception End_of_file -> List.rev acc in
        go 1 []) in
  let config = ref None and sessions = ref [] in
  List.iter (fun (n, l) ->
      if l <> "" && l.[0] <> '#' then
        match String.split_on_char '|' l |> List.map String.trim with
        | [ what; col2; col3 ] ->
          if what = "config" then config := Some (split_words col2)
          else if String.length what > 8 && String.sub what 0 8 = "session " then begin
            let name = String.trim (String.sub what 8 (String.length what - 8)) in
            if List.exists (fun s -> s.name = name) !sessions then bad n "duplicate session %S" name;
            sessions := { name; spec = col2; steps = [] } :: !sessions
          end
          else begin
            match !sessions with
            | s :: rest -> sessions := { s with steps = s.steps @ [ n, parse_step n what col2 col3 ] } :: rest
            | [] -> bad n "a step before the first session"
          end
        | _ -> bad n "a line has three columns separated by ' | '")
    lines;
  match !config with
  | None -> failwith "sessions.txt: no config line"
  | Some c -> c, List.rev !sessions

(* ------------------------------------------------------------------ *)
(* Running one session (in its own process)                            *)

exception Step_failed of string

let failf fmt = Printf.ksprintf (fun s -> raise (Step_failed s)) fmt

type conn = {
  fd : Unix.file_descr;
  (* What the server sent; any length is taken so that a wrong frame is
     reported as such. *)
  parser : Parser.t;
  mutable eof : bool;
  mutable reset : bool;
}

let describe_frame ty payload =
  if ty = Msg.error then
    match parse_error_message payload with
    | m ->
      Printf.sprintf "ERROR %s at %s (%S)" (code_number_name m.err_code)
        (match m.err_offset with Some o -> string_of_int o | None -> "none") m.err_text
    | exception Error _ -> "a malformed ERROR"
  else
    let n = String.length payload in
    Printf.sprintf "%s with %d bytes %s%s" (Msg.name ty) n
      (Wire.Text.hex_encode (String.sub payload 0 (min n 24))) (if n > 24 then "..." else "")

(* 1: some bytes came; 0: none within the time; -1: the stream ended. *)
let read_more c until =
  if c.eof || c.reset then -1
  else
    let buf = Bytes.create 65536 in
    let rec go () =
      let left = until -. Unix.gettimeofday () in
      if left <= 0. then 0
      else
        match Unix.select [ c.fd ] [] [] left with
        | exception Unix.Unix_error (Unix.EINTR, _, _) -> go ()
        | [], _, _ -> go ()
        | _ ->
          match Unix.read c.fd buf 0 (Bytes.length buf) with
          | 0 -> c.eof <- true; -1
          | n -> Parser.feed c.parser (Bytes.unsafe_to_string buf) 0 n; 1
          | exception Unix.Unix_error (Unix.EINTR, _, _) -> go ()
          | exception Unix.Unix_error _ -> c.reset <- true; -1 in
    go ()

let next_frame c ms =
  let until = Unix.gettimeofday () +. (float_of_int ms /. 1000.) in
  let rec go () =
    match Parser.next c.parser with
    | Parser.Frame (t, p) -> t, p
    | Parser.Failed e -> failf "the server sent a bad frame header (%s)" (string_of_error e)
    | Parser.Await ->
      match read_more c until with
      | 1 -> go ()
      | 0 ->
        failf "nothing came within %d ms%s" ms
          (if Parser.buffered c.parser > 0 then " (half a frame came)" else "")
      | _ ->
        failf "the server %s" (if c.reset then "reset the connection" else "closed the connection") in
  go ()

let expect_close c ms after =
  let until = Unix.gettimeofday () +. (float_of_int ms /. 1000.) in
  let rec go () =
    if Parser.buffered c.parser = 0 && read_more c until = 1 then go () in
  go ();
  if Parser.buffered c.parser > 0 then
    (match Parser.next c.parser with
     | Parser.Frame (t, p) -> failf "expected the server to close%s, got %s" after (describe_frame t p)
     | _ -> failf "expected the server to close%s, got bytes" after);
  if c.reset then failf "expected the server to close%s, it reset the connection (not SPEC 8.4's close)" after;
  if not c.eof then failf "expected the server to close%s, it kept the connection open %d ms" after ms

let send_frame c ty payload =
  try write_all c.fd (encode_header ~msg_type:ty ~length:(String.length payload) ^ payload)
  with Error e -> failf "sending: %s (the server closed?)" (string_of_error e)

let run_step c max_payload = function
  | Hello ->
    send_frame c Msg.hello (hello_payload ~max_payload:default_max_payload hello_name);
    let t, p = next_frame c expect_ms in
    (match t = Msg.hello, catch (fun () -> parse_hello p) with
     | true, Ok h when h.max_payload = max_payload -> ()
     | _ -> failf "expected HELLO u16:1 u32:%d string:*, got %s" max_payload (describe_frame t p))
  | Send (t, p) -> send_frame c t p
  | Raw b -> (try write_all c.fd b with Error e -> failf "sending: %s" (string_of_error e))
  | Shutdown -> Unix.shutdown c.fd Unix.SHUTDOWN_SEND
  | Expect (want, e, ms) ->
    let t, p = next_frame c ms in
    let ok =
      t = want
      && (match e with
          | Exact b -> p = b
          | Fields ps -> (match decode p with Ok vs -> matches_all ps vs | Error _ -> false)) in
    if not ok then failf "expected %s, got %s" (Msg.name want) (describe_frame t p)
  | Expect_error (code, offset, ms) ->
    let want = Printf.sprintf "ERROR %s at %s" (code_name code)
        (match offset with Some o -> string_of_int o | None -> "none") in
    let t, p = next_frame c ms in
    (match t = Msg.error, catch (fun () -> parse_error_message p) with
     | true, Ok m when m.err_code = code_number code && m.err_offset = offset -> ()
     | _ -> failf "expected %s, got %s" want (describe_frame t p));
    expect_close c close_ms (" after " ^ want)
  | Expect_close ms -> expect_close c ms ""

(* None if the session passed, else why. *)
let run_session port max_payload s =
  let fd = Unix.socket Unix.PF_INET Unix.SOCK_STREAM 0 in
  Fun.protect ~finally:(fun () -> try Unix.close fd with Unix.Unix_error _ -> ()) (fun () ->
      Unix.connect fd (Unix.ADDR_INET (Unix.inet_addr_loopback, port));
      let c = { fd; parser = Parser.create ~max_payload:(u32_max - header_size) ();
                eof = false; reset = false } in
      let rec go i = function
        | [] -> None
        | (line, st) :: rest ->
          match run_step c max_payload st with
          | () -> go (i + 1) rest
          | exception Step_failed why -> Some (Printf.sprintf "step %d (line %d): %s" i line why)
          | exception Error e -> Some (Printf.sprintf "step %d (line %d): %s" i line (string_of_error e)) in
      go 1 s.steps)

(* ------------------------------------------------------------------ *)
(* Parallel runner: a process per session, its verdict through a pipe  *)

let run_all port max_payload sessions =
  (* The slow timeout.* sessions first, so the others run beside them. *)
  let slow, quick = List.partition (fun s -> String.length s.name > 8 && String.sub s.name 0 8 = "timeout.") sessions in
  let todo = ref (slow @ quick) and running = ref [] and results = Hashtbl.create 100 in
  let start s =
    let r, w = Unix.pipe ~cloexec:true () in
    flush_all ();
    match Unix.fork () with
    | 0 ->
      Unix.close r;
      let verdict =
        match run_session port max_payload s with
        | None -> "ok"
        | Some why -> why
        | exception e -> "raised " ^ Printexc.to_string e in
      (* Well under the pipe's buffer: the write never blocks. *)
      let v = if String.length verdict > 3000 then String.sub verdict 0 3000 else verdict in
      ignore (Unix.write_substring w v 0 (String.length v));
      Unix._exit 0
    | pid -> Unix.close w; running := (pid, s, r) :: !running in
  let finish (pid, s, r) =
    let b = Buffer.create 64 and chunk = Bytes.create 4096 in
    let rec drain () =
      match Unix.read r chunk 0 4096 with
      | 0 -> ()
      | n -> Buffer.add_subbytes b chunk 0 n; drain ()
      | exception Unix.Unix_error (Unix.EINTR, _, _) -> drain () in
    drain ();
    Unix.close r;
    ignore pid;
    Hashtbl.replace results s.name (Buffer.contents b) in
  while !todo <> [] || !running <> [] do
    while List.length !running < parallel && !todo <> [] do
      start (List.hd !todo);
      todo := List.tl !todo
    done;
    match Unix.wait () with
    | pid, _ ->
      (match List.find_opt (fun (p, _, _) -> p = pid) !running with
       | Some entry ->
         running := List.filter (fun (p, _, _) -> p <> pid) !running;
         finish entry
       | None -> ())
    | exception Unix.Unix_error (Unix.EINTR, _, _) -> ()
  done;
  results

let () =
  Sys.set_signal Sys.sigpipe Sys.Signal_ignore;
  let path = proto "sessions.txt" in
  let config, sessions = load path in
  check "sessions.count" (List.length sessions >= min_sessions) (fun () ->
      Printf.sprintf "%s has %d sessions, expected at least %d" path (List.length sessions) min_sessions);
  (* The announced max payload the hello step expects: the config's. *)
  let rec config_max = function
    | "--max-payload" :: v :: _ -> int_of_string v
    | _ :: rest -> config_max rest
    | [] -> default_max_payload in
  let max_payload = config_max config in
  (* WIRE_SESSIONS_LOG=FILE keeps the server's log lines. *)
  let log = Option.value (Sys.getenv_opt "WIRE_SESSIONS_LOG") ~default:"/dev/null" in
  match spawn_server ~log server_exe (config @ [ "--vectors"; proto "vectors.txt" ]) with
  | None -> fail_test "sessions.server" ("could not start " ^ server_exe ^ " " ^ String.concat " " config); finish ()
  | Some (pid, port) ->
    let t0 = Unix.gettimeofday () in
    let results =
      Fun.protect ~finally:(fun () ->
          (try Unix.kill pid Sys.sigterm with Unix.Unix_error _ -> ());
          ignore (Unix.waitpid [] pid))
        (fun () -> run_all port max_payload sessions) in
    List.iter (fun s ->
        match Hashtbl.find_opt results s.name with
        | Some "ok" -> incr passed; Printf.printf "ok   session:%s\n" s.name
        | Some why -> fail_test (Printf.sprintf "session:%s (SPEC %s)" s.name s.spec) why
        | None -> fail_test ("session:" ^ s.name) "no verdict")
      sessions;
    Printf.printf "%d sessions in %.1f s\n" (List.length sessions) (Unix.gettimeofday () -. t0);
    finish ()
