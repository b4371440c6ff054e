#!/usr/bin/env bash
# The call after a sweep whose packed runs exceeded one call's return (sweep.sh held them back
# in $RUNS_DIR/_rest on the warm machine: six runs, or five Lite1/Lite2 folds; five Lite0 folds
# fit one call): copies to $OUT what one call may return (RETURN_MIB, default 60, and at most 7
# files) and keeps the rest for the next such call. Send it at once (a warm machine is
# released after ~30 s idle); a cold machine has lost them.
#
#   scripts/gpu_jax/return_rest.sh        (device tool, timeout 60; again while it says more wait)
set -euo pipefail
rest=${RUNS_DIR:-/tmp/runs}/_rest
out=${OUT:?the device tool sets OUT}
shopt -s nullglob
files=("$rest"/*.npz)
[ ${#files[@]} -gt 0 ] || { echo "nothing held back in $rest (none was, or the machine went cold)"; exit 1; }
mkdir -p "$rest/sent"
limit=$(( ${RETURN_MIB:-60} << 20 )) sent=0 count=0
for file in "${files[@]}"; do
  size=$(stat -c %s "$file")
  [ $((sent + size)) -le "$limit" ] && [ "$count" -lt 7 ] || continue
  cp "$file" "$out"/ && mv "$file" "$rest/sent/"  # sent/: for a rerun if a transfer broke
  sent=$((sent + size)) count=$((count + 1))
done
ls -la "$out"
left=("$rest"/*.npz)
[ ${#left[@]} -eq 0 ] || echo "${#left[@]} more held back: send scripts/gpu_jax/return_rest.sh again"
