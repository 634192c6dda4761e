/*
 * hd_e2e: end-to-end workload and verifier for the integration and crash
 * tests, on a real broker.
 *
 *   hd_e2e config RUN                      tenants + rules for the run (JSON, stdout)
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
 *       for every scheduled input with HD_E2E_SCHED_STRICT=1.
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
