/* SPDX-License-Identifier: MIT */
/* server_thread.c - one thread per connection. The threads share the server's read-only
 * configuration and the count of live connections; each serves its connection with
 * wire__serve_one(). They are joined, not detached: a thread done serving puts its job on the
 * pool's `finished` list, and the loop thread joins it at the next accept or at the end, so that
 * wire_server_run() never returns while one of its threads still exists. */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct job {
    struct pool *p;
    int fd;
    pthread_t t;      /* the thread's own id, set by itself under the lock as it finishes */
    struct job *next; /* on the pool's finished list */
} job;

typedef struct pool {
    wire_server *s;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int live;
    job *finished; /* threads done serving, to be joined */
    pthread_attr_t attr;
} pool;

static void *serve(void *arg) {
    job *j = arg;
    pool *p = j->p;
    wire__serve_one(p->s, j->fd);
    pthread_mutex_lock(&p->lock);
    j->t = pthread_self();
    j->next = p->finished; /* the job is the list's node: nothing to allocate here */
    p->finished = j;
    if (--p->live == 0) pthread_cond_signal(&p->idle);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Joins the threads done serving (each exits soon after), and frees their jobs. */
static void join_finished(pool *p) {
    pthread_mutex_lock(&p->lock);
    job *j = p->finished;
    p->finished = NULL;
    pthread_mutex_unlock(&p->lock);
    while (j) {
        job *next = j->next;
        pthread_join(j->t, NULL);
        free(j);
        j = next;
    }
}

static wire__admit admit(void *ctx, wire__loop *l, int fd) {
    pool *p = ctx;
    (void)l;
    join_finished(p);
    pthread_mutex_lock(&p->lock);
    bool full = p->live >= p->s->cfg.max_conns;
    if (!full) p->live++;
    pthread_mutex_unlock(&p->lock);
    if (full) return WIRE__REFUSE_FULL;
    job *j = malloc(sizeof *j);
    pthread_t t;
    int rc = j ? 0 : -1;
    if (j) {
        j->p = p;
        j->fd = fd;
        rc = pthread_create(&t, &p->attr, serve, j);
    }
    if (rc == 0) return WIRE__ADMITTED;
    free(j);
    pthread_mutex_lock(&p->lock);
    p->live--;
    pthread_mutex_unlock(&p->lock);
    char et[128];
    wire__server_log(p->s, "cannot start a thread (%s)", rc > 0 ? wire__errno_text(rc, et, sizeof et) : "out of memory");
    return WIRE__REFUSE_FAILED;
}

wire_err wire__run_thread(wire_server *s, char *errbuf, size_t errlen) {
    pool p;
    memset(&p, 0, sizeof p);
    p.s = s;
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.idle, NULL);
    pthread_attr_init(&p.attr);
    pthread_attr_setstacksize(&p.attr, 256 * 1024); /* buffers live on the heap; keep 1024 threads cheap */
#ifdef __linux__
    wire_model backend = WIRE_MODEL_EPOLL;
#else
    wire_model backend = WIRE_MODEL_POLL;
#endif
    wire__hooks h = {admit, NULL, NULL, &p};
    wire_err e = wire__loop_run(s, backend, &h, errbuf, errlen);
    pthread_mutex_lock(&p.lock); /* the connection threads see the stop pipe and finish */
    while (p.live > 0) pthread_cond_wait(&p.idle, &p.lock);
    pthread_mutex_unlock(&p.lock);
    join_finished(&p); /* each has left serve(): wait until each has exited */
    pthread_attr_destroy(&p.attr);
    pthread_mutex_destroy(&p.lock);
    pthread_cond_destroy(&p.idle);
    return e;
}
