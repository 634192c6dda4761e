/*
 * The user inbox endpoints of the API (/v1/me/notifications...), on the
 * PostgreSQL read model (table notifications) and the herald.receipts topic.
 *
 * The caller is the token's sub in the token's tenant_id. Every query runs in
 * a transaction scoped to that tenant (row-level security) and also names
 * tenant_id and user_id in its WHERE clause, so one user never sees another's
 * rows even if a policy were missing. Writes never touch PostgreSQL: marking
 * a notification read produces a UserAction to herald.receipts and answers
 * 202 with the record's topic/partition/offset as a consistency token; the
 * status processor and the materializer bring the read model up to date.
 *
 * Pages are keyset pages over (created_at, notification_id) descending; the
 * cursor is base64url("<created_at epoch µs>|<notification_id>") of the last
 * item served, so pages stay stable while new notifications arrive.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/api_int.h"
#include "connectors/kafka.h"
#include "core/log.h"
#include "core/time.h"
#include "core/uuid.h"
#include "schemas/records.h"

#define HD_INBOX_LIMIT_DEFAULT 20
#define HD_INBOX_LIMIT_MAX 100

/* ---- base64url (RFC 4648 §5, no padding) for cursors ---- */

static const char hd_b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void hd_b64url_encode(const unsigned char *in, size_t n, struct hd_buf *out)
{
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        size_t chars = n - i >= 3 ? 4 : n - i + 1;
        for (size_t k = 0; k < chars; k++)
            hd_buf_putc(out, hd_b64url[(v >> (18 - 6 * k)) & 63]);
    }
}

/* Decodes into out (NUL-terminated); -1 on a bad character, bad length or overflow. */
static int hd_b64url_decode(const char *s, char *out, size_t out_size)
{
    size_t n = strlen(s), o = 0;
    uint32_t acc = 0;
    int bits = 0;
    if (n == 0 || n % 4 == 1)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *p = memchr(hd_b64url, s[i], 64);
        if (!p)
            return -1;
        acc = (acc << 6) | (uint32_t)(p - hd_b64url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= out_size)
                return -1;
            out[o++] = (char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    out[o] = '\0';
    return 0;
}

/* ---- query parameters ---- */

static int hd_inbox_parse_limit(const char *v, int *limit)
{
    if (!*v || strlen(v) > 3 || strspn(v, "0123456789") != strlen(v))
        return -1;
    int n = atoi(v);
    if (n < 1 || n > HD_INBOX_LIMIT_MAX)
        return -1;
    *limit = n;
    return 0;
}

static int hd_inbox_parse_cursor(const char *v, struct hd_inbox_query *q)
{
    char raw[160];
    if (strlen(v) > 200 || hd_b64url_decode(v, raw, sizeof(raw)) < 0)
        return -1;
    char *bar = strchr(raw, '|');
    if (!bar)
        return -1;
    *bar = '\0';
    const char *id = bar + 1;
    char *end;
    errno = 0;
    long long us = strtoll(raw, &end, 10);
    if (errno || end == raw || *end || strlen(raw) >= sizeof(q->cursor_us))
        return -1;
    size_t idl = strlen(id);
    if (idl == 0 || idl > HD_API_CURSOR_ID_MAX)
        return -1;
    for (const char *p = id; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return -1;
    snprintf(q->cursor_us, sizeof(q->cursor_us), "%lld", us);
    memcpy(q->cursor_id, id, idl + 1);
    q->has_cursor = 1;
    return 0;
}

unsigned hd__api_inbox_list_parse(const struct hd_api_arg *args, size_t n,
                                  struct hd_inbox_query *q, struct hd_buf *err)
{
    static const char *const allowed[] = {"limit", "cursor", "status", "channel", NULL};
    memset(q, 0, sizeof(*q));
    q->limit = HD_INBOX_LIMIT_DEFAULT;
    unsigned status = hd__api_args_check(args, n, allowed, err);
    if (status)
        return status;
    const char *v = hd__api_arg(args, n, "limit");
    if (v && hd_inbox_parse_limit(v, &q->limit) < 0) {
        hd__api_error_json(err, "bad_request", "limit", "limit must be an integer from 1 to %d",
                           HD_INBOX_LIMIT_MAX);
        return 400;
    }
    v = hd__api_arg(args, n, "cursor");
    if (v && hd_inbox_parse_cursor(v, q) < 0) {
        hd__api_error_json(err, "bad_request", "cursor",
                           "cursor is not one this API returned as next_cursor");
        return 400;
    }
    v = hd__api_arg(args, n, "status");
    if (v && strcmp(v, "read") != 0 && strcmp(v, "unread") != 0) {
        hd__api_error_json(err, "bad_request", "status", "status must be read or unread");
        return 400;
    }
    q->status = v;
    v = hd__api_arg(args, n, "channel");
    if (v && hd_channel_parse(v) < 0) {
        hd__api_error_json(
            err, "bad_request", "channel",
            "channel must be one of EMAIL, SMS, PUSH, WHATSAPP, CHAT, WEBHOOK, IN_APP");
        return 400;
    }
    q->channel = v;
    return 0;
}

/* ---- JSON from result columns ---- */

static void hd_put_text(struct hd_buf *b, const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        hd_buf_puts(b, "null");
    else
        hd_buf_put_json_string(b, PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
}

/* A column holding epoch microseconds, as an ISO-8601 string (millisecond precision). */
static void hd_put_time(struct hd_buf *b, const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col)) {
        hd_buf_puts(b, "null");
        return;
    }
    long long us = strtoll(PQgetvalue(res, row, col), NULL, 10);
    long long ms = us >= 0 ? us / 1000 : -((-us + 999) / 1000);
    char iso[40];
    hd_time_iso8601(ms, iso, sizeof(iso));
    hd_buf_printf(b, "\"%s\"", iso);
}

enum {
    COL_ID = 0, COL_REQUEST_ID, COL_CHANNEL, COL_CATEGORY, COL_TITLE, COL_BODY, COL_DATA,
    COL_STATUS, COL_CREATED_US, COL_READ_US
};

static void hd_put_item(struct hd_buf *b, const PGresult *res, int row)
{
    static const struct {
        const char *name;
        int col;
    } text[] = {{"id", COL_ID},           {"request_id", COL_REQUEST_ID}, {"channel", COL_CHANNEL},
                {"category", COL_CATEGORY}, {"title", COL_TITLE},        {"body", COL_BODY}};
    hd_buf_putc(b, '{');
    for (size_t i = 0; i < HD_ARRAY_SIZE(text); i++) {
        hd_buf_printf(b, "%s\"%s\":", i ? "," : "", text[i].name);
        hd_put_text(b, res, row, text[i].col);
    }
    /* jsonb's text form is JSON already. */
    hd_buf_puts(b, ",\"data\":");
    hd_buf_puts(b, PQgetisnull(res, row, COL_DATA) ? "{}" : PQgetvalue(res, row, COL_DATA));
    hd_buf_puts(b, ",\"status\":");
    hd_put_text(b, res, row, COL_STATUS);
    hd_buf_puts(b, ",\"created_at\":");
    hd_put_time(b, res, row, COL_CREATED_US);
    hd_buf_puts(b, ",\"read_at\":");
    hd_put_time(b, res, row, COL_READ_US);
    hd_buf_putc(b, '}');
}

void hd__api_cursor_put(struct hd_buf *b, const char *created_us, const char *id)
{
    struct hd_buf raw = HD_BUF_INIT;
    hd_buf_printf(&raw, "%s|%s", created_us, id);
    hd_b64url_encode((const unsigned char *)raw.data, raw.len, b);
    hd_buf_free(&raw);
}

static void hd_put_next_cursor(struct hd_buf *b, const PGresult *res, int row)
{
    hd_buf_putc(b, '"');
    hd__api_cursor_put(b, PQgetvalue(res, row, COL_CREATED_US), PQgetvalue(res, row, COL_ID));
    hd_buf_putc(b, '"');
}

/* ---- GET /v1/me/notifications ---- */

/* Newest first; NULL parameters switch their filter off. The cursor row comparison
 * matches the ORDER BY exactly, so each row is served once across pages. */
static const char hd_inbox_list_sql[] =
    "SELECT notification_id, request_id, channel, category, title, body, data::text, status,"
    "       (EXTRACT(EPOCH FROM created_at) * 1000000)::bigint,"
    "       (EXTRACT(EPOCH FROM read_at) * 1000000)::bigint"
    "  FROM notifications"
    " WHERE tenant_id = $1 AND user_id = $2 AND deleted_at IS NULL"
    "   AND ($3::text IS NULL OR channel = $3::text)"
    "   AND ($4::text IS NULL OR (read_at IS NULL) = ($4::text = 'unread'))"
    "   AND ($5::bigint IS NULL OR (created_at, notification_id) <"
    "        (timestamptz 'epoch' + $5::bigint * interval '1 microsecond', $6::text))"
    " ORDER BY created_at DESC, notification_id DESC"
    " LIMIT $7::int";

void hd__api_inbox_list(struct hd_api_req *r)
{
    struct hd_inbox_query q;
    struct hd_buf err = HD_BUF_INIT;
    unsigned status = hd__api_inbox_list_parse(r->args, r->nargs, &q, &err);
    if (status) {
        hd__api_reply(r, status, &err);
        return;
    }
    char fetch[16];
    snprintf(fetch, sizeof(fetch), "%d", q.limit + 1); /* one more tells if a next page exists */
    const char *params[7] = {r->claims.tenant_id, r->claims.sub, q.channel, q.status,
                             q.has_cursor ? q.cursor_us : NULL, q.has_cursor ? q.cursor_id : NULL,
                             fetch};
    PGresult *res = hd__api_pg_query(r, hd_inbox_list_sql, 7, params, "inbox list");
    if (!res)
        return;
    int rows = PQntuples(res);
    int shown = rows > q.limit ? q.limit : rows;
    struct hd_buf b = HD_BUF_INIT;
    hd_buf_puts(&b, "{\"items\":[");
    for (int i = 0; i < shown; i++) {
        if (i)
            hd_buf_putc(&b, ',');
        hd_put_item(&b, res, i);
    }
    hd_buf_puts(&b, "],\"next_cursor\":");
    if (rows > q.limit)
        hd_put_next_cursor(&b, res, shown - 1);
    else
        hd_buf_puts(&b, "null");
    hd_buf_putc(&b, '}');
    PQclear(res);
    hd__api_reply(r, 200, &b);
}

/* ---- GET /v1/me/notifications/unread-count ---- */

/* The inbox proper is the IN_APP channel: rows of other channels are delivery
 * records (an e-mail is not "unread" in Herald's sense), so only unread,
 * undeleted IN_APP rows count. The list endpoint shows every channel and takes
 * channel=IN_APP to match this count. */
static const char hd_inbox_unread_sql[] =
    "SELECT count(*) FROM notifications"
    " WHERE tenant_id = $1 AND user_id = $2 AND channel = 'IN_APP'"
    "   AND deleted_at IS NULL AND read_at IS NULL";

unsigned hd__api_inbox_unread_parse(const struct hd_api_arg *args, size_t n, struct hd_buf *err)
{
    static const char *const allowed[] = {NULL};
    return hd__api_args_check(args, n, allowed, err);
}

void hd__api_inbox_unread_count(struct hd_api_req *r)
{
    struct hd_buf err = HD_BUF_INIT;
    unsigned status = hd__api_inbox_unread_parse(r->args, r->nargs, &err);
    if (status) {
        hd__api_reply(r, status, &err);
        return;
    }
    const char *params[2] = {r->claims.tenant_id, r->claims.sub};
    PGresult *res = hd__api_pg_query(r, hd_inbox_unread_sql, 2, params, "unread count");
    if (!res)
        return;
    if (PQntuples(res) != 1) {
        PQclear(res);
        hd__api_error(r, 500, "internal", NULL, "database error");
        return;
    }
    struct hd_buf b = HD_BUF_INIT;
    hd_buf_printf(&b, "{\"unread\":%s}", PQgetvalue(res, 0, 0));
    PQclear(res);
    hd__api_reply(r, 200, &b);
}

/* ---- POST /v1/me/notifications/{id}/read ---- */

/* Canonical (lowercase) form of a UUID in any case; -1 if s is not one. */
static int hd_inbox_uuid(const char *s, char out[HD_UUID_STRLEN])
{
    if (!s || strlen(s) != 36)
        return -1;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return -1;
        out[i] = (char)tolower((unsigned char)s[i]);
    }
    out[36] = '\0';
    return 0;
}

/* The caller's notification (not deleted): 1 found (request id and channel copied out),
 * 0 not found, -1 error (answered). */
static int hd_inbox_lookup(struct hd_api_req *r, const char *id, char *request_id,
                           size_t request_id_size, enum hd_channel *channel)
{
    static const char sql[] = "SELECT request_id, channel FROM notifications"
                              " WHERE tenant_id = $1 AND user_id = $2 AND notification_id = $3"
                              "   AND deleted_at IS NULL";
    const char *params[3] = {r->claims.tenant_id, r->claims.sub, id};
    PGresult *res = hd__api_pg_query(r, sql, 3, params, "lookup");
    if (!res)
        return -1;
    int found = PQntuples(res) > 0;
    if (found) {
        snprintf(request_id, request_id_size, "%s", PQgetvalue(res, 0, 0));
        int ch = hd_channel_parse(PQgetvalue(res, 0, 1));
        *channel = ch < 0 ? HD_CH_IN_APP : (enum hd_channel)ch;
    }
    PQclear(res);
    return found;
}

rd_kafka_headers_t *hd__api_action_headers(const char *traceparent, const char *tenant,
                                           const char *id)
{
    char trace[HD_TRACE_ID_LEN];
    if (!traceparent || hd_trace_parse(traceparent, strlen(traceparent), trace))
        trace[0] = '\0'; /* a new trace */
    return hd_kafka_headers_new(trace, tenant, id, 0);
}

/* Produces the UserAction and answers 202 with the consistency token. */
static void hd_inbox_produce_action(struct hd_api_req *r, const char *id,
                                    enum hd_user_action_kind kind, char *request_id,
                                    enum hd_channel channel)
{
    char action_id[HD_UUID_STRLEN], nid[HD_UUID_STRLEN], errstr[512];
    hd_uuid_v4(action_id);
    memcpy(nid, id, HD_UUID_STRLEN);
    struct hd_user_action ua = {.action_id = action_id,
                                .tenant_id = r->claims.tenant_id,
                                .user_id = r->claims.sub,
                                .notification_id = nid,
                                .action = kind,
                                .occurred_at = hd_now_ms(),
                                .request_id = request_id,
                                .channel = channel};
    struct hd_buf value = HD_BUF_INIT;
    pthread_mutex_lock(&r->api->serde_lock);
    int rc = hd_user_action_encode(r->api->serde, &ua, &value, errstr, sizeof(errstr));
    pthread_mutex_unlock(&r->api->serde_lock);
    if (rc < 0) {
        hd_logm(HD_LOG_ERROR, "api", r->claims.tenant_id, id, "encode UserAction: %s", errstr);
        hd_buf_free(&value);
        hd__api_error(r, 500, "internal", NULL, "cannot encode the action");
        return;
    }
    char *key = hd_asprintf("%s/%s", r->claims.tenant_id, r->claims.sub);
    rd_kafka_headers_t *h = hd__api_action_headers(
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "traceparent"),
        r->claims.tenant_id, id);
    int32_t partition = -1;
    int64_t offset = -1;
    rc = hd_kafka_produce_sync(r->api->producer, HD_TOPIC_RECEIPTS, key, strlen(key), value.data,
                               value.len, h, &partition, &offset, errstr, sizeof(errstr));
    hd_free(key);
    hd_buf_free(&value);
    if (rc < 0) {
        hd_logm(HD_LOG_ERROR, "api", r->claims.tenant_id, id, "%s", errstr);
        hd__api_error(r, 503, "unavailable", NULL, "the action could not be recorded; retry");
        return;
    }
    hd_logm(HD_LOG_DEBUG, "api", r->claims.tenant_id, id,
            "%s recorded at %s [%" PRId32 "] @%" PRId64, hd_user_action_name(kind),
            HD_TOPIC_RECEIPTS, partition, offset);
    struct hd_buf b = HD_BUF_INIT;
    hd_buf_printf(&b,
                  "{\"action_id\":\"%s\",\"token\":{\"topic\":\"%s\",\"partition\":%" PRId32
                  ",\"offset\":%" PRId64 "}}",
                  action_id, HD_TOPIC_RECEIPTS, partition, offset);
    hd__api_reply(r, 202, &b);
}

unsigned hd__api_inbox_read_parse(const struct hd_api_arg *args, size_t n, const char *param,
                                  char id[HD_UUID_STRLEN], struct hd_buf *err)
{
    static const char *const allowed[] = {NULL};
    unsigned status = hd__api_args_check(args, n, allowed, err);
    if (status)
        return status;
    if (hd_inbox_uuid(param, id) < 0) {
        hd__api_error_json(err, "bad_request", "id", "id must be a UUID");
        return 400;
    }
    return 0;
}

void hd__api_inbox_read(struct hd_api_req *r)
{
    char id[HD_UUID_STRLEN];
    struct hd_buf err = HD_BUF_INIT;
    unsigned status = hd__api_inbox_read_parse(r->args, r->nargs, r->param, id, &err);
    if (status) {
        hd__api_reply(r, status, &err);
        return;
    }
    char request_id[256];
    enum hd_channel channel = HD_CH_IN_APP;
    int found = hd_inbox_lookup(r, id, request_id, sizeof(request_id), &channel);
    if (found < 0)
        return;
    if (!found) {
        hd__api_error(r, 404, "not_found", NULL, "no such notification");
        return;
    }
    hd_inbox_produce_action(r, id, HD_ACT_READ, request_id, channel);
}
