/*
 * hd_restore_txn commit|abort: does a state restore wait for a transaction that is
 * still open on the changelog, and take its writes when it commits? On the broker of
 * HERALD_BROKERS (a real one: the mock cluster has no last stable offset):
 *
 *   1. a writer store set (instance "w") commits k1 = v1 through its transactional
 *      producer, then stages k2 = v2 in a second transaction and flushes it to the
 *      changelog without ending it;
 *   2. a thread ends that transaction (commit, or abort) two seconds later;
 *   3. meanwhile a reader store set (instance "r", empty state) is assigned the
 *      partition and restores it.
 *
 * The restore must return only after the transaction was being ended, and hold k1 and,
 * after a commit, k2 (after an abort, not k2). A restore that stopped at the last
 * stable offset returns at once without k2, as if the commit had never been.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "connectors/kafka.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/time.h"
#include "state/store.h"
#include "state/stores.h"

#define END_AFTER_S 2

struct ender {
    rd_kafka_t *producer;
    int commit;
    volatile int ending; /* set right before the end of the transaction is asked for */
    char err[512];
};

static void *end_txn(void *arg)
{
    struct ender *en = arg;
    struct timespec ts = {END_AFTER_S, 0};
    nanosleep(&ts, NULL);
    __atomic_store_n(&en->ending, 1, __ATOMIC_RELEASE);
    rd_kafka_error_t *e = en->commit ? rd_kafka_commit_transaction(en->producer, 30000)
                                     : rd_kafka_abort_transaction(en->producer, 30000);
    if (e) {
        snprintf(en->err, sizeof(en->err), "%s: %s", en->commit ? "commit" : "abort",
                 rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    return NULL;
}

static int txn_call(rd_kafka_error_t *e, const char *what, char *err, size_t n)
{
    if (!e)
        return 0;
    snprintf(err, n, "%s: %s", what, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return -1;
}

/* Stages key = value in the writer's store and produces it to the changelog. */
static int put(struct hd_storeset *ss, const char *key, const char *value, char *err, size_t n)
{
    struct hd_store *st = hd_storeset_get(ss, "s", 0);
    if (hd_store_put(st, key, strlen(key), value, strlen(value), 0, err, n))
        return -1;
    if (hd_storeset_failed(ss)) {
        snprintf(err, n, "%s: the changelog produce failed", key);
        return -1;
    }
    return 0;
}

/* 1 if the reader's store holds key = want (want NULL: holds no key), else 0 with err. */
static int holds(struct hd_storeset *ss, const char *key, const char *want, char *err, size_t n)
{
    struct hd_buf v = HD_BUF_INIT;
    int r = hd_store_get(hd_storeset_get(ss, "s", 0), key, strlen(key), hd_now_ms(), &v, err, n);
    int ok = r == (want ? 1 : 0) &&
             (!want || (v.len == strlen(want) && !memcmp(v.data, want, v.len)));
    if (r >= 0 && !ok)
        snprintf(err, n, "restored store: %s is %s, want %s", key,
                 r ? "present" : "absent", want ? want : "absent");
    hd_buf_free(&v);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "commit") && strcmp(argv[1], "abort"))) {
        fprintf(stderr, "usage: hd_restore_txn commit|abort\n");
        return 2;
    }
    struct ender en = {.commit = !strcmp(argv[1], "commit")};
    struct hd_config cw, cr;
    char err[512] = "", app[128], dir[] = "/tmp/hd-restore-txn.XXXXXX";
    if (hd_config_from_env(&cw, err, sizeof(err)) || hd_config_from_env(&cr, err, sizeof(err))) {
        fprintf(stderr, "hd_restore_txn: %s\n", err);
        return 2;
    }
    if (!cw.brokers || !mkdtemp(dir)) {
        fprintf(stderr, "hd_restore_txn: %s\n",
                cw.brokers ? strerror(errno) : "HERALD_BROKERS unset");
        return 2;
    }
    snprintf(app, sizeof(app), "hd-restore-txn-%s-%ld-%d", argv[1], (long)time(NULL),
             (int)getpid());
    hd_config_set(&cw.state_dir, dir);
    hd_config_set(&cr.state_dir, dir);
    hd_config_set(&cw.instance_id, "w");
    hd_config_set(&cr.instance_id, "r");
    cw.partitions = cr.partitions = 1;

    static const char *const names[] = {"s", NULL};
    rd_kafka_t *none = NULL;
    struct hd_storeset *ws = hd_storeset_new(&cw, app, names, &en.producer, err, sizeof(err));
    struct hd_storeset *rs = ws ? hd_storeset_new(&cr, app, names, &none, err, sizeof(err)) : NULL;
    const struct hd_topic_spec *specs;
    char txn_id[160];
    snprintf(txn_id, sizeof(txn_id), "%s-w", app);
    int rc = 1;
    pthread_t th;
    int started = 0;
    if (!rs)
        goto out;
    size_t nspecs = hd_storeset_changelogs(ws, &specs);
    if (hd_kafka_topics_create(&cw, specs, nspecs, err, sizeof(err)) ||
        !(en.producer = hd_kafka_producer_new(&cw, txn_id, err, sizeof(err))) ||
        hd_storeset_assign(ws, 0, err, sizeof(err)))
        goto out;
    /* k1 committed */
    if (txn_call(rd_kafka_begin_transaction(en.producer), "begin", err, sizeof(err)) ||
        put(ws, "k1", "v1", err, sizeof(err)) ||
        txn_call(rd_kafka_commit_transaction(en.producer, 30000), "commit", err, sizeof(err)) ||
        hd_storeset_commit(ws, err, sizeof(err)))
        goto out;
    /* k2 in the log, its transaction open */
    if (txn_call(rd_kafka_begin_transaction(en.producer), "begin", err, sizeof(err)) ||
        put(ws, "k2", "v2", err, sizeof(err)))
        goto out;
    if (rd_kafka_flush(en.producer, 30000)) {
        snprintf(err, sizeof(err), "flush of the open transaction timed out");
        goto out;
    }
    if (pthread_create(&th, NULL, end_txn, &en)) {
        snprintf(err, sizeof(err), "pthread_create failed");
        goto out;
    }
    started = 1;
    int64_t t0 = hd_mono_us();
    int restored = hd_storeset_assign(rs, 0, err, sizeof(err)) == 0;
    int ending = __atomic_load_n(&en.ending, __ATOMIC_ACQUIRE);
    double secs = (double)(hd_mono_us() - t0) / 1e6;
    pthread_join(th, NULL);
    started = 0;
    if (!restored)
        goto out;
    if (en.err[0]) {
        snprintf(err, sizeof(err), "%s", en.err);
        goto out;
    }
    if (!ending) {
        snprintf(err, sizeof(err), "the restore returned after %.2f s, before the open "
                 "transaction was ended (%d s): it stopped at the last stable offset", secs,
                 END_AFTER_S);
        goto out;
    }
    if (!holds(rs, "k1", "v1", err, sizeof(err)) ||
        !holds(rs, "k2", en.commit ? "v2" : NULL, err, sizeof(err)))
        goto out;
    if (en.commit ? hd_storeset_commit(ws, err, sizeof(err)) : (hd_storeset_abort(ws), 0))
        goto out;
    printf("hd_restore_txn %s: the restore waited %.2f s for the open transaction and holds "
           "k1%s\n", argv[1], secs, en.commit ? " and its k2" : ", not its aborted k2");
    rc = 0;
out:
    if (started)
        pthread_join(th, NULL);
    if (rc)
        fprintf(stderr, "hd_restore_txn %s: %s\n", argv[1], err);
    hd_storeset_destroy(rs);
    hd_storeset_destroy(ws);
    if (en.producer)
        rd_kafka_destroy(en.producer);
    char cmd[sizeof(dir) + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd))
        fprintf(stderr, "hd_restore_txn: could not remove %s\n", dir);
    hd_config_clear(&cw);
    hd_config_clear(&cr);
    return rc;
}
