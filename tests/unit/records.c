/*
 * Typed codecs (records.h): every core record round-trips with all optional
 * fields set and with all unset, agrees byte for byte with the plain-JSON
 * encoder, refuses records of another type, and keeps its enum tables in step
 * with the schemas' symbols.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "schemas/records.h"
#include "schemas/serde.h"

static struct hd_serde *sd;
static char err[1024];
static struct hd_buf buf;

static void setup(void)
{
    sd = hd_serde_new(err, sizeof(err));
    cr_assert(sd, "hd_serde_new: %s", err);
    buf = (struct hd_buf)HD_BUF_INIT;
}

static void teardown(void)
{
    hd_buf_free(&buf);
    hd_serde_destroy(sd);
}

TestSuite(records, .init = setup, .fini = teardown);

static void *memdup(const void *p, size_t n)
{
    void *d = hd_malloc(n ? n : 1);
    memcpy(d, p, n);
    return d;
}

static int streq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static int map_eq(const struct hd_map *a, const struct hd_map *b)
{
    if (a->cnt != b->cnt)
        return 0;
    for (size_t i = 0; i < a->cnt; i++)
        if (!streq(a->items[i].key, b->items[i].key) ||
            !streq(a->items[i].value, b->items[i].value))
            return 0;
    return 1;
}

static int bytes_eq(const void *a, size_t alen, const void *b, size_t blen)
{
    if (!a || !b)
        return !a && !b;
    return alen == blen && !memcmp(a, b, alen);
}

static int content_eq(const struct hd_content *a, const struct hd_content *b)
{
    if (!a || !b)
        return !a && !b;
    return streq(a->subject, b->subject) && streq(a->text, b->text) && streq(a->html, b->html) &&
           streq(a->title, b->title) && map_eq(&a->data, &b->data);
}

static int recipient_eq(const struct hd_recipient *a, const struct hd_recipient *b)
{
    if (!a || !b)
        return !a && !b;
    if (a->push_token_cnt != b->push_token_cnt)
        return 0;
    for (size_t i = 0; i < a->push_token_cnt; i++)
        if (!streq(a->push_tokens[i], b->push_tokens[i]))
            return 0;
    return streq(a->email, b->email) && streq(a->phone, b->phone) && streq(a->locale, b->locale) &&
           streq(a->timezone, b->timezone) && streq(a->webhook_url, b->webhook_url);
}

/* The plain-JSON path must produce the same bytes as the typed codec. */
static void expect_json_path_agrees(const struct hd_buf *typed)
{
    const struct hd_schema *s;
    json_t *j = hd_serde_decode_json(sd, typed->data, typed->len, &s, err, sizeof(err));
    cr_assert(j, "%s", err);
    struct hd_buf again = HD_BUF_INIT;
    cr_assert(!hd_serde_encode_json(sd, s, j, &again, err, sizeof(err)), "%s", err);
    cr_expect_eq(again.len, typed->len, "%s", hd_schema_name(s));
    cr_expect(!memcmp(again.data, typed->data, typed->len), "%s: JSON path bytes differ",
              hd_schema_name(s));
    hd_buf_free(&again);
    json_decref(j);
}

/* ---- enums, topics, maps ---- */

static void expect_symbols(const char *schema, const char *field, const char *(*name)(int), int cnt,
                           int (*parse)(const char *))
{
    avro_schema_t rec = hd_schema_avro(hd_serde_schema(sd, schema));
    avro_schema_t e = avro_schema_record_field_get(rec, field);
    cr_assert(e, "%s.%s", schema, field);
    if (avro_typeof(e) == AVRO_ARRAY)
        e = avro_schema_array_items(e);
    cr_assert_eq(avro_typeof(e), AVRO_ENUM);
    cr_assert_eq(avro_schema_enum_number_of_symbols(e), (size_t)cnt, "%s.%s", schema, field);
    for (int i = 0; i < cnt; i++) {
        cr_expect_str_eq(name(i), avro_schema_enum_get(e, i), "%s.%s[%d]", schema, field, i);
        cr_expect_eq(parse(avro_schema_enum_get(e, i)), i);
    }
    cr_expect_str_eq(name(cnt), "UNKNOWN");
    cr_expect_eq(parse("nope"), -1);
    cr_expect_eq(parse(NULL), -1);
}

static const char *ch_name(int v) { return hd_channel_name((enum hd_channel)v); }
static const char *cat_name(int v) { return hd_category_name((enum hd_category)v); }
static const char *prio_name(int v) { return hd_priority_name((enum hd_priority)v); }
static const char *st_name(int v) { return hd_status_name((enum hd_status)v); }
static const char *act_name(int v) { return hd_user_action_name((enum hd_user_action_kind)v); }

Test(records, enum_tables_match_the_schema_symbols)
{
    expect_symbols("NotificationRequest", "channels", ch_name, HD_CH__CNT, hd_channel_parse);
    expect_symbols("StatusEvent", "channel", ch_name, HD_CH__CNT, hd_channel_parse);
    expect_symbols("Dispatch", "channel", ch_name, HD_CH__CNT, hd_channel_parse);
    expect_symbols("NotificationRequest", "category", cat_name, HD_CAT__CNT, hd_category_parse);
    expect_symbols("InboxItem", "category", cat_name, HD_CAT__CNT, hd_category_parse);
    expect_symbols("Dispatch", "priority", prio_name, HD_PRIO__CNT, hd_priority_parse);
    expect_symbols("StatusEvent", "status", st_name, HD_ST__CNT, hd_status_parse);
    expect_symbols("UserAction", "action", act_name, HD_ACT__CNT, hd_user_action_parse);
}

Test(records, enum_parsing_is_exact_and_case_sensitive)
{
    cr_expect_eq(hd_channel_parse("IN_APP"), HD_CH_IN_APP);
    cr_expect_eq(hd_channel_parse("in_app"), -1);
    cr_expect_eq(hd_channel_parse("EMAIL "), -1);
    cr_expect_eq(hd_status_parse("SKIPPED"), HD_ST_SKIPPED);
    cr_expect_eq(hd_priority_parse("URGENT"), HD_PRIO_URGENT);
}

Test(records, every_status_has_its_topic)
{
    static const char *want[HD_ST__CNT] = {
        "notification.queued", "notification.scheduled", "notification.sent",
        "notification.delivered", "notification.read", "notification.failed",
        "notification.failed", "notification.skipped"};
    for (int s = 0; s < HD_ST__CNT; s++) {
        cr_expect_str_eq(hd_status_topic((enum hd_status)s), want[s]);
        const struct hd_schema *sc = hd_serde_schema_for_topic(sd, want[s]);
        cr_expect(sc && !strcmp(hd_schema_name(sc), "StatusEvent"), "%s", want[s]);
    }
    cr_expect_null(hd_status_topic(HD_ST__CNT));
}

Test(records, map_put_replaces_and_get_finds)
{
    struct hd_map m = {0};
    hd_map_put(&m, "a", "1");
    hd_map_put(&m, "b", "2");
    hd_map_put(&m, "a", "3");
    cr_expect_eq(m.cnt, 2);
    cr_expect_str_eq(hd_map_get(&m, "a"), "3");
    cr_expect_str_eq(hd_map_get(&m, "b"), "2");
    cr_expect_null(hd_map_get(&m, "c"));
    cr_expect_str_eq(m.items[0].key, "a", "insertion order is kept");
    hd_map_clear(&m);
    cr_expect_eq(m.cnt, 0);
    cr_expect_null(m.items);
    hd_map_clear(&m);
}

Test(records, content_copy_and_recipient_dup_are_deep)
{
    struct hd_content src = {.subject = "s", .html = "<p>"};
    hd_map_put(&src.data, "k", "v");
    struct hd_content dst;
    hd_content_copy(&dst, &src);
    cr_expect(content_eq(&src, &dst));
    cr_expect(dst.subject != src.subject && dst.data.items != src.data.items);
    hd_content_clear(&dst);
    hd_map_clear(&src.data);

    char *tokens[] = {"t1", "t2"};
    struct hd_recipient r = {.email = "e@x", .push_tokens = tokens, .push_token_cnt = 2};
    struct hd_recipient *d = hd_recipient_dup(&r);
    cr_expect(recipient_eq(&r, d));
    cr_expect(d->push_tokens != r.push_tokens && d->push_tokens[0] != tokens[0]);
    hd_recipient_clear(d);
    hd_free(d);
    cr_expect_null(hd_recipient_dup(NULL));
    hd_content_clear(NULL);
    hd_recipient_clear(NULL);
}

/* ---- NotificationRequest ---- */

static void fill_request(struct hd_request *r, int full)
{
    memset(r, 0, sizeof(*r));
    r->request_id = hd_strdup("req-1");
    r->tenant_id = hd_strdup("acme");
    r->user_id = hd_strdup("u-42");
    r->channel_cnt = full ? 3 : 0;
    r->channels = full ? hd_calloc(3, sizeof(*r->channels)) : NULL;
    if (full) {
        r->channels[0] = HD_CH_EMAIL;
        r->channels[1] = HD_CH_IN_APP;
        r->channels[2] = HD_CH_WEBHOOK;
    }
    r->category = full ? HD_CAT_ALERT : HD_CAT_TRANSACTIONAL;
    r->priority = full ? HD_PRIO_URGENT : HD_PRIO_LOW;
    r->variables_json = hd_strdup(full ? "{\"a\":[1,2]}" : "{}");
    r->created_at = 1767323045678;
    if (!full)
        return;
    r->template_ref = hd_calloc(1, sizeof(*r->template_ref));
    r->template_ref->key = hd_strdup("welcome");
    r->template_ref->has_version = 1;
    r->template_ref->version = -7;
    r->template_ref->locale = hd_strdup("fr-CA");
    r->content = hd_calloc(1, sizeof(*r->content));
    r->content->subject = hd_strdup("Bonjour \xe2\x98\x80");
    r->content->text = hd_strdup("");
    r->content->html = hd_strdup("<p>\xc3\xa9</p>");
    r->content->title = hd_strdup("T");
    hd_map_put(&r->content->data, "k", "v");
    hd_map_put(&r->content->data, "", "empty key");
    char *tokens[] = {"tok1", "tok2"};
    struct hd_recipient rc = {"a@example.com", "+14155550100", tokens, 2, "fr", "Europe/Paris",
                              "https://hook.example/x"};
    r->recipient = hd_recipient_dup(&rc);
    r->idempotency_key = hd_strdup("idem");
    r->has_scheduled_at = 1;
    r->scheduled_at = INT64_MIN;
    r->has_expires_at = 1;
    r->expires_at = INT64_MAX;
    r->batch_id = hd_strdup("b");
    r->provider = hd_strdup("ses");
    hd_map_put(&r->metadata, "source", "api");
}

static void expect_request_eq(const struct hd_request *a, const struct hd_request *b)
{
    cr_expect(streq(a->request_id, b->request_id) && streq(a->tenant_id, b->tenant_id) &&
              streq(a->user_id, b->user_id));
    cr_assert_eq(a->channel_cnt, b->channel_cnt);
    for (size_t i = 0; i < a->channel_cnt; i++)
        cr_expect_eq(a->channels[i], b->channels[i]);
    cr_expect_eq(a->category, b->category);
    cr_expect_eq(a->priority, b->priority);
    cr_expect_eq(!a->template_ref, !b->template_ref);
    if (a->template_ref && b->template_ref) {
        cr_expect(streq(a->template_ref->key, b->template_ref->key));
        cr_expect(streq(a->template_ref->locale, b->template_ref->locale));
        cr_expect_eq(a->template_ref->has_version, b->template_ref->has_version);
        cr_expect_eq(a->template_ref->version, b->template_ref->version);
    }
    cr_expect(content_eq(a->content, b->content));
    cr_expect(streq(a->variables_json, b->variables_json));
    cr_expect(recipient_eq(a->recipient, b->recipient));
    cr_expect(streq(a->idempotency_key, b->idempotency_key));
    cr_expect_eq(a->has_scheduled_at, b->has_scheduled_at);
    cr_expect_eq(a->scheduled_at, b->scheduled_at);
    cr_expect_eq(a->has_expires_at, b->has_expires_at);
    cr_expect_eq(a->expires_at, b->expires_at);
    cr_expect(streq(a->batch_id, b->batch_id) && streq(a->provider, b->provider));
    cr_expect(map_eq(&a->metadata, &b->metadata));
    cr_expect_eq(a->created_at, b->created_at);
}

static void request_round_trip(int full)
{
    struct hd_request in, out = {0};
    fill_request(&in, full);
    cr_assert(!hd_request_encode(sd, &in, &buf, err, sizeof(err)), "%s", err);
    cr_assert(!hd_request_decode(sd, buf.data, buf.len, &out, err, sizeof(err)), "%s", err);
    expect_request_eq(&in, &out);
    expect_json_path_agrees(&buf);
    hd_request_clear(&in);
    hd_request_clear(&out);
}

Test(records, request_round_trips_with_every_optional_field_set)
{
    request_round_trip(1);
}

Test(records, request_round_trips_with_every_optional_field_unset)
{
    request_round_trip(0);
}

Test(records, request_without_variables_json_encodes_the_default)
{
    struct hd_request in, out = {0};
    fill_request(&in, 0);
    hd_free(in.variables_json);
    in.variables_json = NULL;
    cr_assert(!hd_request_encode(sd, &in, &buf, err, sizeof(err)), "%s", err);
    cr_assert(!hd_request_decode(sd, buf.data, buf.len, &out, err, sizeof(err)), "%s", err);
    cr_expect_str_eq(out.variables_json, "{}");
    hd_request_clear(&in);
    hd_request_clear(&out);
}

/* ---- StatusEvent ---- */

static void fill_status(struct hd_status_event *e, int full)
{
    memset(e, 0, sizeof(*e));
    e->notification_id = hd_strdup("n-1");
    e->request_id = hd_strdup("r-1");
    e->tenant_id = hd_strdup("t");
    e->user_id = hd_strdup("u");
    e->channel = full ? HD_CH_WHATSAPP : HD_CH_EMAIL;
    e->status = full ? HD_ST_BOUNCED : HD_ST_QUEUED;
    e->attempt = full ? 2147483647 : 0;
    e->occurred_at = -1;
    if (!full)
        return;
    e->provider = hd_strdup("twilio");
    e->reason_code = hd_strdup("hard_bounce");
    e->reason = hd_strdup("550 no such user");
    e->provider_message_id = hd_strdup("SM123");
    e->batch_id = hd_strdup("b");
}

static void status_round_trip(int full)
{
    struct hd_status_event in, out = {0};
    fill_status(&in, full);
    cr_assert(!hd_status_event_encode(sd, &in, &buf, err, sizeof(err)), "%s", err);
    cr_assert(!hd_status_event_decode(sd, buf.data, buf.len, &out, err, sizeof(err)), "%s", err);
    cr_expect(streq(in.notification_id, out.notification_id));
    cr_expect(streq(in.request_id, out.request_id) && streq(in.tenant_id, out.tenant_id) &&
              streq(in.user_id, out.user_id));
    cr_expect_eq(in.channel, out.channel);
    cr_expect_eq(in.status, out.status);
    cr_expect(streq(in.provider, out.provider) && streq(in.reason_code, out.reason_code) &&
              streq(in.reason, out.reason) && streq(in.batch_id, out.batch_id));
    cr_expect(streq(in.provider_message_id, out.provider_message_id));
    cr_expect_eq(in.attempt, out.attempt);
    cr_expect_eq(in.occurred_at, out.occurred_at);
    expect_json_path_agrees(&buf);
    hd_status_event_clear(&in);
    hd_status_event_clear(&out);
}

Test(records, status_event_round_trips_with_every_optional_field_set)
{
    status_round_trip(1);
}

Test(records, status_event_round_trips_with_every_optional_field_unset)
{
    status_round_trip(0);
}

/* ---- DeadLetter ---- */

static void fill_dead_letter(struct hd_dead_letter *d, int full)
{
    memset(d, 0, sizeof(*d));
    d->source_topic = hd_strdup("notification.requests");
    d->source_partition = full ? 11 : 0;
    d->source_offset = full ? INT64_MAX : 0;
    d->error_code = hd_strdup("decode");
    d->error = hd_strdup("unknown schema fingerprint");
    d->processor = hd_strdup("validate");
    d->failed_at = 1;
    if (!full)
        return;
    d->key = memdup("\x00k\xff", 3);
    d->key_len = 3;
    d->value = hd_malloc(1); /* present but empty: not the same as null */
    d->value_len = 0;
    d->header_cnt = 3;
    d->headers = hd_calloc(3, sizeof(*d->headers));
    d->headers[0].key = hd_strdup("traceparent");
    d->headers[0].value = memdup("00-abc-01", 9);
    d->headers[0].value_len = 9;
    d->headers[1].key = hd_strdup("null-valued");
    d->headers[2].key = hd_strdup("binary");
    d->headers[2].value = memdup("\x00\x01\x02\x80", 4);
    d->headers[2].value_len = 4;
}

static void dead_letter_round_trip(int full)
{
    struct hd_dead_letter in, out = {0};
    fill_dead_letter(&in, full);
    cr_assert(!hd_dead_letter_encode(sd, &in, &buf, err, sizeof(err)), "%s", err);
    cr_assert(!hd_dead_letter_decode(sd, buf.data, buf.len, &out, err, sizeof(err)), "%s", err);
    cr_expect(streq(in.source_topic, out.source_topic));
    cr_expect_eq(in.source_partition, out.source_partition);
    cr_expect_eq(in.source_offset, out.source_offset);
    cr_expect(bytes_eq(in.key, in.key_len, out.key, out.key_len));
    cr_expect(bytes_eq(in.value, in.value_len, out.value, out.value_len));
    cr_assert_eq(in.header_cnt, out.header_cnt);
    for (size_t i = 0; i < in.header_cnt; i++) {
        cr_expect(streq(in.headers[i].key, out.headers[i].key));
        cr_expect(bytes_eq(in.headers[i].value, in.headers[i].value_len, out.headers[i].value,
                           out.headers[i].value_len), "header %zu", i);
    }
    cr_expect(streq(in.error_code, out.error_code) && streq(in.error, out.error) &&
              streq(in.processor, out.processor));
    cr_expect_eq(in.failed_at, out.failed_at);
    expect_json_path_agrees(&buf);
    hd_dead_letter_clear(&in);
    hd_dead_letter_clear(&out);
}

Test(records, dead_letter_round_trips_with_every_optional_field_set)
{
    dead_letter_round_trip(1);
}

Test(records, dead_letter_round_trips_with_every_optional_field_unset)
{
    dead_letter_round_trip(0);
}

/* ---- Dispatch ---- */

static void fill_dispatch(struct hd_dispatch *d, int full)
{
    memset(d, 0, sizeof(*d));
    d->notification_id = hd_strdup("n");
    d->request_id = hd_strdup("r");
    d->tenant_id = hd_strdup("t");
    d->user_id = hd_strdup("u");
    d->channel = full ? HD_CH_PUSH : HD_CH_SMS;
    d->category = full ? HD_CAT_MARKETING : HD_CAT_TRANSACTIONAL;
    d->priority = full ? HD_PRIO_HIGH : HD_PRIO_NORMAL;
    d->attempt = full ? 4 : 0;
    d->created_at = 42;
    if (!full)
        return;
    d->provider = hd_strdup("fcm");
    d->batch_id = hd_strdup("b");
    struct hd_recipient r = {.phone = "+33612345678", .timezone = "Europe/Paris"};
    d->recipient = hd_recipient_dup(&r);
    d->rendered.subject = hd_strdup("s");
    d->rendered.text = hd_strdup("t");
    d->rendered.html = hd_strdup("h");
    d->rendered.title = hd_strdup("ti");
    hd_map_put(&d->rendered.data, "deep_link", "app://x");
    hd_map_put(&d->metadata, "traceparent", "00-1-2-01");
}

static void dispatch_round_trip(int full)
{
    struct hd_dispatch in, out = {0};
    fill_dispatch(&in, full);
    cr_assert(!hd_dispatch_encode(sd, &in, &buf, err, sizeof(err)), "%s", err);
    cr_assert(!hd_dispatch_decode(sd, buf.data, buf.len, &out, err, sizeof(err)), "%s", err);
    cr_expect(streq(in.notification_id, out.notification_id));
    cr_expect(streq(in.request_id, out.request_id) && streq(in.tenant_id, out.tenant_id) &&
              streq(in.user_id, out.user_id));
    cr_expect_eq(in.channel, out.channel);
    cr_expect_eq(in.category, out.category);
    cr_expect_eq(in.priority, out.priority);
    cr_expect(streq(in.provider, out.provider) && streq(in.batch_id, out.batch_id));
    cr_expect_eq(in.attempt, out.attempt);
    cr_expect(recipient_eq(in.recipient, out.recipient));
    cr_expect(content_eq(&in.rendered, &out.rendered));
    cr_expect(map_eq(&in.metadata, &out.metadata));
    cr_expect_eq(in.created_at, out.created_at);
    expect_json_path_agrees(&buf);
    hd_dispatch_clear(&in);
    hd_dispatch_clear(&out);
}

Test(records, dispatch_round_trips_with_every_optional_field_set)
{
    dispatch_round_trip(1);
}

Test(records, dispatch_round_trips_with_every_optional_field_unset)
{
    dispatch_round_trip(0);
}

/* ---- InboxItem ---- */

static void inbox_round_trip(int full)
{
    struct hd_inbox_item in = {0}, out = {0};
    in.notification_id = hd_strdup("n");
    in.request_id = hd_strdup("r");
    in.tenant_id = hd_strdup("t");
    in.user_id = hd_strdup("u");
    in.category = full ? HD_CAT_SYSTEM : HD_CAT_TRANSACTIONAL;
    in.created_at = 7;
    if (full) {
        in.title = hd_strdup("Title");
        in.body = hd_strdup("Body");
        in.html = hd_strdup("<b>Body</b>");
        hd_map_put(&in.data, "order_id", "o-1");
        in.batch_id = hd_strdup("b");
    }
    cr_assert(!hd_inbox_item_encode(sd, &in, &buf, err, sizeof(err)), "%s", err);
    cr_assert(!hd_inbox_item_decode(sd, buf.data, buf.len, &out, err, sizeof(err)), "%s", err);
    cr_expect(streq(in.notification_id, out.notification_id));
    cr_expect(streq(in.request_id, out.request_id) && streq(in.tenant_id, out.tenant_id) &&
              streq(in.user_id, out.user_id));
    cr_expect_eq(in.category, out.category);
    cr_expect(streq(in.title, out.title) && streq(in.body, out.body) && streq(in.html, out.html) &&
              streq(in.batch_id, out.batch_id));
    cr_expect(map_eq(&in.data, &out.data));
    cr_expect_eq(in.created_at, out.created_at);
    expect_json_path_agrees(&buf);
    hd_inbox_item_clear(&in);
    hd_inbox_item_clear(&out);
}

Test(records, inbox_item_round_trips_with_every_optional_field_set)
{
    inbox_round_trip(1);
}

Test(records, inbox_item_round_trips_with_every_optional_field_unset)
{
    inbox_round_trip(0);
}

/* ---- UserAction (no optional fields) ---- */

Test(records, user_action_round_trips)
{
    for (int act = 0; act < HD_ACT__CNT; act++) {
        struct hd_user_action in = {"a", "t", "u", "n", (enum hd_user_action_kind)act, 99};
        struct hd_user_action out = {0};
        hd_buf_reset(&buf);
        cr_assert(!hd_user_action_encode(sd, &in, &buf, err, sizeof(err)), "%s", err);
        cr_assert(!hd_user_action_decode(sd, buf.data, buf.len, &out, err, sizeof(err)), "%s", err);
        cr_expect(streq(out.action_id, "a") && streq(out.tenant_id, "t"));
        cr_expect(streq(out.user_id, "u") && streq(out.notification_id, "n"));
        cr_expect_eq(out.action, in.action);
        cr_expect_eq(out.occurred_at, 99);
        expect_json_path_agrees(&buf);
        hd_user_action_clear(&out);
    }
}

/* ---- errors ---- */

Test(records, decoding_another_record_type_is_an_error)
{
    struct hd_inbox_item it = {.notification_id = "n", .request_id = "r", .tenant_id = "t",
                               .user_id = "u"};
    cr_assert(!hd_inbox_item_encode(sd, &it, &buf, err, sizeof(err)), "%s", err);
    struct hd_status_event ev;
    memset(&ev, 0xff, sizeof(ev)); /* decode must not trust what was there */
    ev = (struct hd_status_event){0};
    cr_expect_eq(hd_status_event_decode(sd, buf.data, buf.len, &ev, err, sizeof(err)), -1);
    cr_expect_str_eq(err, "expected StatusEvent, got InboxItem");
    cr_expect_null(ev.notification_id);
    struct hd_request r = {0};
    cr_expect_eq(hd_request_decode(sd, buf.data, buf.len, &r, err, sizeof(err)), -1);
    cr_expect_str_eq(err, "expected NotificationRequest, got InboxItem");
    /* a domain event is not a core record either */
    json_t *j = json_pack("{s:s,s:s,s:s,s:i}", "event_id", "e", "tenant_id", "t", "user_id", "u",
                          "occurred_at", 1);
    hd_buf_reset(&buf);
    cr_assert(!hd_serde_encode_json(sd, hd_serde_schema(sd, "UserRegistered"), j, &buf, err,
                                    sizeof(err)), "%s", err);
    json_decref(j);
    struct hd_user_action a = {0};
    cr_expect_eq(hd_user_action_decode(sd, buf.data, buf.len, &a, err, sizeof(err)), -1);
    cr_expect_str_eq(err, "expected UserAction, got UserRegistered");
}

Test(records, encode_rejects_missing_required_strings_and_bad_enums)
{
    struct hd_status_event e;
    fill_status(&e, 0);
    hd_free(e.tenant_id);
    e.tenant_id = NULL;
    hd_buf_puts(&buf, "keep");
    cr_expect_eq(hd_status_event_encode(sd, &e, &buf, err, sizeof(err)), -1);
    cr_expect_str_eq(err, "StatusEvent.tenant_id: required string is NULL");
    e.tenant_id = hd_strdup("t");
    e.status = (enum hd_status)42;
    cr_expect_eq(hd_status_event_encode(sd, &e, &buf, err, sizeof(err)), -1);
    cr_expect_str_eq(err, "StatusEvent.status: enum value 42 out of range");
    cr_expect_str_eq(buf.data, "keep", "a failed encode appends nothing");
    cr_expect_eq(buf.len, 4);
    hd_status_event_clear(&e);

    struct hd_request r;
    fill_request(&r, 1);
    r.channels[1] = HD_CH__CNT;
    cr_expect_eq(hd_request_encode(sd, &r, &buf, err, sizeof(err)), -1);
    cr_expect_str_eq(err, "NotificationRequest.channels: enum value 7 out of range");
    hd_request_clear(&r);
}

Test(records, string_with_a_nul_byte_is_refused_by_typed_decode)
{
    json_error_t jerr;
    json_t *j = json_loads("{\"notification_id\":\"n\",\"request_id\":\"r\",\"tenant_id\":\"t\","
                           "\"user_id\":\"u\",\"channel\":\"SMS\",\"status\":\"SENT\","
                           "\"reason\":\"a\\u0000b\",\"occurred_at\":1}",
                           JSON_ALLOW_NUL, &jerr);
    cr_assert(j, "%s", jerr.text);
    cr_assert(!hd_serde_encode_json(sd, hd_serde_schema(sd, "StatusEvent"), j, &buf, err,
                                    sizeof(err)), "%s", err);
    json_decref(j);
    struct hd_status_event e = {0};
    cr_expect_eq(hd_status_event_decode(sd, buf.data, buf.len, &e, err, sizeof(err)), -1);
    cr_expect_str_eq(err, "StatusEvent.reason: string holds a NUL byte");
    cr_expect_null(e.notification_id, "a failed decode leaves the struct empty");
}

Test(records, truncated_records_fail_and_leave_the_struct_empty)
{
    struct hd_request in;
    fill_request(&in, 1);
    cr_assert(!hd_request_encode(sd, &in, &buf, err, sizeof(err)), "%s", err);
    hd_request_clear(&in);
    for (size_t len = 0; len < buf.len; len++) {
        struct hd_request out;
        fill_request(&out, 1); /* decode clears whatever was there, leak-free */
        char *cut = memdup(buf.data, len);
        err[0] = '\0';
        cr_expect_eq(hd_request_decode(sd, cut, len, &out, err, sizeof(err)), -1, "len %zu", len);
        cr_expect(err[0], "len %zu: no error text", len);
        cr_expect_null(out.request_id);
        cr_expect_null(out.recipient);
        cr_expect_eq(out.metadata.cnt, 0);
        hd_free(cut);
        hd_request_clear(&out);
    }
}

Test(records, one_struct_decodes_many_records)
{
    struct hd_dispatch full, empty, out = {0};
    struct hd_buf a = HD_BUF_INIT, b = HD_BUF_INIT;
    fill_dispatch(&full, 1);
    fill_dispatch(&empty, 0);
    cr_assert(!hd_dispatch_encode(sd, &full, &a, err, sizeof(err)), "%s", err);
    cr_assert(!hd_dispatch_encode(sd, &empty, &b, err, sizeof(err)), "%s", err);
    for (int i = 0; i < 200; i++) {
        struct hd_buf *src = i % 3 ? &a : &b;
        cr_assert(!hd_dispatch_decode(sd, src->data, src->len, &out, err, sizeof(err)), "%s", err);
        cr_assert_eq(!out.recipient, src == &b);
        /* re-encoding the decoded struct through the reused scratch value gives the same bytes */
        hd_buf_reset(&buf);
        cr_assert(!hd_dispatch_encode(sd, &out, &buf, err, sizeof(err)), "%s", err);
        cr_assert_eq(buf.len, src->len);
        cr_assert(!memcmp(buf.data, src->data, src->len), "iteration %d", i);
    }
    hd_dispatch_clear(&out);
    hd_dispatch_clear(&full);
    hd_dispatch_clear(&empty);
    hd_buf_free(&a);
    hd_buf_free(&b);
}
