#!/usr/bin/env bash
# Templates end to end on the harness's real Kafka: a HERALD_CONFIG with a tenant
# (default locale fr) and a template in two versions (en and fr parts for EMAIL and
# SMS, a partial each) is published by `herald run`, which renders requests that name
# the template. Checks the exact rendered contents in the outbox: the active (highest)
# version, recipient locale fr-CA -> fr words with fr-CA number and date formats in
# the recipient's time zone, HTML escaping only in the html part, a pinned version 1,
# a template ref locale that wins over the recipient's, an unknown locale falling back
# to the tenant default, inline content winning over the template; and the dead
# letters of an SMS over the segment limit (render_failed) and of an unknown template
# (template_not_found), with their exact reasons.
set -euo pipefail
: "${HERALD_BIN:?}" "${HERALD_BROKERS:?}"
work=$(mktemp -d /tmp/herald-templates.XXXXXX)
run_pid= tail_pid=
cleanup() {
    for p in $run_pid $tail_pid; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "test_templates: FAIL: $*" >&2
    [ -f "$work/run.log" ] && { echo "--- run.log" >&2; tail -30 "$work/run.log" >&2; }
    exit 1
}

t=tpl$(date +%s)$RANDOM
export HERALD_STATE_DIR=$work/state HERALD_OUTBOX_DIR=$work/outbox HERALD_INSTANCE_ID=tpl-$t
export HERALD_CONFIG=$work/config.json
unset HERALD_PG

cat > "$HERALD_CONFIG" <<EOF
{"tenants": [{"tenant_id": "$t", "name": "Templates test", "default_locale": "fr"}],
 "rules": [],
 "templates": [
  {"tenant_id": "$t", "key": "order_confirmation", "version": 1,
   "partials": {"sig": "\n-- Acme"},
   "locales": {
    "en": {"email": {"subject": "Order {{order_id}}", "text": "Hello {{name}}, v1.{{>sig}}",
                     "html": "<p>Hello {{name}}</p>"},
           "sms": {"text": "v1 order {{order_id}}"}},
    "fr": {"email": {"subject": "Commande {{order_id}}", "text": "Bonjour {{name}}, v1.{{>sig}}",
                     "html": "<p>Bonjour {{name}}</p>"},
           "sms": {"text": "v1 commande {{order_id}}"}}}},
  {"tenant_id": "$t", "key": "order_confirmation", "version": 2,
   "partials": {"sig": "\n-- {{shop}}"},
   "locales": {
    "en": {"email": {"subject": "Your order {{order_id}}",
                     "text": "Hi {{name}}: {{formatNumber total}} on {{formatDate placed_at \"long\"}}{{>sig}}",
                     "html": "<p>Hi <b>{{name}}</b></p>{{>sig}}"},
           "sms": {"text": "Order {{order_id}}: {{formatNumber total}}"}},
    "fr": {"email": {"subject": "Votre commande {{order_id}}",
                     "text": "Bonjour {{name}} : {{formatNumber total}} le {{formatDate placed_at \"long\"}}{{>sig}}",
                     "html": "<p>Bonjour <b>{{name}}</b></p>{{>sig}}"},
           "sms": {"text": "Commande {{order_id}} : {{formatNumber total}}{{#note}} {{note}}{{/note}}"}}}}
 ]}
EOF

"$HERALD_BIN" run --role pipeline > "$work/run.log" 2>&1 &
run_pid=$!
for _ in $(seq 1 300); do
    grep -q "running pipeline" "$work/run.log" 2>/dev/null && break
    kill -0 "$run_pid" 2>/dev/null || fail "herald run exited"
    sleep 0.2
done
grep -q "running pipeline" "$work/run.log" || fail "herald run did not start"
"$HERALD_BIN" tail notification.dlq > "$work/dlq.jsonl" 2> "$work/tail.err" &
tail_pid=$!

# send USER CHANNELS TEMPLATE RECIPIENT VARIABLES [CONTENT]: prints the request id
send() {
    jq -cn --arg t "$t" --arg u "$1" --argjson ch "$2" --argjson tpl "$3" --argjson rc "$4" \
        --arg vars "$5" --argjson content "${6:-null}" \
        '{tenant_id: $t, user_id: $u, channels: $ch, template: $tpl, recipient: $rc,
          variables_json: $vars, content: $content}' | "$HERALD_BIN" send -
}
rcpt() { # LOCALE TIMEZONE
    jq -cn --arg l "$1" --arg z "$2" \
        '{email: "u@example.com", phone: "+15145550100", locale: $l, timezone: $z}'
}
tpl='{"key": "order_confirmation"}'
vars_a='{"name": "Zoë <Z>", "order_id": "A-1", "total": 1234.5,
         "placed_at": "2026-03-04T03:00:00Z", "shop": "Café & Co"}'
rid_a=$(send ua '["EMAIL", "SMS"]' "$tpl" "$(rcpt fr-CA America/Toronto)" "$vars_a")
rid_b=$(send ub '["EMAIL", "SMS"]' '{"key": "order_confirmation", "version": 1}' \
    "$(rcpt en Europe/London)" '{"name": "Bob", "order_id": "B-2"}')
rid_c=$(send uc '["SMS"]' "$tpl" "$(rcpt de-DE Europe/Berlin)" '{"order_id": "C-3", "total": 1234.5}')
rid_d=$(send ud '["SMS"]' '{"key": "order_confirmation", "locale": "en"}' \
    "$(rcpt fr-CA America/Toronto)" '{"order_id": "D-4", "total": 1234.5}')
rid_e=$(send ue '["SMS"]' "$tpl" "$(rcpt fr Europe/Paris)" \
    "$(jq -cn --arg n "$(printf 'x%.0s' $(seq 1 1600))" '{order_id: "E-5", total: 5, note: $n}')")
rid_f=$(send uf '["EMAIL"]' '{"key": "no_such_template"}' "$(rcpt fr Europe/Paris)" '{}')
rid_g=$(send ug '["EMAIL"]' "$tpl" "$(rcpt fr Europe/Paris)" '{}' \
    '{"subject": "Inline", "text": "inline wins"}')

# field CHANNEL RID FIELD: the field of the request's outbox line, waiting for it
field() {
    local f=$work/outbox/$1.jsonl line=
    for _ in $(seq 1 300); do
        [ -f "$f" ] && line=$(jq -c --arg r "$2" 'select(.request_id == $r)' "$f" | head -1)
        [ -n "$line" ] && break
        sleep 0.2
    done
    [ -n "$line" ] || fail "no $1 outbox line for request $2"
    jq -r --arg k "$3" '.[$k] // "(null)"' <<<"$line"
}
expect() { # CHANNEL RID FIELD WANT
    local got
    got=$(field "$1" "$2" "$3")
    [ "$got" = "$4" ] || fail "$1 $3 of $2: got [$got], want [$4]"
    echo "ok   $1 $3 of $2"
}
nbsp=$'\u00a0' nnbsp=$'\u202f'

# A: active version 2, fr words for fr-CA, fr-CA formats in Toronto time, escaping by part
expect EMAIL "$rid_a" subject "Votre commande A-1"
expect EMAIL "$rid_a" text "Bonjour Zoë <Z> : 1${nbsp}234,5 le 3 mars 2026
-- Café & Co"
expect EMAIL "$rid_a" html "<p>Bonjour <b>Zoë &lt;Z&gt;</b></p>
-- Café &amp; Co"
expect SMS "$rid_a" text "Commande A-1 : 1${nbsp}234,5"
# B: version 1 pinned by the request, en
expect EMAIL "$rid_b" subject "Order B-2"
expect EMAIL "$rid_b" text "Hello Bob, v1.
-- Acme"
expect EMAIL "$rid_b" html "<p>Hello Bob</p>"
expect SMS "$rid_b" text "v1 order B-2"
# C: no de part -> the tenant default fr, formatted as fr
expect SMS "$rid_c" text "Commande C-3 : 1${nnbsp}234,5"
# D: the template ref's locale wins over the recipient's
expect SMS "$rid_d" text "Order D-4: 1,234.5"
# G: inline content wins
expect EMAIL "$rid_g" subject "Inline"
expect EMAIL "$rid_g" text "inline wins"
expect EMAIL "$rid_g" html "(null)"

# dead letters: E over the SMS limit, F an unknown template
dlq() { # RID FIELD
    local line=
    for _ in $(seq 1 300); do
        line=$(jq -c --arg r "$1" 'select((.value // "") | contains($r))' "$work/dlq.jsonl" | head -1)
        [ -n "$line" ] && break
        sleep 0.2
    done
    [ -n "$line" ] || fail "no dead letter for request $1"
    jq -r --arg k "$2" '.[$k]' <<<"$line"
}
expect_dlq() { # RID CODE ERROR
    local code err
    code=$(dlq "$1" error_code)
    err=$(dlq "$1" error)
    [ "$code" = "$2" ] || fail "dead letter of $1: code [$code], want [$2]"
    [ "$err" = "$3" ] || fail "dead letter of $1: error [$err], want [$3]"
    [ "$(dlq "$1" processor)" = render ] || fail "dead letter of $1 not from render"
    echo "ok   dead letter $2 of $1"
}
expect_dlq "$rid_e" render_failed \
    'SMS: template "order_confirmation" version 2 locale "fr" part sms.text: SMS needs 11 segments (1617 GSM-7 units), more than the limit of 10'
expect_dlq "$rid_f" template_not_found \
    "EMAIL: template \"no_such_template\" not found for tenant \"$t\""
# a dead-lettered request sends nothing on any channel
sleep 1
! grep -qs "\"$rid_e\"" "$work/outbox/SMS.jsonl" || fail "the over-limit SMS was sent"
! grep -qs "\"$rid_f\"" "$work/outbox/EMAIL.jsonl" || fail "the unknown template's e-mail was sent"

kill -TERM "$run_pid"; wait "$run_pid" || fail "herald run exited non-zero on SIGTERM"; run_pid=
! grep -qE "ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:" "$work/run.log" || fail "sanitizer report"
echo "test_templates: ok"
