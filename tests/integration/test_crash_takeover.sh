#!/usr/bin/env bash
# Two `herald run` processes in one consumer group; the second is killed for
# good right after the Kafka commit of its third transaction with state writes
# (so it did own partitions and commit work with them), and the first takes
# over its partitions, their dedup state (from the changelogs) and the
# materializer's offsets (from PostgreSQL); then three more kill -9s of the
# survivor (one random, one after a Kafka commit, one mid-restore of a wiped
# state). Every outcome exactly once (tests/crash/run).
set -euo pipefail
exec "$HERALD_SOURCE_DIR/tests/crash/run" --takeover --kills 2 --requests 8000 \
    --build "$HERALD_BUILD_DIR"
