/*
 * Tenants, routing rules and templates from a JSON document (see tables.h),
 * as immutable refcounted sets, and the live holder `herald run` swaps them in.
 */
#include "tables/tables.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hd.h"
#include "core/tz.h"
#include "processors/prefs_rules.h"
#include "templates/template_store.h"

struct hd_tables {
    atomic_int refs;
    struct hd_tenant *tenants;
    size_t tenant_cnt;
    struct hd_rule *rules;
    size_t rule_cnt;
    struct hd_tpl_store *templates;
    int own_templates;
    /* a live holder: `current` is the snapshot handed out */
    int live;
    pthread_mutex_t mu;
    struct hd_tables *current;
};

static const char *const op_names[] = {"eq", "ne", "gt", "gte", "lt", "lte", "exists", "in"};

static struct hd_tables *tables_new(struct hd_tpl_store *templates)
{
    struct hd_tables *t = hd_calloc(1, sizeof(struct hd_tables));
    atomic_init(&t->refs, 1);
    t->own_templates = !templates;
    t->templates = templates ? templates : hd_tpl_store_new();
    return t;
}

struct hd_tables *hd_tables_empty(void)
{
    return tables_new(NULL);
}

struct hd_tables *hd_tables_live_new(struct hd_tpl_store *templates)
{
    struct hd_tables *t = tables_new(templates);
    t->live = 1;
    pthread_mutex_init(&t->mu, NULL);
    t->current = tables_new(templates);
    return t;
}

void hd_tables_live_swap(struct hd_tables *live, struct hd_tables *next)
{
    pthread_mutex_lock(&live->mu);
    struct hd_tables *old = live->current;
    live->current = next;
    pthread_mutex_unlock(&live->mu);
    hd_tables_destroy(old);
}

const struct hd_tables *hd_tables_acquire(const struct hd_tables *t)
{
    struct hd_tables *m = (struct hd_tables *)t; /* the refcount is not the set's content */
    if (m->live) {
        pthread_mutex_lock(&m->mu);
        struct hd_tables *cur = m->current;
        atomic_fetch_add(&cur->refs, 1);
        pthread_mutex_unlock(&m->mu);
        return cur;
    }
    atomic_fetch_add(&m->refs, 1);
    return m;
}

void hd_tables_release(const struct hd_tables *snap)
{
    hd_tables_destroy((struct hd_tables *)snap);
}

struct hd_tpl_store *hd_tables_templates(const struct hd_tables *t)
{
    return t->templates;
}

static int perr(char *errstr, size_t errstr_size, const char *fmt, ...) HD_PRINTF(3, 4);
static int perr(char *errstr, size_t errstr_size, const char *fmt, ...)
{
    if (errstr && errstr_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* An optional string member: NULL when absent or null; error when another type. */
static int opt_str(json_t *o, const char *k, char **out, const char *path, char *errstr,
                   size_t errstr_size)
{
    json_t *v = json_object_get(o, k);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return perr(errstr, errstr_size, "%s.%s: expected a string", path, k);
    *out = hd_strdup(json_string_value(v));
    return 0;
}

static int req_str(json_t *o, const char *k, char **out, const char *path, char *errstr,
                   size_t errstr_size)
{
    if (opt_str(o, k, out, path, errstr, errstr_size))
        return -1;
    if (!*out || !**out)
        return perr(errstr, errstr_size, "%s.%s: required (a non-empty string)", path, k);
    return 0;
}

/* "dedup_ttl_ms": {"EMAIL": 3600000, ...}: per-channel idempotency windows. */
static int parse_dedup_ttl(struct hd_tenant *tn, json_t *o, const char *path, char *errstr,
                           size_t errstr_size)
{
    if (!o || json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return perr(errstr, errstr_size, "%s.dedup_ttl_ms: expected an object", path);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        int ch = hd_channel_parse(k);
        if (ch < 0)
            return perr(errstr, errstr_size, "%s.dedup_ttl_ms.%.32s: unknown channel", path, k);
        if (!json_is_integer(v) || json_integer_value(v) <= 0)
            return perr(errstr, errstr_size, "%s.dedup_ttl_ms.%s: expected milliseconds > 0",
                        path, k);
        tn->dedup_ttl_ms[ch] = (int64_t)json_integer_value(v);
    }
    return 0;
}

/* "timezone", "preference_defaults" and "frequency_caps": what prefs reads of a tenant. */
static int parse_prefs(struct hd_tenant *tn, json_t *o, const char *path, char *errstr,
                       size_t errstr_size)
{
    if (opt_str(o, "timezone", &tn->timezone, path, errstr, errstr_size))
        return -1;
    if (tn->timezone && !hd_tz_valid(tn->timezone))
        return perr(errstr, errstr_size, "%s.timezone: unknown time zone \"%.64s\"", path,
                    tn->timezone);
    json_t *d = json_object_get(o, "preference_defaults");
    if (d && !json_is_null(d)) {
        struct hd_prefs scratch;
        char err[256];
        hd_prefs_defaults(&scratch);
        if (hd_prefs_apply(&scratch, d, err, sizeof(err)))
            return perr(errstr, errstr_size, "%s.preference_defaults.%s", path, err);
        tn->preference_defaults = json_incref(d);
    }
    json_t *caps = json_object_get(o, "frequency_caps"), *c;
    if (!caps || json_is_null(caps))
        return 0;
    if (!json_is_array(caps))
        return perr(errstr, errstr_size, "%s.frequency_caps: expected an array", path);
    tn->caps = hd_calloc(json_array_size(caps) + 1, sizeof(*tn->caps));
    size_t i;
    json_array_foreach(caps, i, c) {
        struct hd_cap *cap = &tn->caps[tn->cap_cnt++];
        json_t *ch = json_object_get(c, "channel"), *cat = json_object_get(c, "category");
        json_t *max = json_object_get(c, "max"), *win = json_object_get(c, "window_ms");
        if (!json_is_object(c))
            return perr(errstr, errstr_size, "%s.frequency_caps[%zu]: expected an object", path,
                        i);
        cap->channel = ch && !json_is_null(ch) ? hd_channel_parse(json_string_value(ch)) : -1;
        cap->category = cat && !json_is_null(cat) ? hd_category_parse(json_string_value(cat))
                                                  : -1;
        if (ch && !json_is_null(ch) && cap->channel < 0)
            return perr(errstr, errstr_size, "%s.frequency_caps[%zu].channel: unknown channel",
                        path, i);
        if (cat && !json_is_null(cat) && cap->category < 0)
            return perr(errstr, errstr_size,
                        "%s.frequency_caps[%zu].category: unknown category", path, i);
        if (!json_is_integer(max) || json_integer_value(max) < 1 ||
            json_integer_value(max) > 100000)
            return perr(errstr, errstr_size,
                        "%s.frequency_caps[%zu].max: expected an integer from 1 to 100000",
                        path, i);
        if (!json_is_integer(win) || json_integer_value(win) < 1000 ||
            json_integer_value(win) > 366LL * 86400000)
            return perr(errstr, errstr_size, "%s.frequency_caps[%zu].window_ms: expected "
                        "milliseconds from 1000 to a year", path, i);
        cap->max = (int)json_integer_value(max);
        cap->window_ms = json_integer_value(win);
    }
    return 0;
}

static int parse_tenants(struct hd_tables *t, json_t *arr, char *errstr, size_t errstr_size)
{
    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return perr(errstr, errstr_size, "tenants: expected an array");
    t->tenants = hd_calloc(json_array_size(arr) + 1, sizeof(*t->tenants));
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        char path[64];
        snprintf(path, sizeof(path), "tenants[%zu]", i);
        struct hd_tenant *tn = &t->tenants[t->tenant_cnt++];
        if (!json_is_object(o))
            return perr(errstr, errstr_size, "%s: expected an object", path);
        if (req_str(o, "tenant_id", &tn->tenant_id, path, errstr, errstr_size) ||
            opt_str(o, "name", &tn->name, path, errstr, errstr_size) ||
            opt_str(o, "default_locale", &tn->default_locale, path, errstr, errstr_size) ||
            parse_dedup_ttl(tn, json_object_get(o, "dedup_ttl_ms"), path, errstr, errstr_size) ||
            parse_prefs(tn, o, path, errstr, errstr_size))
            return -1;
        for (size_t j = 0; j + 1 < t->tenant_cnt; j++)
            if (!strcmp(t->tenants[j].tenant_id, tn->tenant_id))
                return perr(errstr, errstr_size, "%s.tenant_id: duplicate \"%s\"", path,
                            tn->tenant_id);
    }
    return 0;
}

static int parse_conds(struct hd_rule *r, json_t *arr, const char *path, char *errstr,
                       size_t errstr_size)
{
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return perr(errstr, errstr_size, "%s.when: expected an array", path);
    r->conds = hd_calloc(json_array_size(arr) + 1, sizeof(*r->conds));
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        char cpath[96];
        snprintf(cpath, sizeof(cpath), "%s.when[%zu]", path, i);
        struct hd_cond *c = &r->conds[r->cond_cnt++];
        if (!json_is_object(o))
            return perr(errstr, errstr_size, "%s: expected an object", cpath);
        char *op = NULL;
        if (req_str(o, "field", &c->field, cpath, errstr, errstr_size) ||
            req_str(o, "op", &op, cpath, errstr, errstr_size))
            return -1;
        size_t k;
        for (k = 0; k < HD_ARRAY_SIZE(op_names); k++)
            if (!strcmp(op, op_names[k]))
                break;
        if (k == HD_ARRAY_SIZE(op_names)) {
            perr(errstr, errstr_size, "%s.op: unknown operator \"%s\"", cpath, op);
            hd_free(op);
            return -1;
        }
        hd_free(op);
        c->op = (enum hd_cond_op)k;
        c->value = json_incref(json_object_get(o, "value"));
        if (c->op != HD_OP_EXISTS && !c->value)
            return perr(errstr, errstr_size, "%s.value: required for op %s", cpath, op_names[k]);
        if (c->op == HD_OP_IN && !json_is_array(c->value))
            return perr(errstr, errstr_size, "%s.value: op in needs an array", cpath);
    }
    return 0;
}

static int parse_enum(json_t *o, const char *k, int def, int (*parse)(const char *),
                      const char *path, int *out, char *errstr, size_t errstr_size)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_string(v) || (*out = parse(json_string_value(v))) < 0)
        return perr(errstr, errstr_size, "%s.%s: unknown value", path, k);
    return 0;
}

static int parse_rule_content(struct hd_rule *r, json_t *o, const char *path, char *errstr,
                              size_t errstr_size)
{
    json_t *tpl = json_object_get(o, "template");
    if (tpl && !json_is_null(tpl)) {
        char tpath[96];
        snprintf(tpath, sizeof(tpath), "%s.template", path);
        if (!json_is_object(tpl))
            return perr(errstr, errstr_size, "%s: expected an object", tpath);
        r->template_ref = hd_calloc(1, sizeof(*r->template_ref));
        if (req_str(tpl, "key", &r->template_ref->key, tpath, errstr, errstr_size) ||
            opt_str(tpl, "locale", &r->template_ref->locale, tpath, errstr, errstr_size))
            return -1;
        json_t *ver = json_object_get(tpl, "version");
        if (json_is_integer(ver)) {
            r->template_ref->has_version = 1;
            r->template_ref->version = (int32_t)json_integer_value(ver);
        }
    }
    json_t *ct = json_object_get(o, "content");
    if (ct && !json_is_null(ct)) {
        char cpath[96];
        snprintf(cpath, sizeof(cpath), "%s.content", path);
        if (!json_is_object(ct))
            return perr(errstr, errstr_size, "%s: expected an object", cpath);
        r->content = hd_calloc(1, sizeof(*r->content));
        if (opt_str(ct, "subject", &r->content->subject, cpath, errstr, errstr_size) ||
            opt_str(ct, "text", &r->content->text, cpath, errstr, errstr_size) ||
            opt_str(ct, "html", &r->content->html, cpath, errstr, errstr_size) ||
            opt_str(ct, "title", &r->content->title, cpath, errstr, errstr_size))
            return -1;
        json_t *data = json_object_get(ct, "data");
        const char *k;
        json_t *v;
        json_object_foreach(data, k, v) {
            if (!json_is_string(v))
                return perr(errstr, errstr_size, "%s.data.%s: expected a string", cpath, k);
            hd_map_put(&r->content->data, k, json_string_value(v));
        }
    }
    if (!r->template_ref && !r->content)
        return perr(errstr, errstr_size, "%s: needs a template or a content", path);
    return 0;
}

static int parse_rule(struct hd_rule *r, json_t *o, const char *path, char *errstr,
                      size_t errstr_size)
{
    if (!json_is_object(o))
        return perr(errstr, errstr_size, "%s: expected an object", path);
    if (opt_str(o, "id", &r->id, path, errstr, errstr_size) ||
        req_str(o, "tenant_id", &r->tenant_id, path, errstr, errstr_size) ||
        req_str(o, "event_type", &r->event_type, path, errstr, errstr_size) ||
        parse_conds(r, json_object_get(o, "when"), path, errstr, errstr_size))
        return -1;
    if (!r->id)
        r->id = hd_asprintf("%s", path);
    json_t *chs = json_object_get(o, "channels");
    if (!json_is_array(chs) || json_array_size(chs) == 0)
        return perr(errstr, errstr_size, "%s.channels: required (a non-empty array)", path);
    r->channels = hd_calloc(json_array_size(chs), sizeof(*r->channels));
    size_t i;
    json_t *c;
    json_array_foreach(chs, i, c) {
        int ch = json_is_string(c) ? hd_channel_parse(json_string_value(c)) : -1;
        if (ch < 0)
            return perr(errstr, errstr_size, "%s.channels[%zu]: unknown channel \"%.32s\"", path,
                        i, json_is_string(c) ? json_string_value(c) : "(not a string)");
        r->channels[r->channel_cnt++] = (enum hd_channel)ch;
    }
    int cat = HD_CAT_TRANSACTIONAL, prio = HD_PRIO_NORMAL;
    if (parse_enum(o, "category", HD_CAT_TRANSACTIONAL, hd_category_parse, path, &cat, errstr,
                   errstr_size) ||
        parse_enum(o, "priority", HD_PRIO_NORMAL, hd_priority_parse, path, &prio, errstr,
                   errstr_size))
        return -1;
    r->category = (enum hd_category)cat;
    r->priority = (enum hd_priority)prio;
    return parse_rule_content(r, o, path, errstr, errstr_size);
}

static int parse_templates(struct hd_tables *t, json_t *arr, char *errstr, size_t errstr_size)
{
    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return perr(errstr, errstr_size, "templates: expected an array");
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        char e[512];
        if (hd_tpl_store_put(t->templates, o, e, sizeof(e)))
            return perr(errstr, errstr_size, "templates[%zu]: %s", i, e);
    }
    return 0;
}

struct hd_tables *hd_tables_from_json(json_t *root, struct hd_tpl_store *templates,
                                      char *errstr, size_t errstr_size)
{
    struct hd_tables *t = tables_new(templates);
    if (!json_is_object(root)) {
        perr(errstr, errstr_size, "expected a JSON object with \"tenants\" and \"rules\"");
        goto err;
    }
    if (parse_tenants(t, json_object_get(root, "tenants"), errstr, errstr_size))
        goto err;
    json_t *rules = json_object_get(root, "rules");
    if (rules && !json_is_array(rules)) {
        perr(errstr, errstr_size, "rules: expected an array");
        goto err;
    }
    t->rules = hd_calloc(json_array_size(rules) + 1, sizeof(*t->rules));
    size_t i;
    json_t *o;
    json_array_foreach(rules, i, o) {
        char path[64];
        snprintf(path, sizeof(path), "rules[%zu]", i);
        if (parse_rule(&t->rules[t->rule_cnt++], o, path, errstr, errstr_size))
            goto err;
    }
    if (parse_templates(t, json_object_get(root, "templates"), errstr, errstr_size))
        goto err;
    return t;
err:
    hd_tables_destroy(t);
    return NULL;
}

struct hd_tables *hd_tables_parse(const char *text, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (!root) {
        perr(errstr, errstr_size, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    struct hd_tables *t = hd_tables_from_json(root, NULL, errstr, errstr_size);
    json_decref(root);
    return t;
}

int hd_tables_check(const char *kind, json_t *body, char *errstr, size_t errstr_size)
{
    const char *list = !strcmp(kind, "tenant") ? "tenants"
                     : !strcmp(kind, "rule")   ? "rules"
                     : !strcmp(kind, "template") ? "templates"
                                                 : NULL;
    if (!list)
        return perr(errstr, errstr_size, "unknown config kind \"%.32s\"", kind);
    json_t *doc = json_pack("{s:[O]}", list, body);
    char e[512];
    struct hd_tables *t = hd_tables_from_json(doc, NULL, e, sizeof(e));
    json_decref(doc);
    if (!t) {
        /* "rules[0].channels" -> "channels": the record is checked on its own */
        const char *dot = strchr(e, '.'), *colon = strchr(e, ':');
        const char *msg = !strncmp(e, list, strlen(list)) && e[strlen(list)] == '['
                              ? (dot && dot < colon ? dot + 1 : colon ? colon + 2 : e)
                              : e;
        return perr(errstr, errstr_size, "%s: %s", kind, msg);
    }
    hd_tables_destroy(t);
    return 0;
}

struct hd_tables *hd_tables_load_file(const char *path, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        perr(errstr, errstr_size, "%s: line %d column %d: %s", path, jerr.line, jerr.column,
             jerr.text);
        return NULL;
    }
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    char e[512];
    struct hd_tables *t = hd_tables_parse(text, e, sizeof(e));
    free(text);
    if (!t)
        perr(errstr, errstr_size, "%s: %s", path, e);
    return t;
}

static void rule_clear(struct hd_rule *r)
{
    hd_free(r->id);
    hd_free(r->tenant_id);
    hd_free(r->event_type);
    for (size_t i = 0; i < r->cond_cnt; i++) {
        hd_free(r->conds[i].field);
        json_decref(r->conds[i].value);
    }
    hd_free(r->conds);
    hd_free(r->channels);
    if (r->template_ref) {
        hd_free(r->template_ref->key);
        hd_free(r->template_ref->locale);
        hd_free(r->template_ref);
    }
    if (r->content) {
        hd_content_clear(r->content);
        hd_free(r->content);
    }
}

void hd_tables_destroy(struct hd_tables *t)
{
    if (!t || atomic_fetch_sub(&t->refs, 1) > 1)
        return;
    if (t->live) {
        hd_tables_destroy(t->current);
        pthread_mutex_destroy(&t->mu);
    }
    if (t->own_templates)
        hd_tpl_store_destroy(t->templates);
    for (size_t i = 0; i < t->tenant_cnt; i++) {
        hd_free(t->tenants[i].tenant_id);
        hd_free(t->tenants[i].name);
        hd_free(t->tenants[i].default_locale);
        hd_free(t->tenants[i].timezone);
        json_decref(t->tenants[i].preference_defaults);
        hd_free(t->tenants[i].caps);
    }
    hd_free(t->tenants);
    for (size_t i = 0; i < t->rule_cnt; i++)
        rule_clear(&t->rules[i]);
    hd_free(t->rules);
    hd_free(t);
}

const struct hd_tenant *hd_tables_tenant(const struct hd_tables *t, const char *tenant_id)
{
    for (size_t i = 0; i < t->tenant_cnt; i++)
        if (!strcmp(t->tenants[i].tenant_id, tenant_id))
            return &t->tenants[i];
    return NULL;
}

size_t hd_tables_tenant_count(const struct hd_tables *t)
{
    return t->tenant_cnt;
}

size_t hd_tables_rules(const struct hd_tables *t, const struct hd_rule **rules)
{
    *rules = t->rules;
    return t->rule_cnt;
}

size_t hd_tables_rules_for(const struct hd_tables *t, const char *tenant_id,
                           const char *event_type, const struct hd_rule **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < t->rule_cnt; i++) {
        const struct hd_rule *r = &t->rules[i];
        if (strcmp(r->tenant_id, tenant_id) || strcmp(r->event_type, event_type))
            continue;
        if (n < max)
            out[n] = r;
        n++;
    }
    return n;
}

/* Follows a dot path ("items.0.sku") into the event. */
static json_t *path_get(json_t *v, const char *path)
{
    char seg[128];
    while (v && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof(seg))
            return NULL;
        memcpy(seg, path, n);
        seg[n] = '\0';
        path += n + (path[n] == '.');
        if (json_is_object(v)) {
            v = json_object_get(v, seg);
        } else if (json_is_array(v)) {
            char *end;
            unsigned long idx = strtoul(seg, &end, 10);
            v = *end ? NULL : json_array_get(v, idx);
        } else {
            return NULL;
        }
    }
    return v;
}

static int cmp_values(json_t *a, json_t *b, int *cmp)
{
    if (json_is_number(a) && json_is_number(b)) {
        double x = json_number_value(a), y = json_number_value(b);
        *cmp = x < y ? -1 : x > y;
        return 0;
    }
    if (json_is_string(a) && json_is_string(b)) {
        *cmp = strcmp(json_string_value(a), json_string_value(b));
        return 0;
    }
    return -1;
}

/* JSON has one number type: 100 and 100.0 are equal (jansson's json_equal says not). */
static int values_equal(json_t *a, json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal(a, b);
}

static int cond_holds(const struct hd_cond *c, json_t *event)
{
    json_t *v = path_get(event, c->field);
    if (c->op == HD_OP_EXISTS)
        return v && !json_is_null(v);
    if (!v)
        return c->op == HD_OP_NE;
    if (c->op == HD_OP_EQ)
        return values_equal(v, c->value);
    if (c->op == HD_OP_NE)
        return !values_equal(v, c->value);
    if (c->op == HD_OP_IN) {
        size_t i;
        json_t *x;
        json_array_foreach(c->value, i, x) if (values_equal(v, x)) return 1;
        return 0;
    }
    int cmp;
    if (cmp_values(v, c->value, &cmp))
        return 0;
    switch (c->op) {
    case HD_OP_GT: return cmp > 0;
    case HD_OP_GTE: return cmp >= 0;
    case HD_OP_LT: return cmp < 0;
    case HD_OP_LTE: return cmp <= 0;
    default: return 0;
    }
}

int hd_rule_matches(const struct hd_rule *r, json_t *event)
{
    for (size_t i = 0; i < r->cond_cnt; i++)
        if (!cond_holds(&r->conds[i], event))
            return 0;
    return 1;
}
