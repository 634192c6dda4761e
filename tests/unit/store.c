/*
 * The RocksDB state store (state/store.c): staged writes seen by reads before a
 * commit, atomic commit of data with the changelog offset (also across a kill -9),
 * the change callback's changelog records, TTL with tombstones, prefix and range
 * iteration over staged + committed data with binary keys, restore from changelog
 * records, and recovery from a corrupt directory. Each test has its own directory
 * under /tmp.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "core/buf.h"
#include "core/hd.h"
#include "state/store.h"

#define NOW INT64_C(1700000000000)

static char dir[64];
static char path[160];
static char err[512];
static struct hd_store *s;

static struct hd_store *open_ok(void)
{
    struct hd_store *st = hd_store_open(path, err, sizeof(err));
    cr_assert_not_null(st, "open %s: %s", path, err);
    return st;
}

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/hd-store-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    /* two missing levels: open creates the parents */
    snprintf(path, sizeof(path), "%s/app/store-0", dir);
}

static void setup(void)
{
    make_dir();
    s = open_ok();
}

static void teardown(void)
{
    hd_store_close(s);
    s = NULL;
    cr_assert_eq(hd_store_wipe(dir, err, sizeof(err)), 0, "wipe: %s", err);
}

static void reopen(void)
{
    hd_store_close(s);
    s = open_ok();
}

static void put(const char *key, const char *value, int64_t expires)
{
    cr_assert_eq(hd_store_put(s, key, strlen(key), value, strlen(value), expires, err,
                              sizeof(err)),
                 0, "put %s: %s", key, err);
}

static void del(const char *key)
{
    cr_assert_eq(hd_store_delete(s, key, strlen(key), err, sizeof(err)), 0, "delete: %s", err);
}

static void commit(int64_t offset)
{
    cr_assert_eq(hd_store_commit(s, offset, err, sizeof(err)), 0, "commit: %s", err);
}

/* Returns the value of key at now as a new string (caller frees), or NULL when absent. */
static char *get_at(const char *key, int64_t now)
{
    struct hd_buf out = HD_BUF_INIT;
    int rc = hd_store_get(s, key, strlen(key), now, &out, err, sizeof(err));
    cr_assert_geq(rc, 0, "get %s: %s", key, err);
    if (rc == 0) {
        hd_buf_free(&out);
        return NULL;
    }
    hd_buf_putc(&out, '\0'); /* an empty value still gives a string */
    return hd_buf_steal(&out);
}

static void assert_value(const char *key, int64_t now, const char *want)
{
    char *got = get_at(key, now);
    if (!want)
        cr_assert_null(got, "%s: want absent, got \"%s\"", key, got ? got : "");
    else
        cr_assert(got && strcmp(got, want) == 0, "%s: want \"%s\", got %s%s%s", key, want,
                  got ? "\"" : "", got ? got : "absent", got ? "\"" : "");
    hd_free(got);
}

/* Collects an iteration as "key=value;" pairs (keys and values printable here). */
static char *drain(struct hd_store_iter *it)
{
    cr_assert_not_null(it, "iter: %s", err);
    struct hd_buf b = HD_BUF_INIT;
    const void *k, *v;
    size_t kl, vl;
    int rc;
    while ((rc = hd_store_iter_next(it, &k, &kl, &v, &vl)) == 1) {
        hd_buf_append(&b, k, kl);
        hd_buf_putc(&b, '=');
        hd_buf_append(&b, v, vl);
        hd_buf_putc(&b, ';');
    }
    cr_assert_eq(rc, 0, "iter_next failed");
    cr_assert_eq(hd_store_iter_next(it, &k, &kl, &v, &vl), 0, "iterator restarted after its end");
    hd_store_iter_destroy(it);
    hd_buf_putc(&b, '\0');
    return hd_buf_steal(&b);
}

static void assert_prefix(const char *prefix, int64_t now, const char *want)
{
    char *got = drain(hd_store_iter_prefix(s, prefix, strlen(prefix), now, err, sizeof(err)));
    cr_assert_str_eq(got, want, "prefix \"%s\"", prefix);
    hd_free(got);
}

/* ---- the change callback ------------------------------------------------ */

struct change {
    char key[32];
    size_t key_len;
    unsigned char value[64];
    size_t value_len;
    int tombstone;
};

struct changes {
    struct change c[64];
    size_t n;
};

static void record_change(void *opaque, struct hd_store *st, const void *key, size_t key_len,
                          const void *value, size_t value_len)
{
    struct changes *cs = opaque;
    cr_assert_eq(st, s);
    cr_assert_lt(cs->n, HD_ARRAY_SIZE(cs->c));
    cr_assert_leq(key_len, sizeof(cs->c[0].key));
    cr_assert_leq(value_len, sizeof(cs->c[0].value));
    struct change *c = &cs->c[cs->n++];
    memcpy(c->key, key, key_len);
    c->key_len = key_len;
    c->tombstone = value == NULL;
    if (value)
        memcpy(c->value, value, value_len);
    c->value_len = value_len;
}

/* Stored form: 8-byte big-endian expiry, then the payload. */
static size_t stored_form(unsigned char *out, int64_t expires, const char *payload)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (unsigned char)(expires & 0xff);
        expires >>= 8;
    }
    size_t n = strlen(payload);
    memcpy(out + 8, payload, n);
    return 8 + n;
}

static void assert_change(const struct change *c, const char *key, int64_t expires,
                          const char *payload)
{
    cr_assert_eq(c->key_len, strlen(key));
    cr_assert(memcmp(c->key, key, c->key_len) == 0, "change key %.*s, want %s",
              (int)c->key_len, c->key, key);
    if (!payload) {
        cr_assert(c->tombstone, "%s: want a tombstone", key);
        cr_assert_eq(c->value_len, 0);
        return;
    }
    unsigned char want[64];
    size_t n = stored_form(want, expires, payload);
    cr_assert_not(c->tombstone, "%s: unexpected tombstone", key);
    cr_assert_eq(c->value_len, n, "%s: value is %zu bytes, want %zu", key, c->value_len, n);
    cr_assert(memcmp(c->value, want, n) == 0, "%s: stored form differs", key);
}

/* ---- staging, commit, abort --------------------------------------------- */

Test(store, fresh_store_has_no_applied_offset, .init = setup, .fini = teardown)
{
    cr_assert_eq(hd_store_applied_offset(s), -1);
    cr_assert_eq(hd_store_staged(s), 0);
    assert_value("a", NOW, NULL);
}

Test(store, staged_writes_are_visible_before_commit_and_gone_after_abort, .init = setup,
     .fini = teardown)
{
    put("a", "1", 0);
    put("b", "2", 0);
    put("a", "3", 0);
    del("b");
    cr_assert_eq(hd_store_staged(s), 4);
    assert_value("a", NOW, "3");
    assert_value("b", NOW, NULL);

    hd_store_abort(s);
    cr_assert_eq(hd_store_staged(s), 0);
    assert_value("a", NOW, NULL);
    assert_value("b", NOW, NULL);
    reopen();
    assert_value("a", NOW, NULL);
    cr_assert_eq(hd_store_applied_offset(s), -1);
}

Test(store, committed_writes_and_offset_survive_reopen, .init = setup, .fini = teardown)
{
    put("a", "1", 0);
    put("empty", "", 0);
    commit(42);
    cr_assert_eq(hd_store_staged(s), 0);
    cr_assert_eq(hd_store_applied_offset(s), 42);

    put("b", "2", 0);
    del("a");
    assert_value("a", NOW, NULL); /* a staged delete hides a committed key */
    commit(57);
    reopen();
    cr_assert_eq(hd_store_applied_offset(s), 57);
    assert_value("a", NOW, NULL);
    assert_value("b", NOW, "2");
    assert_value("empty", NOW, "");
}

Test(store, abort_keeps_the_committed_state_under_staged_writes, .init = setup,
     .fini = teardown)
{
    put("a", "committed", 0);
    commit(1);
    put("a", "staged", 0);
    del("a");
    put("b", "staged", 0);
    hd_store_abort(s);
    assert_value("a", NOW, "committed");
    assert_value("b", NOW, NULL);
    cr_assert_eq(hd_store_applied_offset(s), 1);
}

Test(store, an_empty_commit_still_records_the_offset, .init = setup, .fini = teardown)
{
    commit(7);
    reopen();
    cr_assert_eq(hd_store_applied_offset(s), 7);
}

Test(store, writes_that_are_not_committed_are_lost_with_their_offset, .init = setup,
     .fini = teardown)
{
    put("a", "1", 0);
    commit(10);
    put("a", "2", 0);
    put("b", "2", 0);
    reopen(); /* closing drops the stage: neither the data nor an offset moved */
    cr_assert_eq(hd_store_applied_offset(s), 10);
    assert_value("a", NOW, "1");
    assert_value("b", NOW, NULL);
}

/* A child process commits one batch, stages another and is killed with SIGKILL (no
 * close, no exit handlers); the parent then sees exactly the committed batch and its
 * offset. The store is opened only in the child, so the parent holds no RocksDB state
 * across fork. */
Test(store, kill_9_keeps_committed_data_and_offset_together, .init = make_dir,
     .fini = teardown)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct hd_store *c = hd_store_open(path, err, sizeof(err));
        if (!c)
            _exit(2);
        char key[16];
        for (int i = 0; i < 1000; i++) {
            snprintf(key, sizeof(key), "k%04d", i);
            if (hd_store_put(c, key, strlen(key), "v1", 2, 0, err, sizeof(err)) != 0)
                _exit(3);
        }
        if (hd_store_commit(c, 1000, err, sizeof(err)) != 0)
            _exit(4);
        for (int i = 0; i < 1000; i++) {
            snprintf(key, sizeof(key), "k%04d", i);
            if (hd_store_put(c, key, strlen(key), "v2", 2, 0, err, sizeof(err)) != 0)
                _exit(5);
        }
        raise(SIGKILL);
        _exit(6);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %d", status);

    s = open_ok();
    cr_assert_eq(hd_store_applied_offset(s), 1000);
    char key[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "k%04d", i);
        assert_value(key, NOW, "v1");
    }
}

Test(store, change_callback_gets_each_staged_write_in_stored_form, .init = setup,
     .fini = teardown)
{
    struct changes cs = {0};
    hd_store_set_change_cb(s, record_change, &cs);
    put("a", "one", 0);
    put("b", "two", NOW + 5000);
    del("a");
    put("b", "three", 0);
    del("never-written");
    cr_assert_eq(cs.n, 5);
    assert_change(&cs.c[0], "a", 0, "one");
    assert_change(&cs.c[1], "b", NOW + 5000, "two");
    assert_change(&cs.c[2], "a", 0, NULL);
    assert_change(&cs.c[3], "b", 0, "three");
    assert_change(&cs.c[4], "never-written", 0, NULL);

    /* commit and abort report nothing */
    commit(5);
    hd_store_abort(s);
    cr_assert_eq(cs.n, 5);
}

Test(store, negative_expiry_is_refused, .init = setup, .fini = teardown)
{
    cr_assert_eq(hd_store_put(s, "a", 1, "v", 1, -5, err, sizeof(err)), -1);
    cr_assert_neq(err[0], '\0');
    cr_assert_eq(hd_store_staged(s), 0);
}

/* ---- TTL ------------------------------------------------------------------ */

Test(store, expired_entries_are_absent_to_get_and_iteration, .init = setup, .fini = teardown)
{
    put("k/a", "a", NOW + 100);
    put("k/b", "b", 0);
    commit(1);
    put("k/c", "c", NOW + 50); /* staged */

    assert_value("k/a", NOW, "a");
    assert_value("k/a", NOW + 99, "a");
    assert_value("k/a", NOW + 100, NULL); /* due at its expiry */
    assert_value("k/c", NOW + 49, "c");
    assert_value("k/c", NOW + 50, NULL);
    assert_value("k/b", INT64_MAX, "b");

    assert_prefix("k/", NOW, "k/a=a;k/b=b;k/c=c;");
    assert_prefix("k/", NOW + 60, "k/a=a;k/b=b;");
    assert_prefix("k/", NOW + 100, "k/b=b;");
}

Test(store, expire_stages_tombstones_for_due_entries_only, .init = setup, .fini = teardown)
{
    struct changes cs = {0};
    put("committed-due", "x", NOW - 10);
    put("committed-later", "x", NOW + 10);
    put("forever", "x", 0);
    commit(3);
    put("staged-due", "x", NOW);
    put("staged-later", "x", NOW + 1);
    hd_store_set_change_cb(s, record_change, &cs);

    int n = hd_store_expire(s, NOW, 100, err, sizeof(err));
    cr_assert_eq(n, 2, "expire: %d %s", n, err);
    cr_assert_eq(cs.n, 2);
    /* in expiry order */
    assert_change(&cs.c[0], "committed-due", 0, NULL);
    assert_change(&cs.c[1], "staged-due", 0, NULL);
    cr_assert_eq(hd_store_staged(s), 4);

    /* the deletes are staged: the entries are gone even to a reader of the past */
    assert_value("committed-due", NOW - 20, NULL);
    assert_value("committed-later", NOW, "x");
    assert_value("staged-later", NOW, "x");
    assert_value("forever", NOW, "x");

    /* nothing left that is due */
    cr_assert_eq(hd_store_expire(s, NOW, 100, err, sizeof(err)), 0);
    cr_assert_eq(cs.n, 2);
}

Test(store, expire_respects_max, .init = setup, .fini = teardown)
{
    char key[16];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        put(key, "v", NOW - 100 + i);
    }
    commit(1);
    struct changes cs = {0};
    hd_store_set_change_cb(s, record_change, &cs);
    cr_assert_eq(hd_store_expire(s, NOW, 4, err, sizeof(err)), 4);
    cr_assert_eq(cs.n, 4);
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof(key), "k%d", i); /* earliest expiry first */
        assert_change(&cs.c[i], key, 0, NULL);
    }
    cr_assert_eq(hd_store_expire(s, NOW, 4, err, sizeof(err)), 4);
    cr_assert_eq(hd_store_expire(s, NOW, 4, err, sizeof(err)), 2);
    cr_assert_eq(hd_store_expire(s, NOW, 4, err, sizeof(err)), 0);
    cr_assert_eq(cs.n, 10);
    cr_assert_eq(hd_store_expire(s, NOW, 0, err, sizeof(err)), 0);
}

Test(store, expire_skips_entries_overwritten_or_deleted_since, .init = setup, .fini = teardown)
{
    put("later", "old", NOW - 10);
    put("forever", "old", NOW - 10);
    put("deleted", "old", NOW - 10);
    put("due", "old", NOW - 10);
    commit(1);
    put("later", "new", NOW + 1000);
    put("forever", "new", 0);
    del("deleted");
    commit(2);

    struct changes cs = {0};
    hd_store_set_change_cb(s, record_change, &cs);
    cr_assert_eq(hd_store_expire(s, NOW, 100, err, sizeof(err)), 1);
    cr_assert_eq(cs.n, 1);
    assert_change(&cs.c[0], "due", 0, NULL);
    assert_value("later", NOW, "new");
    assert_value("forever", NOW, "new");

    /* the later expiry is the one that counts */
    commit(3);
    cr_assert_eq(hd_store_expire(s, NOW + 999, 100, err, sizeof(err)), 0);
    cr_assert_eq(hd_store_expire(s, NOW + 1000, 100, err, sizeof(err)), 1);
    assert_change(&cs.c[1], "later", 0, NULL);
    cr_assert_eq(hd_store_expire(s, INT64_MAX, 100, err, sizeof(err)), 0);
    cr_assert_eq(cs.n, 2);
}

Test(store, staged_overwrite_hides_a_due_entry_from_expire, .init = setup, .fini = teardown)
{
    put("a", "old", NOW - 10);
    commit(1);
    put("a", "new", NOW + 10); /* staged, not committed */
    cr_assert_eq(hd_store_expire(s, NOW, 100, err, sizeof(err)), 0);
    assert_value("a", NOW, "new");
    /* after an abort the committed, due entry is back and expires */
    hd_store_abort(s);
    cr_assert_eq(hd_store_expire(s, NOW, 100, err, sizeof(err)), 1);
    assert_value("a", NOW - 20, NULL);
}

Test(store, expired_entries_stay_gone_after_commit_and_reopen, .init = setup, .fini = teardown)
{
    put("a", "x", NOW - 1);
    put("b", "x", NOW + 1000);
    commit(1);
    cr_assert_eq(hd_store_expire(s, NOW, 100, err, sizeof(err)), 1);
    commit(2);
    reopen();
    cr_assert_eq(hd_store_applied_offset(s), 2);
    assert_value("a", 0, NULL); /* gone, not merely expired */
    assert_value("b", NOW, "x");
    cr_assert_eq(hd_store_expire(s, NOW, 100, err, sizeof(err)), 0);
    cr_assert_eq(hd_store_expire(s, NOW + 1000, 100, err, sizeof(err)), 1);
}

/* The expiry index seen from below, with RocksDB itself on the closed store: the test
 * knows the layout (column family "expiry", key = 8-byte big-endian expiry + user key)
 * so it can check the index is exact and plant stale entries. */
struct raw {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_column_family_handle_t *cf[3];
};

static void raw_open(struct raw *r)
{
    static const char *const names[3] = {"default", "expiry", "meta"};
    r->opts = rocksdb_options_create();
    const rocksdb_options_t *cfo[3] = {r->opts, r->opts, r->opts};
    char *e = NULL;
    r->db = rocksdb_open_column_families(r->opts, path, 3, names, cfo, r->cf, &e);
    cr_assert_null(e, "raw open: %s", e);
}

static void raw_close(struct raw *r)
{
    for (int i = 0; i < 3; i++)
        rocksdb_column_family_handle_destroy(r->cf[i]);
    rocksdb_close(r->db);
    rocksdb_options_destroy(r->opts);
}

static size_t index_key(unsigned char *out, int64_t expires, const char *key)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (unsigned char)(expires & 0xff);
        expires >>= 8;
    }
    memcpy(out + 8, key, strlen(key));
    return 8 + strlen(key);
}

/* Returns the index keys as "expiry-offset-from-NOW:key;" pairs; caller frees. */
static char *raw_index(struct raw *r)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(r->db, ro, r->cf[1]);
    struct hd_buf b = HD_BUF_INIT;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl;
        const unsigned char *k = (const unsigned char *)rocksdb_iter_key(it, &kl);
        cr_assert_gt(kl, 8);
        int64_t exp = 0;
        for (int i = 0; i < 8; i++)
            exp = (int64_t)(((uint64_t)exp << 8) | k[i]);
        hd_buf_printf(&b, "%lld:%.*s;", (long long)(exp - NOW), (int)(kl - 8), k + 8);
    }
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    hd_buf_putc(&b, '\0');
    return hd_buf_steal(&b);
}

static void assert_index(const char *want)
{
    hd_store_close(s);
    s = NULL;
    struct raw r;
    raw_open(&r);
    char *got = raw_index(&r);
    raw_close(&r);
    cr_assert_str_eq(got, want);
    hd_free(got);
    s = open_ok();
}

Test(store, expiry_index_holds_one_entry_per_key_with_an_expiry, .init = setup,
     .fini = teardown)
{
    put("a", "x", NOW + 10);
    put("b", "x", NOW + 20);
    put("c", "x", NOW + 30);
    commit(1);
    assert_index("10:a;20:b;30:c;");
    put("a", "y", NOW + 40); /* moved */
    put("b", "y", 0);        /* no longer expires */
    del("c");                /* gone */
    put("d", "y", NOW + 5);
    put("d", "z", NOW + 6);  /* moved twice inside one stage */
    put("e", "y", NOW + 7);
    del("e");                /* staged and deleted */
    commit(2);
    assert_index("6:d;40:a;");
}

Test(store, expire_drops_stale_index_entries_without_tombstones, .init = setup,
     .fini = teardown)
{
    put("a", "x", NOW + 100);
    put("real", "x", NOW - 1);
    commit(1);
    hd_store_close(s);
    s = NULL;
    struct raw r;
    raw_open(&r);
    unsigned char k[64];
    char *e = NULL;
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    size_t n = index_key(k, NOW - 5, "a"); /* a's expiry is NOW + 100, not this */
    rocksdb_put_cf(r.db, wo, r.cf[1], (const char *)k, n, "", 0, &e);
    cr_assert_null(e);
    n = index_key(k, NOW - 4, "ghost"); /* no such key */
    rocksdb_put_cf(r.db, wo, r.cf[1], (const char *)k, n, "", 0, &e);
    cr_assert_null(e);
    rocksdb_writeoptions_destroy(wo);
    raw_close(&r);
    s = open_ok();

    struct changes cs = {0};
    hd_store_set_change_cb(s, record_change, &cs);
    /* the stale entries come first and do not count towards max */
    cr_assert_eq(hd_store_expire(s, NOW, 1, err, sizeof(err)), 1);
    cr_assert_eq(cs.n, 1);
    assert_change(&cs.c[0], "real", 0, NULL);
    assert_value("a", NOW, "x");
    commit(2);
    assert_index("100:a;");
}

/* ---- iteration ----------------------------------------------------------- */

Test(store, prefix_iteration_merges_staged_and_committed_in_key_order, .init = setup,
     .fini = teardown)
{
    put("user/2", "c2", 0);
    put("user/4", "c4", 0);
    put("user/6", "c6", 0);
    put("usez", "out", 0);
    put("use", "out", 0);
    commit(1);
    put("user/1", "s1", 0);
    put("user/4", "s4", 0); /* staged overwrite of a committed key */
    put("user/5", "s5", 0);
    del("user/6");          /* staged delete hides a committed key */
    put("user/7", "s7", 0);
    del("user/7");          /* staged put then delete */

    assert_prefix("user/", NOW, "user/1=s1;user/2=c2;user/4=s4;user/5=s5;");
    assert_prefix("user/4", NOW, "user/4=s4;");
    assert_prefix("nobody", NOW, "");
    assert_prefix("", NOW, "use=out;user/1=s1;user/2=c2;user/4=s4;user/5=s5;usez=out;");

    commit(2);
    assert_prefix("user/", NOW, "user/1=s1;user/2=c2;user/4=s4;user/5=s5;");
    reopen();
    assert_prefix("user/", NOW, "user/1=s1;user/2=c2;user/4=s4;user/5=s5;");
}

Test(store, range_iteration_is_half_open_over_staged_and_committed, .init = setup,
     .fini = teardown)
{
    put("a", "1", 0);
    put("c", "3", 0);
    put("e", "5", 0);
    commit(1);
    put("b", "2", 0);
    put("d", "4", 0);
    put("f", "6", 0); /* staged, past the end: the bound must hold for staged keys too */
    del("c");

    char *got = drain(hd_store_iter_range(s, "b", 1, "e", 1, NOW, err, sizeof(err)));
    cr_assert_str_eq(got, "b=2;d=4;");
    hd_free(got);
    got = drain(hd_store_iter_range(s, "b", 1, NULL, 0, NOW, err, sizeof(err)));
    cr_assert_str_eq(got, "b=2;d=4;e=5;f=6;");
    hd_free(got);
    got = drain(hd_store_iter_range(s, "", 0, "b", 1, NOW, err, sizeof(err)));
    cr_assert_str_eq(got, "a=1;");
    hd_free(got);
    got = drain(hd_store_iter_range(s, "e", 1, "b", 1, NOW, err, sizeof(err)));
    cr_assert_str_eq(got, "");
    hd_free(got);
}

/* Keys as byte strings: NULs inside, 0xff bytes (the prefix end has no successor), and a
 * key that is a prefix of another sorts first. */
Test(store, iteration_handles_binary_keys, .init = setup, .fini = teardown)
{
    static const struct {
        const char *k;
        size_t n;
    } keys[] = {
        {"t\0", 2},     {"t\0\0", 3},         {"t\0\x01", 3}, {"t\x01", 2},
        {"t\xff", 2},   {"t\xff\xff\0", 4},   {"u", 1},       {"\xff\xff", 2},
        {"\xff\xff\xff", 3},
    };
    for (size_t i = 0; i < HD_ARRAY_SIZE(keys); i++) {
        char v[2] = {(char)('0' + i), 0};
        cr_assert_eq(hd_store_put(s, keys[i].k, keys[i].n, v, 1, 0, err, sizeof(err)), 0);
        if (i % 2)
            commit((int64_t)i);
    }
    /* prefix "t\0": the three keys starting with t NUL, in byte order */
    struct hd_store_iter *it = hd_store_iter_prefix(s, "t\0", 2, NOW, err, sizeof(err));
    cr_assert_not_null(it);
    const void *k, *v;
    size_t kl, vl;
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(hd_store_iter_next(it, &k, &kl, &v, &vl), 1);
        cr_assert_eq(kl, keys[i].n);
        cr_assert(memcmp(k, keys[i].k, kl) == 0, "key %zu out of order", i);
        cr_assert_eq(vl, 1);
        cr_assert_eq(*(const char *)v, (char)('0' + i));
    }
    cr_assert_eq(hd_store_iter_next(it, &k, &kl, &v, &vl), 0);
    hd_store_iter_destroy(it);

    /* prefix "t\xff": no successor byte to bump past, and "u" must stay out */
    it = hd_store_iter_prefix(s, "t\xff", 2, NOW, err, sizeof(err));
    size_t n = 0;
    while (hd_store_iter_next(it, &k, &kl, &v, &vl) == 1) {
        cr_assert(kl >= 2 && memcmp(k, "t\xff", 2) == 0);
        n++;
    }
    cr_assert_eq(n, 2);
    hd_store_iter_destroy(it);

    /* prefix of only 0xff bytes: iterates to the end */
    it = hd_store_iter_prefix(s, "\xff\xff", 2, NOW, err, sizeof(err));
    n = 0;
    while (hd_store_iter_next(it, &k, &kl, &v, &vl) == 1)
        n++;
    cr_assert_eq(n, 2);
    hd_store_iter_destroy(it);

    /* a range ending at a key with a NUL inside */
    it = hd_store_iter_range(s, "t", 1, "t\0\x01", 3, NOW, err, sizeof(err));
    n = 0;
    while (hd_store_iter_next(it, &k, &kl, &v, &vl) == 1)
        n++;
    cr_assert_eq(n, 2); /* "t\0" and "t\0\0" */
    hd_store_iter_destroy(it);

    /* get with NULs: "t\0" and "t\0\0" are different keys */
    struct hd_buf out = HD_BUF_INIT;
    cr_assert_eq(hd_store_get(s, "t\0\0", 3, NOW, &out, err, sizeof(err)), 1);
    cr_assert_eq(out.len, 1);
    cr_assert_eq(out.data[0], '1');
    cr_assert_eq(hd_store_get(s, "t\0\0\0", 4, NOW, &out, err, sizeof(err)), 0);
    hd_buf_free(&out);
}

/* ---- restore ------------------------------------------------------------- */

Test(store, restore_applies_changelog_records_and_offset, .init = setup, .fini = teardown)
{
    struct changes cs = {0};
    hd_store_set_change_cb(s, record_change, &cs);
    unsigned char v[64];
    size_t n;
    n = stored_form(v, 0, "alpha");
    cr_assert_eq(hd_store_restore_put(s, "a", 1, v, n, err, sizeof(err)), 0, "%s", err);
    n = stored_form(v, NOW + 500, "beta");
    cr_assert_eq(hd_store_restore_put(s, "b", 1, v, n, err, sizeof(err)), 0);
    n = stored_form(v, 0, "gamma");
    cr_assert_eq(hd_store_restore_put(s, "c", 1, v, n, err, sizeof(err)), 0);
    cr_assert_eq(hd_store_restore_put(s, "c", 1, NULL, 0, err, sizeof(err)), 0); /* tombstone */
    n = stored_form(v, 0, "");
    cr_assert_eq(hd_store_restore_put(s, "e", 1, v, n, err, sizeof(err)), 0);
    cr_assert_eq(hd_store_restore_flush(s, 120, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(cs.n, 0, "restore must not report changes");
    cr_assert_eq(hd_store_staged(s), 0);
    cr_assert_eq(hd_store_applied_offset(s), 120);

    reopen();
    cr_assert_eq(hd_store_applied_offset(s), 120);
    assert_value("a", NOW, "alpha");
    assert_value("b", NOW, "beta");
    assert_value("b", NOW + 500, NULL); /* the restored entry kept its expiry */
    assert_value("c", NOW, NULL);
    assert_value("e", NOW, "");

    /* and its index entry: expire finds it and reports the tombstone */
    hd_store_set_change_cb(s, record_change, &cs);
    cr_assert_eq(hd_store_expire(s, NOW + 500, 100, err, sizeof(err)), 1);
    cr_assert_eq(cs.n, 1);
    assert_change(&cs.c[0], "b", 0, NULL);
}

Test(store, changelog_records_round_trip_through_restore, .init = setup, .fini = teardown)
{
    /* what the callback produced is what restore takes back */
    struct changes cs = {0};
    hd_store_set_change_cb(s, record_change, &cs);
    put("x", "1", NOW + 100);
    put("y", "2", 0);
    del("x");
    put("z", "3", NOW + 200);
    hd_store_abort(s);

    for (size_t i = 0; i < cs.n; i++)
        cr_assert_eq(hd_store_restore_put(s, cs.c[i].key, cs.c[i].key_len,
                                          cs.c[i].tombstone ? NULL : cs.c[i].value,
                                          cs.c[i].value_len, err, sizeof(err)),
                     0, "%s", err);
    cr_assert_eq(hd_store_restore_flush(s, 4, err, sizeof(err)), 0);
    assert_value("x", NOW, NULL);
    assert_value("y", NOW, "2");
    assert_value("z", NOW + 199, "3");
    assert_value("z", NOW + 200, NULL);
}

Test(store, restore_refuses_a_value_shorter_than_its_header, .init = setup, .fini = teardown)
{
    cr_assert_eq(hd_store_restore_put(s, "a", 1, "short", 5, err, sizeof(err)), -1);
    cr_assert_neq(err[0], '\0');
}

Test(store, unflushed_restore_is_lost_with_its_offset, .init = setup, .fini = teardown)
{
    unsigned char v[64];
    size_t n = stored_form(v, 0, "alpha");
    cr_assert_eq(hd_store_restore_put(s, "a", 1, v, n, err, sizeof(err)), 0);
    reopen();
    assert_value("a", NOW, NULL);
    cr_assert_eq(hd_store_applied_offset(s), -1);
}

Test(store, restore_is_refused_while_writes_are_staged, .init = setup, .fini = teardown)
{
    unsigned char v[64];
    size_t n = stored_form(v, 0, "alpha");
    put("b", "staged", 0);
    cr_assert_eq(hd_store_restore_put(s, "a", 1, v, n, err, sizeof(err)), -1);
    hd_store_abort(s);
    cr_assert_eq(hd_store_restore_put(s, "a", 1, v, n, err, sizeof(err)), 0, "%s", err);
}

/* More than the restore batch holds in memory (32 MiB) between two flushes: the store
 * writes part of it early, and after the flush everything is there with the offset. */
Test(store, a_large_restore_between_flushes_arrives_whole, .init = setup, .fini = teardown,
     .timeout = 120)
{
    enum { RECORDS = 40000, PAYLOAD = 1000 };
    unsigned char *v = hd_malloc(8 + PAYLOAD);
    memset(v, 0, 8);
    memset(v + 8, 'p', PAYLOAD);
    char key[32];
    for (int i = 0; i < RECORDS; i++) {
        int kn = snprintf(key, sizeof(key), "r/%06d", i);
        cr_assert_eq(hd_store_restore_put(s, key, (size_t)kn, v, 8 + PAYLOAD, err, sizeof(err)),
                     0, "%s", err);
    }
    hd_free(v);
    /* written early (reads do not see the restore batch itself), offset not moved */
    struct hd_buf out = HD_BUF_INIT;
    cr_assert_eq(hd_store_get(s, "r/000000", 8, NOW, &out, err, sizeof(err)), 1);
    cr_assert_eq(hd_store_get(s, "r/039999", 8, NOW, &out, err, sizeof(err)), 0);
    hd_buf_free(&out);
    cr_assert_eq(hd_store_applied_offset(s), -1);
    cr_assert_eq(hd_store_restore_flush(s, RECORDS, err, sizeof(err)), 0, "%s", err);
    reopen();
    cr_assert_eq(hd_store_applied_offset(s), RECORDS);
    struct hd_store_iter *it = hd_store_iter_prefix(s, "r/", 2, NOW, err, sizeof(err));
    cr_assert_not_null(it);
    const void *k, *val;
    size_t kl, vl;
    int n = 0;
    while (hd_store_iter_next(it, &k, &kl, &val, &vl) == 1) {
        cr_assert_eq(vl, PAYLOAD);
        n++;
    }
    hd_store_iter_destroy(it);
    cr_assert_eq(n, RECORDS);
}

/* ---- corruption -------------------------------------------------------- */

static void overwrite(const char *file, size_t size)
{
    FILE *f = fopen(file, "wb");
    cr_assert_not_null(f, "%s", file);
    for (size_t i = 0; i < size; i++)
        fputc((int)(i * 131 % 251) + 1, f); /* garbage with no zero bytes */
    cr_assert_eq(fclose(f), 0);
}

static void assert_open_fails_then_wipe_recovers(void)
{
    err[0] = '\0';
    struct hd_store *bad = hd_store_open(path, err, sizeof(err));
    cr_assert_null(bad, "a corrupt store opened");
    cr_assert(strncmp(err, "rocksdb: ", 9) == 0, "error text: %s", err);

    cr_assert_eq(hd_store_wipe(path, err, sizeof(err)), 0, "wipe: %s", err);
    cr_assert_eq(access(path, F_OK), -1, "wipe left the directory");
    s = open_ok();
    cr_assert_eq(hd_store_applied_offset(s), -1);
    assert_value("a", NOW, NULL);
    put("a", "again", 0);
    commit(1);
    assert_value("a", NOW, "again");
}

Test(store, corrupt_current_file_is_an_error_and_wipe_recovers, .init = setup,
     .fini = teardown)
{
    put("a", "1", 0);
    commit(9);
    hd_store_close(s);
    s = NULL;
    char file[256];
    snprintf(file, sizeof(file), "%s/CURRENT", path);
    overwrite(file, 40);
    assert_open_fails_then_wipe_recovers();
}

Test(store, corrupt_manifest_is_an_error_and_wipe_recovers, .init = setup, .fini = teardown)
{
    put("a", "1", 0);
    commit(9);
    hd_store_close(s);
    s = NULL;
    DIR *d = opendir(path);
    cr_assert_not_null(d);
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "MANIFEST-", 9) != 0)
            continue;
        char file[512];
        snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
        overwrite(file, 4096);
        found++;
    }
    closedir(d);
    cr_assert_gt(found, 0, "no MANIFEST in %s", path);
    assert_open_fails_then_wipe_recovers();
}

Test(store, wipe_of_a_missing_directory_succeeds, .init = make_dir, .fini = teardown)
{
    cr_assert_eq(hd_store_wipe(path, err, sizeof(err)), 0, "%s", err);
}

/* ---- volume ------------------------------------------------------------- */

Test(store, many_keys_committed_in_batches_survive_reopen, .init = setup, .fini = teardown,
     .timeout = 120)
{
    enum { KEYS = 100000, BATCH = 5000 };
    char key[32], val[32];
    for (int i = 0; i < KEYS; i++) {
        int kn = snprintf(key, sizeof(key), "key/%08d", i);
        int vn = snprintf(val, sizeof(val), "value-%d", i);
        int64_t exp = i % 10 == 0 ? NOW + i : 0; /* some with an expiry, for the index */
        cr_assert_eq(hd_store_put(s, key, (size_t)kn, val, (size_t)vn, exp, err, sizeof(err)),
                     0);
        if ((i + 1) % BATCH == 0)
            commit(i + 1);
    }
    reopen();
    cr_assert_eq(hd_store_applied_offset(s), KEYS);
    cr_assert_gt(hd_store_estimate_keys(s), 0);

    /* key 0 expires at NOW exactly: iterate just before */
    struct hd_store_iter *it = hd_store_iter_prefix(s, "key/", 4, NOW - 1, err, sizeof(err));
    cr_assert_not_null(it);
    const void *k, *v;
    size_t kl, vl;
    int n = 0, rc;
    while ((rc = hd_store_iter_next(it, &k, &kl, &v, &vl)) == 1) {
        snprintf(key, sizeof(key), "key/%08d", n);
        cr_assert(kl == strlen(key) && memcmp(k, key, kl) == 0, "key %d out of order", n);
        n++;
    }
    cr_assert_eq(rc, 0);
    hd_store_iter_destroy(it);
    cr_assert_eq(n, KEYS);

    /* at NOW + 50000 the entries i % 10 == 0 with i <= 50000 have expired: 5001 */
    cr_assert_eq(hd_store_expire(s, NOW + 50000, 100000, err, sizeof(err)), 5001);
    assert_value("key/00050000", NOW, NULL);
    assert_value("key/00050010", NOW, "value-50010");
}

/* hd_store_never_held: readers skip a store that cannot hold anything (prefs and enrich on
 * their table stores); it must never say so for a store that has or had a key. */
Test(store, never_held_until_a_key_is_written_or_found_at_open, .init = setup,
     .fini = teardown)
{
    cr_assert_eq(hd_store_never_held(s), 1, "a new store holds nothing");
    reopen();
    cr_assert_eq(hd_store_never_held(s), 1, "reopened empty");
    cr_assert_eq(hd_store_restore_put(s, "t", 1, NULL, 0, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(hd_store_never_held(s), 1, "a tombstone adds no key");
    put("k", "v", 0);
    cr_assert_eq(hd_store_never_held(s), 0, "a staged write");
    cr_assert_eq(hd_store_commit(s, 1, err, sizeof(err)), 0, "%s", err);
    reopen();
    cr_assert_eq(hd_store_never_held(s), 0, "a key found at open");
    del("k");
    cr_assert_eq(hd_store_commit(s, 2, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(hd_store_never_held(s), 0, "deleted since: still not 'never'");
    reopen();
    cr_assert_eq(hd_store_never_held(s), 1, "reopened with every key deleted");
}
