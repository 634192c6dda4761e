/*
 * A plugin's own configuration: the map a processor or provider descriptor carries
 * (its keys, their types, defaults, bounds and the environment variable that feeds each)
 * and the values read for it at start. Adding a plugin setting is a line in the plugin's
 * map, never an edit of core/config.*.
 *
 * Where a value comes from, first found wins: an override set on the process
 * configuration (hd_config_plugin_set: `herald demo`, the benches and tests set values
 * this way), the entry's environment variable, the entry's default. An entry may also
 * name the tenant-config field that overrides it per tenant (`tenant`). A value is checked
 * against its type and bounds when the map is loaded, so a bad one stops the start with
 * an error naming the plugin, the key and the variable ("outbox.dir (HERALD_OUTBOX_DIR):
 * ..."). Loaded values are immutable; any thread may read them.
 */
#ifndef HD_CONFMAP_H
#define HD_CONFMAP_H

#include <stddef.h>

#include "core/config.h"

enum hd_conf_type {
    HD_CONF_STRING = 0,
    HD_CONF_INT,  /* a decimal integer within [min, max] when max > min */
    HD_CONF_BOOL, /* true/false, 1/0, yes/no, on/off */
    HD_CONF_URL   /* an http:// or https:// URL */
};

struct hd_conf_entry {
    const char *key;   /* within the plugin: "dir" (so "outbox.dir") */
    enum hd_conf_type type;
    const char *def;   /* default, as text; NULL: unset unless given */
    const char *env;   /* the environment variable that sets it; NULL: none */
    int required;      /* unset is an error */
    long long min, max;
    const char *help;  /* one line: what it does */
    /* The tenant-config field that overrides it for one tenant ("dedup_ttl_ms.EMAIL" in a
     * tenant record), NULL when none. Such a field is checked where tenant records are
     * (tables/: herald config and the config reader), and the plugin reads it from the
     * tenant (tables.h) when it handles that tenant's records. */
    const char *tenant;
};

/* A plugin's loaded values. */
struct hd_conf;

/* Reads every entry of map (terminated by an entry with key NULL; map NULL is an empty map)
 * for plugin `plugin`. Returns the values, or NULL with errstr naming plugin.key and the
 * variable. */
struct hd_conf *hd_conf_load(const char *plugin, const struct hd_conf_entry *map,
                             const struct hd_config *c, char *errstr, size_t errstr_size);
void hd_conf_destroy(struct hd_conf *conf); /* NULL is fine */

/* The value of key as loaded; NULL / 0 when unset. Asking for a key the map does not
 * declare is a plugin bug: it aborts, naming the key. */
const char *hd_conf_str(const struct hd_conf *conf, const char *key);
long long hd_conf_int(const struct hd_conf *conf, const char *key);
int hd_conf_bool(const struct hd_conf *conf, const char *key);

/* Prints a map as `herald plugins` shows it: one line per key with its type, default,
 * variable and help. */
void hd_conf_describe(const char *plugin, const struct hd_conf_entry *map, void *file);

#endif
