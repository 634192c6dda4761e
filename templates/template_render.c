/*
 * Renderer: walks a program's node ranges into the caller's buffer. The
 * context stack, the indentation of standalone partials and blocks, and the
 * scratch buffers belong to the renderer and are reused from one render to
 * the next, so steady-state rendering does not allocate.
 *
 * Indentation: template text at the start of a line is preceded by the
 * current indentation (empty lines are left empty); interpolated data never
 * is, as the spec's "Standalone Indentation" case wants.
 *
 * Work is bounded: nested loops multiply (25 sections nested over a list of 3
 * run 3^25 times), so a render that visits more than MAX_STEPS nodes or
 * writes more than MAX_OUTPUT bytes stops with an error instead of holding
 * its thread (and, in the pipeline, its partition) for hours.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "templates/template_int.h"

/* Both can be lowered at compile time (the fuzz build does, so that an input at the
 * limit costs it a second, not twenty). */
#ifndef HD_TPL_MAX_STEPS /* nodes visited by one render: ~100x a 1,000-item digest */
#define HD_TPL_MAX_STEPS (UINT64_C(1) << 22)
#endif
#ifndef HD_TPL_MAX_OUTPUT /* bytes one render may write, a whole number of MiB */
#define HD_TPL_MAX_OUTPUT ((size_t)16 << 20)
#endif
#define MAX_STEPS ((uint64_t)(HD_TPL_MAX_STEPS))
#define MAX_OUTPUT ((size_t)(HD_TPL_MAX_OUTPUT))

struct frame {
    struct hd__tpl_value v;
    const struct hd__tpl_data *data;
};

/* A parent tag being expanded: its argument blocks override the parent's. */
struct bframe {
    const struct hd_tpl *tpl;
    const struct hd__tpl_prog *prog;
    uint32_t node;
    const struct bframe *outer;
};

struct hd_tpl_renderer {
    struct frame *frames;
    size_t nframes, cap;
    struct hd_buf indent;
    struct hd_buf vbuf;    /* text of arrays and objects */
    struct hd_buf scratch; /* helpers' */
    struct hd_buf msg[2];  /* formatMessage's pattern and values */
    struct hd__tpl_fmt_cache *fmt;
    /* the render under way */
    struct hd_buf *out;
    struct hd_tpl_render_opts opts;
    char *errstr;
    size_t errsize;
    int depth;
    uint64_t steps;   /* nodes visited so far */
    size_t out_start; /* out->len when the render began */
    int bol;          /* at the start of a line: the indentation is due before more text */
    const struct bframe *blocks;
};

uint64_t hd_tpl_renderer_steps(const struct hd_tpl_renderer *r)
{
    return r->steps;
}

struct hd_tpl_renderer *hd_tpl_renderer_new(void)
{
    return hd_calloc(1, sizeof(struct hd_tpl_renderer));
}

void hd_tpl_renderer_destroy(struct hd_tpl_renderer *r)
{
    if (!r)
        return;
    hd_free(r->frames);
    hd_buf_free(&r->indent);
    hd_buf_free(&r->vbuf);
    hd_buf_free(&r->scratch);
    hd_buf_free(&r->msg[0]);
    hd_buf_free(&r->msg[1]);
    hd__tpl_fmt_cache_free(r->fmt);
    hd_free(r);
}

/* ---- values ------------------------------------------------------------------- */

void hd__tpl_value_from_json(struct hd__tpl_value *v, json_t *j)
{
    memset(v, 0, sizeof(*v));
    v->t = j ? HD__V_JSON : HD__V_MISSING;
    v->j = j;
}

int hd__tpl_truthy(const struct hd__tpl_value *v)
{
    switch (v->t) {
    case HD__V_JSON:
        switch (json_typeof(v->j)) {
        case JSON_STRING:
            return json_string_length(v->j) > 0;
        case JSON_INTEGER:
            return json_integer_value(v->j) != 0;
        case JSON_REAL:
            return json_real_value(v->j) != 0 && !isnan(json_real_value(v->j));
        case JSON_TRUE:
            return 1;
        case JSON_ARRAY:
            return json_array_size(v->j) > 0;
        case JSON_OBJECT:
            return 1;
        default:
            return 0;
        }
    case HD__V_STR:
        return v->n > 0;
    case HD__V_INT:
    case HD__V_BOOL:
        return v->i != 0;
    case HD__V_REAL:
        return v->d != 0 && !isnan(v->d);
    default:
        return 0;
    }
}

static size_t fmt_double(char *buf, size_t size, double d)
{
    if (isnan(d))
        return (size_t)snprintf(buf, size, "NaN");
    if (isinf(d))
        return (size_t)snprintf(buf, size, d < 0 ? "-Infinity" : "Infinity");
    if (d == 0)
        return (size_t)snprintf(buf, size, "0");
    if (fabs(d) < 1e21 && d == trunc(d))
        return (size_t)snprintf(buf, size, "%.0f", d);
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    char *e = strchr(buf, 'e');
    if (e && (e[1] == '+' || e[1] == '-')) { /* "1e-07" -> "1e-7", as JavaScript prints it */
        char *q = e + 2, *z = q;
        while (*z == '0' && z[1])
            z++;
        memmove(q, z, strlen(z) + 1);
    }
    return strlen(buf);
}

void hd__tpl_put_double(struct hd_buf *b, double d)
{
    char num[40];
    size_t n = fmt_double(num, sizeof(num), d);
    hd_buf_append(b, num, n);
}

static void json_text(json_t *j, struct hd_buf *b)
{
    switch (json_typeof(j)) {
    case JSON_STRING:
        hd_buf_append(b, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        hd_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        break;
    case JSON_REAL:
        hd__tpl_put_double(b, json_real_value(j));
        break;
    case JSON_TRUE:
        hd_buf_append(b, "true", 4);
        break;
    case JSON_FALSE:
        hd_buf_append(b, "false", 5);
        break;
    case JSON_ARRAY: /* as JavaScript joins an array: "a,b,c" */
        for (size_t i = 0; i < json_array_size(j); i++) {
            if (i)
                hd_buf_putc(b, ',');
            json_text(json_array_get(j, i), b);
        }
        break;
    case JSON_OBJECT: {
        char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        if (s)
            hd_buf_puts(b, s);
        free(s);
        break;
    }
    default:
        break;
    }
}

void hd__tpl_value_text(const struct hd__tpl_value *v, struct hd_buf *b)
{
    switch (v->t) {
    case HD__V_JSON:
        json_text(v->j, b);
        break;
    case HD__V_STR:
        hd_buf_append(b, v->s, v->n);
        break;
    case HD__V_INT:
        hd_buf_printf(b, "%lld", (long long)v->i);
        break;
    case HD__V_REAL:
        hd__tpl_put_double(b, v->d);
        break;
    case HD__V_BOOL:
        hd_buf_puts(b, v->i ? "true" : "false");
        break;
    default:
        break;
    }
}

static int str_number(const char *s, size_t n, double *out)
{
    char num[64];
    if (!n || n >= sizeof(num))
        return -1;
    memcpy(num, s, n);
    num[n] = '\0';
    char *end;
    *out = strtod(num, &end);
    return *end == '\0' && end != num ? 0 : -1;
}

int hd__tpl_value_number(const struct hd__tpl_value *v, double *out)
{
    switch (v->t) {
    case HD__V_JSON:
        if (json_is_number(v->j)) {
            *out = json_number_value(v->j);
            return 0;
        }
        if (json_is_string(v->j))
            return str_number(json_string_value(v->j), json_string_length(v->j), out);
        if (json_is_boolean(v->j)) {
            *out = json_is_true(v->j);
            return 0;
        }
        return -1;
    case HD__V_STR:
        return str_number(v->s, v->n, out);
    case HD__V_INT:
    case HD__V_BOOL:
        *out = (double)v->i;
        return 0;
    case HD__V_REAL:
        *out = v->d;
        return 0;
    default:
        return -1;
    }
}

/* ---- output ------------------------------------------------------------------- */

static void put_html(struct hd_buf *b, const char *s, size_t n)
{
    size_t run = 0;
    hd_buf_reserve(b, n);
    for (size_t i = 0; i < n; i++) {
        const char *e;
        size_t el;
        switch (s[i]) {
        case '&':
            e = "&amp;", el = 5;
            break;
        case '<':
            e = "&lt;", el = 4;
            break;
        case '>':
            e = "&gt;", el = 4;
            break;
        case '"':
            e = "&quot;", el = 6;
            break;
        case '\'':
            e = "&#39;", el = 5;
            break;
        default:
            continue;
        }
        hd_buf_append(b, s + run, i - run);
        hd_buf_append(b, e, el);
        run = i + 1;
    }
    hd_buf_append(b, s + run, n - run);
}

static void put_json(struct hd_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    hd_buf_reserve(b, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[6] = {'\\', 0, '0', '0', 0, 0};
        size_t el = 2;
        switch (c) {
        case '"':
            e[1] = '"';
            break;
        case '\\':
            e[1] = '\\';
            break;
        case '\n':
            e[1] = 'n';
            break;
        case '\r':
            e[1] = 'r';
            break;
        case '\t':
            e[1] = 't';
            break;
        case '\b':
            e[1] = 'b';
            break;
        case '\f':
            e[1] = 'f';
            break;
        default:
            if (c >= 0x20)
                continue;
            e[1] = 'u';
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            el = 6;
        }
        hd_buf_append(b, s + run, i - run);
        hd_buf_append(b, e, el);
        run = i + 1;
    }
    hd_buf_append(b, s + run, n - run);
}

static void out_text(struct hd_tpl_renderer *r, const char *s, size_t n)
{
    if (!n)
        return;
    if (!r->indent.len) {
        hd_buf_append(r->out, s, n);
        r->bol = s[n - 1] == '\n';
        return;
    }
    while (n) {
        if (r->bol && s[0] != '\n' && !(s[0] == '\r' && n > 1 && s[1] == '\n'))
            hd_buf_append(r->out, r->indent.data, r->indent.len);
        r->bol = 0;
        const char *nl = memchr(s, '\n', n);
        size_t k = nl ? (size_t)(nl - s) + 1 : n;
        hd_buf_append(r->out, s, k);
        r->bol = nl != NULL;
        s += k;
        n -= k;
    }
}

static void out_data(struct hd_tpl_renderer *r, int raw, const char *s, size_t n)
{
    if (!n)
        return;
    if (r->bol) {
        r->bol = 0;
        if (r->indent.len)
            hd_buf_append(r->out, r->indent.data, r->indent.len);
    }
    switch (raw ? HD_TPL_ESCAPE_NONE : r->opts.escape) {
    case HD_TPL_ESCAPE_HTML:
        put_html(r->out, s, n);
        break;
    case HD_TPL_ESCAPE_JSON:
        put_json(r->out, s, n);
        break;
    default:
        hd_buf_append(r->out, s, n);
        break;
    }
}

static void out_value(struct hd_tpl_renderer *r, int raw, const struct hd__tpl_value *v)
{
    char num[48];
    size_t n;
    json_t *j = v->j;
    if (v->t == HD__V_STR) {
        out_data(r, raw, v->s, v->n);
        return;
    }
    if (v->t == HD__V_JSON && json_is_string(j)) {
        out_data(r, raw, json_string_value(j), json_string_length(j));
        return;
    }
    if (v->t == HD__V_JSON && json_is_integer(j)) {
        n = (size_t)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        out_data(r, raw, num, n);
        return;
    }
    if ((v->t == HD__V_JSON && json_is_real(j)) || v->t == HD__V_REAL) {
        n = fmt_double(num, sizeof(num), v->t == HD__V_REAL ? v->d : json_real_value(j));
        out_data(r, raw, num, n);
        return;
    }
    hd_buf_reset(&r->vbuf);
    hd__tpl_value_text(v, &r->vbuf);
    out_data(r, raw, r->vbuf.data, r->vbuf.len);
}

/* ---- errors --------------------------------------------------------------------- */

static int rerr(struct hd_tpl_renderer *r, const struct hd__tpl_prog *g,
                const struct hd__tpl_node *n, const char *fmt, ...) HD_PRINTF(4, 5);

static int rerr(struct hd_tpl_renderer *r, const struct hd__tpl_prog *g,
                const struct hd__tpl_node *n, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return hd_seterr(HD_ERR_INVALID, r->errstr, r->errsize, "template '%s' line %u, column %u: %s",
                     g->name, n->line, n->col, msg);
}

static const char *path_name(const struct hd__tpl_prog *g, uint32_t path)
{
    return g->pool + g->paths[path].str;
}

/* ---- lookup ---------------------------------------------------------------------- */

static void push(struct hd_tpl_renderer *r, const struct hd__tpl_value *v,
                 const struct hd__tpl_data *d)
{
    if (r->nframes == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->frames = hd_realloc(r->frames, r->cap * sizeof(*r->frames));
    }
    r->frames[r->nframes].v = *v;
    r->frames[r->nframes].data = d;
    r->nframes++;
}

static int data_lookup(const struct hd_tpl_renderer *r, int var, struct hd__tpl_value *out)
{
    for (size_t i = r->nframes; i-- > 0;) {
        const struct hd__tpl_data *d = r->frames[i].data;
        if (!d)
            continue;
        switch (var) {
        case HD__DATA_INDEX:
            out->t = HD__V_INT;
            out->i = d->index;
            return 1;
        case HD__DATA_FIRST:
            out->t = HD__V_BOOL;
            out->i = d->first;
            return 1;
        case HD__DATA_LAST:
            out->t = HD__V_BOOL;
            out->i = d->last;
            return 1;
        default:
            if (!d->has_key)
                return 0;
            out->t = HD__V_STR;
            out->s = d->key;
            out->n = d->key_len;
            return 1;
        }
    }
    return 0;
}

/* The first segment of a plain name, searched from the top of the context stack. */
static json_t *find_first(const struct hd_tpl_renderer *r, const char *key, size_t len)
{
    for (size_t i = r->nframes; i-- > 0;) {
        const struct hd__tpl_value *v = &r->frames[i].v;
        if (v->t == HD__V_JSON && json_is_object(v->j)) {
            json_t *x = json_object_getn(v->j, key, len);
            if (x)
                return x;
        }
    }
    return NULL;
}

/* Resolves a path; returns 1 and fills out when found, 0 when missing. */
static int lookup(const struct hd_tpl_renderer *r, const struct hd__tpl_prog *g, uint32_t pi,
                  struct hd__tpl_value *out)
{
    const struct hd__tpl_path *p = &g->paths[pi];
    /* a program whose paths have no segments (only @index, ".") has no segs array */
    const struct hd__tpl_seg *seg = p->nseg ? &g->segs[p->seg] : NULL;
    json_t *cur = NULL;
    uint32_t k = 0;
    memset(out, 0, sizeof(*out));
    if (p->kind == HD__PATH_DATA)
        return data_lookup(r, p->data_var, out);
    if (p->kind == HD__PATH_NAME) {
        cur = find_first(r, g->pool + seg[0].str, seg[0].len);
        k = 1;
    } else {
        size_t top = r->nframes - 1, at;
        if (p->kind == HD__PATH_ROOT)
            at = 0;
        else if (p->kind == HD__PATH_THIS)
            at = top;
        else if (p->up <= top)
            at = top - p->up;
        else
            return 0;
        const struct hd__tpl_value *v = &r->frames[at].v;
        if (!p->nseg) {
            *out = *v;
            return v->t != HD__V_MISSING;
        }
        cur = v->t == HD__V_JSON ? v->j : NULL;
    }
    for (; cur && k < p->nseg; k++) {
        if (json_is_object(cur))
            cur = json_object_getn(cur, g->pool + seg[k].str, seg[k].len);
        else if (json_is_array(cur) && seg[k].index >= 0)
            cur = json_array_get(cur, (size_t)seg[k].index);
        else
            cur = NULL;
    }
    if (!cur)
        return 0;
    out->t = HD__V_JSON;
    out->j = cur;
    return 1;
}

/* ---- nodes --------------------------------------------------------------------- */

static int render_range(struct hd_tpl_renderer *r, const struct hd_tpl *t,
                        const struct hd__tpl_prog *g, uint32_t from, uint32_t to);

/* Counts one unit of work (a node, or one pass over a body) against the render's budget. */
static int step(struct hd_tpl_renderer *r, const struct hd__tpl_prog *g,
                const struct hd__tpl_node *n)
{
    if (++r->steps > MAX_STEPS)
        return rerr(r, g, n,
                    "the render takes more than %llu steps (loops nested over long lists?)",
                    (unsigned long long)MAX_STEPS);
    if (r->out->len - r->out_start > MAX_OUTPUT)
        return rerr(r, g, n, "the output is larger than %zu MiB", MAX_OUTPUT >> 20);
    return HD_OK;
}

/* Renders a range one level deeper, with `indent` added to the indentation. */
static int descend(struct hd_tpl_renderer *r, const struct hd_tpl *t, const struct hd__tpl_prog *g,
                   uint32_t from, uint32_t to, const struct hd__tpl_prog *at,
                   const struct hd__tpl_node *n)
{
    if (r->depth >= HD__TPL_MAX_DEPTH)
        return rerr(r, at, n, "nested more than %d deep (a partial or block that includes itself?)",
                    HD__TPL_MAX_DEPTH);
    int rc = step(r, at, n);
    if (rc)
        return rc;
    size_t ilen = r->indent.len;
    if (n->indent_len)
        hd_buf_append(&r->indent, at->pool + n->indent, n->indent_len);
    r->depth++;
    rc = render_range(r, t, g, from, to);
    r->depth--;
    r->indent.len = ilen;
    return rc;
}

static int do_var(struct hd_tpl_renderer *r, const struct hd__tpl_prog *g,
                  const struct hd__tpl_node *n)
{
    struct hd__tpl_value v;
    if (!lookup(r, g, n->path, &v)) {
        if (r->opts.strict)
            return rerr(r, g, n, "missing variable \"%s\" (strict mode)", path_name(g, n->path));
        return HD_OK;
    }
    out_value(r, n->flags & HD__F_RAW, &v);
    return HD_OK;
}

static int do_section(struct hd_tpl_renderer *r, const struct hd_tpl *t,
                      const struct hd__tpl_prog *g, uint32_t i)
{
    const struct hd__tpl_node *n = &g->nodes[i];
    struct hd__tpl_value v;
    lookup(r, g, n->path, &v);
    int rc = HD_OK;
    if (n->op == HD__OP_INVERTED)
        return hd__tpl_truthy(&v) ? HD_OK : descend(r, t, g, i + 1, n->next, g, n);
    if (v.t == HD__V_JSON && json_is_array(v.j)) {
        size_t len = json_array_size(v.j);
        struct hd__tpl_data d = {0};
        for (size_t k = 0; k < len && !rc; k++) {
            struct hd__tpl_value item;
            hd__tpl_value_from_json(&item, json_array_get(v.j, k));
            d.index = (int64_t)k;
            d.first = k == 0;
            d.last = k + 1 == len;
            push(r, &item, &d);
            rc = descend(r, t, g, i + 1, n->next, g, n);
            r->nframes--;
        }
        return rc;
    }
    if (!hd__tpl_truthy(&v))
        return HD_OK;
    push(r, &v, NULL);
    rc = descend(r, t, g, i + 1, n->next, g, n);
    r->nframes--;
    return rc;
}

/* The program a partial or parent tag names; *owned is a reference to release. */
static int find_partial(struct hd_tpl_renderer *r, const struct hd_tpl *t,
                        const struct hd__tpl_prog *g, const struct hd__tpl_node *n,
                        const struct hd_tpl **pt, const struct hd__tpl_prog **pg,
                        struct hd_tpl **owned)
{
    *pt = t;
    *pg = NULL;
    *owned = NULL;
    if (!(n->flags & HD__F_DYNAMIC)) {
        *pg = t->slots[n->slot].prog;
        return HD_OK;
    }
    struct hd__tpl_value v;
    const char *name;
    size_t len;
    if (!lookup(r, g, n->path, &v))
        return HD_OK;
    if (v.t == HD__V_JSON && json_is_string(v.j)) {
        name = json_string_value(v.j);
        len = json_string_length(v.j);
    } else if (v.t == HD__V_STR) {
        name = v.s;
        len = v.n;
    } else {
        return HD_OK;
    }
    for (uint32_t k = 0; k < t->nslots; k++) {
        if (strlen(t->slots[k].name) == len && !memcmp(t->slots[k].name, name, len)) {
            *pg = t->slots[k].prog;
            return HD_OK;
        }
    }
    char err[400];
    int rc = hd__tpl_dynamic((struct hd_tpl *)t, name, len, owned, err, sizeof(err));
    if (rc)
        return rerr(r, g, n, "partial \"%.*s\": %s", (int)len, name, err);
    if (*owned) {
        *pt = *owned;
        *pg = (*owned)->main;
    }
    return HD_OK;
}

static int do_partial(struct hd_tpl_renderer *r, const struct hd_tpl *t,
                      const struct hd__tpl_prog *g, uint32_t i)
{
    const struct hd__tpl_node *n = &g->nodes[i];
    const struct hd_tpl *pt;
    const struct hd__tpl_prog *pg;
    struct hd_tpl *owned;
    int rc = find_partial(r, t, g, n, &pt, &pg, &owned);
    if (rc || !pg) {
        hd_tpl_release(owned);
        return rc;
    }
    struct bframe bf = {t, g, i, r->blocks};
    if (n->op == HD__OP_PARENT)
        r->blocks = &bf;
    rc = descend(r, pt, pg, 0, pg->nnodes, g, n);
    r->blocks = bf.outer;
    hd_tpl_release(owned);
    return rc;
}

static int do_block(struct hd_tpl_renderer *r, const struct hd_tpl *t, const struct hd__tpl_prog *g,
                    uint32_t i)
{
    const struct hd__tpl_node *n = &g->nodes[i];
    const char *name = g->pool + n->str;
    const struct bframe *hit = NULL;
    uint32_t at = 0;
    /* the outermost override wins: the template that inherits has the last word */
    for (const struct bframe *f = r->blocks; f; f = f->outer) {
        const struct hd__tpl_node *pn = &f->prog->nodes[f->node];
        for (uint32_t j = f->node + 1; j < pn->next; j = f->prog->nodes[j].next) {
            const struct hd__tpl_node *c = &f->prog->nodes[j];
            if (c->op == HD__OP_BLOCK && c->len == n->len &&
                !memcmp(f->prog->pool + c->str, name, n->len)) {
                hit = f;
                at = j;
                break;
            }
        }
    }
    if (!hit)
        return descend(r, t, g, i + 1, n->next, g, n);
    const struct bframe *saved = r->blocks;
    r->blocks = hit->outer;
    int rc = descend(r, hit->tpl, hit->prog, at + 1, hit->prog->nodes[at].next, g, n);
    r->blocks = saved;
    return rc;
}

static int do_call(struct hd_tpl_renderer *r, const struct hd_tpl *t, const struct hd__tpl_prog *g,
                   uint32_t i)
{
    const struct hd__tpl_node *n = &g->nodes[i];
    const struct hd__tpl_helper *h = n->helper;
    struct hd__tpl_value vals[HD__TPL_MAX_ARGS];
    struct hd__tpl_hash hash[HD__TPL_MAX_ARGS];
    size_t na = 0, nh = 0;
    for (uint32_t k = 0; k < n->nargs; k++) {
        const struct hd__tpl_arg *a = &g->args[n->arg + k];
        struct hd__tpl_value v = {0};
        switch (a->kind) {
        case HD__ARG_PATH:
            if (!lookup(r, g, a->str, &v) && r->opts.strict && !(h->flags & HD__H_LENIENT))
                return rerr(r, g, n, "missing variable \"%s\" (strict mode)", path_name(g, a->str));
            break;
        case HD__ARG_STR:
            v.t = HD__V_STR, v.s = g->pool + a->str, v.n = a->len;
            break;
        case HD__ARG_INT:
            v.t = HD__V_INT, v.i = a->i;
            break;
        case HD__ARG_REAL:
            v.t = HD__V_REAL, v.d = a->d;
            break;
        case HD__ARG_BOOL:
            v.t = HD__V_BOOL, v.i = a->i;
            break;
        default:
            v.t = HD__V_NULL;
            break;
        }
        if (a->key_len) {
            hash[nh].key = g->pool + a->key;
            hash[nh].key_len = a->key_len;
            hash[nh++].v = v;
        } else {
            vals[na++] = v;
        }
    }
    struct hd__tpl_call c = {r, t, g, n, na, vals, nh, hash};
    return h->fn(&c);
}

static int render_range(struct hd_tpl_renderer *r, const struct hd_tpl *t,
                        const struct hd__tpl_prog *g, uint32_t from, uint32_t to)
{
    int rc = HD_OK;
    for (uint32_t i = from; i < to && rc == HD_OK;) {
        const struct hd__tpl_node *n = &g->nodes[i];
        if ((rc = step(r, g, n)))
            return rc;
        switch (n->op) {
        case HD__OP_TEXT:
            out_text(r, g->pool + n->str, n->len);
            break;
        case HD__OP_VAR:
            rc = do_var(r, g, n);
            break;
        case HD__OP_SECTION:
        case HD__OP_INVERTED:
            rc = do_section(r, t, g, i);
            break;
        case HD__OP_PARTIAL:
        case HD__OP_PARENT:
            rc = do_partial(r, t, g, i);
            break;
        case HD__OP_BLOCK:
            rc = do_block(r, t, g, i);
            break;
        default:
            rc = do_call(r, t, g, i);
            break;
        }
        i = n->next;
    }
    return rc;
}

int hd_tpl_render(struct hd_tpl_renderer *r, const struct hd_tpl *t, json_t *data,
                  const struct hd_tpl_render_opts *opts, struct hd_buf *out, char *errstr,
                  size_t errstr_size)
{
    static const struct hd_tpl_render_opts defaults = {HD_TPL_ESCAPE_HTML, 0, NULL, NULL, 0};
    r->out = out;
    r->opts = opts ? *opts : defaults;
    r->errstr = errstr;
    r->errsize = errstr_size;
    r->depth = 0;
    r->steps = 0;
    r->out_start = out->len;
    r->bol = 1;
    r->blocks = NULL;
    r->nframes = 0;
    hd_buf_reset(&r->indent);
    struct hd__tpl_value root;
    hd__tpl_value_from_json(&root, data);
    push(r, &root, NULL);
    hd_buf_reserve(out, 0); /* out->data is a string even when nothing is written */
    out->data[out->len] = '\0';
    int rc = render_range(r, t, t->main, 0, t->main->nnodes);
    r->nframes = 0;
    return rc;
}

/* ---- the helper interface ------------------------------------------------------ */

int hd__tpl_call_body(struct hd__tpl_call *c, const struct hd__tpl_value *ctx,
                      const struct hd__tpl_data *data)
{
    struct hd_tpl_renderer *r = c->r;
    uint32_t i = (uint32_t)(c->node - c->prog->nodes);
    size_t n = r->nframes;
    if (ctx || data) {
        struct hd__tpl_value top = r->frames[r->nframes - 1].v; /* push may move frames */
        push(r, ctx ? ctx : &top, data);
    }
    int rc = descend(r, c->tpl, c->prog, i + 1, c->node->alt, c->prog, c->node);
    r->nframes = n;
    return rc;
}

int hd__tpl_call_inverse(struct hd__tpl_call *c)
{
    if (c->node->alt == c->node->next)
        return HD_OK;
    return descend(c->r, c->tpl, c->prog, c->node->alt, c->node->next, c->prog, c->node);
}

void hd__tpl_call_write(struct hd__tpl_call *c, const char *s, size_t n)
{
    out_data(c->r, c->node->flags & HD__F_RAW, s, n);
}

void hd__tpl_call_write_value(struct hd__tpl_call *c, const struct hd__tpl_value *v)
{
    out_value(c->r, c->node->flags & HD__F_RAW, v);
}

int hd__tpl_call_error(struct hd__tpl_call *c, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return rerr(c->r, c->prog, c->node, "%s: %s", c->node->helper->name, msg);
}

const struct hd__tpl_value *hd__tpl_call_hash(const struct hd__tpl_call *c, const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; i < c->nhash; i++)
        if (c->hash[i].key_len == n && !memcmp(c->hash[i].key, key, n))
            return &c->hash[i].v;
    return NULL;
}

const char *hd__tpl_call_locale(const struct hd__tpl_call *c)
{
    return c->r->opts.locale && *c->r->opts.locale ? c->r->opts.locale : "en";
}

const char *hd__tpl_call_timezone(const struct hd__tpl_call *c)
{
    return c->r->opts.timezone && *c->r->opts.timezone ? c->r->opts.timezone : "UTC";
}

int64_t hd__tpl_call_now_ms(const struct hd__tpl_call *c)
{
    return c->r->opts.now_ms;
}

struct hd_buf *hd__tpl_call_scratch(struct hd__tpl_call *c)
{
    return &c->r->scratch;
}

struct hd_buf *hd__tpl_call_msgbuf(struct hd__tpl_call *c, int i)
{
    return &c->r->msg[i & 1];
}

struct hd__tpl_fmt_cache **hd__tpl_call_fmt_cache(struct hd__tpl_call *c)
{
    return &c->r->fmt;
}
