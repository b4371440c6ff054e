"""Checks fit_outline against HC18's reference head circumferences.

For every labelled training image: fit the expert's outline, take HC18's HC
(Ramanujan perimeter x pixel size) and compare with the CSV. Exits 1 when any
image is off by more than --max-error-mm (default 0.1), 2 when an outline fails.

    python benchmarks/ellipse_reference_check.py --hc18 ../shared/hc18
"""

import argparse
import os
import sys

import numpy as np

from hc_tf.io import hc18_csv
from hc_tf import measure as measure_lib
from hc_tf import preprocess


def read_reference(csv_path: str) -> dict:
    """filename -> (pixel size mm, HC mm), by `hc_tf.io.hc18_csv`."""
    return {r.filename: (r.pixel_size_mm, r.hc_mm)
            for r in hc18_csv.read_hc18_csv(csv_path, with_hc=True).rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hc18", required=True, help="the HC18 release folder")
    parser.add_argument("--max-error-mm", type=float, default=0.1)
    args = parser.parse_args()
    if not os.path.isfile(os.path.join(args.hc18, hc18_csv.TRAINING_CSV)):
        parser.error(f"--hc18 {args.hc18}: not an HC18 release folder (no "
                     f"{hc18_csv.TRAINING_CSV})")
    folder = os.path.join(args.hc18, "training_set")
    reference = read_reference(os.path.join(args.hc18, hc18_csv.TRAINING_CSV))
    errors, failures = [], []
    for name in sorted(reference):
        annotation = os.path.join(folder, name.replace(".png", "_Annotation.png"))
        if not os.path.exists(annotation):
            continue  # held out of this copy of the data set
        px, hc_ref = reference[name]
        try:
            e = measure_lib.fit_outline(preprocess.read_gray_image(annotation))
        except measure_lib.AnnotationError as err:
            failures.append(f"{name}: {err}")
            continue
        errors.append((abs(e.perimeter() * px - hc_ref), name))
    if not errors:
        print("no labelled images found under", folder)
        return 2
    abs_err = np.array([err for err, _ in errors])
    worst = max(errors)
    print(f"n={len(errors)}  max abs error={abs_err.max():.4f} mm ({worst[1]})  "
          f"mean abs error={abs_err.mean():.4f} mm  median={np.median(abs_err):.4f} mm  "
          f"failed outlines={len(failures)}")
    for line in failures:
        print("  FAILED", line)
    if failures:
        return 2
    return 0 if abs_err.max() <= args.max_error_mm else 1


if __name__ == "__main__":
    sys.exit(main())
