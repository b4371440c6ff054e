#!/usr/bin/env bash
# Refits the BPD, OFD, cephalic-index and corrected-BPD interval tables on the out-of-fold
# predictions of the folds a CPU cross-validation has finished so far (run_queue.sh trains them,
# `python -m hc_tf.train.cross_validate --only K` measures each), and regenerates what carries
# the tables: the app bundle's metadata and the postprocess goldens. The HC table stays the GPU
# folds' (scripts/release_model.sh refits all five tables once the five folds exist).
#
#   scripts/cpu_cv/refit_axis_tables.sh [CV_WORK] [TFDS_DATA_DIR] [WORK_DIR]
#
# Each fit prints every candidate's cross-fitted coverage (also in WORK_DIR/report_*.json):
# rewrite export/README.md's interval sections with them, then run the tests.
set -euo pipefail
cd "$(dirname "$0")/../.."
cv=${1:-$HOME/hc-runs/cv/table_e50}
data=${2:-$HOME/hc-runs/tfds}
work=${3:-$HOME/hc-runs/axis_tables}
mkdir -p "$work"

python -m hc_tf.surfaces.calibrate_intervals collect --cv-work "$cv" --data-dir "$data" \
    --out "$work/oof_predictions.csv"
n=$(($(wc -l < "$work/oof_predictions.csv") - 1))
# the folds collect found: those with an int8 model
folds=$(find "$cv" -path '*/fold*/model_int8.tflite' | sed 's|.*/fold\([0-9]*\)/.*|\1|' | sort -n | paste -sd, -)
for quantity in bpd ofd ci cbpd; do
  python -m hc_tf.surfaces.calibrate_intervals fit --predictions "$work/oof_predictions.csv" \
      --table "hc_tf/clinical/${quantity}_interval_table.json" --quantity "$quantity" \
      --choose rule --report "$work/report_${quantity}.json" \
      --fitted-on "out-of-fold predictions of folds $folds of 5 ($n images; the recipe trained on a CPU, int8)"
done
python scripts/make_bundle.py --tflite hc_tf/models/hc_effunet_int8.tflite
python scripts/make_postprocess_goldens.py
