/*
 * {{formatMessage}} (templates/template_message.c): ICU MessageFormat with
 * named arguments, in the render's locale and zone. Most patterns here are
 * written after {{=<% %>=}}; a pattern in a plain {{…}} tag may hold "}}"
 * too (the lexer skips string arguments), checked below.
 *
 * Expectations are CLDR 42 data as ICU 72 ships it (U+202F as the French
 * thousands separator, Arabic-Indic digits in "ar").
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "core/buf.h"
#include "templates/template.h"

#define D "{{=<% %>=}}"

/* Renders; returns the output (caller frees) or NULL with err set. */
static char *render(const char *src, const char *data, const char *locale, const char *tz,
                    char *err, size_t err_size)
{
    json_t *d = json_loads(data, 0, NULL);
    cr_assert_not_null(d, "bad test data %s", data);
    struct hd_tpl *t = hd_tpl_compile("m", src, strlen(src), NULL, err, err_size);
    cr_assert_not_null(t, "%s", err);
    struct hd_tpl_renderer *r = hd_tpl_renderer_new();
    struct hd_tpl_render_opts o = {.escape = HD_TPL_ESCAPE_HTML, .locale = locale, .timezone = tz};
    struct hd_buf out = HD_BUF_INIT;
    char *res = NULL;
    if (hd_tpl_render(r, t, d, &o, &out, err, err_size) == HD_OK)
        res = hd_buf_steal(&out);
    hd_buf_free(&out);
    hd_tpl_renderer_destroy(r);
    hd_tpl_release(t);
    json_decref(d);
    return res;
}

static void expect(const char *src, const char *data, const char *locale, const char *want)
{
    char err[512] = "";
    char *got = render(src, data, locale, "Europe/Paris", err, sizeof(err));
    cr_assert_not_null(got, "%s: %s", src, err);
    cr_expect_str_eq(got, want, "%s in %s: \"%s\"", src, locale, got);
    hd_free(got);
}

static void expect_error(const char *src, const char *data, const char *want)
{
    char err[512] = "";
    char *got = render(src, data, "en", NULL, err, sizeof(err));
    cr_expect_null(got, "%s rendered \"%s\"", src, got ? got : "");
    hd_free(got);
    cr_expect(strstr(err, want) != NULL, "%s: error \"%s\" lacks \"%s\"", src, err, want);
}

#define ITEMS D "<%formatMessage \"{n, plural, =0 {no items} one {# item} other {# items}}\" n=n%>"

Test(template_message, plural_has_exact_matches_and_cldr_categories)
{
    expect(ITEMS, "{\"n\":0}", "en", "no items");
    expect(ITEMS, "{\"n\":1}", "en", "1 item");
    expect(ITEMS, "{\"n\":1234}", "en", "1,234 items");
    expect(ITEMS, "{\"n\":1234}", "fr", "1\u202f234 items");
    const char *ru = D "<%formatMessage \"{n, plural, one {# книга} few {# книги} many {# книг} "
                       "other {# книги}}\" n=n%>";
    expect(ru, "{\"n\":1}", "ru", "1 книга");
    expect(ru, "{\"n\":22}", "ru", "22 книги");
    expect(ru, "{\"n\":5}", "ru", "5 книг");
    expect(ru, "{\"n\":1.5}", "ru", "1,5 книги");
    const char *ar = D "<%formatMessage \"{n, plural, zero {لا كتب} one {كتاب واحد} two {كتابان} "
                       "few {# كتب} many {# كتابًا} other {# كتاب}}\" n=n%>";
    expect(ar, "{\"n\":0}", "ar", "لا كتب");
    expect(ar, "{\"n\":2}", "ar", "كتابان");
    expect(ar, "{\"n\":3}", "ar", "٣ كتب");
    expect(ar, "{\"n\":11}", "ar", "١١ كتابًا");
}

Test(template_message, plural_offset_counts_the_others)
{
    const char *t = D "<%formatMessage \"{n, plural, offset:1 =0 {nobody} =1 {{who}} "
                      "one {{who} and # other} other {{who} and # others}}\" n=n who=who%>";
    expect(t, "{\"n\":0,\"who\":\"Ann\"}", "en", "nobody");
    expect(t, "{\"n\":1,\"who\":\"Ann\"}", "en", "Ann");
    expect(t, "{\"n\":2,\"who\":\"Ann\"}", "en", "Ann and 1 other");
    expect(t, "{\"n\":4,\"who\":\"Ann\"}", "en", "Ann and 3 others");
}

Test(template_message, select_and_selectordinal)
{
    const char *t = D "<%formatMessage \"{g, select, female {Elle} male {Il} other {Iel}} a payé "
                      "{t, number, ::currency/EUR}.\" g=g t=t%>";
    expect(t, "{\"g\":\"female\",\"t\":1234.5}", "fr", "Elle a payé 1\u202f234,50\u00a0€.");
    expect(t, "{\"g\":\"other\",\"t\":1}", "fr", "Iel a payé 1,00\u00a0€.");
    expect(t, "{\"g\":\"robot\",\"t\":1}", "fr", "Iel a payé 1,00\u00a0€.");
    const char *o = D "<%formatMessage \"{p, selectordinal, one {#st} two {#nd} few {#rd} "
                      "other {#th}}\" p=p%>";
    expect(o, "{\"p\":1}", "en", "1st");
    expect(o, "{\"p\":22}", "en", "22nd");
    expect(o, "{\"p\":23}", "en", "23rd");
    expect(o, "{\"p\":11}", "en", "11th");
    /* # in a select is text, even inside a plural; a plural inside a select has its own # */
    expect(D "<%formatMessage \"{n, plural, other {{g, select, a {# a} other {{n, plural, "
             "one {# one} other {# more}}}}}}\" n=n g=g%>",
           "{\"n\":1,\"g\":\"a\"}", "en", "# a");
    expect(D "<%formatMessage \"{n, plural, other {{g, select, a {# a} other {{n, plural, "
             "one {# one} other {# more}}}}}}\" n=n g=g%>",
           "{\"n\":1,\"g\":\"b\"}", "en", "1 one");
}

Test(template_message, numbers_dates_and_text_follow_locale_and_zone)
{
    const char *t = "{{formatMessage \"{name} ordered {n, number, integer} on {d, date, long} at "
                    "{d, time, short} ({p, number, percent})\" name=name n=n d=d p=p}}";
    const char *data = "{\"name\":\"Zoë <b>\",\"n\":1234.4,\"d\":\"2026-11-23T23:30:00Z\","
                       "\"p\":0.25}";
    expect(t, data, "en",
           "Zoë &lt;b&gt; ordered 1,234 on November 24, 2026 at 12:30\u202fAM (25%)");
    expect(t, data, "de", "Zoë &lt;b&gt; ordered 1.234 on 24. November 2026 at 00:30 (25\u00a0%)");
    /* a plain {x} holding a number is formatted as one; positional {0} {1} after the pattern */
    expect("{{formatMessage \"{0} / {1} / {x}\" a 2.5 x=1000}}", "{\"a\":\"A\"}", "fr",
           "A / 2,5 / 1\u202f000");
    /* ICU's quoting: '' is an apostrophe, '{' quotes */
    expect("{{formatMessage \"It''s '{'{x}'}'\" x=1}}", "{}", "en", "It&#39;s {1}");
    /* the pattern can come from the data, nested braces and all */
    expect("{{formatMessage msg n=n}}",
           "{\"msg\":\"{n, plural, one {# new message} other {# new messages}}\",\"n\":3}", "en",
           "3 new messages");
}

Test(template_message, errors_name_template_line_and_column)
{
    expect_error("x\n  {{formatMessage \"{n, plural, one {x} }\" n=1}}", "{}",
                 "template 'm' line 2, column 3: formatMessage: plural needs an other");
    expect_error("{{formatMessage \"{n, number}\" n=s}}", "{\"s\":\"abc\"}",
                 "argument \"n\" is not a number");
    expect_error("{{formatMessage \"{who}\"}}", "{}", "no argument \"who\"");
    expect_error("{{formatMessage \"{n, choice, 0#a}\" n=1}}", "{}", "argument type \"choice\"");
    expect_error("{{formatMessage \"{n, plural, other {#}\" n=1}}", "{}", "unclosed argument");
    expect_error("{{formatMessage \"{d, date, weekly}\" d=0}}", "{}", "date style \"weekly\"");
    expect_error("{{formatMessage n}}", "{\"n\":1}", "the pattern is not a string");
    expect_error("{{formatMessage \"{n, number, ::bogus-skeleton}\" n=1}}", "{}",
                 "ICU MessageFormat: U_");
}

Test(template_message, a_missing_value_is_empty_text_when_not_strict)
{
    /* (the fuzzer's: the only text argument, missing, left no value buffer at all) */
    expect("{{formatMessage \"a{x}b\" x=nope}}", "{}", "en", "ab");
}

/* Appends s n times. */
static void puts_n(struct hd_buf *b, const char *s, int n)
{
    for (int i = 0; i < n; i++)
        hd_buf_puts(b, s);
}

/* ICU's result is written out in pieces: a stretch longer than one piece (1,100 CJK
 * characters, 3,300 bytes of UTF-8) comes out whole. */
Test(template_message, a_long_result_is_written_whole)
{
    static const char cjk[] = "\xe9\x80\x9a"; /* U+901A, 3 bytes in UTF-8 */
    struct hd_buf src = HD_BUF_INIT, want = HD_BUF_INIT;
    hd_buf_puts(&src, "{{formatMessage \"");
    puts_n(&src, "a", 2000);
    hd_buf_puts(&src, "{n}");
    puts_n(&src, cjk, 1100);
    hd_buf_puts(&src, "\" n=n}}");
    puts_n(&want, "a", 2000);
    hd_buf_puts(&want, "7");
    puts_n(&want, cjk, 1100);
    expect(src.data, "{\"n\": 7}", "en", want.data);
    hd_buf_free(&src);
    hd_buf_free(&want);
}

/* A string argument may hold the closing delimiter: the tag ends after the arguments.
 * Outside argument position a quote is no string, and a comment still ends at its
 * first "}}". */
Test(template_message, a_pattern_in_a_plain_tag_may_hold_closing_braces)
{
    const char *items = "{{formatMessage \"{n, plural, =0 {no items} one {# item} "
                        "other {# items}}\" n=n}} left";
    expect(items, "{\"n\":0}", "en", "no items left");
    expect(items, "{\"n\":3}", "en", "3 items left");
    expect("{{formatMessage '{n, plural, one {# day} other {# days}}' n=n}}!",
           "{\"n\":2}", "en", "2 days!");
    expect("{{formatMessage \"it''s {n, plural, one {# day} other {# days}}\" n=n}}",
           "{\"n\":1}", "en", "it&#39;s 1 day");
    expect("{{#if ok}}{{formatMessage \"{who} said \\\"}}\\\"\" who=w}}{{/if}}",
           "{\"ok\":true,\"w\":\"Ann\"}", "en", "Ann said &quot;}}&quot;");
    expect("{{{formatMessage \"{n, plural, one {#} other {{x}}}\" n=n x=x}}}",
           "{\"n\":2,\"x\":\"<b>\"}", "en", "<b>");
    expect("a{{! \"}} b\" }}c", "{}", "en", "a b\" }}c");
    expect("{{x}}\"{{y}}\"", "{\"x\":1,\"y\":2}", "en", "1\"2\"");
    /* a missing closing quote: the tag ends at its first "}}", even when a quote comes
     * later in the text (HTML attributes), and the error says so at compile time */
    const char *bad[] = {"{{formatMessage \"{n}} n=n}} x",
                         "{{formatMessage \"{n} items}} <a href=\"{{url}}\">x</a>",
                         "{{#if a}}{{lookup . \"a}}{{/if}} <p class=\"z\">"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[512] = "";
        struct hd_tpl *t = hd_tpl_compile("m", bad[i], strlen(bad[i]), NULL, err, sizeof(err));
        cr_expect_null(t, "%s compiled", bad[i]);
        hd_tpl_release(t);
        cr_expect(strstr(err, "unterminated string") != NULL, "%s: error: %s", bad[i], err);
    }
}
