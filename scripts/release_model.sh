#!/usr/bin/env bash
# Replaces the committed models with a run's best model, flip TTA added inside it
# (hc_tf/modeling/add_flip_tta.py), and regenerates everything derived from it: validation
# evaluation (the single pass, for the lever table, and the released model), the int8 export
# (metadata records the validation summary), int8 parity, the app bundle and both golden
# sets, the review flag's validation figures, and the demo and web-app screenshots.
#
#   scripts/release_model.sh RUN_DIR [TFDS_DATA_DIR] [WORK_DIR]
#
# Then update export/README.md with the printed figures, and the review flag's calibrated
# limit (clinical.DEFAULT_REVIEW_THRESHOLDS) if the calibration moves it.
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:?usage: scripts/release_model.sh RUN_DIR [TFDS_DATA_DIR] [WORK_DIR]}
data=${2:-$HOME/hc-runs/tfds}
work=${3:-$HOME/hc-runs/release}
mkdir -p "$work"

python -m hc_tf.modeling.add_flip_tta "$run/best.keras" export/hc_effunet.keras
cp "$run/training_curve.png" export/training_curve.png
hc-tf evaluate --model "$run/best.keras" --data-dir "$data" --out "$work/eval_single_pass"
hc-tf evaluate --model export/hc_effunet.keras --data-dir "$data" --out "$work/eval_keras"
hc-tf export --model export/hc_effunet.keras --int8 --data-dir "$data" \
    --out hc_tf/models/hc_effunet_int8.tflite --validation-summary "$work/eval_keras/summary.json"
hc-tf parity --model export/hc_effunet.keras --tflite hc_tf/models/hc_effunet_int8.tflite \
    --data-dir "$data" --out "$work/parity_int8"
cp "$work/parity_int8/parity_summary.json" export/parity_int8_validation.json
python scripts/make_bundle.py --tflite hc_tf/models/hc_effunet_int8.tflite
python scripts/make_postprocess_goldens.py
python benchmarks/review_flag_calibration.py --model export/hc_effunet.keras --data-dir "$data" \
    --out "$work/review_flag"
cp "$work/review_flag/risk_coverage.png" export/review_flag_risk_coverage.png
(cd web_app && npm run build)
HC_TF_DEMO_SCREENSHOT=docs/demo.png HC_TF_WEB_SCREENSHOT=docs/web_app.png \
    python -m pytest -q tests/demo_test.py tests/web_app_test.py tests/bundle_test.py
