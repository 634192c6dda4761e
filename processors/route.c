/*
 * route: domain event -> NotificationRequest(s) by the tenant's rules
 * (event type, optional field conditions, channels, category, template or
 * inline content). Stateless. An event's own email/phone/locale fields
 * become the recipient until enrichment (User Service) lands. Request ids
 * are derived from the event id and the rule id (UUIDv5), so replaying an
 * event yields the same requests and the same notification ids downstream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/uuid.h"
#include "processors/processor.h"
#include "tables/tables.h"

#define HD_ROUTE_MAX_RULES 32

static const char *event_str(json_t *ev, const char *k)
{
    json_t *v = json_object_get(ev, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The request a rule makes of an event. Borrows from rule and event; variables_json,
 * metadata and the recipient struct (not its strings) are owned (freed by the caller). */
static void build_request(struct hd_request *r, const struct hd_rule *rule, json_t *ev,
                          const char *topic, char *request_id)
{
    memset(r, 0, sizeof(*r));
    r->request_id = request_id;
    r->tenant_id = (char *)event_str(ev, "tenant_id");
    r->user_id = (char *)event_str(ev, "user_id");
    r->channels = rule->channels;
    r->channel_cnt = rule->channel_cnt;
    r->category = rule->category;
    r->priority = rule->priority;
    r->template_ref = rule->template_ref;
    r->content = rule->content;
    r->variables_json = json_dumps(ev, JSON_COMPACT);
    r->idempotency_key = request_id;
    /* Until enrichment lands, an event's own address fields are the recipient. */
    if (event_str(ev, "email") || event_str(ev, "phone") || event_str(ev, "locale")) {
        r->recipient = hd_calloc(1, sizeof(*r->recipient));
        r->recipient->email = (char *)event_str(ev, "email");
        r->recipient->phone = (char *)event_str(ev, "phone");
        r->recipient->locale = (char *)event_str(ev, "locale");
    }
    json_t *at = json_object_get(ev, "occurred_at");
    r->created_at = json_is_integer(at) ? json_integer_value(at) : 0;
    hd_map_put(&r->metadata, "source_event_type", topic);
    hd_map_put(&r->metadata, "source_event_id", event_str(ev, "event_id"));
    hd_map_put(&r->metadata, "rule_id", rule->id);
}

/* The first of tenant_id, user_id and event_id that is not a non-empty string; NULL when all
 * are. An empty user_id makes a request validate would dead-letter, and an empty event_id
 * would give every such event of a tenant the same request ids, so dedup keeps only one. */
static const char *missing_id(json_t *ev)
{
    static const char *const ids[] = {"tenant_id", "user_id", "event_id"};
    for (size_t i = 0; i < HD_ARRAY_SIZE(ids); i++) {
        const char *v = event_str(ev, ids[i]);
        if (!v || !*v)
            return ids[i];
    }
    return NULL;
}

static enum hd_verdict route_process(void *self, struct hd_ctx *ctx, struct hd_record *rec)
{
    json_t *ev = rec->event;
    const char *topic = rec->src->topic;
    const char *missing = missing_id(ev);
    if (missing)
        return hd_ctx_error(ctx, "invalid_event", "%s: empty or not a string (event needs %s)",
                            missing, "tenant_id, user_id and event_id");
    const char *tenant = event_str(ev, "tenant_id");
    const char *event_id = event_str(ev, "event_id");
    if (!hd_tables_tenant(hd_ctx_tables(ctx), tenant))
        return hd_ctx_error(ctx, "unknown_tenant", "tenant_id: unknown tenant \"%s\"", tenant);

    const struct hd_rule *rules[HD_ROUTE_MAX_RULES];
    size_t n = hd_tables_rules_for(hd_ctx_tables(ctx), tenant, topic, rules, HD_ROUTE_MAX_RULES);
    if (n > HD_ROUTE_MAX_RULES)
        return hd_ctx_error(ctx, "too_many_rules", "%zu rules match %s; at most %d", n, topic,
                            HD_ROUTE_MAX_RULES);
    size_t emitted = 0;
    for (size_t i = 0; i < n; i++) {
        if (!hd_rule_matches(rules[i], ev))
            continue;
        char name[512], request_id[HD_UUID_STRLEN];
        snprintf(name, sizeof(name), "%s/%s/%s", tenant, event_id, rules[i]->id);
        hd_uuid_v5(name, request_id);
        struct hd_request r;
        build_request(&r, rules[i], ev, topic, request_id);
        int rc = hd_ctx_emit_request(ctx, &r);
        free(r.variables_json);
        hd_map_clear(&r.metadata);
        hd_free(r.recipient);
        if (rc)
            return HD_PASS; /* the runtime aborts the transaction */
        emitted++;
    }
    if (!emitted)
        return hd_ctx_skip(ctx, "no_rule", "no rule of tenant %s routes %s", tenant, topic);
    return HD_PASS;
}

const struct hd_processor hd_proc_route = {
    .name = "route",
    .input = HD_PAYLOAD_EVENT,
    .process = route_process,
};
