/*
 * One consumed record: decoded per its sub-topology's payload kind, run through the
 * chain, and its verdict turned into outputs (SKIP -> SKIPPED statuses, ERROR or an
 * exhausted RETRY -> the original bytes dead-lettered). hd_ctx_forward resumes a held
 * record after the processor that held it.
 */
#include "processors/runtime_int.h"

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
#include "schemas/serde.h"

/* ---- decoding ---- */

static void trace_from_headers(const struct hd_headers *h, char out[33])
{
    const void *v;
    size_t n;
    if (hd_headers_last(h, "traceparent", &v, &n) || !v || hd_trace_parse(v, n, out))
        hd_trace_new(out);
}

/* ---- payload kinds: how each is decoded and cleared (a table, not switches) ---- */

static int decode_event(struct hd_serde *sd, const struct hd_envelope *m, struct hd_record *rec,
                        char *errstr, size_t errstr_size)
{
    const char *topic = m->topic;
    const struct hd_schema *want = hd_serde_schema_for_topic(sd, topic);
    rec->event =
        hd_serde_decode_json(sd, m->value, m->value_len, &rec->event_schema, errstr, errstr_size);
    if (!rec->event)
        return -1;
    if (want && rec->event_schema != want)
        return hd_seterr(-1, errstr, errstr_size, "topic %s carries %s, got %s", topic,
                         hd_schema_name(want), hd_schema_name(rec->event_schema));
    return 0;
}

static void clear_event(struct hd_record *rec)
{
    if (rec->event)
        json_decref(rec->event);
    rec->event = NULL;
    rec->event_schema = NULL;
}

static int decode_request(struct hd_serde *sd, const struct hd_envelope *m,
                          struct hd_record *rec, char *errstr, size_t errstr_size)
{
    return hd_request_decode(sd, m->value, m->value_len, &rec->req, errstr, errstr_size);
}

static void clear_request(struct hd_record *rec)
{
    hd_request_clear(&rec->req);
}

static int decode_dispatch(struct hd_serde *sd, const struct hd_envelope *m,
                           struct hd_record *rec, char *errstr, size_t errstr_size)
{
    return hd_dispatch_decode(sd, m->value, m->value_len, &rec->dsp, errstr, errstr_size);
}

static void clear_dispatch(struct hd_record *rec)
{
    hd_dispatch_clear(&rec->dsp);
}

static int decode_action(struct hd_serde *sd, const struct hd_envelope *m, struct hd_record *rec,
                         char *errstr, size_t errstr_size)
{
    return hd_user_action_decode(sd, m->value, m->value_len, &rec->act, errstr, errstr_size);
}

static void clear_action(struct hd_record *rec)
{
    hd_user_action_clear(&rec->act);
}

static const struct payload_type {
    const char *name;
    /* NULL: the bytes as consumed */
    int (*decode)(struct hd_serde *sd, const struct hd_envelope *m, struct hd_record *rec,
                  char *errstr, size_t errstr_size);
    void (*clear)(struct hd_record *rec);
} payload_types[] = {
    [HD_PAYLOAD_RAW] = {"raw", NULL, NULL},
    [HD_PAYLOAD_EVENT] = {"domain event", decode_event, clear_event},
    [HD_PAYLOAD_REQUEST] = {"NotificationRequest", decode_request, clear_request},
    [HD_PAYLOAD_DISPATCH] = {"Dispatch", decode_dispatch, clear_dispatch},
    [HD_PAYLOAD_ACTION] = {"UserAction", decode_action, clear_action},
};

const char *hd_payload_kind_name(enum hd_payload_kind k)
{
    return (size_t)k < HD_ARRAY_SIZE(payload_types) && payload_types[k].name
               ? payload_types[k].name
               : "unknown";
}

void hd__record_reset(struct hd_record *rec)
{
    json_decref(rec->user);
    rec->user = NULL;
    if ((size_t)rec->kind < HD_ARRAY_SIZE(payload_types) && payload_types[rec->kind].clear)
        payload_types[rec->kind].clear(rec);
    rec->src = NULL;
}

int hd__record_decode(struct hd_serde *sd, enum hd_payload_kind kind,
                      const struct hd_envelope *m, struct hd_record *rec, char *errstr,
                      size_t errstr_size)
{
    rec->src = m;
    rec->kind = kind;
    trace_from_headers(m->headers, rec->trace_id);
    if ((size_t)kind >= HD_ARRAY_SIZE(payload_types) || !payload_types[kind].name)
        return hd_seterr(-1, errstr, errstr_size, "unknown payload kind %d", (int)kind);
    if (!payload_types[kind].decode)
        return 0;
    if (!m->value || !m->value_len)
        return hd_seterr(-1, errstr, errstr_size, "empty record value");
    return payload_types[kind].decode(sd, m, rec, errstr, errstr_size);
}

/* A consumed message's envelope, everything borrowed from m. */
static void envelope_of(const rd_kafka_message_t *m, struct hd_envelope *s)
{
    rd_kafka_headers_t *h = NULL;
    s->topic = rd_kafka_topic_name(m->rkt);
    s->partition = m->partition;
    s->offset = m->offset;
    s->key = m->key;
    s->key_len = m->key_len;
    s->value = m->payload;
    s->value_len = m->len;
    s->timestamp_ms = rd_kafka_message_timestamp(m, NULL);
    /* a struct hd_headers is an rd_kafka_headers_t (envelope.c) */
    s->headers = rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR
                     ? (const struct hd_headers *)h
                     : NULL;
}

/* ---- one record ---- */

/* Runs the chain from processor `from`; on a verdict other than PASS sets *at to the
 * processor that gave it. */
static enum hd_verdict run_chain(struct hd_task *t, size_t si, size_t from, struct hd_record *rec,
                                 size_t *at)
{
    const struct hd_subtopology *sub = t->subs[si];
    /* the processor running is the context's (hd_ctx_defer records it); a record forwarded
     * from punctuate must give the punctuating processor its place back */
    size_t outer_sub = t->ctx.sub, outer_proc = t->ctx.proc;
    enum hd_verdict v = HD_PASS;
    for (size_t i = from; sub->chain[i]; i++) {
        t->ctx.sub = si;
        t->ctx.proc = i;
        v = sub->chain[i]->process(t->selves[si][i], &t->ctx, rec);
        if (v != HD_PASS) {
            *at = i;
            break;
        }
    }
    t->ctx.sub = outer_sub;
    t->ctx.proc = outer_proc;
    return v;
}

/* Runs a decoded record from processor `from` and acts on the verdict. A RETRY retries
 * the processor that asked for it at once (not the whole chain: earlier processors have
 * staged their state for this record already; nothing sleeps inside a transaction), then
 * dead-letters. Returns 1 when the record has its outcome, 0 when it is PENDING. */
static int finish_record(struct hd_task *t, size_t si, size_t from, struct hd_record *rec,
                         const struct hd_envelope *src, const rd_kafka_message_t *m)
{
    struct hd_record *outer = t->ctx.rec;
    const rd_kafka_message_t *outer_msg = t->ctx.msg;
    const struct hd_envelope *outer_src = t->ctx.src;
    t->ctx.rec = rec;
    t->ctx.msg = m;
    t->ctx.src = src;
    size_t at = from;
    enum hd_verdict v = HD_PASS;
    size_t pending_before = t->pending_cnt;
    for (int attempt = 0; attempt <= HD_TASK_RETRIES; attempt++) {
        v = run_chain(t, si, at, rec, &at);
        if (v != HD_RETRY)
            break;
    }
    const char *proc = v == HD_PASS ? "runtime" : t->subs[si]->chain[at]->name;
    char err[1024];
    int final = 1;
    switch (v) {
    case HD_PASS:
    case HD_HOLD:
    case HD_DONE:
        break;
    case HD_PENDING:
        if (t->pending_cnt != pending_before + 1 || !t->subs[si]->chain[at]->drain) {
            /* a processor bug: nothing would ever complete the record */
            hd_log_error("runtime", "%s returned PENDING without one hd_ctx_defer or without "
                         "a drain; aborting the transaction", proc);
            t->ctx.emit_failed = 1;
            break;
        }
        final = 0;
        break;
    case HD_SKIP:
        hd__emit_skips(t, rec);
        break;
    case HD_RETRY:
        snprintf(err, sizeof(err), "gave up after %d retries: %s", HD_TASK_RETRIES,
                 t->ctx.reason.data ? t->ctx.reason.data : "");
        hd__emit_dead_letter(t, src, t->ctx.code, err, proc);
        break;
    case HD_ERROR:
        hd__emit_dead_letter(t, src, t->ctx.code,
                             t->ctx.reason.data ? t->ctx.reason.data : "", proc);
        break;
    }
    t->ctx.rec = outer;
    t->ctx.msg = outer_msg;
    t->ctx.src = outer_src;
    return final;
}

void hd_ctx_resume(struct hd_ctx *ctx, struct hd_pending *p, struct hd_record *rec)
{
    struct hd_task *t = ctx->task;
    if (p->done)
        return;
    hd_ctx_enter(ctx, p);
    rec->src = &p->src;
    memcpy(rec->trace_id, p->trace_id, sizeof(rec->trace_id));
    p->done = 1;
    t->pending_open--;
    size_t outer_sub = ctx->sub, outer_proc = ctx->proc;
    ctx->sub = p->sub;
    ctx->proc = p->proc;
    int final = finish_record(t, p->sub, p->proc + 1, rec, &p->src, p->m);
    ctx->sub = outer_sub;
    ctx->proc = outer_proc;
    /* deferred again by a later processor: that one completes it */
    if (final && p->m)
        hd_ledger_verdict(t->ledger, p->m);
    if (final && t->probe)
        hd__probe_completed(t->probe, &p->src, HD_PASS);
    ctx->rec = NULL;
    ctx->msg = NULL;
    ctx->partition = -1;
}

void hd_ctx_forward(struct hd_ctx *ctx, struct hd_record *rec, const struct hd_envelope *src)
{
    /* a forwarded record has no consumed message: hd_ctx_defer refuses it, so it cannot
     * end PENDING */
    finish_record(ctx->task, ctx->sub, ctx->proc + 1, rec, src, NULL);
}

int hd__process_one(struct hd_task *t, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    struct hd_envelope src;
    envelope_of(m, &src);
    size_t si;
    for (si = 0; si < t->sub_cnt; si++)
        if (hd_topology_for_topic(&t->subs[si], 1, topic))
            break;
    if (si == t->sub_cnt) {
        hd__emit_dead_letter(t, &src, "no_topology", "no sub-topology consumes this topic",
                             "runtime");
        return 1;
    }
    struct hd_record *rec = &t->rec;
    char err[1024];
    t->ctx.partition = m->partition;
    int final = 1;
    if (hd__record_decode(t->serde, t->subs[si]->kind, &src, rec, err, sizeof(err)))
        hd__emit_dead_letter(t, &src, "malformed", err, "decode");
    else
        final = finish_record(t, si, 0, rec, &src, m);
    hd__record_reset(rec);
    t->ctx.partition = -1;
    return final;
}

