/*
 * {{formatMessage "pattern" name=value …}}: ICU MessageFormat with named
 * arguments (and {0}, {1}… for positional ones after the pattern), in the
 * render's locale and time zone:
 *
 *   {{formatMessage "Sent {d, date, long} at {d, time, short} to {name}" d=sent_at name=n}}
 *   {{=<% %>=}}<%formatMessage "{n, plural, =0 {no items} one {# item} other {# items}}" n=c%>
 *   <%formatMessage "{g, select, female {She} other {They}} paid {t, number, ::currency/EUR}" …%>
 *   <%formatMessage "{pos, selectordinal, one {#st} two {#nd} few {#rd} other {#th}}" pos=p%>
 *
 * (a "}}" in the pattern would end a {{…}} tag: change delimiters, or take
 * the pattern from the data).
 *
 * ICU's C API (umsg_*) formats numbered arguments passed as C varargs, so the
 * pattern is rewritten before ICU sees it: names become numbers and every
 * argument ICU formats is a double (number, plural, selectordinal, spellout,
 * ordinal, duration; a select becomes a plural over =0, =1, … and other).
 * What is not a number is put in afterwards: a plain {name} holding text, and
 * dates and times, which are formatted here so that they follow the render's
 * zone (a UMessageFormat always uses the process's default zone). The
 * rewritten pattern stands for the original in a placeholder character from
 * Unicode's private use area (U+E000 + argument), so it does not change with
 * the values and its UMessageFormat is opened once per renderer and locale.
 * Literal text is re-quoted on the way (ICU's apostrophe rules: '' is an
 * apostrophe, '{…' quotes), so a select's branch means the same inside the
 * plural it becomes.
 */
#include <string.h>
#include <strings.h>
#include <unicode/udat.h>
#include <unicode/umsg.h>
#include <unicode/ustring.h>

#include "templates/template_icu.h"

#define MAX_NUM 24   /* doubles passed to ICU (numeric arguments of one pattern) */
#define MAX_SUB 32   /* text and date values put in afterwards */
#define MAX_NEST 16  /* arguments inside arguments */
#define UOUT 4096    /* UTF-16 units of ICU's output */
#define MARK 0xE000u /* first placeholder code point */

struct msg {
    struct hd__tpl_call *c;
    const char *s;
    size_t n, i;
    struct hd_buf *p;   /* the rewritten pattern */
    struct hd_buf *val; /* the values put in afterwards, one after the other */
    double num[MAX_NUM];
    int nnum;
    size_t sub_off[MAX_SUB], sub_len[MAX_SUB];
    int nsub;
    int quoted; /* an open '…' run in the rewritten pattern */
};

enum { CTX_PLAIN, CTX_PLURAL }; /* where # is the number */

static int parse_message(struct msg *m, int in_ctx, int out_ctx, int depth);

static int perr(struct msg *m, const char *what)
{
    return hd__tpl_call_error(m->c, "%s at offset %zu of the pattern", what, m->i);
}

/* ---- the rewritten pattern -------------------------------------------------------- */

static void close_quote(struct msg *m)
{
    if (m->quoted)
        hd_buf_putc(m->p, '\'');
    m->quoted = 0;
}

/* Emits one literal character (its UTF-8 bytes), quoted as ctx needs. */
static void emit_literal(struct msg *m, const char *ch, size_t n, int ctx)
{
    char c = ch[0];
    if (c == '\'') {
        hd_buf_append(m->p, "''", 2); /* an apostrophe, inside a quote or not */
        return;
    }
    if (c == '{' || c == '}' || (c == '#' && ctx == CTX_PLURAL)) {
        if (!m->quoted)
            hd_buf_putc(m->p, '\'');
        m->quoted = 1;
    } else {
        close_quote(m);
    }
    hd_buf_append(m->p, ch, n);
}

static void emit(struct msg *m, const char *s)
{
    close_quote(m);
    hd_buf_puts(m->p, s);
}

static void emit_mark(struct msg *m, int k)
{
    unsigned cp = MARK + (unsigned)k;
    char u[3] = {(char)(0xE0 | (cp >> 12)), (char)(0x80 | ((cp >> 6) & 0x3F)),
                 (char)(0x80 | (cp & 0x3F))};
    close_quote(m);
    hd_buf_append(m->p, u, 3);
}

/* ---- argument values ---------------------------------------------------------------- */

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(struct msg *m)
{
    while (m->i < m->n && is_space(m->s[m->i]))
        m->i++;
}

/* Reads [A-Za-z0-9_]+ into (*w, *wn). */
static int word(struct msg *m, const char **w, size_t *wn)
{
    size_t at = m->i;
    while (m->i < m->n) {
        char c = m->s[m->i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            break;
        m->i++;
    }
    *w = m->s + at;
    *wn = m->i - at;
    return *wn ? 0 : -1;
}

static int word_is(const char *w, size_t n, const char *s)
{
    return strlen(s) == n && !strncasecmp(w, s, n);
}

/* The value of argument (name, n): a hash argument, or {0} = the first after the pattern. */
static const struct hd__tpl_value *arg_value(struct msg *m, const char *name, size_t n)
{
    const struct hd__tpl_call *c = m->c;
    size_t k = 0, i = 0;
    for (; i < n && name[i] >= '0' && name[i] <= '9' && k < 100; i++)
        k = k * 10 + (size_t)(name[i] - '0');
    if (i == n)
        return k + 1 < c->argc ? &c->argv[k + 1] : NULL;
    for (size_t h = 0; h < c->nhash; h++)
        if (c->hash[h].key_len == n && !memcmp(c->hash[h].key, name, n))
            return &c->hash[h].v;
    return NULL;
}

static int arg_number(struct msg *m, const char *name, size_t n, double *d)
{
    const struct hd__tpl_value *v = arg_value(m, name, n);
    if (!v)
        return hd__tpl_call_error(m->c, "no argument \"%.*s\"", (int)n, name);
    if (hd__tpl_value_number(v, d))
        return hd__tpl_call_error(m->c, "argument \"%.*s\" is not a number", (int)n, name);
    return HD_OK;
}

/* Emits {k, <type>} after taking the number, k its index among ICU's arguments. */
static int emit_number_arg(struct msg *m, double d)
{
    char num[16];
    if (m->nnum == MAX_NUM)
        return perr(m, "more than 24 numeric arguments");
    m->num[m->nnum] = d;
    snprintf(num, sizeof(num), "{%d", m->nnum++);
    emit(m, num);
    return HD_OK;
}

/* Appends text for a placeholder and emits it. */
static int new_sub(struct msg *m)
{
    if (m->nsub == MAX_SUB)
        return perr(m, "more than 32 text and date arguments");
    m->sub_off[m->nsub] = m->val->len;
    return HD_OK;
}

static void end_sub(struct msg *m)
{
    m->sub_len[m->nsub] = m->val->len - m->sub_off[m->nsub];
    emit_mark(m, m->nsub++);
}

/* ---- arguments -------------------------------------------------------------------- */

/* The style of a simple argument, as written, up to its closing brace (not consumed). */
static int raw_style(struct msg *m, const char **st, size_t *sn)
{
    size_t at = m->i;
    int nest = 0;
    for (; m->i < m->n; m->i++) {
        char c = m->s[m->i];
        if (c == '\'') {
            const char *q = memchr(m->s + m->i + 1, '\'', m->n - m->i - 1);
            if (!q)
                return perr(m, "unterminated quote in an argument style");
            m->i = (size_t)(q - m->s);
        } else if (c == '{') {
            nest++;
        } else if (c == '}' && nest-- == 0) {
            break;
        }
    }
    if (m->i == m->n)
        return perr(m, "unclosed argument: no }");
    *st = m->s + at;
    *sn = m->i - at;
    while (*sn && is_space((*st)[*sn - 1]))
        (*sn)--;
    return HD_OK;
}

static int date_arg(struct msg *m, const char *name, size_t n, int is_time, const char *st,
                    size_t sn)
{
    char style[64];
    int64_t ms;
    int utc, dstyle = UDAT_NONE, tstyle = UDAT_NONE, s;
    const char *skel = NULL;
    snprintf(style, sizeof(style), "%.*s", (int)sn, st);
    if (sn >= 2 && !strncmp(style, "::", 2)) {
        skel = style + 2;
    } else if (hd__tpl_date_style(sn ? style : NULL, UDAT_MEDIUM, &s)) {
        return hd__tpl_call_error(
            m->c, "date style \"%s\": want short, medium, long, full or ::skeleton", style);
    } else if (is_time) {
        tstyle = s;
    } else {
        dstyle = s;
    }
    const struct hd__tpl_value *v = arg_value(m, name, n);
    if (!v)
        return hd__tpl_call_error(m->c, "no argument \"%.*s\"", (int)n, name);
    int rc = hd__tpl_date_value(m->c, v, &ms, &utc);
    UChar out[256];
    int32_t len, u8 = 0;
    if (rc || (rc = hd__tpl_date_text(m->c, ms, utc, dstyle, tstyle, skel, out, 256, &len)) ||
        (rc = new_sub(m)))
        return rc;
    UErrorCode e = U_ZERO_ERROR;
    hd_buf_reserve(m->val, (size_t)len * 3);
    u_strToUTF8(m->val->data + m->val->len, (int32_t)(len * 3 + 1), &u8, out, len, &e);
    if (U_FAILURE(e))
        return hd__tpl_call_error(m->c, "ICU: %s", u_errorName(e));
    m->val->len += (size_t)u8;
    end_sub(m);
    return HD_OK;
}

/* {name}: a number is formatted by ICU as {k, number}; anything else put in as text. */
static int plain_arg(struct msg *m, const char *name, size_t n)
{
    const struct hd__tpl_value *v = arg_value(m, name, n);
    if (!v)
        return hd__tpl_call_error(m->c, "no argument \"%.*s\"", (int)n, name);
    int num = (v->t == HD__V_INT || v->t == HD__V_REAL ||
                    (v->t == HD__V_JSON && json_is_number(v->j)));
    double d;
    if (num && hd__tpl_value_number(v, &d) == 0) {
        int rc = emit_number_arg(m, d);
        if (!rc)
            emit(m, ", number}");
        return rc;
    }
    int rc = new_sub(m);
    if (rc)
        return rc;
    hd__tpl_value_text(v, m->val);
    end_sub(m);
    return HD_OK;
}

/* The branches of plural, selectordinal or select: selector {message} … up to the "}". */
static int branches(struct msg *m, int is_select, int idx, const char *name, size_t n, int depth)
{
    char sel[80];
    int other = 0, count = 0, pick = -1;
    const struct hd__tpl_value *v = is_select ? arg_value(m, name, n) : NULL;
    /* a select's value as text, kept in val (not a placeholder) */
    size_t voff = m->val->len, vlen = 0;
    if (v) {
        hd__tpl_value_text(v, m->val);
        vlen = m->val->len - voff;
    }
    for (;;) {
        skip_ws(m);
        if (m->i == m->n)
            return perr(m, "unclosed argument: no }");
        if (m->s[m->i] == '}')
            break;
        size_t at = m->i;
        while (m->i < m->n && !is_space(m->s[m->i]) && m->s[m->i] != '{' && m->s[m->i] != '}')
            m->i++;
        size_t sl = m->i - at;
        if (!sl || sl >= sizeof(sel))
            return perr(m, sl ? "selector too long" : "want a selector and {message}");
        memcpy(sel, m->s + at, sl);
        sel[sl] = '\0';
        if (!is_select && !strncmp(sel, "offset:", 7) && !count) {
            emit(m, sel);
            emit(m, " ");
            continue;
        }
        skip_ws(m);
        if (m->i == m->n || m->s[m->i] != '{')
            return perr(m, "want {message} after a selector");
        m->i++;
        int is_other = !strcmp(sel, "other");
        if (is_select) {
            char eq[16];
            snprintf(eq, sizeof(eq), "=%d", count);
            if (!is_other && v && vlen == sl && !memcmp(m->val->data + voff, sel, sl) && pick < 0)
                pick = count;
            emit(m, is_other ? "other" : eq);
        } else {
            emit(m, sel);
        }
        other |= is_other;
        count += !is_other;
        emit(m, "{");
        int rc = parse_message(m, is_select ? CTX_PLAIN : CTX_PLURAL, CTX_PLURAL, depth + 1);
        if (rc)
            return rc;
        if (m->i == m->n)
            return perr(m, "unclosed message: no }");
        m->i++;
        emit(m, "}");
    }
    if (!other)
        return perr(m, is_select ? "select needs an other {…}" : "plural needs an other {…}");
    if (is_select)
        m->num[idx] = pick; /* -1: no =N matches, so other */
    return HD_OK;
}

/* After "{": an argument up to and including its "}". */
static int is_number_type(const char *t, size_t n)
{
    return word_is(t, n, "number") || word_is(t, n, "spellout") || word_is(t, n, "ordinal") ||
           word_is(t, n, "duration");
}

/* number, spellout, ordinal, duration, date, time: after the type, up to and including "}". */
static int simple_arg(struct msg *m, const char *name, size_t n, const char *type, size_t tn,
                      int has_style)
{
    const char *st = "";
    size_t sn = 0;
    double d;
    int rc = raw_style(m, &st, &sn);
    if (rc)
        return rc;
    if (!has_style && sn)
        return perr(m, "want , or } after the argument type");
    if (!is_number_type(type, tn)) {
        rc = date_arg(m, name, n, word_is(type, tn, "time"), st, has_style ? sn : 0);
        m->i++; /* the "}": the date is a placeholder, not an argument of ICU's */
        return rc;
    }
    if ((rc = arg_number(m, name, n, &d)) || (rc = emit_number_arg(m, d)))
        return rc;
    emit(m, ", ");
    hd_buf_append(m->p, type, tn);
    if (has_style && word_is(st, sn, "integer")) {
        /* ICU reads an "integer" argument as an int32 vararg: the skeleton takes a double */
        hd_buf_puts(m->p, ", ::precision-integer");
    } else if (has_style) {
        hd_buf_append(m->p, ", ", 2);
        hd_buf_append(m->p, st, sn);
    }
    m->i++;
    emit(m, "}");
    return HD_OK;
}

/* After "{": an argument up to and including its "}". */
static int parse_arg(struct msg *m, int depth)
{
    const char *name, *type;
    size_t n, tn;
    double d = 0;
    int rc;
    if (depth > MAX_NEST)
        return perr(m, "arguments nested too deep");
    skip_ws(m);
    if (word(m, &name, &n))
        return perr(m, "want an argument name");
    skip_ws(m);
    if (m->i < m->n && m->s[m->i] == '}') {
        m->i++;
        return plain_arg(m, name, n);
    }
    if (m->i == m->n || m->s[m->i] != ',')
        return perr(m, "want , or } after an argument name");
    m->i++;
    skip_ws(m);
    if (word(m, &type, &tn))
        return perr(m, "want an argument type");
    skip_ws(m);
    int has_style = m->i < m->n && m->s[m->i] == ',';
    if (has_style)
        m->i++;
    skip_ws(m);
    if (is_number_type(type, tn) || word_is(type, tn, "date") || word_is(type, tn, "time"))
        return simple_arg(m, name, n, type, tn, has_style);
    int sel = word_is(type, tn, "select"), idx = m->nnum;
    if (!sel && !word_is(type, tn, "plural") && !word_is(type, tn, "selectordinal"))
        return hd__tpl_call_error(m->c,
                                  "argument type \"%.*s\": want number, date, time, plural, "
                                  "select, selectordinal, spellout, ordinal or duration",
                                  (int)tn, type);
    if (!has_style)
        return perr(m, "want , and branches after the type");
    if ((!sel && (rc = arg_number(m, name, n, &d))) || (rc = emit_number_arg(m, d)))
        return rc;
    emit(m, word_is(type, tn, "selectordinal") ? ", selectordinal, " : ", plural, ");
    if ((rc = branches(m, sel, idx, name, n, depth)))
        return rc;
    m->i++; /* branches stops at the "}" */
    emit(m, "}");
    return HD_OK;
}

/* Literal text and arguments up to a "}" at depth > 0 (not consumed) or the end.
 * in_ctx: where the source text is ('#' the number or not); out_ctx: where it goes. */
static int parse_message(struct msg *m, int in_ctx, int out_ctx, int depth)
{
    while (m->i < m->n) {
        char c = m->s[m->i];
        if (c == '\'') {
            char nx = m->i + 1 < m->n ? m->s[m->i + 1] : 0;
            if (nx == '{' || nx == '}' || (nx == '#' && in_ctx == CTX_PLURAL)) {
                /* quoted literal text, up to a lone apostrophe (or the end) */
                for (m->i++; m->i < m->n; m->i++) {
                    if (m->s[m->i] == '\'') {
                        if (m->i + 1 < m->n && m->s[m->i + 1] == '\'') {
                            emit_literal(m, "'", 1, out_ctx);
                            m->i++;
                            continue;
                        }
                        break;
                    }
                    emit_literal(m, m->s + m->i, 1, out_ctx);
                }
                if (m->i < m->n)
                    m->i++; /* the closing apostrophe; without one the quote runs to the end */
            } else {
                emit_literal(m, "'", 1, out_ctx);
                m->i += nx == '\'' ? 2 : 1;
            }
        } else if (c == '#' && in_ctx == CTX_PLURAL) {
            emit(m, "#");
            m->i++;
        } else if (c == '{') {
            m->i++;
            int rc = parse_arg(m, depth);
            if (rc)
                return rc;
        } else if (c == '}' && depth > 0) {
            break;
        } else {
            emit_literal(m, m->s + m->i, 1, out_ctx);
            m->i++;
        }
    }
    return HD_OK;
}

/* ---- formatting --------------------------------------------------------------------- */

static UMessageFormat *open_message(struct hd__tpl_call *c, const char *key, const char *pat,
                                    size_t len)
{
    UMessageFormat *f = hd__tpl_fmt_get(c, HD__FMT_MSG, key, NULL);
    if (f)
        return f;
    char loc[64];
    UErrorCode st = U_ZERO_ERROR;
    UParseError pe;
    memset(&pe, 0, sizeof(pe));
    int32_t ulen = 0;
    u_strFromUTF8(NULL, 0, &ulen, pat, (int32_t)len, &st);
    st = U_ZERO_ERROR;
    UChar *u = hd_malloc(((size_t)ulen + 1) * sizeof(UChar));
    u_strFromUTF8(u, ulen + 1, NULL, pat, (int32_t)len, &st);
    hd__tpl_icu_locale(c, loc, sizeof(loc));
    if (U_SUCCESS(st))
        f = umsg_open(u, ulen, loc, &pe, &st);
    hd_free(u);
    if (U_FAILURE(st)) {
        if (f)
            umsg_close(f);
        char pre[3 * U_PARSE_CONTEXT_LEN + 1] = "";
        u_strToUTF8(pre, (int32_t)sizeof(pre), NULL, pe.preContext, -1, &(UErrorCode){0});
        hd__tpl_call_error(c, "ICU MessageFormat: %s after \"%s\"", u_errorName(st), pre);
        return NULL;
    }
    hd__tpl_fmt_put(c, HD__FMT_MSG, key, f, NULL);
    return f;
}

/* Writes ICU's output with the placeholders replaced by their values. */
static int write_out(struct msg *m, const UChar *u, int32_t n)
{
    int32_t from = 0;
    for (int32_t i = 0; i <= n; i++) {
        int k = i < n ? (int)u[i] - (int)MARK : -1;
        if (i < n && (k < 0 || k >= m->nsub))
            continue;
        if (i > from) {
            int rc = hd__tpl_write_u(m->c, u + from, i - from);
            if (rc)
                return rc;
        }
        if (i < n && m->sub_len[k]) /* (an empty value may leave val without data) */
            hd__tpl_call_write(m->c, m->val->data + m->sub_off[k], m->sub_len[k]);
        from = i + 1;
    }
    return HD_OK;
}

static int h_format_message(struct hd__tpl_call *c)
{
    const struct hd__tpl_value *pv = &c->argv[0];
    struct msg m = {.c = c, .p = hd__tpl_call_msgbuf(c, 0), .val = hd__tpl_call_msgbuf(c, 1)};
    if (pv->t == HD__V_STR) {
        m.s = pv->s, m.n = pv->n;
    } else if (pv->t == HD__V_JSON && json_is_string(pv->j)) {
        m.s = json_string_value(pv->j), m.n = json_string_length(pv->j);
    } else {
        return hd__tpl_call_error(c, "the pattern is not a string");
    }
    for (size_t i = 0; i + 2 < m.n; i++)
        if ((unsigned char)m.s[i] == 0xEE && ((unsigned char)m.s[i + 1] & 0xFC) == 0x80)
            return hd__tpl_call_error(c, "the pattern holds a character of U+E000-U+E0FF");
    hd_buf_reset(m.p);
    hd_buf_reset(m.val);
    /* the cache key: locale, then the rewritten pattern */
    hd_buf_puts(m.p, hd__tpl_call_locale(c));
    hd_buf_putc(m.p, '\x1f');
    size_t start = m.p->len;
    int rc = parse_message(&m, CTX_PLAIN, CTX_PLAIN, 0);
    close_quote(&m);
    if (rc)
        return rc;
    if (memchr(m.p->data, '\0', m.p->len))
        return hd__tpl_call_error(c, "the pattern holds a NUL byte");
    UMessageFormat *f = open_message(c, m.p->data, m.p->data + start, m.p->len - start);
    if (!f)
        return HD_ERR_INVALID;
    UChar out[UOUT];
    UErrorCode st = U_ZERO_ERROR;
    const double *a = m.num;
    int32_t n = umsg_format(f, out, UOUT, &st, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7],
                            a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17],
                            a[18], a[19], a[20], a[21], a[22], a[23]);
    if (U_FAILURE(st))
        return hd__tpl_call_error(c, "ICU MessageFormat: %s", u_errorName(st));
    return write_out(&m, out, n);
}

const struct hd__tpl_helper hd__tpl_message_helpers[] = {
    {"formatMessage", HD__H_INLINE, 1, HD__TPL_MAX_ARGS, h_format_message},
    {NULL, 0, 0, 0, NULL},
};
