/* SPDX-License-Identifier: MIT */
/* conn_proto.c - what a connection does with each complete frame, in the order of SPEC 8.3: an ERROR
 * ends it; is the type allowed now; a payload of fields is decoded whole; the fields are checked
 * against the message's definition; then the frame is acted on (HELLO, PING, BYE here) or handed to
 * the application. So the same bytes get the same answer from every program built on it. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *copy_text(const char *s, size_t len) {
    char *p = malloc(len + 1);
    if (p) {
        if (len) memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

/* SPEC 8.3 step 2: the connection is over; it is never answered (7.4), even when malformed. */
static int on_error(wire_conn *c, const wire_frame *f) {
    wire_error_msg m;
    if (wire_get_error_msg(f->payload, f->length, &m, NULL) == WIRE_OK && (c->peer_text = copy_text(m.text, m.text_len))) {
        c->peer = m;
        c->peer.text = c->peer_text;
        const char *name = m.code < 256 ? wire_err_name((wire_err)m.code) : "(application)";
        if (m.offset == WIRE_NO_OFFSET)
            wire__conn_end(c, WIRE_EPEER, "peer sent ERROR %s (%u): %.*s", name, (unsigned)m.code,
                           (int)(m.text_len > 120 ? 120 : m.text_len), m.text);
        else
            wire__conn_end(c, WIRE_EPEER, "peer sent ERROR %s (%u) at offset %lu: %.*s", name, (unsigned)m.code,
                           (unsigned long)m.offset, (int)(m.text_len > 120 ? 120 : m.text_len), m.text);
    } else {
        c->peer.code = 0;
        c->peer.offset = WIRE_NO_OFFSET;
        c->peer.text = "";
        c->peer.text_len = 0;
        wire__conn_end(c, WIRE_EPEER, "peer sent a malformed ERROR");
    }
    return -1;
}

/* SPEC 8.3 step 3: ERROR(UNEXPECTED) at the type field. */
static int unexpected(wire_conn *c, uint16_t type, const char *why) {
    char d[128];
    snprintf(d, sizeof d, "%s (message type 0x%04x)", why, (unsigned)type);
    wire_conn_fail(c, WIRE_EUNEXPECTED, 2, d);
    return -1;
}

/* SPEC 8.3 step 4 for a payload of fields: decoded whole, errors at 8 + their payload offset. */
static bool valid_fields(wire_conn *c, const wire_frame *f) {
    size_t at = 0;
    wire_err e = wire_validate(f->payload, f->length, &at);
    if (e == WIRE_OK) return true;
    wire_conn_fail(c, e, (uint32_t)(WIRE_HEADER_SIZE + at), NULL);
    return false;
}

static int on_hello(wire_conn *c, const wire_frame *f) {
    wire_hello h;
    size_t at = 0;
    /* decoded whole, then the fields in order, the version first (SPEC 7.2, 8.2): all in one place */
    wire_err e = wire_get_hello(f->payload, f->length, &h, &at);
    if (e == WIRE_EVERSION) {
        char d[80];
        snprintf(d, sizeof d, "peer speaks version %u, this %s %u", (unsigned)h.version,
                 c->role == WIRE_ROLE_SERVER ? "server" : "client", WIRE_PROTOCOL_VERSION);
        wire_conn_fail(c, e, (uint32_t)(WIRE_HEADER_SIZE + at), d);
        return -1;
    }
    if (e) {
        wire_conn_fail(c, e, (uint32_t)(WIRE_HEADER_SIZE + at), e == WIRE_EMESSAGE ? "in HELLO" : NULL);
        return -1;
    }
    /* a copy: h.name points into the input buffer, which the next read reuses */
    if (!(c->peer_name = copy_text(h.name, h.name_len))) {
        wire_conn_fail(c, WIRE_ELIMIT, WIRE_NO_OFFSET, "out of memory");
        return -1;
    }
    c->peer_name_len = h.name_len;
    c->peer_max = h.max_payload;
    if (c->role == WIRE_ROLE_SERVER && !wire__conn_push_hello(c)) {
        wire_conn_fail(c, WIRE_ELIMIT, WIRE_NO_OFFSET, "cannot send our HELLO");
        return -1;
    }
    free(c->my_name);
    c->my_name = NULL;
    c->state = WIRE_CONN_OPEN;
    return 0;
}

/* SPEC 7.5: PONG with the PING's payload, unchanged. */
static int on_ping(wire_conn *c, const wire_frame *f) {
    if (f->length > c->peer_max) { /* SPEC 10.1: a reply larger than the peer accepts is refused */
        char d[96];
        snprintf(d, sizeof d, "the reply has %lu bytes, the peer accepts %lu", (unsigned long)f->length,
                 (unsigned long)c->peer_max);
        wire_conn_fail(c, WIRE_ETOOBIG, WIRE_NO_OFFSET, d);
        return -1;
    }
    if (wire__conn_send_payload(c, WIRE_MSG_PONG, f, true) != WIRE_OK) {
        wire_conn_fail(c, WIRE_ELIMIT, WIRE_NO_OFFSET, "cannot queue the PONG");
        return -1;
    }
    return 0;
}

/* SPEC 8.5: answer BYE, then close gracefully; what follows is discarded. */
static int on_bye(wire_conn *c, const wire_frame *f) {
    if (!valid_fields(c, f)) return -1; /* an empty payload, or fields that decode (extra ones ignored) */
    if (!wire__conn_push_control(c, WIRE_MSG_BYE, NULL, 0)) {
        wire_conn_fail(c, WIRE_ELIMIT, WIRE_NO_OFFSET, "cannot queue the BYE");
        return -1;
    }
    wire__conn_closing(c, WIRE_OK, "BYE");
    return -1;
}

/* After our BYE: replies to earlier requests are handed out until the peer's BYE; we answer
 * nothing any more (SPEC 8.5). */
static int after_bye(wire_conn *c, const wire_frame *f) {
    switch (f->type) {
    case WIRE_MSG_BYE:
        if (wire_outq_pending(&c->out) == 0) {
            wire__conn_end(c, WIRE_OK, "BYE");
            return -1;
        }
        /* the BYEs crossed: ours, and what was queued before it, has not all left yet. It still
         * goes out, then the graceful close of a BYE answered (SPEC 8.4, 8.5) */
        c->bye_sent = false;
        c->state = WIRE_CONN_OPEN; /* for wire__conn_closing(), which makes it CLOSING again */
        wire__conn_closing(c, WIRE_OK, "BYE");
        return -1;
    case WIRE_MSG_PING:
    case WIRE_MSG_HELLO: return 0;
    case WIRE_MSG_PONG:
        if (c->pings == 0) return 0;
        c->pings--;
        return 1;
    default: return 1;
    }
}

const char *wire__conn_refuses(const wire_conn *c, uint16_t type) {
    if (type == WIRE_MSG_ERROR) return NULL; /* always: it ends the connection (step 2) */
    if (c->bye_sent) return NULL;           /* we are leaving: nothing is refused any more */
    if (c->state == WIRE_CONN_HANDSHAKE) return type == WIRE_MSG_HELLO ? NULL : "the first frame must be HELLO";
    switch (type) {
    case WIRE_MSG_HELLO: return "HELLO was already exchanged";
    case WIRE_MSG_PING:
    case WIRE_MSG_BYE: return NULL;
    case WIRE_MSG_PONG: return c->pings ? NULL : "a PONG that answers no PING";
    default: break;
    }
    if (type < 0x0100) return "not a control message of this protocol version";
    if (type >= 0x0200 && type < WIRE_MSG_APP_FIRST) return "a reserved message type";
    if (c->serves && !c->serves(type, c->serves_arg)) return "not a message type this side serves";
    return NULL; /* the interop service's range and the applications' */
}

int wire__conn_dispatch(wire_conn *c, const wire_frame *f) {
    if (f->type == WIRE_MSG_ERROR) return on_error(c, f);
    if (c->bye_sent) return after_bye(c, f);
    const char *why = wire__conn_refuses(c, f->type); /* (normally refused from its header already) */
    if (why) return unexpected(c, f->type, why);
    switch (f->type) {
    case WIRE_MSG_HELLO: return on_hello(c, f);
    case WIRE_MSG_PING: return on_ping(c, f);
    case WIRE_MSG_PONG: c->pings--; return 1;
    case WIRE_MSG_BYE: return on_bye(c, f);
    default: return 1;
    }
}

int wire__conn_refuse_header(wire_conn *c, uint16_t type) {
    const char *why = wire__conn_refuses(c, type);
    return why ? unexpected(c, type, why) : 0;
}
