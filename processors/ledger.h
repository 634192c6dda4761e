/*
 * The task's ledger of consumed positions: per assigned input partition, the
 * next offset the task must process (the position its last committed
 * transaction left, as far as the task knows it) and, for the open batch, how
 * many records came in and how many got a verdict. The task commits offsets
 * only from here, never from librdkafka's fetch or application positions, so a
 * committed offset cannot pass a record the task did not finish; after an abort
 * it seeks every partition back to the ledger's position.
 *
 * Why a ledger and not rd_kafka_position(): see "Consumed positions" in
 * docs/ARCHITECTURE.md (librdkafka 2.0's batch consume advanced the application
 * position past records it then dropped).
 *
 * Not thread-safe: one task thread (and the rebalance callback, which runs on
 * it inside the consume call) uses it.
 */
#ifndef HD_LEDGER_H
#define HD_LEDGER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

struct hd_ledger;

struct hd_ledger *hd_ledger_new(void);
/* Accepts NULL. */
void hd_ledger_destroy(struct hd_ledger *l);

/* The partition joins the task's assignment: its position is unknown until its first
 * record arrives (librdkafka starts it at the committed offset). */
void hd_ledger_assign(struct hd_ledger *l, const char *topic, int32_t partition);
/* The partition leaves the assignment (revoked or lost): forgotten with its batch counts. */
void hd_ledger_revoke(struct hd_ledger *l, const char *topic, int32_t partition);
/* Is the partition in the task's assignment? */
int hd_ledger_assigned(const struct hd_ledger *l, const char *topic, int32_t partition);

/* A record arrived for the open batch. Returns 0, or -1 with errstr when it must not be
 * processed: its partition is not assigned, it is not after the previous record of its
 * partition in this batch, or it is below the partition's position (a record the task
 * already committed). */
int hd_ledger_receive(struct hd_ledger *l, const rd_kafka_message_t *m, char *errstr,
                      size_t errstr_size);
/* The record got its verdict (outputs, skip or dead letter) in the open transaction. */
void hd_ledger_verdict(struct hd_ledger *l, const rd_kafka_message_t *m);

/* The offsets to commit with the open batch: for each partition that received records,
 * the last one's offset + 1. Fails (NULL, errstr naming the partition and its counts)
 * when a partition's records in and verdicts out differ: committing would pass a record
 * without an outcome. Returns a new list (possibly empty); the caller destroys it. */
rd_kafka_topic_partition_list_t *hd_ledger_offsets(const struct hd_ledger *l, char *errstr,
                                                   size_t errstr_size);
/* The open batch committed: each partition's position moves past its last record. */
void hd_ledger_commit(struct hd_ledger *l);
/* The open batch was aborted: its counts are dropped; positions stay. */
void hd_ledger_abort(struct hd_ledger *l);
/* The partitions of the open batch (before hd_ledger_abort), with no offsets: those
 * whose position is unknown after a commit whose outcome is unknown. New list. */
rd_kafka_topic_partition_list_t *hd_ledger_batch_partitions(const struct hd_ledger *l);
/* Sets a partition's position (from the broker's committed offsets after an unknown
 * outcome). An offset < 0 (nothing committed) keeps the first offset received. */
void hd_ledger_set_position(struct hd_ledger *l, const char *topic, int32_t partition,
                            int64_t offset);
/* The positions to seek to after an abort: every assigned partition whose position is
 * known (a record of it arrived since it was assigned). New list; caller destroys. */
rd_kafka_topic_partition_list_t *hd_ledger_positions(const struct hd_ledger *l);
/* Records received in the open batch (all partitions). */
uint64_t hd_ledger_batch_records(const struct hd_ledger *l);

#endif
