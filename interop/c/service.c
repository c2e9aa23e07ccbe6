/* SPDX-License-Identifier: MIT */
/* service.c - the interop service (SPEC.md 10: ECHO, ROUNDTRIP, VECTOR_CHECK, VECTOR_GET, STATS) on a
 * libwire connection. Decoding errors become ERROR frames with the SPEC code and frame offset. */
#include "service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* SPEC 10.1: a reply larger than the peer announced it accepts is replaced by ERROR(TOOBIG). */
static void too_big(wire_conn *c, size_t size) {
    char d[96];
    snprintf(d, sizeof d, "the reply has %zu bytes, the peer accepts %lu", size, (unsigned long)wire_conn_peer_max(c));
    wire_conn_fail(c, WIRE_ETOOBIG, WIRE_NO_OFFSET, d);
}

static void internal_error(wire_conn *c, const char *what) { wire_conn_fail(c, WIRE_ELIMIT, WIRE_NO_OFFSET, what); }

/* Sized first, then encoded in place in the connection's queue. */
static void reply(wire_conn *c, uint16_t type, filler fill, const void *arg) {
    wire_writer w;
    size_t size = sized(fill, arg);
    if (size == SIZE_MAX) {
        internal_error(c, "cannot encode the reply");
        return;
    }
    if (size > wire_conn_peer_max(c)) {
        too_big(c, size);
        return;
    }
    if (wire_conn_begin(c, type, size, &w) != WIRE_OK) {
        internal_error(c, "cannot queue the reply");
        return;
    }
    (void)fill(&w, arg);
    if (wire_conn_end(c, &w) != WIRE_OK) internal_error(c, "cannot queue the reply");
}

/* The fields decode but do not match the request's definition (SPEC 7.2): MESSAGE at `at`. */
static void message_error(wire_conn *c, size_t at, const char *what) {
    wire_conn_fail(c, WIRE_EMESSAGE, (uint32_t)(WIRE_HEADER_SIZE + at), what);
}

/* ---- ECHO: the payload goes back from the input buffer, without a copy ---- */

static void on_echo(wire_conn *c, const wire_frame *f) {
    wire_err e = wire_conn_send_frame_payload(c, WIRE_MSG_ECHO_REPLY, f);
    if (e == WIRE_ETOOBIG) too_big(c, f->length);
    else if (e) internal_error(c, "cannot queue the reply");
}

/* ---- ROUNDTRIP: the reply is the re-encoding of every decoded field. The encoding is canonical
 * (SPEC 3: one encoding per value, bools 00/01, exact lengths), so for a payload that decodes that
 * re-encoding is the payload itself: validate it with the decoder's checks, then send its bytes back
 * from the input buffer. In an event loop every client waits while one request is handled; decoding
 * and encoding a 16 MiB payload of 3.3 million groups took about 3 times as long as validating it. */

static void on_roundtrip(wire_conn *c, const wire_frame *f) {
    size_t at = 0;
    wire_err e = wire_validate(f->payload, f->length, &at);
    if (e) {
        if (e == WIRE_ETYPE || e == WIRE_EINVAL) e = WIRE_EMESSAGE;
        wire_conn_fail(c, e, (uint32_t)(WIRE_HEADER_SIZE + at), "in ROUNDTRIP payload");
        return;
    }
    e = wire_conn_send_frame_payload(c, WIRE_MSG_ROUNDTRIP_REPLY, f); /* a decoding error is reported first */
    if (e == WIRE_ETOOBIG) too_big(c, f->length);
    else if (e) internal_error(c, "cannot queue the reply");
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

static void on_vector_check(const svc_config *cfg, wire_conn *c, const wire_frame *f) {
    wire_reader r;
    const wv_case *vc;
    char path[400], exp[256], got[256];
    wire_reader_init(&r, f->payload, f->length);
    if (!vector_named(cfg, &r, &vc)) {
        message_error(c, 0, "VECTOR_CHECK starts with a vector name");
        return;
    }
    if (!vc) {
        reply(c, WIRE_MSG_VECTOR_RESULT, fill_result, &unknown_vector);
        return;
    }
    int rc = wv_check(&r, vc->fields, vc->nfields, path, sizeof path, exp, sizeof exp, got, sizeof got);
    if (rc < 0) {
        wire_conn_fail_reader(c, &r, "in VECTOR_CHECK");
        return;
    }
    result_args a = {rc == 0 ? 0 : 1, path, exp, got};
    reply(c, WIRE_MSG_VECTOR_RESULT, fill_result, &a);
}

static wire_err fill_vector(wire_writer *w, const void *arg) {
    const wv_case *vc = arg;
    wire_put_cstring(w, vc->name);
    return wv_encode(w, vc->fields, vc->nfields);
}

static void on_vector_get(const svc_config *cfg, wire_conn *c, const wire_frame *f) {
    wire_reader r;
    const wv_case *vc;
    wire_reader_init(&r, f->payload, f->length);
    if (!vector_named(cfg, &r, &vc)) message_error(c, 0, "VECTOR_GET holds a vector name");
    else if (!wire_reader_at_end(&r)) message_error(c, wire_reader_offset(&r), "VECTOR_GET holds only a name");
    else if (!vc) reply(c, WIRE_MSG_VECTOR_RESULT, fill_result, &unknown_vector);
    else reply(c, WIRE_MSG_VECTOR_DATA, fill_vector, vc); /* from the parsed values: never the vector's hex */
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

static void on_stats(wire_conn *c, const wire_frame *f) {
    wire_reader r;
    uint32_t n;
    size_t at;
    svc_stats s;
    uint64_t usum = 0; /* unsigned arithmetic wraps mod 2^64 without undefined behaviour */
    s.imin = INT64_MAX;
    s.imax = INT64_MIN;
    wire_reader_init(&r, f->payload, f->length);
    if (!stats_list(&r, WIRE_T_I64, &n, &at)) {
        message_error(c, at, "STATS: the first field is a list of i64");
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
        message_error(c, at, "STATS: the second field is a list of f64");
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
        message_error(c, at, "STATS: the third field is bytes");
        return;
    }
    if (!wire_reader_at_end(&r)) {
        message_error(c, wire_reader_offset(&r), "STATS has exactly three fields");
        return;
    }
    s.isum = wire_i64_from_bits(usum);
    s.fsum = to_bits(sum);
    s.fmin = to_bits(mn);
    s.fmax = to_bits(mx);
    s.crc = svc_crc32(data, len);
    reply(c, WIRE_MSG_STATS_REPLY, fill_stats, &s);
}

/* ---- dispatch ---- */

bool svc_serves(uint16_t type, void *arg) {
    (void)arg;
    return type == WIRE_MSG_ECHO || type == WIRE_MSG_ROUNDTRIP || type == WIRE_MSG_VECTOR_CHECK ||
           type == WIRE_MSG_VECTOR_GET || type == WIRE_MSG_STATS;
}

/* SPEC 8.3 after the connection's own steps (an ERROR, HELLO, PING, BYE, a type not allowed yet):
 * is this a request this service serves; a payload of fields is decoded whole; then its fields are
 * checked against the request's definition; then it is answered. */
void svc_on_frame(wire_conn *c, const wire_frame *f, void *user) {
    const svc_config *cfg = user;
    size_t at = 0;
    switch (f->type) {
    case WIRE_MSG_ECHO: on_echo(c, f); return;
    case WIRE_MSG_ROUNDTRIP: on_roundtrip(c, f); return; /* decoding it is the request */
    case WIRE_MSG_VECTOR_CHECK:
    case WIRE_MSG_VECTOR_GET:
    case WIRE_MSG_STATS: break;
    default: {
        char d[96];
        snprintf(d, sizeof d, "not a request this server serves (message type 0x%04x)", (unsigned)f->type);
        wire_conn_fail(c, WIRE_EUNEXPECTED, 2, d);
        return;
    }
    }
    wire_err e = wire_validate(f->payload, f->length, &at);
    if (e) wire_conn_fail(c, e, (uint32_t)(WIRE_HEADER_SIZE + at), NULL);
    else if (f->type == WIRE_MSG_VECTOR_CHECK) on_vector_check(cfg, c, f);
    else if (f->type == WIRE_MSG_VECTOR_GET) on_vector_get(cfg, c, f);
    else on_stats(c, f);
}
