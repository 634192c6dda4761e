/*
 * Unit tests for the read model without a database: the embedded migrations
 * (numbering, idempotent statements, row-level security on every tenant
 * table), the error paths of connectors/pg.c, and the record rules of
 * materializer/materializer.c (status rank, UTF-8 and range checks, the jsonb
 * data). The database itself is exercised by tests/integration/test_materializer.sh.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/pg.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/embed.h"
#include "materializer/materializer.h"
#include "materializer/materializer_int.h"
#include "schemas/records.h"

/* A server that cannot answer: a socket directory that does not exist. */
#define NO_SERVER "host=/nonexistent/herald-test port=1 connect_timeout=2"

/* All migrations as one lowercase text, for statement-level checks. */
static char *all_sql_lower(void)
{
    struct hd_buf b = HD_BUF_INIT;
    for (size_t i = 0; i < hd_embedded_sql_cnt; i++) {
        hd_buf_append(&b, hd_embedded_sql[i].data, hd_embedded_sql[i].len);
        hd_buf_putc(&b, '\n');
    }
    for (size_t i = 0; i < b.len; i++)
        b.data[i] = (char)tolower((unsigned char)b.data[i]);
    return hd_buf_steal(&b);
}

/* Every match of `pattern` (one capture group) in `text`, as a NULL-terminated list. */
static char **captures(const char *text, const char *pattern)
{
    regex_t re;
    cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED), 0, "bad regex %s", pattern);
    char **out = calloc(64, sizeof(*out));
    size_t n = 0;
    regmatch_t m[2];
    for (const char *p = text; n < 63 && regexec(&re, p, 2, m, 0) == 0; p += m[0].rm_eo)
        out[n++] = strndup(p + m[1].rm_so, (size_t)(m[1].rm_eo - m[1].rm_so));
    regfree(&re);
    return out;
}

static void captures_free(char **c)
{
    for (size_t i = 0; c[i]; i++)
        free(c[i]);
    free(c);
}

Test(pg, migrations_are_numbered_strictly_increasing_and_sorted)
{
    cr_assert_gt(hd_embedded_sql_cnt, 0);
    int prev = 0;
    for (size_t i = 0; i < hd_embedded_sql_cnt; i++) {
        const char *name = hd_embedded_sql[i].name;
        char *end;
        long v = strtol(name, &end, 10);
        cr_assert(end != name && *end == '_', "%s: name must be NNNN_name.sql", name);
        cr_assert_str_eq(name + strlen(name) - 4, ".sql", "%s: must end in .sql", name);
        cr_assert_gt(v, prev, "%s: version must be above the previous one", name);
        cr_assert_eq(strlen(hd_embedded_sql[i].data ? (const char *)hd_embedded_sql[i].data : ""),
                     hd_embedded_sql[i].len, "%s: embedded length", name);
        prev = (int)v;
    }
}

static size_t count(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

Test(pg, migrations_create_only_if_missing_and_never_control_transactions)
{
    char *sql = all_sql_lower();
    cr_assert_gt(count(sql, "create table "), 0);
    cr_assert_eq(count(sql, "create table "), count(sql, "create table if not exists "),
                 "every CREATE TABLE must be IF NOT EXISTS");
    cr_assert_gt(count(sql, "create index "), 0);
    cr_assert_eq(count(sql, "create index "), count(sql, "create index if not exists "),
                 "every CREATE INDEX must be IF NOT EXISTS");
    cr_assert_eq(count(sql, "create unique index "), 0, "use a constraint or IF NOT EXISTS");
    cr_assert_eq(count(sql, "create policy "), count(sql, "drop policy if exists "),
                 "every policy is dropped before it is created");
    cr_assert_null(strstr(sql, "commit;"), "migrations run in the runner's transaction");
    cr_assert_null(strstr(sql, "begin;"), "migrations run in the runner's transaction");
    cr_assert_null(strstr(sql, "concurrently"), "cannot run inside a transaction");
    free(sql);
}

Test(pg, every_tenant_table_has_row_level_security_and_a_replaced_policy)
{
    char *sql = all_sql_lower();
    /* Tables with a tenant_id column: the name, then the body up to the closing ");". */
    char **bodies = captures(sql, "create table if not exists ([a-z_]+ \\([^;]*)\\);");
    size_t tenant_tables = 0;
    for (size_t i = 0; bodies[i]; i++) {
        char name[64];
        cr_assert_eq(sscanf(bodies[i], "%63[a-z_]", name), 1);
        if (!strstr(bodies[i], "tenant_id ") || strcmp(name, "consumer_offsets") == 0)
            continue;
        tenant_tables++;
        char want[256];
        snprintf(want, sizeof(want), "alter table %s enable row level security", name);
        cr_assert_not_null(strstr(sql, want), "%s: row-level security not enabled", name);
        snprintf(want, sizeof(want), "drop policy if exists tenant_isolation on %s;", name);
        cr_assert_not_null(strstr(sql, want), "%s: policy not replaced idempotently", name);
        snprintf(want, sizeof(want), "create policy tenant_isolation on %s to herald_api\n"
                 "    using (tenant_id = current_setting('herald.tenant_id', true))\n"
                 "    with check (tenant_id = current_setting('herald.tenant_id', true))", name);
        cr_assert_not_null(strstr(sql, want), "%s: policy must compare tenant_id", name);
    }
    cr_assert_geq(tenant_tables, 3, "tenants, notifications, notification_events");
    cr_assert_not_null(strstr(sql, "create role herald_api nologin"));
    captures_free(bodies);
    free(sql);
}

Test(pg, pool_without_connection_string_is_an_error)
{
    char err[256] = "";
    cr_assert_null(hd_pg_pool_new(NULL, 2, err, sizeof(err)));
    cr_assert_not_null(strstr(err, "HERALD_PG"), "%s", err);
    cr_assert_eq(hd_pg_migrate("", err, sizeof(err)), -1);
    cr_assert_not_null(strstr(err, "HERALD_PG"), "%s", err);
}

Test(pg, pool_and_migrate_report_an_unreachable_server_on_one_line)
{
    char err[512] = "";
    cr_assert_null(hd_pg_pool_new(NO_SERVER, 2, err, sizeof(err)));
    cr_assert_eq(strncmp(err, "pg: connect: ", 13), 0, "%s", err);
    cr_assert_null(strchr(err, '\n'), "one line: %s", err);
    err[0] = '\0';
    cr_assert_eq(hd_pg_migrate(NO_SERVER, err, sizeof(err)), -1);
    cr_assert_eq(strncmp(err, "pg: connect: ", 13), 0, "%s", err);
}

Test(pg, calls_without_a_connection_fail_and_null_is_accepted)
{
    char err[256] = "";
    cr_assert_eq(hd_pg_exec(NULL, "SELECT 1", err, sizeof(err)), -1);
    cr_assert_eq(hd_pg_commit(NULL, err, sizeof(err)), -1);
    cr_assert_eq(hd_pg_begin_tenant(NULL, "t1", err, sizeof(err)), -1);
    hd_pg_rollback(NULL);
    hd_pg_pool_put(NULL, NULL, 0);
    hd_pg_pool_destroy(NULL);
}

Test(pg, tenant_scope_needs_a_tenant)
{
    char err[256] = "";
    cr_assert_eq(hd_pg_begin_tenant(NULL, "", err, sizeof(err)), -1);
    cr_assert_not_null(strstr(err, "empty tenant"), "%s", err);
    cr_assert_eq(hd_pg_begin_tenant(NULL, NULL, err, sizeof(err)), -1);
}

Test(materializer, status_rank_orders_the_lifecycle_then_the_terminal_statuses)
{
    const enum hd_status order[] = {HD_ST_QUEUED, HD_ST_SCHEDULED, HD_ST_SENT,    HD_ST_DELIVERED,
                                    HD_ST_READ,   HD_ST_FAILED,    HD_ST_BOUNCED, HD_ST_SKIPPED};
    cr_assert_eq(HD_ARRAY_SIZE(order), HD_ST__CNT, "every status is ranked");
    for (size_t i = 0; i < HD_ARRAY_SIZE(order); i++) {
        cr_assert_gt(hd__mat_status_rank(order[i]), 0);
        if (i)
            cr_assert_gt(hd__mat_status_rank(order[i]), hd__mat_status_rank(order[i - 1]),
                         "status %zu must outrank %zu", i, i - 1);
    }
    /* A late QUEUED never replaces SENT; nothing replaces a terminal status but a later one. */
    cr_assert_lt(hd__mat_status_rank(HD_ST_QUEUED), hd__mat_status_rank(HD_ST_SENT));
    cr_assert_gt(hd__mat_status_rank(HD_ST_FAILED), hd__mat_status_rank(HD_ST_READ));
    cr_assert_eq(hd__mat_status_rank(-1), 0);
    cr_assert_eq(hd__mat_status_rank(HD_ST__CNT), 0);
}

Test(materializer, utf8_check_accepts_text_and_rejects_malformed_bytes)
{
    static const struct {
        const char *s;
        int ok;
    } cases[] = {
        {"", 1},
        {"plain ascii", 1},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x94", 1}, /* é € 🔔 */
        {"\xc3", 0},                                       /* truncated */
        {"\xc3\x28", 0},                                   /* bad continuation */
        {"\xc0\xaf", 0},                                   /* overlong '/' */
        {"\xe0\x80\xaf", 0},                               /* overlong, 3 bytes */
        {"\xed\xa0\x80", 0},                               /* UTF-16 surrogate */
        {"\xf4\x90\x80\x80", 0},                           /* above U+10FFFF */
        {"\xff", 0},
        {"ok then \x80", 0},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++)
        cr_assert_eq(hd__mat_utf8_valid(cases[i].s), cases[i].ok, "case %zu", i);
}

Test(materializer, data_map_becomes_a_json_object_with_every_pair)
{
    struct hd_kv items[] = {{"order", "A-1"}, {"quote\"d", "line\nbreak\\"}, {"e", "\xc3\xa9"}};
    struct hd_map m = {items, HD_ARRAY_SIZE(items)};
    struct hd_buf b = HD_BUF_INIT;
    hd__mat_data_json(&m, &b);
    json_error_t je;
    json_t *j = json_loads(b.data, 0, &je);
    cr_assert_not_null(j, "not JSON: %s (%s)", b.data, je.text);
    cr_assert_eq(json_object_size(j), 3);
    cr_assert_str_eq(json_string_value(json_object_get(j, "order")), "A-1");
    cr_assert_str_eq(json_string_value(json_object_get(j, "quote\"d")), "line\nbreak\\");
    cr_assert_str_eq(json_string_value(json_object_get(j, "e")), "\xc3\xa9");
    json_decref(j);
    struct hd_map empty = {NULL, 0};
    hd__mat_data_json(&empty, &b);
    cr_assert_str_eq(b.data, "{}");
    hd_buf_free(&b);
}

static struct hd_status_event good_event(void)
{
    struct hd_status_event e = {0};
    e.notification_id = "0f9c3c1e-0000-5000-8000-000000000001";
    e.request_id = "req-1";
    e.tenant_id = "acme";
    e.user_id = "u1";
    e.channel = HD_CH_EMAIL;
    e.status = HD_ST_SENT;
    e.occurred_at = 1700000000000;
    return e;
}

Test(materializer, status_event_check_rejects_missing_or_long_ids_bad_text_and_times)
{
    char err[256];
    struct hd_status_event e = good_event();
    cr_assert_eq(hd__mat_check_status_event(&e, err, sizeof(err)), 0);
    e.tenant_id = "";
    cr_assert_eq(hd__mat_check_status_event(&e, err, sizeof(err)), -1);
    e = good_event();
    e.notification_id = NULL;
    cr_assert_eq(hd__mat_check_status_event(&e, err, sizeof(err)), -1);
    e = good_event();
    e.occurred_at = -5;
    cr_assert_eq(hd__mat_check_status_event(&e, err, sizeof(err)), -1);
    e.occurred_at = INT64_MAX;
    cr_assert_eq(hd__mat_check_status_event(&e, err, sizeof(err)), -1);
    cr_assert_not_null(strstr(err, "out of range"), "%s", err);
    e = good_event();
    e.reason = "bad \xff byte";
    cr_assert_eq(hd__mat_check_status_event(&e, err, sizeof(err)), -1);
    cr_assert_null(strstr(err, "bad"), "errstr must not carry record content: %s", err);
    e = good_event();
    char long_id[300];
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    e.user_id = long_id; /* would overflow the inbox index entry */
    cr_assert_eq(hd__mat_check_status_event(&e, err, sizeof(err)), -1);
    e = good_event();
    e.batch_id = long_id;
    cr_assert_eq(hd__mat_check_status_event(&e, err, sizeof(err)), -1);
    e = good_event();
    e.status = (enum hd_status)HD_ST__CNT;
    cr_assert_eq(hd__mat_check_status_event(&e, err, sizeof(err)), -1);
}

Test(materializer, inbox_item_check_looks_inside_the_data_map)
{
    char err[256];
    struct hd_kv items[] = {{"k", "fine"}, {"k2", "\xc3"}};
    struct hd_inbox_item it = {0};
    it.notification_id = "n1";
    it.request_id = "r1";
    it.tenant_id = "acme";
    it.user_id = "u1";
    it.title = "Hello";
    it.created_at = 1700000000000;
    it.data.items = items;
    it.data.cnt = 1;
    cr_assert_eq(hd__mat_check_inbox_item(&it, err, sizeof(err)), 0);
    it.data.cnt = 2;
    cr_assert_eq(hd__mat_check_inbox_item(&it, err, sizeof(err)), -1);
    it.data.cnt = 1;
    it.user_id = NULL;
    cr_assert_eq(hd__mat_check_inbox_item(&it, err, sizeof(err)), -1);
}

Test(materializer, needs_a_database)
{
    struct hd_config c = {0};
    c.app_id = "herald";
    c.brokers = "127.0.0.1:1";
    char err[256] = "";
    cr_assert_null(hd_materializer_new(&c, err, sizeof(err)));
    cr_assert_not_null(strstr(err, "HERALD_PG"), "%s", err);
    c.pg = NO_SERVER;
    cr_assert_null(hd_materializer_new(&c, err, sizeof(err)));
    cr_assert_not_null(strstr(err, "pg: connect"), "%s", err);
    hd_materializer_destroy(NULL);
}
