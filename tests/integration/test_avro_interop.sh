#!/usr/bin/env bash
# Avro interoperability: Herald's serde (through tests/tools/hd_avro) against
# fastavro, both directions, plus canonical forms and fingerprints. See
# avro_interop.py for what is checked. Needs the Python venv that
# scripts/bootstrap creates; without it this test fails, it never skips.
set -euo pipefail
: "${HERALD_BUILD_DIR:?HERALD_BUILD_DIR is not set}"
: "${HERALD_SOURCE_DIR:?HERALD_SOURCE_DIR is not set}"

py="${HERALD_CACHE:-$HOME/.cache/herald}/venv/bin/python"
if [ ! -x "$py" ]; then
    echo "test_avro_interop: FAIL: $py is missing; create the venv with fastavro==1.13.1" \
        "(the bootstrap script does this)" >&2
    exit 1
fi
if ! "$py" -c 'import fastavro' 2>/dev/null; then
    echo "test_avro_interop: FAIL: fastavro is not installed in $py" >&2
    exit 1
fi

tool="$HERALD_BUILD_DIR/tests/hd_avro"
if [ ! -x "$tool" ]; then
    echo "test_avro_interop: FAIL: $tool is missing; build the hd_avro target" >&2
    exit 1
fi

exec "$py" "$HERALD_SOURCE_DIR/tests/integration/avro_interop.py" --tool "$tool" \
    --source "$HERALD_SOURCE_DIR"
