/* SPDX-License-Identifier: MIT */
/* test_wirecat.c - wirecat (build/<cc>/wirecat, found next to this test's directory) as a black box,
 * end to end: against a real wire-server and a real Python peer server (both on port 0, the port read
 * from their first stdout line), against itself in listen mode, and on raw frames with --decode.
 *
 *   servers   ROUNDTRIP with a string and a list, ECHO, PING, STATS come back decoded with exact
 *             values; a type the server does not serve and a STATS with wrong fields exit 1 with the
 *             ERROR's code and offset; frames one per line on stdin
 *   dump      -x of a known reply equals the expected annotated dump, byte for byte
 *   decode    --decode of hex and binary frames; a bad payload, an ERROR frame, a bad header and a
 *             truncated input exit 1 with the SPEC's code and offset
 *   literals  each bad literal names its column; usage errors exit 2; --help exits 0
 *   listen    -l 0 accepts one wirecat client, each prints what the other sent
 *   readme    every command shown in README.md's wirecat section prints exactly what is shown
 * Every wait is bounded; each test kills what it started. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define PATHLEN 4096
#define RUN_MS 10000 /* the longest one wirecat run may take before it is killed */

static char g_wirecat[PATHLEN + 32], g_server[PATHLEN + 32], g_root[PATHLEN], g_tmp[64];
static pid_t g_servers[4];
static char g_c_port[8], g_py_port[8];

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void find_programs(const char *argv0) {
    char exe[PATHLEN], up[PATHLEN + 16], probe[PATHLEN + 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) exe[n] = '\0';
    else if (!realpath(argv0, exe)) snprintf(exe, sizeof exe, "%s", argv0);
    char *slash = strrchr(exe, '/'); /* exe: .../build/<cc>/interop-tests/test_wirecat */
    if (slash) *slash = '\0';
    else snprintf(exe, sizeof exe, ".");
    snprintf(g_wirecat, sizeof g_wirecat, "%s/../wirecat", exe);
    snprintf(g_server, sizeof g_server, "%s/../wire-server", exe);
    snprintf(up, sizeof up, "%s/../../..", exe);
    if (realpath(up, g_root)) snprintf(probe, sizeof probe, "%s/README.md", g_root);
    if (!g_root[0] || access(probe, R_OK) != 0)
        if (!getcwd(g_root, sizeof g_root)) snprintf(g_root, sizeof g_root, ".");
}

/* Starts prog (argv NULL-terminated, argv[0] = prog) in the repository root; stdin from in_path (or
 * /dev/null), stdout to out_fd (a pipe end, or -1: out_path), stderr to err_path (or stdout). */
static pid_t spawn(const char *const *argv, const char *in_path, int out_fd, const char *out_path, const char *err_path) {
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGPIPE, SIG_DFL);
        int in = open(in_path ? in_path : "/dev/null", O_RDONLY);
        int out = out_fd >= 0 ? out_fd : open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0) _exit(126);
        int err = err_path ? open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600) : 1;
        if (err < 0 || dup2(err, 2) < 0) _exit(126);
        if (chdir(g_root) != 0) _exit(126);
        execvp(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

/* The wait status of pid within ms, or -1 (then it has been killed and reaped). */
static int wait_for(pid_t pid, int ms) {
    int64_t end = now_ms() + ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return st;
        if (now_ms() >= end || (r < 0 && errno != EINTR)) {
            kill(-pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    size_t cap = 1 << 16, n = 0;
    char *s = malloc(cap + 1);
    assert_non_null(s);
    if (f) {
        size_t got;
        while ((got = fread(s + n, 1, cap - n, f)) > 0) {
            n += got;
            if (n == cap) {
                s = realloc(s, 2 * cap + 1);
                assert_non_null(s);
                cap *= 2;
            }
        }
        fclose(f);
    }
    s[n] = '\0';
    return s;
}

typedef struct run {
    int code; /* exit status; -1 killed (timed out) or not exited normally */
    char *out, *err;
} run;

static void run_free(run *r) {
    free(r->out);
    free(r->err);
}

/* Runs wirecat with args (NULL-terminated) and stdin text (or NULL); merge: stderr into stdout. */
static run wirecat(const char *const *args, const char *in_text, bool merge) {
    const char *argv[64];
    char in_path[128], out_path[128], err_path[128];
    size_t n = 0;
    argv[n++] = g_wirecat;
    for (size_t i = 0; args[i] && n < 63; i++) argv[n++] = args[i];
    argv[n] = NULL;
    snprintf(in_path, sizeof in_path, "%s/in", g_tmp);
    snprintf(out_path, sizeof out_path, "%s/out", g_tmp);
    snprintf(err_path, sizeof err_path, "%s/err", g_tmp);
    if (in_text) {
        FILE *f = fopen(in_path, "wb");
        assert_non_null(f);
        fputs(in_text, f);
        fclose(f);
    }
    unlink(err_path);
    int st = wait_for(spawn(argv, in_text ? in_path : NULL, -1, out_path, merge ? NULL : err_path), RUN_MS);
    run r = {st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(out_path), slurp(err_path)};
    return r;
}

#define EXPECT(r, want_code, want_out)                                                             \
    do {                                                                                           \
        if ((r).code != (want_code) || strcmp((r).out, (want_out)) != 0)                           \
            fail_msg("wirecat: exit %d (wanted %d)\n-- stdout:\n%s-- wanted:\n%s-- stderr:\n%s", (r).code, \
                     (want_code), (r).out, (want_out), (r).err);                                   \
    } while (0)

#define EXPECT_ERR(r, want_code, want_err_part)                                                    \
    do {                                                                                           \
        if ((r).code != (want_code) || !strstr((r).err, (want_err_part)))                          \
            fail_msg("wirecat: exit %d (wanted %d), stderr:\n%s-- wanted in it: %s\n-- stdout:\n%s", (r).code, \
                     (want_code), (r).err, (want_err_part), (r).out);                              \
    } while (0)

/* Starts a server whose first stdout line is its port. */
static void start_server(const char *const *argv, char *port, size_t plen, pid_t *pid) {
    int p[2];
    assert_int_equal(pipe(p), 0);
    *pid = spawn(argv, NULL, p[1], NULL, "/dev/null");
    close(p[1]);
    char line[64];
    size_t len = 0;
    int64_t end = now_ms() + 10000;
    while (len < sizeof line - 1 && !memchr(line, '\n', len)) {
        struct pollfd pf = {p[0], POLLIN, 0};
        int64_t left = end - now_ms();
        if (left <= 0 || poll(&pf, 1, (int)left) <= 0) break;
        ssize_t got = read(p[0], line + len, sizeof line - 1 - len);
        if (got <= 0) break;
        len += (size_t)got;
    }
    close(p[0]);
    line[len] = '\0';
    long v = strtol(line, NULL, 10);
    if (!memchr(line, '\n', len) || v <= 0 || v > 65535) fail_msg("%s: no port on its first stdout line: '%s'", argv[0], line);
    snprintf(port, plen, "%ld", v);
}

static int setup_servers(void **state) {
    (void)state;
    const char *c[] = {g_server, "--port", "0", "--quiet", NULL};
    const char *py[] = {"python3", "interop/python/server.py", "--port", "0", "--quiet", NULL};
    start_server(c, g_c_port, sizeof g_c_port, &g_servers[0]);
    start_server(py, g_py_port, sizeof g_py_port, &g_servers[1]);
    return 0;
}

static int teardown_servers(void **state) {
    (void)state;
    for (size_t i = 0; i < 4; i++)
        if (g_servers[i] > 0) {
            kill(-g_servers[i], SIGKILL);
            waitpid(g_servers[i], NULL, 0);
            g_servers[i] = 0;
        }
    return 0;
}

/* ---------- against the servers ---------- */

static void exchange(const char *port) {
    run r = wirecat((const char *const[]){"127.0.0.1", port, "ROUNDTRIP u32:7 string:\"h\xc3\xa9llo \\\"q\\\"\\n\" list:u16 [ u16:1 u16:2 ] "
                                          "group { i8:-2 list:string [ string:6869 string: ] bool:true f64:1.5 }",
                                          "ECHO \"hi\"", "ECHO bytes:00ff", "PING \"x\"", "0x0102 u64:18446744073709551615", NULL},
                    NULL, false);
    EXPECT(r, 0,
           "ROUNDTRIP_REPLY u32:7 string:\"h\xc3\xa9llo \\\"q\\\"\\n\" list:u16 [ u16:1 u16:2 ] group { i8:-2 list:string [ "
           "string:\"hi\" string:\"\" ] bool:true f64:0x3ff8000000000000 }\n"
           "ECHO_REPLY \"hi\"\nECHO_REPLY bytes:00ff\nPONG \"x\"\nROUNDTRIP_REPLY u64:18446744073709551615\n");
    run_free(&r);

    r = wirecat((const char *const[]){"127.0.0.1", port, NULL},
                "# one frame per line\nSTATS list:i64 [ i64:9223372036854775807 i64:1 i64:-2 ] list:f64 [ f64:0x3ff8000000000000 "
                "f64:0x8000000000000000 ] bytes:313233343536373839\n\n258 string:\"x\"\n", false);
    EXPECT(r, 0,
           "STATS_REPLY i64:9223372036854775806 i64:-2 i64:9223372036854775807 f64:0x3ff8000000000000 "
           "f64:0x8000000000000000 f64:0x3ff8000000000000 u32:3421780262\nROUNDTRIP_REPLY string:\"x\"\n");
    run_free(&r);

    /* A reply type the server does not serve: ERROR(UNEXPECTED, 2), printed, and exit 1. */
    r = wirecat((const char *const[]){"127.0.0.1", port, "VECTOR_RESULT u8:1", NULL}, NULL, false);
    EXPECT_ERR(r, 1, "wirecat: peer sent ERROR UNEXPECTED (12) at offset 2: ");
    assert_true(strncmp(r.out, "ERROR u16:12 u32:2 string:\"", 27) == 0);
    run_free(&r);
    /* STATS whose first field is not a list:i64: MESSAGE at its tag byte, frame offset 8. */
    r = wirecat((const char *const[]){"127.0.0.1", port, "STATS u8:1", NULL}, NULL, false);
    EXPECT_ERR(r, 1, "wirecat: peer sent ERROR MESSAGE (13) at offset 8: ");
    run_free(&r);
}

static void test_c_server(void **state) {
    (void)state;
    exchange(g_c_port);
    /* A repeated hex token builds a 3 MB payload (the buffer grows under the copy); a BYE written by
     * the user ends the frames. */
    run r = wirecat((const char *const[]){"127.0.0.1", g_c_port, "ECHO bytes:ab*3000000", "BYE", "ECHO \"not sent\"", NULL},
                    NULL, false);
    size_t want = strlen("ECHO_REPLY bytes:") + 6000000 + 1;
    if (r.code != 0 || strlen(r.out) != want || strncmp(r.out, "ECHO_REPLY bytes:abab", 21) != 0 ||
        strspn(r.out + 17, "ab") != 6000000)
        fail_msg("ECHO bytes:ab*3000000: exit %d, %zu bytes printed (wanted %zu); stderr: %s", r.code, strlen(r.out), want,
                 r.err);
    run_free(&r);
}

static void test_python_server(void **state) {
    (void)state;
    exchange(g_py_port);
}

static void test_connect_failures(void **state) {
    (void)state;
    run r = wirecat((const char *const[]){"--timeout", "2000", "127.0.0.1", "1", "ECHO \"x\"", NULL}, NULL, false);
    EXPECT_ERR(r, 1, "wirecat: ");
    run_free(&r);
}

static const char dump_expected[] =
    "frame ROUNDTRIP_REPLY\n"
    "  0  01                       version 1\n"
    "  1  00                       flags 0\n"
    "  2  01 03                    type 0x0103 ROUNDTRIP_REPLY\n"
    "  4  00 00 00 27              length 39\n"
    "  8  03                       tag u32\n"
    "  9  01 02 03 04              16909060\n"
    " 13  40                       tag string\n"
    " 14  00 00 00 02              length 2\n"
    " 18  68 69                    \"hi\"\n"
    " 20  50                       tag list (depth 1)\n"
    " 21  12                       element tag i16\n"
    " 22  00 00 00 02              count 2\n"
    " 26  ff fe                      element 0: -2\n"
    " 28  01 02                      element 1: 258\n"
    " 30  51                       tag group (depth 1)\n"
    " 31  00 00 00 0c              group length 12\n"
    " 35  30                         tag bool\n"
    " 36  01                         true\n"
    " 37  23                         tag f32\n"
    " 38  3f c0 00 00                0x3fc00000 (1.5)\n"
    " 42  41                         tag bytes\n"
    " 43  00 00 00 00                length 0\n"
    "\n";

/* Lists of lists and of strings (elements without tags, SPEC 12.3), and a string over two rows. */
static const char dump_lists_expected[] =
    "frame ROUNDTRIP_REPLY\n"
    "  0  01                       version 1\n"
    "  1  00                       flags 0\n"
    "  2  01 03                    type 0x0103 ROUNDTRIP_REPLY\n"
    "  4  00 00 00 31              length 49\n"
    "  8  50                       tag list (depth 1)\n"
    "  9  50                       element tag list\n"
    " 10  00 00 00 02              count 2\n"
    " 14  01                         element 0: element tag u8\n"
    " 15  00 00 00 00                  count 0\n"
    " 19  01                         element 1: element tag u8\n"
    " 20  00 00 00 01                  count 1\n"
    " 24  07                           element 0: 7\n"
    " 25  50                       tag list (depth 1)\n"
    " 26  40                       element tag string\n"
    " 27  00 00 00 02              count 2\n"
    " 31  00 00 00 01                element 0: length 1\n"
    " 35  61                           \"a\"\n"
    " 36  00 00 00 00                element 1: length 0\n"
    " 40  40                       tag string\n"
    " 41  00 00 00 0c              length 12\n"
    " 45  61 62 63 64 65 66 67 68  \"abcdefghijk\\n\"\n"
    " 53  69 6a 6b 0a\n"
    "\n";

static void test_dump(void **state) {
    (void)state;
    run l = wirecat((const char *const[]){"-x", "127.0.0.1", g_c_port,
                                          "ROUNDTRIP list:list [ list:u8 [ ] list:u8 [ u8:7 ] ] list:string [ string:\"a\" string:\"\" ] "
                                          "string:\"abcdefghijk\\n\"", NULL},
                    NULL, false);
    EXPECT(l, 0, dump_lists_expected);
    run_free(&l);
    run r = wirecat((const char *const[]){"-x", "127.0.0.1", g_c_port,
                                          "ROUNDTRIP u32:16909060 string:\"hi\" list:i16 [ i16:-2 i16:258 ] group { bool:true f32:1.5 bytes: }", NULL},
                    NULL, false);
    EXPECT(r, 0, dump_expected);
    run_free(&r);
    /* The same bytes from --decode, as hex text. */
    r = wirecat((const char *const[]){"-x", "--decode", NULL},
                "01 00 01 03 00 00 00 27 03 01 02 03 04 40 00 00 00 02 68 69 50 12 00 00 00 02 ff fe 01 02\n"
                "51 00 00 00 0c 30 01 23 3f c0 00 00 41 00 00 00 00\n", false);
    EXPECT(r, 0, dump_expected);
    run_free(&r);
}

/* ---------- --decode ---------- */

static void test_decode(void **state) {
    (void)state;
    /* SPEC 12.7's ROUNDTRIP, then 12.9's PING and BYE, as hex without spaces and with. */
    run r = wirecat((const char *const[]){"--decode", NULL},
                    "0100010200000016030102030440000000026869501200000002fffe0102\n"
                    "01 00 00 03 00 00 00 08 01 02 03 04 05 06 07 08  01 00 00 05 00 00 00 00\n", false);
    EXPECT(r, 0, "ROUNDTRIP u32:16909060 string:\"hi\" list:i16 [ i16:-2 i16:258 ]\nPING bytes:0102030405060708\nBYE\n");
    run_free(&r);

    /* Binary from a file; an application type is printed by number. */
    char path[128];
    snprintf(path, sizeof path, "%s/frames.bin", g_tmp);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite("\x01\x00\x80\x01\x00\x00\x00\x02\x01\x07", 1, 10, f);
    fclose(f);
    r = wirecat((const char *const[]){"--decode", path, NULL}, NULL, false);
    EXPECT(r, 0, "0x8001 u8:7\n");
    run_free(&r);

    /* SPEC 12.8: a bool holding 2 is BADBOOL at frame offset 9. */
    r = wirecat((const char *const[]){"--decode", NULL}, "01 00 01 02 00 00 00 02 30 02", false);
    EXPECT_ERR(r, 1, "ROUNDTRIP 0x0102 does not decode: BADBOOL (4) at offset 9: bool byte is neither 0 nor 1");
    assert_string_equal(r.out, "");
    run_free(&r);
    /* Its ERROR answer (SPEC 12.8), decoded; an ERROR exits 1. */
    r = wirecat((const char *const[]){"--decode", NULL},
                "01 00 00 02 00 00 00 3f 02 00 04 03 00 00 00 09 40 00 00 00 32 626f6f6c206279746520697320"
                "6e656974686572203020 6e6f7220313a20696e20524f554e44545249502070 61796c6f6164", false);
    EXPECT(r, 1, "ERROR u16:4 u32:9 string:\"bool byte is neither 0 nor 1: in ROUNDTRIP payload\"\n");
    EXPECT_ERR(r, 1, "is an ERROR BADBOOL (4) at offset 9: bool byte is neither 0 nor 1: in ROUNDTRIP payload");
    run_free(&r);
    /* Header errors (SPEC 2.3) and a truncated input. */
    r = wirecat((const char *const[]){"--decode", NULL}, "02 00 00 01 00 00 00 00", false);
    EXPECT_ERR(r, 1, "bad header: VERSION (10) at offset 0");
    run_free(&r);
    r = wirecat((const char *const[]){"--decode", NULL}, "01 00 00 00 00 00 00 00", false);
    EXPECT_ERR(r, 1, "bad header: HEADER (11) at offset 2");
    run_free(&r);
    r = wirecat((const char *const[]){"--decode", NULL}, "01 00 01 02 00 00 00 05 03 00 00", false);
    EXPECT_ERR(r, 1, "TRUNCATED (1): the input ends after 11 of its 13 bytes");
    run_free(&r);
    /* A string that is not UTF-8 (SPEC 4): UTF8 at the bad byte, frame offset 13. */
    r = wirecat((const char *const[]){"--decode", NULL}, "01 00 01 02 00 00 00 06 40 00 00 00 01 ff", false);
    EXPECT_ERR(r, 1, "UTF8 (5) at offset 13");
    run_free(&r);
    r = wirecat((const char *const[]){"--decode", NULL}, "01 0", false);
    EXPECT_ERR(r, 1, "odd number of digits");
    run_free(&r);
}

/* ---------- bad literals and usage ---------- */

static void test_bad_literals(void **state) {
    (void)state;
    static const struct {
        const char *frame;
        const char *err; /* what stderr must hold */
    } cases[] = {
        {"ROUNDTRIP u32:7 string:\"h\xc3\xa9llo\" list:u16 [ u16:1 u32:2 ]", "frame 1, column 49: a list:u16 holds a u32"},
        {"ROUNDTRIP u8:300", "frame 1, column 14: u8 out of range (0..255)"},
        {"ROUNDTRIP i8:-129", "frame 1, column 14: i8 out of range (-128..127)"},
        {"ROUNDTRIP u32:7x", "frame 1, column 15: u32 out of range"},
        {"ROUNDTRIP string:\"abc", "frame 1, column 18: unterminated string"},
        {"ROUNDTRIP string:\"a\\qb\"", "frame 1, column 20: bad escape"},
        {"ROUNDTRIP string:\"a\"b", "frame 1, column 21: text after the closing"},
        {"ROUNDTRIP string:\"\\xff\"", "frame 1, column 18: string is not valid UTF-8"},
        {"ROUNDTRIP bytes:6g", "frame 1, column 18: bad hex digit 'g'"},
        {"ROUNDTRIP bytes:abc", "frame 1, column 17: odd number of hex digits"},
        {"ROUNDTRIP bool:yes", "frame 1, column 16: bad bool"},
        {"ROUNDTRIP f32:0x3fc0", "frame 1, column 15: f32 bits need exactly 8 hex digits"},
        {"ROUNDTRIP nosuch:1", "frame 1, column 11: unknown type 'nosuch'"},
        {"ROUNDTRIP list:u8 [ u8:1", "frame 1, column 25: missing ']'"},
        {"ROUNDTRIP list:u8 u8:1 ]", "frame 1, column 19: 'list:u8' needs '['"},
        {"ROUNDTRIP group { u8:1 ] }", "frame 1, column 24: expected a value"},
        {"ROUNDTRIP \"text\"", "frame 1, column 11: text needs a type"},
        {"ECHO u8:1", "frame 1, column 6: this message carries opaque bytes"},
        {"NOSUCH u8:1", "frame 1, column 1: unknown message type 'NOSUCH'"},
        {"0x10000", "frame 1, column 1: unknown message type"},
        {"0", "frame 1, column 1: unknown message type"},
        {"\xc3\xa9\xc3\xa9 u8:1", "frame 1, column 1: unknown message type"},
        {"ROUNDTRIP string:\"\xc3\xa9\" u8:x", "frame 1, column 25: bad u8 value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run r = wirecat((const char *const[]){"127.0.0.1", "1", cases[i].frame, NULL}, NULL, false);
        char want[256];
        snprintf(want, sizeof want, "wirecat: %s", cases[i].err);
        EXPECT_ERR(r, 2, want);
        run_free(&r);
    }
    /* The second frame on the command line, and line numbers on stdin. */
    run r = wirecat((const char *const[]){"127.0.0.1", "1", "ECHO", "ROUNDTRIP u8:-1", NULL}, NULL, false);
    EXPECT_ERR(r, 2, "wirecat: frame 2, column 14: bad u8 value");
    run_free(&r);
    r = wirecat((const char *const[]){"127.0.0.1", "1", NULL}, "ECHO\n\n# x\n  ROUNDTRIP bool:1\n", false);
    EXPECT_ERR(r, 2, "wirecat: line 4, column 18: bad bool");
    run_free(&r);
}

static void test_usage(void **state) {
    (void)state;
    run r = wirecat((const char *const[]){"--help", NULL}, NULL, false);
    EXPECT_ERR(r, 0, "");
    static const char *const words[] = {"usage: wirecat", "-x", "-l PORT", "--bind", "--unix PATH", "--decode",
                                        "--timeout MS", "--name", "-v", "--help", "exit status"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strstr(r.out, words[i])) fail_msg("--help does not mention %s:\n%s", words[i], r.out);
    run_free(&r);
    static const char *const bad[][4] = {
        {"--bogus", NULL},          {"127.0.0.1", NULL},        {NULL},
        {"-l", "99999", NULL},      {"-l", NULL},               {"127.0.0.1", "0", NULL},
        {"127.0.0.1", "x", NULL},   {"--timeout", "-1", "h"},   {"--timeout", NULL},
        {"--decode", "a", "b"},     {"--decode", "-l", "1"},    {"--name", "", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *args[6] = {bad[i][0], bad[i][0] ? bad[i][1] : NULL, bad[i][0] && bad[i][1] ? bad[i][2] : NULL, NULL};
        if (i == 11) args[1] = "x\xff", args[2] = "h", args[3] = "1"; /* a HELLO name that is not UTF-8 */
        r = wirecat(args, NULL, false);
        EXPECT_ERR(r, 2, "wirecat: ");
        assert_string_equal(r.out, "");
        run_free(&r);
    }
}

/* ---------- listen mode ---------- */

static void test_listen(void **state) {
    (void)state;
    char out_path[128], err_path[128];
    snprintf(out_path, sizeof out_path, "%s/listen.out", g_tmp);
    snprintf(err_path, sizeof err_path, "%s/listen.err", g_tmp);
    const char *argv[] = {g_wirecat, "--timeout", "5000", "-l", "0", "ECHO_REPLY \"pong\"", NULL};
    pid_t l = spawn(argv, NULL, -1, out_path, err_path);
    g_servers[2] = l;
    unsigned port = 0;
    for (int64_t end = now_ms() + 5000; port == 0 && now_ms() < end;) {
        char *e = slurp(err_path), *at = strstr(e, " port ");
        if (at) port = (unsigned)strtoul(at + 6, NULL, 10);
        free(e);
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    if (port == 0) fail_msg("wirecat -l 0 said no port on stderr");
    char ports[16];
    snprintf(ports, sizeof ports, "%u", port);
    run r = wirecat((const char *const[]){"127.0.0.1", ports, "ECHO \"ping\"", NULL}, NULL, false);
    EXPECT(r, 0, "ECHO_REPLY \"pong\"\n");
    run_free(&r);
    int st = wait_for(l, 5000);
    g_servers[2] = 0;
    char *out = slurp(out_path);
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || strcmp(out, "ECHO \"ping\"\n") != 0)
        fail_msg("wirecat -l: status 0x%x, printed '%s'", (unsigned)st, out);
    free(out);
}

/* ---------- README.md ---------- */

/* Splits a shown command's arguments as sh would for 'single-quoted' and bare words. */
static size_t split_words(char *s, const char **w, size_t max) {
    size_t n = 0;
    while (*s && n < max) {
        while (*s == ' ') s++;
        if (!*s) break;
        char *dst = s;
        w[n++] = s;
        while (*s && *s != ' ') {
            if (*s == '\'') {
                for (s++; *s && *s != '\''; s++) *dst++ = *s;
                if (*s) s++;
            } else {
                *dst++ = *s++;
            }
        }
        char c = *s; /* ' ' or the end; dst <= s */
        *dst = '\0';
        if (c) s++;
    }
    return n;
}

/* Every "$ " line of the fenced block after "### wirecat": `build/cc/wirecat localhost 7000 ARGS`
 * runs against wire-server, `echo 'HEX' | build/cc/wirecat ARGS` with HEX on stdin; the lines up to
 * the next "$ " are what must be printed (stdout and stderr, as a terminal shows them). */
static void test_readme(void **state) {
    (void)state;
    char path[PATHLEN + 16];
    snprintf(path, sizeof path, "%s/README.md", g_root);
    char *md = slurp(path);
    char *sec = strstr(md, "\n### wirecat\n");
    if (!sec) fail_msg("README.md has no '### wirecat' section");
    char *block = strstr(sec, "\n```");
    assert_non_null(block);
    block = strchr(block + 1, '\n') + 1;
    char *fence = strstr(block, "\n```");
    assert_non_null(fence);
    fence[1] = '\0';
    int commands = 0;
    for (char *cmd = strstr(block, "$ "); cmd; commands++) {
        char *eol = strchr(cmd, '\n');
        *eol = '\0';
        char *next = strstr(eol + 1, "\n$ ");
        char *want = eol + 1;
        size_t want_len = next ? (size_t)(next + 1 - want) : strlen(want);
        const char *args[32];
        char *in = NULL;
        char *line = cmd + 2;
        if (strncmp(line, "echo '", 6) == 0) {
            in = line + 6;
            char *q = strchr(in, '\'');
            assert_non_null(q);
            *q = '\0';
            line = strstr(q + 1, "| build/cc/wirecat");
            assert_non_null(line);
            line += 18;
        } else {
            if (strncmp(line, "build/cc/wirecat localhost 7000 ", 32) != 0) fail_msg("README: cannot run '%s'", line);
            line += 32;
        }
        size_t n = 0;
        if (!in) args[n++] = "127.0.0.1", args[n++] = g_c_port;
        n += split_words(line, args + n, 30 - n);
        args[n] = NULL;
        char *input = NULL;
        if (in) {
            input = malloc(strlen(in) + 2);
            assert_non_null(input);
            sprintf(input, "%s\n", in);
        }
        run r = wirecat(args, input, true);
        free(input);
        if (strlen(r.out) != want_len || memcmp(r.out, want, want_len) != 0)
            fail_msg("README: '%s' printed:\n%s-- README shows:\n%.*s", cmd + 2, r.out, (int)want_len, want);
        run_free(&r);
        cmd = next ? next + 1 : NULL;
    }
    if (commands < 2) fail_msg("README's wirecat section shows %d commands", commands);
    free(md);
}

int main(int argc, char **argv) {
    (void)argc;
    signal(SIGPIPE, SIG_IGN);
    find_programs(argv[0]);
    for (const char *prog = g_wirecat; prog; prog = prog == g_wirecat ? g_server : NULL)
        if (access(prog, X_OK) != 0) {
            fprintf(stderr, "test_wirecat: %s: %s (build it first: make)\n", prog, strerror(errno));
            return 1;
        }
    snprintf(g_tmp, sizeof g_tmp, "/tmp/test_wirecat.XXXXXX");
    if (!mkdtemp(g_tmp)) {
        perror("test_wirecat: mkdtemp");
        return 1;
    }
    const struct CMUnitTest offline[] = {cmocka_unit_test(test_usage), cmocka_unit_test(test_bad_literals),
                                         cmocka_unit_test(test_decode), cmocka_unit_test(test_listen)};
    const struct CMUnitTest live[] = {cmocka_unit_test(test_c_server), cmocka_unit_test(test_python_server),
                                      cmocka_unit_test(test_connect_failures), cmocka_unit_test(test_dump),
                                      cmocka_unit_test(test_readme)};
    int failed = cmocka_run_group_tests_name("wirecat: offline and listen mode", offline, NULL, teardown_servers);
    failed += cmocka_run_group_tests_name("wirecat: against wire-server and the Python server", live, setup_servers,
                                          teardown_servers);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "test_wirecat: could not remove %s\n", g_tmp);
    return failed ? 1 : 0;
}
