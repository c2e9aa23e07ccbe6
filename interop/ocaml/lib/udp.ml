(* SPDX-License-Identifier: MIT *)
(* The UDP datagram profile (SPEC 15): see udp.mli. *)

open Core

let max_datagram = 65535 - 20 - 8
let id_size = 4
let max_payload = max_datagram - id_size - header_size
let recv_buffer_size = max_datagram + 1

let check_id id =
  if id < 0 || id > u32_max then failf INVAL "request id %d is not in 0..4294967295" id

let put_id b id =
  Bytes.set_uint8 b 0 ((id lsr 24) land 0xFF);
  Bytes.set_uint8 b 1 ((id lsr 16) land 0xFF);
  Bytes.set_uint8 b 2 ((id lsr 8) land 0xFF);
  Bytes.set_uint8 b 3 (id land 0xFF)

let encode ?(max_payload = max_payload) ~id msg_type payload =
  check_id id;
  let len = String.length payload in
  if len > max_payload then
    failf TOOBIG "payload of %d bytes exceeds the datagram limit %d" len max_payload;
  let header = encode_header ~msg_type ~length:len in
  let b = Bytes.create (id_size + header_size + len) in
  put_id b id;
  Bytes.blit_string header 0 b id_size header_size;
  Bytes.blit_string payload 0 b (id_size + header_size) len;
  Bytes.unsafe_to_string b

let error_datagram ~id code offset text =
  encode ~id Msg.error
    (error_payload ~code:(code_number code) ?offset (utf8_prefix text max_error_text))

type datagram = { id : int; msg_type : int; payload : string }

type verdict = Drop | Bad of int * error | Datagram of datagram

let bad id code offset fmt =
  Printf.ksprintf (fun message -> Bad (id, { code; offset = Some offset; message })) fmt

let check ?(max_payload = max_payload) ?(truncated = false) buf n =
  if n < 0 || n > Bytes.length buf then failf INVAL "datagram length %d outside the buffer" n;
  if n < id_size then Drop
  else
    let id = Int32.to_int (Bytes.get_int32_be buf 0) land 0xFFFF_FFFF in
    let limit = min max_payload (u32_max - header_size) in
    if n < id_size + header_size then
      bad id TRUNCATED 0 "datagram of %d bytes: the frame header needs 8 after the id" n
    else
      match check_header_bytes ~max_payload:limit buf id_size (n - id_size) with
      | exception Error e -> Bad (id, e)
      | None -> assert false (* n - 4 >= 8 *)
      | Some h ->
        let whole = id_size + header_size + h.length in
        (* Step 4: once its header passed, an ERROR frame is trusted to be
           one and never answered, even when its size disagrees (7.4);
           the receiving client drops such a bad datagram too. *)
        if h.msg_type = Msg.error && (n <> whole || truncated) then Drop
        else if n <> whole then
          bad id LENGTH 4 "datagram of %d bytes, its header says %d" n whole
        else if truncated then
          (* Cut where a frame could end: still not the datagram sent. *)
          bad id LENGTH 4 "datagram truncated by the receive buffer (%d bytes kept)" n
        else
          Datagram { id; msg_type = h.msg_type;
                     payload = Bytes.sub_string buf (id_size + header_size) h.length }

let check_string ?max_payload s =
  check ?max_payload (Bytes.unsafe_of_string s) (String.length s)

(* SPEC 15.5: the stateless requests; everything else is UNEXPECTED. *)
let answer table ~max_payload:own ?truncated buf n =
  let limit = min own max_payload in
  match check ~max_payload:limit ?truncated buf n with
  | Drop -> None
  | Bad (id, e) -> Some (error_datagram ~id e.code e.offset e.message)
  | Datagram d ->
    let reply ty p =
      if String.length p > max_payload then
        Some (error_datagram ~id:d.id TOOBIG None
                (Printf.sprintf "reply of %d bytes does not fit in a datagram (%d at most)"
                   (String.length p) max_payload))
      else Some (encode ~id:d.id ty p) in
    if d.msg_type = Msg.error then None (* SPEC 7.4: never answered *)
    else if d.msg_type = Msg.ping then reply Msg.pong d.payload
    else if Interop.is_service_request d.msg_type then
      match Interop.serve table d.msg_type d.payload with
      | ty, p -> reply ty p
      | exception Error e ->
        let e = shift_error header_size e in
        Some (error_datagram ~id:d.id e.code e.offset e.message)
    else
      Some (error_datagram ~id:d.id UNEXPECTED (Some 2)
              (Printf.sprintf "%s is not served over UDP" (Msg.name d.msg_type)))

let socket_error what (err : Unix.error) =
  match err with
  | Unix.EAGAIN | Unix.EWOULDBLOCK | Unix.ENOBUFS -> failf TIMEOUT "%s: %s" what (Unix.error_message err)
  | Unix.ECONNREFUSED -> failf CLOSED "%s: %s" what (Unix.error_message err)
  | e -> failf IO "%s: %s" what (Unix.error_message e)

let rec recv ?deadline fd buf =
  wait_ready ?deadline fd ~write:false;
  match Unix.recvfrom fd buf 0 (Bytes.length buf) [] with
  | n, src -> n, src, n = Bytes.length buf
  | exception Unix.Unix_error (Unix.EINTR, _, _) -> recv ?deadline fd buf
  | exception Unix.Unix_error (e, _, _) -> socket_error "recvfrom" e

let rec send ?dest fd s =
  let len = String.length s in
  match
    match dest with
    | Some a -> Unix.sendto_substring fd s 0 len [] a
    | None -> Unix.send_substring fd s 0 len []
  with
  | n when n = len -> ()
  | n -> failf IO "sendto: %d of %d bytes sent" n len
  | exception Unix.Unix_error (Unix.EINTR, _, _) -> send ?dest fd s
  | exception Unix.Unix_error (e, _, _) -> socket_error "sendto" e
