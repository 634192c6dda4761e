/*
 * The task loop (see runtime.h): consume a batch, run each record through
 * its sub-topology's chain inside one Kafka transaction, commit outputs and
 * consumed offsets together. Error paths follow KIP-98/KIP-447: abortable ->
 * abort + rewind; fatal, fenced or unknown commit outcome -> new producer
 * (same transactional id, which fences the old epoch) + rewind.
 */
#include "processors/runtime.h"

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
#include "processors/stores.h"
#include "processors/tables.h"

#define HD_TASK_SUBS_MAX 8
#define HD_TASK_RETRIES 3
/* Call timeouts of transactional operations: the transaction timeout, past which the broker
 * aborts the transaction anyway */
#define HD_TXN_TIMEOUT_MS (t->cfg->txn_timeout_ms)
#define HD_MAINT_MS 250

struct hd_ctx {
    struct hd_task *task;
    struct hd_record *rec;
    int32_t partition; /* of the record being processed, or the one punctuated */
    size_t sub, proc;  /* the processor being punctuated (for hd_ctx_forward) */
    char code[64];
    struct hd_buf reason;
    struct hd_buf enc;
    int emit_failed;
};

struct hd_task {
    const struct hd_config *cfg;
    const struct hd_tables *tables; /* a set or a live holder */
    const struct hd_tables *snap;   /* the snapshot this transaction uses */
    char *group_id;
    char *txn_id;
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    rd_kafka_queue_t *queue;
    const struct hd_subtopology *subs[HD_TASK_SUBS_MAX];
    void *selves[HD_TASK_SUBS_MAX][HD_CHAIN_MAX];
    size_t sub_cnt;
    struct hd_serde *serde;
    struct hd_ctx ctx;
    struct hd_record rec;
    rd_kafka_message_t **batch;
    size_t batch_cnt;           /* records in batch (the rebalance callback may drop some) */
    struct hd_ledger *ledger;   /* consumed positions: what a commit may pass */
    int64_t now;
    int64_t last_report_us;
    int failures; /* consecutive failed batches: backoff before the next */
    struct hd_storeset *stores; /* NULL when no processor keeps state */
    int64_t last_maint_ms;      /* expiry and punctuate, every HD_MAINT_MS */
    int punctuates;             /* does a processor have punctuate? */
    long crash_before, crash_after; /* test-only crash points (below): 0 never, else N */
    long crash_seen[2];             /* times each was reached */
    int fatal;                  /* a store could not be restored on assignment */
    char fatal_err[512];
    struct hd_task_stats stats;
};

/* ---- context functions for processors ---- */

struct hd_serde *hd_ctx_serde(struct hd_ctx *ctx)
{
    return ctx->task->serde;
}

const struct hd_tables *hd_ctx_tables(struct hd_ctx *ctx)
{
    return ctx->task->snap ? ctx->task->snap : ctx->task->tables;
}

struct hd_store *hd_ctx_store(struct hd_ctx *ctx, const char *name)
{
    if (!ctx->task->stores || ctx->partition < 0)
        return NULL;
    return hd_storeset_get(ctx->task->stores, name, ctx->partition);
}

const struct hd_config *hd_ctx_config(struct hd_ctx *ctx)
{
    return ctx->task->cfg;
}

int64_t hd_ctx_now(struct hd_ctx *ctx)
{
    return ctx->task->now;
}

static enum hd_verdict ctx_set(struct hd_ctx *ctx, enum hd_verdict v, const char *code,
                               const char *fmt, va_list ap)
{
    snprintf(ctx->code, sizeof(ctx->code), "%s", code);
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    hd_buf_reset(&ctx->reason);
    hd_buf_puts(&ctx->reason, msg);
    return v;
}

enum hd_verdict hd_ctx_skip(struct hd_ctx *ctx, const char *reason_code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum hd_verdict v = ctx_set(ctx, HD_SKIP, reason_code, fmt, ap);
    va_end(ap);
    return v;
}

enum hd_verdict hd_ctx_error(struct hd_ctx *ctx, const char *error_code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum hd_verdict v = ctx_set(ctx, HD_ERROR, error_code, fmt, ap);
    va_end(ap);
    return v;
}

enum hd_verdict hd_ctx_retry(struct hd_ctx *ctx, const char *error_code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum hd_verdict v = ctx_set(ctx, HD_RETRY, error_code, fmt, ap);
    va_end(ap);
    return v;
}

/* Headers every output carries: traceparent (new span, the input's trace), tenant,
 * notification id and attempt where they apply. */
static rd_kafka_headers_t *out_headers(struct hd_ctx *ctx, const char *tenant,
                                       const char *notification_id, int attempt)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    char span[HD_UUID_STRLEN], tp[64];
    hd_uuid_v4(span);
    if (ctx->rec && ctx->rec->trace_id[0]) {
        snprintf(tp, sizeof(tp), "00-%s-%.8s%.4s%.4s-01", ctx->rec->trace_id, span, span + 9,
                 span + 14);
        rd_kafka_header_add(h, "traceparent", -1, tp, -1);
    }
    if (tenant)
        rd_kafka_header_add(h, "herald-tenant", -1, tenant, -1);
    if (notification_id)
        rd_kafka_header_add(h, "herald-notification-id", -1, notification_id, -1);
    if (attempt > 0) {
        char a[16];
        snprintf(a, sizeof(a), "%d", attempt);
        rd_kafka_header_add(h, "herald-attempt", -1, a, -1);
    }
    return h;
}

static int ctx_produce(struct hd_ctx *ctx, const char *topic, const void *key, size_t key_len,
                       const void *value, size_t value_len, rd_kafka_headers_t *hdrs)
{
    rd_kafka_t *rk = ctx->task->producer;
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, key_len),
            RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (!err)
            return 0;
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk, 10);
            continue;
        }
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        hd_log_warn("runtime", "produce to %s failed: %s", topic, rd_kafka_err2str(err));
        ctx->emit_failed = 1;
        return -1;
    }
}

static int ctx_emit_encoded(struct hd_ctx *ctx, const char *topic, const char *tenant,
                            const char *user, const char *notification_id, int attempt)
{
    char key[512];
    int kn = snprintf(key, sizeof(key), "%s/%s", tenant, user);
    if (kn < 0 || (size_t)kn >= sizeof(key))
        kn = (int)sizeof(key) - 1;
    return ctx_produce(ctx, topic, key, (size_t)kn, ctx->enc.data, ctx->enc.len,
                       out_headers(ctx, tenant, notification_id, attempt));
}

static int ctx_encode_failed(struct hd_ctx *ctx, const char *what, const char *err)
{
    hd_log_error("runtime", "cannot encode %s: %s", what, err);
    ctx->emit_failed = 1;
    return -1;
}

int hd_ctx_emit_raw(struct hd_ctx *ctx, const char *topic, const void *key, size_t key_len,
                    const void *value, size_t value_len)
{
    return ctx_produce(ctx, topic, key, key_len, value, value_len, out_headers(ctx, NULL, NULL, 0));
}

int hd_ctx_emit_request(struct hd_ctx *ctx, const struct hd_request *r)
{
    char err[512];
    hd_buf_reset(&ctx->enc);
    if (hd_request_encode(ctx->task->serde, r, &ctx->enc, err, sizeof(err)))
        return ctx_encode_failed(ctx, "NotificationRequest", err);
    return ctx_emit_encoded(ctx, HD_TOPIC_REQUESTS, r->tenant_id, r->user_id, NULL, 0);
}

int hd_ctx_emit_status(struct hd_ctx *ctx, const struct hd_status_event *ev)
{
    char err[512];
    hd_buf_reset(&ctx->enc);
    if (hd_status_event_encode(ctx->task->serde, ev, &ctx->enc, err, sizeof(err)))
        return ctx_encode_failed(ctx, "StatusEvent", err);
    return ctx_emit_encoded(ctx, hd_status_topic(ev->status), ev->tenant_id, ev->user_id,
                            ev->notification_id, ev->attempt);
}

/* "IN_APP" -> "in_app": the suffix of herald.dispatch.<channel>. */
static const char *channel_suffix(enum hd_channel c, char *out, size_t out_size)
{
    const char *n = hd_channel_name(c);
    size_t i = 0;
    for (; n[i] && i + 1 < out_size; i++)
        out[i] = (char)(n[i] >= 'A' && n[i] <= 'Z' ? n[i] + 32 : n[i]);
    out[i] = '\0';
    return out;
}

int hd_ctx_emit_dispatch(struct hd_ctx *ctx, const struct hd_dispatch *d)
{
    char err[512], topic[64], suffix[32];
    hd_buf_reset(&ctx->enc);
    if (hd_dispatch_encode(ctx->task->serde, d, &ctx->enc, err, sizeof(err)))
        return ctx_encode_failed(ctx, "Dispatch", err);
    snprintf(topic, sizeof(topic), "%s%s", HD_TOPIC_DISPATCH_PREFIX, channel_suffix(d->channel, suffix, sizeof(suffix)));
    return ctx_emit_encoded(ctx, topic, d->tenant_id, d->user_id, d->notification_id, d->attempt);
}

int hd_ctx_emit_inbox(struct hd_ctx *ctx, const struct hd_inbox_item *it)
{
    char err[512];
    hd_buf_reset(&ctx->enc);
    if (hd_inbox_item_encode(ctx->task->serde, it, &ctx->enc, err, sizeof(err)))
        return ctx_encode_failed(ctx, "InboxItem", err);
    return ctx_emit_encoded(ctx, HD_TOPIC_INBOX, it->tenant_id, it->user_id, it->notification_id, 0);
}

void hd_ctx_status_for(struct hd_ctx *ctx, struct hd_status_event *ev, const struct hd_request *r,
                       enum hd_channel ch, enum hd_status st, char *nid)
{
    memset(ev, 0, sizeof(*ev));
    hd_notification_id(r->request_id, hd_channel_name(ch), nid);
    ev->notification_id = nid;
    ev->request_id = r->request_id;
    ev->tenant_id = r->tenant_id;
    ev->user_id = r->user_id;
    ev->channel = ch;
    ev->provider = r->provider;
    ev->status = st;
    ev->batch_id = r->batch_id;
    ev->occurred_at = ctx->task->now;
}

/* ---- dead letters and skips ---- */

static void source_of(const rd_kafka_message_t *m, struct hd_source *s)
{
    s->topic = rd_kafka_topic_name(m->rkt);
    s->partition = m->partition;
    s->offset = m->offset;
    s->key = m->key;
    s->key_len = m->key_len;
    s->headers = NULL; /* emit_dead_letter reads them from m */
    s->value = m->payload;
    s->value_len = m->len;
}

/* Dead-letters the source's bytes; `m` gives the headers, or s->headers when it is NULL
 * (a held record, whose processor kept them). */
static int emit_dead_letter(struct hd_task *t, const struct hd_source *s,
                            const rd_kafka_message_t *m, const char *code, const char *error,
                            const char *processor)
{
    struct hd_dead_letter dl;
    memset(&dl, 0, sizeof(dl));
    dl.source_topic = (char *)s->topic;
    dl.source_partition = s->partition;
    dl.source_offset = s->offset;
    dl.key = (void *)s->key;
    dl.key_len = s->key_len;
    dl.value = (void *)s->value;
    dl.value_len = s->value_len;
    const rd_kafka_headers_t *src_hdrs = s->headers;
    rd_kafka_headers_t *mh = NULL;
    if (m && rd_kafka_message_headers(m, &mh) == RD_KAFKA_RESP_ERR_NO_ERROR)
        src_hdrs = mh;
    if (src_hdrs) {
        size_t n = rd_kafka_header_cnt(src_hdrs);
        dl.headers = hd_calloc(n ? n : 1, sizeof(*dl.headers));
        for (size_t i = 0; i < n; i++) {
            const char *name;
            const void *val;
            size_t len;
            if (rd_kafka_header_get_all(src_hdrs, i, &name, &val, &len))
                break;
            dl.headers[i].key = (char *)name;
            dl.headers[i].value = (void *)val;
            dl.headers[i].value_len = len;
            dl.header_cnt++;
        }
    }
    dl.error_code = (char *)code;
    dl.error = (char *)error;
    dl.processor = (char *)processor;
    dl.failed_at = t->now;

    char err[512];
    hd_buf_reset(&t->ctx.enc);
    int rc = hd_dead_letter_encode(t->serde, &dl, &t->ctx.enc, err, sizeof(err));
    hd_free(dl.headers);
    if (rc)
        return ctx_encode_failed(&t->ctx, "DeadLetter", err);
    rd_kafka_headers_t *h = src_hdrs ? rd_kafka_headers_copy(src_hdrs) : rd_kafka_headers_new(1);
    rd_kafka_header_add(h, "herald-error-code", -1, code, -1);
    t->stats.dead_letters++;
    hd_log_warn("runtime", "dead-lettered %s[%d]@%lld by %s: %s: %s", dl.source_topic,
                dl.source_partition, (long long)dl.source_offset, processor, code, error);
    return ctx_produce(&t->ctx, HD_TOPIC_DLQ, s->key, s->key_len, t->ctx.enc.data,
                       t->ctx.enc.len, h);
}

/* A skipped request gets one SKIPPED status per channel; a skipped dispatch one for its
 * channel. A domain event that no rule routes is only counted. */
static void emit_skips(struct hd_task *t, struct hd_record *rec)
{
    struct hd_status_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.status = HD_ST_SKIPPED;
    ev.reason_code = t->ctx.code;
    ev.reason = t->ctx.reason.data;
    ev.occurred_at = t->now;
    char nid[HD_UUID_STRLEN];
    t->stats.skipped++;
    if (rec->kind == HD_PAYLOAD_REQUEST) {
        struct hd_request *r = &rec->req;
        for (size_t i = 0; i < r->channel_cnt; i++) {
            hd_ctx_status_for(&t->ctx, &ev, r, r->channels[i], HD_ST_SKIPPED, nid);
            ev.reason_code = t->ctx.code;
            ev.reason = t->ctx.reason.data;
            hd_ctx_emit_status(&t->ctx, &ev);
        }
    } else if (rec->kind == HD_PAYLOAD_DISPATCH) {
        struct hd_dispatch *d = &rec->dsp;
        ev.notification_id = d->notification_id;
        ev.request_id = d->request_id;
        ev.tenant_id = d->tenant_id;
        ev.user_id = d->user_id;
        ev.channel = d->channel;
        ev.provider = d->provider;
        ev.batch_id = d->batch_id;
        ev.attempt = d->attempt;
        hd_ctx_emit_status(&t->ctx, &ev);
    } else if (rec->src) {
        hd_log_debug("runtime", "%s[%d]@%lld skipped: %s", rd_kafka_topic_name(rec->src->rkt),
                     rec->src->partition, (long long)rec->src->offset, t->ctx.code);
    }
}

/* ---- decoding ---- */

static void record_reset(struct hd_record *rec)
{
    if (rec->event) {
        json_decref(rec->event);
        rec->event = NULL;
    }
    if (rec->kind == HD_PAYLOAD_REQUEST)
        hd_request_clear(&rec->req);
    else if (rec->kind == HD_PAYLOAD_DISPATCH)
        hd_dispatch_clear(&rec->dsp);
    else if (rec->kind == HD_PAYLOAD_ACTION)
        hd_user_action_clear(&rec->act);
    rec->event_schema = NULL;
    rec->src = NULL;
}

static void trace_from_headers(const rd_kafka_message_t *m, char out[33])
{
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t n;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h &&
        rd_kafka_header_get_last(h, "traceparent", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        n >= 55 && !memcmp(v, "00-", 3)) {
        memcpy(out, (const char *)v + 3, 32);
        out[32] = '\0';
        return;
    }
    char u[HD_UUID_STRLEN];
    hd_uuid_v4(u);
    size_t j = 0;
    for (size_t i = 0; u[i] && j < 32; i++)
        if (u[i] != '-')
            out[j++] = u[i];
    out[j] = '\0';
}

/* Decodes m into rec per the sub-topology's kind. Returns 0, or -1 with errstr. */
static int record_decode(struct hd_task *t, const struct hd_subtopology *sub,
                         const rd_kafka_message_t *m, struct hd_record *rec, char *errstr,
                         size_t errstr_size)
{
    rec->src = m;
    rec->kind = sub->kind;
    trace_from_headers(m, rec->trace_id);
    if (sub->kind == HD_PAYLOAD_RAW)
        return 0;
    if (!m->payload || !m->len)
        return hd_seterr(-1, errstr, errstr_size, "empty record value");
    switch (sub->kind) {
    case HD_PAYLOAD_EVENT: {
        const char *topic = rd_kafka_topic_name(m->rkt);
        const struct hd_schema *want = hd_serde_schema_for_topic(t->serde, topic);
        rec->event = hd_serde_decode_json(t->serde, m->payload, m->len, &rec->event_schema, errstr,
                                          errstr_size);
        if (!rec->event)
            return -1;
        if (want && rec->event_schema != want)
            return hd_seterr(-1, errstr, errstr_size, "topic %s carries %s, got %s", topic,
                             hd_schema_name(want), hd_schema_name(rec->event_schema));
        return 0;
    }
    case HD_PAYLOAD_REQUEST:
        return hd_request_decode(t->serde, m->payload, m->len, &rec->req, errstr, errstr_size);
    case HD_PAYLOAD_DISPATCH:
        return hd_dispatch_decode(t->serde, m->payload, m->len, &rec->dsp, errstr, errstr_size);
    case HD_PAYLOAD_ACTION:
        return hd_user_action_decode(t->serde, m->payload, m->len, &rec->act, errstr,
                                     errstr_size);
    default:
        return hd_seterr(-1, errstr, errstr_size, "unknown payload kind");
    }
}

/* ---- one record ---- */

/* Runs the chain from processor `from`; on a verdict other than PASS sets *at to the
 * processor that gave it. */
static enum hd_verdict run_chain(struct hd_task *t, size_t si, size_t from, struct hd_record *rec,
                                 size_t *at)
{
    const struct hd_subtopology *sub = t->subs[si];
    for (size_t i = from; sub->chain[i]; i++) {
        enum hd_verdict v = sub->chain[i]->process(t->selves[si][i], &t->ctx, rec);
        if (v != HD_PASS) {
            *at = i;
            return v;
        }
    }
    return HD_PASS;
}

/* Runs a decoded record from processor `from` and acts on the verdict. A RETRY retries
 * the processor that asked for it (not the whole chain: earlier processors have staged
 * their state for this record already), then dead-letters. */
static void finish_record(struct hd_task *t, size_t si, size_t from, struct hd_record *rec,
                          const struct hd_source *src, const rd_kafka_message_t *m)
{
    struct hd_record *outer = t->ctx.rec;
    t->ctx.rec = rec;
    size_t at = from;
    enum hd_verdict v = HD_PASS;
    for (int attempt = 0; attempt <= HD_TASK_RETRIES; attempt++) {
        v = run_chain(t, si, at, rec, &at);
        if (v != HD_RETRY)
            break;
        if (attempt < HD_TASK_RETRIES) {
            struct timespec ts = {0, (long)(50 * 1000000L) << attempt};
            nanosleep(&ts, NULL);
        }
    }
    const char *proc = v == HD_PASS ? "runtime" : t->subs[si]->chain[at]->name;
    char err[1024];
    switch (v) {
    case HD_PASS:
    case HD_HOLD:
        break;
    case HD_SKIP:
        emit_skips(t, rec);
        break;
    case HD_RETRY:
        snprintf(err, sizeof(err), "gave up after %d retries: %s", HD_TASK_RETRIES,
                 t->ctx.reason.data ? t->ctx.reason.data : "");
        emit_dead_letter(t, src, m, t->ctx.code, err, proc);
        break;
    case HD_ERROR:
        emit_dead_letter(t, src, m, t->ctx.code, t->ctx.reason.data ? t->ctx.reason.data : "",
                         proc);
        break;
    }
    t->ctx.rec = outer;
}

void hd_ctx_forward(struct hd_ctx *ctx, struct hd_record *rec, const struct hd_source *src)
{
    finish_record(ctx->task, ctx->sub, ctx->proc + 1, rec, src, NULL);
}

int hd_ctx_dead_letter_entry(struct hd_ctx *ctx, const char *store, const void *key,
                             size_t key_len, const void *value, size_t value_len,
                             const char *code, const char *error)
{
    struct hd_task *t = ctx->task;
    const char *topic = t->stores ? hd_storeset_changelog(t->stores, store) : NULL;
    if (!topic || ctx->partition < 0) {
        /* a caller bug; abort, so the entry the caller deletes stays */
        hd_log_error("runtime", "dead letter of a %s entry: no such store for partition %d",
                     store, ctx->partition);
        ctx->emit_failed = 1;
        return -1;
    }
    struct hd_source src = {topic, ctx->partition, -1, key, key_len, NULL, value, value_len};
    return emit_dead_letter(t, &src, NULL, code, error,
                            t->subs[ctx->sub]->chain[ctx->proc]->name);
}

static void process_one(struct hd_task *t, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    struct hd_source src;
    source_of(m, &src);
    size_t si;
    for (si = 0; si < t->sub_cnt; si++)
        if (hd_topology_for_topic(&t->subs[si], 1, topic))
            break;
    if (si == t->sub_cnt) {
        emit_dead_letter(t, &src, m, "no_topology", "no sub-topology consumes this topic",
                         "runtime");
        return;
    }
    struct hd_record *rec = &t->rec;
    char err[1024];
    t->ctx.partition = m->partition;
    if (record_decode(t, t->subs[si], m, rec, err, sizeof(err)))
        emit_dead_letter(t, &src, m, "malformed", err, "decode");
    else
        finish_record(t, si, 0, rec, &src, m);
    record_reset(rec);
    t->ctx.partition = -1;
}

/* ---- transactions ---- */

/* Does a sub-topology that consumes `topic` keep state? */
static int topic_has_state(const struct hd_task *t, const char *topic)
{
    for (size_t s = 0; s < t->sub_cnt; s++)
        if (hd_topology_for_topic(&t->subs[s], 1, topic))
            for (size_t i = 0; t->subs[s]->chain[i]; i++)
                if (t->subs[s]->chain[i]->stores)
                    return 1;
    return 0;
}

/* Cooperative rebalancing (KIP-429): only the partitions that move are assigned or
 * revoked; the rest keep being processed through the rebalance. Stores of newly assigned
 * partitions are opened and restored before the assignment takes effect, so no record is
 * processed against stale state; revoked partitions' stores are closed. No transaction
 * is open here: callbacks run in the consume call, between batches. */
static void task_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                              rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct hd_task *t = opaque;
    int coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    rd_kafka_error_t *e = NULL;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        hd_log_info("runtime", "%s: assigned %d partitions (%s)", t->group_id, parts->cnt,
                    coop ? "incremental" : "eager");
        for (int i = 0; t->stores && i < parts->cnt && !t->fatal; i++)
            if (topic_has_state(t, parts->elems[i].topic) &&
                hd_storeset_assign(t->stores, parts->elems[i].partition, t->fatal_err,
                                   sizeof(t->fatal_err)))
                t->fatal = 1;
        for (int i = 0; i < parts->cnt; i++)
            hd_ledger_assign(t->ledger, parts->elems[i].topic, parts->elems[i].partition);
        if (coop)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
    } else {
        int lost = rd_kafka_assignment_lost(rk);
        /* records of these partitions already in the batch being filled are not ours to
         * process or commit any more: their next owner reads them from the committed offset */
        size_t kept = 0, dropped = 0;
        for (size_t i = 0; i < t->batch_cnt; i++) {
            rd_kafka_message_t *m = t->batch[i];
            if (rd_kafka_topic_partition_list_find(parts, rd_kafka_topic_name(m->rkt),
                                                   m->partition)) {
                rd_kafka_message_destroy(m);
                dropped++;
            } else {
                t->batch[kept++] = m;
            }
        }
        t->batch_cnt = kept;
        for (int i = 0; i < parts->cnt; i++)
            hd_ledger_revoke(t->ledger, parts->elems[i].topic, parts->elems[i].partition);
        hd_log_info("runtime", "%s: revoked %d partitions%s (%zu fetched records of them "
                    "left unprocessed)", t->group_id, parts->cnt, lost ? " (lost)" : "",
                    dropped);
        /* a store belongs to the stateful input's partition, not to every topic's */
        for (int i = 0; t->stores && i < parts->cnt; i++)
            if (topic_has_state(t, parts->elems[i].topic))
                hd_storeset_revoke(t->stores, parts->elems[i].partition);
        if (coop)
            e = rd_kafka_incremental_unassign(rk, parts);
        else
            rd_kafka_assign(rk, NULL);
    }
    if (e) {
        hd_log_error("runtime", "%s: rebalance: %s", t->group_id, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
}

/* The union of the state stores the task's processors declare (NULL-terminated). */
static size_t task_store_names(const struct hd_task *t, const char **names, size_t max)
{
    size_t n = 0;
    for (size_t s = 0; s < t->sub_cnt; s++)
        for (size_t i = 0; t->subs[s]->chain[i]; i++)
            for (const char *const *st = t->subs[s]->chain[i]->stores; st && *st; st++) {
                size_t k = 0;
                while (k < n && strcmp(names[k], *st))
                    k++;
                if (k == n && n + 1 < max)
                    names[n++] = *st;
            }
    names[n] = NULL;
    return n;
}

/* Test-only crash points (tests/crash/run): with HERALD_TEST_CRASHPOINT=<point>[:N], read
 * once when the task is made, the N-th time (default the first) a transaction with state
 * writes reaches <point>, the process logs a marker line and SIGKILLs itself, so a crash
 * test can land a kill -9 exactly there. Points here: before_kafka_commit (outputs and
 * changelog records produced, offsets sent, commit_transaction not called) and
 * after_kafka_commit (committed in Kafka, not yet in RocksDB); stores.c has restore.
 * Unset (the default), each costs a compare per commit. Armed by hd__crashpoint_arm. */

/* Has the open transaction staged writes in any store? */
static int task_staged(struct hd_task *t)
{
    int32_t limit = t->stores ? hd_storeset_partition_limit(t->stores) : 0;
    const char *names[16];
    size_t n = task_store_names(t, names, HD_ARRAY_SIZE(names));
    for (int32_t p = 0; p < limit; p++)
        for (size_t i = 0; i < n; i++) {
            struct hd_store *st = hd_storeset_get(t->stores, names[i], p);
            if (st && hd_store_staged(st))
                return 1;
        }
    return 0;
}

static void crashpoint_reach(struct hd_task *t, long nth, long *seen, const char *point)
{
    if (!nth || !task_staged(t) || ++*seen < nth)
        return;
    hd_log_error("test", "HERALD_TEST_CRASHPOINT %s reached: %s, transaction %ld with state "
                 "writes since start; SIGKILL", point, t->txn_id, *seen);
    raise(SIGKILL);
}

/* After a commit whose outcome is unknown (the producer was re-created, which completed
 * or aborted it), asks the broker where the batch's partitions stand. Retries until the
 * answer comes (an unstable offset waits for a transaction to end) or the budget is
 * spent: the task must not go on without knowing. */
static int task_positions_from_broker(struct hd_task *t, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *parts = hd_ledger_batch_partitions(t->ledger);
    int64_t give_up = hd_mono_us() + (60000LL + t->cfg->txn_timeout_ms) * 1000;
    int rc = 0;
    while (parts->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_committed(t->consumer, parts, HD_TXN_TIMEOUT_MS);
        for (int i = 0; !err && i < parts->cnt; i++)
            err = parts->elems[i].err;
        if (!err) {
            for (int i = 0; i < parts->cnt; i++)
                hd_ledger_set_position(t->ledger, parts->elems[i].topic,
                                       parts->elems[i].partition, parts->elems[i].offset);
            break;
        }
        if (hd_mono_us() > give_up) {
            rc = hd_seterr(-1, errstr, errstr_size, "committed offsets after an unknown "
                           "outcome: %s", rd_kafka_err2str(err));
            break;
        }
        hd_log_warn("runtime", "%s: committed offsets after an unknown outcome: %s; retrying",
                    t->group_id, rd_kafka_err2str(err));
        struct timespec ts = {0, 500 * 1000000L};
        nanosleep(&ts, NULL);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return rc;
}

/* Drops the open batch and seeks every partition the task has read since its assignment
 * back to its ledger position: the offset its last committed transaction left (asked of
 * the broker when `unknown_outcome`). Messages librdkafka fetched past it are discarded by
 * the seek's version bump. Partitions with nothing read since their assignment still
 * start from the committed offset. Returns 0, or -1 when the positions cannot be
 * restored: the task must then stop rather than go on from the wrong place. */
static int task_rewind(struct hd_task *t, int unknown_outcome, char *errstr, size_t errstr_size)
{
    if (unknown_outcome && task_positions_from_broker(t, errstr, errstr_size))
        return -1;
    hd_ledger_abort(t->ledger);
    rd_kafka_topic_partition_list_t *pos = hd_ledger_positions(t->ledger);
    int rc = 0;
    for (int attempt = 0; pos->cnt > 0; attempt++) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(t->consumer, pos, HD_TXN_TIMEOUT_MS);
        const char *why = e ? rd_kafka_error_string(e) : NULL;
        for (int i = 0; !why && i < pos->cnt; i++)
            if (pos->elems[i].err)
                why = rd_kafka_err2str(pos->elems[i].err);
        if (!why) {
            hd_log_debug("runtime", "%s: rewound %d partitions to their committed positions",
                         t->group_id, pos->cnt);
            rd_kafka_error_destroy(e);
            break;
        }
        if (attempt == 10) {
            rc = hd_seterr(-1, errstr, errstr_size, "seek to the committed positions: %s", why);
            rd_kafka_error_destroy(e);
            break;
        }
        hd_log_warn("runtime", "%s: seek to the committed positions: %s; retrying", t->group_id,
                    why);
        rd_kafka_error_destroy(e);
        for (int i = 0; i < pos->cnt; i++)
            pos->elems[i].err = RD_KAFKA_RESP_ERR_NO_ERROR;
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
    rd_kafka_topic_partition_list_destroy(pos);
    return rc;
}

static int task_reinit_producer(struct hd_task *t, char *errstr, size_t errstr_size)
{
    if (t->producer) {
        rd_kafka_purge(t->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_destroy(t->producer);
        t->producer = NULL;
    }
    t->stats.reinits++;
    for (int attempt = 0; attempt < 10; attempt++) {
        t->producer = hd_kafka_producer_new(t->cfg, t->cfg->at_least_once ? NULL : t->txn_id,
                                            errstr, errstr_size);
        if (t->producer)
            return 0;
        hd_log_warn("runtime", "re-creating producer %s: %s", t->txn_id, errstr);
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
    }
    return -1;
}

/* Recovers from a failed transaction. Returns 0 when the task can go on, -1 if not. */
static int task_recover(struct hd_task *t, rd_kafka_error_t *error, const char *what,
                        char *errstr, size_t errstr_size)
{
    int abortable = error && rd_kafka_error_txn_requires_abort(error);
    hd_log_warn("runtime", "%s failed (%s%s): %s", what,
                error && rd_kafka_error_is_fatal(error) ? "fatal" : abortable ? "abortable"
                                                                            : "unknown outcome",
                error && rd_kafka_error_is_retriable(error) ? ", retriable" : "",
                error ? rd_kafka_error_string(error) : "could not produce");
    t->stats.aborts++;
    if (abortable)
        t->stats.abortable++;
    else if (error && !rd_kafka_error_is_fatal(error))
        t->stats.unknown_outcomes++;
    /* a failure that persists (a missing topic, a broker down) must not spin */
    long backoff_ms = 100L << (t->failures < 6 ? t->failures : 6);
    t->failures++;
    struct timespec ts = {backoff_ms / 1000, (backoff_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    int reinit = !abortable;
    if (abortable) {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(t->producer, HD_TXN_TIMEOUT_MS);
        if (e) {
            hd_log_warn("runtime", "abort_transaction: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            reinit = 1;
        }
    }
    /* staged state goes with the aborted transaction; this also serves the changelog
     * records' delivery reports while the producer that owns them still exists */
    if (t->stores)
        hd_storeset_abort(t->stores);
    if (reinit && task_reinit_producer(t, errstr, errstr_size))
        return -1;
    /* after a re-created producer the last transaction may have committed or not (the new
     * producer's init settled it): the broker says where the batch's partitions stand */
    return task_rewind(t, reinit, errstr, errstr_size);
}

/* The offsets the open batch may commit, from the ledger: NULL (logged, and the batch is
 * aborted) when a partition's records in and verdicts out differ. */
static rd_kafka_topic_partition_list_t *task_offsets(struct hd_task *t)
{
    char err[512];
    rd_kafka_topic_partition_list_t *offsets = hd_ledger_offsets(t->ledger, err, sizeof(err));
    if (!offsets) {
        t->stats.invariant_aborts++;
        hd_log_error("runtime", "%s: aborting the transaction: %s", t->group_id, err);
    }
    return offsets;
}

static int task_commit(struct hd_task *t, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *offsets = task_offsets(t);
    if (!offsets) {
        int rc = task_recover(t, NULL, "offsets check", errstr, errstr_size);
        return rc ? -1 : 1;
    }
    rd_kafka_error_t *e = NULL;
    const char *what = "send_offsets_to_transaction";
    int inputs = offsets->cnt > 0;
    if (inputs) {
        rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(t->consumer);
        e = rd_kafka_send_offsets_to_transaction(t->producer, offsets, cgmd, HD_TXN_TIMEOUT_MS);
        rd_kafka_consumer_group_metadata_destroy(cgmd);
    }
    rd_kafka_topic_partition_list_destroy(offsets);
    if (!e) {
        if (inputs)
            crashpoint_reach(t, t->crash_before, &t->crash_seen[0], "before_kafka_commit");
        what = "commit_transaction";
        e = rd_kafka_commit_transaction(t->producer, HD_TXN_TIMEOUT_MS);
    }
    if (!e) {
        hd_ledger_commit(t->ledger);
        return 0;
    }
    int rc = task_recover(t, e, what, errstr, errstr_size);
    rd_kafka_error_destroy(e);
    return rc ? -1 : 1;
}

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
static void task_maintain(struct hd_task *t)
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

/* At-least-once: wait until every output is acknowledged, then commit the consumed
 * offsets (a kill in between re-processes the batch: duplicates, never loss). Returns 0,
 * 1 after a rewind, -1 when the task cannot go on. */
static int task_commit_alos(struct hd_task *t, long failures_before, char *errstr,
                            size_t errstr_size)
{
    int flushed = rd_kafka_flush(t->producer, t->cfg->txn_timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_t *offsets = NULL;
    if (!flushed || hd_kafka_untracked_failures() != failures_before ||
        (t->stores && hd_storeset_failed(t->stores)) || !(offsets = task_offsets(t))) {
        hd_log_warn("runtime", "%s: outputs not acknowledged; re-processing the batch",
                    t->group_id);
        t->stats.aborts++;
        if (t->stores)
            hd_storeset_abort(t->stores);
        return task_rewind(t, 0, errstr, errstr_size) ? -1 : 1;
    }
    rd_kafka_resp_err_t err =
        offsets->cnt ? rd_kafka_commit(t->consumer, offsets, 0) : RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_destroy(offsets);
    if (err) /* outputs are out: the batch comes again after a rebalance, as duplicates */
        hd_log_warn("runtime", "%s: offset commit: %s", t->group_id, rd_kafka_err2str(err));
    hd_ledger_commit(t->ledger);
    return 0;
}

/* Drops the batch's messages (processed or not). */
static void batch_clear(struct hd_task *t)
{
    for (size_t i = 0; i < t->batch_cnt; i++)
        rd_kafka_message_destroy(t->batch[i]);
    t->batch_cnt = 0;
}

/* Fills t->batch with up to HERALD_BATCH_MAX records, waiting up to HERALD_BATCH_WAIT_MS,
 * one rd_kafka_consume_queue() call per record. Not rd_kafka_consume_batch_queue(): in
 * librdkafka 2.0 it advances a partition's application position for each message it
 * collects, and when a pause (librdkafka pauses every assigned partition when a
 * cooperative rebalance starts) or a seek lands in the same call, it drops the messages
 * collected before, while the resume fetches from the advanced position: those records
 * were never seen, and the next commit passed them (issue 10; docs/ARCHITECTURE.md). A
 * single-message consume never hands over a message it later drops. Records of partitions
 * the task does not own are dropped here (their new owner reads them from the committed
 * offset); the rebalance callback drops those already in the batch. Returns 0, or -1 when
 * the ledger refuses a record (the batch is then dropped and every partition rewound). */
static int task_consume(struct hd_task *t)
{
    int64_t deadline = hd_mono_us() + (int64_t)t->cfg->batch_wait_ms * 1000;
    int bad = 0;
    while (t->batch_cnt < (size_t)t->cfg->batch_max) {
        int64_t left_us = deadline - hd_mono_us();
        rd_kafka_message_t *m =
            rd_kafka_consume_queue(t->queue, left_us > 0 ? (int)((left_us + 999) / 1000) : 0);
        if (!m)
            break;
        char err[512];
        if (m->err) {
            hd_log_warn("runtime", "%s: consume: %s", t->group_id, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
        } else if (!hd_ledger_assigned(t->ledger, rd_kafka_topic_name(m->rkt), m->partition)) {
            hd_log_debug("runtime", "%s: dropped %s[%d]@%lld: partition not assigned",
                         t->group_id, rd_kafka_topic_name(m->rkt), (int)m->partition,
                         (long long)m->offset);
            rd_kafka_message_destroy(m);
        } else if (hd_ledger_receive(t->ledger, m, err, sizeof(err))) {
            hd_log_error("runtime", "%s: dropping the batch and rewinding: %s", t->group_id,
                         err);
            rd_kafka_message_destroy(m);
            bad = 1;
            break;
        } else {
            t->batch[t->batch_cnt++] = m;
        }
        if (left_us <= 0)
            break;
    }
    return bad ? -1 : 0;
}

int hd_task_poll(struct hd_task *t, char *errstr, size_t errstr_size)
{
    int bad = task_consume(t);
    rd_kafka_poll(t->producer, 0);
    if (t->fatal) {
        batch_clear(t);
        return hd_seterr(-1, errstr, errstr_size, "%s", t->fatal_err);
    }
    if (bad) {
        t->stats.invariant_aborts++;
        batch_clear(t);
        return task_rewind(t, 0, errstr, errstr_size);
    }
    size_t n = t->batch_cnt;
    t->now = hd_now_ms();
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
        rc = task_recover(t, e, "begin_transaction", errstr, errstr_size) ? -1 : 0;
        rd_kafka_error_destroy(e);
        goto done;
    }
    t->ctx.emit_failed = 0;
    for (size_t i = 0; i < n && !t->ctx.emit_failed; i++) {
        process_one(t, t->batch[i]);
        hd_ledger_verdict(t->ledger, t->batch[i]);
        processed++;
    }
    if (maint && !t->ctx.emit_failed)
        task_maintain(t);
    if (t->stores && hd_storeset_failed(t->stores))
        t->ctx.emit_failed = 1;
    if (t->ctx.emit_failed && t->cfg->at_least_once) {
        t->stats.aborts++;
        rd_kafka_flush(t->producer, t->cfg->txn_timeout_ms);
        if (t->stores)
            hd_storeset_abort(t->stores);
        rc = task_rewind(t, 0, errstr, errstr_size);
        goto done;
    }
    if (t->ctx.emit_failed) {
        rc = task_recover(t, NULL, "produce", errstr, errstr_size) ? -1 : 0;
        goto done;
    }
    rc = t->cfg->at_least_once ? task_commit_alos(t, failures_before, errstr, errstr_size)
                               : task_commit(t, errstr, errstr_size);
    if (rc == 0 && processed > 0 && !t->cfg->at_least_once)
        crashpoint_reach(t, t->crash_after, &t->crash_seen[1], "after_kafka_commit");
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
    batch_clear(t);
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
    struct hd_task_env env = {c, tables};
    for (size_t s = 0; s < t->sub_cnt; s++)
        for (size_t i = 0; t->subs[s]->chain[i]; i++) {
            const struct hd_processor *p = t->subs[s]->chain[i];
            if (p->init && p->init(&t->selves[s][i], &env, errstr, errstr_size))
                goto err;
            if (p->punctuate)
                t->punctuates = 1;
        }
    if (!(t->producer = hd_kafka_producer_new(c, c->at_least_once ? NULL : t->txn_id, errstr,
                                              errstr_size)))
        goto err;
    const char *store_names[16];
    if (task_store_names(t, store_names, HD_ARRAY_SIZE(store_names))) {
        const struct hd_topic_spec *changelogs;
        if (!(t->stores = hd_storeset_new(c, t->group_id, store_names, &t->producer, errstr,
                                          errstr_size)))
            goto err;
        size_t nchangelogs = hd_storeset_changelogs(t->stores, &changelogs);
        if (hd_kafka_topics_create(c, changelogs, nchangelogs, errstr, errstr_size))
            goto err;
    }
    if (!(t->consumer = hd_kafka_consumer_new_cb(c, t->group_id, task_rebalance_cb, t, 1,
                                                 errstr, errstr_size)))
        goto err;
    topics = rd_kafka_topic_partition_list_new(16);
    for (size_t s = 0; s < t->sub_cnt; s++)
        for (const char *const *in = t->subs[s]->inputs; *in; in++)
            if (!rd_kafka_topic_partition_list_find(topics, *in, RD_KAFKA_PARTITION_UA))
                rd_kafka_topic_partition_list_add(topics, *in, RD_KAFKA_PARTITION_UA);
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
    batch_clear(t); /* the messages belong to the consumer */
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
        for (size_t i = 0; t->subs[s] && t->subs[s]->chain[i]; i++)
            if (t->subs[s]->chain[i]->exit && t->selves[s][i])
                t->subs[s]->chain[i]->exit(t->selves[s][i]);
    hd_serde_destroy(t->serde);
    hd_buf_free(&t->ctx.reason);
    hd_buf_free(&t->ctx.enc);
    hd_free(t->batch);
    hd_ledger_destroy(t->ledger);
    hd_free(t->group_id);
    hd_free(t->txn_id);
    hd_free(t);
}
