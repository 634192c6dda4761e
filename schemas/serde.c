/*
 * The serde: every schema compiled into the binary (schemas/NAME.avsc), parsed
 * once into both avro-c's form (values, reader and writer reused record after
 * record) and Herald's tree (serde_int.h: canonical form, fingerprint,
 * defaults, validation). Records are framed with Avro single-object encoding;
 * the fingerprint in the header selects the schema.
 *
 * Untrusted bytes are walked against the tree before avro-c reads them, so a
 * corrupt length or index becomes an error message, not a crash or a huge
 * allocation.
 */
#include "schemas/serde.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/embed.h"
#include "core/hd.h"
#include "schemas/serde_int.h"
#include "schemas/topics.h"

#define HD_SOE_MAGIC0 0xc3
#define HD_SOE_MAGIC1 0x01
#define HD_SOE_HEADER 10

struct hd_schema {
    char *name;     /* short name: "StatusEvent" */
    char *fullname; /* "herald.StatusEvent" */
    const char *json;
    uint64_t fingerprint;
    unsigned char header[HD_SOE_HEADER];
    struct hd__avro_tree *tree;
    avro_schema_t avro;
    avro_value_iface_t *iface;
    avro_value_t dec; /* returned by hd_serde_decode_value */
    avro_value_t enc; /* returned by hd_serde_scratch_value */
};

/* Which schema a topic carries comes from the topic catalogue (topics.h); a dispatch
 * topic of any channel, listed or not, carries Dispatch. */
#define HD_SERDE_TOPICS_MAX 64

struct hd_serde {
    struct hd_schema *schemas;
    size_t schema_cnt;
    avro_reader_t reader;
    avro_writer_t writer;
    const struct hd_schema *by_topic[HD_SERDE_TOPICS_MAX]; /* parallel to the catalogue */
    const struct hd_schema *dispatch;
};

static void hd_schema_fini(struct hd_schema *s)
{
    if (s->iface) {
        avro_value_decref(&s->dec);
        avro_value_decref(&s->enc);
        avro_value_iface_decref(s->iface);
    }
    if (s->avro)
        avro_schema_decref(s->avro);
    hd__avro_tree_free(s->tree);
    hd_free(s->name);
    hd_free(s->fullname);
}

/* Both views of one .avsc: Herald's tree (fingerprint, defaults, checks) and
 * avro-c's schema with two reusable values. */
static int hd_schema_init(struct hd_schema *s, const struct hd_embedded_file *f, char *errstr,
                          size_t errstr_size)
{
    json_error_t jerr;
    s->json = (const char *)f->data;
    json_t *j = json_loadb(s->json, f->len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return hd_seterr(-1, errstr, errstr_size, "%s: not JSON: %s (line %d)", f->name, jerr.text,
                         jerr.line);
    char why[256];
    s->tree = hd__avro_tree_parse(j, why, sizeof(why));
    json_decref(j);
    if (!s->tree)
        return hd_seterr(-1, errstr, errstr_size, "%s: %s", f->name, why);
    if (s->tree->root->kind != HD__AVRO_RECORD)
        return hd_seterr(-1, errstr, errstr_size, "%s: top-level schema is not a record", f->name);
    if (hd__avro_defaults_compile(s->tree, why, sizeof(why)))
        return hd_seterr(-1, errstr, errstr_size, "%s: %s", f->name, why);

    s->fullname = hd_strdup(s->tree->root->fullname);
    const char *dot = strrchr(s->fullname, '.');
    s->name = hd_strdup(dot ? dot + 1 : s->fullname);

    struct hd_buf canon = HD_BUF_INIT;
    hd__avro_tree_canonical(s->tree, &canon);
    s->fingerprint = hd_avro_crc64(canon.data, canon.len);
    hd_buf_free(&canon);
    s->header[0] = HD_SOE_MAGIC0;
    s->header[1] = HD_SOE_MAGIC1;
    for (int i = 0; i < 8; i++)
        s->header[2 + i] = (unsigned char)(s->fingerprint >> (8 * i));

    if (avro_schema_from_json_length(s->json, f->len, &s->avro))
        return hd_seterr(-1, errstr, errstr_size, "%s: avro-c: %s", f->name, avro_strerror());
    s->iface = avro_generic_class_from_schema(s->avro);
    if (!s->iface)
        return hd_seterr(-1, errstr, errstr_size, "%s: avro-c: %s", f->name, avro_strerror());
    if (avro_generic_value_new(s->iface, &s->dec)) {
        avro_value_iface_decref(s->iface);
        s->iface = NULL;
        return hd_seterr(-1, errstr, errstr_size, "%s: avro-c: %s", f->name, avro_strerror());
    }
    if (avro_generic_value_new(s->iface, &s->enc)) {
        avro_value_decref(&s->dec);
        avro_value_iface_decref(s->iface);
        s->iface = NULL;
        return hd_seterr(-1, errstr, errstr_size, "%s: avro-c: %s", f->name, avro_strerror());
    }
    return 0;
}

static const struct hd_schema *hd_serde_require(struct hd_serde *sd, const char *name,
                                                char *errstr, size_t errstr_size)
{
    const struct hd_schema *s = hd_serde_schema(sd, name);
    if (!s)
        hd_seterr(-1, errstr, errstr_size, "schema %s is not among the embedded schemas", name);
    return s;
}

static int hd_serde_index(struct hd_serde *sd, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < sd->schema_cnt; i++) {
        for (size_t k = 0; k < i; k++) {
            if (!strcmp(sd->schemas[i].fullname, sd->schemas[k].fullname) ||
                sd->schemas[i].fingerprint == sd->schemas[k].fingerprint)
                return hd_seterr(-1, errstr, errstr_size, "schemas %s and %s collide",
                                 sd->schemas[i].fullname, sd->schemas[k].fullname);
        }
    }
    const struct hd_topic *t;
    size_t n = hd_topic_catalogue(&t);
    if (n > HD_SERDE_TOPICS_MAX)
        return hd_seterr(-1, errstr, errstr_size, "the topic catalogue outgrew the serde (%zu)", n);
    for (size_t i = 0; i < n; i++) {
        if (!t[i].schema)
            continue;
        if (!(sd->by_topic[i] = hd_serde_require(sd, t[i].schema, errstr, errstr_size)))
            return -1;
        if (t[i].role == HD_ROLE_DISPATCH)
            sd->dispatch = sd->by_topic[i];
    }
    return sd->dispatch ? 0 : hd_seterr(-1, errstr, errstr_size, "no dispatch topic");
}

struct hd_serde *hd_serde_new(char *errstr, size_t errstr_size)
{
    static const char empty[1] = "";
    struct hd_serde *sd = hd_calloc(1, sizeof(*sd));
    sd->schemas = hd_calloc(hd_embedded_avsc_cnt ? hd_embedded_avsc_cnt : 1, sizeof(*sd->schemas));
    for (size_t i = 0; i < hd_embedded_avsc_cnt; i++) {
        sd->schema_cnt++;
        if (hd_schema_init(&sd->schemas[i], &hd_embedded_avsc[i], errstr, errstr_size))
            goto err;
    }
    if (hd_serde_index(sd, errstr, errstr_size))
        goto err;
    sd->reader = avro_reader_memory(empty, 0);
    sd->writer = avro_writer_memory(empty, 0);
    if (!sd->reader || !sd->writer) {
        hd_seterr(-1, errstr, errstr_size, "avro-c: %s", avro_strerror());
        goto err;
    }
    return sd;
err:
    hd_serde_destroy(sd);
    return NULL;
}

void hd_serde_destroy(struct hd_serde *sd)
{
    if (!sd)
        return;
    for (size_t i = 0; i < sd->schema_cnt; i++)
        hd_schema_fini(&sd->schemas[i]);
    if (sd->reader)
        avro_reader_free(sd->reader);
    if (sd->writer)
        avro_writer_free(sd->writer);
    hd_free(sd->schemas);
    hd_free(sd);
}

const struct hd_schema *hd_serde_schema(struct hd_serde *sd, const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sd->schema_cnt; i++)
        if (!strcmp(sd->schemas[i].name, name) || !strcmp(sd->schemas[i].fullname, name))
            return &sd->schemas[i];
    return NULL;
}

const struct hd_schema *hd_serde_schema_for_topic(struct hd_serde *sd, const char *topic)
{
    if (!topic)
        return NULL;
    const struct hd_topic *t;
    size_t n = hd_topic_catalogue(&t);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].name, topic))
            return sd->by_topic[i];
    size_t plen = strlen(HD_TOPIC_DISPATCH_PREFIX);
    if (!strncmp(topic, HD_TOPIC_DISPATCH_PREFIX, plen) && topic[plen])
        return sd->dispatch;
    return NULL;
}

size_t hd_serde_domain_topics(struct hd_serde *sd, const char **topics,
                              const struct hd_schema **schemas, size_t max)
{
    const struct hd_topic *t;
    size_t n = hd_topic_catalogue(&t), k = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i].role != HD_ROLE_DOMAIN)
            continue;
        if (k < max && topics)
            topics[k] = t[i].name;
        if (k < max && schemas)
            schemas[k] = sd->by_topic[i];
        k++;
    }
    return k;
}

const char *hd_schema_name(const struct hd_schema *s)
{
    return s->name;
}

uint64_t hd_schema_fingerprint(const struct hd_schema *s)
{
    return s->fingerprint;
}

avro_schema_t hd_schema_avro(const struct hd_schema *s)
{
    return s->avro;
}

const char *hd_schema_json(const struct hd_schema *s)
{
    return s->json;
}

const struct hd_schema *hd_serde_peek(struct hd_serde *sd, const void *buf, size_t len,
                                      char *errstr, size_t errstr_size)
{
    const unsigned char *p = buf;
    if (len < 2 || !p) {
        hd_seterr(-1, errstr, errstr_size,
                  "record too short for Avro single-object encoding (%zu bytes)", len);
        return NULL;
    }
    if (p[0] != HD_SOE_MAGIC0 || p[1] != HD_SOE_MAGIC1) {
        hd_seterr(-1, errstr, errstr_size,
                  "not Avro single-object encoding: starts %02x %02x, expected c3 01%s", p[0], p[1],
                  p[0] == 0 ? " (Confluent schema-registry framing?)" : "");
        return NULL;
    }
    if (len < HD_SOE_HEADER) {
        hd_seterr(-1, errstr, errstr_size,
                  "truncated single-object header: %zu bytes, the header needs %d", len,
                  HD_SOE_HEADER);
        return NULL;
    }
    for (size_t i = 0; i < sd->schema_cnt; i++)
        if (!memcmp(sd->schemas[i].header + 2, p + 2, 8))
            return &sd->schemas[i];
    uint64_t fp = 0;
    for (int i = 7; i >= 0; i--)
        fp = (fp << 8) | p[2 + i];
    hd_seterr(-1, errstr, errstr_size, "unknown schema fingerprint %016" PRIx64
              " (not one of Herald's schemas)", fp);
    return NULL;
}

/* Header, schema and a checked body, or NULL with errstr. */
static const struct hd_schema *hd_serde_open(struct hd_serde *sd, const void *buf, size_t len,
                                             json_t **json, char *errstr, size_t errstr_size)
{
    const struct hd_schema *s = hd_serde_peek(sd, buf, len, errstr, errstr_size);
    if (!s)
        return NULL;
    char why[512];
    const unsigned char *body = (const unsigned char *)buf + HD_SOE_HEADER;
    if (hd__avro_walk(s->tree->root, body, len - HD_SOE_HEADER, json, why, sizeof(why))) {
        hd_seterr(-1, errstr, errstr_size, "invalid %s record: %s", s->name, why);
        return NULL;
    }
    return s;
}

json_t *hd_serde_decode_json(struct hd_serde *sd, const void *buf, size_t len,
                             const struct hd_schema **schemap, char *errstr, size_t errstr_size)
{
    json_t *obj = NULL;
    const struct hd_schema *s = hd_serde_open(sd, buf, len, &obj, errstr, errstr_size);
    if (schemap)
        *schemap = s;
    return s ? obj : NULL;
}

static void hd_buf_truncate(struct hd_buf *b, size_t len)
{
    b->len = len;
    if (b->data)
        b->data[len] = '\0';
}

int hd_serde_encode_json(struct hd_serde *sd, const struct hd_schema *schema, json_t *obj,
                         struct hd_buf *out, char *errstr, size_t errstr_size)
{
    if (!schema)
        return hd_seterr(-1, errstr, errstr_size, "no schema given");
    if (!json_is_object(obj))
        return hd_seterr(-1, errstr, errstr_size, "a %s must be a JSON object", schema->name);
    size_t mark = out->len;
    hd_buf_append(out, schema->header, HD_SOE_HEADER);
    if (hd__avro_json_encode(schema->tree->root, obj, out, errstr, errstr_size)) {
        hd_buf_truncate(out, mark);
        return -1;
    }
    return 0;
}

int hd_serde_decode_value(struct hd_serde *sd, const void *buf, size_t len,
                          const struct hd_schema **schemap, avro_value_t **valuep, char *errstr,
                          size_t errstr_size)
{
    const struct hd_schema *cs = hd_serde_open(sd, buf, len, NULL, errstr, errstr_size);
    if (schemap)
        *schemap = cs;
    if (!cs)
        return -1;
    /* The serde owns its schemas; const only keeps callers from changing them. */
    struct hd_schema *s = &sd->schemas[cs - sd->schemas];
    avro_reader_memory_set_source(sd->reader, (const char *)buf + HD_SOE_HEADER,
                                  (int64_t)(len - HD_SOE_HEADER));
    if (avro_value_read(sd->reader, &s->dec))
        return hd_seterr(-1, errstr, errstr_size, "invalid %s record: avro-c: %s", s->name,
                         avro_strerror());
    *valuep = &s->dec;
    return 0;
}

avro_value_t *hd_serde_scratch_value(struct hd_serde *sd, const struct hd_schema *schema)
{
    struct hd_schema *s = &sd->schemas[schema - sd->schemas];
    avro_value_reset(&s->enc);
    return &s->enc;
}

int hd_serde_encode_value(struct hd_serde *sd, const struct hd_schema *schema, avro_value_t *v,
                          struct hd_buf *out, char *errstr, size_t errstr_size)
{
    size_t size;
    if (avro_value_sizeof(v, &size))
        return hd_seterr(-1, errstr, errstr_size, "cannot encode %s: avro-c: %s", schema->name,
                         avro_strerror());
    size_t mark = out->len;
    hd_buf_reserve(out, HD_SOE_HEADER + size);
    hd_buf_append(out, schema->header, HD_SOE_HEADER);
    avro_writer_memory_set_dest(sd->writer, out->data + out->len, (int64_t)size);
    if (avro_value_write(sd->writer, v)) {
        hd_buf_truncate(out, mark);
        return hd_seterr(-1, errstr, errstr_size, "cannot encode %s: avro-c: %s", schema->name,
                         avro_strerror());
    }
    hd_buf_truncate(out, out->len + size);
    return 0;
}
