/*
 * hd_e2e's verifier (see tests/tools/hd_e2e.c): loads a manifest, reads the
 * status topics and the DLQ with read_committed, checks every input's outcomes
 * exactly once, and with HERALD_PG the read model.
 */
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors/kafka.h"
#include "core/config.h"
#include "core/time.h"
#include "core/uuid.h"
#include "schemas/records.h"
#include "schemas/serde.h"
#include "tests/tools/e2e/e2e.h"

/* One manifest line and what was observed for it. */
struct entry {
    char shape[16];
    char topic[64];
    int32_t partition;
    int64_t offset;
    char rid[128];
    int expect_status[HD_CH__CNT]; /* -1 = channel not expected */
    int dlq;                       /* a dead letter is expected */
    char dlq_code[48];
    unsigned char *bytes;          /* expected dead-letter value */
    size_t bytes_len;
    int has_origin;                /* key and headers below are known (malformed inputs) */
    unsigned char *key;            /* expected dead-letter key */
    size_t key_len;
    struct hd_header *hdrs;        /* expected dead-letter headers, in order */
    size_t hdr_cnt;
    char why[32];                  /* expected SKIPPED reason code; "" = not checked */
    char dup_of[HD_UUID_STRLEN];   /* a duplicate's reason must name this notification */
    unsigned char seen[HD_CH__CNT][HD_ST__CNT];
    int dlq_seen, dlq_bad, why_bad;
    char bad[256];                 /* the first mismatch seen in a dead letter or reason */
    int64_t at;  /* scheduled_at, 0 = not scheduled */
    int64_t exp; /* expires_at of a scheduled input, 0 = none */
    int early;   /* QUEUED or SENT before `at` */
    int64_t first_at;   /* earliest occurred_at / failed_at of its outcomes */
    int64_t held_at;    /* occurred_at of its (first) SCHEDULED */
    int64_t skipped_at; /* earliest SKIPPED */
    int must_hold;      /* processed before its time: a later input of its partition was */
    int64_t quiet;      /* QUIET=: held for quiet hours until then (the window's end); 0 = no */
    char cap_group[32]; /* CAP=GROUP/MAX/RUN: one of RUN inputs of a capped user, of which the */
    int cap_max, cap_run; /* first MAX by offset go on and the rest are SKIPPED frequency_cap */
    char cap_bad[200];  /* how the manifest contradicts the cap (check_caps) */
    int problem;        /* entry_check found one */
};

static int by_rid(const void *a, const void *b)
{
    return strcmp((*(struct entry *const *)a)->rid, (*(struct entry *const *)b)->rid);
}

static int parse_expect(struct entry *e, char *expect)
{
    for (int c = 0; c < HD_CH__CNT; c++)
        e->expect_status[c] = -1;
    for (char *tok = strtok(expect, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        if (!eq)
            return -1;
        *eq = '\0';
        const char *val = eq + 1;
        if (!strcmp(tok, "AT")) {
            e->at = atoll(val);
        } else if (!strcmp(tok, "EXP")) {
            e->exp = atoll(val);
        } else if (!strcmp(tok, "WHY")) {
            snprintf(e->why, sizeof(e->why), "%s", val);
        } else if (!strcmp(tok, "QUIET")) {
            e->quiet = atoll(val);
            if (e->quiet <= 0)
                return -1;
        } else if (!strcmp(tok, "CAP")) {
            char extra;
            if (sscanf(val, "%31[^/]/%d/%d%c", e->cap_group, &e->cap_max, &e->cap_run,
                       &extra) != 3 ||
                e->cap_max < 0 || e->cap_run <= e->cap_max)
                return -1;
        } else if (!strcmp(tok, "DUP")) {
            snprintf(e->dup_of, sizeof(e->dup_of), "%s", val);
        } else if (!strcmp(tok, "DLQ")) {
            e->dlq = 1;
            snprintf(e->dlq_code, sizeof(e->dlq_code), "%s", val);
        } else {
            int c = hd_channel_parse(tok), s = hd_status_parse(val);
            if (c < 0 || s < 0)
                return -1;
            e->expect_status[c] = s;
        }
    }
    return 0;
}

/* Hex to a new buffer (caller frees); -1 on odd length or a non-hex digit. */
static int unhex(const char *hex, size_t n, unsigned char **out, size_t *len)
{
    if (n % 2)
        return -1;
    *out = hd_malloc(n / 2 + 1);
    *len = n / 2;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned int b;
        if (sscanf(hex + 2 * i, "%2x", &b) != 1 || !strchr("0123456789abcdef", hex[2 * i]) ||
            !strchr("0123456789abcdef", hex[2 * i + 1])) {
            hd_free(*out);
            *out = NULL;
            return -1;
        }
        (*out)[i] = (unsigned char)b;
    }
    return 0;
}

/* Parses a headers column ("-", or NAME[=HEX] joined by ","). */
static int parse_headers(struct entry *e, char *col)
{
    if (!strcmp(col, "-"))
        return 0;
    size_t cap = 1;
    for (const char *p = col; *p; p++)
        cap += *p == ',';
    e->hdrs = hd_calloc(cap, sizeof(*e->hdrs));
    char *save = NULL;
    for (char *tok = strtok_r(col, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        struct hd_header *h = &e->hdrs[e->hdr_cnt++];
        char *eq = strchr(tok, '=');
        if (eq)
            *eq = '\0';
        h->key = hd_strdup(tok);
        unsigned char *v = NULL;
        if (eq && unhex(eq + 1, strlen(eq + 1), &v, &h->value_len))
            return -1;
        h->value = v;
    }
    return 0;
}

static void entry_clear(struct entry *e)
{
    hd_free(e->bytes);
    hd_free(e->key);
    for (size_t i = 0; i < e->hdr_cnt; i++) {
        hd_free(e->hdrs[i].key);
        hd_free(e->hdrs[i].value);
    }
    hd_free(e->hdrs);
}

/* Parses one manifest line: 7 columns, or 9 (key and headers) for a malformed input. */
static int parse_line(struct entry *e, const char *line, size_t size)
{
    char expect[256], *hex = hd_calloc(1, size), *key = hd_calloc(1, size),
                      *hdrs = hd_calloc(1, size);
    long long off;
    int n = sscanf(line, "%15s %63s %d %lld %127s %255s %s %s %s", e->shape, e->topic,
                   &e->partition, &off, e->rid, expect, hex, key, hdrs);
    int rc = (n == 7 || n == 9) && !parse_expect(e, expect) ? 0 : -1;
    e->offset = off;
    e->first_at = e->held_at = e->skipped_at = INT64_MAX;
    if (rc == 0 && strcmp(hex, "-"))
        rc = unhex(hex, strlen(hex), &e->bytes, &e->bytes_len);
    if (rc == 0 && n == 9) {
        e->has_origin = 1;
        rc = unhex(key, strlen(key), &e->key, &e->key_len);
        if (rc == 0)
            rc = parse_headers(e, hdrs);
    }
    hd_free(hex);
    hd_free(key);
    hd_free(hdrs);
    return rc;
}

static struct entry *load_manifest(const char *path, size_t *cnt)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    size_t cap = 1024, n = 0;
    struct entry *es = hd_calloc(cap, sizeof(*es));
    char *line = NULL;
    size_t lcap = 0;
    while (getline(&line, &lcap, f) > 0) {
        if (n == cap) {
            es = hd_realloc(es, cap * 2 * sizeof(*es));
            memset(es + cap, 0, cap * sizeof(*es));
            cap *= 2;
        }
        if (parse_line(&es[n], line, lcap + 1)) {
            fprintf(stderr, "hd_e2e: bad manifest line: %s", line);
            exit(2);
        }
        n++;
    }
    free(line);
    fclose(f);
    *cnt = n;
    return es;
}

struct verify {
    const char *prefix;
    struct entry *es;
    size_t cnt;
    struct entry **idx; /* sorted by rid */
    long topic_counts[6];
    long stray; /* records of this run that match no input */
    int64_t max_late_ms; /* of a scheduled input's release (QUEUED) after its time */
    long dlq_checked, hdrs_checked; /* dead letters compared with key and headers; headers */
    long why_checked[4]; /* SKIPPED reasons checked: duplicate, expired, frequency_cap, other */
    int64_t quiet_late_ms; /* of a quiet input's release (QUEUED) after the window's end */
    struct entry **caps;   /* capped inputs by group, partition, offset (check_caps) */
    size_t ncaps;
};

static const char *const verify_topics[] = {HD_TOPIC_QUEUED,  HD_TOPIC_SENT, HD_TOPIC_FAILED,
                                            HD_TOPIC_SKIPPED, HD_TOPIC_DLQ,  HD_TOPIC_SCHEDULED,
                                            NULL};

static struct entry *find_rid(struct verify *v, const char *rid)
{
    struct entry key, *kp = &key;
    snprintf(key.rid, sizeof(key.rid), "%s", rid);
    struct entry **hit = bsearch(&kp, v->idx, v->cnt, sizeof(*v->idx), by_rid);
    return hit ? *hit : NULL;
}

/* Same optional bytes: both null, or both present with equal contents. */
static int same_bytes(const void *a, size_t an, const void *b, size_t bn)
{
    return (!a) == (!b) && an == bn && (!an || !memcmp(a, b, an));
}

/* Headers h[0..n) are e's, in order? */
static int same_headers(const struct entry *e, const struct hd_header *h, size_t n)
{
    if (n != e->hdr_cnt)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(h[i].key, e->hdrs[i].key) ||
            !same_bytes(h[i].value, h[i].value_len, e->hdrs[i].value, e->hdrs[i].value_len))
            return 0;
    return 1;
}

/* The DLQ record's own key and headers: the input's key, its headers first and untouched,
 * then only herald-* headers (herald-error-code naming the code). NULL if so. */
static const char *dlq_record_mismatch(const struct entry *e, const rd_kafka_message_t *m)
{
    if (!same_bytes(m->key, m->key_len, e->key, e->key_len))
        return "the DLQ record's Kafka key is not the input's";
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
        h = NULL;
    size_t n = h ? rd_kafka_header_cnt(h) : 0, code_seen = 0;
    struct hd_header *got = hd_calloc(n + 1, sizeof(*got));
    for (size_t i = 0; i < n; i++) {
        const char *name;
        const void *val;
        rd_kafka_header_get_all(h, i, &name, &val, &got[i].value_len);
        got[i].key = (char *)name;
        got[i].value = (void *)val;
    }
    int ok = n >= e->hdr_cnt && same_headers(e, got, e->hdr_cnt);
    for (size_t i = e->hdr_cnt; ok && i < n; i++) {
        ok = !strncmp(got[i].key, "herald-", 7);
        code_seen |= !strcmp(got[i].key, "herald-error-code") &&
                     same_bytes(got[i].value, got[i].value_len, e->dlq_code, strlen(e->dlq_code));
    }
    hd_free(got);
    return !ok ? "the DLQ record's Kafka headers are not the input's (then herald-*)"
         : !code_seen ? "the DLQ record has no herald-error-code header naming its code"
                      : NULL;
}

/* What differs between a dead letter and the input it is for; NULL if nothing. */
static const char *dlq_mismatch(const struct entry *e, const struct hd_dead_letter *dl,
                                const rd_kafka_message_t *m)
{
    if (!e->dlq)
        return "not expected";
    if (strcmp(dl->error_code, e->dlq_code))
        return "error code";
    if (!same_bytes(dl->value, dl->value_len, e->bytes, e->bytes_len))
        return "value is not the input's bytes";
    if (!e->has_origin)
        return NULL;
    if (!same_bytes(dl->key, dl->key_len, e->key, e->key_len))
        return "key is not the input's key";
    if (!same_headers(e, dl->headers, dl->header_cnt))
        return "headers are not the input's headers";
    return dlq_record_mismatch(e, m);
}

static void entry_bad(struct entry *e, const char *fmt, const char *a, const char *b)
{
    if (!e->bad[0])
        snprintf(e->bad, sizeof(e->bad), fmt, a, b);
}

static void observe_dead_letter(struct verify *v, const struct hd_dead_letter *dl,
                                const rd_kafka_message_t *m)
{
    for (size_t i = 0; i < v->cnt; i++) {
        struct entry *e = &v->es[i];
        if (e->offset != dl->source_offset || e->partition != dl->source_partition ||
            strcmp(e->topic, dl->source_topic))
            continue;
        v->topic_counts[4]++;
        e->dlq_seen++;
        if (dl->failed_at < e->first_at)
            e->first_at = dl->failed_at;
        const char *bad = dlq_mismatch(e, dl, m);
        if (bad) {
            e->dlq_bad++;
            if (!e->bad[0])
                snprintf(e->bad, sizeof(e->bad), "dead letter (%s, by %s): %s", dl->error_code,
                         dl->processor, bad);
        } else if (e->has_origin) {
            v->dlq_checked++;
            v->hdrs_checked += (long)e->hdr_cnt;
        }
    }
}

/* A SKIPPED status: the reason code the input expects; a duplicate names the first. */
static void observe_skip(struct verify *v, struct entry *e, const struct hd_status_event *ev)
{
    if (ev->occurred_at < e->skipped_at)
        e->skipped_at = ev->occurred_at;
    if (!e->why[0])
        return;
    const char *code = ev->reason_code ? ev->reason_code : "(none)";
    if (strcmp(code, e->why)) {
        e->why_bad++;
        entry_bad(e, "SKIPPED with reason code %s, want %s", code, e->why);
    } else if (e->dup_of[0] && (!ev->reason || !strstr(ev->reason, e->dup_of))) {
        e->why_bad++;
        entry_bad(e, "duplicate's reason does not name %s: \"%s\"", e->dup_of,
                  ev->reason ? ev->reason : "");
    } else {
        v->why_checked[!strcmp(e->why, "duplicate")       ? 0
                       : !strcmp(e->why, "expired")       ? 1
                       : !strcmp(e->why, "frequency_cap") ? 2
                                                          : 3]++;
    }
}

/* When a held input may be released: its scheduled time, or the end of its quiet hours. */
static int64_t due(const struct entry *e)
{
    return e->at ? e->at : e->quiet;
}

static void observe(struct verify *v, struct hd_serde *sd, const rd_kafka_message_t *m, int ti)
{
    char err[256];
    if (ti == 4) {
        struct hd_dead_letter dl;
        memset(&dl, 0, sizeof(dl));
        if (hd_dead_letter_decode(sd, m->payload, m->len, &dl, err, sizeof(err)) == 0)
            observe_dead_letter(v, &dl, m);
        hd_dead_letter_clear(&dl);
        return;
    }
    struct hd_status_event ev;
    memset(&ev, 0, sizeof(ev));
    if (hd_status_event_decode(sd, m->payload, m->len, &ev, err, sizeof(err)) == 0 &&
        !strncmp(ev.tenant_id, v->prefix, strlen(v->prefix))) {
        v->topic_counts[ti]++;
        struct entry *e = find_rid(v, ev.request_id);
        if (!e) {
            v->stray++;
            hd_status_event_clear(&ev);
            return;
        }
        if (e->seen[ev.channel][ev.status] < 255)
            e->seen[ev.channel][ev.status]++;
        if (ev.occurred_at < e->first_at)
            e->first_at = ev.occurred_at;
        if (ev.status == HD_ST_SKIPPED)
            observe_skip(v, e, &ev);
        if (ev.status == HD_ST_SCHEDULED && ev.occurred_at < e->held_at)
            e->held_at = ev.occurred_at;
        if (ev.status == HD_ST_SCHEDULED && e->quiet && !e->at) {
            const char *code = ev.reason_code ? ev.reason_code : "(none)";
            if (strcmp(code, "quiet_hours")) {
                e->why_bad++;
                entry_bad(e, "SCHEDULED with reason code %s, want %s", code, "quiet_hours");
            }
        }
        if (due(e) && (ev.status == HD_ST_QUEUED || ev.status == HD_ST_SENT)) {
            e->early += ev.occurred_at < due(e);
            int64_t *late = e->at ? &v->max_late_ms : &v->quiet_late_ms;
            if (ev.status == HD_ST_QUEUED && ev.occurred_at - due(e) > *late)
                *late = ev.occurred_at - due(e);
        }
    }
    hd_status_event_clear(&ev);
}

/* Until when a scheduled input is held if processed: its time, or its expiry if sooner
 * (validate skips it as expired from then on); a quiet one: until its quiet hours end. */
static int64_t hold_by(const struct entry *e)
{
    if (!e->at)
        return e->quiet;
    return e->exp && e->exp < e->at ? e->exp : e->at;
}

static int by_position(const void *a, const void *b)
{
    const struct entry *x = *(struct entry *const *)a, *y = *(struct entry *const *)b;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->offset > y->offset ? -1 : x->offset < y->offset; /* later offsets first */
}

/* A task processes a partition in offset order and stamps each outcome with the time its
 * batch was processed, so an outcome of a later request in the same partition at time T
 * proves that an earlier one was processed at or before T. A scheduled request proven
 * processed before it was due must have been held, exactly once; so must a quiet one
 * proven processed before its quiet hours ended. Returns how many scheduled ones. */
static long mark_must_hold(struct verify *v)
{
    struct entry **pos = hd_calloc(v->cnt + 1, sizeof(*pos));
    size_t n = 0;
    for (size_t i = 0; i < v->cnt; i++)
        if (!strcmp(v->es[i].topic, HD_TOPIC_REQUESTS))
            pos[n++] = &v->es[i];
    qsort(pos, n, sizeof(*pos), by_position);
    long must = 0;
    int64_t later = INT64_MAX; /* earliest outcome of a later request of the partition */
    for (size_t i = 0; i < n; i++) {
        struct entry *e = pos[i];
        if (i && e->partition != pos[i - 1]->partition)
            later = INT64_MAX;
        if (due(e) && later < hold_by(e)) {
            e->must_hold = 1;
            must += e->at != 0;
        }
        if (e->first_at < later)
            later = e->first_at;
    }
    hd_free(pos);
    return must;
}

static int by_cap(const void *a, const void *b)
{
    const struct entry *x = *(struct entry *const *)a, *y = *(struct entry *const *)b;
    int c = strcmp(x->cap_group, y->cap_group);
    if (c)
        return c;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* The one channel e expects, or -1. */
static int only_channel(const struct entry *e)
{
    int ch = -1;
    for (int c = 0; c < HD_CH__CNT; c++)
        if (e->expect_status[c] >= 0) {
            if (ch >= 0)
                return -1;
            ch = c;
        }
    return ch;
}

/* The manifest against the frequency cap: each capped user has exactly RUN inputs, all in
 * one partition and on one channel, the first MAX by offset expected delivered (SENT) and
 * the rest SKIPPED, so that with each input's outcomes checked exactly once no user gets
 * more than MAX or fewer. A line that breaks this gets cap_bad. Returns the users. */
static long check_caps(struct verify *v)
{
    v->caps = hd_calloc(v->cnt + 1, sizeof(*v->caps));
    v->ncaps = 0;
    for (size_t i = 0; i < v->cnt; i++)
        if (v->es[i].cap_group[0])
            v->caps[v->ncaps++] = &v->es[i];
    qsort(v->caps, v->ncaps, sizeof(*v->caps), by_cap);
    long users = 0;
    for (size_t i = 0, j; i < v->ncaps; i = j) {
        const struct entry *g = v->caps[i];
        for (j = i; j < v->ncaps && !strcmp(v->caps[j]->cap_group, g->cap_group); j++)
            ;
        users++;
        for (size_t k = i; k < j; k++) {
            struct entry *e = v->caps[k];
            int ch = only_channel(e), rank = (int)(k - i);
            if (e->cap_max != g->cap_max || e->cap_run != g->cap_run || j - i != (size_t)e->cap_run)
                snprintf(e->cap_bad, sizeof(e->cap_bad), "capped user cap-%s: %zu inputs in the "
                         "manifest, want %d (at most %d delivered)", e->cap_group, j - i,
                         e->cap_run, e->cap_max);
            else if (e->partition != g->partition)
                snprintf(e->cap_bad, sizeof(e->cap_bad), "capped user cap-%s: inputs in partitions "
                         "%d and %d", e->cap_group, g->partition, e->partition);
            else if (ch < 0)
                snprintf(e->cap_bad, sizeof(e->cap_bad), "capped user cap-%s: the input does not "
                         "expect exactly one channel", e->cap_group);
            else if ((rank < e->cap_max) != (e->expect_status[ch] == HD_ST_SENT) ||
                     (rank >= e->cap_max && e->expect_status[ch] != HD_ST_SKIPPED))
                snprintf(e->cap_bad, sizeof(e->cap_bad), "capped user cap-%s: input %d of %d by "
                         "offset expects %s %s, but the cap lets the first %d through",
                         e->cap_group, rank + 1, e->cap_run, hd_channel_name(ch),
                         hd_status_name(e->expect_status[ch]), e->cap_max);
        }
    }
    return users;
}

/* Is everything expected of e there (possibly more)? A line that contradicts the cap
 * fails whatever comes: nothing to wait for. */
static int entry_complete(const struct entry *e)
{
    if (e->cap_bad[0])
        return 1;
    if (e->dlq)
        return e->dlq_seen > 0;
    for (int c = 0; c < HD_CH__CNT; c++)
        if (e->expect_status[c] >= 0 && !e->seen[c][e->expect_status[c]])
            return 0;
    return 1;
}

/* Past the timeout, is the verifier still to wait? Only while every input not complete yet
 * is a quiet one whose quiet hours end less than 30 s ago or in the next 15 minutes: it
 * cannot be complete before then. */
static int quiet_pending(const struct verify *v, size_t from)
{
    int64_t now = hd_now_ms();
    int waiting = 0;
    for (size_t i = from; i < v->cnt; i++) {
        const struct entry *e = &v->es[i];
        if (entry_complete(e))
            continue;
        if (!e->quiet || e->at || e->quiet + 30000 <= now || e->quiet - now > 900000)
            return 0;
        waiting = 1;
    }
    return waiting;
}

/* Exactly-once check of one entry; prints problems, returns how many. */
static int entry_check(const struct entry *e, int *printed)
{
    int bad = 0;
    char why[512] = "";
    const char *strict = getenv("HD_E2E_SCHED_STRICT");
    int sched_exact = strict && !strcmp(strict, "1");
    if (e->cap_bad[0]) {
        snprintf(why, sizeof(why), "%s", e->cap_bad);
    } else if (e->dlq) {
        if (e->dlq_seen != 1 || e->dlq_bad)
            snprintf(why, sizeof(why), "dead letters seen %d (want 1), mismatched %d%s%s",
                     e->dlq_seen, e->dlq_bad, e->bad[0] ? ": " : "", e->bad);
    } else {
        if (e->dlq_seen)
            snprintf(why, sizeof(why), "unexpected dead letter");
        for (int c = 0; c < HD_CH__CNT && !why[0]; c++)
            for (int s = 0; s < HD_ST__CNT && !why[0]; s++) {
                int want = 0;
                if (e->expect_status[c] >= 0) {
                    int terminal = e->expect_status[c];
                    want = s == terminal || (s == HD_ST_QUEUED && terminal != HD_ST_SKIPPED);
                    /* held at most once, and once when it was processed before its time; a
                     * backlog that passes its time lawfully leaves it unheld */
                    if (s == HD_ST_SCHEDULED && due(e))
                        want = sched_exact || e->must_hold || e->seen[c][s] > 1 ? 1
                                                                                : e->seen[c][s];
                }
                if (e->seen[c][s] != want)
                    snprintf(why, sizeof(why), "%s %s seen %d times, want %d%s", hd_channel_name(c),
                             hd_status_name(s), e->seen[c][s], want,
                             s == HD_ST_SCHEDULED && e->must_hold && !sched_exact
                                 ? " (a later input of its partition was processed before its time)"
                                 : "");
            }
        if (!why[0] && e->why_bad)
            snprintf(why, sizeof(why), "%s", e->bad);
    }
    if (!why[0] && e->early)
        snprintf(why, sizeof(why), "%s %lld, queued or sent %d times before that",
                 e->at ? "scheduled for" : "in quiet hours until", (long long)due(e), e->early);
    if (!why[0] && due(e) && e->held_at != INT64_MAX && e->held_at >= hold_by(e))
        snprintf(why, sizeof(why), "held at %lld, not before its %s %lld", (long long)e->held_at,
                 e->at ? "time" : "quiet hours' end", (long long)hold_by(e));
    if (!why[0] && e->at && e->held_at != INT64_MAX && e->skipped_at < e->at)
        snprintf(why, sizeof(why), "held, then skipped at %lld, before its time %lld",
                 (long long)e->skipped_at, (long long)e->at);
    if (why[0]) {
        bad = 1;
        if ((*printed)++ < 20)
            fprintf(stderr, "  %s %s (%s[%d]@%lld): %s\n", e->shape, e->rid, e->topic,
                    e->partition, (long long)e->offset, why);
    }
    return bad;
}

static rd_kafka_t *assign_from_start(struct hd_config *cfg, char *err, size_t n)
{
    char group[64], u[HD_UUID_STRLEN];
    hd_uuid_v4(u);
    snprintf(group, sizeof(group), "hd-e2e-verify-%.8s", u);
    rd_kafka_t *rk = hd_kafka_consumer_new(cfg, group, err, n);
    if (!rk)
        return NULL;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(64);
    for (int t = 0; verify_topics[t]; t++)
        for (int p = 0; p < cfg->partitions; p++)
            rd_kafka_topic_partition_list_add(l, verify_topics[t], p)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    return rk;
}

static int topic_index(const char *t)
{
    for (int i = 0; verify_topics[i]; i++)
        if (!strcmp(verify_topics[i], t))
            return i;
    return -1;
}

/* Read-model check: one row per expected notification, final status, history length. */
static int check_pg(struct verify *v, const char *conninfo, int timeout_s)
{
    long want_rows = 0, want_inapp = 0;
    for (size_t i = 0; i < v->cnt; i++)
        for (int c = 0; c < HD_CH__CNT; c++)
            if (!v->es[i].dlq && v->es[i].expect_status[c] >= 0) {
                want_rows++;
                want_inapp += c == HD_CH_IN_APP;
            }
    PGconn *pg = PQconnectdb(conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "hd_e2e verify: PostgreSQL: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return 1;
    }
    char like[128];
    snprintf(like, sizeof(like), "%s%%", v->prefix);
    const char *params[] = {like};
    int problems = 0;
    for (int64_t deadline = hd_mono_us() + timeout_s * 1000000LL;;) {
        problems = 0;
        PGresult *r = PQexecParams(
            pg,
            /* one grouped pass over the history, joined on the whole key: a correlated
             * count per row scanned the table once per notification (minutes at 25 k) */
            "SELECT n.request_id, n.channel, n.status, coalesce(h.cnt, 0) "
            "FROM notifications n LEFT JOIN ("
            "  SELECT tenant_id, notification_id, count(*) AS cnt FROM notification_events"
            "  WHERE tenant_id LIKE $1 GROUP BY tenant_id, notification_id) h"
            "  ON h.tenant_id = n.tenant_id AND h.notification_id = n.notification_id "
            "WHERE n.tenant_id LIKE $1",
            1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            fprintf(stderr, "hd_e2e verify: %s", PQerrorMessage(pg));
            PQclear(r);
            PQfinish(pg);
            return 1;
        }
        long rows = PQntuples(r), inapp = 0;
        int printed = 0, final = hd_mono_us() >= deadline;
        for (long i = 0; i < rows; i++) {
            struct entry *e = find_rid(v, PQgetvalue(r, (int)i, 0));
            int c = hd_channel_parse(PQgetvalue(r, (int)i, 1));
            int st = hd_status_parse(PQgetvalue(r, (int)i, 2));
            long hist = atol(PQgetvalue(r, (int)i, 3));
            inapp += c == HD_CH_IN_APP;
            int want_hist = e && c >= 0 && e->expect_status[c] == HD_ST_SKIPPED ? 1 : 2;
            if (e && c >= 0 && e->seen[c][HD_ST_SCHEDULED])
                want_hist++;
            if (!e || c < 0 || e->expect_status[c] != st || hist != want_hist) {
                problems++;
                if (final && printed++ < 20)
                    fprintf(stderr, "  pg: %s %s: status %s, %ld events (want %s, %d)\n",
                            PQgetvalue(r, (int)i, 0), PQgetvalue(r, (int)i, 1),
                            PQgetvalue(r, (int)i, 2), hist,
                            e && c >= 0 && e->expect_status[c] >= 0
                                ? hd_status_name(e->expect_status[c]) : "no row", want_hist);
            }
        }
        PQclear(r);
        if (rows != want_rows || inapp != want_inapp)
            problems++;
        if (final || problems == 0) {
            printf("read model: %ld notifications (want %ld), %ld IN_APP inbox rows (want %ld), "
                   "%d problems\n", rows, want_rows, inapp, want_inapp, problems);
            break;
        }
        usleep(500 * 1000);
    }
    PQfinish(pg);
    return problems ? 1 : 0;
}

int hd__e2e_verify(const char *run, const char *manifest, int timeout_s)
{
    struct hd_config cfg;
    hd__e2e_cfg(&cfg);
    struct verify v;
    memset(&v, 0, sizeof(v));
    char prefix[96], err[512];
    snprintf(prefix, sizeof(prefix), "e2e-%s-", run);
    v.prefix = prefix;
    v.es = load_manifest(manifest, &v.cnt);
    v.idx = hd_calloc(v.cnt, sizeof(*v.idx));
    for (size_t i = 0; i < v.cnt; i++)
        v.idx[i] = &v.es[i];
    qsort(v.idx, v.cnt, sizeof(*v.idx), by_rid);
    check_caps(&v);
    struct hd_serde *sd = hd_serde_new(err, sizeof(err));
    rd_kafka_t *rk = sd ? assign_from_start(&cfg, err, sizeof(err)) : NULL;
    if (!rk) {
        fprintf(stderr, "hd_e2e verify: %s\n", err);
        return 2;
    }
    int64_t deadline = hd_mono_us() + timeout_s * 1000000LL, idle_since = 0, checked_us = 0;
    size_t complete_from = 0;
    int pending = 0;
    for (;;) {
        int64_t now_us = hd_mono_us();
        if (now_us >= deadline) { /* then once a second: only quiet inputs not yet due left? */
            if (now_us - checked_us >= 1000000) {
                pending = quiet_pending(&v, complete_from);
                checked_us = now_us;
            }
            if (!pending)
                break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m && !m->err) {
            observe(&v, sd, m, topic_index(rd_kafka_topic_name(m->rkt)));
            idle_since = 0;
        } else if (!idle_since) {
            idle_since = hd_mono_us();
        }
        if (m)
            rd_kafka_message_destroy(m);
        while (complete_from < v.cnt && entry_complete(&v.es[complete_from]))
            complete_from++;
        /* all there and 3 s without a new record: duplicates would have shown by now */
        if (complete_from == v.cnt && idle_since && hd_mono_us() - idle_since > 3000000)
            break;
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    long must_hold = mark_must_hold(&v);
    int printed = 0, bad = 0;
    for (size_t i = 0; i < v.cnt; i++)
        bad += v.es[i].problem = entry_check(&v.es[i], &printed);
    long want[6] = {0}; /* queued, sent, failed, skipped, dead letters, scheduled */
    long sched = 0, sched_held = 0;
    long quiet = 0, quiet_held = 0, quiet_proven = 0; /* quiet inputs without a problem */
    for (size_t i = 0; i < v.cnt; i++) {
        const struct entry *e = &v.es[i];
        for (int c = 0; c < HD_CH__CNT; c++)
            sched_held += e->at ? e->seen[c][HD_ST_SCHEDULED] : 0;
        if (!e->quiet || e->at || e->problem)
            continue;
        quiet++;
        for (int c = 0; c < HD_CH__CNT; c++)
            quiet_held += e->seen[c][HD_ST_SCHEDULED];
        quiet_proven += e->must_hold;
    }
    /* capped users all of whose inputs passed; their inputs delivered and skipped */
    long cap_users = 0, cap_sent = 0, cap_skipped = 0;
    for (size_t i = 0, j; i < v.ncaps; i = j) {
        int ok = 1;
        for (j = i; j < v.ncaps && !strcmp(v.caps[j]->cap_group, v.caps[i]->cap_group); j++) {
            const struct entry *e = v.caps[j];
            int ch = only_channel(e), good = !e->problem && ch >= 0;
            ok &= good;
            cap_sent += good && e->expect_status[ch] == HD_ST_SENT;
            cap_skipped += good && e->expect_status[ch] == HD_ST_SKIPPED;
        }
        cap_users += ok;
    }
    for (size_t i = 0; i < v.cnt; i++) {
        want[4] += v.es[i].dlq;
        for (int c = 0; c < HD_CH__CNT; c++) {
            int st = v.es[i].expect_status[c];
            if (v.es[i].dlq || st < 0)
                continue;
            want[0] += st != HD_ST_SKIPPED;
            want[1] += st == HD_ST_SENT;
            want[2] += st == HD_ST_FAILED;
            want[3] += st == HD_ST_SKIPPED;
            want[5] += v.es[i].seen[c][HD_ST_SCHEDULED] == 1;
            sched += v.es[i].at != 0;
        }
    }
    int totals_ok = 1;
    for (int k = 0; k < 6; k++)
        totals_ok &= want[k] == v.topic_counts[k];
    printf("inputs %zu; queued %ld, sent %ld, failed %ld, skipped %ld, dead letters %ld; "
           "stray %ld; inputs with problems %d\n",
           v.cnt, v.topic_counts[0], v.topic_counts[1], v.topic_counts[2], v.topic_counts[3],
           v.topic_counts[4], v.stray, bad);
    printf("topic totals %s the workload's: queued %ld, sent %ld, failed %ld, skipped %ld, "
           "dead letters %ld\n",
           totals_ok ? "match" : "DIFFER from", want[0], want[1], want[2], want[3], want[4]);
    printf("scheduled %ld: %ld held (SCHEDULED), %ld of them provably processed before their "
           "time; none released early unless reported above; latest release %lld ms after its "
           "time\n",
           sched, sched_held, must_hold, (long long)v.max_late_ms);
    printf("dead letters with the input's key, value and headers: %ld (%ld headers); "
           "SKIPPED reasons checked: %ld duplicate, %ld expired\n",
           v.dlq_checked, v.hdrs_checked, v.why_checked[0], v.why_checked[1]);
    printf("frequency caps checked: %ld users, %ld delivered, %ld SKIPPED frequency_cap\n",
           cap_users, cap_sent, cap_skipped);
    printf("quiet hours checked: %ld sent after the window's end, %ld held (SCHEDULED "
           "quiet_hours), %ld provably processed before it; queued at most %lld ms after it\n",
           quiet, quiet_held, quiet_proven, (long long)v.quiet_late_ms);
    int rc = bad || v.stray || !totals_ok ? 1 : 0;
    if (cfg.pg && check_pg(&v, cfg.pg, timeout_s))
        rc = 1;
    for (size_t i = 0; i < v.cnt; i++)
        entry_clear(&v.es[i]);
    hd_free(v.es);
    hd_free(v.idx);
    hd_free(v.caps);
    hd_serde_destroy(sd);
    hd_config_clear(&cfg);
    printf("%s\n", rc ? "VERIFY FAILED" : "verify ok: every input's outcome exactly once");
    return rc;
}
