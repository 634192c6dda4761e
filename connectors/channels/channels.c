/*
 * The channel provider registry: adding a provider is its file under
 * connectors/channels/ plus one X(<name>) line here. The first is the default when
 * neither the request nor the tenant names one.
 */
#include "connectors/channels/channel.h"

#include <string.h>

#include "core/hd.h"

/* One X(<name>) per provider, defining `const struct hd_channel_provider hd_provider_<name>`
 * in its own file. */
#define HD_PROVIDERS(X) X(outbox)

#define HD_PROVIDER_DECLARE(name) extern const struct hd_channel_provider hd_provider_##name;
HD_PROVIDERS(HD_PROVIDER_DECLARE)
#define HD_PROVIDER_ADDRESS(name) &hd_provider_##name,
static const struct hd_channel_provider *const providers[] = {HD_PROVIDERS(HD_PROVIDER_ADDRESS)};

size_t hd_channel_providers(const struct hd_channel_provider *const **out)
{
    *out = providers;
    return HD_ARRAY_SIZE(providers);
}

const struct hd_channel_provider *hd_channel_provider_find(const char *name)
{
    for (size_t i = 0; name && i < HD_ARRAY_SIZE(providers); i++)
        if (!strcmp(providers[i]->name, name))
            return providers[i];
    return NULL;
}
