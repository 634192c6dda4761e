/*
 * Private to the API server (connectors/api*.c): the server state, the
 * per-request context and the reply helpers the endpoint files share.
 * api.c owns the daemon, routing, auth and health; api_inbox.c the
 * /v1/me/notifications endpoints.
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

/* One HTTP request, from its first callback to MHD's completion notice. The
 * strings from MHD are borrowed for the duration of the handler call. */
struct hd_api_req {
    struct hd_api *api;
    struct MHD_Connection *conn;
    const char *method;
    const char *url;
    char *param;             /* the {id} path segment of the matched route, or NULL */
    char allow[64];          /* methods for the Allow header of a 405 */
    struct hd_claims claims; /* set on authenticated routes (tenant_id, sub) */
    int64_t start_us;
    size_t body_len;
    unsigned status; /* 0 until a response is queued */
    enum MHD_Result result;
};

/* Queues `body` (JSON) with `status`, taking the buffer's storage. One reply per request. */
void hd__api_reply(struct hd_api_req *r, unsigned status, struct hd_buf *body);
/* Queues {"error":{"code","message","field"?}}; field may be NULL. */
void hd__api_error(struct hd_api_req *r, unsigned status, const char *code, const char *field,
                   const char *fmt, ...) HD_PRINTF(5, 6);
/* A query parameter (decoded by MHD), or NULL when absent. Borrowed. */
const char *hd__api_query(struct hd_api_req *r, const char *name);
/* Answers 400 naming the first query parameter not in `allowed` (NULL-terminated); returns -1
 * then, 0 when every parameter is known. */
int hd__api_query_check(struct hd_api_req *r, const char *const *allowed);

/* Runs one parameterised query in a transaction scoped to the caller's tenant (RLS) and
 * returns its rows (caller PQclears). On any failure it logs (`what` names the query),
 * answers 503/500 itself and returns NULL. */
PGresult *hd__api_pg_query(struct hd_api_req *r, const char *sql, int nparams,
                           const char *const *params, const char *what);

/* Endpoints in api_inbox.c. */
void hd__api_inbox_list(struct hd_api_req *r);
void hd__api_inbox_unread_count(struct hd_api_req *r);
void hd__api_inbox_read(struct hd_api_req *r);

#endif
