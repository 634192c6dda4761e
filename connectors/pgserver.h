/*
 * A private, throwaway PostgreSQL server for `herald demo`: initdb + pg_ctl
 * in a temporary directory, listening only on a unix socket there, trust
 * auth. PostgreSQL refuses to run as root, so as root the server runs as the
 * `postgres` user that Debian's package creates (via runuser).
 */
#ifndef HD_PGSERVER_H
#define HD_PGSERVER_H

#include <stddef.h>

struct hd_pgserver;

/* Starts a server under a new temporary directory. *conninfo (borrowed from the handle)
 * is a libpq conninfo for it. Returns NULL with errstr. Takes a few seconds. */
struct hd_pgserver *hd_pgserver_start(const char **conninfo, char *errstr, size_t errstr_size);
/* Stops the server and removes its directory. Accepts NULL. */
void hd_pgserver_stop(struct hd_pgserver *s);

#endif
