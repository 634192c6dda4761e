/*
 * The template store (contract in template_store.h). An index of templates
 * (tenant + key) in a chained hash table under a rwlock; each template holds
 * its versions, sorted, and an optional active pointer. A version keeps its
 * document, both to tell a replayed put from a conflicting one and as the
 * source its parts are compiled from, and is refcounted: a render takes a
 * reference under the read lock and does all its work outside it, so puts
 * and deletes never wait for renders.
 *
 * Compiled parts live in the engine's bounded cache (template_cache.c). Every
 * part is compiled at put time, which refuses a bad template and warms the
 * cache; a part the cache has dropped is compiled again from the version's
 * document on its next render. The cache key's version field carries a
 * store-unique serial rather than the version number, so a version deleted
 * and put again with other content never meets its old programs.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "templates/channel_limits.h"
#include "templates/template_store.h"

#define STORE_CACHE_ENTRIES 4096
#define LOCALE_MAX 36 /* longest locale key a document may use (BCP 47 tags are far shorter) */
#define PART_MAX 3    /* parts of the richest channel (email) */

struct part_spec {
    const char *name;
    enum hd_tpl_escape escape;
    size_t field; /* where it goes: offsetof(struct hd_content, ...) */
};

struct channel_spec {
    const char *name; /* the document's key */
    struct part_spec parts[PART_MAX];
    unsigned required; /* bit i: parts[i] must be written */
    unsigned any_of;   /* at least one of these parts must be written (0: no such rule) */
};

/* clang-format off */
#define PART(n, e, f) {n, HD_TPL_ESCAPE_##e, offsetof(struct hd_content, f)}
#define P(i) (1u << (i))
static const struct channel_spec channel_specs[HD_CH__CNT] = {
    [HD_CH_EMAIL] = {"email", {PART("subject", NONE, subject), PART("text", NONE, text),
                               PART("html", HTML, html)}, P(0), P(1) | P(2)},
    [HD_CH_SMS] = {"sms", {PART("text", NONE, text)}, P(0), 0},
    [HD_CH_PUSH] = {"push", {PART("title", NONE, title), PART("body", NONE, text)}, P(1), 0},
    [HD_CH_WHATSAPP] = {"whatsapp", {PART("text", NONE, text)}, P(0), 0},
    [HD_CH_CHAT] = {"chat", {PART("text", NONE, text)}, P(0), 0},
    [HD_CH_WEBHOOK] = {"webhook", {PART("body", JSON, text)}, P(0), 0},
    [HD_CH_IN_APP] = {"in_app", {PART("title", NONE, title), PART("text", NONE, text)}, P(1), 0},
};
#undef P
#undef PART
/* clang-format on */

struct version {
    int refs; /* atomic */
    int64_t number;
    uint64_t serial;
    int strict;
    json_t *doc;                /* owned; never modified */
    const char *tenant, *key;   /* borrowed from doc */
    json_t *locales, *partials; /* borrowed from doc; partials may be NULL */
};

struct tmpl {
    char *tenant, *key;
    uint64_t hash;
    struct version **vers; /* ascending numbers */
    size_t n, cap;
    int has_active;
    int64_t active;
    struct tmpl *chain;
};

struct hd_tpl_store {
    pthread_rwlock_t lock;
    struct tmpl **buckets;
    size_t nbuckets, ntmpl, nversions;
    uint64_t serial; /* atomic */
    struct hd_tpl_cache *cache;
    struct hd_channel_limits limits;
};

/* ---- versions ---------------------------------------------------------------------- */

static void version_release(struct version *v)
{
    if (v && __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        json_decref(v->doc);
        hd_free(v);
    }
}

static struct version *version_retain(struct version *v)
{
    __atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
    return v;
}

static struct version *version_new(struct hd_tpl_store *s, json_t *doc, int64_t number, int strict)
{
    struct version *v = hd_calloc(1, sizeof(*v));
    v->refs = 1;
    v->number = number;
    v->serial = __atomic_add_fetch(&s->serial, 1, __ATOMIC_RELAXED);
    v->strict = strict;
    v->doc = json_deep_copy(doc);
    if (!v->doc)
        abort(); /* jansson's only failure is out of memory */
    v->tenant = json_string_value(json_object_get(v->doc, "tenant_id"));
    v->key = json_string_value(json_object_get(v->doc, "key"));
    v->locales = json_object_get(v->doc, "locales");
    v->partials = json_object_get(v->doc, "partials");
    return v;
}

/* Partials come from the version's own document; a name it lacks renders empty. */
static int partial_resolve(void *opaque, const char *name, struct hd_buf *out, char *errstr,
                           size_t errstr_size)
{
    const struct version *v = opaque;
    json_t *p = v->partials ? json_object_get(v->partials, name) : NULL;
    if (!json_is_string(p))
        return HD_ERR_NOTFOUND;
    hd_buf_append(out, json_string_value(p), json_string_length(p));
    return HD_OK;
}

/* ---- errors ------------------------------------------------------------------------ */

/* Sets errstr to `template "k" version 3 locale "fr" part email.html: cause`. `cause` may
 * be errstr itself. Returns code. */
static int part_err(int code, char *errstr, size_t errstr_size, const struct version *v,
                    const char *locale, const char *channel, const char *part, const char *cause)
{
    char c[512];
    snprintf(c, sizeof(c), "%s", cause ? cause : "");
    return hd_seterr(code, errstr, errstr_size,
                     "template \"%s\" version %lld locale \"%s\" part %s.%s: %s", v->key,
                     (long long)v->number, locale, channel, part, c);
}

/* Sets errstr to `template "k" version 3: <fmt>` for a document that does not check. */
static int doc_err(char *errstr, size_t errstr_size, const struct version *v, const char *fmt, ...)
    HD_PRINTF(4, 5);

static int doc_err(char *errstr, size_t errstr_size, const struct version *v, const char *fmt, ...)
{
    char c[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c, sizeof(c), fmt, ap);
    va_end(ap);
    return hd_seterr(HD_ERR_INVALID, errstr, errstr_size, "template \"%s\" version %lld: %s",
                     v->key, (long long)v->number, c);
}

/* ---- compiling parts --------------------------------------------------------------- */

/* The cache key of one part. `buf` holds the locale field ("fr:email.html"). */
static void part_cache_key(const struct version *v, const char *locale,
                           const struct channel_spec *c, const struct part_spec *p, char *buf,
                           size_t size, struct hd_tpl_cache_key *k)
{
    snprintf(buf, size, "%s:%s.%s", locale, c->name, p->name);
    k->tenant = v->tenant;
    k->key = v->key;
    k->locale = buf;
    k->version = (int64_t)v->serial;
}

/*
 * Compiles a part. The resolver points at v: a compiled part may outlive v in
 * the cache, but only under v's serial, which nobody looks up once v is gone,
 * and a template calls its resolver only while it renders.
 */
static struct hd_tpl *part_compile(struct version *v, const struct channel_spec *c,
                                   const struct part_spec *p, json_t *src, char *errstr,
                                   size_t errstr_size)
{
    char name[32];
    snprintf(name, sizeof(name), "%s.%s", c->name, p->name);
    struct hd_tpl_resolver res = {partial_resolve, v};
    return hd_tpl_compile(name, json_string_value(src), json_string_length(src), &res, errstr,
                          errstr_size);
}

/* The compiled part from the cache, compiled again when the cache dropped it.
 * Returns a new reference, or NULL with errstr. */
static struct hd_tpl *part_get(struct hd_tpl_store *s, struct version *v, const char *locale,
                               const struct channel_spec *c, const struct part_spec *p, json_t *src,
                               char *errstr, size_t errstr_size)
{
    char kbuf[LOCALE_MAX + 32];
    struct hd_tpl_cache_key k;
    part_cache_key(v, locale, c, p, kbuf, sizeof(kbuf), &k);
    struct hd_tpl *t = hd_tpl_cache_get(s->cache, &k);
    if (t)
        return t;
    struct hd_tpl *fresh = part_compile(v, c, p, src, errstr, errstr_size);
    if (!fresh)
        return NULL;
    t = hd_tpl_cache_put(s->cache, &k, fresh);
    hd_tpl_release(fresh);
    return t;
}

/* ---- checking a document ----------------------------------------------------------- */

static int channel_by_name(const char *name)
{
    for (int i = 0; i < HD_CH__CNT; i++)
        if (!strcmp(channel_specs[i].name, name))
            return i;
    return -1;
}

static int part_by_name(const struct channel_spec *c, const char *name)
{
    for (int i = 0; i < PART_MAX && c->parts[i].name; i++)
        if (!strcmp(c->parts[i].name, name))
            return i;
    return -1;
}

/* Letters, digits, '-' and '_' only: keys become part of cache keys and messages. */
static int locale_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= LOCALE_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return 0;
    return 1;
}

/* Checks one channel object of a locale and compiles its parts into the cache. */
static int check_channel(struct hd_tpl_store *s, struct version *v, const char *locale,
                         const struct channel_spec *c, json_t *obj, char *errstr,
                         size_t errstr_size)
{
    if (!json_is_object(obj))
        return doc_err(errstr, errstr_size, v, "locales.%s.%s: expected an object of parts", locale,
                       c->name);
    unsigned seen = 0;
    const char *name;
    json_t *src;
    json_object_foreach(obj, name, src)
    {
        int i = part_by_name(c, name);
        if (i < 0 || !json_is_string(src))
            return doc_err(errstr, errstr_size, v, "locales.%s.%s.%s: %s", locale, c->name, name,
                           i < 0 ? "unknown part" : "expected a string");
        struct hd_tpl *t = part_get(s, v, locale, c, &c->parts[i], src, errstr, errstr_size);
        if (!t)
            return part_err(HD_ERR_INVALID, errstr, errstr_size, v, locale, c->name, name, errstr);
        hd_tpl_release(t);
        seen |= 1u << i;
    }
    unsigned missing = c->required & ~seen;
    if (missing || (c->any_of && !(c->any_of & seen)))
        return doc_err(errstr, errstr_size, v, "locales.%s.%s: needs %s", locale, c->name,
                       missing ? c->parts[__builtin_ctz(missing)].name : "text or html");
    return HD_OK;
}

static int check_locales(struct hd_tpl_store *s, struct version *v, char *errstr,
                         size_t errstr_size)
{
    if (!json_is_object(v->locales) || json_object_size(v->locales) == 0)
        return doc_err(errstr, errstr_size, v,
                       "locales: expected an object with at least one locale");
    const char *locale, *chname;
    json_t *lo, *ch;
    json_object_foreach(v->locales, locale, lo)
    {
        if (!locale_valid(locale) || !json_is_object(lo))
            return doc_err(errstr, errstr_size, v, "locales.%.40s: %s", locale,
                           json_is_object(lo) ? "not a locale tag" : "expected an object");
        json_object_foreach(lo, chname, ch)
        {
            int c = channel_by_name(chname);
            if (c < 0)
                return doc_err(errstr, errstr_size, v, "locales.%s.%s: unknown channel", locale,
                               chname);
            if (check_channel(s, v, locale, &channel_specs[c], ch, errstr, errstr_size))
                return HD_ERR_INVALID;
        }
    }
    return HD_OK;
}

/* Partials are compiled on their own too, so one no part uses yet is checked now. */
static int check_partials(struct version *v, char *errstr, size_t errstr_size)
{
    if (!v->partials)
        return HD_OK;
    if (!json_is_object(v->partials))
        return doc_err(errstr, errstr_size, v, "partials: expected an object of name -> template");
    const char *name;
    json_t *src;
    json_object_foreach(v->partials, name, src)
    {
        if (!json_is_string(src))
            return doc_err(errstr, errstr_size, v, "partials.%s: expected a string", name);
        char err[512];
        struct hd_tpl_resolver res = {partial_resolve, v};
        struct hd_tpl *t = hd_tpl_compile(name, json_string_value(src), json_string_length(src),
                                          &res, err, sizeof(err));
        if (!t)
            return doc_err(errstr, errstr_size, v, "partial \"%s\": %s", name, err);
        hd_tpl_release(t);
    }
    return HD_OK;
}

/* The integer member `name` when it is there: 1 (set *out), 0 (absent) or -1 (not >= 1). */
static int get_number(json_t *doc, const char *name, int64_t *out)
{
    json_t *j = json_object_get(doc, name);
    if (!j)
        return 0;
    if (!json_is_integer(j) || json_integer_value(j) < 1)
        return -1;
    *out = (int64_t)json_integer_value(j);
    return 1;
}

/* ---- the index --------------------------------------------------------------------- */

static uint64_t tmpl_hash(const char *tenant, const char *key)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a; the NUL separates tenant from key */
    for (const char *p = tenant;; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        if (!*p)
            break;
    }
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

static struct tmpl *tmpl_find(const struct hd_tpl_store *s, const char *tenant, const char *key)
{
    uint64_t h = tmpl_hash(tenant, key);
    for (struct tmpl *t = s->buckets[h & (s->nbuckets - 1)]; t; t = t->chain)
        if (t->hash == h && !strcmp(t->tenant, tenant) && !strcmp(t->key, key))
            return t;
    return NULL;
}

static void index_grow(struct hd_tpl_store *s)
{
    size_t n = s->nbuckets * 2;
    struct tmpl **b = hd_calloc(n, sizeof(*b));
    for (size_t i = 0; i < s->nbuckets; i++)
        for (struct tmpl *t = s->buckets[i], *next; t; t = next) {
            next = t->chain;
            t->chain = b[t->hash & (n - 1)];
            b[t->hash & (n - 1)] = t;
        }
    hd_free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
}

/* Call with the write lock. */
static struct tmpl *tmpl_get_or_add(struct hd_tpl_store *s, const char *tenant, const char *key)
{
    struct tmpl *t = tmpl_find(s, tenant, key);
    if (t)
        return t;
    if (s->ntmpl >= s->nbuckets)
        index_grow(s);
    t = hd_calloc(1, sizeof(*t));
    t->tenant = hd_strdup(tenant);
    t->key = hd_strdup(key);
    t->hash = tmpl_hash(tenant, key);
    t->chain = s->buckets[t->hash & (s->nbuckets - 1)];
    s->buckets[t->hash & (s->nbuckets - 1)] = t;
    s->ntmpl++;
    return t;
}

static void tmpl_free(struct tmpl *t)
{
    for (size_t i = 0; i < t->n; i++)
        version_release(t->vers[i]);
    hd_free(t->vers);
    hd_free(t->tenant);
    hd_free(t->key);
    hd_free(t);
}

/* A template with no version and no pointer left goes. Call with the write lock. */
static void tmpl_drop_if_empty(struct hd_tpl_store *s, struct tmpl *t)
{
    if (t->n || t->has_active)
        return;
    struct tmpl **pp = &s->buckets[t->hash & (s->nbuckets - 1)];
    while (*pp != t)
        pp = &(*pp)->chain;
    *pp = t->chain;
    s->ntmpl--;
    tmpl_free(t);
}

/* Index of version `number` in t, or -1 with *at set to where it would go. */
static ssize_t tmpl_version_at(const struct tmpl *t, int64_t number, size_t *at)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->vers[mid]->number < number)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (at)
        *at = lo;
    return lo < t->n && t->vers[lo]->number == number ? (ssize_t)lo : -1;
}

/* Is (tenant, key, number) stored? 0: no; 1: yes, equal to doc; HD_ERR_INVALID: yes, with
 * other content. Call with a lock. */
static int replay_check(const struct hd_tpl_store *s, const char *tenant, const char *key,
                        int64_t number, json_t *doc, char *errstr, size_t errstr_size)
{
    const struct tmpl *t = tmpl_find(s, tenant, key);
    ssize_t i = t ? tmpl_version_at(t, number, NULL) : -1;
    if (i < 0)
        return 0;
    if (json_equal(t->vers[i]->doc, doc))
        return 1;
    return hd_seterr(HD_ERR_INVALID, errstr, errstr_size,
                     "template \"%s\" version %lld already exists with other content; versions "
                     "are immutable: publish a new version",
                     key, (long long)number);
}

/* Adds v unless an equal or conflicting version got there first. Returns 1 when v was
 * added, else as replay_check. Call with the write lock. */
static int index_add(struct hd_tpl_store *s, struct version *v, char *errstr, size_t errstr_size)
{
    int rc = replay_check(s, v->tenant, v->key, v->number, v->doc, errstr, errstr_size);
    if (rc)
        return rc == 1 ? 0 : rc;
    struct tmpl *t = tmpl_get_or_add(s, v->tenant, v->key);
    size_t at;
    tmpl_version_at(t, v->number, &at);
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 4;
        t->vers = hd_realloc(t->vers, t->cap * sizeof(*t->vers));
    }
    memmove(&t->vers[at + 1], &t->vers[at], (t->n - at) * sizeof(*t->vers));
    t->vers[at] = v;
    t->n++;
    s->nversions++;
    return 1;
}

/* ---- put / delete ------------------------------------------------------------------ */

struct hd_tpl_store *hd_tpl_store_new(void)
{
    struct hd_tpl_store *s = hd_calloc(1, sizeof(*s));
    pthread_rwlock_init(&s->lock, NULL);
    s->nbuckets = 64;
    s->buckets = hd_calloc(s->nbuckets, sizeof(*s->buckets));
    s->cache = hd_tpl_cache_new(STORE_CACHE_ENTRIES);
    hd_channel_limits_default(&s->limits);
    return s;
}

void hd_tpl_store_destroy(struct hd_tpl_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nbuckets; i++)
        for (struct tmpl *t = s->buckets[i], *next; t; t = next) {
            next = t->chain;
            tmpl_free(t);
        }
    hd_free(s->buckets);
    hd_tpl_cache_destroy(s->cache);
    pthread_rwlock_destroy(&s->lock);
    hd_free(s);
}

void hd_tpl_store_limits(struct hd_tpl_store *s, struct hd_channel_limits *out)
{
    pthread_rwlock_rdlock(&s->lock);
    *out = s->limits;
    pthread_rwlock_unlock(&s->lock);
}

void hd_tpl_store_set_limits(struct hd_tpl_store *s, const struct hd_channel_limits *l)
{
    pthread_rwlock_wrlock(&s->lock);
    s->limits = *l;
    pthread_rwlock_unlock(&s->lock);
}

static int put_pointer(struct hd_tpl_store *s, const char *tenant, const char *key, int64_t active)
{
    pthread_rwlock_wrlock(&s->lock);
    struct tmpl *t = tmpl_get_or_add(s, tenant, key);
    t->has_active = 1;
    t->active = active;
    pthread_rwlock_unlock(&s->lock);
    return HD_OK;
}

static int put_version(struct hd_tpl_store *s, json_t *doc, const char *tenant, const char *key,
                       int64_t number, char *errstr, size_t errstr_size)
{
    json_t *strict = json_object_get(doc, "strict");
    if (strict && !json_is_boolean(strict))
        return hd_seterr(HD_ERR_INVALID, errstr, errstr_size,
                         "template \"%s\" version %lld: strict: expected true or false", key,
                         (long long)number);
    /* a replayed topic re-puts every version: answer it without compiling anything */
    pthread_rwlock_rdlock(&s->lock);
    int rc = replay_check(s, tenant, key, number, doc, errstr, errstr_size);
    pthread_rwlock_unlock(&s->lock);
    if (rc)
        return rc == 1 ? HD_OK : rc;
    struct version *v = version_new(s, doc, number, !strict || json_is_true(strict));
    rc = check_partials(v, errstr, errstr_size);
    if (rc == HD_OK)
        rc = check_locales(s, v, errstr, errstr_size);
    if (rc == HD_OK) {
        pthread_rwlock_wrlock(&s->lock);
        rc = index_add(s, v, errstr, errstr_size);
        pthread_rwlock_unlock(&s->lock);
    }
    if (rc != 1)
        version_release(v);
    return rc == 1 ? HD_OK : rc;
}

int hd_tpl_store_put(struct hd_tpl_store *s, json_t *doc, char *errstr, size_t errstr_size)
{
    const char *tenant = json_string_value(json_object_get(doc, "tenant_id"));
    const char *key = json_string_value(json_object_get(doc, "key"));
    if (!json_is_object(doc) || !tenant || !*tenant || !key || !*key)
        return hd_seterr(HD_ERR_INVALID, errstr, errstr_size,
                         "a template needs \"tenant_id\" and \"key\" (non-empty strings)");
    int64_t number = 0, active = 0;
    int has_number = get_number(doc, "version", &number);
    int has_active = get_number(doc, "active_version", &active);
    if (has_number < 0 || has_active < 0)
        return hd_seterr(HD_ERR_INVALID, errstr, errstr_size,
                         "template \"%s\": %s: expected an integer >= 1", key,
                         has_number < 0 ? "version" : "active_version");
    if (has_number == has_active)
        return hd_seterr(HD_ERR_INVALID, errstr, errstr_size,
                         "template \"%s\": needs either \"version\" (with \"locales\") or "
                         "\"active_version\"",
                         key);
    if (has_active)
        return put_pointer(s, tenant, key, active);
    return put_version(s, doc, tenant, key, number, errstr, errstr_size);
}

void hd_tpl_store_delete(struct hd_tpl_store *s, const char *tenant, const char *key,
                         int64_t version)
{
    if (!s || !tenant || !key)
        return;
    struct version *gone = NULL;
    pthread_rwlock_wrlock(&s->lock);
    struct tmpl *t = tmpl_find(s, tenant, key);
    if (t && version < 0) {
        t->has_active = 0;
    } else if (t) {
        ssize_t i = tmpl_version_at(t, version, NULL);
        if (i >= 0) {
            gone = t->vers[i];
            memmove(&t->vers[i], &t->vers[i + 1], (t->n - (size_t)i - 1) * sizeof(*t->vers));
            t->n--;
            s->nversions--;
        }
    }
    if (t)
        tmpl_drop_if_empty(s, t);
    pthread_rwlock_unlock(&s->lock);
    version_release(gone); /* a render holding it keeps it alive */
}

size_t hd_tpl_store_count(struct hd_tpl_store *s)
{
    pthread_rwlock_rdlock(&s->lock);
    size_t n = s->nversions;
    pthread_rwlock_unlock(&s->lock);
    return n;
}

/* ---- render ------------------------------------------------------------------------ */

/* The version a request asks for, with a new reference; NULL with errstr. Takes the
 * read lock, and copies the limits while it holds it. */
static struct version *version_pick(struct hd_tpl_store *s, const struct hd_tpl_store_req *req,
                                    struct hd_channel_limits *limits, char *errstr,
                                    size_t errstr_size)
{
    struct version *v = NULL;
    pthread_rwlock_rdlock(&s->lock);
    *limits = s->limits;
    const struct tmpl *t = tmpl_find(s, req->tenant, req->key);
    int64_t want = req->has_version ? req->version : t && t->has_active ? t->active : 0;
    ssize_t i = -1;
    if (t && (req->has_version || t->has_active))
        i = tmpl_version_at(t, want, NULL);
    else if (t)
        i = (ssize_t)t->n - 1;
    if (i >= 0)
        v = version_retain(t->vers[i]);
    pthread_rwlock_unlock(&s->lock);
    if (v)
        return v;
    if (!t || (!req->has_version && !t->has_active))
        hd_seterr(HD_ERR_NOTFOUND, errstr, errstr_size,
                  "template \"%s\" not found for tenant \"%s\"", req->key, req->tenant);
    else
        hd_seterr(HD_ERR_NOTFOUND, errstr, errstr_size, "template \"%s\" %s %lld not found",
                  req->key, req->has_version ? "version" : "active version", (long long)want);
    return NULL;
}

/* The document's locale key equal to the first len bytes of tag (case-insensitive, '_'
 * matching '-') and having the channel; NULL when none. */
static const char *locale_find(json_t *locales, const char *tag, size_t len, const char *channel)
{
    const char *k;
    json_t *lo;
    json_object_foreach(locales, k, lo)
    {
        if (strlen(k) != len || !json_object_get(lo, channel))
            continue;
        size_t i = 0;
        for (; i < len; i++) {
            char a = k[i] == '_' ? '-' : k[i], b = tag[i] == '_' ? '-' : tag[i];
            if ((a | 0x20) != (b | 0x20))
                break;
        }
        if (i == len)
            return k;
    }
    return NULL;
}

/* BCP 47 lookup (RFC 4647 3.4): the tag, then the tag cut before its last subtag, and so
 * on (zh-Hant-TW -> zh-Hant -> zh). */
static const char *locale_lookup(json_t *locales, const char *tag, const char *channel)
{
    size_t len = tag ? strlen(tag) : 0;
    while (len > 0) {
        const char *k = locale_find(locales, tag, len, channel);
        if (k)
            return k;
        while (len > 0 && tag[len - 1] != '-' && tag[len - 1] != '_')
            len--;
        if (len > 0)
            len--;
    }
    return NULL;
}

/*
 * The locale whose parts render: the request's, then the tenant default's, then "en".
 * *format is the tag that matched: "fr-CA" formats numbers and dates as in Canada even
 * when the words come from "fr".
 */
static const char *locale_choose(const struct version *v, const char *channel,
                                 const struct hd_tpl_store_req *req, const char **format)
{
    const char *tags[] = {req->locale, req->tenant_locale, "en"};
    for (size_t i = 0; i < HD_ARRAY_SIZE(tags); i++) {
        const char *k = locale_lookup(v->locales, tags[i], channel);
        if (k) {
            *format = tags[i];
            return k;
        }
    }
    return NULL;
}

/* Channel limits on the rendered parts; push parts may be cut. */
static int apply_limits(const struct hd_channel_limits *l, const struct version *v,
                        const char *locale, enum hd_channel ch, struct hd_buf *b, char *errstr,
                        size_t errstr_size)
{
    char err[256];
    const char *part = NULL;
    int rc = hd_limits_apply(l, ch, &b[0], &b[1], &part, err, sizeof(err));
    if (rc)
        return part_err(HD_ERR_INVALID, errstr, errstr_size, v, locale, channel_specs[ch].name,
                        part, err);
    return HD_OK;
}

static int render_part(struct hd_tpl_store *s, struct hd_tpl_renderer *r, struct version *v,
                       const char *locale, const struct channel_spec *c, const struct part_spec *p,
                       json_t *src, struct hd_tpl_render_opts *o, json_t *data, struct hd_buf *out,
                       char *errstr, size_t errstr_size)
{
    struct hd_tpl *t = part_get(s, v, locale, c, p, src, errstr, errstr_size);
    int rc = HD_ERR_INVALID;
    if (t) {
        o->escape = p->escape;
        rc = hd_tpl_render(r, t, data, o, out, errstr, errstr_size);
        hd_tpl_release(t);
    }
    if (rc)
        return part_err(HD_ERR_INVALID, errstr, errstr_size, v, locale, c->name, p->name, errstr);
    return HD_OK;
}

/* Renders the channel's parts of v in the chosen locale, then applies the limits. */
static int render_version(struct hd_tpl_store *s, struct hd_tpl_renderer *r, struct version *v,
                          const struct hd_channel_limits *limits,
                          const struct hd_tpl_store_req *req, struct hd_content *out, char *errstr,
                          size_t errstr_size)
{
    const struct channel_spec *c = &channel_specs[req->channel];
    const char *format = NULL;
    const char *locale = locale_choose(v, c->name, req, &format);
    if (!locale)
        return hd_seterr(HD_ERR_NOTFOUND, errstr, errstr_size,
                         "template \"%s\" version %lld has no %s part in locale \"%s\", the "
                         "tenant default \"%s\" or \"en\"",
                         v->key, (long long)v->number, c->name, req->locale ? req->locale : "",
                         req->tenant_locale ? req->tenant_locale : "");
    json_t *parts = json_object_get(json_object_get(v->locales, locale), c->name);
    struct hd_tpl_render_opts o = {HD_TPL_ESCAPE_NONE, v->strict, format, req->timezone,
                                   req->now_ms};
    struct hd_buf b[PART_MAX] = {HD_BUF_INIT, HD_BUF_INIT, HD_BUF_INIT};
    json_t *src[PART_MAX] = {NULL};
    int rc = HD_OK;
    for (int i = 0; i < PART_MAX && c->parts[i].name && rc == HD_OK; i++)
        if ((src[i] = json_object_get(parts, c->parts[i].name)))
            rc = render_part(s, r, v, locale, c, &c->parts[i], src[i], &o, req->data, &b[i], errstr,
                             errstr_size);
    if (rc == HD_OK)
        rc = apply_limits(limits, v, locale, req->channel, b, errstr, errstr_size);
    for (int i = 0; i < PART_MAX; i++) {
        if (rc == HD_OK && src[i])
            *(char **)((char *)out + c->parts[i].field) = hd_buf_steal(&b[i]);
        hd_buf_free(&b[i]);
    }
    return rc;
}

int hd_tpl_store_render(struct hd_tpl_store *s, struct hd_tpl_renderer *r,
                        const struct hd_tpl_store_req *req, struct hd_content *out, char *errstr,
                        size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    if (!req->tenant || !req->key || (unsigned)req->channel >= HD_CH__CNT)
        return hd_seterr(HD_ERR_INVALID, errstr, errstr_size,
                         "template render: tenant, key and a known channel are required");
    struct hd_channel_limits limits;
    struct version *v = version_pick(s, req, &limits, errstr, errstr_size);
    if (!v)
        return HD_ERR_NOTFOUND;
    int rc = render_version(s, r, v, &limits, req, out, errstr, errstr_size);
    version_release(v);
    return rc;
}
