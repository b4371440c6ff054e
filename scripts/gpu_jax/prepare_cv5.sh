#!/usr/bin/env bash
# Prepares the cross-validation device call on the TensorFlow side: the packed data with
# every image's fold, the float16-kernel encoder weights and the wheels the GPU machine lacks,
# and prints what the call sends against the 64 MiB limit.
#
#   scripts/gpu_jax/prepare_cv5.sh [TFDS_DATA_DIR] [ENCODER_NPZ]
#
# ENCODER_NPZ: the converted ImageNet encoder the sweep starts from (default Lite0, the edge
# model's; ~/hc-runs/encoders/lite2_imagenet.npz for the full-tier call, sweeps/cv5_full_tier.txt).
# The call carries that one encoder only (each is 7-10 MiB at float16 kernels).
#
# One call, with the 25 MB export/hc_effunet.keras left out of the tree (it is tracked:
# `git checkout -- export/hc_effunet.keras` brings it back; the GPU run does not need it):
# tree ~20.5 MiB + pack 23 MiB + encoder 7 MiB + wheels 3 MiB. (Two calls, the pack split over
# them, failed on 2026-12-04: the second found the first's carried files gone on a warm machine.)
# The calls, their timeouts and where their files go: docs/reproducing.md section 6 (call 1
# cv5.txt, call 2 a cv5_levers.txt prefix on the warm machine); in short:
#   rm export/hc_effunet.keras        (out until the last call has returned)
#   device tool: carry [".gpu/cv5a", ".gpu/cv5b", ".whl"], timeout_s 540,
#     command `TIMEOUT_S=540 scripts/gpu_jax/cv5_device.sh scripts/gpu_jax/sweeps/cv5.txt`
#   mkdir -p ~/hc-runs/cv5_out && cp -f FILES_AT/*.npz ~/hc-runs/cv5_out/   (at once)
#   git checkout -- export/hc_effunet.keras   (after the last call)
# and back here, with the returned files:
#   python -m hc_tf.train.cross_validate --source "$HOME/hc-runs/cv5_out/cv5_f{fold}.npz" --data-dir TFDS --work ~/hc-runs/cv5
#
# TFDS_DATA_DIR (default ~/hc-runs/tfds) must hold hc18/val20 already (`hc-tf prepare
# --manual-dir ../shared/hc18 --data-dir ~/hc-runs/tfds`), which needs the labelled images:
# on some machines ../shared/hc18 holds only test_set.
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-$HOME/hc-runs/tfds}
encoder=${2:-$HOME/hc-runs/lite0_imagenet.npz}
half=.gpu/cv5b/$(basename "$encoder" .npz)_k16.npz
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
for ignored in /.gpu/ /.whl/; do grep -qx "$ignored" "$exclude" 2>/dev/null || echo "$ignored" >> "$exclude"; done
mkdir -p .gpu/cv5a .gpu/cv5b .whl
pack=.gpu/hc18_224x320_folds.npz
if [ ! -f "$pack" ]; then
  [ -d "$data" ] || { echo "no TFDS data in $data: build it first with hc-tf prepare --manual-dir" \
      "../shared/hc18 --data-dir $data (it needs the labelled training_set, not only test_set)"; exit 1; }
  python -m hc_tf.train.jax_backend.pack_hc18 --data-dir "$data" --out "$pack" --folds 5
fi
find .gpu/cv5b -name '*_k16.npz' ! -path "$half" -delete
[ -f "$half" ] || python -m hc_tf.modeling.lite_pytorch_weights --half "$encoder" --out "$half"
rm -f .gpu/cv5a/pack.part* .gpu/cv5b/pack.part*
split -b 13M -d "$pack" .gpu/cv5a/pack.part   # cv5_device.sh joins and checks them
mv .gpu/cv5a/pack.part01 .gpu/cv5b/
sha256sum "$pack" | cut -d' ' -f1 > .gpu/cv5b/pack.sha256
# The Keras 3 + segmentation-models stack the trainer runs on (the versions of the CPU JAX
# venv the tests use); the machine has JAX, NumPy, OpenCV, scikit-image, h5py, absl, rich.
for wheel in keras==3.15.1 namex optree segmentation-models==1.0.1 efficientnet==1.0.0 \
             image-classifiers==1.0.0 keras-applications==1.0.8; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d .whl "$wheel"
done
tree=$(git ls-files -co --exclude-standard -z | grep -zv '^export/hc_effunet.keras$' |
       xargs -0 du -cb 2>/dev/null | tail -n 1 | cut -f1)
sent=$(( tree + $(du -cb .gpu/cv5a .gpu/cv5b .whl | tail -n 1 | cut -f1) ))
echo "the call sends $(( sent >> 20 )) MiB without export/hc_effunet.keras (64 MiB at most)"
[ "$sent" -le $((64 << 20)) ] || { echo "over 64 MiB: it would not be carried"; exit 1; }
