#!/usr/bin/env bash
# Two `herald run` processes in one consumer group; one is killed for good
# mid-run and the other takes over its partitions, their dedup state (from the
# changelogs) and the materializer's offsets (from PostgreSQL); then two more
# kill -9s of the survivor. Every outcome exactly once (tests/crash/run).
set -euo pipefail
exec "$HERALD_SOURCE_DIR/tests/crash/run" --takeover --kills 2 --requests 8000 \
    --build "$HERALD_BUILD_DIR"
