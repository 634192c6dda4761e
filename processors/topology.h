/*
 * Sub-topologies: which input topics feed which chain of processors. A task
 * runs one or more of them over one consumer and one transactional producer.
 * Adding a processor to a chain is a line in topology.c.
 */
#ifndef HD_TOPOLOGY_H
#define HD_TOPOLOGY_H

#include <stddef.h>

#include "processors/processor.h"
#include "schemas/topics.h"

#define HD_CHAIN_MAX 8
#define HD_INPUTS_MAX 16

struct hd_subtopology {
    const char *name;
    int by_default; /* part of `herald run`'s (and the demo's) default set */
    enum hd_payload_kind kind;
    enum hd_topic_role input; /* it reads every catalogue topic of this role */
    const struct hd_processor *chain[HD_CHAIN_MAX]; /* NULL-terminated */
};

/* The input topics of s (the catalogue's topics of its role), NULL-terminated, into names
 * (max entries including the NULL; HD_INPUTS_MAX + 1 always fits). Returns the count. */
size_t hd_topology_inputs(const struct hd_subtopology *s, const char **names, size_t max);

/* All sub-topologies; returns the count. */
size_t hd_topology_all(const struct hd_subtopology **subs);
/* The names of the default set (by_default), NULL-terminated, into names (max entries
 * including the NULL). Returns the count. */
size_t hd_topology_defaults(const char **names, size_t max);
/* By name ("route", "requests", "dispatch", "passthrough"); NULL if unknown. */
const struct hd_subtopology *hd_topology_find(const char *name);
/* The sub-topology that consumes `topic` among `subs`; NULL if none. */
const struct hd_subtopology *hd_topology_for_topic(const struct hd_subtopology *const *subs,
                                                   size_t cnt, const char *topic);

/* Output topic of the pass-through benchmark. */
#define HD_TOPIC_PASSTHROUGH_OUT "herald.bench.passthrough"

#endif
