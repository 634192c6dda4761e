/*
 * The state store of state/store.h on RocksDB: one database per store and
 * partition, three column families:
 *
 *   default   user key -> stored form: 8-byte big-endian expiry (0 = never) + payload
 *   expiry    8-byte big-endian expiry + user key -> "" (the TTL index, in expiry order)
 *   meta      "applied_offset" -> 8-byte big-endian changelog offset
 *
 * Writes are staged in a write batch with index (WBWI); reads go through the batch
 * to the database, so a task sees its own pending writes. hd_store_commit writes the
 * batch with the applied offset in the same WriteBatch, which RocksDB applies
 * atomically. The WAL is on and not synced per write: a write that returned is in
 * the OS page cache, so it survives kill -9 of the process; a power loss may drop the
 * newest commits, but never half of one (WAL recovery stops at the last whole batch),
 * and the data and the offset go back together, which a restore from that offset
 * repairs. So no fsync is needed for exactly-once against process crashes.
 *
 * The expiry index is kept exact: every write reads the key's previous stored value
 * (through the batch) and moves its index entry, so hd_store_expire walks only due
 * entries. Restore keeps the index the same way, through a second batch of its own.
 */
#include "state/store.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <rocksdb/c.h>

#include "core/bytes.h"
#include "core/hd.h"

enum { CF_DATA, CF_EXPIRY, CF_META, CF_COUNT };

static const char *const cf_names[CF_COUNT] = {"default", "expiry", "meta"};

#define APPLIED_KEY "applied_offset"
#define HDR_LEN 8 /* expiry header of a stored value, and prefix of an index key */

/* A restore writes its batch to RocksDB (without the offset) once it grows past this,
 * so restoring a large changelog between two restore_flush calls stays in bounded
 * memory. Safe: replaying a changelog from the older applied offset over state that is
 * already further on ends in the same state (each record sets its key verbatim). */
#define RESTORE_BATCH_BYTES ((size_t)32 << 20)

struct hd_store {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_readoptions_t *ro;
    rocksdb_writeoptions_t *wo;
    rocksdb_column_family_handle_t *cf[CF_COUNT];
    rocksdb_writebatch_wi_t *stage;   /* writes of the open Kafka transaction */
    rocksdb_writebatch_wi_t *restore; /* changelog records not yet written */
    size_t staged;
    int64_t applied;
    hd_store_change_cb *cb;
    void *opaque;
    struct hd_buf val;  /* stored form being written */
    struct hd_buf ikey; /* index key being written */
    int held_keys;      /* a key was there at open, or written since (hd_store_never_held) */
};

struct hd_store_iter {
    rocksdb_iterator_t *it;
    rocksdb_readoptions_t *ro;
    char *from; /* seek target */
    size_t from_len;
    char *to; /* exclusive end, NULL = none; also the base iterator's upper bound */
    size_t to_len;
    int64_t now_ms;
    int started;
    int done;
};

/* Turns a RocksDB error string into errstr and frees it. */
static int rerr(char *errstr, size_t errstr_size, const char *what, char *err)
{
    hd_seterr(HD_ERR, errstr, errstr_size, "rocksdb: %s: %s", what, err);
    rocksdb_free(err);
    return HD_ERR;
}

/* Byte-wise comparison, shorter first on a common prefix: RocksDB's default order. */
static int key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

/* ---- open / close / wipe ------------------------------------------------ */

/*
 * Options for a write-heavy, small-value workload with many stores per process:
 * modest memtables (a store per partition per processor adds up), bloom filters
 * because most reads are point lookups that miss (dedup), a bounded table cache, and
 * background threads sized for a small machine (they come from the shared default Env).
 */
static rocksdb_options_t *options_new(void)
{
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_options_set_create_missing_column_families(o, 1);
    rocksdb_options_increase_parallelism(o, 2);
    rocksdb_options_optimize_level_style_compaction(o, (uint64_t)32 << 20);
    rocksdb_options_set_max_write_buffer_number(o, 3);
    rocksdb_options_set_max_open_files(o, 256);
    rocksdb_options_set_keep_log_file_num(o, 2);
    rocksdb_options_set_max_log_file_size(o, (size_t)4 << 20);

    rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_filter_policy(t, rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_options_set_block_based_table_factory(o, t);
    rocksdb_block_based_options_destroy(t);
    return o;
}

static int read_applied(struct hd_store *s, const char *path, char *errstr, size_t errstr_size)
{
    char *err = NULL;
    size_t len = 0;
    char *v = rocksdb_get_cf(s->db, s->ro, s->cf[CF_META], APPLIED_KEY, strlen(APPLIED_KEY),
                             &len, &err);
    if (err)
        return rerr(errstr, errstr_size, "read applied offset", err);
    if (!v) {
        s->applied = -1;
        return 0;
    }
    int rc = 0;
    if (len != 8)
        rc = hd_seterr(HD_ERR, errstr, errstr_size,
                       "store: %s: applied offset is %zu bytes, want 8", path, len);
    else
        s->applied = (int64_t)hd_be64_get(v);
    rocksdb_free(v);
    return rc;
}

struct hd_store *hd_store_open(const char *path, char *errstr, size_t errstr_size)
{
    if (hd_mkdir_p(path, errstr, errstr_size) != 0)
        return NULL;

    struct hd_store *s = hd_calloc(1, sizeof(*s));
    s->opts = options_new();
    s->ro = rocksdb_readoptions_create();
    s->wo = rocksdb_writeoptions_create();
    s->applied = -1;

    const rocksdb_options_t *cf_opts[CF_COUNT];
    for (int i = 0; i < CF_COUNT; i++)
        cf_opts[i] = s->opts;
    char *e = NULL;
    s->db = rocksdb_open_column_families(s->opts, path, CF_COUNT, cf_names, cf_opts, s->cf, &e);
    if (e) {
        hd_seterr(HD_ERR, errstr, errstr_size, "rocksdb: open %s: %s", path, e);
        rocksdb_free(e);
        s->db = NULL; /* the handles are not set either when the open fails */
        memset(s->cf, 0, sizeof(s->cf));
        goto err;
    }
    if (read_applied(s, path, errstr, errstr_size) != 0)
        goto err;
    /* overwrite_keys: a key written twice in one batch has one entry, so reads and
     * iteration through the batch see the latest write only. */
    s->stage = rocksdb_writebatch_wi_create(0, 1);
    s->restore = rocksdb_writebatch_wi_create(0, 1);
    rocksdb_iterator_t *first = rocksdb_create_iterator_cf(s->db, s->ro, s->cf[CF_DATA]);
    rocksdb_iter_seek_to_first(first);
    s->held_keys = rocksdb_iter_valid(first);
    rocksdb_iter_destroy(first);
    return s;

err:
    hd_store_close(s);
    return NULL;
}

/* Flushes the memtables to SST files, so that the next open need not replay the WAL (on
 * a million keys that replay, not the restore, was most of a restart). Best effort: a
 * flush that fails leaves the WAL, which the next open replays as after a kill -9. */
static void flush_all(struct hd_store *s)
{
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    for (int i = 0; i < CF_COUNT; i++) {
        char *err = NULL;
        if (s->cf[i])
            rocksdb_flush_cf(s->db, fo, s->cf[i], &err);
        rocksdb_free(err);
    }
    rocksdb_flushoptions_destroy(fo);
}

void hd_store_close(struct hd_store *s)
{
    if (!s)
        return;
    if (s->db)
        flush_all(s);
    for (int i = 0; i < CF_COUNT; i++)
        if (s->cf[i])
            rocksdb_column_family_handle_destroy(s->cf[i]);
    if (s->db)
        rocksdb_close(s->db);
    if (s->stage)
        rocksdb_writebatch_wi_destroy(s->stage);
    if (s->restore)
        rocksdb_writebatch_wi_destroy(s->restore);
    rocksdb_readoptions_destroy(s->ro);
    rocksdb_writeoptions_destroy(s->wo);
    rocksdb_options_destroy(s->opts);
    hd_buf_free(&s->val);
    hd_buf_free(&s->ikey);
    hd_free(s);
}

static int wipe_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path) == 0 ? 0 : -1;
}

int hd_store_wipe(const char *path, char *errstr, size_t errstr_size)
{
    if (!path || !*path)
        return hd_seterr(HD_ERR, errstr, errstr_size, "store: empty path");
    struct stat st;
    if (lstat(path, &st) != 0 && errno == ENOENT)
        return 0;
    /* A corrupt store cannot be trusted to list its own files (rocksdb_destroy_db
     * reads them from the directory anyway), so remove the whole tree. */
    if (nftw(path, wipe_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return hd_seterr(HD_ERR, errstr, errstr_size, "store: wipe %s: %s", path,
                         strerror(errno));
    return 0;
}

void hd_store_set_change_cb(struct hd_store *s, hd_store_change_cb *cb, void *opaque)
{
    s->cb = cb;
    s->opaque = opaque;
}

/* ---- reads and writes through a batch ---------------------------------- */

/* Reads key's stored form through batch b and the database. Returns 1 with *v (free
 * with rocksdb_free), 0 when absent, -1 on error. A stored form shorter than its header
 * is an error: the store holds only what this module or a changelog restore wrote. */
static int read_stored(struct hd_store *s, rocksdb_writebatch_wi_t *b, const void *key,
                       size_t key_len, char **v, size_t *v_len, char *errstr, size_t errstr_size)
{
    char *err = NULL;
    *v = rocksdb_writebatch_wi_get_from_batch_and_db_cf(b, s->db, s->ro, s->cf[CF_DATA], key,
                                                         key_len, v_len, &err);
    if (err)
        return rerr(errstr, errstr_size, "get", err);
    if (!*v)
        return 0;
    if (*v_len < HDR_LEN) {
        rocksdb_free(*v);
        *v = NULL;
        return hd_seterr(HD_ERR, errstr, errstr_size,
                         "store: stored value of %zu bytes is shorter than its %d-byte header",
                         *v_len, HDR_LEN);
    }
    return 1;
}

static void index_key(struct hd_buf *b, uint64_t expiry, const void *key, size_t key_len)
{
    unsigned char hdr[HDR_LEN];
    hd_be64_put(hdr, expiry);
    hd_buf_reset(b);
    hd_buf_append(b, hdr, sizeof(hdr));
    hd_buf_append(b, key, key_len);
}

/* Writes key = stored (NULL = delete) into batch b and moves the key's expiry index
 * entry: the previous one goes, the new one (if any) comes. */
static int apply_write(struct hd_store *s, rocksdb_writebatch_wi_t *b, const void *key,
                       size_t key_len, const void *stored, size_t stored_len, char *errstr,
                       size_t errstr_size)
{
    if (stored)
        s->held_keys = 1;
    char *prev = NULL;
    size_t prev_len = 0;
    if (read_stored(s, b, key, key_len, &prev, &prev_len, errstr, errstr_size) < 0)
        return HD_ERR;
    uint64_t old_exp = prev ? hd_be64_get(prev) : 0;
    uint64_t new_exp = stored ? hd_be64_get(stored) : 0;
    rocksdb_free(prev);

    if (old_exp != 0 && old_exp != new_exp) {
        index_key(&s->ikey, old_exp, key, key_len);
        rocksdb_writebatch_wi_delete_cf(b, s->cf[CF_EXPIRY], s->ikey.data, s->ikey.len);
    }
    if (new_exp != 0) {
        index_key(&s->ikey, new_exp, key, key_len);
        rocksdb_writebatch_wi_put_cf(b, s->cf[CF_EXPIRY], s->ikey.data, s->ikey.len, "", 0);
    }
    if (stored)
        rocksdb_writebatch_wi_put_cf(b, s->cf[CF_DATA], key, key_len, stored, stored_len);
    else
        rocksdb_writebatch_wi_delete_cf(b, s->cf[CF_DATA], key, key_len);
    return 0;
}

static int is_expired(uint64_t expiry, int64_t now_ms)
{
    return expiry != 0 && now_ms >= 0 && expiry <= (uint64_t)now_ms;
}

int hd_store_get(struct hd_store *s, const void *key, size_t key_len, int64_t now_ms,
                 struct hd_buf *out, char *errstr, size_t errstr_size)
{
    char *v = NULL;
    size_t len = 0;
    int rc = read_stored(s, s->stage, key, key_len, &v, &len, errstr, errstr_size);
    if (rc <= 0)
        return rc;
    if (is_expired(hd_be64_get(v), now_ms)) {
        rc = 0;
    } else {
        hd_buf_reset(out);
        hd_buf_append(out, v + HDR_LEN, len - HDR_LEN);
    }
    rocksdb_free(v);
    return rc;
}

int hd_store_put(struct hd_store *s, const void *key, size_t key_len, const void *value,
                 size_t value_len, int64_t expires_at_ms, char *errstr, size_t errstr_size)
{
    if (expires_at_ms < 0)
        return hd_seterr(HD_ERR, errstr, errstr_size,
                         "store: expiry %lld is negative (0 means never)",
                         (long long)expires_at_ms);
    unsigned char hdr[HDR_LEN];
    hd_be64_put(hdr, (uint64_t)expires_at_ms);
    hd_buf_reset(&s->val);
    hd_buf_append(&s->val, hdr, sizeof(hdr));
    hd_buf_append(&s->val, value, value_len);
    if (apply_write(s, s->stage, key, key_len, s->val.data, s->val.len, errstr, errstr_size))
        return HD_ERR;
    s->staged++;
    if (s->cb)
        s->cb(s->opaque, s, key, key_len, s->val.data, s->val.len);
    return 0;
}

int hd_store_delete(struct hd_store *s, const void *key, size_t key_len, char *errstr,
                    size_t errstr_size)
{
    if (apply_write(s, s->stage, key, key_len, NULL, 0, errstr, errstr_size))
        return HD_ERR;
    s->staged++;
    if (s->cb)
        s->cb(s->opaque, s, key, key_len, NULL, 0);
    return 0;
}

/* ---- iteration --------------------------------------------------------- */

/* An iterator over cf that merges the stage over the database; to (may be NULL) bounds
 * the base iterator. The delta part is not bounded by it: callers check the end. */
static rocksdb_iterator_t *merged_iter(struct hd_store *s, int cf, rocksdb_readoptions_t *ro)
{
    rocksdb_iterator_t *base = rocksdb_create_iterator_cf(s->db, ro, s->cf[cf]);
    /* consumes base */
    return rocksdb_writebatch_wi_create_iterator_with_base_cf(s->stage, base, s->cf[cf]);
}

static struct hd_store_iter *iter_new(struct hd_store *s, const void *from, size_t from_len,
                                      const void *to, size_t to_len, int64_t now_ms)
{
    struct hd_store_iter *it = hd_calloc(1, sizeof(*it));
    it->from = hd_malloc(from_len ? from_len : 1);
    if (from_len)
        memcpy(it->from, from, from_len);
    it->from_len = from_len;
    it->ro = rocksdb_readoptions_create();
    if (to) {
        it->to = hd_malloc(to_len ? to_len : 1);
        if (to_len)
            memcpy(it->to, to, to_len);
        it->to_len = to_len;
        /* RocksDB keeps a pointer to the bound: it lives as long as the iterator */
        rocksdb_readoptions_set_iterate_upper_bound(it->ro, it->to, it->to_len);
    }
    it->now_ms = now_ms;
    it->it = merged_iter(s, CF_DATA, it->ro);
    return it;
}

struct hd_store_iter *hd_store_iter_prefix(struct hd_store *s, const void *prefix,
                                           size_t prefix_len, int64_t now_ms, char *errstr,
                                           size_t errstr_size)
{
    /* Keys starting with prefix are exactly [prefix, successor): the successor drops
     * trailing 0xff bytes and adds one to the last byte left; no such byte, no end. */
    const unsigned char *p = prefix;
    size_t n = prefix_len;
    while (n > 0 && p[n - 1] == 0xff)
        n--;
    if (n == 0)
        return iter_new(s, prefix, prefix_len, NULL, 0, now_ms);
    unsigned char *succ = hd_malloc(n);
    memcpy(succ, p, n);
    succ[n - 1]++;
    struct hd_store_iter *it = iter_new(s, prefix, prefix_len, succ, n, now_ms);
    hd_free(succ);
    return it;
}

struct hd_store_iter *hd_store_iter_range(struct hd_store *s, const void *from, size_t from_len,
                                          const void *to, size_t to_len, int64_t now_ms,
                                          char *errstr, size_t errstr_size)
{
    return iter_new(s, from, from_len, to, to_len, now_ms);
}

int hd_store_iter_next(struct hd_store_iter *it, const void **key, size_t *key_len,
                       const void **value, size_t *value_len)
{
    if (it->done)
        return 0;
    if (!it->started) {
        rocksdb_iter_seek(it->it, it->from, it->from_len);
        it->started = 1;
    } else {
        rocksdb_iter_next(it->it);
    }
    for (; rocksdb_iter_valid(it->it); rocksdb_iter_next(it->it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it->it, &kl);
        if (it->to && key_cmp(k, kl, it->to, it->to_len) >= 0)
            break;
        const char *v = rocksdb_iter_value(it->it, &vl);
        if (vl < HDR_LEN) {
            it->done = 1;
            return -1;
        }
        if (is_expired(hd_be64_get(v), it->now_ms))
            continue;
        *key = k;
        *key_len = kl;
        *value = v + HDR_LEN;
        *value_len = vl - HDR_LEN;
        return 1;
    }
    it->done = 1;
    char *err = NULL;
    rocksdb_iter_get_error(it->it, &err);
    if (err) {
        rocksdb_free(err);
        return -1;
    }
    return 0;
}

void hd_store_iter_destroy(struct hd_store_iter *it)
{
    if (!it)
        return;
    rocksdb_iter_destroy(it->it);
    rocksdb_readoptions_destroy(it->ro);
    hd_free(it->from);
    hd_free(it->to);
    hd_free(it);
}

/* ---- expiry ------------------------------------------------------------- */

struct due {
    char **keys; /* index keys (expiry header + user key) */
    size_t *lens;
    size_t n;
};

static void due_free(struct due *d)
{
    for (size_t i = 0; i < d->n; i++)
        hd_free(d->keys[i]);
    hd_free(d->keys);
    hd_free(d->lens);
    memset(d, 0, sizeof(*d));
}

/* Collects up to `want` index entries due at now_ms, in expiry order, through the stage.
 * They are copied out because writing to the stage invalidates the iterator. */
static int due_collect(struct hd_store *s, int64_t now_ms, size_t want, struct due *d,
                       char *errstr, size_t errstr_size)
{
    unsigned char end[HDR_LEN];
    hd_be64_put(end, (uint64_t)now_ms + 1);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)end, sizeof(end));
    rocksdb_iterator_t *it = merged_iter(s, CF_EXPIRY, ro);

    d->keys = hd_malloc(want * sizeof(*d->keys));
    d->lens = hd_malloc(want * sizeof(*d->lens));
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it) && d->n < want;
         rocksdb_iter_next(it)) {
        size_t kl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (key_cmp(k, kl, end, sizeof(end)) >= 0)
            break;
        d->keys[d->n] = hd_malloc(kl ? kl : 1);
        memcpy(d->keys[d->n], k, kl);
        d->lens[d->n++] = kl;
    }
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    if (err) {
        due_free(d);
        return rerr(errstr, errstr_size, "expiry index", err);
    }
    return 0;
}

/* Expires one due index entry: deletes its key (a tombstone for the changelog) when the
 * key still has that expiry, else drops the stale entry only. Returns 1, 0 or -1. */
static int expire_one(struct hd_store *s, const char *ikey, size_t ilen, char *errstr,
                      size_t errstr_size)
{
    if (ilen >= HDR_LEN) {
        char *v = NULL;
        size_t vl = 0;
        int rc = read_stored(s, s->stage, ikey + HDR_LEN, ilen - HDR_LEN, &v, &vl, errstr,
                             errstr_size);
        if (rc < 0)
            return HD_ERR;
        int current = rc == 1 && hd_be64_get(v) == hd_be64_get(ikey);
        rocksdb_free(v);
        if (current) {
            if (hd_store_delete(s, ikey + HDR_LEN, ilen - HDR_LEN, errstr, errstr_size))
                return HD_ERR;
            return 1;
        }
    }
    rocksdb_writebatch_wi_delete_cf(s->stage, s->cf[CF_EXPIRY], ikey, ilen);
    return 0;
}

int hd_store_expire(struct hd_store *s, int64_t now_ms, size_t max, char *errstr,
                    size_t errstr_size)
{
    if (now_ms <= 0)
        return 0;
    if (max > INT_MAX)
        max = INT_MAX;
    size_t done = 0;
    while (done < max) {
        /* Stale entries do not count towards max, so a round that met some goes on. */
        size_t want = max - done;
        struct due d = {0};
        if (due_collect(s, now_ms, want, &d, errstr, errstr_size) != 0)
            return HD_ERR;
        size_t got = d.n;
        for (size_t i = 0; i < d.n; i++) {
            int rc = expire_one(s, d.keys[i], d.lens[i], errstr, errstr_size);
            if (rc < 0) {
                due_free(&d);
                return HD_ERR;
            }
            done += (size_t)rc;
        }
        due_free(&d);
        if (got < want)
            break;
    }
    return (int)done;
}

/* ---- commit, abort, restore -------------------------------------------- */

/* Writes batch b with the applied offset in one atomic write. On failure the batch is
 * as it was before the call. */
static int write_with_offset(struct hd_store *s, rocksdb_writebatch_wi_t *b, int64_t offset,
                             char *errstr, size_t errstr_size)
{
    unsigned char off[8];
    hd_be64_put(off, (uint64_t)offset);
    rocksdb_writebatch_wi_set_save_point(b);
    rocksdb_writebatch_wi_put_cf(b, s->cf[CF_META], APPLIED_KEY, strlen(APPLIED_KEY),
                                 (const char *)off, sizeof(off));
    char *err = NULL;
    rocksdb_write_writebatch_wi(s->db, s->wo, b, &err);
    if (err) {
        char *err2 = NULL;
        rocksdb_writebatch_wi_rollback_to_save_point(b, &err2);
        rocksdb_free(err2);
        return rerr(errstr, errstr_size, "write", err);
    }
    rocksdb_writebatch_wi_clear(b);
    s->applied = offset;
    return 0;
}

int hd_store_commit(struct hd_store *s, int64_t changelog_next_offset, char *errstr,
                    size_t errstr_size)
{
    if (write_with_offset(s, s->stage, changelog_next_offset, errstr, errstr_size) != 0)
        return HD_ERR;
    s->staged = 0;
    return 0;
}

void hd_store_abort(struct hd_store *s)
{
    rocksdb_writebatch_wi_clear(s->stage);
    s->staged = 0;
}

size_t hd_store_staged(const struct hd_store *s)
{
    return s->staged;
}

int64_t hd_store_applied_offset(const struct hd_store *s)
{
    return s->applied;
}

int hd_store_restore_put(struct hd_store *s, const void *key, size_t key_len, const void *value,
                         size_t value_len, char *errstr, size_t errstr_size)
{
    if (s->staged)
        return hd_seterr(HD_ERR, errstr, errstr_size,
                         "store: restore with %zu writes staged", s->staged);
    if (value && value_len < HDR_LEN)
        return hd_seterr(HD_ERR, errstr, errstr_size,
                         "store: changelog value of %zu bytes is shorter than its %d-byte header",
                         value_len, HDR_LEN);
    if (apply_write(s, s->restore, key, key_len, value, value_len, errstr, errstr_size))
        return HD_ERR;

    size_t size = 0;
    rocksdb_writebatch_wi_data(s->restore, &size);
    if (size < RESTORE_BATCH_BYTES)
        return 0;
    char *err = NULL;
    rocksdb_write_writebatch_wi(s->db, s->wo, s->restore, &err);
    if (err)
        return rerr(errstr, errstr_size, "restore write", err);
    rocksdb_writebatch_wi_clear(s->restore);
    return 0;
}

int hd_store_restore_flush(struct hd_store *s, int64_t changelog_next_offset, char *errstr,
                           size_t errstr_size)
{
    return write_with_offset(s, s->restore, changelog_next_offset, errstr, errstr_size);
}

uint64_t hd_store_estimate_keys(struct hd_store *s)
{
    uint64_t n = 0;
    if (rocksdb_property_int_cf(s->db, s->cf[CF_DATA], "rocksdb.estimate-num-keys", &n) != 0)
        return 0;
    return n;
}

int hd_store_never_held(const struct hd_store *s)
{
    return !s->held_keys;
}
