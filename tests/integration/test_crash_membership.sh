#!/usr/bin/env bash
# Three `herald run` processes in one consumer group while traffic flows, and five
# rounds of the two membership changes that lost requests before issue 10's fix: a
# member killed for good (the survivors take its partitions over; a new member then
# joins), and a member killed for good with a survivor killed and restarted 0-2 s
# after its takeover assignment. Every outcome exactly once in Kafka and PostgreSQL
# (tests/crash/membership; `tests/crash/run --membership --kills 200` is the long version).
set -euo pipefail
exec "$HERALD_SOURCE_DIR/tests/crash/membership" --rounds 5 --build "$HERALD_BUILD_DIR"
