/*
 * The materializer's PostgreSQL side (materializer_int.h): the connection with its prepared
 * statements, the batch transaction as one libpq pipeline (BEGIN, one statement per record,
 * tenants, offsets, COMMIT) read back in chunks, and the record-by-record retry under
 * savepoints after a data error.
 */
#include "materializer/materializer_int.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/kafka.h"
#include "core/hd.h"
#include "core/log.h"

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


void hd__mat_conn_drop(struct hd_materializer *m)
{
    if (m->conn)
        hd_pg_pool_put(m->pool, m->conn, 1);
    m->conn = NULL;
}

/* A connection with the statements prepared (again, after a reconnect). */
int hd__mat_conn(struct hd_materializer *m, char *errstr, size_t errstr_size)
{
    if (m->conn && PQstatus(m->conn) == CONNECTION_OK)
        return 0;
    hd__mat_conn_drop(m);
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
            hd__mat_oneline(errstr);
            hd__mat_conn_drop(m);
            return -1;
        }
    }
    return 0;
}

/* Reads every stored offset of this consumer into the assigned partitions' `next`. */
int hd__mat_offsets_load(struct hd_materializer *m, char *errstr, size_t errstr_size)
{
    if (hd__mat_conn(m, errstr, errstr_size) != 0)
        return -1;
    const char *params[1] = {m->consumer};
    PGresult *res = PQexecParams(m->conn, mat_sql_load, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        hd_seterr(-1, errstr, errstr_size, "pg: read consumer_offsets: %s",
                  PQerrorMessage(m->conn));
        hd__mat_oneline(errstr);
        PQclear(res);
        hd__mat_conn_drop(m);
        return -1;
    }
    for (size_t i = 0; i < m->part_cnt; i++)
        m->parts[i].next = -1;
    for (int r = 0; r < PQntuples(res); r++) {
        struct mat_part *p =
            hd__mat_part_find(m, PQgetvalue(res, r, 0), (int32_t)atoi(PQgetvalue(res, r, 1)));
        if (p)
            p->next = strtoll(PQgetvalue(res, r, 2), NULL, 10);
    }
    PQclear(res);
    return 0;
}

static void pipe_fail(struct mat_pipe *p, const char *what, const char *msg)
{
    if (p->failed)
        return;
    p->failed = 1;
    hd_seterr(-1, p->errstr, p->errstr_size, "pg: %s: %s", what, msg ? msg : "");
    hd__mat_oneline(p->errstr);
}

/* Errors about the data rather than the database: retrying the same batch cannot help. */
int hd__mat_data_error(const char *sqlstate)
{
    return !strncmp(sqlstate, "22", 2) || !strncmp(sqlstate, "23", 2) ||
           !strncmp(sqlstate, "54", 2);
}

/* A statement's error. About the data (a constraint, a value), PostgreSQL's text quotes the
 * row; only the SQLSTATE and the names of the objects involved go into errstr (and the log). */
static void pipe_fail_result(struct mat_pipe *p, const PGresult *res)
{
    if (p->failed)
        return;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    snprintf(p->sqlstate, sizeof(p->sqlstate), "%s", state ? state : "");
    if (!hd__mat_data_error(p->sqlstate)) {
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
        hd__mat_conn_drop(m);
    }
    return p->failed ? -1 : 0;
}

/* Applies the batch in one transaction. Returns 0, or -1 with errstr (nothing applied). */
int hd__mat_apply(struct hd_materializer *m, char *sqlstate, char *errstr, size_t errstr_size)
{
    struct mat_pipe p;
    sqlstate[0] = '\0';
    if (hd__mat_conn(m, errstr, errstr_size) != 0)
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
int hd__mat_apply_careful(struct hd_materializer *m, char *errstr, size_t errstr_size)
{
    if (hd__mat_conn(m, errstr, errstr_size) != 0 ||
        hd_pg_exec(m->conn, "BEGIN", errstr, errstr_size) != 0)
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
