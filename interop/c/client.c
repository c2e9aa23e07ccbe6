/* SPDX-License-Identifier: MIT */
/* client.c - wire-client, the C column of the interop matrix: runs the interop exchange (SPEC.md
 * 10.10, exchange.c) against a wire server and prints one line per case, then "<N> passed, <M>
 * failed". */
#include "exchange.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct client {
    const char *host, *port, *unix_path;
    int timeout_ms;
    bool quiet, udp;
} client;

static void print_case(void *arg, const char *name, bool ok, const char *why) {
    const client *c = arg;
    if (ok && !c->quiet) printf("ok   %s\n", name);
    if (!ok) printf("FAIL %s: %s\n", name, why);
}

/* ---------- command line ---------- */

static const char synopsis[] =
    "usage: wire-client [--host H] [--port P | --unix PATH] [--vectors FILE] [--stats FILE]\n"
    "                   [--timeout SEC] [--quiet] [--version] [--help]\n"
    "       wire-client --udp [--host H] --port P [--vectors FILE] [--stats FILE] [--quiet]\n";
static const char details[] =
    "Runs the wire interop exchange against a server and prints one line per case.\n"
    "  --host H        server host (default 127.0.0.1)\n"
    "  --port P        server TCP port (required unless --unix)\n"
    "  --unix PATH     connect to a Unix-domain socket instead\n"
    "  --udp           run the UDP exchange (SPEC.md 15.8) against the server's UDP port P: every\n"
    "                  request a datagram, resent after 100 ms, 200, 400, 800, then every 1000 ms,\n"
    "                  8 sends at most (SPEC.md 15.7); the retries are counted on stderr\n"
    "  --vectors FILE  proto vectors (default: $WIRE_PROTO_DIR/vectors.txt, ./proto/vectors.txt,\n"
    "                  proto/vectors.txt of the source tree this binary was built in, or the\n"
    "                  installed share/wire/vectors.txt)\n"
    "  --stats FILE    STATS known answers (default: stats.txt found the same way)\n"
    "  --timeout SEC   limit for each connect, send and receive (default 10; TCP only)\n"
    "  --quiet         print only FAIL lines and the summary\n"
    "  --version       the program's and the protocol's versions\n"
    "Exit status: 0 all cases passed, 1 some failed, 2 usage error or unreadable proto files.\n";

/* A usage error: the reason and the synopsis on stderr; returns -1. */
PRINTF_LIKE(1, 2) static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("wire-client: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", synopsis);
    return -1;
}

static int load(const char *what, const char *path, wv_file *f) {
    char err[512];
    if (path && wv_load(path, f, err, sizeof err) == 0) return 0;
    fprintf(stderr, "wire-client: cannot load the %s file: %s\n", what, path ? err : "path too long");
    return -1;
}

/* Parses the command line into c and the file arguments; -1 to exit with *rc (2 usage, 0 help). */
static int parse_args(int argc, char **argv, client *c, const char **vec_arg, const char **stats_arg, int *rc) {
    const char *timeout = NULL;
    const struct {
        const char *name;
        const char **dest;
    } opts[] = {{"--host", &c->host},       {"--port", &c->port},       {"--unix", &c->unix_path},
                {"--vectors", vec_arg}, {"--stats", stats_arg}, {"--timeout", &timeout}};
    size_t nopts = sizeof opts / sizeof opts[0];
    char *end;
    *rc = 2;
    for (int i = 1; i < argc; i++) {
        size_t k = 0;
        while (k < nopts && strcmp(argv[i], opts[k].name) != 0) k++;
        if (k < nopts) {
            if (i + 1 >= argc) return usage_error("%s needs a value", argv[i]);
            *opts[k].dest = argv[++i];
        } else if (strcmp(argv[i], "--quiet") == 0) {
            c->quiet = true;
        } else if (strcmp(argv[i], "--udp") == 0) {
            c->udp = true;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("wire-client %s (libwire %s), protocol version %d\n", WIRE_LIB_VERSION, WIRE_LIB_VERSION,
                   WIRE_PROTOCOL_VERSION);
            *rc = 0;
            return -1;
        } else if (strcmp(argv[i], "--help") == 0) {
            fputs(synopsis, stdout);
            fputs(details, stdout);
            *rc = 0;
            return -1;
        } else {
            return usage_error("unknown option '%s'", argv[i]);
        }
    }
    if (c->udp && c->unix_path) return usage_error("--udp needs --port: there is no Unix-domain datagram profile");
    if (!c->port == !c->unix_path) return usage_error("give exactly one of --port and --unix");
    if (*c->host == '\0') return usage_error("empty --host");
    if (c->port) {
        long port = strtol(c->port, &end, 10);
        if (*c->port < '0' || *c->port > '9' || *end || port < 1 || port > 65535)
            return usage_error("bad port '%s'", c->port);
    }
    if (timeout) {
        double sec = strtod(timeout, &end);
        if (end == timeout || *end || !(sec >= 0.001 && sec <= 2000000)) /* in ms it fits an int */
            return usage_error("bad timeout '%s' (seconds, 0.001 to 2000000)", timeout);
        c->timeout_ms = (int)(sec * 1000 + 0.5);
    }
    return 0;
}

int main(int argc, char **argv) {
    client c;
    const char *vec_arg = NULL, *stats_arg = NULL;
    int rc;
    memset(&c, 0, sizeof c);
    c.host = "127.0.0.1";
    c.timeout_ms = 10000;
    if (parse_args(argc, argv, &c, &vec_arg, &stats_arg, &rc)) return rc;
    char why[WIRE_ERRBUF_SIZE];
    if (wire_selfcheck(why, sizeof why) != WIRE_OK) {
        fprintf(stderr, "wire-client: this platform does not fit SPEC.md: %s\n", why);
        return 2;
    }

    char vec_buf[4200], stats_buf[4200];
    const char *vec_path = vec_arg ? vec_arg : wv_default_path("vectors.txt", vec_buf, sizeof vec_buf) ? vec_buf : NULL;
    const char *stats_path =
        stats_arg ? stats_arg : wv_default_path("stats.txt", stats_buf, sizeof stats_buf) ? stats_buf : NULL;
    wv_file vec, stats;
    rc = 2;
    memset(&stats, 0, sizeof stats);
    if (load("vectors", vec_path, &vec) == 0) {
        if (load("stats", stats_path, &stats) == 0) {
            unsigned long counts[3] = {0, 0, 0};
            ex_config cfg = {c.host, c.port, c.unix_path, "c-client", c.timeout_ms, &vec, &stats, NULL, print_case, &c};
            unsigned passed = 0, failed = 0;
            setvbuf(stdout, NULL, _IOLBF, 0); /* progress stays visible through a pipe */
            if ((c.udp ? ex_run_udp(&cfg, counts, &passed, &failed) : ex_run(&cfg, &passed, &failed)) == 0) {
                if (c.udp) /* what the loss cost: a lossy path shows here, not in the report */
                    fprintf(stderr, "wire-client: udp: %lu datagrams sent, %lu of them resent, %lu received and dropped\n",
                            counts[0], counts[1], counts[2]);
                printf("%u passed, %u failed\n", passed, failed);
                rc = failed ? 1 : 0;
            } else {
                fprintf(stderr, "wire-client: out of memory\n");
            }
            wv_free(&stats);
        }
        wv_free(&vec);
    }
    return rc;
}
