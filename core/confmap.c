/*
 * A plugin's configuration map and its loaded values (confmap.h).
 */
#include "core/confmap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/hd.h"

struct hd_conf {
    char *plugin;
    const struct hd_conf_entry *map;
    size_t cnt;
    char **text;      /* per entry: the value as given, NULL when unset */
    long long *num;   /* per entry: INT and BOOL parsed */
};

static const char *const type_names[] = {"string", "integer", "boolean", "URL"};

static int parse_bool(const char *v, long long *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < HD_ARRAY_SIZE(yes); i++) {
        if (!strcasecmp(v, yes[i]) || !strcasecmp(v, no[i])) {
            *out = !strcasecmp(v, yes[i]);
            return 0;
        }
    }
    return -1;
}

/* Checks text against e; 0, or -1 with why. */
static int check_value(const struct hd_conf_entry *e, const char *v, long long *num, char *why,
                       size_t why_size)
{
    char *end;
    switch (e->type) {
    case HD_CONF_STRING:
        return 0;
    case HD_CONF_INT:
        errno = 0;
        *num = strtoll(v, &end, 10);
        if (errno || end == v || *end)
            return hd_seterr(-1, why, why_size, "expected an integer");
        if (e->max > e->min && (*num < e->min || *num > e->max))
            return hd_seterr(-1, why, why_size, "expected an integer in [%lld, %lld]", e->min,
                             e->max);
        return 0;
    case HD_CONF_BOOL:
        return parse_bool(v, num) ? hd_seterr(-1, why, why_size, "expected true or false") : 0;
    case HD_CONF_URL:
        if ((strncmp(v, "http://", 7) || !v[7]) && (strncmp(v, "https://", 8) || !v[8]))
            return hd_seterr(-1, why, why_size, "expected an http:// or https:// URL");
        return 0;
    }
    return hd_seterr(-1, why, why_size, "unknown type %d", (int)e->type);
}

struct hd_conf *hd_conf_load(const char *plugin, const struct hd_conf_entry *map,
                             const struct hd_config *c, char *errstr, size_t errstr_size)
{
    struct hd_conf *conf = hd_calloc(1, sizeof(*conf));
    conf->plugin = hd_strdup(plugin);
    conf->map = map;
    while (map && map[conf->cnt].key)
        conf->cnt++;
    conf->text = hd_calloc(conf->cnt + 1, sizeof(*conf->text));
    conf->num = hd_calloc(conf->cnt + 1, sizeof(*conf->num));
    for (size_t i = 0; i < conf->cnt; i++) {
        const struct hd_conf_entry *e = &map[i];
        char name[256], why[160];
        snprintf(name, sizeof(name), "%s.%s", plugin, e->key);
        const char *v = hd_config_plugin_get(c, name), *from = "set by the program";
        if (!v && e->env) {
            v = getenv(e->env);
            v = v && *v ? v : NULL;
            from = e->env;
        }
        if (!v && e->def) {
            v = e->def;
            from = "the default";
        }
        if (!v) {
            if (!e->required)
                continue;
            hd_seterr(-1, errstr, errstr_size, "%s: required%s%s (%s)", name,
                      e->env ? ", set " : "", e->env ? e->env : "", e->help ? e->help : "");
            goto err;
        }
        if (check_value(e, v, &conf->num[i], why, sizeof(why))) {
            hd_seterr(-1, errstr, errstr_size, "%s (%s): \"%.64s\": %s", name, from, v, why);
            goto err;
        }
        conf->text[i] = hd_strdup(v);
    }
    return conf;
err:
    hd_conf_destroy(conf);
    return NULL;
}

void hd_conf_destroy(struct hd_conf *conf)
{
    if (!conf)
        return;
    for (size_t i = 0; i < conf->cnt; i++)
        hd_free(conf->text[i]);
    hd_free(conf->text);
    hd_free(conf->num);
    hd_free(conf->plugin);
    hd_free(conf);
}

static size_t entry_of(const struct hd_conf *conf, const char *key)
{
    for (size_t i = 0; i < conf->cnt; i++)
        if (!strcmp(conf->map[i].key, key))
            return i;
    fprintf(stderr, "herald: plugin %s asked for %s, which its config map does not declare\n",
            conf->plugin, key);
    abort();
}

const char *hd_conf_str(const struct hd_conf *conf, const char *key)
{
    return conf->text[entry_of(conf, key)];
}

long long hd_conf_int(const struct hd_conf *conf, const char *key)
{
    return conf->num[entry_of(conf, key)];
}

int hd_conf_bool(const struct hd_conf *conf, const char *key)
{
    return conf->num[entry_of(conf, key)] != 0;
}

void hd_conf_describe(const char *plugin, const struct hd_conf_entry *map, void *file)
{
    FILE *f = file;
    for (size_t i = 0; map && map[i].key; i++) {
        const struct hd_conf_entry *e = &map[i];
        fprintf(f, "  %s.%s  %s", plugin, e->key, type_names[e->type]);
        if (e->type == HD_CONF_INT && e->max > e->min)
            fprintf(f, " [%lld, %lld]", e->min, e->max);
        if (e->env)
            fprintf(f, "  %s", e->env);
        if (e->def)
            fprintf(f, "  default %s", e->def);
        if (e->required)
            fprintf(f, "  required");
        if (e->tenant)
            fprintf(f, "  per tenant: %s", e->tenant);
        fprintf(f, "\n      %s\n", e->help ? e->help : "");
    }
}
