/*
 * Processors without Kafka (probe.h): a task with no consumer, producer or stores whose
 * hd__ctx_produce hands each output to hd__probe_capture.
 */
#include "processors/probe.h"

#include <string.h>

#include "core/buf.h"
#include "core/hd.h"
#include "processors/runtime_int.h"
#include "schemas/serde.h"

#define PROBE_PENDING_MAX 256

struct probe_completion {
    enum hd_verdict v;
    int64_t offset;
};

struct hd_probe {
    struct hd_task task;
    struct hd_probe_output *out;
    size_t out_cnt, out_cap;
    struct probe_completion *done;
    size_t done_cnt, done_cap;
};

struct hd_probe *hd_probe_new(const struct hd_config *c, const struct hd_tables *tables,
                              int64_t now_ms, char *errstr, size_t errstr_size)
{
    struct hd_probe *pr = hd_calloc(1, sizeof(*pr));
    struct hd_task *t = &pr->task;
    t->cfg = c;
    t->tables = tables;
    t->now = now_ms;
    t->probe = pr;
    t->ctx.task = t;
    t->ctx.partition = -1;
    t->pending_cap = PROBE_PENDING_MAX;
    t->pending = hd_calloc(t->pending_cap, sizeof(*t->pending));
    if (!(t->serde = hd_serde_new(errstr, errstr_size))) {
        hd_free(t->pending);
        hd_free(pr);
        return NULL;
    }
    return pr;
}

void hd_probe_destroy(struct hd_probe *pr)
{
    if (!pr)
        return;
    hd_probe_clear(pr);
    hd_free(pr->out);
    hd_free(pr->done);
    hd_free(pr->task.pending);
    hd_buf_free(&pr->task.ctx.reason);
    hd_buf_free(&pr->task.ctx.enc);
    hd_serde_destroy(pr->task.serde);
    hd_free(pr);
}

struct hd_serde *hd_probe_serde(struct hd_probe *pr)
{
    return pr->task.serde;
}

void hd_probe_set_now(struct hd_probe *pr, int64_t now_ms)
{
    pr->task.now = now_ms;
}

int hd_probe_decode(struct hd_probe *pr, enum hd_payload_kind kind, const struct hd_envelope *e,
                    struct hd_record *rec, char *errstr, size_t errstr_size)
{
    return hd__record_decode(pr->task.serde, kind, e, rec, errstr, errstr_size);
}

void hd_probe_record_clear(struct hd_record *rec)
{
    hd__record_reset(rec);
}

enum hd_verdict hd_probe_run(struct hd_probe *pr, const struct hd_processor *p, void *self,
                             struct hd_record *rec)
{
    struct hd_ctx *ctx = &pr->task.ctx;
    ctx->rec = rec;
    ctx->msg = NULL;
    ctx->partition = rec->src ? rec->src->partition : 0;
    ctx->code[0] = '\0';
    hd_buf_reset(&ctx->reason);
    enum hd_verdict v = p->process(self, ctx, rec);
    ctx->rec = NULL;
    ctx->partition = -1;
    return v;
}

struct hd_ctx *hd_probe_ctx(struct hd_probe *pr)
{
    return &pr->task.ctx;
}

const char *hd_probe_code(const struct hd_probe *pr)
{
    return pr->task.ctx.code;
}

const char *hd_probe_reason(const struct hd_probe *pr)
{
    return pr->task.ctx.reason.data ? pr->task.ctx.reason.data : "";
}

size_t hd_probe_output_count(const struct hd_probe *pr)
{
    return pr->out_cnt;
}

const struct hd_probe_output *hd_probe_output(const struct hd_probe *pr, size_t i)
{
    return i < pr->out_cnt ? &pr->out[i] : NULL;
}

void hd_probe_clear(struct hd_probe *pr)
{
    for (size_t i = 0; i < pr->out_cnt; i++) {
        hd_free(pr->out[i].topic);
        hd_free(pr->out[i].key);
        hd_free(pr->out[i].value);
        hd_headers_destroy(pr->out[i].headers);
    }
    pr->out_cnt = 0;
    pr->done_cnt = 0;
    if (!pr->task.pending_open)
        pr->task.pending_cnt = 0;
    pr->task.ctx.code[0] = '\0';
    hd_buf_reset(&pr->task.ctx.reason);
}

static void *dup_bytes(const void *p, size_t n)
{
    if (!p)
        return NULL;
    void *d = hd_malloc(n ? n : 1);
    memcpy(d, p, n);
    return d;
}

void hd__probe_capture(struct hd_probe *pr, const char *topic, const void *key, size_t key_len,
                       const void *value, size_t value_len, rd_kafka_headers_t *hdrs)
{
    if (pr->out_cnt == pr->out_cap) {
        pr->out_cap = pr->out_cap ? pr->out_cap * 2 : 8;
        pr->out = hd_realloc(pr->out, pr->out_cap * sizeof(*pr->out));
    }
    struct hd_probe_output *o = &pr->out[pr->out_cnt++];
    o->topic = hd_strdup(topic);
    o->key = dup_bytes(key, key_len);
    o->key_len = key_len;
    o->value = dup_bytes(value, value_len);
    o->value_len = value_len;
    o->headers = (struct hd_headers *)hdrs; /* a struct hd_headers is an rd_kafka_headers_t */
}

size_t hd_probe_drain(struct hd_probe *pr, const struct hd_processor *p, void *self,
                      int64_t deadline_ms)
{
    if (pr->task.pending_open && p->drain)
        p->drain(self, &pr->task.ctx, deadline_ms);
    return pr->task.pending_open;
}

void hd__probe_completed(struct hd_probe *pr, const struct hd_envelope *src, enum hd_verdict v)
{
    if (pr->done_cnt == pr->done_cap) {
        pr->done_cap = pr->done_cap ? pr->done_cap * 2 : 8;
        pr->done = hd_realloc(pr->done, pr->done_cap * sizeof(*pr->done));
    }
    pr->done[pr->done_cnt++] = (struct probe_completion){v == HD_PASS ? HD_PASS : HD_ERROR,
                                                         src->offset};
}

size_t hd_probe_completion_count(const struct hd_probe *pr)
{
    return pr->done_cnt;
}

int hd_probe_completion(const struct hd_probe *pr, size_t i, enum hd_verdict *v, int64_t *offset)
{
    if (i >= pr->done_cnt)
        return -1;
    *v = pr->done[i].v;
    *offset = pr->done[i].offset;
    return 0;
}

const char *hd_probe_header(const struct hd_probe_output *o, const char *name, char *buf,
                            size_t size)
{
    const void *v;
    size_t n;
    if (hd_headers_last(o->headers, name, &v, &n) || !v || n >= size)
        return NULL;
    memcpy(buf, v, n);
    buf[n] = '\0';
    return buf;
}
