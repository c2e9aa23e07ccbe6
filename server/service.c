/* service.c - the interop service (SPEC.md: HELLO, PING, BYE, ECHO, ROUNDTRIP, VECTOR_CHECK,
 * VECTOR_GET, STATS). Decoding errors become ERROR frames with the SPEC code and frame offset. */
#include "service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUT_MIN_CAP 4096
#define OUT_KEEP_CAP (256u * 1024) /* an empty queue larger than this is given back */

void svc_out_init(svc_out *o, size_t limit) {
    memset(o, 0, sizeof *o);
    o->limit = limit;
}

void svc_out_free(svc_out *o) {
    free(o->buf);
    memset(o, 0, sizeof *o);
}

void svc_out_consume(svc_out *o, size_t n) {
    o->head += n;
    if (o->head < o->len) return;
    o->head = o->len = 0;
    if (o->cap > OUT_KEEP_CAP) { /* one big reply must not pin its memory for the connection's life */
        free(o->buf);
        o->buf = NULL;
        o->cap = 0;
    }
}

/* n bytes at the end of the queue, or NULL if that would pass the limit or memory ran out. */
static uint8_t *reserve(svc_out *o, size_t n) {
    if (n > o->limit - o->len) return NULL;
    if (o->len + n > o->cap) {
        if (o->head > 0) { /* reuse the space of what was already sent */
            memmove(o->buf, o->buf + o->head, o->len - o->head);
            o->len -= o->head;
            o->head = 0;
        }
        size_t cap = o->cap ? o->cap : OUT_MIN_CAP;
        while (cap < o->len + n) cap = cap > o->limit / 2 ? o->limit : cap * 2;
        if (cap > o->cap) {
            uint8_t *nb = realloc(o->buf, cap);
            if (!nb) return NULL;
            o->buf = nb;
            o->cap = cap;
        }
    }
    uint8_t *p = o->buf + o->len;
    o->len += n;
    return p;
}

/* A frame whose payload is written by `fill` into exactly `size` bytes. */
typedef wire_err (*filler)(wire_writer *w, const void *arg);

static bool put_frame(svc_conn *c, svc_out *out, uint16_t type, size_t size, filler fill, const void *arg) {
    wire_writer w;
    size_t n = 0;
    if (size > UINT32_MAX) return false;
    uint8_t *p = reserve(out, WIRE_HEADER_SIZE + size);
    if (!p) return false;
    wire_writer_init(&w, p + WIRE_HEADER_SIZE, size);
    if (fill(&w, arg) != WIRE_OK || wire_writer_finish(&w, &n) != WIRE_OK || n != size) {
        out->len -= WIRE_HEADER_SIZE + size; /* take the half-made frame back */
        return false;
    }
    wire_header_encode(p, type, (uint32_t)size);
    c->frames_out++;
    return true;
}

/* The size `fill` will need, from a sizing-mode writer. */
static size_t sized(filler fill, const void *arg) {
    wire_writer w;
    size_t n = 0;
    wire_writer_init(&w, NULL, 0);
    if (fill(&w, arg) != WIRE_OK || wire_writer_finish(&w, &n) != WIRE_OK) return SIZE_MAX;
    return n;
}

static svc_result internal_error(svc_conn *c, svc_out *out, const char *what);

/* SPEC 10.1: a reply larger than the peer announced it accepts is replaced by ERROR(TOOBIG). */
static bool peer_refuses(svc_conn *c, svc_out *out, size_t size) {
    char d[96];
    if (!c->hello || size <= c->peer_max) return false;
    snprintf(d, sizeof d, "the reply has %zu bytes, the peer accepts %lu", size, (unsigned long)c->peer_max);
    svc_error(c, out, WIRE_ETOOBIG, WIRE_NO_OFFSET, d);
    return true;
}

static svc_result reply(svc_conn *c, svc_out *out, uint16_t type, filler fill, const void *arg) {
    size_t size = sized(fill, arg);
    if (peer_refuses(c, out, size)) return SVC_CLOSE;
    return put_frame(c, out, type, size, fill, arg) ? SVC_CONTINUE : internal_error(c, out, "cannot queue the reply");
}

static svc_result reply_raw(svc_conn *c, svc_out *out, uint16_t type, const uint8_t *payload, uint32_t len) {
    if (peer_refuses(c, out, len)) return SVC_CLOSE;
    uint8_t *p = reserve(out, WIRE_HEADER_SIZE + (size_t)len);
    if (!p) return internal_error(c, out, "output queue full");
    wire_header_encode(p, type, len);
    if (len) memcpy(p + WIRE_HEADER_SIZE, payload, len);
    c->frames_out++;
    return SVC_CONTINUE;
}

typedef struct error_args {
    wire_err code;
    uint32_t offset;
    const char *text;
} error_args;

static wire_err fill_error(wire_writer *w, const void *arg) {
    const error_args *a = arg;
    wire_error_msg m = {(uint16_t)a->code, a->offset, a->text, strlen(a->text)};
    return wire_put_error_msg(w, &m);
}

void svc_error(svc_conn *c, svc_out *out, wire_err code, uint32_t offset, const char *detail) {
    char text[256];
    if (detail) snprintf(text, sizeof text, "%s: %s", wire_strerror(code), detail);
    else snprintf(text, sizeof text, "%s", wire_strerror(code));
    error_args a = {code, offset, text};
    if (offset == WIRE_NO_OFFSET) snprintf(c->reason, sizeof c->reason, "sent ERROR %s (%s)", wire_err_name(code), text);
    else snprintf(c->reason, sizeof c->reason, "sent ERROR %s at offset %lu (%s)", wire_err_name(code),
                  (unsigned long)offset, text);
    (void)put_frame(c, out, WIRE_MSG_ERROR, sized(fill_error, &a), fill_error, &a); /* never refused */
}

/* A decoding error in a payload: ERROR with the offset counted from the frame's first byte. */
static svc_result decode_error(svc_conn *c, svc_out *out, const wire_reader *r, const char *what) {
    size_t at = 0;
    wire_err e = wire_reader_error(r, &at);
    if (e == WIRE_ETYPE || e == WIRE_EINVAL) e = WIRE_EMESSAGE; /* a field missing or of the wrong type */
    svc_error(c, out, e, (uint32_t)(WIRE_HEADER_SIZE + at), what);
    return SVC_CLOSE;
}

/* The fields decode but do not match the request's definition (SPEC 7.2): MESSAGE at `at`. */
static svc_result message_error(svc_conn *c, svc_out *out, size_t at, const char *what) {
    svc_error(c, out, WIRE_EMESSAGE, (uint32_t)(WIRE_HEADER_SIZE + at), what);
    return SVC_CLOSE;
}

static svc_result internal_error(svc_conn *c, svc_out *out, const char *what) {
    svc_error(c, out, WIRE_ELIMIT, WIRE_NO_OFFSET, what);
    return SVC_CLOSE;
}

/* ---- HELLO ---- */

static wire_err fill_hello(wire_writer *w, const void *arg) { return wire_put_hello(w, arg); }

static svc_result on_hello(const svc_config *cfg, svc_conn *c, const wire_frame *f, svc_out *out) {
    wire_hello h;
    size_t at;
    wire_err e = wire_get_hello(f->payload, f->length, &h, &at);
    if (e) {
        svc_error(c, out, e, (uint32_t)(WIRE_HEADER_SIZE + at), "in HELLO");
        return SVC_CLOSE;
    }
    if (h.version != WIRE_PROTOCOL_VERSION) {
        char d[64];
        snprintf(d, sizeof d, "peer speaks version %u, this server %u", h.version, WIRE_PROTOCOL_VERSION);
        svc_error(c, out, WIRE_EVERSION, WIRE_HEADER_SIZE + 1, d);
        return SVC_CLOSE;
    }
    c->hello = true;
    c->peer_max = h.max_payload;
    wire_hello mine = {WIRE_PROTOCOL_VERSION, cfg->max_payload, cfg->name, strlen(cfg->name)};
    return reply(c, out, WIRE_MSG_HELLO, fill_hello, &mine);
}

/* ---- ROUNDTRIP: decode every field, encode it again; canonical encoding makes the sizes equal ---- */

static svc_result on_roundtrip(svc_conn *c, const wire_frame *f, svc_out *out) {
    wire_reader r;
    wire_writer w;
    size_t n;
    uint8_t *p = reserve(out, WIRE_HEADER_SIZE + (size_t)f->length);
    if (!p) return internal_error(c, out, "output queue full");
    wire_reader_init(&r, f->payload, f->length);
    wire_writer_init(&w, p + WIRE_HEADER_SIZE, f->length);
    wire_err e = wv_transcode(&r, &w);
    if (e == WIRE_OK) e = wire_reader_finish(&r);
    if (wire_reader_error(&r, NULL)) {
        out->len -= WIRE_HEADER_SIZE + (size_t)f->length;
        return decode_error(c, out, &r, "in ROUNDTRIP payload");
    }
    if (e || wire_writer_finish(&w, &n) != WIRE_OK || n != f->length) {
        out->len -= WIRE_HEADER_SIZE + (size_t)f->length;
        return internal_error(c, out, "re-encoding did not reproduce the payload size");
    }
    if (c->peer_max < f->length) { /* checked after decoding: a decoding error is reported first */
        out->len -= WIRE_HEADER_SIZE + (size_t)f->length;
        (void)peer_refuses(c, out, f->length);
        return SVC_CLOSE;
    }
    wire_header_encode(p, WIRE_MSG_ROUNDTRIP_REPLY, f->length);
    c->frames_out++;
    return SVC_CONTINUE;
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

static svc_result send_result(svc_conn *c, svc_out *out, const result_args *a) {
    return reply(c, out, WIRE_MSG_VECTOR_RESULT, fill_result, a);
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

static svc_result on_vector_check(const svc_config *cfg, svc_conn *c, const wire_frame *f, svc_out *out) {
    wire_reader r;
    const wv_case *vc;
    char path[400], exp[256], got[256];
    wire_reader_init(&r, f->payload, f->length);
    if (!vector_named(cfg, &r, &vc)) return message_error(c, out, 0, "VECTOR_CHECK starts with a vector name");
    if (!vc) return send_result(c, out, &unknown_vector);
    int rc = wv_check(&r, vc->fields, vc->nfields, path, sizeof path, exp, sizeof exp, got, sizeof got);
    if (rc < 0) return decode_error(c, out, &r, "in VECTOR_CHECK");
    result_args a = {rc == 0 ? 0 : 1, path, exp, got};
    return send_result(c, out, &a);
}

static wire_err fill_vector(wire_writer *w, const void *arg) {
    const wv_case *vc = arg;
    wire_put_cstring(w, vc->name);
    return wv_encode(w, vc->fields, vc->nfields);
}

static svc_result on_vector_get(const svc_config *cfg, svc_conn *c, const wire_frame *f, svc_out *out) {
    wire_reader r;
    const wv_case *vc;
    wire_reader_init(&r, f->payload, f->length);
    if (!vector_named(cfg, &r, &vc)) return message_error(c, out, 0, "VECTOR_GET holds a vector name");
    if (!wire_reader_at_end(&r)) return message_error(c, out, wire_reader_offset(&r), "VECTOR_GET holds only a name");
    if (!vc) return send_result(c, out, &unknown_vector);
    /* produced by the encoder from the parsed values: never a copy of the vector's hex */
    return reply(c, out, WIRE_MSG_VECTOR_DATA, fill_vector, vc);
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

/* Opens the list at the reader's position, which must hold `elem` elements (else MESSAGE). */
static bool stats_list(wire_reader *r, wire_type want, uint32_t *n, size_t *at) {
    wire_type elem;
    *at = wire_reader_offset(r);
    if (wire_peek(r) != WIRE_T_LIST || wire_get_list_begin(r, &elem, n)) return false;
    if (elem != want) *at += 1; /* the element tag is what is wrong */
    return elem == want;
}

static svc_result on_stats(svc_conn *c, const wire_frame *f, svc_out *out) {
    wire_reader r;
    uint32_t n;
    size_t at;
    svc_stats s;
    uint64_t usum = 0; /* unsigned arithmetic wraps mod 2^64 without undefined behaviour */
    s.imin = INT64_MAX;
    s.imax = INT64_MIN;
    wire_reader_init(&r, f->payload, f->length);
    if (!stats_list(&r, WIRE_T_I64, &n, &at)) return message_error(c, out, at, "STATS: the first field is a list of i64");
    for (uint32_t i = 0; i < n; i++) {
        int64_t v;
        (void)wire_get_i64(&r, &v);
        usum += (uint64_t)v;
        if (v < s.imin) s.imin = v;
        if (v > s.imax) s.imax = v;
    }
    (void)wire_get_list_end(&r);
    double sum = 0.0, mn = 1.0 / 0.0, mx = -1.0 / 0.0;
    if (!stats_list(&r, WIRE_T_F64, &n, &at)) return message_error(c, out, at, "STATS: the second field is a list of f64");
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
    if (wire_peek(&r) != WIRE_T_BYTES || wire_get_bytes(&r, &data, &len))
        return message_error(c, out, at, "STATS: the third field is bytes");
    if (!wire_reader_at_end(&r)) return message_error(c, out, wire_reader_offset(&r), "STATS has exactly three fields");
    s.isum = wire__s64(usum);
    s.fsum = to_bits(sum);
    s.fmin = to_bits(mn);
    s.fmax = to_bits(mx);
    s.crc = svc_crc32(data, len);
    return reply(c, out, WIRE_MSG_STATS_REPLY, fill_stats, &s);
}

/* ---- dispatch ---- */

/* SPEC 8.3: an ERROR from the peer ends the connection; it is never answered. */
static svc_result on_peer_error(svc_conn *c, const wire_frame *f) {
    wire_error_msg e;
    if (wire_get_error_msg(f->payload, f->length, &e, NULL) == WIRE_OK)
        snprintf(c->reason, sizeof c->reason, "peer sent ERROR %u: %.*s", e.code, (int)(e.text_len > 200 ? 200 : e.text_len),
                 e.text);
    else
        snprintf(c->reason, sizeof c->reason, "peer sent a malformed ERROR");
    return SVC_CLOSE;
}

static svc_result unexpected(svc_conn *c, svc_out *out, const char *why, uint16_t type) {
    char d[96];
    snprintf(d, sizeof d, "%s (message type 0x%04x)", why, type);
    svc_error(c, out, WIRE_EUNEXPECTED, 2, d);
    return SVC_CLOSE;
}

/* SPEC 8.3, in order: is the type allowed now; decode the payload whole; check it against the
 * message's definition; act. So for the same bytes every implementation sends the same ERROR. */
svc_result svc_handle(const svc_config *cfg, svc_conn *c, const wire_frame *f, svc_out *out) {
    size_t at;
    c->frames_in++;
    if (f->type == WIRE_MSG_ERROR) return on_peer_error(c, f);
    if (!c->hello && f->type != WIRE_MSG_HELLO) return unexpected(c, out, "the first frame must be HELLO", f->type);
    if (c->hello && f->type == WIRE_MSG_HELLO) return unexpected(c, out, "HELLO was already exchanged", f->type);
    switch (f->type) {
    case WIRE_MSG_PING: return reply_raw(c, out, WIRE_MSG_PONG, f->payload, f->length);
    case WIRE_MSG_ECHO: return reply_raw(c, out, WIRE_MSG_ECHO_REPLY, f->payload, f->length);
    case WIRE_MSG_ROUNDTRIP: return on_roundtrip(c, f, out); /* decoding it is the request */
    case WIRE_MSG_HELLO:
    case WIRE_MSG_BYE:
    case WIRE_MSG_VECTOR_CHECK:
    case WIRE_MSG_VECTOR_GET:
    case WIRE_MSG_STATS: break;
    default: return unexpected(c, out, "not a request this server serves", f->type);
    }
    wire_err e = wire_validate(f->payload, f->length, &at);
    if (e) {
        svc_error(c, out, e, (uint32_t)(WIRE_HEADER_SIZE + at), NULL);
        return SVC_CLOSE;
    }
    switch (f->type) {
    case WIRE_MSG_HELLO: return on_hello(cfg, c, f, out);
    case WIRE_MSG_BYE:
        snprintf(c->reason, sizeof c->reason, "BYE");
        (void)reply_raw(c, out, WIRE_MSG_BYE, NULL, 0); /* the last frame either way */
        return SVC_CLOSE;
    case WIRE_MSG_VECTOR_CHECK: return on_vector_check(cfg, c, f, out);
    case WIRE_MSG_VECTOR_GET: return on_vector_get(cfg, c, f, out);
    default: return on_stats(c, f, out);
    }
}
