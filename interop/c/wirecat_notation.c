/* SPDX-License-Identifier: MIT */
/* wirecat_notation.c - see wirecat_notation.h. */
#include "wirecat_notation.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tok {
    const char *s;
    size_t len, off; /* off: byte offset in the line, for the column of an error */
} tok;

typedef struct parser {
    const char *line;
    tok *t;
    size_t n, i;
    char *err;
    size_t errlen, erroff;
} parser;

static int fail(parser *p, size_t off, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, p->errlen, fmt, ap);
    va_end(ap);
    p->erroff = off;
    return -1;
}

static bool is_space(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static bool tok_is(const tok *t, const char *s) { return t->len == strlen(s) && memcmp(t->s, s, t->len) == 0; }

/* Splits the line on white space; a double-quoted run (escapes included) is part of its token. */
static int tokenize(parser *p) {
    size_t cap = 0;
    const char *s = p->line;
    size_t k = 0;
    for (;;) {
        while (s[k] && is_space((unsigned char)s[k])) k++;
        if (!s[k]) return 0;
        size_t start = k;
        while (s[k] && !is_space((unsigned char)s[k])) {
            if (s[k] == '"') {
                size_t q = k++;
                while (s[k] && s[k] != '"') k += s[k] == '\\' && s[k + 1] ? 2 : 1;
                if (!s[k]) return fail(p, q, "unterminated string (no closing '\"')");
            }
            k++;
        }
        if (p->n == cap) {
            cap = cap ? cap * 2 : 16;
            tok *nt = realloc(p->t, cap * sizeof *nt);
            if (!nt) return fail(p, start, "out of memory");
            p->t = nt;
        }
        p->t[p->n++] = (tok){s + start, k - start, start};
    }
}

/* A growable byte buffer for one token's content. */
typedef struct buf {
    uint8_t *b;
    size_t len, cap;
} buf;

/* Room for n more bytes. */
static int buf_reserve(parser *p, size_t off, buf *b, size_t n) {
    if (n > WC_MAX_PAYLOAD - b->len) return fail(p, off, "value larger than %u bytes", (unsigned)WC_MAX_PAYLOAD);
    if (b->len + n > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (c < b->len + n) c *= 2;
        uint8_t *nb = realloc(b->b, c);
        if (!nb) return fail(p, off, "out of memory");
        b->b = nb;
        b->cap = c;
    }
    return 0;
}

/* data must not point into b (the buffer may move). */
static int buf_add(parser *p, size_t off, buf *b, const void *data, size_t n) {
    if (buf_reserve(p, off, b, n)) return -1;
    if (n) memcpy(b->b + b->len, data, n);
    b->len += n;
    return 0;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* s[0..n) at line offset off: "text" with escapes, or hex digits with an optional *<repeat>. */
static int content(parser *p, const char *s, size_t n, size_t off, buf *b) {
    if (n && s[0] == '"') {
        if (n < 2 || s[n - 1] != '"') return fail(p, off + n - 1, "text after the closing '\"'");
        for (size_t k = 1; k + 1 < n; k++) {
            uint8_t c = (uint8_t)s[k];
            if (c == '"') return fail(p, off + k + 1, "text after the closing '\"' (write \\\" for a quote)");
            if (c == '\\') {
                size_t at = k++;
                char e = s[k];
                if (e == '"' || e == '\\') c = (uint8_t)e;
                else if (e == 'n') c = '\n';
                else if (e == 'r') c = '\r';
                else if (e == 't') c = '\t';
                else if (e == '0') c = 0;
                else if (e == 'x' && k + 2 < n && hexval(s[k + 1]) >= 0 && hexval(s[k + 2]) >= 0) {
                    c = (uint8_t)(hexval(s[k + 1]) << 4 | hexval(s[k + 2]));
                    k += 2;
                } else {
                    return fail(p, off + at, "bad escape (use \\\" \\\\ \\n \\r \\t \\0 or \\xNN)");
                }
            }
            if (buf_add(p, off + k, b, &c, 1)) return -1;
        }
        return 0;
    }
    const char *star = memchr(s, '*', n);
    size_t digits = star ? (size_t)(star - s) : n;
    for (size_t k = 0; k < digits; k++)
        if (hexval(s[k]) < 0) return fail(p, off + k, "bad hex digit '%c' (hex pairs, or \"text\")", s[k]);
    if (digits % 2) return fail(p, off, "odd number of hex digits");
    unsigned long rep = 1;
    if (star) {
        char num[16];
        size_t nd = n - digits - 1;
        char *end;
        if (nd == 0 || nd >= sizeof num) return fail(p, off + digits, "bad repeat count after '*'");
        memcpy(num, star + 1, nd);
        num[nd] = '\0';
        errno = 0;
        rep = strtoul(num, &end, 10);
        if (errno || *end || num[0] < '0' || num[0] > '9') return fail(p, off + digits, "bad repeat count after '*'");
    }
    size_t start = b->len;
    for (size_t k = 0; k < digits; k += 2) {
        uint8_t c = (uint8_t)(hexval(s[k]) << 4 | hexval(s[k + 1]));
        if (buf_add(p, off + k, b, &c, 1)) return -1;
    }
    size_t one = b->len - start;
    if (one == 0) return 0;
    if (rep - 1 > (WC_MAX_PAYLOAD - b->len) / one) return fail(p, off, "value larger than %u bytes", (unsigned)WC_MAX_PAYLOAD);
    if (buf_reserve(p, off, b, one * (rep - 1))) return -1; /* then copy within the buffer, which stays put */
    for (unsigned long r = 1; r < rep; r++, b->len += one) memcpy(b->b + b->len, b->b + start, one);
    return 0;
}

static int tag_of(const char *s, size_t len) {
#define WC__TAG(name, tag, text)                                                                   \
    if (len == sizeof text - 1 && memcmp(s, text, len) == 0) return tag;
    WIRE_TYPES(WC__TAG)
#undef WC__TAG
    return -1;
}

/* A writer error at token t. */
static int werr(parser *p, const tok *t, wire_err e) {
    return fail(p, t->off, "cannot encode '%.*s': %s (%s)", (int)(t->len > 40 ? 40 : t->len), t->s,
                wire_strerror(e), wire_err_name(e));
}

static int number(parser *p, const tok *t, const char *s, size_t n, int tag, uint64_t *bits) {
    char num[32];
    char *end;
    bool sign = tag >= WIRE_T_I8 && tag <= WIRE_T_I64;
    size_t off = t->off + (size_t)(s - t->s);
    if (n == 0 || n >= sizeof num) return fail(p, off, "bad %s value", wire_type_name(tag));
    memcpy(num, s, n);
    num[n] = '\0';
    errno = 0;
    if (tag == WIRE_T_F32 || tag == WIRE_T_F64) {
        size_t want = tag == WIRE_T_F32 ? 8 : 16;
        if (n > 2 && num[0] == '0' && (num[1] == 'x' || num[1] == 'X')) { /* the exact bits */
            if (n - 2 != want) return fail(p, off, "%s bits need exactly %zu hex digits", wire_type_name(tag), want);
            *bits = 0;
            for (size_t k = 2; k < n; k++) {
                if (hexval(num[k]) < 0) return fail(p, off + k, "bad hex digit '%c'", num[k]);
                *bits = *bits << 4 | (uint64_t)hexval(num[k]);
            }
            return 0;
        }
        if (tag == WIRE_T_F32) {
            float f = strtof(num, &end);
            uint32_t u;
            memcpy(&u, &f, sizeof u);
            *bits = u;
        } else {
            double d = strtod(num, &end);
            memcpy(bits, &d, sizeof d);
        }
        if (*end || end == num) return fail(p, off, "bad %s value (0x<bits> or a decimal)", wire_type_name(tag));
        return 0;
    }
    if (!(num[0] >= '0' && num[0] <= '9') && !(sign && num[0] == '-' && num[1] >= '0' && num[1] <= '9'))
        return fail(p, off, "bad %s value (a decimal integer)", wire_type_name(tag));
    unsigned width = 8u << ((tag & 0x0f) - 1); /* the tag's low nibble: log2(bytes) + 1 */
    if (sign) {
        long long x = strtoll(num, &end, 10);
        long long hi = width == 64 ? INT64_MAX : (long long)((1ull << (width - 1)) - 1);
        if (errno || *end || x > hi || x < -hi - 1)
            return fail(p, off, "%s out of range (%lld..%lld)", wire_type_name(tag), -hi - 1, hi);
        *bits = (uint64_t)x;
    } else {
        unsigned long long u = strtoull(num, &end, 10);
        unsigned long long hi = width == 64 ? UINT64_MAX : (1ull << width) - 1;
        if (errno || *end || u > hi) return fail(p, off, "%s out of range (0..%llu)", wire_type_name(tag), hi);
        *bits = u;
    }
    return 0;
}

/* Where the token after t starts (the end of the line if none): what an error there points at. */
static size_t after(const parser *p, const tok *t) {
    return t + 1 < p->t + p->n ? t[1].off : t->off + t->len;
}

/* One value at p->t[p->i]: a field, or (elem >= 0) an element of a list of elem. */
static int value(parser *p, wire_writer *w, int elem) {
    if (p->i >= p->n) return fail(p, strlen(p->line), "missing value");
    const tok *t = &p->t[p->i++];
    if (tok_is(t, "group")) {
        if (elem >= 0 && elem != WIRE_T_GROUP) return fail(p, t->off, "a list:%s holds a group", wire_type_name(elem));
        if (p->i >= p->n || !tok_is(&p->t[p->i], "{")) return fail(p, after(p, t), "'group' needs '{' after it");
        p->i++;
        if (wire_put_group_begin(w)) return werr(p, t, wire_writer_error(w, NULL));
        for (;;) {
            if (p->i >= p->n) return fail(p, strlen(p->line), "missing '}' closing the group at column %zu", t->off + 1);
            if (tok_is(&p->t[p->i], "}")) break;
            if (value(p, w, -1)) return -1;
        }
        p->i++;
        return wire_put_group_end(w) ? werr(p, t, wire_writer_error(w, NULL)) : 0;
    }
    const char *colon = memchr(t->s, ':', t->len);
    if (!colon) {
        if (t->s[0] == '"') return fail(p, t->off, "text needs a type: string:\"...\" or bytes:\"...\"");
        return fail(p, t->off, "expected a value TYPE:VALUE (u8:1, string:\"hi\", list:u8 [ ... ], group { ... })");
    }
    int tag = tag_of(t->s, (size_t)(colon - t->s));
    if (tag < 0) return fail(p, t->off, "unknown type '%.*s'", (int)(colon - t->s), t->s);
    if (elem >= 0 && tag != elem)
        return fail(p, t->off, "a list:%s holds a %s", wire_type_name(elem), wire_type_name(tag));
    const char *v = colon + 1;
    size_t vn = t->len - (size_t)(v - t->s), voff = t->off + (size_t)(v - t->s);
    uint64_t bits = 0;
    wire_err e = WIRE_OK;
    switch (tag) {
    case WIRE_T_LIST: {
        int el = tag_of(v, vn);
        if (el < 0) return fail(p, voff, "unknown element type '%.*s'", (int)vn, v);
        if (p->i >= p->n || !tok_is(&p->t[p->i], "[")) return fail(p, after(p, t), "'%.*s' needs '[' after it", (int)t->len, t->s);
        p->i++;
        if (wire_put_list_begin(w, (wire_type)el)) return werr(p, t, wire_writer_error(w, NULL));
        for (;;) {
            if (p->i >= p->n) return fail(p, strlen(p->line), "missing ']' closing the list at column %zu", t->off + 1);
            if (tok_is(&p->t[p->i], "]")) break;
            if (value(p, w, el)) return -1;
        }
        p->i++;
        return wire_put_list_end(w) ? werr(p, t, wire_writer_error(w, NULL)) : 0;
    }
    case WIRE_T_STRING:
    case WIRE_T_BYTES: {
        buf b = {NULL, 0, 0};
        int rc = content(p, v, vn, voff, &b);
        if (rc == 0) {
            if (tag == WIRE_T_STRING && !wire_utf8_valid(b.b, b.len, NULL)) rc = fail(p, voff, "string is not valid UTF-8 (use bytes: for raw octets)");
            else e = tag == WIRE_T_STRING ? wire_put_string(w, (const char *)b.b, b.len) : wire_put_bytes(w, b.b, b.len);
        }
        free(b.b);
        if (rc) return rc;
        break;
    }
    case WIRE_T_BOOL:
        if (vn == 4 && memcmp(v, "true", 4) == 0) e = wire_put_bool(w, true);
        else if (vn == 5 && memcmp(v, "false", 5) == 0) e = wire_put_bool(w, false);
        else return fail(p, voff, "bad bool (true or false)");
        break;
    default:
        if (number(p, t, v, vn, tag, &bits)) return -1;
        switch (tag) {
        case WIRE_T_U8: e = wire_put_u8(w, (uint8_t)bits); break;
        case WIRE_T_U16: e = wire_put_u16(w, (uint16_t)bits); break;
        case WIRE_T_U32: e = wire_put_u32(w, (uint32_t)bits); break;
        case WIRE_T_U64: e = wire_put_u64(w, bits); break;
        case WIRE_T_I8: e = wire_put_i8(w, wire_i8_from_bits((uint8_t)bits)); break;
        case WIRE_T_I16: e = wire_put_i16(w, wire_i16_from_bits((uint16_t)bits)); break;
        case WIRE_T_I32: e = wire_put_i32(w, wire_i32_from_bits((uint32_t)bits)); break;
        case WIRE_T_I64: e = wire_put_i64(w, wire_i64_from_bits(bits)); break;
        case WIRE_T_F32: e = wire_put_f32_bits(w, (uint32_t)bits); break;
        default: e = wire_put_f64_bits(w, bits); break;
        }
    }
    return e ? werr(p, t, e) : 0;
}

int wc_msg_type(const char *s, size_t len) {
#define WC__MSG(name, type)                                                                        \
    if (len == sizeof #name - 1 && memcmp(s, #name, len) == 0) return type;
    WIRE_MESSAGES(WC__MSG)
#undef WC__MSG
    char num[16];
    char *end;
    if (len == 0 || len >= sizeof num || s[0] < '0' || s[0] > '9') return -1;
    memcpy(num, s, len);
    num[len] = '\0';
    errno = 0;
    unsigned long v = strtoul(num, &end, len > 2 && (num[1] == 'x' || num[1] == 'X') ? 16 : 10);
    if (errno || *end || v == 0 || v > 0xFFFF) return -1;
    return (int)v;
}

bool wc_opaque(uint16_t type) {
    return type == WIRE_MSG_PING || type == WIRE_MSG_PONG || type == WIRE_MSG_ECHO || type == WIRE_MSG_ECHO_REPLY;
}

/* The payload of an opaque message: bytes:<hex>, bytes:"text" and "text" tokens, concatenated. */
static int opaque(parser *p, buf *b) {
    for (; p->i < p->n; p->i++) {
        const tok *t = &p->t[p->i];
        if (t->s[0] == '"') {
            if (content(p, t->s, t->len, t->off, b)) return -1;
        } else if (t->len >= 6 && memcmp(t->s, "bytes:", 6) == 0) {
            if (content(p, t->s + 6, t->len - 6, t->off + 6, b)) return -1;
        } else {
            return fail(p, t->off, "this message carries opaque bytes: bytes:<hex> or \"text\"");
        }
    }
    return 0;
}

/* Encodes the fields after the type into w (a sizing or a real writer). */
static int fields(parser *p, wire_writer *w) {
    p->i = 1;
    while (p->i < p->n) {
        const tok *t = &p->t[p->i];
        if (tok_is(t, "]") || tok_is(t, "}") || tok_is(t, "[") || tok_is(t, "{"))
            return fail(p, t->off, "unexpected '%.*s'", (int)t->len, t->s);
        if (value(p, w, -1)) return -1;
    }
    return 0;
}

static size_t column(const char *line, size_t off) {
    size_t col = 1;
    for (size_t k = 0; k < off && line[k]; k++)
        if (((unsigned char)line[k] & 0xC0) != 0x80) col++; /* count characters, not UTF-8 bytes */
    return col;
}

int wc_parse_frame(const char *line, uint16_t *type, uint8_t **payload, size_t *len, size_t *col, char *err,
                   size_t errlen) {
    parser p = {line, NULL, 0, 0, err, errlen, 0};
    buf b = {NULL, 0, 0};
    int rc = tokenize(&p);
    *payload = NULL;
    *len = 0;
    if (rc == 0 && p.n == 0) rc = fail(&p, 0, "empty frame (a message type, then its values)");
    if (rc == 0) {
        int ty = wc_msg_type(p.t[0].s, p.t[0].len);
        if (ty < 0) rc = fail(&p, 0, "unknown message type '%.*s' (a name such as ROUNDTRIP, or 0x0102 / 258)", (int)p.t[0].len, p.t[0].s);
        else *type = (uint16_t)ty;
    }
    if (rc == 0 && wc_opaque(*type)) {
        p.i = 1;
        rc = opaque(&p, &b);
        *payload = b.b;
        *len = b.len;
    } else if (rc == 0) {
        wire_writer w;
        size_t need = 0;
        wire_writer_init(&w, NULL, 0); /* sizing pass: the exact payload size first */
        rc = fields(&p, &w);
        wire_err e = rc == 0 ? wire_writer_finish(&w, &need) : WIRE_OK;
        if (e) rc = fail(&p, 0, "cannot encode: %s", wire_strerror(e));
        if (rc == 0 && need > WC_MAX_PAYLOAD) rc = fail(&p, 0, "payload of %zu bytes is larger than %u", need, (unsigned)WC_MAX_PAYLOAD);
        if (rc == 0 && !(*payload = malloc(need ? need : 1))) rc = fail(&p, 0, "out of memory");
        if (rc == 0) {
            wire_writer_init(&w, *payload, need);
            rc = fields(&p, &w);
            e = rc == 0 ? wire_writer_finish(&w, len) : WIRE_OK;
            if (e) rc = fail(&p, 0, "cannot encode: %s", wire_strerror(e));
        }
    }
    free(p.t);
    if (rc) {
        free(*payload);
        *payload = NULL;
        *len = 0;
        *col = column(line, p.erroff);
    }
    return rc;
}
