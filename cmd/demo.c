/*
 * herald demo [--serve]: everything in one process on embedded defaults.
 * Without HERALD_BROKERS it starts librdkafka's mock cluster in-process
 * (which accepts but does not enforce transactions: a demo, never evidence of
 * exactly-once); without HERALD_PG a private PostgreSQL in a temporary
 * directory. It runs the processors, the materializer and the API, publishes
 * sample domain events and requests (one of them malformed), then prints what
 * happened to each: statuses, dead letters, the inbox through the API. Acme's
 * preference defaults turn WHATSAPP off and set quiet hours around now (UTC), so one
 * sample is SKIPPED channel_disabled and one SMS is SCHEDULED quiet_hours.
 * With --serve it keeps running and prints the API address and tokens.
 *
 * It checks what it shows: every sample must end exactly as expected (statuses
 * with their reason codes, dead letters with their error codes) and the API must
 * answer as expected (the inbox with items, the unread count, a read accepted, 401
 * for a bad token); otherwise it says which check failed and exits 1.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "connectors/api.h"
#include "connectors/jwt.h"
#include "connectors/kafka.h"
#include "connectors/pg.h"
#include "connectors/pgserver.h"
#include "core/log.h"
#include "core/time.h"
#include "materializer/materializer.h"
#include "processors/runtime.h"
#include "schemas/serde.h"
#include "tables/tables.h"

#define DEMO_TIMEOUT_MS 60000

static volatile sig_atomic_t demo_stop;

static void on_signal(int sig)
{
    (void)sig;
    demo_stop = 1;
}

static const char demo_config[] =
    "{\"tenants\": [{\"tenant_id\": \"acme\", \"name\": \"Acme Shop\", \"default_locale\": \"en\"},"
    "               {\"tenant_id\": \"globex\", \"name\": \"Globex\", \"default_locale\": \"fr\"}],"
    " \"rules\": ["
    "  {\"id\": \"welcome\", \"tenant_id\": \"acme\", \"event_type\": \"user.registered\","
    "   \"channels\": [\"EMAIL\", \"IN_APP\"], \"category\": \"SYSTEM\","
    "   \"content\": {\"subject\": \"Welcome to Acme\", \"title\": \"Welcome!\","
    "                 \"text\": \"Thanks for signing up.\"}},"
    "  {\"id\": \"order-received\", \"tenant_id\": \"acme\", \"event_type\": \"order.created\","
    "   \"when\": [{\"field\": \"total\", \"op\": \"gt\", \"value\": 0}],"
    "   \"channels\": [\"IN_APP\"], \"content\": {\"title\": \"Order received\","
    "                 \"text\": \"We have your order and are packing it.\"}},"
    "  {\"id\": \"payment-failed\", \"tenant_id\": \"acme\", \"event_type\": \"payment.failed\","
    "   \"channels\": [\"IN_APP\", \"SMS\"], \"category\": \"ALERT\", \"priority\": \"HIGH\","
    "   \"content\": {\"title\": \"Payment failed\", \"text\": \"Your payment did not go through.\"}}"
    " ]}";

struct demo_input {
    const char *topic; /* NULL: raw bytes on notification.requests */
    const char *what;
    const char *json;
    /* terminal outcomes, space-separated: CHANNEL=STATUS[:reason code] or DLQ=error code */
    const char *expect;
};

static const struct demo_input demo_inputs[] = {
    {"user.registered", "user.registered acme/alice",
     "{\"event_id\": \"evt-1\", \"tenant_id\": \"acme\", \"user_id\": \"alice\","
     " \"email\": \"alice@example.com\", \"name\": \"Alice\", \"locale\": \"en\"}",
     "EMAIL=SENT IN_APP=SENT"},
    {"order.created", "order.created acme/alice",
     "{\"event_id\": \"evt-2\", \"tenant_id\": \"acme\", \"user_id\": \"alice\","
     " \"order_id\": \"A-1001\", \"total\": 129.9, \"currency\": \"EUR\","
     " \"items\": [{\"sku\": \"TEA-01\", \"name\": \"Green tea\", \"quantity\": 3,"
     " \"unit_price\": 43.3}]}",
     "IN_APP=SENT"},
    {"payment.failed", "payment.failed acme/bob (no phone on file)",
     "{\"event_id\": \"evt-3\", \"tenant_id\": \"acme\", \"user_id\": \"bob\","
     " \"payment_id\": \"P-77\", \"amount\": 42.0, \"currency\": \"EUR\","
     " \"reason\": \"card declined\"}",
     "IN_APP=SENT SMS=FAILED:no_address"},
    {"notification.requests", "request globex/carol EMAIL+IN_APP",
     "{\"request_id\": \"demo-req-1\", \"tenant_id\": \"globex\", \"user_id\": \"carol\","
     " \"channels\": [\"EMAIL\", \"IN_APP\"], \"category\": \"TRANSACTIONAL\","
     " \"content\": {\"subject\": \"Your invoice\", \"title\": \"Invoice ready\","
     " \"text\": \"Invoice 2026-11 is ready.\"},"
     " \"recipient\": {\"email\": \"carol@globex.example\"}}",
     "EMAIL=SENT IN_APP=SENT"},
    {"notification.requests", "request globex/carol SMS",
     "{\"request_id\": \"demo-req-2\", \"tenant_id\": \"globex\", \"user_id\": \"carol\","
     " \"channels\": [\"SMS\"], \"content\": {\"text\": \"Your code is 417 902\"},"
     " \"recipient\": {\"phone\": \"+14155550123\"}}",
     "SMS=SENT"},
    {"notification.requests", "request acme/alice PUSH, already expired",
     "{\"request_id\": \"demo-req-3\", \"tenant_id\": \"acme\", \"user_id\": \"alice\","
     " \"channels\": [\"PUSH\"], \"content\": {\"title\": \"Flash sale\", \"text\": \"Ends now\"},"
     " \"expires_at\": 1000}",
     "PUSH=SKIPPED:expired"},
    {"notification.requests", "request acme/erin WHATSAPP (turned off by acme's defaults)",
     "{\"request_id\": \"demo-req-5\", \"tenant_id\": \"acme\", \"user_id\": \"erin\","
     " \"channels\": [\"WHATSAPP\"], \"content\": {\"text\": \"Your parcel is out\"},"
     " \"recipient\": {\"phone\": \"+14155550188\"}}",
     "WHATSAPP=SKIPPED:channel_disabled"},
    {"notification.requests", "request acme/erin SMS in acme's quiet hours",
     "{\"request_id\": \"demo-req-6\", \"tenant_id\": \"acme\", \"user_id\": \"erin\","
     " \"channels\": [\"SMS\"], \"content\": {\"text\": \"Weekly digest\"},"
     " \"recipient\": {\"phone\": \"+14155550188\"}}",
     "SMS=SCHEDULED:quiet_hours"},
    {"notification.requests", "request initech/dave (unknown tenant)",
     "{\"request_id\": \"demo-req-4\", \"tenant_id\": \"initech\", \"user_id\": \"dave\","
     " \"channels\": [\"EMAIL\"], \"content\": {\"text\": \"hello\"}}",
     "DLQ=unknown_tenant"},
    {NULL, "garbage bytes on notification.requests", "this is not an Avro record",
     "DLQ=malformed"},
};

#define DEMO_INPUTS (sizeof(demo_inputs) / sizeof(demo_inputs[0]))

struct demo_outcome {
    int32_t partition;
    int64_t offset;
    char request_ids[4][64];
    size_t request_cnt;
    struct hd_buf lines; /* what happened, one line per status or dead letter */
    int terminal;        /* terminal statuses + dead letters seen */
    char got[8][64];     /* the first of them, as demo_input.expect spells them */
};

struct demo_thread {
    struct hd_task *task;
    struct hd_materializer *mat;
    volatile sig_atomic_t *stop;
    char err[512];
    int rc;
};

static void *demo_thread_main(void *arg)
{
    struct demo_thread *d = arg;
    d->rc = d->task ? hd_task_run(d->task, d->stop, d->err, sizeof(d->err))
                    : hd_materializer_run(d->mat, d->stop, d->err, sizeof(d->err));
    if (d->rc)
        hd_log_error("demo", "%s stopped: %s", d->task ? "pipeline" : "materializer", d->err);
    return NULL;
}

/* Publishes every sample input; records where each landed. */
static int demo_publish(const struct hd_config *cfg, struct hd_serde *sd,
                        struct demo_outcome *out, char *err, size_t err_size)
{
    rd_kafka_t *rk = hd_kafka_producer_new(cfg, NULL, err, err_size);
    if (!rk)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < DEMO_INPUTS && rc == 0; i++) {
        const struct demo_input *in = &demo_inputs[i];
        const char *topic = in->topic ? in->topic : HD_TOPIC_REQUESTS;
        struct hd_buf val = HD_BUF_INIT;
        char key[256] = "demo";
        if (in->topic) {
            json_t *o = json_loads(in->json, 0, NULL);
            const char *at = strcmp(topic, HD_TOPIC_REQUESTS) ? "occurred_at" : "created_at";
            json_object_set_new(o, at, json_integer(hd_now_ms()));
            snprintf(key, sizeof(key), "%s/%s", json_string_value(json_object_get(o, "tenant_id")),
                     json_string_value(json_object_get(o, "user_id")));
            json_t *rid = json_object_get(o, "request_id");
            if (json_is_string(rid))
                snprintf(out[i].request_ids[out[i].request_cnt++], 64, "%s", json_string_value(rid));
            rc = hd_serde_encode_json(sd, hd_serde_schema_for_topic(sd, topic), o, &val, err,
                                      err_size);
            json_decref(o);
        } else {
            hd_buf_puts(&val, in->json);
        }
        if (rc == 0)
            rc = hd_kafka_produce_sync(rk, topic, key, strlen(key), val.data, val.len, NULL,
                                       &out[i].partition, &out[i].offset, err, err_size);
        hd_buf_free(&val);
    }
    rd_kafka_destroy(rk);
    return rc;
}

static const char *const demo_watch[] = {HD_TOPIC_REQUESTS, HD_TOPIC_SENT, HD_TOPIC_FAILED,
                                         HD_TOPIC_SKIPPED, HD_TOPIC_DLQ, HD_TOPIC_SCHEDULED};

static rd_kafka_t *demo_watcher(const struct hd_config *cfg, char *err, size_t err_size)
{
    rd_kafka_t *rk = hd_kafka_consumer_new(cfg, "herald-demo-watch", err, err_size);
    if (!rk)
        return NULL;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(32);
    for (size_t t = 0; t < HD_ARRAY_SIZE(demo_watch); t++)
        for (int p = 0; p < cfg->partitions; p++)
            rd_kafka_topic_partition_list_add(l, demo_watch[t], p)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    return rk;
}

static struct demo_outcome *by_request(struct demo_outcome *out, const char *request_id)
{
    for (size_t i = 0; i < DEMO_INPUTS; i++)
        for (size_t j = 0; j < out[i].request_cnt; j++)
            if (!strcmp(out[i].request_ids[j], request_id))
                return &out[i];
    return NULL;
}

/* Records one terminal outcome of o: "WHAT=CODE[:REASON]". */
static void demo_got(struct demo_outcome *o, const char *what, const char *code,
                     const char *reason)
{
    if (o->terminal < (int)HD_ARRAY_SIZE(o->got))
        snprintf(o->got[o->terminal], sizeof(o->got[0]), "%s=%s%s%s", what, code,
                 reason ? ":" : "", reason ? reason : "");
    o->terminal++;
}

/* Applies one watched record to the outcomes. */
static void demo_observe(struct hd_serde *sd, const rd_kafka_message_t *m,
                         struct demo_outcome *out)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    char err[256];
    if (!strcmp(topic, HD_TOPIC_REQUESTS)) {
        struct hd_request r;
        memset(&r, 0, sizeof(r));
        if (hd_request_decode(sd, m->payload, m->len, &r, err, sizeof(err)) == 0) {
            const char *src = hd_map_get(&r.metadata, "source_event_id");
            for (size_t i = 0; src && i < DEMO_INPUTS; i++)
                if (demo_inputs[i].topic && strstr(demo_inputs[i].json, src) &&
                    out[i].request_cnt < 4 && !by_request(out, r.request_id))
                    snprintf(out[i].request_ids[out[i].request_cnt++], 64, "%s", r.request_id);
        }
        hd_request_clear(&r);
    } else if (!strcmp(topic, HD_TOPIC_DLQ)) {
        struct hd_dead_letter dl;
        memset(&dl, 0, sizeof(dl));
        if (hd_dead_letter_decode(sd, m->payload, m->len, &dl, err, sizeof(err)) == 0)
            for (size_t i = 0; i < DEMO_INPUTS; i++) {
                const char *t = demo_inputs[i].topic ? demo_inputs[i].topic : HD_TOPIC_REQUESTS;
                if (!strcmp(dl.source_topic, t) && dl.source_partition == out[i].partition &&
                    dl.source_offset == out[i].offset) {
                    hd_buf_printf(&out[i].lines, "      dead letter  %s by %s: %s\n",
                                  dl.error_code, dl.processor, dl.error);
                    demo_got(&out[i], "DLQ", dl.error_code, NULL);
                }
            }
        hd_dead_letter_clear(&dl);
    } else {
        struct hd_status_event ev;
        memset(&ev, 0, sizeof(ev));
        struct demo_outcome *o = NULL;
        if (hd_status_event_decode(sd, m->payload, m->len, &ev, err, sizeof(err)) == 0 &&
            (o = by_request(out, ev.request_id))) {
            hd_buf_printf(&o->lines, "      %-7s %-8s via %-7s%s%s\n", hd_channel_name(ev.channel),
                          hd_status_name(ev.status), ev.provider ? ev.provider : "-",
                          ev.reason_code ? "  reason: " : "", ev.reason_code ? ev.reason_code : "");
            int why = ev.status == HD_ST_SKIPPED || ev.status == HD_ST_FAILED ||
                      ev.status == HD_ST_SCHEDULED;
            demo_got(o, hd_channel_name(ev.channel), hd_status_name(ev.status),
                     why ? (ev.reason_code ? ev.reason_code : "-") : NULL);
        }
        hd_status_event_clear(&ev);
    }
}

/* How many terminal outcomes input i leads to (statuses per channel, or a dead letter). */
static int demo_expected(size_t i)
{
    int n = 1;
    for (const char *p = demo_inputs[i].expect; *p; p++)
        n += *p == ' ';
    return n;
}

/* Did input i end exactly as expected (each outcome once, nothing else)? Prints why not. */
static int demo_outcome_ok(size_t i, const struct demo_outcome *o)
{
    char want[256];
    snprintf(want, sizeof(want), "%s", demo_inputs[i].expect);
    int used[HD_ARRAY_SIZE(o->got)] = {0}, ok = o->terminal == demo_expected(i);
    for (char *save, *tok = strtok_r(want, " ", &save); ok && tok; tok = strtok_r(NULL, " ", &save)) {
        int hit = 0;
        for (int k = 0; !hit && k < o->terminal && k < (int)HD_ARRAY_SIZE(o->got); k++)
            if (!used[k] && !strcmp(o->got[k], tok))
                hit = used[k] = 1;
        ok = hit;
    }
    if (!ok) {
        printf("      UNEXPECTED: want %s; got", demo_inputs[i].expect);
        for (int k = 0; k < o->terminal && k < (int)HD_ARRAY_SIZE(o->got); k++)
            printf(" %s", o->got[k]);
        printf("\n");
    }
    return ok;
}

static int demo_collect(const struct hd_config *cfg, struct hd_serde *sd, struct demo_outcome *out,
                        char *err, size_t err_size)
{
    rd_kafka_t *rk = demo_watcher(cfg, err, err_size);
    if (!rk)
        return -1;
    int64_t deadline = hd_mono_us() + DEMO_TIMEOUT_MS * 1000LL;
    int done = 0;
    while (!done && !demo_stop && hd_mono_us() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m && !m->err)
            demo_observe(sd, m, out);
        if (m)
            rd_kafka_message_destroy(m);
        done = 1;
        for (size_t i = 0; i < DEMO_INPUTS; i++)
            done &= out[i].terminal >= demo_expected(i);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return done ? 0 : hd_seterr(-1, err, err_size, "not every sample reached a final state in %d s",
                                DEMO_TIMEOUT_MS / 1000);
}

static size_t curl_body(char *p, size_t sz, size_t n, void *ud)
{
    hd_buf_append(ud, p, sz * n);
    return sz * n;
}

/* One API call; prints method, path, status and the body. */
static long demo_http(int port, const char *method, const char *path, const char *token,
                      struct hd_buf *body)
{
    CURL *c = curl_easy_init();
    char url[512], auth[4096];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    hd_buf_reset(body);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (!strcmp(method, "POST"))
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    printf("  %s %s -> %ld\n    %s\n", method, path, code, body->data ? body->data : "");
    return code;
}

/* Waits until the read model holds every terminal notification of the samples. */
static int demo_wait_read_model(const char *conninfo, int want)
{
    PGconn *c = PQconnectdb(conninfo);
    int have = -1;
    for (int64_t deadline = hd_mono_us() + DEMO_TIMEOUT_MS * 1000LL;
         PQstatus(c) == CONNECTION_OK && hd_mono_us() < deadline && !demo_stop;) {
        PGresult *r = PQexec(c, "SELECT count(*) FROM notifications WHERE status IN "
                                "('SENT','FAILED','SKIPPED','SCHEDULED')");
        have = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -1;
        PQclear(r);
        if (have >= want)
            break;
        usleep(200 * 1000);
    }
    PQfinish(c);
    return have >= want ? 0 : -1;
}

/* Prints one check of an API answer; returns 1 if it failed. */
static int demo_check(int ok, const char *what)
{
    printf("    %s %s\n", ok ? "ok:" : "FAILED:", what);
    return !ok;
}

/* The "items" of a list answer (a new reference, NULL if there is none). */
static json_t *demo_items(const struct hd_buf *body)
{
    json_t *o = json_loads(body->data ? body->data : "", 0, NULL);
    json_t *items = json_incref(json_object_get(o, "items"));
    json_decref(o);
    return json_is_array(items) ? items : (json_decref(items), NULL);
}

/* Shows the inbox through the API and checks every answer; returns how many failed. */
static int demo_show_api(int port, struct hd_jwt_signer *signer)
{
    char *alice = hd_jwt_sign(signer, "alice", "acme", 3600);
    char *carol = hd_jwt_sign(signer, "carol", "globex", 3600);
    struct hd_buf body = HD_BUF_INIT;
    int failed = 0;
    printf("\nThe inbox through the API (JWT for acme/alice, then globex/carol):\n");
    long code = demo_http(port, "GET", "/v1/me/notifications?channel=IN_APP&limit=10", alice, &body);
    json_t *inbox = demo_items(&body);
    failed += demo_check(code == 200 && json_array_size(inbox) == 2,
                         "200 with alice's 2 inbox items (welcome, order)");
    code = demo_http(port, "GET", "/v1/me/notifications/unread-count", alice, &body);
    json_t *o = json_loads(body.data ? body.data : "", 0, NULL);
    failed += demo_check(code == 200 && json_integer_value(json_object_get(o, "unread")) == 2,
                         "200, both unread");
    json_decref(o);
    code = demo_http(port, "GET", "/v1/me/notifications?channel=IN_APP&limit=1", alice, &body);
    json_t *first = demo_items(&body);
    const char *id = json_string_value(json_object_get(json_array_get(first, 0), "id"));
    failed += demo_check(code == 200 && id && json_array_size(first) == 1, "200 with one item");
    if (id) {
        char path[256];
        snprintf(path, sizeof(path), "/v1/me/notifications/%s/read", id);
        code = demo_http(port, "POST", path, alice, &body);
        failed += demo_check(code == 202, "202: the read goes through Kafka");
    }
    json_decref(first);
    code = demo_http(port, "GET", "/v1/me/notifications", carol, &body);
    json_t *theirs = demo_items(&body);
    int foreign = 0;
    for (size_t i = 0; i < json_array_size(theirs); i++)
        for (size_t j = 0; j < json_array_size(inbox); j++)
            foreign += json_equal(json_object_get(json_array_get(theirs, i), "id"),
                                  json_object_get(json_array_get(inbox, j), "id"));
    failed += demo_check(code == 200 && json_array_size(theirs) == 3 && !foreign,
                         "200 with carol's 3 notifications (EMAIL, IN_APP, SMS), none of alice's");
    json_decref(theirs);
    json_decref(inbox);
    code = demo_http(port, "GET", "/v1/me/notifications", "not-a-token", &body);
    failed += demo_check(code == 401, "401 for a bad token");
    hd_buf_free(&body);
    hd_free(alice);
    hd_free(carol);
    return failed;
}

static int usage(int rc)
{
    fprintf(rc ? stderr : stdout,
            "usage: herald demo [--serve]\n"
            "  Runs every role in one process (mock Kafka cluster unless HERALD_BROKERS is set,\n"
            "  a private PostgreSQL unless HERALD_PG is set), sends samples, shows the outcome.\n"
            "  --serve  keep running afterwards (API on HERALD_API_LISTEN) until Ctrl-C\n");
    return rc;
}

/* Everything the demo starts, so one function can stop it all. */
struct demo {
    struct hd_mock *mock;
    struct hd_pgserver *pg;
    struct hd_tables *tables;
    struct hd_jwt_signer *signer;
    struct hd_api *api;
    struct demo_thread threads[2];
    pthread_t tids[2];
    int nthreads;
    char dir[64];
};

/* The demo's config, with acme's quiet hours from an hour ago to an hour from now (UTC). */
static struct hd_tables *demo_tables(char *err, size_t n)
{
    json_t *doc = json_loads(demo_config, 0, NULL);
    json_t *acme = json_array_get(json_object_get(doc, "tenants"), 0);
    char start[8], end[8];
    int64_t now = hd_now_ms() / 60000;
    snprintf(start, sizeof(start), "%02d:%02d", (int)((now - 60) / 60 % 24), (int)(now % 60));
    snprintf(end, sizeof(end), "%02d:%02d", (int)((now + 60) / 60 % 24), (int)(now % 60));
    json_object_set_new(acme, "timezone", json_string("UTC"));
    json_object_set_new(acme, "preference_defaults",
                        json_pack("{s:{s:b}, s:{s:s, s:s}}", "channels", "WHATSAPP", 0,
                                  "quiet_hours", "start", start, "end", end));
    struct hd_tables *t = hd_tables_from_json(doc, NULL, err, n);
    json_decref(doc);
    return t;
}

static void demo_teardown(struct demo *d)
{
    demo_stop = 1;
    for (int i = 0; i < d->nthreads; i++)
        pthread_join(d->tids[i], NULL);
    for (int i = 0; i < 2; i++) {
        hd_task_destroy(d->threads[i].task);
        hd_materializer_destroy(d->threads[i].mat);
    }
    hd_api_stop(d->api);
    hd_jwt_signer_destroy(d->signer);
    hd_tables_destroy(d->tables);
    hd_pgserver_stop(d->pg);
    hd_mock_stop(d->mock);
}

static int demo_start(struct demo *d, struct hd_config *cfg, int serve, char *err, size_t n)
{
    const char *s;
    if (!cfg->brokers) {
        if (!(d->mock = hd_mock_start(cfg, &s, err, n)))
            return -1;
        hd_config_set(&cfg->brokers, s);
        printf("Kafka:      librdkafka mock cluster in-process at %s (a demo: it does not enforce "
               "transactions)\n", s);
    } else {
        if (hd_kafka_wait_ready(cfg, 30000, err, n) || hd_kafka_topics_ensure(cfg, err, n))
            return -1;
        printf("Kafka:      %s\n", cfg->brokers);
    }
    if (!cfg->pg) {
        if (!(d->pg = hd_pgserver_start(&s, err, n)))
            return -1;
        hd_config_set(&cfg->pg, s);
        printf("PostgreSQL: private server (%s)\n", s);
    } else {
        printf("PostgreSQL: %s\n", cfg->pg);
    }
    if (hd_pg_migrate(cfg->pg, err, n))
        return -1;
    snprintf(d->dir, sizeof(d->dir), "/tmp/herald-demo-XXXXXX");
    if (!mkdtemp(d->dir))
        return hd_seterr(-1, err, n, "mkdtemp failed");
    char *outbox = hd_asprintf("%s/outbox", d->dir), *state = hd_asprintf("%s/state", d->dir);
    hd_config_plugin_set(cfg, "outbox.dir", outbox);
    if (!getenv("HERALD_STATE_DIR"))
        hd_config_set(&cfg->state_dir, state);
    printf("Outbox:     %s/<CHANNEL>.jsonl\n", outbox);
    hd_free(outbox);
    hd_free(state);
    if (!(d->tables = demo_tables(err, n)) ||
        !(d->signer = hd_jwt_signer_new(err, n)))
        return -1;
    char *jwks_path = hd_asprintf("%s/jwks.json", d->dir);
    char *jwks = hd_jwt_signer_jwks(d->signer);
    FILE *f = fopen(jwks_path, "w");
    if (f) {
        fputs(jwks, f);
        fclose(f);
    }
    hd_free(jwks);
    hd_config_set(&cfg->jwks, jwks_path);
    hd_free(jwks_path);
    if (!getenv("HERALD_API_LISTEN"))
        hd_config_set(&cfg->api_listen, serve ? "127.0.0.1:8080" : "127.0.0.1:0");
    if (!(d->api = hd_api_start(cfg, err, n)))
        return -1;
    const char *subs[HD_TASK_SUBS_MAX + 1];
    hd_topology_defaults(subs, HD_ARRAY_SIZE(subs));
    d->threads[0].task = hd_task_new(cfg, d->tables, "pipeline", subs, err, n);
    if (!d->threads[0].task)
        return -1;
    d->threads[1].mat = hd_materializer_new(cfg, err, n);
    if (!d->threads[1].mat)
        return -1;
    for (int i = 0; i < 2; i++) {
        d->threads[i].stop = &demo_stop;
        pthread_create(&d->tids[i], NULL, demo_thread_main, &d->threads[i]);
        d->nthreads++;
    }
    return 0;
}

/* Prints what happened to each sample; returns how many did not end as expected. */
static int demo_report(const struct demo_outcome *out)
{
    int failed = 0;
    printf("\nWhat happened to each:\n");
    for (size_t i = 0; i < DEMO_INPUTS; i++) {
        printf("  [%zu] %s\n%s", i + 1, demo_inputs[i].what,
               out[i].lines.data ? out[i].lines.data : "");
        failed += !demo_outcome_ok(i, &out[i]);
    }
    return failed;
}

/* Notifications the samples leave in the read model: every outcome but dead letters. */
static int demo_rows_expected(void)
{
    int n = 0;
    for (size_t i = 0; i < DEMO_INPUTS; i++)
        n += strncmp(demo_inputs[i].expect, "DLQ=", 4) ? demo_expected(i) : 0;
    return n;
}

/* Publishes the samples, shows and checks what came of them. Returns 0 if all is as
 * expected, else -1 with err. */
static int demo_samples(struct demo *d, struct hd_config *cfg, struct hd_serde *sd,
                        struct demo_outcome *out, char *err, size_t n)
{
    printf("\nPublishing %zu samples...\n", DEMO_INPUTS);
    if (demo_publish(cfg, sd, out, err, n))
        return -1;
    int rc = demo_collect(cfg, sd, out, err, n);
    int failed = demo_report(out);
    if (rc)
        return -1;
    if (failed)
        return hd_seterr(-1, err, n, "%d of %zu samples did not end as expected", failed,
                         DEMO_INPUTS);
    if (demo_wait_read_model(cfg->pg, demo_rows_expected()))
        return hd_seterr(-1, err, n, "the read model did not catch up in %d s",
                         DEMO_TIMEOUT_MS / 1000);
    failed = demo_show_api(hd_api_port(d->api), d->signer);
    if (failed)
        return hd_seterr(-1, err, n, "%d API answers were not as expected", failed);
    printf("\nDemo ok: every sample ended as expected and the API answered as expected.\n");
    return 0;
}

int hd_cmd_demo(int argc, char **argv, struct hd_config *cfg)
{
    int serve = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--serve"))
            serve = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return usage(0);
        else
            return usage(2);
    }
    if (!getenv("HERALD_LOG_LEVEL"))
        hd_log_set_level(HD_LOG_ERROR);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct demo d;
    memset(&d, 0, sizeof(d));
    struct demo_outcome out[DEMO_INPUTS];
    memset(out, 0, sizeof(out));
    char err[1024];
    int rc = 1;
    struct hd_serde *sd = hd_serde_new(err, sizeof(err));
    if (!sd || demo_start(&d, cfg, serve, err, sizeof(err)) ||
        demo_samples(&d, cfg, sd, out, err, sizeof(err)))
        goto done;
    if (serve) {
        char *tok = hd_jwt_sign(d.signer, "alice", "acme", 24 * 3600);
        printf("\nServing. API: http://127.0.0.1:%d  token for acme/alice:\n%s\n"
               "Send more with HERALD_BROKERS=%s herald send. Ctrl-C stops.\n",
               hd_api_port(d.api), tok, cfg->brokers);
        hd_free(tok);
        fflush(stdout);
        while (!demo_stop)
            pause();
    }
    rc = 0;
done:
    fflush(stdout);
    if (rc)
        fprintf(stderr, "herald demo: %s\n", err);
    demo_teardown(&d);
    for (size_t i = 0; i < DEMO_INPUTS; i++)
        hd_buf_free(&out[i].lines);
    hd_serde_destroy(sd);
    curl_global_cleanup();
    if (d.dir[0] && rc == 0)
        printf("\nDemo files kept in %s\n", d.dir);
    return rc;
}
