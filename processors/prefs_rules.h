/*
 * The preference decision (issue 12), apart from Kafka and state so every rule is
 * table-tested: a user's effective preferences, built from layers of JSON (built-in
 * defaults, then the tenant's preference_defaults, the profile's preferences, the user's
 * own record, each overriding what it names), and what they decide for one message.
 *
 * A layer, every member optional (errors name the member):
 *   {"channels": {"SMS": false},                       channel on/off
 *    "categories": {"EMAIL": {"MARKETING": false}},     category on/off per channel
 *    "consent": {"marketing": {"at": "2026-01-02T10:00:00Z", "source": "signup-form"}},
 *    "timezone": "Europe/Berlin",
 *    "quiet_hours": {"start": "22:00", "end": "07:00", "channels": ["SMS", "PUSH"],
 *                    "bypass_priorities": ["URGENT"], "bypass_categories": ["ALERT"]},
 *                   (start and end go together; a layer may set only the bypass lists)
 *    "dnd": {"until": "2026-12-24T00:00:00Z"} | {"on": true} | {"on": false}}
 *
 * The decision, in this order, each with its reason code:
 *   channel off -> SKIP channel_disabled; category off -> SKIP category_opted_out;
 *   MARKETING without a recorded consent -> SKIP no_consent;
 *   do not disturb (open-ended or until a time), not URGENT, not IN_APP -> SKIP dnd;
 *   inside quiet hours on a quiet channel (SMS, PUSH, WHATSAPP, CHAT by default), not of a
 *   bypass priority or category (URGENT, ALERT by default) -> DEFER quiet_hours until the
 *   window ends, in the user's time zone
 *   (the tenant's when the user's is unknown; the reason says so);
 *   else SEND.
 */
#ifndef HD_PREFS_RULES_H
#define HD_PREFS_RULES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "schemas/records.h"

struct hd_prefs {
    unsigned char channel_off[HD_CH__CNT];
    unsigned char category_off[HD_CH__CNT][HD_CAT__CNT];
    int consent;              /* MARKETING consent recorded */
    int64_t consent_at;
    char consent_source[64];
    char timezone[64];        /* "" when none */
    int quiet;                /* quiet hours set */
    unsigned char quiet_bypass_prio[HD_PRIO__CNT]; /* go through quiet hours: URGENT */
    unsigned char quiet_bypass_cat[HD_CAT__CNT];   /* ... and ALERT, by default */
    int quiet_start, quiet_end; /* minutes after local midnight */
    unsigned char quiet_channel[HD_CH__CNT];
    int dnd;                  /* do not disturb on */
    int64_t dnd_until;        /* 0: open-ended */
};

/* Built-in defaults: every channel and category on, no consent, no quiet hours (their
 * channels SMS, PUSH, WHATSAPP, CHAT once set), no do-not-disturb. */
void hd_prefs_defaults(struct hd_prefs *p);
/* Applies one layer over p. Returns 0, or -1 with errstr naming the member
 * ("quiet_hours.start: expected HH:MM"); p is then partly applied. */
int hd_prefs_apply(struct hd_prefs *p, json_t *layer, char *errstr, size_t errstr_size);

enum hd_pref_verdict { HD_PREF_SEND = 0, HD_PREF_SKIP, HD_PREF_DEFER };

struct hd_pref_decision {
    enum hd_pref_verdict verdict;
    const char *code;  /* static: "channel_disabled", ... ; NULL for SEND */
    char reason[256];  /* which rule decided, in words */
    int64_t until_ms;  /* DEFER: when the window ends */
};

/* What p decides for a message on ch of category cat and priority prio at now_ms.
 * tenant_tz: the zone to use when the user's is missing or unknown (may be NULL: UTC). */
void hd_prefs_decide(const struct hd_prefs *p, const char *tenant_tz, enum hd_channel ch,
                     enum hd_category cat, enum hd_priority prio, int64_t now_ms,
                     struct hd_pref_decision *d);

/*
 * Suppressions: addresses of a user that must not be used, one record each on the
 * compacted topic herald.suppressions, keyed by hd_suppression_key and produced to the
 * partition of "tenant/user" (so the requests of that user find them in their partition).
 * A value:
 *   {"channel": "EMAIL", "address": "ada@example.com", "reason": "hard_bounce",
 *    "category": "MARKETING" | null, "at": "2026-01-02T10:00:00Z", "until": TIME | null}
 * reasons: hard_bounce (permanent), soft_bounce (until, 7 days by default), complaint
 * (permanent, and MARKETING consent withdrawn on every channel), unsubscribe (from one
 * category, or every category but TRANSACTIONAL when none is named). address "*" is every
 * address of the channel.
 */
enum hd_supp_reason { HD_SUPP_HARD_BOUNCE = 0, HD_SUPP_SOFT_BOUNCE, HD_SUPP_COMPLAINT,
                      HD_SUPP_UNSUBSCRIBE, HD_SUPP__CNT };
#define HD_SUPP_SOFT_MS (7LL * 24 * 3600 * 1000)

struct hd_suppression {
    enum hd_channel channel;
    char address[320];
    enum hd_supp_reason reason;
    int category; /* enum hd_category; -1: none named */
    int64_t at;
    int64_t until; /* 0: permanent */
};

const char *hd_supp_reason_name(enum hd_supp_reason r);
/* Parses a value (above); a soft bounce without until gets at + 7 days. Returns 0, or -1
 * with errstr naming the member. */
int hd_suppression_parse(json_t *v, struct hd_suppression *s, char *errstr, size_t errstr_size);
json_t *hd_suppression_json(const struct hd_suppression *s);
/* "tenant/user" 0x1f CHANNEL 0x1f address 0x1f category-or-"*", into k (reset first). */
void hd_suppression_key(struct hd_buf *k, const char *tenant, const char *user,
                        const struct hd_suppression *s);
/* Does s, in force at now_ms, forbid a message of category cat to address on channel ch? */
int hd_suppression_blocks(const struct hd_suppression *s, enum hd_channel ch,
                          const char *address, enum hd_category cat, int64_t now_ms);

#endif
