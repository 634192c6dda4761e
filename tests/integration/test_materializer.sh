#!/usr/bin/env bash
# `herald migrate` and the materializer against the harness's real PostgreSQL
# and Kafka broker.
#
#   - migrate: a clear error without HERALD_PG; on a scratch database, --status
#     lists everything pending, two concurrent runs apply each migration exactly
#     once, a rerun applies nothing, and every file can run again unchanged;
#   - the materializer (tests/tools/hd_mat_check.c): rows and statuses from
#     out-of-order topics, restart from the stored offsets, replay from offset 0
#     changing nothing, reconnects after PostgreSQL kills its connection, a
#     record PostgreSQL rejects skipped alone, row-level security per tenant;
#   - its logs: the skipped records and the recoveries are reported, with no
#     tenant data.
set -euo pipefail
: "${HERALD_BIN:?}" "${HERALD_BUILD_DIR:?}" "${HERALD_SOURCE_DIR:?}" "${HERALD_PG:?}" "${HERALD_BROKERS:?}"

TOOL=$HERALD_BUILD_DIR/tests/hd_mat_check
PSQL=${HERALD_PG_BINDIR:+$HERALD_PG_BINDIR/}psql
RUN=$(printf '%x%04x%04x' "$(date +%s)" "$RANDOM" "$$")
SCRATCH=herald_mig_$RUN
WORK=$(mktemp -d)
export HERALD_LOG_LEVEL=info # the checks below read the warnings and infos

psql_q() { "$PSQL" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
    psql_q -d "$HERALD_PG" -c "DROP DATABASE IF EXISTS $SCRATCH" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}
step() { printf -- '--- %s\n' "$*"; }
# Fails unless file $1 has a line matching extended regex $2.
has() { grep -Eq -- "$2" "$1" || fail "$(basename "$1") has no line matching /$2/: $(head -c 2000 "$1")"; }

[ -x "$TOOL" ] || fail "$TOOL is missing (built from tests/tools/hd_mat_check.c)"
MIGRATIONS=$(find "$HERALD_SOURCE_DIR/schemas/sql" -name '[0-9]*_*.sql' | sort)
N=$(printf '%s\n' "$MIGRATIONS" | grep -c .)

step "migrate without HERALD_PG fails and says so"
if env -u HERALD_PG "$HERALD_BIN" migrate >"$WORK/nopg" 2>&1; then fail "migrate succeeded without HERALD_PG"; fi
has "$WORK/nopg" 'HERALD_PG is not set'

step "a fresh database: --status lists all $N migrations as pending"
psql_q -d "$HERALD_PG" -c "CREATE DATABASE $SCRATCH"
SCRATCH_PG="$HERALD_PG dbname=$SCRATCH"
HERALD_PG=$SCRATCH_PG "$HERALD_BIN" migrate --status >"$WORK/status0"
has "$WORK/status0" "^0 applied, $N pending$"

step "two concurrent runs apply each migration exactly once"
HERALD_PG=$SCRATCH_PG "$HERALD_BIN" migrate >"$WORK/m1" 2>&1 &
p1=$!
HERALD_PG=$SCRATCH_PG "$HERALD_BIN" migrate >"$WORK/m2" 2>&1 &
p2=$!
wait $p1 || fail "first concurrent migrate failed: $(cat "$WORK/m1")"
wait $p2 || fail "second concurrent migrate failed: $(cat "$WORK/m2")"
applied=$(cat "$WORK/m1" "$WORK/m2" | grep -c 'applied migration [0-9]' || true)
[ "$applied" = "$N" ] || fail "the two runs applied $applied migrations between them, want $N"
has "$WORK/m1" "^database up to date: $N migrations applied"
has "$WORK/m2" "^database up to date: $N migrations applied"
rows=$(psql_q -d "$SCRATCH_PG" -c "SELECT count(*) || '/' || count(DISTINCT version) FROM schema_migrations")
[ "$rows" = "$N/$N" ] || fail "schema_migrations holds $rows rows/versions, want $N/$N"

step "a rerun applies nothing and --status shows everything applied"
HERALD_PG=$SCRATCH_PG "$HERALD_BIN" migrate >"$WORK/m3" 2>&1
if grep -q 'applied migration' "$WORK/m3"; then fail "the rerun applied: $(cat "$WORK/m3")"; fi
has "$WORK/m3" "^database up to date: $N migrations applied"
HERALD_PG=$SCRATCH_PG "$HERALD_BIN" migrate --status >"$WORK/status1"
has "$WORK/status1" "^$N applied, 0 pending$"
for f in $MIGRATIONS; do has "$WORK/status1" "^$(basename "$f") +applied "; done

step "every migration file runs again on the migrated database without error"
for f in $MIGRATIONS; do
    psql_q -d "$SCRATCH_PG" -1 -f "$f" >"$WORK/rerun" 2>&1 || fail "$(basename "$f") is not idempotent: $(cat "$WORK/rerun")"
done
psql_q -d "$HERALD_PG" -c "DROP DATABASE $SCRATCH"

step "the shared database is migrated"
"$HERALD_BIN" migrate >"$WORK/shared"
has "$WORK/shared" 'database up to date'

step "materializer against Kafka and PostgreSQL (run $RUN)"
if ! "$TOOL" "$RUN" 2>"$WORK/tool.log"; then
    printf -- '----- last 60 log lines -----\n' >&2
    tail -n 60 "$WORK/tool.log" >&2
    fail "hd_mat_check failed"
fi

step "its log reports skipped records and recoveries, and carries no tenant data"
skipped=$(grep -Ec 'skipping notification\.[a-z]+ \[[0-9]+\] offset [0-9]+: ' "$WORK/tool.log" || true)
[ "$skipped" -ge 4 ] || fail "$skipped skipped records logged, want at least the 4 invalid ones"
has "$WORK/tool.log" 'timestamp -1 out of range'
has "$WORK/tool.log" 'stored offsets unknown'
has "$WORK/tool.log" 'batch of [0-9]+ records not applied'
has "$WORK/tool.log" 'resumed from the offsets stored in PostgreSQL'
has "$WORK/tool.log" 'rejected by PostgreSQL \(SQLSTATE 23514\)'
if grep -E -- "(t1|t2|poison)-$RUN" "$WORK/tool.log" >"$WORK/leak"; then
    fail "tenant ids in the log: $(head -3 "$WORK/leak")"
fi
echo "materializer: all checks passed"
