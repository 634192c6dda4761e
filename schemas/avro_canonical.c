/*
 * Avro schemas as Herald sees them: the JSON of a schema parsed into a tree of
 * hd__avro_node (names resolved to full names, defaults kept), the Parsing
 * Canonical Form printed from that tree, and the CRC-64-AVRO fingerprint of
 * it — all as the Avro specification defines them, since avro-c 1.11.1 has
 * neither canonical forms nor fingerprints.
 *
 * Printing from the resolved tree gives the canonical transformations for
 * free: PRIMITIVES and STRIP (only the attributes the tree keeps exist),
 * FULLNAMES (names are resolved while parsing), ORDER (the printer's order),
 * STRINGS and INTEGERS (values are printed from their parsed form) and
 * WHITESPACE (none is printed).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/hd.h"
#include "schemas/serde.h"
#include "schemas/serde_int.h"

static const char *const hd_avro_primitives[] = {
    [HD__AVRO_NULL] = "null",     [HD__AVRO_BOOLEAN] = "boolean", [HD__AVRO_INT] = "int",
    [HD__AVRO_LONG] = "long",     [HD__AVRO_FLOAT] = "float",     [HD__AVRO_DOUBLE] = "double",
    [HD__AVRO_BYTES] = "bytes",   [HD__AVRO_STRING] = "string",
};

struct hd_avro_parser {
    struct hd__avro_tree *tree;
    char *errstr;
    size_t errstr_size;
};

static int hd_avro_primitive_kind(const char *s)
{
    for (int k = HD__AVRO_NULL; k <= HD__AVRO_STRING; k++)
        if (!strcmp(s, hd_avro_primitives[k]))
            return k;
    return -1;
}

/* [A-Za-z_][A-Za-z0-9_]* */
static int hd_avro_name_ok(const char *s, size_t n)
{
    if (!n || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

/* Dotted names: every component a valid name; "" is the null namespace. */
static int hd_avro_dotted_ok(const char *s, int allow_empty)
{
    if (!*s)
        return allow_empty;
    for (;;) {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        if (!hd_avro_name_ok(s, n))
            return 0;
        if (!dot)
            return 1;
        s = dot + 1;
    }
}

static struct hd__avro_node *hd_avro_node_new(struct hd_avro_parser *p, enum hd__avro_kind kind)
{
    struct hd__avro_tree *t = p->tree;
    struct hd__avro_node *n = hd_calloc(1, sizeof(*n));
    n->kind = kind;
    n->null_branch = -1;
    if (t->node_cnt == t->node_cap) {
        t->node_cap = t->node_cap ? t->node_cap * 2 : 16;
        t->nodes = hd_realloc(t->nodes, t->node_cap * sizeof(*t->nodes));
    }
    t->nodes[t->node_cnt++] = n;
    return n;
}

static struct hd__avro_node *hd_avro_lookup(struct hd_avro_parser *p, const char *fullname)
{
    for (size_t i = 0; i < p->tree->node_cnt; i++) {
        struct hd__avro_node *n = p->tree->nodes[i];
        if (n->fullname && !strcmp(n->fullname, fullname))
            return n;
    }
    return NULL;
}

/* A type given by name: a primitive, or a named type defined earlier. */
static struct hd__avro_node *hd_avro_resolve(struct hd_avro_parser *p, const char *name,
                                             const char *ns)
{
    int kind = hd_avro_primitive_kind(name);
    if (kind >= 0)
        return hd_avro_node_new(p, (enum hd__avro_kind)kind);
    struct hd__avro_node *n = NULL;
    if (!strchr(name, '.') && *ns) {
        char *full = hd_asprintf("%s.%s", ns, name);
        n = hd_avro_lookup(p, full);
        hd_free(full);
    }
    if (!n)
        n = hd_avro_lookup(p, name);
    if (!n)
        hd_seterr(-1, p->errstr, p->errstr_size, "unknown type \"%s\"", name);
    return n;
}

static struct hd__avro_node *hd_avro_parse(struct hd_avro_parser *p, json_t *j, const char *ns);

static struct hd__avro_node *hd_avro_parse_union(struct hd_avro_parser *p, json_t *j,
                                                 const char *ns)
{
    struct hd__avro_node *u = hd_avro_node_new(p, HD__AVRO_UNION);
    size_t cnt = json_array_size(j);
    u->branches = hd_calloc(cnt, sizeof(*u->branches));
    for (size_t i = 0; i < cnt; i++) {
        struct hd__avro_node *b = hd_avro_parse(p, json_array_get(j, i), ns);
        if (!b)
            return NULL;
        if (b->kind == HD__AVRO_UNION) {
            hd_seterr(-1, p->errstr, p->errstr_size, "a union may not contain a union");
            return NULL;
        }
        for (size_t k = 0; k < i; k++) {
            const struct hd__avro_node *o = u->branches[k];
            int same = b->fullname ? (o->fullname && !strcmp(o->fullname, b->fullname))
                                   : (!o->fullname && o->kind == b->kind);
            if (same) {
                hd_seterr(-1, p->errstr, p->errstr_size, "union has two branches of type %s",
                          b->fullname ? b->fullname
                          : b->kind <= HD__AVRO_STRING ? hd_avro_primitives[b->kind]
                          : b->kind == HD__AVRO_ARRAY ? "array" : "map");
                return NULL;
            }
        }
        if (b->kind == HD__AVRO_NULL)
            u->null_branch = (int)i;
        u->branches[u->branch_cnt++] = b;
    }
    if (!cnt) {
        hd_seterr(-1, p->errstr, p->errstr_size, "empty union");
        return NULL;
    }
    return u;
}

/* Declares a named type: computes its full name and namespace (the Avro
 * rules: a dotted name is a full name, else "namespace", else the enclosing
 * namespace) and registers it before its body is parsed, for recursion. */
static struct hd__avro_node *hd_avro_declare(struct hd_avro_parser *p, json_t *j, const char *ns,
                                             enum hd__avro_kind kind, char **new_ns)
{
    const char *name = json_string_value(json_object_get(j, "name"));
    if (!name) {
        hd_seterr(-1, p->errstr, p->errstr_size, "named type without a \"name\"");
        return NULL;
    }
    char *full;
    const char *dot = strrchr(name, '.');
    json_t *jns = json_object_get(j, "namespace");
    if (dot) {
        full = hd_strdup(name);
        *new_ns = hd_strndup(name, (size_t)(dot - name));
    } else {
        if (jns && !json_is_string(jns) && !json_is_null(jns)) {
            hd_seterr(-1, p->errstr, p->errstr_size, "%s: \"namespace\" is not a string", name);
            return NULL;
        }
        const char *space = json_is_string(jns) ? json_string_value(jns) : ns;
        *new_ns = hd_strdup(space);
        full = *space ? hd_asprintf("%s.%s", space, name) : hd_strdup(name);
    }
    const char *last = strrchr(full, '.');
    last = last ? last + 1 : full;
    if (!hd_avro_dotted_ok(full, 0) || !hd_avro_dotted_ok(*new_ns, 1) ||
        hd_avro_primitive_kind(last) >= 0) {
        hd_seterr(-1, p->errstr, p->errstr_size, "invalid name \"%s\"", full);
        goto err;
    }
    if (hd_avro_lookup(p, full)) {
        hd_seterr(-1, p->errstr, p->errstr_size, "type %s is defined twice", full);
        goto err;
    }
    struct hd__avro_node *n = hd_avro_node_new(p, kind);
    n->fullname = full;
    return n;
err:
    hd_free(full);
    hd_free(*new_ns);
    *new_ns = NULL;
    return NULL;
}

static int hd_avro_parse_fields(struct hd_avro_parser *p, struct hd__avro_node *n, json_t *j,
                                const char *ns)
{
    json_t *fields = json_object_get(j, "fields");
    if (!json_is_array(fields))
        return hd_seterr(-1, p->errstr, p->errstr_size, "%s: \"fields\" is not an array",
                         n->fullname);
    size_t cnt = json_array_size(fields);
    n->fields = hd_calloc(cnt ? cnt : 1, sizeof(*n->fields));
    for (size_t i = 0; i < cnt; i++) {
        json_t *f = json_array_get(fields, i);
        const char *fname = json_string_value(json_object_get(f, "name"));
        if (!fname || !hd_avro_name_ok(fname, strlen(fname)))
            return hd_seterr(-1, p->errstr, p->errstr_size, "%s: field %zu has an invalid name",
                             n->fullname, i);
        for (size_t k = 0; k < n->field_cnt; k++)
            if (!strcmp(n->fields[k].name, fname))
                return hd_seterr(-1, p->errstr, p->errstr_size, "%s: field %s is declared twice",
                                 n->fullname, fname);
        json_t *ft = json_object_get(f, "type");
        struct hd__avro_node *type = ft ? hd_avro_parse(p, ft, ns) : NULL;
        if (!type) {
            char why[256];
            snprintf(why, sizeof(why), "%s", ft && p->errstr ? p->errstr : "no \"type\"");
            return hd_seterr(-1, p->errstr, p->errstr_size, "%s.%s: %s", n->fullname, fname, why);
        }
        struct hd__avro_field *fd = &n->fields[n->field_cnt++];
        fd->name = hd_strdup(fname);
        fd->type = type;
        fd->def = json_object_get(f, "default");
        if (fd->def)
            json_incref(fd->def);
    }
    return 0;
}

static int hd_avro_parse_symbols(struct hd_avro_parser *p, struct hd__avro_node *n, json_t *j)
{
    json_t *syms = json_object_get(j, "symbols");
    if (!json_is_array(syms))
        return hd_seterr(-1, p->errstr, p->errstr_size, "%s: \"symbols\" is not an array",
                         n->fullname);
    size_t cnt = json_array_size(syms);
    n->symbols = hd_calloc(cnt ? cnt : 1, sizeof(*n->symbols));
    for (size_t i = 0; i < cnt; i++) {
        const char *s = json_string_value(json_array_get(syms, i));
        if (!s || !hd_avro_name_ok(s, strlen(s)))
            return hd_seterr(-1, p->errstr, p->errstr_size, "%s: symbol %zu is not a valid name",
                             n->fullname, i);
        for (size_t k = 0; k < n->symbol_cnt; k++)
            if (!strcmp(n->symbols[k], s))
                return hd_seterr(-1, p->errstr, p->errstr_size, "%s: symbol %s is repeated",
                                 n->fullname, s);
        n->symbols[n->symbol_cnt++] = hd_strdup(s);
    }
    return 0;
}

static struct hd__avro_node *hd_avro_parse_named(struct hd_avro_parser *p, json_t *j,
                                                 const char *ns, enum hd__avro_kind kind)
{
    char *inner_ns = NULL;
    struct hd__avro_node *n = hd_avro_declare(p, j, ns, kind, &inner_ns);
    if (!n)
        return NULL;
    int rc = 0;
    if (kind == HD__AVRO_RECORD) {
        rc = hd_avro_parse_fields(p, n, j, inner_ns);
    } else if (kind == HD__AVRO_ENUM) {
        rc = hd_avro_parse_symbols(p, n, j);
    } else {
        json_t *size = json_object_get(j, "size");
        if (!json_is_integer(size) || json_integer_value(size) < 0)
            rc = hd_seterr(-1, p->errstr, p->errstr_size, "%s: \"size\" is not a size",
                           n->fullname);
        else
            n->fixed_size = (size_t)json_integer_value(size);
    }
    hd_free(inner_ns);
    return rc ? NULL : n;
}

static struct hd__avro_node *hd_avro_parse_object(struct hd_avro_parser *p, json_t *j,
                                                  const char *ns)
{
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type) {
        hd_seterr(-1, p->errstr, p->errstr_size, "schema object without a string \"type\"");
        return NULL;
    }
    int kind = hd_avro_primitive_kind(type);
    if (kind >= 0) {
        struct hd__avro_node *n = hd_avro_node_new(p, (enum hd__avro_kind)kind);
        const char *lt = json_string_value(json_object_get(j, "logicalType"));
        n->ts_millis = kind == HD__AVRO_LONG && lt && !strcmp(lt, "timestamp-millis");
        return n;
    }
    if (!strcmp(type, "record") || !strcmp(type, "error"))
        return hd_avro_parse_named(p, j, ns, HD__AVRO_RECORD);
    if (!strcmp(type, "enum"))
        return hd_avro_parse_named(p, j, ns, HD__AVRO_ENUM);
    if (!strcmp(type, "fixed"))
        return hd_avro_parse_named(p, j, ns, HD__AVRO_FIXED);
    if (!strcmp(type, "array") || !strcmp(type, "map")) {
        int is_array = type[0] == 'a';
        json_t *inner = json_object_get(j, is_array ? "items" : "values");
        if (!inner) {
            hd_seterr(-1, p->errstr, p->errstr_size, "%s without \"%s\"", type,
                      is_array ? "items" : "values");
            return NULL;
        }
        struct hd__avro_node *n = hd_avro_node_new(p, is_array ? HD__AVRO_ARRAY : HD__AVRO_MAP);
        n->items = hd_avro_parse(p, inner, ns);
        return n->items ? n : NULL;
    }
    return hd_avro_resolve(p, type, ns); /* {"type": "SomeNamedType"} */
}

static struct hd__avro_node *hd_avro_parse(struct hd_avro_parser *p, json_t *j, const char *ns)
{
    if (json_is_string(j))
        return hd_avro_resolve(p, json_string_value(j), ns);
    if (json_is_array(j))
        return hd_avro_parse_union(p, j, ns);
    if (json_is_object(j))
        return hd_avro_parse_object(p, j, ns);
    hd_seterr(-1, p->errstr, p->errstr_size, "a schema must be a string, an object or an array");
    return NULL;
}

struct hd__avro_tree *hd__avro_tree_parse(json_t *schema, char *errstr, size_t errstr_size)
{
    struct hd_avro_parser p = {hd_calloc(1, sizeof(struct hd__avro_tree)), errstr, errstr_size};
    p.tree->root = hd_avro_parse(&p, schema, "");
    if (!p.tree->root) {
        hd__avro_tree_free(p.tree);
        return NULL;
    }
    return p.tree;
}

void hd__avro_tree_free(struct hd__avro_tree *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->node_cnt; i++) {
        struct hd__avro_node *n = t->nodes[i];
        for (size_t k = 0; k < n->field_cnt; k++) {
            hd_free(n->fields[k].name);
            json_decref(n->fields[k].def);
            hd_buf_free(&n->fields[k].def_bin);
        }
        for (size_t k = 0; k < n->symbol_cnt; k++)
            hd_free(n->symbols[k]);
        hd_free(n->fields);
        hd_free(n->symbols);
        hd_free(n->branches);
        hd_free(n->fullname);
        hd_free(n);
    }
    hd_free(t->nodes);
    hd_free(t);
}

/* Names, symbols and field names are validated [A-Za-z0-9_.] text, so they
 * print as JSON strings without escaping. */
static void hd_avro_canon_node(struct hd__avro_node *n, struct hd_buf *b)
{
    switch (n->kind) {
    case HD__AVRO_RECORD:
    case HD__AVRO_ENUM:
    case HD__AVRO_FIXED:
        if (n->canon_mark) {
            hd_buf_printf(b, "\"%s\"", n->fullname);
            return;
        }
        n->canon_mark = 1;
        hd_buf_printf(b, "{\"name\":\"%s\",\"type\":", n->fullname);
        if (n->kind == HD__AVRO_FIXED) {
            hd_buf_printf(b, "\"fixed\",\"size\":%zu}", n->fixed_size);
        } else if (n->kind == HD__AVRO_ENUM) {
            hd_buf_puts(b, "\"enum\",\"symbols\":[");
            for (size_t i = 0; i < n->symbol_cnt; i++)
                hd_buf_printf(b, "%s\"%s\"", i ? "," : "", n->symbols[i]);
            hd_buf_puts(b, "]}");
        } else {
            hd_buf_puts(b, "\"record\",\"fields\":[");
            for (size_t i = 0; i < n->field_cnt; i++) {
                hd_buf_printf(b, "%s{\"name\":\"%s\",\"type\":", i ? "," : "", n->fields[i].name);
                hd_avro_canon_node(n->fields[i].type, b);
                hd_buf_putc(b, '}');
            }
            hd_buf_puts(b, "]}");
        }
        return;
    case HD__AVRO_ARRAY:
    case HD__AVRO_MAP:
        hd_buf_puts(b, n->kind == HD__AVRO_ARRAY ? "{\"type\":\"array\",\"items\":"
                                                 : "{\"type\":\"map\",\"values\":");
        hd_avro_canon_node(n->items, b);
        hd_buf_putc(b, '}');
        return;
    case HD__AVRO_UNION:
        hd_buf_putc(b, '[');
        for (size_t i = 0; i < n->branch_cnt; i++) {
            if (i)
                hd_buf_putc(b, ',');
            hd_avro_canon_node(n->branches[i], b);
        }
        hd_buf_putc(b, ']');
        return;
    default:
        hd_buf_printf(b, "\"%s\"", hd_avro_primitives[n->kind]);
        return;
    }
}

void hd__avro_tree_canonical(struct hd__avro_tree *t, struct hd_buf *out)
{
    for (size_t i = 0; i < t->node_cnt; i++)
        t->nodes[i]->canon_mark = 0;
    hd_avro_canon_node(t->root, out);
}

char *hd_avro_canonical_form(const char *schema_json, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *j = json_loads(schema_json, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        hd_seterr(-1, errstr, errstr_size, "schema is not JSON: %s (line %d)", jerr.text,
                  jerr.line);
        return NULL;
    }
    struct hd__avro_tree *t = hd__avro_tree_parse(j, errstr, errstr_size);
    json_decref(j);
    if (!t)
        return NULL;
    struct hd_buf b = HD_BUF_INIT;
    hd__avro_tree_canonical(t, &b);
    hd__avro_tree_free(t);
    return hd_buf_steal(&b);
}

/* CRC-64-AVRO, the Rabin fingerprint with the polynomial the spec names
 * through its empty value, table-driven as in the spec. */
#define HD_AVRO_CRC64_EMPTY 0xc15d213aa4d7a795ULL

static uint64_t hd_avro_crc64_table[256];
static pthread_once_t hd_avro_crc64_once = PTHREAD_ONCE_INIT;

static void hd_avro_crc64_init(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint64_t fp = i;
        for (int j = 0; j < 8; j++)
            fp = (fp >> 1) ^ (HD_AVRO_CRC64_EMPTY & (0 - (fp & 1)));
        hd_avro_crc64_table[i] = fp;
    }
}

uint64_t hd_avro_crc64(const void *buf, size_t len)
{
    pthread_once(&hd_avro_crc64_once, hd_avro_crc64_init);
    const unsigned char *p = buf;
    uint64_t fp = HD_AVRO_CRC64_EMPTY;
    for (size_t i = 0; i < len; i++)
        fp = (fp >> 8) ^ hd_avro_crc64_table[(fp ^ p[i]) & 0xff];
    return fp;
}
