/* SPDX-License-Identifier: MIT */
/* timers.c - the engine's timers: a binary min-heap of connections keyed by deadline, so that the
 * loop's wait is bounded by the nearest one and only expired connections are looked at. */
#include "internal.h"

#include <stdlib.h>

static void place(wire__timers *t, size_t i, wire_conn *c) {
    t->h[i] = c;
    c->heap_at = i + 1;
}

static void sift_up(wire__timers *t, size_t i) {
    wire_conn *c = t->h[i];
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (t->h[up]->heap_key <= c->heap_key) break;
        place(t, i, t->h[up]);
        i = up;
    }
    place(t, i, c);
}

static void sift_down(wire__timers *t, size_t i) {
    wire_conn *c = t->h[i];
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        int64_t key = c->heap_key;
        if (l < t->n && t->h[l]->heap_key < key) m = l, key = t->h[l]->heap_key;
        if (l + 1 < t->n && t->h[l + 1]->heap_key < key) m = l + 1;
        if (m == i) break;
        place(t, i, t->h[m]);
        i = m;
    }
    place(t, i, c);
}

bool wire__timers_set(wire__timers *t, wire_conn *c, int64_t key) {
    if (c->heap_at == 0) {
        if (key < 0) return true;
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 64;
            wire_conn **nh = realloc(t->h, cap * sizeof *nh);
            if (!nh) return false;
            t->h = nh;
            t->cap = cap;
        }
        c->heap_key = key;
        place(t, t->n++, c);
        sift_up(t, t->n - 1);
        return true;
    }
    size_t i = c->heap_at - 1;
    if (key < 0) { /* out: the last entry takes its place */
        c->heap_at = 0;
        wire_conn *last = t->h[--t->n];
        if (i < t->n) {
            place(t, i, last);
            sift_up(t, i);
            sift_down(t, last->heap_at - 1);
        }
        return true;
    }
    int64_t old = c->heap_key;
    c->heap_key = key;
    if (key < old) sift_up(t, i);
    else if (key > old) sift_down(t, i);
    return true;
}

void wire__timers_free(wire__timers *t) {
    free(t->h);
    t->h = NULL;
    t->n = t->cap = 0;
}
