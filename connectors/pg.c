/*
 * PostgreSQL access for the read model (see pg.h). Three parts:
 *
 * - A connection pool: a mutex, a condition variable and a stack of idle
 *   connections. Connections open lazily up to `size`; a borrower blocks while
 *   all are in use. A connection handed back broken, or still inside a
 *   transaction that cannot be rolled back, is closed rather than reused.
 * - The migration runner: the files of schemas/sql/ are compiled into the
 *   binary (core/embed.h), named NNNN_name.sql and sorted by name. Each file
 *   not yet recorded in schema_migrations is applied in its own transaction
 *   and recorded there in that same transaction, all under a session advisory
 *   lock so that two processes migrating at once apply each file once.
 * - The tenant scope for row-level security: BEGIN, SET LOCAL ROLE herald_api
 *   and the transaction-local setting herald.tenant_id, which every policy
 *   compares with the row's tenant_id.
 */
#include "connectors/pg.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/embed.h"
#include "core/hd.h"
#include "core/log.h"

/* Key of the session advisory lock that serialises migration runs ("herald" in ASCII). */
#define HD_PG_MIGRATE_LOCK_KEY "110386434418276"

struct hd_pg_pool {
    char *conninfo;
    int size;     /* upper bound on open connections */
    int open;     /* connections alive: idle + borrowed */
    PGconn **idle; /* stack of idle connections */
    int idle_cnt;
    pthread_mutex_t lock;
    pthread_cond_t cond;
};

/* libpq messages span lines (ERROR, HINT, CONTEXT) and end with a newline; errstr is one line. */
static void pg_seterr(char *errstr, size_t errstr_size, const char *what, const char *msg)
{
    if (!errstr || !errstr_size)
        return;
    int n = snprintf(errstr, errstr_size, "pg: %s: %s", what, msg ? msg : "");
    size_t len = n < 0 ? 0 : (size_t)n < errstr_size ? (size_t)n : errstr_size - 1;
    while (len > 0 && (errstr[len - 1] == '\n' || errstr[len - 1] == ' '))
        errstr[--len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (errstr[i] == '\n' || errstr[i] == '\r')
            errstr[i] = ' ';
}

/* Server notices (NOTICE: relation already exists, ...) go to the debug log, not stderr. */
static void pg_notice(void *arg, const char *message)
{
    (void)arg;
    if (hd_log_debug_on("pg")) {
        size_t n = strlen(message);
        while (n > 0 && message[n - 1] == '\n')
            n--;
        hd_log_debug("pg", "server notice: %.*s", (int)n, message);
    }
}

/* Opens one connection; the conninfo may be key=value pairs or a postgresql:// URI. */
static PGconn *pg_connect(const char *conninfo, char *errstr, size_t errstr_size)
{
    const char *keys[] = {"dbname", "fallback_application_name", NULL};
    const char *vals[] = {conninfo, "herald", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (!conn) {
        hd_seterr(-1, errstr, errstr_size, "pg: connect: out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        pg_seterr(errstr, errstr_size, "connect", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, pg_notice, NULL);
    return conn;
}

struct hd_pg_pool *hd_pg_pool_new(const char *conninfo, int size, char *errstr, size_t errstr_size)
{
    if (!conninfo || !*conninfo) {
        hd_seterr(-1, errstr, errstr_size, "pg: no connection string (HERALD_PG is not set)");
        return NULL;
    }
    if (size < 1)
        size = 1;
    PGconn *first = pg_connect(conninfo, errstr, errstr_size);
    if (!first)
        return NULL;
    struct hd_pg_pool *p = hd_calloc(1, sizeof(*p));
    p->conninfo = hd_strdup(conninfo);
    p->size = size;
    p->idle = hd_calloc((size_t)size, sizeof(*p->idle));
    p->idle[p->idle_cnt++] = first;
    p->open = 1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    return p;
}

PGconn *hd_pg_pool_get(struct hd_pg_pool *p, char *errstr, size_t errstr_size)
{
    pthread_mutex_lock(&p->lock);
    while (p->idle_cnt == 0 && p->open >= p->size)
        pthread_cond_wait(&p->cond, &p->lock);
    if (p->idle_cnt > 0) {
        PGconn *conn = p->idle[--p->idle_cnt];
        pthread_mutex_unlock(&p->lock);
        if (PQstatus(conn) == CONNECTION_OK)
            return conn;
        /* Went bad while idle: replace it, keeping its slot in `open`. */
        PQfinish(conn);
    } else {
        p->open++;
        pthread_mutex_unlock(&p->lock);
    }
    PGconn *conn = pg_connect(p->conninfo, errstr, errstr_size);
    if (!conn) {
        pthread_mutex_lock(&p->lock);
        p->open--;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
    }
    return conn;
}

/* A connection may be reused only when it is healthy and outside any transaction. */
static int pg_reusable(PGconn *conn)
{
    if (PQstatus(conn) != CONNECTION_OK || PQpipelineStatus(conn) != PQ_PIPELINE_OFF)
        return 0;
    PGTransactionStatusType ts = PQtransactionStatus(conn);
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
        hd_pg_rollback(conn);
        ts = PQtransactionStatus(conn);
    }
    return ts == PQTRANS_IDLE;
}

void hd_pg_pool_put(struct hd_pg_pool *p, PGconn *conn, int broken)
{
    if (!p || !conn)
        return;
    int keep = !broken && pg_reusable(conn);
    if (!keep)
        PQfinish(conn);
    pthread_mutex_lock(&p->lock);
    if (keep)
        p->idle[p->idle_cnt++] = conn;
    else
        p->open--;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

void hd_pg_pool_destroy(struct hd_pg_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->idle_cnt; i++)
        PQfinish(p->idle[i]);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    hd_free(p->idle);
    hd_free(p->conninfo);
    hd_free(p);
}

/* Runs a result-less command or a query whose rows are not needed. */
int hd_pg_exec(PGconn *conn, const char *sql, char *errstr, size_t errstr_size)
{
    if (!conn)
        return hd_seterr(-1, errstr, errstr_size, "pg: no connection");
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        pg_seterr(errstr, errstr_size, "exec", PQerrorMessage(conn));
        rc = -1;
    }
    PQclear(res);
    return rc;
}

int hd_pg_begin_tenant(PGconn *conn, const char *tenant_id, char *errstr, size_t errstr_size)
{
    if (!tenant_id || !*tenant_id)
        return hd_seterr(-1, errstr, errstr_size, "pg: begin_tenant: empty tenant id");
    if (hd_pg_exec(conn, "BEGIN", errstr, errstr_size) != 0)
        return -1;
    if (hd_pg_exec(conn, "SET LOCAL ROLE herald_api", errstr, errstr_size) != 0)
        goto err;
    const char *params[1] = {tenant_id};
    PGresult *res = PQexecParams(conn, "SELECT set_config('herald.tenant_id', $1, true)", 1,
                                 NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        pg_seterr(errstr, errstr_size, "set tenant", PQerrorMessage(conn));
    PQclear(res);
    if (ok)
        return 0;
err:
    hd_pg_rollback(conn);
    return -1;
}

/* COMMIT of a failed transaction "succeeds" with the command tag ROLLBACK: that is a failure. */
int hd_pg_commit(PGconn *conn, char *errstr, size_t errstr_size)
{
    if (!conn)
        return hd_seterr(-1, errstr, errstr_size, "pg: no connection");
    PGresult *res = PQexec(conn, "COMMIT");
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        pg_seterr(errstr, errstr_size, "commit", PQerrorMessage(conn));
        rc = -1;
    } else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        hd_seterr(-1, errstr, errstr_size, "pg: commit: transaction was aborted and rolled back");
        rc = -1;
    }
    PQclear(res);
    return rc;
}

void hd_pg_rollback(PGconn *conn)
{
    if (!conn || PQstatus(conn) != CONNECTION_OK)
        return;
    PQclear(PQexec(conn, "ROLLBACK"));
}

/*
 * Migrations.
 */

/* "0001_read_model.sql" -> 1. Returns -1 when the name is not NNNN_name.sql. */
static int pg_migration_version(const char *name)
{
    const char *p = name;
    long v = 0;
    while (isdigit((unsigned char)*p) && v < 1000000)
        v = v * 10 + (*p++ - '0');
    size_t n = strlen(name);
    if (p == name || *p != '_' || p[1] == '\0' || n < 5 || strcmp(name + n - 4, ".sql") != 0 ||
        v < 1 || v >= 1000000)
        return -1;
    return (int)v;
}

static int pg_exec_params(PGconn *conn, const char *what, const char *sql, int n,
                          const char *const *params, char *errstr, size_t errstr_size)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        pg_seterr(errstr, errstr_size, what, PQerrorMessage(conn));
        rc = -1;
    }
    PQclear(res);
    return rc;
}

/* Is `version` already recorded? Returns 1, 0, or -1 with errstr. */
static int pg_migration_applied(PGconn *conn, int version, char *errstr, size_t errstr_size)
{
    char v[16];
    snprintf(v, sizeof(v), "%d", version);
    const char *params[1] = {v};
    PGresult *res = PQexecParams(conn, "SELECT 1 FROM schema_migrations WHERE version = $1::int",
                                 1, NULL, params, NULL, NULL, 0);
    int rc;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pg_seterr(errstr, errstr_size, "read schema_migrations", PQerrorMessage(conn));
        rc = -1;
    } else {
        rc = PQntuples(res) > 0;
    }
    PQclear(res);
    return rc;
}

/* One file, one transaction: its statements and its row in schema_migrations. */
static int pg_migration_apply(PGconn *conn, const struct hd_embedded_file *f, int version,
                              char *errstr, size_t errstr_size)
{
    char what[256];
    char v[16];
    snprintf(v, sizeof(v), "%d", version);
    const char *params[2] = {v, f->name};
    if (hd_pg_exec(conn, "BEGIN", errstr, errstr_size) != 0)
        return -1;
    snprintf(what, sizeof(what), "migration %s", f->name);
    if (hd_pg_exec(conn, (const char *)f->data, NULL, 0) != 0) {
        pg_seterr(errstr, errstr_size, what, PQerrorMessage(conn));
        goto err;
    }
    if (pg_exec_params(conn, what,
                       "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)", 2,
                       params, errstr, errstr_size) != 0)
        goto err;
    if (hd_pg_commit(conn, errstr, errstr_size) != 0)
        return -1;
    hd_log_info("pg", "applied migration %s", f->name);
    return 0;
err:
    hd_pg_rollback(conn);
    return -1;
}

/* Checks the embedded file names before touching the database. */
static int pg_migrations_check(char *errstr, size_t errstr_size)
{
    int prev = 0;
    for (size_t i = 0; i < hd_embedded_sql_cnt; i++) {
        int v = pg_migration_version(hd_embedded_sql[i].name);
        if (v < 0)
            return hd_seterr(-1, errstr, errstr_size,
                             "pg: migration %s: name must be NNNN_name.sql",
                             hd_embedded_sql[i].name);
        if (v <= prev)
            return hd_seterr(-1, errstr, errstr_size,
                             "pg: migration %s: version %d is not above the previous one (%d)",
                             hd_embedded_sql[i].name, v, prev);
        prev = v;
    }
    return 0;
}

static int pg_migrate_locked(PGconn *conn, char *errstr, size_t errstr_size)
{
    if (hd_pg_exec(conn,
                   "CREATE TABLE IF NOT EXISTS schema_migrations ("
                   " version integer PRIMARY KEY,"
                   " name text NOT NULL,"
                   " applied_at timestamptz NOT NULL DEFAULT now())",
                   errstr, errstr_size) != 0)
        return -1;
    for (size_t i = 0; i < hd_embedded_sql_cnt; i++) {
        const struct hd_embedded_file *f = &hd_embedded_sql[i];
        int v = pg_migration_version(f->name);
        int applied = pg_migration_applied(conn, v, errstr, errstr_size);
        if (applied < 0)
            return -1;
        if (!applied && pg_migration_apply(conn, f, v, errstr, errstr_size) != 0)
            return -1;
    }
    return 0;
}

int hd_pg_migrate(const char *conninfo, char *errstr, size_t errstr_size)
{
    if (!conninfo || !*conninfo)
        return hd_seterr(-1, errstr, errstr_size,
                         "pg: no connection string (HERALD_PG is not set)");
    if (pg_migrations_check(errstr, errstr_size) != 0)
        return -1;
    PGconn *conn = pg_connect(conninfo, errstr, errstr_size);
    if (!conn)
        return -1;
    int rc = -1;
    if (hd_pg_exec(conn, "SET client_min_messages = warning", errstr, errstr_size) != 0 ||
        hd_pg_exec(conn, "SELECT pg_advisory_lock(" HD_PG_MIGRATE_LOCK_KEY ")", errstr,
                   errstr_size) != 0)
        goto out;
    rc = pg_migrate_locked(conn, errstr, errstr_size);
    /* The lock is also released when the session ends; unlock explicitly all the same. */
    hd_pg_exec(conn, "SELECT pg_advisory_unlock(" HD_PG_MIGRATE_LOCK_KEY ")", NULL, 0);
out:
    PQfinish(conn);
    return rc;
}
