/*
 * A key-value state store for one processor store on one input partition:
 * one RocksDB instance under a directory the caller names
 * (<HERALD_STATE_DIR>/<app>/<instance>/<store>-<partition>, see state/stores.c). A
 * processor uses it without knowing about Kafka.
 *
 * Exactly-once rules (DESIGN.md "State and exactly-once", KIP-892):
 *  - put/delete are STAGED in a write batch with index; get and iteration see
 *    staged writes over the committed data. Nothing reaches RocksDB until
 *    hd_store_commit, which writes the staged batch and the changelog offset it
 *    corresponds to in ONE atomic RocksDB write.
 *  - every staged write is reported to the change callback (key, value as it
 *    must appear in the changelog, or value NULL for a tombstone) so the caller
 *    produces it to the store's changelog inside its Kafka transaction.
 *  - hd_store_abort drops the staged writes (the Kafka transaction aborted).
 *  - restore applies changelog records verbatim (hd_store_restore_put), flushed
 *    with the next changelog offset (hd_store_restore_flush).
 *
 * Values carry an optional expiry (epoch ms). An expired entry is absent to
 * get and iteration; hd_store_expire stages deletes for expired entries, so the
 * changelog gets tombstones and a restored store never resurrects them. The
 * changelog value of an entry is its stored form (expiry header + payload), so
 * a restored entry keeps its expiry.
 *
 * Not thread-safe: a store belongs to the task that owns its partition.
 */
#ifndef HD_STORE_H
#define HD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct hd_store;
struct hd_store_iter;

/* Called for every staged write: value NULL (value_len 0) is a tombstone. The bytes are
 * valid during the call only. */
typedef void(hd_store_change_cb)(void *opaque, struct hd_store *s, const void *key,
                                 size_t key_len, const void *value, size_t value_len);

/* Opens (creating if missing) the store at `path`. A directory that RocksDB cannot open
 * (corrupt, wrong format) is an error: the caller wipes it (hd_store_wipe) and restores
 * the whole changelog. Returns NULL with errstr. */
struct hd_store *hd_store_open(const char *path, char *errstr, size_t errstr_size);
/* Closes; staged writes are dropped. Accepts NULL. */
void hd_store_close(struct hd_store *s);
/* Removes a store's directory and files (the store must be closed). Returns 0 or -1. */
int hd_store_wipe(const char *path, char *errstr, size_t errstr_size);

void hd_store_set_change_cb(struct hd_store *s, hd_store_change_cb *cb, void *opaque);

/* Reads key as of staged + committed state at time now_ms. Returns 1 and fills out (reset
 * first) when present and not expired, 0 when absent, -1 with errstr on error. */
int hd_store_get(struct hd_store *s, const void *key, size_t key_len, int64_t now_ms,
                 struct hd_buf *out, char *errstr, size_t errstr_size);
/* Stages key = value with an expiry (0 = never). Returns 0 or -1. */
int hd_store_put(struct hd_store *s, const void *key, size_t key_len, const void *value,
                 size_t value_len, int64_t expires_at_ms, char *errstr, size_t errstr_size);
/* Stages a delete. Returns 0 or -1. */
int hd_store_delete(struct hd_store *s, const void *key, size_t key_len, char *errstr,
                    size_t errstr_size);

/* Iterators over staged + committed entries in key order, skipping deleted and expired
 * ones (as of now_ms). Prefix: every key starting with prefix. Range: from <= key < to
 * (to NULL = to the end). Returns NULL with errstr. Valid until the next write to s. */
struct hd_store_iter *hd_store_iter_prefix(struct hd_store *s, const void *prefix,
                                           size_t prefix_len, int64_t now_ms, char *errstr,
                                           size_t errstr_size);
struct hd_store_iter *hd_store_iter_range(struct hd_store *s, const void *from, size_t from_len,
                                          const void *to, size_t to_len, int64_t now_ms,
                                          char *errstr, size_t errstr_size);
/* Next entry: 1 with key/value pointers valid until the next call, 0 at the end, -1 on error. */
int hd_store_iter_next(struct hd_store_iter *it, const void **key, size_t *key_len,
                       const void **value, size_t *value_len);
void hd_store_iter_destroy(struct hd_store_iter *it);

/* Stages deletes for up to `max` entries whose expiry is <= now_ms (reported as tombstones
 * to the change callback). Uses an index by expiry, not a full scan. Returns the count, or
 * -1 with errstr. */
int hd_store_expire(struct hd_store *s, int64_t now_ms, size_t max, char *errstr,
                    size_t errstr_size);

/* Writes the staged batch and `changelog_next_offset` atomically; the stage is empty after.
 * Returns 0 or -1 (then nothing was written and the stage is kept). */
int hd_store_commit(struct hd_store *s, int64_t changelog_next_offset, char *errstr,
                    size_t errstr_size);
/* Drops the staged writes. */
void hd_store_abort(struct hd_store *s);
/* Number of staged writes. */
size_t hd_store_staged(const struct hd_store *s);
/* The changelog offset to restore from: the last committed or flushed
 * changelog_next_offset, or -1 when the store has none (restore the whole changelog). */
int64_t hd_store_applied_offset(const struct hd_store *s);

/* Restore: apply one changelog record verbatim (value in stored form; NULL = delete),
 * without staging or callbacks; writes are batched internally. */
int hd_store_restore_put(struct hd_store *s, const void *key, size_t key_len, const void *value,
                         size_t value_len, char *errstr, size_t errstr_size);
/* Writes the restored batch and the next changelog offset atomically. Returns 0 or -1. */
int hd_store_restore_flush(struct hd_store *s, int64_t changelog_next_offset, char *errstr,
                           size_t errstr_size);

/* 1 when the store has had no key since it was opened empty: every read would find nothing,
 * so a reader may skip it (a table store that is rarely written, read per record). 0 once
 * any key was there, even if deleted since. */
int hd_store_never_held(const struct hd_store *s);

/* Number of live (not deleted) keys in committed state, approximately (RocksDB estimate);
 * for metrics and benchmarks. */
uint64_t hd_store_estimate_keys(struct hd_store *s);

#endif
