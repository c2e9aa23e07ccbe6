(* SPDX-License-Identifier: MIT *)
(* The small assertion harness both test programs share: counts, failure lines, the final
   "<N> passed, <M> failed" line, and where proto/ is. *)

let passed = ref 0
let failed = ref 0

let fail_test name why =
  incr failed;
  Printf.printf "FAIL %s: %s\n%!" name why

let check name cond why = if cond then incr passed else fail_test name (why ())

(* Runs [f]; any exception is a failure of test [name]. *)
let test name f =
  match f () with
  | () -> ()
  | exception e -> fail_test name ("raised " ^ Printexc.to_string e)

(* proto/: $WIRE_PROTO_DIR, else walk up from the cwd (dune runs tests in _build/default/test,
   below the source tree). *)
let proto_dir =
  match Sys.getenv_opt "WIRE_PROTO_DIR" with
  | Some d -> d
  | None ->
    match Wire.Text.find_proto_dir (Sys.getcwd ()) with
    | Some d -> d
    | None -> prerr_endline "cannot find proto/vectors.txt above the cwd"; exit 2

let proto f = Filename.concat proto_dir f

(* A line from fd within [secs] seconds, without its newline. *)
let read_line_timeout fd secs =
  let b = Buffer.create 16 and c = Bytes.create 1 in
  let deadline = Unix.gettimeofday () +. secs in
  let rec go () =
    match Wire.read_some ~deadline fd c 0 1 with
    | 0 -> None
    | _ -> if Bytes.get c 0 = '\n' then Some (Buffer.contents b) else (Buffer.add_bytes b c; go ())
    | exception Wire.Error _ -> None in
  go ()

(* Starts a server executable with [args], its stderr to [log]; returns
   its pid and the port it printed on its first stdout line (SPEC 9.3). *)
let spawn_server ?(log = "/dev/null") exe args =
  let r, w = Unix.pipe ~cloexec:true () in
  let err = Unix.openfile log [ Unix.O_WRONLY; Unix.O_CREAT; Unix.O_TRUNC; Unix.O_CLOEXEC ] 0o644 in
  let pid = Unix.create_process exe (Array.of_list (exe :: args)) Unix.stdin w err in
  Unix.close w; Unix.close err;
  let line = read_line_timeout r 10.0 in
  Unix.close r;
  match Option.bind line int_of_string_opt with
  | Some port -> Some (pid, port)
  | None ->
    (try Unix.kill pid Sys.sigkill with Unix.Unix_error _ -> ());
    ignore (Unix.waitpid [] pid);
    None

(* A process's state letter from /proc/PID/stat ('Z' for a zombie), None
   once it is gone. *)
let proc_state pid =
  try
    let ic = open_in (Printf.sprintf "/proc/%d/stat" pid) in
    let l = Fun.protect ~finally:(fun () -> close_in ic) (fun () -> input_line ic) in
    Some l.[String.rindex l ')' + 2]
  with _ -> None

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

let connect ?(host = "127.0.0.1") port =
  let ai =
    List.hd (Unix.getaddrinfo host (string_of_int port) [ Unix.AI_SOCKTYPE Unix.SOCK_STREAM ]) in
  let fd = Unix.socket ai.Unix.ai_family Unix.SOCK_STREAM 0 in
  Unix.connect fd ai.Unix.ai_addr;
  fd

(* Prints the summary line and exits 0 only if nothing failed. *)
let finish () =
  Printf.printf "%d passed, %d failed\n%!" !passed !failed;
  exit (if !failed = 0 then 0 else 1)
