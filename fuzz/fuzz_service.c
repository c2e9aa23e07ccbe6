/* SPDX-License-Identifier: MIT */
/* fuzz_service.c - the interop service (interop/c/service.c) as wire-server runs it: behind a
 * server wire_conn, with proto/vectors.txt loaded. The service's only entry is its handler,
 * svc_on_frame(wire_conn *, ...), and a wire_conn needs a socket, so the connection gets one end of
 * a socket pair; its bytes do not pass through the kernel, though: read() and sendmsg() on it are
 * answered by fake_io.c (no faults here: fuzz_conn has those), and its clock is fake_io's.
 * Input (formats.h): [read_max] then the client's bytes, followed by its end of stream.
 * Properties:
 *  - the connection ends (CLOSED) in a bounded number of steps, whatever the client sent;
 *  - the server's output is whole frames: HELLO or ERROR first, an ERROR or BYE last if at all,
 *    every HELLO and ERROR payload decoding as such;
 *  - the replies answer the requests one to one and in order (type + 1, or VECTOR_RESULT for a
 *    VECTOR_GET of an unknown vector); ECHO_REPLY and
 *    ROUNDTRIP_REPLY carry exactly the request's payload; every other reply's payload decodes. */
#include <string.h>

#include "fake_io.h"
#include "fuzz.h"
#include "service.h"

static wv_file vectors;
static svc_config svc = {&vectors};

static bool trace; /* FUZZ_TRACE=1: the frames sent, on stderr (to see what an input does) */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    trace = getenv("FUZZ_TRACE") != NULL;
    char path[1024], err[256];
    (void)argc;
    (void)argv;
    if (!wv_default_path("vectors.txt", path, sizeof path) || wv_load(path, &vectors, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_service: cannot load proto/vectors.txt (run from the repository root, or set "
                        "WIRE_PROTO_DIR): %s\n", err);
        exit(1);
    }
    return 0;
}

#define MAX_PAYLOAD (1u << 20) /* sessions.txt's server configuration */

static bool is_request(uint16_t t) {
    return t == WIRE_MSG_ECHO || t == WIRE_MSG_ROUNDTRIP || t == WIRE_MSG_VECTOR_CHECK || t == WIRE_MSG_VECTOR_GET ||
           t == WIRE_MSG_STATS;
}

/* The output checked against the client's requests (in, n). */
static void check_output(const uint8_t *in, size_t n) {
    const uint8_t *out = fio.out;
    size_t olen = fio.out_len, at = 0, req_at = 0;
    bool first = true, last = false;
    FUZZ_CHECK(fio.out_total == olen); /* the output buffer held it all */
    while (at < olen) {
        wire_frame f;
        wire_err e;
        FUZZ_CHECK(wire_frame_parse(out + at, olen - at, 0xFFFFFFFFu, &f, &e, NULL) == 1);
        at += f.size;
        if (trace) fprintf(stderr, "  out: %s (0x%04x) %lu bytes\n", wire_msg_name(f.type) ? wire_msg_name(f.type) : "?",
                           (unsigned)f.type, (unsigned long)f.length);
        FUZZ_CHECK(!last); /* nothing after an ERROR or a BYE */
        if (first) FUZZ_CHECK(f.type == WIRE_MSG_HELLO || f.type == WIRE_MSG_ERROR);
        first = false;
        if (f.type == WIRE_MSG_HELLO) {
            wire_hello h;
            FUZZ_CHECK(wire_get_hello(f.payload, f.length, &h, NULL) == WIRE_OK && h.max_payload == MAX_PAYLOAD);
        } else if (f.type == WIRE_MSG_ERROR) {
            wire_error_msg m;
            FUZZ_CHECK(wire_get_error_msg(f.payload, f.length, &m, NULL) == WIRE_OK);
            last = true;
        } else if (f.type == WIRE_MSG_BYE) {
            last = true;
        } else if (f.type != WIRE_MSG_PONG) {
            /* a reply: to the next request in the client's stream */
            wire_frame r;
            for (;;) {
                FUZZ_CHECK(wire_frame_parse(in + req_at, n - req_at, MAX_PAYLOAD, &r, &e, NULL) == 1);
                req_at += r.size;
                if (is_request(r.type)) break;
            }
            /* an unknown vector's VECTOR_GET is answered VECTOR_RESULT(2) (SPEC 10.5) */
            FUZZ_CHECK(f.type == r.type + 1 || (r.type == WIRE_MSG_VECTOR_GET && f.type == WIRE_MSG_VECTOR_RESULT));
            if (f.type == WIRE_MSG_ECHO_REPLY || f.type == WIRE_MSG_ROUNDTRIP_REPLY)
                FUZZ_CHECK(f.length == r.length && memcmp(f.payload, r.payload, r.length) == 0);
            else
                FUZZ_CHECK(wire_validate(f.payload, f.length, NULL) == WIRE_OK);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    fio_begin(size * 2 + 65536); /* replies are no larger than requests, HELLO and ERROR are small */
    fio.read_max = data[0];
    fio_give(data + 1, size - 1);
    fio.in_eof = true;
    wire_conn_config cfg;
    wire_conn_config_init(&cfg, WIRE_ROLE_SERVER);
    cfg.max_payload = MAX_PAYLOAD;
    cfg.idle_timeout_ms = 2000;
    cfg.frame_timeout_ms = 1000;
    cfg.serves = svc_serves;
    wire_conn *c = NULL;
    FUZZ_CHECK(wire_conn_new(fio.fd, &cfg, &c) == WIRE_OK);
    /* every round reads a byte, reaches the end of stream, or moves the clock to a deadline */
    size_t rounds = 0, limit = 2 * size + 100;
    while (wire_conn_get_state(c) != WIRE_CONN_CLOSED) {
        FUZZ_CHECK(rounds++ < limit);
        wire_frame f;
        int rc;
        while ((rc = wire_conn_next(c, &f)) == 1) svc_on_frame(c, &f, &svc);
        (void)wire_conn_write(c);
        unsigned ev = wire_conn_events(c);
        if (ev & WIRE_EV_READ) {
            (void)wire_conn_read(c);
        } else if (!(ev & WIRE_EV_WRITE) && wire_conn_get_state(c) != WIRE_CONN_CLOSED) {
            int64_t d = wire_conn_deadline(c);
            FUZZ_CHECK(d >= 0); /* waiting for nothing, with no deadline: it would hang */
            if (d > fio.now) fio.now = d;
            wire_conn_check_time(c, fio.now);
        }
    }
    wire_conn_stats st;
    wire_conn_get_stats(c, &st);
    FUZZ_CHECK(st.bytes_out == fio.out_total && st.bytes_in == fio.in_total);
    check_output(data + 1, size - 1);
    FUZZ_CHECK(!fio.sent_after_shut);
    wire_conn_free(c);
    fio_end();
    return 0;
}
