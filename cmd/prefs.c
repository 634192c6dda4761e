/*
 * herald prefs put|get|delete TENANT USER [JSON|-]
 * herald suppress add|list|remove TENANT USER [--channel C --address A --reason R
 *                                              --category K --until TIME]
 *
 * Users' preference records (herald.preferences, one per user, keyed tenant/user) and
 * suppressions (herald.suppressions, one record per address, produced to the partition of
 * tenant/user): the tables the prefs processor reads per partition (docs/PREFERENCES.md).
 * A put is checked as prefs will read it; a running `herald run` sees the change before
 * its next transaction. get and list read the user's partition to its end.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "connectors/kafka.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/time.h"
#include "processors/prefs_rules.h"

static int usage(int rc)
{
    fprintf(rc ? stderr : stdout,
            "usage: herald prefs put TENANT USER [JSON|-]   replace a user's preferences\n"
            "       herald prefs get TENANT USER            print them\n"
            "       herald prefs delete TENANT USER         drop them (defaults apply)\n"
            "       herald suppress add TENANT USER --channel C --address A --reason R\n"
            "                           [--category K] [--until TIME]\n"
            "       herald suppress list TENANT USER\n"
            "       herald suppress remove TENANT USER --channel C --address A [--category K]\n"
            "  reasons: hard_bounce, soft_bounce (7 days unless --until), complaint,\n"
            "  unsubscribe (from --category, else every category but TRANSACTIONAL)\n");
    return rc;
}

static int32_t partitions_of(rd_kafka_t *rk, const char *topic, char *err, size_t n)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    int32_t cnt = -1;
    if (e)
        hd_seterr(-1, err, n, "metadata of %s: %s", topic, rd_kafka_err2str(e));
    else if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt < 1)
        hd_seterr(-1, err, n, "topic %s does not exist", topic);
    else
        cnt = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return cnt;
}

/* The partition Herald's producers give a tenant/user key (librdkafka's default
 * partitioner: CRC-32 of the key), so a record lands beside that user's requests. */
static int32_t user_partition(rd_kafka_t *rk, const char *topic, const char *user_key,
                              char *err, size_t n)
{
    int32_t cnt = partitions_of(rk, topic, err, n);
    if (cnt < 0)
        return -1;
    return rd_kafka_msg_partitioner_consistent(NULL, user_key, strlen(user_key), cnt, NULL,
                                               NULL);
}

static int produce(rd_kafka_t *rk, const char *topic, int32_t part, const struct hd_buf *key,
                   const char *value, char *err, size_t n)
{
    struct hd_kafka_delivery d = {0};
    rd_kafka_resp_err_t e = hd_kafka_produce(rk, topic, part, key->data, key->len, value,
                                             value ? strlen(value) : 0, NULL, &d);
    if (e)
        return hd_seterr(-1, err, n, "produce to %s: %s", topic, rd_kafka_err2str(e));
    rd_kafka_flush(rk, 30000);
    if (!__atomic_load_n(&d.done, __ATOMIC_ACQUIRE) || d.err)
        return hd_seterr(-1, err, n, "produce to %s: %s", topic,
                         d.done ? rd_kafka_err2str(d.err) : "no delivery report in 30 s");
    printf("%s %s[%d]@%lld\n", value ? "written" : "deleted", topic, (int)d.partition,
           (long long)d.offset);
    return 0;
}

/* Reads the partition to its end; for each key starting with prefix (whole key when
 * exact) keeps the last value (a tombstone removes it). Returns a JSON object key -> value
 * string, or NULL with err. */
static json_t *scan(const struct hd_config *cfg, const char *topic, int32_t part,
                    const struct hd_buf *prefix, int exact, char *err, size_t n)
{
    rd_kafka_t *rk = hd_kafka_reader_new(cfg, "herald-prefs-cli", err, n);
    if (!rk)
        return NULL;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, part)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    json_t *out = json_object();
    int64_t idle = hd_mono_us();
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m) {
            if (hd_mono_us() - idle > 30000000LL) {
                hd_seterr(-1, err, n, "%s[%d]: no end of partition in 30 s", topic, part);
                json_decref(out);
                out = NULL;
                break;
            }
            continue;
        }
        idle = hd_mono_us();
        int eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
        if (!m->err && m->key && m->key_len >= prefix->len &&
            !memcmp(m->key, prefix->data, prefix->len) &&
            (!exact || m->key_len == prefix->len)) {
            char *k = hd_strndup(m->key, m->key_len);
            if (m->payload)
                json_object_set_new(out, k, json_stringn(m->payload, m->len));
            else
                json_object_del(out, k);
            hd_free(k);
        }
        rd_kafka_message_destroy(m);
        if (eof)
            break;
    }
    rd_kafka_destroy(rk);
    return out;
}

static rd_kafka_t *connect_producer(struct hd_config *cfg, char *err, size_t n)
{
    if (hd_kafka_wait_ready(cfg, 30000, err, n) || hd_kafka_topics_ensure(cfg, err, n))
        return NULL;
    return hd_kafka_producer_new(cfg, NULL, err, n);
}

static char *read_all(FILE *f)
{
    struct hd_buf b = HD_BUF_INIT;
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        hd_buf_append(&b, chunk, got);
    hd_buf_putc(&b, '\0');
    return b.data;
}

int hd_cmd_prefs(int argc, char **argv, struct hd_config *cfg)
{
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
        return usage(0);
    if (argc < 4 || (strcmp(argv[1], "put") && strcmp(argv[1], "get") &&
                     strcmp(argv[1], "delete")) ||
        (!strcmp(argv[1], "put") ? argc > 5 : argc != 4))
        return usage(2);
    const char *verb = argv[1];
    char err[512];
    struct hd_buf key = HD_BUF_INIT;
    hd_buf_printf(&key, "%s/%s", argv[2], argv[3]);
    char *doc = NULL;
    int rc = 1;
    if (!strcmp(verb, "put")) {
        doc = argc == 5 && strcmp(argv[4], "-") ? hd_strdup(argv[4]) : read_all(stdin);
        json_error_t jerr;
        json_t *l = json_loads(doc, 0, &jerr);
        struct hd_prefs p;
        hd_prefs_defaults(&p);
        if (!l || hd_prefs_apply(&p, l, err, sizeof(err))) {
            fprintf(stderr, "herald prefs: %s\n", l ? err : jerr.text);
            json_decref(l);
            hd_free(doc);
            hd_buf_free(&key);
            return 2;
        }
        hd_free(doc);
        doc = json_dumps(l, JSON_COMPACT);
        json_decref(l);
    }
    rd_kafka_t *rk = connect_producer(cfg, err, sizeof(err));
    int32_t part = rk ? user_partition(rk, HD_TOPIC_PREFERENCES, key.data, err, sizeof(err)) : -1;
    if (part < 0) {
        /* err says why */
    } else if (!strcmp(verb, "get")) {
        json_t *got = scan(cfg, HD_TOPIC_PREFERENCES, part, &key, 1, err, sizeof(err));
        const char *v = got ? json_string_value(json_object_get(got, key.data)) : NULL;
        if (v) {
            printf("%s\n", v);
            rc = 0;
        } else if (got) {
            snprintf(err, sizeof(err), "%s has no preference record (defaults apply)", key.data);
        }
        json_decref(got);
    } else {
        rc = produce(rk, HD_TOPIC_PREFERENCES, part, &key, doc, err, sizeof(err)) ? 1 : 0;
    }
    if (rc)
        fprintf(stderr, "herald prefs: %s\n", err);
    if (rk)
        rd_kafka_destroy(rk);
    free(doc);
    hd_buf_free(&key);
    return rc;
}

int hd_cmd_suppress(int argc, char **argv, struct hd_config *cfg)
{
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
        return usage(0);
    if (argc < 4 || (strcmp(argv[1], "add") && strcmp(argv[1], "list") &&
                     strcmp(argv[1], "remove")))
        return usage(2);
    const char *verb = argv[1], *tenant = argv[2], *user = argv[3];
    json_t *entry = json_object();
    for (int i = 4; i < argc; i += 2) {
        static const char *const opts[] = {"--channel", "--address", "--reason", "--category",
                                           "--until"};
        size_t k = 0;
        while (k < HD_ARRAY_SIZE(opts) && strcmp(argv[i], opts[k]))
            k++;
        if (k == HD_ARRAY_SIZE(opts) || i + 1 >= argc) {
            json_decref(entry);
            return usage(2);
        }
        json_object_set_new(entry, opts[k] + 2, json_string(argv[i + 1]));
    }
    char err[512];
    struct hd_buf key = HD_BUF_INIT, user_key = HD_BUF_INIT;
    hd_buf_printf(&user_key, "%s/%s", tenant, user);
    struct hd_suppression s;
    char *value = NULL;
    if (strcmp(verb, "list")) {
        if (!json_object_get(entry, "reason")) /* remove names what to remove, not why */
            json_object_set_new(entry, "reason", json_string(json_object_get(entry, "category")
                                                                 ? "unsubscribe"
                                                                 : "hard_bounce"));
        json_object_set_new(entry, "at", json_integer(hd_now_ms()));
        if (hd_suppression_parse(entry, &s, err, sizeof(err))) {
            fprintf(stderr, "herald suppress: %s\n", err);
            json_decref(entry);
            hd_buf_free(&user_key);
            return 2;
        }
        hd_suppression_key(&key, tenant, user, &s);
        if (!strcmp(verb, "add")) {
            json_t *j = hd_suppression_json(&s);
            value = json_dumps(j, JSON_COMPACT);
            json_decref(j);
        }
    }
    json_decref(entry);
    int rc = 1;
    rd_kafka_t *rk = connect_producer(cfg, err, sizeof(err));
    int32_t part =
        rk ? user_partition(rk, HD_TOPIC_SUPPRESSIONS, user_key.data, err, sizeof(err)) : -1;
    if (part >= 0 && !strcmp(verb, "list")) {
        hd_buf_putc(&user_key, 0x1f);
        json_t *got = scan(cfg, HD_TOPIC_SUPPRESSIONS, part, &user_key, 0, err, sizeof(err));
        const char *k;
        json_t *v;
        json_object_foreach(got, k, v) printf("%s\n", json_string_value(v));
        rc = got ? 0 : 1;
        json_decref(got);
    } else if (part >= 0) {
        rc = produce(rk, HD_TOPIC_SUPPRESSIONS, part, &key, value, err, sizeof(err)) ? 1 : 0;
    }
    if (rc)
        fprintf(stderr, "herald suppress: %s\n", err);
    if (rk)
        rd_kafka_destroy(rk);
    free(value);
    hd_buf_free(&key);
    hd_buf_free(&user_key);
    return rc;
}
