/*
 * What the preference step reads of a tenant (parse_prefs in tables/tables.c): "timezone",
 * "preference_defaults" and "frequency_caps". A valid tenant keeps its zone, its defaults
 * as the JSON given and its caps (channel and category -1 when absent or null); a tenant
 * without them has none; and hd_tables_parse refuses each bad one with an error naming its
 * path ("tenants[1].frequency_caps[0].max: ...").
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "core/hd.h"
#include "schemas/records.h"
#include "tables/tables.h"

static struct hd_tables *parse_ok(const char *json)
{
    char err[512] = "";
    struct hd_tables *t = hd_tables_parse(json, err, sizeof(err));
    cr_assert_not_null(t, "%s", err);
    return t;
}

Test(tenant_prefs, a_valid_tenant_keeps_zone_defaults_and_caps)
{
    struct hd_tables *t = parse_ok(
        "{\"tenants\": [{\"tenant_id\": \"acme\", \"timezone\": \"Europe/Berlin\","
        " \"preference_defaults\": {\"channels\": {\"SMS\": false},"
        "   \"quiet_hours\": {\"start\": \"22:00\", \"end\": \"07:00\","
        "                     \"bypass_priorities\": [\"HIGH\", \"URGENT\"]}},"
        " \"frequency_caps\": ["
        "   {\"channel\": \"EMAIL\", \"category\": \"MARKETING\", \"max\": 3,"
        "    \"window_ms\": 604800000},"
        "   {\"channel\": \"SMS\", \"max\": 1, \"window_ms\": 1000},"
        "   {\"category\": \"SYSTEM\", \"max\": 100000, \"window_ms\": 31622400000},"
        "   {\"channel\": null, \"category\": null, \"max\": 10, \"window_ms\": 86400000}]}]}");
    const struct hd_tenant *tn = hd_tables_tenant(t, "acme");
    cr_assert_not_null(tn);
    cr_expect_str_eq(tn->timezone, "Europe/Berlin");

    json_t *want = json_loads("{\"channels\": {\"SMS\": false},"
                              " \"quiet_hours\": {\"start\": \"22:00\", \"end\": \"07:00\","
                              " \"bypass_priorities\": [\"HIGH\", \"URGENT\"]}}",
                              0, NULL);
    cr_assert_not_null(want);
    cr_assert_not_null(tn->preference_defaults);
    char *got = json_dumps(tn->preference_defaults, JSON_COMPACT | JSON_SORT_KEYS);
    cr_expect(json_equal(tn->preference_defaults, want), "preference_defaults %s", got);
    free(got);
    json_decref(want);

    static const struct hd_cap caps[] = {
        {HD_CH_EMAIL, HD_CAT_MARKETING, 3, 604800000},
        {HD_CH_SMS, -1, 1, 1000},
        {-1, HD_CAT_SYSTEM, 100000, 366LL * 86400000},
        {-1, -1, 10, 86400000},
    };
    cr_assert_eq(tn->cap_cnt, HD_ARRAY_SIZE(caps), "%zu caps", tn->cap_cnt);
    for (size_t i = 0; i < HD_ARRAY_SIZE(caps); i++) {
        cr_expect_eq(tn->caps[i].channel, caps[i].channel, "caps[%zu].channel %d", i,
                     tn->caps[i].channel);
        cr_expect_eq(tn->caps[i].category, caps[i].category, "caps[%zu].category %d", i,
                     tn->caps[i].category);
        cr_expect_eq(tn->caps[i].max, caps[i].max, "caps[%zu].max %d", i, tn->caps[i].max);
        cr_expect_eq(tn->caps[i].window_ms, caps[i].window_ms, "caps[%zu].window_ms %lld", i,
                     (long long)tn->caps[i].window_ms);
    }
    hd_tables_destroy(t);
}

Test(tenant_prefs, a_tenant_without_them_has_none)
{
    static const char *const cases[] = {
        "{\"tenants\": [{\"tenant_id\": \"acme\"}]}",
        "{\"tenants\": [{\"tenant_id\": \"acme\", \"timezone\": null,"
        " \"preference_defaults\": null, \"frequency_caps\": null}]}",
        "{\"tenants\": [{\"tenant_id\": \"acme\", \"frequency_caps\": []}]}",
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
        struct hd_tables *t = parse_ok(cases[i]);
        const struct hd_tenant *tn = hd_tables_tenant(t, "acme");
        cr_assert_not_null(tn, "case %zu", i);
        cr_expect_null(tn->timezone, "case %zu", i);
        cr_expect_null(tn->preference_defaults, "case %zu", i);
        cr_expect_eq(tn->cap_cnt, 0, "case %zu: %zu caps", i, tn->cap_cnt);
        hd_tables_destroy(t);
    }
}

Test(tenant_prefs, each_tenant_keeps_its_own)
{
    struct hd_tables *t = parse_ok(
        "{\"tenants\": [{\"tenant_id\": \"a\", \"timezone\": \"UTC\"},"
        " {\"tenant_id\": \"b\", \"timezone\": \"America/New_York\","
        "  \"preference_defaults\": {\"dnd\": {\"on\": false}},"
        "  \"frequency_caps\": [{\"max\": 2, \"window_ms\": 60000}]}]}");
    const struct hd_tenant *a = hd_tables_tenant(t, "a"), *b = hd_tables_tenant(t, "b");
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_expect_str_eq(a->timezone, "UTC");
    cr_expect_null(a->preference_defaults);
    cr_expect_eq(a->cap_cnt, 0);
    cr_expect_str_eq(b->timezone, "America/New_York");
    cr_expect(json_is_object(b->preference_defaults));
    cr_assert_eq(b->cap_cnt, 1);
    cr_expect_eq(b->caps[0].channel, -1);
    cr_expect_eq(b->caps[0].category, -1);
    cr_expect_eq(b->caps[0].max, 2);
    cr_expect_eq(b->caps[0].window_ms, 60000);
    hd_tables_destroy(t);
}

/* A tenant "acme" with the members given (JSON text, leading ", "). */
#define TENANT(members) "{\"tenants\": [{\"tenant_id\": \"acme\"" members "}]}"
/* A tenant with one frequency cap (the cap's members, JSON text). */
#define CAP(members) TENANT(", \"frequency_caps\": [" members "]")

Test(tenant_prefs, bad_settings_are_refused_naming_the_path)
{
    static const struct {
        const char *json, *want;
    } cases[] = {
        /* timezone */
        {TENANT(", \"timezone\": \"Mars/Olympus_Mons\""),
         "tenants[0].timezone: unknown time zone \"Mars/Olympus_Mons\""},
        {TENANT(", \"timezone\": \"\""), "tenants[0].timezone: unknown time zone"},
        {TENANT(", \"timezone\": 1"), "tenants[0].timezone: expected a string"},
        {"{\"tenants\": [{\"tenant_id\": \"a\"}, {\"tenant_id\": \"b\","
         " \"timezone\": \"Europe/Atlantis\"}]}",
         "tenants[1].timezone: unknown time zone"},
        /* preference_defaults: the layer's own error, under the tenant's path */
        {TENANT(", \"preference_defaults\": {\"channels\": {\"FAX\": false}}"),
         "tenants[0].preference_defaults.channels.FAX: unknown channel"},
        {TENANT(", \"preference_defaults\": {\"quiet_hours\": {\"start\": \"25:00\","
                " \"end\": \"07:00\"}}"),
         "tenants[0].preference_defaults.quiet_hours.start"},
        {TENANT(", \"preference_defaults\": {\"quiet_hours\": {\"bypass_priorities\":"
                " [\"NOW\"]}}"),
         "tenants[0].preference_defaults.quiet_hours.bypass_priorities[0]"},
        {TENANT(", \"preference_defaults\": {\"dnd\": {\"until\": \"soon\"}}"),
         "tenants[0].preference_defaults.dnd.until"},
        {TENANT(", \"preference_defaults\": [1]"), "tenants[0].preference_defaults."},
        /* frequency_caps */
        {TENANT(", \"frequency_caps\": {\"max\": 1}"),
         "tenants[0].frequency_caps: expected an array"},
        {TENANT(", \"frequency_caps\": 3"), "tenants[0].frequency_caps: expected an array"},
        {CAP("7"), "tenants[0].frequency_caps[0]: expected an object"},
        {CAP("{\"channel\": \"FAX\", \"max\": 1, \"window_ms\": 60000}"),
         "tenants[0].frequency_caps[0].channel: unknown channel"},
        {CAP("{\"channel\": \"email\", \"max\": 1, \"window_ms\": 60000}"),
         "tenants[0].frequency_caps[0].channel: unknown channel"},
        {CAP("{\"channel\": 1, \"max\": 1, \"window_ms\": 60000}"),
         "tenants[0].frequency_caps[0].channel: unknown channel"},
        {CAP("{\"category\": \"PROMO\", \"max\": 1, \"window_ms\": 60000}"),
         "tenants[0].frequency_caps[0].category: unknown category"},
        {CAP("{\"max\": 0, \"window_ms\": 60000}"),
         "tenants[0].frequency_caps[0].max: expected an integer from 1 to 100000"},
        {CAP("{\"max\": 100001, \"window_ms\": 60000}"), "tenants[0].frequency_caps[0].max"},
        {CAP("{\"max\": \"3\", \"window_ms\": 60000}"), "tenants[0].frequency_caps[0].max"},
        {CAP("{\"window_ms\": 60000}"), "tenants[0].frequency_caps[0].max"},
        {CAP("{\"max\": 1, \"window_ms\": 10}"),
         "tenants[0].frequency_caps[0].window_ms: expected milliseconds from 1000 to a year"},
        {CAP("{\"max\": 1, \"window_ms\": 999}"), "tenants[0].frequency_caps[0].window_ms"},
        {CAP("{\"max\": 1, \"window_ms\": 31622400001}"),
         "tenants[0].frequency_caps[0].window_ms"},
        {CAP("{\"max\": 1, \"window_ms\": 60000.5}"), "tenants[0].frequency_caps[0].window_ms"},
        {CAP("{\"max\": 1}"), "tenants[0].frequency_caps[0].window_ms"},
        /* the index of the bad cap, not of the first */
        {CAP("{\"max\": 1, \"window_ms\": 60000}, {\"channel\": \"SMS\", \"max\": 1,"
             " \"window_ms\": 60000}, {\"category\": \"SPAM\", \"max\": 1, \"window_ms\": 1000}"),
         "tenants[0].frequency_caps[2].category: unknown category"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
        char err[512] = "";
        struct hd_tables *t = hd_tables_parse(cases[i].json, err, sizeof(err));
        cr_expect_null(t, "case %zu parsed: %s", i, cases[i].json);
        hd_tables_destroy(t);
        cr_expect(strstr(err, cases[i].want), "case %zu: \"%s\" lacks \"%s\"", i, err,
                  cases[i].want);
    }
}

Test(tenant_prefs, a_tenant_record_is_checked_the_same_way)
{
    static const struct {
        const char *body, *want; /* want NULL: accepted */
    } cases[] = {
        {"{\"tenant_id\": \"acme\", \"timezone\": \"Europe/Berlin\","
         " \"preference_defaults\": {\"channels\": {\"SMS\": false}},"
         " \"frequency_caps\": [{\"max\": 3, \"window_ms\": 60000}]}",
         NULL},
        {"{\"tenant_id\": \"acme\", \"timezone\": \"Nowhere/Else\"}", "timezone: unknown"},
        {"{\"tenant_id\": \"acme\", \"preference_defaults\": {\"channels\": {\"FAX\": false}}}",
         "preference_defaults.channels.FAX"},
        {"{\"tenant_id\": \"acme\", \"frequency_caps\": [{\"max\": 0, \"window_ms\": 60000}]}",
         "frequency_caps[0].max"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
        json_t *body = json_loads(cases[i].body, 0, NULL);
        cr_assert_not_null(body, "case %zu", i);
        char err[512] = "";
        int rc = hd_tables_check("tenant", body, err, sizeof(err));
        if (!cases[i].want) {
            cr_expect_eq(rc, 0, "case %zu: %s", i, err);
        } else {
            cr_expect_eq(rc, -1, "case %zu accepted", i);
            cr_expect(strstr(err, cases[i].want), "case %zu: \"%s\" lacks \"%s\"", i, err,
                      cases[i].want);
        }
        json_decref(body);
    }
}
