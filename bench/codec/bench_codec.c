/* SPDX-License-Identifier: MIT */
/* bench_codec.c - the C codec against a hand-written codec for the same layout, msgpack-c, protobuf-c
 * and libcbor's streaming API, on the representative message (bench/message.hex), plus the bulk case
 * (one 1 MiB bytes field) against memcpy.
 *
 *   bench-codec [--hex FILE] [--seconds S] [--runs N]   timings: medians of N runs (>= 5), min-max
 *   bench-codec --list                                   each measured op and its loop function
 *   bench-codec --count OP ITERS                         OP's loop, once, ITERS times (for callgrind:
 *                                                        instructions.sh counts only that function)
 *
 * Every op's hot loop is a function of its own, bench_loop_<op with '.' as '_'>, never inlined and
 * called through a pointer (so that no clone of it is called instead): callgrind's
 * --toggle-collect=bench_loop_wire_encode then counts exactly the encode loop. At start-up every
 * codec is checked: wire's and the hand-written bytes must be message.hex exactly, and every decode
 * must give back the values; a mismatch stops the program with status 1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cbor.h>
#include <msgpack.h>
#include <wire.h>

#include "hand.h"
#include "message.pb-c.h"
#include "msg.h"
#include "wire_msg.h"

#if defined(__GNUC__) || defined(__clang__)
/* The compiler must not drop or hoist the work of one iteration: p (and all memory) is "used". */
#define BARRIER(p) __asm__ volatile("" : : "r"(p) : "memory")
#if defined(__clang__)
#define BENCH_LOOP __attribute__((noinline, used))
#define ALWAYS_INLINE __attribute__((always_inline))
#else
#define BENCH_LOOP __attribute__((noinline, noclone, used))
#define ALWAYS_INLINE __attribute__((always_inline))
#endif
#else
#define BARRIER(p) ((void)(p))
#define BENCH_LOOP
#define ALWAYS_INLINE
#endif

#define BULK_LEN ((size_t)1 << 20)

/* ---- the message and the buffers (globals: every loop reads the same inputs) ---- */
static struct msg g_msg;
static uint8_t g_expect[256]; /* message.hex */
static size_t g_expect_len;
static uint8_t g_out[256];                         /* encodes write here */
static uint8_t g_in_wire[256], g_in_mp[256], g_in_pb[256], g_in_cbor[256]; /* decodes read these */
static size_t g_len_wire, g_len_mp, g_len_pb, g_len_cbor;
static uint8_t *g_big_src, *g_big_out, *g_big_in; /* bulk */
static size_t g_big_in_len;
static msgpack_zone g_zone;
static volatile size_t g_sink;

static void die(const char *what) {
    fprintf(stderr, "bench-codec: FAILED: %s\n", what);
    exit(1);
}

static bool msg_equal(const struct msg *a, const struct msg *b) {
    if (a->u32 != b->u32 || a->i64 != b->i64 || memcmp(&a->f64, &b->f64, 8) != 0 || a->flag != b->flag ||
        a->u16 != b->u16 || a->name_len != b->name_len || memcmp(a->name, b->name, a->name_len) != 0 ||
        a->blob_len != b->blob_len || memcmp(a->blob, b->blob, a->blob_len) != 0 || a->nlist != b->nlist)
        return false;
    return memcmp(a->list, b->list, a->nlist * sizeof a->list[0]) == 0;
}

/* ---- msgpack-c: an array of the 8 values, packed into a fixed buffer, unpacked into a zone ---- */
struct fixed {
    uint8_t *buf;
    size_t len, cap;
};
static inline ALWAYS_INLINE int fixed_write(void *data, const char *buf, size_t len) {
    struct fixed *f = data;
    if (len > f->cap - f->len) return -1;
    memcpy(f->buf + f->len, buf, len);
    f->len += len;
    return 0;
}

/* The values through packer pk (its own buffer); nonzero if a write failed. Inlined into each caller,
 * so that the packer's write callback is a direct (inlined) call, as when written out in place. */
static inline ALWAYS_INLINE int mp_pack(msgpack_packer *pk, const struct msg *m) {
    int e = 0;
    e |= msgpack_pack_array(pk, 8);
    e |= msgpack_pack_uint32(pk, m->u32);
    e |= msgpack_pack_int64(pk, m->i64);
    e |= msgpack_pack_double(pk, m->f64);
    e |= msgpack_pack_str(pk, m->name_len);
    e |= msgpack_pack_str_body(pk, m->name, m->name_len);
    e |= m->flag ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    e |= msgpack_pack_uint16(pk, m->u16);
    e |= msgpack_pack_bin(pk, m->blob_len);
    e |= msgpack_pack_bin_body(pk, m->blob, m->blob_len);
    e |= msgpack_pack_array(pk, m->nlist);
    for (uint32_t i = 0; i < m->nlist; i++) e |= msgpack_pack_int32(pk, m->list[i]);
    return e;
}

/* msgpack-c as its documentation shows it: a msgpack_sbuffer per message (init, pack, destroy), the
 * bytes copied out to buf. */
static inline size_t mp_encode(const struct msg *m, uint8_t *buf, size_t cap) {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    size_t n = 0;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (mp_pack(&pk, m) == 0 && sb.size <= cap) {
        memcpy(buf, sb.data, sb.size);
        n = sb.size;
    }
    msgpack_sbuffer_destroy(&sb);
    return n;
}

/* msgpack-c at its fastest: the packer writes straight into the caller's buffer (no allocation). */
static inline size_t mp_fixed_encode(const struct msg *m, uint8_t *buf, size_t cap) {
    struct fixed f = {buf, 0, cap};
    msgpack_packer pk;
    int e = 0;
    /* written out here rather than through mp_pack: gcc then sees the callback and inlines it */
    msgpack_packer_init(&pk, &f, fixed_write);
    e |= msgpack_pack_array(&pk, 8);
    e |= msgpack_pack_uint32(&pk, m->u32);
    e |= msgpack_pack_int64(&pk, m->i64);
    e |= msgpack_pack_double(&pk, m->f64);
    e |= msgpack_pack_str(&pk, m->name_len);
    e |= msgpack_pack_str_body(&pk, m->name, m->name_len);
    e |= m->flag ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
    e |= msgpack_pack_uint16(&pk, m->u16);
    e |= msgpack_pack_bin(&pk, m->blob_len);
    e |= msgpack_pack_bin_body(&pk, m->blob, m->blob_len);
    e |= msgpack_pack_array(&pk, m->nlist);
    for (uint32_t i = 0; i < m->nlist; i++) e |= msgpack_pack_int32(&pk, m->list[i]);
    return e ? 0 : f.len;
}

static bool mp_int(const msgpack_object *o, int64_t lo, int64_t hi, int64_t *v) {
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)hi) return false;
        *v = (int64_t)o->via.u64;
    } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        if (o->via.i64 < lo) return false;
        *v = o->via.i64;
    } else {
        return false;
    }
    return true;
}

static inline bool mp_decode(struct msg *m, const uint8_t *buf, size_t len) {
    msgpack_object o;
    size_t off = 0;
    int64_t v;
    bool ok = false;
    if (msgpack_unpack((const char *)buf, len, &off, &g_zone, &o) != MSGPACK_UNPACK_SUCCESS) goto out;
    if (o.type != MSGPACK_OBJECT_ARRAY || o.via.array.size != 8) goto out;
    const msgpack_object *f = o.via.array.ptr;
    if (!mp_int(&f[0], 0, UINT32_MAX, &v)) goto out;
    m->u32 = (uint32_t)v;
    if (!mp_int(&f[1], INT64_MIN, INT64_MAX, &m->i64)) goto out;
    if (f[2].type != MSGPACK_OBJECT_FLOAT64) goto out;
    m->f64 = f[2].via.f64;
    if (f[3].type != MSGPACK_OBJECT_STR || !hand_utf8((const uint8_t *)f[3].via.str.ptr, f[3].via.str.size)) goto out;
    m->name = f[3].via.str.ptr, m->name_len = f[3].via.str.size;
    if (f[4].type != MSGPACK_OBJECT_BOOLEAN) goto out;
    m->flag = f[4].via.boolean;
    if (!mp_int(&f[5], 0, UINT16_MAX, &v)) goto out;
    m->u16 = (uint16_t)v;
    if (f[6].type != MSGPACK_OBJECT_BIN) goto out;
    m->blob = (const uint8_t *)f[6].via.bin.ptr, m->blob_len = f[6].via.bin.size;
    if (f[7].type != MSGPACK_OBJECT_ARRAY || f[7].via.array.size > MSG_LIST_MAX) goto out;
    m->nlist = f[7].via.array.size;
    for (uint32_t i = 0; i < m->nlist; i++) {
        if (!mp_int(&f[7].via.array.ptr[i], INT32_MIN, INT32_MAX, &v)) goto out;
        m->list[i] = (int32_t)v;
    }
    ok = off == len;
out:
    msgpack_zone_clear(&g_zone); /* the objects live in the zone; strings and bins point into buf */
    return ok;
}

/* ---- protobuf-c: the generated code (message.proto), default allocator ---- */
static char g_name_z[sizeof g_name]; /* protobuf-c takes NUL-terminated strings */

static inline size_t pb_encode(const struct msg *m, uint8_t *buf, size_t cap) {
    Representative r = REPRESENTATIVE__INIT;
    r.u32 = m->u32;
    r.i64 = m->i64;
    r.f64 = m->f64;
    r.name = g_name_z;
    r.flag = m->flag;
    r.u16 = m->u16;
    r.blob.data = (uint8_t *)m->blob;
    r.blob.len = m->blob_len;
    r.n_list = m->nlist;
    r.list = (int32_t *)m->list;
    if (representative__get_packed_size(&r) > cap) return 0;
    return representative__pack(&r, buf);
}

/* expect: compared before the unpacked message (and its strings) is freed. */
static inline bool pb_decode(struct msg *m, const uint8_t *buf, size_t len, const struct msg *expect) {
    Representative *r = representative__unpack(NULL, len, buf);
    bool ok = false;
    if (!r) return false;
    size_t n = strlen(r->name);
    if (r->u16 > UINT16_MAX || r->n_list > MSG_LIST_MAX || !hand_utf8((const uint8_t *)r->name, n)) goto out;
    m->u32 = r->u32;
    m->i64 = r->i64;
    m->f64 = r->f64;
    m->name = r->name, m->name_len = n;
    m->flag = r->flag;
    m->u16 = (uint16_t)r->u16;
    m->blob = r->blob.data, m->blob_len = r->blob.len;
    m->nlist = (uint32_t)r->n_list;
    memcpy(m->list, r->list, r->n_list * sizeof r->list[0]);
    ok = expect == NULL || msg_equal(m, expect);
out:
    representative__free_unpacked(r, NULL);
    return ok;
}

/* ---- libcbor streaming: cbor_encode_* into a buffer, cbor_stream_decode with callbacks ---- */
#define CB_PUT(call)                                                                                   \
    do {                                                                                               \
        size_t k_ = (call);                                                                            \
        if (k_ == 0) return 0;                                                                         \
        n += k_;                                                                                       \
    } while (0)
static inline size_t cbor_int_put(int64_t v, uint8_t *buf, size_t cap) {
    return v >= 0 ? cbor_encode_uint((uint64_t)v, buf, cap) : cbor_encode_negint((uint64_t)(-(v + 1)), buf, cap);
}
static inline size_t cb_encode(const struct msg *m, uint8_t *buf, size_t cap) {
    size_t n = 0;
    CB_PUT(cbor_encode_array_start(8, buf, cap));
    CB_PUT(cbor_encode_uint(m->u32, buf + n, cap - n));
    CB_PUT(cbor_int_put(m->i64, buf + n, cap - n));
    CB_PUT(cbor_encode_double(m->f64, buf + n, cap - n));
    CB_PUT(cbor_encode_string_start(m->name_len, buf + n, cap - n));
    if (m->name_len > cap - n) return 0;
    memcpy(buf + n, m->name, m->name_len), n += m->name_len;
    CB_PUT(cbor_encode_bool(m->flag, buf + n, cap - n));
    CB_PUT(cbor_encode_uint(m->u16, buf + n, cap - n));
    CB_PUT(cbor_encode_bytestring_start(m->blob_len, buf + n, cap - n));
    if (m->blob_len > cap - n) return 0;
    memcpy(buf + n, m->blob, m->blob_len), n += m->blob_len;
    CB_PUT(cbor_encode_array_start(m->nlist, buf + n, cap - n));
    for (uint32_t i = 0; i < m->nlist; i++) CB_PUT(cbor_int_put(m->list[i], buf + n, cap - n));
    return n;
}

/* The decoder's state: which item comes next (0: the outer array, 1..8: the fields, 9..: list). */
struct cb_ctx {
    struct msg *m;
    unsigned item;
    bool ok;
};
static void cb_int(void *c, bool neg, uint64_t u) {
    struct cb_ctx *x = c;
    struct msg *m = x->m;
    unsigned item = x->item++;
    if (item == 1 && !neg && u <= UINT32_MAX) m->u32 = (uint32_t)u;
    else if (item == 2 && !neg && u <= INT64_MAX) m->i64 = (int64_t)u;
    else if (item == 2 && neg && u <= INT64_MAX) m->i64 = -1 - (int64_t)u;
    else if (item == 6 && !neg && u <= UINT16_MAX) m->u16 = (uint16_t)u;
    else if (item >= 9 && item < 9 + m->nlist && !neg && u <= INT32_MAX) m->list[item - 9] = (int32_t)u;
    else if (item >= 9 && item < 9 + m->nlist && neg && u <= INT32_MAX) m->list[item - 9] = -1 - (int32_t)u;
    else x->ok = false;
}
static void cb_u8(void *c, uint8_t v) { cb_int(c, false, v); }
static void cb_u16(void *c, uint16_t v) { cb_int(c, false, v); }
static void cb_u32(void *c, uint32_t v) { cb_int(c, false, v); }
static void cb_u64(void *c, uint64_t v) { cb_int(c, false, v); }
static void cb_n8(void *c, uint8_t v) { cb_int(c, true, v); }
static void cb_n16(void *c, uint16_t v) { cb_int(c, true, v); }
static void cb_n32(void *c, uint32_t v) { cb_int(c, true, v); }
static void cb_n64(void *c, uint64_t v) { cb_int(c, true, v); }
static void cb_double(void *c, double v) {
    struct cb_ctx *x = c;
    if (x->item++ == 3) x->m->f64 = v;
    else x->ok = false;
}
static void cb_string(void *c, cbor_data s, size_t len) {
    struct cb_ctx *x = c;
    if (x->item++ == 4 && hand_utf8(s, len)) x->m->name = (const char *)s, x->m->name_len = len;
    else x->ok = false;
}
static void cb_bytes(void *c, cbor_data s, size_t len) {
    struct cb_ctx *x = c;
    if (x->item++ == 7) x->m->blob = s, x->m->blob_len = len;
    else x->ok = false;
}
static void cb_bool(void *c, bool v) {
    struct cb_ctx *x = c;
    if (x->item++ == 5) x->m->flag = v;
    else x->ok = false;
}
static void cb_array(void *c, size_t n) {
    struct cb_ctx *x = c;
    unsigned item = x->item++;
    if (item == 0 && n == 8) return;
    if (item == 8 && n <= MSG_LIST_MAX) x->m->nlist = (uint32_t)n;
    else x->ok = false;
}
static struct cbor_callbacks g_cb;

static inline bool cb_decode(struct msg *m, const uint8_t *buf, size_t len) {
    struct cb_ctx x = {m, 0, true};
    size_t pos = 0;
    m->nlist = 0;
    while (pos < len && x.ok) {
        struct cbor_decoder_result res = cbor_stream_decode(buf + pos, len - pos, &g_cb, &x);
        if (res.status != CBOR_DECODER_FINISHED) return false;
        pos += res.read;
    }
    return x.ok && x.item == 9 + m->nlist;
}

/* ---- the measured loops: one per op, each returns something derived from every iteration ---- */
BENCH_LOOP size_t bench_loop_wire_encode(long iters) {
    size_t sum = 0;
    for (long i = 0; i < iters; i++) {
        sum += msg_wire_encode(&g_msg, g_out, sizeof g_out);
        BARRIER(g_out);
    }
    return sum;
}
BENCH_LOOP size_t bench_loop_hand_encode(long iters) {
    size_t sum = 0;
    for (long i = 0; i < iters; i++) {
        sum += hand_encode(&g_msg, g_out, sizeof g_out);
        BARRIER(g_out);
    }
    return sum;
}
BENCH_LOOP size_t bench_loop_msgpack_encode(long iters) {
    size_t sum = 0;
    for (long i = 0; i < iters; i++) {
        sum += mp_encode(&g_msg, g_out, sizeof g_out);
        BARRIER(g_out);
    }
    return sum;
}
BENCH_LOOP size_t bench_loop_msgpack_fixed_encode(long iters) {
    size_t sum = 0;
    for (long i = 0; i < iters; i++) {
        sum += mp_fixed_encode(&g_msg, g_out, sizeof g_out);
        BARRIER(g_out);
    }
    return sum;
}
BENCH_LOOP size_t bench_loop_protobuf_encode(long iters) {
    size_t sum = 0;
    for (long i = 0; i < iters; i++) {
        sum += pb_encode(&g_msg, g_out, sizeof g_out);
        BARRIER(g_out);
    }
    return sum;
}
BENCH_LOOP size_t bench_loop_cbor_encode(long iters) {
    size_t sum = 0;
    for (long i = 0; i < iters; i++) {
        sum += cb_encode(&g_msg, g_out, sizeof g_out);
        BARRIER(g_out);
    }
    return sum;
}
#define DECODE_LOOP(name, call)                                                                    \
    BENCH_LOOP size_t bench_loop_##name##_decode(long iters) {                                     \
        size_t sum = 0;                                                                            \
        for (long i = 0; i < iters; i++) {                                                         \
            struct msg m;                                                                          \
            sum += (call) ? m.nlist : 1000;                                                        \
            BARRIER(&m);                                                                           \
        }                                                                                          \
        return sum;                                                                                \
    }
DECODE_LOOP(wire, msg_wire_decode(&m, g_in_wire, g_len_wire))
DECODE_LOOP(hand, hand_decode(&m, g_in_wire, g_len_wire))
DECODE_LOOP(msgpack, mp_decode(&m, g_in_mp, g_len_mp))
DECODE_LOOP(protobuf, pb_decode(&m, g_in_pb, g_len_pb, NULL))
DECODE_LOOP(cbor, cb_decode(&m, g_in_cbor, g_len_cbor))

static inline size_t bulk_encode(uint8_t *out, size_t cap) {
    wire_writer w;
    size_t len;
    wire_writer_init(&w, out, cap);
    wire_put_bytes(&w, g_big_src, BULK_LEN);
    return wire_writer_finish(&w, &len) == WIRE_OK ? len : 0;
}
static inline bool bulk_decode(const uint8_t **data, size_t *len) {
    wire_reader r;
    wire_reader_init(&r, g_big_in, g_big_in_len);
    wire_get_bytes(&r, data, len);
    return wire_reader_finish(&r) == WIRE_OK;
}
BENCH_LOOP size_t bench_loop_wire_bulk_encode(long iters) {
    size_t sum = 0;
    for (long i = 0; i < iters; i++) {
        sum += bulk_encode(g_big_out, BULK_LEN + 64);
        BARRIER(g_big_out);
    }
    return sum;
}
BENCH_LOOP size_t bench_loop_memcpy_bulk(long iters) {
    size_t sum = 0;
    for (long i = 0; i < iters; i++) {
        memcpy(g_big_out, g_big_src, BULK_LEN);
        BARRIER(g_big_out);
        sum += BULK_LEN;
    }
    return sum;
}
BENCH_LOOP size_t bench_loop_wire_bulk_decode(long iters) {
    size_t sum = 0;
    for (long i = 0; i < iters; i++) {
        const uint8_t *d;
        size_t n;
        sum += bulk_decode(&d, &n) ? n : 1;
        BARRIER(d);
    }
    return sum;
}

/* ---- the table of ops, in the order they are measured (alternating, round after round) ---- */
typedef size_t (*loop_fn)(long);
struct op {
    const char *name, *func;
    loop_fn fn;
    long iters;
    double ns[64];
};
#define OP(name, f) {name, #f, f, 0, {0}}
static struct op g_ops[] = {
    OP("wire.encode", bench_loop_wire_encode),         OP("hand.encode", bench_loop_hand_encode),
    OP("msgpack.encode", bench_loop_msgpack_encode),   OP("msgpack.fixed.encode", bench_loop_msgpack_fixed_encode),
    OP("protobuf.encode", bench_loop_protobuf_encode),
    OP("cbor.encode", bench_loop_cbor_encode),         OP("wire.decode", bench_loop_wire_decode),
    OP("hand.decode", bench_loop_hand_decode),         OP("msgpack.decode", bench_loop_msgpack_decode),
    OP("protobuf.decode", bench_loop_protobuf_decode), OP("cbor.decode", bench_loop_cbor_decode),
    OP("wire.bulk.encode", bench_loop_wire_bulk_encode), OP("memcpy.bulk", bench_loop_memcpy_bulk),
    OP("wire.bulk.decode", bench_loop_wire_bulk_decode),
};
#define NOPS (sizeof g_ops / sizeof g_ops[0])

static struct op *find_op(const char *name) {
    for (size_t i = 0; i < NOPS; i++)
        if (strcmp(g_ops[i].name, name) == 0) return &g_ops[i];
    return NULL;
}

/* ---- set-up and the start-up checks ---- */
static void read_hex(const char *path) {
    FILE *f = fopen(path, "r");
    int hi, lo;
    if (!f) {
        fprintf(stderr, "bench-codec: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    while (g_expect_len < sizeof g_expect && (hi = fgetc(f)) != EOF && hi != '\n' && (lo = fgetc(f)) != EOF) {
        char two[3] = {(char)hi, (char)lo, 0}, *end;
        long v = strtol(two, &end, 16);
        if (*end) die("message.hex is not hex");
        g_expect[g_expect_len++] = (uint8_t)v;
    }
    fclose(f);
}

static void check_encode(const char *what, size_t len, const uint8_t *bytes) {
    if (len != g_expect_len || memcmp(bytes, g_expect, len) != 0) {
        fprintf(stderr, "bench-codec: %s does not give bench/message.hex (%zu bytes):", what, len);
        for (size_t i = 0; i < len; i++) fprintf(stderr, "%02x", bytes[i]);
        fputc('\n', stderr);
        exit(1);
    }
}

static void setup(const char *hex) {
    struct msg m;
    msg_init(&g_msg);
    memcpy(g_name_z, g_name, sizeof g_name);
    read_hex(hex);
    if (g_expect_len != 92) die("bench/message.hex: expected the 92-byte representative payload");
    if (!msgpack_zone_init(&g_zone, 2048)) die("msgpack_zone_init");
    g_cb = cbor_empty_callbacks;
    g_cb.uint8 = cb_u8, g_cb.uint16 = cb_u16, g_cb.uint32 = cb_u32, g_cb.uint64 = cb_u64;
    g_cb.negint8 = cb_n8, g_cb.negint16 = cb_n16, g_cb.negint32 = cb_n32, g_cb.negint64 = cb_n64;
    g_cb.float8 = cb_double, g_cb.string = cb_string, g_cb.byte_string = cb_bytes;
    g_cb.boolean = cb_bool, g_cb.array_start = cb_array;

    /* wire and the hand-written codec: exactly message.hex; and back to the values */
    memset(g_out, 0xAA, sizeof g_out);
    check_encode("wire encode", msg_wire_encode(&g_msg, g_out, sizeof g_out), g_out);
    memset(g_out, 0x55, sizeof g_out);
    check_encode("hand-written encode", hand_encode(&g_msg, g_out, sizeof g_out), g_out);
    memcpy(g_in_wire, g_expect, g_expect_len);
    g_len_wire = g_expect_len;
    memset(&m, 0, sizeof m);
    if (!msg_wire_decode(&m, g_in_wire, g_len_wire) || !msg_equal(&m, &g_msg)) die("wire decode: not the values");
    memset(&m, 0, sizeof m);
    if (!hand_decode(&m, g_in_wire, g_len_wire) || !msg_equal(&m, &g_msg)) die("hand decode: not the values");
    /* both decoders refuse a bad string and a truncated payload */
    g_in_wire[30] = 0xC0;
    if (msg_wire_decode(&m, g_in_wire, g_len_wire) || hand_decode(&m, g_in_wire, g_len_wire)) die("bad UTF-8 accepted");
    g_in_wire[30] = g_expect[30];
    if (msg_wire_decode(&m, g_in_wire, g_len_wire - 1) || hand_decode(&m, g_in_wire, g_len_wire - 1))
        die("truncated payload accepted");

    /* the others: their own bytes, the same values back */
    if (!(g_len_mp = mp_encode(&g_msg, g_in_mp, sizeof g_in_mp))) die("msgpack encode");
    if (mp_fixed_encode(&g_msg, g_out, sizeof g_out) != g_len_mp || memcmp(g_out, g_in_mp, g_len_mp) != 0)
        die("msgpack: the two packers differ");
    memset(&m, 0, sizeof m);
    if (!mp_decode(&m, g_in_mp, g_len_mp) || !msg_equal(&m, &g_msg)) die("msgpack decode: not the values");
    if (!(g_len_pb = pb_encode(&g_msg, g_in_pb, sizeof g_in_pb))) die("protobuf encode");
    memset(&m, 0, sizeof m);
    if (!pb_decode(&m, g_in_pb, g_len_pb, &g_msg)) die("protobuf decode: not the values");
    if (!(g_len_cbor = cb_encode(&g_msg, g_in_cbor, sizeof g_in_cbor))) die("cbor encode");
    memset(&m, 0, sizeof m);
    if (!cb_decode(&m, g_in_cbor, g_len_cbor) || !msg_equal(&m, &g_msg)) die("cbor decode: not the values");

    /* bulk: one 1 MiB bytes field */
    g_big_src = malloc(BULK_LEN);
    g_big_out = malloc(BULK_LEN + 64);
    g_big_in = malloc(BULK_LEN + 64);
    if (!g_big_src || !g_big_out || !g_big_in) die("out of memory");
    for (size_t i = 0; i < BULK_LEN; i++) g_big_src[i] = (uint8_t)(i * 131u + 7u);
    memset(g_big_out, 0, BULK_LEN + 64);
    if (bulk_encode(g_big_out, BULK_LEN + 64) != BULK_LEN + 5 || g_big_out[0] != WIRE_T_BYTES ||
        memcmp(g_big_out + 5, g_big_src, BULK_LEN) != 0)
        die("bulk encode");
    memcpy(g_big_in, g_big_out, BULK_LEN + 5);
    g_big_in_len = BULK_LEN + 5;
    const uint8_t *d;
    size_t n;
    if (!bulk_decode(&d, &n) || n != BULK_LEN || d != g_big_in + 5) die("bulk decode");
}

/* ---- timing ---- */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double run_ns(struct op *o) {
    double t0 = now();
    g_sink += o->fn(o->iters);
    return (now() - t0) * 1e9 / (double)o->iters;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median, min, max of v[0..n) */
static void stats(const double *v, int n, double out[3]) {
    double s[64];
    memcpy(s, v, (size_t)n * sizeof *v);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    out[0] = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    out[1] = s[0];
    out[2] = s[n - 1];
}

static void result(const char *name, const char *unit, const double st[3]) {
    const char *fmt = st[0] >= 100 ? "result codec %s %s %.0f %.0f %.0f\n" : "result codec %s %s %.3g %.3g %.3g\n";
    printf(fmt, name, unit, st[0], st[1], st[2]);
}

/* ratio num/den per run (the two measured back to back in that run), then median, min, max */
static void ratio(const char *name, const char *num, const char *den, int runs, double st[3]) {
    const struct op *a = find_op(num), *b = find_op(den);
    double r[64];
    for (int i = 0; i < runs; i++) r[i] = a->ns[i] / b->ns[i];
    stats(r, runs, st);
    result(name, "x", st);
}

int main(int argc, char **argv) {
    const char *hex = "bench/message.hex";
    double seconds = 0.2;
    int runs = 7;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--hex") == 0 && i + 1 < argc) {
            hex = argv[++i];
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--list") == 0) {
            for (size_t k = 0; k < NOPS; k++) printf("%s %s\n", g_ops[k].name, g_ops[k].func);
            return 0;
        } else if (strcmp(argv[i], "--count") == 0 && i + 2 < argc) {
            struct op *o = find_op(argv[i + 1]);
            long iters = atol(argv[i + 2]);
            if (!o || iters <= 0) {
                fprintf(stderr, "bench-codec: --count OP ITERS: unknown op or bad count (see --list)\n");
                return 2;
            }
            setup(hex);
            g_sink += o->fn(iters);
            return 0;
        } else {
            fprintf(stderr, "usage: bench-codec [--hex FILE] [--seconds S] [--runs N] | --list | --count OP ITERS\n");
            return 2;
        }
    }
    if (runs < 5 || runs > 64 || !(seconds > 0 && seconds < 5)) {
        fprintf(stderr, "bench-codec: --runs 5..64, --seconds in (0, 5)\n");
        return 2;
    }
    setup(hex);
    printf("bench-codec: the representative message (%zu bytes in wire; msgpack %zu, protobuf %zu, cbor %zu),\n"
           "  bulk: one bytes field of %zu bytes. %d runs of ~%.2f s per op, ops alternating within each run.\n",
           g_expect_len, g_len_mp, g_len_pb, g_len_cbor, BULK_LEN, runs, seconds);

    /* calibrate: iterations for ~seconds per run */
    for (size_t k = 0; k < NOPS; k++) {
        struct op *o = &g_ops[k];
        o->iters = 1;
        double t;
        for (;;) {
            double t0 = now();
            g_sink += o->fn(o->iters);
            t = now() - t0;
            if (t > 0.01) break;
            o->iters *= 2;
        }
        o->iters = (long)((double)o->iters * seconds / t) + 1;
    }
    for (int r = 0; r < runs; r++)
        for (size_t k = 0; k < NOPS; k++) g_ops[k].ns[r] = run_ns(&g_ops[k]);

    double st[3];
    printf("\n%-18s %12s %12s %12s   (ns per op: median, min, max)\n", "op", "median", "min", "max");
    for (size_t k = 0; k < NOPS; k++) {
        stats(g_ops[k].ns, runs, st);
        printf("%-18s %12.1f %12.1f %12.1f\n", g_ops[k].name, st[0], st[1], st[2]);
    }
    printf("\nratios per run (median, min-max); targets: ratio.*.hand <= 1.5, speedup.*.cbor >= 3,\n"
           "speedup.*.msgpack >= 5, ratio.bulk.memcpy >= 0.85 (memcpy time / wire time),\n"
           "ratio.bulk.decode <= 1.5 (1 MiB zero-copy decode / small decode)\n\n");
    for (size_t k = 0; k < NOPS; k++) {
        stats(g_ops[k].ns, runs, st);
        result(g_ops[k].name, "ns", st);
    }
    ratio("ratio.encode.hand", "wire.encode", "hand.encode", runs, st);
    ratio("ratio.decode.hand", "wire.decode", "hand.decode", runs, st);
    ratio("speedup.encode.msgpack", "msgpack.encode", "wire.encode", runs, st);
    ratio("speedup.decode.msgpack", "msgpack.decode", "wire.decode", runs, st);
    ratio("speedup.encode.msgpack.fixed", "msgpack.fixed.encode", "wire.encode", runs, st);
    ratio("speedup.encode.protobuf", "protobuf.encode", "wire.encode", runs, st);
    ratio("speedup.decode.protobuf", "protobuf.decode", "wire.decode", runs, st);
    ratio("speedup.encode.cbor", "cbor.encode", "wire.encode", runs, st);
    ratio("speedup.decode.cbor", "cbor.decode", "wire.decode", runs, st);
    ratio("ratio.bulk.memcpy", "memcpy.bulk", "wire.bulk.encode", runs, st);
    ratio("ratio.bulk.decode", "wire.bulk.decode", "wire.decode", runs, st);
    return g_sink == 42 ? 3 : 0; /* g_sink read: the loops' results are used */
}
