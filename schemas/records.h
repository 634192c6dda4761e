/*
 * Herald's core records as C structs, and their Avro codecs. The field names
 * match the schemas/NAME.avsc files (the contract). Strings are owned by the struct and
 * NULL where the Avro field is null; `_clear` frees everything the struct
 * owns and zeroes it, so one struct can be reused for the next record.
 *
 * Codecs take a `struct hd_serde` (see serde.h), which is not thread-safe:
 * one per thread.
 */
#ifndef HD_RECORDS_H
#define HD_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct hd_serde;

enum hd_channel {
    HD_CH_EMAIL = 0, HD_CH_SMS, HD_CH_PUSH, HD_CH_WHATSAPP, HD_CH_CHAT, HD_CH_WEBHOOK, HD_CH_IN_APP,
    HD_CH__CNT
};
enum hd_category { HD_CAT_TRANSACTIONAL = 0, HD_CAT_MARKETING, HD_CAT_SYSTEM, HD_CAT_ALERT, HD_CAT__CNT };
enum hd_priority { HD_PRIO_LOW = 0, HD_PRIO_NORMAL, HD_PRIO_HIGH, HD_PRIO_URGENT, HD_PRIO__CNT };
enum hd_status {
    HD_ST_QUEUED = 0, HD_ST_SCHEDULED, HD_ST_SENT, HD_ST_DELIVERED, HD_ST_READ, HD_ST_FAILED,
    HD_ST_BOUNCED, HD_ST_SKIPPED, HD_ST__CNT
};
enum hd_user_action_kind { HD_ACT_READ = 0, HD_ACT_UNREAD, HD_ACT_DELETE, HD_ACT__CNT };

/* Enum symbols exactly as in the .avsc ("EMAIL", "IN_APP", "QUEUED", ...). */
const char *hd_channel_name(enum hd_channel c);
/* "email", ..., "in_app": the suffix of herald.dispatch.<channel> and of plugin settings. */
const char *hd_channel_slug(enum hd_channel c);
const char *hd_category_name(enum hd_category c);
const char *hd_priority_name(enum hd_priority p);
const char *hd_status_name(enum hd_status s);
const char *hd_user_action_name(enum hd_user_action_kind a);
/* Returns the enum value for a symbol, or -1 when unknown. Case-sensitive. */
int hd_channel_parse(const char *s);
int hd_category_parse(const char *s);
int hd_priority_parse(const char *s);
int hd_status_parse(const char *s);
int hd_user_action_parse(const char *s);
/* Status topic for a status: "notification.queued", ... ("notification.scheduled" for SCHEDULED). */
const char *hd_status_topic(enum hd_status s);

struct hd_kv {
    char *key;
    char *value;
};
/* Avro map<string>, as a list (order as decoded). */
struct hd_map {
    struct hd_kv *items;
    size_t cnt;
};
void hd_map_put(struct hd_map *m, const char *key, const char *value);
const char *hd_map_get(const struct hd_map *m, const char *key);
void hd_map_clear(struct hd_map *m);

struct hd_template_ref { /* TemplateRef */
    char *key;
    int has_version;
    int32_t version;
    char *locale; /* nullable */
};

struct hd_content { /* Content: every string nullable */
    char *subject;
    char *text;
    char *html;
    char *title;
    struct hd_map data;
};

struct hd_recipient { /* Recipient: every string nullable */
    char *email;
    char *phone;
    char **push_tokens;
    size_t push_token_cnt;
    char *locale;
    char *timezone;
    char *webhook_url;
};

struct hd_request { /* NotificationRequest */
    char *request_id;
    char *tenant_id;
    char *user_id;
    enum hd_channel *channels;
    size_t channel_cnt;
    enum hd_category category;
    enum hd_priority priority;
    struct hd_template_ref *template_ref; /* Avro field "template"; NULL = null */
    struct hd_content *content;           /* NULL = null */
    char *variables_json;                 /* never NULL after decode; default "{}" */
    struct hd_recipient *recipient;       /* NULL = null */
    char *idempotency_key;                /* nullable */
    int has_scheduled_at;
    int64_t scheduled_at; /* epoch ms */
    int has_expires_at;
    int64_t expires_at;
    char *batch_id; /* nullable */
    char *provider; /* nullable */
    struct hd_map metadata;
    int64_t created_at;
};

struct hd_status_event { /* StatusEvent */
    char *notification_id;
    char *request_id;
    char *tenant_id;
    char *user_id;
    enum hd_channel channel;
    char *provider; /* nullable */
    enum hd_status status;
    char *reason_code; /* nullable */
    char *reason;      /* nullable */
    int32_t attempt;
    char *provider_message_id; /* nullable */
    char *batch_id;            /* nullable */
    int64_t occurred_at;
};

struct hd_header { /* Header in DeadLetter */
    char *key;
    void *value; /* nullable */
    size_t value_len;
};

struct hd_dead_letter { /* DeadLetter */
    char *source_topic;
    int32_t source_partition;
    int64_t source_offset;
    void *key; /* nullable: NULL = null */
    size_t key_len;
    void *value; /* nullable */
    size_t value_len;
    struct hd_header *headers;
    size_t header_cnt;
    char *error_code;
    char *error;
    char *processor;
    int64_t failed_at;
};

struct hd_dispatch { /* Dispatch: one channel's rendered message on herald.dispatch.<channel> */
    char *notification_id;
    char *request_id;
    char *tenant_id;
    char *user_id;
    enum hd_channel channel;
    enum hd_category category;
    enum hd_priority priority;
    char *provider; /* nullable */
    char *batch_id; /* nullable */
    int32_t attempt;
    struct hd_recipient *recipient; /* nullable */
    struct hd_content rendered;     /* Avro field "rendered" (a Content, not null) */
    struct hd_map metadata;
    int64_t created_at;
};

struct hd_inbox_item { /* InboxItem on herald.inbox */
    char *notification_id;
    char *request_id;
    char *tenant_id;
    char *user_id;
    enum hd_category category;
    char *title; /* nullable */
    char *body;  /* nullable */
    char *html;  /* nullable */
    struct hd_map data;
    char *batch_id; /* nullable */
    int64_t created_at;
};

struct hd_user_action { /* UserAction on herald.receipts */
    char *action_id;
    char *tenant_id;
    char *user_id;
    char *notification_id;
    enum hd_user_action_kind action;
    int64_t occurred_at;
    char *request_id;        /* nullable */
    enum hd_channel channel; /* default IN_APP */
};

/*
 * Codecs. decode: bytes (single-object encoded) -> struct; the struct is
 * cleared first. Returns 0, or -1 with errstr (truncated, unknown
 * fingerprint, wrong record type "expected StatusEvent, got InboxItem", bad
 * enum symbol, ...). Never crashes on any input.
 * encode: struct -> single-object bytes appended to `out`. Returns 0 or -1.
 */
#define HD_RECORD_CODEC(name, type)                                                                \
    int hd_##name##_decode(struct hd_serde *sd, const void *buf, size_t len, type *out,            \
                           char *errstr, size_t errstr_size);                                      \
    int hd_##name##_encode(struct hd_serde *sd, const type *in, struct hd_buf *out, char *errstr,  \
                           size_t errstr_size);                                                    \
    void hd_##name##_clear(type *r);

HD_RECORD_CODEC(request, struct hd_request)
HD_RECORD_CODEC(status_event, struct hd_status_event)
HD_RECORD_CODEC(dead_letter, struct hd_dead_letter)
HD_RECORD_CODEC(dispatch, struct hd_dispatch)
HD_RECORD_CODEC(inbox_item, struct hd_inbox_item)
HD_RECORD_CODEC(user_action, struct hd_user_action)

void hd_content_clear(struct hd_content *c);
void hd_recipient_clear(struct hd_recipient *r);
/* The one status-event builder: fills ev (zeroed first) with a notification's identity,
 * its status and time; provider, reason and message id stay NULL. Strings are borrowed
 * (ev points to them). */
void hd_status_event_init(struct hd_status_event *ev, const char *notification_id,
                          const char *request_id, const char *tenant_id, const char *user_id,
                          enum hd_channel channel, const char *batch_id, int32_t attempt,
                          enum hd_status status, int64_t occurred_at);

/* Deep copies (dst is overwritten, not freed first). */
void hd_content_copy(struct hd_content *dst, const struct hd_content *src);
struct hd_recipient *hd_recipient_dup(const struct hd_recipient *src); /* NULL -> NULL */

#endif
