/*
 * schedule: holds a request whose scheduled_at is in the future in the durable "timers"
 * store (timers.h) and releases it when due: SCHEDULED per channel when held; on release
 * the timer is deleted and the rest of the chain (render) runs, all inside the task's
 * transaction, so a kill -9 at any point neither loses nor repeats a scheduled
 * notification. A request that expired while held is SKIPPED with reason "expired".
 */
#include <stdio.h>

#include "core/time.h"
#include "processors/processor.h"
#include "processors/timers.h"

static const char *const schedule_stores[] = {"timers", NULL};

static const struct hd_conf_entry schedule_config[] = {
    {"release_max", HD_CONF_INT, "500", "HERALD_SCHEDULE_RELEASE_MAX", 0, 1, 100000,
     "held requests released per partition and punctuation (bounds a transaction)"},
    {NULL, 0, NULL, NULL, 0, 0, 0, NULL},
};

static enum hd_verdict schedule_process(void *self, struct hd_ctx *ctx, struct hd_record *rec)
{
    struct hd_timers *tm = self;
    const struct hd_request *r = &rec->req;
    if (!r->has_scheduled_at || r->scheduled_at <= hd_ctx_now(ctx) || !hd_ctx_source(ctx))
        return HD_PASS;
    char err[256];
    if (hd_timers_hold(tm, ctx, rec, r->scheduled_at, 0, err, sizeof(err)))
        return hd_ctx_retry(ctx, "state_error", "%s", err);
    char why[64];
    snprintf(why, sizeof(why), "held until %lld", (long long)r->scheduled_at);
    hd_timers_statuses(ctx, r, HD_ST_SCHEDULED, "scheduled", why);
    return HD_HOLD;
}

static void schedule_punctuate(void *self, struct hd_ctx *ctx, int64_t now_ms)
{
    struct hd_timers *tm = self;
    int n = hd_timers_collect(tm, ctx, now_ms);
    for (int i = 0; i < n; i++) {
        int got = hd_timers_take(tm, ctx, (size_t)i);
        if (got < 0)
            return;
        if (!got)
            continue;
        const struct hd_request *r = &tm->rec.req;
        if (r->has_expires_at && r->expires_at <= hd_ctx_now(ctx))
            hd_timers_statuses(ctx, r, HD_ST_SKIPPED, "expired",
                               "expires_at passed while scheduled");
        else
            hd_ctx_forward(ctx, &tm->rec, &tm->src);
        hd_request_clear(&tm->rec.req);
    }
}

static int schedule_init(void **self, const struct hd_task_env *env, char *errstr,
                         size_t errstr_size)
{
    if (!env->conf)
        return hd_seterr(-1, errstr, errstr_size, "schedule: its settings were not loaded");
    struct hd_timers *tm = hd_malloc(sizeof(*tm));
    hd_timers_init(tm, "timers", (int)hd_conf_int(env->conf, "release_max"));
    *self = tm;
    return 0;
}

static void schedule_exit(void *self)
{
    hd_timers_fini(self);
    hd_free(self);
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
