/*
 * The render processor (processors/render.c) through the probe: a NotificationRequest,
 * Avro-encoded and decoded as the runtime does, rendered from the templates of the config
 * document (template store: active version, locale fallback, escaping by part, channel
 * limits, strict variables) or sent with its inline content. Checks each channel's Dispatch
 * on herald.dispatch.<channel> and its QUEUED status (ids, fields, rendered parts, headers),
 * the render context, and the ERROR codes: template_not_found, render_failed,
 * invalid_variables, duplicate_channel, with nothing emitted for any channel. Last, a
 * rendered IN_APP Dispatch handed to the dispatch processor becomes the inbox item.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors/kafka.h"
#include "core/config.h"
#include "core/hd.h"
#include "core/uuid.h"
#include "processors/probe.h"
#include "processors/registry.h"
#include "schemas/records.h"
#include "schemas/serde.h"
#include "tables/tables.h"

#define NOW_MS INT64_C(1795456513000)
#define CREATED_MS INT64_C(1795456500000)
#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"

/* acme (default locale de) has "order" in versions 1 and 2 with the active pointer on 1,
 * and templates that fail in one way each; globex (no default locale) has "greet". */
static const char CONFIG[] =
    "{\"tenants\": [{\"tenant_id\": \"acme\", \"default_locale\": \"de\"},"
    "               {\"tenant_id\": \"globex\"}],"
    " \"templates\": ["
    "  {\"tenant_id\": \"acme\", \"key\": \"order\", \"version\": 1, \"locales\": {"
    "    \"en\": {\"email\": {\"subject\": \"Order {{order_id}}\","
    "                       \"text\": \"Hello {{name}} <{{recipient.email}}>\","
    "                       \"html\": \"<p>{{name}}</p>\"},"
    "            \"sms\": {\"text\": \"Order {{order_id}} for {{user_id}} of {{tenant_id}}\"},"
    "            \"push\": {\"title\": \"{{title}}\", \"body\": \"Order {{order_id}}\"},"
    "            \"in_app\": {\"title\": \"Order {{order_id}}\", \"text\": \"Thanks {{name}}\"},"
    "            \"webhook\": {\"body\": \"{\\\"name\\\": \\\"{{name}}\\\", "
    "\\\"req\\\": \\\"{{request_id}}\\\"}\"}},"
    "    \"fr\": {\"email\": {\"subject\": \"Commande {{order_id}}\","
    "                       \"text\": \"Bonjour {{name}}\"}},"
    "    \"de\": {\"sms\": {\"text\": \"Bestellung {{order_id}}\"}}}},"
    "  {\"tenant_id\": \"acme\", \"key\": \"order\", \"version\": 2, \"locales\": {"
    "    \"en\": {\"email\": {\"subject\": \"V2 {{order_id}}\", \"text\": \"v2\"}}}},"
    "  {\"tenant_id\": \"acme\", \"key\": \"order\", \"active_version\": 1},"
    "  {\"tenant_id\": \"acme\", \"key\": \"dangling\", \"version\": 1, \"locales\": {"
    "    \"en\": {\"in_app\": {\"text\": \"x\"}}}},"
    "  {\"tenant_id\": \"acme\", \"key\": \"dangling\", \"active_version\": 5},"
    "  {\"tenant_id\": \"acme\", \"key\": \"strict\", \"version\": 1, \"locales\": {"
    "    \"en\": {\"in_app\": {\"text\": \"fine\"},"
    "            \"email\": {\"subject\": \"Hi {{customer.first_name}}\", \"text\": \"x\"}}}},"
    "  {\"tenant_id\": \"acme\", \"key\": \"lenient\", \"version\": 1, \"strict\": false,"
    "   \"locales\": {\"en\": {\"email\": {\"subject\": \"Hi {{nobody}}!\", \"text\": \"x\"}}}},"
    "  {\"tenant_id\": \"acme\", \"key\": \"free\", \"version\": 1, \"locales\": {"
    "    \"en\": {\"sms\": {\"text\": \"{{text}}\"},"
    "            \"email\": {\"subject\": \"{{subject}}\", \"text\": \"t\"}}}},"
    "  {\"tenant_id\": \"acme\", \"key\": \"fr_only\", \"version\": 1, \"locales\": {"
    "    \"fr\": {\"email\": {\"subject\": \"Salut\", \"text\": \"x\"}}}},"
    "  {\"tenant_id\": \"globex\", \"key\": \"greet\", \"version\": 1, \"locales\": {"
    "    \"en\": {\"in_app\": {\"text\": \"hi\"}}, \"de\": {\"in_app\": {\"text\": \"hallo\"}}}}"
    " ]}";

static struct hd_config cfg;
static struct hd_tables *tables;
static struct hd_probe *probe;
static void *renderer;
static struct hd_buf bytes = HD_BUF_INIT;
static struct hd_envelope env;
static struct hd_record rec;

/* The request under test, built field by field on static storage. */
static struct hd_request req;
static enum hd_channel chans[HD_CH__CNT + 1];
static struct hd_template_ref tref;
static struct hd_recipient rcpt;
static struct hd_content inline_content;

static void setup(void)
{
    char err[512] = "";
    memset(&cfg, 0, sizeof(cfg));
    memset(&rec, 0, sizeof(rec));
    tables = hd_tables_parse(CONFIG, err, sizeof(err));
    cr_assert_not_null(tables, "config: %s", err);
    probe = hd_probe_new(&cfg, tables, NOW_MS, err, sizeof(err));
    cr_assert_not_null(probe, "%s", err);
    struct hd_task_env te = {.config = &cfg, .tables = tables};
    cr_assert_eq(hd_proc_render.init(&renderer, &te, err, sizeof(err)), 0, "%s", err);
    cr_assert_not_null(renderer);

    memset(&req, 0, sizeof(req));
    memset(&tref, 0, sizeof(tref));
    memset(&rcpt, 0, sizeof(rcpt));
    memset(&inline_content, 0, sizeof(inline_content));
    req.request_id = "req-1";
    req.tenant_id = "acme";
    req.user_id = "u-1";
    req.channels = chans;
    req.category = HD_CAT_TRANSACTIONAL;
    req.priority = HD_PRIO_NORMAL;
    req.variables_json = "{\"order_id\": \"o-1\", \"name\": \"Ada\", \"title\": \"Shipped\"}";
    req.created_at = CREATED_MS;
    tref.key = "order";
    req.template_ref = &tref;
    rcpt.email = "ada@example.com"; /* order's email text needs it */
    req.recipient = &rcpt;
}

static void teardown(void)
{
    hd_probe_record_clear(&rec);
    hd_buf_free(&bytes);
    hd_proc_render.exit(renderer);
    hd_probe_destroy(probe);
    hd_tables_destroy(tables);
    hd_config_clear(&cfg);
    hd_map_clear(&req.metadata);
    hd_map_clear(&inline_content.data);
}

TestSuite(render, .init = setup, .fini = teardown);

/* The request's channels: n of them, then the list. */
static void channels(size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        chans[i] = (enum hd_channel)va_arg(ap, int);
    va_end(ap);
    req.channel_cnt = n;
}

/* Encodes req, decodes it as the runtime would and renders it (outputs of the last run are
 * dropped first). */
static enum hd_verdict render_with(const struct hd_headers *h)
{
    char err[512] = "";
    hd_probe_record_clear(&rec);
    memset(&rec, 0, sizeof(rec));
    hd_probe_clear(probe);
    hd_buf_reset(&bytes);
    cr_assert_eq(hd_request_encode(hd_probe_serde(probe), &req, &bytes, err, sizeof(err)), 0,
                 "%s", err);
    memset(&env, 0, sizeof(env));
    env.topic = HD_TOPIC_REQUESTS;
    env.partition = 1;
    env.offset = 5;
    env.key = "acme/u-1";
    env.key_len = 8;
    env.value = bytes.data;
    env.value_len = bytes.len;
    env.timestamp_ms = -1;
    env.headers = h;
    cr_assert_eq(hd_probe_decode(probe, HD_PAYLOAD_REQUEST, &env, &rec, err, sizeof(err)), 0,
                 "%s", err);
    return hd_probe_run(probe, &hd_proc_render, renderer, &rec);
}

static enum hd_verdict render(void)
{
    return render_with(NULL);
}

/* Output i decoded as a Dispatch (clear with hd_dispatch_clear). */
static void dispatch_at(size_t i, struct hd_dispatch *d)
{
    char err[512] = "";
    const struct hd_probe_output *o = hd_probe_output(probe, i);
    cr_assert_not_null(o, "no output %zu of %zu", i, hd_probe_output_count(probe));
    memset(d, 0, sizeof(*d));
    cr_assert_eq(hd_dispatch_decode(hd_probe_serde(probe), o->value, o->value_len, d, err,
                                    sizeof(err)),
                 0, "output %zu (%s): %s", i, o->topic, err);
}

static void status_at(size_t i, struct hd_status_event *ev)
{
    char err[512] = "";
    const struct hd_probe_output *o = hd_probe_output(probe, i);
    cr_assert_not_null(o, "no output %zu of %zu", i, hd_probe_output_count(probe));
    memset(ev, 0, sizeof(*ev));
    cr_assert_eq(hd_status_event_decode(hd_probe_serde(probe), o->value, o->value_len, ev, err,
                                        sizeof(err)),
                 0, "output %zu (%s): %s", i, o->topic, err);
}

/* Renders a one-channel request that must pass, and returns its rendered content in *d. */
static void render_one(enum hd_channel ch, struct hd_dispatch *d)
{
    channels(1, ch);
    cr_assert_eq(render(), HD_PASS, "%s: %s", hd_probe_code(probe), hd_probe_reason(probe));
    cr_assert_eq(hd_probe_output_count(probe), 2);
    dispatch_at(0, d);
}

/* An ERROR with `code` whose reason holds `want`, and nothing emitted. */
static void expect_error(const char *code, const char *want)
{
    cr_expect_eq(render(), HD_ERROR, "%s", hd_probe_reason(probe));
    cr_expect_str_eq(hd_probe_code(probe), code, "%s", hd_probe_reason(probe));
    cr_expect(strstr(hd_probe_reason(probe), want), "reason \"%s\" lacks \"%s\"",
              hd_probe_reason(probe), want);
    cr_expect_eq(hd_probe_output_count(probe), 0, "no channel is sent");
}

/* ---- outputs: one Dispatch and one QUEUED status per channel ----------------------- */

Test(render, each_channel_gets_a_dispatch_on_its_topic_then_a_queued_status)
{
    channels(5, HD_CH_EMAIL, HD_CH_SMS, HD_CH_PUSH, HD_CH_IN_APP, HD_CH_WEBHOOK);
    cr_assert_eq(render(), HD_PASS, "%s: %s", hd_probe_code(probe), hd_probe_reason(probe));
    static const char *const topics[] = {"email", "sms", "push", "in_app", "webhook"};
    cr_assert_eq(hd_probe_output_count(probe), 10);
    for (size_t i = 0; i < 5; i++) {
        char want[64];
        snprintf(want, sizeof(want), "herald.dispatch.%s", topics[i]);
        cr_expect_str_eq(hd_probe_output(probe, 2 * i)->topic, want);
        cr_expect_str_eq(hd_probe_output(probe, 2 * i + 1)->topic, HD_TOPIC_QUEUED);
        struct hd_dispatch d;
        dispatch_at(2 * i, &d);
        cr_expect_eq(d.channel, chans[i]);
        hd_dispatch_clear(&d);
        struct hd_status_event ev;
        status_at(2 * i + 1, &ev);
        cr_expect_eq(ev.channel, chans[i]);
        cr_expect_eq(ev.status, HD_ST_QUEUED);
        hd_status_event_clear(&ev);
    }
    for (size_t i = 0; i < 10; i++) {
        const struct hd_probe_output *o = hd_probe_output(probe, i);
        cr_expect(o->key_len == 8 && !memcmp(o->key, "acme/u-1", 8), "output %zu key", i);
    }
}

Test(render, notification_ids_are_uuidv5_of_request_and_channel)
{
    channels(2, HD_CH_EMAIL, HD_CH_IN_APP);
    cr_assert_eq(render(), HD_PASS, "%s", hd_probe_reason(probe));
    cr_assert_eq(hd_probe_output_count(probe), 4);
    char want[2][HD_UUID_STRLEN];
    hd_notification_id("req-1", "EMAIL", want[0]);
    hd_notification_id("req-1", "IN_APP", want[1]);
    cr_expect_str_neq(want[0], want[1]);
    for (size_t i = 0; i < 2; i++) {
        struct hd_dispatch d;
        struct hd_status_event ev;
        char h[64];
        dispatch_at(2 * i, &d);
        status_at(2 * i + 1, &ev);
        cr_expect_str_eq(d.notification_id, want[i]);
        cr_expect_str_eq(ev.notification_id, want[i], "the status names the same one");
        const char *dh = hd_probe_header(hd_probe_output(probe, 2 * i),
                                         "herald-notification-id", h, sizeof(h));
        cr_expect(dh && !strcmp(dh, want[i]), "dispatch header");
        const char *sh = hd_probe_header(hd_probe_output(probe, 2 * i + 1),
                                         "herald-notification-id", h, sizeof(h));
        cr_expect(sh && !strcmp(sh, want[i]), "status header");
        hd_dispatch_clear(&d);
        hd_status_event_clear(&ev);
    }
    /* the same request again: the same ids; another request: others */
    cr_assert_eq(render(), HD_PASS);
    struct hd_dispatch d;
    dispatch_at(0, &d);
    cr_expect_str_eq(d.notification_id, want[0], "a replay");
    hd_dispatch_clear(&d);
    req.request_id = "req-2";
    cr_assert_eq(render(), HD_PASS);
    dispatch_at(0, &d);
    cr_expect_str_neq(d.notification_id, want[0]);
    hd_dispatch_clear(&d);
}

Test(render, the_dispatch_carries_the_request_fields)
{
    req.category = HD_CAT_ALERT;
    req.priority = HD_PRIO_URGENT;
    req.provider = "outbox";
    req.batch_id = "batch-7";
    rcpt.phone = "+4915112345678";
    rcpt.timezone = "Europe/Berlin";
    hd_map_put(&req.metadata, "rule_id", "r-1");
    hd_map_put(&req.metadata, "source_event_id", "e-1");
    struct hd_dispatch d;
    render_one(HD_CH_SMS, &d);
    cr_expect_str_eq(d.request_id, "req-1");
    cr_expect_str_eq(d.tenant_id, "acme");
    cr_expect_str_eq(d.user_id, "u-1");
    cr_expect_eq(d.channel, HD_CH_SMS);
    cr_expect_eq(d.category, HD_CAT_ALERT);
    cr_expect_eq(d.priority, HD_PRIO_URGENT);
    cr_expect_str_eq(d.provider, "outbox");
    cr_expect_str_eq(d.batch_id, "batch-7");
    cr_expect_eq(d.attempt, 0);
    cr_expect_eq(d.created_at, CREATED_MS, "the request's time, not the clock");
    cr_assert_not_null(d.recipient);
    cr_expect_str_eq(d.recipient->email, "ada@example.com");
    cr_expect_str_eq(d.recipient->phone, "+4915112345678");
    cr_expect_str_eq(d.recipient->timezone, "Europe/Berlin");
    cr_expect_eq(d.metadata.cnt, 2);
    cr_expect_str_eq(hd_map_get(&d.metadata, "rule_id"), "r-1");
    cr_expect_str_eq(hd_map_get(&d.metadata, "source_event_id"), "e-1");
    hd_dispatch_clear(&d);
}

Test(render, the_queued_status_is_stamped_with_the_clock)
{
    req.provider = "outbox";
    req.batch_id = "batch-7";
    channels(1, HD_CH_IN_APP);
    cr_assert_eq(render(), HD_PASS);
    struct hd_status_event ev;
    status_at(1, &ev);
    cr_expect_str_eq(ev.request_id, "req-1");
    cr_expect_str_eq(ev.tenant_id, "acme");
    cr_expect_str_eq(ev.user_id, "u-1");
    cr_expect_eq(ev.status, HD_ST_QUEUED);
    cr_expect_eq(ev.occurred_at, NOW_MS);
    cr_expect_eq(ev.attempt, 0);
    cr_expect_str_eq(ev.provider, "outbox");
    cr_expect_str_eq(ev.batch_id, "batch-7");
    cr_expect_null(ev.reason_code);
    cr_expect_null(ev.reason);
    hd_status_event_clear(&ev);
}

Test(render, outputs_carry_the_tenant_and_the_input_trace)
{
    struct hd_headers *h = hd_headers_new(1);
    const char *tp = "00-" TRACE "-00f067aa0ba902b7-01";
    hd_headers_add(h, "traceparent", tp, strlen(tp));
    channels(1, HD_CH_IN_APP);
    cr_assert_eq(render_with(h), HD_PASS);
    cr_assert_eq(hd_probe_output_count(probe), 2);
    for (size_t i = 0; i < 2; i++) {
        char v[128];
        const struct hd_probe_output *oh = hd_probe_output(probe, i);
        cr_expect(hd_probe_header(oh, "herald-tenant", v, sizeof(v)) && !strcmp(v, "acme"));
        cr_assert(hd_probe_header(oh, "traceparent", v, sizeof(v)));
        cr_expect(!strncmp(v, "00-" TRACE "-", 36) && strcmp(v, tp), "%s", v);
        cr_expect_null(hd_probe_header(oh, "herald-attempt", v, sizeof(v)), "attempt 0 has none");
    }
    hd_probe_record_clear(&rec);
    hd_headers_destroy(h);
}

Test(render, a_request_without_channels_emits_nothing)
{
    channels(0);
    cr_expect_eq(render(), HD_PASS);
    cr_expect_eq(hd_probe_output_count(probe), 0);
}

/* ---- rendered parts and the render context ----------------------------------------- */

Test(render, email_parts_render_and_only_html_is_escaped)
{
    req.variables_json = "{\"order_id\": \"o-1\", \"name\": \"<Ada & Co>\"}";
    struct hd_dispatch d;
    render_one(HD_CH_EMAIL, &d);
    cr_expect_str_eq(d.rendered.subject, "Order o-1");
    cr_expect_str_eq(d.rendered.text, "Hello <Ada & Co> <ada@example.com>");
    cr_expect_str_eq(d.rendered.html, "<p>&lt;Ada &amp; Co&gt;</p>");
    cr_expect_null(d.rendered.title);
    cr_expect_eq(d.rendered.data.cnt, 0);
    hd_dispatch_clear(&d);
}

Test(render, each_channel_part_lands_in_its_content_field)
{
    req.variables_json = "{\"order_id\": \"o-1\", \"name\": \"A \\\"B\\\"\", \"title\": \"T\"}";
    struct hd_dispatch d;
    render_one(HD_CH_PUSH, &d);
    cr_expect_str_eq(d.rendered.title, "T");
    cr_expect_str_eq(d.rendered.text, "Order o-1", "push body -> text");
    cr_expect_null(d.rendered.subject);
    hd_dispatch_clear(&d);
    render_one(HD_CH_IN_APP, &d);
    cr_expect_str_eq(d.rendered.title, "Order o-1");
    cr_expect_str_eq(d.rendered.text, "Thanks A \"B\"");
    hd_dispatch_clear(&d);
    render_one(HD_CH_WEBHOOK, &d);
    cr_expect_str_eq(d.rendered.text, "{\"name\": \"A \\\"B\\\"\", \"req\": \"req-1\"}",
                     "the body is JSON-string escaped");
    json_t *j = json_loads(d.rendered.text, 0, NULL);
    cr_expect(j && !strcmp(json_string_value(json_object_get(j, "name")), "A \"B\""),
              "the rendered body parses back");
    json_decref(j);
    cr_expect_null(d.rendered.title);
    hd_dispatch_clear(&d);
}

Test(render, the_context_adds_the_user_and_tenant_ids)
{
    struct hd_dispatch d;
    render_one(HD_CH_SMS, &d);
    /* no recipient locale: the tenant default de has an sms part */
    cr_expect_str_eq(d.rendered.text, "Bestellung o-1");
    hd_dispatch_clear(&d);
    rcpt.locale = "en";
    render_one(HD_CH_SMS, &d);
    cr_expect_str_eq(d.rendered.text, "Order o-1 for u-1 of acme");
    hd_dispatch_clear(&d);
}

Test(render, variables_win_over_the_added_context)
{
    req.variables_json = "{\"order_id\": \"o-1\", \"name\": \"Ada\", \"user_id\": \"someone\","
                         " \"tenant_id\": \"else\", \"recipient\": {\"email\": \"v@example.com\"}}";
    rcpt.locale = "en";
    struct hd_dispatch d;
    render_one(HD_CH_SMS, &d);
    cr_expect_str_eq(d.rendered.text, "Order o-1 for someone of else");
    hd_dispatch_clear(&d);
    render_one(HD_CH_EMAIL, &d);
    cr_expect_str_eq(d.rendered.text, "Hello Ada <v@example.com>");
    cr_expect_str_eq(d.recipient->email, "ada@example.com", "the dispatch keeps the request's");
    hd_dispatch_clear(&d);
}

Test(render, the_active_version_renders_unless_the_request_names_one)
{
    struct hd_dispatch d;
    render_one(HD_CH_EMAIL, &d);
    cr_expect_str_eq(d.rendered.subject, "Order o-1", "the pointer's version 1, not 2");
    hd_dispatch_clear(&d);
    tref.has_version = 1;
    tref.version = 2;
    render_one(HD_CH_EMAIL, &d);
    cr_expect_str_eq(d.rendered.subject, "V2 o-1");
    hd_dispatch_clear(&d);
    tref.version = 1;
    render_one(HD_CH_EMAIL, &d);
    cr_expect_str_eq(d.rendered.subject, "Order o-1");
    hd_dispatch_clear(&d);
}

/* ---- locale fallback --------------------------------------------------------------- */

Test(render, the_template_locale_is_cut_subtag_by_subtag)
{
    tref.locale = "fr-CA";
    struct hd_dispatch d;
    render_one(HD_CH_EMAIL, &d);
    cr_expect_str_eq(d.rendered.subject, "Commande o-1");
    cr_expect_str_eq(d.rendered.text, "Bonjour Ada");
    cr_expect_null(d.rendered.html, "fr has no html part");
    hd_dispatch_clear(&d);
    tref.locale = "FR_ca";
    render_one(HD_CH_EMAIL, &d);
    cr_expect_str_eq(d.rendered.subject, "Commande o-1", "case and _ do not matter");
    hd_dispatch_clear(&d);
}

Test(render, the_recipient_locale_is_used_when_the_template_ref_has_none)
{
    rcpt.locale = "fr";
    struct hd_dispatch d;
    render_one(HD_CH_EMAIL, &d);
    cr_expect_str_eq(d.rendered.subject, "Commande o-1");
    hd_dispatch_clear(&d);
    tref.locale = "en";
    render_one(HD_CH_EMAIL, &d);
    cr_expect_str_eq(d.rendered.subject, "Order o-1", "the template ref's locale wins");
    hd_dispatch_clear(&d);
}

Test(render, a_locale_without_the_channel_falls_to_the_tenant_default_then_en)
{
    rcpt.locale = "fr";
    struct hd_dispatch d;
    render_one(HD_CH_SMS, &d);
    cr_expect_str_eq(d.rendered.text, "Bestellung o-1", "fr has no sms; acme's default de has");
    hd_dispatch_clear(&d);
    render_one(HD_CH_IN_APP, &d);
    cr_expect_str_eq(d.rendered.text, "Thanks Ada", "neither fr nor de has in_app; en has");
    hd_dispatch_clear(&d);
}

Test(render, a_tenant_without_a_default_locale_falls_to_en)
{
    req.tenant_id = "globex";
    tref.key = "greet";
    rcpt.locale = "it";
    struct hd_dispatch d;
    render_one(HD_CH_IN_APP, &d);
    cr_expect_str_eq(d.rendered.text, "hi");
    hd_dispatch_clear(&d);
    rcpt.locale = "de-AT";
    render_one(HD_CH_IN_APP, &d);
    cr_expect_str_eq(d.rendered.text, "hallo");
    hd_dispatch_clear(&d);
}

/* ---- inline content ---------------------------------------------------------------- */

Test(render, inline_content_is_sent_as_is_on_every_channel)
{
    inline_content.subject = "Hello {{name}}";
    inline_content.text = "Plain <text>";
    inline_content.html = "<b>{{name}}</b>";
    inline_content.title = "Title";
    hd_map_put(&inline_content.data, "deep_link", "app://orders/o-1");
    req.content = &inline_content;
    req.template_ref = NULL;
    for (size_t i = 0; i < HD_CH__CNT; i++)
        chans[i] = (enum hd_channel)i;
    req.channel_cnt = HD_CH__CNT; /* within every channel's limits, so none is changed */
    cr_assert_eq(render(), HD_PASS, "%s", hd_probe_reason(probe));
    cr_assert_eq(hd_probe_output_count(probe), 2 * HD_CH__CNT);
    for (size_t i = 0; i < HD_CH__CNT; i++) {
        struct hd_dispatch d;
        dispatch_at(2 * i, &d);
        cr_expect_eq(d.channel, chans[i]);
        cr_expect_str_eq(d.rendered.subject, "Hello {{name}}", "not rendered");
        cr_expect_str_eq(d.rendered.text, "Plain <text>");
        cr_expect_str_eq(d.rendered.html, "<b>{{name}}</b>", "not escaped");
        cr_expect_str_eq(d.rendered.title, "Title");
        cr_expect_str_eq(hd_map_get(&d.rendered.data, "deep_link"), "app://orders/o-1");
        hd_dispatch_clear(&d);
    }
}

Test(render, inline_content_wins_over_a_template)
{
    inline_content.text = "inline";
    req.content = &inline_content;
    tref.key = "no_such_template";
    struct hd_dispatch d;
    render_one(HD_CH_SMS, &d);
    cr_expect_str_eq(d.rendered.text, "inline", "the template is not even looked up");
    hd_dispatch_clear(&d);
}

/* Inline content is held to the limits a template's output is: same code, and the reason
 * says it was the inline content. */
Test(render, an_inline_subject_with_a_line_break_is_render_failed)
{
    inline_content.subject = "Hi\r\nBcc: eve@example.com";
    inline_content.text = "t";
    req.content = &inline_content;
    req.template_ref = NULL;
    channels(2, HD_CH_IN_APP, HD_CH_EMAIL); /* IN_APP would go: nothing does */
    expect_error("render_failed", "EMAIL: inline content.subject: ");
    cr_expect(strstr(hd_probe_reason(probe), "header injection"), "%s", hd_probe_reason(probe));
    inline_content.subject = "Hi\nBcc: eve@example.com";
    expect_error("render_failed", "inline content.subject");
    /* longer than RFC 5322's line */
    char subject[1000];
    memset(subject, 's', 999);
    subject[999] = '\0';
    inline_content.subject = subject;
    expect_error("render_failed", "999 bytes");
    /* the subject is checked on EMAIL only, and a fine one goes */
    inline_content.subject = "Hi\r\nBcc: eve@example.com";
    channels(1, HD_CH_IN_APP);
    cr_expect_eq(render(), HD_PASS, "%s", hd_probe_reason(probe));
    inline_content.subject = "Hi";
    channels(1, HD_CH_EMAIL);
    cr_expect_eq(render(), HD_PASS, "%s", hd_probe_reason(probe));
}

Test(render, an_inline_sms_over_the_segment_limit_or_empty_is_render_failed)
{
    /* 12 GSM-7 segments of 153 */
    char *sms = hd_malloc(1700);
    memset(sms, 'x', 1699);
    sms[1699] = '\0';
    inline_content.text = sms;
    req.content = &inline_content;
    req.template_ref = NULL;
    channels(2, HD_CH_EMAIL, HD_CH_SMS);
    expect_error("render_failed", "SMS: inline content.text: ");
    cr_expect(strstr(hd_probe_reason(probe), "12 segments"), "%s", hd_probe_reason(probe));
    /* 10 segments still go, unchanged */
    sms[1530] = '\0';
    struct hd_dispatch d;
    render_one(HD_CH_SMS, &d);
    cr_expect_str_eq(d.rendered.text, sms);
    hd_dispatch_clear(&d);
    /* content without a text is an empty SMS */
    inline_content.text = NULL;
    inline_content.title = "Title";
    channels(1, HD_CH_SMS);
    expect_error("render_failed", "SMS text is empty");
    inline_content.text = "";
    expect_error("render_failed", "inline content.text");
    hd_free(sms);
}

Test(render, a_long_inline_push_title_is_cut_as_a_templates_is)
{
    char title[80];
    memset(title, 'T', 70);
    title[70] = '\0';
    inline_content.title = title;
    req.content = &inline_content;
    req.template_ref = NULL;
    struct hd_dispatch d;
    render_one(HD_CH_PUSH, &d);
    cr_assert_not_null(d.rendered.title);
    size_t n = strlen(d.rendered.title);
    cr_expect_eq(n, 64 + strlen("…"), "64 characters and the ellipsis: %zu bytes", n);
    cr_expect(n >= 3 && !strcmp(d.rendered.title + n - 3, "…"), "%s", d.rendered.title);
    cr_expect(!strncmp(d.rendered.title, title, 64));
    cr_expect_null(d.rendered.text, "a part the content lacks stays missing");
    hd_dispatch_clear(&d);
    cr_expect_eq(strlen(title), 70, "the request's own content is not touched");
}

/* ---- errors: nothing of the request is sent ----------------------------------------- */

Test(render, an_unknown_template_is_template_not_found)
{
    tref.key = "no_such_template";
    channels(1, HD_CH_EMAIL);
    expect_error("template_not_found", "EMAIL: ");
    cr_expect(strstr(hd_probe_reason(probe), "\"no_such_template\"") &&
                  strstr(hd_probe_reason(probe), "\"acme\""),
              "%s", hd_probe_reason(probe));
    /* templates belong to their tenant */
    req.tenant_id = "globex";
    tref.key = "order";
    expect_error("template_not_found", "\"order\"");
}

Test(render, a_version_not_stored_is_template_not_found)
{
    tref.has_version = 1;
    tref.version = 9;
    channels(1, HD_CH_EMAIL);
    expect_error("template_not_found", "version 9");
    tref.key = "dangling";
    tref.has_version = 0;
    channels(1, HD_CH_IN_APP);
    expect_error("template_not_found", "active version 5");
}

Test(render, no_part_for_a_channel_in_any_locale_is_template_not_found_for_all)
{
    /* EMAIL would render; CHAT is in no locale of the template */
    channels(2, HD_CH_EMAIL, HD_CH_CHAT);
    expect_error("template_not_found", "CHAT: ");
    cr_expect(strstr(hd_probe_reason(probe), "chat part"), "%s", hd_probe_reason(probe));
    tref.key = "fr_only";
    rcpt.locale = "en-GB";
    channels(1, HD_CH_EMAIL);
    expect_error("template_not_found", "\"en-GB\"");
}

Test(render, a_request_without_content_or_template_is_template_not_found)
{
    req.template_ref = NULL;
    channels(1, HD_CH_EMAIL);
    expect_error("template_not_found", "no content and no template");
}

Test(render, a_missing_variable_in_strict_mode_is_render_failed_naming_it)
{
    tref.key = "strict";
    channels(2, HD_CH_IN_APP, HD_CH_EMAIL); /* IN_APP renders; EMAIL fails */
    expect_error("render_failed", "customer.first_name");
    const char *why = hd_probe_reason(probe);
    cr_expect(!strncmp(why, "EMAIL: ", 7), "%s", why);
    cr_expect(strstr(why, "\"strict\"") && strstr(why, "email.subject"), "%s", why);
    /* with the variable there it renders */
    req.variables_json = "{\"customer\": {\"first_name\": \"Ada\"}}";
    cr_assert_eq(render(), HD_PASS, "%s", hd_probe_reason(probe));
    struct hd_dispatch d;
    dispatch_at(2, &d);
    cr_expect_str_eq(d.rendered.subject, "Hi Ada");
    hd_dispatch_clear(&d);
    /* the recipient's fields are in the context only when the request has them */
    tref.key = "order";
    req.variables_json = "{\"order_id\": \"o-1\", \"name\": \"Ada\"}";
    rcpt.email = NULL;
    channels(1, HD_CH_EMAIL);
    expect_error("render_failed", "missing variable \"recipient.email\"");
    req.recipient = NULL;
    expect_error("render_failed", "missing variable \"recipient.email\"");
}

Test(render, a_lenient_template_renders_a_missing_variable_empty)
{
    tref.key = "lenient";
    struct hd_dispatch d;
    render_one(HD_CH_EMAIL, &d);
    cr_expect_str_eq(d.rendered.subject, "Hi !");
    hd_dispatch_clear(&d);
}

Test(render, breaking_a_channel_limit_is_render_failed)
{
    tref.key = "free";
    /* 11 GSM-7 segments of 153 */
    char *sms = hd_malloc(1700);
    memset(sms, 'x', 1699);
    sms[1699] = '\0';
    char *vars = hd_asprintf("{\"text\": \"%s\", \"subject\": \"ok\"}", sms);
    req.variables_json = vars;
    channels(1, HD_CH_SMS);
    expect_error("render_failed", "SMS: ");
    cr_expect(strstr(hd_probe_reason(probe), "sms.text"), "%s", hd_probe_reason(probe));
    hd_free(vars);
    /* 10 segments still go */
    sms[1530] = '\0';
    vars = hd_asprintf("{\"text\": \"%s\", \"subject\": \"ok\"}", sms);
    req.variables_json = vars;
    cr_expect_eq(render(), HD_PASS, "%s", hd_probe_reason(probe));
    hd_free(vars);
    /* an empty SMS is refused too */
    req.variables_json = "{\"text\": \"\", \"subject\": \"ok\"}";
    expect_error("render_failed", "sms.text");
    /* a line break in a subject is a header injection */
    req.variables_json = "{\"text\": \"t\", \"subject\": \"Hi\\r\\nBcc: eve@example.com\"}";
    channels(1, HD_CH_EMAIL);
    expect_error("render_failed", "email.subject");
    hd_free(sms);
}

Test(render, a_long_push_title_is_cut_not_refused)
{
    char title[80];
    memset(title, 'T', 70);
    title[70] = '\0';
    char *vars = hd_asprintf("{\"order_id\": \"o-1\", \"title\": \"%s\"}", title);
    req.variables_json = vars;
    struct hd_dispatch d;
    render_one(HD_CH_PUSH, &d);
    cr_assert_not_null(d.rendered.title);
    size_t n = strlen(d.rendered.title);
    cr_expect_eq(n, 64 + strlen("…"), "64 characters and the ellipsis: %zu bytes", n);
    cr_expect(n >= 3 && !strcmp(d.rendered.title + n - 3, "…"), "%s", d.rendered.title);
    cr_expect(!strncmp(d.rendered.title, title, 64));
    hd_dispatch_clear(&d);
    hd_free(vars);
}

Test(render, variables_that_are_not_a_json_object_are_invalid_variables)
{
    channels(1, HD_CH_EMAIL);
    req.variables_json = "[1, 2]";
    expect_error("invalid_variables", "variables_json");
    req.variables_json = "not json";
    expect_error("invalid_variables", "variables_json");
    /* inline content needs no variables */
    inline_content.text = "x";
    req.content = &inline_content;
    cr_expect_eq(render(), HD_PASS);
}

Test(render, more_channels_than_there_are_is_duplicate_channel)
{
    for (size_t i = 0; i <= HD_CH__CNT; i++)
        chans[i] = (enum hd_channel)(i % HD_CH__CNT);
    req.channel_cnt = HD_CH__CNT + 1;
    inline_content.text = "x";
    req.content = &inline_content;
    expect_error("duplicate_channel", "more channels");
}

/* ---- render then dispatch: the inbox item ------------------------------------------- */

Test(render, a_rendered_in_app_dispatch_becomes_the_inbox_item)
{
    char dir[] = "/tmp/herald-unit-render-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    hd_config_plugin_set(&cfg, "outbox.dir", dir);
    req.category = HD_CAT_SYSTEM;
    req.batch_id = "batch-7";
    struct hd_dispatch d;
    render_one(HD_CH_IN_APP, &d);
    hd_dispatch_clear(&d);
    const struct hd_probe_output *o = hd_probe_output(probe, 0);
    struct hd_buf dbytes = HD_BUF_INIT;
    hd_buf_append(&dbytes, o->value, o->value_len);

    void *dsp = NULL;
    char err[512] = "";
    struct hd_task_env te = {.config = &cfg, .tables = tables};
    cr_assert_eq(hd_proc_dispatch.init(&dsp, &te, err, sizeof(err)), 0, "%s", err);
    struct hd_envelope de = {.topic = "herald.dispatch.in_app", .partition = 0, .offset = 3,
                             .key = "acme/u-1", .key_len = 8, .value = dbytes.data,
                             .value_len = dbytes.len, .timestamp_ms = -1};
    struct hd_record drec;
    memset(&drec, 0, sizeof(drec));
    cr_assert_eq(hd_probe_decode(probe, HD_PAYLOAD_DISPATCH, &de, &drec, err, sizeof(err)), 0,
                 "%s", err);
    hd_probe_clear(probe);
    cr_expect_eq(hd_probe_run(probe, &hd_proc_dispatch, dsp, &drec), HD_PASS, "%s",
                 hd_probe_reason(probe));
    cr_assert_eq(hd_probe_output_count(probe), 2);
    o = hd_probe_output(probe, 0);
    cr_expect_str_eq(o->topic, HD_TOPIC_INBOX);
    struct hd_inbox_item it;
    memset(&it, 0, sizeof(it));
    cr_assert_eq(hd_inbox_item_decode(hd_probe_serde(probe), o->value, o->value_len, &it, err,
                                      sizeof(err)),
                 0, "%s", err);
    char nid[HD_UUID_STRLEN];
    hd_notification_id("req-1", "IN_APP", nid);
    cr_expect_str_eq(it.notification_id, nid);
    cr_expect_str_eq(it.request_id, "req-1");
    cr_expect_str_eq(it.tenant_id, "acme");
    cr_expect_str_eq(it.user_id, "u-1");
    cr_expect_eq(it.category, HD_CAT_SYSTEM);
    cr_expect_str_eq(it.title, "Order o-1");
    cr_expect_str_eq(it.body, "Thanks Ada");
    cr_expect_null(it.html);
    cr_expect_str_eq(it.batch_id, "batch-7");
    cr_expect_eq(it.created_at, CREATED_MS);
    hd_inbox_item_clear(&it);
    cr_expect_str_eq(hd_probe_output(probe, 1)->topic, HD_TOPIC_SENT);

    hd_probe_record_clear(&drec);
    hd_proc_dispatch.exit(dsp);
    hd_buf_free(&dbytes);
    rmdir(dir);
}
