/*
 * Channel limits on rendered text (see channel_limits.h): SMS segment
 * counting (GSM-7 vs UCS-2, 3GPP TS 23.038 / 23.040), push truncation and
 * payload budget, e-mail subject checks.
 */
#include <string.h>

#include "templates/channel_limits.h"

#define ELLIPSIS "\xe2\x80\xa6" /* U+2026 */

void hd_channel_limits_default(struct hd_channel_limits *l)
{
    l->sms_max_segments = 10;
    l->push_title_chars = 65;
    l->push_body_chars = 240;
    l->push_payload_bytes = 3500;
    l->email_subject_bytes = 998;
}

/* Decodes one code point at s (n bytes left); returns its length, 0 if invalid. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (!len || len > n || s[0] > 0xf4)
        return 0;
    uint32_t c = s[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

/* Septets a code point takes in GSM-7: 1 (basic table), 2 (extension), 0 (none). */
static int gsm7_width(uint32_t c)
{
    static const uint16_t basic[] = {0x00a3, 0x00a5, 0x00e8, 0x00e9, 0x00f9, 0x00ec, 0x00f2, 0x00c7,
                                     0x00d8, 0x00f8, 0x00c5, 0x00e5, 0x0394, 0x03a6, 0x0393, 0x039b,
                                     0x03a9, 0x03a0, 0x03a8, 0x03a3, 0x0398, 0x039e, 0x00c6, 0x00e6,
                                     0x00df, 0x00c9, 0x00a4, 0x00a1, 0x00c4, 0x00d6, 0x00d1, 0x00dc,
                                     0x00a7, 0x00bf, 0x00e4, 0x00f6, 0x00f1, 0x00fc, 0x00e0};
    if (c == '\n' || c == '\r')
        return 1;
    if (c == 0x0c || c == 0x20ac || (c && c < 0x80 && strchr("^{}\\[~]|", (int)c)))
        return 2;
    if (c >= 0x20 && c < 0x7f)
        return c == '`' ? 0 : 1;
    for (size_t i = 0; i < HD_ARRAY_SIZE(basic); i++)
        if (basic[i] == c)
            return 1;
    return 0;
}

/* Segments needed when every segment holds `per` units and no character (of
 * width w) is split. */
struct packer {
    size_t per, cur, segments;
};

static void pack(struct packer *p, size_t w)
{
    if (p->cur + w > p->per) {
        p->segments++;
        p->cur = 0;
    }
    p->cur += w;
}

int hd_sms_count(const char *text, size_t len, struct hd_sms_count *out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t septets = 0, utf16 = 0, chars = 0;
    int gsm = 1;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t k = utf8_next(s + i, len - i, &c);
        if (!k)
            return HD_ERR_INVALID;
        int w = gsm7_width(c);
        gsm &= w > 0;
        septets += (size_t)w;
        utf16 += c > 0xffff ? 2 : 1;
        chars++;
        i += k;
    }
    memset(out, 0, sizeof(*out));
    out->chars = chars;
    out->encoding = gsm ? HD_SMS_GSM7 : HD_SMS_UCS2;
    out->units = gsm ? septets : utf16;
    size_t single = gsm ? 160 : 70;
    if (out->units <= single) {
        out->segments = 1;
        out->per_segment = single;
        return HD_OK;
    }
    struct packer p = {gsm ? 153 : 67, 0, 1};
    for (size_t i = 0; i < len;) {
        uint32_t c;
        i += utf8_next(s + i, len - i, &c);
        pack(&p, gsm ? (size_t)gsm7_width(c) : (c > 0xffff ? 2 : 1));
    }
    out->segments = p.segments;
    out->per_segment = p.per;
    return HD_OK;
}

int hd_limits_check_sms(const struct hd_channel_limits *l, const char *text, size_t len,
                        struct hd_sms_count *count, char *errstr, size_t errstr_size)
{
    struct hd_sms_count c;
    if (hd_sms_count(text, len, &c))
        return hd_seterr(HD_ERR_INVALID, errstr, errstr_size, "SMS text is not valid UTF-8");
    if (count)
        *count = c;
    if (!len)
        return hd_seterr(HD_ERR_INVALID, errstr, errstr_size, "SMS text is empty");
    if (c.segments > l->sms_max_segments)
        return hd_seterr(HD_ERR_INVALID, errstr, errstr_size,
                         "SMS needs %zu segments (%zu %s units), more than the limit of %zu",
                         c.segments, c.units, c.encoding == HD_SMS_GSM7 ? "GSM-7" : "UCS-2",
                         l->sms_max_segments);
    return HD_OK;
}

int hd_utf8_truncate(struct hd_buf *b, size_t max_chars)
{
    const unsigned char *s = (const unsigned char *)(b->data ? b->data : "");
    size_t chars = 0, keep = 0; /* bytes of the first max_chars - 1 characters */
    for (size_t i = 0; i < b->len;) {
        uint32_t c;
        size_t k = utf8_next(s + i, b->len - i, &c);
        if (!k)
            return -1;
        if (max_chars && chars + 1 == max_chars)
            keep = i;
        chars++;
        i += k;
    }
    if (chars <= max_chars)
        return 0;
    b->len = max_chars ? keep : 0;
    if (max_chars)
        hd_buf_append(b, ELLIPSIS, 3);
    else if (b->data)
        b->data[0] = '\0';
    return 1;
}

int hd_limits_apply_push(const struct hd_channel_limits *l, struct hd_buf *title,
                         struct hd_buf *body, char *errstr, size_t errstr_size)
{
    if (hd_utf8_truncate(title, l->push_title_chars) < 0)
        return hd_seterr(HD_ERR_INVALID, errstr, errstr_size, "push title is not valid UTF-8");
    if (hd_utf8_truncate(body, l->push_body_chars) < 0)
        return hd_seterr(HD_ERR_INVALID, errstr, errstr_size, "push body is not valid UTF-8");
    if (title->len + body->len > l->push_payload_bytes)
        return hd_seterr(HD_ERR_INVALID, errstr, errstr_size,
                         "push title and body take %zu bytes, more than the payload budget of %zu",
                         title->len + body->len, l->push_payload_bytes);
    return HD_OK;
}

int hd_limits_check_email_subject(const struct hd_channel_limits *l, const char *subject,
                                  size_t len, char *errstr, size_t errstr_size)
{
    const unsigned char *s = (const unsigned char *)subject;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t k = utf8_next(s + i, len - i, &c);
        if (!k)
            return hd_seterr(HD_ERR_INVALID, errstr, errstr_size, "subject is not valid UTF-8");
        if (c == '\r' || c == '\n' || c == 0)
            return hd_seterr(HD_ERR_INVALID, errstr, errstr_size,
                             "subject has a line break or NUL at byte %zu (header injection)", i);
        i += k;
    }
    if (len > l->email_subject_bytes)
        return hd_seterr(HD_ERR_INVALID, errstr, errstr_size,
                         "subject is %zu bytes, more than the limit of %zu", len,
                         l->email_subject_bytes);
    return HD_OK;
}

int hd_limits_apply(const struct hd_channel_limits *l, enum hd_channel ch, struct hd_buf *first,
                    struct hd_buf *second, const char **part, char *errstr, size_t errstr_size)
{
    switch (ch) {
    case HD_CH_EMAIL:
        *part = "subject";
        return hd_limits_check_email_subject(l, first->data ? first->data : "", first->len,
                                             errstr, errstr_size);
    case HD_CH_SMS:
        *part = "text";
        return hd_limits_check_sms(l, first->data ? first->data : "", first->len, NULL, errstr,
                                   errstr_size);
    case HD_CH_PUSH:
        *part = "title+body";
        return hd_limits_apply_push(l, first, second, errstr, errstr_size);
    default:
        *part = NULL;
        return HD_OK;
    }
}
