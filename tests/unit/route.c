/*
 * The route processor (processors/route.c) through the probe: a domain event, Avro-encoded
 * with its topic's schema as an upstream producer would, becomes one NotificationRequest per
 * matching rule of its tenant. Checks the request ids (UUIDv5 of tenant/event/rule), what
 * each request takes from the rule and from the event (recipient, metadata, variables), the
 * output's topic, key and headers, and the SKIP and ERROR verdicts. Rule conditions
 * (hd_rule_matches in tables/tables.c) are driven with every op on decoded events, whose
 * types are the schema's (total is a double, occurred_at a long, nullable unions are null
 * or the value, fields the schema lacks are dropped), then a few paths directly.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

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
#define OCCURRED INT64_C(1795456500000)
#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"

/* Two tenants; acme routes order.created twice (one rule conditional), user.registered,
 * order.shipped (conditional) and payment.failed (a rule without an id); globex has a rule
 * with the same id as one of acme's. Nobody routes payment.completed. */
static const char CONFIG[] =
    "{\"tenants\": [{\"tenant_id\": \"acme\", \"default_locale\": \"en\"},"
    "               {\"tenant_id\": \"globex\", \"default_locale\": \"de\"}],"
    " \"rules\": ["
    "  {\"id\": \"order-email\", \"tenant_id\": \"acme\", \"event_type\": \"order.created\","
    "   \"channels\": [\"EMAIL\", \"IN_APP\"], \"category\": \"MARKETING\","
    "   \"priority\": \"HIGH\","
    "   \"template\": {\"key\": \"order_confirmation\", \"version\": 2, \"locale\": \"fr\"}},"
    "  {\"id\": \"order-big\", \"tenant_id\": \"acme\", \"event_type\": \"order.created\","
    "   \"when\": [{\"field\": \"total\", \"op\": \"gte\", \"value\": 100}],"
    "   \"channels\": [\"SMS\"], \"priority\": \"URGENT\","
    "   \"content\": {\"subject\": \"Big\", \"text\": \"A big order\", \"html\": \"<b>big</b>\","
    "                 \"title\": \"Big!\", \"data\": {\"k\": \"v\"}}},"
    "  {\"id\": \"welcome\", \"tenant_id\": \"acme\", \"event_type\": \"user.registered\","
    "   \"channels\": [\"EMAIL\"], \"template\": {\"key\": \"welcome\"}},"
    "  {\"id\": \"welcome\", \"tenant_id\": \"globex\", \"event_type\": \"user.registered\","
    "   \"channels\": [\"EMAIL\"], \"content\": {\"text\": \"Willkommen\"}},"
    "  {\"id\": \"shipped\", \"tenant_id\": \"acme\", \"event_type\": \"order.shipped\","
    "   \"when\": [{\"field\": \"carrier\", \"op\": \"exists\"}],"
    "   \"channels\": [\"PUSH\"], \"content\": {\"title\": \"Shipped\"}},"
    "  {\"tenant_id\": \"acme\", \"event_type\": \"payment.failed\","
    "   \"channels\": [\"EMAIL\"], \"content\": {\"text\": \"Payment failed\"}}"
    " ]}";

/* An order.created event of acme's user u-1 (total and items vary). */
#define ORDER(id, total, items)                                                                \
    "{\"event_id\": \"" id "\", \"tenant_id\": \"acme\", \"user_id\": \"u-1\","               \
    " \"occurred_at\": 1795456500000, \"order_id\": \"o-1\", \"total\": " total ","           \
    " \"currency\": \"EUR\", \"items\": " items "}"
#define ITEMS2                                                                                 \
    "[{\"sku\": \"A-1\", \"name\": \"Apple\", \"quantity\": 2, \"unit_price\": 4.5},"         \
    " {\"sku\": \"B-2\", \"name\": \"Pear\", \"quantity\": 1, \"unit_price\": 12}]"

static struct hd_config cfg;
static struct hd_tables *tables;
static struct hd_probe *probe;
static struct hd_buf bytes = HD_BUF_INIT;
static struct hd_envelope env;
static struct hd_record rec;

/* A probe over tables parsed from `config` (replacing the ones before). */
static void use_config(const char *config)
{
    char err[512] = "";
    hd_probe_destroy(probe);
    hd_tables_destroy(tables);
    tables = hd_tables_parse(config, err, sizeof(err));
    cr_assert_not_null(tables, "config: %s", err);
    probe = hd_probe_new(&cfg, tables, NOW_MS, err, sizeof(err));
    cr_assert_not_null(probe, "%s", err);
}

static void setup(void)
{
    memset(&cfg, 0, sizeof(cfg));
    memset(&rec, 0, sizeof(rec));
    use_config(CONFIG);
}

static void teardown(void)
{
    hd_probe_record_clear(&rec);
    hd_buf_free(&bytes);
    hd_probe_destroy(probe);
    hd_tables_destroy(tables);
    probe = NULL;
    tables = NULL;
}

TestSuite(route, .init = setup, .fini = teardown);

/* Drops the last record and outputs, and points the envelope at `topic`. */
static void reset_input(const char *topic, const struct hd_headers *h)
{
    hd_probe_record_clear(&rec);
    memset(&rec, 0, sizeof(rec));
    hd_probe_clear(probe);
    hd_buf_reset(&bytes);
    memset(&env, 0, sizeof(env));
    env.topic = topic;
    env.partition = 2;
    env.offset = 17;
    env.key = "acme/u-1";
    env.key_len = 8;
    env.timestamp_ms = -1;
    env.headers = h;
}

/* Encodes `json` with topic's schema, decodes it as the runtime would and routes it. */
static enum hd_verdict route_with(const char *topic, const char *json, const struct hd_headers *h)
{
    char err[512] = "";
    reset_input(topic, h);
    struct hd_serde *sd = hd_probe_serde(probe);
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    cr_assert_not_null(j, "event %s: %s", json, je.text);
    const struct hd_schema *s = hd_serde_schema_for_topic(sd, topic);
    cr_assert_not_null(s, "no schema for %s", topic);
    cr_assert_eq(hd_serde_encode_json(sd, s, j, &bytes, err, sizeof(err)), 0, "%s", err);
    json_decref(j);
    env.value = bytes.data;
    env.value_len = bytes.len;
    cr_assert_eq(hd_probe_decode(probe, HD_PAYLOAD_EVENT, &env, &rec, err, sizeof(err)), 0,
                 "%s", err);
    return hd_probe_run(probe, &hd_proc_route, NULL, &rec);
}

static enum hd_verdict route(const char *topic, const char *json)
{
    return route_with(topic, json, NULL);
}

/* Routes an event given as plain JSON, as if decoded: for events no schema would let
 * through (a required field missing). */
static enum hd_verdict route_json(const char *topic, const char *json)
{
    reset_input(topic, NULL);
    json_error_t je;
    rec.kind = HD_PAYLOAD_EVENT;
    rec.src = &env;
    rec.event = json_loads(json, 0, &je);
    cr_assert_not_null(rec.event, "event %s: %s", json, je.text);
    return hd_probe_run(probe, &hd_proc_route, NULL, &rec);
}

/* Decodes output i as a NotificationRequest into r (clear with hd_request_clear). */
static void request_at(size_t i, struct hd_request *r)
{
    char err[512] = "";
    const struct hd_probe_output *o = hd_probe_output(probe, i);
    cr_assert_not_null(o, "no output %zu of %zu", i, hd_probe_output_count(probe));
    cr_assert_str_eq(o->topic, HD_TOPIC_REQUESTS);
    memset(r, 0, sizeof(*r));
    cr_assert_eq(hd_request_decode(hd_probe_serde(probe), o->value, o->value_len, r, err,
                                   sizeof(err)),
                 0, "output %zu: %s", i, err);
}

/* The request id route must give: UUIDv5 of "tenant/event/rule". */
static const char *want_id(const char *tenant, const char *event, const char *rule, char *out)
{
    char name[256];
    snprintf(name, sizeof(name), "%s/%s/%s", tenant, event, rule);
    hd_uuid_v5(name, out);
    return out;
}

/* ---- one request per matching rule ------------------------------------------------ */

Test(route, every_matching_rule_of_the_tenant_gives_one_request_in_rule_order)
{
    cr_assert_eq(route("order.created", ORDER("e-1", "250", ITEMS2)), HD_PASS, "%s",
                 hd_probe_reason(probe));
    cr_assert_eq(hd_probe_output_count(probe), 2);
    const char *rules[] = {"order-email", "order-big"};
    for (size_t i = 0; i < 2; i++) {
        struct hd_request r;
        request_at(i, &r);
        const char *id = hd_map_get(&r.metadata, "rule_id");
        cr_expect(id && !strcmp(id, rules[i]), "output %zu: rule %s", i, id ? id : "(none)");
        hd_request_clear(&r);
    }
}

Test(route, a_rule_whose_condition_fails_gives_no_request)
{
    cr_assert_eq(route("order.created", ORDER("e-1", "99.5", "[]")), HD_PASS);
    cr_assert_eq(hd_probe_output_count(probe), 1, "order-big needs total >= 100");
    struct hd_request r;
    request_at(0, &r);
    cr_expect_str_eq(hd_map_get(&r.metadata, "rule_id"), "order-email");
    hd_request_clear(&r);
}

Test(route, request_ids_are_uuidv5_of_tenant_event_and_rule)
{
    char want[HD_UUID_STRLEN];
    cr_assert_eq(route("order.created", ORDER("e-1", "250", "[]")), HD_PASS);
    cr_assert_eq(hd_probe_output_count(probe), 2);
    struct hd_request a, b;
    request_at(0, &a);
    request_at(1, &b);
    cr_expect_str_eq(a.request_id, want_id("acme", "e-1", "order-email", want));
    cr_expect_str_eq(b.request_id, want_id("acme", "e-1", "order-big", want));
    cr_expect_str_neq(a.request_id, b.request_id, "another rule, another id");
    cr_expect_eq(strlen(a.request_id), 36);
    cr_expect_eq(a.request_id[14], '5', "a version 5 UUID: %s", a.request_id);
    cr_expect_str_eq(a.idempotency_key, a.request_id, "the idempotency key is the id");
    hd_request_clear(&a);
    hd_request_clear(&b);
}

Test(route, the_same_event_twice_gives_the_same_ids_and_another_event_other_ids)
{
    char first[2][HD_UUID_STRLEN];
    cr_assert_eq(route("order.created", ORDER("e-1", "250", "[]")), HD_PASS);
    cr_assert_eq(hd_probe_output_count(probe), 2);
    for (size_t i = 0; i < 2; i++) {
        struct hd_request r;
        request_at(i, &r);
        snprintf(first[i], sizeof(first[i]), "%s", r.request_id);
        hd_request_clear(&r);
    }
    /* a replay: same event id, even with another total and other items */
    cr_assert_eq(route("order.created", ORDER("e-1", "300", ITEMS2)), HD_PASS);
    cr_assert_eq(hd_probe_output_count(probe), 2);
    for (size_t i = 0; i < 2; i++) {
        struct hd_request r;
        request_at(i, &r);
        cr_expect_str_eq(r.request_id, first[i], "replayed output %zu", i);
        hd_request_clear(&r);
    }
    cr_assert_eq(route("order.created", ORDER("e-2", "250", "[]")), HD_PASS);
    cr_assert_eq(hd_probe_output_count(probe), 2);
    for (size_t i = 0; i < 2; i++) {
        struct hd_request r;
        request_at(i, &r);
        cr_expect_str_neq(r.request_id, first[i], "event e-2, output %zu", i);
        hd_request_clear(&r);
    }
}

Test(route, the_same_event_and_rule_id_in_another_tenant_give_another_id)
{
    const char *ev = "{\"event_id\": \"e-9\", \"tenant_id\": \"%s\", \"user_id\": \"u-1\","
                     " \"occurred_at\": 1795456500000}";
    char json[256], ids[2][HD_UUID_STRLEN];
    const char *tenants[] = {"acme", "globex"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(json, sizeof(json), ev, tenants[i]);
        cr_assert_eq(route("user.registered", json), HD_PASS, "%s", hd_probe_reason(probe));
        cr_assert_eq(hd_probe_output_count(probe), 1);
        struct hd_request r;
        request_at(0, &r);
        cr_expect_str_eq(hd_map_get(&r.metadata, "rule_id"), "welcome");
        snprintf(ids[i], sizeof(ids[i]), "%s", r.request_id);
        hd_request_clear(&r);
    }
    cr_expect_str_neq(ids[0], ids[1], "both rules are \"welcome\"; the tenant tells them apart");
}

/* ---- what a request takes from the rule ------------------------------------------- */

Test(route, channels_category_priority_and_template_come_from_the_rule)
{
    cr_assert_eq(route("order.created", ORDER("e-1", "10", "[]")), HD_PASS);
    cr_assert_eq(hd_probe_output_count(probe), 1);
    struct hd_request r;
    request_at(0, &r);
    cr_assert_eq(r.channel_cnt, 2);
    cr_expect_eq(r.channels[0], HD_CH_EMAIL);
    cr_expect_eq(r.channels[1], HD_CH_IN_APP);
    cr_expect_eq(r.category, HD_CAT_MARKETING);
    cr_expect_eq(r.priority, HD_PRIO_HIGH);
    cr_assert_not_null(r.template_ref);
    cr_expect_str_eq(r.template_ref->key, "order_confirmation");
    cr_expect(r.template_ref->has_version);
    cr_expect_eq(r.template_ref->version, 2);
    cr_expect_str_eq(r.template_ref->locale, "fr");
    cr_expect_null(r.content, "the rule has no inline content");
    cr_expect_not(r.has_scheduled_at);
    cr_expect_not(r.has_expires_at);
    cr_expect_null(r.batch_id);
    cr_expect_null(r.provider);
    hd_request_clear(&r);
}

Test(route, inline_content_comes_from_the_rule_whole)
{
    cr_assert_eq(route("order.created", ORDER("e-1", "100", "[]")), HD_PASS);
    cr_assert_eq(hd_probe_output_count(probe), 2, "total 100 is gte 100");
    struct hd_request r;
    request_at(1, &r);
    cr_assert_eq(r.channel_cnt, 1);
    cr_expect_eq(r.channels[0], HD_CH_SMS);
    cr_expect_eq(r.priority, HD_PRIO_URGENT);
    cr_expect_eq(r.category, HD_CAT_TRANSACTIONAL, "the default category");
    cr_expect_null(r.template_ref);
    cr_assert_not_null(r.content);
    cr_expect_str_eq(r.content->subject, "Big");
    cr_expect_str_eq(r.content->text, "A big order");
    cr_expect_str_eq(r.content->html, "<b>big</b>");
    cr_expect_str_eq(r.content->title, "Big!");
    cr_assert_eq(r.content->data.cnt, 1);
    cr_expect_str_eq(hd_map_get(&r.content->data, "k"), "v");
    hd_request_clear(&r);
}

Test(route, a_template_without_version_or_locale_stays_without)
{
    cr_assert_eq(route("user.registered",
                       "{\"event_id\": \"e-1\", \"tenant_id\": \"acme\", \"user_id\": \"u-1\","
                       " \"occurred_at\": 1795456500000}"),
                 HD_PASS);
    cr_assert_eq(hd_probe_output_count(probe), 1);
    struct hd_request r;
    request_at(0, &r);
    cr_assert_not_null(r.template_ref);
    cr_expect_str_eq(r.template_ref->key, "welcome");
    cr_expect_not(r.template_ref->has_version);
    cr_expect_null(r.template_ref->locale);
    cr_expect_eq(r.priority, HD_PRIO_NORMAL, "the default priority");
    hd_request_clear(&r);
}

/* ---- what a request takes from the event ------------------------------------------ */

Test(route, tenant_user_time_and_variables_come_from_the_event)
{
    cr_assert_eq(route("order.created", ORDER("e-1", "10", ITEMS2)), HD_PASS);
    cr_assert_eq(hd_probe_output_count(probe), 1);
    struct hd_request r;
    request_at(0, &r);
    cr_expect_str_eq(r.tenant_id, "acme");
    cr_expect_str_eq(r.user_id, "u-1");
    cr_expect_eq(r.created_at, OCCURRED, "created_at is the event's occurred_at");
    json_error_t je;
    json_t *vars = json_loads(r.variables_json, 0, &je);
    cr_assert_not_null(vars, "variables_json %s: %s", r.variables_json, je.text);
    cr_expect_str_eq(json_string_value(json_object_get(vars, "order_id")), "o-1");
    cr_expect_str_eq(json_string_value(json_object_get(vars, "event_id")), "e-1");
    cr_expect(json_number_value(json_object_get(vars, "total")) == 10.0);
    json_t *items = json_object_get(vars, "items");
    cr_assert_eq(json_array_size(items), 2, "the whole event is the variables");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(items, 1), "sku")), "B-2");
    json_decref(vars);
    hd_request_clear(&r);
}

Test(route, metadata_names_the_source_event_and_the_rule)
{
    cr_assert_eq(route("order.created", ORDER("e-7", "10", "[]")), HD_PASS);
    cr_assert_eq(hd_probe_output_count(probe), 1);
    struct hd_request r;
    request_at(0, &r);
    cr_expect_eq(r.metadata.cnt, 3, "exactly three metadata entries");
    cr_expect_str_eq(hd_map_get(&r.metadata, "source_event_type"), "order.created");
    cr_expect_str_eq(hd_map_get(&r.metadata, "source_event_id"), "e-7");
    cr_expect_str_eq(hd_map_get(&r.metadata, "rule_id"), "order-email");
    hd_request_clear(&r);
}

Test(route, a_rule_without_an_id_is_named_by_its_place_in_the_config)
{
    char want[HD_UUID_STRLEN];
    cr_assert_eq(route("payment.failed",
                       "{\"event_id\": \"e-1\", \"tenant_id\": \"acme\", \"user_id\": \"u-1\","
                       " \"occurred_at\": 1795456500000, \"payment_id\": \"p-1\", \"amount\": 5,"
                       " \"currency\": \"EUR\", \"reason\": \"declined\"}"),
                 HD_PASS, "%s", hd_probe_reason(probe));
    cr_assert_eq(hd_probe_output_count(probe), 1);
    struct hd_request r;
    request_at(0, &r);
    cr_expect_str_eq(hd_map_get(&r.metadata, "rule_id"), "rules[5]");
    cr_expect_str_eq(hd_map_get(&r.metadata, "source_event_type"), "payment.failed");
    cr_expect_str_eq(r.request_id, want_id("acme", "e-1", "rules[5]", want));
    hd_request_clear(&r);
}

Test(route, the_event_address_fields_become_the_recipient)
{
    cr_assert_eq(route("user.registered",
                       "{\"event_id\": \"e-1\", \"tenant_id\": \"acme\", \"user_id\": \"u-1\","
                       " \"occurred_at\": 1795456500000, \"email\": \"ada@example.com\","
                       " \"name\": \"Ada\", \"locale\": \"fr-CA\"}"),
                 HD_PASS);
    cr_assert_eq(hd_probe_output_count(probe), 1);
    struct hd_request r;
    request_at(0, &r);
    cr_assert_not_null(r.recipient);
    cr_expect_str_eq(r.recipient->email, "ada@example.com");
    cr_expect_str_eq(r.recipient->locale, "fr-CA");
    cr_expect_null(r.recipient->phone);
    cr_expect_null(r.recipient->timezone);
    cr_expect_eq(r.recipient->push_token_cnt, 0);
    hd_request_clear(&r);
}

Test(route, one_address_field_is_enough_for_a_recipient)
{
    cr_assert_eq(route("user.registered",
                       "{\"event_id\": \"e-1\", \"tenant_id\": \"acme\", \"user_id\": \"u-1\","
                       " \"occurred_at\": 1795456500000, \"locale\": \"de\"}"),
                 HD_PASS);
    struct hd_request r;
    request_at(0, &r);
    cr_assert_not_null(r.recipient);
    cr_expect_str_eq(r.recipient->locale, "de");
    cr_expect_null(r.recipient->email, "a null union is no address");
    hd_request_clear(&r);

    /* no schema has a phone yet; a decoded event that has one carries it */
    cr_assert_eq(route_json("user.registered",
                            "{\"event_id\": \"e-1\", \"tenant_id\": \"acme\", \"user_id\": \"u-1\","
                            " \"phone\": \"+4915112345678\"}"),
                 HD_PASS, "%s", hd_probe_reason(probe));
    request_at(0, &r);
    cr_assert_not_null(r.recipient);
    cr_expect_str_eq(r.recipient->phone, "+4915112345678");
    cr_expect_null(r.recipient->email);
    cr_expect_eq(r.created_at, 0, "no occurred_at, no time");
    hd_request_clear(&r);
}

Test(route, an_event_without_address_fields_has_no_recipient)
{
    cr_assert_eq(route("user.registered",
                       "{\"event_id\": \"e-1\", \"tenant_id\": \"acme\", \"user_id\": \"u-1\","
                       " \"occurred_at\": 1795456500000, \"email\": null, \"locale\": null}"),
                 HD_PASS);
    struct hd_request r;
    request_at(0, &r);
    cr_expect_null(r.recipient);
    hd_request_clear(&r);
    cr_assert_eq(route("order.created", ORDER("e-1", "1", "[]")), HD_PASS);
    request_at(0, &r);
    cr_expect_null(r.recipient, "OrderCreated has no address fields");
    hd_request_clear(&r);
}

/* ---- the output record ------------------------------------------------------------ */

Test(route, output_goes_to_the_requests_topic_keyed_tenant_slash_user)
{
    cr_assert_eq(route("order.created", ORDER("e-1", "250", "[]")), HD_PASS);
    cr_assert_eq(hd_probe_output_count(probe), 2);
    for (size_t i = 0; i < 2; i++) {
        const struct hd_probe_output *o = hd_probe_output(probe, i);
        cr_expect_str_eq(o->topic, HD_TOPIC_REQUESTS);
        cr_expect(o->key_len == 8 && !memcmp(o->key, "acme/u-1", 8), "key %.*s",
                  (int)o->key_len, (const char *)o->key);
        /* a single-object encoded NotificationRequest */
        const struct hd_schema *s =
            hd_serde_peek(hd_probe_serde(probe), o->value, o->value_len, NULL, 0);
        cr_assert_not_null(s);
        cr_expect_str_eq(hd_schema_name(s), "NotificationRequest");
    }
}

Test(route, output_headers_carry_the_tenant_and_the_input_trace)
{
    struct hd_headers *h = hd_headers_new(1);
    const char *tp = "00-" TRACE "-00f067aa0ba902b7-01";
    hd_headers_add(h, "traceparent", tp, strlen(tp));
    cr_assert_eq(route_with("order.created", ORDER("e-1", "250", "[]"), h), HD_PASS);
    cr_expect_str_eq(rec.trace_id, TRACE);
    cr_assert_eq(hd_probe_output_count(probe), 2);
    char spans[2][64];
    for (size_t i = 0; i < 2; i++) {
        const struct hd_probe_output *o = hd_probe_output(probe, i);
        char v[128];
        cr_expect(hd_probe_header(o, "herald-tenant", v, sizeof(v)) && !strcmp(v, "acme"));
        cr_assert(hd_probe_header(o, "traceparent", v, sizeof(v)), "output %zu", i);
        cr_expect_eq(strlen(v), 55, "%s", v);
        cr_expect(!strncmp(v, "00-" TRACE "-", 36), "the input's trace: %s", v);
        cr_expect(strcmp(v, tp) != 0, "a span of its own");
        snprintf(spans[i], sizeof(spans[i]), "%s", v);
        cr_expect_null(hd_probe_header(o, "herald-notification-id", v, sizeof(v)),
                       "a request has no notification id yet");
        cr_expect_null(hd_probe_header(o, "herald-attempt", v, sizeof(v)));
    }
    cr_expect_str_neq(spans[0], spans[1], "each output its own span");
    hd_probe_record_clear(&rec);
    hd_headers_destroy(h);
}

Test(route, without_a_traceparent_the_outputs_share_a_new_trace)
{
    cr_assert_eq(route("order.created", ORDER("e-1", "250", "[]")), HD_PASS);
    cr_assert_eq(strlen(rec.trace_id), 32, "a trace is made up: %s", rec.trace_id);
    cr_assert_eq(hd_probe_output_count(probe), 2);
    for (size_t i = 0; i < 2; i++) {
        char v[128], want[40];
        snprintf(want, sizeof(want), "00-%s-", rec.trace_id);
        cr_assert(hd_probe_header(hd_probe_output(probe, i), "traceparent", v, sizeof(v)));
        cr_expect(!strncmp(v, want, 36), "%s carries %s", v, rec.trace_id);
    }
}

/* ---- SKIP and ERROR ----------------------------------------------------------------- */

Test(route, an_event_no_rule_routes_is_skipped_as_no_rule)
{
    cr_expect_eq(route("payment.completed",
                       "{\"event_id\": \"e-1\", \"tenant_id\": \"acme\", \"user_id\": \"u-1\","
                       " \"occurred_at\": 1795456500000, \"payment_id\": \"p-1\", \"amount\": 5,"
                       " \"currency\": \"EUR\"}"),
                 HD_SKIP);
    cr_expect_str_eq(hd_probe_code(probe), "no_rule");
    cr_expect(strstr(hd_probe_reason(probe), "acme") &&
                  strstr(hd_probe_reason(probe), "payment.completed"),
              "%s", hd_probe_reason(probe));
    cr_expect_eq(hd_probe_output_count(probe), 0);
}

Test(route, rules_that_all_fail_their_conditions_skip_as_no_rule)
{
    cr_expect_eq(route("order.shipped",
                       "{\"event_id\": \"e-1\", \"tenant_id\": \"acme\", \"user_id\": \"u-1\","
                       " \"occurred_at\": 1795456500000, \"order_id\": \"o-1\"}"),
                 HD_SKIP, "no carrier: the only rule does not hold");
    cr_expect_str_eq(hd_probe_code(probe), "no_rule");
    cr_expect_eq(hd_probe_output_count(probe), 0);
    /* another tenant's rules for the type do not count */
    cr_expect_eq(route("order.created",
                       "{\"event_id\": \"e-1\", \"tenant_id\": \"globex\", \"user_id\": \"u-1\","
                       " \"occurred_at\": 1795456500000, \"order_id\": \"o-1\", \"total\": 500,"
                       " \"currency\": \"EUR\"}"),
                 HD_SKIP);
    cr_expect_str_eq(hd_probe_code(probe), "no_rule");
    cr_expect_eq(hd_probe_output_count(probe), 0);
}

/* An ERROR invalid_event whose reason starts with `field: ` and nothing emitted. */
static void expect_invalid_event(enum hd_verdict v, const char *field, const char *event)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "%s: ", field);
    cr_expect_eq(v, HD_ERROR, "%s", event);
    cr_expect_str_eq(hd_probe_code(probe), "invalid_event", "%s", event);
    cr_expect(!strncmp(hd_probe_reason(probe), prefix, strlen(prefix)),
              "reason \"%s\" does not name %s: %s", hd_probe_reason(probe), field, event);
    cr_expect(strstr(hd_probe_reason(probe), "tenant_id, user_id and event_id"), "%s",
              hd_probe_reason(probe));
    cr_expect_eq(hd_probe_output_count(probe), 0, "%s", event);
}

Test(route, a_missing_or_empty_tenant_user_or_event_id_is_an_invalid_event_naming_it)
{
    static const struct {
        const char *field, *event;
    } bad[] = {
        {"tenant_id", "{\"event_id\": \"e-1\", \"user_id\": \"u-1\"}"},
        {"user_id", "{\"event_id\": \"e-1\", \"tenant_id\": \"acme\"}"},
        {"event_id", "{\"tenant_id\": \"acme\", \"user_id\": \"u-1\"}"},
        {"tenant_id", "{\"event_id\": \"e-1\", \"tenant_id\": \"\", \"user_id\": \"u-1\"}"},
        {"tenant_id", "{\"event_id\": \"e-1\", \"tenant_id\": 7, \"user_id\": \"u-1\"}"},
        {"user_id", "{\"event_id\": \"e-1\", \"tenant_id\": \"acme\", \"user_id\": null}"},
        {"user_id", "{\"event_id\": \"e-1\", \"tenant_id\": \"acme\", \"user_id\": \"\"}"},
        {"event_id", "{\"event_id\": 42, \"tenant_id\": \"acme\", \"user_id\": \"u-1\"}"},
        {"event_id", "{\"event_id\": \"\", \"tenant_id\": \"acme\", \"user_id\": \"u-1\"}"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++)
        expect_invalid_event(route_json("order.created", bad[i].event), bad[i].field,
                             bad[i].event);
}

/* The Avro schema lets an empty string through; route refuses it for each id alike. An
 * empty event_id would give every such event of acme the request id of "acme//rule" (dedup
 * would keep the first only); an empty user_id a request validate would dead-letter. */
Test(route, an_empty_tenant_user_or_event_id_through_avro_is_an_invalid_event)
{
#define EVENT(event_id, tenant_id, user_id)                                                    \
    "{\"event_id\": \"" event_id "\", \"tenant_id\": \"" tenant_id "\","                    \
    " \"user_id\": \"" user_id "\", \"occurred_at\": 1795456500000, \"order_id\": \"o-1\","  \
    " \"total\": 500, \"currency\": \"EUR\"}"
    static const struct {
        const char *field, *event;
    } bad[] = {
        {"tenant_id", EVENT("e-1", "", "u-1")},
        {"user_id", EVENT("e-1", "acme", "")},
        {"event_id", EVENT("", "acme", "u-1")},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++)
        expect_invalid_event(route("order.created", bad[i].event), bad[i].field, bad[i].event);
    /* the same event with every id routes: the rules do match it */
    cr_expect_eq(route("order.created", EVENT("e-1", "acme", "u-1")), HD_PASS, "%s",
                 hd_probe_reason(probe));
    cr_expect_eq(hd_probe_output_count(probe), 2);
#undef EVENT
}

Test(route, an_unknown_tenant_is_an_error_naming_it)
{
    cr_expect_eq(route("order.created",
                       "{\"event_id\": \"e-1\", \"tenant_id\": \"initech\", \"user_id\": \"u-1\","
                       " \"occurred_at\": 1795456500000, \"order_id\": \"o-1\", \"total\": 500,"
                       " \"currency\": \"EUR\"}"),
                 HD_ERROR);
    cr_expect_str_eq(hd_probe_code(probe), "unknown_tenant");
    cr_expect(strstr(hd_probe_reason(probe), "tenant_id") &&
                  strstr(hd_probe_reason(probe), "\"initech\""),
              "%s", hd_probe_reason(probe));
    cr_expect_eq(hd_probe_output_count(probe), 0);
    /* tenants are matched exactly */
    cr_expect_eq(route_json("order.created",
                            "{\"event_id\": \"e-1\", \"tenant_id\": \"ACME\", \"user_id\": \"u\"}"),
                 HD_ERROR);
    cr_expect_str_eq(hd_probe_code(probe), "unknown_tenant");
}

Test(route, a_known_tenant_without_any_rules_is_skipped_not_an_error)
{
    use_config("{\"tenants\": [{\"tenant_id\": \"acme\"}]}");
    cr_expect_eq(route("order.created", ORDER("e-1", "250", "[]")), HD_SKIP);
    cr_expect_str_eq(hd_probe_code(probe), "no_rule");
}

Test(route, more_rules_for_one_event_type_than_route_handles_is_an_error)
{
    struct hd_buf c = HD_BUF_INIT;
    hd_buf_puts(&c, "{\"tenants\": [{\"tenant_id\": \"acme\"}], \"rules\": [");
    for (int i = 0; i < 33; i++)
        hd_buf_printf(&c, "%s{\"id\": \"r%d\", \"tenant_id\": \"acme\", \"event_type\": "
                      "\"order.created\", \"channels\": [\"IN_APP\"], \"content\": {\"text\": "
                      "\"x\"}}", i ? "," : "", i);
    hd_buf_puts(&c, "]}");
    use_config(c.data);
    cr_expect_eq(route("order.created", ORDER("e-1", "250", "[]")), HD_ERROR);
    cr_expect_str_eq(hd_probe_code(probe), "too_many_rules");
    cr_expect(strstr(hd_probe_reason(probe), "33"), "%s", hd_probe_reason(probe));
    cr_expect_eq(hd_probe_output_count(probe), 0, "nothing of the event is emitted");

    /* 32 rules is the most: each gives its request */
    hd_buf_reset(&c);
    hd_buf_puts(&c, "{\"tenants\": [{\"tenant_id\": \"acme\"}], \"rules\": [");
    for (int i = 0; i < 32; i++)
        hd_buf_printf(&c, "%s{\"id\": \"r%d\", \"tenant_id\": \"acme\", \"event_type\": "
                      "\"order.created\", \"channels\": [\"IN_APP\"], \"content\": {\"text\": "
                      "\"x\"}}", i ? "," : "", i);
    hd_buf_puts(&c, "]}");
    use_config(c.data);
    cr_expect_eq(route("order.created", ORDER("e-1", "250", "[]")), HD_PASS);
    cr_expect_eq(hd_probe_output_count(probe), 32);
    hd_buf_free(&c);
}

/* ---- conditions on decoded events ------------------------------------------------- */

/* Does acme's only rule, on `topic` with the single condition `cond`, route `event`? */
static int routes(const char *topic, const char *cond, const char *event)
{
    char *config = hd_asprintf(
        "{\"tenants\": [{\"tenant_id\": \"acme\"}], \"rules\": [{\"id\": \"r\", "
        "\"tenant_id\": \"acme\", \"event_type\": \"%s\", \"channels\": [\"IN_APP\"], "
        "\"content\": {\"text\": \"x\"}, \"when\": [%s]}]}",
        topic, cond);
    use_config(config);
    hd_free(config);
    enum hd_verdict v = route(topic, event);
    cr_assert(v == HD_PASS || v == HD_SKIP, "%s on %s: verdict %d %s", cond, event, (int)v,
              hd_probe_reason(probe));
    if (v == HD_SKIP)
        cr_assert_str_eq(hd_probe_code(probe), "no_rule");
    cr_assert_eq(hd_probe_output_count(probe), v == HD_PASS ? 1u : 0u);
    return v == HD_PASS;
}

struct cond_case {
    const char *cond;
    int want;
};

static void check_order(const struct cond_case *c, size_t n, const char *event)
{
    for (size_t i = 0; i < n; i++) {
        int got = routes("order.created", c[i].cond, event);
        cr_expect_eq(got, c[i].want, "%s: %s, want %s", c[i].cond, got ? "routed" : "skipped",
                     c[i].want ? "routed" : "skipped");
    }
}

#define COND(field, op, value)                                                                 \
    "{\"field\": \"" field "\", \"op\": \"" op "\", \"value\": " value "}"
#define ORDER_250 ORDER("e-1", "250", ITEMS2)

Test(route, eq_and_ne_compare_decoded_numbers_and_strings)
{
    static const struct cond_case c[] = {
        {COND("total", "eq", "250"), 1}, /* the schema's double 250.0 equals the integer */
        {COND("total", "eq", "250.0"), 1},
        {COND("total", "eq", "250.5"), 0},
        {COND("currency", "eq", "\"EUR\""), 1},
        {COND("currency", "eq", "\"eur\""), 0},
        {COND("total", "ne", "250"), 0},
        {COND("total", "ne", "100"), 1},
        {COND("currency", "ne", "\"USD\""), 1},
        {COND("currency", "ne", "\"EUR\""), 0},
        {COND("occurred_at", "eq", "1795456500000"), 1},
    };
    check_order(c, HD_ARRAY_SIZE(c), ORDER_250);
}

Test(route, ordering_ops_compare_at_their_bounds)
{
    static const struct cond_case c[] = {
        {COND("total", "gt", "249.99"), 1},
        {COND("total", "gt", "250"), 0},
        {COND("total", "gte", "250"), 1},
        {COND("total", "gte", "250.01"), 0},
        {COND("total", "lt", "250.01"), 1},
        {COND("total", "lt", "250"), 0},
        {COND("total", "lte", "250"), 1},
        {COND("total", "lte", "249"), 0},
        {COND("occurred_at", "gt", "1795456499999"), 1},
        {COND("occurred_at", "lt", "1795456500000"), 0},
        {COND("order_id", "gt", "\"o-0\""), 1},
        {COND("order_id", "lte", "\"o-0\""), 0},
    };
    check_order(c, HD_ARRAY_SIZE(c), ORDER_250);
}

Test(route, in_matches_any_listed_value_of_the_same_type)
{
    static const struct cond_case c[] = {
        {COND("currency", "in", "[\"CHF\", \"EUR\"]"), 1},
        {COND("currency", "in", "[\"CHF\", \"USD\"]"), 0},
        {COND("currency", "in", "[]"), 0},
        {COND("total", "in", "[100, 250]"), 1},
        {COND("total", "in", "[\"250\"]"), 0},
        {COND("items.0.quantity", "in", "[2, 3]"), 1},
        {COND("items.1.quantity", "in", "[2, 3]"), 0},
    };
    check_order(c, HD_ARRAY_SIZE(c), ORDER_250);
}

Test(route, exists_needs_a_present_non_null_field)
{
    static const char *const shipped =
        "{\"event_id\": \"e-1\", \"tenant_id\": \"acme\", \"user_id\": \"u-1\","
        " \"occurred_at\": 1795456500000, \"order_id\": \"o-1\", \"carrier\": %s,"
        " \"estimated_delivery\": %s}";
    char with[512], without[512];
    snprintf(with, sizeof(with), shipped, "\"DHL\"", "1795500000000");
    snprintf(without, sizeof(without), shipped, "null", "null");
    const char *ex_carrier = "{\"field\": \"carrier\", \"op\": \"exists\"}";
    const char *ex_eta = "{\"field\": \"estimated_delivery\", \"op\": \"exists\"}";
    cr_expect(routes("order.shipped", ex_carrier, with));
    cr_expect_not(routes("order.shipped", ex_carrier, without), "a null union");
    cr_expect(routes("order.shipped", ex_eta, with));
    cr_expect_not(routes("order.shipped", ex_eta, without));
    cr_expect(routes("order.shipped", COND("estimated_delivery", "gte", "1795500000000"), with));
    cr_expect_not(routes("order.shipped", COND("estimated_delivery", "gte", "0"), without),
                  "null is no number");
    cr_expect(routes("order.shipped", COND("carrier", "ne", "\"UPS\""), without),
              "ne holds on null");
    cr_expect_not(routes("order.shipped", COND("carrier", "eq", "\"DHL\""), without));
    cr_expect(routes("order.created", "{\"field\": \"items.0\", \"op\": \"exists\"}", ORDER_250));
    cr_expect_not(routes("order.created", "{\"field\": \"items.0\", \"op\": \"exists\"}",
                         ORDER("e-1", "250", "[]")),
                  "an empty items list");
}

Test(route, nested_paths_reach_into_records_of_arrays)
{
    static const struct cond_case c[] = {
        {COND("items.0.sku", "eq", "\"A-1\""), 1},
        {COND("items.1.sku", "eq", "\"B-2\""), 1},
        {COND("items.1.sku", "eq", "\"A-1\""), 0},
        {COND("items.1.unit_price", "gt", "10"), 1},
        {COND("items.0.unit_price", "lt", "4.5"), 0},
        {COND("items.0.quantity", "gte", "2"), 1},
        {COND("items.2.sku", "eq", "\"A-1\""), 0},
        {COND("items.x.sku", "eq", "\"A-1\""), 0},
        {COND("items.0.sku.x", "eq", "\"A-1\""), 0},
        {"{\"field\": \"items.0.name\", \"op\": \"exists\"}", 1},
    };
    check_order(c, HD_ARRAY_SIZE(c), ORDER_250);
}

Test(route, type_mismatches_never_match_but_ne_holds)
{
    static const struct cond_case c[] = {
        {COND("total", "eq", "\"250\""), 0},
        {COND("total", "gt", "\"1\""), 0},
        {COND("currency", "gt", "5"), 0},
        {COND("order_id", "lt", "100"), 0},
        {COND("items", "gt", "1"), 0},
        {COND("items", "eq", "2"), 0},
        {COND("total", "eq", "true"), 0},
        {COND("total", "ne", "\"250\""), 1},
    };
    check_order(c, HD_ARRAY_SIZE(c), ORDER_250);
}

Test(route, fields_the_schema_drops_are_missing)
{
    /* customer is not an OrderCreated field: encoding drops it, so it is missing */
    const char *event = "{\"event_id\": \"e-1\", \"tenant_id\": \"acme\", \"user_id\": \"u-1\","
                        " \"occurred_at\": 1795456500000, \"order_id\": \"o-1\", \"total\": 250,"
                        " \"currency\": \"EUR\", \"customer\": {\"country\": \"DE\"}}";
    static const struct cond_case c[] = {
        {COND("customer.country", "eq", "\"DE\""), 0},
        {COND("customer.country", "in", "[\"DE\", \"AT\"]"), 0},
        {"{\"field\": \"customer\", \"op\": \"exists\"}", 0},
        {COND("customer.country", "gte", "\"A\""), 0},
        {COND("customer.country", "lte", "\"Z\""), 0},
        {COND("customer.country", "ne", "\"DE\""), 1}, /* ne holds on a missing field */
    };
    check_order(c, HD_ARRAY_SIZE(c), event);
}

Test(route, every_condition_of_a_rule_must_hold)
{
    const char *both = "[" COND("total", "gt", "100") ", " COND("currency", "eq", "\"EUR\"") "]";
    char *config = hd_asprintf(
        "{\"tenants\": [{\"tenant_id\": \"acme\"}], \"rules\": [{\"id\": \"r\", "
        "\"tenant_id\": \"acme\", \"event_type\": \"order.created\", \"channels\": [\"SMS\"], "
        "\"content\": {\"text\": \"x\"}, \"when\": %s}]}",
        both);
    use_config(config);
    hd_free(config);
    cr_expect_eq(route("order.created", ORDER("e-1", "250", "[]")), HD_PASS);
    cr_expect_eq(route("order.created", ORDER("e-1", "50", "[]")), HD_SKIP);
    cr_expect_eq(route("order.created",
                       "{\"event_id\": \"e-1\", \"tenant_id\": \"acme\", \"user_id\": \"u-1\","
                       " \"occurred_at\": 1795456500000, \"order_id\": \"o-1\", \"total\": 250,"
                       " \"currency\": \"USD\"}"),
                 HD_SKIP);
}

/* ---- hd_rule_matches directly ------------------------------------------------------ */

/* The only rule of a config whose `when` is `when`. */
static const struct hd_rule *only_rule(const char *when)
{
    char *config = hd_asprintf(
        "{\"tenants\": [{\"tenant_id\": \"acme\"}], \"rules\": [{\"tenant_id\": \"acme\", "
        "\"event_type\": \"e\", \"channels\": [\"EMAIL\"], \"template\": {\"key\": \"k\"}, "
        "\"when\": %s}]}",
        when);
    use_config(config);
    hd_free(config);
    const struct hd_rule *rules;
    cr_assert_eq(hd_tables_rules(tables, &rules), 1);
    return &rules[0];
}

static int matches(const struct hd_rule *r, const char *event)
{
    json_t *ev = json_loads(event, 0, NULL);
    cr_assert_not_null(ev, "%s", event);
    int m = hd_rule_matches(r, ev);
    json_decref(ev);
    return m;
}

Test(route, exists_ignores_a_value_given_with_it)
{
    const struct hd_rule *r =
        only_rule("[{\"field\": \"coupon\", \"op\": \"exists\", \"value\": \"X\"}]");
    cr_expect(matches(r, "{\"coupon\": \"SAVE\"}"));
    cr_expect_not(matches(r, "{}"));
}

Test(route, a_path_through_a_scalar_or_past_the_end_does_not_resolve)
{
    const struct hd_rule *r = only_rule("[" COND("a.b", "eq", "1") "]");
    cr_expect(matches(r, "{\"a\": {\"b\": 1}}"));
    cr_expect_not(matches(r, "{\"a\": 1}"));
    cr_expect_not(matches(r, "{\"a\": \"b\"}"));
    cr_expect_not(matches(r, "{\"a\": null}"));
    cr_expect_not(matches(r, "[]"), "an event that is not an object");
    r = only_rule("[" COND("a.-1", "eq", "1") "]");
    cr_expect_not(matches(r, "{\"a\": [1]}"), "no negative index");
}

Test(route, a_path_segment_of_128_bytes_or_more_never_resolves)
{
    char seg[200], when[400], ev[400];
    memset(seg, 'k', 128);
    seg[128] = '\0';
    snprintf(when, sizeof(when), "[{\"field\": \"%s\", \"op\": \"exists\"}]", seg);
    snprintf(ev, sizeof(ev), "{\"%s\": 1}", seg);
    cr_expect_not(matches(only_rule(when), ev));
    seg[127] = '\0';
    snprintf(when, sizeof(when), "[{\"field\": \"%s\", \"op\": \"exists\"}]", seg);
    snprintf(ev, sizeof(ev), "{\"%s\": 1}", seg);
    cr_expect(matches(only_rule(when), ev), "127 bytes still do");
}

Test(route, a_rule_with_an_empty_when_list_matches_everything)
{
    const struct hd_rule *r = only_rule("[]");
    cr_expect(matches(r, "{}"));
    cr_expect(matches(r, "{\"total\": 1}"));
    r = only_rule("null");
    cr_expect(matches(r, "{}"), "a null when is no condition");
}
