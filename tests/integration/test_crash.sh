#!/usr/bin/env bash
# Crash test in CI: 20,000 inputs, herald run killed with SIGKILL 5 times at
# random moments and restarted; every outcome exactly once (tests/crash/run).
set -euo pipefail
exec "$HERALD_SOURCE_DIR/tests/crash/run" --kills "${HERALD_CRASH_KILLS:-5}" \
    --requests "${HERALD_CRASH_REQUESTS:-20000}" --build "$HERALD_BUILD_DIR"
