/*
 * JWT verification against a JWKS, on libcjose: RS256 and ES256 signatures,
 * exp/nbf checks with a small leeway, and the claims Herald uses (sub,
 * tenant_id, roles). Also a development key helper that mints a key pair,
 * its JWKS and signed tokens (for `herald demo` and tests).
 */
#ifndef HD_JWT_H
#define HD_JWT_H

#include <stddef.h>
#include <stdint.h>

struct hd_jwks; /* immutable after load; safe to share between threads */

/* Loads a JWKS from a file path or an http(s):// URL. Returns NULL with errstr. */
struct hd_jwks *hd_jwks_load(const char *file_or_url, char *errstr, size_t errstr_size);
struct hd_jwks *hd_jwks_parse(const char *json, char *errstr, size_t errstr_size);
void hd_jwks_destroy(struct hd_jwks *j);

struct hd_claims {
    char *sub;
    char *tenant_id;
    char **roles; /* realm_access.roles, if present */
    size_t role_cnt;
    int64_t exp;
};
/* Verifies `token` (compact JWS). On success fills claims (caller clears) and returns 0;
 * else -1 with errstr saying why (malformed, unknown kid, bad signature, expired, missing
 * sub or tenant_id). `now` is epoch seconds. */
int hd_jwt_verify(const struct hd_jwks *j, const char *token, int64_t now, struct hd_claims *claims,
                  char *errstr, size_t errstr_size);
void hd_claims_clear(struct hd_claims *c);

/* Development signer: an RSA key pair (RS256) with kid "herald-dev". */
struct hd_jwt_signer;
struct hd_jwt_signer *hd_jwt_signer_new(char *errstr, size_t errstr_size);
/* The public JWKS as JSON; caller frees. */
char *hd_jwt_signer_jwks(struct hd_jwt_signer *s);
/* A signed token with sub, tenant_id, exp = now + ttl_s (and iat); caller frees. */
char *hd_jwt_sign(struct hd_jwt_signer *s, const char *sub, const char *tenant_id, int64_t ttl_s);
void hd_jwt_signer_destroy(struct hd_jwt_signer *s);

#endif
