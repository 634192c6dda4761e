/*
 * herald tail TOPIC [--from-beginning] [--until-idle MS] [--max N] [--meta]:
 * decodes any Herald topic to JSON lines with a read_committed consumer that
 * is assigned every partition (no consumer group offsets are committed).
 * An undecodable record prints {"error": ...} with its position.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "connectors/kafka.h"
#include "core/time.h"
#include "core/uuid.h"
#include "schemas/serde.h"

static volatile sig_atomic_t tail_stop;

static void on_signal(int sig)
{
    (void)sig;
    tail_stop = 1;
}

static int usage(int rc)
{
    fprintf(rc ? stderr : stdout,
            "usage: herald tail TOPIC [--from-beginning] [--until-idle MS] [--max N] [--meta]\n"
            "  Prints the topic's records as JSON lines (read_committed).\n"
            "  --meta  wrap each record: {\"topic\",\"partition\",\"offset\",\"key\",\"value\"}\n");
    return rc;
}

static int assign_all(rd_kafka_t *rk, const char *topic, int from_beginning, char *err,
                      size_t err_size)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);
    if (e || !md || md->topic_cnt != 1 || md->topics[0].err) {
        int rc = hd_seterr(-1, err, err_size, "topic %s: %s", topic,
                           rd_kafka_err2str(e ? e : md && md->topic_cnt ? md->topics[0].err
                                                                        : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
        if (md)
            rd_kafka_metadata_destroy(md);
        return rc;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(l, topic, md->topics[0].partitions[i].id)->offset =
            from_beginning ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
    rd_kafka_metadata_destroy(md);
    e = rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        return hd_seterr(-1, err, err_size, "assign: %s", rd_kafka_err2str(e));
    return 0;
}

static void print_record(struct hd_serde *sd, const rd_kafka_message_t *m, int meta)
{
    char err[512];
    json_t *v = hd_serde_decode_json(sd, m->payload, m->len, NULL, err, sizeof(err));
    int bad = !v;
    if (bad)
        v = json_pack("{s:s}", "error", err);
    json_t *out = v;
    if (meta || bad) {
        out = json_object();
        json_object_set_new(out, "topic", json_string(rd_kafka_topic_name(m->rkt)));
        json_object_set_new(out, "partition", json_integer(m->partition));
        json_object_set_new(out, "offset", json_integer(m->offset));
        json_object_set_new(out, "key", m->key ? json_stringn(m->key, m->key_len) : json_null());
        json_object_set_new(out, "value", v);
    }
    char *s = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(out);
}

int hd_cmd_tail(int argc, char **argv, struct hd_config *cfg)
{
    const char *topic = NULL;
    int from_beginning = 0, meta = 0;
    long idle_ms = -1, max = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--from-beginning"))
            from_beginning = 1;
        else if (!strcmp(argv[i], "--meta"))
            meta = 1;
        else if (!strcmp(argv[i], "--until-idle") && i + 1 < argc)
            idle_ms = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--max") && i + 1 < argc)
            max = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return usage(0);
        else if (argv[i][0] == '-' || topic)
            return usage(2);
        else
            topic = argv[i];
    }
    if (!topic)
        return usage(2);
    char err[512], group[64], u[HD_UUID_STRLEN];
    hd_uuid_v4(u);
    snprintf(group, sizeof(group), "herald-tail-%s", u);
    struct hd_serde *sd = hd_serde_new(err, sizeof(err));
    rd_kafka_t *rk = sd ? hd_kafka_consumer_new(cfg, group, err, sizeof(err)) : NULL;
    if (!rk || assign_all(rk, topic, from_beginning, err, sizeof(err))) {
        fprintf(stderr, "herald tail: %s\n", err);
        if (rk)
            rd_kafka_destroy(rk);
        hd_serde_destroy(sd);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    long seen = 0;
    int64_t last = hd_mono_us();
    while (!tail_stop && (max < 0 || seen < max)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            if (idle_ms >= 0 && hd_mono_us() - last >= idle_ms * 1000)
                break;
            continue;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "herald tail: %s\n", rd_kafka_message_errstr(m));
        } else {
            print_record(sd, m, meta);
            if (idle_ms < 0)
                fflush(stdout); /* following: a reader of the pipe sees each record at once */
            seen++;
            last = hd_mono_us();
        }
        rd_kafka_message_destroy(m);
    }
    fflush(stdout);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    hd_serde_destroy(sd);
    return 0;
}
