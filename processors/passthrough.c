/*
 * passthrough: forwards each consumed record's bytes unchanged to
 * herald.bench.passthrough. The benchmark's baseline: the same consumer,
 * batching and transactions as the pipeline, with no processing.
 */
#include "processors/processor.h"
#include "processors/topology.h"

static enum hd_verdict passthrough_process(void *self, struct hd_ctx *ctx, struct hd_record *rec)
{
    const struct hd_envelope *e = rec->src;
    hd_ctx_emit_raw(ctx, HD_TOPIC_PASSTHROUGH_OUT, e->key, e->key_len, e->value, e->value_len);
    return HD_PASS;
}

const struct hd_processor hd_proc_passthrough = {
    .name = "passthrough",
    .input = HD_PAYLOAD_RAW,
    .process = passthrough_process,
};
