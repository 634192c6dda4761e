/*
 * The preference decision (prefs_rules.h).
 */
#include "processors/prefs_rules.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/hd.h"
#include "core/time.h"
#include "core/tz.h"

void hd_prefs_defaults(struct hd_prefs *p)
{
    memset(p, 0, sizeof(*p));
    p->quiet_channel[HD_CH_SMS] = p->quiet_channel[HD_CH_PUSH] = 1;
    p->quiet_channel[HD_CH_WHATSAPP] = p->quiet_channel[HD_CH_CHAT] = 1;
    p->quiet_bypass_prio[HD_PRIO_URGENT] = 1;
    p->quiet_bypass_cat[HD_CAT_ALERT] = 1;
}

/* "HH:MM" -> minutes after midnight; -1 when malformed. */
static int parse_hhmm(const char *s)
{
    if (!s || strlen(s) != 5 || s[2] != ':')
        return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    return h > 23 || m > 59 ? -1 : h * 60 + m;
}

static int parse_time(json_t *v, int64_t *ms)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *ms = json_integer_value(v);
        return 0;
    }
    return json_is_string(v) && hd_time_parse_iso8601(json_string_value(v), ms) == 0 ? 0 : -1;
}

static int apply_channels(struct hd_prefs *p, json_t *o, char *err, size_t n)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        int ch = hd_channel_parse(k);
        if (ch < 0)
            return hd_seterr(-1, err, n, "channels.%s: unknown channel", k);
        if (!json_is_boolean(v))
            return hd_seterr(-1, err, n, "channels.%s: expected true or false", k);
        p->channel_off[ch] = !json_is_true(v);
    }
    return 0;
}

static int apply_categories(struct hd_prefs *p, json_t *o, char *err, size_t n)
{
    const char *k, *ck;
    json_t *v, *cv;
    json_object_foreach(o, k, v) {
        int ch = hd_channel_parse(k);
        if (ch < 0 || !json_is_object(v))
            return hd_seterr(-1, err, n, "categories.%s: %s", k,
                             ch < 0 ? "unknown channel" : "expected an object");
        json_object_foreach(v, ck, cv) {
            int cat = hd_category_parse(ck);
            if (cat < 0 || !json_is_boolean(cv))
                return hd_seterr(-1, err, n, "categories.%s.%s: %s", k, ck,
                                 cat < 0 ? "unknown category" : "expected true or false");
            p->category_off[ch][cat] = !json_is_true(cv);
        }
    }
    return 0;
}

/* "bypass_priorities" / "bypass_categories": a list of symbols replacing the set. */
static int apply_bypass(unsigned char *set, size_t cnt, json_t *list, int (*parse)(const char *),
                        const char *member, char *err, size_t n)
{
    if (!list)
        return 0;
    if (!json_is_array(list))
        return hd_seterr(-1, err, n, "quiet_hours.%s: expected an array", member);
    memset(set, 0, cnt);
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c) {
        int v = parse(json_is_string(c) ? json_string_value(c) : "");
        if (v < 0)
            return hd_seterr(-1, err, n, "quiet_hours.%s[%zu]: unknown symbol", member, i);
        set[v] = 1;
    }
    return 0;
}

static int apply_quiet(struct hd_prefs *p, json_t *o, char *err, size_t n)
{
    if (apply_bypass(p->quiet_bypass_prio, HD_PRIO__CNT,
                     json_object_get(o, "bypass_priorities"), hd_priority_parse,
                     "bypass_priorities", err, n) ||
        apply_bypass(p->quiet_bypass_cat, HD_CAT__CNT, json_object_get(o, "bypass_categories"),
                     hd_category_parse, "bypass_categories", err, n))
        return -1;
    if (!json_object_get(o, "start") && !json_object_get(o, "end") &&
        !json_object_get(o, "channels"))
        return 0;
    int s = parse_hhmm(json_string_value(json_object_get(o, "start")));
    int e = parse_hhmm(json_string_value(json_object_get(o, "end")));
    if (s < 0 || e < 0)
        return hd_seterr(-1, err, n, "quiet_hours.%s: expected HH:MM", s < 0 ? "start" : "end");
    json_t *chans = json_object_get(o, "channels");
    if (chans) {
        size_t i;
        json_t *c;
        if (!json_is_array(chans))
            return hd_seterr(-1, err, n, "quiet_hours.channels: expected an array");
        memset(p->quiet_channel, 0, sizeof(p->quiet_channel));
        json_array_foreach(chans, i, c) {
            int ch = hd_channel_parse(json_string_value(c));
            if (ch < 0)
                return hd_seterr(-1, err, n, "quiet_hours.channels[%zu]: unknown channel", i);
            p->quiet_channel[ch] = 1;
        }
    }
    p->quiet = s != e;
    p->quiet_start = s;
    p->quiet_end = e;
    return 0;
}

int hd_prefs_apply(struct hd_prefs *p, json_t *layer, char *err, size_t n)
{
    if (!json_is_object(layer))
        return hd_seterr(-1, err, n, "preferences: expected an object");
    json_t *v;
    if ((v = json_object_get(layer, "channels")) &&
        (!json_is_object(v) ? hd_seterr(-1, err, n, "channels: expected an object")
                            : apply_channels(p, v, err, n)))
        return -1;
    if ((v = json_object_get(layer, "categories")) &&
        (!json_is_object(v) ? hd_seterr(-1, err, n, "categories: expected an object")
                            : apply_categories(p, v, err, n)))
        return -1;
    if ((v = json_object_get(layer, "consent"))) {
        json_t *m = json_object_get(v, "marketing");
        if (!json_is_object(v) || (m && !json_is_object(m)))
            return hd_seterr(-1, err, n, "consent%s: expected an object", m ? ".marketing" : "");
        if (m && parse_time(json_object_get(m, "at"), &p->consent_at))
            return hd_seterr(-1, err, n, "consent.marketing.at: expected an ISO-8601 time");
        if (m) {
            const char *src = json_string_value(json_object_get(m, "source"));
            snprintf(p->consent_source, sizeof(p->consent_source), "%s", src ? src : "");
            p->consent = 1;
        }
    }
    if ((v = json_object_get(layer, "timezone"))) {
        if (!json_is_string(v) || strlen(json_string_value(v)) >= sizeof(p->timezone))
            return hd_seterr(-1, err, n, "timezone: expected an IANA time zone name");
        snprintf(p->timezone, sizeof(p->timezone), "%s", json_string_value(v));
    }
    if ((v = json_object_get(layer, "quiet_hours")) &&
        (!json_is_object(v) ? hd_seterr(-1, err, n, "quiet_hours: expected an object")
                            : apply_quiet(p, v, err, n)))
        return -1;
    if ((v = json_object_get(layer, "dnd"))) {
        json_t *until = json_object_get(v, "until"), *on = json_object_get(v, "on");
        if (!json_is_object(v) || (!until && !json_is_boolean(on)))
            return hd_seterr(-1, err, n, "dnd: expected {\"until\": TIME} or {\"on\": BOOL}");
        if (until && parse_time(until, &p->dnd_until))
            return hd_seterr(-1, err, n, "dnd.until: expected an ISO-8601 time");
        p->dnd = until ? 1 : json_is_true(on);
        if (!until)
            p->dnd_until = 0;
    }
    return 0;
}

static void decide(struct hd_pref_decision *d, enum hd_pref_verdict v, const char *code)
{
    d->verdict = v;
    d->code = code;
}

void hd_prefs_decide(const struct hd_prefs *p, const char *tenant_tz, enum hd_channel ch,
                     enum hd_category cat, enum hd_priority prio, int64_t now_ms,
                     struct hd_pref_decision *d)
{
    memset(d, 0, sizeof(*d));
    const char *chn = hd_channel_name(ch), *catn = hd_category_name(cat);
    if (p->channel_off[ch]) {
        decide(d, HD_PREF_SKIP, "channel_disabled");
        snprintf(d->reason, sizeof(d->reason), "the user turned %s off", chn);
        return;
    }
    if (p->category_off[ch][cat]) {
        decide(d, HD_PREF_SKIP, "category_opted_out");
        snprintf(d->reason, sizeof(d->reason), "the user opted out of %s on %s", catn, chn);
        return;
    }
    if (cat == HD_CAT_MARKETING && !p->consent) {
        decide(d, HD_PREF_SKIP, "no_consent");
        snprintf(d->reason, sizeof(d->reason), "no recorded consent to MARKETING");
        return;
    }
    int urgent = prio == HD_PRIO_URGENT;
    if (p->dnd && (!p->dnd_until || now_ms < p->dnd_until) && !urgent && ch != HD_CH_IN_APP) {
        char until[40] = "further notice";
        if (p->dnd_until)
            hd_time_iso8601(p->dnd_until, until, sizeof(until));
        decide(d, HD_PREF_SKIP, "dnd");
        snprintf(d->reason, sizeof(d->reason), "do not disturb until %s", until);
        return;
    }
    if (!p->quiet || !p->quiet_channel[ch] || p->quiet_bypass_prio[prio] ||
        p->quiet_bypass_cat[cat]) {
        decide(d, HD_PREF_SEND, NULL);
        return;
    }
    const char *tz = p->timezone, *note = "";
    if (!hd_tz_valid(tz)) {
        note = *tz ? " (the user's time zone is unknown: the tenant's)" : "";
        tz = hd_tz_valid(tenant_tz) ? tenant_tz : "UTC";
    }
    int64_t until = 0;
    if (hd_tz_in_window(tz, p->quiet_start, p->quiet_end, now_ms, &until, NULL, 0) != 1) {
        decide(d, HD_PREF_SEND, NULL);
        return;
    }
    char local[40];
    hd_tz_format(tz, until, local, sizeof(local));
    decide(d, HD_PREF_DEFER, "quiet_hours");
    d->until_ms = until;
    snprintf(d->reason, sizeof(d->reason), "quiet hours %02d:%02d-%02d:%02d %s until %s%s",
             p->quiet_start / 60, p->quiet_start % 60, p->quiet_end / 60, p->quiet_end % 60, tz,
             local, note);
}

/* ---- suppressions ---- */

static const char *const supp_names[HD_SUPP__CNT] = {"hard_bounce", "soft_bounce", "complaint",
                                                     "unsubscribe"};

const char *hd_supp_reason_name(enum hd_supp_reason r)
{
    return (unsigned)r < HD_SUPP__CNT ? supp_names[r] : "unknown";
}

int hd_suppression_parse(json_t *v, struct hd_suppression *s, char *err, size_t n)
{
    memset(s, 0, sizeof(*s));
    s->category = -1;
    if (!json_is_object(v))
        return hd_seterr(-1, err, n, "suppression: expected an object");
    int ch = hd_channel_parse(json_string_value(json_object_get(v, "channel")));
    if (ch < 0)
        return hd_seterr(-1, err, n, "channel: expected a channel (EMAIL, SMS, ...)");
    s->channel = (enum hd_channel)ch;
    const char *addr = json_string_value(json_object_get(v, "address"));
    if (!addr || !*addr || strlen(addr) >= sizeof(s->address) || strchr(addr, 0x1f))
        return hd_seterr(-1, err, n, "address: expected a non-empty string (or \"*\")");
    snprintf(s->address, sizeof(s->address), "%s", addr);
    const char *why = json_string_value(json_object_get(v, "reason"));
    s->reason = HD_SUPP__CNT;
    for (int i = 0; why && i < HD_SUPP__CNT; i++)
        if (!strcmp(why, supp_names[i]))
            s->reason = (enum hd_supp_reason)i;
    if (s->reason == HD_SUPP__CNT)
        return hd_seterr(-1, err, n, "reason: expected hard_bounce, soft_bounce, complaint or "
                                     "unsubscribe");
    json_t *cat = json_object_get(v, "category");
    if (cat && !json_is_null(cat) &&
        (s->category = hd_category_parse(json_is_string(cat) ? json_string_value(cat) : "")) < 0)
        return hd_seterr(-1, err, n, "category: unknown category");
    if (s->category >= 0 && s->reason != HD_SUPP_UNSUBSCRIBE)
        return hd_seterr(-1, err, n, "category: only an unsubscribe names a category");
    if (parse_time(json_object_get(v, "at"), &s->at))
        return hd_seterr(-1, err, n, "at: expected an ISO-8601 time or epoch ms");
    json_t *until = json_object_get(v, "until");
    if (until && !json_is_null(until) && parse_time(until, &s->until))
        return hd_seterr(-1, err, n, "until: expected an ISO-8601 time, epoch ms or null");
    if (s->until && s->until <= s->at)
        return hd_seterr(-1, err, n, "until: must be after at");
    if (s->reason == HD_SUPP_SOFT_BOUNCE && !s->until)
        s->until = s->at + HD_SUPP_SOFT_MS;
    return 0;
}

json_t *hd_suppression_json(const struct hd_suppression *s)
{
    char at[40], until[40];
    hd_time_iso8601(s->at, at, sizeof(at));
    if (s->until)
        hd_time_iso8601(s->until, until, sizeof(until));
    return json_pack("{s:s, s:s, s:s, s:o, s:s, s:o}", "channel", hd_channel_name(s->channel),
                     "address", s->address, "reason", hd_supp_reason_name(s->reason),
                     "category", s->category >= 0 ? json_string(hd_category_name(s->category))
                                                  : json_null(),
                     "at", at, "until", s->until ? json_string(until) : json_null());
}

void hd_suppression_key(struct hd_buf *k, const char *tenant, const char *user,
                        const struct hd_suppression *s)
{
    hd_buf_reset(k);
    hd_buf_printf(k, "%s/%s\x1f%s\x1f%s\x1f%s", tenant, user, hd_channel_name(s->channel),
                  s->address, s->category >= 0 ? hd_category_name(s->category) : "*");
}

int hd_suppression_blocks(const struct hd_suppression *s, enum hd_channel ch,
                          const char *address, enum hd_category cat, int64_t now_ms)
{
    if (s->channel != ch || (s->until && s->until <= now_ms) || !address)
        return 0;
    /* e-mail addresses compare without case (what providers report may differ in case) */
    if (strcmp(s->address, "*") &&
        (ch == HD_CH_EMAIL ? strcasecmp(s->address, address) : strcmp(s->address, address)))
        return 0;
    if (s->reason != HD_SUPP_UNSUBSCRIBE)
        return 1;
    return s->category >= 0 ? (int)cat == s->category : cat != HD_CAT_TRANSACTIONAL;
}
