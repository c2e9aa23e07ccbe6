/* SPDX-License-Identifier: MIT */
/* wirecat_print.h - how wirecat shows a frame: one line in the notation it reads (so a printed line
 * can be sent again), or an annotated hex dump in the style of SPEC.md section 12 (every byte of the
 * frame, header included, beside what it means). Both walk the payload with libwire's reader, so a
 * payload that does not decode fails with the reader's code and offset. */
#ifndef WIRECAT_PRINT_H
#define WIRECAT_PRINT_H

#include <stdio.h>

#include "wire.h"

/* Prints `TYPE values...` and a newline. 0; -1 when the payload does not decode (nothing is printed;
 * *err and *off, a payload offset, say why). */
int wc_print_line(FILE *out, uint16_t type, const uint8_t *payload, size_t len, wire_err *err, size_t *off);

/* Prints the annotated dump of the frame and an empty line. -1 as above, after dumping the bytes up to
 * the error and marking it. */
int wc_print_dump(FILE *out, uint16_t type, const uint8_t *payload, size_t len, wire_err *err, size_t *off);

/* Writes s[0..n) as a double-quoted text with the escapes wirecat reads (\" \\ \n \r \t \0 \xNN). */
void wc_put_text(FILE *out, const uint8_t *s, size_t n);

#endif
