/*
 * The processor registry: adding a processor is its file (processors/<name>.c, defining
 * `const struct hd_processor hd_proc_<name>`) plus one X(<name>) line below. Where it
 * runs is the topology's business (topology.c); what it reads from the environment is
 * its own config map (processor.h, core/confmap.h).
 */
#ifndef HD_REGISTRY_H
#define HD_REGISTRY_H

#include <stddef.h>

#include "processors/processor.h"

#define HD_PROCESSORS(X)                                                                       \
    X(route)                                                                                   \
    X(validate)                                                                                \
    X(dedup)                                                                                   \
    X(enrich)                                                                                  \
    X(prefs)                                                                                   \
    X(schedule)                                                                                \
    X(render)                                                                                  \
    X(dispatch)                                                                                \
    X(status)                                                                                  \
    X(passthrough)

#define HD_PROCESSOR_DECLARE(name) extern const struct hd_processor hd_proc_##name;
HD_PROCESSORS(HD_PROCESSOR_DECLARE)
#undef HD_PROCESSOR_DECLARE

/* Every registered processor, in the order above; returns the count. */
size_t hd_processors(const struct hd_processor *const **out);
/* A processor by name; NULL when none is registered under it. */
const struct hd_processor *hd_processor_find(const char *name);

#endif
