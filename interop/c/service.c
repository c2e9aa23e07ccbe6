/* SPDX-License-Identifier: MIT */
/* service.c - the interop service (SPEC.md 10: ECHO, ROUNDTRIP, VECTOR_CHECK, VECTOR_GET, STATS) on a
 * libwire connection, and the same requests over UDP (SPEC 15.5). Decoding errors become ERROR frames
 * with the SPEC code and frame offset. One request-to-answer logic for both transports: each handler
 * writes its answer through an `out`, which queues it on the connection or writes the datagram. */
#include "service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where an answer goes: a TCP connection (c), or one datagram in buf[0..cap) with the request's id
 * (c NULL; len is then the datagram's size, 0 while there is none). */
typedef struct out {
    wire_conn *c;
    uint8_t *buf;
    size_t cap, len;
    uint32_t id;
} out;

/* The largest reply payload: what the client announced over TCP; what a datagram carries over UDP. */
static uint32_t out_max(const out *o) { return o->c ? wire_conn_peer_max(o->c) : WIRE_UDP_MAX_PAYLOAD; }

/* TCP: ERROR then the graceful close (SPEC 8.4). UDP: the ERROR datagram, and the server goes on. */
static void out_fail(out *o, wire_err code, uint32_t offset, const char *detail) {
    if (o->c) {
        wire_conn_fail(o->c, code, offset, detail);
        return;
    }
    if (wire_udp_encode_error(o->buf, o->cap, o->id, code, offset, detail, &o->len) != WIRE_OK) o->len = 0;
}

/* wire_conn_fail_reader() for either: the reader's error at frame offset 8 + payload offset, a missing
 * or wrongly typed field being MESSAGE. */
static void out_fail_reader(out *o, const wire_reader *r, const char *detail) {
    size_t at = 0;
    wire_err e = wire_reader_error(r, &at);
    if (e == WIRE_OK || e == WIRE_ETYPE || e == WIRE_EINVAL) e = WIRE_EMESSAGE;
    out_fail(o, e, (uint32_t)(WIRE_HEADER_SIZE + at), detail);
}

/* A reply payload written by `fill`. */
typedef wire_err (*filler)(wire_writer *w, const void *arg);

/* The size `fill` will need, from a sizing-mode writer. */
static size_t sized(filler fill, const void *arg) {
    wire_writer w;
    size_t n = 0;
    wire_writer_init(&w, NULL, 0);
    if (fill(&w, arg) != WIRE_OK || wire_writer_finish(&w, &n) != WIRE_OK) return SIZE_MAX;
    return n;
}

/* SPEC 10.1, 15.4: a reply larger than the peer accepts (or than a datagram carries) is replaced by
 * ERROR(TOOBIG) with no offset. */
static void too_big(out *o, size_t size) {
    char d[96];
    snprintf(d, sizeof d, "the reply has %zu bytes, the peer accepts %lu", size, (unsigned long)out_max(o));
    out_fail(o, WIRE_ETOOBIG, WIRE_NO_OFFSET, d);
}

static void internal_error(out *o, const char *what) { out_fail(o, WIRE_ELIMIT, WIRE_NO_OFFSET, what); }

/* Sized first, then encoded in place: in the connection's queue, or after the datagram's 12 bytes. */
static void reply(out *o, uint16_t type, filler fill, const void *arg) {
    wire_writer w;
    size_t size = sized(fill, arg), n = 0;
    if (size == SIZE_MAX) {
        internal_error(o, "cannot encode the reply");
        return;
    }
    if (size > out_max(o)) {
        too_big(o, size);
        return;
    }
    if (!o->c) {
        wire_writer_init(&w, o->buf + WIRE_UDP_OVERHEAD, o->cap - WIRE_UDP_OVERHEAD);
        (void)fill(&w, arg);
        if (wire_writer_finish(&w, &n) != WIRE_OK) {
            internal_error(o, "cannot encode the reply");
            return;
        }
        wire_udp_header_encode(o->buf, o->id, type, (uint32_t)n);
        o->len = WIRE_UDP_OVERHEAD + n;
        return;
    }
    if (wire_conn_begin(o->c, type, size, &w) != WIRE_OK) {
        internal_error(o, "cannot queue the reply");
        return;
    }
    (void)fill(&w, arg);
    if (wire_conn_end(o->c, &w) != WIRE_OK) internal_error(o, "cannot queue the reply");
}

/* A reply whose payload is the request's (ECHO, ROUNDTRIP, PONG): over TCP from the input buffer
 * without a copy; over UDP copied into the datagram. */
static void reply_payload(out *o, uint16_t type, const wire_frame *f) {
    if (f->length > out_max(o)) {
        too_big(o, f->length);
        return;
    }
    wire_err e = o->c ? wire_conn_send_frame_payload(o->c, type, f)
                      : wire_udp_encode(o->buf, o->cap, o->id, type, f->payload, f->length, &o->len);
    if (e == WIRE_ETOOBIG) too_big(o, f->length);
    else if (e) internal_error(o, "cannot queue the reply");
}

/* The fields decode but do not match the request's definition (SPEC 7.2): MESSAGE at `at`. */
static void message_error(out *o, size_t at, const char *what) {
    out_fail(o, WIRE_EMESSAGE, (uint32_t)(WIRE_HEADER_SIZE + at), what);
}

/* ---- ECHO: the payload goes back from the input buffer, without a copy ---- */

static void on_echo(out *o, const wire_frame *f) { reply_payload(o, WIRE_MSG_ECHO_REPLY, f); }

/* ---- ROUNDTRIP: the reply is the re-encoding of every decoded field. The encoding is canonical
 * (SPEC 3: one encoding per value, bools 00/01, exact lengths), so for a payload that decodes that
 * re-encoding is the payload itself: validate it with the decoder's checks, then send its bytes back
 * from the input buffer. In an event loop every client waits while one request is handled; decoding
 * and encoding a 16 MiB payload of 3.3 million groups took about 3 times as long as validating it. */

static void on_roundtrip(out *o, const wire_frame *f) {
    size_t at = 0;
    wire_err e = wire_validate(f->payload, f->length, &at);
    if (e) {
        if (e == WIRE_ETYPE || e == WIRE_EINVAL) e = WIRE_EMESSAGE;
        out_fail(o, e, (uint32_t)(WIRE_HEADER_SIZE + at), "in ROUNDTRIP payload");
        return;
    }
    reply_payload(o, WIRE_MSG_ROUNDTRIP_REPLY, f); /* a decoding error is reported first */
}

/* ---- VECTOR_CHECK / VECTOR_GET ---- */

typedef struct result_args {
    uint8_t status;
    const char *path, *exp, *got;
} result_args;

static wire_err fill_result(wire_writer *w, const void *arg) {
    const result_args *a = arg;
    wire_put_u8(w, a->status);
    wire_put_cstring(w, a->path);
    wire_put_cstring(w, a->exp);
    return wire_put_cstring(w, a->got);
}

/* The ok vector named by the payload's first field, a string (else MESSAGE). The payload was
 * validated whole before, so only the schema can be wrong here. */
static bool vector_named(const svc_config *cfg, wire_reader *r, const wv_case **vc) {
    const char *name;
    size_t len;
    if (wire_peek(r) != WIRE_T_STRING || wire_get_string(r, &name, &len)) return false;
    *vc = cfg->vectors ? wv_find(cfg->vectors, WV_OK, name, len) : NULL;
    return true;
}

static const result_args unknown_vector = {2, "", "", ""};

static void on_vector_check(const svc_config *cfg, out *o, const wire_frame *f) {
    wire_reader r;
    const wv_case *vc;
    char path[400], exp[256], got[256];
    wire_reader_init(&r, f->payload, f->length);
    if (!vector_named(cfg, &r, &vc)) {
        message_error(o, 0, "VECTOR_CHECK starts with a vector name");
        return;
    }
    if (!vc) {
        reply(o, WIRE_MSG_VECTOR_RESULT, fill_result, &unknown_vector);
        return;
    }
    int rc = wv_check(&r, vc->fields, vc->nfields, path, sizeof path, exp, sizeof exp, got, sizeof got);
    if (rc < 0) {
        out_fail_reader(o, &r, "in VECTOR_CHECK");
        return;
    }
    result_args a = {rc == 0 ? 0 : 1, path, exp, got};
    reply(o, WIRE_MSG_VECTOR_RESULT, fill_result, &a);
}

static wire_err fill_vector(wire_writer *w, const void *arg) {
    const wv_case *vc = arg;
    wire_put_cstring(w, vc->name);
    return wv_encode(w, vc->fields, vc->nfields);
}

static void on_vector_get(const svc_config *cfg, out *o, const wire_frame *f) {
    wire_reader r;
    const wv_case *vc;
    wire_reader_init(&r, f->payload, f->length);
    if (!vector_named(cfg, &r, &vc)) message_error(o, 0, "VECTOR_GET holds a vector name");
    else if (!wire_reader_at_end(&r)) message_error(o, wire_reader_offset(&r), "VECTOR_GET holds only a name");
    else if (!vc) reply(o, WIRE_MSG_VECTOR_RESULT, fill_result, &unknown_vector);
    else reply(o, WIRE_MSG_VECTOR_DATA, fill_vector, vc); /* from the parsed values: never the vector's hex */
}

/* ---- STATS ---- */

uint32_t svc_crc32(const uint8_t *p, size_t n) {
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return crc ^ 0xFFFFFFFFu;
}

static uint64_t to_bits(double d) {
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

static wire_err fill_stats(wire_writer *w, const void *arg) {
    const svc_stats *s = arg;
    wire_put_i64(w, s->isum);
    wire_put_i64(w, s->imin);
    wire_put_i64(w, s->imax);
    wire_put_f64_bits(w, s->fsum);
    wire_put_f64_bits(w, s->fmin);
    wire_put_f64_bits(w, s->fmax);
    return wire_put_u32(w, s->crc);
}

/* Opens the list at the reader's position, which must hold `want` elements (else MESSAGE). */
static bool stats_list(wire_reader *r, wire_type want, uint32_t *n, size_t *at) {
    wire_type elem;
    *at = wire_reader_offset(r);
    if (wire_peek(r) != WIRE_T_LIST || wire_get_list_begin(r, &elem, n)) return false;
    if (elem != want) *at += 1; /* the element tag is what is wrong */
    return elem == want;
}

static void on_stats(out *o, const wire_frame *f) {
    wire_reader r;
    uint32_t n;
    size_t at;
    svc_stats s;
    uint64_t usum = 0; /* unsigned arithmetic wraps mod 2^64 without undefined behaviour */
    s.imin = INT64_MAX;
    s.imax = INT64_MIN;
    wire_reader_init(&r, f->payload, f->length);
    if (!stats_list(&r, WIRE_T_I64, &n, &at)) {
        message_error(o, at, "STATS: the first field is a list of i64");
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        int64_t v;
        (void)wire_get_i64(&r, &v);
        usum += (uint64_t)v;
        if (v < s.imin) s.imin = v;
        if (v > s.imax) s.imax = v;
    }
    (void)wire_get_list_end(&r);
    double sum = 0.0, mn = 1.0 / 0.0, mx = -1.0 / 0.0;
    if (!stats_list(&r, WIRE_T_F64, &n, &at)) {
        message_error(o, at, "STATS: the second field is a list of f64");
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        double v;
        (void)wire_get_f64(&r, &v);
        sum += v; /* left to right, as SPEC.md requires: the bits of the sum depend on the order */
        if (v < mn) mn = v;
        if (v > mx) mx = v;
    }
    (void)wire_get_list_end(&r);
    const uint8_t *data;
    size_t len;
    at = wire_reader_offset(&r);
    if (wire_peek(&r) != WIRE_T_BYTES || wire_get_bytes(&r, &data, &len)) {
        message_error(o, at, "STATS: the third field is bytes");
        return;
    }
    if (!wire_reader_at_end(&r)) {
        message_error(o, wire_reader_offset(&r), "STATS has exactly three fields");
        return;
    }
    s.isum = wire_i64_from_bits(usum);
    s.fsum = to_bits(sum);
    s.fmin = to_bits(mn);
    s.fmax = to_bits(mx);
    s.crc = svc_crc32(data, len);
    reply(o, WIRE_MSG_STATS_REPLY, fill_stats, &s);
}

/* ---- dispatch ---- */

bool svc_serves(uint16_t type, void *arg) {
    (void)arg;
    return type == WIRE_MSG_ECHO || type == WIRE_MSG_ROUNDTRIP || type == WIRE_MSG_VECTOR_CHECK ||
           type == WIRE_MSG_VECTOR_GET || type == WIRE_MSG_STATS;
}

/* SPEC 8.3 after the connection's own steps (an ERROR, HELLO, PING, BYE, a type not allowed yet), and
 * SPEC 15.3 step 6 over UDP: is this a request this service serves; a payload of fields is decoded
 * whole; then its fields are checked against the request's definition; then it is answered. */
static void serve(const svc_config *cfg, out *o, const wire_frame *f) {
    size_t at = 0;
    switch (f->type) {
    case WIRE_MSG_ECHO: on_echo(o, f); return;
    case WIRE_MSG_ROUNDTRIP: on_roundtrip(o, f); return; /* decoding it is the request */
    case WIRE_MSG_VECTOR_CHECK:
    case WIRE_MSG_VECTOR_GET:
    case WIRE_MSG_STATS: break;
    default: {
        char d[96];
        snprintf(d, sizeof d, "not a request this server serves (message type 0x%04x)", (unsigned)f->type);
        out_fail(o, WIRE_EUNEXPECTED, 2, d);
        return;
    }
    }
    wire_err e = wire_validate(f->payload, f->length, &at);
    if (e) out_fail(o, e, (uint32_t)(WIRE_HEADER_SIZE + at), NULL);
    else if (f->type == WIRE_MSG_VECTOR_CHECK) on_vector_check(cfg, o, f);
    else if (f->type == WIRE_MSG_VECTOR_GET) on_vector_get(cfg, o, f);
    else on_stats(o, f);
}

void svc_on_frame(wire_conn *c, const wire_frame *f, void *user) {
    out o = {c, NULL, 0, 0, 0};
    serve(user, &o, f);
}

/* SPEC 15.3 step 5 and 15.5: PING is answered here (over TCP the connection does it), an ERROR is
 * never answered, HELLO, BYE and every type that is not a request are UNEXPECTED at 2. */
size_t svc_udp_answer(const svc_config *cfg, uint32_t id, const wire_frame *f, uint8_t *buf, size_t cap) {
    out o = {NULL, buf, cap, 0, id};
    if (cap < WIRE_UDP_OVERHEAD + WIRE_MIN_MAX_PAYLOAD) return 0;
    if (f->type == WIRE_MSG_ERROR) return 0;
    if (f->type == WIRE_MSG_PING) reply_payload(&o, WIRE_MSG_PONG, f);
    else if (svc_serves(f->type, NULL)) serve(cfg, &o, f);
    else {
        char d[96];
        snprintf(d, sizeof d, "message type 0x%04x is not served over UDP (SPEC 15.5)", (unsigned)f->type);
        out_fail(&o, WIRE_EUNEXPECTED, 2, d);
    }
    return o.len;
}

size_t svc_udp_datagram(const svc_config *cfg, const uint8_t *in, size_t n, bool truncated, uint32_t max_payload,
                        uint8_t *buf, size_t cap) {
    uint32_t id;
    wire_frame f;
    wire_err e;
    size_t at = 0, len = 0;
    int rc = wire_udp_parse(in, n, truncated, max_payload, &id, &f, &e, &at);
    if (rc == 1) return svc_udp_answer(cfg, id, &f, buf, cap);
    if (rc == 0) return 0; /* no id: nothing can be answered */
    /* An ERROR whose header passed its checks but whose size disagrees with it is not answered
     * either: its type is trusted once the header is good (7.4), and an ERROR is never answered with
     * an ERROR (15.3 puts the size check, step 4, before the type, step 5: 7.4 wins). A bad header is
     * answered whatever its type field says. */
    if (e == WIRE_ELENGTH && ((unsigned)in[6] << 8 | in[7]) == WIRE_MSG_ERROR) return 0;
    if (wire_udp_encode_error(buf, cap, id, e, (uint32_t)at, NULL, &len) != WIRE_OK) return 0;
    return len;
}
