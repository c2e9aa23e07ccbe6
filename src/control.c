/* control.c - payloads of the protocol's control messages (HELLO, ERROR). */
#include "internal.h"

wire_err wire_put_hello(wire_writer *w, const wire_hello *h) {
    wire_put_u16(w, h->version);
    wire_put_u32(w, h->max_payload);
    return wire_put_string(w, h->name ? h->name : "", h->name ? h->name_len : 0);
}

wire_err wire_put_error_msg(wire_writer *w, const wire_error_msg *e) {
    wire_put_u16(w, e->code);
    wire_put_u32(w, e->offset);
    return wire_put_string(w, e->text ? e->text : "", e->text ? e->text_len : 0);
}

/* A field that is missing or of the wrong type is a message-level error; real decoding errors keep
 * their code. Trailing fields are validated but ignored (forward compatibility). text_at is where the
 * name/text field starts, reported when it is too long. */
static wire_err finish(wire_reader *r, size_t text_at, size_t text_len, size_t text_max, size_t *err_offset) {
    size_t at = 0;
    wire_err e = wire_reader_error(r, &at);
    if (e == WIRE_OK && text_len > text_max) {
        e = WIRE_EMESSAGE;
        at = text_at;
    } else if (e == WIRE_OK) {
        e = wire_reader_finish(r);
        (void)wire_reader_error(r, &at);
    }
    if (e == WIRE_ETYPE) e = WIRE_EMESSAGE;
    if (err_offset) *err_offset = e ? at : 0;
    return e;
}

wire_err wire_get_hello(const void *payload, size_t len, wire_hello *h, size_t *err_offset) {
    wire_reader r;
    wire_reader_init(&r, payload, len);
    wire_get_u16(&r, &h->version);
    wire_get_u32(&r, &h->max_payload);
    size_t at = wire_reader_offset(&r);
    wire_get_string(&r, &h->name, &h->name_len);
    return finish(&r, at, h->name_len, WIRE_HELLO_NAME_MAX, err_offset);
}

wire_err wire_get_error_msg(const void *payload, size_t len, wire_error_msg *e, size_t *err_offset) {
    wire_reader r;
    wire_reader_init(&r, payload, len);
    wire_get_u16(&r, &e->code);
    wire_get_u32(&r, &e->offset);
    size_t at = wire_reader_offset(&r);
    wire_get_string(&r, &e->text, &e->text_len);
    return finish(&r, at, e->text_len, WIRE_ERROR_TEXT_MAX, err_offset);
}
