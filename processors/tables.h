/*
 * Config tables the processors read: tenants and routing rules. For now they
 * are loaded from a JSON file (HERALD_CONFIG); the compacted config topics
 * (herald.tenants, herald.rules) replace the file in a later step, behind the
 * same lookups. Immutable after load: safe to share between tasks.
 *
 * File shape:
 *   {"tenants": [{"tenant_id": "acme", "name": "Acme", "default_locale": "en"}],
 *    "rules": [{"id": "order-confirmation", "tenant_id": "acme", "event_type": "order.created",
 *               "when": [{"field": "total", "op": "gt", "value": 100}],
 *               "channels": ["EMAIL", "IN_APP"], "category": "TRANSACTIONAL",
 *               "priority": "NORMAL", "template": {"key": "order_confirmation"},
 *               "content": {"subject": "...", "text": "...", "title": "..."}}]}
 * Condition ops: eq, ne, gt, gte, lt, lte, exists, in (value is a list). `field` is a
 * dot path into the event ("items.0.sku").
 */
#ifndef HD_TABLES_H
#define HD_TABLES_H

#include <jansson.h>
#include <stddef.h>

#include "schemas/records.h"

struct hd_tenant {
    char *tenant_id;
    char *name;
    char *default_locale;
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

/* Parses a config file / JSON text. Errors name the path ("rules[2].channels[0]: unknown
 * channel \"FAX\""). Returns NULL with errstr. */
struct hd_tables *hd_tables_load_file(const char *path, char *errstr, size_t errstr_size);
struct hd_tables *hd_tables_parse(const char *json, char *errstr, size_t errstr_size);
/* An empty table set (no tenants, no rules). */
struct hd_tables *hd_tables_empty(void);
void hd_tables_destroy(struct hd_tables *t);

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
