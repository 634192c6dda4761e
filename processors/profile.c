/*
 * Profiles and the merge of a request's recipient with one (profile.h).
 */
#include "processors/profile.h"

#include <string.h>

#include "core/hd.h"
#include "processors/validate.h"

static const char *const string_members[] = {"id", "email", "phone", "locale", "timezone",
                                             "first_name", "last_name", "user_type",
                                             "webhook_url", NULL};

int hd_profile_check(json_t *p, char *errstr, size_t errstr_size)
{
    if (!json_is_object(p))
        return hd_seterr(-1, errstr, errstr_size, "profile: expected an object");
    for (const char *const *m = string_members; *m; m++) {
        json_t *v = json_object_get(p, *m);
        if (v && !json_is_null(v) && !json_is_string(v))
            return hd_seterr(-1, errstr, errstr_size, "%s: expected a string", *m);
    }
    const char *phone = json_string_value(json_object_get(p, "phone"));
    if (phone && !hd_valid_e164(phone))
        return hd_seterr(-1, errstr, errstr_size, "phone: expected E.164 (+ and up to 15 digits)");
    json_t *toks = json_object_get(p, "push_tokens"), *t;
    size_t i;
    if (toks && !json_is_null(toks) && !json_is_array(toks))
        return hd_seterr(-1, errstr, errstr_size, "push_tokens: expected an array");
    json_array_foreach(toks, i, t)
    {
        if (json_is_string(t))
            continue;
        if (!json_is_object(t) || !json_is_string(json_object_get(t, "token")))
            return hd_seterr(-1, errstr, errstr_size, "push_tokens[%zu].token: expected a string",
                             i);
        json_t *pl = json_object_get(t, "platform");
        if (pl && !json_is_string(pl))
            return hd_seterr(-1, errstr, errstr_size,
                             "push_tokens[%zu].platform: expected a string", i);
    }
    json_t *prefs = json_object_get(p, "preferences"), *chat = json_object_get(p, "chat");
    if (prefs && !json_is_null(prefs) && !json_is_object(prefs))
        return hd_seterr(-1, errstr, errstr_size, "preferences: expected an object");
    if (chat && !json_is_null(chat) && !json_is_object(chat))
        return hd_seterr(-1, errstr, errstr_size, "chat: expected an object");
    return 0;
}

/* *dst = the profile's member when the request left it null */
static void fill(char **dst, json_t *profile, const char *member)
{
    const char *v = json_string_value(json_object_get(profile, member));
    if (!*dst && v && *v)
        *dst = hd_strdup(v);
}

static void set_str(json_t *o, const char *name, const char *v)
{
    if (v)
        json_object_set_new(o, name, json_string(v));
}

json_t *hd_profile_merge(struct hd_request *r, json_t *profile)
{
    int own_tokens = r->recipient && r->recipient->push_token_cnt;
    if (profile && json_is_object(profile)) {
        if (!r->recipient)
            r->recipient = hd_calloc(1, sizeof(*r->recipient));
        struct hd_recipient *rc = r->recipient;
        fill(&rc->email, profile, "email");
        fill(&rc->phone, profile, "phone");
        fill(&rc->locale, profile, "locale");
        fill(&rc->timezone, profile, "timezone");
        fill(&rc->webhook_url, profile, "webhook_url");
        json_t *toks = json_object_get(profile, "push_tokens"), *t;
        size_t i, n = json_array_size(toks);
        if (!rc->push_token_cnt && n) {
            hd_free(rc->push_tokens); /* an empty array */
            rc->push_tokens = hd_calloc(n, sizeof(char *));
            json_array_foreach(toks, i, t)
            {
                const char *s = json_is_string(t) ? json_string_value(t)
                                                  : json_string_value(json_object_get(t, "token"));
                if (s && *s)
                    rc->push_tokens[rc->push_token_cnt++] = hd_strdup(s);
            }
        }
    }
    json_t *user = json_is_object(profile) ? json_deep_copy(profile) : json_object();
    const struct hd_recipient *rc = r->recipient;
    if (rc) {
        set_str(user, "email", rc->email);
        set_str(user, "phone", rc->phone);
        set_str(user, "locale", rc->locale);
        set_str(user, "timezone", rc->timezone);
        set_str(user, "webhook_url", rc->webhook_url);
        if (own_tokens) {
            json_t *a = json_array();
            for (size_t i = 0; i < rc->push_token_cnt; i++)
                json_array_append_new(a, json_string(rc->push_tokens[i]));
            json_object_set_new(user, "push_tokens", a);
        }
    }
    set_str(user, "id", r->user_id);
    return user;
}

const char *hd_profile_missing(const struct hd_recipient *rc, enum hd_channel ch)
{
    switch (ch) {
    case HD_CH_EMAIL:
        return rc && rc->email && *rc->email ? NULL : "recipient.email";
    case HD_CH_SMS:
    case HD_CH_WHATSAPP:
        return rc && rc->phone && *rc->phone ? NULL : "recipient.phone";
    case HD_CH_PUSH:
        return rc && rc->push_token_cnt ? NULL : "recipient.push_tokens";
    case HD_CH_WEBHOOK:
        return rc && rc->webhook_url && *rc->webhook_url ? NULL : "recipient.webhook_url";
    default:
        return NULL;
    }
}
