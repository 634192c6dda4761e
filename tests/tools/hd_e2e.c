/*
 * hd_e2e: end-to-end workload and verifier for the integration and crash
 * tests, on a real broker.
 *
 *   hd_e2e config RUN                      tenants + rules for the run (JSON, stdout)
 *   hd_e2e produce RUN N MALFORMED EVENTS MANIFEST [FIRST]
 *       produces N inputs (numbered from FIRST, default 0, so chunks of one run can be
 *       produced at different moments with their manifests concatenated): EVENTS domain events, MALFORMED bad ones (garbage bytes,
 *       unknown tenant, missing content), the rest valid requests of several shapes;
 *       writes MANIFEST: one line per input with where it landed, what must come of it
 *       and (for inputs that must be dead-lettered) the exact bytes, in hex. About 1 in
 *       20 valid requests is scheduled HD_E2E_SCHED_MS ahead ("AT=<epoch ms>").
 *   hd_e2e verify RUN MANIFEST [TIMEOUT_S]
 *       reads the status topics and the DLQ with read_committed until every expected
 *       outcome is there (then a few idle seconds more, to catch duplicates) and checks
 *       each input's outcomes exactly once; with HERALD_PG set, checks the read model
 *       holds each notification exactly once with its final status and history.
 *       A scheduled input must be SENT not before its time and SCHEDULED at most once
 *       (exactly once with HD_E2E_SCHED_STRICT=1: the run was fast enough to hold it).
 * Every tenant is "e2e-RUN-...", so runs on one broker and database do not mix.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors/kafka.h"
#include "core/config.h"
#include "core/time.h"
#include "core/uuid.h"
#include "schemas/records.h"
#include "schemas/serde.h"

/* What a valid input must lead to, per channel. */
enum shape { S_INAPP, S_EMAIL_INAPP, S_SMS, S_SMS_NOPHONE, S_EXPIRED, S_IDEM, S_EV_WELCOME,
             S_EV_ORDER, S_BAD_BYTES, S_BAD_TENANT, S_BAD_CONTENT, S_REPEAT, S_SCHED, S__CNT };
#define S__VALID 6 /* S_INAPP .. S_IDEM: the valid request shapes */

static const char *const shape_names[] = {"inapp", "email_inapp", "sms", "sms_nophone",
                                          "expired", "idem", "ev_welcome", "ev_order",
                                          "bad_bytes", "bad_tenant", "bad_content", "repeat", "sched"};

/* Expected statuses: channel list with terminal status; "-" for none (dead letter). */
static const char *const shape_expect[] = {
    "IN_APP=SENT", "EMAIL=SENT,IN_APP=SENT", "SMS=SENT", "SMS=FAILED", "PUSH=SKIPPED",
    "IN_APP=SENT", "EMAIL=SENT,IN_APP=SENT", "IN_APP=SENT", "DLQ=malformed",
    "DLQ=unknown_tenant", "DLQ=missing_content", "IN_APP=SKIPPED", "IN_APP=SENT"};

/* A scheduled input (about 1 in 20 valid ones) is due this long after it is produced
 * (HD_E2E_SCHED_MS, default 5000). */
static int64_t sched_delay_ms(void)
{
    const char *e = getenv("HD_E2E_SCHED_MS");
    return e && *e ? atoll(e) : 5000;
}

static void cfg_or_die(struct hd_config *c)
{
    char err[256];
    if (hd_config_from_env(c, err, sizeof(err)) || !c->brokers) {
        fprintf(stderr, "hd_e2e: %s\n", c->brokers ? err : "HERALD_BROKERS is not set");
        exit(2);
    }
}

static int cmd_config(const char *run)
{
    printf("{\"tenants\": [{\"tenant_id\": \"e2e-%s-a\"}, {\"tenant_id\": \"e2e-%s-b\"}],\n"
           " \"rules\": [\n"
           "  {\"id\": \"welcome\", \"tenant_id\": \"e2e-%s-a\", \"event_type\": \"user.registered\","
           " \"channels\": [\"EMAIL\", \"IN_APP\"], \"content\": {\"subject\": \"Welcome\","
           " \"text\": \"Hello\"}},\n"
           "  {\"id\": \"order\", \"tenant_id\": \"e2e-%s-a\", \"event_type\": \"order.created\","
           " \"when\": [{\"field\": \"total\", \"op\": \"gt\", \"value\": 0}],"
           " \"channels\": [\"IN_APP\"], \"content\": {\"title\": \"Order received\"}}]}\n",
           run, run, run, run);
    return 0;
}

/* The JSON of input i of the given shape. A repeat (S_REPEAT) re-sends input `of`'s
 * idempotency key, tenant and user under its own request id. */
static json_t *make_input(const char *run, long i, enum shape s, long of, const char **topic,
                          char *rid, size_t rid_size)
{
    char tenant[96], user[64], id[64];
    long who = s == S_REPEAT ? of : i; /* tenant and user follow the original */
    snprintf(tenant, sizeof(tenant), "e2e-%s-%c", run, (who % 3 == 0) ? 'b' : 'a');
    snprintf(user, sizeof(user), "user-%ld", who % 37);
    snprintf(id, sizeof(id), "e2e-%s-%ld", run, i);
    *topic = HD_TOPIC_REQUESTS;
    if (s == S_EV_WELCOME || s == S_EV_ORDER) {
        snprintf(tenant, sizeof(tenant), "e2e-%s-a", run);
        *topic = s == S_EV_WELCOME ? "user.registered" : "order.created";
        char name[256];
        snprintf(name, sizeof(name), "%s/%s/%s", tenant, id, s == S_EV_WELCOME ? "welcome" : "order");
        hd_uuid_v5(name, rid);
        if (s == S_EV_WELCOME)
            return json_pack("{s:s,s:s,s:s,s:I,s:s}", "event_id", id, "tenant_id", tenant,
                             "user_id", user, "occurred_at", (json_int_t)hd_now_ms(), "email",
                             "someone@example.com");
        return json_pack("{s:s,s:s,s:s,s:I,s:s,s:f,s:s}", "event_id", id, "tenant_id", tenant,
                         "user_id", user, "occurred_at", (json_int_t)hd_now_ms(), "order_id", id,
                         "total", 10.5, "currency", "EUR");
    }
    snprintf(rid, rid_size, "%s", id);
    if (s == S_BAD_TENANT)
        snprintf(tenant, sizeof(tenant), "e2e-%s-unknown", run);
    json_t *o = json_pack("{s:s,s:s,s:s,s:I}", "request_id", id, "tenant_id", tenant, "user_id",
                          user, "created_at", (json_int_t)hd_now_ms());
    const char *chans[] = {NULL, NULL};
    json_t *content = json_pack("{s:s,s:s,s:s}", "subject", "Hello", "title", "Hi", "text",
                                "Body text");
    json_t *rcpt = NULL;
    char vars[64], idem[96];
    snprintf(vars, sizeof(vars), "{\"n\": %ld}", i); /* derived dedup keys differ per input */
    json_object_set_new(o, "variables_json", json_string(vars));
    switch (s) {
    case S_INAPP: chans[0] = "IN_APP"; break;
    case S_SCHED:
        chans[0] = "IN_APP";
        json_object_set_new(o, "scheduled_at", json_integer(hd_now_ms() + sched_delay_ms()));
        break;
    case S_IDEM:
    case S_REPEAT:
        chans[0] = "IN_APP";
        snprintf(idem, sizeof(idem), "idem-%s-%ld", run, of);
        json_object_set_new(o, "idempotency_key", json_string(idem));
        break;
    case S_EMAIL_INAPP:
        chans[0] = "EMAIL";
        chans[1] = "IN_APP";
        rcpt = json_pack("{s:s}", "email", "someone@example.com");
        break;
    case S_SMS: chans[0] = "SMS"; rcpt = json_pack("{s:s}", "phone", "+14155550123"); break;
    case S_SMS_NOPHONE: chans[0] = "SMS"; break;
    case S_EXPIRED: chans[0] = "PUSH"; json_object_set_new(o, "expires_at", json_integer(1000)); break;
    case S_BAD_TENANT: chans[0] = "IN_APP"; break;
    case S_BAD_CONTENT:
        chans[0] = "IN_APP";
        json_decref(content);
        content = json_null();
        break;
    default: break;
    }
    json_t *ch = json_array();
    for (int k = 0; k < 2; k++)
        if (chans[k])
            json_array_append_new(ch, json_string(chans[k]));
    json_object_set_new(o, "channels", ch);
    json_object_set_new(o, "content", content);
    if (rcpt)
        json_object_set_new(o, "recipient", rcpt);
    return o;
}

/* Shapes for n inputs: `malformed` bad ones, `events` domain events, the rest valid
 * requests, shuffled with a fixed seed so bad inputs sit between good ones. */
static enum shape *make_shapes(long n, long malformed, long events)
{
    enum shape *sh = hd_calloc((size_t)n, sizeof(*sh));
    for (long i = 0; i < n; i++)
        sh[i] = i < malformed ? (enum shape)(S_BAD_BYTES + i % 3)
              : i < malformed + events ? ((i % 2) ? S_EV_WELCOME : S_EV_ORDER)
                  : i % 20 == 7                ? S_SCHED
                                               : (enum shape)(i % S__VALID);
    unsigned long long x = 0x9e3779b97f4a7c15ULL;
    for (long i = n - 1; i > 0; i--) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        long j = (long)(x % (unsigned long long)(i + 1));
        enum shape t = sh[i];
        sh[i] = sh[j];
        sh[j] = t;
    }
    return sh;
}

static void put_hex(FILE *f, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", p[i]);
}

static int cmd_produce(const char *run, long n, long malformed, long events, const char *manifest,
                       long first)
{
    struct hd_config cfg;
    cfg_or_die(&cfg);
    char err[1024];
    struct hd_serde *sd = hd_serde_new(err, sizeof(err));
    rd_kafka_t *rk = sd ? hd_kafka_producer_new(&cfg, NULL, err, sizeof(err)) : NULL;
    if (!rk) {
        fprintf(stderr, "hd_e2e produce: %s\n", err);
        return 1;
    }
    enum shape *sh = make_shapes(n, malformed, events);
    struct hd_kafka_delivery *dr = hd_calloc((size_t)n, sizeof(*dr));
    char **rids = hd_calloc((size_t)n, sizeof(*rids));
    const char **topics = hd_calloc((size_t)n, sizeof(*topics));
    struct hd_buf *vals = hd_calloc((size_t)n, sizeof(*vals));
    int64_t *ats = hd_calloc((size_t)n, sizeof(*ats));
    for (long i = 0; i < n; i++) {
        char rid[HD_UUID_STRLEN + 64], key[160];
        const char *topic;
        json_t *o = make_input(run, first + i, sh[i], first + i, &topic, rid, sizeof(rid));
        snprintf(key, sizeof(key), "%s/%s", json_string_value(json_object_get(o, "tenant_id")),
                 json_string_value(json_object_get(o, "user_id")));
        if (sh[i] == S_BAD_BYTES) {
            hd_buf_printf(&vals[i], "not avro %ld ", first + i);
            hd_buf_append(&vals[i], "\0\xff\xc3", 3);
        } else if (hd_serde_encode_json(sd, hd_serde_schema_for_topic(sd, topic), o, &vals[i], err,
                                        sizeof(err))) {
            fprintf(stderr, "hd_e2e produce: input %ld: %s\n", i, err);
            return 1;
        }
        json_t *at = json_object_get(o, "scheduled_at");
        ats[i] = at ? (int64_t)json_integer_value(at) : 0;
        json_decref(o);
        rids[i] = hd_strdup(rid);
        topics[i] = topic;
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                                      RD_KAFKA_V_VALUE(vals[i].data, vals[i].len),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                      RD_KAFKA_V_OPAQUE(&dr[i]), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
        if (e) {
            fprintf(stderr, "hd_e2e produce: %s\n", rd_kafka_err2str(e));
            return 1;
        }
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 60000);
    FILE *f = fopen(manifest, "w");
    if (!f) {
        perror(manifest);
        return 1;
    }
    int rc = 0;
    for (long i = 0; i < n; i++) {
        if (!dr[i].done || dr[i].err || dr[i].offset < 0) {
            /* a report without an offset is not proof that the record was stored */
            fprintf(stderr, "hd_e2e produce: input %ld not confirmed: %s\n", first + i,
                    !dr[i].done ? "no delivery report"
                    : dr[i].err ? rd_kafka_err2str(dr[i].err)
                                : "delivered without an offset");
            rc = 1;
        }
        fprintf(f, "%s %s %d %lld %s %s", shape_names[sh[i]], topics[i], dr[i].partition,
                (long long)dr[i].offset, rids[i], shape_expect[sh[i]]);
        if (sh[i] == S_SCHED)
            fprintf(f, ",AT=%lld", (long long)ats[i]);
        fputc(' ', f);
        if (sh[i] >= S_BAD_BYTES && sh[i] <= S_BAD_CONTENT)
            put_hex(f, (unsigned char *)vals[i].data, vals[i].len);
        else
            fputc('-', f);
        fputc('\n', f);
        hd_buf_free(&vals[i]);
        hd_free(rids[i]);
    }
    fclose(f);
    printf("produced %ld inputs (%ld malformed, %ld events)\n", n, malformed, events);
    hd_free(vals);
    hd_free(ats);
    hd_free(rids);
    hd_free(topics);
    hd_free(dr);
    hd_free(sh);
    rd_kafka_destroy(rk);
    hd_serde_destroy(sd);
    hd_config_clear(&cfg);
    return rc;
}

/* Re-sends the idempotency keys of up to n "idem" inputs of an earlier manifest under new
 * request ids (numbered from first), each expected SKIPPED as a duplicate. */
static int cmd_repeat(const char *run, const char *in_manifest, long n, const char *out_manifest,
                      long first)
{
    FILE *in = fopen(in_manifest, "r");
    if (!in) {
        perror(in_manifest);
        return 2;
    }
    struct hd_config cfg;
    cfg_or_die(&cfg);
    char err[1024], line[4096];
    struct hd_serde *sd = hd_serde_new(err, sizeof(err));
    rd_kafka_t *rk = sd ? hd_kafka_producer_new(&cfg, NULL, err, sizeof(err)) : NULL;
    FILE *out = fopen(out_manifest, "w");
    if (!rk || !out) {
        fprintf(stderr, "hd_e2e repeat: %s\n", rk ? out_manifest : err);
        return 1;
    }
    long k = 0;
    int rc = 0;
    while (k < n && fgets(line, sizeof(line), in)) {
        char shape[16], rid0[128];
        long of;
        if (sscanf(line, "%15s %*s %*d %*d %127s", shape, rid0) != 2 || strcmp(shape, "idem"))
            continue;
        const char *dash = strrchr(rid0, '-');
        of = dash ? atol(dash + 1) : -1;
        const char *topic;
        char rid[128], key[160];
        json_t *o = make_input(run, first + k, S_REPEAT, of, &topic, rid, sizeof(rid));
        snprintf(key, sizeof(key), "%s/%s", json_string_value(json_object_get(o, "tenant_id")),
                 json_string_value(json_object_get(o, "user_id")));
        struct hd_buf v = HD_BUF_INIT;
        int32_t part = -1;
        int64_t off = -1;
        if (hd_serde_encode_json(sd, hd_serde_schema_for_topic(sd, topic), o, &v, err,
                                 sizeof(err)) ||
            hd_kafka_produce_sync(rk, topic, key, strlen(key), v.data, v.len, NULL, &part, &off,
                                  err, sizeof(err))) {
            fprintf(stderr, "hd_e2e repeat: %s\n", err);
            rc = 1;
        }
        fprintf(out, "repeat %s %d %lld %s %s -\n", topic, part, (long long)off, rid,
                shape_expect[S_REPEAT]);
        hd_buf_free(&v);
        json_decref(o);
        k++;
    }
    fclose(in);
    fclose(out);
    rd_kafka_destroy(rk);
    hd_serde_destroy(sd);
    hd_config_clear(&cfg);
    printf("repeated %ld idempotency keys\n", k);
    return rc;
}

/* One manifest line and what was observed for it. */
struct entry {
    char shape[16];
    char topic[64];
    int32_t partition;
    int64_t offset;
    char rid[128];
    int expect_status[HD_CH__CNT]; /* -1 = channel not expected */
    int dlq;                       /* a dead letter is expected */
    char dlq_code[48];
    unsigned char *bytes;          /* expected dead-letter value */
    size_t bytes_len;
    unsigned char seen[HD_CH__CNT][HD_ST__CNT];
    int dlq_seen, dlq_bad;
    int64_t at;  /* scheduled_at, 0 = not scheduled */
    int early;   /* QUEUED or SENT before `at` */
};

static int by_rid(const void *a, const void *b)
{
    return strcmp((*(struct entry *const *)a)->rid, (*(struct entry *const *)b)->rid);
}

static int parse_expect(struct entry *e, char *expect)
{
    for (int c = 0; c < HD_CH__CNT; c++)
        e->expect_status[c] = -1;
    for (char *tok = strtok(expect, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        if (!eq)
            return -1;
        *eq = '\0';
        if (!strcmp(tok, "AT")) {
            e->at = atoll(eq + 1);
            continue;
        }
        if (!strcmp(tok, "DLQ")) {
            e->dlq = 1;
            snprintf(e->dlq_code, sizeof(e->dlq_code), "%s", eq + 1);
            continue;
        }
        int c = hd_channel_parse(tok), s = hd_status_parse(eq + 1);
        if (c < 0 || s < 0)
            return -1;
        e->expect_status[c] = s;
    }
    return 0;
}

static struct entry *load_manifest(const char *path, size_t *cnt)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    size_t cap = 1024, n = 0;
    struct entry *es = hd_calloc(cap, sizeof(*es));
    char *line = NULL;
    size_t lcap = 0;
    while (getline(&line, &lcap, f) > 0) {
        if (n == cap) {
            es = hd_realloc(es, cap * 2 * sizeof(*es));
            memset(es + cap, 0, cap * sizeof(*es));
            cap *= 2;
        }
        struct entry *e = &es[n];
        char expect[256], *hex = hd_calloc(1, lcap + 1);
        long long off;
        if (sscanf(line, "%15s %63s %d %lld %127s %255s %s", e->shape, e->topic, &e->partition,
                   &off, e->rid, expect, hex) != 7 ||
            parse_expect(e, expect)) {
            fprintf(stderr, "hd_e2e: bad manifest line: %s", line);
            exit(2);
        }
        e->offset = off;
        if (strcmp(hex, "-")) {
            e->bytes_len = strlen(hex) / 2;
            e->bytes = hd_malloc(e->bytes_len + 1);
            for (size_t i = 0; i < e->bytes_len; i++)
                sscanf(hex + 2 * i, "%2hhx", &e->bytes[i]);
        }
        hd_free(hex);
        n++;
    }
    free(line);
    fclose(f);
    *cnt = n;
    return es;
}

struct verify {
    const char *prefix;
    struct entry *es;
    size_t cnt;
    struct entry **idx; /* sorted by rid */
    long topic_counts[6];
    long stray; /* records of this run that match no input */
    int64_t max_late_ms; /* of a scheduled input's release (QUEUED) after its time */
};

static const char *const verify_topics[] = {HD_TOPIC_QUEUED,  HD_TOPIC_SENT, HD_TOPIC_FAILED,
                                            HD_TOPIC_SKIPPED, HD_TOPIC_DLQ,  HD_TOPIC_SCHEDULED,
                                            NULL};

static struct entry *find_rid(struct verify *v, const char *rid)
{
    struct entry key, *kp = &key;
    snprintf(key.rid, sizeof(key.rid), "%s", rid);
    struct entry **hit = bsearch(&kp, v->idx, v->cnt, sizeof(*v->idx), by_rid);
    return hit ? *hit : NULL;
}

static void observe(struct verify *v, struct hd_serde *sd, const rd_kafka_message_t *m, int ti)
{
    char err[256];
    if (ti == 4) {
        struct hd_dead_letter dl;
        memset(&dl, 0, sizeof(dl));
        if (hd_dead_letter_decode(sd, m->payload, m->len, &dl, err, sizeof(err)) == 0) {
            for (size_t i = 0; i < v->cnt; i++) {
                struct entry *e = &v->es[i];
                if (e->offset != dl.source_offset || e->partition != dl.source_partition ||
                    strcmp(e->topic, dl.source_topic))
                    continue;
                v->topic_counts[ti]++;
                e->dlq_seen++;
                if (!e->dlq || strcmp(dl.error_code, e->dlq_code) || dl.value_len != e->bytes_len ||
                    memcmp(dl.value, e->bytes, e->bytes_len))
                    e->dlq_bad++;
            }
        }
        hd_dead_letter_clear(&dl);
        return;
    }
    struct hd_status_event ev;
    memset(&ev, 0, sizeof(ev));
    if (hd_status_event_decode(sd, m->payload, m->len, &ev, err, sizeof(err)) == 0 &&
        !strncmp(ev.tenant_id, v->prefix, strlen(v->prefix))) {
        v->topic_counts[ti]++;
        struct entry *e = find_rid(v, ev.request_id);
        if (!e)
            v->stray++;
        else if (e->seen[ev.channel][ev.status] < 255)
            e->seen[ev.channel][ev.status]++;
        if (e && e->at && (ev.status == HD_ST_QUEUED || ev.status == HD_ST_SENT)) {
            e->early += ev.occurred_at < e->at;
            if (ev.status == HD_ST_QUEUED && ev.occurred_at - e->at > v->max_late_ms)
                v->max_late_ms = ev.occurred_at - e->at;
        }
    }
    hd_status_event_clear(&ev);
}

/* Is everything expected of e there (possibly more)? */
static int entry_complete(const struct entry *e)
{
    if (e->dlq)
        return e->dlq_seen > 0;
    for (int c = 0; c < HD_CH__CNT; c++)
        if (e->expect_status[c] >= 0 && !e->seen[c][e->expect_status[c]])
            return 0;
    return 1;
}

/* Exactly-once check of one entry; prints problems, returns how many. */
static int entry_check(const struct entry *e, int *printed)
{
    int bad = 0;
    char why[256] = "";
    const char *strict = getenv("HD_E2E_SCHED_STRICT");
    int sched_exact = strict && !strcmp(strict, "1");
    if (e->dlq) {
        if (e->dlq_seen != 1 || e->dlq_bad)
            snprintf(why, sizeof(why), "dead letters seen %d (want 1), mismatched %d", e->dlq_seen,
                     e->dlq_bad);
    } else {
        if (e->dlq_seen)
            snprintf(why, sizeof(why), "unexpected dead letter");
        for (int c = 0; c < HD_CH__CNT && !why[0]; c++)
            for (int s = 0; s < HD_ST__CNT && !why[0]; s++) {
                int want = 0;
                if (e->expect_status[c] >= 0) {
                    int terminal = e->expect_status[c];
                    want = s == terminal || (s == HD_ST_QUEUED && terminal != HD_ST_SKIPPED);
                    /* held at most once; released late (a slow or crashed run) is lawful */
                    if (s == HD_ST_SCHEDULED && e->at && !sched_exact && e->seen[c][s] <= 1)
                        want = e->seen[c][s];
                    else if (s == HD_ST_SCHEDULED && e->at)
                        want = 1;
                }
                if (e->seen[c][s] != want)
                    snprintf(why, sizeof(why), "%s %s seen %d times, want %d", hd_channel_name(c),
                             hd_status_name(s), e->seen[c][s], want);
            }
    }
    if (!why[0] && e->early)
        snprintf(why, sizeof(why), "scheduled for %lld, queued or sent %d times before that",
                 (long long)e->at, e->early);
    if (why[0]) {
        bad = 1;
        if ((*printed)++ < 20)
            fprintf(stderr, "  %s %s (%s[%d]@%lld): %s\n", e->shape, e->rid, e->topic,
                    e->partition, (long long)e->offset, why);
    }
    return bad;
}

static rd_kafka_t *assign_from_start(struct hd_config *cfg, char *err, size_t n)
{
    char group[64], u[HD_UUID_STRLEN];
    hd_uuid_v4(u);
    snprintf(group, sizeof(group), "hd-e2e-verify-%.8s", u);
    rd_kafka_t *rk = hd_kafka_consumer_new(cfg, group, err, n);
    if (!rk)
        return NULL;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(64);
    for (int t = 0; verify_topics[t]; t++)
        for (int p = 0; p < cfg->partitions; p++)
            rd_kafka_topic_partition_list_add(l, verify_topics[t], p)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    return rk;
}

static int topic_index(const char *t)
{
    for (int i = 0; verify_topics[i]; i++)
        if (!strcmp(verify_topics[i], t))
            return i;
    return -1;
}

/* Read-model check: one row per expected notification, final status, history length. */
static int check_pg(struct verify *v, const char *conninfo, int timeout_s)
{
    long want_rows = 0, want_inapp = 0;
    for (size_t i = 0; i < v->cnt; i++)
        for (int c = 0; c < HD_CH__CNT; c++)
            if (!v->es[i].dlq && v->es[i].expect_status[c] >= 0) {
                want_rows++;
                want_inapp += c == HD_CH_IN_APP;
            }
    PGconn *pg = PQconnectdb(conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "hd_e2e verify: PostgreSQL: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return 1;
    }
    char like[128];
    snprintf(like, sizeof(like), "%s%%", v->prefix);
    const char *params[] = {like};
    int problems = 0;
    for (int64_t deadline = hd_mono_us() + timeout_s * 1000000LL;;) {
        problems = 0;
        PGresult *r = PQexecParams(
            pg,
            "SELECT n.request_id, n.channel, n.status, "
            "  (SELECT count(*) FROM notification_events e WHERE e.notification_id = "
            "n.notification_id) FROM notifications n WHERE n.tenant_id LIKE $1",
            1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            fprintf(stderr, "hd_e2e verify: %s", PQerrorMessage(pg));
            PQclear(r);
            PQfinish(pg);
            return 1;
        }
        long rows = PQntuples(r), inapp = 0;
        int printed = 0, final = hd_mono_us() >= deadline;
        for (long i = 0; i < rows; i++) {
            struct entry *e = find_rid(v, PQgetvalue(r, (int)i, 0));
            int c = hd_channel_parse(PQgetvalue(r, (int)i, 1));
            int st = hd_status_parse(PQgetvalue(r, (int)i, 2));
            long hist = atol(PQgetvalue(r, (int)i, 3));
            inapp += c == HD_CH_IN_APP;
            int want_hist = e && c >= 0 && e->expect_status[c] == HD_ST_SKIPPED ? 1 : 2;
            if (e && c >= 0 && e->seen[c][HD_ST_SCHEDULED])
                want_hist++;
            if (!e || c < 0 || e->expect_status[c] != st || hist != want_hist) {
                problems++;
                if (final && printed++ < 20)
                    fprintf(stderr, "  pg: %s %s: status %s, %ld events (want %s, %d)\n",
                            PQgetvalue(r, (int)i, 0), PQgetvalue(r, (int)i, 1),
                            PQgetvalue(r, (int)i, 2), hist,
                            e && c >= 0 && e->expect_status[c] >= 0
                                ? hd_status_name(e->expect_status[c]) : "no row", want_hist);
            }
        }
        PQclear(r);
        if (rows != want_rows || inapp != want_inapp)
            problems++;
        if (final || problems == 0) {
            printf("read model: %ld notifications (want %ld), %ld IN_APP inbox rows (want %ld), "
                   "%d problems\n", rows, want_rows, inapp, want_inapp, problems);
            break;
        }
        usleep(500 * 1000);
    }
    PQfinish(pg);
    return problems ? 1 : 0;
}

static int cmd_verify(const char *run, const char *manifest, int timeout_s)
{
    struct hd_config cfg;
    cfg_or_die(&cfg);
    struct verify v;
    memset(&v, 0, sizeof(v));
    char prefix[96], err[512];
    snprintf(prefix, sizeof(prefix), "e2e-%s-", run);
    v.prefix = prefix;
    v.es = load_manifest(manifest, &v.cnt);
    v.idx = hd_calloc(v.cnt, sizeof(*v.idx));
    for (size_t i = 0; i < v.cnt; i++)
        v.idx[i] = &v.es[i];
    qsort(v.idx, v.cnt, sizeof(*v.idx), by_rid);
    struct hd_serde *sd = hd_serde_new(err, sizeof(err));
    rd_kafka_t *rk = sd ? assign_from_start(&cfg, err, sizeof(err)) : NULL;
    if (!rk) {
        fprintf(stderr, "hd_e2e verify: %s\n", err);
        return 2;
    }
    int64_t deadline = hd_mono_us() + timeout_s * 1000000LL, idle_since = 0;
    size_t complete_from = 0;
    while (hd_mono_us() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m && !m->err) {
            observe(&v, sd, m, topic_index(rd_kafka_topic_name(m->rkt)));
            idle_since = 0;
        } else if (!idle_since) {
            idle_since = hd_mono_us();
        }
        if (m)
            rd_kafka_message_destroy(m);
        while (complete_from < v.cnt && entry_complete(&v.es[complete_from]))
            complete_from++;
        /* all there and 3 s without a new record: duplicates would have shown by now */
        if (complete_from == v.cnt && idle_since && hd_mono_us() - idle_since > 3000000)
            break;
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    int printed = 0, bad = 0;
    for (size_t i = 0; i < v.cnt; i++)
        bad += entry_check(&v.es[i], &printed);
    long want[6] = {0}; /* queued, sent, failed, skipped, dead letters, scheduled */
    long sched = 0;
    for (size_t i = 0; i < v.cnt; i++) {
        want[4] += v.es[i].dlq;
        for (int c = 0; c < HD_CH__CNT; c++) {
            int st = v.es[i].expect_status[c];
            if (v.es[i].dlq || st < 0)
                continue;
            want[0] += st != HD_ST_SKIPPED;
            want[1] += st == HD_ST_SENT;
            want[2] += st == HD_ST_FAILED;
            want[3] += st == HD_ST_SKIPPED;
            want[5] += v.es[i].seen[c][HD_ST_SCHEDULED] == 1;
            sched += v.es[i].at != 0;
        }
    }
    int totals_ok = 1;
    for (int k = 0; k < 6; k++)
        totals_ok &= want[k] == v.topic_counts[k];
    printf("inputs %zu; queued %ld, sent %ld, failed %ld, skipped %ld, dead letters %ld; "
           "stray %ld; inputs with problems %d\n",
           v.cnt, v.topic_counts[0], v.topic_counts[1], v.topic_counts[2], v.topic_counts[3],
           v.topic_counts[4], v.stray, bad);
    printf("topic totals %s the workload's: queued %ld, sent %ld, failed %ld, skipped %ld, "
           "dead letters %ld\n",
           totals_ok ? "match" : "DIFFER from", want[0], want[1], want[2], want[3], want[4]);
    printf("scheduled %ld: %ld held (SCHEDULED), none released early unless reported above; "
           "latest release %lld ms after its time\n",
           sched, v.topic_counts[5], (long long)v.max_late_ms);
    int rc = bad || v.stray || !totals_ok ? 1 : 0;
    if (cfg.pg && check_pg(&v, cfg.pg, timeout_s))
        rc = 1;
    for (size_t i = 0; i < v.cnt; i++)
        hd_free(v.es[i].bytes);
    hd_free(v.es);
    hd_free(v.idx);
    hd_serde_destroy(sd);
    hd_config_clear(&cfg);
    printf("%s\n", rc ? "VERIFY FAILED" : "verify ok: every input's outcome exactly once");
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "config"))
        return cmd_config(argv[2]);
    if ((argc == 7 || argc == 8) && !strcmp(argv[1], "produce"))
        return cmd_produce(argv[2], atol(argv[3]), atol(argv[4]), atol(argv[5]), argv[6],
                           argc == 8 ? atol(argv[7]) : 0);
    if (argc == 7 && !strcmp(argv[1], "repeat"))
        return cmd_repeat(argv[2], argv[3], atol(argv[4]), argv[5], atol(argv[6]));
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "verify"))
        return cmd_verify(argv[2], argv[3], argc == 5 ? atoi(argv[4]) : 300);
    fprintf(stderr, "usage: hd_e2e config RUN | produce RUN N MALFORMED EVENTS MANIFEST [FIRST] | "
                    "repeat RUN MANIFEST N OUT_MANIFEST FIRST | "
                    "verify RUN MANIFEST [TIMEOUT_S]\n");
    return 2;
}
