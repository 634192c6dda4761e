/*
 * Kafka clients for Herald's roles (see kafka.h): configuration, producers
 * (transactional for processors, idempotent for the API and `herald send`),
 * read_committed consumers, topic creation and the in-process mock cluster.
 */
#include "connectors/kafka.h"

#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/hd.h"
#include "core/log.h"
#include "core/time.h"
#include "core/uuid.h"

struct hd_mock {
    rd_kafka_t *rk;
    char *bootstraps;
};

/* The in-process mock cluster, if one runs: its Admin CreateTopics fails, so topics for
 * it are created through the mock API instead. */
static struct hd_mock *hd_active_mock;

/* The catalogue's topics as creation specs; returns the count (at most max). */
static size_t catalogue_specs(struct hd_topic_spec *specs, size_t max)
{
    const struct hd_topic *t;
    size_t n = hd_topic_catalogue(&t);
    for (size_t i = 0; i < n && i < max; i++)
        specs[i] = (struct hd_topic_spec){t[i].name, t[i].compacted};
    return n < max ? n : max;
}

static void hd_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    enum hd_log_level l = level <= 3 ? HD_LOG_ERROR : level <= 4 ? HD_LOG_WARN
                        : level <= 6 ? HD_LOG_INFO : HD_LOG_DEBUG;
    /* librdkafka is chatty at notice/info about connection churn; keep those at debug. */
    if (l == HD_LOG_INFO)
        l = HD_LOG_DEBUG;
    hd_logm(l, "kafka", NULL, NULL, "%s: %s: %s", rd_kafka_name(rk), fac, buf);
}

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, char *errstr,
                    size_t errstr_size)
{
    char e[512];
    if (rd_kafka_conf_set(conf, k, v, e, sizeof(e)) != RD_KAFKA_CONF_OK)
        return hd_seterr(-1, errstr, errstr_size, "librdkafka: %s=%s: %s", k, v, e);
    return 0;
}

rd_kafka_conf_t *hd_kafka_conf_new(const struct hd_config *c, const char *client_id, char *errstr,
                                   size_t errstr_size)
{
    if (!c->brokers) {
        hd_seterr(-1, errstr, errstr_size, "HERALD_BROKERS is not set");
        return NULL;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf_set(conf, "bootstrap.servers", c->brokers, errstr, errstr_size) ||
        conf_set(conf, "client.id", client_id, errstr, errstr_size) ||
        conf_set(conf, "log.connection.close", "false", errstr, errstr_size) ||
        (hd_log_debug_on("kafka") &&
         conf_set(conf, "debug", "broker,topic,msg,eos,cgrp", errstr, errstr_size))) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, hd_kafka_log_cb);
    return conf;
}

static long hd_kafka_failures;

long hd_kafka_untracked_failures(void)
{
    return __atomic_load_n(&hd_kafka_failures, __ATOMIC_ACQUIRE);
}

static void hd_kafka_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct hd_kafka_delivery *w = m->_private;
    if (!w) {
        if (m->err)
            __atomic_add_fetch(&hd_kafka_failures, 1, __ATOMIC_ACQ_REL);
        return;
    }
    w->err = m->err;
    w->partition = m->partition;
    w->offset = m->offset;
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
}

rd_kafka_t *hd_kafka_producer_new(const struct hd_config *c, const char *txn_id, char *errstr,
                                  size_t errstr_size)
{
    char client_id[256];
    snprintf(client_id, sizeof(client_id), "%s", txn_id ? txn_id : "herald-producer");
    rd_kafka_conf_t *conf = hd_kafka_conf_new(c, client_id, errstr, errstr_size);
    if (!conf)
        return NULL;
    char tmo[32];
    snprintf(tmo, sizeof(tmo), "%d", c->txn_timeout_ms);
    if (conf_set(conf, "enable.idempotence", "true", errstr, errstr_size) ||
        conf_set(conf, "acks", "all", errstr, errstr_size) ||
        conf_set(conf, "linger.ms", "5", errstr, errstr_size) ||
        /* librdkafka requires message.timeout.ms <= transaction.timeout.ms */
        conf_set(conf, "message.timeout.ms", txn_id ? tmo : "30000", errstr, errstr_size) ||
        (txn_id && (conf_set(conf, "transactional.id", txn_id, errstr, errstr_size) ||
                    conf_set(conf, "transaction.timeout.ms", tmo, errstr, errstr_size)))) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, hd_kafka_dr_cb);
    char e[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        hd_seterr(-1, errstr, errstr_size, "librdkafka: producer: %s", e);
        return NULL;
    }
    if (txn_id) {
        rd_kafka_error_t *err = rd_kafka_init_transactions(rk, 60000);
        if (err) {
            hd_seterr(-1, errstr, errstr_size, "librdkafka: init_transactions(%s): %s", txn_id,
                      rd_kafka_error_string(err));
            rd_kafka_error_destroy(err);
            rd_kafka_destroy(rk);
            return NULL;
        }
    }
    return rk;
}

rd_kafka_t *hd_kafka_consumer_new(const struct hd_config *c, const char *group_id, char *errstr,
                                  size_t errstr_size)
{
    return hd_kafka_consumer_new_cb(c, group_id, NULL, NULL, 0, errstr, errstr_size);
}

rd_kafka_t *hd_kafka_consumer_new_cb(const struct hd_config *c, const char *group_id,
                                     hd_rebalance_cb *cb, void *opaque, int cooperative,
                                     char *errstr, size_t errstr_size)
{
    char client_id[256];
    snprintf(client_id, sizeof(client_id), "%s-%s", group_id, c->instance_id);
    rd_kafka_conf_t *conf = hd_kafka_conf_new(c, client_id, errstr, errstr_size);
    if (!conf)
        return NULL;
    /* Static membership (KIP-345): a restarted instance takes its partitions back at
     * once instead of waiting for its dead predecessor's session to time out. Instance
     * ids must therefore be unique per process, as the transactional ids already are. */
    if (conf_set(conf, "group.instance.id", client_id, errstr, errstr_size) ||
        conf_set(conf, "group.id", group_id, errstr, errstr_size) ||
        conf_set(conf, "isolation.level", "read_committed", errstr, errstr_size) ||
        conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) ||
        conf_set(conf, "enable.auto.offset.store", "false", errstr, errstr_size) ||
        conf_set(conf, "auto.offset.reset", "earliest", errstr, errstr_size) ||
        conf_set(conf, "session.timeout.ms", "10000", errstr, errstr_size) ||
        conf_set(conf, "heartbeat.interval.ms", "1000", errstr, errstr_size) ||
        conf_set(conf, "topic.metadata.refresh.interval.ms", "10000", errstr, errstr_size) ||
        (cooperative && conf_set(conf, "partition.assignment.strategy", "cooperative-sticky",
                                 errstr, errstr_size))) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (cb) {
        rd_kafka_conf_set_rebalance_cb(conf, cb);
        rd_kafka_conf_set_opaque(conf, opaque);
    }
    char e[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        hd_seterr(-1, errstr, errstr_size, "librdkafka: consumer: %s", e);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

rd_kafka_headers_t *hd_kafka_headers_new(const char *trace_id, const char *tenant,
                                         const char *notification_id, int attempt)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    char trace[HD_TRACE_ID_LEN], tp[HD_TRACEPARENT_LEN];
    if (!trace_id || !*trace_id) {
        hd_trace_new(trace);
        trace_id = trace;
    }
    hd_traceparent(trace_id, tp);
    rd_kafka_header_add(h, "traceparent", -1, tp, -1);
    if (tenant)
        rd_kafka_header_add(h, "herald-tenant", -1, tenant, -1);
    if (notification_id)
        rd_kafka_header_add(h, "herald-notification-id", -1, notification_id, -1);
    if (attempt > 0) {
        char a[16];
        snprintf(a, sizeof(a), "%d", attempt);
        rd_kafka_header_add(h, "herald-attempt", -1, a, -1);
    }
    return h;
}

rd_kafka_resp_err_t hd_kafka_produce(rd_kafka_t *rk, const char *topic, int32_t partition,
                                     const void *key, size_t key_len, const void *value,
                                     size_t value_len, rd_kafka_headers_t *headers,
                                     void *opaque)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_KEY((void *)key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
            RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            if (err && headers)
                rd_kafka_headers_destroy(headers);
            return err;
        }
        rd_kafka_poll(rk, 10);
    }
}

int hd_kafka_produce_sync(rd_kafka_t *rk, const char *topic, const void *key, size_t key_len,
                          const void *value, size_t value_len, rd_kafka_headers_t *headers,
                          int32_t *partition, int64_t *offset, char *errstr, size_t errstr_size)
{
    struct hd_kafka_delivery w = {0, RD_KAFKA_RESP_ERR_NO_ERROR, -1, -1};
    rd_kafka_resp_err_t err = hd_kafka_produce(rk, topic, RD_KAFKA_PARTITION_UA, key, key_len,
                                               value, value_len, headers, &w);
    if (err) {
        return hd_seterr(-1, errstr, errstr_size, "librdkafka: produce to %s: %s", topic,
                         rd_kafka_err2str(err));
    }
    while (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE))
        rd_kafka_poll(rk, 20);
    if (w.err)
        return hd_seterr(-1, errstr, errstr_size, "librdkafka: delivery to %s: %s", topic,
                         rd_kafka_err2str(w.err));
    if (partition)
        *partition = w.partition;
    if (offset)
        *offset = w.offset;
    return 0;
}

/* A plain producer handle for metadata and admin requests; NULL with errstr. */
static rd_kafka_t *admin_handle(const struct hd_config *c, const char *client_id, char *errstr,
                                size_t errstr_size)
{
    rd_kafka_conf_t *conf = hd_kafka_conf_new(c, client_id, errstr, errstr_size);
    if (!conf)
        return NULL;
    char e[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        hd_seterr(-1, errstr, errstr_size, "librdkafka: %s", e);
    }
    return rk;
}

int hd_kafka_wait_ready(const struct hd_config *c, int timeout_ms, char *errstr, size_t errstr_size)
{
    rd_kafka_t *rk = admin_handle(c, "herald-probe", errstr, errstr_size);
    if (!rk)
        return -1;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms);
    int ok = !err && md && md->broker_cnt > 0;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    if (!ok)
        return hd_seterr(-1, errstr, errstr_size, "Kafka at %s did not answer Metadata: %s",
                         c->brokers, rd_kafka_err2str(err));
    return 0;
}

/* CreateTopics answers once the controller has the topics; the broker creates the
 * partitions a moment later, and a producer writing in between was seen to get a
 * delivery report without an offset for a record that was never stored. So wait until
 * the broker's own metadata shows a leader for every partition. */
static int wait_leaders(rd_kafka_t *rk, const struct hd_topic_spec *specs, size_t n, char *errstr,
                        size_t errstr_size)
{
    int64_t deadline = hd_mono_us() + 30 * 1000000LL;
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        size_t ready = 0;
        if (rd_kafka_metadata(rk, 1, NULL, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            for (size_t i = 0; i < n; i++)
                for (int t = 0; t < md->topic_cnt; t++) {
                    const rd_kafka_metadata_topic_t *mt = &md->topics[t];
                    if (strcmp(mt->topic, specs[i].name) || mt->err || mt->partition_cnt == 0)
                        continue;
                    int ok = 1;
                    for (int p = 0; p < mt->partition_cnt; p++)
                        ok &= mt->partitions[p].leader >= 0 && !mt->partitions[p].err;
                    ready += ok;
                }
            rd_kafka_metadata_destroy(md);
        }
        if (ready == n)
            return 0;
        if (hd_mono_us() > deadline)
            return hd_seterr(-1, errstr, errstr_size,
                             "topics created but %zu of %zu have no leader for every partition "
                             "after 30 s", n - ready, n);
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

int hd_kafka_topics_ensure(const struct hd_config *c, char *errstr, size_t errstr_size)
{
    struct hd_topic_spec specs[64];
    size_t n = catalogue_specs(specs, HD_ARRAY_SIZE(specs));
    return hd_kafka_topics_create(c, specs, n, errstr, errstr_size);
}

int hd_kafka_topics_create(const struct hd_config *c, const struct hd_topic_spec *specs, size_t n,
                           char *errstr, size_t errstr_size)
{
    struct hd_mock *m = hd_active_mock;
    if (m && c->brokers && !strcmp(c->brokers, m->bootstraps)) {
        for (size_t i = 0; i < n; i++)
            rd_kafka_mock_topic_create(rd_kafka_handle_mock_cluster(m->rk), specs[i].name,
                                       c->partitions, 1);
        return 0;
    }
    rd_kafka_t *rk = admin_handle(c, "herald-admin", errstr, errstr_size);
    if (!rk)
        return -1;
    char e[512];
    rd_kafka_NewTopic_t **nts = hd_calloc(n, sizeof(*nts));
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        nts[i] = rd_kafka_NewTopic_new(specs[i].name, c->partitions, c->replication, e, sizeof(e));
        if (specs[i].compacted)
            rd_kafka_NewTopic_set_config(nts[i], "cleanup.policy", "compact");
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, e, sizeof(e));
    rd_kafka_AdminOptions_set_request_timeout(opts, 30000, e, sizeof(e));
    rd_kafka_CreateTopics(rk, nts, n, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    if (!ev) {
        rc = hd_seterr(-1, errstr, errstr_size, "CreateTopics: no answer within 60 s");
    } else if (rd_kafka_event_error(ev)) {
        rc = hd_seterr(-1, errstr, errstr_size, "CreateTopics: %s", rd_kafka_event_error_string(ev));
    } else {
        size_t cnt;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        for (size_t i = 0; i < cnt && rc == 0; i++) {
            rd_kafka_resp_err_t terr = rd_kafka_topic_result_error(res[i]);
            if (terr && terr != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                rc = hd_seterr(-1, errstr, errstr_size, "CreateTopics %s: %s",
                               rd_kafka_topic_result_name(res[i]),
                               rd_kafka_topic_result_error_string(res[i]));
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy_array(nts, n);
    hd_free(nts);
    if (rc == 0)
        rc = wait_leaders(rk, specs, n, errstr, errstr_size);
    rd_kafka_destroy(rk);
    return rc;
}


struct hd_mock *hd_mock_start(const struct hd_config *c, const char **bootstraps, char *errstr,
                              size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[512];
    if (rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", e, sizeof(e)) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        hd_seterr(-1, errstr, errstr_size, "librdkafka: mock cluster: %s", e);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, hd_kafka_log_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        hd_seterr(-1, errstr, errstr_size, "librdkafka: mock cluster: %s", e);
        return NULL;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(rk);
    const struct hd_topic *topics;
    size_t n = hd_topic_catalogue(&topics);
    for (size_t i = 0; i < n; i++)
        rd_kafka_mock_topic_create(mc, topics[i].name, c->partitions, 1);
    struct hd_mock *m = hd_calloc(1, sizeof(*m));
    m->rk = rk;
    m->bootstraps = hd_strdup(rd_kafka_mock_cluster_bootstraps(mc));
    *bootstraps = m->bootstraps;
    hd_active_mock = m;
    return m;
}

void hd_mock_stop(struct hd_mock *m)
{
    if (!m)
        return;
    if (hd_active_mock == m)
        hd_active_mock = NULL;
    rd_kafka_destroy(m->rk);
    hd_free(m->bootstraps);
    hd_free(m);
}

rd_kafka_mock_cluster_t *hd_mock_cluster(struct hd_mock *m)
{
    return rd_kafka_handle_mock_cluster(m->rk);
}

static rd_kafka_t *reader_new(const struct hd_config *c, const char *client_id,
                              const char *isolation, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = hd_kafka_conf_new(c, client_id, errstr, errstr_size);
    if (!conf)
        return NULL;
    const char *const kv[][2] = {
        {"group.id", "herald-reader"}, /* required by librdkafka; assign() never uses it */
        {"isolation.level", isolation},
        {"enable.partition.eof", "true"},
        {"enable.auto.commit", "false"},
        {"auto.offset.reset", "earliest"},
        /* a reader waits for the end of a partition: the broker answers an empty fetch
         * after this long, so it bounds the time to see PARTITION_EOF (default 500 ms) */
        {"fetch.wait.max.ms", "10"},
    };
    char e[512];
    for (size_t i = 0; i < HD_ARRAY_SIZE(kv); i++)
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], e, sizeof(e)) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            hd_seterr(-1, errstr, errstr_size, "librdkafka: %s", e);
            return NULL;
        }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        hd_seterr(-1, errstr, errstr_size, "librdkafka: consumer %s: %s", client_id, e);
    }
    return rk;
}

rd_kafka_t *hd_kafka_reader_new(const struct hd_config *c, const char *client_id, char *errstr,
                                size_t errstr_size)
{
    return reader_new(c, client_id, "read_committed", errstr, errstr_size);
}

rd_kafka_t *hd_kafka_watermarks_new(const struct hd_config *c, const char *client_id,
                                    char *errstr, size_t errstr_size)
{
    return reader_new(c, client_id, "read_uncommitted", errstr, errstr_size);
}
