/*
 * hd_e2e: end-to-end workload and verifier for the integration and crash
 * tests, on a real broker.
 *
 *   hd_e2e config RUN                      tenants + rules for the run (JSON, stdout)
 *       Tenants "a" and "b", and "p" for the preference filter (processors/prefs.c): time
 *       zone UTC, a frequency cap of 3 SYSTEM e-mails per user and hour, and quiet hours on
 *       PUSH from an hour before now to HD_E2E_QUIET_MIN minutes after (default 2; 0: no
 *       quiet hours), in whole minutes: they end at the start of the minute that holds
 *       now + HD_E2E_QUIET_MIN, the exact release time of whatever they hold.
 *   hd_e2e produce RUN N MALFORMED EVENTS MANIFEST [FIRST]
 *       produces N inputs (numbered from FIRST, default 0, so chunks of one run can be
 *       produced at different moments with their manifests concatenated): EVENTS domain
 *       events, MALFORMED bad ones (garbage bytes, unknown tenant, missing content), each
 *       with a key of its own (binary bytes included) and headers (a traceparent, a
 *       binary non-UTF-8 header twice, a header with a null value), the rest valid
 *       requests of several shapes; writes MANIFEST: one line per input with where it
 *       landed, what must come of it (statuses, SKIPPED reason codes, the notification a
 *       duplicate must name) and, for inputs that must be dead-lettered, the exact value,
 *       key and headers. About 1 in 20 valid requests is scheduled HD_E2E_SCHED_MS ahead
 *       ("AT=<epoch ms>"); about 1 in 40 is scheduled as far and expires a quarter of that
 *       before its time ("EXP=<epoch ms>"), so it is held and then SKIPPED "expired".
 *       About 1 in 40 is "capped": runs of 5 SYSTEM e-mails (distinct content, no
 *       idempotency key) to one user of tenant "p" each ("cap-<first input of the run>"),
 *       the first 3 by offset "EMAIL=SENT", the rest "EMAIL=SKIPPED,WHY=frequency_cap", all
 *       with "CAP=<user's number>/3/5" (inputs that would not fill a run get another shape).
 *       About 1 in 40 is "quiet": a TRANSACTIONAL NORMAL PUSH request with a push token to
 *       tenant "p", "PUSH=SENT,QUIET=<epoch ms>", held by the quiet hours (SCHEDULED
 *       quiet_hours) and sent once they end at QUIET; produced only while they have more
 *       than 20 s to run (their end is read from the tenant in HERALD_CONFIG, as `hd_e2e
 *       config` wrote it), else the slot gets another shape.
 *       HD_E2E_RATE=R paces it at R inputs/s; HD_E2E_PROGRESS=FILE has it rewrite FILE
 *       with the count handed to the producer so far, so a script can act at input N.
 *   hd_e2e repeat RUN MANIFEST N OUT_MANIFEST FIRST
 *       re-sends the idempotency keys of up to N "idem" inputs under new request ids.
 *   hd_e2e verify RUN MANIFEST [TIMEOUT_S]
 *       reads the status topics and the DLQ with read_committed until every expected
 *       outcome is there (then a few idle seconds more, to catch duplicates) and checks
 *       each input's outcomes exactly once: SKIPPED with the expected reason code (a
 *       duplicate's reason naming the first notification), a dead letter with the
 *       input's key, value and headers untouched and the DLQ record keyed and headed as
 *       the input was. With HERALD_PG set, checks the read model holds each notification
 *       exactly once with its final status and history.
 *       A scheduled input must not be queued, sent or (once held) skipped before its
 *       time, and is SCHEDULED at most once; exactly once when a later input of its
 *       partition was processed before its time (so it was processed before it too), or
 *       for every scheduled input with HD_E2E_SCHED_STRICT=1. A quiet input the same with
 *       the end of its quiet hours for its time (HD_E2E_SCHED_STRICT=1 included), its
 *       SCHEDULED with reason code quiet_hours. Past TIMEOUT_S the verifier waits on while
 *       every input still incomplete is a quiet one whose quiet hours end in the next 15
 *       minutes (until 30 s past their end), so a short timeout does not fail a run
 *       produced inside them. The inputs of a capped user must be 5 in one partition, the
 *       first 3 by offset expected SENT and the rest SKIPPED (a manifest that says
 *       otherwise fails), so with each checked exactly once the user got exactly 3 and 2
 *       SKIPPED frequency_cap.
 *       Summary lines a test can match (counts of inputs that passed every check):
 *         SKIPPED reasons checked: D duplicate, E expired
 *         frequency caps checked: U users, S delivered, K SKIPPED frequency_cap
 *         quiet hours checked: Q sent after the window's end, H held (SCHEDULED
 *           quiet_hours), P provably processed before it; queued at most L ms after it
 * Every tenant is "e2e-RUN-...", so runs on one broker and database do not mix.
 *
 * The workload is in e2e/workload.c, the verifier in e2e/verify.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tools/e2e/e2e.h"

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "config"))
        return hd__e2e_config(argv[2]);
    if ((argc == 7 || argc == 8) && !strcmp(argv[1], "produce"))
        return hd__e2e_produce(argv[2], atol(argv[3]), atol(argv[4]), atol(argv[5]), argv[6],
                               argc == 8 ? atol(argv[7]) : 0);
    if (argc == 7 && !strcmp(argv[1], "repeat"))
        return hd__e2e_repeat(argv[2], argv[3], atol(argv[4]), argv[5], atol(argv[6]));
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "verify"))
        return hd__e2e_verify(argv[2], argv[3], argc == 5 ? atoi(argv[4]) : 300);
    fprintf(stderr, "usage: hd_e2e config RUN | produce RUN N MALFORMED EVENTS MANIFEST [FIRST] | "
                    "repeat RUN MANIFEST N OUT_MANIFEST FIRST | "
                    "verify RUN MANIFEST [TIMEOUT_S]\n");
    return 2;
}
