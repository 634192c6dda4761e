/*
 * herald bench templates [--peers DIR] [--seconds S] [--rounds R] [--warmup S] [--no-peers]
 *
 * Renders/s of the template engine on one core, next to two peers run on the
 * same core with the same templates and data: Handlebars.js and LiquidJS on
 * Node.js (DIR/bench.js). DIR (default tests/bench/templates of the source
 * tree, or $HERALD_SOURCE_DIR/tests/bench/templates) holds every input:
 *
 *   email.hbs + email.json   ~1 KB HTML e-mail: 10 variables, a 3-item
 *                            {{#each}}, one formatted date (HTML escaping)
 *   sms.hbs + sms.json       a 160-character SMS (no escaping)
 *   *.liquid                 the same templates in Liquid syntax
 *   *.expected.*             what every engine must print
 *
 * Herald's render is checked against the expected file before it is timed (a
 * wrong render is not timed: exit 1), and each peer's output is compared with
 * Herald's (a warning line when they differ, so the ratio compares like with
 * like). The process pins itself to the CPU it runs on before anything is
 * timed, and Node inherits that, so its helper threads (JIT, GC) share the
 * one core. Each side compiles once, warms up, then renders for R rounds of
 * S seconds; the figure is the median round. Without node or DIR/node_modules
 * (tests/bench/templates/run installs them) only Herald's figures are printed.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "core/time.h"
#include "templates/channel_limits.h"
#include "templates/template.h"

#define MAX_ROUNDS 20

struct bench_case {
    const char *name, *tpl, *data, *expected;
    enum hd_tpl_escape escape;
    const char *what;
};

static const struct bench_case cases[] = {
    {"email", "email.hbs", "email.json", "email.expected.html", HD_TPL_ESCAPE_HTML,
     "~1 KB HTML e-mail: 10 variables, a 3-item {{#each}}, one formatted date"},
    {"sms", "sms.hbs", "sms.json", "sms.expected.txt", HD_TPL_ESCAPE_NONE, "160-character SMS"},
};

struct bench_args {
    const char *peers;
    double seconds, warmup;
    int rounds, no_peers;
};

struct result {
    double rate;
    struct hd_buf out;
};

static int usage(int rc)
{
    fprintf(rc ? stderr : stdout,
            "usage: herald bench templates [--peers DIR] [--seconds S] [--rounds R] [--warmup S]\n"
            "                              [--no-peers]\n"
            "  Renders/s on one core for a ~1 KB HTML e-mail and a 160-character SMS: Herald,\n"
            "  then Handlebars.js and LiquidJS on Node.js with the same templates and data, and\n"
            "  the ratios. DIR holds templates, data and the Node.js peers (default\n"
            "  tests/bench/templates of the source tree; $HERALD_SOURCE_DIR overrides it).\n"
            "  Median of R rounds (default 3) of S seconds (default 1) after S of warm-up\n"
            "  (default 0.5). --no-peers: Herald only.\n");
    return rc;
}

static int parse_args(int argc, char **argv, struct bench_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
        if (!strcmp(argv[i], "--no-peers")) {
            a->no_peers = 1;
            continue;
        }
        if (!v)
            return 2;
        if (!strcmp(argv[i], "--peers"))
            a->peers = v;
        else if (!strcmp(argv[i], "--seconds"))
            a->seconds = strtod(v, NULL);
        else if (!strcmp(argv[i], "--warmup"))
            a->warmup = strtod(v, NULL);
        else if (!strcmp(argv[i], "--rounds"))
            a->rounds = (int)strtol(v, NULL, 10);
        else
            return 2;
        i++;
    }
    if (!(a->seconds > 0 && a->seconds <= 60) || !(a->warmup >= 0 && a->warmup <= 60) ||
        a->rounds < 1 || a->rounds > MAX_ROUNDS)
        return 2;
    return 0;
}

/* DIR: --peers, else $HERALD_SOURCE_DIR/tests/bench/templates, else the source tree this
 * file was compiled from (CMake passes absolute paths), else relative to the working
 * directory. Returns a new string. */
static char *peers_dir(const struct bench_args *a)
{
    const char *env = getenv("HERALD_SOURCE_DIR");
    if (a->peers)
        return hd_strdup(a->peers);
    if (env && *env)
        return hd_asprintf("%s/tests/bench/templates", env);
    const char *self = __FILE__, *cmd = strstr(self, "/cmd/bench_templates.c");
    if (self[0] == '/' && cmd)
        return hd_asprintf("%.*s/tests/bench/templates", (int)(cmd - self), self);
    return hd_strdup("tests/bench/templates");
}

static int read_file(const char *dir, const char *name, struct hd_buf *out, char *err, size_t n)
{
    char *path = hd_asprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    int rc = HD_OK;
    if (!f) {
        rc = hd_seterr(HD_ERR, err, n, "%s: %s", path, strerror(errno));
    } else {
        char chunk[8192];
        size_t k;
        while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
            hd_buf_append(out, chunk, k);
        if (ferror(f))
            rc = hd_seterr(HD_ERR, err, n, "%s: read error", path);
        fclose(f);
    }
    hd_free(path);
    return rc;
}

/* Pins the process to the CPU it runs on; children (node) inherit it. Writes where it runs
 * ("CPU 1", or "any CPU (pinning failed: why)") to `where`. */
static void pin_one_cpu(char *where, size_t size)
{
    int cpu = sched_getcpu();
    cpu_set_t set;
    CPU_ZERO(&set);
    if (cpu >= 0)
        CPU_SET(cpu, &set);
    if (cpu >= 0 && sched_setaffinity(0, sizeof(set), &set) == 0)
        snprintf(where, size, "CPU %d", cpu);
    else
        snprintf(where, size, "any CPU (pinning failed: %s)", strerror(errno));
}

static double now_s(void)
{
    return (double)hd_mono_us() / 1e6;
}

/* Renders for `seconds` (at least one batch); returns renders/s, or -1 on a render error. */
static double run_for(struct hd_tpl_renderer *r, const struct hd_tpl *t, json_t *data,
                      const struct hd_tpl_render_opts *o, struct hd_buf *out, double seconds)
{
    double start = now_s(), t1;
    long n = 0;
    do {
        for (int i = 0; i < 256; i++) {
            hd_buf_reset(out);
            if (hd_tpl_render(r, t, data, o, out, NULL, 0) != HD_OK)
                return -1;
        }
        n += 256;
        t1 = now_s();
    } while (t1 - start < seconds);
    return (double)n / (t1 - start);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Compiles, checks the render against the expected file, then times it. */
static int bench_herald(const char *dir, const struct bench_case *c, const struct bench_args *a,
                        struct result *res, char *err, size_t n)
{
    struct hd_buf src = HD_BUF_INIT, dbuf = HD_BUF_INIT, want = HD_BUF_INIT;
    struct hd_tpl *t = NULL;
    struct hd_tpl_renderer *r = NULL;
    json_t *data = NULL;
    json_error_t jerr;
    struct hd_tpl_render_opts o = {
        .escape = c->escape, .strict = 1, .locale = "en", .timezone = "UTC"};
    int rc = HD_ERR;
    if (read_file(dir, c->tpl, &src, err, n) || read_file(dir, c->data, &dbuf, err, n) ||
        read_file(dir, c->expected, &want, err, n))
        goto out;
    if (!(data = json_loadb(dbuf.data, dbuf.len, 0, &jerr))) {
        hd_seterr(HD_ERR, err, n, "%s/%s line %d: %s", dir, c->data, jerr.line, jerr.text);
        goto out;
    }
    if (!(t = hd_tpl_compile(c->tpl, src.data, src.len, NULL, err, n)))
        goto out;
    r = hd_tpl_renderer_new();
    if (hd_tpl_render(r, t, data, &o, &res->out, err, n))
        goto out;
    if (res->out.len != want.len || memcmp(res->out.data, want.data, want.len)) {
        hd_seterr(HD_ERR, err, n,
                  "Herald's %s render differs from %s/%s; not timing a wrong render", c->name, dir,
                  c->expected);
        goto out;
    }
    struct hd_buf scratch = HD_BUF_INIT;
    double rounds[MAX_ROUNDS];
    run_for(r, t, data, &o, &scratch, a->warmup);
    for (int i = 0; i < a->rounds; i++)
        rounds[i] = run_for(r, t, data, &o, &scratch, a->seconds);
    hd_buf_free(&scratch);
    qsort(rounds, (size_t)a->rounds, sizeof(*rounds), cmp_double);
    res->rate = rounds[a->rounds / 2];
    rc = res->rate > 0 ? HD_OK : hd_seterr(HD_ERR, err, n, "a timed render failed");
out:
    hd_tpl_renderer_destroy(r);
    hd_tpl_release(t);
    json_decref(data);
    hd_buf_free(&src);
    hd_buf_free(&dbuf);
    hd_buf_free(&want);
    return rc;
}

static int in_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path)
        return 0;
    char *copy = hd_strdup(path), *save = NULL;
    int found = 0;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char *p = hd_asprintf("%s/%s", *d ? d : ".", prog);
        found = access(p, X_OK) == 0;
        hd_free(p);
    }
    hd_free(copy);
    return found;
}

/* Appends s quoted for sh. */
static void sh_quote(struct hd_buf *b, const char *s)
{
    hd_buf_putc(b, '\'');
    for (; *s; s++) {
        if (*s == '\'')
            hd_buf_puts(b, "'\\''");
        else
            hd_buf_putc(b, *s);
    }
    hd_buf_putc(b, '\'');
}

/* Runs DIR/bench.js; returns its JSON (caller decrefs) or NULL with why in err. */
static json_t *run_peers(const char *dir, const struct bench_args *a, char *err, size_t n)
{
    struct stat st;
    char *mods = hd_asprintf("%s/node_modules", dir);
    int have_mods = stat(mods, &st) == 0 && S_ISDIR(st.st_mode);
    hd_free(mods);
    if (!in_path("node")) {
        hd_seterr(HD_ERR, err, n, "node is not on PATH");
        return NULL;
    }
    if (!have_mods) {
        hd_seterr(HD_ERR, err, n,
                  "%s/node_modules is missing (tests/bench/templates/run installs it with npm ci)",
                  dir);
        return NULL;
    }
    struct hd_buf cmd = HD_BUF_INIT, out = HD_BUF_INIT;
    char *script = hd_asprintf("%s/bench.js", dir);
    hd_buf_puts(&cmd, "node ");
    sh_quote(&cmd, script);
    hd_buf_puts(&cmd, " --dir ");
    sh_quote(&cmd, dir);
    hd_buf_printf(&cmd, " --seconds %g --rounds %d --warmup %g", a->seconds, a->rounds, a->warmup);
    hd_free(script);
    fflush(stdout);
    FILE *p = popen(cmd.data, "r");
    json_t *j = NULL;
    if (!p) {
        hd_seterr(HD_ERR, err, n, "cannot run node: %s", strerror(errno));
    } else {
        char chunk[8192];
        size_t k;
        while ((k = fread(chunk, 1, sizeof(chunk), p)) > 0)
            hd_buf_append(&out, chunk, k);
        int status = pclose(p);
        json_error_t jerr;
        if (status != 0)
            hd_seterr(HD_ERR, err, n, "%s exited with status %d", cmd.data, status);
        else if (!(j = json_loadb(out.data ? out.data : "", out.len, 0, &jerr)))
            hd_seterr(HD_ERR, err, n, "bench.js printed no JSON: %s", jerr.text);
    }
    hd_buf_free(&cmd);
    hd_buf_free(&out);
    return j;
}

/* Prints a warning when a peer's text differs from Herald's. Returns 1 when it differs. */
static int compare_output(const char *peer, const char *cname, const struct hd_buf *herald,
                          json_t *output)
{
    const char *s = json_string_value(output);
    size_t n = json_string_length(output), i = 0;
    if (s && n == herald->len && !memcmp(s, herald->data, n))
        return 0;
    if (!s) {
        printf("WARNING: %s printed no %s output to compare with Herald's\n", peer, cname);
        return 1;
    }
    while (i < n && i < herald->len && s[i] == herald->data[i])
        i++;
    printf("WARNING: %s's %s output differs from Herald's at byte %zu (%zu vs %zu bytes): "
           "the ratio compares different work\n",
           peer, cname, i, n, herald->len);
    printf("    Herald: \"%.40s\"\n    %s: \"%.40s\"\n", herald->data + (i > 10 ? i - 10 : 0), peer,
           s + (i > 10 ? i - 10 : 0));
    return 1;
}

static const struct {
    const char *key, *label;
} peers[] = {{"handlebars", "Handlebars.js"}, {"liquidjs", "LiquidJS"}};

static void print_case(const struct bench_case *c, const struct result *res, json_t *pj)
{
    printf("\n%s: %s (%zu bytes out", c->name, c->what, res->out.len);
    struct hd_sms_count sc;
    if (c->escape == HD_TPL_ESCAPE_NONE && hd_sms_count(res->out.data, res->out.len, &sc) == 0)
        printf(", %zu characters, %s, %zu segment%s", sc.chars,
               sc.encoding == HD_SMS_GSM7 ? "GSM-7" : "UCS-2", sc.segments,
               sc.segments == 1 ? "" : "s");
    printf(")\n  %-14s %12.0f renders/s\n", "Herald", res->rate);
    if (!pj)
        return;
    for (size_t k = 0; k < HD_ARRAY_SIZE(peers); k++) {
        json_t *pc = json_object_get(
            json_object_get(json_object_get(json_object_get(pj, "engines"), peers[k].key), "cases"),
            c->name);
        double rate = json_number_value(json_object_get(pc, "renders_per_s"));
        printf("  %-14s %12.0f renders/s   Herald/%s = %.2f\n", peers[k].label, rate,
               peers[k].label, rate > 0 ? res->rate / rate : 0.0);
    }
    for (size_t k = 0; k < HD_ARRAY_SIZE(peers); k++) {
        json_t *pc = json_object_get(
            json_object_get(json_object_get(json_object_get(pj, "engines"), peers[k].key), "cases"),
            c->name);
        if (!compare_output(peers[k].label, c->name, &res->out, json_object_get(pc, "output")))
            printf("  %s's output is the same text as Herald's\n", peers[k].label);
    }
}

int hd_cmd_bench_templates(int argc, char **argv, struct hd_config *cfg)
{
    (void)cfg;
    struct bench_args a = {.seconds = 1, .warmup = 0.5, .rounds = 3};
    int u = parse_args(argc, argv, &a);
    if (u)
        return usage(u == 1 ? 0 : 2);
    char *dir = peers_dir(&a);
    char err[1024] = "";
    struct result res[HD_ARRAY_SIZE(cases)];
    memset(res, 0, sizeof(res));
    char where[128];
    int rc = 1;
    pin_one_cpu(where, sizeof(where));
    printf("herald bench templates: one thread on %s, median of %d round%s of %g s after %g s "
           "of warm-up; inputs in %s\n",
           where, a.rounds, a.rounds == 1 ? "" : "s", a.seconds, a.warmup, dir);
    fflush(stdout);
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++)
        if (bench_herald(dir, &cases[i], &a, &res[i], err, sizeof(err)))
            goto out;
    printf("Herald: both renders equal their expected files\n");
    json_t *pj = NULL;
    if (a.no_peers)
        printf("peers: skipped (--no-peers)\n");
    else if (!(pj = run_peers(dir, &a, err, sizeof(err))))
        printf("peers: not run: %s; Herald's figures only\n", err);
    else
        printf("peers: Node.js %s (V8 %s, ICU %s), Handlebars.js %s, LiquidJS %s, same core\n",
               json_string_value(json_object_get(pj, "node")),
               json_string_value(json_object_get(pj, "v8")),
               json_string_value(json_object_get(pj, "icu")),
               json_string_value(json_object_get(
                   json_object_get(json_object_get(pj, "engines"), "handlebars"), "version")),
               json_string_value(json_object_get(
                   json_object_get(json_object_get(pj, "engines"), "liquidjs"), "version")));
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++)
        print_case(&cases[i], &res[i], pj);
    json_decref(pj);
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "herald bench templates: %s\n", err);
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++)
        hd_buf_free(&res[i].out);
    hd_free(dir);
    return rc;
}
