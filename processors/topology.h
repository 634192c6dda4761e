/*
 * Sub-topologies: which input topics feed which chain of processors. A task
 * runs one or more of them over one consumer and one transactional producer.
 * Adding a processor to a chain is a line in topology.c.
 */
#ifndef HD_TOPOLOGY_H
#define HD_TOPOLOGY_H

#include <stddef.h>

#include "processors/processor.h"

#define HD_CHAIN_MAX 8
#define HD_INPUTS_MAX 16

struct hd_subtopology {
    const char *name;
    enum hd_payload_kind kind;
    const char *inputs[HD_INPUTS_MAX];             /* NULL-terminated */
    const struct hd_processor *chain[HD_CHAIN_MAX]; /* NULL-terminated */
};

/* All sub-topologies; returns the count. */
size_t hd_topology_all(const struct hd_subtopology **subs);
/* By name ("route", "requests", "dispatch", "passthrough"); NULL if unknown. */
const struct hd_subtopology *hd_topology_find(const char *name);
/* The sub-topology that consumes `topic` among `subs`; NULL if none. */
const struct hd_subtopology *hd_topology_for_topic(const struct hd_subtopology *const *subs,
                                                   size_t cnt, const char *topic);

/* Output topic of the pass-through benchmark. */
#define HD_TOPIC_PASSTHROUGH_OUT "herald.bench.passthrough"

#endif
