"""Reading and checking the HC18 release: where its files are, its CSVs, its PNGs and the
expert outlines, every problem listed by file before anything is written.

Untrusted input: each PNG is bounded in bytes and pixels before it is decoded
(`hc_tf.io.images`' limits), and a bad file is a named problem, never a traceback.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from typing import Dict, List, Optional, Tuple

import numpy as np
from etils import epath

from hc_tf.io import hc18_csv
from hc_tf import measure as measure_lib
from hc_tf_datasets.hc18.subjects import NAME, NOT_A_NAME

ZENODO_RECORD = "https://zenodo.org/record/1327317/files/"
ZENODO_HOST = "zenodo.org"
# Offline, TFDS retries a download for minutes; one probe says so in seconds.
_PROBE_TIMEOUT_S = 5.0
FILES = {
    "training_set": "training_set.zip",
    "test_set": "test_set.zip",
    "train_csv": hc18_csv.TRAINING_CSV,
    "test_csv": hc18_csv.TEST_CSV,
}


class InvalidSourceError(ValueError):
    """The source files hold problems; the message lists every file and why."""

    def __init__(self, problems: List[Tuple[str, str]]):
        self.problems = problems
        lines = "\n".join(f"  {name}: {why}" for name, why in problems)
        super().__init__(f"HC18 source has {len(problems)} invalid file(s):\n{lines}")


class MissingSourceError(ValueError):
    """A local HC18 folder is missing, empty or incomplete; the message names what."""


class DownloadUnavailableError(ConnectionError):
    """Zenodo can't be reached, so the release can't be downloaded."""


# What a local copy holds: each set as a folder or the original zip, each with its CSV.
_SET_KEYS = (("training_set", "train_csv"), ("test_set", "test_csv"))


def locate_sources(folder: str) -> Dict[str, str]:
    """Paths of the HC18 release files in a local folder (sets as folders or zips).

    The training set and its CSV are required; the test set and its CSV are
    optional, but one without the other is an error (a test split silently
    dropped would surprise).

    Args:
      folder: the manual dir.

    Returns:
      key ("training_set", "test_set", "train_csv", "test_csv") -> path; a set's
      path is its folder or its `.zip`.

    Raises:
      MissingSourceError: naming the folder and each missing file.
    """
    root = epath.Path(folder)
    if not root.is_dir():
        raise MissingSourceError(f"{folder}: no such folder (expected the HC18 release: "
                                 f"{FILES['training_set'][:-4]}/ and {FILES['train_csv']})")
    if not any(root.iterdir()):
        raise MissingSourceError(f"{folder}: empty folder (put the HC18 release there: "
                                 f"{FILES['training_set'][:-4]}/ and {FILES['train_csv']})")
    paths: Dict[str, str] = {}
    for key, filename in FILES.items():
        if key in ("training_set", "test_set") and (root / key).is_dir():
            paths[key] = os.path.join(folder, key)
        elif (root / filename).exists():
            paths[key] = os.path.join(folder, filename)
    missing = []
    for set_key, csv_key in _SET_KEYS:
        required = set_key == "training_set" or set_key in paths or csv_key in paths
        if required:
            missing += ([f"{set_key}/ (or {FILES[set_key]})"] if set_key not in paths else [])
            missing += [FILES[csv_key]] if csv_key not in paths else []
    if missing:
        hint = (" (it looks like a set's folder itself: pass the folder above it)"
                if any(NAME.match(p.name) for p in root.iterdir()) else "")
        raise MissingSourceError(f"{folder}: incomplete HC18 release, missing "
                                 f"{', '.join(missing)}{hint}")
    return paths


def check_zenodo_reachable(timeout_s: float = _PROBE_TIMEOUT_S) -> None:
    """Fails fast when the download host can't be reached.

    Raises:
      DownloadUnavailableError: saying how to build without a download.
    """
    try:
        socket.create_connection((ZENODO_HOST, 443), timeout=timeout_s).close()
    except OSError as err:
        raise DownloadUnavailableError(
            f"cannot reach {ZENODO_HOST} to download HC18 ({err}); download the release "
            f"(Zenodo record 1327317) by hand and pass its folder as manual_dir "
            f"(hc-tf prepare --manual-dir DIR)") from None


def read_csv(path: str, want_hc: bool) -> Tuple[Dict[str, Tuple[float, float]], List[Tuple[str, str]]]:
    """filename -> (pixel size mm, HC mm or 0); plus the rows that are invalid.

    `hc_tf.io.hc18_csv` reads it (one set of checks and messages), through `epath`:
    TFDS builders must work on any filesystem (GCS too).

    Raises:
      InvalidSourceError: when the file is not a text CSV at all.
    """
    try:
        table = hc18_csv.read_hc18_csv(path, with_hc=want_hc, skip_invalid=True,
                                       read_bytes=lambda p: epath.Path(p).read_bytes())
    except ValueError as err:
        raise InvalidSourceError([(os.path.basename(path), str(err))]) from None
    rows = {r.filename: (r.pixel_size_mm, r.hc_mm if want_hc else 0.0) for r in table.rows}
    return rows, table.problems


def read_png(path: str) -> np.ndarray:
    """Decodes an 8-bit single-channel PNG exactly as stored, within hc-tf's input limits
    (bytes from the file's size, pixels from its header, both before decoding).

    Raises:
      ValueError: for a missing, too large, corrupt, non-PNG, colour or 16-bit file.
    """
    import cv2
    from hc_tf.io import images, png_chunks, png_zlib

    source = epath.Path(path)
    size, max_bytes = source.stat().length, images.max_input_bytes()
    if size > max_bytes:
        raise ValueError(f"file too large ({size:,} bytes; at most {max_bytes:,}, see "
                         f"{images.BYTES_ENV})")
    data = source.read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("not a PNG file")
    if data[12:16] == b"IHDR" and len(data) >= 24:  # width, height: the first chunk's start
        width, height = (int.from_bytes(data[i:i + 4], "big") for i in (16, 20))
        if width * height > images.max_input_pixels():  # OpenCV's own guard raises cv2.error
            raise ValueError(f"image too large ({width} x {height} pixels; at most "
                             f"{images.max_input_pixels():,} pixels, see {images.PIXELS_ENV})")
    # predict's checks (hc_tf.io.images.decode_gray): libpng decodes some damaged streams
    damage = png_chunks.chunk_damage(data) or png_zlib.stream_damage(
        data, 8 * images.max_input_pixels() + 1024)
    if damage:
        raise ValueError(f"corrupt PNG ({damage})")
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        image = None
    if image is None:
        raise ValueError("corrupt PNG (cannot be decoded)")
    if image.dtype != np.uint8:
        raise ValueError(f"{image.dtype.itemsize * 8}-bit image, expected 8-bit grayscale")
    if image.ndim != 2:
        raise ValueError(f"{image.shape[2]}-channel image, expected 1-channel grayscale")
    return image


@dataclasses.dataclass
class SourceImage:
    """One checked image of the release: its outline's fitted ellipse, or None (test set)."""

    filename: str
    pixel_size_mm: float
    hc_mm: float
    ellipse: Optional[measure_lib.Ellipse]  # None for the unlabelled test set


def scan_labelled(folder: str, csv_path: str) -> Tuple[List[SourceImage], List[Tuple[str, str]]]:
    """Reads and checks every labelled image; returns the good ones and the problems."""
    rows, problems = read_csv(csv_path, want_hc=True)
    on_disk = {p.name for p in epath.Path(folder).iterdir() if NAME.match(p.name)}
    for name in sorted(on_disk - set(rows) - {p[0] for p in problems}):
        problems.append((name, "image has no row in the CSV"))
    good = []
    for name in sorted(rows):
        pixel, hc = rows[name]
        if not NAME.match(name):  # the split is by subject, read from the name
            problems.append((name, NOT_A_NAME))
            continue
        image_path = os.path.join(folder, name)
        ann_path = image_path[:-len(".png")] + "_Annotation.png"
        if not epath.Path(image_path).exists():
            problems.append((name, "CSV row without image"))
            continue
        if not epath.Path(ann_path).exists():
            problems.append((name, "image without annotation"))
            continue
        try:
            image = read_png(image_path)
        except ValueError as err:
            problems.append((name, str(err)))
            continue
        try:
            outline = read_png(ann_path)
            if outline.shape != image.shape:
                raise ValueError(f"annotation size {outline.shape} differs from image {image.shape}")
            fitted = measure_lib.fit_outline(outline)
        except ValueError as err:
            problems.append((os.path.basename(ann_path), str(err)))
            continue
        good.append(SourceImage(name, pixel, hc, fitted))
    return good, problems


def scan_unlabelled(folder: str, csv_path: str) -> Tuple[List[SourceImage], List[Tuple[str, str]]]:
    """Reads and checks every test image (no outline, HC 0); returns the good ones and the
    problems, each named `test_set/NAME`."""
    rows, problems = read_csv(csv_path, want_hc=False)
    problems = [(f"test_set/{n}", why) for n, why in problems]
    good = []
    for name in sorted(rows):
        if not NAME.match(name):
            problems.append((f"test_set/{name}", NOT_A_NAME))
            continue
        try:
            read_png(os.path.join(folder, name))
        except (OSError, ValueError) as err:
            problems.append((f"test_set/{name}", str(err)))
            continue
        good.append(SourceImage(name, rows[name][0], 0.0, None))
    return good, problems


__all__ = ["FILES", "InvalidSourceError", "MissingSourceError", "DownloadUnavailableError",
           "SourceImage", "locate_sources", "check_zenodo_reachable", "read_csv", "read_png",
           "scan_labelled", "scan_unlabelled"]
