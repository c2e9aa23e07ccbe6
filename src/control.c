/* SPDX-License-Identifier: MIT */
/* control.c - payloads of the protocol's control messages (HELLO, ERROR), and the SPEC 7.2 rules
 * for their fields, in one place: decoded whole first, then checked field by field in order. */
#include "internal.h"

#include <string.h>

wire_err wire_put_hello(wire_writer *w, const wire_hello *h) {
    /* what a receiver would refuse is refused here (sticky, so it still fails the whole message) */
    if ((h->name && h->name_len > WIRE_HELLO_NAME_MAX) || h->max_payload < WIRE_MIN_MAX_PAYLOAD)
        return wire__put_range_error(w);
    wire_put_u16(w, h->version);
    wire_put_u32(w, h->max_payload);
    return wire_put_string(w, h->name ? h->name : "", h->name ? h->name_len : 0);
}

wire_err wire_put_error_msg(wire_writer *w, const wire_error_msg *e) {
    if (e->text && e->text_len > WIRE_ERROR_TEXT_MAX) return wire__put_range_error(w);
    wire_put_u16(w, e->code);
    wire_put_u32(w, e->offset);
    return wire_put_string(w, e->text ? e->text : "", e->text ? e->text_len : 0);
}

/* The next field must have this tag: otherwise MESSAGE at the field's tag byte, or where it would
 * start when none is left (SPEC 7.2). The payload is valid, so the get that follows succeeds. */
static bool next_is(wire_reader *r, int tag, size_t *at) {
    if (wire_peek(r) == tag) return true;
    *at = wire_reader_offset(r);
    return false;
}

wire_err wire_get_hello(const void *payload, size_t len, wire_hello *h, size_t *err_offset) {
    wire_reader r;
    size_t at = 0;
    memset(h, 0, sizeof *h);
    h->name = "";
    wire_err e = wire_validate(payload, len, &at); /* step 4 of SPEC 8.3: the whole payload first */
    wire_reader_init(&r, payload, len);
    if (e) goto out;
    e = WIRE_EMESSAGE;
    if (!next_is(&r, WIRE_T_U16, &at)) goto out;
    (void)wire_get_u16(&r, &h->version);
    if (h->version != WIRE_PROTOCOL_VERSION) { /* judged first, and alone: another version's HELLO */
        e = WIRE_EVERSION;
        at = 1;
        goto out;
    }
    if (!next_is(&r, WIRE_T_U32, &at)) goto out;
    at = wire_reader_offset(&r) + 1; /* a value not allowed: its first byte, after the tag */
    (void)wire_get_u32(&r, &h->max_payload);
    if (h->max_payload < WIRE_MIN_MAX_PAYLOAD) goto out;
    if (!next_is(&r, WIRE_T_STRING, &at)) goto out;
    at = wire_reader_offset(&r) + 1;
    (void)wire_get_string(&r, &h->name, &h->name_len);
    if (h->name_len > WIRE_HELLO_NAME_MAX) goto out;
    e = WIRE_OK; /* extra fields: ignored (a control message), already validated */
out:
    if (err_offset) *err_offset = e ? at : 0;
    return e;
}

wire_err wire_get_error_msg(const void *payload, size_t len, wire_error_msg *m, size_t *err_offset) {
    wire_reader r;
    size_t at = 0;
    memset(m, 0, sizeof *m);
    m->text = "";
    wire_err e = wire_validate(payload, len, &at);
    wire_reader_init(&r, payload, len);
    if (e) goto out;
    e = WIRE_EMESSAGE;
    if (!next_is(&r, WIRE_T_U16, &at)) goto out;
    (void)wire_get_u16(&r, &m->code);
    if (!next_is(&r, WIRE_T_U32, &at)) goto out;
    (void)wire_get_u32(&r, &m->offset);
    if (!next_is(&r, WIRE_T_STRING, &at)) goto out;
    at = wire_reader_offset(&r) + 1;
    (void)wire_get_string(&r, &m->text, &m->text_len);
    if (m->text_len > WIRE_ERROR_TEXT_MAX) goto out;
    e = WIRE_OK;
out:
    if (err_offset) *err_offset = e ? at : 0;
    return e;
}
