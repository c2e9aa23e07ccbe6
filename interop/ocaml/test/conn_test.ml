(* SPDX-License-Identifier: MIT *)
(* Wire.Conn: against the built server, against fake servers that break the
   protocol on purpose (a child process on a socketpair or a Unix socket),
   and the README's example (its source and its output must be the README's).

   conn_test.exe SERVER EXAMPLE README EXAMPLE_SOURCE *)

open Harness

let server_exe = Sys.argv.(1)
(* create_process searches PATH for a name without a slash: make it a path. *)
let example_exe =
  let p = Sys.argv.(2) in
  if Filename.is_relative p then Filename.concat (Sys.getcwd ()) p else p
let readme = Sys.argv.(3)
let example_src = Sys.argv.(4)

let () = Sys.set_signal Sys.sigpipe Sys.Signal_ignore

module C = Wire.Conn

(* The error [f] raised, checked against [code] (and [offset] if given). *)
let raises name ?offset code f =
  match f () with
  | _ -> fail_test name ("no error (expected " ^ Wire.code_name code ^ ")"); None
  | exception Wire.Error e ->
    check name
      (e.code = code && (match offset with None -> true | Some o -> e.offset = o))
      (fun () -> "raised " ^ Wire.string_of_error e);
    Some e

let contains s sub =
  let n = String.length sub in
  let rec go i = i + n <= String.length s && (String.sub s i n = sub || go (i + 1)) in
  go 0

let read_all ic =
  let b = Buffer.create 4096 in
  (try while true do Buffer.add_channel b ic 1 done with End_of_file -> ());
  Buffer.contents b

let read_file path =
  let ic = open_in_bin path in
  Fun.protect ~finally:(fun () -> close_in ic) (fun () -> read_all ic)

(* ------------------------------------------------------------------ *)
(* Fake servers                                                        *)

let dl () = Unix.gettimeofday () +. 5.0
let srv_read fd = Wire.read_frame ~deadline:(dl ()) fd
let srv_write fd s = Wire.write_all ~deadline:(dl ()) fd s

let srv_expect fd want =
  let ty, p = srv_read fd in
  if ty <> want then failwith (Printf.sprintf "expected %s, got %s" (Wire.Msg.name want) (Wire.Msg.name ty));
  p

let srv_hello ?(max_payload = Wire.default_max_payload) fd =
  ignore (Wire.parse_hello (srv_expect fd Wire.Msg.hello));
  srv_write fd (Wire.hello_frame ~max_payload "fake")

let srv_expect_error fd code offset =
  let m = Wire.parse_error_message (srv_expect fd Wire.Msg.error) in
  if m.err_code <> Wire.code_number code || m.err_offset <> offset then
    failwith (Printf.sprintf "expected ERROR %s, got ERROR %d at %s: %s" (Wire.code_name code)
                m.err_code (match m.err_offset with Some o -> string_of_int o | None -> "none")
                m.err_text)

let srv_expect_eof fd =
  match Wire.read_frame ~deadline:(dl ()) fd with
  | exception Wire.Error { code = Wire.CLOSED; _ } -> ()
  | ty, _ -> failwith ("expected EOF, got " ^ Wire.Msg.name ty)

(* The client's BYE, answered. *)
let srv_bye fd = ignore (srv_expect fd Wire.Msg.bye); srv_write fd Wire.bye_frame

(* [script] runs in a child on one end of a socketpair (an exception there
   fails the test through the exit status), [client] here on the other. *)
let with_fake name script client =
  let a, b = Unix.socketpair ~cloexec:true Unix.PF_UNIX Unix.SOCK_STREAM 0 in
  flush_all ();
  match Unix.fork () with
  | 0 ->
    Unix.close a;
    (match script b with
     | () -> Unix._exit 0
     | exception e ->
       prerr_endline (name ^ ": fake server: " ^ Printexc.to_string e);
       Unix._exit 1)
  | pid ->
    Unix.close b;
    test name (fun () -> client a);
    let _, st = Unix.waitpid [] pid in
    check (name ^ " (fake server's side)") (st = Unix.WEXITED 0) (fun () -> "fake server failed")

let fake_tests () =
  with_fake "PING answered while a reply is awaited"
    (fun fd ->
       srv_hello fd;
       srv_write fd (Wire.ping_frame "abc");
       if srv_expect fd Wire.Msg.pong <> "abc" then failwith "PONG payload differs";
       srv_write fd (Wire.encode_frame Wire.Msg.echo_reply "r");
       srv_bye fd; srv_expect_eof fd)
    (fun fd ->
       let c = C.of_fd ~peer_addr:"pair" fd in
       check "peer_name from HELLO" (C.peer_name c = "fake") (fun () -> C.peer_name c);
       check "peer_addr given" (C.peer_addr c = "pair") (fun () -> C.peer_addr c);
       let ty, p = C.recv ~timeout:5.0 c in
       check "recv after PING" (ty = Wire.Msg.echo_reply && p = "r") (fun () -> Wire.Msg.name ty ^ " " ^ p);
       C.bye ~timeout:5.0 c;
       check "closed after bye" (not (C.is_open c)) (fun () -> "still open"));

  with_fake "a message that came with the server's HELLO"
    (fun fd ->
       ignore (srv_expect fd Wire.Msg.hello);
       srv_write fd (Wire.hello_frame ~max_payload:4096 "fake" ^ Wire.encode_frame 0x8001 "early");
       srv_bye fd)
    (fun fd ->
       let c = C.of_fd fd in
       check "peer_max from HELLO" (C.peer_max c = 4096) (fun () -> string_of_int (C.peer_max c));
       let ty, p = C.recv ~timeout:5.0 c in
       check "early message kept" (ty = 0x8001 && p = "early") (fun () -> p);
       C.bye ~timeout:5.0 c);

  with_fake "ping keeps the replies that come before its PONG"
    (fun fd ->
       srv_hello fd;
       let a = srv_expect fd Wire.Msg.echo in
       let b = srv_expect fd Wire.Msg.echo in
       let p = srv_expect fd Wire.Msg.ping in
       srv_write fd (Wire.encode_frame Wire.Msg.echo_reply a ^ Wire.encode_frame Wire.Msg.echo_reply b
                     ^ Wire.pong_frame p);
       srv_bye fd)
    (fun fd ->
       let c = C.of_fd fd in
       C.send c Wire.Msg.echo "1"; C.send c Wire.Msg.echo "2";
       let rtt = C.ping ~timeout:5.0 c "p" in
       check "ping round trip" (rtt >= 0.0 && rtt < 5.0) (fun () -> string_of_float rtt);
       let _, r1 = C.recv ~timeout:5.0 c in
       let _, r2 = C.recv ~timeout:5.0 c in
       check "held replies in order" (r1 = "1" && r2 = "2") (fun () -> r1 ^ r2);
       C.bye ~timeout:5.0 c);

  with_fake "a timeout keeps the frame half received"
    (fun fd ->
       srv_hello fd;
       let f = Wire.encode_frame Wire.Msg.echo_reply "0123456789" in
       srv_write fd (String.sub f 0 11);
       Unix.sleepf 0.5;
       srv_write fd (String.sub f 11 (String.length f - 11));
       srv_bye fd)
    (fun fd ->
       let c = C.of_fd fd in
       ignore (raises "recv times out" Wire.TIMEOUT (fun () -> C.recv ~timeout:0.2 c));
       check "open after a timeout" (C.is_open c) (fun () -> "closed");
       let _, p = C.recv ~timeout:5.0 c in
       check "the rest of the frame" (p = "0123456789") (fun () -> p);
       C.bye ~timeout:5.0 c);

  (* Each of these breaks SPEC 8.3: the client answers ERROR(code, offset),
     closes, and raises the same code and offset. *)
  let broken name ?(max_payload = Wire.default_max_payload) ?(srv_max = Wire.default_max_payload)
      frame code offset =
    with_fake name
      (fun fd -> srv_hello ~max_payload:srv_max fd; srv_write fd frame; srv_expect_error fd code offset;
        srv_expect_eof fd)
      (fun fd ->
         let c = C.of_fd ~max_payload fd in
         ignore (raises name ?offset:(Some offset) code (fun () -> C.recv ~timeout:5.0 c));
         check (name ^ ": closed") (not (C.is_open c)) (fun () -> "still open");
         ignore (raises (name ^ ": recv after") Wire.CLOSED (fun () -> C.recv c))) in
  (* The header alone, its payload never sent: judged from the header. *)
  broken "reserved type" (Wire.encode_header ~msg_type:0x0006 ~length:1000) Wire.UNEXPECTED (Some 2);
  broken "unsolicited PONG" (Wire.pong_frame "x") Wire.UNEXPECTED (Some 2);
  broken "second HELLO" (Wire.hello_frame ~max_payload:4096 "again") Wire.UNEXPECTED (Some 2);
  broken "header version 2" "\002\000\001\000\000\000\000\000" Wire.VERSION (Some 0);
  broken "header over our max_payload" ~max_payload:2000
    (Wire.encode_header ~msg_type:Wire.Msg.echo_reply ~length:5000) Wire.TOOBIG (Some 4);
  broken "PING whose PONG exceeds the peer's max" ~srv_max:1037 (Wire.ping_frame (String.make 2000 'p'))
    Wire.TOOBIG None;
  broken "BYE payload that does not decode" (Wire.encode_frame Wire.Msg.bye "\x99") Wire.BADTAG (Some 8);

  with_fake "HELLO of version 2"
    (fun fd ->
       ignore (srv_expect fd Wire.Msg.hello);
       srv_write fd (Wire.hello_frame ~version:2 ~max_payload:4096 "fake");
       srv_expect_error fd Wire.VERSION (Some 9))
    (fun fd -> ignore (raises "HELLO of version 2" ~offset:(Some 9) Wire.VERSION (fun () -> C.of_fd fd)));

  with_fake "no HELLO in time"
    (fun fd -> ignore (srv_expect fd Wire.Msg.hello); srv_expect_eof fd)
    (fun fd ->
       ignore (raises "no HELLO in time" Wire.TIMEOUT (fun () -> C.of_fd ~timeout:0.2 fd));
       check "no HELLO in time: the socket closed"
         (match Unix.fstat fd with _ -> false | exception Unix.Unix_error (Unix.EBADF, _, _) -> true)
         (fun () -> "still open"));

  with_fake "PING before HELLO"
    (fun fd ->
       ignore (srv_expect fd Wire.Msg.hello);
       srv_write fd (Wire.ping_frame "x");
       srv_expect_error fd Wire.UNEXPECTED (Some 2))
    (fun fd -> ignore (raises "PING before HELLO" ~offset:(Some 2) Wire.UNEXPECTED (fun () -> C.of_fd fd)));

  with_fake "peer's ERROR"
    (fun fd -> srv_hello fd; srv_write fd (Wire.error_frame ~code:19 "busy"); srv_expect_eof fd)
    (fun fd ->
       let c = C.of_fd fd in
       (match raises "peer's ERROR" Wire.PEER (fun () -> C.recv ~timeout:5.0 c) with
        | Some e -> check "PEER message" (contains e.message "ERROR LIMIT (19): busy") (fun () -> e.message)
        | None -> ());
       check "peer_error" (match C.peer_error c with Some m -> m.err_code = 19 && m.err_text = "busy" | None -> false)
         (fun () -> "not kept"));

  with_fake "peer's BYE"
    (fun fd ->
       srv_hello fd; srv_write fd Wire.bye_frame;
       ignore (srv_expect fd Wire.Msg.bye); srv_expect_eof fd)
    (fun fd ->
       let c = C.of_fd fd in
       ignore (raises "peer's BYE" Wire.CLOSED (fun () -> C.recv ~timeout:5.0 c));
       check "closed after the peer's BYE" (not (C.is_open c)) (fun () -> "still open"));

  with_fake "EOF inside a frame"
    (fun fd -> srv_hello fd; srv_write fd (String.sub (Wire.encode_frame Wire.Msg.echo_reply "hello") 0 10))
    (fun fd -> let c = C.of_fd fd in
      ignore (raises "EOF inside a frame" Wire.TRUNCATED (fun () -> C.recv ~timeout:5.0 c)));

  with_fake "EOF between frames"
    (fun fd -> srv_hello fd)
    (fun fd -> let c = C.of_fd fd in
      ignore (raises "EOF between frames" Wire.CLOSED (fun () -> C.recv ~timeout:5.0 c)));

  with_fake "BYE unanswered"
    (fun fd -> srv_hello fd; ignore (srv_expect fd Wire.Msg.bye); srv_expect_eof fd)
    (fun fd ->
       let c = C.of_fd fd in
       let t0 = Unix.gettimeofday () in
       ignore (raises "BYE unanswered" Wire.TIMEOUT (fun () -> C.bye ~timeout:0.3 c));
       check "bye bounded" (Unix.gettimeofday () -. t0 < 0.9) (fun () -> "waited too long");
       check "closed after an unanswered BYE" (not (C.is_open c)) (fun () -> "still open"));

  (* connect_unix: a listening Unix socket, accepted by the child. *)
  let path = Filename.concat (Filename.get_temp_dir_name ()) (Printf.sprintf "wire-conn-%d.sock" (Unix.getpid ())) in
  (try Sys.remove path with Sys_error _ -> ());
  let l = Unix.socket ~cloexec:true Unix.PF_UNIX Unix.SOCK_STREAM 0 in
  Unix.bind l (Unix.ADDR_UNIX path);
  Unix.listen l 1;
  flush_all ();
  (match Unix.fork () with
   | 0 ->
     (match
        let fd, _ = Unix.accept l in
        srv_hello fd; srv_bye fd
      with
      | () -> Unix._exit 0
      | exception e -> prerr_endline ("unix fake: " ^ Printexc.to_string e); Unix._exit 1)
   | pid ->
     Unix.close l;
     test "connect_unix" (fun () ->
         let c = C.connect_unix ~timeout:5.0 path in
         check "connect_unix: HELLO done" (C.peer_name c = "fake" && C.peer_addr c = path)
           (fun () -> C.peer_name c ^ " " ^ C.peer_addr c);
         C.bye ~timeout:5.0 c);
     let _, st = Unix.waitpid [] pid in
     check "connect_unix (fake server's side)" (st = Unix.WEXITED 0) (fun () -> "fake server failed");
     Sys.remove path);
  ignore (raises "connect_unix to nothing" Wire.IO (fun () -> C.connect_unix ~timeout:1.0 path))

(* ------------------------------------------------------------------ *)
(* The built server                                                    *)

let with_server args f =
  match spawn_server server_exe ("--quiet" :: args) with
  | None -> fail_test ("start " ^ server_exe) "no port on its first stdout line"
  | Some (pid, port) ->
    Fun.protect ~finally:(fun () ->
        (try Unix.kill pid Sys.sigterm with Unix.Unix_error _ -> ());
        ignore (Unix.waitpid [] pid))
      (fun () -> f port)

let server_tests port =
  test "against the server" (fun () ->
      let c = C.connect ~timeout:5.0 "127.0.0.1" port in
      check "server's name" (C.peer_name c = "ocaml-server") (fun () -> C.peer_name c);
      check "server's max" (C.peer_max c = Wire.default_max_payload) (fun () -> string_of_int (C.peer_max c));
      check "peer_addr" (C.peer_addr c = Printf.sprintf "127.0.0.1:%d" port) (fun () -> C.peer_addr c);
      let ty, p = C.request ~timeout:5.0 c Wire.Msg.echo "hello\000bytes" in
      check "ECHO" (ty = Wire.Msg.echo_reply && p = "hello\000bytes") (fun () -> Wire.Msg.name ty);
      let fields = Wire.[ U32 7; String "héllo"; Group [ I64 (-1L) ] ] in
      let ty, p = C.request ~timeout:5.0 c Wire.Msg.roundtrip (Wire.encode_fields fields) in
      check "ROUNDTRIP" (ty = Wire.Msg.roundtrip_reply && Wire.equal_values (Wire.decode_fields p) fields)
        (fun () -> Wire.Msg.name ty);
      List.iter (fun s -> C.send c Wire.Msg.echo s) [ "1"; "2"; "3" ];
      ignore (C.ping ~timeout:5.0 c "ping");
      let got = List.map (fun _ -> snd (C.recv ~timeout:5.0 c)) [ 1; 2; 3 ] in
      check "pipelined replies in order" (got = [ "1"; "2"; "3" ]) (fun () -> String.concat "," got);
      ignore (raises "send over peer_max" Wire.TOOBIG
                (fun () -> C.send c Wire.Msg.echo (String.make (C.peer_max c + 1) 'x')));
      ignore (raises "send PING by send" Wire.INVAL (fun () -> C.send c Wire.Msg.ping ""));
      ignore (raises "send a reserved type" Wire.INVAL (fun () -> C.send c 0x0200 ""));
      ignore (raises "recv with nothing coming" Wire.TIMEOUT (fun () -> C.recv ~timeout:0.2 c));
      check "usable after TOOBIG, INVAL, TIMEOUT" (snd (C.request ~timeout:5.0 c Wire.Msg.echo "x") = "x")
        (fun () -> "no");
      C.bye ~timeout:5.0 c;
      check "bye closes" (not (C.is_open c)) (fun () -> "still open");
      ignore (raises "send after bye" Wire.INVAL (fun () -> C.send c Wire.Msg.echo ""));
      ignore (raises "recv after bye" Wire.CLOSED (fun () -> C.recv c));
      C.bye c; C.close c);
  test "a request the server refuses" (fun () ->
      let c = C.connect ~timeout:5.0 "127.0.0.1" port in
      ignore (raises "bad ROUNDTRIP" Wire.PEER (fun () -> C.request ~timeout:5.0 c Wire.Msg.roundtrip "\x99"));
      check "its ERROR kept"
        (match C.peer_error c with Some m -> m.err_code = 2 && m.err_offset = Some 8 | None -> false)
        (fun () -> "not BADTAG at 8");
      check "closed after the ERROR" (not (C.is_open c)) (fun () -> "still open"));
  test "close" (fun () ->
      let c = C.connect ~timeout:5.0 "127.0.0.1" port in
      C.close c; C.close c;
      check "closed" (not (C.is_open c)) (fun () -> "still open"));
  ignore (raises "name over 255 bytes" Wire.RANGE
            (fun () -> C.connect ~name:(String.make 256 'n') "127.0.0.1" port));
  ignore (raises "max_payload under 1037" Wire.RANGE (fun () -> C.connect ~max_payload:1000 "127.0.0.1" port));
  ignore (raises "port 0" Wire.INVAL (fun () -> C.connect "127.0.0.1" 0))

let limited_tests port =
  test "too many connections, idle timeout" (fun () ->
      let c1 = C.connect ~timeout:5.0 "127.0.0.1" port in
      (match raises "refused with LIMIT" Wire.PEER (fun () -> C.connect ~timeout:5.0 "127.0.0.1" port) with
       | Some e -> check "LIMIT in the message" (contains e.message "ERROR LIMIT (19)") (fun () -> e.message)
       | None -> ());
      ignore (raises "idle timeout" Wire.PEER (fun () -> C.recv ~timeout:5.0 c1));
      check "TIMEOUT kept"
        (match C.peer_error c1 with Some m -> m.err_code = 17 && m.err_offset = None | None -> false)
        (fun () -> "no"))

let no_server () =
  let s = Unix.socket Unix.PF_INET Unix.SOCK_STREAM 0 in
  Unix.bind s (Unix.ADDR_INET (Unix.inet_addr_loopback, 0));
  let port = match Unix.getsockname s with Unix.ADDR_INET (_, p) -> p | _ -> assert false in
  Unix.close s;
  ignore (raises "nothing listening" Wire.IO (fun () -> C.connect ~timeout:2.0 "127.0.0.1" port))

(* The README shows the example's source and its output: both must be true. *)
let example port =
  let source = read_file example_src and doc = read_file readme in
  check "README shows conn_example.ml" (contains doc source) (fun () -> "README.md differs from test/conn_example.ml");
  let ic = Unix.open_process_args_in example_exe [| example_exe; string_of_int port |] in
  let out = read_all ic in
  let st = Unix.close_process_in ic in
  check "example runs" (st = Unix.WEXITED 0) (fun () -> "exit status not 0: " ^ out);
  let want =
    "connected to ocaml-server, max payload 16777216\n\
     ROUNDTRIP_REPLY: u32 7, string \"héllo\", list of 2\nPONG\nBYE\n" in
  check "example output" (out = want) (fun () -> out);
  check "README shows its output" (contains doc want) (fun () -> "README.md lacks:\n" ^ want)

let () =
  fake_tests ();
  with_server [] (fun port -> server_tests port; example port);
  with_server [ "--max-conns"; "1"; "--idle-timeout"; "1" ] limited_tests;
  no_server ();
  finish ()
