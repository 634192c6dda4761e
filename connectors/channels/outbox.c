/*
 * The outbox provider: appends each message as one JSON line to
 * <HERALD_OUTBOX_DIR>/<channel>.jsonl (for the demo and tests). One write(2)
 * per line on an O_APPEND descriptor, so concurrent writers never interleave
 * within a line. At-least-once like every call outside Kafka: after a crash a
 * line may appear twice; the notification id tells them apart.
 * A local append takes microseconds, so submit writes at once and queues the
 * outcome; poll hands the queued outcomes over (channel.h's contract).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connectors/channels/channel.h"
#include "core/buf.h"
#include "core/hd.h"

struct done {
    void *tag;
    enum hd_send_status status;
    char *text; /* provider message id or error */
};

struct outbox {
    char *dir;
    int fds[HD_CH__CNT];
    struct hd_buf line;
    struct done *done; /* outcomes not yet handed over by poll */
    size_t done_cnt, done_cap;
};

static const struct hd_conf_entry outbox_config[] = {
    {"dir", HD_CONF_STRING, "./herald-outbox", "HERALD_OUTBOX_DIR", 0, 0, 0,
     "directory of the <CHANNEL>.jsonl files, made when missing"},
    {NULL, 0, NULL, NULL, 0, 0, 0, NULL},
};

static int outbox_init(void **self, const struct hd_conf *conf, const struct hd_config *c,
                       char *errstr, size_t errstr_size)
{
    (void)c;
    char e[512];
    const char *dir = hd_conf_str(conf, "dir");
    if (hd_mkdir_p(dir, e, sizeof(e)))
        return hd_seterr(-1, errstr, errstr_size, "outbox: %s", e);
    struct outbox *o = hd_calloc(1, sizeof(*o));
    o->dir = hd_strdup(dir);
    for (int i = 0; i < HD_CH__CNT; i++)
        o->fds[i] = -1;
    *self = o;
    return 0;
}

/* Appends "k":"v" (preceded by a comma unless *first); nothing when v is NULL. */
static void put_field(struct hd_buf *b, int *first, const char *k, const char *v)
{
    if (!v)
        return;
    hd_buf_printf(b, "%s\"%s\":", *first ? "" : ",", k);
    *first = 0;
    hd_buf_put_json_string(b, v, strlen(v));
}

void hd_dispatch_to_json(const struct hd_dispatch *d, struct hd_buf *b)
{
    int first = 1;
    hd_buf_putc(b, '{');
    put_field(b, &first, "notification_id", d->notification_id);
    put_field(b, &first, "request_id", d->request_id);
    put_field(b, &first, "tenant_id", d->tenant_id);
    put_field(b, &first, "user_id", d->user_id);
    put_field(b, &first, "channel", hd_channel_name(d->channel));
    put_field(b, &first, "category", hd_category_name(d->category));
    if (d->recipient) {
        int rfirst = 1;
        hd_buf_puts(b, ",\"recipient\":{");
        put_field(b, &rfirst, "email", d->recipient->email);
        put_field(b, &rfirst, "phone", d->recipient->phone);
        put_field(b, &rfirst, "webhook_url", d->recipient->webhook_url);
        hd_buf_putc(b, '}');
    }
    put_field(b, &first, "subject", d->rendered.subject);
    put_field(b, &first, "title", d->rendered.title);
    put_field(b, &first, "text", d->rendered.text);
    put_field(b, &first, "html", d->rendered.html);
    hd_buf_printf(b, ",\"attempt\":%d}", d->attempt);
}

/* Writes d's line. Returns the outcome; `text` gets the message id or the error. */
static enum hd_send_status outbox_write(struct outbox *o, const struct hd_dispatch *d,
                                        char *text, size_t text_size)
{
    if ((unsigned)d->channel >= HD_CH__CNT) {
        snprintf(text, text_size, "outbox: unknown channel");
        return HD_SEND_FAIL;
    }
    int *fd = &o->fds[d->channel];
    if (*fd < 0) {
        char path[1200];
        snprintf(path, sizeof(path), "%s/%s.jsonl", o->dir, hd_channel_name(d->channel));
        *fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (*fd < 0) {
            snprintf(text, text_size, "outbox: open %s: %s", path, strerror(errno));
            return HD_SEND_RETRY;
        }
    }
    hd_buf_reset(&o->line);
    hd_dispatch_to_json(d, &o->line);
    hd_buf_putc(&o->line, '\n');
    ssize_t w = write(*fd, o->line.data, o->line.len);
    if (w != (ssize_t)o->line.len) {
        snprintf(text, text_size, "outbox: write: %s", w < 0 ? strerror(errno) : "short write");
        close(*fd);
        *fd = -1;
        return HD_SEND_RETRY;
    }
    snprintf(text, text_size, "outbox-%s", d->notification_id);
    return HD_SEND_OK;
}

static int outbox_submit(void *self, const struct hd_dispatch *d, void *tag)
{
    struct outbox *o = self;
    char text[1400];
    enum hd_send_status st = outbox_write(o, d, text, sizeof(text));
    if (o->done_cnt == o->done_cap) {
        o->done_cap = o->done_cap ? o->done_cap * 2 : 64;
        o->done = hd_realloc(o->done, o->done_cap * sizeof(*o->done));
    }
    o->done[o->done_cnt++] = (struct done){tag, st, hd_strdup(text)};
    return 0;
}

static int outbox_poll(void *self, int timeout_ms, hd_send_done_fn *done, void *opaque)
{
    (void)timeout_ms; /* every outcome is ready when submit returns */
    struct outbox *o = self;
    size_t n = o->done_cnt;
    /* a callback may submit again (a retry): hand over only what was queued before */
    for (size_t i = 0; i < n; i++) {
        struct done d = o->done[i];
        struct hd_send_result r = {d.status, d.status == HD_SEND_OK ? d.text : NULL,
                                   d.status == HD_SEND_OK ? NULL : d.text};
        done(opaque, d.tag, &r);
        hd_free(d.text);
    }
    memmove(o->done, o->done + n, (o->done_cnt - n) * sizeof(*o->done));
    o->done_cnt -= n;
    return (int)n;
}

static size_t outbox_inflight(void *self)
{
    return ((struct outbox *)self)->done_cnt;
}

static void outbox_exit(void *self)
{
    struct outbox *o = self;
    for (int i = 0; i < HD_CH__CNT; i++)
        if (o->fds[i] >= 0)
            close(o->fds[i]);
    hd_buf_free(&o->line);
    for (size_t i = 0; i < o->done_cnt; i++)
        hd_free(o->done[i].text);
    hd_free(o->done);
    hd_free(o->dir);
    hd_free(o);
}

const struct hd_channel_provider hd_provider_outbox = {
    .name = "outbox",
    .init = outbox_init,
    .submit = outbox_submit,
    .poll = outbox_poll,
    .inflight = outbox_inflight,
    .exit = outbox_exit,
    .config = outbox_config,
};
