/*
 * The sub-topologies of DESIGN.md's data flow that exist so far:
 *   route:    domain events -> NotificationRequests on notification.requests
 *   requests: notification.requests -> validate -> dedup -> schedule -> render ->
 *             herald.dispatch.<channel> + notification.queued (held: notification.scheduled)
 *   dispatch: herald.dispatch.* -> channel providers -> notification.sent/failed, herald.inbox
 *   status:   herald.receipts (user actions from the API) -> notification.read
 *   passthrough: notification.requests -> the same bytes on herald.bench.passthrough (the
 *             benchmark's baseline; never part of `herald run`'s default set)
 */
#include "processors/topology.h"

#include <string.h>

static const struct hd_subtopology hd_subtopologies[] = {
    {"route",
     HD_PAYLOAD_EVENT,
     {"order.created", "order.shipped", "payment.completed", "payment.failed", "user.registered",
      "user.password_reset", NULL},
     {&hd_proc_route, NULL}},
    {"requests", HD_PAYLOAD_REQUEST, {"notification.requests", NULL},
     {&hd_proc_validate, &hd_proc_dedup, &hd_proc_schedule, &hd_proc_render, NULL}},
    {"dispatch",
     HD_PAYLOAD_DISPATCH,
     {"herald.dispatch.email", "herald.dispatch.sms", "herald.dispatch.push",
      "herald.dispatch.whatsapp", "herald.dispatch.chat", "herald.dispatch.webhook",
      "herald.dispatch.in_app", NULL},
     {&hd_proc_dispatch, NULL}},
    {"status", HD_PAYLOAD_ACTION, {"herald.receipts", NULL}, {&hd_proc_status, NULL}},
    {"passthrough", HD_PAYLOAD_RAW, {"notification.requests", NULL},
     {&hd_proc_passthrough, NULL}},
};

size_t hd_topology_all(const struct hd_subtopology **subs)
{
    *subs = hd_subtopologies;
    return sizeof(hd_subtopologies) / sizeof(hd_subtopologies[0]);
}

const struct hd_subtopology *hd_topology_find(const char *name)
{
    for (size_t i = 0; i < sizeof(hd_subtopologies) / sizeof(hd_subtopologies[0]); i++)
        if (!strcmp(hd_subtopologies[i].name, name))
            return &hd_subtopologies[i];
    return NULL;
}

const struct hd_subtopology *hd_topology_for_topic(const struct hd_subtopology *const *subs,
                                                   size_t cnt, const char *topic)
{
    for (size_t i = 0; i < cnt; i++)
        for (const char *const *in = subs[i]->inputs; *in; in++)
            if (!strcmp(*in, topic))
                return subs[i];
    return NULL;
}
