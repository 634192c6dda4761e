/*
 * herald: one binary, subcommands choose the role (see DESIGN.md, "Command
 * line and environment"). Configuration comes from HERALD_* variables.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/log.h"

struct hd_cmd_entry {
    const char *name;
    int (*run)(int argc, char **argv, struct hd_config *cfg);
    const char *summary;
};

static const struct hd_cmd_entry hd_cmds[] = {
    {"demo", hd_cmd_demo, "run everything in one process on the embedded defaults and show it"},
    {"run", hd_cmd_run, "run the processors (and the materializer when HERALD_PG is set)"},
    {"api", hd_cmd_api, "serve the HTTP read API"},
    {"migrate", hd_cmd_migrate, "apply the PostgreSQL read-model migrations"},
    {"config", hd_cmd_config, "put, delete and list tenants, rules and templates (config topics)"},
    {"topics", hd_cmd_topics, "create Herald's topics (idempotent) and list them"},
    {"plugins", hd_cmd_plugins, "list processors and providers and their settings; --check them"},
    {"prefs", hd_cmd_prefs, "put, get and delete a user's preferences (herald.preferences)"},
    {"suppress", hd_cmd_suppress, "add, list and remove a user's suppressed addresses"},
    {"send", hd_cmd_send, "publish JSON lines as Avro records"},
    {"tail", hd_cmd_tail, "print a topic's records as JSON lines (read_committed)"},
    {"render", hd_cmd_render, "render a template with JSON data and print the result"},
    {"bench", hd_cmd_bench, "measure pass-through vs pipeline throughput and latency"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: herald <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < HD_ARRAY_SIZE(hd_cmds); i++)
        fprintf(out, "  %-9s %s\n", hd_cmds[i].name, hd_cmds[i].summary);
    fprintf(out, "\n`herald <command> --help` for a command's options. Environment: HERALD_BROKERS,\n"
                 "HERALD_PG, HERALD_STATE_DIR, HERALD_API_LISTEN, HERALD_JWKS, HERALD_CONFIG,\n"
                 "HERALD_OUTBOX_DIR, HERALD_PARTITIONS, HERALD_LOG_LEVEL (see README.md).\n");
}

int main(int argc, char **argv)
{
    hd_log_init_from_env();
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("herald 0.1.0\n");
        return 0;
    }
    for (size_t i = 0; i < HD_ARRAY_SIZE(hd_cmds); i++) {
        if (strcmp(argv[1], hd_cmds[i].name))
            continue;
        struct hd_config cfg;
        char err[512];
        if (hd_config_from_env(&cfg, err, sizeof(err))) {
            fprintf(stderr, "herald: %s\n", err);
            return 2;
        }
        int rc = hd_cmds[i].run(argc - 1, argv + 1, &cfg);
        hd_config_clear(&cfg);
        return rc;
    }
    fprintf(stderr, "herald: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}
