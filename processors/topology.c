/*
 * The sub-topologies of DESIGN.md's data flow that exist so far:
 *   route:    domain events -> NotificationRequests on notification.requests
 *   requests: notification.requests -> validate -> dedup -> enrich -> prefs -> schedule ->
 *             render -> herald.dispatch.<channel> + notification.queued (held:
 *             notification.scheduled)
 *   dispatch: herald.dispatch.* -> channel providers -> notification.sent/failed, herald.inbox
 *   status:   herald.receipts (user actions from the API) -> notification.read
 *   passthrough: notification.requests -> the same bytes on herald.bench.passthrough (the
 *             benchmark's baseline; never part of `herald run`'s default set)
 *   requests_core: requests without enrich and prefs (the benchmark's measure of what they
 *             cost; not in the default set)
 * A sub-topology reads the catalogue's topics of one role (schemas/topics.c).
 * The second field says whether a sub-topology is in the default set that `herald run`,
 * `herald demo` and the benches run: adding a processor to a chain, or a sub-topology to
 * the default set, is an edit here only.
 */
#include "processors/topology.h"

#include <string.h>

#include "core/hd.h"
#include "processors/registry.h"

static const struct hd_subtopology hd_subtopologies[] = {
    {"route", 1, HD_PAYLOAD_EVENT, HD_ROLE_DOMAIN, {&hd_proc_route, NULL}},
    {"requests", 1, HD_PAYLOAD_REQUEST, HD_ROLE_REQUEST,
     {&hd_proc_validate, &hd_proc_dedup, &hd_proc_enrich, &hd_proc_prefs, &hd_proc_schedule,
      &hd_proc_render, NULL}},
    {"dispatch", 1, HD_PAYLOAD_DISPATCH, HD_ROLE_DISPATCH, {&hd_proc_dispatch, NULL}},
    {"status", 1, HD_PAYLOAD_ACTION, HD_ROLE_RECEIPT, {&hd_proc_status, NULL}},
    {"passthrough", 0, HD_PAYLOAD_RAW, HD_ROLE_REQUEST, {&hd_proc_passthrough, NULL}},
    {"requests_core", 0, HD_PAYLOAD_REQUEST, HD_ROLE_REQUEST,
     {&hd_proc_validate, &hd_proc_dedup, &hd_proc_schedule, &hd_proc_render, NULL}},
};

size_t hd_topology_inputs(const struct hd_subtopology *s, const char **names, size_t max)
{
    return hd_topics_of(s->input, names, max);
}

size_t hd_topology_all(const struct hd_subtopology **subs)
{
    *subs = hd_subtopologies;
    return sizeof(hd_subtopologies) / sizeof(hd_subtopologies[0]);
}

size_t hd_topology_defaults(const char **names, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < HD_ARRAY_SIZE(hd_subtopologies) && n + 1 < max; i++)
        if (hd_subtopologies[i].by_default)
            names[n++] = hd_subtopologies[i].name;
    if (max)
        names[n] = NULL;
    return n;
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
    const struct hd_topic *t = hd_topic_find(topic);
    for (size_t i = 0; t && i < cnt; i++)
        if (subs[i]->input == t->role)
            return subs[i];
    return NULL;
}
