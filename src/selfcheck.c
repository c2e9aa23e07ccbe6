/* SPDX-License-Identifier: MIT */
/* selfcheck.c - the host facts SPEC.md relies on, checked at compile time and at run time. */
#include "internal.h"

#include <float.h>
#include <limits.h>
#include <string.h>

/* C99 has no _Static_assert: a negative array size stops the build with this name in the message. */
#define WIRE__STATIC_CHECK(name, cond) typedef char wire__check_##name[(cond) ? 1 : -1]
WIRE__STATIC_CHECK(char_is_8_bits, CHAR_BIT == 8);
WIRE__STATIC_CHECK(float_is_binary32, sizeof(float) == 4 && FLT_RADIX == 2 && FLT_MANT_DIG == 24 && FLT_MAX_EXP == 128);
WIRE__STATIC_CHECK(double_is_binary64, sizeof(double) == 8 && DBL_MANT_DIG == 53 && DBL_MAX_EXP == 1024);
WIRE__STATIC_CHECK(size_t_holds_u32, SIZE_MAX >= UINT32_MAX);

wire_err wire_selfcheck(char *errbuf, size_t errlen) {
    /* Known bit patterns: a host whose floats are not IEEE 754, or whose float byte order differs
     * from its integer byte order (old ARM FPA doubles), fails here. volatile keeps the compiler from
     * folding the checks away. */
    volatile float f = 1.5f;
    volatile double d = -2.0;
    float fv = f;
    double dv = d;
    uint32_t fb;
    uint64_t db;
    memcpy(&fb, &fv, sizeof fb);
    memcpy(&db, &dv, sizeof db);
    if (fb != 0x3FC00000u) {
        wire__errbuf(errbuf, errlen, "float 1.5 has bits 0x%08lx, not IEEE 754 binary32 0x3fc00000",
                     (unsigned long)fb);
        return WIRE_EINVAL;
    }
    if (db != 0xC000000000000000u) {
        wire__errbuf(errbuf, errlen, "double -2.0 has bits 0x%08lx%08lx, not IEEE 754 binary64 0xc000000000000000",
                     (unsigned long)(db >> 32), (unsigned long)(db & 0xFFFFFFFFu));
        return WIRE_EINVAL;
    }
    volatile int32_t m = -1; /* int32_t is two's complement by definition; check the conversion too */
    if ((uint32_t)m != 0xFFFFFFFFu) {
        wire__errbuf(errbuf, errlen, "int32_t -1 does not convert to 0xffffffff");
        return WIRE_EINVAL;
    }
    wire__errbuf(errbuf, errlen, "ok");
    return WIRE_OK;
}
