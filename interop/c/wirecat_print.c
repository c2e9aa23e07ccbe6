/* SPDX-License-Identifier: MIT */
/* wirecat_print.c - see wirecat_print.h. */
#include "wirecat_print.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "wirecat_notation.h"

void wc_put_text(FILE *out, const uint8_t *s, size_t n) {
    fputc('"', out);
    for (size_t k = 0; k < n; k++) {
        uint8_t c = s[k];
        if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
        else if (c == '\n') fputs("\\n", out);
        else if (c == '\r') fputs("\\r", out);
        else if (c == '\t') fputs("\\t", out);
        else if (c == 0) fputs("\\0", out);
        else if (c < 0x20 || c == 0x7f) fprintf(out, "\\x%02x", c);
        else if (c == 0xc2 && k + 1 < n && s[k + 1] >= 0x80 && s[k + 1] < 0xa0) { /* C1 controls */
            fprintf(out, "\\xc2\\x%02x", s[k + 1]);
            k++;
        } else fputc(c, out);
    }
    fputc('"', out);
}

/* Opaque bytes read best as text when they are UTF-8 without control characters (but \n \r \t). */
static bool is_text(const uint8_t *s, size_t n) {
    if (!wire_utf8_valid(s, n, NULL)) return false;
    for (size_t k = 0; k < n; k++)
        if ((s[k] < 0x20 && s[k] != '\n' && s[k] != '\r' && s[k] != '\t') || s[k] == 0x7f) return false;
    return true;
}

static void put_hex(FILE *out, const uint8_t *s, size_t n) {
    for (size_t k = 0; k < n; k++) fprintf(out, "%02x", s[k]);
}

static void put_name(FILE *out, uint16_t type) {
    const char *name = wire_msg_name(type);
    if (name) fputs(name, out);
    else fprintf(out, "0x%04x", type);
}

/* ---------- one line ---------- */

static wire_err line_items(FILE *o, wire_reader *r);

/* One value (a field, or the next element of the list r is in). */
static wire_err line_value(FILE *o, wire_reader *r, int tag) {
    wire_err e;
    switch (tag) {
    case WIRE_T_U8: { uint8_t v; if ((e = wire_get_u8(r, &v))) return e; fprintf(o, "u8:%u", v); break; }
    case WIRE_T_U16: { uint16_t v; if ((e = wire_get_u16(r, &v))) return e; fprintf(o, "u16:%u", v); break; }
    case WIRE_T_U32: { uint32_t v; if ((e = wire_get_u32(r, &v))) return e; fprintf(o, "u32:%" PRIu32, v); break; }
    case WIRE_T_U64: { uint64_t v; if ((e = wire_get_u64(r, &v))) return e; fprintf(o, "u64:%" PRIu64, v); break; }
    case WIRE_T_I8: { int8_t v; if ((e = wire_get_i8(r, &v))) return e; fprintf(o, "i8:%d", v); break; }
    case WIRE_T_I16: { int16_t v; if ((e = wire_get_i16(r, &v))) return e; fprintf(o, "i16:%d", v); break; }
    case WIRE_T_I32: { int32_t v; if ((e = wire_get_i32(r, &v))) return e; fprintf(o, "i32:%" PRId32, v); break; }
    case WIRE_T_I64: { int64_t v; if ((e = wire_get_i64(r, &v))) return e; fprintf(o, "i64:%" PRId64, v); break; }
    case WIRE_T_F32: { uint32_t v; if ((e = wire_get_f32_bits(r, &v))) return e; fprintf(o, "f32:0x%08" PRIx32, v); break; }
    case WIRE_T_F64: { uint64_t v; if ((e = wire_get_f64_bits(r, &v))) return e; fprintf(o, "f64:0x%016" PRIx64, v); break; }
    case WIRE_T_BOOL: { bool v; if ((e = wire_get_bool(r, &v))) return e; fputs(v ? "bool:true" : "bool:false", o); break; }
    case WIRE_T_STRING: {
        const char *s;
        size_t n;
        if ((e = wire_get_string(r, &s, &n))) return e;
        fputs("string:", o);
        wc_put_text(o, (const uint8_t *)s, n);
        break;
    }
    case WIRE_T_BYTES: {
        const uint8_t *s;
        size_t n;
        if ((e = wire_get_bytes(r, &s, &n))) return e;
        fputs("bytes:", o);
        put_hex(o, s, n);
        break;
    }
    case WIRE_T_LIST: {
        wire_type el;
        uint32_t count;
        if ((e = wire_get_list_begin(r, &el, &count))) return e;
        fprintf(o, "list:%s [ ", wire_type_name(el));
        if ((e = line_items(o, r))) return e;
        fputc(']', o);
        return wire_get_list_end(r);
    }
    case WIRE_T_GROUP:
        if ((e = wire_get_group_begin(r))) return e;
        fputs("group { ", o);
        if ((e = line_items(o, r))) return e;
        fputc('}', o);
        return wire_get_group_end(r);
    default:
        return wire_skip(r); /* not a tag: the reader reports BADTAG at its offset */
    }
    return WIRE_OK;
}

/* The rest of the innermost container, each value followed by a space. */
static wire_err line_items(FILE *o, wire_reader *r) {
    while (!wire_reader_at_end(r)) {
        wire_err e = line_value(o, r, wire_peek(r));
        if (e) return e;
        fputc(' ', o);
    }
    return wire_reader_error(r, NULL);
}

int wc_print_line(FILE *out, uint16_t type, const uint8_t *payload, size_t len, wire_err *err, size_t *off) {
    char *text = NULL;
    size_t tlen = 0;
    FILE *o = open_memstream(&text, &tlen); /* the whole line or nothing */
    if (!o) {
        *err = WIRE_ELIMIT;
        *off = 0;
        return -1;
    }
    put_name(o, type);
    int rc = 0;
    if (wc_opaque(type)) {
        if (len) fputc(' ', o);
        if (len && is_text(payload, len)) wc_put_text(o, payload, len);
        else if (len) fputs("bytes:", o), put_hex(o, payload, len);
    } else if (len) {
        wire_reader r;
        wire_reader_init(&r, payload, len);
        fputc(' ', o);
        if (line_items(o, &r) != WIRE_OK || wire_reader_finish(&r) != WIRE_OK) {
            *err = wire_reader_error(&r, off);
            rc = -1;
        }
    }
    fclose(o);
    if (rc == 0) {
        while (tlen && text[tlen - 1] == ' ') tlen--;
        fwrite(text, 1, tlen, out);
        fputc('\n', out);
    }
    free(text);
    return rc;
}

/* ---------- the annotated dump ---------- */

typedef struct dump {
    FILE *o;
    const uint8_t *frame; /* header + payload: offsets are frame offsets, as in SPEC 12.6-12.9 */
    size_t size;
} dump;

/* Bytes [from, to) of the frame, 8 per line, the note on the first line, indented by depth. */
#if defined(__GNUC__) || defined(__clang__)
static void row(dump *d, size_t from, size_t to, int depth, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
#endif
static void row(dump *d, size_t from, size_t to, int depth, const char *fmt, ...) {
    do {
        size_t end = to - from > 8 ? from + 8 : to;
        char hex[32] = "";
        for (size_t k = from; k < end; k++) snprintf(hex + 3 * (k - from), 4, k + 1 < end ? "%02x " : "%02x", d->frame[k]);
        if (!fmt) fprintf(d->o, "%3zu  %s", from, hex); /* a continuation line: no note, no padding */
        else fprintf(d->o, "%3zu  %-25s", from, hex);
        if (fmt) {
            va_list ap;
            va_start(ap, fmt);
            fprintf(d->o, "%*s", 2 * depth, "");
            vfprintf(d->o, fmt, ap);
            va_end(ap);
            fmt = NULL;
        }
        fputc('\n', d->o);
        from = end;
    } while (from < to);
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static wire_err dump_items(dump *d, wire_reader *r, int depth, bool in_list);

/* One value at depth; in a list (elem_index >= 0) it has no tag and its note says which element. */
static wire_err dump_value(dump *d, wire_reader *r, int depth, long elem_index) {
    int tag = wire_peek(r);
    size_t at = WIRE_HEADER_SIZE + wire_reader_offset(r), v = at;
    char pre[32] = "";
    if (elem_index >= 0) snprintf(pre, sizeof pre, "element %ld: ", elem_index);
    const char *name = wire_type_name(tag);
    wire_err e;
    if (elem_index < 0 && name && tag != WIRE_T_LIST && tag != WIRE_T_GROUP) {
        row(d, at, at + 1, depth, "tag %s", name);
        v = at + 1;
    }
    switch (tag) {
    case WIRE_T_U8: case WIRE_T_U16: case WIRE_T_U32: case WIRE_T_U64:
    case WIRE_T_I8: case WIRE_T_I16: case WIRE_T_I32: case WIRE_T_I64:
    case WIRE_T_F32: case WIRE_T_F64: case WIRE_T_BOOL: {
        char *text = NULL;
        size_t tlen = 0;
        FILE *m = open_memstream(&text, &tlen);
        if (!m) return WIRE_ELIMIT;
        e = line_value(m, r, tag);
        fclose(m);
        if (e == WIRE_OK) {
            const char *val = strchr(text, ':') + 1;
            size_t end = WIRE_HEADER_SIZE + wire_reader_offset(r);
            if (tag == WIRE_T_F32 || tag == WIRE_T_F64) {
                uint64_t bits = strtoull(val, NULL, 16);
                double x;
                if (tag == WIRE_T_F32) {
                    uint32_t b32 = (uint32_t)bits;
                    float f;
                    memcpy(&f, &b32, sizeof f);
                    x = f;
                } else {
                    memcpy(&x, &bits, sizeof x);
                }
                row(d, v, end, depth, "%s%s (%.17g)", pre, val, x);
            } else {
                row(d, v, end, depth, "%s%s", pre, val);
            }
        }
        free(text);
        return e;
    }
    case WIRE_T_STRING:
    case WIRE_T_BYTES: {
        const uint8_t *s;
        const char *cs;
        size_t n;
        e = tag == WIRE_T_STRING ? wire_get_string(r, &cs, &n) : wire_get_bytes(r, &s, &n);
        if (e) return e;
        if (tag == WIRE_T_STRING) s = (const uint8_t *)cs;
        row(d, v, v + 4, depth, "%slength %zu", pre, n);
        if (n == 0) return WIRE_OK;
        char *text = NULL;
        size_t tlen = 0;
        FILE *m = open_memstream(&text, &tlen);
        if (!m) return WIRE_ELIMIT;
        if (tag == WIRE_T_STRING) wc_put_text(m, s, n);
        else fputs(is_text(s, n) ? "raw octets, as text: " : "raw octets", m);
        if (tag == WIRE_T_BYTES && is_text(s, n)) wc_put_text(m, s, n);
        fclose(m);
        row(d, v + 4, v + 4 + n, depth + (elem_index >= 0), "%s", text);
        free(text);
        return WIRE_OK;
    }
    case WIRE_T_LIST: {
        wire_type el;
        uint32_t count;
        if ((e = wire_get_list_begin(r, &el, &count))) return e;
        if (elem_index < 0) row(d, at, at + 1, depth, "tag list (depth %d)", depth + 1), v = at + 1;
        row(d, v, v + 1, depth, "%selement tag %s", pre, wire_type_name(el));
        row(d, v + 1, v + 5, depth + (elem_index >= 0), "count %" PRIu32, count);
        if ((e = dump_items(d, r, depth + 1, true))) return e;
        return wire_get_list_end(r);
    }
    case WIRE_T_GROUP:
        if ((e = wire_get_group_begin(r))) return e;
        if (elem_index < 0) row(d, at, at + 1, depth, "tag group (depth %d)", depth + 1), v = at + 1;
        row(d, v, v + 4, depth, "%sgroup length %" PRIu32, pre, be32(d->frame + v));
        if ((e = dump_items(d, r, depth + 1, false))) return e;
        return wire_get_group_end(r);
    default:
        return wire_skip(r);
    }
}

static wire_err dump_items(dump *d, wire_reader *r, int depth, bool in_list) {
    for (long k = 0; !wire_reader_at_end(r); k++) {
        wire_err e = dump_value(d, r, depth, in_list ? k : -1);
        if (e) return e;
    }
    return wire_reader_error(r, NULL);
}

int wc_print_dump(FILE *out, uint16_t type, const uint8_t *payload, size_t len, wire_err *err, size_t *off) {
    uint8_t *frame = malloc(WIRE_HEADER_SIZE + len);
    if (!frame) {
        *err = WIRE_ELIMIT;
        *off = 0;
        return -1;
    }
    wire_header_encode(frame, type, (uint32_t)len);
    if (len) memcpy(frame + WIRE_HEADER_SIZE, payload, len);
    dump d = {out, frame, WIRE_HEADER_SIZE + len};
    const char *name = wire_msg_name(type);
    fputs("frame ", out);
    put_name(out, type);
    fputc('\n', out);
    row(&d, 0, 1, 0, "version 1");
    row(&d, 1, 2, 0, "flags 0");
    row(&d, 2, 4, 0, "type 0x%04x %s", type, name ? name : "(not a type the protocol defines)");
    row(&d, 4, 8, 0, "length %zu", len);
    int rc = 0;
    if (wc_opaque(type)) {
        if (len && is_text(payload, len)) {
            char *text = NULL;
            size_t tlen = 0;
            FILE *m = open_memstream(&text, &tlen);
            if (m) {
                wc_put_text(m, payload, len);
                fclose(m);
                row(&d, 8, 8 + len, 0, "opaque payload: %s", text);
            }
            free(text);
        } else if (len) {
            row(&d, 8, 8 + len, 0, "opaque payload");
        }
    } else {
        wire_reader r;
        wire_reader_init(&r, payload, len);
        if (dump_items(&d, &r, 0, false) != WIRE_OK || wire_reader_finish(&r) != WIRE_OK) {
            *err = wire_reader_error(&r, off);
            size_t at = WIRE_HEADER_SIZE + *off;
            if (at < d.size) row(&d, at, d.size - at > 16 ? at + 16 : d.size, 0, "%s: %s", wire_err_name(*err), wire_strerror(*err));
            else fprintf(out, "%3zu  %-25s%s: %s\n", at, "(end)", wire_err_name(*err), wire_strerror(*err));
            rc = -1;
        }
    }
    fputc('\n', out);
    free(frame);
    return rc;
}
