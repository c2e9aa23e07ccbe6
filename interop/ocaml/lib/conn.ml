(* SPDX-License-Identifier: MIT *)
(* A blocking client connection over Core's parser and I/O helpers.  Frames
   are taken from an incremental parser, so a frame cut by a timeout is
   kept, and a header is judged (SPEC 8.3 step 3) as soon as its 8 bytes
   are in, before its payload. *)

open Core

type state = Open | Bye_sent | Closed

type t = {
  fd : Unix.file_descr;
  parser : Parser.t;
  buf : Bytes.t;
  peer_addr : string;
  mutable state : state;
  mutable handshake_done : bool;
  mutable peer_max : int;
  mutable peer_name : string;
  mutable peer_error : error_message option;
  (* PONGs owed to us: a PONG is only valid as an answer (SPEC 7.5). *)
  mutable pings_sent : int;
  mutable pongs_got : int;
  (* Application messages that came while ping waited for its PONG. *)
  held : (int * string) Queue.t;
}

let fd c = c.fd
let peer_name c = c.peer_name
let peer_max c = c.peer_max
let peer_addr c = c.peer_addr
let peer_error c = c.peer_error
let is_open c = c.state <> Closed

let deadline_of = function
  | None -> None
  | Some s -> Some (Unix.gettimeofday () +. s)

let close_quietly fd = try Unix.close fd with Unix.Unix_error _ -> ()

let close c =
  if c.state <> Closed then begin
    c.state <- Closed;
    close_quietly c.fd
  end

(* The end after a protocol event: shutdown, bounded drain, close (8.4). *)
let finish c =
  if c.state <> Closed then begin
    c.state <- Closed;
    shutdown_and_close c.fd
  end

let is_app ty = (ty >= 0x0100 && ty <= 0x01FF) || (ty >= 0x8000 && ty <= 0xFFFF)

(* The peer broke the protocol: answer its ERROR (never to an ERROR, which
   never gets here), close gracefully, raise the same code and offset. *)
let fail_peer c code offset msg =
  if c.state <> Closed then begin
    let text = utf8_prefix (code_meaning code ^ ": " ^ msg) max_error_text in
    (try
       write_all ~deadline:(Unix.gettimeofday () +. drain_time) c.fd
         (error_frame ~code:(code_number code) ?offset text)
     with Error _ -> ());
    finish c
  end;
  fail ?offset code msg

let unexpected c ty =
  fail_peer c UNEXPECTED (Some 2)
    (Printf.sprintf "%s not allowed %s" (Msg.name ty)
       (if c.handshake_done then "after the handshake" else "before HELLO"))

let peer_sent_error c payload =
  let text =
    match parse_error_message payload with
    | m ->
      c.peer_error <- Some m;
      Printf.sprintf "peer sent ERROR %s (%d)%s: %s" (code_number_name m.err_code) m.err_code
        (match m.err_offset with Some o -> Printf.sprintf " at offset %d" o | None -> "")
        m.err_text
    | exception Error e -> "peer sent a malformed ERROR: " ^ string_of_error e in
  finish c;
  fail PEER text

(* A failed system call ends the connection, except a read that timed out:
   the parser keeps what came, so the next call goes on from there. *)
let guard_read c f =
  try f () with Error e as ex when e.code <> TIMEOUT -> close c; raise ex

let guard_write c f =
  try f () with Error _ as ex -> close c; raise ex

let write c deadline frame = guard_write c (fun () -> write_all ?deadline c.fd frame)

let allowed c ty =
  if not c.handshake_done then ty = Msg.hello || ty = Msg.error
  else
    ty = Msg.error || ty = Msg.ping || ty = Msg.bye || is_app ty
    || (ty = Msg.pong && c.pongs_got < c.pings_sent)

(* The next complete frame, header and payload checked as SPEC 2.3 and 8.3
   steps 1 and 3 say. *)
let rec next_frame c deadline =
  if c.state = Closed then fail CLOSED "the connection is closed";
  match Parser.next c.parser with
  | Parser.Frame (ty, payload) ->
    if not (allowed c ty) then unexpected c ty;
    ty, payload
  | Parser.Failed e -> fail_peer c e.code e.offset e.message
  | Parser.Await ->
    (match Parser.pending c.parser with
     | Some h when not (allowed c h.msg_type) -> unexpected c h.msg_type
     | _ -> ());
    let n = guard_read c (fun () -> read_some ?deadline c.fd c.buf 0 (Bytes.length c.buf)) in
    if n = 0 then begin
      let cut = Parser.in_frame c.parser in
      finish c;
      if cut then fail TRUNCATED "connection closed by peer inside a frame"
      else fail CLOSED "connection closed by peer"
    end;
    (* feed copies the bytes, so the buffer can be reused at once. *)
    Parser.feed c.parser (Bytes.unsafe_to_string c.buf) 0 n;
    next_frame c deadline

type event = App of int * string | Pong | Bye

(* One frame after the handshake: the protocol's own are handled here. *)
let rec next_event c deadline =
  let ty, payload = next_frame c deadline in
  if ty = Msg.error then peer_sent_error c payload
  else if ty = Msg.ping then begin
    (* A side that has sent BYE sends nothing more (SPEC 7.5). *)
    if c.state = Open then begin
      if String.length payload > c.peer_max then
        fail_peer c TOOBIG None
          (Printf.sprintf "PING of %d bytes: its PONG would exceed the peer's max_payload %d"
             (String.length payload) c.peer_max);
      write c deadline (pong_frame payload)
    end;
    next_event c deadline
  end
  else if ty = Msg.pong then begin
    c.pongs_got <- c.pongs_got + 1;
    Pong
  end
  else if ty = Msg.bye then begin
    (match validate_fields payload with
     | () -> ()
     | exception Error e -> fail_peer c e.code (Option.map (( + ) 8) e.offset) ("BYE: " ^ e.message));
    if c.state = Open then (try write_all ?deadline c.fd bye_frame with Error _ -> ());
    finish c;
    Bye
  end
  else App (ty, payload)

let handshake c deadline name max_payload =
  write c deadline (hello_frame ~max_payload name);
  let ty, payload = next_frame c deadline in
  if ty = Msg.error then peer_sent_error c payload;
  match parse_hello payload with
  | h ->
    c.peer_max <- h.max_payload;
    c.peer_name <- h.peer_name;
    c.handshake_done <- true
  | exception Error e ->
    fail_peer c e.code (Option.map (( + ) 8) e.offset) ("HELLO: " ^ e.message)

let check_hello_args name max_payload =
  (* hello_payload refuses what a receiver would refuse (RANGE). *)
  ignore (hello_payload ~max_payload name)

let of_fd_deadline ~name ~max_payload deadline peer_addr fd =
  let c = {
    fd; parser = Parser.create ~max_payload (); buf = Bytes.create 65536; peer_addr;
    state = Open; handshake_done = false; peer_max = 0; peer_name = "";
    peer_error = None; pings_sent = 0; pongs_got = 0; held = Queue.create ();
  } in
  (* The connection owns fd from here: a handshake that timed out (which
     leaves a connection open elsewhere) must not leak it. *)
  (match handshake c deadline name max_payload with
   | () -> ()
   | exception e -> close c; raise e);
  c

let of_fd ?(name = "ocaml-client") ?(max_payload = default_max_payload) ?timeout
    ?(peer_addr = "?") fd =
  (match check_hello_args name max_payload with
   | () -> ()
   | exception e -> close_quietly fd; raise e);
  of_fd_deadline ~name ~max_payload (deadline_of timeout) peer_addr fd

let ignore_sigpipe () =
  match Sys.signal Sys.sigpipe Sys.Signal_ignore with
  | Sys.Signal_default -> ()
  | old -> Sys.set_signal Sys.sigpipe old
  | exception Invalid_argument _ -> ()

(* Non-blocking connect and select, so that connecting obeys the deadline
   too; the socket is blocking afterwards. *)
let connect_sockaddr deadline family addr =
  let fd = Unix.socket ~cloexec:true family Unix.SOCK_STREAM 0 in
  try
    Unix.set_nonblock fd;
    (try Unix.connect fd addr with
     | Unix.Unix_error ((Unix.EINPROGRESS | Unix.EAGAIN), _, _) ->
       wait_ready ?deadline fd ~write:true;
       (* Without a deadline wait_ready returns at once: wait here. *)
       if deadline = None then ignore (Unix.select [] [ fd ] [] (-1.));
       match Unix.getsockopt_error fd with
       | None -> ()
       | Some e -> raise (Unix.Unix_error (e, "connect", "")));
    Unix.clear_nonblock fd;
    fd
  with e -> close_quietly fd; raise e

let string_of_sockaddr = function
  | Unix.ADDR_UNIX p -> p
  | Unix.ADDR_INET (a, p) ->
    let h = Unix.string_of_inet_addr a in
    if String.contains h ':' then Printf.sprintf "[%s]:%d" h p else Printf.sprintf "%s:%d" h p

let connect ?(name = "ocaml-client") ?(max_payload = default_max_payload) ?timeout host port =
  check_hello_args name max_payload;
  if port < 1 || port > 65535 then failf INVAL "port %d is not in 1..65535" port;
  ignore_sigpipe ();
  let deadline = deadline_of timeout in
  let ais =
    try Unix.getaddrinfo host (string_of_int port) [ Unix.AI_SOCKTYPE Unix.SOCK_STREAM ]
    with Not_found -> [] in
  if ais = [] then failf ADDRESS "cannot resolve %s" host;
  let rec go last = function
    | [] -> failf IO "cannot connect to %s port %d: %s" host port last
    | ai :: rest ->
      match connect_sockaddr deadline ai.Unix.ai_family ai.Unix.ai_addr with
      | fd ->
        (try Unix.setsockopt fd Unix.TCP_NODELAY true with Unix.Unix_error _ -> ());
        of_fd_deadline ~name ~max_payload deadline (string_of_sockaddr ai.Unix.ai_addr) fd
      | exception Unix.Unix_error (e, _, _) -> go (Unix.error_message e) rest in
  go "no address" ais

let connect_unix ?(name = "ocaml-client") ?(max_payload = default_max_payload) ?timeout path =
  check_hello_args name max_payload;
  ignore_sigpipe ();
  let deadline = deadline_of timeout in
  match connect_sockaddr deadline Unix.PF_UNIX (Unix.ADDR_UNIX path) with
  | fd -> of_fd_deadline ~name ~max_payload deadline path fd
  | exception Unix.Unix_error (e, _, _) ->
    failf IO "cannot connect to %s: %s" path (Unix.error_message e)

let check_sendable c what len =
  (match c.state with
   | Open -> ()
   | Bye_sent -> failf INVAL "%s: BYE was sent, nothing more may be" what
   | Closed -> failf INVAL "%s: the connection is closed" what);
  if len > c.peer_max then
    failf TOOBIG "%s: payload of %d bytes exceeds the peer's max_payload %d (not sent)" what len
      c.peer_max

let send c ty payload =
  if not (is_app ty) then
    failf INVAL "send: %s is not an application message type" (Msg.name ty);
  check_sendable c "send" (String.length payload);
  guard_write c (fun () -> write_frame ~max_payload:c.peer_max c.fd ty payload)

let rec recv_deadline c deadline =
  if not (Queue.is_empty c.held) then Queue.pop c.held
  else if c.state = Closed then fail CLOSED "the connection is closed"
  else
    match next_event c deadline with
    | App (ty, payload) -> ty, payload
    | Pong -> recv_deadline c deadline
    | Bye -> fail CLOSED "the peer said BYE"

let recv ?timeout c = recv_deadline c (deadline_of timeout)

let request ?timeout c ty payload =
  let deadline = deadline_of timeout in
  send c ty payload;
  recv_deadline c deadline

let ping ?timeout c payload =
  check_sendable c "ping" (String.length payload);
  let deadline = deadline_of timeout in
  let t0 = Unix.gettimeofday () in
  write c deadline (ping_frame payload);
  c.pings_sent <- c.pings_sent + 1;
  (* PONGs come in the order of the PINGs: ours is this one. *)
  let mine = c.pings_sent in
  let rec wait () =
    if c.pongs_got < mine then
      match next_event c deadline with
      | App (ty, p) -> Queue.push (ty, p) c.held; wait ()
      | Pong -> wait ()
      | Bye -> fail CLOSED "the peer said BYE" in
  wait ();
  Unix.gettimeofday () -. t0

let bye ?(timeout = drain_time) c =
  if c.state = Open then begin
    let deadline = deadline_of (Some timeout) in
    Queue.clear c.held;
    (match write_all ?deadline c.fd bye_frame with
     | () -> ()
     | exception e -> close c; raise e);
    c.state <- Bye_sent;
    let rec wait () =
      match next_event c deadline with
      | App _ | Pong -> wait ()
      | Bye -> () in
    match wait () with
    | () -> ()
    | exception Error { code = CLOSED; _ } -> close c
    | exception e -> close c; raise e
  end
