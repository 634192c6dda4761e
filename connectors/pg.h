/*
 * PostgreSQL access for the read model: a small thread-safe connection pool,
 * the migration runner (numbered SQL files compiled into the binary from
 * schemas/sql/), and the tenant scope that row-level security needs.
 */
#ifndef HD_PG_H
#define HD_PG_H

#include <libpq-fe.h>
#include <stddef.h>

struct hd_pg_pool;

/* Opens up to `size` connections lazily. Returns NULL with errstr if the first
 * connection fails. */
struct hd_pg_pool *hd_pg_pool_new(const char *conninfo, int size, char *errstr, size_t errstr_size);
/* Borrows a connection (blocks while all are in use). NULL with errstr if it cannot connect. */
PGconn *hd_pg_pool_get(struct hd_pg_pool *p, char *errstr, size_t errstr_size);
/* Returns a connection; broken != 0 closes it instead of reusing it. */
void hd_pg_pool_put(struct hd_pg_pool *p, PGconn *conn, int broken);
void hd_pg_pool_destroy(struct hd_pg_pool *p);

/* Applies the embedded migrations in order, each once (tracked in schema_migrations),
 * under an advisory lock so concurrent runs are safe. Returns 0 or -1 with errstr. */
int hd_pg_migrate(const char *conninfo, char *errstr, size_t errstr_size);

/* Starts a transaction scoped to one tenant: BEGIN; SET LOCAL ROLE herald_api;
 * set_config('herald.tenant_id', tenant, true). Row-level security then shows only that
 * tenant's rows. End with hd_pg_commit or hd_pg_rollback. Returns 0 or -1. */
int hd_pg_begin_tenant(PGconn *conn, const char *tenant_id, char *errstr, size_t errstr_size);
int hd_pg_exec(PGconn *conn, const char *sql, char *errstr, size_t errstr_size);
int hd_pg_commit(PGconn *conn, char *errstr, size_t errstr_size);
void hd_pg_rollback(PGconn *conn);

#endif
