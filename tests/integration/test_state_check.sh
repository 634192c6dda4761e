#!/usr/bin/env bash
# The state check the crash test ends with (tests/tools/hd_state_check) on a real
# broker: after requests with idempotency keys and scheduled ones went through
# `herald run`, every local store equals a rebuild from its changelog; a key written
# into one store behind the changelog's back makes the check fail, naming the store.
set -euo pipefail
: "${HERALD_BIN:?}" "${HERALD_BUILD_DIR:?}" "${HERALD_BROKERS:?}"
tools=$HERALD_BUILD_DIR/tests
work=$(mktemp -d /tmp/herald-test-state.XXXXXX)
run_pid=
cleanup() {
    [ -n "$run_pid" ] && { kill -TERM "$run_pid" 2>/dev/null || true; wait "$run_pid" 2>/dev/null || true; }
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "test_state_check: FAIL: $*" >&2; cat "$work/check.out" 2>/dev/null >&2; exit 1; }

run=s$(date +%s)$RANDOM
"$tools/hd_e2e" config "$run" > "$work/config.json"
export HERALD_CONFIG=$work/config.json HERALD_OUTBOX_DIR=$work/outbox HERALD_INSTANCE_ID=state-$run
export HERALD_STATE_DIR=$work/state
unset HERALD_PG
"$HERALD_BIN" run --role pipeline > "$work/run.log" 2>&1 &
run_pid=$!
for _ in $(seq 1 300); do
    grep -q "herald-pipeline: assigned [1-9]" "$work/run.log" 2>/dev/null && break
    sleep 0.2
done
HD_E2E_SCHED_MS=3000 "$tools/hd_e2e" produce "$run" 400 0 0 "$work/manifest.txt" > /dev/null
"$tools/hd_e2e" verify "$run" "$work/manifest.txt" 120 > /dev/null || fail "verifier"
kill -TERM "$run_pid"; wait "$run_pid" || fail "herald run exited non-zero"; run_pid=

"$tools/hd_state_check" herald-pipeline dedup timers > "$work/check.out" 2>&1 || fail "state check on a clean run"
grep -q "^state ok: 12 stores checked" "$work/check.out" || fail "not every store was checked"
keys=$(awk '/^dedup\[[0-9]+\]: [0-9]+ keys/ { s += $2 } END { print s + 0 }' "$work/check.out")
[ "$keys" -ge 300 ] || fail "only $keys dedup keys checked for 400 requests (about 390 expected)"

# one key behind the changelog's back: the check must fail and name the store
store=$(ls -d "$work/state/herald-pipeline/state-$run"/dedup-* | head -1)
"$tools/hd_store_poke" "$store" "not-in-the-changelog" "x"
if "$tools/hd_state_check" herald-pipeline dedup timers > "$work/check.out" 2>&1; then
    fail "the state check passed on a store with a key the changelog does not have"
fi
grep -q "^dedup\[${store##*-}\]: .* DIFFERS" "$work/check.out" || fail "the differing store was not named"
echo "state check: ok ($keys dedup keys)"
