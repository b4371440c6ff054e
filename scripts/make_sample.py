"""Regenerates the embedded sample (hc_tf/sample_data) from the HC18 release.

Picks labelled images from distinct subjects spread over the HC range plus a
few test images, downscales them 2x (pixel size doubles, so HC in mm is kept)
and re-draws each annotation outline from the ellipse fitted to the original,
as a band centred on the ellipse like HC18's own (`hc_tf.measure.draw_outline`).

Usage: python scripts/make_sample.py --hc18 ../shared/hc18 [--n-train 24 --n-test 4]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil

import cv2
import numpy as np

from hc_tf.io import hc18_csv
from hc_tf import measure as measure_lib

OUT = os.path.join(os.path.dirname(__file__), "..", "hc_tf", "sample_data")
FACTOR = 2


def _rows(path, with_hc=False):
    """[filename, pixel size[, HC]] as written in the CSV, checked by `hc_tf.io.hc18_csv`."""
    return [list(r.fields[:3 if with_hc else 2])
            for r in hc18_csv.read_hc18_csv(path, with_hc=with_hc).rows]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hc18", default="../shared/hc18")
    parser.add_argument("--n-train", type=int, default=24)
    parser.add_argument("--n-test", type=int, default=4)
    args = parser.parse_args()

    train_rows = [r for r in _rows(os.path.join(args.hc18, hc18_csv.TRAINING_CSV), with_hc=True)
                  if "_HC" in r[0] and r[0].split("_")[1] == "HC.png"]  # one image per subject
    train_rows.sort(key=lambda r: float(r[2]))
    picks = [train_rows[int(i)] for i in np.linspace(0, len(train_rows) - 1, args.n_train)]
    test_rows = _rows(os.path.join(args.hc18, hc18_csv.TEST_CSV))
    test_picks = [test_rows[int(i)] for i in np.linspace(0, len(test_rows) - 1, args.n_test)]

    # Only what this script writes is replaced: the folder's README (attribution) stays.
    for generated in ("training_set", "test_set"):
        shutil.rmtree(os.path.join(OUT, generated), ignore_errors=True)
        os.makedirs(os.path.join(OUT, generated))
    with open(os.path.join(OUT, hc18_csv.TRAINING_CSV), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(["filename", "pixel size(mm)", "head circumference (mm)"])
        for name, pixel, hc in picks:
            src = os.path.join(args.hc18, "training_set", name)
            image = cv2.imread(src, cv2.IMREAD_GRAYSCALE)
            e = measure_lib.fit_outline(cv2.imread(src[:-4] + "_Annotation.png", cv2.IMREAD_GRAYSCALE))
            small = cv2.resize(image, (image.shape[1] // FACTOR, image.shape[0] // FACTOR),
                               interpolation=cv2.INTER_AREA)
            e_small = measure_lib.Ellipse((e.cx + 0.5) / FACTOR - 0.5, (e.cy + 0.5) / FACTOR - 0.5,
                                          e.a / FACTOR, e.b / FACTOR, e.angle)
            outline = measure_lib.draw_outline(e_small, small.shape)
            cv2.imwrite(os.path.join(OUT, "training_set", name), small)
            cv2.imwrite(os.path.join(OUT, "training_set", name[:-4] + "_Annotation.png"), outline)
            w.writerow([name, f"{float(pixel) * FACTOR:.10f}", hc])
    with open(os.path.join(OUT, hc18_csv.TEST_CSV), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(["filename", "pixel size(mm)"])
        for name, pixel in test_picks:
            image = cv2.imread(os.path.join(args.hc18, "test_set", name), cv2.IMREAD_GRAYSCALE)
            small = cv2.resize(image, (image.shape[1] // FACTOR, image.shape[0] // FACTOR),
                               interpolation=cv2.INTER_AREA)
            cv2.imwrite(os.path.join(OUT, "test_set", name), small)
            w.writerow([name, f"{float(pixel) * FACTOR:.10f}"])
    print(f"wrote {len(picks)} labelled and {len(test_picks)} test images to {os.path.abspath(OUT)}")


if __name__ == "__main__":
    main()
