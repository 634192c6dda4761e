/*
 * libFuzzer target for the template engine: compile (with partials served by
 * a resolver, static and dynamic names), render in every escape mode, strict
 * and lenient, in two locales and zones, then run the channel limits on what
 * came out. Built and run by tests/fuzz/run; seeds in tests/fuzz/corpus/template.
 *
 * Input: segments separated by NUL bytes.
 *   0   the template;
 *   1   the data as JSON (any value). Missing or not JSON: data is derived
 *       from the template (a fixed object plus, for every word in the
 *       template, a value chosen by a hash of the word), so that the names a
 *       template uses mostly exist;
 *   2.. partials, each "NAME\nTEXT". A few fixed partials exist as well.
 * A JSON object as data may carry "__locale" (a string, or an array of up to
 * 32 strings) and "__tz", rendered as further locales and zones: enough of
 * them make the renderer drop cached formatters.
 *
 * Besides the sanitizers, the target checks properties that must hold for any
 * input and aborts when one does not: a compile error names the template, a
 * render error names template, line and column, rendering twice gives the
 * same bytes in the same number of steps, a render past the step budget
 * fails with the budget's error, and the channel limit functions agree with themselves.
 *
 * Time: the work of one input is bounded (see render_all), so libFuzzer's
 * -timeout only fires on a real hang, e.g. a loop the step budget misses.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "templates/channel_limits.h"
#include "templates/template.h"

#define MAX_SEGMENTS 8
#define MAX_WORDS 64
#define MAX_USER_LOCALES 32
#define RESOLVER_ERROR "partial store unavailable"
#define NOW_MS INT64_C(1795456513000) /* 2026-11-23T17:55:13Z: relativeTime stays repeatable */
#ifndef HD_TPL_MAX_STEPS /* tests/fuzz/run passes the engine's budget for this build */
#define HD_TPL_MAX_STEPS (UINT64_C(1) << 22)
#endif
#define FUZZ_MAX_STEPS ((uint64_t)(HD_TPL_MAX_STEPS))

struct seg {
    const char *p;
    size_t n;
};

struct input {
    struct seg seg[MAX_SEGMENTS];
    size_t nseg;
};

/* Partials every input can name, whatever its segments. */
static const struct {
    const char *name, *text;
} fixed_partials[] = {
    {"p", "[{{name}}|{{.}}]"},
    {"layout", "<{{$title}}T{{/title}}>\n  {{$body}}B\n  {{/body}}\n"},
    {"self", "{{#items}}{{>self}}{{/items}}x"},
    {"loop", "{{>loop}}"},
    {"bad", "{{#never_closed}}"},
    {"fmt", "{{formatDate date}} {{formatNumber n}} {{plural n one=\"# x\" other=\"# xs\"}}"},
    {"each", "{{#each items}}{{@index}}:{{>*kind}}{{else}}none{{/each}}"},
};

static void fail(const char *what, const uint8_t *data, size_t size)
{
    fprintf(stderr, "template_fuzz: property violated: %s (input of %zu bytes)\n", what, size);
    (void)data;
    abort();
}

static int resolve(void *opaque, const char *name, struct hd_buf *out, char *errstr,
                   size_t errstr_size)
{
    const struct input *in = opaque;
    size_t nl = strlen(name);
    for (size_t i = 2; i < in->nseg; i++) {
        const char *s = in->seg[i].p, *e = memchr(s, '\n', in->seg[i].n);
        size_t k = e ? (size_t)(e - s) : in->seg[i].n;
        if (k == nl && !memcmp(s, name, nl)) {
            if (e)
                hd_buf_append(out, e + 1, in->seg[i].n - k - 1);
            return HD_OK;
        }
    }
    for (size_t i = 0; i < sizeof(fixed_partials) / sizeof(*fixed_partials); i++) {
        if (!strcmp(name, fixed_partials[i].name)) {
            hd_buf_puts(out, fixed_partials[i].text);
            return HD_OK;
        }
    }
    if (!strcmp(name, "ioerr"))
        return hd_seterr(HD_ERR, errstr, errstr_size, "%s", RESOLVER_ERROR);
    return HD_ERR_NOTFOUND;
}

static uint32_t fnv(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static const char base_data[] =
    "{\"name\":\"Zo\xc3\xab <b>&\\\"'\",\"n\":3,\"zero\":0,\"neg\":-2.5,\"big\":1e300,"
    "\"t\":true,\"f\":false,\"nil\":null,\"s\":\"\",\"date\":\"2026-11-23T17:55:13Z\","
    "\"day\":\"2026-11-23\",\"wall\":\"2026-03-29T02:30\",\"ms\":1795456513000,"
    "\"items\":[{\"name\":\"a\",\"qty\":1,\"price\":9.99,\"kind\":\"p\"},"
    "{\"name\":\"b<\",\"qty\":0,\"kind\":\"nope\"},\"x\"],"
    "\"obj\":{\"a\":{\"b\":{\"c\":\"deep\"}},\"list\":[1,2,3]},\"kind\":\"p\","
    "\"cur\":\"EUR\",\"nested\":[[1,[2]],{\"k\":\"v\"}],\"emoji\":\"\xf0\x9f\x98\x80 x\","
    "\"gsm\":\"{[~]}\xe2\x82\xac\"}";

/* A value for a word of the template, chosen by its hash. */
static json_t *word_value(const char *w, size_t n)
{
    uint32_t h = fnv(w, n);
    switch (h % 12) {
    case 0:
        return json_stringn(w, n);
    case 1:
        return json_integer((json_int_t)(h % 2001) - 1000);
    case 2:
        return json_real((double)(h % 100000) / 7.0 - 5000.0);
    case 3:
        return json_true();
    case 4:
        return json_false();
    case 5:
        return json_null();
    case 6: {
        json_t *a = json_array(), *o = json_object();
        json_object_set_new(o, "name", json_string("i0 & <i1>"));
        json_object_setn_new(o, w, n, json_integer(1));
        json_array_append_new(a, o);
        json_array_append_new(a, json_integer(2));
        json_array_append_new(a, json_string("2026-01-31"));
        return a;
    }
    case 7: {
        json_t *o = json_object();
        json_object_setn_new(o, w, n, json_string("inner"));
        json_object_set_new(o, "name", json_string("o"));
        return o;
    }
    case 8:
        return json_array();
    case 9:
        return json_string("2025-12-31T23:59:59.999+05:30");
    case 10:
        return json_string(h & 16 ? "p" : "layout");
    default:
        return json_string("");
    }
}

static int word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static json_t *derive_data(const char *s, size_t n)
{
    json_t *d = json_loads(base_data, 0, NULL);
    if (!d)
        abort(); /* the constant above is broken */
    size_t words = 0;
    for (size_t i = 0; i < n && words < MAX_WORDS;) {
        if (!word_char(s[i])) {
            i++;
            continue;
        }
        size_t k = i;
        while (k < n && word_char(s[k]))
            k++;
        if (!json_object_getn(d, s + i, k - i)) {
            json_object_setn_new(d, s + i, k - i, word_value(s + i, k - i));
            words++;
        }
        i = k;
    }
    return d;
}

static void split(const uint8_t *data, size_t size, struct input *in)
{
    const char *s = (const char *)data;
    in->nseg = 0;
    size_t start = 0;
    for (size_t i = 0; i <= size && in->nseg < MAX_SEGMENTS; i++) {
        if (i == size || s[i] == '\0') {
            in->seg[in->nseg].p = s + start;
            in->seg[in->nseg].n = i - start;
            in->nseg++;
            start = i + 1;
        }
    }
}

/* Counts code points of valid UTF-8, or returns (size_t)-1. */
static size_t utf8_chars(const char *s, size_t n)
{
    struct hd_sms_count c;
    return hd_sms_count(s, n, &c) == HD_OK ? c.chars : (size_t)-1;
}

static void check_truncate(const char *s, size_t n, size_t max, const uint8_t *data, size_t size)
{
    struct hd_buf b = HD_BUF_INIT;
    hd_buf_append(&b, s, n);
    size_t before = utf8_chars(s, n);
    int cut = hd_utf8_truncate(&b, max);
    if (cut < 0 && before != (size_t)-1)
        fail("hd_utf8_truncate refused valid UTF-8", data, size);
    if (cut >= 0 && before == (size_t)-1)
        fail("hd_utf8_truncate accepted invalid UTF-8", data, size);
    if (cut == 0 && (b.len != n || (n && memcmp(b.data, s, n))))
        fail("hd_utf8_truncate changed text that fitted", data, size);
    if (cut == 1) {
        size_t after = utf8_chars(b.data ? b.data : "", b.len);
        if (after != max)
            fail("hd_utf8_truncate left a length other than max_chars", data, size);
        if (max && (b.len < 3 || memcmp(b.data + b.len - 3, "\xe2\x80\xa6", 3)))
            fail("hd_utf8_truncate did not end with an ellipsis", data, size);
    }
    hd_buf_free(&b);
}

static void check_limits(const char *s, size_t n, uint32_t h, const uint8_t *data, size_t size)
{
    struct hd_channel_limits l;
    hd_channel_limits_default(&l);
    char err[256];
    struct hd_sms_count c;
    if (hd_sms_count(s, n, &c) == HD_OK) {
        if (c.segments < 1 || c.per_segment == 0 || c.units > c.segments * c.per_segment ||
            c.chars > n ||
            (c.segments > 1 && c.units + c.segments <= (c.segments - 1) * c.per_segment))
            fail("hd_sms_count is inconsistent", data, size);
        if (c.encoding == HD_SMS_GSM7 && c.units < c.chars)
            fail("GSM-7 text with fewer septets than characters", data, size);
    }
    hd_limits_check_sms(&l, s, n, &c, err, sizeof(err));
    hd_limits_check_email_subject(&l, s, n, err, sizeof(err));
    check_truncate(s, n, h % 4, data, size);
    check_truncate(s, n, 65, data, size);

    struct hd_buf title = HD_BUF_INIT, body = HD_BUF_INIT;
    hd_buf_append(&title, s, n / 2);
    hd_buf_append(&body, s, n);
    l.push_title_chars = h % 7;
    l.push_body_chars = (h >> 3) % 300;
    l.push_payload_bytes = (h >> 5) % 600;
    hd_limits_apply_push(&l, &title, &body, err, sizeof(err));
    hd_buf_free(&title);
    hd_buf_free(&body);
}

/*
 * How much of an output the channel limits see: all of it up to LIMITS_MAX
 * (64 KiB, far past every limit: 10 SMS segments, a 3,500-byte push, a
 * 998-byte subject), else a prefix cut where a code point starts. Their many
 * instrumented passes over a 1 MiB output took seconds per render.
 */
#define LIMITS_MAX ((size_t)64 << 10)

static size_t limits_len(const char *s, size_t n)
{
    if (n <= LIMITS_MAX)
        return n;
    n = LIMITS_MAX;
    while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

struct locale {
    const char *locale, *tz;
};

static const struct locale locales[] = {
    {"fr-CA", "America/St_Johns"}, {"ar-EG", "Africa/Cairo"},     {"ja-JP", "Asia/Tokyo"},
    {"de", "Europe/Berlin"},       {"zh-Hant-TW", "Asia/Taipei"}, {"hi-IN", "Asia/Kolkata"},
    {"ru", "Europe/Moscow"},       {"pl", "No/Such_Zone"},        {"x-bogus", "UTC"},
};

/*
 * Renders in every mode of every locale while the input's total work stays
 * under TOTAL_STEPS. One render may take up to the engine's step budget
 * (tests/fuzz/run lowers it to FUZZ_MAX_STEPS); an input near that budget is
 * rendered once (and once more to compare), not in every mode, so that no
 * input costs more than a few budgets' worth of time whatever its locales.
 */
#define TOTAL_STEPS (4 * FUZZ_MAX_STEPS)

static void render_all(struct hd_tpl_renderer *r, const struct hd_tpl *t, json_t *d,
                       const struct locale *loc, size_t nloc, const uint8_t *data, size_t size)
{
    struct hd_buf out = HD_BUF_INIT, again = HD_BUF_INIT;
    char err[512];
    uint32_t h = fnv((const char *)data, size);
    uint64_t total = 0;
    for (size_t li = 0; li < nloc && total < TOTAL_STEPS; li++) {
        for (int esc = 0; esc < 3 && total < TOTAL_STEPS; esc++) {
            for (int strict = 0; strict < 2 && total < TOTAL_STEPS; strict++) {
                struct hd_tpl_render_opts o = {.escape = (enum hd_tpl_escape)esc,
                                               .strict = strict,
                                               .locale = loc[li].locale,
                                               .timezone = loc[li].tz,
                                               .now_ms = NOW_MS};
                hd_buf_reset(&out);
                err[0] = '\0';
                int rc = hd_tpl_render(r, t, d, &o, &out, err, sizeof(err));
                uint64_t steps = hd_tpl_renderer_steps(r);
                total += steps;
                if (rc != HD_OK && !strstr(err, "template '"))
                    fail("render error without a location", data, size);
                if (steps > FUZZ_MAX_STEPS) {
                    /* (the text can echo the template: only the count tells) */
                    if (rc == HD_OK || !strstr(err, "the render takes more than"))
                        fail("over the step budget without its error", data, size);
                    /* every other mode would be over too; save the time */
                    total = TOTAL_STEPS;
                }
                if (li == 0 && esc == 0 && strict == 0) {
                    /* the same render again: dynamic partials are cached now */
                    hd_buf_reset(&again);
                    int rc2 = hd_tpl_render(r, t, d, &o, &again, err, sizeof(err));
                    if (rc2 != rc || again.len != out.len ||
                        (out.len && memcmp(again.data, out.data, out.len)) ||
                        hd_tpl_renderer_steps(r) != steps)
                        fail("rendering twice gave different results", data, size);
                    total += steps;
                }
                if (rc == HD_OK)
                    check_limits(out.data, limits_len(out.data, out.len), h, data, size);
            }
        }
    }
    hd_buf_free(&out);
    hd_buf_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in;
    split(data, size, &in);
    const struct seg *src = &in.seg[0];

    json_t *d = NULL;
    if (in.nseg > 1)
        d = json_loadb(in.seg[1].p, in.seg[1].n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!d)
        d = derive_data(src->p, src->n);

    struct locale loc[2 + MAX_USER_LOCALES] = {{"en", "UTC"}, locales[fnv(src->p, src->n) % 9]};
    size_t nloc = 2;
    json_t *ul = json_object_get(d, "__locale");
    const char *uz = json_string_value(json_object_get(d, "__tz"));
    if (json_is_array(ul)) {
        for (size_t i = 0; i < json_array_size(ul) && i < MAX_USER_LOCALES; i++)
            loc[nloc++] = (struct locale){json_string_value(json_array_get(ul, i)), uz};
    } else if (ul || uz) {
        loc[nloc++] = (struct locale){json_string_value(ul), uz};
    }

    struct hd_tpl_resolver res = {resolve, &in};
    char err[512] = "";
    /* the engine must not read past len: hand it a copy without a terminator */
    char *copy = malloc(src->n ? src->n : 1);
    if (src->n)
        memcpy(copy, src->p, src->n);
    struct hd_tpl *t = hd_tpl_compile("fuzz", copy, src->n, &res, err, sizeof(err));
    free(copy);
    if (!t) {
        /* hd_tpl_compile passes a resolver's own error text on as it is */
        if (!strstr(err, "template '") && strcmp(err, RESOLVER_ERROR))
            fail("compile error without a template name", data, size);
    } else {
        struct hd_tpl_renderer *r = hd_tpl_renderer_new();
        render_all(r, t, d, loc, nloc, data, size);
        hd_tpl_renderer_destroy(r);
        hd_tpl_release(t);
    }
    json_decref(d);
    return 0;
}
