#!/usr/bin/env bash
# The state check the crash test ends with (tests/tools/hd_state_check) on a real
# broker: after requests with idempotency keys and scheduled ones went through
# `herald run` and it stopped cleanly, every local store equals a rebuild from its whole
# changelog (--caught-up); a store put back to an older copy after more requests went
# through lags its changelog, which --caught-up fails and the plain check (lag is lawful
# after a kill -9) passes; a key written into one store behind the changelog's back
# makes the check fail, naming the store.
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
HD_E2E_QUIET_MIN=0 "$tools/hd_e2e" config "$run" > "$work/config.json"
export HERALD_CONFIG=$work/config.json HERALD_OUTBOX_DIR=$work/outbox HERALD_INSTANCE_ID=state-$run
export HERALD_STATE_DIR=$work/state
unset HERALD_PG
run_requests() { # N FIRST MANIFEST: through a fresh `herald run`, stopped with SIGTERM;
    # the verifier checks every input of the run so far (its topic totals are the run's)
    "$HERALD_BIN" run --role pipeline >> "$work/run.log" 2>&1 &
    run_pid=$!
    local assigned
    assigned=$(grep -c "herald-pipeline: assigned [1-9]" "$work/run.log" 2>/dev/null || true)
    for _ in $(seq 1 300); do
        [ "$(grep -c "herald-pipeline: assigned [1-9]" "$work/run.log" || true)" -gt "$assigned" ] && break
        sleep 0.2
    done
    HD_E2E_SCHED_MS=3000 "$tools/hd_e2e" produce "$run" "$1" 0 0 "$3" "$2" > /dev/null
    cat "$3" >> "$work/manifest.all"
    "$tools/hd_e2e" verify "$run" "$work/manifest.all" 120 > /dev/null || fail "verifier"
    kill -TERM "$run_pid"; wait "$run_pid" || fail "herald run exited non-zero"; run_pid=
}
run_requests 400 0 "$work/manifest.txt"

"$tools/hd_state_check" --caught-up herald-pipeline dedup timers > "$work/check.out" 2>&1 || fail "state check on a clean run"
grep -q "^state ok: 12 stores checked, 0 behind" "$work/check.out" || fail "not every store was checked"
keys=$(awk '/^dedup\[[0-9]+\]: [0-9]+ keys/ { s += $2 } END { print s + 0 }' "$work/check.out")
[ "$keys" -ge 300 ] || fail "only $keys dedup keys checked for 400 requests (about 390 expected)"

# a store that lags: its copy from before 200 more requests went through
stores=$work/state/herald-pipeline/state-$run
cp -a "$stores/dedup-0" "$work/dedup-0.old"
run_requests 200 400 "$work/manifest2.txt"
"$tools/hd_state_check" --caught-up herald-pipeline dedup timers > "$work/check.out" 2>&1 || fail "state check after the second run"
rm -rf "$stores/dedup-0"; mv "$work/dedup-0.old" "$stores/dedup-0"
if "$tools/hd_state_check" --caught-up herald-pipeline dedup timers > "$work/check.out" 2>&1; then
    fail "--caught-up passed on a store behind its changelog"
fi
grep -q "^  dedup\[0\]: [0-9]* committed changelog records past the applied offset" "$work/check.out" ||
    fail "the lagging store was not named"
"$tools/hd_state_check" herald-pipeline dedup timers > "$work/check.out" 2>&1 ||
    fail "the plain check failed on a store that only lags"
grep -q "^state ok: 12 stores checked, 1 behind" "$work/check.out" || fail "the lag was not reported"

# one key behind the changelog's back: the check must fail and name the store
store=$(ls -d "$stores"/dedup-* | head -1)
"$tools/hd_store_poke" "$store" "not-in-the-changelog" "x"
if "$tools/hd_state_check" herald-pipeline dedup timers > "$work/check.out" 2>&1; then
    fail "the state check passed on a store with a key the changelog does not have"
fi
grep -q "^dedup\[${store##*-}\]: .* DIFFERS" "$work/check.out" || fail "the differing store was not named"
echo "state check: ok ($keys dedup keys)"
