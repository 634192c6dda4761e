/*
 * Publishing to the config topics and reading them back (tables/publish.h).
 */
#include "tables/publish.h"

#include <stdio.h>
#include <string.h>

#include "connectors/kafka.h"
#include "core/buf.h"
#include "core/hd.h"
#include "core/log.h"
#include "core/time.h"
#include "schemas/serde.h"
#include "tables/tables.h"
#include "tables/topics.h"

/* The live records of config topics, read to their ends with one consumer: for each
 * topic an object key -> body (JSON), tombstones applied. Returns 0 or -1. */
int hd_tables_read(const struct hd_config *c, struct hd_serde *sd, const char *const *topics,
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

/* Checks and publishes one body (NULL: a tombstone for `key`). */
int hd_tables_publish(struct hd_tables_publisher *p, const char *kind, json_t *body,
                      const char *key, char *err, size_t n)
{
    char tenant[256], id[512], full[800];
    const char *topic = hd_tables_topic(kind);
    struct hd_buf v = HD_BUF_INIT;
    if (body) {
        if (hd_tables_check(kind, body, err, n) ||
            hd_tables_record_id(kind, body, tenant, sizeof(tenant), id, sizeof(id), err, n))
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

int hd_tables_publisher_open(struct hd_tables_publisher *p, const struct hd_config *c, char *err,
                             size_t n)
{
    memset(p, 0, sizeof(*p));
    p->cfg = c;
    if (!(p->sd = hd_serde_new(err, n)) || !(p->rk = hd_kafka_producer_new(c, NULL, err, n)))
        return -1;
    return 0;
}

void hd_tables_publisher_close(struct hd_tables_publisher *p)
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

json_t *hd_tables_load_json(const char *path, char *err, size_t n)
{
    json_error_t je;
    json_t *j = !strcmp(path, "-") ? json_loadf(stdin, 0, &je) : json_load_file(path, 0, &je);
    if (!j)
        hd_seterr(-1, err, n, "%s: line %d column %d: %s", path, je.line, je.column, je.text);
    return j;
}

/* The bodies of `herald config put`: an object or an array of objects, each checked as
 * the reader will check it. Returns a new array, or NULL with err naming the body. */
json_t *hd_tables_check_bodies(const char *kind, json_t *j, const char *path, char *err, size_t n)
{
    json_t *list = json_is_array(j) ? json_incref(j) : json_pack("[O]", j);
    size_t i;
    json_t *b;
    json_array_foreach(list, i, b) {
        char tenant[256], id[512], e[512];
        if (!json_is_object(b) || hd_tables_check(kind, b, e, sizeof(e)) ||
            hd_tables_record_id(kind, b, tenant, sizeof(tenant), id, sizeof(id), e, sizeof(e))) {
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
int hd_tables_check_document(json_t *doc, const char *path, char *err, size_t n)
{
    if (!json_is_object(doc))
        return hd_seterr(-1, err, n, "%s: a config document is a JSON object", path);
    const char *k;
    json_t *v;
    json_object_foreach(doc, k, v) {
        int known = 0;
        for (int i = 0; i < HD_TABLES_KINDS; i++)
            known |= !strcmp(k, hd_tables_list(hd_tables_kinds[i]));
        if (!known)
            return hd_seterr(-1, err, n, "%s: unknown member \"%s\" (tenants, rules, "
                             "templates)", path, k);
        if (!json_is_array(v))
            return hd_seterr(-1, err, n, "%s: %s: not an array", path, k);
    }
    for (int i = 0; i < HD_TABLES_KINDS; i++) {
        const char *kind = hd_tables_kinds[i], *list = hd_tables_list(kind);
        json_t *arr = json_object_get(doc, list);
        if (!arr)
            continue;
        char where[1024];
        snprintf(where, sizeof(where), "%s: %s", path, list);
        json_t *ok = hd_tables_check_bodies(kind, arr, where, err, n);
        if (!ok)
            return -1;
        json_decref(ok);
    }
    return 0;
}

/* Publishes put's bodies (already checked); a template version must not change. */
int hd_tables_put(struct hd_tables_publisher *p, const char *kind, json_t *list, const char *path,
                   char *err, size_t n)
{
    size_t i;
    json_t *b, *have = NULL;
    const char *topic = hd_tables_topic(kind);
    int rc = !strcmp(kind, "template")
                 ? hd_tables_read(p->cfg, p->sd, &topic, 1, &have, err, n)
                 : 0;
    json_array_foreach(list, i, b) {
        char tenant[256] = "", id[512] = "", key[800], e[512];
        if (rc)
            break;
        hd_tables_record_id(kind, b, tenant, sizeof(tenant), id, sizeof(id), e, sizeof(e));
        snprintf(key, sizeof(key), "%s/%s", tenant, id);
        if (check_immutable(kind, key, b, have, e, sizeof(e))) {
            rc = hd_seterr(-1, err, n, "%s[%zu]: %s", path, i, e);
            break;
        }
    }
    json_decref(have);
    json_array_foreach(list, i, b) {
        if (rc || (rc = hd_tables_publish(p, kind, b, NULL, err, n)))
            break;
    }
    return rc;
}

/* Publishes a checked document's records that differ from the topics'. */
int hd_tables_import_doc(const struct hd_config *c, json_t *doc, const char *path, char *err,
                      size_t n)
{
    const char *topics[HD_TABLES_KINDS];
    json_t *have[HD_TABLES_KINDS] = {NULL};
    for (int k = 0; k < HD_TABLES_KINDS; k++)
        topics[k] = hd_tables_topic(hd_tables_kinds[k]);
    struct hd_tables_publisher p;
    int rc = hd_tables_publisher_open(&p, c, err, n);
    p.quiet = 1;
    if (rc == 0)
        rc = hd_tables_read(c, p.sd, topics, HD_TABLES_KINDS, have, err, n);
    long put = 0, same = 0;
    for (int k = 0; k < HD_TABLES_KINDS && rc == 0; k++) {
        const char *kind = hd_tables_kinds[k];
        json_t *list = json_object_get(doc, hd_tables_list(kind));
        size_t i;
        json_t *b;
        json_array_foreach(list, i, b) {
            char tenant[256], id[512], key[800], e[512];
            if (hd_tables_record_id(kind, b, tenant, sizeof(tenant), id, sizeof(id), e,
                                    sizeof(e))) {
                rc = hd_seterr(-1, err, n, "%s: %s[%zu]: %s", path, hd_tables_list(kind), i, e);
                break;
            }
            snprintf(key, sizeof(key), "%s/%s", tenant, id);
            if (json_equal(json_object_get(have[k], key), b)) {
                same++;
                continue;
            }
            if (check_immutable(kind, key, b, have[k], e, sizeof(e))) {
                rc = hd_seterr(-1, err, n, "%s: %s[%zu]: %s", path, hd_tables_list(kind), i, e);
                break;
            }
            if ((rc = hd_tables_publish(&p, kind, b, NULL, e, sizeof(e)))) {
                hd_seterr(-1, err, n, "%s: %s[%zu]: %s", path, hd_tables_list(kind), i, e);
                break;
            }
            put++;
        }
    }
    for (int k = 0; k < HD_TABLES_KINDS; k++)
        json_decref(have[k]);
    hd_tables_publisher_close(&p);
    if (rc == 0)
        hd_log_info("config", "%s: %ld records published, %ld already current", path, put, same);
    return rc;
}

int hd_tables_import(const struct hd_config *c, const char *path, char *err, size_t n)
{
    json_t *doc = hd_tables_load_json(path, err, n);
    int rc = !doc || hd_tables_check_document(doc, path, err, n)
                 ? -1
                 : hd_tables_import_doc(c, doc, path, err, n);
    json_decref(doc);
    return rc;
}

