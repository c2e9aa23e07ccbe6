(* SPDX-License-Identifier: MIT *)
(* The tuned codec against the one it replaced (wire_reference.ml, the code before issue 11
   verbatim): the same bytes, values, error codes, offsets and messages, on every vector of
   proto/ and on thousands of deterministic mutations of them (truncations, bytes replaced,
   random bytes changed) for the decoders, and on mutated values (out of range, bad UTF-8,
   mistyped list elements, nesting past 32) for the encoders; and Wire.Writer / Wire.Reader
   against them on the same inputs (the reader with four layouts: the same values, or the
   same error, or TYPE when the payload decodes but has another layout).  Ends with
   "<N> passed, <M> failed". *)

open Wire
open Harness
module R = Wire_reference

let hex = Wire.Text.format_hex

(* What a call gives: its value, or the error it raised (code, offset and message). *)
type 'a outcome = Value of 'a | Raised of error | Other of string

let outcome f =
  match f () with
  | v -> Value v
  | exception Error e -> Raised e
  | exception e -> Other (Printexc.to_string e)

let show show_v = function
  | Value v -> show_v v
  | Raised e -> string_of_error e
  | Other s -> "exception " ^ s

let same eq a b =
  match a, b with
  | Value x, Value y -> eq x y
  | Raised e, Raised f -> e.code = f.code && e.offset = f.offset && e.message = f.message
  | Other s, Other t -> s = t
  | _ -> false

let cases = ref 0
let disagreements = ref 0

(* Counts a comparison; the first few disagreements are printed whole. *)
let clip s = if String.length s <= 300 then s else String.sub s 0 300 ^ "..."

let compare_one what input eq show_v reference tuned =
  incr cases;
  let r = outcome reference and t = outcome tuned in
  if not (same eq r t) then begin
    incr disagreements;
    if !disagreements <= 5 then
      fail_test ("equiv." ^ what)
        (Printf.sprintf "%s: reference %s, tuned %s" (clip input) (clip (show show_v r)) (clip (show show_v t)))
  end

let fields = Wire.Text.format_fields
let located l = String.concat " " (List.map (fun (p, v) -> Printf.sprintf "%d:%s" p (Wire.Text.format_value v)) l)
let eq_located a b = List.length a = List.length b && List.for_all2 (fun (p, v) (q, w) -> p = q && equal_value v w) a b
let unit_eq () () = true

(* Wire.Writer and Wire.Reader on layouts they take (no groups, lists of non-containers). *)
let rec flat = function
  | Group _ -> false
  | List ((T_list | T_group), _) -> false
  | List (_, vs) -> List.for_all flat vs
  | _ -> true

let write_value w = function
  | U8 n -> Writer.u8 w n | U16 n -> Writer.u16 w n | U32 n -> Writer.u32 w n
  | U64 x -> Writer.u64 w x | I8 n -> Writer.i8 w n | I16 n -> Writer.i16 w n
  | I32 n -> Writer.i32 w n | I64 x -> Writer.i64 w x | F32 x -> Writer.f32 w x
  | F64 x -> Writer.f64 w x | Bool b -> Writer.bool w b | String s -> Writer.string w s
  | Bytes s -> Writer.bytes w s
  | List _ | Group _ -> assert false

let write_all vs =
  let w = Writer.create ~capacity:16 () in
  List.iter (function
      | List (e, xs) -> Writer.list w e (List.length xs); List.iter (write_value w) xs
      | v -> write_value w v)
    vs;
  Writer.contents w

(* Reads with the layout (the types) of [template]: fields, and lists' element types. *)
let read_as r = function
  | U8 _ -> U8 (Reader.u8 r) | U16 _ -> U16 (Reader.u16 r) | U32 _ -> U32 (Reader.u32 r)
  | U64 _ -> U64 (Reader.u64 r) | I8 _ -> I8 (Reader.i8 r) | I16 _ -> I16 (Reader.i16 r)
  | I32 _ -> I32 (Reader.i32 r) | I64 _ -> I64 (Reader.i64 r) | F32 _ -> F32 (Reader.f32 r)
  | F64 _ -> F64 (Reader.f64 r) | Bool _ -> Bool (Reader.bool r) | String _ -> String (Reader.string r)
  | Bytes _ -> Bytes (Reader.bytes r)
  | List _ | Group _ -> assert false

let template_of_tag = function
  | T_u8 -> U8 0 | T_u16 -> U16 0 | T_u32 -> U32 0 | T_u64 -> U64 0L | T_i8 -> I8 0
  | T_i16 -> I16 0 | T_i32 -> I32 0 | T_i64 -> I64 0L | T_f32 -> F32 0l | T_f64 -> F64 0.
  | T_bool -> Bool false | T_string -> String "" | T_bytes -> Bytes "" | T_list | T_group -> assert false

let read_all template s =
  let r = Reader.create s in
  let vs =
    List.map (function
        | List (e, _) ->
          let n = Reader.list r e in
          let t = template_of_tag e in
          List (e, List.init n (fun _ -> read_as r t))
        | v -> read_as r v)
      template in
  Reader.finish r;
  vs

let rec same_layout template vs =
  match template, vs with
  | [], _ -> true
  | List (e, _) :: ts, List (f, _) :: ws -> e = f && same_layout ts ws
  | t :: ts, v :: ws -> tag_of_value t = tag_of_value v && (match t with List _ -> false | _ -> true) && same_layout ts ws
  | _ :: _, [] -> false

let rec take n = function x :: xs when n > 0 -> x :: take (n - 1) xs | _ -> []

(* The reader's result is decode_fields' when the payload has the layout, decode_fields' error
   when it has one, TYPE otherwise. *)
let reader_values = ref 0 and reader_errors = ref 0 and reader_type = ref 0

let read_check template s =
  incr cases;
  let got = outcome (fun () -> read_all template s) in
  let ok =
    match outcome (fun () -> R.decode_fields s), got with
    | Raised e, Raised f -> incr reader_errors; e.code = f.code && e.offset = f.offset && e.message = f.message
    | Value vs, Value ws ->
      incr reader_values; same_layout template vs && equal_values (take (List.length template) vs) ws
    | Value vs, Raised f -> incr reader_type; (not (same_layout template vs)) && f.code = TYPE
    | _ -> false in
  if not ok then begin
    incr disagreements;
    if !disagreements <= 5 then
      fail_test "equiv.reader" (Printf.sprintf "%s as %s: decode %s, reader %s" (clip (hex s))
        (clip (fields template)) (clip (show fields (outcome (fun () -> R.decode_fields s)))) (clip (show fields got)))
  end

let write_check vs =
  if List.for_all flat vs then
    compare_one "writer" (fields vs) String.equal hex (fun () -> R.encode_fields vs) (fun () -> write_all vs)

let templates = ref []

(* Every decoding entry point on one input. *)
let decode_all s =
  let h = hex s in
  compare_one "decode_fields" h equal_values fields (fun () -> R.decode_fields s) (fun () -> decode_fields s);
  compare_one "decode_located" h eq_located located (fun () -> R.decode_located s) (fun () -> decode_located s);
  compare_one "validate_fields" h unit_eq (fun () -> "ok") (fun () -> R.validate_fields s) (fun () -> validate_fields s);
  compare_one "field_tags" h ( = ) (fun l -> string_of_int (List.length l))
    (fun () -> R.field_tags s) (fun () -> field_tags s);
  compare_one "utf8_error" h ( = ) (function None -> "valid" | Some i -> string_of_int i)
    (fun () -> R.utf8_error s 0 (String.length s)) (fun () -> utf8_error s 0 (String.length s));
  if String.length s > 0 then begin
    compare_one "decode_field_at" h equal_value Wire.Text.format_value
      (fun () -> R.decode_field_at s 0) (fun () -> decode_field_at s 0);
    (* Each type's untagged value at 1: read_value on arbitrary bytes. *)
    List.iter (fun t ->
        compare_one ("decode_value_at." ^ tag_name t) h equal_value Wire.Text.format_value
          (fun () -> R.decode_value_at s t 1) (fun () -> decode_value_at s t 1))
      all_tags
  end;
  List.iter (fun t -> read_check t s) !templates;
  match R.decode_fields s with
  | vs ->
    (* Its own layout too, when the reader takes it: every type, every value. *)
    if List.for_all flat vs then read_check vs s;
    compare_one "encode_fields" h String.equal hex (fun () -> R.encode_fields vs) (fun () -> encode_fields vs)
  | exception Error _ -> ()

(* Every encoding entry point on one list of values. *)
let encode_all vs =
  let h = fields vs in
  write_check vs;
  compare_one "encode_fields" h String.equal hex (fun () -> R.encode_fields vs) (fun () -> encode_fields vs);
  List.iter (fun v ->
      let h = Wire.Text.format_value v in
      let via f () = let b = Buffer.create 16 in f b v; Buffer.contents b in
      compare_one "encode_field" h String.equal hex (via R.encode_field) (via encode_field);
      compare_one "encode_value" h String.equal hex (via R.encode_value) (via encode_value))
    vs

(* Deterministic pseudo-random numbers (an LCG), the same on every run. *)
let seed = ref 12345
let rand n =
  seed := (!seed * 1103515245 + 12345) land 0x3FFF_FFFF;
  (!seed lsr 4) mod n

(* Values a decoder cannot give but an encoder must refuse, or must accept exactly. *)
let bad_values =
  [ U8 256; U8 (-1); U16 65536; U16 (-1); U32 (-1); U32 0x1_0000_0000; I8 128; I8 (-129);
    I16 32768; I16 (-32769); I32 0x8000_0000; I32 (-0x8000_0001); U8 255; I8 (-128);
    I16 (-32768); I32 (-0x8000_0000); U32 0xFFFF_FFFF;
    String "\xff"; String "a\xc0\x80"; String "\xe2\x82"; String "ok\xf0\x9f\x98"; String "\xed\xa0\x80";
    String "\xf4\x90\x80\x80"; String "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"; String (String.make 100 'x' ^ "\x80");
    String (String.make 200 'y'); Bytes (String.make 70 '\xff');
    List (T_u8, [ U8 1; U16 2 ]); List (T_i32, [ I32 1; I32 2; U8 3 ]); List (T_u8, [ U8 1; U8 300 ]);
    List (T_string, [ String "a"; String "\xff" ]); List (T_group, [ Group [ U8 1 ]; List (T_u8, []) ]);
    Group [ U8 1; U16 70000 ]; Group [ String "x"; Group [ I8 200 ] ] ]

let rec nest n v = if n = 0 then v else nest (n - 1) (if n mod 2 = 0 then Group [ v ] else List (T_group, [ Group [ v ] ]))
let rec nest_list n v = if n = 0 then v else nest_list (n - 1) (List (tag_of_value v, [ v ]))

let () =
  Printf.printf "proto dir: %s\n%!" proto_dir;
  let vectors = Wire.Text.load_vectors (proto "vectors.txt") in
  let datas =
    List.filter_map (function
        | Wire.Text.Ok_vector { data; _ } | Wire.Text.Err_vector { data; _ }
        | Wire.Text.Frame_vector { data; _ } | Wire.Text.Ferr_vector { data; _ } -> Some data)
      vectors in
  let valuess =
    List.filter_map (function
        | Wire.Text.Ok_vector { values; _ } | Wire.Text.Frame_vector { values; _ } -> Some values
        | _ -> None)
      vectors in
  let stats = Wire.Text.load_stats (proto "stats.txt") in
  let valuess = valuess @ List.concat_map (fun (c : Wire.Text.stats_case) -> [ c.request; c.reply ]) stats in
  (* bench/message.hex, the representative message, and its layout. *)
  let representative =
    [ U32 16909060; I64 (-1234567890123L); F64 21.5; String "sensor-kitchen-1"; Bool true; U16 513;
      Bytes (String.init 16 Char.chr); List (T_i32, [ I32 1; I32 (-2); I32 3; I32 (-4) ]) ] in
  let valuess = representative :: valuess in
  (* The reader is checked with three layouts on every input: the representative message's,
     and those of the two flat vectors with the most fields; and with the input's own. *)
  let flats =
    List.filter (fun vs -> List.for_all flat vs && vs <> []) valuess
    |> List.stable_sort (fun a b -> compare (List.length b) (List.length a)) in
  templates := representative :: take 2 (List.filter (fun vs -> vs != representative) flats);
  let datas = datas @ List.map R.encode_fields valuess in
  check "equiv.inputs" (List.length datas > 100) (fun () -> string_of_int (List.length datas));
  List.iter (fun data ->
      decode_all data;
      let n = String.length data in
      if n <= 1024 then begin
        for i = 0 to n - 1 do
          decode_all (String.sub data 0 i);
          List.iter (fun b ->
              let m = Bytes.of_string data in
              Bytes.set_uint8 m i b;
              decode_all (Bytes.to_string m))
            [ 0x00; 0x01; 0x7F; 0x80; 0xFF; Char.code data.[i] lxor 1; Char.code data.[i] lxor 0x80 ]
        done;
        (* A few bytes changed at random places, to random values. *)
        if n > 0 then
          for _ = 1 to 20 do
            let m = Bytes.of_string data in
            for _ = 0 to rand 3 do Bytes.set_uint8 m (rand n) (rand 256) done;
            decode_all (Bytes.to_string m)
          done
      end)
    datas;
  List.iter encode_all valuess;
  List.iter (fun v -> encode_all [ v ]; encode_all [ U8 1; v; U8 2 ]; encode_all [ Group [ v ] ]) bad_values;
  (* Values of every vector with one value swapped for a bad one, at random. *)
  List.iter (fun vs ->
      if vs <> [] then
        for _ = 1 to 5 do
          let k = rand (List.length vs) and bad = List.nth bad_values (rand (List.length bad_values)) in
          encode_all (List.mapi (fun i v -> if i = k then bad else v) vs)
        done)
    valuess;
  (* Nesting at and past the limit, for encoders and decoders both. *)
  List.iter (fun n ->
      List.iter (fun v ->
          encode_all [ v ];
          match R.encode_fields [ v ] with
          | s -> decode_all s
          | exception Error _ -> ())
        [ nest n (U8 1); nest n (String "\xff"); nest_list n (U8 7); nest_list n (I8 300) ])
    [ 0; 1; 15; 16; 31; 32; 33; 34; 40 ];
  (* Lists and sequences longer than the decoder builds by recursion. *)
  List.iter (fun n ->
      let vs = [ List (T_u16, List.init n (fun i -> U16 i)); Group (List.init n (fun i -> I8 (i mod 100))) ] in
      encode_all vs;
      let s = R.encode_fields vs in
      decode_all s;
      decode_all (String.sub s 0 (String.length s - 1));
      decode_all (R.encode_fields (List.init n (fun i -> U32 i))))
    [ 999; 1000; 1001; 2500 ];
  Printf.printf "reader: %d same values, %d same errors, %d TYPE\n" !reader_values !reader_errors !reader_type;
  check "equiv.reader-cases" (!reader_values > 30_000 && !reader_errors > 10_000 && !reader_type > 1000) (fun () ->
      Printf.sprintf "%d values, %d errors, %d TYPE" !reader_values !reader_errors !reader_type);
  check "equiv.cases" (!cases > 100_000) (fun () -> string_of_int !cases);
  check "equiv.agrees" (!disagreements = 0) (fun () ->
      Printf.sprintf "%d of %d comparisons disagree" !disagreements !cases);
  Printf.printf "%d comparisons, %d disagree\n" !cases !disagreements;
  finish ()
