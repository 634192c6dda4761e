/*
 * The processor registry (registry.h).
 */
#include "processors/registry.h"

#include <string.h>

#include "core/hd.h"

#define HD_PROCESSOR_ADDRESS(name) &hd_proc_##name,
static const struct hd_processor *const hd_registry[] = {HD_PROCESSORS(HD_PROCESSOR_ADDRESS)};
#undef HD_PROCESSOR_ADDRESS

size_t hd_processors(const struct hd_processor *const **out)
{
    *out = hd_registry;
    return HD_ARRAY_SIZE(hd_registry);
}

const struct hd_processor *hd_processor_find(const char *name)
{
    for (size_t i = 0; name && i < HD_ARRAY_SIZE(hd_registry); i++)
        if (!strcmp(hd_registry[i]->name, name))
            return hd_registry[i];
    return NULL;
}
