/*
 * Avro serde on avro-c. Every Herald schema (the schemas/NAME.avsc files, compiled into
 * the binary) is parsed once per serde; records are framed with Avro
 * single-object encoding: C3 01, the 8-byte little-endian CRC-64-AVRO
 * fingerprint of the schema's Parsing Canonical Form, then the Avro binary
 * body. Decoding looks the schema up by fingerprint.
 *
 * avro-c 1.11.1 has neither Parsing Canonical Form nor fingerprints, so both
 * are computed here from the Avro specification (see hd_avro_canonical_form
 * and hd_avro_crc64).
 *
 * A struct hd_serde is not thread-safe (it keeps scratch values and
 * buffers): create one per thread. Creation is cheap (parses ~12 schemas).
 */
#ifndef HD_SERDE_H
#define HD_SERDE_H

#include <avro.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct hd_serde;
struct hd_schema; /* owned by the serde; valid until hd_serde_destroy */

/* Parses every embedded schema. Returns NULL with errstr on failure. */
struct hd_serde *hd_serde_new(char *errstr, size_t errstr_size);
void hd_serde_destroy(struct hd_serde *sd);

/* Lookup by short record name ("NotificationRequest") or full name ("herald.NotificationRequest"). */
const struct hd_schema *hd_serde_schema(struct hd_serde *sd, const char *name);
/* The schema written to a topic: "notification.requests" -> NotificationRequest,
 * "notification.queued" (any notification.<status>) -> StatusEvent, "notification.dlq" ->
 * DeadLetter, "herald.dispatch.*" -> Dispatch, "herald.inbox" -> InboxItem,
 * "herald.receipts" -> UserAction, "order.created" -> OrderCreated, ... NULL if unknown. */
const struct hd_schema *hd_serde_schema_for_topic(struct hd_serde *sd, const char *topic);
const char *hd_schema_name(const struct hd_schema *s); /* short name */
uint64_t hd_schema_fingerprint(const struct hd_schema *s);
avro_schema_t hd_schema_avro(const struct hd_schema *s); /* borrowed */
/* The schema's JSON as it appears in the .avsc file (borrowed). */
const char *hd_schema_json(const struct hd_schema *s);
/* Domain event schemas and the topic each is published to: returns the count and
 * fills up to max pairs. */
size_t hd_serde_domain_topics(struct hd_serde *sd, const char **topics, const struct hd_schema **schemas,
                              size_t max);

/* The schema named by a single-object header, or NULL (errstr says why: too short,
 * bad magic, unknown fingerprint). */
const struct hd_schema *hd_serde_peek(struct hd_serde *sd, const void *buf, size_t len,
                                      char *errstr, size_t errstr_size);

/* bytes -> plain JSON object (no union wrappers; bytes as ISO-8859-1 strings the way
 * Avro's JSON encoding has them; timestamp-millis as integers). *schemap gets the schema.
 * Returns a new reference, or NULL with errstr. */
json_t *hd_serde_decode_json(struct hd_serde *sd, const void *buf, size_t len,
                             const struct hd_schema **schemap, char *errstr, size_t errstr_size);
/* plain JSON object -> single-object bytes appended to out. Missing fields take the
 * schema default; a missing field without default, or a wrong type, is an error naming
 * the field path ("channels[1]: unknown symbol \"FAX\""). Returns 0 or -1. */
int hd_serde_encode_json(struct hd_serde *sd, const struct hd_schema *schema, json_t *obj,
                         struct hd_buf *out, char *errstr, size_t errstr_size);

/* Generic value level, used by the typed codecs in records.c.
 * decode: returns a value owned by the serde (valid until the next decode with the same
 * schema on this serde), or -1 with errstr. */
int hd_serde_decode_value(struct hd_serde *sd, const void *buf, size_t len,
                          const struct hd_schema **schemap, avro_value_t **valuep, char *errstr,
                          size_t errstr_size);
/* A reset, reusable value of this schema owned by the serde, to fill and pass to
 * hd_serde_encode_value. */
avro_value_t *hd_serde_scratch_value(struct hd_serde *sd, const struct hd_schema *schema);
int hd_serde_encode_value(struct hd_serde *sd, const struct hd_schema *schema, avro_value_t *v,
                          struct hd_buf *out, char *errstr, size_t errstr_size);

/* Avro specification helpers (exposed for tests). */
/* Parsing Canonical Form of a schema JSON text; returns a new string or NULL with errstr. */
char *hd_avro_canonical_form(const char *schema_json, char *errstr, size_t errstr_size);
/* CRC-64-AVRO (Rabin) fingerprint of bytes. */
uint64_t hd_avro_crc64(const void *buf, size_t len);

#endif
