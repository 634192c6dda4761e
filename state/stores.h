/*
 * A task's state stores: one state/store per (store name, input partition),
 * under <HERALD_STATE_DIR>/<app>/<instance>/<store>-<partition>, each backed by the
 * compacted changelog topic "<app>-<store>-changelog" (same partition
 * number), where <app> is the task's application id ("herald-pipeline"), as
 * in Kafka Streams.
 *
 * The runtime drives it: assign (open + restore from the applied changelog
 * offset to the end, before any record of that partition is processed),
 * revoke (close), and per transaction: staged writes are produced to the
 * changelog inside the Kafka transaction as they happen; after the Kafka
 * commit, commit writes each store's batch with the changelog offset it
 * reached; after an abort, abort drops the staged writes. A kill -9 anywhere
 * leaves RocksDB at or behind the changelog, and restore catches it up.
 */
#ifndef HD_STORES_H
#define HD_STORES_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "connectors/kafka.h"
#include "core/config.h"
#include "state/store.h"

struct hd_storeset;

/* Opens (creating) the store <HERALD_STATE_DIR>/<app>/<instance>/<name>; a corrupt one is
 * wiped and opened empty (the caller then restores all of it); one another process holds
 * is an error. Returns NULL with errstr. */
struct hd_store *hd_state_open(const struct hd_config *c, const char *app, const char *name,
                               char *errstr, size_t errstr_size);
/* The same, wiping what is there first (the store must be closed). */
struct hd_store *hd_state_open_empty(const struct hd_config *c, const char *app,
                                     const char *name, char *errstr, size_t errstr_size);

/* `names` NULL-terminated, copied. `producer` points at the task's transactional producer
 * handle, read at each write (the task may replace the producer). Returns NULL with errstr. */
struct hd_storeset *hd_storeset_new(const struct hd_config *c, const char *app,
                                    const char *const *names, rd_kafka_t **producer,
                                    char *errstr, size_t errstr_size);
void hd_storeset_destroy(struct hd_storeset *ss);

/* Adds a table store: one per partition like the others, named after `topic` (a topic of the
 * catalogue, written by others and partitioned like the task's input), restored from the
 * topic itself on assign and kept up with it by hd_storeset_follow. Processors read it and
 * never write it. Call before any assign. Returns 0, or -1 with errstr. */
int hd_storeset_add_table(struct hd_storeset *ss, const char *topic, char *errstr,
                          size_t errstr_size);
/* Applies what the table topics got since (up to max records, without waiting): a change
 * written there is seen by the next transaction that follows. Returns the count applied, or
 * -1 with errstr (the next call starts again from what was flushed). */
int hd_storeset_follow(struct hd_storeset *ss, size_t max, char *errstr, size_t errstr_size);

/* The changelog topics (compacted), to create before use. Returns the count; specs and
 * their names stay valid until hd_storeset_destroy. */
size_t hd_storeset_changelogs(struct hd_storeset *ss, const struct hd_topic_spec **specs);

/* Opens and restores every store for `partition` (no-op when open). Returns 0 or -1. */
int hd_storeset_assign(struct hd_storeset *ss, int32_t partition, char *errstr,
                       size_t errstr_size);
/* Closes every store of `partition` (staged writes are dropped). */
void hd_storeset_revoke(struct hd_storeset *ss, int32_t partition);
/* The open store `name` for `partition`, or NULL. */
struct hd_store *hd_storeset_get(struct hd_storeset *ss, const char *name, int32_t partition);

/* The changelog topic of store `name`, or NULL when the set has no such store. */
const char *hd_storeset_changelog(const struct hd_storeset *ss, const char *name);

/* One past the highest partition number ever assigned (hd_storeset_get tells which of
 * 0..limit-1 are open now). */
int32_t hd_storeset_partition_limit(const struct hd_storeset *ss);

/* Stages expiry tombstones in every open store (bounded). Inside a transaction. */
int hd_storeset_expire(struct hd_storeset *ss, int64_t now_ms, char *errstr, size_t errstr_size);
/* After the Kafka transaction committed: waits for the changelog deliveries and commits
 * each store with its next changelog offset. -1 means RocksDB failed after Kafka
 * committed: the caller must stop (a restart restores from the changelog). */
int hd_storeset_commit(struct hd_storeset *ss, char *errstr, size_t errstr_size);
/* After an abort: drops staged writes and pending deliveries. */
void hd_storeset_abort(struct hd_storeset *ss);
/* Did the last writes fail to reach the producer? (then the transaction must abort) */
int hd_storeset_failed(const struct hd_storeset *ss);

/* Test only: how many times HERALD_TEST_CRASHPOINT=<point>[:N] asks to reach `point`
 * before the process kills itself (N, default 1), or 0 when it names another point or
 * is unset. Reads the environment; call once, at construction. */
long hd__crashpoint_arm(const char *point);

#endif
