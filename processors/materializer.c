/*
 * The materializer (see materializer.h): status topics and herald.inbox into
 * the PostgreSQL read model, exactly once.
 *
 * Exactly once comes from PostgreSQL, not from Kafka: each poll batch is one
 * PostgreSQL transaction holding the rows and, in consumer_offsets, the next
 * offset of every partition the batch read. Kafka's committed offsets are
 * never used. On assignment the consumer starts each partition at the offset
 * stored in PostgreSQL; when a transaction fails, the assigned partitions are
 * paused and, once PostgreSQL answers again, sought back to the stored
 * offsets. Records below a partition's stored offset are dropped on arrival,
 * so whatever the consumer delivers, nothing is applied twice.
 *
 * Rows are written so that applying a record again changes nothing either:
 * status history rows are keyed by the record's topic/partition/offset and a
 * notification's status only moves forward in rank (the status topics are
 * read in no particular relative order); inbox items update a row only when
 * its content differs.
 *
 * The transaction is sent as one libpq pipeline of prepared statements
 * (BEGIN, one statement per record, tenants, offsets, COMMIT), read back in
 * chunks so neither side's socket buffer can fill up. Records that cannot be
 * written (undecodable, invalid text or times, over-long ids) are logged by
 * position and skipped, their offsets still advance; when PostgreSQL itself
 * rejects a batch for its data (SQLSTATE classes 22, 23, 54), the batch is
 * applied again one savepoint per record so that only the offending record is
 * skipped. Log lines name topic, partition and offset, never record content.
 */
#include "processors/materializer.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connectors/kafka.h"
#include "connectors/pg.h"
#include "core/buf.h"
#include "core/hd.h"
#include "core/log.h"
#include "core/time.h"
#include "schemas/records.h"
#include "schemas/serde.h"

#define MAT_COMPONENT "processor:materializer"
#define MAT_BATCH_WINDOW_US (100 * 1000) /* fill a batch for at most this long */
#define MAT_PIPE_CHUNK 256               /* statements in flight before reading results */
#define MAT_BACKOFF_MIN_MS 100
#define MAT_BACKOFF_MAX_MS 5000
#define MAT_SEEK_TIMEOUT_MS 10000
/* Record times must fit PostgreSQL's timestamptz and mean something: 1970 .. 9999. */
#define MAT_TIME_MAX_MS 253402300799999LL
/* Longest id, in bytes: ids are index keys, and a btree entry must stay under ~2.7 kB. */
#define MAT_ID_MAX 255

static const char *const mat_topics[] = {
    HD_TOPIC_QUEUED, HD_TOPIC_SCHEDULED, HD_TOPIC_SENT,    HD_TOPIC_DELIVERED,
    HD_TOPIC_FAILED, HD_TOPIC_READ,      HD_TOPIC_SKIPPED, HD_TOPIC_INBOX,
};

/*
 * Statements. $n::type casts let the server type text parameters.
 */
static const char mat_sql_status[] =
    "WITH ev AS ("
    " INSERT INTO notification_events (tenant_id, notification_id, status, reason_code, reason,"
    "  attempt, provider, provider_message_id, occurred_at, src_topic, src_partition, src_offset)"
    " VALUES ($1, $2, $8, $10, $11, $12::int, $6, $13, to_timestamp($14::bigint / 1000.0), $15,"
    "  $16::int, $17::bigint)"
    " ON CONFLICT (src_topic, src_partition, src_offset) DO NOTHING"
    " RETURNING occurred_at)"
    " INSERT INTO notifications AS n (tenant_id, notification_id, user_id, request_id, channel,"
    "  provider, batch_id, status, status_rank, status_reason_code, status_reason, status_at,"
    "  read_at, created_at, updated_at)"
    " SELECT $1, $2, $3::text, $4::text, $5::text, $6, $7::text, $8, $9::smallint, $10, $11,"
    "  ev.occurred_at,"
    "  CASE WHEN $8 = 'READ' THEN ev.occurred_at END, ev.occurred_at, now() FROM ev"
    " ON CONFLICT (tenant_id, notification_id) DO UPDATE SET"
    "  status = CASE WHEN EXCLUDED.status_rank > n.status_rank"
    "   THEN EXCLUDED.status ELSE n.status END,"
    "  status_reason_code = CASE WHEN EXCLUDED.status_rank > n.status_rank"
    "   THEN EXCLUDED.status_reason_code ELSE n.status_reason_code END,"
    "  status_reason = CASE WHEN EXCLUDED.status_rank > n.status_rank"
    "   THEN EXCLUDED.status_reason ELSE n.status_reason END,"
    "  status_at = CASE WHEN EXCLUDED.status_rank > n.status_rank"
    "   THEN EXCLUDED.status_at ELSE n.status_at END,"
    "  provider = CASE WHEN EXCLUDED.status_rank > n.status_rank AND EXCLUDED.provider IS NOT NULL"
    "   THEN EXCLUDED.provider ELSE coalesce(n.provider, EXCLUDED.provider) END,"
    "  status_rank = greatest(n.status_rank, EXCLUDED.status_rank),"
    "  request_id = coalesce(n.request_id, EXCLUDED.request_id),"
    "  channel = coalesce(n.channel, EXCLUDED.channel),"
    "  batch_id = coalesce(n.batch_id, EXCLUDED.batch_id),"
    "  read_at = coalesce(n.read_at, EXCLUDED.read_at),"
    "  created_at = least(n.created_at, EXCLUDED.created_at),"
    "  updated_at = now()";

static const char mat_sql_inbox[] =
    "INSERT INTO notifications AS n (tenant_id, notification_id, user_id, request_id, channel,"
    " category, batch_id, title, body, html, data, created_at, updated_at)"
    " VALUES ($1, $2, $3, $4, 'IN_APP', $5, $6, $7, $8, $9, $10::jsonb,"
    "  to_timestamp($11::bigint / 1000.0), now())"
    " ON CONFLICT (tenant_id, notification_id) DO UPDATE SET"
    "  request_id = coalesce(n.request_id, EXCLUDED.request_id),"
    "  channel = coalesce(n.channel, EXCLUDED.channel),"
    "  category = EXCLUDED.category,"
    "  batch_id = coalesce(EXCLUDED.batch_id, n.batch_id),"
    "  title = EXCLUDED.title, body = EXCLUDED.body, html = EXCLUDED.html, data = EXCLUDED.data,"
    "  created_at = least(n.created_at, EXCLUDED.created_at),"
    "  updated_at = now()"
    " WHERE (n.request_id, n.channel, n.category, n.batch_id, n.title, n.body, n.html, n.data,"
    "  n.created_at) IS DISTINCT FROM (coalesce(n.request_id, EXCLUDED.request_id),"
    "  coalesce(n.channel, EXCLUDED.channel), EXCLUDED.category,"
    "  coalesce(EXCLUDED.batch_id, n.batch_id), EXCLUDED.title, EXCLUDED.body, EXCLUDED.html,"
    "  EXCLUDED.data, least(n.created_at, EXCLUDED.created_at))";

static const char mat_sql_tenant[] =
    "INSERT INTO tenants (tenant_id) VALUES ($1) ON CONFLICT (tenant_id) DO NOTHING";

static const char mat_sql_offset[] =
    "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset, updated_at)"
    " VALUES ($1, $2, $3::int, $4::bigint, now())"
    " ON CONFLICT (consumer, topic, partition) DO UPDATE SET"
    "  next_offset = EXCLUDED.next_offset, updated_at = now()";

static const char mat_sql_load[] =
    "SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer = $1";

static const struct {
    const char *name;
    const char *sql;
} mat_statements[] = {
    {"hd_mat_status", mat_sql_status},
    {"hd_mat_inbox", mat_sql_inbox},
    {"hd_mat_tenant", mat_sql_tenant},
    {"hd_mat_offset", mat_sql_offset},
};

/* One assigned partition. */
struct mat_part {
    char *topic;
    int32_t partition;
    int64_t next;       /* next offset to apply; -1 = nothing stored yet */
    int64_t batch_next; /* next offset once the pending batch commits; -1 = not in the batch */
};

struct hd_materializer {
    char *consumer; /* consumer group, also the key in consumer_offsets */
    int batch_max;
    rd_kafka_t *rk;
    struct hd_serde *sd;
    struct hd_pg_pool *pool;
    PGconn *conn; /* borrowed from pool with the statements prepared; NULL when none */

    struct mat_part *parts;
    size_t part_cnt;
    size_t part_hint; /* index of the last lookup: records come in runs per partition */

    rd_kafka_message_t **batch;
    size_t batch_cnt;

    int resync;          /* partitions paused; seek to the stored offsets before consuming */
    int backoff_ms;
    int64_t retry_at_us; /* hd_mono_us() time of the next resync attempt */

    struct hd_status_event ev; /* decode targets and scratch, reused per record */
    struct hd_inbox_item item;
    struct hd_buf json;
    char **tenants;
    size_t tenant_cnt;
};

/* Pipeline state of one batch transaction. */
struct mat_pipe {
    PGconn *conn;
    int sent;       /* statements sent */
    int read;       /* statements whose results were read */
    int commit_idx; /* index of the COMMIT statement, -1 before it is sent */
    int failed;     /* a statement failed: errstr holds the first error */
    int broken;     /* the connection cannot be read any further */
    char sqlstate[6]; /* of the first failed statement, "" when none */
    char *errstr;
    size_t errstr_size;
};

/* Log lines are one line: libpq's messages span several (ERROR, DETAIL, HINT, CONTEXT). */
static void mat_oneline(char *s)
{
    size_t n = s ? strlen(s) : 0;
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\n' || s[i] == '\r' || s[i] == '\t')
            s[i] = ' ';
}

/*
 * Record checks. Exported with the hd__ prefix for tests/unit/pg.c only.
 */

/* Rank of a status: a status event replaces the current one only when its rank is higher. */
int hd__mat_status_rank(int status)
{
    switch (status) {
    case HD_ST_QUEUED: return 1;
    case HD_ST_SCHEDULED: return 2;
    case HD_ST_SENT: return 3;
    case HD_ST_DELIVERED: return 4;
    case HD_ST_READ: return 5;
    case HD_ST_FAILED: return 6;
    case HD_ST_BOUNCED: return 7;
    case HD_ST_SKIPPED: return 8;
    default: return 0;
    }
}

/* PostgreSQL rejects text that is not UTF-8; one such record must not stall the batch. */
int hd__mat_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (p && *p) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        int n;
        unsigned cp;
        if ((*p & 0xe0) == 0xc0) {
            n = 1;
            cp = *p & 0x1f;
        } else if ((*p & 0xf0) == 0xe0) {
            n = 2;
            cp = *p & 0x0f;
        } else if ((*p & 0xf8) == 0xf0) {
            n = 3;
            cp = *p & 0x07;
        } else {
            return 0;
        }
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        static const unsigned min[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += n + 1;
    }
    return 1;
}

static int mat_check_strings(const char *const *s, size_t n, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] && !hd__mat_utf8_valid(s[i]))
            return hd_seterr(-1, errstr, errstr_size, "a string field is not valid UTF-8");
    return 0;
}

static int mat_check_ids(const char *tenant, const char *nid, const char *user,
                         const char *batch, int64_t at, char *errstr, size_t errstr_size)
{
    if (!tenant || !*tenant || !nid || !*nid || !user)
        return hd_seterr(-1, errstr, errstr_size, "tenant_id, notification_id or user_id missing");
    if (strlen(tenant) > MAT_ID_MAX || strlen(nid) > MAT_ID_MAX || strlen(user) > MAT_ID_MAX ||
        (batch && strlen(batch) > MAT_ID_MAX))
        return hd_seterr(-1, errstr, errstr_size, "an id is longer than %d bytes", MAT_ID_MAX);
    if (at < 0 || at > MAT_TIME_MAX_MS)
        return hd_seterr(-1, errstr, errstr_size, "timestamp %lld out of range", (long long)at);
    return 0;
}

/* Can this status event be written? Returns 0 or -1 with errstr (no record content in it). */
int hd__mat_check_status_event(const struct hd_status_event *e, char *errstr, size_t errstr_size)
{
    const char *s[] = {e->notification_id, e->request_id, e->tenant_id, e->user_id,
                       e->provider, e->reason_code, e->reason, e->provider_message_id,
                       e->batch_id};
    if (mat_check_ids(e->tenant_id, e->notification_id, e->user_id, e->batch_id, e->occurred_at,
                      errstr, errstr_size) != 0)
        return -1;
    if (hd__mat_status_rank((int)e->status) == 0)
        return hd_seterr(-1, errstr, errstr_size, "unknown status %d", (int)e->status);
    return mat_check_strings(s, HD_ARRAY_SIZE(s), errstr, errstr_size);
}

int hd__mat_check_inbox_item(const struct hd_inbox_item *it, char *errstr, size_t errstr_size)
{
    const char *s[] = {it->notification_id, it->request_id, it->tenant_id, it->user_id,
                       it->title, it->body, it->html, it->batch_id};
    if (mat_check_ids(it->tenant_id, it->notification_id, it->user_id, it->batch_id,
                      it->created_at, errstr, errstr_size) != 0 ||
        mat_check_strings(s, HD_ARRAY_SIZE(s), errstr, errstr_size) != 0)
        return -1;
    for (size_t i = 0; i < it->data.cnt; i++) {
        const char *kv[] = {it->data.items[i].key, it->data.items[i].value};
        if (mat_check_strings(kv, 2, errstr, errstr_size) != 0)
            return -1;
    }
    return 0;
}

/* An Avro map<string> as a JSON object (the jsonb column `data`). */
void hd__mat_data_json(const struct hd_map *m, struct hd_buf *out)
{
    hd_buf_reset(out);
    hd_buf_putc(out, '{');
    for (size_t i = 0; i < m->cnt; i++) {
        const char *k = m->items[i].key ? m->items[i].key : "";
        const char *v = m->items[i].value ? m->items[i].value : "";
        if (i)
            hd_buf_putc(out, ',');
        hd_buf_put_json_string(out, k, strlen(k));
        hd_buf_putc(out, ':');
        hd_buf_put_json_string(out, v, strlen(v));
    }
    hd_buf_putc(out, '}');
}

/*
 * Partitions and positions.
 */

static void mat_parts_clear(struct hd_materializer *m)
{
    for (size_t i = 0; i < m->part_cnt; i++)
        hd_free(m->parts[i].topic);
    hd_free(m->parts);
    m->parts = NULL;
    m->part_cnt = 0;
    m->part_hint = 0;
}

static struct mat_part *mat_part_find(struct hd_materializer *m, const char *topic, int32_t part)
{
    for (size_t k = 0; k < m->part_cnt; k++) {
        size_t i = (m->part_hint + k) % m->part_cnt;
        if (m->parts[i].partition == part && strcmp(m->parts[i].topic, topic) == 0) {
            m->part_hint = i;
            return &m->parts[i];
        }
    }
    return NULL;
}

static void mat_batch_drop(struct hd_materializer *m)
{
    for (size_t i = 0; i < m->batch_cnt; i++)
        rd_kafka_message_destroy(m->batch[i]);
    m->batch_cnt = 0;
    for (size_t i = 0; i < m->part_cnt; i++)
        m->parts[i].batch_next = -1;
}

static void mat_conn_drop(struct hd_materializer *m)
{
    if (m->conn)
        hd_pg_pool_put(m->pool, m->conn, 1);
    m->conn = NULL;
}

/* A connection with the statements prepared (again, after a reconnect). */
static int mat_conn(struct hd_materializer *m, char *errstr, size_t errstr_size)
{
    if (m->conn && PQstatus(m->conn) == CONNECTION_OK)
        return 0;
    mat_conn_drop(m);
    m->conn = hd_pg_pool_get(m->pool, errstr, errstr_size);
    if (!m->conn)
        return -1;
    for (size_t i = 0; i < HD_ARRAY_SIZE(mat_statements); i++) {
        PGresult *res = PQprepare(m->conn, mat_statements[i].name, mat_statements[i].sql, 0, NULL);
        int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (!ok) {
            hd_seterr(-1, errstr, errstr_size, "pg: prepare %s: %s (has `herald migrate` run?)",
                      mat_statements[i].name, PQerrorMessage(m->conn));
            mat_oneline(errstr);
            mat_conn_drop(m);
            return -1;
        }
    }
    return 0;
}

/* Reads every stored offset of this consumer into the assigned partitions' `next`. */
static int mat_offsets_load(struct hd_materializer *m, char *errstr, size_t errstr_size)
{
    if (mat_conn(m, errstr, errstr_size) != 0)
        return -1;
    const char *params[1] = {m->consumer};
    PGresult *res = PQexecParams(m->conn, mat_sql_load, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        hd_seterr(-1, errstr, errstr_size, "pg: read consumer_offsets: %s",
                  PQerrorMessage(m->conn));
        mat_oneline(errstr);
        PQclear(res);
        mat_conn_drop(m);
        return -1;
    }
    for (size_t i = 0; i < m->part_cnt; i++)
        m->parts[i].next = -1;
    for (int r = 0; r < PQntuples(res); r++) {
        struct mat_part *p = mat_part_find(m, PQgetvalue(res, r, 0),
                                           (int32_t)atoi(PQgetvalue(res, r, 1)));
        if (p)
            p->next = strtoll(PQgetvalue(res, r, 2), NULL, 10);
    }
    PQclear(res);
    return 0;
}

/* The assigned partitions at their stored offsets (the beginning where none is stored). */
static rd_kafka_topic_partition_list_t *mat_positions(struct hd_materializer *m)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)m->part_cnt);
    for (size_t i = 0; i < m->part_cnt; i++)
        rd_kafka_topic_partition_list_add(l, m->parts[i].topic, m->parts[i].partition)->offset =
            m->parts[i].next >= 0 ? m->parts[i].next : RD_KAFKA_OFFSET_BEGINNING;
    return l;
}

static void mat_backoff(struct hd_materializer *m)
{
    m->backoff_ms = m->backoff_ms ? m->backoff_ms * 2 : MAT_BACKOFF_MIN_MS;
    if (m->backoff_ms > MAT_BACKOFF_MAX_MS)
        m->backoff_ms = MAT_BACKOFF_MAX_MS;
    m->retry_at_us = hd_mono_us() + (int64_t)m->backoff_ms * 1000;
}

/* Stops consuming until mat_resync succeeds. */
static void mat_pause(struct hd_materializer *m)
{
    rd_kafka_topic_partition_list_t *l = mat_positions(m);
    rd_kafka_pause_partitions(m->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    m->resync = 1;
    mat_backoff(m);
}

/* Seeks every assigned partition to its stored offset and resumes. Returns 0 or -1. */
static int mat_resync(struct hd_materializer *m, char *errstr, size_t errstr_size)
{
    if (mat_offsets_load(m, errstr, errstr_size) != 0)
        return -1;
    rd_kafka_topic_partition_list_t *l = mat_positions(m);
    rd_kafka_error_t *err = l->cnt ? rd_kafka_seek_partitions(m->rk, l, MAT_SEEK_TIMEOUT_MS) : NULL;
    int rc = 0;
    if (err) {
        rc = hd_seterr(-1, errstr, errstr_size, "librdkafka: seek: %s", rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
    }
    for (int i = 0; rc == 0 && i < l->cnt; i++)
        if (l->elems[i].err)
            rc = hd_seterr(-1, errstr, errstr_size, "librdkafka: seek %s [%d]: %s",
                           l->elems[i].topic, (int)l->elems[i].partition,
                           rd_kafka_err2str(l->elems[i].err));
    if (rc == 0) {
        rd_kafka_resume_partitions(m->rk, l);
        m->resync = 0;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

static void mat_assign(struct hd_materializer *m, rd_kafka_topic_partition_list_t *parts)
{
    mat_parts_clear(m);
    m->parts = hd_calloc((size_t)parts->cnt + 1, sizeof(*m->parts));
    for (int i = 0; i < parts->cnt; i++) {
        m->parts[i].topic = hd_strdup(parts->elems[i].topic);
        m->parts[i].partition = parts->elems[i].partition;
        m->parts[i].next = -1;
        m->parts[i].batch_next = -1;
    }
    m->part_cnt = (size_t)parts->cnt;
    char e[512];
    int loaded = mat_offsets_load(m, e, sizeof(e)) == 0;
    rd_kafka_topic_partition_list_t *l = mat_positions(m);
    rd_kafka_resp_err_t err = rd_kafka_assign(m->rk, l);
    if (err)
        hd_log_error(MAT_COMPONENT, "assign: %s", rd_kafka_err2str(err));
    if (loaded) {
        rd_kafka_resume_partitions(m->rk, l);
        m->resync = 0;
        size_t stored = 0;
        for (size_t i = 0; i < m->part_cnt; i++)
            stored += m->parts[i].next >= 0;
        hd_log_info(MAT_COMPONENT,
                    "assigned %d partitions: %zu at their stored offsets, the others from the start",
                    parts->cnt, stored);
    } else {
        /* Consume nothing until the stored offsets are known. */
        hd_log_warn(MAT_COMPONENT, "assigned %d partitions; stored offsets unknown (%s)",
                    parts->cnt, e);
        mat_pause(m);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static void mat_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct hd_materializer *m = opaque;
    /* Eager protocol: every rebalance revokes everything, pending records included. They are
     * applied by whoever owns the partitions next, from the offsets stored in PostgreSQL. */
    mat_batch_drop(m);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        mat_assign(m, parts);
        return;
    }
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
        hd_log_warn(MAT_COMPONENT, "rebalance failed: %s", rd_kafka_err2str(err));
    else
        hd_log_info(MAT_COMPONENT, "revoked %d partitions", parts->cnt);
    mat_parts_clear(m);
    m->resync = 0;
    rd_kafka_assign(rk, NULL);
}

/*
 * Batch collection.
 */

/* Returns -1 on a fatal consumer error (errstr set), 0 otherwise. */
static int mat_consumer_error(struct hd_materializer *m, const rd_kafka_message_t *rkm,
                              char *errstr, size_t errstr_size)
{
    if (rkm->err == RD_KAFKA_RESP_ERR__FATAL) {
        char e[512];
        rd_kafka_fatal_error(m->rk, e, sizeof(e));
        return hd_seterr(-1, errstr, errstr_size, "librdkafka: fatal: %s", e);
    }
    if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        hd_log_warn(MAT_COMPONENT, "consumer: %s", rd_kafka_message_errstr(rkm));
    return 0;
}

/* Keeps a record for the batch unless it is below the partition's applied position. */
static void mat_batch_add(struct hd_materializer *m, rd_kafka_message_t *rkm)
{
    struct mat_part *p = mat_part_find(m, rd_kafka_topic_name(rkm->rkt), rkm->partition);
    int64_t floor = !p ? INT64_MAX : p->batch_next >= 0 ? p->batch_next : p->next;
    if (rkm->offset < floor) {
        rd_kafka_message_destroy(rkm);
        return;
    }
    p->batch_next = rkm->offset + 1;
    m->batch[m->batch_cnt++] = rkm;
}

/* Polls up to batch_max records: waits up to timeout_ms for the first, then fills the batch
 * for at most MAT_BATCH_WINDOW_US. Returns the batch size or -1 on a fatal error. */
static int mat_collect(struct hd_materializer *m, int timeout_ms, char *errstr,
                       size_t errstr_size)
{
    int64_t start = hd_mono_us(), first = 0;
    while (m->batch_cnt < (size_t)m->batch_max) {
        int64_t until = m->batch_cnt ? first + MAT_BATCH_WINDOW_US
                                     : start + (int64_t)timeout_ms * 1000;
        int64_t now = hd_mono_us();
        int wait = until > now ? (int)((until - now + 999) / 1000) : 0;
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(m->rk, wait);
        if (!rkm) {
            if (hd_mono_us() >= until)
                break;
            continue;
        }
        if (rkm->err) {
            int rc = mat_consumer_error(m, rkm, errstr, errstr_size);
            rd_kafka_message_destroy(rkm);
            if (rc)
                return -1;
            continue;
        }
        if (m->resync) { /* fetched before the pause took effect */
            rd_kafka_message_destroy(rkm);
            continue;
        }
        if (!m->batch_cnt)
            first = hd_mono_us();
        mat_batch_add(m, rkm);
    }
    return (int)m->batch_cnt;
}

/*
 * The pipelined transaction.
 */

static void pipe_fail(struct mat_pipe *p, const char *what, const char *msg)
{
    if (p->failed)
        return;
    p->failed = 1;
    hd_seterr(-1, p->errstr, p->errstr_size, "pg: %s: %s", what, msg ? msg : "");
    mat_oneline(p->errstr);
}

static int mat_data_error(const char *sqlstate);

/* A statement's error. About the data (a constraint, a value), PostgreSQL's text quotes the
 * row; only the SQLSTATE and the names of the objects involved go into errstr (and the log). */
static void pipe_fail_result(struct mat_pipe *p, const PGresult *res)
{
    if (p->failed)
        return;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    snprintf(p->sqlstate, sizeof(p->sqlstate), "%s", state ? state : "");
    if (!mat_data_error(p->sqlstate)) {
        pipe_fail(p, "batch", PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
        return;
    }
    const char *table = PQresultErrorField(res, PG_DIAG_TABLE_NAME);
    const char *constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    char msg[256];
    snprintf(msg, sizeof(msg), "SQLSTATE %s (table %s, constraint %s)", p->sqlstate,
             table ? table : "-", constraint ? constraint : "-");
    pipe_fail(p, "batch", msg);
}

/* Counts a statement as sent, or marks the pipeline broken when libpq could not queue it. */
static void pipe_sent(struct mat_pipe *p, int ok)
{
    if (ok) {
        p->sent++;
        return;
    }
    pipe_fail(p, "send", PQerrorMessage(p->conn));
    p->broken = 1;
}

static void pipe_send(struct mat_pipe *p, const char *stmt, int n, const char *const *params)
{
    if (!p->broken)
        pipe_sent(p, PQsendQueryPrepared(p->conn, stmt, n, params, NULL, NULL, 0));
}

/* Plain SQL without parameters (pipeline mode takes only the extended protocol). */
static void pipe_send_sql(struct mat_pipe *p, const char *sql)
{
    if (!p->broken)
        pipe_sent(p, PQsendQueryParams(p->conn, sql, 0, NULL, NULL, NULL, NULL, 0));
}

/* Reads the results of the statements sent so far (each: one result, then NULL). */
static void pipe_read(struct mat_pipe *p)
{
    while (p->read < p->sent && !p->broken) {
        PGresult *res = PQgetResult(p->conn);
        if (!res) {
            pipe_fail(p, "pipeline", PQstatus(p->conn) == CONNECTION_BAD
                                         ? PQerrorMessage(p->conn)
                                         : "result missing");
            p->broken = 1;
            return;
        }
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR || st == PGRES_BAD_RESPONSE)
            pipe_fail_result(p, res);
        else if (p->read == p->commit_idx && st == PGRES_COMMAND_OK &&
                 strcmp(PQcmdStatus(res), "COMMIT") != 0)
            pipe_fail(p, "commit", "transaction was rolled back");
        PQclear(res);
        res = PQgetResult(p->conn); /* end of this statement's results */
        if (res) {
            PQclear(res);
            pipe_fail(p, "pipeline", "unexpected extra result");
            p->broken = 1;
            return;
        }
        p->read++;
    }
}

/* Sends a flush request and reads everything in flight. */
static void pipe_drain(struct mat_pipe *p)
{
    if (p->broken)
        return;
    if (!PQsendFlushRequest(p->conn) || PQflush(p->conn) != 0) {
        pipe_fail(p, "flush", PQerrorMessage(p->conn));
        p->broken = 1;
        return;
    }
    pipe_read(p);
}

static void mat_warn_skip(const rd_kafka_message_t *rkm, const char *why)
{
    hd_log_warn(MAT_COMPONENT, "skipping %s [%d] offset %lld: %s", rd_kafka_topic_name(rkm->rkt),
                (int)rkm->partition, (long long)rkm->offset, why);
}

static void mat_tenant_seen(struct hd_materializer *m, const char *tenant)
{
    m->tenants = hd_realloc(m->tenants, (m->tenant_cnt + 1) * sizeof(*m->tenants));
    m->tenants[m->tenant_cnt++] = hd_strdup(tenant);
}

static void mat_send_status(struct hd_materializer *m, struct mat_pipe *p,
                            const rd_kafka_message_t *rkm)
{
    char e[256];
    struct hd_status_event *ev = &m->ev;
    if (hd_status_event_decode(m->sd, rkm->payload, rkm->len, ev, e, sizeof(e)) != 0 ||
        hd__mat_check_status_event(ev, e, sizeof(e)) != 0) {
        mat_warn_skip(rkm, e);
        return;
    }
    char rank[8], attempt[16], at[24], part[16], off[24];
    snprintf(rank, sizeof(rank), "%d", hd__mat_status_rank((int)ev->status));
    snprintf(attempt, sizeof(attempt), "%d", (int)ev->attempt);
    snprintf(at, sizeof(at), "%lld", (long long)ev->occurred_at);
    snprintf(part, sizeof(part), "%d", (int)rkm->partition);
    snprintf(off, sizeof(off), "%lld", (long long)rkm->offset);
    const char *v[17] = {ev->tenant_id, ev->notification_id, ev->user_id, ev->request_id,
                         hd_channel_name(ev->channel), ev->provider, ev->batch_id,
                         hd_status_name(ev->status), rank, ev->reason_code, ev->reason,
                         attempt, ev->provider_message_id, at, rd_kafka_topic_name(rkm->rkt),
                         part, off};
    pipe_send(p, "hd_mat_status", 17, v);
    mat_tenant_seen(m, ev->tenant_id);
}

static void mat_send_inbox(struct hd_materializer *m, struct mat_pipe *p,
                           const rd_kafka_message_t *rkm)
{
    char e[256];
    struct hd_inbox_item *it = &m->item;
    if (hd_inbox_item_decode(m->sd, rkm->payload, rkm->len, it, e, sizeof(e)) != 0 ||
        hd__mat_check_inbox_item(it, e, sizeof(e)) != 0) {
        mat_warn_skip(rkm, e);
        return;
    }
    char at[24];
    snprintf(at, sizeof(at), "%lld", (long long)it->created_at);
    hd__mat_data_json(&it->data, &m->json);
    const char *v[11] = {it->tenant_id, it->notification_id, it->user_id, it->request_id,
                         hd_category_name(it->category), it->batch_id, it->title, it->body,
                         it->html, m->json.data, at};
    pipe_send(p, "hd_mat_inbox", 11, v);
    mat_tenant_seen(m, it->tenant_id);
}

static void mat_send_record(struct hd_materializer *m, struct mat_pipe *p,
                            const rd_kafka_message_t *rkm)
{
    if (!rkm->payload || !rkm->len)
        mat_warn_skip(rkm, "empty value");
    else if (strcmp(rd_kafka_topic_name(rkm->rkt), HD_TOPIC_INBOX) == 0)
        mat_send_inbox(m, p, rkm);
    else
        mat_send_status(m, p, rkm);
    hd_status_event_clear(&m->ev);
    hd_inbox_item_clear(&m->item);
}

static int mat_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void mat_send_tenants(struct hd_materializer *m, struct mat_pipe *p)
{
    qsort(m->tenants, m->tenant_cnt, sizeof(*m->tenants), mat_strcmp);
    for (size_t i = 0; i < m->tenant_cnt; i++) {
        if (i == 0 || strcmp(m->tenants[i], m->tenants[i - 1]) != 0) {
            const char *v[1] = {m->tenants[i]};
            pipe_send(p, "hd_mat_tenant", 1, v);
        }
    }
    for (size_t i = 0; i < m->tenant_cnt; i++)
        hd_free(m->tenants[i]);
    m->tenant_cnt = 0;
}

static void mat_send_offsets(struct hd_materializer *m, struct mat_pipe *p)
{
    for (size_t i = 0; i < m->part_cnt; i++) {
        struct mat_part *pt = &m->parts[i];
        if (pt->batch_next < 0)
            continue;
        char part[16], next[24];
        snprintf(part, sizeof(part), "%d", (int)pt->partition);
        snprintf(next, sizeof(next), "%lld", (long long)pt->batch_next);
        const char *v[4] = {m->consumer, pt->topic, part, next};
        pipe_send(p, "hd_mat_offset", 4, v);
    }
}

static void pipe_begin(struct hd_materializer *m, struct mat_pipe *p, char *errstr,
                       size_t errstr_size)
{
    memset(p, 0, sizeof(*p));
    p->conn = m->conn;
    p->commit_idx = -1;
    p->errstr = errstr;
    p->errstr_size = errstr_size;
    if (!PQenterPipelineMode(m->conn)) {
        pipe_fail(p, "pipeline", PQerrorMessage(m->conn));
        p->broken = 1;
    }
}

/* Syncs, reads every result and leaves pipeline mode; a connection in an unknown state is
 * dropped. Returns 0 when every statement succeeded. */
static int pipe_end(struct hd_materializer *m, struct mat_pipe *p)
{
    if (!p->broken && !PQpipelineSync(p->conn)) {
        pipe_fail(p, "sync", PQerrorMessage(p->conn));
        p->broken = 1;
    }
    pipe_read(p);
    if (!p->broken) {
        PGresult *res = PQgetResult(p->conn);
        if (PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
            pipe_fail(p, "pipeline", "sync result missing");
            p->broken = 1;
        }
        PQclear(res);
    }
    if (p->broken || !PQexitPipelineMode(p->conn)) {
        pipe_fail(p, "pipeline", PQerrorMessage(p->conn));
        p->broken = 1;
        mat_conn_drop(m);
    }
    return p->failed ? -1 : 0;
}

/* Applies the batch in one transaction. Returns 0, or -1 with errstr (nothing applied). */
static int mat_apply(struct hd_materializer *m, char *sqlstate, char *errstr, size_t errstr_size)
{
    struct mat_pipe p;
    sqlstate[0] = '\0';
    if (mat_conn(m, errstr, errstr_size) != 0)
        return -1;
    pipe_begin(m, &p, errstr, errstr_size);
    pipe_send_sql(&p, "BEGIN");
    for (size_t i = 0; i < m->batch_cnt && !p.broken; i++) {
        mat_send_record(m, &p, m->batch[i]);
        if (p.sent - p.read >= MAT_PIPE_CHUNK)
            pipe_drain(&p);
    }
    mat_send_tenants(m, &p);
    mat_send_offsets(m, &p);
    p.commit_idx = p.sent;
    pipe_send_sql(&p, "COMMIT");
    int rc = pipe_end(m, &p);
    memcpy(sqlstate, p.sqlstate, sizeof(p.sqlstate));
    if (rc != 0 && m->conn)
        hd_pg_rollback(m->conn); /* an explicit transaction stays open, aborted */
    return rc;
}

/* Errors about the data rather than the database: retrying the same batch cannot help. */
static int mat_data_error(const char *sqlstate)
{
    return !strncmp(sqlstate, "22", 2) || !strncmp(sqlstate, "23", 2) ||
           !strncmp(sqlstate, "54", 2);
}

/* One record under its own savepoint. Returns 0, 1 when PostgreSQL rejected it (undone and
 * logged), or -1 with errstr when the connection failed. */
static int mat_apply_one(struct hd_materializer *m, const rd_kafka_message_t *rkm, char *errstr,
                         size_t errstr_size)
{
    struct mat_pipe p;
    size_t tenants = m->tenant_cnt;
    pipe_begin(m, &p, errstr, errstr_size);
    pipe_send_sql(&p, "SAVEPOINT hd_mat_record");
    mat_send_record(m, &p, rkm);
    pipe_send_sql(&p, "RELEASE SAVEPOINT hd_mat_record");
    if (pipe_end(m, &p) == 0)
        return 0;
    if (p.broken || hd_pg_exec(m->conn,
                               "ROLLBACK TO SAVEPOINT hd_mat_record;"
                               " RELEASE SAVEPOINT hd_mat_record",
                               errstr, errstr_size) != 0)
        return -1;
    while (m->tenant_cnt > tenants)
        hd_free(m->tenants[--m->tenant_cnt]);
    char why[64]; /* the SQLSTATE only: PostgreSQL's text may quote the record's values */
    snprintf(why, sizeof(why), "rejected by PostgreSQL (SQLSTATE %s)", p.sqlstate);
    mat_warn_skip(rkm, why);
    return 1;
}

/* After a data error: the same batch again, one savepoint per record, skipping the records
 * PostgreSQL rejects; rows and offsets still commit together. Returns 0 or -1 with errstr. */
static int mat_apply_careful(struct hd_materializer *m, char *errstr, size_t errstr_size)
{
    if (mat_conn(m, errstr, errstr_size) != 0 || hd_pg_exec(m->conn, "BEGIN", errstr,
                                                             errstr_size) != 0)
        return -1;
    for (size_t i = 0; i < m->batch_cnt; i++) {
        if (mat_apply_one(m, m->batch[i], errstr, errstr_size) < 0)
            goto err;
    }
    struct mat_pipe p;
    pipe_begin(m, &p, errstr, errstr_size);
    mat_send_tenants(m, &p);
    mat_send_offsets(m, &p);
    p.commit_idx = p.sent;
    pipe_send_sql(&p, "COMMIT");
    if (pipe_end(m, &p) == 0)
        return 0;
err:
    hd_pg_rollback(m->conn);
    for (size_t i = 0; i < m->tenant_cnt; i++)
        hd_free(m->tenants[i]);
    m->tenant_cnt = 0;
    return -1;
}

/*
 * Public interface.
 */

static int mat_subscribe(struct hd_materializer *m, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new((int)HD_ARRAY_SIZE(mat_topics));
    for (size_t i = 0; i < HD_ARRAY_SIZE(mat_topics); i++)
        rd_kafka_topic_partition_list_add(l, mat_topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(m->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        return hd_seterr(-1, errstr, errstr_size, "librdkafka: subscribe: %s",
                         rd_kafka_err2str(err));
    return 0;
}

struct hd_materializer *hd_materializer_new(const struct hd_config *c, char *errstr,
                                            size_t errstr_size)
{
    if (!c->pg) {
        hd_seterr(-1, errstr, errstr_size, "materializer: HERALD_PG is not set");
        return NULL;
    }
    struct hd_materializer *m = hd_calloc(1, sizeof(*m));
    m->consumer = hd_asprintf("%s-materializer", c->app_id ? c->app_id : "herald");
    m->batch_max = c->batch_max > 0 ? c->batch_max : 1000;
    m->batch = hd_calloc((size_t)m->batch_max, sizeof(*m->batch));
    if (!(m->sd = hd_serde_new(errstr, errstr_size)) ||
        !(m->pool = hd_pg_pool_new(c->pg, 1, errstr, errstr_size)) ||
        mat_conn(m, errstr, errstr_size) != 0 ||
        !(m->rk = hd_kafka_consumer_new_cb(c, m->consumer, mat_rebalance_cb, m, 0, errstr, errstr_size)) ||
        mat_subscribe(m, errstr, errstr_size) != 0)
        goto err;
    return m;
err:
    hd_materializer_destroy(m);
    return NULL;
}

int hd_materializer_poll(struct hd_materializer *m, int timeout_ms, char *errstr,
                         size_t errstr_size)
{
    char e[512];
    if (m->resync && hd_mono_us() >= m->retry_at_us) {
        if (mat_resync(m, e, sizeof(e)) == 0) {
            hd_log_info(MAT_COMPONENT, "resumed from the offsets stored in PostgreSQL");
        } else {
            mat_backoff(m);
            hd_log_warn(MAT_COMPONENT, "cannot resume yet (retry in %d ms): %s", m->backoff_ms,
                        e);
        }
    }
    if (m->resync) {
        /* Keep serving the group (rebalances, liveness) while paused. */
        int64_t left = (m->retry_at_us - hd_mono_us()) / 1000;
        timeout_ms = left < timeout_ms ? (left > 0 ? (int)left : 0) : timeout_ms;
    }
    int n = mat_collect(m, timeout_ms, errstr, errstr_size);
    if (n <= 0)
        return n;
    int64_t t0 = hd_mono_us();
    char sqlstate[6];
    int rc = mat_apply(m, sqlstate, e, sizeof(e));
    if (rc != 0 && m->conn && mat_data_error(sqlstate)) {
        hd_log_warn(MAT_COMPONENT, "batch of %d records rejected (%s); applying it record by "
                    "record", n, e);
        rc = mat_apply_careful(m, e, sizeof(e));
    }
    if (rc != 0) {
        mat_batch_drop(m);
        mat_pause(m);
        hd_log_warn(MAT_COMPONENT, "batch of %d records not applied (retry in %d ms): %s", n,
                    m->backoff_ms, e);
        return 0;
    }
    for (size_t i = 0; i < m->part_cnt; i++)
        if (m->parts[i].batch_next >= 0)
            m->parts[i].next = m->parts[i].batch_next;
    mat_batch_drop(m);
    m->backoff_ms = 0;
    if (hd_log_debug_on("pg"))
        hd_log_debug(MAT_COMPONENT, "applied %d records in %lld us", n,
                     (long long)(hd_mono_us() - t0));
    return n;
}

int hd_materializer_run(struct hd_materializer *m, volatile sig_atomic_t *stop, char *errstr,
                        size_t errstr_size)
{
    while (!*stop)
        if (hd_materializer_poll(m, 500, errstr, errstr_size) < 0)
            return -1;
    return 0;
}

void hd_materializer_destroy(struct hd_materializer *m)
{
    if (!m)
        return;
    if (m->rk) {
        rd_kafka_consumer_close(m->rk); /* revokes: the callback drops any pending batch */
        rd_kafka_destroy(m->rk);
    }
    mat_batch_drop(m);
    mat_parts_clear(m);
    mat_conn_drop(m);
    hd_pg_pool_destroy(m->pool);
    hd_serde_destroy(m->sd);
    hd_status_event_clear(&m->ev);
    hd_inbox_item_clear(&m->item);
    hd_buf_free(&m->json);
    for (size_t i = 0; i < m->tenant_cnt; i++)
        hd_free(m->tenants[i]);
    hd_free(m->tenants);
    hd_free(m->batch);
    hd_free(m->consumer);
    hd_free(m);
}
