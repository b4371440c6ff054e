"""`hc-tf predict`'s inputs: the images to measure (files, folders, DICOM by content), their
pixel sizes and known GAs, all checked before anything is measured or written."""

from __future__ import annotations

import collections
import dataclasses
import os
import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from hc_tf import clinical
from hc_tf import measure as measure_lib
from hc_tf.io import file_names
from hc_tf.io import hc18_csv
from hc_tf.io import images
from hc_tf.report import exams
from hc_tf.surfaces import dicom_predict
from hc_tf.surfaces import folder_listing
from hc_tf.surfaces import input_names

# The optional --pixel-csv column with each image's known GA (weeks, or "27+3"); found by its
# header name, never by position: HC18's training CSV has the reference HC third.
GA_COLUMN = "ga_weeks"
# HC18's training CSV's third column, "head circumference (mm)": evaluate's reference, not predict's
HC18_HC_COLUMN = "head circumference"
IMAGE_EXTENSIONS = folder_listing.IMAGE_EXTENSIONS
is_image_name = folder_listing.is_image_name


def list_images(inputs: Sequence[str],
                match: Optional[Callable[[str], List[str]]] = None,
                left_out: Optional[List[Tuple[str, str]]] = None,
                notes: Optional[List[str]] = None) -> List[str]:
    """Expands folders to their image files (not their subfolders'; annotation masks beside
    their images excluded), sorted.

    Args:
      inputs: image files and folders of images.
      match: expands an input that is no local file or folder (a glob, a gs:// path)
        to the paths it names; None: such an input is an error.
      left_out: when given, gets (path, why) for each folder file with no extension that is
        not measured (`unmeasured_reason`).
      notes: when given, gets a line naming the annotation masks left out
        (`folder_listing.annotation_masks`; a file named as an input is measured whatever its
        name), and one naming the subfolders holding images (not searched).

    Returns:
      The image paths, in the order given (each folder's sorted).

    Raises:
      ValueError: for a path that doesn't exist, no image at all, or two images
        with the same file name (see `check_unique_names`).
    """
    paths: List[str] = []
    masks: List[str] = []
    subfolders: List[str] = []
    for item in inputs:
        if os.path.isdir(item):  # DICOM files by content too: scanners write names like IM0001
            listed = sorted(os.path.join(item, n) for n in os.listdir(item))
            kept = [p for p in listed if is_image_name(p) or dicom_predict.is_dicom_path(p)]
            found = set(folder_listing.annotation_masks(kept))
            paths += [p for p in kept if p not in found]
            masks += sorted(found)
            if left_out is not None:
                left_out += [(input_names.printable_name(p), why)
                             for p in sorted(set(listed) - set(kept))
                             if (why := folder_listing.unmeasured_reason(p))]
            if notes is not None:
                subfolders += folder_listing.subfolders(listed, with_images=True)
        elif os.path.exists(item):  # a FIFO or device too: the reader refuses it in one line
            paths.append(item)
        elif match is not None and (matched := sorted(p for p in match(item) if is_image_name(p))):
            found = set(folder_listing.annotation_masks(matched))
            paths += [p for p in matched if p not in found]
            masks += sorted(found)
        elif os.path.islink(item):
            raise images.missing_file_error(item)
        else:
            raise ValueError(f"{item}: no such file or folder")
    if not paths:
        raise ValueError(folder_listing.no_images_message(inputs))
    check_unique_names(paths)
    if notes is not None:
        notes += ([folder_listing.masks_note(masks)] if masks else []) + (
            [folder_listing.subfolders_note(subfolders)] if subfolders else [])
    return paths


def check_unique_names(paths: Sequence[str]) -> None:
    """Refuses inputs whose file names (without a known extension) repeat.

    The submission is keyed by file name and the overlay is `<name>.png`, so two
    such inputs (e.g. a/000_HC.png and b/000_HC.png, or 000_HC.png and 000_HC.jpg)
    would overwrite each other's results.

    Raises:
      ValueError: naming every clash.
    """
    by_stem: Dict[str, List[str]] = collections.defaultdict(list)
    for path in paths:
        by_stem[file_names.file_stem(path)].append(path)
    clashes = [group for group in by_stem.values() if len(group) > 1]
    if clashes:
        listed = "; ".join(" and ".join(group) for group in clashes[:5])
        more = f" (and {len(clashes) - 5} more)" if len(clashes) > 5 else ""
        raise ValueError(f"inputs with the same file name would overwrite each other's results: "
                         f"{listed}{more}; rename them or predict them separately")


# An output stem a multi-frame DICOM file's frame gets: "<stem>.frame<N>" (`dicom_predict.stem`).
_FRAME_STEM = re.compile(r"(.+)\.frame([1-9][0-9]*)")


def check_output_names(paths: Sequence[str], frame: Optional[int] = None,
                       frames_of: Callable[[str], int] = dicom_predict.frame_count) -> None:
    """Refuses a multi-frame DICOM file whose frame N's outputs would overwrite another input's,
    and a DICOM file whose exam report would be another's SR.

    Frame N of scan.dcm writes overlays/scan.frameN.png (and sr/, fhir/ files of that stem), as
    does an input named scan.frameN.png or a single-frame scan.frameN.dcm; `check_unique_names`
    sees only the stems scan and scan.frameN. Headers are read only for such pairs. An exam
    whose first file is scan.dcm writes sr/scan.obgyn.sr.dcm, the SR of a DICOM scan.obgyn.dcm.

    Args:
      paths: the inputs (`list_images`).
      frame: --frame (None: every frame is measured).
      frames_of: a DICOM file's frame count (0: refused, no outputs).

    Raises:
      ValueError: naming both inputs of every clash.
    """
    by_stem = {file_names.file_stem(p): p for p in paths}
    clashes = []
    for stem, other in by_stem.items():
        m = _FRAME_STEM.fullmatch(stem)
        scan = by_stem.get(m.group(1)) if m else None
        if scan is None or not dicom_predict.is_dicom_path(scan):
            continue
        number = int(m.group(2))
        if frame not in (None, number) or not _has_frame_outputs(frames_of(scan), number):
            continue  # that frame is not measured, or its outputs are not named stem.frameN
        if dicom_predict.is_dicom_path(other) and frames_of(other) != 1:
            continue  # several frames: stem.frameK; refused: nothing written
        clashes.append(f"{scan} frame {number} and {other} (overlays/{stem}.png)")
    suffix = dicom_predict.EXAM_REPORT  # scan.obgyn.dcm's SR is named as scan.dcm's exam report
    for stem, other in by_stem.items():
        scan = by_stem.get(stem[:-len(suffix)]) if stem.endswith(suffix) else None
        if scan is not None and dicom_predict.is_dicom_path(scan) \
                and dicom_predict.is_dicom_path(other):
            clashes.append(f"{scan} and {other} (sr/{stem}.sr.dcm)")
    if clashes:
        more = f" (and {len(clashes) - 5} more)" if len(clashes) > 5 else ""
        raise ValueError(f"inputs whose outputs have the same name would overwrite each other's: "
                         f"{'; '.join(clashes[:5])}{more}; rename them or predict them "
                         f"separately")


def _has_frame_outputs(frames: int, number: int) -> bool:
    """Whether a file of `frames` frames writes outputs named <stem>.frame<number>: only a
    multi-frame file does (one frame keeps the plain stem)."""
    return 1 < frames and number <= frames


def parse_ga_option(value: Optional[str]) -> Optional[float]:
    """--ga-weeks as weeks (float), or None when not given.

    Args:
      value: weeks ("27.4") or "weeks+days" ("27+3").

    Raises:
      ValueError: "--ga-weeks: ..." for a GA that is not a number or outside 10-45 weeks.
    """
    if value is None:
        return None
    try:
        return clinical.parse_ga_weeks(str(value))
    except ValueError as err:
        raise ValueError(f"--ga-weeks: {err}") from None


def unread_columns_note(table: hc18_csv.Hc18Csv) -> Optional[str]:
    """A line naming the --pixel-csv columns predict does not read, or None. `ga` or `GA (weeks)`
    gave no centile without a word. HC18's reference HC column (its training CSV's third) is for
    evaluate, not a mistake: not named. An unnamed column is named only when a row fills it (a
    header's trailing ',' is not)."""
    unread = []
    for i, name in enumerate(table.header[2:], start=2):
        if name.lower() in (GA_COLUMN, exams.EXAM_COLUMN) or name.lower().startswith(HC18_HC_COLUMN):
            continue
        if name or any(i < len(r.fields) and r.fields[i].strip() for r in table.rows):
            unread.append(repr(name) if name else f"column {i + 1} (no name)")
    if not unread:
        return None
    return (f"{table.source}: column{'s' if len(unread) > 1 else ''} not read: {', '.join(unread)}; "
            f"predict reads the file name and pixel size (the first two columns) and, by header "
            f"name, {GA_COLUMN} (a known GA) and {exams.EXAM_COLUMN} (an exam's label)")


def read_pixel_csv(csv_path: str, allow_implausible: bool = False,
                   notes: Optional[List[str]] = None) -> Tuple[Dict[str, float], Dict[str, float]]:
    """Pixel sizes and, when the header names a `ga_weeks` column, known GAs.

    Args:
      csv_path: HC18-style CSV: filename, pixel size (mm)[, ..., ga_weeks]; a GA cell may be
        weeks (27.4) or "weeks+days" (27+3), or empty (no centile for that image).
      allow_implausible: accept pixel sizes outside `measure.PLAUSIBLE_PIXEL_SIZE_MM`.
      notes: when given, gets the line naming the columns not read (`unread_columns_note`).

    Returns:
      (filename -> pixel size mm, filename -> GA weeks for the rows that give one).

    Raises:
      ValueError: naming the file and row, for a file that is not a text CSV, a bad,
        non-positive or implausible pixel size, a file name listed twice, or a GA that is
        not a number or outside 10-45 weeks.
    """
    table = hc18_csv.read_hc18_csv(csv_path, allow_implausible=allow_implausible)
    if notes is not None and (note := unread_columns_note(table)):
        notes.append(note)
    ga_col = table.column(GA_COLUMN)
    gas: Dict[str, float] = {}
    for row in table.rows:
        cell = row.fields[ga_col].strip() if ga_col is not None and ga_col < len(row.fields) else ""
        if cell:
            try:
                gas[row.filename] = clinical.parse_ga_weeks(cell)
            except ValueError as err:
                raise ValueError(f"{csv_path} row {row.row} ({row.filename}): {err}") from None
    return table.pixel_sizes(), gas


@dataclasses.dataclass
class Inputs:
    """The checked inputs of one run: image paths, pixel sizes and known GAs."""

    paths: List[str]
    sizes: Dict[str, float]  # file name -> pixel size (mm), from --pixel-csv
    pixel_size_mm: Optional[float]  # --pixel-size, for every image
    gas: Dict[str, float]  # file name -> known GA (weeks), from --pixel-csv
    one_ga: Optional[float]  # --ga-weeks, for every image
    # (printable path, error) of inputs refused before reading: names that are not UTF-8, and
    # a folder's files with no extension that are not DICOM by content (`unmeasured_reason`)
    refused: List[Tuple[str, str]] = dataclasses.field(default_factory=list)
    # What was read as asked but may surprise, said on stderr: masks and subfolders left out
    # (`list_images`), --pixel-csv columns not read (`unread_columns_note`)
    notes: List[str] = dataclasses.field(default_factory=list)

    def pixel_size(self, filename: str) -> float:
        """The image's pixel size (mm)."""
        return self.sizes.get(filename, self.pixel_size_mm)

    def known_ga(self, filename: str) -> Optional[float]:
        """The image's known GA (weeks), or None."""
        return self.gas.get(filename, self.one_ga)


def read_inputs(inputs: Sequence[str], pixel_csv: Optional[str], pixel_size_mm: Optional[float],
                allow_implausible_pixel_size: bool = False, ga_weeks: Optional[str] = None,
                match: Optional[Callable[[str], List[str]]] = None,
                dicom_ok: bool = True, frame: Optional[int] = None) -> Inputs:
    """Lists the images and reads their pixel sizes and GAs, refusing bad input up front.

    Args:
      inputs, pixel_csv, pixel_size_mm, allow_implausible_pixel_size, ga_weeks: as
        `predict_files`.
      match: expands globs and remote paths (`list_images`).
      dicom_ok: whether this mode measures DICOM files (Beam's does not).
      frame: --frame, for the output names of multi-frame files (`check_output_names`).

    Returns:
      The checked inputs; a file whose name is not UTF-8, or a folder's file with no
      extension that is not DICOM, is in `refused`, not `paths`.

    Raises:
      ValueError: as `predict_files`, before anything is written.
    """
    if pixel_csv is not None and pixel_size_mm is not None:
        raise ValueError("give exactly one of --pixel-csv and --pixel-size")
    if pixel_size_mm is not None:
        measure_lib.check_pixel_size(pixel_size_mm, "--pixel-size", allow_implausible_pixel_size)
    one_ga = parse_ga_option(ga_weeks)
    images.check_limits()
    # Refused here, not when the report is written: one such name failed the whole run.
    left_out: List[Tuple[str, str]] = []
    notes: List[str] = []
    paths, refused = input_names.refuse_non_utf8(list_images(inputs, match, left_out, notes))
    refused += left_out
    if not paths:
        raise ValueError(f"{refused[0][1]}"
                         + (f" (and {len(refused) - 1} more such)" if len(refused) > 1 else ""))
    # A calibrated DICOM file carries its pixel size; every other image needs one given.
    plain = [p for p in paths if not dicom_predict.is_dicom_path(p)]
    if not dicom_ok and len(plain) < len(paths):
        raise ValueError(f"{next(p for p in paths if p not in plain)}: DICOM inputs are measured "
                         "by hc-tf predict without --beam")
    check_output_names(paths, frame)
    if plain and pixel_csv is None and pixel_size_mm is None:
        raise ValueError(f"give exactly one of --pixel-csv and --pixel-size (needed for the "
                         f"images that are not DICOM: {', '.join(plain[:3])}"
                         f"{' ...' if len(plain) > 3 else ''})")
    sizes, gas = (read_pixel_csv(pixel_csv, allow_implausible_pixel_size, notes) if pixel_csv
                  else ({}, {}))
    if one_ga is not None and gas:
        raise ValueError(f"give --ga-weeks or a {GA_COLUMN} column in {pixel_csv}, not both")
    missing = [os.path.basename(p) for p in plain if pixel_csv and os.path.basename(p) not in sizes]
    if missing:
        raise ValueError(f"{pixel_csv}: no pixel size for {', '.join(missing[:10])}"
                         f"{' ...' if len(missing) > 10 else ''}")
    return Inputs(paths, sizes, pixel_size_mm, gas, one_ga, refused, notes)


