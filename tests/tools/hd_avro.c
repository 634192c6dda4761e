/*
 * hd_avro: Herald's Avro serde on the command line, for the interoperability
 * test (tests/integration/test_avro_interop.sh) and for poking at records by
 * hand. Records travel as one lowercase hex line each (single-object
 * encoding, header included).
 *
 *   hd_avro schemas                 one JSON line per embedded schema: file, name,
 *                                   canonical form, fingerprint (16 hex digits of
 *                                   the 64-bit value)
 *   hd_avro canonical FILE...       the same for schema files on disk
 *   hd_avro encode SCHEMA           JSON lines -> hex lines (the JSON path)
 *   hd_avro encode --typed SCHEMA   JSON lines -> bytes -> typed struct -> hex lines
 *                                   (the records.h codecs, core records only)
 *   hd_avro decode                  hex lines -> {"schema": NAME, "value": {...}} lines
 *   hd_avro retype                  hex lines -> typed decode -> typed encode -> hex lines
 *
 * Any record that fails stops the run with exit status 1 and the line number
 * and error on stderr.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/embed.h"
#include "core/hd.h"
#include "schemas/records.h"
#include "schemas/serde.h"

/* Typed round trip through one records.h codec: decode into a struct, encode it again. */
#define HD_RETYPE(name, type)                                                                      \
    static int retype_##name(struct hd_serde *sd, const void *in, size_t len, struct hd_buf *out,  \
                             char *err, size_t err_size)                                           \
    {                                                                                              \
        type r;                                                                                    \
        memset(&r, 0, sizeof(r));                                                                  \
        int rc = hd_##name##_decode(sd, in, len, &r, err, err_size);                               \
        if (!rc)                                                                                   \
            rc = hd_##name##_encode(sd, &r, out, err, err_size);                                   \
        hd_##name##_clear(&r);                                                                     \
        return rc;                                                                                 \
    }
HD_RETYPE(request, struct hd_request)
HD_RETYPE(status_event, struct hd_status_event)
HD_RETYPE(dead_letter, struct hd_dead_letter)
HD_RETYPE(dispatch, struct hd_dispatch)
HD_RETYPE(inbox_item, struct hd_inbox_item)
HD_RETYPE(user_action, struct hd_user_action)

static const struct {
    const char *schema;
    int (*retype)(struct hd_serde *, const void *, size_t, struct hd_buf *, char *, size_t);
} typed[] = {
    {"NotificationRequest", retype_request}, {"StatusEvent", retype_status_event},
    {"DeadLetter", retype_dead_letter},      {"Dispatch", retype_dispatch},
    {"InboxItem", retype_inbox_item},        {"UserAction", retype_user_action},
};

static int retype(struct hd_serde *sd, const void *in, size_t len, struct hd_buf *out, char *err,
                  size_t err_size)
{
    const struct hd_schema *s = hd_serde_peek(sd, in, len, err, err_size);
    if (!s)
        return -1;
    for (size_t i = 0; i < HD_ARRAY_SIZE(typed); i++)
        if (!strcmp(typed[i].schema, hd_schema_name(s)))
            return typed[i].retype(sd, in, len, out, err, err_size);
    return hd_seterr(-1, err, err_size, "%s has no typed codec", hd_schema_name(s));
}

static void put_hex(const struct hd_buf *b)
{
    for (size_t i = 0; i < b->len; i++)
        printf("%02x", (unsigned char)b->data[i]);
    putchar('\n');
}

static int unhex(const char *s, size_t n, struct hd_buf *out)
{
    if (n % 2)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        unsigned v;
        if (sscanf(s + i, "%2x", &v) != 1)
            return -1;
        hd_buf_putc(out, (char)v);
    }
    return 0;
}

/* Prints the canonical form and fingerprint of a schema; with a serde, also the
 * name the serde knows that fingerprint by. */
static void print_schema_line(struct hd_serde *sd, const char *file, const char *json)
{
    char err[512];
    char *canon = hd_avro_canonical_form(json, err, sizeof(err));
    json_t *o = json_object();
    json_object_set_new(o, "file", json_string(file));
    if (canon) {
        char fp[17];
        uint64_t v = hd_avro_crc64(canon, strlen(canon));
        snprintf(fp, sizeof(fp), "%016" PRIx64, v);
        json_object_set_new(o, "canonical", json_string(canon));
        json_object_set_new(o, "fingerprint", json_string(fp));
        unsigned char hdr[10] = {0xc3, 0x01};
        for (int i = 0; i < 8; i++)
            hdr[2 + i] = (unsigned char)(v >> (8 * i));
        const struct hd_schema *s = sd ? hd_serde_peek(sd, hdr, sizeof(hdr), NULL, 0) : NULL;
        if (s)
            json_object_set_new(o, "name", json_string(hd_schema_name(s)));
    } else {
        json_object_set_new(o, "error", json_string(err));
    }
    char *line = json_dumps(o, JSON_COMPACT);
    puts(line);
    free(line);
    json_decref(o);
    hd_free(canon);
}

static int cmd_schemas(struct hd_serde *sd)
{
    for (size_t i = 0; i < hd_embedded_avsc_cnt; i++)
        print_schema_line(sd, hd_embedded_avsc[i].name, (const char *)hd_embedded_avsc[i].data);
    return 0;
}

static int cmd_canonical(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            fprintf(stderr, "hd_avro: cannot open %s\n", argv[i]);
            return 1;
        }
        struct hd_buf b = HD_BUF_INIT;
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            hd_buf_append(&b, chunk, n);
        fclose(f);
        print_schema_line(NULL, argv[i], b.data ? b.data : "");
        hd_buf_free(&b);
    }
    return 0;
}

/* One record per input line; fn turns the line into output. */
static int each_line(struct hd_serde *sd, int (*fn)(struct hd_serde *, const char *, size_t,
                                                     const void *, char *, size_t),
                     const void *arg)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int rc = 0;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (!n)
            continue;
        char err[1024];
        if (fn(sd, line, (size_t)n, arg, err, sizeof(err))) {
            fprintf(stderr, "hd_avro: line %ld: %s\n", lineno, err);
            rc = 1;
            break;
        }
    }
    free(line);
    return rc;
}

struct encode_arg {
    const struct hd_schema *schema;
    int typed;
};

static int encode_line(struct hd_serde *sd, const char *line, size_t n, const void *argp,
                       char *err, size_t err_size)
{
    const struct encode_arg *arg = argp;
    json_error_t jerr;
    json_t *o = json_loadb(line, n, JSON_ALLOW_NUL, &jerr);
    if (!o)
        return hd_seterr(-1, err, err_size, "not JSON: %s", jerr.text);
    struct hd_buf b = HD_BUF_INIT, t = HD_BUF_INIT;
    int rc = hd_serde_encode_json(sd, arg->schema, o, &b, err, err_size);
    json_decref(o);
    if (!rc && arg->typed)
        rc = retype(sd, b.data, b.len, &t, err, err_size);
    if (!rc)
        put_hex(arg->typed ? &t : &b);
    hd_buf_free(&b);
    hd_buf_free(&t);
    return rc;
}

static int decode_line(struct hd_serde *sd, const char *line, size_t n, const void *arg,
                       char *err, size_t err_size)
{
    struct hd_buf b = HD_BUF_INIT;
    if (unhex(line, n, &b)) {
        hd_buf_free(&b);
        return hd_seterr(-1, err, err_size, "not hex");
    }
    const struct hd_schema *s;
    json_t *v = hd_serde_decode_json(sd, b.data, b.len, &s, err, err_size);
    hd_buf_free(&b);
    if (!v)
        return -1;
    json_t *o = json_pack("{s:s, s:o}", "schema", hd_schema_name(s), "value", v);
    char *out = json_dumps(o, JSON_COMPACT);
    puts(out);
    free(out);
    json_decref(o);
    return 0;
}

static int retype_line(struct hd_serde *sd, const char *line, size_t n, const void *arg,
                       char *err, size_t err_size)
{
    struct hd_buf b = HD_BUF_INIT, t = HD_BUF_INIT;
    int rc = unhex(line, n, &b) ? hd_seterr(-1, err, err_size, "not hex")
                                : retype(sd, b.data, b.len, &t, err, err_size);
    if (!rc)
        put_hex(&t);
    hd_buf_free(&b);
    hd_buf_free(&t);
    return rc;
}

static int usage(void)
{
    fprintf(stderr, "usage: hd_avro schemas | canonical FILE... | encode [--typed] SCHEMA |"
                    " decode | retype\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (!strcmp(argv[1], "canonical"))
        return cmd_canonical(argc - 2, argv + 2);
    char err[512];
    struct hd_serde *sd = hd_serde_new(err, sizeof(err));
    if (!sd) {
        fprintf(stderr, "hd_avro: %s\n", err);
        return 1;
    }
    int rc;
    if (!strcmp(argv[1], "schemas")) {
        rc = cmd_schemas(sd);
    } else if (!strcmp(argv[1], "encode") && argc >= 3) {
        struct encode_arg arg = {NULL, !strcmp(argv[2], "--typed")};
        const char *name = arg.typed ? argv[3] : argv[2];
        arg.schema = name ? hd_serde_schema(sd, name) : NULL;
        if (!arg.schema) {
            fprintf(stderr, "hd_avro: unknown schema %s\n", name ? name : "(none)");
            rc = 2;
        } else {
            rc = each_line(sd, encode_line, &arg);
        }
    } else if (!strcmp(argv[1], "decode")) {
        rc = each_line(sd, decode_line, NULL);
    } else if (!strcmp(argv[1], "retype")) {
        rc = each_line(sd, retype_line, NULL);
    } else {
        rc = usage();
    }
    hd_serde_destroy(sd);
    return rc;
}
