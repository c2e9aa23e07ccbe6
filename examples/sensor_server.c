/* SPDX-License-Identifier: MIT */
/* sensor_server.c - a sensor service on libwire's server engine: SENSOR_READING in, SENSOR_SUMMARY out. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <wire.h>

enum { SENSOR_READING = 0x8001, SENSOR_SUMMARY = 0x8002 };

static wire_server *server; /* for the signal handler */

static void on_signal(int sig) {
    (void)sig;
    wire_server_stop(server); /* async-signal-safe: the engine finishes the frames in flight */
}

/* SPEC 7.2: a field of the wrong type is MESSAGE at its tag byte; a missing one at 8 + length, which
 * is where the reader stands then. Either way: the reader's offset. */
static bool field(wire_conn *c, wire_reader *r, int tag, const char *what) {
    if (wire_peek(r) == tag) return true;
    wire_conn_fail(c, WIRE_EMESSAGE, (uint32_t)(WIRE_HEADER_SIZE + wire_reader_offset(r)), what);
    return false;
}

static void on_frame(wire_conn *c, const wire_frame *f, void *user) {
    wire_reader r;
    wire_writer w;
    wire_type elem;
    uint32_t id, n;
    int64_t timestamp;
    const char *name;
    size_t name_len;
    (void)user;
    if (f->type != SENSOR_READING) {
        wire_conn_fail(c, WIRE_EUNEXPECTED, 2, "this server takes SENSOR_READING (0x8001) only");
        return;
    }
    /* SPEC 7.2: the whole payload must decode before its fields are judged, so that a decoding error
     * anywhere wins over a wrong field before it */
    wire_reader_init(&r, f->payload, f->length);
    if (wire_reader_finish(&r) != WIRE_OK) {
        wire_conn_fail_reader(c, &r, "in SENSOR_READING");
        return;
    }
    /* the payload is valid, so after each check the get cannot fail */
    wire_reader_init(&r, f->payload, f->length);
    if (!field(c, &r, WIRE_T_U32, "SENSOR_READING: field 0 is the u32 sensor id")) return;
    (void)wire_get_u32(&r, &id);
    if (!field(c, &r, WIRE_T_I64, "SENSOR_READING: field 1 is the i64 timestamp")) return;
    (void)wire_get_i64(&r, &timestamp); /* ms since the epoch; a summary does not need it */
    if (!field(c, &r, WIRE_T_STRING, "SENSOR_READING: field 2 is the string name")) return;
    (void)wire_get_string(&r, &name, &name_len);
    size_t list_at = wire_reader_offset(&r);
    if (!field(c, &r, WIRE_T_LIST, "SENSOR_READING: field 3 is the list of f64 samples")) return;
    (void)wire_get_list_begin(&r, &elem, &n);
    if (elem != WIRE_T_F64) { /* a wrong value: the first byte after the tag, the element type */
        wire_conn_fail(c, WIRE_EMESSAGE, (uint32_t)(WIRE_HEADER_SIZE + list_at + 1), "the samples are f64");
        return;
    }
    /* An empty list has no mean, min or max: all three are NaN then. NaN samples make the mean NaN;
     * min and max skip them (as fmin/fmax do), unless every sample is NaN. */
    double sum = 0.0, min = NAN, max = NAN;
    for (uint32_t i = 0; i < n; i++) {
        double v;
        (void)wire_get_f64(&r, &v);
        sum += v;
        if (isnan(min) || v < min) min = v;
        if (isnan(max) || v > max) max = v;
    }
    (void)wire_get_list_end(&r);
    if (!wire_reader_at_end(&r)) { /* strict, as the interop requests are: a field too many */
        wire_conn_fail(c, WIRE_EMESSAGE, (uint32_t)(WIRE_HEADER_SIZE + wire_reader_offset(&r)),
                       "SENSOR_READING has exactly four fields");
        return;
    }
    /* u32, string, u32, 3 x f64: 5 + 5 + name + 5 + 27 bytes */
    wire_err e = wire_conn_begin(c, SENSOR_SUMMARY, 42 + name_len, &w);
    wire_put_u32(&w, id);
    wire_put_string(&w, name, name_len);
    wire_put_u32(&w, n);
    wire_put_f64(&w, n ? sum / n : NAN);
    wire_put_f64(&w, min);
    wire_put_f64(&w, max);
    if (e == WIRE_OK) e = wire_conn_end(c, &w);
    /* TOOBIG: the echoed name makes the summary larger than the client accepts */
    if (e) wire_conn_fail(c, e, WIRE_NO_OFFSET, "cannot send the summary");
}

static void on_close(wire_conn *c, void *user) {
    if (!*(const bool *)user) fprintf(stderr, "sensor-server: %s: %s\n", wire_conn_peer_addr(c), wire_conn_errstr(c));
}

static void on_log(void *user, const char *line) {
    if (!*(const bool *)user) fprintf(stderr, "sensor-server: %s\n", line);
}

int main(int argc, char **argv) {
    wire_server_config cfg;
    const char *port = "0";
    char err[WIRE_ERRBUF_SIZE];
    uint16_t bound;
    bool quiet = false;
    wire_server_config_init(&cfg);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quiet") == 0) quiet = true;
        else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = argv[++i];
        else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
            if (wire_model_from_name(argv[++i], &cfg.model) != WIRE_OK) {
                fprintf(stderr, "sensor-server: unknown mode '%s' (epoll, poll, select, fork, thread, iterative)\n",
                        argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: sensor-server [--mode MODEL] [--port P] [--quiet]\n");
            return 2;
        }
    }
    cfg.conn.name = "sensor-server";
    cfg.on_frame = on_frame;
    cfg.on_close = on_close;
    cfg.on_log = on_log;
    cfg.user = &quiet;
    if (wire_server_new(&cfg, &server, err, sizeof err) != WIRE_OK ||
        wire_server_listen_tcp(server, "127.0.0.1", port, &bound, err, sizeof err) != WIRE_OK) {
        fprintf(stderr, "sensor-server: %s\n", err);
        wire_server_free(server);
        return 1;
    }
    /* sigaction, not signal(): under strict C99 glibc's signal() resets the handler after one use */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("%u\n", (unsigned)bound);
    fflush(stdout); /* whoever started us reads the port before we serve */
    wire_err e = wire_server_run(server, err, sizeof err);
    if (e) fprintf(stderr, "sensor-server: %s\n", err);
    wire_server_free(server);
    return e ? 1 : 0;
}
