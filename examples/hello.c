#include <stdio.h>
#include <stdlib.h>
#include <wire.h>

int main(int argc, char **argv) {
    char err[WIRE_ERRBUF_SIZE];
    uint8_t out[256], in[4096];
    size_t n;
    int fd;
    wire_frame f;
    wire_writer w;
    wire_hello me = {WIRE_PROTOCOL_VERSION, sizeof in - WIRE_HEADER_SIZE, "example", 7}, server;
    if (wire_tcp_connect("127.0.0.1", argc > 1 ? argv[1] : "7000", 2000, &fd, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    wire_writer_init(&w, out, sizeof out); /* encode HELLO's fields into our buffer */
    wire_put_hello(&w, &me);
    if (wire_writer_finish(&w, &n) || wire_send_frame(fd, WIRE_MSG_HELLO, out, (uint32_t)n) ||
        wire_recv_frame(fd, in, sizeof in, sizeof in - WIRE_HEADER_SIZE, &f, NULL) ||
        f.type != WIRE_MSG_HELLO || wire_get_hello(f.payload, f.length, &server, NULL)) {
        fprintf(stderr, "no HELLO from the server\n");
        return 1;
    }
    printf("%.*s speaks wire %u and accepts payloads up to %lu bytes\n", (int)server.name_len, server.name,
           server.version, (unsigned long)server.max_payload);
    return EXIT_SUCCESS;
}
