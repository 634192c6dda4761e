/*
 * hd_e2e's workload (see tests/tools/hd_e2e.c): the tenants and rules of a run,
 * the inputs it produces with their manifest lines, and the repeats of its
 * idempotency keys.
 */
#include <jansson.h>
#include <stdint.h>
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
#include "tests/tools/e2e/e2e.h"

/* What a valid input must lead to, per channel. */
enum shape { S_INAPP, S_EMAIL_INAPP, S_SMS, S_SMS_NOPHONE, S_EXPIRED, S_IDEM, S_EV_WELCOME,
             S_EV_ORDER, S_BAD_BYTES, S_BAD_TENANT, S_BAD_CONTENT, S_REPEAT, S_SCHED,
             S_SCHED_EXP, S_CAPPED, S_QUIET, S__CNT };
#define S__VALID 6 /* S_INAPP .. S_IDEM: the valid request shapes */

static const char *const shape_names[] = {"inapp", "email_inapp", "sms", "sms_nophone",
                                          "expired", "idem", "ev_welcome", "ev_order",
                                          "bad_bytes", "bad_tenant", "bad_content", "repeat", "sched",
                                          "sched_expired", "capped", "quiet"};

/* Expected outcomes: CHANNEL=terminal status, WHY=the SKIPPED reason code, DLQ=the dead
 * letter's error code. The producer appends AT=, EXP=, (repeats) DUP=, (quiet) QUIET= and
 * (capped) CAP=; a capped input past the cap's max is "EMAIL=SKIPPED,WHY=frequency_cap". */
static const char *const shape_expect[] = {
    "IN_APP=SENT", "EMAIL=SENT,IN_APP=SENT", "SMS=SENT", "SMS=FAILED", "PUSH=SKIPPED,WHY=expired",
    "IN_APP=SENT", "EMAIL=SENT,IN_APP=SENT", "IN_APP=SENT", "DLQ=malformed",
    "DLQ=unknown_tenant", "DLQ=missing_content", "IN_APP=SKIPPED,WHY=duplicate", "IN_APP=SENT",
    "IN_APP=SKIPPED,WHY=expired", "EMAIL=SENT", "PUSH=SENT"};

/* The preference tenant "e2e-RUN-p" (processors/prefs.c): a frequency cap of CAP_MAX SYSTEM
 * e-mails per user and hour, and quiet hours on PUSH in UTC. A "capped" user gets CAP_RUN
 * such requests: the first CAP_MAX (by offset) go on, the rest are SKIPPED frequency_cap. */
#define CAP_MAX 3
#define CAP_RUN 5
#define CAP_WINDOW_MS 3600000LL
/* A "quiet" input is produced only while the window has this much left to run, so it is
 * processed inside it (held) unless the pipeline lags that far behind; else the slot gets
 * an ordinary shape. */
#define QUIET_MARGIN_MS 20000LL

static int shape_malformed(enum shape s)
{
    return s >= S_BAD_BYTES && s <= S_BAD_CONTENT;
}

/* A scheduled input (about 1 in 20 valid ones) is due this long after it is produced
 * (HD_E2E_SCHED_MS, default 5000). */
static int64_t sched_delay_ms(void)
{
    const char *e = getenv("HD_E2E_SCHED_MS");
    return e && *e ? atoll(e) : 5000;
}

/* Pacing for a producer that must keep traffic flowing while members come and go (the
 * membership crash test): HD_E2E_RATE inputs per second (unset or 0: as fast as possible),
 * and HD_E2E_PROGRESS, a file rewritten about ten times a second with the number of inputs
 * handed to the producer so far, so a script can act "at input N". */
struct pace {
    double rate;
    const char *progress;
    int64_t start_us, last_write_us;
};

static void pace_init(struct pace *p)
{
    const char *r = getenv("HD_E2E_RATE");
    p->rate = r && *r ? atof(r) : 0;
    p->progress = getenv("HD_E2E_PROGRESS");
    if (p->progress && !*p->progress)
        p->progress = NULL;
    p->start_us = hd_mono_us();
    p->last_write_us = 0;
}

static void pace_write(const struct pace *p, long done)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", p->progress);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "%ld\n", done);
    fclose(f);
    rename(tmp, p->progress); /* a reader never sees a half-written number */
}

/* Called after input `done - 1` was handed over: waits until the rate allows the next. */
static void pace_after(struct pace *p, rd_kafka_t *rk, long done, long total)
{
    int64_t now = hd_mono_us();
    if (p->progress && (now - p->last_write_us >= 100000 || done == total)) {
        p->last_write_us = now;
        pace_write(p, done);
    }
    if (p->rate <= 0)
        return;
    int64_t due = p->start_us + (int64_t)((double)done * 1e6 / p->rate);
    while ((now = hd_mono_us()) < due)
        rd_kafka_poll(rk, (int)((due - now) / 1000 > 100 ? 100 : (due - now) / 1000));
}

/* Quiet hours of the preference tenant: from an hour before `hd_e2e config` to
 * HD_E2E_QUIET_MIN minutes after it (default 2; 0: no quiet hours), in whole minutes
 * (HH:MM, UTC): the window ends at the start of the minute that holds config time + Q. */
static long quiet_min(void)
{
    const char *e = getenv("HD_E2E_QUIET_MIN");
    long q = e && *e ? atol(e) : 2;
    return q < 0 ? 0 : q > 600 ? 600 : q;
}

void hd__e2e_cfg(struct hd_config *c)
{
    char err[256];
    if (hd_config_from_env(c, err, sizeof(err)) || !c->brokers) {
        fprintf(stderr, "hd_e2e: %s\n", c->brokers ? err : "HERALD_BROKERS is not set");
        exit(2);
    }
}

int hd__e2e_config(const char *run)
{
    char quiet[160] = "";
    long q = quiet_min();
    if (q) {
        int64_t now = hd_now_ms();
        long start = (long)((now - 3600000) / 60000 % 1440);
        long end = (long)((now + q * 60000) / 60000 % 1440);
        snprintf(quiet, sizeof(quiet),
                 ",\n   \"preference_defaults\": {\"quiet_hours\": {\"start\": \"%02ld:%02ld\", "
                 "\"end\": \"%02ld:%02ld\", \"channels\": [\"PUSH\"]}}",
                 start / 60, start % 60, end / 60, end % 60);
    }
    printf("{\"tenants\": [{\"tenant_id\": \"e2e-%s-a\"}, {\"tenant_id\": \"e2e-%s-b\"},\n"
           "  {\"tenant_id\": \"e2e-%s-p\", \"timezone\": \"UTC\",\n"
           "   \"frequency_caps\": [{\"channel\": \"EMAIL\", \"category\": \"SYSTEM\", \"max\": %d,"
           " \"window_ms\": %lld}]%s}],\n"
           " \"rules\": [\n"
           "  {\"id\": \"welcome\", \"tenant_id\": \"e2e-%s-a\", \"event_type\": \"user.registered\","
           " \"channels\": [\"EMAIL\", \"IN_APP\"], \"content\": {\"subject\": \"Welcome\","
           " \"text\": \"Hello\"}},\n"
           "  {\"id\": \"order\", \"tenant_id\": \"e2e-%s-a\", \"event_type\": \"order.created\","
           " \"when\": [{\"field\": \"total\", \"op\": \"gt\", \"value\": 0}],"
           " \"channels\": [\"IN_APP\"], \"content\": {\"title\": \"Order received\"}}]}\n",
           run, run, run, CAP_MAX, CAP_WINDOW_MS, quiet, run, run);
    return 0;
}

/* The preference tenant's quiet hours, as `hd_e2e config` wrote them into HERALD_CONFIG
 * (minutes after midnight UTC); q->on = 0 when there are none (or no config). */
struct quiet {
    int on;
    int start, end;
};

static int hhmm(json_t *v)
{
    int h, m;
    const char *s = json_string_value(v);
    return s && sscanf(s, "%2d:%2d", &h, &m) == 2 && h >= 0 && h < 24 && m >= 0 && m < 60
               ? h * 60 + m
               : -1;
}

static void quiet_load(struct quiet *q, const struct hd_config *cfg, const char *run)
{
    memset(q, 0, sizeof(*q));
    json_error_t jerr;
    json_t *doc = cfg->config_file ? json_load_file(cfg->config_file, 0, &jerr) : NULL;
    char id[96];
    snprintf(id, sizeof(id), "e2e-%s-p", run);
    size_t i;
    json_t *tn;
    json_array_foreach(json_object_get(doc, "tenants"), i, tn) {
        const char *tid = json_string_value(json_object_get(tn, "tenant_id"));
        if (!tid || strcmp(tid, id))
            continue;
        json_t *qh = json_object_get(json_object_get(tn, "preference_defaults"), "quiet_hours");
        q->start = hhmm(json_object_get(qh, "start"));
        q->end = hhmm(json_object_get(qh, "end"));
        q->on = q->start >= 0 && q->end >= 0 && q->start != q->end;
    }
    json_decref(doc);
}

/* When the quiet hours that hold now_ms end (the exact release time of a request held
 * then), or 0 when now_ms is outside them. */
static int64_t quiet_release(const struct quiet *q, int64_t now_ms)
{
    if (!q->on)
        return 0;
    int m = (int)(now_ms / 60000 % 1440);
    int in = q->start < q->end ? m >= q->start && m < q->end : m >= q->start || m < q->end;
    if (!in)
        return 0;
    int64_t rel = now_ms - now_ms % 86400000 + (int64_t)q->end * 60000;
    return rel > now_ms ? rel : rel + 86400000;
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
    if (s == S_CAPPED || s == S_QUIET) { /* the preference tenant; a capped run's own user */
        snprintf(tenant, sizeof(tenant), "e2e-%s-p", run);
        if (s == S_CAPPED)
            snprintf(user, sizeof(user), "cap-%ld", of);
        else
            snprintf(user, sizeof(user), "quiet-%ld", i % 37);
    }
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
    case S_SCHED_EXP: /* held (still valid when processed), expired when due */
        chans[0] = "IN_APP";
        json_object_set_new(o, "scheduled_at", json_integer(hd_now_ms() + sched_delay_ms()));
        json_object_set_new(o, "expires_at",
                            json_integer(hd_now_ms() + sched_delay_ms() - sched_delay_ms() / 4));
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
    case S_CAPPED: { /* distinct content, no idempotency key: dedup lets each through */
        char text[64];
        snprintf(text, sizeof(text), "Capped message %ld", i);
        json_object_set_new(content, "text", json_string(text));
        json_object_set_new(o, "category", json_string("SYSTEM"));
        chans[0] = "EMAIL";
        rcpt = json_pack("{s:s}", "email", "someone@example.com");
        break;
    }
    case S_QUIET: { /* held by quiet hours (neither URGENT nor ALERT), released at their end */
        char tok[128];
        snprintf(tok, sizeof(tok), "tok-%s-%ld", run, i);
        json_object_set_new(o, "category", json_string("TRANSACTIONAL"));
        json_object_set_new(o, "priority", json_string("NORMAL"));
        chans[0] = "PUSH";
        rcpt = json_pack("{s:[s]}", "push_tokens", tok);
        break;
    }
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
                  : i % 40 == 13               ? S_SCHED_EXP
                  : i % 40 == 21               ? S_CAPPED
                  : i % 40 == 33               ? S_QUIET
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
    /* capped inputs come in runs of CAP_RUN: the last ones that would not fill one get an
     * ordinary shape */
    long capped = 0;
    for (long i = 0; i < n; i++)
        capped += sh[i] == S_CAPPED;
    for (long i = n - 1; i >= 0 && capped % CAP_RUN; i--)
        if (sh[i] == S_CAPPED) {
            sh[i] = (enum shape)(i % S__VALID);
            capped--;
        }
    return sh;
}

static void put_hex(FILE *f, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", p[i]);
}

/* A malformed input's key: its own (not tenant/user), with a NUL and a non-UTF-8 byte, so
 * a dead letter that re-derives or truncates the key shows. Returns its length. */
static size_t bad_key(const char *run, long i, char *buf, size_t size)
{
    int n = snprintf(buf, size, "e2e-%s-dlq-%ld/", run, i);
    if (n < 0 || (size_t)n + 4 > size)
        return 0;
    memcpy(buf + n, "\0\xfek", 3);
    return (size_t)n + 3;
}

/* A malformed input's headers: a W3C traceparent, a binary header (NUL, bytes that are
 * not UTF-8) twice in a row with different values, and one with a null value. */
static rd_kafka_headers_t *bad_headers(long i)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    char tp[64];
    snprintf(tp, sizeof(tp), "00-4865726c64e2e000%016llx-%016llx-01", (unsigned long long)i + 1,
             (unsigned long long)i * 7 + 1);
    rd_kafka_header_add(h, "traceparent", -1, tp, -1);
    unsigned char bin[6] = {0xff, 0xfe, 0x00, 0xc3, 0x28, (unsigned char)i};
    rd_kafka_header_add(h, "e2e-bin", -1, bin, sizeof(bin));
    rd_kafka_header_add(h, "e2e-bin", -1, "\x80second", 7);
    rd_kafka_header_add(h, "e2e-null", -1, NULL, 0);
    return h;
}

/* Headers in the manifest: NAME=HEX per header, NAME alone for a null value, ","
 * between; "-" for none. */
static void put_headers(FILE *f, const rd_kafka_headers_t *h)
{
    const char *name;
    const void *val;
    size_t len;
    size_t i;
    for (i = 0; rd_kafka_header_get_all(h, i, &name, &val, &len) == RD_KAFKA_RESP_ERR_NO_ERROR;
         i++) {
        fprintf(f, "%s%s%s", i ? "," : "", name, val ? "=" : "");
        if (val)
            put_hex(f, val, len);
    }
    if (!i)
        fputc('-', f);
}

/* One manifest line: shape topic partition offset request-id expectations value-hex, and
 * for a malformed input key-hex and headers. `expect` replaces the shape's expectations
 * when not NULL. */
static void put_manifest_line(FILE *f, const char *run, long i, enum shape s, const char *topic,
                              const struct hd_kafka_delivery *dr, const char *rid, int64_t at,
                              int64_t exp, int64_t quiet, const char *expect,
                              const struct hd_buf *val)
{
    fprintf(f, "%s %s %d %lld %s %s", shape_names[s], topic, dr->partition,
            (long long)dr->offset, rid, expect ? expect : shape_expect[s]);
    if (at)
        fprintf(f, ",AT=%lld", (long long)at);
    if (exp)
        fprintf(f, ",EXP=%lld", (long long)exp);
    if (quiet)
        fprintf(f, ",QUIET=%lld", (long long)quiet);
    fputc(' ', f);
    if (!shape_malformed(s)) {
        fputs("-\n", f);
        return;
    }
    put_hex(f, (unsigned char *)val->data, val->len);
    char key[160];
    size_t kn = bad_key(run, i, key, sizeof(key));
    fputc(' ', f);
    put_hex(f, (unsigned char *)key, kn);
    fputc(' ', f);
    rd_kafka_headers_t *h = bad_headers(i);
    put_headers(f, h);
    rd_kafka_headers_destroy(h);
    fputc('\n', f);
}

int hd__e2e_produce(const char *run, long n, long malformed, long events, const char *manifest,
                    long first)
{
    struct hd_config cfg;
    hd__e2e_cfg(&cfg);
    char err[1024];
    struct hd_serde *sd = hd_serde_new(err, sizeof(err));
    rd_kafka_t *rk = sd ? hd_kafka_producer_new(&cfg, NULL, err, sizeof(err)) : NULL;
    if (!rk) {
        fprintf(stderr, "hd_e2e produce: %s\n", err);
        return 1;
    }
    enum shape *sh = make_shapes(n, malformed, events);
    struct quiet qh;
    quiet_load(&qh, &cfg, run);
    /* a capped run's user is named after the run's first input (numbers are unique) */
    long *grp = hd_calloc((size_t)n, sizeof(*grp)), capped = 0, gid = 0;
    for (long i = 0; i < n; i++)
        if (sh[i] == S_CAPPED) {
            if (capped++ % CAP_RUN == 0)
                gid = first + i;
            grp[i] = gid;
        }
    int64_t *quiets = hd_calloc((size_t)n, sizeof(*quiets));
    struct hd_kafka_delivery *dr = hd_calloc((size_t)n, sizeof(*dr));
    char **rids = hd_calloc((size_t)n, sizeof(*rids));
    const char **topics = hd_calloc((size_t)n, sizeof(*topics));
    struct hd_buf *vals = hd_calloc((size_t)n, sizeof(*vals));
    int64_t *ats = hd_calloc((size_t)n, sizeof(*ats)), *exps = hd_calloc((size_t)n, sizeof(*exps));
    struct pace pace;
    pace_init(&pace);
    for (long i = 0; i < n; i++) {
        char rid[HD_UUID_STRLEN + 64], key[160];
        const char *topic;
        if (sh[i] == S_QUIET) { /* only while the window has QUIET_MARGIN_MS left */
            int64_t now = hd_now_ms();
            quiets[i] = quiet_release(&qh, now);
            if (!quiets[i] || quiets[i] - now <= QUIET_MARGIN_MS) {
                quiets[i] = 0;
                sh[i] = (enum shape)(i % S__VALID);
            }
        }
        json_t *o = make_input(run, first + i, sh[i], sh[i] == S_CAPPED ? grp[i] : first + i,
                               &topic, rid, sizeof(rid));
        snprintf(key, sizeof(key), "%s/%s", json_string_value(json_object_get(o, "tenant_id")),
                 json_string_value(json_object_get(o, "user_id")));
        size_t kn = strlen(key);
        rd_kafka_headers_t *hdrs = NULL;
        if (shape_malformed(sh[i])) {
            kn = bad_key(run, first + i, key, sizeof(key));
            hdrs = bad_headers(first + i);
        }
        if (sh[i] == S_BAD_BYTES) {
            hd_buf_printf(&vals[i], "not avro %ld ", first + i);
            hd_buf_append(&vals[i], "\0\xff\xc3", 3);
        } else if (hd_serde_encode_json(sd, hd_serde_schema_for_topic(sd, topic), o, &vals[i], err,
                                        sizeof(err))) {
            fprintf(stderr, "hd_e2e produce: input %ld: %s\n", i, err);
            return 1;
        }
        json_t *at = json_object_get(o, "scheduled_at"), *exp = json_object_get(o, "expires_at");
        ats[i] = at ? (int64_t)json_integer_value(at) : 0;
        exps[i] = at && exp ? (int64_t)json_integer_value(exp) : 0;
        json_decref(o);
        rids[i] = hd_strdup(rid);
        topics[i] = topic;
        rd_kafka_resp_err_t e = hd_kafka_produce(rk, topic, RD_KAFKA_PARTITION_UA, key, kn,
                                                 vals[i].data, vals[i].len, hdrs, &dr[i]);
        if (e) {
            fprintf(stderr, "hd_e2e produce: %s\n", rd_kafka_err2str(e));
            return 1;
        }
        rd_kafka_poll(rk, 0);
        pace_after(&pace, rk, i + 1, n);
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
        char capx[96];
        const char *expect = NULL;
        if (sh[i] == S_CAPPED) {
            /* its rank in its run by offset (one key: one partition, in order) */
            long rank = 0;
            for (long j = 0; j < n; j++)
                rank += j != i && sh[j] == S_CAPPED && grp[j] == grp[i] &&
                        (dr[j].partition < dr[i].partition ||
                         (dr[j].partition == dr[i].partition && dr[j].offset < dr[i].offset));
            snprintf(capx, sizeof(capx), "%s,CAP=%ld/%d/%d",
                     rank < CAP_MAX ? "EMAIL=SENT" : "EMAIL=SKIPPED,WHY=frequency_cap", grp[i],
                     CAP_MAX, CAP_RUN);
            expect = capx;
        }
        put_manifest_line(f, run, first + i, sh[i], topics[i], &dr[i], rids[i], ats[i], exps[i],
                          quiets[i], expect, &vals[i]);
        hd_buf_free(&vals[i]);
        hd_free(rids[i]);
    }
    fclose(f);
    printf("produced %ld inputs (%ld malformed, %ld events)\n", n, malformed, events);
    hd_free(vals);
    hd_free(grp);
    hd_free(quiets);
    hd_free(ats);
    hd_free(exps);
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
int hd__e2e_repeat(const char *run, const char *in_manifest, long n, const char *out_manifest,
                   long first)
{
    FILE *in = fopen(in_manifest, "r");
    if (!in) {
        perror(in_manifest);
        return 2;
    }
    struct hd_config cfg;
    hd__e2e_cfg(&cfg);
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
        char first_nid[HD_UUID_STRLEN]; /* the notification the duplicate's reason names */
        hd_notification_id(rid0, "IN_APP", first_nid);
        fprintf(out, "repeat %s %d %lld %s %s,DUP=%s -\n", topic, part, (long long)off, rid,
                shape_expect[S_REPEAT], first_nid);
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
