"""HC18: fetal head circumference on 2D ultrasound, as a TFDS dataset.

Splits: `train` and `validation` are carved from the labelled images by subject
(010_HC and 010_2HC are one fetus) and stratified by head circumference;
`test` is the challenge's unlabelled set. Every example keeps the image as
stored; the head mask is rasterised from an ellipse fitted to the expert's
outline (never flood-filled: outlines of large heads run off the image).
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from hc_tf import defaults
from hc_tf.io import hc18_csv
from hc_tf import measure as measure_lib

ZENODO_RECORD = "https://zenodo.org/record/1327317/files/"
ZENODO_HOST = "zenodo.org"
# Offline, TFDS retries a download for minutes; one probe says so in seconds.
_PROBE_TIMEOUT_S = 5.0
_FILES = {
    "training_set": "training_set.zip",
    "test_set": "test_set.zip",
    "train_csv": hc18_csv.TRAINING_CSV,
    "test_csv": hc18_csv.TEST_CSV,
}
_NAME = re.compile(r"^(\d+)_(\d*)HC\.png$")
_NOT_A_NAME = "not an HC18 image name (NNN_HC.png or NNN_kHC.png): its subject is unknown"


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
                                 f"{_FILES['training_set'][:-4]}/ and {_FILES['train_csv']})")
    if not any(root.iterdir()):
        raise MissingSourceError(f"{folder}: empty folder (put the HC18 release there: "
                                 f"{_FILES['training_set'][:-4]}/ and {_FILES['train_csv']})")
    paths: Dict[str, str] = {}
    for key, filename in _FILES.items():
        if key in ("training_set", "test_set") and (root / key).is_dir():
            paths[key] = os.path.join(folder, key)
        elif (root / filename).exists():
            paths[key] = os.path.join(folder, filename)
    missing = []
    for set_key, csv_key in _SET_KEYS:
        required = set_key == "training_set" or set_key in paths or csv_key in paths
        if required:
            missing += ([f"{set_key}/ (or {_FILES[set_key]})"] if set_key not in paths else [])
            missing += [_FILES[csv_key]] if csv_key not in paths else []
    if missing:
        hint = (" (it looks like a set's folder itself: pass the folder above it)"
                if any(_NAME.match(p.name) for p in root.iterdir()) else "")
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


@dataclasses.dataclass
class Hc18Config(tfds.core.BuilderConfig):
    """Args:
      validation_fraction: share of labelled *subjects* held out for validation.
      skip_invalid: skip invalid files (reporting their count) instead of failing.
    """

    validation_fraction: float = defaults.VALIDATION_FRACTION
    skip_invalid: bool = False


def config_for(validation_fraction: float = defaults.VALIDATION_FRACTION, skip_invalid: bool = False) -> Hc18Config:
    """The builder config of a validation fraction; each gets its own data folder."""
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {validation_fraction}")
    name = f"val{round(validation_fraction * 100):02d}" + ("_skip_invalid" if skip_invalid else "")
    return Hc18Config(name=name, description=f"{validation_fraction:.0%} of subjects held out",
                      validation_fraction=validation_fraction, skip_invalid=skip_invalid)


def subject_id(filename: str) -> int:
    """010_HC.png and 010_2HC.png -> 10: one subject, never split apart."""
    match = _NAME.match(os.path.basename(filename))
    if not match:
        raise ValueError(f"{filename}: not an HC18 image name (NNN_HC.png or NNN_kHC.png)")
    return int(match.group(1))


def split_subjects(hc_by_subject: Dict[int, float], validation_fraction: float,
                   seed: int = 0) -> Tuple[List[int], List[int]]:
    """Deterministic subject split, stratified by head circumference.

    Subjects are sorted by HC and cut into consecutive strata of
    round(1 / fraction); one subject of each stratum, drawn with a fixed seed,
    goes to validation. IDs follow gestational age, so a contiguous cut would
    hold out only the largest heads. With two or more subjects both sides get at
    least one (TFDS can't write an empty split).
    """
    order = sorted(hc_by_subject, key=lambda s: (hc_by_subject[s], s))
    stratum = max(2, int(round(1.0 / validation_fraction)))
    rng = np.random.default_rng(seed)
    val = []
    for start in range(0, len(order), stratum):
        group = order[start:start + stratum]
        if len(group) == stratum or rng.random() < len(group) / stratum:
            val.append(group[int(rng.integers(len(group)))])
    if not val and len(order) >= 2:
        val.append(order[int(rng.integers(len(order)))])
    val_set = set(val)
    return [s for s in order if s not in val_set], sorted(val_set)


def _read_csv(path: str, want_hc: bool) -> Tuple[Dict[str, Tuple[float, float]], List[Tuple[str, str]]]:
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


def _read_png(path: str) -> np.ndarray:
    """Decodes an 8-bit single-channel PNG exactly as stored, within hc-tf's input limits
    (bytes from the file's size, pixels from its header, both before decoding).

    Raises:
      ValueError: for a missing, too large, corrupt, non-PNG, colour or 16-bit file.
    """
    import cv2
    from hc_tf.io import images

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
class _Labelled:
    filename: str
    pixel_size_mm: float
    hc_mm: float
    ellipse: Optional[measure_lib.Ellipse]  # None for the unlabelled test set


def scan_labelled(folder: str, csv_path: str) -> Tuple[List[_Labelled], List[Tuple[str, str]]]:
    """Reads and checks every labelled image; returns the good ones and the problems."""
    rows, problems = _read_csv(csv_path, want_hc=True)
    on_disk = {p.name for p in epath.Path(folder).iterdir() if _NAME.match(p.name)}
    for name in sorted(on_disk - set(rows) - {p[0] for p in problems}):
        problems.append((name, "image has no row in the CSV"))
    good = []
    for name in sorted(rows):
        pixel, hc = rows[name]
        if not _NAME.match(name):  # the split is by subject, read from the name
            problems.append((name, _NOT_A_NAME))
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
            image = _read_png(image_path)
        except ValueError as err:
            problems.append((name, str(err)))
            continue
        try:
            outline = _read_png(ann_path)
            if outline.shape != image.shape:
                raise ValueError(f"annotation size {outline.shape} differs from image {image.shape}")
            fitted = measure_lib.fit_outline(outline)
        except ValueError as err:
            problems.append((os.path.basename(ann_path), str(err)))
            continue
        good.append(_Labelled(name, pixel, hc, fitted))
    return good, problems


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for HC18."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: subject-wise stratified split, fitted masks."}
    BUILDER_CONFIGS = [config_for(defaults.VALIDATION_FRACTION), config_for(0.1)]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Put the HC18 release (Zenodo record 1327317) in `manual_dir`, either
    extracted (`training_set/`, `test_set/`, `training_set_pixel_size_and_HC.csv`,
    `test_set_pixel_size.csv`) or as the original zips plus the two CSVs.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        info = self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 1), dtype=np.uint8),
                "mask": tfds.features.Image(shape=(None, None, 1), dtype=np.uint8),
                "ellipse": tfds.features.FeaturesDict({
                    k: tfds.features.Scalar(np.float64) for k in ("cx", "cy", "a", "b", "angle")
                }),
                "pixel_size_mm": tfds.features.Scalar(np.float64),
                "hc_mm": tfds.features.Scalar(np.float64),
                "has_label": tfds.features.Scalar(np.bool_),
                "filename": tfds.features.Text(),
                "subject_id": tfds.features.Scalar(np.int32),
            }),
            homepage="https://hc18.grand-challenge.org/",
        )
        # HC18 is not on TFDS's GCS bucket: the lookup an unprepared builder makes there only
        # leaves an empty temp folder behind (tensorflow-datasets 4.9: one a builder made).
        info.initialize_from_bucket = lambda: None
        return info

    def _source_dirs(self, dl_manager: tfds.download.DownloadManager) -> Dict[str, str]:
        """Paths of the sources: the manual dir when it holds anything (it must then
        be complete: no download behind the user's back), else the Zenodo download.

        Raises:
          MissingSourceError: the manual dir holds an incomplete release.
          DownloadUnavailableError: nothing local and Zenodo can't be reached.
        """
        try:
            manual = os.fspath(dl_manager.manual_dir)
        except AssertionError:  # TFDS: the manual dir is missing or empty
            manual = None
        if manual:
            paths = locate_sources(manual)
            for key in ("training_set", "test_set"):
                if key in paths and paths[key].endswith(".zip"):
                    paths[key] = os.path.join(os.fspath(dl_manager.extract(paths[key])), key)
            return paths
        # Nothing local: download (needs internet and registered checksums, see README).
        check_zenodo_reachable()
        got = dl_manager.download_and_extract({k: ZENODO_RECORD + f for k, f in _FILES.items()})
        return {k: (os.path.join(os.fspath(v), k) if k.endswith("_set") else os.fspath(v))
                for k, v in got.items()}

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        src = self._source_dirs(dl_manager)
        labelled, problems = scan_labelled(src["training_set"], src["train_csv"])
        test_rows: Dict[str, Tuple[float, float]] = {}
        if "test_set" in src and "test_csv" in src:
            test_rows, test_problems = _read_csv(src["test_csv"], want_hc=False)
            problems += [(f"test_set/{n}", why) for n, why in test_problems]
            for name in sorted(test_rows):
                if not _NAME.match(name):
                    problems.append((f"test_set/{name}", _NOT_A_NAME))
                    del test_rows[name]
                    continue
                try:
                    _read_png(os.path.join(src["test_set"], name))
                except (OSError, ValueError) as err:
                    problems.append((f"test_set/{name}", str(err)))
                    del test_rows[name]
        if problems and not self.builder_config.skip_invalid:
            raise InvalidSourceError(problems)
        if problems:
            print(f"hc18: skipped {len(problems)} invalid file(s)")
        if not labelled:
            raise InvalidSourceError([(src["training_set"], "no valid labelled image")])
        if len({subject_id(x.filename) for x in labelled}) < 2:
            raise InvalidSourceError([(src["training_set"], "labelled images of one subject only: "
                                       "a train/validation split needs at least two")])

        hc_by_subject: Dict[int, List[float]] = {}
        for item in labelled:
            hc_by_subject.setdefault(subject_id(item.filename), []).append(item.hc_mm)
        _, val_subjects = split_subjects({s: float(np.mean(v)) for s, v in hc_by_subject.items()},
                                         self.builder_config.validation_fraction)
        val_set = set(val_subjects)
        folder = src["training_set"]
        splits = {
            "train": self._generate_examples(folder, [x for x in labelled
                                                      if subject_id(x.filename) not in val_set]),
            "validation": self._generate_examples(folder, [x for x in labelled
                                                           if subject_id(x.filename) in val_set]),
        }
        if test_rows:  # a release without test_set/ gives no test split (TFDS can't write empty ones)
            splits["test"] = self._generate_examples(
                src["test_set"],
                [_Labelled(n, pixel, 0.0, None) for n, (pixel, _) in sorted(test_rows.items())])
        return splits

    def _generate_examples(self, folder: str, items: List[_Labelled]) -> Iterator:
        for item in items:
            image = _read_png(os.path.join(folder, item.filename))
            labelled = item.ellipse is not None
            mask = (measure_lib.rasterize_ellipse(item.ellipse, image.shape, filled=True)
                    if labelled else np.zeros_like(image))
            yield item.filename, {
                "image": image[:, :, None], "mask": mask[:, :, None],
                "ellipse": (dataclasses.asdict(item.ellipse) if labelled
                            else {k: 0.0 for k in ("cx", "cy", "a", "b", "angle")}),
                "pixel_size_mm": item.pixel_size_mm, "hc_mm": item.hc_mm, "has_label": labelled,
                "filename": item.filename, "subject_id": subject_id(item.filename),
            }


def make_builder(data_dir: Optional[str] = None, validation_fraction: float = defaults.VALIDATION_FRACTION,
                 skip_invalid: bool = False) -> Builder:
    """The HC18 builder of a validation fraction (its own config and data folder)."""
    config = config_for(validation_fraction, skip_invalid)
    if config.name in Builder.builder_configs:  # TFDS wants predefined configs by name
        return Builder(config=config.name, data_dir=data_dir)
    return Builder(config=config, data_dir=data_dir)


def find_prepared(data_dir: str, validation_fraction: float = defaults.VALIDATION_FRACTION) -> Optional[Builder]:
    """The prepared HC18 builder of a validation fraction, whichever way it was built.

    `prepare --skip-invalid` writes its own config (valNN_skip_invalid); readers
    take the complete one (valNN) when both are present, else that one.

    Returns:
      The builder, or None when neither config is prepared in `data_dir`.
    """
    for skip_invalid in (False, True):
        builder = make_builder(data_dir, validation_fraction, skip_invalid)
        if builder.is_prepared():
            return builder
    return None


def prepared_configs(data_dir: str) -> List[str]:
    """Names of the HC18 configs with a prepared version in `data_dir`, sorted."""
    root = epath.Path(data_dir) / Builder.name
    if not root.is_dir():
        return []
    return sorted(config.name for config in root.iterdir()
                  if config.is_dir() and any(v.joinpath("dataset_info.json").exists()
                                             for v in config.iterdir() if v.is_dir()))


def load_prepared(data_dir: str, validation_fraction: float = defaults.VALIDATION_FRACTION) -> Builder:
    """`find_prepared`, or an error naming what was looked for and what is there.

    Raises:
      FileNotFoundError: when neither config of `validation_fraction` is prepared.
    """
    builder = find_prepared(data_dir, validation_fraction)
    if builder is not None:
        return builder
    wanted = [config_for(validation_fraction, skip).name for skip in (False, True)]
    present = prepared_configs(data_dir)
    hint = (f"present: {', '.join(present)} (choose it with --validation-fraction)" if present
            else f"run `hc-tf prepare --manual-dir DIR --data-dir {data_dir}` first")
    raise FileNotFoundError(f"{data_dir}: no prepared HC18 dataset ({' or '.join(wanted)}); {hint}")


__all__ = ["Builder", "Hc18Config", "InvalidSourceError", "MissingSourceError",
           "DownloadUnavailableError", "locate_sources", "check_zenodo_reachable", "config_for",
           "split_subjects", "subject_id", "scan_labelled", "make_builder",
           "find_prepared", "load_prepared", "prepared_configs"]
