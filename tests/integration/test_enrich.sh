#!/usr/bin/env bash
# enrich end to end on the harness's real Kafka, against the fake User Service
# (tests/peers/user_service.py, real HTTP on loopback, OAuth2 client credentials):
#  - five requests without a recipient for five users: their profiles are fetched
#    together (each id asked once, fewer search calls than users), the outbox has the
#    profile's e-mail address and a template's {{user.first_name}} rendered;
#  - the same users again: no call at all (cache);
#  - a user.updated record: the next request renders the new name, no call;
#  - an unknown user on EMAIL + IN_APP: EMAIL FAILED unknown_user, IN_APP delivered;
#  - a profile whose preferences turn EMAIL off: SKIPPED channel_disabled (prefs);
#  - a refused token (401): a new token is fetched once and the call succeeds;
#  - the service answering 500: a request that carries its address goes on; one that
#    does not is held (SCHEDULED user_service_unavailable); the breaker opens and calls
#    stop; when the service answers again, the held request is delivered with its profile
#    and the breaker closes;
#  - a request held when herald run is killed -9: after the restart and the service's
#    recovery it is SENT exactly once (and was SCHEDULED once);
#  - the service down past HERALD_ENRICH_MAX_HOLD_MS: the held request's EMAIL FAILED
#    user_service_unavailable, its IN_APP delivered.
set -euo pipefail
: "${HERALD_BIN:?}" "${HERALD_BROKERS:?}"
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/herald-enrich.XXXXXX)
run_pid= peer_pid= tails=
cleanup() {
    for p in $run_pid $peer_pid $tails; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "test_enrich: FAIL: $*" >&2
    for f in "$work"/run.log "$work"/run2.log "$work"/peer.log "$work"/failed.jsonl "$work"/scheduled.jsonl; do
        [ -f "$f" ] && { echo "--- $f" >&2; tail -30 "$f" >&2; }
    done
    exit 1
}

t=enr$(date +%s)$RANDOM
cat > "$work/profiles.json" <<EOF2
{"$t": {
  "u1": {"email": "ada@example.com", "first_name": "Ada", "locale": "en", "timezone": "Europe/London"},
  "u2": {"email": "bob@example.com", "first_name": "Bob"},
  "u3": {"email": "cy@example.com", "first_name": "Cy"},
  "u4": {"email": "di@example.com", "first_name": "Di"},
  "u5": {"email": "ed@example.com", "first_name": "Ed"},
  "u6": {"email": "fay@example.com", "first_name": "Fay"},
  "u7": {"email": "gus@example.com", "first_name": "Gus"},
  "u8": {"email": "hal@example.com", "first_name": "Hal"},
  "u9": {"email": "ida@example.com", "first_name": "Ida"},
  "u10": {"email": "jo@example.com", "first_name": "Jo",
          "preferences": {"channels": {"EMAIL": false}}}}}
EOF2
python3 "$here/../peers/user_service.py" --profiles "$work/profiles.json" --port 0 \
    --port-file "$work/port" --client-id herald --client-secret 's3cret' > "$work/peer.log" 2>&1 &
peer_pid=$!
for _ in $(seq 1 100); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || fail "the fake User Service did not start"
us=http://127.0.0.1:$(cat "$work/port")
stats() { curl -fsS "$us/_control/stats" | jq -r ".$1"; }
mode() { curl -fsS -X POST "$us/_control/mode" -d "$1" > /dev/null; }

export HERALD_STATE_DIR=$work/state HERALD_OUTBOX_DIR=$work/outbox HERALD_INSTANCE_ID=enr-$t
export HERALD_CONFIG=$work/config.json HERALD_USER_SERVICE_URL=$us
export HERALD_OIDC_TOKEN_URL=$us/oauth/token HERALD_USER_SERVICE_CLIENT_ID=herald
export HERALD_USER_SERVICE_CLIENT_SECRET=s3cret HERALD_USER_SERVICE_ATTEMPTS=2
export HERALD_USER_SERVICE_BACKOFF_MS=50 HERALD_USER_SERVICE_TIMEOUT_MS=2000
export HERALD_ENRICH_BREAKER_FAILURES=2 HERALD_ENRICH_BREAKER_COOLDOWN_MS=3000
export HERALD_ENRICH_MAX_HOLD_MS=120000
unset HERALD_PG
cat > "$HERALD_CONFIG" <<EOF2
{"tenants": [{"tenant_id": "$t", "name": "Enrich test", "default_locale": "en"}],
 "rules": [],
 "templates": [{"tenant_id": "$t", "key": "hello", "version": 1, "locales": {"en": {
    "email": {"subject": "Hello", "text": "Hello {{user.first_name}} <{{recipient.email}}>"},
    "in_app": {"title": "Hello", "text": "Hello {{user.id}}"}}}},
  {"tenant_id": "$t", "key": "plain", "version": 1, "locales": {"en": {
    "email": {"subject": "Hi", "text": "Hi <{{recipient.email}}>"}}}}]}
EOF2

"$HERALD_BIN" run --role pipeline > "$work/run.log" 2>&1 &
run_pid=$!
for _ in $(seq 1 300); do
    grep -q "herald-pipeline: assigned [1-9]" "$work/run.log" 2>/dev/null && break
    kill -0 "$run_pid" 2>/dev/null || fail "herald run exited"
    sleep 0.2
done
"$HERALD_BIN" tail notification.failed --from-beginning > "$work/failed.jsonl" 2> /dev/null &
tails="$tails $!"
"$HERALD_BIN" tail notification.scheduled --from-beginning > "$work/scheduled.jsonl" 2> /dev/null &
tails="$tails $!"
"$HERALD_BIN" tail herald.inbox --from-beginning > "$work/inbox.jsonl" 2> /dev/null &
tails="$tails $!"
"$HERALD_BIN" tail notification.skipped --from-beginning > "$work/skipped.jsonl" 2> /dev/null &
tails="$tails $!"

n=0
req() { # USER CHANNELS [RECIPIENT [TEMPLATE]]: a request line (a nonce in its variables: dedup drops
        # the same content for the same user)
    n=$((n + 1))
    jq -cn --arg t "$t" --arg u "$1" --argjson ch "$2" --argjson rc "${3:-null}" --arg n "$n$RANDOM" \
        --arg k "${4:-hello}" \
        '{tenant_id: $t, user_id: $u, channels: $ch, template: {key: $k}, recipient: $rc,
          variables_json: ({nonce: $n} | tojson)}'
}
# line CHANNEL RID: the request's outbox line, waiting for it
line() {
    local f=$work/outbox/$1.jsonl l=
    for _ in $(seq 1 ${3:-300}); do
        [ -f "$f" ] && l=$(jq -c --arg r "$2" 'select(.request_id == $r)' "$f" | head -1)
        [ -n "$l" ] && break
        sleep 0.2
    done
    [ -n "$l" ] || fail "no $1 outbox line for request $2"
    echo "$l"
}
expect_text() { # RID WANT
    local got
    got=$(line EMAIL "$1" | jq -r '.text')
    [ "$got" = "$2" ] || fail "text of $1: got [$got], want [$2]"
    echo "ok   $2"
}

# 1. five users at once: fetched together, each id once
rids=$(for u in u1 u2 u3 u4 u5; do req $u '["EMAIL"]'; done | "$HERALD_BIN" send -)
mapfile -t r1 <<<"$rids"
expect_text "${r1[0]}" "Hello Ada <ada@example.com>"
expect_text "${r1[4]}" "Hello Ed <ed@example.com>"
for i in 1 2 3; do line EMAIL "${r1[$i]}" > /dev/null; done
[ "$(stats ids_requested)" -eq 5 ] || fail "ids requested $(stats ids_requested), want 5"
searches=$(stats search_calls)
[ "$searches" -ge 1 ] && [ "$searches" -lt 5 ] || fail "$searches search calls for 5 users in one send"
[ "$(stats token_calls)" -ge 1 ] || fail "no token was fetched"
echo "ok   5 users: $searches search call(s), 5 ids, $(stats token_calls) token call(s)"

# 2. the same users again: the cache answers
rids=$(for u in u1 u2 u3 u4 u5; do req $u '["EMAIL"]'; done | "$HERALD_BIN" send -)
mapfile -t r2 <<<"$rids"
for i in 0 1 2 3 4; do line EMAIL "${r2[$i]}" > /dev/null; done
[ "$(stats search_calls)" -eq "$searches" ] && [ "$(stats get_calls)" -eq 0 ] ||
    fail "repeats within the TTL called the service: $(curl -fsS "$us/_control/stats")"
echo "ok   repeats within the TTL: no call"

# 3. user.updated replaces the cached profile
jq -cn --arg t "$t" '{tenant_id: $t, user_id: "u1",
    profile_json: ({email: "ada@example.com", first_name: "Augusta"} | tojson)}' |
    "$HERALD_BIN" send --topic user.updated - > /dev/null
sleep 2
rid=$(req u1 '["EMAIL"]' | "$HERALD_BIN" send -)
expect_text "$rid" "Hello Augusta <ada@example.com>"
[ "$(stats search_calls)" -eq "$searches" ] || fail "user.updated: the service was called"

# 4. an unknown user: EMAIL fails, IN_APP goes on
rid=$(req nobody '["EMAIL", "IN_APP"]' | "$HERALD_BIN" send -)
for _ in $(seq 1 150); do grep -q "$rid" "$work/inbox.jsonl" && break; sleep 0.2; done
grep -q "$rid" "$work/inbox.jsonl" || fail "no inbox item for $rid"
for _ in $(seq 1 100); do grep -q "$rid" "$work/failed.jsonl" && break; sleep 0.2; done
jq -e --arg r "$rid" 'select(.request_id == $r and .channel == "EMAIL" and
    .reason_code == "unknown_user")' "$work/failed.jsonl" > /dev/null ||
    fail "no FAILED unknown_user for EMAIL of $rid: $(grep "$rid" "$work/failed.jsonl")"
echo "ok   unknown user: EMAIL FAILED unknown_user, IN_APP delivered"

# 4b. the profile's preferences count (prefs reads what enrich brought)
rid=$(req u10 '["EMAIL", "IN_APP"]' | "$HERALD_BIN" send -)
for _ in $(seq 1 150); do grep -q "$rid" "$work/inbox.jsonl" && break; sleep 0.2; done
for _ in $(seq 1 100); do grep -q "$rid" "$work/skipped.jsonl" && break; sleep 0.2; done
jq -e --arg r "$rid" 'select(.request_id == $r and .channel == "EMAIL" and
    .reason_code == "channel_disabled")' "$work/skipped.jsonl" > /dev/null ||
    fail "the profile's EMAIL off was not honoured for $rid"
grep -q "$rid" "$work/inbox.jsonl" || fail "no inbox item for $rid"
echo "ok   the profile's preferences: EMAIL SKIPPED channel_disabled, IN_APP delivered"

# 5. a refused token: one new token, the call succeeds
tokens=$(stats token_calls)
curl -fsS -X POST "$us/_control/expire_tokens" > /dev/null
rid=$(req u6 '["EMAIL"]' | "$HERALD_BIN" send -)
expect_text "$rid" "Hello Fay <fay@example.com>"
[ "$(stats token_calls)" -eq $((tokens + 1)) ] && [ "$(stats unauthorized)" -ge 1 ] ||
    fail "after a 401: $(stats token_calls) token calls (was $tokens), $(stats unauthorized) 401s"
echo "ok   401: one new token"

# 6. the service fails: carried addresses go on, the rest is held; the breaker opens
mode '{"mode": "error", "status": 500}'
rid_held=$(req u7 '["EMAIL"]' | "$HERALD_BIN" send -)
rid_go=$(req u8 '["EMAIL"]' '{"email": "carried@example.com"}' plain | "$HERALD_BIN" send -)
expect_text "$rid_go" "Hi <carried@example.com>"
for _ in $(seq 1 150); do grep -q "$rid_held" "$work/scheduled.jsonl" && break; sleep 0.2; done
jq -e --arg r "$rid_held" 'select(.request_id == $r and .reason_code == "user_service_unavailable")' \
    "$work/scheduled.jsonl" > /dev/null || fail "$rid_held was not held"
grep -q "breaker of tenant $t open" "$work/run.log" || fail "the breaker did not open"
calls=$(( $(stats search_calls) + $(stats get_calls) ))
sleep 1.5 # inside the cool-down: no call
[ $(( $(stats search_calls) + $(stats get_calls) )) -eq "$calls" ] || fail "calls went on while the breaker was open"
echo "ok   500s: carried address delivered, the other held, breaker open, calls stopped"
mode '{"mode": "ok"}'
expect_text "$rid_held" "Hello Gus <gus@example.com>"
grep -q "breaker of tenant $t closed" "$work/run.log" || fail "the breaker did not close"
echo "ok   recovery: the held request delivered with its profile, breaker closed"

# 7. held through kill -9: the hold is in a changelogged store, so nothing is lost
mode '{"mode": "error", "status": 503}'
rid_k=$(req u9 '["EMAIL"]' | "$HERALD_BIN" send -)
for _ in $(seq 1 150); do grep -q "$rid_k" "$work/scheduled.jsonl" && break; sleep 0.2; done
grep -q "$rid_k" "$work/scheduled.jsonl" || fail "$rid_k was not held"
kill -KILL "$run_pid"; wait "$run_pid" 2>/dev/null || true
HERALD_ENRICH_MAX_HOLD_MS=20000 "$HERALD_BIN" run --role pipeline > "$work/run2.log" 2>&1 &
run_pid=$!
for _ in $(seq 1 300); do
    grep -q "herald-pipeline: assigned [1-9]" "$work/run2.log" 2>/dev/null && break
    kill -0 "$run_pid" 2>/dev/null || fail "herald run exited after the kill"
    sleep 0.2
done
mode '{"mode": "ok"}'
expect_text "$rid_k" "Hello Ida <ida@example.com>"
"$HERALD_BIN" tail notification.sent --from-beginning --until-idle 3000 > "$work/sent.jsonl" 2> /dev/null
sent=$(jq -c --arg r "$rid_k" 'select(.request_id == $r)' "$work/sent.jsonl" | wc -l)
held=$(jq -c --arg r "$rid_k" 'select(.request_id == $r)' "$work/scheduled.jsonl" | wc -l)
[ "$sent" -eq 1 ] && [ "$held" -eq 1 ] || fail "held through kill -9: $held SCHEDULED, $sent SENT (want 1 and 1)"
echo "ok   held through kill -9: SCHEDULED once, then SENT once with its profile"

# 8. held past HERALD_ENRICH_MAX_HOLD_MS (20 s in this run): FAILED user_service_unavailable
mode '{"mode": "down"}'
rid_x=$(req u11 '["EMAIL", "IN_APP"]' | "$HERALD_BIN" send -)
for _ in $(seq 1 150); do grep -q "$rid_x" "$work/scheduled.jsonl" && break; sleep 0.2; done
grep -q "$rid_x" "$work/scheduled.jsonl" || fail "$rid_x was not held"
for _ in $(seq 1 200); do grep -q "$rid_x" "$work/failed.jsonl" && break; sleep 0.2; done
jq -e --arg r "$rid_x" 'select(.request_id == $r and .channel == "EMAIL" and
    .reason_code == "user_service_unavailable")' "$work/failed.jsonl" > /dev/null ||
    fail "no FAILED user_service_unavailable for $rid_x after the longest hold"
for _ in $(seq 1 50); do grep -q "$rid_x" "$work/inbox.jsonl" && break; sleep 0.2; done
grep -q "$rid_x" "$work/inbox.jsonl" || fail "the IN_APP of $rid_x was not delivered after the hold"
echo "ok   held past the longest hold: EMAIL FAILED user_service_unavailable, IN_APP delivered"
