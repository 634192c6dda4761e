/*
 * A user's profile as the User Service answers it (docs/USER_SERVICE.md), and what enrich
 * makes of it: the request's recipient completed from the profile (what the request gives
 * wins), and the merged user that render sees as user.*.
 *
 * A profile, every member optional (a search answer is matched by id):
 *   {"id": "u1", "email": "ada@example.com", "phone": "+4915112345678",
 *    "push_tokens": [{"platform": "ios", "token": "..."}], "locale": "de-DE",
 *    "timezone": "Europe/Berlin", "first_name": "Ada", "last_name": "Lovelace",
 *    "user_type": "customer", "webhook_url": "https://...", "chat": {"slack": "U123"},
 *    "preferences": {<a preference layer: prefs_rules.h>}}
 */
#ifndef HD_PROFILE_H
#define HD_PROFILE_H

#include <jansson.h>
#include <stddef.h>

#include "schemas/records.h"

/* Checks a profile's members (types, E.164 phone, push token shape). Returns 0, or -1 with
 * errstr naming the member ("push_tokens[1].token: expected a string"). */
int hd_profile_check(json_t *profile, char *errstr, size_t errstr_size);

/* Completes r's recipient from profile (NULL: none): each address or setting the request
 * leaves null is taken from the profile; push tokens when the request has none. Returns the
 * merged user (a new reference): the profile's members, with the request's recipient
 * members over them, and "id" the request's user id. */
json_t *hd_profile_merge(struct hd_request *r, json_t *profile);

/* The recipient member channel ch needs and rc lacks ("recipient.email" for EMAIL,
 * "recipient.phone" for SMS and WHATSAPP, "recipient.push_tokens" for PUSH,
 * "recipient.webhook_url" for WEBHOOK), or NULL when it has it. CHAT and IN_APP need
 * nothing of the user. */
const char *hd_profile_missing(const struct hd_recipient *rc, enum hd_channel ch);

#endif
