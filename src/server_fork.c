/* SPDX-License-Identifier: MIT */
/* server_fork.c - one child process per connection (the course's classic concurrent server). The
 * parent's accepting loop forks a child per connection, refuses those over the limit, and reaps the
 * children on SIGCHLD: the signal is blocked except while the loop waits (epoll_pwait, ppoll or
 * pselect open it atomically), so an exit is never missed, and the handler itself does nothing but
 * interrupt the wait. The stop pipe is shared by every process, so one stop reaches all children. */
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct forker {
    wire_server *s;
    int live;                 /* children not yet reaped */
    sigset_t old_mask, wait_mask;
    struct sigaction old_chld;
} forker;

static void on_sigchld(int sig) { (void)sig; } /* only to interrupt the wait: reaping follows it */

/* Reaps every child that has exited. Note: waitpid(-1) reaps any child of the process, as a
 * classic fork server does; a program that forks children of its own should use another model. */
static void reap(void *ctx) {
    forker *f = ctx;
    for (;;) {
        pid_t pid = waitpid(-1, NULL, WNOHANG);
        if (pid > 0) {
            f->live--;
            continue;
        }
        if (pid < 0 && errno == EINTR) continue;
        return; /* 0: none has exited; ECHILD: none left */
    }
}

static wire__admit admit(void *ctx, wire__loop *l, int fd) {
    forker *f = ctx;
    reap(f); /* finished children stop counting against the limit */
    if (f->live >= f->s->cfg.max_conns) return WIRE__REFUSE_FULL;
    fflush(NULL); /* or what stdio holds now would be written twice, by parent and child */
    pid_t pid = fork();
    if (pid == 0) {
        sigaction(SIGCHLD, &f->old_chld, NULL);
        sigprocmask(SIG_SETMASK, &f->old_mask, NULL);
        wire__loop_forget(l);
        wire__serve_one(f->s, fd);
        fflush(NULL);
        _exit(0); /* the child's whole job was this connection */
    }
    if (pid < 0) {
        char et[128];
        wire__server_log(f->s, "fork: %s", wire__errno_text(errno, et, sizeof et));
        return WIRE__REFUSE_FAILED;
    }
    f->live++;
    close(fd); /* the child has it; the parent keeping it would hold the connection open */
    return WIRE__ADMITTED;
}

wire_err wire__run_fork(wire_server *s, char *errbuf, size_t errlen) {
    forker f;
    struct sigaction sa;
    sigset_t chld;
    memset(&f, 0, sizeof f);
    f.s = s;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigchld;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_NOCLDSTOP;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    /* blocked from now on, open only while waiting */
    sigprocmask(SIG_BLOCK, &chld, &f.old_mask);
    f.wait_mask = f.old_mask;
    sigdelset(&f.wait_mask, SIGCHLD);
    sigaction(SIGCHLD, &sa, &f.old_chld);
#ifdef __linux__
    wire_model backend = WIRE_MODEL_EPOLL;
#else
    wire_model backend = WIRE_MODEL_POLL;
#endif
    wire__hooks h = {admit, reap, &f.wait_mask, &f};
    wire_err e = wire__loop_run(s, backend, &h, errbuf, errlen);
    /* stopped: the children finish their frames in flight (they see the stop pipe), then exit */
    while (f.live > 0) {
        pid_t pid = waitpid(-1, NULL, 0);
        if (pid > 0) f.live--;
        else if (errno != EINTR) break;
    }
    sigaction(SIGCHLD, &f.old_chld, NULL);
    sigprocmask(SIG_SETMASK, &f.old_mask, NULL);
    return e;
}
