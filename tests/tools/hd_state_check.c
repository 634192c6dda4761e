/*
 * hd_state_check [--caught-up] APP STORE [STORE...]: do the local state stores
 * equal a rebuild from their changelogs? For each store and partition of
 * <HERALD_STATE_DIR>/<APP>/<HERALD_INSTANCE_ID>/<STORE>-<p> (herald stopped),
 * replays the changelog "<APP>-<STORE>-changelog" partition p with
 * read_committed from the beginning (last value per key wins, tombstones
 * delete) and compares key by key, payload by payload, expired entries
 * included.
 *
 * Without --caught-up the replay stops at the store's applied offset: a store
 * may lawfully lag its changelog after a kill -9, or when its partition moved
 * to another instance (the next restore catches it up), so the lag is only
 * reported. With --caught-up the instance is taken to have owned every
 * partition and stopped cleanly (SIGTERM: the last transaction committed to
 * Kafka and then to RocksDB, and every store was restored to the changelog's
 * end on assignment), so each partition must have a local store and each store
 * must equal the whole committed changelog: lag fails the check too. In both
 * modes a store whose applied offset is past the changelog's end fails.
 * Prints a line per partition; exits 1 on any difference.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "connectors/kafka.h"
#include "core/buf.h"
#include "core/config.h"
#include "state/store.h"

static void hex(struct hd_buf *b, const void *p, size_t n)
{
    hd_buf_reset(b);
    for (size_t i = 0; i < n; i++)
        hd_buf_printf(b, "%02x", ((const unsigned char *)p)[i]);
    hd_buf_putc(b, '\0');
}

/* key (hex) -> payload (hex) of the changelog partition's committed records below `until`;
 * reads on to the end (`hi`) and counts in *past the data records at or after `until`. */
static json_t *replay(rd_kafka_t *rk, const char *topic, int32_t p, int64_t until, int64_t hi,
                      long *past, char *err, size_t n)
{
    json_t *m = json_object();
    *past = 0;
    if (hi <= 0)
        return m;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    struct hd_buf k = HD_BUF_INIT, v = HD_BUF_INIT;
    for (int idle = 0; idle < 300;) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
        if (!msg) {
            idle++;
            continue;
        }
        idle = 0;
        int stop = msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF ||
                   (!msg->err && msg->offset + 1 >= hi);
        if (msg->err && msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            snprintf(err, n, "%.200s[%d]: %.200s", topic, p, rd_kafka_message_errstr(msg));
            json_decref(m);
            m = NULL;
            stop = 1;
        } else if (!msg->err && msg->offset >= until) {
            (*past)++;
        } else if (!msg->err) {
            hex(&k, msg->key, msg->key_len);
            if (!msg->payload) {
                json_object_del(m, k.data);
            } else if (msg->len >= 8) { /* the stored form: 8-byte expiry + payload */
                hex(&v, (const char *)msg->payload + 8, msg->len - 8);
                json_object_set_new(m, k.data, json_string(v.data));
            }
        }
        rd_kafka_message_destroy(msg);
        if (stop)
            break;
    }
    rd_kafka_assign(rk, NULL);
    hd_buf_free(&k);
    hd_buf_free(&v);
    return m;
}

/* Compares one store with its replay; returns the number of differences. */
static long compare(struct hd_store *st, json_t *want, const char *what)
{
    char err[256];
    struct hd_store_iter *it = hd_store_iter_prefix(st, "", 0, -1, err, sizeof(err));
    if (!it) {
        fprintf(stderr, "%s: %s\n", what, err);
        return 1;
    }
    struct hd_buf k = HD_BUF_INIT, v = HD_BUF_INIT;
    long bad = 0, seen = 0;
    const void *key, *val;
    size_t kl, vl;
    while (hd_store_iter_next(it, &key, &kl, &val, &vl) == 1) {
        hex(&k, key, kl);
        hex(&v, val, vl);
        json_t *w = json_object_get(want, k.data);
        seen++;
        if (!w || strcmp(json_string_value(w), v.data)) {
            if (bad++ < 5)
                fprintf(stderr, "  %s: key %s: store has %.40s, changelog %s\n", what, k.data,
                        v.data, w ? json_string_value(w) : "nothing");
        }
    }
    hd_store_iter_destroy(it);
    if (seen != (long)json_object_size(want)) {
        fprintf(stderr, "  %s: %ld keys in the store, %zu in the changelog replay\n", what, seen,
                json_object_size(want));
        bad++;
    }
    hd_buf_free(&k);
    hd_buf_free(&v);
    return bad;
}

/* Checks one store and partition; returns the number of problems. */
static long check_one(rd_kafka_t *rk, const struct hd_config *cfg, const char *app,
                      const char *store, int32_t p, int caught_up, long *checked, long *lagging)
{
    char topic[512], path[1024], what[600], err[512] = "";
    struct stat sb;
    snprintf(topic, sizeof(topic), "%s-%s-changelog", app, store);
    snprintf(path, sizeof(path), "%s/%s/%s/%s-%d", cfg->state_dir, app, cfg->instance_id, store,
             p);
    snprintf(what, sizeof(what), "%s[%d]", store, p);
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t qerr = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
    if (stat(path, &sb)) {
        int bad = caught_up && (qerr || hi > lo);
        printf("%s: no local store (%s)\n", what,
               bad ? "MISSING: the changelog has records" : "owned elsewhere");
        return bad;
    }
    struct hd_store *st = hd_store_open(path, err, sizeof(err));
    if (!st || qerr) {
        fprintf(stderr, "%s: %s\n", what, st ? rd_kafka_err2str(qerr) : err);
        hd_store_close(st);
        return 1;
    }
    int64_t applied = hd_store_applied_offset(st);
    long past = 0;
    json_t *want = replay(rk, topic, p, applied < 0 ? 0 : applied, hi, &past, err, sizeof(err));
    if (!want) {
        fprintf(stderr, "%s: %s\n", what, err);
        hd_store_close(st);
        return 1;
    }
    long bad = compare(st, want, what);
    if (applied > hi) {
        fprintf(stderr, "  %s: applied offset %lld is past the changelog end %lld\n", what,
                (long long)applied, (long long)hi);
        bad++;
    }
    /* the offsets past the last applied record (its commit marker, aborted records) are
     * not lag; committed records past the applied offset are */
    if (past > 0) {
        (*lagging)++;
        if (caught_up) {
            fprintf(stderr, "  %s: %ld committed changelog records past the applied offset\n",
                    what, past);
            bad++;
        }
    }
    printf("%s: %zu keys, %s the changelog replayed to offset %lld (end %lld, %ld records "
           "behind)\n",
           what, json_object_size(want), bad ? "DIFFERS from" : "equal to", (long long)applied,
           (long long)hi, past);
    (*checked)++;
    json_decref(want);
    hd_store_close(st);
    return bad;
}

int main(int argc, char **argv)
{
    int caught_up = argc > 1 && !strcmp(argv[1], "--caught-up");
    if (caught_up) {
        argv++;
        argc--;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: hd_state_check [--caught-up] APP STORE [STORE...] (env: "
                        "HERALD_BROKERS, HERALD_STATE_DIR, HERALD_INSTANCE_ID, "
                        "HERALD_PARTITIONS)\n");
        return 2;
    }
    struct hd_config cfg;
    char err[512];
    if (hd_config_from_env(&cfg, err, sizeof(err)) || !cfg.brokers) {
        fprintf(stderr, "hd_state_check: %s\n", cfg.brokers ? err : "HERALD_BROKERS is not set");
        return 2;
    }
    rd_kafka_t *rk = hd_kafka_reader_new(&cfg, "hd-state-check", err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "hd_state_check: %s\n", err);
        return 2;
    }
    long bad = 0, checked = 0, lagging = 0;
    for (int s = 2; s < argc; s++)
        for (int p = 0; p < cfg.partitions; p++)
            bad += check_one(rk, &cfg, argv[1], argv[s], p, caught_up, &checked, &lagging);
    rd_kafka_destroy(rk);
    hd_config_clear(&cfg);
    printf("%s: %ld stores checked, %ld behind their changelog%s\n",
           bad ? "STATE DIFFERS" : "state ok", checked, lagging,
           caught_up ? " (--caught-up: none may be)" : " (lawful after a kill -9)");
    return bad || !checked ? 1 : 0;
}
