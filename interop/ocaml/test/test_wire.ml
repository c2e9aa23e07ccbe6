(* SPDX-License-Identifier: MIT *)
(* Codec, framing, parser, notation and I/O tests.  Runs every case of
   proto/vectors.txt and proto/stats.txt plus the OCaml-specific traps.
   Prints each failure and ends with "<N> passed, <M> failed". *)

open Wire
open Harness

let hex = Wire.Text.format_hex
let fmt = Wire.Text.format_fields

let expect_error name code offset f =
  match f () with
  | _ -> fail_test name (Printf.sprintf "expected %s, got success" (code_name code))
  | exception Error e ->
    check name (e.code = code && e.offset = offset) (fun () ->
        Printf.sprintf "expected %s at %s, got %s" (code_name code)
          (match offset with Some o -> string_of_int o | None -> "none")
          (string_of_error e))


(* ------------------------------------------------------------------ *)

let test_errors_table () =
  let rows = Wire.Text.load_errors (proto "errors.txt") in
  check "errors.count" (List.length rows = List.length code_table) (fun () ->
      Printf.sprintf "%d rows in errors.txt, %d codes" (List.length rows) (List.length code_table));
  List.iter (fun (n, name, wire, msg) ->
      let tn = "errors." ^ name in
      match code_of_number n with
      | None -> fail_test tn "number not in Wire.code_table"
      | Some c ->
        check tn (code_name c = name && code_on_wire c = wire && code_meaning c = msg)
          (fun () -> Printf.sprintf "row %d differs: %s %b %S" n (code_name c)
              (code_on_wire c) (code_meaning c));
        check (tn ^ ".by-name") (code_of_name name = Some c) (fun () -> "code_of_name"))
    rows;
  List.iteri (fun i info ->
      check ("errors.order." ^ info.name) (info.number = i) (fun () -> "not in numeric order"))
    code_table

(* Feeds [data] to a fresh parser in the given chunk sizes. *)
let parse_chunks chunks data =
  let p = Parser.create () in
  let out = ref [] in
  let pos = ref 0 in
  let drain () =
    let rec go () =
      match Parser.next p with
      | Parser.Frame (t, pl) -> out := `F (t, pl) :: !out; go ()
      | Parser.Failed e -> out := `E (e.code, e.offset) :: !out
      | Parser.Await -> () in
    go () in
  List.iter (fun n ->
      Parser.feed p data !pos n;
      pos := !pos + n;
      drain ()) chunks;
  (* A Failed event repeats forever; keep one. *)
  let rec dedup = function
    | (`E _ as a) :: (`E _ :: _ as rest) when a = List.hd rest -> dedup rest
    | x :: rest -> x :: dedup rest
    | [] -> [] in
  dedup (List.rev !out), Parser.buffered p

let all_splits name data expected =
  let n = String.length data in
  for i = 0 to n do
    let got, _ = parse_chunks [ i; n - i ] data in
    check (Printf.sprintf "%s.split-%d" name i) (got = expected) (fun () -> "different events")
  done;
  let got, left = parse_chunks (List.init n (fun _ -> 1)) data in
  check (name ^ ".bytewise") (got = expected) (fun () -> "different events");
  if not (List.exists (function `E _ -> true | _ -> false) expected) then
    check (name ^ ".nothing-left") (left = 0) (fun () -> Printf.sprintf "%d bytes left" left)

let test_vectors () =
  let vs = Wire.Text.load_vectors (proto "vectors.txt") in
  check "vectors.loaded" (List.length vs > 100) (fun () -> "too few vectors");
  List.iter (fun v ->
      let name = Wire.Text.vector_name v in
      match v with
      | Wire.Text.Ok_vector { values; data; _ } ->
        test (name ^ ".encode") (fun () ->
            let e = encode_fields values in
            check (name ^ ".encode") (e = data) (fun () ->
                Printf.sprintf "got %s, want %s" (hex e) (hex data)));
        test (name ^ ".decode") (fun () ->
            let d = decode_fields data in
            check (name ^ ".decode") (equal_values d values) (fun () ->
                Printf.sprintf "got %s, want %s" (fmt d) (fmt values));
            let r = encode_fields d in
            check (name ^ ".reencode") (r = data) (fun () -> "re-encoding differs"));
        test (name ^ ".notation") (fun () ->
            let s = fmt values in
            check (name ^ ".notation") (equal_values (Wire.Text.parse_fields s) values)
              (fun () -> "format/parse round trip: " ^ s));
        test (name ^ ".serve") (fun () ->
            let t, r = Wire.Interop.serve (Hashtbl.create 1) Msg.roundtrip data in
            check (name ^ ".serve") (t = Msg.roundtrip_reply && r = data) (fun () ->
                "ROUNDTRIP reply differs"))
      | Wire.Text.Err_vector { code; offset; data; _ } ->
        expect_error name code (Some offset) (fun () -> decode_fields data);
        expect_error (name ^ ".in-frame") code (Some (offset + 8)) (fun () ->
            decode_payload_in_frame data)
      | Wire.Text.Frame_vector { msg_type; values; data; _ } ->
        test name (fun () ->
            let t, payload = decode_frame data in
            check (name ^ ".type") (t = msg_type) (fun () -> Printf.sprintf "type 0x%04x" t);
            check (name ^ ".decode") (equal_values (decode_fields payload) values) (fun () ->
                fmt (decode_fields payload));
            let e = encode_frame msg_type (encode_fields values) in
            check (name ^ ".encode") (e = data) (fun () -> hex e));
        all_splits (name ^ ".parser") data [ `F (msg_type, encode_fields values) ]
      | Wire.Text.Ferr_vector { code; offset; data; _ } ->
        expect_error name code (Some offset) (fun () -> decode_header data 0);
        all_splits (name ^ ".parser") data [ `E (code, Some offset) ];
        (* Rejected from the header alone, once its 8 bytes are in and not
           before (SPEC 2.3): a prefix cut by EOF is lost without an ERROR
           (SPEC 8.5). *)
        let p = Parser.create () in
        let at = ref None in
        String.iteri (fun i c ->
            Parser.feed_string p (String.make 1 c);
            if !at = None && Parser.failure p <> None then at := Some (i + 1)) data;
        let limit = header_size in
        check (name ^ ".at-8-bytes") (!at = Some limit) (fun () ->
            Printf.sprintf "failure after %s bytes, expected %d"
              (match !at with Some n -> string_of_int n | None -> "no") limit))
    vs;
  (* All frames in one stream, then a bad header: frames first, then the
     error, at every split point. *)
  let frames =
    List.filter_map (function
        | Wire.Text.Frame_vector f -> Some (f.data, `F (f.msg_type, encode_fields f.values))
        | _ -> None) vs in
  let stream = String.concat "" (List.map fst frames) in
  all_splits "parser.stream" stream (List.map snd frames);
  let bad = "\001\000\001\000\001\000\000\001" in
  all_splits "parser.stream-then-toobig" (stream ^ bad ^ "junk")
    (List.map snd frames @ [ `E (TOOBIG, Some 4) ]);
  vs

let test_stats () =
  let cs = Wire.Text.load_stats (proto "stats.txt") in
  check "stats.loaded" (List.length cs >= 8) (fun () -> "too few stats cases");
  List.iter (fun (c : Wire.Text.stats_case) ->
      test c.stats_name (fun () ->
          let t, r = Wire.Interop.serve (Hashtbl.create 1) Msg.stats (encode_fields c.request) in
          let got = decode_fields r in
          check c.stats_name (t = Msg.stats_reply && equal_values got c.reply) (fun () ->
              Printf.sprintf "got %s, want %s" (fmt got) (fmt c.reply))))
    cs;
  check "crc32.check" (Wire.Interop.crc32 "123456789" = 0xCBF43926) (fun () -> "crc");
  (* A list of another element type: MESSAGE at its element tag, the
     value's first byte; a field of another type: at its tag (SPEC 7.2). *)
  expect_error "stats.wrong-element-type" MESSAGE (Some 1) (fun () ->
      Wire.Interop.stats_reply_of_request (encode_fields [ List (T_i32, []) ]));
  expect_error "stats.second-wrong-element-type" MESSAGE (Some 7) (fun () ->
      Wire.Interop.stats_reply_of_request
        (encode_fields [ List (T_i64, []); List (T_i64, []); Bytes "" ]));
  expect_error "stats.wrong-field-type" MESSAGE (Some 0) (fun () ->
      Wire.Interop.stats_reply_of_request (encode_fields [ U32 1 ]))

let test_ranges () =
  let r name v = expect_error ("range." ^ name) RANGE None (fun () -> encode_fields [ v ]) in
  r "u8-256" (U8 256); r "u8-neg" (U8 (-1));
  r "u16-65536" (U16 65536); r "u16-neg" (U16 (-1));
  r "u32-2^32" (U32 0x1_0000_0000); r "u32-neg" (U32 (-1));
  r "i8-128" (I8 128); r "i8--129" (I8 (-129));
  r "i16-32768" (I16 32768); r "i16--32769" (I16 (-32769));
  r "i32-2^31" (I32 0x8000_0000); r "i32--2^31-1" (I32 (-0x8000_0001));
  r "nested" (List (T_u8, [ U8 1; U8 300 ]));
  r "in-group" (Group [ Group [ U32 (-5) ] ]);
  expect_error "range.ctor" RANGE None (fun () -> u32 (u32_max + 1));
  test "range.limits-ok" (fun () ->
      let vs = [ U8 255; U16 65535; U32 u32_max; I8 (-128); I8 127; I16 (-32768);
                 I32 i32_min; I32 i32_max ] in
      check "range.limits-ok" (equal_values (decode_fields (encode_fields vs)) vs) (fun () ->
          "limits do not round-trip"));
  (* u32 reads must not sign-extend: 0xffffffff is 4294967295, not -1. *)
  test "u32.sign" (fun () ->
      check "u32.sign" (decode_fields "\003\255\255\255\255" = [ U32 4294967295 ]) (fun () ->
          fmt (decode_fields "\003\255\255\255\255")));
  expect_error "encode.type" TYPE None (fun () -> encode_fields [ List (T_u8, [ U16 1 ]) ]);
  expect_error "encode.utf8" UTF8 None (fun () -> encode_fields [ String "\xc0\x80" ]);
  let rec nest n = if n = 0 then U8 1 else Group [ nest (n - 1) ] in
  test "encode.depth-32" (fun () -> ignore (encode_fields [ nest 32 ]));
  expect_error "encode.depth-33" DEPTH None (fun () -> encode_fields [ nest 33 ]);
  let rec nestl n = if n = 1 then List (T_u8, []) else List (T_list, [ nestl (n - 1) ]) in
  test "encode.depth-32-list" (fun () -> ignore (encode_fields [ nestl 32 ]));
  expect_error "encode.depth-33-list" DEPTH None (fun () -> encode_fields [ nestl 33 ])

let test_64bit () =
  let eq name a b = check name (a = b) (fun () -> Printf.sprintf "got %S, want %S" a b) in
  eq "u64.max.print" (u64_to_string (-1L)) "18446744073709551615";
  test "u64.max.parse" (fun () ->
      check "u64.max.parse" (Int64.equal (u64_of_string "18446744073709551615") (-1L)) (fun () -> ""));
  test "u64.2^63.parse" (fun () ->
      check "u64.2^63.parse" (Int64.equal (u64_of_string "9223372036854775808") Int64.min_int)
        (fun () -> ""));
  expect_error "u64.overflow" RANGE None (fun () -> u64_of_string "18446744073709551616");
  expect_error "u64.overflow-long" RANGE None (fun () -> u64_of_string "99999999999999999999");
  expect_error "u64.minus" INVAL None (fun () -> u64_of_string "-1");
  expect_error "u64.leading-zero" INVAL None (fun () -> u64_of_string "01");
  eq "i64.min.print" (Wire.Text.format_value (I64 Int64.min_int)) "i64:-9223372036854775808";
  test "i64.min.parse" (fun () ->
      check "i64.min.parse" (Int64.equal (i64_of_string "-9223372036854775808") Int64.min_int)
        (fun () -> ""));
  expect_error "i64.overflow" RANGE None (fun () -> i64_of_string "9223372036854775808");
  expect_error "i64.underflow" RANGE None (fun () -> i64_of_string "-9223372036854775809");
  expect_error "i64.plus" INVAL None (fun () -> i64_of_string "+1");
  expect_error "i64.hex" INVAL None (fun () -> i64_of_string "0x10");
  expect_error "i64.minus-zero" INVAL None (fun () -> i64_of_string "-0");
  check "u64.compare" (Int64.unsigned_compare (-1L) 1L > 0) (fun () -> "unsigned_compare");
  eq "u64.format" (Wire.Text.format_value (U64 (-2L))) "u64:18446744073709551614";
  test "u64.wire" (fun () ->
      eq "u64.wire" (hex (encode_fields [ U64 (-1L) ])) "04 ff ff ff ff ff ff ff ff")

let test_floats () =
  (* f32 as int32 bits: a signalling NaN with payload survives both ways. *)
  test "f32.snan" (fun () ->
      let e = encode_fields [ F32 0x7f800001l ] in
      check "f32.snan.encode" (e = "\x23\x7f\x80\x00\x01") (fun () -> hex e);
      (match decode_fields e with
       | [ F32 b ] -> check "f32.snan.decode" (Int32.equal b 0x7f800001l) (fun () ->
           Printf.sprintf "0x%08lx" b)
       | _ -> fail_test "f32.snan.decode" "not one f32");
      check "f32.snan.notation" (Wire.Text.format_value (F32 0x7f800001l) = "f32:0x7f800001")
        (fun () -> "format"));
  (* f64 sNaN and NaN payloads survive Int64.float_of_bits/bits_of_float. *)
  List.iter (fun bits ->
      let n = Printf.sprintf "f64.bits-%016Lx" bits in
      test n (fun () ->
          match decode_fields (encode_fields [ F64 (Int64.float_of_bits bits) ]) with
          | [ F64 x ] -> check n (Int64.equal (Int64.bits_of_float x) bits) (fun () ->
              Printf.sprintf "got %016Lx" (Int64.bits_of_float x))
          | _ -> fail_test n "not one f64"))
    [ 0x7ff0000000000001L; 0xfff0000012345678L; 0x7ff8000000000001L; 0x8000000000000000L;
      0x0000000000000001L ];
  check "f64.equal-nan" (equal_value (F64 Float.nan) (F64 Float.nan)) (fun () -> "NaN <> NaN");
  check "f64.equal-zero" (not (equal_value (F64 0.0) (F64 (-0.0)))) (fun () -> "0.0 = -0.0");
  let f name x bits =
    test ("f32_of_float." ^ name) (fun () ->
        let b = f32_of_float x in
        check ("f32_of_float." ^ name) (Int32.equal b bits) (fun () -> Printf.sprintf "0x%08lx" b)) in
  f "1.5" 1.5 0x3fc00000l;
  f "0.1" 0.1 0x3dcccccdl;
  f "max" 3.4028234663852886e38 0x7f7fffffl;
  f "round-to-max" 3.4028235e38 0x7f7fffffl;
  f "-0" (-0.0) 0x80000000l;
  f "inf" Float.infinity 0x7f800000l;
  f "-inf" Float.neg_infinity 0xff800000l;
  f "tiny" 1e-50 0l;
  expect_error "f32_of_float.too-large" RANGE None (fun () -> f32_of_float 3.5e38);
  expect_error "f32_of_float.-too-large" RANGE None (fun () -> f32_of_float (-1e300));
  check "f32_of_float.nan" (Float.is_nan (float_of_f32 (f32_of_float Float.nan))) (fun () -> "");
  check "float_of_f32" (float_of_f32 0x3fc00000l = 1.5) (fun () -> "")

let test_utf8 () =
  let ok = [ ""; "a"; "\x00"; "\xc2\x80"; "\xdf\xbf"; "\xe0\xa0\x80"; "\xed\x9f\xbf";
             "\xee\x80\x80"; "\xef\xbf\xbf"; "\xf0\x90\x80\x80"; "\xf4\x8f\xbf\xbf" ] in
  List.iter (fun s -> check ("utf8.ok." ^ hex s) (utf8_valid s) (fun () -> "rejected")) ok;
  let bad = [ "\x80", 0; "a\xc0\x80", 1; "\xc1\xbf", 0; "\xe0\x9f\xbf", 0; "\xed\xa0\x80", 0;
              "\xf0\x8f\xbf\xbf", 0; "\xf4\x90\x80\x80", 0; "\xf5", 0; "\xff", 0;
              "ab\xe2\x82", 2; "\xe2\x82\x41", 0; "\xc3\xa9\x80", 2; "\xf0\x9f\x98", 0 ] in
  List.iter (fun (s, o) ->
      check ("utf8.bad." ^ hex s) (utf8_error s 0 (String.length s) = Some o) (fun () ->
          "wrong offset")) bad;
  (* Cut by the string end although the payload would complete it. *)
  expect_error "utf8.cut-by-end" UTF8 (Some 5) (fun () ->
      decode_fields "\x40\x00\x00\x00\x02\xe2\x82\x41\x00\x00\x00\x01\xac")

let test_frames () =
  expect_error "frame.encode-type-0" INVAL None (fun () -> encode_frame 0 "");
  expect_error "frame.encode-type-65536" INVAL None (fun () -> encode_frame 0x10000 "");
  expect_error "frame.encode-toobig" TOOBIG None (fun () ->
      encode_frame ~max_payload:3 Msg.echo "abcd");
  expect_error "frame.decode-short-header" TRUNCATED (Some 4) (fun () ->
      decode_header "\001\000\000\001\000" 0);
  (* A short header is TRUNCATED even when the bytes present are wrong:
     they are judged only as a complete header (SPEC 2.3). *)
  expect_error "frame.decode-short-bad-header" TRUNCATED (Some 4) (fun () ->
      decode_header "\002\000\000\001\000\000\000" 0);
  test "parser.short-bad-header" (fun () ->
      List.iter (fun prefix ->
          let p = Parser.create () in
          Parser.feed_string p prefix;
          check ("parser.short-bad-header " ^ hex prefix) (Parser.next p = Parser.Await && Parser.in_frame p) (fun () -> "judged before 8 bytes"))
        [ "\002\000\000\001\000\000\000"; "\001\000\000\000\000"; "\001\001"; "G" ]);
  expect_error "frame.decode-short-payload" TRUNCATED (Some 9) (fun () ->
      decode_frame "\001\000\000\001\000\000\000\003\001");
  expect_error "frame.max-payload" TOOBIG (Some 4) (fun () ->
      decode_header ~max_payload:10 "\001\000\000\001\000\000\000\011" 0);
  test "frame.exact-max" (fun () ->
      let h = decode_header "\001\000\001\000\001\000\000\000" 0 in
      check "frame.exact-max" (h.length = 16777216) (fun () -> ""));
  (* Oversize length: rejected once the header is in, nothing buffered. *)
  let p = Parser.create ~max_payload:100 () in
  Parser.feed_string p "\001\000\001\000\000\000\000\101";
  check "parser.toobig-now" (Parser.failure p <> None && Parser.buffered p = 0) (fun () ->
      "not rejected at the header");
  Parser.feed_string p (String.make 1000 'x');
  check "parser.toobig-drops" (Parser.buffered p = 0) (fun () -> "bytes buffered after failure");
  (* SPEC 8.3 step 3 needs the type as soon as the 8 header bytes are in,
     before the payload. *)
  let p = Parser.create () in
  Parser.feed_string p (ping_frame "ab" ^ "\001\000\001\001\000\000\003\232" ^ "x");
  check "parser.pending-after-frames"
    (Parser.pending p = Some { msg_type = Msg.echo_reply; length = 1000 }) (fun () -> "no pending header");
  check "parser.pending-frames-first" (Parser.next p = Parser.Frame (Msg.ping, "ab")) (fun () -> "frame lost");
  check "parser.pending-await" (Parser.next p = Parser.Await) (fun () -> "not Await");
  let p = Parser.create () in
  Parser.feed_string p "\001\000\001\001\000\000\003";
  check "parser.pending-7-bytes" (Parser.pending p = None) (fun () -> "pending before 8 bytes");
  Parser.feed_string p "\232";
  check "parser.pending-8-bytes" (Parser.pending p <> None) (fun () -> "no pending at 8 bytes");
  let p = Parser.create ~max_payload:100 () in
  Parser.feed_string p "\001\000\001\001\000\000\003\232";
  check "parser.pending-not-on-bad-header" (Parser.pending p = None) (fun () -> "pending on a TOOBIG header");
  (* A bad version is judged with the complete header, not at its first
     byte (SPEC 2.3). *)
  let p = Parser.create () in
  Parser.feed_string p "\002";
  check "parser.version-not-first-byte" (Parser.next p = Parser.Await) (fun () -> "rejected at 1 byte");
  Parser.feed_string p "\000\000\001\000\000\000\000";
  check "parser.version-at-8-bytes"
    (match Parser.next p with Parser.Failed { code = VERSION; offset = Some 0; _ } -> true | _ -> false)
    (fun () -> "not rejected");
  (* Large frame in odd chunks. *)
  test "parser.large" (fun () ->
      let payload = String.init 200_000 (fun i -> Char.chr (i land 255)) in
      let f = encode_frame Msg.echo payload in
      let p = Parser.create () in
      let pos = ref 0 and got = ref None in
      while !pos < String.length f do
        let n = min 7777 (String.length f - !pos) in
        Parser.feed p f !pos n;
        pos := !pos + n;
        match Parser.next p with
        | Parser.Frame (t, pl) -> got := Some (t, pl)
        | _ -> ()
      done;
      check "parser.large" (!got = Some (Msg.echo, payload)) (fun () -> "frame lost"))

let test_notation () =
  let bad name s code = expect_error ("notation." ^ name) code None (fun () -> Wire.Text.parse_fields s) in
  bad "leading-zero" "u8:01" INVAL;
  bad "minus-zero" "i8:-0" INVAL;
  bad "u8-256" "u8:256" RANGE;
  bad "u8-neg" "u8:-1" RANGE;
  bad "u32-2^32" "u32:4294967296" RANGE;
  bad "i32-2^31" "i32:2147483648" RANGE;
  bad "f32-short" "f32:0x123" INVAL;
  bad "f64-no-0x" "f64:0000000000000000ab" INVAL;
  bad "unknown" "u128:1" INVAL;
  bad "bool" "bool:yes" INVAL;
  bad "list-open" "list:u8 [ u8:1" INVAL;
  bad "list-type" "list:u8 [ u16:1 ]" INVAL;
  bad "group-open" "group { u8:1" INVAL;
  bad "string-not-utf8" "string:c080" INVAL;
  bad "odd-hex" "bytes:abc" INVAL;
  test "notation.repeat" (fun () ->
      check "notation.repeat" (Wire.Text.parse_fields "bytes:ab*3 string:*0"
                               = [ Bytes "\xab\xab\xab"; String "" ]) (fun () -> ""));
  check "notation.compact" (Wire.Text.format_value (Bytes (String.make 300 '\xab')) = "bytes:ab*300")
    (fun () -> Wire.Text.format_value (Bytes (String.make 300 '\xab')));
  check "notation.nested"
    (Wire.Text.format_fields [ List (T_list, [ List (T_u8, []); List (T_u8, [ U8 7 ]) ]); Group [] ]
     = "list:list [ list:u8 [ ] list:u8 [ u8:7 ] ] group { }") (fun () -> "format")

let test_messages vectors =
  test "hello.parse" (fun () ->
      let h = parse_hello (hello_payload ~max_payload:1234 "me") in
      check "hello.parse" (h.version = 1 && h.max_payload = 1234 && h.peer_name = "me") (fun () -> ""));
  test "hello.extra-fields-ignored" (fun () ->
      let p = encode_fields [ U16 1; U32 min_max_payload; String "x"; Bool true ] in
      check "hello.extra" ((parse_hello p).max_payload = min_max_payload) (fun () -> ""));
  expect_error "hello.version-2" VERSION (Some 1) (fun () ->
      parse_hello (hello_payload ~version:2 ~max_payload:default_max_payload "x"));
  expect_error "hello.wrong-type" MESSAGE (Some 3) (fun () ->
      parse_hello (encode_fields [ U16 1; U16 5; String "x" ]));
  expect_error "hello.missing" MESSAGE (Some 8) (fun () ->
      parse_hello (encode_fields [ U16 1; U32 min_max_payload ]));
  (* The rules judge in field order: a small max_payload is found before
     a long name, a bad version before both. *)
  expect_error "hello.order-max-payload-first" MESSAGE (Some 4) (fun () ->
      parse_hello (encode_fields [ U16 1; U32 5; String (String.make 256 'a') ]));
  expect_error "hello.order-version-first" VERSION (Some 1) (fun () ->
      parse_hello (encode_fields [ U16 7; U32 5; String (String.make 256 'a') ]));
  expect_error "hello.encode-version-range" RANGE None (fun () ->
      hello_payload ~version:0x10000 ~max_payload:default_max_payload "x");
  expect_error "hello.encode-max-range" RANGE None (fun () ->
      hello_payload ~max_payload:(u32_max + 1) "x");
  expect_error "hello.bad-payload" BADTAG (Some 0) (fun () -> parse_hello "\x00");
  test "error.roundtrip" (fun () ->
      let m = parse_error_message (error_payload ~code:6 ~offset:9 "bad") in
      check "error.roundtrip" (m.err_code = 6 && m.err_offset = Some 9 && m.err_text = "bad") (fun () -> "");
      let m = parse_error_message (error_payload ~code:300 "app") in
      check "error.no-offset" (m.err_offset = None && m.err_code = 300) (fun () -> ""));
  (* 600 two-byte characters: 1200 bytes, refused; cut at a character
     boundary it fits. *)
  let long = String.concat "" (List.init 600 (fun _ -> "\xc3\xa9")) in
  expect_error "error.long-text-refused" RANGE None (fun () -> error_payload ~code:1 long);
  test "error.utf8-prefix" (fun () ->
      let t = utf8_prefix long max_error_text in
      check "error.utf8-prefix" (String.length t = 1024 && utf8_valid t) (fun () ->
          Printf.sprintf "%d bytes" (String.length t));
      let t = utf8_prefix long 1023 in
      check "error.utf8-prefix-boundary" (String.length t = 1022 && utf8_valid t) (fun () ->
          Printf.sprintf "%d bytes" (String.length t));
      let m = parse_error_message (error_payload ~code:1 (utf8_prefix long max_error_text)) in
      check "error.long-text-fits" (String.length m.err_text = 1024) (fun () -> ""));
  expect_error "error.offset-range" RANGE None (fun () -> error_payload ~code:1 ~offset:(u32_max + 1) "x");
  expect_error "error.code-range" RANGE None (fun () -> error_payload ~code:0x10000 "x");
  expect_error "error.text-utf8" UTF8 None (fun () -> error_payload ~code:1 "\xff");
  check "frames.bye" (bye_frame = "\001\000\000\005\000\000\000\000") (fun () -> hex bye_frame);
  check "frames.ping" (ping_frame "ab" = "\001\000\000\003\000\000\000\002ab") (fun () -> "");
  (* VECTOR_CHECK / VECTOR_GET dispatch. *)
  let table = Wire.Interop.table_of_vectors vectors in
  let vc fields = Wire.Interop.serve table Msg.vector_check (encode_fields fields) in
  let result name fields want =
    test name (fun () ->
        let t, r = vc fields in
        let got = Wire.Interop.parse_vector_result r in
        check name (t = Msg.vector_result && got = want) (fun () ->
            let s, p, e, g = got in Printf.sprintf "(%d, %S, %S, %S)" s p e g)) in
  result "check.match" [ String "u32.pattern"; U32 16909060 ] (0, "", "", "");
  result "check.mismatch" [ String "u32.pattern"; U32 67305985 ] (1, "0", "u32:16909060", "u32:67305985");
  result "check.nested" [ String "list.u32"; List (T_u32, [ U32 16909060; U32 1 ]) ]
    (1, "0.1", "u32:4294967295", "u32:1");
  result "check.missing" [ String "u32.pattern" ] (1, "0", "u32:16909060", "(missing)");
  result "check.extra" [ String "u32.pattern"; U32 16909060; U8 1 ] (1, "1", "(none)", "u8:1");
  (* (OCaml 4.x's Float.nan is itself 0x7ff0000000000001, so use a quiet
     NaN: only the bits may decide.) *)
  let qnan = Int64.float_of_bits 0x7ff8000000000000L in
  result "check.nan-bits" [ String "f64.snan-payload"; F64 qnan ]
    (1, "0", "f64:0x7ff0000000000001", "f64:0x7ff8000000000000");
  result "check.unknown" [ String "no-such-vector" ] (2, "", "", "");
  result "check.err-vector" [ String "err.u8-truncated" ] (2, "", "", "");
  expect_error "check.no-name" MESSAGE (Some 0) (fun () -> vc [ U8 1 ]);
  test "get" (fun () ->
      let t, r = Wire.Interop.serve table Msg.vector_get (encode_fields [ String "group.nested" ]) in
      check "get" (t = Msg.vector_data
                   && r = encode_fields (String "group.nested" :: Hashtbl.find table "group.nested"))
        (fun () -> hex r));
  test "get.unknown" (fun () ->
      let t, _ = Wire.Interop.serve table Msg.vector_get (encode_fields [ String "nope" ]) in
      check "get.unknown" (t = Msg.vector_result) (fun () -> ""))

(* ------------------------------------------------------------------ *)
(* proto/control.txt: the HELLO and ERROR codec (SPEC 7.2-7.4)          *)

let control_kinds =
  [ "hello"; "hello-decode"; "hello-err"; "hello-range";
    "error"; "error-decode"; "error-err"; "error-range" ]

(* 42 cases today; fewer means the file was cut and would pass vacuously. *)
let control_min_cases = 42

let test_control () =
  let cases = Wire.Text.load_control (proto "control.txt") in
  let seen = Hashtbl.create 8 in
  List.iter (fun (c : Wire.Text.control_case) ->
      Hashtbl.replace seen c.ctl_kind ();
      let name = Printf.sprintf "control.%s.%s" c.ctl_kind c.ctl_name in
      let three = function
        | [ U16 a; U32 b; String s ] -> a, b, s
        | vs -> failwith ("the fields are not u16, u32, string: " ^ fmt vs) in
      let encode fields =
        let a, b, s = three fields in
        match c.ctl_message with
        | Wire.Text.Hello_message -> hello_payload ~version:a ~max_payload:b s
        | Wire.Text.Error_message -> error_payload ~code:a ~offset:b s in
      let decode data =
        match c.ctl_message with
        | Wire.Text.Hello_message ->
          let h = parse_hello data in
          [ U16 h.version; U32 h.max_payload; String h.peer_name ]
        | Wire.Text.Error_message ->
          let m = parse_error_message data in
          [ U16 m.err_code; U32 (Option.value m.err_offset ~default:no_offset); String m.err_text ] in
      let decodes fields =
        test (name ^ ".decode") (fun () ->
            let got = decode c.ctl_data in
            check (name ^ ".decode") (equal_values got fields) (fun () ->
                Printf.sprintf "got %s, want %s" (fmt got) (fmt fields))) in
      match c.ctl_test with
      | Wire.Text.Encodes fields ->
        test (name ^ ".encode") (fun () ->
            let e = encode fields in
            check (name ^ ".encode") (e = c.ctl_data) (fun () ->
                Printf.sprintf "got %s, want %s" (hex e) (hex c.ctl_data)));
        decodes fields
      | Wire.Text.Decodes fields -> decodes fields
      | Wire.Text.Fails (code, offset) ->
        expect_error name code (Some offset) (fun () -> decode c.ctl_data)
      | Wire.Text.Refused fields -> expect_error name RANGE None (fun () -> encode fields))
    cases;
  List.iter (fun k ->
      check ("control.has-" ^ k) (Hashtbl.mem seen k) (fun () -> "no case of this kind"))
    control_kinds;
  check "control.count" (List.length cases >= control_min_cases) (fun () ->
      Printf.sprintf "%d cases, expected at least %d" (List.length cases) control_min_cases)

(* ------------------------------------------------------------------ *)
(* The tables against proto/messages.txt and proto/limits.txt          *)

let test_tables () =
  let rows = Wire.Text.load_messages (proto "messages.txt") in
  check "messages.count" (List.length rows = List.length Msg.all && rows <> []) (fun () ->
      Printf.sprintf "%d rows in messages.txt, %d in Msg.all" (List.length rows) (List.length Msg.all));
  List.iter (fun (t, name) ->
      check ("messages." ^ name) (List.assoc_opt t Msg.all = Some name && Msg.of_name name = Some t)
        (fun () -> Printf.sprintf "0x%04x is %s in Msg.all" t (Msg.name t)))
    rows;
  List.iter (fun (t, name) ->
      check ("messages.in-file." ^ name) (List.mem (t, name) rows) (fun () -> "not in messages.txt"))
    Msg.all;
  let limits = Wire.Text.load_limits (proto "limits.txt") in
  let ours =
    [ "header_size", header_size; "max_depth", max_depth;
      "default_max_payload", default_max_payload; "min_max_payload", min_max_payload;
      "hello_name_max", max_peer_name; "error_text_max", max_error_text;
      "no_offset", no_offset;
      "udp_max_datagram", Wire.Udp.max_datagram; "udp_max_payload", Wire.Udp.max_payload ] in
  check "limits.count" (List.length limits = List.length ours) (fun () ->
      Printf.sprintf "%d limits in limits.txt, %d constants" (List.length limits) (List.length ours));
  List.iter (fun (name, v) ->
      check ("limits." ^ name) (List.assoc_opt name ours = Some v) (fun () ->
          match List.assoc_opt name ours with
          | Some o -> Printf.sprintf "limits.txt says %d, the constant is %d" v o
          | None -> "no constant for it"))
    limits

(* ------------------------------------------------------------------ *)
(* Blocking I/O over a socketpair, with a child process on the other end *)

(* The child's exit status is 0, or 1 if it raised; [status] gets it. *)
let with_child ?status (child : Unix.file_descr -> unit) (parent : Unix.file_descr -> unit) =
  let a, b = Unix.socketpair Unix.PF_UNIX Unix.SOCK_STREAM 0 in
  flush_all ();
  match Unix.fork () with
  | 0 ->
    Unix.close a;
    let code = try child b; 0 with _ -> 1 in
    Unix._exit code
  | pid ->
    Unix.close b;
    Fun.protect ~finally:(fun () ->
        (try Unix.close a with Unix.Unix_error _ -> ());
        let _, st = Unix.waitpid [] pid in
        Option.iter (fun r -> r := Some st) status)
      (fun () -> parent a)

(* The receive path of a side awaiting replies (SPEC 7.5): a fake peer
   PINGs before its replies, coalesces several frames in one write and
   splits others byte by byte; every PING must be answered, in order,
   and every reply still arrive. *)
let test_answering_pings () =
  let dl () = Unix.gettimeofday () +. 5. in
  test "pings.answered" (fun () ->
      with_child
        (fun fd ->
           let pong_of fd =
             match read_frame ~deadline:(dl ()) fd with
             | t, p when t = Msg.pong -> p
             | t, _ -> failwith ("expected PONG, got " ^ Msg.name t) in
           (* PING and the reply in one write. *)
           write_all fd (ping_frame "p1" ^ encode_frame Msg.echo_reply "r1");
           let got1 = pong_of fd in
           (* Two PINGs and the reply, one byte per write. *)
           String.iter (fun c -> write_all fd (String.make 1 c); Unix.sleepf 0.0005)
             (ping_frame "p2" ^ ping_frame "" ^ encode_frame Msg.echo_reply "r2");
           let got2 = pong_of fd in
           let got3 = pong_of fd in
           (* The verdict comes back as a third reply. *)
           let ok = got1 = "p1" && got2 = "p2" && got3 = "" in
           write_all fd (encode_frame Msg.echo_reply
                           (if ok then "pongs ok" else Printf.sprintf "PONGs %S %S %S" got1 got2 got3)))
        (fun fd ->
           let next () =
             read_frame_answering_pings ~deadline:(dl ()) ~peer_max:default_max_payload fd in
           check "pings.reply-1" (next () = (Msg.echo_reply, "r1")) (fun () -> "reply 1 lost");
           check "pings.reply-2" (next () = (Msg.echo_reply, "r2")) (fun () -> "reply 2 lost");
           let t, p = next () in
           check "pings.pongs" (t = Msg.echo_reply && p = "pongs ok") (fun () -> p)));
  (* A PING whose PONG would exceed the peer's announced max payload:
     ERROR(TOOBIG, none) instead, and TOOBIG locally. *)
  test "pings.pong-too-big" (fun () ->
      let status = ref None in
      with_child ~status
        (fun fd ->
           write_all fd (ping_frame (String.make (min_max_payload + 1) 'x'));
           match read_frame ~deadline:(dl ()) fd with
           | t, p when t = Msg.error ->
             let m = parse_error_message p in
             if m.err_code <> code_number TOOBIG || m.err_offset <> None then failwith "wrong ERROR"
           | _ -> failwith "no ERROR")
        (fun fd ->
           expect_error "pings.pong-too-big" TOOBIG None (fun () ->
               read_frame_answering_pings ~deadline:(dl ()) ~peer_max:min_max_payload fd));
      check "pings.pong-too-big.error-sent" (!status = Some (Unix.WEXITED 0)) (fun () ->
          "the peer did not get ERROR(TOOBIG, none)"))

let test_io () =
  Sys.set_signal Sys.sigpipe Sys.Signal_ignore;
  (* A frame written one byte at a time still reads as one frame. *)
  test "io.dribble" (fun () ->
      let f = encode_frame Msg.echo "hello, wire" in
      with_child
        (fun fd -> String.iter (fun c -> write_all fd (String.make 1 c); Unix.sleepf 0.002) f)
        (fun fd ->
           let t, p = read_frame ~deadline:(Unix.gettimeofday () +. 5.) fd in
           check "io.dribble" (t = Msg.echo && p = "hello, wire") (fun () -> p)));
  (* Large transfers under a 1 ms interval timer: every read and write is
     hit by EINTR many times and must resume where it was. *)
  test "io.eintr" (fun () ->
      let payload = String.init 4_000_000 (fun i -> Char.chr ((i * 131 + 7) land 255)) in
      let ticks = ref 0 in
      Sys.set_signal Sys.sigalrm (Sys.Signal_handle (fun _ -> incr ticks));
      let it v = ignore (Unix.setitimer Unix.ITIMER_REAL { Unix.it_interval = v; it_value = v }) in
      with_child
        (fun fd ->
           (* Echo back whatever frame arrives, also under the timer. *)
           it 0.001;
           let t, p = read_frame fd in
           write_frame fd t p)
        (fun fd ->
           it 0.001;
           Fun.protect ~finally:(fun () -> it 0.0) (fun () ->
               write_frame fd Msg.echo payload;
               let t, p = read_frame fd in
               check "io.eintr" (t = Msg.echo && p = payload) (fun () -> "payload differs")));
      Sys.set_signal Sys.sigalrm Sys.Signal_default);
  (* A header announcing 16 MiB, then 100 bytes: read_frame must not reserve the announced
     16 MiB before the bytes exist (SPEC 2.4).  Bytes.create maps memory that RSS counts only
     once written: VmData shows it. *)
  test "io.announced-not-allocated" (fun () ->
      let vm_data () =
        let ic = open_in "/proc/self/status" in
        let rec go () =
          let l = input_line ic in
          if String.length l > 7 && String.sub l 0 7 = "VmData:" then Scanf.sscanf l "VmData: %d" Fun.id
          else go () in
        Fun.protect ~finally:(fun () -> close_in ic) go in
      let a, b = Unix.socketpair Unix.PF_UNIX Unix.SOCK_STREAM 0 in
      write_all a (encode_header ~msg_type:Msg.echo ~length:default_max_payload ^ String.make 100 'x');
      let before = vm_data () in
      (match read_frame ~deadline:(Unix.gettimeofday () +. 0.2) b with
       | _ -> fail_test "io.announced-not-allocated" "a frame was read"
       | exception Error { code = TIMEOUT; _ } -> ());
      let grew = vm_data () - before in
      check "io.announced-not-allocated" (grew < 4096) (fun () -> Printf.sprintf "VmData grew %d kB" grew);
      Unix.close a; Unix.close b);
  test "io.timeout" (fun () ->
      with_child (fun fd -> ignore (Unix.read fd (Bytes.create 1) 0 1))
        (fun fd ->
           let t0 = Unix.gettimeofday () in
           (match read_frame ~deadline:(t0 +. 0.2) fd with
            | _ -> fail_test "io.timeout" "no timeout"
            | exception Error e ->
              check "io.timeout" (e.code = TIMEOUT) (fun () -> string_of_error e));
           check "io.timeout.bounded" (Unix.gettimeofday () -. t0 < 2.0) (fun () -> "too slow")));
  test "io.closed" (fun () ->
      with_child (fun fd -> write_all fd "\001\000\000\001") (fun fd ->
          expect_error "io.closed-mid-header" CLOSED None (fun () -> read_frame fd)));
  test "io.header-before-payload" (fun () ->
      (* Only the header is sent: a TOOBIG length is rejected without
         waiting for a payload that never comes. *)
      with_child (fun fd -> write_all fd "\001\000\001\000\000\000\004\000"; Unix.sleepf 1.0)
        (fun fd ->
           expect_error "io.header-before-payload" TOOBIG (Some 4) (fun () ->
               read_frame ~deadline:(Unix.gettimeofday () +. 0.5) ~max_payload:1000 fd)));
  test "io.write-to-closed" (fun () ->
      with_child (fun _ -> ()) (fun fd ->
          Unix.sleepf 0.1;
          expect_error "io.write-to-closed" CLOSED None (fun () ->
              for _ = 1 to 100 do write_all fd (String.make 65536 'x') done)))

(* validate_fields (the walk that builds nothing, behind large ROUNDTRIPs, BYE, HELLO and
   ERROR) must raise what decode_fields raises, code and offset, on every vector and on
   mutations of them (every truncation, bytes replaced); and every payload that decodes must
   re-encode to itself, which is what lets a large ROUNDTRIP answer with its own bytes. *)
let test_validate vs =
  let outcome f = match f () with _ -> None | exception Error e -> Some (e.code, e.offset) in
  let shown = function
    | None -> "ok"
    | Some (c, o) -> code_name c ^ (match o with Some o -> " at " ^ string_of_int o | None -> "") in
  let disagree = ref 0 and not_canonical = ref 0 and cases = ref 0 in
  let first_bad = ref "" in
  let one s =
    incr cases;
    let d = outcome (fun () -> decode_fields s) and v = outcome (fun () -> validate_fields s) in
    if d <> v then begin
      incr disagree;
      if !first_bad = "" then first_bad := Printf.sprintf "%s: decode %s, validate %s" (hex s) (shown d) (shown v)
    end;
    (match decode_fields s with
     | fs -> if encode_fields fs <> s then incr not_canonical
     | exception Error _ -> ());
    (match d, outcome (fun () -> field_tags s) with
     | None, None ->
       let want = List.map (fun (p, v) -> p, tag_of_value v) (decode_located s) in
       if field_tags s <> want || field_tags ~max:1 s <> List.filteri (fun i _ -> i < 1) want then
         incr disagree
     | d, t -> if d <> t then incr disagree) in
  let datas =
    List.filter_map (function
        | Wire.Text.Ok_vector { data; _ } | Wire.Text.Err_vector { data; _ } -> Some data
        | _ -> None) vs in
  List.iter (fun data ->
      one data;
      (* Mutating the few long vectors would be quadratic: only the short ones. *)
      let n = if String.length data > 1024 then 0 else String.length data in
      for i = 0 to n - 1 do
        one (String.sub data 0 i);
        List.iter (fun b ->
            let m = Bytes.of_string data in
            Bytes.set_uint8 m i b;
            one (Bytes.to_string m))
          [ 0x00; 0x01; 0x7F; 0x80; 0xFF; Char.code data.[i] lxor 1 ]
      done)
    datas;
  check "validate.cases" (!cases > 10_000) (fun () -> string_of_int !cases);
  check "validate.agrees" (!disagree = 0) (fun () ->
      Printf.sprintf "%d of %d disagree; first: %s" !disagree !cases !first_bad);
  check "validate.canonical" (!not_canonical = 0) (fun () ->
      Printf.sprintf "%d payloads decode but re-encode differently" !not_canonical);
  (* ROUNDTRIP above the size it still decodes in full: the same answers, offsets included. *)
  let pad_len = 70_000 in
  let pad = encode_fields [ Bytes (String.make pad_len 'p') ] in
  let skew = String.length pad in
  let table = Hashtbl.create 1 in
  List.iter (function
      | Wire.Text.Ok_vector { name; data; _ } ->
        test (name ^ ".roundtrip-large") (fun () ->
            let t, r = Wire.Interop.serve table Msg.roundtrip (pad ^ data) in
            check (name ^ ".roundtrip-large") (t = Msg.roundtrip_reply && r = pad ^ data) (fun () ->
                "reply differs"))
      | Wire.Text.Err_vector { name; code; offset; data; _ } ->
        expect_error (name ^ ".roundtrip-large") code (Some (offset + skew)) (fun () ->
            Wire.Interop.serve table Msg.roundtrip (pad ^ data))
      | _ -> ())
    vs

(* VECTOR_CHECK compares from the request's bytes (compare_payload): it must find the mismatch
   compare_fields finds on the decoded values, for mutations of every vector that still decode
   and for every pair of short vectors, texts clipped the same way. *)
let test_compare_payload vs =
  let oks = List.filter_map (function Wire.Text.Ok_vector v -> Some (v.values, v.data) | _ -> None) vs in
  let cases = ref 0 and bad = ref 0 and first = ref "" in
  let one expected got =
    match decode_fields got with
    | exception Error _ -> ()
    | values ->
      incr cases;
      let a = Wire.Interop.compare_fields ~expected ~got:values
      and b = Wire.Interop.compare_payload ~expected got 0 in
      let clipped = Option.map (fun (m : Wire.Interop.mismatch) ->
          { m with expected = Wire.Interop.clip m.expected; got = Wire.Interop.clip m.got }) in
      if clipped a <> b then begin
        incr bad;
        if !first = "" then first := hex got
      end in
  List.iter (fun (values, data) ->
      one values data;
      if String.length data <= 1024 then
        String.iteri (fun i c ->
            List.iter (fun b ->
                let m = Bytes.of_string data in
                Bytes.set_uint8 m i b;
                one values (Bytes.to_string m))
              [ 0x00; 0x01; 0xFF; Char.code c lxor 1 ])
          data)
    oks;
  let short = List.filter (fun (_, d) -> String.length d <= 64) oks in
  List.iter (fun (values, _) -> List.iter (fun (_, data) -> one values data) short) short;
  (* Longer than the 4096 characters shown. *)
  one [ U8 1 ] (encode_fields [ List (T_u8, List.init 5000 (fun i -> U8 (i land 0xFF))) ]);
  one [] (encode_fields [ Group [ Bytes (String.make 3000 'x'); List (T_list, [ List (T_u8, []) ]) ] ]);
  check "compare-payload.cases" (!cases > 10_000) (fun () -> string_of_int !cases);
  check "compare-payload.agrees" (!bad = 0) (fun () ->
      Printf.sprintf "%d of %d differ; first: %s" !bad !cases !first)

(* STATS is computed from the payload's bytes: it must give what [stats] gives on the decoded
   lists, NaNs, infinities and wrapping sums included. *)
let test_stats_raw () =
  Random.init 10;
  let specials = [ Float.nan; Float.infinity; Float.neg_infinity; -0.0; 0.0; 1e308; -1e308 ] in
  for round = 1 to 200 do
    let ni = Random.int 20 and nf = Random.int 20 in
    let ints = List.init ni (fun _ -> Random.int64 Int64.max_int |> fun x -> if Random.bool () then Int64.neg x else x) in
    let ints = if round mod 7 = 0 then Int64.max_int :: Int64.max_int :: Int64.min_int :: ints else ints in
    let floats =
      List.init nf (fun _ ->
          if Random.int 4 = 0 then List.nth specials (Random.int (List.length specials))
          else Random.float 2e6 -. 1e6) in
    let data = String.init (Random.int 50) (fun _ -> Char.chr (Random.int 256)) in
    let payload =
      encode_fields [ List (T_i64, List.map (fun x -> I64 x) ints);
                      List (T_f64, List.map (fun x -> F64 x) floats); Bytes data ] in
    let got = Wire.Interop.stats_reply_of_request payload in
    check (Printf.sprintf "stats.raw.%d" round) (equal_values got (Wire.Interop.stats ints floats data))
      (fun () -> Wire.Text.format_fields got)
  done

let () =
  Printf.printf "proto dir: %s\n%!" proto_dir;
  test_errors_table ();
  test_tables ();
  test_control ();
  let vectors = test_vectors () in
  test_validate vectors;
  test_compare_payload vectors;
  test_stats ();
  test_stats_raw ();
  test_ranges ();
  test_64bit ();
  test_floats ();
  test_utf8 ();
  test_frames ();
  test_notation ();
  test_messages vectors;
  test_io ();
  test_answering_pings ();
  finish ()
