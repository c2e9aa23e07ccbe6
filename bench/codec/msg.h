/* SPDX-License-Identifier: MIT */
/* msg.h - the representative message as native values (bench/message.hex holds its bytes). */
#ifndef BENCH_MSG_H
#define BENCH_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MSG_LIST_MAX 8

struct msg {
    uint32_t u32;
    int64_t i64;
    double f64;
    const char *name;
    size_t name_len;
    bool flag;
    uint16_t u16;
    const uint8_t *blob;
    size_t blob_len;
    uint32_t nlist;
    int32_t list[MSG_LIST_MAX];
};

#endif
