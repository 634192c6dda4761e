/*
 * Locale-aware formatters backed by ICU, in the render's locale and time zone:
 *
 *   {{formatDate v}} {{formatDate v "short|medium|long|full"}} {{formatDate v skeleton="yMMMd"}}
 *   {{formatTime v "short"}} {{formatDateTime v "medium"}}
 *   {{formatNumber v}} {{formatNumber v style="percent"}} (minimumFractionDigits=,
 *   maximumFractionDigits=) {{formatCurrency v "EUR"}}
 *   {{plural n one="# item" other="# items"}} (CLDR categories; # is the formatted number)
 *   {{select v male="he" female="she" other="they"}}
 *   {{relativeTime v}} ("in 3 days", "2 hours ago"; unit="day", numeric="auto", style="short")
 *
 * Dates are numbers (epoch milliseconds) or ISO-8601 strings: with Z or an
 * offset they are instants; without one, wall time in the render's zone; a
 * date alone ("2026-11-23") is that calendar date whatever the zone.
 * Defaults: formatDate medium, formatTime short, formatDateTime medium.
 *
 * Opening an ICU formatter costs far more than using one, so each renderer
 * keeps the ones it opened (by kind, locale, zone and options) for the next
 * render, with what using them needs: a date format's own calendar (udat_format
 * would clone it, zone included, on every call), a calendar per zone for wall
 * times. Herald allocates nothing per render once they are open; ICU 72's number
 * formatting allocates inside ICU (see docs/TEMPLATES.md, "Allocation").
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unicode/ucal.h>
#include <unicode/umsg.h>
#include <unicode/udat.h>
#include <unicode/udatpg.h>
#include <unicode/uloc.h>
#include <unicode/unum.h>
#include <unicode/upluralrules.h>
#include <unicode/ureldatefmt.h>
#include <unicode/ustring.h>

#include "core/time.h"
#include "templates/template_icu.h"

#define MAX_CACHED 32
/* UTF-16 units of one formatted value. The longest is a number: a double has at most
 * 309 integer digits, and with a separator every 2 digits (Indian grouping), up to 20
 * fraction digits, a sign and a currency it stays under 600; a date or a relative
 * time is far shorter. */
#define UBUF 1024
#define MAX_DATE_MS 8.64e15 /* +-100 million days around 1970, as JavaScript's Date */

struct fentry {
    int kind;
    char *key;
    void *obj;
    void *aux; /* HD__FMT_DATE: a clone of the format's calendar */
};

struct hd__tpl_fmt_cache {
    struct fentry e[MAX_CACHED];
    int n, next;
};

static void close_entry(struct fentry *e)
{
    switch (e->kind) {
    case HD__FMT_DATE:
        udat_close(e->obj);
        ucal_close(e->aux);
        break;
    case HD__FMT_NUMBER:
        unum_close(e->obj);
        break;
    case HD__FMT_PLURAL:
        uplrules_close(e->obj);
        break;
    case HD__FMT_REL:
        ureldatefmt_close(e->obj);
        break;
    case HD__FMT_CAL:
        ucal_close(e->obj);
        break;
    default:
        umsg_close(e->obj);
        break;
    }
    hd_free(e->key);
}

void hd__tpl_fmt_cache_free(struct hd__tpl_fmt_cache *fc)
{
    if (!fc)
        return;
    for (int i = 0; i < fc->n; i++)
        close_entry(&fc->e[i]);
    hd_free(fc);
}

void *hd__tpl_fmt_get(struct hd__tpl_call *c, int kind, const char *key, void **aux)
{
    struct hd__tpl_fmt_cache *fc = *hd__tpl_call_fmt_cache(c);
    for (int i = 0; fc && i < fc->n; i++) {
        if (fc->e[i].kind == kind && !strcmp(fc->e[i].key, key)) {
            if (aux)
                *aux = fc->e[i].aux;
            return fc->e[i].obj;
        }
    }
    return NULL;
}

void hd__tpl_fmt_put(struct hd__tpl_call *c, int kind, const char *key, void *obj, void *aux)
{
    struct hd__tpl_fmt_cache **slot = hd__tpl_call_fmt_cache(c);
    if (!*slot)
        *slot = hd_calloc(1, sizeof(**slot));
    struct hd__tpl_fmt_cache *fc = *slot;
    struct fentry *e;
    if (fc->n < MAX_CACHED) {
        e = &fc->e[fc->n++];
    } else {
        e = &fc->e[fc->next];
        fc->next = (fc->next + 1) % MAX_CACHED;
        close_entry(e);
    }
    e->kind = kind;
    e->key = hd_strdup(key);
    e->obj = obj;
    e->aux = aux;
}

#define cache_get(c, kind, key) hd__tpl_fmt_get((c), (kind), (key), NULL)
#define cache_put(c, kind, key, obj) hd__tpl_fmt_put((c), (kind), (key), (obj), NULL)

/* Cache key; returns -1 when too long to be one. */
static int make_key(char *key, size_t size, const struct hd__tpl_call *c, const char *what)
{
    int n = snprintf(key, size, "%s|%s|%s", hd__tpl_call_locale(c), hd__tpl_call_timezone(c), what);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

void hd__tpl_icu_locale(const struct hd__tpl_call *c, char *out, size_t size)
{
    UErrorCode st = U_ZERO_ERROR;
    int32_t parsed;
    uloc_forLanguageTag(hd__tpl_call_locale(c), out, (int32_t)size, &parsed, &st);
    if (U_FAILURE(st) || !*out)
        snprintf(out, size, "en");
}

int hd__tpl_write_u(struct hd__tpl_call *c, const UChar *u, int32_t n)
{
    char out[UBUF * 3 + 1];
    /* in pieces of at most UBUF units (a MessageFormat result can be longer), never
     * splitting a surrogate pair */
    for (int32_t at = 0; at < n;) {
        int32_t k = n - at > UBUF ? UBUF : n - at;
        if (at + k < n && U16_IS_LEAD(u[at + k - 1]))
            k--;
        int32_t len = 0;
        UErrorCode st = U_ZERO_ERROR;
        u_strToUTF8(out, (int32_t)sizeof(out), &len, u + at, k, &st);
        if (U_FAILURE(st))
            return hd__tpl_call_error(c, "ICU: %s", u_errorName(st));
        hd__tpl_call_write(c, out, (size_t)len);
        at += k;
    }
    return HD_OK;
}

/* A value's text into a NUL-terminated buffer (truncated to size), without
 * allocating once the renderer's scratch buffer has grown. */
static const char *value_str(struct hd__tpl_call *c, const struct hd__tpl_value *v, char *buf,
                             size_t size)
{
    const char *s = NULL;
    size_t n = 0;
    if (v->t == HD__V_STR) {
        s = v->s;
        n = v->n;
    } else if (v->t == HD__V_JSON && json_is_string(v->j)) {
        s = json_string_value(v->j);
        n = json_string_length(v->j);
    }
    if (s) {
        n = n < size - 1 ? n : size - 1;
        memcpy(buf, s, n);
        buf[n] = '\0';
        return buf;
    }
    struct hd_buf *b = hd__tpl_call_scratch(c);
    hd_buf_reset(b);
    hd__tpl_value_text(v, b);
    snprintf(buf, size, "%.*s", (int)b->len, b->data ? b->data : "");
    return buf;
}

static const char *opt_str(struct hd__tpl_call *c, const char *key, size_t pos, char *buf,
                           size_t size)
{
    const struct hd__tpl_value *v = hd__tpl_call_hash(c, key);
    if (!v && pos < c->argc)
        v = &c->argv[pos];
    return v ? value_str(c, v, buf, size) : NULL;
}

/* ---- dates ---------------------------------------------------------------------- */

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

struct civil {
    int y, mo, d, h, mi, s, ms;
    int has_time, has_offset;
    int offset_min;
};

static int parse_offset(const char *p, struct civil *t)
{
    if (*p == 'Z' || *p == 'z') {
        t->has_offset = 1;
        return p[1] ? -1 : 0;
    }
    if (*p != '+' && *p != '-')
        return *p ? -1 : 0;
    int sign = *p++ == '-' ? -1 : 1, hh, mm = 0;
    if (digits(&p, 2, &hh))
        return -1;
    if (*p == ':')
        p++;
    if (*p && digits(&p, 2, &mm))
        return -1;
    if (*p || hh > 23 || mm > 59)
        return -1;
    t->has_offset = 1;
    t->offset_min = sign * (hh * 60 + mm);
    return 0;
}

static int parse_iso(const char *p, struct civil *t)
{
    memset(t, 0, sizeof(*t));
    if (digits(&p, 4, &t->y) || *p++ != '-' || digits(&p, 2, &t->mo) || *p++ != '-' ||
        digits(&p, 2, &t->d) || t->mo < 1 || t->mo > 12 || t->d < 1 || t->d > 31)
        return -1;
    if (!*p)
        return 0;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    t->has_time = 1;
    if (digits(&p, 2, &t->h) || *p++ != ':' || digits(&p, 2, &t->mi) || t->h > 23 || t->mi > 59)
        return -1;
    if (*p == ':') {
        p++;
        if (digits(&p, 2, &t->s) || t->s > 60)
            return -1;
        if (*p == '.' || *p == ',') {
            int n = 0;
            for (p++; *p >= '0' && *p <= '9'; p++, n++)
                if (n < 3)
                    t->ms = t->ms * 10 + (*p - '0');
            if (!n)
                return -1;
            for (; n < 3; n++)
                t->ms *= 10;
        }
    }
    return parse_offset(p, t);
}

/* Wall time in the render's zone -> epoch ms. */
static int wall_ms(struct hd__tpl_call *c, const struct civil *t, int64_t *ms)
{
    UChar tz[64];
    char key[80];
    UErrorCode st = U_ZERO_ERROR;
    if (snprintf(key, sizeof(key), "%s", hd__tpl_call_timezone(c)) >= (int)sizeof(key))
        return hd__tpl_call_error(c, "time zone name too long");
    UCalendar *cal = cache_get(c, HD__FMT_CAL, key);
    if (!cal) {
        u_uastrncpy(tz, hd__tpl_call_timezone(c), 63);
        tz[63] = 0;
        cal = ucal_open(tz, -1, "en", UCAL_GREGORIAN, &st);
        if (U_FAILURE(st)) {
            ucal_close(cal);
            return hd__tpl_call_error(c, "ICU calendar: %s", u_errorName(st));
        }
        cache_put(c, HD__FMT_CAL, key, cal);
    }
    ucal_clear(cal);
    ucal_setDateTime(cal, t->y, t->mo - 1, t->d, t->h, t->mi, t->s, &st);
    ucal_set(cal, UCAL_MILLISECOND, t->ms);
    UDate d = ucal_getMillis(cal, &st);
    if (U_FAILURE(st))
        return hd__tpl_call_error(c, "ICU calendar: %s", u_errorName(st));
    *ms = (int64_t)d;
    return HD_OK;
}

/* A date value -> epoch ms; *utc set for a date without a time (format it in UTC). */
int hd__tpl_date_value(struct hd__tpl_call *c, const struct hd__tpl_value *v, int64_t *ms,
                       int *utc)
{
    char s[80];
    double d;
    *utc = 0;
    if (v->t == HD__V_MISSING || v->t == HD__V_NULL || (v->t == HD__V_JSON && json_is_null(v->j)))
        return hd__tpl_call_error(c, "no date (the value is missing or null)");
    int is_str = v->t == HD__V_STR || (v->t == HD__V_JSON && json_is_string(v->j));
    if (hd__tpl_value_number(v, &d) == 0) {
        if (!(fabs(d) <= MAX_DATE_MS)) /* also NaN */
            return hd__tpl_call_error(c, "date %g ms is out of range", d);
        *ms = (int64_t)d;
        return HD_OK;
    }
    struct civil t;
    if (!is_str || parse_iso(value_str(c, v, s, sizeof(s)), &t))
        return hd__tpl_call_error(c,
                                  "not a date: want epoch milliseconds or ISO-8601, got \"%.40s\"",
                                  is_str ? s : "(not a string)");
    int64_t days = days_from_civil(t.y, t.mo, t.d);
    int64_t sec = days * 86400 + t.h * 3600 + t.mi * 60 + t.s;
    if (!t.has_time) {
        *utc = 1;
        *ms = sec * 1000;
        return HD_OK;
    }
    if (!t.has_offset)
        return wall_ms(c, &t, ms);
    *ms = (sec - (int64_t)t.offset_min * 60) * 1000 + t.ms;
    return HD_OK;
}

int hd__tpl_date_style(const char *s, int dflt, int *out)
{
    static const struct {
        const char *name;
        int style;
    } styles[] = {
        {"short", UDAT_SHORT}, {"medium", UDAT_MEDIUM}, {"long", UDAT_LONG}, {"full", UDAT_FULL}};
    if (!s) {
        *out = dflt;
        return 0;
    }
    for (size_t i = 0; i < HD_ARRAY_SIZE(styles); i++) {
        if (!strcmp(s, styles[i].name)) {
            *out = styles[i].style;
            return 0;
        }
    }
    return -1;
}

static int check_zone(struct hd__tpl_call *c, const UChar *tz)
{
    UChar canon[64];
    UBool sys = 0;
    UErrorCode st = U_ZERO_ERROR;
    ucal_getCanonicalTimeZoneID(tz, -1, canon, 64, &sys, &st);
    if (U_FAILURE(st) || !sys)
        return hd__tpl_call_error(c, "unknown time zone \"%s\"", hd__tpl_call_timezone(c));
    return HD_OK;
}

static UDateFormat *open_date(struct hd__tpl_call *c, int dstyle, int tstyle, const char *skel,
                              int utc, const char *key, UCalendar **calp)
{
    char loc[64];
    UChar tz[64], sk[64], pat[128];
    UErrorCode st = U_ZERO_ERROR;
    hd__tpl_icu_locale(c, loc, sizeof(loc));
    u_uastrncpy(tz, utc ? "UTC" : hd__tpl_call_timezone(c), 63);
    tz[63] = 0;
    if (check_zone(c, tz))
        return NULL;
    UDateFormat *f;
    if (skel) {
        u_uastrncpy(sk, skel, 63);
        sk[63] = 0;
        UDateTimePatternGenerator *g = udatpg_open(loc, &st);
        int32_t n = udatpg_getBestPattern(g, sk, -1, pat, 128, &st);
        udatpg_close(g);
        f = udat_open(UDAT_PATTERN, UDAT_PATTERN, loc, tz, -1, pat, n, &st);
    } else {
        f = udat_open(tstyle, dstyle, loc, tz, -1, NULL, -1, &st);
    }
    UCalendar *cal = U_SUCCESS(st) ? ucal_clone(udat_getCalendar(f), &st) : NULL;
    if (U_FAILURE(st)) {
        udat_close(f);
        ucal_close(cal);
        hd__tpl_call_error(c, "ICU date format: %s", u_errorName(st));
        return NULL;
    }
    hd__tpl_fmt_put(c, HD__FMT_DATE, key, f, cal);
    *calp = cal;
    return f;
}

int hd__tpl_date_text(struct hd__tpl_call *c, int64_t ms, int utc, int dstyle, int tstyle,
                      const char *skel, UChar *out, int32_t cap, int32_t *n)
{
    char what[96], key[160];
    snprintf(what, sizeof(what), "%d|%d|%d|%s", dstyle, tstyle, utc, skel ? skel : "");
    if (make_key(key, sizeof(key), c, what))
        return hd__tpl_call_error(c, "format options too long");
    UCalendar *cal = NULL;
    UDateFormat *f = hd__tpl_fmt_get(c, HD__FMT_DATE, key, (void **)&cal);
    if (!f && !(f = open_date(c, dstyle, tstyle, skel, utc, key, &cal)))
        return HD_ERR_INVALID;
    UErrorCode st = U_ZERO_ERROR;
    ucal_setMillis(cal, (UDate)ms, &st);
    *n = udat_formatCalendar(f, cal, out, cap, NULL, &st);
    if (U_FAILURE(st))
        return hd__tpl_call_error(c, "ICU: %s", u_errorName(st));
    return HD_OK;
}

static int format_date(struct hd__tpl_call *c, int date_dflt, int time_dflt)
{
    char sbuf[32], kbuf[64];
    int64_t ms;
    int utc, style;
    int rc = hd__tpl_date_value(c, &c->argv[0], &ms, &utc);
    if (rc)
        return rc;
    const char *skel = opt_str(c, "skeleton", (size_t)-1, kbuf, sizeof(kbuf));
    const char *s = opt_str(c, "style", 1, sbuf, sizeof(sbuf));
    if (hd__tpl_date_style(s, date_dflt != UDAT_NONE ? date_dflt : time_dflt, &style))
        return hd__tpl_call_error(c, "unknown style \"%s\": want short, medium, long or full", s);
    int dstyle = date_dflt == UDAT_NONE ? UDAT_NONE : style;
    int tstyle = time_dflt == UDAT_NONE ? UDAT_NONE : style;
    UChar out[UBUF];
    int32_t n;
    if ((rc = hd__tpl_date_text(c, ms, utc, dstyle, tstyle, skel, out, UBUF, &n)))
        return rc;
    return hd__tpl_write_u(c, out, n);
}

static int h_format_date(struct hd__tpl_call *c)
{
    return format_date(c, UDAT_MEDIUM, UDAT_NONE);
}

static int h_format_time(struct hd__tpl_call *c)
{
    return format_date(c, UDAT_NONE, UDAT_SHORT);
}

static int h_format_datetime(struct hd__tpl_call *c)
{
    return format_date(c, UDAT_MEDIUM, UDAT_MEDIUM);
}

/* ---- numbers ---------------------------------------------------------------------- */

static int number_arg(struct hd__tpl_call *c, const struct hd__tpl_value *v, double *d)
{
    char s[48];
    if (hd__tpl_value_number(v, d) == 0)
        return HD_OK;
    return hd__tpl_call_error(c, "not a number: \"%s\"", value_str(c, v, s, sizeof(s)));
}

static int int_opt(struct hd__tpl_call *c, const char *key, int *out)
{
    const struct hd__tpl_value *v = hd__tpl_call_hash(c, key);
    double d;
    *out = -1;
    if (!v)
        return HD_OK;
    if (hd__tpl_value_number(v, &d) || d < 0 || d > 20 || d != floor(d))
        return hd__tpl_call_error(c, "%s wants a whole number from 0 to 20", key);
    *out = (int)d;
    return HD_OK;
}

static UNumberFormat *number_fmt(struct hd__tpl_call *c, int style, const char *currency,
                                 int min_fd, int max_fd)
{
    char key[160], what[64], loc[64];
    snprintf(what, sizeof(what), "%d|%s|%d|%d", style, currency ? currency : "", min_fd, max_fd);
    if (make_key(key, sizeof(key), c, what)) {
        hd__tpl_call_error(c, "format options too long");
        return NULL;
    }
    UNumberFormat *f = cache_get(c, HD__FMT_NUMBER, key);
    if (f)
        return f;
    UErrorCode st = U_ZERO_ERROR;
    hd__tpl_icu_locale(c, loc, sizeof(loc));
    f = unum_open((UNumberFormatStyle)style, NULL, -1, loc, NULL, &st);
    if (currency && U_SUCCESS(st)) {
        UChar code[4];
        u_uastrncpy(code, currency, 3);
        code[3] = 0;
        unum_setTextAttribute(f, UNUM_CURRENCY_CODE, code, 3, &st);
    }
    if (min_fd >= 0 && U_SUCCESS(st))
        unum_setAttribute(f, UNUM_MIN_FRACTION_DIGITS, min_fd);
    if (max_fd >= 0 && U_SUCCESS(st))
        unum_setAttribute(f, UNUM_MAX_FRACTION_DIGITS, max_fd);
    if (U_FAILURE(st)) {
        unum_close(f);
        hd__tpl_call_error(c, "ICU number format: %s", u_errorName(st));
        return NULL;
    }
    cache_put(c, HD__FMT_NUMBER, key, f);
    return f;
}

static int write_number(struct hd__tpl_call *c, UNumberFormat *f, double d)
{
    UChar out[UBUF];
    UErrorCode st = U_ZERO_ERROR;
    int32_t n = unum_formatDouble(f, d, out, UBUF, NULL, &st);
    if (U_FAILURE(st))
        return hd__tpl_call_error(c, "ICU: %s", u_errorName(st));
    return hd__tpl_write_u(c, out, n);
}

static int valid_currency(const char *s)
{
    if (!s || strlen(s) != 3)
        return 0;
    for (int i = 0; i < 3; i++)
        if (s[i] < 'A' || s[i] > 'Z')
            return 0;
    return 1;
}

static int format_number(struct hd__tpl_call *c, const char *style, const char *currency)
{
    double d;
    int min_fd, max_fd, rc;
    if ((rc = number_arg(c, &c->argv[0], &d)) ||
        (rc = int_opt(c, "minimumFractionDigits", &min_fd)) ||
        (rc = int_opt(c, "maximumFractionDigits", &max_fd)))
        return rc;
    int st;
    if (!style || !strcmp(style, "decimal"))
        st = UNUM_DECIMAL;
    else if (!strcmp(style, "percent"))
        st = UNUM_PERCENT;
    else if (!strcmp(style, "currency"))
        st = UNUM_CURRENCY;
    else
        return hd__tpl_call_error(c, "unknown style \"%s\": want decimal, percent or currency",
                                  style);
    if (st == UNUM_CURRENCY && !valid_currency(currency))
        return hd__tpl_call_error(c, "currency \"%s\" is not an ISO 4217 code like EUR",
                                  currency ? currency : "");
    UNumberFormat *f = number_fmt(c, st, st == UNUM_CURRENCY ? currency : NULL, min_fd, max_fd);
    return f ? write_number(c, f, d) : HD_ERR_INVALID;
}

static int h_format_number(struct hd__tpl_call *c)
{
    char style[16], cur[8];
    return format_number(c, opt_str(c, "style", (size_t)-1, style, sizeof(style)),
                         opt_str(c, "currency", (size_t)-1, cur, sizeof(cur)));
}

static int h_format_currency(struct hd__tpl_call *c)
{
    char cur[8];
    return format_number(c, "currency", opt_str(c, "currency", 1, cur, sizeof(cur)));
}

/* ---- plural and select ------------------------------------------------------------- */

static int write_message(struct hd__tpl_call *c, const struct hd__tpl_value *msg, const char *num,
                         size_t num_len)
{
    struct hd_buf *b = hd__tpl_call_scratch(c);
    hd_buf_reset(b);
    hd__tpl_value_text(msg, b);
    struct hd_buf *o = b;
    size_t start = 0;
    for (size_t i = 0; i < o->len; i++) {
        if (o->data[i] != '#')
            continue;
        hd__tpl_call_write(c, o->data + start, i - start);
        hd__tpl_call_write(c, num, num_len);
        start = i + 1;
    }
    hd__tpl_call_write(c, o->data ? o->data + start : "", o->len - start);
    return HD_OK;
}

static int h_plural(struct hd__tpl_call *c)
{
    double d;
    int rc = number_arg(c, &c->argv[0], &d);
    if (rc)
        return rc;
    char key[160], loc[64], kw[32];
    if (make_key(key, sizeof(key), c, "plural"))
        return hd__tpl_call_error(c, "locale too long");
    UPluralRules *pr = cache_get(c, HD__FMT_PLURAL, key);
    UErrorCode st = U_ZERO_ERROR;
    if (!pr) {
        hd__tpl_icu_locale(c, loc, sizeof(loc));
        pr = uplrules_open(loc, &st);
        if (U_FAILURE(st))
            return hd__tpl_call_error(c, "ICU plural rules: %s", u_errorName(st));
        cache_put(c, HD__FMT_PLURAL, key, pr);
    }
    UChar ukw[32];
    int32_t n = uplrules_select(pr, d, ukw, 32, &st);
    if (U_FAILURE(st))
        return hd__tpl_call_error(c, "ICU: %s", u_errorName(st));
    u_austrncpy(kw, ukw, (int32_t)sizeof(kw) - 1);
    kw[n < 31 ? n : 31] = '\0';
    const struct hd__tpl_value *msg = hd__tpl_call_hash(c, kw);
    if (!msg && !(msg = hd__tpl_call_hash(c, "other")))
        return hd__tpl_call_error(c, "no message for category \"%s\" and no other=", kw);
    UNumberFormat *f = number_fmt(c, UNUM_DECIMAL, NULL, -1, -1);
    if (!f)
        return HD_ERR_INVALID;
    UChar un[UBUF];
    char num[UBUF * 3];
    int32_t ulen = unum_formatDouble(f, d, un, UBUF, NULL, &st), len = 0;
    u_strToUTF8(num, (int32_t)sizeof(num), &len, un, ulen, &st);
    if (U_FAILURE(st))
        return hd__tpl_call_error(c, "ICU: %s", u_errorName(st));
    return write_message(c, msg, num, (size_t)len);
}

static int h_select(struct hd__tpl_call *c)
{
    char v[64];
    const struct hd__tpl_value *msg = hd__tpl_call_hash(c, value_str(c, &c->argv[0], v, sizeof(v)));
    if (!msg && !(msg = hd__tpl_call_hash(c, "other")))
        return hd__tpl_call_error(c, "no message for \"%s\" and no other=", v);
    return write_message(c, msg, "#", 1);
}

/* ---- relative time ------------------------------------------------------------------ */

static const struct {
    const char *name;
    URelativeDateTimeUnit unit;
    double seconds;
    double below; /* automatic choice: use this unit while |diff| < below seconds */
} units[] = {
    {"second", UDAT_REL_UNIT_SECOND, 1, 45},
    {"minute", UDAT_REL_UNIT_MINUTE, 60, 45 * 60},
    {"hour", UDAT_REL_UNIT_HOUR, 3600, 22 * 3600},
    {"day", UDAT_REL_UNIT_DAY, 86400, 26 * 86400},
    {"week", UDAT_REL_UNIT_WEEK, 7 * 86400, 0},
    {"month", UDAT_REL_UNIT_MONTH, 30.436875 * 86400, 320 * 86400},
    {"year", UDAT_REL_UNIT_YEAR, 365.2425 * 86400, INFINITY},
};

static int pick_unit(struct hd__tpl_call *c, double diff_s, size_t *u)
{
    char name[16];
    const char *want = opt_str(c, "unit", (size_t)-1, name, sizeof(name));
    for (size_t i = 0; i < HD_ARRAY_SIZE(units); i++) {
        if (want ? !strcmp(want, units[i].name) : fabs(diff_s) < units[i].below) {
            *u = i;
            return HD_OK;
        }
    }
    return hd__tpl_call_error(
        c, "unknown unit \"%s\": want second, minute, hour, day, week, month or year",
        want ? want : "");
}

static URelativeDateTimeFormatter *rel_fmt(struct hd__tpl_call *c, int width)
{
    char key[160], what[16], loc[64];
    snprintf(what, sizeof(what), "rel|%d", width);
    if (make_key(key, sizeof(key), c, what)) {
        hd__tpl_call_error(c, "locale too long");
        return NULL;
    }
    URelativeDateTimeFormatter *f = cache_get(c, HD__FMT_REL, key);
    if (f)
        return f;
    UErrorCode st = U_ZERO_ERROR;
    hd__tpl_icu_locale(c, loc, sizeof(loc));
    f = ureldatefmt_open(loc, NULL, (UDateRelativeDateTimeFormatterStyle)width,
                         UDISPCTX_CAPITALIZATION_NONE, &st);
    if (U_FAILURE(st)) {
        ureldatefmt_close(f);
        hd__tpl_call_error(c, "ICU relative time: %s", u_errorName(st));
        return NULL;
    }
    cache_put(c, HD__FMT_REL, key, f);
    return f;
}

static int h_relative_time(struct hd__tpl_call *c)
{
    int64_t ms, now = hd__tpl_call_now_ms(c);
    int utc;
    size_t u = 0; /* set by pick_unit; -O3 cannot tell */
    char style[16], numeric[16];
    int rc = hd__tpl_date_value(c, &c->argv[0], &ms, &utc);
    if (rc)
        return rc;
    if (!now)
        now = hd_now_ms();
    double diff = (double)(ms - now) / 1000.0;
    if ((rc = pick_unit(c, diff, &u)))
        return rc;
    const char *s = opt_str(c, "style", (size_t)-1, style, sizeof(style));
    int width = !s || !strcmp(s, "long") ? UDAT_STYLE_LONG
                : !strcmp(s, "short")    ? UDAT_STYLE_SHORT
                : !strcmp(s, "narrow")   ? UDAT_STYLE_NARROW
                                         : -1;
    if (width < 0)
        return hd__tpl_call_error(c, "unknown style \"%s\": want long, short or narrow", s);
    URelativeDateTimeFormatter *f = rel_fmt(c, width);
    if (!f)
        return HD_ERR_INVALID;
    double amount = round(diff / units[u].seconds);
    if (amount == 0)
        amount = 0; /* no "-0" */
    const char *num = opt_str(c, "numeric", (size_t)-1, numeric, sizeof(numeric));
    UChar out[UBUF];
    UErrorCode st = U_ZERO_ERROR;
    int32_t n = num && !strcmp(num, "auto")
                    ? ureldatefmt_format(f, amount, units[u].unit, out, UBUF, &st)
                    : ureldatefmt_formatNumeric(f, amount, units[u].unit, out, UBUF, &st);
    if (U_FAILURE(st))
        return hd__tpl_call_error(c, "ICU: %s", u_errorName(st));
    return hd__tpl_write_u(c, out, n);
}

const struct hd__tpl_helper hd__tpl_format_helpers[] = {
    {"formatDate", HD__H_INLINE, 1, 2, h_format_date},
    {"formatTime", HD__H_INLINE, 1, 2, h_format_time},
    {"formatDateTime", HD__H_INLINE, 1, 2, h_format_datetime},
    {"formatNumber", HD__H_INLINE, 1, 1, h_format_number},
    {"formatCurrency", HD__H_INLINE, 1, 2, h_format_currency},
    {"plural", HD__H_INLINE, 1, 1, h_plural},
    {"select", HD__H_INLINE, 1, 1, h_select},
    {"relativeTime", HD__H_INLINE, 1, 1, h_relative_time},
    {NULL, 0, 0, 0, NULL},
};
