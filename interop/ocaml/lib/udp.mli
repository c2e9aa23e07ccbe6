(* SPDX-License-Identifier: MIT *)
(** The UDP datagram profile (SPEC 15): one request id and one frame per
    datagram, no handshake, the stateless requests only.

    A datagram is a u32 big-endian request id, then exactly one frame
    (header and payload), nothing after it (SPEC 15.2).  {!check} applies
    the receiving steps of SPEC 15.3 with the codes and frame offsets the
    C side uses; {!answer} is a whole server's reply to one datagram,
    without sockets; {!recv} and {!send} are the socket calls, with a
    buffer one byte larger than the largest datagram so that a truncated
    datagram is detected. *)

(** {1 Sizes (SPEC 15.4, [proto/limits.txt])} *)

val max_datagram : int
(** 65507: the most UDP data an IPv4 datagram carries (65535 - 20 - 8);
    [udp_max_datagram] in [proto/limits.txt]. *)

val max_payload : int
(** 65495: {!max_datagram} less the request id (4) and the frame header
    (8); [udp_max_payload] in [proto/limits.txt].  The largest payload a
    datagram carries, in a request or a reply. *)

val id_size : int
(** 4 *)

val recv_buffer_size : int
(** 65508 = {!max_datagram} + 1: a datagram that fills a buffer of this
    size was longer than any the profile allows, so it was cut (OCaml's
    [Unix] has no [recvmsg] to read [MSG_TRUNC]). *)

(** {1 Encoding} *)

val encode : ?max_payload:int -> id:int -> int -> string -> string
(** [encode ~id msg_type payload]: the 4 id bytes, then the frame.
    [INVAL] for an id outside 0..0xFFFFFFFF or a type outside 1..65535;
    [TOOBIG] (no offset) if the payload is longer than [max_payload]
    (default {!max_payload}). *)

val error_datagram : id:int -> Core.code -> int option -> string -> string
(** [error_datagram ~id code offset text]: an ERROR frame behind [id],
    [offset] a frame offset ([None]: 0xFFFFFFFF); [text] is cut to
    {!Core.max_error_text} bytes at a character boundary. *)

(** {1 Receiving (SPEC 15.3)} *)

(** A datagram that passed steps 1-5: its id, its frame's type and
    payload (not decoded). *)
type datagram = { id : int; msg_type : int; payload : string }

type verdict =
  | Drop
  (** nothing to answer: fewer than 4 bytes, no id to answer with (step
      1), or an ERROR frame whose header passed but whose size disagrees
      with it (step 4: an ERROR is never answered, and a client drops a
      bad datagram) *)
  | Bad of int * Core.error
  (** the id and the error of steps 2, 3 and 5, at a frame offset:
      [TRUNCATED] at 0 (fewer than 12 bytes), the header checks of SPEC 2.3
      ([VERSION] 0, [HEADER] 1, [HEADER] 2, [TOOBIG] 4, against
      [max_payload]), then (for any type but ERROR) [LENGTH] at 4 if the
      datagram is not exactly 12 + the header's length bytes long *)
  | Datagram of datagram

val check : ?max_payload:int -> ?truncated:bool -> Bytes.t -> int -> verdict
(** [check buf n] judges the datagram [buf.[0..n-1]] by steps 1-5 of
    SPEC 15.3 (a [Datagram] whose type is ERROR is left to the caller:
    a server drops it, a client takes it as an answer).  [max_payload]
    (default {!max_payload}) is the receiver's UDP max payload: the
    smaller of {!max_payload} and its own limit.
    [truncated] (default [false]) says the datagram was cut by the
    receive buffer ({!recv}'s flag): it is then never taken as whole
    ([LENGTH] at 4 even when the bytes that came look like a whole
    frame).  [INVAL] unless [0 <= n <= Bytes.length buf]. *)

val check_string : ?max_payload:int -> string -> verdict
(** {!check} on a whole string (never truncated). *)

(** {1 Serving (SPEC 15.3 steps 4, 6 and 7, 15.5)} *)

val answer : Interop.table -> max_payload:int -> ?truncated:bool -> Bytes.t -> int -> string option
(** [answer table ~max_payload buf n]: the datagram a server sends back
    to the datagram [buf.[0..n-1]], or [None] when it sends nothing (a
    datagram under 4 bytes, an ERROR frame).  [max_payload] is the
    server's own max payload: the UDP limit is the smaller of it and
    {!max_payload}.  PING is answered with PONG and the same payload;
    ECHO, ROUNDTRIP, VECTOR_CHECK, VECTOR_GET and STATS as over TCP
    ({!Interop.serve}, its errors at 8 + the payload offset); every other
    type with [ERROR(UNEXPECTED, 2)]; a reply longer than {!max_payload}
    with [ERROR(TOOBIG, none)].  Every answer carries the request's id. *)

(** {1 Sockets} *)

val recv : ?deadline:float -> Unix.file_descr -> Bytes.t -> int * Unix.sockaddr * bool
(** One [recvfrom] into the whole of [buf]: [(n, source, truncated)],
    [truncated] being [true] when the datagram filled [buf] (it may have
    been longer: the kernel drops the rest).  Use a buffer of
    {!recv_buffer_size} bytes: then only a datagram the profile does not
    allow fills it.  Retries on [EINTR]; [deadline] (absolute
    [Unix.gettimeofday] time) is enforced with [select]: [TIMEOUT] when it
    passes, and on [EAGAIN] (a non-blocking socket with nothing to read);
    [CLOSED] on [ECONNREFUSED] (a connected socket got an ICMP "port
    unreachable" for an earlier datagram); [IO] otherwise.  Truncation is
    reported, not raised: pass the flag to {!check}. *)

val send : ?dest:Unix.sockaddr -> Unix.file_descr -> string -> unit
(** One [sendto] ([send] on a connected socket when [dest] is absent) of
    the whole datagram.  Retries on [EINTR]; [TIMEOUT] on [EAGAIN] or
    [ENOBUFS] (the datagram was not sent: like a loss), [CLOSED] on
    [ECONNREFUSED], [IO] otherwise (e.g. [EMSGSIZE]). *)
