/* SPDX-License-Identifier: MIT */
/*
 * cmocka.h (cmocka-lite) - the part of cmocka's API that wire's tests use, so that the same test
 * sources run on targets with no cmocka package: powerpc (Debian 12 has none) and i686 (which would
 * need the i386 foreign architecture). Same macros, same output format, same exit status
 * (the number of failed tests); a test that calls anything else fails to compile, loudly.
 * Not for native builds: those use the real cmocka.
 */
#ifndef CMOCKA_LITE_H
#define CMOCKA_LITE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define CMOCKA_LITE_NORETURN __attribute__((noreturn))
#define CMOCKA_LITE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CMOCKA_LITE_NORETURN
#define CMOCKA_LITE_PRINTF(f, a)
#endif

typedef uintmax_t LargestIntegralType;
typedef void (*CMUnitTestFunction)(void **state);
typedef int (*CMFixtureFunction)(void **state);

struct CMUnitTest {
    const char *name;
    CMUnitTestFunction test_func;
    CMFixtureFunction setup_func;
    CMFixtureFunction teardown_func;
    void *initial_state;
};

#define cmocka_unit_test(f) {#f, f, NULL, NULL, NULL}
#define cmocka_unit_test_setup(f, setup) {#f, f, setup, NULL, NULL}
#define cmocka_unit_test_teardown(f, teardown) {#f, f, NULL, teardown, NULL}
#define cmocka_unit_test_setup_teardown(f, setup, teardown) {#f, f, setup, teardown, NULL}
#define cmocka_unit_test_prestate(f, state) {#f, f, NULL, NULL, state}
#define cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, state) {#f, f, setup, teardown, state}

#define cmocka_run_group_tests(tests, group_setup, group_teardown)                                  \
    _cmocka_run_group_tests(#tests, tests, sizeof(tests) / sizeof((tests)[0]), group_setup, group_teardown)
#define cmocka_run_group_tests_name(name, tests, group_setup, group_teardown)                       \
    _cmocka_run_group_tests(name, tests, sizeof(tests) / sizeof((tests)[0]), group_setup, group_teardown)

int _cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *tests, size_t count,
                            CMFixtureFunction group_setup, CMFixtureFunction group_teardown);
/* Glob patterns (* and ?) on test names, as cmocka's. */
void cmocka_set_test_filter(const char *pattern);
void cmocka_set_skip_filter(const char *pattern);

void print_message(const char *format, ...) CMOCKA_LITE_PRINTF(1, 2);
void print_error(const char *format, ...) CMOCKA_LITE_PRINTF(1, 2);

CMOCKA_LITE_NORETURN void _fail(const char *file, int line);
CMOCKA_LITE_NORETURN void _skip(const char *file, int line);
CMOCKA_LITE_NORETURN void _cmocka_lite_fail_msg(const char *file, int line, const char *format, ...)
    CMOCKA_LITE_PRINTF(3, 4);
void _cmocka_lite_assert(int ok, const char *expr, const char *file, int line);
void _assert_int_equal(LargestIntegralType a, LargestIntegralType b, const char *file, int line);
void _assert_int_not_equal(LargestIntegralType a, LargestIntegralType b, const char *file, int line);
void _assert_in_range(LargestIntegralType v, LargestIntegralType lo, LargestIntegralType hi, int inside,
                      const char *file, int line);
void _assert_string_equal(const char *a, const char *b, int equal, const char *file, int line);
void _assert_memory_equal(const void *a, const void *b, size_t size, int equal, const char *file, int line);
void _assert_return_code(LargestIntegralType rc, size_t rc_size, int error, const char *expr, const char *file,
                         int line);

#define fail() _fail(__FILE__, __LINE__)
#define skip() _skip(__FILE__, __LINE__)
#define fail_msg(...) _cmocka_lite_fail_msg(__FILE__, __LINE__, __VA_ARGS__)

#define assert_true(c) _cmocka_lite_assert(!!(c), #c, __FILE__, __LINE__)
#define assert_false(c) _cmocka_lite_assert(!(c), "!(" #c ")", __FILE__, __LINE__)
#define assert_non_null(p) _cmocka_lite_assert((const void *)(p) != NULL, #p " != NULL", __FILE__, __LINE__)
#define assert_null(p) _cmocka_lite_assert((const void *)(p) == NULL, #p " == NULL", __FILE__, __LINE__)
#define assert_int_equal(a, b)                                                                      \
    _assert_int_equal((LargestIntegralType)(a), (LargestIntegralType)(b), __FILE__, __LINE__)
#define assert_int_not_equal(a, b)                                                                  \
    _assert_int_not_equal((LargestIntegralType)(a), (LargestIntegralType)(b), __FILE__, __LINE__)
#define assert_ptr_equal(a, b)                                                                      \
    _assert_int_equal((LargestIntegralType)(uintptr_t)(const void *)(a),                            \
                      (LargestIntegralType)(uintptr_t)(const void *)(b), __FILE__, __LINE__)
#define assert_ptr_not_equal(a, b)                                                                  \
    _assert_int_not_equal((LargestIntegralType)(uintptr_t)(const void *)(a),                        \
                          (LargestIntegralType)(uintptr_t)(const void *)(b), __FILE__, __LINE__)
#define assert_in_range(v, lo, hi)                                                                  \
    _assert_in_range((LargestIntegralType)(v), (LargestIntegralType)(lo), (LargestIntegralType)(hi), 1, \
                     __FILE__, __LINE__)
#define assert_not_in_range(v, lo, hi)                                                              \
    _assert_in_range((LargestIntegralType)(v), (LargestIntegralType)(lo), (LargestIntegralType)(hi), 0, \
                     __FILE__, __LINE__)
#define assert_string_equal(a, b) _assert_string_equal((const char *)(a), (const char *)(b), 1, __FILE__, __LINE__)
#define assert_string_not_equal(a, b)                                                               \
    _assert_string_equal((const char *)(a), (const char *)(b), 0, __FILE__, __LINE__)
#define assert_memory_equal(a, b, size)                                                             \
    _assert_memory_equal((const void *)(a), (const void *)(b), (size_t)(size), 1, __FILE__, __LINE__)
#define assert_memory_not_equal(a, b, size)                                                         \
    _assert_memory_equal((const void *)(a), (const void *)(b), (size_t)(size), 0, __FILE__, __LINE__)
#define assert_return_code(rc, error)                                                               \
    _assert_return_code((LargestIntegralType)(rc), sizeof(rc), (int)(error), #rc, __FILE__, __LINE__)

#ifdef __cplusplus
}
#endif
#endif /* CMOCKA_LITE_H */
