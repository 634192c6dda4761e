/*
 * Suppressions (the end of processors/prefs_rules.c), table-driven: hd_suppression_parse
 * reads each reason, gives a soft bounce without until its 7 days, takes times as ISO-8601
 * or epoch ms, and refuses each bad member naming it; hd_suppression_json round-trips
 * through the parser; hd_suppression_key is exactly "tenant/user" 0x1f CHANNEL 0x1f address
 * 0x1f category-or-"*"; hd_suppression_blocks matches channel, address ("*" for all), time
 * and category by reason. And the quiet-hours bypass lists of a preference layer: a list
 * replaces the default set (URGENT, ALERT), may come in a layer of its own, and an unknown
 * symbol is refused naming its index.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "core/buf.h"
#include "core/hd.h"
#include "core/time.h"
#include "processors/prefs_rules.h"
#include "schemas/records.h"

static int64_t at(const char *iso)
{
    int64_t ms;
    cr_assert_eq(hd_time_parse_iso8601(iso, &ms), 0, "%s", iso);
    return ms;
}

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    cr_assert_not_null(j, "%s: %s", text, je.text);
    return j;
}

/* 2026-01-02T10:00:00Z and 2026-01-02T10:00:00.123Z in epoch ms */
#define T0 INT64_C(1767348000000)
#define T0_123 INT64_C(1767348000123)

/* ---- hd_suppression_parse ----------------------------------------------- */

static const struct {
    const char *json;
    enum hd_channel channel;
    const char *address;
    enum hd_supp_reason reason;
    int category;
    int64_t at, until;
} valid[] = {
    {"{\"channel\": \"EMAIL\", \"address\": \"ada@example.com\", \"reason\": \"hard_bounce\","
     " \"category\": null, \"at\": \"2026-01-02T10:00:00Z\", \"until\": null}",
     HD_CH_EMAIL, "ada@example.com", HD_SUPP_HARD_BOUNCE, -1, T0, 0},
    /* a soft bounce without until lasts 7 days */
    {"{\"channel\": \"EMAIL\", \"address\": \"ada@example.com\", \"reason\": \"soft_bounce\","
     " \"at\": \"2026-01-02T10:00:00Z\"}",
     HD_CH_EMAIL, "ada@example.com", HD_SUPP_SOFT_BOUNCE, -1, T0, T0 + HD_SUPP_SOFT_MS},
    {"{\"channel\": \"EMAIL\", \"address\": \"ada@example.com\", \"reason\": \"soft_bounce\","
     " \"at\": \"2026-01-02T10:00:00Z\", \"until\": null}",
     HD_CH_EMAIL, "ada@example.com", HD_SUPP_SOFT_BOUNCE, -1, T0, T0 + HD_SUPP_SOFT_MS},
    /* ... or until its own until, ISO-8601 or epoch ms */
    {"{\"channel\": \"SMS\", \"address\": \"+4915112345678\", \"reason\": \"soft_bounce\","
     " \"at\": \"2026-01-02T10:00:00Z\", \"until\": \"2026-01-03T10:00:00Z\"}",
     HD_CH_SMS, "+4915112345678", HD_SUPP_SOFT_BOUNCE, -1, T0, T0 + 86400000},
    {"{\"channel\": \"SMS\", \"address\": \"+4915112345678\", \"reason\": \"soft_bounce\","
     " \"at\": 1767348000000, \"until\": 1767351600000}",
     HD_CH_SMS, "+4915112345678", HD_SUPP_SOFT_BOUNCE, -1, T0, T0 + 3600000},
    /* at as epoch ms, and with a fraction */
    {"{\"channel\": \"EMAIL\", \"address\": \"ada@example.com\", \"reason\": \"complaint\","
     " \"at\": 1767348000123}",
     HD_CH_EMAIL, "ada@example.com", HD_SUPP_COMPLAINT, -1, T0_123, 0},
    {"{\"channel\": \"PUSH\", \"address\": \"tok-1\", \"reason\": \"complaint\","
     " \"at\": \"2026-01-02T10:00:00.123Z\"}",
     HD_CH_PUSH, "tok-1", HD_SUPP_COMPLAINT, -1, T0_123, 0},
    {"{\"channel\": \"EMAIL\", \"address\": \"ada@example.com\", \"reason\": \"unsubscribe\","
     " \"category\": \"MARKETING\", \"at\": \"2026-01-02T10:00:00Z\"}",
     HD_CH_EMAIL, "ada@example.com", HD_SUPP_UNSUBSCRIBE, HD_CAT_MARKETING, T0, 0},
    {"{\"channel\": \"WHATSAPP\", \"address\": \"*\", \"reason\": \"unsubscribe\","
     " \"category\": null, \"at\": \"2026-01-02T12:00:00+02:00\"}",
     HD_CH_WHATSAPP, "*", HD_SUPP_UNSUBSCRIBE, -1, T0, 0},
    {"{\"channel\": \"WEBHOOK\", \"address\": \"https://h.example/x\", \"reason\": \"hard_bounce\","
     " \"at\": 0}",
     HD_CH_WEBHOOK, "https://h.example/x", HD_SUPP_HARD_BOUNCE, -1, 0, 0},
};

static void expect_fields(const struct hd_suppression *s, size_t i, const char *what)
{
    cr_expect_eq(s->channel, valid[i].channel, "%s %zu: channel %d", what, i, (int)s->channel);
    cr_expect_str_eq(s->address, valid[i].address, "%s %zu: address", what, i);
    cr_expect_eq(s->reason, valid[i].reason, "%s %zu: reason %s", what, i,
                 hd_supp_reason_name(s->reason));
    cr_expect_eq(s->category, valid[i].category, "%s %zu: category %d", what, i, s->category);
    cr_expect_eq(s->at, valid[i].at, "%s %zu: at %lld", what, i, (long long)s->at);
    cr_expect_eq(s->until, valid[i].until, "%s %zu: until %lld", what, i, (long long)s->until);
}

Test(suppressions, valid_values_parse_with_every_field)
{
    for (size_t i = 0; i < HD_ARRAY_SIZE(valid); i++) {
        json_t *v = load(valid[i].json);
        struct hd_suppression s;
        char err[256] = "";
        cr_expect_eq(hd_suppression_parse(v, &s, err, sizeof(err)), 0, "case %zu: %s", i, err);
        expect_fields(&s, i, "case");
        json_decref(v);
    }
}

Test(suppressions, reason_names)
{
    static const struct {
        enum hd_supp_reason r;
        const char *name;
    } cases[] = {
        {HD_SUPP_HARD_BOUNCE, "hard_bounce"}, {HD_SUPP_SOFT_BOUNCE, "soft_bounce"},
        {HD_SUPP_COMPLAINT, "complaint"},     {HD_SUPP_UNSUBSCRIBE, "unsubscribe"},
        {HD_SUPP__CNT, "unknown"},            {(enum hd_supp_reason)-1, "unknown"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++)
        cr_expect_str_eq(hd_supp_reason_name(cases[i].r), cases[i].name, "case %zu", i);
}

/* A valid EMAIL hard bounce with members added: `members` before "at" (each with its
 * trailing ", "), `rest` after it (each with its leading ", "). */
#define SUPP(members, rest)                                                                        \
    "{\"channel\": \"EMAIL\", \"address\": \"a@b.c\", \"reason\": \"hard_bounce\", " members       \
    "\"at\": \"2026-01-02T10:00:00Z\"" rest "}"

Test(suppressions, bad_values_are_refused_naming_the_member)
{
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"[]", "suppression: expected an object"},
        {"{\"channel\": \"FAX\", \"address\": \"a@b.c\", \"reason\": \"hard_bounce\","
         " \"at\": 0}",
         "channel: expected a channel"},
        {"{\"channel\": \"email\", \"address\": \"a@b.c\", \"reason\": \"hard_bounce\","
         " \"at\": 0}",
         "channel: "},
        {"{\"address\": \"a@b.c\", \"reason\": \"hard_bounce\", \"at\": 0}", "channel: "},
        {"{\"channel\": 1, \"address\": \"a@b.c\", \"reason\": \"hard_bounce\", \"at\": 0}",
         "channel: "},
        {"{\"channel\": \"EMAIL\", \"address\": \"\", \"reason\": \"hard_bounce\", \"at\": 0}",
         "address: expected a non-empty string"},
        {"{\"channel\": \"EMAIL\", \"reason\": \"hard_bounce\", \"at\": 0}", "address: "},
        {"{\"channel\": \"EMAIL\", \"address\": 5, \"reason\": \"hard_bounce\", \"at\": 0}",
         "address: "},
        {"{\"channel\": \"EMAIL\", \"address\": \"a\\u001fb\", \"reason\": \"hard_bounce\","
         " \"at\": 0}",
         "address: "},
        {"{\"channel\": \"EMAIL\", \"address\": \"a@b.c\", \"reason\": \"bounce\", \"at\": 0}",
         "reason: expected hard_bounce, soft_bounce, complaint or unsubscribe"},
        {"{\"channel\": \"EMAIL\", \"address\": \"a@b.c\", \"reason\": \"HARD_BOUNCE\","
         " \"at\": 0}",
         "reason: "},
        {"{\"channel\": \"EMAIL\", \"address\": \"a@b.c\", \"at\": 0}", "reason: "},
        {"{\"channel\": \"EMAIL\", \"address\": \"a@b.c\", \"reason\": \"unsubscribe\","
         " \"category\": \"PROMO\", \"at\": 0}",
         "category: unknown category"},
        {"{\"channel\": \"EMAIL\", \"address\": \"a@b.c\", \"reason\": \"unsubscribe\","
         " \"category\": 1, \"at\": 0}",
         "category: unknown category"},
        {SUPP("\"category\": \"MARKETING\", ", ""), "category: only an unsubscribe"},
        {"{\"channel\": \"EMAIL\", \"address\": \"a@b.c\", \"reason\": \"complaint\","
         " \"category\": \"MARKETING\", \"at\": 0}",
         "category: only an unsubscribe"},
        {"{\"channel\": \"EMAIL\", \"address\": \"a@b.c\", \"reason\": \"soft_bounce\","
         " \"category\": \"SYSTEM\", \"at\": 0}",
         "category: only an unsubscribe"},
        {"{\"channel\": \"EMAIL\", \"address\": \"a@b.c\", \"reason\": \"hard_bounce\","
         " \"at\": \"yesterday\"}",
         "at: expected an ISO-8601 time or epoch ms"},
        {"{\"channel\": \"EMAIL\", \"address\": \"a@b.c\", \"reason\": \"hard_bounce\"}", "at: "},
        {"{\"channel\": \"EMAIL\", \"address\": \"a@b.c\", \"reason\": \"hard_bounce\","
         " \"at\": -1}",
         "at: "},
        {"{\"channel\": \"EMAIL\", \"address\": \"a@b.c\", \"reason\": \"hard_bounce\","
         " \"at\": 1.5}",
         "at: "},
        {SUPP("", ", \"until\": \"soon\""), "until: expected an ISO-8601 time, epoch ms or null"},
        {SUPP("", ", \"until\": -5"), "until: "},
        {SUPP("", ", \"until\": true"), "until: "},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
        json_t *v = load(cases[i].json);
        const char *want = cases[i].want;
        struct hd_suppression s;
        char err[256] = "";
        cr_expect_eq(hd_suppression_parse(v, &s, err, sizeof(err)), -1, "case %zu accepted", i);
        cr_expect(!strncmp(err, want, strlen(want)), "case %zu: \"%s\" does not start \"%s\"",
                  i, err, want);
        json_decref(v);
    }
}

Test(suppressions, addresses_up_to_319_bytes_are_kept_whole_longer_ones_refused)
{
    static const size_t lens[] = {319, 320, 1000};
    for (size_t i = 0; i < HD_ARRAY_SIZE(lens); i++) {
        char *addr = hd_calloc(lens[i] + 1, 1);
        memset(addr, 'a', lens[i]);
        json_t *v = json_pack("{s:s, s:s, s:s, s:I}", "channel", "EMAIL", "address", addr,
                              "reason", "hard_bounce", "at", (json_int_t)T0);
        struct hd_suppression s;
        char err[256] = "";
        int rc = hd_suppression_parse(v, &s, err, sizeof(err));
        if (lens[i] < sizeof(s.address)) {
            cr_expect_eq(rc, 0, "%zu bytes: %s", lens[i], err);
            cr_expect_str_eq(s.address, addr, "%zu bytes", lens[i]);
        } else {
            cr_expect_eq(rc, -1, "%zu bytes accepted", lens[i]);
            cr_expect(!strncmp(err, "address: ", 9), "%zu bytes: %s", lens[i], err);
        }
        json_decref(v);
        hd_free(addr);
    }
}

/* ---- hd_suppression_json ------------------------------------------------ */

Test(suppressions, json_round_trips_through_parse)
{
    for (size_t i = 0; i < HD_ARRAY_SIZE(valid); i++) {
        json_t *v = load(valid[i].json);
        struct hd_suppression s, back;
        char err[256] = "";
        cr_assert_eq(hd_suppression_parse(v, &s, err, sizeof(err)), 0, "case %zu: %s", i, err);
        json_t *out = hd_suppression_json(&s);
        cr_assert_not_null(out, "case %zu", i);
        char *text = json_dumps(out, JSON_COMPACT);
        cr_expect_eq(hd_suppression_parse(out, &back, err, sizeof(err)), 0, "case %zu: %s: %s",
                     i, text, err);
        expect_fields(&back, i, text);
        free(text);
        json_decref(out);
        json_decref(v);
    }
}

Test(suppressions, json_has_every_member_with_null_for_none)
{
    struct hd_suppression s = {.channel = HD_CH_EMAIL, .address = "a@b.c",
                               .reason = HD_SUPP_UNSUBSCRIBE, .category = HD_CAT_MARKETING,
                               .at = T0_123, .until = 0};
    json_t *out = hd_suppression_json(&s);
    json_t *want = load("{\"channel\": \"EMAIL\", \"address\": \"a@b.c\","
                        " \"reason\": \"unsubscribe\", \"category\": \"MARKETING\","
                        " \"at\": \"2026-01-02T10:00:00.123Z\", \"until\": null}");
    char *text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
    cr_expect(json_equal(out, want), "%s", text);
    free(text);
    json_decref(out);
    json_decref(want);

    s = (struct hd_suppression){.channel = HD_CH_SMS, .address = "+4915112345678",
                                .reason = HD_SUPP_SOFT_BOUNCE, .category = -1, .at = T0,
                                .until = T0 + HD_SUPP_SOFT_MS};
    out = hd_suppression_json(&s);
    want = load("{\"channel\": \"SMS\", \"address\": \"+4915112345678\","
                " \"reason\": \"soft_bounce\", \"category\": null,"
                " \"at\": \"2026-01-02T10:00:00.000Z\", \"until\": \"2026-01-09T10:00:00.000Z\"}");
    text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
    cr_expect(json_equal(out, want), "%s", text);
    free(text);
    json_decref(out);
    json_decref(want);
}

/* ---- hd_suppression_key ------------------------------------------------- */

Test(suppressions, key_is_exact_bytes)
{
    static const struct {
        const char *tenant, *user;
        enum hd_channel ch;
        const char *address;
        int category;
        const char *want;
    } cases[] = {
        /* hex escapes are split so that no letter after \x1f is read as a hex digit */
        {"acme", "u1", HD_CH_EMAIL, "a@b", -1, "acme/u1\x1f" "EMAIL\x1f" "a@b\x1f" "*"},
        {"acme", "u1", HD_CH_EMAIL, "a@b", HD_CAT_MARKETING,
         "acme/u1\x1f" "EMAIL\x1f" "a@b\x1f" "MARKETING"},
        {"globex", "user-7", HD_CH_SMS, "*", -1, "globex/user-7\x1f" "SMS\x1f" "*\x1f" "*"},
        {"t", "u", HD_CH_IN_APP, "x", HD_CAT_TRANSACTIONAL,
         "t/u\x1f" "IN_APP\x1f" "x\x1f" "TRANSACTIONAL"},
    };
    struct hd_buf k = HD_BUF_INIT;
    hd_buf_puts(&k, "left over from before");
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
        struct hd_suppression s = {.channel = cases[i].ch, .category = cases[i].category};
        snprintf(s.address, sizeof(s.address), "%s", cases[i].address);
        hd_suppression_key(&k, cases[i].tenant, cases[i].user, &s);
        size_t n = strlen(cases[i].want);
        cr_expect_eq(k.len, n, "case %zu: %zu bytes, want %zu", i, k.len, n);
        cr_expect(k.len == n && !memcmp(k.data, cases[i].want, n), "case %zu: %.*s", i,
                  (int)k.len, k.data);
    }
    hd_buf_free(&k);
}

/* ---- hd_suppression_blocks ---------------------------------------------- */

#define NOW INT64_C(1768478400000) /* 2026-01-15T12:00:00Z */

Test(suppressions, blocks_by_channel_address_time_and_category)
{
    static const struct {
        enum hd_channel s_ch;
        const char *s_addr;
        enum hd_supp_reason reason;
        int s_cat;
        int64_t until;
        enum hd_channel ch;
        const char *addr; /* NULL: the message has none */
        enum hd_category cat;
        int want;
    } cases[] = {
        /* channel must match */
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_HARD_BOUNCE, -1, 0, HD_CH_EMAIL, "a@b.c",
         HD_CAT_TRANSACTIONAL, 1},
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_HARD_BOUNCE, -1, 0, HD_CH_SMS, "a@b.c",
         HD_CAT_TRANSACTIONAL, 0},
        {HD_CH_EMAIL, "*", HD_SUPP_HARD_BOUNCE, -1, 0, HD_CH_PUSH, "a@b.c", HD_CAT_SYSTEM, 0},
        /* address must match, or be "*" */
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_HARD_BOUNCE, -1, 0, HD_CH_EMAIL, "x@b.c",
         HD_CAT_TRANSACTIONAL, 0},
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_HARD_BOUNCE, -1, 0, HD_CH_EMAIL, "a@b.cc",
         HD_CAT_TRANSACTIONAL, 0},
        {HD_CH_EMAIL, "*", HD_SUPP_HARD_BOUNCE, -1, 0, HD_CH_EMAIL, "x@b.c",
         HD_CAT_TRANSACTIONAL, 1},
        {HD_CH_SMS, "*", HD_SUPP_COMPLAINT, -1, 0, HD_CH_SMS, "+4915112345678", HD_CAT_ALERT, 1},
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_HARD_BOUNCE, -1, 0, HD_CH_EMAIL, "*",
         HD_CAT_TRANSACTIONAL, 0},
        /* no address never blocks, not even "*" */
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_HARD_BOUNCE, -1, 0, HD_CH_EMAIL, NULL,
         HD_CAT_TRANSACTIONAL, 0},
        {HD_CH_EMAIL, "*", HD_SUPP_HARD_BOUNCE, -1, 0, HD_CH_EMAIL, NULL, HD_CAT_MARKETING, 0},
        /* a soft bounce blocks until its until, exclusive */
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_SOFT_BOUNCE, -1, NOW + 1, HD_CH_EMAIL, "a@b.c",
         HD_CAT_TRANSACTIONAL, 1},
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_SOFT_BOUNCE, -1, NOW, HD_CH_EMAIL, "a@b.c",
         HD_CAT_TRANSACTIONAL, 0},
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_SOFT_BOUNCE, -1, NOW - 1, HD_CH_EMAIL, "a@b.c",
         HD_CAT_MARKETING, 0},
        /* hard bounces and complaints block every category */
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_HARD_BOUNCE, -1, 0, HD_CH_EMAIL, "a@b.c",
         HD_CAT_MARKETING, 1},
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_HARD_BOUNCE, -1, 0, HD_CH_EMAIL, "a@b.c", HD_CAT_SYSTEM,
         1},
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_HARD_BOUNCE, -1, 0, HD_CH_EMAIL, "a@b.c", HD_CAT_ALERT,
         1},
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_COMPLAINT, -1, 0, HD_CH_EMAIL, "a@b.c",
         HD_CAT_TRANSACTIONAL, 1},
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_COMPLAINT, -1, 0, HD_CH_EMAIL, "a@b.c", HD_CAT_MARKETING,
         1},
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_COMPLAINT, -1, 0, HD_CH_EMAIL, "a@b.c", HD_CAT_SYSTEM, 1},
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_COMPLAINT, -1, 0, HD_CH_EMAIL, "a@b.c", HD_CAT_ALERT, 1},
        /* an unsubscribe from one category blocks only that one */
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_UNSUBSCRIBE, HD_CAT_MARKETING, 0, HD_CH_EMAIL, "a@b.c",
         HD_CAT_MARKETING, 1},
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_UNSUBSCRIBE, HD_CAT_MARKETING, 0, HD_CH_EMAIL, "a@b.c",
         HD_CAT_SYSTEM, 0},
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_UNSUBSCRIBE, HD_CAT_MARKETING, 0, HD_CH_EMAIL, "a@b.c",
         HD_CAT_TRANSACTIONAL, 0},
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_UNSUBSCRIBE, HD_CAT_ALERT, 0, HD_CH_EMAIL, "a@b.c",
         HD_CAT_ALERT, 1},
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_UNSUBSCRIBE, HD_CAT_TRANSACTIONAL, 0, HD_CH_EMAIL,
         "a@b.c", HD_CAT_TRANSACTIONAL, 1},
        /* an unsubscribe without a category: every category but TRANSACTIONAL */
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_UNSUBSCRIBE, -1, 0, HD_CH_EMAIL, "a@b.c",
         HD_CAT_TRANSACTIONAL, 0},
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_UNSUBSCRIBE, -1, 0, HD_CH_EMAIL, "a@b.c",
         HD_CAT_MARKETING, 1},
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_UNSUBSCRIBE, -1, 0, HD_CH_EMAIL, "a@b.c", HD_CAT_SYSTEM,
         1},
        {HD_CH_EMAIL, "a@b.c", HD_SUPP_UNSUBSCRIBE, -1, 0, HD_CH_EMAIL, "a@b.c", HD_CAT_ALERT,
         1},
        {HD_CH_EMAIL, "*", HD_SUPP_UNSUBSCRIBE, -1, 0, HD_CH_EMAIL, "x@y.z", HD_CAT_MARKETING,
         1},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
        struct hd_suppression s = {.channel = cases[i].s_ch, .reason = cases[i].reason,
                                   .category = cases[i].s_cat, .at = NOW - 3600000,
                                   .until = cases[i].until};
        snprintf(s.address, sizeof(s.address), "%s", cases[i].s_addr);
        int got = hd_suppression_blocks(&s, cases[i].ch, cases[i].addr, cases[i].cat, NOW);
        cr_expect_eq(!!got, cases[i].want, "case %zu: %s %s %s/%s on %s %s %s: %d", i,
                     hd_supp_reason_name(s.reason), hd_channel_name(s.channel), s.address,
                     s.category >= 0 ? hd_category_name(s.category) : "*",
                     hd_channel_name(cases[i].ch), cases[i].addr ? cases[i].addr : "NULL",
                     hd_category_name(cases[i].cat), got);
    }
}

Test(suppressions, a_parsed_soft_bounce_lapses_after_seven_days)
{
    json_t *v = load("{\"channel\": \"EMAIL\", \"address\": \"a@b.c\", \"reason\": "
                     "\"soft_bounce\", \"at\": \"2026-01-02T10:00:00Z\"}");
    struct hd_suppression s;
    char err[256] = "";
    cr_assert_eq(hd_suppression_parse(v, &s, err, sizeof(err)), 0, "%s", err);
    cr_expect(hd_suppression_blocks(&s, HD_CH_EMAIL, "a@b.c", HD_CAT_TRANSACTIONAL,
                                    at("2026-01-09T09:59:59.999Z")));
    cr_expect_not(hd_suppression_blocks(&s, HD_CH_EMAIL, "a@b.c", HD_CAT_TRANSACTIONAL,
                                        at("2026-01-09T10:00:00Z")));
    json_decref(v);
}

/* ---- quiet-hours bypass lists ------------------------------------------- */

#define WINDOW "{\"quiet_hours\": {\"start\": \"22:00\", \"end\": \"07:00\"}}"
#define BYPASS_HIGH                                                                                \
    "{\"quiet_hours\": {\"bypass_priorities\": [\"HIGH\"], \"bypass_categories\": []}}"

/* Built-in defaults, then each non-NULL layer. */
static void build(struct hd_prefs *p, const char *const layers[3])
{
    hd_prefs_defaults(p);
    for (size_t i = 0; i < 3; i++) {
        if (!layers[i])
            continue;
        json_t *j = load(layers[i]);
        char err[256] = "";
        cr_assert_eq(hd_prefs_apply(p, j, err, sizeof(err)), 0, "layer %zu: %s", i, err);
        json_decref(j);
    }
}

Test(suppressions, quiet_hours_bypass_lists_replace_the_defaults)
{
    static const struct {
        const char *layers[3];
        enum hd_channel ch;
        enum hd_category cat;
        enum hd_priority prio;
        const char *now;
        enum hd_pref_verdict verdict;
        const char *until; /* DEFER: the window's end */
    } cases[] = {
        /* the defaults: URGENT and ALERT go through, the rest waits */
        {{WINDOW}, HD_CH_SMS, HD_CAT_TRANSACTIONAL, HD_PRIO_URGENT, "2026-01-15T23:00:00Z",
         HD_PREF_SEND, NULL},
        {{WINDOW}, HD_CH_SMS, HD_CAT_ALERT, HD_PRIO_NORMAL, "2026-01-15T23:00:00Z", HD_PREF_SEND,
         NULL},
        {{WINDOW}, HD_CH_SMS, HD_CAT_TRANSACTIONAL, HD_PRIO_HIGH, "2026-01-15T23:00:00Z",
         HD_PREF_DEFER, "2026-01-16T07:00:00Z"},
        {{WINDOW}, HD_CH_PUSH, HD_CAT_SYSTEM, HD_PRIO_NORMAL, "2026-01-16T06:59:59Z",
         HD_PREF_DEFER, "2026-01-16T07:00:00Z"},
        /* a layer with only the lists, then one with the window: HIGH goes through, URGENT
         * and ALERT no longer do */
        {{BYPASS_HIGH, WINDOW}, HD_CH_SMS, HD_CAT_TRANSACTIONAL, HD_PRIO_HIGH,
         "2026-01-15T23:00:00Z", HD_PREF_SEND, NULL},
        {{BYPASS_HIGH, WINDOW}, HD_CH_SMS, HD_CAT_TRANSACTIONAL, HD_PRIO_URGENT,
         "2026-01-15T23:00:00Z", HD_PREF_DEFER, "2026-01-16T07:00:00Z"},
        {{BYPASS_HIGH, WINDOW}, HD_CH_PUSH, HD_CAT_ALERT, HD_PRIO_NORMAL,
         "2026-01-15T23:00:00Z", HD_PREF_DEFER, "2026-01-16T07:00:00Z"},
        {{BYPASS_HIGH, WINDOW}, HD_CH_SMS, HD_CAT_TRANSACTIONAL, HD_PRIO_NORMAL,
         "2026-01-15T23:00:00Z", HD_PREF_DEFER, "2026-01-16T07:00:00Z"},
        /* outside the window, and on a channel without quiet hours, everything is sent */
        {{BYPASS_HIGH, WINDOW}, HD_CH_SMS, HD_CAT_ALERT, HD_PRIO_URGENT, "2026-01-15T12:00:00Z",
         HD_PREF_SEND, NULL},
        {{BYPASS_HIGH, WINDOW}, HD_CH_EMAIL, HD_CAT_ALERT, HD_PRIO_NORMAL,
         "2026-01-15T23:00:00Z", HD_PREF_SEND, NULL},
        /* the lists after the window: the window stays */
        {{WINDOW, BYPASS_HIGH}, HD_CH_SMS, HD_CAT_TRANSACTIONAL, HD_PRIO_HIGH,
         "2026-01-15T23:00:00Z", HD_PREF_SEND, NULL},
        {{WINDOW, BYPASS_HIGH}, HD_CH_SMS, HD_CAT_TRANSACTIONAL, HD_PRIO_URGENT,
         "2026-01-15T23:00:00Z", HD_PREF_DEFER, "2026-01-16T07:00:00Z"},
        /* one list given leaves the other's default */
        {{WINDOW, "{\"quiet_hours\": {\"bypass_categories\": [\"SYSTEM\"]}}"}, HD_CH_SMS,
         HD_CAT_SYSTEM, HD_PRIO_NORMAL, "2026-01-15T23:00:00Z", HD_PREF_SEND, NULL},
        {{WINDOW, "{\"quiet_hours\": {\"bypass_categories\": [\"SYSTEM\"]}}"}, HD_CH_SMS,
         HD_CAT_ALERT, HD_PRIO_NORMAL, "2026-01-15T23:00:00Z", HD_PREF_DEFER,
         "2026-01-16T07:00:00Z"},
        {{WINDOW, "{\"quiet_hours\": {\"bypass_categories\": [\"SYSTEM\"]}}"}, HD_CH_SMS,
         HD_CAT_ALERT, HD_PRIO_URGENT, "2026-01-15T23:00:00Z", HD_PREF_SEND, NULL},
        /* a later layer's list replaces an earlier one's */
        {{BYPASS_HIGH, WINDOW, "{\"quiet_hours\": {\"bypass_priorities\": [\"LOW\"]}}"},
         HD_CH_SMS, HD_CAT_TRANSACTIONAL, HD_PRIO_HIGH, "2026-01-15T23:00:00Z", HD_PREF_DEFER,
         "2026-01-16T07:00:00Z"},
        {{BYPASS_HIGH, WINDOW, "{\"quiet_hours\": {\"bypass_priorities\": [\"LOW\"]}}"},
         HD_CH_SMS, HD_CAT_TRANSACTIONAL, HD_PRIO_LOW, "2026-01-15T23:00:00Z", HD_PREF_SEND,
         NULL},
        /* lists and window in one layer */
        {{"{\"quiet_hours\": {\"start\": \"22:00\", \"end\": \"07:00\","
          " \"bypass_priorities\": [], \"bypass_categories\": [\"MARKETING\", \"ALERT\"]}}"},
         HD_CH_SMS, HD_CAT_ALERT, HD_PRIO_NORMAL, "2026-01-15T23:00:00Z", HD_PREF_SEND, NULL},
        {{"{\"quiet_hours\": {\"start\": \"22:00\", \"end\": \"07:00\","
          " \"bypass_priorities\": [], \"bypass_categories\": [\"MARKETING\", \"ALERT\"]}}"},
         HD_CH_SMS, HD_CAT_TRANSACTIONAL, HD_PRIO_URGENT, "2026-01-15T23:00:00Z", HD_PREF_DEFER,
         "2026-01-16T07:00:00Z"},
        /* lists without any window defer nothing */
        {{BYPASS_HIGH}, HD_CH_SMS, HD_CAT_TRANSACTIONAL, HD_PRIO_NORMAL, "2026-01-15T23:00:00Z",
         HD_PREF_SEND, NULL},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
        struct hd_prefs p;
        build(&p, cases[i].layers);
        struct hd_pref_decision d;
        hd_prefs_decide(&p, "UTC", cases[i].ch, cases[i].cat, cases[i].prio, at(cases[i].now),
                        &d);
        cr_expect_eq(d.verdict, cases[i].verdict, "case %zu: verdict %d (%s: %s)", i,
                     (int)d.verdict, d.code ? d.code : "-", d.reason);
        if (cases[i].verdict == HD_PREF_DEFER) {
            cr_expect(d.code && !strcmp(d.code, "quiet_hours"), "case %zu: code %s", i,
                      d.code ? d.code : "NULL");
            cr_expect_eq(d.until_ms, at(cases[i].until), "case %zu: until %lld", i,
                         (long long)d.until_ms);
        } else {
            cr_expect_null(d.code, "case %zu: code %s", i, d.code);
        }
    }
}

Test(suppressions, bad_bypass_lists_are_refused_naming_the_member)
{
    static const struct {
        const char *layer, *want;
    } cases[] = {
        {"{\"quiet_hours\": {\"bypass_priorities\": [\"SOON\"]}}",
         "quiet_hours.bypass_priorities[0]: unknown symbol"},
        {"{\"quiet_hours\": {\"bypass_priorities\": [\"urgent\"]}}",
         "quiet_hours.bypass_priorities[0]"},
        {"{\"quiet_hours\": {\"bypass_priorities\": [\"HIGH\", 3]}}",
         "quiet_hours.bypass_priorities[1]: unknown symbol"},
        {"{\"quiet_hours\": {\"bypass_priorities\": \"HIGH\"}}",
         "quiet_hours.bypass_priorities: expected an array"},
        {"{\"quiet_hours\": {\"bypass_categories\": [\"PROMO\"]}}",
         "quiet_hours.bypass_categories[0]: unknown symbol"},
        {"{\"quiet_hours\": {\"bypass_categories\": [\"ALERT\", null]}}",
         "quiet_hours.bypass_categories[1]"},
        {"{\"quiet_hours\": {\"bypass_categories\": {\"ALERT\": true}}}",
         "quiet_hours.bypass_categories: expected an array"},
        /* start and end go together */
        {"{\"quiet_hours\": {\"start\": \"22:00\", \"bypass_priorities\": [\"HIGH\"]}}",
         "quiet_hours.end"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
        struct hd_prefs p;
        hd_prefs_defaults(&p);
        json_t *j = load(cases[i].layer);
        char err[256] = "";
        cr_expect_eq(hd_prefs_apply(&p, j, err, sizeof(err)), -1, "case %zu accepted", i);
        cr_expect(strstr(err, cases[i].want), "case %zu: \"%s\" lacks \"%s\"", i, err,
                  cases[i].want);
        json_decref(j);
    }
}
