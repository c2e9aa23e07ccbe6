/* SPDX-License-Identifier: MIT */
/* test_tables.c - one truth for every table: the field types (WIRE_TYPES), the message types
 * (WIRE_MESSAGES) and the limits of wire.h against SPEC.md's tables and against proto/messages.txt
 * and proto/limits.txt, row by row and both ways (a row one has and wire.h lacks fails as well as the
 * reverse). The error table has test_errors.c. */
#include "testutil.h"

#include <ctype.h>

static char *spec;

static int load(void **state) {
    (void)state;
    spec = read_spec();
    return spec ? 0 : -1;
}

static int unload(void **state) {
    (void)state;
    free(spec);
    return 0;
}

/* The text of the section whose heading starts with `heading`, up to the next heading of any level;
 * a copy, NUL-terminated. */
static char *section(const char *heading) {
    const char *at = strstr(spec, heading);
    if (!at) fail_msg("SPEC.md has no section '%s'", heading);
    const char *end = strstr(at + strlen(heading), "\n#");
    size_t n = end ? (size_t)(end - at) : strlen(at);
    char *s = malloc(n + 1);
    assert_non_null(s);
    memcpy(s, at, n);
    s[n] = '\0';
    return s;
}

/* The cells of the table rows in text whose first cell starts with "0x": up to max rows of
 * (number, second cell). */
typedef struct row {
    unsigned long number;
    char name[40];
} row;

static size_t rows_of(const char *text, row *out, size_t max) {
    size_t n = 0;
    for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        unsigned long v;
        char name[40];
        if (sscanf(line, "| 0x%lx | %39[^ |] |", &v, name) != 2) continue;
        assert_true(n < max);
        out[n].number = v;
        snprintf(out[n].name, sizeof out[n].name, "%s", name);
        n++;
    }
    return n;
}

static void test_types_match_spec(void **state) {
    (void)state;
    static const struct {
        unsigned tag;
        const char *name;
    } ours[] = {
#define ROW(name, tag, text) {tag, text},
        WIRE_TYPES(ROW)
#undef ROW
    };
    size_t n_ours = sizeof ours / sizeof ours[0];
    char *text = section("### 3.2 Tags and value encodings");
    row r[64];
    size_t n = rows_of(text, r, 64);
    free(text);
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < n_ours && ours[k].tag != r[i].number) k++;
        if (k == n_ours) fail_msg("SPEC.md 3.2 has tag 0x%02lx (%s), WIRE_TYPES has not", r[i].number, r[i].name);
        if (strcmp(ours[k].name, r[i].name) != 0)
            fail_msg("tag 0x%02lx: SPEC.md calls it %s, WIRE_TYPES %s", r[i].number, r[i].name, ours[k].name);
        assert_string_equal(wire_type_name((int)r[i].number), r[i].name);
    }
    assert_int_equal(n, n_ours); /* and nothing of ours is missing from SPEC.md */
    int known = 0;
    for (int t = 0; t < 256; t++) known += wire_type_name(t) != NULL;
    assert_int_equal(known, (int)n_ours);
    assert_null(wire_type_name(0));
    assert_null(wire_type_name(0x21));
}

static void test_messages_match_spec(void **state) {
    (void)state;
    static const struct {
        unsigned type;
        const char *name;
    } ours[] = {
#define ROW(name, type) {type, #name},
        WIRE_MESSAGES(ROW)
#undef ROW
    };
    size_t n_ours = sizeof ours / sizeof ours[0];
    char *text = section("### 7.1 Registry");
    const char *defined = strstr(text, "Defined types");
    assert_non_null(defined);
    row r[64];
    size_t n = rows_of(defined, r, 64);
    free(text);
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < n_ours && ours[k].type != r[i].number) k++;
        if (k == n_ours) fail_msg("SPEC.md 7.1 defines 0x%04lx %s, WIRE_MESSAGES does not", r[i].number, r[i].name);
        if (strcmp(ours[k].name, r[i].name) != 0)
            fail_msg("type 0x%04lx: SPEC.md calls it %s, WIRE_MESSAGES %s", r[i].number, r[i].name, ours[k].name);
        assert_string_equal(wire_msg_name((unsigned)r[i].number), r[i].name);
    }
    assert_int_equal(n, n_ours);
    assert_null(wire_msg_name(0));
    assert_null(wire_msg_name(0x0006));
    assert_null(wire_msg_name(0x8000));
    assert_int_equal(WIRE_MSG_APP_FIRST, 0x8000);
}

/* proto/messages.txt, the registry every language reads: the same numbers and names as WIRE_MESSAGES. */
static void test_messages_match_proto(void **state) {
    (void)state;
    char path[512], line[1024], name[64];
    FILE *f = fopen(proto_path("messages.txt", path, sizeof path), "r");
    assert_non_null(f);
    unsigned type, seen = 0, last = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        if (sscanf(line, "0x%4x %63s", &type, name) != 2) fail_msg("messages.txt: bad line: %s", line);
        const char *ours = wire_msg_name(type);
        if (!ours) fail_msg("messages.txt has 0x%04x %s, WIRE_MESSAGES does not", type, name);
        if (strcmp(ours, name) != 0) fail_msg("type 0x%04x: messages.txt calls it %s, wire.h %s", type, name, ours);
        assert_true(type > last); /* in numeric order, each once */
        last = type;
        seen++;
    }
    fclose(f);
    unsigned known = 0;
    for (unsigned t = 0; t < 0x10000; t++) known += wire_msg_name(t) != NULL;
    assert_int_equal(seen, known);
}

/* proto/limits.txt: every limit, as wire.h defines it; and the smallest max payload is the largest
 * ERROR payload (SPEC 8.1), so that every ERROR fits whatever a peer announced. */
static void test_limits_match_proto(void **state) {
    (void)state;
    static const struct {
        const char *name;
        unsigned long value;
    } ours[] = {{"header_size", WIRE_HEADER_SIZE},
                {"max_depth", WIRE_MAX_DEPTH},
                {"default_max_payload", WIRE_DEFAULT_MAX_PAYLOAD},
                {"min_max_payload", WIRE_MIN_MAX_PAYLOAD},
                {"hello_name_max", WIRE_HELLO_NAME_MAX},
                {"error_text_max", WIRE_ERROR_TEXT_MAX},
                {"no_offset", WIRE_NO_OFFSET},
                {"udp_max_datagram", WIRE_UDP_MAX_DATAGRAM},
                {"udp_max_payload", WIRE_UDP_MAX_PAYLOAD}};
    size_t n = sizeof ours / sizeof ours[0], seen = 0;
    char path[512], line[256], name[64];
    unsigned long v;
    FILE *f = fopen(proto_path("limits.txt", path, sizeof path), "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        if (sscanf(line, "%63s %lu", name, &v) != 2) fail_msg("limits.txt: bad line: %s", line);
        size_t k = 0;
        while (k < n && strcmp(ours[k].name, name) != 0) k++;
        if (k == n) fail_msg("limits.txt has %s, wire.h has no such limit", name);
        if (ours[k].value != v) fail_msg("%s: limits.txt says %lu, wire.h %lu", name, v, ours[k].value);
        seen++;
    }
    fclose(f);
    assert_int_equal(seen, n);
    assert_int_equal(WIRE_MIN_MAX_PAYLOAD, 3 + 5 + 5 + WIRE_ERROR_TEXT_MAX);
    /* SPEC 15.4: 65535 - 20 - 8 bytes of UDP data; the id (4) and the header (8) come off it */
    assert_int_equal(WIRE_UDP_MAX_DATAGRAM, 65535 - 20 - 8);
    assert_int_equal(WIRE_UDP_MAX_PAYLOAD, WIRE_UDP_MAX_DATAGRAM - 4 - WIRE_HEADER_SIZE);
}

/* The number in the SPEC 9.1 row whose first cell is `limit`. */
static unsigned long limit_of(const char *text, const char *limit) {
    char key[64];
    snprintf(key, sizeof key, "| %s | ", limit);
    const char *at = strstr(text, key);
    if (!at) fail_msg("SPEC.md 9.1 has no row for '%s'", limit);
    at += strlen(key);
    while (*at && !isdigit((unsigned char)*at)) at++;
    return strtoul(at, NULL, 10);
}

static void test_limits_match_spec(void **state) {
    (void)state;
    char *text = section("### 9.1 Protocol limits");
    assert_int_equal(limit_of(text, "HELLO name"), WIRE_HELLO_NAME_MAX);
    assert_int_equal(limit_of(text, "ERROR message"), WIRE_ERROR_TEXT_MAX);
    assert_int_equal(limit_of(text, "max nesting depth"), WIRE_MAX_DEPTH);
    assert_int_equal(limit_of(text, "max payload"), WIRE_DEFAULT_MAX_PAYLOAD);
    assert_int_equal(limit_of(text, "min max_payload"), WIRE_MIN_MAX_PAYLOAD);
    free(text);
    /* and 7.3/7.4's largest payloads follow from them */
    char largest[64];
    snprintf(largest, sizeof largest, "3 + 5 + 5 + %d = %d", WIRE_HELLO_NAME_MAX, 13 + WIRE_HELLO_NAME_MAX);
    assert_non_null(strstr(spec, largest));
    snprintf(largest, sizeof largest, "3 + 5 + 5 + %d = %d", WIRE_ERROR_TEXT_MAX, 13 + WIRE_ERROR_TEXT_MAX);
    assert_non_null(strstr(spec, largest));
}

/* The library holds to the limits it publishes: a HELLO name of exactly 255 bytes decodes, 256 do
 * not; an ERROR text of exactly 1024 decodes, 1025 does not. */
static void test_limits_are_enforced(void **state) {
    (void)state;
    static char text[WIRE_ERROR_TEXT_MAX + 1];
    static uint8_t buf[2048];
    memset(text, 'a', sizeof text);
    for (size_t len = WIRE_HELLO_NAME_MAX; len <= WIRE_HELLO_NAME_MAX + 1; len++) {
        wire_writer w;
        size_t n;
        wire_hello got, h = {1, WIRE_DEFAULT_MAX_PAYLOAD, text, len};
        wire_writer_init(&w, buf, sizeof buf); /* field by field: wire_put_hello would refuse 256 */
        wire_put_u16(&w, 1);
        wire_put_u32(&w, WIRE_DEFAULT_MAX_PAYLOAD);
        wire_put_string(&w, text, len);
        assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
        assert_int_equal(wire_get_hello(buf, n, &got, NULL), len <= WIRE_HELLO_NAME_MAX ? WIRE_OK : WIRE_EMESSAGE);
        wire_writer_init(&w, buf, sizeof buf);
        assert_int_equal(wire_put_hello(&w, &h), len <= WIRE_HELLO_NAME_MAX ? WIRE_OK : WIRE_ERANGE);
    }
    for (size_t len = WIRE_ERROR_TEXT_MAX; len <= WIRE_ERROR_TEXT_MAX + 1; len++) {
        wire_writer w;
        size_t n;
        wire_error_msg got, e = {WIRE_ELIMIT, WIRE_NO_OFFSET, text, len};
        wire_writer_init(&w, buf, sizeof buf);
        wire_put_u16(&w, WIRE_ELIMIT);
        wire_put_u32(&w, WIRE_NO_OFFSET);
        wire_put_string(&w, text, len);
        assert_int_equal(wire_writer_finish(&w, &n), WIRE_OK);
        assert_int_equal(wire_get_error_msg(buf, n, &got, NULL), len <= WIRE_ERROR_TEXT_MAX ? WIRE_OK : WIRE_EMESSAGE);
        wire_writer_init(&w, buf, sizeof buf);
        assert_int_equal(wire_put_error_msg(&w, &e), len <= WIRE_ERROR_TEXT_MAX ? WIRE_OK : WIRE_ERANGE);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_match_spec),
        cmocka_unit_test(test_messages_match_spec),
        cmocka_unit_test(test_messages_match_proto),
        cmocka_unit_test(test_limits_match_spec),
        cmocka_unit_test(test_limits_match_proto),
        cmocka_unit_test(test_limits_are_enforced),
    };
    return cmocka_run_group_tests_name("tables", tests, load, unload);
}
