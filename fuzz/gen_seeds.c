/* SPDX-License-Identifier: MIT */
/* gen_seeds.c - writes the fuzz targets' seed corpora from proto/, so that the seeds follow the
 * protocol files instead of being copied by hand: gen_seeds <out dir> writes
 *   <out>/codec/    every payload of vectors.txt (ok, err, and the frames' payloads), of control.txt
 *                   and of the sessions' sends
 *   <out>/control/  every HELLO and ERROR payload of control.txt
 *   <out>/parser/   every frame and rejected frame of vectors.txt, and each session's client byte
 *                   stream, whole and byte by byte, with and without a growing buffer
 *   <out>/service/  each session's client byte stream (the server's side of sessions.txt)
 *   <out>/conn/     each session as a script for a server connection, with and without faults, and
 *                   the server's answers of each session as the peer of a client connection
 * Input formats: formats.h. Files are named after the case (c-, v-, s- for the file it came from). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats.h"
#include "sessions.h"
#include "vectors.h"

static const char *out_dir;
static unsigned written;

/* A growable byte string. */
typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) {
            fprintf(stderr, "gen_seeds: out of memory\n");
            exit(1);
        }
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void put_byte(buf *b, unsigned v) {
    uint8_t c = (uint8_t)v;
    put(b, &c, 1);
}

static void put_frame(buf *b, uint16_t type, const uint8_t *p, size_t n) {
    uint8_t h[WIRE_HEADER_SIZE];
    wire_header_encode(h, type, (uint32_t)n);
    put(b, h, sizeof h);
    put(b, p, n);
}

static void write_seed(const char *target, const char *prefix, const char *name, const char *variant,
                       const void *p, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", out_dir, target);
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s-%s%s", out_dir, target, prefix, name, variant);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    written++;
}

/* The values of a fields column, encoded (sizing first); exits on failure. */
static void encode(const wv_value *v, size_t nv, buf *out) {
    wire_writer w;
    size_t n = 0;
    wire_writer_init(&w, NULL, 0);
    wv_encode(&w, v, nv);
    if (wire_writer_finish(&w, &n) != WIRE_OK) {
        fprintf(stderr, "gen_seeds: cannot encode a fields column\n");
        exit(1);
    }
    out->n = 0;
    if (out->cap < n + 1) {
        out->p = realloc(out->p, n + 1);
        if (!out->p) exit(1);
        out->cap = n + 1;
    }
    wire_writer_init(&w, out->p, n);
    wv_encode(&w, v, nv);
    if (wire_writer_finish(&w, &out->n) != WIRE_OK) exit(1);
}

/* A parser seed: the stream fed whole, byte by byte, and (a frame that needs it) in a grown buffer. */
static void parser_seeds(const char *prefix, const char *name, const uint8_t *p, size_t n) {
    static const struct {
        unsigned flags;
        int chunk; /* -1: one chunk of everything */
        const char *variant;
    } v[] = {{0x0e | 0x70, -1, ""}, {0x0e | 0x70 | FP_SPACE, 0, ".bytewise"}, {0x00 | 0x70 | FP_GROW, 6, ".grow"}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        buf b = {0};
        put_byte(&b, v[i].flags);
        put_byte(&b, v[i].chunk < 0 ? 0 : 1);
        if (v[i].chunk >= 0) put_byte(&b, (unsigned)v[i].chunk);
        put(&b, p, n);
        write_seed("parser", prefix, name, v[i].variant, b.p, b.n);
        free(b.p);
    }
}

static void vectors(const char *path) {
    wv_file f;
    char err[256];
    if (wv_load(path, &f, err, sizeof err) != 0) {
        fprintf(stderr, "gen_seeds: %s\n", err);
        exit(1);
    }
    for (size_t i = 0; i < f.count; i++) {
        const wv_case *c = &f.cases[i];
        switch (c->kind) {
        case WV_OK:
        case WV_ERR: write_seed("codec", "v", c->name, "", c->hex, c->hexlen); break;
        case WV_FRAME:
            if (c->hexlen >= WIRE_HEADER_SIZE)
                write_seed("codec", "v", c->name, "", c->hex + WIRE_HEADER_SIZE, c->hexlen - WIRE_HEADER_SIZE);
            parser_seeds("v", c->name, c->hex, c->hexlen);
            break;
        case WV_FERR: parser_seeds("v", c->name, c->hex, c->hexlen); break;
        default: break;
        }
    }
    wv_free(&f);
}

static void control(const char *path) {
    char line[16384], err[256];
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(1);
    }
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        char *bar1 = strchr(line, '|'), *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
        char kind[32], name[128];
        if (!bar2 || sscanf(line, "%31s %127s", kind, name) != 2) {
            fprintf(stderr, "gen_seeds: %s: a line without three columns\n", path);
            exit(1);
        }
        uint8_t *hex;
        size_t n;
        if (wv_parse_hex(wv_trim(bar2 + 1), &hex, &n, err, sizeof err) != 0) {
            fprintf(stderr, "gen_seeds: %s: %s\n", path, err);
            exit(1);
        }
        if (strstr(kind, "-range") == NULL) { /* range cases have no payload: values only */
            write_seed("control", "c", name, "", hex, n);
            write_seed("codec", "c", name, "", hex, n);
        }
        free(hex);
    }
    fclose(f);
}

/* The conn target's script for a server connection receiving `in` in one DATA op per frame-ish
 * piece, with every reply taken; `faults` adds EINTR/EAGAIN/short reads and writes. */
static void conn_server_script(buf *s, const uint8_t *in, size_t n, bool faults) {
    put_byte(s, 0x06 | 0x18 | 0x40); /* server, the largest queue, buffer and max payload */
    put_byte(s, faults ? 3 : 0);
    put_byte(s, faults ? 2 : 0);
    for (size_t at = 0; at < n;) {
        size_t k = n - at > 256 ? 256 : n - at;
        if (faults) {
            put_byte(s, FC_READ_FAULT);
            put_byte(s, 0); /* EINTR */
            put_byte(s, FC_READ_FAULT);
            put_byte(s, 1); /* EAGAIN */
        }
        put_byte(s, FC_DATA);
        put_byte(s, (unsigned)(k & 0xff));
        put(s, in + at, k);
        at += k;
        put_byte(s, FC_NEXT);
        put_byte(s, 1); /* echo what reaches the application */
        put_byte(s, FC_WRITE);
        put_byte(s, faults ? 1 + (unsigned)(at % 5) : 0);
    }
    put_byte(s, FC_EOF);
    put_byte(s, FC_NEXT);
    put_byte(s, 0);
    put_byte(s, FC_WRITE);
    put_byte(s, 0);
}

static void sessions(const char *path) {
    ws_file f;
    char err[256];
    if (ws_load(path, &f, err, sizeof err) != 0) {
        fprintf(stderr, "gen_seeds: %s\n", err);
        exit(1);
    }
    buf payload = {0};
    for (size_t i = 0; i < f.count; i++) {
        const ws_session *se = &f.sessions[i];
        buf client = {0}, server = {0};
        for (size_t k = 0; k < se->nsteps; k++) {
            const ws_step *st = &se->steps[k];
            switch (st->kind) {
            case WS_HELLO: { /* what wire-conform sends, and a server's answer */
                wire_writer w;
                uint8_t p[64];
                size_t n = 0;
                wire_hello h = {WIRE_PROTOCOL_VERSION, WIRE_DEFAULT_MAX_PAYLOAD, "wire-conform", 12};
                wire_writer_init(&w, p, sizeof p);
                (void)wire_put_hello(&w, &h);
                if (wire_writer_finish(&w, &n) != WIRE_OK) exit(1);
                put_frame(&client, WIRE_MSG_HELLO, p, n);
                h.max_payload = f.max_payload;
                h.name = "wire-server";
                h.name_len = 11;
                wire_writer_init(&w, p, sizeof p);
                (void)wire_put_hello(&w, &h);
                if (wire_writer_finish(&w, &n) != WIRE_OK) exit(1);
                put_frame(&server, WIRE_MSG_HELLO, p, n);
                break;
            }
            case WS_SEND:
            case WS_EXPECT: {
                const uint8_t *p = st->hex;
                size_t n = st->hexlen;
                if (st->has_fields) {
                    encode(st->fields, st->nfields, &payload);
                    p = payload.p;
                    n = payload.n;
                }
                put_frame(st->kind == WS_SEND ? &client : &server, st->type, p, n);
                if (st->kind == WS_SEND && n <= 65536) {
                    char nm[160];
                    snprintf(nm, sizeof nm, "%s.%zu", se->name, k);
                    write_seed("codec", "s", nm, "", p, n);
                }
                break;
            }
            case WS_RAW: put(&client, st->hex, st->hexlen); break;
            case WS_EXPECT_ERROR: {
                wire_writer w;
                uint8_t p[128];
                size_t n = 0;
                wire_error_msg m = {(uint16_t)st->code, st->offset, "x", 1};
                wire_writer_init(&w, p, sizeof p);
                (void)wire_put_error_msg(&w, &m);
                if (wire_writer_finish(&w, &n) != WIRE_OK) exit(1);
                put_frame(&server, WIRE_MSG_ERROR, p, n);
                break;
            }
            default: break;
            }
        }
        parser_seeds("s", se->name, client.p, client.n);
        buf svc = {0};
        put_byte(&svc, 0);
        put(&svc, client.p, client.n);
        write_seed("service", "s", se->name, "", svc.p, svc.n);
        svc.p[0] = 7; /* the same in reads of 7 bytes: frames cut everywhere */
        write_seed("service", "s", se->name, ".read7", svc.p, svc.n);
        free(svc.p);
        if (client.n <= 65536) { /* the 1 MiB ECHO makes a slow conn seed: the service has it */
            for (int faults = 0; faults < 2; faults++) {
                buf s = {0};
                conn_server_script(&s, client.p, client.n, faults);
                write_seed("conn", "s", se->name, faults ? ".faults" : "", s.p, s.n);
                free(s.p);
            }
            buf s = {0}; /* a client connection, the server's answers as its peer */
            conn_server_script(&s, server.p, server.n, false);
            s.p[0] |= FC_CLIENT;
            write_seed("conn", "s", se->name, ".client", s.p, s.n);
            free(s.p);
        }
        free(client.p);
        free(server.p);
    }
    free(payload.p);
    ws_free(&f);
}

int main(int argc, char **argv) {
    char path[1024];
    if (argc != 2) {
        fprintf(stderr, "usage: gen_seeds OUT_DIR (proto/ from WIRE_PROTO_DIR or ./proto)\n");
        return 2;
    }
    out_dir = argv[1];
    if (mkdir(out_dir, 0777) != 0 && errno != EEXIST) {
        perror(out_dir);
        return 1;
    }
    if (!wv_default_path("vectors.txt", path, sizeof path)) return 1;
    vectors(path);
    if (!wv_default_path("control.txt", path, sizeof path)) return 1;
    control(path);
    if (!wv_default_path("sessions.txt", path, sizeof path)) return 1;
    sessions(path);
    printf("gen_seeds: %u seeds in %s\n", written, out_dir);
    return 0;
}
