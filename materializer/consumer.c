/*
 * The materializer's Kafka side (materializer_int.h): the assigned partitions and their
 * positions, the rebalance callback, batch collection, and the pause and resync to the
 * offsets stored in PostgreSQL. Kafka's committed offsets are never used.
 */
#include "materializer/materializer_int.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/kafka.h"
#include "core/hd.h"
#include "core/log.h"
#include "core/time.h"


void hd__mat_parts_clear(struct hd_materializer *m)
{
    for (size_t i = 0; i < m->part_cnt; i++)
        hd_free(m->parts[i].topic);
    hd_free(m->parts);
    m->parts = NULL;
    m->part_cnt = 0;
    m->part_hint = 0;
}

struct mat_part *hd__mat_part_find(struct hd_materializer *m, const char *topic, int32_t part)
{
    for (size_t k = 0; k < m->part_cnt; k++) {
        size_t i = (m->part_hint + k) % m->part_cnt;
        if (m->parts[i].partition == part && strcmp(m->parts[i].topic, topic) == 0) {
            m->part_hint = i;
            return &m->parts[i];
        }
    }
    return NULL;
}

void hd__mat_batch_drop(struct hd_materializer *m)
{
    for (size_t i = 0; i < m->batch_cnt; i++)
        rd_kafka_message_destroy(m->batch[i]);
    m->batch_cnt = 0;
    for (size_t i = 0; i < m->part_cnt; i++)
        m->parts[i].batch_next = -1;
}

/* The assigned partitions at their stored offsets (the beginning where none is stored). */
static rd_kafka_topic_partition_list_t *mat_positions(struct hd_materializer *m)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)m->part_cnt);
    for (size_t i = 0; i < m->part_cnt; i++)
        rd_kafka_topic_partition_list_add(l, m->parts[i].topic, m->parts[i].partition)->offset =
            m->parts[i].next >= 0 ? m->parts[i].next : RD_KAFKA_OFFSET_BEGINNING;
    return l;
}

void hd__mat_backoff(struct hd_materializer *m)
{
    m->backoff_ms = m->backoff_ms ? m->backoff_ms * 2 : MAT_BACKOFF_MIN_MS;
    if (m->backoff_ms > MAT_BACKOFF_MAX_MS)
        m->backoff_ms = MAT_BACKOFF_MAX_MS;
    m->retry_at_us = hd_mono_us() + (int64_t)m->backoff_ms * 1000;
}

/* Stops consuming until hd__mat_resync succeeds. */
void hd__mat_pause(struct hd_materializer *m)
{
    rd_kafka_topic_partition_list_t *l = mat_positions(m);
    rd_kafka_pause_partitions(m->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    m->resync = 1;
    hd__mat_backoff(m);
}

/* Seeks every assigned partition to its stored offset and resumes. Returns 0 or -1. */
int hd__mat_resync(struct hd_materializer *m, char *errstr, size_t errstr_size)
{
    if (hd__mat_offsets_load(m, errstr, errstr_size) != 0)
        return -1;
    rd_kafka_topic_partition_list_t *l = mat_positions(m);
    rd_kafka_error_t *err = l->cnt ? rd_kafka_seek_partitions(m->rk, l, MAT_SEEK_TIMEOUT_MS) : NULL;
    int rc = 0;
    if (err) {
        rc = hd_seterr(-1, errstr, errstr_size, "librdkafka: seek: %s", rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
    }
    for (int i = 0; rc == 0 && i < l->cnt; i++)
        if (l->elems[i].err)
            rc = hd_seterr(-1, errstr, errstr_size, "librdkafka: seek %s [%d]: %s",
                           l->elems[i].topic, (int)l->elems[i].partition,
                           rd_kafka_err2str(l->elems[i].err));
    if (rc == 0) {
        rd_kafka_resume_partitions(m->rk, l);
        m->resync = 0;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

static void mat_assign(struct hd_materializer *m, rd_kafka_topic_partition_list_t *parts)
{
    hd__mat_parts_clear(m);
    m->parts = hd_calloc((size_t)parts->cnt + 1, sizeof(*m->parts));
    for (int i = 0; i < parts->cnt; i++) {
        m->parts[i].topic = hd_strdup(parts->elems[i].topic);
        m->parts[i].partition = parts->elems[i].partition;
        m->parts[i].next = -1;
        m->parts[i].batch_next = -1;
    }
    m->part_cnt = (size_t)parts->cnt;
    char e[512];
    int loaded = hd__mat_offsets_load(m, e, sizeof(e)) == 0;
    rd_kafka_topic_partition_list_t *l = mat_positions(m);
    rd_kafka_resp_err_t err = rd_kafka_assign(m->rk, l);
    if (err)
        hd_log_error(MAT_COMPONENT, "assign: %s", rd_kafka_err2str(err));
    if (loaded) {
        rd_kafka_resume_partitions(m->rk, l);
        m->resync = 0;
        size_t stored = 0;
        for (size_t i = 0; i < m->part_cnt; i++)
            stored += m->parts[i].next >= 0;
        hd_log_info(MAT_COMPONENT,
                    "assigned %d partitions: %zu at their stored offsets, the others from the start",
                    parts->cnt, stored);
    } else {
        /* Consume nothing until the stored offsets are known. */
        hd_log_warn(MAT_COMPONENT, "assigned %d partitions; stored offsets unknown (%s)",
                    parts->cnt, e);
        hd__mat_pause(m);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

void hd__mat_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct hd_materializer *m = opaque;
    /* Eager protocol: every rebalance revokes everything, pending records included. They are
     * applied by whoever owns the partitions next, from the offsets stored in PostgreSQL. */
    hd__mat_batch_drop(m);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        mat_assign(m, parts);
        return;
    }
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
        hd_log_warn(MAT_COMPONENT, "rebalance failed: %s", rd_kafka_err2str(err));
    else
        hd_log_info(MAT_COMPONENT, "revoked %d partitions", parts->cnt);
    hd__mat_parts_clear(m);
    m->resync = 0;
    rd_kafka_assign(rk, NULL);
}

/* Returns -1 on a fatal consumer error (errstr set), 0 otherwise. */
static int mat_consumer_error(struct hd_materializer *m, const rd_kafka_message_t *rkm,
                              char *errstr, size_t errstr_size)
{
    if (rkm->err == RD_KAFKA_RESP_ERR__FATAL) {
        char e[512];
        rd_kafka_fatal_error(m->rk, e, sizeof(e));
        return hd_seterr(-1, errstr, errstr_size, "librdkafka: fatal: %s", e);
    }
    if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        hd_log_warn(MAT_COMPONENT, "consumer: %s", rd_kafka_message_errstr(rkm));
    return 0;
}

/* Keeps a record for the batch unless it is below the partition's applied position. */
static void mat_batch_add(struct hd_materializer *m, rd_kafka_message_t *rkm)
{
    struct mat_part *p = hd__mat_part_find(m, rd_kafka_topic_name(rkm->rkt), rkm->partition);
    int64_t floor = !p ? INT64_MAX : p->batch_next >= 0 ? p->batch_next : p->next;
    if (rkm->offset < floor) {
        rd_kafka_message_destroy(rkm);
        return;
    }
    p->batch_next = rkm->offset + 1;
    m->batch[m->batch_cnt++] = rkm;
}

/* Polls up to batch_max records: waits up to timeout_ms for the first, then fills the batch
 * for at most MAT_BATCH_WINDOW_US. Returns the batch size or -1 on a fatal error. */
int hd__mat_collect(struct hd_materializer *m, int timeout_ms, char *errstr, size_t errstr_size)
{
    int64_t start = hd_mono_us(), first = 0;
    while (m->batch_cnt < (size_t)m->batch_max) {
        int64_t until = m->batch_cnt ? first + MAT_BATCH_WINDOW_US
                                     : start + (int64_t)timeout_ms * 1000;
        int64_t now = hd_mono_us();
        int wait = until > now ? (int)((until - now + 999) / 1000) : 0;
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(m->rk, wait);
        if (!rkm) {
            if (hd_mono_us() >= until)
                break;
            continue;
        }
        if (rkm->err) {
            int rc = mat_consumer_error(m, rkm, errstr, errstr_size);
            rd_kafka_message_destroy(rkm);
            if (rc)
                return -1;
            continue;
        }
        if (m->resync) { /* fetched before the pause took effect */
            rd_kafka_message_destroy(rkm);
            continue;
        }
        if (!m->batch_cnt)
            first = hd_mono_us();
        mat_batch_add(m, rkm);
    }
    return (int)m->batch_cnt;
}

int hd__mat_subscribe(struct hd_materializer *m, char *errstr, size_t errstr_size)
{
    /* the status topics and the inbox, as the catalogue lists them */
    const char *topics[32];
    size_t n = hd_topics_of(HD_ROLE_STATUS, topics, HD_ARRAY_SIZE(topics) - 1);
    n += hd_topics_of(HD_ROLE_INBOX, topics + n, HD_ARRAY_SIZE(topics) - n);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(m->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        return hd_seterr(-1, errstr, errstr_size, "librdkafka: subscribe: %s",
                         rd_kafka_err2str(err));
    return 0;
}
