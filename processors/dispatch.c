/*
 * dispatch (sub-topology B): delivers one Dispatch. IN_APP is an inbox item
 * on herald.inbox (a Kafka output, so exactly-once); every other channel goes
 * to a provider from the table below (a call outside Kafka: at-least-once,
 * the notification id as idempotency key). Outcome -> notification.sent or
 * notification.failed. A missing address is a FAILED status, not a dead
 * letter: the request was valid, the recipient cannot be reached.
 *
 * Provider selection so far: the request's `provider` override if it names a
 * known provider, else the default (outbox). Failover, rate limits and
 * circuit breakers arrive with the real providers.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "connectors/channels/channel.h"
#include "core/log.h"
#include "processors/processor.h"

#define HD_DISPATCH_TRIES 3

static const struct hd_channel_provider *const hd_providers[] = {
    &hd_provider_outbox,
};

struct dispatch {
    void *selves[sizeof(hd_providers) / sizeof(hd_providers[0])];
};

static int dispatch_init(void **self, const struct hd_task_env *env, char *errstr,
                         size_t errstr_size)
{
    struct dispatch *d = hd_calloc(1, sizeof(*d));
    for (size_t i = 0; i < HD_ARRAY_SIZE(hd_providers); i++) {
        if (hd_providers[i]->init &&
            hd_providers[i]->init(&d->selves[i], env->config, errstr, errstr_size)) {
            for (size_t j = 0; j < i; j++)
                if (hd_providers[j]->exit)
                    hd_providers[j]->exit(d->selves[j]);
            hd_free(d);
            return -1;
        }
    }
    *self = d;
    return 0;
}

static void dispatch_exit(void *self)
{
    struct dispatch *d = self;
    for (size_t i = 0; i < HD_ARRAY_SIZE(hd_providers); i++)
        if (hd_providers[i]->exit)
            hd_providers[i]->exit(d->selves[i]);
    hd_free(d);
}

static size_t pick_provider(const struct hd_dispatch *d)
{
    if (d->provider)
        for (size_t i = 0; i < HD_ARRAY_SIZE(hd_providers); i++)
            if (!strcmp(hd_providers[i]->name, d->provider))
                return i;
    return 0;
}

/* The address a channel needs, or NULL when the recipient has none. */
static const char *missing_address(const struct hd_dispatch *d)
{
    const struct hd_recipient *r = d->recipient;
    switch (d->channel) {
    case HD_CH_EMAIL:
        return r && r->email ? NULL : "recipient.email";
    case HD_CH_SMS:
    case HD_CH_WHATSAPP:
        return r && r->phone ? NULL : "recipient.phone";
    case HD_CH_PUSH:
        return r && r->push_token_cnt ? NULL : "recipient.push_tokens";
    case HD_CH_WEBHOOK:
        return r && r->webhook_url ? NULL : "recipient.webhook_url";
    default:
        return NULL;
    }
}

static void status_from(struct hd_status_event *ev, const struct hd_dispatch *d, int64_t now)
{
    memset(ev, 0, sizeof(*ev));
    ev->notification_id = d->notification_id;
    ev->request_id = d->request_id;
    ev->tenant_id = d->tenant_id;
    ev->user_id = d->user_id;
    ev->channel = d->channel;
    ev->batch_id = d->batch_id;
    ev->attempt = d->attempt + 1;
    ev->occurred_at = now;
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
    status_from(&ev, d, hd_ctx_now(ctx));
    ev.status = HD_ST_SENT;
    ev.provider = "inbox";
    ev.provider_message_id = d->notification_id;
    if (hd_ctx_emit_inbox(ctx, &it) == 0)
        hd_ctx_emit_status(ctx, &ev);
    return HD_PASS;
}

static enum hd_verdict dispatch_process(void *self, struct hd_ctx *ctx, struct hd_record *rec)
{
    struct dispatch *dp = self;
    const struct hd_dispatch *d = &rec->dsp;
    if (d->channel == HD_CH_IN_APP)
        return deliver_inbox(ctx, d);

    struct hd_status_event ev;
    status_from(&ev, d, hd_ctx_now(ctx));
    size_t pi = pick_provider(d);
    ev.provider = (char *)hd_providers[pi]->name;
    const char *field = missing_address(d);
    if (field) {
        char reason[128];
        snprintf(reason, sizeof(reason), "%s: the recipient has no address for %s", field,
                 hd_channel_name(d->channel));
        ev.status = HD_ST_FAILED;
        ev.reason_code = "no_address";
        ev.reason = reason;
        hd_ctx_emit_status(ctx, &ev);
        return HD_PASS;
    }
    char msg_id[256] = "", err[512] = "";
    enum hd_send_result res = HD_SEND_RETRY;
    for (int attempt = 0; attempt < HD_DISPATCH_TRIES && res == HD_SEND_RETRY; attempt++) {
        if (attempt) {
            struct timespec ts = {0, 100L * 1000000L * attempt};
            nanosleep(&ts, NULL);
        }
        res = hd_providers[pi]->send(dp->selves[pi], d, msg_id, sizeof(msg_id), err, sizeof(err));
    }
    if (res == HD_SEND_OK) {
        ev.status = HD_ST_SENT;
        ev.provider_message_id = msg_id;
    } else {
        hd_logm(HD_LOG_WARN, "processor:dispatch", d->tenant_id, d->notification_id,
                "provider %s failed: %s", hd_providers[pi]->name, err);
        ev.status = HD_ST_FAILED;
        ev.reason_code = res == HD_SEND_RETRY ? "provider_unavailable" : "provider_rejected";
        ev.reason = err;
    }
    hd_ctx_emit_status(ctx, &ev);
    return HD_PASS;
}

const struct hd_processor hd_proc_dispatch = {
    .name = "dispatch",
    .input = HD_PAYLOAD_DISPATCH,
    .init = dispatch_init,
    .process = dispatch_process,
    .exit = dispatch_exit,
};
