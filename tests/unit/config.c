/*
 * Configuration from HERALD_* environment variables (core/config.c):
 * defaults with nothing set, overrides, and bad integers refused with an
 * error naming the variable. Criterion runs each test in its own process, so
 * setenv/unsetenv here do not leak between tests; each test still starts by
 * clearing every HERALD_* variable so the caller's environment cannot leak in.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors/channels/channel.h"
#include "core/confmap.h"
#include "core/config.h"
#include "core/hd.h"

static const char *const vars[] = {
    "HERALD_BROKERS",      "HERALD_PG",           "HERALD_STATE_DIR",
    "HERALD_API_LISTEN",   "HERALD_JWKS",         "HERALD_USER_SERVICE_URL",
    "HERALD_SCHEMA_REGISTRY_URL", "HERALD_CONFIG", "HERALD_OUTBOX_DIR",
    "HERALD_INSTANCE_ID",  "HERALD_APP_ID",       "HERALD_PARTITIONS",
    "HERALD_REPLICATION",  "HERALD_BATCH_MAX",    "HERALD_BATCH_WAIT_MS",
    "HERALD_TXN_TIMEOUT_MS",
};

static void clean_env(void)
{
    for (size_t i = 0; i < HD_ARRAY_SIZE(vars); i++)
        unsetenv(vars[i]);
}

Test(config, defaults_apply_when_nothing_is_set, .init = clean_env)
{
    struct hd_config c;
    char err[256] = "";
    cr_assert_eq(hd_config_from_env(&c, err, sizeof(err)), 0, "%s", err);
    cr_expect_null(c.brokers);
    cr_expect_null(c.pg);
    cr_expect_null(c.jwks);
    cr_expect_null(c.user_service_url);
    cr_expect_null(c.schema_registry_url);
    cr_expect_null(c.config_file);
    cr_expect_str_eq(c.state_dir, "./herald-state");
    cr_expect_str_eq(c.api_listen, "127.0.0.1:8080");
    const struct hd_channel_provider *outbox = hd_channel_provider_find("outbox");
    struct hd_conf *oc = hd_conf_load("outbox", outbox->config, &c, err, sizeof(err));
    cr_assert_not_null(oc, "%s", err);
    cr_expect_str_eq(hd_conf_str(oc, "dir"), "./herald-outbox");
    hd_conf_destroy(oc);
    cr_expect_str_eq(c.app_id, "herald");
    cr_expect_eq(c.partitions, 6);
    cr_expect_eq(c.replication, 1);
    cr_expect_eq(c.batch_max, 1000);
    cr_expect_eq(c.batch_wait_ms, 20);
    cr_expect_eq(c.txn_timeout_ms, 10000);
    hd_config_clear(&c);
}

Test(config, instance_id_defaults_to_the_host_name, .init = clean_env)
{
    char host[256] = "";
    cr_assert_eq(gethostname(host, sizeof(host) - 1), 0);
    struct hd_config c;
    char err[256] = "";
    cr_assert_eq(hd_config_from_env(&c, err, sizeof(err)), 0, "%s", err);
    cr_assert_not_null(c.instance_id);
    cr_expect_str_eq(c.instance_id, host);
    hd_config_clear(&c);
}

Test(config, every_variable_overrides_its_default, .init = clean_env)
{
    setenv("HERALD_BROKERS", "kafka-1:9092,kafka-2:9092", 1);
    setenv("HERALD_PG", "host=db dbname=herald", 1);
    setenv("HERALD_STATE_DIR", "/var/lib/herald", 1);
    setenv("HERALD_API_LISTEN", "0.0.0.0:9000", 1);
    setenv("HERALD_JWKS", "https://auth.example.com/jwks.json", 1);
    setenv("HERALD_USER_SERVICE_URL", "http://users:8080", 1);
    setenv("HERALD_SCHEMA_REGISTRY_URL", "http://registry:8081", 1);
    setenv("HERALD_CONFIG", "/etc/herald/tables.json", 1);
    setenv("HERALD_OUTBOX_DIR", "/tmp/outbox", 1);
    setenv("HERALD_INSTANCE_ID", "herald-7", 1);
    setenv("HERALD_APP_ID", "herald-staging", 1);
    setenv("HERALD_PARTITIONS", "12", 1);
    setenv("HERALD_REPLICATION", "3", 1);
    setenv("HERALD_BATCH_MAX", "500", 1);
    setenv("HERALD_BATCH_WAIT_MS", "0", 1);
    setenv("HERALD_TXN_TIMEOUT_MS", "60000", 1);
    struct hd_config c;
    char err[256] = "";
    cr_assert_eq(hd_config_from_env(&c, err, sizeof(err)), 0, "%s", err);
    cr_expect_str_eq(c.brokers, "kafka-1:9092,kafka-2:9092");
    cr_expect_str_eq(c.pg, "host=db dbname=herald");
    cr_expect_str_eq(c.state_dir, "/var/lib/herald");
    cr_expect_str_eq(c.api_listen, "0.0.0.0:9000");
    cr_expect_str_eq(c.jwks, "https://auth.example.com/jwks.json");
    cr_expect_str_eq(c.user_service_url, "http://users:8080");
    cr_expect_str_eq(c.schema_registry_url, "http://registry:8081");
    cr_expect_str_eq(c.config_file, "/etc/herald/tables.json");
    const struct hd_channel_provider *outbox = hd_channel_provider_find("outbox");
    struct hd_conf *oc = hd_conf_load("outbox", outbox->config, &c, err, sizeof(err));
    cr_assert_not_null(oc, "%s", err);
    cr_expect_str_eq(hd_conf_str(oc, "dir"), "/tmp/outbox");
    hd_conf_destroy(oc);
    cr_expect_str_eq(c.instance_id, "herald-7");
    cr_expect_str_eq(c.app_id, "herald-staging");
    cr_expect_eq(c.partitions, 12);
    cr_expect_eq(c.replication, 3);
    cr_expect_eq(c.batch_max, 500);
    cr_expect_eq(c.batch_wait_ms, 0);
    cr_expect_eq(c.txn_timeout_ms, 60000);
    hd_config_clear(&c);
}

Test(config, strings_are_copies_not_the_environment, .init = clean_env)
{
    setenv("HERALD_BROKERS", "kafka-1:9092", 1);
    struct hd_config c;
    char err[256] = "";
    cr_assert_eq(hd_config_from_env(&c, err, sizeof(err)), 0, "%s", err);
    setenv("HERALD_BROKERS", "changed:1", 1);
    cr_expect_str_eq(c.brokers, "kafka-1:9092");
    cr_expect_neq(c.brokers, getenv("HERALD_BROKERS"));
    hd_config_clear(&c);
}

Test(config, empty_variables_count_as_unset, .init = clean_env)
{
    setenv("HERALD_BROKERS", "", 1);
    setenv("HERALD_STATE_DIR", "", 1);
    setenv("HERALD_PARTITIONS", "", 1);
    struct hd_config c;
    char err[256] = "";
    cr_assert_eq(hd_config_from_env(&c, err, sizeof(err)), 0, "%s", err);
    cr_expect_null(c.brokers);
    cr_expect_str_eq(c.state_dir, "./herald-state");
    cr_expect_eq(c.partitions, 6);
    hd_config_clear(&c);
}

Test(config, partitions_at_the_bounds_are_accepted, .init = clean_env)
{
    static const struct {
        const char *value;
        int want;
    } ok[] = {{"1", 1}, {"10000", 10000}, {"64", 64}};
    for (size_t i = 0; i < HD_ARRAY_SIZE(ok); i++) {
        setenv("HERALD_PARTITIONS", ok[i].value, 1);
        struct hd_config c;
        char err[256] = "";
        cr_expect_eq(hd_config_from_env(&c, err, sizeof(err)), 0, "HERALD_PARTITIONS=%s: %s",
                     ok[i].value, err);
        cr_expect_eq(c.partitions, ok[i].want, "HERALD_PARTITIONS=%s", ok[i].value);
        hd_config_clear(&c);
    }
}

Test(config, invalid_partitions_is_an_error_naming_the_variable, .init = clean_env)
{
    static const char *const bad[] = {"abc", "0", "-1", "6x", "1.5", "10001",
                                      "99999999999999999999", " "};
    for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++) {
        setenv("HERALD_PARTITIONS", bad[i], 1);
        struct hd_config c;
        char err[256] = "";
        int rc = hd_config_from_env(&c, err, sizeof(err));
        cr_expect_eq(rc, -1, "HERALD_PARTITIONS=\"%s\" was accepted", bad[i]);
        cr_expect(strstr(err, "HERALD_PARTITIONS") != NULL, "\"%s\": error \"%s\"", bad[i], err);
        /* a failed load leaves nothing allocated */
        cr_expect_null(c.state_dir, "\"%s\": state_dir not cleared", bad[i]);
        cr_expect_null(c.app_id, "\"%s\": app_id not cleared", bad[i]);
        if (rc == 0)
            hd_config_clear(&c);
    }
}

Test(config, other_out_of_range_integers_name_their_variable, .init = clean_env)
{
    static const struct {
        const char *name;
        const char *value;
    } bad[] = {
        {"HERALD_REPLICATION", "0"},      {"HERALD_REPLICATION", "17"},
        {"HERALD_BATCH_MAX", "0"},        {"HERALD_BATCH_WAIT_MS", "-5"},
        {"HERALD_BATCH_WAIT_MS", "60001"}, {"HERALD_TXN_TIMEOUT_MS", "999"},
        {"HERALD_TXN_TIMEOUT_MS", "ten"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++) {
        clean_env();
        setenv(bad[i].name, bad[i].value, 1);
        struct hd_config c;
        char err[256] = "";
        int rc = hd_config_from_env(&c, err, sizeof(err));
        cr_expect_eq(rc, -1, "%s=%s was accepted", bad[i].name, bad[i].value);
        cr_expect(strstr(err, bad[i].name) != NULL, "%s=%s: error \"%s\"", bad[i].name,
                  bad[i].value, err);
        if (rc == 0)
            hd_config_clear(&c);
    }
}

Test(config, error_without_a_buffer_is_still_reported, .init = clean_env)
{
    setenv("HERALD_PARTITIONS", "abc", 1);
    struct hd_config c;
    int rc = hd_config_from_env(&c, NULL, 0);
    if (rc == 0)
        hd_config_clear(&c);
    cr_assert_eq(rc, -1);
}

Test(config, set_replaces_a_string_field, .init = clean_env)
{
    struct hd_config c;
    char err[256] = "";
    cr_assert_eq(hd_config_from_env(&c, err, sizeof(err)), 0, "%s", err);
    char value[] = "/srv/state";
    hd_config_set(&c.state_dir, value);
    value[1] = 'X';
    cr_expect_str_eq(c.state_dir, "/srv/state", "set must copy the value");
    hd_config_set(&c.brokers, "b:9092");
    cr_expect_str_eq(c.brokers, "b:9092");
    hd_config_set(&c.brokers, NULL);
    cr_expect_null(c.brokers);
    hd_config_clear(&c);
}

Test(config, clear_nulls_every_string_and_accepts_null, .init = clean_env)
{
    setenv("HERALD_BROKERS", "k:9092", 1);
    struct hd_config c;
    char err[256] = "";
    cr_assert_eq(hd_config_from_env(&c, err, sizeof(err)), 0, "%s", err);
    hd_config_clear(&c);
    cr_expect_null(c.brokers);
    cr_expect_null(c.state_dir);
    cr_expect_null(c.instance_id);
    cr_expect_null(c.app_id);
    hd_config_clear(&c); /* twice is fine */
    hd_config_clear(NULL);
}
