/*
 * Allocation wrappers that abort on out-of-memory, and error-string helpers.
 */
#include "core/hd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void hd_oom(size_t n)
{
    fprintf(stderr, "herald: out of memory allocating %zu bytes\n", n);
    abort();
}

void *hd_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        hd_oom(n);
    return p;
}

void *hd_calloc(size_t nmemb, size_t n)
{
    void *p = calloc(nmemb ? nmemb : 1, n ? n : 1);
    if (!p)
        hd_oom(nmemb * n);
    return p;
}

void *hd_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        hd_oom(n);
    return q;
}

char *hd_strdup(const char *s)
{
    return s ? hd_strndup(s, strlen(s)) : NULL;
}

char *hd_strndup(const char *s, size_t n)
{
    char *d = hd_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *hd_asprintf(const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    char *s = hd_malloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return s;
}

void hd_free(void *p)
{
    free(p);
}

int hd_seterr(int code, char *errstr, size_t errstr_size, const char *fmt, ...)
{
    if (errstr && errstr_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return code;
}

int hd_mkdir_p(const char *path, char *errstr, size_t errstr_size)
{
    if (!path || !*path)
        return hd_seterr(HD_ERR, errstr, errstr_size, "mkdir: empty path");
    char *p = hd_strdup(path);
    int rc = 0;
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c != '\0')
            continue;
        char end = *c;
        *c = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            rc = hd_seterr(HD_ERR, errstr, errstr_size, "mkdir %s: %s", p, strerror(errno));
            break;
        }
        *c = end;
        if (end == '\0')
            break;
    }
    hd_free(p);
    return rc;
}
