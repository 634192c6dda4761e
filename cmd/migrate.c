/*
 * herald migrate [--status]: applies the read-model migrations compiled into
 * the binary (schemas/sql/NNNN_name.sql) to the database named by HERALD_PG,
 * each once (each applied one is logged), and prints the resulting state. With
 * --status it changes nothing and lists every migration as applied (with its
 * time) or pending.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "connectors/pg.h"
#include "core/embed.h"
#include "core/hd.h"

/* What schema_migrations records. */
struct mig_row {
    char *name;
    char *applied_at;
};

struct mig_state {
    struct mig_row *rows;
    size_t cnt;
};

static void mig_state_clear(struct mig_state *s)
{
    for (size_t i = 0; i < s->cnt; i++) {
        hd_free(s->rows[i].name);
        hd_free(s->rows[i].applied_at);
    }
    hd_free(s->rows);
    s->rows = NULL;
    s->cnt = 0;
}

static const struct mig_row *mig_state_find(const struct mig_state *s, const char *name)
{
    for (size_t i = 0; i < s->cnt; i++)
        if (strcmp(s->rows[i].name, name) == 0)
            return &s->rows[i];
    return NULL;
}

/* Reads schema_migrations; a database never migrated has none. Returns 0 or -1. */
static int mig_state_read(const char *conninfo, struct mig_state *s, char *errstr,
                          size_t errstr_size)
{
    struct hd_pg_pool *pool = hd_pg_pool_new(conninfo, 1, errstr, errstr_size);
    if (!pool)
        return -1;
    int rc = -1;
    PGconn *conn = hd_pg_pool_get(pool, errstr, errstr_size);
    if (!conn)
        goto out;
    PGresult *res = PQexec(conn, "SELECT name, to_char(applied_at AT TIME ZONE 'UTC',"
                                 " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM schema_migrations"
                                 " ORDER BY version");
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        s->cnt = (size_t)PQntuples(res);
        s->rows = hd_calloc(s->cnt + 1, sizeof(*s->rows));
        for (size_t i = 0; i < s->cnt; i++) {
            s->rows[i].name = hd_strdup(PQgetvalue(res, (int)i, 0));
            s->rows[i].applied_at = hd_strdup(PQgetvalue(res, (int)i, 1));
        }
        rc = 0;
    } else if (state && strcmp(state, "42P01") == 0) {
        rc = 0; /* undefined_table: nothing applied yet */
    } else {
        hd_seterr(-1, errstr, errstr_size, "pg: read schema_migrations: %s",
                  PQresultErrorMessage(res));
    }
    PQclear(res);
    hd_pg_pool_put(pool, conn, rc != 0);
out:
    hd_pg_pool_destroy(pool);
    return rc;
}

static int mig_status(const char *conninfo)
{
    struct mig_state s = {0};
    char err[512];
    if (mig_state_read(conninfo, &s, err, sizeof(err)) != 0) {
        fprintf(stderr, "herald migrate: %s\n", err);
        return 1;
    }
    size_t pending = 0;
    for (size_t i = 0; i < hd_embedded_sql_cnt; i++) {
        const struct mig_row *r = mig_state_find(&s, hd_embedded_sql[i].name);
        printf("%-40s %s%s\n", hd_embedded_sql[i].name, r ? "applied " : "pending",
               r ? r->applied_at : "");
        pending += !r;
    }
    for (size_t i = 0; i < s.cnt; i++) {
        int known = 0;
        for (size_t j = 0; j < hd_embedded_sql_cnt && !known; j++)
            known = strcmp(s.rows[i].name, hd_embedded_sql[j].name) == 0;
        if (!known)
            printf("%-40s applied %s (not in this binary)\n", s.rows[i].name,
                   s.rows[i].applied_at);
    }
    printf("%zu applied, %zu pending\n", hd_embedded_sql_cnt - pending, pending);
    mig_state_clear(&s);
    return 0;
}

/* What this run applied is logged by hd_pg_migrate itself ("applied migration ..."), which
 * alone knows it when several runs race for the lock; the summary states the result. */
static int mig_apply(const char *conninfo)
{
    struct mig_state after = {0};
    char err[512];
    if (hd_pg_migrate(conninfo, err, sizeof(err)) != 0 ||
        mig_state_read(conninfo, &after, err, sizeof(err)) != 0) {
        fprintf(stderr, "herald migrate: %s\n", err);
        mig_state_clear(&after);
        return 1;
    }
    printf("database up to date: %zu migration%s applied, latest %s\n", after.cnt,
           after.cnt == 1 ? "" : "s", after.cnt ? after.rows[after.cnt - 1].name : "none");
    mig_state_clear(&after);
    return 0;
}

static void mig_usage(FILE *out)
{
    fprintf(out, "usage: herald migrate [--status]\n"
                 "  Applies the read-model migrations to the PostgreSQL database named by\n"
                 "  HERALD_PG (a libpq connection string), each once; safe to run concurrently.\n"
                 "  --status  list the migrations as applied or pending; change nothing\n");
}

int hd_cmd_migrate(int argc, char **argv, struct hd_config *cfg)
{
    int status = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            mig_usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--status")) {
            status = 1;
            continue;
        }
        fprintf(stderr, "herald migrate: unknown option \"%s\"\n", argv[i]);
        mig_usage(stderr);
        return 2;
    }
    if (!cfg->pg) {
        fprintf(stderr, "herald migrate: HERALD_PG is not set; set it to a libpq connection "
                        "string, e.g. HERALD_PG='host=localhost dbname=herald user=herald'\n");
        return 1;
    }
    return status ? mig_status(cfg->pg) : mig_apply(cfg->pg);
}
