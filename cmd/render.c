/*
 * herald render --template FILE [--partials DIR] [--data FILE|-] [--locale L]
 *               [--timezone TZ] [--escape html|none|json] [--strict]
 *
 * Renders one template with the engine the render processor uses and prints
 * exactly the result (no newline added). Partials are the files
 * DIR/NAME.mustache; data is a JSON file, "-" for standard input (none: {}).
 * Errors go to stderr with exit code 1; a bad command line (an unknown flag or
 * --escape value, no --template) exits 2.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "templates/template.h"

struct render_args {
    const char *tpl, *partials, *data, *locale, *timezone, *escape;
    int strict;
};

static int usage(int rc)
{
    fprintf(rc ? stderr : stdout,
            "usage: herald render --template FILE [--partials DIR] [--data FILE|-] [--locale L]\n"
            "                     [--timezone TZ] [--escape html|none|json] [--strict]\n"
            "  Renders FILE (Mustache + Handlebars-style helpers + ICU formatters) and prints\n"
            "  exactly the result. Partials are DIR/NAME.mustache (none without --partials);\n"
            "  --data is JSON (- = stdin, default {}); --escape defaults to html; --strict\n"
            "  makes a missing variable an error.\n");
    return rc;
}

static int read_stream(FILE *f, struct hd_buf *out)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        hd_buf_append(out, chunk, n);
    return ferror(f) ? -1 : 0;
}

static int read_file(const char *path, struct hd_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    int rc = read_stream(f, out);
    fclose(f);
    return rc;
}

/* Partials: DIR/NAME.mustache; a name may hold '/' but no ".." and no leading '/'. */
static int file_partial(void *opaque, const char *name, struct hd_buf *out, char *errstr,
                        size_t errstr_size)
{
    const char *dir = opaque;
    if (!*name || name[0] == '/' || strstr(name, ".."))
        return HD_ERR_NOTFOUND;
    char *path = hd_asprintf("%s/%s.mustache", dir, name);
    int rc = read_file(path, out);
    int e = errno;
    if (rc == 0) {
        hd_free(path);
        return HD_OK;
    }
    rc = e == ENOENT ? HD_ERR_NOTFOUND
                     : hd_seterr(HD_ERR, errstr, errstr_size, "%s: %s", path, strerror(e));
    hd_free(path);
    return rc;
}

static int parse_escape(const char *s, enum hd_tpl_escape *e)
{
    if (!s || !strcmp(s, "html"))
        *e = HD_TPL_ESCAPE_HTML;
    else if (!strcmp(s, "none"))
        *e = HD_TPL_ESCAPE_NONE;
    else if (!strcmp(s, "json"))
        *e = HD_TPL_ESCAPE_JSON;
    else
        return -1;
    return 0;
}

/* Returns 0, 1 for --help, or 2 for a usage error. */
static int parse_args(int argc, char **argv, struct render_args *a)
{
    static const struct {
        const char *flag;
        size_t off;
    } opts[] = {
        {"--template", offsetof(struct render_args, tpl)},
        {"--partials", offsetof(struct render_args, partials)},
        {"--data", offsetof(struct render_args, data)},
        {"--locale", offsetof(struct render_args, locale)},
        {"--timezone", offsetof(struct render_args, timezone)},
        {"--escape", offsetof(struct render_args, escape)},
    };
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
        if (!strcmp(argv[i], "--strict")) {
            a->strict = 1;
            continue;
        }
        size_t k = 0;
        for (; k < HD_ARRAY_SIZE(opts); k++) {
            size_t fl = strlen(opts[k].flag);
            const char **dst = (const char **)((char *)a + opts[k].off);
            if (!strcmp(argv[i], opts[k].flag) && i + 1 < argc) {
                *dst = argv[++i];
                break;
            }
            if (!strncmp(argv[i], opts[k].flag, fl) && argv[i][fl] == '=') {
                *dst = argv[i] + fl + 1;
                break;
            }
        }
        if (k == HD_ARRAY_SIZE(opts)) {
            fprintf(stderr, "herald render: unexpected argument \"%s\"\n", argv[i]);
            return 2;
        }
    }
    if (!a->tpl) {
        fprintf(stderr, "herald render: --template is required\n");
        return 2;
    }
    enum hd_tpl_escape e;
    if (parse_escape(a->escape, &e)) {
        fprintf(stderr, "herald render: --escape wants html, none or json, not \"%s\"\n",
                a->escape);
        return 2;
    }
    return 0;
}

static json_t *load_data(const char *path, char *err, size_t err_size)
{
    json_error_t jerr;
    json_t *d;
    if (!path)
        return json_object();
    if (!strcmp(path, "-"))
        d = json_loadf(stdin, JSON_DECODE_ANY, &jerr);
    else
        d = json_load_file(path, JSON_DECODE_ANY, &jerr);
    if (!d)
        hd_seterr(HD_ERR_INVALID, err, err_size, "data %s line %d: %s",
                  strcmp(path, "-") ? path : "(stdin)", jerr.line, jerr.text);
    return d;
}

static int render(const struct render_args *a, struct hd_buf *src, struct hd_buf *out, char *err,
                  size_t err_size)
{
    struct hd_tpl_render_opts o = {
        .strict = a->strict, .locale = a->locale, .timezone = a->timezone};
    parse_escape(a->escape, &o.escape); /* checked by parse_args */
    if (read_file(a->tpl, src))
        return hd_seterr(HD_ERR, err, err_size, "%s: %s", a->tpl, strerror(errno));
    json_t *data = load_data(a->data, err, err_size);
    if (!data)
        return HD_ERR_INVALID;
    struct hd_tpl_resolver res = {file_partial, (void *)(a->partials ? a->partials : ".")};
    struct hd_tpl *t =
        hd_tpl_compile(a->tpl, src->data, src->len, a->partials ? &res : NULL, err, err_size);
    int rc = HD_ERR_INVALID;
    if (t) {
        struct hd_tpl_renderer *r = hd_tpl_renderer_new();
        rc = hd_tpl_render(r, t, data, &o, out, err, err_size);
        hd_tpl_renderer_destroy(r);
        hd_tpl_release(t);
    }
    json_decref(data);
    return rc;
}

int hd_cmd_render(int argc, char **argv, struct hd_config *cfg)
{
    (void)cfg;
    struct render_args a = {0};
    int u = parse_args(argc, argv, &a);
    if (u)
        return usage(u == 1 ? 0 : 2);
    struct hd_buf src = HD_BUF_INIT, out = HD_BUF_INIT;
    char err[1024] = "";
    int rc = render(&a, &src, &out, err, sizeof(err));
    if (rc == HD_OK && out.len && fwrite(out.data, 1, out.len, stdout) != out.len)
        rc = hd_seterr(HD_ERR, err, sizeof(err), "writing the result: %s", strerror(errno));
    if (rc == HD_OK && fflush(stdout))
        rc = hd_seterr(HD_ERR, err, sizeof(err), "writing the result: %s", strerror(errno));
    if (rc)
        fprintf(stderr, "herald render: %s\n", err);
    hd_buf_free(&src);
    hd_buf_free(&out);
    return rc ? 1 : 0;
}
