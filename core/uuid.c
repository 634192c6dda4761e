/*
 * UUID v4 (libuuid) and v5 (OpenSSL SHA-1), see uuid.h.
 */
#include "core/uuid.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "core/hd.h"

/* Herald's namespace for UUIDv5 ids: a fixed random UUID. Never change it: every
 * notification id derives from it. */
static const unsigned char hd_uuid_ns[16] = {0x5b, 0x0f, 0x6a, 0x1e, 0x6f, 0x0c, 0x5c, 0x4e,
                                             0x9b, 0x57, 0x2d, 0x1f, 0x3c, 0x8e, 0x41, 0x7a};

void hd_uuid_v4(char out[HD_UUID_STRLEN])
{
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}

void hd_uuid_v5(const char *name, char out[HD_UUID_STRLEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) ||
        !EVP_DigestUpdate(ctx, hd_uuid_ns, sizeof(hd_uuid_ns)) ||
        !EVP_DigestUpdate(ctx, name, strlen(name)) || !EVP_DigestFinal_ex(ctx, md, &mdlen))
        abort(); /* only on out-of-memory: SHA-1 is always available */
    EVP_MD_CTX_free(ctx);
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
    uuid_unparse_lower(md, out);
}

void hd_notification_id(const char *request_id, const char *channel, char out[HD_UUID_STRLEN])
{
    char name[512];
    snprintf(name, sizeof(name), "%s/%s", request_id, channel);
    hd_uuid_v5(name, out);
}

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int hd_trace_parse(const char *value, size_t len, char out[HD_TRACE_ID_LEN])
{
    if (!value || len != 55 || memcmp(value, "00-", 3) || value[35] != '-' || value[52] != '-' ||
        !is_lower_hex(value + 3, 32) || !is_lower_hex(value + 36, 16) ||
        !is_lower_hex(value + 53, 2))
        return -1;
    static const char zeros[32] = "00000000000000000000000000000000";
    if (!memcmp(value + 3, zeros, 32) || !memcmp(value + 36, zeros, 16))
        return -1;
    memcpy(out, value + 3, 32);
    out[32] = '\0';
    return 0;
}

/* 32 hex digits of randomness from a UUIDv4 (its dashes left out). */
static void random_hex(char *out, size_t n)
{
    char u[HD_UUID_STRLEN];
    hd_uuid_v4(u);
    size_t j = 0;
    for (size_t i = 0; u[i] && j < n; i++)
        if (u[i] != '-')
            out[j++] = u[i];
    out[j] = '\0';
}

void hd_trace_new(char out[HD_TRACE_ID_LEN])
{
    random_hex(out, 32);
}

void hd_traceparent(const char *trace_id, char out[HD_TRACEPARENT_LEN])
{
    char span[33];
    random_hex(span, 16);
    snprintf(out, HD_TRACEPARENT_LEN, "00-%.32s-%.16s-01", trace_id, span);
}
