/*
 * The template store (templates/template_store.c): immutable versions and
 * replays, the active pointer and the highest-version rule, explicit versions,
 * the locale fallback chain, per-channel parts and their escaping, channel
 * limits after render, errors that name template/version/locale/part/line/
 * column, and renders on one thread while another puts and deletes.
 *
 * Documents are written with ' for " to keep them readable.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/hd.h"
#include "templates/channel_limits.h"
#include "templates/template_store.h"

/* Parses a document written with ' for ". Caller decrefs. */
static json_t *doc(const char *text)
{
    char *s = hd_strdup(text);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t jerr;
    json_t *j = json_loads(s, 0, &jerr);
    cr_assert_not_null(j, "bad test JSON (%s): %s", jerr.text, s);
    hd_free(s);
    return j;
}

/* Puts a document; returns the code with err filled. */
static int put(struct hd_tpl_store *s, const char *text, char *err, size_t err_size)
{
    json_t *j = doc(text);
    err[0] = '\0';
    int rc = hd_tpl_store_put(s, j, err, err_size);
    json_decref(j);
    return rc;
}

static void put_ok(struct hd_tpl_store *s, const char *text)
{
    char err[512];
    cr_assert_eq(put(s, text, err, sizeof(err)), HD_OK, "put refused: %s", err);
}

struct req {
    const char *key;
    int version; /* 0: the active one */
    const char *locale, *tenant_locale, *timezone;
    enum hd_channel channel;
    const char *data; /* written with ' */
};

static struct hd_tpl_renderer *renderer;

static void setup(void)
{
    renderer = hd_tpl_renderer_new();
}

static void teardown(void)
{
    hd_tpl_renderer_destroy(renderer);
}

/* Renders into out (cleared by the caller); returns the code with err filled. */
static int render(struct hd_tpl_store *s, const struct req *q, struct hd_content *out, char *err,
                  size_t err_size)
{
    json_t *data = doc(q->data ? q->data : "{}");
    struct hd_tpl_store_req r = {
        .tenant = "acme",
        .key = q->key ? q->key : "welcome",
        .has_version = q->version != 0,
        .version = q->version,
        .locale = q->locale,
        .tenant_locale = q->tenant_locale,
        .timezone = q->timezone,
        .channel = q->channel,
        .data = data,
        .now_ms = INT64_C(1795456513000),
    };
    memset(out, 0, sizeof(*out));
    err[0] = '\0';
    int rc = hd_tpl_store_render(s, renderer, &r, out, err, err_size);
    json_decref(data);
    return rc;
}

/* Renders one channel and returns its text part (text, or what the channel puts there) as
 * a new string; the test fails on a render error. */
static char *render_text(struct hd_tpl_store *s, const struct req *q)
{
    struct hd_content c;
    char err[512];
    int rc = render(s, q, &c, err, sizeof(err));
    cr_assert_eq(rc, HD_OK, "render failed: %s", err);
    char *t = hd_strdup(c.text);
    hd_content_clear(&c);
    return t;
}

static int starts_with(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

static void expect_text(struct hd_tpl_store *s, const struct req *q, const char *want)
{
    char *got = render_text(s, q);
    cr_expect_str_eq(got, want);
    hd_free(got);
}

#define SMS_VERSION(n, text)                                                                       \
    "{'tenant_id':'acme','key':'welcome','version':" #n ",'locales':{'en':{'sms':{'text':'" text   \
    "'}}}}"

TestSuite(template_store, .init = setup, .fini = teardown);

/* ---- versions ---------------------------------------------------------------------- */

Test(template_store, a_version_is_immutable_and_the_stored_one_is_kept)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    put_ok(s, SMS_VERSION(1, "first"));
    char err[512];
    cr_expect_eq(put(s, SMS_VERSION(1, "changed"), err, sizeof(err)), HD_ERR_INVALID);
    cr_expect(strstr(err, "template \"welcome\" version 1 already exists with other content"), "%s",
              err);
    cr_expect_eq(hd_tpl_store_count(s), 1);
    expect_text(s, &(struct req){.channel = HD_CH_SMS}, "first");
    hd_tpl_store_destroy(s);
}

Test(template_store, putting_an_equal_version_again_is_a_noop)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    for (int i = 0; i < 3; i++)
        put_ok(s, SMS_VERSION(1, "hello {{name}}"));
    cr_expect_eq(hd_tpl_store_count(s), 1);
    expect_text(s, &(struct req){.channel = HD_CH_SMS, .data = "{'name':'Ann'}"}, "hello Ann");
    hd_tpl_store_destroy(s);
}

Test(template_store, highest_version_is_active_without_a_pointer)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    put_ok(s, SMS_VERSION(2, "two"));
    put_ok(s, SMS_VERSION(10, "ten"));
    put_ok(s, SMS_VERSION(3, "three")); /* out of order, as a topic may deliver them */
    expect_text(s, &(struct req){.channel = HD_CH_SMS}, "ten");
    cr_expect_eq(hd_tpl_store_count(s), 3);
    hd_tpl_store_destroy(s);
}

Test(template_store, active_pointer_chooses_the_version_until_it_is_deleted)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    put_ok(s, "{'tenant_id':'acme','key':'welcome','active_version':2}"); /* before v2 lands */
    put_ok(s, SMS_VERSION(1, "one"));
    char err[512];
    struct hd_content c;
    cr_expect_eq(render(s, &(struct req){.channel = HD_CH_SMS}, &c, err, sizeof(err)),
                 HD_ERR_NOTFOUND);
    cr_expect_str_eq(err, "template \"welcome\" active version 2 not found");
    put_ok(s, SMS_VERSION(2, "two"));
    put_ok(s, SMS_VERSION(3, "three"));
    expect_text(s, &(struct req){.channel = HD_CH_SMS}, "two");
    hd_tpl_store_delete(s, "acme", "welcome", -1);
    expect_text(s, &(struct req){.channel = HD_CH_SMS}, "three");
    hd_tpl_store_destroy(s);
}

Test(template_store, explicit_version_wins_over_the_pointer)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    put_ok(s, SMS_VERSION(1, "one"));
    put_ok(s, SMS_VERSION(2, "two"));
    put_ok(s, "{'tenant_id':'acme','key':'welcome','active_version':2}");
    expect_text(s, &(struct req){.channel = HD_CH_SMS, .version = 1}, "one");
    char err[512];
    struct hd_content c;
    cr_expect_eq(render(s, &(struct req){.channel = HD_CH_SMS, .version = 7}, &c, err, sizeof(err)),
                 HD_ERR_NOTFOUND);
    cr_expect_str_eq(err, "template \"welcome\" version 7 not found");
    hd_tpl_store_destroy(s);
}

Test(template_store, deleting_a_version_forgets_it_and_the_last_one_the_template)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    put_ok(s, SMS_VERSION(1, "one"));
    put_ok(s, SMS_VERSION(2, "two"));
    hd_tpl_store_delete(s, "acme", "welcome", 2);
    expect_text(s, &(struct req){.channel = HD_CH_SMS}, "one");
    hd_tpl_store_delete(s, "acme", "welcome", 1);
    hd_tpl_store_delete(s, "acme", "nothing", 1);
    cr_expect_eq(hd_tpl_store_count(s), 0);
    char err[512];
    struct hd_content c;
    cr_expect_eq(render(s, &(struct req){.channel = HD_CH_SMS}, &c, err, sizeof(err)),
                 HD_ERR_NOTFOUND);
    cr_expect_str_eq(err, "template \"welcome\" not found for tenant \"acme\"");
    /* gone for good: the number may be used again with other content */
    put_ok(s, SMS_VERSION(1, "one again"));
    expect_text(s, &(struct req){.channel = HD_CH_SMS}, "one again");
    hd_tpl_store_destroy(s);
}

Test(template_store, tenants_do_not_see_each_others_templates)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    put_ok(s, "{'tenant_id':'globex','key':'welcome','version':1,"
              "'locales':{'en':{'sms':{'text':'globex'}}}}");
    char err[512];
    struct hd_content c;
    cr_expect_eq(render(s, &(struct req){.channel = HD_CH_SMS}, &c, err, sizeof(err)),
                 HD_ERR_NOTFOUND);
    hd_tpl_store_destroy(s);
}

/* ---- locales ----------------------------------------------------------------------- */

#define LOCALIZED                                                                                  \
    "{'tenant_id':'acme','key':'welcome','version':1,'locales':{"                                  \
    "'en':{'sms':{'text':'en'},'chat':{'text':'en'}},"                                             \
    "'fr':{'sms':{'text':'fr'},'chat':{'text':'fr'}},"                                             \
    "'fr-CA':{'sms':{'text':'fr-CA'}},"                                                            \
    "'es':{'sms':{'text':'es'}}}}"

Test(template_store, locale_falls_back_region_language_tenant_default_then_en)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    put_ok(s, LOCALIZED);
    struct req q = {.channel = HD_CH_SMS, .tenant_locale = "es"};
    q.locale = "fr-CA";
    expect_text(s, &q, "fr-CA");
    q.locale = "fr-BE"; /* region -> language */
    expect_text(s, &q, "fr");
    q.locale = "de-AT"; /* -> tenant default */
    expect_text(s, &q, "es");
    q.tenant_locale = "it"; /* -> en */
    expect_text(s, &q, "en");
    q.locale = NULL, q.tenant_locale = "es-MX"; /* the tenant default is cut the same way */
    expect_text(s, &q, "es");
    hd_tpl_store_destroy(s);
}

Test(template_store, locale_match_ignores_case_and_underscores)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    put_ok(s, LOCALIZED);
    expect_text(s, &(struct req){.channel = HD_CH_SMS, .locale = "FR_ca"}, "fr-CA");
    hd_tpl_store_destroy(s);
}

Test(template_store, fallback_skips_locales_without_the_channel)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    put_ok(s, LOCALIZED);
    /* fr-CA has no chat part: its language has one */
    expect_text(s, &(struct req){.channel = HD_CH_CHAT, .locale = "fr-CA"}, "fr");
    /* es has no chat part and neither has the default: en */
    expect_text(s, &(struct req){.channel = HD_CH_CHAT, .locale = "es", .tenant_locale = "es"},
                "en");
    hd_tpl_store_destroy(s);
}

Test(template_store, numbers_and_dates_format_in_the_tag_that_matched)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    put_ok(s, "{'tenant_id':'acme','key':'welcome','version':1,"
              "'locales':{'fr':{'sms':{'text':'{{formatDate d \\'short\\'}}'}}}}");
    const char *data = "{'d':'2026-03-04T10:00:00Z'}";
    /* Canada writes dates year first (CLDR 42) even though the words are plain fr */
    expect_text(s, &(struct req){.channel = HD_CH_SMS, .locale = "fr-CA", .data = data},
                "2026-03-04");
    expect_text(s, &(struct req){.channel = HD_CH_SMS, .locale = "fr", .data = data}, "04/03/2026");
    hd_tpl_store_destroy(s);
}

Test(template_store, timezone_of_the_request_applies)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    put_ok(s, "{'tenant_id':'acme','key':'welcome','version':1,"
              "'locales':{'en':{'sms':{'text':'{{formatTime t \\'short\\'}}'}}}}");
    char *got = render_text(s, &(struct req){.channel = HD_CH_SMS,
                                             .locale = "en-GB",
                                             .timezone = "Asia/Tokyo",
                                             .data = "{'t':'2026-03-04T10:00:00Z'}"});
    cr_expect_str_eq(got, "19:00");
    hd_free(got);
    hd_tpl_store_destroy(s);
}

/* ---- parts and escaping ------------------------------------------------------------ */

#define ALL_CHANNELS                                                                               \
    "{'tenant_id':'acme','key':'welcome','version':1,'locales':{'en':{"                            \
    "'email':{'subject':'S {{v}}','text':'T {{v}}','html':'<p>{{v}}</p>'},"                        \
    "'sms':{'text':'sms {{v}}'},"                                                                  \
    "'push':{'title':'PT {{v}}','body':'PB {{v}}'},"                                               \
    "'chat':{'text':'chat {{v}}'},"                                                                \
    "'whatsapp':{'text':'wa {{v}}'},"                                                              \
    "'in_app':{'title':'IT {{v}}','text':'IX {{v}}'},"                                             \
    "'webhook':{'body':'{\\'v\\': \\'{{v}}\\'}'}}}}"

static void expect_parts(struct hd_tpl_store *s, enum hd_channel ch, const char *subject,
                         const char *text, const char *html, const char *title)
{
    struct hd_content c;
    char err[512];
    json_t *data = json_pack("{s:s}", "v", "<a & \"b\">");
    struct hd_tpl_store_req r = {.tenant = "acme", .key = "welcome", .channel = ch, .data = data};
    memset(&c, 0, sizeof(c));
    cr_assert_eq(hd_tpl_store_render(s, renderer, &r, &c, err, sizeof(err)), HD_OK, "%s: %s",
                 hd_channel_name(ch), err);
    const char *got[] = {c.subject, c.text, c.html, c.title};
    const char *want[] = {subject, text, html, title};
    static const char *const names[] = {"subject", "text", "html", "title"};
    for (int i = 0; i < 4; i++) {
        if (!want[i])
            cr_expect_null(got[i], "%s %s: \"%s\"", hd_channel_name(ch), names[i], got[i]);
        else
            cr_expect(got[i] && !strcmp(got[i], want[i]), "%s %s: \"%s\", want \"%s\"",
                      hd_channel_name(ch), names[i], got[i] ? got[i] : "(null)", want[i]);
    }
    hd_content_clear(&c);
    json_decref(data);
}

Test(template_store, each_channel_renders_its_parts_into_content_with_its_escaping)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    put_ok(s, ALL_CHANNELS);
    const char *v = "<a & \"b\">";
    char buf[8][64];
    snprintf(buf[0], 64, "S %s", v);
    snprintf(buf[1], 64, "T %s", v);
    expect_parts(s, HD_CH_EMAIL, buf[0], buf[1], "<p>&lt;a &amp; &quot;b&quot;&gt;</p>", NULL);
    snprintf(buf[2], 64, "sms %s", v);
    expect_parts(s, HD_CH_SMS, NULL, buf[2], NULL, NULL);
    snprintf(buf[3], 64, "PB %s", v);
    snprintf(buf[4], 64, "PT %s", v);
    expect_parts(s, HD_CH_PUSH, NULL, buf[3], NULL, buf[4]);
    snprintf(buf[5], 64, "chat %s", v);
    expect_parts(s, HD_CH_CHAT, NULL, buf[5], NULL, NULL);
    snprintf(buf[6], 64, "wa %s", v);
    expect_parts(s, HD_CH_WHATSAPP, NULL, buf[6], NULL, NULL);
    snprintf(buf[7], 64, "IX %s", v);
    snprintf(buf[0], 64, "IT %s", v);
    expect_parts(s, HD_CH_IN_APP, NULL, buf[7], NULL, buf[0]);
    expect_parts(s, HD_CH_WEBHOOK, NULL, "{\"v\": \"<a & \\\"b\\\">\"}", NULL, NULL);
    hd_tpl_store_destroy(s);
}

Test(template_store, optional_parts_stay_null)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    put_ok(s, "{'tenant_id':'acme','key':'welcome','version':1,'locales':{'en':{"
              "'email':{'subject':'Hi','html':'<b>x</b>'},'push':{'body':'B'}}}}");
    json_t *data = json_object();
    struct hd_tpl_store_req r = {
        .tenant = "acme", .key = "welcome", .channel = HD_CH_EMAIL, .data = data};
    struct hd_content c;
    char err[512];
    cr_assert_eq(hd_tpl_store_render(s, renderer, &r, &c, err, sizeof(err)), HD_OK, "%s", err);
    cr_expect_str_eq(c.subject, "Hi");
    cr_expect_null(c.text);
    cr_expect_str_eq(c.html, "<b>x</b>");
    hd_content_clear(&c);
    r.channel = HD_CH_PUSH;
    cr_assert_eq(hd_tpl_store_render(s, renderer, &r, &c, err, sizeof(err)), HD_OK, "%s", err);
    cr_expect_null(c.title);
    cr_expect_str_eq(c.text, "B");
    hd_content_clear(&c);
    json_decref(data);
    hd_tpl_store_destroy(s);
}

Test(template_store, triple_mustache_is_never_escaped_even_in_html)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    put_ok(s, "{'tenant_id':'acme','key':'welcome','version':1,'locales':{'en':{"
              "'email':{'subject':'x','html':'{{{raw}}}|{{raw}}'}}}}");
    json_t *data = json_pack("{s:s}", "raw", "<br>");
    struct hd_tpl_store_req r = {
        .tenant = "acme", .key = "welcome", .channel = HD_CH_EMAIL, .data = data};
    struct hd_content c;
    char err[512];
    cr_assert_eq(hd_tpl_store_render(s, renderer, &r, &c, err, sizeof(err)), HD_OK, "%s", err);
    cr_expect_str_eq(c.html, "<br>|&lt;br&gt;");
    hd_content_clear(&c);
    json_decref(data);
    hd_tpl_store_destroy(s);
}

Test(template_store, partials_come_from_the_document)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    put_ok(s, "{'tenant_id':'acme','key':'welcome','version':1,"
              "'partials':{'sig':'-- {{team}}','wrap':'[{{>sig}}]'},"
              "'locales':{'en':{'sms':{'text':'Hi {{name}} {{>wrap}}{{>absent}}'}}}}");
    expect_text(s, &(struct req){.channel = HD_CH_SMS, .data = "{'name':'Ann','team':'Acme'}"},
                "Hi Ann [-- Acme]");
    hd_tpl_store_destroy(s);
}

Test(template_store, missing_channel_part_is_notfound_naming_the_locales_tried)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    put_ok(s, LOCALIZED);
    char err[512];
    struct hd_content c;
    cr_expect_eq(
        render(s, &(struct req){.channel = HD_CH_EMAIL, .locale = "fr-CA", .tenant_locale = "es"},
               &c, err, sizeof(err)),
        HD_ERR_NOTFOUND);
    cr_expect_str_eq(err, "template \"welcome\" version 1 has no email part in locale \"fr-CA\", "
                          "the tenant default \"es\" or \"en\"");
    cr_expect_null(c.text);
    hd_tpl_store_destroy(s);
}

/* ---- limits ------------------------------------------------------------------------ */

Test(template_store, sms_over_the_segment_limit_is_a_render_error)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    put_ok(s, SMS_VERSION(1, "{{body}}"));
    char big[160 * 11];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    json_t *data = json_pack("{s:s}", "body", big);
    struct hd_tpl_store_req r = {
        .tenant = "acme", .key = "welcome", .channel = HD_CH_SMS, .data = data};
    struct hd_content c;
    char err[512];
    cr_expect_eq(hd_tpl_store_render(s, renderer, &r, &c, err, sizeof(err)), HD_ERR_INVALID);
    cr_expect(starts_with(err, "template \"welcome\" version 1 locale \"en\" part sms.text: "),
              "%s", err);
    cr_expect(strstr(err, "segments"), "%s", err);
    cr_expect_null(c.text);
    /* one under the limit passes: 10 segments of 153 */
    big[153 * 10] = '\0';
    json_object_set_new(data, "body", json_string(big));
    cr_expect_eq(hd_tpl_store_render(s, renderer, &r, &c, err, sizeof(err)), HD_OK, "%s", err);
    hd_content_clear(&c);
    json_decref(data);
    hd_tpl_store_destroy(s);
}

Test(template_store, limits_can_be_set_per_store)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    struct hd_channel_limits l;
    hd_channel_limits_default(&l);
    l.sms_max_segments = 1;
    hd_tpl_store_set_limits(s, &l);
    put_ok(s, SMS_VERSION(1, "{{body}}"));
    char err[512];
    struct hd_content c;
    char data[256];
    snprintf(data, sizeof(data), "{'body':'%0161d'}", 0);
    cr_expect_eq(render(s, &(struct req){.channel = HD_CH_SMS, .data = data}, &c, err, sizeof(err)),
                 HD_ERR_INVALID, "161 characters are two segments");
    hd_tpl_store_destroy(s);
}

Test(template_store, push_title_and_body_are_cut_with_an_ellipsis)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    put_ok(s, "{'tenant_id':'acme','key':'welcome','version':1,'locales':{'en':{"
              "'push':{'title':'{{t}}','body':'{{b}}'}}}}");
    char t[100], b[300];
    memset(t, 'T', 99), t[99] = '\0';
    memset(b, 'B', 299), b[299] = '\0';
    json_t *data = json_pack("{s:s,s:s}", "t", t, "b", b);
    struct hd_tpl_store_req r = {
        .tenant = "acme", .key = "welcome", .channel = HD_CH_PUSH, .data = data};
    struct hd_content c;
    char err[512];
    cr_assert_eq(hd_tpl_store_render(s, renderer, &r, &c, err, sizeof(err)), HD_OK, "%s", err);
    char want_t[100], want_b[300];
    snprintf(want_t, sizeof(want_t), "%.64s…", t);
    snprintf(want_b, sizeof(want_b), "%.239s…", b);
    cr_expect_str_eq(c.title, want_t);
    cr_expect_str_eq(c.text, want_b);
    hd_content_clear(&c);
    json_decref(data);
    hd_tpl_store_destroy(s);
}

Test(template_store, email_subject_with_a_line_break_is_a_render_error)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    put_ok(s, "{'tenant_id':'acme','key':'welcome','version':1,'locales':{'en':{"
              "'email':{'subject':'Re: {{s}}','text':'x'}}}}");
    char err[512];
    struct hd_content c;
    cr_expect_eq(
        render(s,
               &(struct req){.channel = HD_CH_EMAIL, .data = "{'s':'a\\r\\nBcc: x@example.com'}"},
               &c, err, sizeof(err)),
        HD_ERR_INVALID);
    cr_expect(strstr(err, "part email.subject: "), "%s", err);
    cr_expect_null(c.subject);
    cr_expect_null(c.text);
    hd_tpl_store_destroy(s);
}

/* ---- errors ------------------------------------------------------------------------ */

Test(template_store, compile_error_at_put_names_template_locale_part_line_and_column)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    char err[512];
    cr_expect_eq(put(s,
                     "{'tenant_id':'acme','key':'welcome','version':4,'locales':{'fr':{"
                     "'email':{'subject':'ok','html':'<p>\\n  {{#items}}x</p>'}}}}",
                     err, sizeof(err)),
                 HD_ERR_INVALID);
    cr_expect(starts_with(err, "template \"welcome\" version 4 locale \"fr\" part email.html: "
                               "template 'email.html' line 2, column 3: "),
              "%s", err);
    cr_expect_eq(hd_tpl_store_count(s), 0, "a refused version is not stored");
    hd_tpl_store_destroy(s);
}

Test(template_store, a_partial_that_does_not_compile_is_refused_naming_it)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    char err[512];
    cr_expect_eq(put(s,
                     "{'tenant_id':'acme','key':'welcome','version':1,"
                     "'partials':{'footer':'{{/oops}}'},"
                     "'locales':{'en':{'sms':{'text':'x'}}}}",
                     err, sizeof(err)),
                 HD_ERR_INVALID);
    cr_expect(starts_with(err, "template \"welcome\" version 1: partial \"footer\": template "
                               "'footer' line 1, column 1: "),
              "%s", err);
    hd_tpl_store_destroy(s);
}

Test(template_store, documents_of_the_wrong_shape_are_refused_naming_the_field)
{
    static const struct {
        const char *doc, *err;
    } cases[] = {
        {"{'key':'welcome','version':1,'locales':{}}",
         "a template needs \"tenant_id\" and \"key\" (non-empty strings)"},
        {"{'tenant_id':'acme','key':'welcome','version':0,'locales':{}}",
         "template \"welcome\": version: expected an integer >= 1"},
        {"{'tenant_id':'acme','key':'welcome'}",
         "template \"welcome\": needs either \"version\" (with \"locales\") or "
         "\"active_version\""},
        {"{'tenant_id':'acme','key':'welcome','version':1,'locales':{}}",
         "template \"welcome\" version 1: locales: expected an object with at least one locale"},
        {"{'tenant_id':'acme','key':'welcome','version':1,'locales':{'en':{'fax':{}}}}",
         "template \"welcome\" version 1: locales.en.fax: unknown channel"},
        {"{'tenant_id':'acme','key':'welcome','version':1,'locales':{'en':{'sms':{'txt':'x'}}}}",
         "template \"welcome\" version 1: locales.en.sms.txt: unknown part"},
        {"{'tenant_id':'acme','key':'welcome','version':1,'locales':{'en':{'sms':{'text':1}}}}",
         "template \"welcome\" version 1: locales.en.sms.text: expected a string"},
        {"{'tenant_id':'acme','key':'welcome','version':1,"
         "'locales':{'en':{'email':{'text':'x'}}}}",
         "template \"welcome\" version 1: locales.en.email: needs subject"},
        {"{'tenant_id':'acme','key':'welcome','version':1,"
         "'locales':{'en':{'email':{'subject':'x'}}}}",
         "template \"welcome\" version 1: locales.en.email: needs text or html"},
        {"{'tenant_id':'acme','key':'welcome','version':1,"
         "'locales':{'en':{'push':{'title':'x'}}}}",
         "template \"welcome\" version 1: locales.en.push: needs body"},
        {"{'tenant_id':'acme','key':'welcome','version':1,'locales':{'e n':{}}}",
         "template \"welcome\" version 1: locales.e n: not a locale tag"},
        {"{'tenant_id':'acme','key':'welcome','version':1,'strict':'yes',"
         "'locales':{'en':{'sms':{'text':'x'}}}}",
         "template \"welcome\" version 1: strict: expected true or false"},
    };
    struct hd_tpl_store *s = hd_tpl_store_new();
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
        char err[512];
        cr_expect_eq(put(s, cases[i].doc, err, sizeof(err)), HD_ERR_INVALID, "case %zu", i);
        cr_expect_str_eq(err, cases[i].err, "case %zu", i);
    }
    cr_expect_eq(hd_tpl_store_count(s), 0);
    hd_tpl_store_destroy(s);
}

Test(template_store, strict_by_default_a_missing_variable_is_an_error_naming_it)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    put_ok(s, "{'tenant_id':'acme','key':'welcome','version':1,'locales':{'en':{'sms':{"
              "'text':'Hi {{name}}\\n{{#if coupon}}{{coupon}}{{/if}}{{order.id}}'}}}}");
    char err[512];
    struct hd_content c;
    cr_expect_eq(render(s, &(struct req){.channel = HD_CH_SMS, .data = "{'name':'Ann'}"}, &c, err,
                        sizeof(err)),
                 HD_ERR_INVALID);
    cr_expect_str_eq(err, "template \"welcome\" version 1 locale \"en\" part sms.text: template "
                          "'sms.text' line 2, column 32: missing variable \"order.id\" (strict "
                          "mode)");
    hd_tpl_store_destroy(s);
}

Test(template_store, strict_false_renders_a_missing_variable_empty)
{
    struct hd_tpl_store *s = hd_tpl_store_new();
    put_ok(s, "{'tenant_id':'acme','key':'welcome','version':1,'strict':false,"
              "'locales':{'en':{'sms':{'text':'Hi {{name}}!'}}}}");
    expect_text(s, &(struct req){.channel = HD_CH_SMS}, "Hi !");
    hd_tpl_store_destroy(s);
}

/* ---- threads ----------------------------------------------------------------------- */

struct race {
    struct hd_tpl_store *s;
    int stop; /* atomic */
};

struct worker {
    struct race *x;
    int renders, failures;
};

static void *render_loop(void *arg)
{
    struct worker *w = arg;
    struct hd_tpl_renderer *r = hd_tpl_renderer_new();
    json_t *data = json_pack("{s:s}", "name", "Ann");
    while (!__atomic_load_n(&w->x->stop, __ATOMIC_ACQUIRE) || w->renders < 200) {
        struct hd_tpl_store_req q = {.tenant = "acme",
                                     .key = "welcome",
                                     .locale = "fr-CA",
                                     .channel = HD_CH_SMS,
                                     .data = data};
        struct hd_content c;
        char err[512];
        int rc = hd_tpl_store_render(w->x->s, r, &q, &c, err, sizeof(err));
        /* every version says "v<N> Ann" in French; a torn read would not */
        if (rc != HD_OK || c.text[0] != 'v' || !strstr(c.text, " Ann"))
            w->failures++;
        hd_content_clear(&c);
        w->renders++;
    }
    json_decref(data);
    hd_tpl_renderer_destroy(r);
    return NULL;
}

Test(template_store, renders_run_while_another_thread_puts_and_deletes)
{
    struct race x = {.s = hd_tpl_store_new()};
    put_ok(x.s, "{'tenant_id':'acme','key':'welcome','version':1,"
                "'locales':{'fr':{'sms':{'text':'v1 {{name}}'}}}}");
    pthread_t th[2];
    struct worker w[2] = {{&x, 0, 0}, {&x, 0, 0}};
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, render_loop, &w[i]), 0);
    char text[512];
    for (int v = 2; v <= 60; v++) {
        snprintf(text, sizeof(text),
                 "{'tenant_id':'acme','key':'welcome','version':%d,'partials':{'p':'{{name}}'},"
                 "'locales':{'fr':{'sms':{'text':'v%d {{>p}}'}},'en':{'sms':{'text':'x'}}}}",
                 v, v);
        put_ok(x.s, text);
        snprintf(text, sizeof(text), "{'tenant_id':'acme','key':'welcome','active_version':%d}", v);
        put_ok(x.s, text);
        hd_tpl_store_delete(x.s, "acme", "welcome", v - 1); /* maybe while it renders */
    }
    __atomic_store_n(&x.stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(w[i].failures, 0, "thread %d: %d of %d renders failed", i, w[i].failures,
                     w[i].renders);
    }
    cr_expect_eq(hd_tpl_store_count(x.s), 1);
    hd_tpl_store_destroy(x.s);
}
