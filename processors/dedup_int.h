/*
 * dedup's decision, apart from the processor context, so tests can drive it
 * with a store of their own (tests/unit/dedup.c). Private to dedup.c, its
 * tests and `herald bench state` (which fills stores with dedup's values):
 * nothing else in the engine calls these.
 */
#ifndef HD_DEDUP_INT_H
#define HD_DEDUP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "schemas/records.h"
#include "schemas/serde.h"
#include "state/store.h"
#include "tables/tables.h"

/* The window for channel ch: the tenant's dedup_ttl_ms for it when set (tn may be NULL),
 * else window[ch], the process's setting (dedup.window_ms.<channel>), else (window NULL)
 * the built-in EMAIL 24 h, PUSH 1 h, IN_APP 7 d, any other channel 24 h. */
int64_t hd__dedup_ttl_ms(const struct hd_tenant *tn, const int64_t *window, enum hd_channel ch);

/* The store key of request r on channel ch, written to key (reset first): tenant, the
 * idempotency key when r has one, else a SHA-256 of user, channel, template, content and
 * variables, and the channel. */
void hd__dedup_key(const struct hd_request *r, enum hd_channel ch, struct hd_buf *key);

/* Has channel ch of r been seen in st inside its window, as of now_ms? 1: a duplicate,
 * `first` holds the first notification id and `first_request` its request id (both
 * NUL-terminated; the request "" for a value from before DedupEntry); 0: new, and a
 * DedupEntry for r's notification on ch is staged with the channel's window; -1 with
 * errstr (a store failure, or a value that is neither a DedupEntry nor a bare id).
 * key, first and first_request are the caller's buffers; sd encodes and decodes. */
int hd__dedup_seen(struct hd_store *st, struct hd_serde *sd, const struct hd_tenant *tn,
                   const int64_t *window, const struct hd_request *r, enum hd_channel ch,
                   int64_t now_ms,
                   struct hd_buf *key, struct hd_buf *first, struct hd_buf *first_request,
                   char *errstr, size_t errstr_size);

/* Stages the DedupEntry of notification nid (of request request_id, first seen at now_ms)
 * under key, expiring at expires_ms. Returns 0 or -1 with errstr. */
int hd__dedup_put(struct hd_store *st, struct hd_serde *sd, const void *key, size_t key_len,
                  const char *nid, const char *request_id, int64_t now_ms, int64_t expires_ms,
                  char *errstr, size_t errstr_size);

/* The SKIPPED status's reason for a duplicate of notification `first`, carried by
 * request `first_request` (NULL or "" when unknown). */
void hd__dedup_reason(char *out, size_t out_size, const char *first, const char *first_request);

#endif
