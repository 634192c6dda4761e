#!/usr/bin/env bash
# `herald render` on the fixtures in tests/data/templates: each output must
# equal its expected file byte for byte (no newline added, escaping by
# --escape, partials and layouts from --partials, ICU formatting by --locale
# and --timezone); errors go to stderr with exit 1 and name template, line and
# column; a bad command line exits 2. Needs no broker or database.
set -euo pipefail
: "${HERALD_BIN:?}" "${HERALD_SOURCE_DIR:?}"
D="$HERALD_SOURCE_DIR/tests/data/templates"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
fail=0

check() { # name expected-file args...
    local name=$1 want=$2
    shift 2
    if ! "$HERALD_BIN" render "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"; then
        echo "FAIL $name: exit $? ($(cat "$OUT/$name.err"))"
        fail=1
    elif ! cmp -s "$OUT/$name.out" "$want"; then
        echo "FAIL $name: output differs from $(basename "$want")"
        diff "$want" "$OUT/$name.out" | head -20 || true
        fail=1
    else
        echo "ok   $name"
    fi
}

expect_error() { # name exit-code stderr-pattern args...
    local name=$1 code=$2 pattern=$3 rc=0
    shift 3
    "$HERALD_BIN" render "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" || rc=$?
    if [ "$rc" != "$code" ]; then
        echo "FAIL $name: exit $rc, want $code"
        fail=1
    elif ! grep -q -- "$pattern" "$OUT/$name.err"; then
        echo "FAIL $name: stderr lacks \"$pattern\": $(cat "$OUT/$name.err")"
        fail=1
    elif [ -s "$OUT/$name.out" ]; then
        echo "FAIL $name: printed output on error"
        fail=1
    else
        echo "ok   $name"
    fi
}

check html_layout "$D/order_confirmation.expected.html" \
    --template "$D/order_confirmation.mustache" --partials "$D/partials" \
    --data "$D/order_confirmation.json"
check sms_unescaped "$D/sms.expected.txt" \
    --template "$D/sms.mustache" --data "$D/sms.json" --escape none
check webhook_json_stdin "$D/webhook.expected.json" \
    --template "$D/webhook.mustache" --data - --escape json <"$D/webhook.json"
check formatters_fr "$D/localized.fr-FR.expected.txt" \
    --template "$D/localized.mustache" --data "$D/localized.json" \
    --locale fr-FR --timezone Europe/Paris
check formatters_en "$D/localized.en-US.expected.txt" \
    --template "$D/localized.mustache" --data "$D/localized.json" \
    --locale=en-US --timezone=America/New_York

# No newline is added: an empty template prints nothing at all.
printf '' >"$OUT/empty.mustache"
printf '' >"$OUT/empty.expected"
check empty_template "$OUT/empty.expected" --template "$OUT/empty.mustache"

expect_error mismatched_close 1 "broken.mustache' line 4, column 1" --template "$D/broken.mustache"
printf 'Hi {{name}}' >"$OUT/strict.mustache"
expect_error strict_missing 1 'missing variable "name"' --template "$OUT/strict.mustache" --strict
expect_error bad_data 1 "data" --template "$OUT/strict.mustache" --data "$D/broken.mustache"
expect_error missing_template 1 "no-such.mustache" --template "$D/no-such.mustache"
expect_error no_template_flag 2 "--template is required"
expect_error bad_escape 2 "" --template "$OUT/strict.mustache" --escape
expect_error unknown_escape 2 '--escape wants html, none or json, not "xml"' \
    --template "$OUT/strict.mustache" --escape xml

exit $fail
