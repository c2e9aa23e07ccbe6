/* errors.c - names and messages of error codes and type tags (one table: WIRE_ERRORS in wire.h). */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>

const char *wire_strerror(wire_err err) {
    switch (err) {
    case WIRE_OK:
        return "success";
#define WIRE__MSG(name, code, msg)                                                                 \
    case WIRE_E##name:                                                                             \
        return msg;
        WIRE_ERRORS(WIRE__MSG)
#undef WIRE__MSG
    }
    return "unknown error";
}

const char *wire_err_name(wire_err err) {
    switch (err) {
    case WIRE_OK:
        return "OK";
#define WIRE__NAME(name, code, msg)                                                                \
    case WIRE_E##name:                                                                             \
        return #name;
        WIRE_ERRORS(WIRE__NAME)
#undef WIRE__NAME
    }
    return "?";
}

const char *wire_type_name(int tag) {
    switch (tag) {
    case WIRE_T_U8: return "u8";
    case WIRE_T_U16: return "u16";
    case WIRE_T_U32: return "u32";
    case WIRE_T_U64: return "u64";
    case WIRE_T_I8: return "i8";
    case WIRE_T_I16: return "i16";
    case WIRE_T_I32: return "i32";
    case WIRE_T_I64: return "i64";
    case WIRE_T_F32: return "f32";
    case WIRE_T_F64: return "f64";
    case WIRE_T_BOOL: return "bool";
    case WIRE_T_STRING: return "string";
    case WIRE_T_BYTES: return "bytes";
    case WIRE_T_LIST: return "list";
    case WIRE_T_GROUP: return "group";
    default: return NULL;
    }
}

void wire__errbuf(char *errbuf, size_t errlen, const char *fmt, ...) {
    if (errbuf == NULL || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}
