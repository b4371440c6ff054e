#!/usr/bin/env bash
# The cross-validation device call's command (prepared by prepare_cv5.sh; the call carries
# .gpu/cv5a, .gpu/cv5b and .whl): joins the pack, checks it, and trains the sweep's runs side
# by side; the float16 .npz (as many as one call returns: five Lite0 folds) and sweep.log come
# back in $OUT.
#
#   scripts/gpu_jax/cv5_device.sh [SWEEP_FILE [RUN_PREFIX]]
#
# SWEEP_FILE defaults to sweeps/cv5.txt; RUN_PREFIX keeps only the runs whose name starts with
# it (sweeps/cv5_levers.txt holds three levers' five folds each, cv5_full_tier.txt two encoders':
# one call per prefix). The encoder the runs name must be the one the call carried.
#
# TIMEOUT_S: the device call's timeout_s (default 600), which the sweep must end within:
# sweep.sh ends by BUDGET + MARGIN_S (its stop 60 + kill 30 + pack 40 s, + 10 s to start), so
# BUDGET defaults to TIMEOUT_S - MARGIN_S and a larger BUDGET is refused:
#   TIMEOUT_S=540 scripts/gpu_jax/cv5_device.sh ...   with the tool's timeout_s 540 (BUDGET 400)
set -euo pipefail
cd "$(dirname "$0")/../.."
sweep=${1:-scripts/gpu_jax/sweeps/cv5.txt}
prefix=${2:-}
[ -f "$sweep" ] || { echo "no sweep file $sweep"; exit 1; }
MARGIN_S=140
timeout_s=${TIMEOUT_S:-600}
budget=${BUDGET:-$((timeout_s - MARGIN_S))}
[ "$budget" -le $((timeout_s - MARGIN_S)) ] ||
    { echo "BUDGET=$budget does not fit a call of timeout_s $timeout_s (TIMEOUT_S): at most $((timeout_s - MARGIN_S)), as sweep.sh ends by BUDGET + $MARGIN_S s"; exit 1; }
if [ -n "$prefix" ]; then
  mkdir -p .gpu
  picked=.gpu/sweep_${prefix}.txt  # in the tree, not a temp file: exec below runs no cleanup
  awk -v p="$prefix" 'index($1, p) == 1' "$sweep" > "$picked"
  [ -s "$picked" ] || { echo "no run in $sweep starts with $prefix"; exit 1; }
  sweep=$picked
fi
[ -f .gpu/cv5a/pack.part00 ] && [ -d .whl ] ||
    { echo "the call did not carry .gpu/cv5a and .whl: carry .gpu/cv5a, .gpu/cv5b and .whl (prepare_cv5.sh)"; exit 1; }
cat .gpu/cv5a/pack.part* .gpu/cv5b/pack.part* > .gpu/hc18_224x320.npz
[ "$(sha256sum .gpu/hc18_224x320.npz | cut -d' ' -f1)" = "$(cat .gpu/cv5b/pack.sha256)" ] ||
    { echo "the joined pack does not match its sha256: rerun prepare_cv5.sh and the call"; exit 1; }
cp .gpu/cv5b/*_k16.npz .gpu/
for weights in $(grep -o -- '--encoder-weights [^ ]*' "$sweep" | cut -d' ' -f2 | sort -u); do
  [ -f "$weights" ] || { echo "the sweep needs $weights, which the call did not carry: prepare it with prepare_cv5.sh TFDS_DIR ENCODER_NPZ"; exit 1; }
done
exec scripts/gpu_jax/sweep.sh "$sweep" "$budget" "${OUT:-/tmp/sweep_out}"
