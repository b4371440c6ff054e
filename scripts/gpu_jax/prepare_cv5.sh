#!/usr/bin/env bash
# Prepares the cross-validation device call (issue 28) on the TensorFlow side: the packed data
# with every image's fold, the float16-kernel encoder weights, and the wheels the GPU machine
# lacks; then prints what will travel against the 64 MiB limit.
#
#   scripts/gpu_jax/prepare_cv5.sh [TFDS_DATA_DIR] [LITE0_NPZ]
#
# Then, on the device machine (carry .gpu and .whl; .git/info/exclude ignores both):
#   scripts/gpu_jax/sweep.sh scripts/gpu_jax/sweeps/cv5.txt 400 "$OUT"
# and back here:
#   python -m hc_tf.train.cross_validate --source 'RETURNED/cv5_f{fold}.npz' --data-dir TFDS --work ~/hc-runs/cv5
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-$HOME/hc-runs/tfds}
lite0=${2:-$HOME/hc-runs/lite0_imagenet.npz}
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
for ignored in /.gpu/ /.whl/; do grep -qx "$ignored" "$exclude" 2>/dev/null || echo "$ignored" >> "$exclude"; done
mkdir -p .gpu .whl
[ -f .gpu/hc18_224x320.npz ] ||
    python -m hc_tf.train.jax_backend.pack_hc18 --data-dir "$data" --out .gpu/hc18_224x320.npz --folds 5
[ -f .gpu/lite0_imagenet_k16.npz ] ||
    python -m hc_tf.modeling.lite0_pytorch_weights --half "$lite0" --out .gpu/lite0_imagenet_k16.npz
# The Keras 3 + segmentation-models stack the trainer runs on there (the versions of the CPU
# JAX venv the tests use); the machine has JAX, NumPy, OpenCV, h5py, absl, rich, ml-dtypes.
for wheel in keras==3.15.1 namex optree segmentation-models==1.0.1 efficientnet==1.0.0 \
             image-classifiers==1.0.0 keras-applications==1.0.8; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d .whl "$wheel"
done
du -ch .gpu .whl $(git ls-files) 2>/dev/null | tail -n 1 | sed 's/total/travels (64 MiB at most)/'
