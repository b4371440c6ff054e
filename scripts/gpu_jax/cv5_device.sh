#!/usr/bin/env bash
# The cross-validation device call's command (prepared by prepare_cv5.sh, whose
# first call left .gpu/cv5a and .whl on the machine): joins the pack, checks it, and trains
# the five folds side by side; the five float16 .npz and sweep.log come back in $OUT.
#
#   scripts/gpu_jax/cv5_device.sh [SWEEP_FILE [RUN_PREFIX]]
#
# SWEEP_FILE defaults to sweeps/cv5.txt; RUN_PREFIX keeps only the runs whose name starts with
# it (sweeps/cv5_levers.txt holds two levers' five folds each, cv5_full_tier.txt two encoders':
# one call per prefix). The encoder the runs name must be the one call 2 carried.
set -euo pipefail
cd "$(dirname "$0")/../.."
sweep=${1:-scripts/gpu_jax/sweeps/cv5.txt}
prefix=${2:-}
[ -f "$sweep" ] || { echo "no sweep file $sweep"; exit 1; }
if [ -n "$prefix" ]; then
  picked=$(mktemp --suffix=.txt)
  awk -v p="$prefix" 'index($1, p) == 1' "$sweep" > "$picked"
  [ -s "$picked" ] || { echo "no run in $sweep starts with $prefix"; exit 1; }
  sweep=$picked
fi
[ -f .gpu/cv5a/pack.part00 ] && [ -d .whl ] ||
    { echo "call 1's files are gone (the machine went cold): rerun call 1 (carry .gpu/cv5a .whl), then this at once"; exit 1; }
cat .gpu/cv5a/pack.part* .gpu/cv5b/pack.part* > .gpu/hc18_224x320.npz
[ "$(sha256sum .gpu/hc18_224x320.npz | cut -d' ' -f1)" = "$(cat .gpu/cv5b/pack.sha256)" ] ||
    { echo "the joined pack does not match its sha256: rerun call 1 (carry .gpu/cv5a .whl)"; exit 1; }
cp .gpu/cv5b/*_k16.npz .gpu/
for weights in $(grep -o -- '--encoder-weights [^ ]*' "$sweep" | cut -d' ' -f2 | sort -u); do
  [ -f "$weights" ] || { echo "the sweep needs $weights, which call 2 did not carry: prepare it with prepare_cv5.sh TFDS_DIR ENCODER_NPZ"; exit 1; }
done
exec scripts/gpu_jax/sweep.sh "$sweep" "${BUDGET:-400}" "${OUT:-/tmp/sweep_out}"
