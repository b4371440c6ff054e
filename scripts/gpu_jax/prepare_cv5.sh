#!/usr/bin/env bash
# Prepares the cross-validation device calls on the TensorFlow side: the packed data
# with every image's fold, the float16-kernel encoder weights and the wheels the GPU machine
# lacks, split over two carries, and prints what each call sends against the 64 MiB limit.
#
#   scripts/gpu_jax/prepare_cv5.sh [TFDS_DATA_DIR] [ENCODER_NPZ]
#
# ENCODER_NPZ: the converted ImageNet encoder the sweep starts from (default Lite0, the edge
# model's; ~/hc-runs/encoders/lite2_imagenet.npz for the full-tier call, sweeps/cv5_full_tier.txt).
# Call 2 carries that one encoder only (each is 7-10 MiB at float16 kernels; two do not fit).
#
# Why two calls: the tracked tree alone is ~42 MiB (the 25 MB export/hc_effunet.keras), the
# pack 23 MiB, the encoder 7 MiB, the wheels 3 MiB: 75 MiB in one call. A warm machine keeps
# ignored paths between calls, so (device tool, back to back: a warm machine is released after
# ~30 s idle, so send call 2 as soon as call 1 returns):
#   1. carry [".gpu/cv5a", ".whl"]   command: ls -la .gpu/cv5a .whl && nvidia-smi -L   (timeout 120)
#   2. carry [".gpu/cv5b"]           command: scripts/gpu_jax/cv5_device.sh   (timeout 600)
# and back here, with the returned files:
#   python -m hc_tf.train.cross_validate --source 'RETURNED/cv5_f{fold}.npz' --data-dir TFDS --work ~/hc-runs/cv5
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
[ -f "$pack" ] ||
    python -m hc_tf.train.jax_backend.pack_hc18 --data-dir "$data" --out "$pack" --folds 5
find .gpu/cv5b -name '*_k16.npz' ! -path "$half" -delete
[ -f "$half" ] || python -m hc_tf.modeling.lite_pytorch_weights --half "$encoder" --out "$half"
rm -f .gpu/cv5a/pack.part* .gpu/cv5b/pack.part*
split -b 13M -d "$pack" .gpu/cv5a/pack.part   # part00 (13 MiB) -> call 1, part01 -> call 2
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
tree=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -n 1 | cut -f1)
a=$(du -cb .gpu/cv5a .whl | tail -n 1 | cut -f1)
b=$(du -cb .gpu/cv5b | tail -n 1 | cut -f1)
echo "call 1 sends $(( (tree + a) >> 20 )) MiB, call 2 $(( (tree + b) >> 20 )) MiB (64 MiB at most each)"
for sent in $((tree + a)) $((tree + b)); do
  [ "$sent" -le $((64 << 20)) ] || { echo "a call is over 64 MiB: it would not be carried"; exit 1; }
done
