/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <wire.h>

int main(int argc, char **argv) {
    char err[512];
    uint8_t buf[64];
    size_t n, len;
    wire_conn *c;
    wire_frame reply;
    wire_writer w;
    if (wire_conn_connect("127.0.0.1", argc > 1 ? argv[1] : "7000", NULL, 2000, &c, err, sizeof err)) {
        fprintf(stderr, "%s\n", err); /* HELLO is done: a refusal (ERROR LIMIT) is said here */
        return 1;
    }
    const char *name = wire_conn_peer_name(c, &len);
    printf("%.*s accepts payloads up to %lu bytes\n", (int)len, name, (unsigned long)wire_conn_peer_max(c));
    wire_writer_init(&w, buf, sizeof buf); /* two fields; ROUNDTRIP decodes and re-encodes them */
    wire_put_u32(&w, 7);
    wire_put_string(&w, "h\xc3\xa9llo", 6);
    if (wire_writer_finish(&w, &n) || wire_conn_request(c, WIRE_MSG_ROUNDTRIP, buf, n, &reply, 2000)) {
        fprintf(stderr, "%s\n", wire_conn_errstr(c));
        return 1;
    }
    uint32_t u;
    const char *s;
    wire_reader r;
    wire_reader_init(&r, reply.payload, reply.length); /* views into the reply: valid until the next receive */
    wire_get_u32(&r, &u);
    wire_get_string(&r, &s, &len);
    wire_err e = wire_reader_finish(&r);
    if (e == WIRE_OK) printf("back: u32 %u, string \"%.*s\"\n", (unsigned)u, (int)len, s);
    wire_conn_hangup(c, 2000); /* BYE, and its answer */
    wire_conn_free(c);
    return e == WIRE_OK ? 0 : 1;
}
