/*
 * Template parser, first half: source text -> annotated tokens (see
 * template_parse.c for the second half, tokens -> program nodes).
 *
 *  1. tokenize: text and tags, honouring {{=<% %>=}}; text is cut after each
 *     newline so that a line is a run of tokens ending in a "\n" text token;
 *  2. nest: match sections, blocks and parents with their closing tags, find
 *     each helper block's {{else}};
 *  3. standalone lines: a line holding only whitespace and tags that print
 *     nothing loses its indentation and line ending (several such tags share a
 *     line when one of them is a parent or block tag, as the inheritance spec
 *     has it);
 *  4. block indentation: a block's content is stored without its own common
 *     indentation and re-indented where it is expanded (spec "Block
 *     reindentation", "Intrinsic indentation").
 */
#include <stdio.h>
#include <string.h>

#include "templates/template_int.h"

#define MAX_DELIM 32

int hd__tpl_perr(struct hd__tpl_parser *p, uint32_t line, uint32_t col, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return hd_seterr(HD_ERR_INVALID, p->errstr, p->errsize, "template '%s' line %u, column %u: %s",
                     p->name, line, col, msg);
}

int hd__tpl_is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int all_ws(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!hd__tpl_is_ws(s[i]))
            return 0;
    return 1;
}

static size_t lead_ws(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i;
}

/* ---- pass 1: tokens --------------------------------------------------------- */

struct lexer {
    char otag[MAX_DELIM + 1], ctag[MAX_DELIM + 1];
    size_t olen, clen;
    size_t pos, lstart;
    uint32_t line;
    int bol;
};

static struct hd__tpl_tok *add_tok(struct hd__tpl_parser *p, int kind, size_t off, size_t len,
                                   struct lexer *lx, size_t at)
{
    HD__GROW(p->toks, p->ntok, p->cap_tok);
    struct hd__tpl_tok *t = &p->toks[p->ntok++];
    memset(t, 0, sizeof(*t));
    t->kind = (uint8_t)kind;
    t->off = (uint32_t)off;
    t->len = (uint32_t)len;
    t->line = lx->line;
    t->col = (uint32_t)(at - lx->lstart + 1);
    t->match = t->up = t->blk = t->els = -1;
    t->line_start = (uint8_t)lx->bol;
    lx->bol = 0;
    return t;
}

/* Text up to `end`, one token per line. */
static void lex_text(struct hd__tpl_parser *p, struct lexer *lx, size_t end)
{
    while (lx->pos < end) {
        const char *nl = memchr(p->src + lx->pos, '\n', end - lx->pos);
        size_t stop = nl ? (size_t)(nl - p->src) + 1 : end;
        add_tok(p, HD__T_TEXT, lx->pos, stop - lx->pos, lx, lx->pos);
        lx->pos = stop;
        if (nl) {
            lx->line++;
            lx->lstart = stop;
            lx->bol = 1;
        }
    }
}

static int set_delims(struct hd__tpl_parser *p, struct lexer *lx, size_t cs, size_t ce,
                      uint32_t line, uint32_t col)
{
    const char *s = p->src;
    while (cs < ce && hd__tpl_is_ws(s[cs]))
        cs++;
    while (ce > cs && hd__tpl_is_ws(s[ce - 1]))
        ce--;
    size_t a = cs;
    while (a < ce && !hd__tpl_is_ws(s[a]))
        a++;
    size_t b = a;
    while (b < ce && hd__tpl_is_ws(s[b]))
        b++;
    size_t olen = a - cs, clen = ce - b;
    if (!olen || !clen || olen > MAX_DELIM || clen > MAX_DELIM || memchr(s + b, ' ', clen) ||
        memchr(s + b, '\t', clen) || memchr(s + cs, '=', olen) || memchr(s + b, '=', clen))
        return hd__tpl_perr(p, line, col, "invalid delimiters \"%.*s\": want two words without '='",
                            (int)(ce - cs), s + cs);
    memcpy(lx->otag, s + cs, olen);
    lx->otag[olen] = '\0';
    lx->olen = olen;
    memcpy(lx->ctag, s + b, clen);
    lx->ctag[clen] = '\0';
    lx->clen = clen;
    return HD_OK;
}

static int sigil_kind(char c)
{
    switch (c) {
    case '!':
        return HD__T_COMMENT;
    case '#':
        return HD__T_SECTION;
    case '^':
        return HD__T_INVERTED;
    case '/':
        return HD__T_CLOSE;
    case '>':
        return HD__T_PARTIAL;
    case '<':
        return HD__T_PARENT;
    case '$':
        return HD__T_BLOCK;
    case '&':
        return HD__T_RAW;
    case '{':
        return HD__T_RAW;
    case '=':
        return HD__T_DELIM;
    default:
        return HD__T_VAR;
    }
}

/* Checks a tag's content; sets is_call/name_len. */
static int check_tag(struct hd__tpl_parser *p, struct hd__tpl_tok *t)
{
    const char *s = p->src + t->off;
    size_t n = t->len;
    if (t->kind == HD__T_COMMENT || t->kind == HD__T_DELIM)
        return HD_OK;
    if (!n && t->kind == HD__T_INVERTED)
        return HD_OK; /* {{^}}: Handlebars' other spelling of {{else}} */
    if (!n)
        return hd__tpl_perr(p, t->line, t->col, "empty tag");
    size_t w = 0;
    while (w < n && !hd__tpl_is_ws(s[w]))
        w++;
    t->name_len = (uint32_t)w;
    if (w == n)
        return HD_OK;
    switch (t->kind) {
    case HD__T_VAR:
    case HD__T_RAW:
    case HD__T_SECTION:
        t->is_call = 1;
        return HD_OK;
    case HD__T_PARTIAL:
    case HD__T_PARENT:
        if (s[0] == '*' && w == 1) { /* {{> * name }} */
            size_t k = 1;
            while (k < n && hd__tpl_is_ws(s[k]))
                k++;
            if (k < n && memchr(s + k, ' ', n - k) == NULL && memchr(s + k, '\t', n - k) == NULL)
                return HD_OK;
        }
        return hd__tpl_perr(p, t->line, t->col,
                            "partial name \"%.*s\" has spaces (arguments are not supported)",
                            (int)n, s);
    case HD__T_INVERTED:
        return hd__tpl_perr(p, t->line, t->col, "helper calls cannot be inverted: \"{{^%.*s}}\"",
                            (int)n, s);
    default:
        return hd__tpl_perr(p, t->line, t->col, "name \"%.*s\" has spaces", (int)n, s);
    }
}

/* The tag's closing delimiter in s[from, end). A tag that can be a helper call skips
 * string literals in argument position (a quote after a space or '=', backslash escapes
 * as the argument parser reads them), so {{formatMessage "{n, plural, one {#} other
 * {# items}}" n=n}} ends after n=n. With an unterminated string (no closing quote
 * followed by a space or the closing delimiter), the first closing delimiter ends the
 * tag, and the argument parser reports the string. */
static const char *find_close(const char *s, size_t from, size_t end, const char *close,
                              size_t close_len, int strings)
{
    const char *first = memmem(s + from, end - from, close, close_len);
    if (!strings || !first)
        return first;
    for (size_t i = from; i + close_len <= end; i++) {
        if (!memcmp(s + i, close, close_len))
            return s + i;
        if ((s[i] == '"' || s[i] == '\'') && i > from &&
            (hd__tpl_is_ws(s[i - 1]) || s[i - 1] == '=')) {
            size_t j = i + 1;
            while (j < end && s[j] != s[i])
                j += s[j] == '\\' && j + 1 < end ? 2 : 1;
            /* an argument ends at a space or the tag's end; a quote anywhere else (the
             * next attribute of the HTML around a typo) is no string's end */
            if (j >= end || (j + 1 < end && !hd__tpl_is_ws(s[j + 1]) &&
                             (end - j - 1 < close_len || memcmp(s + j + 1, close, close_len))))
                return first;
            i = j;
        }
    }
    return first;
}

static int lex_tag(struct hd__tpl_parser *p, struct lexer *lx, size_t at)
{
    const char *s = p->src;
    uint32_t line = lx->line, col = (uint32_t)(at - lx->lstart + 1);
    size_t c = at + lx->olen;
    int kind = c < p->len ? sigil_kind(s[c]) : HD__T_VAR;
    char close[MAX_DELIM + 2];
    size_t close_len = lx->clen;
    memcpy(close, lx->ctag, lx->clen);
    if (c < p->len && (s[c] == '{' || s[c] == '=')) {
        close[0] = s[c] == '{' ? '}' : '=';
        memcpy(close + 1, lx->ctag, lx->clen);
        close_len++;
    }
    size_t cs = kind == HD__T_VAR ? c : c + 1;
    if (cs > p->len)
        cs = p->len;
    int call = kind == HD__T_VAR || kind == HD__T_RAW || kind == HD__T_SECTION;
    const char *e = find_close(s, cs, p->len, close, close_len, call);
    if (!e)
        return hd__tpl_perr(p, line, col, "unclosed tag: no \"%.*s\" after \"%.*s\"",
                            (int)close_len, close, (int)(p->len - at < 20 ? p->len - at : 20),
                            s + at);
    size_t ce = (size_t)(e - s), after = ce + close_len;
    if (kind == HD__T_DELIM) {
        int rc = set_delims(p, lx, cs, ce, line, col);
        if (rc)
            return rc;
    }
    size_t ts = cs, te = ce;
    while (ts < te && hd__tpl_is_ws(s[ts]))
        ts++;
    while (te > ts && hd__tpl_is_ws(s[te - 1]))
        te--;
    struct hd__tpl_tok *t = add_tok(p, kind, ts, te - ts, lx, at);
    t->line = line;
    t->col = col;
    for (size_t k = at; k < after; k++) {
        if (s[k] == '\n') {
            lx->line++;
            lx->lstart = k + 1;
        }
    }
    lx->pos = after;
    return check_tag(p, t);
}

static int tokenize(struct hd__tpl_parser *p)
{
    struct lexer lx = {.otag = "{{", .ctag = "}}", .olen = 2, .clen = 2, .line = 1, .bol = 1};
    while (lx.pos < p->len) {
        const char *o = memmem(p->src + lx.pos, p->len - lx.pos, lx.otag, lx.olen);
        size_t at = o ? (size_t)(o - p->src) : p->len;
        lex_text(p, &lx, at);
        if (!o)
            break;
        int rc = lex_tag(p, &lx, at);
        if (rc)
            return rc;
    }
    return HD_OK;
}

/* ---- pass 2: nesting --------------------------------------------------------- */

static int is_open(const struct hd__tpl_tok *t)
{
    return t->kind == HD__T_SECTION || t->kind == HD__T_INVERTED || t->kind == HD__T_PARENT ||
           t->kind == HD__T_BLOCK || (t->kind == HD__T_ELSE && t->is_call);
}

static int is_helper_block(const struct hd__tpl_tok *t)
{
    return (t->kind == HD__T_SECTION || t->kind == HD__T_ELSE) && t->is_call;
}

/* "else" or "else args…" inside a helper block becomes that block's {{else}}. */
static int maybe_else(struct hd__tpl_parser *p, struct hd__tpl_tok *t, int top)
{
    const char *s = p->src + t->off;
    if (t->kind == HD__T_INVERTED && t->len == 0) {
        if (top < 0 || !is_helper_block(&p->toks[top]))
            return -2;
        t->kind = HD__T_ELSE;
        return 1;
    }
    if (t->kind != HD__T_VAR || top < 0 || !is_helper_block(&p->toks[top]) || t->name_len != 4 ||
        memcmp(s, "else", 4))
        return 0;
    t->kind = HD__T_ELSE;
    if (t->is_call) { /* {{else if x}}: opens a chained block closed by the outer {{/if}} */
        size_t k = 4;
        while (k < t->len && hd__tpl_is_ws(s[k]))
            k++;
        t->off += (uint32_t)k;
        t->len -= (uint32_t)k;
        size_t w = 0;
        while (w < t->len && !hd__tpl_is_ws(s[k + w]))
            w++;
        t->name_len = (uint32_t)w;
        t->is_call = w < t->len;
        if (!t->is_call) /* {{else name}}: a helper call needs arguments */
            return -1;
    }
    return 1;
}

const char *hd__tpl_tok_name(const struct hd__tpl_parser *p, const struct hd__tpl_tok *t, size_t *n)
{
    *n = t->is_call ? t->name_len : t->len;
    return p->src + t->off;
}

static int close_tag(struct hd__tpl_parser *p, int32_t *stack, int *depth, int i)
{
    struct hd__tpl_tok *t = &p->toks[i];
    while (*depth > 0 && p->toks[stack[*depth - 1]].kind == HD__T_ELSE) {
        p->toks[stack[*depth - 1]].match = i;
        (*depth)--;
    }
    if (*depth == 0)
        return hd__tpl_perr(p, t->line, t->col, "unexpected closing tag {{/%.*s}}: nothing is open",
                            (int)t->len, p->src + t->off);
    struct hd__tpl_tok *o = &p->toks[stack[*depth - 1]];
    size_t n;
    const char *name = hd__tpl_tok_name(p, o, &n);
    if (n != t->len || memcmp(name, p->src + t->off, n))
        return hd__tpl_perr(p, t->line, t->col,
                            "{{/%.*s}} does not close \"%.*s\" opened at line %u, column %u",
                            (int)t->len, p->src + t->off, (int)n, name, o->line, o->col);
    o->match = i;
    t->match = stack[*depth - 1];
    (*depth)--;
    return HD_OK;
}

static int nest(struct hd__tpl_parser *p)
{
    int32_t stack[HD__TPL_MAX_NESTING], blks[HD__TPL_MAX_NESTING + 1];
    int depth = 0;
    blks[0] = -1;
    for (size_t i = 0; i < p->ntok; i++) {
        struct hd__tpl_tok *t = &p->toks[i];
        int top = depth ? stack[depth - 1] : -1;
        t->up = top;
        t->blk = blks[depth];
        int e = maybe_else(p, t, top);
        if (e == -2)
            return hd__tpl_perr(p, t->line, t->col, "{{^}} outside a helper block");
        if (e < 0)
            return hd__tpl_perr(p, t->line, t->col, "{{else %.*s}} needs arguments", (int)t->len,
                                p->src + t->off);
        if (e > 0) {
            struct hd__tpl_tok *o = &p->toks[top];
            if (o->els >= 0)
                return hd__tpl_perr(p, t->line, t->col,
                                    "second {{else}} in the block opened at line %u, column %u",
                                    o->line, o->col);
            o->els = (int32_t)i;
        }
        if (t->kind == HD__T_CLOSE) {
            int rc = close_tag(p, stack, &depth, (int)i);
            if (rc)
                return rc;
        } else if (is_open(t)) {
            if (depth == HD__TPL_MAX_NESTING)
                return hd__tpl_perr(p, t->line, t->col, "sections nested more than %d deep",
                                    HD__TPL_MAX_NESTING);
            stack[depth++] = (int32_t)i;
            blks[depth] = t->kind == HD__T_BLOCK ? (int32_t)i : blks[depth - 1];
        }
    }
    while (depth > 0 && p->toks[stack[depth - 1]].kind == HD__T_ELSE)
        depth--;
    if (depth) {
        struct hd__tpl_tok *o = &p->toks[stack[depth - 1]];
        size_t n;
        const char *name = hd__tpl_tok_name(p, o, &n);
        return hd__tpl_perr(p, o->line, o->col, "unclosed section \"%.*s\": no {{/%.*s}}", (int)n,
                            name, (int)n, name);
    }
    return HD_OK;
}

/* ---- pass 3: standalone lines ------------------------------------------------- */

static int prints(const struct hd__tpl_tok *t)
{
    return t->kind == HD__T_VAR || t->kind == HD__T_RAW;
}

static int is_inheritance(const struct hd__tpl_parser *p, const struct hd__tpl_tok *t)
{
    if (t->kind == HD__T_PARENT || t->kind == HD__T_BLOCK)
        return 1;
    if (t->kind == HD__T_CLOSE && t->match >= 0) {
        int k = p->toks[t->match].kind;
        return k == HD__T_PARENT || k == HD__T_BLOCK;
    }
    return 0;
}

/* A block expanded in place whose open and close tags share this line prints here. */
static int inline_block(const struct hd__tpl_parser *p, const struct hd__tpl_tok *t, size_t last)
{
    return t->kind == HD__T_BLOCK && (t->up < 0 || p->toks[t->up].kind != HD__T_PARENT) &&
           (size_t)t->match <= last;
}

static void line_pass(struct hd__tpl_parser *p, size_t a, size_t b)
{
    int ntags = 0, inh = 0, out = 0;
    for (size_t i = a; i <= b; i++) {
        struct hd__tpl_tok *t = &p->toks[i];
        t->first = (int32_t)a;
        if (t->kind == HD__T_TEXT)
            out |= !all_ws(p->src + t->off, t->len);
        else if (prints(t) || inline_block(p, t, b))
            out = 1;
        else {
            ntags++;
            inh |= is_inheritance(p, t);
        }
    }
    struct hd__tpl_tok *f = &p->toks[a];
    if (f->kind == HD__T_TEXT)
        f->ind_len = (uint32_t)lead_ws(p->src + f->off, f->len);
    f->ind_off = f->off;
    if (out || ntags == 0 || (ntags > 1 && !inh)) {
        f->content = (uint8_t)(out || ntags);
        if (f->kind == HD__T_TEXT && f->ind_len == f->len && a == b) /* blank line */
            f->content = 0;
        return;
    }
    uint32_t ind_off = f->off, ind_len = f->kind == HD__T_TEXT ? f->len : 0;
    for (size_t i = a; i <= b; i++) {
        struct hd__tpl_tok *t = &p->toks[i];
        if (t->kind == HD__T_TEXT) {
            t->removed = 1;
        } else {
            t->standalone = 1;
            t->ind_off = ind_off;
            t->ind_len = ind_len;
        }
    }
}

static void standalone(struct hd__tpl_parser *p)
{
    size_t a = 0;
    while (a < p->ntok) {
        size_t b = a;
        while (b + 1 < p->ntok) {
            const struct hd__tpl_tok *t = &p->toks[b];
            if (t->kind == HD__T_TEXT && p->src[t->off + t->len - 1] == '\n')
                break;
            b++;
        }
        line_pass(p, a, b);
        a = b + 1;
    }
}

/* ---- pass 4: block indentation ------------------------------------------------ */

size_t hd__tpl_common(const char *s, uint32_t a, uint32_t alen, uint32_t b, uint32_t blen)
{
    size_t n = 0;
    while (n < alen && n < blen && s[a + n] == s[b + n])
        n++;
    return n;
}

/* Whitespace before an inline block tag when only whitespace precedes it on its line. */
static void inline_ws(const struct hd__tpl_parser *p, const struct hd__tpl_tok *t, uint32_t *off,
                      uint32_t *len)
{
    const struct hd__tpl_tok *f = &p->toks[t->first];
    *off = f->off;
    *len = 0;
    if (f == t || f->kind != HD__T_TEXT || f->ind_len != f->len)
        return;
    for (const struct hd__tpl_tok *k = f + 1; k < t; k++)
        if (k->kind == HD__T_TEXT || prints(k))
            return;
    *len = f->len;
}

static void block_indent(struct hd__tpl_parser *p, struct hd__tpl_tok *b)
{
    int have = 0;
    uint32_t doff = 0, dlen = 0;
    for (int32_t i = (int32_t)(b - p->toks) + 1; i < b->match; i++) {
        const struct hd__tpl_tok *t = &p->toks[i];
        if (!t->line_start || !t->content)
            continue;
        if (!have) {
            doff = t->ind_off;
            dlen = t->ind_len;
            have = 1;
        } else {
            dlen = (uint32_t)hd__tpl_common(p->src, doff, dlen, t->ind_off, t->ind_len);
        }
    }
    if (b->standalone) {
        b->d_off = doff;
        b->d_len = have ? dlen : 0;
        b->e_off = have ? doff : b->ind_off;
        b->e_len = have ? dlen : b->ind_len;
        return;
    }
    uint32_t woff, wlen;
    inline_ws(p, b, &woff, &wlen);
    if (have)
        wlen = (uint32_t)hd__tpl_common(p->src, woff, wlen, doff, dlen);
    b->d_off = b->e_off = woff;
    b->d_len = b->e_len = wlen;
}

static void blocks(struct hd__tpl_parser *p)
{
    for (size_t i = 0; i < p->ntok; i++)
        if (p->toks[i].kind == HD__T_BLOCK)
            block_indent(p, &p->toks[i]);
}

int hd__tpl_lex(struct hd__tpl_parser *p)
{
    int rc = tokenize(p);
    if (!rc)
        rc = nest(p);
    if (!rc) {
        standalone(p);
        blocks(p);
    }
    return rc;
}
