(* SPDX-License-Identifier: MIT *)
(* wire interop client: runs the exchange of SPEC 10.10 against a server
   and prints one line per case.  Throughout it behaves as SPEC 8.6 lets a
   server expect: it answers the server's PINGs (also while waiting for a
   reply), takes frames however the stream cuts them, and never sends a
   payload larger than the server announced.

   With --udp it runs the exchange of SPEC 15.8 over UDP instead: one
   request outstanding at a time, each with its own id, sent again with a
   doubling timeout when no answer comes (SPEC 15.7). *)

open Wire

let lang_name = "ocaml-client"
let our_max = default_max_payload

(* A case fails by raising this (or any Wire.Error). *)
exception Case_failed of string

let failc fmt = Printf.ksprintf (fun s -> raise (Case_failed s)) fmt

let timeout = ref 10.0
let host = ref "127.0.0.1"
let port = ref 0

(* Every read/write of a case shares one deadline, so a server that
   stalls or dribbles cannot hang the client. *)
let deadline = ref 0.0
let start_case () = deadline := Unix.gettimeofday () +. !timeout

(* ------------------------------------------------------------------ *)
(* Connections                                                         *)

type conn = { fd : Unix.file_descr; server_max : int }

let close_fd fd = try Unix.close fd with Unix.Unix_error _ -> ()

(* Non-blocking connect + select, so even connecting obeys the case
   deadline; every address of the host is tried in turn. *)
let connect_addr ai =
  let fd = Unix.socket ~cloexec:true ai.Unix.ai_family Unix.SOCK_STREAM 0 in
  try
    Unix.set_nonblock fd;
    (try Unix.connect fd ai.Unix.ai_addr
     with Unix.Unix_error (Unix.EINPROGRESS, _, _) ->
       wait_ready ~deadline:!deadline fd ~write:true;
       match Unix.getsockopt_error fd with
       | None -> ()
       | Some e -> raise (Unix.Unix_error (e, "connect", "")));
    Unix.clear_nonblock fd;
    (try Unix.setsockopt fd Unix.TCP_NODELAY true with Unix.Unix_error _ -> ());
    (* Backstop for a blocking write that select cannot bound. *)
    Unix.setsockopt_float fd Unix.SO_SNDTIMEO !timeout;
    fd
  with e -> close_fd fd; raise e

let connect () =
  let ais =
    try Unix.getaddrinfo !host (string_of_int !port) [ Unix.AI_SOCKTYPE Unix.SOCK_STREAM ]
    with Not_found -> [] in
  if ais = [] then failc "cannot resolve %s" !host;
  let rec go last = function
    | [] -> failc "cannot connect to %s port %d: %s" !host !port last
    | ai :: rest ->
      match connect_addr ai with
      | fd -> fd
      | exception Unix.Unix_error (e, _, _) -> go (Unix.error_message e) rest
      | exception Error e -> go (string_of_error e) rest in
  go "no address" ais

(* A request the server could not accept is not sent: the case fails with
   the reason (SPEC 8.1, 10.10). *)
let send fd ?(limit = default_max_payload) ty payload =
  if String.length payload > limit then
    failc "%s payload of %d bytes exceeds the server's max_payload %d (not sent)"
      (Msg.name ty) (String.length payload) limit;
  write_frame ~deadline:!deadline ~max_payload:limit fd ty payload

let describe_error_frame payload =
  match parse_error_message payload with
  | m ->
    Printf.sprintf "server sent ERROR %s%s: %s" (code_number_name m.err_code)
      (match m.err_offset with Some o -> Printf.sprintf " at %d" o | None -> "")
      m.err_text
  | exception Error e -> "server sent a malformed ERROR: " ^ string_of_error e

(* After the handshake: the next frame that is not a PING, each PING
   having been answered first (SPEC 7.5). *)
let recv c =
  read_frame_answering_pings ~deadline:!deadline ~max_payload:our_max ~peer_max:c.server_max c.fd

(* The reply must have type [want]; an ERROR frame or another type fails. *)
let expect c want =
  let ty, payload = recv c in
  if ty = want then payload
  else if ty = Msg.error then failc "%s" (describe_error_frame payload)
  else failc "expected %s, got %s" (Msg.name want) (Msg.name ty)

(* Before the handshake only HELLO (or ERROR) may come (SPEC 8.6): no PING
   is answered yet. *)
let hello fd =
  send fd Msg.hello (hello_payload ~max_payload:our_max lang_name);
  let ty, payload = read_frame ~deadline:!deadline ~max_payload:our_max fd in
  if ty = Msg.error then failc "%s" (describe_error_frame payload);
  if ty <> Msg.hello then failc "expected HELLO, got %s" (Msg.name ty);
  let h =
    try parse_hello payload
    with Error e -> failc "bad HELLO reply: %s" (string_of_error e) in
  { fd; server_max = h.max_payload }

let open_session () =
  let fd = connect () in
  try hello fd with e -> close_fd fd; raise e

(* The main connection; dropped after any transport-level failure and
   re-opened (with a new HELLO) by the next case that needs it. *)
let main_conn : conn option ref = ref None

let drop_main () =
  match !main_conn with
  | Some c -> close_fd c.fd; main_conn := None
  | None -> ()

let with_main f =
  let c =
    match !main_conn with
    | Some c -> c
    | None ->
      let c =
        try open_session ()
        with Case_failed r -> failc "reconnect failed: %s" r in
      main_conn := Some c;
      c in
  (* A mismatch in a well-formed reply keeps the connection in sync; any
     other failure may not, so the connection is dropped. *)
  match f c with
  | r -> r
  | exception (Case_failed _ as e) -> raise e
  | exception e -> drop_main (); raise e

let request c ty payload want =
  send c.fd ~limit:c.server_max ty payload;
  try expect c want
  with Case_failed _ as e -> drop_main (); raise e

(* Waits for the server to close: EOF is success. *)
let expect_eof fd =
  let buf = Bytes.create 4096 in
  let rec go extra =
    match read_some ~deadline:!deadline fd buf 0 (Bytes.length buf) with
    | 0 -> if extra > 0 then failc "%d unexpected bytes before EOF" extra
    | n -> go (extra + n)
    | exception Error { code = CLOSED; message; _ } -> failc "connection reset instead of EOF (%s)" message
    | exception Error { code = TIMEOUT; _ } -> failc "server did not close the connection" in
  go 0

(* ------------------------------------------------------------------ *)
(* Cases                                                               *)

let passed = ref 0
let failed = ref 0

let one_line s = String.map (fun c -> if c = '\n' || c = '\r' then ' ' else c) s

let run name f =
  start_case ();
  let result =
    match f () with
    | () -> None
    | exception Case_failed r -> Some r
    | exception Error e -> Some (string_of_error e)
    | exception Unix.Unix_error (e, fn, _) -> Some (fn ^ ": " ^ Unix.error_message e)
    | exception Failure m -> Some m in
  (match result with
   | None -> incr passed; Printf.printf "ok   %s\n%!" name
   | Some r -> incr failed; Printf.printf "FAIL %s: %s\n%!" name (one_line r))

let check_values what expected got =
  match Wire.Interop.compare_fields ~expected ~got with
  | None -> ()
  | Some m -> failc "%s differ at %s: expected %s, got %s" what m.path m.expected m.got

let case_hello () =
  drop_main ();
  main_conn := Some (open_session ())

let case_check name values =
  with_main (fun c ->
      let reply = request c Msg.vector_check (encode_fields (String name :: values)) Msg.vector_result in
      match Wire.Interop.parse_vector_result reply with
      | 0, _, _, _ -> ()
      | s, p, e, g -> failc "status %d at path %S: expected %s, got %s" s p e g)

let case_check_unknown () =
  with_main (fun c ->
      let reply =
        request c Msg.vector_check (encode_fields [ String "no-such-vector" ]) Msg.vector_result in
      match Wire.Interop.parse_vector_result reply with
      | 2, _, _, _ -> ()
      | s, _, _, _ -> failc "status %d, expected 2" s)

let case_get name values data =
  with_main (fun c ->
      let ty, payload =
        send c.fd ~limit:c.server_max Msg.vector_get (encode_fields [ String name ]);
        recv c in
      if ty = Msg.error then (drop_main (); failc "%s" (describe_error_frame payload));
      if ty = Msg.vector_result then
        failc "server answered VECTOR_RESULT status %d"
          (let s, _, _, _ = Wire.Interop.parse_vector_result payload in s);
      if ty <> Msg.vector_data then (drop_main (); failc "expected VECTOR_DATA, got %s" (Msg.name ty));
      let prefix = encode_fields [ String name ] in
      let np = String.length prefix in
      if String.length payload < np || String.sub payload 0 np <> prefix then
        failc "VECTOR_DATA does not start with the name field %S" name;
      let rest = String.sub payload np (String.length payload - np) in
      if rest <> data then
        failc "bytes differ: expected %s, got %s" (Wire.Text.format_hex data)
          (Wire.Text.format_hex rest);
      check_values "decoded values" values (decode_fields rest))

let case_roundtrip data =
  with_main (fun c ->
      let reply = request c Msg.roundtrip data Msg.roundtrip_reply in
      if reply <> data then
        failc "reply differs: sent %s, got %s" (Wire.Text.format_hex data)
          (Wire.Text.format_hex reply))

let echo_payload n = String.init n (fun i -> Char.chr ((i * 131 + 7) mod 256))

let case_echo n =
  with_main (fun c ->
      let p = echo_payload n in
      let reply = request c Msg.echo p Msg.echo_reply in
      if reply <> p then failc "reply of %d bytes differs from the %d bytes sent" (String.length reply) n)

let case_ping () =
  with_main (fun c ->
      let p = "\001\002\003\004\005\006\007\008" in
      let reply = request c Msg.ping p Msg.pong in
      if reply <> p then failc "PONG payload %s" (Wire.Text.format_hex reply))

let case_stats (s : Wire.Text.stats_case) =
  with_main (fun c ->
      let reply = request c Msg.stats (encode_fields s.request) Msg.stats_reply in
      check_values "reply fields" s.reply (decode_fields reply))

let case_reject code offset data =
  let c = open_session () in
  Fun.protect ~finally:(fun () -> close_fd c.fd) (fun () ->
      send c.fd ~limit:c.server_max Msg.roundtrip data;
      let ty, payload = recv c in
      if ty <> Msg.error then failc "expected ERROR, got %s" (Msg.name ty);
      let m = parse_error_message payload in
      let want = code_number code and want_off = header_size + offset in
      if m.err_code <> want || m.err_offset <> Some want_off then
        failc "expected ERROR %s at %d, got %s" (code_name code) want_off
          (describe_error_frame payload);
      expect_eof c.fd)

(* After its BYE a side sends nothing more (SPEC 8.5): a PING that comes
   before the answering BYE is not answered. *)
let case_bye () =
  with_main (fun c ->
      send c.fd ~limit:c.server_max Msg.bye "";
      let rec answer () =
        match read_frame ~deadline:!deadline ~max_payload:our_max c.fd with
        | ty, _ when ty = Msg.bye -> ()
        | ty, _ when ty = Msg.ping -> answer ()
        | ty, payload when ty = Msg.error -> failc "%s" (describe_error_frame payload)
        | ty, _ -> failc "expected BYE, got %s" (Msg.name ty) in
      answer ();
      expect_eof c.fd);
  drop_main ()

(* ------------------------------------------------------------------ *)
(* UDP (SPEC 15.7, 15.8)                                               *)

(* The interop clients' policy (SPEC 15.7): 100 ms, doubled up to 1 s, 8
   sends: 5.5 s at most per request. *)
let udp_first_timeout = 0.1
let udp_max_timeout = 1.0
let udp_sends = 8

type udp = {
  ufd : Unix.file_descr;
  ubuf : Bytes.t;  (* Udp.recv_buffer_size: a cut datagram is seen as such *)
  mutable next_id : int;
  mutable resent : int;  (* retries, for the summary on stderr *)
  mutable stray : int;  (* datagrams dropped: bad, or no outstanding id *)
}

(* connect(): the kernel then takes datagrams from the server's address
   only (SPEC 15.7's SHOULD), and send needs no address. *)
let udp_open () =
  let ais =
    try Unix.getaddrinfo !host (string_of_int !port) [ Unix.AI_SOCKTYPE Unix.SOCK_DGRAM ]
    with Not_found -> [] in
  match ais with
  | [] -> Printf.eprintf "client: cannot resolve %s\n" !host; exit 2
  | ai :: _ ->
    let fd = Unix.socket ~cloexec:true ai.Unix.ai_family Unix.SOCK_DGRAM 0 in
    Unix.connect fd ai.Unix.ai_addr;
    (* A random start: a late reply meant for an earlier run on the same
       port is unlikely to carry an id we wait for (SPEC 15.7). *)
    Random.self_init ();
    let start = (Random.bits () lsl 2) lxor Random.bits () land u32_max in
    { ufd = fd; ubuf = Bytes.create Udp.recv_buffer_size; next_id = start land u32_max;
      resent = 0; stray = 0 }

(* One request: its answer's (type, payload), an ERROR included; fails
   after the last send goes unanswered.  Only a datagram that passes SPEC
   15.3's steps 1-3 and 5 and carries this request's id is its answer; the rest
   (duplicates, late replies, junk) is dropped and never answered. *)
let udp_request u ty payload =
  if String.length payload > Udp.max_payload then
    failc "%s payload of %d bytes does not fit in a datagram (%d at most; not sent)"
      (Msg.name ty) (String.length payload) Udp.max_payload;
  let id = u.next_id in
  u.next_id <- (id + 1) land u32_max;
  let datagram = Udp.encode ~id ty payload in
  let rec wait deadline =
    match Udp.recv ~deadline u.ufd u.ubuf with
    | exception Error { code = TIMEOUT; _ } -> None
    (* An ICMP "port unreachable" for an earlier send: a loss like any other. *)
    | exception Error { code = CLOSED; _ } -> wait deadline
    | n, _, truncated ->
      match Udp.check ~truncated u.ubuf n with
      | Udp.Datagram d when d.id = id -> Some (d.msg_type, d.payload)
      | _ -> u.stray <- u.stray + 1; wait deadline in
  let rec attempt k timeout =
    if k > 1 then u.resent <- u.resent + 1;
    (* A send the kernel refuses (full buffer) is a loss too: retried. *)
    (try Udp.send u.ufd datagram with Error { code = (TIMEOUT | CLOSED); _ } -> ());
    match wait (Unix.gettimeofday () +. timeout) with
    | Some answer -> answer
    | None when k >= udp_sends -> failc "no answer after %d sends" udp_sends
    | None -> attempt (k + 1) (Float.min udp_max_timeout (2.0 *. timeout)) in
  attempt 1 udp_first_timeout

let udp_expect u ty payload want =
  match udp_request u ty payload with
  | t, p when t = want -> p
  | t, p when t = Msg.error -> failc "%s" (describe_error_frame p)
  | t, _ -> failc "expected %s, got %s" (Msg.name want) (Msg.name t)

(* The exchange of SPEC 15.8: 10.10's cases and report lines, without
   hello and bye, the vectors that fit in a datagram, ECHO up to 65495
   bytes, and the reject cases on the same socket (the server goes on). *)
let run_udp oks errs stats =
  let u = udp_open () in
  let fits (n, _, d) = 5 + String.length n + String.length d <= Udp.max_payload in
  let oks = List.filter fits oks in
  let check_status want reply =
    match Wire.Interop.parse_vector_result reply with
    | s, _, _, _ when s = want -> ()
    | s, p, e, g -> failc "status %d at path %S: expected %s, got %s" s p e g in
  List.iter (fun (n, vs, _) ->
      run ("check:" ^ n) (fun () ->
          check_status 0
            (udp_expect u Msg.vector_check (encode_fields (String n :: vs)) Msg.vector_result)))
    oks;
  run "check-unknown" (fun () ->
      check_status 2
        (udp_expect u Msg.vector_check (encode_fields [ String "no-such-vector" ]) Msg.vector_result));
  List.iter (fun (n, vs, d) ->
      run ("get:" ^ n) (fun () ->
          let payload = udp_expect u Msg.vector_get (encode_fields [ String n ]) Msg.vector_data in
          let prefix = encode_fields [ String n ] in
          let np = String.length prefix in
          if String.length payload < np || String.sub payload 0 np <> prefix then
            failc "VECTOR_DATA does not start with the name field %S" n;
          let rest = String.sub payload np (String.length payload - np) in
          if rest <> d then
            failc "bytes differ: expected %s, got %s" (Wire.Text.format_hex d)
              (Wire.Text.format_hex rest);
          check_values "decoded values" vs (decode_fields rest)))
    oks;
  List.iter (fun (n, _, d) ->
      run ("roundtrip:" ^ n) (fun () ->
          let reply = udp_expect u Msg.roundtrip d Msg.roundtrip_reply in
          if reply <> d then
            failc "reply differs: sent %s, got %s" (Wire.Text.format_hex d) (Wire.Text.format_hex reply)))
    oks;
  List.iter (fun k ->
      run (Printf.sprintf "echo:%d" k) (fun () ->
          let p = echo_payload k in
          let reply = udp_expect u Msg.echo p Msg.echo_reply in
          if reply <> p then
            failc "reply of %d bytes differs from the %d bytes sent" (String.length reply) k))
    [ 0; 1; 4096; Udp.max_payload ];
  run "ping" (fun () ->
      let p = "\001\002\003\004\005\006\007\008" in
      let reply = udp_expect u Msg.ping p Msg.pong in
      if reply <> p then failc "PONG payload %s" (Wire.Text.format_hex reply));
  List.iter (fun (s : Wire.Text.stats_case) ->
      run ("stats:" ^ s.stats_name) (fun () ->
          let reply = udp_expect u Msg.stats (encode_fields s.request) Msg.stats_reply in
          check_values "reply fields" s.reply (decode_fields reply)))
    stats;
  List.iter (fun (n, code, off, d) ->
      run ("reject:" ^ n) (fun () ->
          match udp_request u Msg.roundtrip d with
          | t, p when t = Msg.error ->
            let m = parse_error_message p in
            let want_off = header_size + off in
            if m.err_code <> code_number code || m.err_offset <> Some want_off then
              failc "expected ERROR %s at %d, got %s" (code_name code) want_off (describe_error_frame p)
          | t, _ -> failc "expected ERROR, got %s" (Msg.name t)))
    errs;
  Printf.eprintf "client: UDP: %d retries, %d stray datagrams dropped\n%!" u.resent u.stray;
  close_fd u.ufd

let () =
  Sys.set_signal Sys.sigpipe Sys.Signal_ignore;
  let vectors = ref "" and stats = ref "" and udp = ref false in
  let specs =
    [ "--host", Arg.Set_string host, "HOST  server address (default 127.0.0.1)";
      "--port", Arg.Set_int port, "PORT  server port (required)";
      "--vectors", Arg.Set_string vectors, "FILE  vectors file (default: proto/vectors.txt found from the executable)";
      "--stats", Arg.Set_string stats, "FILE  stats file (default: proto/stats.txt found from the executable)";
      "--timeout", Arg.Set_float timeout, "SECONDS  per-case timeout over TCP (default 10)";
      "--udp", Arg.Set udp,
      " run the UDP exchange of SPEC 15.8 instead (retries: 100 ms doubled up to 1 s, 8 sends)" ] in
  Arg.parse specs (fun a -> raise (Arg.Bad ("unexpected argument " ^ a)))
    "usage: client [--udp] --host H --port P [--vectors FILE] [--stats FILE]";
  if !port <= 0 || !port > 65535 then (prerr_endline "client: --port is required"; exit 2);
  let locate given file =
    if given <> "" then given
    else match Wire.Text.default_proto_file file with
      | Some p -> p
      | None -> Printf.eprintf "client: cannot find proto/%s\n" file; exit 2 in
  let vectors, stats =
    try Wire.Text.load_vectors (locate !vectors "vectors.txt"),
        Wire.Text.load_stats (locate !stats "stats.txt")
    with
    | Error e -> prerr_endline ("client: " ^ string_of_error e); exit 2
    | Sys_error m -> prerr_endline ("client: " ^ m); exit 2 in
  let oks =
    List.filter_map (function
        | Wire.Text.Ok_vector v -> Some (v.name, v.values, v.data)
        | _ -> None) vectors in
  let errs =
    List.filter_map (function
        | Wire.Text.Err_vector v -> Some (v.name, v.code, v.offset, v.data)
        | _ -> None) vectors in
  if !udp then begin
    run_udp oks errs stats;
    Printf.printf "%d passed, %d failed\n%!" !passed !failed;
    exit (if !failed = 0 then 0 else 1)
  end;
  run "hello" case_hello;
  List.iter (fun (n, vs, _) -> run ("check:" ^ n) (fun () -> case_check n vs)) oks;
  run "check-unknown" case_check_unknown;
  List.iter (fun (n, vs, d) -> run ("get:" ^ n) (fun () -> case_get n vs d)) oks;
  List.iter (fun (n, _, d) -> run ("roundtrip:" ^ n) (fun () -> case_roundtrip d)) oks;
  List.iter (fun n -> run (Printf.sprintf "echo:%d" n) (fun () -> case_echo n)) [ 0; 1; 4096; 1048576 ];
  run "ping" case_ping;
  List.iter (fun (s : Wire.Text.stats_case) -> run ("stats:" ^ s.stats_name) (fun () -> case_stats s)) stats;
  (* BYE ends the main connection before the reject cases open their own, so the client never holds
     two connections at once and an iterative server can run the whole exchange. *)
  run "bye" case_bye;
  List.iter (fun (n, code, off, d) -> run ("reject:" ^ n) (fun () -> case_reject code off d)) errs;
  Printf.printf "%d passed, %d failed\n%!" !passed !failed;
  exit (if !failed = 0 then 0 else 1)
