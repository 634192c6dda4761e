/*
 * The template engine's bounds, as regressions for what the fuzzer
 * (tests/fuzz/) found: a render's work and output are bounded and overrun
 * with an error naming template, line and column (templates/template_render.c),
 * a program whose paths have no segments renders, and numbers at the end of
 * the double range format in full through every style (templates/template_format.c).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "core/buf.h"
#include "templates/template.h"

struct result {
    int rc;
    char err[512];
    struct hd_buf out;
    uint64_t steps;
};

/* Renders src with data (JSON text, or `json` when not NULL); caller frees r->out. */
static void run(const char *src, const char *data, json_t *json, const char *locale,
                struct result *r)
{
    memset(r, 0, sizeof(*r));
    json_t *d = json ? json_incref(json) : json_loads(data, JSON_DECODE_ANY, NULL);
    cr_assert_not_null(d, "bad test data");
    struct hd_tpl *t = hd_tpl_compile("t", src, strlen(src), NULL, r->err, sizeof(r->err));
    cr_assert_not_null(t, "%s", r->err);
    struct hd_tpl_renderer *rd = hd_tpl_renderer_new();
    struct hd_tpl_render_opts o = {.escape = HD_TPL_ESCAPE_NONE, .locale = locale};
    r->rc = hd_tpl_render(rd, t, d, &o, &r->out, r->err, sizeof(r->err));
    r->steps = hd_tpl_renderer_steps(rd);
    hd_tpl_renderer_destroy(rd);
    hd_tpl_release(t);
    json_decref(d);
}

static json_t *range(int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_integer(i));
    return a;
}

#define EACH6 "{{#each a}}{{#each a}}{{#each a}}{{#each a}}{{#each a}}{{#each a}}"
#define END6 "{{/each}}{{/each}}{{/each}}{{/each}}{{/each}}{{/each}}"

Test(template_limits, loops_nested_over_long_lists_stop_at_the_step_budget)
{
    json_t *d = json_pack("{s:o}", "a", range(40)); /* 40^6 = 4e9 passes */
    struct result r;
    run("x\n " EACH6 "{{.}}" END6, NULL, d, NULL, &r);
    cr_assert_eq(r.rc, HD_ERR_INVALID);
    cr_expect(strstr(r.err, "template 't' line 2, column ") != NULL, "%s", r.err);
    cr_expect(strstr(r.err, "the render takes more than 4194304 steps") != NULL, "%s", r.err);
    cr_expect_eq(r.steps, 4194305, "stopped after %llu steps", (unsigned long long)r.steps);
    hd_buf_free(&r.out);
    json_decref(d);
}

Test(template_limits, loops_under_the_step_budget_render_in_full)
{
    /* 12^6 = 2,985,984 innermost passes: the fuzzer's slow input, under the budget */
    json_t *d = json_pack("{s:o}", "a", range(12));
    struct result r;
    run("<" EACH6 END6 ">", NULL, d, NULL, &r);
    cr_assert_eq(r.rc, HD_OK, "%s", r.err);
    cr_expect_str_eq(r.out.data, "<>");
    cr_expect_gt(r.steps, 2985984);
    cr_expect_leq(r.steps, 4194304);
    hd_buf_free(&r.out);
    json_decref(d);
}

Test(template_limits, output_stops_past_16_mib)
{
    char *mib = hd_malloc(1 << 20);
    memset(mib, 'x', 1 << 20);
    json_t *big = json_stringn(mib, 1 << 20);
    hd_free(mib);
    json_t *d = json_pack("{s:o,s:o,s:o}", "big", big, "over", range(20), "under", range(15));
    struct result r;
    run("{{#each under}}{{big}}{{/each}}", NULL, d, NULL, &r);
    cr_expect_eq(r.rc, HD_OK, "%s", r.err);
    cr_expect_eq(r.out.len, (size_t)15 << 20);
    hd_buf_free(&r.out);
    run("{{#each over}}\n{{big}}{{/each}}", NULL, d, NULL, &r);
    cr_assert_eq(r.rc, HD_ERR_INVALID);
    cr_expect(strstr(r.err, "template 't' line ") != NULL, "%s", r.err);
    cr_expect(strstr(r.err, "the output is larger than 16 MiB") != NULL, "%s", r.err);
    cr_expect_lt(r.out.len, (size_t)18 << 20, "kept writing: %zu bytes", r.out.len);
    hd_buf_free(&r.out);
    json_decref(d);
}

Test(template_limits, templates_whose_paths_have_no_segments_render)
{
    struct result r;
    run("{{#each a}}{{@first}}{{.}}{{@index}}{{/each}}", "{\"a\":[\"x\",\"y\"]}", NULL, NULL, &r);
    cr_assert_eq(r.rc, HD_OK, "%s", r.err);
    cr_expect_str_eq(r.out.data, "truex0falsey1");
    hd_buf_free(&r.out);
    /* nothing but "." and a data variable: the program has no segments at all */
    run("{{.}}{{#if @first}}f{{/if}}{{this}}", "7", NULL, NULL, &r);
    cr_assert_eq(r.rc, HD_OK, "%s", r.err);
    cr_expect_str_eq(r.out.data, "77");
    hd_buf_free(&r.out);
}

/* "17,976,931,348,623,157,000,…" : DBL_MAX's digits, then zeros, grouped by 3 */
static void dbl_max_grouped(char *out, size_t zeros)
{
    char digits[400];
    snprintf(digits, sizeof(digits), "17976931348623157");
    size_t n = strlen(digits);
    memset(digits + n, '0', zeros);
    n += zeros;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            out[k++] = ',';
        out[k++] = digits[i];
    }
    out[k] = '\0';
}

Test(template_limits, the_largest_numbers_format_in_full_in_every_style)
{
    char want[600], full[700];
    struct result r;
    /* DBL_MAX as a percent is 311 digits and 103 separators */
    run("{{formatNumber n style=\"percent\"}}", "{\"n\":1.7976931348623157e308}", NULL, "en", &r);
    cr_assert_eq(r.rc, HD_OK, "%s", r.err);
    dbl_max_grouped(want, 294);
    snprintf(full, sizeof(full), "%s%%", want);
    cr_expect_str_eq(r.out.data, full);
    hd_buf_free(&r.out);
    run("{{formatNumber n minimumFractionDigits=20}}", "{\"n\":-1.7976931348623157e308}", NULL,
        "en", &r);
    cr_assert_eq(r.rc, HD_OK, "%s", r.err);
    dbl_max_grouped(want, 292);
    snprintf(full, sizeof(full), "-%s.%020d", want, 0);
    cr_expect_str_eq(r.out.data, full);
    hd_buf_free(&r.out);
    /* Indian grouping puts a separator every 2 digits: the longest output there is */
    run("{{formatCurrency n \"INR\"}}|{{formatNumber n style=\"percent\"}}",
        "{\"n\":-1.7976931348623157e308}", NULL, "hi-IN", &r);
    cr_assert_eq(r.rc, HD_OK, "%s", r.err);
    cr_expect_gt(r.out.len, 900, "%zu bytes: %s", r.out.len, r.out.data);
    cr_expect(strstr(r.out.data, "17,97,69,31,34,86,23,15,70,00") != NULL, "%s", r.out.data);
    hd_buf_free(&r.out);
}
