/* SPDX-License-Identifier: MIT */
/* service.h - the interop service of SPEC.md section 10 as a handler for libwire's server engine:
 * one application frame in, its reply queued on the connection. HELLO, PING, BYE and ERROR are the
 * connection's own (libwire), so the service sees only its requests. wire-server runs this handler
 * under every concurrency model; the tests drive it over a socket pair. */
#ifndef WIRE_SERVICE_H
#define WIRE_SERVICE_H

#include "vectors.h"
#include "wire.h"

typedef struct svc_config {
    const wv_file *vectors; /* proto/vectors.txt, for VECTOR_CHECK and VECTOR_GET (NULL: none known) */
} svc_config;

/* wire_server_config.on_frame, with user = a svc_config. */
void svc_on_frame(wire_conn *c, const wire_frame *f, void *user);
/* wire_conn_config.serves: the request types of the service (the others are refused from their
 * header by the connection). */
bool svc_serves(uint16_t type, void *arg);

/* The STATS computation of SPEC.md 10.6 (exposed for tests). */
typedef struct svc_stats {
    int64_t isum, imin, imax;
    uint64_t fsum, fmin, fmax; /* f64 bit patterns */
    uint32_t crc;
} svc_stats;
uint32_t svc_crc32(const uint8_t *p, size_t n);

#endif
