/*
 * Growable buffer (see buf.h).
 */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void hd_buf_reserve(struct hd_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->data = hd_realloc(b->data, cap);
    b->cap = cap;
}

void hd_buf_append(struct hd_buf *b, const void *p, size_t n)
{
    hd_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void hd_buf_puts(struct hd_buf *b, const char *s)
{
    hd_buf_append(b, s, strlen(s));
}

void hd_buf_putc(struct hd_buf *b, char c)
{
    hd_buf_append(b, &c, 1);
}

void hd_buf_printf(struct hd_buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n >= 0) {
        hd_buf_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

void hd_buf_put_json_string(struct hd_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    hd_buf_reserve(b, n + 2);
    hd_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': hd_buf_append(b, "\\\"", 2); break;
        case '\\': hd_buf_append(b, "\\\\", 2); break;
        case '\n': hd_buf_append(b, "\\n", 2); break;
        case '\r': hd_buf_append(b, "\\r", 2); break;
        case '\t': hd_buf_append(b, "\\t", 2); break;
        default:
            if (c < 0x20) {
                char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                hd_buf_append(b, u, 6);
            } else {
                hd_buf_putc(b, (char)c);
            }
        }
    }
    hd_buf_putc(b, '"');
}

void hd_buf_reset(struct hd_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void hd_buf_free(struct hd_buf *b)
{
    if (!b)
        return;
    hd_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *hd_buf_steal(struct hd_buf *b)
{
    char *p = b->data ? b->data : hd_strdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
