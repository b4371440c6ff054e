"""Cross-validation, the CPU side after the GPU call: each fold's model -> int8 -> its
held-out images -> one table (`hc_tf.surfaces.cv_report`).

For every fold K (a float16 `.npz` from `scripts/gpu_jax/sweeps/cv5.txt`, or a `.keras` from
`hc-tf train --folds N --fold K`):
  fold{K}/best.keras         the fold's model (rebuilt from the float16 weights)
  fold{K}/model.keras        the same with flip TTA inside, as released (`--no-flip-tta`: as is)
  fold{K}/model_int8.tflite  int8, calibrated on 256 images of the fold's TRAINING part
  fold{K}/keras/, fold{K}/int8/   `hc-tf evaluate` outputs over fold K's held-out images
then cv_table.md and cv_summary.json over the folds present. Every step whose output exists
is skipped (kill and rerun to resume); each output appears whole (a temp name, then rename).

    python -m hc_tf.train.cross_validate --source '.gpu/cv5_out/cv5_f{fold}.npz' \
        --data-dir ~/hc-runs/tfds --work ~/hc-runs/cv5
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from typing import List

import numpy as np

from hc_tf import defaults
from hc_tf import inference
from hc_tf import preprocess
from hc_tf.surfaces import cv_report
from hc_tf.surfaces import evaluate as evaluate_lib


def fold_samples(data_dir: str, folds: int, fold: int, part: str) -> List[inference.Sample]:
    """Fold `fold`'s held-out images (part "test") or its training images ("train")."""
    from hc_tf.train import data as data_lib
    return data_lib.load_samples(data_dir, "", examples=data_lib.load_fold(data_dir, folds, fold, part))


def calibration_for_fold(data_dir: str, folds: int, fold: int, input_hw, n: int, seed: int = 0
                         ) -> np.ndarray:
    """(n, H, W, 1) uint8 letterboxed images drawn (seeded) from the fold's training part:
    the held-out images never touch the model, not even its quantization ranges."""
    train = fold_samples(data_dir, folds, fold, "train")
    idx = np.random.default_rng(seed).choice(len(train), size=min(n, len(train)), replace=False)
    return np.stack([preprocess.letterbox_image(train[i].image, input_hw)[0] for i in sorted(idx)])


def fold_model(source: str, folder: str, flip_tta: bool) -> str:
    """fold{K}/model.keras from the fold's `.npz` or `.keras` (skipped when present)."""
    from hc_tf.modeling import model as model_lib
    from hc_tf.train.jax_backend import half_weights

    out = os.path.join(folder, "model.keras")
    if os.path.exists(out):
        return out
    if not os.path.isfile(source):
        raise ValueError(f"{source}: no such fold model")
    single = os.path.join(folder, "best.keras")
    if source.endswith(".npz"):
        half_weights.rebuild(source, single)
        warn_if_not_final(os.path.join(folder, "best.json"))
    else:
        shutil.copyfile(source, single + ".tmp")
        os.replace(single + ".tmp", single)
    net = model_lib.load_model(single)
    model_lib.save_model(model_lib.with_flip_tta(net) if flip_tta else net, out)
    return out


def warn_if_not_final(best_json: str) -> None:
    """One line when a fold's run was stopped before its last epoch (its latest model came back)."""
    from hc_tf.train import run_dir as run_dir_lib
    best = run_dir_lib.read_json(best_json)
    if best.get("final") is False:
        print(f"warning: fold {best.get('fold')}: epoch {best.get('epoch')} came back, not the "
              "schedule's last (the run was stopped): report it as such", flush=True)


def fold_int8(model_path: str, folder: str, data_dir: str, folds: int, fold: int) -> str:
    """fold{K}/model_int8.tflite (skipped when present)."""
    from hc_tf.export import convert, export_lib

    out = os.path.join(folder, "model_int8.tflite")
    if not os.path.exists(out):
        hw = convert.model_input_hw(convert.load_model(model_path))
        calib = calibration_for_fold(data_dir, folds, fold, hw, defaults.CALIBRATION_SAMPLES)
        export_lib.export(model_path, out, "int8", representative=calib)
    return out


def evaluate_once(model_path: str, samples, out_dir: str) -> None:
    """`hc-tf evaluate` of the samples into `out_dir`, written whole (skipped when present)."""
    if os.path.exists(out_dir):
        return
    tmp = out_dir + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    evaluate_lib.evaluate(inference.load_runner(model_path), samples, tmp)
    os.replace(tmp, out_dir)


def run_fold(source: str, work: str, data_dir: str, folds: int, fold: int, flip_tta: bool) -> None:
    folder = os.path.join(work, f"fold{fold}")
    os.makedirs(folder, exist_ok=True)
    t = time.time()
    model = fold_model(source, folder, flip_tta)
    int8 = fold_int8(model, folder, data_dir, folds, fold)
    test = fold_samples(data_dir, folds, fold, "test")
    evaluate_once(model, test, os.path.join(folder, "keras"))
    evaluate_once(int8, test, os.path.join(folder, "int8"))
    print(f"fold {fold}: {len(test)} held-out images evaluated ({time.time() - t:.0f} s)", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True,
                        help="each fold's model, {fold} standing for K: a .npz (sweep) or .keras")
    parser.add_argument("--data-dir", required=True, help="the prepared TFDS dir")
    parser.add_argument("--work", required=True, help="output folder (rerun to resume)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only", type=int, action="append", default=None,
                        help="these folds only (repeatable); the table covers the folds present")
    parser.add_argument("--no-flip-tta", action="store_true", help="evaluate the single pass")
    args = parser.parse_args(argv)
    if "{fold}" not in args.source:
        parser.error("--source must contain {fold}, e.g. OUT/cv5_f{fold}.npz")
    try:
        for fold in args.only or range(args.folds):
            run_fold(args.source.format(fold=fold), args.work, args.data_dir, args.folds, fold,
                     not args.no_flip_tta)
        print(cv_report.report(args.work), end="")
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
