/*
 * Process configuration from the environment (12-factor). Every field has a
 * default so `herald demo` runs with nothing set.
 */
#ifndef HD_CONFIG_H
#define HD_CONFIG_H

#include <stddef.h>

struct hd_config {
    char *brokers;         /* HERALD_BROKERS; NULL = none (demo uses the mock cluster) */
    char *pg;              /* HERALD_PG: libpq conninfo; NULL = none */
    char *state_dir;       /* HERALD_STATE_DIR, default "./herald-state" */
    char *api_listen;      /* HERALD_API_LISTEN, default "127.0.0.1:8080" */
    char *jwks;            /* HERALD_JWKS: file path or http(s) URL; NULL = none */
    char *user_service_url;    /* HERALD_USER_SERVICE_URL */
    char *schema_registry_url; /* HERALD_SCHEMA_REGISTRY_URL */
    char *config_file;     /* HERALD_CONFIG: JSON with tenants and rules; NULL = none */
    char *instance_id;     /* HERALD_INSTANCE_ID, default the host name; names the
                            * transactional id, so keep it stable across restarts */
    char *app_id;          /* HERALD_APP_ID, default "herald": consumer group prefix */
    int partitions;        /* HERALD_PARTITIONS, default 6 */
    int replication;       /* HERALD_REPLICATION, default 1 */
    int batch_max;         /* HERALD_BATCH_MAX: records per transaction, default 1000 */
    int batch_wait_ms;     /* HERALD_BATCH_WAIT_MS: max wait to fill a batch, default 20 */
    int txn_timeout_ms;    /* HERALD_TXN_TIMEOUT_MS, default 10000 */
    int at_least_once;     /* HERALD_PROCESSING=at_least_once (default exactly_once): no
                            * transactions; offsets committed after the outputs are acked */
    /* Plugin settings set by the program ("outbox.dir" -> value): they win over the
     * environment when a plugin's map is loaded (core/confmap.h). */
    struct hd_config_kv {
        char *key;
        char *value;
    } *plugin_set;
    size_t plugin_set_cnt;
};

/* Fills c from the environment. Returns 0, or -1 with errstr naming the bad variable. */
int hd_config_from_env(struct hd_config *c, char *errstr, unsigned long errstr_size);
void hd_config_clear(struct hd_config *c);
/* Sets plugin setting "<plugin>.<key>" (replacing an earlier value); see confmap.h. */
void hd_config_plugin_set(struct hd_config *c, const char *name, const char *value);
/* The value set for "<plugin>.<key>", or NULL. */
const char *hd_config_plugin_get(const struct hd_config *c, const char *name);
/* Replaces a string field (frees the old value, copies the new one). */
void hd_config_set(char **field, const char *value);

#endif
