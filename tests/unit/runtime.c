/*
 * The task loop's recovery paths under injected broker errors, on
 * librdkafka's in-process mock cluster. The mock does not enforce
 * transactions, so these tests prove only that the client paths run and
 * nothing is lost (every request still gets its QUEUED status); exactly-once
 * is proven on a real broker by tests/crash/run. Injected errors are pushed
 * on the broker's error stack, so a test can check each one was served.
 * The dedup store is checked through a corrupt state directory: wiped,
 * restored from its changelog, and still finding repeats.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors/kafka.h"
#include "core/log.h"
#include "core/time.h"
#include "core/uuid.h"
#include "processors/runtime.h"
#include "schemas/serde.h"
#include "state/store.h"
#include "tables/tables.h"

/* Kafka protocol API keys (not in librdkafka's public headers). */
#define API_PRODUCE 0
#define API_FIND_COORDINATOR 10
#define API_ADD_PARTITIONS_TO_TXN 24
#define API_ADD_OFFSETS_TO_TXN 25
#define API_END_TXN 26
#define API_TXN_OFFSET_COMMIT 28

#define N_REQUESTS 300
#define N_REPEATS 60
#define MOCK_BROKER 1 /* the mock cluster's only broker */

static struct hd_config cfg;
static struct hd_mock *mock;
static struct hd_tables *tables;

static void setup(void)
{
    char err[512];
    hd_log_set_level(HD_LOG_ERROR);
    cr_assert_eq(hd_config_from_env(&cfg, err, sizeof(err)), 0, "%s", err);
    cfg.partitions = 2;
    cfg.batch_max = 50;
    const char *bootstraps;
    mock = hd_mock_start(&cfg, &bootstraps, err, sizeof(err));
    cr_assert_not_null(mock, "%s", err);
    hd_config_set(&cfg.brokers, bootstraps);
    hd_config_set(&cfg.instance_id, "runtime-test");
    char dir[] = "/tmp/herald-rt-state-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    hd_config_set(&cfg.state_dir, dir);
    tables = hd_tables_parse("{\"tenants\": [{\"tenant_id\": \"t\"}]}", err, sizeof(err));
    cr_assert_not_null(tables, "%s", err);
}

static void teardown(void)
{
    cr_assert_eq(hd_store_wipe(cfg.state_dir, NULL, 0), 0);
    hd_tables_destroy(tables);
    hd_mock_stop(mock);
    hd_config_clear(&cfg);
}

/* Request i of a generation: IN_APP, user u<i % 7> (the record key, so a repeat lands on
 * the original's partition), variables {"i": i}, and every third one idempotency key
 * "idem-<i>". A repeat ("dup-<i>") is the same request under a new request id; a keyed
 * repeat also changes its variables, so only the key makes it a duplicate. */
static void produce_generation(const char *prefix, int count, int repeat)
{
    char err[512];
    struct hd_serde *sd = hd_serde_new(err, sizeof(err));
    rd_kafka_t *rk = hd_kafka_producer_new(&cfg, NULL, err, sizeof(err));
    cr_assert(sd && rk, "%s", err);
    enum hd_channel ch = HD_CH_IN_APP;
    struct hd_content content = {NULL, "hello", NULL, "Hi", {NULL, 0}};
    struct hd_buf b = HD_BUF_INIT;
    for (int i = 0; i < count; i++) {
        char rid[32], user[32], vars[48], idem[32];
        snprintf(rid, sizeof(rid), "%s-%d", prefix, i);
        snprintf(user, sizeof(user), "u%d", i % 7);
        snprintf(idem, sizeof(idem), "idem-%d", i);
        int keyed = i % 3 == 0;
        /* distinct, or dedup drops them */
        snprintf(vars, sizeof(vars), "{\"i\": %d%s}", i, repeat && keyed ? ", \"again\": 1" : "");
        struct hd_request r;
        memset(&r, 0, sizeof(r));
        r.request_id = rid;
        r.tenant_id = "t";
        r.user_id = user;
        r.channels = &ch;
        r.channel_cnt = 1;
        r.content = &content;
        r.variables_json = vars;
        r.idempotency_key = keyed ? idem : NULL;
        r.created_at = hd_now_ms();
        hd_buf_reset(&b);
        cr_assert_eq(hd_request_encode(sd, &r, &b, err, sizeof(err)), 0, "%s", err);
        cr_assert_eq(hd_kafka_produce_sync(rk, HD_TOPIC_REQUESTS, user, strlen(user), b.data,
                                           b.len, NULL, NULL, NULL, err, sizeof(err)),
                     0, "%s", err);
    }
    hd_buf_free(&b);
    rd_kafka_destroy(rk);
    hd_serde_destroy(sd);
}

static void produce_requests(void)
{
    produce_generation("req", N_REQUESTS, 0);
}

/* Runs the requests sub-topology until at least `records` records were committed and
 * `skipped` requests skipped, and then until no record has come for `settle_ms` (the mock
 * cluster does not keep transactional offsets, so a new task may read the topic again). */
static struct hd_task_stats run_task(uint64_t records, uint64_t skipped, int settle_ms)
{
    static const char *const subs[] = {"requests", NULL};
    char err[512];
    struct hd_task *t = hd_task_new(&cfg, tables, "rt", subs, err, sizeof(err));
    cr_assert_not_null(t, "%s", err);
    struct hd_task_stats st = {0};
    int64_t deadline = hd_mono_us() + 90 * 1000000LL, last = hd_mono_us();
    while (hd_mono_us() < deadline) {
        int n = hd_task_poll(t, err, sizeof(err));
        cr_assert_geq(n, 0, "%s", err);
        hd_task_stats(t, &st);
        if (n > 0)
            last = hd_mono_us();
        if (st.records >= records && st.skipped >= skipped &&
            hd_mono_us() - last >= settle_ms * 1000LL)
            break;
    }
    hd_task_destroy(t);
    cr_assert_geq(st.records, records, "committed %llu of %llu", (unsigned long long)st.records,
                  (unsigned long long)records);
    cr_assert_geq(st.skipped, skipped, "skipped %llu of %llu", (unsigned long long)st.skipped,
                  (unsigned long long)skipped);
    return st;
}

/* Runs the requests sub-topology until every input is committed. */
static struct hd_task_stats run_until_done(void)
{
    struct hd_task_stats st = run_task(N_REQUESTS, 0, 0);
    cr_assert_eq(st.records, N_REQUESTS, "committed %llu of %d", (unsigned long long)st.records,
                 N_REQUESTS);
    return st;
}

/* Injects `cnt` (error, response delay) pairs for one request type on the broker. */
static void push_broker_errors(int16_t api, size_t cnt, const rd_kafka_resp_err_t *errs,
                               const int *rtts)
{
    rd_kafka_mock_cluster_t *mc = hd_mock_cluster(mock);
    for (size_t i = 0; i < cnt; i++)
        cr_assert_eq(rd_kafka_mock_broker_push_request_error_rtts(mc, MOCK_BROKER, api, 1,
                                                                  errs[i], rtts[i]),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* Every injected error was answered to some request (the client met it and went on). */
static void assert_injected_errors_served(int16_t api, const char *what)
{
    size_t left = 99;
    cr_assert_eq(rd_kafka_mock_broker_error_stack_cnt(hd_mock_cluster(mock), MOCK_BROKER, api,
                                                      &left),
                 RD_KAFKA_RESP_ERR_NO_ERROR);
    cr_expect_eq(left, 0, "%zu injected %s errors were never served", left, what);
}

typedef void(status_fn)(void *opaque, const struct hd_status_event *ev);

/* Calls fn for every StatusEvent on `topic`, reading each partition to its end. */
static void scan_statuses(const char *topic, status_fn *fn, void *opaque)
{
    char err[512];
    struct hd_serde *sd = hd_serde_new(err, sizeof(err));
    rd_kafka_t *rk = hd_kafka_consumer_new(&cfg, "rt-check", err, sizeof(err));
    cr_assert(sd && rk, "%s", err);
    int64_t end[8] = {0}, next[8] = {0};
    cr_assert_leq(cfg.partitions, 8);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(cfg.partitions);
    for (int p = 0; p < cfg.partitions; p++) {
        int64_t lo;
        cr_assert_eq(rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &end[p], 10000),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
        next[p] = lo;
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    struct hd_status_event ev;
    memset(&ev, 0, sizeof(ev));
    int64_t deadline = hd_mono_us() + 30 * 1000000LL;
    for (;;) {
        int done = 1;
        for (int p = 0; p < cfg.partitions; p++)
            done &= next[p] >= end[p];
        if (done || hd_mono_us() > deadline)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (!m->err && m->partition < cfg.partitions) {
            next[m->partition] = m->offset + 1;
            cr_assert_eq(hd_status_event_decode(sd, m->payload, m->len, &ev, err, sizeof(err)), 0,
                         "%s", err);
            fn(opaque, &ev);
        }
        rd_kafka_message_destroy(m);
    }
    hd_status_event_clear(&ev);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    hd_serde_destroy(sd);
    for (int p = 0; p < cfg.partitions; p++)
        cr_assert_geq(next[p], end[p], "%s[%d]: read to %lld of %lld", topic, p,
                      (long long)next[p], (long long)end[p]);
}

/* Which of "<prefix>-<i>" (i < N_REQUESTS) have a status, and how many statuses each. */
struct seen {
    const char *prefix;
    int count[N_REQUESTS];
    int distinct;
    char reason[N_REQUESTS][128]; /* the last status's "code: reason" */
};

static void note_status(void *opaque, const struct hd_status_event *ev)
{
    struct seen *sn = opaque;
    char fmt[40];
    int i, n = 0;
    snprintf(fmt, sizeof(fmt), "%s-%%d%%n", sn->prefix);
    if (sscanf(ev->request_id, fmt, &i, &n) != 1 || ev->request_id[n] || i < 0 ||
        i >= N_REQUESTS)
        return;
    if (!sn->count[i]++)
        sn->distinct++;
    snprintf(sn->reason[i], sizeof(sn->reason[i]), "%s: %s",
             ev->reason_code ? ev->reason_code : "-", ev->reason ? ev->reason : "-");
}

/* Every request has at least one QUEUED status (nothing lost). */
static void assert_nothing_lost(void)
{
    static struct seen sn;
    memset(&sn, 0, sizeof(sn));
    sn.prefix = "req";
    scan_statuses(HD_TOPIC_QUEUED, note_status, &sn);
    cr_assert_eq(sn.distinct, N_REQUESTS, "%d of %d requests have a QUEUED status", sn.distinct,
                 N_REQUESTS);
}

TestSuite(runtime, .init = setup, .fini = teardown, .timeout = 120);

Test(runtime, processes_everything_without_injected_errors)
{
    produce_requests();
    struct hd_task_stats st = run_until_done();
    cr_expect_eq(st.aborts, 0);
    cr_expect_eq(st.reinits, 0);
    cr_expect_eq(st.dead_letters, 0);
    assert_nothing_lost();
}

Test(runtime, a_failed_delivery_aborts_the_batch_and_it_is_reprocessed)
{
    produce_requests();
    /* a non-retriable produce error fails delivery: commit is abortable */
    rd_kafka_mock_push_request_errors(hd_mock_cluster(mock), API_PRODUCE, 2,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    struct hd_task_stats st = run_until_done();
    cr_expect_geq(st.aborts, 1, "no abort was taken");
    assert_nothing_lost();
}

Test(runtime, a_fenced_producer_is_recreated_and_the_batch_reprocessed)
{
    produce_requests();
    /* PRODUCER_FENCED on EndTxn is fatal for the producer: the task must make a new one */
    rd_kafka_mock_push_request_errors(hd_mock_cluster(mock), API_END_TXN, 1,
                                      RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
    struct hd_task_stats st = run_until_done();
    cr_expect_geq(st.reinits, 1, "the producer was not re-created");
    assert_nothing_lost();
}

Test(runtime, an_abortable_error_adding_partitions_is_recovered)
{
    produce_requests();
    rd_kafka_mock_push_request_errors(hd_mock_cluster(mock), API_ADD_PARTITIONS_TO_TXN, 1,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    struct hd_task_stats st = run_until_done();
    cr_expect_geq(st.aborts, 1, "no abort was taken");
    assert_nothing_lost();
}

Test(runtime, transaction_coordinator_errors_are_retried_and_nothing_is_lost)
{
    produce_requests();
    /* retriable coordinator errors: librdkafka re-finds the coordinator and retries inside
     * the call, so the task need not abort; what must hold is that every injected error
     * was met by a request and the run still completed */
    const int no_delay[2] = {0, 0};
    const rd_kafka_resp_err_t find[] = {RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
                                        RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE};
    const rd_kafka_resp_err_t add_offsets[] = {RD_KAFKA_RESP_ERR_NOT_COORDINATOR};
    const rd_kafka_resp_err_t offset_commit[] = {RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS};
    const rd_kafka_resp_err_t end_txn[] = {RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
                                           RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE};
    push_broker_errors(API_FIND_COORDINATOR, 2, find, no_delay);
    push_broker_errors(API_ADD_OFFSETS_TO_TXN, 1, add_offsets, no_delay);
    push_broker_errors(API_TXN_OFFSET_COMMIT, 1, offset_commit, no_delay);
    push_broker_errors(API_END_TXN, 2, end_txn, no_delay);
    struct hd_task_stats st = run_until_done();
    assert_injected_errors_served(API_FIND_COORDINATOR, "FindCoordinator");
    assert_injected_errors_served(API_ADD_OFFSETS_TO_TXN, "AddOffsetsToTxn");
    assert_injected_errors_served(API_TXN_OFFSET_COMMIT, "TxnOffsetCommit");
    assert_injected_errors_served(API_END_TXN, "EndTxn");
    cr_expect_eq(st.dead_letters, 0);
    assert_nothing_lost();
}

/* A response delayed past HERALD_TXN_TIMEOUT_MS makes the call time out. The task must
 * treat the transaction as failed and rewind, never carry on: librdkafka makes a timed-out
 * TxnOffsetCommit abortable (abort, same producer), while a timed-out EndTxn leaves the
 * outcome unknown, so the producer must be re-created (init_transactions fences and settles
 * the old transaction). The task's stats tell which path it took. */
static void assert_timeout_recovered(int16_t api, const char *what, int reinit)
{
    cfg.txn_timeout_ms = 2000;
    produce_requests();
    const rd_kafka_resp_err_t ok[] = {RD_KAFKA_RESP_ERR_NO_ERROR};
    const int late[] = {cfg.txn_timeout_ms + 2000};
    push_broker_errors(api, 1, ok, late);
    struct hd_task_stats st = run_until_done();
    assert_injected_errors_served(api, what);
    cr_expect_geq(st.aborts, 1, "the timed-out %s was not treated as a failed transaction", what);
    if (reinit) {
        cr_expect_geq(st.unknown_outcomes, 1, "the timed-out %s was not taken as an unknown "
                      "outcome (abortable %llu)", what, (unsigned long long)st.abortable);
        cr_expect_geq(st.reinits, 1, "the producer was not re-created after %s timed out",
                      what);
    } else {
        cr_expect_geq(st.abortable, 1, "the timed-out %s was not taken as abortable "
                      "(unknown outcomes %llu)", what, (unsigned long long)st.unknown_outcomes);
        cr_expect_eq(st.reinits, 0, "the producer was re-created after an abortable %s", what);
    }
    cr_expect_eq(st.dead_letters, 0);
    assert_nothing_lost();
}

Test(runtime, a_commit_that_times_out_recreates_the_producer_and_nothing_is_lost)
{
    assert_timeout_recovered(API_END_TXN, "EndTxn", 1);
}

Test(runtime, an_offset_commit_that_times_out_aborts_the_batch_and_nothing_is_lost)
{
    assert_timeout_recovered(API_TXN_OFFSET_COMMIT, "TxnOffsetCommit", 0);
}

/* ---- a corrupt state directory ---- */

static void store_path(int32_t partition, char *out, size_t out_size)
{
    snprintf(out, out_size, "%s/%s-rt/%s/dedup-%d", cfg.state_dir, cfg.app_id, cfg.instance_id,
             partition);
}

static void garble(const char *file, size_t size)
{
    FILE *f = fopen(file, "wb");
    cr_assert_not_null(f, "%s", file);
    for (size_t i = 0; i < size; i++)
        fputc((int)(i * 131 % 251) + 1, f);
    cr_assert_eq(fclose(f), 0);
}

/* Partition 0 gets a garbled CURRENT, partition 1 garbled MANIFESTs; both get a marker
 * file that only a wipe removes. */
static void corrupt_stores(void)
{
    char dir[512], file[1024];
    for (int32_t p = 0; p < cfg.partitions; p++) {
        store_path(p, dir, sizeof(dir));
        cr_assert_eq(access(dir, F_OK), 0, "no store at %s", dir);
        snprintf(file, sizeof(file), "%s/herald-test-marker", dir);
        garble(file, 8);
        if (p == 0) {
            snprintf(file, sizeof(file), "%s/CURRENT", dir);
            garble(file, 40);
            continue;
        }
        DIR *d = opendir(dir);
        cr_assert_not_null(d);
        int found = 0;
        for (struct dirent *e; (e = readdir(d)) != NULL;)
            if (!strncmp(e->d_name, "MANIFEST-", 9)) {
                snprintf(file, sizeof(file), "%s/%s", dir, e->d_name);
                garble(file, 4096);
                found++;
            }
        closedir(d);
        cr_assert_gt(found, 0, "no MANIFEST in %s", dir);
    }
}

/* Live entries of every partition's dedup store, opened directly (the task is gone). */
static size_t count_entries(void)
{
    char dir[512], marker[600], err[512];
    size_t n = 0;
    for (int32_t p = 0; p < cfg.partitions; p++) {
        store_path(p, dir, sizeof(dir));
        snprintf(marker, sizeof(marker), "%s/herald-test-marker", dir);
        cr_expect_neq(access(marker, F_OK), 0, "store %d was not wiped", p);
        struct hd_store *st = hd_store_open(dir, err, sizeof(err));
        cr_assert_not_null(st, "store %d after restore: %s", p, err);
        cr_expect_geq(hd_store_applied_offset(st), 0, "store %d restored no offset", p);
        struct hd_store_iter *it = hd_store_iter_prefix(st, "", 0, hd_now_ms(), err, sizeof(err));
        cr_assert_not_null(it, "%s", err);
        const void *k, *v;
        size_t kl, vl;
        while (hd_store_iter_next(it, &k, &kl, &v, &vl) == 1)
            n++;
        hd_store_iter_destroy(it);
        hd_store_close(st);
    }
    return n;
}

Test(runtime, a_corrupt_store_is_wiped_restored_from_its_changelog_and_still_finds_repeats)
{
    produce_requests();
    run_until_done();
    assert_nothing_lost();
    corrupt_stores();

    /* the same requests again under new ids: every one must be found in the restored state */
    produce_generation("dup", N_REPEATS, 1);
    struct hd_task_stats st = run_task(N_REPEATS, N_REPEATS, 2000);
    /* the mock keeps no transactional offsets, so the originals may be read again: they
     * too must be found in the restored state, not processed as new */
    cr_expect_eq(st.skipped, st.records, "%llu of %llu records were processed as new",
                 (unsigned long long)(st.records - st.skipped), (unsigned long long)st.records);
    cr_expect_eq(st.aborts, 0);
    cr_expect_eq(st.dead_letters, 0);
    cr_expect_eq(count_entries(), N_REQUESTS, "the restored stores lack entries");

    static struct seen skipped, queued;
    memset(&skipped, 0, sizeof(skipped));
    memset(&queued, 0, sizeof(queued));
    skipped.prefix = queued.prefix = "dup";
    scan_statuses(HD_TOPIC_SKIPPED, note_status, &skipped);
    scan_statuses(HD_TOPIC_QUEUED, note_status, &queued);
    cr_expect_eq(queued.distinct, 0, "%d repeats were queued as new", queued.distinct);
    cr_expect_eq(skipped.distinct, N_REPEATS, "%d of %d repeats skipped", skipped.distinct,
                 N_REPEATS);
    for (int i = 0; i < N_REPEATS; i++) {
        char rid[32], first[HD_UUID_STRLEN], want[128];
        snprintf(rid, sizeof(rid), "req-%d", i);
        hd_notification_id(rid, "IN_APP", first);
        snprintf(want, sizeof(want), "duplicate: duplicate of notification %s (request %s)",
                 first, rid);
        cr_expect_str_eq(skipped.reason[i], want, "dup-%d (%s)", i,
                         i % 3 == 0 ? "same idempotency key" : "same derived key");
    }
}

/* ---- a held request keeps its source headers ---- */

static const unsigned char held_bin[] = {0xff, 0x00, 0xfe};

/* One IN_APP request for a template no tenant has, due `delay_ms` from now, with a
 * traceparent, a binary header and a null one. Returns its due time and its value
 * bytes in *value. */
static int64_t produce_held_request(int64_t delay_ms, struct hd_buf *value)
{
    char err[512];
    struct hd_serde *sd = hd_serde_new(err, sizeof(err));
    rd_kafka_t *rk = hd_kafka_producer_new(&cfg, NULL, err, sizeof(err));
    cr_assert(sd && rk, "%s", err);
    enum hd_channel ch = HD_CH_IN_APP;
    struct hd_template_ref tpl = {"no-such-template", 0, 0, NULL};
    struct hd_request r;
    memset(&r, 0, sizeof(r));
    r.request_id = "held-0";
    r.tenant_id = "t";
    r.user_id = "u0";
    r.channels = &ch;
    r.channel_cnt = 1;
    r.template_ref = &tpl;
    r.variables_json = "{}";
    r.has_scheduled_at = 1;
    r.scheduled_at = hd_now_ms() + delay_ms;
    r.created_at = hd_now_ms();
    cr_assert_eq(hd_request_encode(sd, &r, value, err, sizeof(err)), 0, "%s", err);
    rd_kafka_headers_t *h = rd_kafka_headers_new(3);
    rd_kafka_header_add(h, "traceparent", -1,
                        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", -1);
    rd_kafka_header_add(h, "e2e-bin", -1, held_bin, sizeof(held_bin));
    rd_kafka_header_add(h, "e2e-null", -1, NULL, 0);
    cr_assert_eq(hd_kafka_produce_sync(rk, HD_TOPIC_REQUESTS, "u0", 2, value->data, value->len,
                                       h, NULL, NULL, err, sizeof(err)),
                 0, "%s", err);
    rd_kafka_destroy(rk);
    hd_serde_destroy(sd);
    return r.scheduled_at;
}

/* Reads the first dead letter on the DLQ (decoded into *dl, caller clears). */
static void read_dead_letter(struct hd_dead_letter *dl)
{
    char err[512];
    struct hd_serde *sd = hd_serde_new(err, sizeof(err));
    rd_kafka_t *rk = hd_kafka_consumer_new(&cfg, "rt-dlq", err, sizeof(err));
    cr_assert(sd && rk, "%s", err);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(cfg.partitions);
    for (int p = 0; p < cfg.partitions; p++)
        rd_kafka_topic_partition_list_add(l, HD_TOPIC_DLQ, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    int found = 0;
    for (int64_t deadline = hd_mono_us() + 20 * 1000000LL; !found && hd_mono_us() < deadline;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m && !m->err) {
            cr_assert_eq(hd_dead_letter_decode(sd, m->payload, m->len, dl, err, sizeof(err)), 0,
                         "%s", err);
            found = 1;
        }
        if (m)
            rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    hd_serde_destroy(sd);
    cr_assert(found, "no dead letter on %s", HD_TOPIC_DLQ);
}

/* Polls t until it has dead-lettered something (at most 30 s), then `more_ms` longer,
 * destroys it, requires exactly one dead letter and reads it into *dl (caller clears). */
static void only_dead_letter(struct hd_task *t, int more_ms, struct hd_dead_letter *dl)
{
    char err[512];
    struct hd_task_stats st = {0};
    for (int64_t deadline = hd_mono_us() + 30 * 1000000LL;
         !st.dead_letters && hd_mono_us() < deadline;) {
        cr_assert_geq(hd_task_poll(t, err, sizeof(err)), 0, "%s", err);
        hd_task_stats(t, &st);
    }
    for (int64_t until = hd_mono_us() + more_ms * 1000LL; hd_mono_us() < until;)
        cr_assert_geq(hd_task_poll(t, err, sizeof(err)), 0, "%s", err);
    hd_task_stats(t, &st);
    hd_task_destroy(t);
    cr_assert_eq(st.dead_letters, 1, "dead letters: %llu", (unsigned long long)st.dead_letters);
    memset(dl, 0, sizeof(*dl));
    read_dead_letter(dl);
}

Test(runtime, a_held_request_that_fails_at_release_is_dead_lettered_with_its_source_headers)
{
    struct hd_buf value = HD_BUF_INIT;
    /* far enough ahead that the task (group join on the mock takes seconds) holds it */
    int64_t due = produce_held_request(8000, &value);
    static const char *const subs[] = {"requests", NULL};
    char err[512];
    struct hd_task *t = hd_task_new(&cfg, tables, "rt", subs, err, sizeof(err));
    cr_assert_not_null(t, "%s", err);
    struct hd_dead_letter dl;
    only_dead_letter(t, 0, &dl);
    cr_expect_str_eq(dl.processor, "render");
    cr_assert_geq(dl.failed_at, due, "dead-lettered %lld ms before its time: it was not held",
                  (long long)(due - dl.failed_at));
    cr_expect_str_eq(dl.source_topic, HD_TOPIC_REQUESTS);
    cr_assert_eq(dl.value_len, value.len);
    cr_expect_eq(memcmp(dl.value, value.data, value.len), 0, "value bytes changed");
    cr_assert(dl.key_len == 2 && !memcmp(dl.key, "u0", 2), "key changed");
    cr_assert_eq(dl.header_cnt, 3, "headers: %zu", dl.header_cnt);
    cr_expect_str_eq(dl.headers[0].key, "traceparent");
    cr_expect_str_eq(dl.headers[1].key, "e2e-bin");
    cr_expect(dl.headers[1].value_len == sizeof(held_bin) &&
                  !memcmp(dl.headers[1].value, held_bin, sizeof(held_bin)),
              "binary header changed");
    cr_expect_str_eq(dl.headers[2].key, "e2e-null");
    cr_expect_null(dl.headers[2].value, "a null header became a value");
    hd_dead_letter_clear(&dl);
    hd_buf_free(&value);
}

/* A timer this binary cannot read (here a value of format 9, as a newer binary might
 * write before a rollback) is restored with the store, and when due it is dead-lettered
 * with its key and value bytes as stored and reason unreadable_timer, not dropped; and
 * its deletion reaches the changelog, so a task restoring from it (local state wiped)
 * does not dead-letter it again. (The mock cluster does not enforce transactions, so
 * that the two commit together is the crash test's to prove.) */
Test(runtime, an_unreadable_timer_is_dead_lettered_whole_when_due)
{
    static const char *const subs[] = {"requests", NULL};
    char err[512];
    struct hd_task *t = hd_task_new(&cfg, tables, "rt", subs, err, sizeof(err));
    cr_assert_not_null(t, "%s", err);
    /* due a second ago; restored from the changelog when the task gets its partition */
    unsigned char key[8 + 5], val[64];
    uint64_t due = (uint64_t)(hd_now_ms() - 1000);
    for (int i = 0; i < 8; i++)
        key[i] = (unsigned char)(due >> (56 - 8 * i));
    memcpy(key + 8, "bad-0", 5);
    for (size_t i = 0; i < sizeof(val); i++)
        val[i] = (unsigned char)(i * 37 + 9);
    val[0] = 9;
    /* a changelog value is the store's 8-byte expiry header (0: none), then the value */
    unsigned char logged[8 + sizeof(val)] = {0};
    memcpy(logged + 8, val, sizeof(val));
    rd_kafka_t *rk = hd_kafka_producer_new(&cfg, NULL, err, sizeof(err));
    cr_assert_not_null(rk, "%s", err);
    int32_t part = -1;
    cr_assert_eq(hd_kafka_produce_sync(rk, "herald-rt-timers-changelog", key, sizeof(key), logged,
                                       sizeof(logged), NULL, &part, NULL, err, sizeof(err)),
                 0, "%s", err);
    rd_kafka_destroy(rk);

    /* and a few more seconds of punctuation: the timer must be gone, not released again */
    struct hd_dead_letter dl;
    only_dead_letter(t, 2000, &dl);
    cr_expect_str_eq(dl.processor, "schedule");
    cr_expect_str_eq(dl.error_code, "unreadable_timer");
    cr_expect(strstr(dl.error, "unknown format") != NULL, "error: %s", dl.error);
    cr_expect_str_eq(dl.source_topic, "herald-rt-timers-changelog");
    cr_expect_eq(dl.source_partition, part);
    cr_expect_eq(dl.source_offset, -1);
    cr_assert(dl.key_len == sizeof(key) && !memcmp(dl.key, key, sizeof(key)), "key changed");
    cr_assert(dl.value_len == sizeof(val) && !memcmp(dl.value, val, sizeof(val)),
              "value changed");
    cr_expect_eq(dl.header_cnt, 0, "headers: %zu", dl.header_cnt);
    hd_dead_letter_clear(&dl);

    cr_assert_eq(hd_store_wipe(cfg.state_dir, err, sizeof(err)), 0, "%s", err);
    t = hd_task_new(&cfg, tables, "rt", subs, err, sizeof(err));
    cr_assert_not_null(t, "%s", err);
    struct hd_task_stats again = {0};
    for (int64_t until = hd_mono_us() + 8 * 1000000LL; hd_mono_us() < until;) {
        cr_assert_geq(hd_task_poll(t, err, sizeof(err)), 0, "%s", err);
        hd_task_stats(t, &again);
        if (again.dead_letters)
            break;
    }
    hd_task_destroy(t);
    cr_expect_eq(again.dead_letters, 0, "the timer came back from the changelog");
}
