/*
 * Channel providers: one file per provider under connectors/channels/, one
 * line in the table in dispatch.c. A provider sends one rendered message
 * (a Dispatch) and reports the outcome. Calls outside Kafka are
 * at-least-once: the notification id is the provider's idempotency key
 * wherever the provider has one.
 */
#ifndef HD_CHANNEL_H
#define HD_CHANNEL_H

#include <stddef.h>

#include "core/config.h"
#include "schemas/records.h"

enum hd_send_result {
    HD_SEND_OK = 0,   /* accepted; provider_msg_id filled */
    HD_SEND_RETRY,    /* transient: try again (or fail over) */
    HD_SEND_FAIL      /* permanent: report FAILED with the reason */
};

struct hd_channel_provider {
    const char *name;
    int (*init)(void **self, const struct hd_config *c, char *errstr, size_t errstr_size);
    enum hd_send_result (*send)(void *self, const struct hd_dispatch *d, char *provider_msg_id,
                                size_t id_size, char *errstr, size_t errstr_size);
    void (*exit)(void *self);
};

/* Appends each message as one JSON line to <HERALD_OUTBOX_DIR>/<channel>.jsonl. */
extern const struct hd_channel_provider hd_provider_outbox;

/* The message as one JSON object (no trailing newline) appended to out: notification id,
 * tenant, user, channel, recipient, rendered content. Used by the outbox. */
struct hd_buf;
void hd_dispatch_to_json(const struct hd_dispatch *d, struct hd_buf *out);

#endif
