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
    match Wire_text.find_proto_dir (Sys.getcwd ()) with
    | Some d -> d
    | None -> prerr_endline "cannot find proto/vectors.txt above the cwd"; exit 2

let proto f = Filename.concat proto_dir f

(* Prints the summary line and exits 0 only if nothing failed. *)
let finish () =
  Printf.printf "%d passed, %d failed\n%!" !passed !failed;
  exit (if !failed = 0 then 0 else 1)
