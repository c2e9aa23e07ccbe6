(* SPDX-License-Identifier: MIT *)
(* Has a wire server send fields back, pings it, says BYE. *)
let () =
  let port = int_of_string Sys.argv.(1) in
  match
    let c = Wire.Conn.connect ~name:"example" ~timeout:5.0 "127.0.0.1" port in
    Printf.printf "connected to %s, max payload %d\n" (Wire.Conn.peer_name c) (Wire.Conn.peer_max c);
    let fields = Wire.[ U32 7; String "héllo"; List (T_u16, [ U16 1; U16 2 ]) ] in
    let ty, reply = Wire.Conn.request ~timeout:5.0 c Wire.Msg.roundtrip (Wire.encode_fields fields) in
    (match Wire.decode_fields reply with
     | [ Wire.U32 n; Wire.String s; Wire.List (_, l) ] ->
       Printf.printf "%s: u32 %d, string \"%s\", list of %d\n" (Wire.Msg.name ty) n s (List.length l)
     | _ -> print_endline "unexpected reply");
    let (_ : float) = Wire.Conn.ping ~timeout:5.0 c "still there?" in
    print_endline "PONG";
    Wire.Conn.bye c
  with
  | () -> print_endline "BYE"
  | exception Wire.Error e ->
    prerr_endline ("example: " ^ Wire.string_of_error e);
    exit 1
