/* SPDX-License-Identifier: MIT */
/*
 * wire.h - typed messages over TCP, in network byte order, between C, Python, Perl and OCaml.
 *
 * This header is the API reference. The protocol itself is defined in SPEC.md.
 *
 * Conventions used throughout:
 *  - Memory is always the caller's. Nothing here allocates, prints, exits or keeps global state;
 *    every function is thread-safe as long as two threads do not share one struct.
 *  - Errors are values of `wire_err` (0 = WIRE_OK). Codecs keep the FIRST error ("sticky"): once a
 *    writer or reader has failed, every later call is a no-op that returns the same error, so a
 *    caller may encode or decode a whole message and check once at the end.
 *  - Offsets reported with an error count bytes from the start of the buffer given to the codec
 *    (the payload), or from the first header byte for frame-level errors.
 *  - Functions marked WIRE_CHECK return a result that must not be ignored.
 */
#ifndef WIRE_H
#define WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h> /* memcpy in the inline float puts/gets */
#include <sys/socket.h> /* struct sockaddr_storage, socklen_t: the UDP addresses */
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define WIRE_CHECK __attribute__((warn_unused_result))
#define WIRE__LIKELY(x) __builtin_expect(!!(x), 1)
#define WIRE__COLD __attribute__((cold))
#define WIRE_EXPORT __attribute__((visibility("default")))
#else
#define WIRE_CHECK
#define WIRE_EXPORT
#define WIRE__LIKELY(x) (x)
#define WIRE__COLD
#endif

/* ---------------------------------------------------------------------------------------------- */
/* Constants                                                                                      */
/* ---------------------------------------------------------------------------------------------- */

#define WIRE_LIB_VERSION "0.1.0"
#define WIRE_PROTOCOL_VERSION 1           /* the version byte of every frame header, and HELLO's */
#define WIRE_HEADER_SIZE 8                /* version u8, flags u8, type u16, payload length u32 */
#define WIRE_DEFAULT_MAX_PAYLOAD 16777216u /* 16 MiB: default largest payload a receiver accepts */
#define WIRE_MAX_DEPTH 32                 /* protocol constant: lists/groups nest at most 32 deep */
#define WIRE_NO_OFFSET 0xFFFFFFFFu        /* ERROR message offset meaning "no offset" */
#define WIRE_ERRBUF_SIZE 256              /* enough for any message the socket helpers write */

#define WIRE_HELLO_NAME_MAX 255          /* SPEC 9.1: bytes of UTF-8 in a HELLO name */
#define WIRE_ERROR_TEXT_MAX 1024         /* SPEC 9.1: bytes of UTF-8 in an ERROR message */
#define WIRE_MIN_MAX_PAYLOAD 1037        /* SPEC 8.1: the smallest max_payload (the largest ERROR) */

/* The field types (SPEC.md section 3): X(NAME, tag, "spec name"). High nibble of the tag: the class;
 * low nibble of numbers: log2(size) + 1. The one table: wire_type_name() and the tests against
 * SPEC.md section 3.2 are made from it. */
#define WIRE_TYPES(X)                                                                              \
    X(U8, 0x01, "u8")                                                                              \
    X(U16, 0x02, "u16")                                                                            \
    X(U32, 0x03, "u32")                                                                            \
    X(U64, 0x04, "u64")                                                                            \
    X(I8, 0x11, "i8")                                                                              \
    X(I16, 0x12, "i16")                                                                            \
    X(I32, 0x13, "i32")                                                                            \
    X(I64, 0x14, "i64")                                                                            \
    X(F32, 0x23, "f32")                                                                            \
    X(F64, 0x24, "f64")                                                                            \
    X(BOOL, 0x30, "bool")                                                                          \
    X(STRING, 0x40, "string")                                                                      \
    X(BYTES, 0x41, "bytes")                                                                        \
    X(LIST, 0x50, "list")                                                                          \
    X(GROUP, 0x51, "group")

typedef enum wire_type {
    WIRE_T_NONE = 0x00, /* not a tag: "no more fields" from wire_peek() */
#define WIRE__TYPE_ENUM(name, tag, text) WIRE_T_##name = tag,
    WIRE_TYPES(WIRE__TYPE_ENUM)
#undef WIRE__TYPE_ENUM
} wire_type;

/* The message types (SPEC.md section 7.1): X(NAME, type). 0x8000..0xFFFF are free for applications.
 * wire_msg_name() and the tests against SPEC.md's registry are made from this table. */
#define WIRE_MESSAGES(X)                                                                           \
    X(HELLO, 0x0001)                                                                               \
    X(ERROR, 0x0002)                                                                               \
    X(PING, 0x0003)                                                                                \
    X(PONG, 0x0004)                                                                                \
    X(BYE, 0x0005)                                                                                 \
    X(ECHO, 0x0100)                                                                                \
    X(ECHO_REPLY, 0x0101)                                                                          \
    X(ROUNDTRIP, 0x0102)                                                                           \
    X(ROUNDTRIP_REPLY, 0x0103)                                                                     \
    X(VECTOR_CHECK, 0x0104)                                                                        \
    X(VECTOR_RESULT, 0x0105)                                                                       \
    X(VECTOR_GET, 0x0106)                                                                          \
    X(VECTOR_DATA, 0x0107)                                                                         \
    X(STATS, 0x0108)                                                                               \
    X(STATS_REPLY, 0x0109)

enum {
#define WIRE__MSG_ENUM(name, type) WIRE_MSG_##name = type,
    WIRE_MESSAGES(WIRE__MSG_ENUM)
#undef WIRE__MSG_ENUM
    WIRE_MSG_APP_FIRST = 0x8000
};

/* ---------------------------------------------------------------------------------------------- */
/* Errors                                                                                         */
/* ---------------------------------------------------------------------------------------------- */

/* The one error table: the same codes, names and messages as proto/errors.txt and SPEC.md (a test
 * checks all three agree). X(name, code, message). */
#define WIRE_ERRORS(X)                                                                             \
    X(TRUNCATED, 1, "value runs past the end of the data")                                         \
    X(BADTAG, 2, "unknown type tag")                                                               \
    X(TYPE, 3, "field has another type than the one expected")                                     \
    X(BADBOOL, 4, "bool byte is neither 0 nor 1")                                                  \
    X(UTF8, 5, "string is not valid UTF-8")                                                        \
    X(LENGTH, 6, "length or count larger than the bytes that remain")                              \
    X(DEPTH, 7, "nesting deeper than 32 levels")                                                   \
    X(TOOBIG, 8, "frame payload larger than the receiver's limit")                                 \
    X(OVERFLOW, 9, "output buffer too small")                                                      \
    X(VERSION, 10, "unsupported protocol version")                                                 \
    X(HEADER, 11, "malformed frame header")                                                        \
    X(UNEXPECTED, 12, "message type not expected here")                                            \
    X(MESSAGE, 13, "message fields do not match its definition")                                   \
    X(RANGE, 14, "value out of range for its wire type")                                           \
    X(IO, 15, "I/O error")                                                                         \
    X(CLOSED, 16, "connection closed by peer")                                                     \
    X(TIMEOUT, 17, "operation timed out")                                                          \
    X(ADDRESS, 18, "cannot resolve or use the address")                                            \
    X(LIMIT, 19, "a resource limit was reached")                                                   \
    X(INVAL, 20, "invalid argument or API misuse")                                                 \
    X(PEER, 21, "the peer sent an ERROR and closed the connection")

typedef enum wire_err {
    WIRE_OK = 0,
#define WIRE__ERR_ENUM(name, code, msg) WIRE_E##name = code,
    WIRE_ERRORS(WIRE__ERR_ENUM)
#undef WIRE__ERR_ENUM
} wire_err;

/* The message for `err` ("success" for WIRE_OK, "unknown error" for a code not in the table). */
WIRE_EXPORT const char *wire_strerror(wire_err err);
/* The name of `err` without prefix, as in SPEC.md: "TRUNCATED", "UTF8"... ("OK"; "?" if unknown). */
WIRE_EXPORT const char *wire_err_name(wire_err err);
/* The name of a type tag ("u32", "string", ...), or NULL for a byte that is not a tag. */
WIRE_EXPORT const char *wire_type_name(int tag);
/* The name of a message type as in SPEC.md ("HELLO", "ECHO_REPLY", ...), or NULL for a type the
 * protocol does not define (applications name their own 0x8000..0xFFFF types). */
WIRE_EXPORT const char *wire_msg_name(unsigned type);

/* ---------------------------------------------------------------------------------------------- */
/* Writer: encodes fields into a caller-owned buffer                                              */
/* ---------------------------------------------------------------------------------------------- */

/* Internal state of one open list or group; do not touch. */
typedef struct wire__open {
    size_t at;      /* offset of the group length word or the list count word */
    uint32_t count; /* the enclosing list's element count, restored when this container closes */
    uint8_t elem;   /* list element tag; 0 for a group */
} wire__open;

/* A writer. Fields are private: use the functions below. Lives on the caller's stack (592 bytes on
 * LP64). The hot fields come first. A field put's fast path tests only `end - p` (end is the buffer's
 * end outside a list; inside a list, after an error and in sizing mode it is at or before p, so the
 * test fails); a list element's fast path tests `elem`, `lend - p` and `count`. */
typedef struct wire_writer {
    uint8_t *p;     /* next byte to write */
    uint8_t *end;   /* end for whole fields: see above */
    uint8_t *lend;  /* end for list elements: the buffer's end directly inside a list, else p or less */
    uint32_t count; /* elements written so far in the innermost list */
    uint8_t elem;   /* element tag of the innermost open list, 0 when not directly inside a list */
    uint8_t depth;  /* open containers */
    wire_err err;   /* first error */
    uint8_t *buf;   /* start of the buffer; NULL in sizing mode */
    uint8_t *limit; /* the real end of the buffer */
    size_t counted; /* sizing mode: the bytes the message needs */
    size_t err_offset;
    uint8_t scratch[8]; /* sizing mode: fixed-size values are written here and forgotten */
    wire__open open[WIRE_MAX_DEPTH];
} wire_writer;

/* Starts writing into buf[0..cap). With buf == NULL the writer only counts: after encoding a message
 * this way, wire_writer_finish() gives the exact size the message needs (the contents of bytes fields
 * are not read then; strings still are, to check their UTF-8). */
WIRE_EXPORT void wire_writer_init(wire_writer *w, void *buf, size_t cap);

/* Ends encoding. Returns the first error (WIRE_EOVERFLOW if the buffer was too small, WIRE_ETYPE if a
 * value did not match its list's element type, WIRE_EINVAL if a list/group is still open or an end
 * had no begin, WIRE_ERANGE for a length over 2^32-1) or WIRE_OK; *len (if not NULL) receives the
 * bytes written, or counted in sizing mode. */
WIRE_EXPORT WIRE_CHECK wire_err wire_writer_finish(const wire_writer *w, size_t *len);

/* The first error and the offset at which it happened (bytes written before the failing put). */
WIRE_EXPORT wire_err wire_writer_error(const wire_writer *w, size_t *offset);

/*
 * One put per type. Outside a list each writes a whole field (tag + value). Directly inside a list
 * it writes one element (the value only) and the list's element type must be the put's type,
 * otherwise WIRE_ETYPE. All return the writer's (sticky) error, WIRE_OK while all is well; they
 * never write past the end: a value that does not fit in full sets WIRE_EOVERFLOW and writes nothing.
 */
static inline wire_err wire_put_u8(wire_writer *w, uint8_t v);
static inline wire_err wire_put_u16(wire_writer *w, uint16_t v);
static inline wire_err wire_put_u32(wire_writer *w, uint32_t v);
static inline wire_err wire_put_u64(wire_writer *w, uint64_t v);
static inline wire_err wire_put_i8(wire_writer *w, int8_t v);
static inline wire_err wire_put_i16(wire_writer *w, int16_t v);
static inline wire_err wire_put_i32(wire_writer *w, int32_t v);
static inline wire_err wire_put_i64(wire_writer *w, int64_t v);
static inline wire_err wire_put_bool(wire_writer *w, bool v);
/* Floats are written as their IEEE 754 bit patterns: every bit survives (NaN payloads, -0.0). The
 * _bits variants take the pattern itself, for callers that must not let a float pass through an FPU
 * register (x87 quiets signalling NaNs). */
static inline wire_err wire_put_f32(wire_writer *w, float v);
static inline wire_err wire_put_f64(wire_writer *w, double v);
static inline wire_err wire_put_f32_bits(wire_writer *w, uint32_t bits);
static inline wire_err wire_put_f64_bits(wire_writer *w, uint64_t bits);

/* A string of len bytes of UTF-8 (not NUL-terminated; NUL is a valid character). The writer checks
 * the UTF-8 (WIRE_EUTF8 otherwise): a peer would reject it, so it is better found here. */
static inline wire_err wire_put_string(wire_writer *w, const char *s, size_t len);
/* A NUL-terminated string (the terminator is not sent). */
WIRE_EXPORT wire_err wire_put_cstring(wire_writer *w, const char *s);
/* len raw bytes (data may be NULL when len is 0). */
static inline wire_err wire_put_bytes(wire_writer *w, const void *data, size_t len);

/* Opens a list whose elements have type `elem` (any tag, including WIRE_T_LIST and WIRE_T_GROUP);
 * its count is filled in by wire_put_list_end(). Elements are written with the puts above (and
 * wire_put_list_begin / wire_put_group_begin for lists of lists / of groups). WIRE_EDEPTH past
 * WIRE_MAX_DEPTH levels, WIRE_EINVAL for an unknown elem. */
WIRE_EXPORT wire_err wire_put_list_begin(wire_writer *w, wire_type elem);
WIRE_EXPORT wire_err wire_put_list_end(wire_writer *w);
/* Opens a group (a length-delimited sequence of fields); its length is filled in by ..._end(). */
WIRE_EXPORT wire_err wire_put_group_begin(wire_writer *w);
WIRE_EXPORT wire_err wire_put_group_end(wire_writer *w);

/* ---------------------------------------------------------------------------------------------- */
/* Reader: decodes and validates fields from a buffer                                             */
/* ---------------------------------------------------------------------------------------------- */

/* Internal state saved when a list or group opens; do not touch. */
typedef struct wire__saved {
    size_t end;    /* end of the enclosing container */
    uint32_t left; /* elements left in the enclosing list */
    uint8_t elem;  /* element tag of the enclosing list, 0 if it is a group or the payload */
} wire__saved;

/* A reader over buf[0..len). Fields are private. Lives on the caller's stack (560 bytes on LP64). */
typedef struct wire_reader {
    const uint8_t *buf;
    size_t pos;    /* next byte */
    size_t end;    /* end of the innermost container; == pos after an error (sends gets to the slow path) */
    uint32_t left; /* elements left in the innermost list */
    uint8_t elem;  /* element tag of the innermost list, 0 when not directly inside a list */
    uint8_t depth;
    wire_err err;
    size_t err_offset;
    wire__saved open[WIRE_MAX_DEPTH];
} wire_reader;

/* Starts reading buf[0..len). The buffer must stay valid and unchanged while the reader and the
 * views it hands out (strings, bytes) are used. */
WIRE_EXPORT void wire_reader_init(wire_reader *r, const void *buf, size_t len);

/*
 * One get per type. Outside a list each reads a whole field and checks its tag (WIRE_ETYPE if the
 * field has another type: use wire_peek() first to branch on the type; WIRE_EBADTAG for a byte that is
 * no tag at all); inside a list each reads the next element. Bounds are checked before every read (WIRE_ETRUNCATED;
 * WIRE_ETYPE when no field or element is left). On success *out receives the value and WIRE_OK is
 * returned; on error *out is set to zero and the sticky error is returned.
 */
static inline wire_err wire_get_u8(wire_reader *r, uint8_t *out);
static inline wire_err wire_get_u16(wire_reader *r, uint16_t *out);
static inline wire_err wire_get_u32(wire_reader *r, uint32_t *out);
static inline wire_err wire_get_u64(wire_reader *r, uint64_t *out);
static inline wire_err wire_get_i8(wire_reader *r, int8_t *out);
static inline wire_err wire_get_i16(wire_reader *r, int16_t *out);
static inline wire_err wire_get_i32(wire_reader *r, int32_t *out);
static inline wire_err wire_get_i64(wire_reader *r, int64_t *out);
static inline wire_err wire_get_f32(wire_reader *r, float *out);
static inline wire_err wire_get_f64(wire_reader *r, double *out);
static inline wire_err wire_get_f32_bits(wire_reader *r, uint32_t *out);
static inline wire_err wire_get_f64_bits(wire_reader *r, uint64_t *out);
/* WIRE_EBADBOOL for a byte other than 0 or 1. */
static inline wire_err wire_get_bool(wire_reader *r, bool *out);

/* Zero-copy views: *s / *data point INTO the reader's buffer (valid as long as it is); strings are
 * validated UTF-8 and NOT NUL-terminated. WIRE_ELENGTH if the length exceeds what remains,
 * WIRE_EUTF8 (offset: the first bad sequence) for invalid UTF-8. */
static inline wire_err wire_get_string(wire_reader *r, const char **s, size_t *len);
static inline wire_err wire_get_bytes(wire_reader *r, const uint8_t **data, size_t *len);

/* Opens a list: *elem receives its element tag and *count its element count, which has already been
 * checked against the bytes that remain (a count that cannot fit is WIRE_ELENGTH before anything is
 * read). Then read exactly the elements with the gets; wire_get_list_end() skips (and validates)
 * any that were not read. WIRE_EDEPTH past WIRE_MAX_DEPTH. */
WIRE_EXPORT wire_err wire_get_list_begin(wire_reader *r, wire_type *elem, uint32_t *count);
WIRE_EXPORT wire_err wire_get_list_end(wire_reader *r);
/* Opens a group; reads inside it stop at its end. wire_get_group_end() skips (and validates) any
 * fields not read. */
WIRE_EXPORT wire_err wire_get_group_begin(wire_reader *r);
WIRE_EXPORT wire_err wire_get_group_end(wire_reader *r);

/* The tag of the next field (or the element tag inside a list with elements left), without consuming
 * anything; WIRE_T_NONE at the end of the innermost container or after an error. May return a byte
 * that is not a valid tag: the get or skip that follows reports WIRE_EBADTAG. */
WIRE_EXPORT int wire_peek(const wire_reader *r);
/* True when the innermost container (or the whole buffer) has no field or element left. */
WIRE_EXPORT bool wire_reader_at_end(const wire_reader *r);
/* Skips the next field (or element) of any type, validating it completely. */
WIRE_EXPORT wire_err wire_skip(wire_reader *r);
/* Validates the rest of the buffer (skipping what was not read) and returns the first error, or
 * WIRE_EINVAL if a list/group is still open; WIRE_OK means the whole buffer was valid. */
WIRE_EXPORT WIRE_CHECK wire_err wire_reader_finish(wire_reader *r);
/* The first error and its offset in the buffer. */
WIRE_EXPORT wire_err wire_reader_error(const wire_reader *r, size_t *offset);
/* Bytes consumed so far. */
static inline size_t wire_reader_offset(const wire_reader *r) { return r->pos; }

/* A signed value from its two's complement bits (what a sum computed in unsigned arithmetic, or a
 * value kept as bits, holds), without implementation-defined conversions. */
static inline int8_t wire_i8_from_bits(uint8_t u);
static inline int16_t wire_i16_from_bits(uint16_t u);
static inline int32_t wire_i32_from_bits(uint32_t u);
static inline int64_t wire_i64_from_bits(uint64_t u);

/* Validates a whole payload (all of buf[0..len) must be well-formed fields). On error *err_offset
 * (if not NULL) receives the offset. Same checks, codes and offsets as decoding. */
WIRE_EXPORT WIRE_CHECK wire_err wire_validate(const void *buf, size_t len, size_t *err_offset);

/* Checks that s[0..len) is well-formed UTF-8 (Unicode Table 3-7: no overlongs, surrogates or code
 * points above U+10FFFF). On failure *bad (if not NULL) receives the offset of the first ill-formed
 * sequence. */
WIRE_EXPORT WIRE_CHECK bool wire_utf8_valid(const void *s, size_t len, size_t *bad);

/* ---------------------------------------------------------------------------------------------- */
/* Frames                                                                                         */
/* ---------------------------------------------------------------------------------------------- */

typedef struct wire_header {
    uint8_t version;
    uint8_t flags;
    uint16_t type;
    uint32_t length; /* payload bytes */
} wire_header;

/* A complete frame found by a parser. `payload` points into the parser's (caller's) buffer. */
typedef struct wire_frame {
    uint16_t type;
    uint32_t length;        /* payload bytes */
    const uint8_t *payload; /* `length` bytes */
    size_t size;            /* WIRE_HEADER_SIZE + length: bytes the frame takes in the stream */
} wire_frame;

/* Writes the 8 header bytes for a frame of `type` carrying `length` payload bytes. */
WIRE_EXPORT void wire_header_encode(uint8_t out[WIRE_HEADER_SIZE], uint16_t type, uint32_t length);

/* Reads and checks 8 header bytes, in SPEC order: version (WIRE_EVERSION, offset 0), flags
 * (WIRE_EHEADER, offset 1), type 0 (WIRE_EHEADER, offset 2), length > max_payload (WIRE_ETOOBIG,
 * offset 4). This is how an oversize frame is refused before any of its payload is read. *h is
 * filled even on error; *err_offset (if not NULL) receives the offset. */
WIRE_EXPORT WIRE_CHECK wire_err wire_header_decode(const uint8_t in[WIRE_HEADER_SIZE], uint32_t max_payload,
                                                   wire_header *h, size_t *err_offset);

/* Stateless parse of the frame at the start of buf[0..len) (picohttpparser-style):
 * returns 1 and fills *f when a whole frame is there (f->size bytes of buf are that frame),
 * 0 when more bytes are needed (nothing is consumed), -1 on a bad header (*err, *err_offset as in
 * wire_header_decode; err_offset may be NULL). A bad header is reported as soon as its 8 bytes are in. */
WIRE_EXPORT WIRE_CHECK int wire_frame_parse(const void *buf, size_t len, uint32_t max_payload, wire_frame *f,
                                            wire_err *err, size_t *err_offset);

/*
 * Incremental parser for non-blocking sockets, over a caller-owned buffer. Typical loop:
 *
 *     size_t room; uint8_t *dst = wire_parser_space(&p, &room);
 *     ssize_t n = read(fd, dst, room);           // n > 0
 *     wire_parser_advance(&p, (size_t)n);
 *     while ((rc = wire_parser_next(&p, &f)) == 1) handle(&f);
 *     if (rc < 0) reject(wire_parser_error(&p, &offset));
 *
 * Frames handed out stay valid until the next call to wire_parser_space(), wire_parser_feed() or
 * wire_parser_rebind(). A frame must fit in the buffer, so the largest payload accepted is
 * min(max_payload, cap - WIRE_HEADER_SIZE); a larger length is WIRE_ETOOBIG as soon as the header is in.
 */
typedef struct wire_parser {
    uint8_t *buf;
    size_t cap;
    size_t head; /* first unconsumed byte */
    size_t tail; /* end of the bytes received */
    uint32_t max_payload;
    wire_err err;
    size_t err_offset;
} wire_parser;

/* A zero-filled parser is invalid: call this first. */
WIRE_EXPORT void wire_parser_init(wire_parser *p, void *buf, size_t cap, uint32_t max_payload);
/* Where the next bytes may be written, and how many (*room; 0 only when the buffer holds more
 * unconsumed bytes than fit, i.e. the caller must first take frames with wire_parser_next()). Moves
 * the unconsumed bytes to the front of the buffer when that makes room. */
WIRE_EXPORT uint8_t *wire_parser_space(wire_parser *p, size_t *room);
/* Declares that n bytes were written at wire_parser_space() (n <= room). */
WIRE_EXPORT void wire_parser_advance(wire_parser *p, size_t n);
/* Copies up to n bytes in; returns how many were taken (fewer when the buffer is full). */
WIRE_EXPORT size_t wire_parser_feed(wire_parser *p, const void *data, size_t n);
/* 1: a frame in *f; 0: need more bytes; -1: the stream is invalid (and stays so): see
 * wire_parser_error(). */
WIRE_EXPORT WIRE_CHECK int wire_parser_next(wire_parser *p, wire_frame *f);
/* The error after wire_parser_next() returned -1 and its offset in the offending frame (0..7). */
WIRE_EXPORT wire_err wire_parser_error(const wire_parser *p, size_t *offset);
/* Bytes received and not yet consumed as frames. */
WIRE_EXPORT size_t wire_parser_buffered(const wire_parser *p);
/* Total size (header included) of the frame at the front once its header is in, 0 before; the length
 * is not checked here. A server that starts each connection with a small buffer grows it on demand:
 * before wire_parser_next(), if wanted > cap and wanted <= WIRE_HEADER_SIZE + its limit, realloc()
 * and wire_parser_rebind(); otherwise next() refuses the frame with WIRE_ETOOBIG. */
WIRE_EXPORT size_t wire_parser_wanted(const wire_parser *p);
/* Switches to a buffer that already holds the same bytes at the same offsets (e.g. after realloc()).
 * WIRE_EINVAL (and nothing changes) if cap is smaller than the bytes held. */
WIRE_EXPORT WIRE_CHECK wire_err wire_parser_rebind(wire_parser *p, void *buf, size_t cap);

/* ---------------------------------------------------------------------------------------------- */
/* Robust blocking I/O (CS:APP rio style)                                                         */
/* ---------------------------------------------------------------------------------------------- */
/*
 * All loop over short reads/writes and restart on EINTR. Results: WIRE_OK; WIRE_ECLOSED when the
 * peer closed (EOF before all bytes, or EPIPE/ECONNRESET on write: writes use MSG_NOSIGNAL, so a
 * closed peer never kills the process with SIGPIPE); WIRE_ETIMEOUT when a socket timeout
 * (SO_RCVTIMEO/SO_SNDTIMEO, see wire_set_timeouts()) expired; WIRE_EIO otherwise, with errno kept
 * as the failing call left it. The descriptors must be in blocking mode.
 */

/* Reads exactly n bytes. *got (if not NULL) receives the bytes actually read (n on success). */
WIRE_EXPORT WIRE_CHECK wire_err wire_read_exact(int fd, void *buf, size_t n, size_t *got);
/* Writes all n bytes. */
WIRE_EXPORT WIRE_CHECK wire_err wire_write_all(int fd, const void *buf, size_t n);
/* Writes all the iovecs (the array is modified as it is consumed). A call that writes nothing while
 * bytes remain is WIRE_EIO (errno EIO), never a loop. */
WIRE_EXPORT WIRE_CHECK wire_err wire_writev_all(int fd, struct iovec *iov, int iovcnt);
/* Sends one frame: header and payload in one writev, so small frames go out in one segment. */
WIRE_EXPORT WIRE_CHECK wire_err wire_send_frame(int fd, uint16_t type, const void *payload, uint32_t length);
/* Receives one frame into buf[0..cap): reads the header, checks it (limit: min(max_payload,
 * cap - WIRE_HEADER_SIZE)) BEFORE reading any payload, then reads the payload. f->payload points
 * into buf. Header errors as wire_header_decode (*err_offset if not NULL). The end of the stream is
 * WIRE_ECLOSED when it comes at a frame boundary (the peer finished), WIRE_ETRUNCATED when it cuts a
 * frame (header or payload) short. */
WIRE_EXPORT WIRE_CHECK wire_err wire_recv_frame(int fd, void *buf, size_t cap, uint32_t max_payload,
                                                wire_frame *f, size_t *err_offset);

/* ---------------------------------------------------------------------------------------------- */
/* Sockets                                                                                        */
/* ---------------------------------------------------------------------------------------------- */
/*
 * getaddrinfo-based, IPv4 and IPv6; sockets are close-on-exec. On failure they return the error and,
 * if errbuf is not NULL, write a one-line explanation into errbuf[0..errlen) (WIRE_ERRBUF_SIZE is
 * always enough); they never print or exit. errno is kept for WIRE_EIO.
 */

/* Listens on host:port. host NULL or "" = every local address; "::" accepts IPv6 and IPv4.
 * port "0" lets the system choose (see wire_local_port()). SO_REUSEADDR is set. Each address
 * getaddrinfo returns is tried in turn. A numeric port must be 0..65535 (getaddrinfo alone would
 * silently wrap 99999 to 34463): WIRE_EADDRESS otherwise; a service name ("http") is looked up. */
WIRE_EXPORT WIRE_CHECK wire_err wire_tcp_listen(const char *host, const char *port, int backlog, int *fd,
                                                char *errbuf, size_t errlen);
/* Connects to host:port, trying each address; timeout_ms bounds each attempt (<= 0: no limit).
 * The returned socket is blocking, with TCP_NODELAY set (frames are sent whole with writev). The port
 * is checked as for wire_tcp_listen(), and port 0 is refused. */
WIRE_EXPORT WIRE_CHECK wire_err wire_tcp_connect(const char *host, const char *port, int timeout_ms, int *fd,
                                                 char *errbuf, size_t errlen);
/* Listens on a Unix-domain stream socket at path (an existing socket file there is replaced). */
WIRE_EXPORT WIRE_CHECK wire_err wire_unix_listen(const char *path, int backlog, int *fd, char *errbuf,
                                                 size_t errlen);
/* Connects to a Unix-domain stream socket. A signal during the connect does not restart it (POSIX
 * says a second connect() fails with EALREADY): the connection is waited for instead. */
WIRE_EXPORT WIRE_CHECK wire_err wire_unix_connect(const char *path, int *fd, char *errbuf, size_t errlen);
/* Accepts one connection from a listening socket: *fd receives it, close-on-exec, with TCP_NODELAY
 * on TCP (replies go out at once; harmless on Unix sockets), non-blocking if `nonblocking`. A
 * non-blocking listener with nothing pending: WIRE_OK and *fd = -1 ("would block"). EINTR and a
 * connection that was reset while waiting are retried. Out of descriptors (EMFILE, ENFILE):
 * WIRE_ELIMIT, errno kept; anything else WIRE_EIO. */
WIRE_EXPORT WIRE_CHECK wire_err wire_accept(int listen_fd, bool nonblocking, int *fd, char *errbuf, size_t errlen);
/* The local port a TCP socket is bound to (learn the port chosen for port "0"). */
WIRE_EXPORT WIRE_CHECK wire_err wire_local_port(int fd, uint16_t *port);
/* "127.0.0.1:5000", "[::1]:5000" or "unix" for the peer of fd; "?" if unknown. */
WIRE_EXPORT void wire_peer_name(int fd, char *buf, size_t len);
/* Sets SO_RCVTIMEO / SO_SNDTIMEO in milliseconds (0: none) so blocking I/O ends with WIRE_ETIMEOUT. */
WIRE_EXPORT WIRE_CHECK wire_err wire_set_timeouts(int fd, int recv_ms, int send_ms);
/* Switches O_NONBLOCK on or off. */
WIRE_EXPORT WIRE_CHECK wire_err wire_set_nonblocking(int fd, bool on);

/* ---------------------------------------------------------------------------------------------- */
/* Control messages (SPEC.md section 7)                                                           */
/* ---------------------------------------------------------------------------------------------- */

/* HELLO: protocol version, largest payload the sender accepts, peer name (UTF-8, <= 255 bytes). */
typedef struct wire_hello {
    uint16_t version;
    uint32_t max_payload;
    const char *name; /* not NUL-terminated when decoded: points into the payload */
    size_t name_len;
} wire_hello;

/* ERROR: a code from the error table (or >= 256 for applications), the offset in the offending frame
 * counting its header (WIRE_NO_OFFSET if none), and a human-readable text (<= 1024 bytes). */
typedef struct wire_error_msg {
    uint16_t code;
    uint32_t offset;
    const char *text;
    size_t text_len;
} wire_error_msg;

/* Append the message's fields to w (a fresh writer makes a whole payload). What a receiver would
 * refuse is refused here, as the writer's (sticky) WIRE_ERANGE: a name over WIRE_HELLO_NAME_MAX
 * bytes, a max_payload under WIRE_MIN_MAX_PAYLOAD, a text over WIRE_ERROR_TEXT_MAX bytes. */
WIRE_EXPORT wire_err wire_put_hello(wire_writer *w, const wire_hello *h);
WIRE_EXPORT wire_err wire_put_error_msg(wire_writer *w, const wire_error_msg *e);
/* Decode a whole payload, by SPEC 7.2: first the whole payload must decode (a decoding error keeps
 * its code and offset); then the fields are checked in order, and the first that does not match is
 * WIRE_EMESSAGE at its tag byte (a wrong type), at the first byte after its tag (a value not allowed:
 * a max_payload under WIRE_MIN_MAX_PAYLOAD, a name or text too long), or where it would start (a
 * missing field). A HELLO whose version is not WIRE_PROTOCOL_VERSION is WIRE_EVERSION at payload
 * offset 1 and nothing after the version is judged (h->version tells which). Extra trailing fields
 * are allowed (forward compatibility) but must decode. Offsets count from the payload's first byte
 * (add WIRE_HEADER_SIZE for an ERROR frame). */
WIRE_EXPORT WIRE_CHECK wire_err wire_get_hello(const void *payload, size_t len, wire_hello *h, size_t *err_offset);
WIRE_EXPORT WIRE_CHECK wire_err wire_get_error_msg(const void *payload, size_t len, wire_error_msg *e,
                                                   size_t *err_offset);

/* ---------------------------------------------------------------------------------------------- */
/* Time                                                                                           */
/* ---------------------------------------------------------------------------------------------- */

/* Milliseconds of a monotonic clock (CLOCK_MONOTONIC): the time base of every deadline below. */
WIRE_EXPORT int64_t wire_now_ms(void);

/* ---------------------------------------------------------------------------------------------- */
/* UDP: the datagram profile (SPEC.md section 15)                                                 */
/* ---------------------------------------------------------------------------------------------- */
/*
 * A datagram is a 4-byte big-endian request id, then exactly one frame (header and payload). The id
 * is the client's, copied byte for byte into the answer; ERROR offsets stay frame offsets (the id is
 * not counted). No handshake, no connection: each datagram stands alone, answered to its source.
 * Nothing here allocates; buffers are the caller's. The socket helpers report as those above
 * (errbuf, errno kept for WIRE_EIO).
 */

#define WIRE_UDP_MAX_DATAGRAM 65507 /* SPEC 15.4: 65535 - 20 (IPv4) - 8 (UDP): the most UDP data */
#define WIRE_UDP_MAX_PAYLOAD 65495  /* SPEC 15.4: WIRE_UDP_MAX_DATAGRAM - 4 (id) - 8 (header) */
#define WIRE_UDP_OVERHEAD 12        /* request id + frame header, before the payload */
/* A receive buffer that holds the largest datagram and one byte more: a datagram that fills it was
 * too large, even where MSG_TRUNC is not reported. */
#define WIRE_UDP_RECV_SIZE (WIRE_UDP_MAX_DATAGRAM + 1)

/* Checks one received datagram buf[0..n) by SPEC 15.3 steps 1-5 (truncated: the kernel cut it,
 * MSG_TRUNC; it is then never whole). max_payload: the receiver's limit, taken as at most
 * WIRE_UDP_MAX_PAYLOAD. Returns
 *    1  a whole frame: *id, and *f whose payload points into buf (f->size == n - 4);
 *    0  drop it silently: fewer than 4 bytes, so no id to answer with (*id is 0), or an ERROR
 *       frame whose size disagrees with its header (an ERROR is never answered, 7.4);
 *   -1  answer ERROR(*err, *err_offset) with *id: TRUNCATED 0 (fewer than 12 bytes), the header's
 *       VERSION 0 / HEADER 1 / HEADER 2 / TOOBIG 4, then LENGTH 4 when the datagram's size is not
 *       12 + the header's length (or it was truncated). *f is left unset.
 * Whether the type is served is not judged here (step 6 is the server's; a whole ERROR frame is
 * returned as 1, for a client to take as its answer, and a server drops it). */
WIRE_EXPORT WIRE_CHECK int wire_udp_parse(const void *buf, size_t n, bool truncated, uint32_t max_payload,
                                          uint32_t *id, wire_frame *f, wire_err *err, size_t *err_offset);

/* Writes the 12 bytes before a datagram's payload: id, then the frame header. */
WIRE_EXPORT void wire_udp_header_encode(uint8_t out[WIRE_UDP_OVERHEAD], uint32_t id, uint16_t type, uint32_t length);
/* A whole datagram (id, header, a copy of payload[0..length)) into buf[0..cap); *len its size.
 * WIRE_ETOOBIG (nothing written) for a length over WIRE_UDP_MAX_PAYLOAD, WIRE_EOVERFLOW for a cap
 * under 12 + length. */
WIRE_EXPORT WIRE_CHECK wire_err wire_udp_encode(void *buf, size_t cap, uint32_t id, uint16_t type,
                                                const void *payload, size_t length, size_t *len);
/* An ERROR datagram: code, frame offset (WIRE_NO_OFFSET: none), and code's message, then ": " and
 * detail when detail is not NULL (cut to WIRE_ERROR_TEXT_MAX bytes of valid UTF-8). A cap of
 * WIRE_UDP_OVERHEAD + WIRE_MIN_MAX_PAYLOAD is always enough. Errors as wire_udp_encode(). */
WIRE_EXPORT WIRE_CHECK wire_err wire_udp_encode_error(void *buf, size_t cap, uint32_t id, wire_err code,
                                                      uint32_t offset, const char *detail, size_t *len);

/* A datagram's source or destination address (what recvmsg/sendmsg take). */
typedef struct wire_udp_addr {
    struct sockaddr_storage ss;
    socklen_t len; /* 0: none */
} wire_udp_addr;

/* A UDP socket bound to host:port, close-on-exec (host as wire_tcp_listen(): NULL or "" every
 * address, "::" IPv6 and IPv4; port "0" lets the system choose, wire_local_port() tells). No
 * SO_REUSEADDR: on UDP it would let a second server share the port and take half its datagrams.
 * A port in use is WIRE_EIO with errno EADDRINUSE. */
WIRE_EXPORT WIRE_CHECK wire_err wire_udp_bind(const char *host, const char *port, int *fd, char *errbuf,
                                              size_t errlen);
/* A UDP socket connect()ed to host:port (the first address getaddrinfo gives that takes it): sends
 * go there without an address, and the kernel delivers only that peer's datagrams (SPEC 15.7). */
WIRE_EXPORT WIRE_CHECK wire_err wire_udp_connect(const char *host, const char *port, int *fd, char *errbuf,
                                                 size_t errlen);
/* Receives one datagram into buf[0..cap) with recvmsg, restarting on EINTR: *n the bytes received,
 * *truncated true if the datagram was longer (MSG_TRUNC; its rest is lost), *from (if not NULL) its
 * source. WIRE_ETIMEOUT when nothing is there (a non-blocking socket, or SO_RCVTIMEO expired);
 * WIRE_ECLOSED for ECONNREFUSED (a connected socket learnt that nobody listens there); WIRE_EIO
 * otherwise (errno kept). An empty datagram is WIRE_OK with *n == 0. */
WIRE_EXPORT WIRE_CHECK wire_err wire_udp_recv(int fd, void *buf, size_t cap, size_t *n, bool *truncated,
                                              wire_udp_addr *from);
/* Sends one datagram made of the iovecs with sendmsg, to `to` (NULL, or len 0, on a connected
 * socket), restarting on EINTR. WIRE_ETIMEOUT when a non-blocking socket's buffer is full (the
 * datagram is not sent: over UDP that is loss), WIRE_ECLOSED for ECONNREFUSED, WIRE_EIO otherwise
 * (and for iovcnt < 0, errno EINVAL). */
WIRE_EXPORT WIRE_CHECK wire_err wire_udp_sendv(int fd, const struct iovec *iov, int iovcnt, const wire_udp_addr *to);
/* wire_udp_sendv() of one buffer. */
WIRE_EXPORT WIRE_CHECK wire_err wire_udp_send(int fd, const void *buf, size_t len, const wire_udp_addr *to);
/* Sends one datagram (id, header, payload) without copying the payload. WIRE_ETOOBIG (nothing sent)
 * for a length over WIRE_UDP_MAX_PAYLOAD. */
WIRE_EXPORT WIRE_CHECK wire_err wire_udp_send_frame(int fd, uint32_t id, uint16_t type, const void *payload,
                                                    size_t length, const wire_udp_addr *to);

/* The client's policy (SPEC 15.7): the first wait for an answer, doubled after each send up to
 * max_timeout_ms, and the most sends of one request. */
typedef struct wire_udp_policy {
    int first_timeout_ms; /* default 100 */
    int max_timeout_ms;   /* default 1000 */
    int max_sends;        /* default 8 (at most 5.5 s per request with the defaults) */
} wire_udp_policy;

/* A client over a connected UDP socket: one request outstanding at a time. Fields are read-only for
 * the caller, except policy (change it between requests). */
typedef struct wire_udp_client {
    int fd;            /* connected (wire_udp_connect()); the caller's, never closed here */
    uint8_t *buf;      /* the receive buffer, the caller's: answers point into it */
    size_t cap;
    uint32_t next_id;  /* the next request's id */
    wire_udp_policy policy;
    /* what happened so far: datagrams sent (retries included), retries alone, datagrams received
     * and dropped (another id: a duplicate or a late answer; or a bad datagram) */
    unsigned long sent, resent, dropped;
} wire_udp_client;

/* The defaults above. */
WIRE_EXPORT void wire_udp_policy_init(wire_udp_policy *p);
/* Sets up c over fd with the receive buffer buf[0..cap) (WIRE_UDP_RECV_SIZE bytes, or fewer if the
 * answers are known to be smaller: a longer one is dropped as truncated). The first id is taken
 * from the clock and the process id, so that an answer meant for an earlier run on the same port
 * is unlikely to match. WIRE_EINVAL for fd < 0, buf NULL or cap < WIRE_UDP_OVERHEAD. */
WIRE_EXPORT WIRE_CHECK wire_err wire_udp_client_init(wire_udp_client *c, int fd, void *buf, size_t cap);
/* Sends a request (type, payload[0..len)) with a new id and waits for its answer by c->policy:
 * after each timeout the same datagram again, the timeout doubled. A datagram received that fails
 * SPEC 15.3 steps 1-4 or carries another id is dropped (c->dropped). WIRE_OK: *answer is the
 * answer, a reply or an ERROR for this request (check answer->type; wire_get_error_msg() decodes an
 * ERROR), its payload in c->buf until the next request. WIRE_ETIMEOUT: no answer after
 * policy.max_sends sends. WIRE_ETOOBIG (nothing sent): len over WIRE_UDP_MAX_PAYLOAD. WIRE_ECLOSED:
 * the kernel said nobody listens (ECONNREFUSED). WIRE_EIO (errno kept). WIRE_EINVAL: a bad policy. */
WIRE_EXPORT WIRE_CHECK wire_err wire_udp_request(wire_udp_client *c, uint16_t type, const void *payload, size_t len,
                                                 wire_frame *answer);

/* ---------------------------------------------------------------------------------------------- */
/* Output queue: frames waiting to be sent                                                        */
/* ---------------------------------------------------------------------------------------------- */
/*
 * A queue of whole frames in the order they are to be sent, sent with writev (sendmsg) so that many
 * small frames leave in one system call. A frame's payload is either copied into the queue or, with
 * wire_outq_push_ref(), referenced where it is: the caller's buffer is then used in place and its
 * release function is called once the queue no longer needs it (sent, or the queue freed).
 *
 * Bounded: `limit` is the most bytes the queue takes while it is not over it. A frame is always
 * queued whole, so the queue can exceed the limit by one frame; once it is over, pushes fail with
 * WIRE_ELIMIT until sending brings it back under. (A connection stops reading its peer at the same
 * point, so a peer that does not read its replies cannot make the queue grow.)
 *
 * The queue allocates (malloc) the memory for copied frames and its segment list; everything else
 * is the caller's. Not thread-safe: one thread at a time.
 */

/* Called once the queue is done with a referenced payload. */
typedef void (*wire_release_fn)(void *arg);

/* One stretch of bytes to send; private. */
typedef struct wire__seg {
    const uint8_t *ref;      /* referenced bytes, or NULL: `off` bytes into the queue's copy buffer */
    size_t off, len;
    wire_release_fn release; /* for ref segments, called when the last byte is sent */
    void *arg;
} wire__seg;

/* An output queue. Fields are private. A zero-filled queue is invalid: call wire_outq_init(). */
typedef struct wire_outq {
    uint8_t *buf;        /* copied bytes: [head, len) are still to be sent or referenced by segments */
    size_t head, len, cap;
    wire__seg *seg;      /* segments [seg_head, nseg) are still to be sent */
    size_t seg_head, nseg, seg_cap;
    size_t pending;      /* bytes still to be sent, copied and referenced */
    size_t limit;
    size_t open;         /* between wire_outq_begin() and wire_outq_end(): where the frame starts + 1 */
} wire_outq;

WIRE_EXPORT void wire_outq_init(wire_outq *q, size_t limit);
/* Frees the queue's memory; the release function of every referenced payload not yet sent is called. */
WIRE_EXPORT void wire_outq_free(wire_outq *q);
/* Bytes still to be sent (headers included). */
static inline size_t wire_outq_pending(const wire_outq *q) { return q->pending; }
/* True while the queue is over its limit (pushes fail, a connection does not read its peer). */
static inline bool wire_outq_full(const wire_outq *q) { return q->pending > q->limit; }

/* Queues a frame of `type` whose payload is a copy of payload[0..len). WIRE_ELIMIT when the queue is
 * over its limit or memory ran out, WIRE_ERANGE when len does not fit a u32, WIRE_EINVAL between
 * begin and end; nothing is queued then. */
WIRE_EXPORT WIRE_CHECK wire_err wire_outq_push(wire_outq *q, uint16_t type, const void *payload, size_t len);
/* The same without a copy: payload[0..len) is sent in place and must stay valid and unchanged until
 * release(arg) is called (release may be NULL). If the push fails, release is NOT called and the
 * caller keeps the buffer. The queue copies payloads of a few hundred bytes or less instead (and
 * calls release before returning), which costs less than one more iovec. */
WIRE_EXPORT WIRE_CHECK wire_err wire_outq_push_ref(wire_outq *q, uint16_t type, const void *payload, size_t len,
                                                   wire_release_fn release, void *arg);
/* Encodes a frame in place: wire_outq_begin() reserves room for a payload of up to max_len bytes and
 * initialises *w over it; encode the payload's fields with w; wire_outq_end() finishes w and queues
 * the frame with the length written. If w failed (WIRE_EOVERFLOW when max_len was too small, or
 * any encoding error), end returns that error and nothing is queued. Nothing else may be pushed
 * between the two calls. begin fails as wire_outq_push() does (and *w is then a failed writer). */
WIRE_EXPORT WIRE_CHECK wire_err wire_outq_begin(wire_outq *q, uint16_t type, size_t max_len, wire_writer *w);
WIRE_EXPORT WIRE_CHECK wire_err wire_outq_end(wire_outq *q, wire_writer *w);
/* Drops the frame begun (after wire_outq_begin(), instead of wire_outq_end()): nothing is queued. */
WIRE_EXPORT void wire_outq_cancel(wire_outq *q);
/* Sends as much as fd takes, without blocking on a non-blocking socket: *sent (if not NULL) receives
 * the bytes written. WIRE_OK when the queue is empty or the socket is full; WIRE_ECLOSED when the
 * peer is gone (EPIPE, ECONNRESET); WIRE_EIO otherwise (errno kept). SIGPIPE is never raised. */
WIRE_EXPORT WIRE_CHECK wire_err wire_outq_send(wire_outq *q, int fd, size_t *sent);
/* Gives back the memory of an empty queue (a large reply must not pin its buffer for good); a queue
 * that holds frames is left as it is. */
WIRE_EXPORT void wire_outq_trim(wire_outq *q);

/* ---------------------------------------------------------------------------------------------- */
/* Connection: the protocol of SPEC.md sections 7 and 8 over one non-blocking socket              */
/* ---------------------------------------------------------------------------------------------- */
/*
 * A wire_conn owns a socket, an incremental parser, an output queue and the limits, and does the
 * protocol's own work: the HELLO exchange in either role, PONG for every PING, a received ERROR
 * turned into an error value, BYE, the checks of SPEC 8.3 in order, and the graceful close of 8.4
 * (shutdown, a bounded drain, close). What reaches the application are its own messages.
 *
 * It plugs into any event loop, as hiredis' context does: the application owns the loop, asks which
 * events the connection wants (wire_conn_events), tells it when its descriptor is readable
 * (wire_conn_read) or writable (wire_conn_write) and when its deadline has passed
 * (wire_conn_check_time), and takes complete messages with wire_conn_next():
 *
 *     for (;;) {
 *         while (wire_conn_next(c, &f) == 1) handle(c, &f);    // replies: wire_conn_send()
 *         (void)wire_conn_write(c);
 *         if (wire_conn_get_state(c) == WIRE_CONN_CLOSED) break; // wire_conn_error() says why
 *         struct pollfd p = {wire_conn_fd(c), 0, 0};
 *         unsigned ev = wire_conn_events(c);
 *         p.events = (ev & WIRE_EV_READ ? POLLIN : 0) | (ev & WIRE_EV_WRITE ? POLLOUT : 0);
 *         int64_t d = wire_conn_deadline(c);
 *         poll(&p, 1, d < 0 ? -1 : (int)(d > wire_now_ms() ? d - wire_now_ms() : 0));
 *         if (p.revents & (POLLOUT | POLLERR)) (void)wire_conn_write(c);
 *         if (p.revents & (POLLIN | POLLHUP | POLLERR)) (void)wire_conn_read(c);
 *         wire_conn_check_time(c, wire_now_ms());
 *     }
 *     wire_conn_free(c);
 *
 * Take the frames before waiting, as here: frames may already be in the buffer (several came in one
 * read, or with the peer's HELLO), and no event will announce them again.
 *
 * The engine below (wire_server) is that loop for many connections, in the course's concurrency
 * models; the blocking helpers (wire_conn_connect, wire_conn_request, ...) are that loop for one.
 *
 * Lifetimes: a frame handed out by wire_conn_next() (its payload points into the connection's input
 * buffer) stays valid until the next wire_conn_read(), wire_conn_recv(), wire_conn_request() or
 * wire_conn_free() on that connection. To keep one longer, copy it (wire_frame_dup()). What the
 * connection learnt from the peer's HELLO (wire_conn_peer_name()) lives as long as the connection.
 *
 * A connection allocates its buffers (malloc) as frames need them, within its limits: the input
 * buffer grows to the frame being received, never past max_payload, and is given back when the
 * connection is idle. One thread at a time may use a connection.
 */

typedef enum wire_role { WIRE_ROLE_CLIENT = 1, WIRE_ROLE_SERVER = 2 } wire_role;

typedef enum wire_conn_state {
    WIRE_CONN_HANDSHAKE = 1, /* HELLO not yet exchanged */
    WIRE_CONN_OPEN,          /* messages flow both ways */
    WIRE_CONN_CLOSING,       /* ending: queued output is sent, then the socket is shut down and drained */
    WIRE_CONN_CLOSED         /* over (wire_conn_error() says why): wire_conn_free() it */
} wire_conn_state;

/* What wire_conn_events() returns: the events the connection is waiting for. */
#define WIRE_EV_READ 1u
#define WIRE_EV_WRITE 2u

typedef struct wire_conn_config {
    wire_role role;
    const char *name;        /* announced in HELLO (at most WIRE_HELLO_NAME_MAX bytes; copied) */
    uint32_t max_payload;    /* the largest payload we accept, announced in HELLO (>= WIRE_MIN_MAX_PAYLOAD) */
    size_t max_queued;       /* unsent output past which the peer is not read and sends fail (> 0) */
    int idle_timeout_ms;     /* no complete frame for this long: ERROR(TIMEOUT), close; 0: none */
    int frame_timeout_ms;    /* a frame begun must be complete within this: ERROR(TIMEOUT), close; 0: none */
    int drain_ms;            /* the graceful close reads and discards for at most this long (SPEC 8.4) */
    size_t inbuf_size;       /* the input buffer's usual size: it starts at 512 bytes (or this if less),
                              * doubles up to this as reads fill it, grows past it to a frame being
                              * received, and is given back after 1 s without a read */
    /* The application's types (0x0100..0x01FF, 0x8000..0xFFFF) it serves: any other is answered
     * ERROR(UNEXPECTED, 2) from its header, without waiting for its payload (SPEC 8.3 step 3). NULL:
     * every one reaches the application. */
    bool (*serves)(uint16_t type, void *arg);
    void *serves_arg;
} wire_conn_config;

/* Defaults for a role. Server: name "wire-server", max payload 16 MiB, max queued 4 MiB, idle
 * timeout 60 s, frame timeout 10 s, drain 1 s, input buffer 16 KiB. Client: name "wire-client",
 * the same limits, no idle timeout (a client decides when it speaks), frame timeout 10 s. */
WIRE_EXPORT void wire_conn_config_init(wire_conn_config *cfg, wire_role role);

typedef struct wire_conn wire_conn;

/* Makes a connection of fd, a connected stream socket, which it then owns (closes in
 * wire_conn_free(); on failure fd is left open and the caller's). fd is switched to non-blocking. A
 * client queues its HELLO at once. WIRE_EINVAL for a bad configuration, WIRE_ELIMIT if memory ran
 * out. cfg NULL: the client defaults. */
WIRE_EXPORT WIRE_CHECK wire_err wire_conn_new(int fd, const wire_conn_config *cfg, wire_conn **out);
/* Closes the socket at once (if the connection is not CLOSED, this is an abortive close: prefer
 * wire_conn_close() and driving it to CLOSED), releases every referenced payload, frees c. NULL is
 * allowed. */
WIRE_EXPORT void wire_conn_free(wire_conn *c);

WIRE_EXPORT int wire_conn_fd(const wire_conn *c);
WIRE_EXPORT wire_conn_state wire_conn_get_state(const wire_conn *c);
WIRE_EXPORT wire_role wire_conn_role(const wire_conn *c);

/* Driving it. */
/* WIRE_EV_READ and/or WIRE_EV_WRITE: what to wait for; 0 once CLOSED. Reading is not wanted while
 * the output queue is over max_queued (backpressure), after the peer's end of stream, or while the
 * input is full of frames not yet taken: call wire_conn_next() until it returns 0 or -1 after every
 * wire_conn_read(). */
WIRE_EXPORT unsigned wire_conn_events(const wire_conn *c);
/* The time (wire_now_ms()) at which wire_conn_check_time() has something to do, or -1 for never:
 * the idle, frame and drain timeouts, a peer that does not read, trimming idle buffers. */
WIRE_EXPORT int64_t wire_conn_deadline(const wire_conn *c);
/* Reads what the socket has (one read). WIRE_OK also when nothing was there or the peer closed (the
 * end is reported by wire_conn_next() after the frames before it). On an I/O error the connection
 * is CLOSED and the error returned (WIRE_ECLOSED for a reset, WIRE_EIO). */
WIRE_EXPORT wire_err wire_conn_read(wire_conn *c);
/* Sends queued output as far as the socket takes it; once a closing connection's output is all
 * sent, shuts the socket down and starts the drain. Errors as wire_conn_read(). */
WIRE_EXPORT wire_err wire_conn_write(wire_conn *c);
/* Acts on every deadline that has passed at `now`: ERROR(TIMEOUT) and a graceful close for an idle
 * connection or a frame not completed in time; a close without ERROR for a peer that does not read
 * (an ERROR could not pass its full queue); CLOSED when a drain ends. The frame timeout does not run
 * while backpressure keeps the connection from reading the rest of the frame (the peer's own doing:
 * it does not read), and starts again when reading resumes. */
WIRE_EXPORT void wire_conn_check_time(wire_conn *c, int64_t now);
/* The next message for the application: a type of the interop service's range (0x0100..0x01FF) or
 * of the applications' (0x8000..0xFFFF), or the PONG answering a wire_conn_ping(). 1: a frame in *f
 * (see the lifetimes above). 0: none for now (more bytes are needed, or frames wait for the output
 * queue to drain under max_queued). -1: none will come any more: the connection is closing or
 * closed (keep driving it until it is CLOSED; wire_conn_error() says why). After wire_conn_bye() the
 * replies to earlier requests still come (1) while the state is CLOSING, until the peer's BYE.
 * The protocol's own frames are handled here: HELLO, PING (answered with PONG), BYE (answered),
 * ERROR (the end); a frame breaking SPEC 8.3 (a bad header, a type not allowed now: a reserved or
 * undefined one, a second HELLO, an unsolicited PONG; a bad HELLO or BYE payload) is answered with
 * its ERROR. */
WIRE_EXPORT WIRE_CHECK int wire_conn_next(wire_conn *c, wire_frame *f);
/* Asks to be told (fn(c, arg)) when a call from outside the connection's own driving (a send from
 * another connection's handler) may have changed wire_conn_events(). fn NULL: no notification. The
 * engine sets this on every connection it makes (that is how it learns of a send from another
 * connection's handler): do not change it on those. */
WIRE_EXPORT void wire_conn_set_notify(wire_conn *c, void (*fn)(wire_conn *c, void *arg), void *arg);

/* Sending. Every send needs the handshake done (WIRE_EINVAL before it, and once the connection is
 * closing), refuses a payload larger than the peer's announced max payload (WIRE_ETOOBIG), and fails
 * with WIRE_ELIMIT while the queue is over max_queued; nothing is queued on failure. Frames leave
 * on the next wire_conn_write(). */
WIRE_EXPORT WIRE_CHECK wire_err wire_conn_send(wire_conn *c, uint16_t type, const void *payload, size_t len);
/* The same without copying payload, which must stay valid until release(arg) (see
 * wire_outq_push_ref()). */
WIRE_EXPORT WIRE_CHECK wire_err wire_conn_send_ref(wire_conn *c, uint16_t type, const void *payload, size_t len,
                                                   wire_release_fn release, void *arg);
/* Queues a frame whose payload is the payload of f, a frame this connection just handed out, without
 * a copy (ECHO, PONG): the input buffer keeps those bytes until they are sent. */
WIRE_EXPORT WIRE_CHECK wire_err wire_conn_send_frame_payload(wire_conn *c, uint16_t type, const wire_frame *f);
/* Encodes a frame in place (see wire_outq_begin()): max_len bounds the payload; end checks it
 * against the peer's max payload (WIRE_ETOOBIG, nothing queued). After a failed begin, *w is a
 * failed writer: its puts do nothing, and wire_conn_end() returns begin's error (calling it is
 * allowed, not required). */
WIRE_EXPORT WIRE_CHECK wire_err wire_conn_begin(wire_conn *c, uint16_t type, size_t max_len, wire_writer *w);
WIRE_EXPORT WIRE_CHECK wire_err wire_conn_end(wire_conn *c, wire_writer *w);
/* Drops the frame begun instead of queueing it (a request that turns out invalid halfway through
 * its reply: ROUNDTRIP). */
WIRE_EXPORT void wire_conn_cancel(wire_conn *c);
/* Sends PING with this payload; the PONG comes back through wire_conn_next() (an unsolicited PONG
 * is refused with UNEXPECTED, SPEC 7.5). */
WIRE_EXPORT WIRE_CHECK wire_err wire_conn_ping(wire_conn *c, const void *payload, size_t len);

/* Ending. */
/* Sends BYE and sends nothing more; replies to earlier requests still come through
 * wire_conn_next(), then the peer's BYE ends the connection with WIRE_OK (SPEC 8.5); an EOF instead
 * ends it with WIRE_ECLOSED. The wait is bounded: drain_ms without a byte from the peer ends it with
 * WIRE_ETIMEOUT. */
WIRE_EXPORT WIRE_CHECK wire_err wire_conn_bye(wire_conn *c);
/* Ends the connection gracefully at the next frame boundary: a frame being received is still
 * completed (within the frame timeout) and handed out, queued output is sent, then shutdown, bounded
 * drain, close. What a server does when it stops. A peer that does not take the queued output gets
 * the frame timeout for it (the drain time if there is no frame timeout), then the connection is
 * CLOSED without it. */
WIRE_EXPORT void wire_conn_close(wire_conn *c);
/* Ends the connection at once: what is queued is dropped, nothing more is read or sent, it is CLOSED
 * (errstr "aborted" unless it was already ending for another reason). For a peer that must go now
 * (a chat member that cannot keep up). In the engine it is freed right after the current handler
 * returns. */
WIRE_EXPORT void wire_conn_abort(wire_conn *c);
/* Sends ERROR(code, offset, text) and closes gracefully (SPEC 8.4); the text is code's message, then
 * ": " and detail if detail is not NULL. offset: in the offending frame, header included, or
 * WIRE_NO_OFFSET. Does nothing on a connection already closing. */
WIRE_EXPORT void wire_conn_fail(wire_conn *c, wire_err code, uint32_t offset, const char *detail);
/* wire_conn_fail() for a reader that failed on a received payload: its error at frame offset
 * 8 + payload offset, a missing or wrongly typed field (WIRE_ETYPE, WIRE_EINVAL) being MESSAGE. */
WIRE_EXPORT void wire_conn_fail_reader(wire_conn *c, const wire_reader *r, const char *detail);

/* What is known. */
/* The peer's max payload from its HELLO (0 before the handshake). */
WIRE_EXPORT uint32_t wire_conn_peer_max(const wire_conn *c);
/* The peer's HELLO name (not NUL-terminated, *len bytes; "" before the handshake). */
WIRE_EXPORT const char *wire_conn_peer_name(const wire_conn *c, size_t *len);
/* The peer's address: "127.0.0.1:5000", "[::1]:5000", "unix" or "?", learnt when the connection was
 * made. */
WIRE_EXPORT const char *wire_conn_peer_addr(const wire_conn *c);
/* Bytes queued and not yet sent. */
WIRE_EXPORT size_t wire_conn_queued(const wire_conn *c);

typedef struct wire_conn_stats {
    uint64_t frames_in, bytes_in;   /* frames received complete, bytes read */
    uint64_t frames_out, bytes_out; /* frames queued, bytes written */
} wire_conn_stats;
WIRE_EXPORT void wire_conn_get_stats(const wire_conn *c, wire_conn_stats *s);

/* Why the connection ended, or is ending: WIRE_OK while it is fine and after a BYE exchange; the code
 * of the ERROR we sent; WIRE_EPEER when the peer sent an ERROR (wire_conn_peer_error() gives it);
 * WIRE_ECLOSED when the peer closed without BYE; WIRE_ETRUNCATED when it closed in the middle of a
 * frame; WIRE_ETIMEOUT; WIRE_EIO (errno in *sys_errno if not NULL). */
WIRE_EXPORT wire_err wire_conn_error(const wire_conn *c, int *sys_errno);
/* The same as one line for a log: "BYE", "sent ERROR MESSAGE at offset 9 (...)", "peer sent ERROR 19:
 * ...", "peer closed", ... ("" while nothing happened). Valid as long as the connection. */
WIRE_EXPORT const char *wire_conn_errstr(const wire_conn *c);
/* True if the peer ended the connection with an ERROR: *m receives its code, offset and text (the
 * text lives as long as the connection). */
WIRE_EXPORT bool wire_conn_peer_error(const wire_conn *c, wire_error_msg *m);

/* One pointer of the application's per connection (NULL at first). */
WIRE_EXPORT void wire_conn_set_data(wire_conn *c, void *data);
WIRE_EXPORT void *wire_conn_data(const wire_conn *c);

/* A copy of a frame that outlives the buffer it came from: one malloc holding the struct and the
 * payload; free() it. NULL if memory ran out. */
WIRE_EXPORT wire_frame *wire_frame_dup(const wire_frame *f);

/* ---------------------------------------------------------------------------------------------- */
/* Blocking helpers: one connection, for script-like programs                                     */
/* ---------------------------------------------------------------------------------------------- */
/*
 * The event loop above for one connection, waiting with poll(). timeout_ms bounds the whole call
 * (<= 0: no limit): WIRE_ETIMEOUT when it passed, and the connection stays usable (a frame half
 * received is kept). While waiting, queued output is sent and PINGs are answered.
 */

/* Connects (host/port as wire_tcp_connect()) and exchanges HELLOs, all within timeout_ms. On
 * success *out is an OPEN client connection; a message that came together with the server's HELLO
 * waits for wire_conn_recv(). On failure *out is NULL and errbuf says why, a server's refusal
 * included (WIRE_EPEER, errbuf "peer sent ERROR LIMIT (19): a resource limit was reached: too many
 * connections"). cfg NULL: the client defaults. */
WIRE_EXPORT WIRE_CHECK wire_err wire_conn_connect(const char *host, const char *port, const wire_conn_config *cfg,
                                                  int timeout_ms, wire_conn **out, char *errbuf, size_t errlen);
/* The same over a Unix-domain socket. */
WIRE_EXPORT WIRE_CHECK wire_err wire_conn_connect_unix(const char *path, const wire_conn_config *cfg, int timeout_ms,
                                                       wire_conn **out, char *errbuf, size_t errlen);
/* Waits until the handshake of c (a connection made by wire_conn_new()) is done. Frames that came
 * after the peer's HELLO stay for wire_conn_next() / wire_conn_recv(). */
WIRE_EXPORT WIRE_CHECK wire_err wire_conn_handshake(wire_conn *c, int timeout_ms);
/* Waits until the output queue is empty. */
WIRE_EXPORT WIRE_CHECK wire_err wire_conn_flush(wire_conn *c, int timeout_ms);
/* Waits for the next application message (see wire_conn_next() for what it is and how long *f
 * lives). At the end: WIRE_ECLOSED after a BYE exchange or the peer's close at a frame boundary,
 * otherwise what wire_conn_error() says. */
WIRE_EXPORT WIRE_CHECK wire_err wire_conn_recv(wire_conn *c, wire_frame *f, int timeout_ms);
/* Sends a request and waits for the next message, its reply (*reply as for wire_conn_recv()). */
WIRE_EXPORT WIRE_CHECK wire_err wire_conn_request(wire_conn *c, uint16_t type, const void *payload, size_t len,
                                                  wire_frame *reply, int timeout_ms);
/* Says BYE and waits for the connection to end (replies still to come are discarded). WIRE_OK when
 * the peer answered BYE or closed; WIRE_ETIMEOUT when it did neither within timeout_ms or the
 * configuration's drain_ms; another code if the connection failed meanwhile. The connection is
 * CLOSED afterwards either way: free it. */
WIRE_EXPORT wire_err wire_conn_hangup(wire_conn *c, int timeout_ms);

/* ---------------------------------------------------------------------------------------------- */
/* Server engine: a handler run under one of the course's concurrency models                       */
/* ---------------------------------------------------------------------------------------------- */
/*
 * The application writes a handler (a frame in, replies queued on the connection); the engine
 * accepts connections, makes each a server wire_conn (the handshake, PING, BYE, ERROR and the
 * graceful close are done there), calls the handler for every application message, and applies the
 * limits: max payload (refused from the header), connections at once (one more gets ERROR(LIMIT)),
 * idle and frame timeouts, max queued output and the backpressure that comes with it. Its timers are
 * a min-heap of connection deadlines (the poll timeout is the nearest one).
 *
 * Models (wire_server_config.model):
 *   epoll, poll, select  one thread, non-blocking sockets, an event loop over that system call
 *                        (select only watches descriptors below FD_SETSIZE); or several such
 *                        loops on as many threads (wire_server_config.loops), to use more cores
 *   fork                 one child process per connection; the parent accepts, refuses and reaps
 *                        its children on SIGCHLD (SIGCHLD is caught while wire_server_run() runs)
 *   thread               one thread per connection
 *   iterative            one connection at a time, the others wait in the listen backlog
 * In fork and thread, each connection runs the same wire_conn in a poll() loop of its own; the
 * accepting loop refuses the connections over the limit without blocking. Handlers run in the
 * connection's thread or process: under thread they run concurrently (share nothing unguarded);
 * under fork each runs in its own copy of the program, so state shared between connections (a chat
 * room) needs an event-loop model.
 *
 * Under epoll, poll and select, every callback runs in the one loop thread, and a handler may call
 * wire_conn_send(), wire_conn_close() or wire_conn_abort() on any other open connection (one it
 * learnt of in on_open): the engine sends that connection's output after the handler returns. A
 * connection is freed only after its own on_close, never in the middle of another's callback, so a
 * list of connections kept by the application stays valid while it is walked. Under thread such a
 * call from another thread is a data race; under fork the other connection is in another process.
 *
 * Out of descriptors (EMFILE), the loop frees a descriptor it keeps in reserve, accepts and closes
 * the pending connections (with ERROR(LIMIT) when it can), and stops watching the listener for a
 * moment: it never spins. wire_server_stop() (async-signal-safe) stops accepting; frames in flight
 * are answered, queued replies sent, within the frame timeout; then wire_server_run() returns.
 */

typedef enum wire_model {
    WIRE_MODEL_EPOLL = 1,
    WIRE_MODEL_POLL,
    WIRE_MODEL_SELECT,
    WIRE_MODEL_FORK,
    WIRE_MODEL_THREAD,
    WIRE_MODEL_ITERATIVE
} wire_model;

/* "epoll", "poll", "select", "fork", "thread", "iterative" (NULL for another value). */
WIRE_EXPORT const char *wire_model_name(wire_model m);
/* The model of that name; WIRE_EINVAL for an unknown one, or epoll where there is no epoll. */
WIRE_EXPORT WIRE_CHECK wire_err wire_model_from_name(const char *name, wire_model *m);

typedef struct wire_server wire_server;

typedef struct wire_server_config {
    wire_model model;        /* default: epoll on Linux, poll elsewhere */
    wire_conn_config conn;   /* every connection's limits and HELLO name (role: server) */
    int max_conns;           /* connections served at once (default 1024), over every loop */
    /* Event loops, each on its own thread, for epoll, poll and select (default 1; 0: one per online
     * CPU); the other models take 1 only. Every loop watches the listeners (epoll wakes one of them
     * per connection, EPOLLEXCLUSIVE) and serves the connections it accepts to their end, so the
     * loops share nothing but the count of connections. With more than one, callbacks run on
     * several threads at once, as under thread: a handler may touch another connection only if it
     * was opened in the same loop, which it cannot know, so not at all. */
    int loops;
    int refuse_drain_ms;     /* how long a refused connection is drained (default 200) */
    /* After a connection's handshake (optional). */
    void (*on_open)(wire_conn *c, void *user);
    /* Every message for the application (required): types 0x0100..0x01FF and 0x8000..0xFFFF, the
     * protocol's own being handled by the connection (see wire_conn_next()). f lives until the
     * handler returns (copy what must last). Replies: wire_conn_send() and friends; a refusal:
     * wire_conn_fail() (ERROR(UNEXPECTED, 2) for a type it does not serve). */
    void (*on_frame)(wire_conn *c, const wire_frame *f, void *user);
    /* Every connection, when it has ended, before it is freed (optional), also those that never
     * reached on_open (a failed handshake, a refusal over max_conns): wire_conn_error(),
     * wire_conn_errstr(), wire_conn_get_stats() say how it went. */
    void (*on_close)(wire_conn *c, void *user);
    /* The engine's own events, one line each (out of descriptors, fork failed...); NULL: silent. */
    void (*on_log)(void *user, const char *line);
    void *user;              /* passed to every callback */
} wire_server_config;

WIRE_EXPORT void wire_server_config_init(wire_server_config *cfg);
/* A server with no listener yet. WIRE_EINVAL (and why in errbuf) for a bad configuration; *out is
 * NULL on failure. */
WIRE_EXPORT WIRE_CHECK wire_err wire_server_new(const wire_server_config *cfg, wire_server **out, char *errbuf,
                                                size_t errlen);
/* Listens on host:port (as wire_tcp_listen(), backlog 128); *bound (if not NULL) receives the port. */
WIRE_EXPORT WIRE_CHECK wire_err wire_server_listen_tcp(wire_server *s, const char *host, const char *port,
                                                       uint16_t *bound, char *errbuf, size_t errlen);
/* Listens on a Unix-domain socket too (removed by wire_server_free()). */
WIRE_EXPORT WIRE_CHECK wire_err wire_server_listen_unix(wire_server *s, const char *path, char *errbuf,
                                                        size_t errlen);
/* Serves until wire_server_stop(), then returns once every connection has ended: WIRE_OK, or the
 * error that kept it from running (errbuf says which). */
WIRE_EXPORT WIRE_CHECK wire_err wire_server_run(wire_server *s, char *errbuf, size_t errlen);
/* Asks wire_server_run() to stop. Async-signal-safe (one write() to a pipe) and callable from any
 * thread, errno preserved: call it from a SIGTERM handler. */
WIRE_EXPORT void wire_server_stop(wire_server *s);
/* Closes the listeners and frees the server (after wire_server_run() has returned). NULL allowed. */
WIRE_EXPORT void wire_server_free(wire_server *s);

/* ---------------------------------------------------------------------------------------------- */
/* Platform self-check                                                                            */
/* ---------------------------------------------------------------------------------------------- */

/* Checks at run time what SPEC.md assumes of the host: 8-bit bytes, IEEE 754 binary32/binary64
 * floats with the same byte order as integers (checked on known bit patterns), two's complement
 * integers. Returns WIRE_OK or WIRE_EINVAL (and a reason in errbuf if not NULL). The same facts are
 * also checked at compile time where C allows. */
WIRE_EXPORT WIRE_CHECK wire_err wire_selfcheck(char *errbuf, size_t errlen);

/* ================================================================================================ */
/* Inline fast paths. Not part of the documented surface: use the functions declared above.        */
/* The hot puts/gets are inline so that encoding a struct costs about what hand-written stores      */
/* would; anything unusual (lists, sizing mode, errors) goes to an out-of-line slow path.           */
/* ================================================================================================ */

WIRE_EXPORT WIRE__COLD uint8_t *wire__put_slow(wire_writer *w, uint8_t tag, size_t n);
WIRE_EXPORT WIRE__COLD const uint8_t *wire__get_slow(wire_reader *r, uint8_t tag, size_t n);
WIRE_EXPORT WIRE__COLD wire_err wire__put_blob_slow(wire_writer *w, uint8_t tag, const void *data, size_t len);
WIRE_EXPORT WIRE__COLD wire_err wire__put_bad_utf8(wire_writer *w);
WIRE_EXPORT wire_err wire__bad_bool(wire_reader *r, const uint8_t *at);
WIRE_EXPORT WIRE__COLD wire_err wire__get_blob_slow(wire_reader *r, uint8_t tag, const uint8_t **data, size_t *len);

static inline void wire__store16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void wire__store32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void wire__store64(uint8_t *p, uint64_t v) {
    wire__store32(p, (uint32_t)(v >> 32));
    wire__store32(p + 4, (uint32_t)v);
}
static inline uint16_t wire__load16(const uint8_t *p) { return (uint16_t)((unsigned)p[0] << 8 | p[1]); }
static inline uint32_t wire__load32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
static inline uint64_t wire__load64(const uint8_t *p) {
    return (uint64_t)wire__load32(p) << 32 | wire__load32(p + 4);
}

/* The fast path of a fixed-size put: the tag and the value are stored, and only then the cursor, so
 * that the compiler can carry the cursor in a register from one put to the next (a byte store may
 * alias anything, so a cursor stored before the bytes would have to be read back from memory). The
 * second fast path is a list element of the list's type. The slow path (other list elements, sizing
 * mode, errors) returns where the n value bytes go, or NULL. */
#define WIRE__PUT(name, ctype, tag, n, store)                                                      \
    static inline wire_err wire_put_##name(wire_writer *w, ctype v) {                              \
        uint8_t *p = w->p;                                                                         \
        if (WIRE__LIKELY(w->end - p > (ptrdiff_t)(n))) {                                           \
            p[0] = (tag);                                                                          \
            store(p + 1, v);                                                                       \
            w->p = p + 1 + (n);                                                                    \
            return WIRE_OK;                                                                        \
        }                                                                                          \
        if (w->elem == (tag) && (size_t)(w->lend - p) >= (n) && w->count != 0xFFFFFFFFu) {         \
            uint32_t c = w->count;                                                                 \
            store(p, v);                                                                           \
            w->p = p + (n);                                                                        \
            w->count = c + 1;                                                                      \
            return WIRE_OK;                                                                        \
        }                                                                                          \
        p = wire__put_slow(w, (tag), (n));                                                         \
        if (p) store(p, v);                                                                        \
        return w->err;                                                                             \
    }
static inline void wire__store8(uint8_t *p, uint8_t v) { p[0] = v; }
/* Signed values: the conversion to the unsigned type of the same width is defined by C (modulo 2^n)
 * and gives the two's complement pattern. */
static inline void wire__store8s(uint8_t *p, int8_t v) { p[0] = (uint8_t)v; }
static inline void wire__store16s(uint8_t *p, int16_t v) { wire__store16(p, (uint16_t)v); }
static inline void wire__store32s(uint8_t *p, int32_t v) { wire__store32(p, (uint32_t)v); }
static inline void wire__store64s(uint8_t *p, int64_t v) { wire__store64(p, (uint64_t)v); }
static inline void wire__storeb(uint8_t *p, bool v) { p[0] = v ? 1 : 0; }
WIRE__PUT(u8, uint8_t, WIRE_T_U8, 1, wire__store8)
WIRE__PUT(u16, uint16_t, WIRE_T_U16, 2, wire__store16)
WIRE__PUT(u32, uint32_t, WIRE_T_U32, 4, wire__store32)
WIRE__PUT(u64, uint64_t, WIRE_T_U64, 8, wire__store64)
WIRE__PUT(i8, int8_t, WIRE_T_I8, 1, wire__store8s)
WIRE__PUT(i16, int16_t, WIRE_T_I16, 2, wire__store16s)
WIRE__PUT(i32, int32_t, WIRE_T_I32, 4, wire__store32s)
WIRE__PUT(i64, int64_t, WIRE_T_I64, 8, wire__store64s)
WIRE__PUT(bool, bool, WIRE_T_BOOL, 1, wire__storeb)
WIRE__PUT(f32_bits, uint32_t, WIRE_T_F32, 4, wire__store32)
WIRE__PUT(f64_bits, uint64_t, WIRE_T_F64, 8, wire__store64)
#undef WIRE__PUT

static inline wire_err wire_put_f32(wire_writer *w, float v) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    return wire_put_f32_bits(w, bits);
}
static inline wire_err wire_put_f64(wire_writer *w, double v) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return wire_put_f64_bits(w, bits);
}

/* Length-prefixed values: the fast path when the whole field fits; strings are checked first. */
static inline wire_err wire__put_blob(wire_writer *w, uint8_t tag, const void *data, size_t len) {
    uint8_t *p = w->p;
    ptrdiff_t room = w->end - p;
    if (WIRE__LIKELY(room > 4 && len < (size_t)room - 4 && len <= 0xFFFFFFFFu)) {
        p[0] = tag;
        wire__store32(p + 1, (uint32_t)len);
        if (len) memcpy(p + 5, data, len);
        w->p = p + 5 + len;
        return WIRE_OK;
    }
    return wire__put_blob_slow(w, tag, data, len);
}
static inline wire_err wire_put_bytes(wire_writer *w, const void *data, size_t len) {
    return wire__put_blob(w, WIRE_T_BYTES, data, len);
}
/* UTF-8 check, inline for ASCII: 8 bytes at a time (memcpy: no unaligned access), then byte by byte;
 * the strict checker takes over from the 8-byte block or the byte that has a high bit set. */
static inline bool wire__utf8_ok(const char *s, size_t len) {
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0;
    for (; len - i >= 8; i += 8) {
        uint64_t c;
        memcpy(&c, u + i, sizeof c);
        if (c & 0x8080808080808080u) return wire_utf8_valid(u + i, len - i, NULL);
    }
    for (; i < len; i++)
        if (u[i] & 0x80) return wire_utf8_valid(u + i, len - i, NULL);
    return true;
}
static inline wire_err wire_put_string(wire_writer *w, const char *s, size_t len) {
    /* a peer would reject invalid UTF-8: refuse to send it (the slow path records the error) */
    if (!wire__utf8_ok(s, len)) return wire__put_bad_utf8(w);
    return wire__put_blob(w, WIRE_T_STRING, s, len);
}

/* The n value bytes of the next field of type tag (or next list element), or NULL after an error.
 * Fast paths: a whole field, and an element of a list of that type; the slow path reports errors. */
static inline const uint8_t *wire__get(wire_reader *r, uint8_t tag, size_t n) {
    size_t pos = r->pos, left = r->end - pos;
    if (WIRE__LIKELY(r->elem == 0)) {
        if (WIRE__LIKELY(n < left && r->buf[pos] == tag)) {
            r->pos = pos + n + 1;
            return r->buf + pos + 1;
        }
    } else if (r->elem == tag && r->left != 0 && n <= left) {
        r->left--;
        r->pos = pos + n;
        return r->buf + pos;
    }
    return wire__get_slow(r, tag, n);
}

/* The same without the whole-field case, which the gets below test first themselves: a value loaded
 * there needs no test of the pointer (the compiler cannot know that buf + pos + 1 is not NULL). */
static inline const uint8_t *wire__get_rest(wire_reader *r, uint8_t tag, size_t n) {
    size_t pos = r->pos, left = r->end - pos;
    if (r->elem == tag && r->left != 0 && n <= left) {
        r->left--;
        r->pos = pos + n;
        return r->buf + pos;
    }
    return wire__get_slow(r, tag, n);
}

/* The body of a fixed-size get. A value handed out means no error: WIRE_OK without reading err. */
#define WIRE__GET_FIELD(tag, n, expr)                                                              \
    size_t pos_ = r->pos;                                                                          \
    if (WIRE__LIKELY(r->elem == 0 && (n) < r->end - pos_ && r->buf[pos_] == (tag))) {              \
        const uint8_t *p = r->buf + pos_ + 1;                                                      \
        r->pos = pos_ + (n) + 1;                                                                   \
        *out = (expr);                                                                             \
        return WIRE_OK;                                                                            \
    }                                                                                              \
    const uint8_t *p = wire__get_rest(r, (tag), (n));                                              \
    if (WIRE__LIKELY(p != NULL)) {                                                                 \
        *out = (expr);                                                                             \
        return WIRE_OK;                                                                            \
    }                                                                                              \
    *out = 0;                                                                                      \
    return r->err;

#define WIRE__GET(name, ctype, tag, n, expr)                                                       \
    static inline wire_err wire_get_##name(wire_reader *r, ctype *out) { WIRE__GET_FIELD(tag, n, (ctype)(expr)) }
WIRE__GET(u8, uint8_t, WIRE_T_U8, 1, p[0])
WIRE__GET(u16, uint16_t, WIRE_T_U16, 2, wire__load16(p))
WIRE__GET(u32, uint32_t, WIRE_T_U32, 4, wire__load32(p))
WIRE__GET(u64, uint64_t, WIRE_T_U64, 8, wire__load64(p))
WIRE__GET(f32_bits, uint32_t, WIRE_T_F32, 4, wire__load32(p))
WIRE__GET(f64_bits, uint64_t, WIRE_T_F64, 8, wire__load64(p))
#undef WIRE__GET

/* Unsigned to signed without implementation-defined conversions: values above the signed maximum
 * are mapped by subtracting 2^n in arithmetic that cannot overflow. */
static inline int8_t wire_i8_from_bits(uint8_t u) { return u <= 0x7F ? (int8_t)u : (int8_t)(-1 - (int)(0xFFu - u)); }
static inline int16_t wire_i16_from_bits(uint16_t u) {
    return u <= 0x7FFF ? (int16_t)u : (int16_t)(-1 - (int32_t)(0xFFFFu - u));
}
static inline int32_t wire_i32_from_bits(uint32_t u) {
    return u <= 0x7FFFFFFFu ? (int32_t)u : (int32_t)(-1 - (int32_t)(0xFFFFFFFFu - u));
}
static inline int64_t wire_i64_from_bits(uint64_t u) {
    return u <= 0x7FFFFFFFFFFFFFFFu ? (int64_t)u : (int64_t)(-1 - (int64_t)(0xFFFFFFFFFFFFFFFFu - u));
}

#define WIRE__GETS(name, ctype, tag, n, expr)                                                      \
    static inline wire_err wire_get_##name(wire_reader *r, ctype *out) { WIRE__GET_FIELD(tag, n, expr) }
WIRE__GETS(i8, int8_t, WIRE_T_I8, 1, wire_i8_from_bits(p[0]))
WIRE__GETS(i16, int16_t, WIRE_T_I16, 2, wire_i16_from_bits(wire__load16(p)))
WIRE__GETS(i32, int32_t, WIRE_T_I32, 4, wire_i32_from_bits(wire__load32(p)))
WIRE__GETS(i64, int64_t, WIRE_T_I64, 8, wire_i64_from_bits(wire__load64(p)))
#undef WIRE__GETS
#undef WIRE__GET_FIELD

static inline wire_err wire_get_f32(wire_reader *r, float *out) {
    uint32_t bits;
    wire_err e = wire_get_f32_bits(r, &bits);
    memcpy(out, &bits, sizeof bits);
    return e;
}
static inline wire_err wire_get_f64(wire_reader *r, double *out) {
    uint64_t bits;
    wire_err e = wire_get_f64_bits(r, &bits);
    memcpy(out, &bits, sizeof bits);
    return e;
}

static inline wire_err wire_get_bool(wire_reader *r, bool *out) {
    const uint8_t *p = wire__get(r, WIRE_T_BOOL, 1);
    *out = p != NULL && *p == 1;
    if (WIRE__LIKELY(p == NULL || *p <= 1)) return r->err;
    *out = false;
    return wire__bad_bool(r, p);
}

/* Length-prefixed values: the fast path when tag, length and data are all there (and, for a string,
 * valid UTF-8); the slow path finds and reports exactly what is wrong. */
static inline wire_err wire__get_blob(wire_reader *r, uint8_t tag, const uint8_t **data, size_t *len) {
    size_t pos = r->pos, left = r->end - pos;
    if (WIRE__LIKELY(r->elem == 0 && left > 4 && r->buf[pos] == tag)) {
        uint32_t n = wire__load32(r->buf + pos + 1);
        const uint8_t *p = r->buf + pos + 5;
        if (WIRE__LIKELY(n <= left - 5 && (tag != WIRE_T_STRING || wire__utf8_ok((const char *)p, n)))) {
            r->pos = pos + 5 + n;
            *data = p;
            *len = n;
            return WIRE_OK;
        }
    }
    return wire__get_blob_slow(r, tag, data, len);
}
static inline wire_err wire_get_string(wire_reader *r, const char **s, size_t *len) {
    const uint8_t *p;
    wire_err e = wire__get_blob(r, WIRE_T_STRING, &p, len);
    *s = (const char *)p;
    return e;
}
static inline wire_err wire_get_bytes(wire_reader *r, const uint8_t **data, size_t *len) {
    return wire__get_blob(r, WIRE_T_BYTES, data, len);
}

/* Begin, end, init and finish: their common case inline too (the exported functions stay, for the
 * ABI and for taking their address; the macros below send direct calls here). Each fast path does
 * exactly what the function does in that case; anything else calls the function. */
static inline bool wire__is_tag(int t) {
    switch (t) {
#define WIRE__IS_TAG(name, tag, text) case tag:
        WIRE_TYPES(WIRE__IS_TAG)
#undef WIRE__IS_TAG
        return true;
    default:
        return false;
    }
}

static inline void wire__writer_init(wire_writer *w, void *buf, size_t cap) {
    /* only what is read before it is written: open[] is written when a container opens */
    w->count = 0;
    w->elem = 0;
    w->depth = 0;
    w->err = WIRE_OK;
    w->counted = 0;
    w->err_offset = 0;
    if (buf) {
        w->buf = w->p = (uint8_t *)buf;
        w->end = w->limit = w->buf + cap;
    } else {
        w->buf = NULL;
        w->p = w->end = w->limit = w->scratch; /* sizing mode: end == p sends every put to the slow path */
    }
    w->lend = w->p;
}

static inline WIRE_CHECK wire_err wire__writer_finish(const wire_writer *w, size_t *len) {
    if (len) *len = w->buf ? (size_t)(w->p - w->buf) : w->counted;
    if (w->err) return w->err;
    return w->depth ? WIRE_EINVAL : WIRE_OK;
}

/* A list field that fits, outside a list (end - p > 5 says: buffer mode, no error, not directly in a
 * list), below the depth limit, of a valid element type. */
static inline wire_err wire__put_list_begin(wire_writer *w, wire_type elem) {
    uint8_t *p = w->p;
    if (WIRE__LIKELY(w->end - p > 5 && w->depth < WIRE_MAX_DEPTH && wire__is_tag((int)elem))) {
        wire__open *o = &w->open[w->depth];
        p[0] = WIRE_T_LIST;
        p[1] = (uint8_t)elem;
        memset(p + 2, 0, 4); /* patched by the matching end */
        o->at = (size_t)(p + 2 - w->buf);
        o->count = w->count;
        o->elem = (uint8_t)elem;
        w->depth++;
        w->p = p + 6;
        w->count = 0;
        w->elem = (uint8_t)elem;
        w->end = w->buf; /* directly in a list: fields go to the slow path */
        w->lend = w->limit;
        return WIRE_OK;
    }
    return wire_put_list_begin(w, elem);
}

/* Buffer mode, no error, the innermost container is a list (elem != 0 only then), enclosed by
 * nothing or by a group (otherwise the function sets the ends). */
static inline wire_err wire__put_list_end(wire_writer *w) {
    if (WIRE__LIKELY(w->err == WIRE_OK && w->elem != 0 && w->buf != NULL &&
                     (w->depth == 1 || w->open[w->depth - 2].elem == 0))) {
        wire__open *o = &w->open[w->depth - 1];
        wire__store32(w->buf + o->at, w->count);
        w->depth--;
        w->count = o->count;
        w->elem = 0;
        w->end = w->limit;
        w->lend = w->buf;
        return WIRE_OK;
    }
    return wire_put_list_end(w);
}

static inline void wire__reader_init(wire_reader *r, const void *buf, size_t len) {
    r->buf = (const uint8_t *)buf;
    r->pos = 0;
    r->end = len;
    r->left = 0;
    r->elem = 0;
    r->depth = 0;
    r->err = WIRE_OK;
    r->err_offset = 0;
}

/* Smallest encoded value of an element type, 0 for a byte that is no tag (as the library's own). */
static inline uint64_t wire__elem_min(uint8_t e) {
    switch (e) {
    case WIRE_T_U8: case WIRE_T_I8: case WIRE_T_BOOL: return 1;
    case WIRE_T_U16: case WIRE_T_I16: return 2;
    case WIRE_T_U32: case WIRE_T_I32: case WIRE_T_F32: case WIRE_T_STRING: case WIRE_T_BYTES: case WIRE_T_GROUP: return 4;
    case WIRE_T_LIST: return 5;
    case WIRE_T_U64: case WIRE_T_I64: case WIRE_T_F64: return 8;
    default: return 0;
    }
}

/* A whole list header outside a list, below the depth limit, with a valid element tag and an honest
 * count (n * min <= remaining is n <= remaining / min without a division). After an error end == pos,
 * so the length test fails. */
static inline wire_err wire__get_list_begin(wire_reader *r, wire_type *elem, uint32_t *count) {
    size_t pos = r->pos, rem = r->end - pos;
    if (WIRE__LIKELY(r->elem == 0 && rem >= 6 && r->buf[pos] == WIRE_T_LIST && r->depth < WIRE_MAX_DEPTH)) {
        uint8_t e = r->buf[pos + 1];
        uint64_t min = wire__elem_min(e);
        uint32_t n = wire__load32(r->buf + pos + 2);
        if (WIRE__LIKELY(min != 0 && (uint64_t)n * min <= rem - 6)) {
            wire__saved *s = &r->open[r->depth];
            s->end = r->end;
            s->left = r->left;
            s->elem = 0;
            r->depth++;
            r->pos = pos + 6;
            r->elem = e;
            r->left = n;
            *elem = (wire_type)e;
            *count = n;
            return WIRE_OK;
        }
    }
    return wire_get_list_begin(r, elem, count);
}

/* Every element read, no error: only the enclosing state comes back. */
static inline wire_err wire__get_list_end(wire_reader *r) {
    if (WIRE__LIKELY(r->err == WIRE_OK && r->elem != 0 && r->left == 0)) {
        const wire__saved *s = &r->open[--r->depth];
        r->end = s->end;
        r->left = s->left;
        r->elem = s->elem;
        return WIRE_OK;
    }
    return wire_get_list_end(r);
}

/* Nothing open, nothing left, no error: the whole buffer was valid. */
static inline WIRE_CHECK wire_err wire__reader_finish(wire_reader *r) {
    if (WIRE__LIKELY(r->err == WIRE_OK && r->depth == 0 && r->pos == r->end)) return WIRE_OK;
    return wire_reader_finish(r);
}

/* Frame headers (SPEC.md section 1), inline: the same bytes, checks, order, codes and offsets as the
 * exported functions, which call these. */
static inline void wire__header_encode(uint8_t out[WIRE_HEADER_SIZE], uint16_t type, uint32_t length) {
    out[0] = WIRE_PROTOCOL_VERSION;
    out[1] = 0;
    wire__store16(out + 2, type);
    wire__store32(out + 4, length);
}

static inline WIRE_CHECK wire_err wire__header_decode(const uint8_t in[WIRE_HEADER_SIZE], uint32_t max_payload,
                                                      wire_header *h, size_t *err_offset) {
    h->version = in[0];
    h->flags = in[1];
    h->type = wire__load16(in + 2);
    h->length = wire__load32(in + 4);
    wire_err e = WIRE_OK;
    size_t at = 0;
    /* SPEC order: version, flags, type, length. */
    if (h->version != WIRE_PROTOCOL_VERSION) e = WIRE_EVERSION, at = 0;
    else if (h->flags != 0) e = WIRE_EHEADER, at = 1;
    else if (h->type == 0) e = WIRE_EHEADER, at = 2;
    else if (h->length > max_payload) e = WIRE_ETOOBIG, at = 4;
    if (err_offset) *err_offset = at;
    return e;
}

static inline WIRE_CHECK int wire__frame_parse(const void *buf, size_t len, uint32_t max_payload, wire_frame *f,
                                               wire_err *err, size_t *err_offset) {
    const uint8_t *p = (const uint8_t *)buf;
    wire_header h;
    *err = WIRE_OK;
    if (len < WIRE_HEADER_SIZE) return 0;
    *err = wire__header_decode(p, max_payload, &h, err_offset);
    if (*err) return -1;
    if (len - WIRE_HEADER_SIZE < h.length) return 0;
    f->type = h.type;
    f->length = h.length;
    f->payload = p + WIRE_HEADER_SIZE;
    f->size = WIRE_HEADER_SIZE + (size_t)h.length;
    return 1;
}

#ifndef WIRE__NO_INLINE_MACROS /* defined by the sources that define the exported functions */
#define wire_writer_init(w, buf, cap) wire__writer_init(w, buf, cap)
#define wire_writer_finish(w, len) wire__writer_finish(w, len)
#define wire_put_list_begin(w, elem) wire__put_list_begin(w, elem)
#define wire_put_list_end(w) wire__put_list_end(w)
#define wire_reader_init(r, buf, len) wire__reader_init(r, buf, len)
#define wire_get_list_begin(r, elem, count) wire__get_list_begin(r, elem, count)
#define wire_get_list_end(r) wire__get_list_end(r)
#define wire_reader_finish(r) wire__reader_finish(r)
#define wire_header_encode(out, type, length) wire__header_encode(out, type, length)
#define wire_header_decode(in, max_payload, h, err_offset) wire__header_decode(in, max_payload, h, err_offset)
#define wire_frame_parse(buf, len, max_payload, f, err, err_offset) wire__frame_parse(buf, len, max_payload, f, err, err_offset)
#endif

#ifdef __cplusplus
}
#endif
#endif /* WIRE_H */
