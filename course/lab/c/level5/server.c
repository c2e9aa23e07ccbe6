/* SPDX-License-Identifier: MIT */
/*
 * server.c -- a wire server written from nothing: C99 and POSIX, no library.
 *
 *   build:  cc -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wpedantic -Werror server.c -o server
 *   run:    ./server [--port P] [--vectors FILE]
 *   grade:  wire-conform server --level N 127.0.0.1 PORT
 *
 * It listens on 127.0.0.1, prints its port alone on the first line of stdout, and serves the
 * protocol of SPEC.md with the configuration of proto/sessions.txt: max payload 1048576 bytes,
 * idle timeout 2 s, frame timeout 1 s (SPEC 9.3). The file reads top to bottom in the order you
 * build it: bytes and byte order, robust I/O, sockets, frames, fields, the messages, the
 * connection, then main().
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---------- constants: SPEC 2, 3.2, 6, 7.1, 9.3 ---------- */

#define MAX_PAYLOAD 1048576u     /* the largest payload we accept, announced in our HELLO (2.4) */
#define MIN_MAX_PAYLOAD 1037u    /* the smallest max_payload a HELLO may announce (8.1) */
#define MAX_NAME 255u            /* the longest HELLO name (7.3) */
#define MAX_DEPTH 32             /* nesting limit of lists and groups (3.6) */
#define IDLE_TIMEOUT_MS 2000     /* no frame started for 2 s: ERROR(TIMEOUT) (9.3) */
#define FRAME_TIMEOUT_MS 1000    /* a started frame must be complete within 1 s (9.3) */
#define DRAIN_MS 1000            /* how long the graceful close reads and discards (8.4) */
#define NO_OFFSET 0xFFFFFFFFu    /* ERROR offset when no frame is at fault (TIMEOUT, LIMIT) */
#define SERVER_NAME "c-lab-server"

enum { /* message types (7.1) */
    T_HELLO = 0x0001, T_ERROR = 0x0002, T_PING = 0x0003, T_PONG = 0x0004, T_BYE = 0x0005,
    T_ECHO = 0x0100, T_ECHO_REPLY = 0x0101, T_ROUNDTRIP = 0x0102, T_ROUNDTRIP_REPLY = 0x0103,
    T_VECTOR_CHECK = 0x0104, T_VECTOR_RESULT = 0x0105, T_VECTOR_GET = 0x0106,
    T_VECTOR_DATA = 0x0107, T_STATS = 0x0108, T_STATS_REPLY = 0x0109
};

enum { /* error codes (6): the ones a server sends */
    E_TRUNCATED = 1, E_BADTAG = 2, E_BADBOOL = 4, E_UTF8 = 5, E_LENGTH = 6, E_DEPTH = 7,
    E_TOOBIG = 8, E_VERSION = 10, E_HEADER = 11, E_UNEXPECTED = 12, E_MESSAGE = 13,
    E_TIMEOUT = 17, E_LIMIT = 19
};

enum { /* field tags (3.2) */
    TAG_U8 = 0x01, TAG_U16 = 0x02, TAG_U32 = 0x03, TAG_U64 = 0x04,
    TAG_I8 = 0x11, TAG_I16 = 0x12, TAG_I32 = 0x13, TAG_I64 = 0x14,
    TAG_F32 = 0x23, TAG_F64 = 0x24, TAG_BOOL = 0x30,
    TAG_STRING = 0x40, TAG_BYTES = 0x41, TAG_LIST = 0x50, TAG_GROUP = 0x51
};

/* The errors.txt message of a code: the text of the ERRORs we send (7.4). */
static const char *error_text(int code) {
    switch (code) {
    case E_TRUNCATED: return "value runs past the end of the data";
    case E_BADTAG: return "unknown type tag";
    case E_BADBOOL: return "bool byte is neither 0 nor 1";
    case E_UTF8: return "string is not valid UTF-8";
    case E_LENGTH: return "length or count larger than the bytes that remain";
    case E_DEPTH: return "nesting deeper than 32 levels";
    case E_TOOBIG: return "frame payload larger than the receiver's limit";
    case E_VERSION: return "unsupported protocol version";
    case E_HEADER: return "malformed frame header";
    case E_UNEXPECTED: return "message type not expected here";
    case E_MESSAGE: return "message fields do not match its definition";
    case E_TIMEOUT: return "operation timed out";
    case E_LIMIT: return "a resource limit was reached";
    default: return "error";
    }
}

/* ---------- byte order (SPEC 1.2, 13.1) ---------- */

/* Every integer on the wire is big-endian. Shifts give the same bytes on every host, whatever
   its own byte order, and never read memory at an unaligned address (htonl could not do 64 bits). */
static uint64_t get_be(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

static void put_be(uint8_t *p, uint64_t v, size_t n) {
    for (size_t i = n; i > 0; i--) {
        p[i - 1] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

/* ---------- robust I/O: short counts, EINTR, deadlines (SPEC 13.5) ---------- */

/* Milliseconds on a clock that never jumps (the wall clock may be set back). */
static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The deadline `ms` milliseconds from now, for readn(); -1 means "wait forever". */
static long long deadline_in(int ms) {
    long long deadline = -1; /* levels 1 to 4: no timeouts yet */
    deadline = now_ms() + ms; /* from level 5 on, idle and slow peers are timed out (9.3) */
    (void)ms;
    return deadline;
}

/* Like CS:APP's rio_readn: read exactly n bytes, looping over short counts and EINTR. Before
   each read, poll() waits at most until `deadline` (-1: no deadline). Returns n; fewer only at
   EOF; -1 on an error; -2 when the deadline passed first. */
static ssize_t readn(int fd, void *buf, size_t n, long long deadline) {
    uint8_t *p = buf;
    size_t got = 0;
    while (got < n) {
        if (deadline >= 0) {
            long long left = deadline - now_ms();
            struct pollfd pfd = {fd, POLLIN, 0};
            if (left <= 0) return -2;
            int r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) return -1;
            if (r == 0) return -2;
        }
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR) continue; /* a signal (SIGCHLD...) interrupted the call: retry */
        if (r < 0) return -1;
        if (r == 0) break; /* EOF */
        got += (size_t)r;  /* a short count is normal: loop for the rest */
    }
    return (ssize_t)got;
}

/* Like rio_writen: write all n bytes. MSG_NOSIGNAL: a peer that left gives EPIPE, not a
   SIGPIPE that would kill the whole server. Returns 0, or -1 on an error. */
static int writen(int fd, const void *buf, size_t n) {
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The graceful close (SPEC 8.4): FIN after our last frame, then read and discard what the peer
   still sends, for at most DRAIN_MS, so that close() does not answer unread data with an RST
   (which would destroy our last frame before the peer reads it). */
static void graceful_close(int fd) {
    uint8_t scratch[4096];
    long long end = now_ms() + DRAIN_MS;
    shutdown(fd, SHUT_WR);
    for (;;) {
        long long left = end - now_ms();
        struct pollfd pfd = {fd, POLLIN, 0};
        if (left <= 0) break;
        int r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        ssize_t n = read(fd, scratch, sizeof scratch);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* EOF (or an error): nothing more will come */
    }
    close(fd);
}

/* ---------- sockets ---------- */

/* Like CS:APP's open_listenfd: a TCP socket listening on 127.0.0.1:port ("0": any free port).
   Returns the socket, or -1. */
static int open_listenfd(const char *port) {
    struct addrinfo hints, *res;
    int fd, one = 1;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo("127.0.0.1", port, &hints, &res) != 0) return -1;
    fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd >= 0) {
        /* restart at once on the same port, without waiting for TIME_WAIT (13.6) */
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

/* The port a socket is bound to (with port 0 the system chose it): getsockname(). */
static int local_port(int fd) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &len) < 0) return -1;
    return ntohs(a.sin_port);
}

/* ---------- writing fields (SPEC 3) ---------- */

/* A bounded output buffer. Every write checks the room first; after the first failure the
   buffer stays failed (err), so a caller checks once at the end. */
typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
    int err;
} wbuf;

static void w_bytes(wbuf *w, const void *src, size_t n) {
    if (w->err || n > w->cap - w->len) {
        w->err = 1;
        return;
    }
    if (n > 0) memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void w_be(wbuf *w, uint64_t v, size_t n) {
    uint8_t b[8];
    put_be(b, v, n);
    w_bytes(w, b, n);
}

/* A whole field: the tag byte, then the value in big-endian. */
static void w_field(wbuf *w, int tag, uint64_t v, size_t n) {
    w_be(w, (uint64_t)tag, 1);
    w_be(w, v, n);
}

/* A string field: tag, u32 length in bytes, the bytes (no NUL terminator: 3.3). */
static void w_string(wbuf *w, const char *s, size_t n) {
    w_be(w, TAG_STRING, 1);
    w_be(w, n, 4);
    w_bytes(w, s, n);
}

/* ---------- frames ---------- */

/* Sends one frame whose payload is already at frame + 8: the 8-byte header goes in front, and
   header and payload leave in one write (two small writes could wait on each other: Nagle). */
static int send_frame(int fd, uint8_t *frame, uint16_t type, uint32_t len) {
    frame[0] = 1; /* version */
    frame[1] = 0; /* flags */
    put_be(frame + 2, type, 2);
    put_be(frame + 4, len, 4);
    return writen(fd, frame, 8 + (size_t)len);
}

/* Builds ERROR(code, offset, message) at frame + 8 (room for 1037 payload bytes) (7.4). */
static uint32_t error_payload(uint8_t *frame, int code, uint32_t offset) {
    wbuf w = {frame + 8, 0, MIN_MAX_PAYLOAD, 0};
    const char *msg = error_text(code);
    w_field(&w, TAG_U16, (uint64_t)code, 2);
    w_field(&w, TAG_U32, offset, 4);
    w_string(&w, msg, strlen(msg));
    return (uint32_t)w.len;
}

/* ---------- reading fields: the decoding walk of SPEC 5.2 ---------- */

/* The size of a fixed-size value (3.2), 0 for the others. */
static size_t fixed_size(int tag) {
    switch (tag) {
    case TAG_U8: case TAG_I8: case TAG_BOOL: return 1;
    case TAG_U16: case TAG_I16: return 2;
    case TAG_U32: case TAG_I32: case TAG_F32: return 4;
    case TAG_U64: case TAG_I64: case TAG_F64: return 8;
    default: return 0;
    }
}

static int known_tag(int tag) {
    return fixed_size(tag) > 0 || tag == TAG_STRING || tag == TAG_BYTES || tag == TAG_LIST ||
           tag == TAG_GROUP;
}

/* Sets *at (the payload offset of an error) and returns the error code: `return err_at(...)`. */
static int err_at(size_t *at, size_t offset, int code) {
    *at = offset;
    return code;
}

/* The first ill-formed UTF-8 sequence of s[0..n): the offset of its lead byte, or n when the
   whole string is well-formed (SPEC 4, Unicode table 3-7). */
static size_t utf8_bad(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i], lo = 0x80, hi = 0xBF; /* the allowed range of the second byte */
        size_t more;                             /* continuation bytes after the lead */
        if (b < 0x80) {
            i++;
            continue;
        }
        if (b >= 0xC2 && b <= 0xDF) more = 1;
        else if (b == 0xE0) more = 2, lo = 0xA0;       /* below A0: overlong */
        else if (b == 0xED) more = 2, hi = 0x9F;       /* above 9F: a surrogate */
        else if (b >= 0xE1 && b <= 0xEF) more = 2;
        else if (b == 0xF0) more = 3, lo = 0x90;       /* below 90: overlong */
        else if (b >= 0xF1 && b <= 0xF3) more = 3;
        else if (b == 0xF4) more = 3, hi = 0x8F;       /* above 8F: beyond U+10FFFF */
        else return i; /* 80..C1 (a stray continuation, or overlong C0/C1) or F5..FF */
        if (n - i - 1 < more) return i; /* cut short by the end of the string */
        if (s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k <= more; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) return i;
        i += 1 + more;
    }
    return n;
}

static int check_fields(const uint8_t *p, size_t pos, size_t end, int depth, size_t *at);

/* The smallest encoding of one list element of type tag (5.4). */
static size_t min_size(int tag) {
    size_t s = fixed_size(tag);
    if (s) return s;
    return tag == TAG_LIST ? 5 : 4; /* list: element tag + count; string, bytes, group: length */
}

/* decode_value of SPEC 5.2: checks one value of type `tag` at p[*pos], which must end by `end`
   (the end of the payload or of the enclosing group); depth is this value's depth if it is a
   list or a group. On success moves *pos past the value and returns 0; else returns the error
   code, with *at its payload offset. Nothing is read before its length has been checked. */
static int check_value(const uint8_t *p, size_t *pos, size_t end, int tag, int depth, size_t *at) {
    size_t q = *pos, size = fixed_size(tag);
    if (size > 0) {
        if (end - q < size) return err_at(at, q, E_TRUNCATED);
        if (tag == TAG_BOOL && p[q] > 1) return err_at(at, q, E_BADBOOL);
        *pos = q + size;
        return 0;
    }
    if (tag == TAG_STRING || tag == TAG_BYTES) {
        if (end - q < 4) return err_at(at, q, E_TRUNCATED);
        uint64_t n = get_be(p + q, 4);
        if (n > end - q - 4) return err_at(at, q, E_LENGTH); /* never q + 4 + n > end: it could wrap */
        if (tag == TAG_STRING) {
            size_t bad = utf8_bad(p + q + 4, (size_t)n);
            if (bad < n) return err_at(at, q + 4 + bad, E_UTF8);
        }
        *pos = q + 4 + (size_t)n;
        return 0;
    }
    if (tag == TAG_GROUP) {
        if (end - q < 4) return err_at(at, q, E_TRUNCATED);
        uint64_t n = get_be(p + q, 4);
        if (n > end - q - 4) return err_at(at, q, E_LENGTH);
        /* the group's fields must fill its n bytes exactly: its end is their end (3.5) */
        int rc = check_fields(p, q + 4, q + 4 + (size_t)n, depth, at);
        if (rc) return rc;
        *pos = q + 4 + (size_t)n;
        return 0;
    }
    /* a list: element tag, count, then count values without tags (3.4) */
    if (end - q < 1) return err_at(at, q, E_TRUNCATED);
    int elem = p[q];
    if (!known_tag(elem)) return err_at(at, q, E_BADTAG);
    if (end - q - 1 < 4) return err_at(at, q + 1, E_TRUNCATED);
    uint64_t count = get_be(p + q + 1, 4);
    /* count * min_size could overflow; count > left / min_size cannot (5.4) */
    if (count > (end - q - 5) / min_size(elem)) return err_at(at, q + 1, E_LENGTH);
    size_t r = q + 5;
    for (uint64_t i = 0; i < count; i++) {
        if ((elem == TAG_LIST || elem == TAG_GROUP) && depth + 1 > MAX_DEPTH)
            return err_at(at, r, E_DEPTH);
        int rc = check_value(p, &r, end, elem, depth + 1, at);
        if (rc) return rc;
    }
    *pos = r;
    return 0;
}

/* decode_fields of SPEC 5.2: the fields of p[pos..end), each a tag byte and a value. depth is
   the enclosing container's (the payload is 0). Returns 0, or an error code with *at. */
static int check_fields(const uint8_t *p, size_t pos, size_t end, int depth, size_t *at) {
    while (pos < end) {
        int tag = p[pos];
        if (!known_tag(tag)) return err_at(at, pos, E_BADTAG);
        /* depth first, before anything of the container is read (3.6) */
        if ((tag == TAG_LIST || tag == TAG_GROUP) && depth + 1 > MAX_DEPTH) return err_at(at, pos, E_DEPTH);
        size_t v = pos + 1;
        int rc = check_value(p, &v, end, tag, depth + 1, at);
        if (rc) return rc;
        pos = v;
    }
    return 0;
}

/* Where a value that has passed check_value() ends. */
static size_t value_end(const uint8_t *p, size_t v, int tag) {
    size_t size = fixed_size(tag);
    if (size > 0) return v + size;
    if (tag != TAG_LIST) return v + 4 + (size_t)get_be(p + v, 4); /* string, bytes, group */
    int elem = p[v];
    uint64_t count = get_be(p + v + 1, 4);
    size_t r = v + 5;
    for (uint64_t i = 0; i < count; i++) r = value_end(p, r, elem);
    return r;
}

/* One field of a checked payload: its tag, where the tag is (at) and where the value is (v). */
typedef struct field {
    int tag;
    size_t at, v;
} field;

/* The next field of a payload p[0..len) that passed check_fields(): 1 and *f; or 0 when there
   is none, with f->at = len (where a missing field would start: 7.2). */
static int next_field(const uint8_t *p, size_t len, size_t *pos, field *f) {
    f->at = *pos;
    if (*pos >= len) {
        f->tag = 0;
        return 0;
    }
    f->tag = p[*pos];
    f->v = *pos + 1;
    *pos = value_end(p, f->v, f->tag);
    return 1;
}

/* ---------- the interop service (SPEC 10) ---------- */

typedef struct vectors vectors; /* proto/vectors.txt, once loaded (level 3) */

/* ---- proto/vectors.txt (SPEC 10.8): this part is given; the scalars, then the other values,
   are yours (the blocks marked "level 3" and "level 4" below) ---- */

/* One `ok` vector: its name, and its fields as encode_fields() encodes them from the text. */
typedef struct vector {
    char *name;
    uint8_t *bytes;
    size_t len;
} vector;

struct vectors {
    vector *v;
    size_t n;
};

static int encode_fields(const char *text, wbuf *w);

/* Loads the `ok` vectors of a vectors.txt file (the other cases are not served). Returns 0, or
   -1 with a message on stderr. A vector whose fields encode_fields() refuses is left out: its
   name is then unknown (VECTOR_RESULT status 2). */
static int load_vectors(const char *path, vectors *vs) {
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, skipped = 0;
    uint8_t *scratch = malloc(MAX_PAYLOAD);
    vs->v = NULL;
    vs->n = 0;
    if (!f || !scratch) {
        fprintf(stderr, "server: %s: %s\n", path, strerror(errno));
        if (f) fclose(f);
        free(scratch);
        return -1;
    }
    while (getline(&line, &cap, f) > 0) {
        char *bar1, *bar2, *name;
        if (strncmp(line, "ok ", 3) != 0) continue;
        bar1 = strstr(line, " | ");
        bar2 = bar1 ? strstr(bar1 + 3, " | ") : NULL;
        if (!bar2) continue;
        *bar1 = '\0'; /* line: "ok <name>"; bar1 + 3: the fields; bar2 + 3: the hex, not used */
        *bar2 = '\0';
        for (name = line + 3; *name == ' '; name++) {}
        wbuf w = {scratch, 0, MAX_PAYLOAD, 0};
        if (encode_fields(bar1 + 3, &w) != 0 || w.err) {
            skipped++;
            continue;
        }
        vector *grown = realloc(vs->v, (vs->n + 1) * sizeof *vs->v);
        if (!grown) break;
        vs->v = grown;
        vector *v = &vs->v[vs->n];
        v->name = malloc(strlen(name) + 1);
        v->bytes = malloc(w.len ? w.len : 1);
        if (!v->name || !v->bytes) break;
        strcpy(v->name, name);
        memcpy(v->bytes, scratch, w.len);
        v->len = w.len;
        vs->n++;
    }
    free(line);
    free(scratch);
    fclose(f);
    fprintf(stderr, "server: %zu vectors loaded from %s (%zu not encoded)\n", vs->n, path, skipped);
    return 0;
}

/* The vector called name[0..n) (a string field's bytes: no NUL at the end), or NULL. */
static const vector *find_vector(const vectors *vs, const uint8_t *name, size_t n) {
    for (size_t i = 0; vs && i < vs->n; i++)
        if (strlen(vs->v[i].name) == n && memcmp(vs->v[i].name, name, n) == 0) return &vs->v[i];
    return NULL;
}

/* --vectors FILE, else $WIRE_PROTO_DIR/vectors.txt, else proto/vectors.txt in the current
   directory or one of its parents (so the server runs from course/lab/c/levelN/). */
static const char *vectors_path(const char *given, char *buf, size_t cap) {
    const char *dir = getenv("WIRE_PROTO_DIR");
    if (given) return given;
    if (dir && snprintf(buf, cap, "%s/vectors.txt", dir) < (int)cap && access(buf, R_OK) == 0) return buf;
    for (int up = 0; up < 16; up++) {
        size_t len = 0;
        for (int i = 0; i < up && len + 3 < cap; i++) len += (size_t)snprintf(buf + len, cap - len, "../");
        if (snprintf(buf + len, cap - len, "proto/vectors.txt") >= (int)(cap - len)) break;
        if (access(buf, R_OK) == 0) return buf;
    }
    return NULL;
}

/* ---- the value notation (SPEC 10.7): tokens separated by spaces ---- */

typedef struct token {
    const char *s;
    size_t n;
} token;

static token next_token(const char **cur) {
    token t;
    while (**cur == ' ' || **cur == '\t' || **cur == '\n' || **cur == '\r') (*cur)++;
    t.s = *cur;
    while (**cur && **cur != ' ' && **cur != '\t' && **cur != '\n' && **cur != '\r') (*cur)++;
    t.n = (size_t)(*cur - t.s);
    return t;
}

/* The tag of a type name of the notation ("u32" -> 0x03), or 0; and back. */
static int tag_of(const char *s, size_t n) {
    static const char *const names[] = {"u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64",
                                        "f32", "f64", "bool", "string", "bytes", "list", "group"};
    static const int tags[] = {TAG_U8, TAG_U16, TAG_U32, TAG_U64, TAG_I8, TAG_I16, TAG_I32, TAG_I64,
                               TAG_F32, TAG_F64, TAG_BOOL, TAG_STRING, TAG_BYTES, TAG_LIST, TAG_GROUP};
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
        if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0) return tags[i];
    return 0;
}

static const char *tag_name(int tag) {
    switch (tag) {
    case TAG_U8: return "u8";
    case TAG_U16: return "u16";
    case TAG_U32: return "u32";
    case TAG_U64: return "u64";
    case TAG_I8: return "i8";
    case TAG_I16: return "i16";
    case TAG_I32: return "i32";
    case TAG_I64: return "i64";
    case TAG_F32: return "f32";
    case TAG_F64: return "f64";
    case TAG_BOOL: return "bool";
    case TAG_STRING: return "string";
    case TAG_BYTES: return "bytes";
    case TAG_LIST: return "list";
    default: return "group";
    }
}

/* ---- level 3: scalars, both ways (SPEC 3.3, 13.1) ---- */

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1; /* the notation's hex is lowercase (10.7) */
}

/* Decimal digits s[0..n) into *v; -1 if empty, not digits, or above UINT64_MAX. */
static int parse_decimal(const char *s, size_t n, uint64_t *v) {
    *v = 0;
    if (n == 0) return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (*v > (UINT64_MAX - d) / 10) return -1;
        *v = *v * 10 + d;
    }
    return 0;
}

/* The bit pattern of a scalar's text (after the colon) for its tag: "16909060" as u32,
   "-2" as i8 (two's complement: 0xfe), "0x3fc00000" as f32 (floats are written as their bits). */
static int scalar_bits(int tag, const char *s, size_t n, uint64_t *bits) {
    size_t size = fixed_size(tag);
    uint64_t top = size == 8 ? UINT64_MAX : ((uint64_t)1 << (8 * size)) - 1; /* the largest unsigned */
    uint64_t v = 0;
    if (tag == TAG_BOOL) {
        if (n == 4 && memcmp(s, "true", 4) == 0) return *bits = 1, 0;
        if (n == 5 && memcmp(s, "false", 5) == 0) return *bits = 0, 0;
        return -1;
    }
    if (tag == TAG_F32 || tag == TAG_F64) { /* 0x, then 8 or 16 hex digits */
        if (n != 2 + 2 * size || s[0] != '0' || s[1] != 'x') return -1;
        for (size_t i = 2; i < n; i++) {
            int d = hex_digit(s[i]);
            if (d < 0) return -1;
            v = (v << 4) | (uint64_t)d;
        }
        return *bits = v, 0;
    }
    if (tag == TAG_U8 || tag == TAG_U16 || tag == TAG_U32 || tag == TAG_U64) {
        if (parse_decimal(s, n, &v) != 0 || v > top) return -1;
        return *bits = v, 0;
    }
    /* signed: from -(top / 2 + 1) to top / 2; a negative -v is 2^bits - v (two's complement),
       which unsigned arithmetic computes exactly: it wraps, by definition, where int would overflow */
    if (n > 0 && s[0] == '-') {
        if (parse_decimal(s + 1, n - 1, &v) != 0 || v > top / 2 + 1) return -1;
        return *bits = (0 - v) & top, 0;
    }
    if (parse_decimal(s, n, &v) != 0 || v > top / 2) return -1;
    return *bits = v, 0;
}

static int token_is(token t, const char *word) {
    return t.n == strlen(word) && memcmp(t.s, word, t.n) == 0;
}

/* Encodes one value of the notation at *cur into w. want: 0 for a field (its tag byte is
   written first); else a list element, which must be of type `want` and has no tag. Returns 0,
   or -1 for a value it cannot encode. */
static int encode_value(const char **cur, wbuf *w, int want) {
    token t = next_token(cur);
    const char *colon = memchr(t.s, ':', t.n);
    size_t name_len = colon ? (size_t)(colon - t.s) : t.n;
    const char *rest = colon ? colon + 1 : t.s + t.n; /* what follows the colon */
    size_t rest_len = t.n - name_len - (colon ? 1 : 0);
    int tag = tag_of(t.s, name_len);
    (void)rest, (void)rest_len; /* for the blocks below */
    if (tag == 0 || (want && tag != want)) return -1;
    if (!want) w_be(w, (uint64_t)tag, 1);
    /* then the value: the scalars (level 3), the other types (level 4) */
    if (fixed_size(tag) > 0) { /* level 3: "u32:16909060", "i8:-2", "f32:0x3fc00000", "bool:true" */
        uint64_t bits;
        if (scalar_bits(tag, rest, rest_len, &bits) != 0) return -1;
        w_be(w, bits, fixed_size(tag)); /* big-endian, by shifts: never a host-order memcpy */
        return 0;
    }
    if (tag == TAG_STRING || tag == TAG_BYTES) { /* level 4: "string:6869", "bytes:ab*300" */
        const char *star = memchr(rest, '*', rest_len);
        size_t hex_len = star ? (size_t)(star - rest) : rest_len;
        size_t start = w->len + 4;
        uint64_t times = 1; /* "<hex>*<n>": that byte string n times */
        if (hex_len % 2 != 0 || (star && parse_decimal(star + 1, rest_len - hex_len - 1, &times) != 0)) return -1;
        if (times > UINT32_MAX / (hex_len / 2 + 1)) return -1;
        w_be(w, (hex_len / 2) * times, 4);
        for (uint64_t k = 0; k < times; k++)
            for (size_t i = 0; i < hex_len; i += 2) {
                int hi = hex_digit(rest[i]), lo = hex_digit(rest[i + 1]);
                if (hi < 0 || lo < 0) return -1;
                w_be(w, (uint64_t)(hi * 16 + lo), 1);
            }
        /* an encoder never produces what a decoder would refuse (11.6) */
        if (tag == TAG_STRING && !w->err && utf8_bad(w->p + start, w->len - start) < w->len - start) return -1;
        return 0;
    }
    if (tag == TAG_LIST) { /* "list:u8 [ u8:1 u8:2 ]": element tag, count, values without tags */
        int elem = tag_of(rest, rest_len);
        uint64_t count = 0;
        if (elem == 0 || !token_is(next_token(cur), "[")) return -1;
        w_be(w, (uint64_t)elem, 1);
        size_t count_at = w->len;
        w_be(w, 0, 4); /* the count, written once known */
        for (;;) {
            const char *save = *cur;
            token end = next_token(cur);
            if (token_is(end, "]")) break;
            if (end.n == 0) return -1; /* no closing bracket */
            *cur = save;
            if (encode_value(cur, w, elem) != 0) return -1;
            count++;
        }
        if (!w->err) put_be(w->p + count_at, count, 4);
        return 0;
    }
    if (tag == TAG_GROUP) { /* "group { u8:1 }": u32 byte length, then fields */
        if (rest_len != 0 || !token_is(next_token(cur), "{")) return -1;
        size_t len_at = w->len;
        w_be(w, 0, 4); /* the length, written once known */
        for (;;) {
            const char *save = *cur;
            token end = next_token(cur);
            if (token_is(end, "}")) break;
            if (end.n == 0) return -1;
            *cur = save;
            if (encode_value(cur, w, 0) != 0) return -1;
        }
        if (!w->err) put_be(w->p + len_at, w->len - len_at - 4, 4);
        return 0;
    }
    return -1; /* a type this server does not encode yet: the vector is left out */
}

/* Encodes every field of a vector's text ("u32:7 string:6869 ..."). Returns 0 or -1. */
static int encode_fields(const char *text, wbuf *w) {
    const char *cur = text;
    for (;;) {
        while (*cur == ' ') cur++;
        if (*cur == '\0' || *cur == '\n') return 0;
        if (encode_value(&cur, w, 0) != 0) return -1;
    }
}

/* ---- VECTOR_CHECK's comparison (SPEC 10.4): both sides are checked, canonical bytes, so
   comparing the values is comparing the items' types and bytes, one by one ---- */

/* A sequence of items: the fields of a payload or a group (elem == 0: each has a tag byte), or
   the elements of a list (elem: their common tag; count: how many are left). */
typedef struct seq {
    const uint8_t *p;
    size_t pos, end;
    int elem;
    uint64_t count;
} seq;

static int seq_next(seq *s, int *tag, size_t *v) {
    if (s->elem) {
        if (s->count == 0) return 0;
        s->count--;
        *tag = s->elem;
        *v = s->pos;
    } else {
        if (s->pos >= s->end) return 0;
        *tag = s->p[s->pos];
        *v = s->pos + 1;
    }
    s->pos = value_end(s->p, *v, *tag);
    return 1;
}

/* Where the comparison stands: the two buffers, the path so far, and the answer's strings. */
typedef struct compare {
    const uint8_t *a, *b; /* expected (the vector), got (the request) */
    char path[256], expected[200], got[200];
    size_t path_len;
} compare;

static void format_item(const uint8_t *p, int tag, size_t v, char *out, size_t cap);

/* Records a mismatch: `expected` and `got` show the two items, or "(none)" / "(missing)". */
static int mismatch(compare *c, int ta, size_t va, int tb, size_t vb) {
    if (ta) format_item(c->a, ta, va, c->expected, sizeof c->expected);
    else snprintf(c->expected, sizeof c->expected, "(none)");
    if (tb) format_item(c->b, tb, vb, c->got, sizeof c->got);
    else snprintf(c->got, sizeof c->got, "(missing)");
    return 1;
}

static int compare_item(compare *c, int ta, size_t va, int tb, size_t vb);

/* Compares two sequences item by item, depth first: 0 if they match, else 1 with the path of
   the first difference ("2.0.5": field 2, its element 0, that group's field 5). */
static int compare_seq(compare *c, seq sa, seq sb) {
    for (unsigned long i = 0;; i++) {
        int ta = 0, tb = 0;
        size_t va = 0, vb = 0, mark = c->path_len;
        int has_a = seq_next(&sa, &ta, &va), has_b = seq_next(&sb, &tb, &vb);
        if (!has_a && !has_b) return 0;
        int n = snprintf(c->path + mark, sizeof c->path - mark, mark ? ".%lu" : "%lu", i);
        if (n > 0 && (size_t)n < sizeof c->path - mark) c->path_len = mark + (size_t)n;
        if (!has_a || !has_b) return mismatch(c, ta, va, tb, vb); /* one side is shorter */
        if (compare_item(c, ta, va, tb, vb)) return 1;
        c->path_len = mark;
        c->path[mark] = '\0';
    }
}

/* Two items match when they have the same type and the same value. */
static int compare_item(compare *c, int ta, size_t va, int tb, size_t vb) {
    if (ta != tb) return mismatch(c, ta, va, tb, vb);
    /* then the values: the scalars (level 3), the other types (level 4) */
    if (fixed_size(ta) > 0) { /* level 3: integers, floats (so by their bits) and bools, by their bytes */
        if (memcmp(c->a + va, c->b + vb, fixed_size(ta)) != 0) return mismatch(c, ta, va, tb, vb);
        return 0;
    }
    if (ta == TAG_STRING || ta == TAG_BYTES) { /* level 4: the same length and content */
        uint64_t na = get_be(c->a + va, 4), nb = get_be(c->b + vb, 4);
        if (na != nb || memcmp(c->a + va + 4, c->b + vb + 4, (size_t)na) != 0) return mismatch(c, ta, va, tb, vb);
        return 0;
    }
    if (ta == TAG_LIST) { /* the same element tag, then the elements in turn */
        seq sa = {c->a, va + 5, 0, c->a[va], get_be(c->a + va + 1, 4)};
        seq sb = {c->b, vb + 5, 0, c->b[vb], get_be(c->b + vb + 1, 4)};
        if (sa.elem != sb.elem) return mismatch(c, ta, va, tb, vb); /* list:u8 against list:u16 */
        return compare_seq(c, sa, sb);
    }
    if (ta == TAG_GROUP) { /* the fields in turn */
        seq sa = {c->a, va + 4, va + 4 + (size_t)get_be(c->a + va, 4), 0, 0};
        seq sb = {c->b, vb + 4, vb + 4 + (size_t)get_be(c->b + vb, 4), 0, 0};
        return compare_seq(c, sa, sb);
    }
    return mismatch(c, ta, va, tb, vb); /* a type not compared yet counts as a difference */
}

/* One item in value notation (10.7), for VECTOR_RESULT's `expected` and `got`. They are for
   humans: long strings and containers are shortened, as 10.4 allows. */
static void format_item(const uint8_t *p, int tag, size_t v, char *out, size_t cap) {
    (void)p, (void)v; /* for the blocks below: the scalars (level 3), the other types (level 4) */
    size_t size = fixed_size(tag);
    if (size > 0) { /* level 3: u32:16909060, i8:-2, f32:0x3fc00000, bool:true */
        uint64_t u = get_be(p + v, size);
        uint64_t top = size == 8 ? UINT64_MAX : ((uint64_t)1 << (8 * size)) - 1;
        if (tag == TAG_BOOL) snprintf(out, cap, "bool:%s", u ? "true" : "false");
        else if (tag == TAG_F32 || tag == TAG_F64) snprintf(out, cap, "%s:0x%0*" PRIx64, tag_name(tag), (int)(2 * size), u);
        else if ((tag & 0xF0) == 0x10 && u > top / 2) /* signed, sign bit set: -(2^bits - u) */
            snprintf(out, cap, "%s:-%" PRIu64, tag_name(tag), ((~u) & top) + 1);
        else snprintf(out, cap, "%s:%" PRIu64, tag_name(tag), u);
        return;
    }
    if (tag == TAG_STRING || tag == TAG_BYTES) { /* level 4: the content in hex, 48 bytes at most */
        uint64_t n = get_be(p + v, 4);
        int len = snprintf(out, cap, "%s:", tag_name(tag));
        for (uint64_t i = 0; i < n && i < 48 && len > 0 && (size_t)len + 3 < cap; i++)
            len += snprintf(out + len, cap - (size_t)len, "%02x", p[v + 4 + i]);
        if (n > 48 && len > 0 && (size_t)len < cap) snprintf(out + len, cap - (size_t)len, "...(%" PRIu64 " bytes)", n);
        return;
    }
    if (tag == TAG_LIST) {
        snprintf(out, cap, "list:%s (%" PRIu64 " elements)", tag_name(p[v]), get_be(p + v + 1, 4));
        return;
    }
    if (tag == TAG_GROUP) {
        snprintf(out, cap, "group { ... }");
        return;
    }
    snprintf(out, cap, "%s:?", tag_name(tag));
}

/* ---------- answering a request (SPEC 10), the same over TCP and over UDP ---------- */

/* Answers the request `type` whose payload p[0..len) has passed check_fields() (when it is
   fields). The reply's payload goes to out (room for MAX_PAYLOAD bytes): returns 0 with *rtype
   and *rlen. Or returns an error code with *offset (a frame offset): the caller sends that
   ERROR. HELLO and BYE are the connection's business, not the service's. */
static int answer(const vectors *vs, uint16_t type, const uint8_t *p, uint32_t len, uint8_t *out,
                  uint16_t *rtype, uint32_t *rlen, uint32_t *offset) {
    wbuf w = {out, 0, MAX_PAYLOAD, 0};
    (void)vs, (void)w; /* used by the requests of levels 3 and 4 */
    switch (type) {
    case T_PING: /* opaque bytes, sent back unchanged (7.5) */
        memcpy(out, p, len);
        *rtype = T_PONG;
        *rlen = len;
        return 0;
    case T_ECHO: /* the same, as an interop request (10.2) */
        memcpy(out, p, len);
        *rtype = T_ECHO_REPLY;
        *rlen = len;
        return 0;
    case T_ROUNDTRIP:
        /* check_fields() accepted the payload, so its values re-encode to these very bytes:
           the encoding is canonical (3.7, 10.3) */
        memcpy(out, p, len);
        *rtype = T_ROUNDTRIP_REPLY;
        *rlen = len;
        return 0;
    case T_VECTOR_CHECK:
    case T_VECTOR_GET: {
        size_t pos = 0, name_end;
        field f;
        /* field 0: string name (7.2: a missing or mistyped field is MESSAGE where it is) */
        if (!next_field(p, len, &pos, &f) || f.tag != TAG_STRING) return *offset = 8 + (uint32_t)f.at, E_MESSAGE;
        const vector *vec = find_vector(vs, p + f.v + 4, (size_t)get_be(p + f.v, 4));
        name_end = pos;
        if (type == T_VECTOR_GET && next_field(p, len, &pos, &f)) return *offset = 8 + (uint32_t)f.at, E_MESSAGE;
        if (!vec) { /* not an `ok` vector: VECTOR_RESULT(2, "", "", "") (10.4, 10.5) */
            w_field(&w, TAG_U8, 2, 1);
            w_string(&w, "", 0);
            w_string(&w, "", 0);
            w_string(&w, "", 0);
            *rtype = T_VECTOR_RESULT;
        } else if (type == T_VECTOR_GET) { /* the name field, then the vector, from our encoder */
            w_bytes(&w, p, name_end);
            w_bytes(&w, vec->bytes, vec->len);
            *rtype = T_VECTOR_DATA;
        } else { /* the request's fields after the name against the vector's */
            compare c;
            seq expected = {vec->bytes, 0, vec->len, 0, 0}, got = {p, name_end, len, 0, 0};
            memset(&c, 0, sizeof c);
            c.a = vec->bytes;
            c.b = p;
            int differ = compare_seq(&c, expected, got);
            w_field(&w, TAG_U8, differ ? 1 : 0, 1);
            w_string(&w, c.path, differ ? strlen(c.path) : 0);
            w_string(&w, c.expected, differ ? strlen(c.expected) : 0);
            w_string(&w, c.got, differ ? strlen(c.got) : 0);
            *rtype = T_VECTOR_RESULT;
        }
        if (w.err) return *offset = NO_OFFSET, E_TOOBIG;
        *rlen = (uint32_t)w.len;
        return 0;
    }
    case T_STATS: {
        size_t pos = 0;
        field f[3], extra;
        static const int elem[2] = {TAG_I64, TAG_F64};
        uint64_t sum = 0, crc = 0xFFFFFFFFu, n, b;
        int64_t min = INT64_MAX, max = INT64_MIN;
        double fsum = 0.0, fmin = HUGE_VAL, fmax = -HUGE_VAL; /* +0.0, +inf, -inf (10.6) */
        /* exactly list:i64, list:f64, bytes (7.2, 10.6) */
        for (int i = 0; i < 3; i++) {
            if (!next_field(p, len, &pos, &f[i]) || f[i].tag != (i < 2 ? TAG_LIST : TAG_BYTES))
                return *offset = 8 + (uint32_t)f[i].at, E_MESSAGE;
            if (i < 2 && p[f[i].v] != elem[i]) return *offset = 8 + (uint32_t)f[i].v, E_MESSAGE;
        }
        if (next_field(p, len, &pos, &extra)) return *offset = 8 + (uint32_t)extra.at, E_MESSAGE;
        n = get_be(p + f[0].v + 1, 4);
        for (uint64_t i = 0; i < n; i++) {
            uint64_t u = get_be(p + f[0].v + 5 + 8 * i, 8);
            /* the i64 from its two's complement bits, by hand: converting a uint64_t above
               INT64_MAX to int64_t is implementation-defined in C */
            int64_t x = u <= INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
            sum += u; /* unsigned addition wraps mod 2^64: exactly the wrapping i64 sum */
            if (x < min) min = x;
            if (x > max) max = x;
        }
        n = get_be(p + f[1].v + 1, 4);
        for (uint64_t i = 0; i < n; i++) {
            uint64_t bits = get_be(p + f[1].v + 5 + 8 * i, 8);
            double x;
            memcpy(&x, &bits, sizeof x); /* the float with these bits, not the integer converted */
            fsum = fsum + x;
            if (x < fmin) fmin = x; /* false for NaN: a NaN is never min or max */
            if (x > fmax) fmax = x;
        }
        n = get_be(p + f[2].v, 4);
        for (uint64_t i = 0; i < n; i++) { /* CRC-32 (IEEE 802.3, zlib), bit by bit */
            crc ^= p[f[2].v + 4 + i];
            for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ ((crc & 1) ? 0xEDB88320u : 0);
        }
        w_field(&w, TAG_I64, sum, 8);
        w_field(&w, TAG_I64, (uint64_t)min, 8); /* int64_t to uint64_t is exact: mod 2^64 */
        w_field(&w, TAG_I64, (uint64_t)max, 8);
        memcpy(&b, &fsum, sizeof b);
        w_field(&w, TAG_F64, b, 8);
        memcpy(&b, &fmin, sizeof b);
        w_field(&w, TAG_F64, b, 8);
        memcpy(&b, &fmax, sizeof b);
        w_field(&w, TAG_F64, b, 8);
        w_field(&w, TAG_U32, crc ^ 0xFFFFFFFFu, 4);
        *rtype = T_STATS_REPLY;
        *rlen = (uint32_t)w.len;
        return 0;
    }
    default: /* served() said no: not reached */
        return *offset = 2, E_UNEXPECTED;
    }
}

/* The requests this server implements after the handshake (8.6); anything else is UNEXPECTED. */
static int served(uint16_t type) {
    switch (type) {
    case T_PING:
    case T_ECHO:
    case T_ROUNDTRIP:
    case T_VECTOR_CHECK:
    case T_VECTOR_GET:
    case T_STATS:
        return 1;
    default:
        return 0;
    }
}

/* PING, PONG, ECHO and ECHO_REPLY carry opaque bytes; every other payload is fields (3.1). */
static int has_fields(uint16_t type) {
    return type != T_PING && type != T_PONG && type != T_ECHO && type != T_ECHO_REPLY;
}

/* ---------- a TCP connection (SPEC 8) ---------- */

typedef struct conn {
    int fd;
    int said_hello;     /* the handshake is done (8.1) */
    uint32_t peer_max;  /* the max payload the client announced: no reply may be larger */
    uint8_t *in;        /* the payload being received (in_cap bytes) */
    size_t in_cap;
    uint8_t *out;       /* the frame being sent: 8 header bytes, then up to MAX_PAYLOAD */
    const vectors *vs;
    const char *why;    /* why the connection ended, for the log */
} conn;

/* Sends ERROR(code, offset), then closes gracefully (8.4): an ERROR always ends the
   connection. Returns -1, "the connection is over", for `return fail(...)`. */
static int fail(conn *c, int code, uint32_t offset) {
    uint8_t frame[8 + MIN_MAX_PAYLOAD];
    uint32_t len = error_payload(frame, code, offset);
    send_frame(c->fd, frame, T_ERROR, len);
    graceful_close(c->fd);
    c->why = error_text(code);
    return -1;
}

/* Sends the reply whose payload is at c->out + 8, unless it is larger than the client's max
   payload (10.1). Returns 0 to go on, -1 when the connection is over. */
static int reply(conn *c, uint16_t type, uint32_t len) {
    if (len > c->peer_max) return fail(c, E_TOOBIG, NO_OFFSET);
    if (send_frame(c->fd, c->out, type, len) != 0) {
        close(c->fd);
        c->why = "write failed";
        return -1;
    }
    return 0;
}

/* HELLO (7.2, 7.3): u16 version, u32 max_payload, string name, judged in that order; fields
   after them are ignored (a control message). Answered with our HELLO. Returns as reply(). */
static int on_hello(conn *c, const uint8_t *p, uint32_t len) {
    size_t pos = 0;
    field f;
    if (!next_field(p, len, &pos, &f) || f.tag != TAG_U16) return fail(c, E_MESSAGE, 8 + (uint32_t)f.at);
    if (get_be(p + f.v, 2) != 1) return fail(c, E_VERSION, 8 + (uint32_t)f.v); /* judged first (7.2) */
    if (!next_field(p, len, &pos, &f) || f.tag != TAG_U32) return fail(c, E_MESSAGE, 8 + (uint32_t)f.at);
    uint32_t max = (uint32_t)get_be(p + f.v, 4);
    if (max < MIN_MAX_PAYLOAD) return fail(c, E_MESSAGE, 8 + (uint32_t)f.v);
    if (!next_field(p, len, &pos, &f) || f.tag != TAG_STRING) return fail(c, E_MESSAGE, 8 + (uint32_t)f.at);
    if (get_be(p + f.v, 4) > MAX_NAME) return fail(c, E_MESSAGE, 8 + (uint32_t)f.v);
    c->peer_max = max;
    c->said_hello = 1;
    wbuf w = {c->out + 8, 0, MAX_PAYLOAD, 0};
    w_field(&w, TAG_U16, 1, 2);
    w_field(&w, TAG_U32, MAX_PAYLOAD, 4);
    w_string(&w, SERVER_NAME, strlen(SERVER_NAME));
    return reply(c, T_HELLO, (uint32_t)w.len);
}

/* Receives one frame and acts on it, in the order of SPEC 8.3. Returns 0 to go on, -1 when
   the connection is over (it is then closed). */
static int one_frame(conn *c) {
    uint8_t h[8];
    size_t at;
    /* a frame's first byte must come within the idle timeout, the rest within the frame
       timeout counted from that first byte (9.3) */
    ssize_t n = readn(c->fd, h, 1, deadline_in(IDLE_TIMEOUT_MS));
    long long frame_deadline = deadline_in(FRAME_TIMEOUT_MS);
    if (n == 1) {
        ssize_t m = readn(c->fd, h + 1, 7, frame_deadline);
        n = m < 0 ? m : 1 + m;
    }
    if (n == -2) return fail(c, E_TIMEOUT, NO_OFFSET);
    if (n != 8) { /* EOF at a frame boundary (0), inside the header, or an error: no ERROR (8.5) */
        close(c->fd);
        c->why = n == 0 ? "EOF" : "EOF inside a frame";
        return -1;
    }
    uint16_t type = (uint16_t)get_be(h + 2, 2);
    uint32_t len = (uint32_t)get_be(h + 4, 4);
    /* 1. the header checks, in their order (2.3) */
    if (h[0] != 1) return fail(c, E_VERSION, 0);
    if (h[1] != 0) return fail(c, E_HEADER, 1);
    if (type == 0) return fail(c, E_HEADER, 2);
    if (len > MAX_PAYLOAD) return fail(c, E_TOOBIG, 4); /* before a byte of the payload is read (2.4) */
    /* 2. a peer's ERROR ends the connection, at any time; it is never answered (7.4). Its
       payload is not needed: the graceful close drains it */
    if (type == T_ERROR) {
        graceful_close(c->fd);
        c->why = "the peer sent an ERROR";
        return -1;
    }
    /* 3. is the type allowed now? Decided from the header alone, without waiting for a payload
       that may never come (8.3) */
    int allowed = c->said_hello ? served(type) || type == T_BYE : type == T_HELLO;
    if (!allowed) return fail(c, E_UNEXPECTED, 2);
    if (len > c->in_cap) return fail(c, E_LIMIT, NO_OFFSET); /* never write past the buffer */
    /* the payload: TCP is a byte stream, so readn() gathers it from as many reads as it takes */
    n = readn(c->fd, c->in, len, frame_deadline);
    if (n == -2) return fail(c, E_TIMEOUT, NO_OFFSET);
    if (n != (ssize_t)len) { /* EOF inside the frame, or an error: no ERROR (8.5) */
        close(c->fd);
        c->why = "EOF inside a frame";
        return -1;
    }
    /* 4. a payload of fields is decoded whole before anything in it is judged */
    int rc = has_fields(type) ? check_fields(c->in, 0, len, 0, &at) : 0;
    if (rc) return fail(c, rc, 8 + (uint32_t)at);
    /* 5, 6. the message's fields, then the answer */
    if (type == T_HELLO) return on_hello(c, c->in, len);
    if (type == T_BYE) { /* BYE's fields are ignored; answer BYE, then the graceful close (8.5) */
        if (reply(c, T_BYE, 0) != 0) return -1;
        graceful_close(c->fd);
        c->why = "BYE";
        return -1;
    }
    uint16_t rtype;
    uint32_t rlen, offset;
    rc = answer(c->vs, type, c->in, len, c->out + 8, &rtype, &rlen, &offset);
    if (rc) return fail(c, rc, offset);
    return reply(c, rtype, rlen);
}

/* Serves the connection fd to its end, and logs one line about it. */
static void serve_connection(int fd, uint8_t *in, size_t in_cap, uint8_t *out, const vectors *vs) {
    conn c = {fd, 0, 0, in, in_cap, out, vs, ""};
    while (one_frame(&c) == 0) {}
    fprintf(stderr, "server: connection closed: %s\n", c.why);
}

/* ---------- main: the listening socket, and the accept loop ---------- */

/* SIGTERM, SIGINT: exit 0 at once. _exit() may be called in a signal handler (exit() may not),
   and there is nothing to flush: the port line was flushed, stderr is not buffered. */
static void on_stop(int sig) {
    (void)sig;
    _exit(0);
}

int main(int argc, char **argv) {
    const char *port = "0", *vectors_file = NULL;
    vectors *vs = NULL;
    struct sigaction sa;
    int lfd, udp = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = argv[++i];
        else if (strcmp(argv[i], "--vectors") == 0 && i + 1 < argc) vectors_file = argv[++i];
        else {
            fprintf(stderr, "usage: server [--port P] [--vectors FILE]\n");
            return 2;
        }
    }
    (void)vectors_file, (void)vs, (void)udp; /* used from levels 3 and 6 */

    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL); /* belt and braces with MSG_NOSIGNAL */

    static vectors loaded;
    char path_buf[4096];
    const char *path = vectors_path(vectors_file, path_buf, sizeof path_buf);
    if (!path) {
        fprintf(stderr, "server: no proto/vectors.txt here or above: give --vectors FILE\n");
        return 1;
    }
    if (load_vectors(path, &loaded) != 0) return 1;
    vs = &loaded;

    lfd = open_listenfd(port);
    if (lfd < 0) {
        fprintf(stderr, "server: cannot listen on 127.0.0.1 port %s: %s\n", port, strerror(errno));
        return 1;
    }
    /* the port, alone on the first line, flushed: this is how a script learns it (9.3) */
    printf("%d\n", local_port(lfd));
    fflush(stdout);

    /* a payload may be as large as the max payload we announce: 1 MiB arrives in many recv()s
       (TCP is a byte stream, 13.4), and readn() gathers it whole in this buffer */
    size_t in_cap = MAX_PAYLOAD;
    uint8_t *in = malloc(in_cap), *out = malloc(12 + MAX_PAYLOAD);
    if (!in || !out) {
        fprintf(stderr, "server: out of memory\n");
        return 1;
    }

    for (;;) { /* TODO: a concurrent server: fork() a child per connection, reaped on SIGCHLD (SPEC 13.7) */
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) continue;
        serve_connection(fd, in, in_cap, out, vs); /* an iterative server: one client at a time */
    }
}
