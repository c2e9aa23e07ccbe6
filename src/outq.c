/* SPDX-License-Identifier: MIT */
/* outq.c - the output queue: whole frames, copied or referenced, sent with one sendmsg per batch. */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* BSD/macOS: the socket helpers set SO_NOSIGPIPE instead */
#endif

#define COPY_BELOW 512     /* a referenced payload this small is copied: cheaper than one more iovec */
#define BUF_MIN 512 /* the first copy buffer: it doubles as needed (an idle connection holds none) */
#define SEG_MIN 4
#define IOV_BATCH 64       /* iovecs per sendmsg; below every system's IOV_MAX */

void wire_outq_init(wire_outq *q, size_t limit) {
    memset(q, 0, sizeof *q);
    q->limit = limit;
}

static void release_all(wire_outq *q) {
    for (size_t i = q->seg_head; i < q->nseg; i++)
        if (q->seg[i].ref && q->seg[i].release) q->seg[i].release(q->seg[i].arg);
}

void wire_outq_free(wire_outq *q) {
    release_all(q);
    free(q->buf);
    free(q->seg);
    wire_outq_init(q, q->limit);
}

void wire_outq_trim(wire_outq *q) {
    if (q->pending != 0 || q->open) return;
    free(q->buf);
    free(q->seg);
    wire_outq_init(q, q->limit);
}

/* n more bytes at the end of the copy buffer; NULL when memory ran out. May move the buffer (and
 * the offsets of the copy segments with it). */
static uint8_t *room(wire_outq *q, size_t n) {
    if (n > q->cap - q->len) {
        if (q->head > 0) { /* reuse the space of what was sent: slide the rest down */
            memmove(q->buf, q->buf + q->head, q->len - q->head);
            for (size_t i = q->seg_head; i < q->nseg; i++)
                if (!q->seg[i].ref) q->seg[i].off -= q->head;
            if (q->open) q->open -= q->head;
            q->len -= q->head;
            q->head = 0;
        }
        if (n > q->cap - q->len) {
            if (n > SIZE_MAX / 2 - q->len) return NULL;
            size_t cap = q->cap ? q->cap : BUF_MIN;
            while (cap < q->len + n) cap *= 2;
            uint8_t *nb = realloc(q->buf, cap);
            if (!nb) return NULL;
            q->buf = nb;
            q->cap = cap;
        }
    }
    return q->buf + q->len;
}

/* Makes room for k more segments. */
static bool reserve_segs(wire_outq *q, size_t k) {
    if (q->seg_cap - q->nseg >= k) return true;
    if (q->seg_head > 0) { /* segments already sent leave room at the front */
        memmove(q->seg, q->seg + q->seg_head, (q->nseg - q->seg_head) * sizeof *q->seg);
        q->nseg -= q->seg_head;
        q->seg_head = 0;
    }
    if (q->seg_cap - q->nseg >= k) return true;
    size_t cap = q->seg_cap ? q->seg_cap * 2 : SEG_MIN;
    while (cap - q->nseg < k) cap *= 2;
    wire__seg *ns = realloc(q->seg, cap * sizeof *ns);
    if (!ns) return false;
    q->seg = ns;
    q->seg_cap = cap;
    return true;
}

static void add_seg(wire_outq *q, const uint8_t *ref, size_t off, size_t len, wire_release_fn release, void *arg) {
    wire__seg *s = &q->seg[q->nseg++]; /* reserve_segs() made room */
    s->ref = ref;
    s->off = off;
    s->len = len;
    s->release = release;
    s->arg = arg;
}

/* Records n bytes just written at the end of the copy buffer as queued: they extend the last
 * segment when it is a copy segment ending there. */
static bool commit_copy(wire_outq *q, size_t n) {
    size_t at = q->len;
    wire__seg *last = q->nseg > q->seg_head ? &q->seg[q->nseg - 1] : NULL;
    if (last && !last->ref && last->off + last->len == at) {
        last->len += n;
    } else {
        if (!reserve_segs(q, 1)) return false;
        add_seg(q, NULL, at, n, NULL, NULL);
    }
    q->len += n;
    q->pending += n;
    return true;
}

static wire_err can_push(const wire_outq *q, size_t len) {
    if (q->open) return WIRE_EINVAL;
    if (len > UINT32_MAX) return WIRE_ERANGE;
    if (wire_outq_full(q)) return WIRE_ELIMIT;
    return WIRE_OK;
}

wire_err wire_outq_push(wire_outq *q, uint16_t type, const void *payload, size_t len) {
    wire_err e = can_push(q, len);
    if (e) return e;
    if (len && !payload) return WIRE_EINVAL;
    uint8_t *p = room(q, WIRE_HEADER_SIZE + len);
    if (!p) return WIRE_ELIMIT;
    wire_header_encode(p, type, (uint32_t)len);
    if (len) memcpy(p + WIRE_HEADER_SIZE, payload, len);
    return commit_copy(q, WIRE_HEADER_SIZE + len) ? WIRE_OK : WIRE_ELIMIT;
}

wire_err wire_outq_push_ref(wire_outq *q, uint16_t type, const void *payload, size_t len, wire_release_fn release,
                            void *arg) {
    if (len < COPY_BELOW) {
        wire_err e = wire_outq_push(q, type, payload, len);
        if (e == WIRE_OK && release) release(arg);
        return e;
    }
    wire_err e = can_push(q, len);
    if (e) return e;
    if (!payload) return WIRE_EINVAL;
    /* room for both segments first, so that a failure leaves the queue as it was */
    uint8_t *p = reserve_segs(q, 2) ? room(q, WIRE_HEADER_SIZE) : NULL;
    if (!p) return WIRE_ELIMIT;
    wire_header_encode(p, type, (uint32_t)len);
    (void)commit_copy(q, WIRE_HEADER_SIZE); /* cannot fail: segments are reserved */
    add_seg(q, payload, 0, len, release, arg);
    q->pending += len;
    return WIRE_OK;
}

wire_err wire_outq_begin(wire_outq *q, uint16_t type, size_t max_len, wire_writer *w) {
    wire_err e = can_push(q, max_len);
    uint8_t *p = e ? NULL : room(q, WIRE_HEADER_SIZE + max_len);
    if (!p) {
        wire_writer_init(w, NULL, 0);
        w->err = e ? e : WIRE_ELIMIT; /* a failed writer: its puts do nothing, end reports this */
        w->end = w->p;
        return w->err;
    }
    wire_header_encode(p, type, 0);
    q->open = q->len + 1;
    wire_writer_init(w, p + WIRE_HEADER_SIZE, max_len);
    return WIRE_OK;
}

wire_err wire_outq_end(wire_outq *q, wire_writer *w) {
    size_t n = 0;
    if (!q->open) return w->err ? w->err : WIRE_EINVAL;
    size_t at = q->open - 1;
    q->open = 0;
    /* the writer must be the one begin made: writing into this queue's reserved frame */
    if (w->buf != q->buf + at + WIRE_HEADER_SIZE) return WIRE_EINVAL;
    wire_err e = wire_writer_finish(w, &n);
    if (e) return e;
    wire__store32(q->buf + at + 4, (uint32_t)n);
    return commit_copy(q, WIRE_HEADER_SIZE + n) ? WIRE_OK : WIRE_ELIMIT;
}

void wire_outq_cancel(wire_outq *q) { q->open = 0; }

/* Marks n bytes as sent: drops finished segments (releasing references) and resets the copy
 * buffer once nothing in it is pending. */
static void consume(wire_outq *q, size_t n) {
    q->pending -= n;
    while (n > 0) {
        wire__seg *s = &q->seg[q->seg_head];
        size_t k = n < s->len ? n : s->len;
        s->len -= k;
        if (s->ref) s->ref += k;
        else {
            s->off += k;
            q->head = s->off;
        }
        n -= k;
        if (s->len == 0) {
            if (s->ref && s->release) s->release(s->arg);
            q->seg_head++;
        }
    }
    if (q->seg_head == q->nseg) {
        q->seg_head = q->nseg = 0;
        if (!q->open) q->head = q->len = 0;
    }
}

wire_err wire_outq_send(wire_outq *q, int fd, size_t *sent) {
    size_t total = 0;
    wire_err e = WIRE_OK;
    while (q->pending > 0) {
        struct iovec iov[IOV_BATCH];
        int cnt = 0;
        for (size_t i = q->seg_head; i < q->nseg && cnt < IOV_BATCH; i++) {
            const wire__seg *s = &q->seg[i];
            iov[cnt].iov_base = (void *)(uintptr_t)(s->ref ? s->ref : q->buf + s->off); /* sent, never written */
            iov[cnt].iov_len = s->len;
            cnt++;
        }
        ssize_t r = wire__send_iov(fd, iov, cnt);
        if (r > 0) {
            consume(q, (size_t)r);
            total += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (r == 0) errno = EIO; /* no progress and no reason: never loop on it */
        e = errno == EPIPE || errno == ECONNRESET ? WIRE_ECLOSED : WIRE_EIO;
        break;
    }
    if (sent) *sent = total;
    return e;
}
