/*
 * The User Service client on libcurl multi (user_service.h).
 */
#include "connectors/user_service.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/hd.h"
#include "core/log.h"
#include "core/time.h"
#include "processors/profile.h"

enum call_kind { CALL_SEARCH = 0, CALL_GET, CALL_TOKEN };

struct call {
    enum call_kind kind;
    char *tenant;
    struct hd_usvc_lookup **items; /* NULL where the caller freed a lookup */
    size_t n;
    CURL *easy;
    struct curl_slist *hdrs;
    struct hd_buf body, resp;
    char *url;
    int attempt;         /* attempts made */
    int reauth;          /* sent again after a 401 already */
    int64_t not_before;  /* monotonic ms: a retry's backoff */
    int running;
    struct call *next;
};

struct breaker {
    char *tenant;
    int fails;
    enum hd_breaker st;
    int64_t opened_at; /* wall-clock ms */
    int probing;
};

struct hd_usvc {
    struct hd_usvc_conf c;
    char *url, *token_url, *client_id, *client_secret;
    CURLM *multi;
    struct hd_usvc_lookup **queued;
    size_t nq, capq;
    struct call *calls;
    int running;
    char *token;
    int64_t token_exp; /* monotonic ms */
    struct call *token_call;
    int no_search; /* search answered 404/405: GET per id from now on */
    struct breaker *br;
    size_t nbr;
    struct hd_usvc_stats stats;
    unsigned rnd;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t mono_ms(void)
{
    return hd_mono_us() / 1000;
}

struct hd_usvc *hd_usvc_new(const struct hd_usvc_conf *c, char *errstr, size_t errstr_size)
{
    if (!c->url || strncmp(c->url, "http", 4))
        return hd_seterr(0, errstr, errstr_size, "user service URL: expected http(s)://..."),
               NULL;
    pthread_once(&curl_once, curl_init);
    struct hd_usvc *u = hd_calloc(1, sizeof(*u));
    u->c = *c;
    u->url = hd_strdup(c->url);
    size_t n = strlen(u->url);
    while (n && u->url[n - 1] == '/')
        u->url[--n] = '\0';
    u->token_url = c->token_url && *c->token_url ? hd_strdup(c->token_url) : NULL;
    u->client_id = hd_strdup(c->client_id ? c->client_id : "");
    u->client_secret = hd_strdup(c->client_secret ? c->client_secret : "");
    u->c.concurrency = c->concurrency > 0 ? c->concurrency : 4;
    u->c.chunk = c->chunk > 0 ? c->chunk : 100;
    u->c.attempts = c->attempts > 0 ? c->attempts : 3;
    u->c.timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : 5000;
    u->c.breaker_failures = c->breaker_failures > 0 ? c->breaker_failures : 5;
    u->rnd = (unsigned)hd_mono_us();
    if (!(u->multi = curl_multi_init())) {
        hd_usvc_destroy(u);
        return hd_seterr(0, errstr, errstr_size, "curl_multi_init failed"), NULL;
    }
    curl_multi_setopt(u->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)u->c.concurrency);
    return u;
}

static void call_free(struct hd_usvc *u, struct call *k)
{
    if (k->easy) {
        if (k->running)
            curl_multi_remove_handle(u->multi, k->easy);
        curl_easy_cleanup(k->easy);
    }
    for (size_t i = 0; i < k->n; i++)
        if (k->items[i] && k->items[i]->call_ == k)
            k->items[i]->call_ = NULL;
    curl_slist_free_all(k->hdrs);
    hd_buf_free(&k->body);
    hd_buf_free(&k->resp);
    hd_free(k->url);
    hd_free(k->items);
    hd_free(k->tenant);
    hd_free(k);
}

static void unlink_call(struct hd_usvc *u, struct call *k)
{
    for (struct call **p = &u->calls; *p; p = &(*p)->next)
        if (*p == k) {
            *p = k->next;
            break;
        }
    if (k->running)
        u->running--;
    if (u->token_call == k)
        u->token_call = NULL;
    call_free(u, k);
}

void hd_usvc_destroy(struct hd_usvc *u)
{
    if (!u)
        return;
    while (u->calls)
        unlink_call(u, u->calls);
    for (size_t i = 0; i < u->nq; i++)
        hd_usvc_lookup_free(u, u->queued[i]);
    hd_free(u->queued);
    for (size_t i = 0; i < u->nbr; i++)
        hd_free(u->br[i].tenant);
    hd_free(u->br);
    if (u->multi)
        curl_multi_cleanup(u->multi);
    hd_free(u->url);
    hd_free(u->token_url);
    hd_free(u->client_id);
    hd_free(u->client_secret);
    hd_free(u->token);
    hd_free(u);
}

struct hd_usvc_lookup *hd_usvc_lookup(struct hd_usvc *u, const char *tenant, const char *user)
{
    struct hd_usvc_lookup *l = hd_calloc(1, sizeof(*l));
    l->tenant = hd_strdup(tenant);
    l->user = hd_strdup(user);
    if (u->nq == u->capq) {
        u->capq = u->capq ? u->capq * 2 : 64;
        u->queued = hd_realloc(u->queued, u->capq * sizeof(*u->queued));
    }
    u->queued[u->nq++] = l;
    return l;
}

void hd_usvc_lookup_free(struct hd_usvc *u, struct hd_usvc_lookup *l)
{
    if (!l)
        return;
    struct call *k = l->call_;
    for (size_t i = 0; k && i < k->n; i++)
        if (k->items[i] == l)
            k->items[i] = NULL;
    for (size_t i = 0; i < u->nq; i++)
        if (u->queued[i] == l) {
            u->queued[i] = u->queued[--u->nq];
            break;
        }
    json_decref(l->profile);
    hd_free(l->tenant);
    hd_free(l->user);
    hd_free(l);
}

/* ---- the breaker ---- */

static struct breaker *breaker_of(struct hd_usvc *u, const char *tenant, int make)
{
    for (size_t i = 0; i < u->nbr; i++)
        if (!strcmp(u->br[i].tenant, tenant))
            return &u->br[i];
    if (!make)
        return NULL;
    u->br = hd_realloc(u->br, (u->nbr + 1) * sizeof(*u->br));
    struct breaker *b = &u->br[u->nbr++];
    memset(b, 0, sizeof(*b));
    b->tenant = hd_strdup(tenant);
    return b;
}

enum hd_breaker hd_usvc_breaker(struct hd_usvc *u, const char *tenant, int64_t now_ms)
{
    struct breaker *b = breaker_of(u, tenant, 0);
    if (!b)
        return HD_BREAKER_CLOSED;
    if (b->st == HD_BREAKER_OPEN && now_ms - b->opened_at >= u->c.breaker_cooldown_ms) {
        b->st = HD_BREAKER_HALF_OPEN;
        b->probing = 0;
    }
    return b->st;
}

int hd_usvc_allowed(struct hd_usvc *u, const char *tenant, int64_t now_ms)
{
    enum hd_breaker st = hd_usvc_breaker(u, tenant, now_ms);
    if (st == HD_BREAKER_CLOSED)
        return 1;
    return st == HD_BREAKER_HALF_OPEN && !breaker_of(u, tenant, 0)->probing;
}

int64_t hd_usvc_retry_at(struct hd_usvc *u, const char *tenant)
{
    struct breaker *b = breaker_of(u, tenant, 0);
    return b && b->st != HD_BREAKER_CLOSED ? b->opened_at + u->c.breaker_cooldown_ms : 0;
}

const struct hd_usvc_stats *hd_usvc_stats(const struct hd_usvc *u)
{
    return &u->stats;
}

static void breaker_result(struct hd_usvc *u, const char *tenant, int ok)
{
    struct breaker *b = breaker_of(u, tenant, !ok);
    if (!b)
        return;
    b->probing = 0;
    if (ok) {
        if (b->st != HD_BREAKER_CLOSED)
            hd_log_info("enrich", "user service: breaker of tenant %s closed", tenant);
        b->fails = 0;
        b->st = HD_BREAKER_CLOSED;
        return;
    }
    b->fails++;
    if (b->st == HD_BREAKER_OPEN ||
        (b->st == HD_BREAKER_CLOSED && b->fails < u->c.breaker_failures))
        return;
    b->st = HD_BREAKER_OPEN;
    b->opened_at = hd_now_ms();
    u->stats.breaker_opens++;
    hd_log_warn("enrich", "user service: breaker of tenant %s open for %ld ms after %d failed "
                "calls", tenant, u->c.breaker_cooldown_ms, b->fails);
}

/* ---- calls ---- */

static size_t on_body(char *p, size_t size, size_t n, void *opaque)
{
    hd_buf_append(opaque, p, size * n);
    return size * n;
}

static struct call *call_new(struct hd_usvc *u, enum call_kind kind, const char *tenant)
{
    struct call *k = hd_calloc(1, sizeof(*k));
    k->kind = kind;
    k->tenant = tenant ? hd_strdup(tenant) : NULL;
    k->next = u->calls;
    u->calls = k;
    return k;
}

static void call_add_item(struct call *k, struct hd_usvc_lookup *l)
{
    k->items = hd_realloc(k->items, (k->n + 1) * sizeof(*k->items));
    k->items[k->n++] = l;
    l->call_ = k;
}

static void get_calls_for(struct hd_usvc *u, const char *tenant, struct hd_usvc_lookup **ls,
                          size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ls[i])
            call_add_item(call_new(u, CALL_GET, tenant), ls[i]);
}

/* Queued lookups -> one search per tenant and chunk (or a GET each). */
static void plan_calls(struct hd_usvc *u)
{
    while (u->nq) {
        const char *tenant = u->queued[0]->tenant;
        struct call *k = NULL;
        size_t kept = 0;
        for (size_t i = 0; i < u->nq; i++) {
            struct hd_usvc_lookup *l = u->queued[i];
            if (strcmp(l->tenant, tenant)) {
                u->queued[kept++] = l;
                continue;
            }
            if (u->no_search) {
                call_add_item(call_new(u, CALL_GET, l->tenant), l);
                continue;
            }
            if (!k || k->n == (size_t)u->c.chunk)
                k = call_new(u, CALL_SEARCH, l->tenant);
            call_add_item(k, l);
        }
        u->nq = kept;
    }
}

static char *escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    char *out = hd_strdup(e ? e : "");
    curl_free(e);
    return out;
}

static int prepare(struct hd_usvc *u, struct call *k)
{
    if (k->easy) {
        curl_easy_cleanup(k->easy);
        curl_slist_free_all(k->hdrs);
        k->hdrs = NULL;
    }
    hd_buf_reset(&k->body);
    hd_buf_reset(&k->resp);
    hd_free(k->url);
    k->url = NULL;
    if (!(k->easy = curl_easy_init()))
        return -1;
    CURL *e = k->easy;
    if (k->kind == CALL_TOKEN) {
        k->url = hd_strdup(u->token_url);
        char *id = escape(u->client_id), *secret = escape(u->client_secret);
        hd_buf_printf(&k->body, "grant_type=client_credentials&client_id=%s&client_secret=%s",
                      id, secret);
        hd_free(id);
        hd_free(secret);
        k->hdrs = curl_slist_append(k->hdrs,
                                    "Content-Type: application/x-www-form-urlencoded");
    } else {
        if (k->kind == CALL_SEARCH) {
            k->url = hd_asprintf("%s/users/search", u->url);
            json_t *ids = json_array();
            for (size_t i = 0; i < k->n; i++)
                if (k->items[i])
                    json_array_append_new(ids, json_string(k->items[i]->user));
            json_t *doc = json_pack("{s:s, s:o}", "tenant_id", k->tenant, "ids", ids);
            char *s = json_dumps(doc, JSON_COMPACT);
            hd_buf_puts(&k->body, s);
            free(s);
            json_decref(doc);
            k->hdrs = curl_slist_append(k->hdrs, "Content-Type: application/json");
        } else {
            char *id = escape(k->items[0] ? k->items[0]->user : "");
            k->url = hd_asprintf("%s/users/%s", u->url, id);
            hd_free(id);
        }
        char h[512];
        snprintf(h, sizeof(h), "X-Tenant-Id: %s", k->tenant);
        k->hdrs = curl_slist_append(k->hdrs, h);
        if (u->token) {
            char *a = hd_asprintf("Authorization: Bearer %s", u->token);
            k->hdrs = curl_slist_append(k->hdrs, a);
            hd_free(a);
        }
    }
    k->hdrs = curl_slist_append(k->hdrs, "Accept: application/json");
    curl_easy_setopt(e, CURLOPT_URL, k->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, k->hdrs);
    if (k->kind != CALL_GET) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, k->body.data ? k->body.data : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)k->body.len);
    }
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &k->resp);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, u->c.timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, k);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "herald-enrich");
    return 0;
}

static void resolve(struct call *k, enum hd_usvc_state st, const char *error)
{
    for (size_t i = 0; i < k->n; i++) {
        struct hd_usvc_lookup *l = k->items[i];
        if (!l || l->state != HD_USVC_WAITING)
            continue;
        l->state = st;
        if (error)
            snprintf(l->error, sizeof(l->error), "%s", error);
    }
}

/* The call gave up: its lookups fail, the tenant's breaker counts it. */
static void call_failed(struct hd_usvc *u, struct call *k, const char *why)
{
    u->stats.failed_calls++;
    if (k->kind == CALL_TOKEN) {
        hd_log_warn("enrich", "user service: token: %s", why);
        /* every call waiting for the token fails with it */
        for (struct call *c = u->calls; c; c = c->next)
            if (c != k && !c->running && c->kind != CALL_TOKEN) {
                char msg[192];
                snprintf(msg, sizeof(msg), "token: %.180s", why);
                resolve(c, HD_USVC_FAILED, msg); /* done: collected by the run */
                breaker_result(u, c->tenant, 0);
            }
        return;
    }
    hd_log_warn("enrich", "user service: %s call for tenant %s failed after %d attempts: %s",
                k->kind == CALL_SEARCH ? "search" : "get", k->tenant, k->attempt, why);
    resolve(k, HD_USVC_FAILED, why);
    breaker_result(u, k->tenant, 0);
}

static void found(struct hd_usvc_lookup *l, json_t *profile)
{
    char err[160];
    if (hd_profile_check(profile, err, sizeof(err))) {
        l->state = HD_USVC_BAD;
        snprintf(l->error, sizeof(l->error), "profile: %s", err);
        return;
    }
    l->state = HD_USVC_FOUND;
    json_decref(l->profile);
    l->profile = json_incref(profile);
}

/* 1: the answer was used; 0: not a JSON answer of the expected shape */
static int answered(struct hd_usvc *u, struct call *k, long status)
{
    json_error_t jerr;
    if (k->kind == CALL_GET && status == 404) {
        resolve(k, HD_USVC_UNKNOWN, NULL);
        breaker_result(u, k->tenant, 1); /* the service answered */
        return 1;
    }
    json_t *doc = json_loadb(k->resp.data ? k->resp.data : "", k->resp.len, 0, &jerr);
    int ok = 0;
    if (k->kind == CALL_TOKEN) {
        const char *tok = json_string_value(json_object_get(doc, "access_token"));
        json_t *exp = json_object_get(doc, "expires_in");
        if (tok && *tok) {
            hd_free(u->token);
            u->token = hd_strdup(tok);
            /* a missing, zero or absurd lifetime: 5 minutes; at most a day */
            json_int_t secs = json_is_integer(exp) ? json_integer_value(exp) : 0;
            int64_t life = secs > 0 ? (secs < 86400 ? (int64_t)secs : 86400) * 1000 : 300000;
            /* renewed a little before it expires: at 90 % of its life, 30 s early at most */
            int64_t early = life / 10 < 30000 ? life / 10 : 30000;
            u->token_exp = mono_ms() + life - early;
            ok = 1;
        }
    } else if (k->kind == CALL_GET) {
        if (json_is_object(doc)) {
            for (size_t i = 0; i < k->n; i++)
                if (k->items[i])
                    found(k->items[i], doc);
            ok = 1;
        }
    } else {
        json_t *users = json_object_get(doc, "users"), *p;
        size_t i;
        if (json_is_array(users)) {
            json_array_foreach(users, i, p)
            {
                const char *id = json_string_value(json_object_get(p, "id"));
                for (size_t j = 0; id && j < k->n; j++)
                    if (k->items[j] && k->items[j]->state == HD_USVC_WAITING &&
                        !strcmp(k->items[j]->user, id))
                        found(k->items[j], p);
            }
            resolve(k, HD_USVC_UNKNOWN, NULL); /* asked for and not answered */
            ok = 1;
        }
    }
    json_decref(doc);
    if (ok && k->kind != CALL_TOKEN)
        breaker_result(u, k->tenant, 1);
    return ok;
}

static int transient(CURLcode rc, long status)
{
    return rc != CURLE_OK || status == 429 || status >= 500;
}

/* A call ended (rc, status): 1 when it is done (to be freed), 0 when it goes again. */
static int ended(struct hd_usvc *u, struct call *k, CURLcode rc, long status)
{
    char why[192];
    if (rc == CURLE_OK && status == 401 && k->kind != CALL_TOKEN && u->token_url &&
        !k->reauth) {
        /* the token was refused: fetch a new one, once, and send again */
        k->reauth = 1;
        hd_free(u->token);
        u->token = NULL;
        return 0;
    }
    if (rc == CURLE_OK && k->kind == CALL_SEARCH && (status == 404 || status == 405)) {
        if (!u->no_search)
            hd_log_info("enrich", "user service: search answered %ld; GET /users/{id} from "
                        "now on", status);
        u->no_search = 1;
        struct breaker *b = breaker_of(u, k->tenant, 0);
        if (b)
            b->probing = 0; /* a half-open probe goes on as the first GET */
        get_calls_for(u, k->tenant, k->items, k->n);
        for (size_t i = 0; i < k->n; i++)
            k->items[i] = NULL; /* the GET calls carry them now */
        return 1;
    }
    if (rc == CURLE_OK && status == 200 && answered(u, k, status))
        return 1;
    if (rc == CURLE_OK && status == 404 && k->kind == CALL_GET && answered(u, k, status))
        return 1;
    if (rc != CURLE_OK)
        snprintf(why, sizeof(why), "%s", curl_easy_strerror(rc));
    else if (status == 200)
        snprintf(why, sizeof(why), "HTTP 200 with an answer that is not the expected JSON");
    else
        snprintf(why, sizeof(why), "HTTP %ld", status);
    if (transient(rc, status) && k->attempt < u->c.attempts) {
        int64_t base = u->c.backoff_ms > 0 ? u->c.backoff_ms : 100;
        int64_t delay = base << (k->attempt - 1 < 10 ? k->attempt - 1 : 10);
        u->rnd = u->rnd * 1103515245u + 12345u;
        delay = delay / 2 + (int64_t)((u->rnd >> 8) % (uint64_t)(delay + 1)); /* 0.5x-1.5x */
        k->not_before = mono_ms() + delay;
        u->stats.retries++;
        return 0;
    }
    call_failed(u, k, why);
    return 1;
}

static int needs_token(const struct hd_usvc *u, const struct call *k)
{
    return k->kind != CALL_TOKEN && u->token_url && (!u->token || mono_ms() >= u->token_exp);
}

static void start_due(struct hd_usvc *u, int64_t now)
{
    int waiting_token = 0;
    for (struct call *k = u->calls; k; k = k->next)
        waiting_token |= !k->running && needs_token(u, k) && k->n;
    if (waiting_token && !u->token_call) {
        hd_free(u->token);
        u->token = NULL;
        u->token_call = call_new(u, CALL_TOKEN, NULL);
    }
    for (struct call *k = u->calls; k && u->running < u->c.concurrency; k = k->next) {
        if (k->running || k->not_before > now || (k->kind != CALL_TOKEN && !k->n) ||
            needs_token(u, k))
            continue;
        struct breaker *b = k->tenant ? breaker_of(u, k->tenant, 0) : NULL;
        if (b) {
            /* open: nothing goes out; half-open: one call, the probe */
            enum hd_breaker st = hd_usvc_breaker(u, k->tenant, hd_now_ms());
            if (st == HD_BREAKER_OPEN || (st == HD_BREAKER_HALF_OPEN && b->probing))
                continue;
        }
        if (prepare(u, k))
            continue;
        if (b && b->st == HD_BREAKER_HALF_OPEN)
            b->probing = 1;
        k->attempt++;
        if (k->kind == CALL_SEARCH)
            u->stats.search_calls++;
        else if (k->kind == CALL_GET)
            u->stats.get_calls++;
        else
            u->stats.token_calls++;
        curl_multi_add_handle(u->multi, k->easy);
        k->running = 1;
        u->running++;
    }
}

static size_t waiting(const struct hd_usvc *u)
{
    size_t n = 0;
    for (const struct call *k = u->calls; k; k = k->next)
        for (size_t i = 0; i < k->n; i++)
            n += k->items[i] && k->items[i]->state == HD_USVC_WAITING;
    return n + u->nq;
}

/* Frees calls with nothing left to do. */
static void collect(struct hd_usvc *u)
{
    struct call *k = u->calls;
    while (k) {
        struct call *next = k->next;
        int live = 0;
        for (size_t i = 0; i < k->n; i++)
            live |= k->items[i] && k->items[i]->state == HD_USVC_WAITING;
        if (!k->running && k->kind != CALL_TOKEN && !live)
            unlink_call(u, k);
        k = next;
    }
}

size_t hd_usvc_run(struct hd_usvc *u, int64_t deadline_ms)
{
    plan_calls(u);
    for (;;) {
        int64_t now = mono_ms();
        start_due(u, now);
        int still;
        curl_multi_perform(u->multi, &still);
        CURLMsg *msg;
        int left, ended_calls = 0;
        while ((msg = curl_multi_info_read(u->multi, &left))) {
            ended_calls++;
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct call *k = NULL;
            long status = 0;
            CURLcode rc = msg->data.result;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&k);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            curl_multi_remove_handle(u->multi, k->easy);
            k->running = 0;
            u->running--;
            /* a call that is done has resolved or handed on every lookup: collected below */
            if (ended(u, k, rc, status) && k->kind == CALL_TOKEN)
                unlink_call(u, k);
        }
        collect(u);
        size_t w = waiting(u);
        now = mono_ms();
        if (!w || now >= deadline_ms)
            return w;
        if (ended_calls)
            continue; /* a call that ended may have made work (a token, a retry, GETs) */
        int64_t wait = deadline_ms - now;
        for (struct call *k = u->calls; k; k = k->next)
            if (!k->running && k->not_before > now && k->not_before - now < wait)
                wait = k->not_before - now;
        curl_multi_poll(u->multi, NULL, 0, (int)(wait < 100 ? (wait > 0 ? wait : 1) : 100),
                        NULL);
    }
}
