/*
 * Publishing to the config topics and reading them back, for `herald config` and for
 * `herald run --config FILE` (the import). Every body is checked as the reader
 * (tables/topics.c) will check it before anything is published, so a bad body is refused
 * here with the field named. Kafka is reached only by the functions that take a
 * struct hd_config; the checks are offline.
 */
#ifndef HD_TABLES_PUBLISH_H
#define HD_TABLES_PUBLISH_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "core/config.h"

struct hd_serde;

/* A JSON file ("-": standard input); NULL with err naming the line and column. */
json_t *hd_tables_load_json(const char *path, char *err, size_t n);
/* put's bodies: an object or an array of objects of one kind, each checked. Returns a new
 * array, or NULL with err naming the body ("PATH[i]: field: ..."). */
json_t *hd_tables_check_bodies(const char *kind, json_t *j, const char *path, char *err, size_t n);
/* A config document ({"tenants": [...], "rules": [...], "templates": [...]}): 0, or -1 with
 * err naming the list, the index and the field. */
int hd_tables_check_document(json_t *doc, const char *path, char *err, size_t n);

/* The live records of config topics, read to their ends with one consumer: for each topic
 * out[t] = an object key -> body, tombstones applied. Returns 0 or -1. */
int hd_tables_read(const struct hd_config *c, struct hd_serde *sd, const char *const *topics,
                   size_t cnt, json_t **out, char *err, size_t n);

struct hd_tables_publisher {
    const struct hd_config *cfg;
    struct hd_serde *sd;
    rd_kafka_t *rk;
    int quiet; /* no line per record on standard output (herald run) */
};

int hd_tables_publisher_open(struct hd_tables_publisher *p, const struct hd_config *c, char *err,
                             size_t n);
void hd_tables_publisher_close(struct hd_tables_publisher *p);
/* Checks and publishes one body; body NULL publishes a tombstone for key. */
int hd_tables_publish(struct hd_tables_publisher *p, const char *kind, json_t *body,
                      const char *key, char *err, size_t n);
/* Publishes checked bodies of one kind; a template version must not change. */
int hd_tables_put(struct hd_tables_publisher *p, const char *kind, json_t *list,
                  const char *path, char *err, size_t n);
/* Publishes a checked document's records that differ from what the topics hold. */
int hd_tables_import_doc(const struct hd_config *c, json_t *doc, const char *path, char *err,
                         size_t n);
/* hd_tables_load_json + hd_tables_check_document + hd_tables_import_doc. */
int hd_tables_import(const struct hd_config *c, const char *path, char *err, size_t n);

#endif
