"""`hc-tf predict`: image files -> HC18 submission CSV and overlay PNGs.

No TensorFlow on a `.tflite` model: the runner comes from `evaluate.load_runner`.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

import cv2

from hc_tf import ellipse as ellipse_lib
from hc_tf import evaluate as evaluate_lib
from hc_tf import preprocess

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def list_images(inputs: Sequence[str]) -> List[str]:
    """Expands folders to their image files (annotation PNGs excluded), sorted.

    Raises:
      ValueError: for a path that doesn't exist, or no image at all.
    """
    paths = []
    for item in inputs:
        if os.path.isdir(item):
            paths += sorted(os.path.join(item, n) for n in os.listdir(item)
                            if n.lower().endswith(IMAGE_EXTENSIONS) and "_Annotation" not in n)
        elif os.path.isfile(item):
            paths.append(item)
        else:
            raise ValueError(f"{item}: no such file or folder")
    if not paths:
        raise ValueError(f"no images found in {', '.join(inputs)}")
    return paths


def read_pixel_sizes(csv_path: str, allow_implausible: bool = False) -> Dict[str, float]:
    """filename -> pixel size (mm) from an HC18-style CSV (header row, CRLF ok).

    Args:
      csv_path: the CSV.
      allow_implausible: accept pixel sizes outside `ellipse.PLAUSIBLE_PIXEL_SIZE_MM`.

    Raises:
      ValueError: naming the file and row, for a bad, non-positive or implausible
        pixel size.
    """
    sizes = {}
    for i, row in evaluate_lib.read_csv_rows(csv_path):
        if len(row) < 2:
            raise ValueError(f"{csv_path} row {i}: no readable pixel size")
        sizes[row[0].strip()] = ellipse_lib.check_pixel_size(
            row[1], f"{csv_path} row {i}: pixel size", allow_implausible)
    return sizes


def predict_files(model_path: str, inputs: Sequence[str], out_dir: str,
                  pixel_csv: Optional[str] = None, pixel_size_mm: Optional[float] = None,
                  flip_tta: bool = False, allow_implausible_pixel_size: bool = False
                  ) -> List[ellipse_lib.Measurement]:
    """Measures every image; writes `submission.csv` and `overlays/<name>.png`.

    Raises:
      ValueError: missing or implausible pixel sizes (named), unreadable images,
        bad model.
    """
    if (pixel_csv is None) == (pixel_size_mm is None):
        raise ValueError("give exactly one of --pixel-csv and --pixel-size")
    if pixel_size_mm is not None:
        ellipse_lib.check_pixel_size(pixel_size_mm, "--pixel-size", allow_implausible_pixel_size)
    paths = list_images(inputs)
    sizes = read_pixel_sizes(pixel_csv, allow_implausible_pixel_size) if pixel_csv else {}
    missing = [os.path.basename(p) for p in paths if pixel_csv and os.path.basename(p) not in sizes]
    if missing:
        raise ValueError(f"{pixel_csv}: no pixel size for {', '.join(missing[:10])}"
                         f"{' ...' if len(missing) > 10 else ''}")
    runner = evaluate_lib.load_runner(model_path, flip_tta=flip_tta)
    samples = (evaluate_lib.Sample(os.path.basename(p), preprocess.read_gray_image(p),
                                   sizes.get(os.path.basename(p), pixel_size_mm))
               for p in paths)
    overlays = os.path.join(out_dir, "overlays")
    os.makedirs(overlays, exist_ok=True)
    rows, measurements = [], []
    for pred in evaluate_lib.predict_samples(runner, samples):
        m = pred.measurement
        measurements.append(m)
        rows.append(ellipse_lib.submission_row(pred.sample.filename, m))
        overlay = ellipse_lib.draw_overlay(pred.sample.image, m)
        name = os.path.splitext(pred.sample.filename)[0] + ".png"
        ok, png = cv2.imencode(".png", overlay)
        if ok:
            tmp = os.path.join(overlays, "." + name + ".tmp")
            png.tofile(tmp)
            os.replace(tmp, os.path.join(overlays, name))
    ellipse_lib.write_submission_csv(os.path.join(out_dir, "submission.csv"), rows)
    return measurements
