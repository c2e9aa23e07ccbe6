/* SPDX-License-Identifier: MIT */
/* vectors.h - the proto/ golden vectors in C: parse the value notation of proto/vectors.txt and
 * proto/stats.txt (see proto/README.md), encode values, compare decoded values with expected ones,
 * and transcode (decode every field, encode it again). Used by the tests, wire-server and wire-client.
 * Not part of libwire: this code allocates while loading a file (once, at start-up); checking and
 * transcoding stream through a wire_reader and allocate nothing. */
#ifndef WIRE_VECTORS_H
#define WIRE_VECTORS_H

#include "wire.h"

/* One value of the notation: a field, a list element or a group member. */
typedef struct wv_value {
    uint8_t type;             /* wire tag */
    uint8_t elem;             /* list element tag */
    uint64_t bits;            /* integers (two's complement for signed), float bit patterns, bool 0/1 */
    uint8_t *data;            /* string / bytes content */
    size_t len;
    struct wv_value *items;   /* list elements / group fields */
    size_t count;
    bool any;                 /* a pattern's `*` (u32:*, string:*): any value of this type matches */
} wv_value;

typedef enum wv_kind { WV_OK, WV_ERR, WV_FRAME, WV_FERR, WV_STATS } wv_kind;

typedef struct wv_case {
    wv_kind kind;
    char *name;
    int line;
    wv_value *fields; /* ok/frame: the payload's fields; stats: the request */
    size_t nfields;
    wv_value *reply;  /* stats: the expected reply fields */
    size_t nreply;
    uint16_t frame_type;
    uint8_t *hex;     /* ok/err/frame/ferr: the exact bytes */
    size_t hexlen;
    wire_err err;     /* err/ferr */
    size_t err_offset;
} wv_case;

typedef struct wv_file {
    wv_case *cases;
    size_t count;
} wv_file;

/* Where a proto/ file is by default (SPEC 10.10): $WIRE_PROTO_DIR/file; else the first that exists of
 * proto/file (the current directory), <directory of the running program>/../../proto/file (programs
 * live in build/<cc>/ of the source tree) and WIRE_DATADIR/wire/file (where `make install` puts
 * proto/); else proto/file. Writes the path into buf; false if it did not fit. */
bool wv_default_path(const char *file, char *buf, size_t len);

/* Loads a vectors.txt or stats.txt file. 0 on success; -1 with a message ("file:line: why") in err. */
int wv_load(const char *path, wv_file *f, char *err, size_t errlen);
void wv_free(wv_file *f);
/* The case with this name and kind, or NULL. */
const wv_case *wv_find(const wv_file *f, wv_kind kind, const char *name, size_t name_len);
/* The error code whose SPEC name is `name` ("UTF8"), or -1. */
int wv_err_code(const char *name);

/* Parses the value notation (proto/README.md 1.2) of text into *out (n values, wv_free_values());
 * with patterns, a value may be `*` (any value of its type, for wv_check). 0, or -1 with a message
 * in err. */
int wv_parse_fields(const char *text, bool patterns, wv_value **out, size_t *n, char *err, size_t errlen);
/* Removes the ASCII white space around s, in place; returns where it now starts. */
char *wv_trim(char *s);
/* Parses a hex column (proto/README.md 1.1) into *out (malloc'd, *len bytes). 0, or -1. */
int wv_parse_hex(const char *text, uint8_t **out, size_t *len, char *err, size_t errlen);
void wv_free_values(wv_value *v, size_t n);

/* Encodes n values as fields (or as elements when w is inside a list). Returns w's error. */
wire_err wv_encode(wire_writer *w, const wv_value *v, size_t n);

/* Reads n items from r and compares them, values and types, with expected; then, at the top level,
 * checks nothing more follows. 0: all equal; 1: a mismatch, described in path ("2.0.5"), exp and got
 * (proto/ notation, "(missing)" / "(none)"); -1: r failed to decode (see wire_reader_error()). */
int wv_check(wire_reader *r, const wv_value *expected, size_t n, char *path, size_t pathlen, char *exp,
             size_t explen, char *got, size_t gotlen);

/* Decodes every remaining field of r and encodes it again into w (what ROUNDTRIP does). Returns the
 * reader's error if decoding failed, else the writer's. */
wire_err wv_transcode(wire_reader *r, wire_writer *w);

/* Writes v in the proto/ notation (long contents are cut with "..."). */
void wv_format(const wv_value *v, char *buf, size_t len);

#endif
