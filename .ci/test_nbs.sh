#!/usr/bin/env bash
# Runs every notebook in quick mode with nbdev_test, and fails when one takes longer than
# NB_LIMIT_S seconds (default 60): each notebook must stay quick on a 2-core laptop.
set -euo pipefail
BIN=${1:-.venv/bin}
LIMIT=${NB_LIMIT_S:-60}
log=$(mktemp); trap 'rm -f "$log"' EXIT
SEQLAB_QUICK=1 "$BIN/nbdev_test" --n_workers 1 --timing --do_print 2>&1 | tee "$log"
slow=$(awk -v lim="$LIMIT" '/\.ipynb: [0-9]+ secs/ { if ($2 + 0 > lim) print "  " $1 " " $2 " s" }' "$log")
if [ -n "$slow" ]; then
  echo "FAIL: notebooks slower than ${LIMIT} s in quick mode:" >&2
  echo "$slow" >&2
  exit 1
fi
echo "test-nbs: every notebook ran in quick mode within ${LIMIT} s"
