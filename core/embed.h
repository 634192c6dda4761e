/*
 * Files compiled into the binary by cmake/embed.cmake: the Avro schemas
 * (the schemas/NAME.avsc files) and the SQL migrations (schemas/sql/NNNN_NAME.sql), sorted by name.
 * `data` is NUL-terminated; `len` excludes the NUL.
 */
#ifndef HD_EMBED_H
#define HD_EMBED_H
#include <stddef.h>

struct hd_embedded_file {
    const char *name;
    const unsigned char *data;
    size_t len;
};

extern const struct hd_embedded_file hd_embedded_avsc[];
extern const size_t hd_embedded_avsc_cnt;
extern const struct hd_embedded_file hd_embedded_sql[];
extern const size_t hd_embedded_sql_cnt;

#endif
