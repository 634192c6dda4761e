/*
 * schedule: holds a request whose scheduled_at is in the future in the
 * durable "timers" store and releases it when due. The key orders timers by
 * due time (big-endian epoch ms, then the request id), so punctuate reads
 * only the due range. The value keeps what a later failure needs to
 * dead-letter the request as it was consumed: source partition and offset,
 * trace id, the channels dedup kept, the original key, headers and value bytes.
 * Version 1 values (no headers) are still read: a changelog may hold them. A value
 * it cannot read (a newer version after a rollback, or a corrupt store) is
 * dead-lettered whole when due, with reason unreadable_timer.
 *
 * Holding emits SCHEDULED per channel; release deletes the timer and runs
 * the rest of the chain (render), all inside the task's transaction, so a
 * kill -9 at any point neither loses nor repeats a scheduled notification.
 * A request that expired while held is SKIPPED with reason "expired".
 */
#include <stdio.h>
#include <string.h>

#include "connectors/kafka.h"
#include "core/bytes.h"
#include "core/log.h"
#include "core/uuid.h"
#include "processors/processor.h"
#include "state/store.h"

#define SCHED_VALUE_V1 1
#define SCHED_VALUE_V2 2 /* V1 + the source headers after the key */
#define SCHED_NULL_HDR UINT32_MAX /* value length of a header whose value is null */
#define SCHED_HEAD 51 /* version 1, offset 8, partition 4, channels 2, trace 32, key length 4 */

static const char *const schedule_stores[] = {"timers", NULL};

struct schedule {
    struct hd_buf key, val;
    struct hd_record rec;
    struct hd_buf *due_keys, *due_vals; /* copies: the iterator dies on the first write */
    struct hd_headers *hdrs;            /* the released request's source headers */
    size_t due_cap;
    int release_max; /* timers released per partition and punctuation: bounds a transaction */
};

static const struct hd_conf_entry schedule_config[] = {
    {"release_max", HD_CONF_INT, "500", "HERALD_SCHEDULE_RELEASE_MAX", 0, 1, 100000,
     "held requests released per partition and punctuation (bounds a transaction)"},
    {NULL, 0, NULL, NULL, 0, 0, 0, NULL},
};

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

static void timer_key(struct hd_buf *k, int64_t due_ms, const char *request_id)
{
    hd_buf_reset(k);
    put_be64(k, (uint64_t)due_ms);
    hd_buf_puts(k, request_id);
}

/* count, then per header: name length, name, value length (SCHED_NULL_HDR: null), value */
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
        put_be32(v, val ? (uint32_t)len : SCHED_NULL_HDR);
        if (val)
            hd_buf_append(v, val, len);
        kept++;
    }
    unsigned char *c = (unsigned char *)v->data + at;
    c[0] = (unsigned char)(kept >> 24), c[1] = (unsigned char)(kept >> 16);
    c[2] = (unsigned char)(kept >> 8), c[3] = (unsigned char)kept;
}

static void timer_value(struct hd_buf *v, const struct hd_record *rec)
{
    const struct hd_envelope *m = rec->src;
    const struct hd_request *r = &rec->req;
    uint16_t mask = 0;
    for (size_t i = 0; i < r->channel_cnt; i++)
        mask |= (uint16_t)(1u << r->channels[i]);
    hd_buf_reset(v);
    hd_buf_putc(v, SCHED_VALUE_V2);
    put_be64(v, (uint64_t)m->offset);
    put_be32(v, (uint32_t)m->partition);
    hd_buf_putc(v, (char)(mask >> 8));
    hd_buf_putc(v, (char)mask);
    hd_buf_append(v, rec->trace_id, 32);
    put_be32(v, (uint32_t)m->key_len);
    hd_buf_append(v, m->key, m->key_len);
    put_headers(v, m->headers);
    hd_buf_append(v, m->value, m->value_len);
}

/* Reads V2's header section at *p (advanced past it) into a new list; NULL when the
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
        if (vl != SCHED_NULL_HDR && vl > (size_t)(end - *p))
            goto bad;
        char *nm = hd_strndup(name, nl);
        hd_headers_add(h, nm, vl == SCHED_NULL_HDR ? NULL : *p, vl == SCHED_NULL_HDR ? 0 : vl);
        hd_free(nm);
        if (vl != SCHED_NULL_HDR)
            *p += vl;
    }
    return h;
bad:
    hd_headers_destroy(h);
    return NULL;
}

static void emit_statuses(struct hd_ctx *ctx, const struct hd_request *r, enum hd_status st,
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

static enum hd_verdict schedule_process(void *self, struct hd_ctx *ctx, struct hd_record *rec)
{
    struct schedule *s = self;
    const struct hd_request *r = &rec->req;
    if (!r->has_scheduled_at || r->scheduled_at <= hd_ctx_now(ctx) || !rec->src)
        return HD_PASS;
    struct hd_store *st = hd_ctx_store(ctx, "timers");
    if (!st)
        return hd_ctx_retry(ctx, "state_unavailable", "timer store not open for this partition");
    char err[256];
    timer_key(&s->key, r->scheduled_at, r->request_id);
    timer_value(&s->val, rec);
    if (hd_store_put(st, s->key.data, s->key.len, s->val.data, s->val.len, 0, err, sizeof(err)))
        return hd_ctx_retry(ctx, "state_error", "%s", err);
    char why[64];
    snprintf(why, sizeof(why), "held until %lld", (long long)r->scheduled_at);
    emit_statuses(ctx, r, HD_ST_SCHEDULED, "scheduled", why);
    return HD_HOLD;
}

/* Decodes a held request into s->rec, keeping only the channels dedup kept. */
static int timer_decode(struct schedule *s, struct hd_ctx *ctx, const unsigned char *v,
                        size_t len, struct hd_envelope *src, char *err, size_t err_size)
{
    if (len < SCHED_HEAD || (v[0] != SCHED_VALUE_V1 && v[0] != SCHED_VALUE_V2))
        return hd_seterr(-1, err, err_size, "timer value: unknown format");
    uint32_t klen = hd_be32_get(v + 47);
    if (klen > len - SCHED_HEAD)
        return hd_seterr(-1, err, err_size, "timer value: truncated");
    const unsigned char *p = v + SCHED_HEAD + klen, *end = v + len;
    hd_headers_destroy(s->hdrs);
    s->hdrs = NULL;
    if (v[0] == SCHED_VALUE_V2 && !(s->hdrs = get_headers(&p, end)))
        return hd_seterr(-1, err, err_size, "timer value: truncated headers");
    src->topic = HD_TOPIC_REQUESTS;
    src->offset = (int64_t)hd_be64_get(v + 1);
    src->partition = (int32_t)hd_be32_get(v + 9);
    src->key = klen ? v + SCHED_HEAD : NULL;
    src->key_len = klen;
    src->headers = s->hdrs;
    src->value = p;
    src->value_len = (size_t)(end - p);
    uint16_t mask = (uint16_t)(v[13] << 8 | v[14]);
    struct hd_record *rec = &s->rec;
    rec->kind = HD_PAYLOAD_REQUEST;
    rec->src = NULL;
    memcpy(rec->trace_id, v + 15, 32);
    rec->trace_id[32] = '\0';
    if (hd_request_decode(hd_ctx_serde(ctx), src->value, src->value_len, &rec->req, err,
                          err_size))
        return -1;
    size_t kept = 0;
    for (size_t i = 0; i < rec->req.channel_cnt; i++)
        if (mask & (1u << rec->req.channels[i]))
            rec->req.channels[kept++] = rec->req.channels[i];
    rec->req.channel_cnt = kept;
    return 0;
}

/* Copies up to release_max due timers; returns how many, or -1. */
static int collect_due(struct schedule *s, struct hd_store *st, int64_t now_ms, char *err,
                       size_t err_size)
{
    struct hd_buf to = HD_BUF_INIT;
    put_be64(&to, (uint64_t)now_ms + 1);
    struct hd_store_iter *it = hd_store_iter_range(st, "", 0, to.data, to.len, now_ms, err,
                                                   err_size);
    hd_buf_free(&to);
    if (!it)
        return -1;
    int n = 0, rc = 0;
    const void *k, *v;
    size_t kl, vl;
    while (n < s->release_max && (rc = hd_store_iter_next(it, &k, &kl, &v, &vl)) == 1) {
        if ((size_t)n == s->due_cap) {
            size_t cap = s->due_cap ? s->due_cap * 2 : 16;
            s->due_keys = hd_realloc(s->due_keys, cap * sizeof(*s->due_keys));
            s->due_vals = hd_realloc(s->due_vals, cap * sizeof(*s->due_vals));
            memset(s->due_keys + s->due_cap, 0, (cap - s->due_cap) * sizeof(*s->due_keys));
            memset(s->due_vals + s->due_cap, 0, (cap - s->due_cap) * sizeof(*s->due_vals));
            s->due_cap = cap;
        }
        hd_buf_reset(&s->due_keys[n]);
        hd_buf_append(&s->due_keys[n], k, kl);
        hd_buf_reset(&s->due_vals[n]);
        hd_buf_append(&s->due_vals[n], v, vl);
        n++;
    }
    hd_store_iter_destroy(it);
    return rc < 0 && n < s->release_max ? hd_seterr(-1, err, err_size, "timer scan failed") : n;
}

static void release(struct schedule *s, struct hd_ctx *ctx, const struct hd_buf *key,
                    const struct hd_buf *val)
{
    char err[512];
    struct hd_envelope src;
    if (timer_decode(s, ctx, (const unsigned char *)val->data, val->len, &src, err,
                     sizeof(err))) {
        /* written by a processor, so a newer format (after a rollback), a bug or a corrupt
         * store, never input: the timer's bytes go to the DLQ whole, to be replayed by a
         * binary that reads them */
        hd_log_error("schedule", "dead-lettering an unreadable timer: %s", err);
        hd_ctx_dead_letter_entry(ctx, "timers", key->data, key->len, val->data, val->len,
                                 "unreadable_timer", err);
        hd_request_clear(&s->rec.req);
        return;
    }
    const struct hd_request *r = &s->rec.req;
    if (r->has_expires_at && r->expires_at <= hd_ctx_now(ctx))
        emit_statuses(ctx, r, HD_ST_SKIPPED, "expired", "expires_at passed while scheduled");
    else
        hd_ctx_forward(ctx, &s->rec, &src);
    hd_request_clear(&s->rec.req);
}

static void schedule_punctuate(void *self, struct hd_ctx *ctx, int64_t now_ms)
{
    struct schedule *s = self;
    struct hd_store *st = hd_ctx_store(ctx, "timers");
    char err[256];
    int n = st ? collect_due(s, st, now_ms, err, sizeof(err)) : 0;
    if (n < 0)
        hd_log_warn("schedule", "%s", err);
    for (int i = 0; i < n; i++) {
        if (hd_store_delete(st, s->due_keys[i].data, s->due_keys[i].len, err, sizeof(err))) {
            hd_log_warn("schedule", "%s", err);
            return;
        }
        release(s, ctx, &s->due_keys[i], &s->due_vals[i]);
    }
}

static int schedule_init(void **self, const struct hd_task_env *env, char *errstr,
                         size_t errstr_size)
{
    if (!env->conf)
        return hd_seterr(-1, errstr, errstr_size, "schedule: its settings were not loaded");
    struct schedule *s = hd_calloc(1, sizeof(*s));
    s->release_max = (int)hd_conf_int(env->conf, "release_max");
    *self = s;
    return 0;
}

static void schedule_exit(void *self)
{
    struct schedule *s = self;
    for (size_t i = 0; i < s->due_cap; i++) {
        hd_buf_free(&s->due_keys[i]);
        hd_buf_free(&s->due_vals[i]);
    }
    hd_free(s->due_keys);
    hd_free(s->due_vals);
    hd_buf_free(&s->key);
    hd_buf_free(&s->val);
    hd_request_clear(&s->rec.req);
    hd_headers_destroy(s->hdrs);
    hd_free(s);
}

const struct hd_processor hd_proc_schedule = {
    .name = "schedule",
    .input = HD_PAYLOAD_REQUEST,
    .init = schedule_init,
    .process = schedule_process,
    .punctuate = schedule_punctuate,
    .exit = schedule_exit,
    .stores = schedule_stores,
    .config = schedule_config,
};
