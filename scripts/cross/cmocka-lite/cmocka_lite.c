/* SPDX-License-Identifier: MIT */
/*
 * cmocka_lite.c - the runner behind cmocka-lite's cmocka.h: runs each test between its setup and
 * teardown, turns a failed assertion, fail(), skip() or a crash (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
 * SIGABRT in the test's thread) into that test's result, and prints cmocka's report. Returns, like
 * cmocka, the number of failed tests.
 */
#include "cmocka.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RESULT_PASS = 0, RESULT_FAIL = 1, RESULT_SKIP = 2 };

static sigjmp_buf g_jump;
static volatile sig_atomic_t g_armed; /* a test, setup or teardown is running: g_jump is valid */
static const char *g_filter;
static const char *g_skip_filter;

void cmocka_set_test_filter(const char *pattern) { g_filter = pattern; }
void cmocka_set_skip_filter(const char *pattern) { g_skip_filter = pattern; }

void print_message(const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    vprintf(format, ap);
    va_end(ap);
    fflush(stdout);
}

void print_error(const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    vfprintf(stderr, format, ap);
    va_end(ap);
    fflush(stderr);
}

static void leave(int result) {
    fflush(stdout);
    fflush(stderr);
    if (g_armed) siglongjmp(g_jump, result);
    fprintf(stderr, "cmocka-lite: a failure outside of any test\n");
    abort();
}

void _fail(const char *file, int line) {
    print_error("[   LINE   ] --- %s:%d: error: Failure!\n", file, line);
    leave(RESULT_FAIL);
    abort(); /* not reached */
}

void _skip(const char *file, int line) {
    (void)file;
    (void)line;
    leave(RESULT_SKIP);
    abort(); /* not reached */
}

void _cmocka_lite_fail_msg(const char *file, int line, const char *format, ...) {
    va_list ap;
    fputs("ERROR: ", stderr);
    va_start(ap, format);
    vfprintf(stderr, format, ap);
    va_end(ap);
    fputs("\n", stderr);
    _fail(file, line);
}

void _cmocka_lite_assert(int ok, const char *expr, const char *file, int line) {
    if (ok) return;
    print_error("%s\n", expr);
    _fail(file, line);
}

void _assert_int_equal(LargestIntegralType a, LargestIntegralType b, const char *file, int line) {
    if (a == b) return;
    print_error("%" PRIuMAX " (%#" PRIxMAX ") != %" PRIuMAX " (%#" PRIxMAX ")\n", a, a, b, b);
    _fail(file, line);
}

void _assert_int_not_equal(LargestIntegralType a, LargestIntegralType b, const char *file, int line) {
    if (a != b) return;
    print_error("%" PRIuMAX " (%#" PRIxMAX ") == %" PRIuMAX " (%#" PRIxMAX ")\n", a, a, b, b);
    _fail(file, line);
}

void _assert_in_range(LargestIntegralType v, LargestIntegralType lo, LargestIntegralType hi, int inside,
                      const char *file, int line) {
    int in = v >= lo && v <= hi;
    if (in == inside) return;
    print_error("%" PRIuMAX " is %s range [%" PRIuMAX ", %" PRIuMAX "]\n", v, inside ? "not within" : "within", lo, hi);
    _fail(file, line);
}

void _assert_string_equal(const char *a, const char *b, int equal, const char *file, int line) {
    int same = (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
    if (same == equal) return;
    print_error("\"%s\" %s \"%s\"\n", a ? a : "(null)", equal ? "!=" : "==", b ? b : "(null)");
    _fail(file, line);
}

void _assert_memory_equal(const void *a, const void *b, size_t size, int equal, const char *file, int line) {
    const unsigned char *x = a, *y = b;
    size_t i = 0, differ = 0;
    if (x == NULL || y == NULL) {
        print_error("memory comparison with a NULL pointer\n");
        _fail(file, line);
    }
    for (; i < size; i++)
        if (x[i] != y[i]) {
            if (equal && differ < 16) print_error("difference at offset %zu 0x%02x 0x%02x\n", i, x[i], y[i]);
            differ++;
        }
    if ((differ == 0) == (equal != 0)) return;
    if (equal) print_error("%zu bytes of %p and %p differ\n", differ, a, b);
    else print_error("%zu bytes of %p and %p are the same\n", size, a, b);
    _fail(file, line);
}

void _assert_return_code(LargestIntegralType rc, size_t rc_size, int error, const char *expr, const char *file,
                         int line) {
    (void)rc_size;
    if (rc <= (LargestIntegralType)INTMAX_MAX) return; /* a negative rc was sign-extended past INTMAX_MAX */
    print_error("%s < 0, errno(%d): %s\n", expr, error, strerror(error));
    _fail(file, line);
}

/* cmocka's glob: '*' any run of characters, '?' one character. */
static int glob_match(const char *pat, const char *s) {
    for (; *pat; pat++, s++) {
        if (*pat == '*') {
            while (pat[1] == '*') pat++;
            if (!pat[1]) return 1;
            for (; *s; s++)
                if (glob_match(pat + 1, s)) return 1;
            return 0;
        }
        if (!*s || (*pat != '?' && *pat != *s)) return 0;
    }
    return *s == '\0';
}

static int selected(const char *name) {
    if (g_filter && !glob_match(g_filter, name)) return 0;
    if (g_skip_filter && glob_match(g_skip_filter, name)) return 0;
    return 1;
}

static void on_crash(int sig) {
    const char *what = sig == SIGSEGV ? "Segmentation fault"
                       : sig == SIGBUS ? "Bus error"
                       : sig == SIGILL ? "Illegal instruction"
                       : sig == SIGFPE ? "Floating point exception"
                                       : "Aborted";
    if (!g_armed) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    print_error("Test failed with exception: %s(%d)\n", what, sig);
    siglongjmp(g_jump, RESULT_FAIL);
}

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

/* Runs fn(state) (a fixture when test is NULL) and returns RESULT_*. */
static void *g_state;
static CMUnitTestFunction g_test;
static CMFixtureFunction g_fixture;

static int call(void) {
    int r = sigsetjmp(g_jump, 1);
    if (r != 0) {
        g_armed = 0;
        return r;
    }
    g_armed = 1;
    if (g_test) g_test(&g_state);
    else if (g_fixture(&g_state) != 0) r = RESULT_FAIL;
    g_armed = 0;
    return r;
}

static int run_fixture(CMFixtureFunction f) {
    g_test = NULL;
    g_fixture = f;
    return call();
}

static int run_test(CMUnitTestFunction f) {
    g_test = f;
    g_fixture = NULL;
    return call();
}

int _cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *tests, size_t count,
                            CMFixtureFunction group_setup, CMFixtureFunction group_teardown) {
    size_t total = 0, run = 0, passed = 0, failed = 0, skipped = 0, i;
    const char **failed_names = calloc(count ? count : 1, sizeof *failed_names);
    const char **skipped_names = calloc(count ? count : 1, sizeof *skipped_names);
    struct sigaction sa, old[sizeof crash_signals / sizeof crash_signals[0]];
    void *group_state = NULL;

    if (!failed_names || !skipped_names) {
        fprintf(stderr, "cmocka-lite: out of memory\n");
        exit(1);
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_crash;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_NODEFER;
    for (i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++) sigaction(crash_signals[i], &sa, &old[i]);

    for (i = 0; i < count; i++) total += (size_t)selected(tests[i].name);
    printf("[==========] %s: Running %zu test(s).\n", group_name, total);
    fflush(stdout);

    if (group_setup) {
        g_state = NULL;
        if (run_fixture(group_setup) != RESULT_PASS) {
            print_error("[  ERROR   ] %s: group setup failed\n", group_name);
            printf("[  FAILED  ] %s: %zu test(s), the group setup failed.\n", group_name, total);
            free(failed_names);
            free(skipped_names);
            return (int)total;
        }
        group_state = g_state;
    }

    for (i = 0; i < count; i++) {
        const struct CMUnitTest *t = &tests[i];
        int result = RESULT_PASS;
        if (!selected(t->name)) continue;
        printf("[ RUN      ] %s\n", t->name);
        fflush(stdout);
        g_state = t->initial_state ? t->initial_state : group_state;
        if (t->setup_func) result = run_fixture(t->setup_func);
        if (result == RESULT_PASS) {
            result = run_test(t->test_func);
            if (t->teardown_func) {
                int td = run_fixture(t->teardown_func);
                if (result != RESULT_FAIL && td == RESULT_FAIL) result = RESULT_FAIL;
            }
        }
        run++;
        if (result == RESULT_PASS) {
            passed++;
            printf("[       OK ] %s\n", t->name);
        } else if (result == RESULT_SKIP) {
            skipped_names[skipped++] = t->name;
            printf("[  SKIPPED ] %s\n", t->name);
        } else {
            failed_names[failed++] = t->name;
            printf("[  FAILED  ] %s\n", t->name);
        }
        fflush(stdout);
    }

    if (group_teardown) {
        g_state = group_state;
        if (run_fixture(group_teardown) != RESULT_PASS) print_error("[  ERROR   ] %s: group teardown failed\n", group_name);
    }

    printf("[==========] %s: %zu test(s) run.\n", group_name, run);
    printf("[  PASSED  ] %zu test(s).\n", passed);
    if (skipped) {
        printf("[  SKIPPED ] %zu test(s), listed below:\n", skipped);
        for (i = 0; i < skipped; i++) printf("[  SKIPPED ] %s\n", skipped_names[i]);
    }
    if (failed) {
        printf("[  FAILED  ] %zu test(s), listed below:\n", failed);
        for (i = 0; i < failed; i++) printf("[  FAILED  ] %s\n", failed_names[i]);
        printf("\n %zu FAILED TEST(S)\n", failed);
    }
    fflush(stdout);
    for (i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++) sigaction(crash_signals[i], &old[i], NULL);
    free(failed_names);
    free(skipped_names);
    return (int)failed;
}
