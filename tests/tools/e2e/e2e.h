/*
 * hd_e2e's commands (tests/tools/hd_e2e.c has the usage): the workload in
 * workload.c, the verifier in verify.c.
 */
#ifndef HD_E2E_H
#define HD_E2E_H

#include "core/config.h"

/* The run's config from the environment; exits 2 when HERALD_BROKERS is unset. */
void hd__e2e_cfg(struct hd_config *c);

int hd__e2e_config(const char *run);
int hd__e2e_produce(const char *run, long n, long malformed, long events, const char *manifest,
                    long first);
int hd__e2e_repeat(const char *run, const char *in_manifest, long n, const char *out_manifest,
                   long first);
int hd__e2e_verify(const char *run, const char *manifest, int timeout_s);

#endif
