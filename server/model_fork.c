/* model_fork.c - one process per connection (the course's classic concurrent server). The parent
 * only accepts and reaps; a child serves one client and exits. The stop pipe is shared by every
 * process, so one SIGTERM to the parent reaches all children without forwarding. */
#include "server.h"

#include <errno.h>
#include <sys/wait.h>
#include <string.h>
#include <unistd.h>

static void reap(int *live, bool block) {
    for (;;) {
        pid_t pid = waitpid(-1, NULL, block ? 0 : WNOHANG);
        if (pid > 0) {
            (*live)--;
            if (block && *live == 0) return;
            continue;
        }
        if (pid < 0 && errno == EINTR) continue;
        return; /* 0: none exited yet; ECHILD: none left */
    }
}

int srv_run_fork(const server_cfg *cfg) {
    int live = 0;
    for (;;) {
        int fd = srv_accept(cfg);
        if (fd < 0) break;
        reap(&live, false); /* finished children stop counting against --max-conns */
        if (live >= cfg->max_conns) {
            srv_refuse(cfg, fd);
            continue;
        }
        pid_t pid = fork();
        if (pid == 0) {
            for (int k = 0; k < cfg->nlisten; k++) close(cfg->listen_fds[k]);
            srv_serve_blocking(cfg, fd);
            _exit(0);
        }
        if (pid < 0) {
            srv_log(cfg, "fork: %s", strerror(errno));
            srv_refuse(cfg, fd);
            continue;
        }
        live++;
        close(fd);
    }
    for (int k = 0; k < cfg->nlisten; k++) close(cfg->listen_fds[k]);
    if (live > 0) reap(&live, true); /* children finish their frames in flight, then exit */
    return 0;
}
