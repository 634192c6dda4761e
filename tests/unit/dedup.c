/*
 * dedup's decision (processors/dedup.c through dedup_int.h) on a real state
 * store: the per-channel windows and a tenant's override, the key derived
 * from a request without an idempotency key, the given key winning over
 * content, the first notification (and its request) a duplicate is reported
 * against, the stored DedupEntry, and values from before DedupEntry.
 * The same behaviour through the task loop and a changelog restore is in
 * tests/unit/runtime.c.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/hd.h"
#include "core/uuid.h"
#include "core/confmap.h"
#include "processors/dedup_int.h"
#include "processors/registry.h"
#include "schemas/serde.h"
#include "state/store.h"
#include "tables/tables.h"

#define NOW INT64_C(1700000000000)
#define HOUR INT64_C(3600000)

static char dir[64];
static char path[160];
static char err[512];
static struct hd_store *s;
static struct hd_buf key = HD_BUF_INIT, val = HD_BUF_INIT, req = HD_BUF_INIT;
static struct hd_serde *sd;

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/hd-dedup-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/dedup-0", dir);
    s = hd_store_open(path, err, sizeof(err));
    cr_assert_not_null(s, "open: %s", err);
    sd = hd_serde_new(err, sizeof(err));
    cr_assert_not_null(sd, "serde: %s", err);
}

static void teardown(void)
{
    hd_store_close(s);
    s = NULL;
    hd_buf_free(&key);
    hd_buf_free(&val);
    hd_buf_free(&req);
    hd_serde_destroy(sd);
    cr_assert_eq(hd_store_wipe(dir, err, sizeof(err)), 0, "wipe: %s", err);
}

static enum hd_channel channels[1];
static struct hd_content content;

/* A keyless IN_APP request of tenant t, user u, with the given variables. */
static struct hd_request request(const char *request_id, const char *vars)
{
    struct hd_request r;
    memset(&r, 0, sizeof(r));
    channels[0] = HD_CH_IN_APP;
    content.title = "Hi";
    content.text = "hello";
    r.request_id = (char *)request_id;
    r.tenant_id = "t";
    r.user_id = "u";
    r.channels = channels;
    r.channel_cnt = 1;
    r.content = &content;
    r.variables_json = (char *)vars;
    return r;
}

static int seen(const struct hd_tenant *tn, const struct hd_request *r, enum hd_channel ch,
                int64_t now)
{
    int rc = hd__dedup_seen(s, sd, tn, NULL, r, ch, now, &key, &val, &req, err, sizeof(err));
    cr_assert_geq(rc, 0, "dedup: %s", err);
    return rc;
}

static void first_id(const char *request_id, enum hd_channel ch, char out[HD_UUID_STRLEN])
{
    hd_notification_id(request_id, hd_channel_name(ch), out);
}

/* The reason of the duplicate seen last (val and req as seen() left them). */
static void expect_reason(const char *want)
{
    char reason[256];
    hd__dedup_reason(reason, sizeof(reason), val.data, req.data);
    cr_expect_str_eq(reason, want);
}

TestSuite(dedup, .init = setup, .fini = teardown);

Test(dedup, default_windows_are_email_24h_push_1h_in_app_7d_others_24h)
{
    cr_expect_eq(hd__dedup_ttl_ms(NULL, NULL, HD_CH_EMAIL), 24 * HOUR);
    cr_expect_eq(hd__dedup_ttl_ms(NULL, NULL, HD_CH_PUSH), 1 * HOUR);
    cr_expect_eq(hd__dedup_ttl_ms(NULL, NULL, HD_CH_IN_APP), 7 * 24 * HOUR);
    const enum hd_channel others[] = {HD_CH_SMS, HD_CH_WHATSAPP, HD_CH_CHAT, HD_CH_WEBHOOK};
    for (size_t i = 0; i < HD_ARRAY_SIZE(others); i++)
        cr_expect_eq(hd__dedup_ttl_ms(NULL, NULL, others[i]), 24 * HOUR, "%s",
                     hd_channel_name(others[i]));
}

Test(dedup, a_tenant_override_replaces_only_its_channels_window)
{
    struct hd_tables *t = hd_tables_parse(
        "{\"tenants\": [{\"tenant_id\": \"t\", \"dedup_ttl_ms\": {\"EMAIL\": 60000}},"
        " {\"tenant_id\": \"plain\"}]}",
        err, sizeof(err));
    cr_assert_not_null(t, "%s", err);
    const struct hd_tenant *tn = hd_tables_tenant(t, "t");
    cr_assert_not_null(tn);
    cr_expect_eq(hd__dedup_ttl_ms(tn, NULL, HD_CH_EMAIL), 60000);
    cr_expect_eq(hd__dedup_ttl_ms(tn, NULL, HD_CH_PUSH), 1 * HOUR,
                 "other channels keep the default");
    cr_expect_eq(hd__dedup_ttl_ms(hd_tables_tenant(t, "plain"), NULL, HD_CH_EMAIL), 24 * HOUR);
    /* the process's windows (dedup.window_ms.<channel>) stand between the two */
    int64_t window[HD_CH__CNT] = {[HD_CH_EMAIL] = 5000, [HD_CH_PUSH] = 7000};
    cr_expect_eq(hd__dedup_ttl_ms(tn, window, HD_CH_EMAIL), 60000, "the tenant wins");
    cr_expect_eq(hd__dedup_ttl_ms(tn, window, HD_CH_PUSH), 7000);
    cr_expect_eq(hd__dedup_ttl_ms(hd_tables_tenant(t, "plain"), window, HD_CH_EMAIL), 5000);
    cr_expect_eq(hd__dedup_ttl_ms(NULL, window, HD_CH_SMS), 24 * HOUR, "unset: built in");
    hd_tables_destroy(t);
}

Test(dedup, its_settings_cover_every_channel_and_name_the_tenant_field)
{
    const struct hd_processor *p = hd_processor_find("dedup");
    cr_assert_not_null(p);
    struct hd_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    hd_config_plugin_set(&cfg, "dedup.window_ms.push", "120000");
    struct hd_conf *c = hd_conf_load("dedup", p->config, &cfg, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    cr_expect_eq(hd_conf_int(c, "window_ms.push"), 120000);
    cr_expect_eq(hd_conf_int(c, "window_ms.in_app"), 7 * 24 * HOUR, "the built-in default");
    cr_expect_eq(hd_conf_int(c, "window_ms.email"), 24 * HOUR);
    size_t n = 0;
    for (const struct hd_conf_entry *e = p->config; e->key; e++, n++)
        cr_expect(e->tenant && !strncmp(e->tenant, "dedup_ttl_ms.", 13), "%s", e->key);
    cr_expect_eq(n, HD_CH__CNT, "one window per channel");
    /* init reads every channel's window (a missing key would abort) */
    void *self = NULL;
    struct hd_task_env env = {.config = &cfg, .conf = c};
    cr_assert_eq(p->init(&self, &env, err, sizeof(err)), 0, "%s", err);
    p->exit(self);
    hd_conf_destroy(c);
    hd_config_clear(&cfg);
    /* a window out of its bounds is refused naming it */
    memset(&cfg, 0, sizeof(cfg));
    hd_config_plugin_set(&cfg, "dedup.window_ms.sms", "10");
    cr_expect_null(hd_conf_load("dedup", p->config, &cfg, err, sizeof(err)));
    cr_expect(strstr(err, "dedup.window_ms.sms"), "%s", err);
    hd_config_clear(&cfg);
}

Test(dedup, second_request_inside_the_window_is_a_duplicate_of_the_first)
{
    struct hd_request a = request("req-a", "{\"x\": 1}");
    struct hd_request b = request("req-b", "{\"x\": 1}"); /* no idempotency key, same content */
    char nid[HD_UUID_STRLEN];
    first_id("req-a", HD_CH_IN_APP, nid);
    cr_expect_eq(seen(NULL, &a, HD_CH_IN_APP, NOW), 0);
    cr_assert_eq(seen(NULL, &b, HD_CH_IN_APP, NOW + 1), 1, "identical keyless request");
    cr_expect_str_eq(val.data, nid, "the duplicate names the first notification id");
    cr_expect_str_eq(req.data, "req-a", "and its request");
    char want[160];
    snprintf(want, sizeof(want), "duplicate of notification %s (request req-a)", nid);
    expect_reason(want);
}

Test(dedup, a_different_variable_is_not_a_duplicate)
{
    struct hd_request a = request("req-a", "{\"x\": 1}");
    struct hd_request b = request("req-b", "{\"x\": 2}");
    cr_expect_eq(seen(NULL, &a, HD_CH_IN_APP, NOW), 0);
    cr_expect_eq(seen(NULL, &b, HD_CH_IN_APP, NOW), 0);
    struct hd_buf ka = HD_BUF_INIT;
    hd__dedup_key(&a, HD_CH_IN_APP, &ka);
    hd__dedup_key(&b, HD_CH_IN_APP, &key);
    cr_expect(ka.len != key.len || memcmp(ka.data, key.data, ka.len), "keys must differ");
    hd_buf_free(&ka);
}

Test(dedup, the_derived_key_covers_user_template_content_and_channel)
{
    struct hd_request a = request("req-a", "{}");
    struct hd_buf ka = HD_BUF_INIT;
    hd__dedup_key(&a, HD_CH_IN_APP, &ka);
    struct hd_request b = request("req-b", "{}");
    hd__dedup_key(&b, HD_CH_IN_APP, &key);
    cr_expect(ka.len == key.len && !memcmp(ka.data, key.data, ka.len),
              "the request id is not part of the derived key");
    hd__dedup_key(&a, HD_CH_EMAIL, &key);
    cr_expect(ka.len != key.len || memcmp(ka.data, key.data, ka.len), "channel");
    b.user_id = "v";
    hd__dedup_key(&b, HD_CH_IN_APP, &key);
    cr_expect(ka.len != key.len || memcmp(ka.data, key.data, ka.len), "user");
    b = request("req-b", "{}");
    struct hd_template_ref tr = {"welcome", 0, 0, NULL};
    b.template_ref = &tr;
    hd__dedup_key(&b, HD_CH_IN_APP, &key);
    cr_expect(ka.len != key.len || memcmp(ka.data, key.data, ka.len), "template");
    b = request("req-b", "{}");
    struct hd_content other = {NULL, "bye", NULL, "Hi", {NULL, 0}};
    b.content = &other;
    hd__dedup_key(&b, HD_CH_IN_APP, &key);
    cr_expect(ka.len != key.len || memcmp(ka.data, key.data, ka.len), "content");
    hd_buf_free(&ka);
}

Test(dedup, a_given_idempotency_key_wins_over_content_within_its_tenant)
{
    struct hd_request a = request("req-a", "{\"x\": 1}");
    struct hd_request b = request("req-b", "{\"x\": 2}");
    a.idempotency_key = b.idempotency_key = "order-42";
    char nid[HD_UUID_STRLEN];
    first_id("req-a", HD_CH_IN_APP, nid);
    cr_expect_eq(seen(NULL, &a, HD_CH_IN_APP, NOW), 0);
    cr_assert_eq(seen(NULL, &b, HD_CH_IN_APP, NOW), 1, "same key, other content");
    cr_expect_str_eq(val.data, nid);
    struct hd_request c = request("req-c", "{\"x\": 1}");
    c.idempotency_key = "order-42";
    c.tenant_id = "other";
    cr_expect_eq(seen(NULL, &c, HD_CH_IN_APP, NOW), 0, "another tenant's key is its own");
    cr_expect_eq(seen(NULL, &a, HD_CH_EMAIL, NOW), 0, "each channel has its own entry");
}

Test(dedup, a_repeat_after_the_window_is_new_again)
{
    struct hd_request a = request("req-a", "{}");
    struct hd_request b = request("req-b", "{}");
    cr_expect_eq(seen(NULL, &a, HD_CH_PUSH, NOW), 0);
    cr_expect_eq(seen(NULL, &b, HD_CH_PUSH, NOW + 1 * HOUR - 1), 1, "inside PUSH's hour");
    cr_expect_eq(seen(NULL, &b, HD_CH_PUSH, NOW + 1 * HOUR), 0, "past it");
}

Test(dedup, a_tenant_window_applies_to_the_decision)
{
    struct hd_tables *t = hd_tables_parse(
        "{\"tenants\": [{\"tenant_id\": \"t\", \"dedup_ttl_ms\": {\"IN_APP\": 5000}}]}", err,
        sizeof(err));
    cr_assert_not_null(t, "%s", err);
    const struct hd_tenant *tn = hd_tables_tenant(t, "t");
    struct hd_request a = request("req-a", "{}");
    struct hd_request b = request("req-b", "{}");
    cr_expect_eq(seen(tn, &a, HD_CH_IN_APP, NOW), 0);
    cr_expect_eq(seen(tn, &b, HD_CH_IN_APP, NOW + 4999), 1);
    cr_expect_eq(seen(tn, &b, HD_CH_IN_APP, NOW + 5000), 0, "not the 7-day default");
    hd_tables_destroy(t);
}

Test(dedup, a_first_request_whose_transaction_aborts_leaves_no_entry)
{
    struct hd_request a = request("req-a", "{}");
    struct hd_request b = request("req-b", "{}");
    cr_expect_eq(seen(NULL, &a, HD_CH_IN_APP, NOW), 0);
    hd_store_abort(s);
    cr_expect_eq(seen(NULL, &b, HD_CH_IN_APP, NOW), 0, "the aborted first one never counted");
    cr_assert_eq(hd_store_commit(s, 1, err, sizeof(err)), 0, "%s", err);
    char nid[HD_UUID_STRLEN];
    first_id("req-b", HD_CH_IN_APP, nid);
    cr_assert_eq(seen(NULL, &a, HD_CH_IN_APP, NOW), 1);
    cr_expect_str_eq(val.data, nid, "committed: the first is now req-b");
}

/* The stored value is a DedupEntry record: what the changelog carries, and what a
 * restored store reads back. */
Test(dedup, the_first_sighting_is_stored_as_a_dedup_entry)
{
    struct hd_request a = request("req-a", "{}");
    cr_expect_eq(seen(NULL, &a, HD_CH_EMAIL, NOW), 0);
    struct hd_buf raw = HD_BUF_INIT;
    cr_assert_eq(hd_store_get(s, key.data, key.len, NOW, &raw, err, sizeof(err)), 1, "%s", err);
    const struct hd_schema *got = hd_serde_peek(sd, raw.data, raw.len, err, sizeof(err));
    cr_assert_not_null(got, "%s", err);
    cr_expect_str_eq(hd_schema_name(got), "DedupEntry");
    json_t *j = hd_serde_decode_json(sd, raw.data, raw.len, NULL, err, sizeof(err));
    cr_assert_not_null(j, "%s", err);
    char nid[HD_UUID_STRLEN];
    first_id("req-a", HD_CH_EMAIL, nid);
    cr_expect_str_eq(json_string_value(json_object_get(j, "notification_id")), nid);
    cr_expect_str_eq(json_string_value(json_object_get(j, "request_id")), "req-a");
    cr_expect_eq(json_integer_value(json_object_get(j, "first_seen_at")), NOW);
    json_decref(j);
    hd_buf_free(&raw);
}

/* A value written before DedupEntry, the bare notification id, is still a duplicate;
 * its request is unknown, and the reason leaves it out. */
Test(dedup, a_bare_id_from_before_dedup_entry_is_still_a_duplicate)
{
    struct hd_request a = request("req-a", "{}");
    char nid[HD_UUID_STRLEN];
    first_id("req-a", HD_CH_IN_APP, nid);
    hd__dedup_key(&a, HD_CH_IN_APP, &key);
    cr_assert_eq(hd_store_put(s, key.data, key.len, nid, strlen(nid), NOW + HOUR, err,
                              sizeof(err)), 0, "%s", err);
    struct hd_request b = request("req-b", "{}");
    cr_assert_eq(seen(NULL, &b, HD_CH_IN_APP, NOW), 1);
    cr_expect_str_eq(val.data, nid);
    cr_expect_str_eq(req.data, "");
    char want[160];
    snprintf(want, sizeof(want), "duplicate of notification %s", nid);
    expect_reason(want);
}

/* Bytes that are neither: an error that says so (the task retries, then dead-letters
 * the request), never a guess. */
Test(dedup, a_value_that_is_neither_is_an_error)
{
    struct hd_request a = request("req-a", "{}");
    hd__dedup_key(&a, HD_CH_IN_APP, &key);
    cr_assert_eq(hd_store_put(s, key.data, key.len, "not an id", 9, NOW + HOUR, err,
                              sizeof(err)), 0, "%s", err);
    cr_expect_eq(hd__dedup_seen(s, sd, NULL, NULL, &a, HD_CH_IN_APP, NOW, &key, &val, &req,
                                err, sizeof(err)),
                 -1);
    cr_expect(strstr(err, "dedup value: store value is not a DedupEntry record") != NULL,
              "error: %s", err);
}
