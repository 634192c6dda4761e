/*
 * Channel providers: one file per provider under connectors/channels/, one
 * line in the registry (channels.c). A provider delivers rendered messages
 * (Dispatch records) through a submit/complete contract, so the dispatch task
 * can keep many sends in flight and never blocks or sleeps inside its Kafka
 * transaction:
 *
 *   submit(self, d, tag)   starts sending one message and returns at once; its
 *                          outcome comes later, from poll, with the same tag.
 *   poll(self, timeout_ms, done, opaque)
 *                          calls done(opaque, tag, result) for sends that have
 *                          completed, waiting at most timeout_ms when none has.
 *
 * Threading: every call is made on the dispatch task's thread; a provider may
 * run its own I/O (libcurl multi, a thread) but calls `done` only from poll.
 * Ownership: `d` is borrowed for the submit call only (copy what the send
 * needs); `tag` is the caller's and comes back untouched; the strings in a
 * result are borrowed for the callback only.
 * Blocking: submit never waits for the network; poll waits at most timeout_ms.
 * Errors: a result says whether the failure is worth another attempt
 * (HD_SEND_RETRY: a timeout, a 5xx, a rate limit) or final (HD_SEND_FAIL: the
 * provider refused the message); `error` names the provider and the cause.
 * Calls outside Kafka are at-least-once: the notification id is the
 * provider's idempotency key wherever the provider has one.
 */
#ifndef HD_CHANNEL_H
#define HD_CHANNEL_H

#include <stddef.h>

#include "core/config.h"
#include "core/confmap.h"
#include "schemas/records.h"

enum hd_send_status {
    HD_SEND_OK = 0, /* accepted; provider_msg_id set */
    HD_SEND_RETRY,  /* transient: worth another attempt (or another provider) */
    HD_SEND_FAIL    /* permanent: report FAILED with the error */
};

struct hd_send_result {
    enum hd_send_status status;
    const char *provider_msg_id; /* HD_SEND_OK */
    const char *error;           /* otherwise */
};

/* Called from poll for each completed send. */
typedef void hd_send_done_fn(void *opaque, void *tag, const struct hd_send_result *res);

struct hd_channel_provider {
    const char *name;
    /* Creates the instance in *self from its settings (conf, loaded from `config` below
     * and checked before init is called) and the process's configuration. Returns 0, or -1
     * with errstr. */
    int (*init)(void **self, const struct hd_conf *conf, const struct hd_config *c,
                char *errstr, size_t errstr_size);
    /* Starts sending d. Returns 0 (an outcome follows from poll), or -1 when the provider
     * cannot take a send now (its queue is full): poll, then submit again. */
    int (*submit)(void *self, const struct hd_dispatch *d, void *tag);
    /* Delivers completed sends to done; waits at most timeout_ms when none is ready.
     * Returns the number delivered. */
    int (*poll)(void *self, int timeout_ms, hd_send_done_fn *done, void *opaque);
    /* Sends submitted and not yet delivered by poll. */
    size_t (*inflight)(void *self);
    /* Frees the instance; sends still in flight are dropped without a callback. */
    void (*exit)(void *self);
    /* Its settings (core/confmap.h): credentials, endpoints, limits. Optional. */
    const struct hd_conf_entry *config;
};

/* The registry (channels.c): every provider, in the order selection falls back on. */
size_t hd_channel_providers(const struct hd_channel_provider *const **out);
/* A provider by name; NULL when none is registered under it. */
const struct hd_channel_provider *hd_channel_provider_find(const char *name);

/* The message as one JSON object (no trailing newline) appended to out: notification id,
 * tenant, user, channel, recipient, rendered content. Used by the outbox. */
struct hd_buf;
void hd_dispatch_to_json(const struct hd_dispatch *d, struct hd_buf *out);

#endif
