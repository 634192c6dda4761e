/*
 * status (sub-topology C, first part): user actions from the API
 * (herald.receipts) become status events. READ -> a READ StatusEvent on
 * notification.read, which the materializer applies as read_at. Stateless
 * for now: the per-notification state machine (no going back from a
 * terminal state, duplicates ignored) and batch totals need the state stores.
 * UNREAD and DELETE have no status in the contract yet; no producer sends
 * them, so one arriving is dead-lettered with a reason rather than dropped.
 */
#include <string.h>

#include "processors/processor.h"

static enum hd_verdict status_process(void *self, struct hd_ctx *ctx, struct hd_record *rec)
{
    const struct hd_user_action *a = &rec->act;
    if (a->action != HD_ACT_READ)
        return hd_ctx_error(ctx, "unsupported_action", "action %s is not handled yet",
                            hd_user_action_name(a->action));
    if (!a->request_id || !*a->request_id)
        return hd_ctx_error(ctx, "invalid_action", "request_id: required for a READ");
    struct hd_status_event ev;
    hd_status_event_init(&ev, a->notification_id, a->request_id, a->tenant_id, a->user_id,
                         a->channel, NULL, 0, HD_ST_READ, a->occurred_at);
    hd_ctx_emit_status(ctx, &ev);
    return HD_PASS;
}

const struct hd_processor hd_proc_status = {
    .name = "status",
    .input = HD_PAYLOAD_ACTION,
    .process = status_process,
};
