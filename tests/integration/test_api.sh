#!/usr/bin/env bash
# The read API end to end on the harness's PostgreSQL and Kafka: `herald api`
# with a JWKS from tests/tools/hd_token, fixture rows for two tenants and
# two users written as the tables' owner, then curl against every endpoint:
# auth failures, tenant and user isolation (the same notification id exists
# in both tenants), order and cursor pages that cover every row once,
# filters, the unread count, POST read producing a UserAction that is found
# on herald.receipts, error shapes, health, and a clean SIGTERM shutdown.
set -euo pipefail
: "${HERALD_BIN:?}" "${HERALD_BUILD_DIR:?}" "${HERALD_PG:?}" "${HERALD_BROKERS:?}"
: "${HERALD_HARNESS_DIR:?}" "${HERALD_SOURCE_DIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
TOOLS=$HERALD_BUILD_DIR/tests
HD_TOKEN=$TOOLS/hd_token
for t in "$HD_TOKEN" curl jq psql; do
    command -v "$t" >/dev/null || { echo "test_api: $t not found" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/herald-test-api.XXXXXX)
API_PID=
API2_PID=
STOP_RC=
stop_pid() { # PID: SIGTERM, wait; sets STOP_RC to its exit status
    STOP_RC=0
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" || STOP_RC=$?
}
cleanup() {
    [ -z "$API_PID" ] || stop_pid "$API_PID"
    [ -z "$API2_PID" ] || stop_pid "$API2_PID"
    rm -rf "$WORK"
}
trap cleanup EXIT

CHECKS=0
fail() {
    echo "test_api: FAIL: $*" >&2
    [ -f "$WORK/api.log" ] && { echo "--- api log (tail)" >&2; tail -n 30 "$WORK/api.log" >&2; }
    exit 1
}
ok() { CHECKS=$((CHECKS + 1)); }

# req METHOD PATH [TOKEN] [extra curl args...]: sets CODE and BODY.
req() {
    local m=$1 p=$2 t=${3:-}
    shift $(($# < 3 ? $# : 3))
    local args=(-sS -o "$WORK/body" -w '%{http_code}' -X "$m" --max-time 60)
    [ -n "$t" ] && args+=(-H "Authorization: Bearer $t")
    CODE=$(curl "${args[@]}" "$@" "$BASE$p") || fail "curl $m $p failed"
    BODY=$(cat "$WORK/body")
}
expect() { # STATUS DESCRIPTION
    [ "$CODE" = "$1" ] || fail "$2: HTTP $CODE, expected $1: $BODY"
    ok
}
jqe() { jq -r "$1" <<<"$BODY"; }
expect_error() { # STATUS CODE FIELD|- DESCRIPTION
    expect "$1" "$4"
    [ "$(jqe '.error.code')" = "$2" ] || fail "$4: error code $(jqe .error.code), expected $2: $BODY"
    [ -n "$(jqe '.error.message // empty')" ] || fail "$4: no error message: $BODY"
    if [ "$3" != - ]; then
        [ "$(jqe '.error.field')" = "$3" ] || fail "$4: field $(jqe .error.field), expected $3"
    fi
    ok
}

# Starts `herald api` on a free port with extra environment; sets PID_OUT and PORT_OUT.
start_api() { # LOGFILE [VAR=value ...]
    local log=$1
    shift
    env "$@" HERALD_LOG_LEVEL=debug "$HERALD_BIN" api --listen 127.0.0.1:0 \
        >"$log.out" 2>"$log" &
    PID_OUT=$!
    local i
    for i in $(seq 1 300); do
        PORT_OUT=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$log.out")
        [ -n "$PORT_OUT" ] && return 0
        kill -0 "$PID_OUT" 2>/dev/null || { cat "$log" >&2; fail "herald api exited at start"; }
        sleep 0.1
    done
    fail "herald api did not report its port"
}

# ---- setup: schema, topics, keys, fixtures ----
"$HERALD_BIN" migrate >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log" >&2; fail "herald migrate"; }
"$HERALD_BIN" topics >"$WORK/topics.log" 2>&1 || { cat "$WORK/topics.log" >&2; fail "herald topics"; }
"$HD_TOKEN" keygen "$WORK/keys" || fail "hd_token keygen"
"$HD_TOKEN" keygen "$WORK/other-keys" || fail "hd_token keygen (second key)"

SUF=$(date +%s%N)
TA=acme-$SUF
TB=globex-$SUF
ID() { printf '00000000-0000-4000-8000-%012d' "$1"; }

# acme/alice: rows 1..25, one minute apart (every 5th EMAIL, every 4th read, 13
# deleted) and rows 101..103 sharing the newest created_at (ties broken by id).
# acme/bob: 201..203. globex/alice: rows 1..4 with the *same ids* as acme's,
# and 301 that exists only in globex.
psql "$HERALD_PG" -v ON_ERROR_STOP=1 -q -v ta="$TA" -v tb="$TB" <<'SQL' || fail "fixtures"
INSERT INTO notifications (tenant_id, notification_id, user_id, request_id, channel, category,
                           title, body, data, status, created_at, read_at, deleted_at)
SELECT :'ta', '00000000-0000-4000-8000-' || lpad(i::text, 12, '0'), 'alice', 'req-' || i,
       CASE WHEN i % 5 = 0 THEN 'EMAIL' ELSE 'IN_APP' END, 'TRANSACTIONAL',
       'Title ' || i, 'Body "' || i || '"', jsonb_build_object('n', i, 'k', 'v'), 'DELIVERED',
       timestamptz '2026-01-01 00:00:00+00' + i * interval '1 minute',
       CASE WHEN i % 4 = 0 THEN timestamptz '2026-01-02 00:00:00+00' + i * interval '1 second' END,
       CASE WHEN i = 13 THEN now() END
  FROM generate_series(1, 25) AS i
UNION ALL
SELECT :'ta', '00000000-0000-4000-8000-' || lpad(i::text, 12, '0'), 'alice', 'req-' || i,
       'IN_APP', 'ALERT', 'Tie ' || i, NULL, '{}', 'SENT',
       timestamptz '2026-01-01 00:30:00.123456+00', NULL, NULL
  FROM generate_series(101, 103) AS i
UNION ALL
SELECT :'ta', '00000000-0000-4000-8000-' || lpad(i::text, 12, '0'), 'bob', 'req-' || i,
       'IN_APP', 'SYSTEM', 'Bob ' || i, 'b', '{}', 'DELIVERED',
       timestamptz '2026-01-01 00:00:00+00' + i * interval '1 minute', NULL, NULL
  FROM generate_series(201, 203) AS i
UNION ALL
SELECT :'tb', '00000000-0000-4000-8000-' || lpad(i::text, 12, '0'), 'alice', 'g-req-' || i,
       'IN_APP', 'MARKETING', 'Globex ' || i, 'g', '{}', 'DELIVERED',
       timestamptz '2026-02-01 00:00:00+00' + i * interval '1 minute', NULL, NULL
  FROM (SELECT generate_series(1, 4) UNION ALL SELECT 301) AS s(i);
SQL

# The expected inbox of acme/alice, newest first, computed here from the fixture rules.
EXPECTED=("$(ID 103)" "$(ID 102)" "$(ID 101)")
EXP_UNREAD_IN_APP=3 # the three ties
EXP_UNREAD=3
EXP_READ=0
EXP_EMAIL=()
for i in $(seq 25 -1 1); do
    [ "$i" = 13 ] && continue
    EXPECTED+=("$(ID "$i")")
    if [ $((i % 4)) = 0 ]; then EXP_READ=$((EXP_READ + 1)); else EXP_UNREAD=$((EXP_UNREAD + 1)); fi
    [ $((i % 5)) = 0 ] && EXP_EMAIL+=("$(ID "$i")")
    [ $((i % 5)) != 0 ] && [ $((i % 4)) != 0 ] && EXP_UNREAD_IN_APP=$((EXP_UNREAD_IN_APP + 1))
done

ALICE=$("$HD_TOKEN" sign "$WORK/keys" alice "$TA")
BOB=$("$HD_TOKEN" sign "$WORK/keys" bob "$TA")
ALICE_B=$("$HD_TOKEN" sign "$WORK/keys" alice "$TB")
EXPIRED=$("$HD_TOKEN" sign "$WORK/keys" alice "$TA" -3600)
FOREIGN=$("$HD_TOKEN" sign "$WORK/other-keys" alice "$TA")

start_api "$WORK/api.log" HERALD_JWKS="$WORK/keys/jwks.json"
API_PID=$PID_OUT
BASE=http://127.0.0.1:$PORT_OUT

# ---- health ----
req GET /health/live
expect 200 "live"
[ "$(jqe .status)" = ok ] || fail "live body: $BODY"
req GET /health/ready
expect 200 "ready"
[ "$(jqe .checks.postgres.status)/$(jqe .checks.kafka.status)" = ok/ok ] || fail "ready body: $BODY"

# ---- authentication ----
req GET /v1/me/notifications
expect_error 401 unauthorized - "no Authorization header"
grep -qi '^www-authenticate: Bearer' < <(curl -sS -D - -o /dev/null "$BASE/v1/me/notifications") ||
    fail "401 without WWW-Authenticate: Bearer"
ok
req GET /v1/me/notifications "" -H "Authorization: Basic YWxpY2U6cGFzcw=="
expect_error 401 unauthorized - "Basic scheme"
req GET /v1/me/notifications "not-a-jwt"
expect_error 401 unauthorized - "garbage token"
req GET /v1/me/notifications "$EXPIRED"
expect_error 401 unauthorized - "expired token"
jqe .error.message | grep -q expired || fail "expired token: message does not say so: $BODY"
ok
req GET /v1/me/notifications "$FOREIGN"
expect_error 401 unauthorized - "token signed by a key not in the JWKS"
SIG=${ALICE##*.}
[ "${SIG:10:1}" = A ] && SUBST=B || SUBST=A
req GET /v1/me/notifications "${ALICE%.*}.${SIG:0:10}$SUBST${SIG:11}"
expect_error 401 unauthorized - "token with a damaged signature"
if grep -qF "$SIG" "$WORK/api.log"; then fail "a token appears in the server log"; fi
ok

# ---- list, order, fields ----
req GET /v1/me/notifications "$ALICE"
expect 200 "list (default limit)"
[ "$(jqe '.items | length')" = 20 ] || fail "default page is not 20 items: $(jqe '.items | length')"
[ "$(jqe '.next_cursor | type')" = string ] || fail "first page has no next_cursor"
[ "$(jqe '[.items[].id] | join(" ")')" = "${EXPECTED[*]:0:20}" ] || fail "first page order: $(jqe '[.items[].id] | join(" ")')"
jq -e '.items[0] | .channel == "IN_APP" and .category == "ALERT" and .title == "Tie 103"
       and .body == null and .data == {} and .status == "SENT" and .read_at == null
       and .created_at == "2026-01-01T00:30:00.123Z" and .request_id == "req-103"' <<<"$BODY" >/dev/null ||
    fail "item fields: $(jqe '.items[0]')"
jq -e --arg id "$(ID 24)" '.items[] | select(.id == $id) | .data == {"n":24,"k":"v"}
       and .body == "Body \"24\"" and .read_at == "2026-01-02T00:00:24.000Z"
       and .created_at == "2026-01-01T00:24:00.000Z"' <<<"$BODY" >/dev/null ||
    fail "item 24 fields: $BODY"
jq -e '[.items[].title] | all(startswith("Globex") | not)' <<<"$BODY" >/dev/null ||
    fail "another tenant's row in acme's inbox"
ok

# ---- cursor pages cover every row exactly once, in order ----
for lim in 7 1 100; do
    got=()
    cursor=
    pages=0
    while :; do
        q="limit=$lim"
        [ -n "$cursor" ] && q="$q&cursor=$cursor"
        req GET "/v1/me/notifications?$q" "$ALICE"
        expect 200 "page $pages (limit $lim)"
        mapfile -t ids < <(jqe '.items[].id')
        [ "${#ids[@]}" -le "$lim" ] || fail "page larger than limit $lim"
        got+=("${ids[@]}")
        pages=$((pages + 1))
        cursor=$(jqe '.next_cursor // empty')
        [ -n "$cursor" ] || break
        [ $pages -lt 100 ] || fail "pagination does not end"
    done
    [ "${got[*]}" = "${EXPECTED[*]}" ] || fail "limit $lim pages give ${got[*]}, expected ${EXPECTED[*]}"
    ok
done

# ---- filters ----
req GET "/v1/me/notifications?status=unread&limit=100" "$ALICE"
expect 200 "status=unread"
[ "$(jqe '.items | length')" = "$EXP_UNREAD" ] || fail "unread: $(jqe '.items | length') items, expected $EXP_UNREAD"
jq -e '.items | all(.read_at == null)' <<<"$BODY" >/dev/null || fail "unread filter returned a read item"
req GET "/v1/me/notifications?status=read&limit=100" "$ALICE"
expect 200 "status=read"
[ "$(jqe '.items | length')" = "$EXP_READ" ] || fail "read: $(jqe '.items | length') items, expected $EXP_READ"
jq -e '.items | all(.read_at != null)' <<<"$BODY" >/dev/null || fail "read filter returned an unread item"
req GET "/v1/me/notifications?channel=EMAIL&limit=2" "$ALICE"
expect 200 "channel=EMAIL"
c=$(jqe .next_cursor)
emails=$(jqe '[.items[].id] | join(" ")')
req GET "/v1/me/notifications?channel=EMAIL&limit=2&cursor=$c" "$ALICE"
emails="$emails $(jqe '[.items[].id] | join(" ")')"
c=$(jqe .next_cursor)
req GET "/v1/me/notifications?channel=EMAIL&limit=2&cursor=$c" "$ALICE"
emails="$emails $(jqe '[.items[].id] | join(" ")')"
[ "$(jqe .next_cursor)" = null ] || fail "EMAIL pages do not end after 3"
[ "$emails" = "${EXP_EMAIL[*]}" ] || fail "channel=EMAIL gives $emails, expected ${EXP_EMAIL[*]}"
ok
req GET "/v1/me/notifications?channel=IN_APP&status=read" "$ALICE"
expect 200 "channel and status together"
jq -e '.items | length > 0 and all(.channel == "IN_APP" and .read_at != null)' <<<"$BODY" >/dev/null ||
    fail "combined filter: $BODY"

# ---- isolation: other user, other tenant ----
req GET /v1/me/notifications "$BOB"
expect 200 "bob's list"
[ "$(jqe '[.items[].id] | join(" ")')" = "$(ID 203) $(ID 202) $(ID 201)" ] || fail "bob sees $BODY"
req GET /v1/me/notifications "$ALICE_B"
expect 200 "alice in globex"
[ "$(jqe '[.items[].id] | join(" ")')" = "$(ID 301) $(ID 4) $(ID 3) $(ID 2) $(ID 1)" ] ||
    fail "alice@globex sees $(jqe '[.items[].id] | join(" ")')"
jq -e '.items | all(.title | startswith("Globex"))' <<<"$BODY" >/dev/null || fail "globex inbox shows acme rows"
ok

# ---- unread count (IN_APP only) ----
req GET /v1/me/notifications/unread-count "$ALICE"
expect 200 "unread-count"
[ "$(jqe .unread)" = "$EXP_UNREAD_IN_APP" ] || fail "unread-count $(jqe .unread), expected $EXP_UNREAD_IN_APP"
req GET /v1/me/notifications/unread-count "$ALICE_B"
expect 200 "unread-count globex"
[ "$(jqe .unread)" = 5 ] || fail "globex unread-count $(jqe .unread), expected 5"
ok

# ---- bad parameters ----
for bad in 0 101 abc -1 "" 1.5; do
    req GET "/v1/me/notifications?limit=$bad" "$ALICE"
    expect_error 400 bad_request limit "limit=$bad"
done
for bad in '!!!' 'AAAA' 'bm8tYmFy' "$(printf 'x|y' | base64 | tr -d =)"; do
    req GET "/v1/me/notifications?cursor=$bad" "$ALICE"
    expect_error 400 bad_request cursor "cursor=$bad"
done
req GET "/v1/me/notifications?status=maybe" "$ALICE"
expect_error 400 bad_request status "status=maybe"
req GET "/v1/me/notifications?channel=FAX" "$ALICE"
expect_error 400 bad_request channel "channel=FAX"
req GET "/v1/me/notifications?limti=5" "$ALICE"
expect_error 400 bad_request limti "unknown parameter"

# ---- POST read ----
UNREAD_ID=$(ID 1)
TRACE=4bf92f3577b34da6a3ce929d0e0e4736
req POST "/v1/me/notifications/$UNREAD_ID/read" "$ALICE" -H "traceparent: 00-$TRACE-00f067aa0ba902b7-01"
expect 202 "mark read"
ACTION_ID=$(jqe .action_id)
[[ $ACTION_ID =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]] ||
    fail "action_id is not a UUIDv4: $ACTION_ID"
[ "$(jqe .token.topic)" = herald.receipts ] || fail "token topic: $BODY"
jq -e '.token.partition >= 0 and .token.offset >= 0' <<<"$BODY" >/dev/null || fail "token: $BODY"
TOKEN_PART=$(jqe .token.partition)
TOKEN_OFF=$(jqe .token.offset)
ok

"$HERALD_BIN" tail herald.receipts --from-beginning --until-idle 2000 >"$WORK/receipts.jsonl" \
    2>"$WORK/tail.log" || { cat "$WORK/tail.log" >&2; fail "herald tail herald.receipts"; }
jq -e -s --arg a "$ACTION_ID" --arg t "$TA" --arg n "$UNREAD_ID" '
    [.[] | .value? // . | select(.action_id == $a)] | length == 1 and
    (.[0] | .tenant_id == $t and .user_id == "alice" and .notification_id == $n
            and .action == "READ" and (.occurred_at | type) == "number")' \
    "$WORK/receipts.jsonl" >/dev/null ||
    fail "UserAction $ACTION_ID not on herald.receipts as expected: $(grep -F "$ACTION_ID" "$WORK/receipts.jsonl" || echo none)"
ok

# The token names the record: key tenant/user and the Herald headers, read at exactly
# that partition and offset with Kafka's own console consumer.
"$HERALD_SOURCE_DIR/tests/harness/kafka.sh" tool "$HERALD_HARNESS_DIR" \
    org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$HERALD_BROKERS" \
    --topic herald.receipts --partition "$TOKEN_PART" --offset "$TOKEN_OFF" --max-messages 1 \
    --timeout-ms 20000 --property print.key=true --property print.headers=true \
    --property print.value=false >"$WORK/record.txt" 2>"$WORK/console.log" ||
    { cat "$WORK/console.log" >&2; fail "console consumer at $TOKEN_PART/$TOKEN_OFF"; }
REC=$(head -n 1 "$WORK/record.txt")
[[ $REC == *"herald-tenant:$TA,"* ]] || fail "record at the token lacks herald-tenant: $REC"
[[ $REC == *"herald-notification-id:$UNREAD_ID"* ]] || fail "record lacks herald-notification-id: $REC"
[[ $REC =~ traceparent:00-$TRACE-[0-9a-f]{16}-01 ]] || fail "record does not continue the caller's trace: $REC"
[[ $REC == *$'\t'"$TA/alice" ]] || fail "record key is not tenant/user: $REC"
ok

# Not the caller's, deleted, or not an id at all.
req POST "/v1/me/notifications/$(ID 301)/read" "$ALICE"
expect_error 404 not_found - "another tenant's notification"
req POST "/v1/me/notifications/$(ID 201)/read" "$ALICE"
expect_error 404 not_found - "another user's notification"
req POST "/v1/me/notifications/$(ID 13)/read" "$ALICE"
expect_error 404 not_found - "deleted notification"
req POST "/v1/me/notifications/$(ID 999)/read" "$ALICE"
expect_error 404 not_found - "unknown notification"
req POST "/v1/me/notifications/not-a-uuid/read" "$ALICE"
expect_error 400 bad_request id "malformed id"
req POST "/v1/me/notifications/$(ID 1)/read" ""
expect_error 401 unauthorized - "POST read without a token"

# ---- routing ----
req GET /nope
expect_error 404 not_found - "unknown route"
req GET /v1/me/nope "$ALICE"
expect_error 404 not_found - "unknown /v1 route"
req GET "/v1/me/notifications/$(ID 1)/read" "$ALICE"
expect_error 405 method_not_allowed - "GET on the read action"
req DELETE /health/live
expect_error 405 method_not_allowed - "DELETE on /health/live"
curl -sS -D - -o /dev/null -X PUT -H "Authorization: Bearer $ALICE" "$BASE/v1/me/notifications" |
    grep -qi '^allow: GET' || fail "405 without Allow header"
ok

# ---- HEAD, oversized bodies ----
CODE=$(curl -sS -o /dev/null -w '%{http_code}' -I "$BASE/health/live")
expect 200 "HEAD /health/live"
head -c 70000 /dev/zero >"$WORK/big"
req POST "/v1/me/notifications/$(ID 1)/read" "$ALICE" --data-binary @"$WORK/big"
expect_error 413 payload_too_large - "70 kB body"

# ---- concurrent requests: thread pool, PostgreSQL pool, shared producer and serde ----
: >"$WORK/par.txt"
PAR=()
for i in $(seq 1 24); do
    curl -sS -o /dev/null -w '%{http_code}\n' --max-time 60 -H "Authorization: Bearer $ALICE" \
        "$BASE/v1/me/notifications?limit=5" >>"$WORK/par.txt" &
    PAR+=($!)
done
for i in 2 3 4 5 6 7 8 9; do
    curl -sS -o /dev/null -w '%{http_code}\n' --max-time 60 -X POST -H "Authorization: Bearer $ALICE" \
        "$BASE/v1/me/notifications/$(ID "$i")/read" >>"$WORK/par.txt" &
    PAR+=($!)
done
for p in "${PAR[@]}"; do wait "$p" || fail "a concurrent curl failed"; done
[ "$(sort "$WORK/par.txt" | uniq -c | awk '{print $2 "x" $1}' | tr '\n' ' ')" = "200x24 202x8 " ] ||
    fail "concurrent requests: $(sort "$WORK/par.txt" | uniq -c | tr '\n' ' ')"
ok

# ---- readiness reports a broker that is down ----
start_api "$WORK/api2.log" HERALD_JWKS="$WORK/keys/jwks.json" HERALD_BROKERS=127.0.0.1:1
API2_PID=$PID_OUT
BASE2=http://127.0.0.1:$PORT_OUT
CODE=$(curl -sS -o "$WORK/body" -w '%{http_code}' --max-time 30 "$BASE2/health/ready")
BODY=$(cat "$WORK/body")
expect 503 "ready with Kafka down"
[ "$(jqe .checks.postgres.status)/$(jqe .checks.kafka.status)" = ok/error ] || fail "ready body: $BODY"
CODE=$(curl -sS -o "$WORK/body" -w '%{http_code}' "$BASE2/health/live")
expect 200 "live with Kafka down"
stop_pid "$API2_PID"
API2_PID=
[ "$STOP_RC" = 0 ] || fail "second herald api exited $STOP_RC after SIGTERM: $(tail -n 20 "$WORK/api2.log")"

# ---- startup errors ----
rc=0
env -u HERALD_JWKS "$HERALD_BIN" api --listen 127.0.0.1:0 >/dev/null 2>"$WORK/nojwks.log" || rc=$?
[ "$rc" = 2 ] || fail "missing HERALD_JWKS: exit $rc, expected 2"
grep -q HERALD_JWKS "$WORK/nojwks.log" || fail "missing HERALD_JWKS is not named: $(cat "$WORK/nojwks.log")"
ok

# ---- one debug line per request, with the tenant, and a clean stop ----
grep -q "GET /v1/me/notifications 200" "$WORK/api.log" || fail "no request log line"
grep "POST /v1/me/notifications/$UNREAD_ID/read 202" "$WORK/api.log" | grep -q "$TA" ||
    fail "request log line lacks the tenant"
ok
stop_pid "$API_PID"
API_PID=
[ "$STOP_RC" = 0 ] || fail "herald api exited $STOP_RC after SIGTERM"
echo "test_api: ok ($CHECKS checks; read token $TOKEN_PART/$TOKEN_OFF)"
