/*
 * "A steady stream of renders does not allocate" (templates/template.h),
 * checked: every allocation made on the rendering thread is counted, from
 * Herald, jansson and ICU alike, over many renders after a few warm-up ones
 * (which fill the renderer's buffers and its formatter cache), and the count
 * must be zero.
 *
 * Counting: under AddressSanitizer (the test build) through the sanitizer's
 * malloc/free hooks, which see every allocation the process makes; without
 * it, by replacing malloc, calloc, realloc and free with counting wrappers
 * around glibc's own, as glibc allows. Only the thread that sets `counting`
 * is counted. ICU's own allocations are also counted apart, through
 * u_setMemoryFunctions (set before ICU is first used): ICU 72 allocates inside
 * its number formatting (one short-lived block per number, including the
 * numeric fields of a date), which no use of its C API avoids. For formatters
 * the test wants nothing from Herald or jansson, and no more from ICU than
 * that (a per-render ucal_open or a calendar clone would add several).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/uclean.h>

#include "core/buf.h"
#include "templates/template.h"

#define NOW_MS INT64_C(1795456513000) /* 2026-11-23T17:55:13Z */
#define WARMUP 3
#define RENDERS 200

static __thread int counting;
static __thread volatile int in_icu; /* volatile: malloc is assumed not to read it */
static __thread unsigned long allocs, icu_allocs;

static void *icu_alloc(const void *ctx, size_t n)
{
    (void)ctx;
    if (counting)
        icu_allocs++;
    in_icu = 1;
    void *p = malloc(n);
    in_icu = 0;
    return p;
}

static void *icu_realloc(const void *ctx, void *p, size_t n)
{
    (void)ctx;
    if (counting)
        icu_allocs++;
    in_icu = 1;
    void *q = realloc(p, n);
    in_icu = 0;
    return q;
}

static void icu_free(const void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

/* Before main, so before anything calls ICU. */
__attribute__((constructor)) static void count_icu(void)
{
    UErrorCode st = U_ZERO_ERROR;
    u_setMemoryFunctions(NULL, icu_alloc, icu_realloc, icu_free, &st);
    if (U_FAILURE(st))
        abort();
}

#if defined(__SANITIZE_ADDRESS__)
#define HD_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HD_TEST_ASAN 1
#endif
#endif

#ifdef HD_TEST_ASAN
int __sanitizer_install_malloc_and_free_hooks(void (*m)(const volatile void *, size_t),
                                              void (*f)(const volatile void *));

static void on_malloc(const volatile void *p, size_t n)
{
    (void)p;
    (void)n;
    if (counting && !in_icu)
        allocs++;
}

static void on_free(const volatile void *p)
{
    (void)p;
}

static void install(void)
{
    cr_assert(__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free),
              "the sanitizer refused the malloc hooks");
}
#else
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t nmemb, size_t n);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);

void *malloc(size_t n)
{
    if (counting && !in_icu)
        allocs++;
    return __libc_malloc(n);
}

void *calloc(size_t nmemb, size_t n)
{
    if (counting && !in_icu)
        allocs++;
    return __libc_calloc(nmemb, n);
}

void *realloc(void *p, size_t n)
{
    if (counting && !in_icu)
        allocs++;
    return __libc_realloc(p, n);
}

void free(void *p)
{
    __libc_free(p);
}

static void install(void)
{
}
#endif

struct count {
    unsigned long other, icu; /* made outside ICU (Herald, jansson), made by ICU */
};

/* Allocations of RENDERS renders of src after WARMUP, in locale and zone. */
static struct count allocations(const char *src, const char *data, const char *locale,
                                const char *tz)
{
    char err[512] = "";
    json_error_t jerr;
    json_t *d = json_loads(data, 0, &jerr);
    cr_assert_not_null(d, "bad test data: %s", jerr.text);
    struct hd_tpl *t = hd_tpl_compile("t", src, strlen(src), NULL, err, sizeof(err));
    cr_assert_not_null(t, "%s", err);
    struct hd_tpl_renderer *r = hd_tpl_renderer_new();
    struct hd_tpl_render_opts o = {
        .escape = HD_TPL_ESCAPE_HTML, .locale = locale, .timezone = tz, .now_ms = NOW_MS};
    struct hd_buf out = HD_BUF_INIT;
    for (int i = 0; i < WARMUP; i++) {
        hd_buf_reset(&out);
        cr_assert_eq(hd_tpl_render(r, t, d, &o, &out, err, sizeof(err)), HD_OK, "%s", err);
    }
    install();
    allocs = icu_allocs = 0;
    int rc = HD_OK;
    counting = 1;
    for (int i = 0; i < RENDERS && rc == HD_OK; i++) {
        hd_buf_reset(&out);
        rc = hd_tpl_render(r, t, d, &o, &out, err, sizeof(err));
    }
    counting = 0;
    struct count n = {allocs, icu_allocs};
    cr_assert_eq(rc, HD_OK, "%s", err);
    hd_buf_free(&out);
    hd_tpl_renderer_destroy(r);
    hd_tpl_release(t);
    json_decref(d);
    return n;
}

static void expect_none(const char *src, const char *data, const char *locale, const char *tz)
{
    struct count n = allocations(src, data, locale, tz);
    cr_expect_eq(n.other + n.icu, 0, "%s in %s/%s: %lu allocations (%lu by ICU) in %d renders", src,
                 locale, tz, n.other + n.icu, n.icu, RENDERS);
}

/* Nothing but ICU's allocations, at most icu_max per render: one per number it formats. */
static void expect_icu_only(const char *src, const char *data, const char *locale, const char *tz,
                            unsigned long icu_max)
{
    struct count n = allocations(src, data, locale, tz);
    cr_expect_eq(n.other, 0, "%s in %s/%s: %lu allocations outside ICU in %d renders", src, locale,
                 tz, n.other, RENDERS);
    cr_expect_leq(n.icu, icu_max * RENDERS, "%s in %s/%s: %lu ICU allocations in %d renders", src,
                  locale, tz, n.icu, RENDERS);
    cr_log_info("%s in %s/%s: %lu ICU allocations per render", src, locale, tz, n.icu / RENDERS);
}

Test(template_alloc, the_counter_sees_an_allocation)
{
    install();
    allocs = 0;
    counting = 1;
    void *p = hd_malloc(32);
    counting = 0;
    hd_free(p);
    cr_assert_eq(allocs, 1);
}

Test(template_alloc, plain_mustache_and_helpers_allocate_nothing_once_warm)
{
    const char *data = "{\"user\":{\"name\":\"Zo\\u00eb <b>\"},\"items\":[{\"n\":\"tea\",\"q\":2},"
                       "{\"n\":\"cake\",\"q\":1.5}],\"o\":{\"a\":1,\"b\":true},\"none\":[]}";
    expect_none("Hi {{user.name}} {{{user.name}}}\n{{#items}}- {{n}} x{{q}}\n{{/items}}"
                "{{^none}}empty{{/none}}{{#each o}}{{@key}}={{this}}{{/each}}"
                "{{#each items}}{{@index}}{{#if @first}}F{{else}}-{{/if}}{{../user.name}}{{/each}}"
                "{{#with user}}{{name}}{{/with}}{{lookup user \"name\"}}{{lookup o \"a\"}}"
                "{{#unless none}}u{{/unless}}",
                data, "en", "UTC");
}

Test(template_alloc, date_formatters_allocate_only_inside_icu_once_warm)
{
    const char *data = "{\"at\":\"2026-11-23T17:55:13Z\",\"ms\":1795456513000,"
                       "\"wall\":\"2026-03-29T02:30\",\"day\":\"2026-11-23\"}";
    /* ICU: one per numeric field (day, year, hour, ...) */
    expect_icu_only("{{formatDate at}} {{formatDate ms \"full\"}} {{formatDate day}}", data,
                    "fr-FR", "Europe/Paris", 6);
    expect_icu_only("{{formatDate wall}} {{formatTime wall}}", data, "en-US", "America/New_York",
                    4);
    expect_icu_only("{{formatDateTime at \"long\"}} {{formatDate at skeleton=\"yMMMd\"}}", data,
                    "de", "Asia/Tokyo", 7);
}

Test(template_alloc, number_formatters_allocate_only_inside_icu_once_warm)
{
    const char *data = "{\"n\":1234567.891,\"p\":0.256,\"price\":19.9,\"i\":3}";
    expect_icu_only("{{formatNumber n}} {{formatNumber p style=\"percent\"}}", data, "en-US",
                    "UTC", 2);
    expect_icu_only("{{formatCurrency price \"EUR\"}} {{formatNumber n maximumFractionDigits=0}}",
                    data, "fr-FR", "UTC", 2);
}

Test(template_alloc, plural_and_select_of_whole_numbers_allocate_nothing_once_warm)
{
    /* a whole number takes ICU's allocation-free path */
    expect_none("{{plural i one=\"# item\" other=\"# items\"}} {{select i other=\"x\"}}",
                "{\"i\":3}", "ru", "UTC");
}

Test(template_alloc, relative_time_allocates_only_inside_icu_once_warm)
{
    expect_icu_only("{{relativeTime d}} {{relativeTime d unit=\"hour\" style=\"short\"}}",
                    "{\"d\":\"2026-11-26T17:55:13Z\"}", "en", "UTC", 2);
}

Test(template_alloc, format_message_allocates_only_inside_icu_once_warm)
{
    const char *data = "{\"n\":3,\"who\":\"Ann\",\"g\":\"f\",\"d\":\"2026-11-23T17:55:13Z\"}";
    /* the message format is opened once; ICU's umsg_format allocates its argument array
     * (and the result string it builds) on every call, besides one per formatted number */
    expect_icu_only("{{=<% %>=}}<%formatMessage \"{n, plural, one {# item} other {# items}} for "
                    "{who}, {g, select, f {her} other {them}}\" n=n who=who g=g%>",
                    data, "en", "UTC", 2);
    expect_icu_only("{{formatMessage \"{d, date, long} {n, number, ::currency/EUR}\" d=d n=n}}",
                    data, "fr", "Europe/Paris", 4);
}
