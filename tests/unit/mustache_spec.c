/*
 * The Mustache spec (every JSON file of ../shared/spec/mustache, loaded as it is): one
 * test per spec file runs every case in it, compiling the template with the
 * case's partials as the resolver and rendering the case's data. A failing
 * case fails the test, and the failure lists each failing case by name with
 * what was expected and what came out.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "core/buf.h"
#include "templates/template.h"

static int spec_partial(void *opaque, const char *name, struct hd_buf *out, char *errstr,
                        size_t errstr_size)
{
    json_t *p = json_object_get((json_t *)opaque, name);
    if (!json_is_string(p))
        return HD_ERR_NOTFOUND;
    hd_buf_append(out, json_string_value(p), json_string_length(p));
    return HD_OK;
}

/* Renders one case; returns NULL when it passes, else a description (caller frees). */
static char *run_case(struct hd_tpl_renderer *r, json_t *tc)
{
    const char *name = json_string_value(json_object_get(tc, "name"));
    json_t *tpl = json_object_get(tc, "template");
    json_t *partials = json_object_get(tc, "partials");
    json_t *want = json_object_get(tc, "expected");
    struct hd_tpl_resolver res = {spec_partial, partials ? partials : json_object()};
    char err[512] = "";
    struct hd_buf out = HD_BUF_INIT;
    char *fail = NULL;
    struct hd_tpl *t = hd_tpl_compile(name, json_string_value(tpl), json_string_length(tpl), &res,
                                      err, sizeof(err));
    if (!t) {
        fail = hd_asprintf("  %s: compile error: %s\n", name, err);
    } else if (hd_tpl_render(r, t, json_object_get(tc, "data"), NULL, &out, err, sizeof(err))) {
        fail = hd_asprintf("  %s: render error: %s\n", name, err);
    } else if (out.len != json_string_length(want) ||
               memcmp(out.data, json_string_value(want), out.len)) {
        json_t *got = json_stringn(out.data, out.len);
        char *g = json_dumps(got, JSON_ENCODE_ANY);
        char *w = json_dumps(want, JSON_ENCODE_ANY);
        fail = hd_asprintf("  %s:\n    expected %s\n    got      %s\n", name, w, g);
        free(g);
        free(w);
        json_decref(got);
    }
    hd_tpl_release(t);
    hd_buf_free(&out);
    if (!partials)
        json_decref(res.opaque);
    return fail;
}

static void run_spec(const char *file)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/mustache/%s", HD_SPEC_DIR, file);
    json_error_t jerr;
    json_t *spec = json_load_file(path, 0, &jerr);
    cr_assert_not_null(spec, "cannot load %s: %s", path, jerr.text);
    json_t *tests = json_object_get(spec, "tests");
    cr_assert(json_array_size(tests) > 0, "%s has no tests", path);
    struct hd_tpl_renderer *r = hd_tpl_renderer_new();
    struct hd_buf report = HD_BUF_INIT;
    size_t failed = 0, i;
    json_t *tc;
    json_array_foreach(tests, i, tc)
    {
        char *fail = run_case(r, tc);
        if (fail) {
            failed++;
            hd_buf_puts(&report, fail);
            hd_free(fail);
        }
    }
    size_t total = json_array_size(tests);
    hd_tpl_renderer_destroy(r);
    json_decref(spec);
    if (failed)
        cr_log_error("%s: %zu of %zu cases fail:\n%s", file, failed, total, report.data);
    else
        cr_log_info("%s: all %zu cases pass", file, total);
    hd_buf_free(&report);
    cr_expect_eq(failed, 0, "%s: %zu of %zu spec cases fail (listed above)", file, failed, total);
}

Test(mustache_spec, comments)
{
    run_spec("comments.json");
}

Test(mustache_spec, delimiters)
{
    run_spec("delimiters.json");
}

Test(mustache_spec, interpolation)
{
    run_spec("interpolation.json");
}

Test(mustache_spec, inverted)
{
    run_spec("inverted.json");
}

Test(mustache_spec, partials)
{
    run_spec("partials.json");
}

Test(mustache_spec, sections)
{
    run_spec("sections.json");
}

Test(mustache_spec, inheritance)
{
    run_spec("~inheritance.json");
}

Test(mustache_spec, dynamic_names)
{
    run_spec("~dynamic-names.json");
}
