/*
 * The sub-topology table (processors/topology.c): the default set `herald run`
 * takes from it, and every chain's processors reading the payload kind their
 * sub-topology decodes (the check hd_task_new makes at start).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "connectors/channels/channel.h"
#include "core/confmap.h"
#include "processors/registry.h"
#include "processors/runtime.h"
#include "processors/topology.h"

Test(topology, the_default_set_is_route_requests_dispatch_status_without_the_benchmark)
{
    const char *names[HD_TASK_SUBS_MAX + 1];
    size_t n = hd_topology_defaults(names, HD_ARRAY_SIZE(names));
    cr_assert_eq(n, 4);
    cr_expect_str_eq(names[0], "route");
    cr_expect_str_eq(names[1], "requests");
    cr_expect_str_eq(names[2], "dispatch");
    cr_expect_str_eq(names[3], "status");
    cr_expect_null(names[4]);
    cr_expect_not_null(hd_topology_find("passthrough"), "the benchmark's baseline exists");
}

Test(topology, a_short_names_array_is_still_terminated)
{
    const char *names[3];
    cr_assert_eq(hd_topology_defaults(names, 3), 2);
    cr_expect_null(names[2]);
}

Test(topology, every_processor_reads_what_its_sub_topology_decodes)
{
    const struct hd_subtopology *subs;
    size_t n = hd_topology_all(&subs);
    for (size_t s = 0; s < n; s++) {
        cr_assert_not_null(subs[s].chain[0], "%s has no processor", subs[s].name);
        const char *inputs[HD_INPUTS_MAX + 1];
        cr_assert_gt(hd_topology_inputs(&subs[s], inputs, HD_ARRAY_SIZE(inputs)), 0,
                     "%s has no input topic", subs[s].name);
        for (size_t i = 0; subs[s].chain[i]; i++)
            cr_expect_eq(subs[s].chain[i]->input, subs[s].kind, "%s: %s reads %s, not %s",
                         subs[s].name, subs[s].chain[i]->name,
                         hd_payload_kind_name(subs[s].chain[i]->input),
                         hd_payload_kind_name(subs[s].kind));
    }
}

Test(topology, each_input_topic_feeds_one_sub_topology_of_the_default_set)
{
    const char *names[HD_TASK_SUBS_MAX + 1];
    size_t n = hd_topology_defaults(names, HD_ARRAY_SIZE(names));
    const struct hd_subtopology *subs[HD_TASK_SUBS_MAX];
    for (size_t i = 0; i < n; i++)
        subs[i] = hd_topology_find(names[i]);
    for (size_t i = 0; i < n; i++) {
        const char *inputs[HD_INPUTS_MAX + 1];
        hd_topology_inputs(subs[i], inputs, HD_ARRAY_SIZE(inputs));
        for (const char *const *in = inputs; *in; in++)
            cr_expect_eq(hd_topology_for_topic(subs, n, *in), subs[i], "%s is read by %s first",
                         *in, hd_topology_for_topic(subs, n, *in)->name);
    }
}

Test(topology, the_catalogue_names_each_topic_once_and_every_pipeline_input_has_a_reader)
{
    const struct hd_topic *t;
    size_t n = hd_topic_catalogue(&t);
    cr_assert_gt(n, 0);
    const char *names[HD_TASK_SUBS_MAX + 1];
    size_t dn = hd_topology_defaults(names, HD_ARRAY_SIZE(names));
    const struct hd_subtopology *subs[HD_TASK_SUBS_MAX];
    for (size_t i = 0; i < dn; i++)
        subs[i] = hd_topology_find(names[i]);
    for (size_t i = 0; i < n; i++) {
        cr_expect(hd_topic_find(t[i].name) == &t[i], "%s is listed twice", t[i].name);
        int pipeline_input = t[i].role == HD_ROLE_DOMAIN || t[i].role == HD_ROLE_REQUEST ||
                             t[i].role == HD_ROLE_DISPATCH || t[i].role == HD_ROLE_RECEIPT;
        const struct hd_subtopology *s = hd_topology_for_topic(subs, dn, t[i].name);
        cr_expect_eq(s != NULL, pipeline_input, "%s (%s) %s", t[i].name,
                     hd_topic_role_name(t[i].role),
                     s ? "is read by a sub-topology" : "has no reader");
        cr_expect(!t[i].compacted || t[i].role == HD_ROLE_CONFIG || t[i].role == HD_ROLE_TABLE,
                  "%s: only config and table topics are compacted", t[i].name);
        cr_expect(t[i].compacted || t[i].role != HD_ROLE_TABLE, "%s: a table is compacted",
                  t[i].name);
    }
    cr_expect_null(hd_topic_find("notification.bogus"));
    cr_expect_null(hd_topology_for_topic(subs, dn, "notification.bogus"));
    const char *status[16];
    cr_expect_eq(hd_topics_of(HD_ROLE_STATUS, status, HD_ARRAY_SIZE(status)), 7);
    cr_expect_null(status[7]);
    cr_expect_eq(hd_topics_of(HD_ROLE_STATUS, status, 3), 2, "bounded by max, NULL included");
    cr_expect_null(status[2]);
}

Test(topology, payload_kinds_have_names)
{
    cr_expect_str_eq(hd_payload_kind_name(HD_PAYLOAD_REQUEST), "NotificationRequest");
    cr_expect_str_eq(hd_payload_kind_name(HD_PAYLOAD_DISPATCH), "Dispatch");
    cr_expect_str_eq(hd_payload_kind_name((enum hd_payload_kind)99), "unknown");
}

Test(topology, every_chain_is_made_of_registered_processors_with_loadable_settings)
{
    const struct hd_processor *const *procs;
    size_t np = hd_processors(&procs);
    for (size_t i = 0; i < np; i++) {
        cr_expect(hd_processor_find(procs[i]->name) == procs[i], "%s is registered twice",
                  procs[i]->name);
        struct hd_config cfg;
        memset(&cfg, 0, sizeof(cfg));
        char err[256];
        struct hd_conf *c = hd_conf_load(procs[i]->name, procs[i]->config, &cfg, err,
                                         sizeof(err));
        cr_expect_not_null(c, "%s: its defaults do not load: %s", procs[i]->name, err);
        hd_conf_destroy(c);
    }
    const struct hd_subtopology *subs;
    size_t n = hd_topology_all(&subs);
    for (size_t s = 0; s < n; s++)
        for (size_t i = 0; subs[s].chain[i]; i++)
            cr_expect(hd_processor_find(subs[s].chain[i]->name) == subs[s].chain[i],
                      "%s: %s is not in the registry", subs[s].name, subs[s].chain[i]->name);
    cr_expect_null(hd_processor_find("nonesuch"));
    const struct hd_channel_provider *const *provs;
    size_t nv = hd_channel_providers(&provs);
    cr_assert_gt(nv, 0);
    for (size_t i = 0; i < nv; i++)
        cr_expect(hd_channel_provider_find(provs[i]->name) == provs[i], "%s", provs[i]->name);
    cr_expect_null(hd_channel_provider_find("nonesuch"));
}

Test(topology, every_channel_has_its_dispatch_topic_in_the_catalogue)
{
    for (int ch = 0; ch < HD_CH__CNT; ch++) {
        char topic[64];
        snprintf(topic, sizeof(topic), "%s%s", HD_TOPIC_DISPATCH_PREFIX,
                 hd_channel_slug((enum hd_channel)ch));
        const struct hd_topic *t = hd_topic_find(topic);
        cr_assert_not_null(t, "%s is not in the catalogue", topic);
        cr_expect_eq(t->role, HD_ROLE_DISPATCH, "%s", topic);
        const char *name = hd_channel_name((enum hd_channel)ch), *slug = t->name + 16;
        cr_expect_eq(strlen(slug), strlen(name));
        for (size_t i = 0; name[i]; i++)
            cr_expect_eq(slug[i], name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i],
                         "%s vs %s", slug, name);
    }
}
