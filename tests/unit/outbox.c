/*
 * The outbox provider through the submit/complete contract of
 * connectors/channels/channel.h: outcomes come from poll with their tags, the
 * lines are in the channel's file, a failure is retriable and names its cause.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "connectors/channels/channel.h"
#include "core/config.h"

static char dir[64];
static struct hd_config cfg;
static struct hd_conf *conf;
static const struct hd_channel_provider *P; /* the outbox, from the registry */
static void *ob;

struct seen {
    int n;
    void *tags[8];
    enum hd_send_status st[8];
    char text[8][256];
};

static void on_done(void *opaque, void *tag, const struct hd_send_result *r)
{
    struct seen *s = opaque;
    cr_assert_lt(s->n, 8);
    s->tags[s->n] = tag;
    s->st[s->n] = r->status;
    snprintf(s->text[s->n], sizeof(s->text[0]), "%s",
             r->status == HD_SEND_OK ? r->provider_msg_id : r->error);
    s->n++;
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/hd-outbox-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    memset(&cfg, 0, sizeof(cfg));
    P = hd_channel_provider_find("outbox");
    cr_assert_not_null(P, "the outbox is registered");
    hd_config_plugin_set(&cfg, "outbox.dir", dir);
    char err[256];
    conf = hd_conf_load("outbox", P->config, &cfg, err, sizeof(err));
    cr_assert_not_null(conf, "%s", err);
    cr_assert_eq(P->init(&ob, conf, &cfg, err, sizeof(err)), 0, "%s", err);
}

static void teardown(void)
{
    P->exit(ob);
    hd_conf_destroy(conf);
    hd_config_clear(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(outbox, .init = setup, .fini = teardown);

static struct hd_dispatch message(const char *nid, enum hd_channel ch)
{
    struct hd_dispatch d;
    memset(&d, 0, sizeof(d));
    d.notification_id = (char *)nid;
    d.request_id = "r-1";
    d.tenant_id = "acme";
    d.user_id = "u-1";
    d.channel = ch;
    d.rendered.subject = "Hi";
    d.rendered.text = "Hello \"you\"";
    return d;
}

static int lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

Test(outbox, outcomes_come_from_poll_with_their_tags_and_the_lines_are_written)
{
    int tags[3];
    const char *ids[3] = {"n-1", "n-2", "n-3"};
    for (int i = 0; i < 3; i++) {
        struct hd_dispatch d = message(ids[i], HD_CH_EMAIL);
        cr_assert_eq(P->submit(ob, &d, &tags[i]), 0);
    }
    cr_assert_eq(P->inflight(ob), 3);
    struct seen s = {0};
    cr_assert_eq(P->poll(ob, 0, on_done, &s), 3);
    cr_assert_eq(P->inflight(ob), 0);
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(s.tags[i], &tags[i]);
        cr_expect_eq(s.st[i], HD_SEND_OK);
        char want[64];
        snprintf(want, sizeof(want), "outbox-%s", ids[i]);
        cr_expect_str_eq(s.text[i], want);
    }
    cr_assert_eq(P->poll(ob, 0, on_done, &s), 0, "each outcome once");
    char path[128];
    snprintf(path, sizeof(path), "%s/EMAIL.jsonl", dir);
    cr_expect_eq(lines(path), 3);
}

Test(outbox, a_write_that_fails_is_retriable_and_names_the_file)
{
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/SMS.jsonl", dir);
    cr_assert_eq(mkdir(sub, 0755), 0); /* a directory where the file should be */
    struct hd_dispatch d = message("n-9", HD_CH_SMS);
    int tag;
    cr_assert_eq(P->submit(ob, &d, &tag), 0);
    struct seen s = {0};
    cr_assert_eq(P->poll(ob, 0, on_done, &s), 1);
    cr_expect_eq(s.st[0], HD_SEND_RETRY);
    cr_expect(strstr(s.text[0], "SMS.jsonl"), "%s", s.text[0]);
}

Test(outbox, the_registry_lists_the_outbox_first)
{
    const struct hd_channel_provider *const *all;
    cr_assert_geq(hd_channel_providers(&all), 1);
    cr_expect_str_eq(all[0]->name, "outbox");
    cr_expect(all[0]->submit && all[0]->poll && all[0]->inflight);
}
