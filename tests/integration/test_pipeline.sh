#!/usr/bin/env bash
# The pipeline end to end on the harness's real Kafka and PostgreSQL:
# 1,000 inputs (850 valid requests of six shapes, some scheduled, some
# scheduled to expire before their time, 100 domain events routed by rules, 50
# malformed: garbage bytes, unknown tenant, missing content, each with its own
# binary key and headers), then every idempotency-key request again under a new
# request id, through `herald run` (route, validate, dedup, schedule, render,
# dispatch, materializer). The verifier (tests/tools/hd_e2e) checks with
# read_committed that every input has exactly its expected statuses once, with
# the expected SKIPPED reason (a duplicate naming the first notification, an
# expired request "expired", also when it expired while held), that each
# malformed input is one dead letter carrying its original key, bytes and
# headers (the DLQ record too), and that PostgreSQL holds every notification
# once with its final status and history (IN_APP rows = inbox items). Then the
# API, on the same data: a user sees exactly their own rows, and another
# tenant's user with the same user id sees none of them and gets 404 on them;
# the owner's POST read comes back through Kafka as read_at and a lower unread count.
set -euo pipefail
: "${HERALD_BIN:?}" "${HERALD_BUILD_DIR:?}" "${HERALD_PG:?}" "${HERALD_BROKERS:?}"
tools=$HERALD_BUILD_DIR/tests
work=$(mktemp -d /tmp/herald-test-pipeline.XXXXXX)
run_pid= api_pid=
cleanup() {
    for p in $run_pid $api_pid; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "test_pipeline: FAIL: $*" >&2
    for f in "$work"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done
    exit 1
}

run=p$(date +%s)$RANDOM
# the preference tenant's quiet hours end 1-2 minutes from now (whole minutes): time enough
# for every "quiet" input to be held first
HD_E2E_QUIET_MIN=2 "$tools/hd_e2e" config "$run" > "$work/config.json"
export HERALD_CONFIG=$work/config.json HERALD_OUTBOX_DIR=$work/outbox HERALD_INSTANCE_ID=pipe-$run
export HERALD_STATE_DIR=$work/state
"$HERALD_BIN" migrate > /dev/null
"$HERALD_BIN" run > "$work/run.log" 2>&1 &
run_pid=$!
# produce once the pipeline owns its partitions (a previous test's static member may hold
# the group until its session times out), so scheduled inputs, due 20 s after they are
# produced, are held before their time
for _ in $(seq 1 300); do
    grep -q "herald-pipeline: assigned [1-9]" "$work/run.log" 2>/dev/null && break
    kill -0 "$run_pid" 2>/dev/null || fail "herald run exited"
    sleep 0.2
done
HD_E2E_SCHED_MS=20000 "$tools/hd_e2e" produce "$run" 1000 50 100 "$work/manifest.0"
"$tools/hd_e2e" repeat "$run" "$work/manifest.0" 1000 "$work/manifest.r" 1000
cat "$work/manifest.0" "$work/manifest.r" > "$work/manifest.txt"
HD_E2E_SCHED_STRICT=1 "$tools/hd_e2e" verify "$run" "$work/manifest.txt" 300 | tee "$work/verify.out" \
    || fail "verifier"
# the new checks ran on every input they apply to (a workload without them would pass silently)
count() { grep -c "$1" "$work/manifest.txt" || true; }
malformed=$(count '^bad_') repeats=$(count '^repeat ') expired=$(count '^expired \|^sched_expired ')
[ "$malformed" -eq 50 ] && [ "$repeats" -gt 0 ] && [ "$(count '^sched_expired ')" -gt 0 ] ||
    fail "workload: $malformed malformed, $repeats repeats, $(count '^sched_expired ') held-then-expired"
capped=$(count '^capped ') capskip=$(count '^capped .*WHY=frequency_cap') quiet=$(count '^quiet ')
[ "$capped" -gt 0 ] && [ $((capped % 5)) -eq 0 ] && [ "$capskip" -eq $((capped * 2 / 5)) ] && [ "$quiet" -gt 0 ] ||
    fail "workload: $capped capped ($capskip over the cap), $quiet quiet"
grep -q "^frequency caps checked: $((capped / 5)) users, $((capped - capskip)) delivered, $capskip SKIPPED frequency_cap$" "$work/verify.out" ||
    fail "not every capped input was checked: $(grep '^frequency caps checked' "$work/verify.out")"
grep -q "^quiet hours checked: $quiet sent after the window's end, $quiet held (SCHEDULED quiet_hours), $quiet provably processed before it;" "$work/verify.out" ||
    fail "not every quiet input was checked: $(grep '^quiet hours checked' "$work/verify.out")"
grep -q "^dead letters with the input's key, value and headers: $malformed ($((malformed * 4)) headers); SKIPPED reasons checked: $repeats duplicate, $expired expired$" "$work/verify.out" ||
    fail "not every dead letter or SKIPPED reason was checked: $(grep '^dead letters with' "$work/verify.out")"
# ... and they can fail: a manifest that differs from what was sent in one dead letter's key,
# one's headers (an empty value where a null was sent), one's value, one duplicate's first
# notification, one held-then-expired request's reason code, one capped input over the cap
# expected delivered and one quiet input's window said to end an hour later fails the
# verifier, naming each
awk '/^bad_/ && n < 3 { n++; if (n == 1) $8 = "41" $8; if (n == 2) sub(/e2e-null$/, "e2e-null=", $9)
                        if (n == 3) $7 = "ff" $7; print $5 > "'"$work/tampered.ids"'" }
     /^repeat / && !d { d = 1; sub(/DUP=[0-9a-f-]*/, "DUP=00000000-0000-5000-8000-000000000000")
                        print $5 > "'"$work/tampered.ids"'" }
     /^sched_expired / && !w { w = 1; sub(/WHY=expired/, "WHY=duplicate"); print $5 > "'"$work/tampered.ids"'" }
     /^capped .*WHY=frequency_cap/ && !c { c = 1; sub(/EMAIL=SKIPPED,WHY=frequency_cap/, "EMAIL=SENT")
                                           print $5 > "'"$work/tampered.ids"'" }
     /^quiet / && !q { q = 1; match($6, /QUIET=[0-9]+/); t = substr($6, RSTART + 6, RLENGTH - 6)
                       sub(/QUIET=[0-9]+/, sprintf("QUIET=%.0f", t + 3600000), $6)
                       print $5 > "'"$work/tampered.ids"'" }
     { print }' "$work/manifest.txt" > "$work/manifest.tampered"
[ "$(wc -l < "$work/tampered.ids")" -eq 7 ] || fail "could not tamper with 7 manifest lines"
if env -u HERALD_PG "$tools/hd_e2e" verify "$run" "$work/manifest.tampered" 120 > "$work/tampered.out" 2> "$work/tampered.err"; then
    fail "the verifier passed a manifest with 7 wrong expectations"
fi
grep -q "inputs with problems 7$" "$work/tampered.out" || fail "tampered: $(grep 'inputs with problems' "$work/tampered.out")"
for why in "key is not the input's key" "headers are not the input's headers" \
    "value is not the input's bytes" "does not name 00000000-0000-5000-8000-000000000000" \
    "SKIPPED with reason code expired, want duplicate" \
    "by offset expects EMAIL SENT, but the cap lets the first 3 through" \
    "in quiet hours until"; do
    grep -qF "$why" "$work/tampered.err" || fail "the verifier did not report: $why"
done
while read -r id; do grep -qF " $id (" "$work/tampered.err" || fail "tampered input $id not named"; done < "$work/tampered.ids"
# scheduled requests (about 1 in 20) were held and released within a second of their time
late=$(sed -n 's/.*latest release \(-\{0,1\}[0-9]*\) ms after.*/\1/p' "$work/verify.out")
[ -n "$late" ] && [ "$late" -le 1000 ] || fail "a scheduled request was released ${late:-?} ms late"
grep -q "^topic totals match the workload's" "$work/verify.out" \
    || fail "status topic totals differ from the workload's: $(grep totals "$work/verify.out")"
# the outbox got one line per EMAIL/SMS notification sent (at least once; no crash here, so once)
emails=$(wc -l < "$work/outbox/EMAIL.jsonl")
[ "$emails" -gt 0 ] || fail "no EMAIL outbox lines"
dups=$(jq -r .notification_id "$work/outbox/EMAIL.jsonl" | sort | uniq -d | wc -l)
[ "$dups" -eq 0 ] || fail "$dups duplicate EMAIL outbox lines without a crash"

# API on the same data
"$tools/hd_token" keygen "$work/keys" > /dev/null
HERALD_JWKS=$work/keys/jwks.json "$HERALD_BIN" api --listen 127.0.0.1:0 > "$work/api.out" 2> "$work/api.log" &
api_pid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$work/api.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*listening on .*:\([0-9]*\).*/\1/p' "$work/api.out" | head -1)
[ -n "$port" ] || fail "herald api did not start"
list_ids() { # TOKEN: every id of every page
    local cursor="" body
    while :; do
        body=$(curl -sS --max-time 30 -H "Authorization: Bearer $1" \
            "http://127.0.0.1:$port/v1/me/notifications?limit=50${cursor:+&cursor=$cursor}")
        jq -r '.items[].id' <<<"$body"
        cursor=$(jq -r '.next_cursor // empty' <<<"$body")
        [ -n "$cursor" ] || break
    done
}
ta=e2e-$run-a tb=e2e-$run-b
tok_a=$("$tools/hd_token" sign "$work/keys" user-1 "$ta")
tok_b=$("$tools/hd_token" sign "$work/keys" user-1 "$tb")
list_ids "$tok_a" | sort > "$work/api_a.txt"
psql "$HERALD_PG" -Atc "SELECT notification_id FROM notifications WHERE tenant_id = '$ta' AND user_id = 'user-1' AND deleted_at IS NULL" | sort > "$work/pg_a.txt"
[ -s "$work/pg_a.txt" ] || fail "no rows for $ta/user-1 in the read model"
cmp -s "$work/api_a.txt" "$work/pg_a.txt" || fail "API list for $ta/user-1 differs from its rows ($(wc -l < "$work/api_a.txt") vs $(wc -l < "$work/pg_a.txt"))"
list_ids "$tok_b" | sort > "$work/api_b.txt"
[ -z "$(comm -12 "$work/api_a.txt" "$work/api_b.txt")" ] || fail "tenant $tb sees tenant $ta's notifications"
victim=$(head -1 "$work/api_a.txt")
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $tok_b" \
    "http://127.0.0.1:$port/v1/me/notifications/$victim/read")
[ "$code" = 404 ] || fail "another tenant's notification answered $code, not 404"
unread() {
    curl -sS --max-time 30 -H "Authorization: Bearer $tok_a" \
        "http://127.0.0.1:$port/v1/me/notifications/unread-count" | jq -r .unread
}
# mark an unread IN_APP notification read: API -> herald.receipts -> status -> notification.read
# -> materializer -> read_at, visible through the API
victim=$(psql "$HERALD_PG" -Atc "SELECT notification_id FROM notifications WHERE tenant_id = '$ta' AND user_id = 'user-1' AND channel = 'IN_APP' AND read_at IS NULL LIMIT 1")
[ -n "$victim" ] || fail "no unread IN_APP notification for $ta/user-1"
before=$(unread)
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $tok_a" \
    "http://127.0.0.1:$port/v1/me/notifications/$victim/read")
[ "$code" = 202 ] || fail "the owner's read answered $code, not 202"
read_at=
for _ in $(seq 1 150); do
    read_at=$(curl -sS --max-time 30 -H "Authorization: Bearer $tok_a" \
        "http://127.0.0.1:$port/v1/me/notifications?status=read&limit=100" |
        jq -r --arg id "$victim" '.items[] | select(.id == $id) | .read_at')
    [ -n "$read_at" ] && [ "$read_at" != null ] && break
    sleep 0.2
done
[ -n "$read_at" ] && [ "$read_at" != null ] || fail "read_at of $victim never appeared through the API"
after=$(unread)
[ "$after" -eq $((before - 1)) ] || fail "unread count went from $before to $after, not down by one"
kill -TERM "$run_pid"; wait "$run_pid" || fail "herald run exited non-zero on SIGTERM"; run_pid=
! grep -qE "ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:" "$work"/*.log || fail "sanitizer report"
echo "test_pipeline: ok ($(wc -l < "$work/api_a.txt") notifications for $ta/user-1 via the API)"
