/*
 * Unit tests for the read API's request checks (connectors/api.c and
 * connectors/api_inbox.c through api_int.h), without a server, a database or a
 * broker: routing (404, 405 with Allow, HEAD, the {id} capture), which paths
 * need a token, Bearer authentication against a JWKS (the tenant and user come
 * from the token), the body size limit, the query of each inbox endpoint
 * (limit, cursor, status, channel, unknown names), the notification id of
 * POST read, cursors, and the traceparent of the produced record. Every
 * refusal is checked for its HTTP status and its JSON error body, including
 * the field it names. The endpoints against PostgreSQL and Kafka are
 * exercised by tests/integration/test_api.sh.
 */
#include <cjose/cjose.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connectors/api_int.h"
#include "connectors/jwt.h"
#include "core/buf.h"
#include "core/hd.h"

#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"

/* Checks that err is exactly {"error":{"code":code,"message":"...","field"?:field}}; field
 * NULL means the body must not name one. Frees err. */
static void expect_error(struct hd_buf *err, const char *code, const char *field)
{
    cr_assert_not_null(err->data, "no error body");
    json_error_t je;
    json_t *root = json_loads(err->data, 0, &je);
    cr_assert_not_null(root, "error body is not JSON (%s): %s", je.text, err->data);
    json_t *e = json_object_get(root, "error");
    cr_assert(json_is_object(e), "no error object: %s", err->data);
    cr_assert_eq(json_object_size(root), 1, "extra members: %s", err->data);
    cr_assert_str_eq(json_string_value(json_object_get(e, "code")), code, "%s", err->data);
    const char *msg = json_string_value(json_object_get(e, "message"));
    cr_assert(msg && *msg, "no message: %s", err->data);
    json_t *f = json_object_get(e, "field");
    if (field)
        cr_assert_str_eq(json_string_value(f), field, "%s", err->data);
    else
        cr_assert_null(f, "unexpected field: %s", err->data);
    cr_assert_eq(json_object_size(e), field ? 3 : 2, "extra members: %s", err->data);
    json_decref(root);
    hd_buf_free(err);
}

/* The error's message (a copy; caller frees). */
static char *error_message(const struct hd_buf *err)
{
    json_t *root = json_loads(err->data, 0, NULL);
    cr_assert_not_null(root);
    const char *m = json_string_value(json_object_get(json_object_get(root, "error"), "message"));
    cr_assert_not_null(m);
    char *copy = hd_strdup(m);
    json_decref(root);
    return copy;
}

/* GET /v1/me/notifications with one parameter: the status, with q filled. */
static unsigned list_one(const char *key, const char *value, struct hd_inbox_query *q,
                         struct hd_buf *err)
{
    const struct hd_api_arg args[] = {{key, value}};
    return hd__api_inbox_list_parse(args, 1, q, err);
}

/* A cursor made by the API's own encoder for "<us>|<id>" (caller frees). */
static char *cursor_of(const char *us, const char *id)
{
    struct hd_buf b = HD_BUF_INIT;
    hd__api_cursor_put(&b, us, id);
    return hd_buf_steal(&b);
}

static int is_lower_hex(const char *s, size_t n)
{
    return strspn(s, "0123456789abcdef") >= n;
}

/* "00-<32 hex>-<16 hex>-01". */
static void expect_traceparent_shape(const char *tp)
{
    cr_assert_eq(strlen(tp), 55, "traceparent %s", tp);
    cr_assert(!strncmp(tp, "00-", 3) && tp[35] == '-' && tp[52] == '-', "traceparent %s", tp);
    cr_assert(is_lower_hex(tp + 3, 32) && is_lower_hex(tp + 36, 16), "traceparent %s", tp);
    cr_assert_str_eq(tp + 52, "-01");
    cr_assert_neq(strspn(tp + 3, "0"), 32, "all-zero trace id %s", tp);
}

/* ---- routing ---- */

Test(api, routes_resolve_to_their_handlers)
{
    static const struct {
        const char *method, *url;
        void (*handle)(struct hd_api_req *r);
    } cases[] = {
        {"GET", "/v1/me/notifications", hd__api_inbox_list},
        {"GET", "/v1/me/notifications/unread-count", hd__api_inbox_unread_count},
        {"POST", "/v1/me/notifications/abc/read", hd__api_inbox_read},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
        const struct hd_api_route *rt;
        char *param, allow[64];
        struct hd_buf err = HD_BUF_INIT;
        unsigned st = hd__api_route_find(cases[i].method, cases[i].url, &rt, &param, allow,
                                         sizeof(allow), &err);
        cr_assert_eq(st, 0, "%s %s: %u %s", cases[i].method, cases[i].url, st, err.data);
        cr_assert_eq(rt->handle, cases[i].handle, "%s %s: wrong handler", cases[i].method,
                     cases[i].url);
        cr_assert_null(err.data, "an accepted route wrote an error");
        hd_free(param);
    }
}

Test(api, read_route_captures_the_id_segment)
{
    const struct hd_api_route *rt;
    char *param, allow[64];
    struct hd_buf err = HD_BUF_INIT;
    const char *url = "/v1/me/notifications/00000000-0000-4000-8000-000000000001/read";
    cr_assert_eq(hd__api_route_find("POST", url, &rt, &param, allow, sizeof(allow), &err), 0);
    cr_assert_str_eq(param, "00000000-0000-4000-8000-000000000001");
    hd_free(param);
    cr_assert_eq(hd__api_route_find("GET", "/v1/me/notifications", &rt, &param, allow,
                                    sizeof(allow), &err),
                 0);
    cr_assert_null(param, "a route without {id} captured %s", param);
}

Test(api, head_is_served_by_the_get_route)
{
    const struct hd_api_route *rt;
    char *param, allow[64];
    struct hd_buf err = HD_BUF_INIT;
    cr_assert_eq(hd__api_route_find("HEAD", "/health/live", &rt, &param, allow, sizeof(allow),
                                    &err),
                 0);
    cr_assert_str_eq(rt->method, "GET");
    cr_assert_str_eq(rt->path, "/health/live");
    /* HEAD does not stand in for POST. */
    unsigned st = hd__api_route_find("HEAD", "/v1/me/notifications/x/read", &rt, &param, allow,
                                     sizeof(allow), &err);
    cr_assert_eq(st, 405);
    cr_assert_str_eq(allow, "POST");
    expect_error(&err, "method_not_allowed", NULL);
}

Test(api, wrong_method_is_405_with_the_allowed_methods)
{
    static const struct {
        const char *method, *url, *allow;
    } cases[] = {
        {"GET", "/v1/me/notifications/x/read", "POST"},
        {"PUT", "/v1/me/notifications", "GET"},
        {"DELETE", "/health/live", "GET"},
        {"POST", "/health/ready", "GET"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
        const struct hd_api_route *rt;
        char *param, allow[64];
        struct hd_buf err = HD_BUF_INIT;
        unsigned st = hd__api_route_find(cases[i].method, cases[i].url, &rt, &param, allow,
                                         sizeof(allow), &err);
        cr_assert_eq(st, 405, "%s %s: %u", cases[i].method, cases[i].url, st);
        cr_assert_null(rt);
        cr_assert_null(param);
        cr_assert_str_eq(allow, cases[i].allow, "%s %s", cases[i].method, cases[i].url);
        char *msg = error_message(&err);
        cr_assert(strstr(msg, cases[i].method) && strstr(msg, cases[i].allow), "message: %s",
                  msg);
        hd_free(msg);
        expect_error(&err, "method_not_allowed", NULL);
    }
}

Test(api, unknown_paths_are_404)
{
    static const char *const urls[] = {
        "/nope", "/v1/me/nope", "/health/live/", "/v1/me/notifications//read",
        "/v1/me/notifications/a/b/read", "/v1/me/notifications/x/read/", "", "/",
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(urls); i++) {
        const struct hd_api_route *rt;
        char *param, allow[64];
        struct hd_buf err = HD_BUF_INIT;
        unsigned st = hd__api_route_find("GET", urls[i], &rt, &param, allow, sizeof(allow), &err);
        cr_assert_eq(st, 404, "GET \"%s\": %u", urls[i], st);
        cr_assert_str_eq(allow, "", "GET \"%s\": Allow %s", urls[i], allow);
        expect_error(&err, "not_found", NULL);
    }
}

Test(api, everything_under_v1_needs_a_token_and_health_does_not)
{
    cr_assert(hd__api_needs_auth("/v1/me/notifications"));
    cr_assert(hd__api_needs_auth("/v1/unknown"));
    cr_assert(hd__api_needs_auth("/v1"));
    cr_assert(hd__api_needs_auth("/v1/"));
    cr_assert_not(hd__api_needs_auth("/health/live"));
    cr_assert_not(hd__api_needs_auth("/health/ready"));
    cr_assert_not(hd__api_needs_auth("/v10/me"));
    cr_assert_not(hd__api_needs_auth("/v1me"));
    cr_assert_not(hd__api_needs_auth("/"));
}

/* ---- authentication ---- */

struct keys {
    struct hd_jwt_signer *signer;
    struct hd_jwks *jwks;
};

static void keys_init(struct keys *k)
{
    char errstr[512];
    k->signer = hd_jwt_signer_new(errstr, sizeof(errstr));
    cr_assert_not_null(k->signer, "%s", errstr);
    char *doc = hd_jwt_signer_jwks(k->signer);
    k->jwks = hd_jwks_parse(doc, errstr, sizeof(errstr));
    cr_assert_not_null(k->jwks, "%s", errstr);
    hd_free(doc);
}

static void keys_fini(struct keys *k)
{
    hd_jwks_destroy(k->jwks);
    hd_jwt_signer_destroy(k->signer);
}

/* Runs the auth check on a header value; claims are cleared afterwards. */
static unsigned auth(const struct keys *k, const char *header, char *why, size_t why_size,
                     struct hd_buf *err)
{
    struct hd_claims claims = {0};
    unsigned st = hd__api_auth(k->jwks, header, (int64_t)time(NULL), &claims, why, why_size, err);
    if (st)
        cr_assert_null(claims.sub, "a refused token left claims behind");
    hd_claims_clear(&claims);
    return st;
}

Test(api, bearer_token_gives_the_tenant_and_user)
{
    struct keys k;
    keys_init(&k);
    char *tok = hd_jwt_sign(k.signer, "alice", "acme", 300);
    const char *schemes[] = {"Bearer ", "bearer ", "BEARER   "};
    for (size_t i = 0; i < HD_ARRAY_SIZE(schemes); i++) {
        char *header = hd_asprintf("%s%s", schemes[i], tok);
        struct hd_claims claims = {0};
        char why[256];
        struct hd_buf err = HD_BUF_INIT;
        unsigned st = hd__api_auth(k.jwks, header, (int64_t)time(NULL), &claims, why,
                                   sizeof(why), &err);
        cr_assert_eq(st, 0, "scheme \"%s\": %u %s", schemes[i], st, err.data);
        cr_assert_str_eq(claims.sub, "alice");
        cr_assert_str_eq(claims.tenant_id, "acme");
        cr_assert_null(err.data);
        hd_claims_clear(&claims);
        hd_free(header);
    }
    hd_free(tok);
    keys_fini(&k);
}

Test(api, missing_or_non_bearer_authorization_is_401_without_a_token_check)
{
    struct keys k;
    keys_init(&k);
    const char *headers[] = {NULL, "Basic YWxpY2U6cGFzcw==", "Bearer", "Token abc", ""};
    for (size_t i = 0; i < HD_ARRAY_SIZE(headers); i++) {
        char why[256] = "stale";
        struct hd_buf err = HD_BUF_INIT;
        unsigned st = auth(&k, headers[i], why, sizeof(why), &err);
        cr_assert_eq(st, 401, "header %s: %u", headers[i] ? headers[i] : "(none)", st);
        cr_assert_str_eq(why, "", "header %s: why %s", headers[i] ? headers[i] : "(none)", why);
        expect_error(&err, "unauthorized", NULL);
    }
    keys_fini(&k);
}

Test(api, expired_token_is_401_saying_so_without_echoing_the_token)
{
    struct keys k;
    keys_init(&k);
    char *tok = hd_jwt_sign(k.signer, "alice", "acme", -3600);
    char *header = hd_asprintf("Bearer %s", tok);
    char why[256];
    struct hd_buf err = HD_BUF_INIT;
    cr_assert_eq(auth(&k, header, why, sizeof(why), &err), 401);
    cr_assert(strstr(why, "expired"), "why: %s", why);
    char *msg = error_message(&err);
    cr_assert(strstr(msg, "expired"), "message: %s", msg);
    cr_assert_null(strstr(err.data, strrchr(tok, '.') + 1), "the signature is in the body");
    hd_free(msg);
    expect_error(&err, "unauthorized", NULL);
    hd_free(header);
    hd_free(tok);
    keys_fini(&k);
}

Test(api, token_from_another_key_or_garbage_is_401)
{
    struct keys k, other;
    keys_init(&k);
    keys_init(&other);
    char *foreign = hd_jwt_sign(other.signer, "alice", "acme", 300);
    char *good = hd_jwt_sign(k.signer, "alice", "acme", 300);
    /* Damage one character in the middle of the signature. */
    char *sig = strrchr(good, '.') + 10;
    *sig = *sig == 'A' ? 'B' : 'A';
    const char *tokens[] = {foreign, good, "not-a-jwt", ""};
    for (size_t i = 0; i < HD_ARRAY_SIZE(tokens); i++) {
        char *header = hd_asprintf("Bearer %s", tokens[i]);
        char why[256];
        struct hd_buf err = HD_BUF_INIT;
        cr_assert_eq(auth(&k, header, why, sizeof(why), &err), 401, "token %zu accepted", i);
        cr_assert_neq(why[0], '\0', "token %zu: no reason", i);
        expect_error(&err, "unauthorized", NULL);
        hd_free(header);
    }
    hd_free(good);
    hd_free(foreign);
    keys_fini(&other);
    keys_fini(&k);
}

/* A token with the given claims, signed by a fresh RSA key whose JWKS goes to *jwks. */
static char *token_with_claims(const char *payload, struct hd_jwks **jwks)
{
    static const uint8_t e[] = {1, 0, 1};
    cjose_err cerr;
    cjose_jwk_t *key = cjose_jwk_create_RSA_random(2048, e, sizeof(e), &cerr);
    cr_assert_not_null(key);
    cr_assert(cjose_jwk_set_kid(key, "k1", 2, &cerr));
    char *pub = cjose_jwk_to_json(key, false, &cerr);
    char *doc = hd_asprintf("{\"keys\":[%s]}", pub);
    char errstr[512];
    *jwks = hd_jwks_parse(doc, errstr, sizeof(errstr));
    cr_assert_not_null(*jwks, "%s", errstr);
    cjose_header_t *hdr = cjose_header_new(&cerr);
    cr_assert(cjose_header_set(hdr, CJOSE_HDR_ALG, CJOSE_HDR_ALG_RS256, &cerr));
    cr_assert(cjose_header_set(hdr, CJOSE_HDR_KID, "k1", &cerr));
    cjose_jws_t *jws =
        cjose_jws_sign(key, hdr, (const uint8_t *)payload, strlen(payload), &cerr);
    cr_assert_not_null(jws);
    const char *ser = NULL;
    cr_assert(cjose_jws_export(jws, &ser, &cerr));
    char *out = hd_strdup(ser);
    cjose_jws_release(jws);
    cjose_header_release(hdr);
    hd_free(doc);
    cjose_get_dealloc()(pub);
    cjose_jwk_release(key);
    return out;
}

Test(api, token_without_a_tenant_or_user_is_401_naming_the_claim)
{
    static const struct {
        const char *payload_fmt, *claim;
    } cases[] = {
        {"{\"sub\":\"alice\",\"exp\":%lld}", "tenant_id"},
        {"{\"tenant_id\":\"acme\",\"exp\":%lld}", "sub"},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
        char *payload = hd_asprintf(cases[i].payload_fmt, (long long)time(NULL) + 300);
        struct hd_jwks *jwks;
        char *tok = token_with_claims(payload, &jwks);
        char *header = hd_asprintf("Bearer %s", tok);
        struct hd_claims claims = {0};
        char why[256];
        struct hd_buf err = HD_BUF_INIT;
        unsigned st = hd__api_auth(jwks, header, (int64_t)time(NULL), &claims, why, sizeof(why),
                                   &err);
        cr_assert_eq(st, 401, "token without %s: %u", cases[i].claim, st);
        char *msg = error_message(&err);
        cr_assert(strstr(msg, cases[i].claim), "message does not name %s: %s", cases[i].claim,
                  msg);
        hd_free(msg);
        expect_error(&err, "unauthorized", NULL);
        hd_claims_clear(&claims);
        hd_free(header);
        hd_free(tok);
        hd_free(payload);
        hd_jwks_destroy(jwks);
    }
}

/* ---- request body ---- */

Test(api, body_over_64_kib_is_413)
{
    struct hd_buf err = HD_BUF_INIT;
    cr_assert_eq(hd__api_body_check(NULL, &err), 0);
    cr_assert_eq(hd__api_body_check("0", &err), 0);
    cr_assert_eq(hd__api_body_check("65536", &err), 0);
    cr_assert_null(err.data);
    cr_assert_eq(hd__api_body_check("65537", &err), 413);
    char *msg = error_message(&err);
    cr_assert(strstr(msg, "65536"), "message does not give the limit: %s", msg);
    hd_free(msg);
    expect_error(&err, "payload_too_large", NULL);
    cr_assert_eq(hd__api_body_check("70000", &err), 413);
    expect_error(&err, "payload_too_large", NULL);
}

/* ---- query parameters ---- */

Test(api, unknown_query_parameter_is_400_naming_it)
{
    static const char *const allowed[] = {"limit", "cursor", NULL};
    const struct hd_api_arg args[] = {{"limit", "5"}, {"Limit", "6"}, {"limti", "7"}};
    struct hd_buf err = HD_BUF_INIT;
    cr_assert_eq(hd__api_args_check(args, 1, allowed, &err), 0);
    cr_assert_null(err.data);
    /* Names match exactly, and the first unknown one is named. */
    cr_assert_eq(hd__api_args_check(args, HD_ARRAY_SIZE(args), allowed, &err), 400);
    expect_error(&err, "bad_request", "Limit");
}

Test(api, unknown_parameter_name_is_cut_at_63_bytes_in_the_error)
{
    static const char *const none[] = {NULL};
    char name[200];
    memset(name, 'x', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    const struct hd_api_arg args[] = {{name, "1"}};
    struct hd_buf err = HD_BUF_INIT;
    cr_assert_eq(hd__api_args_check(args, 1, none, &err), 400);
    name[63] = '\0';
    expect_error(&err, "bad_request", name);
}

Test(api, first_value_of_a_repeated_parameter_wins)
{
    const struct hd_api_arg args[] = {{"limit", "5"}, {"limit", "abc"}, {"cursor", NULL}};
    cr_assert_str_eq(hd__api_arg(args, HD_ARRAY_SIZE(args), "limit"), "5");
    cr_assert_null(hd__api_arg(args, HD_ARRAY_SIZE(args), "cursor"));
    cr_assert_null(hd__api_arg(args, HD_ARRAY_SIZE(args), "status"));
    struct hd_inbox_query q;
    struct hd_buf err = HD_BUF_INIT;
    cr_assert_eq(hd__api_inbox_list_parse(args, HD_ARRAY_SIZE(args), &q, &err), 0, "%s", err.data);
    cr_assert_eq(q.limit, 5);
    cr_assert_not(q.has_cursor, "a valueless cursor counted as one");
}

/* ---- GET /v1/me/notifications ---- */

Test(api, list_without_parameters_has_the_defaults)
{
    struct hd_inbox_query q;
    memset(&q, 0x5a, sizeof(q));
    struct hd_buf err = HD_BUF_INIT;
    cr_assert_eq(hd__api_inbox_list_parse(NULL, 0, &q, &err), 0);
    cr_assert_eq(q.limit, 20);
    cr_assert_not(q.has_cursor);
    cr_assert_null(q.status);
    cr_assert_null(q.channel);
    cr_assert_null(err.data);
}

Test(api, list_accepts_limits_from_1_to_100)
{
    static const struct {
        const char *v;
        int limit;
    } cases[] = {{"1", 1}, {"100", 100}, {"42", 42}, {"007", 7}, {NULL, 20}};
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
        struct hd_inbox_query q;
        struct hd_buf err = HD_BUF_INIT;
        cr_assert_eq(list_one("limit", cases[i].v, &q, &err), 0, "limit=%s: %s", cases[i].v,
                     err.data);
        cr_assert_eq(q.limit, cases[i].limit, "limit=%s gave %d", cases[i].v, q.limit);
    }
}

Test(api, list_rejects_bad_limits_naming_limit)
{
    static const char *const bad[] = {"0", "101", "abc", "-1", "", "1.5", "0100", " 5", "5 ",
                                      "1e2", "+5", "999"};
    for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++) {
        struct hd_inbox_query q;
        struct hd_buf err = HD_BUF_INIT;
        cr_assert_eq(list_one("limit", bad[i], &q, &err), 400, "limit=\"%s\" accepted", bad[i]);
        expect_error(&err, "bad_request", "limit");
    }
}

Test(api, list_filters_by_status_and_channel)
{
    const struct hd_api_arg args[] = {{"status", "unread"}, {"channel", "IN_APP"}};
    struct hd_inbox_query q;
    struct hd_buf err = HD_BUF_INIT;
    cr_assert_eq(hd__api_inbox_list_parse(args, HD_ARRAY_SIZE(args), &q, &err), 0, "%s", err.data);
    cr_assert_str_eq(q.status, "unread");
    cr_assert_str_eq(q.channel, "IN_APP");
    cr_assert_eq(list_one("status", "read", &q, &err), 0);
    cr_assert_str_eq(q.status, "read");
    static const char *const channels[] = {"EMAIL", "SMS", "PUSH", "WHATSAPP", "CHAT", "WEBHOOK"};
    for (size_t i = 0; i < HD_ARRAY_SIZE(channels); i++) {
        cr_assert_eq(list_one("channel", channels[i], &q, &err), 0, "channel=%s", channels[i]);
        cr_assert_str_eq(q.channel, channels[i]);
    }
    cr_assert_null(err.data);
}

Test(api, list_rejects_unknown_status_and_channel_naming_them)
{
    static const struct {
        const char *key, *value;
    } bad[] = {{"status", "maybe"}, {"status", "READ"}, {"status", ""},
               {"channel", "FAX"}, {"channel", "email"}, {"channel", ""}};
    for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++) {
        struct hd_inbox_query q;
        struct hd_buf err = HD_BUF_INIT;
        cr_assert_eq(list_one(bad[i].key, bad[i].value, &q, &err), 400, "%s=%s accepted",
                     bad[i].key, bad[i].value);
        expect_error(&err, "bad_request", bad[i].key);
    }
}

Test(api, list_names_unknown_parameters_before_bad_values)
{
    const struct hd_api_arg args[] = {{"limit", "0"}, {"limti", "5"}};
    struct hd_inbox_query q;
    struct hd_buf err = HD_BUF_INIT;
    cr_assert_eq(hd__api_inbox_list_parse(args, HD_ARRAY_SIZE(args), &q, &err), 400);
    expect_error(&err, "bad_request", "limti");
    /* Values are checked limit, cursor, status, channel, whatever the URL's order. */
    const struct hd_api_arg two_bad[] = {{"channel", "FAX"}, {"cursor", "!!!"}, {"limit", "0"}};
    cr_assert_eq(hd__api_inbox_list_parse(two_bad, HD_ARRAY_SIZE(two_bad), &q, &err), 400);
    expect_error(&err, "bad_request", "limit");
    cr_assert_eq(hd__api_inbox_list_parse(two_bad, 2, &q, &err), 400);
    expect_error(&err, "bad_request", "cursor");
}

/* ---- cursors ---- */

Test(api, cursor_is_unpadded_base64url_of_time_and_id)
{
    char *c = cursor_of("1767225600123456", "a?>~");
    cr_assert_str_eq(c, "MTc2NzIyNTYwMDEyMzQ1NnxhPz5-");
    hd_free(c);
    c = cursor_of("12", "ab");
    cr_assert_str_eq(c, "MTJ8YWI");
    hd_free(c);
}

Test(api, cursor_from_a_page_reads_back_as_the_same_position)
{
    const char *id = "00000000-0000-4000-8000-000000000103";
    char *c = cursor_of("1767227400123456", id);
    const struct hd_api_arg args[] = {{"cursor", c}, {"limit", "7"}};
    struct hd_inbox_query q;
    struct hd_buf err = HD_BUF_INIT;
    cr_assert_eq(hd__api_inbox_list_parse(args, HD_ARRAY_SIZE(args), &q, &err), 0, "%s", err.data);
    cr_assert(q.has_cursor);
    cr_assert_str_eq(q.cursor_us, "1767227400123456");
    cr_assert_str_eq(q.cursor_id, id);
    cr_assert_eq(q.limit, 7);
    hd_free(c);
}

Test(api, cursor_time_is_rewritten_as_a_plain_integer)
{
    static const struct {
        const char *in, *out;
    } cases[] = {{"+0042", "42"}, {"-5", "-5"}, {"0", "0"}};
    for (size_t i = 0; i < HD_ARRAY_SIZE(cases); i++) {
        char *c = cursor_of(cases[i].in, "id");
        struct hd_inbox_query q;
        struct hd_buf err = HD_BUF_INIT;
        cr_assert_eq(list_one("cursor", c, &q, &err), 0, "time %s: %s", cases[i].in, err.data);
        cr_assert_str_eq(q.cursor_us, cases[i].out);
        hd_free(c);
    }
}

Test(api, cursor_id_may_be_128_bytes_not_129)
{
    char id[130];
    memset(id, 'n', 129);
    id[129] = '\0';
    struct hd_inbox_query q;
    struct hd_buf err = HD_BUF_INIT;
    char *c = cursor_of("1", id);
    cr_assert_eq(list_one("cursor", c, &q, &err), 400);
    expect_error(&err, "bad_request", "cursor");
    hd_free(c);
    id[128] = '\0';
    c = cursor_of("1", id);
    cr_assert_eq(list_one("cursor", c, &q, &err), 0, "%s", err.data);
    cr_assert_str_eq(q.cursor_id, id);
    hd_free(c);
}

Test(api, list_rejects_cursors_it_did_not_make_naming_cursor)
{
    /* Encoded here: "x|y" (time not a number), "|id" (no time), "12x|id" (trailing
     * junk), "12|" (no id), ids with control bytes, a time out of range. */
    char *made[] = {cursor_of("x", "y"),  cursor_of("", "id"),   cursor_of("12x", "id"),
                    cursor_of("12", ""),  cursor_of("12", "a\tb"), cursor_of("12", "a\x7f"),
                    cursor_of("99999999999999999999", "id")};
    char long_cursor[205];
    memset(long_cursor, 'A', sizeof(long_cursor) - 1);
    long_cursor[sizeof(long_cursor) - 1] = '\0';
    /* Not base64url, a length no encoder gives, "\0\0\0", "no-bar", padded, over 200 chars. */
    const char *literal[] = {"!!!", "AAAAA", "AAAA", "bm8tYmFy", "MTJ8YWI=", long_cursor};
    for (size_t i = 0; i < HD_ARRAY_SIZE(made) + HD_ARRAY_SIZE(literal); i++) {
        const char *c = i < HD_ARRAY_SIZE(made) ? made[i] : literal[i - HD_ARRAY_SIZE(made)];
        struct hd_inbox_query q;
        struct hd_buf err = HD_BUF_INIT;
        cr_assert_eq(list_one("cursor", c, &q, &err), 400, "cursor %zu (%s) accepted", i, c);
        expect_error(&err, "bad_request", "cursor");
    }
    for (size_t i = 0; i < HD_ARRAY_SIZE(made); i++)
        hd_free(made[i]);
}

/* ---- GET /v1/me/notifications/unread-count ---- */

Test(api, unread_count_takes_no_parameters)
{
    struct hd_buf err = HD_BUF_INIT;
    cr_assert_eq(hd__api_inbox_unread_parse(NULL, 0, &err), 0);
    cr_assert_null(err.data);
    const struct hd_api_arg args[] = {{"channel", "IN_APP"}};
    cr_assert_eq(hd__api_inbox_unread_parse(args, 1, &err), 400);
    expect_error(&err, "bad_request", "channel");
}

/* ---- POST /v1/me/notifications/{id}/read ---- */

Test(api, read_takes_a_uuid_in_any_case_as_lowercase)
{
    char id[HD_UUID_STRLEN];
    struct hd_buf err = HD_BUF_INIT;
    cr_assert_eq(hd__api_inbox_read_parse(NULL, 0, "0A1B2C3D-4E5F-4A6B-8C7D-9E0FABCDEF01", id,
                                          &err),
                 0);
    cr_assert_str_eq(id, "0a1b2c3d-4e5f-4a6b-8c7d-9e0fabcdef01");
    cr_assert_null(err.data);
}

Test(api, read_rejects_malformed_ids_naming_id)
{
    static const char *const bad[] = {
        NULL,
        "",
        "not-a-uuid",
        "00000000-0000-4000-8000-00000000001",   /* 35 */
        "00000000-0000-4000-8000-0000000000012", /* 37 */
        "000000000-000-4000-8000-000000000001",  /* dash moved */
        "00000000-0000-4000-8000-00000000000g",
        "00000000_0000_4000_8000_000000000001",
        "{0000000-0000-4000-8000-000000000001",
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++) {
        char id[HD_UUID_STRLEN];
        struct hd_buf err = HD_BUF_INIT;
        cr_assert_eq(hd__api_inbox_read_parse(NULL, 0, bad[i], id, &err), 400,
                     "id %s accepted", bad[i] ? bad[i] : "(none)");
        expect_error(&err, "bad_request", "id");
    }
}

Test(api, read_rejects_query_parameters_before_the_id)
{
    const struct hd_api_arg args[] = {{"force", "1"}};
    char id[HD_UUID_STRLEN];
    struct hd_buf err = HD_BUF_INIT;
    cr_assert_eq(hd__api_inbox_read_parse(args, 1, "not-a-uuid", id, &err), 400);
    expect_error(&err, "bad_request", "force");
    cr_assert_eq(hd__api_inbox_read_parse(args, 1, "00000000-0000-4000-8000-000000000001", id,
                                          &err),
                 400);
    expect_error(&err, "bad_request", "force");
}

/* ---- traceparent of the produced UserAction ---- */

/* The traceparent hd__api_action_headers puts on a UserAction for the caller's header. */
static void action_traceparent(const char *in, char out[56])
{
    rd_kafka_headers_t *h = hd__api_action_headers(in, "acme", "n-1");
    const void *v;
    size_t n;
    cr_assert_eq(rd_kafka_header_get_last(h, "traceparent", &v, &n), RD_KAFKA_RESP_ERR_NO_ERROR);
    cr_assert_eq(n, 55);
    memcpy(out, v, n);
    out[n] = '\0';
    cr_assert_eq(rd_kafka_header_get_last(h, "herald-tenant", &v, &n), RD_KAFKA_RESP_ERR_NO_ERROR);
    cr_assert(n == 4 && !memcmp(v, "acme", 4));
    cr_assert_eq(rd_kafka_header_get_last(h, "herald-notification-id", &v, &n),
                 RD_KAFKA_RESP_ERR_NO_ERROR);
    cr_assert(n == 3 && !memcmp(v, "n-1", 3));
    rd_kafka_headers_destroy(h);
}

Test(api, traceparent_continues_the_callers_trace_with_a_new_span)
{
    const char *in = "00-" TRACE "-00f067aa0ba902b7-01";
    char a[56], b[56];
    action_traceparent(in, a);
    action_traceparent(in, b);
    expect_traceparent_shape(a);
    cr_assert(!strncmp(a + 3, TRACE, 32), "trace not continued: %s", a);
    cr_assert(!strncmp(b + 3, TRACE, 32), "trace not continued: %s", b);
    cr_assert(strncmp(a + 36, "00f067aa0ba902b7", 16) != 0, "span reused: %s", a);
    cr_assert(strncmp(a + 36, b + 36, 16) != 0, "two records share span %s", a + 36);
}

Test(api, invalid_traceparent_starts_a_new_trace)
{
    static const char *const bad[] = {
        NULL,
        "",
        "01-" TRACE "-00f067aa0ba902b7-01", /* version */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", /* uppercase */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01", /* zero trace */
        "00-" TRACE "-00f067aa0ba902b7-1",  /* short */
        "00-" TRACE "x00f067aa0ba902b7-01", /* no dash */
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(bad); i++) {
        char out[56];
        action_traceparent(bad[i], out);
        expect_traceparent_shape(out);
        if (bad[i] && strlen(bad[i]) > 35)
            cr_assert(strncmp(out + 3, bad[i] + 3, 32) != 0, "kept the trace of %s", bad[i]);
        cr_assert(strncmp(out + 3, TRACE, 32) != 0, "case %zu kept the caller's trace", i);
    }
}
