/*
 * The read API server (see api.h): a libmicrohttpd daemon with its own pool
 * of polling threads, a route table, Bearer-JWT authentication for everything under /v1/,
 * JSON replies and errors, and the health endpoints. The inbox endpoints
 * live in api_inbox.c.
 *
 * Handlers run on the daemon's threads and may block (PostgreSQL, a Kafka
 * delivery report); the thread pool and the PostgreSQL pool are sized alike
 * so a slow request holds one thread and one connection at most.
 *
 * Every request gets exactly one reply; every error reply is
 * {"error":{"code","message","field"?}}. A debug line per request records
 * method, path, status, duration and tenant — never the token or a body.
 */
#include "connectors/api.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "connectors/api_int.h"
#include "connectors/kafka.h"
#include "core/log.h"
#include "core/time.h"
#include "schemas/serde.h"

#define HD_API_THREADS 8
#define HD_API_PG_CONNS HD_API_THREADS
#define HD_API_MAX_BODY (64 * 1024)
#define HD_API_READY_TIMEOUT_MS 1500

/* ---- replies ---- */

void hd__api_reply(struct hd_api_req *r, unsigned status, struct hd_buf *body)
{
    size_t len = body->len;
    char *data = hd_buf_steal(body);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, data ? data : "", data ? MHD_RESPMEM_MUST_FREE
                                                                    : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        hd_free(data);
        r->status = status;
        r->result = MHD_NO;
        return;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"herald\", error=\"invalid_token\"");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED && r->allow[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    r->status = status;
    r->result = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
}

static void hd_api_error_vjson(struct hd_buf *b, const char *code, const char *field,
                               const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    hd_buf_puts(b, "{\"error\":{\"code\":");
    hd_buf_put_json_string(b, code, strlen(code));
    hd_buf_puts(b, ",\"message\":");
    hd_buf_put_json_string(b, msg, strlen(msg));
    if (field) {
        hd_buf_puts(b, ",\"field\":");
        hd_buf_put_json_string(b, field, strlen(field));
    }
    hd_buf_puts(b, "}}");
}

void hd__api_error_json(struct hd_buf *b, const char *code, const char *field, const char *fmt,
                        ...)
{
    va_list ap;
    va_start(ap, fmt);
    hd_api_error_vjson(b, code, field, fmt, ap);
    va_end(ap);
}

void hd__api_error(struct hd_api_req *r, unsigned status, const char *code, const char *field,
                   const char *fmt, ...)
{
    struct hd_buf b = HD_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    hd_api_error_vjson(&b, code, field, fmt, ap);
    va_end(ap);
    hd__api_reply(r, status, &b);
}

/* ---- query parameters ---- */

const char *hd__api_arg(const struct hd_api_arg *args, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(args[i].key, name))
            return args[i].value;
    return NULL;
}

unsigned hd__api_args_check(const struct hd_api_arg *args, size_t n, const char *const *allowed,
                            struct hd_buf *err)
{
    for (size_t i = 0; i < n; i++) {
        const char *const *a = allowed;
        while (*a && strcmp(*a, args[i].key) != 0)
            a++;
        if (*a)
            continue;
        char name[64];
        snprintf(name, sizeof(name), "%s", args[i].key);
        hd__api_error_json(err, "bad_request", name, "unknown query parameter");
        return MHD_HTTP_BAD_REQUEST;
    }
    return 0;
}

struct hd_api_args_fill {
    struct hd_api_req *r;
    size_t cap;
};

static enum MHD_Result hd_api_args_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    struct hd_api_args_fill *f = cls;
    if (f->r->nargs == f->cap)
        return MHD_NO;
    f->r->args[f->r->nargs++] = (struct hd_api_arg){key, value};
    return MHD_YES;
}

/* Copies MHD's list of query parameters (in order; the strings stay MHD's) into r->args. */
static void hd_api_collect_args(struct hd_api_req *r)
{
    int n = MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, NULL, NULL);
    if (n <= 0)
        return;
    struct hd_api_args_fill f = {r, (size_t)n};
    r->args = hd_calloc(f.cap, sizeof(*r->args));
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, hd_api_args_cb, &f);
}

/* ---- PostgreSQL ---- */

/* Borrows a connection and opens a transaction scoped to the caller's tenant. On failure
 * answers 503/500 itself and returns NULL. */
static PGconn *hd_api_pg_begin(struct hd_api_req *r)
{
    char errstr[512];
    PGconn *conn = hd_pg_pool_get(r->api->pool, errstr, sizeof(errstr));
    if (!conn) {
        hd_logm(HD_LOG_ERROR, "api", r->claims.tenant_id, NULL, "postgres: %s", errstr);
        hd__api_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", NULL,
                      "the database is not reachable; retry later");
        return NULL;
    }
    if (hd_pg_begin_tenant(conn, r->claims.tenant_id, errstr, sizeof(errstr)) < 0) {
        hd_logm(HD_LOG_ERROR, "api", r->claims.tenant_id, NULL, "postgres: %s", errstr);
        hd_pg_rollback(conn);
        hd_pg_pool_put(r->api->pool, conn, PQstatus(conn) != CONNECTION_OK);
        hd__api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", NULL, "database error");
        return NULL;
    }
    return conn;
}

/* Ends the transaction (commit when ok, else rollback) and returns the connection.
 * Returns ok, cleared when the commit fails. */
static int hd_api_pg_end(struct hd_api_req *r, PGconn *conn, int ok)
{
    char errstr[512];
    if (ok && hd_pg_commit(conn, errstr, sizeof(errstr)) < 0) {
        hd_logm(HD_LOG_ERROR, "api", r->claims.tenant_id, NULL, "postgres: commit: %s", errstr);
        ok = 0;
    }
    if (!ok)
        hd_pg_rollback(conn);
    hd_pg_pool_put(r->api->pool, conn, PQstatus(conn) != CONNECTION_OK);
    return ok;
}

PGresult *hd__api_pg_query(struct hd_api_req *r, const char *sql, int nparams,
                           const char *const *params, const char *what)
{
    PGconn *conn = hd_api_pg_begin(r);
    if (!conn)
        return NULL;
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        hd_logm(HD_LOG_ERROR, "api", r->claims.tenant_id, NULL, "postgres: %s: %s", what,
                PQerrorMessage(conn));
    if (!hd_api_pg_end(r, conn, ok)) {
        PQclear(res);
        hd__api_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", NULL, "database error");
        return NULL;
    }
    return res;
}

/* ---- health ---- */

static void hd_api_live(struct hd_api_req *r)
{
    struct hd_buf b = HD_BUF_INIT;
    hd_buf_puts(&b, "{\"status\":\"ok\"}");
    hd__api_reply(r, MHD_HTTP_OK, &b);
}

static int hd_api_pg_ping(struct hd_api *api, char *errstr, size_t errstr_size)
{
    PGconn *conn = hd_pg_pool_get(api->pool, errstr, errstr_size);
    if (!conn)
        return -1;
    PGresult *res = PQexec(conn, "SELECT 1");
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        hd_seterr(-1, errstr, errstr_size, "postgres: %s", PQerrorMessage(conn));
    PQclear(res);
    hd_pg_pool_put(api->pool, conn, !ok || PQstatus(conn) != CONNECTION_OK);
    return ok ? 0 : -1;
}

static int hd_api_kafka_ping(struct hd_api *api, char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err =
        rd_kafka_metadata(api->producer, 0, NULL, &md, HD_API_READY_TIMEOUT_MS);
    if (err)
        return hd_seterr(-1, errstr, errstr_size, "kafka: metadata: %s", rd_kafka_err2str(err));
    int brokers = md->broker_cnt;
    rd_kafka_metadata_destroy(md);
    if (brokers <= 0)
        return hd_seterr(-1, errstr, errstr_size, "kafka: metadata lists no broker");
    return 0;
}

static void hd_api_check_json(struct hd_buf *b, const char *name, int rc, const char *err)
{
    hd_buf_printf(b, "\"%s\":", name);
    if (rc == 0)
        hd_buf_puts(b, "{\"status\":\"ok\"}");
    else {
        hd_buf_puts(b, "{\"status\":\"error\",\"message\":");
        hd_buf_put_json_string(b, err, strlen(err));
        hd_buf_putc(b, '}');
    }
}

/* Ready when PostgreSQL answers SELECT 1 and the producer gets broker metadata. */
static void hd_api_ready(struct hd_api_req *r)
{
    char pg_err[512] = "", kafka_err[512] = "";
    int pg_rc = hd_api_pg_ping(r->api, pg_err, sizeof(pg_err));
    int kafka_rc = hd_api_kafka_ping(r->api, kafka_err, sizeof(kafka_err));
    int ok = pg_rc == 0 && kafka_rc == 0;
    if (!ok)
        hd_log_warn("api", "not ready:%s%s%s%s", pg_rc ? " " : "", pg_rc ? pg_err : "",
                    kafka_rc ? " " : "", kafka_rc ? kafka_err : "");
    struct hd_buf b = HD_BUF_INIT;
    hd_buf_printf(&b, "{\"status\":\"%s\",\"checks\":{", ok ? "ok" : "unavailable");
    hd_api_check_json(&b, "postgres", pg_rc, pg_err);
    hd_buf_putc(&b, ',');
    hd_api_check_json(&b, "kafka", kafka_rc, kafka_err);
    hd_buf_puts(&b, "}}");
    hd__api_reply(r, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, &b);
}

/* ---- routing and auth ---- */

static const struct hd_api_route hd_api_routes[] = {
    {"GET", "/health/live", 0, hd_api_live},
    {"GET", "/health/ready", 0, hd_api_ready},
    {"GET", "/v1/me/notifications", 1, hd__api_inbox_list},
    {"GET", "/v1/me/notifications/unread-count", 1, hd__api_inbox_unread_count},
    {"POST", "/v1/me/notifications/*/read", 1, hd__api_inbox_read},
};

/* Matches url against a route path; on a match returns 1 and the captured segment
 * (pointer into url and length) when the pattern has a "*". */
static int hd_api_match(const char *pattern, const char *url, const char **cap, size_t *cap_len)
{
    *cap = NULL;
    *cap_len = 0;
    const char *p = pattern, *u = url;
    while (*p && *u) {
        if (*p == '*') {
            size_t n = strcspn(u, "/");
            if (n == 0)
                return 0;
            *cap = u;
            *cap_len = n;
            u += n;
            p++;
        } else if (*p++ != *u++) {
            return 0;
        }
    }
    return !*p && !*u;
}

int hd__api_needs_auth(const char *url)
{
    return !strncmp(url, "/v1/", 4) || !strcmp(url, "/v1");
}

unsigned hd__api_auth(const struct hd_jwks *jwks, const char *authorization, int64_t now_s,
                      struct hd_claims *claims, char *why, size_t why_size, struct hd_buf *err)
{
    if (why_size)
        why[0] = '\0';
    if (!authorization) {
        hd__api_error_json(err, "unauthorized", NULL, "missing Authorization: Bearer token");
        return MHD_HTTP_UNAUTHORIZED;
    }
    if (strncasecmp(authorization, "Bearer ", 7) != 0) {
        hd__api_error_json(err, "unauthorized", NULL, "Authorization must use the Bearer scheme");
        return MHD_HTTP_UNAUTHORIZED;
    }
    const char *tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    if (hd_jwt_verify(jwks, tok, now_s, claims, why, why_size) < 0) {
        hd__api_error_json(err, "unauthorized", NULL, "invalid token: %s", why);
        return MHD_HTTP_UNAUTHORIZED;
    }
    return 0;
}

static int hd_api_authenticate(struct hd_api_req *r)
{
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    char why[256];
    struct hd_buf err = HD_BUF_INIT;
    unsigned status = hd__api_auth(r->api->jwks, h, hd_now_ms() / 1000, &r->claims, why,
                                   sizeof(why), &err);
    if (!status)
        return 0;
    if (why[0])
        hd_log_debug("api", "%s %s: token refused: %s", r->method, r->url, why);
    hd__api_reply(r, status, &err);
    return -1;
}

unsigned hd__api_route_find(const char *method, const char *url, const struct hd_api_route **route,
                            char **param, char *allow, size_t allow_size, struct hd_buf *err)
{
    *route = NULL;
    *param = NULL;
    allow[0] = '\0';
    for (size_t i = 0; i < HD_ARRAY_SIZE(hd_api_routes); i++) {
        const struct hd_api_route *rt = &hd_api_routes[i];
        const char *cap;
        size_t cap_len;
        if (!hd_api_match(rt->path, url, &cap, &cap_len))
            continue;
        /* HEAD is GET without the body; microhttpd drops the body itself. */
        int head_get = !strcmp(method, "HEAD") && !strcmp(rt->method, "GET");
        if (strcmp(rt->method, method) != 0 && !head_get) {
            size_t used = strlen(allow);
            snprintf(allow + used, allow_size - used, "%s%s", used ? ", " : "", rt->method);
            continue;
        }
        *param = cap ? hd_strndup(cap, cap_len) : NULL;
        *route = rt;
        return 0;
    }
    if (allow[0]) {
        hd__api_error_json(err, "method_not_allowed", NULL, "%s is not allowed here (allowed: %s)",
                           method, allow);
        return MHD_HTTP_METHOD_NOT_ALLOWED;
    }
    hd__api_error_json(err, "not_found", NULL, "no such endpoint");
    return MHD_HTTP_NOT_FOUND;
}

static void hd_api_route(struct hd_api_req *r)
{
    if (hd__api_needs_auth(r->url) && hd_api_authenticate(r) < 0)
        return;
    const struct hd_api_route *rt;
    struct hd_buf err = HD_BUF_INIT;
    unsigned status =
        hd__api_route_find(r->method, r->url, &rt, &r->param, r->allow, sizeof(r->allow), &err);
    if (status) {
        hd__api_reply(r, status, &err);
        return;
    }
    hd_api_collect_args(r);
    rt->handle(r);
}

unsigned hd__api_body_check(const char *content_length, struct hd_buf *err)
{
    if (!content_length || strtoull(content_length, NULL, 10) <= HD_API_MAX_BODY)
        return 0;
    hd__api_error_json(err, "payload_too_large", NULL, "request body larger than %d bytes",
                       HD_API_MAX_BODY);
    return MHD_HTTP_CONTENT_TOO_LARGE;
}

static void hd_api_log_request(const struct hd_api_req *r)
{
    if (!hd_log_enabled(HD_LOG_DEBUG))
        return;
    double ms = (double)(hd_mono_us() - r->start_us) / 1000.0;
    hd_logm(HD_LOG_DEBUG, "api", r->claims.tenant_id, NULL, "%s %s %u %.1fms", r->method, r->url,
            r->status, ms);
}

static enum MHD_Result hd_api_access(void *cls, struct MHD_Connection *conn, const char *url,
                                     const char *method, const char *version,
                                     const char *upload_data, size_t *upload_data_size,
                                     void **con_cls)
{
    struct hd_api_req *r = *con_cls;
    if (!r) {
        r = hd_calloc(1, sizeof(*r));
        r->api = cls;
        r->start_us = hd_mono_us();
        r->conn = conn;
        r->method = method;
        r->url = url;
        *con_cls = r;
        /* A body announced too large is refused before it is sent (MHD can only queue a
         * reply now or once the whole body is in). */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        struct hd_buf err = HD_BUF_INIT;
        unsigned status = hd__api_body_check(cl, &err);
        if (!status)
            return MHD_YES;
        hd__api_reply(r, status, &err);
        hd_api_log_request(r);
        return r->result;
    }
    r->conn = conn;
    r->method = method;
    r->url = url;
    if (*upload_data_size) {
        /* No endpoint here takes a body: drain and ignore it, but not without bound
         * (a chunked body that grows too large closes the connection). */
        r->body_len += *upload_data_size;
        *upload_data_size = 0;
        if (r->body_len <= HD_API_MAX_BODY)
            return MHD_YES;
        hd_log_debug("api", "%s %s: body over %d bytes, closing", method, url, HD_API_MAX_BODY);
        return MHD_NO;
    }
    hd_api_route(r);
    hd_api_log_request(r);
    return r->result;
}

static void hd_api_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                             enum MHD_RequestTerminationCode toe)
{
    struct hd_api_req *r = *con_cls;
    if (!r)
        return;
    hd_claims_clear(&r->claims);
    hd_free(r->param);
    hd_free(r->args);
    hd_free(r);
    *con_cls = NULL;
}

static void hd_api_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    hd_log_warn("api", "microhttpd: %s", msg);
}

/* ---- start and stop ---- */

/* "host:port", "[v6]:port" or ":port" (all IPv4 interfaces); port 0 picks a free one. */
static int hd_api_listen_addr(const char *listen, struct sockaddr_storage *ss, char *errstr,
                              size_t errstr_size)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    if (!colon || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
        strlen(colon + 1) > 5 || atoi(colon + 1) > 65535)
        return hd_seterr(-1, errstr, errstr_size,
                         "listen address \"%s\" is not HOST:PORT (port 0-65535)",
                         listen ? listen : "");
    char host[256];
    size_t hl = (size_t)(colon - listen);
    if (hl >= 2 && listen[0] == '[' && listen[hl - 1] == ']') {
        listen++;
        hl -= 2;
    }
    if (hl >= sizeof(host))
        return hd_seterr(-1, errstr, errstr_size, "listen host is too long");
    memcpy(host, listen, hl);
    host[hl] = '\0';
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = hl ? AF_UNSPEC : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(hl ? host : NULL, colon + 1, &hints, &res);
    if (rc != 0)
        return hd_seterr(-1, errstr, errstr_size, "listen address \"%s\": %s", host,
                         gai_strerror(rc));
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

static int hd_api_open_deps(struct hd_api *api, const struct hd_config *c, char *errstr,
                            size_t errstr_size)
{
    if (!c->pg || !c->jwks || !c->brokers)
        return hd_seterr(-1, errstr, errstr_size, "the API needs %s",
                         !c->pg ? "HERALD_PG" : !c->jwks ? "HERALD_JWKS" : "HERALD_BROKERS");
    if (!(api->jwks = hd_jwks_load(c->jwks, errstr, errstr_size)))
        return -1;
    if (!(api->serde = hd_serde_new(errstr, errstr_size)))
        return -1;
    if (!(api->pool = hd_pg_pool_new(c->pg, HD_API_PG_CONNS, errstr, errstr_size)))
        return -1;
    if (!(api->producer = hd_kafka_producer_new(c, NULL, errstr, errstr_size)))
        return -1;
    return 0;
}

struct hd_api *hd_api_start(const struct hd_config *c, char *errstr, size_t errstr_size)
{
    struct hd_api *api = hd_calloc(1, sizeof(*api));
    pthread_mutex_init(&api->serde_lock, NULL);
    struct sockaddr_storage ss;
    if (hd_api_listen_addr(c->api_listen, &ss, errstr, errstr_size) < 0 ||
        hd_api_open_deps(api, c, errstr, errstr_size) < 0)
        goto err;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    api->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, hd_api_access, api, MHD_OPTION_EXTERNAL_LOGGER, hd_api_mhd_log,
        api, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)HD_API_THREADS, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024, MHD_OPTION_LISTENING_ADDRESS_REUSE,
        (unsigned)1, MHD_OPTION_NOTIFY_COMPLETED, hd_api_completed, api, MHD_OPTION_END);
    if (!api->daemon) {
        hd_seterr(-1, errstr, errstr_size, "microhttpd: cannot listen on %s", c->api_listen);
        goto err;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(api->daemon, MHD_DAEMON_INFO_BIND_PORT);
    api->port = info ? info->port : 0;
    return api;
err:
    hd_api_stop(api);
    return NULL;
}

int hd_api_port(const struct hd_api *api)
{
    return api ? api->port : 0;
}

void hd_api_stop(struct hd_api *api)
{
    if (!api)
        return;
    if (api->daemon)
        MHD_stop_daemon(api->daemon);
    if (api->producer) {
        rd_kafka_flush(api->producer, 5000);
        rd_kafka_destroy(api->producer);
    }
    hd_pg_pool_destroy(api->pool);
    hd_serde_destroy(api->serde);
    hd_jwks_destroy(api->jwks);
    pthread_mutex_destroy(&api->serde_lock);
    hd_free(api);
}
