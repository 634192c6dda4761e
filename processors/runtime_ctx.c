/*
 * What processors call (processor.h's hd_ctx_*): the task's clock, config, tables and
 * stores; the verdict helpers; outputs encoded and produced into the task's transaction
 * with Herald's headers; dead letters (the input's bytes untouched) and SKIPPED statuses.
 */
#include "processors/runtime_int.h"

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

/* Headers every output carries: traceparent (a new span of the input's trace), tenant,
 * notification id and attempt where they apply. */
static rd_kafka_headers_t *out_headers(struct hd_ctx *ctx, const char *tenant,
                                       const char *notification_id, int attempt)
{
    return hd_kafka_headers_new(ctx->rec ? ctx->rec->trace_id : NULL, tenant, notification_id,
                                attempt);
}

int hd__ctx_produce(struct hd_ctx *ctx, const char *topic, const void *key, size_t key_len,
                       const void *value, size_t value_len, rd_kafka_headers_t *hdrs)
{
    if (ctx->task->probe) {
        hd__probe_capture(ctx->task->probe, topic, key, key_len, value, value_len, hdrs);
        return 0;
    }
    rd_kafka_resp_err_t err = hd_kafka_produce(ctx->task->producer, topic, RD_KAFKA_PARTITION_UA,
                                               key, key_len, value, value_len, hdrs, NULL);
    if (!err)
        return 0;
    hd_log_warn("runtime", "produce to %s failed: %s", topic, rd_kafka_err2str(err));
    ctx->emit_failed = 1;
    return -1;
}

static int ctx_emit_encoded(struct hd_ctx *ctx, const char *topic, const char *tenant,
                            const char *user, const char *notification_id, int attempt)
{
    char key[512];
    int kn = snprintf(key, sizeof(key), "%s/%s", tenant, user);
    if (kn < 0 || (size_t)kn >= sizeof(key))
        kn = (int)sizeof(key) - 1;
    return hd__ctx_produce(ctx, topic, key, (size_t)kn, ctx->enc.data, ctx->enc.len,
                       out_headers(ctx, tenant, notification_id, attempt));
}

int hd__ctx_encode_failed(struct hd_ctx *ctx, const char *what, const char *err)
{
    hd_log_error("runtime", "cannot encode %s: %s", what, err);
    ctx->emit_failed = 1;
    return -1;
}

int hd_ctx_emit_raw(struct hd_ctx *ctx, const char *topic, const void *key, size_t key_len,
                    const void *value, size_t value_len)
{
    return hd__ctx_produce(ctx, topic, key, key_len, value, value_len,
                           out_headers(ctx, NULL, NULL, 0));
}

int hd_ctx_emit_request(struct hd_ctx *ctx, const struct hd_request *r)
{
    char err[512];
    hd_buf_reset(&ctx->enc);
    if (hd_request_encode(ctx->task->serde, r, &ctx->enc, err, sizeof(err)))
        return hd__ctx_encode_failed(ctx, "NotificationRequest", err);
    return ctx_emit_encoded(ctx, HD_TOPIC_REQUESTS, r->tenant_id, r->user_id, NULL, 0);
}

int hd_ctx_emit_status(struct hd_ctx *ctx, const struct hd_status_event *ev)
{
    char err[512];
    hd_buf_reset(&ctx->enc);
    if (hd_status_event_encode(ctx->task->serde, ev, &ctx->enc, err, sizeof(err)))
        return hd__ctx_encode_failed(ctx, "StatusEvent", err);
    return ctx_emit_encoded(ctx, hd_status_topic(ev->status), ev->tenant_id, ev->user_id,
                            ev->notification_id, ev->attempt);
}

int hd_ctx_emit_dispatch(struct hd_ctx *ctx, const struct hd_dispatch *d)
{
    char err[512], topic[64];
    hd_buf_reset(&ctx->enc);
    if (hd_dispatch_encode(ctx->task->serde, d, &ctx->enc, err, sizeof(err)))
        return hd__ctx_encode_failed(ctx, "Dispatch", err);
    snprintf(topic, sizeof(topic), "%s%s", HD_TOPIC_DISPATCH_PREFIX, hd_channel_slug(d->channel));
    return ctx_emit_encoded(ctx, topic, d->tenant_id, d->user_id, d->notification_id, d->attempt);
}

int hd_ctx_emit_inbox(struct hd_ctx *ctx, const struct hd_inbox_item *it)
{
    char err[512];
    hd_buf_reset(&ctx->enc);
    if (hd_inbox_item_encode(ctx->task->serde, it, &ctx->enc, err, sizeof(err)))
        return hd__ctx_encode_failed(ctx, "InboxItem", err);
    return ctx_emit_encoded(ctx, HD_TOPIC_INBOX, it->tenant_id, it->user_id, it->notification_id,
                            0);
}

void hd_ctx_status_for(struct hd_ctx *ctx, struct hd_status_event *ev, const struct hd_request *r,
                       enum hd_channel ch, enum hd_status st, char *nid)
{
    hd_notification_id(r->request_id, hd_channel_name(ch), nid);
    hd_status_event_init(ev, nid, r->request_id, r->tenant_id, r->user_id, ch, r->batch_id, 0,
                         st, ctx->task->now);
    ev->provider = r->provider;
}

/* ---- dead letters and skips ---- */


/* Dead-letters the source's bytes with its headers. */
int hd__emit_dead_letter(struct hd_task *t, const struct hd_envelope *s, const char *code,
                         const char *error, const char *processor)
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
    size_t n = hd_headers_count(s->headers);
    if (n) {
        dl.headers = hd_calloc(n, sizeof(*dl.headers));
        for (size_t i = 0; i < n; i++) {
            const char *name;
            const void *val;
            size_t len;
            if (hd_headers_get(s->headers, i, &name, &val, &len))
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
        return hd__ctx_encode_failed(&t->ctx, "DeadLetter", err);
    struct hd_headers *h = hd_headers_copy(s->headers);
    hd_headers_add(h, "herald-error-code", code, strlen(code));
    t->stats.dead_letters++;
    hd_log_warn("runtime", "dead-lettered %s[%d]@%lld by %s: %s: %s", dl.source_topic,
                dl.source_partition, (long long)dl.source_offset, processor, code, error);
    return hd__ctx_produce(&t->ctx, HD_TOPIC_DLQ, s->key, s->key_len, t->ctx.enc.data,
                           t->ctx.enc.len, (rd_kafka_headers_t *)h);
}

/* A skipped request gets one SKIPPED status per channel; a skipped dispatch one for its
 * channel. A domain event that no rule routes is only counted. */
void hd__emit_skips(struct hd_task *t, struct hd_record *rec)
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
        hd_status_event_init(&ev, d->notification_id, d->request_id, d->tenant_id, d->user_id,
                             d->channel, d->batch_id, d->attempt, HD_ST_SKIPPED, t->now);
        ev.provider = d->provider;
        ev.reason_code = t->ctx.code;
        ev.reason = t->ctx.reason.data;
        hd_ctx_emit_status(&t->ctx, &ev);
    } else if (rec->src) {
        hd_log_debug("runtime", "%s[%d]@%lld skipped: %s", rec->src->topic,
                     rec->src->partition, (long long)rec->src->offset, t->ctx.code);
    }
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
    struct hd_envelope src = {.topic = topic, .partition = ctx->partition, .offset = -1,
                              .key = key, .key_len = key_len, .value = value,
                              .value_len = value_len, .timestamp_ms = -1};
    return hd__emit_dead_letter(t, &src, code, error, t->subs[ctx->sub]->chain[ctx->proc]->name);
}


void hd_ctx_fail(struct hd_ctx *ctx, const char *why)
{
    hd_log_error("runtime", "aborting the transaction: %s", why);
    ctx->emit_failed = 1;
}

const struct hd_envelope *hd_ctx_source(struct hd_ctx *ctx)
{
    return ctx->rec ? ctx->src : NULL;
}

/* ---- records completed later (PENDING) ---- */

struct hd_pending *hd_ctx_defer(struct hd_ctx *ctx)
{
    struct hd_task *t = ctx->task;
    const rd_kafka_message_t *m = ctx->rec ? ctx->msg : NULL;
    const struct hd_envelope *src = ctx->rec ? ctx->rec->src : NULL;
    /* a consumed record (its message stands behind the envelope), or a probe's record (an
     * envelope only, probe.h); a record forwarded from punctuate has neither */
    if (!src || (!m && !t->probe) || t->pending_cnt == t->pending_cap)
        return NULL;
    struct hd_pending *p = &t->pending[t->pending_cnt++];
    t->pending_open++;
    p->m = m;
    p->src = *src; /* the consumed record's envelope, already built from m */
    memcpy(p->trace_id, ctx->rec->trace_id, sizeof(p->trace_id));
    p->sub = ctx->sub;
    p->proc = ctx->proc;
    p->done = 0;
    return p;
}

void hd_ctx_enter(struct hd_ctx *ctx, struct hd_pending *p)
{
    struct hd_record *r = &ctx->task->pending_rec;
    r->src = &p->src;
    r->kind = HD_PAYLOAD_RAW;
    memcpy(r->trace_id, p->trace_id, sizeof(r->trace_id));
    ctx->rec = r;
    ctx->msg = p->m;
    ctx->partition = p->src.partition;
}

void hd_ctx_complete(struct hd_ctx *ctx, struct hd_pending *p, enum hd_verdict v)
{
    struct hd_task *t = ctx->task;
    if (p->done)
        return;
    if (v != HD_PASS) {
        const char *code = v == HD_ERROR ? ctx->code : "internal";
        const char *why = v == HD_ERROR && ctx->reason.data
                              ? ctx->reason.data
                              : "a deferred record completed with neither PASS nor ERROR";
        hd__emit_dead_letter(t, &p->src, code, why, t->subs[p->sub]->chain[p->proc]->name);
    }
    p->done = 1;
    t->pending_open--;
    if (p->m)
        hd_ledger_verdict(t->ledger, p->m);
    if (t->probe)
        hd__probe_completed(t->probe, &p->src, v);
    ctx->rec = NULL;
    ctx->msg = NULL;
    ctx->partition = -1;
}

const struct hd_envelope *hd_ctx_pending_source(const struct hd_pending *p)
{
    return &p->src;
}
