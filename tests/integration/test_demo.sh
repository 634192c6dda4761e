#!/usr/bin/env bash
# `herald demo` on its embedded defaults: no HERALD_BROKERS (librdkafka's mock
# cluster in-process) and no HERALD_PG (a private PostgreSQL in a temporary
# directory), whatever the harness exported. The demo checks its own outcome
# (every sample ends as expected, the API answers as expected) and exits
# non-zero otherwise; this test asserts exit 0 and, line by line, what it shows:
# garbage bytes and an unknown tenant dead-lettered with their codes, an expired
# request SKIPPED "expired", an SMS without a phone FAILED "no_address", by acme's
# preference defaults a WHATSAPP SKIPPED "channel_disabled" and an SMS SCHEDULED
# "quiet_hours", the inbox with items through the API, a read accepted, 401 for a
# bad token.
set -euo pipefail
: "${HERALD_BIN:?}"
work=$(mktemp -d /tmp/herald-test-demo.XXXXXX)
demo_dir=
cleanup() {
    [ -n "$demo_dir" ] && rm -rf "$demo_dir"
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "test_demo: FAIL: $*" >&2
    echo "--- stdout" >&2; cat "$work/out" >&2
    echo "--- stderr (tail)" >&2; tail -30 "$work/err" >&2
    exit 1
}

rc=0
env -u HERALD_BROKERS -u HERALD_PG -u HERALD_STATE_DIR -u HERALD_API_LISTEN \
    timeout 300 "$HERALD_BIN" demo > "$work/out" 2> "$work/err" || rc=$?
# its temporary directory (outbox, state, JWKS), kept by the demo, removed here
demo_dir=$(sed -n 's/^Outbox: *\(\/tmp\/herald-demo-[A-Za-z0-9]*\)\/outbox\/.*/\1/p' "$work/out")
[ "$rc" -eq 0 ] || fail "herald demo exited $rc"

# the embedded parts, not the harness's
grep -q "^Kafka: *librdkafka mock cluster in-process" "$work/out" || fail "not on the mock cluster"
grep -q "^PostgreSQL: private server" "$work/out" || fail "not on a private PostgreSQL"

# LINE must be among the outcome lines of sample [N] (up to the next sample)
outcome() { # N REGEX WHAT
    awk -v n="[$1]" 'index($0, "  " n " ") == 1 { on = 1; next } /^  \[[0-9]+\] / { on = 0 }
                     /^$/ { on = 0 } on' "$work/out" | grep -qE "$2" || fail "sample $1: no $3"
}
outcome 1 '^ +EMAIL +SENT ' "EMAIL SENT for the welcome event"
outcome 1 '^ +IN_APP +SENT ' "IN_APP SENT for the welcome event"
outcome 2 '^ +IN_APP +SENT ' "IN_APP SENT for the order"
outcome 3 '^ +SMS +FAILED .*reason: no_address$' "SMS FAILED no_address without a phone"
outcome 6 '^ +PUSH +SKIPPED .*reason: expired$' "PUSH SKIPPED expired"
outcome 7 '^ +WHATSAPP +SKIPPED .*reason: channel_disabled$' "WHATSAPP SKIPPED by acme's defaults"
outcome 8 '^ +SMS +SCHEDULED .*reason: quiet_hours$' "SMS SCHEDULED in acme's quiet hours"
outcome 9 '^ +dead letter +unknown_tenant by validate: ' "dead letter for the unknown tenant"
outcome 10 '^ +dead letter +malformed by decode: ' "dead letter for the garbage bytes"
grep -q "^  \[10\] garbage bytes on notification.requests$" "$work/out" || fail "sample 10 not shown"
! grep -q "UNEXPECTED" "$work/out" || fail "a sample did not end as expected"

# the API: inbox with items, unread count, a read accepted, another tenant, a bad token
api() { # REGEX WHAT: a request line with its answer, then its check passed
    grep -A2 -E "^  $1$" "$work/out" | grep -q "^    ok: " || fail "API: $2"
}
api 'GET /v1/me/notifications\?channel=IN_APP&limit=10 -> 200' "alice's inbox is not 200 with 2 items"
grep -A1 -E "^  GET /v1/me/notifications\?channel=IN_APP&limit=10 -> 200$" "$work/out" |
    tail -1 | jq -e '.items | length == 2 and all(.channel == "IN_APP")' > /dev/null ||
    fail "alice's inbox body does not hold her 2 IN_APP items"
api 'GET /v1/me/notifications/unread-count -> 200' "the unread count is not 2"
api 'POST /v1/me/notifications/[0-9a-f-]+/read -> 202' "the read was not accepted"
api 'GET /v1/me/notifications -> 200' "carol's list is not her 3 notifications"
api 'GET /v1/me/notifications -> 401' "a bad token was not refused with 401"
! grep -q "FAILED:" "$work/out" || fail "an API check failed"
grep -q "^Demo ok: every sample ended as expected" "$work/out" || fail "no success line"
! grep -qE "ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:" "$work/err" || fail "sanitizer report"
echo "test_demo: ok"
