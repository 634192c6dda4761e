/*
 * Config tables from the compacted config topics, like a Kafka Streams global
 * table: every instance reads every partition of herald.tenants, herald.rules
 * and herald.templates. Each (topic, partition) is kept in a local RocksDB
 * store (<HERALD_STATE_DIR>/<app>-config/<instance>/<topic>-<partition>) with
 * the offset it has applied, so a restart reads only what is new.
 *
 * hd_tables_reader_start blocks until the stores have caught up with the
 * topics' ends as of the call, installs the first snapshot in the live
 * holder, then follows the topics on a thread of its own: after each batch
 * of changes it installs a new snapshot (tasks pick it up at their next
 * transaction) and updates the template store in place.
 *
 * Records: key "<tenant_id>/<id>", value a ConfigRecord (schemas/
 * config_record.avsc) whose body_json is one element of the config document
 * (tables/tables.h), or null to delete. A record whose body does not
 * check is logged with its key and left out; the rest of the config stands.
 */
#ifndef HD_TABLES_TOPICS_H
#define HD_TABLES_TOPICS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

struct hd_tables;
struct hd_tables_reader;

/* The kinds, in the order the config document lists them. */
#define HD_TABLES_KINDS 3
extern const char *const hd_tables_kinds[HD_TABLES_KINDS];   /* "tenant", "rule", "template" */
/* "tenant" -> "herald.tenants", ...; NULL for an unknown kind. */
const char *hd_tables_topic(const char *kind);
/* The document list of a kind: "tenant" -> "tenants", ... */
const char *hd_tables_list(const char *kind);

/* The record id of a body: "tenant" for a tenant, the rule's "id", "<key>/<version>" or
 * "<key>/active" for a template; the tenant from its "tenant_id". Returns 0, or -1 with
 * errstr naming the missing field. */
int hd_tables_record_id(const char *kind, json_t *body, char *tenant, size_t tenant_size,
                        char *id, size_t id_size, char *errstr, size_t errstr_size);

/* `live` is a holder from hd_tables_live_new (borrowed; outlives the reader). */
struct hd_tables_reader *hd_tables_reader_start(const struct hd_config *c, struct hd_tables *live,
                                                char *errstr, size_t errstr_size);
/* Snapshots installed so far (the first one at start counts). */
uint64_t hd_tables_reader_generation(struct hd_tables_reader *r);
/* Stops the thread and closes the stores. Accepts NULL. */
void hd_tables_reader_stop(struct hd_tables_reader *r);

/* The reader's check of one record value (internal, for tests/unit/topics_reader.c): the
 * body of a ConfigRecord of kind index `kind` (the index in hd_tables_kinds), decoded and
 * checked as the reader applies it: a ConfigRecord, body_json parsed, its tenant_id the
 * record's, the body valid for the kind. Returns the body (caller decrefs), or NULL with
 * errstr saying why the record is left out. */
struct hd_serde;
json_t *hd__tables_record_body(struct hd_serde *sd, int kind, const void *v, size_t n,
                               char *errstr, size_t errstr_size);

#endif
