/*
 * The preference decision (processors/prefs_rules.c), table-driven: layers of JSON applied
 * in order, then what they decide for a channel, category and priority at a time, with the
 * reason code and the words of the reason; and the errors that name the member.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "core/hd.h"
#include "core/time.h"
#include "processors/prefs_rules.h"

static int64_t at(const char *iso)
{
    int64_t ms;
    cr_assert_eq(hd_time_parse_iso8601(iso, &ms), 0, "%s", iso);
    return ms;
}

/* Built-in defaults, then each non-NULL layer. */
static void build(struct hd_prefs *p, const char *tenant, const char *profile, const char *user)
{
    hd_prefs_defaults(p);
    const char *layers[] = {tenant, profile, user};
    for (size_t i = 0; i < HD_ARRAY_SIZE(layers); i++) {
        if (!layers[i])
            continue;
        json_error_t je;
        json_t *j = json_loads(layers[i], 0, &je);
        cr_assert_not_null(j, "layer %zu: %s", i, je.text);
        char err[256];
        cr_assert_eq(hd_prefs_apply(p, j, err, sizeof(err)), 0, "layer %zu: %s", i, err);
        json_decref(j);
    }
}

#define NIGHT                                                                                      \
    "{\"timezone\":\"Europe/Berlin\",\"quiet_hours\":{\"start\":\"22:00\",\"end\":\"07:00\"}}"

Test(prefs_rules, each_rule_decides_with_its_code_and_reason)
{
    static const struct {
        const char *tenant, *profile, *user;
        enum hd_channel ch;
        enum hd_category cat;
        enum hd_priority prio;
        const char *now;
        enum hd_pref_verdict verdict;
        const char *code, *reason, *until;
    } cases[] = {
        /* built-in: everything on except MARKETING, which needs consent */
        {NULL, NULL, NULL, HD_CH_EMAIL, HD_CAT_TRANSACTIONAL, HD_PRIO_NORMAL,
         "2026-01-15T12:00:00Z", HD_PREF_SEND, NULL, NULL, NULL},
        {NULL, NULL, NULL, HD_CH_EMAIL, HD_CAT_MARKETING, HD_PRIO_NORMAL, "2026-01-15T12:00:00Z",
         HD_PREF_SKIP, "no_consent", "MARKETING", NULL},
        {NULL, NULL, "{\"consent\":{\"marketing\":{\"at\":\"2026-01-02T10:00:00Z\","
                     "\"source\":\"signup\"}}}",
         HD_CH_EMAIL, HD_CAT_MARKETING, HD_PRIO_NORMAL, "2026-01-15T12:00:00Z", HD_PREF_SEND,
         NULL, NULL, NULL},
        /* a channel off, at any layer; a later layer turns it back on */
        {"{\"channels\":{\"SMS\":false}}", NULL, NULL, HD_CH_SMS, HD_CAT_TRANSACTIONAL,
         HD_PRIO_URGENT, "2026-01-15T12:00:00Z", HD_PREF_SKIP, "channel_disabled", "SMS off",
         NULL},
        {"{\"channels\":{\"SMS\":false}}", NULL, "{\"channels\":{\"SMS\":true}}", HD_CH_SMS,
         HD_CAT_TRANSACTIONAL, HD_PRIO_NORMAL, "2026-01-15T12:00:00Z", HD_PREF_SEND, NULL, NULL,
         NULL},
        {NULL, "{\"categories\":{\"EMAIL\":{\"SYSTEM\":false}}}", NULL, HD_CH_EMAIL,
         HD_CAT_SYSTEM, HD_PRIO_NORMAL, "2026-01-15T12:00:00Z", HD_PREF_SKIP,
         "category_opted_out", "SYSTEM on EMAIL", NULL},
        {NULL, "{\"categories\":{\"EMAIL\":{\"SYSTEM\":false}}}", NULL, HD_CH_PUSH,
         HD_CAT_SYSTEM, HD_PRIO_NORMAL, "2026-01-15T12:00:00Z", HD_PREF_SEND, NULL, NULL, NULL},
        /* do not disturb: not URGENT, not IN_APP, until its time */
        {NULL, NULL, "{\"dnd\":{\"on\":true}}", HD_CH_EMAIL, HD_CAT_TRANSACTIONAL,
         HD_PRIO_HIGH, "2026-01-15T12:00:00Z", HD_PREF_SKIP, "dnd", "further notice", NULL},
        {NULL, NULL, "{\"dnd\":{\"on\":true}}", HD_CH_IN_APP, HD_CAT_TRANSACTIONAL,
         HD_PRIO_NORMAL, "2026-01-15T12:00:00Z", HD_PREF_SEND, NULL, NULL, NULL},
        {NULL, NULL, "{\"dnd\":{\"on\":true}}", HD_CH_SMS, HD_CAT_TRANSACTIONAL,
         HD_PRIO_URGENT, "2026-01-15T12:00:00Z", HD_PREF_SEND, NULL, NULL, NULL},
        {NULL, NULL, "{\"dnd\":{\"until\":\"2026-01-16T00:00:00Z\"}}", HD_CH_EMAIL,
         HD_CAT_TRANSACTIONAL, HD_PRIO_NORMAL, "2026-01-15T23:59:00Z", HD_PREF_SKIP, "dnd",
         "until 2026-01-16T00:00:00", NULL},
        {NULL, NULL, "{\"dnd\":{\"until\":\"2026-01-16T00:00:00Z\"}}", HD_CH_EMAIL,
         HD_CAT_TRANSACTIONAL, HD_PRIO_NORMAL, "2026-01-16T00:00:00Z", HD_PREF_SEND, NULL, NULL,
         NULL},
        /* quiet hours in the user's zone: SMS deferred to 07:00 Berlin, e-mail not */
        {NULL, NULL, NIGHT, HD_CH_SMS, HD_CAT_TRANSACTIONAL, HD_PRIO_NORMAL,
         "2026-01-15T22:30:00Z", HD_PREF_DEFER, "quiet_hours",
         "quiet hours 22:00-07:00 Europe/Berlin until 2026-01-16T07:00+01:00",
         "2026-01-16T06:00:00Z"},
        {NULL, NULL, NIGHT, HD_CH_EMAIL, HD_CAT_TRANSACTIONAL, HD_PRIO_NORMAL,
         "2026-01-15T22:30:00Z", HD_PREF_SEND, NULL, NULL, NULL},
        {NULL, NULL, NIGHT, HD_CH_PUSH, HD_CAT_TRANSACTIONAL, HD_PRIO_URGENT,
         "2026-01-15T22:30:00Z", HD_PREF_SEND, NULL, NULL, NULL},
        {NULL, NULL, NIGHT, HD_CH_PUSH, HD_CAT_ALERT, HD_PRIO_NORMAL, "2026-01-15T22:30:00Z",
         HD_PREF_SEND, NULL, NULL, NULL},
        {NULL, NULL, NIGHT, HD_CH_SMS, HD_CAT_TRANSACTIONAL, HD_PRIO_NORMAL,
         "2026-01-15T12:00:00Z", HD_PREF_SEND, NULL, NULL, NULL},
        /* the night DST begins: 07:00 CEST is 05:00Z */
        {NULL, NULL, NIGHT, HD_CH_SMS, HD_CAT_TRANSACTIONAL, HD_PRIO_NORMAL,
         "2026-03-29T01:30:00Z", HD_PREF_DEFER, "quiet_hours", "until 2026-03-29T07:00+02:00",
         "2026-03-29T05:00:00Z"},
        /* the user's channels for quiet hours replace the default set */
        {NULL, NULL,
         "{\"timezone\":\"Europe/Berlin\",\"quiet_hours\":{\"start\":\"22:00\",\"end\":\"07:00\","
         "\"channels\":[\"EMAIL\"]}}",
         HD_CH_EMAIL, HD_CAT_TRANSACTIONAL, HD_PRIO_NORMAL, "2026-01-15T22:30:00Z",
         HD_PREF_DEFER, "quiet_hours", NULL, NULL},
        {NULL, NULL,
         "{\"timezone\":\"Europe/Berlin\",\"quiet_hours\":{\"start\":\"22:00\",\"end\":\"07:00\","
         "\"channels\":[\"EMAIL\"]}}",
         HD_CH_SMS, HD_CAT_TRANSACTIONAL, HD_PRIO_NORMAL, "2026-01-15T22:30:00Z", HD_PREF_SEND,
         NULL, NULL, NULL},
        /* an unknown zone falls back to the tenant's, and the reason says so */
        {NULL, NULL,
         "{\"timezone\":\"Mars/Olympus_Mons\",\"quiet_hours\":{\"start\":\"22:00\","
         "\"end\":\"07:00\"}}",
         HD_CH_SMS, HD_CAT_TRANSACTIONAL, HD_PRIO_NORMAL, "2026-01-15T03:30:00Z", HD_PREF_DEFER,
         "quiet_hours", "America/New_York until 2026-01-15T07:00-05:00 (the user's time zone "
                        "is unknown: the tenant's)",
         "2026-01-15T12:00:00Z"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
        struct hd_prefs p;
        build(&p, cases[i].tenant, cases[i].profile, cases[i].user);
        struct hd_pref_decision d;
        hd_prefs_decide(&p, "America/New_York", cases[i].ch, cases[i].cat, cases[i].prio,
                        at(cases[i].now), &d);
        cr_expect_eq(d.verdict, cases[i].verdict, "case %zu: verdict %d (%s: %s)", i,
                     (int)d.verdict, d.code ? d.code : "-", d.reason);
        if (cases[i].code)
            cr_expect(d.code && !strcmp(d.code, cases[i].code), "case %zu: code %s", i,
                      d.code ? d.code : "NULL");
        else
            cr_expect_null(d.code, "case %zu", i);
        if (cases[i].reason)
            cr_expect(strstr(d.reason, cases[i].reason), "case %zu: \"%s\" lacks \"%s\"", i,
                      d.reason, cases[i].reason);
        if (cases[i].until)
            cr_expect_eq(d.until_ms, at(cases[i].until), "case %zu: until %lld", i,
                         (long long)d.until_ms);
    }
}

Test(prefs_rules, bad_layers_are_refused_naming_the_member)
{
    static const struct {
        const char *layer, *want;
    } cases[] = {
        {"[]", "preferences: expected an object"},
        {"{\"channels\":{\"FAX\":false}}", "channels.FAX: unknown channel"},
        {"{\"channels\":{\"SMS\":\"off\"}}", "channels.SMS: expected true or false"},
        {"{\"categories\":{\"EMAIL\":{\"PROMO\":false}}}", "categories.EMAIL.PROMO: unknown"},
        {"{\"categories\":{\"EMAIL\":false}}", "categories.EMAIL: expected an object"},
        {"{\"consent\":{\"marketing\":{\"at\":\"yesterday\"}}}", "consent.marketing.at"},
        {"{\"quiet_hours\":{\"start\":\"25:00\",\"end\":\"07:00\"}}", "quiet_hours.start"},
        {"{\"quiet_hours\":{\"start\":\"22:00\",\"end\":\"7:00\"}}", "quiet_hours.end"},
        {"{\"quiet_hours\":{\"start\":\"22:00\",\"end\":\"07:00\",\"channels\":[\"SMS\",1]}}",
         "quiet_hours.channels[1]"},
        {"{\"dnd\":{}}", "dnd: expected"},
        {"{\"dnd\":{\"until\":\"soon\"}}", "dnd.until"},
        {"{\"timezone\":7}", "timezone: expected"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
        struct hd_prefs p;
        hd_prefs_defaults(&p);
        json_t *j = json_loads(cases[i].layer, 0, NULL);
        cr_assert_not_null(j, "case %zu", i);
        char err[256] = "";
        cr_expect_eq(hd_prefs_apply(&p, j, err, sizeof(err)), -1, "case %zu accepted", i);
        cr_expect(strstr(err, cases[i].want), "case %zu: \"%s\" lacks \"%s\"", i, err,
                  cases[i].want);
        json_decref(j);
    }
}
