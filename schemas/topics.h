/*
 * The topic catalogue: every topic Herald creates, reads or writes, with the schema of
 * its values, whether it is compacted, and its role, which says who reads it. Topic
 * creation (connectors/kafka.c), the serde (which schema a topic carries), the topology
 * (a sub-topology reads the topics of one role) and the materializer (status and inbox
 * topics) all take their lists from here, so a new topic is one line in topics.c.
 * (Changelog topics of state stores are named per application and store: state/stores.c.)
 */
#ifndef HD_TOPICS_H
#define HD_TOPICS_H

#include <stddef.h>

/* Topic names (DESIGN.md), for code that names one topic. */
#define HD_TOPIC_REQUESTS "notification.requests"
#define HD_TOPIC_QUEUED "notification.queued"
#define HD_TOPIC_SCHEDULED "notification.scheduled"
#define HD_TOPIC_SENT "notification.sent"
#define HD_TOPIC_DELIVERED "notification.delivered"
#define HD_TOPIC_FAILED "notification.failed"
#define HD_TOPIC_READ "notification.read"
#define HD_TOPIC_SKIPPED "notification.skipped"
#define HD_TOPIC_DLQ "notification.dlq"
#define HD_TOPIC_INBOX "herald.inbox"
#define HD_TOPIC_RECEIPTS "herald.receipts"
#define HD_TOPIC_DISPATCH_PREFIX "herald.dispatch."
#define HD_TOPIC_PREFERENCES "herald.preferences"
#define HD_TOPIC_SUPPRESSIONS "herald.suppressions"
#define HD_TOPIC_USER_UPDATED "user.updated"

enum hd_topic_role {
    HD_ROLE_DOMAIN = 0, /* domain events from upstream services: read by route */
    HD_ROLE_REQUEST,    /* notification.requests: read by requests (and the benchmark) */
    HD_ROLE_DISPATCH,   /* herald.dispatch.<channel>: read by dispatch */
    HD_ROLE_RECEIPT,    /* herald.receipts (user actions): read by status */
    HD_ROLE_STATUS,     /* notification.<status>: read by the materializer and downstream */
    HD_ROLE_INBOX,      /* herald.inbox: read by the materializer */
    HD_ROLE_DLQ,        /* notification.dlq: read by operators */
    HD_ROLE_CONFIG,     /* compacted config topics: read by the config reader (tables/) */
    HD_ROLE_TABLE,      /* compacted, keyed and partitioned like notification.requests: read
                         * per partition as tables by the requests sub-topology (enrich, prefs) */
    HD_ROLE__CNT
};

struct hd_topic {
    const char *name;
    const char *schema; /* Avro schema of its values (serde name); NULL: none fixed yet */
    int compacted;
    enum hd_topic_role role;
};

/* The whole catalogue (static); returns the count. */
size_t hd_topic_catalogue(const struct hd_topic **topics);
/* A topic by name; NULL when the catalogue does not have it. */
const struct hd_topic *hd_topic_find(const char *name);
/* The names of the topics of one role, in catalogue order, NULL-terminated, into names (max
 * entries including the NULL). Returns the count. */
size_t hd_topics_of(enum hd_topic_role role, const char **names, size_t max);
/* "domain", "request", ...: for messages. */
const char *hd_topic_role_name(enum hd_topic_role role);

#endif
