/*
 * render: turns a valid request into one Dispatch per channel on
 * herald.dispatch.<channel>, plus a QUEUED status each. The request's inline
 * `content` wins; otherwise the template it names is rendered per channel
 * from the template store (templates/template_store.h: version, locale
 * fallback, escaping by part, channel limits) in the recipient's locale and
 * time zone. The context is the request's variables plus its recipient and
 * ids. Inline content is not rendered but held to the same channel limits.
 * A template that is not there is dead-lettered as template_not_found, one
 * that fails to render, or output or inline content that breaks a channel
 * limit, as render_failed; either way no channel of the request is sent.
 * Notification ids are UUIDv5 of request id + channel, so a replay yields
 * the same ids.
 */
#include <string.h>

#include "core/uuid.h"
#include "processors/processor.h"
#include "tables/tables.h"
#include "templates/channel_limits.h"
#include "templates/template_store.h"

/* self is the task's renderer: its buffers and ICU formatters are reused across records. */
static int render_init(void **self, const struct hd_task_env *env, char *errstr, size_t errstr_size)
{
    *self = hd_tpl_renderer_new();
    return 0;
}

static void render_exit(void *self)
{
    hd_tpl_renderer_destroy(self);
}

static void set_default(json_t *obj, const char *name, const char *value)
{
    if (value && !json_object_get(obj, name))
        json_object_set_new(obj, name, json_string(value));
}

/* Only the fields the request has: in strict mode {{recipient.phone}} without a phone is
 * then an error that names it, not an empty string. */
static json_t *recipient_json(const struct hd_recipient *rc)
{
    json_t *o = json_object();
    if (rc) {
        set_default(o, "email", rc->email);
        set_default(o, "phone", rc->phone);
        set_default(o, "locale", rc->locale);
        set_default(o, "timezone", rc->timezone);
    }
    return o;
}

/* The render context: the variables at the root, plus recipient, user (the profile enrich
 * merged), user_id, tenant_id and request_id unless the variables define them. Returns a
 * new reference, or NULL. */
static json_t *render_context(const struct hd_request *r, json_t *user)
{
    json_error_t jerr;
    json_t *data = json_loads(r->variables_json ? r->variables_json : "{}", 0, &jerr);
    if (!json_is_object(data)) {
        json_decref(data);
        return NULL;
    }
    if (!json_object_get(data, "recipient"))
        json_object_set_new(data, "recipient", recipient_json(r->recipient));
    if (user && !json_object_get(data, "user"))
        json_object_set(data, "user", user);
    set_default(data, "user_id", r->user_id);
    set_default(data, "tenant_id", r->tenant_id);
    set_default(data, "request_id", r->request_id);
    return data;
}

/* Renders the request's template for one channel into out (new strings). */
static enum hd_verdict render_template(struct hd_tpl_renderer *tr, struct hd_ctx *ctx,
                                       const struct hd_request *r, enum hd_channel ch, json_t *data,
                                       struct hd_content *out)
{
    const struct hd_tables *t = hd_ctx_tables(ctx);
    const struct hd_tenant *tenant = hd_tables_tenant(t, r->tenant_id);
    const struct hd_template_ref *ref = r->template_ref;
    const struct hd_recipient *rc = r->recipient;
    struct hd_tpl_store_req q = {
        .tenant = r->tenant_id,
        .key = ref->key,
        .has_version = ref->has_version,
        .version = ref->version,
        .locale = ref->locale ? ref->locale
                  : rc        ? rc->locale
                              : NULL,
        .tenant_locale = tenant ? tenant->default_locale : NULL,
        .timezone = rc ? rc->timezone : NULL,
        .channel = ch,
        .data = data,
        .now_ms = hd_ctx_now(ctx),
    };
    char err[1024];
    int rv = hd_tpl_store_render(hd_tables_templates(t), tr, &q, out, err, sizeof(err));
    if (rv == HD_ERR_NOTFOUND)
        return hd_ctx_error(ctx, "template_not_found", "%s: %s", hd_channel_name(ch), err);
    if (rv != HD_OK)
        return hd_ctx_error(ctx, "render_failed", "%s: %s", hd_channel_name(ch), err);
    return HD_PASS;
}

/* Inline content is never rendered, but it is held to the channel limits a template's
 * output is (hd_limits_apply, with the template store's limits; an inline subject with a
 * line break is a header injection): each channel gets its own copy, whose push title and
 * text may be cut, and a broken limit is render_failed. */
static enum hd_verdict render_inline(struct hd_ctx *ctx, const struct hd_request *r,
                                     struct hd_content *out)
{
    struct hd_channel_limits l;
    hd_tpl_store_limits(hd_tables_templates(hd_ctx_tables(ctx)), &l);
    memset(out, 0, r->channel_cnt * sizeof(*out));
    for (size_t i = 0; i < r->channel_cnt; i++) {
        enum hd_channel ch = r->channels[i];
        hd_content_copy(&out[i], r->content);
        /* the parts the limits look at: the subject (EMAIL), else the title and the text */
        char **first = ch == HD_CH_EMAIL ? &out[i].subject
                       : ch == HD_CH_PUSH ? &out[i].title
                                          : &out[i].text;
        char **second = ch == HD_CH_PUSH ? &out[i].text : NULL;
        struct hd_buf a = HD_BUF_INIT, b = HD_BUF_INIT;
        if (*first)
            hd_buf_puts(&a, *first);
        if (second && *second)
            hd_buf_puts(&b, *second);
        const char *part = NULL;
        char err[256];
        int rc = hd_limits_apply(&l, ch, &a, &b, &part, err, sizeof(err));
        if (rc == HD_OK && ch == HD_CH_PUSH) { /* cut parts replace the copy's; absent stay */
            char **parts[] = {first, second};
            struct hd_buf *bufs[] = {&a, &b};
            for (size_t k = 0; k < 2; k++)
                if (*parts[k]) {
                    hd_free(*parts[k]);
                    *parts[k] = hd_buf_steal(bufs[k]);
                }
        }
        hd_buf_free(&a);
        hd_buf_free(&b);
        if (rc)
            return hd_ctx_error(ctx, "render_failed", "%s: inline content.%s: %s",
                                hd_channel_name(ch), part, err);
    }
    return HD_PASS;
}

/* Every channel's content into out[]: rendered from the template, or a copy of the inline
 * content. *owned says whether out[] holds strings to clear. */
static enum hd_verdict render_all(struct hd_tpl_renderer *tr, struct hd_ctx *ctx,
                                  const struct hd_request *r, json_t *user,
                                  struct hd_content *out, int *owned)
{
    *owned = 0;
    if (r->content) {
        *owned = 1;
        return render_inline(ctx, r, out);
    }
    if (!r->template_ref || !r->template_ref->key)
        return hd_ctx_error(ctx, "template_not_found",
                            "the request has no content and no template");
    json_t *data = render_context(r, user);
    if (!data)
        return hd_ctx_error(ctx, "invalid_variables", "variables_json: not a JSON object");
    *owned = 1;
    memset(out, 0, r->channel_cnt * sizeof(*out));
    enum hd_verdict v = HD_PASS;
    for (size_t i = 0; i < r->channel_cnt && v == HD_PASS; i++)
        v = render_template(tr, ctx, r, r->channels[i], data, &out[i]);
    json_decref(data);
    return v;
}

/* The Dispatch and the QUEUED status of one channel. Returns 0, or -1 when either could not
 * be queued. */
static int emit_channel(struct hd_ctx *ctx, const struct hd_request *r, enum hd_channel ch,
                        const struct hd_content *content)
{
    char nid[HD_UUID_STRLEN];
    hd_notification_id(r->request_id, hd_channel_name(ch), nid);
    struct hd_dispatch d;
    memset(&d, 0, sizeof(d));
    d.notification_id = nid;
    d.request_id = r->request_id;
    d.tenant_id = r->tenant_id;
    d.user_id = r->user_id;
    d.channel = ch;
    d.category = r->category;
    d.priority = r->priority;
    d.provider = r->provider;
    d.batch_id = r->batch_id;
    d.recipient = r->recipient;
    d.rendered = *content;
    d.metadata = r->metadata;
    d.created_at = r->created_at;
    struct hd_status_event ev;
    hd_ctx_status_for(ctx, &ev, r, ch, HD_ST_QUEUED, nid);
    return hd_ctx_emit_dispatch(ctx, &d) || hd_ctx_emit_status(ctx, &ev) ? -1 : 0;
}

static enum hd_verdict render_process(void *self, struct hd_ctx *ctx, struct hd_record *rec)
{
    const struct hd_request *r = &rec->req;
    if (r->channel_cnt > HD_CH__CNT) /* validate refuses repeated channels; keep out[] safe */
        return hd_ctx_error(ctx, "duplicate_channel", "more channels than there are channels");
    struct hd_content rendered[HD_CH__CNT];
    int owned;
    enum hd_verdict v = render_all(self, ctx, r, rec->user, rendered, &owned);
    /* a channel that cannot be queued aborts the transaction: the runtime sees to it */
    for (size_t i = 0; i < r->channel_cnt && v == HD_PASS; i++)
        if (emit_channel(ctx, r, r->channels[i], &rendered[i]))
            break;
    for (size_t i = 0; i < r->channel_cnt && owned; i++)
        hd_content_clear(&rendered[i]);
    return v;
}

const struct hd_processor hd_proc_render = {
    .name = "render",
    .input = HD_PAYLOAD_REQUEST,
    .init = render_init,
    .process = render_process,
    .exit = render_exit,
};
