/*
 * Typed codecs for Herald's core records (records.h). Each struct is described
 * once by a table of its fields (member offset, kind, Avro field name); one
 * generic walker copies a struct into or out of the serde's reusable avro-c
 * value for the schema, and the same tables drive clearing and deep copies.
 * A new field is one line in a table.
 *
 * The serde checks bytes before avro-c reads them; what is left to check here
 * is what the C structs cannot hold (a NUL inside a string) and what callers
 * can get wrong when encoding (a required string left NULL, an enum out of
 * range).
 */
#include "schemas/records.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/hd.h"
#include "schemas/serde.h"
#include "schemas/topics.h"

/* ---- enums ---- */

static const char *const hd_channel_names[HD_CH__CNT] = {
    "EMAIL", "SMS", "PUSH", "WHATSAPP", "CHAT", "WEBHOOK", "IN_APP"};
/* The channels in lower case: the suffix of herald.dispatch.<channel> and of settings. */
static const char *const hd_channel_slugs[HD_CH__CNT] = {
    "email", "sms", "push", "whatsapp", "chat", "webhook", "in_app"};
static const char *const hd_category_names[HD_CAT__CNT] = {
    "TRANSACTIONAL", "MARKETING", "SYSTEM", "ALERT"};
static const char *const hd_priority_names[HD_PRIO__CNT] = {"LOW", "NORMAL", "HIGH", "URGENT"};
static const char *const hd_status_names[HD_ST__CNT] = {
    "QUEUED", "SCHEDULED", "SENT", "DELIVERED", "READ", "FAILED", "BOUNCED", "SKIPPED"};
static const char *const hd_action_names[HD_ACT__CNT] = {"READ", "UNREAD", "DELETE"};
/* A bounce is a failure: it goes to notification.failed with status BOUNCED. */
static const char *const hd_status_topics[HD_ST__CNT] = {
    HD_TOPIC_QUEUED, HD_TOPIC_SCHEDULED, HD_TOPIC_SENT,   HD_TOPIC_DELIVERED,
    HD_TOPIC_READ,   HD_TOPIC_FAILED,    HD_TOPIC_FAILED, HD_TOPIC_SKIPPED};

static const char *hd_enum_name(const char *const *names, int cnt, int v)
{
    return v >= 0 && v < cnt ? names[v] : "UNKNOWN";
}

static int hd_enum_parse(const char *const *names, int cnt, const char *s)
{
    for (int i = 0; s && i < cnt; i++)
        if (!strcmp(names[i], s))
            return i;
    return -1;
}

#define HD_ENUM_FUNCS(prefix, type, names, cnt)                                                    \
    const char *hd_##prefix##_name(type v)                                                         \
    {                                                                                              \
        return hd_enum_name(names, cnt, (int)v);                                                   \
    }                                                                                              \
    int hd_##prefix##_parse(const char *s)                                                         \
    {                                                                                              \
        return hd_enum_parse(names, cnt, s);                                                       \
    }

HD_ENUM_FUNCS(channel, enum hd_channel, hd_channel_names, HD_CH__CNT)

const char *hd_channel_slug(enum hd_channel c)
{
    return hd_enum_name(hd_channel_slugs, HD_CH__CNT, (int)c);
}
HD_ENUM_FUNCS(category, enum hd_category, hd_category_names, HD_CAT__CNT)
HD_ENUM_FUNCS(priority, enum hd_priority, hd_priority_names, HD_PRIO__CNT)
HD_ENUM_FUNCS(status, enum hd_status, hd_status_names, HD_ST__CNT)
HD_ENUM_FUNCS(user_action, enum hd_user_action_kind, hd_action_names, HD_ACT__CNT)

const char *hd_status_topic(enum hd_status s)
{
    return (int)s >= 0 && s < HD_ST__CNT ? hd_status_topics[s] : NULL;
}

/* ---- maps, clearing, copies ---- */

void hd_map_put(struct hd_map *m, const char *key, const char *value)
{
    for (size_t i = 0; i < m->cnt; i++) {
        if (!strcmp(m->items[i].key, key)) {
            hd_free(m->items[i].value);
            m->items[i].value = hd_strdup(value);
            return;
        }
    }
    m->items = hd_realloc(m->items, (m->cnt + 1) * sizeof(*m->items));
    m->items[m->cnt].key = hd_strdup(key);
    m->items[m->cnt].value = hd_strdup(value);
    m->cnt++;
}

const char *hd_map_get(const struct hd_map *m, const char *key)
{
    for (size_t i = 0; i < m->cnt; i++)
        if (!strcmp(m->items[i].key, key))
            return m->items[i].value;
    return NULL;
}

void hd_map_clear(struct hd_map *m)
{
    for (size_t i = 0; i < m->cnt; i++) {
        hd_free(m->items[i].key);
        hd_free(m->items[i].value);
    }
    hd_free(m->items);
    m->items = NULL;
    m->cnt = 0;
}

static void hd_map_copy(struct hd_map *dst, const struct hd_map *src)
{
    dst->cnt = 0;
    dst->items = src->cnt ? hd_calloc(src->cnt, sizeof(*dst->items)) : NULL;
    for (size_t i = 0; i < src->cnt; i++) {
        dst->items[i].key = hd_strdup(src->items[i].key);
        dst->items[i].value = hd_strdup(src->items[i].value);
        dst->cnt++;
    }
}


/* ---- field tables ---- */

enum hd_fk {
    HD_FK_STR,    /* char *, required; .dflt used when NULL on encode */
    HD_FK_OSTR,   /* char *, ["null", "string"] */
    HD_FK_INT,    /* int32_t */
    HD_FK_OINT,   /* int32_t with an int has-flag at .aux, ["null", "int"] */
    HD_FK_LONG,   /* int64_t */
    HD_FK_OLONG,  /* int64_t with an int has-flag at .aux, ["null", "long"] */
    HD_FK_ENUM,   /* an enum of .cnt symbols */
    HD_FK_ENUMS,  /* enum array, size_t count at .aux */
    HD_FK_STRS,   /* char ** array, size_t count at .aux */
    HD_FK_MAP,    /* struct hd_map */
    HD_FK_OBYTES, /* void *, size_t length at .aux, ["null", "bytes"] */
    HD_FK_REC,    /* embedded struct described by .sub */
    HD_FK_OREC,   /* pointer to a .sub struct, ["null", record]; NULL = null */
    HD_FK_RECS,   /* array of .sub structs, size_t count at .aux */
};

struct hd_rtable;

struct hd_rfield {
    const char *name; /* Avro field name */
    enum hd_fk kind;
    size_t off;
    size_t aux;
    int cnt;
    const struct hd_rtable *sub;
    const char *dflt;
};

struct hd_rtable {
    const char *name; /* Avro record name */
    const struct hd_rfield *fields;
    size_t field_cnt;
    size_t size;
};

/* Enums are read and written through int: they must be int-sized. */
_Static_assert(sizeof(enum hd_channel) == sizeof(int), "enum size");
_Static_assert(sizeof(enum hd_category) == sizeof(int), "enum size");
_Static_assert(sizeof(enum hd_priority) == sizeof(int), "enum size");
_Static_assert(sizeof(enum hd_status) == sizeof(int), "enum size");
_Static_assert(sizeof(enum hd_user_action_kind) == sizeof(int), "enum size");

#define HD_AT(p, off, type) (*(type *)((char *)(p) + (off)))
#define HD_CAT(p, off, type) (*(const type *)((const char *)(p) + (off)))

#define HD_F(T, m, k, ...) {.name = #m, .kind = k, .off = offsetof(T, m), __VA_ARGS__}
#define HD_TABLE(var, avro_name, T, fields)                                                        \
    static const struct hd_rtable var = {avro_name, fields, HD_ARRAY_SIZE(fields), sizeof(T)}

static const struct hd_rfield hd_content_fields[] = {
    HD_F(struct hd_content, subject, HD_FK_OSTR),
    HD_F(struct hd_content, text, HD_FK_OSTR),
    HD_F(struct hd_content, html, HD_FK_OSTR),
    HD_F(struct hd_content, title, HD_FK_OSTR),
    HD_F(struct hd_content, data, HD_FK_MAP),
};
HD_TABLE(hd_content_table, "Content", struct hd_content, hd_content_fields);

static const struct hd_rfield hd_recipient_fields[] = {
    HD_F(struct hd_recipient, email, HD_FK_OSTR),
    HD_F(struct hd_recipient, phone, HD_FK_OSTR),
    HD_F(struct hd_recipient, push_tokens, HD_FK_STRS,
         .aux = offsetof(struct hd_recipient, push_token_cnt)),
    HD_F(struct hd_recipient, locale, HD_FK_OSTR),
    HD_F(struct hd_recipient, timezone, HD_FK_OSTR),
    HD_F(struct hd_recipient, webhook_url, HD_FK_OSTR),
};
HD_TABLE(hd_recipient_table, "Recipient", struct hd_recipient, hd_recipient_fields);

static const struct hd_rfield hd_template_fields[] = {
    HD_F(struct hd_template_ref, key, HD_FK_STR),
    HD_F(struct hd_template_ref, version, HD_FK_OINT,
         .aux = offsetof(struct hd_template_ref, has_version)),
    HD_F(struct hd_template_ref, locale, HD_FK_OSTR),
};
HD_TABLE(hd_template_table, "TemplateRef", struct hd_template_ref, hd_template_fields);

static const struct hd_rfield hd_request_fields[] = {
    HD_F(struct hd_request, request_id, HD_FK_STR),
    HD_F(struct hd_request, tenant_id, HD_FK_STR),
    HD_F(struct hd_request, user_id, HD_FK_STR),
    HD_F(struct hd_request, channels, HD_FK_ENUMS, .cnt = HD_CH__CNT,
         .aux = offsetof(struct hd_request, channel_cnt)),
    HD_F(struct hd_request, category, HD_FK_ENUM, .cnt = HD_CAT__CNT),
    HD_F(struct hd_request, priority, HD_FK_ENUM, .cnt = HD_PRIO__CNT),
    {.name = "template", .kind = HD_FK_OREC, .off = offsetof(struct hd_request, template_ref),
     .sub = &hd_template_table},
    HD_F(struct hd_request, content, HD_FK_OREC, .sub = &hd_content_table),
    HD_F(struct hd_request, variables_json, HD_FK_STR, .dflt = "{}"),
    HD_F(struct hd_request, recipient, HD_FK_OREC, .sub = &hd_recipient_table),
    HD_F(struct hd_request, idempotency_key, HD_FK_OSTR),
    HD_F(struct hd_request, scheduled_at, HD_FK_OLONG,
         .aux = offsetof(struct hd_request, has_scheduled_at)),
    HD_F(struct hd_request, expires_at, HD_FK_OLONG,
         .aux = offsetof(struct hd_request, has_expires_at)),
    HD_F(struct hd_request, batch_id, HD_FK_OSTR),
    HD_F(struct hd_request, provider, HD_FK_OSTR),
    HD_F(struct hd_request, metadata, HD_FK_MAP),
    HD_F(struct hd_request, created_at, HD_FK_LONG),
};
HD_TABLE(hd_request_table, "NotificationRequest", struct hd_request, hd_request_fields);

static const struct hd_rfield hd_status_event_fields[] = {
    HD_F(struct hd_status_event, notification_id, HD_FK_STR),
    HD_F(struct hd_status_event, request_id, HD_FK_STR),
    HD_F(struct hd_status_event, tenant_id, HD_FK_STR),
    HD_F(struct hd_status_event, user_id, HD_FK_STR),
    HD_F(struct hd_status_event, channel, HD_FK_ENUM, .cnt = HD_CH__CNT),
    HD_F(struct hd_status_event, provider, HD_FK_OSTR),
    HD_F(struct hd_status_event, status, HD_FK_ENUM, .cnt = HD_ST__CNT),
    HD_F(struct hd_status_event, reason_code, HD_FK_OSTR),
    HD_F(struct hd_status_event, reason, HD_FK_OSTR),
    HD_F(struct hd_status_event, attempt, HD_FK_INT),
    HD_F(struct hd_status_event, provider_message_id, HD_FK_OSTR),
    HD_F(struct hd_status_event, batch_id, HD_FK_OSTR),
    HD_F(struct hd_status_event, occurred_at, HD_FK_LONG),
};
HD_TABLE(hd_status_event_table, "StatusEvent", struct hd_status_event, hd_status_event_fields);

static const struct hd_rfield hd_header_fields[] = {
    HD_F(struct hd_header, key, HD_FK_STR),
    HD_F(struct hd_header, value, HD_FK_OBYTES, .aux = offsetof(struct hd_header, value_len)),
};
HD_TABLE(hd_header_table, "Header", struct hd_header, hd_header_fields);

static const struct hd_rfield hd_dead_letter_fields[] = {
    HD_F(struct hd_dead_letter, source_topic, HD_FK_STR),
    HD_F(struct hd_dead_letter, source_partition, HD_FK_INT),
    HD_F(struct hd_dead_letter, source_offset, HD_FK_LONG),
    HD_F(struct hd_dead_letter, key, HD_FK_OBYTES, .aux = offsetof(struct hd_dead_letter, key_len)),
    HD_F(struct hd_dead_letter, value, HD_FK_OBYTES,
         .aux = offsetof(struct hd_dead_letter, value_len)),
    HD_F(struct hd_dead_letter, headers, HD_FK_RECS, .sub = &hd_header_table,
         .aux = offsetof(struct hd_dead_letter, header_cnt)),
    HD_F(struct hd_dead_letter, error_code, HD_FK_STR),
    HD_F(struct hd_dead_letter, error, HD_FK_STR),
    HD_F(struct hd_dead_letter, processor, HD_FK_STR),
    HD_F(struct hd_dead_letter, failed_at, HD_FK_LONG),
};
HD_TABLE(hd_dead_letter_table, "DeadLetter", struct hd_dead_letter, hd_dead_letter_fields);

static const struct hd_rfield hd_dispatch_fields[] = {
    HD_F(struct hd_dispatch, notification_id, HD_FK_STR),
    HD_F(struct hd_dispatch, request_id, HD_FK_STR),
    HD_F(struct hd_dispatch, tenant_id, HD_FK_STR),
    HD_F(struct hd_dispatch, user_id, HD_FK_STR),
    HD_F(struct hd_dispatch, channel, HD_FK_ENUM, .cnt = HD_CH__CNT),
    HD_F(struct hd_dispatch, category, HD_FK_ENUM, .cnt = HD_CAT__CNT),
    HD_F(struct hd_dispatch, priority, HD_FK_ENUM, .cnt = HD_PRIO__CNT),
    HD_F(struct hd_dispatch, provider, HD_FK_OSTR),
    HD_F(struct hd_dispatch, batch_id, HD_FK_OSTR),
    HD_F(struct hd_dispatch, attempt, HD_FK_INT),
    HD_F(struct hd_dispatch, recipient, HD_FK_OREC, .sub = &hd_recipient_table),
    HD_F(struct hd_dispatch, rendered, HD_FK_REC, .sub = &hd_content_table),
    HD_F(struct hd_dispatch, metadata, HD_FK_MAP),
    HD_F(struct hd_dispatch, created_at, HD_FK_LONG),
};
HD_TABLE(hd_dispatch_table, "Dispatch", struct hd_dispatch, hd_dispatch_fields);

static const struct hd_rfield hd_inbox_item_fields[] = {
    HD_F(struct hd_inbox_item, notification_id, HD_FK_STR),
    HD_F(struct hd_inbox_item, request_id, HD_FK_STR),
    HD_F(struct hd_inbox_item, tenant_id, HD_FK_STR),
    HD_F(struct hd_inbox_item, user_id, HD_FK_STR),
    HD_F(struct hd_inbox_item, category, HD_FK_ENUM, .cnt = HD_CAT__CNT),
    HD_F(struct hd_inbox_item, title, HD_FK_OSTR),
    HD_F(struct hd_inbox_item, body, HD_FK_OSTR),
    HD_F(struct hd_inbox_item, html, HD_FK_OSTR),
    HD_F(struct hd_inbox_item, data, HD_FK_MAP),
    HD_F(struct hd_inbox_item, batch_id, HD_FK_OSTR),
    HD_F(struct hd_inbox_item, created_at, HD_FK_LONG),
};
HD_TABLE(hd_inbox_item_table, "InboxItem", struct hd_inbox_item, hd_inbox_item_fields);

static const struct hd_rfield hd_user_action_fields[] = {
    HD_F(struct hd_user_action, action_id, HD_FK_STR),
    HD_F(struct hd_user_action, tenant_id, HD_FK_STR),
    HD_F(struct hd_user_action, user_id, HD_FK_STR),
    HD_F(struct hd_user_action, notification_id, HD_FK_STR),
    HD_F(struct hd_user_action, action, HD_FK_ENUM, .cnt = HD_ACT__CNT),
    HD_F(struct hd_user_action, occurred_at, HD_FK_LONG),
    HD_F(struct hd_user_action, request_id, HD_FK_OSTR),
    HD_F(struct hd_user_action, channel, HD_FK_ENUM, .cnt = HD_CH__CNT),
};
HD_TABLE(hd_user_action_table, "UserAction", struct hd_user_action, hd_user_action_fields);

/* ---- clearing and copying, driven by the tables ---- */

/* Kinds whose member is a pointer. */
static int hd_fk_pointer(enum hd_fk k)
{
    return k == HD_FK_STR || k == HD_FK_OSTR || k == HD_FK_ENUMS || k == HD_FK_STRS ||
           k == HD_FK_OBYTES || k == HD_FK_OREC || k == HD_FK_RECS;
}

static void hd_rclear(const struct hd_rtable *t, void *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < t->field_cnt; i++) {
        const struct hd_rfield *f = &t->fields[i];
        void *ptr = hd_fk_pointer(f->kind) ? HD_AT(p, f->off, void *) : NULL;
        switch (f->kind) {
        case HD_FK_STR:
        case HD_FK_OSTR:
        case HD_FK_OBYTES:
        case HD_FK_ENUMS:
            hd_free(ptr);
            break;
        case HD_FK_STRS:
            for (size_t k = 0; k < HD_AT(p, f->aux, size_t); k++)
                hd_free(((char **)ptr)[k]);
            hd_free(ptr);
            break;
        case HD_FK_MAP:
            hd_map_clear(&HD_AT(p, f->off, struct hd_map));
            break;
        case HD_FK_REC:
            hd_rclear(f->sub, (char *)p + f->off);
            break;
        case HD_FK_OREC:
            hd_rclear(f->sub, ptr);
            hd_free(ptr);
            break;
        case HD_FK_RECS:
            for (size_t k = 0; ptr && k < HD_AT(p, f->aux, size_t); k++)
                hd_rclear(f->sub, (char *)ptr + k * f->sub->size);
            hd_free(ptr);
            break;
        default:
            break;
        }
    }
    memset(p, 0, t->size);
}

static void *hd_memdup(const void *p, size_t n)
{
    void *d = hd_malloc(n ? n : 1);
    if (n)
        memcpy(d, p, n);
    return d;
}

/* dst = a deep copy of src (dst is overwritten, not freed). */
static void hd_rcopy(const struct hd_rtable *t, void *dst, const void *src)
{
    memcpy(dst, src, t->size);
    for (size_t i = 0; i < t->field_cnt; i++) {
        const struct hd_rfield *f = &t->fields[i];
        const void *sp = hd_fk_pointer(f->kind) ? HD_CAT(src, f->off, void *) : NULL;
        void **dp = (void **)((char *)dst + f->off);
        size_t n = f->kind == HD_FK_STRS || f->kind == HD_FK_ENUMS || f->kind == HD_FK_RECS ||
                           f->kind == HD_FK_OBYTES
                       ? HD_CAT(src, f->aux, size_t)
                       : 0;
        switch (f->kind) {
        case HD_FK_STR:
        case HD_FK_OSTR:
            *dp = hd_strdup(sp);
            break;
        case HD_FK_OBYTES:
            *dp = sp ? hd_memdup(sp, n) : NULL;
            break;
        case HD_FK_ENUMS:
            *dp = sp ? hd_memdup(sp, n * sizeof(int)) : NULL;
            break;
        case HD_FK_STRS:
            *dp = sp ? hd_calloc(n ? n : 1, sizeof(char *)) : NULL;
            for (size_t k = 0; sp && k < n; k++)
                ((char **)*dp)[k] = hd_strdup(((char *const *)sp)[k]);
            break;
        case HD_FK_MAP:
            hd_map_copy(&HD_AT(dst, f->off, struct hd_map), &HD_CAT(src, f->off, struct hd_map));
            break;
        case HD_FK_REC:
            hd_rcopy(f->sub, (char *)dst + f->off, (const char *)src + f->off);
            break;
        case HD_FK_OREC:
            *dp = sp ? hd_malloc(f->sub->size) : NULL;
            if (sp)
                hd_rcopy(f->sub, *dp, sp);
            break;
        case HD_FK_RECS:
            *dp = sp ? hd_calloc(n ? n : 1, f->sub->size) : NULL;
            for (size_t k = 0; sp && k < n; k++)
                hd_rcopy(f->sub, (char *)*dp + k * f->sub->size,
                         (const char *)sp + k * f->sub->size);
            break;
        default:
            break;
        }
    }
}

void hd_content_clear(struct hd_content *c)
{
    hd_rclear(&hd_content_table, c);
}

void hd_recipient_clear(struct hd_recipient *r)
{
    hd_rclear(&hd_recipient_table, r);
}

void hd_content_copy(struct hd_content *dst, const struct hd_content *src)
{
    hd_rcopy(&hd_content_table, dst, src);
}

struct hd_recipient *hd_recipient_dup(const struct hd_recipient *src)
{
    if (!src)
        return NULL;
    struct hd_recipient *r = hd_malloc(sizeof(*r));
    hd_rcopy(&hd_recipient_table, r, src);
    return r;
}

/* ---- avro values ---- */

/* One codec call: the record being worked on (for messages) and where errors go. */
struct hd_rc {
    const char *rec;
    char *errstr;
    size_t errstr_size;
};

static int hd_rc_fail(struct hd_rc *c, const char *field, const char *fmt, ...) HD_PRINTF(3, 4);
static int hd_rc_fail(struct hd_rc *c, const char *field, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return hd_seterr(-1, c->errstr, c->errstr_size, "%s.%s: %s", c->rec, field, msg);
}

static int hd_rc_avro(struct hd_rc *c, const char *field)
{
    return hd_rc_fail(c, field, "avro-c: %s", avro_strerror());
}

static int hd_get_str(struct hd_rc *c, avro_value_t *v, const char *name, char **out)
{
    const char *s;
    size_t size;
    if (avro_value_get_string(v, &s, &size))
        return hd_rc_avro(c, name);
    size_t len = size ? size - 1 : 0; /* avro-c counts the terminating NUL */
    if (memchr(s, '\0', len))
        return hd_rc_fail(c, name, "string holds a NUL byte");
    *out = hd_strndup(s, len);
    return 0;
}

static int hd_get_enum(struct hd_rc *c, avro_value_t *v, const char *name, int cnt, int *out)
{
    if (avro_value_get_enum(v, out))
        return hd_rc_avro(c, name);
    if (*out < 0 || *out >= cnt)
        return hd_rc_fail(c, name, "enum index %d out of range", *out);
    return 0;
}

static int hd_get_map(struct hd_rc *c, avro_value_t *m, const char *name, struct hd_map *out)
{
    size_t n;
    if (avro_value_get_size(m, &n))
        return hd_rc_avro(c, name);
    out->items = n ? hd_calloc(n, sizeof(*out->items)) : NULL;
    for (size_t i = 0; i < n; i++) {
        avro_value_t e;
        const char *key;
        if (avro_value_get_by_index(m, i, &e, &key))
            return hd_rc_avro(c, name);
        struct hd_kv *kv = &out->items[out->cnt++]; /* counted now: _clear frees the key */
        kv->key = hd_strdup(key);
        if (hd_get_str(c, &e, name, &kv->value))
            return -1;
    }
    return 0;
}

static int hd_rget(struct hd_rc *c, const struct hd_rtable *t, avro_value_t *v, void *p);

/* Arrays: strings, enums or records, with the count member at f->aux. */
static int hd_get_array(struct hd_rc *c, const struct hd_rfield *f, avro_value_t *arr, void *p)
{
    size_t n;
    if (avro_value_get_size(arr, &n))
        return hd_rc_avro(c, f->name);
    size_t elem = f->kind == HD_FK_STRS ? sizeof(char *)
                  : f->kind == HD_FK_ENUMS ? sizeof(int)
                  : f->sub->size;
    char *items = n ? hd_calloc(n, elem) : NULL;
    size_t *cnt = &HD_AT(p, f->aux, size_t);
    HD_AT(p, f->off, void *) = items;
    for (size_t i = 0; i < n; i++) {
        avro_value_t e;
        if (avro_value_get_by_index(arr, i, &e, NULL))
            return hd_rc_avro(c, f->name);
        (*cnt)++; /* counted first, so that _clear frees a half-built element */
        int rc = f->kind == HD_FK_STRS    ? hd_get_str(c, &e, f->name, (char **)(items + i * elem))
                 : f->kind == HD_FK_ENUMS ? hd_get_enum(c, &e, f->name, f->cnt,
                                                        (int *)(items + i * elem))
                                          : hd_rget(c, f->sub, &e, items + i * elem);
        if (rc)
            return -1;
    }
    return 0;
}

static int hd_fk_nullable(enum hd_fk k)
{
    return k == HD_FK_OSTR || k == HD_FK_OINT || k == HD_FK_OLONG || k == HD_FK_OBYTES ||
           k == HD_FK_OREC;
}

/* The T branch of a ["null", T] union, or *present = 0. */
static int hd_get_opt(struct hd_rc *c, avro_value_t *u, const char *name, avro_value_t *branch,
                      int *present)
{
    if (avro_value_get_current_branch(u, branch))
        return hd_rc_avro(c, name);
    *present = avro_value_get_type(branch) != AVRO_NULL;
    return 0;
}

static int hd_get_field(struct hd_rc *c, const struct hd_rfield *f, avro_value_t *fv, void *p)
{
    avro_value_t b;
    int present = 1, rc = 0;
    void **ptr = (void **)((char *)p + f->off); /* only dereferenced for pointer kinds */
    if (hd_fk_nullable(f->kind)) {
        if (hd_get_opt(c, fv, f->name, &b, &present))
            return -1;
        if (f->kind == HD_FK_OINT || f->kind == HD_FK_OLONG)
            HD_AT(p, f->aux, int) = present;
        if (!present)
            return 0;
        fv = &b;
    }
    switch (f->kind) {
    case HD_FK_STR:
    case HD_FK_OSTR:
        return hd_get_str(c, fv, f->name, (char **)ptr);
    case HD_FK_INT:
    case HD_FK_OINT:
        rc = avro_value_get_int(fv, &HD_AT(p, f->off, int32_t));
        break;
    case HD_FK_LONG:
    case HD_FK_OLONG:
        rc = avro_value_get_long(fv, &HD_AT(p, f->off, int64_t));
        break;
    case HD_FK_ENUM:
        return hd_get_enum(c, fv, f->name, f->cnt, &HD_AT(p, f->off, int));
    case HD_FK_ENUMS:
    case HD_FK_STRS:
    case HD_FK_RECS:
        return hd_get_array(c, f, fv, p);
    case HD_FK_MAP:
        return hd_get_map(c, fv, f->name, &HD_AT(p, f->off, struct hd_map));
    case HD_FK_OBYTES: {
        const void *bytes;
        size_t size;
        if (avro_value_get_bytes(fv, &bytes, &size))
            return hd_rc_avro(c, f->name);
        *ptr = hd_memdup(bytes, size);
        HD_AT(p, f->aux, size_t) = size;
        return 0;
    }
    case HD_FK_REC:
        return hd_rget(c, f->sub, fv, (char *)p + f->off);
    case HD_FK_OREC:
        *ptr = hd_calloc(1, f->sub->size);
        return hd_rget(c, f->sub, fv, *ptr);
    }
    return rc ? hd_rc_avro(c, f->name) : 0;
}

/* avro record value -> struct at p (which starts zeroed). */
static int hd_rget(struct hd_rc *c, const struct hd_rtable *t, avro_value_t *v, void *p)
{
    const char *outer = c->rec;
    c->rec = t->name;
    for (size_t i = 0; i < t->field_cnt; i++) {
        avro_value_t fv;
        if (avro_value_get_by_name(v, t->fields[i].name, &fv, NULL))
            return hd_rc_avro(c, t->fields[i].name);
        if (hd_get_field(c, &t->fields[i], &fv, p))
            return -1;
    }
    c->rec = outer;
    return 0;
}

static int hd_set_str(struct hd_rc *c, avro_value_t *v, const char *name, const char *s)
{
    return avro_value_set_string(v, s) ? hd_rc_avro(c, name) : 0;
}

static int hd_set_enum(struct hd_rc *c, avro_value_t *v, const char *name, int cnt, int e)
{
    if (e < 0 || e >= cnt)
        return hd_rc_fail(c, name, "enum value %d out of range", e);
    return avro_value_set_enum(v, e) ? hd_rc_avro(c, name) : 0;
}

static int hd_set_map(struct hd_rc *c, avro_value_t *v, const char *name, const struct hd_map *m)
{
    avro_value_t e;
    for (size_t i = 0; i < m->cnt; i++) {
        if (!m->items[i].key || !m->items[i].value)
            return hd_rc_fail(c, name, "map entry %zu has a NULL key or value", i);
        if (avro_value_add(v, m->items[i].key, &e, NULL, NULL))
            return hd_rc_avro(c, name);
        if (hd_set_str(c, &e, name, m->items[i].value))
            return -1;
    }
    return 0;
}

static int hd_rset(struct hd_rc *c, const struct hd_rtable *t, avro_value_t *v, const void *p);

static int hd_set_array(struct hd_rc *c, const struct hd_rfield *f, avro_value_t *arr,
                        const void *p)
{
    const char *items = HD_CAT(p, f->off, const char *);
    size_t n = HD_CAT(p, f->aux, size_t);
    size_t elem = f->kind == HD_FK_STRS ? sizeof(char *)
                  : f->kind == HD_FK_ENUMS ? sizeof(int)
                  : f->sub->size;
    if (n && !items)
        return hd_rc_fail(c, f->name, "count is %zu but the array is NULL", n);
    for (size_t i = 0; i < n; i++) {
        avro_value_t e;
        const void *item = items + i * elem;
        if (avro_value_append(arr, &e, NULL))
            return hd_rc_avro(c, f->name);
        int rc;
        if (f->kind == HD_FK_STRS) {
            const char *s = *(const char *const *)item;
            rc = s ? hd_set_str(c, &e, f->name, s)
                   : hd_rc_fail(c, f->name, "element %zu is NULL", i);
        } else if (f->kind == HD_FK_ENUMS) {
            rc = hd_set_enum(c, &e, f->name, f->cnt, *(const int *)item);
        } else {
            rc = hd_rset(c, f->sub, &e, item);
        }
        if (rc)
            return -1;
    }
    return 0;
}

static int hd_set_field(struct hd_rc *c, const struct hd_rfield *f, avro_value_t *fv,
                        const void *p)
{
    avro_value_t b;
    const void *ptr = hd_fk_pointer(f->kind) ? HD_CAT(p, f->off, const void *) : NULL;
    int rc = 0;
    if (hd_fk_nullable(f->kind)) {
        int present = f->kind == HD_FK_OINT || f->kind == HD_FK_OLONG ? HD_CAT(p, f->aux, int)
                                                                       : ptr != NULL;
        if (avro_value_set_branch(fv, present ? 1 : 0, &b))
            return hd_rc_avro(c, f->name);
        if (!present)
            return avro_value_set_null(&b) ? hd_rc_avro(c, f->name) : 0;
        fv = &b;
    }
    switch (f->kind) {
    case HD_FK_STR:
        if (!ptr && !(ptr = f->dflt))
            return hd_rc_fail(c, f->name, "required string is NULL");
        return hd_set_str(c, fv, f->name, ptr);
    case HD_FK_OSTR:
        return hd_set_str(c, fv, f->name, ptr);
    case HD_FK_INT:
    case HD_FK_OINT:
        rc = avro_value_set_int(fv, HD_CAT(p, f->off, int32_t));
        break;
    case HD_FK_LONG:
    case HD_FK_OLONG:
        rc = avro_value_set_long(fv, HD_CAT(p, f->off, int64_t));
        break;
    case HD_FK_ENUM:
        return hd_set_enum(c, fv, f->name, f->cnt, HD_CAT(p, f->off, int));
    case HD_FK_ENUMS:
    case HD_FK_STRS:
    case HD_FK_RECS:
        return hd_set_array(c, f, fv, p);
    case HD_FK_MAP:
        return hd_set_map(c, fv, f->name, &HD_CAT(p, f->off, struct hd_map));
    case HD_FK_OBYTES:
        rc = avro_value_set_bytes(fv, (void *)ptr, HD_CAT(p, f->aux, size_t));
        break;
    case HD_FK_REC:
        return hd_rset(c, f->sub, fv, (const char *)p + f->off);
    case HD_FK_OREC:
        return hd_rset(c, f->sub, fv, ptr);
    }
    return rc ? hd_rc_avro(c, f->name) : 0;
}

/* struct at p -> avro record value (every field is set). */
static int hd_rset(struct hd_rc *c, const struct hd_rtable *t, avro_value_t *v, const void *p)
{
    const char *outer = c->rec;
    c->rec = t->name;
    for (size_t i = 0; i < t->field_cnt; i++) {
        avro_value_t fv;
        if (avro_value_get_by_name(v, t->fields[i].name, &fv, NULL))
            return hd_rc_avro(c, t->fields[i].name);
        if (hd_set_field(c, &t->fields[i], &fv, p))
            return -1;
    }
    c->rec = outer;
    return 0;
}

/* ---- the codecs ---- */

static int hd_rdecode(struct hd_serde *sd, const struct hd_rtable *t, const void *buf, size_t len,
                      void *out, char *errstr, size_t errstr_size)
{
    hd_rclear(t, out);
    /* The type is checked before the body, so "expected X, got Y" wins over body errors. */
    const struct hd_schema *s = hd_serde_peek(sd, buf, len, errstr, errstr_size);
    if (!s)
        return -1;
    if (strcmp(hd_schema_name(s), t->name))
        return hd_seterr(-1, errstr, errstr_size, "expected %s, got %s", t->name,
                         hd_schema_name(s));
    avro_value_t *v;
    if (hd_serde_decode_value(sd, buf, len, &s, &v, errstr, errstr_size))
        return -1;
    struct hd_rc c = {t->name, errstr, errstr_size};
    if (hd_rget(&c, t, v, out)) {
        hd_rclear(t, out);
        return -1;
    }
    return 0;
}

static int hd_rencode(struct hd_serde *sd, const struct hd_rtable *t, const void *in,
                      struct hd_buf *out, char *errstr, size_t errstr_size)
{
    const struct hd_schema *s = hd_serde_schema(sd, t->name);
    if (!s)
        return hd_seterr(-1, errstr, errstr_size, "schema %s is not embedded", t->name);
    avro_value_t *v = hd_serde_scratch_value(sd, s);
    struct hd_rc c = {t->name, errstr, errstr_size};
    if (hd_rset(&c, t, v, in))
        return -1;
    return hd_serde_encode_value(sd, s, v, out, errstr, errstr_size);
}

#define HD_CODEC(name, type, table)                                                                \
    int hd_##name##_decode(struct hd_serde *sd, const void *buf, size_t len, type *out,            \
                           char *errstr, size_t errstr_size)                                       \
    {                                                                                              \
        return hd_rdecode(sd, &table, buf, len, out, errstr, errstr_size);                         \
    }                                                                                              \
    int hd_##name##_encode(struct hd_serde *sd, const type *in, struct hd_buf *out, char *errstr,  \
                           size_t errstr_size)                                                     \
    {                                                                                              \
        return hd_rencode(sd, &table, in, out, errstr, errstr_size);                               \
    }                                                                                              \
    void hd_##name##_clear(type *r)                                                                \
    {                                                                                              \
        hd_rclear(&table, r);                                                                      \
    }

HD_CODEC(request, struct hd_request, hd_request_table)
HD_CODEC(status_event, struct hd_status_event, hd_status_event_table)
HD_CODEC(dead_letter, struct hd_dead_letter, hd_dead_letter_table)
HD_CODEC(dispatch, struct hd_dispatch, hd_dispatch_table)
HD_CODEC(inbox_item, struct hd_inbox_item, hd_inbox_item_table)
HD_CODEC(user_action, struct hd_user_action, hd_user_action_table)

void hd_status_event_init(struct hd_status_event *ev, const char *notification_id,
                          const char *request_id, const char *tenant_id, const char *user_id,
                          enum hd_channel channel, const char *batch_id, int32_t attempt,
                          enum hd_status status, int64_t occurred_at)
{
    memset(ev, 0, sizeof(*ev));
    ev->notification_id = (char *)notification_id;
    ev->request_id = (char *)request_id;
    ev->tenant_id = (char *)tenant_id;
    ev->user_id = (char *)user_id;
    ev->channel = channel;
    ev->batch_id = (char *)batch_id;
    ev->attempt = attempt;
    ev->status = status;
    ev->occurred_at = occurred_at;
}
