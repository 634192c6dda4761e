/*
 * Private to templates/: the compiled form, the render state and the helper
 * interface shared by the parser (template_parse.c), the renderer
 * (template_render.c), the built-in helpers (template_helpers.c) and the ICU
 * formatters (template_format.c).
 *
 * A program is a flat array of nodes. A node with children (section, block,
 * helper block, parent) is followed by them; `next` is the index just past
 * its last child, so rendering is a walk over index ranges with no pointers to
 * chase. Strings (text, names) live in one pool per program and are addressed
 * by offset.
 */
#ifndef HD_TEMPLATE_INT_H
#define HD_TEMPLATE_INT_H

#include <pthread.h>

#include "templates/template.h"

#define HD__TPL_MAX_NESTING 100      /* sections inside sections, per template */
#define HD__TPL_MAX_DEPTH 200        /* render recursion: sections, partials, blocks */
#define HD__TPL_MAX_ARGS 16          /* positional + hash arguments of one helper call */
#define HD__TPL_MAX_DYN_PARTIALS 256 /* dynamic partial names kept per template */

enum hd__tpl_op {
    HD__OP_TEXT,
    HD__OP_VAR,       /* {{x}} {{{x}}} {{&x}} */
    HD__OP_SECTION,   /* {{#x}} */
    HD__OP_INVERTED,  /* {{^x}} */
    HD__OP_PARTIAL,   /* {{>x}} {{>*x}} */
    HD__OP_PARENT,    /* {{<x}}: children are only its argument blocks */
    HD__OP_BLOCK,     /* {{$x}} */
    HD__OP_CALL,      /* {{helper args}} */
    HD__OP_CALL_BLOCK /* {{#helper args}}…{{else}}…{{/helper}} */
};

#define HD__F_RAW 1     /* not escaped */
#define HD__F_DYNAMIC 2 /* partial/parent name is read from the data (path) */

struct hd__tpl_helper;

struct hd__tpl_node {
    uint8_t op;
    uint8_t flags;
    uint16_t nargs;
    uint32_t next; /* index past this node's children */
    uint32_t alt;  /* helper block: first node of the {{else}} part (== next if none) */
    uint32_t str;  /* pool offset: text, or the tag's name */
    uint32_t len;
    uint32_t path;   /* index in paths: VAR, SECTION, INVERTED, dynamic PARTIAL/PARENT */
    uint32_t arg;    /* first index in args: CALL, CALL_BLOCK */
    uint32_t indent; /* pool offset of the indentation pushed by PARTIAL/PARENT/BLOCK */
    uint32_t indent_len;
    uint32_t slot; /* partial slot in the template's table: static PARTIAL/PARENT */
    uint32_t line, col;
    const struct hd__tpl_helper *helper;
};

enum hd__tpl_path_kind {
    HD__PATH_NAME, /* a.b.c: first segment searched up the context stack */
    HD__PATH_THIS, /* . / this / this.a / ./a: the top context only */
    HD__PATH_UP,   /* ../a: `up` contexts below the top */
    HD__PATH_ROOT, /* @root.a */
    HD__PATH_DATA  /* @index @key @first @last */
};

enum hd__tpl_data_var { HD__DATA_INDEX, HD__DATA_KEY, HD__DATA_FIRST, HD__DATA_LAST };

struct hd__tpl_path {
    uint8_t kind;
    uint8_t data_var;
    uint16_t up;
    uint32_t seg; /* first index in segs */
    uint32_t nseg;
    uint32_t str; /* pool offset of the name as written, for messages */
    uint32_t len;
};

struct hd__tpl_seg {
    uint32_t str; /* pool offset of the NUL-terminated key */
    uint32_t len;
    int64_t index; /* the key as an array index, or -1 */
};

enum hd__tpl_vt {
    HD__V_MISSING = 0,
    HD__V_JSON,
    HD__V_STR,
    HD__V_INT,
    HD__V_REAL,
    HD__V_BOOL,
    HD__V_NULL
};

/* A value seen by the renderer and helpers: JSON from the data, or a literal
 * or a data variable that needs no allocation. Strings are not NUL-terminated. */
struct hd__tpl_value {
    uint8_t t;
    json_t *j;
    const char *s;
    size_t n;
    int64_t i;
    double d;
};

enum hd__tpl_arg_kind {
    HD__ARG_PATH,
    HD__ARG_STR,
    HD__ARG_INT,
    HD__ARG_REAL,
    HD__ARG_BOOL,
    HD__ARG_NULL
};

struct hd__tpl_arg {
    uint8_t kind;
    uint32_t key; /* hash argument name (pool offset), len 0 when positional */
    uint32_t key_len;
    uint32_t str; /* path index (PATH), or pool offset (STR) */
    uint32_t len;
    int64_t i; /* INT, BOOL */
    double d;  /* REAL */
};

struct hd__tpl_prog {
    char *name;
    struct hd__tpl_node *nodes;
    uint32_t nnodes;
    char *pool;
    struct hd__tpl_path *paths;
    struct hd__tpl_seg *segs;
    struct hd__tpl_arg *args;
};

struct hd__tpl_slot {
    char *name;
    struct hd__tpl_prog *prog; /* NULL: no such partial (renders empty) */
};

struct hd__tpl_dyn {
    char *name;
    struct hd_tpl *tpl; /* NULL: no such partial */
};

struct hd_tpl {
    int refs; /* atomic */
    char *name;
    struct hd__tpl_prog *main;
    struct hd__tpl_slot *slots; /* partials named in the source; fixed after compile */
    uint32_t nslots, cap_slots;
    int has_resolver;
    struct hd_tpl_resolver resolver;
    pthread_mutex_t lock; /* guards dyn */
    struct hd__tpl_dyn *dyn;
    uint32_t ndyn, cap_dyn;
};

/* ---- compiling (template_parse.c, template.c) ---- */

/* Compiles one source into a program whose partial slots are allocated in t. */
struct hd__tpl_prog *hd__tpl_parse(struct hd_tpl *t, const char *name, const char *src, size_t len,
                                   char *errstr, size_t errstr_size);
void hd__tpl_prog_free(struct hd__tpl_prog *p);
/* Finds or adds the slot for a partial name; returns its index. */
uint32_t hd__tpl_slot(struct hd_tpl *t, const char *name, size_t len);
/* The template of a partial named at render time: *out is a new reference
 * (NULL when there is no such partial). Returns HD_OK or an error with errstr. */
int hd__tpl_dynamic(struct hd_tpl *t, const char *name, size_t len, struct hd_tpl **out,
                    char *errstr, size_t errstr_size);

/* ---- parser internals (template_lex.c: passes 1-4, template_parse.c: pass 5) ---- */

#define HD__TPL_MAX_SOURCE (64u << 20)

enum hd__tpl_tk {
    HD__T_TEXT,
    HD__T_COMMENT,
    HD__T_DELIM,
    HD__T_VAR,
    HD__T_RAW,
    HD__T_SECTION,
    HD__T_INVERTED,
    HD__T_CLOSE,
    HD__T_PARTIAL,
    HD__T_PARENT,
    HD__T_BLOCK,
    HD__T_ELSE
};

struct hd__tpl_tok {
    uint8_t kind;
    uint8_t removed;    /* text dropped by a standalone line */
    uint8_t standalone; /* tag on a standalone line */
    uint8_t line_start; /* first token of a source line */
    uint8_t is_call;    /* helper call: content is "name args…" */
    uint8_t content;    /* line_start token: its line prints something */
    uint32_t off, len;  /* text bytes, or the tag's content (after the sigil, trimmed) */
    uint32_t name_len;  /* first word of the content */
    uint32_t line, col;
    int32_t match; /* open <-> close */
    int32_t up;    /* innermost enclosing open tag, -1 at top level */
    int32_t blk;   /* innermost enclosing block tag, -1 if none */
    int32_t els;   /* helper block: its {{else}} */
    int32_t first; /* index of the first token of this token's line */
    /* standalone tag: its line's indentation; first token of a line: the line's */
    uint32_t ind_off, ind_len;
    uint32_t d_off, d_len; /* block: indentation removed from its content lines */
    uint32_t e_off, e_len; /* block: indentation pushed where it is expanded (absolute) */
};

struct hd__tpl_parser {
    struct hd_tpl *unit;
    const char *name;
    const char *src;
    size_t len;
    char *errstr;
    size_t errsize;
    struct hd__tpl_tok *toks;
    size_t ntok, cap_tok;
    /* output */
    struct hd_buf pool;
    struct hd_buf text; /* pending text run */
    struct hd__tpl_node *nodes;
    size_t nnodes, cap_nodes;
    struct hd__tpl_path *paths;
    size_t npaths, cap_paths;
    struct hd__tpl_seg *segs;
    size_t nsegs, cap_segs;
    struct hd__tpl_arg *args;
    size_t nargs, cap_args;
};

#define HD__GROW(arr, n, cap)                                                                      \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) ? (cap)*2 : 16;                                                          \
            (arr) = hd_realloc((arr), (cap) * sizeof(*(arr)));                                     \
        }                                                                                          \
    } while (0)

/* Passes 1-4 over p->src: tokens, nesting, standalone lines, block indentation. */
int hd__tpl_lex(struct hd__tpl_parser *p);
/* Records "template 'NAME' line L, column C: ..." in p's errstr; returns HD_ERR_INVALID. */
int hd__tpl_perr(struct hd__tpl_parser *p, uint32_t line, uint32_t col, const char *fmt, ...)
    HD_PRINTF(4, 5);
int hd__tpl_is_ws(char c);
/* The name a tag opens or closes: its content, or a helper call's first word. */
const char *hd__tpl_tok_name(const struct hd__tpl_parser *p, const struct hd__tpl_tok *t,
                             size_t *n);
/* Length of the common prefix of src[a, a+alen) and src[b, b+blen). */
size_t hd__tpl_common(const char *s, uint32_t a, uint32_t alen, uint32_t b, uint32_t blen);

/* ---- values (template_render.c) ---- */

int hd__tpl_truthy(const struct hd__tpl_value *v);
/* Appends the value as text: numbers shortest round-trip, null/missing "". */
void hd__tpl_value_text(const struct hd__tpl_value *v, struct hd_buf *b);
/* Reads a number (JSON number, numeric string, bool); returns 0 on success. */
int hd__tpl_value_number(const struct hd__tpl_value *v, double *out);
/* Appends a double as the shortest text that reads back the same (1.21, not 1.2100000000000000). */
void hd__tpl_put_double(struct hd_buf *b, double d);
void hd__tpl_value_from_json(struct hd__tpl_value *v, json_t *j);

/* ---- helpers ---- */

struct hd__tpl_fmt_cache; /* template_format.c: ICU formatters kept per renderer */

/* Data variables of one {{#each}} iteration. */
struct hd__tpl_data {
    int64_t index;
    const char *key;
    size_t key_len;
    uint8_t first, last, has_key;
};

struct hd__tpl_hash {
    const char *key;
    size_t key_len;
    struct hd__tpl_value v;
};

struct hd__tpl_call {
    struct hd_tpl_renderer *r;
    const struct hd_tpl *tpl;
    const struct hd__tpl_prog *prog;
    const struct hd__tpl_node *node;
    size_t argc;
    const struct hd__tpl_value *argv;
    size_t nhash;
    const struct hd__tpl_hash *hash;
};

#define HD__H_BLOCK 1   /* may be used as {{#name …}} */
#define HD__H_INLINE 2  /* may be used as {{name …}} */
#define HD__H_LENIENT 4 /* a missing argument is not an error in strict mode */

struct hd__tpl_helper {
    const char *name;
    unsigned flags;
    uint8_t min_args, max_args; /* positional */
    int (*fn)(struct hd__tpl_call *c);
};

/* Registration tables: one per file, each ending with a {NULL} entry. */
extern const struct hd__tpl_helper hd__tpl_builtin_helpers[];
extern const struct hd__tpl_helper hd__tpl_format_helpers[];
extern const struct hd__tpl_helper hd__tpl_message_helpers[];
const struct hd__tpl_helper *hd__tpl_helper_find(const char *name, size_t len);

/* Renders the block's body with ctx pushed (NULL: same context) and data vars (may be NULL). */
int hd__tpl_call_body(struct hd__tpl_call *c, const struct hd__tpl_value *ctx,
                      const struct hd__tpl_data *data);
/* Renders the {{else}} part, if any. */
int hd__tpl_call_inverse(struct hd__tpl_call *c);
/* Writes text escaped as the tag asks ({{{ }}} raw, else the render's escaping). */
void hd__tpl_call_write(struct hd__tpl_call *c, const char *s, size_t n);
/* Writes a value's text, escaped as the tag asks. */
void hd__tpl_call_write_value(struct hd__tpl_call *c, const struct hd__tpl_value *v);
/* Records an error naming template, line, column and helper; returns HD_ERR_INVALID. */
int hd__tpl_call_error(struct hd__tpl_call *c, const char *fmt, ...) HD_PRINTF(2, 3);
/* The hash argument `key`, or NULL. */
const struct hd__tpl_value *hd__tpl_call_hash(const struct hd__tpl_call *c, const char *key);
const char *hd__tpl_call_locale(const struct hd__tpl_call *c);
const char *hd__tpl_call_timezone(const struct hd__tpl_call *c);
int64_t hd__tpl_call_now_ms(const struct hd__tpl_call *c);
/* Scratch buffer of the renderer, reset by the caller before use. */
struct hd_buf *hd__tpl_call_scratch(struct hd__tpl_call *c);
/* Two more buffers of the renderer for formatMessage (i = 0 or 1), apart from scratch. */
struct hd_buf *hd__tpl_call_msgbuf(struct hd__tpl_call *c, int i);
/* The renderer's formatter cache slot (template_format.c owns what it points to). */
struct hd__tpl_fmt_cache **hd__tpl_call_fmt_cache(struct hd__tpl_call *c);
void hd__tpl_fmt_cache_free(struct hd__tpl_fmt_cache *fc);

#endif
