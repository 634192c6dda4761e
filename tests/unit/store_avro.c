/*
 * Avro-typed store values (state/store_avro.c): a record put with a schema
 * comes back field for field, staged until commit and dropped by an abort; a
 * value of another schema, or bytes that are no Avro record at all, is an
 * error that says so; the changelog bytes restore into a store that reads the
 * same record. UserAction stands in for any Herald schema.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/hd.h"
#include "schemas/serde.h"
#include "state/store.h"
#include "state/store_avro.h"

#define NOW INT64_C(1700000000000)

static char dir[64];
static char path[160];
static char err[512];
static struct hd_store *s;
static struct hd_serde *sd;
static const struct hd_schema *action;

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/hd-store-avro-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/app/store-0", dir);
    s = hd_store_open(path, err, sizeof(err));
    cr_assert_not_null(s, "open: %s", err);
    sd = hd_serde_new(err, sizeof(err));
    cr_assert_not_null(sd, "serde: %s", err);
    action = hd_serde_schema(sd, "UserAction");
    cr_assert_not_null(action);
}

static void teardown(void)
{
    hd_store_close(s);
    s = NULL;
    hd_serde_destroy(sd);
    cr_assert_eq(hd_store_wipe(dir, err, sizeof(err)), 0, "wipe: %s", err);
}

static void set_str(avro_value_t *rec, const char *field, const char *v)
{
    avro_value_t f;
    cr_assert_eq(avro_value_get_by_name(rec, field, &f, NULL), 0, "%s", field);
    cr_assert_eq(avro_value_set_string(&f, v), 0, "%s", field);
}

/* Stages a UserAction READ of notification `nid` at `at` under key. */
static void put_action(const char *key, const char *nid, int64_t at, int64_t expires)
{
    avro_value_t *v = hd_serde_scratch_value(sd, action);
    avro_value_t f, branch;
    set_str(v, "action_id", "act-1");
    set_str(v, "tenant_id", "t");
    set_str(v, "user_id", "u");
    set_str(v, "notification_id", nid);
    cr_assert_eq(avro_value_get_by_name(v, "action", &f, NULL), 0);
    cr_assert_eq(avro_value_set_enum(&f, 0), 0); /* READ */
    cr_assert_eq(avro_value_get_by_name(v, "occurred_at", &f, NULL), 0);
    cr_assert_eq(avro_value_set_long(&f, at), 0);
    cr_assert_eq(avro_value_get_by_name(v, "request_id", &f, NULL), 0);
    cr_assert_eq(avro_value_set_branch(&f, 1, &branch), 0);
    cr_assert_eq(avro_value_set_string(&branch, "req-1"), 0);
    cr_assert_eq(avro_value_get_by_name(v, "channel", &f, NULL), 0);
    cr_assert_eq(avro_value_set_enum(&f, 6), 0); /* IN_APP */
    cr_assert_eq(hd_store_put_avro(s, sd, action, key, strlen(key), v, expires, err, sizeof(err)),
                 0, "put: %s", err);
}

/* Gets key as a UserAction: 1 with its notification_id and occurred_at, 0 if absent. */
static int get_action(const char *key, int64_t now, char *nid, size_t nid_size, int64_t *at)
{
    avro_value_t *v = NULL, f;
    int rc = hd_store_get_avro(s, sd, action, key, strlen(key), now, &v, err, sizeof(err));
    cr_assert_geq(rc, 0, "get: %s", err);
    if (rc == 0)
        return 0;
    const char *str;
    size_t len;
    cr_assert_eq(avro_value_get_by_name(v, "notification_id", &f, NULL), 0);
    cr_assert_eq(avro_value_get_string(&f, &str, &len), 0);
    snprintf(nid, nid_size, "%s", str);
    cr_assert_eq(avro_value_get_by_name(v, "occurred_at", &f, NULL), 0);
    cr_assert_eq(avro_value_get_long(&f, at), 0);
    return 1;
}

TestSuite(store_avro, .init = setup, .fini = teardown);

Test(store_avro, a_record_round_trips_field_for_field)
{
    put_action("k", "n-1", NOW - 5, 0);
    char nid[64];
    int64_t at = 0;
    cr_assert_eq(get_action("k", NOW, nid, sizeof(nid), &at), 1);
    cr_expect_str_eq(nid, "n-1");
    cr_expect_eq(at, NOW - 5);
    /* the union and enum fields too */
    avro_value_t *v = NULL, f, branch;
    cr_assert_eq(hd_store_get_avro(s, sd, action, "k", 1, NOW, &v, err, sizeof(err)), 1, "%s", err);
    int disc, sym;
    const char *rid;
    size_t len;
    cr_assert_eq(avro_value_get_by_name(v, "request_id", &f, NULL), 0);
    cr_assert_eq(avro_value_get_current_branch(&f, &branch), 0);
    cr_assert_eq(avro_value_get_discriminant(&f, &disc), 0);
    cr_expect_eq(disc, 1);
    cr_assert_eq(avro_value_get_string(&branch, &rid, &len), 0);
    cr_expect_str_eq(rid, "req-1");
    cr_assert_eq(avro_value_get_by_name(v, "channel", &f, NULL), 0);
    cr_assert_eq(avro_value_get_enum(&f, &sym), 0);
    cr_expect_eq(sym, 6);
}

Test(store_avro, a_missing_key_is_absent_not_an_error)
{
    avro_value_t *v = NULL;
    cr_expect_eq(hd_store_get_avro(s, sd, action, "none", 4, NOW, &v, err, sizeof(err)), 0);
    cr_expect_null(v);
}

Test(store_avro, the_stored_bytes_are_a_single_object_record_of_the_schema)
{
    put_action("k", "n-1", NOW, 0);
    struct hd_buf raw = HD_BUF_INIT;
    cr_assert_eq(hd_store_get(s, "k", 1, NOW, &raw, err, sizeof(err)), 1, "%s", err);
    const struct hd_schema *got = hd_serde_peek(sd, raw.data, raw.len, err, sizeof(err));
    cr_assert_not_null(got, "%s", err);
    cr_expect_str_eq(hd_schema_name(got), "UserAction");
    hd_buf_free(&raw);
}

Test(store_avro, staged_puts_are_read_before_commit_and_dropped_by_abort)
{
    char nid[64];
    int64_t at;
    put_action("k", "n-1", NOW, 0);
    cr_expect_eq(get_action("k", NOW, nid, sizeof(nid), &at), 1, "a staged put is visible");
    hd_store_abort(s);
    cr_expect_eq(get_action("k", NOW, nid, sizeof(nid), &at), 0, "an abort drops it");

    put_action("k", "n-2", NOW, 0);
    cr_assert_eq(hd_store_commit(s, 7, err, sizeof(err)), 0, "%s", err);
    put_action("k", "n-3", NOW, 0); /* staged over the committed one */
    cr_assert_eq(get_action("k", NOW, nid, sizeof(nid), &at), 1);
    cr_expect_str_eq(nid, "n-3");
    hd_store_abort(s);
    cr_assert_eq(get_action("k", NOW, nid, sizeof(nid), &at), 1);
    cr_expect_str_eq(nid, "n-2", "the committed record is back after the abort");

    hd_store_close(s);
    s = hd_store_open(path, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    cr_assert_eq(get_action("k", NOW, nid, sizeof(nid), &at), 1);
    cr_expect_str_eq(nid, "n-2", "the committed record survives a reopen");
}

Test(store_avro, an_expired_record_is_absent)
{
    char nid[64];
    int64_t at;
    put_action("k", "n-1", NOW, NOW + 1000);
    cr_expect_eq(get_action("k", NOW + 999, nid, sizeof(nid), &at), 1);
    cr_expect_eq(get_action("k", NOW + 1000, nid, sizeof(nid), &at), 0);
}

Test(store_avro, a_record_of_another_schema_is_an_error_naming_both)
{
    put_action("k", "n-1", NOW, 0);
    const struct hd_schema *status = hd_serde_schema(sd, "StatusEvent");
    cr_assert_not_null(status);
    avro_value_t *v = NULL;
    err[0] = '\0';
    cr_assert_eq(hd_store_get_avro(s, sd, status, "k", 1, NOW, &v, err, sizeof(err)), -1);
    cr_expect(strstr(err, "UserAction") && strstr(err, "expected StatusEvent"), "%s", err);
}

Test(store_avro, plain_bytes_are_an_error_not_a_misread)
{
    /* what a store written before typed values (dedup's plain notification id) holds */
    const char *plain = "3f1c2d9e-0000-5000-8000-000000000000";
    cr_assert_eq(hd_store_put(s, "k", 1, plain, strlen(plain), 0, err, sizeof(err)), 0, "%s",
                 err);
    avro_value_t *v = NULL;
    err[0] = '\0';
    cr_assert_eq(hd_store_get_avro(s, sd, action, "k", 1, NOW, &v, err, sizeof(err)), -1);
    cr_expect(strstr(err, "not a UserAction record") && strstr(err, "single-object"), "%s", err);
}

Test(store_avro, a_truncated_record_is_an_error)
{
    put_action("k", "n-1", NOW, 0);
    struct hd_buf raw = HD_BUF_INIT;
    cr_assert_eq(hd_store_get(s, "k", 1, NOW, &raw, err, sizeof(err)), 1, "%s", err);
    /* header intact, body cut in the middle of its strings */
    cr_assert_eq(hd_store_put(s, "k", 1, raw.data, 14, 0, err, sizeof(err)), 0, "%s", err);
    hd_buf_free(&raw);
    avro_value_t *v = NULL;
    err[0] = '\0';
    cr_assert_eq(hd_store_get_avro(s, sd, action, "k", 1, NOW, &v, err, sizeof(err)), -1);
    cr_expect(strstr(err, "UserAction"), "%s", err);
}

struct captured {
    struct hd_buf key, value;
    int n;
};

static void capture(void *opaque, struct hd_store *st, const void *key, size_t key_len,
                    const void *value, size_t value_len)
{
    struct captured *c = opaque;
    hd_buf_reset(&c->key);
    hd_buf_reset(&c->value);
    hd_buf_append(&c->key, key, key_len);
    hd_buf_append(&c->value, value, value_len);
    c->n++;
}

Test(store_avro, the_changelog_record_restores_a_readable_record)
{
    struct captured c = {HD_BUF_INIT, HD_BUF_INIT, 0};
    hd_store_set_change_cb(s, capture, &c);
    put_action("k", "n-9", NOW + 1, NOW + 60000);
    cr_assert_eq(c.n, 1);
    hd_store_abort(s);

    /* a fresh store restored from that one changelog record alone */
    hd_store_close(s);
    cr_assert_eq(hd_store_wipe(path, err, sizeof(err)), 0, "%s", err);
    s = hd_store_open(path, err, sizeof(err));
    cr_assert_not_null(s, "%s", err);
    cr_assert_eq(hd_store_restore_put(s, c.key.data, c.key.len, c.value.data, c.value.len, err,
                                      sizeof(err)),
                 0, "%s", err);
    cr_assert_eq(hd_store_restore_flush(s, 1, err, sizeof(err)), 0, "%s", err);
    char nid[64];
    int64_t at;
    cr_assert_eq(get_action("k", NOW, nid, sizeof(nid), &at), 1);
    cr_expect_str_eq(nid, "n-9");
    cr_expect_eq(at, NOW + 1);
    cr_expect_eq(get_action("k", NOW + 60000, nid, sizeof(nid), &at), 0, "the expiry came along");
    hd_buf_free(&c.key);
    hd_buf_free(&c.value);
}
