/*
 * The materializer: reads the status topics (notification.*) and inbox items
 * (herald.inbox) with read_committed and applies them to the PostgreSQL read
 * model in batches, storing the consumed offsets in the same PostgreSQL
 * transaction (table consumer_offsets). On partition assignment it seeks to
 * the offsets stored in PostgreSQL, so a restart resumes exactly there and a
 * replayed record changes nothing (exactly-once into the read model).
 * One instance per thread.
 */
#ifndef HD_MATERIALIZER_H
#define HD_MATERIALIZER_H

#include <signal.h>
#include <stddef.h>

#include "core/config.h"

struct hd_materializer;

/* Connects to Kafka (c->brokers) and PostgreSQL (c->pg); consumer group
 * "<app_id>-materializer". Returns NULL with errstr. */
struct hd_materializer *hd_materializer_new(const struct hd_config *c, char *errstr,
                                            size_t errstr_size);
/* Polls one batch (waiting up to timeout_ms) and applies it in one PostgreSQL
 * transaction. Returns the number of records applied (0 when idle), or -1 with
 * errstr on an error that the caller should treat as fatal. */
int hd_materializer_poll(struct hd_materializer *m, int timeout_ms, char *errstr,
                         size_t errstr_size);
/* Loops hd_materializer_poll until *stop becomes non-zero. Returns 0 or -1. */
int hd_materializer_run(struct hd_materializer *m, volatile sig_atomic_t *stop, char *errstr,
                        size_t errstr_size);
void hd_materializer_destroy(struct hd_materializer *m);

#endif
