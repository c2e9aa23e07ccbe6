/* SPDX-License-Identifier: MIT */
/* errors.c - names and messages of error codes (one table: WIRE_ERRORS in wire.h), and the error
 * text the socket helpers write. */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

const char *wire__errno_text(int err, char *buf, size_t len) {
    /* strerror() may use a static buffer (not thread-safe); the XSI strerror_r fills ours */
    if (strerror_r(err, buf, len) != 0) snprintf(buf, len, "error %d", err);
    return buf;
}

void wire__errbuf(char *errbuf, size_t errlen, const char *fmt, ...) {
    int saved = errno; /* callers report errno after this: formatting must not change it */
    if (errbuf != NULL && errlen != 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    errno = saved;
}
