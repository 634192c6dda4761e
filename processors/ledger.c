/*
 * The ledger of consumed positions (see ledger.h). A task has a few hundred
 * input partitions at most, and librdkafka hands records over a fetch at a
 * time, so a dense array with a cache of the last partition found is enough.
 */
#include "processors/ledger.h"

#include <stdio.h>
#include <string.h>

#include "core/hd.h"

struct part {
    char *topic;
    int32_t partition;
    int64_t next;       /* offset to process next; -1: unknown (nothing received yet) */
    int64_t first;      /* first offset received in the open batch; -1: none */
    int64_t last;       /* last offset received in the open batch */
    int64_t last_done;  /* last offset given a verdict in the open batch; -1: none */
    uint32_t in, out;   /* records received / given a verdict in the open batch */
};

struct hd_ledger {
    struct part *parts;
    size_t cnt, cap;
    size_t hit; /* index of the last partition found */
    uint64_t batch_records;
};

struct hd_ledger *hd_ledger_new(void)
{
    return hd_calloc(1, sizeof(struct hd_ledger));
}

void hd_ledger_destroy(struct hd_ledger *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->cnt; i++)
        hd_free(l->parts[i].topic);
    hd_free(l->parts);
    hd_free(l);
}

static struct part *find(const struct hd_ledger *l, const char *topic, int32_t partition)
{
    struct hd_ledger *ml = (struct hd_ledger *)l;
    if (l->hit < l->cnt && l->parts[l->hit].partition == partition &&
        !strcmp(l->parts[l->hit].topic, topic))
        return &l->parts[l->hit];
    for (size_t i = 0; i < l->cnt; i++)
        if (l->parts[i].partition == partition && !strcmp(l->parts[i].topic, topic)) {
            ml->hit = i;
            return &l->parts[i];
        }
    return NULL;
}

static void batch_reset(struct part *p)
{
    p->first = p->last = p->last_done = -1;
    p->in = p->out = 0;
}

void hd_ledger_assign(struct hd_ledger *l, const char *topic, int32_t partition)
{
    if (find(l, topic, partition))
        return;
    if (l->cnt == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->parts = hd_realloc(l->parts, l->cap * sizeof(*l->parts));
    }
    struct part *p = &l->parts[l->cnt++];
    p->topic = hd_strdup(topic);
    p->partition = partition;
    p->next = -1;
    batch_reset(p);
}

void hd_ledger_revoke(struct hd_ledger *l, const char *topic, int32_t partition)
{
    struct part *p = find(l, topic, partition);
    if (!p)
        return;
    l->batch_records -= p->in;
    hd_free(p->topic);
    *p = l->parts[--l->cnt];
    l->hit = 0;
}

int hd_ledger_assigned(const struct hd_ledger *l, const char *topic, int32_t partition)
{
    return find(l, topic, partition) != NULL;
}

int hd_ledger_receive(struct hd_ledger *l, const rd_kafka_message_t *m, char *errstr,
                      size_t errstr_size)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    struct part *p = find(l, topic, m->partition);
    if (!p)
        return hd_seterr(-1, errstr, errstr_size, "%s[%d]@%lld: partition not assigned", topic,
                         (int)m->partition, (long long)m->offset);
    if (p->in && m->offset <= p->last)
        return hd_seterr(-1, errstr, errstr_size,
                         "%s[%d]@%lld: not after the batch's previous record (@%lld)", topic,
                         (int)m->partition, (long long)m->offset, (long long)p->last);
    if (p->next >= 0 && m->offset < p->next)
        return hd_seterr(-1, errstr, errstr_size,
                         "%s[%d]@%lld: below the partition's committed position %lld", topic,
                         (int)m->partition, (long long)m->offset, (long long)p->next);
    if (p->next < 0)
        p->next = m->offset; /* the first record since the assignment */
    if (!p->in)
        p->first = m->offset;
    p->last = m->offset;
    p->in++;
    l->batch_records++;
    return 0;
}

void hd_ledger_verdict(struct hd_ledger *l, const rd_kafka_message_t *m)
{
    struct part *p = find(l, rd_kafka_topic_name(m->rkt), m->partition);
    if (!p)
        return; /* not received either (hd_ledger_receive refused it) */
    p->out++;
    if (m->offset > p->last_done)
        p->last_done = m->offset;
}

rd_kafka_topic_partition_list_t *hd_ledger_offsets(const struct hd_ledger *l, char *errstr,
                                                   size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *out = rd_kafka_topic_partition_list_new((int)l->cnt + 1);
    uint64_t in = 0;
    for (size_t i = 0; i < l->cnt; i++) {
        const struct part *p = &l->parts[i];
        if (!p->in)
            continue;
        in += p->in;
        if (p->in != p->out || p->last_done != p->last) {
            hd_seterr(-1, errstr, errstr_size,
                      "%s[%d]: %u records in, %u verdicts out (offsets %lld..%lld, last with a "
                      "verdict %lld): committing would pass a record without an outcome",
                      p->topic, (int)p->partition, p->in, p->out, (long long)p->first,
                      (long long)p->last, (long long)p->last_done);
            rd_kafka_topic_partition_list_destroy(out);
            return NULL;
        }
        rd_kafka_topic_partition_list_add(out, p->topic, p->partition)->offset = p->last + 1;
    }
    if (in != l->batch_records) {
        hd_seterr(-1, errstr, errstr_size,
                  "%llu records in the batch, %llu of them on assigned partitions",
                  (unsigned long long)l->batch_records, (unsigned long long)in);
        rd_kafka_topic_partition_list_destroy(out);
        return NULL;
    }
    return out;
}

void hd_ledger_commit(struct hd_ledger *l)
{
    for (size_t i = 0; i < l->cnt; i++) {
        struct part *p = &l->parts[i];
        if (p->in)
            p->next = p->last + 1;
        batch_reset(p);
    }
    l->batch_records = 0;
}

void hd_ledger_abort(struct hd_ledger *l)
{
    for (size_t i = 0; i < l->cnt; i++)
        batch_reset(&l->parts[i]);
    l->batch_records = 0;
}

rd_kafka_topic_partition_list_t *hd_ledger_batch_partitions(const struct hd_ledger *l)
{
    rd_kafka_topic_partition_list_t *out = rd_kafka_topic_partition_list_new((int)l->cnt + 1);
    for (size_t i = 0; i < l->cnt; i++)
        if (l->parts[i].in)
            rd_kafka_topic_partition_list_add(out, l->parts[i].topic, l->parts[i].partition);
    return out;
}

void hd_ledger_set_position(struct hd_ledger *l, const char *topic, int32_t partition,
                            int64_t offset)
{
    struct part *p = find(l, topic, partition);
    if (p && offset >= 0)
        p->next = offset;
}

rd_kafka_topic_partition_list_t *hd_ledger_positions(const struct hd_ledger *l)
{
    rd_kafka_topic_partition_list_t *out = rd_kafka_topic_partition_list_new((int)l->cnt + 1);
    for (size_t i = 0; i < l->cnt; i++)
        if (l->parts[i].next >= 0)
            rd_kafka_topic_partition_list_add(out, l->parts[i].topic, l->parts[i].partition)
                ->offset = l->parts[i].next;
    return out;
}

uint64_t hd_ledger_batch_records(const struct hd_ledger *l)
{
    return l->batch_records;
}
