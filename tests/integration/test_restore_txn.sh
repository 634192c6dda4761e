#!/usr/bin/env bash
# A state restore reads its changelog to the high watermark, not to the last stable
# offset: it waits for a transaction still open on the changelog, takes its writes
# when it commits, and leaves them out when it aborts (tests/tools/hd_restore_txn.c).
set -euo pipefail
for how in commit abort; do
    "$HERALD_BUILD_DIR/tests/hd_restore_txn" "$how"
done
