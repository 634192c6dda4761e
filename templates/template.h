/*
 * The template engine: Mustache as its spec defines it (including the
 * optional inheritance and dynamic-names modules), Handlebars-style block
 * helpers (if, unless, each, with, lookup) and ICU-backed formatters
 * (formatDate, formatNumber, formatCurrency, plural, relativeTime,
 * formatMessage for ICU MessageFormat, ...).
 *
 * A template is compiled once into an immutable program (struct hd_tpl), which
 * any number of threads may render at the same time. Partials are resolved
 * through a caller's callback: names written in the template are resolved and
 * compiled together with it; names only known at render time ({{>*name}},
 * {{<*name}}) on first use, then kept. Rendering goes through a renderer
 * (one per thread) whose buffers and ICU objects are kept and reused, so a
 * steady stream of renders allocates nothing on Herald's side; ICU 72 itself
 * allocates once per number it formats (a date's numeric fields included),
 * and an object printed as JSON goes through jansson
 * (docs/TEMPLATES.md, "Allocation"). Nothing here knows about Kafka.
 */
#ifndef HD_TEMPLATE_H
#define HD_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/hd.h"

/* How interpolated values are escaped ({{{x}}} and {{&x}} never are). */
enum hd_tpl_escape {
    HD_TPL_ESCAPE_HTML = 0, /* & < > " ' become entities: HTML parts (the default) */
    HD_TPL_ESCAPE_NONE,     /* as is: text, SMS, push, chat */
    HD_TPL_ESCAPE_JSON      /* JSON string contents (no quotes): webhook bodies */
};

/*
 * Partial source. Called with the partial's name; appends its text to `out`
 * and returns HD_OK, returns HD_ERR_NOTFOUND when there is no such partial
 * (it then renders as the empty string, as the spec says), or another
 * negative code with errstr set when the lookup itself failed. May be called
 * from any thread that renders a template using dynamic names.
 */
struct hd_tpl_resolver {
    int (*resolve)(void *opaque, const char *name, struct hd_buf *out, char *errstr,
                   size_t errstr_size);
    void *opaque;
};

struct hd_tpl;          /* compiled template and its partials; immutable, refcounted */
struct hd_tpl_renderer; /* per-thread render state; not thread-safe */

/*
 * Compiles `src` (len bytes, need not be NUL-terminated). `name` names the
 * template in error messages. Partials named in the template (and in those
 * partials, transitively) are fetched through `partials` now; the resolver is
 * copied and kept for dynamic names, so its opaque must outlive the returned
 * template when the template uses {{>*name}} or {{<*name}}. `partials` may be
 * NULL: every partial is then empty.
 * Returns a new template with one reference (release with hd_tpl_release),
 * or NULL with errstr naming the template, line, column and cause.
 */
struct hd_tpl *hd_tpl_compile(const char *name, const char *src, size_t len,
                              const struct hd_tpl_resolver *partials, char *errstr,
                              size_t errstr_size);
/* Adds a reference (thread-safe). Returns t. */
struct hd_tpl *hd_tpl_retain(struct hd_tpl *t);
/* Drops a reference; the last one frees the template. Accepts NULL. Thread-safe. */
void hd_tpl_release(struct hd_tpl *t);
/* The name given at compile time; borrowed, valid while t is. */
const char *hd_tpl_name(const struct hd_tpl *t);

struct hd_tpl_render_opts {
    enum hd_tpl_escape escape;
    int strict;           /* non-zero: a missing variable is an error, not "" */
    const char *locale;   /* BCP 47 ("fr-CA"); NULL = "en" */
    const char *timezone; /* IANA ("Europe/Paris"); NULL = "UTC" */
    int64_t now_ms;       /* the "now" of relativeTime; 0 = the wall clock */
};

/* A new renderer; free with hd_tpl_renderer_destroy. Use from one thread at a time. */
struct hd_tpl_renderer *hd_tpl_renderer_new(void);
/* Frees the renderer and its cached formatters. Accepts NULL. */
void hd_tpl_renderer_destroy(struct hd_tpl_renderer *r);
/*
 * The work the last hd_tpl_render on r did, in steps (nodes visited and loop
 * passes), whether it succeeded or not. A render stops with an error past
 * HD_TPL_MAX_STEPS steps (2^22 by default) or 16 MiB of output.
 */
uint64_t hd_tpl_renderer_steps(const struct hd_tpl_renderer *r);

/*
 * Renders t with `data` (borrowed; any JSON value) as the root context,
 * appending to `out`. `opts` may be NULL (HTML escaping, not strict, en, UTC).
 * Returns HD_OK, or HD_ERR_INVALID (the template or the data is at fault:
 * missing variable in strict mode, bad formatter value, recursion too deep,
 * a dynamic partial that does not compile) or the resolver's code, with
 * errstr naming the template, line, column and cause. On error `out` holds a
 * partial result; its length before the call is restored by the caller if
 * it wants all or nothing.
 */
int hd_tpl_render(struct hd_tpl_renderer *r, const struct hd_tpl *t, json_t *data,
                  const struct hd_tpl_render_opts *opts, struct hd_buf *out, char *errstr,
                  size_t errstr_size);

/* ---- compiled-template cache ------------------------------------------------
 * Keyed by tenant, template key, locale and version; bounded (least recently
 * used entries are dropped past max_entries); thread-safe. Entries are
 * refcounted, so dropping one while another thread renders it is safe. */

struct hd_tpl_cache;

struct hd_tpl_cache_key {
    const char *tenant;
    const char *key;
    const char *locale;
    int64_t version;
};

/* A new cache holding at most max_entries templates (0 means 1024). */
struct hd_tpl_cache *hd_tpl_cache_new(size_t max_entries);
/* Drops the cache's references. Accepts NULL. */
void hd_tpl_cache_destroy(struct hd_tpl_cache *c);
/* Returns a new reference to the cached template (caller releases), or NULL. */
struct hd_tpl *hd_tpl_cache_get(struct hd_tpl_cache *c, const struct hd_tpl_cache_key *k);
/*
 * Caches t under k (the cache takes its own reference; the caller keeps its
 * own). When another thread cached the same key first, that entry is kept.
 * Returns a new reference to the entry now cached (caller releases).
 */
struct hd_tpl *hd_tpl_cache_put(struct hd_tpl_cache *c, const struct hd_tpl_cache_key *k,
                                struct hd_tpl *t);
/* Number of entries, and lookups that hit and missed since creation. */
void hd_tpl_cache_stats(struct hd_tpl_cache *c, size_t *entries, uint64_t *hits, uint64_t *misses);

#endif
