/* SPDX-License-Identifier: MIT */
/* wirecat_notation.h - wirecat's frame syntax: a message type (by name or number) followed by values
 * in the value notation of SPEC 10.7, extended for people typing at a shell: strings and bytes may be
 * written as text in double quotes (string:"héllo", escapes \" \\ \n \r \t \0 \xNN), floats also as
 * decimals (f64:1.5). ECHO, ECHO_REPLY, PING and PONG carry opaque bytes: bytes:<hex> and "text"
 * tokens, concatenated. Parsing and encoding are one walk, so an error knows its column. */
#ifndef WIRECAT_NOTATION_H
#define WIRECAT_NOTATION_H

#include "wire.h"

/* The largest payload wirecat builds: the protocol's default max payload (SPEC 2.4). */
#define WC_MAX_PAYLOAD WIRE_DEFAULT_MAX_PAYLOAD

/* The message type named `s` (a wire_msg_name() name, 0xNNNN or decimal 1..65535), or -1. */
int wc_msg_type(const char *s, size_t len);

/* True for the types whose payload is opaque bytes rather than fields (SPEC 3.1). */
bool wc_opaque(uint16_t type);

/* Parses one frame line. 0: *type and *payload (malloc'd, *len bytes; free() it) are set. -1: err
 * holds the reason and *col its 1-based column (in characters) in line. An empty line is an error. */
int wc_parse_frame(const char *line, uint16_t *type, uint8_t **payload, size_t *len, size_t *col, char *err,
                   size_t errlen);

#endif
