/*
 * Internals of the task loop, shared by its files and by nothing else:
 *   runtime.c         the task's lifecycle, its poll (one transaction) and maintenance
 *   runtime_txn.c     consuming, the rebalance callback, commit, abort, rewind
 *   runtime_record.c  decoding a record and running it through its chain
 *   runtime_ctx.c     what processors call (hd_ctx_*): outputs, headers, dead letters
 * One task per thread; the rebalance callback runs on that thread, inside the consume
 * call, never while a transaction is open.
 */
#ifndef HD_RUNTIME_INT_H
#define HD_RUNTIME_INT_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "core/buf.h"
#include "processors/processor.h"
#include "processors/runtime.h"
#include "processors/topology.h"

#define HD_TASK_RETRIES 3
/* Call timeouts of transactional operations: the transaction timeout, past which the broker
 * aborts the transaction anyway */
#define HD_TXN_TIMEOUT_MS (t->cfg->txn_timeout_ms)
#define HD_MAINT_MS 250

struct hd_ctx {
    struct hd_task *task;
    struct hd_record *rec;
    const rd_kafka_message_t *msg; /* the consumed message behind rec; NULL when forwarded */
    const struct hd_envelope *src; /* rec's source: consumed, or given to hd_ctx_forward */
    int32_t partition; /* of the record being processed, or the one punctuated */
    size_t sub, proc;  /* the processor being punctuated (for hd_ctx_forward) */
    char code[64];
    struct hd_buf reason;
    struct hd_buf enc;
    int emit_failed;
};

/* A consumed record whose processor completes it later in the transaction (PENDING). */
struct hd_pending {
    const rd_kafka_message_t *m; /* in the task's batch: valid until the batch is cleared */
    struct hd_envelope src;
    char trace_id[33];
    size_t sub, proc; /* the processor that deferred it */
    int done;
};

struct hd_task {
    const struct hd_config *cfg;
    const struct hd_tables *tables; /* a set or a live holder */
    const struct hd_tables *snap;   /* the snapshot this transaction uses */
    char *group_id;
    char *txn_id;
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    rd_kafka_queue_t *queue;
    const struct hd_subtopology *subs[HD_TASK_SUBS_MAX];
    void *selves[HD_TASK_SUBS_MAX][HD_CHAIN_MAX];
    struct hd_conf *confs[HD_TASK_SUBS_MAX][HD_CHAIN_MAX]; /* each processor's settings */
    size_t sub_cnt;
    struct hd_serde *serde;
    struct hd_ctx ctx;
    struct hd_record rec;
    rd_kafka_message_t **batch;
    size_t batch_cnt;           /* records in batch (the rebalance callback may drop some) */
    struct hd_ledger *ledger;   /* consumed positions: what a commit may pass */
    struct hd_pending *pending; /* pending_cap slots: records completed later (PENDING) */
    size_t pending_cap;         /* batch_max for a task */
    size_t pending_cnt;         /* slots taken in the open transaction */
    size_t pending_open;        /* of them not completed yet */
    struct hd_record pending_rec; /* the current record while a processor completes one */
    int64_t now;
    int64_t last_report_us;
    int failures; /* consecutive failed batches: backoff before the next */
    struct hd_storeset *stores; /* NULL when no processor keeps state */
    int64_t last_maint_ms;      /* expiry and punctuate, every HD_MAINT_MS */
    int punctuates;             /* does a processor have punctuate? */
    long crash_before, crash_after; /* test-only crash points (below): 0 never, else N */
    long crash_seen[2];             /* times each was reached */
    int fatal;                  /* a store could not be restored on assignment */
    char fatal_err[512];
    struct hd_task_stats stats;
    struct hd_probe *probe; /* a probe's task (probe.h): outputs are captured, not produced */
};

/* runtime_ctx.c */
int hd__ctx_produce(struct hd_ctx *ctx, const char *topic, const void *key, size_t key_len,
                    const void *value, size_t value_len, rd_kafka_headers_t *hdrs);
int hd__ctx_encode_failed(struct hd_ctx *ctx, const char *what, const char *err);
/* Dead-letters the source's bytes with its headers (s->headers). */
int hd__emit_dead_letter(struct hd_task *t, const struct hd_envelope *s,
                         const char *code, const char *error, const char *processor);
void hd__emit_skips(struct hd_task *t, struct hd_record *rec);

/* runtime_record.c: decodes m and runs it through its sub-topology's chain; every outcome
 * (outputs, skip, dead letter) goes into the open transaction. Returns 1 when the record
 * has its outcome, 0 when a processor completes it later (PENDING). */
int hd__process_one(struct hd_task *t, const rd_kafka_message_t *m);
/* Decodes an envelope's value into rec as `kind` (rec->src = m, the trace from its
 * headers). Returns 0, or -1 with errstr. hd__record_reset clears what it decoded. */
int hd__record_decode(struct hd_serde *sd, enum hd_payload_kind kind,
                      const struct hd_envelope *m, struct hd_record *rec, char *errstr,
                      size_t errstr_size);
void hd__record_reset(struct hd_record *rec);

/* runtime_txn.c */
void hd__task_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t *parts, void *opaque);
size_t hd__task_store_names(const struct hd_task *t, const char **names, size_t max);
void hd__crashpoint_reach(struct hd_task *t, long nth, long *seen, const char *point);
int hd__task_consume(struct hd_task *t);
void hd__batch_clear(struct hd_task *t);
int hd__task_recover(struct hd_task *t, rd_kafka_error_t *error, const char *what, char *errstr,
                     size_t errstr_size);
int hd__task_rewind(struct hd_task *t, int unknown_outcome, char *errstr, size_t errstr_size);
int hd__task_commit(struct hd_task *t, char *errstr, size_t errstr_size);
int hd__task_commit_alos(struct hd_task *t, long failures_before, char *errstr,
                         size_t errstr_size);

/* probe.c: keeps an output of a probe's task (takes hdrs). */
void hd__probe_capture(struct hd_probe *pr, const char *topic, const void *key, size_t key_len,
                       const void *value, size_t value_len, rd_kafka_headers_t *hdrs);
/* probe.c: a deferred record of a probe's task completed with verdict v. */
void hd__probe_completed(struct hd_probe *pr, const struct hd_envelope *src, enum hd_verdict v);

/* runtime.c */
void hd__task_maintain(struct hd_task *t);
/* Lets each processor with pending records complete them; 0 when none is left, else -1
 * (logged: the transaction must abort) after telling those processors to abandon them. */
int hd__task_drain(struct hd_task *t);

#endif
