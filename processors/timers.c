/*
 * Durable timers in a processor's state store (timers.h).
 */
#include "processors/timers.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/bytes.h"
#include "core/log.h"
#include "core/uuid.h"
#include "processors/profile.h"
#include "schemas/topics.h"
#include "state/store.h"

#define TIMER_V1 1
#define TIMER_V2 2 /* V1 + the source headers after the key */
#define TIMER_V3 3 /* V2 + first-held time and the user before the value */
#define TIMER_NULL_HDR UINT32_MAX /* value length of a header whose value is null */
#define TIMER_HEAD 51 /* version 1, offset 8, partition 4, channels 2, trace 32, key length 4 */

void hd_timers_init(struct hd_timers *tm, const char *store, int release_max)
{
    memset(tm, 0, sizeof(*tm));
    tm->store = store;
    tm->release_max = release_max > 0 ? release_max : 500;
}

void hd_timers_fini(struct hd_timers *tm)
{
    for (size_t i = 0; i < tm->due_cap; i++) {
        hd_buf_free(&tm->due_keys[i]);
        hd_buf_free(&tm->due_vals[i]);
    }
    hd_free(tm->due_keys);
    hd_free(tm->due_vals);
    hd_buf_free(&tm->key);
    hd_buf_free(&tm->val);
    hd_request_clear(&tm->rec.req);
    json_decref(tm->rec.user);
    hd_headers_destroy(tm->hdrs);
    memset(tm, 0, sizeof(*tm));
}

static void put_be64(struct hd_buf *b, uint64_t v)
{
    unsigned char x[8];
    hd_be64_put(x, v);
    hd_buf_append(b, x, 8);
}

static void put_be32(struct hd_buf *b, uint32_t v)
{
    unsigned char x[4];
    hd_be32_put(x, v);
    hd_buf_append(b, x, 4);
}

/* count, then per header: name length, name, value length (TIMER_NULL_HDR: null), value */
static void put_headers(struct hd_buf *v, const struct hd_headers *h)
{
    size_t n = hd_headers_count(h), at = v->len;
    put_be32(v, 0);
    uint32_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name;
        const void *val;
        size_t len;
        if (hd_headers_get(h, i, &name, &val, &len))
            break;
        put_be32(v, (uint32_t)strlen(name));
        hd_buf_puts(v, name);
        put_be32(v, val ? (uint32_t)len : TIMER_NULL_HDR);
        if (val)
            hd_buf_append(v, val, len);
        kept++;
    }
    hd_be32_put((unsigned char *)v->data + at, kept);
}

int hd_timers_hold(struct hd_timers *tm, struct hd_ctx *ctx, const struct hd_record *rec,
                   int64_t due_ms, int64_t since_ms, char *errstr, size_t errstr_size)
{
    struct hd_store *st = hd_ctx_store(ctx, tm->store);
    const struct hd_envelope *m = rec->src ? rec->src : hd_ctx_source(ctx);
    if (!st)
        return hd_seterr(-1, errstr, errstr_size, "%s store not open for this partition",
                         tm->store);
    if (!m)
        return hd_seterr(-1, errstr, errstr_size, "a record without a source cannot be held");
    const struct hd_request *r = &rec->req;
    hd_buf_reset(&tm->key);
    put_be64(&tm->key, (uint64_t)due_ms);
    hd_buf_puts(&tm->key, r->request_id);
    uint16_t mask = 0;
    for (size_t i = 0; i < r->channel_cnt; i++)
        mask |= (uint16_t)(1u << r->channels[i]);
    struct hd_buf *v = &tm->val;
    hd_buf_reset(v);
    hd_buf_putc(v, TIMER_V3);
    put_be64(v, (uint64_t)m->offset);
    put_be32(v, (uint32_t)m->partition);
    hd_buf_putc(v, (char)(mask >> 8));
    hd_buf_putc(v, (char)mask);
    hd_buf_append(v, rec->trace_id, 32);
    put_be32(v, (uint32_t)m->key_len);
    hd_buf_append(v, m->key, m->key_len);
    put_headers(v, m->headers);
    put_be64(v, (uint64_t)(since_ms > 0 ? since_ms : hd_ctx_now(ctx)));
    char *user = rec->user ? json_dumps(rec->user, JSON_COMPACT) : NULL;
    put_be32(v, user ? (uint32_t)strlen(user) : 0);
    if (user)
        hd_buf_puts(v, user);
    free(user);
    hd_buf_append(v, m->value, m->value_len);
    return hd_store_put(st, tm->key.data, tm->key.len, v->data, v->len, 0, errstr,
                        errstr_size);
}

/* Reads the header section at *p (advanced past it) into a new list; NULL when the
 * section does not fit in `end`. */
static struct hd_headers *get_headers(const unsigned char **p, const unsigned char *end)
{
    if (end - *p < 4)
        return NULL;
    uint32_t n = hd_be32_get(*p);
    *p += 4;
    if (n > (size_t)(end - *p) / 8) /* each header takes at least its two lengths */
        return NULL;
    struct hd_headers *h = hd_headers_new(n);
    for (uint32_t i = 0; i < n; i++) {
        if (end - *p < 4 || hd_be32_get(*p) > (size_t)(end - *p) - 4)
            goto bad;
        uint32_t nl = hd_be32_get(*p);
        const char *name = (const char *)*p + 4;
        *p += 4 + nl;
        if (end - *p < 4)
            goto bad;
        uint32_t vl = hd_be32_get(*p);
        *p += 4;
        if (vl != TIMER_NULL_HDR && vl > (size_t)(end - *p))
            goto bad;
        char *nm = hd_strndup(name, nl);
        hd_headers_add(h, nm, vl == TIMER_NULL_HDR ? NULL : *p, vl == TIMER_NULL_HDR ? 0 : vl);
        hd_free(nm);
        if (vl != TIMER_NULL_HDR)
            *p += vl;
    }
    return h;
bad:
    hd_headers_destroy(h);
    return NULL;
}

/* Decodes an entry into tm->rec, keeping only the channels the holder kept. */
static int decode(struct hd_timers *tm, struct hd_ctx *ctx, const unsigned char *v, size_t len,
                  char *err, size_t err_size)
{
    if (len < TIMER_HEAD || v[0] < TIMER_V1 || v[0] > TIMER_V3)
        return hd_seterr(-1, err, err_size, "timer value: unknown format");
    uint32_t klen = hd_be32_get(v + 47);
    if (klen > len - TIMER_HEAD)
        return hd_seterr(-1, err, err_size, "timer value: truncated");
    const unsigned char *p = v + TIMER_HEAD + klen, *end = v + len;
    hd_headers_destroy(tm->hdrs);
    tm->hdrs = NULL;
    if (v[0] >= TIMER_V2 && !(tm->hdrs = get_headers(&p, end)))
        return hd_seterr(-1, err, err_size, "timer value: truncated headers");
    tm->since = 0;
    json_t *user = NULL;
    if (v[0] >= TIMER_V3) {
        if (end - p < 12 || hd_be32_get(p + 8) > (size_t)(end - p) - 12)
            return hd_seterr(-1, err, err_size, "timer value: truncated user");
        tm->since = (int64_t)hd_be64_get(p);
        uint32_t ul = hd_be32_get(p + 8);
        json_error_t jerr;
        if (ul && !(user = json_loadb((const char *)p + 12, ul, 0, &jerr)))
            return hd_seterr(-1, err, err_size, "timer value: user: %s", jerr.text);
        p += 12 + ul;
    }
    struct hd_envelope *src = &tm->src;
    memset(src, 0, sizeof(*src));
    src->topic = HD_TOPIC_REQUESTS;
    src->offset = (int64_t)hd_be64_get(v + 1);
    src->partition = (int32_t)hd_be32_get(v + 9);
    src->key = klen ? v + TIMER_HEAD : NULL;
    src->key_len = klen;
    src->headers = tm->hdrs;
    src->value = p;
    src->value_len = (size_t)(end - p);
    src->timestamp_ms = -1;
    uint16_t mask = (uint16_t)(v[13] << 8 | v[14]);
    struct hd_record *rec = &tm->rec;
    json_decref(rec->user);
    rec->user = NULL;
    rec->kind = HD_PAYLOAD_REQUEST;
    rec->src = NULL;
    memcpy(rec->trace_id, v + 15, 32);
    rec->trace_id[32] = '\0';
    if (hd_request_decode(hd_ctx_serde(ctx), src->value, src->value_len, &rec->req, err,
                          err_size)) {
        json_decref(user);
        return -1;
    }
    size_t kept = 0;
    for (size_t i = 0; i < rec->req.channel_cnt; i++)
        if (mask & (1u << rec->req.channels[i]))
            rec->req.channels[kept++] = rec->req.channels[i];
    rec->req.channel_cnt = kept;
    if (user) {
        rec->user = hd_profile_merge(&rec->req, user);
        json_decref(user);
    }
    return 0;
}

int hd_timers_collect(struct hd_timers *tm, struct hd_ctx *ctx, int64_t now_ms)
{
    struct hd_store *st = hd_ctx_store(ctx, tm->store);
    if (!st)
        return 0;
    char err[256];
    struct hd_buf to = HD_BUF_INIT;
    put_be64(&to, (uint64_t)now_ms + 1);
    struct hd_store_iter *it = hd_store_iter_range(st, "", 0, to.data, to.len, now_ms, err,
                                                   sizeof(err));
    hd_buf_free(&to);
    if (!it) {
        hd_log_warn(tm->store, "%s", err);
        return -1;
    }
    int n = 0, rc = 0;
    const void *k, *v;
    size_t kl, vl;
    while (n < tm->release_max && (rc = hd_store_iter_next(it, &k, &kl, &v, &vl)) == 1) {
        if ((size_t)n == tm->due_cap) {
            size_t cap = tm->due_cap ? tm->due_cap * 2 : 16;
            tm->due_keys = hd_realloc(tm->due_keys, cap * sizeof(*tm->due_keys));
            tm->due_vals = hd_realloc(tm->due_vals, cap * sizeof(*tm->due_vals));
            memset(tm->due_keys + tm->due_cap, 0, (cap - tm->due_cap) * sizeof(*tm->due_keys));
            memset(tm->due_vals + tm->due_cap, 0, (cap - tm->due_cap) * sizeof(*tm->due_vals));
            tm->due_cap = cap;
        }
        hd_buf_reset(&tm->due_keys[n]);
        hd_buf_append(&tm->due_keys[n], k, kl);
        hd_buf_reset(&tm->due_vals[n]);
        hd_buf_append(&tm->due_vals[n], v, vl);
        n++;
    }
    hd_store_iter_destroy(it);
    if (rc < 0 && n < tm->release_max) {
        hd_log_warn(tm->store, "timer scan failed");
        return -1;
    }
    return n;
}

int hd_timers_take(struct hd_timers *tm, struct hd_ctx *ctx, size_t i)
{
    struct hd_store *st = hd_ctx_store(ctx, tm->store);
    const struct hd_buf *key = &tm->due_keys[i], *val = &tm->due_vals[i];
    char err[512];
    if (!st || hd_store_delete(st, key->data, key->len, err, sizeof(err))) {
        hd_log_warn(tm->store, "%s", st ? err : "store closed");
        return -1;
    }
    tm->due = key->len >= 8 ? (int64_t)hd_be64_get((const unsigned char *)key->data) : 0;
    if (decode(tm, ctx, (const unsigned char *)val->data, val->len, err, sizeof(err))) {
        /* written by a processor, so a newer format (after a rollback), a bug or a corrupt
         * store, never input: the entry's bytes go to the DLQ whole, to be replayed by a
         * binary that reads them */
        hd_log_error(tm->store, "dead-lettering an unreadable timer: %s", err);
        hd_ctx_dead_letter_entry(ctx, tm->store, key->data, key->len, val->data, val->len,
                                 "unreadable_timer", err);
        hd_request_clear(&tm->rec.req);
        return 0;
    }
    return 1;
}

void hd_timers_statuses(struct hd_ctx *ctx, const struct hd_request *r, enum hd_status st,
                        const char *code, const char *reason)
{
    struct hd_status_event ev;
    for (size_t i = 0; i < r->channel_cnt; i++) {
        char nid[HD_UUID_STRLEN];
        hd_ctx_status_for(ctx, &ev, r, r->channels[i], st, nid);
        ev.reason_code = (char *)code;
        ev.reason = (char *)reason;
        if (hd_ctx_emit_status(ctx, &ev))
            return;
    }
}
