/*
 * The read API (libmicrohttpd): the user inbox under /v1/me/ and health
 * endpoints. Reads PostgreSQL through a tenant-scoped transaction (RLS); writes
 * only by producing to Kafka and answering 202 with a consistency token.
 * Auth: Bearer JWT (RS256/ES256) checked against a JWKS (file or URL);
 * `sub` is the user, the `tenant_id` claim the tenant.
 */
#ifndef HD_API_H
#define HD_API_H

#include <stddef.h>

#include "core/config.h"

struct hd_api;

/* Starts the server on c->api_listen ("host:port"; port 0 picks a free one) with its
 * own threads. Needs c->pg, c->jwks, c->brokers. Returns NULL with errstr. */
struct hd_api *hd_api_start(const struct hd_config *c, char *errstr, size_t errstr_size);
/* The port actually bound. */
int hd_api_port(const struct hd_api *api);
/* Stops the server and frees everything. Accepts NULL. */
void hd_api_stop(struct hd_api *api);

#endif
