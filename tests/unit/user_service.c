/*
 * The User Service client (connectors/user_service.c) against a real HTTP server on loopback
 * (libmicrohttpd, one thread per connection) whose answers each test scripts and which
 * records every request (method, raw path, X-Tenant-Id, Authorization, body). It proves the
 * wire contract of docs/USER_SERVICE.md and the client's failure handling:
 *   - one POST /users/search per tenant and chunk of ids, {"tenant_id", "ids"} with the ids
 *     asked for; profiles answered are FOUND, ids left out UNKNOWN, a profile that fails
 *     hd_profile_check BAD naming the member;
 *   - search answering 404 switches to GET /users/{percent-encoded id} for good;
 *   - OAuth2 client credentials: one token call, the token cached across runs, fetched
 *     again exactly once on a 401;
 *   - 5xx retried up to `attempts` with backoff, 4xx not retried, a timeout is a failure
 *     that comes back within the run's deadline;
 *   - the per-tenant circuit breaker: closed -> open -> half-open (one probe) -> closed or
 *     open again;
 *   - freeing a lookup whose call is in flight is safe, and hd_usvc_run returns at its
 *     deadline with what is still waiting.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors/user_service.h"
#include "core/hd.h"
#include "core/log.h"
#include "core/time.h"

/* ---- the scripted server ---- */

enum route { R_SEARCH = 0, R_GET, R_TOKEN, R_OTHER, R_N };

struct answer {
    int status;
    const char *body; /* NULL: from the directory (search, get) or a fresh token (token) */
    long delay_ms;
};

struct script {
    struct answer a[8]; /* answered in order, the last one for ever after */
    int n, next;
};

struct req {
    enum route route;
    char method[8];
    char url[256]; /* raw: not percent-decoded */
    char tenant[64];
    char auth[128];
    char ctype[96];
    char *body;
};

#define MAX_REQS 64

struct upload {
    char *p;
    size_t n;
};

static struct {
    struct MHD_Daemon *d;
    char url[64];
    pthread_mutex_t mu;
    struct script script[R_N];
    struct req reqs[MAX_REQS];
    int nreqs;
    int count[R_N];
    json_t *dir;            /* {"tenant": {"user id": profile}} */
    char fail_tenant[32];   /* search and get calls for this tenant answer fail_status */
    int fail_status;
    int tokens;
    int stopping;
} S;

static size_t raw_path(void *cls, struct MHD_Connection *c, char *s)
{
    return strlen(s); /* keep the path as sent, to see its percent-encoding */
}

static void pct_decode(const char *s, char *out, size_t size)
{
    size_t o = 0;
    for (; *s && o + 1 < size; s++) {
        unsigned v;
        if (s[0] == '%' && s[1] && s[2] && sscanf(s + 1, "%2x", &v) == 1) {
            out[o++] = (char)v;
            s += 2;
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
}

static void copy_header(struct MHD_Connection *c, const char *name, char *out, size_t size)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    snprintf(out, size, "%s", v ? v : "");
}

/* The answer's body (malloc'ed); called under S.mu. */
static char *answer_body(enum route r, const struct answer *a, const struct req *q)
{
    if (a->body)
        return strdup(a->body);
    if (r == R_TOKEN) {
        char *s = NULL;
        if (asprintf(&s, "{\"access_token\": \"tok-%d\", \"token_type\": \"Bearer\","
                         " \"expires_in\": 3600}", ++S.tokens) < 0)
            abort();
        return s;
    }
    if (r == R_GET) {
        char id[256];
        pct_decode(q->url + strlen("/users/"), id, sizeof(id));
        json_t *p = json_object_get(json_object_get(S.dir, q->tenant), id);
        return p ? json_dumps(p, JSON_COMPACT) : NULL;
    }
    json_error_t je;
    json_t *doc = json_loads(q->body, 0, &je), *id;
    json_t *of = json_object_get(S.dir, json_string_value(json_object_get(doc, "tenant_id")));
    json_t *users = json_array();
    size_t i;
    json_array_foreach(json_object_get(doc, "ids"), i, id)
    {
        json_t *p = json_object_get(of, json_string_value(id));
        if (p)
            json_array_append(users, p);
    }
    json_t *ans = json_pack("{s:o}", "users", users);
    char *s = json_dumps(ans, JSON_COMPACT);
    json_decref(ans);
    json_decref(doc);
    return s;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    struct upload *up = *con_cls;
    if (!up) {
        *con_cls = calloc(1, sizeof(*up));
        return MHD_YES;
    }
    if (*upload_size) {
        up->p = realloc(up->p, up->n + *upload_size + 1);
        memcpy(up->p + up->n, upload, *upload_size);
        up->n += *upload_size;
        up->p[up->n] = '\0';
        *upload_size = 0;
        return MHD_YES;
    }
    enum route r = R_OTHER;
    if (!strcmp(method, "POST") && !strcmp(url, "/users/search"))
        r = R_SEARCH;
    else if (!strcmp(method, "GET") && !strncmp(url, "/users/", 7))
        r = R_GET;
    else if (!strcmp(method, "POST") && !strcmp(url, "/oauth/token"))
        r = R_TOKEN;

    pthread_mutex_lock(&S.mu);
    struct req q = {.route = r, .body = strdup(up->p ? up->p : "")};
    snprintf(q.method, sizeof(q.method), "%s", method);
    snprintf(q.url, sizeof(q.url), "%s", url);
    copy_header(c, "X-Tenant-Id", q.tenant, sizeof(q.tenant));
    copy_header(c, "Authorization", q.auth, sizeof(q.auth));
    copy_header(c, "Content-Type", q.ctype, sizeof(q.ctype));
    struct script *sc = &S.script[r];
    struct answer a = {200, NULL, 0};
    if (r == R_OTHER)
        a = (struct answer){404, "{}", 0};
    else if (sc->n)
        a = sc->a[sc->next < sc->n ? sc->next : sc->n - 1];
    sc->next++;
    if (r != R_TOKEN && r != R_OTHER && *S.fail_tenant && !strcmp(q.tenant, S.fail_tenant))
        a.status = S.fail_status, a.body = "{}";
    char *body = a.status == 200 ? answer_body(r, &a, &q) : NULL;
    if (!body) {
        body = strdup(a.body ? a.body : "{}");
        if (a.status == 200)
            a.status = 404; /* GET of a user the directory does not have */
    }
    if (S.nreqs < MAX_REQS)
        S.reqs[S.nreqs++] = q;
    else
        free(q.body);
    S.count[r]++;
    pthread_mutex_unlock(&S.mu);

    for (long waited = 0; waited < a.delay_ms; waited += 5) {
        pthread_mutex_lock(&S.mu);
        int stop = S.stopping;
        pthread_mutex_unlock(&S.mu);
        if (stop)
            break;
        usleep(5000);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)a.status, resp);
    MHD_destroy_response(resp);
    free(body);
    return rc;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct upload *up = *con_cls;
    if (up)
        free(up->p);
    free(up);
    *con_cls = NULL;
}

static void srv_start(void)
{
    hd_log_set_level(HD_LOG_ERROR);
    memset(&S, 0, sizeof(S));
    pthread_mutex_init(&S.mu, NULL);
    json_error_t je;
    S.dir = json_loads("{\"a\": {\"u1\": {\"id\": \"u1\", \"email\": \"u1@a.example\"},"
                       " \"u2\": {\"id\": \"u2\", \"phone\": \"+4915112345678\"},"
                       " \"u3\": {\"id\": \"u3\", \"locale\": \"de-DE\"},"
                       " \"team/x y\": {\"id\": \"team/x y\", \"email\": \"t@a.example\"},"
                       " \"badphone\": {\"id\": \"badphone\", \"phone\": \"12345\"}},"
                       " \"b\": {\"v1\": {\"id\": \"v1\", \"first_name\": \"Vera\"}}}",
                       0, &je);
    cr_assert_not_null(S.dir, "%s", je.text);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    S.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                           0, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                           MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                           MHD_OPTION_UNESCAPE_CALLBACK, raw_path, NULL, MHD_OPTION_END);
    cr_assert_not_null(S.d, "MHD_start_daemon failed");
    int port = MHD_get_daemon_info(S.d, MHD_DAEMON_INFO_BIND_PORT)->port;
    snprintf(S.url, sizeof(S.url), "http://127.0.0.1:%d", port);
}

static void srv_stop(void)
{
    pthread_mutex_lock(&S.mu);
    S.stopping = 1;
    pthread_mutex_unlock(&S.mu);
    if (S.d)
        MHD_stop_daemon(S.d);
    S.d = NULL;
    for (int i = 0; i < S.nreqs; i++)
        free(S.reqs[i].body);
    S.nreqs = 0;
    json_decref(S.dir);
    S.dir = NULL;
    pthread_mutex_destroy(&S.mu);
}

/* Replaces what route r answers: n answers, the last repeated. */
static void script(enum route r, int n, const struct answer *a)
{
    pthread_mutex_lock(&S.mu);
    memset(&S.script[r], 0, sizeof(S.script[r]));
    for (int i = 0; i < n && i < 8; i++)
        S.script[r].a[i] = a[i];
    S.script[r].n = n < 8 ? n : 8;
    pthread_mutex_unlock(&S.mu);
}

static void answer_always(enum route r, int status, const char *body, long delay_ms)
{
    script(r, 1, &(struct answer){status, body, delay_ms});
}

static void fail_tenant(const char *tenant, int status)
{
    pthread_mutex_lock(&S.mu);
    snprintf(S.fail_tenant, sizeof(S.fail_tenant), "%s", tenant ? tenant : "");
    S.fail_status = status;
    pthread_mutex_unlock(&S.mu);
}

static int count(enum route r)
{
    pthread_mutex_lock(&S.mu);
    int n = S.count[r];
    pthread_mutex_unlock(&S.mu);
    return n;
}

static int nreqs(void)
{
    pthread_mutex_lock(&S.mu);
    int n = S.nreqs;
    pthread_mutex_unlock(&S.mu);
    return n;
}

/* The i-th request recorded (entries never change once recorded). */
static const struct req *req_at(int i)
{
    cr_assert_lt(i, nreqs(), "request %d was not made (%d recorded)", i, nreqs());
    return &S.reqs[i];
}

/* The k-th request (0-based) recorded on route r. */
static const struct req *req_of(enum route r, int k)
{
    for (int i = 0, n = nreqs(), left = k; i < n; i++)
        if (S.reqs[i].route == r && left-- == 0)
            return &S.reqs[i];
    cr_assert_fail("no request #%d on route %d", k, (int)r);
    return NULL;
}

/* ---- the client ---- */

static struct hd_usvc_conf conf(void)
{
    return (struct hd_usvc_conf){.url = S.url, .timeout_ms = 2000, .concurrency = 4,
                                 .chunk = 100, .attempts = 1, .backoff_ms = 10,
                                 .breaker_failures = 5, .breaker_cooldown_ms = 30000};
}

static struct hd_usvc *client(const struct hd_usvc_conf *c)
{
    char err[256] = "";
    struct hd_usvc *u = hd_usvc_new(c, err, sizeof(err));
    cr_assert_not_null(u, "hd_usvc_new: %s", err);
    return u;
}

static int64_t in_ms(int64_t ms)
{
    return hd_mono_us() / 1000 + ms;
}

static json_t *profile_of(const char *tenant, const char *id)
{
    return json_object_get(json_object_get(S.dir, tenant), id);
}

/* body is {"tenant_id": tenant, "ids": [...]} with exactly the n ids (in any order). */
static void assert_search_body(const struct req *q, const char *tenant, const char **ids,
                               size_t n)
{
    json_error_t je;
    json_t *doc = json_loads(q->body, 0, &je);
    cr_assert_not_null(doc, "search body is not JSON: %s", q->body);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "tenant_id")), tenant, "%s",
                     q->body);
    json_t *got = json_object_get(doc, "ids");
    cr_assert(json_is_array(got), "%s", q->body);
    cr_assert_eq(json_array_size(got), n, "%s", q->body);
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        json_t *v;
        size_t j;
        json_array_foreach(got, j, v) seen |= !strcmp(json_string_value(v), ids[i]);
        cr_assert(seen, "id %s missing from %s", ids[i], q->body);
    }
    cr_assert_eq(json_object_size(doc), 2, "%s", q->body);
    json_decref(doc);
}

TestSuite(usvc, .init = srv_start, .fini = srv_stop, .timeout = 20);

Test(usvc, new_refuses_a_url_that_is_not_http)
{
    struct hd_usvc_conf c = conf();
    c.url = "users:8080";
    char err[256] = "";
    cr_assert_null(hd_usvc_new(&c, err, sizeof(err)));
    cr_assert_not_null(strstr(err, "http"), "%s", err);
}

Test(usvc, one_search_per_tenant_found_and_unknown)
{
    struct hd_usvc_conf c = conf();
    struct hd_usvc *u = client(&c);
    /* tenants interleaved: the client groups them */
    const char *who[][2] = {{"a", "u1"}, {"b", "v1"}, {"a", "u2"}, {"a", "nobody"},
                            {"b", "v9"}, {"a", "u3"}, {"a", "ghost"}};
    struct hd_usvc_lookup *l[7];
    for (int i = 0; i < 7; i++)
        l[i] = hd_usvc_lookup(u, who[i][0], who[i][1]);
    cr_assert_eq(hd_usvc_run(u, in_ms(5000)), 0);

    cr_assert_eq(count(R_SEARCH), 2, "search calls: %d", count(R_SEARCH));
    cr_assert_eq(nreqs(), 2);
    cr_assert_eq(hd_usvc_stats(u)->search_calls, 2);
    const char *ids_a[] = {"u1", "u2", "nobody", "u3", "ghost"}, *ids_b[] = {"v1", "v9"};
    for (int i = 0; i < 2; i++) {
        const struct req *q = req_at(i);
        cr_assert_str_eq(q->method, "POST");
        cr_assert_str_eq(q->url, "/users/search");
        cr_assert_not_null(strstr(q->ctype, "application/json"), "%s", q->ctype);
        cr_assert_str_eq(q->auth, "", "no token configured, yet: %s", q->auth);
        cr_assert(!strcmp(q->tenant, "a") || !strcmp(q->tenant, "b"), "%s", q->tenant);
        if (!strcmp(q->tenant, "a"))
            assert_search_body(q, "a", ids_a, 5);
        else
            assert_search_body(q, "b", ids_b, 2);
    }
    cr_assert_str_neq(req_at(0)->tenant, req_at(1)->tenant);

    for (int i = 0; i < 7; i++) {
        json_t *want = profile_of(who[i][0], who[i][1]);
        if (want) {
            cr_assert_eq(l[i]->state, HD_USVC_FOUND, "%s/%s", who[i][0], who[i][1]);
            cr_assert(json_equal(l[i]->profile, want), "%s/%s", who[i][0], who[i][1]);
        } else {
            cr_assert_eq(l[i]->state, HD_USVC_UNKNOWN, "%s/%s: %d", who[i][0], who[i][1],
                         l[i]->state);
            cr_assert_null(l[i]->profile);
        }
        cr_assert_str_eq(l[i]->tenant, who[i][0]);
        cr_assert_str_eq(l[i]->user, who[i][1]);
    }
    for (int i = 0; i < 7; i++)
        hd_usvc_lookup_free(u, l[i]);
    hd_usvc_destroy(u);
}

Test(usvc, search_is_chunked)
{
    struct hd_usvc_conf c = conf();
    c.chunk = 3;
    struct hd_usvc *u = client(&c);
    struct hd_usvc_lookup *l[7];
    char id[7][8];
    for (int i = 0; i < 7; i++) {
        snprintf(id[i], sizeof(id[i]), "c%d", i);
        l[i] = hd_usvc_lookup(u, "a", id[i]);
    }
    cr_assert_eq(hd_usvc_run(u, in_ms(5000)), 0);
    cr_assert_eq(count(R_SEARCH), 3, "search calls: %d", count(R_SEARCH));
    /* 3 + 3 + 1 ids, each id in exactly one call */
    int sizes[4] = {0}, seen[7] = {0};
    for (int k = 0; k < 3; k++) {
        json_t *doc = json_loads(req_of(R_SEARCH, k)->body, 0, NULL);
        json_t *ids = json_object_get(doc, "ids"), *v;
        size_t j;
        cr_assert_str_eq(json_string_value(json_object_get(doc, "tenant_id")), "a");
        cr_assert_str_eq(req_of(R_SEARCH, k)->tenant, "a");
        cr_assert_leq(json_array_size(ids), 3);
        sizes[json_array_size(ids)]++;
        json_array_foreach(ids, j, v) seen[atoi(json_string_value(v) + 1)]++;
        json_decref(doc);
    }
    cr_assert_eq(sizes[3], 2);
    cr_assert_eq(sizes[1], 1);
    for (int i = 0; i < 7; i++) {
        cr_assert_eq(seen[i], 1, "%s sent %d times", id[i], seen[i]);
        cr_assert_eq(l[i]->state, HD_USVC_UNKNOWN);
        hd_usvc_lookup_free(u, l[i]);
    }
    hd_usvc_destroy(u);
}

Test(usvc, search_404_falls_back_to_get_for_good)
{
    answer_always(R_SEARCH, 404, "{\"error\": \"no such route\"}", 0);
    struct hd_usvc_conf c = conf();
    struct hd_usvc *u = client(&c);
    struct hd_usvc_lookup *slash = hd_usvc_lookup(u, "a", "team/x y");
    struct hd_usvc_lookup *nobody = hd_usvc_lookup(u, "a", "nobody");
    cr_assert_eq(hd_usvc_run(u, in_ms(5000)), 0);
    cr_assert_eq(count(R_SEARCH), 1);
    cr_assert_eq(count(R_GET), 2);
    int seen_slash = 0, seen_nobody = 0;
    for (int k = 0; k < 2; k++) {
        const struct req *q = req_of(R_GET, k);
        cr_assert_str_eq(q->method, "GET");
        cr_assert_str_eq(q->tenant, "a");
        seen_slash += !strcmp(q->url, "/users/team%2Fx%20y");
        seen_nobody += !strcmp(q->url, "/users/nobody");
    }
    cr_assert_eq(seen_slash, 1, "the id is percent-encoded: %s | %s", req_of(R_GET, 0)->url,
                 req_of(R_GET, 1)->url);
    cr_assert_eq(seen_nobody, 1);
    cr_assert_eq(slash->state, HD_USVC_FOUND, "%d %s", slash->state, slash->error);
    cr_assert(json_equal(slash->profile, profile_of("a", "team/x y")));
    cr_assert_eq(nobody->state, HD_USVC_UNKNOWN, "%d %s", nobody->state, nobody->error);
    cr_assert_null(nobody->profile);

    /* a later run stays on GET: no second search */
    struct hd_usvc_lookup *later = hd_usvc_lookup(u, "b", "v1");
    cr_assert_eq(hd_usvc_run(u, in_ms(5000)), 0);
    cr_assert_eq(count(R_SEARCH), 1);
    cr_assert_eq(count(R_GET), 3);
    cr_assert_str_eq(req_of(R_GET, 2)->url, "/users/v1");
    cr_assert_str_eq(req_of(R_GET, 2)->tenant, "b");
    cr_assert_eq(later->state, HD_USVC_FOUND);
    cr_assert_eq(hd_usvc_stats(u)->get_calls, 3);
    cr_assert_eq(hd_usvc_stats(u)->search_calls, 1);
    hd_usvc_lookup_free(u, slash);
    hd_usvc_lookup_free(u, nobody);
    hd_usvc_lookup_free(u, later);
    hd_usvc_destroy(u);
}

Test(usvc, a_profile_failing_the_check_is_bad)
{
    struct hd_usvc_conf c = conf();
    struct hd_usvc *u = client(&c);
    struct hd_usvc_lookup *bad = hd_usvc_lookup(u, "a", "badphone");
    struct hd_usvc_lookup *good = hd_usvc_lookup(u, "a", "u2");
    cr_assert_eq(hd_usvc_run(u, in_ms(5000)), 0);
    cr_assert_eq(count(R_SEARCH), 1);
    cr_assert_eq(bad->state, HD_USVC_BAD, "%d", bad->state);
    cr_assert_not_null(strstr(bad->error, "phone"), "%s", bad->error);
    cr_assert_null(bad->profile);
    cr_assert_eq(good->state, HD_USVC_FOUND, "a good profile in the same answer");
    hd_usvc_lookup_free(u, bad);
    hd_usvc_lookup_free(u, good);
    hd_usvc_destroy(u);
}

Test(usvc, oauth2_token_fetched_once_cached_and_renewed_on_401)
{
    char token_url[96];
    snprintf(token_url, sizeof(token_url), "%s/oauth/token", S.url);
    struct hd_usvc_conf c = conf();
    c.token_url = token_url;
    c.client_id = "herald";
    c.client_secret = "s3cr&t";
    struct hd_usvc *u = client(&c);

    struct hd_usvc_lookup *l1 = hd_usvc_lookup(u, "a", "u1");
    cr_assert_eq(hd_usvc_run(u, in_ms(5000)), 0);
    cr_assert_eq(l1->state, HD_USVC_FOUND, "%d %s", l1->state, l1->error);
    cr_assert_eq(nreqs(), 2);
    const struct req *tok = req_at(0), *search = req_at(1);
    cr_assert_eq(tok->route, R_TOKEN, "the token comes before the search: %s", tok->url);
    cr_assert_str_eq(tok->method, "POST");
    cr_assert_not_null(strstr(tok->ctype, "application/x-www-form-urlencoded"), "%s",
                       tok->ctype);
    cr_assert_str_eq(tok->auth, "");
    cr_assert_str_eq(tok->body, "grant_type=client_credentials&client_id=herald"
                                "&client_secret=s3cr%26t");
    cr_assert_eq(search->route, R_SEARCH);
    cr_assert_str_eq(search->auth, "Bearer tok-1");
    cr_assert_str_eq(search->tenant, "a");

    /* a second run reuses the token */
    struct hd_usvc_lookup *l2 = hd_usvc_lookup(u, "a", "u2");
    cr_assert_eq(hd_usvc_run(u, in_ms(5000)), 0);
    cr_assert_eq(l2->state, HD_USVC_FOUND);
    cr_assert_eq(count(R_TOKEN), 1);
    cr_assert_eq(count(R_SEARCH), 2);
    cr_assert_str_eq(req_at(2)->auth, "Bearer tok-1");

    /* the token is refused once: one new token, the search sent again with it */
    script(R_SEARCH, 2, (struct answer[]){{401, "{\"error\": \"invalid_token\"}", 0},
                                          {200, NULL, 0}});
    struct hd_usvc_lookup *l3 = hd_usvc_lookup(u, "a", "u3");
    cr_assert_eq(hd_usvc_run(u, in_ms(5000)), 0);
    cr_assert_eq(l3->state, HD_USVC_FOUND, "%d %s", l3->state, l3->error);
    cr_assert(json_equal(l3->profile, profile_of("a", "u3")));
    cr_assert_eq(count(R_TOKEN), 2, "token calls: %d", count(R_TOKEN));
    cr_assert_eq(count(R_SEARCH), 4, "search calls: %d", count(R_SEARCH));
    cr_assert_eq(nreqs(), 6);
    cr_assert_eq(req_at(3)->route, R_SEARCH);
    cr_assert_str_eq(req_at(3)->auth, "Bearer tok-1");
    cr_assert_eq(req_at(4)->route, R_TOKEN);
    cr_assert_eq(req_at(5)->route, R_SEARCH);
    cr_assert_str_eq(req_at(5)->auth, "Bearer tok-2");
    assert_search_body(req_at(5), "a", (const char *[]){"u3"}, 1);
    cr_assert_eq(hd_usvc_stats(u)->token_calls, 2);
    hd_usvc_lookup_free(u, l1);
    hd_usvc_lookup_free(u, l2);
    hd_usvc_lookup_free(u, l3);
    hd_usvc_destroy(u);
}

Test(usvc, a_5xx_is_retried_until_it_succeeds)
{
    script(R_SEARCH, 3, (struct answer[]){{500, "{}", 0}, {500, "{}", 0}, {200, NULL, 0}});
    struct hd_usvc_conf c = conf();
    c.attempts = 3;
    c.backoff_ms = 10;
    struct hd_usvc *u = client(&c);
    struct hd_usvc_lookup *l = hd_usvc_lookup(u, "a", "u1");
    cr_assert_eq(hd_usvc_run(u, in_ms(5000)), 0);
    cr_assert_eq(l->state, HD_USVC_FOUND, "%d %s", l->state, l->error);
    cr_assert_eq(count(R_SEARCH), 3);
    cr_assert_eq(hd_usvc_stats(u)->retries, 2);
    cr_assert_eq(hd_usvc_stats(u)->search_calls, 3);
    cr_assert_eq(hd_usvc_stats(u)->failed_calls, 0);
    hd_usvc_lookup_free(u, l);
    hd_usvc_destroy(u);
}

Test(usvc, a_5xx_fails_after_the_attempts)
{
    answer_always(R_SEARCH, 500, "{\"error\": \"boom\"}", 0);
    struct hd_usvc_conf c = conf();
    c.attempts = 3;
    c.backoff_ms = 10;
    struct hd_usvc *u = client(&c);
    struct hd_usvc_lookup *l = hd_usvc_lookup(u, "a", "u1");
    cr_assert_eq(hd_usvc_run(u, in_ms(5000)), 0);
    cr_assert_eq(l->state, HD_USVC_FAILED, "%d", l->state);
    cr_assert_not_null(strstr(l->error, "HTTP 500"), "%s", l->error);
    cr_assert_eq(count(R_SEARCH), 3, "calls: %d", count(R_SEARCH));
    cr_assert_eq(hd_usvc_stats(u)->retries, 2);
    cr_assert_eq(hd_usvc_stats(u)->failed_calls, 1);
    hd_usvc_lookup_free(u, l);
    hd_usvc_destroy(u);
}

Test(usvc, a_4xx_is_not_retried)
{
    answer_always(R_SEARCH, 400, "{\"error\": \"bad request\"}", 0);
    struct hd_usvc_conf c = conf();
    c.attempts = 3;
    c.backoff_ms = 10;
    struct hd_usvc *u = client(&c);
    struct hd_usvc_lookup *l = hd_usvc_lookup(u, "a", "u1");
    cr_assert_eq(hd_usvc_run(u, in_ms(5000)), 0);
    cr_assert_eq(l->state, HD_USVC_FAILED, "%d", l->state);
    cr_assert_not_null(strstr(l->error, "HTTP 400"), "%s", l->error);
    cr_assert_eq(count(R_SEARCH), 1, "calls: %d", count(R_SEARCH));
    cr_assert_eq(hd_usvc_stats(u)->retries, 0);
    hd_usvc_lookup_free(u, l);
    hd_usvc_destroy(u);
}

Test(usvc, a_timeout_fails_within_the_deadline)
{
    answer_always(R_SEARCH, 200, NULL, 1000);
    struct hd_usvc_conf c = conf();
    c.timeout_ms = 200;
    c.attempts = 2; /* a timeout is retried once, then fails */
    c.backoff_ms = 10;
    struct hd_usvc *u = client(&c);
    struct hd_usvc_lookup *l = hd_usvc_lookup(u, "a", "u1");
    int64_t t0 = in_ms(0), deadline = in_ms(1500);
    cr_assert_eq(hd_usvc_run(u, deadline), 0);
    int64_t took = in_ms(0) - t0;
    cr_assert_eq(l->state, HD_USVC_FAILED, "%d", l->state);
    cr_assert(strcasestr(l->error, "timeout") || strcasestr(l->error, "timed out"), "%s",
              l->error);
    cr_assert_geq(took, 2 * 200 - 20, "two attempts of 200 ms: %lld ms", (long long)took);
    cr_assert_lt(took, 1000, "not waiting for the server's 1 s: %lld ms", (long long)took);
    cr_assert_eq(count(R_SEARCH), 2);
    cr_assert_eq(hd_usvc_stats(u)->retries, 1);
    hd_usvc_lookup_free(u, l);
    hd_usvc_destroy(u);
}

/* Two failed runs for tenant a (b answered in the same runs): a's breaker is open. */
static struct hd_usvc *open_breaker_of_a(int64_t *opened_lo, int64_t *opened_hi)
{
    struct hd_usvc_conf c = conf();
    c.breaker_failures = 2;
    c.breaker_cooldown_ms = 300;
    struct hd_usvc *u = client(&c);
    fail_tenant("a", 503);
    for (int run = 0; run < 2; run++) {
        cr_assert_eq(hd_usvc_breaker(u, "a", hd_now_ms()), HD_BREAKER_CLOSED, "run %d", run);
        cr_assert_eq(hd_usvc_allowed(u, "a", hd_now_ms()), 1);
        struct hd_usvc_lookup *la = hd_usvc_lookup(u, "a", "u1");
        struct hd_usvc_lookup *lb = hd_usvc_lookup(u, "b", "v1");
        *opened_lo = hd_now_ms();
        cr_assert_eq(hd_usvc_run(u, in_ms(5000)), 0);
        *opened_hi = hd_now_ms();
        cr_assert_eq(la->state, HD_USVC_FAILED, "%d", la->state);
        cr_assert_not_null(strstr(la->error, "HTTP 503"), "%s", la->error);
        cr_assert_eq(lb->state, HD_USVC_FOUND, "%d %s", lb->state, lb->error);
        hd_usvc_lookup_free(u, la);
        hd_usvc_lookup_free(u, lb);
    }
    return u;
}

static void wait_until_wall(int64_t ms)
{
    while (hd_now_ms() < ms)
        usleep(2000);
}

Test(usvc, breaker_opens_per_tenant_then_a_half_open_success_closes_it)
{
    int64_t lo, hi;
    struct hd_usvc *u = open_breaker_of_a(&lo, &hi);
    int64_t now = hd_now_ms();
    cr_assert_eq(hd_usvc_breaker(u, "a", now), HD_BREAKER_OPEN);
    cr_assert_eq(hd_usvc_allowed(u, "a", now), 0);
    int64_t at = hd_usvc_retry_at(u, "a");
    cr_assert(at >= lo + 300 && at <= hi + 300, "retry_at %lld not in [%lld, %lld]",
              (long long)at, (long long)lo + 300, (long long)hi + 300);
    cr_assert_eq(hd_usvc_stats(u)->breaker_opens, 1);
    cr_assert_eq(hd_usvc_stats(u)->failed_calls, 2);
    /* b's breaker is its own */
    cr_assert_eq(hd_usvc_breaker(u, "b", now), HD_BREAKER_CLOSED);
    cr_assert_eq(hd_usvc_allowed(u, "b", now), 1);
    cr_assert_eq(hd_usvc_retry_at(u, "b"), 0);
    /* still open 1 ms before the cooldown ends */
    cr_assert_eq(hd_usvc_breaker(u, "a", at - 1), HD_BREAKER_OPEN);
    cr_assert_eq(hd_usvc_allowed(u, "a", at - 1), 0);

    wait_until_wall(at);
    now = hd_now_ms();
    cr_assert_eq(hd_usvc_breaker(u, "a", now), HD_BREAKER_HALF_OPEN);
    cr_assert_eq(hd_usvc_allowed(u, "a", now), 1);
    cr_assert_eq(hd_usvc_allowed(u, "a", now), 1, "asking does not use up the probe");

    /* the probe goes out (slowly); while it is out no other call is allowed */
    fail_tenant(NULL, 0);
    answer_always(R_SEARCH, 200, NULL, 200);
    struct hd_usvc_lookup *probe = hd_usvc_lookup(u, "a", "u1");
    cr_assert_eq(hd_usvc_run(u, 0), 1);
    cr_assert_eq(hd_usvc_breaker(u, "a", hd_now_ms()), HD_BREAKER_HALF_OPEN);
    cr_assert_eq(hd_usvc_allowed(u, "a", hd_now_ms()), 0, "the probe is out");
    cr_assert_eq(hd_usvc_run(u, in_ms(5000)), 0);
    cr_assert_eq(probe->state, HD_USVC_FOUND, "%d %s", probe->state, probe->error);

    /* its success closes the breaker */
    now = hd_now_ms();
    cr_assert_eq(hd_usvc_breaker(u, "a", now), HD_BREAKER_CLOSED);
    cr_assert_eq(hd_usvc_allowed(u, "a", now), 1);
    cr_assert_eq(hd_usvc_retry_at(u, "a"), 0);
    cr_assert_eq(hd_usvc_stats(u)->breaker_opens, 1);
    hd_usvc_lookup_free(u, probe);
    hd_usvc_destroy(u);
}

Test(usvc, breaker_half_open_failure_opens_it_again)
{
    int64_t lo, hi;
    struct hd_usvc *u = open_breaker_of_a(&lo, &hi);
    int64_t at = hd_usvc_retry_at(u, "a");
    cr_assert_gt(at, 0);
    wait_until_wall(at);
    cr_assert_eq(hd_usvc_breaker(u, "a", hd_now_ms()), HD_BREAKER_HALF_OPEN);
    cr_assert_eq(hd_usvc_allowed(u, "a", hd_now_ms()), 1);

    /* a's calls still fail: one failed probe opens the breaker again for a full cooldown */
    struct hd_usvc_lookup *probe = hd_usvc_lookup(u, "a", "u1");
    int64_t lo2 = hd_now_ms();
    cr_assert_eq(hd_usvc_run(u, in_ms(5000)), 0);
    int64_t hi2 = hd_now_ms();
    cr_assert_eq(probe->state, HD_USVC_FAILED, "%d", probe->state);
    int64_t now = hd_now_ms();
    cr_assert_eq(hd_usvc_breaker(u, "a", now), HD_BREAKER_OPEN);
    cr_assert_eq(hd_usvc_allowed(u, "a", now), 0);
    int64_t at2 = hd_usvc_retry_at(u, "a");
    cr_assert(at2 >= lo2 + 300 && at2 <= hi2 + 300, "retry_at %lld not in [%lld, %lld]",
              (long long)at2, (long long)lo2 + 300, (long long)hi2 + 300);
    cr_assert_eq(hd_usvc_stats(u)->breaker_opens, 2);
    cr_assert_eq(count(R_SEARCH), 5, "2 runs of a and b, then the probe");
    hd_usvc_lookup_free(u, probe);
    hd_usvc_destroy(u);
}

/* A GET answering 404 ("unknown user") is an answer: a half-open probe that is one closes
 * the breaker (it once left the breaker HALF_OPEN for good). */
Test(usvc, breaker_half_open_get_404_probe_closes_it)
{
    answer_always(R_SEARCH, 404, "{}", 0); /* GET per id */
    struct hd_usvc_conf c = conf();
    c.breaker_failures = 1;
    c.breaker_cooldown_ms = 100;
    struct hd_usvc *u = client(&c);
    fail_tenant("a", 503);
    struct hd_usvc_lookup *l = hd_usvc_lookup(u, "a", "u1");
    cr_assert_eq(hd_usvc_run(u, in_ms(5000)), 0);
    cr_assert_eq(l->state, HD_USVC_FAILED, "%d", l->state);
    cr_assert_eq(hd_usvc_breaker(u, "a", hd_now_ms()), HD_BREAKER_OPEN);
    wait_until_wall(hd_usvc_retry_at(u, "a"));
    cr_assert_eq(hd_usvc_allowed(u, "a", hd_now_ms()), 1);

    fail_tenant(NULL, 0);
    struct hd_usvc_lookup *probe = hd_usvc_lookup(u, "a", "nobody");
    cr_assert_eq(hd_usvc_run(u, in_ms(5000)), 0);
    cr_assert_eq(probe->state, HD_USVC_UNKNOWN, "%d %s", probe->state, probe->error);
    cr_assert_eq(hd_usvc_breaker(u, "a", hd_now_ms()), HD_BREAKER_CLOSED,
                 "the service answered: the probe succeeded");
    cr_assert_eq(hd_usvc_allowed(u, "a", hd_now_ms()), 1);
    hd_usvc_lookup_free(u, l);
    hd_usvc_lookup_free(u, probe);
    hd_usvc_destroy(u);
}

Test(usvc, freeing_a_lookup_while_its_call_is_in_flight)
{
    answer_always(R_SEARCH, 200, NULL, 300);
    struct hd_usvc_conf c = conf();
    struct hd_usvc *u = client(&c);
    struct hd_usvc_lookup *gone = hd_usvc_lookup(u, "a", "u1");
    struct hd_usvc_lookup *kept = hd_usvc_lookup(u, "a", "u2");
    struct hd_usvc_lookup *alone = hd_usvc_lookup(u, "b", "v1");
    cr_assert_eq(hd_usvc_run(u, 0), 3, "the calls are started, not answered");
    cr_assert_not_null(gone->call_);
    hd_usvc_lookup_free(u, gone);
    hd_usvc_lookup_free(u, alone); /* its call is left with no lookup at all */
    cr_assert_eq(hd_usvc_run(u, in_ms(5000)), 0);
    cr_assert_eq(kept->state, HD_USVC_FOUND, "%d %s", kept->state, kept->error);
    cr_assert(json_equal(kept->profile, profile_of("a", "u2")));
    /* the call went out with both ids: it was sent before the free */
    const struct req *q = req_of(R_SEARCH, 0);
    if (strcmp(q->tenant, "a"))
        q = req_of(R_SEARCH, 1);
    assert_search_body(q, "a", (const char *[]){"u1", "u2"}, 2);
    hd_usvc_lookup_free(u, kept);
    hd_usvc_destroy(u); /* b's call may still be out: cut off */
}

Test(usvc, run_returns_at_its_deadline_and_a_later_run_completes)
{
    answer_always(R_SEARCH, 200, NULL, 500);
    struct hd_usvc_conf c = conf();
    struct hd_usvc *u = client(&c);
    struct hd_usvc_lookup *l1 = hd_usvc_lookup(u, "a", "u1");
    struct hd_usvc_lookup *l2 = hd_usvc_lookup(u, "a", "nobody");
    int64_t t0 = in_ms(0);
    cr_assert_eq(hd_usvc_run(u, t0 + 50), 2);
    int64_t took = in_ms(0) - t0;
    cr_assert_geq(took, 45, "ran until its deadline: %lld ms", (long long)took);
    cr_assert_lt(took, 300, "did not wait for the answer: %lld ms", (long long)took);
    cr_assert_eq(l1->state, HD_USVC_WAITING);
    cr_assert_eq(l2->state, HD_USVC_WAITING);
    cr_assert_eq(hd_usvc_run(u, in_ms(5000)), 0);
    cr_assert_eq(l1->state, HD_USVC_FOUND);
    cr_assert_eq(l2->state, HD_USVC_UNKNOWN);
    cr_assert_eq(count(R_SEARCH), 1, "the call in flight was not sent again");
    hd_usvc_lookup_free(u, l1);
    hd_usvc_lookup_free(u, l2);
    hd_usvc_destroy(u);
}
