"""Test-time levers judged out of fold: vertical flip, letterbox scale, two runs averaged.

Every labelled image is measured by the fold model(s) that never saw it (the work folders of
`python -m hc_tf.train.cross_validate`), with the horizontal flip average as released, and
additionally:
  - the vertical flip: logits of the image and of its upside-down copy averaged (4 passes);
  - the letterbox scale: the image drawn at SCALE x the released letterbox (< 1: more padding
    on the same 224x320 input; > 1: a larger input the fully convolutional net is rebuilt for);
  - two runs: the same fold trained twice (a second cross-validation, e.g. another lever's
    that changed nothing), logits averaged: the smallest ensemble with an out-of-fold figure.
Also printed: how much two independent runs' signed errors agree (averaging removes only the
part they do not share), and the error per band in % of HC and in model pixels (|HC error| /
mm per model pixel, as docs/model_experiments.md's "Large heads" table).

    python benchmarks/oof_test_time_levers.py --data-dir ~/hc-runs/tfds --cv ~/hc-runs/cv5 \
        --second-run ~/hc-runs/cv5hc1 --scales 0.9,1.2 --csv ~/hc-runs/tta/levers.csv

Keras on the CPU (best.keras of each fold, rebuilt per input size): ~6 min a fold here.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

from hc_tf import measure as measure_lib
from hc_tf import preprocess
from hc_tf.clinical import interval_table
from hc_tf.surfaces import cv_report

# (N, H, W, 1) float32 gray of one input size -> (N, H, W) logits
LogitsFn = Callable[[np.ndarray], np.ndarray]


def view_box(src_hw: Tuple[int, int], scale: float,
             base_hw: Tuple[int, int] = preprocess.DEFAULT_INPUT_SIZE) -> preprocess.Letterbox:
    """The released letterbox of `src_hw` scaled by `scale`, centred on an input of the base
    size or, when the scaled image is larger, the smallest multiple of 32 that holds it."""
    base = preprocess.letterbox_transform(src_hw, base_hw)
    sh, sw = int(src_hw[0]), int(src_hw[1])
    nw = max(1, int(round(base.scale_x * sw * scale)))
    nh = max(1, int(round(base.scale_y * sh * scale)))
    dh = max(base_hw[0], 32 * math.ceil(nh / 32))
    dw = max(base_hw[1], 32 * math.ceil(nw / 32))
    return preprocess.Letterbox(scale_x=nw / sw, scale_y=nh / sh, offset_x=float((dw - nw) // 2),
                                offset_y=float((dh - nh) // 2), src_width=sw, src_height=sh,
                                dst_width=dw, dst_height=dh)


def flip_logits(logits: LogitsFn, x: np.ndarray) -> Dict[str, np.ndarray]:
    """Mean logits of one (H, W) input over its left-right mirror ("h", as released) and over
    the upside-down copies too ("hv"); each map flipped back before averaging. One batch of 4."""
    z = logits(np.stack([x, x[:, ::-1], x[::-1], x[::-1, ::-1]])[..., None].astype(np.float32))
    back = [z[0], z[1][:, ::-1], z[2][::-1], z[3][::-1, ::-1]]
    return {"h": np.mean(back[:2], axis=0), "hv": np.mean(back, axis=0)}


def hc_of(z: np.ndarray, box: preprocess.Letterbox, pixel_size_mm: float) -> float:
    """HC (mm) of a logit map through the one measurement; NaN when no head is found."""
    prob = 0.5 * (1.0 + np.tanh(0.5 * z))  # the sigmoid, without overflow for large |z|
    m = measure_lib.measure(prob.astype(np.float32), box, pixel_size_mm)
    return m.hc_mm if m.found else math.nan


def measure_views(runs: Sequence[Callable[[Tuple[int, int]], LogitsFn]], image: np.ndarray,
                  pixel_size_mm: float, scales: Sequence[float]) -> Dict[str, float]:
    """HC per option for one image: `runs[k](input_hw)` gives run k's logits at that size.

    Keys: `run{k}_s{scale}_h` (released flip average), `..._hv` (and vertical; other scales for
    the first run only), and with two runs `both_s1_h` / `both_s1_hv` (the runs' logits
    averaged at the released scale).
    """
    out: Dict[str, float] = {}
    at_one: Dict[str, List[np.ndarray]] = {"h": [], "hv": []}
    for scale in (1.0,) + tuple(s for s in scales if s != 1.0):
        box = view_box(image.shape, scale)
        x = preprocess.letterbox_image_into(image, box)[..., 0]
        for k, run in enumerate(runs if scale == 1.0 else runs[:1]):  # scales: the first run's
            for name, z in flip_logits(run((box.dst_height, box.dst_width)), x).items():
                out[f"run{k}_s{scale:g}_{name}"] = hc_of(z, box, pixel_size_mm)
                if scale == 1.0:
                    at_one[name].append(z)
    if len(runs) > 1:
        base = view_box(image.shape, 1.0)
        for name, zs in at_one.items():
            out[f"both_s1_{name}"] = hc_of(np.mean(zs, axis=0), base, pixel_size_mm)
    return out


def keras_run(best_keras: str) -> Callable[[Tuple[int, int]], LogitsFn]:
    """A fold's single network (`best.keras`, no flip inside) as logits at any input size
    (rebuilt with the same weights per size, cached)."""
    import keras
    from hc_tf.modeling import model as model_lib

    net = model_lib.load_model(best_keras)
    backbone = net.name[len("hc_unet_"):]
    cache: Dict[Tuple[int, int], LogitsFn] = {}

    def at(input_hw: Tuple[int, int]) -> LogitsFn:
        if input_hw not in cache:
            sized = net
            if tuple(net.input.shape[1:3]) != tuple(input_hw):
                sized = model_lib.build_unet(input_hw, backbone=backbone)
                sized.set_weights(net.get_weights())
            body = keras.Model(sized.inputs, sized.get_layer(model_lib.HEAD_LAYER).input)
            cache[input_hw] = lambda x, body=body: np.asarray(body(x, training=False),
                                                             np.float64)[..., 0]
        return cache[input_hw]
    return at


def _rows_by_fold(rows: List[Dict[str, object]], key: str) -> Dict[int, List[Dict[str, object]]]:
    """Option `key` as `cv_report.paired` reads a cross-validation: per fold, each image's ADF
    (HC18's: a missed head counts as HC 0)."""
    def adf(r):
        hc = float(r[key])
        return abs(hc - r["reference_hc_mm"]) if math.isfinite(hc) else r["reference_hc_mm"]
    return {f: [{"filename": r["filename"], "reference_hc_mm": r["reference_hc_mm"],
                 "adf_mm": adf(r)} for r in rows if r["fold"] == f]
            for f in sorted({r["fold"] for r in rows})}


def report(rows: List[Dict[str, object]], base_key: str) -> str:
    """Each option's ADF per band and its paired difference from `base_key` (CI by subject)."""
    keys = [k for k in rows[0] if k.startswith(("run", "both"))]
    base = _rows_by_fold(rows, base_key)
    lines = ["| option | ADF mm | " + " | ".join(cv_report.BANDS) +
             f" | vs {base_key}, mm (95% CI by subject) |", "|---" * (3 + len(cv_report.BANDS)) + "|"]
    for key in keys:
        p = cv_report.paired(_rows_by_fold(rows, key), base)
        bands = " | ".join(f"{p['bands'][b]['adf_mm']:.2f}" if b in p["bands"] else ""
                           for b in cv_report.BANDS)
        lines.append(f"| {key} | {p['adf_mm']:.3f} | {bands} | {p['diff_mm']:+.3f} "
                     f"({p['ci95_mm'][0]:+.3f} to {p['ci95_mm'][1]:+.3f}) |")
    return "\n".join(lines)


def error_structure(rows: List[Dict[str, object]]) -> str:
    """Agreement of the two runs' signed errors, and the error in model pixels per band."""
    ref = np.array([r["reference_hc_mm"] for r in rows], float)
    a = np.array([r["run0_s1_h"] for r in rows], float) - ref
    lines = []
    if "run1_s1_h" in rows[0]:
        b = np.array([r["run1_s1_h"] for r in rows], float) - ref
        ok = np.isfinite(a) & np.isfinite(b)
        lines.append("two runs: " + cv_report.agreement_line(cv_report.error_agreement(a[ok], b[ok])))
    px = np.array([r["model_pixel_mm"] for r in rows], float)
    bands = np.array(cv_report.band_of(ref))
    for band in cv_report.BANDS:
        sel = (bands == band) & np.isfinite(a)
        if sel.any():
            lines.append(f"{band}: mean |error| {np.abs(a[sel]).mean():.2f} mm = "
                         f"{np.mean(np.abs(a[sel]) / ref[sel]) * 100:.2f}% of HC = "
                         f"{np.mean(np.abs(a[sel]) / px[sel]):.2f} model px "
                         f"(mm per model px {px[sel].mean():.2f})")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="TFDS data dir (hc-tf prepare)")
    parser.add_argument("--cv", required=True, help="cross_validate work dir (fold{K}/best.keras)")
    parser.add_argument("--second-run", help="another cross-validation of the same folds")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--scales", default="0.9,1.2", help="letterbox scales besides 1")
    parser.add_argument("--csv", required=True, help="per-image HC of every option (resumed)")
    args = parser.parse_args(argv)
    from hc_tf.train.cross_validate import fold_samples

    scales = [float(s) for s in args.scales.split(",") if s]
    rows: List[Dict[str, object]] = []
    if os.path.exists(args.csv):
        with open(args.csv, newline="") as f:
            rows = [{k: (v if k == "filename" else float(v)) for k, v in r.items()}
                    for r in csv.DictReader(f)]
    for fold in range(args.folds):
        if any(int(r["fold"]) == fold for r in rows):
            continue  # resumable: a fold already in the CSV is kept
        dirs = [args.cv] + ([args.second_run] if args.second_run else [])
        runs = [keras_run(os.path.join(d, f"fold{fold}", "best.keras")) for d in dirs]
        for s in fold_samples(args.data_dir, args.folds, fold, "test"):
            box = view_box(s.image.shape, 1.0)
            rows.append({"filename": s.filename, "fold": fold, "reference_hc_mm": s.reference_hc_mm,
                         "model_pixel_mm": interval_table.model_pixel_mm(
                             s.pixel_size_mm, 1.0 / min(box.scale_x, box.scale_y)),
                         **measure_views(runs, s.image, s.pixel_size_mm, scales)})
        with open(args.csv + ".tmp", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        os.replace(args.csv + ".tmp", args.csv)
        print(f"fold {fold}: done ({len(rows)} images)", flush=True)
    for r in rows:
        r["fold"] = int(r["fold"])
    print(report(rows, "run0_s1_h"))
    print(error_structure(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
