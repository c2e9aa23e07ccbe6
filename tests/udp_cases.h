/* SPDX-License-Identifier: MIT */
/* udp_cases.h - proto/udp.txt for the C tests (proto/README.md section 10): load the cases, check an
 * answer datagram against one. Header-only, needing only libwire, so that the library's test
 * (tests/test_udp.c) and the C peer's (interop/c/tests/) read the file the same way. */
#ifndef WIRE_UDP_CASES_H
#define WIRE_UDP_CASES_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

typedef enum uc_kind { UC_REPLY, UC_ERROR, UC_NONE } uc_kind;

typedef struct udp_case {
    char name[64];
    int line;
    uint8_t *dgram; /* the datagram sent */
    size_t len;
    uc_kind kind;
    uint8_t *frame; /* UC_REPLY: the frame after the id */
    size_t flen;
    wire_err code;  /* UC_ERROR */
    uint32_t offset;
} udp_case;

static inline int uc_nibble(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
}

/* Makes room for `more` bytes in *buf (capacity *cap, *n used); false if memory ran out. */
static inline bool uc_room(uint8_t **buf, size_t *cap, size_t n, size_t more) {
    while (*cap - n < more) {
        uint8_t *nb = realloc(*buf, *cap * 2);
        if (!nb) return false;
        *buf = nb;
        *cap *= 2;
    }
    return true;
}

/* A hex column (README 1.1: tokens, `bytes*count`) into a malloc'd buffer; false if malformed. */
static inline bool uc_hex(const char *s, uint8_t **out, size_t *len) {
    size_t cap = 64, n = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) return false;
    while (*s == ' ') s++;
    while (*s) {
        size_t tok = n; /* where this token's bytes start */
        while (*s && *s != ' ' && *s != '*') {
            int hi = uc_nibble(s[0]), lo = s[1] ? uc_nibble(s[1]) : -1;
            if (hi < 0 || lo < 0 || !uc_room(&buf, &cap, n, 1)) goto bad;
            buf[n++] = (uint8_t)(hi << 4 | lo);
            s += 2;
        }
        if (n == tok) goto bad;
        if (*s == '*') {
            char *end;
            unsigned long count = strtoul(s + 1, &end, 10);
            size_t tn = n - tok;
            if (end == s + 1 || count > 1000000) goto bad;
            s = end;
            if (count == 0) n = tok;
            for (unsigned long k = 1; k < count; k++, n += tn) {
                if (!uc_room(&buf, &cap, n, tn)) goto bad;
                memcpy(buf + n, buf + tok, tn);
            }
        }
        while (*s == ' ') s++;
    }
    *out = buf;
    *len = n;
    return true;
bad:
    free(buf);
    return false;
}

static inline wire_err uc_code(const char *name) {
    for (int e = 1; e < 64; e++)
        if (strcmp(wire_err_name((wire_err)e), name) == 0) return (wire_err)e;
    return WIRE_OK;
}

static inline char *uc_trim(char *s) {
    while (*s == ' ') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n')) s[--n] = '\0';
    return s;
}

static inline void udp_cases_free(udp_case *c, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(c[i].dgram);
        free(c[i].frame);
    }
    free(c);
}

/* Loads every case; 0, or -1 with "file:line: why" in err. */
static inline int udp_cases_load(const char *path, udp_case **out, size_t *count, char *err, size_t errlen) {
    static char line[1 << 18]; /* the longest case (echo.1500) takes about 6 KB */
    FILE *f = fopen(path, "r");
    size_t n = 0, cap = 0;
    udp_case *cs = NULL;
    int no = 0;
    *out = NULL;
    *count = 0;
    if (!f) {
        snprintf(err, errlen, "%s: cannot open", path);
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        no++;
        if (line[0] == '#' || line[0] == '\n') continue;
        char *p1 = strchr(line, '|'), *p2 = p1 ? strchr(p1 + 1, '|') : NULL;
        if (!p2 || strchr(p2 + 1, '|')) goto bad;
        *p1 = *p2 = '\0';
        char *head = uc_trim(line), *dg = uc_trim(p1 + 1), *ex = uc_trim(p2 + 1);
        if (strncmp(head, "udp ", 4) != 0) goto bad;
        if (n == cap) {
            udp_case *nc = realloc(cs, (cap = cap ? 2 * cap : 64) * sizeof *cs);
            if (!nc) goto bad;
            cs = nc;
        }
        udp_case *c = &cs[n];
        memset(c, 0, sizeof *c);
        c->line = no;
        snprintf(c->name, sizeof c->name, "%s", uc_trim(head + 4));
        n++;
        if (!uc_hex(dg, &c->dgram, &c->len)) goto bad;
        if (strncmp(ex, "reply ", 6) == 0) {
            c->kind = UC_REPLY;
            if (!uc_hex(ex + 6, &c->frame, &c->flen)) goto bad;
        } else if (strncmp(ex, "error ", 6) == 0) {
            char code[32];
            unsigned long off;
            c->kind = UC_ERROR;
            if (sscanf(ex + 6, "%31s %lu", code, &off) != 2 || (c->code = uc_code(code)) == WIRE_OK) goto bad;
            c->offset = (uint32_t)off;
        } else if (strcmp(ex, "none") == 0) {
            c->kind = UC_NONE;
        } else {
            goto bad;
        }
    }
    fclose(f);
    *out = cs;
    *count = n;
    return 0;
bad:
    snprintf(err, errlen, "%s:%d: not a udp case", path, no);
    fclose(f);
    udp_cases_free(cs, n);
    return -1;
}

/* Checks one answer datagram a[0..alen) (got: whether one came at all) against case c; false with
 * the reason in why. */
static inline bool udp_case_check(const udp_case *c, bool got, const uint8_t *a, size_t alen, char *why, size_t wlen) {
    wire_error_msg m;
    if (c->kind == UC_NONE) {
        if (got) snprintf(why, wlen, "%s (line %d): expected nothing, got a datagram of %zu bytes", c->name, c->line, alen);
        return !got;
    }
    if (!got) {
        snprintf(why, wlen, "%s (line %d): expected an answer, got nothing", c->name, c->line);
        return false;
    }
    if (alen < WIRE_UDP_OVERHEAD || c->len < 4 || memcmp(a, c->dgram, 4) != 0) {
        snprintf(why, wlen, "%s (line %d): the answer (%zu bytes) does not start with the request id", c->name, c->line,
                 alen);
        return false;
    }
    if (c->kind == UC_REPLY) {
        if (alen - 4 == c->flen && memcmp(a + 4, c->frame, c->flen) == 0) return true;
        snprintf(why, wlen, "%s (line %d): expected a %zu-byte frame, got %zu bytes (type 0x%02x%02x)", c->name,
                 c->line, c->flen, alen - 4, a[6], a[7]);
        return false;
    }
    uint32_t len = wire__load32(a + 8);
    if (a[4] != 1 || a[5] != 0 || wire__load16(a + 6) != WIRE_MSG_ERROR || len != alen - WIRE_UDP_OVERHEAD ||
        wire_get_error_msg(a + WIRE_UDP_OVERHEAD, len, &m, NULL) != WIRE_OK) {
        snprintf(why, wlen, "%s (line %d): expected an ERROR datagram, got %zu bytes of type 0x%02x%02x", c->name,
                 c->line, alen, a[6], a[7]);
        return false;
    }
    if (m.code == c->code && m.offset == c->offset) return true;
    snprintf(why, wlen, "%s (line %d): expected ERROR %s at %lu, got ERROR %s at %lu", c->name, c->line,
             wire_err_name(c->code), (unsigned long)c->offset, wire_err_name((wire_err)m.code), (unsigned long)m.offset);
    return false;
}

#endif
