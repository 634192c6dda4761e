/*
 * A probe: runs processors over records without Kafka, for unit tests and tools. It
 * stands in for a task: hd_ctx_* work as in a task (tables, config, clock, verdict
 * helpers, outputs encoded with Herald's headers), but every output is captured in the
 * probe instead of being produced, and no state store is open (hd_ctx_store answers
 * NULL). A processor may defer a record (hd_ctx_defer, PENDING) when the record has an
 * envelope (rec->src): hd_probe_drain then calls its drain, and each completion is kept
 * with its verdict (hd_probe_completion), as the task's ledger would count it. The
 * envelope (and what it points to) must stay valid until the record completes.
 *
 * Ownership: the probe borrows c and tables (they outlive it); outputs belong to the
 * probe until hd_probe_clear or hd_probe_destroy. Single-threaded.
 */
#ifndef HD_PROBE_H
#define HD_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "processors/processor.h"

struct hd_probe;

struct hd_probe_output {
    char *topic;
    void *key;
    size_t key_len;
    void *value; /* the encoded record (Avro with its schema id, as produced) */
    size_t value_len;
    struct hd_headers *headers;
};

/* now_ms: the clock hd_ctx_now answers. Returns NULL with errstr (the serde failed). */
struct hd_probe *hd_probe_new(const struct hd_config *c, const struct hd_tables *tables,
                              int64_t now_ms, char *errstr, size_t errstr_size);
void hd_probe_destroy(struct hd_probe *pr); /* NULL is fine */
struct hd_serde *hd_probe_serde(struct hd_probe *pr);
void hd_probe_set_now(struct hd_probe *pr, int64_t now_ms);

/* Decodes e's value as `kind` into rec, as the runtime does for a consumed record (rec->src
 * = e, the trace from e's traceparent). Returns 0, or -1 with errstr. */
int hd_probe_decode(struct hd_probe *pr, enum hd_payload_kind kind, const struct hd_envelope *e,
                    struct hd_record *rec, char *errstr, size_t errstr_size);
/* Frees what hd_probe_decode put in rec. */
void hd_probe_record_clear(struct hd_record *rec);

/* Runs processor p (instance self, from its init) on rec at partition rec->src's (0 when
 * rec->src is NULL). Returns its verdict; outputs are captured, and hd_probe_code and
 * hd_probe_reason give a SKIP's, ERROR's or RETRY's code and text. */
enum hd_verdict hd_probe_run(struct hd_probe *pr, const struct hd_processor *p, void *self,
                             struct hd_record *rec);
struct hd_ctx *hd_probe_ctx(struct hd_probe *pr);
const char *hd_probe_code(const struct hd_probe *pr);
const char *hd_probe_reason(const struct hd_probe *pr);

/* Calls p's drain (deadline: hd_mono_us() / 1000 scale, as the runtime passes it) for the
 * records p deferred. Returns how many are still pending afterwards. */
size_t hd_probe_drain(struct hd_probe *pr, const struct hd_processor *p, void *self,
                      int64_t deadline_ms);
/* Deferred records completed so far (hd_probe_clear forgets them): the i-th one's verdict
 * (HD_PASS, or HD_ERROR when it was dead-lettered) and the offset of its envelope. Returns
 * 0, or -1 when there is no i-th completion. */
size_t hd_probe_completion_count(const struct hd_probe *pr);
int hd_probe_completion(const struct hd_probe *pr, size_t i, enum hd_verdict *v, int64_t *offset);

size_t hd_probe_output_count(const struct hd_probe *pr);
/* The value of o's last header `name` as a string in buf: buf, or NULL when it has none
 * or the value does not fit. */
const char *hd_probe_header(const struct hd_probe_output *o, const char *name, char *buf,
                            size_t size);
const struct hd_probe_output *hd_probe_output(const struct hd_probe *pr, size_t i);
/* Drops the captured outputs and the last code and reason. */
void hd_probe_clear(struct hd_probe *pr);

#endif
