/*
 * Avro binary against Herald's schema tree (serde_int.h), without avro-c:
 *
 * - the walker checks that untrusted bytes are exactly one value of a schema
 *   before avro-c is allowed to read them (avro-c allocates whatever length a
 *   corrupt varint claims), and optionally builds the plain JSON of the value;
 * - the encoder writes plain JSON (no union wrappers, defaults for missing
 *   fields, ISO-8601 timestamps accepted) as Avro binary.
 *
 * Both keep a stack of path segments and only format it when something is
 * wrong, so the happy path pays nothing for good error messages.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/hd.h"
#include "core/time.h"
#include "schemas/serde_int.h"

/* ---- paths ---- */

/* Where a walk is inside a record, for error messages ("recipient.push_tokens[2]"). */
#define HD_MAX_DEPTH 48
struct hd_path_seg {
    const char *name; /* field name, or NULL */
    const char *key;  /* map key (not NUL-terminated), or NULL */
    size_t key_len;
    size_t index;     /* array index when name and key are NULL */
};
struct hd_path {
    struct hd_path_seg seg[HD_MAX_DEPTH];
    int depth;
};

/* Formats the path as "a.b[3][\"k\"]" into out. */
static void hd_path_format(const struct hd_path *p, char *out, size_t out_size)
{
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < p->depth && o < out_size; i++) {
        const struct hd_path_seg *s = &p->seg[i];
        int n;
        if (s->name)
            n = snprintf(out + o, out_size - o, "%s%s", i ? "." : "", s->name);
        else if (s->key)
            n = snprintf(out + o, out_size - o, "[\"%.*s\"]",
                         (int)(s->key_len > 64 ? 64 : s->key_len), s->key);
        else
            n = snprintf(out + o, out_size - o, "[%zu]", s->index);
        if (n < 0)
            break;
        o += (size_t)n;
    }
}

static int hd_path_push(struct hd_path *p, const char *name, const char *key, size_t key_len,
                        size_t index)
{
    if (p->depth >= HD_MAX_DEPTH)
        return -1;
    struct hd_path_seg *s = &p->seg[p->depth++];
    s->name = name;
    s->key = key;
    s->key_len = key_len;
    s->index = index;
    return 0;
}

static void hd_path_error(const struct hd_path *p, const char *msg, char *errstr,
                          size_t errstr_size)
{
    char path[512];
    hd_path_format(p, path, sizeof(path));
    if (path[0])
        hd_seterr(-1, errstr, errstr_size, "%s: %s", path, msg);
    else
        hd_seterr(-1, errstr, errstr_size, "%s", msg);
}

/* ---- UTF-8 ---- */

/* Decodes one UTF-8 sequence at s (n bytes left); returns its length, or 0 if
 * invalid (overlong, surrogate, above U+10FFFF, truncated). */
static size_t hd_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        len = 2, v = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3, v = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

static int hd_utf8_valid(const unsigned char *s, size_t n)
{
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = hd_utf8_next(s + i, n - i, &cp);
        if (!l)
            return 0;
        i += l;
    }
    return 1;
}

/* ---- the walker ---- */

struct hd_walk {
    const unsigned char *p, *end;
    size_t items_left; /* array/map items still allowed: at most one per input byte */
    int build;         /* build JSON */
    struct hd_path path;
    char msg[256];
};

static int hd_walk_fail(struct hd_walk *w, const char *fmt, ...) HD_PRINTF(2, 3);
static int hd_walk_fail(struct hd_walk *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
    va_end(ap);
    return -1;
}

static size_t hd_walk_left(const struct hd_walk *w)
{
    return (size_t)(w->end - w->p);
}

static int hd_walk_long(struct hd_walk *w, int64_t *out, const char *what)
{
    uint64_t v = 0;
    for (int i = 0;; i++) {
        if (w->p == w->end)
            return hd_walk_fail(w, "truncated: %s ends inside a varint", what);
        unsigned char b = *w->p++;
        if (i == 9 && b > 1)
            return hd_walk_fail(w, "%s: varint does not fit in 64 bits", what);
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80))
            break;
    }
    *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
    return 0;
}

static int hd_walk_length(struct hd_walk *w, int64_t *len, const char *what)
{
    if (hd_walk_long(w, len, what))
        return -1;
    if (*len < 0)
        return hd_walk_fail(w, "%s has a negative length (%" PRId64 ")", what, *len);
    if ((uint64_t)*len > hd_walk_left(w))
        return hd_walk_fail(w, "truncated: %s of %" PRId64 " bytes, only %zu left", what, *len,
                            hd_walk_left(w));
    return 0;
}

static json_t *hd_latin1_json(const unsigned char *s, size_t n)
{
    struct hd_buf b = HD_BUF_INIT;
    hd_buf_reserve(&b, n * 2);
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x80) {
            hd_buf_putc(&b, (char)s[i]);
        } else {
            char two[2] = {(char)(0xc0 | (s[i] >> 6)), (char)(0x80 | (s[i] & 0x3f))};
            hd_buf_append(&b, two, 2);
        }
    }
    json_t *j = json_stringn_nocheck(b.data ? b.data : "", b.len);
    hd_buf_free(&b);
    return j;
}

static json_t *hd_real_json(double d)
{
    if (isnan(d))
        return json_string("NaN");
    if (isinf(d))
        return json_string(d > 0 ? "Infinity" : "-Infinity");
    return json_real(d);
}

static uint64_t hd_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int hd_walk_value(struct hd_walk *w, const struct hd__avro_node *n, json_t **out);

static int hd_walk_record(struct hd_walk *w, const struct hd__avro_node *n, json_t **out)
{
    json_t *obj = w->build ? json_object() : NULL;
    for (size_t i = 0; i < n->field_cnt; i++) {
        json_t *v = NULL;
        if (hd_path_push(&w->path, n->fields[i].name, NULL, 0, 0))
            goto deep;
        if (hd_walk_value(w, n->fields[i].type, w->build ? &v : NULL))
            goto err;
        w->path.depth--;
        if (obj)
            json_object_set_new_nocheck(obj, n->fields[i].name, v);
    }
    if (out)
        *out = obj;
    return 0;
deep:
    hd_walk_fail(w, "nested deeper than %d levels", HD_MAX_DEPTH);
err:
    json_decref(obj);
    return -1;
}

/* One array item, or one map entry (key and value). */
static int hd_walk_item(struct hd_walk *w, const struct hd__avro_node *n, json_t *coll,
                        size_t index)
{
    const unsigned char *key = NULL;
    int64_t klen = 0;
    if (n->kind == HD__AVRO_MAP) {
        if (hd_walk_length(w, &klen, "map key"))
            return -1;
        key = w->p;
        w->p += klen;
        if (!hd_utf8_valid(key, (size_t)klen))
            return hd_walk_fail(w, "map key is not valid UTF-8");
    }
    json_t *v = NULL;
    if (hd_path_push(&w->path, NULL, (const char *)key, (size_t)klen, index))
        return hd_walk_fail(w, "nested deeper than %d levels", HD_MAX_DEPTH);
    if (hd_walk_value(w, n->items, coll ? &v : NULL))
        return -1;
    w->path.depth--;
    if (coll && key)
        json_object_setn_new_nocheck(coll, (const char *)key, (size_t)klen, v);
    else if (coll)
        json_array_append_new(coll, v);
    return 0;
}

/* Arrays and maps: blocks of items ended by a zero count; a negative count is
 * followed by the block's size in bytes. Every item takes at least one byte
 * (or is counted against the input length when it takes none), so a corrupt
 * count is refused before anything is looped over or allocated. */
static int hd_walk_blocks(struct hd_walk *w, const struct hd__avro_node *n, json_t **out)
{
    const char *what = n->kind == HD__AVRO_MAP ? "map" : "array";
    json_t *coll = !w->build ? NULL : n->kind == HD__AVRO_MAP ? json_object() : json_array();
    size_t index = 0;
    for (;;) {
        int64_t cnt = 0, size = -1;
        if (hd_walk_long(w, &cnt, what))
            goto err;
        if (!cnt)
            break;
        if (cnt == INT64_MIN) {
            hd_walk_fail(w, "%s block count out of range", what);
            goto err;
        }
        if (cnt < 0 && hd_walk_length(w, &size, "block"))
            goto err;
        cnt = cnt < 0 ? -cnt : cnt;
        if ((uint64_t)cnt > w->items_left) {
            hd_walk_fail(w, "%s block claims %" PRId64 " items, more than the record can hold",
                         what, cnt);
            goto err;
        }
        w->items_left -= (size_t)cnt;
        const unsigned char *block_start = w->p;
        for (int64_t i = 0; i < cnt; i++)
            if (hd_walk_item(w, n, coll, index++))
                goto err;
        if (size >= 0 && w->p - block_start != size) {
            hd_walk_fail(w, "%s block says %" PRId64 " bytes but its items take %td", what, size,
                         w->p - block_start);
            goto err;
        }
    }
    if (out)
        *out = coll;
    return 0;
err:
    json_decref(coll);
    return -1;
}

static int hd_walk_real(struct hd_walk *w, const struct hd__avro_node *n, json_t **out)
{
    int size = n->kind == HD__AVRO_FLOAT ? 4 : 8;
    if (hd_walk_left(w) < (size_t)size)
        return hd_walk_fail(w, "truncated: %s needs %d bytes, only %zu left",
                            size == 4 ? "float" : "double", size, hd_walk_left(w));
    uint64_t bits = hd_le(w->p, size);
    w->p += size;
    if (!out)
        return 0;
    double d;
    if (size == 4) {
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, 4);
        d = f;
    } else {
        memcpy(&d, &bits, 8);
    }
    *out = hd_real_json(d);
    return 0;
}

static int hd_walk_bytes(struct hd_walk *w, const struct hd__avro_node *n, json_t **out)
{
    int64_t len;
    if (n->kind == HD__AVRO_FIXED) {
        if (hd_walk_left(w) < n->fixed_size)
            return hd_walk_fail(w, "truncated: fixed %s needs %zu bytes, only %zu left",
                                n->fullname, n->fixed_size, hd_walk_left(w));
        len = (int64_t)n->fixed_size;
    } else if (hd_walk_length(w, &len, n->kind == HD__AVRO_STRING ? "string" : "bytes")) {
        return -1;
    }
    if (n->kind == HD__AVRO_STRING && !hd_utf8_valid(w->p, (size_t)len))
        return hd_walk_fail(w, "string is not valid UTF-8");
    if (out)
        *out = n->kind == HD__AVRO_STRING
                   ? json_stringn_nocheck((const char *)w->p, (size_t)len)
                   : hd_latin1_json(w->p, (size_t)len);
    w->p += len;
    return 0;
}

static int hd_walk_scalar(struct hd_walk *w, const struct hd__avro_node *n, json_t **out)
{
    int64_t v = 0;
    switch (n->kind) {
    case HD__AVRO_NULL:
        if (out)
            *out = json_null();
        return 0;
    case HD__AVRO_BOOLEAN:
        if (!hd_walk_left(w))
            return hd_walk_fail(w, "truncated: boolean needs 1 byte, none left");
        if (*w->p > 1)
            return hd_walk_fail(w, "invalid boolean byte 0x%02x", *w->p);
        if (out)
            *out = json_boolean(*w->p);
        w->p++;
        return 0;
    case HD__AVRO_INT:
    case HD__AVRO_LONG:
        if (hd_walk_long(w, &v, n->kind == HD__AVRO_INT ? "int" : "long"))
            return -1;
        if (n->kind == HD__AVRO_INT && (v < INT32_MIN || v > INT32_MAX))
            return hd_walk_fail(w, "int out of range (%" PRId64 ")", v);
        if (out)
            *out = json_integer((json_int_t)v);
        return 0;
    case HD__AVRO_FLOAT:
    case HD__AVRO_DOUBLE:
        return hd_walk_real(w, n, out);
    case HD__AVRO_STRING:
    case HD__AVRO_BYTES:
    case HD__AVRO_FIXED:
        return hd_walk_bytes(w, n, out);
    default:
        return hd_walk_fail(w, "unexpected schema node");
    }
}

static int hd_walk_value(struct hd_walk *w, const struct hd__avro_node *n, json_t **out)
{
    int64_t idx = 0;
    switch (n->kind) {
    case HD__AVRO_RECORD:
        return hd_walk_record(w, n, out);
    case HD__AVRO_ARRAY:
    case HD__AVRO_MAP:
        return hd_walk_blocks(w, n, out);
    case HD__AVRO_ENUM:
        if (hd_walk_long(w, &idx, "enum"))
            return -1;
        if (idx < 0 || (uint64_t)idx >= n->symbol_cnt)
            return hd_walk_fail(w, "enum index %" PRId64 " out of range for %s (%zu symbols)", idx,
                                n->fullname, n->symbol_cnt);
        if (out)
            *out = json_string(n->symbols[idx]);
        return 0;
    case HD__AVRO_UNION:
        if (hd_walk_long(w, &idx, "union branch"))
            return -1;
        if (idx < 0 || (uint64_t)idx >= n->branch_cnt)
            return hd_walk_fail(w, "union branch %" PRId64 " out of range (%zu branches)", idx,
                                n->branch_cnt);
        return hd_walk_value(w, n->branches[idx], out);
    default:
        return hd_walk_scalar(w, n, out);
    }
}

int hd__avro_walk(const struct hd__avro_node *n, const void *buf, size_t len, json_t **out,
                  char *errstr, size_t errstr_size)
{
    struct hd_walk w;
    w.p = buf;
    w.end = w.p + len;
    w.items_left = len;
    w.build = out != NULL;
    w.path.depth = 0;
    w.msg[0] = '\0';
    json_t *v = NULL;
    if (hd_walk_value(&w, n, out ? &v : NULL)) {
        hd_path_error(&w.path, w.msg, errstr, errstr_size);
        return -1;
    }
    if (w.p != w.end) {
        json_decref(v);
        return hd_seterr(-1, errstr, errstr_size, "%zu trailing bytes after the record",
                         hd_walk_left(&w));
    }
    if (out)
        *out = v;
    return 0;
}

/* ---- the encoder ---- */

struct hd_enc {
    struct hd_buf *out;
    struct hd_path path;
    char msg[256];
};

static int hd_enc_fail(struct hd_enc *e, const char *fmt, ...) HD_PRINTF(2, 3);
static int hd_enc_fail(struct hd_enc *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return -1;
}

static void hd_put_long(struct hd_buf *out, int64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z & ~(uint64_t)0x7f) {
        tmp[n++] = (unsigned char)((z & 0x7f) | 0x80);
        z >>= 7;
    }
    tmp[n++] = (unsigned char)z;
    hd_buf_append(out, tmp, n);
}

static void hd_put_le(struct hd_buf *out, uint64_t v, int n)
{
    unsigned char tmp[8];
    for (int i = 0; i < n; i++)
        tmp[i] = (unsigned char)(v >> (8 * i));
    hd_buf_append(out, tmp, (size_t)n);
}

static const char *hd_json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

static const char *hd_kind_name(const struct hd__avro_node *n)
{
    static const char *const names[] = {
        [HD__AVRO_NULL] = "null",     [HD__AVRO_BOOLEAN] = "boolean", [HD__AVRO_INT] = "int",
        [HD__AVRO_LONG] = "long",     [HD__AVRO_FLOAT] = "float",     [HD__AVRO_DOUBLE] = "double",
        [HD__AVRO_BYTES] = "bytes",   [HD__AVRO_STRING] = "string",   [HD__AVRO_RECORD] = "object",
        [HD__AVRO_ENUM] = "enum symbol", [HD__AVRO_ARRAY] = "array",  [HD__AVRO_MAP] = "object",
        [HD__AVRO_UNION] = "union",   [HD__AVRO_FIXED] = "fixed",
    };
    if (n->ts_millis)
        return "timestamp (epoch milliseconds or ISO-8601 string)";
    return names[n->kind];
}

static int hd_enc_type_error(struct hd_enc *e, const struct hd__avro_node *n, const json_t *v)
{
    return hd_enc_fail(e, "expected %s, got %s", hd_kind_name(n), hd_json_type_name(v));
}

static int hd_enc_value(struct hd_enc *e, const struct hd__avro_node *n, json_t *v);

/* Bytes and fixed in JSON: a string whose code points are the bytes (0-255). */
static int hd_enc_latin1(struct hd_enc *e, const struct hd__avro_node *n, json_t *v)
{
    if (!json_is_string(v))
        return hd_enc_type_error(e, n, v);
    const unsigned char *s = (const unsigned char *)json_string_value(v);
    size_t len = json_string_length(v), cnt = 0;
    uint32_t cp;
    for (size_t i = 0; i < len; cnt++) {
        size_t l = hd_utf8_next(s + i, len - i, &cp);
        if (!l || cp > 0xff)
            return hd_enc_fail(e, "%s as a string may only hold characters U+0000-U+00FF",
                               n->kind == HD__AVRO_BYTES ? "bytes" : "fixed");
        i += l;
    }
    if (n->kind == HD__AVRO_FIXED && cnt != n->fixed_size)
        return hd_enc_fail(e, "fixed %s needs %zu bytes, got %zu", n->fullname, n->fixed_size, cnt);
    if (n->kind == HD__AVRO_BYTES)
        hd_put_long(e->out, (int64_t)cnt);
    hd_buf_reserve(e->out, cnt);
    for (size_t i = 0; i < len;) {
        i += hd_utf8_next(s + i, len - i, &cp);
        hd_buf_putc(e->out, (char)cp);
    }
    return 0;
}

static int hd_enc_real(struct hd_enc *e, const struct hd__avro_node *n, json_t *v)
{
    double d;
    const char *s = json_string_value(v);
    if (json_is_number(v))
        d = json_number_value(v);
    else if (s && !strcmp(s, "NaN"))
        d = NAN;
    else if (s && !strcmp(s, "Infinity"))
        d = INFINITY;
    else if (s && !strcmp(s, "-Infinity"))
        d = -INFINITY;
    else
        return hd_enc_type_error(e, n, v);
    if (n->kind == HD__AVRO_FLOAT) {
        float f = (float)d;
        uint32_t bits;
        memcpy(&bits, &f, 4);
        hd_put_le(e->out, bits, 4);
    } else {
        uint64_t bits;
        memcpy(&bits, &d, 8);
        hd_put_le(e->out, bits, 8);
    }
    return 0;
}

static int hd_enc_long(struct hd_enc *e, const struct hd__avro_node *n, json_t *v)
{
    int64_t x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (n->ts_millis && json_is_string(v)) {
        if (hd_time_parse_iso8601(json_string_value(v), &x))
            return hd_enc_fail(e, "\"%.64s\" is not an ISO-8601 timestamp", json_string_value(v));
    } else {
        return hd_enc_type_error(e, n, v);
    }
    if (n->kind == HD__AVRO_INT && (x < INT32_MIN || x > INT32_MAX))
        return hd_enc_fail(e, "%" PRId64 " is out of range for int", x);
    hd_put_long(e->out, x);
    return 0;
}

static int hd_enc_default(struct hd_enc *e, const struct hd__avro_field *f)
{
    if (f->def_ready) {
        hd_buf_append(e->out, f->def_bin.data, f->def_bin.len);
        return 0;
    }
    /* A union's default is a value of its first branch. */
    if (f->type->kind == HD__AVRO_UNION) {
        hd_put_long(e->out, 0);
        return hd_enc_value(e, f->type->branches[0], f->def);
    }
    return hd_enc_value(e, f->type, f->def);
}

static int hd_enc_record(struct hd_enc *e, const struct hd__avro_node *n, json_t *v)
{
    if (!json_is_object(v))
        return hd_enc_type_error(e, n, v);
    for (size_t i = 0; i < n->field_cnt; i++) {
        const struct hd__avro_field *f = &n->fields[i];
        if (hd_path_push(&e->path, f->name, NULL, 0, 0))
            return hd_enc_fail(e, "nested deeper than %d levels", HD_MAX_DEPTH);
        json_t *fv = json_object_get(v, f->name);
        int rc = fv ? hd_enc_value(e, f->type, fv)
                 : f->def ? hd_enc_default(e, f)
                 : hd_enc_fail(e, "missing required field");
        if (rc)
            return -1;
        e->path.depth--;
    }
    return 0;
}

static int hd_enc_array(struct hd_enc *e, const struct hd__avro_node *n, json_t *v)
{
    if (!json_is_array(v))
        return hd_enc_type_error(e, n, v);
    size_t cnt = json_array_size(v);
    if (cnt)
        hd_put_long(e->out, (int64_t)cnt);
    for (size_t i = 0; i < cnt; i++) {
        if (hd_path_push(&e->path, NULL, NULL, 0, i))
            return hd_enc_fail(e, "nested deeper than %d levels", HD_MAX_DEPTH);
        if (hd_enc_value(e, n->items, json_array_get(v, i)))
            return -1;
        e->path.depth--;
    }
    hd_put_long(e->out, 0);
    return 0;
}

static int hd_enc_map(struct hd_enc *e, const struct hd__avro_node *n, json_t *v)
{
    if (!json_is_object(v))
        return hd_enc_type_error(e, n, v);
    size_t cnt = json_object_size(v);
    if (cnt)
        hd_put_long(e->out, (int64_t)cnt);
    for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it)) {
        const char *key = json_object_iter_key(it);
        size_t klen = json_object_iter_key_len(it);
        hd_put_long(e->out, (int64_t)klen);
        hd_buf_append(e->out, key, klen);
        if (hd_path_push(&e->path, NULL, key, klen, 0))
            return hd_enc_fail(e, "nested deeper than %d levels", HD_MAX_DEPTH);
        if (hd_enc_value(e, n->items, json_object_iter_value(it)))
            return -1;
        e->path.depth--;
    }
    hd_put_long(e->out, 0);
    return 0;
}

/* Plain JSON has no union wrapper: null picks the null branch, anything else
 * the first other branch that accepts it. With a single other branch (every
 * ["null", T] in Herald) its error is the union's, path and all. */
static int hd_enc_union(struct hd_enc *e, const struct hd__avro_node *n, json_t *v)
{
    if (json_is_null(v) && n->null_branch >= 0) {
        hd_put_long(e->out, n->null_branch);
        return 0;
    }
    size_t others = n->branch_cnt - (n->null_branch >= 0 ? 1 : 0);
    size_t mark = e->out->len;
    int depth = e->path.depth;
    for (size_t i = 0; i < n->branch_cnt; i++) {
        if ((int)i == n->null_branch)
            continue;
        hd_put_long(e->out, (int64_t)i);
        if (!hd_enc_value(e, n->branches[i], v))
            return 0;
        if (others == 1)
            return -1;
        e->out->len = mark;
        e->path.depth = depth;
    }
    return hd_enc_fail(e, "%s matches no branch of the union", hd_json_type_name(v));
}

static int hd_enc_value(struct hd_enc *e, const struct hd__avro_node *n, json_t *v)
{
    switch (n->kind) {
    case HD__AVRO_NULL:
        return json_is_null(v) ? 0 : hd_enc_type_error(e, n, v);
    case HD__AVRO_BOOLEAN:
        if (!json_is_boolean(v))
            return hd_enc_type_error(e, n, v);
        hd_buf_putc(e->out, json_is_true(v) ? 1 : 0);
        return 0;
    case HD__AVRO_INT:
    case HD__AVRO_LONG:
        return hd_enc_long(e, n, v);
    case HD__AVRO_FLOAT:
    case HD__AVRO_DOUBLE:
        return hd_enc_real(e, n, v);
    case HD__AVRO_STRING:
        if (!json_is_string(v))
            return hd_enc_type_error(e, n, v);
        hd_put_long(e->out, (int64_t)json_string_length(v));
        hd_buf_append(e->out, json_string_value(v), json_string_length(v));
        return 0;
    case HD__AVRO_BYTES:
    case HD__AVRO_FIXED:
        return hd_enc_latin1(e, n, v);
    case HD__AVRO_ENUM: {
        const char *s = json_string_value(v);
        if (!s)
            return hd_enc_type_error(e, n, v);
        for (size_t i = 0; i < n->symbol_cnt; i++) {
            if (!strcmp(n->symbols[i], s)) {
                hd_put_long(e->out, (int64_t)i);
                return 0;
            }
        }
        return hd_enc_fail(e, "unknown symbol \"%.64s\"", s);
    }
    case HD__AVRO_RECORD:
        return hd_enc_record(e, n, v);
    case HD__AVRO_ARRAY:
        return hd_enc_array(e, n, v);
    case HD__AVRO_MAP:
        return hd_enc_map(e, n, v);
    case HD__AVRO_UNION:
        return hd_enc_union(e, n, v);
    }
    return hd_enc_fail(e, "unexpected schema node");
}

int hd__avro_json_encode(const struct hd__avro_node *n, json_t *v, struct hd_buf *out,
                         char *errstr, size_t errstr_size)
{
    struct hd_enc e;
    e.out = out;
    e.path.depth = 0;
    e.msg[0] = '\0';
    size_t mark = out->len;
    if (hd_enc_value(&e, n, v)) {
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
        hd_path_error(&e.path, e.msg, errstr, errstr_size);
        return -1;
    }
    return 0;
}

int hd__avro_defaults_compile(struct hd__avro_tree *t, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < t->node_cnt; i++) {
        struct hd__avro_node *n = t->nodes[i];
        for (size_t k = 0; n->kind == HD__AVRO_RECORD && k < n->field_cnt; k++) {
            struct hd__avro_field *f = &n->fields[k];
            if (!f->def || f->def_ready)
                continue;
            struct hd_enc e;
            e.out = &f->def_bin;
            e.path.depth = 0;
            e.msg[0] = '\0';
            hd_buf_reset(&f->def_bin);
            if (hd_enc_default(&e, f)) {
                char path[256];
                hd_path_format(&e.path, path, sizeof(path));
                return hd_seterr(-1, errstr, errstr_size, "default of %s.%s%s%s is invalid: %s",
                                 n->fullname, f->name, path[0] ? " at " : "", path, e.msg);
            }
            f->def_ready = 1;
        }
    }
    return 0;
}
