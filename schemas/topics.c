/*
 * The topic catalogue (topics.h).
 */
#include "schemas/topics.h"

#include <string.h>

#include "core/hd.h"

static const struct hd_topic hd_catalogue[] = {
    {"order.created", "OrderCreated", 0, HD_ROLE_DOMAIN},
    {"order.shipped", "OrderShipped", 0, HD_ROLE_DOMAIN},
    {"payment.completed", "PaymentCompleted", 0, HD_ROLE_DOMAIN},
    {"payment.failed", "PaymentFailed", 0, HD_ROLE_DOMAIN},
    {"user.registered", "UserRegistered", 0, HD_ROLE_DOMAIN},
    {"user.password_reset", "PasswordReset", 0, HD_ROLE_DOMAIN},
    {HD_TOPIC_REQUESTS, "NotificationRequest", 0, HD_ROLE_REQUEST},
    {"herald.dispatch.email", "Dispatch", 0, HD_ROLE_DISPATCH},
    {"herald.dispatch.sms", "Dispatch", 0, HD_ROLE_DISPATCH},
    {"herald.dispatch.push", "Dispatch", 0, HD_ROLE_DISPATCH},
    {"herald.dispatch.whatsapp", "Dispatch", 0, HD_ROLE_DISPATCH},
    {"herald.dispatch.chat", "Dispatch", 0, HD_ROLE_DISPATCH},
    {"herald.dispatch.webhook", "Dispatch", 0, HD_ROLE_DISPATCH},
    {"herald.dispatch.in_app", "Dispatch", 0, HD_ROLE_DISPATCH},
    {HD_TOPIC_RECEIPTS, "UserAction", 0, HD_ROLE_RECEIPT},
    {HD_TOPIC_QUEUED, "StatusEvent", 0, HD_ROLE_STATUS},
    {HD_TOPIC_SCHEDULED, "StatusEvent", 0, HD_ROLE_STATUS},
    {HD_TOPIC_SENT, "StatusEvent", 0, HD_ROLE_STATUS},
    {HD_TOPIC_DELIVERED, "StatusEvent", 0, HD_ROLE_STATUS},
    {HD_TOPIC_FAILED, "StatusEvent", 0, HD_ROLE_STATUS},
    {HD_TOPIC_READ, "StatusEvent", 0, HD_ROLE_STATUS},
    {HD_TOPIC_SKIPPED, "StatusEvent", 0, HD_ROLE_STATUS},
    {HD_TOPIC_INBOX, "InboxItem", 0, HD_ROLE_INBOX},
    {HD_TOPIC_DLQ, "DeadLetter", 0, HD_ROLE_DLQ},
    {"herald.tenants", "ConfigRecord", 1, HD_ROLE_CONFIG},
    {"herald.rules", "ConfigRecord", 1, HD_ROLE_CONFIG},
    {"herald.templates", "ConfigRecord", 1, HD_ROLE_CONFIG},
    {HD_TOPIC_PREFERENCES, NULL, 1, HD_ROLE_TABLE},
    {HD_TOPIC_SUPPRESSIONS, NULL, 1, HD_ROLE_TABLE},
    {HD_TOPIC_USER_UPDATED, "UserUpdated", 1, HD_ROLE_TABLE},
    {"herald.providers", NULL, 1, HD_ROLE_CONFIG},
    {"herald.webhooks", NULL, 1, HD_ROLE_CONFIG},
};

static const char *const hd_role_names[HD_ROLE__CNT] = {
    "domain", "request", "dispatch", "receipt", "status", "inbox", "dlq", "config", "table",
};

size_t hd_topic_catalogue(const struct hd_topic **topics)
{
    *topics = hd_catalogue;
    return HD_ARRAY_SIZE(hd_catalogue);
}

const struct hd_topic *hd_topic_find(const char *name)
{
    for (size_t i = 0; name && i < HD_ARRAY_SIZE(hd_catalogue); i++)
        if (!strcmp(hd_catalogue[i].name, name))
            return &hd_catalogue[i];
    return NULL;
}

size_t hd_topics_of(enum hd_topic_role role, const char **names, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < HD_ARRAY_SIZE(hd_catalogue); i++)
        if (hd_catalogue[i].role == role && n + 1 < max)
            names[n++] = hd_catalogue[i].name;
    if (max)
        names[n] = NULL;
    return n;
}

const char *hd_topic_role_name(enum hd_topic_role role)
{
    return (unsigned)role < HD_ROLE__CNT ? hd_role_names[role] : "unknown";
}
