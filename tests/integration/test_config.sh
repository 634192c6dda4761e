#!/usr/bin/env bash
# Config tables on a real broker: tenants and rules live in the compacted config
# topics, `herald config` writes them, and a running `herald run` picks changes up
# without a restart (a new tenant, a new rule, a deleted tenant, a per-tenant dedup
# window); a bad body is refused before anything is published; a restart reads the
# tables back from its local stores.
set -euo pipefail
: "${HERALD_BIN:?}" "${HERALD_BROKERS:?}"
work=$(mktemp -d /tmp/herald-config.XXXXXX)
run_pid=
cleanup() {
    [ -n "$run_pid" ] && kill "$run_pid" 2>/dev/null && wait "$run_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    echo "--- herald run logs" >&2; cat "$work"/run.*.log 2>/dev/null | grep -v dead-lettered | tail -30 >&2
    exit 1
}

t=cfg$(date +%s)$RANDOM
export HERALD_STATE_DIR=$work/state HERALD_OUTBOX_DIR=$work/outbox HERALD_INSTANCE_ID=cfg-$t
unset HERALD_CONFIG HERALD_PG

# a bad body is refused, naming the field, and nothing is published
if echo '{"tenant_id": "'$t'", "dedup_ttl_ms": {"FAX": 1}}' | "$HERALD_BIN" config put tenant - \
    > "$work/bad.out" 2> "$work/bad.err"; then
    fail "a tenant with an unknown channel was accepted"
fi
grep -q 'dedup_ttl_ms.FAX: unknown channel' "$work/bad.err" || fail "error: $(cat "$work/bad.err")"
"$HERALD_BIN" config list tenant > "$work/list0.jsonl"
! grep -q "\"$t/tenant\"" "$work/list0.jsonl" || fail "the refused tenant was published"

start_run() { # logs to run.log, and this start's lines alone to run.<n>.log
    starts=$((${starts:-0} + 1))
    "$HERALD_BIN" run --role pipeline > "$work/run.$starts.log" 2>&1 &
    run_pid=$!
    for _ in $(seq 1 150); do
        cat "$work"/run.*.log > "$work/run.log"
        grep -q "herald-pipeline: assigned [1-9]" "$work/run.$starts.log" 2>/dev/null && return 0
        kill -0 "$run_pid" 2>/dev/null || fail "herald run exited"
        sleep 0.2
    done
    fail "herald run did not start"
}
stop_run() { kill "$run_pid"; wait "$run_pid" || true; run_pid=; }

# send USER [IDEM]: one IN_APP request of tenant $t; prints its request id
send() {
    local idem=${2:+, \"idempotency_key\": \"$2\"}
    echo "{\"tenant_id\": \"$t\", \"user_id\": \"$1\", \"channels\": [\"IN_APP\"],
           \"content\": {\"title\": \"hi\"}$idem}" | tr -d '\n' | "$HERALD_BIN" send -
}
# outcome RID: the first status (SENT, SKIPPED:<reason>) or dead letter code of the request,
# from tails that follow the output topics for the whole test
tails=
for topic in notification.sent notification.skipped notification.dlq; do
    "$HERALD_BIN" tail "$topic" > "$work/$topic.jsonl" 2> "$work/$topic.err" &
    tails="$tails $!"
done
trap 'kill $tails 2>/dev/null || true; cleanup' EXIT
outcome() {
    local rid=$1 o
    for _ in $(seq 1 150); do
        o=$(jq -r --arg r "$rid" 'select(.request_id == $r) | "SENT"' "$work/notification.sent.jsonl" | head -1)
        [ -z "$o" ] && o=$(jq -r --arg r "$rid" 'select(.request_id == $r) | "SKIPPED:" + .reason_code'             "$work/notification.skipped.jsonl" | head -1)
        [ -z "$o" ] && o=$(jq -r --arg r "$rid" 'select((.value // "") | contains($r)) | "DLQ:" + .error_code'             "$work/notification.dlq.jsonl" | head -1)
        [ -n "$o" ] && { echo "$o"; return 0; }
        sleep 0.2
    done
    echo none
}

start_run
# unknown tenant: dead-lettered
rid=$(send u1)
[ "$(outcome "$rid")" = "DLQ:unknown_tenant" ] || fail "before the tenant exists: $(outcome "$rid")"

# the tenant arrives through the topic, with a short IN_APP dedup window; no restart
echo '{"tenant_id": "'$t'", "name": "Config test", "dedup_ttl_ms": {"IN_APP": 1500}}' \
    | "$HERALD_BIN" config put tenant - > /dev/null
sleep 1
rid=$(send u1)
[ "$(outcome "$rid")" = "SENT" ] || fail "after the tenant was put: $(outcome "$rid")"

# per-tenant dedup window: a repeat inside it is a duplicate, after it is not
rid=$(send u2 "k-$t")
[ "$(outcome "$rid")" = "SENT" ] || fail "first keyed request: $(outcome "$rid")"
rid=$(send u2 "k-$t")
[ "$(outcome "$rid")" = "SKIPPED:duplicate" ] || fail "repeat inside the window: $(outcome "$rid")"
sleep 2.5
rid=$(send u2 "k-$t")
[ "$(outcome "$rid")" = "SENT" ] || fail "repeat after the tenant's 1.5 s window: $(outcome "$rid")"

# a rule arrives: a domain event is routed by it
cat > "$work/rule.json" <<EOF
{"id": "welcome", "tenant_id": "$t", "event_type": "user.registered",
 "channels": ["IN_APP"], "content": {"title": "Welcome"}}
EOF
"$HERALD_BIN" config put rule "$work/rule.json" | grep -q "put rule $t/welcome" || fail "put rule"
sleep 1
echo "{\"tenant_id\": \"$t\", \"user_id\": \"u3\", \"email\": \"u3@example.com\"}" \
    | "$HERALD_BIN" send --topic user.registered - > /dev/null
for _ in $(seq 1 150); do
    n=$(jq -r --arg t "$t" 'select(.tenant_id == $t and .user_id == "u3") | .notification_id' \
        "$work/notification.sent.jsonl" | wc -l)
    [ "$n" -ge 1 ] && break
    sleep 0.2
done
sleep 1 # a duplicate would show by now
n=$(jq -r --arg t "$t" 'select(.tenant_id == $t and .user_id == "u3") | .notification_id' \
    "$work/notification.sent.jsonl" | wc -l)
[ "$n" -eq 1 ] || fail "the routed event gave $n SENT statuses, want 1"

"$HERALD_BIN" config list rule > "$work/rules.jsonl" 2> "$work/rules.err" ||
    fail "config list rule: $(cat "$work/rules.err")"
# one document of all lines: jq 1.6's -e judges the last input, so a select that leaves
# the last line out failed whenever the rule was not the last of the list
jq -e -s --arg k "$t/welcome" 'any(.[]; .key == $k and .body.event_type == "user.registered")' \
    "$work/rules.jsonl" > /dev/null ||
    fail "config list rule does not show the rule: $(cat "$work/rules.jsonl" "$work/rules.err")"

# restart: the tables come back from the local stores (nothing new to read)
stop_run
start_run
grep -q "config topics read: 0 new records" "$work/run.2.log" || fail "restart re-read the config topics"
rid=$(send u4)
[ "$(outcome "$rid")" = "SENT" ] || fail "after a restart: $(outcome "$rid")"

# the tenant is deleted (a tombstone): its requests are dead-lettered again
"$HERALD_BIN" config delete tenant "$t/tenant" | grep -q "deleted tenant $t/tenant" || fail "delete"
sleep 1
rid=$(send u5)
[ "$(outcome "$rid")" = "DLQ:unknown_tenant" ] || fail "after the tenant was deleted: $(outcome "$rid")"
! "$HERALD_BIN" config list tenant | grep -q "\"$t/tenant\"" || fail "list still shows the deleted tenant"
stop_run

# a template version is immutable: the same body again is a replay, a changed one is refused
tpl() { echo '{"tenant_id": "'$t'", "key": "hello", "version": 1, "locales": {"en": {"in_app": {"text": "'"$1"'"}}}}'; }
tpl "Hello {{name}}" | "$HERALD_BIN" config put template - | grep -q "put template $t/hello/1" || fail "put template"
tpl "Hello {{name}}" | "$HERALD_BIN" config put template - > /dev/null || fail "re-putting the same version"
if tpl "Changed {{name}}" | "$HERALD_BIN" config put template - > /dev/null 2> "$work/tpl.err"; then
    fail "a changed body for an existing template version was published"
fi
grep -q "exists with other content" "$work/tpl.err" || fail "error: $(cat "$work/tpl.err")"
[ "$("$HERALD_BIN" config list template | jq -r --arg k "$t/hello/1" 'select(.key == $k) | .body.locales.en.in_app.text')" = "Hello {{name}}" ] \
    || fail "the stored version changed"
echo "config tables: ok"
