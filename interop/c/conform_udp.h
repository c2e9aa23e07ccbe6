/* SPDX-License-Identifier: MIT */
/* conform_udp.h - wire-conform's level 6: a server's UDP datagram profile (SPEC.md section 15),
 * checked from outside with plain POSIX UDP sockets and the codec, nothing else of libwire's: every
 * case of proto/udp.txt (proto/README.md section 10), each from a fresh socket, and the checks the
 * file cannot express (a duplicate, two interleaved sockets, a burst of bad datagrams). */
#ifndef WIRE_CONFORM_UDP_H
#define WIRE_CONFORM_UDP_H

#include "vectors.h"
#include "wire.h"

#include <sys/socket.h>

typedef enum cu_expect { CU_REPLY, CU_ERROR, CU_NONE } cu_expect;

/* One line of proto/udp.txt: `udp <name> | <datagram hex> | <expect>`. */
typedef struct cu_case {
    char *name;
    int line;
    uint8_t *dgram; /* the whole datagram: request id, then the frame (or fewer bytes) */
    size_t len;
    cu_expect expect;
    uint8_t *frame; /* CU_REPLY: the reply's frame, without the id */
    size_t framelen;
    wire_err code;  /* CU_ERROR: the ERROR's code and frame offset */
    uint32_t offset;
} cu_case;

typedef struct cu_file {
    cu_case *cases;
    size_t count;
} cu_file;

/* Loads a udp.txt file. 0, or -1 with "file:line: why" in err. */
int cu_load(const char *path, cu_file *f, char *err, size_t errlen);
void cu_free(cu_file *f);

/* The SPEC.md sections a case of the file checks, from its name ("header.flags": "15.3 2.3"). */
const char *cu_spec(const char *name);

/* The server's UDP address: HOST and the TCP port's number (SPEC 15.8). */
typedef struct cu_target {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int family;
    int timeout_ms; /* a request unanswered after half of it is sent once more; then it fails */
    unsigned answered; /* datagrams that came back so far: none at all hints at a server without --udp */
    bool silent;       /* a request went unanswered and nothing ever came: the other checks fail at once */
} cu_target;

/* Resolves host and port for UDP (the first address getaddrinfo gives). 0, or -1 with why in err. */
int cu_resolve(const char *host, const char *port, int timeout_ms, cu_target *t, char *err, size_t errlen);

/* Each check: 0 passed, 1 failed with what was sent, expected and received in why (one line). */
int cu_run_case(cu_target *t, const cu_case *c, char *why, size_t whylen);

/* The checks proto/udp.txt cannot express, in the order they run. */
typedef struct cu_extra {
    const char *name; /* "udp-dup:ping" */
    const char *spec;
    int (*run)(cu_target *t, const cu_file *f, char *why, size_t whylen);
} cu_extra;
extern const cu_extra cu_extras[];
extern const size_t cu_nextras;

#endif
