/*
 * User profiles (processors/profile.c), table-driven: hd_profile_check accepts a full
 * profile and refuses each bad member with an error naming it; hd_profile_merge completes
 * the request's recipient member by member (what the request gives wins, an empty profile
 * string fills nothing, push tokens only when the request has none) and returns the merged
 * user (the profile's members, the recipient's over them, "id" the request's user id);
 * hd_profile_missing names the recipient member each channel needs and lacks.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stddef.h>
#include <string.h>

#include "core/hd.h"
#include "processors/profile.h"
#include "schemas/records.h"

static const char FULL[] =
    "{\"id\": \"u1\", \"email\": \"ada@example.com\", \"phone\": \"+4915112345678\","
    " \"push_tokens\": [{\"platform\": \"ios\", \"token\": \"tok-1\"}, \"tok-2\"],"
    " \"locale\": \"de-DE\", \"timezone\": \"Europe/Berlin\", \"first_name\": \"Ada\","
    " \"last_name\": \"Lovelace\", \"user_type\": \"customer\","
    " \"webhook_url\": \"https://hooks.example.com/u1\", \"chat\": {\"slack\": \"U123\"},"
    " \"preferences\": {\"channels\": {\"SMS\": false}}}";

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    cr_assert_not_null(j, "%s: %s", text, je.text);
    return j;
}

static char *dup_or_null(const char *s)
{
    return s ? hd_strdup(s) : NULL;
}

/* ---- hd_profile_check --------------------------------------------------- */

Test(profile, valid_profiles_pass)
{
    static const char *const cases[] = {
        FULL,
        "{\"id\": \"u1\"}",
        /* null members are absent members */
        "{\"id\": \"u1\", \"email\": null, \"phone\": null, \"push_tokens\": null,"
        " \"preferences\": null, \"chat\": null}",
        "{\"id\": \"u1\", \"push_tokens\": []}",
        /* platform is optional; members Herald does not know are allowed */
        "{\"id\": \"u1\", \"push_tokens\": [{\"token\": \"t\"}], \"plan\": \"gold\"}",
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
        json_t *p = load(cases[i]);
        char err[256] = "";
        cr_expect_eq(hd_profile_check(p, err, sizeof(err)), 0, "case %zu refused: %s", i, err);
        json_decref(p);
    }
}

Test(profile, each_bad_member_is_refused_naming_it)
{
    static const struct {
        const char *profile, *want;
    } cases[] = {
        {"{\"id\": 7}", "id: expected a string"},
        {"{\"id\": \"u1\", \"email\": true}", "email: expected a string"},
        {"{\"id\": \"u1\", \"first_name\": [\"Ada\"]}", "first_name: expected a string"},
        {"{\"id\": \"u1\", \"phone\": \"12345\"}", "phone: expected E.164"},
        {"{\"id\": \"u1\", \"phone\": \"+49 151 1234\"}", "phone: expected E.164"},
        {"{\"id\": \"u1\", \"push_tokens\": \"tok\"}", "push_tokens: expected an array"},
        {"{\"id\": \"u1\", \"push_tokens\": {\"token\": \"t\"}}",
         "push_tokens: expected an array"},
        {"{\"id\": \"u1\", \"push_tokens\": [{\"token\": \"t\"}, {\"platform\": \"ios\"}]}",
         "push_tokens[1].token: expected a string"},
        {"{\"id\": \"u1\", \"push_tokens\": [\"t\", 42]}", "push_tokens[1].token"},
        {"{\"id\": \"u1\", \"push_tokens\": [{\"token\": 5}]}", "push_tokens[0].token"},
        {"{\"id\": \"u1\", \"push_tokens\": [{\"token\": \"t\", \"platform\": 1}]}",
         "push_tokens[0].platform: expected a string"},
        {"{\"id\": \"u1\", \"preferences\": [1]}", "preferences: expected an object"},
        {"{\"id\": \"u1\", \"preferences\": \"none\"}", "preferences: expected an object"},
        {"{\"id\": \"u1\", \"chat\": \"U123\"}", "chat: expected an object"},
        {"[]", "profile: expected an object"},
        {"\"u1\"", "profile: expected an object"},
        {"null", "profile: expected an object"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
        json_t *p = load(cases[i].profile);
        char err[256] = "";
        cr_expect_eq(hd_profile_check(p, err, sizeof(err)), -1, "case %zu (%s) accepted", i,
                     cases[i].profile);
        cr_expect(strstr(err, cases[i].want), "case %zu: \"%s\" lacks \"%s\"", i, err,
                  cases[i].want);
        json_decref(p);
    }
}

Test(profile, check_of_a_non_object_without_an_error_buffer_is_safe)
{
    json_t *p = load("[]");
    cr_expect_eq(hd_profile_check(p, NULL, 0), -1);
    cr_expect_eq(hd_profile_check(NULL, NULL, 0), -1);
    json_decref(p);
}

/* ---- hd_profile_merge: the recipient ------------------------------------ */

static const struct {
    const char *name;
    size_t off;
} string_members[] = {
    {"email", offsetof(struct hd_recipient, email)},
    {"phone", offsetof(struct hd_recipient, phone)},
    {"locale", offsetof(struct hd_recipient, locale)},
    {"timezone", offsetof(struct hd_recipient, timezone)},
    {"webhook_url", offsetof(struct hd_recipient, webhook_url)},
};

static char **member(struct hd_recipient *rc, size_t off)
{
    return (char **)((char *)rc + off);
}

Test(profile, the_request_wins_member_by_member_and_null_ones_are_filled)
{
    static const struct {
        const char *req;     /* the request's value (NULL: null) */
        const char *profile; /* the profile's value (NULL: member absent) */
        const char *want;    /* the recipient's after the merge */
    } cases[] = {
        {"from-request", "from-profile", "from-request"},
        {NULL, "from-profile", "from-profile"},
        {"from-request", NULL, "from-request"},
        {NULL, NULL, NULL},
        {NULL, "", NULL}, /* an empty profile string fills nothing */
    };
    for (size_t m = 0; m < HD_ARRAY_SIZE(string_members); m++) {
        for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
            struct hd_request r = {0};
            r.user_id = hd_strdup("u1");
            r.recipient = hd_calloc(1, sizeof(*r.recipient));
            *member(r.recipient, string_members[m].off) = dup_or_null(cases[i].req);
            json_t *profile = json_object();
            if (cases[i].profile)
                json_object_set_new(profile, string_members[m].name,
                                    json_string(cases[i].profile));
            json_t *user = hd_profile_merge(&r, profile);
            cr_assert_not_null(user);
            const char *got = *member(r.recipient, string_members[m].off);
            if (cases[i].want) {
                cr_expect(got && !strcmp(got, cases[i].want), "%s case %zu: %s",
                          string_members[m].name, i, got ? got : "NULL");
                cr_expect_str_eq(json_string_value(json_object_get(user, string_members[m].name)),
                                 cases[i].want, "%s case %zu: user", string_members[m].name, i);
            } else {
                cr_expect_null(got, "%s case %zu: %s", string_members[m].name, i,
                               got ? got : "");
            }
            /* the other members stay null */
            for (size_t o = 0; o < HD_ARRAY_SIZE(string_members); o++)
                if (o != m)
                    cr_expect_null(*member(r.recipient, string_members[o].off),
                                   "%s case %zu: %s set", string_members[m].name, i,
                                   string_members[o].name);
            json_decref(user);
            json_decref(profile);
            hd_request_clear(&r);
        }
    }
}

Test(profile, a_full_profile_completes_a_request_with_only_an_email)
{
    struct hd_request r = {0};
    r.user_id = hd_strdup("u1");
    r.recipient = hd_calloc(1, sizeof(*r.recipient));
    r.recipient->email = hd_strdup("given@example.com");
    r.recipient->locale = hd_strdup("en-GB");
    json_t *profile = load(FULL);
    json_t *user = hd_profile_merge(&r, profile);
    cr_assert_not_null(user);
    const struct hd_recipient *rc = r.recipient;
    cr_expect_str_eq(rc->email, "given@example.com");
    cr_expect_str_eq(rc->phone, "+4915112345678");
    cr_expect_str_eq(rc->locale, "en-GB");
    cr_expect_str_eq(rc->timezone, "Europe/Berlin");
    cr_expect_str_eq(rc->webhook_url, "https://hooks.example.com/u1");
    cr_assert_eq(rc->push_token_cnt, 2);
    cr_expect_str_eq(rc->push_tokens[0], "tok-1");
    cr_expect_str_eq(rc->push_tokens[1], "tok-2");
    /* the profile itself is not changed by the merge */
    cr_expect_str_eq(json_string_value(json_object_get(profile, "email")), "ada@example.com");
    cr_expect_str_eq(json_string_value(json_object_get(profile, "locale")), "de-DE");
    json_decref(user);
    json_decref(profile);
    hd_request_clear(&r);
}

Test(profile, push_tokens_come_from_the_profile_only_when_the_request_has_none)
{
    static const struct {
        const char *req[2]; /* the request's tokens (NULL-terminated) */
        const char *profile;
        const char *want[4]; /* NULL-terminated */
    } cases[] = {
        {{NULL}, "{\"push_tokens\": [{\"platform\": \"ios\", \"token\": \"p1\"}, \"p2\"]}",
         {"p1", "p2", NULL}},
        {{NULL}, "{\"push_tokens\": [\"p1\"]}", {"p1", NULL}},
        {{NULL}, "{\"push_tokens\": [{\"platform\": \"android\", \"token\": \"p1\"}]}",
         {"p1", NULL}},
        {{"r1", NULL}, "{\"push_tokens\": [\"p1\", \"p2\"]}", {"r1", NULL}},
        /* empty tokens are dropped */
        {{NULL}, "{\"push_tokens\": [\"\", {\"token\": \"\"}, \"p3\"]}", {"p3", NULL}},
        {{NULL}, "{\"push_tokens\": []}", {NULL}},
        {{NULL}, "{\"push_tokens\": null}", {NULL}},
        {{NULL}, "{\"email\": \"a@b.c\"}", {NULL}},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
        struct hd_request r = {0};
        r.user_id = hd_strdup("u1");
        r.recipient = hd_calloc(1, sizeof(*r.recipient));
        size_t nreq = 0;
        while (nreq < HD_ARRAY_SIZE(cases[i].req) && cases[i].req[nreq])
            nreq++;
        if (nreq) {
            r.recipient->push_tokens = hd_calloc(nreq, sizeof(char *));
            for (size_t k = 0; k < nreq; k++)
                r.recipient->push_tokens[k] = hd_strdup(cases[i].req[k]);
            r.recipient->push_token_cnt = nreq;
        }
        json_t *profile = load(cases[i].profile);
        json_t *user = hd_profile_merge(&r, profile);
        cr_assert_not_null(user);
        size_t want = 0;
        while (cases[i].want[want])
            want++;
        cr_expect_eq(r.recipient->push_token_cnt, want, "case %zu: %zu tokens", i,
                     r.recipient->push_token_cnt);
        for (size_t k = 0; k < want && k < r.recipient->push_token_cnt; k++)
            cr_expect_str_eq(r.recipient->push_tokens[k], cases[i].want[k], "case %zu [%zu]", i,
                             k);
        json_decref(user);
        json_decref(profile);
        hd_request_clear(&r);
    }
}

Test(profile, a_request_without_a_recipient_gets_one_from_the_profile)
{
    struct hd_request r = {0};
    r.user_id = hd_strdup("u1");
    json_t *profile = load(FULL);
    json_t *user = hd_profile_merge(&r, profile);
    cr_assert_not_null(user);
    cr_assert_not_null(r.recipient, "no recipient made");
    cr_expect_str_eq(r.recipient->email, "ada@example.com");
    cr_expect_str_eq(r.recipient->phone, "+4915112345678");
    cr_expect_str_eq(r.recipient->locale, "de-DE");
    cr_expect_str_eq(r.recipient->timezone, "Europe/Berlin");
    cr_expect_str_eq(r.recipient->webhook_url, "https://hooks.example.com/u1");
    cr_expect_eq(r.recipient->push_token_cnt, 2);
    json_decref(user);
    json_decref(profile);
    hd_request_clear(&r);
}

/* ---- hd_profile_merge: the merged user ---------------------------------- */

Test(profile, the_merged_user_is_the_profile_with_the_recipient_over_it)
{
    struct hd_request r = {0};
    r.user_id = hd_strdup("u1");
    r.recipient = hd_calloc(1, sizeof(*r.recipient));
    r.recipient->email = hd_strdup("given@example.com");
    r.recipient->timezone = hd_strdup("America/New_York");
    json_t *profile = load("{\"id\": \"someone-else\", \"email\": \"ada@example.com\","
                           " \"phone\": \"+4915112345678\", \"timezone\": \"Europe/Berlin\","
                           " \"first_name\": \"Ada\", \"user_type\": \"customer\","
                           " \"plan\": \"gold\","
                           " \"preferences\": {\"channels\": {\"SMS\": false}}}");
    json_t *user = hd_profile_merge(&r, profile);
    json_t *want = load("{\"id\": \"u1\", \"email\": \"given@example.com\","
                        " \"phone\": \"+4915112345678\", \"timezone\": \"America/New_York\","
                        " \"first_name\": \"Ada\", \"user_type\": \"customer\","
                        " \"plan\": \"gold\", \"preferences\": {\"channels\": {\"SMS\": false}}}");
    cr_assert_not_null(user);
    char *got = json_dumps(user, JSON_SORT_KEYS | JSON_COMPACT);
    cr_expect(json_equal(user, want), "merged user %s", got);
    free(got);
    /* a copy: changing the user leaves the profile alone */
    json_object_set_new(json_object_get(user, "preferences"), "x", json_true());
    cr_expect_null(json_object_get(json_object_get(profile, "preferences"), "x"));
    json_decref(want);
    json_decref(user);
    json_decref(profile);
    hd_request_clear(&r);
}

Test(profile, merge_without_a_profile_is_the_recipient_and_the_id)
{
    static const struct {
        const char *email, *phone, *locale, *timezone, *webhook_url;
        int no_recipient;
        const char *want;
    } cases[] = {
        {"a@b.c", NULL, "en", NULL, NULL, 0, "{\"email\": \"a@b.c\", \"locale\": \"en\","
                                             " \"id\": \"u1\"}"},
        {"a@b.c", "+4915112345678", "en", "UTC", "https://h.example/x", 0,
         "{\"email\": \"a@b.c\", \"phone\": \"+4915112345678\", \"locale\": \"en\","
         " \"timezone\": \"UTC\", \"webhook_url\": \"https://h.example/x\", \"id\": \"u1\"}"},
        {NULL, NULL, NULL, NULL, NULL, 0, "{\"id\": \"u1\"}"},
        {NULL, NULL, NULL, NULL, NULL, 1, "{\"id\": \"u1\"}"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
        /* no profile, and a profile that is not an object, are the same */
        for (int bad = 0; bad < 2; bad++) {
            struct hd_request r = {0};
            r.user_id = hd_strdup("u1");
            if (!cases[i].no_recipient) {
                r.recipient = hd_calloc(1, sizeof(*r.recipient));
                r.recipient->email = dup_or_null(cases[i].email);
                r.recipient->phone = dup_or_null(cases[i].phone);
                r.recipient->locale = dup_or_null(cases[i].locale);
                r.recipient->timezone = dup_or_null(cases[i].timezone);
                r.recipient->webhook_url = dup_or_null(cases[i].webhook_url);
            }
            json_t *profile = bad ? json_array() : NULL;
            json_t *user = hd_profile_merge(&r, profile);
            json_t *want = load(cases[i].want);
            cr_assert_not_null(user, "case %zu", i);
            char *got = json_dumps(user, JSON_SORT_KEYS | JSON_COMPACT);
            cr_expect(json_equal(user, want), "case %zu/%d: %s", i, bad, got);
            free(got);
            if (cases[i].no_recipient)
                cr_expect_null(r.recipient, "case %zu/%d: a recipient was made", i, bad);
            json_decref(want);
            json_decref(user);
            json_decref(profile);
            hd_request_clear(&r);
        }
    }
}

/* ---- hd_profile_missing ------------------------------------------------- */

enum rc_kind { RC_NONE, RC_EMPTY, RC_BLANK, RC_FULL };

static void make_recipient(struct hd_recipient *rc, enum rc_kind k)
{
    memset(rc, 0, sizeof(*rc));
    if (k == RC_BLANK) {
        rc->email = hd_strdup("");
        rc->phone = hd_strdup("");
        rc->webhook_url = hd_strdup("");
    } else if (k == RC_FULL) {
        rc->email = hd_strdup("a@b.c");
        rc->phone = hd_strdup("+4915112345678");
        rc->webhook_url = hd_strdup("https://h.example/x");
        rc->push_tokens = hd_calloc(1, sizeof(char *));
        rc->push_tokens[0] = hd_strdup("tok");
        rc->push_token_cnt = 1;
    }
}

Test(profile, missing_names_the_member_each_channel_needs)
{
    static const struct {
        enum rc_kind rc;
        enum hd_channel ch;
        const char *want; /* NULL: nothing missing */
    } cases[] = {
        /* no recipient at all */
        {RC_NONE, HD_CH_EMAIL, "recipient.email"},
        {RC_NONE, HD_CH_SMS, "recipient.phone"},
        {RC_NONE, HD_CH_WHATSAPP, "recipient.phone"},
        {RC_NONE, HD_CH_PUSH, "recipient.push_tokens"},
        {RC_NONE, HD_CH_WEBHOOK, "recipient.webhook_url"},
        {RC_NONE, HD_CH_CHAT, NULL},
        {RC_NONE, HD_CH_IN_APP, NULL},
        /* a recipient with every member null */
        {RC_EMPTY, HD_CH_EMAIL, "recipient.email"},
        {RC_EMPTY, HD_CH_SMS, "recipient.phone"},
        {RC_EMPTY, HD_CH_WHATSAPP, "recipient.phone"},
        {RC_EMPTY, HD_CH_PUSH, "recipient.push_tokens"},
        {RC_EMPTY, HD_CH_WEBHOOK, "recipient.webhook_url"},
        {RC_EMPTY, HD_CH_CHAT, NULL},
        {RC_EMPTY, HD_CH_IN_APP, NULL},
        /* empty strings count as absent */
        {RC_BLANK, HD_CH_EMAIL, "recipient.email"},
        {RC_BLANK, HD_CH_SMS, "recipient.phone"},
        {RC_BLANK, HD_CH_WHATSAPP, "recipient.phone"},
        {RC_BLANK, HD_CH_WEBHOOK, "recipient.webhook_url"},
        {RC_BLANK, HD_CH_CHAT, NULL},
        {RC_BLANK, HD_CH_IN_APP, NULL},
        /* everything there */
        {RC_FULL, HD_CH_EMAIL, NULL},
        {RC_FULL, HD_CH_SMS, NULL},
        {RC_FULL, HD_CH_WHATSAPP, NULL},
        {RC_FULL, HD_CH_PUSH, NULL},
        {RC_FULL, HD_CH_WEBHOOK, NULL},
        {RC_FULL, HD_CH_CHAT, NULL},
        {RC_FULL, HD_CH_IN_APP, NULL},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
        struct hd_recipient rc;
        make_recipient(&rc, cases[i].rc);
        const char *got = hd_profile_missing(cases[i].rc == RC_NONE ? NULL : &rc, cases[i].ch);
        if (cases[i].want)
            cr_expect(got && !strcmp(got, cases[i].want), "case %zu (%s): %s", i,
                      hd_channel_name(cases[i].ch), got ? got : "NULL");
        else
            cr_expect_null(got, "case %zu (%s): %s", i, hd_channel_name(cases[i].ch),
                           got ? got : "");
        hd_recipient_clear(&rc);
    }
}

Test(profile, missing_push_tokens_counts_tokens_not_the_array)
{
    /* an allocated but empty token list is still no token */
    struct hd_recipient rc = {0};
    rc.push_tokens = hd_calloc(1, sizeof(char *));
    cr_expect_str_eq(hd_profile_missing(&rc, HD_CH_PUSH), "recipient.push_tokens");
    hd_recipient_clear(&rc);
}
