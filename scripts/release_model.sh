#!/usr/bin/env bash
# Replaces the committed models with a run's best model, flip TTA added inside it
# (hc_tf/modeling/add_flip_tta.py), and regenerates everything derived from it: validation
# evaluation (the single pass, for the lever table, and the released model), the int8 export
# (metadata records the validation summary), int8 parity, the app bundle and both golden
# sets, the review flag's validation figures, and the demo and web-app screenshots.
#
#   scripts/release_model.sh RUN_DIR [TFDS_DATA_DIR] [WORK_DIR]
#
# A run trained on every labelled image (`--train-on-all`, the release after cross-validation)
# has no held-out image: then CV_WORK (default ~/hc-runs/cv5, the cross_validate work dir of
# its recipe) gives the figures instead: the metadata records the cross-validated summary, and
# the review flag and the HC interval table are calibrated on the folds' out-of-fold
# predictions. Its validation-split figures below are then on trained-on images.
#
# Then update export/README.md with the printed figures, and the review flag's calibrated
# limit (clinical.DEFAULT_REVIEW_THRESHOLDS) if the calibration moves it.
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:?usage: scripts/release_model.sh RUN_DIR [TFDS_DATA_DIR] [WORK_DIR]}
data=${2:-$HOME/hc-runs/tfds}
work=${3:-$HOME/hc-runs/release}
mkdir -p "$work"
all_data=$(python -c 'import json, sys; print(int(bool(json.load(open(sys.argv[1])).get("train_on_all"))))' "$run/best.json")
cv=${CV_WORK:-$HOME/hc-runs/cv5}
if [ "$all_data" = 1 ] && [ ! -f "$cv/cv_summary.json" ]; then
  echo "$run was trained on all labelled images: CV_WORK=$cv needs its recipe's cross-validation (hc_tf.train.cross_validate)" >&2
  exit 1
fi

python -m hc_tf.modeling.add_flip_tta "$run/best.keras" export/hc_effunet.keras
cp "$run/training_curve.png" export/training_curve.png
hc-tf evaluate --model "$run/best.keras" --data-dir "$data" --out "$work/eval_single_pass"
hc-tf evaluate --model export/hc_effunet.keras --data-dir "$data" --out "$work/eval_keras"
if [ "$all_data" = 1 ]; then
  figures=(--cross-validation-summary "$cv/cv_summary.json")
else
  figures=(--validation-summary "$work/eval_keras/summary.json")
fi
hc-tf export --model export/hc_effunet.keras --int8 --data-dir "$data" --overwrite \
    --out hc_tf/models/hc_effunet_int8.tflite "${figures[@]}"
hc-tf parity --model export/hc_effunet.keras --tflite hc_tf/models/hc_effunet_int8.tflite \
    --data-dir "$data" --out "$work/parity_int8"
cp "$work/parity_int8/parity_summary.json" export/parity_int8_validation.json
if [ "$all_data" = 1 ]; then
  # The folds' int8 models on their held-out images: every labelled image once, never trained on.
  python -m hc_tf.surfaces.calibrate_intervals collect --cv-work "$cv" --data-dir "$data" \
      --out "$work/oof_predictions.csv"
  python -m hc_tf.surfaces.calibrate_intervals fit --predictions "$work/oof_predictions.csv" \
      --table hc_tf/clinical/interval_table.json \
      --fitted-on "out-of-fold predictions of 5 folds" --report "$work/intervals.json"
  for axis in bpd ofd ci cbpd; do  # BPD, OFD, cephalic index, corrected BPD: same predictions
    python -m hc_tf.surfaces.calibrate_intervals fit --predictions "$work/oof_predictions.csv" \
        --table "hc_tf/clinical/${axis}_interval_table.json" --quantity "$axis" --choose rule \
        --fitted-on "out-of-fold predictions of 5 folds" --report "$work/intervals_${axis}.json"
  done
  python benchmarks/review_flag_calibration.py --predictions "$work/oof_predictions.csv" \
      --out "$work/review_flag"
else
  python benchmarks/review_flag_calibration.py --model export/hc_effunet.keras --data-dir "$data" \
      --out "$work/review_flag"
fi
python scripts/make_bundle.py --tflite hc_tf/models/hc_effunet_int8.tflite
python scripts/make_postprocess_goldens.py
cp "$work/review_flag/risk_coverage.png" export/review_flag_risk_coverage.png
(cd web_app && npm run build)
HC_TF_DEMO_SCREENSHOT=docs/demo.png HC_TF_WEB_SCREENSHOT=docs/web_app.png \
    python -m pytest -q tests/demo_test.py tests/web_app_test.py tests/bundle_test.py
