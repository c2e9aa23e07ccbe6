/* service.h - the interop service of SPEC.md, independent of any transport: one complete frame in,
 * reply frames appended to an output queue. Every concurrency model of wire-server runs this code. */
#ifndef WIRE_SERVICE_H
#define WIRE_SERVICE_H

#include "vectors.h"
#include "wire.h"

/* A connection's queue of encoded output: bytes [head, len) are still to be sent. It grows on demand
 * up to `limit` bytes; the transport stops feeding frames to the service while more than its
 * max-queued bound is pending, so the limit is only reached by a bug, never by a client. */
typedef struct svc_out {
    uint8_t *buf;
    size_t head, len, cap, limit;
} svc_out;

void svc_out_init(svc_out *o, size_t limit);
void svc_out_free(svc_out *o);
static inline size_t svc_out_pending(const svc_out *o) { return o->len - o->head; }
/* Marks n more bytes as sent; resets the queue (and returns a large buffer) once it is empty. */
void svc_out_consume(svc_out *o, size_t n);

typedef struct svc_config {
    uint32_t max_payload;  /* the largest payload this server accepts (announced in HELLO) */
    const wv_file *vectors; /* proto/vectors.txt, for VECTOR_CHECK and VECTOR_GET */
    const char *name;      /* announced in HELLO */
} svc_config;

/* Per-connection protocol state. Zero-initialise. */
typedef struct svc_conn {
    bool hello;            /* HELLO exchanged */
    uint32_t peer_max;     /* the largest payload the peer accepts */
    uint64_t frames_in, frames_out;
    char reason[320];      /* why the service asked to close, for the log */
} svc_conn;

typedef enum svc_result {
    SVC_CONTINUE, /* replies (if any) queued; go on */
    SVC_CLOSE     /* a final reply (BYE or ERROR) is queued: flush it, then close */
} svc_result;

/* Handles one complete frame. */
svc_result svc_handle(const svc_config *cfg, svc_conn *c, const wire_frame *f, svc_out *out);

/* Queues an ERROR frame (code, offset counted from the start of the offending frame or
 * WIRE_NO_OFFSET, text = the code's message plus `detail` if not NULL) and records the reason. The
 * connection must then be closed gracefully. */
void svc_error(svc_conn *c, svc_out *out, wire_err code, uint32_t offset, const char *detail);

/* The STATS computation of SPEC.md (exposed for tests). */
typedef struct svc_stats {
    int64_t isum, imin, imax;
    uint64_t fsum, fmin, fmax; /* f64 bit patterns */
    uint32_t crc;
} svc_stats;
uint32_t svc_crc32(const uint8_t *p, size_t n);

#endif
