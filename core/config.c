/*
 * Configuration from HERALD_* environment variables (see config.h).
 */
#include "core/config.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/hd.h"

static char *env_str(const char *name, const char *def)
{
    const char *v = getenv(name);
    if (v && *v)
        return hd_strdup(v);
    return hd_strdup(def);
}

static int env_int(const char *name, int def, int min, int max, int *out, char *errstr,
                   unsigned long errstr_size)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < min || n > max)
        return hd_seterr(-1, errstr, errstr_size, "%s=%s: expected an integer in [%d, %d]",
                         name, v, min, max);
    *out = (int)n;
    return 0;
}

void hd_config_set(char **field, const char *value)
{
    hd_free(*field);
    *field = hd_strdup(value);
}

int hd_config_from_env(struct hd_config *c, char *errstr, unsigned long errstr_size)
{
    memset(c, 0, sizeof(*c));
    char host[256] = "herald";
    gethostname(host, sizeof(host) - 1);
    c->brokers = env_str("HERALD_BROKERS", NULL);
    c->pg = env_str("HERALD_PG", NULL);
    c->state_dir = env_str("HERALD_STATE_DIR", "./herald-state");
    c->api_listen = env_str("HERALD_API_LISTEN", "127.0.0.1:8080");
    c->jwks = env_str("HERALD_JWKS", NULL);
    c->user_service_url = env_str("HERALD_USER_SERVICE_URL", NULL);
    c->schema_registry_url = env_str("HERALD_SCHEMA_REGISTRY_URL", NULL);
    c->config_file = env_str("HERALD_CONFIG", NULL);
    c->instance_id = env_str("HERALD_INSTANCE_ID", host);
    c->app_id = env_str("HERALD_APP_ID", "herald");
    if (env_int("HERALD_PARTITIONS", 6, 1, 10000, &c->partitions, errstr, errstr_size) ||
        env_int("HERALD_REPLICATION", 1, 1, 16, &c->replication, errstr, errstr_size) ||
        env_int("HERALD_BATCH_MAX", 1000, 1, 1000000, &c->batch_max, errstr, errstr_size) ||
        env_int("HERALD_BATCH_WAIT_MS", 20, 0, 60000, &c->batch_wait_ms, errstr, errstr_size) ||
        env_int("HERALD_TXN_TIMEOUT_MS", 10000, 1000, 900000, &c->txn_timeout_ms, errstr,
                errstr_size)) {
        hd_config_clear(c);
        return -1;
    }
    const char *mode = getenv("HERALD_PROCESSING");
    if (mode && *mode && strcmp(mode, "exactly_once") && strcmp(mode, "at_least_once")) {
        hd_config_clear(c);
        snprintf(errstr, errstr_size,
                 "HERALD_PROCESSING: \"%.32s\" is neither exactly_once nor at_least_once", mode);
        return -1;
    }
    c->at_least_once = mode && !strcmp(mode, "at_least_once");
    return 0;
}

void hd_config_clear(struct hd_config *c)
{
    if (!c)
        return;
    char **fields[] = {&c->brokers,     &c->pg,         &c->state_dir,
                       &c->api_listen,  &c->jwks,       &c->user_service_url,
                       &c->schema_registry_url, &c->config_file,
                       &c->instance_id, &c->app_id};
    for (size_t i = 0; i < HD_ARRAY_SIZE(fields); i++) {
        hd_free(*fields[i]);
        *fields[i] = NULL;
    }
    for (size_t i = 0; i < c->plugin_set_cnt; i++) {
        hd_free(c->plugin_set[i].key);
        hd_free(c->plugin_set[i].value);
    }
    hd_free(c->plugin_set);
    c->plugin_set = NULL;
    c->plugin_set_cnt = 0;
}

void hd_config_plugin_set(struct hd_config *c, const char *name, const char *value)
{
    for (size_t i = 0; i < c->plugin_set_cnt; i++)
        if (!strcmp(c->plugin_set[i].key, name)) {
            hd_config_set(&c->plugin_set[i].value, value);
            return;
        }
    c->plugin_set = hd_realloc(c->plugin_set, (c->plugin_set_cnt + 1) * sizeof(*c->plugin_set));
    c->plugin_set[c->plugin_set_cnt].key = hd_strdup(name);
    c->plugin_set[c->plugin_set_cnt].value = hd_strdup(value);
    c->plugin_set_cnt++;
}

const char *hd_config_plugin_get(const struct hd_config *c, const char *name)
{
    for (size_t i = 0; c && i < c->plugin_set_cnt; i++)
        if (!strcmp(c->plugin_set[i].key, name))
            return c->plugin_set[i].value;
    return NULL;
}
