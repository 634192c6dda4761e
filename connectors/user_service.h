/*
 * The User Service client (docs/USER_SERVICE.md), on libcurl multi: lookups of users by
 * tenant and id, fetched together, never one blocking call per record.
 *
 *   POST {url}/users/search {"tenant_id": t, "ids": [...]}   one call per tenant and chunk
 *   GET  {url}/users/{id} (X-Tenant-Id: t)                     when search answers 404/405
 *   POST {token_url} grant_type=client_credentials             OAuth2, when token_url is set
 *
 * Calls run at most `concurrency` at once over reused connections, each with a timeout.
 * A timeout, a connection error, 429 or 5xx is tried again (up to `attempts` in all) after
 * an exponential backoff with jitter; the token is cached until shortly before it expires
 * and fetched again once on a 401. A circuit breaker per tenant opens after
 * `breaker_failures` consecutive failed calls; after `breaker_cooldown_ms` one call is let
 * through (half-open): its success closes the breaker, its failure opens it again.
 *
 * Not thread-safe: one client per task.
 */
#ifndef HD_USER_SERVICE_H
#define HD_USER_SERVICE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct hd_usvc_conf {
    const char *url;           /* base URL, e.g. http://users:8080 */
    const char *token_url;     /* NULL or "": no OAuth2 */
    const char *client_id;
    const char *client_secret;
    long timeout_ms;           /* per call */
    int concurrency;           /* calls at once */
    int chunk;                 /* ids per search call */
    int attempts;              /* per call, the first included */
    long backoff_ms;           /* the first retry's delay (doubles, with jitter) */
    int breaker_failures;
    long breaker_cooldown_ms;
};

enum hd_usvc_state {
    HD_USVC_WAITING = 0, /* not answered yet */
    HD_USVC_FOUND,       /* profile set */
    HD_USVC_UNKNOWN,     /* the service does not know the user */
    HD_USVC_BAD,         /* the service answered a profile that fails hd_profile_check */
    HD_USVC_FAILED       /* the call failed after its attempts (error says why) */
};

struct hd_usvc_lookup {
    char *tenant;
    char *user;
    enum hd_usvc_state state;
    json_t *profile; /* FOUND: owned by the lookup */
    char error[192]; /* BAD, FAILED */
    void *opaque;    /* the caller's */
    void *call_;     /* internal: the call that carries it */
};

struct hd_usvc_stats {
    long search_calls, get_calls, token_calls; /* calls sent, retries included */
    long retries, failed_calls, breaker_opens;
};

enum hd_breaker { HD_BREAKER_CLOSED = 0, HD_BREAKER_OPEN, HD_BREAKER_HALF_OPEN };

struct hd_usvc;

/* Returns NULL with errstr (a bad URL, libcurl refused). */
struct hd_usvc *hd_usvc_new(const struct hd_usvc_conf *c, char *errstr, size_t errstr_size);
/* Calls still running are cut off; lookups not taken back are freed. */
void hd_usvc_destroy(struct hd_usvc *u);

/* A new lookup of tenant/user, queued for the next hd_usvc_run; the caller frees it with
 * hd_usvc_lookup_free once it is no longer WAITING, or at any time (a call in flight then
 * forgets it). */
struct hd_usvc_lookup *hd_usvc_lookup(struct hd_usvc *u, const char *tenant, const char *user);
void hd_usvc_lookup_free(struct hd_usvc *u, struct hd_usvc_lookup *l);

/* Sends what is queued (one search per tenant and chunk of ids) and drives the calls until
 * none is left or the monotonic deadline (ms, hd_mono_us() / 1000) passes; 0 drives them
 * without waiting. Returns the number of lookups still WAITING. */
size_t hd_usvc_run(struct hd_usvc *u, int64_t deadline_ms);

/* May a call for tenant go out now (closed; or half-open with no probe out yet)? now_ms
 * is wall-clock. */
int hd_usvc_allowed(struct hd_usvc *u, const char *tenant, int64_t now_ms);
enum hd_breaker hd_usvc_breaker(struct hd_usvc *u, const char *tenant, int64_t now_ms);
/* When the breaker of tenant lets the next probe through (wall-clock ms; 0 when closed). */
int64_t hd_usvc_retry_at(struct hd_usvc *u, const char *tenant);

const struct hd_usvc_stats *hd_usvc_stats(const struct hd_usvc *u);

#endif
