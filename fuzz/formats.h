/* SPDX-License-Identifier: MIT */
/* formats.h - how the fuzz targets read their inputs, shared with the seed generator (gen_seeds.c)
 * so that the seeds it writes from proto/ are inputs in the form each target expects. */
#ifndef WIRE_FUZZ_FORMATS_H
#define WIRE_FUZZ_FORMATS_H

/* fuzz_parser: [flags] [k] [k chunk sizes] [stream...]. flags bit 0: grow the buffer on demand
 * (wire_parser_wanted + rebind) as wire_conn does; bits 1-3: the buffer's size, bits 4-6: the max
 * payload (tables in fuzz_parser.c); bit 7: feed by wire_parser_space/advance instead of
 * wire_parser_feed. Chunk sizes are used in turn, size byte+1 (byte 0 ... 255: 1 ... 256 bytes);
 * k = 0 (k is taken mod 32): the whole stream in one chunk. */
#define FP_GROW 0x01u
#define FP_SPACE 0x80u

/* fuzz_service: [read_max] [stream...]: the client's bytes, read at most read_max per read()
 * (0: as many as fit). */

/* fuzz_conn: [config] [read_max] [write_max] then operations, each an opcode byte and its argument
 * bytes (read_max, write_max: 0 for no limit). config: bit 0 role (0 server, 1 client), bits 1-2
 * max_queued, bits 3-4 inbuf_size, bits 5-6 max_payload (tables in fuzz_conn.c). */
#define FC_CLIENT 0x01u
enum fc_op {
    FC_DATA,       /* [n] [n bytes]: the peer sends them (n 0: 256), then wire_conn_read() */
    FC_READ_FAULT, /* [f]: the next read() fails or is short (fc_read_fault()), then wire_conn_read() */
    FC_WRITE,      /* [f]: the next sendmsg() as fc_write_fault() says, then wire_conn_write() */
    FC_NEXT,       /* [a]: wire_conn_next() until 0 or -1; each frame handled as action a says */
    FC_TIME,       /* [t]: the clock moves t*t ms, then wire_conn_check_time() */
    FC_PING,       /* [n] [n bytes]: wire_conn_ping() */
    FC_SEND,       /* [n] [n bytes]: wire_conn_send() of type 0x8000 */
    FC_BYE,        /* wire_conn_bye() */
    FC_CLOSE,      /* [a]: wire_conn_close(), or wire_conn_abort() when a is odd */
    FC_EOF,        /* the peer's end of stream after what it sent, then wire_conn_read() */
    FC_NOPS
};
/* FC_READ_FAULT argument f: f % 5 is EINTR, EAGAIN, reset, EOF, short (f / 5 bytes, at least 1).
 * FC_WRITE argument f: f % 6 is as much as write_max, EINTR, EAGAIN, nothing (0), EPIPE, short. */
/* FC_NEXT action a % 6: ignore, echo (wire_conn_send_frame_payload), send a copy, encode a reply in
 * place (begin/end), fail the connection, close it. */

#endif
