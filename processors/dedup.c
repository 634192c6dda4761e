/*
 * dedup: drops repeated notifications per channel. The key is the request's
 * idempotency key, or when it has none a SHA-256 of tenant, user, channel,
 * template (key, version, locale), inline content and variables. Keys live
 * in the "dedup" state store (changelogged, exactly-once) with a per-channel
 * TTL: EMAIL 24 h, PUSH 1 h, IN_APP 7 d, others 24 h, or the tenant's
 * "dedup_ttl_ms" for the channel. A repeated channel gets a SKIPPED status,
 * reason "duplicate", naming the first notification and its request; a
 * request whose every channel is a duplicate stops here.
 *
 * A value is an Avro DedupEntry (schemas/dedup_entry.avsc, through the typed
 * store helpers): the first notification id, its request id and when it was
 * first seen. A value from before DedupEntry, the bare notification id, is
 * still read (its request is then unknown).
 */
#include <ctype.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/uuid.h"
#include "processors/dedup_int.h"
#include "processors/processor.h"
#include "state/store.h"
#include "state/store_avro.h"
#include "tables/tables.h"

#define HOUR_MS (3600LL * 1000)

static const char *const dedup_stores[] = {"dedup", NULL};

/* The process's windows (dedup.window_ms.<channel>); a tenant's dedup_ttl_ms wins. */
static const struct hd_conf_entry dedup_config[] = {
    {"window_ms.email", HD_CONF_INT, "86400000", "HERALD_DEDUP_WINDOW_MS_EMAIL", 0, 1000,
     31536000000LL, "EMAIL idempotency window", "dedup_ttl_ms.EMAIL"},
    {"window_ms.sms", HD_CONF_INT, "86400000", "HERALD_DEDUP_WINDOW_MS_SMS", 0, 1000,
     31536000000LL, "SMS idempotency window", "dedup_ttl_ms.SMS"},
    {"window_ms.push", HD_CONF_INT, "3600000", "HERALD_DEDUP_WINDOW_MS_PUSH", 0, 1000,
     31536000000LL, "PUSH idempotency window", "dedup_ttl_ms.PUSH"},
    {"window_ms.whatsapp", HD_CONF_INT, "86400000", "HERALD_DEDUP_WINDOW_MS_WHATSAPP", 0, 1000,
     31536000000LL, "WHATSAPP idempotency window", "dedup_ttl_ms.WHATSAPP"},
    {"window_ms.chat", HD_CONF_INT, "86400000", "HERALD_DEDUP_WINDOW_MS_CHAT", 0, 1000,
     31536000000LL, "CHAT idempotency window", "dedup_ttl_ms.CHAT"},
    {"window_ms.webhook", HD_CONF_INT, "86400000", "HERALD_DEDUP_WINDOW_MS_WEBHOOK", 0, 1000,
     31536000000LL, "WEBHOOK idempotency window", "dedup_ttl_ms.WEBHOOK"},
    {"window_ms.in_app", HD_CONF_INT, "604800000", "HERALD_DEDUP_WINDOW_MS_IN_APP", 0, 1000,
     31536000000LL, "IN_APP idempotency window", "dedup_ttl_ms.IN_APP"},
    {NULL, 0, NULL, NULL, 0, 0, 0, NULL, NULL},
};

int64_t hd__dedup_ttl_ms(const struct hd_tenant *tn, const int64_t *window, enum hd_channel ch)
{
    if (tn && tn->dedup_ttl_ms[ch] > 0)
        return tn->dedup_ttl_ms[ch];
    if (window && window[ch] > 0)
        return window[ch];
    switch (ch) {
    case HD_CH_PUSH: return 1 * HOUR_MS;
    case HD_CH_IN_APP: return 7 * 24 * HOUR_MS;
    default: return 24 * HOUR_MS;
    }
}

static void hash_str(EVP_MD_CTX *md, const char *s)
{
    /* length-prefixed, so ("ab","c") and ("a","bc") differ; NULL differs from "" */
    uint32_t n = s ? (uint32_t)strlen(s) + 1 : 0;
    EVP_DigestUpdate(md, &n, sizeof(n));
    if (s)
        EVP_DigestUpdate(md, s, n - 1);
}

/* tenant, NUL, "k:" idempotency key or "h:" hex SHA-256, NUL, channel */
void hd__dedup_key(const struct hd_request *r, enum hd_channel ch, struct hd_buf *key)
{
    hd_buf_reset(key);
    hd_buf_append(key, r->tenant_id, strlen(r->tenant_id) + 1);
    if (r->idempotency_key && *r->idempotency_key) {
        hd_buf_puts(key, "k:");
        hd_buf_append(key, r->idempotency_key, strlen(r->idempotency_key) + 1);
    } else {
        unsigned char dg[EVP_MAX_MD_SIZE];
        unsigned int dn = 0;
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
            abort(); /* out of memory */
        hash_str(md, r->tenant_id);
        hash_str(md, r->user_id);
        hash_str(md, hd_channel_name(ch));
        const struct hd_template_ref *t = r->template_ref;
        hash_str(md, t ? t->key : NULL);
        hash_str(md, t ? t->locale : NULL);
        int32_t ver = t && t->has_version ? t->version : -1;
        EVP_DigestUpdate(md, &ver, sizeof(ver));
        const struct hd_content *c = r->content;
        hash_str(md, c ? c->subject : NULL);
        hash_str(md, c ? c->title : NULL);
        hash_str(md, c ? c->text : NULL);
        hash_str(md, c ? c->html : NULL);
        hash_str(md, r->variables_json);
        EVP_DigestFinal_ex(md, dg, &dn);
        EVP_MD_CTX_free(md);
        hd_buf_puts(key, "h:");
        for (unsigned i = 0; i < dn; i++)
            hd_buf_printf(key, "%02x", dg[i]);
        hd_buf_putc(key, '\0');
    }
    hd_buf_puts(key, hd_channel_name(ch));
}

struct dedup {
    struct hd_buf key;
    struct hd_buf val; /* the first notification id of a duplicate */
    struct hd_buf req; /* and its request id ("" when the value predates DedupEntry) */
    int64_t window[HD_CH__CNT]; /* the process's windows, from dedup_config */
};

static int dedup_init(void **self, const struct hd_task_env *env, char *errstr,
                      size_t errstr_size)
{
    if (!env->conf)
        return hd_seterr(-1, errstr, errstr_size, "dedup: its settings were not loaded");
    struct dedup *d = hd_calloc(1, sizeof(*d));
    for (int ch = 0; ch < HD_CH__CNT; ch++) {
        char key[64];
        snprintf(key, sizeof(key), "window_ms.%s", hd_channel_slug((enum hd_channel)ch));
        d->window[ch] = hd_conf_int(env->conf, key);
    }
    *self = d;
    return 0;
}

static void dedup_exit(void *self)
{
    struct dedup *d = self;
    hd_buf_free(&d->key);
    hd_buf_free(&d->val);
    hd_buf_free(&d->req);
    hd_free(d);
}

void hd__dedup_reason(char *out, size_t out_size, const char *first, const char *first_request)
{
    if (first_request && *first_request)
        snprintf(out, out_size, "duplicate of notification %.40s (request %.128s)", first,
                 first_request);
    else
        snprintf(out, out_size, "duplicate of notification %.40s", first);
}

/* A value from before DedupEntry: the bare notification id (a UUID's 36 characters). */
static int bare_id(const struct hd_buf *v)
{
    if (v->len != HD_UUID_STRLEN - 1)
        return 0;
    for (size_t i = 0; i < v->len; i++)
        if (!isxdigit((unsigned char)v->data[i]) && v->data[i] != '-')
            return 0;
    return 1;
}

static int get_field(avro_value_t *rec, const char *name, struct hd_buf *out, char *errstr,
                     size_t errstr_size)
{
    avro_value_t f;
    const char *str;
    size_t n;
    if (avro_value_get_by_name(rec, name, &f, NULL) || avro_value_get_string(&f, &str, &n))
        return hd_seterr(-1, errstr, errstr_size, "DedupEntry.%s: %s", name, avro_strerror());
    hd_buf_reset(out);
    hd_buf_append(out, str, n ? n - 1 : 0); /* n counts the NUL */
    hd_buf_putc(out, '\0');
    return 0;
}

/* The DedupEntry schema of sd, or NULL with errstr. */
static const struct hd_schema *entry_schema(struct hd_serde *sd, char *errstr,
                                            size_t errstr_size)
{
    const struct hd_schema *schema = hd_serde_schema(sd, "DedupEntry");
    if (!schema)
        hd_seterr(-1, errstr, errstr_size, "no DedupEntry schema in this build");
    return schema;
}

static int put_entry(struct hd_store *st, struct hd_serde *sd, const struct hd_schema *schema,
                     const void *key, size_t key_len, const char *nid, const char *request_id,
                     int64_t now_ms, int64_t expires_ms, char *errstr, size_t errstr_size)
{
    avro_value_t *v = hd_serde_scratch_value(sd, schema), f;
    if (avro_value_get_by_name(v, "notification_id", &f, NULL) ||
        avro_value_set_string(&f, nid) ||
        avro_value_get_by_name(v, "request_id", &f, NULL) ||
        avro_value_set_string(&f, request_id) ||
        avro_value_get_by_name(v, "first_seen_at", &f, NULL) || avro_value_set_long(&f, now_ms))
        return hd_seterr(-1, errstr, errstr_size, "DedupEntry: %s", avro_strerror());
    return hd_store_put_avro(st, sd, schema, key, key_len, v, expires_ms, errstr, errstr_size);
}

int hd__dedup_put(struct hd_store *st, struct hd_serde *sd, const void *key, size_t key_len,
                  const char *nid, const char *request_id, int64_t now_ms, int64_t expires_ms,
                  char *errstr, size_t errstr_size)
{
    const struct hd_schema *schema = entry_schema(sd, errstr, errstr_size);
    return schema ? put_entry(st, sd, schema, key, key_len, nid, request_id, now_ms, expires_ms,
                              errstr, errstr_size)
                  : -1;
}

int hd__dedup_seen(struct hd_store *st, struct hd_serde *sd, const struct hd_tenant *tn,
                   const int64_t *window, const struct hd_request *r, enum hd_channel ch,
                   int64_t now_ms,
                   struct hd_buf *key, struct hd_buf *first, struct hd_buf *first_request,
                   char *errstr, size_t errstr_size)
{
    const struct hd_schema *schema = entry_schema(sd, errstr, errstr_size);
    if (!schema)
        return -1;
    hd__dedup_key(r, ch, key);
    avro_value_t *v;
    int found = hd_store_get_avro(st, sd, schema, key->data, key->len, now_ms, &v, errstr,
                                  errstr_size);
    if (found < 0) {
        char why[256];
        snprintf(why, sizeof(why), "%s", errstr);
        found = hd_store_get(st, key->data, key->len, now_ms, first, errstr, errstr_size);
        if (found < 0)
            return -1;
        if (found == 0 || !bare_id(first))
            return hd_seterr(-1, errstr, errstr_size, "dedup value: %s", why);
        hd_buf_putc(first, '\0');
        hd_buf_reset(first_request);
        hd_buf_putc(first_request, '\0');
        return 1;
    }
    if (found)
        return get_field(v, "notification_id", first, errstr, errstr_size) ||
                       get_field(v, "request_id", first_request, errstr, errstr_size)
                   ? -1
                   : 1;
    char nid[HD_UUID_STRLEN];
    hd_notification_id(r->request_id, hd_channel_name(ch), nid);
    if (put_entry(st, sd, schema, key->data, key->len, nid, r->request_id, now_ms,
                  now_ms + hd__dedup_ttl_ms(tn, window, ch), errstr, errstr_size))
        return -1;
    return 0;
}

static void emit_duplicate(struct hd_ctx *ctx, const struct hd_request *r, enum hd_channel ch,
                           const char *first, const char *first_request)
{
    char reason[256];
    hd__dedup_reason(reason, sizeof(reason), first, first_request);
    struct hd_status_event ev;
    char nid[HD_UUID_STRLEN];
    hd_ctx_status_for(ctx, &ev, r, ch, HD_ST_SKIPPED, nid);
    ev.reason_code = "duplicate";
    ev.reason = reason;
    hd_ctx_emit_status(ctx, &ev);
}

static enum hd_verdict dedup_process(void *self, struct hd_ctx *ctx, struct hd_record *rec)
{
    struct dedup *d = self;
    struct hd_request *r = &rec->req;
    struct hd_store *st = hd_ctx_store(ctx, "dedup");
    if (!st)
        return hd_ctx_retry(ctx, "state_unavailable", "dedup store not open for this partition");
    char err[256];
    size_t kept = 0;
    const struct hd_tenant *tn = hd_tables_tenant(hd_ctx_tables(ctx), r->tenant_id);
    for (size_t i = 0; i < r->channel_cnt; i++) {
        enum hd_channel ch = r->channels[i];
        int seen = hd__dedup_seen(st, hd_ctx_serde(ctx), tn, d->window, r, ch, hd_ctx_now(ctx),
                                  &d->key, &d->val, &d->req, err, sizeof(err));
        if (seen < 0)
            return hd_ctx_retry(ctx, "state_error", "%s", err);
        if (seen) {
            emit_duplicate(ctx, r, ch, d->val.data, d->req.data);
            continue;
        }
        r->channels[kept++] = ch;
    }
    r->channel_cnt = kept;
    if (!kept)
        return hd_ctx_skip(ctx, "duplicate", "every channel is a duplicate");
    return HD_PASS;
}

const struct hd_processor hd_proc_dedup = {
    .name = "dedup",
    .input = HD_PAYLOAD_REQUEST,
    .init = dedup_init,
    .process = dedup_process,
    .exit = dedup_exit,
    .stores = dedup_stores,
    .config = dedup_config,
};
