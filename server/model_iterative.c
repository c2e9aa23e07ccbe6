/* model_iterative.c - one client at a time: the simplest server, and the course's first one. Others
 * wait in the listen backlog until the current client is done. */
#include "server.h"

#include <unistd.h>

int srv_run_iterative(const server_cfg *cfg) {
    for (;;) {
        int fd = srv_accept(cfg);
        if (fd < 0) break;
        srv_serve_blocking(cfg, fd);
    }
    for (int k = 0; k < cfg->nlisten; k++) close(cfg->listen_fds[k]);
    return 0;
}
