/*
 * JWT verification (connectors/jwt.c): good tokens pass with their claims;
 * every kind of bad token is refused with an error that says why and does
 * not contain the token. Tokens other than the dev signer's are minted here
 * with cjose directly, so headers and payloads can be anything.
 */
#include <arpa/inet.h>
#include <cjose/cjose.h>
#include <criterion/criterion.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "connectors/jwt.h"
#include "core/hd.h"

static char errstr[512];

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static char *b64url(const char *s)
{
    char *out = NULL;
    size_t out_len = 0;
    cjose_err err;
    cr_assert(cjose_base64url_encode((const uint8_t *)s, strlen(s), &out, &out_len, &err));
    char *copy = hd_strndup(out, out_len);
    cjose_get_dealloc()(out);
    return copy;
}

/* A compact JWS over `payload` signed by `jwk` with `alg`; kid omitted when NULL. */
static char *mint(cjose_jwk_t *jwk, const char *alg, const char *kid, const char *payload)
{
    cjose_err err;
    cjose_header_t *hdr = cjose_header_new(&err);
    cr_assert(cjose_header_set(hdr, CJOSE_HDR_ALG, alg, &err));
    if (kid)
        cr_assert(cjose_header_set(hdr, CJOSE_HDR_KID, kid, &err));
    cjose_jws_t *jws = cjose_jws_sign(jwk, hdr, (const uint8_t *)payload, strlen(payload), &err);
    cr_assert_not_null(jws, "cjose_jws_sign: %s", err.message);
    const char *ser = NULL;
    cr_assert(cjose_jws_export(jws, &ser, &err));
    char *out = hd_strdup(ser);
    cjose_jws_release(jws);
    cjose_header_release(hdr);
    return out;
}

static char *claims_json(const char *sub, const char *tenant, int64_t exp)
{
    return hd_asprintf("{\"sub\":\"%s\",\"tenant_id\":\"%s\",\"exp\":%lld}", sub, tenant,
                       (long long)exp);
}

static cjose_jwk_t *rsa_key(const char *kid)
{
    static const uint8_t e[] = {1, 0, 1};
    cjose_err err;
    cjose_jwk_t *k = cjose_jwk_create_RSA_random(2048, e, sizeof(e), &err);
    cr_assert_not_null(k);
    if (kid)
        cr_assert(cjose_jwk_set_kid(k, kid, strlen(kid), &err));
    return k;
}

/* {"keys":[<public jwk>]} for one cjose key. */
static struct hd_jwks *jwks_of(cjose_jwk_t *k)
{
    cjose_err err;
    char *pub = cjose_jwk_to_json(k, false, &err);
    cr_assert_not_null(pub);
    char *doc = hd_asprintf("{\"keys\":[%s]}", pub);
    cjose_get_dealloc()(pub);
    struct hd_jwks *j = hd_jwks_parse(doc, errstr, sizeof(errstr));
    cr_assert_not_null(j, "hd_jwks_parse: %s", errstr);
    hd_free(doc);
    return j;
}

/* Expects `token` to be refused with an error containing `why`, and no part of the token. */
static void expect_refused(const struct hd_jwks *j, const char *token, const char *why)
{
    struct hd_claims c;
    errstr[0] = '\0';
    cr_assert_eq(hd_jwt_verify(j, token, now_s(), &c, errstr, sizeof(errstr)), -1,
                 "token accepted, expected \"%s\"", why);
    cr_assert_not_null(strstr(errstr, why), "error \"%s\" does not say \"%s\"", errstr, why);
    cr_assert_null(c.sub);
    cr_assert_null(c.tenant_id);
    const char *dot = strrchr(token, '.');
    if (dot && strlen(dot + 1) > 8)
        cr_assert_null(strstr(errstr, dot + 1), "error echoes the token's signature");
}

/* ---- the dev signer ---- */

static struct hd_jwt_signer *signer;
static struct hd_jwks *signer_jwks;

static void dev_setup(void)
{
    signer = hd_jwt_signer_new(errstr, sizeof(errstr));
    cr_assert_not_null(signer, "%s", errstr);
    char *doc = hd_jwt_signer_jwks(signer);
    cr_assert_not_null(doc);
    cr_assert_null(strstr(doc, "\"d\""), "the JWKS must not carry the private exponent");
    signer_jwks = hd_jwks_parse(doc, errstr, sizeof(errstr));
    cr_assert_not_null(signer_jwks, "%s", errstr);
    hd_free(doc);
}

static void dev_teardown(void)
{
    hd_jwks_destroy(signer_jwks);
    hd_jwt_signer_destroy(signer);
}

TestSuite(jwt, .init = dev_setup, .fini = dev_teardown);

Test(jwt, valid_token_verifies_and_gives_its_claims)
{
    char *tok = hd_jwt_sign(signer, "user-1", "acme", 300);
    cr_assert_not_null(tok);
    struct hd_claims c;
    int rc = hd_jwt_verify(signer_jwks, tok, now_s(), &c, errstr, sizeof(errstr));
    cr_assert_eq(rc, 0, "%s", errstr);
    cr_assert_str_eq(c.sub, "user-1");
    cr_assert_str_eq(c.tenant_id, "acme");
    cr_assert(c.exp >= now_s() + 290 && c.exp <= now_s() + 300);
    cr_assert_eq(c.role_cnt, 0);
    hd_claims_clear(&c);
    cr_assert_null(c.sub);
    hd_free(tok);
}

Test(jwt, expired_token_is_refused)
{
    char *tok = hd_jwt_sign(signer, "user-1", "acme", -120);
    expect_refused(signer_jwks, tok, "expired");
    hd_free(tok);
}

Test(jwt, token_expired_within_leeway_is_accepted)
{
    char *tok = hd_jwt_sign(signer, "user-1", "acme", -10);
    struct hd_claims c;
    cr_assert_eq(hd_jwt_verify(signer_jwks, tok, now_s(), &c, errstr, sizeof(errstr)), 0, "%s",
                 errstr);
    hd_claims_clear(&c);
    hd_free(tok);
}

Test(jwt, expiry_is_judged_against_the_given_now)
{
    char *tok = hd_jwt_sign(signer, "user-1", "acme", 60);
    struct hd_claims c;
    cr_assert_eq(hd_jwt_verify(signer_jwks, tok, now_s() + 3600, &c, errstr, sizeof(errstr)), -1);
    cr_assert_not_null(strstr(errstr, "expired"));
    hd_free(tok);
}

Test(jwt, signature_from_another_key_with_the_same_kid_is_refused)
{
    struct hd_jwt_signer *other = hd_jwt_signer_new(errstr, sizeof(errstr));
    cr_assert_not_null(other);
    char *tok = hd_jwt_sign(other, "user-1", "acme", 300);
    expect_refused(signer_jwks, tok, "bad signature");
    hd_free(tok);
    hd_jwt_signer_destroy(other);
}

Test(jwt, tampered_payload_is_refused)
{
    char *tok = hd_jwt_sign(signer, "user-1", "acme", 300);
    char *d1 = strchr(tok, '.');
    char *d2 = strchr(d1 + 1, '.');
    char *forged = claims_json("user-1", "evil", now_s() + 300);
    char *p = b64url(forged);
    char *t2 = hd_asprintf("%.*s.%s%s", (int)(d1 - tok), tok, p, d2);
    expect_refused(signer_jwks, t2, "bad signature");
    hd_free(t2);
    hd_free(p);
    hd_free(forged);
    hd_free(tok);
}

Test(jwt, alg_none_is_refused)
{
    char *h = b64url("{\"alg\":\"none\",\"typ\":\"JWT\"}");
    char *claims = claims_json("user-1", "acme", now_s() + 300);
    char *p = b64url(claims);
    char *tok = hd_asprintf("%s.%s.", h, p);
    expect_refused(signer_jwks, tok, "unsupported alg \"none\"");
    hd_free(tok);
    hd_free(p);
    hd_free(claims);
    hd_free(h);
}

Test(jwt, hmac_token_is_refused)
{
    cjose_err err;
    cjose_jwk_t *oct = cjose_jwk_create_oct_random(32, &err);
    cr_assert_not_null(oct);
    char *claims = claims_json("user-1", "acme", now_s() + 300);
    char *tok = mint(oct, CJOSE_HDR_ALG_HS256, "herald-dev", claims);
    expect_refused(signer_jwks, tok, "unsupported alg \"HS256\"");
    hd_free(tok);
    hd_free(claims);
    cjose_jwk_release(oct);
}

Test(jwt, missing_tenant_id_is_refused)
{
    cjose_jwk_t *k = rsa_key("k1");
    struct hd_jwks *j = jwks_of(k);
    char *claims = hd_asprintf("{\"sub\":\"user-1\",\"exp\":%lld}", (long long)now_s() + 300);
    char *tok = mint(k, CJOSE_HDR_ALG_RS256, "k1", claims);
    expect_refused(j, tok, "tenant_id");
    hd_free(tok);
    hd_free(claims);
    hd_jwks_destroy(j);
    cjose_jwk_release(k);
}

Test(jwt, missing_sub_or_exp_is_refused)
{
    cjose_jwk_t *k = rsa_key("k1");
    struct hd_jwks *j = jwks_of(k);
    char *no_sub = hd_asprintf("{\"tenant_id\":\"acme\",\"exp\":%lld}", (long long)now_s() + 300);
    char *tok = mint(k, CJOSE_HDR_ALG_RS256, "k1", no_sub);
    expect_refused(j, tok, "sub");
    hd_free(tok);
    tok = mint(k, CJOSE_HDR_ALG_RS256, "k1", "{\"sub\":\"u\",\"tenant_id\":\"acme\"}");
    expect_refused(j, tok, "no exp");
    hd_free(tok);
    hd_free(no_sub);
    hd_jwks_destroy(j);
    cjose_jwk_release(k);
}

Test(jwt, tenant_with_a_slash_is_refused)
{
    cjose_jwk_t *k = rsa_key("k1");
    struct hd_jwks *j = jwks_of(k);
    char *claims = claims_json("user-1", "a/b", now_s() + 300);
    char *tok = mint(k, CJOSE_HDR_ALG_RS256, "k1", claims);
    expect_refused(j, tok, "tenant_id");
    hd_free(tok);
    hd_free(claims);
    hd_jwks_destroy(j);
    cjose_jwk_release(k);
}

Test(jwt, garbage_is_malformed)
{
    const char *bad[] = {"", "abc", "a.b", "a.b.c.d", "!!!.???.***", "eyJhbGciOiJSUzI1NiJ9..",
                         "bm90IGpzb24.e30.c2ln", "eyJhbGciOiJSUzI1NiJ9.e30.!!!"};
    for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++)
        expect_refused(signer_jwks, bad[i], "malformed token");
}

Test(jwt, unknown_critical_header_is_refused)
{
    cjose_jwk_t *k = rsa_key("k1");
    struct hd_jwks *j = jwks_of(k);
    cjose_err err;
    cjose_header_t *hdr = cjose_header_new(&err);
    cr_assert(cjose_header_set(hdr, CJOSE_HDR_ALG, CJOSE_HDR_ALG_RS256, &err));
    cr_assert(cjose_header_set(hdr, CJOSE_HDR_KID, "k1", &err));
    cr_assert(cjose_header_set_raw(hdr, "crit", "[\"x-herald\"]", &err));
    cr_assert(cjose_header_set(hdr, "x-herald", "1", &err));
    char *claims = claims_json("u", "t", now_s() + 300);
    cjose_jws_t *jws = cjose_jws_sign(k, hdr, (const uint8_t *)claims, strlen(claims), &err);
    cr_assert_not_null(jws);
    const char *tok = NULL;
    cr_assert(cjose_jws_export(jws, &tok, &err));
    expect_refused(j, tok, "critical");
    cjose_jws_release(jws);
    cjose_header_release(hdr);
    hd_free(claims);
    hd_jwks_destroy(j);
    cjose_jwk_release(k);
}

Test(jwt, signed_payload_that_is_not_json_is_refused)
{
    cjose_jwk_t *k = rsa_key("k1");
    struct hd_jwks *j = jwks_of(k);
    char *tok = mint(k, CJOSE_HDR_ALG_RS256, "k1", "[\"sub\",\"tenant_id\"]");
    expect_refused(j, tok, "payload is not a JSON object");
    hd_free(tok);
    hd_jwks_destroy(j);
    cjose_jwk_release(k);
}

Test(jwt, unknown_kid_is_refused)
{
    cjose_jwk_t *k = rsa_key("rotated-away");
    char *claims = claims_json("user-1", "acme", now_s() + 300);
    char *tok = mint(k, CJOSE_HDR_ALG_RS256, "rotated-away", claims);
    expect_refused(signer_jwks, tok, "unknown kid \"rotated-away\"");
    hd_free(tok);
    hd_free(claims);
    cjose_jwk_release(k);
}

Test(jwt, token_without_kid_is_tried_against_every_key)
{
    cjose_jwk_t *a = rsa_key("a");
    cjose_jwk_t *b = rsa_key("b");
    cjose_err err;
    char *pa = cjose_jwk_to_json(a, false, &err);
    char *pb = cjose_jwk_to_json(b, false, &err);
    char *doc = hd_asprintf("{\"keys\":[%s,%s]}", pa, pb);
    struct hd_jwks *j = hd_jwks_parse(doc, errstr, sizeof(errstr));
    cr_assert_not_null(j, "%s", errstr);
    char *claims = claims_json("user-2", "globex", now_s() + 300);
    char *tok = mint(b, CJOSE_HDR_ALG_RS256, NULL, claims);
    struct hd_claims c;
    cr_assert_eq(hd_jwt_verify(j, tok, now_s(), &c, errstr, sizeof(errstr)), 0, "%s", errstr);
    cr_assert_str_eq(c.tenant_id, "globex");
    hd_claims_clear(&c);
    hd_free(tok);
    hd_free(claims);
    hd_jwks_destroy(j);
    hd_free(doc);
    cjose_get_dealloc()(pa);
    cjose_get_dealloc()(pb);
    cjose_jwk_release(a);
    cjose_jwk_release(b);
}

Test(jwt, es256_token_verifies_and_rs256_key_does_not_stand_in)
{
    cjose_err err;
    cjose_jwk_t *ec = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err);
    cr_assert_not_null(ec);
    cr_assert(cjose_jwk_set_kid(ec, "ec1", 3, &err));
    struct hd_jwks *j = jwks_of(ec);
    char *claims = claims_json("user-3", "initech", now_s() + 300);
    char *tok = mint(ec, CJOSE_HDR_ALG_ES256, "ec1", claims);
    struct hd_claims c;
    cr_assert_eq(hd_jwt_verify(j, tok, now_s(), &c, errstr, sizeof(errstr)), 0, "%s", errstr);
    cr_assert_str_eq(c.sub, "user-3");
    hd_claims_clear(&c);
    /* An RS256 token naming the EC key's kid must not be checked with it. */
    cjose_jwk_t *r = rsa_key("ec1");
    char *tok2 = mint(r, CJOSE_HDR_ALG_RS256, "ec1", claims);
    expect_refused(j, tok2, "not an RS256 key");
    cjose_jwk_release(r);
    hd_free(tok2);
    hd_free(tok);
    hd_free(claims);
    hd_jwks_destroy(j);
    cjose_jwk_release(ec);
}

Test(jwt, token_before_nbf_is_refused)
{
    cjose_jwk_t *k = rsa_key("k1");
    struct hd_jwks *j = jwks_of(k);
    char *claims = hd_asprintf("{\"sub\":\"u\",\"tenant_id\":\"t\",\"exp\":%lld,\"nbf\":%lld}",
                               (long long)now_s() + 7200, (long long)now_s() + 3600);
    char *tok = mint(k, CJOSE_HDR_ALG_RS256, "k1", claims);
    expect_refused(j, tok, "nbf");
    hd_free(tok);
    hd_free(claims);
    hd_jwks_destroy(j);
    cjose_jwk_release(k);
}

Test(jwt, realm_roles_are_collected)
{
    cjose_jwk_t *k = rsa_key("k1");
    struct hd_jwks *j = jwks_of(k);
    char *claims = hd_asprintf("{\"sub\":\"u\",\"tenant_id\":\"t\",\"exp\":%lld,"
                               "\"realm_access\":{\"roles\":[\"notification-user\",7,"
                               "\"notification-viewer\"]}}",
                               (long long)now_s() + 300);
    char *tok = mint(k, CJOSE_HDR_ALG_RS256, "k1", claims);
    struct hd_claims c;
    cr_assert_eq(hd_jwt_verify(j, tok, now_s(), &c, errstr, sizeof(errstr)), 0, "%s", errstr);
    cr_assert_eq(c.role_cnt, 2);
    cr_assert_str_eq(c.roles[0], "notification-user");
    cr_assert_str_eq(c.roles[1], "notification-viewer");
    hd_claims_clear(&c);
    hd_free(tok);
    hd_free(claims);
    hd_jwks_destroy(j);
    cjose_jwk_release(k);
}

/* ---- JWKS loading ---- */

Test(jwks, encryption_and_symmetric_keys_are_skipped)
{
    cjose_jwk_t *k = rsa_key("sig1");
    cjose_err err;
    char *pub = cjose_jwk_to_json(k, false, &err);
    /* Keycloak publishes an RSA-OAEP key with use "enc" next to its signing key. */
    char *doc = hd_asprintf("{\"keys\":[{\"kty\":\"oct\",\"kid\":\"s\",\"k\":\"c2VjcmV0\"},"
                            "{\"kty\":\"RSA\",\"use\":\"enc\",\"alg\":\"RSA-OAEP\",\"kid\":\"e\","
                            "\"n\":\"AQAB\",\"e\":\"AQAB\"},%s]}",
                            pub);
    struct hd_jwks *j = hd_jwks_parse(doc, errstr, sizeof(errstr));
    cr_assert_not_null(j, "%s", errstr);
    char *claims = claims_json("u", "t", now_s() + 300);
    char *tok = mint(k, CJOSE_HDR_ALG_RS256, "sig1", claims);
    struct hd_claims c;
    cr_assert_eq(hd_jwt_verify(j, tok, now_s(), &c, errstr, sizeof(errstr)), 0, "%s", errstr);
    hd_claims_clear(&c);
    hd_free(tok);
    hd_free(claims);
    hd_jwks_destroy(j);
    hd_free(doc);
    cjose_get_dealloc()(pub);
    cjose_jwk_release(k);
}

Test(jwks, documents_without_a_usable_key_are_errors)
{
    cr_assert_null(hd_jwks_parse("not json", errstr, sizeof(errstr)));
    cr_assert_not_null(strstr(errstr, "invalid JSON"), "%s", errstr);
    cr_assert_null(hd_jwks_parse("{\"keys\":{}}", errstr, sizeof(errstr)));
    cr_assert_not_null(strstr(errstr, "keys"), "%s", errstr);
    cr_assert_null(hd_jwks_parse("{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}", errstr,
                                 sizeof(errstr)));
    cr_assert_not_null(strstr(errstr, "no RS256 or ES256"), "%s", errstr);
    cr_assert_null(hd_jwks_parse("{\"keys\":[{\"kty\":\"RSA\",\"n\":\"!\",\"e\":\"AQAB\"}]}",
                                 errstr, sizeof(errstr)));
    cr_assert_not_null(strstr(errstr, "keys[0]"), "%s", errstr);
}

Test(jwks, loads_from_a_file, .init = dev_setup, .fini = dev_teardown)
{
    char path[] = "/tmp/hd_jwks_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    char *doc = hd_jwt_signer_jwks(signer);
    cr_assert_eq(write(fd, doc, strlen(doc)), (ssize_t)strlen(doc));
    close(fd);
    struct hd_jwks *j = hd_jwks_load(path, errstr, sizeof(errstr));
    unlink(path);
    cr_assert_not_null(j, "%s", errstr);
    char *tok = hd_jwt_sign(signer, "u", "t", 60);
    struct hd_claims c;
    cr_assert_eq(hd_jwt_verify(j, tok, now_s(), &c, errstr, sizeof(errstr)), 0, "%s", errstr);
    hd_claims_clear(&c);
    hd_free(tok);
    hd_free(doc);
    hd_jwks_destroy(j);
}

Test(jwks, missing_file_and_unreachable_url_are_errors)
{
    cr_assert_null(hd_jwks_load("/nonexistent/jwks.json", errstr, sizeof(errstr)));
    cr_assert_not_null(strstr(errstr, "/nonexistent/jwks.json"), "%s", errstr);
    cr_assert_null(hd_jwks_load("http://127.0.0.1:1/jwks", errstr, sizeof(errstr)));
    cr_assert_not_null(strstr(errstr, "curl"), "%s", errstr);
}

/* A loopback HTTP server that serves `doc` at /jwks.json and 404 elsewhere. */
static enum MHD_Result serve_jwks(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    const char *doc = cls;
    int found = !strcmp(url, "/jwks.json");
    const char *body = found ? doc : "{}";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result rc = MHD_queue_response(c, found ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND, r);
    MHD_destroy_response(r);
    return rc;
}

Test(jwks, loads_from_an_http_url, .init = dev_setup, .fini = dev_teardown)
{
    char *doc = hd_jwt_signer_jwks(signer);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL,
                                            NULL, serve_jwks, doc, MHD_OPTION_SOCK_ADDR, &sa,
                                            MHD_OPTION_END);
    cr_assert_not_null(d);
    int port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/jwks.json", port);
    struct hd_jwks *j = hd_jwks_load(url, errstr, sizeof(errstr));
    cr_assert_not_null(j, "%s", errstr);
    char *tok = hd_jwt_sign(signer, "u", "t", 60);
    struct hd_claims c;
    cr_assert_eq(hd_jwt_verify(j, tok, now_s(), &c, errstr, sizeof(errstr)), 0, "%s", errstr);
    hd_claims_clear(&c);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/missing", port);
    cr_assert_null(hd_jwks_load(url, errstr, sizeof(errstr)));
    cr_assert_not_null(strstr(errstr, "HTTP 404"), "%s", errstr);
    MHD_stop_daemon(d);
    hd_free(tok);
    hd_free(doc);
    hd_jwks_destroy(j);
}
