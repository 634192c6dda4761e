/*
 * The template store: every tenant's templates, each a set of immutable
 * versions with per-locale, per-channel parts, and the lookups the render
 * processor needs. It is fed from the config file's "templates" list now and
 * from the compacted herald.templates topic (one record per version, and one
 * "active" pointer per template key) by the config tables; both use the JSON
 * documents below. Thread-safe: any number of tasks may render while another
 * thread puts or deletes. Nothing here knows about Kafka.
 *
 * A version document:
 *   {"tenant_id": "acme", "key": "order_confirmation", "version": 3,
 *    "locales": {
 *      "en": {"email":   {"subject": "...", "text": "...", "html": "..."},
 *             "sms":     {"text": "..."},
 *             "push":    {"title": "...", "body": "..."},
 *             "chat":    {"text": "..."}, "whatsapp": {"text": "..."},
 *             "in_app":  {"title": "...", "text": "..."},
 *             "webhook": {"body": "{\"order\": \"{{order_id}}\"}"}},
 *      "fr": {...}},
 *    "partials": {"footer": "..."},         (optional; shared by every locale)
 *    "strict": true}                        (optional, default true: see below)
 * Versions are integers >= 1. Locale keys are BCP 47 tags ("fr-CA"; matched
 * case-insensitively, "_" as "-"). Each channel object needs its parts: email
 * a subject and a text or html; sms, chat, whatsapp a text; push a body (title
 * optional); in_app a text (title optional); webhook a body. Unknown channels
 * and parts are refused, so a typo is an error at put, not a silent gap.
 * Strict (the default): a variable that is missing from the data is a render
 * error naming it (DESIGN.md: render errors name the missing variable);
 * sections, {{^x}}, if/unless/each/with still test for absence freely.
 * "strict": false renders a missing variable as "" as Mustache does.
 * Parts render into struct hd_content: email subject/text/html -> subject/
 * text/html; push title/body -> title/text; in_app title/text -> title/text;
 * sms, chat, whatsapp text and the webhook body -> text.
 * An active pointer document:
 *   {"tenant_id": "acme", "key": "order_confirmation", "active_version": 3}
 * Without a pointer the highest version is active. A pointer may name a
 * version not stored (yet): records of a compacted topic arrive in any order;
 * rendering the active version then fails with HD_ERR_NOTFOUND until it lands.
 */
#ifndef HD_TEMPLATE_STORE_H
#define HD_TEMPLATE_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/hd.h"
#include "schemas/records.h"
#include "templates/channel_limits.h"
#include "templates/template.h"

struct hd_tpl_store;

/* A new, empty store with the default channel limits. Compiled parts are kept in a
 * bounded cache of the store's own (parts it drops are compiled again on use). */
struct hd_tpl_store *hd_tpl_store_new(void);
/* Frees everything. No render may be running. Accepts NULL. */
void hd_tpl_store_destroy(struct hd_tpl_store *s);
/* The channel limits checked after render (a copy). */
void hd_tpl_store_limits(struct hd_tpl_store *s, struct hd_channel_limits *out);
/* Replaces the channel limits checked after render (copied). */
void hd_tpl_store_set_limits(struct hd_tpl_store *s, const struct hd_channel_limits *l);

/*
 * Adds a version or sets the active pointer, from a document above (borrowed).
 * A version is immutable: putting the same (tenant, key, version) again with
 * equal content is a no-op (a replayed topic), with different content it is
 * HD_ERR_INVALID and the stored version is kept. Every part is compiled here,
 * so a template that does not compile is refused with errstr naming the
 * template, version, locale, part, line and column (or the partial); so is a
 * document of the wrong shape, naming the field. Returns HD_OK or
 * HD_ERR_INVALID. Any thread.
 */
int hd_tpl_store_put(struct hd_tpl_store *s, json_t *doc, char *errstr, size_t errstr_size);
/* Removes one version (version >= 0) or the active pointer (version < 0); a render
 * already using the version finishes with it. Unknown names are ignored. */
void hd_tpl_store_delete(struct hd_tpl_store *s, const char *tenant, const char *key,
                         int64_t version);

/* What to render, and for whom. */
struct hd_tpl_store_req {
    const char *tenant;
    const char *key;
    int has_version; /* 0: the active version */
    int64_t version;
    const char *locale;        /* the request's, else the recipient's; may be NULL */
    const char *tenant_locale; /* the tenant's default; may be NULL */
    const char *timezone;      /* IANA; NULL = UTC */
    enum hd_channel channel;
    json_t *data;   /* the render context (borrowed) */
    int64_t now_ms; /* "now" for relativeTime; 0 = the wall clock */
};

/*
 * Renders the channel's parts of the template into `out` (overwritten
 * whole, not freed first: the parts the template has are newly allocated,
 * the other strings NULL and the data map empty; free with
 * hd_content_clear), choosing the locale by fallback (fr-CA -> fr -> tenant
 * default (cut the same way) -> en) among the locales that have the channel,
 * escaping by part (HTML for html, JSON-string for the webhook body, none
 * elsewhere), and checking channel limits (SMS segments, push lengths with
 * the truncation rule, e-mail subject). Numbers and dates are formatted in
 * the tag that matched ("fr-CA" even when the words come from "fr").
 * Version: req's when has_version, else the active pointer's, else the
 * highest. On error `out` holds nothing (nothing to free).
 * Returns HD_OK; HD_ERR_NOTFOUND (no such template, version, or no part for
 * the channel in any fallback locale) or HD_ERR_INVALID (render or limit
 * error), with errstr naming the template, version, locale, part, line,
 * column and cause. `r` is the caller's per-thread renderer. Any thread; the
 * store's lock is held only to find the version, never while rendering.
 */
int hd_tpl_store_render(struct hd_tpl_store *s, struct hd_tpl_renderer *r,
                        const struct hd_tpl_store_req *req, struct hd_content *out, char *errstr,
                        size_t errstr_size);

/* Number of versions held (pointers are not counted). */
size_t hd_tpl_store_count(struct hd_tpl_store *s);

#endif
