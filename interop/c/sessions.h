/* SPDX-License-Identifier: MIT */
/* sessions.h - proto/sessions.txt in C: the message-level cases (proto/README.md section 8), and
 * running one against a server, as its client, over a real socket. Used by the C peer's tests and
 * by wire-conform. */
#ifndef WIRE_SESSIONS_H
#define WIRE_SESSIONS_H

#include "vectors.h"
#include "wire.h"

typedef enum ws_kind { WS_HELLO, WS_SEND, WS_RAW, WS_SHUTDOWN, WS_EXPECT, WS_EXPECT_ERROR, WS_EXPECT_CLOSE } ws_kind;

typedef struct ws_step {
    ws_kind kind;
    int line;
    uint16_t type;
    bool has_fields;   /* the payload is given as fields (else as hex, possibly empty) */
    wv_value *fields;
    size_t nfields;
    uint8_t *hex;      /* the payload when !has_fields; the bytes of a raw step */
    size_t hexlen;
    wire_err code;     /* expect-error */
    uint32_t offset;
    int within_ms;     /* how long an expect step waits */
} ws_step;

typedef struct ws_session {
    char *name;
    char *spec;        /* the SPEC.md sections it checks, as written ("7.2 8.3") */
    int line;
    ws_step *steps;
    size_t nsteps;
} ws_session;

typedef struct ws_file {
    char *config;          /* the options the server under test must be started with */
    uint32_t max_payload;  /* the --max-payload among them: what the server's HELLO announces */
    ws_session *sessions;
    size_t count;
} ws_file;

/* Loads a sessions file. 0, or -1 with "file:line: why" in err. */
int ws_load(const char *path, ws_file *f, char *err, size_t errlen);
void ws_free(ws_file *f);

/* Runs s on a new connection to host:port (a Unix socket when host is NULL and port a path).
 * 0: every step passed. 1: a step failed: *why says which (its line), what was expected and what
 * came instead, with the bytes in hex. The timeouts are the steps' own. */
int ws_run(const ws_file *f, const ws_session *s, const char *host, const char *port, char *why, size_t whylen);

#endif
