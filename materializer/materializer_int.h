/*
 * The materializer's internals, shared by its files (and included by tests/unit/pg.c):
 *   materializer.c  the public interface: create, poll (collect a batch, apply it), destroy
 *   consumer.c      the Kafka side: partitions and their positions, rebalance, batch
 *                   collection, pause and resync to the offsets stored in PostgreSQL
 *   apply.c         the PostgreSQL side: the connection and its prepared statements, the
 *                   pipelined batch transaction, the record-by-record retry
 *   rows.c          record checks (ranks, UTF-8, ids, times) and the jsonb text of data
 * Names with hd__ are not part of the contract in materializer.h.
 */
#ifndef HD_MATERIALIZER_INT_H
#define HD_MATERIALIZER_INT_H

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "connectors/pg.h"
#include "core/buf.h"
#include "materializer/materializer.h"
#include "schemas/records.h"
#include "schemas/serde.h"

#define MAT_COMPONENT "processor:materializer"
#define MAT_BATCH_WINDOW_US (100 * 1000) /* fill a batch for at most this long */
#define MAT_PIPE_CHUNK 256               /* statements in flight before reading results */
#define MAT_BACKOFF_MIN_MS 100
#define MAT_BACKOFF_MAX_MS 5000
#define MAT_SEEK_TIMEOUT_MS 10000
/* Record times must fit PostgreSQL's timestamptz and mean something: 1970 .. 9999. */
#define MAT_TIME_MAX_MS 253402300799999LL
/* Longest id, in bytes: ids are index keys, and a btree entry must stay under ~2.7 kB. */
#define MAT_ID_MAX 255

/* One assigned partition. */
struct mat_part {
    char *topic;
    int32_t partition;
    int64_t next;       /* next offset to apply; -1 = nothing stored yet */
    int64_t batch_next; /* next offset once the pending batch commits; -1 = not in the batch */
};

struct hd_materializer {
    char *consumer; /* consumer group, also the key in consumer_offsets */
    int batch_max;
    rd_kafka_t *rk;
    struct hd_serde *sd;
    struct hd_pg_pool *pool;
    PGconn *conn; /* borrowed from pool with the statements prepared; NULL when none */

    struct mat_part *parts;
    size_t part_cnt;
    size_t part_hint; /* index of the last lookup: records come in runs per partition */

    rd_kafka_message_t **batch;
    size_t batch_cnt;

    int resync;          /* partitions paused; seek to the stored offsets before consuming */
    int backoff_ms;
    int64_t retry_at_us; /* hd_mono_us() time of the next resync attempt */

    struct hd_status_event ev; /* decode targets and scratch, reused per record */
    struct hd_inbox_item item;
    struct hd_buf json;
    char **tenants;
    size_t tenant_cnt;
};

/* Pipeline state of one batch transaction. */
struct mat_pipe {
    PGconn *conn;
    int sent;       /* statements sent */
    int read;       /* statements whose results were read */
    int commit_idx; /* index of the COMMIT statement, -1 before it is sent */
    int failed;     /* a statement failed: errstr holds the first error */
    int broken;     /* the connection cannot be read any further */
    char sqlstate[6]; /* of the first failed statement, "" when none */
    char *errstr;
    size_t errstr_size;
};


/* rows.c */
void hd__mat_oneline(char *s); /* libpq's multi-line messages made one log line */
int hd__mat_status_rank(int status);
int hd__mat_utf8_valid(const char *s);
int hd__mat_check_status_event(const struct hd_status_event *e, char *errstr, size_t errstr_size);
int hd__mat_check_inbox_item(const struct hd_inbox_item *it, char *errstr, size_t errstr_size);
void hd__mat_data_json(const struct hd_map *m, struct hd_buf *out);

/* consumer.c */
void hd__mat_parts_clear(struct hd_materializer *m);
struct mat_part *hd__mat_part_find(struct hd_materializer *m, const char *topic, int32_t part);
void hd__mat_batch_drop(struct hd_materializer *m);
void hd__mat_backoff(struct hd_materializer *m);
void hd__mat_pause(struct hd_materializer *m);
int hd__mat_resync(struct hd_materializer *m, char *errstr, size_t errstr_size);
void hd__mat_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t *parts, void *opaque);
int hd__mat_collect(struct hd_materializer *m, int timeout_ms, char *errstr, size_t errstr_size);
int hd__mat_subscribe(struct hd_materializer *m, char *errstr, size_t errstr_size);

/* apply.c */
int hd__mat_conn(struct hd_materializer *m, char *errstr, size_t errstr_size);
void hd__mat_conn_drop(struct hd_materializer *m);
int hd__mat_offsets_load(struct hd_materializer *m, char *errstr, size_t errstr_size);
int hd__mat_apply(struct hd_materializer *m, char *sqlstate, char *errstr, size_t errstr_size);
int hd__mat_apply_careful(struct hd_materializer *m, char *errstr, size_t errstr_size);
int hd__mat_data_error(const char *sqlstate);

#endif
