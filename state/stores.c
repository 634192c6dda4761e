/*
 * A task's state stores and their changelogs (see stores.h).
 */
#include "state/stores.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/log.h"
#include "core/time.h"

#define HD_SS_MAX_STORES 16
/* restored records per RocksDB write (a kill mid-restore keeps what was flushed); armed,
 * the restore crash point (tests) flushes more often, so that a kill there leaves part
 * of a modest restore flushed and part staged */
#define HD_SS_FLUSH_EVERY 10000
#define HD_SS_FLUSH_EVERY_CRASHTEST 1000
#define HD_SS_RESTORE_STALL_MS 60000

/* One open store of one partition; also the change callback's opaque. */
struct ss_entry {
    struct hd_storeset *ss;
    size_t idx;
    int32_t partition;
    struct hd_store *st;
    int64_t max_offset; /* highest changelog offset delivered in this transaction, -1 none */
};

/* A changelog record produced in the open transaction, until its delivery report. */
struct ss_pending {
    struct hd_kafka_delivery d;
    struct ss_entry *e;
};

struct hd_storeset {
    const struct hd_config *cfg;
    char *app;
    size_t n;
    char *names[HD_SS_MAX_STORES];
    char *topics[HD_SS_MAX_STORES];
    int table[HD_SS_MAX_STORES]; /* fed from a source topic (hd_storeset_add_table) */
    size_t nlog;                 /* stores with a changelog of their own: specs[0..nlog) */
    struct hd_topic_spec specs[HD_SS_MAX_STORES];
    rd_kafka_t **producer;
    struct ss_entry **slots; /* [partition][store] */
    size_t slot_cnt;
    struct ss_pending **pend;
    size_t pend_cnt, pend_cap;
    int failed;
    rd_kafka_t *restorer;
    rd_kafka_t *watermarks; /* read_uncommitted: the high watermark a restore reads to */
    rd_kafka_t *follower;   /* table stores: reads their topics past the restore */
    long generation;        /* bumped when a table store opens or closes */
    long followed;          /* the generation the follower's assignment reflects */
    long crash_restore; /* test only: SIGKILL at this restore past half-way; 0 never */
    char crash_store[64]; /* test only: count only this store's restores; "" any */
    long flush_every;   /* restored records per RocksDB write */
};

/* Test only (tests/crash/run): HERALD_TEST_CRASHPOINT=restore[:N[:STORE]] makes the N-th
 * store restore (default the first; of store STORE only, when named) that gets past
 * half-way through its changelog's offsets, or half-way through its second flush batch,
 * log a marker line and SIGKILL the process: a kill mid-restore, with some records
 * flushed (when there were enough) and some only staged. Half-way is by offset, not by
 * record count: commit markers and aborted records take offsets that read_committed
 * never returns, so a changelog of small transactions may hold fewer records than half
 * its offsets. Read once, when the set is made; unset, it costs a compare per restored
 * record. runtime.c arms its own points with the same function. */
long hd__crashpoint_arm(const char *point)
{
    const char *v = getenv("HERALD_TEST_CRASHPOINT");
    size_t n = strlen(point);
    if (!v || strncmp(v, point, n) || (v[n] && v[n] != ':'))
        return 0;
    long nth = v[n] ? atol(v + n + 1) : 1;
    return nth > 0 ? nth : 1;
}

struct hd_storeset *hd_storeset_new(const struct hd_config *c, const char *app,
                                    const char *const *names, rd_kafka_t **producer,
                                    char *errstr, size_t errstr_size)
{
    struct hd_storeset *ss = hd_calloc(1, sizeof(*ss));
    ss->cfg = c;
    ss->app = hd_strdup(app);
    ss->producer = producer;
    ss->crash_restore = hd__crashpoint_arm("restore");
    const char *cs = ss->crash_restore ? strchr(getenv("HERALD_TEST_CRASHPOINT"), ':') : NULL;
    if (cs && (cs = strchr(cs + 1, ':')))
        snprintf(ss->crash_store, sizeof(ss->crash_store), "%s", cs + 1);
    ss->flush_every = ss->crash_restore ? HD_SS_FLUSH_EVERY_CRASHTEST : HD_SS_FLUSH_EVERY;
    for (; names[ss->n]; ss->n++) {
        if (ss->n == HD_SS_MAX_STORES) {
            hd_storeset_destroy(ss);
            hd_seterr(-1, errstr, errstr_size, "more than %d state stores", HD_SS_MAX_STORES);
            return NULL;
        }
        ss->names[ss->n] = hd_strdup(names[ss->n]);
        ss->topics[ss->n] = hd_asprintf("%s-%s-changelog", app, names[ss->n]);
        ss->specs[ss->n].name = ss->topics[ss->n];
        ss->specs[ss->n].compacted = 1;
    }
    ss->nlog = ss->n;
    return ss;
}

int hd_storeset_add_table(struct hd_storeset *ss, const char *topic, char *errstr,
                          size_t errstr_size)
{
    for (size_t i = 0; i < ss->n; i++)
        if (!strcmp(ss->names[i], topic))
            return 0;
    if (ss->n == HD_SS_MAX_STORES)
        return hd_seterr(-1, errstr, errstr_size, "more than %d state stores", HD_SS_MAX_STORES);
    ss->names[ss->n] = hd_strdup(topic);
    ss->topics[ss->n] = hd_strdup(topic);
    ss->table[ss->n] = 1;
    ss->n++;
    return 0;
}

size_t hd_storeset_changelogs(struct hd_storeset *ss, const struct hd_topic_spec **specs)
{
    *specs = ss->specs;
    return ss->nlog;
}

/* ---- changelog writes ---- */

static void ss_change_cb(void *opaque, struct hd_store *s, const void *key, size_t key_len,
                         const void *value, size_t value_len)
{
    struct ss_entry *e = opaque;
    struct hd_storeset *ss = e->ss;
    if (ss->pend_cnt == ss->pend_cap) {
        ss->pend_cap = ss->pend_cap ? ss->pend_cap * 2 : 256;
        ss->pend = hd_realloc(ss->pend, ss->pend_cap * sizeof(*ss->pend));
    }
    struct ss_pending *pd = hd_calloc(1, sizeof(*pd));
    pd->e = e;
    rd_kafka_resp_err_t err =
        hd_kafka_produce(*ss->producer, ss->topics[e->idx], e->partition, key, key_len, value,
                         value ? value_len : 0, NULL, pd);
    if (err) {
        hd_log_warn("state", "changelog %s[%d]: %s", ss->topics[e->idx], e->partition,
                    rd_kafka_err2str(err));
        ss->failed = 1;
        hd_free(pd);
        return;
    }
    ss->pend[ss->pend_cnt++] = pd;
}

int hd_storeset_failed(const struct hd_storeset *ss)
{
    return ss->failed;
}

/* Serves delivery reports until every pending changelog record has one (or timeout). */
static int ss_wait_deliveries(struct hd_storeset *ss, int timeout_ms)
{
    int64_t deadline = hd_mono_us() + (int64_t)timeout_ms * 1000;
    for (size_t i = 0; i < ss->pend_cnt; i++)
        while (!__atomic_load_n(&ss->pend[i]->d.done, __ATOMIC_ACQUIRE)) {
            if (hd_mono_us() > deadline)
                return -1;
            rd_kafka_poll(*ss->producer, 10);
        }
    return 0;
}

static void ss_free_pending(struct hd_storeset *ss)
{
    for (size_t i = 0; i < ss->pend_cnt; i++)
        hd_free(ss->pend[i]);
    ss->pend_cnt = 0;
    ss->failed = 0;
}

#define SS_FOREACH_ENTRY(ss, e)                                                                    \
    for (size_t p_ = 0; p_ < (ss)->slot_cnt; p_++)                                                 \
        for (size_t i_ = 0; (ss)->slots[p_] && i_ < (ss)->n; i_++)                                 \
            if (((e) = &(ss)->slots[p_][i_])->st)

int hd_storeset_commit(struct hd_storeset *ss, char *errstr, size_t errstr_size)
{
    if (ss_wait_deliveries(ss, 30000))
        return hd_seterr(-1, errstr, errstr_size, "changelog deliveries did not complete");
    struct ss_entry *e;
    SS_FOREACH_ENTRY(ss, e) e->max_offset = -1;
    for (size_t i = 0; i < ss->pend_cnt; i++) {
        struct ss_pending *pd = ss->pend[i];
        if (pd->d.err)
            return hd_seterr(-1, errstr, errstr_size, "changelog delivery after commit: %s",
                             rd_kafka_err2str(pd->d.err));
        if (pd->d.offset > pd->e->max_offset)
            pd->e->max_offset = pd->d.offset;
    }
    ss_free_pending(ss);
    SS_FOREACH_ENTRY(ss, e)
    {
        if (!hd_store_staged(e->st))
            continue;
        if (e->max_offset < 0)
            return hd_seterr(-1, errstr, errstr_size, "store %s-%d has writes but no changelog",
                             ss->names[e->idx], e->partition);
        if (hd_store_commit(e->st, e->max_offset + 1, errstr, errstr_size))
            return -1;
    }
    return 0;
}

void hd_storeset_abort(struct hd_storeset *ss)
{
    struct ss_entry *e;
    SS_FOREACH_ENTRY(ss, e) hd_store_abort(e->st);
    if (ss->pend_cnt && *ss->producer) {
        /* their delivery reports point at ss->pend: purge, and wait for them */
        rd_kafka_purge(*ss->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        if (ss_wait_deliveries(ss, 30000)) {
            hd_log_error("state", "changelog delivery reports missing after purge; "
                                  "keeping their memory rather than risk a use after free");
            ss->pend_cnt = 0;
            ss->failed = 0;
            return;
        }
    }
    ss_free_pending(ss);
}

int hd_storeset_expire(struct hd_storeset *ss, int64_t now_ms, char *errstr, size_t errstr_size)
{
    struct ss_entry *e;
    SS_FOREACH_ENTRY(ss, e)
    {
        if (hd_store_expire(e->st, now_ms, 1000, errstr, errstr_size) < 0)
            return -1;
    }
    return 0;
}

/* ---- assignment and restore ---- */

static rd_kafka_t *ss_restorer(struct hd_storeset *ss, char *errstr, size_t errstr_size)
{
    if (!ss->restorer) {
        char client[256];
        snprintf(client, sizeof(client), "%s-restore-%s", ss->app, ss->cfg->instance_id);
        ss->restorer = hd_kafka_reader_new(ss->cfg, client, errstr, errstr_size);
    }
    if (ss->restorer && !ss->watermarks) {
        char client[256];
        snprintf(client, sizeof(client), "%s-watermarks-%s", ss->app, ss->cfg->instance_id);
        ss->watermarks = hd_kafka_watermarks_new(ss->cfg, client, errstr, errstr_size);
    }
    return ss->watermarks ? ss->restorer : NULL;
}

/* Applies one record of a store's topic: a changelog value is the stored form already; a
 * table's (a source topic, written by others) gets the header of a value that never
 * expires. */
static int ss_apply(struct hd_storeset *ss, struct ss_entry *e, const rd_kafka_message_t *m,
                    char *errstr, size_t errstr_size)
{
    if (!ss->table[e->idx] || !m->payload)
        return hd_store_restore_put(e->st, m->key, m->key_len, m->payload, m->len, errstr,
                                    errstr_size);
    unsigned char *v = hd_malloc(m->len + 8);
    memset(v, 0, 8);
    memcpy(v + 8, m->payload, m->len);
    int rc = hd_store_restore_put(e->st, m->key, m->key_len, v, m->len + 8, errstr,
                                  errstr_size);
    hd_free(v);
    return rc;
}

/* Replays the changelog partition from the store's applied offset to its end: the high
 * watermark when the restore starts, not the last stable offset a read_committed reader
 * stops at first. Records below the high watermark that a transaction still open wrote
 * (the previous owner's commit whose markers the coordinator is still writing, or a dead
 * owner's transaction the broker aborts at its timeout) are waited for: stopping at the
 * last stable offset would lose a committed transaction's writes, whose input offsets the
 * consumer then fetches as committed (KIP-447 makes that fetch wait, not the restore). */
static int ss_restore(struct hd_storeset *ss, struct ss_entry *e, char *errstr,
                      size_t errstr_size)
{
    rd_kafka_t *rk = ss_restorer(ss, errstr, errstr_size);
    if (!rk)
        return -1;
    const char *topic = ss->topics[e->idx];
    int64_t from = hd_store_applied_offset(e->st), lo = 0, hi = 0;
    rd_kafka_resp_err_t err;
    /* a changelog created moments ago may not be known to every broker yet */
    for (int tries = 0; tries < 75; tries++) {
        err = rd_kafka_query_watermark_offsets(ss->watermarks, topic, e->partition, &lo, &hi,
                                               10000);
        if (err != RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION &&
            err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART &&
            err != RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC &&
            err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE &&
            err != RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION)
            break;
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (err)
        return hd_seterr(-1, errstr, errstr_size, "restore %s[%d]: watermarks: %s", topic,
                         e->partition, rd_kafka_err2str(err));
    if (hi <= lo || (from >= 0 && from >= hi))
        return 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, e->partition)->offset =
        from >= 0 ? from : RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    int64_t start = hd_mono_us(), last = start, next = -1;
    int64_t first = from >= 0 && from > lo ? from : lo;
    int64_t span = hi - first; /* offsets, so >= records */
    long applied = 0;
    int rc = 0, past_half = 0, waiting = 0;
    int64_t stable = -1; /* the last stable offset, while waiting below hi */
    /* an open transaction ends by its timeout at the latest (then the broker aborts it) */
    int64_t stall_ms = HD_SS_RESTORE_STALL_MS + (int64_t)ss->cfg->txn_timeout_ms;
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m) {
            if (hd_mono_us() - last <= stall_ms * 1000)
                continue;
            if (waiting)
                rc = hd_seterr(-1, errstr, errstr_size,
                               "restore %s[%d]: a transaction open at offset %lld (end %lld) "
                               "has not ended in %lld s; if it hangs, abort it with "
                               "kafka-transactions.sh find-hanging / abort",
                               topic, e->partition, (long long)stable, (long long)hi,
                               (long long)(stall_ms / 1000));
            else
                rc = hd_seterr(-1, errstr, errstr_size,
                               "restore %s[%d]: no progress for %lld s (next offset %lld, end "
                               "%lld)", topic, e->partition, (long long)(stall_ms / 1000),
                               (long long)(next >= 0 ? next : first), (long long)hi);
            break;
        }
        last = hd_mono_us();
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            int64_t at = m->offset; /* the last stable offset, under read_committed */
            rd_kafka_message_destroy(m);
            if (at >= hi)
                break;
            stable = at;
            if (!waiting++)
                hd_log_info("state", "restore %s[%d]: waiting at offset %lld for a transaction "
                            "still open below the end (%lld) to end", topic, e->partition,
                            (long long)at, (long long)hi);
            continue;
        }
        if (m->err) {
            rc = hd_seterr(-1, errstr, errstr_size, "restore %s[%d]: %s", topic, e->partition,
                           rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            break;
        }
        rc = ss_apply(ss, e, m, errstr, errstr_size);
        next = m->offset + 1;
        rd_kafka_message_destroy(m);
        if (rc)
            break;
        if (++applied % ss->flush_every == 0 &&
            (rc = hd_store_restore_flush(e->st, next, errstr, errstr_size)))
            break;
        /* half-way, or half-way through the second flush batch: flushed and staged records */
        if (ss->crash_restore && !past_half && applied >= 2 && next < hi &&
            ((next - first) * 2 >= span || applied == ss->flush_every * 3 / 2) &&
            (!ss->crash_store[0] || !strcmp(ss->crash_store, ss->names[e->idx]))) {
            past_half = 1;
            if (--ss->crash_restore == 0) {
                hd_log_error("test", "HERALD_TEST_CRASHPOINT restore reached: %s[%d] after %ld "
                             "records from offset %lld (next %lld, end %lld, flushed to %lld); "
                             "SIGKILL", topic, e->partition, applied, (long long)from,
                             (long long)next, (long long)hi,
                             (long long)hd_store_applied_offset(e->st));
                raise(SIGKILL);
            }
        }
    }
    if (rc == 0 && next >= 0)
        rc = hd_store_restore_flush(e->st, next, errstr, errstr_size);
    rd_kafka_assign(rk, NULL);
    double secs = (double)(hd_mono_us() - start) / 1e6;
    hd_log_info("state", "restored %s[%d]: %ld records from offset %lld in %.2f s (%.0f/s)", topic,
                e->partition, applied, (long long)from, secs, secs > 0 ? applied / secs : 0);
    return rc;
}

/* <state>/<app>/<instance>/<name>, creating the directories. Returns 0 or -1. */
static int state_path(const struct hd_config *c, const char *app, const char *name, char *path,
                      size_t path_size, char *errstr, size_t errstr_size)
{
    char dir[1024];
    /* per instance: two processes on one host never share (or wipe) each other's stores */
    snprintf(dir, sizeof(dir), "%s/%s/%s", c->state_dir, app, c->instance_id);
    char e[512];
    if (hd_mkdir_p(dir, e, sizeof(e)))
        return hd_seterr(-1, errstr, errstr_size, "state: %s", e);
    snprintf(path, path_size, "%s/%s", dir, name);
    return 0;
}

struct hd_store *hd_state_open(const struct hd_config *c, const char *app, const char *name,
                               char *errstr, size_t errstr_size)
{
    char path[1200];
    if (state_path(c, app, name, path, sizeof(path), errstr, errstr_size))
        return NULL;
    struct hd_store *st = hd_store_open(path, errstr, errstr_size);
    if (!st && strstr(errstr, "lock"))
        return NULL; /* another process has it open: never wipe a live store */
    if (!st) {
        /* corrupt or unreadable: the topic is the truth, rebuild from it */
        hd_log_warn("state", "%s: %s; wiping it and restoring the whole changelog", path, errstr);
        if (hd_store_wipe(path, errstr, errstr_size))
            return NULL;
        st = hd_store_open(path, errstr, errstr_size);
    }
    return st;
}

struct hd_store *hd_state_open_empty(const struct hd_config *c, const char *app,
                                     const char *name, char *errstr, size_t errstr_size)
{
    char path[1200];
    if (state_path(c, app, name, path, sizeof(path), errstr, errstr_size) ||
        hd_store_wipe(path, errstr, errstr_size))
        return NULL;
    return hd_store_open(path, errstr, errstr_size);
}

static int ss_open(struct hd_storeset *ss, struct ss_entry *e, char *errstr, size_t errstr_size)
{
    char name[256];
    snprintf(name, sizeof(name), "%s-%d", ss->names[e->idx], e->partition);
    if (!(e->st = hd_state_open(ss->cfg, ss->app, name, errstr, errstr_size)))
        return -1;
    hd_store_set_change_cb(e->st, ss_change_cb, e);
    return 0;
}

int hd_storeset_assign(struct hd_storeset *ss, int32_t partition, char *errstr,
                       size_t errstr_size)
{
    if (partition < 0)
        return hd_seterr(-1, errstr, errstr_size, "bad partition %d", partition);
    if ((size_t)partition >= ss->slot_cnt) {
        size_t n = (size_t)partition + 1;
        ss->slots = hd_realloc(ss->slots, n * sizeof(*ss->slots));
        memset(ss->slots + ss->slot_cnt, 0, (n - ss->slot_cnt) * sizeof(*ss->slots));
        ss->slot_cnt = n;
    }
    if (!ss->slots[partition])
        ss->slots[partition] = hd_calloc(ss->n, sizeof(struct ss_entry));
    for (size_t i = 0; i < ss->n; i++) {
        struct ss_entry *e = &ss->slots[partition][i];
        if (e->st)
            continue;
        e->ss = ss;
        e->idx = i;
        e->partition = partition;
        if (ss_open(ss, e, errstr, errstr_size) || ss_restore(ss, e, errstr, errstr_size)) {
            hd_store_close(e->st);
            e->st = NULL;
            return -1;
        }
        if (ss->table[i])
            ss->generation++;
    }
    return 0;
}

/* Points the follower at every open table store's next offset. */
static int ss_follow_assign(struct hd_storeset *ss, char *errstr, size_t errstr_size)
{
    if (!ss->follower) {
        char client[256];
        snprintf(client, sizeof(client), "%s-tables-%s", ss->app, ss->cfg->instance_id);
        if (!(ss->follower = hd_kafka_reader_new(ss->cfg, client, errstr, errstr_size)))
            return -1;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (size_t p = 0; p < ss->slot_cnt; p++)
        for (size_t i = 0; ss->slots[p] && i < ss->n; i++) {
            struct ss_entry *e = &ss->slots[p][i];
            if (!ss->table[i] || !e->st)
                continue;
            int64_t from = hd_store_applied_offset(e->st);
            rd_kafka_topic_partition_list_add(l, ss->topics[i], e->partition)->offset =
                from >= 0 ? from : RD_KAFKA_OFFSET_BEGINNING;
        }
    rd_kafka_resp_err_t err = rd_kafka_assign(ss->follower, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        return hd_seterr(-1, errstr, errstr_size, "table follower: assign: %s",
                         rd_kafka_err2str(err));
    ss->followed = ss->generation;
    return 0;
}

static struct ss_entry *ss_table_entry(struct hd_storeset *ss, const char *topic, int32_t part)
{
    if (part < 0 || (size_t)part >= ss->slot_cnt || !ss->slots[part])
        return NULL;
    for (size_t i = 0; i < ss->n; i++)
        if (ss->table[i] && !strcmp(ss->topics[i], topic))
            return ss->slots[part][i].st ? &ss->slots[part][i] : NULL;
    return NULL;
}

int hd_storeset_follow(struct hd_storeset *ss, size_t max, char *errstr, size_t errstr_size)
{
    if (ss->nlog == ss->n)
        return 0;
    if (ss->followed != ss->generation && ss_follow_assign(ss, errstr, errstr_size))
        return -1;
    if (!ss->follower)
        return 0; /* no table store opened yet */
    int applied = 0, rc = 0;
    struct ss_entry *touched[64];
    size_t ntouched = 0;
    int64_t next[64];
    while ((size_t)applied < max) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(ss->follower, 0);
        if (!m)
            break;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                hd_log_warn("state", "table follower: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        struct ss_entry *e = ss_table_entry(ss, rd_kafka_topic_name(m->rkt), m->partition);
        if (e && hd_store_applied_offset(e->st) > m->offset)
            e = NULL; /* restored past it already */
        size_t k = 0;
        while (e && k < ntouched && touched[k] != e)
            k++;
        if (e && k == ntouched && ntouched == HD_ARRAY_SIZE(touched)) {
            rd_kafka_message_destroy(m);
            break; /* rare: comes again after the reassignment below */
        }
        if (e && (rc = ss_apply(ss, e, m, errstr, errstr_size)) == 0) {
            if (k == ntouched)
                touched[ntouched++] = e;
            next[k] = m->offset + 1;
            applied++;
        }
        rd_kafka_message_destroy(m);
        if (rc)
            break;
    }
    for (size_t k = 0; k < ntouched; k++)
        if (hd_store_restore_flush(touched[k]->st, next[k], errstr, errstr_size))
            rc = -1;
    if (rc || (ntouched == HD_ARRAY_SIZE(touched) && (size_t)applied < max))
        ss->followed = -1; /* start again from what was flushed */
    return rc ? -1 : applied;
}

void hd_storeset_revoke(struct hd_storeset *ss, int32_t partition)
{
    if (partition < 0 || (size_t)partition >= ss->slot_cnt || !ss->slots[partition])
        return;
    for (size_t i = 0; i < ss->n; i++) {
        if (ss->table[i] && ss->slots[partition][i].st)
            ss->generation++;
        hd_store_close(ss->slots[partition][i].st);
        ss->slots[partition][i].st = NULL;
    }
}

struct hd_store *hd_storeset_get(struct hd_storeset *ss, const char *name, int32_t partition)
{
    if (partition < 0 || (size_t)partition >= ss->slot_cnt || !ss->slots[partition])
        return NULL;
    for (size_t i = 0; i < ss->n; i++)
        if (!strcmp(ss->names[i], name))
            return ss->slots[partition][i].st;
    return NULL;
}

const char *hd_storeset_changelog(const struct hd_storeset *ss, const char *name)
{
    for (size_t i = 0; i < ss->n; i++)
        if (!strcmp(ss->names[i], name))
            return ss->topics[i];
    return NULL;
}

int32_t hd_storeset_partition_limit(const struct hd_storeset *ss)
{
    return (int32_t)ss->slot_cnt;
}

void hd_storeset_destroy(struct hd_storeset *ss)
{
    if (!ss)
        return;
    if (ss->pend_cnt)
        hd_storeset_abort(ss);
    for (size_t p = 0; p < ss->slot_cnt; p++) {
        if (!ss->slots[p])
            continue;
        for (size_t i = 0; i < ss->n; i++)
            hd_store_close(ss->slots[p][i].st);
        hd_free(ss->slots[p]);
    }
    hd_free(ss->slots);
    hd_free(ss->pend);
    for (size_t i = 0; i < ss->n; i++) {
        hd_free(ss->names[i]);
        hd_free(ss->topics[i]);
    }
    if (ss->restorer)
        rd_kafka_destroy(ss->restorer);
    if (ss->watermarks)
        rd_kafka_destroy(ss->watermarks);
    if (ss->follower)
        rd_kafka_destroy(ss->follower);
    hd_free(ss->app);
    hd_free(ss);
}
