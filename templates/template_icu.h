/*
 * Private to templates/: what the ICU-backed helpers (template_format.c,
 * template_message.c) share. The renderer keeps one cache of opened ICU
 * objects (formatters, rules, calendars, message formats), owned by
 * template_format.c; entries are found by kind and a text key that holds the
 * locale, zone and options they were opened with.
 */
#ifndef HD_TEMPLATE_ICU_H
#define HD_TEMPLATE_ICU_H

#include <unicode/utypes.h>

#include "templates/template_int.h"

enum hd__tpl_fmt_kind {
    HD__FMT_DATE,    /* UDateFormat, aux: a UCalendar cloned from it */
    HD__FMT_NUMBER,  /* UNumberFormat */
    HD__FMT_PLURAL,  /* UPluralRules */
    HD__FMT_REL,     /* URelativeDateTimeFormatter */
    HD__FMT_CAL,     /* UCalendar of a zone (wall times) */
    HD__FMT_MSG      /* UMessageFormat */
};

/* The cached object of that kind and key, or NULL; *aux (if aux) gets its companion.
 * Borrowed: valid until the next hd__tpl_fmt_put on the same renderer. */
void *hd__tpl_fmt_get(struct hd__tpl_call *c, int kind, const char *key, void **aux);
/* Caches obj (and aux) under kind and key; the cache owns them from now on and
 * may close the oldest entry to make room. */
void hd__tpl_fmt_put(struct hd__tpl_call *c, int kind, const char *key, void *obj, void *aux);

/* The render's locale as an ICU locale ID ("en" when it does not parse). */
void hd__tpl_icu_locale(const struct hd__tpl_call *c, char *out, size_t size);
/* Writes ICU output (UTF-16) as UTF-8, escaped as the tag asks. */
int hd__tpl_write_u(struct hd__tpl_call *c, const UChar *u, int32_t n);
/* A date value (epoch ms, ISO-8601) -> epoch ms; *utc set for a date without a
 * time. Returns HD_OK or a call error. */
int hd__tpl_date_value(struct hd__tpl_call *c, const struct hd__tpl_value *v, int64_t *ms,
                       int *utc);
/* "short".."full" (NULL: dflt) -> UDAT_* style; returns -1 for another word. */
int hd__tpl_date_style(const char *s, int dflt, int *out);
/* Formats ms in the render's zone (UTC when utc) with a cached format: date and
 * time styles (UDAT_*, UDAT_NONE) or, when skel is not NULL, a skeleton. */
int hd__tpl_date_text(struct hd__tpl_call *c, int64_t ms, int utc, int dstyle, int tstyle,
                      const char *skel, UChar *out, int32_t cap, int32_t *n);

#endif
