(* SPDX-License-Identifier: MIT *)
(** A client connection: the protocol of SPEC 7 and 8 over one blocking
    socket, the shape of C's [wire_conn] blocking helpers
    ([wire_conn_connect], [wire_conn_send], [wire_conn_recv],
    [wire_conn_request], [wire_conn_ping], [wire_conn_hangup]).

    It does the protocol's own work so that what reaches the caller are
    application messages: the HELLO exchange (done by {!connect}), a PONG
    for every PING (also while a reply is awaited, SPEC 7.5), a received
    ERROR turned into an exception, the peer's BYE answered, the checks of
    SPEC 8.3 in order (a frame breaking them is answered with its ERROR and
    the connection closed, 8.4), BYE at the end.

    Errors are raised as [Wire.Error], as everywhere in this library
    ([Wire.catch] turns them into a [result]):
    - [ADDRESS]: the host does not resolve; [IO]: connecting or another
      system call failed (the message says why);
    - [TIMEOUT]: the [?timeout] of the call (seconds, default: none)
      passed.  While waiting for a frame this leaves the connection usable
      (a frame half received is kept); during a write it closes it;
    - [PEER]: the peer sent ERROR (its code, offset and text are in the
      message, e.g. ["peer sent ERROR LIMIT (19): a resource limit was
      reached: too many connections"], and in {!peer_error});
    - [CLOSED]: the peer closed at a frame boundary, or answered our BYE,
      or said BYE itself (answered), or the connection was closed before
      the call; [TRUNCATED]: it closed in the middle of a frame;
    - the code of the ERROR we sent when the peer broke the protocol
      (e.g. [UNEXPECTED] at offset 2 for a reserved type, [VERSION] at 9
      for a HELLO of another version; offsets count the frame header);
    - [TOOBIG]: a payload over the peer's max_payload (nothing sent), or a
      PING whose PONG would exceed it (answered ERROR(TOOBIG));
    - [INVAL]: a misuse (sending on a closed connection or after {!bye}, a
      type that is not an application's).

    Every error but [TIMEOUT] while waiting, [TOOBIG] before sending and
    [INVAL] ends the connection ({!is_open} is then [false]).  One thread
    at a time may use a connection.  The socket is blocking: a write to a
    peer that does not read can outlast [?timeout].

    {!connect} sets SIGPIPE to ignored if it is at its default, so that a
    write to a closed socket raises [CLOSED] instead of killing the
    program. *)

type t

val connect :
  ?name:string -> ?max_payload:int -> ?timeout:float -> string -> int -> t
(** [connect host port]: every address of [host] in turn, then the HELLO
    exchange, all within [timeout].  [name] (default ["ocaml-client"], at
    most 255 bytes) and [max_payload] (the largest payload we accept,
    default 16777216, at least 1037) go in our HELLO ([RANGE] otherwise,
    before connecting).  A message that came with the server's HELLO waits
    for {!recv}. *)

val connect_unix :
  ?name:string -> ?max_payload:int -> ?timeout:float -> string -> t
(** The same over a Unix-domain socket at this path. *)

val of_fd :
  ?name:string -> ?max_payload:int -> ?timeout:float -> ?peer_addr:string ->
  Unix.file_descr -> t
(** The HELLO exchange over a connected stream socket, which the
    connection then owns (closed on failure too). *)

val send : t -> int -> string -> unit
(** [send c msg_type payload] writes one frame.  [msg_type] must be an
    application's (0x0100..0x01FF or 0x8000..0xFFFF: PING and BYE have
    their own calls), else [INVAL]; a payload over {!peer_max} is [TOOBIG]
    and nothing is sent.  The payload is sent as it is (encode it with
    [Wire.encode_fields] or [Wire.Writer]). *)

val recv : ?timeout:float -> t -> int * string
(** The next application message, [(msg_type, payload)] (the payload not
    decoded: [Wire.decode_fields] it), answering the PINGs that come
    first.  At the end it raises instead of returning: [CLOSED] when the
    peer closed or said BYE, [PEER] when it sent ERROR, and so on. *)

val request : ?timeout:float -> t -> int -> string -> int * string
(** {!send}, then {!recv}: the reply (SPEC 8.1: replies come in order). *)

val ping : ?timeout:float -> t -> string -> float
(** Sends PING with this payload and waits for its PONG; returns the round
    trip in seconds.  Application messages that arrive first are kept, in
    order, for {!recv}.  [TOOBIG] for a payload over {!peer_max}. *)

val bye : ?timeout:float -> t -> unit
(** Says BYE and waits (at most [timeout], default 1 s) for the peer's BYE
    or EOF, discarding the replies still to come and answering no PING
    (SPEC 8.5); then closes.  The connection is closed afterwards whatever
    happens; [TIMEOUT] if the peer did neither in time, another code if
    the connection failed meanwhile.  Nothing on a closed connection. *)

val close : t -> unit
(** Closes the socket at once, without BYE (prefer {!bye}).  Never raises;
    nothing on a closed connection. *)

val is_open : t -> bool
(** [true] until the connection ends (an error, BYE, {!close}). *)

val fd : t -> Unix.file_descr
val peer_name : t -> string
(** The name in the peer's HELLO. *)

val peer_max : t -> int
(** The max_payload in the peer's HELLO: the largest payload {!send} sends. *)

val peer_addr : t -> string
(** ["127.0.0.1:7000"], ["[::1]:7000"], the socket's path, or what
    {!of_fd} was given (default ["?"]). *)

val peer_error : t -> Core.error_message option
(** The ERROR the peer ended the connection with, if it did. *)
