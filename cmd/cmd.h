/*
 * Subcommands of the one `herald` binary. Each lives in cmd/<name>.c and
 * returns the process exit code (0 ok, 1 failure, 2 usage error). `cfg` is
 * filled from the environment before the call; a subcommand may override
 * fields from its flags.
 */
#ifndef HD_CMD_H
#define HD_CMD_H

#include "core/config.h"
#include "schemas/records.h"

int hd_cmd_send(int argc, char **argv, struct hd_config *cfg);
int hd_cmd_tail(int argc, char **argv, struct hd_config *cfg);
int hd_cmd_topics(int argc, char **argv, struct hd_config *cfg);
int hd_cmd_plugins(int argc, char **argv, struct hd_config *cfg);
/* Loads every processor's and provider's settings (their config maps) as a task would:
 * 0, or -1 with err naming the first bad one (cmd/plugins.c; herald run calls it first). */
int hd__plugins_check(const struct hd_config *cfg, char *err, size_t n);
int hd_cmd_run(int argc, char **argv, struct hd_config *cfg);
int hd_cmd_migrate(int argc, char **argv, struct hd_config *cfg);
int hd_cmd_api(int argc, char **argv, struct hd_config *cfg);
int hd_cmd_demo(int argc, char **argv, struct hd_config *cfg);
int hd_cmd_bench(int argc, char **argv, struct hd_config *cfg);
/* `herald bench templates ...` and `herald bench state ...` (cmd/bench_*.c). */
int hd_cmd_bench_templates(int argc, char **argv, struct hd_config *cfg);
int hd_cmd_bench_state(int argc, char **argv, struct hd_config *cfg);

/* The benchmarks' request (cmd/bench.c): one EMAIL with inline content to
 * someone@example.com, TRANSACTIONAL, NORMAL, for `tenant` (borrowed); the caller sets
 * request_id, user_id, idempotency_key and created_at. r points into the struct, so it
 * must not be copied. */
struct hd__bench_req {
    enum hd_channel ch;
    struct hd_content content;
    struct hd_recipient rcpt;
    struct hd_request r;
};
void hd__bench_req_init(struct hd__bench_req *b, const char *tenant);
int hd_cmd_config(int argc, char **argv, struct hd_config *cfg);
/* `herald prefs` and `herald suppress` (cmd/prefs.c). */
int hd_cmd_prefs(int argc, char **argv, struct hd_config *cfg);
int hd_cmd_suppress(int argc, char **argv, struct hd_config *cfg);
int hd_cmd_render(int argc, char **argv, struct hd_config *cfg);

#endif
