#!/usr/bin/env bash
# The cross-validation device call's command (issue 28; prepared by prepare_cv5.sh, whose
# first call left .gpu/cv5a and .whl on the machine): joins the pack, checks it, and trains
# the five folds side by side; the five float16 .npz and sweep.log come back in $OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f .gpu/cv5a/pack.part00 ] && [ -d .whl ] ||
    { echo "call 1's files are gone (the machine went cold): rerun call 1 (carry .gpu/cv5a .whl), then this at once"; exit 1; }
cat .gpu/cv5a/pack.part* .gpu/cv5b/pack.part* > .gpu/hc18_224x320.npz
[ "$(sha256sum .gpu/hc18_224x320.npz | cut -d' ' -f1)" = "$(cat .gpu/cv5b/pack.sha256)" ] ||
    { echo "the joined pack does not match its sha256: rerun call 1 (carry .gpu/cv5a .whl)"; exit 1; }
cp .gpu/cv5b/lite0_imagenet_k16.npz .gpu/
exec scripts/gpu_jax/sweep.sh scripts/gpu_jax/sweeps/cv5.txt "${BUDGET:-400}" "${OUT:-/tmp/sweep_out}"
