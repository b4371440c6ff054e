#!/usr/bin/env bash
# The call after a sweep whose packed runs exceeded one call's return (sweep.sh held them back
# in $RUNS_DIR/_rest on the warm machine): copies them to $OUT. Send it at once (a warm
# machine is released after ~30 s idle); a cold machine has lost them.
#
#   scripts/gpu_jax/return_rest.sh        (device tool, timeout 60)
set -euo pipefail
rest=${RUNS_DIR:-/tmp/runs}/_rest
out=${OUT:?the device tool sets OUT}
shopt -s nullglob
files=("$rest"/*.npz)
[ ${#files[@]} -gt 0 ] || { echo "nothing held back in $rest (none was, or the machine went cold)"; exit 1; }
cp "${files[@]}" "$out"/
ls -la "$out"
