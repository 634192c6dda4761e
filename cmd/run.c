/*
 * herald run [--role all|pipeline|materializer] [--no-topics]: creates the
 * topics, then runs the processors (route, requests, dispatch, status) in one task
 * and, when HERALD_PG is set, the materializer, each on its own thread, until
 * SIGINT/SIGTERM. Tenants, rules and templates come from the config topics
 * (read before processing starts and followed while running); HERALD_CONFIG,
 * when set, names a config document whose changed records are published to
 * them first.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "connectors/kafka.h"
#include "core/log.h"
#include "materializer/materializer.h"
#include "processors/runtime.h"
#include "tables/publish.h"
#include "tables/tables.h"
#include "tables/topics.h"
#include "templates/template_store.h"

static volatile sig_atomic_t run_stop;

static void on_signal(int sig)
{
    (void)sig;
    run_stop = 1;
}

struct role {
    const char *name;
    struct hd_task *task;
    struct hd_materializer *mat;
    int rc;
    char err[512];
};

static void *role_main(void *arg)
{
    struct role *r = arg;
    r->rc = r->task ? hd_task_run(r->task, &run_stop, r->err, sizeof(r->err))
                    : hd_materializer_run(r->mat, &run_stop, r->err, sizeof(r->err));
    if (r->rc) {
        hd_log_error("run", "%s stopped: %s", r->name, r->err);
        run_stop = 1;
    }
    return NULL;
}

static int usage(int rc)
{
    fprintf(rc ? stderr : stdout,
            "usage: herald run [--role all|pipeline|materializer] [--no-topics]\n"
            "  Runs the processors and (with HERALD_PG) the materializer until SIGTERM.\n");
    return rc;
}

int hd_cmd_run(int argc, char **argv, struct hd_config *cfg)
{
    const char *role = "all";
    int topics = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--role") && i + 1 < argc)
            role = argv[++i];
        else if (!strcmp(argv[i], "--no-topics"))
            topics = 0;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return usage(0);
        else
            return usage(2);
    }
    int want_pipe = !strcmp(role, "all") || !strcmp(role, "pipeline");
    int want_mat = (!strcmp(role, "all") && cfg->pg) || !strcmp(role, "materializer");
    if (!want_pipe && !want_mat)
        return usage(2);
    char err[512];
    if (!cfg->brokers) {
        fprintf(stderr, "herald run: HERALD_BROKERS is not set (try `herald demo`)\n");
        return 2;
    }
    if (want_mat && !cfg->pg) {
        fprintf(stderr, "herald run: the materializer needs HERALD_PG\n");
        return 2;
    }
    /* every plugin setting, before any connection: a bad one fails at once, named */
    if (want_pipe && hd__plugins_check(cfg, err, sizeof(err))) {
        fprintf(stderr, "herald run: %s\n", err);
        return 2;
    }
    if (hd_kafka_wait_ready(cfg, 60000, err, sizeof(err)) ||
        (topics && hd_kafka_topics_ensure(cfg, err, sizeof(err)))) {
        fprintf(stderr, "herald run: %s\n", err);
        return 1;
    }
    if (cfg->config_file && hd_tables_import(cfg, cfg->config_file, err, sizeof(err))) {
        fprintf(stderr, "herald run: HERALD_CONFIG: %s\n", err);
        return 2;
    }
    struct hd_tpl_store *templates = hd_tpl_store_new();
    struct hd_tables *tables = hd_tables_live_new(templates);
    struct hd_tables_reader *reader = NULL;
    if (want_pipe && !(reader = hd_tables_reader_start(cfg, tables, err, sizeof(err)))) {
        fprintf(stderr, "herald run: %s\n", err);
        hd_tables_destroy(tables);
        hd_tpl_store_destroy(templates);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    struct role roles[2];
    memset(roles, 0, sizeof(roles));
    size_t nroles = 0;
    int rc = 0;
    if (want_pipe) {
        roles[nroles].name = "pipeline";
        const char *subs[HD_TASK_SUBS_MAX + 1];
        hd_topology_defaults(subs, HD_ARRAY_SIZE(subs));
        roles[nroles].task = hd_task_new(cfg, tables, "pipeline", subs, err, sizeof(err));
        if (!roles[nroles++].task)
            goto fail;
    }
    if (want_mat) {
        roles[nroles].name = "materializer";
        roles[nroles].mat = hd_materializer_new(cfg, err, sizeof(err));
        if (!roles[nroles++].mat)
            goto fail;
    }
    hd_log_info("run", "running %s (instance %s)", role, cfg->instance_id);
    pthread_t th[2];
    for (size_t i = 0; i < nroles; i++)
        pthread_create(&th[i], NULL, role_main, &roles[i]);
    for (size_t i = 0; i < nroles; i++) {
        pthread_join(th[i], NULL);
        rc |= roles[i].rc;
    }
    goto out;
fail:
    fprintf(stderr, "herald run: %s\n", err);
    rc = 1;
out:
    for (size_t i = 0; i < nroles; i++) {
        hd_task_destroy(roles[i].task);
        hd_materializer_destroy(roles[i].mat);
    }
    hd_tables_reader_stop(reader);
    hd_tables_destroy(tables);
    hd_tpl_store_destroy(templates);
    return rc ? 1 : 0;
}
