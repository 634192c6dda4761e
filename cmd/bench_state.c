/*
 * herald bench state [--keys N] [--txn-keys B] [--keep]: what local state costs at
 * start-up, on the broker at HERALD_BROKERS (issue 4). Prints figures;
 * asserts nothing. In one run, under a fresh app id:
 *
 *  fill:    N dedup keys (default 1,000,000; the keys and DedupEntry values dedup
 *           writes) staged with hd__dedup_put in the "dedup" stores of the
 *           pipeline task, spread over HERALD_PARTITIONS partitions, B keys per
 *           Kafka transaction. The runtime's own store set (state/stores.c)
 *           produces every write to "<app>-pipeline-dedup-changelog" and commits
 *           RocksDB after each Kafka commit, so the changelog and the local
 *           stores are exactly what `herald run` would have left behind.
 *  (1)      restore: the same store set, for another instance id (an empty
 *           state directory), opens and restores every partition
 *           (hd_storeset_assign, the code a task runs on assignment); changelog
 *           records/s into RocksDB.
 *  (2)      `herald run --role pipeline` started as a child process on the filled
 *           state directory (applied offsets at the end of the changelog, so
 *           restore is a no-op): seconds from spawning it to the moment a
 *           read_committed consumer sees the QUEUED status of one request that
 *           was waiting on notification.requests.
 *  (3)      the same with an empty state directory: the child restores the whole
 *           changelog before its first record.
 * The child's own log supplies how much of (2) and (3) was restore.
 */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "connectors/kafka.h"
#include "core/log.h"
#include "core/time.h"
#include "core/uuid.h"
#include "processors/dedup_int.h"
#include "processors/runtime.h"
#include "processors/topology.h"
#include "schemas/serde.h"
#include "state/stores.h"

extern char **environ;

#define SB_TENANT "bench"
#define SB_WAIT_FIRST_S 600

static const char sb_config[] = "{\"tenants\": [{\"tenant_id\": \"" SB_TENANT "\"}]}\n";
static const char *const sb_stores[] = {"dedup", NULL};

struct sb {
    struct hd_config *cfg;
    long keys, txn_keys;
    char dir[64];      /* the run's temporary directory */
    char *store_app;   /* "<app>-pipeline": the task's group id, its stores' app */
    char *instance;    /* the filled state's instance id */
    struct hd_serde *sd;
    int keep_dir;      /* --keep, or after a failed start: its logs stay for reading */
};

/* ---- the changelog, filled through the runtime's store set ---- */

/* The dedup key of request `i` (tenant NUL "k:" idempotency key NUL channel, as dedup
 * builds it), its request id (also its idempotency key) and notification id. */
static size_t sb_key(long i, char *key, size_t key_size, char idem[48],
                     char nid[HD_UUID_STRLEN])
{
    snprintf(idem, 48, "bench-state-%ld", i);
    hd_notification_id(idem, hd_channel_name(HD_CH_EMAIL), nid);
    int n = snprintf(key, key_size, "%s%ck:%s%c%s", SB_TENANT, '\0', idem, '\0',
                     hd_channel_name(HD_CH_EMAIL));
    return (size_t)n;
}

static int sb_txn_error(rd_kafka_error_t *e, const char *what, char *err, size_t n)
{
    if (!e)
        return 0;
    hd_seterr(-1, err, n, "%s: %s", what, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return -1;
}

/* One Kafka transaction of keys [from, to): staged puts (the store set produces them to
 * the changelog), commit, then the stores commit with their changelog offsets. */
static int sb_fill_txn(struct sb *b, struct hd_storeset *ss, rd_kafka_t *rk, long from,
                       long to, char *err, size_t n)
{
    if (sb_txn_error(rd_kafka_begin_transaction(rk), "begin_transaction", err, n))
        return -1;
    int64_t now = hd_now_ms(), expires = now + 24 * 3600 * 1000LL; /* EMAIL's window */
    for (long i = from; i < to; i++) {
        char key[96], idem[48], nid[HD_UUID_STRLEN];
        size_t klen = sb_key(i, key, sizeof(key), idem, nid);
        struct hd_store *st = hd_storeset_get(ss, "dedup", (int32_t)(i % b->cfg->partitions));
        if (hd__dedup_put(st, b->sd, key, klen, nid, idem, now, expires, err, n))
            goto abort;
        if (hd_storeset_failed(ss)) {
            hd_seterr(-1, err, n, "a changelog write failed");
            goto abort;
        }
    }
    if (sb_txn_error(rd_kafka_commit_transaction(rk, 60000), "commit_transaction", err, n))
        goto abort;
    return hd_storeset_commit(ss, err, n);
abort:
    hd_storeset_abort(ss);
    rd_kafka_error_t *e = rd_kafka_abort_transaction(rk, 60000);
    if (e)
        rd_kafka_error_destroy(e);
    return -1;
}

static int sb_open_all(struct sb *b, struct hd_storeset *ss, char *err, size_t n)
{
    for (int32_t p = 0; p < b->cfg->partitions; p++)
        if (hd_storeset_assign(ss, p, err, n))
            return -1;
    return 0;
}

/* Creates the changelog (and every other Herald topic), then writes b->keys keys. */
static int sb_fill(struct sb *b, char *err, size_t n)
{
    char txn_id[192];
    snprintf(txn_id, sizeof(txn_id), "%s-fill-%s", b->store_app, b->instance);
    rd_kafka_t *rk = hd_kafka_producer_new(b->cfg, txn_id, err, n);
    if (!rk)
        return -1;
    struct hd_storeset *ss = hd_storeset_new(b->cfg, b->store_app, sb_stores, &rk, err, n);
    const struct hd_topic_spec *specs;
    int rc = -1;
    if (!ss || hd_kafka_topics_create(b->cfg, specs, hd_storeset_changelogs(ss, &specs), err, n) ||
        sb_open_all(b, ss, err, n))
        goto out;
    int64_t start = hd_mono_us();
    for (long from = 0; from < b->keys; from += b->txn_keys) {
        long to = from + b->txn_keys < b->keys ? from + b->txn_keys : b->keys;
        if (sb_fill_txn(b, ss, rk, from, to, err, n))
            goto out;
    }
    double secs = (double)(hd_mono_us() - start) / 1e6;
    printf("fill: %ld keys into %s-dedup-changelog through the store set, %ld per "
           "transaction: %.1f s, %.0f records/s\n",
           b->keys, b->store_app, b->txn_keys, secs, (double)b->keys / secs);
    fflush(stdout);
    rc = 0;
out:
    hd_storeset_destroy(ss);
    rd_kafka_destroy(rk);
    return rc;
}

/* ---- (1) restore into an empty state directory, in process ---- */

static uint64_t sb_count_keys(struct sb *b, struct hd_storeset *ss)
{
    uint64_t keys = 0;
    for (int32_t p = 0; p < b->cfg->partitions; p++)
        keys += hd_store_estimate_keys(hd_storeset_get(ss, "dedup", p));
    return keys;
}

static int sb_restore(struct sb *b, char *err, size_t n)
{
    /* another instance id: a state directory with nothing in it, the same changelog */
    char *restorer = hd_asprintf("%s-restore", b->instance);
    hd_config_set(&b->cfg->instance_id, restorer);
    hd_free(restorer);
    rd_kafka_t *none = NULL; /* restore produces nothing */
    struct hd_storeset *ss = hd_storeset_new(b->cfg, b->store_app, sb_stores, &none, err, n);
    int rc = -1;
    int64_t start = hd_mono_us();
    if (ss && sb_open_all(b, ss, err, n) == 0) {
        double secs = (double)(hd_mono_us() - start) / 1e6;
        printf("(1) restore, empty state dir, %d partitions one after another "
               "(hd_storeset_assign): %ld records in %.2f s = %.0f records/s into RocksDB "
               "(RocksDB now estimates %llu keys)\n",
               b->cfg->partitions, b->keys, secs, (double)b->keys / secs,
               (unsigned long long)sb_count_keys(b, ss));
        fflush(stdout);
        rc = 0;
    }
    hd_storeset_destroy(ss);
    hd_config_set(&b->cfg->instance_id, b->instance);
    return rc;
}

/* ---- (2), (3): `herald run` from process start to its first processed record ---- */

/* The end offset of topic[p], waiting for a leader (topics created moments ago). */
static int sb_end_offset(rd_kafka_t *rk, const char *topic, int32_t p, int64_t *hi, char *err,
                         size_t n)
{
    int64_t lo;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int tries = 0; tries < 50; tries++) {
        e = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, hi, 10000);
        if (e != RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION &&
            e != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE &&
            e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            break;
        usleep(200 * 1000);
    }
    return e ? hd_seterr(-1, err, n, "watermarks %s[%d]: %s", topic, p, rd_kafka_err2str(e)) : 0;
}

/* Commits the pipeline group's offsets at the end of every input partition, so the child
 * processes only the probe requests. */
static int sb_group_at_end(struct sb *b, char *err, size_t n)
{
    rd_kafka_t *rk = hd_kafka_consumer_new(b->cfg, b->store_app, err, n);
    if (!rk)
        return -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(32);
    int rc = 0;
    const char *subs[HD_TASK_SUBS_MAX + 1]; /* what `herald run --role pipeline` runs */
    hd_topology_defaults(subs, HD_ARRAY_SIZE(subs));
    for (const char *const *s = subs; *s && rc == 0; s++) {
        const char *inputs[HD_INPUTS_MAX + 1];
        hd_topology_inputs(hd_topology_find(*s), inputs, HD_ARRAY_SIZE(inputs));
        for (const char *const *in = inputs; *in && rc == 0; in++)
            for (int32_t p = 0; p < b->cfg->partitions && rc == 0; p++) {
                int64_t hi = 0;
                rc = sb_end_offset(rk, *in, p, &hi, err, n);
                rd_kafka_topic_partition_list_add(l, *in, p)->offset = hi;
            }
    }
    rd_kafka_resp_err_t e = rc ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_commit(rk, l, 0);
    if (e)
        rc = hd_seterr(-1, err, n, "commit start offsets: %s", rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return rc;
}

/* Produces one EMAIL request with id `rid` to notification.requests and waits for it. */
static int sb_produce_probe(struct sb *b, char *rid, char *err, size_t n)
{
    struct hd__bench_req req;
    hd__bench_req_init(&req, SB_TENANT);
    req.r.request_id = rid;
    req.r.user_id = "user-0";
    req.r.idempotency_key = rid;
    req.r.created_at = hd_now_ms();
    struct hd_buf v = HD_BUF_INIT;
    rd_kafka_t *rk = NULL;
    int rc = -1;
    if (hd_request_encode(b->sd, &req.r, &v, err, n) == 0 &&
        (rk = hd_kafka_producer_new(b->cfg, NULL, err, n)))
        rc = hd_kafka_produce_sync(rk, HD_TOPIC_REQUESTS, "bench/user-0", 12, v.data, v.len,
                                   NULL, NULL, NULL, err, n);
    if (rk)
        rd_kafka_destroy(rk);
    hd_buf_free(&v);
    return rc;
}

/* A reader of notification.queued from its current end (read_committed). */
static rd_kafka_t *sb_watch_open(struct sb *b, char *err, size_t n)
{
    rd_kafka_t *rk = hd_kafka_reader_new(b->cfg, "bench-state-watch", err, n);
    if (!rk)
        return NULL;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(b->cfg->partitions);
    int rc = 0;
    for (int32_t p = 0; p < b->cfg->partitions && rc == 0; p++) {
        int64_t hi = 0;
        rc = sb_end_offset(rk, HD_TOPIC_QUEUED, p, &hi, err, n);
        rd_kafka_topic_partition_list_add(l, HD_TOPIC_QUEUED, p)->offset = hi;
    }
    rd_kafka_resp_err_t e = rc ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        rc = hd_seterr(-1, err, n, "watch %s: %s", HD_TOPIC_QUEUED, rd_kafka_err2str(e));
    if (rc) {
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

/* Is m the QUEUED status of request `rid`? */
static int sb_is_probe(struct sb *b, const rd_kafka_message_t *m, const char *rid)
{
    if (m->err)
        return 0;
    struct hd_status_event ev = {0};
    char e[256];
    int hit = hd_status_event_decode(b->sd, m->payload, m->len, &ev, e, sizeof(e)) == 0 &&
              ev.request_id && !strcmp(ev.request_id, rid);
    hd_status_event_clear(&ev);
    return hit;
}

/* Waits for the probe's QUEUED status while the child lives. Returns 0 or -1. */
static int sb_watch_wait(struct sb *b, rd_kafka_t *rk, const char *rid, pid_t child, char *err,
                         size_t n)
{
    int64_t deadline = hd_mono_us() + SB_WAIT_FIRST_S * 1000000LL;
    while (hd_mono_us() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 20);
        if (m) {
            int hit = sb_is_probe(b, m, rid);
            rd_kafka_message_destroy(m);
            if (hit)
                return 0;
        }
        int status;
        if (waitpid(child, &status, WNOHANG) == child)
            return hd_seterr(-1, err, n, "herald run exited (status %d) before its first "
                             "record; see its log", status);
    }
    return hd_seterr(-1, err, n, "no QUEUED status for %s within %d s", rid, SB_WAIT_FIRST_S);
}

/* The environment of the child: ours, with the bench's HERALD_* settings on top and no
 * HERALD_PG (no materializer). Returns a new NULL-terminated array; caller frees it and
 * its strings. */
static char **sb_child_env(struct sb *b, const char *state_dir)
{
    static const char *const drop[] = {"HERALD_PG=", "HERALD_APP_ID=", "HERALD_INSTANCE_ID=",
                                       "HERALD_STATE_DIR=", "HERALD_OUTBOX_DIR=",
                                       "HERALD_CONFIG=", "HERALD_LOG_LEVEL=", NULL};
    size_t cnt = 0;
    while (environ[cnt])
        cnt++;
    char **env = hd_calloc(cnt + 8, sizeof(*env));
    size_t k = 0;
    for (size_t i = 0; i < cnt; i++) {
        const char *const *d = drop;
        while (*d && strncmp(environ[i], *d, strlen(*d)))
            d++;
        if (!*d)
            env[k++] = hd_strdup(environ[i]);
    }
    env[k++] = hd_asprintf("HERALD_APP_ID=%s", b->cfg->app_id);
    env[k++] = hd_asprintf("HERALD_INSTANCE_ID=%s", b->instance);
    env[k++] = hd_asprintf("HERALD_STATE_DIR=%s", state_dir);
    env[k++] = hd_asprintf("HERALD_OUTBOX_DIR=%s/outbox", b->dir);
    env[k++] = hd_asprintf("HERALD_CONFIG=%s/config.json", b->dir);
    env[k++] = hd_strdup("HERALD_LOG_LEVEL=info");
    return env;
}

static void sb_env_free(char **env)
{
    for (char **e = env; *e; e++)
        hd_free(*e);
    hd_free(env);
}

/* Starts `herald run --role pipeline` (this executable), output to `log`. */
static pid_t sb_spawn(struct sb *b, const char *state_dir, const char *log, char *err, size_t n)
{
    char *const argv[] = {"herald", "run", "--role", "pipeline", NULL};
    char **env = sb_child_env(b, state_dir);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid = -1;
    int e = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    sb_env_free(env);
    if (e) {
        hd_seterr(-1, err, n, "posix_spawn herald run: %s", strerror(e));
        return -1;
    }
    return pid;
}

/* SIGTERM, then SIGKILL after 30 s. */
static void sb_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (waitpid(pid, NULL, WNOHANG) != 0)
            return;
        usleep(100 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* What the child's log says about its start (wall-clock ms; 0 = not seen). */
struct sb_phases {
    int64_t running;  /* "[run] running": broker, topics, config tables done */
    int64_t assigned; /* first "assigned": the group handed it its partitions */
    int64_t restored; /* last "restored" after that: stores open and caught up */
    long records;     /* dedup changelog records restored */
    double reading_s; /* the restores' own "in S s": reading and applying records */
};

static void sb_log_line(const char *line, struct sb_phases *ph)
{
    char ts[32];
    int64_t at;
    snprintf(ts, sizeof(ts), "%.24s", line);
    if (hd_time_parse_iso8601(ts, &at))
        return;
    const char *r = strstr(line, "] restored ");
    long recs;
    long long from;
    double secs;
    if (!ph->running && strstr(line, "[run] running "))
        ph->running = at;
    else if (ph->running && !ph->assigned && strstr(line, ": assigned "))
        ph->assigned = at;
    else if (ph->assigned && r &&
             sscanf(strchr(r, ':') + 1, " %ld records from offset %lld in %lf s", &recs, &from,
                    &secs) == 3) {
        ph->restored = at;
        ph->reading_s += secs;
        if (strstr(r, "-dedup-changelog["))
            ph->records += recs;
    }
}

static void sb_log_scan(const char *log, struct sb_phases *ph)
{
    memset(ph, 0, sizeof(*ph));
    FILE *f = fopen(log, "r");
    if (!f)
        return;
    char line[2048];
    while (fgets(line, sizeof(line), f))
        sb_log_line(line, ph);
    fclose(f);
}

/* Prints the start's total and, where the log has the marks, where the time went. */
static void sb_print_start(const char *label, int64_t spawned, int64_t seen, const char *log)
{
    struct sb_phases ph;
    sb_log_scan(log, &ph);
    printf("%s: %.2f s from spawning `herald run` to its first processed record (its QUEUED "
           "status seen by a read_committed consumer)\n",
           label, (double)(seen - spawned) / 1e3);
    if (ph.running && ph.assigned && ph.restored)
        printf("    = %.2f s start (broker check, topics, config tables) + %.2f s group join + "
               "%.2f s open and restore the stores (%.2f s of it reading %ld dedup changelog "
               "records, the rest opening RocksDB and asking for changelog ends) + %.2f s to "
               "the first record\n",
               (double)(ph.running - spawned) / 1e3, (double)(ph.assigned - ph.running) / 1e3,
               (double)(ph.restored - ph.assigned) / 1e3, ph.reading_s, ph.records,
               (double)(seen - ph.restored) / 1e3);
    fflush(stdout);
}

/* One start: probe request waiting, spawn the child, time until its QUEUED status. */
static int sb_start(struct sb *b, const char *label, const char *tag, const char *state_dir,
                    char *err, size_t n)
{
    char rid[96], u[HD_UUID_STRLEN], log[128];
    hd_uuid_v4(u);
    snprintf(rid, sizeof(rid), "bench-state-probe-%s", u);
    snprintf(log, sizeof(log), "%s/run-%s.log", b->dir, tag);
    rd_kafka_t *watch = sb_watch_open(b, err, n);
    if (!watch || sb_produce_probe(b, rid, err, n)) {
        if (watch)
            rd_kafka_destroy(watch);
        return -1;
    }
    /* wall clock, to line up with the child's log timestamps */
    int64_t spawned = hd_now_ms();
    pid_t pid = sb_spawn(b, state_dir, log, err, n);
    int rc = pid < 0 ? -1 : sb_watch_wait(b, watch, rid, pid, err, n);
    int64_t seen = hd_now_ms();
    if (pid > 0)
        sb_stop(pid);
    rd_kafka_destroy(watch);
    if (rc) {
        b->keep_dir = 1;
        fprintf(stderr, "herald bench state: the child's log is %s\n", log);
        return -1;
    }
    sb_print_start(label, spawned, seen, log);
    return 0;
}

/* ---- the command ---- */

static int usage(int rc)
{
    fprintf(rc ? stderr : stdout,
            "usage: herald bench state [--keys N] [--txn-keys B] [--keep]\n"
            "  On HERALD_BROKERS: fills the dedup changelog with N keys (default 1000000), B\n"
            "  per transaction (default 10000), through the runtime's store set; then (1)\n"
            "  restore records/s into an empty state dir, and the time from starting\n"
            "  `herald run` to its first processed record (2) with the N keys local and (3)\n"
            "  with an empty state dir. --keep leaves the temporary directory (stores, the\n"
            "  child's logs) in place.\n");
    return rc;
}

/* Returns 0 to go on, else 1 with the exit code in *code. */
static int sb_args(int argc, char **argv, struct sb *b, int *code)
{
    b->keys = 1000000;
    b->txn_keys = 10000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--keys") && i + 1 < argc)
            b->keys = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--txn-keys") && i + 1 < argc)
            b->txn_keys = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--keep"))
            b->keep_dir = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return (*code = usage(0)) == 0;
        else
            return (*code = usage(2)) != 0;
    }
    if (b->keys <= 0 || b->txn_keys <= 0)
        return (*code = usage(2)) != 0;
    return 0;
}

/* The temporary directory: config.json, outbox/, state/ (filled), state-empty/, logs. */
static int sb_dirs(struct sb *b, char *err, size_t n)
{
    snprintf(b->dir, sizeof(b->dir), "/tmp/herald-bench-state-XXXXXX");
    if (!mkdtemp(b->dir))
        return hd_seterr(-1, err, n, "mkdtemp failed");
    char *state = hd_asprintf("%s/state", b->dir), *empty = hd_asprintf("%s/state-empty", b->dir),
         *conf = hd_asprintf("%s/config.json", b->dir);
    hd_config_set(&b->cfg->state_dir, state);
    FILE *f = fopen(conf, "w");
    int rc = mkdir(state, 0755) || mkdir(empty, 0755) || !f || fputs(sb_config, f) < 0;
    if (f && fclose(f))
        rc = 1;
    hd_free(state);
    hd_free(empty);
    hd_free(conf);
    return rc ? hd_seterr(-1, err, n, "cannot write %s", b->dir) : 0;
}

static int sb_setup(struct sb *b, char *err, size_t n)
{
    char app[64], u[HD_UUID_STRLEN];
    hd_uuid_v4(u);
    snprintf(app, sizeof(app), "bench-state-%.8s", u);
    hd_config_set(&b->cfg->app_id, app);
    b->store_app = hd_asprintf("%s-pipeline", app);
    b->instance = hd_strdup("bench-state");
    hd_config_set(&b->cfg->instance_id, b->instance);
    if (sb_dirs(b, err, n) || !(b->sd = hd_serde_new(err, n)) ||
        hd_kafka_wait_ready(b->cfg, 30000, err, n) || hd_kafka_topics_ensure(b->cfg, err, n))
        return -1;
    return 0;
}

static void sb_cleanup(struct sb *b)
{
    if (b->dir[0] && b->keep_dir)
        fprintf(stderr, "herald bench state: kept %s\n", b->dir);
    if (b->dir[0] && !b->keep_dir) {
        char *rm = hd_asprintf("rm -rf '%s'", b->dir);
        if (system(rm) != 0)
            hd_log_warn("bench", "could not remove %s", b->dir);
        hd_free(rm);
    }
    hd_serde_destroy(b->sd);
    hd_free(b->store_app);
    hd_free(b->instance);
}

int hd_cmd_bench_state(int argc, char **argv, struct hd_config *cfg)
{
    struct sb b = {0};
    b.cfg = cfg;
    int code = 0;
    if (sb_args(argc, argv, &b, &code))
        return code;
    if (!cfg->brokers) {
        fprintf(stderr, "herald bench state: HERALD_BROKERS is not set (the benchmark needs a "
                        "real broker: tests/bench/run starts one)\n");
        return 2;
    }
    char err[1024], empty[96];
    int rc = 1;
    if (sb_setup(&b, err, sizeof(err)))
        goto out;
    printf("herald bench state: %ld dedup keys, %d partitions, app %s, broker %s\n", b.keys,
           cfg->partitions, cfg->app_id, cfg->brokers);
    fflush(stdout);
    snprintf(empty, sizeof(empty), "%s/state-empty", b.dir);
    if (sb_fill(&b, err, sizeof(err)) || sb_restore(&b, err, sizeof(err)) ||
        sb_group_at_end(&b, err, sizeof(err)) ||
        sb_start(&b, "(2) start, keys local", "local", cfg->state_dir, err, sizeof(err)) ||
        sb_start(&b, "(3) start, empty state dir", "empty", empty, err, sizeof(err)))
        goto out;
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "herald bench state: %s\n", err);
    sb_cleanup(&b);
    return rc;
}
