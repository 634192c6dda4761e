/*
 * The ledger of consumed positions (processors/ledger.c): what a task's commit
 * may pass, and where an abort rewinds to. Messages are built by hand on a
 * topic handle of a consumer with no broker (the ledger reads only the topic,
 * partition and offset).
 */
#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <string.h>

#include "processors/ledger.h"

static rd_kafka_t *rk;
static rd_kafka_topic_t *ta, *tb;
static struct hd_ledger *l;
static char err[512];

static void setup(void)
{
    char e[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* no broker on purpose: quiet the notice about it */
    cr_assert_eq(rd_kafka_conf_set(conf, "log_level", "4", e, sizeof(e)), RD_KAFKA_CONF_OK);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
    cr_assert_not_null(rk, "%s", e);
    ta = rd_kafka_topic_new(rk, "notification.requests", NULL);
    tb = rd_kafka_topic_new(rk, "herald.dispatch.in_app", NULL);
    l = hd_ledger_new();
}

static void teardown(void)
{
    hd_ledger_destroy(l);
    rd_kafka_topic_destroy(ta);
    rd_kafka_topic_destroy(tb);
    rd_kafka_destroy(rk);
}

TestSuite(ledger, .init = setup, .fini = teardown);

static rd_kafka_message_t msg(rd_kafka_topic_t *t, int32_t partition, int64_t offset)
{
    rd_kafka_message_t m;
    memset(&m, 0, sizeof(m));
    m.rkt = t;
    m.partition = partition;
    m.offset = offset;
    return m;
}

/* Receives and gives a verdict to each of the offsets. */
static void take(rd_kafka_topic_t *t, int32_t partition, const int64_t *offsets, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t m = msg(t, partition, offsets[i]);
        cr_assert_eq(hd_ledger_receive(l, &m, err, sizeof(err)), 0, "%s", err);
        hd_ledger_verdict(l, &m);
    }
}

static int64_t offset_of(const rd_kafka_topic_partition_list_t *lst, const char *topic,
                         int32_t partition)
{
    for (int i = 0; i < lst->cnt; i++)
        if (!strcmp(lst->elems[i].topic, topic) && lst->elems[i].partition == partition)
            return lst->elems[i].offset;
    return -2;
}

Test(ledger, a_batch_with_every_verdict_commits_past_each_partitions_last_record)
{
    hd_ledger_assign(l, "notification.requests", 3);
    hd_ledger_assign(l, "herald.dispatch.in_app", 3);
    /* gaps are legal: transaction markers and aborted records take offsets */
    take(ta, 3, (int64_t[]){10, 11, 14}, 3);
    take(tb, 3, (int64_t[]){7}, 1);
    rd_kafka_topic_partition_list_t *o = hd_ledger_offsets(l, err, sizeof(err));
    cr_assert_not_null(o, "%s", err);
    cr_assert_eq(o->cnt, 2);
    cr_assert_eq(offset_of(o, "notification.requests", 3), 15);
    cr_assert_eq(offset_of(o, "herald.dispatch.in_app", 3), 8);
    rd_kafka_topic_partition_list_destroy(o);
    hd_ledger_commit(l);
    cr_assert_eq(hd_ledger_batch_records(l), 0);
    rd_kafka_topic_partition_list_t *p = hd_ledger_positions(l);
    cr_assert_eq(offset_of(p, "notification.requests", 3), 15);
    rd_kafka_topic_partition_list_destroy(p);
}

Test(ledger, a_record_without_a_verdict_fails_the_offsets_check)
{
    hd_ledger_assign(l, "notification.requests", 0);
    take(ta, 0, (int64_t[]){0, 1}, 2);
    rd_kafka_message_t m = msg(ta, 0, 2);
    cr_assert_eq(hd_ledger_receive(l, &m, err, sizeof(err)), 0);
    /* no verdict for @2 */
    cr_assert_null(hd_ledger_offsets(l, err, sizeof(err)));
    cr_assert(strstr(err, "notification.requests[0]: 3 records in, 2 verdicts out"), "%s", err);
    cr_assert(strstr(err, "without an outcome"), "%s", err);
}

Test(ledger, a_verdict_for_an_earlier_record_does_not_stand_for_the_last)
{
    hd_ledger_assign(l, "notification.requests", 0);
    rd_kafka_message_t a = msg(ta, 0, 5), b = msg(ta, 0, 6);
    cr_assert_eq(hd_ledger_receive(l, &a, err, sizeof(err)), 0);
    cr_assert_eq(hd_ledger_receive(l, &b, err, sizeof(err)), 0);
    hd_ledger_verdict(l, &a);
    hd_ledger_verdict(l, &a); /* counted twice, @6 never */
    cr_assert_null(hd_ledger_offsets(l, err, sizeof(err)));
    cr_assert(strstr(err, "last with a verdict 5"), "%s", err);
}

Test(ledger, a_record_of_a_partition_not_assigned_is_refused)
{
    hd_ledger_assign(l, "notification.requests", 0);
    rd_kafka_message_t m = msg(ta, 1, 0);
    cr_assert_eq(hd_ledger_receive(l, &m, err, sizeof(err)), -1);
    cr_assert(strstr(err, "notification.requests[1]@0: partition not assigned"), "%s", err);
    cr_assert_not(hd_ledger_assigned(l, "notification.requests", 1));
    cr_assert(hd_ledger_assigned(l, "notification.requests", 0));
}

Test(ledger, a_record_below_the_committed_position_or_out_of_order_is_refused)
{
    hd_ledger_assign(l, "notification.requests", 0);
    take(ta, 0, (int64_t[]){4, 5}, 2);
    rd_kafka_message_t again = msg(ta, 0, 5);
    cr_assert_eq(hd_ledger_receive(l, &again, err, sizeof(err)), -1);
    cr_assert(strstr(err, "not after the batch's previous record (@5)"), "%s", err);
    rd_kafka_topic_partition_list_t *o = hd_ledger_offsets(l, err, sizeof(err));
    cr_assert_not_null(o, "%s", err);
    rd_kafka_topic_partition_list_destroy(o);
    hd_ledger_commit(l);
    rd_kafka_message_t old = msg(ta, 0, 3);
    cr_assert_eq(hd_ledger_receive(l, &old, err, sizeof(err)), -1);
    cr_assert(strstr(err, "below the partition's committed position 6"), "%s", err);
}

Test(ledger, an_abort_rewinds_to_the_last_commit_or_to_the_first_record_received)
{
    hd_ledger_assign(l, "notification.requests", 0);
    hd_ledger_assign(l, "notification.requests", 1);
    hd_ledger_assign(l, "notification.requests", 2);
    take(ta, 0, (int64_t[]){20, 21}, 2);
    rd_kafka_topic_partition_list_t *o = hd_ledger_offsets(l, err, sizeof(err));
    rd_kafka_topic_partition_list_destroy(o);
    hd_ledger_commit(l);
    /* the next batch: more of 0, the first records of 1 since its assignment, none of 2 */
    take(ta, 0, (int64_t[]){22, 23}, 2);
    take(ta, 1, (int64_t[]){40}, 1);
    cr_assert_eq(hd_ledger_batch_records(l), 3);
    hd_ledger_abort(l);
    cr_assert_eq(hd_ledger_batch_records(l), 0);
    rd_kafka_topic_partition_list_t *p = hd_ledger_positions(l);
    cr_assert_eq(p->cnt, 2, "partition 2 has no position yet: it starts at the committed offset");
    cr_assert_eq(offset_of(p, "notification.requests", 0), 22);
    cr_assert_eq(offset_of(p, "notification.requests", 1), 40);
    rd_kafka_topic_partition_list_destroy(p);
    /* after the rewind the same records come again and are accepted */
    take(ta, 0, (int64_t[]){22}, 1);
}

Test(ledger, an_unknown_outcome_takes_the_brokers_committed_offsets)
{
    hd_ledger_assign(l, "notification.requests", 0);
    hd_ledger_assign(l, "notification.requests", 1);
    take(ta, 0, (int64_t[]){10, 11}, 2);
    take(ta, 1, (int64_t[]){3}, 1);
    rd_kafka_topic_partition_list_t *b = hd_ledger_batch_partitions(l);
    cr_assert_eq(b->cnt, 2);
    rd_kafka_topic_partition_list_destroy(b);
    /* the commit went through for 0; nothing was ever committed for 1 */
    hd_ledger_set_position(l, "notification.requests", 0, 12);
    hd_ledger_set_position(l, "notification.requests", 1, RD_KAFKA_OFFSET_INVALID);
    hd_ledger_abort(l);
    rd_kafka_topic_partition_list_t *p = hd_ledger_positions(l);
    cr_assert_eq(offset_of(p, "notification.requests", 0), 12);
    cr_assert_eq(offset_of(p, "notification.requests", 1), 3);
    rd_kafka_topic_partition_list_destroy(p);
}

Test(ledger, a_revoked_partition_is_forgotten_with_its_records_in_the_batch)
{
    hd_ledger_assign(l, "notification.requests", 0);
    hd_ledger_assign(l, "notification.requests", 1);
    take(ta, 0, (int64_t[]){1, 2}, 2);
    take(ta, 1, (int64_t[]){9}, 1);
    hd_ledger_revoke(l, "notification.requests", 0);
    cr_assert_eq(hd_ledger_batch_records(l), 1);
    rd_kafka_topic_partition_list_t *o = hd_ledger_offsets(l, err, sizeof(err));
    cr_assert_not_null(o, "%s", err);
    cr_assert_eq(o->cnt, 1);
    cr_assert_eq(offset_of(o, "notification.requests", 1), 10);
    rd_kafka_topic_partition_list_destroy(o);
    /* assigned again later: its position is unknown until its first record */
    hd_ledger_assign(l, "notification.requests", 0);
    rd_kafka_topic_partition_list_t *p = hd_ledger_positions(l);
    cr_assert_eq(offset_of(p, "notification.requests", 0), -2);
    rd_kafka_topic_partition_list_destroy(p);
}
