/*
 * hd_token: mints keys and tokens for integration tests of the API.
 *
 *   hd_token keygen DIR                  RSA-2048 key: DIR/jwks.json (public, for
 *                                        HERALD_JWKS) and DIR/private.jwk (0600)
 *   hd_token sign DIR SUB TENANT [TTL]   prints an RS256 token with sub, tenant_id,
 *                                        iat and exp = now + TTL s (default 3600;
 *                                        negative gives an expired token)
 *
 * The key lives in files so a test can sign many tokens against one running
 * server. Signing is done here with cjose directly, independently of
 * connectors/jwt.c, so the server's verifier is checked against another signer.
 */
#include <cjose/cjose.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define HD_TOKEN_KID "hd-token"

static void usage(void)
{
    fprintf(stderr, "usage: hd_token keygen DIR\n"
                    "       hd_token sign DIR SUB TENANT [TTL_SECONDS]\n");
}

static int write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "hd_token: %s: %s\n", path, strerror(errno));
        return -1;
    }
    chmod(path, mode);
    int bad = fputs(text, f) < 0 || fputc('\n', f) < 0;
    bad |= fclose(f) != 0;
    if (bad)
        fprintf(stderr, "hd_token: %s: write failed\n", path);
    return bad ? -1 : 0;
}

static int keygen(const char *dir)
{
    static const uint8_t e[] = {1, 0, 1};
    cjose_err err = {0};
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "hd_token: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    cjose_jwk_t *k = cjose_jwk_create_RSA_random(2048, e, sizeof(e), &err);
    if (!k || !cjose_jwk_set_kid(k, HD_TOKEN_KID, strlen(HD_TOKEN_KID), &err)) {
        fprintf(stderr, "hd_token: cjose: %s\n", err.message ? err.message : "keygen failed");
        cjose_jwk_release(k);
        return 1;
    }
    char *priv = cjose_jwk_to_json(k, true, &err);
    char *pub = cjose_jwk_to_json(k, false, &err);
    json_t *pubj = pub ? json_loads(pub, 0, NULL) : NULL;
    int rc = 1;
    if (priv && pubj) {
        json_object_set_new(pubj, "use", json_string("sig"));
        json_object_set_new(pubj, "alg", json_string("RS256"));
        json_t *doc = json_pack("{s:[O]}", "keys", pubj);
        char *txt = json_dumps(doc, JSON_INDENT(2));
        if (write_file(dir, "private.jwk", priv, 0600) == 0 &&
            write_file(dir, "jwks.json", txt, 0644) == 0)
            rc = 0;
        free(txt);
        json_decref(doc);
    }
    json_decref(pubj);
    cjose_get_dealloc()(priv);
    cjose_get_dealloc()(pub);
    cjose_jwk_release(k);
    return rc;
}

static cjose_jwk_t *load_private(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/private.jwk", dir);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j) {
        fprintf(stderr, "hd_token: %s: %s\n", path, jerr.text);
        return NULL;
    }
    char *txt = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    cjose_err err = {0};
    cjose_jwk_t *k = txt ? cjose_jwk_import(txt, strlen(txt), &err) : NULL;
    free(txt);
    if (!k)
        fprintf(stderr, "hd_token: %s: cjose: %s\n", path, err.message ? err.message : "bad key");
    return k;
}

static int sign(const char *dir, const char *sub, const char *tenant, long long ttl)
{
    cjose_jwk_t *k = load_private(dir);
    if (!k)
        return 1;
    long long now = (long long)time(NULL);
    json_t *claims = json_pack("{s:s, s:s, s:I, s:I}", "sub", sub, "tenant_id", tenant, "iat",
                               (json_int_t)now, "exp", (json_int_t)(now + ttl));
    char *payload = json_dumps(claims, JSON_COMPACT);
    json_decref(claims);
    cjose_err err = {0};
    cjose_header_t *hdr = cjose_header_new(&err);
    int rc = 1;
    if (payload && hdr && cjose_header_set(hdr, CJOSE_HDR_ALG, CJOSE_HDR_ALG_RS256, &err) &&
        cjose_header_set(hdr, CJOSE_HDR_KID, HD_TOKEN_KID, &err) &&
        cjose_header_set(hdr, "typ", "JWT", &err)) {
        cjose_jws_t *jws = cjose_jws_sign(k, hdr, (const uint8_t *)payload, strlen(payload), &err);
        const char *ser = NULL;
        if (jws && cjose_jws_export(jws, &ser, &err)) {
            printf("%s\n", ser);
            rc = 0;
        }
        cjose_jws_release(jws);
    }
    if (rc)
        fprintf(stderr, "hd_token: cjose: %s\n", err.message ? err.message : "sign failed");
    cjose_header_release(hdr);
    free(payload);
    cjose_jwk_release(k);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "keygen"))
        return keygen(argv[2]);
    if ((argc == 5 || argc == 6) && !strcmp(argv[1], "sign")) {
        long long ttl = 3600;
        if (argc == 6) {
            char *end;
            errno = 0;
            ttl = strtoll(argv[5], &end, 10);
            if (errno || *end || end == argv[5]) {
                fprintf(stderr, "hd_token: TTL must be an integer number of seconds\n");
                return 2;
            }
        }
        return sign(argv[2], argv[3], argv[4], ttl);
    }
    usage();
    return 2;
}
