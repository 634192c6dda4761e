#!/usr/bin/env bash
# herald config checks its file before it connects: with a broker that does not answer,
# a malformed file must fail at once naming the field (a connection attempt would wait
# 30 s and report a Kafka error instead); `herald config check` does the same offline,
# and passes a good document. Plugin settings are checked the same way: herald run refuses
# a bad one before connecting, and herald plugins --check offline.
set -euo pipefail
herald=${HERALD_BIN:?}
work=$(mktemp -d /tmp/herald-config-check.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "test_config_check: $*" >&2; exit 1; }
cat > "$work/bad.json" <<'DOC'
{"tenants": [{"tenant_id": "acme"}],
 "rules": [{"id": "r", "tenant_id": "acme", "event_type": "order.created", "channels": ["EMAIL"],
            "when": [{"field": "total", "op": "bogus", "value": 1}]}]}
DOC
cat > "$work/good.json" <<'DOC'
{"tenants": [{"tenant_id": "acme", "name": "Acme"}],
 "rules": [{"id": "r", "tenant_id": "acme", "event_type": "order.created", "channels": ["EMAIL"],
            "content": {"subject": "Hi", "text": "Order received"}}]}
DOC
echo '{"tenant_id": "acme", "dedup_ttl_ms": {"EMAIL": "soon"}}' > "$work/tenant.json"
echo '{"tenants": [' > "$work/broken.json"
expect_fail() { # WHAT NEEDLE CMD...
    local what=$1 needle=$2 rc=0 out
    shift 2
    out=$(HERALD_BROKERS=127.0.0.1:1 timeout 10 "$@" 2>&1) || rc=$?
    [ "$rc" -eq 1 ] || fail "$what: exit $rc (want 1): $out"
    case $out in *"$needle"*) ;; *) fail "$what: the error does not name $needle: $out" ;; esac
}
expect_fail "import of a bad rule" 'rules[0]: rule: when[0].op: unknown operator "bogus"' \
    "$herald" config import "$work/bad.json"
expect_fail "put of a bad tenant" "dedup_ttl_ms" "$herald" config put tenant "$work/tenant.json"
expect_fail "import of broken JSON" "broken.json: line 2" "$herald" config import "$work/broken.json"
expect_fail "check of a bad rule" 'when[0].op' "$herald" config check "$work/bad.json"
expect_fail "check of a bad tenant" "dedup_ttl_ms" "$herald" config check tenant "$work/tenant.json"
expect_fail "a document with an unknown list" 'unknown member "rulez"' \
    "$herald" config check <(echo '{"rulez": []}')
# plugin settings (their config maps): herald run refuses a bad one before it connects,
# and herald plugins --check does it offline
rc=0
out=$(HERALD_BROKERS=127.0.0.1:1 HERALD_SCHEDULE_RELEASE_MAX=0 timeout 10 "$herald" run \
    --role pipeline 2>&1) || rc=$?
[ "$rc" -eq 2 ] || fail "run with a bad plugin setting: exit $rc (want 2): $out"
case $out in *'schedule.release_max (HERALD_SCHEDULE_RELEASE_MAX): "0"'*) ;;
    *) fail "run: the error does not name the setting: $out" ;; esac
expect_fail "plugins --check of a bad setting" "HERALD_SCHEDULE_RELEASE_MAX" \
    env HERALD_SCHEDULE_RELEASE_MAX=many "$herald" plugins --check
out=$(env -u HERALD_BROKERS "$herald" plugins --check) || fail "plugins --check refused defaults"
case $out in "every setting of"*"is valid") ;; *) fail "plugins --check printed: $out" ;; esac
"$herald" plugins | grep -q 'outbox.dir  string  HERALD_OUTBOX_DIR' ||
    fail "herald plugins does not list the outbox's settings"
out=$(env -u HERALD_BROKERS "$herald" config check "$work/good.json") || fail "a good document was refused"
[ "$out" = "$work/good.json: ok (config document)" ] || fail "check printed: $out"
echo "test_config_check: ok"
