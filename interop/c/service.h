/* SPDX-License-Identifier: MIT */
/* service.h - the interop service of SPEC.md section 10 as a handler for libwire's server engine:
 * one application frame in, its reply queued on the connection. HELLO, PING, BYE and ERROR are the
 * connection's own (libwire), so the service sees only its requests. Over UDP the same requests (and
 * PING) are answered one datagram at a time, with the same logic. wire-server runs this handler
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
/* UDP (SPEC 15): the answer to one datagram in[0..n) received by the server (truncated: MSG_TRUNC),
 * whose UDP max payload is max_payload (min(65495, --max-payload)): the checks of SPEC 15.3 in
 * order, then the same answer as over TCP, or PONG for a PING; the answer datagram is written in
 * buf[0..cap) (cap >= WIRE_UDP_MAX_DATAGRAM) and its size returned, 0 when nothing is to be sent (a
 * datagram of fewer than 4 bytes, an ERROR). A reply over WIRE_UDP_MAX_PAYLOAD becomes
 * ERROR(TOOBIG, no offset). No state is kept: answering a datagram twice is harmless (15.5). */
size_t svc_udp_datagram(const svc_config *cfg, const uint8_t *in, size_t n, bool truncated, uint32_t max_payload,
                        uint8_t *buf, size_t cap);
/* The same for a frame that passed wire_udp_parse(), with its request id. */
size_t svc_udp_answer(const svc_config *cfg, uint32_t id, const wire_frame *f, uint8_t *buf, size_t cap);
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
