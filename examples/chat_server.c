/* SPDX-License-Identifier: MIT */
/* chat_server.c - a chat room on libwire's server engine: every CHAT_SAY goes to everyone as a CHAT_LINE. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <wire.h>

enum { CHAT_SAY = 0x8101, CHAT_LINE = 0x8102 };
#define MAX_MEMBERS 256
#define MAX_TEXT 4096 /* a CHAT_SAY payload: larger frames are refused from their header (TOOBIG) */

/*
 * The room is state shared by every connection: a line said on one is queued on all the others.
 * That needs every connection in one address space and one thread, which is what the event-loop
 * models (epoll, poll, select) give. Under fork each connection runs in its own copy of the program
 * and would broadcast to a copy of the room holding only itself; under thread the handlers run
 * concurrently, and would race on the room and on connections that belong to other threads (a
 * wire_conn is used by one thread at a time). Iterative serves one member at a time: no room at all.
 */
static wire_conn *room[MAX_MEMBERS];
static size_t members;
static wire_server *server; /* for the signal handler */

static void on_signal(int sig) {
    (void)sig;
    wire_server_stop(server); /* async-signal-safe */
}

/* One CHAT_LINE to every member. Queueing on other connections from inside one connection's handler
 * is what the event loop allows: the engine hears of it (through wire_conn_set_notify, which it sets
 * on its connections) and sends their output once this handler returns. */
static void broadcast(const char *from, size_t from_len, const char *text, size_t text_len) {
    static uint8_t line[5 + WIRE_HELLO_NAME_MAX + 5 + MAX_TEXT];
    wire_writer w;
    size_t len;
    wire_writer_init(&w, line, sizeof line);
    wire_put_string(&w, from, from_len);
    wire_put_string(&w, text, text_len);
    if (wire_writer_finish(&w, &len) != WIRE_OK) return; /* cannot happen: the sizes are bounded above */
    for (size_t i = 0; i < members; i++) {
        /* A member that does not read its lines fills its queue: it is dropped at once rather than
         * let it hold up the room, or make the server buffer without bound. Other failures (a member
         * already closing, one that announced a max payload too small for this line) skip that
         * member only. */
        if (wire_conn_send(room[i], CHAT_LINE, line, len) == WIRE_ELIMIT) wire_conn_abort(room[i]);
    }
}

static void notice(wire_conn *c, const char *what) {
    char text[WIRE_HELLO_NAME_MAX + 16];
    size_t len;
    const char *name = wire_conn_peer_name(c, &len);
    int n = snprintf(text, sizeof text, "%.*s %s", (int)len, name, what);
    broadcast("server", 6, text, (size_t)n); /* n < sizeof text: the name has at most 255 bytes */
}

static void on_open(wire_conn *c, void *user) {
    (void)user;
    if (members == MAX_MEMBERS) { /* cannot happen: max_conns is MAX_MEMBERS */
        wire_conn_fail(c, WIRE_ELIMIT, WIRE_NO_OFFSET, "the room is full");
        return;
    }
    room[members++] = c;
    wire_conn_set_data(c, room); /* marks a member: on_close also comes for connections never opened */
    notice(c, "joined");
}

static void on_close(wire_conn *c, void *user) {
    if (!*(const bool *)user) fprintf(stderr, "chat-server: %s: %s\n", wire_conn_peer_addr(c), wire_conn_errstr(c));
    if (!wire_conn_data(c)) return;
    for (size_t i = 0; i < members; i++)
        if (room[i] == c) {
            room[i] = room[--members]; /* the order of the room does not matter */
            break;
        }
    notice(c, "left");
}

static void on_frame(wire_conn *c, const wire_frame *f, void *user) {
    wire_reader r;
    const char *text, *name;
    size_t text_len, name_len;
    (void)user;
    if (f->type != CHAT_SAY) {
        wire_conn_fail(c, WIRE_EUNEXPECTED, 2, "this server takes CHAT_SAY (0x8101) only");
        return;
    }
    wire_reader_init(&r, f->payload, f->length);
    if (wire_reader_finish(&r) != WIRE_OK) { /* SPEC 7.2: decoded whole first */
        wire_conn_fail_reader(c, &r, "in CHAT_SAY");
        return;
    }
    wire_reader_init(&r, f->payload, f->length);
    if (wire_peek(&r) != WIRE_T_STRING || wire_get_string(&r, &text, &text_len) != WIRE_OK ||
        !wire_reader_at_end(&r)) {
        /* SPEC 7.2: at the tag of the wrong field, or at 8 + length where the missing one would start */
        wire_conn_fail(c, WIRE_EMESSAGE, (uint32_t)(WIRE_HEADER_SIZE + wire_reader_offset(&r)),
                       "CHAT_SAY is one string");
        return;
    }
    name = wire_conn_peer_name(c, &name_len);
    broadcast(name, name_len, text, text_len);
}

static void on_log(void *user, const char *line) {
    if (!*(const bool *)user) fprintf(stderr, "chat-server: %s\n", line);
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
                fprintf(stderr, "chat-server: unknown mode '%s' (epoll, poll, select)\n", argv[i]);
                return 2;
            }
            if (cfg.model != WIRE_MODEL_EPOLL && cfg.model != WIRE_MODEL_POLL && cfg.model != WIRE_MODEL_SELECT) {
                fprintf(stderr, "chat-server: mode '%s' cannot serve a chat room: its members must share one "
                        "process and one thread; use an event loop (epoll, poll, select)\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: chat-server [--mode epoll|poll|select] [--port P] [--quiet]\n");
            return 2;
        }
    }
    cfg.conn.name = "chat-server";
    cfg.conn.max_payload = 5 + MAX_TEXT;
    cfg.conn.idle_timeout_ms = 0; /* a member may listen without ever speaking */
    cfg.max_conns = MAX_MEMBERS;
    cfg.on_open = on_open;
    cfg.on_frame = on_frame;
    cfg.on_close = on_close;
    cfg.on_log = on_log;
    cfg.user = &quiet;
    if (wire_server_new(&cfg, &server, err, sizeof err) != WIRE_OK ||
        wire_server_listen_tcp(server, "127.0.0.1", port, &bound, err, sizeof err) != WIRE_OK) {
        fprintf(stderr, "chat-server: %s\n", err);
        wire_server_free(server);
        return 1;
    }
    struct sigaction sa; /* not signal(): under strict C99 glibc's resets the handler after one use */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("%u\n", (unsigned)bound);
    fflush(stdout);
    wire_err e = wire_server_run(server, err, sizeof err);
    if (e) fprintf(stderr, "chat-server: %s\n", err);
    wire_server_free(server);
    return e ? 1 : 0;
}
