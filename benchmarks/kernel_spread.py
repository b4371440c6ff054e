"""How far other int8 kernels move the edge model's results: LiteRT's default CPU path (the
XNNPACK delegate, which made every golden) against its built-in kernels without default
delegates, on the same HC18 test images.

    python benchmarks/kernel_spread.py --hc18 ../shared/hc18 [--images 100] [--csv OUT.csv]

Per image: the uint8 output pixels that differ and by how much, the mask pixels (q > 128) that
differ, |dHC|, the largest change of a quality signal, and whether the review flag changes.
Prints the median and max over the images. Another CPU, or a phone's kernels (ARM, GPU or NNAPI
delegates), will give other figures: this measures one pair of kernel sets on one machine.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from importlib import metadata

import numpy as np

from hc_tf import edge
from hc_tf import inference
from hc_tf import preprocess
from hc_tf.io import hc18_csv

MODEL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     "hc_tf", "models", "hc_effunet_int8.tflite")
SIGNALS = ("fit_rms_frac", "inlier_fraction", "mask_ellipse_dice", "uncertain_band_fraction",
           "outside_fraction")


def compare(a, b):
    """One image's differences between two `inference.Prediction`s of it."""
    qa, qb = (np.rint(p.prob * 256.0).astype(np.int16) for p in (a, b))
    dq = np.abs(qa - qb)
    ma, mb = a.measurement, b.measurement
    row = {"filename": a.sample.filename, "q_pixels_differ": int((dq > 0).sum()),
           "q_max_step": int(dq.max()), "mask_pixels_differ": int(((qa > 128) != (qb > 128)).sum()),
           "found_a": ma.found, "found_b": mb.found, "hc_a": ma.hc_mm, "hc_b": mb.hc_mm,
           "abs_dhc_mm": abs(ma.hc_mm - mb.hc_mm) if ma.found and mb.found else None,
           "review_a": ma.review, "review_b": mb.review}
    for name in SIGNALS:
        va = getattr(ma.quality, name, None) if ma.quality else None
        vb = getattr(mb.quality, name, None) if mb.quality else None
        row[f"abs_d_{name}"] = abs(va - vb) if va is not None and vb is not None else None
    return row


def _stat(rows, key):
    v = np.array([r[key] for r in rows if r[key] is not None], dtype=np.float64)
    return (float(np.median(v)), float(v.max())) if len(v) else (float("nan"), float("nan"))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hc18", required=True, help="the HC18 release folder")
    p.add_argument("--model", default=MODEL)
    p.add_argument("--images", type=int, default=0,
                   help="the first N test images in file-name order (0: all)")
    p.add_argument("--num-threads", type=int, default=2)
    p.add_argument("--csv", help="write the per-image figures here")
    args = p.parse_args(argv)
    csv_path = os.path.join(args.hc18, hc18_csv.TEST_CSV)
    if not os.path.isfile(csv_path):
        p.error(f"--hc18 {args.hc18}: not an HC18 release folder (no {hc18_csv.TEST_CSV})")
    sizes = hc18_csv.read_hc18_csv(csv_path).pixel_sizes()
    names = sorted(sizes)[:args.images or None]
    runners = [edge.LiteRunner(args.model, args.num_threads, kernels=k) for k in edge.KERNELS]
    rows = []
    for name in names:
        gray = preprocess.read_gray_image(os.path.join(args.hc18, "test_set", name))
        sample = inference.Sample(name, gray, sizes[name])
        a, b = (inference.predict_batch(r, [sample])[0] for r in runners)
        rows.append(compare(a, b))
    print(f"{os.path.basename(args.model)}, ai-edge-litert {metadata.version('ai-edge-litert')}, "
          f"{args.num_threads} threads: {edge.KERNELS[0]} (LiteRT default) vs {edge.KERNELS[1]} "
          f"(BUILTIN_WITHOUT_DEFAULT_DELEGATES) on {len(rows)} HC18 test images")
    for key, unit in (("q_pixels_differ", "output pixels differing"),
                      ("q_max_step", "largest output change (uint8 steps)"),
                      ("mask_pixels_differ", "mask pixels differing"),
                      ("abs_dhc_mm", "|dHC| mm"), *((f"abs_d_{s}", f"|d {s}|") for s in SIGNALS)):
        med, top = _stat(rows, key)
        print(f"  {unit}: median {med:.4g}, max {top:.4g}")
    exact = sum(r["q_pixels_differ"] == 0 for r in rows)
    print(f"  images with identical output: {exact} of {len(rows)}")
    found = [r["filename"] for r in rows if r["found_a"] != r["found_b"]]
    print(f"  found/not found changes: {len(found)}{': ' + ', '.join(found) if found else ''}")
    flips = [f"{r['filename']} ({r['review_a']} -> {r['review_b']})" for r in rows
             if r["review_a"] != r["review_b"]]
    print(f"  review flag changes: {len(flips)}{': ' + ', '.join(flips) if flips else ''}")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
