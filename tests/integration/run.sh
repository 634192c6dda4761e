#!/usr/bin/env bash
# Runs one integration test script with the harness's environment: the files
# kafka.env and pg.env that tests/harness/ wrote (HERALD_BROKERS, HERALD_PG, ...).
set -euo pipefail
: "${HERALD_HARNESS_DIR:?}"
for f in "$HERALD_HARNESS_DIR"/kafka.env "$HERALD_HARNESS_DIR"/pg.env; do
    [ -f "$f" ] || { echo "run.sh: $f is missing: the harness did not start" >&2; exit 1; }
    set -a; . "$f"; set +a
done
exec bash "$1"
