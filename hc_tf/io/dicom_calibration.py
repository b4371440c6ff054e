"""A DICOM ultrasound frame's calibration as its file states it: the 2D tissue regions of the
Sequence of Ultrasound Regions (0018,6011), or PixelSpacing (0028,0030) when it has none.

The scanner's calibration is per region (PS3.3 C.8.5.5), so `read_calibration` returns the
candidate regions, each with its pixel size or the reason it has none; which one holds the head,
and so the pixel size a measurement uses, is chosen after measuring (`dicom_pixel_size`).
PixelSpacing is not ultrasound calibration: it is read only when the file has no region sequence
at all. Each refusal is a `DicomError` (or a `problem`) naming the file and tag.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from hc_tf.io.dicom import DicomError
from hc_tf.io.dicom import Header

# X and Y deltas (or a typed and a file pixel size) that differ by more than this fraction
# are not one pixel size: an HC needs square pixels, and 1% is 2 mm on a 200 mm head.
TOLERANCE = 0.01
UNITS_CM = 3
MM_PER_CM = 10.0
UNIT_NAMES = {0: "none", 1: "percent", 2: "dB", 3: "cm", 4: "seconds", 5: "hertz",
              6: "dB/seconds", 7: "cm/sec", 8: "cm^2", 9: "cm^2/sec", 0xC: "degrees"}


@dataclasses.dataclass(frozen=True)
class Region:
    """A 2D tissue region of (0018,6011), its box clipped to the image (inclusive pixels)."""

    item: int  # 1-based item of the sequence
    box: Tuple[int, int, int, int]  # x0, y0, x1, y1
    pixel_size_mm: Optional[float]  # None when `problem` says why not
    problem: Optional[str] = None

    def contains(self, xy: np.ndarray) -> np.ndarray:
        """Which (N, 2) points (x, y) lie in the box (pixel edges, not centres)."""
        x0, y0, x1, y1 = self.box
        p = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        return ((p[:, 0] >= x0 - 0.5) & (p[:, 0] <= x1 + 0.5)
                & (p[:, 1] >= y0 - 0.5) & (p[:, 1] <= y1 + 0.5))


@dataclasses.dataclass(frozen=True)
class Calibration:
    """What a frame's file says about its pixel size, before the head is known."""

    path: str
    has_regions: bool  # (0018,6011) present and not empty
    regions: Tuple[Region, ...]  # its 2D tissue regions inside the image
    pixel_spacing_mm: Optional[float] = None  # (0028,0030), only when no region sequence
    problem: Optional[str] = None  # a refusal the head cannot change
    empty: bool = False  # the file carries no calibration at all: a typed size may stand in


def isotropic(dx: float, dy: float) -> bool:
    """Two pixel sizes (or X and Y deltas) within TOLERANCE of each other: one square pixel."""
    return abs(dx - dy) <= TOLERANCE * max(abs(dx), abs(dy))


_REQUIRED = object()


def _number(ds: Any, keyword: str, tag: str, where: str, kind: Callable[[Any], Any] = int,
            default: Any = _REQUIRED) -> Any:
    """`keyword` of `ds` as one number (`default` when the tag is absent).

    pydicom gives None for an empty value and a MultiValue for several; int()/float() of those
    raise TypeError, which callers (`hc-tf predict`, the node) do not expect from a bad file.

    Raises:
      DicomError: naming `where` and the tag, when it is absent (without a default), empty,
        multi-valued or not a number.
    """
    if keyword not in ds:
        if default is _REQUIRED:
            raise DicomError(f"{where}: {keyword} {tag} is missing")
        return default
    value = ds[keyword].value
    if value is None or value == "":
        raise DicomError(f"{where}: {keyword} {tag} is empty")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise DicomError(f"{where}: {keyword} {tag} is not one number") from None


def _number_pair(ds: Any, keyword: str, tag: str, where: str) -> Tuple[float, float]:
    """`keyword` of `ds` as exactly two numbers (e.g. PixelSpacing row\\column).

    Raises:
      DicomError: naming `where` and the tag, when it is empty, has another number of values,
        or they are not numbers.
    """
    value = ds[keyword].value
    if value is None or value == "":
        raise DicomError(f"{where}: {keyword} {tag} is empty")
    try:  # one value reads as a number, several as a MultiValue
        values = [float(v) for v in
                  ([value] if isinstance(value, (str, bytes, numbers.Number)) else value)]
    except (TypeError, ValueError):
        raise DicomError(f"{where}: {keyword} {tag} is not numbers") from None
    if len(values) != 2:
        raise DicomError(f"{where}: {keyword} {tag} has {len(values)} value(s); must be 2 "
                         "(row\\column)")
    return values[0], values[1]


def _region(item: int, r: Any, rows: int, columns: int, path: str) -> Optional[Region]:
    """Item `item` of (0018,6011) as a Region when it is 2D tissue and overlaps the image.

    Raises:
      DicomError: naming the tag, when the region's type (0018,6012/6014) cannot be read (it
        cannot be told whether the region is 2D tissue). Other unreadable fields make the
        region's `problem`.
    """
    at = f"{path}: region {item} of (0018,6011)"
    if (_number(r, "RegionSpatialFormat", "(0018,6012)", at, default=0) != 1
            or _number(r, "RegionDataType", "(0018,6014)", at, default=0) != 1):
        return None
    try:
        x0 = _number(r, "RegionLocationMinX0", "(0018,6018)", at)
        y0 = _number(r, "RegionLocationMinY0", "(0018,601A)", at)
        x1 = _number(r, "RegionLocationMaxX1", "(0018,601C)", at)
        y1 = _number(r, "RegionLocationMaxY1", "(0018,601E)", at)
    except DicomError as err:
        return Region(item, (0, 0, -1, -1), None, f"{err} (the region's box)")
    box = (max(x0, 0), max(y0, 0), min(x1, columns - 1), min(y1, rows - 1))
    if box[0] > box[2] or box[1] > box[3]:
        return None  # wholly outside the image: nothing of it is shown
    where = f"{path}: 2D region {item} of (0018,6011)"
    try:
        ux = _number(r, "PhysicalUnitsXDirection", "(0018,6024)", where, default=0)
        uy = _number(r, "PhysicalUnitsYDirection", "(0018,6026)", where, default=0)
        dx = _number(r, "PhysicalDeltaX", "(0018,602C)", where, float, default=0.0)
        dy = _number(r, "PhysicalDeltaY", "(0018,602E)", where, float, default=0.0)
    except DicomError as err:
        return Region(item, box, None, str(err))
    if ux != UNITS_CM or uy != UNITS_CM:
        return Region(item, box, None, f"{where}: PhysicalUnitsX/YDirection (0018,6024/6026) "
                      f"are {UNIT_NAMES.get(ux, ux)}/{UNIT_NAMES.get(uy, uy)}, not cm (3)")
    if not (dx > 0 and dy > 0):
        return Region(item, box, None, f"{where}: PhysicalDeltaX/Y (0018,602C/602E) "
                      f"{dx:g}/{dy:g} cm are not positive")
    if not isotropic(dx, dy):
        return Region(item, box, None, f"{where}: PhysicalDeltaX (0018,602C) {dx:g} cm and "
                      f"PhysicalDeltaY (0018,602E) {dy:g} cm differ by more than "
                      f"{TOLERANCE:.0%} (pixels not square)")
    return Region(item, box, (dx + dy) / 2 * MM_PER_CM)


def _spacing(item: Any, where: str) -> Optional[Tuple[float, float]]:
    """PixelSpacing of a functional group item (PixelMeasuresSequence), or None.

    Raises:
      DicomError: naming `where` and the tag, for a PixelSpacing that is not two numbers.
    """
    measures = item.get("PixelMeasuresSequence") if item is not None else None
    if not measures or "PixelSpacing" not in measures[0]:
        return None
    return _number_pair(measures[0], "PixelSpacing", "(0028,0030)", where)


def _frame_spacings(ds: Any, path: str) -> Tuple[Optional[Tuple[float, float]], ...]:
    """Per-frame PixelSpacing (5200,9230), None where a frame's group has none."""
    return tuple(_spacing(f, f"{path}: Per-frame Functional Groups (5200,9230) item {n}")
                 for n, f in enumerate(ds.get("PerFrameFunctionalGroupsSequence") or (), 1))


def _pixel_spacing(ds: Any, frame: int, per_frame: Sequence[Optional[Tuple[float, float]]],
                   path: str) -> Optional[Tuple[float, float]]:
    """The frame's own PixelSpacing, else the shared group's, else the top-level one."""
    if frame - 1 < len(per_frame) and per_frame[frame - 1] is not None:
        return per_frame[frame - 1]
    shared = ds.get("SharedFunctionalGroupsSequence")
    found = (_spacing(shared[0], f"{path}: Shared Functional Groups (5200,9229)") if shared
             else None)
    if found is None and "PixelSpacing" in ds:
        found = _number_pair(ds, "PixelSpacing", "(0028,0030)", path)
    return found


def read_calibration(header: Header, frame: int) -> Calibration:
    """The candidate calibration of frame `frame` (1-based) of a DICOM file.

    Returns:
      The 2D tissue regions (clipped), or PixelSpacing when the file has no region sequence, or
      a `problem` that no head position can change (no calibrated 2D region; calibration that
      differs between frames while the frame's own is unknown).
    """
    return read_calibrations(header, (frame,))[frame]


def read_calibrations(header: Header, frames: Sequence[int]) -> Dict[int, Calibration]:
    """`read_calibration` of each of `frames`, the functional groups read once: frames that
    differ only by pixels share one Calibration."""
    per_frame = _frame_spacings(header.dataset, header.path)
    found: Dict[Any, Calibration] = {}
    out = {}
    for n in frames:
        own = per_frame[n - 1] if n - 1 < len(per_frame) else None
        if own not in found:
            found[own] = _calibration(header, n, per_frame)
        out[n] = found[own]
    return out


def _calibration(header: Header, frame: int,
                 per_frame: Sequence[Optional[Tuple[float, float]]]) -> Calibration:
    ds, path = header.dataset, header.path
    seq = ds.get("SequenceOfUltrasoundRegions") or ()
    if seq:
        regions = tuple(r for r in (_region(i, item, header.rows, header.columns, path)
                                    for i, item in enumerate(seq, 1)) if r is not None)
        problem = None
        spacings = {s for s in per_frame if s is not None}
        if len(spacings) > 1:
            problem = (f"{path}: calibration differs between frames (PixelSpacing in the "
                       "Per-frame Functional Groups (5200,9230)) and the Sequence of Ultrasound "
                       "Regions (0018,6011) does not say each frame's own")
        elif not regions:
            problem = (f"{path}: no 2D tissue region (RegionSpatialFormat (0018,6012) = 1, "
                       "RegionDataType (0018,6014) = 1) in the Sequence of Ultrasound Regions "
                       "(0018,6011)")
        elif all(r.problem for r in regions):
            problem = regions[0].problem if len(regions) == 1 else (
                f"{path}: no calibrated 2D region in (0018,6011): "
                + "; ".join(r.problem.split(": ", 1)[1] for r in regions))
        return Calibration(path, True, regions, problem=problem)
    try:
        spacing = _pixel_spacing(ds, frame, per_frame, path)
    except DicomError as err:  # a refusal: a typed size stands in only with the override
        return Calibration(path, False, (), problem=str(err))
    if spacing is None:
        return Calibration(path, False, (), problem=(
            f"{path}: no calibration: no Sequence of Ultrasound Regions (0018,6011) and no "
            "PixelSpacing (0028,0030); give --pixel-size"), empty=True)
    rows_mm, cols_mm = spacing
    if not (rows_mm > 0 and cols_mm > 0) or not isotropic(rows_mm, cols_mm):
        return Calibration(path, False, (), problem=(
            f"{path}: PixelSpacing (0028,0030) {rows_mm:g}\\{cols_mm:g} mm is not one positive "
            f"square pixel (within {TOLERANCE:.0%})"))
    return Calibration(path, False, (), pixel_spacing_mm=(rows_mm + cols_mm) / 2)
