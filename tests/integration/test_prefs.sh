#!/usr/bin/env bash
# The preference filter end to end on the harness's real Kafka, with `herald prefs` and
# `herald suppress` writing the tables while `herald run` is running (no restart):
#  - quiet hours (a window around now, UTC): SMS SCHEDULED quiet_hours, EMAIL of the same
#    request delivered at once, the SMS delivered when the window ends;
#  - a channel turned off: SKIPPED channel_disabled; turned on again: delivered;
#  - MARKETING without consent: SKIPPED no_consent; with a recorded consent: delivered;
#  - do not disturb: EMAIL SKIPPED dnd, IN_APP still delivered;
#  - a suppressed address: SKIPPED suppressed; removed: delivered; `suppress list` shows it;
#  - a tenant's frequency cap (2 SYSTEM e-mails an hour): the third SKIPPED frequency_cap.
set -euo pipefail
: "${HERALD_BIN:?}" "${HERALD_BROKERS:?}"
work=$(mktemp -d /tmp/herald-prefs.XXXXXX)
run_pid= tails=
cleanup() {
    for p in $run_pid $tails; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "test_prefs: FAIL: $*" >&2
    for f in "$work"/run.log "$work"/skipped.jsonl "$work"/scheduled.jsonl; do
        [ -f "$f" ] && { echo "--- $f" >&2; tail -30 "$f" >&2; }
    done
    exit 1
}

t=prf$(date +%s)$RANDOM
export HERALD_STATE_DIR=$work/state HERALD_OUTBOX_DIR=$work/outbox HERALD_INSTANCE_ID=prf-$t
export HERALD_CONFIG=$work/config.json
unset HERALD_PG HERALD_USER_SERVICE_URL
cat > "$HERALD_CONFIG" <<EOF2
{"tenants": [{"tenant_id": "$t", "name": "Prefs test", "default_locale": "en",
              "timezone": "UTC",
              "frequency_caps": [{"channel": "EMAIL", "category": "SYSTEM", "max": 2,
                                  "window_ms": 3600000}]}],
 "rules": [], "templates": []}
EOF2
"$HERALD_BIN" run --role pipeline > "$work/run.log" 2>&1 &
run_pid=$!
for _ in $(seq 1 300); do
    grep -q "herald-pipeline: assigned [1-9]" "$work/run.log" 2>/dev/null && break
    kill -0 "$run_pid" 2>/dev/null || fail "herald run exited"
    sleep 0.2
done
for topic in notification.skipped notification.scheduled herald.inbox; do
    "$HERALD_BIN" tail "$topic" --from-beginning > "$work/${topic#*.}.jsonl" 2> /dev/null &
    tails="$tails $!"
done

req() { # USER CHANNELS [CATEGORY]: sends a request, prints its id
    jq -cn --arg t "$t" --arg u "$1" --argjson ch "$2" --arg c "${3:-TRANSACTIONAL}" \
        --arg n "$(date +%s%N)$RANDOM" \
        '{tenant_id: $t, user_id: $u, channels: $ch, category: $c,
          recipient: {email: ($u + "@example.com"), phone: "+15145550100"},
          content: {subject: "s", text: ("message " + $n), title: "t"}}' | "$HERALD_BIN" send -
}
delivered() { # CHANNEL RID [TRIES]: waits for the outbox line (IN_APP: the inbox item)
    local f=$work/outbox/$1.jsonl
    [ "$1" = IN_APP ] && f=$work/inbox.jsonl
    for _ in $(seq 1 "${3:-150}"); do
        [ -f "$f" ] && grep -q "$2" "$f" && return 0
        sleep 0.2
    done
    fail "$1 of $2 was not delivered"
}
not_delivered() { # CHANNEL RID
    [ -f "$work/outbox/$1.jsonl" ] && grep -q "$2" "$work/outbox/$1.jsonl" &&
        fail "$1 of $2 was delivered"
    return 0
}
status() { # FILE RID CHANNEL CODE: waits for the status with that reason code
    for _ in $(seq 1 150); do
        jq -e --arg r "$2" --arg c "$3" --arg k "$4" \
            'select(.request_id == $r and .channel == $c and .reason_code == $k)' \
            "$work/$1.jsonl" > /dev/null 2>&1 && return 0
        sleep 0.2
    done
    fail "no $1 $4 for $3 of $2"
}
prefs() { "$HERALD_BIN" prefs put "$t" "$1" "$2" > /dev/null; sleep 1; }

# quiet hours around now, ending at the next minute but one (UTC)
start=$(date -u -d '-60 min' +%H:%M) end=$(date -u -d '+2 min' +%H:%M)
prefs uq "{\"timezone\": \"UTC\", \"quiet_hours\": {\"start\": \"$start\", \"end\": \"$end\"}}"
rid_q=$(req uq '["EMAIL", "SMS"]')
delivered EMAIL "$rid_q"
status scheduled "$rid_q" SMS quiet_hours
not_delivered SMS "$rid_q"
echo "ok   quiet hours $start-$end: EMAIL delivered, SMS deferred"

prefs uc '{"channels": {"SMS": false}}'
[ "$("$HERALD_BIN" prefs get "$t" uc | jq -c .)" = '{"channels":{"SMS":false}}' ] ||
    fail "prefs get: $("$HERALD_BIN" prefs get "$t" uc)"
rid=$(req uc '["EMAIL", "SMS"]'); delivered EMAIL "$rid"; status skipped "$rid" SMS channel_disabled
prefs uc '{"channels": {"SMS": true}}'
rid=$(req uc '["SMS"]'); delivered SMS "$rid"
echo "ok   channel off: SKIPPED channel_disabled; on again (no restart): delivered"
"$HERALD_BIN" prefs delete "$t" uc > /dev/null
if "$HERALD_BIN" prefs get "$t" uc > /dev/null 2>&1; then fail "prefs get after delete succeeded"; fi
"$HERALD_BIN" prefs put "$t" uc '{"channels": {"FAX": false}}' 2> "$work/bad.err" && fail "a bad record was written"
grep -q "channels.FAX: unknown channel" "$work/bad.err" || fail "bad record: $(cat "$work/bad.err")"
echo "ok   prefs get, delete, and a bad record refused naming the member"

rid=$(req um '["EMAIL"]' MARKETING); status skipped "$rid" EMAIL no_consent
prefs um '{"consent": {"marketing": {"at": "2026-01-02T10:00:00Z", "source": "signup"}}}'
rid=$(req um '["EMAIL"]' MARKETING); delivered EMAIL "$rid"
echo "ok   MARKETING: no_consent without consent, delivered with it"

prefs ud '{"dnd": {"on": true}}'
rid=$(req ud '["EMAIL", "IN_APP"]'); status skipped "$rid" EMAIL dnd; delivered IN_APP "$rid"
echo "ok   dnd: EMAIL SKIPPED dnd, IN_APP delivered"

"$HERALD_BIN" suppress add "$t" us --channel EMAIL --address us@example.com --reason hard_bounce > /dev/null
"$HERALD_BIN" suppress list "$t" us | jq -e 'select(.address == "us@example.com" and .reason == "hard_bounce")' > /dev/null ||
    fail "suppress list: $("$HERALD_BIN" suppress list "$t" us)"
sleep 1
rid=$(req us '["EMAIL"]'); status skipped "$rid" EMAIL suppressed
"$HERALD_BIN" suppress remove "$t" us --channel EMAIL --address us@example.com > /dev/null
[ -z "$("$HERALD_BIN" suppress list "$t" us)" ] || fail "the suppression is still listed"
sleep 1
rid=$(req us '["EMAIL"]'); delivered EMAIL "$rid"
echo "ok   suppression: SKIPPED suppressed; removed: delivered"

r1=$(req uf '["EMAIL"]' SYSTEM); r2=$(req uf '["EMAIL"]' SYSTEM); r3=$(req uf '["EMAIL"]' SYSTEM)
delivered EMAIL "$r1"; delivered EMAIL "$r2"; status skipped "$r3" EMAIL frequency_cap
not_delivered EMAIL "$r3"
echo "ok   frequency cap: 2 delivered, the third SKIPPED frequency_cap"

# the quiet window ends: the deferred SMS goes out
delivered SMS "$rid_q" 900
echo "ok   quiet hours over: the deferred SMS delivered"
