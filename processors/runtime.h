/*
 * The task loop: one read_committed consumer and one transactional producer
 * running a set of sub-topologies. Per poll batch: begin a transaction,
 * decode and run each record through its chain, produce the outputs, send
 * the consumed offsets to the transaction, commit. An abortable error aborts
 * and rewinds to the committed offsets; a fatal error, a fenced producer or
 * a commit whose outcome is unknown re-creates the producer (which fences
 * the old transaction) and rewinds. So each consumed record's outputs appear
 * exactly once to read_committed readers.
 * One task per thread.
 */
#ifndef HD_RUNTIME_H
#define HD_RUNTIME_H

#include <signal.h>
#include <stdint.h>

#include "processors/topology.h"

/* Sub-topologies one task may run */
#define HD_TASK_SUBS_MAX 8

struct hd_task;
struct hd_tables;

struct hd_task_stats {
    uint64_t records;   /* records processed in committed transactions */
    uint64_t commits;
    uint64_t aborts;
    uint64_t reinits;   /* producer re-creations */
    uint64_t abortable; /* failed transactions librdkafka called abortable (aborted) */
    uint64_t unknown_outcomes; /* transaction calls that failed neither abortable nor fatal,
                                * so the outcome is unknown (commit, offsets, begin):
                                * settled by re-creating the producer */
    uint64_t invariant_aborts; /* batches dropped because the ledger refused a record or a
                                * partition's records in and verdicts out differed */
    uint64_t dead_letters;
    uint64_t skipped;
};

/* `subs` names the sub-topologies to run (NULL-terminated). The consumer group is
 * "<app_id>-<group>" and the transactional id "<app_id>-<group>-<instance_id>".
 * `tables` is borrowed and must outlive the task. Returns NULL with errstr. */
struct hd_task *hd_task_new(const struct hd_config *c, const struct hd_tables *tables,
                            const char *group, const char *const *subs, char *errstr,
                            size_t errstr_size);
/* Runs one poll batch (waiting up to the configured batch wait). Returns the number of
 * records committed, 0 when idle or after an abort, -1 on an unrecoverable error. */
int hd_task_poll(struct hd_task *t, char *errstr, size_t errstr_size);
/* Loops until *stop. Returns 0, or -1 with errstr. */
int hd_task_run(struct hd_task *t, volatile sig_atomic_t *stop, char *errstr, size_t errstr_size);
void hd_task_stats(const struct hd_task *t, struct hd_task_stats *out);
/* Leaves the group cleanly (aborting an open transaction) and frees. Accepts NULL. */
void hd_task_destroy(struct hd_task *t);

#endif
