"""Fits the HC interval table (`hc_tf/clinical/interval_table.json`) on held-out predictions.

Two steps (the first needs the prepared TFDS data and the model; the second only its CSV):

    # 1. a model's predictions on the validation split, which it must not have trained on (a
    #    model of `hc-tf train`; not the released one, trained on all), with the quality
    #    signals (TF for TFDS reading)
    python -m hc_tf.surfaces.calibrate_intervals collect --model RUN/best_int8.tflite \
        --data-dir ~/hc-runs/tfds --out RUN/val_predictions.csv
    # 2. fit: normalized conformal regression (crepes) with a difficulty from the model-pixel
    #    size, head size and quality signals (CANDIDATES); cross-fitted report by examination folds;
    #    the chosen one (--choose; BANDED candidates are Mondrian: quantiles per head-size bin)
    #    fitted on all of it, written beside the model (MODEL.interval_table.json), where every
    #    path that loads that model finds it (--table has no default: the package's table,
    #    hc_tf/clinical/interval_table.json, is the released model's own)
    python -m hc_tf.surfaces.calibrate_intervals fit --predictions RUN/val_predictions.csv \
        --table RUN/best_int8.interval_table.json --fitted-on "validation split" \
        --report RUN/calibration.json

After cross-validation (`hc_tf.train.cross_validate`), every labelled image has an out-of-fold
prediction: collected from each fold's model on its own held-out images, they calibrate the
all-data model's table on 896 images instead of 185; this is how the released model's table is
made (`scripts/release_model.sh`). The fold models' quantiles applied to the all-data model are
the naive cross-validation approach, not CV+ (which builds an interval from the fold models' own
predictions): no coverage guarantee for the all-data model, whose coverage is then to be checked
on labelled images it did not train on (`hc-tf evaluate`, or `collect --hc18-folder` + `check`):

    python -m hc_tf.surfaces.calibrate_intervals collect --cv-work ~/hc-runs/cv5 \
        --data-dir ~/hc-runs/tfds --out ~/hc-runs/cv5/oof_predictions.csv
    python -m hc_tf.surfaces.calibrate_intervals fit --predictions ~/hc-runs/cv5/oof_predictions.csv \
        --table hc_tf/clinical/interval_table.json \
        --fitted-on "out-of-fold predictions of 5 folds" --report ...

The same predictions carry BPD and OFD (the fitted ellipse's axes) and the annotation
ellipse's: `fit --quantity bpd` (or `ofd`; `ci`, the cephalic index, 100 BPD / OFD; `cbpd`,
the corrected BPD) fits a table of their errors, with the HC's difficulty features and
head-size bins; `--choose rule` picks the candidate as the released tables were picked.

On other labelled images (an independent check; the table is applied as it is, never refitted):

    python -m hc_tf.surfaces.calibrate_intervals collect --hc18-folder FOLDER --out other.csv
    python -m hc_tf.surfaces.calibrate_intervals check --predictions other.csv [--quantity bpd]

Needs the `[calibrate]` extra (crepes, scikit-learn). The package applies the table with
NumPy alone (`hc_tf.clinical.intervals`), so nothing here is needed at run time.
Only the validation split (or the folds' held-out parts) is used: other labelled images
stay for an independent check.

This module is the command line only: collecting is `interval_predictions`, fitting and
checking `interval_fitting`.
"""

from __future__ import annotations

import argparse
import sys

from hc_tf.clinical import interval_table
from hc_tf.surfaces.interval_fitting import (ALL_CANDIDATES, BAND_SLACK, QUANTITIES, RULE, check,
                                             fit)
from hc_tf.surfaces.interval_predictions import CV_MODELS, collect


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--model", default="hc_tf/models/hc_effunet_int8.tflite",
                   help="default: the released model (--hc18-folder only; see --cv-work)")
    c.add_argument("--data-dir", help="prepared TFDS data: its validation split")
    c.add_argument("--hc18-folder", default="",
                   help="instead: an HC18-layout folder (for `check` on other labelled images)")
    c.add_argument("--cv-work", default="",
                   help="instead: a cross_validate work dir: each fold's model on its held-out images")
    c.add_argument("--cv-tier", default="int8", choices=sorted(CV_MODELS))
    c.add_argument("--folds", type=int, default=5)
    c.add_argument("--out", required=True)
    k = sub.add_parser("check", help="coverage of the table as it is on another labelled set")
    k.add_argument("--predictions", required=True)
    k.add_argument("--table", default=None, help="default: the package's table of --quantity")
    k.add_argument("--quantity", default="hc", choices=QUANTITIES)
    f = sub.add_parser("fit")
    f.add_argument("--predictions", required=True)
    # No default: the package's table belongs to the released model only (a slip would replace it).
    f.add_argument("--table", required=True, help="the table to write: MODEL.interval_table.json "
                   "beside your model, or the package's (hc_tf/clinical/interval_table.json)")
    f.add_argument("--report", required=True)
    f.add_argument("--choose", default="normalized: model pixel + quality, by HC band",
                   choices=sorted(ALL_CANDIDATES) + [RULE],
                   help="default: the released HC table's; 'rule': every head-size band "
                        f"covered within {BAND_SLACK} of every level, then the narrowest at 95%%")
    f.add_argument("--fitted-on", default="val20 validation", help="said in the table's method")
    f.add_argument("--quantity", default="hc", choices=QUANTITIES,
                   help="whose errors: the HC's, BPD's or OFD's (the head ellipse's axes), "
                        "the cephalic index's (ci) or the corrected BPD's (cbpd)")
    a = p.parse_args(argv)
    if a.cmd == "collect":
        if not (a.data_dir or a.hc18_folder) or (a.cv_work and not a.data_dir):
            p.error("collect needs --data-dir (with or without --cv-work) or --hc18-folder")
        try:
            collect(a.model, a.data_dir, a.out, a.hc18_folder, a.cv_work, a.cv_tier, a.folds)
        except ValueError as err:
            sys.exit(f"calibrate_intervals: {err}")
    elif a.cmd == "check":
        table = a.table or (interval_table.TABLE_PATH if a.quantity == "hc"
                            else interval_table.AXIS_TABLE_PATHS[a.quantity])
        try:
            check(a.predictions, table, a.quantity)
        except ValueError as err:
            sys.exit(f"calibrate_intervals: {a.predictions}: {err}")
    else:
        try:
            fit(a.predictions, a.table, a.report, a.choose, a.fitted_on, a.quantity)
        except ValueError as err:
            sys.exit(f"calibrate_intervals: {a.predictions}: {err}")


if __name__ == "__main__":
    main()
