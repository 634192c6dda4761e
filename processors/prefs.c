/*
 * prefs: the preference filter (docs/PREFERENCES.md). For each channel of a request it
 * decides, from the user's effective preferences (prefs_rules.h: built-in defaults, the
 * tenant's preference_defaults, the profile's preferences from enrich, the user's record
 * on herald.preferences, each over the one before), the user's suppressions
 * (herald.suppressions) and the tenant's frequency caps:
 *   SKIPPED channel_disabled, category_opted_out, no_consent, dnd, suppressed, frequency_cap;
 *   SCHEDULED quiet_hours: the channel waits in the durable "deferred" store (timers.h)
 *   until the window ends, and is decided again then (a preference changed meanwhile
 *   counts);
 *   or it goes on.
 * Time rules are judged at the request's scheduled_at when that is later than now, so a
 * request scheduled into quiet hours waits for their end.
 *
 * herald.preferences and herald.suppressions are tables (processor.h): per partition,
 * kept up with while the task runs, so a change takes effect without a restart. Caps are
 * counted in the changelogged "caps" store when a message goes on: a kill -9 neither
 * counts one twice nor forgets one. A key per (user, cap) holds the send times inside the
 * cap's window (at most max of them).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/bytes.h"
#include "core/log.h"
#include "core/time.h"
#include "core/uuid.h"
#include "processors/prefs_rules.h"
#include "processors/processor.h"
#include "processors/timers.h"
#include "schemas/topics.h"
#include "state/store.h"
#include "tables/tables.h"

static const char *const prefs_stores[] = {"caps", "deferred", NULL};
static const char *const prefs_tables[] = {HD_TOPIC_PREFERENCES, HD_TOPIC_SUPPRESSIONS, NULL};

#define SUPP_MAX 64 /* suppressions of one user looked at */

struct prefs {
    struct hd_timers deferred;
    struct hd_buf key, val;
    struct hd_suppression supp[SUPP_MAX];
    size_t nsupp;
};

/* ---- the user's preferences and suppressions ---- */

static void layer(struct hd_prefs *p, json_t *l, const char *what, const char *tenant)
{
    char err[256];
    if (l && !json_is_null(l) && hd_prefs_apply(p, l, err, sizeof(err)))
        /* checked where it is written (herald prefs, the tenant config); a profile's may
         * be anything: the layer is left out, the others still count */
        hd_log_warn("prefs", "tenant %s: %s preferences left out: %s", tenant, what, err);
}

static void effective(struct prefs *pf, struct hd_ctx *ctx, const struct hd_record *rec,
                      const struct hd_tenant *tn, struct hd_prefs *p)
{
    const struct hd_request *r = &rec->req;
    hd_prefs_defaults(p);
    if (tn)
        layer(p, tn->preference_defaults, "default", r->tenant_id);
    layer(p, json_object_get(rec->user, "preferences"), "the profile's", r->tenant_id);
    struct hd_store *st = hd_ctx_store(ctx, HD_TOPIC_PREFERENCES);
    if (st && hd_store_never_held(st))
        st = NULL; /* no record in this partition: skip the lookup */
    hd_buf_reset(&pf->key);
    hd_buf_printf(&pf->key, "%s/%s", r->tenant_id, r->user_id);
    char err[256];
    if (st && hd_store_get(st, pf->key.data, pf->key.len, hd_ctx_now(ctx), &pf->val, err,
                           sizeof(err)) == 1) {
        json_error_t jerr;
        json_t *l = json_loadb(pf->val.data, pf->val.len, 0, &jerr);
        if (!l)
            hd_log_warn("prefs", "tenant %s: a user's preference record is not JSON: %s",
                        r->tenant_id, jerr.text);
        layer(p, l, "a user's", r->tenant_id);
        json_decref(l);
    }
    /* the user's time zone: their preferences', else their profile's (or the request's) */
    if (!p->timezone[0] && r->recipient && r->recipient->timezone)
        snprintf(p->timezone, sizeof(p->timezone), "%s", r->recipient->timezone);
}

static void load_suppressions(struct prefs *pf, struct hd_ctx *ctx, const struct hd_request *r)
{
    pf->nsupp = 0;
    struct hd_store *st = hd_ctx_store(ctx, HD_TOPIC_SUPPRESSIONS);
    if (!st || hd_store_never_held(st))
        return; /* an iterator per request costs; most partitions have no suppression */
    hd_buf_reset(&pf->key);
    hd_buf_printf(&pf->key, "%s/%s\x1f", r->tenant_id, r->user_id);
    char err[256];
    struct hd_store_iter *it = hd_store_iter_prefix(st, pf->key.data, pf->key.len,
                                                    hd_ctx_now(ctx), err, sizeof(err));
    if (!it) {
        hd_log_warn("prefs", "suppressions: %s", err);
        return;
    }
    const void *k, *v;
    size_t kl, vl;
    while (pf->nsupp < SUPP_MAX && hd_store_iter_next(it, &k, &kl, &v, &vl) == 1) {
        json_error_t jerr;
        json_t *j = json_loadb(v, vl, 0, &jerr);
        if (j && !hd_suppression_parse(j, &pf->supp[pf->nsupp], err, sizeof(err)))
            pf->nsupp++;
        json_decref(j);
    }
    hd_store_iter_destroy(it);
}

/* The address channel ch uses, NULL when none (PUSH: the first token not suppressed). */
static const char *address_of(const struct prefs *pf, const struct hd_request *r,
                              enum hd_channel ch, enum hd_category cat, int64_t now)
{
    const struct hd_recipient *rc = r->recipient;
    if (!rc)
        return NULL;
    switch (ch) {
    case HD_CH_EMAIL:
        return rc->email;
    case HD_CH_SMS:
    case HD_CH_WHATSAPP:
        return rc->phone;
    case HD_CH_WEBHOOK:
        return rc->webhook_url;
    case HD_CH_PUSH:
        for (size_t i = 0; i < rc->push_token_cnt; i++) {
            int blocked = 0;
            for (size_t j = 0; j < pf->nsupp && !blocked; j++)
                blocked = hd_suppression_blocks(&pf->supp[j], ch, rc->push_tokens[i], cat, now);
            if (!blocked)
                return rc->push_tokens[i];
        }
        return rc->push_token_cnt ? rc->push_tokens[0] : NULL;
    default:
        return NULL;
    }
}

/* A suppression that forbids the message, or NULL. */
static const struct hd_suppression *suppressed(const struct prefs *pf,
                                               const struct hd_request *r, enum hd_channel ch,
                                               int64_t now)
{
    const char *addr = address_of(pf, r, ch, r->category, now);
    for (size_t j = 0; addr && j < pf->nsupp; j++)
        if (hd_suppression_blocks(&pf->supp[j], ch, addr, r->category, now))
            return &pf->supp[j];
    return NULL;
}

/* A complaint in force withdraws MARKETING consent everywhere. */
static const struct hd_suppression *complaint(const struct prefs *pf, int64_t now)
{
    for (size_t j = 0; j < pf->nsupp; j++)
        if (pf->supp[j].reason == HD_SUPP_COMPLAINT &&
            (!pf->supp[j].until || pf->supp[j].until > now))
            return &pf->supp[j];
    return NULL;
}

/* ---- frequency caps ---- */

static int cap_applies(const struct hd_cap *c, enum hd_channel ch, enum hd_category cat)
{
    if (c->channel >= 0 && c->channel != (int)ch)
        return 0;
    return c->category >= 0 ? c->category == (int)cat : cat != HD_CAT_TRANSACTIONAL;
}

static void cap_key(struct hd_buf *k, const struct hd_request *r, const struct hd_cap *c)
{
    hd_buf_reset(k);
    hd_buf_printf(k, "%s/%s\x1f%s\x1f%s\x1f%lld", r->tenant_id, r->user_id,
                  c->channel >= 0 ? hd_channel_name(c->channel) : "*",
                  c->category >= 0 ? hd_category_name(c->category) : "*",
                  (long long)c->window_ms);
}

/* Sends counted under cap c inside its window; the stored times are left in pf->val. */
static int cap_count(struct prefs *pf, struct hd_store *st, const struct hd_request *r,
                     const struct hd_cap *c, int64_t now)
{
    cap_key(&pf->key, r, c);
    char err[256];
    if (hd_store_get(st, pf->key.data, pf->key.len, now, &pf->val, err, sizeof(err)) != 1)
        hd_buf_reset(&pf->val);
    int n = 0;
    for (size_t off = 0; off + 8 <= pf->val.len; off += 8)
        n += (int64_t)hd_be64_get((const unsigned char *)pf->val.data + off) > now - c->window_ms;
    return n;
}

/* The first cap a message sent at `now` would exceed, or NULL. */
static const struct hd_cap *over_cap(struct prefs *pf, struct hd_ctx *ctx,
                                     const struct hd_tenant *tn, const struct hd_request *r,
                                     enum hd_channel ch, int64_t now, int *count)
{
    struct hd_store *st = hd_ctx_store(ctx, "caps");
    for (size_t i = 0; st && tn && i < tn->cap_cnt; i++)
        if (cap_applies(&tn->caps[i], ch, r->category) &&
            (*count = cap_count(pf, st, r, &tn->caps[i], now)) >= tn->caps[i].max)
            return &tn->caps[i];
    return NULL;
}

/* Counts a message sent at `now` (its scheduled time when later than the processing time)
 * under every cap that applies. Returns 0 or -1. */
static int count_send(struct prefs *pf, struct hd_ctx *ctx, const struct hd_tenant *tn,
                      const struct hd_request *r, enum hd_channel ch, int64_t now, char *err,
                      size_t errlen)
{
    struct hd_store *st = hd_ctx_store(ctx, "caps");
    for (size_t i = 0; st && tn && i < tn->cap_cnt; i++) {
        const struct hd_cap *c = &tn->caps[i];
        if (!cap_applies(c, ch, r->category))
            continue;
        cap_count(pf, st, r, c, now);
        /* keep the newest max-1 times inside the window, then now */
        struct hd_buf kept = HD_BUF_INIT;
        size_t n = pf->val.len / 8, skip = 0, live = 0;
        for (size_t j = 0; j < n; j++)
            live += (int64_t)hd_be64_get((const unsigned char *)pf->val.data + j * 8) >
                    now - c->window_ms;
        skip = live >= (size_t)c->max ? live - (size_t)c->max + 1 : 0;
        for (size_t j = 0; j < n; j++) {
            const unsigned char *t = (const unsigned char *)pf->val.data + j * 8;
            if ((int64_t)hd_be64_get(t) <= now - c->window_ms)
                continue;
            if (skip) {
                skip--;
                continue;
            }
            hd_buf_append(&kept, t, 8);
        }
        unsigned char t[8];
        hd_be64_put(t, (uint64_t)now);
        hd_buf_append(&kept, t, 8);
        int rc = hd_store_put(st, pf->key.data, pf->key.len, kept.data, kept.len,
                              now + c->window_ms, err, errlen);
        hd_buf_free(&kept);
        if (rc)
            return -1;
    }
    return 0;
}

/* ---- the decision ---- */

static void channel_status(struct hd_ctx *ctx, const struct hd_request *r, enum hd_channel ch,
                           enum hd_status st, const char *code, const char *reason)
{
    struct hd_status_event ev;
    char nid[HD_UUID_STRLEN];
    hd_ctx_status_for(ctx, &ev, r, ch, st, nid);
    ev.reason_code = (char *)code;
    ev.reason = (char *)reason;
    hd_ctx_emit_status(ctx, &ev);
}

/* A channel's skip, emitted once the state writes of the decision succeeded (a RETRY must
 * not leave statuses behind). */
struct skip {
    enum hd_channel ch;
    const char *code;
    char reason[320];
};

static void skip(struct skip *sk, size_t *n, enum hd_channel ch, const char *code,
                 const char *fmt, ...) HD_PRINTF(5, 6);
static void skip(struct skip *sk, size_t *n, enum hd_channel ch, const char *code,
                 const char *fmt, ...)
{
    struct skip *s = &sk[(*n)++];
    s->ch = ch;
    s->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
    va_end(ap);
}

/* Decides every channel of rec: skips are emitted, deferred channels are held, the rest
 * stay in rec. Returns PASS (channels left), DONE (none), or RETRY (nothing emitted). */
static enum hd_verdict decide_all(struct prefs *pf, struct hd_ctx *ctx, struct hd_record *rec)
{
    struct hd_request *r = &rec->req;
    const struct hd_tenant *tn = hd_tables_tenant(hd_ctx_tables(ctx), r->tenant_id);
    int64_t now = hd_ctx_now(ctx);
    int64_t at = r->has_scheduled_at && r->scheduled_at > now ? r->scheduled_at : now;
    struct hd_prefs p;
    effective(pf, ctx, rec, tn, &p);
    load_suppressions(pf, ctx, r);
    const struct hd_suppression *comp = complaint(pf, now);
    enum hd_channel go[HD_CH__CNT], later[HD_CH__CNT], kept[HD_CH__CNT];
    struct skip sk[HD_CH__CNT];
    size_t ngo = 0, nlater = 0, nsk = 0, nkept = 0;
    int64_t until = 0;
    char later_reason[256] = "", when[40];
    for (size_t i = 0; i < r->channel_cnt && i < HD_CH__CNT; i++) {
        enum hd_channel ch = r->channels[i];
        struct hd_pref_decision d;
        hd_prefs_decide(&p, tn ? tn->timezone : NULL, ch, r->category, r->priority, at, &d);
        const struct hd_suppression *s;
        if (d.verdict == HD_PREF_SEND && r->category == HD_CAT_MARKETING && comp) {
            hd_time_iso8601(comp->at, when, sizeof(when));
            skip(sk, &nsk, ch, "no_consent", "MARKETING consent withdrawn by a complaint on %s "
                 "at %s", hd_channel_name(comp->channel), when);
        } else if (d.verdict == HD_PREF_SKIP) {
            skip(sk, &nsk, ch, d.code, "%s", d.reason);
        } else if ((s = suppressed(pf, r, ch, now))) {
            hd_time_iso8601(s->at, when, sizeof(when));
            skip(sk, &nsk, ch, "suppressed", "the %s address is suppressed: %s%s%s since %s",
                 hd_channel_name(ch), hd_supp_reason_name(s->reason),
                 s->category >= 0 ? " from " : "",
                 s->category >= 0 ? hd_category_name(s->category) : "", when);
        } else if (d.verdict == HD_PREF_DEFER) {
            later[nlater++] = ch;
            if (d.until_ms > until) {
                until = d.until_ms;
                snprintf(later_reason, sizeof(later_reason), "%s", d.reason);
            }
        } else {
            go[ngo++] = ch;
        }
    }
    char err[256];
    if (nlater) {
        /* the held copy carries the deferred channels only; r gets its own back */
        size_t cnt = r->channel_cnt;
        memcpy(kept, r->channels, cnt * sizeof(*kept));
        memcpy(r->channels, later, nlater * sizeof(*later));
        r->channel_cnt = nlater;
        int rc = hd_timers_hold(&pf->deferred, ctx, rec, until, 0, err, sizeof(err));
        memcpy(r->channels, kept, cnt * sizeof(*kept));
        r->channel_cnt = cnt;
        if (rc)
            return hd_ctx_retry(ctx, "state_error", "%s", err); /* nothing written yet */
    }
    /* caps last, one channel after the other, so two channels of one request count
     * against a cap that spans channels */
    nkept = 0;
    for (size_t i = 0; i < ngo; i++) {
        int count = 0;
        const struct hd_cap *c = over_cap(pf, ctx, tn, r, go[i], at, &count);
        if (c) {
            skip(sk, &nsk, go[i], "frequency_cap", "frequency cap: %d %s of %s in %lld s (at "
                 "most %d)", count, c->channel >= 0 ? hd_channel_name(c->channel) : "messages",
                 c->category >= 0 ? hd_category_name(c->category) : "every category",
                 (long long)(c->window_ms / 1000), c->max);
            continue;
        }
        if (count_send(pf, ctx, tn, r, go[i], at, err, sizeof(err))) {
            /* counts of this record are staged already: only an abort undoes them */
            hd_ctx_fail(ctx, err);
            return HD_DONE;
        }
        kept[nkept++] = go[i];
    }
    for (size_t i = 0; i < nlater; i++)
        channel_status(ctx, r, later[i], HD_ST_SCHEDULED, "quiet_hours", later_reason);
    for (size_t i = 0; i < nsk; i++)
        channel_status(ctx, r, sk[i].ch, HD_ST_SKIPPED, sk[i].code, sk[i].reason);
    memcpy(r->channels, kept, nkept * sizeof(*kept));
    r->channel_cnt = nkept;
    return nkept ? HD_PASS : HD_DONE;
}

static enum hd_verdict prefs_process(void *self, struct hd_ctx *ctx, struct hd_record *rec)
{
    return decide_all(self, ctx, rec);
}

static void prefs_punctuate(void *self, struct hd_ctx *ctx, int64_t now_ms)
{
    struct prefs *pf = self;
    int n = hd_timers_collect(&pf->deferred, ctx, now_ms);
    for (int i = 0; i < n; i++) {
        int got = hd_timers_take(&pf->deferred, ctx, (size_t)i);
        if (got < 0)
            break;
        if (!got)
            continue;
        struct hd_record *rec = &pf->deferred.rec;
        const struct hd_request *r = &rec->req;
        enum hd_verdict v;
        if (r->has_expires_at && r->expires_at <= now_ms) {
            hd_timers_statuses(ctx, r, HD_ST_SKIPPED, "expired",
                               "expires_at passed during quiet hours");
            v = HD_DONE;
        } else {
            rec->src = &pf->deferred.src; /* deferred again from its source, if it must be */
            v = decide_all(pf, ctx, rec);
            rec->src = NULL;
        }
        if (v == HD_PASS)
            hd_ctx_forward(ctx, rec, &pf->deferred.src);
        else if (v == HD_RETRY)
            /* the entry was taken: abort, so it is still there next time */
            hd_ctx_fail(ctx, "prefs: a deferred request could not be decided again");
        hd_request_clear(&pf->deferred.rec.req);
    }
}

static int prefs_init(void **self, const struct hd_task_env *env, char *errstr,
                      size_t errstr_size)
{
    (void)env;
    (void)errstr;
    (void)errstr_size;
    struct prefs *pf = hd_calloc(1, sizeof(*pf));
    hd_timers_init(&pf->deferred, "deferred", 500);
    *self = pf;
    return 0;
}

static void prefs_exit(void *self)
{
    struct prefs *pf = self;
    hd_timers_fini(&pf->deferred);
    hd_buf_free(&pf->key);
    hd_buf_free(&pf->val);
    hd_free(pf);
}

const struct hd_processor hd_proc_prefs = {
    .name = "prefs",
    .input = HD_PAYLOAD_REQUEST,
    .init = prefs_init,
    .process = prefs_process,
    .punctuate = prefs_punctuate,
    .exit = prefs_exit,
    .stores = prefs_stores,
    .tables = prefs_tables,
};
