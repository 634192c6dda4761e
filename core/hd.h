/*
 * Herald's basics used everywhere: result codes, allocation that aborts on
 * out-of-memory (state is rebuilt from Kafka on restart, so there is no half
 * state worth saving), and a few small helpers.
 */
#ifndef HD_H
#define HD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define HD_OK 0
#define HD_ERR -1          /* generic failure; errstr says why */
#define HD_ERR_INVALID -2  /* bad input (caller's data) */
#define HD_ERR_NOTFOUND -3 /* no such thing */
#define HD_ERR_TRANSIENT -4 /* try again later */
#define HD_ERR_FATAL -5    /* cannot go on */

#define HD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define HD_UNUSED __attribute__((unused))
#define HD_PRINTF(f, a) __attribute__((format(printf, f, a)))

void *hd_malloc(size_t n);
void *hd_calloc(size_t nmemb, size_t n);
void *hd_realloc(void *p, size_t n);
/* Returns a new copy of s, or NULL when s is NULL. */
char *hd_strdup(const char *s);
char *hd_strndup(const char *s, size_t n);
/* Returns a new string formatted like printf; caller frees. */
char *hd_asprintf(const char *fmt, ...) HD_PRINTF(1, 2);
void hd_free(void *p);

/* Creates directory `path` and its missing parents (mode 0755), like mkdir -p. Returns 0,
 * or -1 with errstr naming the directory that could not be made and why. */
int hd_mkdir_p(const char *path, char *errstr, size_t errstr_size);

/* snprintf into errstr, safe with errstr == NULL or size 0; returns `code`. */
int hd_seterr(int code, char *errstr, size_t errstr_size, const char *fmt, ...) HD_PRINTF(4, 5);

#endif
