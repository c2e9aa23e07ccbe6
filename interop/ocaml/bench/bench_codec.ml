(* SPDX-License-Identifier: MIT *)
(* The OCaml codec against plain packing of the same bytes (issue 11): the representative
   message (bench/message.hex) encoded and decoded by module Wire, and by hand with
   Bytes.set_* / Bytes.get_*, measured alternately in this one process.

   Prints free text and lines `result ocaml <name> <unit> <median> <min> <max>`; the ratios
   are wire / plain per pair of adjacent runs.  Exit 1 if an encoder does not produce
   message.hex exactly or a decoder does not give back the values; exit 2 on bad usage. *)

let usage =
  "bench_codec.exe [--message FILE] [--seconds S] [--runs N]\n\
  \  --message FILE  the payload, hex on one line (default: bench/message.hex above the cwd)\n\
  \  --seconds S     bound on the whole run (default 20; at least runs x rows x 0.2 s)\n\
  \  --runs N        runs per row (default: as many as fit in S, at least 5)\n\
  \  --only ROW --iters N  run one row N times, untimed (for valgrind or perf stat)"

let die code fmt = Printf.ksprintf (fun s -> prerr_endline ("bench_codec: " ^ s); exit code) fmt

(* ------------------------------------------------------------------ *)
(* The representative message                                         *)

let name = "sensor-kitchen-1"
let raw = String.init 16 Char.chr
let items = [| 1; -2; 3; -4 |]

let values =
  Wire.
    [ U32 16909060; I64 (-1234567890123L); F64 21.5; String name; Bool true; U16 513;
      Bytes raw; List (T_i32, Array.to_list (Array.map (fun i -> I32 i) items)) ]

(* The native values a hand-written decoder fills in. *)
type native = {
  u32 : int;
  i64 : int64;
  f64 : float;
  str : string;
  flag : bool;
  u16 : int;
  bytes : string;
  list : int array;
}

let native_of_values () =
  { u32 = 16909060; i64 = -1234567890123L; f64 = 21.5; str = name; flag = true; u16 = 513;
    bytes = raw; list = Array.copy items }

let values_of_native n =
  Wire.
    [ U32 n.u32; I64 n.i64; F64 n.f64; String n.str; Bool n.flag; U16 n.u16; Bytes n.bytes;
      List (T_i32, Array.to_list (Array.map (fun i -> I32 i) n.list)) ]

(* ------------------------------------------------------------------ *)
(* Plain packing: the same 92 bytes, by hand                           *)

let put_len b p n = Bytes.set_int32_be b p (Int32.of_int n)

let plain_encode b n =
  Bytes.set_uint8 b 0 0x03;
  Bytes.set_int32_be b 1 (Int32.of_int n.u32);
  Bytes.set_uint8 b 5 0x14;
  Bytes.set_int64_be b 6 n.i64;
  Bytes.set_uint8 b 14 0x24;
  Bytes.set_int64_be b 15 (Int64.bits_of_float n.f64);
  Bytes.set_uint8 b 23 0x40;
  let sl = String.length n.str in
  put_len b 24 sl;
  Bytes.blit_string n.str 0 b 28 sl;
  let p = 28 + sl in
  Bytes.set_uint8 b p 0x30;
  Bytes.set_uint8 b (p + 1) (if n.flag then 1 else 0);
  Bytes.set_uint8 b (p + 2) 0x02;
  Bytes.set_uint16_be b (p + 3) n.u16;
  Bytes.set_uint8 b (p + 5) 0x41;
  let bl = String.length n.bytes in
  put_len b (p + 6) bl;
  Bytes.blit_string n.bytes 0 b (p + 10) bl;
  let p = p + 10 + bl in
  Bytes.set_uint8 b p 0x50;
  Bytes.set_uint8 b (p + 1) 0x13;
  let l = n.list in
  put_len b (p + 2) (Array.length l);
  let p = p + 6 in
  for i = 0 to Array.length l - 1 do
    Bytes.set_int32_be b (p + (4 * i)) (Int32.of_int l.(i))
  done;
  p + (4 * Array.length l)

(* Well-formed UTF-8 (Unicode Table 3-7); ASCII by the first branch.  Top-level and
   closure-free, so that the baseline allocates nothing for it. *)
let in_range b stop i lo hi =
  i < stop && (let c = Char.code (Bytes.unsafe_get b i) in c >= lo && c <= hi)

let rec utf8_from b stop i =
  (* Eight ASCII bytes at a time while they last, as Wire does. *)
  if i + 8 <= stop && Int64.logand (Bytes.get_int64_ne b i) 0x8080_8080_8080_8080L = 0L then
    utf8_from b stop (i + 8)
  else if i >= stop then true
  else
    let c = Char.code (Bytes.unsafe_get b i) in
    if c < 0x80 then utf8_from b stop (i + 1)
    else if c >= 0xC2 && c <= 0xDF then in_range b stop (i + 1) 0x80 0xBF && utf8_from b stop (i + 2)
    else if c >= 0xE0 && c <= 0xEF then
      let lo = if c = 0xE0 then 0xA0 else 0x80 and hi = if c = 0xED then 0x9F else 0xBF in
      in_range b stop (i + 1) lo hi && in_range b stop (i + 2) 0x80 0xBF && utf8_from b stop (i + 3)
    else if c >= 0xF0 && c <= 0xF4 then
      let lo = if c = 0xF0 then 0x90 else 0x80 and hi = if c = 0xF4 then 0x8F else 0xBF in
      in_range b stop (i + 1) lo hi && in_range b stop (i + 2) 0x80 0xBF
      && in_range b stop (i + 3) 0x80 0xBF && utf8_from b stop (i + 4)
    else false

let utf8_ok b off len = utf8_from b (off + len) off

exception Bad of string

let[@inline] expect b p tag = if Bytes.get_uint8 b p <> tag then raise (Bad (Printf.sprintf "tag at %d" p))

(* A u32 length that must fit in what remains of [len] bytes. *)
let get_len b p len =
  let n = Int32.to_int (Bytes.get_int32_be b p) land 0xFFFF_FFFF in
  if n > len - (p + 4) then raise (Bad (Printf.sprintf "length at %d" p));
  n

(* Returns a fresh record, as a decoder does (and as Wire's fresh values): no caml_modify. *)
let plain_decode b len =
  if len > Bytes.length b then raise (Bad "length");
  expect b 0 0x03;
  let u32 = Int32.to_int (Bytes.get_int32_be b 1) land 0xFFFF_FFFF in
  expect b 5 0x14;
  let i64 = Bytes.get_int64_be b 6 in
  expect b 14 0x24;
  let f64 = Int64.float_of_bits (Bytes.get_int64_be b 15) in
  expect b 23 0x40;
  let sl = get_len b 24 len in
  if not (utf8_ok b 28 sl) then raise (Bad "utf-8");
  let str = Bytes.sub_string b 28 sl in
  let p = 28 + sl in
  expect b p 0x30;
  let flag = match Bytes.get_uint8 b (p + 1) with 0 -> false | 1 -> true | _ -> raise (Bad "bool") in
  expect b (p + 2) 0x02;
  let u16 = Bytes.get_uint16_be b (p + 3) in
  expect b (p + 5) 0x41;
  let bl = get_len b (p + 6) len in
  let bytes = Bytes.sub_string b (p + 10) bl in
  let p = p + 10 + bl in
  expect b p 0x50;
  expect b (p + 1) 0x13;
  let count = get_len b (p + 2) len in
  let p = p + 6 in
  if count > (len - p) / 4 then raise (Bad "count");
  let list = Array.make count 0 in
  for i = 0 to count - 1 do
    list.(i) <- Int32.to_int (Bytes.get_int32_be b (p + (4 * i)))
  done;
  if p + (4 * count) <> len then raise (Bad "trailing bytes");
  { u32; i64; f64; str; flag; u16; bytes; list }

(* ------------------------------------------------------------------ *)
(* Wire.Writer / Wire.Reader: the same bytes, field by field           *)

let rw_encode w n =
  Wire.Writer.clear w;
  Wire.Writer.u32 w n.u32;
  Wire.Writer.i64 w n.i64;
  Wire.Writer.f64 w n.f64;
  Wire.Writer.string w n.str;
  Wire.Writer.bool w n.flag;
  Wire.Writer.u16 w n.u16;
  Wire.Writer.bytes w n.bytes;
  let l = n.list in
  Wire.Writer.list w Wire.T_i32 (Array.length l);
  for i = 0 to Array.length l - 1 do Wire.Writer.i32 w l.(i) done

(* Like plain_encode, into the writer's own buffer, not a fresh string. *)
let rw_contents w n = rw_encode w n; Wire.Writer.contents w

let rw_decode ?len s =
  let r = Wire.Reader.create ?len s in
  let u32 = Wire.Reader.u32 r in
  let i64 = Wire.Reader.i64 r in
  let f64 = Wire.Reader.f64 r in
  let str = Wire.Reader.string r in
  let flag = Wire.Reader.bool r in
  let u16 = Wire.Reader.u16 r in
  let bytes = Wire.Reader.bytes r in
  let count = Wire.Reader.list r Wire.T_i32 in
  let list = Array.make count 0 in
  for i = 0 to count - 1 do list.(i) <- Wire.Reader.i32 r done;
  Wire.Reader.finish r;
  { u32; i64; f64; str; flag; u16; bytes; list }

(* ------------------------------------------------------------------ *)
(* Timing                                                              *)

let now = Unix.gettimeofday

(* A row: [run n] does n operations. *)
type row = { name : string; run : int -> unit; mutable iters : int; mutable ns : float list }

let sink = ref ""
let sink_v = ref []
let sink_n = ref (native_of_values ())

let wire_rows () =
  let payload = Wire.encode_fields values in
  [ { name = "wire.encode"; iters = 0; ns = [];
      run = (fun n -> for _ = 1 to n do sink := Wire.encode_fields values done) };
    { name = "wire.decode"; iters = 0; ns = [];
      run = (fun n -> for _ = 1 to n do sink_v := Wire.decode_fields payload done) };
    { name = "wire.encode_decode"; iters = 0; ns = [];
      run = (fun n -> for _ = 1 to n do sink_v := Wire.decode_fields (Wire.encode_fields values) done) } ]

let rw_rows () =
  let src = native_of_values () and w = Wire.Writer.create () in
  let payload = rw_contents w src in
  [ { name = "wire_rw.encode"; iters = 0; ns = [];
      run = (fun n -> for _ = 1 to n do rw_encode w src done) };
    { name = "wire_rw.decode"; iters = 0; ns = [];
      run = (fun n -> for _ = 1 to n do sink_n := rw_decode payload done) };
    { name = "wire_rw.encode_decode"; iters = 0; ns = [];
      run = (fun n ->
          for _ = 1 to n do
            rw_encode w src;
            sink_n := rw_decode ~len:(Wire.Writer.length w) (Bytes.unsafe_to_string (Wire.Writer.buffer w))
          done) } ]

let plain_rows () =
  let src = native_of_values () in
  let b = Bytes.create 256 in
  let len = plain_encode b src in
  let enc = Bytes.create 256 in
  [ { name = "plain.encode"; iters = 0; ns = [];
      run = (fun n -> for _ = 1 to n do ignore (plain_encode enc src) done) };
    { name = "plain.decode"; iters = 0; ns = [];
      run = (fun n -> for _ = 1 to n do sink_n := plain_decode b len done) };
    { name = "plain.encode_decode"; iters = 0; ns = [];
      run = (fun n -> for _ = 1 to n do sink_n := plain_decode enc (plain_encode enc src) done) } ]

(* One run of a group: each row's run is [slices] slices of [slice] seconds, the rows'
   slices interleaved (wire, wire_rw, plain, wire, ...), so that a change of load on this
   shared machine falls on every row of the group alike; each row's run sums to at least
   [slices * slice] = 0.2 s.  Appends ns per operation to each row. *)
let slices = 10

let time_group slice rows =
  let total = Array.make (List.length rows) 0. and ops = Array.make (List.length rows) 0 in
  Gc.minor ();
  for _ = 1 to slices do
    List.iteri
      (fun i r ->
         (* Chunks of r.iters until the slice is spent: a run lasts its 0.2 s however the
            load changed since calibration. *)
         let t0 = now () in
         let rec go () =
           r.run r.iters;
           ops.(i) <- ops.(i) + r.iters;
           if now () -. t0 < slice then go () in
         go ();
         total.(i) <- total.(i) +. (now () -. t0))
      rows
  done;
  List.iteri (fun i r -> r.ns <- (total.(i) *. 1e9 /. float_of_int ops.(i)) :: r.ns) rows

(* Iterations for about [secs] seconds (a quarter of a slice). *)
let calibrate r secs =
  let rec go n =
    let t0 = now () in
    r.run n;
    let dt = now () -. t0 in
    if dt >= 0.02 then max 1 (int_of_float (float_of_int n *. secs /. dt)) else go (n * 4) in
  r.iters <- go 256

let median l =
  let a = Array.of_list l in
  Array.sort compare a;
  let n = Array.length a in
  if n mod 2 = 1 then a.(n / 2) else (a.((n / 2) - 1) +. a.(n / 2)) /. 2.

let report name unit fmt l =
  let lo = List.fold_left min infinity l and hi = List.fold_left max neg_infinity l in
  Printf.printf "result ocaml %s %s %s %s %s\n" name unit (fmt (median l)) (fmt lo) (fmt hi)

(* ------------------------------------------------------------------ *)
(* Start-up checks                                                     *)

let find_message () =
  let rec up d =
    let f = Filename.concat (Filename.concat d "bench") "message.hex" in
    if Sys.file_exists f then Some f
    else
      let p = Filename.dirname d in
      if p = d then None else up p in
  up (Sys.getcwd ())

let read_hex file =
  let ic = try open_in_bin file with Sys_error e -> die 2 "%s" e in
  let line = try String.trim (input_line ic) with End_of_file -> "" in
  close_in ic;
  match Wire.Text.hex_decode line with
  | s -> s
  | exception Wire.Error e -> die 1 "%s: %s" file (Wire.string_of_error e)

let check_codecs expected =
  let hex = Wire.Text.hex_encode in
  let fails = ref 0 in
  let bad fmt = Printf.ksprintf (fun s -> incr fails; Printf.printf "FAIL %s\n" s) fmt in
  let got = Wire.encode_fields values in
  if got <> expected then bad "wire encode: %s, expected %s" (hex got) (hex expected);
  (match Wire.decode_fields expected with
   | vs -> if not (Wire.equal_values vs values) then bad "wire decode: %s" (Wire.Text.format_fields vs)
   | exception Wire.Error e -> bad "wire decode: %s" (Wire.string_of_error e));
  let got = rw_contents (Wire.Writer.create ~capacity:16 ()) (native_of_values ()) in
  if got <> expected then bad "Writer encode: %s, expected %s" (hex got) (hex expected);
  (match rw_decode expected with
   | n ->
     if not (Wire.equal_values (values_of_native n) values) then
       bad "Reader decode: %s" (Wire.Text.format_fields (values_of_native n))
   | exception Wire.Error e -> bad "Reader decode: %s" (Wire.string_of_error e));
  let b = Bytes.make 256 '\xAA' in
  let len = plain_encode b (native_of_values ()) in
  let got = Bytes.sub_string b 0 len in
  if got <> expected then bad "plain encode: %s, expected %s" (hex got) (hex expected);
  (match plain_decode (Bytes.of_string expected) (String.length expected) with
   | n ->
     if not (Wire.equal_values (values_of_native n) values) then
       bad "plain decode: %s" (Wire.Text.format_fields (values_of_native n))
   | exception Bad why -> bad "plain decode: %s" why);
  if !fails > 0 then exit 1

let () =
  let message = ref None and seconds = ref 20.0 and runs = ref 0 in
  let only = ref None and iters = ref 100_000 in
  let rec args = function
    | [] -> ()
    | "--message" :: f :: rest -> message := Some f; args rest
    | "--seconds" :: s :: rest ->
      (match float_of_string_opt s with
       | Some x when x > 0. -> seconds := x
       | _ -> die 2 "--seconds %S: a positive number expected" s);
      args rest
    | "--runs" :: s :: rest ->
      (match int_of_string_opt s with
       | Some n when n >= 5 -> runs := n
       | _ -> die 2 "--runs %S: a whole number >= 5 expected" s);
      args rest
    | "--only" :: r :: rest -> only := Some r; args rest
    | "--iters" :: s :: rest ->
      (match int_of_string_opt s with
       | Some n when n > 0 -> iters := n
       | _ -> die 2 "--iters %S: a positive whole number expected" s);
      args rest
    | ("--help" | "-h") :: _ -> print_endline usage; exit 0
    | a :: _ -> die 2 "unknown argument %S\n%s" a usage in
  args (List.tl (Array.to_list Sys.argv));
  let file =
    match !message with
    | Some f -> f
    | None -> (match find_message () with Some f -> f | None -> die 2 "no bench/message.hex above the cwd; use --message") in
  let t_start = now () in
  let expected = read_hex file in
  check_codecs expected;
  Printf.printf "message: %s, %d bytes; encode and decode checked against it: wire, wire_rw, plain\n"
    file (String.length expected);
  (* Rows are grouped by operation, each group timed in turn, impl by impl, so that the
     runs of a pair are adjacent and a ratio compares like with like. *)
  let impls = [ wire_rows (); rw_rows (); plain_rows () ] in
  let groups = List.init 3 (fun i -> List.map (fun rows -> List.nth rows i) impls) in
  let all = List.concat groups in
  (match !only with
   | Some name ->
     (match List.find_opt (fun r -> r.name = name) all with
      | Some r -> r.run !iters; exit 0
      | None -> die 2 "--only %S: no such row (%s)" name (String.concat ", " (List.map (fun r -> r.name) all)))
   | None -> ());
  let per_run = 0.2 in
  (* Calibration costs about 2 x 0.02 s per row; the rest is shared by the runs. *)
  let budget = !seconds -. (0.1 *. float_of_int (List.length all)) in
  let runs =
    if !runs > 0 then !runs
    else max 5 (min 25 (int_of_float (budget /. (per_run *. float_of_int (List.length all))))) in
  let slice = per_run /. float_of_int slices in
  List.iter (fun r -> calibrate r (slice /. 4.)) all;
  Printf.printf "up to %d runs of about %.1f s per row, %d rows, alternating in slices of %.3f s\n%!" runs per_run
    (List.length all) slice;
  let t0 = now () in
  (* A loaded machine stretches every slice: stop once the next round would end past the
     budget, after 5 rounds at least. *)
  let rec rounds k last =
    let r0 = now () in
    if k < runs && (k < 5 || r0 -. t_start +. last <= !seconds) then begin
      List.iter (time_group slice) groups;
      rounds (k + 1) (now () -. r0)
    end
    else k in
  let done_runs = rounds 0 0. in
  Printf.printf "%d runs done; timed in %.1f s (ns per operation; wire = encode_fields/decode_fields, wire_rw = \
                 Wire.Writer/Wire.Reader; ratios are wire / plain and wire_rw / plain per run)\n" done_runs (now () -. t0);
  let ns = Printf.sprintf "%.1f" and x = Printf.sprintf "%.2f" in
  List.iter (fun r -> report r.name "ns" ns r.ns) all;
  List.iter
    (function
      | [ w; rw; p ] ->
        let op = String.sub w.name 5 (String.length w.name - 5) in
        report ("ratio." ^ op) "x" x (List.map2 ( /. ) w.ns p.ns);
        report ("ratio_rw." ^ op) "x" x (List.map2 ( /. ) rw.ns p.ns)
      | _ -> ())
    groups
