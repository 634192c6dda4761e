/*
 * Template parser, second half: annotated tokens (template_lex.c) -> program.
 * Emits the flat node array (template_int.h), merging adjacent text, making
 * indentation relative to the enclosing block, compiling names into paths and
 * helper calls into argument lists, and allocating partial slots.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "templates/template_int.h"

/* ---- pass 5: nodes ------------------------------------------------------------ */

static uint32_t pool_add(struct hd__tpl_parser *p, const char *s, size_t n)
{
    uint32_t off = (uint32_t)p->pool.len;
    hd_buf_append(&p->pool, s, n);
    hd_buf_putc(&p->pool, '\0');
    return off;
}

static void flush_text(struct hd__tpl_parser *p)
{
    if (!p->text.len)
        return;
    HD__GROW(p->nodes, p->nnodes, p->cap_nodes);
    struct hd__tpl_node *n = &p->nodes[p->nnodes++];
    memset(n, 0, sizeof(*n));
    n->op = HD__OP_TEXT;
    n->str = pool_add(p, p->text.data, p->text.len);
    n->len = (uint32_t)p->text.len;
    n->next = (uint32_t)p->nnodes;
    hd_buf_reset(&p->text);
}

static struct hd__tpl_node *add_node(struct hd__tpl_parser *p, int op, const struct hd__tpl_tok *t)
{
    flush_text(p);
    HD__GROW(p->nodes, p->nnodes, p->cap_nodes);
    struct hd__tpl_node *n = &p->nodes[p->nnodes++];
    memset(n, 0, sizeof(*n));
    n->op = (uint8_t)op;
    n->line = t->line;
    n->col = t->col;
    size_t len;
    const char *name = hd__tpl_tok_name(p, t, &len);
    n->str = pool_add(p, name, len);
    n->len = (uint32_t)len;
    n->next = (uint32_t)p->nnodes;
    return n;
}

/* Indentation `off/len` relative to the enclosing block's stripped indentation. */
static void set_indent(struct hd__tpl_parser *p, size_t node, const struct hd__tpl_tok *t,
                       uint32_t off, uint32_t len)
{
    if (t->blk >= 0) {
        const struct hd__tpl_tok *b = &p->toks[t->blk];
        size_t c = hd__tpl_common(p->src, off, len, b->d_off, b->d_len);
        if (c == b->d_len) {
            off += (uint32_t)c;
            len -= (uint32_t)c;
        } else {
            len = 0;
        }
    }
    if (!len)
        return;
    uint32_t o = pool_add(p, p->src + off, len);
    p->nodes[node].indent = o;
    p->nodes[node].indent_len = len;
}

static int seg_index(const char *s, size_t n, int64_t *out)
{
    if (!n || n > 15)
        return 0;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

static int add_segs(struct hd__tpl_parser *p, const struct hd__tpl_tok *t, const char *s, size_t n,
                    struct hd__tpl_path *path)
{
    path->seg = (uint32_t)p->nsegs;
    while (n) {
        const char *dot = memchr(s, '.', n);
        size_t k = dot ? (size_t)(dot - s) : n;
        const char *seg = s;
        size_t sl = k;
        if (sl >= 2 && seg[0] == '[' && seg[sl - 1] == ']') {
            seg++;
            sl -= 2;
        }
        if (!sl)
            return hd__tpl_perr(p, t->line, t->col, "invalid name \"%.*s\": empty segment",
                                (int)t->len, p->src + t->off);
        HD__GROW(p->segs, p->nsegs, p->cap_segs);
        struct hd__tpl_seg *g = &p->segs[p->nsegs++];
        g->str = pool_add(p, seg, sl);
        g->len = (uint32_t)sl;
        if (!seg_index(seg, sl, &g->index))
            g->index = -1;
        path->nseg++;
        if (!dot)
            break;
        s += k + 1;
        n -= k + 1;
        if (!n)
            return hd__tpl_perr(p, t->line, t->col, "invalid name \"%.*s\": ends with '.'",
                                (int)t->len, p->src + t->off);
    }
    return HD_OK;
}

static int data_var(const char *s, size_t n)
{
    static const char *const vars[] = {"index", "key", "first", "last"};
    for (int i = 0; i < 4; i++)
        if (strlen(vars[i]) == n && !memcmp(s, vars[i], n))
            return i;
    return -1;
}

/* Compiles a name ("a.b", ".", "this.x", "../x", "@index", "@root.x") to a path index. */
static int compile_path(struct hd__tpl_parser *p, const struct hd__tpl_tok *t, const char *s,
                        size_t n, uint32_t *out)
{
    struct hd__tpl_path path = {.kind = HD__PATH_NAME};
    path.str = pool_add(p, s, n);
    path.len = (uint32_t)n;
    if (n == 1 && s[0] == '.') {
        path.kind = HD__PATH_THIS;
        n = 0;
    } else if (n >= 4 && !memcmp(s, "this", 4) && (n == 4 || s[4] == '.' || s[4] == '/')) {
        path.kind = HD__PATH_THIS;
        s += n == 4 ? 4 : 5;
        n -= n == 4 ? 4 : 5;
    } else if (n >= 2 && s[0] == '.' && s[1] == '/') {
        path.kind = HD__PATH_THIS;
        s += 2;
        n -= 2;
    } else if (n >= 3 && !memcmp(s, "../", 3)) {
        path.kind = HD__PATH_UP;
        while (n >= 3 && !memcmp(s, "../", 3)) {
            path.up++;
            s += 3;
            n -= 3;
        }
    } else if (n >= 5 && !memcmp(s, "@root", 5) && (n == 5 || s[5] == '.')) {
        path.kind = HD__PATH_ROOT;
        s += n == 5 ? 5 : 6;
        n -= n == 5 ? 5 : 6;
    } else if (s[0] == '@') {
        int v = data_var(s + 1, n - 1);
        if (v < 0)
            return hd__tpl_perr(p, t->line, t->col, "unknown data variable \"%.*s\"", (int)n, s);
        path.kind = HD__PATH_DATA;
        path.data_var = (uint8_t)v;
        n = 0;
    }
    int rc = add_segs(p, t, s, n, &path);
    if (rc)
        return rc;
    HD__GROW(p->paths, p->npaths, p->cap_paths);
    p->paths[p->npaths] = path;
    *out = (uint32_t)p->npaths++;
    return HD_OK;
}

/* ---- helper arguments ---- */

static int literal(const char *s, size_t n, struct hd__tpl_arg *a)
{
    static const struct {
        const char *w;
        int kind, v;
    } words[] = {{"true", HD__ARG_BOOL, 1},
                 {"false", HD__ARG_BOOL, 0},
                 {"null", HD__ARG_NULL, 0},
                 {"undefined", HD__ARG_NULL, 0}};
    for (size_t i = 0; i < HD_ARRAY_SIZE(words); i++) {
        if (strlen(words[i].w) == n && !memcmp(s, words[i].w, n)) {
            a->kind = (uint8_t)words[i].kind;
            a->i = words[i].v;
            return 1;
        }
    }
    size_t k = (n && s[0] == '-') ? 1 : 0, digits = 0, dots = 0;
    for (; k < n; k++) {
        if (s[k] >= '0' && s[k] <= '9')
            digits++;
        else if (s[k] == '.' && !dots)
            dots++;
        else
            return 0;
    }
    if (!digits || n > 40)
        return 0;
    char num[48];
    memcpy(num, s, n);
    num[n] = '\0';
    if (dots) {
        a->kind = HD__ARG_REAL;
        a->d = strtod(num, NULL);
    } else {
        a->kind = HD__ARG_INT;
        a->i = strtoll(num, NULL, 10);
    }
    return 1;
}

/* A quoted string at s[0]; returns its length including quotes, 0 if unterminated. */
static size_t quoted(struct hd__tpl_parser *p, const char *s, size_t n, struct hd__tpl_arg *a)
{
    char q = s[0];
    struct hd_buf b = HD_BUF_INIT;
    size_t i = 1;
    for (; i < n && s[i] != q; i++) {
        if (s[i] == '\\' && i + 1 < n)
            i++;
        hd_buf_putc(&b, s[i]);
    }
    if (i >= n) {
        hd_buf_free(&b);
        return 0;
    }
    a->kind = HD__ARG_STR;
    a->str = pool_add(p, b.data ? b.data : "", b.len);
    a->len = (uint32_t)b.len;
    hd_buf_free(&b);
    return i + 1;
}

static int hash_key(const char *s, size_t n, size_t *klen)
{
    size_t k = 0;
    while (k < n && (isalnum((unsigned char)s[k]) || s[k] == '_' || s[k] == '-'))
        k++;
    *klen = k;
    return k > 0 && k < n && s[k] == '=';
}

static int one_arg(struct hd__tpl_parser *p, const struct hd__tpl_tok *t, const char *s, size_t n,
                   size_t *used, struct hd__tpl_arg *a)
{
    size_t klen;
    memset(a, 0, sizeof(*a));
    size_t start = 0;
    if (hash_key(s, n, &klen)) {
        a->key = pool_add(p, s, klen);
        a->key_len = (uint32_t)klen;
        start = klen + 1;
    }
    const char *v = s + start;
    size_t vn = n - start;
    if (!vn || hd__tpl_is_ws(v[0]))
        return hd__tpl_perr(p, t->line, t->col, "missing value after \"%.*s\"", (int)start, s);
    if (v[0] == '"' || v[0] == '\'') {
        size_t q = quoted(p, v, vn, a);
        if (!q)
            return hd__tpl_perr(p, t->line, t->col, "unterminated string in \"%.*s\"", (int)t->len,
                                p->src + t->off);
        *used = start + q;
        return HD_OK;
    }
    if (v[0] == '(')
        return hd__tpl_perr(p, t->line, t->col, "subexpressions are not supported: \"%.*s\"",
                            (int)t->len, p->src + t->off);
    size_t w = 0;
    while (w < vn && !hd__tpl_is_ws(v[w]))
        w++;
    *used = start + w;
    if (literal(v, w, a))
        return HD_OK;
    a->kind = HD__ARG_PATH;
    return compile_path(p, t, v, w, &a->str);
}

static int compile_args(struct hd__tpl_parser *p, const struct hd__tpl_tok *t, size_t node)
{
    const char *s = p->src + t->off + t->name_len;
    size_t n = t->len - t->name_len;
    uint32_t first = (uint32_t)p->nargs, npos = 0, total = 0;
    while (n) {
        while (n && hd__tpl_is_ws(*s)) {
            s++;
            n--;
        }
        if (!n)
            break;
        if (total == HD__TPL_MAX_ARGS)
            return hd__tpl_perr(p, t->line, t->col, "more than %d arguments", HD__TPL_MAX_ARGS);
        struct hd__tpl_arg a;
        size_t used = 0;
        int rc = one_arg(p, t, s, n, &used, &a);
        if (rc)
            return rc;
        HD__GROW(p->args, p->nargs, p->cap_args);
        p->args[p->nargs++] = a;
        total++;
        npos += a.key_len == 0;
        s += used;
        n -= used;
    }
    struct hd__tpl_node *nd = &p->nodes[node];
    nd->arg = first;
    nd->nargs = (uint16_t)total;
    const struct hd__tpl_helper *h = nd->helper;
    if (npos < h->min_args || npos > h->max_args) {
        if (h->min_args == h->max_args)
            return hd__tpl_perr(p, t->line, t->col, "helper \"%s\" takes %u argument%s, not %u",
                                h->name, h->min_args, h->min_args == 1 ? "" : "s", npos);
        return hd__tpl_perr(p, t->line, t->col, "helper \"%s\" takes %u to %u arguments, not %u",
                            h->name, h->min_args, h->max_args, npos);
    }
    return HD_OK;
}

static int emit_call(struct hd__tpl_parser *p, const struct hd__tpl_tok *t, int block, size_t *node)
{
    const struct hd__tpl_helper *h = hd__tpl_helper_find(p->src + t->off, t->name_len);
    if (!h)
        return hd__tpl_perr(p, t->line, t->col, "unknown helper \"%.*s\"", (int)t->name_len,
                            p->src + t->off);
    if (block && !(h->flags & HD__H_BLOCK))
        return hd__tpl_perr(p, t->line, t->col, "\"%s\" is not a block helper: use {{%s …}}",
                            h->name, h->name);
    if (!block && !(h->flags & HD__H_INLINE))
        return hd__tpl_perr(p, t->line, t->col, "\"%s\" is a block helper: use {{#%s …}}…{{/%s}}",
                            h->name, h->name, h->name);
    struct hd__tpl_node *n = add_node(p, block ? HD__OP_CALL_BLOCK : HD__OP_CALL, t);
    n->helper = h;
    if (t->kind == HD__T_RAW)
        n->flags |= HD__F_RAW;
    *node = p->nnodes - 1;
    return compile_args(p, t, *node);
}

static int emit_range(struct hd__tpl_parser *p, int32_t from, int32_t to, int depth);

static void emit_text(struct hd__tpl_parser *p, const struct hd__tpl_tok *t)
{
    const char *s = p->src + t->off;
    size_t n = t->len;
    if (t->line_start && t->blk >= 0) {
        const struct hd__tpl_tok *b = &p->toks[t->blk];
        size_t c = hd__tpl_common(p->src, t->off, t->len, b->d_off, b->d_len);
        s += c;
        n -= c;
    }
    hd_buf_append(&p->text, s, n);
}

static int emit_helper_block(struct hd__tpl_parser *p, int32_t i, int depth)
{
    const struct hd__tpl_tok *t = &p->toks[i];
    size_t node;
    int rc = emit_call(p, t, 1, &node);
    if (rc)
        return rc;
    int32_t body_end = t->els >= 0 ? t->els : t->match;
    if ((rc = emit_range(p, i + 1, body_end, depth + 1)))
        return rc;
    flush_text(p);
    p->nodes[node].alt = (uint32_t)p->nnodes;
    if (t->els >= 0) {
        const struct hd__tpl_tok *e = &p->toks[t->els];
        int32_t from = e->is_call ? t->els : t->els + 1; /* {{else if}} opens a block itself */
        if ((rc = emit_range(p, from, t->match, depth + 1)))
            return rc;
    }
    flush_text(p);
    p->nodes[node].next = (uint32_t)p->nnodes;
    return HD_OK;
}

static int emit_named(struct hd__tpl_parser *p, int32_t i, int op, size_t *node)
{
    const struct hd__tpl_tok *t = &p->toks[i];
    struct hd__tpl_node *n = add_node(p, op, t);
    *node = p->nnodes - 1;
    if (op == HD__OP_BLOCK)
        return HD_OK;
    if (op == HD__OP_PARTIAL || op == HD__OP_PARENT) {
        const char *s = p->src + t->off;
        size_t len = t->len;
        if (t->standalone)
            set_indent(p, *node, t, t->ind_off, t->ind_len);
        if (s[0] != '*') {
            p->nodes[*node].slot = hd__tpl_slot(p->unit, s, len);
            return HD_OK;
        }
        s++;
        len--;
        while (len && hd__tpl_is_ws(*s)) {
            s++;
            len--;
        }
        if (!len)
            return hd__tpl_perr(p, t->line, t->col, "dynamic name \"*\" names nothing");
        p->nodes[*node].flags |= HD__F_DYNAMIC;
        return compile_path(p, t, s, len, &p->nodes[*node].path);
    }
    if (t->kind == HD__T_RAW)
        n->flags |= HD__F_RAW;
    return compile_path(p, t, p->src + t->off, t->len, &p->nodes[*node].path);
}

/* A parent's children are its argument blocks; anything else inside is ignored. */
static int emit_parent(struct hd__tpl_parser *p, int32_t i, int depth)
{
    size_t node;
    int rc = emit_named(p, i, HD__OP_PARENT, &node);
    if (rc)
        return rc;
    int32_t end = p->toks[i].match;
    for (int32_t k = i + 1; k < end;) {
        const struct hd__tpl_tok *t = &p->toks[k];
        if (t->kind == HD__T_BLOCK && t->up == i) {
            if ((rc = emit_range(p, k, t->match + 1, depth + 1)))
                return rc;
            k = t->match + 1;
        } else {
            k++;
        }
    }
    flush_text(p);
    p->nodes[node].next = (uint32_t)p->nnodes;
    return HD_OK;
}

static int emit_section(struct hd__tpl_parser *p, int32_t i, int op, int depth)
{
    const struct hd__tpl_tok *t = &p->toks[i];
    size_t node;
    int rc = emit_named(p, i, op, &node);
    if (rc)
        return rc;
    if (op == HD__OP_BLOCK)
        set_indent(p, node, t, t->e_off, t->e_len);
    if ((rc = emit_range(p, i + 1, t->match, depth + 1)))
        return rc;
    flush_text(p);
    p->nodes[node].next = (uint32_t)p->nnodes;
    return HD_OK;
}

static int emit_tag(struct hd__tpl_parser *p, int32_t i, int depth, int32_t *next)
{
    const struct hd__tpl_tok *t = &p->toks[i];
    size_t node;
    *next = t->match >= 0 && t->kind != HD__T_CLOSE ? t->match + 1 : i + 1;
    switch (t->kind) {
    case HD__T_VAR:
    case HD__T_RAW:
        return t->is_call ? emit_call(p, t, 0, &node) : emit_named(p, i, HD__OP_VAR, &node);
    case HD__T_SECTION:
    case HD__T_ELSE:
        if (t->is_call)
            return emit_helper_block(p, i, depth);
        return emit_section(p, i, HD__OP_SECTION, depth);
    case HD__T_INVERTED:
        return emit_section(p, i, HD__OP_INVERTED, depth);
    case HD__T_BLOCK:
        return emit_section(p, i, HD__OP_BLOCK, depth);
    case HD__T_PARENT:
        return emit_parent(p, i, depth);
    case HD__T_PARTIAL:
        return emit_named(p, i, HD__OP_PARTIAL, &node);
    default:
        return HD_OK; /* comments, delimiters */
    }
}

static int emit_range(struct hd__tpl_parser *p, int32_t from, int32_t to, int depth)
{
    if (depth > HD__TPL_MAX_NESTING + 2)
        return hd__tpl_perr(p, 1, 1, "nesting too deep");
    for (int32_t i = from; i < to;) {
        const struct hd__tpl_tok *t = &p->toks[i];
        if (t->kind == HD__T_TEXT) {
            if (!t->removed)
                emit_text(p, t);
            i++;
            continue;
        }
        int32_t next;
        int rc = emit_tag(p, i, depth, &next);
        if (rc)
            return rc;
        i = next;
    }
    return HD_OK;
}

/* ---- entry points ---------------------------------------------------------------- */

static void parser_free(struct hd__tpl_parser *p)
{
    hd_free(p->toks);
    hd_buf_free(&p->pool);
    hd_buf_free(&p->text);
    hd_free(p->nodes);
    hd_free(p->paths);
    hd_free(p->segs);
    hd_free(p->args);
}

void hd__tpl_prog_free(struct hd__tpl_prog *g)
{
    if (!g)
        return;
    hd_free(g->name);
    hd_free(g->nodes);
    hd_free(g->pool);
    hd_free(g->paths);
    hd_free(g->segs);
    hd_free(g->args);
    hd_free(g);
}

struct hd__tpl_prog *hd__tpl_parse(struct hd_tpl *unit, const char *name, const char *src,
                                   size_t len, char *errstr, size_t errstr_size)
{
    struct hd__tpl_parser p = {.unit = unit,
                               .name = name,
                               .src = src ? src : "",
                               .len = src ? len : 0,
                               .errstr = errstr,
                               .errsize = errstr_size};
    if (p.len > HD__TPL_MAX_SOURCE) {
        hd_seterr(HD_ERR_INVALID, errstr, errstr_size, "template '%s': %zu bytes is too large",
                  name, len);
        return NULL;
    }
    int rc = hd__tpl_lex(&p);
    if (!rc) {
        rc = emit_range(&p, 0, (int32_t)p.ntok, 0);
        flush_text(&p);
    }
    if (rc) {
        parser_free(&p);
        return NULL;
    }
    struct hd__tpl_prog *g = hd_calloc(1, sizeof(*g));
    g->name = hd_strdup(name);
    g->nodes = p.nodes;
    g->nnodes = (uint32_t)p.nnodes;
    g->pool = p.pool.data ? hd_buf_steal(&p.pool) : hd_strdup("");
    g->paths = p.paths;
    g->segs = p.segs;
    g->args = p.args;
    p.nodes = NULL;
    p.paths = NULL;
    p.segs = NULL;
    p.args = NULL;
    parser_free(&p);
    return g;
}
