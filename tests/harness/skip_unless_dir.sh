#!/usr/bin/env bash
# skip_unless_dir.sh DIR WHAT CMD...: runs CMD when DIR exists; otherwise says why and exits
# 77, which ctest reports as a skipped test (SKIP_RETURN_CODE), never as a pass or a failure.
set -euo pipefail
dir=$1 what=$2
shift 2
if [ ! -d "$dir" ]; then
    echo "skipped: $what is not here: $dir does not exist (it comes with the workspace's" \
         "../shared/spec, next to the clone)" >&2
    exit 77
fi
exec "$@"
