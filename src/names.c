/* SPDX-License-Identifier: MIT */
/* names.c - the names of field types and message types, from the tables in wire.h. */
#include "internal.h"

const char *wire_type_name(int tag) {
    switch (tag) {
#define WIRE__TYPE_NAME(name, tag, text)                                                           \
    case tag:                                                                                      \
        return text;
        WIRE_TYPES(WIRE__TYPE_NAME)
#undef WIRE__TYPE_NAME
    default:
        return NULL;
    }
}

const char *wire_msg_name(unsigned type) {
    switch (type) {
#define WIRE__MSG_NAME(name, type)                                                                 \
    case type:                                                                                     \
        return #name;
        WIRE_MESSAGES(WIRE__MSG_NAME)
#undef WIRE__MSG_NAME
    default:
        return NULL;
    }
}
