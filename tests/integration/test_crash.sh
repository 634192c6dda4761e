#!/usr/bin/env bash
# Crash test in CI: 20,000 inputs, herald run killed with SIGKILL 20 times at
# random moments (16 while processing, 4 more at start-up) and restarted; every
# outcome exactly once (tests/crash/run).
set -euo pipefail
exec "$HERALD_SOURCE_DIR/tests/crash/run" --kills "${HERALD_CRASH_KILLS:-16}" \
    --requests "${HERALD_CRASH_REQUESTS:-20000}" --build "$HERALD_BUILD_DIR"
