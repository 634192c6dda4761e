/*
 * A compiled template as callers hold it: the main program plus the programs
 * of every partial it names, compiled together (one resolver call per name),
 * and a table of partials whose names came from the data ({{>*name}}), filled
 * on first use under a lock. Reference counted so a cache can drop an entry
 * that another thread is still rendering.
 */
#include <string.h>

#include "templates/template_int.h"

uint32_t hd__tpl_slot(struct hd_tpl *t, const char *name, size_t len)
{
    for (uint32_t i = 0; i < t->nslots; i++)
        if (strlen(t->slots[i].name) == len && !memcmp(t->slots[i].name, name, len))
            return i;
    if (t->nslots == t->cap_slots) {
        t->cap_slots = t->cap_slots ? t->cap_slots * 2 : 8;
        t->slots = hd_realloc(t->slots, t->cap_slots * sizeof(*t->slots));
    }
    t->slots[t->nslots].name = hd_strndup(name, len);
    t->slots[t->nslots].prog = NULL;
    return t->nslots++;
}

static void tpl_free(struct hd_tpl *t)
{
    hd__tpl_prog_free(t->main);
    for (uint32_t i = 0; i < t->nslots; i++) {
        hd_free(t->slots[i].name);
        hd__tpl_prog_free(t->slots[i].prog);
    }
    hd_free(t->slots);
    for (uint32_t i = 0; i < t->ndyn; i++) {
        hd_free(t->dyn[i].name);
        hd_tpl_release(t->dyn[i].tpl);
    }
    hd_free(t->dyn);
    pthread_mutex_destroy(&t->lock);
    hd_free(t->name);
    hd_free(t);
}

/* Resolves and compiles every slot; compiling one may add more. */
static int compile_partials(struct hd_tpl *t, char *errstr, size_t errstr_size)
{
    struct hd_buf text = HD_BUF_INIT;
    int rc = HD_OK;
    for (uint32_t i = 0; i < t->nslots && t->has_resolver; i++) {
        hd_buf_reset(&text);
        char *name = t->slots[i].name;
        rc = t->resolver.resolve(t->resolver.opaque, name, &text, errstr, errstr_size);
        if (rc == HD_ERR_NOTFOUND) {
            rc = HD_OK;
            continue;
        }
        if (rc)
            break;
        struct hd__tpl_prog *g = hd__tpl_parse(t, name, text.data, text.len, errstr, errstr_size);
        if (!g) {
            rc = HD_ERR_INVALID;
            break;
        }
        t->slots[i].prog = g;
    }
    hd_buf_free(&text);
    return rc;
}

struct hd_tpl *hd_tpl_compile(const char *name, const char *src, size_t len,
                              const struct hd_tpl_resolver *partials, char *errstr,
                              size_t errstr_size)
{
    struct hd_tpl *t = hd_calloc(1, sizeof(*t));
    t->refs = 1;
    t->name = hd_strdup(name ? name : "template");
    pthread_mutex_init(&t->lock, NULL);
    if (partials && partials->resolve) {
        t->resolver = *partials;
        t->has_resolver = 1;
    }
    t->main = hd__tpl_parse(t, t->name, src, len, errstr, errstr_size);
    if (!t->main || compile_partials(t, errstr, errstr_size)) {
        tpl_free(t);
        return NULL;
    }
    return t;
}

struct hd_tpl *hd_tpl_retain(struct hd_tpl *t)
{
    if (t)
        __atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
    return t;
}

void hd_tpl_release(struct hd_tpl *t)
{
    if (t && __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) == 0)
        tpl_free(t);
}

const char *hd_tpl_name(const struct hd_tpl *t)
{
    return t ? t->name : NULL;
}

static struct hd__tpl_dyn *dyn_find(struct hd_tpl *t, const char *name, size_t len)
{
    for (uint32_t i = 0; i < t->ndyn; i++)
        if (strlen(t->dyn[i].name) == len && !memcmp(t->dyn[i].name, name, len))
            return &t->dyn[i];
    return NULL;
}

/*
 * The template for a partial named at render time. Sets *out to a new
 * reference (NULL: no such partial) and returns HD_OK, or an error with errstr.
 */
int hd__tpl_dynamic(struct hd_tpl *t, const char *name, size_t len, struct hd_tpl **out,
                    char *errstr, size_t errstr_size)
{
    *out = NULL;
    if (!t->has_resolver || memchr(name, '\0', len))
        return HD_OK;
    pthread_mutex_lock(&t->lock);
    struct hd__tpl_dyn *d = dyn_find(t, name, len);
    if (d)
        *out = hd_tpl_retain(d->tpl);
    pthread_mutex_unlock(&t->lock);
    if (d)
        return HD_OK;
    char *cname = hd_strndup(name, len);
    struct hd_buf text = HD_BUF_INIT;
    struct hd_tpl *c = NULL;
    int rc = t->resolver.resolve(t->resolver.opaque, cname, &text, errstr, errstr_size);
    if (rc == HD_OK) {
        c = hd_tpl_compile(cname, text.data, text.len, &t->resolver, errstr, errstr_size);
        rc = c ? HD_OK : HD_ERR_INVALID;
    } else if (rc == HD_ERR_NOTFOUND) {
        rc = HD_OK;
    }
    hd_buf_free(&text);
    if (rc) {
        hd_free(cname);
        return rc;
    }
    pthread_mutex_lock(&t->lock);
    d = dyn_find(t, name, len);
    if (d) { /* another thread was first */
        hd_tpl_release(c);
        c = hd_tpl_retain(d->tpl);
        hd_free(cname);
    } else if (t->ndyn < HD__TPL_MAX_DYN_PARTIALS) {
        if (t->ndyn == t->cap_dyn) {
            t->cap_dyn = t->cap_dyn ? t->cap_dyn * 2 : 4;
            t->dyn = hd_realloc(t->dyn, t->cap_dyn * sizeof(*t->dyn));
        }
        t->dyn[t->ndyn].name = cname;
        t->dyn[t->ndyn].tpl = hd_tpl_retain(c);
        t->ndyn++;
    } else {
        hd_free(cname);
    }
    pthread_mutex_unlock(&t->lock);
    *out = c;
    return HD_OK;
}
