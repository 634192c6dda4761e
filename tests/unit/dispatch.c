/*
 * The dispatch processor (processors/dispatch.c) through the probe: IN_APP as an inbox item
 * and SENT in the transaction; every other channel submitted to the outbox provider and
 * completed from drain (PENDING, then one SENT per record, each completion counted as the
 * ledger would); a missing address as FAILED no_address at once; a provider that keeps
 * failing as FAILED after its tries; an unknown provider override falling back to the
 * registry's first.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/config.h"
#include "core/time.h"
#include "processors/probe.h"
#include "processors/registry.h"
#include "schemas/records.h"
#include "schemas/topics.h"
#include "tables/tables.h"

#define NOW_MS INT64_C(1795456513000)

static struct hd_config cfg;
static struct hd_tables *tables;
static struct hd_probe *probe;
static void *dispatcher;
static char dir[64];

static void setup(void)
{
    char err[512];
    snprintf(dir, sizeof(dir), "/tmp/hd-dispatch-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    memset(&cfg, 0, sizeof(cfg));
    hd_config_plugin_set(&cfg, "outbox.dir", dir);
    tables = hd_tables_empty();
    probe = hd_probe_new(&cfg, tables, NOW_MS, err, sizeof(err));
    cr_assert_not_null(probe, "%s", err);
    struct hd_task_env env = {.config = &cfg, .tables = tables};
    cr_assert_eq(hd_proc_dispatch.init(&dispatcher, &env, err, sizeof(err)), 0, "%s", err);
}

static void teardown(void)
{
    hd_proc_dispatch.exit(dispatcher);
    hd_probe_destroy(probe);
    hd_tables_destroy(tables);
    hd_config_clear(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(dispatch, .init = setup, .fini = teardown);

/* One Dispatch record as the runtime would hand it over: encoded, then decoded from an
 * envelope at `offset` (the bytes stay in `b`, the envelope in `e`, for a deferral). */
struct input {
    struct hd_buf b;
    struct hd_envelope e;
    struct hd_record rec;
};

static void input_make(struct input *in, const char *nid, enum hd_channel ch,
                       const char *email, const char *provider, int64_t offset)
{
    struct hd_recipient r = {.email = (char *)email};
    struct hd_dispatch d = {.notification_id = (char *)nid,
                            .request_id = "req-1",
                            .tenant_id = "acme",
                            .user_id = "u-1",
                            .channel = ch,
                            .provider = (char *)provider,
                            .recipient = &r,
                            .category = HD_CAT_TRANSACTIONAL,
                            .created_at = NOW_MS - 1000};
    d.rendered.subject = "Hello";
    d.rendered.text = "Body";
    char err[512];
    memset(in, 0, sizeof(*in));
    cr_assert_eq(hd_dispatch_encode(hd_probe_serde(probe), &d, &in->b, err, sizeof(err)), 0,
                 "%s", err);
    in->e = (struct hd_envelope){.topic = "herald.dispatch.email", .partition = 2,
                                 .offset = offset, .key = "acme/u-1", .key_len = 8,
                                 .value = in->b.data, .value_len = in->b.len,
                                 .timestamp_ms = -1};
    cr_assert_eq(hd_probe_decode(probe, HD_PAYLOAD_DISPATCH, &in->e, &in->rec, err,
                                 sizeof(err)),
                 0, "%s", err);
}

static void input_free(struct input *in)
{
    hd_probe_record_clear(&in->rec);
    hd_buf_free(&in->b);
}

/* The status event of output i, decoded (caller clears). */
static void status_of(size_t i, const char *topic, struct hd_status_event *ev)
{
    const struct hd_probe_output *o = hd_probe_output(probe, i);
    cr_assert_not_null(o, "no output %zu", i);
    cr_expect_str_eq(o->topic, topic);
    char err[512];
    memset(ev, 0, sizeof(*ev));
    cr_assert_eq(hd_status_event_decode(hd_probe_serde(probe), o->value, o->value_len, ev, err,
                                        sizeof(err)),
                 0, "%s", err);
}

static long file_lines(const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long n = 0;
    for (int c; (c = fgetc(f)) != EOF;)
        n += c == '\n';
    fclose(f);
    return n;
}

Test(dispatch, provider_sends_are_pending_until_drain_completes_each_with_one_sent)
{
    struct input in[3];
    const char *nids[3] = {"n-1", "n-2", "n-3"};
    for (int i = 0; i < 3; i++) {
        input_make(&in[i], nids[i], HD_CH_EMAIL, "ada@example.com", NULL, 40 + i);
        cr_assert_eq(hd_probe_run(probe, &hd_proc_dispatch, dispatcher, &in[i].rec),
                     HD_PENDING);
    }
    cr_expect_eq(hd_probe_output_count(probe), 0, "no outcome before drain");
    cr_expect_eq(hd_probe_completion_count(probe), 0);
    cr_assert_eq(hd_probe_drain(probe, &hd_proc_dispatch, dispatcher, hd_mono_us() / 1000 + 5000),
                 0, "every send completed");
    cr_assert_eq(hd_probe_completion_count(probe), 3);
    int seen[3] = {0};
    for (size_t i = 0; i < 3; i++) {
        enum hd_verdict v;
        int64_t off;
        cr_assert_eq(hd_probe_completion(probe, i, &v, &off), 0);
        cr_expect_eq(v, HD_PASS);
        cr_assert(off >= 40 && off <= 42, "offset %lld", (long long)off);
        seen[off - 40]++;
    }
    cr_expect(seen[0] == 1 && seen[1] == 1 && seen[2] == 1, "each record completed once");
    cr_assert_eq(hd_probe_output_count(probe), 3);
    for (size_t i = 0; i < 3; i++) {
        struct hd_status_event ev;
        status_of(i, HD_TOPIC_SENT, &ev);
        cr_expect_eq(ev.status, HD_ST_SENT);
        cr_expect_str_eq(ev.provider, "outbox");
        char want[64];
        snprintf(want, sizeof(want), "outbox-%s", ev.notification_id);
        cr_expect_str_eq(ev.provider_message_id, want, "the provider's message id");
        cr_expect_eq(ev.attempt, 1);
        cr_expect_eq(ev.occurred_at, NOW_MS);
        char h[64];
        cr_expect(hd_probe_header(hd_probe_output(probe, i), "herald-notification-id", h,
                                  sizeof(h)) &&
                      !strcmp(h, ev.notification_id),
                  "the status carries its notification id header");
        hd_status_event_clear(&ev);
    }
    cr_expect_eq(file_lines("EMAIL.jsonl"), 3);
    for (int i = 0; i < 3; i++)
        input_free(&in[i]);
}

Test(dispatch, in_app_is_an_inbox_item_and_sent_at_once)
{
    struct input in;
    input_make(&in, "n-4", HD_CH_IN_APP, NULL, NULL, 7);
    cr_assert_eq(hd_probe_run(probe, &hd_proc_dispatch, dispatcher, &in.rec), HD_PASS);
    cr_assert_eq(hd_probe_output_count(probe), 2);
    const struct hd_probe_output *o = hd_probe_output(probe, 0);
    cr_expect_str_eq(o->topic, HD_TOPIC_INBOX);
    struct hd_inbox_item it;
    memset(&it, 0, sizeof(it));
    char err[512];
    cr_assert_eq(hd_inbox_item_decode(hd_probe_serde(probe), o->value, o->value_len, &it, err,
                                      sizeof(err)),
                 0, "%s", err);
    cr_expect_str_eq(it.notification_id, "n-4");
    cr_expect_str_eq(it.title, "Hello", "the subject stands in for a missing title");
    cr_expect_str_eq(it.body, "Body");
    hd_inbox_item_clear(&it);
    struct hd_status_event ev;
    status_of(1, HD_TOPIC_SENT, &ev);
    cr_expect_str_eq(ev.provider, "inbox");
    hd_status_event_clear(&ev);
    cr_expect_eq(file_lines("IN_APP.jsonl"), -1, "no provider call for the inbox");
    input_free(&in);
}

Test(dispatch, a_missing_address_is_failed_no_address_at_once)
{
    struct input in;
    input_make(&in, "n-5", HD_CH_EMAIL, NULL, NULL, 8);
    cr_assert_eq(hd_probe_run(probe, &hd_proc_dispatch, dispatcher, &in.rec), HD_PASS);
    cr_assert_eq(hd_probe_output_count(probe), 1);
    struct hd_status_event ev;
    status_of(0, HD_TOPIC_FAILED, &ev);
    cr_expect_str_eq(ev.reason_code, "no_address");
    cr_expect(strstr(ev.reason, "recipient.email"), "%s", ev.reason);
    hd_status_event_clear(&ev);
    cr_expect_eq(file_lines("EMAIL.jsonl"), -1);
    input_free(&in);
}

Test(dispatch, a_provider_that_keeps_failing_gives_failed_after_its_tries)
{
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/EMAIL.jsonl", dir);
    cr_assert_eq(mkdir(sub, 0755), 0); /* a directory where the file should be */
    struct input in;
    input_make(&in, "n-6", HD_CH_EMAIL, "ada@example.com", NULL, 9);
    cr_assert_eq(hd_probe_run(probe, &hd_proc_dispatch, dispatcher, &in.rec), HD_PENDING);
    cr_assert_eq(hd_probe_drain(probe, &hd_proc_dispatch, dispatcher, hd_mono_us() / 1000 + 5000),
                 0);
    enum hd_verdict v;
    int64_t off;
    cr_assert_eq(hd_probe_completion(probe, 0, &v, &off), 0);
    cr_expect(v == HD_PASS && off == 9, "a FAILED status is an outcome, not a dead letter");
    cr_assert_eq(hd_probe_output_count(probe), 1);
    struct hd_status_event ev;
    status_of(0, HD_TOPIC_FAILED, &ev);
    cr_expect_str_eq(ev.reason_code, "provider_unavailable");
    cr_expect(strstr(ev.reason, "EMAIL.jsonl"), "%s", ev.reason);
    hd_status_event_clear(&ev);
    input_free(&in);
}

Test(dispatch, an_unknown_provider_override_falls_back_to_the_first)
{
    struct input in;
    input_make(&in, "n-7", HD_CH_EMAIL, "ada@example.com", "nonesuch", 10);
    cr_assert_eq(hd_probe_run(probe, &hd_proc_dispatch, dispatcher, &in.rec), HD_PENDING);
    cr_assert_eq(hd_probe_drain(probe, &hd_proc_dispatch, dispatcher, hd_mono_us() / 1000 + 5000),
                 0);
    struct hd_status_event ev;
    status_of(0, HD_TOPIC_SENT, &ev);
    cr_expect_str_eq(ev.provider, "outbox");
    hd_status_event_clear(&ev);
    input_free(&in);
}
