/*
 * dedup: drops repeated notifications per channel. The key is the request's
 * idempotency key, or when it has none a SHA-256 of tenant, user, channel,
 * template (key, version, locale), inline content and variables. Keys live
 * in the "dedup" state store (changelogged, exactly-once) with a per-channel
 * TTL: EMAIL 24 h, PUSH 1 h, IN_APP 7 d, others 24 h, or the tenant's
 * "dedup_ttl_ms" for the channel. A repeated channel gets a SKIPPED status,
 * reason "duplicate", naming the first notification; a request whose every
 * channel is a duplicate stops here.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/uuid.h"
#include "processors/dedup_int.h"
#include "processors/processor.h"
#include "processors/tables.h"
#include "state/store.h"

#define HOUR_MS (3600LL * 1000)

static const char *const dedup_stores[] = {"dedup", NULL};

int64_t hd__dedup_ttl_ms(const struct hd_tenant *tn, enum hd_channel ch)
{
    if (tn && tn->dedup_ttl_ms[ch] > 0)
        return tn->dedup_ttl_ms[ch];
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
    struct hd_buf val;
};

static int dedup_init(void **self, const struct hd_task_env *env, char *errstr,
                      size_t errstr_size)
{
    *self = hd_calloc(1, sizeof(struct dedup));
    return 0;
}

static void dedup_exit(void *self)
{
    struct dedup *d = self;
    hd_buf_free(&d->key);
    hd_buf_free(&d->val);
    hd_free(d);
}

void hd__dedup_reason(char *out, size_t out_size, const char *first)
{
    snprintf(out, out_size, "duplicate of notification %.40s", first);
}

int hd__dedup_seen(struct hd_store *st, const struct hd_tenant *tn, const struct hd_request *r,
                   enum hd_channel ch, int64_t now_ms, struct hd_buf *key, struct hd_buf *val,
                   char *errstr, size_t errstr_size)
{
    hd__dedup_key(r, ch, key);
    int found = hd_store_get(st, key->data, key->len, now_ms, val, errstr, errstr_size);
    if (found < 0)
        return -1;
    if (found) {
        hd_buf_putc(val, '\0');
        return 1;
    }
    char nid[HD_UUID_STRLEN];
    hd_notification_id(r->request_id, hd_channel_name(ch), nid);
    if (hd_store_put(st, key->data, key->len, nid, strlen(nid),
                     now_ms + hd__dedup_ttl_ms(tn, ch), errstr, errstr_size))
        return -1;
    return 0;
}

static void emit_duplicate(struct hd_ctx *ctx, const struct hd_request *r, enum hd_channel ch,
                           const char *first)
{
    char reason[96];
    hd__dedup_reason(reason, sizeof(reason), first);
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
        int seen = hd__dedup_seen(st, tn, r, ch, hd_ctx_now(ctx), &d->key, &d->val, err,
                                  sizeof(err));
        if (seen < 0)
            return hd_ctx_retry(ctx, "state_error", "%s", err);
        if (seen) {
            emit_duplicate(ctx, r, ch, d->val.data);
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
};
