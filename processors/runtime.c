/*
 * The task loop (see runtime.h): consume a batch, run each record through
 * its sub-topology's chain inside one Kafka transaction, commit outputs and
 * consumed offsets together. This file has the task's lifecycle, its poll
 * (one transaction) and the maintenance (expiry, punctuate) that runs every
 * 250 ms; runtime_int.h says where the rest lives.
 */
#include "processors/runtime_int.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connectors/kafka.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/time.h"
#include "core/uuid.h"
#include "processors/ledger.h"
#include "state/stores.h"
#include "tables/tables.h"

/* Punctuates every processor that has a punctuate, once per partition whose stores the
 * task has open (processors without stores: once, with no partition). */
static void task_punctuate(struct hd_task *t)
{
    int32_t limit = t->stores ? hd_storeset_partition_limit(t->stores) : 0;
    for (size_t si = 0; si < t->sub_cnt; si++) {
        for (size_t i = 0; t->subs[si]->chain[i]; i++) {
            const struct hd_processor *p = t->subs[si]->chain[i];
            if (!p->punctuate)
                continue;
            t->ctx.sub = si;
            t->ctx.proc = i;
            for (int32_t part = p->stores ? 0 : -1; part < (p->stores ? limit : 0); part++) {
                if (part >= 0 && !hd_storeset_get(t->stores, p->stores[0], part))
                    continue;
                t->ctx.partition = part;
                p->punctuate(t->selves[si][i], &t->ctx, t->now);
                if (t->ctx.emit_failed)
                    break;
            }
            t->ctx.partition = -1;
        }
    }
}

/* Expiry tombstones and punctuation, inside the open transaction. */
void hd__task_maintain(struct hd_task *t)
{
    t->last_maint_ms = t->now;
    if (t->stores) {
        char e2[256];
        if (hd_storeset_expire(t->stores, t->now, e2, sizeof(e2)))
            hd_log_warn("state", "expiry: %s", e2);
    }
    if (t->punctuates && !t->ctx.emit_failed)
        task_punctuate(t);
}

/* Processors with records still pending (an aborted transaction) drop them. */
static void pending_reset(struct hd_task *t)
{
    for (size_t i = 0; t->pending_open && i < t->pending_cnt; i++) {
        struct hd_pending *p = &t->pending[i];
        if (p->done)
            continue;
        const struct hd_processor *proc = t->subs[p->sub]->chain[p->proc];
        proc->abandon(t->selves[p->sub][p->proc]);
        /* one call per processor: mark its other records too */
        for (size_t j = i; j < t->pending_cnt; j++)
            if (!t->pending[j].done && t->pending[j].sub == p->sub &&
                t->pending[j].proc == p->proc) {
                t->pending[j].done = 1;
                t->pending_open--;
            }
    }
    t->pending_cnt = t->pending_open = 0;
}

int hd__task_drain(struct hd_task *t)
{
    int64_t deadline = hd_mono_us() / 1000 + t->cfg->txn_timeout_ms / 2;
    for (size_t i = 0; t->pending_open && i < t->pending_cnt; i++) {
        struct hd_pending *p = &t->pending[i];
        if (p->done)
            continue;
        size_t si = p->sub, pi = p->proc;
        t->ctx.sub = si;
        t->ctx.proc = pi;
        t->subs[si]->chain[pi]->drain(t->selves[si][pi], &t->ctx, deadline);
        t->ctx.rec = NULL;
        t->ctx.partition = -1;
        if (t->ctx.emit_failed)
            return -1;
        if (!p->done)
            break; /* this processor left records pending: no use asking the others */
    }
    if (!t->pending_open)
        return 0;
    hd_log_error("runtime", "%s: %zu records still pending after their processors' drain; "
                 "aborting the transaction (they come again)", t->group_id, t->pending_open);
    return -1;
}

int hd_task_poll(struct hd_task *t, char *errstr, size_t errstr_size)
{
    int bad = hd__task_consume(t);
    rd_kafka_poll(t->producer, 0);
    if (t->fatal) {
        hd__batch_clear(t);
        return hd_seterr(-1, errstr, errstr_size, "%s", t->fatal_err);
    }
    if (bad) {
        t->stats.invariant_aborts++;
        hd__batch_clear(t);
        return hd__task_rewind(t, 0, errstr, errstr_size);
    }
    size_t n = t->batch_cnt;
    t->now = hd_now_ms();
    if (t->stores) {
        /* tables (preferences, suppressions, user updates) as of now: a change there is
         * seen by this batch's records */
        char e2[256];
        if (hd_storeset_follow(t->stores, 10000, e2, sizeof(e2)) < 0)
            hd_log_warn("state", "%s", e2);
    }
    /* stores or timers: a transaction runs every HD_MAINT_MS even with no input, so expiry
     * and due timers do not wait for traffic */
    int maint = (t->stores || t->punctuates) && t->now - t->last_maint_ms >= HD_MAINT_MS;
    if (n == 0 && !maint)
        return 0;
    /* config changes take effect between transactions, never within one */
    t->snap = hd_tables_acquire(t->tables);
    long failures_before = hd_kafka_untracked_failures();
    rd_kafka_error_t *e = t->cfg->at_least_once ? NULL : rd_kafka_begin_transaction(t->producer);
    int rc = 0, processed = 0;
    if (e) {
        rc = hd__task_recover(t, e, "begin_transaction", errstr, errstr_size) ? -1 : 0;
        rd_kafka_error_destroy(e);
        goto done;
    }
    t->ctx.emit_failed = 0;
    for (size_t i = 0; i < n && !t->ctx.emit_failed; i++) {
        if (hd__process_one(t, t->batch[i]))
            hd_ledger_verdict(t->ledger, t->batch[i]);
        processed++;
    }
    if (t->pending_open && !t->ctx.emit_failed && hd__task_drain(t))
        t->ctx.emit_failed = 1;
    if (maint && !t->ctx.emit_failed)
        hd__task_maintain(t);
    if (t->stores && hd_storeset_failed(t->stores))
        t->ctx.emit_failed = 1;
    if (t->ctx.emit_failed && t->cfg->at_least_once) {
        t->stats.aborts++;
        rd_kafka_flush(t->producer, t->cfg->txn_timeout_ms);
        if (t->stores)
            hd_storeset_abort(t->stores);
        rc = hd__task_rewind(t, 0, errstr, errstr_size);
        goto done;
    }
    if (t->ctx.emit_failed) {
        rc = hd__task_recover(t, NULL, "produce", errstr, errstr_size) ? -1 : 0;
        goto done;
    }
    rc = t->cfg->at_least_once ? hd__task_commit_alos(t, failures_before, errstr, errstr_size)
                               : hd__task_commit(t, errstr, errstr_size);
    if (rc == 0 && processed > 0 && !t->cfg->at_least_once)
        hd__crashpoint_reach(t, t->crash_after, &t->crash_seen[1], "after_kafka_commit");
    if (rc == 0 && t->stores && hd_storeset_commit(t->stores, errstr, errstr_size)) {
        /* Kafka committed but RocksDB did not: stop; a restart restores from the changelog */
        rc = -1;
        goto done;
    }
    if (rc == 0) {
        t->failures = 0;
        t->stats.commits++;
        t->stats.records += (uint64_t)processed;
        rc = processed;
    } else if (rc == 1) {
        rc = 0;
    }
done:
    pending_reset(t);
    hd__batch_clear(t);
    hd_tables_release(t->snap);
    t->snap = NULL;
    return rc;
}

int hd_task_run(struct hd_task *t, volatile sig_atomic_t *stop, char *errstr, size_t errstr_size)
{
    while (!*stop) {
        if (hd_task_poll(t, errstr, errstr_size) < 0)
            return -1;
        int64_t now = hd_mono_us();
        if (now - t->last_report_us > 10 * 1000000LL) {
            t->last_report_us = now;
            hd_log_info("runtime",
                        "%s: %llu records, %llu commits, %llu aborts (%llu unknown outcomes), "
                        "%llu dead letters",
                        t->group_id, (unsigned long long)t->stats.records,
                        (unsigned long long)t->stats.commits, (unsigned long long)t->stats.aborts,
                        (unsigned long long)t->stats.unknown_outcomes,
                        (unsigned long long)t->stats.dead_letters);
        }
    }
    return 0;
}

/* ---- lifecycle ---- */

struct hd_task *hd_task_new(const struct hd_config *c, const struct hd_tables *tables,
                            const char *group, const char *const *subs, char *errstr,
                            size_t errstr_size)
{
    struct hd_task *t = hd_calloc(1, sizeof(*t));
    t->cfg = c;
    t->tables = tables;
    t->group_id = hd_asprintf("%s-%s", c->app_id, group);
    t->txn_id = hd_asprintf("%s-%s-%s", c->app_id, group, c->instance_id);
    t->batch = hd_calloc((size_t)c->batch_max, sizeof(*t->batch));
    t->ledger = hd_ledger_new();
    t->pending_cap = 2 * (size_t)c->batch_max; /* a record may be deferred twice (enrich) */
    t->pending = hd_calloc(t->pending_cap, sizeof(*t->pending));
    t->ctx.task = t;
    t->ctx.partition = -1;
    t->crash_before = hd__crashpoint_arm("before_kafka_commit");
    t->crash_after = hd__crashpoint_arm("after_kafka_commit");
    rd_kafka_topic_partition_list_t *topics = NULL;

    for (; subs[t->sub_cnt]; t->sub_cnt++) {
        if (t->sub_cnt == HD_TASK_SUBS_MAX) {
            hd_seterr(-1, errstr, errstr_size, "too many sub-topologies");
            goto err;
        }
        t->subs[t->sub_cnt] = hd_topology_find(subs[t->sub_cnt]);
        if (!t->subs[t->sub_cnt]) {
            hd_seterr(-1, errstr, errstr_size, "unknown sub-topology \"%s\"", subs[t->sub_cnt]);
            goto err;
        }
    }
    if (!(t->serde = hd_serde_new(errstr, errstr_size)))
        goto err;
    for (size_t s = 0; s < t->sub_cnt; s++)
        for (size_t i = 0; t->subs[s]->chain[i]; i++) {
            const struct hd_processor *p = t->subs[s]->chain[i];
            if (p->input != t->subs[s]->kind) {
                hd_seterr(-1, errstr, errstr_size, "sub-topology %s: processor %s reads %s "
                          "records, the sub-topology decodes %s", t->subs[s]->name, p->name,
                          hd_payload_kind_name(p->input), hd_payload_kind_name(t->subs[s]->kind));
                goto err;
            }
            if (!p->drain != !p->abandon) {
                hd_seterr(-1, errstr, errstr_size, "processor %s: drain and abandon go "
                          "together", p->name);
                goto err;
            }
            if (!(t->confs[s][i] = hd_conf_load(p->name, p->config, c, errstr, errstr_size)))
                goto err;
            struct hd_task_env env = {c, tables, t->confs[s][i]};
            if (p->init && p->init(&t->selves[s][i], &env, errstr, errstr_size))
                goto err;
            if (p->punctuate)
                t->punctuates = 1;
        }
    if (!(t->producer = hd_kafka_producer_new(c, c->at_least_once ? NULL : t->txn_id, errstr,
                                              errstr_size)))
        goto err;
    const char *store_names[16];
    int table_inputs = 0;
    for (size_t s = 0; s < t->sub_cnt; s++)
        for (size_t i = 0; t->subs[s]->chain[i]; i++)
            table_inputs |= t->subs[s]->chain[i]->tables != NULL;
    if (hd__task_store_names(t, store_names, HD_ARRAY_SIZE(store_names)) || table_inputs) {
        const struct hd_topic_spec *changelogs;
        if (!(t->stores = hd_storeset_new(c, t->group_id, store_names, &t->producer, errstr,
                                          errstr_size)))
            goto err;
        for (size_t s = 0; s < t->sub_cnt; s++)
            for (size_t i = 0; t->subs[s]->chain[i]; i++)
                for (const char *const *tb = t->subs[s]->chain[i]->tables; tb && *tb; tb++)
                    if (hd_storeset_add_table(t->stores, *tb, errstr, errstr_size))
                        goto err;
        size_t nchangelogs = hd_storeset_changelogs(t->stores, &changelogs);
        if (hd_kafka_topics_create(c, changelogs, nchangelogs, errstr, errstr_size))
            goto err;
    }
    if (!(t->consumer = hd_kafka_consumer_new_cb(c, t->group_id, hd__task_rebalance_cb, t, 1,
                                                 errstr, errstr_size)))
        goto err;
    topics = rd_kafka_topic_partition_list_new(16);
    for (size_t s = 0; s < t->sub_cnt; s++) {
        const char *inputs[HD_INPUTS_MAX + 1];
        hd_topology_inputs(t->subs[s], inputs, HD_ARRAY_SIZE(inputs));
        for (const char *const *in = inputs; *in; in++)
            if (!rd_kafka_topic_partition_list_find(topics, *in, RD_KAFKA_PARTITION_UA))
                rd_kafka_topic_partition_list_add(topics, *in, RD_KAFKA_PARTITION_UA);
    }
    rd_kafka_resp_err_t err = rd_kafka_subscribe(t->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        hd_seterr(-1, errstr, errstr_size, "subscribe: %s", rd_kafka_err2str(err));
        goto err;
    }
    t->queue = rd_kafka_queue_get_consumer(t->consumer);
    t->last_report_us = hd_mono_us();
    if (c->at_least_once)
        hd_log_info("runtime", "%s: at-least-once: no transactions; offsets committed after "
                    "the outputs are acknowledged", t->group_id);
    else
        hd_log_info("runtime", "%s: exactly-once: transactional id %s", t->group_id, t->txn_id);
    return t;
err:
    hd_task_destroy(t);
    return NULL;
}

void hd_task_stats(const struct hd_task *t, struct hd_task_stats *out)
{
    *out = t->stats;
}

void hd_task_destroy(struct hd_task *t)
{
    if (!t)
        return;
    hd__batch_clear(t); /* the messages belong to the consumer */
    if (t->queue)
        rd_kafka_queue_destroy(t->queue);
    if (t->consumer) {
        rd_kafka_consumer_close(t->consumer);
        rd_kafka_destroy(t->consumer);
    }
    hd_storeset_destroy(t->stores);
    if (t->producer)
        rd_kafka_destroy(t->producer);
    for (size_t s = 0; s < t->sub_cnt; s++)
        for (size_t i = 0; t->subs[s] && t->subs[s]->chain[i]; i++) {
            if (t->subs[s]->chain[i]->exit && t->selves[s][i])
                t->subs[s]->chain[i]->exit(t->selves[s][i]);
            hd_conf_destroy(t->confs[s][i]);
        }
    hd_serde_destroy(t->serde);
    hd_buf_free(&t->ctx.reason);
    hd_buf_free(&t->ctx.enc);
    hd_free(t->batch);
    hd_ledger_destroy(t->ledger);
    hd_free(t->pending);
    hd_free(t->group_id);
    hd_free(t->txn_id);
    hd_free(t);
}
