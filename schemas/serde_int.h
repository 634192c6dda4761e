/*
 * Private to schemas/: Herald's own view of an Avro schema, shared by the
 * canonical-form code (avro_canonical.c), the serde (serde.c) and the plain
 * JSON and validation walkers (serde_json.c).
 *
 * avro-c reads and writes values, but it trusts its input (a corrupt length
 * becomes a huge allocation) and knows nothing of defaults, logical types or
 * canonical forms. So every schema is also parsed here into a tree of
 * hd__avro_node, and every body is checked against that tree before avro-c
 * sees it.
 */
#ifndef HD_SERDE_INT_H
#define HD_SERDE_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum hd__avro_kind {
    HD__AVRO_NULL = 0,
    HD__AVRO_BOOLEAN,
    HD__AVRO_INT,
    HD__AVRO_LONG,
    HD__AVRO_FLOAT,
    HD__AVRO_DOUBLE,
    HD__AVRO_BYTES,
    HD__AVRO_STRING,
    HD__AVRO_RECORD,
    HD__AVRO_ENUM,
    HD__AVRO_ARRAY,
    HD__AVRO_MAP,
    HD__AVRO_UNION,
    HD__AVRO_FIXED,
};

struct hd__avro_node;

struct hd__avro_field {
    char *name;
    struct hd__avro_node *type;
    json_t *def;           /* the "default" as written, or NULL when there is none */
    struct hd_buf def_bin; /* its binary encoding, once def_ready */
    int def_ready;         /* set by hd__avro_defaults_compile */
};

struct hd__avro_node {
    enum hd__avro_kind kind;
    int ts_millis;   /* long with logicalType timestamp-millis */
    char *fullname;  /* named types */
    struct hd__avro_field *fields;
    size_t field_cnt;
    char **symbols;
    size_t symbol_cnt;
    struct hd__avro_node *items; /* array items, map values */
    struct hd__avro_node **branches;
    size_t branch_cnt;
    int null_branch;   /* index of the "null" branch of a union, or -1 */
    size_t fixed_size;
    int canon_mark;    /* scratch flag used while printing the canonical form */
};

/* A parsed schema: the root node and every node it owns. */
struct hd__avro_tree {
    struct hd__avro_node *root;
    struct hd__avro_node **nodes;
    size_t node_cnt;
    size_t node_cap;
};

/* Parses schema JSON into a tree. Returns NULL with errstr on an invalid schema. */
struct hd__avro_tree *hd__avro_tree_parse(json_t *schema, char *errstr, size_t errstr_size);
void hd__avro_tree_free(struct hd__avro_tree *t);
/* Appends the Parsing Canonical Form of the tree to out. */
void hd__avro_tree_canonical(struct hd__avro_tree *t, struct hd_buf *out);
/* Encodes every field default of the tree once (into def_bin), which also
 * checks that each default fits its type. Returns 0, or -1 with errstr. */
int hd__avro_defaults_compile(struct hd__avro_tree *t, char *errstr, size_t errstr_size);

/* Checks that [buf, buf+len) is exactly one value of node `n` (no trailing
 * bytes, every length within the buffer, valid UTF-8, enum and union indexes in
 * range). When out is not NULL, also builds the plain-JSON value. Returns 0,
 * or -1 with errstr naming the field path. */
int hd__avro_walk(const struct hd__avro_node *n, const void *buf, size_t len, json_t **out,
                  char *errstr, size_t errstr_size);
/* Appends the binary encoding of plain JSON `v` as node `n` to out; on error out
 * is left as it was and errstr names the field path. */
int hd__avro_json_encode(const struct hd__avro_node *n, json_t *v, struct hd_buf *out,
                         char *errstr, size_t errstr_size);

#endif
