/*
 * JWT verification against a JWKS (see jwt.h), on libcjose and jansson.
 *
 * A JWKS is loaded once (file or http(s) URL) into an immutable table of
 * public keys indexed by kid; verification only reads it, so one table is
 * shared by every API thread. Only asymmetric signatures are accepted:
 * RS256 against RSA keys and ES256 against EC P-256 keys. The header's alg
 * is checked against that list and against the key type *before* the
 * signature is verified, so "none", HS* with a public key as the secret, or
 * an algorithm the key does not declare never reach cjose.
 *
 * Error texts say why a token was refused and never contain the token.
 */
#include "connectors/jwt.h"

#include <cjose/cjose.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/hd.h"

#define HD_JWT_LEEWAY_S 30
#define HD_JWT_MAX_LEN (16 * 1024)
#define HD_JWKS_MAX_BYTES (1024 * 1024)
#define HD_CLAIM_MAX_LEN 256

enum hd_jwt_alg { HD_ALG_RS256 = 0, HD_ALG_ES256 };

struct hd_jwk_entry {
    char *kid;        /* NULL when the JWK has none */
    enum hd_jwt_alg alg; /* the only algorithm this key verifies */
    cjose_jwk_t *jwk;
};

struct hd_jwks {
    struct hd_jwk_entry *keys;
    size_t cnt;
};

struct hd_jwt_signer {
    cjose_jwk_t *jwk; /* RSA private key, kid "herald-dev" */
};

static const char *hd_alg_name(enum hd_jwt_alg a)
{
    return a == HD_ALG_RS256 ? "RS256" : "ES256";
}

static void hd_cjose_free(void *p)
{
    if (p)
        cjose_get_dealloc()(p);
}

void hd_jwks_destroy(struct hd_jwks *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->cnt; i++) {
        hd_free(j->keys[i].kid);
        cjose_jwk_release(j->keys[i].jwk);
    }
    hd_free(j->keys);
    hd_free(j);
}

/* Decides whether a JWKS entry is a signature key Herald can use and with which
 * algorithm. Returns 1 (usable, *alg set), 0 (not a signing key we support: skip,
 * e.g. Keycloak's RSA-OAEP encryption key), or -1 with errstr (malformed). */
static int hd_jwk_classify(json_t *k, size_t idx, enum hd_jwt_alg *alg, char *errstr,
                           size_t errstr_size)
{
    const char *kty = json_string_value(json_object_get(k, "kty"));
    const char *use = json_string_value(json_object_get(k, "use"));
    const char *kalg = json_string_value(json_object_get(k, "alg"));
    if (!kty)
        return hd_seterr(-1, errstr, errstr_size, "JWKS: keys[%zu] has no kty", idx);
    if (use && strcmp(use, "sig") != 0)
        return 0;
    if (!strcmp(kty, "RSA")) {
        if (kalg && strcmp(kalg, "RS256") != 0)
            return 0;
        *alg = HD_ALG_RS256;
        return 1;
    }
    if (!strcmp(kty, "EC")) {
        const char *crv = json_string_value(json_object_get(k, "crv"));
        if (!crv || strcmp(crv, "P-256") != 0 || (kalg && strcmp(kalg, "ES256") != 0))
            return 0;
        *alg = HD_ALG_ES256;
        return 1;
    }
    return 0; /* "oct" (shared secrets) and anything else: never for verification here */
}

static int hd_jwks_add(struct hd_jwks *j, json_t *k, size_t idx, char *errstr, size_t errstr_size)
{
    enum hd_jwt_alg alg = HD_ALG_RS256;
    int rc = hd_jwk_classify(k, idx, &alg, errstr, errstr_size);
    if (rc <= 0)
        return rc;
    char *txt = json_dumps(k, JSON_COMPACT);
    if (!txt)
        return hd_seterr(-1, errstr, errstr_size, "JWKS: keys[%zu] cannot be serialised", idx);
    cjose_err err = {0};
    cjose_jwk_t *jwk = cjose_jwk_import(txt, strlen(txt), &err);
    free(txt);
    if (!jwk)
        return hd_seterr(-1, errstr, errstr_size, "JWKS: keys[%zu]: cjose: %s", idx,
                         err.message ? err.message : "import failed");
    j->keys = hd_realloc(j->keys, (j->cnt + 1) * sizeof(*j->keys));
    struct hd_jwk_entry *e = &j->keys[j->cnt++];
    e->kid = hd_strdup(json_string_value(json_object_get(k, "kid")));
    e->alg = alg;
    e->jwk = jwk;
    return 1;
}

struct hd_jwks *hd_jwks_parse(const char *json, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *root = json_loads(json, 0, &jerr);
    if (!root) {
        hd_seterr(-1, errstr, errstr_size, "JWKS: invalid JSON at line %d: %s", jerr.line,
                  jerr.text);
        return NULL;
    }
    struct hd_jwks *j = hd_calloc(1, sizeof(*j));
    json_t *keys = json_object_get(root, "keys");
    if (!json_is_array(keys)) {
        hd_seterr(-1, errstr, errstr_size, "JWKS: no \"keys\" array");
        goto err;
    }
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) {
        if (!json_is_object(k)) {
            hd_seterr(-1, errstr, errstr_size, "JWKS: keys[%zu] is not an object", i);
            goto err;
        }
        if (hd_jwks_add(j, k, i, errstr, errstr_size) < 0)
            goto err;
    }
    if (j->cnt == 0) {
        hd_seterr(-1, errstr, errstr_size, "JWKS: no RS256 or ES256 (P-256) signing key");
        goto err;
    }
    json_decref(root);
    return j;
err:
    json_decref(root);
    hd_jwks_destroy(j);
    return NULL;
}

static size_t hd_curl_sink(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct hd_buf *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n > HD_JWKS_MAX_BYTES)
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    hd_buf_append(b, ptr, n);
    return n;
}

static int hd_fetch_url(const char *url, struct hd_buf *out, char *errstr, size_t errstr_size)
{
    char cerr[CURL_ERROR_SIZE] = "";
    CURL *h = curl_easy_init();
    if (!h)
        return hd_seterr(-1, errstr, errstr_size, "JWKS: curl_easy_init failed");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 15000L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, hd_curl_sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK)
        return hd_seterr(-1, errstr, errstr_size, "JWKS: curl: %s",
                         cerr[0] ? cerr : curl_easy_strerror(rc));
    if (status != 200)
        return hd_seterr(-1, errstr, errstr_size, "JWKS: %s answered HTTP %ld", url, status);
    return 0;
}

static int hd_read_file(const char *path, struct hd_buf *out, char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return hd_seterr(-1, errstr, errstr_size, "JWKS: %s: %s", path, strerror(errno));
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (out->len + n > HD_JWKS_MAX_BYTES) {
            fclose(f);
            return hd_seterr(-1, errstr, errstr_size, "JWKS: %s is larger than %d bytes", path,
                             HD_JWKS_MAX_BYTES);
        }
        hd_buf_append(out, chunk, n);
    }
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return hd_seterr(-1, errstr, errstr_size, "JWKS: %s: read error", path);
    return 0;
}

struct hd_jwks *hd_jwks_load(const char *file_or_url, char *errstr, size_t errstr_size)
{
    if (!file_or_url || !*file_or_url) {
        hd_seterr(-1, errstr, errstr_size, "JWKS: no file or URL given");
        return NULL;
    }
    struct hd_buf b = HD_BUF_INIT;
    int rc;
    if (!strncmp(file_or_url, "http://", 7) || !strncmp(file_or_url, "https://", 8))
        rc = hd_fetch_url(file_or_url, &b, errstr, errstr_size);
    else
        rc = hd_read_file(file_or_url, &b, errstr, errstr_size);
    struct hd_jwks *j = NULL;
    if (rc == 0)
        j = hd_jwks_parse(b.data ? b.data : "", errstr, errstr_size);
    hd_buf_free(&b);
    return j;
}

/* ---- verification ---- */

void hd_claims_clear(struct hd_claims *c)
{
    if (!c)
        return;
    hd_free(c->sub);
    hd_free(c->tenant_id);
    for (size_t i = 0; i < c->role_cnt; i++)
        hd_free(c->roles[i]);
    hd_free(c->roles);
    memset(c, 0, sizeof(*c));
}

/* Decodes one base64url JWS segment and parses it as a JSON object. NULL if it is not one. */
static json_t *hd_segment_json(const char *seg, size_t len)
{
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    cjose_err err;
    if (len == 0 || !cjose_base64url_decode(seg, len, &raw, &raw_len, &err))
        return NULL;
    json_t *o = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, NULL);
    hd_cjose_free(raw);
    if (o && !json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* A header value is shown in an error only when it is short and plain. */
static const char *hd_printable(const char *s)
{
    if (!s || strlen(s) > 64)
        return "?";
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-_.:", *p))
            return "?";
    return s;
}

/* Checks the compact shape and the protected header; fills *alg and *kid (a new
 * string or NULL). */
static int hd_jwt_header(const char *token, enum hd_jwt_alg *alg, char **kid, char *errstr,
                         size_t errstr_size)
{
    size_t len = strlen(token);
    if (len == 0 || len > HD_JWT_MAX_LEN)
        return hd_seterr(-1, errstr, errstr_size, "malformed token: bad length");
    const char *d1 = strchr(token, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || strchr(d2 + 1, '.'))
        return hd_seterr(-1, errstr, errstr_size,
                         "malformed token: not a compact JWS (three dot-separated parts)");
    json_t *h = hd_segment_json(token, (size_t)(d1 - token));
    if (!h)
        return hd_seterr(-1, errstr, errstr_size, "malformed token: header is not a JSON object");
    const char *a = json_string_value(json_object_get(h, "alg"));
    int rc = 0;
    if (!a)
        rc = hd_seterr(-1, errstr, errstr_size, "malformed token: header has no alg");
    else if (!strcmp(a, "RS256"))
        *alg = HD_ALG_RS256;
    else if (!strcmp(a, "ES256"))
        *alg = HD_ALG_ES256;
    else
        rc = hd_seterr(-1, errstr, errstr_size, "unsupported alg \"%s\" (RS256 or ES256 only)",
                       hd_printable(a));
    /* RFC 7515 §4.1.11: extensions listed in "crit" must be understood; Herald knows none. */
    if (rc == 0 && json_object_get(h, "crit"))
        rc = hd_seterr(-1, errstr, errstr_size, "unsupported critical header extension");
    if (rc == 0 && (d2 == d1 + 1 || d2[1] == '\0'))
        rc = hd_seterr(-1, errstr, errstr_size, "malformed token: empty payload or signature");
    json_t *k = json_object_get(h, "kid");
    if (rc == 0 && k && !json_is_string(k))
        rc = hd_seterr(-1, errstr, errstr_size, "malformed token: kid is not a string");
    *kid = rc == 0 ? hd_strdup(json_string_value(k)) : NULL;
    json_decref(h);
    return rc;
}

/* Verifies the signature with the key named by kid, or with every key of the right
 * algorithm when the token names none. */
static int hd_jwt_check_sig(const struct hd_jwks *j, cjose_jws_t *jws, enum hd_jwt_alg alg,
                            const char *kid, char *errstr, size_t errstr_size)
{
    int candidates = 0;
    for (size_t i = 0; i < j->cnt; i++) {
        const struct hd_jwk_entry *e = &j->keys[i];
        if (kid && (!e->kid || strcmp(e->kid, kid) != 0))
            continue;
        if (e->alg != alg)
            continue;
        candidates++;
        cjose_err err;
        if (cjose_jws_verify(jws, e->jwk, &err))
            return 0;
    }
    if (candidates)
        return hd_seterr(-1, errstr, errstr_size, "bad signature");
    if (kid) {
        for (size_t i = 0; i < j->cnt; i++)
            if (j->keys[i].kid && !strcmp(j->keys[i].kid, kid))
                return hd_seterr(-1, errstr, errstr_size, "key \"%s\" is not an %s key",
                                 hd_printable(kid), hd_alg_name(alg));
        return hd_seterr(-1, errstr, errstr_size, "unknown kid \"%s\"", hd_printable(kid));
    }
    return hd_seterr(-1, errstr, errstr_size, "no %s key in the JWKS", hd_alg_name(alg));
}

/* A NumericDate claim (integer or real seconds). */
static int hd_claim_time(json_t *payload, const char *name, int64_t *out)
{
    json_t *v = json_object_get(payload, name);
    if (!v)
        return 0;
    if (!json_is_number(v))
        return -1;
    double d = json_number_value(v);
    if (d < -9.2e18 || d > 9.2e18)
        return -1;
    *out = (int64_t)d;
    return 1;
}

/* sub and tenant_id: non-empty, bounded, no control characters; the tenant also
 * without '/', since Kafka keys are "tenant/user". */
static const char *hd_claim_id(json_t *payload, const char *name, int is_tenant)
{
    const char *s = json_string_value(json_object_get(payload, name));
    if (!s || !*s || strlen(s) > HD_CLAIM_MAX_LEN)
        return NULL;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f || (is_tenant && *p == '/'))
            return NULL;
    return s;
}

static void hd_claims_roles(json_t *payload, struct hd_claims *c)
{
    json_t *roles = json_object_get(json_object_get(payload, "realm_access"), "roles");
    if (!json_is_array(roles))
        return;
    size_t i;
    json_t *r;
    c->roles = hd_calloc(json_array_size(roles) + 1, sizeof(char *));
    json_array_foreach(roles, i, r) {
        if (json_is_string(r))
            c->roles[c->role_cnt++] = hd_strdup(json_string_value(r));
    }
}

static int hd_jwt_claims(json_t *payload, int64_t now, struct hd_claims *c, char *errstr,
                         size_t errstr_size)
{
    int64_t exp = 0, nbf = 0;
    int has = hd_claim_time(payload, "exp", &exp);
    if (has == 0)
        return hd_seterr(-1, errstr, errstr_size, "token has no exp claim");
    if (has < 0)
        return hd_seterr(-1, errstr, errstr_size, "exp claim is not a number");
    if (now > exp + HD_JWT_LEEWAY_S)
        return hd_seterr(-1, errstr, errstr_size, "token expired");
    has = hd_claim_time(payload, "nbf", &nbf);
    if (has < 0)
        return hd_seterr(-1, errstr, errstr_size, "nbf claim is not a number");
    if (has && now + HD_JWT_LEEWAY_S < nbf)
        return hd_seterr(-1, errstr, errstr_size, "token not valid yet (nbf)");
    const char *sub = hd_claim_id(payload, "sub", 0);
    if (!sub)
        return hd_seterr(-1, errstr, errstr_size, "token has no usable sub claim");
    const char *tenant = hd_claim_id(payload, "tenant_id", 1);
    if (!tenant)
        return hd_seterr(-1, errstr, errstr_size, "token has no usable tenant_id claim");
    c->sub = hd_strdup(sub);
    c->tenant_id = hd_strdup(tenant);
    c->exp = exp;
    hd_claims_roles(payload, c);
    return 0;
}

int hd_jwt_verify(const struct hd_jwks *j, const char *token, int64_t now, struct hd_claims *claims,
                  char *errstr, size_t errstr_size)
{
    memset(claims, 0, sizeof(*claims));
    if (!j || !token)
        return hd_seterr(-1, errstr, errstr_size, "no token or no JWKS");
    enum hd_jwt_alg alg = HD_ALG_RS256;
    char *kid = NULL;
    if (hd_jwt_header(token, &alg, &kid, errstr, errstr_size) < 0)
        return -1;
    int rc = -1;
    json_t *payload = NULL;
    cjose_err err;
    cjose_jws_t *jws = cjose_jws_import(token, strlen(token), &err);
    if (!jws) {
        hd_seterr(-1, errstr, errstr_size, "malformed token: cannot be parsed as a JWS");
        goto out;
    }
    if (hd_jwt_check_sig(j, jws, alg, kid, errstr, errstr_size) < 0)
        goto out;
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    if (!cjose_jws_get_plaintext(jws, &pt, &pt_len, &err) ||
        !(payload = json_loadb((const char *)pt, pt_len, JSON_REJECT_DUPLICATES, NULL)) ||
        !json_is_object(payload)) {
        hd_seterr(-1, errstr, errstr_size, "malformed token: payload is not a JSON object");
        goto out;
    }
    rc = hd_jwt_claims(payload, now, claims, errstr, errstr_size);
out:
    if (rc < 0)
        hd_claims_clear(claims);
    json_decref(payload);
    cjose_jws_release(jws);
    hd_free(kid);
    return rc;
}

/* ---- development signer ---- */

struct hd_jwt_signer *hd_jwt_signer_new(char *errstr, size_t errstr_size)
{
    static const uint8_t e65537[] = {0x01, 0x00, 0x01};
    cjose_err err = {0};
    cjose_jwk_t *jwk = cjose_jwk_create_RSA_random(2048, e65537, sizeof(e65537), &err);
    if (!jwk || !cjose_jwk_set_kid(jwk, "herald-dev", strlen("herald-dev"), &err)) {
        hd_seterr(-1, errstr, errstr_size, "cjose: cannot create an RSA key: %s",
                  err.message ? err.message : "unknown error");
        cjose_jwk_release(jwk);
        return NULL;
    }
    struct hd_jwt_signer *s = hd_calloc(1, sizeof(*s));
    s->jwk = jwk;
    return s;
}

char *hd_jwt_signer_jwks(struct hd_jwt_signer *s)
{
    cjose_err err;
    char *pub = cjose_jwk_to_json(s->jwk, false, &err);
    if (!pub)
        return NULL;
    json_t *key = json_loads(pub, 0, NULL);
    hd_cjose_free(pub);
    if (!key)
        return NULL;
    json_object_set_new(key, "use", json_string("sig"));
    json_object_set_new(key, "alg", json_string("RS256"));
    json_t *root = json_pack("{s:[o]}", "keys", key);
    char *txt = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    char *out = hd_strdup(txt);
    free(txt);
    return out;
}

char *hd_jwt_sign(struct hd_jwt_signer *s, const char *sub, const char *tenant_id, int64_t ttl_s)
{
    int64_t now = (int64_t)time(NULL);
    json_t *claims = json_pack("{s:s, s:s, s:I, s:I}", "sub", sub, "tenant_id", tenant_id, "iat",
                               (json_int_t)now, "exp", (json_int_t)(now + ttl_s));
    char *payload = claims ? json_dumps(claims, JSON_COMPACT) : NULL;
    json_decref(claims);
    if (!payload)
        return NULL;
    char *out = NULL;
    cjose_err err;
    cjose_header_t *hdr = cjose_header_new(&err);
    if (hdr && cjose_header_set(hdr, CJOSE_HDR_ALG, CJOSE_HDR_ALG_RS256, &err) &&
        cjose_header_set(hdr, CJOSE_HDR_KID, "herald-dev", &err) &&
        cjose_header_set(hdr, "typ", "JWT", &err)) {
        cjose_jws_t *jws =
            cjose_jws_sign(s->jwk, hdr, (const uint8_t *)payload, strlen(payload), &err);
        const char *ser = NULL;
        if (jws && cjose_jws_export(jws, &ser, &err))
            out = hd_strdup(ser);
        cjose_jws_release(jws);
    }
    cjose_header_release(hdr);
    free(payload);
    return out;
}

void hd_jwt_signer_destroy(struct hd_jwt_signer *s)
{
    if (!s)
        return;
    cjose_jwk_release(s->jwk);
    hd_free(s);
}
