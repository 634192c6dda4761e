/*
 * The task loop's recovery paths under injected broker errors, on
 * librdkafka's in-process mock cluster. The mock does not enforce
 * transactions, so these tests prove only that the client paths run and
 * nothing is lost (every request still gets its QUEUED status); exactly-once
 * is proven on a real broker by tests/crash/run.
 */
#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/kafka.h"
#include "core/log.h"
#include "core/time.h"
#include "processors/runtime.h"
#include "processors/tables.h"
#include "schemas/serde.h"
#include "state/store.h"

/* Kafka protocol API keys (not in librdkafka's public headers). */
#define API_PRODUCE 0
#define API_FIND_COORDINATOR 10
#define API_ADD_PARTITIONS_TO_TXN 24
#define API_ADD_OFFSETS_TO_TXN 25
#define API_END_TXN 26
#define API_TXN_OFFSET_COMMIT 28

#define N_REQUESTS 300

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

/* N_REQUESTS IN_APP requests with request ids "req-<i>". */
static void produce_requests(void)
{
    char err[512];
    struct hd_serde *sd = hd_serde_new(err, sizeof(err));
    rd_kafka_t *rk = hd_kafka_producer_new(&cfg, NULL, err, sizeof(err));
    cr_assert(sd && rk, "%s", err);
    enum hd_channel ch = HD_CH_IN_APP;
    struct hd_content content = {NULL, "hello", NULL, "Hi", {NULL, 0}};
    struct hd_buf b = HD_BUF_INIT;
    for (int i = 0; i < N_REQUESTS; i++) {
        char rid[32], user[32], vars[32];
        snprintf(rid, sizeof(rid), "req-%d", i);
        snprintf(vars, sizeof(vars), "{\"i\": %d}", i); /* distinct, or dedup drops them */
        snprintf(user, sizeof(user), "u%d", i % 7);
        struct hd_request r;
        memset(&r, 0, sizeof(r));
        r.request_id = rid;
        r.tenant_id = "t";
        r.user_id = user;
        r.channels = &ch;
        r.channel_cnt = 1;
        r.content = &content;
        r.variables_json = vars;
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

/* Runs the requests sub-topology until every input is committed. */
static struct hd_task_stats run_until_done(void)
{
    static const char *const subs[] = {"requests", NULL};
    char err[512];
    struct hd_task *t = hd_task_new(&cfg, tables, "rt", subs, err, sizeof(err));
    cr_assert_not_null(t, "%s", err);
    struct hd_task_stats st = {0};
    int64_t deadline = hd_mono_us() + 90 * 1000000LL;
    while (st.records < N_REQUESTS && hd_mono_us() < deadline) {
        cr_assert_geq(hd_task_poll(t, err, sizeof(err)), 0, "%s", err);
        hd_task_stats(t, &st);
    }
    hd_task_destroy(t);
    cr_assert_eq(st.records, N_REQUESTS, "committed %llu of %d", (unsigned long long)st.records,
                 N_REQUESTS);
    return st;
}

/* Every request has at least one QUEUED status (nothing lost). */
static void assert_nothing_lost(void)
{
    char err[512];
    struct hd_serde *sd = hd_serde_new(err, sizeof(err));
    rd_kafka_t *rk = hd_kafka_consumer_new(&cfg, "rt-check", err, sizeof(err));
    cr_assert(sd && rk, "%s", err);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2);
    for (int p = 0; p < cfg.partitions; p++)
        rd_kafka_topic_partition_list_add(l, HD_TOPIC_QUEUED, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    static unsigned char seen[N_REQUESTS];
    memset(seen, 0, sizeof(seen));
    int distinct = 0;
    int64_t deadline = hd_mono_us() + 30 * 1000000LL;
    struct hd_status_event ev;
    memset(&ev, 0, sizeof(ev));
    while (distinct < N_REQUESTS && hd_mono_us() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        int i;
        if (!m->err && hd_status_event_decode(sd, m->payload, m->len, &ev, err, sizeof(err)) == 0 &&
            sscanf(ev.request_id, "req-%d", &i) == 1 && i >= 0 && i < N_REQUESTS && !seen[i]++)
            distinct++;
        rd_kafka_message_destroy(m);
    }
    hd_status_event_clear(&ev);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    hd_serde_destroy(sd);
    cr_assert_eq(distinct, N_REQUESTS, "%d of %d requests have a QUEUED status", distinct,
                 N_REQUESTS);
}

TestSuite(runtime, .init = setup, .fini = teardown, .timeout = 120);

Test(runtime, processes_everything_without_injected_errors)
{
    produce_requests();
    struct hd_task_stats st = run_until_done();
    cr_expect_eq(st.aborts, 0);
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
    rd_kafka_mock_cluster_t *mc = hd_mock_cluster(mock);
    rd_kafka_mock_push_request_errors(mc, API_FIND_COORDINATOR, 2,
                                      RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
                                      RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE);
    rd_kafka_mock_push_request_errors(mc, API_ADD_OFFSETS_TO_TXN, 1,
                                      RD_KAFKA_RESP_ERR_NOT_COORDINATOR);
    rd_kafka_mock_push_request_errors(mc, API_TXN_OFFSET_COMMIT, 1,
                                      RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS);
    rd_kafka_mock_push_request_errors(mc, API_END_TXN, 2, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
                                      RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE);
    run_until_done();
    assert_nothing_lost();
}
