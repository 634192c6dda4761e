#!/usr/bin/env bash
# Two `herald run` processes in one consumer group: the second starts alone, owns
# every partition and processes the first chunk (state for all of them); the first
# joins, the rebalance moves about half the partitions and their state to it, and
# the second is killed for good; the first takes over the rest, their dedup and
# timer state (from the changelogs) and the materializer's offsets (from
# PostgreSQL); then more kill -9s of the survivor (random, at a crash point,
# mid-restore of a wiped state). Every outcome exactly once (tests/crash/run).
set -euo pipefail
exec "$HERALD_SOURCE_DIR/tests/crash/run" --takeover --kills 2 --requests 8000 \
    --build "$HERALD_BUILD_DIR"
