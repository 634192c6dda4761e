/*
 * enrich: completes a request with its user's profile from the User Service
 * (connectors/user_service.h, docs/USER_SERVICE.md): the recipient's missing addresses and
 * settings, and the merged user render sees as user.* (profile.h).
 *
 * Profiles are cached per partition in the changelogged store "users" for cache_ttl_ms; a
 * user.updated record (read as a table, keyed like the requests) newer than the cached
 * profile replaces it, or drops it when its profile is null. A miss defers the record
 * (PENDING): drain fetches every miss of the transaction together (one search per tenant
 * and chunk) and resumes each record with its answer.
 *
 * When the service fails (after the client's retries) or a tenant's breaker is open, a
 * request whose channels all have an address in the request goes on with what it carries;
 * one that lacks an address is held in the durable "held" store (SCHEDULED with reason
 * user_service_unavailable) and tried again when the breaker lets a call through; after
 * max_hold_ms its channels without an address are FAILED user_service_unavailable. A user
 * the service does not know: FAILED unknown_user on the channels without an address
 * (bad_profile when its profile fails the checks); IN_APP and channels with an address go on.
 *
 * Without a URL (the default) enrich only merges the request's own recipient.
 */
#include <stdio.h>
#include <string.h>

#include "connectors/user_service.h"
#include "core/bytes.h"
#include "core/log.h"
#include "core/time.h"
#include "core/uuid.h"
#include "processors/processor.h"
#include "processors/profile.h"
#include "processors/timers.h"
#include "schemas/topics.h"
#include "state/store.h"

static const char *const enrich_stores[] = {"users", "held", NULL};
static const char *const enrich_tables[] = {HD_TOPIC_USER_UPDATED, NULL};

static const struct hd_conf_entry enrich_config[] = {
    {"url", HD_CONF_URL, NULL, "HERALD_USER_SERVICE_URL", 0, 0, 0,
     "the User Service's base URL; unset: requests go on with what they carry"},
    {"token_url", HD_CONF_URL, NULL, "HERALD_OIDC_TOKEN_URL", 0, 0, 0,
     "OAuth2 token endpoint (client credentials); unset: no token is sent"},
    {"client_id", HD_CONF_STRING, NULL, "HERALD_USER_SERVICE_CLIENT_ID", 0, 0, 0,
     "OAuth2 client id"},
    {"client_secret", HD_CONF_STRING, NULL, "HERALD_USER_SERVICE_CLIENT_SECRET", 0, 0, 0,
     "OAuth2 client secret"},
    {"cache_ttl_ms", HD_CONF_INT, "300000", "HERALD_USER_CACHE_TTL_MS", 0, 0, 604800000,
     "how long a fetched profile is used (0: never cached)"},
    {"timeout_ms", HD_CONF_INT, "5000", "HERALD_USER_SERVICE_TIMEOUT_MS", 0, 50, 120000,
     "timeout of one call"},
    {"concurrency", HD_CONF_INT, "8", "HERALD_USER_SERVICE_CONCURRENCY", 0, 1, 256,
     "calls at once"},
    {"chunk", HD_CONF_INT, "100", "HERALD_USER_SERVICE_CHUNK", 0, 1, 1000,
     "user ids per search call"},
    {"attempts", HD_CONF_INT, "3", "HERALD_USER_SERVICE_ATTEMPTS", 0, 1, 10,
     "attempts per call on timeouts, connection errors, 429 and 5xx"},
    {"backoff_ms", HD_CONF_INT, "100", "HERALD_USER_SERVICE_BACKOFF_MS", 0, 1, 60000,
     "delay before the first retry (doubles each time, with jitter)"},
    {"breaker_failures", HD_CONF_INT, "5", "HERALD_ENRICH_BREAKER_FAILURES", 0, 1, 1000,
     "consecutive failed calls that open a tenant's circuit breaker"},
    {"breaker_cooldown_ms", HD_CONF_INT, "30000", "HERALD_ENRICH_BREAKER_COOLDOWN_MS", 0, 100,
     3600000, "how long an open breaker waits before it lets one call through"},
    {"max_hold_ms", HD_CONF_INT, "600000", "HERALD_ENRICH_MAX_HOLD_MS", 0, 0, 86400000,
     "how long a request without an address waits for the User Service"},
    {NULL, 0, NULL, NULL, 0, 0, 0, NULL},
};

#define CACHE_FOUND 'F'
#define CACHE_UNKNOWN 'U'

/* A deferred record and its lookup. */
struct wait {
    struct hd_pending *p;
    struct hd_usvc_lookup *l;
    uint16_t channels; /* the channels the record had when deferred (dedup may drop some) */
    int owner;         /* the first wait of its user in the batch: frees the lookup */
};

/* A lookup started for a held request, answered by a later punctuation. */
struct probe {
    char *key; /* tenant/user */
    struct hd_usvc_lookup *l;
    int64_t started;
};

struct enrich {
    struct hd_usvc *svc; /* NULL without a URL */
    int64_t ttl, max_hold, cooldown;
    struct hd_timers held;
    struct wait *waits;
    size_t nwait, capwait;
    json_t *batch_lookups; /* tenant/user -> index into waits of the first with that user */
    struct probe *probes;
    size_t nprobe;
    struct hd_buf key, val;
    struct hd_record rec; /* a resumed record */
    long hits, misses, updates_used;
};

static void user_key(struct hd_buf *k, const struct hd_request *r)
{
    hd_buf_reset(k);
    hd_buf_printf(k, "%s/%s", r->tenant_id, r->user_id);
}

static uint16_t channel_mask(const struct hd_request *r)
{
    uint16_t m = 0;
    for (size_t i = 0; i < r->channel_cnt; i++)
        m |= (uint16_t)(1u << r->channels[i]);
    return m;
}

static void keep_channels(struct hd_request *r, uint16_t mask)
{
    size_t kept = 0;
    for (size_t i = 0; i < r->channel_cnt; i++)
        if (mask & (1u << r->channels[i]))
            r->channels[kept++] = r->channels[i];
    r->channel_cnt = kept;
}

/* Channels of r that lack the address they need. */
static uint16_t lacking(const struct hd_request *r)
{
    uint16_t m = 0;
    for (size_t i = 0; i < r->channel_cnt; i++)
        if (hd_profile_missing(r->recipient, r->channels[i]))
            m |= (uint16_t)(1u << r->channels[i]);
    return m;
}

/* FAILED with code for the channels of mask, which leave r. Returns the channels left. */
static size_t fail_channels(struct hd_ctx *ctx, struct hd_request *r, uint16_t mask,
                            const char *code, const char *reason)
{
    size_t kept = 0;
    for (size_t i = 0; i < r->channel_cnt; i++) {
        enum hd_channel ch = r->channels[i];
        if (!(mask & (1u << ch))) {
            r->channels[kept++] = ch;
            continue;
        }
        struct hd_status_event ev;
        char nid[HD_UUID_STRLEN], why[320];
        hd_ctx_status_for(ctx, &ev, r, ch, HD_ST_FAILED, nid);
        snprintf(why, sizeof(why), "%s (%s)", reason, hd_profile_missing(r->recipient, ch));
        ev.reason_code = (char *)code;
        ev.reason = why;
        hd_ctx_emit_status(ctx, &ev);
    }
    r->channel_cnt = kept;
    return kept;
}

/* ---- the cache ---- */

/* The cached answer for r: 1 with *profile (a new reference, NULL for a user the service
 * does not know), 0 for none. A user.updated newer than the cached answer wins. */
static int cached(struct enrich *e, struct hd_ctx *ctx, const struct hd_request *r,
                  json_t **profile)
{
    *profile = NULL;
    user_key(&e->key, r);
    struct hd_store *st = hd_ctx_store(ctx, "users");
    struct hd_store *up = hd_ctx_store(ctx, HD_TOPIC_USER_UPDATED);
    if (up && hd_store_never_held(up))
        up = NULL;
    char err[256];
    int64_t fetched = -1;
    int have = 0;
    if (st && hd_store_get(st, e->key.data, e->key.len, hd_ctx_now(ctx), &e->val, err,
                           sizeof(err)) == 1 &&
        e->val.len >= 9) {
        const unsigned char *v = (const unsigned char *)e->val.data;
        fetched = (int64_t)hd_be64_get(v + 1);
        if (v[0] == CACHE_FOUND) {
            json_error_t jerr;
            *profile = json_loadb((const char *)v + 9, e->val.len - 9, 0, &jerr);
            have = *profile != NULL;
        } else {
            have = 1;
        }
    }
    if (up && hd_store_get(up, e->key.data, e->key.len, hd_ctx_now(ctx), &e->val, err,
                           sizeof(err)) == 1) {
        json_t *ev = hd_serde_decode_json(hd_ctx_serde(ctx), e->val.data, e->val.len, NULL,
                                          err, sizeof(err));
        json_t *at = json_object_get(ev, "occurred_at");
        if (ev && json_is_integer(at) && json_integer_value(at) >= fetched) {
            const char *pj = json_string_value(json_object_get(ev, "profile_json"));
            json_error_t jerr;
            json_t *p = pj ? json_loads(pj, 0, &jerr) : NULL;
            json_decref(*profile);
            *profile = NULL;
            have = 0;
            if (p && !hd_profile_check(p, err, sizeof(err))) {
                *profile = p;
                have = 1;
                e->updates_used++;
            } else {
                json_decref(p); /* dropped, or unusable: fetch */
            }
        }
        json_decref(ev);
    }
    return have;
}

static void cache_put(struct enrich *e, struct hd_ctx *ctx, const struct hd_request *r,
                      json_t *profile)
{
    struct hd_store *st = hd_ctx_store(ctx, "users");
    if (!st || e->ttl <= 0)
        return;
    user_key(&e->key, r);
    hd_buf_reset(&e->val);
    hd_buf_putc(&e->val, profile ? CACHE_FOUND : CACHE_UNKNOWN);
    unsigned char at[8];
    hd_be64_put(at, (uint64_t)hd_ctx_now(ctx));
    hd_buf_append(&e->val, at, 8);
    if (profile) {
        char *s = json_dumps(profile, JSON_COMPACT);
        hd_buf_puts(&e->val, s);
        free(s);
    }
    char err[256];
    if (hd_store_put(st, e->key.data, e->key.len, e->val.data, e->val.len,
                     hd_ctx_now(ctx) + e->ttl, err, sizeof(err)))
        hd_log_warn("enrich", "cache: %s", err);
}

/* ---- outcomes ---- */

/* Merges what is known of the user into rec; an unknown (or unusable) user fails the
 * channels without an address. Returns HD_PASS, or HD_DONE when no channel is left. */
static enum hd_verdict apply(struct hd_ctx *ctx, struct hd_record *rec, json_t *profile,
                             const char *unknown_code, const char *unknown_why)
{
    json_decref(rec->user);
    rec->user = hd_profile_merge(&rec->req, profile);
    if (!unknown_code)
        return HD_PASS;
    uint16_t miss = lacking(&rec->req);
    if (miss && !fail_channels(ctx, &rec->req, miss, unknown_code, unknown_why))
        return HD_DONE;
    return HD_PASS;
}

/* The service could not answer: go on with what the request carries, hold it, or (held
 * past max_hold) fail the channels without an address. since: when first held (0: now). */
static enum hd_verdict unavailable(struct enrich *e, struct hd_ctx *ctx, struct hd_record *rec,
                                   int64_t since, const char *why)
{
    json_decref(rec->user);
    rec->user = hd_profile_merge(&rec->req, NULL);
    uint16_t miss = lacking(&rec->req);
    if (!miss)
        return HD_PASS;
    int64_t now = hd_ctx_now(ctx), first = since > 0 ? since : now;
    if (now - first >= e->max_hold) {
        char reason[320];
        snprintf(reason, sizeof(reason), "the User Service did not answer in %lld ms: %s",
                 (long long)(now - first), why);
        return fail_channels(ctx, &rec->req, miss, "user_service_unavailable", reason)
                   ? HD_PASS
                   : HD_DONE;
    }
    int64_t due = hd_usvc_retry_at(e->svc, rec->req.tenant_id);
    if (due <= now)
        due = now + e->cooldown;
    if (due > first + e->max_hold)
        due = first + e->max_hold;
    char err[256];
    if (hd_timers_hold(&e->held, ctx, rec, due, first, err, sizeof(err)))
        return hd_ctx_retry(ctx, "state_error", "%s", err);
    if (!since) {
        char reason[320];
        snprintf(reason, sizeof(reason), "held until %lld: %s", (long long)due, why);
        hd_timers_statuses(ctx, &rec->req, HD_ST_SCHEDULED, "user_service_unavailable", reason);
    }
    return HD_HOLD;
}

/* What the service said of the user, merged into rec: a profile, or NULL for a user it
 * does not know (the channels without an address fail unknown_user). */
static enum hd_verdict apply_known(struct hd_ctx *ctx, struct hd_record *rec, json_t *profile)
{
    char why[256];
    snprintf(why, sizeof(why), "user %s is not known to the User Service", rec->req.user_id);
    return apply(ctx, rec, profile, profile ? NULL : "unknown_user", why);
}

static enum hd_verdict answer(struct enrich *e, struct hd_ctx *ctx, struct hd_record *rec,
                              const struct hd_usvc_lookup *l, int64_t since)
{
    char why[256];
    switch (l->state) {
    case HD_USVC_FOUND:
    case HD_USVC_UNKNOWN:
        cache_put(e, ctx, &rec->req, l->profile); /* NULL for UNKNOWN */
        return apply_known(ctx, rec, l->profile);
    case HD_USVC_BAD:
        snprintf(why, sizeof(why), "the User Service's profile is unusable: %s", l->error);
        return apply(ctx, rec, NULL, "bad_profile", why);
    default:
        return unavailable(e, ctx, rec, since,
                           l->state == HD_USVC_FAILED ? l->error : "no answer in time");
    }
}

/* ---- process and drain ---- */

static enum hd_verdict enrich_process(void *self, struct hd_ctx *ctx, struct hd_record *rec)
{
    struct enrich *e = self;
    struct hd_request *r = &rec->req;
    if (!e->svc)
        return apply(ctx, rec, NULL, NULL, NULL);
    json_t *profile;
    if (cached(e, ctx, r, &profile)) {
        e->hits++;
        enum hd_verdict v = apply_known(ctx, rec, profile);
        json_decref(profile);
        return v;
    }
    e->misses++;
    if (!hd_usvc_allowed(e->svc, r->tenant_id, hd_ctx_now(ctx)))
        return unavailable(e, ctx, rec, 0, "its circuit breaker is open");
    struct hd_pending *p = hd_ctx_defer(ctx);
    if (!p)
        return hd_ctx_retry(ctx, "no_pending_slot", "enrich could not defer the record");
    if (e->nwait == e->capwait) {
        e->capwait = e->capwait ? e->capwait * 2 : 64;
        e->waits = hd_realloc(e->waits, e->capwait * sizeof(*e->waits));
    }
    struct wait *w = &e->waits[e->nwait];
    w->p = p;
    w->channels = channel_mask(r);
    user_key(&e->key, r);
    json_t *first = json_object_get(e->batch_lookups, e->key.data);
    w->owner = !first;
    w->l = first ? NULL : hd_usvc_lookup(e->svc, r->tenant_id, r->user_id);
    if (first)
        w->l = e->waits[json_integer_value(first)].l;
    else
        json_object_set_new(e->batch_lookups, e->key.data, json_integer((json_int_t)e->nwait));
    e->nwait++;
    return HD_PENDING;
}

static void forget_waits(struct enrich *e)
{
    for (size_t i = 0; i < e->nwait; i++)
        if (e->waits[i].owner)
            hd_usvc_lookup_free(e->svc, e->waits[i].l);
    e->nwait = 0;
    json_object_clear(e->batch_lookups);
}

static void enrich_drain(void *self, struct hd_ctx *ctx, int64_t deadline_ms)
{
    struct enrich *e = self;
    hd_usvc_run(e->svc, deadline_ms);
    for (size_t i = 0; i < e->nwait; i++) {
        struct wait *w = &e->waits[i];
        const struct hd_envelope *src = hd_ctx_pending_source(w->p);
        struct hd_record *rec = &e->rec;
        char err[512];
        hd_request_clear(&rec->req);
        json_decref(rec->user);
        rec->user = NULL;
        rec->kind = HD_PAYLOAD_REQUEST;
        if (hd_request_decode(hd_ctx_serde(ctx), src->value, src->value_len, &rec->req, err,
                              sizeof(err))) {
            /* it decoded when consumed: only memory could make this fail */
            hd_ctx_enter(ctx, w->p);
            hd_ctx_complete(ctx, w->p, hd_ctx_error(ctx, "internal", "%s", err));
            continue;
        }
        keep_channels(&rec->req, w->channels);
        rec->src = src;
        hd_ctx_enter(ctx, w->p);
        enum hd_verdict v = answer(e, ctx, rec, w->l, 0);
        if (v == HD_PASS)
            hd_ctx_resume(ctx, w->p, rec);
        else
            hd_ctx_complete(ctx, w->p, v == HD_RETRY ? HD_ERROR : HD_PASS);
    }
    hd_request_clear(&e->rec.req);
    json_decref(e->rec.user);
    e->rec.user = NULL;
    forget_waits(e);
}

static void enrich_abandon(void *self)
{
    forget_waits(self);
}

/* ---- held requests ---- */

static struct probe *probe_of(struct enrich *e, const char *key)
{
    for (size_t i = 0; i < e->nprobe; i++)
        if (!strcmp(e->probes[i].key, key))
            return &e->probes[i];
    return NULL;
}

static void probe_drop(struct enrich *e, struct probe *p)
{
    hd_usvc_lookup_free(e->svc, p->l);
    hd_free(p->key);
    *p = e->probes[--e->nprobe];
}

/* A held request came due: its answer (cached meanwhile, or fetched by a probe), or
 * another wait. */
static void release_held(struct enrich *e, struct hd_ctx *ctx)
{
    struct hd_record *rec = &e->held.rec;
    int64_t now = hd_ctx_now(ctx), since = e->held.since;
    /* held again below from its source as consumed; forwarded with src NULL (processor.h) */
    rec->src = &e->held.src;
    json_t *profile;
    enum hd_verdict v;
    char key[512];
    snprintf(key, sizeof(key), "%s/%s", rec->req.tenant_id, rec->req.user_id);
    struct probe *pr = probe_of(e, key);
    if (cached(e, ctx, &rec->req, &profile)) {
        v = apply_known(ctx, rec, profile);
        json_decref(profile);
    } else if (pr && pr->l->state != HD_USVC_WAITING) {
        v = answer(e, ctx, rec, pr->l, since);
        probe_drop(e, pr); /* used: a found profile is cached now, a failure asks again */
    } else if (now - since < e->max_hold &&
               (pr || hd_usvc_allowed(e->svc, rec->req.tenant_id, now))) {
        /* ask now (unless the answer is on its way already), without waiting: a later
         * punctuation takes the answer */
        if (!pr) {
            e->probes = hd_realloc(e->probes, (e->nprobe + 1) * sizeof(*e->probes));
            e->probes[e->nprobe++] =
                (struct probe){hd_strdup(key),
                               hd_usvc_lookup(e->svc, rec->req.tenant_id, rec->req.user_id),
                               now};
        }
        char err[256];
        if (hd_timers_hold(&e->held, ctx, rec, now + 250, since, err, sizeof(err)))
            hd_ctx_fail(ctx, err); /* the entry was taken: abort, it stays */
        rec->src = NULL;
        return;
    } else {
        v = unavailable(e, ctx, rec, since, "its circuit breaker is open");
    }
    rec->src = NULL;
    if (v == HD_PASS)
        hd_ctx_forward(ctx, rec, &e->held.src);
    else if (v == HD_RETRY)
        hd_ctx_fail(ctx, "enrich: a held request could not be held again");
}

static void enrich_punctuate(void *self, struct hd_ctx *ctx, int64_t now_ms)
{
    struct enrich *e = self;
    if (!e->svc)
        return;
    int n = hd_timers_collect(&e->held, ctx, now_ms);
    for (int i = 0; i < n; i++) {
        int got = hd_timers_take(&e->held, ctx, (size_t)i);
        if (got < 0)
            break;
        if (got)
            release_held(e, ctx);
        hd_request_clear(&e->held.rec.req);
    }
    /* answered probes no held request took within a minute (its partition moved) */
    for (size_t i = 0; i < e->nprobe;)
        if (e->probes[i].l->state != HD_USVC_WAITING && now_ms - e->probes[i].started > 60000)
            probe_drop(e, &e->probes[i]);
        else
            i++;
    hd_usvc_run(e->svc, 0); /* the probes' calls go on between transactions */
}

static int enrich_init(void **self, const struct hd_task_env *env, char *errstr,
                       size_t errstr_size)
{
    if (!env->conf)
        return hd_seterr(-1, errstr, errstr_size, "enrich: its settings were not loaded");
    struct enrich *e = hd_calloc(1, sizeof(*e));
    const struct hd_conf *c = env->conf;
    e->ttl = hd_conf_int(c, "cache_ttl_ms");
    e->max_hold = hd_conf_int(c, "max_hold_ms");
    e->cooldown = hd_conf_int(c, "breaker_cooldown_ms");
    e->batch_lookups = json_object();
    hd_timers_init(&e->held, "held", 500);
    const char *url = hd_conf_str(c, "url");
    if (url && *url) {
        struct hd_usvc_conf uc = {
            .url = url,
            .token_url = hd_conf_str(c, "token_url"),
            .client_id = hd_conf_str(c, "client_id"),
            .client_secret = hd_conf_str(c, "client_secret"),
            .timeout_ms = (long)hd_conf_int(c, "timeout_ms"),
            .concurrency = (int)hd_conf_int(c, "concurrency"),
            .chunk = (int)hd_conf_int(c, "chunk"),
            .attempts = (int)hd_conf_int(c, "attempts"),
            .backoff_ms = (long)hd_conf_int(c, "backoff_ms"),
            .breaker_failures = (int)hd_conf_int(c, "breaker_failures"),
            .breaker_cooldown_ms = (long)e->cooldown,
        };
        if (uc.token_url && (!uc.client_id || !uc.client_secret)) {
            hd_timers_fini(&e->held);
            json_decref(e->batch_lookups);
            hd_free(e);
            return hd_seterr(-1, errstr, errstr_size, "enrich: HERALD_OIDC_TOKEN_URL needs "
                             "HERALD_USER_SERVICE_CLIENT_ID and _CLIENT_SECRET");
        }
        if (!(e->svc = hd_usvc_new(&uc, errstr, errstr_size))) {
            hd_timers_fini(&e->held);
            json_decref(e->batch_lookups);
            hd_free(e);
            return -1;
        }
    }
    *self = e;
    return 0;
}

static void enrich_exit(void *self)
{
    struct enrich *e = self;
    forget_waits(e);
    while (e->nprobe)
        probe_drop(e, &e->probes[0]);
    if (e->svc) {
        const struct hd_usvc_stats *s = hd_usvc_stats(e->svc);
        hd_log_info("enrich", "cache hits %ld, misses %ld (user.updated used %ld); user service "
                    "calls: search %ld, get %ld, token %ld, retries %ld, failed %ld, breaker "
                    "opened %ld", e->hits, e->misses, e->updates_used, s->search_calls,
                    s->get_calls, s->token_calls, s->retries, s->failed_calls, s->breaker_opens);
    }
    hd_usvc_destroy(e->svc);
    hd_free(e->waits);
    hd_free(e->probes);
    json_decref(e->batch_lookups);
    hd_timers_fini(&e->held);
    hd_request_clear(&e->rec.req);
    json_decref(e->rec.user);
    hd_buf_free(&e->key);
    hd_buf_free(&e->val);
    hd_free(e);
}

const struct hd_processor hd_proc_enrich = {
    .name = "enrich",
    .input = HD_PAYLOAD_REQUEST,
    .init = enrich_init,
    .process = enrich_process,
    .punctuate = enrich_punctuate,
    .exit = enrich_exit,
    .drain = enrich_drain,
    .abandon = enrich_abandon,
    .stores = enrich_stores,
    .tables = enrich_tables,
    .config = enrich_config,
};
