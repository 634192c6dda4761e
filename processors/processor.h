/*
 * The processor plugin contract. A processor is a const descriptor (name,
 * input kind, init/process/punctuate/exit) plus a per-task instance (`self`).
 * The runtime (runtime.c) decodes each consumed record into a struct
 * hd_record, runs the sub-topology's chain, and turns the verdict into
 * outputs inside the task's Kafka transaction:
 *   PASS  - go on to the next processor; the last one has emitted its outputs
 *   SKIP  - stop; a request gets one SKIPPED status per channel with the reason
 *   RETRY - transient failure: the record is retried a few times, then dead-lettered
 *   ERROR - dead-letter the original record, bytes untouched, with the reason
 *   HOLD  - the processor kept the record in its state (a timer); the chain stops
 *           here and goes on from the next processor when punctuate forwards it
 *   PENDING - the processor started work whose outcome comes later (a provider send)
 *           and took a hd_pending for the record (hd_ctx_defer); it completes the
 *           record from its `drain`, inside the same transaction. Nothing blocks or
 *           sleeps in process: the task drains every pending record before it commits
 *   DONE  - the processor gave every channel its outcome itself (emitted its statuses):
 *           the chain stops here
 * Processors emit through hd_ctx_* only (never a Kafka handle), so every
 * output belongs to the task's transaction. The contract holds Herald types only: a record
 * comes with its envelope (envelope.h), not a librdkafka message, so a processor can be
 * unit-tested without a Kafka handle.
 */
#ifndef HD_PROCESSOR_H
#define HD_PROCESSOR_H

#include <jansson.h>
#include <stdint.h>

#include "core/config.h"
#include "core/confmap.h"
#include "processors/envelope.h"
#include "schemas/records.h"
#include "schemas/serde.h"

struct hd_store;

enum hd_verdict { HD_PASS = 0, HD_SKIP, HD_RETRY, HD_ERROR, HD_HOLD, HD_PENDING, HD_DONE };

enum hd_payload_kind {
    HD_PAYLOAD_RAW = 0, /* bytes as consumed (pass-through) */
    HD_PAYLOAD_EVENT,   /* a domain event, decoded to plain JSON */
    HD_PAYLOAD_REQUEST, /* NotificationRequest */
    HD_PAYLOAD_DISPATCH, /* Dispatch */
    HD_PAYLOAD_ACTION    /* UserAction */
};

/* "NotificationRequest", "Dispatch", ...: for messages. */
const char *hd_payload_kind_name(enum hd_payload_kind k);

/* The record being processed. Processors may modify the decoded payload (a
 * later processor sees the change). `src` is borrowed for the call. */
struct hd_record {
    const struct hd_envelope *src;     /* NULL for a record forwarded from punctuate */
    enum hd_payload_kind kind;
    json_t *event;                     /* HD_PAYLOAD_EVENT */
    const struct hd_schema *event_schema;
    struct hd_request req;             /* HD_PAYLOAD_REQUEST */
    struct hd_dispatch dsp;            /* HD_PAYLOAD_DISPATCH */
    struct hd_user_action act;         /* HD_PAYLOAD_ACTION */
    char trace_id[33];                 /* W3C trace id carried from the input (or new) */
    /* HD_PAYLOAD_REQUEST: the user as enrich merged it (profile.h), what render sees as
     * user.*; owned by the record (NULL until enrich ran, or without a profile) */
    json_t *user;
};

struct hd_ctx;
struct hd_tables;

/* Emit into the task's transaction. Key is tenant/user for per-recipient records.
 * Each returns 0, or -1 when the record could not be queued (the runtime then aborts
 * the transaction and rewinds). */
int hd_ctx_emit_raw(struct hd_ctx *ctx, const char *topic, const void *key, size_t key_len,
                    const void *value, size_t value_len);
int hd_ctx_emit_request(struct hd_ctx *ctx, const struct hd_request *r);
int hd_ctx_emit_status(struct hd_ctx *ctx, const struct hd_status_event *ev);
int hd_ctx_emit_dispatch(struct hd_ctx *ctx, const struct hd_dispatch *d);
int hd_ctx_emit_inbox(struct hd_ctx *ctx, const struct hd_inbox_item *it);

/* Set the reason for a SKIP / the error for an ERROR or RETRY and return that verdict. */
enum hd_verdict hd_ctx_skip(struct hd_ctx *ctx, const char *reason_code, const char *fmt, ...)
    HD_PRINTF(3, 4);
enum hd_verdict hd_ctx_error(struct hd_ctx *ctx, const char *error_code, const char *fmt, ...)
    HD_PRINTF(3, 4);
enum hd_verdict hd_ctx_retry(struct hd_ctx *ctx, const char *error_code, const char *fmt, ...)
    HD_PRINTF(3, 4);

/* The state store `name` (declared in the processor's `stores`) for the current record's
 * partition; NULL when not declared. Writes are staged and commit with the transaction. */
struct hd_store *hd_ctx_store(struct hd_ctx *ctx, const char *name);

struct hd_serde *hd_ctx_serde(struct hd_ctx *ctx);
const struct hd_tables *hd_ctx_tables(struct hd_ctx *ctx);
const struct hd_config *hd_ctx_config(struct hd_ctx *ctx);
/* Wall-clock time of the current batch (epoch ms). */
int64_t hd_ctx_now(struct hd_ctx *ctx);

/* Fills ev (zeroed first) with a status of request r's channel ch at the batch's time:
 * request, tenant, user, provider and batch from r, and the channel's notification id,
 * written to nid (HD_UUID_STRLEN bytes, which ev points to). */
void hd_ctx_status_for(struct hd_ctx *ctx, struct hd_status_event *ev, const struct hd_request *r,
                       enum hd_channel ch, enum hd_status st, char *nid);

/* A held record's envelope (its source), kept with it so a later failure can dead-letter
 * the original bytes with their source: struct hd_envelope (envelope.h). */

/* From punctuate: runs `rec` (decoded as the calling processor's input) through the
 * processors after the caller, as if the caller had returned PASS for it, inside the
 * current transaction; SKIP, ERROR and RETRY are handled as for a consumed record, with
 * `src` standing in for the consumed message. */
void hd_ctx_forward(struct hd_ctx *ctx, struct hd_record *rec, const struct hd_envelope *src);

/* From punctuate: the open transaction must abort (a state write failed after an entry was
 * taken): every write and output of it is dropped and comes again. Logged with why. */
void hd_ctx_fail(struct hd_ctx *ctx, const char *why);

/* The envelope of the record being processed: the consumed record's, or for a record
 * forwarded from punctuate the source the caller gave hd_ctx_forward. NULL outside a record. */
const struct hd_envelope *hd_ctx_source(struct hd_ctx *ctx);

/* From punctuate: dead-letters an entry of store `store` (current partition) that the
 * processor cannot use, its key and value bytes as stored, inside the current
 * transaction. The DeadLetter's source is the store's changelog topic and partition;
 * its offset is -1 (a store does not keep the changelog offset of each entry). The
 * caller deletes the entry. Returns 0, or -1 when it could not be produced (the
 * transaction then aborts, and the entry is still there next time). */
int hd_ctx_dead_letter_entry(struct hd_ctx *ctx, const char *store, const void *key,
                             size_t key_len, const void *value, size_t value_len,
                             const char *code, const char *error);

/* A consumed record whose outcome a processor will give later in the open transaction.
 * Owned by the task; valid from hd_ctx_defer until hd_ctx_complete, or until the
 * processor's `abandon` is called (the transaction aborted), whichever comes first. */
struct hd_pending;

/* From process: takes a pending handle for the record being processed; the processor then
 * returns HD_PENDING. Returns NULL for a record forwarded from punctuate (no consumed
 * message stands behind it): the processor must then give its verdict at once. */
struct hd_pending *hd_ctx_defer(struct hd_ctx *ctx);
/* From drain: makes p's record the current one (its partition, trace, headers), so the
 * outputs emitted next belong to it. */
void hd_ctx_enter(struct hd_ctx *ctx, struct hd_pending *p);
/* From drain, after hd_ctx_enter and the record's outputs: gives p's record its verdict,
 * HD_PASS or HD_ERROR (set with hd_ctx_error first: the original bytes are dead-lettered);
 * any other verdict is taken as an error. p is invalid afterwards. */
void hd_ctx_complete(struct hd_ctx *ctx, struct hd_pending *p, enum hd_verdict v);
/* From drain, instead of hd_ctx_enter + hd_ctx_complete: runs rec (p's record as the caller
 * decoded and changed it; rec->src is set to p's envelope) through the processors after the
 * one that deferred it, as if that one had returned PASS, and acts on the outcome as for a
 * consumed record (a SKIP's statuses, a HOLD, a dead letter). Later processors may defer it
 * again. p is invalid afterwards. */
void hd_ctx_resume(struct hd_ctx *ctx, struct hd_pending *p, struct hd_record *rec);
/* The consumed record behind p (its bytes stay valid while p is), e.g. to decode it again
 * for a retry. Borrowed. */
const struct hd_envelope *hd_ctx_pending_source(const struct hd_pending *p);

/* What init gets: read-only for the task's lifetime. */
struct hd_task_env {
    const struct hd_config *config; /* the process's (core/config.h) */
    const struct hd_tables *tables;
    const struct hd_conf *conf;     /* this processor's own settings, from its config map */
};

struct hd_processor {
    const char *name;
    enum hd_payload_kind input;
    /* Creates the instance in *self (may stay NULL). Returns 0 or -1 with errstr. */
    int (*init)(void **self, const struct hd_task_env *env, char *errstr, size_t errstr_size);
    enum hd_verdict (*process)(void *self, struct hd_ctx *ctx, struct hd_record *rec);
    /* Called about every 250 ms with the wall-clock time, once per input partition the
     * task owns (hd_ctx_store gives that partition's stores), inside a transaction; may
     * emit, write its stores and forward held records. Optional. */
    void (*punctuate)(void *self, struct hd_ctx *ctx, int64_t now_ms);
    void (*exit)(void *self); /* Optional. */
    /* Completes every record this processor deferred in the open transaction (for each:
     * hd_ctx_enter, its outputs, hd_ctx_complete), waiting for outcomes at most until
     * deadline_ms (hd_mono_us() / 1000 scale). Called on the task's thread once per
     * transaction, after the batch's records ran, when the processor has records pending.
     * Records still pending when it returns abort the transaction: they come again.
     * Required when process may return HD_PENDING. */
    void (*drain)(void *self, struct hd_ctx *ctx, int64_t deadline_ms);
    /* The open transaction is aborted with records of this processor still pending: drop
     * every hd_pending (they are invalid from now on). Work already started (a send in
     * flight) finishes on its own; its outcome must be ignored. Required with drain. */
    void (*abandon)(void *self);
    /* State stores it uses (NULL-terminated names), one per input partition, each with a
     * changelog topic. Optional. */
    const char *const *stores;
    /* Topics of the catalogue it reads as tables (NULL-terminated): per partition, like the
     * task's input, restored on assign and kept up with while the task runs (written by
     * others: `herald prefs`, the API). hd_ctx_store(ctx, <topic>) reads one; never write
     * it. Values are the records' bytes; a tombstone deletes. Optional. */
    const char *const *tables;
    /* Its settings (core/confmap.h), loaded and checked when a task is created; init reads
     * them from env->conf. Optional. */
    const struct hd_conf_entry *config;
};

/* The processors are registered in registry.h. */

#endif
