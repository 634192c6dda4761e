/*
 * The offline parts of the config topics (tables/topics.c, tables/publish.h): the kinds and
 * their topics and document lists, the record id of each kind of body (the key a body is
 * published under), and the checks `herald config` runs before it connects:
 * hd_tables_check_bodies (put's bodies), hd_tables_check_document (a config document, errors
 * naming the list, the index and the field) and hd_tables_load_json. No broker: the reader
 * thread and the publisher are covered by the integration tests.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/hd.h"
#include "schemas/records.h"
#include "schemas/serde.h"
#include "tables/publish.h"
#include "tables/tables.h"
#include "tables/topics.h"

#define FIXTURE HD_SOURCE_DIR "/tests/data/config/two_tenants.json"

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    cr_assert_not_null(j, "%s: %s", text, je.text);
    return j;
}

/* ---- kinds, topics and lists ------------------------------------------------------- */

Test(topics_reader, kinds_map_to_their_topic_and_document_list)
{
    static const struct {
        const char *kind, *topic, *list;
    } c[] = {
        {"tenant", "herald.tenants", "tenants"},
        {"rule", "herald.rules", "rules"},
        {"template", "herald.templates", "templates"},
    };
    cr_assert_eq(HD_TABLES_KINDS, 3);
    for (size_t i = 0; i < HD_ARRAY_SIZE(c); i++) {
        cr_expect_str_eq(hd_tables_kinds[i], c[i].kind, "kinds in document order");
        cr_expect_str_eq(hd_tables_topic(c[i].kind), c[i].topic);
        cr_expect_str_eq(hd_tables_list(c[i].kind), c[i].list);
    }
}

Test(topics_reader, unknown_kinds_have_no_topic_or_list)
{
    static const char *const bad[] = {"tenants", "Tenant", "RULE", "", "templat", "widget"};
    for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++) {
        cr_expect_null(hd_tables_topic(bad[i]), "\"%s\"", bad[i]);
        cr_expect_null(hd_tables_list(bad[i]), "\"%s\"", bad[i]);
    }
}

/* ---- record ids ---------------------------------------------------------------------- */

/* hd_tables_record_id of `body` as `kind`: 0 with tenant and id, or -1 with err. */
static int record_id(const char *kind, const char *body, char *tenant, char *id, char *err)
{
    json_t *j = parse(body);
    tenant[0] = id[0] = err[0] = '\0';
    int rc = hd_tables_record_id(kind, j, tenant, 64, id, 128, err, 256);
    json_decref(j);
    return rc;
}

Test(topics_reader, record_ids_of_each_kind)
{
    static const struct {
        const char *kind, *body, *tenant, *id;
    } c[] = {
        {"tenant", "{\"tenant_id\": \"acme\", \"name\": \"Acme\"}", "acme", "tenant"},
        {"rule", "{\"tenant_id\": \"acme\", \"id\": \"order-email\"}", "acme", "order-email"},
        {"template", "{\"tenant_id\": \"acme\", \"key\": \"welcome\", \"version\": 3}", "acme",
         "welcome/3"},
        {"template", "{\"tenant_id\": \"globex\", \"key\": \"welcome\", \"active_version\": 3}",
         "globex", "welcome/active"},
        /* a version document that also names an active version is still a version */
        {"template",
         "{\"tenant_id\": \"acme\", \"key\": \"k\", \"version\": 12, \"active_version\": 1}",
         "acme", "k/12"},
        /* a version that is not an integer does not make a version record */
        {"template",
         "{\"tenant_id\": \"acme\", \"key\": \"k\", \"version\": \"2\", \"active_version\": 1}",
         "acme", "k/active"},
        /* ids are keys only: whether a body checks is hd_tables_check's business */
        {"template", "{\"tenant_id\": \"acme\", \"key\": \"k\", \"version\": -1}", "acme",
         "k/-1"},
        {"rule", "{\"tenant_id\": \"a/b\", \"id\": \"c/d\"}", "a/b", "c/d"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(c); i++) {
        char tenant[64], id[128], err[256];
        cr_expect_eq(record_id(c[i].kind, c[i].body, tenant, id, err), 0, "%s: %s", c[i].body,
                     err);
        cr_expect_str_eq(tenant, c[i].tenant, "%s", c[i].body);
        cr_expect_str_eq(id, c[i].id, "%s", c[i].body);
    }
}

Test(topics_reader, record_id_errors_name_the_missing_field)
{
    static const struct {
        const char *kind, *body, *err;
    } c[] = {
        {"tenant", "{\"name\": \"Acme\"}", "tenant: tenant_id: required"},
        {"tenant", "{\"tenant_id\": \"\"}", "tenant: tenant_id: required"},
        {"tenant", "{\"tenant_id\": 7}", "tenant: tenant_id: required"},
        {"rule", "{\"id\": \"r\"}", "rule: tenant_id: required"},
        {"rule", "{\"tenant_id\": \"acme\"}", "rule: id: required"},
        {"rule", "{\"tenant_id\": \"acme\", \"id\": \"\"}", "rule: id: required"},
        {"rule", "{\"tenant_id\": \"acme\", \"id\": 4}", "rule: id: required"},
        {"template", "{\"key\": \"k\", \"version\": 1}", "template: tenant_id: required"},
        {"template", "{\"tenant_id\": \"acme\", \"version\": 1}", "template: key: required"},
        {"template", "{\"tenant_id\": \"acme\", \"key\": \"k\"}",
         "template: version (or active_version for a pointer): required"},
        {"template", "{\"tenant_id\": \"acme\", \"key\": \"k\", \"version\": 1.5}",
         "template: version (or active_version for a pointer): required"},
        {"widget", "{\"tenant_id\": \"acme\"}", "unknown config kind \"widget\""},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(c); i++) {
        char tenant[64], id[128], err[256];
        cr_expect_eq(record_id(c[i].kind, c[i].body, tenant, id, err), -1, "%s %s", c[i].kind,
                     c[i].body);
        cr_expect_str_eq(err, c[i].err, "%s %s", c[i].kind, c[i].body);
    }
}

Test(topics_reader, record_ids_are_cut_to_the_buffers)
{
    json_t *j = parse("{\"tenant_id\": \"acme-corporation\", \"key\": \"order_confirmation\","
                      " \"version\": 12345}");
    char tenant[5], id[10];
    memset(tenant, 'X', sizeof(tenant));
    memset(id, 'X', sizeof(id));
    cr_assert_eq(hd_tables_record_id("template", j, tenant, sizeof(tenant), id, sizeof(id),
                                     NULL, 0),
                 0);
    cr_expect_str_eq(tenant, "acme");
    cr_expect_str_eq(id, "order_con");
    /* an error without a buffer is still an error */
    json_t *bad = parse("{\"key\": \"k\"}");
    cr_expect_eq(hd_tables_record_id("template", bad, tenant, sizeof(tenant), id, sizeof(id),
                                     NULL, 0),
                 -1);
    json_decref(bad);
    json_decref(j);
}

/* ---- single bodies (hd_tables_check) ------------------------------------------------- */

Test(topics_reader, template_bodies_check_as_the_store_compiles_them)
{
    char err[512] = "";
    json_t *ok = parse("{\"tenant_id\": \"acme\", \"key\": \"k\", \"version\": 1, \"locales\":"
                       " {\"en\": {\"sms\": {\"text\": \"Hi {{name}}\"}}}}");
    cr_expect_eq(hd_tables_check("template", ok, err, sizeof(err)), 0, "%s", err);
    json_t *ptr = parse("{\"tenant_id\": \"acme\", \"key\": \"k\", \"active_version\": 4}");
    cr_expect_eq(hd_tables_check("template", ptr, err, sizeof(err)), 0, "%s", err);
    json_t *bad = parse("{\"tenant_id\": \"acme\", \"key\": \"k\", \"version\": 1, \"locales\":"
                        " {\"en\": {\"sms\": {\"text\": \"Hi {{#name}}\"}}}}");
    cr_expect_eq(hd_tables_check("template", bad, err, sizeof(err)), -1);
    cr_expect(!strncmp(err, "template: ", 10), "%s", err);
    cr_expect(strstr(err, "sms.text") && strstr(err, "line 1"), "%s", err);
    json_t *typo = parse("{\"tenant_id\": \"acme\", \"key\": \"k\", \"version\": 1, \"locales\":"
                         " {\"en\": {\"sms\": {\"txet\": \"Hi\"}}}}");
    cr_expect_eq(hd_tables_check("template", typo, err, sizeof(err)), -1, "a typo'd part");
    cr_expect(strstr(err, "txet"), "%s", err);
    json_decref(ok);
    json_decref(ptr);
    json_decref(bad);
    json_decref(typo);
}

Test(topics_reader, body_errors_drop_the_document_path)
{
    static const struct {
        const char *kind, *body, *err;
    } c[] = {
        {"tenant", "{\"tenant_id\": \"a\", \"dedup_ttl_ms\": {\"SMS\": 0}}",
         "tenant: dedup_ttl_ms.SMS: expected milliseconds > 0"},
        {"tenant", "{\"name\": \"A\"}", "tenant: tenant_id: required (a non-empty string)"},
        {"rule",
         "{\"tenant_id\": \"a\", \"event_type\": \"e\", \"channels\": [\"EMAIL\"]}",
         "rule: needs a template or a content"},
        {"rule",
         "{\"tenant_id\": \"a\", \"event_type\": \"e\", \"channels\": [\"EMAIL\"],"
         " \"content\": {\"text\": \"t\"}, \"when\": [{\"field\": \"x\", \"op\": \"like\","
         " \"value\": 1}]}",
         "rule: when[0].op: unknown operator \"like\""},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(c); i++) {
        char err[512] = "";
        json_t *j = parse(c[i].body);
        cr_expect_eq(hd_tables_check(c[i].kind, j, err, sizeof(err)), -1, "%s", c[i].body);
        cr_expect_str_eq(err, c[i].err);
        json_decref(j);
    }
}

/* ---- put's bodies ---------------------------------------------------------------------- */

#define RULE_OK(id)                                                                            \
    "{\"tenant_id\": \"acme\", \"id\": \"" id "\", \"event_type\": \"order.created\","        \
    " \"channels\": [\"EMAIL\"], \"content\": {\"text\": \"t\"}}"

Test(topics_reader, one_body_becomes_a_list_of_one)
{
    char err[512] = "";
    json_t *j = parse(RULE_OK("r1"));
    json_t *list = hd_tables_check_bodies("rule", j, "put.json", err, sizeof(err));
    cr_assert_not_null(list, "%s", err);
    cr_expect(json_is_array(list));
    cr_assert_eq(json_array_size(list), 1);
    cr_expect_eq(json_array_get(list, 0), j, "the body itself, not a copy");
    json_decref(list);
    json_decref(j);
}

Test(topics_reader, a_list_of_bodies_is_returned_as_it_is)
{
    char err[512] = "";
    json_t *j = parse("[" RULE_OK("r1") ", " RULE_OK("r2") "]");
    json_t *list = hd_tables_check_bodies("rule", j, "put.json", err, sizeof(err));
    cr_assert_not_null(list, "%s", err);
    cr_expect_eq(list, j, "a new reference to the same array");
    cr_expect_eq(json_array_size(list), 2);
    json_decref(list);
    json_decref(j);
    json_t *empty = parse("[]");
    list = hd_tables_check_bodies("tenant", empty, "-", err, sizeof(err));
    cr_expect_not_null(list, "nothing to check is no error");
    json_decref(list);
    json_decref(empty);
}

Test(topics_reader, a_bad_body_is_named_by_its_index_and_field)
{
    static const struct {
        const char *kind, *json, *err;
    } c[] = {
        {"rule", "[" RULE_OK("r1") ", 42]", "put.json[1]: not a JSON object"},
        {"rule", "\"rule\"", "put.json[0]: not a JSON object"},
        {"rule",
         "[" RULE_OK("r1") ", {\"tenant_id\": \"acme\", \"id\": \"r2\", \"event_type\": \"e\","
         " \"channels\": [\"FAX\"], \"content\": {\"text\": \"t\"}}]",
         "put.json[1]: rule: channels[0]: unknown channel \"FAX\""},
        /* checks as a table, but has no id to be published under */
        {"rule",
         "{\"tenant_id\": \"acme\", \"event_type\": \"e\", \"channels\": [\"SMS\"],"
         " \"content\": {\"text\": \"t\"}}",
         "put.json[0]: rule: id: required"},
        {"tenant", "[{\"tenant_id\": \"a\"}, {\"tenant_id\": \"\"}]",
         "put.json[1]: tenant: tenant_id: required (a non-empty string)"},
        {"template", "{\"tenant_id\": \"acme\", \"key\": \"k\", \"locales\": {}}",
         "put.json[0]: template: "},
        {"widget", RULE_OK("r1"), "put.json[0]: unknown config kind \"widget\""},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(c); i++) {
        char err[512] = "";
        json_t *j = parse(c[i].json);
        json_t *list = hd_tables_check_bodies(c[i].kind, j, "put.json", err, sizeof(err));
        cr_expect_null(list, "case %zu passed", i);
        json_decref(list);
        cr_expect(!strncmp(err, c[i].err, strlen(c[i].err)), "case %zu: \"%s\", want \"%s\"", i,
                  err, c[i].err);
        json_decref(j);
    }
}

/* ---- documents ------------------------------------------------------------------------- */

/* hd_tables_check_document on `text` as file "cfg.json": its return, err in err. */
static int check_doc(const char *text, char *err, size_t n)
{
    json_t *doc = parse(text);
    err[0] = '\0';
    int rc = hd_tables_check_document(doc, "cfg.json", err, n);
    json_decref(doc);
    return rc;
}

Test(topics_reader, the_fixture_and_an_empty_document_check)
{
    char err[512] = "";
    json_t *doc = hd_tables_load_json(FIXTURE, err, sizeof(err));
    cr_assert_not_null(doc, "%s", err);
    cr_expect_eq(hd_tables_check_document(doc, FIXTURE, err, sizeof(err)), 0, "%s", err);
    json_decref(doc);
    cr_expect_eq(check_doc("{}", err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(check_doc("{\"tenants\": [], \"rules\": [], \"templates\": []}", err,
                           sizeof(err)),
                 0, "%s", err);
    cr_expect_eq(check_doc("{\"tenants\": [{\"tenant_id\": \"acme\"}], \"rules\": [" RULE_OK("r")
                           "], \"templates\": [{\"tenant_id\": \"acme\", \"key\": \"k\","
                           " \"version\": 1, \"locales\": {\"en\": {\"sms\": {\"text\": \"x\"}}}},"
                           " {\"tenant_id\": \"acme\", \"key\": \"k\", \"active_version\": 1}]}",
                           err, sizeof(err)),
                 0, "%s", err);
}

Test(topics_reader, document_errors_name_the_list_the_index_and_the_field)
{
    static const struct {
        const char *name, *json, *err;
    } c[] = {
        {"not an object", "[]", "cfg.json: a config document is a JSON object"},
        {"a singular list name", "{\"tenant\": []}",
         "cfg.json: unknown member \"tenant\" (tenants, rules, templates)"},
        {"a list that is an object", "{\"rules\": {}}", "cfg.json: rules: not an array"},
        {"a bad channel", "{\"rules\": [" RULE_OK("a") ", {\"tenant_id\": \"acme\", \"id\": \"b\","
                          " \"event_type\": \"e\", \"channels\": [\"EMAIL\", \"fax\"],"
                          " \"content\": {\"text\": \"t\"}}]}",
         "cfg.json: rules[1]: rule: channels[1]: unknown channel \"fax\""},
        {"a rule without id", "{\"rules\": [{\"tenant_id\": \"acme\", \"event_type\": \"e\","
                              " \"channels\": [\"EMAIL\"], \"content\": {\"text\": \"t\"}}]}",
         "cfg.json: rules[0]: rule: id: required"},
        {"a tenant element that is not an object", "{\"tenants\": [{\"tenant_id\": \"a\"}, 3]}",
         "cfg.json: tenants[1]: not a JSON object"},
        {"a template without version", "{\"templates\": [{\"tenant_id\": \"a\", \"key\": \"k\","
                                       " \"locales\": {\"en\": {\"sms\": {\"text\": \"x\"}}}}]}",
         "cfg.json: templates[0]: template: "},
        /* tenants are checked first, whatever the member order */
        {"two bad lists", "{\"rules\": [42], \"tenants\": [{}]}",
         "cfg.json: tenants[0]: tenant: tenant_id: required"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(c); i++) {
        char err[512];
        cr_expect_eq(check_doc(c[i].json, err, sizeof(err)), -1, "%s passed", c[i].name);
        cr_expect(!strncmp(err, c[i].err, strlen(c[i].err)), "%s: \"%s\", want \"%s\"",
                  c[i].name, err, c[i].err);
    }
}

/* ---- loading JSON files ----------------------------------------------------------------- */

/* A temporary file holding `text`; its path in path (caller unlinks). */
static void temp_file(const char *text, char *path, size_t n)
{
    snprintf(path, n, "/tmp/herald-unit-topics-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0, "mkstemp");
    size_t len = strlen(text);
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
}

Test(topics_reader, load_json_reads_a_file)
{
    char path[64], err[512] = "";
    temp_file("{\"tenants\": [{\"tenant_id\": \"acme\"}]}\n", path, sizeof(path));
    json_t *j = hd_tables_load_json(path, err, sizeof(err));
    unlink(path);
    cr_assert_not_null(j, "%s", err);
    cr_expect_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(j, "tenants"), 0), "tenant_id")),
                     "acme");
    json_decref(j);
}

Test(topics_reader, load_json_errors_name_the_file_line_and_column)
{
    char path[64], err[512] = "";
    temp_file("{\n  \"tenants\": [\n    {\"tenant_id\": \"acme\",}\n  ]\n}\n", path,
              sizeof(path));
    cr_expect_null(hd_tables_load_json(path, err, sizeof(err)));
    unlink(path);
    char want[128];
    snprintf(want, sizeof(want), "%s: line 3 column 26: ", path);
    cr_expect(!strncmp(err, want, strlen(want)), "\"%s\", want \"%s\"", err, want);

    const char *missing = "/tmp/herald-unit-topics-no-such-file.json";
    cr_expect_null(hd_tables_load_json(missing, err, sizeof(err)));
    cr_expect(!strncmp(err, missing, strlen(missing)) && strstr(err, "unable to open"), "%s",
              err);

    temp_file("", path, sizeof(path));
    cr_expect_null(hd_tables_load_json(path, err, sizeof(err)), "an empty file");
    unlink(path);
    cr_expect(strstr(err, path), "%s", err);
}

Test(topics_reader, load_json_of_dash_reads_standard_input)
{
    char path[64], err[512] = "";
    temp_file("[{\"tenant_id\": \"acme\"}]", path, sizeof(path));
    cr_assert_not_null(freopen(path, "r", stdin));
    json_t *j = hd_tables_load_json("-", err, sizeof(err));
    unlink(path);
    cr_assert_not_null(j, "%s", err);
    cr_expect(json_is_array(j) && json_array_size(j) == 1);
    json_t *list = hd_tables_check_bodies("tenant", j, "-", err, sizeof(err));
    cr_expect_not_null(list, "%s", err);
    json_decref(list);
    json_decref(j);

    temp_file("{oops", path, sizeof(path));
    cr_assert_not_null(freopen(path, "r", stdin));
    cr_expect_null(hd_tables_load_json("-", err, sizeof(err)));
    unlink(path);
    cr_expect(!strncmp(err, "-: line 1 column ", 17), "%s", err);
}

Test(topics_reader, put_refuses_template_versions_and_pointers_below_one)
{
    static const struct {
        const char *body, *err;
    } c[] = {
        {"{\"tenant_id\": \"acme\", \"key\": \"k\", \"active_version\": null}",
         "put.json[0]: template: template \"k\": active_version: expected an integer >= 1"},
        {"{\"tenant_id\": \"acme\", \"key\": \"k\", \"active_version\": 0}",
         "put.json[0]: template: template \"k\": active_version: expected an integer >= 1"},
        {"{\"tenant_id\": \"acme\", \"key\": \"k\", \"version\": 0, \"locales\": {}}",
         "put.json[0]: template: template \"k\": version: expected an integer >= 1"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(c); i++) {
        char err[512] = "";
        json_t *j = parse(c[i].body);
        json_t *list = hd_tables_check_bodies("template", j, "put.json", err, sizeof(err));
        cr_expect_null(list, "%s passed", c[i].body);
        json_decref(list);
        cr_expect_str_eq(err, c[i].err);
        json_decref(j);
    }
}

Test(topics_reader, a_null_list_or_a_body_that_is_no_object_is_refused)
{
    char err[512] = "";
    cr_expect_eq(check_doc("{\"rules\": null}", err, sizeof(err)), -1);
    cr_expect_str_eq(err, "cfg.json: rules: not an array");
    cr_expect_eq(check_doc("{\"templates\": \"t.json\"}", err, sizeof(err)), -1);
    cr_expect_str_eq(err, "cfg.json: templates: not an array");
    char tenant[64], id[128];
    cr_expect_eq(record_id("tenant", "[\"acme\"]", tenant, id, err), -1);
    cr_expect_str_eq(err, "tenant: tenant_id: required");
    cr_expect_eq(record_id("rule", "\"acme/r1\"", tenant, id, err), -1);
    cr_expect_str_eq(err, "rule: tenant_id: required");
}

/* ---- the reader's check of a consumed record (hd__tables_record_body) ---------------- */

/* A ConfigRecord's bytes as `herald config` publishes them: tenant, id and the body as
 * JSON text. */
static void config_record(struct hd_serde *sd, const char *tenant, const char *body_json,
                          struct hd_buf *out)
{
    char err[512];
    json_t *rec = json_pack("{s:s,s:s,s:s,s:I}", "tenant_id", tenant, "id", "x", "body_json",
                            body_json, "updated_at", (json_int_t)1795456513000);
    hd_buf_reset(out);
    cr_assert_eq(hd_serde_encode_json(sd, hd_serde_schema(sd, "ConfigRecord"), rec, out, err,
                                      sizeof(err)),
                 0, "%s", err);
    json_decref(rec);
}

Test(topics_reader, the_reader_takes_a_valid_record_and_leaves_out_each_kind_of_bad_one)
{
    char err[512];
    struct hd_serde *sd = hd_serde_new(err, sizeof(err));
    cr_assert_not_null(sd, "%s", err);
    struct hd_buf b = HD_BUF_INIT;
    enum { TENANT = 0, RULE = 1 };

    config_record(sd, "acme", "{\"tenant_id\":\"acme\",\"name\":\"Acme\"}", &b);
    json_t *body = hd__tables_record_body(sd, TENANT, b.data, b.len, err, sizeof(err));
    cr_assert_not_null(body, "%s", err);
    cr_expect_str_eq(json_string_value(json_object_get(body, "name")), "Acme");
    json_decref(body);

    static const struct {
        int kind;
        const char *tenant, *body, *want;
    } bad[] = {
        {TENANT, "acme", "{\"tenant_id\":\"acme\",", "body_json: line 1"},
        {TENANT, "acme", "{\"tenant_id\":\"globex\"}", "differs from the record's \"acme\""},
        {TENANT, "acme", "{\"name\":\"no tenant\"}", "body tenant_id differs"},
        {TENANT, "acme", "{\"tenant_id\":\"acme\",\"dedup_ttl_ms\":{\"EMAIL\":\"soon\"}}",
         "dedup_ttl_ms"},
        {RULE, "acme", "{\"tenant_id\":\"acme\",\"id\":\"r\",\"event_type\":\"order.created\"}",
         "channels"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++) {
        config_record(sd, bad[i].tenant, bad[i].body, &b);
        err[0] = '\0';
        body = hd__tables_record_body(sd, bad[i].kind, b.data, b.len, err, sizeof(err));
        cr_expect_null(body, "case %zu was taken", i);
        json_decref(body);
        cr_expect(strstr(err, bad[i].want), "case %zu: \"%s\" lacks \"%s\"", i, err,
                  bad[i].want);
    }

    /* another record type on a config topic, and bytes that are no record at all */
    struct hd_user_action ua = {.action_id = "a", .tenant_id = "acme", .user_id = "u",
                                .notification_id = "n", .action = HD_ACT_READ,
                                .occurred_at = 1, .channel = HD_CH_IN_APP};
    hd_buf_reset(&b);
    cr_assert_eq(hd_user_action_encode(sd, &ua, &b, err, sizeof(err)), 0, "%s", err);
    err[0] = '\0';
    cr_expect_null(hd__tables_record_body(sd, TENANT, b.data, b.len, err, sizeof(err)));
    cr_expect(strstr(err, "not a ConfigRecord"), "%s", err);
    err[0] = '\0';
    cr_expect_null(hd__tables_record_body(sd, TENANT, "garbage", 7, err, sizeof(err)));
    cr_expect(err[0], "an undecodable record says why");
    hd_buf_free(&b);
    hd_serde_destroy(sd);
}
