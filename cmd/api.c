/*
 * `herald api`: runs the read API (connectors/api.c) until SIGINT or SIGTERM.
 *
 *   herald api [--listen HOST:PORT]
 *
 * --listen overrides HERALD_API_LISTEN (port 0 picks a free port). Needs
 * HERALD_PG, HERALD_JWKS and HERALD_BROKERS. Once the server is up it prints
 * one line "listening on HOST:PORT" on standard output (the port actually
 * bound), so scripts that start it on port 0 can find it.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "connectors/api.h"
#include "core/config.h"
#include "core/hd.h"
#include "core/log.h"

static void hd_api_usage(FILE *out)
{
    fprintf(out, "usage: herald api [--listen HOST:PORT]\n"
                 "  Serves the inbox API and health endpoints until SIGINT/SIGTERM.\n"
                 "  Environment: HERALD_PG, HERALD_JWKS, HERALD_BROKERS (required),\n"
                 "  HERALD_API_LISTEN (default 127.0.0.1:8080).\n");
}

static int hd_api_parse_args(int argc, char **argv, struct hd_config *cfg)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--listen") && i + 1 < argc) {
            hd_config_set(&cfg->api_listen, argv[++i]);
        } else if (!strncmp(a, "--listen=", 9)) {
            hd_config_set(&cfg->api_listen, a + 9);
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            hd_api_usage(stdout);
            return 1;
        } else {
            fprintf(stderr, "herald api: unexpected argument \"%s\"\n", a);
            hd_api_usage(stderr);
            return -1;
        }
    }
    return 0;
}

static int hd_api_check_env(const struct hd_config *cfg)
{
    const struct {
        const char *name;
        const char *value;
    } req[] = {{"HERALD_PG", cfg->pg},
               {"HERALD_JWKS", cfg->jwks},
               {"HERALD_BROKERS", cfg->brokers}};
    int missing = 0;
    for (size_t i = 0; i < HD_ARRAY_SIZE(req); i++) {
        if (!req[i].value || !*req[i].value) {
            fprintf(stderr, "herald api: %s is not set\n", req[i].name);
            missing = 1;
        }
    }
    return missing ? -1 : 0;
}

int hd_cmd_api(int argc, char **argv, struct hd_config *cfg)
{
    int rc = hd_api_parse_args(argc, argv, cfg);
    if (rc)
        return rc > 0 ? 0 : 2;
    if (hd_api_check_env(cfg) < 0)
        return 2;

    /* Block the signals before any thread exists so every server and librdkafka
     * thread inherits the mask and sigwait below is the only receiver. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    char errstr[512];
    struct hd_api *api = hd_api_start(cfg, errstr, sizeof(errstr));
    if (!api) {
        hd_log_error("api", "cannot start: %s", errstr);
        return 1;
    }
    const char *colon = strrchr(cfg->api_listen, ':');
    int host_len = colon ? (int)(colon - cfg->api_listen) : 0;
    printf("listening on %.*s:%d\n", host_len, cfg->api_listen, hd_api_port(api));
    fflush(stdout);
    hd_log_info("api", "listening on %.*s:%d", host_len, cfg->api_listen, hd_api_port(api));

    int sig = 0;
    sigwait(&set, &sig);
    hd_log_info("api", "%s received, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    hd_api_stop(api);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    return 0;
}
