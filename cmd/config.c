/*
 * herald config: the config topics from the command line.
 *
 *   herald config put KIND [FILE|-]   publish one body (a JSON object) or several (an array)
 *   herald config delete KIND KEY     publish a tombstone for KEY ("acme/order-created")
 *   herald config list KIND           the live records, one JSON line each: {"key", "body"}
 *   herald config import FILE         publish every record of a config document
 *                                     (tables/tables.h) whose body differs from the topic's
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
#include "schemas/serde.h"
#include "tables/publish.h"
#include "tables/tables.h"
#include "tables/topics.h"

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

static int cmd_list(const struct hd_config *c, const char *kind, char *err, size_t n)
{
    struct hd_serde *sd = hd_serde_new(err, n);
    const char *topic = hd_tables_topic(kind);
    json_t *have = NULL;
    int rc = sd ? hd_tables_read(c, sd, &topic, 1, &have, err, n) : -1;
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
    if (kind && !hd_tables_topic(kind)) {
        fprintf(stderr, "herald config: KIND must be tenant, rule or template\n");
        return 2;
    }
    json_t *j = hd_tables_load_json(path, err, sizeof(err)), *list = NULL;
    int rc = !j ? -1
             : kind ? ((list = hd_tables_check_bodies(kind, j, path, err, sizeof(err))) ? 0 : -1)
                    : hd_tables_check_document(j, path, err, sizeof(err));
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
    if (!import && (!kind || !hd_tables_topic(kind))) {
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
    json_t *doc = path ? hd_tables_load_json(path, err, sizeof(err)) : NULL, *bodies = NULL;
    int bad = path && !doc;
    if (!bad && put)
        bad = !(bodies = hd_tables_check_bodies(kind, doc, path, err, sizeof(err)));
    else if (!bad && import)
        bad = hd_tables_check_document(doc, path, err, sizeof(err)) != 0;
    if (bad) {
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
        rc = hd_tables_import_doc(cfg, doc, path, err, sizeof(err));
    } else if (!strcmp(op, "list")) {
        rc = cmd_list(cfg, kind, err, sizeof(err));
    } else {
        struct hd_tables_publisher p;
        rc = hd_tables_publisher_open(&p, cfg, err, sizeof(err));
        if (rc == 0)
            rc = put ? hd_tables_put(&p, kind, bodies, path, err, sizeof(err))
                     : hd_tables_publish(&p, kind, NULL, argv[3], err, sizeof(err));
        hd_tables_publisher_close(&p);
    }
    json_decref(bodies);
    json_decref(doc);
    if (rc)
        fprintf(stderr, "herald config: %s\n", err);
    return rc ? 1 : 0;
}
