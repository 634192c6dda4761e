/*
 * The processor contract without Kafka: record headers and envelopes (processors/envelope.h)
 * and the probe (processors/probe.h) that runs a processor on a hand-built record and
 * captures what it emits, with the headers the runtime would put on it.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "connectors/kafka.h"
#include "core/config.h"
#include "processors/probe.h"
#include "processors/registry.h"
#include "processors/topology.h"
#include "schemas/records.h"
#include "schemas/serde.h"
#include "tables/tables.h"

#define NOW_MS INT64_C(1795456513000)
#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"

Test(envelope, headers_keep_order_repeats_and_null_values)
{
    struct hd_headers *h = hd_headers_new(0);
    hd_headers_add(h, "a", "1", 1);
    hd_headers_add(h, "b", NULL, 0);
    hd_headers_add(h, "a", "22", 2);
    cr_assert_eq(hd_headers_count(h), 3);
    const char *name;
    const void *v;
    size_t n;
    cr_assert_eq(hd_headers_get(h, 1, &name, &v, &n), 0);
    cr_expect_str_eq(name, "b");
    cr_expect_null(v, "a null value stays null");
    cr_assert_eq(hd_headers_last(h, "a", &v, &n), 0);
    cr_expect(n == 2 && !memcmp(v, "22", 2), "the last of a repeated name wins");
    cr_expect_eq(hd_headers_last(h, "missing", &v, &n), -1);
    cr_expect_eq(hd_headers_get(h, 3, &name, &v, &n), -1);
    struct hd_headers *c = hd_headers_copy(h);
    hd_headers_destroy(h);
    cr_assert_eq(hd_headers_count(c), 3, "a copy outlives its original");
    cr_assert_eq(hd_headers_get(c, 0, &name, &v, &n), 0);
    cr_expect(!strcmp(name, "a") && n == 1 && !memcmp(v, "1", 1));
    hd_headers_destroy(c);
    cr_expect_eq(hd_headers_count(NULL), 0);
    struct hd_headers *e = hd_headers_copy(NULL);
    cr_expect_eq(hd_headers_count(e), 0);
    hd_headers_destroy(e);
    hd_headers_destroy(NULL);
}

static struct hd_config cfg;
static struct hd_tables *tables;
static struct hd_probe *probe;

static void setup(void)
{
    char err[512];
    memset(&cfg, 0, sizeof(cfg));
    tables = hd_tables_load_file(HD_SOURCE_DIR "/tests/data/config/two_tenants.json", err,
                                 sizeof(err));
    cr_assert(tables, "%s", err);
    probe = hd_probe_new(&cfg, tables, NOW_MS, err, sizeof(err));
    cr_assert(probe, "%s", err);
}

static void teardown(void)
{
    hd_probe_destroy(probe);
    hd_tables_destroy(tables);
}

TestSuite(probe, .init = setup, .fini = teardown);

Test(probe, passthrough_forwards_the_bytes_with_a_new_span_of_the_input_trace)
{
    struct hd_headers *h = hd_headers_new(1);
    const char *tp = "00-" TRACE "-00f067aa0ba902b7-01";
    hd_headers_add(h, "traceparent", tp, strlen(tp));
    struct hd_envelope e = {.topic = "herald.bench.in", .partition = 3, .offset = 41,
                            .key = "k1", .key_len = 2, .value = "\x01\x02\x00\x03",
                            .value_len = 4, .timestamp_ms = NOW_MS, .headers = h};
    struct hd_record rec;
    memset(&rec, 0, sizeof(rec));
    char err[256];
    cr_assert_eq(hd_probe_decode(probe, HD_PAYLOAD_RAW, &e, &rec, err, sizeof(err)), 0, "%s",
                 err);
    cr_expect_str_eq(rec.trace_id, TRACE, "the trace comes from the input's traceparent");
    cr_assert_eq(hd_probe_run(probe, &hd_proc_passthrough, NULL, &rec), HD_PASS);
    cr_assert_eq(hd_probe_output_count(probe), 1);
    const struct hd_probe_output *o = hd_probe_output(probe, 0);
    cr_expect_str_eq(o->topic, HD_TOPIC_PASSTHROUGH_OUT);
    cr_expect(o->key_len == 2 && !memcmp(o->key, "k1", 2));
    cr_expect(o->value_len == 4 && !memcmp(o->value, "\x01\x02\x00\x03", 4),
              "bytes pass unchanged, a NUL included");
    char buf[128];
    cr_assert(hd_probe_header(o, "traceparent", buf, sizeof(buf)));
    cr_expect(!strncmp(buf, "00-" TRACE "-", 36), "same trace: %s", buf);
    cr_expect(strcmp(buf, tp) != 0, "a new span id");
    hd_probe_record_clear(&rec);
    hd_headers_destroy(h);
}

/* Encodes an event as its topic's schema, the way an upstream producer would. */
static size_t event_bytes(const char *topic, const char *json, struct hd_buf *out)
{
    char err[512];
    struct hd_serde *sd = hd_probe_serde(probe);
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    cr_assert(j, "%s", je.text);
    const struct hd_schema *s = hd_serde_schema_for_topic(sd, topic);
    cr_assert(s, "no schema for %s", topic);
    cr_assert_eq(hd_serde_encode_json(sd, s, j, out, err, sizeof(err)), 0, "%s", err);
    json_decref(j);
    return out->len;
}

Test(probe, route_turns_an_event_into_one_request_per_matching_rule)
{
    struct hd_buf b = HD_BUF_INIT;
    event_bytes("order.created",
                "{\"event_id\":\"e-1\",\"tenant_id\":\"acme\",\"user_id\":\"u-1\","
                "\"occurred_at\":1795456500000,\"order_id\":\"o-1\",\"total\":250,"
                "\"currency\":\"EUR\",\"customer\":{\"country\":\"DE\"}}",
                &b);
    struct hd_envelope e = {.topic = "order.created", .partition = 0, .offset = 7,
                            .key = "acme/u-1", .key_len = 8, .value = b.data,
                            .value_len = b.len, .timestamp_ms = -1};
    struct hd_record rec;
    memset(&rec, 0, sizeof(rec));
    char err[512];
    cr_assert_eq(hd_probe_decode(probe, HD_PAYLOAD_EVENT, &e, &rec, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(hd_probe_run(probe, &hd_proc_route, NULL, &rec), HD_PASS, "%s",
                 hd_probe_reason(probe));
    /* acme's order.created rules: the e-mail and the inbox; not the big order, whose
     * condition on customer.country cannot hold (the OrderCreated schema has no customer,
     * so decoding drops it) */
    cr_assert_eq(hd_probe_output_count(probe), 2, "%zu outputs", hd_probe_output_count(probe));
    const char *want[] = {"acme-order-email", "acme-order-inbox"};
    for (size_t i = 0; i < 2; i++) {
        const struct hd_probe_output *o = hd_probe_output(probe, i);
        cr_expect_str_eq(o->topic, HD_TOPIC_REQUESTS);
        cr_expect(o->key_len == 8 && !memcmp(o->key, "acme/u-1", 8));
        char t[64];
        cr_expect(hd_probe_header(o, "herald-tenant", t, sizeof(t)) && !strcmp(t, "acme"));
        struct hd_request r;
        memset(&r, 0, sizeof(r));
        cr_assert_eq(hd_request_decode(hd_probe_serde(probe), o->value, o->value_len, &r, err,
                                       sizeof(err)),
                     0, "%s", err);
        cr_expect_str_eq(r.tenant_id, "acme");
        cr_expect_str_eq(r.user_id, "u-1");
        const char *rule = hd_map_get(&r.metadata, "rule_id");
        cr_expect(rule && !strcmp(rule, want[i]), "output %zu: rule %s", i, rule);
        hd_request_clear(&r);
    }
    hd_probe_record_clear(&rec);
    hd_probe_clear(probe);

    /* an unknown tenant is an ERROR naming the field, and nothing is emitted */
    hd_buf_reset(&b);
    event_bytes("order.created",
                "{\"event_id\":\"e-2\",\"tenant_id\":\"nobody\",\"user_id\":\"u-1\","
                "\"occurred_at\":1795456500000,\"order_id\":\"o-2\",\"total\":5,"
                "\"currency\":\"EUR\"}",
                &b);
    e.value = b.data;
    e.value_len = b.len;
    memset(&rec, 0, sizeof(rec));
    cr_assert_eq(hd_probe_decode(probe, HD_PAYLOAD_EVENT, &e, &rec, err, sizeof(err)), 0, "%s",
                 err);
    cr_expect_eq(hd_probe_run(probe, &hd_proc_route, NULL, &rec), HD_ERROR);
    cr_expect_str_eq(hd_probe_code(probe), "unknown_tenant");
    cr_expect(strstr(hd_probe_reason(probe), "tenant_id"), "%s", hd_probe_reason(probe));
    cr_expect_eq(hd_probe_output_count(probe), 0);
    hd_probe_record_clear(&rec);
    hd_buf_free(&b);
}
