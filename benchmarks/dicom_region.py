"""Measuring a scanner frame whole or only its 2D tissue region, on the validation split.

A DICOM frame is the scanner's screen: the image in its 2D tissue region (0018,6011), text,
a gray bar and a depth scale around it. HC18 images are that region alone. For every validation
image this puts the image into a synthetic scanner frame (three framings: two of the sample files'
region geometry, OBXXXX1A's and color3d_jpeg_baseline's, and a 1024x768 screen), then measures
the frame twice through `inference.predict_batch`: whole (what predict did before) and as the
DICOM path now does, the region alone (`Sample.region`, `dicom_pixel_size.model_region`); and a
dual-pane frame whole and on its head's pane (the second pass, `dicom_predict.region_pass`).
The reference ellipse and pixel size follow the image into the frame. Prints ADF, Dice and HD
by framing and head-size band.

The released model was trained on every labelled image, so on them both arms are in-sample:
only their difference counts. `--test-dir` adds the HC18 test set (never trained on, no labels):
how far the whole frame's HC moves from the region's, the path every accuracy figure describes
(the region is the image itself, or it resized), beside the same on the labelled images.

    python -m benchmarks.dicom_region --data-dir ~/hc-runs/tfds [--test-dir ../shared/hc18]
        [--model M] [--csv OUT]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

import cv2
import numpy as np

from hc_tf import inference
from hc_tf import measure as measure_lib
from hc_tf import models
from hc_tf.io import tables
from hc_tf.surfaces.interval_fitting import band_of

BANDS = ("<120", "120-200", "200-260", ">260")
# name -> (frame width, height), region (x0, y0, x1, y1) inclusive.
FRAMINGS = {
    "OBXXXX1A 800x600": ((800, 600), (120, 60, 799, 518)),
    "color3d 640x480": ((640, 480), (84, 31, 595, 414)),
    "screen 1024x768": ((1024, 768), (112, 100, 911, 639)),
}


def scanner_frame(image: np.ndarray, size, region):
    """`image` fitted (aspect kept, centred) into `region` of a black frame of `size`, with
    burnt-in text, a gray bar and a depth scale outside the region, as scanners draw them.

    Returns:
      (frame, scale, (dx, dy)): original pixel (x, y) -> frame (x * scale + dx, y * scale + dy)
      in the pixel-centre convention.
    """
    w, h = size
    x0, y0, x1, y1 = region
    rw, rh = x1 - x0 + 1, y1 - y0 + 1
    scale = min(rw / image.shape[1], rh / image.shape[0])
    nw, nh = int(round(image.shape[1] * scale)), int(round(image.shape[0] * scale))
    frame = np.zeros((h, w), np.uint8)
    ox, oy = x0 + (rw - nw) // 2, y0 + (rh - nh) // 2
    frame[oy:oy + nh, ox:ox + nw] = (image if (nw, nh) == image.shape[::-1]
                                     else cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA))
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(frame, "HOSPITAL OB  12/03/2026 10:41", (8, 22), font, 0.6, 230, 1, cv2.LINE_AA)
    cv2.putText(frame, "C5-1  MI 0.9  TIs 0.3", (w - 230, 22), font, 0.5, 200, 1, cv2.LINE_AA)
    for i, line in enumerate(("Gn 52", "DR 60", "FR 31Hz", "15 cm")):
        cv2.putText(frame, line, (18, y0 + 30 + 24 * i), font, 0.5, 210, 1, cv2.LINE_AA)
    bar_x = min(x1 + 8, w - 14) if x1 + 20 < w else 8
    bar = np.linspace(255, 0, max(y1 - y0 - 40, 2)).astype(np.uint8)[:, None]
    frame[y0 + 20:y0 + 20 + len(bar), bar_x:bar_x + 10] = bar
    for t in range(y0 + 5, y1, 40):  # depth ticks just left of the region
        frame[t:t + 2, max(x0 - 10, 0):max(x0 - 2, 1)] = 255
    return frame, scale, (ox + (scale - 1) * 0.5, oy + (scale - 1) * 0.5)


def framed(sample: inference.Sample, size, region) -> inference.Sample:
    """The sample in a scanner frame: its reference ellipse and pixel size moved along."""
    frame, scale, (dx, dy) = scanner_frame(sample.image, size, region)
    e = sample.reference
    ref = dataclasses.replace(e, cx=e.cx * scale + dx, cy=e.cy * scale + dy, a=e.a * scale,
                              b=e.b * scale)
    return inference.Sample(sample.filename, frame, sample.pixel_size_mm / scale, reference=ref,
                            reference_hc_mm=sample.reference_hc_mm)


def score(sample: inference.Sample, m) -> dict:
    _, adf = measure_lib.challenge_difference_mm(m.hc_mm, sample.reference_hc_mm)
    shape = sample.image.shape
    dice = (measure_lib.dice(measure_lib.rasterize_ellipse(m.ellipse, shape),
                             measure_lib.rasterize_ellipse(sample.reference, shape))
            if m.found else 0.0)
    hd = (measure_lib.hausdorff_mm(m.ellipse, sample.reference, sample.pixel_size_mm)
          if m.found else float("nan"))
    return {"adf_mm": adf, "dice": dice, "hd_mm": hd, "found": m.found}


def rows_for(runner, samples):
    rows = []
    for name, (size, region) in FRAMINGS.items():
        frames = [framed(s, size, region) for s in samples]
        for arm, view in (("whole", None), ("region", region)):
            arm_samples = [dataclasses.replace(s, region=view) for s in frames]
            for pred in inference.predict_samples(runner, arm_samples):
                s = pred.sample
                rows.append({"framing": name, "arm": arm, "filename": s.filename,
                             "reference_hc_mm": s.reference_hc_mm,
                             **score(s, pred.measurement)})
    return rows


DUAL = ((1024, 400), (0, 20, 511, 379), (512, 20, 1023, 379))  # frame, left pane, right pane


def dual_pane_rows(runner, samples):
    """Each image in the left pane of a dual-pane frame, the next image in the right: measured
    whole, then again on the pane that holds the head found (`dicom_predict.region_pass`).
    Scored where that head is the left one."""
    size, left, right = DUAL
    rows = []
    for s, other in zip(samples, samples[1:] + samples[:1]):
        frame, scale, (dx, dy) = scanner_frame(s.image, size, left)
        frame[:, right[0]:] = scanner_frame(other.image, size, right)[0][:, right[0]:]
        e = s.reference
        ref = dataclasses.replace(e, cx=e.cx * scale + dx, cy=e.cy * scale + dy, a=e.a * scale,
                                  b=e.b * scale)
        framed_sample = inference.Sample(s.filename, frame, s.pixel_size_mm / scale,
                                         reference=ref, reference_hc_mm=s.reference_hc_mm)
        whole = inference.predict_batch(runner, [framed_sample])[0].measurement
        in_left = whole.found and whole.ellipse.cx <= left[2]
        pane = inference.predict_batch(runner, [dataclasses.replace(framed_sample, region=left)]
                                       )[0].measurement if in_left else None
        pane = pane if pane is not None and pane.found else whole  # as region_pass keeps it
        rows.append({"filename": s.filename, "in_left": in_left,
                     "whole": score(framed_sample, whole) if in_left else None,
                     "pane": score(framed_sample, pane) if in_left else None})
    return rows


def print_dual(rows) -> None:
    left = [r for r in rows if r["in_left"]]
    print(f"dual pane 1024x400 (two 512x360 panes, another head in the right one): the whole "
          f"frame's head is the left one in {len(left)} of {len(rows)}; on those, ADF whole "
          f"{np.mean([r['whole']['adf_mm'] for r in left]):.2f}, on its pane "
          f"{np.mean([r['pane']['adf_mm'] for r in left]):.2f} mm")


def test_set_samples(folder: str):
    """The HC18 test images (no reference) with their CSV pixel sizes."""
    from hc_tf.io import hc18_csv
    from hc_tf.preprocess import read_gray_image
    csv = hc18_csv.read_hc18_csv(os.path.join(folder, "test_set_pixel_size.csv"))
    return [inference.Sample(r.filename, read_gray_image(os.path.join(folder, "test_set",
                                                                      r.filename)),
                             r.pixel_size_mm) for r in csv.rows]


def moves(runner, samples):
    """Per framing: |HC whole frame - HC region| (mm) of every image found in both arms."""
    out = {}
    for name, (size, region) in FRAMINGS.items():
        frames = []
        for s in samples:
            frame, scale, _ = scanner_frame(s.image, size, region)
            frames.append(inference.Sample(s.filename, frame, s.pixel_size_mm / scale))
        hcs = {}
        for arm, view in (("whole", None), ("region", region)):
            hcs[arm] = [p.measurement.hc_mm if p.measurement.found else None
                        for p in inference.predict_samples(
                            runner, [dataclasses.replace(f, region=view) for f in frames])]
        out[name] = np.array([abs(w - r) for w, r in zip(hcs["whole"], hcs["region"])
                              if w is not None and r is not None])
    return out


def print_moves(label: str, by_framing) -> None:
    for name, d in by_framing.items():
        print(f"{label:10s} {name:18s} n {len(d):4d}  |HC whole - HC region| mean {d.mean():.2f} "
              f"median {np.median(d):.2f} p95 {np.percentile(d, 95):.2f} max {d.max():.2f} mm")


def _mean(rows, key):
    vals = [r[key] for r in rows if np.isfinite(r[key])]
    return float(np.mean(vals)) if vals else float("nan")


def print_report(rows) -> None:
    print("framing            arm     n    ADF   <120  120-200 200-260 >260   Dice    HD   not found")
    for name in FRAMINGS:
        for arm in ("whole", "region"):
            sel = [r for r in rows if r["framing"] == name and r["arm"] == arm]
            bands = band_of(np.array([r["reference_hc_mm"] for r in sel]))
            by_band = "  ".join(f"{_mean([r for r, b in zip(sel, bands) if b == band], 'adf_mm'):5.2f}"
                                for band in BANDS)
            print(f"{name:18s} {arm:6s} {len(sel):4d}  {_mean(sel, 'adf_mm'):5.2f}  {by_band}  "
                  f"{_mean(sel, 'dice'):.4f} {_mean(sel, 'hd_mm'):5.2f}  "
                  f"{sum(not r['found'] for r in sel)}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="prepared TFDS dir (validation split)")
    parser.add_argument("--model", default=None, help="default: the released int8 model")
    parser.add_argument("--test-dir", default=None,
                        help="HC18 folder with test_set/ and test_set_pixel_size.csv")
    parser.add_argument("--csv", default=None, help="write the per-image rows here")
    args = parser.parse_args(argv)
    from hc_tf.train import data as data_lib  # TFDS: the one TF-side import

    model = args.model or models.released_edge_model()
    runner = inference.load_runner(model)
    labelled = data_lib.load_samples(args.data_dir, "validation")
    rows = rows_for(runner, labelled)
    if args.csv:
        tables.write_rows_csv(args.csv, rows, list(rows[0]))
    print(os.path.basename(model))
    print_report(rows)
    print_dual(dual_pane_rows(runner, labelled))
    if args.test_dir:
        print_moves("labelled", moves(runner, labelled))
        print_moves("test set", moves(runner, test_set_samples(args.test_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
