#!/usr/bin/env bash
# Crash test in CI: 20,000 inputs, herald run killed with SIGKILL 24 times and
# restarted (16 while processing: 8 at random moments, 4 right after a Kafka
# commit and before the RocksDB one, 4 before the Kafka commit; 4 more at
# start-up; 4 mid-restore of a wiped state); every outcome exactly once and
# every state store equal to its changelog at the end (tests/crash/run).
set -euo pipefail
exec "$HERALD_SOURCE_DIR/tests/crash/run" --kills "${HERALD_CRASH_KILLS:-16}" \
    --requests "${HERALD_CRASH_REQUESTS:-20000}" --build "$HERALD_BUILD_DIR"
