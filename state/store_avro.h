/*
 * Typed values for state stores: helpers that keep an Avro record of a known
 * schema under a key, encoded with the serde's single-object framing
 * (schemas/serde.h), so a store value says which schema wrote it and a reader
 * can refuse a value it does not understand instead of misreading its bytes.
 * They sit on hd_store_put / hd_store_get and follow their rules: a put is
 * staged until hd_store_commit, a get sees staged writes over committed data,
 * expired entries are absent, and the change callback gets the encoded bytes
 * (so the changelog carries the framed record in the store's stored form).
 *
 * Same threading as the store and the serde: one task, one thread.
 */
#ifndef HD_STORE_AVRO_H
#define HD_STORE_AVRO_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

#include "schemas/serde.h"
#include "state/store.h"

/* Encodes `value` (a record of `schema`, e.g. filled from hd_serde_scratch_value(sd,
 * schema)) and stages it under key with an expiry (0 = never). `value` is borrowed and
 * left as it was; `schema` must come from `sd`. Returns 0, or -1 with errstr (nothing was
 * staged). */
int hd_store_put_avro(struct hd_store *s, struct hd_serde *sd, const struct hd_schema *schema,
                      const void *key, size_t key_len, avro_value_t *value,
                      int64_t expires_at_ms, char *errstr, size_t errstr_size);

/* Reads key as of staged + committed state at now_ms and decodes it as `schema` (from
 * `sd`). Returns 1 with *valuep set, 0 when absent or expired, -1 with errstr when the
 * value is not a single-object encoded `schema` record (errstr names the schema found,
 * or says why the bytes are not a record) or the store fails.
 * *valuep is owned by the serde: valid until the next decode of the same schema on `sd`
 * (any hd_store_get_avro or hd_serde_decode_value); copy what must live longer. */
int hd_store_get_avro(struct hd_store *s, struct hd_serde *sd, const struct hd_schema *schema,
                      const void *key, size_t key_len, int64_t now_ms, avro_value_t **valuep,
                      char *errstr, size_t errstr_size);

#endif
