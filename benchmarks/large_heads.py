"""Why large heads err (the first accuracy lever), and a second pass on a crop, on the validation split.

For every validation image: the model's HC error (by default the released int8 model's, which
trained on these images too: in-sample, and the script says so as `hc-tf evaluate` does), the
model pixel's size in mm (pixel size / letterbox scale), the share of the reference outline
outside the image (a head cut by the image edge), then a second pass: the same model on a crop
around the first pass's ellipse (the ellipse's box plus a margin, widened to the model's aspect,
shifted to stay inside the image), letterboxed as usual; HC is the crop's (same pixel size),
Dice and HD after shifting the ellipse back. Prints the figures by head-size band and by mm per
model pixel.

    python -m benchmarks.large_heads --data-dir ~/hc-runs/tfds [--model M] [--margin 1.3] [--csv OUT]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys

import numpy as np

from hc_tf import inference
from hc_tf import measure as measure_lib
from hc_tf import models
from hc_tf.io import tables
from hc_tf.surfaces.evaluate import in_sample_note
from hc_tf.surfaces.interval_fitting import band_of, subject_folds
from hc_tf.surfaces.interval_predictions import subject_of

BANDS = ("<120", "120-200", "200-260", ">260")


def outside_share(ellipse: measure_lib.Ellipse, shape) -> float:
    """Share of the ellipse's outline outside the image (a head cut by the edge)."""
    pts = ellipse.points(720)
    h, w = shape
    inside = (pts[:, 0] >= 0) & (pts[:, 0] <= w - 1) & (pts[:, 1] >= 0) & (pts[:, 1] <= h - 1)
    return float(1.0 - inside.mean())


def fan_mask(image: np.ndarray) -> np.ndarray:
    """The ultrasound sector, roughly: the convex hull of the largest bright region of the
    smoothed image (inside the fan, speckle is never black over 15 px; outside it is black)."""
    import cv2
    bright = (cv2.blur(image, (15, 15)) > 1).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(bright)
    if n < 2:
        return np.ones_like(bright)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    pts = cv2.findNonZero((labels == largest).astype(np.uint8))
    mask = np.zeros_like(bright)
    cv2.fillConvexPoly(mask, cv2.convexHull(pts), 1)
    return mask


def outside_fan_share(ellipse: measure_lib.Ellipse, image: np.ndarray) -> float:
    """Share of the ellipse's outline inside the image but outside the ultrasound fan."""
    pts = np.round(ellipse.points(720)).astype(int)
    h, w = image.shape
    ok = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
    mask = fan_mask(image)
    return float((mask[pts[ok, 1], pts[ok, 0]] == 0).sum() / len(pts))


def faint_share(ellipse: measure_lib.Ellipse, image: np.ndarray, level: int = 80) -> float:
    """Share of the outline (inside the image) where no pixel within 4 px reaches `level`:
    skull the annotator could not see (shadow, dropout, fan edge) and drew through."""
    import cv2
    pts = np.round(ellipse.points(720)).astype(int)
    h, w = image.shape
    ok = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
    local_max = cv2.dilate(image, np.ones((9, 9), np.uint8))
    return float((local_max[pts[ok, 1], pts[ok, 0]] < level).mean())


def ridge_offset_px(ellipse: measure_lib.Ellipse, image: np.ndarray, reach: float = 12.0,
                    level: int = 80) -> float:
    """Median distance (px, + outward) from the outline to the brightest point of the skull
    along the outline's normal, over the outline where the skull is visible (>= `level`):
    which edge of the bone the outline follows (inner, middle, outer)."""
    import cv2
    t = np.linspace(0.0, 2.0 * math.pi, 360, endpoint=False)
    c, s = math.cos(ellipse.angle), math.sin(ellipse.angle)
    ex, ey = ellipse.a * np.cos(t), ellipse.b * np.sin(t)
    nx, ny = np.cos(t) / max(ellipse.a, 1e-6), np.sin(t) / max(ellipse.b, 1e-6)  # local normal
    norm = np.hypot(nx, ny)
    nx, ny = (nx * c - ny * s) / norm, (nx * s + ny * c) / norm
    d = np.arange(-reach, reach + 0.25, 0.5)
    xs = (ellipse.cx + ex * c - ey * s)[:, None] + nx[:, None] * d[None]
    ys = (ellipse.cy + ex * s + ey * c)[:, None] + ny[:, None] * d[None]
    smooth = cv2.GaussianBlur(image, (5, 5), 1.0)
    prof = cv2.remap(smooth.astype(np.float32), xs.astype(np.float32), ys.astype(np.float32),
                     cv2.INTER_LINEAR, borderValue=0)
    visible = prof.max(axis=1) >= level
    return float(np.median(d[prof[visible].argmax(axis=1)])) if visible.any() else float("nan")


def crop_box(ellipse: measure_lib.Ellipse, shape, input_hw, margin: float):
    """(x0, y0, x1, y1): the ellipse's bounding box times `margin`, widened to the model's
    aspect, shifted to lie inside the image (clipped only where the image is smaller)."""
    h, w = shape
    c, s = math.cos(ellipse.angle), math.sin(ellipse.angle)
    half_w = margin * math.hypot(ellipse.a * c, ellipse.b * s)
    half_h = margin * math.hypot(ellipse.a * s, ellipse.b * c)
    aspect = input_hw[1] / input_hw[0]
    half_w, half_h = max(half_w, half_h * aspect), max(half_h, half_w / aspect)
    box = []
    for centre, half, size in ((ellipse.cx, half_w, w), (ellipse.cy, half_h, h)):
        span = min(2 * half, size)
        lo = min(max(centre - span / 2, 0.0), size - span)
        box.append((int(round(lo)), int(round(lo + span))))
    return box[0][0], box[1][0], box[0][1], box[1][1]


def second_pass(runner, sample: inference.Sample, first: measure_lib.Ellipse, margin: float):
    """The measurement on the crop, its ellipse moved back to image coordinates, and the crop
    box; None when the first pass found nothing."""
    x0, y0, x1, y1 = crop_box(first, sample.image.shape, runner.input_hw, margin)
    crop = inference.Sample(sample.filename, np.ascontiguousarray(sample.image[y0:y1, x0:x1]),
                            sample.pixel_size_mm)
    m = inference.predict_batch(runner, [crop])[0].measurement
    if not m.found:
        return m, (x0, y0, x1, y1)
    moved = dataclasses.replace(m.ellipse, cx=m.ellipse.cx + x0, cy=m.ellipse.cy + y0)
    return dataclasses.replace(m, ellipse=moved), (x0, y0, x1, y1)


def score(sample: inference.Sample, m) -> dict:
    df, adf = measure_lib.challenge_difference_mm(m.hc_mm, sample.reference_hc_mm)
    shape = sample.image.shape
    dice = (measure_lib.dice(measure_lib.rasterize_ellipse(m.ellipse, shape),
                             measure_lib.rasterize_ellipse(sample.reference, shape)) if m.found else 0.0)
    hd = measure_lib.hausdorff_mm(m.ellipse, sample.reference, sample.pixel_size_mm) if m.found else None
    return {"df_mm": df, "adf_mm": adf, "dice": dice, "hd_mm": hd}


def rows_for(runner, samples, margin: float):
    rows = []
    for pred in inference.predict_samples(runner, samples):
        s, m = pred.sample, pred.measurement
        first = score(s, m)
        second, crop = second_pass(runner, s, m.ellipse, margin) if m.found else (m, None)
        two = score(s, second)
        mm_per_model_px = s.pixel_size_mm / pred.box.scale_x
        crop_scale = (min(runner.input_hw[1] / (crop[2] - crop[0]), runner.input_hw[0] / (crop[3] - crop[1]))
                      if crop else None)
        rows.append({"filename": s.filename, "reference_hc_mm": s.reference_hc_mm,
                     "pixel_size_mm": s.pixel_size_mm, "mm_per_model_px": mm_per_model_px,
                     "crop_mm_per_model_px": s.pixel_size_mm / crop_scale if crop else None,
                     "outside_share": outside_share(s.reference, s.image.shape),
                     "outside_fan_share": outside_fan_share(s.reference, s.image),
                     "faint_share": faint_share(s.reference, s.image),
                     "ridge_offset_mm": ridge_offset_px(s.reference, s.image) * s.pixel_size_mm,
                     # The same seen from the model's outline: all an inference-time correction has.
                     "model_ridge_offset_mm": (ridge_offset_px(m.ellipse, s.image) * s.pixel_size_mm
                                               if m.found else float("nan")),
                     **first, **{f"crop_{k}": v for k, v in two.items()}})
    return rows


def _mean(rows, key):
    vals = [r[key] for r in rows if r[key] is not None]
    return float(np.mean(vals)) if vals else float("nan")


def print_report(rows) -> None:
    bands = band_of(np.array([r["reference_hc_mm"] for r in rows]))
    print("band      n  ADF   |err|/HC%  DF    err/model-px  mm/model-px  ADF crop  Dice  Dice crop  crop mm/px")
    for band in BANDS + ("all",):
        sel = [r for r, b in zip(rows, bands) if band in ("all", b)]
        if not sel:
            continue
        rel = 100 * np.mean([r["adf_mm"] / r["reference_hc_mm"] for r in sel])
        # The HC error in model pixels (a perimeter error; divide by pi for the diameter's).
        in_px = np.mean([r["adf_mm"] / r["mm_per_model_px"] for r in sel])
        print(f"{band:8s} {len(sel):3d}  {_mean(sel, 'adf_mm'):.2f}  {rel:.2f}      "
              f"{_mean(sel, 'df_mm'):+.2f}  {in_px:.2f}          {_mean(sel, 'mm_per_model_px'):.3f}"
              f"        {_mean(sel, 'crop_adf_mm'):.2f}      {_mean(sel, 'dice'):.4f} "
              f"{_mean(sel, 'crop_dice'):.4f}     {_mean(sel, 'crop_mm_per_model_px'):.3f}")
    mmpx = np.array([r["mm_per_model_px"] for r in rows])
    quart = np.digitize(mmpx, np.quantile(mmpx, [0.25, 0.5, 0.75]))
    print("mm/model-px quartiles: ADF " + " / ".join(
        f"{_mean([r for r, q in zip(rows, quart) if q == k], 'adf_mm'):.2f}" for k in range(4)))
    cut = [r for r in rows if r["outside_share"] > 0]
    print(f"reference outline partly outside the image: {len(cut)} images, ADF "
          f"{_mean(cut, 'adf_mm'):.2f} (crop {_mean(cut, 'crop_adf_mm'):.2f}); "
          f"max share {max([r['outside_share'] for r in rows]):.3f}")
    fan = [r for r in rows if r["outside_fan_share"] > 0.02]
    print(f"reference outline > 2% outside the fan: {len(fan)} images, ADF {_mean(fan, 'adf_mm'):.2f} "
          f"(the others {_mean([r for r in rows if r['outside_fan_share'] <= 0.02], 'adf_mm'):.2f}); "
          f"of > 260 mm heads: {sum(r['reference_hc_mm'] > 260 for r in fan)}")
    faint = np.array([r["faint_share"] for r in rows])
    top = faint > np.quantile(faint, 0.75)
    print("faint outline (no pixel >= 80 within 4 px): share by band " + " / ".join(
        f"{np.mean([r['faint_share'] for r, b in zip(rows, bands) if b == band]):.2f}" for band in BANDS)
        + f"; ADF of the faintest quarter {_mean([r for r, t in zip(rows, top) if t], 'adf_mm'):.2f} "
        f"vs {_mean([r for r, t in zip(rows, top) if not t], 'adf_mm'):.2f}; "
        f"rho(|err|, faint share) {_spearman(np.array([r['adf_mm'] for r in rows]), faint):+.2f}")
    big = [r for r, b in zip(rows, bands) if b == ">260"]
    bf = np.array([r["faint_share"] for r in big])
    above = [r for r in big if r["faint_share"] > np.median(bf)]
    below = [r for r in big if r["faint_share"] <= np.median(bf)]
    print(f"> 260 mm: rho(|err|, faint share) {_spearman(np.array([r['adf_mm'] for r in big]), bf):+.2f}; "
          f"ADF faint share above its median {_mean(above, 'adf_mm'):.2f} vs below {_mean(below, 'adf_mm'):.2f}")
    ok = [r for r in rows if np.isfinite(r["ridge_offset_mm"])]
    off = np.array([r["ridge_offset_mm"] for r in ok])
    df = np.array([r["df_mm"] for r in ok])
    big = np.array([r["reference_hc_mm"] > 260 for r in ok])
    print(f"skull ridge vs reference outline: offset {np.median(off):+.2f} mm median (IQR "
          f"{np.percentile(off, 25):+.2f} to {np.percentile(off, 75):+.2f}; + = bone outside the outline); "
          f"corr(DF, 2 pi offset) {np.corrcoef(df, 2 * np.pi * off)[0, 1]:+.2f} all, "
          f"{np.corrcoef(df[big], 2 * np.pi * off[big])[0, 1]:+.2f} > 260 mm; "
          f"offset IQR > 260 mm {np.percentile(off[big], 25):+.2f} to {np.percentile(off[big], 75):+.2f}")
    seen = [r for r in rows if np.isfinite(r["model_ridge_offset_mm"])]
    moff, mdf = (np.array([r[k] for r in seen]) for k in ("model_ridge_offset_mm", "df_mm"))
    mbig = np.array([r["reference_hc_mm"] > 260 for r in seen])
    print(f"skull ridge vs the model's outline (what inference can see): offset {np.median(moff):+.2f} mm "
          f"median (IQR {np.percentile(moff, 25):+.2f} to {np.percentile(moff, 75):+.2f}); "
          f"corr(DF, 2 pi offset) {np.corrcoef(mdf, moff)[0, 1]:+.2f} all, "
          f"{np.corrcoef(mdf[mbig], moff[mbig])[0, 1]:+.2f} > 260 mm")
    fixed = mdf - cross_fitted_line(moff, mdf, np.array([subject_of(r["filename"]) for r in seen]))
    print(f"  a correction DF ~ a + b x that offset, cross-fitted (5 folds by subject): ADF "
          f"{np.abs(mdf).mean():.2f} -> {np.abs(fixed).mean():.2f} mm, > 260 mm "
          f"{np.abs(mdf[mbig]).mean():.2f} -> {np.abs(fixed[mbig]).mean():.2f} mm")
    err, size = np.array([r["adf_mm"] for r in rows]), np.array([r["reference_hc_mm"] for r in rows])
    print(f"Spearman rho(|err|, HC) {_spearman(err, size):+.2f}; rho(|err| / mm-per-model-px, HC) "
          f"{_spearman(err / mmpx, size):+.2f}")


def cross_fitted_line(x: np.ndarray, y: np.ndarray, subjects: np.ndarray) -> np.ndarray:
    """y predicted by a least-squares line in x fitted on the other four folds (by subject)."""
    folds = subject_folds(subjects, 5, 0)
    out = np.zeros(len(y))
    for k in range(5):
        fit, held = folds != k, folds == k
        slope, intercept = np.polyfit(x[fit], y[fit], 1)
        out[held] = intercept + slope * x[held]
    return out


def _spearman(x, y) -> float:
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="prepared TFDS dir (validation split)")
    parser.add_argument("--model", default=None, help="default: the released int8 model")
    parser.add_argument("--margin", type=float, default=1.3, help="crop = ellipse box x this")
    parser.add_argument("--csv", default=None, help="write the per-image rows here")
    args = parser.parse_args(argv)
    from hc_tf.train import data as data_lib  # TFDS: the one TF-side import

    model = args.model or models.released_edge_model()
    runner = inference.load_runner(model)
    rows = rows_for(runner, data_lib.load_samples(args.data_dir, "validation"), args.margin)
    if args.csv:
        tables.write_rows_csv(args.csv, rows, list(rows[0]))
    print(f"{os.path.basename(model)}, margin {args.margin}")
    print_report(rows)
    # The released model trained on these images too: `hc-tf evaluate`'s note, on the same test.
    note = in_sample_note(model, args.data_dir, getattr(runner, "sha256", None))
    if note:
        print(note, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
