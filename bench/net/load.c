/* SPDX-License-Identifier: MIT */
/* load - the one load client of the server benchmarks (the same for every server).
 *
 *   load [--host H] --port P [--conns C] [--depth D] [--size BYTES] [--seconds S] [--warmup S]
 *        [--server-pid PID]
 *
 * Opens C connections, does the HELLO exchange on each (SPEC 8.1: the server's HELLO is decoded and
 * checked by libwire: version 1, a max_payload that admits the ECHO payloads), then keeps D ECHO
 * frames of BYTES payload in flight on every connection (D = 1 is ping-pong) for the warm-up, then
 * for the measured window of S seconds, then lets the frames in flight come back and closes. Every
 * reply must be an ECHO_REPLY with exactly the bytes sent (each payload carries its sequence number
 * in its first bytes), else it fails loudly (exit 1).
 *
 * Prints one line (all figures over the measured window):
 *   load conns=C depth=D size=BYTES secs=S msgs=N msgs_s=X mb_s=X p50_us=X p99_us=X p999_us=X
 *        cpu_client_ns=X cpu_server_ns=X
 * mb_s counts the payload bytes echoed (one direction), 10^6 bytes per MB. The round-trip time of
 * every message (from the moment it is handed to writev to the moment its reply is parsed, so with
 * D > 1 it includes the wait in the pipeline) goes into a log-linear histogram (buckets 0.8 % wide);
 * the percentiles are bucket midpoints. cpu_client_ns is this process's user+system CPU per message
 * (getrusage); cpu_server_ns the server's, summed over PID's process tree and all their threads
 * from /proc (server_cpu_ns says how), -1 without --server-pid. Linux only (epoll, /proc).
 *
 * Single thread, level-triggered epoll, non-blocking sockets with TCP_NODELAY; each connection's
 * frames live in a ring of D prebuilt frames, so queuing one stamps its sequence number and the
 * pending ones go out in one writev (two iovecs at most). */
#include "wire.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define T_HELLO 0x0001u
#define T_ERROR 0x0002u
#define T_ECHO 0x0100u
#define T_ECHO_REPLY 0x0101u
#define MY_MAX_PAYLOAD 16777216u

/* ---- the RTT histogram: 128 buckets per power of two ---- */
#define SUB_BITS 7
#define SUB (1u << SUB_BITS)
#define NBUCKETS (64 * SUB)

static uint64_t hist[NBUCKETS];
static uint64_t hist_n;

static unsigned msb64(uint64_t v)
{
    unsigned m = 0;
    while (v >>= 1)
        m++;
    return m;
}

static void hist_add(uint64_t ns)
{
    size_t idx;
    if (ns < SUB) {
        idx = (size_t)ns;
    } else {
        unsigned shift = msb64(ns) - (SUB_BITS - 1) - 1; /* ns >> shift is in [SUB, 2 SUB) */
        idx = (size_t)(shift + 1) * SUB + (size_t)((ns >> shift) - SUB);
    }
    hist[idx]++;
    hist_n++;
}

/* The midpoint of the bucket holding the q-quantile, in ns. */
static double hist_quantile(double q)
{
    if (hist_n == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)hist_n);
    if (rank >= hist_n)
        rank = hist_n - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < NBUCKETS; i++) {
        seen += hist[i];
        if (seen > rank) {
            if (i < SUB)
                return (double)i;
            unsigned shift = (unsigned)(i / SUB) - 1;
            double low = (double)((uint64_t)(i % SUB + SUB) << shift);
            return low + (double)((uint64_t)1 << shift) / 2;
        }
    }
    return 0;
}

/* ---- helpers ---- */
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("load: FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t cpu_self_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void header(unsigned char *h, unsigned type, uint32_t len)
{
    h[0] = 1;
    h[1] = 0;
    h[2] = (unsigned char)(type >> 8);
    h[3] = (unsigned char)type;
    put32(h + 4, len);
}

/* The sequence number in a payload's first min(8, size) bytes, big-endian, low bytes last. */
static void stamp(unsigned char *p, size_t size, uint64_t seq)
{
    size_t n = size < 8 ? size : 8;
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seq >> (8 * (n - 1 - i)));
}

/* ---- the server's CPU: its process tree from /proc ----
 * utime and stime are rounded down to clock ticks (10 ms) per process, which loses nearly all of
 * the time of 256 forked children that each run a few ms in a window; so each task's runtime comes
 * from /proc/PID/task/TID/schedstat (ns), and utime+stime from /proc/PID/stat only where schedstat
 * cannot be read. The children the tree has reaped count through cutime+cstime (ticks). */
typedef struct proc {
    long pid, ppid;
    unsigned long long ticks, cticks; /* utime + stime; cutime + cstime */
} proc;

static double tick_ns;

/* The runtime of every thread of pid in ns; -1 if schedstat is not available. */
static double tasks_ns(long pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    double total = 0;
    int seen = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        char p2[320], buf[128];
        snprintf(p2, sizeof p2, "/proc/%ld/task/%s/schedstat", pid, e->d_name);
        int fd = open(p2, O_RDONLY);
        if (fd < 0)
            continue; /* the thread ended */
        ssize_t len = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (len <= 0)
            continue;
        buf[len] = 0;
        total += strtod(buf, NULL);
        seen = 1;
    }
    closedir(d);
    return seen ? total : -1;
}

static double server_cpu_ns(long root)
{
    size_t n = 0, cap = 1024;
    proc *ps = malloc(cap * sizeof *ps);
    DIR *d = opendir("/proc");
    if (!ps || !d)
        die("cannot read /proc");
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        char path[300], buf[1024]; /* d_name is at most 255 bytes */
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue; /* it went away */
        ssize_t len = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (len <= 0)
            continue;
        buf[len] = 0;
        char *rp = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
        if (!rp)
            continue;
        /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
         * stime cutime cstime */
        char state;
        long ppid;
        unsigned long long f[13];
        if (sscanf(rp + 2, "%c %ld %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &state,
                   &ppid, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9], &f[10],
                   &f[11], &f[12]) != 15)
            continue;
        if (n == cap) {
            proc *np = realloc(ps, (cap *= 2) * sizeof *ps);
            if (!np)
                die("out of memory");
            ps = np;
        }
        ps[n].pid = atol(e->d_name);
        ps[n].ppid = ppid;
        ps[n].ticks = f[9] + f[10];
        ps[n].cticks = f[11] + f[12];
        n++;
    }
    closedir(d);
    /* Mark the tree: repeat until no new member (process lists are small). */
    char *in = calloc(n ? n : 1, 1);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        if (ps[i].pid == root)
            in[i] = 1, found = 1;
    if (!found)
        die("server pid %ld is not running", root);
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t i = 0; i < n; i++) {
            if (in[i])
                continue;
            for (size_t j = 0; j < n; j++)
                if (in[j] && ps[j].pid == ps[i].ppid) {
                    in[i] = 1, changed = 1;
                    break;
                }
        }
    }
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!in[i])
            continue;
        double t = tasks_ns(ps[i].pid);
        total += (t >= 0 ? t : (double)ps[i].ticks * tick_ns) + (double)ps[i].cticks * tick_ns;
    }
    free(in);
    free(ps);
    return total;
}

/* ---- connections ---- */
typedef struct lconn {
    int fd;
    unsigned char *ring;  /* depth prebuilt ECHO frames of frame bytes each */
    uint64_t queued;      /* frames queued so far (the next one's sequence number) */
    uint64_t replied;     /* replies checked so far */
    uint64_t written;     /* bytes written so far */
    int64_t *sent_ns;     /* depth slots: when frame seq was queued, at seq % depth */
    unsigned char *in;
    size_t in_cap, in_len;
    int out_armed;        /* EPOLLOUT registered */
} lconn;

static size_t depth, size, frame_bytes;
static int ep;
static int measuring, stopping;
static uint64_t msgs_total;   /* replies in the measured window */
static uint64_t replies_all;  /* replies since the start (to see progress) */

static void arm(lconn *c, int out)
{
    if (c->out_armed == out)
        return;
    struct epoll_event ev;
    ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
    ev.data.ptr = c;
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
    c->out_armed = out;
}

/* Queue frames up to the depth, then write what is pending (one writev). */
static void pump(lconn *c)
{
    if (!stopping) {
        int64_t t = 0;
        while (c->queued - c->replied < depth) {
            size_t slot = (size_t)(c->queued % depth);
            stamp(c->ring + slot * frame_bytes + 8, size, c->queued);
            if (!t)
                t = now_ns();
            c->sent_ns[slot] = t;
            c->queued++;
        }
    }
    uint64_t end = c->queued * frame_bytes;
    size_t ring_bytes = depth * frame_bytes;
    while (c->written < end) {
        struct iovec iov[2];
        size_t pos = (size_t)(c->written % ring_bytes);
        uint64_t left = end - c->written;
        int n = 1;
        iov[0].iov_base = c->ring + pos;
        iov[0].iov_len = (size_t)(left < ring_bytes - pos ? left : ring_bytes - pos);
        if (iov[0].iov_len < left) {
            iov[1].iov_base = c->ring;
            iov[1].iov_len = (size_t)(left - iov[0].iov_len);
            n = 2;
        }
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            die("write: %s", strerror(errno));
        }
        c->written += (uint64_t)w;
    }
    arm(c, c->written < end);
}

static void check_reply(lconn *c, const unsigned char *f, uint32_t len)
{
    unsigned type = (unsigned)f[2] << 8 | f[3];
    if (f[0] != 1 || f[1] != 0)
        die("reply %llu: bad header %02x %02x", (unsigned long long)c->replied, f[0], f[1]);
    if (type == T_ERROR)
        die("reply %llu: the server sent an ERROR frame", (unsigned long long)c->replied);
    if (type != T_ECHO_REPLY)
        die("reply %llu: type 0x%04x, not ECHO_REPLY", (unsigned long long)c->replied, type);
    if (len != size)
        die("reply %llu: %lu payload bytes, %zu sent", (unsigned long long)c->replied, (unsigned long)len,
            size);
    if (c->replied >= c->queued)
        die("a reply to nothing");
    size_t slot = (size_t)(c->replied % depth);
    /* The slot still holds that frame: it is restamped only once its reply is in. */
    if (memcmp(f + 8, c->ring + slot * frame_bytes + 8, size) != 0)
        die("reply %llu: the payload is not the bytes sent", (unsigned long long)c->replied);
    if (measuring) {
        hist_add((uint64_t)(now_ns() - c->sent_ns[slot]));
        msgs_total++;
    }
    c->replied++;
    replies_all++;
}

static void on_readable(lconn *c)
{
    ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        die("read: %s", strerror(errno));
    }
    if (n == 0)
        die("the server closed a connection (%llu replies in, %llu frames out)",
            (unsigned long long)c->replied, (unsigned long long)c->queued);
    c->in_len += (size_t)n;
    size_t off = 0;
    while (c->in_len - off >= 8) {
        uint32_t len = get32(c->in + off + 4);
        if (len > size)
            die("reply %llu announces %lu bytes, more than sent", (unsigned long long)c->replied,
                (unsigned long)len);
        if (c->in_len - off - 8 < len)
            break;
        check_reply(c, c->in + off, len);
        off += 8 + (size_t)len;
    }
    if (off) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    pump(c);
}

/* Blocking: read one whole frame (header into h, payload into a malloc'd *payload). */
static void read_frame(int fd, unsigned char h[8], unsigned char **payload)
{
    size_t got = 0;
    while (got < 8) {
        ssize_t n = read(fd, h + got, 8 - got);
        if (n <= 0)
            die("no HELLO from the server: %s", n == 0 ? "EOF" : strerror(errno));
        got += (size_t)n;
    }
    uint32_t len = get32(h + 4);
    if (len > 65536)
        die("the server's first frame announces %lu bytes", (unsigned long)len);
    *payload = malloc(len ? len : 1);
    if (!*payload)
        die("out of memory");
    for (got = 0; got < len;) {
        ssize_t n = read(fd, *payload + got, len - got);
        if (n <= 0)
            die("the server's HELLO was cut: %s", n == 0 ? "EOF" : strerror(errno));
        got += (size_t)n;
    }
}

static int connect_one(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
        die("connect: %s", strerror(errno));
    int one = 1;
    struct timeval tv = {10, 0}; /* a server that never answers fails the run instead of hanging it */
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
        die("setsockopt: %s", strerror(errno));

    /* HELLO(1, 16777216, "bench-load") */
    static const unsigned char hello[] = {0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x17, 0x02, 0x00,
                                          0x01, 0x03, 0x01, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00,
                                          0x0a, 'b',  'e',  'n',  'c',  'h',  '-',  'l',  'o',  'a',
                                          'd'};
    if (write(fd, hello, sizeof hello) != (ssize_t)sizeof hello)
        die("write HELLO: %s", strerror(errno));
    unsigned char h[8], *p;
    read_frame(fd, h, &p);
    uint32_t len = get32(h + 4);
    unsigned type = (unsigned)h[2] << 8 | h[3];
    if (h[0] != 1 || h[1] != 0 || type != T_HELLO) {
        wire_error_msg em;
        size_t eo;
        if (type == T_ERROR && wire_get_error_msg(p, len, &em, &eo) == WIRE_OK)
            die("the server answered HELLO with ERROR %u: %.*s", em.code, (int)em.text_len, em.text);
        die("the server's first frame is not a HELLO (type 0x%04x)", type);
    }
    wire_hello sh;
    size_t eo = 0;
    wire_err err = wire_get_hello(p, len, &sh, &eo);
    if (err != WIRE_OK)
        die("the server's HELLO is malformed: %s at payload offset %zu", wire_strerror(err), eo);
    if (sh.max_payload < size)
        die("the server accepts %lu-byte payloads, the run sends %zu", (unsigned long)sh.max_payload, size);
    free(p);
    if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
        die("fcntl: %s", strerror(errno));
    return fd;
}

static double arg_num(const char *opt, const char *v, double lo, double hi)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || !(d >= lo && d <= hi)) {
        fprintf(stderr, "load: %s %s: expected a number in %g..%g\n", opt, v, lo, hi);
        exit(2);
    }
    return d;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *port = NULL;
    size_t conns = 1;
    double seconds = 2, warmup = 0.3;
    long server_pid = 0;
    depth = 1;
    size = 64;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "load: %s: missing value (see the comment at the top of load.c)\n", o);
            return 2;
        }
        i++;
        if (strcmp(o, "--host") == 0)
            host = v;
        else if (strcmp(o, "--port") == 0)
            port = v;
        else if (strcmp(o, "--conns") == 0)
            conns = (size_t)arg_num(o, v, 1, 100000);
        else if (strcmp(o, "--depth") == 0)
            depth = (size_t)arg_num(o, v, 1, 65536);
        else if (strcmp(o, "--size") == 0)
            size = (size_t)arg_num(o, v, 0, MY_MAX_PAYLOAD);
        else if (strcmp(o, "--seconds") == 0)
            seconds = arg_num(o, v, 0.01, 3600);
        else if (strcmp(o, "--warmup") == 0)
            warmup = arg_num(o, v, 0, 3600);
        else if (strcmp(o, "--server-pid") == 0)
            server_pid = (long)arg_num(o, v, 1, 1e9);
        else {
            fprintf(stderr, "load: unknown option %s\n", o);
            return 2;
        }
    }
    if (!port) {
        fputs("usage: load [--host H] --port P [--conns C] [--depth D] [--size BYTES] [--seconds S] "
              "[--warmup S] [--server-pid PID]\n",
              stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    tick_ns = 1e9 / (double)sysconf(_SC_CLK_TCK);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < conns + 16) {
        rl.rlim_cur = rl.rlim_max < conns + 16 ? rl.rlim_max : conns + 16;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < conns + 16)
            die("%zu connections need %zu descriptors; the hard limit is %llu", conns, conns + 16,
                (unsigned long long)rl.rlim_max);
    }

    struct addrinfo hints, *ai;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0)
        die("%s:%s: %s", host, port, gai_strerror(gai));

    frame_bytes = 8 + size;
    ep = epoll_create1(0);
    if (ep < 0)
        die("epoll_create1: %s", strerror(errno));
    lconn *cs = calloc(conns, sizeof *cs);
    if (!cs)
        die("out of memory");
    for (size_t i = 0; i < conns; i++) {
        lconn *c = &cs[i];
        c->fd = connect_one(ai);
        c->ring = malloc(depth * frame_bytes);
        c->sent_ns = calloc(depth, sizeof *c->sent_ns);
        c->in_cap = frame_bytes + 65536; /* a whole reply, and what follows it in one read */
        c->in = malloc(c->in_cap);
        if (!c->ring || !c->sent_ns || !c->in)
            die("out of memory");
        for (size_t k = 0; k < depth; k++) {
            unsigned char *f = c->ring + k * frame_bytes;
            header(f, T_ECHO, (uint32_t)size);
            for (size_t b = 0; b < size; b++)
                f[8 + b] = (unsigned char)(b * 131 + i * 7 + 0x5a); /* differs by position and conn */
        }
        struct epoll_event ev;
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
            die("epoll_ctl: %s", strerror(errno));
    }
    freeaddrinfo(ai);

    for (size_t i = 0; i < conns; i++)
        pump(&cs[i]);
    int64_t t_start = now_ns();
    int64_t t_measure = t_start + (int64_t)(warmup * 1e9);
    int64_t t_end = t_measure + (int64_t)(seconds * 1e9);
    int64_t t0 = 0, t1 = 0, cpu0 = 0, cpu1 = 0;
    double srv0 = 0, srv1 = 0;
    uint64_t last_total = 0;
    int64_t last_progress = t_start;
    struct epoll_event evs[512];
    for (;;) {
        int64_t t = now_ns();
        if (!measuring && !stopping && t >= t_measure) {
            if (server_pid)
                srv0 = server_cpu_ns(server_pid);
            cpu0 = cpu_self_ns();
            t0 = now_ns();
            t_end = t0 + (int64_t)(seconds * 1e9); /* reading /proc took some time: a full window */
            measuring = 1;
        } else if (measuring && t >= t_end) {
            t1 = now_ns();
            cpu1 = cpu_self_ns();
            if (server_pid)
                srv1 = server_cpu_ns(server_pid);
            measuring = 0;
            stopping = 1;
            last_progress = t1;
        }
        if (stopping) {
            size_t busy = 0;
            for (size_t i = 0; i < conns; i++)
                busy += cs[i].replied < cs[i].queued;
            if (!busy)
                break;
        }
        if (replies_all != last_total) {
            last_total = replies_all;
            last_progress = t;
        } else if (t - last_progress > (int64_t)10 * 1000000000) {
            die("no reply for 10 s (%s)", stopping ? "draining" : measuring ? "measuring" : "warming up");
        }
        int64_t next = measuring ? t_end : stopping ? t + 100000000 : t_measure;
        int timeout = next > t ? (int)((next - t + 999999) / 1000000) : 0;
        int n = epoll_wait(ep, evs, 512, timeout);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            lconn *c = evs[i].data.ptr;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(c);
            else if (evs[i].events & EPOLLOUT)
                pump(c);
        }
    }
    for (size_t i = 0; i < conns; i++) {
        close(cs[i].fd);
        free(cs[i].ring);
        free(cs[i].sent_ns);
        free(cs[i].in);
    }
    free(cs);

    double secs = (double)(t1 - t0) / 1e9;
    double msgs = (double)msgs_total;
    if (msgs_total == 0)
        die("no message in the measured window");
    double srv_ns = -1;
    if (server_pid)
        srv_ns = (srv1 - srv0) / msgs;
    printf("load conns=%zu depth=%zu size=%zu secs=%.3f msgs=%llu msgs_s=%.1f mb_s=%.3f p50_us=%.3f "
           "p99_us=%.3f p999_us=%.3f cpu_client_ns=%.1f cpu_server_ns=%.1f\n",
           conns, depth, size, secs, (unsigned long long)msgs_total, msgs / secs,
           msgs * (double)size / secs / 1e6, hist_quantile(0.50) / 1e3, hist_quantile(0.99) / 1e3,
           hist_quantile(0.999) / 1e3, (double)(cpu1 - cpu0) / msgs, srv_ns);
    return 0;
}
