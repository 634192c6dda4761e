/*
 * herald plugins: what this binary is made of: the sub-topologies (their input topics and
 * chains), every registered processor and channel provider, and the settings each reads
 * (its config map: key, type, environment variable, default). With --check it loads every
 * map from the current environment, as `herald run` does at start, and exits 1 naming the
 * first bad setting: a deployment's environment can be checked without a broker.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "connectors/channels/channel.h"
#include "core/confmap.h"
#include "processors/registry.h"
#include "processors/topology.h"

static int check_map(const char *name, const struct hd_conf_entry *map,
                     const struct hd_config *cfg, char *err, size_t n)
{
    struct hd_conf *c = hd_conf_load(name, map, cfg, err, n);
    hd_conf_destroy(c);
    return c ? 0 : -1;
}

int hd__plugins_check(const struct hd_config *cfg, char *err, size_t n)
{
    const struct hd_processor *const *procs;
    size_t np = hd_processors(&procs);
    const struct hd_channel_provider *const *provs;
    size_t nv = hd_channel_providers(&provs);
    for (size_t i = 0; i < np; i++)
        if (check_map(procs[i]->name, procs[i]->config, cfg, err, n))
            return -1;
    for (size_t i = 0; i < nv; i++)
        if (check_map(provs[i]->name, provs[i]->config, cfg, err, n))
            return -1;
    return 0;
}

int hd_cmd_plugins(int argc, char **argv, struct hd_config *cfg)
{
    int check = argc == 2 && !strcmp(argv[1], "--check");
    if (argc > 1 && !check) {
        fprintf(argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? stdout
                                                                                    : stderr,
                "usage: herald plugins [--check]\n"
                "  Lists the sub-topologies, processors and channel providers and the settings\n"
                "  each reads. --check loads every setting from the environment and exits 1\n"
                "  naming the first bad one.\n");
        return argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? 0 : 2;
    }
    const struct hd_processor *const *procs;
    size_t np = hd_processors(&procs);
    const struct hd_channel_provider *const *provs;
    size_t nv = hd_channel_providers(&provs);
    if (check) {
        char err[512];
        if (hd__plugins_check(cfg, err, sizeof(err))) {
            fprintf(stderr, "herald plugins: %s\n", err);
            return 1;
        }
        printf("every setting of %zu processors and %zu providers is valid\n", np, nv);
        return 0;
    }
    const struct hd_subtopology *subs;
    size_t ns = hd_topology_all(&subs);
    printf("Sub-topologies (input topics -> chain):\n");
    for (size_t s = 0; s < ns; s++) {
        const char *in[HD_INPUTS_MAX + 1];
        size_t n = hd_topology_inputs(&subs[s], in, HD_ARRAY_SIZE(in));
        printf("  %-12s %s, %zu %s topic%s ->", subs[s].name,
               subs[s].by_default ? "default" : "on request", n,
               hd_topic_role_name(subs[s].input), n == 1 ? "" : "s");
        for (size_t i = 0; subs[s].chain[i]; i++)
            printf(" %s", subs[s].chain[i]->name);
        printf("\n");
    }
    printf("\nProcessors:\n");
    for (size_t i = 0; i < np; i++) {
        printf("  %s (reads %s", procs[i]->name, hd_payload_kind_name(procs[i]->input));
        for (const char *const *st = procs[i]->stores; st && *st; st++)
            printf("%s%s", st == procs[i]->stores ? "; stores " : ", ", *st);
        printf(")\n");
        hd_conf_describe(procs[i]->name, procs[i]->config, stdout);
    }
    printf("\nChannel providers (in fallback order):\n");
    for (size_t i = 0; i < nv; i++) {
        printf("  %s\n", provs[i]->name);
        hd_conf_describe(provs[i]->name, provs[i]->config, stdout);
    }
    return 0;
}
