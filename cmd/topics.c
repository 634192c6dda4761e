/*
 * herald topics: creates every Herald topic that does not exist yet
 * (HERALD_PARTITIONS partitions, compacted config topics) and lists them.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "connectors/kafka.h"

int hd_cmd_topics(int argc, char **argv, struct hd_config *cfg)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: herald topics\n  Creates Herald's topics on HERALD_BROKERS (idempotent) and "
               "lists them.\n");
        return 0;
    }
    char err[512];
    if (hd_kafka_wait_ready(cfg, 30000, err, sizeof(err)) ||
        hd_kafka_topics_ensure(cfg, err, sizeof(err))) {
        fprintf(stderr, "herald topics: %s\n", err);
        return 1;
    }
    const struct hd_topic *t;
    size_t n = hd_topic_catalogue(&t);
    for (size_t i = 0; i < n; i++)
        printf("%s%s\n", t[i].name, t[i].compacted ? " (compacted)" : "");
    return 0;
}
