"""`hc-tf predict`: image files -> HC18 submission CSV, overlay PNGs and a list of
the images that could not be read.

No TensorFlow on a `.tflite` model: the runner comes from `evaluate.load_runner`.
One run's outputs are written to a temporary sibling folder and moved into place
when complete, so `--out` never mixes two runs; a non-empty `--out` is replaced
only with `overwrite`, and only when it holds nothing but predict's own outputs.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import shutil
import tempfile
import uuid
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import cv2

from hc_tf import ellipse as ellipse_lib
from hc_tf import evaluate as evaluate_lib
from hc_tf import preprocess

SUBMISSION_NAME = "submission.csv"
UNREADABLE_NAME = "unreadable.csv"
OVERLAYS_NAME = "overlays"
OUTPUT_NAMES = frozenset({SUBMISSION_NAME, UNREADABLE_NAME, OVERLAYS_NAME})
UNREADABLE_FIELDS = ("path", "error")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def list_images(inputs: Sequence[str]) -> List[str]:
    """Expands folders to their image files (annotation PNGs excluded), sorted.

    Args:
      inputs: image files and folders of images.

    Returns:
      The image paths, in the order given (each folder's sorted).

    Raises:
      ValueError: for a path that doesn't exist, no image at all, or two images
        with the same file name (see `check_unique_names`).
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
    check_unique_names(paths)
    return paths


def check_unique_names(paths: Sequence[str]) -> None:
    """Refuses inputs whose file names (without extension) repeat.

    The submission is keyed by file name and the overlay is `<name>.png`, so two
    such inputs (e.g. a/000_HC.png and b/000_HC.png, or 000_HC.png and 000_HC.jpg)
    would overwrite each other's results.

    Raises:
      ValueError: naming every clash.
    """
    by_stem: Dict[str, List[str]] = collections.defaultdict(list)
    for path in paths:
        by_stem[os.path.splitext(os.path.basename(path))[0]].append(path)
    clashes = [group for group in by_stem.values() if len(group) > 1]
    if clashes:
        listed = "; ".join(" and ".join(group) for group in clashes[:5])
        more = f" (and {len(clashes) - 5} more)" if len(clashes) > 5 else ""
        raise ValueError(f"inputs with the same file name would overwrite each other's results: "
                         f"{listed}{more}; rename them or predict them separately")


def read_pixel_sizes(csv_path: str, allow_implausible: bool = False) -> Dict[str, float]:
    """filename -> pixel size (mm) from an HC18-style CSV (header row, CRLF ok).

    Args:
      csv_path: the CSV.
      allow_implausible: accept pixel sizes outside `ellipse.PLAUSIBLE_PIXEL_SIZE_MM`.

    Raises:
      ValueError: naming the file and row, for a bad, non-positive or implausible
        pixel size, or a file name listed twice.
    """
    sizes: Dict[str, float] = {}
    first_row: Dict[str, int] = {}
    for i, row in evaluate_lib.read_csv_rows(csv_path):
        if len(row) < 2:
            raise ValueError(f"{csv_path} row {i}: no readable pixel size")
        name = row[0].strip()
        if name in first_row:  # which one is right can't be guessed
            raise ValueError(f"{csv_path} rows {first_row[name]} and {i}: {name} is listed twice")
        first_row[name] = i
        sizes[name] = ellipse_lib.check_pixel_size(
            row[1], f"{csv_path} row {i}: pixel size", allow_implausible)
    return sizes


@dataclasses.dataclass
class PredictResult:
    """What one run measured, and what it could not read."""

    measurements: List[ellipse_lib.Measurement]
    unreadable: List[Tuple[str, str]]  # (path, error naming the path)


def check_out_dir(out_dir: str, overwrite: bool) -> None:
    """Checks that `out_dir` may receive this run's outputs.

    Args:
      out_dir: the --out folder.
      overwrite: whether an earlier run's outputs there may be replaced.

    Raises:
      ValueError: when it is a file, or not empty (without `overwrite`), or holds
        anything but predict's outputs (even with `overwrite`: never lose user files).
    """
    if not os.path.exists(out_dir):
        return
    if not os.path.isdir(out_dir):
        raise ValueError(f"{out_dir}: exists and is not a folder; choose another --out")
    entries = set(os.listdir(out_dir))
    if not entries:
        return
    if not overwrite:
        raise ValueError(f"{out_dir}: not empty; add --overwrite to replace an earlier "
                         f"predict run's outputs, or choose another --out")
    foreign = sorted(entries - OUTPUT_NAMES)
    if foreign:
        raise ValueError(f"{out_dir}: holds files predict did not write ({', '.join(foreign[:5])}"
                         f"{' ...' if len(foreign) > 5 else ''}); --overwrite replaces only "
                         f"predict outputs, choose another --out")


def _read_samples(paths: Sequence[str], sizes: Dict[str, float], pixel_size_mm: Optional[float],
                  unreadable: List[Tuple[str, str]]) -> Iterator[evaluate_lib.Sample]:
    """Samples of the readable images; each unreadable one is appended to `unreadable`."""
    for path in paths:
        name = os.path.basename(path)
        try:
            image = preprocess.read_gray_image(path)
        except (OSError, ValueError) as err:
            message = str(err)
            unreadable.append((path, message if path in message else f"{path}: {message}"))
            continue
        yield evaluate_lib.Sample(name, image, sizes.get(name, pixel_size_mm))


def _write_outputs(runner: evaluate_lib.Runner, samples: Iterator[evaluate_lib.Sample],
                   unreadable: List[Tuple[str, str]], folder: str) -> List[ellipse_lib.Measurement]:
    """Measures the samples; writes submission.csv, overlays/ and unreadable.csv in `folder`."""
    overlays = os.path.join(folder, OVERLAYS_NAME)
    os.makedirs(overlays, exist_ok=True)
    rows, measurements = [], []
    for pred in evaluate_lib.predict_samples(runner, samples):
        m = pred.measurement
        measurements.append(m)
        rows.append(ellipse_lib.submission_row(pred.sample.filename, m))
        ok, png = cv2.imencode(".png", ellipse_lib.draw_overlay(pred.sample.image, m))
        if not ok:
            raise ValueError(f"{pred.sample.filename}: its overlay could not be encoded")
        png.tofile(os.path.join(overlays, os.path.splitext(pred.sample.filename)[0] + ".png"))
    ellipse_lib.write_submission_csv(os.path.join(folder, SUBMISSION_NAME), rows)
    # Written after measuring: `unreadable` is filled while the samples are read.
    evaluate_lib.write_per_image_csv(os.path.join(folder, UNREADABLE_NAME),
                                     [dict(zip(UNREADABLE_FIELDS, u)) for u in unreadable],
                                     fields=UNREADABLE_FIELDS)
    return measurements


def _make_staging_dir(out_dir: str) -> str:
    """A new empty sibling of `out_dir` (same filesystem, so renaming it is atomic).

    Made with os.mkdir, not tempfile.mkdtemp: it becomes `out_dir`, so it gets the
    umask's permissions like any folder the user creates, not mkdtemp's 0700.
    """
    parent, base = os.path.split(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    while True:
        path = os.path.join(parent, f".{base}.tmp-{uuid.uuid4().hex[:12]}")
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue


def _move_into_place(staging: str, out_dir: str) -> None:
    """Replaces `out_dir` (absent, empty, or checked by `check_out_dir`) by `staging`.

    The earlier outputs are moved aside first and deleted only once the new ones
    are in place.
    """
    if not os.path.exists(out_dir):
        os.rename(staging, out_dir)
        return
    parent, base = os.path.split(os.path.abspath(out_dir))
    old = tempfile.mkdtemp(dir=parent, prefix=f".{base}.old-")
    os.rename(out_dir, old)  # onto an empty folder: allowed, and atomic
    os.rename(staging, out_dir)
    shutil.rmtree(old)


def predict_files(model_path: str, inputs: Sequence[str], out_dir: str,
                  pixel_csv: Optional[str] = None, pixel_size_mm: Optional[float] = None,
                  flip_tta: bool = False, overwrite: bool = False,
                  allow_implausible_pixel_size: bool = False) -> PredictResult:
    """Measures every readable image; writes `submission.csv`, `overlays/<name>.png`
    and `unreadable.csv` (path, error) into `out_dir`, all from this run.

    Args:
      model_path: a `.keras` or `.tflite` model.
      inputs: image files and folders.
      out_dir: the output folder (created, or replaced with `overwrite`).
      pixel_csv: HC18-style CSV of pixel sizes (exclusive with `pixel_size_mm`).
      pixel_size_mm: one pixel size for every image.
      flip_tta: average with the flipped input (.keras only).
      overwrite: replace an earlier run's outputs in `out_dir`.
      allow_implausible_pixel_size: accept pixel sizes outside the plausible range.

    Returns:
      The measurements of the readable images and the unreadable ones with why.

    Raises:
      ValueError: before anything is written, for missing or implausible pixel sizes (named),
        duplicate names or CSV rows, a bad model or a `out_dir` that can't be used.
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
    check_out_dir(out_dir, overwrite)
    runner = evaluate_lib.load_runner(model_path, flip_tta=flip_tta)
    staging = _make_staging_dir(out_dir)
    unreadable: List[Tuple[str, str]] = []
    try:
        measurements = _write_outputs(runner, _read_samples(paths, sizes, pixel_size_mm, unreadable),
                                      unreadable, staging)
        _move_into_place(staging, out_dir)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging)
    return PredictResult(measurements, unreadable)
