"""Labelled samples straight from a folder in the HC18 release layout (training_set/ and its
CSV), without TensorFlow: the reference ellipse fitted to each annotation outline, the reference
HC the CSV's.
"""

from __future__ import annotations

import glob
import os
from typing import Iterator, List, Optional, Tuple

from hc_tf import inference
from hc_tf import measure as measure_lib
from hc_tf import preprocess
from hc_tf.io import hc18_csv
from hc_tf.io import images


def is_hc18_folder(folder: str) -> bool:
    """True for a folder in the HC18 release layout (training_set/ + its CSV)."""
    return (os.path.isdir(os.path.join(folder, "training_set"))
            and os.path.isfile(os.path.join(folder, hc18_csv.TRAINING_CSV)))


def check_data_dir(data_dir: str) -> None:
    """Refuses an evaluate --data-dir that is neither an HC18 folder nor a TFDS data dir with an
    hc18 dataset in it, before TensorFlow loads (seconds, and its log lines) to say so.

    Raises:
      ValueError: naming the folder and what to give instead.
    """
    if is_hc18_folder(data_dir) or glob.glob(os.path.join(glob.escape(data_dir), "hc18", "*",
                                                           "*", "dataset_info.json")):
        return  # TFDS's layout: hc18/<config>/<version>/
    if not os.path.isdir(data_dir):
        raise ValueError(f"{data_dir}: no such folder")
    if any(name.endswith("_Annotation.png") for name in os.listdir(data_dir)):
        raise ValueError(f"{data_dir}: holds HC18 images itself; give the folder that holds "
                         f"training_set/ and {hc18_csv.TRAINING_CSV}")
    raise ValueError(f"{data_dir}: neither an HC18 folder (training_set/ and "
                     f"{hc18_csv.TRAINING_CSV}) nor a prepared TFDS data dir (hc-tf prepare "
                     f"--manual-dir HC18_FOLDER --data-dir {data_dir} makes one)")


def missing_images(unreadable: List[Tuple[str, str]]) -> List[Tuple[str, str]]:
    """The entries of `unreadable` that are images the CSV lists but the folder lacks (an
    annotation missing beside its image, or a file refused, is not one)."""
    return [(path, error) for path, error in unreadable
            if error == str(images.missing_file_error(path))]


def hc18_folder_size(folder: str) -> int:
    """How many labelled images `samples_from_hc18_folder` yields (for a progress bar).

    Raises:
      ValueError: as `hc18_csv.read_hc18_csv`, for a bad CSV.
    """
    return len(hc18_csv.read_hc18_csv(os.path.join(folder, hc18_csv.TRAINING_CSV),
                                      with_hc=True).rows)


def samples_from_hc18_folder(folder: str, unreadable: Optional[List[Tuple[str, str]]] = None
                             ) -> Iterator[inference.Sample]:
    """Labelled samples straight from HC18 files (no TensorFlow): the reference
    ellipse is fitted to each annotation outline, the reference HC is the CSV's.

    Args:
      unreadable: when given, an image or annotation that cannot be read (missing, refused by
        the reader) is appended to it as (path, error) and skipped, so one bad file does not
        stop an evaluation.

    Raises:
      ValueError: naming the file, for a bad CSV row, or an image or annotation the reader
        refuses (when `unreadable` is None).
      OSError: for a missing or unopenable image or annotation (when `unreadable` is None).
    """
    table = hc18_csv.read_hc18_csv(os.path.join(folder, hc18_csv.TRAINING_CSV), with_hc=True)
    for row in table.rows:
        path = os.path.join(folder, "training_set", row.filename)
        try:
            sample = _hc18_sample(path, row.pixel_size_mm, row.hc_mm)
        except (OSError, ValueError) as err:  # a missing image or annotation is an OSError
            if unreadable is None:
                raise
            unreadable.append((path, _file_error(err)))
            continue
        yield sample


def _file_error(err: Exception) -> str:
    """One line naming the file: "PATH: Permission denied" for an OSError (a missing file's
    FileNotFoundError says "PATH: no such file" already)."""
    if isinstance(err, OSError) and err.filename is not None:
        return f"{err.filename}: {err.strerror or err}"
    return str(err)


def _hc18_sample(path: str, pixel_size_mm: float, hc_mm: float) -> inference.Sample:
    image = preprocess.read_gray_image(path)
    outline_path = os.path.splitext(path)[0] + "_Annotation.png"  # HC18's rule, any extension
    outline = preprocess.read_gray_image(outline_path)
    if outline.shape[:2] != image.shape[:2]:
        # Its ellipse would be in another frame: Dice 0 and a Hausdorff distance of the offset.
        raise ValueError(f"{outline_path}: annotation is {outline.shape[1]} x {outline.shape[0]} "
                         f"pixels, its image {image.shape[1]} x {image.shape[0]}")
    try:
        reference = measure_lib.fit_outline(outline)
    except measure_lib.AnnotationError as err:
        raise ValueError(f"{outline_path}: {err}") from None
    return inference.Sample(os.path.basename(path), image, pixel_size_mm, reference, hc_mm)
