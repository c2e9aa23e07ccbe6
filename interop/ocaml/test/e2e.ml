(* SPDX-License-Identifier: MIT *)
(* End-to-end tests: the built server and client over real TCP.
   Usage: e2e.exe SERVER_EXE CLIENT_EXE  (dune passes both).
   Prints failures and ends with "<N> passed, <M> failed". *)

open Wire
open Harness

let server_exe = Sys.argv.(1)
let client_exe = Sys.argv.(2)
let vectors_file = proto "vectors.txt"
let stats_file = proto "stats.txt"

(* ------------------------------------------------------------------ *)
(* Processes                                                           *)

type server = { pid : int; port : int; mutable status : Unix.process_status option }

let start_server ?log args =
  match spawn_server ?log server_exe ("--vectors" :: vectors_file :: args) with
  | Some (pid, port) -> Some { pid; port; status = None }
  | None -> None

(* Waits up to [secs] for the process to exit. *)
let wait_exit s secs =
  let deadline = Unix.gettimeofday () +. secs in
  let rec go () =
    match s.status with
    | Some st -> Some st
    | None ->
      match Unix.waitpid [ Unix.WNOHANG ] s.pid with
      | 0, _ ->
        if Unix.gettimeofday () > deadline then None
        else (Unix.sleepf 0.02; go ())
      | _, st -> s.status <- Some st; Some st
      | exception Unix.Unix_error (Unix.EINTR, _, _) -> go () in
  go ()

let stop_server s =
  if s.status = None then begin
    (try Unix.kill s.pid Sys.sigterm with Unix.Unix_error _ -> ());
    if wait_exit s 10.0 = None then begin
      Unix.kill s.pid Sys.sigkill;
      ignore (wait_exit s 5.0)
    end
  end

let run_client ?(extra = []) ?(host = "127.0.0.1") port =
  let r, w = Unix.pipe ~cloexec:true () in
  let pid =
    Unix.create_process client_exe
      (Array.of_list
         ([ client_exe; "--host"; host; "--port"; string_of_int port ]
          @ (if List.mem "--vectors" extra then [] else [ "--vectors"; vectors_file; "--stats"; stats_file ])
          @ extra))
      Unix.stdin w Unix.stderr in
  Unix.close w;
  let ic = Unix.in_channel_of_descr r in
  let rec lines acc = match input_line ic with l -> lines (l :: acc) | exception End_of_file -> List.rev acc in
  let out = lines [] in
  close_in ic;
  let _, st = Unix.waitpid [] pid in
  let code = match st with Unix.WEXITED c -> c | _ -> -1 in
  code, out

(* ------------------------------------------------------------------ *)
(* Raw connections                                                     *)

let dl () = Unix.gettimeofday () +. 5.0
let send fd ty payload = write_frame ~deadline:(dl ()) fd ty payload
let recv fd = read_frame ~deadline:(dl ()) fd

let hello ?(max_payload = default_max_payload) fd =
  send fd Msg.hello (hello_payload ~max_payload "e2e");
  let t, p = recv fd in
  if t <> Msg.hello then failwith ("HELLO answered with " ^ Msg.name t);
  parse_hello p

let eof fd =
  let b = Bytes.create 100 in
  match read_some ~deadline:(dl ()) fd b 0 100 with
  | 0 -> true
  | _ -> false
  | exception Error _ -> false

(* Expects ERROR code/offset then EOF. *)
let expect_error_close name fd code offset =
  (match recv fd with
   | t, p when t = Msg.error ->
     let m = parse_error_message p in
     check name (m.err_code = code_number code && m.err_offset = offset) (fun () ->
         Printf.sprintf "got ERROR %s at %s: %s" (code_number_name m.err_code)
           (match m.err_offset with Some o -> string_of_int o | None -> "none") m.err_text)
   | t, _ -> fail_test name ("expected ERROR, got " ^ Msg.name t)
   | exception Error e -> fail_test name ("expected ERROR, got " ^ string_of_error e));
  check (name ^ ".eof") (eof fd) (fun () -> "no EOF after ERROR");
  Unix.close fd

let count_cases () =
  let vs = Wire.Text.load_vectors vectors_file and st = Wire.Text.load_stats stats_file in
  let oks = List.length (List.filter (function Wire.Text.Ok_vector _ -> true | _ -> false) vs) in
  let errs = List.length (List.filter (function Wire.Text.Err_vector _ -> true | _ -> false) vs) in
  1 + oks + 1 + oks + oks + 4 + 1 + List.length st + errs + 1

(* ------------------------------------------------------------------ *)

let with_server ?log args f =
  match start_server ?log args with
  | None -> fail_test "server.start" (String.concat " " args)
  | Some s -> Fun.protect ~finally:(fun () -> stop_server s) (fun () -> f s)

let test_exchange s =
  let code, out = run_client s.port in
  let n = count_cases () in
  let last = match List.rev out with l :: _ -> l | [] -> "" in
  check "exchange.exit" (code = 0) (fun () -> Printf.sprintf "client exited %d" code);
  check "exchange.summary" (last = Printf.sprintf "%d passed, 0 failed" n) (fun () -> last);
  check "exchange.lines" (List.length out = n + 1) (fun () ->
      Printf.sprintf "%d lines" (List.length out));
  List.iter (fun l -> if String.length l >= 4 && String.sub l 0 4 = "FAIL" then fail_test "exchange" l) out;
  check "exchange.first" (List.nth_opt out 0 = Some "ok   hello") (fun () -> "first line");
  (* bye ends the main connection, then the reject cases follow, each on its own connection *)
  check "exchange.bye" (List.mem "ok   bye" out) (fun () -> "bye case");
  check "exchange.reject-last"
    (match List.nth_opt out (n - 1) with
     | Some l -> String.length l > 12 && String.sub l 0 12 = "ok   reject:"
     | None -> false)
    (fun () -> "last case")

let test_protocol s =
  let p = s.port in
  test "bad-version-first" (fun () ->
      let fd = connect p in
      write_all fd "\002\000\000\001\000\000\000\000";
      expect_error_close "bad-version-first" fd VERSION (Some 0));
  test "bad-flags" (fun () ->
      let fd = connect p in
      write_all fd "\001\001\000\001\000\000\000\000";
      expect_error_close "bad-flags" fd HEADER (Some 1));
  test "not-hello-first" (fun () ->
      let fd = connect p in
      send fd Msg.ping "x";
      expect_error_close "not-hello-first" fd UNEXPECTED (Some 2));
  test "hello-version-2" (fun () ->
      let fd = connect p in
      send fd Msg.hello (encode_fields [ U16 2; U32 100; String "x" ]);
      expect_error_close "hello-version-2" fd VERSION (Some 9));
  test "hello-max-payload-too-small" (fun () ->
      let fd = connect p in
      send fd Msg.hello (encode_fields [ U16 1; U32 (min_max_payload - 1); String "x" ]);
      expect_error_close "hello-max-payload-too-small" fd MESSAGE (Some 12));
  test "hello-name-too-long" (fun () ->
      let fd = connect p in
      send fd Msg.hello (encode_fields [ U16 1; U32 min_max_payload; String (String.make 256 'n') ]);
      expect_error_close "hello-name-too-long" fd MESSAGE (Some 17));
  test "error-before-hello" (fun () ->
      (* Never answered, not even before HELLO (SPEC 7.4). *)
      let fd = connect p in
      send fd Msg.error (error_payload ~code:19 "no");
      check "error-before-hello" (eof fd) (fun () -> "answered, or not closed");
      Unix.close fd);
  test "unexpected-at-header" (fun () ->
      (* A PING header announcing 1000 bytes before HELLO: answered at once,
         the payload never comes (SPEC 8.3 step 3). *)
      let fd = connect p in
      write_all fd "\001\000\000\003\000\000\003\232";
      let t0 = Unix.gettimeofday () in
      expect_error_close "unexpected-at-header" fd UNEXPECTED (Some 2);
      check "unexpected-at-header.fast" (Unix.gettimeofday () -. t0 < 0.9) (fun () -> "waited for the payload"));
  test "hello-bad-fields" (fun () ->
      let fd = connect p in
      send fd Msg.hello (encode_fields [ U16 1; String "x" ]);
      expect_error_close "hello-bad-fields" fd MESSAGE (Some 11));
  test "toobig-header-alone" (fun () ->
      let fd = connect p in
      ignore (hello fd);
      (* Header only: the server must not wait for 16 MiB + 1 of payload. *)
      write_all fd "\001\000\001\000\001\000\000\001";
      expect_error_close "toobig-header-alone" fd TOOBIG (Some 4));
  test "unknown-type" (fun () ->
      let fd = connect p in
      ignore (hello fd);
      send fd 0x8000 "";
      expect_error_close "unknown-type" fd UNEXPECTED (Some 2));
  test "roundtrip-bad" (fun () ->
      let fd = connect p in
      ignore (hello fd);
      send fd Msg.roundtrip "\001\007\005";
      expect_error_close "roundtrip-bad" fd BADTAG (Some 10));
  test "reply-over-client-limit" (fun () ->
      let fd = connect p in
      ignore (hello ~max_payload:min_max_payload fd);
      send fd Msg.echo (String.make min_max_payload 'x');
      let t, _ = recv fd in
      check "reply-at-client-limit" (t = Msg.echo_reply) (fun () -> Msg.name t);
      send fd Msg.echo (String.make (min_max_payload + 1) 'x');
      expect_error_close "reply-over-client-limit" fd TOOBIG None);
  test "pipelined" (fun () ->
      let fd = connect p in
      let frames =
        [ hello_frame ~max_payload:default_max_payload "e2e"; ping_frame "p";
          encode_frame Msg.echo "e"; encode_frame Msg.stats (encode_fields [ List (T_i64, []); List (T_f64, []); Bytes "" ]);
          bye_frame ] in
      write_all fd (String.concat "" frames);
      let types = List.init 5 (fun _ -> fst (recv fd)) in
      check "pipelined" (types = [ Msg.hello; Msg.pong; Msg.echo_reply; Msg.stats_reply; Msg.bye ])
        (fun () -> String.concat "," (List.map Msg.name types));
      check "pipelined.eof" (eof fd) (fun () -> "no EOF after BYE");
      Unix.close fd);
  test "bytewise" (fun () ->
      let fd = connect p in
      let f = hello_frame ~max_payload:default_max_payload "slow" ^ ping_frame "abc" in
      String.iter (fun c -> write_all fd (String.make 1 c); Unix.sleepf 0.001) f;
      let t1, _ = recv fd in
      let t2, pl = recv fd in
      check "bytewise" (t1 = Msg.hello && t2 = Msg.pong && pl = "abc") (fun () -> "replies");
      Unix.close fd);
  test "concurrent" (fun () ->
      (* A idles mid-session while B completes; then A still works. *)
      let a = connect p in
      ignore (hello a);
      let b = connect p in
      ignore (hello b);
      send b Msg.echo "b";
      let t, pl = recv b in
      check "concurrent.b" (t = Msg.echo_reply && pl = "b") (fun () -> "B blocked");
      send a Msg.echo "a";
      let t, pl = recv a in
      check "concurrent.a" (t = Msg.echo_reply && pl = "a") (fun () -> "A broken");
      Unix.close a; Unix.close b);
  test "peer-error" (fun () ->
      let fd = connect p in
      ignore (hello fd);
      send fd Msg.error (error_payload ~code:300 "bye from app");
      check "peer-error.closes" (eof fd) (fun () -> "server did not close");
      Unix.close fd)

(* --max-conns 1: the second connection gets ERROR(LIMIT, none); once the
   first has gone, a new one is served although the refused one may still
   be draining.  --max-payload at its minimum, 1037. *)
let test_limits () =
  with_server [ "--max-payload"; "1037"; "--max-conns"; "1" ] (fun s ->
      test "limits" (fun () ->
          let fd = connect s.port in
          let h = hello fd in
          check "limits.announced" (h.max_payload = min_max_payload) (fun () -> string_of_int h.max_payload);
          send fd Msg.echo (String.make min_max_payload 'x');
          let t, _ = recv fd in
          check "limits.exact-max" (t = Msg.echo_reply) (fun () -> Msg.name t);
          (* Second connection while the first is open: LIMIT.  It stays
             open (draining) while the next one comes. *)
          let fd2 = connect s.port in
          (match recv fd2 with
           | t, p when t = Msg.error ->
             let m = parse_error_message p in
             check "limits.max-conns" (m.err_code = code_number LIMIT && m.err_offset = None)
               (fun () -> code_number_name m.err_code)
           | t, _ -> fail_test "limits.max-conns" ("got " ^ Msg.name t));
          write_all fd "\001\000\001\000\000\000\004\014";
          expect_error_close "limits.toobig" fd TOOBIG (Some 4);
          Unix.sleepf 0.3; (* let the first child exit *)
          let fd3 = connect s.port in
          (match hello fd3 with
           | _ -> incr passed
           | exception e -> fail_test "limits.after-refused" (Printexc.to_string e));
          Unix.close fd3; Unix.close fd2))

(* --idle-timeout 2 --frame-timeout 1: each timeout on its own (SPEC 9.3),
   on three connections at once to keep the suite short: A stays silent
   (idle timeout at ~2 s), B sends a frame one byte every 0.2 s (never
   idle, but the frame timeout ends it at ~1 s), C completes a frame every
   0.5 s for 2.5 s (never idle for 2 s, so it is never closed). *)
let test_timeouts () =
  with_server [ "--idle-timeout"; "2"; "--frame-timeout"; "1" ] (fun s ->
      test "timeouts" (fun () ->
          let a = connect s.port and b = connect s.port and c = connect s.port in
          List.iter (fun fd -> ignore (hello fd)) [ a; b; c ];
          let readable fd = match Unix.select [ fd ] [] [] 0.0 with [], _, _ -> false | _ -> true in
          let dribble = ping_frame (String.make 20 'x') in
          let t0 = Unix.gettimeofday () in
          let a_at = ref None and b_at = ref None and sent = ref 0 and pings = ref 0 in
          let next_byte = ref t0 and next_ping = ref (t0 +. 0.5) in
          while Unix.gettimeofday () -. t0 < 3.5 && (!a_at = None || !b_at = None || !pings < 5) do
            let now = Unix.gettimeofday () in
            if !a_at = None && readable a then a_at := Some (now -. t0);
            if !b_at = None && readable b then b_at := Some (now -. t0);
            if !b_at = None && now >= !next_byte && !sent < String.length dribble then begin
              write_all b (String.sub dribble !sent 1); incr sent; next_byte := now +. 0.2
            end;
            if !pings < 5 && now >= !next_ping then begin
              send c Msg.ping "k";
              let t, _ = recv c in
              check "active-not-idle" (t = Msg.pong) (fun () -> Msg.name t);
              incr pings; next_ping := now +. 0.5
            end;
            Unix.sleepf 0.02
          done;
          let shown = function Some t -> Printf.sprintf "%.2f s" t | None -> "never" in
          expect_error_close "idle.timeout" a TIMEOUT None;
          check "idle.is-idle-timeout"
            (match !a_at with Some t -> t > 1.5 && t < 3.0 | None -> false) (fun () -> shown !a_at);
          expect_error_close "dribble.timeout" b TIMEOUT None;
          check "dribble.is-frame-timeout"
            (match !b_at with Some t -> t > 0.7 && t < 1.7 | None -> false) (fun () -> shown !b_at);
          check "active-not-idle.count" (!pings = 5) (fun () -> string_of_int !pings);
          send c Msg.ping "still";
          let t, p = recv c in
          check "active-not-idle.open" (t = Msg.pong && p = "still") (fun () -> Msg.name t);
          Unix.close c))

(* Runs the server with [args] that must be refused: exit status 2, a
   message on stderr, nothing on stdout (no port). *)
let run_server_args args =
  let out = Filename.temp_file "wire-e2e" ".out" and err = Filename.temp_file "wire-e2e" ".err" in
  let fo = Unix.openfile out [ Unix.O_WRONLY; Unix.O_TRUNC ] 0 and fe = Unix.openfile err [ Unix.O_WRONLY; Unix.O_TRUNC ] 0 in
  let pid = Unix.create_process server_exe (Array.of_list (server_exe :: args)) Unix.stdin fo fe in
  Unix.close fo; Unix.close fe;
  let s = { pid; port = 0; status = None } in
  let st = match wait_exit s 5.0 with Some st -> st | None -> stop_server s; Unix.WSIGNALED 9 in
  let read f = let ic = open_in_bin f in let t = really_input_string ic (in_channel_length ic) in close_in ic; Sys.remove f; t in
  st, read out, read err

let contains s sub =
  let n = String.length sub in
  let rec go i = i + n <= String.length s && (String.sub s i n = sub || go (i + 1)) in
  go 0

let test_options () =
  List.iter (fun args ->
      let name = "options.refused " ^ String.concat " " args in
      let st, out, err = run_server_args args in
      check name (st = Unix.WEXITED 2 && out = "" && err <> "") (fun () ->
          Printf.sprintf "status %s, stdout %S"
            (match st with Unix.WEXITED n -> string_of_int n | _ -> "signal") out))
    [ [ "--linger"; "1" ]; [ "--timeout"; "5" ]; [ "--max-connections"; "5" ]; [ "-help" ];
      [ "--max-payload"; "1036" ]; [ "--max-payload"; "4294967296" ]; [ "--max-payload"; "x" ];
      [ "--port"; "65536" ]; [ "--port"; "-1" ]; [ "--max-conns"; "0" ];
      [ "--idle-timeout"; "0" ]; [ "--frame-timeout"; "1.5" ]; [ "--idle-timeout" ];
      [ "extra" ] ];
  let st, out, _ = run_server_args [ "--version" ] in
  check "options.version" (st = Unix.WEXITED 0 && contains out "protocol version 1") (fun () -> out);
  let st, out, _ = run_server_args [ "--help" ] in
  check "options.help" (st = Unix.WEXITED 0) (fun () -> "exit status");
  List.iter (fun o -> check ("options.help" ^ o) (contains out (o ^ " ")) (fun () -> "not in --help"))
    [ "--host"; "--port"; "--max-payload"; "--max-conns"; "--idle-timeout"; "--frame-timeout";
      "--vectors"; "--quiet"; "--version"; "--help" ];
  (* --name=value is accepted as well *)
  with_server [ "--max-payload=2000"; "--max-conns=5"; "--idle-timeout=5"; "--frame-timeout=5" ] (fun s ->
      test "options.equals-form" (fun () ->
          let fd = connect s.port in
          let h = hello fd in
          check "options.equals-form" (h.max_payload = 2000) (fun () -> string_of_int h.max_payload);
          Unix.close fd))

(* One line per connection when it ends: its address, frames in and out,
   why it ended (SPEC 9.3); --quiet silences them. *)
let test_log () =
  let log = Filename.temp_file "wire-e2e" ".log" in
  let session s =
    let fd = connect s.port in
    let local = match Unix.getsockname fd with Unix.ADDR_INET (_, p) -> p | _ -> 0 in
    ignore (hello fd);
    send fd Msg.ping "x"; ignore (recv fd);
    send fd Msg.bye ""; ignore (recv fd);
    ignore (eof fd);
    Unix.close fd;
    Unix.sleepf 0.3;
    local in
  let lines () =
    let ic = open_in log in
    let rec go acc = match input_line ic with l -> go (l :: acc) | exception End_of_file -> List.rev acc in
    let l = go [] in close_in ic; l in
  with_server ~log [] (fun s ->
      let port = session s in
      let want = Printf.sprintf "127.0.0.1:%d: closed after 3 frames in" port in
      check "log.line" (List.exists (fun l -> contains l want && contains l "3 frames out" && contains l "BYE")
                          (lines ()))
        (fun () -> String.concat " / " (lines ())));
  with_server ~log [ "--quiet" ] (fun s ->
      ignore (session s);
      check "log.quiet" (not (List.exists (fun l -> contains l "closed after") (lines ())))
        (fun () -> String.concat " / " (lines ())));
  Sys.remove log

(* Waits (at most 3 s) until the server has read what [fd] sent: the server's end of the connection,
   in /proc/net/tcp, has nothing left in its receive queue. A frame is "in flight" only once the
   server holds part of it: signalling sooner (a loaded machine can take that long to schedule a
   forked child) tests nothing. Without /proc, a pause instead. *)
let server_has_read fd =
  let port_of = function Unix.ADDR_INET (_, p) -> p | _ -> 0 in
  let mine = port_of (Unix.getsockname fd) and srv = port_of (Unix.getpeername fd) in
  let hex_port a = match String.rindex_opt a ':' with
    | Some i -> int_of_string ("0x" ^ String.sub a (i + 1) (String.length a - i - 1))
    | None -> -1 in
  let unread () =
    match open_in "/proc/net/tcp" with
    | exception Sys_error _ -> None
    | ic ->
      let rec go found =
        match String.split_on_char ' ' (input_line ic) |> List.filter (( <> ) "") with
        | _ :: local :: remote :: _ :: queues :: _ when hex_port local = srv && hex_port remote = mine ->
          let rx = match String.index_opt queues ':' with
            | Some i -> int_of_string ("0x" ^ String.sub queues (i + 1) (String.length queues - i - 1))
            | None -> 0 in
          go (Some rx)
        | _ -> go found
        | exception End_of_file -> close_in ic; found in
      go None in
  let rec wait k = match unread () with
    | Some 0 -> ()
    | None -> Unix.sleepf 0.3
    | Some _ when k = 0 -> ()
    | Some _ -> Unix.sleepf 0.01; wait (k - 1) in
  wait 300

(* SIGTERM / SIGINT (SPEC 9.3): stop accepting, finish the frame in
   flight (b has sent half an ECHO: it still gets its reply), close every
   connection gracefully (EOF), exit 0 with no child left. *)
let test_signals () =
  List.iter (fun (sname, signal) ->
      match start_server [] with
      | None -> fail_test ("signal." ^ sname) "server did not start"
      | Some s ->
        test ("signal." ^ sname) (fun () ->
            let n = "signal." ^ sname in
            let a = connect s.port in
            ignore (hello a);
            let b = connect s.port in
            ignore (hello b);
            let echo = encode_frame Msg.echo "hello" in
            write_all b (String.sub echo 0 10);
            server_has_read b;
            let kids = children_of s.pid in
            check (n ^ ".children") (List.length kids = 2) (fun () ->
                Printf.sprintf "%d children" (List.length kids));
            Unix.kill s.pid signal;
            check (n ^ ".idle-eof") (eof a) (fun () -> "no clean EOF on the idle connection");
            Unix.close a;
            Unix.sleepf 0.2;
            write_all b (String.sub echo 10 (String.length echo - 10));
            (match recv b with
             | t, p -> check (n ^ ".in-flight-answered") (t = Msg.echo_reply && p = "hello") (fun () -> Msg.name t)
             | exception Error e -> fail_test (n ^ ".in-flight-answered") (string_of_error e));
            check (n ^ ".eof") (eof b) (fun () -> "no clean EOF after the reply");
            Unix.close b;
            (match wait_exit s 10.0 with
             | Some (Unix.WEXITED 0) -> incr passed
             | Some (Unix.WEXITED n) -> fail_test ("signal." ^ sname) (Printf.sprintf "exit %d" n)
             | Some _ -> fail_test ("signal." ^ sname) "killed by a signal"
             | None -> fail_test ("signal." ^ sname) "did not exit");
            Unix.sleepf 0.1;
            check (n ^ ".no-children") (not (List.exists alive kids)) (fun () ->
                "a child survived"));
        stop_server s)
    [ "TERM", Sys.sigterm; "INT", Sys.sigint ]

let test_ipv6 () =
  match start_server [ "--host"; "::1" ] with
  | None -> print_endline "note: no IPv6 loopback here, IPv6 test skipped"
  | Some s ->
    Fun.protect ~finally:(fun () -> stop_server s) (fun () ->
        let code, out = run_client ~host:"::1" s.port in
        check "ipv6.client" (code = 0) (fun () ->
            Printf.sprintf "exit %d: %s" code (match List.rev out with l :: _ -> l | [] -> "")))

(* A "server" that accepts and never answers: every case must fail by
   timeout, and the client must still finish (small vector files keep
   this fast). *)
let test_silent_server () =
  let vf = Filename.temp_file "wire-e2e" ".vectors" and sf = Filename.temp_file "wire-e2e" ".stats" in
  let write f s = let oc = open_out f in output_string oc s; close_out oc in
  write vf "ok u8.1 | u8:1 | 01 01\nerr err.tag-0x00 | BADTAG 0 | 00\n";
  write sf "stats stats.empty | list:i64 [ ] list:f64 [ ] bytes: | i64:0 i64:9223372036854775807 i64:-9223372036854775808 f64:0x0000000000000000 f64:0x7ff0000000000000 f64:0xfff0000000000000 u32:0\n";
  let l = Unix.socket Unix.PF_INET Unix.SOCK_STREAM 0 in
  Unix.bind l (Unix.ADDR_INET (Unix.inet_addr_loopback, 0));
  Unix.listen l 64;
  let port = match Unix.getsockname l with Unix.ADDR_INET (_, p) -> p | _ -> 0 in
  let t0 = Unix.gettimeofday () in
  let code, out =
    run_client ~extra:[ "--vectors"; vf; "--stats"; sf; "--timeout"; "0.15" ] port in
  let dt = Unix.gettimeofday () -. t0 in
  Unix.close l;
  Sys.remove vf; Sys.remove sf;
  (* hello, check, check-unknown, get, roundtrip, 4 echo, ping, stats, bye, reject *)
  let last = match List.rev out with l :: _ -> l | [] -> "" in
  check "silent.exit" (code = 1) (fun () -> Printf.sprintf "exit %d" code);
  check "silent.summary" (last = "0 passed, 13 failed") (fun () -> last);
  check "silent.bounded" (dt < 13. *. 0.15 *. 2. +. 2.) (fun () -> Printf.sprintf "%.1f s" dt);
  check "silent.format"
    (List.for_all (fun l -> l = last || (String.length l > 5 && String.sub l 0 5 = "FAIL ")) out)
    (fun () -> "line format")

(* ------------------------------------------------------------------ *)
(* The client against an awkward fake server (SPEC 7.5, 8.1, 10.10)   *)

(* What the fake server saw the client do. *)
type fake = {
  announce : int;  (* the max_payload its HELLO says *)
  mutable pings : int;  (* PINGs it sent *)
  mutable pongs : int;  (* PONGs that answered them, in order *)
  mutable oversize : int;  (* frames over [announce] *)
  mutable faults : string list;
}

(* One connection: HELLO and a PING in one write; one or two PINGs
   coalesced with each reply; every other reply byte by byte.  The
   service itself is Wire.Interop's. *)
let fake_connection f table fd =
  let parser = Parser.create () in
  let unanswered = Queue.create () and seq = ref 0 and replies = ref 0 and closing = ref false in
  let fault m = f.faults <- m :: f.faults in
  let ping () =
    incr seq; f.pings <- f.pings + 1;
    let p = Printf.sprintf "wire%04d" !seq in
    Queue.push p unanswered; ping_frame p in
  let out ?(bytewise = false) frames =
    let data = String.concat "" frames in
    if bytewise then String.iter (fun c -> write_all fd (String.make 1 c)) data else write_all fd data in
  (* After an ERROR or BYE: nothing more is sent, PONGs still count. *)
  let close_after frames =
    out frames; closing := true;
    try Unix.shutdown fd Unix.SHUTDOWN_SEND with Unix.Unix_error _ -> () in
  let handle ty payload =
    if String.length payload > f.announce then f.oversize <- f.oversize + 1;
    if ty = Msg.pong then
      match Queue.take_opt unanswered with
      | Some p when p = payload -> f.pongs <- f.pongs + 1
      | _ -> fault "a PONG that answers no PING of ours"
    else if !closing then ()
    else if ty = Msg.hello then begin
      let h = hello_frame ~max_payload:f.announce "fake-server" in
      out [ h; ping () ]
    end
    else if ty = Msg.ping then out [ pong_frame payload ]
    else if ty = Msg.bye then close_after [ bye_frame ]
    else if ty = Msg.error then closing := true
    else begin
      incr replies;
      match Wire.Interop.serve table ty payload with
      | rt, rp ->
        (* (let-bound: list elements are evaluated right to left) *)
        let p1 = ping () in
        let pings = if !replies mod 3 = 0 then (let p2 = ping () in [ p1; p2 ]) else [ p1 ] in
        out ~bytewise:(!replies mod 2 = 0 && String.length rp < 4096) (pings @ [ encode_frame rt rp ])
      | exception Error e ->
        let e = shift_error header_size e in
        close_after [ error_frame ~code:(code_number e.code) ?offset:e.offset e.message ]
    end in
  let buf = Bytes.create 65536 in
  let deadline = Unix.gettimeofday () +. 30. in
  let rec loop () =
    match Parser.next parser with
    | Parser.Frame (ty, payload) -> handle ty payload; loop ()
    | Parser.Failed e -> fault ("bad frame from the client: " ^ string_of_error e)
    | Parser.Await ->
      match read_some ~deadline fd buf 0 (Bytes.length buf) with
      | 0 -> ()
      | n -> Parser.feed parser (Bytes.unsafe_to_string buf) 0 n; loop () in
  (try loop () with Error e -> fault ("fake server: " ^ string_of_error e));
  if not (Queue.is_empty unanswered) then
    fault (Printf.sprintf "%d PING(s) never answered" (Queue.length unanswered));
  Unix.close fd

(* Runs client.exe against the fake server; its exit code and lines. *)
let run_against_fake f ~vectors ~stats =
  let l = Unix.socket Unix.PF_INET Unix.SOCK_STREAM 0 in
  Unix.bind l (Unix.ADDR_INET (Unix.inet_addr_loopback, 0));
  Unix.listen l 16;
  let port = match Unix.getsockname l with Unix.ADDR_INET (_, p) -> p | _ -> 0 in
  let table = Wire.Interop.table_of_vectors (Wire.Text.load_vectors vectors) in
  let r, w = Unix.pipe ~cloexec:true () in
  let pid =
    Unix.create_process client_exe
      [| client_exe; "--host"; "127.0.0.1"; "--port"; string_of_int port; "--vectors"; vectors;
         "--stats"; stats; "--timeout"; "5" |]
      Unix.stdin w Unix.stderr in
  Unix.close w;
  let text = Buffer.create 1024 and chunk = Bytes.create 4096 in
  let until = Unix.gettimeofday () +. 60. in
  let rec go () =
    if Unix.gettimeofday () < until then
      match Unix.select [ l; r ] [] [] 1.0 with
      | exception Unix.Unix_error (Unix.EINTR, _, _) -> go ()
      | ready, _, _ ->
        if List.mem l ready then begin
          let fd, _ = Unix.accept l in
          Unix.setsockopt fd Unix.TCP_NODELAY true;
          fake_connection f table fd
        end;
        if List.mem r ready then
          match Unix.read r chunk 0 4096 with
          | 0 -> ()
          | n -> Buffer.add_subbytes text chunk 0 n; go ()
        else go () in
  go ();
  (try Unix.kill pid Sys.sigkill with Unix.Unix_error _ -> ());
  let _, st = Unix.waitpid [] pid in
  Unix.close r; Unix.close l;
  (match st with Unix.WEXITED c -> c | _ -> -1),
  String.split_on_char '\n' (Buffer.contents text) |> List.filter (( <> ) "")

let test_client_awkward () =
  let vf = Filename.temp_file "wire-e2e" ".vectors" and sf = Filename.temp_file "wire-e2e" ".stats" in
  let write f s = let oc = open_out f in output_string oc s; close_out oc in
  (* bytes.big: a request over 1037 bytes once it is in VECTOR_CHECK or ROUNDTRIP. *)
  write vf "ok u8.1 | u8:1 | 01 01\nok bytes.big | bytes:ab*2000 | 41 000007d0 ab*2000\n\
            err err.tag-0x00 | BADTAG 0 | 00\n";
  write sf "stats stats.empty | list:i64 [ ] list:f64 [ ] bytes: | i64:0 i64:9223372036854775807 i64:-9223372036854775808 f64:0x0000000000000000 f64:0x7ff0000000000000 f64:0xfff0000000000000 u32:0\n";
  let new_fake announce = { announce; pings = 0; pongs = 0; oversize = 0; faults = [] } in
  let show f = String.concat "; " (List.rev f.faults) in
  (* 1. PINGs everywhere, frames cut and coalesced: everything passes. *)
  let f = new_fake default_max_payload in
  let code, out = run_against_fake f ~vectors:vf ~stats:sf in
  let last = match List.rev out with l :: _ -> l | [] -> "" in
  check "awkward.exit" (code = 0) (fun () -> Printf.sprintf "exit %d: %s" code (String.concat " / " out));
  check "awkward.summary" (last = "16 passed, 0 failed") (fun () -> last);
  check "awkward.pings" (f.pings >= 16 && f.pongs = f.pings && f.faults = []) (fun () ->
      Printf.sprintf "%d PINGs, %d answered: %s" f.pings f.pongs (show f));
  (* 2. The server announces 1037: the client never sends more, and the
     cases that would are reported as failed, not sent. *)
  let f = new_fake min_max_payload in
  let code, out = run_against_fake f ~vectors:vf ~stats:sf in
  let last = match List.rev out with l :: _ -> l | [] -> "" in
  check "small-max.never-over" (f.oversize = 0) (fun () -> Printf.sprintf "%d frames over 1037 bytes" f.oversize);
  check "small-max.summary" (code = 1 && last = "12 passed, 4 failed") (fun () ->
      Printf.sprintf "exit %d, %s" code last);
  List.iter (fun case ->
      let line = List.find_opt (fun l -> contains l (" " ^ case ^ ":") || contains l (" " ^ case)) out in
      check ("small-max." ^ case)
        (match line with
         | Some l -> contains l ("FAIL " ^ case ^ ": ") && contains l "exceeds the server's max_payload 1037"
         | None -> false)
        (fun () -> Option.value line ~default:"not reported"))
    [ "check:bytes.big"; "roundtrip:bytes.big"; "echo:4096"; "echo:1048576" ];
  check "small-max.pings" (f.pongs = f.pings && f.faults = []) (fun () -> show f);
  Sys.remove vf; Sys.remove sf

(* WIRE_E2E_TIMES=1 prints how long each part took. *)
let timed name f =
  let t0 = Unix.gettimeofday () in
  f ();
  if Sys.getenv_opt "WIRE_E2E_TIMES" <> None then
    Printf.printf "time %s: %.2f s\n%!" name (Unix.gettimeofday () -. t0)

let () =
  Sys.set_signal Sys.sigpipe Sys.Signal_ignore;
  timed "exchange+protocol" (fun () ->
      with_server [] (fun s ->
          test_exchange s;
          test_protocol s));
  timed "client-awkward" test_client_awkward;
  timed "limits" test_limits;
  timed "timeouts" test_timeouts;
  timed "options" test_options;
  timed "log" test_log;
  timed "signals" test_signals;
  timed "ipv6" test_ipv6;
  timed "silent-server" test_silent_server;
  finish ()
