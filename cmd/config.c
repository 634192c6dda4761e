/*
 * herald config: the config topics from the command line.
 *
 *   herald config put KIND [FILE|-]   publish one body (a JSON object) or several (an array)
 *   herald config delete KIND KEY     publish a tombstone for KEY ("acme/order-created")
 *   herald config list KIND           the live records, one JSON line each: {"key", "body"}
 *   herald config import FILE         publish every record of a config document
 *                                     (processors/tables.h) whose body differs from the topic's
 *   herald config check FILE | KIND FILE
 *                                     check a config document (or put's bodies) offline
 * KIND is tenant, rule or template. Every body is checked as the reader will check it
 * before anything is published, so a bad one is refused here, naming the field; a file is
 * read and checked before herald connects to Kafka, so a bad file fails at once.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "connectors/kafka.h"
#include "core/log.h"
#include "core/time.h"
#include "processors/config_topics.h"
#include "processors/tables.h"
#include "schemas/serde.h"

static int usage(int rc)
{
    fprintf(rc ? stderr : stdout,
            "usage: herald config put KIND [FILE|-] | delete KIND KEY | list KIND | import FILE\n"
            "       herald config check FILE | check KIND FILE   (offline: no broker needed)\n"
            "  KIND: tenant, rule or template. Bodies are JSON as in docs/CONFIG.md; put takes\n"
            "  an object or an array of objects. import publishes the records of a config\n"
            "  document ({\"tenants\": [...], \"rules\": [...], \"templates\": [...]}) that differ\n"
            "  from what the topics hold.\n");
    return rc;
}

/* The live records of config topics, read to their ends with one consumer: for each
 * topic an object key -> body (JSON), tombstones applied. Returns 0 or -1. */
static int read_topics(const struct hd_config *c, struct hd_serde *sd, const char *const *topics,
                       size_t cnt, json_t **out, char *err, size_t n)
{
    rd_kafka_t *rk = hd_kafka_reader_new(c, "herald-config-cli", err, n);
    if (!rk)
        return -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(64);
    int rc = 0, parts = 0, eofs = 0;
    for (size_t t = 0; t < cnt && rc == 0; t++) {
        out[t] = json_object();
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topics[t], NULL);
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
        rd_kafka_topic_destroy(rkt);
        if (!e && (md->topic_cnt != 1 || md->topics[0].err))
            e = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
        if (e)
            rc = hd_seterr(-1, err, n, "%s: %s", topics[t], rd_kafka_err2str(e));
        for (int p = 0; !e && p < md->topics[0].partition_cnt; p++, parts++)
            rd_kafka_topic_partition_list_add(l, topics[t], p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        if (md)
            rd_kafka_metadata_destroy(md);
    }
    if (rc == 0)
        rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    for (int64_t deadline = hd_mono_us() + 60000000LL; rc == 0 && eofs < parts;) {
        if (hd_mono_us() > deadline) {
            rc = hd_seterr(-1, err, n, "config topics not read to their ends within 60 s");
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eofs++;
        } else if (!m->err && m->key) {
            size_t t = 0;
            while (t < cnt && strcmp(topics[t], rd_kafka_topic_name(m->rkt)))
                t++;
            char key[512];
            snprintf(key, sizeof(key), "%.*s", (int)m->key_len, (const char *)m->key);
            json_t *rec = m->payload ? hd_serde_decode_json(sd, m->payload, m->len, NULL, err, n)
                                     : NULL;
            json_t *body = rec ? json_loads(json_string_value(json_object_get(rec, "body_json")),
                                            0, NULL)
                               : NULL;
            if (t < cnt && body)
                json_object_set_new(out[t], key, body);
            else if (t < cnt)
                json_object_del(out[t], key); /* a tombstone, or a record the reader leaves out */
            json_decref(rec);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

struct publisher {
    const struct hd_config *cfg;
    struct hd_serde *sd;
    rd_kafka_t *rk;
    int quiet; /* no line per record (herald run) */
};

/* Checks and publishes one body (NULL: a tombstone for `key`). */
static int publish(struct publisher *p, const char *kind, json_t *body, const char *key, char *err,
                   size_t n)
{
    char tenant[256], id[512], full[800];
    const char *topic = hd_config_topic(kind);
    struct hd_buf v = HD_BUF_INIT;
    if (body) {
        if (hd_tables_check(kind, body, err, n) ||
            hd_config_record_id(kind, body, tenant, sizeof(tenant), id, sizeof(id), err, n))
            return -1;
        snprintf(full, sizeof(full), "%s/%s", tenant, id);
        char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
        json_t *rec = json_pack("{s:s,s:s,s:s,s:I}", "tenant_id", tenant, "id", id, "body_json",
                                text, "updated_at", (json_int_t)hd_now_ms());
        free(text);
        int rc = hd_serde_encode_json(p->sd, hd_serde_schema(p->sd, "ConfigRecord"), rec, &v, err,
                                      n);
        json_decref(rec);
        if (rc) {
            hd_buf_free(&v);
            return -1;
        }
        key = full;
    }
    int32_t part;
    int64_t off;
    int rc = hd_kafka_produce_sync(p->rk, topic, key, strlen(key), body ? v.data : NULL,
                                   body ? v.len : 0, NULL, &part, &off, err, n);
    hd_buf_free(&v);
    if (rc == 0 && !p->quiet)
        printf("%s %s %s %s[%d]@%lld\n", body ? "put" : "deleted", kind, key, topic, part,
               (long long)off);
    return rc;
}

static int publisher_open(struct publisher *p, const struct hd_config *c, char *err, size_t n)
{
    memset(p, 0, sizeof(*p));
    p->cfg = c;
    if (!(p->sd = hd_serde_new(err, n)) || !(p->rk = hd_kafka_producer_new(c, NULL, err, n)))
        return -1;
    return 0;
}

static void publisher_close(struct publisher *p)
{
    if (p->rk)
        rd_kafka_destroy(p->rk);
    hd_serde_destroy(p->sd);
}

/* A template version is immutable: its key may be published again only with the same
 * body (a replay); a change must be a new version. `have` holds the topic's records. */
static int check_immutable(const char *kind, const char *key, json_t *body, json_t *have,
                           char *err, size_t n)
{
    size_t kl = strlen(key);
    json_t *cur = json_object_get(have, key);
    if (strcmp(kind, "template") || (kl >= 7 && !strcmp(key + kl - 7, "/active")) || !cur ||
        json_equal(cur, body))
        return 0;
    return hd_seterr(-1, err, n,
                     "template %s exists with other content: a version is immutable, publish a "
                     "new version and point \"active_version\" at it",
                     key);
}

static json_t *load_json(const char *path, char *err, size_t n)
{
    json_error_t je;
    json_t *j = !strcmp(path, "-") ? json_loadf(stdin, 0, &je) : json_load_file(path, 0, &je);
    if (!j)
        hd_seterr(-1, err, n, "%s: line %d column %d: %s", path, je.line, je.column, je.text);
    return j;
}

/* The bodies of `herald config put`: an object or an array of objects, each checked as
 * the reader will check it. Returns a new array, or NULL with err naming the body. */
static json_t *checked_bodies(const char *kind, json_t *j, const char *path, char *err, size_t n)
{
    json_t *list = json_is_array(j) ? json_incref(j) : json_pack("[O]", j);
    size_t i;
    json_t *b;
    json_array_foreach(list, i, b) {
        char tenant[256], id[512], e[512];
        if (!json_is_object(b) || hd_tables_check(kind, b, e, sizeof(e)) ||
            hd_config_record_id(kind, b, tenant, sizeof(tenant), id, sizeof(id), e, sizeof(e))) {
            hd_seterr(-1, err, n, "%s[%zu]: %s", path, i,
                      json_is_object(b) ? e : "not a JSON object");
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

/* A config document: only the lists "tenants", "rules" and "templates", each an array of
 * bodies checked as the reader will check them. Returns 0, or -1 with err naming the
 * list, the index and the field. */
static int check_document(json_t *doc, const char *path, char *err, size_t n)
{
    if (!json_is_object(doc))
        return hd_seterr(-1, err, n, "%s: a config document is a JSON object", path);
    const char *k;
    json_t *v;
    json_object_foreach(doc, k, v) {
        int known = 0;
        for (int i = 0; i < HD_CONFIG_KINDS; i++)
            known |= !strcmp(k, hd_config_list(hd_config_kinds[i]));
        if (!known)
            return hd_seterr(-1, err, n, "%s: unknown member \"%s\" (tenants, rules, "
                             "templates)", path, k);
        if (!json_is_array(v))
            return hd_seterr(-1, err, n, "%s: %s: not an array", path, k);
    }
    for (int i = 0; i < HD_CONFIG_KINDS; i++) {
        const char *kind = hd_config_kinds[i], *list = hd_config_list(kind);
        json_t *arr = json_object_get(doc, list);
        if (!arr)
            continue;
        char where[1024];
        snprintf(where, sizeof(where), "%s: %s", path, list);
        json_t *ok = checked_bodies(kind, arr, where, err, n);
        if (!ok)
            return -1;
        json_decref(ok);
    }
    return 0;
}

/* Publishes put's bodies (already checked); a template version must not change. */
static int cmd_put(struct publisher *p, const char *kind, json_t *list, const char *path,
                   char *err, size_t n)
{
    size_t i;
    json_t *b, *have = NULL;
    const char *topic = hd_config_topic(kind);
    int rc = !strcmp(kind, "template") ? read_topics(p->cfg, p->sd, &topic, 1, &have, err, n) : 0;
    json_array_foreach(list, i, b) {
        char tenant[256] = "", id[512] = "", key[800], e[512];
        if (rc)
            break;
        hd_config_record_id(kind, b, tenant, sizeof(tenant), id, sizeof(id), e, sizeof(e));
        snprintf(key, sizeof(key), "%s/%s", tenant, id);
        if (check_immutable(kind, key, b, have, e, sizeof(e))) {
            rc = hd_seterr(-1, err, n, "%s[%zu]: %s", path, i, e);
            break;
        }
    }
    json_decref(have);
    json_array_foreach(list, i, b) {
        if (rc || (rc = publish(p, kind, b, NULL, err, n)))
            break;
    }
    return rc;
}

/* Publishes a checked document's records that differ from the topics'. */
static int import_doc(const struct hd_config *c, json_t *doc, const char *path, char *err,
                      size_t n)
{
    const char *topics[HD_CONFIG_KINDS];
    json_t *have[HD_CONFIG_KINDS] = {NULL};
    for (int k = 0; k < HD_CONFIG_KINDS; k++)
        topics[k] = hd_config_topic(hd_config_kinds[k]);
    struct publisher p;
    int rc = publisher_open(&p, c, err, n);
    p.quiet = 1;
    if (rc == 0)
        rc = read_topics(c, p.sd, topics, HD_CONFIG_KINDS, have, err, n);
    long put = 0, same = 0;
    for (int k = 0; k < HD_CONFIG_KINDS && rc == 0; k++) {
        const char *kind = hd_config_kinds[k];
        json_t *list = json_object_get(doc, hd_config_list(kind));
        size_t i;
        json_t *b;
        json_array_foreach(list, i, b) {
            char tenant[256], id[512], key[800], e[512];
            if (hd_config_record_id(kind, b, tenant, sizeof(tenant), id, sizeof(id), e,
                                    sizeof(e))) {
                rc = hd_seterr(-1, err, n, "%s: %s[%zu]: %s", path, hd_config_list(kind), i, e);
                break;
            }
            snprintf(key, sizeof(key), "%s/%s", tenant, id);
            if (json_equal(json_object_get(have[k], key), b)) {
                same++;
                continue;
            }
            if (check_immutable(kind, key, b, have[k], e, sizeof(e))) {
                rc = hd_seterr(-1, err, n, "%s: %s[%zu]: %s", path, hd_config_list(kind), i, e);
                break;
            }
            if ((rc = publish(&p, kind, b, NULL, e, sizeof(e)))) {
                hd_seterr(-1, err, n, "%s: %s[%zu]: %s", path, hd_config_list(kind), i, e);
                break;
            }
            put++;
        }
    }
    for (int k = 0; k < HD_CONFIG_KINDS; k++)
        json_decref(have[k]);
    publisher_close(&p);
    if (rc == 0)
        hd_log_info("config", "%s: %ld records published, %ld already current", path, put, same);
    return rc;
}

int hd_config_import(const struct hd_config *c, const char *path, char *err, size_t n)
{
    json_t *doc = load_json(path, err, n);
    int rc = !doc || check_document(doc, path, err, n) ? -1 : import_doc(c, doc, path, err, n);
    json_decref(doc);
    return rc;
}

static int cmd_list(const struct hd_config *c, const char *kind, char *err, size_t n)
{
    struct hd_serde *sd = hd_serde_new(err, n);
    const char *topic = hd_config_topic(kind);
    json_t *have = NULL;
    int rc = sd ? read_topics(c, sd, &topic, 1, &have, err, n) : -1;
    hd_serde_destroy(sd);
    if (rc) {
        json_decref(have);
        return -1;
    }
    const char *key;
    json_t *body;
    json_object_foreach(have, key, body) {
        json_t *line = json_pack("{s:s,s:O}", "key", key, "body", body);
        char *text = json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS);
        puts(text);
        free(text);
        json_decref(line);
    }
    json_decref(have);
    return 0;
}

/* herald config check FILE | check KIND FILE: no broker. */
static int cmd_check(int argc, char **argv)
{
    char err[1024];
    const char *kind = argc == 4 ? argv[2] : NULL, *path = argv[argc - 1];
    if (kind && !hd_config_topic(kind)) {
        fprintf(stderr, "herald config: KIND must be tenant, rule or template\n");
        return 2;
    }
    json_t *j = load_json(path, err, sizeof(err)), *list = NULL;
    int rc = !j ? -1
             : kind ? ((list = checked_bodies(kind, j, path, err, sizeof(err))) ? 0 : -1)
                    : check_document(j, path, err, sizeof(err));
    if (rc == 0)
        printf("%s: ok (%s)\n", path, kind ? kind : "config document");
    else
        fprintf(stderr, "herald config: %s\n", err);
    json_decref(list);
    json_decref(j);
    return rc ? 1 : 0;
}

int hd_cmd_config(int argc, char **argv, struct hd_config *cfg)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return usage(argc < 2 ? 2 : 0);
    const char *op = argv[1], *kind = argc > 2 ? argv[2] : NULL;
    if (!strcmp(op, "check"))
        return argc == 3 || argc == 4 ? cmd_check(argc, argv) : usage(2);
    int import = !strcmp(op, "import");
    if (!import && (!kind || !hd_config_topic(kind))) {
        fprintf(stderr, "herald config: KIND must be tenant, rule or template\n");
        return 2;
    }
    int put = !strcmp(op, "put") && (argc == 3 || argc == 4);
    if (!(import && argc == 3) && !put && !(!strcmp(op, "list") && argc == 3) &&
        !(!strcmp(op, "delete") && argc == 4))
        return usage(2);
    char err[1024];
    int rc;
    /* files first: a bad one fails here, before any connection */
    const char *path = put ? (argc == 4 ? argv[3] : "-") : import ? argv[2] : NULL;
    json_t *doc = path ? load_json(path, err, sizeof(err)) : NULL, *bodies = NULL;
    if (path && (!doc || (put ? !(bodies = checked_bodies(kind, doc, path, err, sizeof(err)))
                              : check_document(doc, path, err, sizeof(err))))) {
        fprintf(stderr, "herald config: %s\n", err);
        json_decref(doc);
        return 1;
    }
    if (!cfg->brokers) {
        fprintf(stderr, "herald config: HERALD_BROKERS is not set\n");
        json_decref(bodies);
        json_decref(doc);
        return 2;
    }
    /* the config topics may not exist yet on a new cluster: create them as herald run does */
    if (hd_kafka_wait_ready(cfg, 30000, err, sizeof(err)) ||
        hd_kafka_topics_ensure(cfg, err, sizeof(err))) {
        fprintf(stderr, "herald config: %s\n", err);
        json_decref(bodies);
        json_decref(doc);
        return 1;
    }
    if (import) {
        rc = import_doc(cfg, doc, path, err, sizeof(err));
    } else if (!strcmp(op, "list")) {
        rc = cmd_list(cfg, kind, err, sizeof(err));
    } else {
        struct publisher p;
        rc = publisher_open(&p, cfg, err, sizeof(err));
        if (rc == 0)
            rc = put ? cmd_put(&p, kind, bodies, path, err, sizeof(err))
                     : publish(&p, kind, NULL, argv[3], err, sizeof(err));
        publisher_close(&p);
    }
    json_decref(bodies);
    json_decref(doc);
    if (rc)
        fprintf(stderr, "herald config: %s\n", err);
    return rc ? 1 : 0;
}
