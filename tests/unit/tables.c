/*
 * Tenants and routing rules (tables/tables.c): parsing the config JSON,
 * lookups, rule selection by tenant and event type in file order, condition
 * evaluation, and parse errors that name the offending path.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/hd.h"
#include "schemas/records.h"
#include "tables/tables.h"

#define FIXTURE HD_SOURCE_DIR "/tests/data/config/two_tenants.json"

static struct hd_tables *load_fixture(void)
{
    char err[512] = "";
    struct hd_tables *t = hd_tables_load_file(FIXTURE, err, sizeof(err));
    cr_assert_not_null(t, "%s: %s", FIXTURE, err);
    return t;
}

/* ---- parsing and lookups ----------------------------------------------- */

Test(tables, fixture_with_two_tenants_and_five_rules_parses)
{
    struct hd_tables *t = load_fixture();
    const struct hd_rule *rules;
    cr_expect_eq(hd_tables_tenant_count(t), 2);
    cr_expect_eq(hd_tables_rules(t, &rules), 5);
    static const char *const ids[] = {"acme-order-email", "globex-order", "acme-shipped",
                                      "acme-big-order", "acme-order-inbox"};
    for (size_t i = 0; i < HD_ARRAY_SIZE(ids); i++)
        cr_expect_str_eq(rules[i].id, ids[i], "rules[%zu].id", i);
    hd_tables_destroy(t);
}

Test(tables, tenant_lookup_finds_known_tenants_with_their_fields)
{
    struct hd_tables *t = load_fixture();
    const struct hd_tenant *acme = hd_tables_tenant(t, "acme");
    const struct hd_tenant *globex = hd_tables_tenant(t, "globex");
    cr_assert_not_null(acme);
    cr_assert_not_null(globex);
    cr_expect_str_eq(acme->tenant_id, "acme");
    cr_expect_str_eq(acme->name, "Acme Corp");
    cr_expect_str_eq(acme->default_locale, "en");
    cr_expect_str_eq(globex->name, "Globex");
    cr_expect_str_eq(globex->default_locale, "de");
    hd_tables_destroy(t);
}

Test(tables, tenant_lookup_of_unknown_tenant_is_null)
{
    struct hd_tables *t = load_fixture();
    cr_expect_null(hd_tables_tenant(t, "initech"));
    cr_expect_null(hd_tables_tenant(t, "ACME"), "lookup must be case-sensitive");
    cr_expect_null(hd_tables_tenant(t, ""));
    hd_tables_destroy(t);
}

Test(tables, rule_fields_are_parsed)
{
    struct hd_tables *t = load_fixture();
    const struct hd_rule *rules;
    cr_assert_eq(hd_tables_rules(t, &rules), 5);

    const struct hd_rule *r0 = &rules[0];
    cr_expect_str_eq(r0->tenant_id, "acme");
    cr_expect_str_eq(r0->event_type, "order.created");
    cr_assert_eq(r0->channel_cnt, 1);
    cr_expect_eq(r0->channels[0], HD_CH_EMAIL);
    cr_expect_eq(r0->category, HD_CAT_TRANSACTIONAL, "category defaults to TRANSACTIONAL");
    cr_expect_eq(r0->priority, HD_PRIO_NORMAL, "priority defaults to NORMAL");
    cr_assert_not_null(r0->template_ref);
    cr_expect_str_eq(r0->template_ref->key, "order_confirmation");
    cr_expect(r0->template_ref->has_version);
    cr_expect_eq(r0->template_ref->version, 3);
    cr_expect_str_eq(r0->template_ref->locale, "en");
    cr_expect_null(r0->content);
    cr_expect_eq(r0->cond_cnt, 0);

    const struct hd_rule *r1 = &rules[1];
    cr_assert_eq(r1->channel_cnt, 2);
    cr_expect_eq(r1->channels[0], HD_CH_EMAIL);
    cr_expect_eq(r1->channels[1], HD_CH_SMS);
    cr_expect_eq(r1->category, HD_CAT_MARKETING);
    cr_expect_eq(r1->priority, HD_PRIO_HIGH);
    cr_expect_null(r1->template_ref);
    cr_assert_not_null(r1->content);
    cr_expect_str_eq(r1->content->subject, "Danke");
    cr_expect_str_eq(r1->content->text, "Ihre Bestellung");
    cr_expect_null(r1->content->html);
    cr_expect_null(r1->content->title);
    cr_assert_eq(r1->content->data.cnt, 1);
    cr_expect_str_eq(r1->content->data.items[0].key, "k");
    cr_expect_str_eq(r1->content->data.items[0].value, "v");

    const struct hd_rule *r2 = &rules[2];
    cr_assert_not_null(r2->template_ref);
    cr_expect_not(r2->template_ref->has_version, "no version in the file");
    cr_expect_null(r2->template_ref->locale);
    cr_assert_eq(r2->channel_cnt, 2);
    cr_expect_eq(r2->channels[0], HD_CH_PUSH);
    cr_expect_eq(r2->channels[1], HD_CH_IN_APP);

    const struct hd_rule *r3 = &rules[3];
    cr_expect_eq(r3->priority, HD_PRIO_URGENT);
    cr_assert_eq(r3->cond_cnt, 2);
    cr_expect_str_eq(r3->conds[0].field, "total");
    cr_expect_eq(r3->conds[0].op, HD_OP_GT);
    cr_expect(json_is_integer(r3->conds[0].value) && json_integer_value(r3->conds[0].value) == 100);
    cr_expect_str_eq(r3->conds[1].field, "customer.country");
    cr_expect_eq(r3->conds[1].op, HD_OP_IN);
    cr_expect(json_is_array(r3->conds[1].value) && json_array_size(r3->conds[1].value) == 2);

    cr_expect_eq(rules[4].category, HD_CAT_SYSTEM);
    hd_tables_destroy(t);
}

Test(tables, rules_for_filters_by_tenant_and_event_type_in_file_order)
{
    struct hd_tables *t = load_fixture();
    const struct hd_rule *out[8] = {0};
    size_t n = hd_tables_rules_for(t, "acme", "order.created", out, HD_ARRAY_SIZE(out));
    cr_assert_eq(n, 3);
    cr_expect_str_eq(out[0]->id, "acme-order-email");
    cr_expect_str_eq(out[1]->id, "acme-big-order");
    cr_expect_str_eq(out[2]->id, "acme-order-inbox");
    cr_expect_null(out[3]);

    n = hd_tables_rules_for(t, "globex", "order.created", out, HD_ARRAY_SIZE(out));
    cr_assert_eq(n, 1);
    cr_expect_str_eq(out[0]->id, "globex-order");

    n = hd_tables_rules_for(t, "acme", "order.shipped", out, HD_ARRAY_SIZE(out));
    cr_assert_eq(n, 1);
    cr_expect_str_eq(out[0]->id, "acme-shipped");
    hd_tables_destroy(t);
}

Test(tables, rules_for_unknown_tenant_or_event_type_is_empty)
{
    struct hd_tables *t = load_fixture();
    const struct hd_rule *out[4];
    cr_expect_eq(hd_tables_rules_for(t, "initech", "order.created", out, 4), 0);
    cr_expect_eq(hd_tables_rules_for(t, "globex", "order.shipped", out, 4), 0);
    cr_expect_eq(hd_tables_rules_for(t, "acme", "order", out, 4), 0, "no prefix matching");
    hd_tables_destroy(t);
}

Test(tables, rules_for_returns_the_full_count_but_fills_only_max)
{
    struct hd_tables *t = load_fixture();
    const struct hd_rule *sentinel = (const struct hd_rule *)&sentinel;
    const struct hd_rule *out[3] = {NULL, sentinel, sentinel};
    size_t n = hd_tables_rules_for(t, "acme", "order.created", out, 1);
    cr_expect_eq(n, 3);
    cr_assert_not_null(out[0]);
    cr_expect_str_eq(out[0]->id, "acme-order-email");
    cr_expect_eq(out[1], sentinel, "wrote past max");
    cr_expect_eq(out[2], sentinel, "wrote past max");
    cr_expect_eq(hd_tables_rules_for(t, "acme", "order.created", NULL, 0), 3);
    hd_tables_destroy(t);
}

Test(tables, empty_tables_have_no_tenants_and_no_rules)
{
    struct hd_tables *t = hd_tables_empty();
    const struct hd_rule *rules, *out[1];
    cr_expect_eq(hd_tables_tenant_count(t), 0);
    cr_expect_eq(hd_tables_rules(t, &rules), 0);
    cr_expect_null(hd_tables_tenant(t, "acme"));
    cr_expect_eq(hd_tables_rules_for(t, "acme", "order.created", out, 1), 0);
    hd_tables_destroy(t);
    hd_tables_destroy(NULL); /* accepted: a crash here fails the test */
}

Test(tables, config_without_tenants_or_rules_parses_empty)
{
    char err[256] = "";
    struct hd_tables *t = hd_tables_parse("{}", err, sizeof(err));
    cr_assert_not_null(t, "%s", err);
    const struct hd_rule *rules;
    cr_expect_eq(hd_tables_tenant_count(t), 0);
    cr_expect_eq(hd_tables_rules(t, &rules), 0);
    hd_tables_destroy(t);
}

Test(tables, load_file_of_missing_file_names_the_path)
{
    char err[512] = "";
    const char *path = HD_SOURCE_DIR "/tests/data/config/no_such_file.json";
    cr_assert_null(hd_tables_load_file(path, err, sizeof(err)));
    cr_expect(strstr(err, "no_such_file.json") != NULL, "error \"%s\"", err);
}

/* ---- conditions -------------------------------------------------------- */

/* Does an event match a rule whose `when` is the single condition `cond`? */
static int cond_matches(const char *cond, const char *event)
{
    char *cfg = hd_asprintf("{\"rules\": [{\"tenant_id\": \"acme\", \"event_type\": \"e\", "
                            "\"channels\": [\"EMAIL\"], \"template\": {\"key\": \"k\"}, "
                            "\"when\": [%s]}]}",
                            cond);
    char err[512] = "";
    struct hd_tables *t = hd_tables_parse(cfg, err, sizeof(err));
    hd_free(cfg);
    cr_assert_not_null(t, "condition %s: %s", cond, err);
    json_error_t jerr;
    json_t *ev = json_loads(event, 0, &jerr);
    cr_assert_not_null(ev, "event %s: %s", event, jerr.text);
    const struct hd_rule *rules;
    cr_assert_eq(hd_tables_rules(t, &rules), 1);
    int m = hd_rule_matches(&rules[0], ev);
    json_decref(ev);
    hd_tables_destroy(t);
    return m;
}

struct cond_case {
    const char *cond;
    const char *event;
    int want;
};

static void check_cases(const struct cond_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int got = cond_matches(cases[i].cond, cases[i].event);
        cr_expect_eq(!!got, cases[i].want, "%s on %s: got %s, want %s", cases[i].cond,
                     cases[i].event, got ? "match" : "no match",
                     cases[i].want ? "match" : "no match");
    }
}

#define CHECK_CASES(c) check_cases((c), HD_ARRAY_SIZE(c))

Test(tables, eq_and_ne_compare_numbers_and_strings)
{
    static const struct cond_case c[] = {
        {"{\"field\": \"total\", \"op\": \"eq\", \"value\": 100}", "{\"total\": 100}", 1},
        {"{\"field\": \"total\", \"op\": \"eq\", \"value\": 100}", "{\"total\": 99}", 0},
        {"{\"field\": \"total\", \"op\": \"eq\", \"value\": 100}", "{\"total\": \"100\"}", 0},
        {"{\"field\": \"total\", \"op\": \"eq\", \"value\": 9.5}", "{\"total\": 9.5}", 1},
        {"{\"field\": \"country\", \"op\": \"eq\", \"value\": \"DE\"}", "{\"country\": \"DE\"}", 1},
        {"{\"field\": \"country\", \"op\": \"eq\", \"value\": \"DE\"}", "{\"country\": \"de\"}", 0},
        {"{\"field\": \"vip\", \"op\": \"eq\", \"value\": true}", "{\"vip\": true}", 1},
        {"{\"field\": \"vip\", \"op\": \"eq\", \"value\": true}", "{\"vip\": false}", 0},
        {"{\"field\": \"total\", \"op\": \"ne\", \"value\": 100}", "{\"total\": 101}", 1},
        {"{\"field\": \"total\", \"op\": \"ne\", \"value\": 100}", "{\"total\": 100}", 0},
        {"{\"field\": \"country\", \"op\": \"ne\", \"value\": \"DE\"}", "{\"country\": \"FR\"}", 1},
        {"{\"field\": \"country\", \"op\": \"ne\", \"value\": \"DE\"}", "{\"country\": \"DE\"}", 0},
    };
    CHECK_CASES(c);
}

Test(tables, ordering_ops_compare_numbers)
{
    static const struct cond_case c[] = {
        {"{\"field\": \"total\", \"op\": \"gt\", \"value\": 100}", "{\"total\": 150}", 1},
        {"{\"field\": \"total\", \"op\": \"gt\", \"value\": 100}", "{\"total\": 100}", 0},
        {"{\"field\": \"total\", \"op\": \"gt\", \"value\": 100}", "{\"total\": 100.5}", 1},
        {"{\"field\": \"total\", \"op\": \"gt\", \"value\": 100}", "{\"total\": -150}", 0},
        {"{\"field\": \"total\", \"op\": \"gte\", \"value\": 100}", "{\"total\": 100}", 1},
        {"{\"field\": \"total\", \"op\": \"gte\", \"value\": 100}", "{\"total\": 99.5}", 0},
        {"{\"field\": \"total\", \"op\": \"gte\", \"value\": 100}", "{\"total\": 100.0}", 1},
        {"{\"field\": \"total\", \"op\": \"lt\", \"value\": 100}", "{\"total\": 99}", 1},
        {"{\"field\": \"total\", \"op\": \"lt\", \"value\": 100}", "{\"total\": 100}", 0},
        {"{\"field\": \"total\", \"op\": \"lte\", \"value\": 100}", "{\"total\": 100}", 1},
        {"{\"field\": \"total\", \"op\": \"lte\", \"value\": 100}", "{\"total\": 101}", 0},
        {"{\"field\": \"total\", \"op\": \"lte\", \"value\": 0.25}", "{\"total\": 0.125}", 1},
    };
    CHECK_CASES(c);
}

Test(tables, ordering_ops_compare_strings_bytewise)
{
    static const struct cond_case c[] = {
        {"{\"field\": \"tier\", \"op\": \"gt\", \"value\": \"b\"}", "{\"tier\": \"c\"}", 1},
        {"{\"field\": \"tier\", \"op\": \"gt\", \"value\": \"b\"}", "{\"tier\": \"a\"}", 0},
        {"{\"field\": \"tier\", \"op\": \"gt\", \"value\": \"b\"}", "{\"tier\": \"b\"}", 0},
        {"{\"field\": \"day\", \"op\": \"gte\", \"value\": \"2026-01-01\"}", "{\"day\": \"2026-01-01\"}", 1},
        {"{\"field\": \"day\", \"op\": \"lt\", \"value\": \"2026-01-01\"}", "{\"day\": \"2025-12-31\"}", 1},
        {"{\"field\": \"day\", \"op\": \"lte\", \"value\": \"2026-01-01\"}", "{\"day\": \"2026-01-02\"}", 0},
    };
    CHECK_CASES(c);
}

Test(tables, ordering_ops_on_mismatched_types_do_not_match)
{
    static const struct cond_case c[] = {
        {"{\"field\": \"total\", \"op\": \"gt\", \"value\": 100}", "{\"total\": \"150\"}", 0},
        {"{\"field\": \"total\", \"op\": \"lt\", \"value\": 100}", "{\"total\": \"50\"}", 0},
        {"{\"field\": \"total\", \"op\": \"gte\", \"value\": \"a\"}", "{\"total\": 5}", 0},
        {"{\"field\": \"total\", \"op\": \"lte\", \"value\": 100}", "{\"total\": null}", 0},
        {"{\"field\": \"total\", \"op\": \"gt\", \"value\": 100}", "{\"total\": [150]}", 0},
    };
    CHECK_CASES(c);
}

Test(tables, exists_requires_a_present_non_null_field)
{
    static const struct cond_case c[] = {
        {"{\"field\": \"coupon\", \"op\": \"exists\"}", "{\"coupon\": \"SAVE10\"}", 1},
        {"{\"field\": \"coupon\", \"op\": \"exists\"}", "{\"coupon\": 0}", 1},
        {"{\"field\": \"coupon\", \"op\": \"exists\"}", "{\"coupon\": false}", 1},
        {"{\"field\": \"coupon\", \"op\": \"exists\"}", "{\"coupon\": null}", 0},
        {"{\"field\": \"coupon\", \"op\": \"exists\"}", "{}", 0},
        {"{\"field\": \"a.b\", \"op\": \"exists\"}", "{\"a\": {\"b\": 1}}", 1},
        {"{\"field\": \"a.b\", \"op\": \"exists\"}", "{\"a\": {\"c\": 1}}", 0},
    };
    CHECK_CASES(c);
}

Test(tables, in_matches_any_listed_value)
{
    static const struct cond_case c[] = {
        {"{\"field\": \"country\", \"op\": \"in\", \"value\": [\"DE\", \"AT\"]}", "{\"country\": \"AT\"}", 1},
        {"{\"field\": \"country\", \"op\": \"in\", \"value\": [\"DE\", \"AT\"]}", "{\"country\": \"DE\"}", 1},
        {"{\"field\": \"country\", \"op\": \"in\", \"value\": [\"DE\", \"AT\"]}", "{\"country\": \"FR\"}", 0},
        {"{\"field\": \"qty\", \"op\": \"in\", \"value\": [1, 2, 3]}", "{\"qty\": 2}", 1},
        {"{\"field\": \"qty\", \"op\": \"in\", \"value\": [1, 2, 3]}", "{\"qty\": 4}", 0},
        {"{\"field\": \"qty\", \"op\": \"in\", \"value\": [1, 2, 3]}", "{\"qty\": \"2\"}", 0},
        {"{\"field\": \"qty\", \"op\": \"in\", \"value\": []}", "{\"qty\": 1}", 0},
    };
    CHECK_CASES(c);
}

Test(tables, nested_paths_reach_into_objects_and_arrays)
{
    static const struct cond_case c[] = {
        {"{\"field\": \"items.0.sku\", \"op\": \"eq\", \"value\": \"A-1\"}",
         "{\"items\": [{\"sku\": \"A-1\"}, {\"sku\": \"B-2\"}]}", 1},
        {"{\"field\": \"items.1.sku\", \"op\": \"eq\", \"value\": \"B-2\"}",
         "{\"items\": [{\"sku\": \"A-1\"}, {\"sku\": \"B-2\"}]}", 1},
        {"{\"field\": \"items.0.sku\", \"op\": \"eq\", \"value\": \"B-2\"}",
         "{\"items\": [{\"sku\": \"A-1\"}, {\"sku\": \"B-2\"}]}", 0},
        {"{\"field\": \"items.2.sku\", \"op\": \"exists\"}",
         "{\"items\": [{\"sku\": \"A-1\"}, {\"sku\": \"B-2\"}]}", 0},
        {"{\"field\": \"items.x.sku\", \"op\": \"exists\"}", "{\"items\": [{\"sku\": \"A-1\"}]}", 0},
        {"{\"field\": \"items.0.qty\", \"op\": \"gte\", \"value\": 2}",
         "{\"items\": [{\"sku\": \"A-1\", \"qty\": 3}]}", 1},
        {"{\"field\": \"customer.address.country\", \"op\": \"eq\", \"value\": \"DE\"}",
         "{\"customer\": {\"address\": {\"country\": \"DE\"}}}", 1},
        {"{\"field\": \"customer.address.country\", \"op\": \"eq\", \"value\": \"DE\"}",
         "{\"customer\": {\"address\": \"Berlin, DE\"}}", 0},
        {"{\"field\": \"total.amount\", \"op\": \"exists\"}", "{\"total\": 5}", 0},
    };
    CHECK_CASES(c);
}

Test(tables, missing_field_fails_every_op_but_ne)
{
    static const struct cond_case c[] = {
        {"{\"field\": \"total\", \"op\": \"gt\", \"value\": 100}", "{\"other\": 1}", 0},
        {"{\"field\": \"total\", \"op\": \"gte\", \"value\": 100}", "{\"other\": 1}", 0},
        {"{\"field\": \"total\", \"op\": \"lt\", \"value\": 100}", "{\"other\": 1}", 0},
        {"{\"field\": \"total\", \"op\": \"lte\", \"value\": 100}", "{\"other\": 1}", 0},
        {"{\"field\": \"total\", \"op\": \"eq\", \"value\": 100}", "{\"other\": 1}", 0},
        {"{\"field\": \"total\", \"op\": \"in\", \"value\": [100]}", "{\"other\": 1}", 0},
        {"{\"field\": \"total\", \"op\": \"ne\", \"value\": 100}", "{\"other\": 1}", 1},
        {"{\"field\": \"a.b.c\", \"op\": \"ne\", \"value\": \"x\"}", "{}", 1},
    };
    CHECK_CASES(c);
}

/* JSON has one number type: 100 and 100.0 are the same number, and gte and lte
 * already agree that they are equal, so eq, ne and in must as well. */
Test(tables, eq_ne_and_in_treat_integer_and_real_of_same_value_as_equal)
{
    static const struct cond_case c[] = {
        {"{\"field\": \"total\", \"op\": \"eq\", \"value\": 100}", "{\"total\": 100.0}", 1},
        {"{\"field\": \"total\", \"op\": \"eq\", \"value\": 100.0}", "{\"total\": 100}", 1},
        {"{\"field\": \"total\", \"op\": \"ne\", \"value\": 100}", "{\"total\": 100.0}", 0},
        {"{\"field\": \"qty\", \"op\": \"in\", \"value\": [1, 2, 3]}", "{\"qty\": 2.0}", 1},
    };
    CHECK_CASES(c);
}

Test(tables, every_condition_must_hold)
{
    struct hd_tables *t = load_fixture();
    const struct hd_rule *rules;
    cr_assert_eq(hd_tables_rules(t, &rules), 5);
    const struct hd_rule *big = &rules[3]; /* total gt 100 and customer.country in [DE, AT] */
    static const struct {
        const char *event;
        int want;
    } c[] = {
        {"{\"total\": 150, \"customer\": {\"country\": \"DE\"}}", 1},
        {"{\"total\": 150, \"customer\": {\"country\": \"FR\"}}", 0},
        {"{\"total\": 50, \"customer\": {\"country\": \"DE\"}}", 0},
        {"{\"total\": 150}", 0},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(c); i++) {
        json_t *ev = json_loads(c[i].event, 0, NULL);
        cr_assert_not_null(ev);
        cr_expect_eq(!!hd_rule_matches(big, ev), c[i].want, "event %s", c[i].event);
        json_decref(ev);
    }
    hd_tables_destroy(t);
}

Test(tables, rule_without_conditions_matches_any_event)
{
    struct hd_tables *t = load_fixture();
    const struct hd_rule *rules;
    cr_assert_eq(hd_tables_rules(t, &rules), 5);
    json_t *empty = json_object();
    json_t *other = json_pack("{s:i, s:s}", "total", 1, "x", "y");
    cr_expect(hd_rule_matches(&rules[0], empty));
    cr_expect(hd_rule_matches(&rules[0], other));
    cr_expect_not(hd_rule_matches(&rules[3], empty), "a rule with conditions must not");
    json_decref(empty);
    json_decref(other);
    hd_tables_destroy(t);
}

/* ---- parse errors ------------------------------------------------------ */

#define RULE(extra)                                                                                \
    "{\"tenant_id\": \"acme\", \"event_type\": \"order.created\", \"channels\": [\"EMAIL\"], "    \
    "\"template\": {\"key\": \"k\"}" extra "}"

Test(tables, parse_errors_name_the_path)
{
    static const struct {
        const char *name;
        const char *json;
        const char *want; /* substring of the error */
    } c[] = {
        {"unknown channel",
         "{\"rules\": [" RULE("") ", {\"tenant_id\": \"acme\", \"event_type\": \"e\", "
         "\"channels\": [\"FAX\", \"EMAIL\"], \"template\": {\"key\": \"k\"}}]}",
         "rules[1].channels[0]"},
        {"lowercase channel", "{\"rules\": [{\"tenant_id\": \"acme\", \"event_type\": \"e\", "
                              "\"channels\": [\"SMS\", \"email\"], \"template\": {\"key\": \"k\"}}]}",
         "rules[0].channels[1]"},
        {"non-string channel", "{\"rules\": [{\"tenant_id\": \"acme\", \"event_type\": \"e\", "
                               "\"channels\": [1], \"template\": {\"key\": \"k\"}}]}",
         "rules[0].channels[0]"},
        {"empty channels", "{\"rules\": [{\"tenant_id\": \"acme\", \"event_type\": \"e\", "
                           "\"channels\": [], \"template\": {\"key\": \"k\"}}]}",
         "rules[0].channels"},
        {"unknown op",
         "{\"rules\": [" RULE(", \"when\": [{\"field\": \"a\", \"op\": \"eq\", \"value\": 1}, "
                              "{\"field\": \"b\", \"op\": \"between\", \"value\": [1, 2]}]") "]}",
         "rules[0].when[1].op: unknown operator \"between\""},
        {"op in without a list", "{\"rules\": [" RULE(", \"when\": [{\"field\": \"a\", \"op\": \"in\", "
                                                      "\"value\": \"DE\"}]") "]}",
         "rules[0].when[0].value"},
        {"op gt without a value",
         "{\"rules\": [" RULE(", \"when\": [{\"field\": \"a\", \"op\": \"gt\"}]") "]}",
         "rules[0].when[0].value"},
        {"condition without a field",
         "{\"rules\": [" RULE(", \"when\": [{\"op\": \"exists\"}]") "]}", "rules[0].when[0].field"},
        {"unknown category", "{\"rules\": [" RULE(", \"category\": \"SPAM\"") "]}",
         "rules[0].category"},
        {"unknown priority", "{\"rules\": [" RULE("") ", " RULE(", \"priority\": \"NOW\"") "]}",
         "rules[1].priority"},
        {"missing tenant_id in a tenant",
         "{\"tenants\": [{\"tenant_id\": \"acme\"}, {\"name\": \"Nameless\"}]}",
         "tenants[1].tenant_id"},
        {"empty tenant_id in a tenant", "{\"tenants\": [{\"tenant_id\": \"\"}]}",
         "tenants[0].tenant_id"},
        {"non-string tenant_id", "{\"tenants\": [{\"tenant_id\": 7}]}", "tenants[0].tenant_id"},
        {"duplicate tenant",
         "{\"tenants\": [{\"tenant_id\": \"acme\"}, {\"tenant_id\": \"globex\"}, "
         "{\"tenant_id\": \"acme\"}]}",
         "tenants[2].tenant_id: duplicate \"acme\""},
        {"missing tenant_id in a rule",
         "{\"rules\": [{\"event_type\": \"e\", \"channels\": [\"EMAIL\"], \"template\": {\"key\": "
         "\"k\"}}]}",
         "rules[0].tenant_id"},
        {"missing event_type in a rule",
         "{\"rules\": [" RULE("") ", {\"tenant_id\": \"acme\", \"channels\": [\"EMAIL\"], "
         "\"template\": {\"key\": \"k\"}}]}",
         "rules[1].event_type"},
        {"rule without template or content",
         "{\"rules\": [{\"tenant_id\": \"acme\", \"event_type\": \"e\", \"channels\": [\"EMAIL\"]}]}",
         "rules[0]: needs a template or a content"},
        {"template without key",
         "{\"rules\": [{\"tenant_id\": \"acme\", \"event_type\": \"e\", \"channels\": [\"EMAIL\"], "
         "\"template\": {\"locale\": \"en\"}}]}",
         "rules[0].template.key"},
        {"content data value not a string",
         "{\"rules\": [{\"tenant_id\": \"acme\", \"event_type\": \"e\", \"channels\": [\"EMAIL\"], "
         "\"content\": {\"text\": \"t\", \"data\": {\"n\": 1}}}]}",
         "rules[0].content.data.n"},
        {"rule not an object", "{\"rules\": [" RULE("") ", 42]}", "rules[1]: expected an object"},
        {"tenants not an array", "{\"tenants\": {\"tenant_id\": \"acme\"}}", "tenants"},
        {"rules not an array", "{\"rules\": {}}", "rules: expected an array"},
        {"non-object root (array)", "[]", "expected a JSON object"},
        {"non-object root (array of objects)", "[{\"tenants\": []}]", "expected a JSON object"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(c); i++) {
        char err[512] = "";
        struct hd_tables *t = hd_tables_parse(c[i].json, err, sizeof(err));
        cr_expect_null(t, "%s: parsed, but should have failed", c[i].name);
        hd_tables_destroy(t);
        cr_expect(strstr(err, c[i].want) != NULL, "%s: error \"%s\" does not contain \"%s\"",
                  c[i].name, err, c[i].want);
    }
}

Test(tables, invalid_json_error_gives_line_and_column)
{
    /* The trailing comma on line 3 is the first error; jansson reports the
     * token after it, the '}' in column 26. */
    const char *json = "{\n"
                       "  \"tenants\": [\n"
                       "    {\"tenant_id\": \"acme\",}\n"
                       "  ]\n"
                       "}\n";
    char err[512] = "";
    cr_assert_null(hd_tables_parse(json, err, sizeof(err)));
    cr_expect(strstr(err, "line 3 column 26") != NULL, "error \"%s\"", err);
}

Test(tables, parse_error_is_safe_without_an_error_buffer)
{
    cr_assert_null(hd_tables_parse("[]", NULL, 0));
    cr_assert_null(hd_tables_parse("{\"tenants\": [{}]}", NULL, 0));
}

/* ---- per-tenant settings, single-record checks, live snapshots ---------- */

Test(tables, tenant_dedup_windows_parse_per_channel)
{
    char err[256] = "";
    struct hd_tables *t = hd_tables_parse(
        "{\"tenants\": [{\"tenant_id\": \"a\", \"dedup_ttl_ms\": {\"EMAIL\": 60000, \"PUSH\": 5}}]}",
        err, sizeof(err));
    cr_assert_not_null(t, "%s", err);
    const struct hd_tenant *tn = hd_tables_tenant(t, "a");
    cr_assert_not_null(tn);
    cr_expect_eq(tn->dedup_ttl_ms[HD_CH_EMAIL], 60000);
    cr_expect_eq(tn->dedup_ttl_ms[HD_CH_PUSH], 5);
    cr_expect_eq(tn->dedup_ttl_ms[HD_CH_SMS], 0, "unset channels keep the default");
    hd_tables_destroy(t);
}

Test(tables, bad_dedup_window_is_refused_naming_the_channel)
{
    char err[256] = "";
    cr_assert_null(hd_tables_parse(
        "{\"tenants\": [{\"tenant_id\": \"a\", \"dedup_ttl_ms\": {\"SMS\": -1}}]}", err,
        sizeof(err)));
    cr_expect(strstr(err, "tenants[0].dedup_ttl_ms.SMS"), "%s", err);
}

Test(tables, check_names_the_field_of_a_single_record)
{
    char err[256] = "";
    json_t *ok = json_pack("{s:s,s:s,s:[s],s:{s:s}}", "tenant_id", "a", "event_type",
                           "order.created", "channels", "EMAIL", "content", "subject", "x");
    cr_expect_eq(hd_tables_check("rule", ok, err, sizeof(err)), 0, "%s", err);
    json_t *bad = json_pack("{s:s,s:s,s:[s],s:{s:s}}", "tenant_id", "a", "event_type",
                            "order.created", "channels", "FAX", "content", "subject", "x");
    cr_expect_eq(hd_tables_check("rule", bad, err, sizeof(err)), -1);
    cr_expect(strstr(err, "rule: channels[0]: unknown channel \"FAX\""), "%s", err);
    cr_expect_eq(hd_tables_check("widget", ok, err, sizeof(err)), -1);
    cr_expect(strstr(err, "unknown config kind"), "%s", err);
    json_decref(ok);
    json_decref(bad);
}

Test(tables, live_holder_hands_out_snapshots_that_outlive_a_swap)
{
    char err[256] = "";
    struct hd_tables *live = hd_tables_live_new(NULL);
    const struct hd_tables *s0 = hd_tables_acquire(live);
    cr_expect_eq(hd_tables_tenant_count(s0), 0, "a new holder is empty");
    struct hd_tables *next = hd_tables_parse("{\"tenants\": [{\"tenant_id\": \"a\"}]}", err,
                                             sizeof(err));
    cr_assert_not_null(next, "%s", err);
    hd_tables_live_swap(live, next);
    const struct hd_tables *s1 = hd_tables_acquire(live);
    cr_expect_not_null(hd_tables_tenant(s1, "a"), "the swapped-in set is current");
    cr_expect_eq(hd_tables_tenant_count(s0), 0, "an acquired snapshot never changes");
    hd_tables_release(s0); /* the old snapshot is freed here (ASan checks) */
    struct hd_tables *empty = hd_tables_empty();
    hd_tables_live_swap(live, empty);
    cr_expect_not_null(hd_tables_tenant(s1, "a"), "still valid after another swap");
    hd_tables_release(s1);
    hd_tables_destroy(live);
}
