/*
 * Channel limits checked on rendered text, after the template engine and
 * before a provider sees it:
 *
 *  - SMS: counted as the network does. Text made only of GSM 03.38 characters
 *    is GSM-7 (160 septets in one message, 153 per segment when
 *    concatenated; ^ { } [ ] ~ \ | € and form feed take two septets and are
 *    never split across segments); anything else makes the whole message
 *    UCS-2 (70 UTF-16 units, 67 per segment; a surrogate pair is never
 *    split). More segments than the limit is an error.
 *  - Push: a title or body longer than its limit (in characters) is cut at a
 *    character boundary and ends with "…" (the documented truncation rule);
 *    title and body together over the payload budget is an error.
 *  - E-mail subject: a line break is an error (header injection), and so is
 *    a subject longer than RFC 5322's 998-byte line limit.
 *
 * Every function takes UTF-8; invalid UTF-8 is an error. Pure functions,
 * callable from any thread.
 */
#ifndef HD_CHANNEL_LIMITS_H
#define HD_CHANNEL_LIMITS_H

#include <stddef.h>

#include "core/buf.h"
#include "core/hd.h"
#include "schemas/records.h"

enum hd_sms_encoding { HD_SMS_GSM7, HD_SMS_UCS2 };

struct hd_sms_count {
    enum hd_sms_encoding encoding;
    size_t chars;       /* characters (code points) */
    size_t units;       /* septets (GSM-7) or UTF-16 code units (UCS-2) */
    size_t segments;    /* messages the network sends: 1 when it fits one */
    size_t per_segment; /* 160 or 153 (GSM-7), 70 or 67 (UCS-2) */
};

struct hd_channel_limits {
    size_t sms_max_segments;    /* default 10 */
    size_t push_title_chars;    /* default 65 */
    size_t push_body_chars;     /* default 240 */
    size_t push_payload_bytes;  /* default 3500: title + body, leaves room in a 4 KB payload */
    size_t email_subject_bytes; /* default 998 */
};

/* Fills l with the defaults above. */
void hd_channel_limits_default(struct hd_channel_limits *l);

/* Counts an SMS. Returns HD_OK, or HD_ERR_INVALID for invalid UTF-8. */
int hd_sms_count(const char *text, size_t len, struct hd_sms_count *out);

/* Counts (into *count, may be NULL) and checks an SMS: empty or over
 * sms_max_segments is HD_ERR_INVALID with errstr saying how many. */
int hd_limits_check_sms(const struct hd_channel_limits *l, const char *text, size_t len,
                        struct hd_sms_count *count, char *errstr, size_t errstr_size);

/* Applies the truncation rule to title and body in place, then checks the
 * payload budget. Returns HD_OK or HD_ERR_INVALID with errstr. */
int hd_limits_apply_push(const struct hd_channel_limits *l, struct hd_buf *title,
                         struct hd_buf *body, char *errstr, size_t errstr_size);

/* Checks a rendered subject. Returns HD_OK or HD_ERR_INVALID with errstr. */
int hd_limits_check_email_subject(const struct hd_channel_limits *l, const char *subject,
                                  size_t len, char *errstr, size_t errstr_size);

/* The limits of channel ch on a message's parts: EMAIL its subject (first), SMS its text
 * (first), PUSH its title (first) and body (second), cut to fit; other channels have
 * none. Returns HD_OK, or HD_ERR_INVALID with *part naming the part and errstr. The one
 * check that rendered templates and inline content both go through. */
int hd_limits_apply(const struct hd_channel_limits *l, enum hd_channel ch, struct hd_buf *first,
                    struct hd_buf *second, const char **part, char *errstr, size_t errstr_size);

/* Cuts the UTF-8 text in b to at most max_chars characters, the last being
 * "…" when it was cut (max_chars 0 empties it). Returns 1 when it cut, 0 when
 * the text fitted, -1 for invalid UTF-8 (b unchanged). */
int hd_utf8_truncate(struct hd_buf *b, size_t max_chars);

#endif
