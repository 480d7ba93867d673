#!/usr/bin/env bash
# nbdev_export and nbdev_clean must leave the tree unchanged: the library is in sync with the
# notebooks and the notebooks are clean. Works on a dirty checkout too (compares copies).
set -euo pipefail
BIN=${1:-.venv/bin}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp -r seqlab "$tmp/lib"; cp -r nbs "$tmp/nbs"
"$BIN/nbdev_export"
if ! diff -r "$tmp/lib" seqlab -x __pycache__; then
  echo "FAIL: nbdev_export changed seqlab/: the library was not exported from the notebooks. Run nbdev_export and commit." >&2; exit 1
fi
"$BIN/nbdev_clean"
if ! diff -r -q "$tmp/nbs" nbs -x .ipynb_checkpoints; then
  echo "FAIL: nbdev_clean changed notebooks in nbs/. Run nbdev_clean and commit." >&2; exit 1
fi
echo "check-sync: library and notebooks in sync and clean"
