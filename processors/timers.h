/*
 * Durable timers: requests held in a processor's state store until a time, for schedule
 * (scheduled_at), prefs (quiet hours) and enrich (the User Service unavailable). The key
 * orders entries by due time (big-endian epoch ms, then the request id), so a punctuation
 * reads only the due range. The value keeps what the release and a later failure need: the
 * source partition, offset, key, headers and value bytes as consumed (a failure
 * dead-letters them untouched), the trace id, the channels still to deliver, when the
 * request was first held, and the user as enrich merged it (render's user.*).
 *
 * Value versions: 1 (no headers), 2 (+ headers) are schedule's before this module and are
 * still read (a changelog may hold them); 3 adds the first-held time and the user. A value
 * it cannot read (a newer version after a rollback, or a corrupt store) is dead-lettered
 * whole with reason unreadable_timer.
 *
 * Every write is staged in the store and so belongs to the task's transaction: a kill -9
 * at any point neither loses nor repeats a held request.
 */
#ifndef HD_TIMERS_H
#define HD_TIMERS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "processors/processor.h"

struct hd_timers {
    const char *store;    /* the processor's store name */
    int release_max;      /* entries taken per partition and punctuation */
    struct hd_buf key, val;
    struct hd_buf *due_keys, *due_vals; /* copies: an iterator dies on the first write */
    size_t due_cap;
    struct hd_headers *hdrs; /* the taken request's source headers */
    struct hd_record rec;    /* the taken request (kind HD_PAYLOAD_REQUEST, src NULL) */
    struct hd_envelope src;  /* its source, as consumed */
    int64_t since;           /* when it was first held (epoch ms) */
    int64_t due;             /* its due time */
};

void hd_timers_init(struct hd_timers *tm, const char *store, int release_max);
void hd_timers_fini(struct hd_timers *tm);

/* Holds rec (a request: the channels it has now are the ones kept; its user is kept too)
 * in the store until due_ms; since_ms is when it was first held (0: now). The source is
 * rec->src, or the forwarded record's (hd_ctx_source). Returns 0, or -1 with errstr (the
 * caller answers RETRY). */
int hd_timers_hold(struct hd_timers *tm, struct hd_ctx *ctx, const struct hd_record *rec,
                   int64_t due_ms, int64_t since_ms, char *errstr, size_t errstr_size);

/* From punctuate: copies up to release_max entries due at now_ms of the current partition.
 * Returns how many (0 when the store is not open), or -1 (logged). */
int hd_timers_collect(struct hd_timers *tm, struct hd_ctx *ctx, int64_t now_ms);

/* Takes the i-th collected entry: deletes it and decodes it into tm->rec, tm->src,
 * tm->since and tm->due (the user merged back into the recipient). Returns 1, 0 when it
 * was unreadable (dead-lettered whole, nothing to release), or -1 when the store failed
 * (logged; stop this punctuation: the entry is still there next time). */
int hd_timers_take(struct hd_timers *tm, struct hd_ctx *ctx, size_t i);

/* Emits status st with code and reason for every channel of r. */
void hd_timers_statuses(struct hd_ctx *ctx, const struct hd_request *r, enum hd_status st,
                        const char *code, const char *reason);

#endif
