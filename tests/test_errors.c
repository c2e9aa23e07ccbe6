/* SPDX-License-Identifier: MIT */
/* test_errors.c - one error table: wire.h, proto/errors.txt and SPEC.md agree; control messages;
 * the platform self-check. (The other tables are in test_tables.c.) */
#include "testutil.h"

/* Every row of proto/errors.txt matches wire_err_name/wire_strerror, and the C table has no extra. */
static void test_table_matches_proto(void **state) {
    (void)state;
    char path[512], line[512];
    FILE *f = fopen(proto_path("errors.txt", path, sizeof path), "r");
    assert_non_null(f);
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        int code, used = 0;
        char name[32], where[8];
        assert_int_equal(sscanf(line, "%d %31s %7s %n", &code, name, where, &used), 3);
        char *msg = line + used;
        msg[strcspn(msg, "\n")] = '\0';
        assert_string_equal(wire_err_name((wire_err)code), name);
        assert_string_equal(wire_strerror((wire_err)code), msg);
        assert_true(strcmp(where, "wire") == 0 || strcmp(where, "local") == 0);
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, 22);
    assert_string_equal(wire_err_name((wire_err)22), "?");
    assert_string_equal(wire_strerror((wire_err)999), "unknown error");
}

/* SPEC.md's error table has a row for every code, with the same name and message. */
static void test_table_matches_spec(void **state) {
    (void)state;
    char *spec = read_spec();
    assert_non_null(spec);
    for (int code = 0; code <= 21; code++) {
        char row[64];
        snprintf(row, sizeof row, "| %d | %s |", code, wire_err_name((wire_err)code));
        char *at = strstr(spec, row);
        if (!at) fprintf(stderr, "SPEC.md has no row starting '%s'\n", row);
        assert_non_null(at);
        char *eol = strchr(at, '\n');
        assert_non_null(eol);
        *eol = '\0';
        if (!strstr(at, wire_strerror((wire_err)code))) fprintf(stderr, "SPEC.md row '%s' lacks the message\n", at);
        assert_non_null(strstr(at, wire_strerror((wire_err)code)));
        *eol = '\n';
    }
    free(spec);
}

/* Encodes a HELLO field by field, bypassing wire_put_hello()'s own checks. */
static size_t raw_hello(uint8_t *buf, size_t cap, int version_tag, uint32_t max, size_t name_len) {
    static char name[400];
    wire_writer w;
    size_t n = 0;
    memset(name, 'n', sizeof name);
    wire_writer_init(&w, buf, cap);
    if (version_tag == WIRE_T_U16) wire_put_u16(&w, 1);
    else wire_put_u32(&w, 1);
    wire_put_u32(&w, max);
    wire_put_string(&w, name, name_len);
    assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
    return n;
}

static void test_hello_and_error_messages(void **state) {
    (void)state;
    uint8_t buf[512];
    wire_writer w;
    size_t n, at;
    wire_hello h = {1, WIRE_DEFAULT_MAX_PAYLOAD, "c-client", 8}, h2;
    wire_writer_init(&w, buf, sizeof buf);
    wire_put_hello(&w, &h);
    assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
    static const uint8_t want[] = {0x02, 0x00, 0x01, 0x03, 0x01, 0x00, 0x00, 0x00, 0x40, 0, 0, 0, 8,
                                   'c', '-', 'c', 'l', 'i', 'e', 'n', 't'};
    assert_bytes_equal(buf, n, want, sizeof want, "hello");
    assert_int_equal(wire_get_hello(buf, n, &h2, &at), WIRE_OK);
    assert_int_equal(h2.version, 1);
    assert_int_equal(h2.max_payload, WIRE_DEFAULT_MAX_PAYLOAD);
    assert_int_equal(h2.name_len, 8);
    assert_memory_equal(h2.name, "c-client", 8);
    /* trailing fields are allowed */
    wire_put_u8(&w, 5);
    assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
    assert_int_equal(wire_get_hello(buf, n, &h2, &at), WIRE_OK);
    /* SPEC 7.2, field by field in order: missing name: MESSAGE where it would start */
    assert_int_equal(wire_get_hello(buf, 8, &h2, &at), WIRE_EMESSAGE);
    assert_int_equal(at, 8);
    /* a version field that is no u16: MESSAGE at its tag */
    n = raw_hello(buf, sizeof buf, WIRE_T_U32, WIRE_DEFAULT_MAX_PAYLOAD, 3);
    assert_int_equal(wire_get_hello(buf, n, &h2, &at), WIRE_EMESSAGE);
    assert_int_equal(at, 0);
    /* version 2: VERSION at the value, judged first (the 300-byte name after it is not) */
    n = raw_hello(buf, sizeof buf, WIRE_T_U16, WIRE_DEFAULT_MAX_PAYLOAD, 300);
    buf[2] = 2;
    assert_int_equal(wire_get_hello(buf, n, &h2, &at), WIRE_EVERSION);
    assert_int_equal(at, 1);
    assert_int_equal(h2.version, 2);
    /* a decoding error anywhere keeps its own code, before any field is judged */
    buf[8] = 0x77;
    assert_int_equal(wire_get_hello(buf, n, &h2, &at), WIRE_EBADTAG);
    assert_int_equal(at, 8);
    /* values not allowed: MESSAGE at the first byte after the tag */
    n = raw_hello(buf, sizeof buf, WIRE_T_U16, WIRE_MIN_MAX_PAYLOAD - 1, 3);
    assert_int_equal(wire_get_hello(buf, n, &h2, &at), WIRE_EMESSAGE);
    assert_int_equal(at, 4);
    n = raw_hello(buf, sizeof buf, WIRE_T_U16, WIRE_MIN_MAX_PAYLOAD, 3);
    assert_int_equal(wire_get_hello(buf, n, &h2, &at), WIRE_OK);
    n = raw_hello(buf, sizeof buf, WIRE_T_U16, WIRE_DEFAULT_MAX_PAYLOAD, 300);
    assert_int_equal(wire_get_hello(buf, n, &h2, &at), WIRE_EMESSAGE);
    assert_int_equal(at, 9); /* the name's length word: frame offset 17 */
    /* and the encoder refuses what the decoder would */
    wire_hello big = {1, WIRE_DEFAULT_MAX_PAYLOAD, "n", 256}, small = {1, WIRE_MIN_MAX_PAYLOAD - 1, "n", 1};
    wire_writer_init(&w, buf, sizeof buf);
    assert_int_equal(wire_put_hello(&w, &big), WIRE_ERANGE);
    wire_writer_init(&w, buf, sizeof buf);
    assert_int_equal(wire_put_hello(&w, &small), WIRE_ERANGE);

    wire_error_msg e = {WIRE_EUTF8, 13, "bad", 3}, e2;
    wire_writer_init(&w, buf, sizeof buf);
    wire_put_error_msg(&w, &e);
    assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
    assert_int_equal(wire_get_error_msg(buf, n, &e2, &at), WIRE_OK);
    assert_int_equal(e2.code, WIRE_EUTF8);
    assert_int_equal(e2.offset, 13);
    assert_memory_equal(e2.text, "bad", 3);
}

static void test_selfcheck(void **state) {
    (void)state;
    char err[WIRE_ERRBUF_SIZE];
    assert_int_equal(wire_selfcheck(err, sizeof err), WIRE_OK);
    assert_string_equal(err, "ok");
    assert_int_equal(wire_selfcheck(NULL, 0), WIRE_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_matches_proto),
        cmocka_unit_test(test_table_matches_spec),
        cmocka_unit_test(test_hello_and_error_messages),
        cmocka_unit_test(test_selfcheck),
    };
    return cmocka_run_group_tests_name("errors", tests, NULL, NULL);
}
