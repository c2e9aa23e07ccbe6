/* SPDX-License-Identifier: MIT */
/* test_control.c - every case of proto/control.txt against libwire's HELLO and ERROR codec
 * (wire_get_hello, wire_put_hello, wire_get_error_msg, wire_put_error_msg): the same values, the same
 * error at the same offset, the same RANGE refusals as every other language. */
#include "testutil.h"
#include "vectors.h"

typedef struct ctl_case {
    char kind[16], name[80];
    int line;
    wv_value *fields;
    size_t nfields;
    uint8_t *hex;
    size_t hexlen;
    int code;
    size_t offset;
} ctl_case;

static ctl_case cases[256];
static size_t ncases;


static int load(void **state) {
    char path[512], err[256], line[8192];
    (void)state;
    FILE *f = fopen(proto_path("control.txt", path, sizeof path), "r");
    if (!f) return -1;
    int ln = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        if (line[0] == '#' || line[0] == '\n') continue;
        char *col[3] = {line, NULL, NULL};
        for (int i = 1; i < 3; i++) {
            char *bar = col[i - 1] ? strchr(col[i - 1], '|') : NULL;
            if (!bar) break;
            *bar = '\0';
            col[i] = bar + 1;
        }
        if (!col[2] || strchr(col[2], '|') || ncases == sizeof cases / sizeof cases[0]) {
            fprintf(stderr, "control.txt:%d: not three columns\n", ln);
            fclose(f);
            return -1;
        }
        ctl_case *c = &cases[ncases++];
        memset(c, 0, sizeof *c);
        c->line = ln;
        if (sscanf(wv_trim(col[0]), "%15s %79s", c->kind, c->name) != 2) return fclose(f), -1;
        char *c2 = wv_trim(col[1]), *c3 = wv_trim(col[2]);
        int rc = 0;
        if (strstr(c->kind, "-err")) {
            char code[32];
            if (sscanf(c2, "%31s %zu", code, &c->offset) != 2 || (c->code = wv_err_code(code)) < 0) rc = -1;
        } else {
            rc = wv_parse_fields(c2, false, &c->fields, &c->nfields, err, sizeof err);
        }
        if (rc == 0) rc = wv_parse_hex(c3, &c->hex, &c->hexlen, err, sizeof err);
        if (rc) {
            fprintf(stderr, "control.txt:%d: %s\n", ln, err);
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

static int unload(void **state) {
    (void)state;
    for (size_t i = 0; i < ncases; i++) {
        wv_free_values(cases[i].fields, cases[i].nfields);
        free(cases[i].hex);
    }
    return 0;
}

static int failures;
static void bad(const ctl_case *c, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "control.txt:%d %s %s: ", c->line, c->kind, c->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    failures++;
}

/* The three fields of a case, as the C structs' members: u16, u32, string. */
static bool three(const ctl_case *c, uint16_t *a, uint32_t *b, const char **s, size_t *slen) {
    if (c->nfields != 3 || c->fields[0].type != WIRE_T_U16 || c->fields[1].type != WIRE_T_U32 ||
        c->fields[2].type != WIRE_T_STRING)
        return false;
    *a = (uint16_t)c->fields[0].bits, *b = (uint32_t)c->fields[1].bits;
    *s = (const char *)c->fields[2].data, *slen = c->fields[2].len;
    if (!*s) *s = "";
    return true;
}

static bool same(const void *a, size_t alen, const void *b, size_t blen) {
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static void check_case(const ctl_case *c) {
    bool hello = strncmp(c->kind, "hello", 5) == 0;
    const char *variant = strchr(c->kind, '-') ? strchr(c->kind, '-') + 1 : "";
    uint16_t a = 0;
    uint32_t b = 0;
    const char *s = NULL;
    size_t slen = 0, at = 0;
    guarded g = guard_alloc(c->hexlen);
    if (c->hexlen) memcpy(g.p, c->hex, c->hexlen);
    wire_hello h;
    wire_error_msg m;
    if (strcmp(variant, "err") == 0) {
        wire_err e = hello ? wire_get_hello(g.p, c->hexlen, &h, &at) : wire_get_error_msg(g.p, c->hexlen, &m, &at);
        if ((int)e != c->code || at != c->offset)
            bad(c, "decoding gave %s at %zu, expected %s at %zu", wire_err_name(e), at, wire_err_name((wire_err)c->code),
                c->offset);
    } else if (!three(c, &a, &b, &s, &slen)) {
        bad(c, "the fields are not u16, u32, string");
    } else if (strcmp(variant, "range") == 0 || strcmp(variant, "") == 0) {
        /* encoding: refused with RANGE, or exactly the hex (in sizing mode too) */
        uint8_t out[2048];
        wire_writer w;
        size_t n;
        wire_hello hv = {a, b, s, slen};
        wire_error_msg mv = {a, b, s, slen};
        wire_writer_init(&w, out, sizeof out);
        wire_err e = hello ? wire_put_hello(&w, &hv) : wire_put_error_msg(&w, &mv);
        if (e == WIRE_OK) e = wire_writer_finish(&w, &n);
        if (strcmp(variant, "range") == 0) {
            if (e != WIRE_ERANGE) bad(c, "encoding gave %s, expected RANGE", wire_err_name(e));
        } else if (e != WIRE_OK || !same(out, n, c->hex, c->hexlen)) {
            bad(c, "encoding gave %s and %zu bytes, expected the %zu bytes of the hex", wire_err_name(e), e ? 0 : n,
                c->hexlen);
        }
    }
    if (strcmp(variant, "") == 0 || strcmp(variant, "decode") == 0) {
        wire_err e = hello ? wire_get_hello(g.p, c->hexlen, &h, &at) : wire_get_error_msg(g.p, c->hexlen, &m, &at);
        uint16_t ga = hello ? h.version : m.code;
        uint32_t gb = hello ? h.max_payload : m.offset;
        const char *gs = hello ? h.name : m.text;
        size_t gl = hello ? h.name_len : m.text_len;
        if (e != WIRE_OK) bad(c, "decoding gave %s at %zu", wire_err_name(e), at);
        else if (ga != a || gb != b || !same(gs, gl, s, slen))
            bad(c, "decoded %u %lu and a %zu-byte string, expected %u %lu and %zu bytes", ga, (unsigned long)gb, gl, a,
                (unsigned long)b, slen);
    }
    guard_free(&g);
}

static void test_every_case(void **state) {
    (void)state;
    failures = 0;
    size_t kinds[2][4] = {{0}}; /* hello/error x both, decode, err, range */
    static const char *const variants[] = {"", "decode", "err", "range"};
    for (size_t i = 0; i < ncases; i++) {
        const ctl_case *c = &cases[i];
        bool hello = strncmp(c->kind, "hello", 5) == 0;
        if (!hello && strncmp(c->kind, "error", 5) != 0) {
            bad(c, "unknown kind");
            continue;
        }
        const char *variant = strchr(c->kind, '-') ? strchr(c->kind, '-') + 1 : "";
        for (int k = 0; k < 4; k++)
            if (strcmp(variant, variants[k]) == 0) kinds[hello ? 0 : 1][k]++;
        check_case(c);
    }
    assert_int_equal(failures, 0);
    /* the file has every kind of case for both messages (a truncated file would pass vacuously) */
    for (int m = 0; m < 2; m++)
        for (int k = 0; k < 4; k++) assert_true(kinds[m][k] > 0);
    assert_true(ncases >= 40);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_every_case)};
    return cmocka_run_group_tests(tests, load, unload);
}
