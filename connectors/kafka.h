/*
 * Kafka clients for Herald's roles, on librdkafka: configuration from
 * struct hd_config, transactional and idempotent producers, read_committed
 * consumers, the topic list and its creation, and the in-process mock
 * cluster used by `herald demo` (never evidence of exactly-once: it does not
 * enforce transactions).
 */
#ifndef HD_KAFKA_H
#define HD_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "schemas/topics.h"

struct hd_topic_spec {
    const char *name;
    int compacted;
};

/* Base configuration: bootstrap.servers from c->brokers, client.id, logging hooked
 * into core/log. Returns NULL with errstr. Caller owns the conf. */
rd_kafka_conf_t *hd_kafka_conf_new(const struct hd_config *c, const char *client_id, char *errstr,
                                   size_t errstr_size);
/* Delivery outcome of one message. Producers made by hd_kafka_producer_new record each
 * message's outcome into the struct hd_kafka_delivery passed as its opaque
 * (RD_KAFKA_V_OPAQUE), if any; `done` is set last (atomically, release order). */
struct hd_kafka_delivery {
    int done;
    rd_kafka_resp_err_t err;
    int32_t partition;
    int64_t offset;
};

/* Records produced without a delivery opaque whose delivery failed, process-wide (the
 * at-least-once task loop compares it around a flush). */
long hd_kafka_untracked_failures(void);

/* Producer: transactional when txn_id != NULL (init_transactions already done),
 * otherwise idempotent with acks=all. Returns NULL with errstr. */
rd_kafka_t *hd_kafka_producer_new(const struct hd_config *c, const char *txn_id, char *errstr,
                                  size_t errstr_size);
/* Consumer in group `group_id`: read_committed, no auto commit, earliest reset, static
 * membership (group.instance.id from c->instance_id). */
rd_kafka_t *hd_kafka_consumer_new(const struct hd_config *c, const char *group_id, char *errstr,
                                  size_t errstr_size);
/* The same with a rebalance callback (it must assign/unassign itself) and the opaque that
 * librdkafka passes to it; `cooperative` selects the cooperative-sticky assignor
 * (incremental assign/unassign in the callback), else the eager range assignor. */
typedef void(hd_rebalance_cb)(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                              rd_kafka_topic_partition_list_t *partitions, void *opaque);
rd_kafka_t *hd_kafka_consumer_new_cb(const struct hd_config *c, const char *group_id,
                                     hd_rebalance_cb *cb, void *opaque, int cooperative,
                                     char *errstr, size_t errstr_size);

/* A consumer for assign() only (restore, config tables): never joins a group, never
 * commits; read_committed, earliest, and a PARTITION_EOF event at each partition's end
 * (the last stable offset: records of a transaction still open lie past it). */
rd_kafka_t *hd_kafka_reader_new(const struct hd_config *c, const char *client_id, char *errstr,
                                size_t errstr_size);
/* A handle for rd_kafka_query_watermark_offsets that answers the high watermark (one past
 * the last record written, committed or not): under read_committed, a reader's query
 * answers the last stable offset instead. read_uncommitted; never reads a record. */
rd_kafka_t *hd_kafka_watermarks_new(const struct hd_config *c, const char *client_id,
                                    char *errstr, size_t errstr_size);

/* The headers Herald puts on every record it produces: traceparent (a new span of trace
 * trace_id, 32 hex digits; NULL or "" starts a new trace), and herald-tenant,
 * herald-notification-id and herald-attempt when given (NULL, or attempt <= 0, leaves
 * one out). The caller owns the list until a produce takes it. */
rd_kafka_headers_t *hd_kafka_headers_new(const char *trace_id, const char *tenant,
                                         const char *notification_id, int attempt);

/* rd_kafka_producev with copied key and value, waiting while the local queue is full
 * (serving rk's delivery reports meanwhile). partition: RD_KAFKA_PARTITION_UA lets the
 * partitioner choose. headers (may be NULL) are taken in every case: the producer owns
 * them after a success, and they are destroyed on a failure. Returns the error. */
rd_kafka_resp_err_t hd_kafka_produce(rd_kafka_t *rk, const char *topic, int32_t partition,
                                     const void *key, size_t key_len, const void *value,
                                     size_t value_len, rd_kafka_headers_t *headers,
                                     void *opaque);

/* Produces one record and waits for its delivery report (for the API: answers carry
 * topic/partition/offset as a consistency token). headers may be NULL (ownership is
 * taken when non-NULL). Thread-safe on an idempotent producer. Returns 0 or -1. */
int hd_kafka_produce_sync(rd_kafka_t *rk, const char *topic, const void *key, size_t key_len,
                          const void *value, size_t value_len, rd_kafka_headers_t *headers,
                          int32_t *partition, int64_t *offset, char *errstr, size_t errstr_size);

/* Creates every topic of the catalogue (schemas/topics.h) that does not exist yet, with
 * c->partitions partitions, c->replication, compaction where marked. Returns 0 or -1. */
int hd_kafka_topics_ensure(const struct hd_config *c, char *errstr, size_t errstr_size);

/* Creates the given topics where missing (same settings as hd_kafka_topics_ensure). */
int hd_kafka_topics_create(const struct hd_config *c, const struct hd_topic_spec *specs, size_t n,
                           char *errstr, size_t errstr_size);

/* Waits until the cluster answers Metadata (up to timeout_ms). Returns 0 or -1. */
int hd_kafka_wait_ready(const struct hd_config *c, int timeout_ms, char *errstr, size_t errstr_size);

/* In-process mock cluster for the demo: returns a handle that owns it and writes its
 * bootstrap servers to *bootstraps (borrowed from the handle). Topics are created on it
 * with c->partitions partitions. */
struct hd_mock;
struct hd_mock *hd_mock_start(const struct hd_config *c, const char **bootstraps, char *errstr,
                              size_t errstr_size);
void hd_mock_stop(struct hd_mock *m);
/* The mock cluster itself, for fault injection in tests (rdkafka_mock.h). Borrowed. */
struct rd_kafka_mock_cluster_s;
struct rd_kafka_mock_cluster_s *hd_mock_cluster(struct hd_mock *m);

#endif
