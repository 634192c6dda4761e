/*
 * Avro-typed store values (see store_avro.h): serde encode + hd_store_put,
 * hd_store_get + a schema check + serde decode. The check happens on the
 * single-object header before decoding, so a value written with another
 * schema never clobbers that schema's decoded value in the serde.
 */
#include "state/store_avro.h"

#include "core/buf.h"
#include "core/hd.h"

int hd_store_put_avro(struct hd_store *s, struct hd_serde *sd, const struct hd_schema *schema,
                      const void *key, size_t key_len, avro_value_t *value,
                      int64_t expires_at_ms, char *errstr, size_t errstr_size)
{
    struct hd_buf enc = HD_BUF_INIT;
    int rc = hd_serde_encode_value(sd, schema, value, &enc, errstr, errstr_size);
    if (rc == 0)
        rc = hd_store_put(s, key, key_len, enc.data, enc.len, expires_at_ms, errstr,
                          errstr_size);
    hd_buf_free(&enc);
    return rc;
}

int hd_store_get_avro(struct hd_store *s, struct hd_serde *sd, const struct hd_schema *schema,
                      const void *key, size_t key_len, int64_t now_ms, avro_value_t **valuep,
                      char *errstr, size_t errstr_size)
{
    struct hd_buf raw = HD_BUF_INIT;
    char why[256];
    int found = hd_store_get(s, key, key_len, now_ms, &raw, errstr, errstr_size);
    if (found <= 0)
        goto out;
    const struct hd_schema *got = hd_serde_peek(sd, raw.data, raw.len, why, sizeof(why));
    if (!got) {
        found = hd_seterr(-1, errstr, errstr_size, "store value is not a %s record: %s",
                          hd_schema_name(schema), why);
    } else if (hd_schema_fingerprint(got) != hd_schema_fingerprint(schema)) {
        found = hd_seterr(-1, errstr, errstr_size, "store value is a %s record, expected %s",
                          hd_schema_name(got), hd_schema_name(schema));
    } else if (hd_serde_decode_value(sd, raw.data, raw.len, NULL, valuep, errstr,
                                     errstr_size)) {
        found = -1;
    }
out:
    hd_buf_free(&raw);
    return found;
}
