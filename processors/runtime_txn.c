/*
 * The task's side of Kafka: filling a batch, the rebalance callback, committing a
 * transaction with the offsets from the ledger, and the recovery paths (KIP-98/KIP-447:
 * abortable -> abort + rewind; fatal, fenced or unknown commit outcome -> a new producer
 * with the same transactional id, which fences the old epoch, + rewind). See "Consumed
 * positions" in docs/ARCHITECTURE.md for why the batch is filled one record at a time
 * and why offsets come from the ledger.
 */
#include "processors/runtime_int.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connectors/kafka.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/time.h"
#include "processors/ledger.h"
#include "state/stores.h"

/* ---- transactions ---- */

/* Does a sub-topology that consumes `topic` keep state? */
static int topic_has_state(const struct hd_task *t, const char *topic)
{
    for (size_t s = 0; s < t->sub_cnt; s++)
        if (hd_topology_for_topic(&t->subs[s], 1, topic))
            for (size_t i = 0; t->subs[s]->chain[i]; i++)
                if (t->subs[s]->chain[i]->stores)
                    return 1;
    return 0;
}

/* Cooperative rebalancing (KIP-429): only the partitions that move are assigned or
 * revoked; the rest keep being processed through the rebalance. Stores of newly assigned
 * partitions are opened and restored before the assignment takes effect, so no record is
 * processed against stale state; revoked partitions' stores are closed. No transaction
 * is open here: callbacks run in the consume call, between batches. */
void hd__task_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                              rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct hd_task *t = opaque;
    int coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    rd_kafka_error_t *e = NULL;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        hd_log_info("runtime", "%s: assigned %d partitions (%s)", t->group_id, parts->cnt,
                    coop ? "incremental" : "eager");
        for (int i = 0; t->stores && i < parts->cnt && !t->fatal; i++)
            if (topic_has_state(t, parts->elems[i].topic) &&
                hd_storeset_assign(t->stores, parts->elems[i].partition, t->fatal_err,
                                   sizeof(t->fatal_err)))
                t->fatal = 1;
        for (int i = 0; i < parts->cnt; i++)
            hd_ledger_assign(t->ledger, parts->elems[i].topic, parts->elems[i].partition);
        if (coop)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
    } else {
        int lost = rd_kafka_assignment_lost(rk);
        /* records of these partitions already in the batch being filled are not ours to
         * process or commit any more: their next owner reads them from the committed offset */
        size_t kept = 0, dropped = 0;
        for (size_t i = 0; i < t->batch_cnt; i++) {
            rd_kafka_message_t *m = t->batch[i];
            if (rd_kafka_topic_partition_list_find(parts, rd_kafka_topic_name(m->rkt),
                                                   m->partition)) {
                rd_kafka_message_destroy(m);
                dropped++;
            } else {
                t->batch[kept++] = m;
            }
        }
        t->batch_cnt = kept;
        for (int i = 0; i < parts->cnt; i++)
            hd_ledger_revoke(t->ledger, parts->elems[i].topic, parts->elems[i].partition);
        hd_log_info("runtime", "%s: revoked %d partitions%s (%zu fetched records of them "
                    "left unprocessed)", t->group_id, parts->cnt, lost ? " (lost)" : "",
                    dropped);
        /* a store belongs to the stateful input's partition, not to every topic's */
        for (int i = 0; t->stores && i < parts->cnt; i++)
            if (topic_has_state(t, parts->elems[i].topic))
                hd_storeset_revoke(t->stores, parts->elems[i].partition);
        if (coop)
            e = rd_kafka_incremental_unassign(rk, parts);
        else
            rd_kafka_assign(rk, NULL);
    }
    if (e) {
        hd_log_error("runtime", "%s: rebalance: %s", t->group_id, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
}

/* The union of the state stores the task's processors declare (NULL-terminated). */
size_t hd__task_store_names(const struct hd_task *t, const char **names, size_t max)
{
    size_t n = 0;
    for (size_t s = 0; s < t->sub_cnt; s++)
        for (size_t i = 0; t->subs[s]->chain[i]; i++)
            for (const char *const *st = t->subs[s]->chain[i]->stores; st && *st; st++) {
                size_t k = 0;
                while (k < n && strcmp(names[k], *st))
                    k++;
                if (k == n && n + 1 < max)
                    names[n++] = *st;
            }
    names[n] = NULL;
    return n;
}

/* Test-only crash points (tests/crash/run): with HERALD_TEST_CRASHPOINT=<point>[:N], read
 * once when the task is made, the N-th time (default the first) a transaction with state
 * writes reaches <point>, the process logs a marker line and SIGKILLs itself, so a crash
 * test can land a kill -9 exactly there. Points here: before_kafka_commit (outputs and
 * changelog records produced, offsets sent, commit_transaction not called) and
 * after_kafka_commit (committed in Kafka, not yet in RocksDB); stores.c has restore.
 * Unset (the default), each costs a compare per commit. Armed by hd__crashpoint_arm. */

/* Has the open transaction staged writes in any store? */
static int task_staged(struct hd_task *t)
{
    int32_t limit = t->stores ? hd_storeset_partition_limit(t->stores) : 0;
    const char *names[16];
    size_t n = hd__task_store_names(t, names, HD_ARRAY_SIZE(names));
    for (int32_t p = 0; p < limit; p++)
        for (size_t i = 0; i < n; i++) {
            struct hd_store *st = hd_storeset_get(t->stores, names[i], p);
            if (st && hd_store_staged(st))
                return 1;
        }
    return 0;
}

void hd__crashpoint_reach(struct hd_task *t, long nth, long *seen, const char *point)
{
    if (!nth || !task_staged(t) || ++*seen < nth)
        return;
    hd_log_error("test", "HERALD_TEST_CRASHPOINT %s reached: %s, transaction %ld with state "
                 "writes since start; SIGKILL", point, t->txn_id, *seen);
    raise(SIGKILL);
}

/* After a commit whose outcome is unknown (the producer was re-created, which completed
 * or aborted it), asks the broker where the batch's partitions stand. Retries until the
 * answer comes (an unstable offset waits for a transaction to end) or the budget is
 * spent: the task must not go on without knowing. */
static int task_positions_from_broker(struct hd_task *t, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *parts = hd_ledger_batch_partitions(t->ledger);
    int64_t give_up = hd_mono_us() + (60000LL + t->cfg->txn_timeout_ms) * 1000;
    int rc = 0;
    while (parts->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_committed(t->consumer, parts, HD_TXN_TIMEOUT_MS);
        for (int i = 0; !err && i < parts->cnt; i++)
            err = parts->elems[i].err;
        if (!err) {
            for (int i = 0; i < parts->cnt; i++)
                hd_ledger_set_position(t->ledger, parts->elems[i].topic,
                                       parts->elems[i].partition, parts->elems[i].offset);
            break;
        }
        if (hd_mono_us() > give_up) {
            rc = hd_seterr(-1, errstr, errstr_size, "committed offsets after an unknown "
                           "outcome: %s", rd_kafka_err2str(err));
            break;
        }
        hd_log_warn("runtime", "%s: committed offsets after an unknown outcome: %s; retrying",
                    t->group_id, rd_kafka_err2str(err));
        struct timespec ts = {0, 500 * 1000000L};
        nanosleep(&ts, NULL);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return rc;
}

/* Drops the open batch and seeks every partition the task has read since its assignment
 * back to its ledger position: the offset its last committed transaction left (asked of
 * the broker when `unknown_outcome`). Messages librdkafka fetched past it are discarded by
 * the seek's version bump. Partitions with nothing read since their assignment still
 * start from the committed offset. Returns 0, or -1 when the positions cannot be
 * restored: the task must then stop rather than go on from the wrong place. */
int hd__task_rewind(struct hd_task *t, int unknown_outcome, char *errstr, size_t errstr_size)
{
    if (unknown_outcome && task_positions_from_broker(t, errstr, errstr_size))
        return -1;
    hd_ledger_abort(t->ledger);
    rd_kafka_topic_partition_list_t *pos = hd_ledger_positions(t->ledger);
    int rc = 0;
    for (int attempt = 0; pos->cnt > 0; attempt++) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(t->consumer, pos, HD_TXN_TIMEOUT_MS);
        const char *why = e ? rd_kafka_error_string(e) : NULL;
        for (int i = 0; !why && i < pos->cnt; i++)
            if (pos->elems[i].err)
                why = rd_kafka_err2str(pos->elems[i].err);
        if (!why) {
            hd_log_debug("runtime", "%s: rewound %d partitions to their committed positions",
                         t->group_id, pos->cnt);
            rd_kafka_error_destroy(e);
            break;
        }
        if (attempt == 10) {
            rc = hd_seterr(-1, errstr, errstr_size, "seek to the committed positions: %s", why);
            rd_kafka_error_destroy(e);
            break;
        }
        hd_log_warn("runtime", "%s: seek to the committed positions: %s; retrying", t->group_id,
                    why);
        rd_kafka_error_destroy(e);
        for (int i = 0; i < pos->cnt; i++)
            pos->elems[i].err = RD_KAFKA_RESP_ERR_NO_ERROR;
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
    rd_kafka_topic_partition_list_destroy(pos);
    return rc;
}

static int task_reinit_producer(struct hd_task *t, char *errstr, size_t errstr_size)
{
    if (t->producer) {
        rd_kafka_purge(t->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_destroy(t->producer);
        t->producer = NULL;
    }
    t->stats.reinits++;
    for (int attempt = 0; attempt < 10; attempt++) {
        t->producer = hd_kafka_producer_new(t->cfg, t->cfg->at_least_once ? NULL : t->txn_id,
                                            errstr, errstr_size);
        if (t->producer)
            return 0;
        hd_log_warn("runtime", "re-creating producer %s: %s", t->txn_id, errstr);
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
    }
    return -1;
}

/* Recovers from a failed transaction. Returns 0 when the task can go on, -1 if not. */
int hd__task_recover(struct hd_task *t, rd_kafka_error_t *error, const char *what,
                        char *errstr, size_t errstr_size)
{
    int abortable = error && rd_kafka_error_txn_requires_abort(error);
    hd_log_warn("runtime", "%s failed (%s%s): %s", what,
                error && rd_kafka_error_is_fatal(error) ? "fatal" : abortable ? "abortable"
                                                                            : "unknown outcome",
                error && rd_kafka_error_is_retriable(error) ? ", retriable" : "",
                error ? rd_kafka_error_string(error) : "could not produce");
    t->stats.aborts++;
    if (abortable)
        t->stats.abortable++;
    else if (error && !rd_kafka_error_is_fatal(error))
        t->stats.unknown_outcomes++;
    /* a failure that persists (a missing topic, a broker down) must not spin */
    long backoff_ms = 100L << (t->failures < 6 ? t->failures : 6);
    t->failures++;
    struct timespec ts = {backoff_ms / 1000, (backoff_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    int reinit = !abortable;
    if (abortable) {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(t->producer, HD_TXN_TIMEOUT_MS);
        if (e) {
            hd_log_warn("runtime", "abort_transaction: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            reinit = 1;
        }
    }
    /* staged state goes with the aborted transaction; this also serves the changelog
     * records' delivery reports while the producer that owns them still exists */
    if (t->stores)
        hd_storeset_abort(t->stores);
    if (reinit && task_reinit_producer(t, errstr, errstr_size))
        return -1;
    /* after a re-created producer the last transaction may have committed or not (the new
     * producer's init settled it): the broker says where the batch's partitions stand */
    return hd__task_rewind(t, reinit, errstr, errstr_size);
}

/* The offsets the open batch may commit, from the ledger: NULL (logged, and the batch is
 * aborted) when a partition's records in and verdicts out differ. */
static rd_kafka_topic_partition_list_t *task_offsets(struct hd_task *t)
{
    char err[512];
    rd_kafka_topic_partition_list_t *offsets = hd_ledger_offsets(t->ledger, err, sizeof(err));
    if (!offsets) {
        t->stats.invariant_aborts++;
        hd_log_error("runtime", "%s: aborting the transaction: %s", t->group_id, err);
    }
    return offsets;
}

int hd__task_commit(struct hd_task *t, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *offsets = task_offsets(t);
    if (!offsets) {
        int rc = hd__task_recover(t, NULL, "offsets check", errstr, errstr_size);
        return rc ? -1 : 1;
    }
    rd_kafka_error_t *e = NULL;
    const char *what = "send_offsets_to_transaction";
    int inputs = offsets->cnt > 0;
    if (inputs) {
        rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(t->consumer);
        e = rd_kafka_send_offsets_to_transaction(t->producer, offsets, cgmd, HD_TXN_TIMEOUT_MS);
        rd_kafka_consumer_group_metadata_destroy(cgmd);
    }
    rd_kafka_topic_partition_list_destroy(offsets);
    if (!e) {
        if (inputs)
            hd__crashpoint_reach(t, t->crash_before, &t->crash_seen[0], "before_kafka_commit");
        what = "commit_transaction";
        e = rd_kafka_commit_transaction(t->producer, HD_TXN_TIMEOUT_MS);
    }
    if (!e) {
        hd_ledger_commit(t->ledger);
        return 0;
    }
    int rc = hd__task_recover(t, e, what, errstr, errstr_size);
    rd_kafka_error_destroy(e);
    return rc ? -1 : 1;
}

/* At-least-once: wait until every output is acknowledged, then commit the consumed
 * offsets (a kill in between re-processes the batch: duplicates, never loss). Returns 0,
 * 1 after a rewind, -1 when the task cannot go on. */
int hd__task_commit_alos(struct hd_task *t, long failures_before, char *errstr,
                            size_t errstr_size)
{
    int flushed = rd_kafka_flush(t->producer, t->cfg->txn_timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_t *offsets = NULL;
    if (!flushed || hd_kafka_untracked_failures() != failures_before ||
        (t->stores && hd_storeset_failed(t->stores)) || !(offsets = task_offsets(t))) {
        hd_log_warn("runtime", "%s: outputs not acknowledged; re-processing the batch",
                    t->group_id);
        t->stats.aborts++;
        if (t->stores)
            hd_storeset_abort(t->stores);
        return hd__task_rewind(t, 0, errstr, errstr_size) ? -1 : 1;
    }
    rd_kafka_resp_err_t err =
        offsets->cnt ? rd_kafka_commit(t->consumer, offsets, 0) : RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_destroy(offsets);
    if (err) /* outputs are out: the batch comes again after a rebalance, as duplicates */
        hd_log_warn("runtime", "%s: offset commit: %s", t->group_id, rd_kafka_err2str(err));
    hd_ledger_commit(t->ledger);
    return 0;
}

/* Drops the batch's messages (processed or not). */
void hd__batch_clear(struct hd_task *t)
{
    for (size_t i = 0; i < t->batch_cnt; i++)
        rd_kafka_message_destroy(t->batch[i]);
    t->batch_cnt = 0;
}

/* Fills t->batch with up to HERALD_BATCH_MAX records, waiting up to HERALD_BATCH_WAIT_MS,
 * one rd_kafka_consume_queue() call per record. Not rd_kafka_consume_batch_queue(): in
 * librdkafka 2.0 it advances a partition's application position for each message it
 * collects, and when a pause (librdkafka pauses every assigned partition when a
 * cooperative rebalance starts) or a seek lands in the same call, it drops the messages
 * collected before, while the resume fetches from the advanced position: those records
 * were never seen, and the next commit passed them (issue 10; docs/ARCHITECTURE.md). A
 * single-message consume never hands over a message it later drops. Records of partitions
 * the task does not own are dropped here (their new owner reads them from the committed
 * offset); the rebalance callback drops those already in the batch. Returns 0, or -1 when
 * the ledger refuses a record (the batch is then dropped and every partition rewound). */
int hd__task_consume(struct hd_task *t)
{
    int64_t deadline = hd_mono_us() + (int64_t)t->cfg->batch_wait_ms * 1000;
    int bad = 0;
    while (t->batch_cnt < (size_t)t->cfg->batch_max) {
        int64_t left_us = deadline - hd_mono_us();
        rd_kafka_message_t *m =
            rd_kafka_consume_queue(t->queue, left_us > 0 ? (int)((left_us + 999) / 1000) : 0);
        if (!m)
            break;
        char err[512];
        if (m->err) {
            hd_log_warn("runtime", "%s: consume: %s", t->group_id, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
        } else if (!hd_ledger_assigned(t->ledger, rd_kafka_topic_name(m->rkt), m->partition)) {
            hd_log_debug("runtime", "%s: dropped %s[%d]@%lld: partition not assigned",
                         t->group_id, rd_kafka_topic_name(m->rkt), (int)m->partition,
                         (long long)m->offset);
            rd_kafka_message_destroy(m);
        } else if (hd_ledger_receive(t->ledger, m, err, sizeof(err))) {
            hd_log_error("runtime", "%s: dropping the batch and rewinding: %s", t->group_id,
                         err);
            rd_kafka_message_destroy(m);
            bad = 1;
            break;
        } else {
            t->batch[t->batch_cnt++] = m;
        }
        if (left_us <= 0)
            break;
    }
    return bad ? -1 : 0;
}

