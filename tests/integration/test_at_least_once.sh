#!/usr/bin/env bash
# HERALD_PROCESSING=at_least_once on a real broker: the same processors without
# transactions. With no crash nothing may be lost or duplicated either: 600 inputs
# (malformed ones, domain events, repeats of idempotency keys, scheduled requests)
# through `herald run --role pipeline`, checked by the exactly-once verifier
# (tests/tools/hd_e2e). A crash in this mode may duplicate; that is what the mode is.
set -euo pipefail
: "${HERALD_BIN:?}" "${HERALD_BUILD_DIR:?}" "${HERALD_BROKERS:?}"
tools=$HERALD_BUILD_DIR/tests
work=$(mktemp -d /tmp/herald-test-alos.XXXXXX)
run_pid=
cleanup() {
    [ -n "$run_pid" ] && { kill -TERM "$run_pid" 2>/dev/null || true; wait "$run_pid" 2>/dev/null || true; }
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "test_at_least_once: FAIL: $*" >&2
    grep -v dead-lettered "$work/run.log" 2>/dev/null | tail -20 >&2
    exit 1
}

run=a$(date +%s)$RANDOM
HD_E2E_QUIET_MIN=0 "$tools/hd_e2e" config "$run" > "$work/config.json"
export HERALD_CONFIG=$work/config.json HERALD_OUTBOX_DIR=$work/outbox HERALD_INSTANCE_ID=alos-$run
export HERALD_STATE_DIR=$work/state HERALD_PROCESSING=at_least_once
unset HERALD_PG
"$HERALD_BIN" run --role pipeline > "$work/run.log" 2>&1 &
run_pid=$!
for _ in $(seq 1 300); do
    grep -q "herald-pipeline: assigned [1-9]" "$work/run.log" 2>/dev/null && break
    kill -0 "$run_pid" 2>/dev/null || fail "herald run exited"
    sleep 0.2
done
HD_E2E_SCHED_MS=4000 "$tools/hd_e2e" produce "$run" 600 30 60 "$work/manifest.0" > /dev/null
"$tools/hd_e2e" repeat "$run" "$work/manifest.0" 1000 "$work/manifest.r" 600 > /dev/null
cat "$work"/manifest.* > "$work/manifest.txt"
"$tools/hd_e2e" verify "$run" "$work/manifest.txt" 300 | tee "$work/verify.out" || fail "verifier"
grep -q "^topic totals match the workload's" "$work/verify.out" || fail "topic totals differ"
kill -TERM "$run_pid"
wait "$run_pid" || fail "herald run exited non-zero after SIGTERM"
run_pid=
grep -q "herald-pipeline: at-least-once: no transactions" "$work/run.log" || fail "the task did not run at-least-once"
! grep -q "exactly-once: transactional id" "$work/run.log" || fail "a transactional task ran"
echo "at-least-once: ok"
