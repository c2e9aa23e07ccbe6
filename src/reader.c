/* SPDX-License-Identifier: MIT */
/* reader.c - the decoder's slow paths: list elements, containers, strings, skipping, validation and
 * errors. The fixed-size gets are inline in wire.h and only come here when the fast path cannot
 * serve. Every read is bounded by the innermost container's end, checked before the read. */
/* The exported functions are defined here: no macro may send their names to the inline versions. */
#define WIRE__NO_INLINE_MACROS
#include "internal.h"

#include <string.h>

void wire_reader_init(wire_reader *r, const void *buf, size_t len) { wire__reader_init(r, buf, len); }

/* Records the first error at offset `at`; end = pos makes every later get take the slow path,
 * which stops at err. */
static wire_err fail(wire_reader *r, wire_err err, size_t at) {
    if (r->err == WIRE_OK) {
        r->err = err;
        r->err_offset = at;
    }
    r->end = r->pos;
    r->elem = 0;
    r->left = 0;
    return r->err;
}

static size_t remaining(const wire_reader *r) { return r->end - r->pos; }

/* Starts the next item of type tag: checks the field's tag (outside a list) or that the innermost
 * list has an element of that type left. On success pos is at the value (after the tag) and the
 * list's element is counted; *item is where the item began (for depth errors). */
static bool begin_item(wire_reader *r, uint8_t tag, size_t *item) {
    if (r->err) return false;
    *item = r->pos;
    if (r->elem) {
        if (r->elem != tag || r->left == 0) {
            fail(r, WIRE_ETYPE, r->pos);
            return false;
        }
        r->left--;
        return true;
    }
    if (r->pos >= r->end) {
        fail(r, WIRE_ETYPE, r->pos); /* asked for a field, there is none left */
        return false;
    }
    uint8_t t = r->buf[r->pos];
    if (t != tag) {
        fail(r, wire__min_size(t) ? WIRE_ETYPE : WIRE_EBADTAG, r->pos);
        return false;
    }
    r->pos++;
    return true;
}

const uint8_t *wire__get_slow(wire_reader *r, uint8_t tag, size_t n) {
    size_t item;
    if (!begin_item(r, tag, &item)) return NULL;
    if (n > remaining(r)) {
        fail(r, WIRE_ETRUNCATED, r->pos);
        return NULL;
    }
    const uint8_t *p = r->buf + r->pos;
    r->pos += n;
    return p;
}

wire_err wire__bad_bool(wire_reader *r, const uint8_t *at) { return fail(r, WIRE_EBADBOOL, (size_t)(at - r->buf)); }

/* A u32 length word that must not exceed what remains: TRUNCATED if the word is cut, LENGTH if the
 * length is dishonest. On success pos is after the word. */
static bool get_length(wire_reader *r, uint32_t *len) {
    if (remaining(r) < 4) {
        fail(r, WIRE_ETRUNCATED, r->pos);
        return false;
    }
    uint32_t n = wire__load32(r->buf + r->pos);
    if (n > remaining(r) - 4) {
        fail(r, WIRE_ELENGTH, r->pos);
        return false;
    }
    r->pos += 4;
    *len = n;
    return true;
}

wire_err wire__get_blob_slow(wire_reader *r, uint8_t tag, const uint8_t **data, size_t *len) {
    size_t item;
    uint32_t n;
    *data = NULL;
    *len = 0;
    if (!begin_item(r, tag, &item) || !get_length(r, &n)) return r->err;
    const uint8_t *p = r->buf + r->pos;
    size_t bad;
    if (tag == WIRE_T_STRING && !wire_utf8_valid(p, n, &bad)) return fail(r, WIRE_EUTF8, r->pos + bad);
    r->pos += n;
    *data = p;
    *len = n;
    return WIRE_OK;
}

/* Opens a container: saves the enclosing state. The depth check comes before anything of the
 * container is read, and reports the item's first byte. */
static bool push(wire_reader *r, size_t item) {
    if (r->depth == WIRE_MAX_DEPTH) {
        fail(r, WIRE_EDEPTH, item);
        return false;
    }
    wire__saved *s = &r->open[r->depth++];
    s->end = r->end;
    s->left = r->left;
    s->elem = r->elem;
    return true;
}

static void pop(wire_reader *r) {
    wire__saved *s = &r->open[--r->depth];
    r->end = s->end;
    r->left = s->left;
    r->elem = s->elem;
}

wire_err wire_get_list_begin(wire_reader *r, wire_type *elem, uint32_t *count) {
    /* Fast path: a whole list header outside a list, below the depth limit, with a valid element tag
     * and an honest count (n * min <= remaining is n <= remaining / min, without the division). After
     * an error end == pos, so the length test fails. */
    size_t pos = r->pos, rem = r->end - pos;
    if (r->elem == 0 && rem >= 6 && r->buf[pos] == WIRE_T_LIST && r->depth < WIRE_MAX_DEPTH) {
        uint8_t e = r->buf[pos + 1];
        uint64_t min = wire__min_size(e);
        uint32_t n = wire__load32(r->buf + pos + 2);
        if (min != 0 && (uint64_t)n * min <= rem - 6) {
            wire__saved *s = &r->open[r->depth++];
            s->end = r->end;
            s->left = r->left;
            s->elem = 0;
            r->pos = pos + 6;
            r->elem = e;
            r->left = n;
            *elem = (wire_type)e;
            *count = n;
            return WIRE_OK;
        }
    }
    size_t item;
    *elem = WIRE_T_NONE;
    *count = 0;
    if (!begin_item(r, WIRE_T_LIST, &item) || !push(r, item)) return r->err;
    if (remaining(r) < 1) return fail(r, WIRE_ETRUNCATED, r->pos);
    uint8_t e = r->buf[r->pos];
    size_t min = wire__min_size(e);
    if (min == 0) return fail(r, WIRE_EBADTAG, r->pos);
    r->pos++;
    if (remaining(r) < 4) return fail(r, WIRE_ETRUNCATED, r->pos);
    uint32_t n = wire__load32(r->buf + r->pos);
    if (n > (remaining(r) - 4) / min) return fail(r, WIRE_ELENGTH, r->pos);
    r->pos += 4;
    r->elem = e;
    r->left = n;
    *elem = (wire_type)e;
    *count = n;
    return WIRE_OK;
}

wire_err wire_get_list_end(wire_reader *r) {
    if (r->err) return r->err;
    if (r->elem != 0 && r->left == 0) { /* every element read: only the enclosing state comes back */
        pop(r);
        return WIRE_OK;
    }
    if (r->depth == 0 || r->elem == 0) return fail(r, WIRE_EINVAL, r->pos);
    size_t size = wire__fixed_size(r->elem);
    if (size && r->elem != WIRE_T_BOOL) {
        /* Fixed-size elements need no validation and the count was checked against the bytes. */
        r->pos += (size_t)r->left * size;
        r->left = 0;
    }
    while (r->left > 0)
        if (wire_skip(r)) return r->err;
    pop(r);
    return WIRE_OK;
}

wire_err wire_get_group_begin(wire_reader *r) {
    size_t item;
    uint32_t n;
    if (!begin_item(r, WIRE_T_GROUP, &item) || !push(r, item) || !get_length(r, &n)) return r->err;
    r->end = r->pos + n;
    r->elem = 0;
    r->left = 0;
    return WIRE_OK;
}

wire_err wire_get_group_end(wire_reader *r) {
    if (r->err) return r->err;
    if (r->depth == 0 || r->elem != 0) return fail(r, WIRE_EINVAL, r->pos);
    while (r->pos < r->end)
        if (wire_skip(r)) return r->err;
    pop(r);
    return WIRE_OK;
}

int wire_peek(const wire_reader *r) {
    if (r->err) return WIRE_T_NONE;
    if (r->elem) return r->left ? r->elem : WIRE_T_NONE;
    return r->pos < r->end ? r->buf[r->pos] : WIRE_T_NONE;
}

bool wire_reader_at_end(const wire_reader *r) {
    if (r->err) return true;
    return r->elem ? r->left == 0 : r->pos >= r->end;
}

wire_err wire_skip(wire_reader *r) {
    if (r->err) return r->err;
    if (wire_reader_at_end(r)) return fail(r, WIRE_EINVAL, r->pos); /* nothing to skip */
    int t = wire_peek(r);
    const uint8_t *p;
    size_t n;
    switch (t) {
    case WIRE_T_BOOL: {
        bool b;
        return wire_get_bool(r, &b);
    }
    case WIRE_T_STRING:
    case WIRE_T_BYTES:
        return wire__get_blob(r, (uint8_t)t, &p, &n);
    case WIRE_T_LIST: {
        wire_type e;
        uint32_t c;
        if (wire_get_list_begin(r, &e, &c)) return r->err;
        return wire_get_list_end(r);
    }
    case WIRE_T_GROUP:
        if (wire_get_group_begin(r)) return r->err;
        return wire_get_group_end(r);
    default:
        n = wire__fixed_size(t);
        if (n == 0) return fail(r, WIRE_EBADTAG, r->pos);
        wire__get_slow(r, (uint8_t)t, n);
        return r->err;
    }
}

wire_err wire_reader_finish(wire_reader *r) {
    if (r->err) return r->err;
    if (r->depth) return fail(r, WIRE_EINVAL, r->pos);
    while (r->pos < r->end)
        if (wire_skip(r)) break;
    return r->err;
}

wire_err wire_reader_error(const wire_reader *r, size_t *offset) {
    if (offset) *offset = r->err ? r->err_offset : 0;
    return r->err;
}

wire_err wire_validate(const void *buf, size_t len, size_t *err_offset) {
    wire_reader r;
    wire_reader_init(&r, buf, len);
    wire_err e = wire_reader_finish(&r);
    if (err_offset) *err_offset = r.err_offset;
    return e;
}
