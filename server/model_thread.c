/* model_thread.c - one thread per connection. Threads share nothing but the read-only configuration
 * and the live-connection count. */
#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct pool {
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int live;
} pool;

typedef struct job {
    const server_cfg *cfg;
    pool *pool;
    int fd;
} job;

static void *serve(void *arg) {
    job *j = arg;
    srv_serve_blocking(j->cfg, j->fd);
    pthread_mutex_lock(&j->pool->lock);
    if (--j->pool->live == 0) pthread_cond_signal(&j->pool->idle);
    pthread_mutex_unlock(&j->pool->lock);
    free(j);
    return NULL;
}

int srv_run_thread(const server_cfg *cfg) {
    pool p;
    pthread_attr_t attr;
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.idle, NULL);
    p.live = 0;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024); /* frames live on the heap; keep 1024 threads cheap */
    for (;;) {
        int fd = srv_accept(cfg);
        if (fd < 0) break;
        pthread_mutex_lock(&p.lock);
        bool full = p.live >= cfg->max_conns;
        if (!full) p.live++;
        pthread_mutex_unlock(&p.lock);
        job *j = full ? NULL : malloc(sizeof *j);
        int rc = j ? 0 : -1;
        if (j) {
            j->cfg = cfg;
            j->pool = &p;
            j->fd = fd;
            rc = pthread_create(&(pthread_t){0}, &attr, serve, j);
        }
        if (rc != 0) {
            if (!full) {
                pthread_mutex_lock(&p.lock);
                p.live--;
                pthread_mutex_unlock(&p.lock);
                srv_log(cfg, "cannot start a thread: %s", strerror(rc > 0 ? rc : ENOMEM));
            }
            free(j);
            srv_refuse(cfg, fd);
        }
    }
    for (int k = 0; k < cfg->nlisten; k++) close(cfg->listen_fds[k]);
    pthread_mutex_lock(&p.lock); /* connection threads see the stop pipe and finish */
    while (p.live > 0) pthread_cond_wait(&p.idle, &p.lock);
    pthread_mutex_unlock(&p.lock);
    pthread_attr_destroy(&attr);
    return 0;
}
