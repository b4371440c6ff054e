"""The pixel size of a measured DICOM ultrasound frame, chosen among the file's calibration
(`dicom_calibration.read_calibration`) by where the head lies, and the part of the frame the model
sees (`model_region`, `pane_region`).

The 2D tissue region that holds the head gives the pixel size: the head's centre (from the
measured ellipse) decides the region, so `choose_pixel_size` picks one after measuring.
PixelSpacing (0028,0030) stands in only when the file has no region sequence at all, and the
choice says so. A typed pixel size that disagrees with the file is refused unless overridden.
Each refusal is a `DicomError` naming the file and tag.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Tuple

import numpy as np

from hc_tf.io.dicom import DicomError
from hc_tf.io.dicom_calibration import Calibration, Region, isotropic

# A head whose outline has more than this share of its points in another 2D region lies
# across two panes (dual-pane images): its pixel size is ambiguous.
MAX_OUTLINE_IN_OTHER_REGION = 0.02
OUTLINE_POINTS = 360
# The model sees a frame's one 2D tissue region when it has one this wide and high (pixels):
# a smaller box holds no measurable head, so it is taken for a mistake and the frame kept.
MIN_MODEL_REGION_SIDE = 32

SOURCE_REGION = "dicom_us_region"
SOURCE_PIXEL_SPACING = "dicom_pixel_spacing"
SOURCE_TYPED = "typed"
SOURCE_OVERRIDE = "typed_override"
OVERRIDE_FLAG = "--override-dicom-calibration"


@dataclasses.dataclass(frozen=True)
class Choice:
    """The pixel size used for a measurement, where it came from and why (for the report)."""

    pixel_size_mm: float
    source: str  # SOURCE_*
    note: str
    region: Optional[int] = None  # the (0018,6011) item used
    file_pixel_size_mm: Optional[float] = None


def provisional_pixel_size(cal: Calibration, typed_mm: Optional[float], override: bool,
                           typed_label: str = "--pixel-size") -> float:
    """The pixel size to measure with before the head's region is known.

    The HC is rescaled (re-measured) by `choose_pixel_size` when the head's region says
    otherwise. Raises the file's `problem` when nothing can calibrate it.

    Raises:
      DicomError: naming the file and tag, unless a typed size may stand in for it; or for a
        typed size that disagrees with every region of the file (without `override`).
    """
    if typed_mm is not None and (override or cal.empty):
        return typed_mm
    if cal.problem:
        raise DicomError(cal.problem + (f" (a typed --pixel-size is used only with "
                                        f"{OVERRIDE_FLAG})" if typed_mm is not None else ""))
    sizes = ([cal.pixel_spacing_mm] if cal.pixel_spacing_mm is not None
             else [r.pixel_size_mm for r in cal.regions if r.problem is None])
    if typed_mm is not None and not any(isotropic(size, typed_mm) for size in sizes):
        # Wherever the head lies, the typed size disagrees: refuse before decoding.
        raise _disagreement(cal, typed_mm, sizes[0], typed_label,
                            "PixelSpacing (0028,0030)" if cal.pixel_spacing_mm is not None
                            else "PhysicalDeltaX/Y (0018,602C/602E)")
    return sizes[0]


def _holds_a_head(box: Tuple[int, int, int, int]) -> bool:
    """A region box at least MIN_MODEL_REGION_SIDE wide and high (a box-less region's is not)."""
    x0, y0, x1, y1 = box
    return min(x1 - x0, y1 - y0) + 1 >= MIN_MODEL_REGION_SIDE


def model_region(cal: Calibration, rows: int, columns: int
                 ) -> Optional[Tuple[int, int, int, int]]:
    """The part of a frame the model sees (x0, y0, x1, y1, inclusive): the file's one 2D tissue
    region, so the head gets the model pixels that the scanner's text, bars and margins would
    take (docs/dicom.md). None, the whole frame: no region; several (a dual pane, measured whole,
    then on its head's pane: `pane_region`); one under MIN_MODEL_REGION_SIDE or without a box;
    or one that is the whole frame."""
    if len(cal.regions) != 1:
        return None
    box = cal.regions[0].box
    return box if _holds_a_head(box) and box != (0, 0, columns - 1, rows - 1) else None


def pane_region(cal: Calibration, ellipse: Any) -> Optional[Tuple[int, int, int, int]]:
    """The box of the 2D region that holds a head measured on a frame of several (a dual pane),
    for the model to see that pane alone; None when no single region holds it (`head_region`
    refuses: the pixel size choice then says why) or the region is under
    MIN_MODEL_REGION_SIDE."""
    try:
        box = head_region(cal, ellipse).box
    except DicomError:
        return None
    return box if _holds_a_head(box) else None


def head_region(cal: Calibration, ellipse: Any) -> Region:
    """The 2D region that holds the head: its centre's, with no share of the outline elsewhere.

    Raises:
      DicomError: when the centre lies in no 2D region, in regions of different calibration,
        or the outline runs into another 2D region (across two panes), or the head's region
        itself cannot calibrate.
    """
    centre = np.array([[ellipse.cx, ellipse.cy]])
    home = [r for r in cal.regions if r.contains(centre)[0]]
    at = f"head centre ({ellipse.cx:.0f}, {ellipse.cy:.0f})"
    if not home:
        boxes = ", ".join(f"{r.item}: {r.box}" for r in cal.regions)
        raise DicomError(f"{cal.path}: {at} lies in no 2D region of (0018,6011) "
                         f"(regions x0,y0,x1,y1: {boxes})")
    sizes = {r.pixel_size_mm for r in home}
    if len(home) > 1 and (None in sizes or not isotropic(min(sizes), max(sizes))):
        raise DicomError(f"{cal.path}: {at} lies in overlapping 2D regions "
                         f"{', '.join(str(r.item) for r in home)} of (0018,6011) with "
                         "different calibration")
    region = home[0]
    outline = ellipse.points(OUTLINE_POINTS)
    inside_home = np.any([r.contains(outline) for r in home], axis=0)
    for other in cal.regions:
        share = float(np.mean(other.contains(outline) & ~inside_home))
        if share > MAX_OUTLINE_IN_OTHER_REGION:
            raise DicomError(f"{cal.path}: the head lies across two 2D regions of (0018,6011) "
                             f"({region.item} and {other.item}: {share:.0%} of its outline in "
                             f"region {other.item}); its pixel size is ambiguous")
    if region.problem:
        raise DicomError(region.problem)
    return region


def _file_choice(cal: Calibration, ellipse: Any) -> Optional[Choice]:
    """The file's own pixel size for this head, or None when the file has none usable."""
    if cal.problem:
        return None
    if cal.pixel_spacing_mm is not None:
        return Choice(cal.pixel_spacing_mm, SOURCE_PIXEL_SPACING,
                      "PixelSpacing (0028,0030): the file has no Sequence of Ultrasound Regions; "
                      "PixelSpacing is not ultrasound calibration, check the HC",
                      file_pixel_size_mm=cal.pixel_spacing_mm)
    if ellipse is None:  # no head: the region cannot be chosen; report the first one's
        r = next(r for r in cal.regions if r.problem is None)
        return Choice(r.pixel_size_mm, SOURCE_REGION, f"region {r.item} of (0018,6011) "
                      "(no head found, so no region chosen)", r.item, r.pixel_size_mm)
    r = head_region(cal, ellipse)
    return Choice(r.pixel_size_mm, SOURCE_REGION, f"2D tissue region {r.item} of (0018,6011) "
                  f"(box {r.box}) holds the head", r.item, r.pixel_size_mm)


def choose_pixel_size(cal: Calibration, ellipse: Any, typed_mm: Optional[float] = None,
                      override: bool = False, typed_label: str = "--pixel-size") -> Choice:
    """The pixel size of a measured frame and why (`Choice.source`).

    Args:
      cal: from `read_calibration`.
      ellipse: the measured head (`measure.Ellipse`, original pixels), or None if not found.
      typed_mm: a pixel size a person gave (--pixel-size or a CSV row), or None.
      override: force `typed_mm` where the file's calibration differs or is refused.
      typed_label: how messages name the typed value.

    Raises:
      DicomError: naming the file and tag, for the refusals of `head_region` and
        `read_calibration`, or a typed pixel size that disagrees with the file's (unless
        `override`).
    """
    try:
        found = _file_choice(cal, ellipse)
    except DicomError:
        if not (override and typed_mm is not None):
            raise
        found = None
    if typed_mm is None:
        if found is None:
            raise DicomError(cal.problem)
        return found
    if found is not None and isotropic(found.pixel_size_mm, typed_mm):
        return dataclasses.replace(found, note=found.note + f"; {typed_label} {typed_mm:g} mm "
                                   "agrees")
    if cal.empty:
        return Choice(typed_mm, SOURCE_TYPED, f"{typed_label}: the file has no calibration")
    if override:
        file_text = (f"the file's {found.pixel_size_mm:g} mm" if found else
                     "the file's calibration, which was refused")
        return Choice(typed_mm, SOURCE_OVERRIDE, f"{typed_label} {typed_mm:g} mm forced by "
                      f"{OVERRIDE_FLAG} over {file_text}", None,
                      found.pixel_size_mm if found else None)
    if found is None:
        raise DicomError(f"{cal.problem} (a typed {typed_label} is used only with "
                         f"{OVERRIDE_FLAG})")
    raise _disagreement(cal, typed_mm, found.pixel_size_mm, typed_label,
                        "PhysicalDeltaX/Y (0018,602C/602E)" if found.source == SOURCE_REGION
                        else "PixelSpacing (0028,0030)")


def _disagreement(cal: Calibration, typed_mm: float, file_mm: float, typed_label: str,
                  tag: str) -> DicomError:
    return DicomError(f"{cal.path}: {typed_label} {typed_mm:g} mm disagrees with the file's "
                      f"calibration {file_mm:g} mm ({tag}); drop it, or force it with "
                      f"{OVERRIDE_FLAG}")
