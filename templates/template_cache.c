/*
 * Compiled-template cache: tenant/key/locale/version -> template. A hash table
 * of chained entries plus a least-recently-used list, under one mutex (a
 * lookup is a hash and a short chain walk, far cheaper than the render that
 * follows). Entries hold a reference, so evicting one that another thread is
 * rendering only drops the cache's reference.
 */
#include <stdio.h>
#include <string.h>

#include "templates/template_int.h"

struct entry {
    char *key;
    size_t key_len;
    uint64_t hash;
    struct hd_tpl *tpl;
    struct entry *chain;         /* next in the bucket */
    struct entry *newer, *older; /* LRU list */
};

struct hd_tpl_cache {
    pthread_mutex_t lock;
    struct entry **buckets;
    size_t nbuckets, n, max;
    struct entry *newest, *oldest;
    uint64_t hits, misses;
};

struct hd_tpl_cache *hd_tpl_cache_new(size_t max_entries)
{
    struct hd_tpl_cache *c = hd_calloc(1, sizeof(*c));
    c->max = max_entries ? max_entries : 1024;
    c->nbuckets = 16;
    while (c->nbuckets < c->max)
        c->nbuckets *= 2;
    c->buckets = hd_calloc(c->nbuckets, sizeof(*c->buckets));
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void hd_tpl_cache_destroy(struct hd_tpl_cache *c)
{
    if (!c)
        return;
    for (struct entry *e = c->newest, *next; e; e = next) {
        next = e->older;
        hd_tpl_release(e->tpl);
        hd_free(e->key);
        hd_free(e);
    }
    hd_free(c->buckets);
    pthread_mutex_destroy(&c->lock);
    hd_free(c);
}

/* "tenant\x1fkey\x1flocale\x1fversion" into buf; returns its length. */
static size_t make_key(const struct hd_tpl_cache_key *k, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s\x1f%s\x1f%s\x1f%lld", k->tenant ? k->tenant : "",
                     k->key ? k->key : "", k->locale ? k->locale : "", (long long)k->version);
    return n < 0 ? 0 : (size_t)n;
}

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static struct entry **slot_of(struct hd_tpl_cache *c, const char *key, size_t len, uint64_t h)
{
    struct entry **p = &c->buckets[h & (c->nbuckets - 1)];
    while (*p && ((*p)->hash != h || (*p)->key_len != len || memcmp((*p)->key, key, len)))
        p = &(*p)->chain;
    return p;
}

static void unlink_lru(struct hd_tpl_cache *c, struct entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void link_newest(struct hd_tpl_cache *c, struct entry *e)
{
    e->older = c->newest;
    e->newer = NULL;
    if (c->newest)
        c->newest->newer = e;
    c->newest = e;
    if (!c->oldest)
        c->oldest = e;
}

static void evict_oldest(struct hd_tpl_cache *c)
{
    struct entry *e = c->oldest;
    struct entry **p = slot_of(c, e->key, e->key_len, e->hash);
    *p = e->chain;
    unlink_lru(c, e);
    c->n--;
    hd_tpl_release(e->tpl);
    hd_free(e->key);
    hd_free(e);
}

struct hd_tpl *hd_tpl_cache_get(struct hd_tpl_cache *c, const struct hd_tpl_cache_key *k)
{
    char key[1024];
    size_t len = make_key(k, key, sizeof(key));
    if (len >= sizeof(key))
        return NULL; /* too long to cache: always a miss */
    uint64_t h = fnv1a(key, len);
    pthread_mutex_lock(&c->lock);
    struct entry *e = *slot_of(c, key, len, h);
    struct hd_tpl *t = NULL;
    if (e) {
        unlink_lru(c, e);
        link_newest(c, e);
        t = hd_tpl_retain(e->tpl);
        c->hits++;
    } else {
        c->misses++;
    }
    pthread_mutex_unlock(&c->lock);
    return t;
}

struct hd_tpl *hd_tpl_cache_put(struct hd_tpl_cache *c, const struct hd_tpl_cache_key *k,
                                struct hd_tpl *t)
{
    char key[1024];
    size_t len = make_key(k, key, sizeof(key));
    if (len >= sizeof(key))
        return hd_tpl_retain(t);
    uint64_t h = fnv1a(key, len);
    pthread_mutex_lock(&c->lock);
    struct entry **p = slot_of(c, key, len, h);
    if (*p) {
        t = (*p)->tpl;
    } else {
        struct entry *e = hd_calloc(1, sizeof(*e));
        e->key = hd_strndup(key, len);
        e->key_len = len;
        e->hash = h;
        e->tpl = hd_tpl_retain(t);
        *p = e;
        link_newest(c, e);
        if (++c->n > c->max)
            evict_oldest(c);
    }
    hd_tpl_retain(t);
    pthread_mutex_unlock(&c->lock);
    return t;
}

void hd_tpl_cache_stats(struct hd_tpl_cache *c, size_t *entries, uint64_t *hits, uint64_t *misses)
{
    pthread_mutex_lock(&c->lock);
    if (entries)
        *entries = c->n;
    if (hits)
        *hits = c->hits;
    if (misses)
        *misses = c->misses;
    pthread_mutex_unlock(&c->lock);
}
