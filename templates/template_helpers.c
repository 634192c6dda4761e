/*
 * Built-in Handlebars-style helpers: if, unless, each, with (blocks, each with
 * an optional {{else}}) and lookup. One function per helper and one line in
 * the table below; the parser finds helpers by name through
 * hd__tpl_helper_find, so adding one touches no parser code.
 *
 * Truthiness is Handlebars' (and JavaScript's): false, null, missing, 0, ""
 * and the empty list are false; {} is true.
 */
#include <string.h>

#include "templates/template_int.h"

static int is_json(const struct hd__tpl_value *v, json_type type)
{
    return v->t == HD__V_JSON && json_typeof(v->j) == type;
}

static int h_if(struct hd__tpl_call *c)
{
    const struct hd__tpl_value *zero = hd__tpl_call_hash(c, "includeZero");
    int truthy = hd__tpl_truthy(&c->argv[0]);
    if (!truthy && zero && hd__tpl_truthy(zero)) {
        double d;
        truthy = c->argv[0].t != HD__V_STR && hd__tpl_value_number(&c->argv[0], &d) == 0 &&
                 d == 0 && !is_json(&c->argv[0], JSON_FALSE) && !is_json(&c->argv[0], JSON_STRING);
    }
    return truthy ? hd__tpl_call_body(c, NULL, NULL) : hd__tpl_call_inverse(c);
}

static int h_unless(struct hd__tpl_call *c)
{
    return hd__tpl_truthy(&c->argv[0]) ? hd__tpl_call_inverse(c) : hd__tpl_call_body(c, NULL, NULL);
}

static int h_with(struct hd__tpl_call *c)
{
    return hd__tpl_truthy(&c->argv[0]) ? hd__tpl_call_body(c, &c->argv[0], NULL)
                                       : hd__tpl_call_inverse(c);
}

static int each_array(struct hd__tpl_call *c, json_t *a)
{
    size_t n = json_array_size(a);
    struct hd__tpl_data d = {0};
    int rc = HD_OK;
    for (size_t i = 0; i < n && rc == HD_OK; i++) {
        struct hd__tpl_value item;
        hd__tpl_value_from_json(&item, json_array_get(a, i));
        d.index = (int64_t)i;
        d.first = i == 0;
        d.last = i + 1 == n;
        rc = hd__tpl_call_body(c, &item, &d);
    }
    return rc;
}

static int each_object(struct hd__tpl_call *c, json_t *o)
{
    size_t n = json_object_size(o), i = 0;
    struct hd__tpl_data d = {.has_key = 1};
    int rc = HD_OK;
    for (void *it = json_object_iter(o); it && rc == HD_OK;
         it = json_object_iter_next(o, it), i++) {
        struct hd__tpl_value item;
        hd__tpl_value_from_json(&item, json_object_iter_value(it));
        d.index = (int64_t)i;
        d.first = i == 0;
        d.last = i + 1 == n;
        d.key = json_object_iter_key(it);
        d.key_len = json_object_iter_key_len(it);
        rc = hd__tpl_call_body(c, &item, &d);
    }
    return rc;
}

static int h_each(struct hd__tpl_call *c)
{
    const struct hd__tpl_value *v = &c->argv[0];
    if (is_json(v, JSON_ARRAY) && json_array_size(v->j))
        return each_array(c, v->j);
    if (is_json(v, JSON_OBJECT) && json_object_size(v->j))
        return each_object(c, v->j);
    return hd__tpl_call_inverse(c);
}

static int h_lookup(struct hd__tpl_call *c)
{
    const struct hd__tpl_value *obj = &c->argv[0], *key = &c->argv[1];
    json_t *hit = NULL;
    if (is_json(obj, JSON_OBJECT)) {
        struct hd_buf *k = hd__tpl_call_scratch(c);
        hd_buf_reset(k);
        hd__tpl_value_text(key, k);
        hit = json_object_getn(obj->j, k->data ? k->data : "", k->len);
    } else if (is_json(obj, JSON_ARRAY)) {
        double d;
        if (hd__tpl_value_number(key, &d) == 0 && d >= 0 && d < 4e9 && d == (double)(size_t)d)
            hit = json_array_get(obj->j, (size_t)d);
    }
    if (!hit)
        return HD_OK;
    struct hd__tpl_value v;
    hd__tpl_value_from_json(&v, hit);
    hd__tpl_call_write_value(c, &v);
    return HD_OK;
}

const struct hd__tpl_helper hd__tpl_builtin_helpers[] = {
    {"if", HD__H_BLOCK | HD__H_LENIENT, 1, 1, h_if},
    {"unless", HD__H_BLOCK | HD__H_LENIENT, 1, 1, h_unless},
    {"each", HD__H_BLOCK | HD__H_LENIENT, 1, 1, h_each},
    {"with", HD__H_BLOCK | HD__H_LENIENT, 1, 1, h_with},
    {"lookup", HD__H_INLINE, 2, 2, h_lookup},
    {NULL, 0, 0, 0, NULL},
};

const struct hd__tpl_helper *hd__tpl_helper_find(const char *name, size_t len)
{
    static const struct hd__tpl_helper *const tables[] = {
        hd__tpl_builtin_helpers, hd__tpl_format_helpers, hd__tpl_message_helpers};
    for (size_t t = 0; t < HD_ARRAY_SIZE(tables); t++)
        for (const struct hd__tpl_helper *h = tables[t]; h->name; h++)
            if (strlen(h->name) == len && !memcmp(h->name, name, len))
                return h;
    return NULL;
}
