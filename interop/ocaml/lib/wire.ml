(* SPDX-License-Identifier: MIT *)
(* The library's one public module: the core codec at its top level, the
   rest as submodules (see wire.mli). *)
include Core
module Text = Text
module Interop = Interop
module Conn = Conn
module Udp = Udp
