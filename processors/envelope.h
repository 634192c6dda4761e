/*
 * The record envelope a processor sees: where a record came from and its bytes, in
 * Herald's types only, so a processor can be driven (and unit-tested) without a Kafka
 * handle. The runtime fills one per consumed record; tests build their own.
 *
 * Ownership: everything an envelope points to is borrowed from whoever filled it (for a
 * consumed record, the runtime, for the call of process or until the record completes
 * when it was deferred). Headers built with hd_headers_new are owned by their creator.
 * Thread safety: none needed; a task's records are processed on its thread.
 */
#ifndef HD_ENVELOPE_H
#define HD_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

/* A record's headers, in order, names may repeat. Opaque. */
struct hd_headers;

/* Number of headers; 0 for NULL. */
size_t hd_headers_count(const struct hd_headers *h);
/* The i-th header: 0, or -1 when i is out of range. *value is NULL for a null value. */
int hd_headers_get(const struct hd_headers *h, size_t i, const char **name, const void **value,
                   size_t *len);
/* The last header called name: 0, or -1 when there is none. */
int hd_headers_last(const struct hd_headers *h, const char *name, const void **value,
                    size_t *len);
/* New empty headers (room for about cap); the value is copied by hd_headers_add (NULL: a
 * null value). hd_headers_copy(NULL) is an empty set. */
struct hd_headers *hd_headers_new(size_t cap);
void hd_headers_add(struct hd_headers *h, const char *name, const void *value, size_t len);
struct hd_headers *hd_headers_copy(const struct hd_headers *h);
void hd_headers_destroy(struct hd_headers *h); /* NULL is fine */

struct hd_envelope {
    const char *topic;
    int32_t partition;
    int64_t offset;        /* -1 when the bytes do not come from a log position */
    const void *key;       /* may be NULL */
    size_t key_len;
    const void *value;     /* may be NULL (a tombstone) */
    size_t value_len;
    int64_t timestamp_ms;  /* the record's timestamp, -1 when unknown */
    const struct hd_headers *headers; /* may be NULL */
};

#endif
