/* SPDX-License-Identifier: MIT */
/* fuzz_conn.c - the connection object (wire_conn) driven by a script: the input (formats.h) chooses
 * the role and the limits, what the peer sends and when, how every read() and sendmsg() behaves
 * (EINTR, EAGAIN, short reads and writes, writes of nothing, resets, the end of stream), what the
 * application does with each message (ignore, echo without a copy, send a copy, encode in place,
 * fail, close), pings, sends, BYE, close, abort, and how the clock moves. The system calls are
 * fake_io.c's (one end of a socket pair, its bytes answered from the script). After the script, the
 * peer stops, every call behaves, and the connection is driven to its end. Properties:
 *  - ASan/UBSan: no bad access, leak or undefined behaviour on any path, faults included;
 *  - it ends: CLOSED within a bounded number of steps once the peer has finished;
 *  - what it sent is a stream of whole frames (a partial last one only if it never shut down and
 *    did not end well, or was cut off: an abort, a failed write or read, a deadline passing with
 *    output queued), HELLO
 *    first (or ERROR, for a server refusing the handshake), nothing after an ERROR or a BYE, HELLO
 *    and ERROR payloads that decode, and no byte after its own shutdown(SHUT_WR);
 *  - a connection that ended well (WIRE_OK: a BYE exchange, a close) sent everything it queued;
 *  - its statistics count exactly the bytes the system calls moved. */
#include <string.h>

#include "fake_io.h"
#include "formats.h"
#include "fuzz.h"

static bool trace; /* FUZZ_TRACE=1: the frames sent, on stderr (to see what an input does) */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    trace = getenv("FUZZ_TRACE") != NULL;
    (void)argc;
    (void)argv;
    return 0;
}

static const size_t queues[4] = {64, 1024, 65536, 4u << 20};
static const size_t inbufs[4] = {8, 64, 1024, 16384};
static const uint32_t maxes[4] = {WIRE_MIN_MAX_PAYLOAD, 4096, 65536, 1u << 20};

/* The input, read byte by byte; 0 past its end. */
typedef struct script {
    const uint8_t *p;
    size_t n, at;
} script;

static unsigned byte(script *s) { return s->at < s->n ? s->p[s->at++] : 0; }

static const uint8_t *bytes(script *s, size_t *n) {
    const uint8_t *p = s->p + s->at;
    if (*n > s->n - s->at) *n = s->n - s->at;
    s->at += *n;
    return p;
}

/* gcc warns about a WIRE_CHECK result cast to void: the script does not care whether a call worked */
static void ignore(wire_err e) { (void)e; }

static bool cut_allowed; /* the output may end in the middle of a frame */

/* What the application does with one of its messages. */
static void handle(wire_conn *c, const wire_frame *f, unsigned action) {
    if (f->type < 0x0100) return; /* the PONG of our PING: nothing to answer */
    switch (action % 6) {
    case 0: break;
    case 1: ignore(wire_conn_send_frame_payload(c, f->type, f)); break;
    case 2: ignore(wire_conn_send(c, f->type, f->payload, f->length)); break;
    case 3: {
        wire_writer w;
        if (wire_conn_begin(c, f->type, 16, &w) == WIRE_OK) {
            wire_put_u32(&w, f->length);
            if (f->length & 1) wire_put_u8(&w, f->length ? f->payload[0] : 0);
        }
        if (f->length % 7 == 3) wire_conn_cancel(c); /* a reply dropped halfway */
        else ignore(wire_conn_end(c, &w));
        break;
    }
    case 4: wire_conn_fail(c, WIRE_EMESSAGE, WIRE_HEADER_SIZE, "fuzz"); break;
    case 5: wire_conn_close(c); break;
    }
}

static void take_frames(wire_conn *c, unsigned action) {
    wire_frame f;
    for (int k = 0; k < 1000 && wire_conn_next(c, &f) == 1; k++) handle(c, &f, action);
}

static void run_op(wire_conn *c, script *s) {
    unsigned op = byte(s) % FC_NOPS, a;
    size_t n;
    const uint8_t *p;
    switch ((enum fc_op)op) {
    case FC_DATA:
        n = byte(s);
        if (n == 0) n = 256;
        p = bytes(s, &n);
        fio_give(p, n);
        (void)wire_conn_read(c);
        break;
    case FC_READ_FAULT: {
        a = byte(s);
        static const fio_what w[5] = {FIO_EINTR, FIO_EAGAIN, FIO_RESET, FIO_EOF, FIO_SHORT};
        if (w[a % 5] == FIO_RESET) cut_allowed = true;
        fio_read_fault(w[a % 5], a / 5);
        (void)wire_conn_read(c);
        break;
    }
    case FC_WRITE: {
        a = byte(s);
        static const fio_what w[6] = {FIO_NORMAL, FIO_EINTR, FIO_EAGAIN, FIO_ZERO, FIO_RESET, FIO_SHORT};
        /* a failed write ends the connection where it is: its last frame may be cut */
        if (w[a % 6] == FIO_RESET || w[a % 6] == FIO_ZERO) cut_allowed = true;
        fio_write_fault(w[a % 6], a / 6);
        (void)wire_conn_write(c);
        break;
    }
    case FC_NEXT: take_frames(c, byte(s)); break;
    case FC_TIME: {
        a = byte(s);
        fio.now += (int64_t)a * a;
        bool queued = wire_conn_queued(c) > 0 && wire_conn_get_state(c) != WIRE_CONN_CLOSED;
        wire_conn_check_time(c, fio.now);
        /* a peer that does not read its output is given up on, output and all */
        if (queued && wire_conn_get_state(c) == WIRE_CONN_CLOSED) {
            if (trace) fprintf(stderr, "  closed at %lld ms with output queued\n", (long long)fio.now);
            cut_allowed = true;
        }
        break;
    }
    case FC_PING:
        n = byte(s) % 32;
        p = bytes(s, &n);
        ignore(wire_conn_ping(c, p, n));
        break;
    case FC_SEND:
        n = byte(s);
        p = bytes(s, &n);
        ignore(wire_conn_send(c, 0x8000, p, n));
        break;
    case FC_BYE: ignore(wire_conn_bye(c)); break;
    case FC_CLOSE:
        if (byte(s) & 1) {
            cut_allowed = true;
            wire_conn_abort(c);
        } else {
            wire_conn_close(c);
        }
        break;
    case FC_EOF:
        fio.in_eof = true;
        (void)wire_conn_read(c);
        break;
    case FC_NOPS: break;
    }
}

static void check_output(const wire_conn *c, bool client) {
    const uint8_t *out = fio.out;
    size_t olen = fio.out_len, at = 0;
    bool first = true, last = false;
    if (fio.out_total != olen) return; /* more than the buffer kept: not checked */
    while (at < olen) {
        wire_frame f;
        wire_err e;
        int rc = wire_frame_parse(out + at, olen - at, 0xFFFFFFFFu, &f, &e, NULL);
        FUZZ_CHECK(rc >= 0);
        if (rc == 0) { /* a frame cut short: only when the connection was cut off, never shut down */
            if (trace) fprintf(stderr, "  out: a frame cut short (%s)\n", wire_conn_errstr(c));
            /* never after shutdown() (a graceful end sends everything first), never when it ended
             * well (a BYE exchange, a close), unless the script cut it off */
            FUZZ_CHECK(!fio.shut_wr);
            FUZZ_CHECK(cut_allowed || wire_conn_error(c, NULL) != WIRE_OK);
            break;
        }
        at += f.size;
        if (trace) fprintf(stderr, "  out: %s (0x%04x) %lu bytes\n", wire_msg_name(f.type) ? wire_msg_name(f.type) : "?",
                           (unsigned)f.type, (unsigned long)f.length);
        FUZZ_CHECK(!last);
        if (first) FUZZ_CHECK(f.type == WIRE_MSG_HELLO || (!client && f.type == WIRE_MSG_ERROR));
        first = false;
        if (f.type == WIRE_MSG_HELLO) {
            wire_hello h;
            FUZZ_CHECK(wire_get_hello(f.payload, f.length, &h, NULL) == WIRE_OK);
        } else if (f.type == WIRE_MSG_ERROR) {
            wire_error_msg m;
            FUZZ_CHECK(wire_get_error_msg(f.payload, f.length, &m, NULL) == WIRE_OK);
            last = true;
        } else if (f.type == WIRE_MSG_BYE) {
            last = true;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    script s = {data, size, 0};
    unsigned conf = byte(&s);
    bool client = conf & FC_CLIENT;
    fio_begin(1u << 20);
    fio.read_max = byte(&s);
    fio.write_max = byte(&s);
    cut_allowed = false;
    wire_conn_config cfg;
    wire_conn_config_init(&cfg, client ? WIRE_ROLE_CLIENT : WIRE_ROLE_SERVER);
    cfg.max_queued = queues[(conf >> 1) & 3];
    cfg.inbuf_size = inbufs[(conf >> 3) & 3];
    cfg.max_payload = maxes[(conf >> 5) & 3];
    wire_conn *c = NULL;
    FUZZ_CHECK(wire_conn_new(fio.fd, &cfg, &c) == WIRE_OK);
    while (s.at < s.n) run_op(c, &s);

    /* the peer has finished and every call behaves: the connection must reach its end */
    fio.rq_len = fio.wq_len = 0;
    fio.read_max = fio.write_max = 0;
    fio.in_eof = true;
    for (int round = 0; wire_conn_get_state(c) != WIRE_CONN_CLOSED; round++) {
        if (trace && round < 20)
            fprintf(stderr, "  round %d: state %d events %u deadline %lld now %lld queued %lu: %s\n", round,
                    (int)wire_conn_get_state(c), wire_conn_events(c), (long long)wire_conn_deadline(c),
                    (long long)fio.now, (unsigned long)wire_conn_queued(c), wire_conn_errstr(c));
        FUZZ_CHECK(round < 10000);
        take_frames(c, 1);
        (void)wire_conn_write(c);
        unsigned ev = wire_conn_events(c);
        if (ev & WIRE_EV_READ) {
            (void)wire_conn_read(c);
        } else if (!(ev & WIRE_EV_WRITE) && wire_conn_get_state(c) != WIRE_CONN_CLOSED) {
            int64_t d = wire_conn_deadline(c);
            FUZZ_CHECK(d >= 0); /* it waits for nothing and has no deadline: it would hang */
            if (d > fio.now) fio.now = d;
            wire_conn_check_time(c, fio.now);
        }
    }
    if (trace) fprintf(stderr, "  ended: %s (%s)\n", wire_err_name(wire_conn_error(c, NULL)), wire_conn_errstr(c));
    wire_conn_stats st;
    wire_conn_get_stats(c, &st);
    FUZZ_CHECK(st.bytes_out == fio.out_total);
    FUZZ_CHECK(st.bytes_in == fio.in_total);
    FUZZ_CHECK(!fio.sent_after_shut);
    check_output(c, client);
    /* ended well (a BYE exchange, a close): everything queued went out */
    if (wire_conn_error(c, NULL) == WIRE_OK && !cut_allowed) FUZZ_CHECK(wire_conn_queued(c) == 0);
    wire_conn_free(c);
    fio_end();
    return 0;
}
