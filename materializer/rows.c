/*
 * Record checks before a record becomes a row (materializer_int.h): status ranks, UTF-8,
 * ids and times PostgreSQL will accept, and the jsonb text of a data map.
 */
#include "materializer/materializer_int.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#include "core/hd.h"

/* Log lines are one line: libpq's messages span several (ERROR, DETAIL, HINT, CONTEXT). */
void hd__mat_oneline(char *s)
{
    size_t n = s ? strlen(s) : 0;
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\n' || s[i] == '\r' || s[i] == '\t')
            s[i] = ' ';
}

/* Rank of a status: a status event replaces the current one only when its rank is higher. */
int hd__mat_status_rank(int status)
{
    switch (status) {
    case HD_ST_QUEUED: return 1;
    case HD_ST_SCHEDULED: return 2;
    case HD_ST_SENT: return 3;
    case HD_ST_DELIVERED: return 4;
    case HD_ST_READ: return 5;
    case HD_ST_FAILED: return 6;
    case HD_ST_BOUNCED: return 7;
    case HD_ST_SKIPPED: return 8;
    default: return 0;
    }
}

/* PostgreSQL rejects text that is not UTF-8; one such record must not stall the batch. */
int hd__mat_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (p && *p) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        int n;
        unsigned cp;
        if ((*p & 0xe0) == 0xc0) {
            n = 1;
            cp = *p & 0x1f;
        } else if ((*p & 0xf0) == 0xe0) {
            n = 2;
            cp = *p & 0x0f;
        } else if ((*p & 0xf8) == 0xf0) {
            n = 3;
            cp = *p & 0x07;
        } else {
            return 0;
        }
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        static const unsigned min[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += n + 1;
    }
    return 1;
}

static int mat_check_strings(const char *const *s, size_t n, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] && !hd__mat_utf8_valid(s[i]))
            return hd_seterr(-1, errstr, errstr_size, "a string field is not valid UTF-8");
    return 0;
}

static int mat_check_ids(const char *tenant, const char *nid, const char *user,
                         const char *batch, int64_t at, char *errstr, size_t errstr_size)
{
    if (!tenant || !*tenant || !nid || !*nid || !user)
        return hd_seterr(-1, errstr, errstr_size, "tenant_id, notification_id or user_id missing");
    if (strlen(tenant) > MAT_ID_MAX || strlen(nid) > MAT_ID_MAX || strlen(user) > MAT_ID_MAX ||
        (batch && strlen(batch) > MAT_ID_MAX))
        return hd_seterr(-1, errstr, errstr_size, "an id is longer than %d bytes", MAT_ID_MAX);
    if (at < 0 || at > MAT_TIME_MAX_MS)
        return hd_seterr(-1, errstr, errstr_size, "timestamp %lld out of range", (long long)at);
    return 0;
}

/* Can this status event be written? Returns 0 or -1 with errstr (no record content in it). */
int hd__mat_check_status_event(const struct hd_status_event *e, char *errstr, size_t errstr_size)
{
    const char *s[] = {e->notification_id, e->request_id, e->tenant_id, e->user_id,
                       e->provider, e->reason_code, e->reason, e->provider_message_id,
                       e->batch_id};
    if (mat_check_ids(e->tenant_id, e->notification_id, e->user_id, e->batch_id, e->occurred_at,
                      errstr, errstr_size) != 0)
        return -1;
    if (hd__mat_status_rank((int)e->status) == 0)
        return hd_seterr(-1, errstr, errstr_size, "unknown status %d", (int)e->status);
    return mat_check_strings(s, HD_ARRAY_SIZE(s), errstr, errstr_size);
}

int hd__mat_check_inbox_item(const struct hd_inbox_item *it, char *errstr, size_t errstr_size)
{
    const char *s[] = {it->notification_id, it->request_id, it->tenant_id, it->user_id,
                       it->title, it->body, it->html, it->batch_id};
    if (mat_check_ids(it->tenant_id, it->notification_id, it->user_id, it->batch_id,
                      it->created_at, errstr, errstr_size) != 0 ||
        mat_check_strings(s, HD_ARRAY_SIZE(s), errstr, errstr_size) != 0)
        return -1;
    for (size_t i = 0; i < it->data.cnt; i++) {
        const char *kv[] = {it->data.items[i].key, it->data.items[i].value};
        if (mat_check_strings(kv, 2, errstr, errstr_size) != 0)
            return -1;
    }
    return 0;
}

/* An Avro map<string> as a JSON object (the jsonb column `data`). */
void hd__mat_data_json(const struct hd_map *m, struct hd_buf *out)
{
    hd_buf_reset(out);
    hd_buf_putc(out, '{');
    for (size_t i = 0; i < m->cnt; i++) {
        const char *k = m->items[i].key ? m->items[i].key : "";
        const char *v = m->items[i].value ? m->items[i].value : "";
        if (i)
            hd_buf_putc(out, ',');
        hd_buf_put_json_string(out, k, strlen(k));
        hd_buf_putc(out, ':');
        hd_buf_put_json_string(out, v, strlen(v));
    }
    hd_buf_putc(out, '}');
}
