/*
 * Avro serde: canonical forms and fingerprints against values computed with
 * fastavro, round trips of every schema, plain-JSON conversion, and decoding
 * of broken input (truncated, wrong magic, unknown fingerprint, garbage,
 * trailing bytes, absurd lengths) that must fail with a clear message and
 * never crash. Sample records: tests/data/avro/samples.jsonl.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/embed.h"
#include "schemas/records.h"
#include "schemas/serde.h"

static struct hd_serde *sd;
static char err[1024];

static void setup(void)
{
    sd = hd_serde_new(err, sizeof(err));
    cr_assert(sd, "hd_serde_new: %s", err);
}

static void teardown(void)
{
    hd_serde_destroy(sd);
}

TestSuite(serde, .init = setup, .fini = teardown);

/* ---- samples ---- */

struct sample {
    const struct hd_schema *schema;
    json_t *value;
    struct hd_buf bytes;
};

static struct sample samples[64];
static size_t sample_cnt;

static void load_samples(void)
{
    const char *path = HD_SOURCE_DIR "/tests/data/avro/samples.jsonl";
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot open %s", path);
    char *line = NULL;
    size_t cap = 0;
    sample_cnt = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t jerr;
        json_t *o = json_loads(line, JSON_ALLOW_NUL, &jerr);
        cr_assert(o, "%s: %s", path, jerr.text);
        cr_assert(sample_cnt < HD_ARRAY_SIZE(samples));
        struct sample *s = &samples[sample_cnt++];
        s->schema = hd_serde_schema(sd, json_string_value(json_object_get(o, "schema")));
        cr_assert(s->schema);
        s->value = json_incref(json_object_get(o, "value"));
        s->bytes = (struct hd_buf)HD_BUF_INIT;
        cr_assert(!hd_serde_encode_json(sd, s->schema, s->value, &s->bytes, err, sizeof(err)),
                  "%s: %s", hd_schema_name(s->schema), err);
        json_decref(o);
    }
    free(line);
    fclose(f);
    cr_assert(sample_cnt >= 12);
}

static void free_samples(void)
{
    for (size_t i = 0; i < sample_cnt; i++) {
        json_decref(samples[i].value);
        hd_buf_free(&samples[i].bytes);
    }
    sample_cnt = 0;
}

static void setup_samples(void)
{
    setup();
    load_samples();
}

static void teardown_samples(void)
{
    free_samples();
    teardown();
}

/* Every member of `part` equals the same member of `whole` (recursively for
 * objects), so a sample that leaves fields to their defaults still matches. */
static int json_within(json_t *part, json_t *whole)
{
    if (json_is_object(part)) {
        const char *k;
        json_t *v;
        json_object_foreach(part, k, v) {
            if (!json_within(v, json_object_get(whole, k)))
                return 0;
        }
        return json_is_object(whole);
    }
    if (json_is_array(part)) {
        if (!json_is_array(whole) || json_array_size(part) != json_array_size(whole))
            return 0;
        for (size_t i = 0; i < json_array_size(part); i++)
            if (!json_within(json_array_get(part, i), json_array_get(whole, i)))
                return 0;
        return 1;
    }
    if (json_is_number(part) && json_is_number(whole)) /* 0 given for a double comes back 0.0 */
        return json_number_value(part) == json_number_value(whole);
    return json_equal(part, whole);
}

/* ---- canonical form and fingerprints ---- */

/* Expected values computed with fastavro 1.13.1:
 *   fastavro.schema.fingerprint(s, "CRC-64-AVRO") (hex of the little-endian bytes)
 *   read back as int.from_bytes(bytes.fromhex(h), "little"). */
Test(serde, crc64_matches_known_vectors)
{
    static const struct {
        const char *in;
        uint64_t fp;
    } v[] = {
        {"", 0xc15d213aa4d7a795ULL},
        {"\"null\"", 0x63dd24e7cc258f8aULL},
        {"\"int\"", 0x7275d51a3f395c8fULL},
        {"\"string\"", 0x8f014872634503c7ULL},
        {"a", 0x0ade663b45cf10e2ULL},
        {"abc", 0x1bef875ce2963804ULL},
        {"{\"type\":\"fixed\",\"name\":\"F\",\"size\":16}", 0xb4a461ad4de68b5eULL},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(v); i++)
        cr_expect_eq(hd_avro_crc64(v[i].in, strlen(v[i].in)), v[i].fp, "crc64(%s)", v[i].in);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    struct hd_buf b = HD_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        hd_buf_append(&b, chunk, n);
    fclose(f);
    return hd_buf_steal(&b);
}

/* tests/data/avro/canonical/ holds schemas that exercise each canonical-form
 * rule. Expected forms and fingerprints computed with fastavro 1.13.1:
 * to_parsing_canonical_form(json.load(f)) and fingerprint(form, "CRC-64-AVRO"). */
Test(serde, canonical_form_matches_fastavro_for_tricky_schemas)
{
    static const struct {
        const char *file;
        const char *canonical;
        uint64_t fp;
    } v[] = {
        {"error_type.avsc",
         "{\"name\":\"Oops\",\"type\":\"record\",\"fields\":[{\"name\":\"message\",\"type\":"
         "\"string\"}]}",
         0x98d9f8f0500f5a11ULL},
        {"namespaces.avsc",
         "{\"name\":\"com.example.app.Outer\",\"type\":\"record\",\"fields\":[{\"name\":\"inner\","
         "\"type\":{\"name\":\"com.example.app.Inner\",\"type\":\"record\",\"fields\":[{\"name\":"
         "\"kind\",\"type\":{\"name\":\"other.space.Kind\",\"type\":\"enum\",\"symbols\":[\"A\","
         "\"B\"]}},{\"name\":\"again\",\"type\":[\"null\",\"other.space.Kind\"]}]}},{\"name\":"
         "\"kind2\",\"type\":\"other.space.Kind\"},{\"name\":\"inner2\",\"type\":"
         "\"com.example.app.Inner\"},{\"name\":\"rootless\",\"type\":{\"name\":\"Hash\",\"type\":"
         "\"fixed\",\"size\":16}},{\"name\":\"deep\",\"type\":{\"name\":\"x.y.Deep\",\"type\":"
         "\"record\",\"fields\":[{\"name\":\"d\",\"type\":{\"name\":\"x.y.Dir\",\"type\":\"enum\","
         "\"symbols\":[\"N\",\"S\"]}},{\"name\":\"d2\",\"type\":\"x.y.Dir\"}]}},{\"name\":\"dir\","
         "\"type\":\"x.y.Dir\"}]}",
         0x7e2639e256840471ULL},
        {"primitive_object.avsc", "\"long\"", 0xd054e14493f41db7ULL},
        {"primitive_string.avsc", "\"string\"", 0x8f014872634503c7ULL},
        {"recursive.avsc",
         "{\"name\":\"list.Node\",\"type\":\"record\",\"fields\":[{\"name\":\"value\",\"type\":"
         "\"int\"},{\"name\":\"next\",\"type\":[\"null\",\"list.Node\"]},{\"name\":\"children\","
         "\"type\":{\"type\":\"array\",\"items\":\"list.Node\"}}]}",
         0x5a4defb7a2fbd764ULL},
        {"stripped.avsc",
         "{\"name\":\"Stripped\",\"type\":\"record\",\"fields\":[{\"name\":\"m\",\"type\":"
         "{\"type\":\"map\",\"values\":\"int\"}},{\"name\":\"b\",\"type\":\"bytes\"},"
         "{\"name\":\"arr\","
         "\"type\":{\"type\":\"array\",\"items\":[\"null\",{\"type\":\"array\",\"items\":"
         "\"string\"}]}},{\"name\":\"f\",\"type\":\"float\"},{\"name\":\"d\",\"type\":\"double\"},"
         "{\"name\":\"bo\",\"type\":\"boolean\"},{\"name\":\"n\",\"type\":\"null\"}]}",
         0xf217c083a913cfc9ULL},
        {"union_top.avsc",
         "[\"null\",\"int\",{\"type\":\"map\",\"values\":\"long\"},{\"name\":\"u.E\",\"type\":"
         "\"enum\",\"symbols\":[\"X\"]},{\"name\":\"F\",\"type\":\"fixed\",\"size\":2}]",
         0xb3745ebce43c12cfULL},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(v); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/tests/data/avro/canonical/%s", HD_SOURCE_DIR, v[i].file);
        char *text = read_file(path);
        char *canon = hd_avro_canonical_form(text, err, sizeof(err));
        cr_assert(canon, "%s: %s", v[i].file, err);
        cr_expect_str_eq(canon, (char *)v[i].canonical, "%s", v[i].file);
        cr_expect_eq(hd_avro_crc64(canon, strlen(canon)), v[i].fp, "%s", v[i].file);
        hd_free(canon);
        hd_free(text);
    }
}

/* Fingerprints of schemas/NAME.avsc as fastavro 1.13.1 computes them
 * (to_parsing_canonical_form + fingerprint "CRC-64-AVRO", read little-endian).
 * A change here is a change of the wire contract: every consumer must learn
 * the new schema first. */
Test(serde, every_embedded_schema_has_the_fastavro_fingerprint)
{
    static const struct {
        const char *name;
        uint64_t fp;
    } v[] = {
        {"DeadLetter", 0x5742caff6bd00f45ULL},       {"Dispatch", 0x6b7c0c497b7308e3ULL},
        {"InboxItem", 0xb12eb430db882b96ULL},        {"NotificationRequest", 0x33926dec4b35a3b6ULL},
        {"OrderCreated", 0x0d9957fa47745466ULL},     {"OrderShipped", 0x3956eef0574bb81eULL},
        {"PasswordReset", 0x38c0d5ad615c1bb7ULL},    {"PaymentCompleted", 0x4cf4f92a85992702ULL},
        {"PaymentFailed", 0x7bf8e649d7a407ecULL},    {"StatusEvent", 0x5a131a445a2dedceULL},
        {"UserAction", 0xc8642abcd45a6981ULL},       {"UserRegistered", 0xab2027757996a7c6ULL},
        {"ConfigRecord", 0x0c9205dbbeb5f0b6ULL},     {"DedupEntry", 0x3876318d0e5a6f52ULL},
        {"UserUpdated", 0x1dd083cd1c690ccdULL},
    };
    cr_assert_eq(hd_embedded_avsc_cnt, HD_ARRAY_SIZE(v));
    for (size_t i = 0; i < HD_ARRAY_SIZE(v); i++) {
        const struct hd_schema *s = hd_serde_schema(sd, v[i].name);
        cr_assert(s, "%s is not embedded", v[i].name);
        cr_expect_eq(hd_schema_fingerprint(s), v[i].fp, "%s", v[i].name);
    }
}

Test(serde, canonical_form_rejects_invalid_schemas)
{
    static const struct {
        const char *json;
        const char *why;
    } v[] = {
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"Nope\"}]}",
         "unknown type \"Nope\""},
        {"[\"int\",[\"null\"]]", "a union may not contain a union"},
        {"[\"int\",\"int\"]", "two branches"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
         "{\"type\":\"enum\",\"name\":\"R\",\"symbols\":[\"A\"]}}]}",
         "defined twice"},
        {"{\"type\":\"enum\",\"name\":\"9bad\",\"symbols\":[]}", "invalid name"},
        {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"A\"]}", "repeated"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
         "{\"name\":\"a\",\"type\":\"long\"}]}",
         "declared twice"},
        {"{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}", "size"},
        {"{\"type\":\"array\"}", "without \"items\""},
        {"{\"type\":\"record\",\"name\":\"int\",\"fields\":[]}", "invalid name"},
        {"{\"type\":", "not JSON"},
        {"42", "must be a string, an object or an array"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(v); i++) {
        err[0] = '\0';
        char *c = hd_avro_canonical_form(v[i].json, err, sizeof(err));
        cr_expect(c == NULL, "%s was accepted as %s", v[i].json, c ? c : "");
        hd_free(c);
        cr_expect(strstr(err, v[i].why), "%s: error \"%s\" lacks \"%s\"", v[i].json, err, v[i].why);
    }
}

/* ---- topics and lookups ---- */

Test(serde, topics_map_to_their_schemas)
{
    static const struct {
        const char *topic;
        const char *schema;
    } v[] = {
        {"notification.requests", "NotificationRequest"},
        {"notification.queued", "StatusEvent"},
        {"notification.scheduled", "StatusEvent"},
        {"notification.sent", "StatusEvent"},
        {"notification.delivered", "StatusEvent"},
        {"notification.failed", "StatusEvent"},
        {"notification.read", "StatusEvent"},
        {"notification.skipped", "StatusEvent"},
        {"notification.dlq", "DeadLetter"},
        {"herald.dispatch.email", "Dispatch"},
        {"herald.dispatch.anything-at-all", "Dispatch"},
        {"herald.inbox", "InboxItem"},
        {"herald.receipts", "UserAction"},
        {"order.created", "OrderCreated"},
        {"order.shipped", "OrderShipped"},
        {"payment.completed", "PaymentCompleted"},
        {"payment.failed", "PaymentFailed"},
        {"user.registered", "UserRegistered"},
        {"user.password_reset", "PasswordReset"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(v); i++) {
        const struct hd_schema *s = hd_serde_schema_for_topic(sd, v[i].topic);
        cr_assert(s, "%s has no schema", v[i].topic);
        cr_expect_str_eq((char *)hd_schema_name(s), (char *)v[i].schema, "%s", v[i].topic);
    }
    cr_expect(hd_serde_schema_for_topic(sd, "herald.dispatch.") == NULL);
    cr_expect(hd_serde_schema_for_topic(sd, "notification.bogus") == NULL);
    cr_expect(hd_serde_schema_for_topic(sd, "order.created.x") == NULL);
    cr_expect(hd_serde_schema_for_topic(sd, NULL) == NULL);
}

Test(serde, domain_topic_table_lists_every_domain_event)
{
    const char *topics[8];
    const struct hd_schema *schemas[8];
    size_t n = hd_serde_domain_topics(sd, topics, schemas, 8);
    cr_assert_eq(n, 6);
    for (size_t i = 0; i < n; i++)
        cr_expect(hd_serde_schema_for_topic(sd, topics[i]) == schemas[i], "%s", topics[i]);
    cr_expect_eq(hd_serde_domain_topics(sd, topics, schemas, 2), 6, "count beyond max");
}

Test(serde, schemas_are_found_by_short_and_full_name)
{
    const struct hd_schema *a = hd_serde_schema(sd, "StatusEvent");
    cr_assert(a);
    cr_expect(hd_serde_schema(sd, "herald.StatusEvent") == a);
    cr_expect(hd_serde_schema(sd, "statusevent") == NULL);
    cr_expect(hd_serde_schema(sd, "Content") == NULL, "nested types are not top-level schemas");
    cr_expect(strstr(hd_schema_json(a), "\"StatusEvent\""));
    cr_expect(hd_schema_avro(a) != NULL);
    cr_expect_str_eq((char *)avro_schema_name(hd_schema_avro(a)), "StatusEvent");
}

/* ---- round trips ---- */

TestSuite(serde_samples, .init = setup_samples, .fini = teardown_samples);

Test(serde_samples, single_object_header_carries_little_endian_fingerprint)
{
    for (size_t i = 0; i < sample_cnt; i++) {
        const unsigned char *p = (const unsigned char *)samples[i].bytes.data;
        uint64_t fp = hd_schema_fingerprint(samples[i].schema);
        cr_assert_eq(p[0], 0xc3);
        cr_assert_eq(p[1], 0x01);
        for (int k = 0; k < 8; k++)
            cr_assert_eq(p[2 + k], (uint8_t)(fp >> (8 * k)));
        const struct hd_schema *peeked =
            hd_serde_peek(sd, p, samples[i].bytes.len, err, sizeof(err));
        cr_expect(peeked == samples[i].schema);
    }
}

Test(serde_samples, every_sample_round_trips_through_json)
{
    for (size_t i = 0; i < sample_cnt; i++) {
        struct sample *s = &samples[i];
        const struct hd_schema *got;
        json_t *back =
            hd_serde_decode_json(sd, s->bytes.data, s->bytes.len, &got, err, sizeof(err));
        cr_assert(back, "%s: %s", hd_schema_name(s->schema), err);
        cr_expect(got == s->schema);
        char *a = json_dumps(s->value, JSON_COMPACT), *b = json_dumps(back, JSON_COMPACT);
        cr_expect(json_within(s->value, back), "%s: sent %s, got %s", hd_schema_name(s->schema), a,
                  b);
        free(a);
        free(b);
        struct hd_buf again = HD_BUF_INIT;
        cr_assert(!hd_serde_encode_json(sd, s->schema, back, &again, err, sizeof(err)), "%s", err);
        cr_expect_eq(again.len, s->bytes.len);
        cr_expect(!memcmp(again.data, s->bytes.data, s->bytes.len), "re-encoding changed bytes");
        hd_buf_free(&again);
        json_decref(back);
    }
}

Test(serde_samples, every_sample_round_trips_through_avro_values)
{
    for (size_t i = 0; i < sample_cnt; i++) {
        struct sample *s = &samples[i];
        const struct hd_schema *got;
        avro_value_t *v;
        int rc = hd_serde_decode_value(sd, s->bytes.data, s->bytes.len, &got, &v, err, sizeof(err));
        cr_assert(!rc, "%s: %s", hd_schema_name(s->schema), err);
        cr_expect(got == s->schema);
        struct hd_buf again = HD_BUF_INIT;
        cr_assert(!hd_serde_encode_value(sd, got, v, &again, err, sizeof(err)), "%s", err);
        cr_expect_eq(again.len, s->bytes.len, "%s", hd_schema_name(s->schema));
        cr_expect(!memcmp(again.data, s->bytes.data, s->bytes.len), "%s",
                  hd_schema_name(s->schema));
        hd_buf_free(&again);
    }
}

Test(serde_samples, decoded_values_and_scratch_values_are_reused)
{
    struct sample *s = &samples[0];
    avro_value_t *v1, *v2;
    const struct hd_schema *got;
    cr_assert(!hd_serde_decode_value(sd, s->bytes.data, s->bytes.len, &got, &v1, err, sizeof(err)));
    cr_assert(!hd_serde_decode_value(sd, s->bytes.data, s->bytes.len, &got, &v2, err, sizeof(err)));
    cr_expect(v1 == v2);
    cr_expect(hd_serde_scratch_value(sd, got) == hd_serde_scratch_value(sd, got));
}

/* ---- broken input ---- */

static void expect_decode_fails(const void *buf, size_t len, const char *needle, const char *what)
{
    const struct hd_schema *got = NULL;
    avro_value_t *v = NULL;
    err[0] = '\0';
    json_t *j = hd_serde_decode_json(sd, buf, len, &got, err, sizeof(err));
    cr_assert(j == NULL, "%s: decode_json accepted it", what);
    cr_expect(err[0], "%s: no error text", what);
    if (needle)
        cr_expect(strstr(err, needle), "%s: \"%s\" lacks \"%s\"", what, err, needle);
    err[0] = '\0';
    cr_assert(hd_serde_decode_value(sd, buf, len, &got, &v, err, sizeof(err)) == -1,
              "%s: decode_value accepted it", what);
    if (needle)
        cr_expect(strstr(err, needle), "%s: \"%s\" lacks \"%s\"", what, err, needle);
}

Test(serde_samples, truncated_record_is_a_clear_error)
{
    for (size_t i = 0; i < sample_cnt; i++) {
        struct hd_buf *b = &samples[i].bytes;
        for (size_t len = 0; len < b->len; len++) {
            char what[128];
            snprintf(what, sizeof(what), "%s cut to %zu of %zu bytes",
                     hd_schema_name(samples[i].schema), len, b->len);
            /* a copy of exactly len bytes, so ASan sees any read past the end */
            char *cut = malloc(len ? len : 1);
            memcpy(cut, b->data, len);
            expect_decode_fails(cut, len, len < 2 ? "too short" : "truncated", what);
            free(cut);
        }
    }
}

Test(serde_samples, trailing_bytes_are_an_error)
{
    struct hd_buf b = HD_BUF_INIT;
    hd_buf_append(&b, samples[0].bytes.data, samples[0].bytes.len);
    hd_buf_append(&b, "\0\0\x01", 3);
    expect_decode_fails(b.data, b.len, "3 trailing bytes", "3 extra bytes");
    hd_buf_free(&b);
}

Test(serde_samples, flipped_fingerprint_byte_is_an_unknown_schema)
{
    for (size_t i = 0; i < sample_cnt; i++) {
        for (int k = 2; k < 10; k++) {
            for (int bit = 0; bit < 8; bit++) {
                samples[i].bytes.data[k] ^= (char)(1 << bit);
                expect_decode_fails(samples[i].bytes.data, samples[i].bytes.len,
                                    "unknown schema fingerprint", "flipped fingerprint");
                samples[i].bytes.data[k] ^= (char)(1 << bit);
            }
        }
    }
}

Test(serde_samples, wrong_magic_is_an_error)
{
    char *p = samples[0].bytes.data;
    p[0] = 0x00;
    expect_decode_fails(p, samples[0].bytes.len, "Confluent", "confluent framing");
    p[0] = (char)0xc3;
    p[1] = 0x02;
    expect_decode_fails(p, samples[0].bytes.len, "expected c3 01", "bad second magic byte");
    expect_decode_fails("{\"json\":1}", 10, "not Avro single-object encoding", "JSON text");
}

/* A header for `schema` followed by raw body bytes. */
static void framed(const char *schema, const void *body, size_t n, struct hd_buf *out)
{
    const struct hd_schema *s = hd_serde_schema(sd, schema);
    cr_assert(s);
    uint64_t fp = hd_schema_fingerprint(s);
    hd_buf_reset(out);
    hd_buf_append(out, "\xc3\x01", 2);
    for (int i = 0; i < 8; i++)
        hd_buf_putc(out, (char)(fp >> (8 * i)));
    hd_buf_append(out, body, n);
}

Test(serde, huge_varint_lengths_are_rejected_before_allocating)
{
    struct hd_buf b = HD_BUF_INIT;
    /* UserAction starts with a string: length zig-zag 2^62 - 1 */
    framed("UserAction", "\xfe\xff\xff\xff\xff\xff\xff\xff\x7f", 9, &b);
    expect_decode_fails(b.data, b.len, "action_id: truncated: string of 4611686018427387903 bytes",
                        "2^62 string length");
    /* INT64_MAX as a length */
    framed("UserAction", "\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10, &b);
    expect_decode_fails(b.data, b.len, "truncated: string of 9223372036854775807", "max length");
    /* a negative length */
    framed("UserAction", "\x01", 1, &b);
    expect_decode_fails(b.data, b.len, "negative length", "negative length");
    /* an 11-byte varint */
    framed("UserAction", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11, &b);
    expect_decode_fails(b.data, b.len, "does not fit in 64 bits", "overlong varint");
    /* NotificationRequest.channels: 3 empty strings, then an array of 2^40 items */
    framed("NotificationRequest", "\x00\x00\x00\x80\x80\x80\x80\x80\x40", 9, &b);
    expect_decode_fails(b.data, b.len, "channels: array block claims 1099511627776 items",
                        "huge array");
    /* a negative block count of INT64_MIN */
    framed("NotificationRequest", "\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 13, &b);
    expect_decode_fails(b.data, b.len, "channels: array block count out of range",
                        "INT64_MIN block");
    /* a negative block count whose byte size is huge */
    framed("NotificationRequest", "\x00\x00\x00\x01\xfe\xff\xff\xff\x0f", 9, &b);
    expect_decode_fails(b.data, b.len, "channels: truncated: block of", "huge block size");
    hd_buf_free(&b);
}

Test(serde, bad_enum_and_union_indexes_are_errors)
{
    struct hd_buf b = HD_BUF_INIT;
    /* UserAction: 4 one-byte strings, then action = 3 (only READ, UNREAD, DELETE) */
    framed("UserAction", "\x02" "a" "\x02" "t" "\x02" "u" "\x02" "n" "\x06" "\x00", 10, &b);
    expect_decode_fails(b.data, b.len, "action: enum index 3 out of range", "enum index 3");
    framed("UserAction", "\x02" "a" "\x02" "t" "\x02" "u" "\x02" "n" "\x01" "\x00", 10, &b);
    expect_decode_fails(b.data, b.len, "action: enum index -1 out of range", "enum index -1");
    /* UserRegistered: 3 strings, occurred_at, then email union branch 2 */
    framed("UserRegistered", "\x00\x00\x00\x02\x04", 5, &b);
    expect_decode_fails(b.data, b.len, "email: union branch 2 out of range", "union branch 2");
    hd_buf_free(&b);
}

Test(serde, invalid_utf8_is_an_error)
{
    static const char *bad[] = {"\xc3\x28", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", "\xff"};
    struct hd_buf body = HD_BUF_INIT, b = HD_BUF_INIT;
    for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++) {
        size_t n = strlen(bad[i]);
        hd_buf_reset(&body);
        hd_buf_putc(&body, (char)(n * 2));
        hd_buf_append(&body, bad[i], n);
        hd_buf_append(&body, "\x00\x00\x00\x00\x02", 5);
        framed("UserAction", body.data, body.len, &b);
        expect_decode_fails(b.data, b.len, "action_id: string is not valid UTF-8", bad[i]);
    }
    hd_buf_free(&body);
    hd_buf_free(&b);
}

/* Avro allows array blocks with a negative count followed by the block's byte
 * size (fastavro never writes them; Java can). */
Test(serde, negative_block_counts_are_read)
{
    struct hd_buf body = HD_BUF_INIT, b = HD_BUF_INIT;
    hd_buf_append(&body, "\x02t\x00\x00", 4);   /* source_topic, partition 0, offset 0 */
    hd_buf_append(&body, "\x00\x00", 2);        /* key, value null */
    hd_buf_append(&body, "\x03\x0a", 2);        /* headers: count -2, 5 bytes */
    hd_buf_append(&body, "\x02k\x00\x02j\x00", 6); /* that is 6 bytes, wrong on purpose */
    hd_buf_append(&body, "\x00\x02" "e\x00\x02p\x00", 7);
    framed("DeadLetter", body.data, body.len, &b);
    expect_decode_fails(b.data, b.len, "headers: array block says 5 bytes but its items take 6",
                        "block size mismatch");
    body.data[7] = 0x0c; /* 6 bytes */
    framed("DeadLetter", body.data, body.len, &b);
    json_t *j = hd_serde_decode_json(sd, b.data, b.len, NULL, err, sizeof(err));
    cr_assert(j, "%s", err);
    json_t *h = json_object_get(j, "headers");
    cr_expect_eq(json_array_size(h), 2);
    cr_expect_str_eq((char *)json_string_value(json_object_get(json_array_get(h, 1), "key")), "j");
    json_decref(j);
    struct hd_dead_letter dl = {0};
    cr_assert(!hd_dead_letter_decode(sd, b.data, b.len, &dl, err, sizeof(err)), "%s", err);
    cr_expect_eq(dl.header_cnt, 2);
    cr_expect_str_eq(dl.headers[0].key, "k");
    hd_dead_letter_clear(&dl);
    hd_buf_free(&body);
    hd_buf_free(&b);
}

/* xorshift64*: a fixed-seed generator so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

/* Decodes through every entry point; the only requirement is no crash and,
 * on failure, some error text. */
static void decode_everything(const void *buf, size_t len)
{
    const struct hd_schema *got;
    avro_value_t *v;
    err[0] = '\0';
    json_t *j = hd_serde_decode_json(sd, buf, len, &got, err, sizeof(err));
    cr_assert(j || err[0]);
    json_decref(j);
    err[0] = '\0';
    cr_assert(!hd_serde_decode_value(sd, buf, len, &got, &v, err, sizeof(err)) || err[0]);
    struct hd_request r = {0};
    struct hd_status_event e = {0};
    struct hd_dead_letter d = {0};
    struct hd_dispatch dp = {0};
    struct hd_inbox_item it = {0};
    struct hd_user_action a = {0};
    hd_request_decode(sd, buf, len, &r, err, sizeof(err));
    hd_status_event_decode(sd, buf, len, &e, err, sizeof(err));
    hd_dead_letter_decode(sd, buf, len, &d, err, sizeof(err));
    hd_dispatch_decode(sd, buf, len, &dp, err, sizeof(err));
    hd_inbox_item_decode(sd, buf, len, &it, err, sizeof(err));
    hd_user_action_decode(sd, buf, len, &a, err, sizeof(err));
    hd_request_clear(&r);
    hd_status_event_clear(&e);
    hd_dead_letter_clear(&d);
    hd_dispatch_clear(&dp);
    hd_inbox_item_clear(&it);
    hd_user_action_clear(&a);
}

Test(serde_samples, random_garbage_never_crashes)
{
    unsigned char buf[300];
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = rng() % sizeof(buf);
        for (size_t i = 0; i < len; i++)
            buf[i] = (unsigned char)rng();
        if (len >= 10 && iter % 2) /* a real header, so the body walker gets the garbage */
            memcpy(buf, samples[rng() % sample_cnt].bytes.data, 10);
        unsigned char *copy = malloc(len ? len : 1);
        memcpy(copy, buf, len);
        decode_everything(copy, len);
        free(copy);
    }
}

Test(serde_samples, random_mutations_of_valid_records_never_crash)
{
    for (int iter = 0; iter < 20000; iter++) {
        struct hd_buf *src = &samples[rng() % sample_cnt].bytes;
        unsigned char *copy = malloc(src->len);
        memcpy(copy, src->data, src->len);
        int flips = 1 + (int)(rng() % 4);
        for (int k = 0; k < flips; k++)
            copy[10 + rng() % (src->len - 10)] = (unsigned char)rng();
        decode_everything(copy, src->len);
        free(copy);
    }
}

/* ---- plain JSON ---- */

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &jerr);
    cr_assert(j, "bad test JSON: %s: %s", jerr.text, text);
    return j;
}

/* JSON -> bytes -> JSON */
static json_t *json_round_trip(const char *schema, const char *text)
{
    json_t *in = parse(text);
    struct hd_buf b = HD_BUF_INIT;
    cr_assert(!hd_serde_encode_json(sd, hd_serde_schema(sd, schema), in, &b, err, sizeof(err)),
              "%s", err);
    json_t *out = hd_serde_decode_json(sd, b.data, b.len, NULL, err, sizeof(err));
    cr_assert(out, "%s", err);
    json_decref(in);
    hd_buf_free(&b);
    return out;
}

static void expect_encode_error(const char *schema, const char *text, const char *message)
{
    json_t *in = parse(text);
    struct hd_buf b = HD_BUF_INIT;
    hd_buf_puts(&b, "keep");
    err[0] = '\0';
    cr_expect(hd_serde_encode_json(sd, hd_serde_schema(sd, schema), in, &b, err, sizeof(err)) == -1,
              "accepted %s", text);
    cr_expect_str_eq(err, (char *)message, "for %s: got \"%s\"", text, err);
    cr_expect_eq(b.len, 4, "a failed encode must leave the buffer as it was");
    cr_expect_str_eq(b.data, "keep");
    hd_buf_free(&b);
    json_decref(in);
}

#define REQ_HEAD "\"request_id\":\"r\",\"tenant_id\":\"t\",\"user_id\":\"u\""

Test(serde, json_missing_fields_take_the_schema_defaults)
{
    json_t *out = json_round_trip("NotificationRequest",
                                  "{" REQ_HEAD ",\"channels\":[\"SMS\"],\"created_at\":5}");
    json_t *want = parse("{" REQ_HEAD ",\"channels\":[\"SMS\"],\"category\":\"TRANSACTIONAL\","
                         "\"priority\":\"NORMAL\",\"template\":null,\"content\":null,"
                         "\"variables_json\":\"{}\",\"recipient\":null,\"idempotency_key\":null,"
                         "\"scheduled_at\":null,\"expires_at\":null,\"batch_id\":null,"
                         "\"provider\":null,\"metadata\":{},\"created_at\":5}");
    cr_expect(json_equal(out, want));
    json_decref(out);
    json_decref(want);
    /* nested records take their own defaults */
    out = json_round_trip("NotificationRequest", "{" REQ_HEAD ",\"channels\":[],\"created_at\":1,"
                                                 "\"recipient\":{},\"template\":{\"key\":\"k\"}}");
    want = parse("{\"email\":null,\"phone\":null,\"push_tokens\":[],\"locale\":null,"
                 "\"timezone\":null,\"webhook_url\":null}");
    cr_expect(json_equal(json_object_get(out, "recipient"), want));
    json_decref(want);
    want = parse("{\"key\":\"k\",\"version\":null,\"locale\":null}");
    cr_expect(json_equal(json_object_get(out, "template"), want));
    json_decref(want);
    json_decref(out);
}

Test(serde, json_errors_name_the_field_path)
{
    expect_encode_error("NotificationRequest", "{" REQ_HEAD ",\"channels\":[]}",
                        "created_at: missing required field");
    expect_encode_error("NotificationRequest",
                        "{\"request_id\":\"r\",\"channels\":[],\"created_at\":1}",
                        "tenant_id: missing required field");
    expect_encode_error("NotificationRequest",
                        "{" REQ_HEAD ",\"channels\":[\"EMAIL\",\"FAX\"],\"created_at\":1}",
                        "channels[1]: unknown symbol \"FAX\"");
    expect_encode_error("NotificationRequest",
                        "{" REQ_HEAD ",\"channels\":[],\"created_at\":1,\"template\":{}}",
                        "template.key: missing required field");
    expect_encode_error("NotificationRequest",
                        "{" REQ_HEAD ",\"channels\":[],\"created_at\":1,"
                        "\"recipient\":{\"push_tokens\":[\"a\",7]}}",
                        "recipient.push_tokens[1]: expected string, got integer");
    expect_encode_error("NotificationRequest",
                        "{" REQ_HEAD ",\"channels\":[],\"created_at\":1,\"metadata\":{\"k\":true}}",
                        "metadata[\"k\"]: expected string, got boolean");
    expect_encode_error("NotificationRequest",
                        "{" REQ_HEAD ",\"channels\":[],\"created_at\":1,"
                        "\"template\":{\"key\":\"k\",\"version\":2147483648}}",
                        "template.version: 2147483648 is out of range for int");
    expect_encode_error("NotificationRequest",
                        "{" REQ_HEAD ",\"channels\":[],\"created_at\":\"yesterday\"}",
                        "created_at: \"yesterday\" is not an ISO-8601 timestamp");
    expect_encode_error("NotificationRequest", "{" REQ_HEAD ",\"channels\":{},\"created_at\":1}",
                        "channels: expected array, got object");
    expect_encode_error("NotificationRequest",
                        "{" REQ_HEAD ",\"channels\":[],\"created_at\":1,\"variables_json\":null}",
                        "variables_json: expected string, got null");
    expect_encode_error("OrderCreated",
                        "{\"event_id\":\"e\",\"tenant_id\":\"t\",\"user_id\":\"u\","
                        "\"occurred_at\":1,\"order_id\":\"o\",\"total\":1,\"currency\":\"EUR\","
                        "\"items\":[{\"sku\":\"s\",\"name\":\"n\",\"quantity\":1}]}",
                        "items[0].unit_price: missing required field");
}

Test(serde, json_input_must_be_an_object)
{
    json_t *arr = json_array();
    struct hd_buf b = HD_BUF_INIT;
    cr_expect(hd_serde_encode_json(sd, hd_serde_schema(sd, "UserAction"), arr, &b, err,
                                   sizeof(err)) == -1);
    cr_expect(strstr(err, "UserAction must be a JSON object"), "%s", err);
    cr_expect(hd_serde_encode_json(sd, NULL, arr, &b, err, sizeof(err)) == -1);
    cr_expect_eq(b.len, 0);
    json_decref(arr);
    hd_buf_free(&b);
}

Test(serde, json_timestamps_accept_iso8601_and_come_back_as_integers)
{
    json_t *out = json_round_trip("OrderShipped",
                                  "{\"event_id\":\"e\",\"tenant_id\":\"t\",\"user_id\":\"u\","
                                  "\"occurred_at\":\"2026-11-23T17:55:13.123Z\",\"order_id\":\"o\","
                                  "\"estimated_delivery\":\"2026-11-24T00:00:00+01:00\"}");
    cr_expect_eq(json_integer_value(json_object_get(out, "occurred_at")), 1795456513123LL);
    cr_expect_eq(json_integer_value(json_object_get(out, "estimated_delivery")),
                 1795474800000LL);
    cr_expect(json_is_integer(json_object_get(out, "occurred_at")));
    json_decref(out);
}

Test(serde, json_bytes_are_strings_of_code_points_0_to_255)
{
    /* every byte value once, as the JSON string Avro's JSON encoding uses */
    struct hd_buf s = HD_BUF_INIT;
    for (int i = 0; i < 256; i++) {
        if (i < 0x80) {
            hd_buf_putc(&s, (char)i);
        } else {
            hd_buf_putc(&s, (char)(0xc0 | (i >> 6)));
            hd_buf_putc(&s, (char)(0x80 | (i & 0x3f)));
        }
    }
    json_t *in = parse("{\"source_topic\":\"t\",\"source_partition\":0,\"source_offset\":0,"
                       "\"error_code\":\"c\",\"error\":\"e\",\"processor\":\"p\",\"failed_at\":0}");
    json_object_set_new(in, "key", json_stringn(s.data, s.len));
    struct hd_buf b = HD_BUF_INIT;
    const struct hd_schema *dls = hd_serde_schema(sd, "DeadLetter");
    cr_assert(!hd_serde_encode_json(sd, dls, in, &b, err, sizeof(err)), "%s", err);
    struct hd_dead_letter dl = {0};
    cr_assert(!hd_dead_letter_decode(sd, b.data, b.len, &dl, err, sizeof(err)), "%s", err);
    cr_assert_eq(dl.key_len, 256);
    for (int i = 0; i < 256; i++)
        cr_expect_eq(((unsigned char *)dl.key)[i], (uint8_t)i);
    json_t *out = hd_serde_decode_json(sd, b.data, b.len, NULL, err, sizeof(err));
    cr_assert(out, "%s", err);
    cr_expect(json_equal(json_object_get(out, "key"), json_object_get(in, "key")));
    json_decref(out);
    json_object_set_new(in, "key", json_string("\xc4\x80")); /* U+0100 */
    hd_buf_reset(&b);
    cr_expect(hd_serde_encode_json(sd, dls, in, &b, err, sizeof(err)));
    cr_expect_str_eq(err, "key: bytes as a string may only hold characters U+0000-U+00FF");
    hd_dead_letter_clear(&dl);
    json_decref(in);
    hd_buf_free(&b);
    hd_buf_free(&s);
}

Test(serde, json_doubles_keep_their_bits_and_non_finite_values_are_strings)
{
    json_t *out = json_round_trip("PaymentCompleted",
                                  "{\"event_id\":\"e\",\"tenant_id\":\"t\",\"user_id\":\"u\","
                                  "\"occurred_at\":1,\"payment_id\":\"p\",\"amount\":0.1,"
                                  "\"currency\":\"EUR\"}");
    cr_expect(json_real_value(json_object_get(out, "amount")) == 0.1);
    json_decref(out);
    const char *nonfinite[] = {"NaN", "Infinity", "-Infinity"};
    for (size_t i = 0; i < 3; i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "{\"event_id\":\"e\",\"tenant_id\":\"t\",\"user_id\":\"u\",\"occurred_at\":1,"
                 "\"payment_id\":\"p\",\"amount\":\"%s\",\"currency\":\"EUR\"}", nonfinite[i]);
        out = json_round_trip("PaymentCompleted", text);
        cr_expect_str_eq((char *)json_string_value(json_object_get(out, "amount")),
                     (char *)nonfinite[i]);
        json_decref(out);
    }
}

Test(serde, json_strings_may_hold_nul_and_any_unicode)
{
    json_t *out = json_round_trip("UserRegistered",
                                  "{\"event_id\":\"a\\u0000b\",\"tenant_id\":\"t\",\"user_id\":"
                                  "\"\\ud83c\\udf89 \\u00e9\",\"occurred_at\":1}");
    cr_expect_eq(json_string_length(json_object_get(out, "event_id")), 3);
    cr_expect_str_eq((char *)json_string_value(json_object_get(out, "user_id")),
                 "\xf0\x9f\x8e\x89 \xc3\xa9");
    json_decref(out);
}
