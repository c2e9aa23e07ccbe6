/* SPDX-License-Identifier: MIT */
/* exchange.h - the interop exchange of SPEC.md 10.10, run as a client (exchange.c): wire-client
 * runs all of it, wire-conform the cases of a level; and its UDP variant (SPEC 15.8). */
#ifndef WIRE_EXCHANGE_H
#define WIRE_EXCHANGE_H

#include "vectors.h"
#include "wire.h"

/* printf-style checking of a function's format and arguments, where the compiler has it. */
#if defined(__GNUC__) || defined(__clang__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

typedef struct ex_config {
    const char *host, *port; /* the server: TCP, */
    const char *unix_path;   /* or a Unix-domain socket when not NULL */
    const char *name;        /* the client's HELLO name ("c-client") */
    int timeout_ms;          /* each connect, send and receive */
    const wv_file *vectors, *stats;
    /* Which cases to run, by name ("check:u32.pattern", "echo:4096", "reject:err.utf8-..."); NULL:
     * all of them. */
    bool (*want)(void *arg, const char *name);
    /* Each case that ran, when it ends: why it failed (one line) when !ok. */
    void (*report)(void *arg, const char *name, bool ok, const char *why);
    void *arg;
} ex_config;

/* Runs the exchange's cases in SPEC order. 0 (with the counts), or -1 when memory ran out. */
int ex_run(const ex_config *cfg, unsigned *passed, unsigned *failed);

/* The UDP exchange of SPEC 15.8 (cfg->host, cfg->port: the server's UDP port; unix_path, name and
 * timeout_ms are not used), each request sent and retried by the policy of 15.7. udp_counts (if
 * not NULL) receives what the retries did: datagrams sent, resent, received and dropped. */
int ex_run_udp(const ex_config *cfg, unsigned long udp_counts[3], unsigned *passed, unsigned *failed);

#endif
