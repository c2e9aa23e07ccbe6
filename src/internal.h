/* internal.h - helpers shared by the library's sources; not installed. */
#ifndef WIRE_INTERNAL_H
#define WIRE_INTERNAL_H

#include "wire.h"

/* Size of the value of a fixed-size type, 0 for the others (string, bytes, list, group). */
static inline size_t wire__fixed_size(int tag) {
    switch (tag) {
    case WIRE_T_U8: case WIRE_T_I8: case WIRE_T_BOOL: return 1;
    case WIRE_T_U16: case WIRE_T_I16: return 2;
    case WIRE_T_U32: case WIRE_T_I32: case WIRE_T_F32: return 4;
    case WIRE_T_U64: case WIRE_T_I64: case WIRE_T_F64: return 8;
    default: return 0;
    }
}

/* Smallest encoded value of a type, used to refuse a list count before reading its elements:
 * a count above remaining / min size cannot be honest. 0 for a byte that is not a tag. */
static inline size_t wire__min_size(int tag) {
    switch (tag) {
    case WIRE_T_STRING: case WIRE_T_BYTES: case WIRE_T_GROUP: return 4;
    case WIRE_T_LIST: return 5;
    default: return wire__fixed_size(tag);
    }
}

/* Writes a formatted message into errbuf (if any); never fails, always NUL-terminates. */
void wire__errbuf(char *errbuf, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
