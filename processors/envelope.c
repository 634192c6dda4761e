/*
 * Record headers (envelope.h) over librdkafka's header lists: a struct hd_headers is an
 * rd_kafka_headers_t, so the runtime hands a consumed message's headers to processors
 * without copying them, and the copies it produces are ready for rd_kafka_producev.
 */
#include "processors/envelope.h"

#include <librdkafka/rdkafka.h>

static rd_kafka_headers_t *rk_of(struct hd_headers *h)
{
    return (rd_kafka_headers_t *)h;
}

static const rd_kafka_headers_t *rk_of_const(const struct hd_headers *h)
{
    return (const rd_kafka_headers_t *)h;
}

size_t hd_headers_count(const struct hd_headers *h)
{
    return h ? rd_kafka_header_cnt(rk_of_const(h)) : 0;
}

int hd_headers_get(const struct hd_headers *h, size_t i, const char **name, const void **value,
                   size_t *len)
{
    if (!h || rd_kafka_header_get_all(rk_of_const(h), i, name, value, len))
        return -1;
    return 0;
}

int hd_headers_last(const struct hd_headers *h, const char *name, const void **value,
                    size_t *len)
{
    if (!h || rd_kafka_header_get_last(rk_of_const(h), name, value, len))
        return -1;
    return 0;
}

struct hd_headers *hd_headers_new(size_t cap)
{
    return (struct hd_headers *)rd_kafka_headers_new(cap ? cap : 1);
}

void hd_headers_add(struct hd_headers *h, const char *name, const void *value, size_t len)
{
    rd_kafka_header_add(rk_of(h), name, -1, value, value ? (ssize_t)len : 0);
}

struct hd_headers *hd_headers_copy(const struct hd_headers *h)
{
    return h ? (struct hd_headers *)rd_kafka_headers_copy(rk_of_const(h)) : hd_headers_new(1);
}

void hd_headers_destroy(struct hd_headers *h)
{
    if (h)
        rd_kafka_headers_destroy(rk_of(h));
}
