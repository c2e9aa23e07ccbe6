/* SPDX-License-Identifier: MIT */
/* chat_client.c - chat-client HOST PORT NAME: says each line of stdin to chat-server, prints every line said. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <wire.h>

enum { CHAT_SAY = 0x8101, CHAT_LINE = 0x8102 };
#define HELLO_MS 5000 /* to connect, and then for the server's HELLO */

/* stdin as it arrives: lines are cut here, not by stdio, whose buffer poll() cannot see into */
typedef struct input {
    char buf[4096]; /* a longer line is not sent (chat-server takes 4096 bytes of text at most) */
    size_t have;
    bool skipping; /* inside a line too long: dropped up to its newline */
    bool eof;
} input;

static void print_line(wire_conn *c, const wire_frame *f) {
    wire_reader r;
    const char *from, *text;
    size_t from_len, text_len;
    if (f->type != CHAT_LINE) {
        wire_conn_fail(c, WIRE_EUNEXPECTED, 2, "a chat client takes CHAT_LINE (0x8102) only");
        return;
    }
    wire_reader_init(&r, f->payload, f->length);
    if (wire_reader_finish(&r) != WIRE_OK) { /* SPEC 7.2: decoded whole first */
        wire_conn_fail_reader(c, &r, "in CHAT_LINE");
        return;
    }
    wire_reader_init(&r, f->payload, f->length);
    if (wire_peek(&r) != WIRE_T_STRING || wire_get_string(&r, &from, &from_len) != WIRE_OK ||
        wire_peek(&r) != WIRE_T_STRING || wire_get_string(&r, &text, &text_len) != WIRE_OK ||
        !wire_reader_at_end(&r)) {
        wire_conn_fail(c, WIRE_EMESSAGE, (uint32_t)(WIRE_HEADER_SIZE + wire_reader_offset(&r)),
                       "CHAT_LINE is two strings, from and text");
        return;
    }
    /* fwrite, not %s: a string may hold NUL bytes */
    fwrite(from, 1, from_len, stdout);
    fputs(": ", stdout);
    fwrite(text, 1, text_len, stdout);
    putchar('\n');
    fflush(stdout); /* a reader at the other end of a pipe sees each line when it comes */
}

/* Sends the complete lines held, as long as the output queue takes them; the rest waits. */
static void say_lines(wire_conn *c, input *in) {
    size_t done = 0;
    char *nl;
    while ((nl = memchr(in->buf + done, '\n', in->have - done)) != NULL) {
        size_t len = (size_t)(nl - (in->buf + done));
        wire_writer w;
        wire_err e = wire_conn_begin(c, CHAT_SAY, 5 + len, &w);
        if (e == WIRE_ELIMIT) break; /* the server is not reading us yet: keep the line for later */
        wire_put_string(&w, in->buf + done, len);
        if (e == WIRE_OK) e = wire_conn_end(c, &w);
        if (e) fprintf(stderr, "chat-client: line not sent: %s\n", wire_strerror(e)); /* UTF8, TOOBIG */
        done += len + 1;
    }
    memmove(in->buf, in->buf + done, in->have - done);
    in->have -= done;
    if (in->have == sizeof in->buf) {
        fprintf(stderr, "chat-client: line longer than %zu bytes not sent\n", sizeof in->buf - 1);
        in->have = 0;
        in->skipping = true;
    }
}

static void read_stdin(input *in) {
    ssize_t n = read(STDIN_FILENO, in->buf + in->have, sizeof in->buf - in->have);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n < 0) fprintf(stderr, "chat-client: stdin: %s\n", strerror(errno));
    if (n <= 0) {
        in->eof = true;
        if (in->have > 0 && !in->skipping) in->buf[in->have++] = '\n'; /* a last line without newline */
        return;
    }
    in->have += (size_t)n;
    if (in->skipping) {
        char *nl = memchr(in->buf, '\n', in->have);
        size_t drop = nl ? (size_t)(nl - in->buf) + 1 : in->have;
        memmove(in->buf, in->buf + drop, in->have - drop);
        in->have -= drop;
        in->skipping = nl == NULL;
    }
}

int main(int argc, char **argv) {
    wire_conn_config cfg;
    wire_conn *c;
    wire_frame f;
    input in = {{0}, 0, false, false};
    if (argc != 4) {
        fprintf(stderr, "usage: chat-client HOST PORT NAME\n");
        return 2;
    }
    wire_conn_config_init(&cfg, WIRE_ROLE_CLIENT);
    cfg.name = argv[3];
    if (strlen(cfg.name) > WIRE_HELLO_NAME_MAX || !wire_utf8_valid(cfg.name, strlen(cfg.name), NULL)) {
        fprintf(stderr, "chat-client: a name is at most %d bytes of UTF-8\n", WIRE_HELLO_NAME_MAX);
        return 2;
    }
    char err[WIRE_ERRBUF_SIZE + 256];
    if (wire_conn_connect(argv[1], argv[2], &cfg, HELLO_MS, &c, err, sizeof err) != WIRE_OK) {
        fprintf(stderr, "chat-client: %s\n", err);
        return 1;
    }
    /* The event loop of wire.h, with stdin beside the socket. */
    for (;;) {
        /* frames first: some may be buffered already (one came with the server's HELLO) */
        while (wire_conn_next(c, &f) == 1) print_line(c, &f);
        (void)wire_conn_write(c);
        if (wire_conn_get_state(c) == WIRE_CONN_CLOSED) break;
        unsigned ev = wire_conn_events(c);
        /* stdin is read only while there is room for it, on our side and in the output queue */
        bool want_input = wire_conn_get_state(c) == WIRE_CONN_OPEN && !in.eof && in.have < sizeof in.buf &&
                          wire_conn_queued(c) < cfg.max_queued;
        struct pollfd p[2] = {{want_input ? STDIN_FILENO : -1, POLLIN, 0},
                              {wire_conn_fd(c), (short)((ev & WIRE_EV_READ ? POLLIN : 0) |
                                                        (ev & WIRE_EV_WRITE ? POLLOUT : 0)), 0}};
        int64_t d = wire_conn_deadline(c), now = wire_now_ms();
        int wait = d < 0 ? -1 : d <= now ? 0 : d - now > 60000 ? 60000 : (int)(d - now);
        if (poll(p, 2, wait) < 0 && errno != EINTR) {
            fprintf(stderr, "chat-client: poll: %s\n", strerror(errno));
            break;
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) (void)wire_conn_read(c);
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) read_stdin(&in);
        if (wire_conn_get_state(c) == WIRE_CONN_OPEN) {
            say_lines(c, &in);
            /* every line said: BYE; the lines said before it still come, then the server's BYE */
            if (in.eof && in.have == 0 && wire_conn_bye(c) != WIRE_OK) {
                fprintf(stderr, "chat-client: cannot say BYE\n");
                break;
            }
        }
        (void)wire_conn_write(c);
        wire_conn_check_time(c, wire_now_ms());
    }
    /* CLOSED with WIRE_OK: the BYE exchange ended it; not CLOSED: the loop was left on an error, told */
    bool closed = wire_conn_get_state(c) == WIRE_CONN_CLOSED;
    wire_err e = closed ? wire_conn_error(c, NULL) : WIRE_EIO;
    if (closed && e) fprintf(stderr, "chat-client: %s\n", wire_conn_errstr(c));
    wire_conn_free(c);
    return e ? 1 : 0;
}
