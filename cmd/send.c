/*
 * herald send [--topic T] [--raw] [FILE|-]: JSON lines shaped like the topic's
 * Avro record (plain JSON, nulls allowed, no union wrappers) -> Avro
 * single-object encoding -> topic, keyed tenant_id/user_id. A request without
 * request_id/created_at (an event without event_id/occurred_at) gets them.
 * Prints one id per line. --raw sends each line's bytes as they are (for
 * testing how Herald treats malformed records).
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "connectors/kafka.h"
#include "core/log.h"
#include "core/time.h"
#include "core/uuid.h"
#include "schemas/serde.h"

static void fill_ids(json_t *o, const char *schema, char *id_out, size_t id_size)
{
    int is_req = !strcmp(schema, "NotificationRequest");
    const char *id_field = is_req ? "request_id" : "event_id";
    const char *at_field = is_req ? "created_at" : "occurred_at";
    json_t *id = json_object_get(o, id_field);
    if (!json_is_string(id)) {
        char u[HD_UUID_STRLEN];
        hd_uuid_v4(u);
        json_object_set_new(o, id_field, json_string(u));
        id = json_object_get(o, id_field);
    }
    snprintf(id_out, id_size, "%s", json_string_value(id));
    if (!json_object_get(o, at_field) || json_is_null(json_object_get(o, at_field)))
        json_object_set_new(o, at_field, json_integer(hd_now_ms()));
}

static int usage(int rc)
{
    fprintf(rc ? stderr : stdout,
            "usage: herald send [--topic T] [--raw] [FILE|-]\n"
            "  Publishes JSON lines (default topic notification.requests) and prints their ids.\n"
            "  --raw  send each line's bytes unchanged (no Avro encoding)\n");
    return rc;
}

static int send_line(rd_kafka_t *rk, struct hd_serde *sd, const struct hd_schema *schema,
                     const char *topic, int raw, char *line, size_t len, struct hd_kafka_delivery *sm,
                     char *id, size_t id_size, char *err, size_t err_size)
{
    struct hd_buf out = HD_BUF_INIT;
    char key[512] = "";
    const void *val = line;
    size_t vlen = len;
    json_t *o = NULL;
    if (!raw) {
        json_error_t jerr;
        o = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
        if (!json_is_object(o)) {
            json_decref(o);
            return hd_seterr(-1, err, err_size, "not a JSON object: %s", o ? "" : jerr.text);
        }
        fill_ids(o, hd_schema_name(schema), id, id_size);
        if (hd_serde_encode_json(sd, schema, o, &out, err, err_size)) {
            json_decref(o);
            return -1;
        }
        const char *t = json_string_value(json_object_get(o, "tenant_id"));
        const char *u = json_string_value(json_object_get(o, "user_id"));
        snprintf(key, sizeof(key), "%s/%s", t ? t : "", u ? u : "");
        val = out.data;
        vlen = out.len;
    } else {
        snprintf(id, id_size, "raw");
    }
    const char *tenant = o ? json_string_value(json_object_get(o, "tenant_id")) : NULL;
    rd_kafka_headers_t *h = hd_kafka_headers_new(NULL, tenant, NULL, 0);
    rd_kafka_resp_err_t e = hd_kafka_produce(rk, topic, RD_KAFKA_PARTITION_UA, key, strlen(key),
                                             val, vlen, h, sm);
    json_decref(o);
    hd_buf_free(&out);
    if (e)
        return hd_seterr(-1, err, err_size, "produce: %s", rd_kafka_err2str(e));
    return 0;
}

int hd_cmd_send(int argc, char **argv, struct hd_config *cfg)
{
    const char *topic = HD_TOPIC_REQUESTS, *file = "-";
    int raw = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--topic") && i + 1 < argc)
            topic = argv[++i];
        else if (!strcmp(argv[i], "--raw"))
            raw = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return usage(0);
        else if (argv[i][0] == '-' && argv[i][1])
            return usage(2);
        else
            file = argv[i];
    }
    char err[1024];
    struct hd_serde *sd = hd_serde_new(err, sizeof(err));
    if (!sd) {
        fprintf(stderr, "herald send: %s\n", err);
        return 1;
    }
    const struct hd_schema *schema = hd_serde_schema_for_topic(sd, topic);
    if (!schema && !raw) {
        fprintf(stderr, "herald send: no schema for topic %s (use --raw for bytes)\n", topic);
        hd_serde_destroy(sd);
        return 2;
    }
    FILE *in = strcmp(file, "-") ? fopen(file, "r") : stdin;
    if (!in) {
        perror(file);
        hd_serde_destroy(sd);
        return 1;
    }
    rd_kafka_t *rk = hd_kafka_producer_new(cfg, NULL, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "herald send: %s\n", err);
        if (in != stdin)
            fclose(in);
        hd_serde_destroy(sd);
        return 1;
    }
    size_t cap = 1024, n = 0, bad = 0, lineno = 0;
    struct hd_kafka_delivery *msgs = hd_calloc(cap, sizeof(*msgs));
    char **ids = hd_calloc(cap, sizeof(*ids));
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    while ((len = getline(&line, &line_cap, in)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (n == cap) {
            /* the delivery callback holds pointers into msgs: drain before growing */
            rd_kafka_flush(rk, 60000);
            cap *= 2;
            msgs = hd_realloc(msgs, cap * sizeof(*msgs));
            ids = hd_realloc(ids, cap * sizeof(*ids));
        }
        char id[256];
        memset(&msgs[n], 0, sizeof(msgs[n]));
        if (send_line(rk, sd, schema, topic, raw, line, (size_t)len, &msgs[n], id, sizeof(id),
                      err, sizeof(err))) {
            fprintf(stderr, "herald send: line %zu: %s\n", lineno, err);
            bad++;
            continue;
        }
        ids[n++] = hd_strdup(id);
        rd_kafka_poll(rk, 0);
    }
    free(line);
    if (in != stdin)
        fclose(in);
    rd_kafka_flush(rk, 60000);
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        struct hd_kafka_delivery *m = &msgs[i];
        if (!__atomic_load_n(&m->done, __ATOMIC_ACQUIRE) || m->err) {
            fprintf(stderr, "herald send: %s: %s\n", ids[i],
                    m->done ? rd_kafka_err2str(m->err) : "not delivered");
            failed++;
        } else {
            printf("%s\n", ids[i]);
        }
        hd_free(ids[i]);
    }
    hd_free(ids);
    hd_free(msgs);
    rd_kafka_destroy(rk);
    hd_serde_destroy(sd);
    return bad || failed ? 1 : 0;
}
