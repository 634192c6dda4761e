/*
 * herald bench [--requests N] [--latency-requests M] [--rate R]: measures, in
 * one run on the broker at HERALD_BROKERS,
 *  (a) a plain transactional pass-through: consume notification.requests and
 *      produce the same bytes, same batching and transactions as the pipeline;
 *  (b) the pipeline (validate -> dedup -> enrich -> prefs -> schedule -> render, then
 *      dispatch) on the same N requests, dedup on: every request carries a new
 *      idempotency key, so each one is a store lookup plus a changelogged write; requests
 *      go to --users U users (default 5000), so with --user-service URL enrich's cache
 *      answers all but the first request of each user;
 *  (b0) the same without enrich and prefs (sub-topology requests_core);
 * (b0) and (b) run alternately twice each on the same input; prints the best requests/s of
 * each, their ratios, and the process CPU per request of each;
 *  (b') the same pipeline with HERALD_PROCESSING=at_least_once on the same N
 *      requests, and exactly-once's throughput as a fraction of it; then
 *  (c) request -> SENT latency: M requests produced at R/s while the pipeline
 *      runs, each timed from its created_at to the moment a read_committed
 *      consumer sees its SENT status; prints p50/p99;
 *  (d) with --user-service URL (tests/peers/user_service.py), a cold cache: N/5 requests
 *      to users never seen, the service answering each call after 50 ms: requests/s and
 *      User Service calls per 1,000 requests (from the peer's counters).
 * Prints figures; asserts nothing. Uses a fresh app id per run so consumer
 * groups start at the current end of the input topic. `herald bench state`
 * (cmd/bench_state.c) and `herald bench templates` are separate runs.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "connectors/kafka.h"
#include "core/log.h"
#include "core/time.h"
#include "core/uuid.h"
#include "processors/runtime.h"
#include "processors/topology.h"
#include "schemas/serde.h"
#include "tables/tables.h"

static const char bench_config[] = "{\"tenants\": [{\"tenant_id\": \"bench\"}]}";

/* The input topics of the pipeline (the requests and dispatch topics of the catalogue),
 * NULL-terminated: a new group must start at their current end. */
static const char *const *bench_inputs(void)
{
    static const char *names[2 * HD_INPUTS_MAX + 1];
    size_t n = hd_topics_of(HD_ROLE_REQUEST, names, HD_INPUTS_MAX);
    hd_topics_of(HD_ROLE_DISPATCH, names + n, HD_ARRAY_SIZE(names) - n);
    return names;
}
static const char *const bench_sent[] = {HD_TOPIC_SENT, NULL};
static const struct hd_topic_spec bench_out = {HD_TOPIC_PASSTHROUGH_OUT, 0};

/* Commits `group`'s offsets (group = "<app_id>-<name>") at the current end of every
 * partition of `topics`. */
static int start_group_at_end(const struct hd_config *cfg, const char *name,
                              const char *const *topics, char *err, size_t n)
{
    char group[128];
    snprintf(group, sizeof(group), "%s-%s", cfg->app_id, name);
    rd_kafka_t *rk = hd_kafka_consumer_new(cfg, group, err, n);
    if (!rk)
        return -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(cfg->partitions);
    int rc = 0;
    for (const char *const *tp = topics; *tp && rc == 0; tp++)
    for (int p = 0; p < cfg->partitions && rc == 0; p++) {
        const char *topic = *tp;
        int64_t lo, hi;
        rd_kafka_resp_err_t e;
        /* topics created moments ago may not have a leader yet */
        for (int tries = 0; tries < 50; tries++) {
            e = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
            if (e != RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION &&
                e != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE &&
                e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                break;
            usleep(200 * 1000);
        }
        if (e)
            rc = hd_seterr(-1, err, n, "watermarks %s[%d]: %s", topic, p, rd_kafka_err2str(e));
        else
            rd_kafka_topic_partition_list_add(l, topic, p)->offset = hi;
    }
    if (rc == 0) {
        rd_kafka_resp_err_t e = rd_kafka_commit(rk, l, 0);
        if (e)
            rc = hd_seterr(-1, err, n, "commit start offsets: %s", rd_kafka_err2str(e));
    }
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return rc;
}

void hd__bench_req_init(struct hd__bench_req *b, const char *tenant)
{
    memset(b, 0, sizeof(*b));
    b->ch = HD_CH_EMAIL;
    b->content.subject = "Your order";
    b->content.text = "Thanks for your order. It ships tomorrow.";
    b->content.title = "Order confirmed";
    b->rcpt.email = "someone@example.com";
    b->r.tenant_id = (char *)tenant;
    b->r.channels = &b->ch;
    b->r.channel_cnt = 1;
    b->r.category = HD_CAT_TRANSACTIONAL;
    b->r.priority = HD_PRIO_NORMAL;
    b->r.content = &b->content;
    b->r.variables_json = "{}";
    b->r.recipient = &b->rcpt;
}

/* Produces `count` EMAIL requests for tenant "bench", created_at = now, at `rate`/s
 * (0 = as fast as possible). */
static size_t bench_body(char *p, size_t sz, size_t n, void *ud)
{
    hd_buf_append(ud, p, sz * n);
    return sz * n;
}

static long bench_users = 5000;      /* distinct users the requests go to */
static const char *bench_user_prefix = "user";

static int produce_requests(const struct hd_config *cfg, struct hd_serde *sd, long count,
                            long rate, char *err, size_t n)
{
    rd_kafka_t *rk = hd_kafka_producer_new(cfg, NULL, err, n);
    if (!rk)
        return -1;
    struct hd__bench_req req;
    hd__bench_req_init(&req, "bench");
    struct hd_request *r = &req.r;
    struct hd_buf b = HD_BUF_INIT;
    int rc = 0;
    int64_t start = hd_mono_us();
    for (long i = 0; i < count && rc == 0; i++) {
        char u[HD_UUID_STRLEN], rid[64], user[32], key[64];
        hd_uuid_v4(u);
        r->created_at = hd_now_ms();
        /* the creation time leads the id, so the latency phase needs no lookup table */
        snprintf(rid, sizeof(rid), "%lld-%s", (long long)r->created_at, u);
        snprintf(user, sizeof(user), "%s-%ld", bench_user_prefix, i % bench_users);
        snprintf(key, sizeof(key), "bench/%s", user);
        r->request_id = rid;
        r->user_id = user;
        /* every request is distinct: dedup looks each key up and stores it, as it would
         * for upstream services that send idempotency keys */
        r->idempotency_key = rid;
        hd_buf_reset(&b);
        if (hd_request_encode(sd, r, &b, err, n)) {
            rc = -1;
            break;
        }
        rd_kafka_resp_err_t e = hd_kafka_produce(rk, HD_TOPIC_REQUESTS, RD_KAFKA_PARTITION_UA, key,
                                                 strlen(key), b.data, b.len, NULL, NULL);
        if (e)
            rc = hd_seterr(-1, err, n, "produce: %s", rd_kafka_err2str(e));
        rd_kafka_poll(rk, 0);
        if (rate > 0) {
            int64_t due = start + (int64_t)((i + 1) * 1000000.0 / (double)rate);
            int64_t now = hd_mono_us();
            if (due > now)
                usleep((useconds_t)(due - now));
        }
    }
    if (rd_kafka_flush(rk, 60000) && rc == 0)
        rc = hd_seterr(-1, err, n, "flush timed out");
    hd_buf_free(&b);
    rd_kafka_destroy(rk);
    return rc;
}

/* Process CPU seconds (every thread: the task's and its clients'), for CPU per request. */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static double last_cpu; /* CPU seconds of the last drain, from its first committed batch */

/* Runs a task over pre-loaded input until it has committed `target` records; sets *rate
 * to records/s and returns the elapsed seconds, or a negative value on error. */
static double drain(const struct hd_config *cfg, const struct hd_tables *tables,
                    const char *group, const char *const *subs, uint64_t target, double *rate,
                    char *err, size_t n)
{
    struct hd_task *t = hd_task_new(cfg, tables, group, subs, err, n);
    if (!t)
        return -1;
    struct hd_task_stats st = {0};
    uint64_t first = 0;
    int64_t start = 0, deadline = hd_mono_us() + 600 * 1000000LL;
    double cpu0 = 0;
    while (st.records < target && hd_mono_us() < deadline) {
        int got = hd_task_poll(t, err, n);
        if (got < 0)
            break;
        hd_task_stats(t, &st);
        if (got > 0 && !start) {
            /* clock starts after the first committed batch: group join and the first
             * fetch are not throughput; that batch's records are left out of the rate */
            start = hd_mono_us();
            first = st.records;
            cpu0 = cpu_seconds();
        }
    }
    double secs = start ? (double)(hd_mono_us() - start) / 1e6 : 0;
    last_cpu = cpu_seconds() - cpu0;
    hd_task_destroy(t);
    if (st.records < target || secs <= 0)
        return hd_seterr(-1, err, n, "%s: only %llu of %llu records in time", group,
                         (unsigned long long)st.records, (unsigned long long)target);
    *rate = (double)(st.records - first) / secs;
    return secs;
}

static volatile sig_atomic_t bench_stop;

struct pipe_thread {
    struct hd_task *task;
    char err[512];
};

static void *pipe_main(void *arg)
{
    struct pipe_thread *p = arg;
    if (hd_task_run(p->task, &bench_stop, p->err, sizeof(p->err)))
        hd_log_error("bench", "pipeline: %s", p->err);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

struct lat_producer {
    const struct hd_config *cfg;
    struct hd_serde *sd;
    long count, rate;
    int rc;
    char err[512];
};

static void *lat_produce_main(void *arg)
{
    struct lat_producer *lp = arg;
    lp->rc = produce_requests(lp->cfg, lp->sd, lp->count, lp->rate, lp->err, sizeof(lp->err));
    return NULL;
}

/* (c): latency from request created_at to SENT seen by a read_committed consumer. */
static int measure_latency(const struct hd_config *cfg, const struct hd_tables *tables, long count,
                           long rate, char *err, size_t n)
{
    static const char *const subs[] = {"requests", "dispatch", NULL};
    if (start_group_at_end(cfg, "lat-watch", bench_sent, err, n))
        return -1;
    struct pipe_thread pt;
    memset(&pt, 0, sizeof(pt));
    if (start_group_at_end(cfg, "lat-pipeline", bench_inputs(), err, n) ||
        !(pt.task = hd_task_new(cfg, tables, "lat-pipeline", subs, err, n)))
        return -1;
    char watch_group[128];
    snprintf(watch_group, sizeof(watch_group), "%s-lat-watch", cfg->app_id);
    rd_kafka_t *watch = hd_kafka_consumer_new(cfg, watch_group, err, n);
    /* the watcher's group was committed at the end of notification.sent above */
    if (!watch) {
        hd_task_destroy(pt.task);
        return -1;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, HD_TOPIC_SENT, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(watch, l);
    rd_kafka_topic_partition_list_destroy(l);
    bench_stop = 0;
    pthread_t th, prod;
    pthread_create(&th, NULL, pipe_main, &pt);
    char e2[512];
    struct hd_serde *sd = hd_serde_new(e2, sizeof(e2));
    /* warm-up: the groups join and the first fetches happen before the clock matters */
    long warmup = 200;
    struct lat_producer lp = {cfg, sd, warmup, rate, 0, ""};
    pthread_create(&prod, NULL, lat_produce_main, &lp);
    int64_t *lat = hd_calloc((size_t)count, sizeof(*lat));
    long seen = 0, phase_target = warmup;
    int measuring = 0;
    int64_t deadline = hd_mono_us() + (count / rate + 120) * 1000000LL;
    struct hd_status_event ev;
    memset(&ev, 0, sizeof(ev));
    while (hd_mono_us() < deadline) {
        if (seen >= phase_target) {
            pthread_join(prod, NULL);
            if (measuring || lp.rc)
                break;
            measuring = 1;
            seen = 0;
            phase_target = count;
            lp.count = count;
            pthread_create(&prod, NULL, lat_produce_main, &lp);
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(watch, 100);
        if (!m)
            continue;
        int64_t now = hd_now_ms();
        if (!m->err && hd_status_event_decode(sd, m->payload, m->len, &ev, e2, sizeof(e2)) == 0 &&
            !strcmp(ev.tenant_id, "bench")) {
            if (measuring)
                lat[seen] = now - strtoll(ev.request_id, NULL, 10);
            seen++;
        }
        rd_kafka_message_destroy(m);
    }
    if (seen < phase_target)
        pthread_join(prod, NULL);
    bench_stop = 1;
    pthread_join(th, NULL);
    hd_status_event_clear(&ev);
    hd_task_destroy(pt.task);
    rd_kafka_consumer_close(watch);
    rd_kafka_destroy(watch);
    hd_serde_destroy(sd);
    int rc = 0;
    if (lp.rc)
        rc = hd_seterr(-1, err, n, "%s", lp.err);
    else if (!measuring || seen < count)
        rc = hd_seterr(-1, err, n, "saw %ld of %ld SENT statuses in time", seen, phase_target);
    if (rc == 0) {
        qsort(lat, (size_t)seen, sizeof(*lat), cmp_i64);
        printf("(c) request -> SENT latency, %ld requests at %ld/s: p50 %lld ms, p99 %lld ms, "
               "max %lld ms\n",
               count, rate, (long long)lat[seen / 2], (long long)lat[(seen * 99) / 100],
               (long long)lat[seen - 1]);
    }
    hd_free(lat);
    return rc;
}

/* The fake User Service's counters (tests/peers/user_service.py): calls of both kinds, or
 * -1. With mode set, posts it first. */
static long peer_calls(const char *url, const char *mode)
{
    CURL *c = curl_easy_init();
    struct hd_buf body = HD_BUF_INIT;
    char *u = hd_asprintf("%s/_control/%s", url, mode ? "mode" : "stats");
    curl_easy_setopt(c, CURLOPT_URL, u);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, bench_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (mode)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, mode);
    long calls = -1;
    if (curl_easy_perform(c) == CURLE_OK && !mode) {
        json_t *o = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
        calls = (long)(json_integer_value(json_object_get(o, "search_calls")) +
                       json_integer_value(json_object_get(o, "get_calls")));
        json_decref(o);
    } else if (mode) {
        calls = 0;
    }
    curl_easy_cleanup(c);
    hd_free(u);
    hd_buf_free(&body);
    return calls;
}

static int usage(int rc)
{
    fprintf(rc ? stderr : stdout,
            "usage: herald bench [--requests N] [--latency-requests M] [--rate R] [--users U]\n"
            "                    [--user-service URL]\n"
            "       herald bench state [--keys N] ...   (restore and start-up with local state)\n"
            "       herald bench templates ...          (template engine vs peers)\n"
            "  On HERALD_BROKERS: (a) transactional pass-through and (b) the pipeline with dedup\n"
            "  on, over the same N pre-loaded requests (default 50000), their requests/s and\n"
            "  ratio; (b0) the pipeline without enrich and prefs; (b') the pipeline\n"
            "  at-least-once, for the cost of exactly-once; (c) request -> SENT latency p50/p99\n"
            "  for M requests (default 5000) produced at R/s (default 1000); (d) with\n"
            "  --user-service (the fake peer), a cold cache with 50 ms calls.\n");
    return rc;
}

int hd_cmd_bench(int argc, char **argv, struct hd_config *cfg)
{
    if (argc > 1 && !strcmp(argv[1], "templates"))
        return hd_cmd_bench_templates(argc - 1, argv + 1, cfg);
    if (argc > 1 && !strcmp(argv[1], "state"))
        return hd_cmd_bench_state(argc - 1, argv + 1, cfg);
    long count = 50000, lat_count = 5000, rate = 1000;
    const char *user_service = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--requests") && i + 1 < argc)
            count = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--latency-requests") && i + 1 < argc)
            lat_count = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--rate") && i + 1 < argc)
            rate = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--users") && i + 1 < argc)
            bench_users = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--user-service") && i + 1 < argc)
            user_service = argv[++i];
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return usage(0);
        else
            return usage(2);
    }
    if (count <= 0 || lat_count <= 0 || rate <= 0 || bench_users <= 0)
        return usage(2);
    if (user_service)
        hd_config_plugin_set(cfg, "enrich.url", user_service);
    if (!cfg->brokers) {
        fprintf(stderr, "herald bench: HERALD_BROKERS is not set (the benchmark needs a real "
                        "broker: tests/bench/run starts one)\n");
        return 2;
    }
    char err[1024], app[64], u[HD_UUID_STRLEN];
    hd_uuid_v4(u);
    snprintf(app, sizeof(app), "bench-%.8s", u);
    hd_config_set(&cfg->app_id, app);
    char outbox[] = "/tmp/herald-bench-XXXXXX";
    if (!mkdtemp(outbox)) {
        fprintf(stderr, "herald bench: mkdtemp failed\n");
        return 1;
    }
    hd_config_plugin_set(cfg, "outbox.dir", outbox);
    char *state = hd_asprintf("%s/state", outbox);
    hd_config_set(&cfg->state_dir, state);
    hd_free(state);
    struct hd_tables *tables = hd_tables_parse(bench_config, err, sizeof(err));
    struct hd_serde *sd = hd_serde_new(err, sizeof(err));
    static const char *const pass[] = {"passthrough", NULL};
    static const char *const pipe[] = {"requests", "dispatch", NULL};
    double pass_rate = 0, pipe_rate = 0;
    int rc = 1;
    if (!tables || !sd || hd_kafka_wait_ready(cfg, 30000, err, sizeof(err)) ||
        hd_kafka_topics_ensure(cfg, err, sizeof(err)) ||
        hd_kafka_topics_create(cfg, &bench_out, 1, err, sizeof(err)) ||
        start_group_at_end(cfg, "passthrough", bench_inputs(), err, sizeof(err)) ||
        start_group_at_end(cfg, "pipeline", bench_inputs(), err, sizeof(err)) ||
        start_group_at_end(cfg, "pipeline-core", bench_inputs(), err, sizeof(err)) ||
        start_group_at_end(cfg, "pipeline-2", bench_inputs(), err, sizeof(err)) ||
        start_group_at_end(cfg, "pipeline-core-2", bench_inputs(), err, sizeof(err)) ||
        start_group_at_end(cfg, "pipeline-alos", bench_inputs(), err, sizeof(err)))
        goto out;
    printf("herald bench: %ld requests (EMAIL to the outbox) to %ld users, %d partitions, batch "
           "%d, broker %s, User Service %s\n", count, bench_users, cfg->partitions,
           cfg->batch_max, cfg->brokers, user_service ? user_service : "none (enrich merges only)");
    fflush(stdout);
    if (produce_requests(cfg, sd, count, 0, err, sizeof(err)))
        goto out;
    if (drain(cfg, tables, "passthrough", pass, (uint64_t)count, &pass_rate, err, sizeof(err)) < 0)
        goto out;
    printf("(a) transactional pass-through: %.0f requests/s\n", pass_rate);
    fflush(stdout);
    /* the pipeline commits each request twice: once in requests, once in dispatch. With
     * and without enrich and prefs, alternately, twice each (the first drain of a run is
     * often the slow one on a shared machine); CPU per request is the steadier figure */
    static const char *const core[] = {"requests_core", "dispatch", NULL};
    double rate_full[2] = {0}, rate_core[2] = {0}, cpu_full = 0, cpu_core = 0, recs = 0;
    for (int round = 0; round < 2; round++) {
        char g_full[32], g_core[32];
        snprintf(g_full, sizeof(g_full), "pipeline%s", round ? "-2" : "");
        snprintf(g_core, sizeof(g_core), "pipeline-core%s", round ? "-2" : "");
        if (drain(cfg, tables, g_core, core, (uint64_t)count * 2, &recs, err, sizeof(err)) < 0)
            goto out;
        rate_core[round] = recs / 2;
        cpu_core += last_cpu;
        if (drain(cfg, tables, g_full, pipe, (uint64_t)count * 2, &recs, err, sizeof(err)) < 0)
            goto out;
        rate_full[round] = recs / 2;
        cpu_full += last_cpu;
    }
    pipe_rate = rate_full[0] > rate_full[1] ? rate_full[0] : rate_full[1];
    double core_rate = rate_core[0] > rate_core[1] ? rate_core[0] : rate_core[1];
    long calls = user_service ? peer_calls(user_service, NULL) : 0;
    printf("(b) pipeline validate->dedup->enrich->prefs->schedule->render | dispatch, dedup on "
           "(a new key per request), exactly-once: %.0f requests/s (best of %.0f, %.0f)\n",
           pipe_rate, rate_full[0], rate_full[1]);
    printf("    pipeline / transactional pass-through: %.2f\n", pipe_rate / pass_rate);
    if (user_service)
        printf("    User Service calls: %ld for 2 x %ld requests to %ld users (cache hits "
               "%.1f %%)\n", calls, count, bench_users,
               100.0 * (double)(count - (bench_users < count ? bench_users : count)) /
                   (double)count);
    printf("(b0) the same without enrich and prefs: %.0f requests/s (best of %.0f, %.0f; %.2f of "
           "the pass-through)\n", core_rate, rate_core[0], rate_core[1], core_rate / pass_rate);
    printf("    with enrich and prefs / without: %.2f in requests/s (they cost %.0f %%); CPU "
           "per request %.1f us with, %.1f us without (%.0f %% more)\n",
           pipe_rate / core_rate, 100.0 * (1 - pipe_rate / core_rate),
           1e6 * cpu_full / (2.0 * (double)count), 1e6 * cpu_core / (2.0 * (double)count),
           100.0 * (cpu_full / cpu_core - 1));
    fflush(stdout);
    /* the same pipeline without transactions: what exactly-once costs */
    cfg->at_least_once = 1;
    double alos_recs = 0;
    int alos_rc = drain(cfg, tables, "pipeline-alos", pipe, (uint64_t)count * 2, &alos_recs, err,
                        sizeof(err)) < 0;
    cfg->at_least_once = 0;
    if (alos_rc)
        goto out;
    double alos_rate = alos_recs / 2;
    printf("(b') the same pipeline at-least-once (no transactions): %.0f requests/s\n", alos_rate);
    printf("    exactly-once / at-least-once: %.2f (exactly-once runs at %.0f %% of the "
           "at-least-once throughput)\n",
           pipe_rate / alos_rate, 100.0 * pipe_rate / alos_rate);
    fflush(stdout);
    if (measure_latency(cfg, tables, lat_count, rate, err, sizeof(err)))
        goto out;
    if (user_service) {
        /* (d) a cold cache: every user new, every call 50 ms */
        long cold = count / 5 > 0 ? count / 5 : 1;
        char prefix[48];
        snprintf(prefix, sizeof(prefix), "cold-%.8s", u);
        bench_user_prefix = prefix;
        bench_users = cold;
        double cold_recs = 0;
        long before = peer_calls(user_service, NULL);
        if (peer_calls(user_service, "{\"mode\": \"slow\", \"delay_ms\": 50}") < 0 ||
            start_group_at_end(cfg, "pipeline-cold", bench_inputs(), err, sizeof(err)) ||
            produce_requests(cfg, sd, cold, 0, err, sizeof(err)) ||
            drain(cfg, tables, "pipeline-cold", pipe, (uint64_t)cold * 2, &cold_recs, err,
                  sizeof(err)) < 0) {
            peer_calls(user_service, "{\"mode\": \"ok\"}");
            goto out;
        }
        long cold_calls = peer_calls(user_service, NULL) - before;
        peer_calls(user_service, "{\"mode\": \"ok\"}");
        printf("(d) cold cache, every User Service call 50 ms: %.0f requests/s over %ld "
               "requests to new users; %.1f calls per 1,000 requests\n",
               cold_recs / 2, cold, 1000.0 * (double)cold_calls / (double)cold);
    }
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "herald bench: %s\n", err);
    hd_tables_destroy(tables);
    hd_serde_destroy(sd);
    char *rm = hd_asprintf("rm -rf '%s'", outbox);
    if (system(rm) != 0)
        hd_log_warn("bench", "could not remove %s", outbox);
    hd_free(rm);
    return rc;
}
