(* SPDX-License-Identifier: MIT *)
(* wire interop server (SPEC 8, 9.3, 10).

   Concurrency: one forked process per connection, reaped by the parent.
   Why fork rather than a select loop: each connection then runs simple
   blocking code (the same I/O helpers as the client), a 16 MiB ROUNDTRIP
   being decoded does not stall the other connections, and a crash or a
   memory blow-up in one handler only ends that connection.  The vectors
   are parsed once before forking and shared copy-on-write.

   With --udp the parent also serves the UDP datagram profile (SPEC 15)
   in its own select loop, beside the listening sockets: a datagram is
   answered from its bytes alone, in well under a millisecond for the
   largest (65495 bytes), so it needs neither a process nor state. *)

open Wire

let prog = "ocaml-server"
let prog_version = "1.1"

(* --quiet silences the informational lines (one per connection, start,
   stop); problems that stop the server are always reported. *)
let quiet = ref false
let info fmt = Printf.ksprintf (fun s -> if not !quiet then prerr_endline (prog ^ ": " ^ s)) fmt
let warn fmt = Printf.ksprintf (fun s -> prerr_endline (prog ^ ": " ^ s)) fmt

type config = {
  max_payload : int;
  max_conns : int;
  idle_timeout : float;  (* no frame in progress and none completed for that long *)
  frame_timeout : float;  (* from a frame's first byte to its last *)
}

(* ------------------------------------------------------------------ *)
(* One connection (runs in the child)                                  *)

type conn = {
  fd : Unix.file_descr;
  cfg : config;
  peer : string;  (* its address, for the log *)
  mutable peer_max : int option;  (* None until the peer's HELLO *)
  mutable frames_in : int;
  mutable bytes_in : int;
  mutable frames_out : int;
  mutable bytes_out : int;
}

(* Ends the connection; the string is why, for the log line. *)
exception Finish of string

(* Set by SIGTERM/SIGINT in a connection process: finish the frame in
   flight, then close (SPEC 9.3). *)
let stopping = ref false

let describe_error code offset msg =
  match offset with
  | Some o -> Printf.sprintf "%s at %d: %s" (code_name code) o msg
  | None -> Printf.sprintf "%s: %s" (code_name code) msg

let peer_limit c = match c.peer_max with Some m -> m | None -> default_max_payload

let write_deadline c = Unix.gettimeofday () +. c.cfg.idle_timeout

let count_out c payload =
  c.frames_out <- c.frames_out + 1;
  c.bytes_out <- c.bytes_out + header_size + String.length payload

(* SPEC 8.4: send ERROR, shutdown(SHUT_WR), drain for a bounded time,
   close.  [offset] is already a frame offset (8 + payload offset, or a
   header offset).  An ERROR payload is at most min_max_payload bytes, so
   it fits whatever the peer announced (SPEC 8.1). *)
let reject c code offset msg =
  let payload =
    error_payload ~code:(code_number code) ?offset (utf8_prefix msg max_error_text) in
  let sent =
    try write_frame ~deadline:(write_deadline c) c.fd Msg.error payload; count_out c payload; true
    with Error _ -> false in
  shutdown_and_close c.fd;
  raise (Finish ((if sent then "sent ERROR " else "could not send ERROR ")
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
  match write_frame ~deadline:(write_deadline c) c.fd ty payload with
  | () -> count_out c payload
  | exception Error e ->
    (try Unix.close c.fd with Unix.Unix_error _ -> ());
    raise (Finish ("write failed: " ^ string_of_error e))

(* SPEC 8.6: what the server may receive now (ERROR, always allowed, is
   handled before this is asked). *)
let allowed_now c ty =
  match c.peer_max with
  | None -> ty = Msg.hello
  | Some _ -> ty = Msg.ping || ty = Msg.bye || Wire.Interop.is_service_request ty

let unexpected c ty =
  reject c UNEXPECTED (Some 2)
    (match c.peer_max with
     | None -> Printf.sprintf "expected HELLO first, got %s" (Msg.name ty)
     | Some _ when ty = Msg.hello -> "HELLO was already received"
     | Some _ -> Printf.sprintf "message type %s is not expected here" (Msg.name ty))

(* SPEC 7.4, 8.3 step 2: an ERROR ends the connection and is never
   answered, even before HELLO and even when malformed. *)
let peer_error c payload =
  let what =
    match parse_error_message payload with
    | m ->
      Printf.sprintf "peer sent ERROR %s%s: %s" (code_number_name m.err_code)
        (match m.err_offset with Some o -> Printf.sprintf " at %d" o | None -> "")
        m.err_text
    | exception Error e -> "peer sent a malformed ERROR: " ^ string_of_error e in
  shutdown_and_close c.fd;
  raise (Finish what)

(* SPEC 8.3 steps 2-6, for a complete frame whose header passed. *)
let handle c table ty payload =
  if ty = Msg.error then peer_error c payload
  else if not (allowed_now c ty) then unexpected c ty
  else if ty = Msg.hello then begin
    match parse_hello payload with
    | h ->
      c.peer_max <- Some h.max_payload;
      send c Msg.hello (hello_payload ~max_payload:c.cfg.max_payload prog)
    | exception Error e -> reject_payload_error c e
  end
  else if ty = Msg.ping then send c Msg.pong payload
  else if ty = Msg.bye then begin
    (* Control messages ignore extra fields, but they must still be
       well-formed fields (SPEC 7.2); validated without building them. *)
    (match validate_fields payload with
     | () -> ()
     | exception Error e -> reject_payload_error c e);
    send c Msg.bye "";
    shutdown_and_close c.fd;
    raise (Finish "BYE")
  end
  else
    match Wire.Interop.serve table ty payload with
    | rt, rp -> send c rt rp
    | exception Error e -> reject_payload_error c e

(* The longest a wait lasts before the stop flag is looked at again: a
   signal that lands just before select would otherwise wait out the
   whole idle timeout. *)
let max_wait = 1.0

(* Backpressure is the blocking write: a reply is sent whole before the
   next request is read, so unsent output is one reply plus the socket's
   buffer (SPEC 9.3).  What grew was garbage: payloads and replies over
   2 KiB go straight to the major heap, and the runtime starts major GC
   work only after a minor heap's worth (2 MiB) of allocation, so 64 KiB
   ECHOs left 6 MiB of dead frames in a child whose client never read, and
   12 MiB in one that did.  A full major collection per [gc_every] bytes in
   and out bounds the garbage to about that; it also ran faster (the heap
   stays small) than the runtime's own pacing or major slices. *)
let gc_every = 262144
let gc_mark = ref 0

let collect_garbage c =
  let traffic = c.bytes_in + c.bytes_out in
  if traffic - !gc_mark >= gc_every then begin
    gc_mark := traffic;
    Gc.major ()
  end

let serve_connection table c =
  let cfg = c.cfg in
  let parser = Parser.create ~max_payload:cfg.max_payload () in
  let buf = Bytes.create 65536 in
  (* Idle: from accept, then from the last complete frame (its reply was
     sent before we wait again).  Frame: from the read that brought the
     first byte of the frame in progress (SPEC 9.3). *)
  let idle_since = ref (Unix.gettimeofday ()) in
  let last_read = ref !idle_since in
  let frame_start = ref None in
  let close_quietly why =
    (try Unix.close c.fd with Unix.Unix_error _ -> ());
    raise (Finish why) in
  let rec loop () =
    match Parser.next parser with
    | Parser.Frame (ty, payload) ->
      c.frames_in <- c.frames_in + 1;
      c.bytes_in <- c.bytes_in + header_size + String.length payload;
      handle c table ty payload;
      collect_garbage c;
      idle_since := Unix.gettimeofday ();
      loop ()
    | Parser.Failed e ->
      (* Header errors: offsets 0/1/2/4 are already frame offsets. *)
      reject c e.code e.offset e.message
    | Parser.Await -> wait ()
  and wait () =
    let pending = Parser.pending parser in
    (* SPEC 8.3 step 3: a type not allowed now is answered from the 8
       header bytes, without waiting for a payload that may never come. *)
    (match pending with
     | Some h when h.msg_type <> Msg.error && not (allowed_now c h.msg_type) ->
       unexpected c h.msg_type
     | _ -> ());
    (* A frame that began in the read that also completed the previous
       one starts its clock once that one's reply is sent: we were not
       reading meanwhile. *)
    if not (Parser.in_frame parser) then frame_start := None
    else if !frame_start = None then frame_start := Some (Float.max !last_read !idle_since);
    if !stopping && !frame_start = None then begin
      shutdown_and_close c.fd;
      raise (Finish "server shutdown")
    end;
    let deadline =
      match !frame_start with
      | Some t -> t +. cfg.frame_timeout
      | None -> !idle_since +. cfg.idle_timeout in
    let now = Unix.gettimeofday () in
    if now >= deadline then timed_out pending
    else
      match Unix.select [ c.fd ] [] [] (Float.min max_wait (deadline -. now)) with
      | exception Unix.Unix_error (Unix.EINTR, _, _) -> wait ()
      | [], _, _ -> wait ()
      | _ ->
        match Unix.read c.fd buf 0 (Bytes.length buf) with
        | 0 ->
          (* Every complete frame before the EOF was answered (SPEC 8.5). *)
          close_quietly (if Parser.in_frame parser then "EOF inside a frame" else "EOF")
        | n ->
          last_read := Unix.gettimeofday ();
          (* feed copies the bytes before buf is reused. *)
          Parser.feed parser (Bytes.unsafe_to_string buf) 0 n;
          loop ()
        | exception Unix.Unix_error (Unix.EINTR, _, _) -> wait ()
        | exception Unix.Unix_error (e, _, _) ->
          close_quietly ("read failed: " ^ Unix.error_message e)
  and timed_out pending =
    match !frame_start, pending with
    | Some _, Some h when h.msg_type = Msg.error ->
      (* Even an ERROR that never completes is not answered (SPEC 7.4). *)
      shutdown_and_close c.fd;
      raise (Finish "TIMEOUT: the peer's ERROR frame was not completed")
    | Some _, _ ->
      reject c TIMEOUT None
        (Printf.sprintf "frame not completed within %g s" cfg.frame_timeout)
    | None, _ ->
      reject c TIMEOUT None (Printf.sprintf "no frame for %g s" cfg.idle_timeout) in
  try loop () with Finish why -> why

let log_connection c why =
  info "%s: closed after %d frames in (%d bytes), %d frames out (%d bytes): %s"
    c.peer c.frames_in c.bytes_in c.frames_out c.bytes_out why

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
    if ai.Unix.ai_family = Unix.PF_INET6 then Unix.setsockopt fd Unix.IPV6_ONLY v6only;
    Unix.bind fd addr;
    (* 4096, the usual kernel cap (somaxconn; listen takes the smaller): a
       burst of clients waits in the accept queue for its answer, where past
       a backlog of 128 their SYNs were dropped and retried 1, 3, 7 s later. *)
    Unix.listen fd 4096;
    (* Non-blocking: a connection reset between select and accept must
       not block the loop. *)
    Unix.set_nonblock fd;
    fd
  with e -> Unix.close fd; raise e

(* Binds every address the host resolves to (e.g. both ::1 and 127.0.0.1
   for "localhost") on one port: the first bind picks it when port = 0.
   A lone IPv6 address ("::") also takes IPv4 (SPEC 9.3). *)
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
          warn "not listening on %s: %s" (string_of_sockaddr ai.Unix.ai_addr)
            (Unix.error_message e);
          None)
      rest in
  fd0 :: others, actual

(* The UDP port is taken (--port 0 then starts again, SPEC 15.8). *)
exception Udp_port_taken of string

(* The UDP sockets of SPEC 15.8, on the addresses the host resolves to and
   the port TCP got.  No SO_REUSEADDR: on Linux it would let a second
   server bind the same UDP port and share its datagrams.  Non-blocking,
   so that the loop reads until EAGAIN. *)
let bind_udp host port =
  let ais =
    try Unix.getaddrinfo host (string_of_int port) [ Unix.AI_SOCKTYPE Unix.SOCK_DGRAM; Unix.AI_PASSIVE ]
    with Not_found -> [] in
  if ais = [] then failf ADDRESS "cannot resolve %S" host;
  let v6only = List.length ais > 1 in
  let open_one ai =
    let fd = Unix.socket ~cloexec:true ai.Unix.ai_family Unix.SOCK_DGRAM 0 in
    try
      if ai.Unix.ai_family = Unix.PF_INET6 then Unix.setsockopt fd Unix.IPV6_ONLY v6only;
      Unix.bind fd ai.Unix.ai_addr;
      Unix.set_nonblock fd;
      fd
    with e -> Unix.close fd; raise e in
  match ais with
  | [] -> assert false
  | ai :: rest ->
    let fd0 =
      try open_one ai with
      | Unix.Unix_error (Unix.EADDRINUSE, _, _) ->
        raise (Udp_port_taken (string_of_sockaddr ai.Unix.ai_addr))
      | Unix.Unix_error (e, _, _) ->
        failf ADDRESS "cannot bind UDP %s: %s" (string_of_sockaddr ai.Unix.ai_addr)
          (Unix.error_message e) in
    fd0 :: List.filter_map (fun ai ->
        match open_one ai with
        | fd -> Some fd
        | exception Unix.Unix_error (e, _, _) ->
          warn "not serving UDP on %s: %s" (string_of_sockaddr ai.Unix.ai_addr)
            (Unix.error_message e);
          None)
      rest

(* TCP first, then UDP on the same number (SPEC 15.8).  With --port 0 the
   number TCP got may be taken for UDP: close both and start again; a
   handful of tries is plenty, the ephemeral range being thousands wide. *)
let listen_tcp_udp ~udp host port =
  let close_all = List.iter (fun fd -> try Unix.close fd with Unix.Unix_error _ -> ()) in
  let rec go tries =
    let listeners, actual = listen_all host port in
    if not udp then listeners, [], actual
    else
      match bind_udp host actual with
      | udps -> listeners, udps, actual
      | exception Udp_port_taken _ when port = 0 && tries > 1 -> close_all listeners; go (tries - 1)
      | exception Udp_port_taken a -> close_all listeners; failf ADDRESS "cannot bind UDP %s: port in use" a
      | exception e -> close_all listeners; raise e in
  go 20

(* Datagrams read per ready UDP socket per turn of the loop, so that a
   flood of datagrams cannot keep the loop from accepting. *)
let udp_batch = 64

let stop = ref false

(* Refuses [fd] with [frame] (an ERROR(LIMIT)) in the parent, at once:
   forking a child per refusal let a flood of over-limit clients become a
   flood of processes.  The socket's send buffer is empty, so one
   non-blocking write takes the whole frame; what the client already sent
   is read (once, without waiting) so that close sends a FIN, not an RST
   that could destroy the ERROR in flight.  Never blocks: no drain. *)
let refuse_now =
  let scratch = Bytes.create 4096 in
  fun fd frame ->
    let attempt f = try f () with Unix.Unix_error _ -> () in
    attempt (fun () -> Unix.set_nonblock fd);
    attempt (fun () -> ignore (Unix.single_write_substring fd frame 0 (String.length frame)));
    attempt (fun () -> ignore (Unix.read fd scratch 0 (Bytes.length scratch)));
    attempt (fun () -> Unix.shutdown fd Unix.SHUTDOWN_SEND);
    attempt (fun () -> Unix.close fd)

(* Says [what] at most once a second, with how often it happened since:
   running out of descriptors or processes must not flood the log. *)
let rate_limited_warner () =
  let last = ref neg_infinity and count = ref 0 in
  fun what ->
    incr count;
    let now = Unix.gettimeofday () in
    if now -. !last >= 1.0 then begin
      warn "%s (%d time%s since the last such line)" what !count (if !count = 1 then "" else "s");
      last := now;
      count := 0
    end

let main ~udp host port table cfg =
  let listeners, udps, actual = listen_tcp_udp ~udp host port in
  (* A descriptor kept in reserve (libuv's EMFILE trick): out of
     descriptors, we give it back, accept the pending connections and
     refuse them, then take it back, so a ready listener never spins.
     Taken before the port is printed: ready means ready. *)
  let open_reserve () =
    try Some (Unix.openfile "/dev/null" [ Unix.O_RDONLY; Unix.O_CLOEXEC ] 0)
    with Unix.Unix_error _ -> None in
  let reserve = ref (open_reserve ()) in
  Printf.printf "%d\n%!" actual;
  info "listening on %s port %d%s (max payload %d, max conns %d, %d vectors)"
    host actual (if udps = [] then "" else ", UDP too") cfg.max_payload cfg.max_conns
    (Hashtbl.length table);
  (* pid -> peer, one per connection being served (refusals fork none). *)
  let children = Hashtbl.create 64 in
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
  let limit_frame why = error_frame ~code:(code_number LIMIT) why in
  let over_conns = limit_frame (Printf.sprintf "too many connections (%d)" cfg.max_conns) in
  let no_fds = limit_frame "server out of descriptors" in
  let no_procs = limit_frame "server out of processes" in
  (* Without a reserve, accepting pauses until [paused_until] (the 100 ms
     of SPEC 9.3); after a failed fork, connections are refused without
     trying to fork until [fork_failed_until]. *)
  let paused_until = ref 0.0 in
  let fork_failed_until = ref 0.0 in
  let warn_fds = rate_limited_warner () and warn_fork = rate_limited_warner () in
  let spawn fd addr =
    let peer = string_of_sockaddr addr in
    if Hashtbl.length children >= cfg.max_conns then begin
      refuse_now fd over_conns;
      info "%s: closed after 0 frames in (0 bytes), 1 frames out (%d bytes): sent ERROR LIMIT: \
            too many connections (%d)" peer (String.length over_conns) cfg.max_conns
    end
    else if Unix.gettimeofday () < !fork_failed_until then begin
      refuse_now fd no_procs;
      warn_fork "fork failed recently: refusing connections with LIMIT"
    end
    else begin
      flush stdout; flush stderr;
      match Unix.fork () with
      | 0 ->
        (* Child: never return into the accept loop, whatever happens. *)
        (try
           List.iter Unix.close listeners;
           List.iter Unix.close udps;
           Option.iter Unix.close !reserve;
           Sys.set_signal Sys.sigchld Sys.Signal_default;
           let on_stop = Sys.Signal_handle (fun _ -> stopping := true) in
           Sys.set_signal Sys.sigterm on_stop;
           Sys.set_signal Sys.sigint on_stop;
           Unix.clear_nonblock fd;
           let c = { fd; cfg; peer; peer_max = None;
                     frames_in = 0; bytes_in = 0; frames_out = 0; bytes_out = 0 } in
           let why = serve_connection table c in
           log_connection c why;
           Unix._exit 0
         with e ->
           warn "connection handler crashed: %s" (Printexc.to_string e);
           Unix._exit 1)
      | pid ->
        Unix.close fd;
        Hashtbl.replace children pid peer
      | exception Unix.Unix_error (e, _, _) ->
        refuse_now fd no_procs;
        fork_failed_until := Unix.gettimeofday () +. 0.1;
        warn_fork ("fork failed: " ^ Unix.error_message e ^ "; refusing connections with LIMIT")
    end in
  (* Out of descriptors: refuse what is pending through the reserve, or
     pause; never spin on a ready listener. *)
  let out_of_fds lfd e =
    warn_fds ("accept: " ^ Unix.error_message e ^ ": refusing connections with LIMIT");
    match !reserve with
    | None -> paused_until := Unix.gettimeofday () +. 0.1; reserve := open_reserve ()
    | Some r ->
      Unix.close r;
      reserve := None;
      (* Bounded, so that a flood cannot keep us here. *)
      let rec drain n =
        if n > 0 then
          match Unix.accept ~cloexec:true lfd with
          | fd, _ -> refuse_now fd no_fds; drain (n - 1)
          | exception Unix.Unix_error _ -> () in
      drain 256;
      reserve := open_reserve ();
      if !reserve = None then paused_until := Unix.gettimeofday () +. 0.1 in
  (* SPEC 15.3: one datagram, one answer (or none) to its source; nothing
     is kept between datagrams.  A reply that cannot be sent now (a full
     send buffer) is dropped, which the client sees as a loss. *)
  let udp_buf = Bytes.create Udp.recv_buffer_size in
  let udp_in = ref 0 and udp_out = ref 0 in
  let warn_udp = rate_limited_warner () in
  let serve_datagrams fd =
    let rec go k =
      if k > 0 && not !stop then
        match Udp.recv fd udp_buf with
        | exception Error { code = TIMEOUT; _ } -> ()
        | exception Error e -> warn_udp ("UDP receive: " ^ string_of_error e)
        | n, src, truncated ->
          incr udp_in;
          (* A bug answering one datagram must not stop the server. *)
          (match Udp.answer table ~max_payload:cfg.max_payload ~truncated udp_buf n with
           | exception Error e -> warn_udp ("UDP answer: " ^ string_of_error e)
           | None -> ()
           | Some d ->
             match Udp.send ~dest:src fd d with
             | () -> incr udp_out
             | exception Error e -> warn_udp ("UDP send: " ^ string_of_error e));
          go (k - 1) in
    go udp_batch in
  while not !stop do
    reap ();
    let now = Unix.gettimeofday () in
    let accepting = now >= !paused_until in
    let watched = (if accepting then listeners else []) @ udps in
    (* While accepting pauses, wake when it resumes, UDP or not. *)
    let wait = if accepting then 1.0 else Float.min 1.0 (!paused_until -. now) in
    match Unix.select watched [] [] wait with
    | exception Unix.Unix_error (Unix.EINTR, _, _) -> ()
    | ready, _, _ ->
      List.iter (fun lfd ->
          if List.memq lfd udps then serve_datagrams lfd
          else if not !stop then
            match Unix.accept ~cloexec:true lfd with
            | fd, addr ->
              (try Unix.setsockopt fd Unix.TCP_NODELAY true with Unix.Unix_error _ -> ());
              spawn fd addr
            | exception Unix.Unix_error ((Unix.EINTR | Unix.EAGAIN | Unix.EWOULDBLOCK
                                         | Unix.ECONNABORTED), _, _) -> ()
            | exception Unix.Unix_error ((Unix.EMFILE | Unix.ENFILE) as e, _, _) -> out_of_fds lfd e
            | exception Unix.Unix_error (e, _, _) ->
              warn_fds ("accept: " ^ Unix.error_message e))
        ready
  done;
  (* Shutdown (SPEC 9.3): stop accepting; each child finishes the frame
     in flight (within the frame timeout), closes and exits. *)
  List.iter (fun fd -> try Unix.close fd with Unix.Unix_error _ -> ()) (listeners @ udps);
  if udps <> [] then info "UDP: %d datagrams in, %d out" !udp_in !udp_out;
  Hashtbl.iter (fun pid _ -> try Unix.kill pid Sys.sigterm with Unix.Unix_error _ -> ()) children;
  let deadline = Unix.gettimeofday () +. cfg.frame_timeout +. drain_time +. 2.0 in
  while Hashtbl.length children > 0 && Unix.gettimeofday () < deadline do
    reap ();
    if Hashtbl.length children > 0 then
      try Unix.sleepf 0.02 with Unix.Unix_error _ -> ()
  done;
  Hashtbl.iter (fun pid _ ->
      (try Unix.kill pid Sys.sigkill with Unix.Unix_error _ -> ());
      try ignore (Unix.waitpid [] pid) with Unix.Unix_error _ -> ()) children;
  info "stopped";
  exit 0

(* ------------------------------------------------------------------ *)
(* Command line (SPEC 9.3)                                             *)

(* A decimal number in lo..hi, or Arg.Bad (exit status 2). *)
let number opt lo hi r =
  Arg.String (fun s ->
      match int_of_decimal opt s with
      | n when n >= lo && n <= hi -> r := n
      | _ | (exception Error _) ->
        raise (Arg.Bad (Printf.sprintf "%s %s: expected a number in %d..%d" opt s lo hi)))

let usage =
  "usage: server.exe [options]\n\
   Serves the wire interop service (SPEC.md section 10) over TCP (and with --udp over UDP too,\n\
   section 15); prints the port alone on the first line of stdout.  Options (SPEC 9.3):"

let () =
  let host = ref "127.0.0.1" and port = ref 0 and vectors = ref "" in
  let max_payload = ref default_max_payload and max_conns = ref 1024 in
  let idle = ref 60 and frame = ref 10 and udp = ref false in
  let specs =
    [ "--host", Arg.Set_string host, "H  address to listen on (default 127.0.0.1; '::' = IPv6 and IPv4)";
      "--port", number "--port" 0 65535 port, "P  TCP port, 0..65535 (default 0: the system picks one)";
      "--max-payload", number "--max-payload" min_max_payload (u32_max - header_size) max_payload,
      "BYTES  largest payload accepted, announced in HELLO (default 16777216, at least 1037)";
      "--max-conns", number "--max-conns" 1 1_000_000 max_conns,
      "N  connections at once (default 1024); one more gets ERROR(LIMIT) and is closed";
      "--idle-timeout", number "--idle-timeout" 1 86400 idle,
      "SEC  no complete frame for SEC s: ERROR(TIMEOUT), close (default 60)";
      "--frame-timeout", number "--frame-timeout" 1 86400 frame,
      "SEC  a started frame must be complete within SEC s, else ERROR(TIMEOUT), close (default 10)";
      "--vectors", Arg.Set_string vectors,
      "FILE  vectors for VECTOR_CHECK/VECTOR_GET (default: proto/vectors.txt, SPEC 10.10)";
      "--quiet", Arg.Set quiet, " no per-connection log lines on stderr";
      "--udp", Arg.Set udp,
      " also serve the UDP datagram profile (SPEC 15) on the UDP port with the TCP port's number";
      "--version", Arg.Unit (fun () ->
          Printf.printf "%s %s, wire protocol version %d\n" prog prog_version protocol_version;
          exit 0),
      " print the program's and the protocol's versions";
      (* SPEC 9.3 has --help only: keep Arg from accepting its own -help. *)
      "-help", Arg.Unit (fun () -> raise (Arg.Bad "unknown option '-help'")), "" ] in
  Arg.parse specs (fun a -> raise (Arg.Bad ("unexpected argument " ^ a))) usage;
  Sys.set_signal Sys.sigpipe Sys.Signal_ignore;
  (* A closed terminal must not stop the server: SIGTERM does (SPEC 9.3). *)
  Sys.set_signal Sys.sighup Sys.Signal_ignore;
  let table =
    let path = if !vectors <> "" then Some !vectors else Wire.Text.default_proto_file "vectors.txt" in
    match path with
    | None ->
      warn "no proto/vectors.txt found (use --vectors): VECTOR_CHECK/GET answer 'unknown'";
      Hashtbl.create 1
    | Some p ->
      match Wire.Interop.table_of_vectors (Wire.Text.load_vectors p) with
      | t -> t
      | exception Error e -> warn "%s" (string_of_error e); exit 2
      | exception Sys_error m -> warn "%s" m; exit 2 in
  let cfg = { max_payload = !max_payload; max_conns = !max_conns;
              idle_timeout = float_of_int !idle; frame_timeout = float_of_int !frame } in
  try main ~udp:!udp !host !port table cfg
  with Error e ->
    warn "%s" (string_of_error e);
    exit 2
