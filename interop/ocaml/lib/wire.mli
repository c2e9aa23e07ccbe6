(* SPDX-License-Identifier: MIT *)
(** The wire protocol, version 1: typed fields inside length-prefixed
    frames, exchanged over TCP by C, Python, Perl and OCaml peers.

    The library [wire-protocol] has this one module.  At its top level:
    error codes, the value model, the strict codec, frame headers, an
    incremental frame parser, blocking I/O helpers and the control
    messages (HELLO, ERROR, PING/PONG, BYE), all documented in [core.mli].
    Its submodules:
    - {!Text}: the [proto/] notation (hex, values, the [proto/] files);
    - {!Interop}: the interop service logic (STATS, VECTOR_CHECK
      comparison, request dispatch, no sockets);
    - {!Conn}: a client connection (HELLO done for you, PINGs answered,
      send, recv, request, ping, bye), the shape of C's [wire_conn];
    - {!Udp}: the UDP datagram profile (SPEC 15): request ids, the
      receiving checks, a server's answer to one datagram, [recvfrom] with
      truncation detected.

    All failures are reported by raising {!Error}; {!catch} turns that
    into a [result]. *)

include module type of struct include Core end

module Text = Text
module Interop = Interop
module Conn = Conn
module Udp = Udp
