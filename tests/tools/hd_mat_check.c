/*
 * hd_mat_check RUN: the materializer against a real Kafka broker
 * (HERALD_BROKERS) and a real PostgreSQL (HERALD_PG, already migrated), for
 * tests/integration/test_materializer.sh. RUN makes the tenants
 * (t1-RUN, t2-RUN), request ids and consumer group unique to this run.
 *
 * Phases, each checked against what was produced:
 *   1. status events (out of order across topics) and inbox items, a cross-tenant
 *      id collision, undecodable and invalid records, an aborted transaction;
 *      materialize until idle and check every row;
 *   2. restart: a new materializer applies exactly the records produced since;
 *   3. replay: stored offsets reset to 0, everything consumed again, nothing changes;
 *   4. PostgreSQL connections killed before assignment and while assigned: it
 *      reconnects, resumes from the stored offsets, and applies each record once;
 *   5. a record PostgreSQL rejects is skipped alone, the rest of its batch commits;
 *   6. row-level security under hd_pg_begin_tenant.
 * Prints one line per passed check on stdout; exits 1 at the first failure.
 * Tenant ids appear on stdout only: the script checks that stderr (the logs) has none.
 */
#include <librdkafka/rdkafka.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/kafka.h"
#include "connectors/pg.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/hd.h"
#include "core/log.h"
#include "core/time.h"
#include "core/uuid.h"
#include "materializer/materializer.h"
#include "schemas/records.h"
#include "schemas/serde.h"

#define T0 1700000000000LL
#define IDLE_POLLS 8 /* consecutive empty 250 ms polls that count as idle */

/* One notification row the read model must hold. */
struct expect {
    char tenant[96];
    char nid[HD_UUID_STRLEN];
    enum hd_status status;
    int read;          /* read_at set */
    int inbox;         /* has an inbox item (title, body, data) */
    int64_t created;   /* earliest record time */
};

struct ctx {
    struct hd_config cfg;
    const char *run;
    char ta[96], tb[96]; /* tenants */
    char consumer[160];
    PGconn *db;
    struct hd_serde *sd;
    rd_kafka_t *producer;
    struct hd_buf buf;
    struct expect exp[64];
    size_t exp_cnt;
    long events[2];      /* expected notification_events rows for ta, tb */
    char absent[8][HD_UUID_STRLEN]; /* ids that must have no row */
    size_t absent_cnt;
    long produced;       /* records produced by this run, aborted ones excluded */
};

static void fail(int line, const char *fmt, ...) HD_PRINTF(2, 3);
static void fail(int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stdout, "FAIL (hd_mat_check.c:%d): ", line);
    vfprintf(stdout, fmt, ap);
    fprintf(stdout, "\n");
    va_end(ap);
    fflush(stdout);
    exit(1);
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail(__LINE__, __VA_ARGS__);                                                           \
    } while (0)

static void ok(const char *fmt, ...) HD_PRINTF(1, 2);
static void ok(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stdout, "ok - ");
    vfprintf(stdout, fmt, ap);
    fprintf(stdout, "\n");
    va_end(ap);
    fflush(stdout);
}

/*
 * Database helpers (superuser connection: sees every tenant).
 */

static PGresult *q(PGconn *db, const char *sql, int n, const char *const *params)
{
    PGresult *res = PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);
    CHECK(PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK,
          "query failed: %s\n  %s", PQresultErrorMessage(res), sql);
    return res;
}

/* The single value of a one-row, one-column query, as a long. */
static long q_long(PGconn *db, const char *sql, int n, const char *const *params)
{
    PGresult *res = q(db, sql, n, params);
    CHECK(PQntuples(res) == 1 && PQnfields(res) == 1, "expected one value from %s", sql);
    long v = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

/* Notifications, events and this consumer's offsets of the run, as one comparable text. */
static char *snapshot(struct ctx *c)
{
    const char *p[3] = {c->ta, c->tb, c->consumer};
    PGresult *res = q(c->db,
        "SELECT (SELECT count(*) || ':' || coalesce(md5(string_agg(n::text, '|'"
        "   ORDER BY tenant_id, notification_id)), '')"
        "   FROM notifications n WHERE tenant_id IN ($1, $2))"
        " || ' ' || (SELECT count(*) || ':' || coalesce(md5(string_agg(e::text, '|'"
        "   ORDER BY src_topic, src_partition, src_offset)), '')"
        "   FROM notification_events e WHERE tenant_id IN ($1, $2))"
        " || ' ' || (SELECT count(*) || ':' || coalesce(md5(string_agg(topic || '/' || partition"
        "   || '=' || next_offset, '|' ORDER BY topic, partition)), '')"
        "   FROM consumer_offsets WHERE consumer = $3)",
        3, p);
    char *s = hd_strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return s;
}

/*
 * Producing.
 */

static void produce(struct ctx *c, const char *topic, const char *tenant, const char *user,
                    const void *val, size_t len)
{
    char key[256];
    snprintf(key, sizeof(key), "%s/%s", tenant, user);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        c->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_END);
    CHECK(!err, "produce to %s: %s", topic, rd_kafka_err2str(err));
}

static void txn(struct ctx *c, int begin, int commit)
{
    rd_kafka_error_t *e = begin ? rd_kafka_begin_transaction(c->producer)
                          : commit ? rd_kafka_commit_transaction(c->producer, 60000)
                                   : rd_kafka_abort_transaction(c->producer, 60000);
    CHECK(!e, "transaction %s: %s", begin ? "begin" : commit ? "commit" : "abort",
          rd_kafka_error_string(e));
}

static const char *nid_of(const char *req, enum hd_channel ch, char out[HD_UUID_STRLEN])
{
    hd_notification_id(req, hd_channel_name(ch), out);
    return out;
}

/* Produces a status event to its status topic (or to `topic` when not NULL). */
static void emit_status(struct ctx *c, const char *topic, const char *tenant, const char *req,
                        enum hd_channel ch, enum hd_status st, int64_t at, const char *reason)
{
    char nid[HD_UUID_STRLEN], err[256];
    struct hd_status_event e = {0};
    e.notification_id = (char *)nid_of(req, ch, nid);
    e.request_id = (char *)req;
    e.tenant_id = (char *)tenant;
    e.user_id = "u1";
    e.channel = ch;
    e.provider = st == HD_ST_SENT || st == HD_ST_DELIVERED ? "fake-smtp" : NULL;
    e.status = st;
    e.reason_code = st == HD_ST_FAILED ? "provider_error" : st == HD_ST_SKIPPED ? "duplicate"
                                                                              : NULL;
    e.reason = (char *)reason;
    e.attempt = 1;
    e.occurred_at = at;
    hd_buf_reset(&c->buf);
    CHECK(hd_status_event_encode(c->sd, &e, &c->buf, err, sizeof(err)) == 0, "encode: %s", err);
    produce(c, topic ? topic : hd_status_topic(st), tenant, "u1", c->buf.data, c->buf.len);
}

static void emit_inbox(struct ctx *c, const char *topic, const char *tenant, const char *req,
                       int64_t at)
{
    char nid[HD_UUID_STRLEN], err[256], title[128];
    struct hd_kv kv[] = {{"order", (char *)req}, {"bell", "\xf0\x9f\x94\x94"}};
    struct hd_inbox_item it = {0};
    snprintf(title, sizeof(title), "Caf\xc3\xa9 for %s", req);
    it.notification_id = (char *)nid_of(req, HD_CH_IN_APP, nid);
    it.request_id = (char *)req;
    it.tenant_id = (char *)tenant;
    it.user_id = "u1";
    it.category = HD_CAT_SYSTEM;
    it.title = title;
    it.body = "Body with \"quotes\" and \\ backslash";
    it.data.items = kv;
    it.data.cnt = HD_ARRAY_SIZE(kv);
    it.created_at = at;
    hd_buf_reset(&c->buf);
    CHECK(hd_inbox_item_encode(c->sd, &it, &c->buf, err, sizeof(err)) == 0, "encode: %s", err);
    produce(c, topic ? topic : HD_TOPIC_INBOX, tenant, "u1", c->buf.data, c->buf.len);
}

static struct expect *expect_add(struct ctx *c, const char *tenant, const char *req,
                                 enum hd_channel ch, enum hd_status st, int64_t created)
{
    CHECK(c->exp_cnt < HD_ARRAY_SIZE(c->exp), "too many expectations");
    struct expect *e = &c->exp[c->exp_cnt++];
    memset(e, 0, sizeof(*e));
    snprintf(e->tenant, sizeof(e->tenant), "%s", tenant);
    nid_of(req, ch, e->nid);
    e->status = st;
    e->created = created;
    return e;
}

static struct expect *expect_find(struct ctx *c, const char *tenant, const char *req,
                                  enum hd_channel ch)
{
    char nid[HD_UUID_STRLEN];
    nid_of(req, ch, nid);
    for (size_t i = 0; i < c->exp_cnt; i++)
        if (!strcmp(c->exp[i].tenant, tenant) && !strcmp(c->exp[i].nid, nid))
            return &c->exp[i];
    fail(__LINE__, "no expectation for %s", req);
    return NULL;
}

/* A notification's statuses, produced last-first so the later stages usually arrive first. */
static void emit_lifecycle(struct ctx *c, const char *tenant, const char *req, enum hd_channel ch,
                           const enum hd_status *st, int n, int64_t t)
{
    for (int k = n - 1; k >= 0; k--)
        emit_status(c, NULL, tenant, req, ch, st[k], t + k * 10, NULL);
    c->events[strcmp(tenant, c->ta) ? 1 : 0] += n;
    c->produced += n;
}

static void produce_phase1(struct ctx *c)
{
    static const enum hd_status kinds[5][3] = {
        {HD_ST_QUEUED, HD_ST_SENT, HD_ST_DELIVERED},
        {HD_ST_QUEUED, HD_ST_SENT},
        {HD_ST_QUEUED, HD_ST_FAILED},
        {HD_ST_QUEUED},
        {HD_ST_SKIPPED},
    };
    static const int kind_len[5] = {3, 2, 2, 1, 1};
    char req[128], nid[HD_UUID_STRLEN];
    txn(c, 1, 0);
    for (int i = 0; i < 10; i++) {
        int k = i % 5;
        int64_t t = T0 + i * 1000;
        snprintf(req, sizeof(req), "%s-req-%d", c->run, i);
        emit_lifecycle(c, c->ta, req, HD_CH_EMAIL, kinds[k], kind_len[k], t);
        expect_add(c, c->ta, req, HD_CH_EMAIL, kinds[k][kind_len[k] - 1], t);
    }
    static const enum hd_status inapp[] = {HD_ST_QUEUED, HD_ST_SENT, HD_ST_DELIVERED, HD_ST_READ};
    for (int i = 10; i < 14; i++) {
        int64_t t = T0 + i * 1000;
        int n = i < 12 ? 4 : 3;
        snprintf(req, sizeof(req), "%s-req-%d", c->run, i);
        emit_lifecycle(c, c->ta, req, HD_CH_IN_APP, inapp, n, t);
        emit_inbox(c, NULL, c->ta, req, t - 5); /* rendered just before it was queued */
        c->produced++;
        struct expect *e = expect_add(c, c->ta, req, HD_CH_IN_APP, inapp[n - 1], t - 5);
        e->read = i < 12;
        e->inbox = 1;
    }
    /* Tenant B reuses tenant A's first request id: same notification id, separate rows. */
    snprintf(req, sizeof(req), "%s-req-0", c->run);
    emit_lifecycle(c, c->tb, req, HD_CH_EMAIL, kinds[3], 1, T0 + 50000);
    expect_add(c, c->tb, req, HD_CH_EMAIL, HD_ST_QUEUED, T0 + 50000);
    snprintf(req, sizeof(req), "%s-b-1", c->run);
    emit_lifecycle(c, c->tb, req, HD_CH_EMAIL, kinds[1], 2, T0 + 51000);
    expect_add(c, c->tb, req, HD_CH_EMAIL, HD_ST_SENT, T0 + 51000);

    /* Records that must be skipped without stopping anything. */
    produce(c, HD_TOPIC_SENT, c->ta, "u1", "\xc3\x01garbage!", 10);
    snprintf(req, sizeof(req), "%s-wrong-schema", c->run);
    emit_inbox(c, HD_TOPIC_QUEUED, c->ta, req, T0);
    snprintf(c->absent[c->absent_cnt++], HD_UUID_STRLEN, "%s", nid_of(req, HD_CH_IN_APP, nid));
    snprintf(req, sizeof(req), "%s-bad-time", c->run);
    emit_status(c, NULL, c->ta, req, HD_CH_EMAIL, HD_ST_DELIVERED, -1, NULL);
    snprintf(c->absent[c->absent_cnt++], HD_UUID_STRLEN, "%s", nid_of(req, HD_CH_EMAIL, nid));
    snprintf(req, sizeof(req), "%s-bad-utf8", c->run);
    emit_status(c, NULL, c->ta, req, HD_CH_EMAIL, HD_ST_FAILED, T0, "broken \xff\xfe text");
    snprintf(c->absent[c->absent_cnt++], HD_UUID_STRLEN, "%s", nid_of(req, HD_CH_EMAIL, nid));
    c->produced += 4;
    txn(c, 0, 1);

    /* An aborted transaction: read_committed never shows it. */
    txn(c, 1, 0);
    snprintf(req, sizeof(req), "%s-aborted", c->run);
    emit_status(c, NULL, c->ta, req, HD_CH_EMAIL, HD_ST_QUEUED, T0, NULL);
    emit_inbox(c, NULL, c->ta, req, T0);
    rd_kafka_flush(c->producer, 30000);
    txn(c, 0, 0);
    snprintf(c->absent[c->absent_cnt++], HD_UUID_STRLEN, "%s", nid_of(req, HD_CH_EMAIL, nid));
    snprintf(c->absent[c->absent_cnt++], HD_UUID_STRLEN, "%s", nid_of(req, HD_CH_IN_APP, nid));
}

/*
 * Materializing and checking.
 */

static struct hd_materializer *mat_new(struct ctx *c)
{
    char err[512];
    struct hd_materializer *m = hd_materializer_new(&c->cfg, err, sizeof(err));
    CHECK(m, "hd_materializer_new: %s", err);
    return m;
}

/* Polls until at least `at_least` records came and then IDLE_POLLS polls found nothing. */
static long materialize(struct hd_materializer *m, long at_least)
{
    char err[512];
    long total = 0;
    int idle = 0;
    int64_t deadline = hd_mono_us() + 180 * 1000000LL;
    while (hd_mono_us() < deadline) {
        int n = hd_materializer_poll(m, 250, err, sizeof(err));
        CHECK(n >= 0, "hd_materializer_poll: %s", err);
        total += n;
        idle = n == 0 && total >= at_least ? idle + 1 : 0;
        if (idle >= IDLE_POLLS)
            return total;
    }
    fail(__LINE__, "not idle within 180 s: %ld records, expected at least %ld", total, at_least);
    return -1;
}

static void verify_row(struct ctx *c, const struct expect *e)
{
    const char *p[2] = {e->tenant, e->nid};
    PGresult *res = q(c->db,
        "SELECT status, read_at IS NOT NULL, status_rank,"
        " (extract(epoch FROM created_at) * 1000)::bigint, coalesce(title, ''),"
        " coalesce(body, ''), coalesce(data->>'bell', ''), channel, category"
        " FROM notifications WHERE tenant_id = $1 AND notification_id = $2", 2, p);
    CHECK(PQntuples(res) == 1, "%s/%s: %d rows, expected 1", e->tenant, e->nid, PQntuples(res));
    CHECK(!strcmp(PQgetvalue(res, 0, 0), hd_status_name(e->status)), "%s/%s: status %s, want %s",
          e->tenant, e->nid, PQgetvalue(res, 0, 0), hd_status_name(e->status));
    CHECK((PQgetvalue(res, 0, 1)[0] == 't') == e->read, "%s/%s: read_at set = %s", e->tenant,
          e->nid, PQgetvalue(res, 0, 1));
    CHECK(atoll(PQgetvalue(res, 0, 3)) == e->created, "%s/%s: created_at %s ms, want %lld",
          e->tenant, e->nid, PQgetvalue(res, 0, 3), (long long)e->created);
    if (e->inbox) {
        CHECK(!strncmp(PQgetvalue(res, 0, 4), "Caf\xc3\xa9 for ", 8), "title %s",
              PQgetvalue(res, 0, 4));
        CHECK(!strcmp(PQgetvalue(res, 0, 5), "Body with \"quotes\" and \\ backslash"), "body %s",
              PQgetvalue(res, 0, 5));
        CHECK(!strcmp(PQgetvalue(res, 0, 6), "\xf0\x9f\x94\x94"), "data %s", PQgetvalue(res, 0, 6));
        CHECK(!strcmp(PQgetvalue(res, 0, 7), "IN_APP") && !strcmp(PQgetvalue(res, 0, 8), "SYSTEM"),
              "channel %s category %s", PQgetvalue(res, 0, 7), PQgetvalue(res, 0, 8));
    }
    PQclear(res);
}

static void verify(struct ctx *c, const char *phase)
{
    for (size_t i = 0; i < c->exp_cnt; i++)
        verify_row(c, &c->exp[i]);
    const char *tenants[2] = {c->ta, c->tb};
    for (int t = 0; t < 2; t++) {
        long want = 0;
        for (size_t i = 0; i < c->exp_cnt; i++)
            want += !strcmp(c->exp[i].tenant, tenants[t]);
        const char *p[1] = {tenants[t]};
        long rows = q_long(c->db, "SELECT count(*) FROM notifications WHERE tenant_id = $1", 1, p);
        long evs = q_long(c->db, "SELECT count(*) FROM notification_events WHERE tenant_id = $1",
                          1, p);
        long ten = q_long(c->db, "SELECT count(*) FROM tenants WHERE tenant_id = $1", 1, p);
        CHECK(rows == want, "%s: %ld notifications, want %ld", tenants[t], rows, want);
        CHECK(evs == c->events[t], "%s: %ld events, want %ld", tenants[t], evs, c->events[t]);
        CHECK(ten == 1, "%s: tenant row missing", tenants[t]);
    }
    for (size_t i = 0; i < c->absent_cnt; i++) {
        const char *p[1] = {c->absent[i]};
        CHECK(q_long(c->db, "SELECT count(*) FROM notifications WHERE notification_id = $1", 1,
                     p) == 0, "skipped or aborted record %s has a row", c->absent[i]);
    }
    const char *p[1] = {c->consumer};
    CHECK(q_long(c->db, "SELECT count(*) FROM consumer_offsets WHERE consumer = $1", 1, p) > 0,
          "no stored offsets for %s", c->consumer);
    ok("%s: %zu notifications with the right status, times, content; %ld + %ld events; "
       "skipped, invalid and aborted records absent", phase, c->exp_cnt, c->events[0],
       c->events[1]);
}

/* Terminates every other client connection to this database (the materializer's). */
static long kill_connections(struct ctx *c)
{
    return q_long(c->db,
                  "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                  " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                  " AND backend_type = 'client backend'",
                  0, NULL);
}

static void phase_restart(struct ctx *c)
{
    char req[128];
    txn(c, 1, 0);
    snprintf(req, sizeof(req), "%s-req-20", c->run);
    emit_status(c, NULL, c->ta, req, HD_CH_EMAIL, HD_ST_QUEUED, T0 + 20000, NULL);
    expect_add(c, c->ta, req, HD_CH_EMAIL, HD_ST_QUEUED, T0 + 20000);
    snprintf(req, sizeof(req), "%s-req-12", c->run);
    emit_status(c, NULL, c->ta, req, HD_CH_IN_APP, HD_ST_READ, T0 + 12000 + 30, NULL);
    struct expect *e = expect_find(c, c->ta, req, HD_CH_IN_APP);
    e->status = HD_ST_READ;
    e->read = 1;
    txn(c, 0, 1);
    c->events[0] += 2;
    c->produced += 2;
    struct hd_materializer *m = mat_new(c);
    long n = materialize(m, 2);
    hd_materializer_destroy(m);
    CHECK(n == 2, "restarted materializer consumed %ld records, want exactly the 2 new ones", n);
    ok("restart: the new materializer resumed at the stored offsets (consumed exactly 2)");
    verify(c, "after restart");
}

static void phase_replay(struct ctx *c)
{
    char *before = snapshot(c);
    const char *p[1] = {c->consumer};
    long reset = q_long(c->db,
                        "WITH u AS (UPDATE consumer_offsets SET next_offset = 0"
                        " WHERE consumer = $1 RETURNING 1) SELECT count(*) FROM u", 1, p);
    CHECK(reset > 0, "no offsets to reset");
    struct hd_materializer *m = mat_new(c);
    long n = materialize(m, c->produced);
    hd_materializer_destroy(m);
    CHECK(n >= c->produced, "replay consumed %ld records, fewer than the %ld produced", n,
          c->produced);
    char *after = snapshot(c);
    CHECK(!strcmp(before, after), "replay changed the read model:\n  before %s\n  after  %s",
          before, after);
    ok("replay: %ld records consumed again from offset 0; rows, events and offsets unchanged (%s)",
       n, after);
    hd_free(before);
    hd_free(after);
    verify(c, "after replay");
}

static void emit_queued_batch(struct ctx *c, int from, int cnt)
{
    char req[128];
    txn(c, 1, 0);
    for (int i = from; i < from + cnt; i++) {
        snprintf(req, sizeof(req), "%s-req-%d", c->run, i);
        emit_status(c, NULL, c->ta, req, HD_CH_EMAIL, HD_ST_QUEUED, T0 + i * 1000, NULL);
        expect_add(c, c->ta, req, HD_CH_EMAIL, HD_ST_QUEUED, T0 + i * 1000);
    }
    txn(c, 0, 1);
    c->events[0] += cnt;
    c->produced += cnt;
}

static void phase_broken_connection(struct ctx *c)
{
    struct hd_materializer *m = mat_new(c);
    emit_queued_batch(c, 30, 3);
    /* Before the group assigns partitions: loading the stored offsets fails first. */
    CHECK(kill_connections(c) >= 1, "no materializer connection to terminate");
    long n = materialize(m, 3);
    CHECK(n >= 3, "consumed %ld records after reconnecting", n);
    verify(c, "connection killed before assignment");
    /* While assigned and idle: the next batch's transaction fails first. */
    CHECK(kill_connections(c) >= 1, "no materializer connection to terminate");
    emit_queued_batch(c, 40, 4);
    n = materialize(m, 4);
    CHECK(n >= 4, "consumed %ld records after reconnecting", n);
    hd_materializer_destroy(m);
    verify(c, "connection killed while assigned");
}

/* A record PostgreSQL rejects (here: a test-only constraint) is skipped alone; the rest of
 * its batch and the offsets still commit. */
static void phase_rejected_record(struct ctx *c)
{
    char poison[128], name[160], req[128], nid[HD_UUID_STRLEN], sql[1024];
    snprintf(poison, sizeof(poison), "poison-%s", c->run);
    snprintf(name, sizeof(name), "matcheck_poison_%s", c->run);
    char *ident = PQescapeIdentifier(c->db, name, strlen(name));
    char *lit = PQescapeLiteral(c->db, poison, strlen(poison));
    snprintf(sql, sizeof(sql), "ALTER TABLE notification_events ADD CONSTRAINT %s"
             " CHECK (tenant_id <> %s) NOT VALID", ident, lit);
    PQclear(q(c->db, sql, 0, NULL));
    txn(c, 1, 0);
    for (int i = 50; i < 53; i++) {
        const char *tenant = i == 51 ? poison : c->ta;
        snprintf(req, sizeof(req), "%s-req-%d", c->run, i);
        emit_status(c, NULL, tenant, req, HD_CH_EMAIL, HD_ST_QUEUED, T0 + i * 1000, NULL);
        if (i == 51)
            snprintf(c->absent[c->absent_cnt++], HD_UUID_STRLEN, "%s",
                     nid_of(req, HD_CH_EMAIL, nid));
        else
            expect_add(c, c->ta, req, HD_CH_EMAIL, HD_ST_QUEUED, T0 + i * 1000);
    }
    txn(c, 0, 1);
    c->events[0] += 2;
    c->produced += 3;
    struct hd_materializer *m = mat_new(c);
    long n = materialize(m, 3);
    hd_materializer_destroy(m);
    snprintf(sql, sizeof(sql), "ALTER TABLE notification_events DROP CONSTRAINT %s", ident);
    PQclear(q(c->db, sql, 0, NULL));
    PQfreemem(ident);
    PQfreemem(lit);
    CHECK(n == 3, "consumed %ld records, want 3", n);
    const char *p[1] = {poison};
    CHECK(q_long(c->db, "SELECT count(*) FROM tenants WHERE tenant_id = $1", 1, p) == 0,
          "the rejected record's tenant was recorded");
    verify(c, "a record PostgreSQL rejects is skipped alone");
}

/* Row-level security as the API sees it. */
static void phase_rls(struct ctx *c)
{
    char err[512];
    struct hd_pg_pool *pool = hd_pg_pool_new(c->cfg.pg, 2, err, sizeof(err));
    CHECK(pool, "pool: %s", err);
    PGconn *conn = hd_pg_pool_get(pool, err, sizeof(err));
    CHECK(conn, "pool get: %s", err);
    const char *tenants[2] = {c->ta, c->tb};
    char nid0[HD_UUID_STRLEN], req[128];
    snprintf(req, sizeof(req), "%s-req-0", c->run);
    nid_of(req, HD_CH_EMAIL, nid0);
    for (int t = 0; t < 2; t++) {
        long want = 0;
        for (size_t i = 0; i < c->exp_cnt; i++)
            want += !strcmp(c->exp[i].tenant, tenants[t]);
        CHECK(hd_pg_begin_tenant(conn, tenants[t], err, sizeof(err)) == 0, "begin: %s", err);
        CHECK(q_long(conn, "SELECT count(*) FROM notifications", 0, NULL) == want,
              "%s sees a different number of notifications than its %ld", tenants[t], want);
        const char *other[1] = {tenants[1 - t]};
        CHECK(q_long(conn, "SELECT count(*) FROM notifications WHERE tenant_id = $1", 1, other) ==
                  0, "%s sees %s's notifications", tenants[t], tenants[1 - t]);
        CHECK(q_long(conn, "SELECT count(DISTINCT tenant_id) FROM notifications", 0, NULL) == 1,
              "more than one tenant visible");
        CHECK(q_long(conn, "SELECT count(*) FROM notification_events", 0, NULL) == c->events[t],
              "%s sees other tenants' events", tenants[t]);
        CHECK(q_long(conn, "SELECT count(*) FROM tenants", 0, NULL) == 1,
              "%s sees other tenants", tenants[t]);
        const char *p[1] = {nid0};
        PGresult *res = q(conn, "SELECT status FROM notifications WHERE notification_id = $1", 1, p);
        CHECK(PQntuples(res) == 1 && !strcmp(PQgetvalue(res, 0, 0), t ? "QUEUED" : "DELIVERED"),
              "shared notification id: %s sees the wrong row", tenants[t]);
        PQclear(res);
        CHECK(q_long(conn, "SELECT count(*) FROM consumer_offsets", 0, NULL) > 0,
              "the API cannot read consumer_offsets");
        res = q(conn, "UPDATE notifications SET read_at = now() WHERE tenant_id = $1", 1, other);
        CHECK(!strcmp(PQcmdTuples(res), "0"), "%s updated %s's rows", tenants[t],
              tenants[1 - t]);
        PQclear(res);
        CHECK(hd_pg_commit(conn, err, sizeof(err)) == 0, "commit: %s", err);
    }
    ok("row-level security: each tenant sees only its own notifications, events and tenant row");

    CHECK(hd_pg_begin_tenant(conn, c->ta, err, sizeof(err)) == 0, "begin: %s", err);
    CHECK(hd_pg_exec(conn, "DELETE FROM notifications", err, sizeof(err)) == -1 &&
              strstr(err, "permission denied"), "the API role may delete rows");
    CHECK(hd_pg_commit(conn, err, sizeof(err)) == -1, "commit of a failed transaction succeeded");
    CHECK(hd_pg_exec(conn, "BEGIN", err, sizeof(err)) == 0 &&
              hd_pg_exec(conn, "SET LOCAL ROLE herald_api", err, sizeof(err)) == 0, "%s", err);
    CHECK(q_long(conn, "SELECT count(*) FROM notifications", 0, NULL) == 0,
          "without a tenant the API role sees rows");
    hd_pg_rollback(conn);
    ok("row-level security: no tenant set shows nothing; writes are denied; a failed "
       "transaction does not commit");
    hd_pg_pool_put(pool, conn, 0);
    hd_pg_pool_destroy(pool);
}

static void setup(struct ctx *c, const char *run)
{
    char err[512];
    hd_log_init_from_env();
    CHECK(hd_config_from_env(&c->cfg, err, sizeof(err)) == 0, "config: %s", err);
    CHECK(c->cfg.brokers && c->cfg.pg, "HERALD_BROKERS and HERALD_PG must be set");
    c->run = run;
    snprintf(c->ta, sizeof(c->ta), "t1-%s", run);
    snprintf(c->tb, sizeof(c->tb), "t2-%s", run);
    char app[128];
    snprintf(app, sizeof(app), "matcheck-%s", run);
    hd_config_set(&c->cfg.app_id, app);
    snprintf(c->consumer, sizeof(c->consumer), "%s-materializer", app);
    c->db = PQconnectdb(c->cfg.pg);
    CHECK(PQstatus(c->db) == CONNECTION_OK, "connect: %s", PQerrorMessage(c->db));
    CHECK(hd_kafka_topics_ensure(&c->cfg, err, sizeof(err)) == 0, "topics: %s", err);
    CHECK((c->sd = hd_serde_new(err, sizeof(err))), "serde: %s", err);
    char txn_id[160];
    snprintf(txn_id, sizeof(txn_id), "%s-producer", app);
    CHECK((c->producer = hd_kafka_producer_new(&c->cfg, txn_id, err, sizeof(err))), "producer: %s",
          err);
    printf("# run %s: tenants %s and %s, consumer group %s\n", run, c->ta, c->tb, c->consumer);
}

int main(int argc, char **argv)
{
    if (argc != 2 || !*argv[1]) {
        fprintf(stderr, "usage: hd_mat_check RUN_ID\n");
        return 2;
    }
    static struct ctx c;
    setup(&c, argv[1]);

    produce_phase1(&c);
    struct hd_materializer *m = mat_new(&c);
    long n = materialize(m, c.produced);
    hd_materializer_destroy(m);
    ok("first run consumed %ld records (%ld produced by this run)", n, c.produced);
    verify(&c, "first run");

    phase_restart(&c);
    phase_replay(&c);
    phase_broken_connection(&c);
    phase_rejected_record(&c);
    phase_rls(&c);

    rd_kafka_destroy(c.producer);
    hd_serde_destroy(c.sd);
    hd_buf_free(&c.buf);
    PQfinish(c.db);
    hd_config_clear(&c.cfg);
    printf("# all materializer checks passed\n");
    return 0;
}
