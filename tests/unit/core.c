/*
 * Core helpers: ISO-8601 timestamps (core/time.c), UUIDs and deterministic
 * notification ids (core/uuid.c), and the growable buffer with its JSON
 * string escaping (core/buf.c).
 *
 * The UUIDv5 expectations were computed independently with Python's
 * uuid.uuid5() over Herald's namespace bytes (5b0f6a1e-6f0c-5c4e-9b57-2d1f3c8e417a),
 * so they check RFC 4122 conformance, not just self-consistency.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/hd.h"
#include "core/time.h"
#include "core/uuid.h"
#include "schemas/records.h"

/* ---- time -------------------------------------------------------------- */

#define T_2026 INT64_C(1795456513000) /* 2026-11-23T17:55:13Z */

/* Parses a heap copy of s, so AddressSanitizer sees any read past its end. */
static int parse(const char *s, int64_t *ms)
{
    char *copy = hd_strdup(s);
    int rc = hd_time_parse_iso8601(copy, ms);
    hd_free(copy);
    return rc;
}

Test(time, parse_accepts_utc_offsets_and_fractions)
{
    static const struct {
        const char *s;
        int64_t want;
    } c[] = {
        {"2026-11-23T17:55:13Z", T_2026},
        {"2026-11-23T17:55:13+00:00", T_2026},
        {"2026-11-23T17:55:13-00:00", T_2026},
        {"2026-11-23T19:55:13+02:00", T_2026},
        {"2026-11-23T12:25:13-05:30", T_2026},
        {"2026-11-24T01:55:13+08:00", T_2026}, /* local date is the next day */
        {"2026-11-23T17:55:13.1Z", T_2026 + 100},
        {"2026-11-23T17:55:13.12Z", T_2026 + 120},
        {"2026-11-23T17:55:13.123Z", T_2026 + 123},
        {"2026-11-23T17:55:13.123456Z", T_2026 + 123},
        {"2026-11-23T17:55:13.999999Z", T_2026 + 999}, /* truncated, not rounded */
        {"2026-11-23T17:55:13.000Z", T_2026},
        {"2026-11-23T17:55:13.007Z", T_2026 + 7},
        {"2026-11-23T18:55:13.5+01:00", T_2026 + 500},
        {"2026-11-23T13:55:13.250-04:00", T_2026 + 250},
        {"1970-01-01T00:00:00Z", 0},
        {"1970-01-01T00:00:00.001Z", 1},
        {"1969-12-31T23:59:59.999Z", -1},
        {"2000-02-29T12:00:00Z", INT64_C(951825600000)},
        {"2038-01-19T03:14:08Z", INT64_C(2147483648000)}, /* past 32-bit time_t */
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(c); i++) {
        int64_t ms = -42;
        int rc = parse(c[i].s, &ms);
        cr_expect_eq(rc, 0, "\"%s\" was rejected", c[i].s);
        cr_expect_eq(ms, c[i].want, "\"%s\": got %lld, want %lld", c[i].s, (long long)ms,
                     (long long)c[i].want);
    }
}

Test(time, parse_rejects_malformed_timestamps)
{
    static const char *const bad[] = {
        "",
        "not a date",
        "2026-11-23",
        "2026-11-23T17:55:13",        /* no zone */
        "2026-11-23T17:55Z",          /* no seconds */
        "2026-11-23 17:55:13Z",       /* space instead of T */
        "2026-11-23T17:55:13.Z",      /* empty fraction */
        "2026-11-23T17:55:13Zjunk",   /* trailing text */
        "2026-11-23T17:55:13Z ",      /* trailing space */
        "2026-11-23T17:55:13+0200",   /* offset without colon */
        "2026-11-23T17:55:13+02",     /* offset without minutes */
        "2026-11-23T17:55:13+02:00x", /* trailing text after offset */
        "2026-11-23T17:55:13+",       /* bare sign */
        "2026-11-23T17:55:13UTC",
        "2026-13-01T00:00:00Z", /* month 13 */
        "2026-11-23T25:00:00Z", /* hour 25 */
        "2026-11-23T17:61:13Z", /* minute 61 */
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++) {
        int64_t ms = -42;
        cr_expect_neq(parse(bad[i], &ms), 0, "\"%s\" was accepted as %lld", bad[i],
                      (long long)ms);
    }
}

/* "+hh:mm" is two digits each. A one-digit field must be refused, not read by
 * sscanf's %2d and then skipped as if it were six characters (which would run
 * past the end of the string: the heap copy in parse() lets ASan see that). */
Test(time, parse_rejects_offsets_that_are_not_two_digit_hh_mm)
{
    static const char *const bad[] = {
        "2026-11-23T17:55:13+2:00",
        "2026-11-23T17:55:13+02:0",
        "2026-11-23T17:55:13-5:30",
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++) {
        int64_t ms = -42;
        cr_expect_neq(parse(bad[i], &ms), 0, "\"%s\" was accepted as %lld", bad[i],
                      (long long)ms);
    }
}

Test(time, parse_rejects_offsets_out_of_range_or_signed_twice)
{
    static const char *const bad[] = {
        "2026-11-23T17:55:13+99:99",
        "2026-11-23T17:55:13+01:60",
        "2026-11-23T17:55:13+01:-5",
        "2026-11-23T17:55:13+-1:00",
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++) {
        int64_t ms = -42;
        cr_expect_neq(parse(bad[i], &ms), 0, "\"%s\" was accepted as %lld", bad[i],
                      (long long)ms);
    }
}

Test(time, format_is_utc_with_milliseconds)
{
    static const struct {
        int64_t ms;
        const char *want;
    } c[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {5, "1970-01-01T00:00:00.005Z"},
        {T_2026 + 123, "2026-11-23T17:55:13.123Z"},
        {INT64_C(951825600000), "2000-02-29T12:00:00.000Z"},
        {-1, "1969-12-31T23:59:59.999Z"},
        {-1000, "1969-12-31T23:59:59.000Z"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(c); i++) {
        char out[32];
        memset(out, 'X', sizeof(out));
        hd_time_iso8601(c[i].ms, out, sizeof(out));
        cr_expect_str_eq(out, c[i].want, "%lld", (long long)c[i].ms);
    }
}

Test(time, format_then_parse_round_trips)
{
    static const int64_t c[] = {0,         1,         999,       1000,
                                T_2026,    T_2026 + 1, T_2026 + 999, INT64_C(951825600000),
                                -1,        -999,      -1001,     INT64_C(-86400001),
                                INT64_C(4102444800000) /* 2100-01-01 */,
                                INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */};
    for (size_t i = 0; i < HD_ARRAY_SIZE(c); i++) {
        char out[32];
        hd_time_iso8601(c[i], out, sizeof(out));
        int64_t back = -42;
        cr_expect_eq(parse(out, &back), 0, "%lld formatted as \"%s\" did not parse",
                     (long long)c[i], out);
        cr_expect_eq(back, c[i], "%lld -> \"%s\" -> %lld", (long long)c[i], out,
                     (long long)back);
    }
}

Test(time, now_is_wall_clock_milliseconds)
{
    int64_t before = (int64_t)time(NULL) * 1000;
    int64_t now = hd_now_ms();
    int64_t after = (int64_t)time(NULL) * 1000 + 1000;
    cr_expect_geq(now, before);
    cr_expect_lt(now, after);
}

Test(time, monotonic_clock_does_not_go_back)
{
    int64_t prev = hd_mono_us();
    for (int i = 0; i < 1000; i++) {
        int64_t t = hd_mono_us();
        cr_assert_geq(t, prev);
        prev = t;
    }
    struct timespec ts = {0, 2 * 1000 * 1000};
    nanosleep(&ts, NULL);
    cr_expect_geq(hd_mono_us() - prev, 2000, "2 ms of sleep must show in microseconds");
}

/* ---- uuid -------------------------------------------------------------- */

/* 36 characters, hyphens at 8, 13, 18 and 23, lowercase hex elsewhere. */
static void expect_uuid_shape(const char *u, char version)
{
    cr_assert_eq(strlen(u), 36, "\"%s\": length", u);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            cr_expect_eq(u[i], '-', "\"%s\": char %d", u, i);
        else
            cr_expect(isxdigit((unsigned char)u[i]) && !isupper((unsigned char)u[i]),
                      "\"%s\": char %d is not lowercase hex", u, i);
    }
    cr_expect_eq(u[14], version, "\"%s\": version nibble", u);
    cr_expect(strchr("89ab", u[19]) != NULL, "\"%s\": variant nibble %c", u, u[19]);
}

Test(uuid, v5_matches_rfc4122_reference_values)
{
    static const struct {
        const char *name;
        const char *want;
    } c[] = {
        {"hello", "ea40663e-e983-5412-b88d-21e9f2040560"},
        {"", "4499474e-8e66-53a8-ab95-152305705530"},
        {"req-1/EMAIL", "2dca59af-cb37-5c58-999b-37e2c8c1ee2d"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(c); i++) {
        char out[HD_UUID_STRLEN];
        hd_uuid_v5(c[i].name, out);
        cr_expect_str_eq(out, c[i].want, "v5(\"%s\")", c[i].name);
    }
}

Test(uuid, v5_is_deterministic_and_name_sensitive)
{
    char a[HD_UUID_STRLEN], b[HD_UUID_STRLEN], c[HD_UUID_STRLEN];
    hd_uuid_v5("order-17", a);
    hd_uuid_v5("order-17", b);
    hd_uuid_v5("order-18", c);
    cr_expect_str_eq(a, b);
    cr_expect_str_neq(a, c);
}

Test(uuid, v5_sets_version_5_and_rfc4122_variant)
{
    for (int i = 0; i < 256; i++) {
        char name[32], out[HD_UUID_STRLEN];
        snprintf(name, sizeof(name), "name-%d", i);
        hd_uuid_v5(name, out);
        expect_uuid_shape(out, '5');
    }
}

Test(uuid, v4_is_random_with_version_4_and_rfc4122_variant)
{
    char a[HD_UUID_STRLEN], b[HD_UUID_STRLEN];
    hd_uuid_v4(a);
    hd_uuid_v4(b);
    expect_uuid_shape(a, '4');
    expect_uuid_shape(b, '4');
    cr_expect_str_neq(a, b);
}

Test(uuid, notification_id_is_v5_of_request_id_slash_channel)
{
    char id[HD_UUID_STRLEN], v5[HD_UUID_STRLEN];
    hd_notification_id("req-1", "EMAIL", id);
    cr_expect_str_eq(id, "2dca59af-cb37-5c58-999b-37e2c8c1ee2d");
    hd_notification_id("req-1", "SMS", id);
    cr_expect_str_eq(id, "3a5c0116-2ca1-558e-9f6b-1a3fb1a277a5");
    hd_notification_id("req-42", "IN_APP", id);
    hd_uuid_v5("req-42/IN_APP", v5);
    cr_expect_str_eq(id, v5);
}

Test(uuid, notification_id_is_stable_and_differs_per_channel)
{
    char ids[HD_CH__CNT][HD_UUID_STRLEN];
    for (int ch = 0; ch < HD_CH__CNT; ch++) {
        const char *name = hd_channel_name((enum hd_channel)ch);
        cr_assert_not_null(name);
        hd_notification_id("7b0c3f4e-5d1a-4c2b-9e8f-0a1b2c3d4e5f", name, ids[ch]);
        expect_uuid_shape(ids[ch], '5');
        char again[HD_UUID_STRLEN];
        hd_notification_id("7b0c3f4e-5d1a-4c2b-9e8f-0a1b2c3d4e5f", name, again);
        cr_expect_str_eq(ids[ch], again, "%s: not stable", name);
    }
    for (int i = 0; i < HD_CH__CNT; i++)
        for (int j = i + 1; j < HD_CH__CNT; j++)
            cr_expect_str_neq(ids[i], ids[j], "channels %d and %d share an id", i, j);
}

Test(uuid, notification_id_differs_per_request)
{
    char a[HD_UUID_STRLEN], b[HD_UUID_STRLEN];
    hd_notification_id("req-1", "EMAIL", a);
    hd_notification_id("req-2", "EMAIL", b);
    cr_expect_str_neq(a, b);
}

/* ---- buf --------------------------------------------------------------- */

Test(buf, appends_grow_the_buffer_and_keep_it_terminated)
{
    struct hd_buf b = HD_BUF_INIT;
    for (int i = 0; i < 10000; i++) {
        hd_buf_putc(&b, (char)('a' + i % 26));
        cr_assert_eq(b.len, (size_t)i + 1);
        cr_assert_gt(b.cap, b.len);
        cr_assert_eq(b.data[b.len], '\0');
    }
    for (int i = 0; i < 10000; i++)
        cr_assert_eq(b.data[i], (char)('a' + i % 26), "byte %d", i);
    hd_buf_free(&b);
}

Test(buf, append_copies_binary_data_with_nuls)
{
    struct hd_buf b = HD_BUF_INIT;
    hd_buf_append(&b, "a\0b", 3);
    hd_buf_append(&b, "\0", 1);
    cr_assert_eq(b.len, 4);
    cr_expect_eq(memcmp(b.data, "a\0b\0", 4), 0);
    cr_expect_eq(b.data[4], '\0');
    hd_buf_free(&b);
}

Test(buf, puts_and_printf_append_text)
{
    struct hd_buf b = HD_BUF_INIT;
    hd_buf_puts(&b, "id=");
    hd_buf_printf(&b, "%d-%s", 42, "x");
    hd_buf_putc(&b, ';');
    cr_expect_str_eq(b.data, "id=42-x;");
    cr_expect_eq(b.len, 8);
    hd_buf_printf(&b, "%0300d", 7); /* forces growth past the first allocation */
    cr_assert_eq(b.len, 308);
    cr_expect_eq(b.data[307], '7');
    cr_expect_eq(b.data[8], '0');
    cr_expect_eq(b.data[308], '\0');
    hd_buf_free(&b);
}

/* buf.h: "Always NUL-terminated after an append". */
Test(buf, empty_printf_on_a_fresh_buffer_leaves_an_empty_string)
{
    struct hd_buf b = HD_BUF_INIT;
    hd_buf_printf(&b, "%s", "");
    cr_expect_eq(b.len, 0);
    cr_assert_not_null(b.data, "data is NULL after an append");
    cr_expect_str_eq(b.data, "");
    hd_buf_free(&b);
}

Test(buf, empty_append_on_a_fresh_buffer_leaves_an_empty_string)
{
    struct hd_buf b = HD_BUF_INIT;
    hd_buf_puts(&b, "");
    cr_expect_eq(b.len, 0);
    cr_assert_not_null(b.data);
    cr_expect_str_eq(b.data, "");
    hd_buf_free(&b);
}

Test(buf, reserve_makes_room_without_later_reallocation)
{
    struct hd_buf b = HD_BUF_INIT;
    hd_buf_reserve(&b, 1000);
    cr_assert_geq(b.cap, 1001);
    cr_expect_eq(b.len, 0);
    char *data = b.data;
    for (int i = 0; i < 1000; i++)
        hd_buf_putc(&b, 'z');
    cr_expect_eq(b.data, data, "appends within the reservation reallocated");
    cr_expect_eq(b.len, 1000);
    hd_buf_free(&b);
}

Test(buf, reset_empties_but_keeps_the_allocation)
{
    struct hd_buf b = HD_BUF_INIT;
    hd_buf_puts(&b, "some record payload that is reused");
    char *data = b.data;
    size_t cap = b.cap;
    hd_buf_reset(&b);
    cr_expect_eq(b.len, 0);
    cr_expect_eq(b.data, data);
    cr_expect_eq(b.cap, cap);
    cr_expect_str_eq(b.data, "");
    hd_buf_puts(&b, "next");
    cr_expect_eq(b.data, data, "steady-state reuse reallocated");
    cr_expect_str_eq(b.data, "next");
    hd_buf_free(&b);
}

Test(buf, steal_hands_over_the_storage)
{
    struct hd_buf b = HD_BUF_INIT;
    hd_buf_puts(&b, "abc");
    char *s = hd_buf_steal(&b);
    cr_expect_str_eq(s, "abc");
    cr_expect_null(b.data);
    cr_expect_eq(b.len, 0);
    cr_expect_eq(b.cap, 0);
    hd_free(s);
    char *empty = hd_buf_steal(&b);
    cr_assert_not_null(empty, "steal of an empty buffer gives an empty string");
    cr_expect_str_eq(empty, "");
    hd_free(empty);
}

Test(buf, free_leaves_the_buffer_empty_and_reusable)
{
    struct hd_buf b = HD_BUF_INIT;
    hd_buf_puts(&b, "abc");
    hd_buf_free(&b);
    cr_expect_null(b.data);
    cr_expect_eq(b.len, 0);
    cr_expect_eq(b.cap, 0);
    hd_buf_puts(&b, "again");
    cr_expect_str_eq(b.data, "again");
    hd_buf_free(&b);
    hd_buf_free(NULL);
}

Test(buf, json_string_escapes_quotes_backslashes_and_control_chars)
{
    static const struct {
        const char *in;
        size_t n;
        const char *want;
    } c[] = {
        {"plain", 5, "\"plain\""},
        {"", 0, "\"\""},
        {"he said \"hi\"", 12, "\"he said \\\"hi\\\"\""},
        {"C:\\temp\\x", 9, "\"C:\\\\temp\\\\x\""},
        {"a\nb\rc\td", 7, "\"a\\nb\\rc\\td\""},
        {"\x01", 1, "\"\\u0001\""},
        {"\b\f", 2, "\"\\u0008\\u000c\""},
        {"\x1f", 1, "\"\\u001f\""},
        {"\x1b[0m", 4, "\"\\u001b[0m\""},
        {"a\0b", 3, "\"a\\u0000b\""},
        {"\x7f", 1, "\"\x7f\""},               /* DEL needs no escape */
        {"caf\xc3\xa9", 5, "\"caf\xc3\xa9\""}, /* UTF-8 passes through */
        {"/</script>", 10, "\"/</script>\""},
        {"abcdef", 3, "\"abc\""}, /* only n bytes */
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(c); i++) {
        struct hd_buf b = HD_BUF_INIT;
        hd_buf_put_json_string(&b, c[i].in, c[i].n);
        cr_expect_str_eq(b.data, c[i].want, "case %zu", i);
        cr_expect_eq(b.len, strlen(c[i].want), "case %zu: len", i);
        hd_buf_free(&b);
    }
}

Test(buf, json_string_appends_after_existing_content)
{
    struct hd_buf b = HD_BUF_INIT;
    hd_buf_puts(&b, "{\"k\":");
    hd_buf_put_json_string(&b, "v", 1);
    hd_buf_putc(&b, '}');
    cr_expect_str_eq(b.data, "{\"k\":\"v\"}");
    hd_buf_free(&b);
}

Test(buf, json_string_of_every_ascii_byte_decodes_back_to_the_input)
{
    char in[128];
    for (int i = 0; i < 128; i++)
        in[i] = (char)i;
    struct hd_buf b = HD_BUF_INIT;
    hd_buf_put_json_string(&b, in, sizeof(in));
    json_error_t err;
    json_t *v = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    cr_assert_not_null(v, "not valid JSON: %s (%s)", err.text, b.data);
    cr_assert(json_is_string(v));
    cr_expect_eq(json_string_length(v), sizeof(in));
    cr_expect_eq(memcmp(json_string_value(v), in, sizeof(in)), 0);
    json_decref(v);
    hd_buf_free(&b);
}

/* ---- hd_mkdir_p ---- */

Test(mkdir, makes_missing_parents_accepts_existing_and_names_what_failed)
{
    char base[] = "/tmp/hd-mkdir-XXXXXX", path[256], err[512];
    cr_assert(mkdtemp(base));
    snprintf(path, sizeof(path), "%s/a/b/c", base);
    cr_assert_eq(hd_mkdir_p(path, err, sizeof(err)), 0, "%s", err);
    struct stat st;
    cr_expect(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    cr_expect_eq(hd_mkdir_p(path, err, sizeof(err)), 0, "an existing directory is fine");
    snprintf(path, sizeof(path), "%s/a/b/c/", base);
    cr_expect_eq(hd_mkdir_p(path, err, sizeof(err)), 0, "a trailing slash is fine");
    /* a file where a directory should be */
    char file[256];
    snprintf(file, sizeof(file), "%s/a/f", base);
    FILE *fp = fopen(file, "w");
    cr_assert(fp);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/a/f/g", base);
    cr_expect_eq(hd_mkdir_p(path, err, sizeof(err)), -1);
    cr_expect(strstr(err, "/a/f/g") && strstr(err, "Not a directory"), "%s", err);
    cr_expect_eq(hd_mkdir_p("", err, sizeof(err)), -1);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
    cr_assert_eq(system(cmd), 0);
}

/* ---- W3C trace context ---- */

Test(trace, parse_takes_only_valid_version_00_traceparents)
{
    char id[HD_TRACE_ID_LEN];
    const char *ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    cr_assert_eq(hd_trace_parse(ok, strlen(ok), id), 0);
    cr_expect_str_eq(id, "4bf92f3577b34da6a3ce929d0e0e4736");
    static const char *const bad[] = {
        "",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", /* version */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", /* upper case */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01", /* zero trace */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", /* zero span */
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  /* short trace */
        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01", /* separator */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", /* flags */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011", /* long */
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++)
        cr_expect_eq(hd_trace_parse(bad[i], strlen(bad[i]), id), -1, "accepted \"%s\"", bad[i]);
    /* the length given counts, not a NUL: a valid value followed by more bytes */
    cr_expect_eq(hd_trace_parse(ok, 54, id), -1);
}

Test(trace, new_ids_and_traceparents_are_well_formed_and_distinct)
{
    char a[HD_TRACE_ID_LEN], b[HD_TRACE_ID_LEN], tp[HD_TRACEPARENT_LEN], back[HD_TRACE_ID_LEN];
    hd_trace_new(a);
    hd_trace_new(b);
    cr_expect_eq(strlen(a), 32);
    cr_expect_str_neq(a, b);
    hd_traceparent(a, tp);
    cr_expect_eq(strlen(tp), 55);
    cr_assert_eq(hd_trace_parse(tp, strlen(tp), back), 0, "%s", tp);
    cr_expect_str_eq(back, a, "the trace is kept");
    char tp2[HD_TRACEPARENT_LEN];
    hd_traceparent(a, tp2);
    cr_expect_str_neq(tp, tp2, "each call is a new span");
}
