/*
 * validate: schema-level decoding already happened in the runtime; this is
 * the semantic check (see validate.h). Invalid -> ERROR (dead letter with the
 * field named); expired -> SKIP with reason "expired".
 */
#include "processors/validate.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "processors/processor.h"

int hd_valid_e164(const char *s)
{
    if (!s || s[0] != '+' || s[1] < '1' || s[1] > '9')
        return 0;
    size_t n = 0;
    for (const char *p = s + 1; *p; p++, n++)
        if (!isdigit((unsigned char)*p))
            return 0;
    return n >= 3 && n <= 15;
}

static int atext(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+/=?^_`{|}~-", c));
}

int hd_valid_email(const char *s)
{
    if (!s)
        return 0;
    const char *at = strrchr(s, '@');
    size_t len = strlen(s);
    if (!at || len > 254)
        return 0;
    size_t local = (size_t)(at - s);
    if (local == 0 || local > 64)
        return 0;
    /* dot-atom: no leading, trailing or double dots */
    if (s[0] == '.' || s[local - 1] == '.')
        return 0;
    for (size_t i = 0; i < local; i++) {
        if (s[i] == '.') {
            if (s[i + 1] == '.')
                return 0;
        } else if (!atext((unsigned char)s[i])) {
            return 0;
        }
    }
    const char *d = at + 1;
    size_t dlen = strlen(d), label = 0, dots = 0;
    if (dlen == 0 || dlen > 253)
        return 0;
    for (size_t i = 0; i <= dlen; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || d[i - 1] == '-')
                return 0;
            if (c == '.')
                dots++;
            label = 0;
        } else if (isalnum(c) || c == '-') {
            if (label == 0 && c == '-')
                return 0;
            label++;
        } else {
            return 0;
        }
    }
    return dots >= 1;
}

static enum hd_validation fail(const char **code, const char *c, char *msg, size_t msg_size,
                               const char *fmt, ...) HD_PRINTF(5, 6);
static enum hd_validation fail(const char **code, const char *c, char *msg, size_t msg_size,
                               const char *fmt, ...)
{
    *code = c;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msg_size, fmt, ap);
    va_end(ap);
    return HD_INVALID;
}

#define CHECK_LEN(field, value, max)                                                               \
    do {                                                                                           \
        if ((value) && strlen(value) > (max))                                                      \
            return fail(code, "too_large", msg, msg_size, "%s: longer than %d bytes", field,      \
                        (int)(max));                                                               \
    } while (0)

static enum hd_validation check_content(const struct hd_content *c, const char **code, char *msg,
                                        size_t msg_size)
{
    CHECK_LEN("content.subject", c->subject, HD_MAX_SUBJECT_LEN);
    CHECK_LEN("content.title", c->title, HD_MAX_TITLE_LEN);
    CHECK_LEN("content.text", c->text, HD_MAX_TEXT_LEN);
    CHECK_LEN("content.html", c->html, HD_MAX_HTML_LEN);
    if (c->data.cnt > HD_MAX_MAP_ENTRIES)
        return fail(code, "too_large", msg, msg_size, "content.data: more than %d entries",
                    HD_MAX_MAP_ENTRIES);
    if (!(c->text && *c->text) && !(c->html && *c->html) && !(c->title && *c->title) &&
        !(c->subject && *c->subject))
        return fail(code, "missing_content", msg, msg_size,
                    "content: needs at least one of subject, title, text, html");
    return HD_VALID;
}

static enum hd_validation check_recipient(const struct hd_recipient *rc, const char **code,
                                          char *msg, size_t msg_size)
{
    if (rc->email && !hd_valid_email(rc->email))
        return fail(code, "invalid_email", msg, msg_size,
                    "recipient.email: not a valid e-mail address");
    if (rc->phone && !hd_valid_e164(rc->phone))
        return fail(code, "invalid_phone", msg, msg_size,
                    "recipient.phone: not an E.164 number (+ and up to 15 digits)");
    CHECK_LEN("recipient.webhook_url", rc->webhook_url, 2048);
    if (rc->webhook_url && strncmp(rc->webhook_url, "https://", 8) &&
        strncmp(rc->webhook_url, "http://", 7))
        return fail(code, "invalid_url", msg, msg_size, "recipient.webhook_url: not an http(s) URL");
    return HD_VALID;
}

enum hd_validation hd_validate_request(const struct hd_request *r, const struct hd_tables *t,
                                       int64_t now_ms, const char **code, char *msg,
                                       size_t msg_size)
{
    if (!r->tenant_id || !*r->tenant_id)
        return fail(code, "invalid_request", msg, msg_size, "tenant_id: required");
    if (!r->user_id || !*r->user_id)
        return fail(code, "invalid_request", msg, msg_size, "user_id: required");
    if (!r->request_id || !*r->request_id)
        return fail(code, "invalid_request", msg, msg_size, "request_id: required");
    CHECK_LEN("request_id", r->request_id, HD_MAX_ID_LEN);
    CHECK_LEN("tenant_id", r->tenant_id, HD_MAX_ID_LEN);
    CHECK_LEN("user_id", r->user_id, HD_MAX_ID_LEN);
    CHECK_LEN("idempotency_key", r->idempotency_key, 256);
    CHECK_LEN("batch_id", r->batch_id, HD_MAX_ID_LEN);
    if (!hd_tables_tenant(t, r->tenant_id))
        return fail(code, "unknown_tenant", msg, msg_size, "tenant_id: unknown tenant \"%.128s\"",
                    r->tenant_id);
    if (r->channel_cnt == 0)
        return fail(code, "no_channels", msg, msg_size, "channels: at least one channel is needed");
    unsigned seen = 0;
    for (size_t i = 0; i < r->channel_cnt; i++) {
        if ((unsigned)r->channels[i] >= HD_CH__CNT)
            return fail(code, "unknown_channel", msg, msg_size, "channels[%zu]: unknown", i);
        if (seen & (1u << r->channels[i]))
            return fail(code, "duplicate_channel", msg, msg_size, "channels[%zu]: %s repeated", i,
                        hd_channel_name(r->channels[i]));
        seen |= 1u << r->channels[i];
    }
    if (!r->content && !r->template_ref)
        return fail(code, "missing_content", msg, msg_size, "content: a content or a template is required");
    if (r->template_ref && (!r->template_ref->key || !*r->template_ref->key))
        return fail(code, "invalid_request", msg, msg_size, "template.key: required");
    enum hd_validation v;
    if (r->content && (v = check_content(r->content, code, msg, msg_size)) != HD_VALID)
        return v;
    if (r->recipient && (v = check_recipient(r->recipient, code, msg, msg_size)) != HD_VALID)
        return v;
    if (r->variables_json) {
        if (strlen(r->variables_json) > HD_MAX_VARIABLES_LEN)
            return fail(code, "too_large", msg, msg_size, "variables_json: longer than %d bytes",
                        HD_MAX_VARIABLES_LEN);
        json_error_t jerr;
        json_t *vars = json_loads(r->variables_json, 0, &jerr);
        int is_obj = json_is_object(vars);
        json_decref(vars);
        if (!is_obj)
            return fail(code, "invalid_variables", msg, msg_size,
                        "variables_json: not a JSON object");
    }
    if (r->metadata.cnt > HD_MAX_MAP_ENTRIES)
        return fail(code, "too_large", msg, msg_size, "metadata: more than %d entries",
                    HD_MAX_MAP_ENTRIES);
    if (r->has_expires_at && r->expires_at <= now_ms) {
        *code = "expired";
        snprintf(msg, msg_size, "expires_at passed before processing");
        return HD_EXPIRED;
    }
    return HD_VALID;
}

static enum hd_verdict validate_process(void *self, struct hd_ctx *ctx, struct hd_record *rec)
{
    const char *code = NULL;
    char msg[512];
    switch (hd_validate_request(&rec->req, hd_ctx_tables(ctx), hd_ctx_now(ctx), &code, msg,
                                sizeof(msg))) {
    case HD_VALID:
        return HD_PASS;
    case HD_EXPIRED:
        return hd_ctx_skip(ctx, code, "%s", msg);
    default:
        return hd_ctx_error(ctx, code, "%s", msg);
    }
}

const struct hd_processor hd_proc_validate = {
    .name = "validate",
    .input = HD_PAYLOAD_REQUEST,
    .process = validate_process,
};
