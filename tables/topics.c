/*
 * The config reader (see topics.h): compacted config topics -> local
 * stores -> table snapshots and the template store.
 */
#include "tables/topics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "connectors/kafka.h"
#include "core/log.h"
#include "core/time.h"
#include "schemas/serde.h"
#include "state/store.h"
#include "state/stores.h"
#include "tables/tables.h"
#include "templates/template_store.h"

#define CR_STALL_MS 60000
#define CR_BATCH 1000

enum { CR_TENANT = 0, CR_RULE, CR_TEMPLATE };

const char *const hd_tables_kinds[HD_TABLES_KINDS] = {"tenant", "rule", "template"};
static const char *const cr_topics[HD_TABLES_KINDS] = {"herald.tenants", "herald.rules",
                                                      "herald.templates"};
static const char *const cr_lists[HD_TABLES_KINDS] = {"tenants", "rules", "templates"};

static int kind_index(const char *kind)
{
    for (int i = 0; i < HD_TABLES_KINDS; i++)
        if (!strcmp(kind, hd_tables_kinds[i]))
            return i;
    return -1;
}

const char *hd_tables_topic(const char *kind)
{
    int k = kind_index(kind);
    return k < 0 ? NULL : cr_topics[k];
}

const char *hd_tables_list(const char *kind)
{
    int k = kind_index(kind);
    return k < 0 ? NULL : cr_lists[k];
}

static const char *str_member(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) && *json_string_value(v) ? json_string_value(v) : NULL;
}

int hd_tables_record_id(const char *kind, json_t *body, char *tenant, size_t tenant_size,
                        char *id, size_t id_size, char *errstr, size_t errstr_size)
{
    int k = kind_index(kind);
    if (k < 0)
        return hd_seterr(-1, errstr, errstr_size, "unknown config kind \"%.32s\"", kind);
    const char *t = str_member(body, "tenant_id");
    if (!t)
        return hd_seterr(-1, errstr, errstr_size, "%s: tenant_id: required", kind);
    snprintf(tenant, tenant_size, "%s", t);
    if (k == CR_TENANT) {
        snprintf(id, id_size, "tenant");
        return 0;
    }
    const char *name = str_member(body, k == CR_RULE ? "id" : "key");
    if (!name)
        return hd_seterr(-1, errstr, errstr_size, "%s: %s: required", kind,
                         k == CR_RULE ? "id" : "key");
    if (k == CR_RULE) {
        snprintf(id, id_size, "%s", name);
        return 0;
    }
    json_t *ver = json_object_get(body, "version");
    if (json_is_integer(ver))
        snprintf(id, id_size, "%s/%lld", name, (long long)json_integer_value(ver));
    else if (json_object_get(body, "active_version"))
        snprintf(id, id_size, "%s/active", name);
    else
        return hd_seterr(-1, errstr, errstr_size,
                         "template: version (or active_version for a pointer): required");
    return 0;
}

/* ---- the reader ---- */

struct cr_part {
    int kind;
    int32_t partition;
    struct hd_store *st;
    int64_t next;       /* next offset to apply */
    int64_t end;        /* the topic's end when the reader started */
    int eof;
    int dirty;          /* applied writes not committed to the store yet */
};

struct hd_tables_reader {
    const struct hd_config *cfg;
    struct hd_tables *live;
    struct hd_tpl_store *templates;
    struct hd_serde *sd;
    rd_kafka_t *rk;
    struct cr_part *parts;
    size_t part_cnt;
    char *app;
    pthread_t thread;
    int running;
    atomic_int stop;
    atomic_uint_fast64_t generation;
    struct hd_buf old;
};

json_t *hd__tables_record_body(struct hd_serde *sd, int kind, const void *v, size_t n,
                               char *errstr, size_t errstr_size)
{
    const struct hd_schema *s = NULL;
    json_t *rec = hd_serde_decode_json(sd, v, n, &s, errstr, errstr_size);
    if (!rec)
        return NULL;
    json_t *body = NULL;
    const char *text = str_member(rec, "body_json"), *tenant = str_member(rec, "tenant_id");
    json_error_t je;
    if (s != hd_serde_schema(sd, "ConfigRecord") || !text || !tenant)
        hd_seterr(-1, errstr, errstr_size, "not a ConfigRecord");
    else if (!(body = json_loads(text, 0, &je)))
        hd_seterr(-1, errstr, errstr_size, "body_json: line %d column %d: %s", je.line,
                  je.column, je.text);
    else if (!str_member(body, "tenant_id") || strcmp(str_member(body, "tenant_id"), tenant))
        hd_seterr(-1, errstr, errstr_size, "body tenant_id differs from the record's \"%s\"",
                  tenant);
    else if (hd_tables_check(hd_tables_kinds[kind], body, errstr, errstr_size) == 0) {
        json_decref(rec);
        return body;
    }
    json_decref(body);
    json_decref(rec);
    return NULL;
}

/* A deleted template record: forget the version (or pointer) it held. */
static void forget_template(struct hd_tables_reader *r, struct cr_part *p, const void *key,
                            size_t key_len)
{
    char err[256];
    if (hd_store_get(p->st, key, key_len, 0, &r->old, err, sizeof(err)) != 1)
        return;
    json_t *body =
        hd__tables_record_body(r->sd, CR_TEMPLATE, r->old.data, r->old.len, err, sizeof(err));
    if (!body)
        return;
    json_t *ver = json_object_get(body, "version");
    hd_tpl_store_delete(r->templates, str_member(body, "tenant_id"), str_member(body, "key"),
                        json_is_integer(ver) ? (int64_t)json_integer_value(ver) : -1);
    json_decref(body);
}

static void apply(struct hd_tables_reader *r, struct cr_part *p, const rd_kafka_message_t *m)
{
    char err[512];
    int rc;
    if (!m->payload) {
        if (p->kind == CR_TEMPLATE)
            forget_template(r, p, m->key, m->key_len);
        rc = hd_store_delete(p->st, m->key, m->key_len, err, sizeof(err));
    } else {
        json_t *body =
            hd__tables_record_body(r->sd, p->kind, m->payload, m->len, err, sizeof(err));
        if (!body)
            hd_log_error("config", "%s[%d]@%lld key \"%.*s\": left out: %s", cr_topics[p->kind],
                         m->partition, (long long)m->offset, (int)m->key_len,
                         (const char *)m->key, err);
        else if (p->kind == CR_TEMPLATE &&
                 hd_tpl_store_put(r->templates, body, err, sizeof(err)) != HD_OK)
            hd_log_error("config", "template \"%.*s\": %s", (int)m->key_len,
                         (const char *)m->key, err);
        json_decref(body);
        /* stored even when left out: it is the key's latest value on every instance */
        rc = hd_store_put(p->st, m->key, m->key_len, m->payload, m->len, 0, err, sizeof(err));
    }
    if (rc)
        hd_log_error("config", "%s[%d]: store: %s", cr_topics[p->kind], p->partition, err);
    p->next = m->offset + 1;
    p->dirty = 1;
}

/* Appends every valid body of one store to the document's list. */
static void collect(struct hd_tables_reader *r, struct cr_part *p, json_t *list, int templates)
{
    char err[256];
    struct hd_store_iter *it = hd_store_iter_prefix(p->st, "", 0, 0, err, sizeof(err));
    if (!it) {
        hd_log_error("config", "%s[%d]: %s", cr_topics[p->kind], p->partition, err);
        return;
    }
    const void *k, *v;
    size_t kl, vl;
    while (hd_store_iter_next(it, &k, &kl, &v, &vl) == 1) {
        json_t *body = hd__tables_record_body(r->sd, p->kind, v, vl, err, sizeof(err));
        if (body && templates && hd_tpl_store_put(r->templates, body, err, sizeof(err)))
            hd_log_error("config", "template \"%.*s\": %s", (int)kl, (const char *)k, err);
        if (body && !templates)
            json_array_append(list, body);
        json_decref(body);
    }
    hd_store_iter_destroy(it);
}

/* Builds a snapshot of tenants and rules from the stores and installs it. */
static void rebuild(struct hd_tables_reader *r)
{
    json_t *doc = json_pack("{s:[],s:[]}", "tenants", "rules");
    for (size_t i = 0; i < r->part_cnt; i++)
        if (r->parts[i].kind != CR_TEMPLATE)
            collect(r, &r->parts[i], json_object_get(doc, cr_lists[r->parts[i].kind]), 0);
    char err[512];
    struct hd_tables *t = hd_tables_from_json(doc, r->templates, err, sizeof(err));
    json_decref(doc);
    if (!t) {
        hd_log_error("config", "config tables not updated: %s", err);
        return;
    }
    const struct hd_rule *rules;
    hd_log_info("config", "config tables: %zu tenants, %zu rules, %zu template versions",
                hd_tables_tenant_count(t), hd_tables_rules(t, &rules),
                hd_tpl_store_count(r->templates));
    hd_tables_live_swap(r->live, t);
    atomic_fetch_add(&r->generation, 1);
}

/* Commits applied records with their offsets; rebuilds when tenants or rules changed. */
static int flush(struct hd_tables_reader *r)
{
    int tables_changed = 0;
    char err[256];
    for (size_t i = 0; i < r->part_cnt; i++) {
        struct cr_part *p = &r->parts[i];
        if (!p->dirty)
            continue;
        if (hd_store_commit(p->st, p->next, err, sizeof(err))) {
            hd_log_error("config", "%s[%d]: %s", cr_topics[p->kind], p->partition, err);
            return -1;
        }
        p->dirty = 0;
        tables_changed |= p->kind != CR_TEMPLATE;
    }
    if (tables_changed)
        rebuild(r);
    return 0;
}

static struct cr_part *part_of(struct hd_tables_reader *r, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    for (size_t i = 0; i < r->part_cnt; i++)
        if (r->parts[i].partition == m->partition && !strcmp(cr_topics[r->parts[i].kind], topic))
            return &r->parts[i];
    return NULL;
}

/* Consumes for up to timeout_ms; returns records applied, or -1 on a consumer error. */
static int consume(struct hd_tables_reader *r, int timeout_ms)
{
    int applied = 0;
    for (int i = 0; i < CR_BATCH; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, i ? 0 : timeout_ms);
        if (!m)
            break;
        struct cr_part *p = part_of(r, m);
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (p)
                p->eof = 1;
        } else if (m->err) {
            hd_log_warn("config", "consume: %s", rd_kafka_message_errstr(m));
        } else if (p) {
            apply(r, p, m);
            applied++;
        }
        rd_kafka_message_destroy(m);
    }
    return applied;
}

static int caught_up(const struct hd_tables_reader *r)
{
    for (size_t i = 0; i < r->part_cnt; i++)
        if (!r->parts[i].eof && r->parts[i].next < r->parts[i].end)
            return 0;
    return 1;
}

static void *reader_main(void *arg)
{
    struct hd_tables_reader *r = arg;
    while (!atomic_load(&r->stop)) {
        if (consume(r, 200) > 0 && flush(r))
            break;
    }
    return NULL;
}

/* Opens each partition's store and learns where to start and where the topic ends. */
static int open_parts(struct hd_tables_reader *r, char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    for (int k = 0; k < HD_TABLES_KINDS; k++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->rk, cr_topics[k], NULL);
        rd_kafka_resp_err_t e = rd_kafka_metadata(r->rk, 0, rkt, &md, 10000);
        rd_kafka_topic_destroy(rkt);
        if (!e && (md->topic_cnt != 1 || md->topics[0].err))
            e = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
        if (e) {
            if (md)
                rd_kafka_metadata_destroy(md);
            return hd_seterr(-1, errstr, errstr_size, "config topic %s: %s", cr_topics[k],
                             rd_kafka_err2str(e));
        }
        int n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
        r->parts = hd_realloc(r->parts, (r->part_cnt + (size_t)n) * sizeof(*r->parts));
        for (int p = 0; p < n; p++) {
            struct cr_part *cp = &r->parts[r->part_cnt++];
            memset(cp, 0, sizeof(*cp));
            cp->kind = k;
            cp->partition = p;
            char name[128];
            snprintf(name, sizeof(name), "%s-%d", cr_topics[k], p);
            if (!(cp->st = hd_state_open(r->cfg, r->app, name, errstr, errstr_size)))
                return -1;
            int64_t lo = 0, hi = 0;
            e = rd_kafka_query_watermark_offsets(r->rk, cr_topics[k], p, &lo, &hi, 10000);
            if (e)
                return hd_seterr(-1, errstr, errstr_size, "config topic %s[%d]: %s",
                                 cr_topics[k], p, rd_kafka_err2str(e));
            int64_t applied = hd_store_applied_offset(cp->st);
            if (applied > hi) {
                /* the topic is younger than the store (a new cluster): start over */
                hd_log_warn("config", "%s is ahead of %s[%d] (%lld > %lld): rebuilding it", name,
                            cr_topics[k], p, (long long)applied, (long long)hi);
                hd_store_close(cp->st);
                if (!(cp->st = hd_state_open_empty(r->cfg, r->app, name, errstr, errstr_size)))
                    return -1;
                applied = -1;
            }
            cp->next = applied >= 0 ? applied : lo;
            cp->end = hi;
        }
    }
    return 0;
}

static int catch_up(struct hd_tables_reader *r, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)r->part_cnt);
    for (size_t i = 0; i < r->part_cnt; i++)
        rd_kafka_topic_partition_list_add(l, cr_topics[r->parts[i].kind], r->parts[i].partition)
            ->offset = r->parts[i].next;
    rd_kafka_resp_err_t e = rd_kafka_assign(r->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        return hd_seterr(-1, errstr, errstr_size, "config: assign: %s", rd_kafka_err2str(e));
    int64_t start = hd_mono_us(), last = start;
    long total = 0;
    while (!caught_up(r)) {
        int n = consume(r, 200);
        if (n > 0) {
            last = hd_mono_us();
            total += n;
        } else if (hd_mono_us() - last > CR_STALL_MS * 1000LL) {
            return hd_seterr(-1, errstr, errstr_size, "config topics: no progress for %d s",
                             CR_STALL_MS / 1000);
        }
    }
    /* templates are compiled in memory: load every stored one, then the tables */
    for (size_t i = 0; i < r->part_cnt; i++)
        if (r->parts[i].kind == CR_TEMPLATE)
            collect(r, &r->parts[i], NULL, 1);
    for (size_t i = 0; i < r->part_cnt; i++)
        r->parts[i].dirty = 1; /* records the offsets even when nothing was new */
    if (flush(r))
        return hd_seterr(-1, errstr, errstr_size, "config: could not commit the local stores");
    if (atomic_load(&r->generation) == 0)
        rebuild(r);
    hd_log_info("config", "config topics read: %ld new records in %.2f s", total,
                (double)(hd_mono_us() - start) / 1e6);
    return 0;
}

struct hd_tables_reader *hd_tables_reader_start(const struct hd_config *c, struct hd_tables *live,
                                                char *errstr, size_t errstr_size)
{
    struct hd_tables_reader *r = hd_calloc(1, sizeof(*r));
    r->cfg = c;
    r->live = live;
    r->templates = hd_tables_templates(live);
    r->app = hd_asprintf("%s-config", c->app_id);
    atomic_init(&r->stop, 0);
    atomic_init(&r->generation, 0);
    if (!(r->sd = hd_serde_new(errstr, errstr_size)) ||
        !(r->rk = hd_kafka_reader_new(c, r->app, errstr, errstr_size)) ||
        open_parts(r, errstr, errstr_size) || catch_up(r, errstr, errstr_size))
        goto err;
    if (pthread_create(&r->thread, NULL, reader_main, r)) {
        hd_seterr(-1, errstr, errstr_size, "config: cannot start the reader thread");
        goto err;
    }
    r->running = 1;
    return r;
err:
    hd_tables_reader_stop(r);
    return NULL;
}

uint64_t hd_tables_reader_generation(struct hd_tables_reader *r)
{
    return atomic_load(&r->generation);
}

void hd_tables_reader_stop(struct hd_tables_reader *r)
{
    if (!r)
        return;
    atomic_store(&r->stop, 1);
    if (r->running)
        pthread_join(r->thread, NULL);
    if (r->rk) {
        rd_kafka_consumer_close(r->rk);
        rd_kafka_destroy(r->rk);
    }
    for (size_t i = 0; i < r->part_cnt; i++)
        hd_store_close(r->parts[i].st);
    hd_free(r->parts);
    hd_serde_destroy(r->sd);
    hd_buf_free(&r->old);
    hd_free(r->app);
    hd_free(r);
}
