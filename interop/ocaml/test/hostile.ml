(* SPDX-License-Identifier: MIT *)
(* Hostile clients against the built server: floods past --max-conns, slowloris, running out of
   descriptors and processes, zombies, memory per request and per connection, frames the server
   must not answer, nesting bombs.  Usage: hostile.exe SERVER_EXE (dune passes it).
   Prints failures, "note:" lines with what was measured, and "<N> passed, <M> failed". *)

open Wire
open Harness

let server_exe = Sys.argv.(1)
let vectors_file = proto "vectors.txt"

type server = { pid : int; port : int; log : string }

let stop_server s =
  (try Unix.kill s.pid Sys.sigterm with Unix.Unix_error _ -> ());
  let deadline = Unix.gettimeofday () +. 10.0 in
  let rec wait () =
    match Unix.waitpid [ Unix.WNOHANG ] s.pid with
    | 0, _ when Unix.gettimeofday () < deadline -> Unix.sleepf 0.02; wait ()
    | 0, _ -> Unix.kill s.pid Sys.sigkill; ignore (Unix.waitpid [] s.pid)
    | _ -> ()
    | exception Unix.Unix_error (Unix.EINTR, _, _) -> wait () in
  wait ();
  (try Sys.remove s.log with Sys_error _ -> ())

(* [wrap] runs the server through another program (setpriv) that execs it. *)
let with_server ?(wrap = []) args f =
  let log = Filename.temp_file "wire-hostile" ".log" in
  let exe, args =
    match wrap with
    | [] -> server_exe, "--vectors" :: vectors_file :: args
    | w :: ws -> w, ws @ (server_exe :: "--vectors" :: vectors_file :: args) in
  match spawn_server ~log exe args with
  | None -> fail_test "server.start" (String.concat " " args)
  | Some (pid, port) ->
    let s = { pid; port; log } in
    Fun.protect ~finally:(fun () -> stop_server s) (fun () -> f s)

let note fmt = Printf.ksprintf (fun s -> Printf.printf "note: %s\n%!" s) fmt
let dl ?(secs = 5.0) () = Unix.gettimeofday () +. secs
let send fd ty payload = write_frame ~deadline:(dl ()) fd ty payload
let recv ?secs fd = read_frame ~deadline:(dl ?secs ()) fd

let hello fd =
  send fd Msg.hello (hello_payload ~max_payload:default_max_payload "hostile");
  match recv fd with
  | t, _ when t = Msg.hello -> ()
  | t, _ -> failwith ("HELLO answered with " ^ Msg.name t)

(* ERROR code and offset of the next frame, or why there is none. *)
let next_error ?secs fd =
  match recv ?secs fd with
  | t, p when t = Msg.error ->
    let m = parse_error_message p in
    Result.Ok (m.err_code, m.err_offset)
  | t, _ -> Result.Error ("got " ^ Msg.name t)
  | exception Error e -> Result.Error (string_of_error e)

let is_error code offset = function
  | Result.Ok (c, o) -> c = code_number code && o = offset
  | Result.Error _ -> false

let show_error = function
  | Result.Ok (c, o) ->
    Printf.sprintf "ERROR %s at %s" (code_number_name c)
      (match o with Some o -> string_of_int o | None -> "none")
  | Result.Error m -> m

(* EOF without a single byte before it. *)
let closed_silently fd =
  let b = Bytes.create 64 in
  match read_some ~deadline:(dl ~secs:3.0 ()) fd b 0 64 with
  | 0 -> true
  | _ -> false
  | exception Error _ -> false

(* A field of /proc/PID/status or smaps_rollup, in kB. *)
let proc_kb file pid key =
  try
    let ic = open_in (Printf.sprintf "/proc/%d/%s" pid file) in
    Fun.protect ~finally:(fun () -> close_in ic) (fun () ->
        let rec go () =
          let l = input_line ic in
          if String.length l > String.length key && String.sub l 0 (String.length key) = key then
            Scanf.sscanf (String.sub l (String.length key) (String.length l - String.length key))
              " %d" (fun n -> n)
          else go () in
        go ())
  with _ -> 0

(* CPU time used by a process, in seconds (utime + stime). *)
let cpu_seconds pid =
  try
    let ic = open_in (Printf.sprintf "/proc/%d/stat" pid) in
    let l = Fun.protect ~finally:(fun () -> close_in ic) (fun () -> input_line ic) in
    let rest = String.sub l (String.rindex l ')' + 2) (String.length l - String.rindex l ')' - 2) in
    match String.split_on_char ' ' rest with
    | _ :: _ :: _ :: _ :: _ :: _ :: _ :: _ :: _ :: _ :: _ :: u :: s :: _ ->
      float_of_int (int_of_string u + int_of_string s) /. 100.0
    | _ -> 0.0
  with _ -> 0.0

let log_lines s =
  let ic = open_in s.log in
  let rec go acc = match input_line ic with l -> go (l :: acc) | exception End_of_file -> List.rev acc in
  let l = go [] in
  close_in ic;
  l

let contains s sub =
  let n = String.length sub in
  let rec go i = i + n <= String.length s && (String.sub s i n = sub || go (i + 1)) in
  go 0

let run_quietly prog args =
  let null = Unix.openfile "/dev/null" [ Unix.O_WRONLY ] 0 in
  let pid = Unix.create_process prog (Array.of_list (prog :: args)) Unix.stdin null null in
  Unix.close null;
  match Unix.waitpid [] pid with _, Unix.WEXITED 0 -> true | _ -> false

let prlimit pid what = run_quietly "prlimit" [ "--pid"; string_of_int pid; what ]

let hard_nofile () =
  try
    let ic = open_in "/proc/self/limits" in
    Fun.protect ~finally:(fun () -> close_in ic) (fun () ->
        let rec go () =
          let l = input_line ic in
          if contains l "Max open files" then
            Scanf.sscanf (String.sub l 26 (String.length l - 26)) " %s %s" (fun _ h -> h)
          else go () in
        go ())
  with _ -> "unlimited"

(* A well-behaved client in a process of its own, so that it is measured while the test floods
   the server: PINGs until told to stop, then says how many, how many went wrong and the worst
   round trip.  [stop ()] returns that. *)
let well_behaved port =
  let r, w = Unix.pipe ~cloexec:true () in
  let stop_r, stop_w = Unix.pipe ~cloexec:true () in
  match Unix.fork () with
  | 0 ->
    Unix.close r; Unix.close stop_w;
    let out s = ignore (Unix.write_substring w s 0 (String.length s)) in
    (try
       let fd = connect port in
       hello fd;
       out "ready\n";
       let n = ref 0 and lost = ref 0 and worst = ref 0.0 in
       while (match Unix.select [ stop_r ] [] [] 0.005 with [], _, _ -> true | _ -> false) do
         let t0 = Unix.gettimeofday () in
         (match send fd Msg.ping "w"; recv fd with
          | t, p when t = Msg.pong && p = "w" -> ()
          | _ | (exception _) -> incr lost);
         worst := Float.max !worst (Unix.gettimeofday () -. t0);
         incr n
       done;
       out (Printf.sprintf "%d %d %f\n" !n !lost !worst)
     with e -> out ("failed " ^ Printexc.to_string e ^ "\n"));
    Unix._exit 0
  | pid ->
    Unix.close w; Unix.close stop_r;
    let ready = read_line_timeout r 5.0 = Some "ready" in
    let stop () =
      Unix.close stop_w;
      let line = read_line_timeout r 10.0 in
      Unix.close r;
      ignore (Unix.waitpid [] pid);
      match Option.map (String.split_on_char ' ') line with
      | Some [ n; lost; worst ] -> Some (int_of_string n, int_of_string lost, float_of_string worst)
      | _ -> None in
    ready, stop

let check_well_behaved name result =
  match result with
  | Some (n, lost, worst) ->
    note "%s: well-behaved client: %d PINGs, %d lost, worst round trip %.3f s" name n lost worst;
    check (name ^ ".well-behaved") (n > 0 && lost = 0 && worst < 0.5) (fun () ->
        Printf.sprintf "%d PINGs, %d lost, worst %.3f s" n lost worst)
  | None -> fail_test (name ^ ".well-behaved") "no report"

(* ------------------------------------------------------------------ *)
(* Refusals and zombies                                                *)

(* 2,000 connections past --max-conns 3, 100 at a time and held open until refused: each must
   get ERROR(LIMIT, none) then EOF promptly, from the parent (no child per refusal), while a
   well-behaved client beside them keeps its PINGs answered.  Then no child is left: every one
   was reaped, no zombie. *)
let test_refusals () =
  with_server [ "--max-conns"; "3"; "--quiet" ] (fun s ->
      let held = List.init 2 (fun _ -> let fd = connect s.port in hello fd; fd) in
      let ready, stop = well_behaved s.port in
      check "refusals.ready" ready (fun () -> "the well-behaved client was not served");
      let waves = 20 and per_wave = 100 in
      let refused = ref 0 and worst = ref 0.0 and most_children = ref 0 and bad = ref [] in
      let t_start = Unix.gettimeofday () in
      for _ = 1 to waves do
        let t0 = Unix.gettimeofday () in
        let fds = List.init per_wave (fun _ -> connect s.port) in
        List.iter (fun fd ->
            let e = next_error ~secs:3.0 fd in
            if is_error LIMIT None e && closed_silently fd then begin
              incr refused;
              worst := Float.max !worst (Unix.gettimeofday () -. t0)
            end
            else if List.length !bad < 3 then bad := show_error e :: !bad)
          fds;
        most_children := max !most_children (List.length (children_of s.pid));
        List.iter Unix.close fds
      done;
      let total = Unix.gettimeofday () -. t_start in
      note "refusals: %d of %d refused with LIMIT in %.2f s, worst %.3f s from connect to EOF, \
            at most %d children" !refused (waves * per_wave) total !worst !most_children;
      check "refusals.all" (!refused = waves * per_wave) (fun () ->
          Printf.sprintf "%d refused; %s" !refused (String.concat "; " !bad));
      check "refusals.prompt" (!worst < 1.0) (fun () -> Printf.sprintf "worst %.3f s" !worst);
      check "refusals.no-fork" (!most_children <= 3) (fun () ->
          Printf.sprintf "%d children for 3 connections" !most_children);
      check_well_behaved "refusals" (stop ());
      List.iter Unix.close held;
      (* Each child sees EOF and exits; the parent must reap every one. *)
      let deadline = Unix.gettimeofday () +. 3.0 in
      while children_of s.pid <> [] && Unix.gettimeofday () < deadline do Unix.sleepf 0.05 done;
      let kids = children_of s.pid in
      let zombies = List.filter (fun p -> proc_state p = Some 'Z') kids in
      check "refusals.reaped" (kids = []) (fun () ->
          Printf.sprintf "%d children left, %d of them zombies" (List.length kids)
            (List.length zombies)))

(* Slowloris: N-1 connections send 3 header bytes and stall.  The well-behaved client still
   gets the last slot, one more is refused with LIMIT, and each stalled one gets ERROR(TIMEOUT)
   after --frame-timeout (1 s), not after the idle timeout (30 s); then the slots are free. *)
let test_slowloris () =
  with_server [ "--max-conns"; "4"; "--frame-timeout"; "1"; "--idle-timeout"; "30"; "--quiet" ]
    (fun s ->
       let t0 = Unix.gettimeofday () in
       let slow = List.init 3 (fun _ -> let fd = connect s.port in write_all fd "\001\000\000"; fd) in
       let good = connect s.port in
       hello good;
       send good Msg.ping "g";
       check "slowloris.served" (fst (recv good) = Msg.pong) (fun () -> "no PONG");
       let extra = connect s.port in
       let e = next_error ~secs:1.0 extra in
       check "slowloris.limit" (is_error LIMIT None e) (fun () -> show_error e);
       Unix.close extra;
       List.iteri (fun i fd ->
           let e = next_error ~secs:5.0 fd in
           let at = Unix.gettimeofday () -. t0 in
           check (Printf.sprintf "slowloris.timeout.%d" i) (is_error TIMEOUT None e && at > 0.8 && at < 2.5)
             (fun () -> Printf.sprintf "%s after %.2f s" (show_error e) at);
           Unix.close fd)
         slow;
       send good Msg.bye "";
       ignore (recv good);
       Unix.close good;
       Unix.sleepf 0.2;
       let again = connect s.port in
       (match hello again with
        | () -> incr passed
        | exception e -> fail_test "slowloris.slots-freed" (Printexc.to_string e));
       Unix.close again)

(* Out of descriptors: the server's soft limit is lowered (prlimit) to the descriptors it has.
   Each new client must get ERROR(LIMIT) at once (the reserve descriptor), without a busy loop
   or a flood of log lines; once the limit is raised it serves again. *)
let test_emfile () =
  with_server [ "--max-conns"; "100" ] (fun s ->
      (* The lowest free descriptor: a limit there makes the next one fail with EMFILE. *)
      let fds = Sys.readdir (Printf.sprintf "/proc/%d/fd" s.pid) |> Array.to_list
                |> List.filter_map int_of_string_opt in
      let rec lowest n = if List.mem n fds then lowest (n + 1) else n in
      let nfd = lowest 0 in
      let hard = hard_nofile () in
      if not (prlimit s.pid (Printf.sprintf "--nofile=%d:%s" nfd hard)) then
        note "emfile: prlimit failed, test skipped"
      else begin
        let cpu0 = cpu_seconds s.pid and t0 = Unix.gettimeofday () in
        let ok = ref 0 and last = ref "" in
        for _ = 1 to 20 do
          let fd = connect s.port in
          let e = next_error ~secs:1.0 fd in
          if is_error LIMIT None e then incr ok else last := show_error e;
          Unix.close fd
        done;
        (* A client left pending, unanswered, would make a spinning loop show here. *)
        Unix.sleepf 0.5;
        let cpu = cpu_seconds s.pid -. cpu0 and dt = Unix.gettimeofday () -. t0 in
        let lines = List.filter (fun l -> contains l "descriptors" || contains l "accept") (log_lines s) in
        note "emfile: %d of 20 refused with LIMIT; server CPU %.2f s in %.2f s; %d log lines" !ok
          cpu dt (List.length lines);
        check "emfile.refused" (!ok = 20) (fun () -> Printf.sprintf "%d refused; last: %s" !ok !last);
        check "emfile.no-spin" (cpu < 0.3) (fun () -> Printf.sprintf "%.2f s of CPU" cpu);
        check "emfile.log-bounded" (List.length lines <= 3) (fun () ->
            Printf.sprintf "%d lines" (List.length lines));
        ignore (prlimit s.pid (Printf.sprintf "--nofile=1024:%s" hard));
        let fd = connect s.port in
        (match hello fd; send fd Msg.ping "back"; recv fd with
         | t, p -> check "emfile.serves-again" (t = Msg.pong && p = "back") (fun () -> Msg.name t)
         | exception e -> fail_test "emfile.serves-again" (Printexc.to_string e));
        Unix.close fd
      end)

let processes_of_uid uid =
  Sys.readdir "/proc" |> Array.to_list
  |> List.filter (fun d ->
      int_of_string_opt d <> None
      && (try
            let ic = open_in (Printf.sprintf "/proc/%s/status" d) in
            Fun.protect ~finally:(fun () -> close_in ic) (fun () ->
                let rec go () =
                  let l = input_line ic in
                  if String.length l > 4 && String.sub l 0 4 = "Uid:" then
                    Scanf.sscanf l "Uid: %d" (fun u -> u = uid)
                  else go () in
                go ())
          with _ -> false))
  |> List.length

(* Out of processes: the server runs as nobody (RLIMIT_NPROC does not bind root) with a process
   limit that another process of nobody (a sleep) fills, so fork fails.  Each client must get
   ERROR(LIMIT) at once, the log must stay short; once the sleep is gone it serves again. *)
let test_fork_fails () =
  let nobody = 65534 and setpriv = "/usr/bin/setpriv" in
  let as_nobody = [ setpriv; "--reuid=65534"; "--regid=65534"; "--clear-groups" ] in
  if Unix.getuid () <> 0 || not (Sys.file_exists setpriv) then
    note "fork-fails: needs root and setpriv to run the server as nobody, test skipped"
  else begin
    let k = processes_of_uid nobody in
    let null = Unix.openfile "/dev/null" [ Unix.O_WRONLY ] 0 in
    let blocker =
      Unix.create_process setpriv (Array.of_list (as_nobody @ [ "sleep"; "30" ])) Unix.stdin null null in
    Unix.close null;
    let deadline = Unix.gettimeofday () +. 2.0 in
    while processes_of_uid nobody <= k && Unix.gettimeofday () < deadline do Unix.sleepf 0.01 done;
    let stop_blocker () =
      (try Unix.kill blocker Sys.sigkill with Unix.Unix_error _ -> ());
      (try ignore (Unix.waitpid [] blocker) with Unix.Unix_error _ -> ()) in
    Fun.protect ~finally:stop_blocker (fun () ->
        with_server ~wrap:("prlimit" :: Printf.sprintf "--nproc=%d:%d" (k + 2) (k + 2) :: as_nobody)
          [ "--max-conns"; "100" ] (fun s ->
              let cpu0 = cpu_seconds s.pid in
              let ok = ref 0 and last = ref "" in
              for _ = 1 to 20 do
                let fd = connect s.port in
                let e = next_error ~secs:1.0 fd in
                if is_error LIMIT None e then incr ok else last := show_error e;
                Unix.close fd
              done;
              let cpu = cpu_seconds s.pid -. cpu0 in
              let lines = List.filter (fun l -> contains l "fork") (log_lines s) in
              note "fork-fails: %d of 20 refused with LIMIT; server CPU %.2f s; %d log lines" !ok cpu
                (List.length lines);
              check "fork-fails.refused" (!ok = 20) (fun () ->
                  Printf.sprintf "%d refused; last: %s" !ok !last);
              check "fork-fails.no-spin" (cpu < 0.3) (fun () -> Printf.sprintf "%.2f s of CPU" cpu);
              check "fork-fails.log-bounded" (List.length lines <= 3) (fun () ->
                  Printf.sprintf "%d lines" (List.length lines));
              stop_blocker ();
              Unix.sleepf 0.2;
              let fd = connect s.port in
              (match hello fd; send fd Msg.ping "back"; recv fd with
               | t, p -> check "fork-fails.serves-again" (t = Msg.pong && p = "back") (fun () -> Msg.name t)
               | exception e -> fail_test "fork-fails.serves-again" (Printexc.to_string e));
              Unix.close fd))
  end

(* ------------------------------------------------------------------ *)
(* Memory                                                              *)

let u32_string n = let b = Bytes.create 4 in Bytes.set_int32_be b 0 (Int32.of_int n); Bytes.to_string b

let the_child s =
  match children_of s.pid with [ c ] -> Some c | _ -> None

let mib kb = float_of_int kb /. 1024.0

(* One request of [payload] on a connection of its own: the reply must be [expect reply]; the
   child's peak RSS (VmHWM) above its RSS before the request must stay within [factor] times the
   payload. *)
let test_request_memory name ty payload ~expect ~factor =
  test name @@ fun () ->
  with_server [ "--quiet" ] (fun s ->
      let fd = connect s.port in
      hello fd;
      match the_child s with
      | None -> fail_test (name ^ ".child") "not one child"
      | Some c ->
        let before = proc_kb "status" c "VmRSS:" in
        let t0 = Unix.gettimeofday () in
        send fd ty payload;
        let t, reply = recv ~secs:30.0 fd in
        let dt = Unix.gettimeofday () -. t0 in
        let peak = proc_kb "status" c "VmHWM:" in
        let size = float_of_int (String.length payload) /. 1048576.0 in
        let grew = mib (peak - before) in
        note "%s: %.1f MiB request answered in %.2f s; child RSS %.1f MiB before, peak %.1f MiB \
              (+%.1f MiB = %.1fx the payload)" name size dt (mib before) (mib peak) grew (grew /. size);
        check (name ^ ".reply") (expect t reply) (fun () -> Msg.name t);
        check (name ^ ".memory") (grew <= factor *. size) (fun () ->
            Printf.sprintf "peak grew %.1f MiB for %.1f MiB" grew size);
        Unix.close fd)


(* [prefix], then a list:list of as many empty list:u8 as fit in [size] bytes (16 MiB). *)
let empty_lists ?(size = default_max_payload) prefix =
  let n = (size - String.length prefix - 6) / 5 in
  let b = Bytes.make (String.length prefix + 6 + 5 * n) '\000' in
  Bytes.blit_string prefix 0 b 0 (String.length prefix);
  let q = String.length prefix in
  Bytes.blit_string ("\x50\x50" ^ u32_string n) 0 b q 6;
  for i = 0 to n - 1 do Bytes.set b (q + 6 + 5 * i) '\x01' done;
  Bytes.unsafe_to_string b

let test_memory () =
  (* One list:list of 3,355,442 empty list:u8: 16 MiB exactly, the costliest valid payload. *)
  let lists = empty_lists "" in
  test_request_memory "memory.roundtrip" Msg.roundtrip lists ~factor:4.0
    ~expect:(fun t r -> t = Msg.roundtrip_reply && r = lists);
  (* The others at 4 MiB, to keep the suite short.  STATS over 256 Ki i64 and 256 Ki f64: an
     i64 value costs 64 bytes in a tree. *)
  let k = 1 lsl 18 in
  let ints = "\x50\x14" ^ u32_string k ^ String.make (8 * k) '\001' in
  let floats = "\x50\x24" ^ u32_string k ^ String.make (8 * k) '\000' in
  let stats = ints ^ floats ^ "\x41\000\000\000\000" in
  test_request_memory "memory.stats" Msg.stats stats ~factor:4.0
    ~expect:(fun t r ->
        t = Msg.stats_reply
        && (match decode_fields r with
            | I64 sum :: I64 lo :: _ -> Int64.equal lo 0x0101010101010101L
                                        && Int64.equal sum (Int64.mul 0x0101010101010101L (Int64.of_int k))
            | _ -> false));
  (* VECTOR_CHECK of a known vector followed by 4 MiB that do not match: the mismatch is found
     and shown (clipped) without the request's value tree. *)
  let check_req = empty_lists ~size:(4 * 1048576) (encode_fields [ String "u8.1" ]) in
  test_request_memory "memory.vector-check" Msg.vector_check check_req ~factor:4.0
    ~expect:(fun t r ->
        t = Msg.vector_result
        && (match Wire.Interop.parse_vector_result r with
            | st, "0", "u8:1", got -> st = Wire.Interop.status_mismatch && String.length got = 4096
            | _ -> false));
  (* A BYE padded with such lists: validated, never built. *)
  test_request_memory "memory.bye" Msg.bye (empty_lists ~size:(4 * 1048576) "") ~factor:4.0
    ~expect:(fun t _ -> t = Msg.bye)

(* A header announcing 16 MiB, then 64 KiB of it: the child must not grow by the announced size
   (SPEC 9.2).  VmData too, not only RSS: an OCaml Bytes.create of 16 MiB maps memory that is
   only counted in RSS once written. *)
let test_announced () =
  with_server [ "--quiet" ] (fun s ->
      let fd = connect s.port in
      hello fd;
      match the_child s with
      | None -> fail_test "announced.child" "not one child"
      | Some c ->
        let rss0 = proc_kb "status" c "VmRSS:" and data0 = proc_kb "status" c "VmData:" in
        write_all fd (encode_header ~msg_type:Msg.echo ~length:default_max_payload ^ String.make 65536 'x');
        Unix.sleepf 0.3;
        let rss = proc_kb "status" c "VmHWM:" and data = proc_kb "status" c "VmData:" in
        note "announced: 16 MiB announced, 64 KiB sent: child RSS %d -> peak %d kB, VmData %d -> %d kB"
          rss0 rss data0 data;
        check "announced.no-alloc" (rss - rss0 < 2048 && data - data0 < 2048) (fun () ->
            Printf.sprintf "RSS grew %d kB, VmData %d kB" (rss - rss0) (data - data0));
        Unix.close fd)

(* A client that pipelines 64 KiB ECHOs and never reads its replies (SPEC 9.3): the child stops
   reading once a reply cannot be written, so its memory must stay bounded (it grew 6 MiB, dead
   frames the GC had not collected); others are still served. *)
let test_never_read () =
  with_server [ "--quiet" ] (fun s ->
      let fd = connect s.port in
      hello fd;
      match the_child s with
      | None -> fail_test "never-read.child" "not one child"
      | Some c ->
        let before = proc_kb "status" c "VmRSS:" in
        let req = encode_frame Msg.echo (String.make 65536 '\xab') in
        Unix.set_nonblock fd;
        (* Until the socket buffers are full and stay full, at most 2 s. *)
        let deadline = dl ~secs:2.0 () in
        let rec push sent off =
          if Unix.gettimeofday () >= deadline then sent
          else
            match Unix.single_write_substring fd req off (String.length req - off) with
            | n -> push (sent + n) ((off + n) mod String.length req)
            | exception Unix.Unix_error ((Unix.EAGAIN | Unix.EWOULDBLOCK | Unix.EINTR), _, _) ->
              Unix.sleepf 0.01; push sent off in
        let sent = push 0 0 in
        Unix.sleepf 0.3;
        let peak = proc_kb "status" c "VmHWM:" in
        let grew = mib (peak - before) in
        note "never-read: %.1f MiB of ECHOs sent, replies unread: child RSS %.1f MiB before, \
              peak %.1f MiB (+%.1f MiB)" (mib (sent / 1024)) (mib before) (mib peak) grew;
        check "never-read.sent" (sent > 2 * 1048576) (fun () -> Printf.sprintf "%d bytes" sent);
        check "never-read.memory" (grew <= 3.0) (fun () -> Printf.sprintf "peak grew %.1f MiB" grew);
        (* Another client is served meanwhile. *)
        let fd2 = connect s.port in
        hello fd2;
        send fd2 Msg.ping "x";
        check "never-read.others" (fst (recv fd2) = Msg.pong) (fun () -> "no PONG");
        Unix.close fd2;
        Unix.close fd)

(* PSS of an idle connection after HELLO (its child), for the threat model. *)
let test_idle_cost () =
  with_server [ "--quiet" ] (fun s ->
      let n = 20 in
      let fds = List.init n (fun _ -> let fd = connect s.port in hello fd; fd) in
      Unix.sleepf 0.2;
      let kids = children_of s.pid in
      let pss = List.fold_left (fun a c -> a + proc_kb "smaps_rollup" c "Pss:") 0 kids in
      let rss = List.fold_left (fun a c -> a + proc_kb "status" c "VmRSS:") 0 kids in
      (* PSS shares the pages common to parent and children among them; the private pages
         are what one more connection adds. *)
      let priv = List.fold_left (fun a c ->
          a + proc_kb "smaps_rollup" c "Private_Clean:" + proc_kb "smaps_rollup" c "Private_Dirty:") 0 kids in
      let parent = proc_kb "smaps_rollup" s.pid "Pss:" in
      let k = max 1 (List.length kids) in
      let per = pss / k in
      note "idle: %d connections after HELLO: per child PSS %d kB, private %d kB, RSS %d kB; \
            parent PSS %d kB" (List.length kids) per (priv / k) (rss / k) parent;
      check "idle.children" (List.length kids = n) (fun () -> string_of_int (List.length kids));
      check "idle.pss" (per > 0 && per < 4096) (fun () -> Printf.sprintf "%d kB" per);
      List.iter Unix.close fds)

(* ------------------------------------------------------------------ *)
(* What must not be answered, and BYE payloads that do not decode      *)

let test_peer_errors () =
  with_server [ "--quiet" ] (fun s ->
      let long_text = encode_fields [ U16 19; U32 no_offset; String (String.make 1025 't') ] in
      List.iter (fun (name, after_hello, payload) ->
          test ("never-answered." ^ name) (fun () ->
              let fd = connect s.port in
              if after_hello then hello fd;
              send fd Msg.error payload;
              check ("never-answered." ^ name) (closed_silently fd) (fun () -> "answered, or not closed");
              Unix.close fd))
        [ "before-hello", false, error_payload ~code:19 "no";
          "before-hello.malformed", false, "\x07";
          "before-hello.empty", false, "";
          "before-hello.wrong-fields", false, encode_fields [ String "x" ];
          "after-hello", true, error_payload ~code:300 "no";
          "after-hello.malformed", true, "\x01";
          "after-hello.empty", true, "";
          "after-hello.text-too-long", true, long_text ])

(* A header cut by EOF before its 8th byte is lost, never answered, even when the bytes present
   are already wrong (SPEC 2.3, 8.5); the server answered them with VERSION or HEADER. *)
let test_partial_header () =
  with_server [ "--quiet" ] (fun s ->
      List.iter (fun (after_hello, bytes) ->
          let name = Printf.sprintf "partial-header.%s%s"
              (if after_hello then "after-hello." else "") (Wire.Text.format_hex bytes) in
          test name (fun () ->
              let fd = connect s.port in
              if after_hello then hello fd;
              write_all fd bytes;
              Unix.shutdown fd Unix.SHUTDOWN_SEND;
              check name (closed_silently fd) (fun () -> "answered, or not closed");
              Unix.close fd))
        [ false, "\002\000\000\001\000\000\000"; false, "\001\000\000\000\000";
          false, "\001\001"; false, "GET / H";
          true, "\002\000\000\001\000\000\000"; true, "\001\000\000\000\000";
          true, "\001\000\001\000\255\255\255" ])

let test_bad_bye () =
  with_server [ "--quiet" ] (fun s ->
      let nest open_ n = String.concat "" (List.init n (fun _ -> open_)) in
      (* 100,000 levels: list:list of one element, each a list:list of one ...; and groups
         (each length covers the rest). *)
      let levels = 100_000 in
      let list_bomb = "\x50" ^ nest "\x50\000\000\000\001" levels in
      let group_bomb =
        let b = Buffer.create (5 * levels) in
        for i = levels downto 1 do
          Buffer.add_char b '\x51';
          Buffer.add_string b (u32_string (5 * (i - 1)))
        done;
        Buffer.contents b in
      let expected payload =
        match decode payload with
        | Result.Error e -> Result.Ok (code_number e.code, Option.map (( + ) header_size) e.offset)
        | Result.Ok _ -> Result.Error "decodes" in
      List.iter (fun (name, payload) ->
          test ("bad-bye." ^ name) (fun () ->
              let want = expected payload in
              let fd = connect s.port in
              hello fd;
              let t0 = Unix.gettimeofday () in
              send fd Msg.bye payload;
              let got = next_error fd in
              let dt = Unix.gettimeofday () -. t0 in
              check ("bad-bye." ^ name) (Result.is_ok want && got = want && dt < 2.0) (fun () ->
                  Printf.sprintf "got %s, want %s, in %.2f s" (show_error got) (show_error want) dt);
              Unix.close fd))
        [ "badtag", "\x07"; "truncated", "\x02\x01"; "bad-utf8", "\x40\000\000\000\001\xff";
          "list-bomb", list_bomb; "group-bomb", group_bomb ];
      check "bad-bye.depth"
        (match decode list_bomb, decode group_bomb with
         | Result.Error { code = DEPTH; _ }, Result.Error { code = DEPTH; _ } -> true
         | _ -> false)
        (fun () -> "the bombs are not DEPTH errors"))

let timed name f =
  let t0 = Unix.gettimeofday () in
  f ();
  if Sys.getenv_opt "WIRE_E2E_TIMES" <> None then
    Printf.printf "time %s: %.2f s\n%!" name (Unix.gettimeofday () -. t0)

let () =
  Sys.set_signal Sys.sigpipe Sys.Signal_ignore;
  let only = Sys.getenv_opt "WIRE_HOSTILE_ONLY" in
  (* An exception (the server died under us) fails the part, not the run. *)
  let part name f = if only = None || only = Some name then timed name (fun () -> test name f) in
  part "refusals" test_refusals;
  part "slowloris" test_slowloris;
  part "emfile" test_emfile;
  part "fork-fails" test_fork_fails;
  part "memory" test_memory;
  part "announced" test_announced;
  part "never-read" test_never_read;
  part "idle" test_idle_cost;
  part "peer-errors" test_peer_errors;
  part "bad-bye" test_bad_bye;
  part "partial-header" test_partial_header;
  finish ()
