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

let read_line_timeout fd secs =
  let b = Buffer.create 16 and c = Bytes.create 1 in
  let deadline = Unix.gettimeofday () +. secs in
  let rec go () =
    match read_some ~deadline fd c 0 1 with
    | 0 -> None
    | _ -> if Bytes.get c 0 = '\n' then Some (Buffer.contents b) else (Buffer.add_bytes b c; go ())
    | exception Error _ -> None in
  go ()

let start_server ?(log = "/dev/null") args =
  let r, w = Unix.pipe ~cloexec:true () in
  let err = Unix.openfile log [ Unix.O_WRONLY; Unix.O_CREAT; Unix.O_TRUNC; Unix.O_CLOEXEC ] 0o644 in
  let pid =
    Unix.create_process server_exe
      (Array.of_list (server_exe :: "--vectors" :: vectors_file :: args))
      Unix.stdin w err in
  Unix.close w; Unix.close err;
  let line = read_line_timeout r 10.0 in
  Unix.close r;
  match line with
  | Some l -> (match int_of_string_opt l with
      | Some port -> Some { pid; port; status = None }
      | None -> ignore (Unix.waitpid [] pid); None)
  | None -> ignore (Unix.waitpid [] pid); None

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

(* Children of a process, from /proc (Linux). *)
let children_of pid =
  Sys.readdir "/proc" |> Array.to_list
  |> List.filter_map (fun d ->
      match int_of_string_opt d with
      | None -> None
      | Some p ->
        try
          let ic = open_in (Printf.sprintf "/proc/%d/stat" p) in
          let l = Fun.protect ~finally:(fun () -> close_in ic) (fun () -> input_line ic) in
          (* "pid (comm) state ppid ...": comm may hold spaces, so cut
             after the last ')'. *)
          let rest = String.sub l (String.rindex l ')' + 2) (String.length l - String.rindex l ')' - 2) in
          match String.split_on_char ' ' rest with
          | _state :: ppid :: _ when int_of_string ppid = pid -> Some p
          | _ -> None
        with _ -> None)

let alive pid =
  (* A zombie still has /proc/PID; state Z counts as gone. *)
  try
    let ic = open_in (Printf.sprintf "/proc/%d/stat" pid) in
    let l = Fun.protect ~finally:(fun () -> close_in ic) (fun () -> input_line ic) in
    l.[String.rindex l ')' + 2] <> 'Z'
  with _ -> false

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

let connect ?(host = "127.0.0.1") port =
  let ai =
    List.hd (Unix.getaddrinfo host (string_of_int port) [ Unix.AI_SOCKTYPE Unix.SOCK_STREAM ]) in
  let fd = Unix.socket ai.Unix.ai_family Unix.SOCK_STREAM 0 in
  Unix.connect fd ai.Unix.ai_addr;
  fd

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
  let vs = Wire_text.load_vectors vectors_file and st = Wire_text.load_stats stats_file in
  let oks = List.length (List.filter (function Wire_text.Ok_vector _ -> true | _ -> false) vs) in
  let errs = List.length (List.filter (function Wire_text.Err_vector _ -> true | _ -> false) vs) in
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
      send fd Msg.hello (hello_payload ~version:2 ~max_payload:100 "x");
      expect_error_close "hello-version-2" fd VERSION (Some 9));
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
      (* 30 bytes: room for the server's HELLO (25), not for the echo;
         the ERROR text is shortened to fit. *)
      ignore (hello ~max_payload:30 fd);
      send fd Msg.echo (String.make 50 'x');
      expect_error_close "reply-over-client-limit" fd TOOBIG None);
  test "hello-reply-over-client-limit" (fun () ->
      (* Not even the HELLO reply fits in 10 bytes: the server closes. *)
      let fd = connect p in
      send fd Msg.hello (hello_payload ~max_payload:10 "x");
      check "hello-reply-over-client-limit" (eof fd) (fun () -> "expected EOF");
      Unix.close fd);
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

let test_limits () =
  with_server [ "--max-payload"; "100"; "--idle-timeout"; "0.5"; "--max-conns"; "1" ] (fun s ->
      test "limits" (fun () ->
          let fd = connect s.port in
          let h = hello fd in
          check "limits.announced" (h.max_payload = 100) (fun () -> string_of_int h.max_payload);
          send fd Msg.echo (String.make 100 'x');
          let t, _ = recv fd in
          check "limits.exact-max" (t = Msg.echo_reply) (fun () -> Msg.name t);
          (* Second connection while the first is open: LIMIT. *)
          let fd2 = connect s.port in
          expect_error_close "limits.max-conns" fd2 LIMIT None;
          write_all fd "\001\000\001\000\000\000\000\101";
          expect_error_close "limits.toobig" fd TOOBIG (Some 4));
      test "idle" (fun () ->
          Unix.sleepf 0.3; (* let the previous child exit *)
          let fd = connect s.port in
          ignore (hello fd);
          let t0 = Unix.gettimeofday () in
          expect_error_close "idle.timeout" fd TIMEOUT None;
          check "idle.bounded" (Unix.gettimeofday () -. t0 < 3.0) (fun () -> "slow"));
      test "dribble" (fun () ->
          (* One byte every 0.2 s never leaves the connection idle for
             0.5 s, but the frame is not complete within 0.5 s either. *)
          Unix.sleepf 0.3;
          let fd = connect s.port in
          ignore (hello fd);
          let f = ping_frame (String.make 20 'x') in
          let t0 = Unix.gettimeofday () in
          (try
             String.iter (fun c ->
                 if Unix.gettimeofday () -. t0 < 1.2 then begin
                   write_all fd (String.make 1 c); Unix.sleepf 0.2 end) f
           with Error _ -> ());
          expect_error_close "dribble.timeout" fd TIMEOUT None;
          check "dribble.bounded" (Unix.gettimeofday () -. t0 < 2.5) (fun () -> "slow")))

let test_signals () =
  List.iter (fun (sname, signal) ->
      match start_server [] with
      | None -> fail_test ("signal." ^ sname) "server did not start"
      | Some s ->
        test ("signal." ^ sname) (fun () ->
            let a = connect s.port in
            ignore (hello a);
            let b = connect s.port in
            ignore (hello b);
            let kids = children_of s.pid in
            check ("signal." ^ sname ^ ".children") (List.length kids = 2) (fun () ->
                Printf.sprintf "%d children" (List.length kids));
            Unix.kill s.pid signal;
            (match wait_exit s 10.0 with
             | Some (Unix.WEXITED 0) -> incr passed
             | Some (Unix.WEXITED n) -> fail_test ("signal." ^ sname) (Printf.sprintf "exit %d" n)
             | Some _ -> fail_test ("signal." ^ sname) "killed by a signal"
             | None -> fail_test ("signal." ^ sname) "did not exit");
            Unix.sleepf 0.2;
            check ("signal." ^ sname ^ ".no-children") (not (List.exists alive kids)) (fun () ->
                "a child survived");
            Unix.close a; Unix.close b);
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
    run_client ~extra:[ "--vectors"; vf; "--stats"; sf; "--timeout"; "0.3" ] port in
  let dt = Unix.gettimeofday () -. t0 in
  Unix.close l;
  Sys.remove vf; Sys.remove sf;
  (* hello, check, check-unknown, get, roundtrip, 4 echo, ping, stats, bye, reject *)
  let last = match List.rev out with l :: _ -> l | [] -> "" in
  check "silent.exit" (code = 1) (fun () -> Printf.sprintf "exit %d" code);
  check "silent.summary" (last = "0 passed, 13 failed") (fun () -> last);
  check "silent.bounded" (dt < 13. *. 0.3 *. 2. +. 2.) (fun () -> Printf.sprintf "%.1f s" dt);
  check "silent.format"
    (List.for_all (fun l -> l = last || (String.length l > 5 && String.sub l 0 5 = "FAIL ")) out)
    (fun () -> "line format")

let () =
  Sys.set_signal Sys.sigpipe Sys.Signal_ignore;
  with_server ~log:"/tmp/wire-ocaml-e2e-server.log" [] (fun s ->
      test_exchange s;
      test_protocol s;
      (* Each finished connection logged one line. *)
      Unix.sleepf 0.3);
  test_limits ();
  test_signals ();
  test_ipv6 ();
  test_silent_server ();
  finish ()
