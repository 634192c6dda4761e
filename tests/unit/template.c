/*
 * The template engine beyond the Mustache spec (which tests/unit/mustache_spec.c
 * runs): Handlebars-style helpers, escaping by context, errors that name
 * template/line/column, robustness on malformed input, ICU formatters, partial
 * resolution, the compiled-template cache, and the channel limits checked on
 * rendered text (templates/channel_limits.c).
 *
 * Formatter expectations are CLDR 42 data as ICU 72 ships it (e.g. U+202F
 * before "PM" in en-US times, U+202F as the French thousands separator).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "templates/channel_limits.h"
#include "templates/template.h"

#define NOW_MS INT64_C(1795456513000) /* 2026-11-23T17:55:13Z */

struct partials {
    json_t *map;
    int calls;
};

static int map_partial(void *opaque, const char *name, struct hd_buf *out, char *errstr,
                       size_t errstr_size)
{
    struct partials *p = opaque;
    __atomic_add_fetch(&p->calls, 1, __ATOMIC_RELAXED);
    json_t *s = json_object_get(p->map, name);
    if (!json_is_string(s))
        return HD_ERR_NOTFOUND;
    hd_buf_append(out, json_string_value(s), json_string_length(s));
    return HD_OK;
}

/* Compiles and renders; returns the output (caller frees) or NULL with err set. */
static char *render_full(const char *tpl, const char *data, const char *partials_json,
                         const struct hd_tpl_render_opts *o, char *err, size_t err_size)
{
    json_error_t jerr;
    json_t *d = json_loads(data ? data : "{}", JSON_DECODE_ANY, &jerr);
    cr_assert_not_null(d, "bad test data %s: %s", data, jerr.text);
    struct partials p = {partials_json ? json_loads(partials_json, 0, &jerr) : json_object(), 0};
    cr_assert_not_null(p.map, "bad test partials");
    struct hd_tpl_resolver res = {map_partial, &p};
    char *copy = hd_strdup(tpl); /* not NUL-terminated as far as the engine knows */
    struct hd_tpl *t = hd_tpl_compile("t", copy, strlen(copy), &res, err, err_size);
    hd_free(copy);
    char *result = NULL;
    if (t) {
        struct hd_tpl_renderer *r = hd_tpl_renderer_new();
        struct hd_buf out = HD_BUF_INIT;
        if (hd_tpl_render(r, t, d, o, &out, err, err_size) == HD_OK)
            result = hd_buf_steal(&out);
        hd_buf_free(&out);
        hd_tpl_renderer_destroy(r);
        hd_tpl_release(t);
    }
    json_decref(p.map);
    json_decref(d);
    return result;
}

static void expect_render(const char *tpl, const char *data, const char *want)
{
    char err[512] = "";
    char *got = render_full(tpl, data, NULL, NULL, err, sizeof(err));
    cr_assert_not_null(got, "%s: %s", tpl, err);
    cr_expect_str_eq(got, want, "template %s", tpl);
    hd_free(got);
}

static void expect_opts(const char *tpl, const char *data, const struct hd_tpl_render_opts *o,
                        const char *want)
{
    char err[512] = "";
    char *got = render_full(tpl, data, NULL, o, err, sizeof(err));
    cr_assert_not_null(got, "%s: %s", tpl, err);
    cr_expect_str_eq(got, want, "template %s", tpl);
    hd_free(got);
}

/* Fails to compile or render; err must contain every string in `want`. */
static void expect_error(const char *tpl, const char *data, const struct hd_tpl_render_opts *o,
                         const char *want1, const char *want2)
{
    char err[512] = "";
    char *got = render_full(tpl, data, NULL, o, err, sizeof(err));
    cr_expect_null(got, "%s rendered \"%s\", want an error", tpl, got ? got : "");
    hd_free(got);
    cr_expect(strstr(err, want1) != NULL, "%s: error \"%s\" lacks \"%s\"", tpl, err, want1);
    if (want2)
        cr_expect(strstr(err, want2) != NULL, "%s: error \"%s\" lacks \"%s\"", tpl, err, want2);
}

/* ---- helpers ---------------------------------------------------------------------- */

Test(template, if_else_uses_handlebars_truthiness)
{
    static const char *falsy[] = {"0", "0.0", "\"\"", "[]", "null", "false"};
    static const char *truthy[] = {"1", "-1", "\"0\"", "[0]", "{}", "true", "\" \""};
    char data[64];
    for (size_t i = 0; i < sizeof(falsy) / sizeof(*falsy); i++) {
        snprintf(data, sizeof(data), "{\"x\":%s}", falsy[i]);
        expect_render("{{#if x}}T{{else}}F{{/if}}{{#unless x}}u{{/unless}}", data, "Fu");
    }
    for (size_t i = 0; i < sizeof(truthy) / sizeof(*truthy); i++) {
        snprintf(data, sizeof(data), "{\"x\":%s}", truthy[i]);
        expect_render("{{#if x}}T{{else}}F{{/if}}{{#unless x}}u{{/unless}}", data, "T");
    }
    expect_render("{{#if missing}}T{{else}}F{{/if}}", "{}", "F");
    expect_render("{{#if n includeZero=true}}zero{{/if}}", "{\"n\":0}", "zero");
}

Test(template, else_if_chains)
{
    const char *t = "{{#if a}}A{{else if b}}B{{else unless c}}C{{else}}D{{/if}}";
    expect_render(t, "{\"a\":1}", "A");
    expect_render(t, "{\"b\":1}", "B");
    expect_render(t, "{}", "C");
    expect_render(t, "{\"c\":1}", "D");
}

Test(template, each_over_arrays_has_index_first_last_and_else)
{
    const char *t = "{{#each items}}{{@index}}:{{name}}{{#if @first}}^{{/if}}{{#if @last}}${{/if}} "
                    "{{else}}none{{/each}}";
    expect_render(t, "{\"items\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"c\"}]}",
                  "0:a^ 1:b 2:c$ ");
    expect_render(t, "{\"items\":[]}", "none");
    expect_render(t, "{}", "none");
    expect_render("{{#each xs}}{{this}}{{.}}{{/each}}", "{\"xs\":[1,\"b\"]}", "11bb");
}

Test(template, each_over_objects_has_key_in_insertion_order)
{
    expect_render("{{#each o}}{{@key}}={{this}}{{#unless @last}},{{/unless}}{{/each}}",
                  "{\"o\":{\"z\":1,\"a\":2,\"m\":3}}", "z=1,a=2,m=3");
    expect_render("{{#each o}}x{{else}}empty{{/each}}", "{\"o\":{}}", "empty");
    expect_render("{{#each o}}x{{^}}empty{{/each}}", "{\"o\":[]}", "empty");
}

Test(template, nested_each_reads_outer_names_and_parent_scope)
{
    expect_render("{{#each rows}}{{#each cells}}{{../label}}{{@index}}{{.}};{{/each}}{{/each}}",
                  "{\"rows\":[{\"label\":\"r\",\"cells\":[1,2]}]}", "r01;r12;");
    expect_render("{{#each items}}{{@root.title}}/{{title}} {{/each}}",
                  "{\"title\":\"T\",\"items\":[{},{\"title\":\"own\"}]}", "T/T T/own ");
}

Test(template, with_changes_context_and_has_else)
{
    const char *t = "{{#with user}}{{name}} ({{email}}){{else}}nobody{{/with}}";
    expect_render(t, "{\"user\":{\"name\":\"Ann\",\"email\":\"a@x\"}}", "Ann (a@x)");
    expect_render(t, "{\"user\":null}", "nobody");
}

Test(template, lookup_reads_a_key_or_an_index)
{
    expect_render("[{{lookup list big}}{{lookup list neg}}{{lookup list half}}]",
                  "{\"list\":[1],\"big\":1e300,\"neg\":-1,\"half\":0.5}", "[]");
    expect_render("{{lookup labels status}}|{{lookup list 1}}|{{lookup labels \"x y\"}}|{{lookup "
                  "labels nope}}",
                  "{\"labels\":{\"sent\":\"Sent <ok>\",\"x y\":1},\"status\":\"sent\","
                  "\"list\":[\"a\",\"b\"]}",
                  "Sent &lt;ok&gt;|b|1|");
}

Test(template, helper_names_stay_plain_mustache_without_arguments)
{
    expect_render("{{#if}}yes{{/if}}{{#each}}<{{.}}>{{/each}}{{with}}{{lookup}}",
                  "{\"if\":true,\"each\":[1,2],\"with\":\"W\",\"lookup\":\"L\"}", "yes<1><2>WL");
    expect_render("{{#list}}{{else}}{{/list}}", "{\"list\":[1],\"else\":\"E\"}", "E");
}

Test(template, sections_expose_index_too)
{
    expect_render("{{#items}}{{@index}}{{name}}{{/items}}",
                  "{\"items\":[{\"name\":\"a\"},{\"name\":\"b\"}]}", "0a1b");
}

/* ---- values and escaping ------------------------------------------------------------ */

Test(template, numbers_print_as_javascript_does)
{
    expect_render("{{a}} {{b}} {{c}} {{d}} {{e}} {{f}} {{g}}",
                  "{\"a\":1.21,\"b\":0.30000000000000004,\"c\":1e21,\"d\":1e-7,\"e\":-0.0,"
                  "\"f\":3.0,\"g\":9007199254740993}",
                  "1.21 0.30000000000000004 1e+21 1e-7 0 3 9007199254740993");
    expect_render("{{t}} {{f}} {{n}} {{list}} {{obj}}",
                  "{\"t\":true,\"f\":false,\"n\":null,\"list\":[1,\"a\",[2]],\"obj\":{\"k\":1}}",
                  "true false  1,a,2 {&quot;k&quot;:1}");
}

Test(template, html_escaping_is_the_default)
{
    expect_render("{{s}}|{{{s}}}|{{&s}}", "{\"s\":\"<a href='x'>&\\\"</a>\"}",
                  "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;|<a href='x'>&\"</a>|"
                  "<a href='x'>&\"</a>");
}

Test(template, escape_none_leaves_text_alone)
{
    struct hd_tpl_render_opts o = {.escape = HD_TPL_ESCAPE_NONE};
    expect_opts("{{s}}", "{\"s\":\"<b> & 'q' \\\"\"}", &o, "<b> & 'q' \"");
}

Test(template, escape_json_makes_string_contents)
{
    struct hd_tpl_render_opts o = {.escape = HD_TPL_ESCAPE_JSON};
    expect_opts("{\"t\":\"{{s}}\",\"raw\":{{{obj}}}}",
                "{\"s\":\"a\\\"b\\\\c\\n\\t\\u0001</x>\",\"obj\":{\"k\":[1,2]}}", &o,
                "{\"t\":\"a\\\"b\\\\c\\n\\t\\u0001</x>\",\"raw\":{\"k\":[1,2]}}");
}

Test(template, helper_output_is_escaped_unless_triple)
{
    expect_render("{{lookup m k}}|{{{lookup m k}}}", "{\"m\":{\"a\":\"<i>\"},\"k\":\"a\"}",
                  "&lt;i&gt;|<i>");
}

/* ---- errors ------------------------------------------------------------------------- */

Test(template, parse_errors_name_template_line_column_and_cause)
{
    static const struct {
        const char *tpl, *where, *cause;
    } cases[] = {
        {"Hi\n  {{name", "line 2, column 3", "unclosed tag"},
        {"a\n{{#items}}\nx", "line 2, column 1", "unclosed section \"items\""},
        {"{{#a}}\n {{/b}}", "line 2, column 2", "does not close \"a\""},
        {"x {{/a}}", "line 1, column 3", "nothing is open"},
        {"\n\n{{shout name}}", "line 3, column 1", "unknown helper \"shout\""},
        {"{{#formatDate d}}{{/formatDate}}", "line 1, column 1", "not a block helper"},
        {"{{each xs}}", "line 1, column 1", "is a block helper"},
        {"{{=<% %> x=}}", "line 1, column 1", "invalid delimiters"},
        {"{{#if a}}{{else}}{{else}}{{/if}}", "line 1, column 18", "second {{else}}"},
        {"{{#if a b}}{{/if}}", "line 1, column 1", "takes 1 argument"},
        {"{{formatDate d style=\"x}}", "line 1, column 1", "unterminated string"},
        {"{{@nope}}", "line 1, column 1", "unknown data variable"},
        {"{{a..b}}", "line 1, column 1", "empty segment"},
        {"{{}}", "line 1, column 1", "empty tag"},
        {"{{^if a}}{{/if}}", "line 1, column 1", "cannot be inverted"},
        {"{{#a}}\n{{^}}{{/a}}", "line 2, column 1", "{{^}} outside a helper block"},
        {"{{> a b}}", "line 1, column 1", "arguments are not supported"},
        {"{{#if (eq a b)}}{{/if}}", "line 1, column 1", "subexpressions"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char err[512] = "";
        char *copy = hd_strdup(cases[i].tpl);
        struct hd_tpl *t = hd_tpl_compile("welcome", copy, strlen(copy), NULL, err, sizeof(err));
        hd_free(copy);
        cr_expect_null(t, "%s compiled", cases[i].tpl);
        hd_tpl_release(t);
        cr_expect(strstr(err, "template 'welcome'") && strstr(err, cases[i].where) &&
                      strstr(err, cases[i].cause),
                  "%s: error \"%s\" should name 'welcome', %s and %s", cases[i].tpl, err,
                  cases[i].where, cases[i].cause);
    }
}

Test(template, strict_mode_names_the_missing_variable)
{
    struct hd_tpl_render_opts strict = {.strict = 1};
    expect_error("Dear {{user.name}},\n{{order.id}}", "{\"user\":{\"name\":\"A\"}}", &strict,
                 "line 2, column 1", "missing variable \"order.id\"");
    expect_error("{{formatNumber total}}", "{}", &strict, "missing variable \"total\"", NULL);
    /* presence tests are not errors: sections, inverted sections, if, each, with */
    expect_opts("{{#a}}x{{/a}}{{^a}}none{{/a}}{{#if a}}y{{/if}}{{#each a}}z{{/each}}", "{}",
                &strict, "none");
    /* null is present */
    expect_opts("[{{a}}]", "{\"a\":null}", &strict, "[]");
    /* not strict: empty */
    expect_render("[{{order.id}}]", "{}", "[]");
}

Test(template, recursion_without_end_is_an_error_not_a_crash)
{
    char err[512] = "";
    char *got = render_full("{{>loop}}", "{}", "{\"loop\":\"x{{>loop}}\"}", NULL, err, sizeof(err));
    cr_expect_null(got);
    hd_free(got);
    cr_expect(strstr(err, "template 'loop'") && strstr(err, "deep"), "%s", err);
    got = render_full("{{<p}}{{$a}}{{$a}}x{{/a}}{{/a}}{{/p}}", "{}", "{\"p\":\"{{$a}}d{{/a}}\"}",
                      NULL, err, sizeof(err));
    cr_expect_str_eq(got, "x"); /* an override's own blocks see only outer overrides */
    hd_free(got);
}

Test(template, partial_errors_name_the_partial)
{
    char err[512] = "";
    char *got =
        render_full("{{>header}}", "{}", "{\"header\":\"\\n{{#oops}}\"}", NULL, err, sizeof(err));
    cr_expect_null(got);
    cr_expect(strstr(err, "template 'header' line 2, column 1") != NULL, "%s", err);
    got = render_full("{{>*which}}", "{\"which\":\"bad\"}", "{\"bad\":\"{{/x}}\"}", NULL, err,
                      sizeof(err));
    cr_expect_null(got);
    cr_expect(strstr(err, "template 't' line 1, column 1: partial \"bad\"") && strstr(err, "'bad'"),
              "%s", err);
}

/* Deterministic junk made of template syntax: nothing may crash, leak or read out of bounds. */
Test(template, malformed_input_never_crashes)
{
    static const char *pieces[] = {
        "{{",     "}}",     "{{{",         "}}}",     "#",  "^",      "/",      ">",      "<",
        "$",      "!",      "&",           "=",       "*",  " ",      "\n",     "\r\n",   "a",
        "b",      ".",      "..",          "@index",  "if", "each",   "else",   "with",   "lookup",
        "\"s\"",  "x=1",    "{{=<% %>=}}", "<%",      "%>", "{{#a}}", "{{/a}}", "{{$b}}", "{{/b}}",
        "{{<p}}", "{{/p}}", "{{>p}}",      "{{>*n}}", "(",  "'"};
    const char *data = "{\"a\":[1,{\"b\":2}],\"n\":\"p\",\"x\":{\"y\":[true]},\"if\":1}";
    json_t *d = json_loads(data, 0, NULL);
    struct partials p = {json_loads("{\"p\":\"{{$b}}B{{/b}}{{#a}}{{>p}}{{/a}}\"}", 0, NULL), 0};
    struct hd_tpl_resolver res = {map_partial, &p};
    struct hd_tpl_renderer *r = hd_tpl_renderer_new();
    struct hd_buf src = HD_BUF_INIT, out = HD_BUF_INIT;
    unsigned seed = 12345;
    int compiled = 0;
    for (int iter = 0; iter < 3000; iter++) {
        hd_buf_reset(&src);
        int n = 1 + (int)(rand_r(&seed) % 24);
        for (int k = 0; k < n; k++)
            hd_buf_puts(&src, pieces[rand_r(&seed) % (sizeof(pieces) / sizeof(*pieces))]);
        char *copy = hd_strndup(src.data, src.len);
        char err[256];
        struct hd_tpl *t = hd_tpl_compile("fuzz", copy, src.len, &res, err, sizeof(err));
        hd_free(copy);
        if (!t) {
            cr_assert(strstr(err, "template '") != NULL, "error without location: %s", err);
            continue;
        }
        compiled++;
        hd_buf_reset(&out);
        hd_tpl_render(r, t, d, NULL, &out, err, sizeof(err));
        hd_tpl_release(t);
    }
    cr_expect(compiled > 100, "only %d of 3000 random templates compiled", compiled);
    hd_buf_free(&src);
    hd_buf_free(&out);
    hd_tpl_renderer_destroy(r);
    json_decref(p.map);
    json_decref(d);
}

Test(template, every_prefix_of_a_template_compiles_or_fails_cleanly)
{
    const char *full = "{{<layout}}{{$body}}\n{{#each items}}\n  {{formatNumber price "
                       "style=\"percent\"}} {{{name}}}{{else}}none{{/each}}\n{{/body}}{{/layout}}";
    size_t n = strlen(full);
    for (size_t len = 0; len <= n; len++) {
        char *copy = hd_strndup(full, len);
        char err[256];
        struct hd_tpl *t = hd_tpl_compile("prefix", copy, len, NULL, err, sizeof(err));
        hd_free(copy);
        cr_expect(t != NULL || strstr(err, "template 'prefix' line ") != NULL, "len %zu: %s", len,
                  err);
        hd_tpl_release(t);
    }
}

/* ---- partials, layouts, renderer reuse ------------------------------------------------ */

Test(template, partials_are_fetched_once_per_name)
{
    struct partials p = {json_loads("{\"a\":\"A{{>b}}\",\"b\":\"B{{>a2}}\",\"a2\":\"!\"}", 0, NULL),
                         0};
    struct hd_tpl_resolver res = {map_partial, &p};
    const char *src = "{{>a}}{{>a}}{{>b}}{{>missing}}";
    char err[256];
    struct hd_tpl *t = hd_tpl_compile("t", src, strlen(src), &res, err, sizeof(err));
    cr_assert_not_null(t, "%s", err);
    cr_expect_eq(p.calls, 4, "resolver called %d times, want once per name", p.calls);
    struct hd_tpl_renderer *r = hd_tpl_renderer_new();
    struct hd_buf out = HD_BUF_INIT;
    for (int i = 0; i < 3; i++) {
        hd_buf_reset(&out);
        cr_assert_eq(hd_tpl_render(r, t, NULL, NULL, &out, err, sizeof(err)), HD_OK, "%s", err);
        cr_expect_str_eq(out.data, "AB!AB!B!");
    }
    cr_expect_eq(p.calls, 4, "rendering called the resolver");
    hd_buf_free(&out);
    hd_tpl_renderer_destroy(r);
    hd_tpl_release(t);
    json_decref(p.map);
}

Test(template, dynamic_partials_are_resolved_once_and_kept)
{
    struct partials p = {
        json_loads("{\"text\":\"[{{content}}]\",\"image\":\"<img {{url}}>\"}", 0, NULL), 0};
    struct hd_tpl_resolver res = {map_partial, &p};
    const char *src = "{{#items}}{{>*kind}}{{/items}}";
    char err[256];
    struct hd_tpl *t = hd_tpl_compile("t", src, strlen(src), &res, err, sizeof(err));
    cr_assert_not_null(t, "%s", err);
    json_t *d =
        json_loads("{\"items\":[{\"kind\":\"text\",\"content\":\"hi\"},"
                   "{\"kind\":\"image\",\"url\":\"u\"},{\"kind\":\"text\",\"content\":\"yo\"},"
                   "{\"kind\":\"nope\"}]}",
                   0, NULL);
    struct hd_tpl_renderer *r = hd_tpl_renderer_new();
    struct hd_buf out = HD_BUF_INIT;
    for (int i = 0; i < 3; i++) {
        hd_buf_reset(&out);
        cr_assert_eq(hd_tpl_render(r, t, d, NULL, &out, err, sizeof(err)), HD_OK, "%s", err);
        cr_expect_str_eq(out.data, "[hi]<img u>[yo]");
    }
    cr_expect_eq(p.calls, 3, "resolver called %d times, want 3 (text, image, nope)", p.calls);
    hd_buf_free(&out);
    hd_tpl_renderer_destroy(r);
    hd_tpl_release(t);
    json_decref(d);
    json_decref(p.map);
}

Test(template, tenant_layout_by_inheritance_keeps_indentation)
{
    char err[256] = "";
    char *got = render_full("{{<layout}}\n{{$title}}Your order{{/title}}\n{{$body}}\n"
                            "<p>Hello {{name}}</p>\n<p>Bye</p>\n{{/body}}\n{{/layout}}\n",
                            "{\"name\":\"<Ann>\"}",
                            "{\"layout\":\"<title>{{$title}}Herald{{/title}}</title>\\n<body>\\n"
                            "  <main>\\n    {{$body}}\\n    {{/body}}\\n  </main>\\n</body>\\n\"}",
                            NULL, err, sizeof(err));
    cr_assert_not_null(got, "%s", err);
    cr_expect_str_eq(got,
                     "<title>Your order</title>\n<body>\n  <main>\n    <p>Hello &lt;Ann&gt;</p>\n"
                     "    <p>Bye</p>\n  </main>\n</body>\n");
    hd_free(got);
}

Test(template, renderer_appends_and_is_reusable)
{
    const char *src = "{{#each xs}}{{.}}{{/each}}";
    char err[256];
    struct hd_tpl *t = hd_tpl_compile("t", src, strlen(src), NULL, err, sizeof(err));
    cr_assert_not_null(t);
    json_t *d = json_loads("{\"xs\":[1,2,3]}", 0, NULL);
    struct hd_tpl_renderer *r = hd_tpl_renderer_new();
    struct hd_buf out = HD_BUF_INIT;
    hd_buf_puts(&out, ">");
    for (int i = 0; i < 2; i++)
        cr_assert_eq(hd_tpl_render(r, t, d, NULL, &out, err, sizeof(err)), HD_OK);
    cr_expect_str_eq(out.data, ">123123");
    cr_expect_str_eq(hd_tpl_name(t), "t");
    hd_buf_free(&out);
    hd_tpl_renderer_destroy(r);
    hd_tpl_release(t);
    json_decref(d);
}

/* ---- formatters ------------------------------------------------------------------------ */

static struct hd_tpl_render_opts loc(const char *locale, const char *tz)
{
    struct hd_tpl_render_opts o = {.locale = locale, .timezone = tz, .now_ms = NOW_MS};
    return o;
}

Test(template, format_date_in_locale_and_zone)
{
    struct hd_tpl_render_opts en = loc("en-US", "America/New_York"),
                              fr = loc("fr-FR", "Europe/Paris");
    const char *d =
        "{\"at\":\"2026-11-23T17:55:13Z\",\"ms\":1795456513000,\"late\":\"2026-11-24T03:00:00Z\"}";
    expect_opts("{{formatDate at}}|{{formatDate ms \"short\"}}|{{formatDate at \"long\"}}|"
                "{{formatDate at \"full\"}}",
                d, &en, "Nov 23, 2026|11/23/26|November 23, 2026|Monday, November 23, 2026");
    expect_opts("{{formatDate at \"long\"}}|{{formatDate at skeleton=\"yMMMd\"}}", d, &fr,
                "23 novembre 2026|23 nov. 2026");
    /* 03:00Z on the 24th is still the 23rd in New York */
    expect_opts("{{formatDate late \"short\"}}", d, &en, "11/23/26");
    expect_opts("{{formatTime at}}|{{formatDateTime at \"medium\"}}", d, &en,
                "12:55\u202fPM|Nov 23, 2026, 12:55:13\u202fPM");
    expect_opts("{{formatTime at}}|{{formatDateTime at \"short\"}}", d, &fr,
                "18:55|23/11/2026 18:55");
}

Test(template, format_date_reads_dates_walltimes_and_offsets)
{
    struct hd_tpl_render_opts tokyo = loc("en-US", "Asia/Tokyo");
    /* a date alone is that calendar day in any zone */
    expect_opts("{{formatDate d}}", "{\"d\":\"2026-11-23\"}", &tokyo, "Nov 23, 2026");
    /* without an offset: wall time in the render's zone */
    expect_opts("{{formatTime t}}", "{\"t\":\"2026-11-23T09:30:00\"}", &tokyo, "9:30\u202fAM");
    expect_opts("{{formatTime t}}", "{\"t\":\"2026-11-23T09:30:00+02:00\"}", &tokyo,
                "4:30\u202fPM");
    expect_opts("{{formatTime t}}", "{\"t\":\"2026-11-23T00:30:00.5-0500\"}", &tokyo,
                "2:30\u202fPM");
}

Test(template, format_numbers_and_currencies)
{
    struct hd_tpl_render_opts en = loc("en-US", NULL), de = loc("de-DE", NULL),
                              fr = loc("fr-FR", NULL);
    const char *d = "{\"n\":1234567.891,\"p\":0.256,\"price\":\"19.9\",\"yen\":1500}";
    expect_opts(
        "{{formatNumber n}}|{{formatNumber p style=\"percent\"}}|{{formatCurrency price \"EUR\"}}|"
        "{{formatCurrency yen \"JPY\"}}|{{formatNumber n maximumFractionDigits=0}}|"
        "{{formatNumber price minimumFractionDigits=2}}",
        d, &en, "1,234,567.891|26%|€19.90|¥1,500|1,234,568|19.90");
    expect_opts("{{formatNumber n}}|{{formatCurrency price \"EUR\"}}", d, &de,
                "1.234.567,891|19,90\u00a0€");
    expect_opts("{{formatNumber n}}|{{formatNumber p style=\"percent\"}}", d, &fr,
                "1\u202f234\u202f567,891|26\u00a0%");
    expect_opts("{{formatNumber price style=\"currency\" currency=\"USD\"}}", d, &en, "$19.90");
}

Test(template, plural_uses_cldr_categories)
{
    struct hd_tpl_render_opts en = loc("en", NULL), pl = loc("pl", NULL), fr = loc("fr", NULL);
    const char *t = "{{plural n one=\"# item\" other=\"# items\"}}";
    expect_opts(t, "{\"n\":1}", &en, "1 item");
    expect_opts(t, "{\"n\":0}", &en, "0 items");
    expect_opts(t, "{\"n\":1234}", &en, "1,234 items");
    expect_opts(t, "{\"n\":0}", &fr, "0 item"); /* French: 0 is "one" */
    const char *tp =
        "{{plural n one=\"# plik\" few=\"# pliki\" many=\"# plików\" other=\"# pliku\"}}";
    expect_opts(tp, "{\"n\":1}", &pl, "1 plik");
    expect_opts(tp, "{\"n\":3}", &pl, "3 pliki");
    expect_opts(tp, "{\"n\":5}", &pl, "5 plików");
    expect_opts(tp, "{\"n\":22}", &pl, "22 pliki");
    expect_opts("{{select g male=\"He\" female=\"She\" other=\"They\"}}", "{\"g\":\"female\"}", &en,
                "She");
    expect_opts("{{select g male=\"He\" other=\"They\"}}", "{}", &en, "They");
}

Test(template, relative_time_against_now)
{
    struct hd_tpl_render_opts en = loc("en", "UTC"), de = loc("de", "UTC");
    const char *d = "{\"in3d\":\"2026-11-26T17:55:13Z\",\"ago2h\":1795449313000,"
                    "\"tomorrow\":\"2026-11-24T17:00:00Z\",\"ago40s\":1795456473000,"
                    "\"in2mo\":\"2027-01-25T00:00:00Z\",\"ago3y\":\"2023-11-01T00:00:00Z\"}";
    expect_opts("{{relativeTime in3d}}|{{relativeTime ago2h}}|{{relativeTime ago40s}}|"
                "{{relativeTime in2mo}}|{{relativeTime ago3y}}",
                d, &en, "in 3 days|2 hours ago|40 seconds ago|in 2 months|3 years ago");
    expect_opts("{{relativeTime tomorrow numeric=\"auto\"}}|{{relativeTime in3d unit=\"hour\"}}|"
                "{{relativeTime ago2h style=\"short\"}}",
                d, &en, "tomorrow|in 72 hours|2 hr. ago");
    expect_opts("{{relativeTime in3d}}", d, &de, "in 3 Tagen");
}

Test(template, formatter_errors_say_what_is_wrong)
{
    struct hd_tpl_render_opts bad_tz = loc("en", "Mars/Olympus");
    struct hd_tpl_render_opts en = loc("en", NULL);
    expect_error("{{formatDate d}}", "{\"d\":\"2026-11-23T10:00:00Z\"}", &bad_tz,
                 "unknown time zone", NULL);
    expect_error("x\n {{formatDate d}}", "{\"d\":\"yesterday\"}", &en, "line 2, column 2",
                 "formatDate: not a date");
    expect_error("{{formatDate d}}", "{\"d\":null}", &en, "no date", NULL);
    expect_error("{{formatDate d}}", "{\"d\":1e300}", &en, "out of range", NULL);
    expect_error("{{relativeTime d}}", "{\"d\":\"-1e300\"}", &en, "out of range", NULL);
    expect_error("{{formatDate d}}", "{\"d\":\"2026-02-30T25:00:00Z\"}", &en, "not a date", NULL);
    expect_error("{{formatDate d \"tiny\"}}", "{\"d\":0}", &en, "unknown style \"tiny\"", NULL);
    expect_error("{{formatNumber n}}", "{\"n\":\"abc\"}", &en, "not a number", NULL);
    expect_error("{{formatCurrency n \"euro\"}}", "{\"n\":1}", &en, "ISO 4217", NULL);
    expect_error("{{formatCurrency n}}", "{\"n\":1}", &en, "ISO 4217", NULL);
    expect_error("{{plural n one=\"x\"}}", "{\"n\":2}", &en, "no other=", NULL);
    expect_error("{{relativeTime d unit=\"fortnight\"}}", "{\"d\":0}", &en, "unknown unit", NULL);
}

Test(template, formatters_are_reused_across_renders_and_locales)
{
    const char *src = "{{formatDate d \"long\"}} {{formatCurrency n \"EUR\"}}";
    char err[256];
    struct hd_tpl *t = hd_tpl_compile("t", src, strlen(src), NULL, err, sizeof(err));
    cr_assert_not_null(t);
    json_t *d = json_loads("{\"d\":\"2026-11-23\",\"n\":5}", 0, NULL);
    struct hd_tpl_renderer *r = hd_tpl_renderer_new();
    struct hd_buf out = HD_BUF_INIT;
    static const char *const locales[] = {"en-US", "fr-FR", "de-DE", "es-ES", "ja-JP", "pt-BR"};
    static const char *const want[] = {
        "November 23, 2026 €5.00",       "23 novembre 2026 5,00\u00a0€",
        "23. November 2026 5,00\u00a0€", "23 de noviembre de 2026 5,00\u00a0€",
        "2026年11月23日 €5.00",          "23 de novembro de 2026 €\u00a05,00"};
    for (int round = 0; round < 6;
         round++) { /* more locales x kinds than fit: entries get replaced */
        for (size_t i = 0; i < 6; i++) {
            struct hd_tpl_render_opts o = loc(locales[i], round % 2 ? "Asia/Tokyo" : "UTC");
            hd_buf_reset(&out);
            cr_assert_eq(hd_tpl_render(r, t, d, &o, &out, err, sizeof(err)), HD_OK, "%s", err);
            cr_expect_str_eq(out.data, want[i], "%s", locales[i]);
        }
    }
    hd_buf_free(&out);
    hd_tpl_renderer_destroy(r);
    hd_tpl_release(t);
    json_decref(d);
}

/* ---- cache ---------------------------------------------------------------------------------- */

static struct hd_tpl *compile(const char *src)
{
    char err[256];
    struct hd_tpl *t = hd_tpl_compile("c", src, strlen(src), NULL, err, sizeof(err));
    cr_assert_not_null(t, "%s", err);
    return t;
}

Test(template, cache_hits_by_tenant_key_locale_and_version)
{
    struct hd_tpl_cache *c = hd_tpl_cache_new(8);
    struct hd_tpl_cache_key k = {"acme", "welcome", "fr", 3};
    cr_expect_null(hd_tpl_cache_get(c, &k));
    struct hd_tpl *t = compile("v3");
    struct hd_tpl *in = hd_tpl_cache_put(c, &k, t);
    cr_expect_eq(in, t);
    hd_tpl_release(in);
    hd_tpl_release(t);
    struct hd_tpl *got = hd_tpl_cache_get(c, &k);
    cr_expect_eq(got, t);
    hd_tpl_release(got);
    struct hd_tpl_cache_key others[] = {{"acme", "welcome", "fr", 4},
                                        {"acme", "welcome", "en", 3},
                                        {"acme", "reset", "fr", 3},
                                        {"other", "welcome", "fr", 3}};
    for (size_t i = 0; i < 4; i++)
        cr_expect_null(hd_tpl_cache_get(c, &others[i]), "key %zu hit", i);
    /* a second put of the same key keeps the first entry */
    struct hd_tpl *t2 = compile("again");
    in = hd_tpl_cache_put(c, &k, t2);
    cr_expect_eq(in, got);
    hd_tpl_release(in);
    hd_tpl_release(t2);
    size_t n;
    uint64_t hits, misses;
    hd_tpl_cache_stats(c, &n, &hits, &misses);
    cr_expect_eq(n, 1);
    cr_expect_eq(hits, 1);
    cr_expect_eq(misses, 5);
    hd_tpl_cache_destroy(c);
}

Test(template, cache_is_bounded_and_drops_the_least_recently_used)
{
    struct hd_tpl_cache *c = hd_tpl_cache_new(3);
    struct hd_tpl_cache_key k[4] = {
        {"t", "a", "en", 1}, {"t", "b", "en", 1}, {"t", "c", "en", 1}, {"t", "d", "en", 1}};
    struct hd_tpl *kept = NULL;
    for (int i = 0; i < 3; i++) {
        struct hd_tpl *t = compile("x");
        hd_tpl_release(hd_tpl_cache_put(c, &k[i], t));
        if (i == 0)
            kept = t; /* our reference outlives eviction */
        else
            hd_tpl_release(t);
    }
    hd_tpl_release(hd_tpl_cache_get(c, &k[0])); /* a is now the most recent; b the least */
    struct hd_tpl *t = compile("y");
    hd_tpl_release(hd_tpl_cache_put(c, &k[3], t));
    hd_tpl_release(t);
    struct hd_tpl *b = hd_tpl_cache_get(c, &k[1]);
    cr_expect_null(b, "b should have been evicted");
    size_t n;
    hd_tpl_cache_stats(c, &n, NULL, NULL);
    cr_expect_eq(n, 3);
    hd_tpl_cache_destroy(c);
    /* the cache is gone; our reference still renders */
    struct hd_tpl_renderer *r = hd_tpl_renderer_new();
    struct hd_buf out = HD_BUF_INIT;
    char err[64];
    cr_expect_eq(hd_tpl_render(r, kept, NULL, NULL, &out, err, sizeof(err)), HD_OK);
    cr_expect_str_eq(out.data, "x");
    hd_buf_free(&out);
    hd_tpl_renderer_destroy(r);
    hd_tpl_release(kept);
}

struct hammer {
    struct hd_tpl_cache *cache;
    int id;
    int bad;
};

static void *hammer_run(void *arg)
{
    struct hammer *h = arg;
    struct hd_tpl_renderer *r = hd_tpl_renderer_new();
    struct hd_buf out = HD_BUF_INIT;
    char err[256], key[16], src[32];
    json_t *d = json_loads("{\"n\":7}", 0, NULL);
    for (int i = 0; i < 400; i++) {
        int which = (i * 7 + h->id) % 12;
        snprintf(key, sizeof(key), "k%d", which);
        struct hd_tpl_cache_key k = {"tenant", key, "en", 1};
        struct hd_tpl *t = hd_tpl_cache_get(h->cache, &k);
        if (!t) {
            snprintf(src, sizeof(src), "%d:{{n}}", which);
            struct hd_tpl *fresh = hd_tpl_compile(key, src, strlen(src), NULL, err, sizeof(err));
            t = hd_tpl_cache_put(h->cache, &k, fresh);
            hd_tpl_release(fresh);
        }
        hd_buf_reset(&out);
        snprintf(src, sizeof(src), "%d:7", which);
        if (hd_tpl_render(r, t, d, NULL, &out, err, sizeof(err)) || strcmp(out.data, src))
            h->bad++;
        hd_tpl_release(t);
    }
    json_decref(d);
    hd_buf_free(&out);
    hd_tpl_renderer_destroy(r);
    return NULL;
}

Test(template, cache_is_safe_under_concurrent_use)
{
    struct hd_tpl_cache *c =
        hd_tpl_cache_new(5); /* smaller than the working set: constant eviction */
    pthread_t th[4];
    struct hammer h[4];
    for (int i = 0; i < 4; i++) {
        h[i] = (struct hammer){c, i, 0};
        pthread_create(&th[i], NULL, hammer_run, &h[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(h[i].bad, 0, "thread %d saw %d wrong renders", i, h[i].bad);
    }
    hd_tpl_cache_destroy(c);
}

/* ---- channel limits (templates/channel_limits.c) --------------------------------------- */

static struct hd_sms_count sms(const char *s)
{
    struct hd_sms_count c;
    cr_assert_eq(hd_sms_count(s, strlen(s), &c), HD_OK, "%s", s);
    return c;
}

static char *repeat(const char *unit, int n, const char *tail)
{
    struct hd_buf b = HD_BUF_INIT;
    for (int i = 0; i < n; i++)
        hd_buf_puts(&b, unit);
    hd_buf_puts(&b, tail);
    return hd_buf_steal(&b);
}

Test(channel_limits, gsm7_text_fits_160_then_153_per_segment)
{
    struct hd_sms_count c = sms("Your code is 4821. Ça coûte 5€?");
    cr_expect_eq(c.encoding, HD_SMS_UCS2, "û is not GSM-7");
    c = sms("Your code is 4821 @ £5 {ok} é Ç");
    cr_expect_eq(c.encoding, HD_SMS_GSM7);
    cr_expect_eq(c.units, 33, "{ and } take two septets: %zu", c.units);
    cr_expect_eq(sms("ç").encoding, HD_SMS_UCS2, "GSM-7 has Ç but not ç");
    static const struct {
        int n;
        size_t segments;
    } cases[] = {{160, 1}, {161, 2}, {306, 2}, {307, 3}};
    for (size_t i = 0; i < 4; i++) {
        char *s = repeat("a", cases[i].n, "");
        c = sms(s);
        cr_expect_eq(c.segments, cases[i].segments, "%d chars: %zu segments", cases[i].n,
                     c.segments);
        hd_free(s);
    }
    char *euros = repeat("\xe2\x82\xac", 80, ""); /* 80 x €: 160 septets */
    c = sms(euros);
    cr_expect(c.encoding == HD_SMS_GSM7 && c.units == 160 && c.segments == 1);
    hd_free(euros);
}

Test(channel_limits, escape_sequences_are_not_split_across_segments)
{
    char *a = repeat("a", 152, "\xe2\x82\xac"), *s = repeat("a", 152, "");
    char *both = hd_asprintf("%s%s", a, s); /* 306 septets, but the € cannot straddle */
    struct hd_sms_count c = sms(both);
    cr_expect_eq(c.units, 306);
    cr_expect_eq(c.segments, 3);
    hd_free(a);
    hd_free(s);
    hd_free(both);
}

Test(channel_limits, ucs2_text_fits_70_then_67_and_keeps_surrogate_pairs_whole)
{
    char *s70 = repeat("ж", 70, ""), *s71 = repeat("ж", 71, "");
    cr_expect_eq(sms(s70).segments, 1);
    cr_expect_eq(sms(s71).segments, 2);
    char *emoji = repeat("ж", 66, "\xf0\x9f\x98\x80жжжжж"); /* 66 + 2 + 5 units */
    struct hd_sms_count c = sms(emoji);
    cr_expect(c.encoding == HD_SMS_UCS2 && c.units == 73 && c.chars == 72 && c.segments == 2,
              "units %zu chars %zu segments %zu", c.units, c.chars, c.segments);
    char *e2 = repeat("ж", 66, "\xf0\x9f\x98\x80"); /* 68 units: one message */
    cr_expect_eq(sms(e2).segments, 1);
    hd_free(s70);
    hd_free(s71);
    hd_free(emoji);
    hd_free(e2);
}

Test(channel_limits, sms_check_rejects_empty_invalid_and_too_long)
{
    struct hd_channel_limits l;
    hd_channel_limits_default(&l);
    char err[256];
    struct hd_sms_count c;
    cr_expect_eq(hd_limits_check_sms(&l, "hi", 2, &c, err, sizeof(err)), HD_OK);
    cr_expect_eq(hd_limits_check_sms(&l, "", 0, NULL, err, sizeof(err)), HD_ERR_INVALID);
    cr_expect(strstr(err, "empty") != NULL, "%s", err);
    cr_expect_eq(hd_limits_check_sms(&l, "\xc3\x28", 2, NULL, err, sizeof(err)), HD_ERR_INVALID);
    cr_expect(strstr(err, "UTF-8") != NULL, "%s", err);
    l.sms_max_segments = 2;
    char *s = repeat("a", 307, "");
    cr_expect_eq(hd_limits_check_sms(&l, s, strlen(s), &c, err, sizeof(err)), HD_ERR_INVALID);
    cr_expect(strstr(err, "3 segments") && strstr(err, "limit of 2"), "%s", err);
    hd_free(s);
}

Test(channel_limits, push_title_and_body_are_truncated_with_an_ellipsis)
{
    struct hd_channel_limits l;
    hd_channel_limits_default(&l);
    l.push_title_chars = 10;
    struct hd_buf title = HD_BUF_INIT, body = HD_BUF_INIT;
    hd_buf_puts(&title, "Zoë, your order shipped");
    hd_buf_puts(&body, "short");
    char err[256];
    cr_assert_eq(hd_limits_apply_push(&l, &title, &body, err, sizeof(err)), HD_OK, "%s", err);
    cr_expect_str_eq(title.data, "Zoë, your…");
    cr_expect_str_eq(body.data, "short");
    hd_buf_reset(&title);
    hd_buf_puts(&title, "exactly 10");
    cr_expect_eq(hd_utf8_truncate(&title, 10), 0);
    cr_expect_str_eq(title.data, "exactly 10");
    cr_expect_eq(hd_utf8_truncate(&title, 0), 1);
    cr_expect_eq(title.len, 0);
    hd_buf_puts(&title, "abcdef");
    l.push_payload_bytes = 4;
    cr_expect_eq(hd_limits_apply_push(&l, &title, &body, err, sizeof(err)), HD_ERR_INVALID);
    cr_expect(strstr(err, "payload budget") != NULL, "%s", err);
    hd_buf_free(&title);
    hd_buf_free(&body);
}

Test(channel_limits, email_subject_rejects_line_breaks_and_overlong)
{
    struct hd_channel_limits l;
    hd_channel_limits_default(&l);
    char err[256];
    const char *ok = "Your order A-1001 — confirmed";
    cr_expect_eq(hd_limits_check_email_subject(&l, ok, strlen(ok), err, sizeof(err)), HD_OK);
    const char *inj = "Hi\r\nBcc: victim@example.com";
    cr_expect_eq(hd_limits_check_email_subject(&l, inj, strlen(inj), err, sizeof(err)),
                 HD_ERR_INVALID);
    cr_expect(strstr(err, "line break") != NULL, "%s", err);
    char *long_subject = repeat("x", 999, "");
    cr_expect_eq(hd_limits_check_email_subject(&l, long_subject, 999, err, sizeof(err)),
                 HD_ERR_INVALID);
    cr_expect(strstr(err, "999 bytes") != NULL, "%s", err);
    hd_free(long_subject);
}
