/* SPDX-License-Identifier: MIT */
/* writer.c - the encoder's slow paths: sizing mode, list elements, containers, strings and errors.
 * The fixed-size puts are inline in wire.h and only come here when the fast path cannot serve. */
/* The exported functions are defined here: no macro may send their names to the inline versions. */
#define WIRE__NO_INLINE_MACROS
#include "internal.h"

#include <string.h>

void wire_writer_init(wire_writer *w, void *buf, size_t cap) { wire__writer_init(w, buf, cap); }

/* Bytes written (or counted) so far. */
static size_t used(const wire_writer *w) { return w->buf ? (size_t)(w->p - w->buf) : w->counted; }

/* Records the first error; end = p makes every later put take the slow path, which stops at err. */
static void fail(wire_writer *w, wire_err err) {
    if (w->err == WIRE_OK) {
        w->err = err;
        w->err_offset = used(w);
    }
    w->end = w->lend = w->p;
}

/* The fast paths' ends after a container opened or closed (no error): fields fit up to the buffer's
 * end outside a list; directly inside a list only elements do (fields go to the slow path, which
 * reports them). In sizing mode both stay at p (scratch), so every put takes the slow path. */
static void set_ends(wire_writer *w) {
    if (w->buf == NULL) return;
    if (w->elem) {
        w->end = w->buf;
        w->lend = w->limit;
    } else {
        w->end = w->limit;
        w->lend = w->buf;
    }
}

/* Reserves one value of n bytes of type tag: as a whole field (tag + value) outside a list, or as the
 * next element of the innermost list, whose element type must be tag. Returns false on error; else
 * *dst is where the n value bytes go (NULL in sizing mode: count only). Nothing is written on error. */
static bool begin_value(wire_writer *w, uint8_t tag, size_t n, uint8_t **dst) {
    if (w->err) return false;
    bool in_list = w->elem != 0;
    if (in_list && w->elem != tag) {
        fail(w, WIRE_ETYPE);
        return false;
    }
    if (in_list && w->count == UINT32_MAX) {
        fail(w, WIRE_ERANGE); /* a list count is a u32 */
        return false;
    }
    size_t need = in_list ? n : n + 1;
    if (need < n) { /* n + 1 wrapped */
        fail(w, WIRE_ERANGE);
        return false;
    }
    if (w->buf == NULL) {
        if (need > SIZE_MAX - w->counted) {
            fail(w, WIRE_ERANGE);
            return false;
        }
        w->counted += need;
        *dst = NULL;
    } else {
        if (need > (size_t)(w->limit - w->p)) {
            fail(w, WIRE_EOVERFLOW);
            return false;
        }
        uint8_t *p = w->p;
        if (!in_list) *p++ = tag;
        *dst = p;
        w->p += need;
    }
    if (in_list) w->count++;
    return true;
}

uint8_t *wire__put_slow(wire_writer *w, uint8_t tag, size_t n) {
    uint8_t *dst;
    if (!begin_value(w, tag, n, &dst)) return NULL;
    return dst ? dst : w->scratch; /* sizing mode: the caller's store lands in scratch */
}

wire_err wire_writer_finish(const wire_writer *w, size_t *len) { return wire__writer_finish(w, len); }

wire_err wire_writer_error(const wire_writer *w, size_t *offset) {
    if (offset) *offset = w->err ? w->err_offset : 0;
    return w->err;
}

/* A string that is not UTF-8: a peer would reject it, so it is refused here (wire_put_string checked). */
wire_err wire__put_bad_utf8(wire_writer *w) {
    if (w->err == WIRE_OK) fail(w, WIRE_EUTF8);
    return w->err;
}

wire_err wire__put_range_error(wire_writer *w) {
    if (w->err == WIRE_OK) fail(w, WIRE_ERANGE);
    return w->err;
}

/* Length-prefixed value (u32 length, then the data) when the inline fast path cannot: inside a list,
 * in sizing mode, near the end of the buffer, or to report what is wrong. Strings arrive checked. */
wire_err wire__put_blob_slow(wire_writer *w, uint8_t tag, const void *data, size_t len) {
    if (w->err) return w->err;
    if (len > UINT32_MAX || len > SIZE_MAX - 4) {
        fail(w, WIRE_ERANGE);
        return w->err;
    }
    uint8_t *dst;
    if (begin_value(w, tag, 4 + len, &dst) && dst) {
        wire__store32(dst, (uint32_t)len);
        if (len) memcpy(dst + 4, data, len);
    }
    return w->err;
}

wire_err wire_put_cstring(wire_writer *w, const char *s) { return wire_put_string(w, s, strlen(s)); }

/* Opens a container whose header (after the tag) is hdr bytes; the last 4 are its length/count word. */
static wire_err open_container(wire_writer *w, uint8_t tag, uint8_t elem, size_t hdr) {
    if (w->err) return w->err;
    if (w->depth == WIRE_MAX_DEPTH) {
        fail(w, WIRE_EDEPTH);
        return w->err;
    }
    uint8_t *dst;
    if (!begin_value(w, tag, hdr, &dst)) return w->err;
    if (dst) {
        if (elem) *dst++ = elem;
        memset(dst, 0, 4); /* patched by the matching end */
    }
    wire__open *o = &w->open[w->depth++];
    o->at = used(w) - 4;
    o->count = w->count; /* the enclosing list's, back when this container closes */
    o->elem = elem;
    w->count = 0;
    w->elem = elem;
    set_ends(w);
    return WIRE_OK;
}

/* Closes the innermost container if it is of the expected kind (list: elem != 0); *count receives
 * its element count (a list's). */
static wire__open *close_container(wire_writer *w, bool list, uint32_t *count) {
    if (w->err) return NULL;
    if (w->depth == 0 || (w->open[w->depth - 1].elem != 0) != list) {
        fail(w, WIRE_EINVAL);
        return NULL;
    }
    wire__open *o = &w->open[--w->depth];
    *count = w->count;
    w->count = o->count;
    w->elem = w->depth ? w->open[w->depth - 1].elem : 0;
    set_ends(w);
    return o;
}

wire_err wire_put_list_begin(wire_writer *w, wire_type elem) {
    uint8_t *p = w->p;
    /* Fast path: a list field that fits, outside a list (end - p > 5 says: buffer mode, no error, not
     * directly inside a list), below the depth limit, of a valid element type. */
    if (w->end - p > 5 && w->depth < WIRE_MAX_DEPTH && wire__min_size((int)elem) != 0) {
        p[0] = WIRE_T_LIST;
        p[1] = (uint8_t)elem;
        memset(p + 2, 0, 4); /* patched by the matching end */
        wire__open *o = &w->open[w->depth++];
        o->at = (size_t)(p + 2 - w->buf);
        o->count = w->count;
        o->elem = (uint8_t)elem;
        w->p = p + 6;
        w->count = 0;
        w->elem = (uint8_t)elem;
        w->end = w->buf;
        w->lend = w->limit;
        return WIRE_OK;
    }
    if (w->err) return w->err;
    if (elem == WIRE_T_NONE || wire_type_name((int)elem) == NULL) {
        fail(w, WIRE_EINVAL);
        return w->err;
    }
    return open_container(w, WIRE_T_LIST, (uint8_t)elem, 5);
}

wire_err wire_put_list_end(wire_writer *w) {
    /* Fast path: buffer mode, no error, the innermost container is a list (elem != 0 only then). */
    if (w->err == WIRE_OK && w->elem != 0 && w->buf != NULL) {
        wire__open *o = &w->open[--w->depth];
        wire__store32(w->buf + o->at, w->count);
        w->count = o->count;
        w->elem = w->depth ? w->open[w->depth - 1].elem : 0;
        set_ends(w);
        return WIRE_OK;
    }
    uint32_t count;
    wire__open *o = close_container(w, true, &count);
    if (o && w->buf) wire__store32(w->buf + o->at, count);
    return w->err;
}

wire_err wire_put_group_begin(wire_writer *w) { return open_container(w, WIRE_T_GROUP, 0, 4); }

wire_err wire_put_group_end(wire_writer *w) {
    uint32_t count;
    wire__open *o = close_container(w, false, &count);
    if (!o) return w->err;
    size_t body = used(w) - (o->at + 4);
    if (body > UINT32_MAX) {
        fail(w, WIRE_ERANGE);
        return w->err;
    }
    if (w->buf) wire__store32(w->buf + o->at, (uint32_t)body);
    return WIRE_OK;
}
