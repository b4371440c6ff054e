#!/usr/bin/env bash
# Replaces the committed models with a run's best model, and regenerates everything
# derived from it: validation evaluation (with and without flip TTA), the int8 export
# (metadata records the validation summary), int8 parity, and the app bundle.
#
#   scripts/release_model.sh RUN_DIR [TFDS_DATA_DIR] [WORK_DIR]
#
# Then update export/README.md with the printed figures.
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:?usage: scripts/release_model.sh RUN_DIR [TFDS_DATA_DIR] [WORK_DIR]}
data=${2:-$HOME/hc-runs/tfds}
work=${3:-$HOME/hc-runs/release}
mkdir -p "$work"

cp "$run/best.keras" export/.hc_effunet.keras.tmp && mv export/.hc_effunet.keras.tmp export/hc_effunet.keras
cp "$run/training_curve.png" export/training_curve.png
hc-tf evaluate --model export/hc_effunet.keras --data-dir "$data" --out "$work/eval_keras"
hc-tf evaluate --model export/hc_effunet.keras --data-dir "$data" --out "$work/eval_keras_flip_tta" --flip-tta
hc-tf export --model export/hc_effunet.keras --int8 --data-dir "$data" \
    --out export/hc_effunet_int8.tflite --validation-summary "$work/eval_keras/summary.json"
hc-tf parity --model export/hc_effunet.keras --tflite export/hc_effunet_int8.tflite \
    --data-dir "$data" --out "$work/parity_int8"
cp "$work/parity_int8/parity_summary.json" export/parity_int8_validation.json
python scripts/make_bundle.py --tflite export/hc_effunet_int8.tflite
