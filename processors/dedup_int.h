/*
 * dedup's decision, apart from the processor context, so tests can drive it
 * with a store of their own (tests/unit/dedup.c). Private to dedup.c and its
 * tests: nothing else in the engine calls these.
 */
#ifndef HD_DEDUP_INT_H
#define HD_DEDUP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "processors/tables.h"
#include "schemas/records.h"
#include "state/store.h"

/* The window for channel ch: the tenant's dedup_ttl_ms for it when set (tn may be NULL),
 * else EMAIL 24 h, PUSH 1 h, IN_APP 7 d, any other channel 24 h. */
int64_t hd__dedup_ttl_ms(const struct hd_tenant *tn, enum hd_channel ch);

/* The store key of request r on channel ch, written to key (reset first): tenant, the
 * idempotency key when r has one, else a SHA-256 of user, channel, template, content and
 * variables, and the channel. */
void hd__dedup_key(const struct hd_request *r, enum hd_channel ch, struct hd_buf *key);

/* Has channel ch of r been seen in st inside its window, as of now_ms? 1: a duplicate,
 * val holds the first notification id (NUL-terminated); 0: new, and r's notification
 * id for ch is staged with the channel's window; -1 with errstr. key and val are the
 * caller's scratch buffers. */
int hd__dedup_seen(struct hd_store *st, const struct hd_tenant *tn, const struct hd_request *r,
                   enum hd_channel ch, int64_t now_ms, struct hd_buf *key, struct hd_buf *val,
                   char *errstr, size_t errstr_size);

/* The SKIPPED status's reason for a duplicate of notification `first`. */
void hd__dedup_reason(char *out, size_t out_size, const char *first);

#endif
