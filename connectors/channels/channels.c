/*
 * The channel provider registry: adding a provider is its file under
 * connectors/channels/ plus one line here. The first is the default when
 * neither the request nor the tenant names one.
 */
#include "connectors/channels/channel.h"

#include "core/hd.h"

static const struct hd_channel_provider *const providers[] = {
    &hd_provider_outbox,
};

size_t hd_channel_providers(const struct hd_channel_provider *const **out)
{
    *out = providers;
    return HD_ARRAY_SIZE(providers);
}
