/*
 * Private to the API server (connectors/api*.c): the server state, the
 * per-request context and the reply helpers the endpoint files share.
 * api.c owns the daemon, routing, auth and health; api_inbox.c the
 * /v1/me/notifications endpoints.
 *
 * What a request is refused for is decided by functions that take plain
 * strings (the query string, a header, the path) and never touch
 * libmicrohttpd, so tests/unit/api.c calls them without a server. They return
 * 0 when the request may go on, else the HTTP status, with the error object
 * {"error":{"code","message","field"?}} appended to `err` (caller frees;
 * untouched on 0). The handlers queue that body as the reply.
 */
#ifndef HD_API_INT_H
#define HD_API_INT_H

#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "connectors/jwt.h"
#include "connectors/pg.h"
#include "core/buf.h"
#include "core/hd.h"
#include "core/uuid.h"

struct hd_serde;

struct hd_api {
    struct MHD_Daemon *daemon;
    struct hd_pg_pool *pool;
    struct hd_jwks *jwks;
    rd_kafka_t *producer; /* idempotent, acks=all; thread-safe */
    struct hd_serde *serde; /* not thread-safe: only under serde_lock */
    pthread_mutex_t serde_lock;
    int port;
};

/* One query parameter as MHD decoded it; value is NULL for "?key" without "=". */
struct hd_api_arg {
    const char *key;
    const char *value;
};

/* One HTTP request, from its first callback to MHD's completion notice. The
 * strings from MHD are borrowed for the duration of the handler call. */
struct hd_api_req {
    struct hd_api *api;
    struct MHD_Connection *conn;
    const char *method;
    const char *url;
    char *param;             /* the {id} path segment of the matched route, or NULL */
    struct hd_api_arg *args; /* the query string in order (strings borrowed from MHD) */
    size_t nargs;
    char allow[64];          /* methods for the Allow header of a 405 */
    struct hd_claims claims; /* set on authenticated routes (tenant_id, sub) */
    int64_t start_us;
    size_t body_len;
    unsigned status; /* 0 until a response is queued */
    enum MHD_Result result;
};

struct hd_api_route {
    const char *method;
    const char *path; /* "/"-separated; "*" matches one non-empty segment, captured */
    int auth;
    void (*handle)(struct hd_api_req *r);
};

/* Queues `body` (JSON) with `status`, taking the buffer's storage. One reply per request. */
void hd__api_reply(struct hd_api_req *r, unsigned status, struct hd_buf *body);
/* Queues {"error":{"code","message","field"?}}; field may be NULL. */
void hd__api_error(struct hd_api_req *r, unsigned status, const char *code, const char *field,
                   const char *fmt, ...) HD_PRINTF(5, 6);
/* Appends that error object to b. */
void hd__api_error_json(struct hd_buf *b, const char *code, const char *field, const char *fmt,
                        ...) HD_PRINTF(4, 5);

/* ---- request checks without a server (see the top of this file) ---- */

/* The value of the first parameter called `name`, or NULL when absent. Borrowed. */
const char *hd__api_arg(const struct hd_api_arg *args, size_t n, const char *name);
/* 400 naming the first parameter not in `allowed` (NULL-terminated; names match exactly). */
unsigned hd__api_args_check(const struct hd_api_arg *args, size_t n, const char *const *allowed,
                            struct hd_buf *err);
/* 413 when a Content-Length header (NULL when absent) announces a body over the limit. */
unsigned hd__api_body_check(const char *content_length, struct hd_buf *err);
/* Whether `url` is under /v1/, where every request needs a token (even an unknown path). */
int hd__api_needs_auth(const char *url);
/* Checks an Authorization header value (NULL when absent) against `jwks` at `now_s` (epoch
 * seconds). On 0, claims holds the token's (caller clears); on 401, why says why a token
 * was refused (empty when there was no Bearer token to check). */
unsigned hd__api_auth(const struct hd_jwks *jwks, const char *authorization, int64_t now_s,
                      struct hd_claims *claims, char *why, size_t why_size, struct hd_buf *err);
/* Finds the route for method and url (HEAD takes a GET route). On 0, *route is set and
 * *param is the captured {id} segment or NULL (caller frees). 405 fills `allow` with the
 * route's methods; 404 when no path matches. */
unsigned hd__api_route_find(const char *method, const char *url, const struct hd_api_route **route,
                            char **param, char *allow, size_t allow_size, struct hd_buf *err);

/* Runs one parameterised query in a transaction scoped to the caller's tenant (RLS) and
 * returns its rows (caller PQclears). On any failure it logs (`what` names the query),
 * answers 503/500 itself and returns NULL. */
PGresult *hd__api_pg_query(struct hd_api_req *r, const char *sql, int nparams,
                           const char *const *params, const char *what);

/* Endpoints in api_inbox.c. */
void hd__api_inbox_list(struct hd_api_req *r);
void hd__api_inbox_unread_count(struct hd_api_req *r);
void hd__api_inbox_read(struct hd_api_req *r);

#define HD_API_CURSOR_ID_MAX 128

/* The parameters of GET /v1/me/notifications. */
struct hd_inbox_query {
    int limit;
    const char *channel; /* a channel symbol, or NULL; borrowed from the args */
    const char *status;  /* "read", "unread" or NULL; borrowed from the args */
    int has_cursor;
    char cursor_us[24];
    char cursor_id[HD_API_CURSOR_ID_MAX + 1];
};

/* Fills q from the query of GET /v1/me/notifications; 400 naming the bad parameter. */
unsigned hd__api_inbox_list_parse(const struct hd_api_arg *args, size_t n,
                                  struct hd_inbox_query *q, struct hd_buf *err);
/* GET /v1/me/notifications/unread-count takes no parameter; 400 naming one. */
unsigned hd__api_inbox_unread_parse(const struct hd_api_arg *args, size_t n, struct hd_buf *err);
/* POST /v1/me/notifications/{id}/read: no parameter, and `param` (the {id}, may be NULL) a
 * UUID in any case, copied to id in lowercase; 400 naming the parameter or "id". */
unsigned hd__api_inbox_read_parse(const struct hd_api_arg *args, size_t n, const char *param,
                                  char id[HD_UUID_STRLEN], struct hd_buf *err);
/* Appends the next_cursor (base64url, unquoted) for the item created at `created_us`
 * (epoch microseconds, decimal) with notification id `id`. */
void hd__api_cursor_put(struct hd_buf *b, const char *created_us, const char *id);
/* The headers of a produced UserAction: herald-tenant, herald-notification-id, and a
 * traceparent that continues the caller's trace (its header, NULL when absent) when it is a
 * valid version-00 one, else starts a new trace; always a new span id. Caller owns them. */
rd_kafka_headers_t *hd__api_action_headers(const char *traceparent, const char *tenant,
                                           const char *id);

#endif
