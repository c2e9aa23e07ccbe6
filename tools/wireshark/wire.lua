-- SPDX-License-Identifier: MIT
-- wire.lua - a Wireshark dissector for the wire protocol, version 1 (SPEC.md).
--
-- Load it for one run:   wireshark -X lua_script:tools/wireshark/wire.lua FILE.pcap
--                        tshark -X lua_script:tools/wireshark/wire.lua -r FILE.pcap -V
-- or for good: copy it into ~/.local/lib/wireshark/plugins/ (tools/wireshark/README.md).
--
-- It decodes the 8-byte header (2.1), the typed fields of every payload that carries fields (3),
-- and names the message types (7.1), the error codes (6) and the fields of HELLO, ERROR and the
-- interop messages. A decoding error is shown as expert info on the byte SPEC.md 5 says it is
-- reported at, with the code and the frame offset an ERROR would carry (fields wire.malformed.*).
-- Frames are cut from the TCP stream (2.5): a frame split over segments is reassembled, and one
-- segment holding several frames shows them all. It claims a TCP port (preference "port", default
-- 7000) and, on any other port, a connection whose first frame is a HELLO (01 00 00 01 ...).
-- Datagrams of the UDP profile (SPEC.md 15: a request id, then one frame) are decoded on a UDP
-- port (preference "udp_port", default 7000) and, elsewhere, when their frame header fits them.

local wire = Proto("wire", "wire typed messages")

-- SPEC.md 7.1
local MSG = {
    [0x0001] = "HELLO", [0x0002] = "ERROR", [0x0003] = "PING", [0x0004] = "PONG",
    [0x0005] = "BYE", [0x0100] = "ECHO", [0x0101] = "ECHO_REPLY", [0x0102] = "ROUNDTRIP",
    [0x0103] = "ROUNDTRIP_REPLY", [0x0104] = "VECTOR_CHECK", [0x0105] = "VECTOR_RESULT",
    [0x0106] = "VECTOR_GET", [0x0107] = "VECTOR_DATA", [0x0108] = "STATS",
    [0x0109] = "STATS_REPLY",
}
-- Payloads that are opaque bytes, not fields (3.1).
local OPAQUE = { [0x0003] = true, [0x0004] = true, [0x0100] = true, [0x0101] = true }
-- Names of the defined fields, for the tree's labels (7.3, 7.4, 10).
local FIELD_NAMES = {
    [0x0001] = { "version", "max_payload", "name" },
    [0x0002] = { "code", "offset", "message" },
    [0x0104] = { "name" },
    [0x0105] = { "status", "path", "expected", "got" },
    [0x0106] = { "name" },
    [0x0107] = { "name" },
    [0x0108] = { "ints", "floats", "data" },
    [0x0109] = { "isum", "imin", "imax", "fsum", "fmin", "fmax", "crc" },
}

-- SPEC.md 6
local ERR = {
    [0] = "OK", "TRUNCATED", "BADTAG", "TYPE", "BADBOOL", "UTF8", "LENGTH", "DEPTH", "TOOBIG",
    "OVERFLOW", "VERSION", "HEADER", "UNEXPECTED", "MESSAGE", "RANGE", "IO", "CLOSED", "TIMEOUT",
    "ADDRESS", "LIMIT", "INVAL", "PEER",
}
local ERR_TEXT = {
    TRUNCATED = "value runs past the end of the data",
    BADTAG = "unknown type tag",
    BADBOOL = "bool byte is neither 0 nor 1",
    UTF8 = "string is not valid UTF-8",
    LENGTH = "length or count larger than the bytes that remain",
    DEPTH = "nesting deeper than 32 levels",
    TOOBIG = "frame payload larger than the receiver's limit",
    VERSION = "unsupported protocol version",
    HEADER = "malformed frame header",
}
local ERR_CODE = {}
for code, name in pairs(ERR) do ERR_CODE[name] = code end

-- SPEC.md 3.2 and 5.4: tag -> name, value size (fixed-size types) or minimum size (minsize).
local T = {
    [0x01] = { name = "u8", size = 1 }, [0x02] = { name = "u16", size = 2 },
    [0x03] = { name = "u32", size = 4 }, [0x04] = { name = "u64", size = 8 },
    [0x11] = { name = "i8", size = 1 }, [0x12] = { name = "i16", size = 2 },
    [0x13] = { name = "i32", size = 4 }, [0x14] = { name = "i64", size = 8 },
    [0x23] = { name = "f32", size = 4 }, [0x24] = { name = "f64", size = 8 },
    [0x30] = { name = "bool", size = 1 },
    [0x40] = { name = "string", min = 4 }, [0x41] = { name = "bytes", min = 4 },
    [0x50] = { name = "list", min = 5, container = true },
    [0x51] = { name = "group", min = 4, container = true },
}
local TAG_NAMES = {}
for tag, t in pairs(T) do TAG_NAMES[tag] = t.name; t.min = t.min or t.size end
local MAX_DEPTH = 32
-- A 16 MiB payload can hold millions of fields; past this many tree items per frame the rest is
-- still checked but not shown, so that one frame cannot make Wireshark build a huge tree.
local MAX_ITEMS = 4000

local F = {
    version = ProtoField.uint8("wire.version", "Version", base.DEC),
    flags = ProtoField.uint8("wire.flags", "Flags", base.HEX),
    type = ProtoField.uint16("wire.type", "Type", base.HEX, MSG),
    length = ProtoField.uint32("wire.length", "Length", base.DEC),
    payload = ProtoField.bytes("wire.payload", "Payload"),
    tag = ProtoField.uint8("wire.tag", "Tag", base.HEX, TAG_NAMES),
    len = ProtoField.uint32("wire.len", "Length", base.DEC),
    etag = ProtoField.uint8("wire.list.etag", "Element tag", base.HEX, TAG_NAMES),
    count = ProtoField.uint32("wire.list.count", "Count", base.DEC),
    u8 = ProtoField.uint8("wire.u8", "u8", base.DEC),
    u16 = ProtoField.uint16("wire.u16", "u16", base.DEC),
    u32 = ProtoField.uint32("wire.u32", "u32", base.DEC),
    u64 = ProtoField.uint64("wire.u64", "u64", base.DEC),
    i8 = ProtoField.int8("wire.i8", "i8", base.DEC),
    i16 = ProtoField.int16("wire.i16", "i16", base.DEC),
    i32 = ProtoField.int32("wire.i32", "i32", base.DEC),
    i64 = ProtoField.int64("wire.i64", "i64", base.DEC),
    f32 = ProtoField.float("wire.f32", "f32"),
    f64 = ProtoField.double("wire.f64", "f64"),
    bool = ProtoField.uint8("wire.bool", "bool", base.DEC, { [0] = "false", [1] = "true" }),
    string = ProtoField.string("wire.string", "string", base.UNICODE),
    bytes = ProtoField.bytes("wire.bytes", "bytes"),
    hello_version = ProtoField.uint16("wire.hello.version", "version", base.DEC),
    hello_max = ProtoField.uint32("wire.hello.max_payload", "max_payload", base.DEC),
    hello_name = ProtoField.string("wire.hello.name", "name", base.UNICODE),
    error_code = ProtoField.uint16("wire.error.code", "code", base.DEC, ERR),
    error_offset = ProtoField.uint32("wire.error.offset", "offset", base.DEC),
    error_message = ProtoField.string("wire.error.message", "message", base.UNICODE),
    bad_code = ProtoField.uint16("wire.malformed.code", "Decoding error", base.DEC, ERR),
    bad_offset = ProtoField.uint32("wire.malformed.offset", "At frame offset", base.DEC),
    udp_id = ProtoField.uint32("wire.udp.id", "Request id", base.HEX),
}
wire.fields = F
-- The fields of HELLO and ERROR get their own names (wire.hello.name, wire.error.code, ...) when
-- they have the defined type.
local NAMED = {
    [0x0001] = { { 0x02, F.hello_version }, { 0x03, F.hello_max }, { 0x40, F.hello_name } },
    [0x0002] = { { 0x02, F.error_code }, { 0x03, F.error_offset }, { 0x40, F.error_message } },
}

local E = {}
for _, name in ipairs({ "TRUNCATED", "BADTAG", "BADBOOL", "UTF8", "LENGTH", "DEPTH", "TOOBIG",
                        "VERSION", "HEADER" }) do
    E[name] = ProtoExpert.new("wire.malformed." .. name:lower(), name .. ": " .. ERR_TEXT[name],
                              expert.group.MALFORMED, expert.severity.ERROR)
end
E.incomplete = ProtoExpert.new("wire.incomplete", "frame continues past the captured data",
                               expert.group.MALFORMED, expert.severity.WARN)
E.unusable = ProtoExpert.new("wire.unusable", "bytes after a bad header: the stream cannot be cut",
                             expert.group.MALFORMED, expert.severity.WARN)
E.dropped = ProtoExpert.new("wire.udp.dropped", "datagram too short for a request id: dropped unanswered (SPEC.md 15.3)",
                            expert.group.MALFORMED, expert.severity.WARN)
E.elided = ProtoExpert.new("wire.elided", "more items checked but not shown",
                           expert.group.COMMENTS_GROUP, expert.severity.NOTE)
local experts = {}
for _, e in pairs(E) do experts[#experts + 1] = e end
wire.experts = experts

wire.prefs.port = Pref.uint("TCP port", 7000, "The TCP port decoded as wire (0: none)")
wire.prefs.udp_port = Pref.uint("UDP port", 7000, "The UDP port decoded as wire datagrams, SPEC.md 15 (0: none)")
wire.prefs.max_payload = Pref.uint("Max payload", 16777216,
    "A header announcing more than this is shown as TOOBIG (SPEC.md 2.4)")

local byte, format = string.byte, string.format

local function u16_at(s, pos) local a, b = byte(s, pos + 1, pos + 2); return a * 256 + b end
local function u32_at(s, pos)
    local a, b, c, d = byte(s, pos + 1, pos + 4)
    return ((a * 256 + b) * 256 + c) * 256 + d
end

-- SPEC.md 4 (Unicode Table 3-7): the 0-based position of the lead byte of the first ill-formed
-- sequence in s[pos, pos+n), or nil.
local function utf8_bad(s, pos, n)
    local i, stop = pos + 1, pos + n
    if not s:sub(i, stop):find("[\128-\255]") then return nil end
    while i <= stop do
        local c = byte(s, i)
        if c < 0x80 then
            i = i + 1
        else
            local more, lo, hi
            if c >= 0xC2 and c <= 0xDF then more, lo, hi = 1, 0x80, 0xBF
            elseif c == 0xE0 then more, lo, hi = 2, 0xA0, 0xBF
            elseif c == 0xED then more, lo, hi = 2, 0x80, 0x9F
            elseif c >= 0xE1 and c <= 0xEF then more, lo, hi = 2, 0x80, 0xBF
            elseif c == 0xF0 then more, lo, hi = 3, 0x90, 0xBF
            elseif c >= 0xF1 and c <= 0xF3 then more, lo, hi = 3, 0x80, 0xBF
            elseif c == 0xF4 then more, lo, hi = 3, 0x80, 0x8F
            else return i - 1 end
            if i + more > stop then return i - 1 end
            local c2 = byte(s, i + 1)
            if c2 < lo or c2 > hi then return i - 1 end
            for k = 2, more do
                local ck = byte(s, i + k)
                if ck < 0x80 or ck > 0xBF then return i - 1 end
            end
            i = i + more + 1
        end
    end
    return nil
end

-- A short printable form of some UTF-8 (already validated) for a label.
local function quote(str)
    local cut = #str > 48
    if cut then
        str = str:sub(1, 48)
        -- do not end in the middle of a UTF-8 sequence
        while #str > 0 and byte(str, #str) >= 0x80 do str = str:sub(1, -2) end
    end
    str = str:gsub('[%c"\\]', function(c) return format("\\x%02x", byte(c)) end)
    -- U+FFFE and U+FFFF are valid in a string but not in XML (tshark -T pdml)
    str = str:gsub("\239\191([\190\191])", function(c) return format("\\u{ff%02x}", byte(c) - 0x80 + 0xc0) end)
    return '"' .. str .. '"' .. (cut and "..." or "")
end

local function hex(str)
    local out = str:sub(1, 16):gsub(".", function(c) return format("%02x", byte(c)) end)
    return out .. (#str > 16 and "..." or "")
end

-- The decoding walk of SPEC.md 5.2 over one frame. ctx.s is the frame as a Lua string, ctx.tvb
-- the frame's Tvb; positions are frame offsets (payload offset + 8). A failure records the code
-- and position in ctx and returns nil; the tree shows everything decoded before it.
local function fail(ctx, name, pos)
    ctx.err, ctx.err_pos = name, pos
    return nil
end

-- Returns the tree to add to, or nil once the frame has used its budget of items.
local function room(ctx, tree)
    if tree == nil then return nil end
    ctx.items = ctx.items + 1
    if ctx.items <= MAX_ITEMS then return tree end
    if not ctx.elided then
        ctx.elided = true
        ctx.root:add_proto_expert_info(E.elided, format("more than %d items: the rest is checked, not shown", MAX_ITEMS))
    end
    return nil
end

local decode_value

-- The fields in [pos, stop), inside a container at depth `depth`. names/named: labels and
-- specific ProtoFields of the message's top-level fields.
local function decode_fields(ctx, pos, stop, depth, tree, names, named)
    local s, tvb, i = ctx.s, ctx.tvb, 0
    while pos < stop do
        local tag = byte(s, pos + 1)
        local t = T[tag]
        if not t then return fail(ctx, "BADTAG", pos) end
        if t.container and depth + 1 > MAX_DEPTH then return fail(ctx, "DEPTH", pos) end
        local node = room(ctx, tree)
        local label = format("[%d] %s", i, (names and names[i + 1]) and (names[i + 1] .. " ") or "")
        if node then
            node = node:add(tvb(pos, 1), label)
            node:add(F.tag, tvb(pos, 1))
        end
        local pf
        if named and named[i + 1] and named[i + 1][1] == tag then pf = named[i + 1][2] end
        local after, summary = decode_value(ctx, pos + 1, stop, tag, depth + 1, node, pf)
        if node then
            node:set_len(math.min(after or ctx.err_pos + 1, tvb:len()) - pos)
            node:set_text(label .. t.name .. (summary and (": " .. summary) or ""))
        end
        if not after then return nil end
        if depth == 0 then ctx.top[i + 1] = { tag = tag, pos = pos + 1, stop = after } end
        pos, i = after, i + 1
    end
    return pos, i
end

-- One value of type `tag` at pos (a field's value or a list element); d is its depth if it is a
-- container. Adds its items to tree; returns the position after it and a short summary.
decode_value = function(ctx, pos, stop, tag, d, tree, pf, prefix)
    local s, tvb, t = ctx.s, ctx.tvb, T[tag]
    pf = pf or F[t.name]
    if t.size then
        if stop - pos < t.size then return fail(ctx, "TRUNCATED", pos) end
        local r = tvb(pos, t.size)
        if tag == 0x30 and byte(s, pos + 1) > 1 then
            tree = room(ctx, tree)
            if tree then tree:add(pf, r) end
            return fail(ctx, "BADBOOL", pos)
        end
        local summary
        if tag == 0x23 then summary = format("%s (0x%08x)", tostring(r:float()), r:uint())
        elseif tag == 0x24 then summary = format("%s (0x%s)", tostring(r:float()), hex(r:raw()))
        elseif tag == 0x04 then summary = tostring(r:uint64())
        elseif tag == 0x14 then summary = tostring(r:int64())
        elseif tag == 0x30 then summary = byte(s, pos + 1) == 1 and "true" or "false"
        elseif tag < 0x10 then summary = tostring(r:uint())
        else summary = tostring(r:int()) end
        tree = room(ctx, tree)
        if tree then
            local item = tree:add(pf, r)
            if tag == 0x23 or tag == 0x24 then item:append_text(format(" (bits 0x%s)", hex(r:raw()))) end
            if prefix then item:prepend_text(prefix) end
        end
        return pos + t.size, summary
    end
    if tag == 0x40 or tag == 0x41 or tag == 0x51 then
        if stop - pos < 4 then return fail(ctx, "TRUNCATED", pos) end
        local n = u32_at(s, pos)
        if n > stop - pos - 4 then return fail(ctx, "LENGTH", pos) end
        local len_tree = room(ctx, tree)
        if len_tree then len_tree:add(F.len, tvb(pos, 4)) end
        local r = tvb(pos + 4, n)
        if tag == 0x40 then
            local bad = utf8_bad(s, pos + 4, n)
            if bad then return fail(ctx, "UTF8", bad) end
            tree = room(ctx, tree)
            if tree then tree:add_packet_field(pf, r, ENC_UTF_8) end
            return pos + 4 + n, quote(s:sub(pos + 5, pos + 4 + n))
        elseif tag == 0x41 then
            tree = room(ctx, tree)
            if tree and n > 0 then tree:add(pf, r) end
            return pos + 4 + n, format("%d bytes %s", n, hex(s:sub(pos + 5, pos + 4 + n)))
        end
        local after, count = decode_fields(ctx, pos + 4, pos + 4 + n, d, tree)
        if not after then return nil end
        return after, format("%d bytes, %d field%s", n, count, count == 1 and "" or "s")
    end
    -- list (3.4): element tag, count, then count values without tags
    if stop - pos < 1 then return fail(ctx, "TRUNCATED", pos) end
    local etag = byte(s, pos + 1)
    local et = T[etag]
    if not et then return fail(ctx, "BADTAG", pos) end
    local etree = room(ctx, tree)
    if etree then etree:add(F.etag, tvb(pos, 1)) end
    if stop - pos - 1 < 4 then return fail(ctx, "TRUNCATED", pos + 1) end
    local count = u32_at(s, pos + 1)
    if count > math.floor((stop - pos - 5) / et.min) then return fail(ctx, "LENGTH", pos + 1) end
    local ctree = room(ctx, tree)
    if ctree then ctree:add(F.count, tvb(pos + 1, 4)) end
    local p = pos + 5
    for k = 0, count - 1 do
        if et.container and d + 1 > MAX_DEPTH then return fail(ctx, "DEPTH", p) end
        local label = format("[%d] ", k)
        if et.size then
            p = decode_value(ctx, p, stop, etag, d + 1, tree, nil, label)
            if not p then return nil end
        else
            local node = room(ctx, tree)
            -- an element cut by the end of the payload starts past the frame's last byte
            local at = math.min(p, tvb:len() - 1)
            if node then node = node:add(tvb(at, 1), label) end
            local after, summary = decode_value(ctx, p, stop, etag, d + 1, node)
            if node then
                node:set_len(math.min(after or ctx.err_pos + 1, tvb:len()) - at)
                node:set_text(label .. et.name .. (summary and (": " .. summary) or ""))
            end
            if not after then return nil end
            p = after
        end
    end
    return p, format("%s, %d element%s", et.name, count, count == 1 and "" or "s")
end

-- Expert info at a frame offset; an offset at the very end of the frame (a value cut short by
-- the end of the payload) is shown on the frame's last byte.
local function mark(ctx, tree, expert_field, pos, text)
    local flen = ctx.tvb:len()
    local r = pos < flen and ctx.tvb(pos, 1) or ctx.tvb(flen - 1, 1)
    tree:add_tvb_expert_info(expert_field, r, text)
end

local function report(ctx, tree, name, pos)
    local code = ERR_CODE[name]
    local where = format("%s at payload offset %d (frame offset %d)", name, pos - 8, pos)
    if pos >= ctx.tvb:len() then where = where .. ", past the end of the payload" end
    mark(ctx, tree, E[name], pos, format("%s: %s", where, ERR_TEXT[name]))
    local r = ctx.tvb(math.min(pos, ctx.tvb:len() - 1), 1)
    tree:add(F.bad_code, r, code):set_generated()
    tree:add(F.bad_offset, r, pos):set_generated()
end

-- A short description of a decoded HELLO or ERROR for the Info column.
local function info_detail(ctx, mtype)
    local top, s = ctx.top, ctx.s
    if mtype == 0x0001 and top[3] and top[3].tag == 0x40 then
        return " " .. quote(s:sub(top[3].pos + 5, top[3].stop))
    elseif mtype == 0x0002 and top[1] and top[1].tag == 0x02 and top[2] and top[2].tag == 0x03 then
        local code, off = u16_at(s, top[1].pos), u32_at(s, top[2].pos)
        return format(" %s offset %s", ERR[code] or tostring(code),
                      off == 0xFFFFFFFF and "none" or tostring(off))
    end
    return ""
end

-- One frame at `offset` of tvb. Returns the bytes it takes, or a negative count of the bytes it
-- still needs, and the frame's description for the Info column.
local function dissect_frame(tvb, pinfo, tree, offset, max_payload)
    max_payload = max_payload or wire.prefs.max_payload
    local avail = tvb:len() - offset
    if avail < 8 then
        if pinfo.can_desegment > 0 then return -(8 - avail) end
        local item = tree:add(wire, tvb(offset), "wire, partial header")
        item:add_proto_expert_info(E.incomplete)
        return avail, "[partial header]"
    end
    local h = tvb:raw(offset, 8)
    local version, flags, mtype, length = byte(h, 1), byte(h, 2), u16_at(h, 2), u32_at(h, 4)
    local name = MSG[mtype] or format("type 0x%04x", mtype)

    -- SPEC.md 2.3, in its order; after a bad header the stream cannot be cut into frames.
    local bad
    if version ~= 1 then bad = { "VERSION", 0 }
    elseif flags ~= 0 then bad = { "HEADER", 1 }
    elseif mtype == 0 then bad = { "HEADER", 2 }
    elseif length > max_payload then bad = { "TOOBIG", 4 } end

    local need = 8 + length
    if not bad and avail < need and pinfo.can_desegment > 0 then return -(need - avail) end
    local flen = (bad or avail < need) and avail or need
    local ftvb = tvb(offset, flen):tvb()
    local root = tree:add(wire, ftvb(), format("wire %s, %d byte payload", name, length))
    local hdr = root:add(ftvb(0, 8), "Header")
    hdr:add(F.version, ftvb(0, 1))
    hdr:add(F.flags, ftvb(1, 1))
    hdr:add(F.type, ftvb(2, 2))
    hdr:add(F.length, ftvb(4, 4))
    local ctx = { s = nil, tvb = ftvb, items = 0, top = {}, root = root }
    if bad then
        report(ctx, hdr, bad[1], bad[2])
        if flen > 8 then
            root:add(ftvb(8), format("%d bytes after the bad header", flen - 8))
                :add_proto_expert_info(E.unusable)
        end
        return flen, format("%s [%s]", name, bad[1])
    end
    if flen < need then
        root:add_proto_expert_info(E.incomplete,
            format("frame continues past the captured data: %d of %d bytes", flen, need))
        if flen > 8 then root:add(F.payload, ftvb(8)) end
        return flen, name .. " [partial]"
    end
    if length == 0 then return need, name end
    if OPAQUE[mtype] then
        root:add(F.payload, ftvb(8, length))
        return need, name
    end

    ctx.s = ftvb:raw()
    local known = MSG[mtype] ~= nil
    local ptree = root:add(ftvb(8, length), "Fields")
    local ok = decode_fields(ctx, 8, need, 0, ptree, FIELD_NAMES[mtype], NAMED[mtype])
    if not ok then
        if known then
            report(ctx, ptree, ctx.err, ctx.err_pos)
            return need, format("%s [%s]", name, ctx.err)
        end
        -- an application's type need not carry fields: show it as bytes
        ptree:set_text(format("Payload (not a field sequence: %s at payload offset %d)",
                              ctx.err, ctx.err_pos - 8))
        return need, name
    end
    return need, name .. info_detail(ctx, mtype)
end

-- TCP calls the dissector once per reassembled PDU, so one packet may end several frames (the end
-- of one, then others): the second call appends to what the first wrote.
local last_info = { number = -1, text = "" }
local function set_info(pinfo, text)
    local now = tostring(pinfo.cols.info)
    if pinfo.number == last_info.number and #last_info.text > 0
        and now:sub(-#last_info.text) == last_info.text then
        pinfo.cols.info:append(", " .. text)
        text = now .. ", " .. text
    else
        pinfo.cols.info = text
    end
    last_info.number, last_info.text = pinfo.number, text
end

function wire.dissector(tvb, pinfo, tree)
    local offset, total, names = 0, tvb:len(), {}
    pinfo.cols.protocol = "WIRE"
    while offset < total do
        local used, what = dissect_frame(tvb, pinfo, tree, offset)
        if used < 0 then
            pinfo.desegment_offset = offset
            pinfo.desegment_len = -used
            break
        end
        names[#names + 1] = what
        offset = offset + used
    end
    if #names > 0 then set_info(pinfo, table.concat(names, ", ")) end
    return total
end

-- A connection whose first frame is a HELLO (SPEC.md 8.1): 01 00 00 01, a plausible length, and
-- a payload that starts with the u16 tag of the version field.
local function heuristic(tvb, pinfo, tree)
    if tvb:len() < 9 then return false end
    local h = tvb:raw(0, 9)
    if h:sub(1, 4) ~= "\1\0\0\1" or byte(h, 9) ~= 0x02 then return false end
    if u32_at(h, 4) > wire.prefs.max_payload then return false end
    pinfo.conversation = wire
    wire.dissector(tvb, pinfo, tree)
    return true
end
wire:register_heuristic("tcp", heuristic)

-- ---- the UDP datagram profile (SPEC.md 15): a 4-byte request id, then exactly one frame ----
local UDP_MAX_PAYLOAD = 65495 -- 15.4: 65507 bytes of UDP data over IPv4, less the id and the header

-- One datagram, checked in the order of 15.3: too short for an id (dropped), too short for a
-- header (TRUNCATED 0), the header checks, a length that disagrees with the datagram (LENGTH 4);
-- then the frame as over TCP. Offsets stay frame offsets: the id is not counted.
local wire_udp = Proto("wire_udp", "wire typed messages over UDP")
function wire_udp.dissector(tvb, pinfo, tree)
    pinfo.cols.protocol = "WIRE/UDP"
    local n = tvb:len()
    if n < 4 then
        local item = tree:add(wire, tvb(), format("wire datagram of %d bytes: no request id", n))
        item:add_proto_expert_info(E.dropped)
        pinfo.cols.info = "[too short: dropped]"
        return n
    end
    local id = u32_at(tvb:raw(0, 4), 0)
    local dtree = tree:add(wire, tvb(), format("wire datagram, request id 0x%08x", id))
    dtree:add(F.udp_id, tvb(0, 4))
    local maxp = math.min(wire.prefs.max_payload, UDP_MAX_PAYLOAD)
    local what
    if n < 12 then
        local r = n > 4 and tvb(4) or tvb(0, 4)
        local ftree = dtree:add(r, format("frame header cut short: %d of 8 bytes", n - 4))
        ftree:add_tvb_expert_info(E.TRUNCATED, r, "TRUNCATED at frame offset 0: the datagram ends inside the header")
        ftree:add(F.bad_code, r, ERR_CODE.TRUNCATED):set_generated()
        ftree:add(F.bad_offset, r, 0):set_generated()
        what = "[TRUNCATED]"
    else
        local h = tvb:raw(4, 8)
        local version, flags, mtype, length = byte(h, 1), byte(h, 2), u16_at(h, 2), u32_at(h, 4)
        local header_ok = version == 1 and flags == 0 and mtype ~= 0 and length <= maxp
        if header_ok and n - 12 ~= length then
            local ftvb = tvb(4):tvb()
            local name = MSG[mtype] or format("type 0x%04x", mtype)
            local root = dtree:add(wire, ftvb(), format("wire %s, header says %d payload bytes, datagram holds %d",
                                                        name, length, n - 12))
            local hdr = root:add(ftvb(0, 8), "Header")
            hdr:add(F.version, ftvb(0, 1))
            hdr:add(F.flags, ftvb(1, 1))
            hdr:add(F.type, ftvb(2, 2))
            hdr:add(F.length, ftvb(4, 4))
            local r = ftvb(4, 4)
            hdr:add_tvb_expert_info(E.LENGTH, r, format("LENGTH at frame offset 4: the header's length %d disagrees with the datagram's %d payload bytes (SPEC.md 15.3)", length, n - 12))
            hdr:add(F.bad_code, r, ERR_CODE.LENGTH):set_generated()
            hdr:add(F.bad_offset, r, 4):set_generated()
            what = name .. " [LENGTH]"
        else
            local _
            _, what = dissect_frame(tvb(4):tvb(), pinfo, dtree, 0, maxp)
        end
    end
    pinfo.cols.info = format("id 0x%08x %s", id, what)
    return n
end

-- A datagram whose frame header is version 1, flags 0, a known type, and whose length is the
-- datagram's: unlikely to be anything else.
local function udp_heuristic(tvb, pinfo, tree)
    local n = tvb:len()
    if n < 12 then return false end
    local h = tvb:raw(4, 8)
    if byte(h, 1) ~= 1 or byte(h, 2) ~= 0 or MSG[u16_at(h, 2)] == nil or u32_at(h, 4) ~= n - 12 then
        return false
    end
    wire_udp.dissector(tvb, pinfo, tree)
    return true
end
wire_udp:register_heuristic("udp", udp_heuristic)

local ports = { tcp = { table = DissectorTable.get("tcp.port"), proto = wire, current = 0 },
                udp = { table = DissectorTable.get("udp.port"), proto = wire_udp, current = 0 } }
local function set_port(which, port)
    local p = ports[which]
    if p.current ~= 0 then p.table:remove(p.current, p.proto) end
    p.current = port
    if port ~= 0 then p.table:add(port, p.proto) end
end
local function apply_prefs()
    set_port("tcp", wire.prefs.port)
    set_port("udp", wire.prefs.udp_port)
end
wire.prefs_changed = apply_prefs
apply_prefs()
