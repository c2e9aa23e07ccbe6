(* wire interop server (design §6, §7, §10).

   Concurrency: one forked process per connection, reaped by the parent.
   Why fork rather than a select loop: each connection then runs simple
   blocking code (the same I/O helpers as the client), a 16 MiB ROUNDTRIP
   being decoded does not stall the other connections, and a crash or a
   memory blow-up in one handler only ends that connection.  The vectors
   are parsed once before forking and shared copy-on-write. *)

open Wire

let prog = "ocaml-server"
let log fmt = Printf.ksprintf (fun s -> prerr_endline (prog ^ ": " ^ s)) fmt

type config = {
  max_payload : int;
  max_conns : int;
  idle : float;  (* seconds a connection may stay silent, or stall a write *)
  linger : float;  (* bounded drain after the last frame *)
}

(* ------------------------------------------------------------------ *)
(* One connection (runs in the child)                                  *)

type conn = {
  fd : Unix.file_descr;
  cfg : config;
  mutable peer_name : string;
  mutable peer_max : int option;  (* None until the peer's HELLO *)
  mutable frames : int;
}

(* Ends the connection; the string is the outcome for the log line. *)
exception Finish of string

let describe_error code offset msg =
  match offset with
  | Some o -> Printf.sprintf "%s at %d: %s" (code_name code) o msg
  | None -> Printf.sprintf "%s: %s" (code_name code) msg

let peer_limit c = match c.peer_max with Some m -> m | None -> default_max_payload

(* §6: send ERROR, shutdown(SHUT_WR), drain for a bounded time, close.
   [offset] is already a frame offset (8 + payload offset, or a header
   offset). *)
let reject c code offset msg =
  let payload = error_payload ~code:(code_number code) ?offset msg in
  (* Never exceed the peer's limit, not even with ERROR: shorten the text
     (13 bytes are the fields without text), or send nothing. *)
  let payload =
    let over = String.length payload - peer_limit c in
    if over > 0 && over <= String.length msg then
      error_payload ~code:(code_number code) ?offset
        (String.sub msg 0 (String.length msg - over))
    else payload in
  let sent =
    String.length payload <= peer_limit c
    && (try
          write_frame ~deadline:(Unix.gettimeofday () +. c.cfg.idle) c.fd Msg.error payload;
          true
        with Error _ -> false) in
  shutdown_and_close ~linger:c.cfg.linger c.fd;
  raise (Finish ((if sent then "sent ERROR " else "closed, could not send ERROR ")
                 ^ describe_error code offset msg))

let reject_payload_error c (e : error) =
  (* Payload offsets become frame offsets: + 8 header bytes. *)
  let e = shift_error header_size e in
  reject c e.code e.offset e.message

let send c ty payload =
  let limit = peer_limit c in
  if String.length payload > limit then
    reject c TOOBIG None
      (Printf.sprintf "reply of %d bytes exceeds your max_payload %d"
         (String.length payload) limit);
  try write_frame ~deadline:(Unix.gettimeofday () +. c.cfg.idle) c.fd ty payload
  with Error e ->
    (try Unix.close c.fd with Unix.Unix_error _ -> ());
    raise (Finish ("write failed: " ^ string_of_error e))

let handle c table ty payload =
  match c.peer_max with
  | None ->
    if ty <> Msg.hello then
      reject c UNEXPECTED (Some 2)
        (Printf.sprintf "expected HELLO first, got %s" (Msg.name ty));
    (match parse_hello payload with
     | h ->
       c.peer_max <- Some h.max_payload;
       c.peer_name <- h.peer_name;
       send c Msg.hello (hello_payload ~max_payload:c.cfg.max_payload prog)
     | exception Error e -> reject_payload_error c e)
  | Some _ ->
    if ty = Msg.hello then reject c UNEXPECTED (Some 2) "HELLO was already received"
    else if ty = Msg.error then begin
      let what =
        match parse_error_message payload with
        | m ->
          Printf.sprintf "peer sent ERROR %s%s: %s" (code_number_name m.err_code)
            (match m.err_offset with Some o -> Printf.sprintf " at %d" o | None -> "")
            m.err_text
        | exception Error e -> "peer sent a malformed ERROR: " ^ string_of_error e in
      shutdown_and_close ~linger:c.cfg.linger c.fd;
      raise (Finish what)
    end
    else if ty = Msg.ping then send c Msg.pong payload
    else if ty = Msg.bye then begin
      (* Control messages ignore extra fields, but they must still be
         well-formed fields. *)
      (match decode_fields payload with
       | _ -> ()
       | exception Error e -> reject_payload_error c e);
      send c Msg.bye "";
      shutdown_and_close ~linger:c.cfg.linger c.fd;
      raise (Finish "bye")
    end
    else if Wire_interop.is_service_request ty then
      match Wire_interop.serve table ty payload with
      | rt, rp -> send c rt rp
      | exception Error e -> reject_payload_error c e
    else
      reject c UNEXPECTED (Some 2)
        (Printf.sprintf "message type %s is not expected here" (Msg.name ty))

let serve_connection cfg table fd =
  let c = { fd; cfg; peer_name = "?"; peer_max = None; frames = 0 } in
  let parser = Parser.create ~max_payload:cfg.max_payload () in
  let buf = Bytes.create 65536 in
  (* When the current partial frame began: a peer dribbling one byte at a
     time must still complete each frame within the idle time. *)
  let frame_start = ref None in
  let rec loop () =
    match Parser.next parser with
    | Parser.Frame (ty, payload) ->
      c.frames <- c.frames + 1;
      handle c table ty payload;
      loop ()
    | Parser.Failed e ->
      (* Header errors: offsets 0/1/2/4 are already frame offsets. *)
      reject c e.code e.offset e.message
    | Parser.Await ->
      let now = Unix.gettimeofday () in
      (match Parser.in_frame parser, !frame_start with
       | false, _ -> frame_start := None
       | true, None -> frame_start := Some now
       | true, Some _ -> ());
      let deadline =
        match !frame_start with Some t -> t +. cfg.idle | None -> now +. cfg.idle in
      match read_some ~deadline fd buf 0 (Bytes.length buf) with
      | 0 ->
        (try Unix.close fd with Unix.Unix_error _ -> ());
        raise (Finish (if Parser.in_frame parser then "EOF inside a frame" else "EOF"))
      | n ->
        (* feed copies the bytes before buf is reused. *)
        Parser.feed parser (Bytes.unsafe_to_string buf) 0 n;
        loop ()
      | exception Error { code = TIMEOUT; _ } ->
        reject c TIMEOUT None
          (if !frame_start = None then Printf.sprintf "idle for %g s" cfg.idle
           else Printf.sprintf "frame not completed within %g s" cfg.idle)
      | exception Error e ->
        (try Unix.close fd with Unix.Unix_error _ -> ());
        raise (Finish ("read failed: " ^ string_of_error e)) in
  let outcome = try loop () with Finish r -> r in
  (c.peer_name, c.frames, outcome)

(* ------------------------------------------------------------------ *)
(* Listening and the parent loop                                       *)

let string_of_sockaddr = function
  | Unix.ADDR_INET (a, p) ->
    let h = Unix.string_of_inet_addr a in
    if String.contains h ':' then Printf.sprintf "[%s]:%d" h p else Printf.sprintf "%s:%d" h p
  | Unix.ADDR_UNIX s -> s

let with_port addr port =
  match addr with Unix.ADDR_INET (a, _) -> Unix.ADDR_INET (a, port) | a -> a

let open_listener ~v6only ai addr =
  let fd = Unix.socket ~cloexec:true ai.Unix.ai_family ai.Unix.ai_socktype ai.Unix.ai_protocol in
  try
    Unix.setsockopt fd Unix.SO_REUSEADDR true;
    if ai.Unix.ai_family = Unix.PF_INET6 && v6only then Unix.setsockopt fd Unix.IPV6_ONLY true;
    Unix.bind fd addr;
    Unix.listen fd 128;
    (* Non-blocking: a connection reset between select and accept must
       not block the loop. *)
    Unix.set_nonblock fd;
    fd
  with e -> Unix.close fd; raise e

(* Binds every address the host resolves to (e.g. both ::1 and 127.0.0.1
   for "localhost") on one port: the first bind picks it when port = 0. *)
let listen_all host port =
  let ais =
    try Unix.getaddrinfo host (string_of_int port) [ Unix.AI_SOCKTYPE Unix.SOCK_STREAM; Unix.AI_PASSIVE ]
    with Not_found -> [] in
  if ais = [] then failf ADDRESS "cannot resolve %S" host;
  let v6only = List.length ais > 1 in
  let rec first = function
    | [] -> failf ADDRESS "cannot listen on %s port %d" host port
    | ai :: rest ->
      match open_listener ~v6only ai ai.Unix.ai_addr with
      | fd -> fd, rest
      | exception Unix.Unix_error (e, _, _) ->
        if rest = [] then
          failf ADDRESS "cannot listen on %s: %s" (string_of_sockaddr ai.Unix.ai_addr)
            (Unix.error_message e)
        else first rest in
  let fd0, rest = first ais in
  let actual =
    match Unix.getsockname fd0 with Unix.ADDR_INET (_, p) -> p | _ -> port in
  let others =
    List.filter_map (fun ai ->
        match open_listener ~v6only ai (with_port ai.Unix.ai_addr actual) with
        | fd -> Some fd
        | exception Unix.Unix_error (e, _, _) ->
          log "not listening on %s: %s" (string_of_sockaddr ai.Unix.ai_addr)
            (Unix.error_message e);
          None)
      rest in
  fd0 :: others, actual

let stop = ref false

let main host port vectors_path cfg =
  Sys.set_signal Sys.sigpipe Sys.Signal_ignore;
  let table =
    match vectors_path with
    | None -> log "no vectors file found; VECTOR_CHECK/GET answer 'unknown'"; Hashtbl.create 1
    | Some p -> Wire_interop.table_of_vectors (Wire_text.load_vectors p) in
  let listeners, actual = listen_all host port in
  Printf.printf "%d\n%!" actual;
  log "listening on %s port %d (max payload %d, %d vectors)"
    host actual cfg.max_payload (Hashtbl.length table);
  let children = Hashtbl.create 16 in
  let on_stop = Sys.Signal_handle (fun _ -> stop := true) in
  Sys.set_signal Sys.sigterm on_stop;
  Sys.set_signal Sys.sigint on_stop;
  (* A handler (not the default "ignore") so SIGCHLD interrupts select and
     children are reaped at once. *)
  Sys.set_signal Sys.sigchld (Sys.Signal_handle (fun _ -> ()));
  let rec reap () =
    match Unix.waitpid [ Unix.WNOHANG ] (-1) with
    | 0, _ -> ()
    | pid, _ -> Hashtbl.remove children pid; reap ()
    | exception Unix.Unix_error (Unix.EINTR, _, _) -> reap ()
    | exception Unix.Unix_error (Unix.ECHILD, _, _) -> () in
  let spawn fd addr =
    let over_limit = Hashtbl.length children >= cfg.max_conns in
    flush stdout; flush stderr;
    match Unix.fork () with
    | 0 ->
      (* Child: never return into the accept loop, whatever happens. *)
      (try
         List.iter Unix.close listeners;
         List.iter (fun s -> Sys.set_signal s Sys.Signal_default)
           [ Sys.sigterm; Sys.sigint; Sys.sigchld ];
         let peer = string_of_sockaddr addr in
         if over_limit then begin
           let c = { fd; cfg; peer_name = "?"; peer_max = None; frames = 0 } in
           let r =
             try reject c LIMIT None (Printf.sprintf "too many connections (%d)" cfg.max_conns)
             with Finish r -> r in
           log "%s: %s" peer r
         end
         else begin
           let name, frames, outcome = serve_connection cfg table fd in
           log "%s peer=%S frames=%d: %s" peer name frames outcome
         end;
         Unix._exit 0
       with e ->
         log "connection handler crashed: %s" (Printexc.to_string e);
         Unix._exit 1)
    | pid ->
      Unix.close fd;
      Hashtbl.replace children pid ()
    | exception Unix.Unix_error (e, _, _) ->
      log "fork failed: %s" (Unix.error_message e);
      Unix.close fd in
  while not !stop do
    reap ();
    match Unix.select listeners [] [] 1.0 with
    | exception Unix.Unix_error (Unix.EINTR, _, _) -> ()
    | ready, _, _ ->
      List.iter (fun lfd ->
          if not !stop then
            match Unix.accept ~cloexec:true lfd with
            | fd, addr ->
              Unix.clear_nonblock fd;
              (try Unix.setsockopt fd Unix.TCP_NODELAY true with Unix.Unix_error _ -> ());
              spawn fd addr
            | exception Unix.Unix_error ((Unix.EINTR | Unix.EAGAIN | Unix.EWOULDBLOCK
                                         | Unix.ECONNABORTED), _, _) -> ()
            | exception Unix.Unix_error (e, _, _) ->
              log "accept: %s" (Unix.error_message e))
        ready
  done;
  (* Shutdown: stop listening, end every child, wait for all of them. *)
  List.iter (fun fd -> try Unix.close fd with Unix.Unix_error _ -> ()) listeners;
  Hashtbl.iter (fun pid () -> try Unix.kill pid Sys.sigterm with Unix.Unix_error _ -> ()) children;
  let deadline = Unix.gettimeofday () +. 3.0 in
  while Hashtbl.length children > 0 && Unix.gettimeofday () < deadline do
    reap ();
    if Hashtbl.length children > 0 then
      try Unix.sleepf 0.02 with Unix.Unix_error _ -> ()
  done;
  Hashtbl.iter (fun pid () ->
      (try Unix.kill pid Sys.sigkill with Unix.Unix_error _ -> ());
      try ignore (Unix.waitpid [] pid) with Unix.Unix_error _ -> ()) children;
  log "stopped";
  exit 0

let () =
  let host = ref "127.0.0.1" and port = ref 0 and vectors = ref "" in
  let max_payload = ref default_max_payload and max_conns = ref 64 in
  let idle = ref 60.0 and linger = ref 2.0 in
  let specs =
    [ "--host", Arg.Set_string host, "HOST  address to listen on (default 127.0.0.1; IPv4 or IPv6)";
      "--port", Arg.Set_int port, "PORT  port (default 0: any free port)";
      "--vectors", Arg.Set_string vectors, "FILE  vectors file (default: proto/vectors.txt found from the executable)";
      "--max-payload", Arg.Set_int max_payload, "N  largest payload accepted (default 16777216)";
      "--max-conns", Arg.Set_int max_conns, "N  concurrent connections before ERROR(LIMIT) (default 64)";
      "--idle-timeout", Arg.Set_float idle, "SECONDS  close silent or stalled peers with ERROR(TIMEOUT) (default 60)";
      "--linger", Arg.Set_float linger, "SECONDS  drain time after the last frame (default 2)" ] in
  Arg.parse specs (fun a -> raise (Arg.Bad ("unexpected argument " ^ a)))
    "usage: server [--host H] [--port P] [--vectors FILE] [--max-payload N]";
  if !max_payload < 0 || !max_payload > u32_max then (prerr_endline "bad --max-payload"; exit 2);
  if !port < 0 || !port > 65535 then (prerr_endline "server: --port must be 0..65535"; exit 2);
  let vectors_path =
    if !vectors <> "" then Some !vectors else Wire_text.default_proto_file "vectors.txt" in
  let cfg = { max_payload = !max_payload; max_conns = max 1 !max_conns; idle = !idle;
              linger = !linger } in
  try main !host !port vectors_path cfg
  with Error e ->
    log "%s" (string_of_error e);
    exit 2
