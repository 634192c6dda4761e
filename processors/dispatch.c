/*
 * dispatch (sub-topology B): delivers one Dispatch. IN_APP is an inbox item
 * on herald.inbox (a Kafka output, so exactly-once); every other channel goes
 * to a provider from the registry (connectors/channels/channels.c): a call
 * outside Kafka, at-least-once, the notification id as idempotency key.
 * Outcome -> notification.sent or notification.failed. A missing address is
 * a FAILED status, not a dead letter: the request was valid, the recipient
 * cannot be reached.
 *
 * Provider sends follow the submit/complete contract (channel.h): process
 * submits and returns PENDING; drain polls the providers and completes each
 * record with its status inside the same transaction, so many sends are in
 * flight at once and nothing blocks or sleeps. A send that fails with a
 * retriable error is submitted again at once, up to HD_DISPATCH_TRIES times
 * (backoff as durable timers, failover and rate limits come with the real
 * providers).
 *
 * Provider selection so far: the request's `provider` override if it names a
 * known provider, else the registry's first (outbox).
 */
#include <stdio.h>
#include <string.h>

#include "connectors/channels/channel.h"
#include "core/log.h"
#include "core/time.h"
#include "processors/processor.h"
#include "processors/profile.h"

#define HD_DISPATCH_TRIES 3

/* A send in flight: what its status needs once the record it came from is gone. */
struct send {
    struct send *next;
    struct hd_pending *pending; /* NULL once abandoned (the transaction aborted) */
    size_t provider;
    int tries;
    enum hd_channel channel;
    int attempt;
    char *notification_id, *request_id, *tenant_id, *user_id, *batch_id;
};

struct dispatch {
    const struct hd_channel_provider *const *providers;
    size_t provider_cnt;
    void **selves;
    struct hd_conf **confs; /* each provider's settings */
    struct send *sends; /* every send not yet completed, abandoned ones included */
    size_t open;        /* of them still pending */
};

/* Ends the first n providers and frees d. */
static void providers_exit(struct dispatch *d, size_t n)
{
    for (size_t j = 0; j < n; j++)
        if (d->providers[j]->exit && d->selves[j])
            d->providers[j]->exit(d->selves[j]);
    for (size_t j = 0; j < d->provider_cnt; j++)
        hd_conf_destroy(d->confs[j]);
    hd_free(d->confs);
    hd_free(d->selves);
    hd_free(d);
}

static int dispatch_init(void **self, const struct hd_task_env *env, char *errstr,
                         size_t errstr_size)
{
    struct dispatch *d = hd_calloc(1, sizeof(*d));
    d->provider_cnt = hd_channel_providers(&d->providers);
    d->selves = hd_calloc(d->provider_cnt, sizeof(*d->selves));
    d->confs = hd_calloc(d->provider_cnt, sizeof(*d->confs));
    for (size_t i = 0; i < d->provider_cnt; i++) {
        const struct hd_channel_provider *p = d->providers[i];
        if (!(d->confs[i] = hd_conf_load(p->name, p->config, env->config, errstr,
                                         errstr_size)) ||
            (p->init && p->init(&d->selves[i], d->confs[i], env->config, errstr, errstr_size))) {
            providers_exit(d, i);
            return -1;
        }
    }
    *self = d;
    return 0;
}

static void send_free(struct send *s)
{
    hd_free(s->notification_id);
    hd_free(s->request_id);
    hd_free(s->tenant_id);
    hd_free(s->user_id);
    hd_free(s->batch_id);
    hd_free(s);
}

static void dispatch_exit(void *self)
{
    struct dispatch *d = self;
    /* providers drop their sends in flight without a callback: free ours here */
    for (struct send *s = d->sends, *n; s; s = n) {
        n = s->next;
        send_free(s);
    }
    providers_exit(d, d->provider_cnt);
}

static size_t pick_provider(const struct dispatch *dp, const struct hd_dispatch *d)
{
    if (d->provider)
        for (size_t i = 0; i < dp->provider_cnt; i++)
            if (!strcmp(dp->providers[i]->name, d->provider))
                return i;
    return 0;
}

/* The status of a delivery of d (its next attempt). */
static void status_from(struct hd_status_event *ev, const struct hd_dispatch *d,
                        enum hd_status st, int64_t now)
{
    hd_status_event_init(ev, d->notification_id, d->request_id, d->tenant_id, d->user_id,
                         d->channel, d->batch_id, d->attempt + 1, st, now);
}

static enum hd_verdict deliver_inbox(struct hd_ctx *ctx, const struct hd_dispatch *d)
{
    struct hd_inbox_item it;
    memset(&it, 0, sizeof(it));
    it.notification_id = d->notification_id;
    it.request_id = d->request_id;
    it.tenant_id = d->tenant_id;
    it.user_id = d->user_id;
    it.category = d->category;
    it.title = d->rendered.title ? d->rendered.title : d->rendered.subject;
    it.body = d->rendered.text;
    it.html = d->rendered.html;
    it.data = d->rendered.data;
    it.batch_id = d->batch_id;
    it.created_at = d->created_at;
    struct hd_status_event ev;
    status_from(&ev, d, HD_ST_SENT, hd_ctx_now(ctx));
    ev.provider = "inbox";
    ev.provider_message_id = d->notification_id;
    if (hd_ctx_emit_inbox(ctx, &it) == 0)
        hd_ctx_emit_status(ctx, &ev);
    return HD_PASS;
}

static void send_unlink(struct dispatch *dp, struct send *s)
{
    for (struct send **pp = &dp->sends; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            return;
        }
}

/* Submits s's message; a provider whose queue is full is polled until it takes it. */
static void send_submit(struct dispatch *dp, struct send *s, const struct hd_dispatch *d,
                        hd_send_done_fn *done, void *opaque)
{
    const struct hd_channel_provider *pr = dp->providers[s->provider];
    s->tries++;
    while (pr->submit(dp->selves[s->provider], d, s))
        pr->poll(dp->selves[s->provider], 10, done, opaque);
}

struct drain_arg {
    struct dispatch *dp;
    struct hd_ctx *ctx;
};

static void on_done(void *opaque, void *tag, const struct hd_send_result *res);

/* A retriable failure gets another try at once: the message comes again from the record's
 * bytes, which stay valid while the record is pending. */
static int send_retry(struct drain_arg *a, struct send *s)
{
    const struct hd_envelope *src = hd_ctx_pending_source(s->pending);
    struct hd_dispatch d;
    char err[256];
    memset(&d, 0, sizeof(d));
    if (hd_dispatch_decode(hd_ctx_serde(a->ctx), src->value, src->value_len, &d, err,
                           sizeof(err)))
        return -1;
    send_submit(a->dp, s, &d, on_done, a);
    hd_dispatch_clear(&d);
    return 0;
}

static void on_done(void *opaque, void *tag, const struct hd_send_result *res)
{
    struct drain_arg *a = opaque;
    struct send *s = tag;
    if (!s->pending) { /* abandoned: the record comes again with the next transaction */
        send_unlink(a->dp, s);
        send_free(s);
        return;
    }
    if (res->status == HD_SEND_RETRY && s->tries < HD_DISPATCH_TRIES && send_retry(a, s) == 0)
        return;
    const char *pname = a->dp->providers[s->provider]->name;
    struct hd_status_event ev;
    hd_status_event_init(&ev, s->notification_id, s->request_id, s->tenant_id, s->user_id,
                         s->channel, s->batch_id, s->attempt + 1,
                         res->status == HD_SEND_OK ? HD_ST_SENT : HD_ST_FAILED,
                         hd_ctx_now(a->ctx));
    ev.provider = (char *)pname;
    if (res->status == HD_SEND_OK) {
        ev.provider_message_id = (char *)res->provider_msg_id;
    } else {
        hd_logm(HD_LOG_WARN, "processor:dispatch", s->tenant_id, s->notification_id,
                "provider %s failed after %d tries: %s", pname, s->tries,
                res->error ? res->error : "");
        ev.reason_code = res->status == HD_SEND_RETRY ? "provider_unavailable"
                                                      : "provider_rejected";
        ev.reason = (char *)(res->error ? res->error : "");
    }
    hd_ctx_enter(a->ctx, s->pending);
    hd_ctx_emit_status(a->ctx, &ev);
    hd_ctx_complete(a->ctx, s->pending, HD_PASS);
    a->dp->open--;
    send_unlink(a->dp, s);
    send_free(s);
}

static enum hd_verdict dispatch_process(void *self, struct hd_ctx *ctx, struct hd_record *rec)
{
    struct dispatch *dp = self;
    const struct hd_dispatch *d = &rec->dsp;
    if (d->channel == HD_CH_IN_APP)
        return deliver_inbox(ctx, d);

    size_t pi = pick_provider(dp, d);
    const char *field = hd_profile_missing(d->recipient, d->channel);
    if (field) {
        struct hd_status_event ev;
        status_from(&ev, d, HD_ST_FAILED, hd_ctx_now(ctx));
        ev.provider = (char *)dp->providers[pi]->name;
        char reason[128];
        snprintf(reason, sizeof(reason), "%s: the recipient has no address for %s", field,
                 hd_channel_name(d->channel));
        ev.reason_code = "no_address";
        ev.reason = reason;
        hd_ctx_emit_status(ctx, &ev);
        return HD_PASS;
    }
    struct hd_pending *p = hd_ctx_defer(ctx);
    if (!p) /* only a record forwarded from punctuate has none; dispatch has no punctuate */
        return hd_ctx_error(ctx, "internal", "dispatch: no pending handle for the record");
    struct send *s = hd_calloc(1, sizeof(*s));
    s->pending = p;
    s->provider = pi;
    s->channel = d->channel;
    s->attempt = d->attempt;
    s->notification_id = hd_strdup(d->notification_id);
    s->request_id = hd_strdup(d->request_id);
    s->tenant_id = hd_strdup(d->tenant_id);
    s->user_id = hd_strdup(d->user_id);
    s->batch_id = d->batch_id ? hd_strdup(d->batch_id) : NULL;
    s->next = dp->sends;
    dp->sends = s;
    dp->open++;
    struct drain_arg a = {dp, ctx};
    send_submit(dp, s, d, on_done, &a);
    return HD_PENDING;
}

static void dispatch_drain(void *self, struct hd_ctx *ctx, int64_t deadline_ms)
{
    struct dispatch *dp = self;
    struct drain_arg a = {dp, ctx};
    while (dp->open > 0) {
        int64_t left = deadline_ms - hd_mono_us() / 1000;
        if (left <= 0)
            return;
        int got = 0;
        for (size_t i = 0; i < dp->provider_cnt; i++)
            if (dp->providers[i]->inflight(dp->selves[i]))
                got += dp->providers[i]->poll(dp->selves[i], 0, on_done, &a);
        if (!got && dp->open > 0) /* nothing ready: wait on the first busy provider */
            for (size_t i = 0; i < dp->provider_cnt; i++)
                if (dp->providers[i]->inflight(dp->selves[i])) {
                    dp->providers[i]->poll(dp->selves[i], left > 50 ? 50 : (int)left, on_done,
                                           &a);
                    break;
                }
    }
}

static void dispatch_abandon(void *self)
{
    struct dispatch *dp = self;
    for (struct send *s = dp->sends; s; s = s->next)
        s->pending = NULL;
    dp->open = 0;
}

const struct hd_processor hd_proc_dispatch = {
    .name = "dispatch",
    .input = HD_PAYLOAD_DISPATCH,
    .init = dispatch_init,
    .process = dispatch_process,
    .drain = dispatch_drain,
    .abandon = dispatch_abandon,
    .exit = dispatch_exit,
};
