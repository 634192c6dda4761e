/*
 * A growable byte buffer. Reset keeps the allocation, so a buffer reused per
 * record does not allocate in steady state. Always NUL-terminated after an
 * append (the NUL is not counted in len).
 */
#ifndef HD_BUF_H
#define HD_BUF_H

#include <stddef.h>
#include "core/hd.h"

struct hd_buf {
    char *data;
    size_t len;
    size_t cap;
};

#define HD_BUF_INIT {NULL, 0, 0}

void hd_buf_reserve(struct hd_buf *b, size_t extra);
void hd_buf_append(struct hd_buf *b, const void *p, size_t n);
void hd_buf_puts(struct hd_buf *b, const char *s);
void hd_buf_putc(struct hd_buf *b, char c);
void hd_buf_printf(struct hd_buf *b, const char *fmt, ...) HD_PRINTF(2, 3);
/* Appends s as a JSON string literal, quotes included. */
void hd_buf_put_json_string(struct hd_buf *b, const char *s, size_t n);
void hd_buf_reset(struct hd_buf *b);
/* Frees the storage; b is left empty and reusable. Accepts NULL. */
void hd_buf_free(struct hd_buf *b);
/* Hands the storage to the caller (who frees it) and leaves b empty. */
char *hd_buf_steal(struct hd_buf *b);

#endif
