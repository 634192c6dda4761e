/*
 * Config tables the processors read: tenants, routing rules and templates.
 * `herald run` keeps them in a live holder fed from the compacted config
 * topics (tables/topics.c); tests, the demo and the benchmark may
 * parse a JSON document directly. A table set is immutable once built, and
 * refcounted: a task acquires the current snapshot for each transaction, so
 * a config change takes effect between batches, never within one.
 *
 * Document shape (also the HERALD_CONFIG file that `herald config import` and
 * `herald run` publish to the topics; one list element = one topic record):
 *   {"tenants": [{"tenant_id": "acme", "name": "Acme", "default_locale": "en",
 *                 "dedup_ttl_ms": {"EMAIL": 3600000}, "timezone": "Europe/Berlin",
 *                 "preference_defaults": {<a preference layer: docs/PREFERENCES.md>},
 *                 "frequency_caps": [{"channel": "EMAIL", "category": "MARKETING",
 *                                     "max": 3, "window_ms": 604800000}]}],
 *    "rules": [{"id": "order-confirmation", "tenant_id": "acme", "event_type": "order.created",
 *               "when": [{"field": "total", "op": "gt", "value": 100}],
 *               "channels": ["EMAIL", "IN_APP"], "category": "TRANSACTIONAL",
 *               "priority": "NORMAL", "template": {"key": "order_confirmation"},
 *               "content": {"subject": "...", "text": "...", "title": "..."}}]}
 *    "templates": [<template version or active pointer document: templates/template_store.h>]}
 * Condition ops: eq, ne, gt, gte, lt, lte, exists, in (value is a list). `field` is a
 * dot path into the event ("items.0.sku").
 */
#ifndef HD_TABLES_H
#define HD_TABLES_H

#include <jansson.h>
#include <stddef.h>

#include "schemas/records.h"

struct hd_tpl_store;

/* A frequency cap: at most `max` messages per user in any `window_ms`, counted per user
 * and channel (channel set), per user and category (category set), or both. A cap without
 * a category counts every category but TRANSACTIONAL. */
struct hd_cap {
    int channel;  /* enum hd_channel, or -1: every channel */
    int category; /* enum hd_category, or -1: every category but TRANSACTIONAL */
    int max;
    int64_t window_ms;
};

struct hd_tenant {
    char *tenant_id;
    char *name;
    char *default_locale;
    int64_t dedup_ttl_ms[HD_CH__CNT]; /* per channel; 0 = the default */
    char *timezone;                   /* IANA; NULL: UTC (quiet hours of users without one) */
    json_t *preference_defaults;      /* a preference layer (prefs_rules.h), or NULL */
    struct hd_cap *caps;              /* frequency caps */
    size_t cap_cnt;
};

enum hd_cond_op { HD_OP_EQ, HD_OP_NE, HD_OP_GT, HD_OP_GTE, HD_OP_LT, HD_OP_LTE, HD_OP_EXISTS, HD_OP_IN };

struct hd_cond {
    char *field;
    enum hd_cond_op op;
    json_t *value; /* owned */
};

struct hd_rule {
    char *id;
    char *tenant_id;
    char *event_type;
    struct hd_cond *conds;
    size_t cond_cnt;
    enum hd_channel *channels;
    size_t channel_cnt;
    enum hd_category category;
    enum hd_priority priority;
    struct hd_template_ref *template_ref; /* NULL when none */
    struct hd_content *content;           /* NULL when none */
};

struct hd_tables;

/* Parses a config file / JSON text / document. Errors name the path ("rules[2].channels[0]:
 * unknown channel \"FAX\""). Templates go to `templates` when given (borrowed, must outlive
 * the set), else to a store of the set's own. Returns NULL with errstr. */
struct hd_tables *hd_tables_load_file(const char *path, char *errstr, size_t errstr_size);
struct hd_tables *hd_tables_parse(const char *json, char *errstr, size_t errstr_size);
struct hd_tables *hd_tables_from_json(json_t *doc, struct hd_tpl_store *templates,
                                      char *errstr, size_t errstr_size);
/* An empty table set (no tenants, no rules, no templates). */
struct hd_tables *hd_tables_empty(void);
/* Drops the caller's reference (a set starts with one); frees at the last. NULL is fine. */
void hd_tables_destroy(struct hd_tables *t);

/* Checks one config record's body as it would be published: kind "tenant", "rule" or
 * "template". Returns 0 or -1 with errstr naming the field. */
int hd_tables_check(const char *kind, json_t *body, char *errstr, size_t errstr_size);

/* A live holder: starts empty; hd_tables_live_swap installs a new snapshot (taking the
 * caller's reference). `templates` (borrowed) is what every snapshot's lookups return. */
struct hd_tables *hd_tables_live_new(struct hd_tpl_store *templates);
void hd_tables_live_swap(struct hd_tables *live, struct hd_tables *next);
/* The snapshot to use now: the set itself, or a live holder's current one, with a new
 * reference (thread-safe). Release with hd_tables_release. */
const struct hd_tables *hd_tables_acquire(const struct hd_tables *t);
void hd_tables_release(const struct hd_tables *snap);

/* The templates (never NULL for a parsed set or a snapshot). */
struct hd_tpl_store *hd_tables_templates(const struct hd_tables *t);

const struct hd_tenant *hd_tables_tenant(const struct hd_tables *t, const char *tenant_id);
size_t hd_tables_tenant_count(const struct hd_tables *t);
/* Every rule, in file order (borrowed array); returns the count. */
size_t hd_tables_rules(const struct hd_tables *t, const struct hd_rule **rules);
/* Rules of one tenant for one event type, in file order: fills up to max pointers and
 * returns how many match (may exceed max). */
size_t hd_tables_rules_for(const struct hd_tables *t, const char *tenant_id,
                           const char *event_type, const struct hd_rule **out, size_t max);
/* Does the event (plain JSON) satisfy every condition of the rule? */
int hd_rule_matches(const struct hd_rule *r, json_t *event);

#endif
