/* SPDX-License-Identifier: MIT */
/* vectors.c - see vectors.h. */
#include "vectors.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------- parsing ---------- */

typedef struct parser {
    char **tok;
    size_t ntok, i;
    char *err;
    size_t errlen;
    const char *path;
    int line;
    bool patterns; /* `*` values allowed */
} parser;

static int perr(parser *p, const char *fmt, ...) {
    char msg[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "%s:%d: %s", p->path, p->line, msg);
    return -1;
}

static int tag_of(const char *name, size_t len) {
    static const uint8_t tags[] = {WIRE_T_U8, WIRE_T_U16, WIRE_T_U32, WIRE_T_U64, WIRE_T_I8,
                                   WIRE_T_I16, WIRE_T_I32, WIRE_T_I64, WIRE_T_F32, WIRE_T_F64,
                                   WIRE_T_BOOL, WIRE_T_STRING, WIRE_T_BYTES, WIRE_T_LIST, WIRE_T_GROUP};
    for (size_t k = 0; k < sizeof tags; k++) {
        const char *n = wire_type_name(tags[k]);
        if (strlen(n) == len && memcmp(n, name, len) == 0) return tags[k];
    }
    return -1;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Appends the bytes of one hex token ("0a0b" or "ab*300") to *buf. */
static int hex_token(parser *p, const char *t, uint8_t **buf, size_t *len, size_t *cap) {
    const char *star = strchr(t, '*');
    size_t digits = star ? (size_t)(star - t) : strlen(t);
    unsigned long long rep = 1;
    if (digits % 2) return perr(p, "odd number of hex digits in '%s'", t);
    if (star) {
        char *end;
        errno = 0;
        if (!isdigit((unsigned char)star[1])) return perr(p, "bad repeat count in '%s'", t);
        rep = strtoull(star + 1, &end, 10);
        if (errno || *end || rep > 100000000) return perr(p, "bad repeat count in '%s'", t);
    }
    size_t n = digits / 2;
    if (n == 0) return 0; /* "*5" repeats nothing */
    if (rep > (SIZE_MAX - *len) / n) return perr(p, "hex token too large");
    size_t need = *len + n * rep;
    if (need > *cap) {
        size_t c = *cap ? *cap : 64;
        while (c < need) c *= 2;
        uint8_t *nb = realloc(*buf, c);
        if (!nb) return perr(p, "out of memory");
        *buf = nb;
        *cap = c;
    }
    for (size_t k = 0; k < n; k++) {
        int hi = hexval(t[2 * k]), lo = hexval(t[2 * k + 1]);
        if (hi < 0 || lo < 0) return perr(p, "bad hex digit in '%s'", t);
        (*buf)[*len + k] = (uint8_t)(hi << 4 | lo);
    }
    for (unsigned long long r = 1; r < rep; r++) memcpy(*buf + *len + r * n, *buf + *len, n);
    *len = need;
    return 0;
}

static int parse_value(parser *p, wv_value *v);

/* Parses values until the closing token; the list/group gets them as items. */
static int parse_items(parser *p, wv_value *v, const char *close, int elem) {
    size_t cap = 0;
    for (;;) {
        if (p->i >= p->ntok) return perr(p, "missing '%s'", close);
        if (strcmp(p->tok[p->i], close) == 0) {
            p->i++;
            return 0;
        }
        if (v->count == cap) {
            cap = cap ? cap * 2 : 4;
            wv_value *ni = realloc(v->items, cap * sizeof *ni);
            if (!ni) return perr(p, "out of memory");
            v->items = ni;
        }
        wv_value *it = &v->items[v->count];
        memset(it, 0, sizeof *it);
        v->count++;
        if (parse_value(p, it)) return -1;
        if (elem >= 0 && it->type != elem)
            return perr(p, "list:%s holds a %s", wire_type_name(elem), wire_type_name(it->type));
    }
}

static int parse_value(parser *p, wv_value *v) {
    const char *t = p->tok[p->i++];
    if (strcmp(t, "group") == 0) {
        v->type = WIRE_T_GROUP;
        if (p->i >= p->ntok || strcmp(p->tok[p->i], "{") != 0) return perr(p, "'group' without '{'");
        p->i++;
        return parse_items(p, v, "}", -1);
    }
    const char *colon = strchr(t, ':');
    if (!colon) return perr(p, "unexpected token '%s'", t);
    int tag = tag_of(t, (size_t)(colon - t));
    if (tag < 0) return perr(p, "unknown type in '%s'", t);
    const char *s = colon + 1;
    v->type = (uint8_t)tag;
    char *end;
    errno = 0;
    if (p->patterns && strcmp(s, "*") == 0 && tag != WIRE_T_LIST) { /* any value of this type */
        v->any = true;
        return 0;
    }
    switch (tag) {
    case WIRE_T_LIST: {
        int e = tag_of(s, strlen(s));
        if (e < 0) return perr(p, "unknown element type in '%s'", t);
        v->elem = (uint8_t)e;
        if (p->i >= p->ntok || strcmp(p->tok[p->i], "[") != 0) return perr(p, "'%s' without '['", t);
        p->i++;
        return parse_items(p, v, "]", e);
    }
    case WIRE_T_STRING:
    case WIRE_T_BYTES: {
        size_t cap = 0;
        if (*s && hex_token(p, s, &v->data, &v->len, &cap)) return -1;
        if (tag == WIRE_T_STRING && !wire_utf8_valid(v->data, v->len, NULL))
            return perr(p, "string value is not UTF-8: '%s'", t);
        return 0;
    }
    case WIRE_T_BOOL:
        if (strcmp(s, "true") == 0) v->bits = 1;
        else if (strcmp(s, "false") != 0) return perr(p, "bad bool '%s'", t);
        return 0;
    case WIRE_T_F32:
    case WIRE_T_F64: {
        size_t digits = tag == WIRE_T_F32 ? 8 : 16;
        if (strncmp(s, "0x", 2) != 0 || strlen(s + 2) != digits) return perr(p, "bad float bits '%s'", t);
        for (size_t k = 0; k < digits; k++) {
            int h = hexval(s[2 + k]);
            if (h < 0) return perr(p, "bad float bits '%s'", t);
            v->bits = v->bits << 4 | (uint64_t)h;
        }
        return 0;
    }
    case WIRE_T_U8: case WIRE_T_U16: case WIRE_T_U32: case WIRE_T_U64: {
        static const uint64_t max[] = {0xFF, 0xFFFF, 0xFFFFFFFF, UINT64_MAX};
        if (!isdigit((unsigned char)*s)) return perr(p, "bad unsigned '%s'", t);
        unsigned long long u = strtoull(s, &end, 10);
        if (errno || *end || u > max[tag - WIRE_T_U8]) return perr(p, "bad or out-of-range '%s'", t);
        v->bits = u;
        return 0;
    }
    default: { /* signed */
        static const int64_t max[] = {INT8_MAX, INT16_MAX, INT32_MAX, INT64_MAX};
        int64_t hi = max[tag - WIRE_T_I8], lo = -hi - 1;
        if (!isdigit((unsigned char)*s) && !(*s == '-' && isdigit((unsigned char)s[1])))
            return perr(p, "bad signed '%s'", t);
        long long x = strtoll(s, &end, 10);
        if (errno || *end || x > hi || x < lo) return perr(p, "bad or out-of-range '%s'", t);
        v->bits = (uint64_t)x; /* two's complement, as on the wire */
        return 0;
    }
    }
}

/* Splits s on white space into p->tok (pointers into s, which is modified). */
static int tokenize(parser *p, char *s) {
    size_t cap = 0;
    p->ntok = p->i = 0;
    for (char *t = strtok(s, " \t\r\n"); t; t = strtok(NULL, " \t\r\n")) {
        if (p->ntok == cap) {
            cap = cap ? cap * 2 : 32;
            char **nt = realloc(p->tok, cap * sizeof *nt);
            if (!nt) return perr(p, "out of memory");
            p->tok = nt;
        }
        p->tok[p->ntok++] = t;
    }
    return 0;
}

static int parse_fields(parser *p, char *s, wv_value **out, size_t *n) {
    wv_value holder;
    memset(&holder, 0, sizeof holder);
    if (tokenize(p, s)) return -1;
    int rc = 0;
    while (rc == 0 && p->i < p->ntok) {
        if (holder.count % 8 == 0) {
            wv_value *ni = realloc(holder.items, (holder.count + 8) * sizeof *ni);
            if (!ni) return perr(p, "out of memory");
            holder.items = ni;
        }
        memset(&holder.items[holder.count], 0, sizeof *holder.items);
        rc = parse_value(p, &holder.items[holder.count++]);
    }
    *out = holder.items;
    *n = holder.count;
    return rc;
}

static int parse_hex(parser *p, char *s, uint8_t **out, size_t *len) {
    size_t cap = 0;
    *out = NULL;
    *len = 0;
    if (tokenize(p, s)) return -1;
    for (; p->i < p->ntok; p->i++)
        if (hex_token(p, p->tok[p->i], out, len, &cap)) return -1;
    return 0;
}

int wv_err_code(const char *name) {
    for (int c = 0; c <= 255; c++)
        if (strcmp(wire_err_name((wire_err)c), name) == 0) return c;
    return -1;
}

char *wv_trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

static int parse_line(parser *p, char *line, wv_case *c) {
    char *bar1 = strchr(line, '|');
    char *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
    if (!bar2 || strchr(bar2 + 1, '|')) return perr(p, "a case needs exactly two '|'");
    *bar1 = *bar2 = '\0';
    char *head = wv_trim(line), *mid = wv_trim(bar1 + 1), *last = wv_trim(bar2 + 1);
    char *sp = head + strcspn(head, " \t");
    if (*sp == '\0') return perr(p, "missing case name");
    *sp = '\0';
    char *name = wv_trim(sp + 1);
    static const char *kinds[] = {"ok", "err", "frame", "ferr", "stats"};
    int kind = -1;
    for (int k = 0; k < 5; k++)
        if (strcmp(head, kinds[k]) == 0) kind = k;
    if (kind < 0) return perr(p, "unknown case kind '%s'", head);
    c->kind = (wv_kind)kind;
    c->name = strdup(name);
    if (!c->name) return perr(p, "out of memory");
    if (c->kind == WV_STATS)
        return parse_fields(p, mid, &c->fields, &c->nfields) || parse_fields(p, last, &c->reply, &c->nreply) ? -1 : 0;
    if (c->kind == WV_ERR || c->kind == WV_FERR) {
        char code[32];
        unsigned long off;
        int used = 0;
        if (sscanf(mid, "%31s %lu %n", code, &off, &used) != 2 || mid[used] != '\0')
            return perr(p, "expected '<CODE> <offset>'");
        int e = wv_err_code(code);
        if (e <= 0) return perr(p, "unknown error code '%s'", code);
        c->err = (wire_err)e;
        c->err_offset = off;
    } else if (c->kind == WV_FRAME) {
        unsigned type;
        int used = 0;
        if (sscanf(mid, "0x%4x%n", &type, &used) != 1 || (mid[used] && !isspace((unsigned char)mid[used])))
            return perr(p, "expected a frame type 0xNNNN");
        c->frame_type = (uint16_t)type;
        if (parse_fields(p, mid + used, &c->fields, &c->nfields)) return -1;
    } else if (parse_fields(p, mid, &c->fields, &c->nfields)) {
        return -1;
    }
    return parse_hex(p, last, &c->hex, &c->hexlen);
}

/* Where `make install` put proto/ (DATADIR/wire): the Makefile passes -DWIRE_DATADIR for the
 * DATADIR it installs to. */
#ifndef WIRE_DATADIR
#define WIRE_DATADIR "/usr/local/share"
#endif

static bool exists_at(char *buf, size_t len, const char *dir, const char *sub, const char *file) {
    int n = snprintf(buf, len, "%s%s%s", dir, sub, file);
    return n >= 0 && (size_t)n < len && access(buf, F_OK) == 0;
}

bool wv_default_path(const char *file, char *buf, size_t len) {
    const char *env = getenv("WIRE_PROTO_DIR");
    char exe[4096];
    int n;
    if (env && *env) {
        n = snprintf(buf, len, "%s/%s", env, file);
        return n >= 0 && (size_t)n < len;
    }
    if (exists_at(buf, len, "", "proto/", file)) return true;
    /* the source tree of a program still in build/<cc>/, before an installed copy: a stale install
     * must never shadow the tree being tested */
    ssize_t got = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash = NULL;
    if (got > 0) {
        exe[got] = '\0';
        slash = strrchr(exe, '/');
    }
    if (slash) {
        *slash = '\0';
        if (exists_at(buf, len, exe, "/../../proto/", file)) return true;
    }
    if (exists_at(buf, len, WIRE_DATADIR, "/wire/", file)) return true;
    /* found nowhere: name the first place, for the caller's "No such file" */
    n = snprintf(buf, len, "proto/%s", file);
    return n >= 0 && (size_t)n < len;
}

int wv_load(const char *path, wv_file *f, char *err, size_t errlen) {
    parser p;
    memset(&p, 0, sizeof p);
    memset(f, 0, sizeof *f);
    p.err = err;
    p.errlen = errlen;
    p.path = path;
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t linecap = 0, cap = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &linecap, fp) >= 0) {
        p.line++;
        char *s = wv_trim(line);
        if (*s == '\0' || *s == '#') continue;
        if (f->count == cap) {
            cap = cap ? cap * 2 : 64;
            wv_case *nc = realloc(f->cases, cap * sizeof *nc);
            if (!nc) {
                rc = perr(&p, "out of memory");
                break;
            }
            f->cases = nc;
        }
        wv_case *c = &f->cases[f->count++];
        memset(c, 0, sizeof *c);
        c->line = p.line;
        rc = parse_line(&p, s, c);
        if (rc == 0)
            for (size_t k = 0; k + 1 < f->count; k++)
                if (f->cases[k].kind == c->kind && strcmp(f->cases[k].name, c->name) == 0)
                    rc = perr(&p, "duplicate case name '%s'", c->name);
    }
    free(line);
    free(p.tok);
    fclose(fp);
    if (rc) wv_free(f);
    return rc;
}

int wv_parse_fields(const char *text, bool patterns, wv_value **out, size_t *n, char *err, size_t errlen) {
    parser p;
    memset(&p, 0, sizeof p);
    p.err = err;
    p.errlen = errlen;
    p.path = "fields";
    p.patterns = patterns;
    char *copy = strdup(text);
    *out = NULL;
    *n = 0;
    if (!copy) return perr(&p, "out of memory");
    int rc = parse_fields(&p, copy, out, n);
    free(copy);
    free(p.tok);
    if (rc) {
        wv_free_values(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int wv_parse_hex(const char *text, uint8_t **out, size_t *len, char *err, size_t errlen) {
    parser p;
    memset(&p, 0, sizeof p);
    p.err = err;
    p.errlen = errlen;
    p.path = "hex";
    char *copy = strdup(text);
    if (!copy) return perr(&p, "out of memory");
    int rc = parse_hex(&p, copy, out, len);
    free(copy);
    free(p.tok);
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

void wv_free_values(wv_value *v, size_t n) {
    for (size_t k = 0; k < n; k++) {
        free(v[k].data);
        wv_free_values(v[k].items, v[k].count);
    }
    free(v);
}

void wv_free(wv_file *f) {
    for (size_t k = 0; k < f->count; k++) {
        wv_case *c = &f->cases[k];
        free(c->name);
        free(c->hex);
        wv_free_values(c->fields, c->nfields);
        wv_free_values(c->reply, c->nreply);
    }
    free(f->cases);
    memset(f, 0, sizeof *f);
}

const wv_case *wv_find(const wv_file *f, wv_kind kind, const char *name, size_t name_len) {
    for (size_t k = 0; k < f->count; k++)
        if (f->cases[k].kind == kind && strlen(f->cases[k].name) == name_len &&
            memcmp(f->cases[k].name, name, name_len) == 0)
            return &f->cases[k];
    return NULL;
}

/* ---------- encoding ---------- */

wire_err wv_encode(wire_writer *w, const wv_value *v, size_t n) {
    for (size_t k = 0; k < n; k++, v++) {
        uint64_t b = v->bits;
        switch (v->type) {
        case WIRE_T_U8: wire_put_u8(w, (uint8_t)b); break;
        case WIRE_T_U16: wire_put_u16(w, (uint16_t)b); break;
        case WIRE_T_U32: wire_put_u32(w, (uint32_t)b); break;
        case WIRE_T_U64: wire_put_u64(w, b); break;
        case WIRE_T_I8: wire_put_i8(w, wire_i8_from_bits((uint8_t)b)); break;
        case WIRE_T_I16: wire_put_i16(w, wire_i16_from_bits((uint16_t)b)); break;
        case WIRE_T_I32: wire_put_i32(w, wire_i32_from_bits((uint32_t)b)); break;
        case WIRE_T_I64: wire_put_i64(w, wire_i64_from_bits(b)); break;
        case WIRE_T_F32: wire_put_f32_bits(w, (uint32_t)b); break;
        case WIRE_T_F64: wire_put_f64_bits(w, b); break;
        case WIRE_T_BOOL: wire_put_bool(w, b != 0); break;
        case WIRE_T_STRING: wire_put_string(w, (const char *)v->data, v->len); break;
        case WIRE_T_BYTES: wire_put_bytes(w, v->data, v->len); break;
        case WIRE_T_LIST:
            wire_put_list_begin(w, (wire_type)v->elem);
            wv_encode(w, v->items, v->count);
            wire_put_list_end(w);
            break;
        case WIRE_T_GROUP:
            wire_put_group_begin(w);
            wv_encode(w, v->items, v->count);
            wire_put_group_end(w);
            break;
        default: break;
        }
    }
    return w->err;
}

/* ---------- decoding one item (scalars fully, containers opened) ---------- */

/* Reads the next item into v: scalars and strings/bytes (a view: data points into the reader's
 * buffer), or opens a list/group (v->count = list count). Returns the reader's error. */
static wire_err read_item(wire_reader *r, wv_value *v) {
    memset(v, 0, sizeof *v);
    int t = wire_peek(r);
    v->type = (uint8_t)t;
    switch (t) {
    case WIRE_T_U8: { uint8_t x; wire_get_u8(r, &x); v->bits = x; break; }
    case WIRE_T_U16: { uint16_t x; wire_get_u16(r, &x); v->bits = x; break; }
    case WIRE_T_U32: { uint32_t x; wire_get_u32(r, &x); v->bits = x; break; }
    case WIRE_T_U64: wire_get_u64(r, &v->bits); break;
    case WIRE_T_I8: { int8_t x; wire_get_i8(r, &x); v->bits = (uint64_t)(int64_t)x; break; }
    case WIRE_T_I16: { int16_t x; wire_get_i16(r, &x); v->bits = (uint64_t)(int64_t)x; break; }
    case WIRE_T_I32: { int32_t x; wire_get_i32(r, &x); v->bits = (uint64_t)(int64_t)x; break; }
    case WIRE_T_I64: { int64_t x; wire_get_i64(r, &x); v->bits = (uint64_t)x; break; }
    case WIRE_T_F32: { uint32_t x; wire_get_f32_bits(r, &x); v->bits = x; break; }
    case WIRE_T_F64: wire_get_f64_bits(r, &v->bits); break;
    case WIRE_T_BOOL: { bool x; wire_get_bool(r, &x); v->bits = x; break; }
    case WIRE_T_STRING: {
        const char *s;
        wire_get_string(r, &s, &v->len);
        v->data = (uint8_t *)(uintptr_t)s; /* a view; never freed or written */
        break;
    }
    case WIRE_T_BYTES: {
        const uint8_t *d;
        wire_get_bytes(r, &d, &v->len);
        v->data = (uint8_t *)(uintptr_t)d;
        break;
    }
    case WIRE_T_LIST: {
        wire_type e;
        uint32_t c;
        wire_get_list_begin(r, &e, &c);
        v->elem = (uint8_t)e;
        v->count = c;
        break;
    }
    case WIRE_T_GROUP: wire_get_group_begin(r); break;
    default: wire_skip(r); break; /* reports the unknown tag with its offset */
    }
    return wire_reader_error(r, NULL);
}

/* Signed values are stored sign-extended, so the value a scalar's bits stand for is the same whatever
 * width it was read at; for the signed types compare and print the low bits sign-extended. */
static int64_t signed_value(const wv_value *v) {
    switch (v->type) {
    case WIRE_T_I8: return wire_i8_from_bits((uint8_t)v->bits);
    case WIRE_T_I16: return wire_i16_from_bits((uint16_t)v->bits);
    case WIRE_T_I32: return wire_i32_from_bits((uint32_t)v->bits);
    default: return wire_i64_from_bits(v->bits);
    }
}

/* ---------- formatting ---------- */

static void append(char *buf, size_t len, size_t *at, const char *fmt, ...) {
    if (*at >= len) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *at, len - *at, fmt, ap);
    va_end(ap);
    if (n > 0) *at += (size_t)n < len - *at ? (size_t)n : len - *at - 1;
}

static void format_to(const wv_value *v, char *buf, size_t len, size_t *at, bool shallow) {
    const char *tn = wire_type_name(v->type);
    if (!tn) {
        append(buf, len, at, "(tag 0x%02x)", v->type);
        return;
    }
    switch (v->type) {
    case WIRE_T_U8: case WIRE_T_U16: case WIRE_T_U32: case WIRE_T_U64:
        append(buf, len, at, "%s:%" PRIu64, tn, v->bits);
        break;
    case WIRE_T_I8: case WIRE_T_I16: case WIRE_T_I32: case WIRE_T_I64:
        append(buf, len, at, "%s:%" PRId64, tn, signed_value(v));
        break;
    case WIRE_T_F32: append(buf, len, at, "f32:0x%08" PRIx32, (uint32_t)v->bits); break;
    case WIRE_T_F64: append(buf, len, at, "f64:0x%016" PRIx64, v->bits); break;
    case WIRE_T_BOOL: append(buf, len, at, "bool:%s", v->bits ? "true" : "false"); break;
    case WIRE_T_STRING: case WIRE_T_BYTES: {
        append(buf, len, at, "%s:", tn);
        size_t show = v->len > 48 ? 48 : v->len;
        for (size_t k = 0; k < show; k++) append(buf, len, at, "%02x", v->data[k]);
        if (show < v->len) append(buf, len, at, "...(%zu bytes)", v->len);
        break;
    }
    case WIRE_T_LIST:
        if (shallow) {
            append(buf, len, at, "list:%s (%zu elements)", wire_type_name(v->elem), v->count);
            break;
        }
        append(buf, len, at, "list:%s [", wire_type_name(v->elem));
        for (size_t k = 0; k < v->count; k++) {
            append(buf, len, at, " ");
            format_to(&v->items[k], buf, len, at, false);
        }
        append(buf, len, at, " ]");
        break;
    default:
        if (shallow) {
            append(buf, len, at, "group { ... }");
            break;
        }
        append(buf, len, at, "group {");
        for (size_t k = 0; k < v->count; k++) {
            append(buf, len, at, " ");
            format_to(&v->items[k], buf, len, at, false);
        }
        append(buf, len, at, " }");
    }
}

void wv_format(const wv_value *v, char *buf, size_t len) {
    size_t at = 0;
    if (len == 0) return;
    buf[0] = '\0';
    format_to(v, buf, len, &at, false);
}

/* ---------- checking ---------- */

typedef struct checker {
    char *path, *exp, *got;
    size_t pathlen, explen, gotlen;
} checker;

static int mismatch(checker *c, const char *path, const wv_value *e, const wv_value *g) {
    size_t at = 0;
    snprintf(c->path, c->pathlen, "%s", path);
    if (e) wv_format(e, c->exp, c->explen);
    else snprintf(c->exp, c->explen, "(none)");
    if (g) {
        c->got[0] = '\0';
        format_to(g, c->got, c->gotlen, &at, true);
    } else {
        snprintf(c->got, c->gotlen, "(missing)");
    }
    return 1;
}

static bool same_scalar(const wv_value *e, const wv_value *g) {
    if (e->any) return true; /* a pattern: the type alone had to match */
    if (e->type == WIRE_T_STRING || e->type == WIRE_T_BYTES)
        return e->len == g->len && (e->len == 0 || memcmp(e->data, g->data, e->len) == 0);
    if (e->type >= WIRE_T_I8 && e->type <= WIRE_T_I64) return signed_value(e) == signed_value(g);
    return e->bits == g->bits;
}

/* dst = prefix + "." + k (or just k when prefix is empty). 32 levels of 10-digit indexes fit. */
#define WV_PATH 400
static void subpath(char *dst, const char *prefix, size_t k) {
    char num[24];
    int nl = snprintf(num, sizeof num, "%zu", k);
    size_t pl = strlen(prefix);
    if (pl + 2 + (size_t)nl > WV_PATH) pl = 0; /* cannot happen within 32 levels; stay in bounds anyway */
    memcpy(dst, prefix, pl);
    if (pl) dst[pl++] = '.';
    memcpy(dst + pl, num, (size_t)nl + 1);
}

static int check_items(wire_reader *r, const wv_value *exp, size_t n, const char *prefix, checker *c);

static int check_one(wire_reader *r, const wv_value *e, const char *path, checker *c) {
    wv_value g;
    if (wire_reader_at_end(r)) return mismatch(c, path, e, NULL);
    if (read_item(r, &g)) return -1;
    if (g.type != e->type || (g.type == WIRE_T_LIST && g.elem != e->elem)) return mismatch(c, path, e, &g);
    if (g.type == WIRE_T_LIST || g.type == WIRE_T_GROUP) {
        /* a list is a sequence like a group (SPEC 10.4): a shorter one shows its first missing
         * element, a longer one its first extra element */
        int rc = check_items(r, e->items, e->count, path, c);
        if (rc) return rc;
        if (!wire_reader_at_end(r)) { /* the peer's container has more */
            char sub[WV_PATH];
            wv_value extra;
            subpath(sub, path, e->count);
            if (read_item(r, &extra)) return -1;
            return mismatch(c, sub, NULL, &extra);
        }
        if (g.type == WIRE_T_LIST ? wire_get_list_end(r) : wire_get_group_end(r)) return -1;
        return 0;
    }
    return same_scalar(e, &g) ? 0 : mismatch(c, path, e, &g);
}

static int check_items(wire_reader *r, const wv_value *exp, size_t n, const char *prefix, checker *c) {
    char path[WV_PATH];
    for (size_t k = 0; k < n; k++) {
        subpath(path, prefix, k);
        int rc = check_one(r, &exp[k], path, c);
        if (rc) return rc;
    }
    return 0;
}

int wv_check(wire_reader *r, const wv_value *expected, size_t n, char *path, size_t pathlen, char *exp,
             size_t explen, char *got, size_t gotlen) {
    checker c = {path, exp, got, pathlen, explen, gotlen};
    path[0] = exp[0] = got[0] = '\0';
    int rc = check_items(r, expected, n, "", &c);
    if (rc == 0 && !wire_reader_at_end(r)) {
        wv_value extra;
        char p[WV_PATH];
        subpath(p, "", n);
        if (read_item(r, &extra)) return -1;
        return mismatch(&c, p, NULL, &extra);
    }
    return rc;
}

/* ---------- transcoding ---------- */

wire_err wv_transcode(wire_reader *r, wire_writer *w) {
    while (!wire_reader_at_end(r)) {
        wv_value v;
        if (read_item(r, &v)) return wire_reader_error(r, NULL);
        if (v.type == WIRE_T_LIST || v.type == WIRE_T_GROUP) {
            if (v.type == WIRE_T_LIST) wire_put_list_begin(w, (wire_type)v.elem);
            else wire_put_group_begin(w);
            wire_err e = wv_transcode(r, w);
            if (e) return e;
            if (v.type == WIRE_T_LIST) wire_get_list_end(r), wire_put_list_end(w);
            else wire_get_group_end(r), wire_put_group_end(w);
        } else {
            wv_encode(w, &v, 1);
        }
        if (wire_reader_error(r, NULL)) return wire_reader_error(r, NULL);
    }
    return wire_writer_error(w, NULL);
}
