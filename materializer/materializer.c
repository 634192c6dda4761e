/*
 * The materializer (see materializer.h): status topics and herald.inbox into
 * the PostgreSQL read model, exactly once.
 *
 * Exactly once comes from PostgreSQL, not from Kafka: each poll batch is one
 * PostgreSQL transaction holding the rows and, in consumer_offsets, the next
 * offset of every partition the batch read. Kafka's committed offsets are
 * never used. On assignment the consumer starts each partition at the offset
 * stored in PostgreSQL; when a transaction fails, the assigned partitions are
 * paused and, once PostgreSQL answers again, sought back to the stored
 * offsets. Records below a partition's stored offset are dropped on arrival,
 * so whatever the consumer delivers, nothing is applied twice.
 *
 * Rows are written so that applying a record again changes nothing either:
 * status history rows are keyed by the record's topic/partition/offset and a
 * notification's status only moves forward in rank (the status topics are
 * read in no particular relative order); inbox items update a row only when
 * its content differs.
 *
 * The transaction is sent as one libpq pipeline of prepared statements
 * (BEGIN, one statement per record, tenants, offsets, COMMIT), read back in
 * chunks so neither side's socket buffer can fill up. Records that cannot be
 * written (undecodable, invalid text or times, over-long ids) are logged by
 * position and skipped, their offsets still advance; when PostgreSQL itself
 * rejects a batch for its data (SQLSTATE classes 22, 23, 54), the batch is
 * applied again one savepoint per record so that only the offending record is
 * skipped. Log lines name topic, partition and offset, never record content.
 */
#include "materializer/materializer_int.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/kafka.h"
#include "core/hd.h"
#include "core/log.h"
#include "core/time.h"

struct hd_materializer *hd_materializer_new(const struct hd_config *c, char *errstr,
                                            size_t errstr_size)
{
    if (!c->pg) {
        hd_seterr(-1, errstr, errstr_size, "materializer: HERALD_PG is not set");
        return NULL;
    }
    struct hd_materializer *m = hd_calloc(1, sizeof(*m));
    m->consumer = hd_asprintf("%s-materializer", c->app_id ? c->app_id : "herald");
    m->batch_max = c->batch_max > 0 ? c->batch_max : 1000;
    m->batch = hd_calloc((size_t)m->batch_max, sizeof(*m->batch));
    if (!(m->sd = hd_serde_new(errstr, errstr_size)) ||
        !(m->pool = hd_pg_pool_new(c->pg, 1, errstr, errstr_size)) ||
        hd__mat_conn(m, errstr, errstr_size) != 0 ||
        !(m->rk = hd_kafka_consumer_new_cb(c, m->consumer, hd__mat_rebalance_cb, m, 0, errstr,
                                           errstr_size)) ||
        hd__mat_subscribe(m, errstr, errstr_size) != 0)
        goto err;
    return m;
err:
    hd_materializer_destroy(m);
    return NULL;
}

int hd_materializer_poll(struct hd_materializer *m, int timeout_ms, char *errstr,
                         size_t errstr_size)
{
    char e[512];
    if (m->resync && hd_mono_us() >= m->retry_at_us) {
        if (hd__mat_resync(m, e, sizeof(e)) == 0) {
            hd_log_info(MAT_COMPONENT, "resumed from the offsets stored in PostgreSQL");
        } else {
            hd__mat_backoff(m);
            hd_log_warn(MAT_COMPONENT, "cannot resume yet (retry in %d ms): %s", m->backoff_ms,
                        e);
        }
    }
    if (m->resync) {
        /* Keep serving the group (rebalances, liveness) while paused. */
        int64_t left = (m->retry_at_us - hd_mono_us()) / 1000;
        timeout_ms = left < timeout_ms ? (left > 0 ? (int)left : 0) : timeout_ms;
    }
    int n = hd__mat_collect(m, timeout_ms, errstr, errstr_size);
    if (n <= 0)
        return n;
    int64_t t0 = hd_mono_us();
    char sqlstate[6];
    int rc = hd__mat_apply(m, sqlstate, e, sizeof(e));
    if (rc != 0 && m->conn && hd__mat_data_error(sqlstate)) {
        hd_log_warn(MAT_COMPONENT, "batch of %d records rejected (%s); applying it record by "
                    "record", n, e);
        rc = hd__mat_apply_careful(m, e, sizeof(e));
    }
    if (rc != 0) {
        hd__mat_batch_drop(m);
        hd__mat_pause(m);
        hd_log_warn(MAT_COMPONENT, "batch of %d records not applied (retry in %d ms): %s", n,
                    m->backoff_ms, e);
        return 0;
    }
    for (size_t i = 0; i < m->part_cnt; i++)
        if (m->parts[i].batch_next >= 0)
            m->parts[i].next = m->parts[i].batch_next;
    hd__mat_batch_drop(m);
    m->backoff_ms = 0;
    if (hd_log_debug_on("pg"))
        hd_log_debug(MAT_COMPONENT, "applied %d records in %lld us", n,
                     (long long)(hd_mono_us() - t0));
    return n;
}

int hd_materializer_run(struct hd_materializer *m, volatile sig_atomic_t *stop, char *errstr,
                        size_t errstr_size)
{
    while (!*stop)
        if (hd_materializer_poll(m, 500, errstr, errstr_size) < 0)
            return -1;
    return 0;
}

void hd_materializer_destroy(struct hd_materializer *m)
{
    if (!m)
        return;
    if (m->rk) {
        rd_kafka_consumer_close(m->rk); /* revokes: the callback drops any pending batch */
        rd_kafka_destroy(m->rk);
    }
    hd__mat_batch_drop(m);
    hd__mat_parts_clear(m);
    hd__mat_conn_drop(m);
    hd_pg_pool_destroy(m->pool);
    hd_serde_destroy(m->sd);
    hd_status_event_clear(&m->ev);
    hd_inbox_item_clear(&m->item);
    hd_buf_free(&m->json);
    for (size_t i = 0; i < m->tenant_cnt; i++)
        hd_free(m->tenants[i]);
    hd_free(m->tenants);
    hd_free(m->batch);
    hd_free(m->consumer);
    hd_free(m);
}
