/*
 * render: turns a valid request into one Dispatch per channel on
 * herald.dispatch.<channel>, plus a QUEUED status each. Content comes from
 * the request's inline `content`; the template engine plugs in behind
 * render_channel() (a request that names only a template is dead-lettered
 * with "template_unavailable" until it lands). Notification ids are UUIDv5 of
 * request id + channel, so a replay yields the same ids.
 */
#include <string.h>

#include "core/uuid.h"
#include "processors/processor.h"

/* The content for one channel. Borrows from the request; nothing to free. */
static enum hd_verdict render_channel(struct hd_ctx *ctx, const struct hd_request *r,
                                      enum hd_channel ch, struct hd_content *out)
{
    if (!r->content)
        return hd_ctx_error(ctx, "template_unavailable",
                            "template \"%s\": template rendering is not available in this build; "
                            "send inline content",
                            r->template_ref && r->template_ref->key ? r->template_ref->key : "");
    *out = *r->content;
    (void)ch;
    return HD_PASS;
}

static enum hd_verdict render_process(void *self, struct hd_ctx *ctx, struct hd_record *rec)
{
    const struct hd_request *r = &rec->req;
    struct hd_content rendered[HD_CH__CNT];
    for (size_t i = 0; i < r->channel_cnt; i++) {
        enum hd_verdict v = render_channel(ctx, r, r->channels[i], &rendered[i]);
        if (v != HD_PASS)
            return v;
    }
    for (size_t i = 0; i < r->channel_cnt; i++) {
        char nid[HD_UUID_STRLEN];
        hd_notification_id(r->request_id, hd_channel_name(r->channels[i]), nid);
        struct hd_dispatch d;
        memset(&d, 0, sizeof(d));
        d.notification_id = nid;
        d.request_id = r->request_id;
        d.tenant_id = r->tenant_id;
        d.user_id = r->user_id;
        d.channel = r->channels[i];
        d.category = r->category;
        d.priority = r->priority;
        d.provider = r->provider;
        d.batch_id = r->batch_id;
        d.recipient = r->recipient;
        d.rendered = rendered[i];
        d.metadata = r->metadata;
        d.created_at = r->created_at;
        struct hd_status_event ev;
        memset(&ev, 0, sizeof(ev));
        ev.notification_id = nid;
        ev.request_id = r->request_id;
        ev.tenant_id = r->tenant_id;
        ev.user_id = r->user_id;
        ev.channel = r->channels[i];
        ev.provider = r->provider;
        ev.status = HD_ST_QUEUED;
        ev.batch_id = r->batch_id;
        ev.occurred_at = hd_ctx_now(ctx);
        if (hd_ctx_emit_dispatch(ctx, &d) || hd_ctx_emit_status(ctx, &ev))
            return HD_PASS; /* the runtime aborts the transaction */
    }
    return HD_PASS;
}

const struct hd_processor hd_proc_render = {
    .name = "render",
    .input = HD_PAYLOAD_REQUEST,
    .process = render_process,
};
