"""`Measurement`: what measuring one image returns, in pixels and mm, with its review flag."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Tuple

from hc_tf import clinical
from hc_tf.clinical import biometry as biometry_lib
from hc_tf.clinical import interval_table as interval_table_lib
from hc_tf.clinical import intervals as intervals_lib
from hc_tf.measure.geometry import Ellipse


@dataclasses.dataclass(frozen=True)
class Measurement:
    """The result of measuring one image.

    Attributes:
      found: whether a head ellipse was found.
      reason: why not, human-readable ("" when found).
      ellipse: the head ellipse in original-image pixels (None when not found).
      pixel_size_mm: the original image's pixel size.
      quality: the fit's quality signals (`hc_tf.measure.quality`; None when not found or not
        computed), judged by `review` / `review_reasons`.
      original_px_per_model_px: original-image pixels per model-input pixel (1 / the letterbox
        scale; 1.0 when the map is on the image's own grid; None when unknown), for
        `model_pixel_mm`.
      interval_table: the HC interval's calibration for the model that measured (None: the
        package's, fitted on the released model).
      interval_note: why the model gives no HC interval ("" when it does): it has no
        calibration of its own (`hc_tf.inference.interval_table_for`). One image can lack one
        too: `no_interval_reason`.
    """

    found: bool
    reason: str
    ellipse: Optional[Ellipse]
    pixel_size_mm: float
    quality: Optional[clinical.QualitySignals] = None
    original_px_per_model_px: Optional[float] = None
    interval_table: Optional[interval_table_lib.IntervalTable] = dataclasses.field(
        default=None, compare=False, repr=False)
    interval_note: str = ""

    def __post_init__(self):
        if self.found and self.ellipse is None:
            raise ValueError("a found Measurement needs an ellipse")
        if not self.found and not self.reason:
            raise ValueError("a not-found Measurement needs a reason")

    @property
    def hc_mm(self) -> Optional[float]:
        """Head circumference in mm (HC18's Ramanujan perimeter); None when not found."""
        if not self.found:
            return None
        return self.ellipse.perimeter() * self.pixel_size_mm

    @property
    def model_pixel_mm(self) -> Optional[float]:
        """The size in mm of one model-input pixel (`clinical.interval_table.model_pixel_mm`), the
        scale the model's error is roughly constant in; None when the letterbox is unknown."""
        if self.original_px_per_model_px is None:
            return None
        return interval_table_lib.model_pixel_mm(self.pixel_size_mm, self.original_px_per_model_px)

    @property
    def center_mm(self) -> Optional[Tuple[float, float]]:
        """(x_mm, y_mm) of the centre, x the column; None when not found."""
        if not self.found:
            return None
        return self.ellipse.cx * self.pixel_size_mm, self.ellipse.cy * self.pixel_size_mm

    @property
    def semi_axes_mm(self) -> Optional[Tuple[float, float]]:
        """(a_mm, b_mm), a >= b; None when not found."""
        if not self.found:
            return None
        return self.ellipse.a * self.pixel_size_mm, self.ellipse.b * self.pixel_size_mm

    @property
    def angle_rad(self) -> Optional[float]:
        """Direction of the a-axis in [0, pi), from +x towards +y; None when not found."""
        return self.ellipse.angle if self.found else None

    @property
    def review_reasons(self) -> List[str]:
        """Why this measurement needs a second look (`clinical.review_flag`); [] when it
        doesn't or was not assessed."""
        if not self.found or self.quality is None:
            return []
        return clinical.review_flag(self.quality)[1]

    @property
    def review(self) -> bool:
        """True when a clinician should check this measurement before using it."""
        return bool(self.review_reasons)

    def biometry(self) -> Optional[biometry_lib.Biometry]:
        """BPD, OFD, cephalic index, corrected BPD, GA from BPD (`clinical.biometry`;
        outer-to-outer along the ellipse's axes); None when not found."""
        return biometry_lib.biometry_from_axes(*self.semi_axes_mm) if self.found else None

    @property
    def no_interval_reason(self) -> str:
        """Why a found head has no HC interval ("" when it has one, or no head): the model has
        no calibration (`interval_note`), or this image lies beyond it
        (`clinical.intervals.beyond_calibration`: e.g. a model pixel coarser than any
        calibration image's)."""
        if not self.found:
            return ""
        return self.interval_note or intervals_lib.beyond_calibration(
            self.hc_mm, self.quality, self.interval_table, self.model_pixel_mm)

    def hc_interval(self, level: float = interval_table_lib.DEFAULT_LEVEL
                    ) -> Optional[intervals_lib.HcInterval]:
        """The calibrated interval of the HC (`clinical.intervals`, the measuring model's table,
        the quality signals and the model-pixel size as the difficulty); None when not found
        or when there is none to give (`no_interval_reason` says why)."""
        if not self.found or self.no_interval_reason:
            return None
        return intervals_lib.hc_interval(self.hc_mm, self.quality, level, self.interval_table,
                                         model_pixel_mm=self.model_pixel_mm)

    def axis_interval(self, quantity: str, level: float = interval_table_lib.DEFAULT_LEVEL
                      ) -> Tuple[Any, str]:
        """BPD's, OFD's, the corrected BPD's or the cephalic index's calibrated interval
        (`quantity` "bpd", "ofd", "cbpd": an AxisInterval; "ci": an IndexInterval), or (None,
        why not): the package's tables are the released model's (a model with a table of its
        own, or none, gets none), and an image beyond their calibration gets none either;
        (None, "") when no head."""
        if not self.found:
            return None, ""
        if self.interval_table is not None or self.interval_note:
            return None, (f"no calibrated {intervals_lib.AXIS_NAMES[quantity]} interval: the "
                          "package's is calibrated on the released model's errors")
        table = interval_table_lib.load_table(interval_table_lib.AXIS_TABLE_PATHS[quantity])
        beyond = intervals_lib.beyond_calibration(self.hc_mm, self.quality, table,
                                                  self.model_pixel_mm)
        if beyond:
            return None, beyond
        if quantity == "ci":
            return intervals_lib.cephalic_index_interval(
                self.biometry().cephalic_index, self.hc_mm, self.quality, level,
                self.model_pixel_mm), ""
        value = getattr(self.biometry(), {"cbpd": "corrected_bpd_mm"}.get(quantity,
                                                                          f"{quantity}_mm"))
        return intervals_lib.axis_interval(quantity, value, self.hc_mm, self.quality, level,
                                           self.model_pixel_mm), ""

    def gestational_age(self) -> Tuple[clinical.GaEstimate, ...]:
        """GA by each formula (`clinical.ga_from_hc_all`); () when not found."""
        return clinical.ga_from_hc_all(self.hc_mm) if self.found else ()

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-serialisable dict (plain floats, None for missing values)."""
        interval = self.hc_interval()
        return {"found": self.found, "reason": self.reason,
                "quality": (dataclasses.asdict(self.quality) if self.quality else None),
                "review": self.review, "review_reasons": self.review_reasons,
                "gestational_age": [dataclasses.asdict(g) for g in self.gestational_age()],
                "pixel_size_mm": float(self.pixel_size_mm), "hc_mm": self.hc_mm,
                "model_pixel_mm": self.model_pixel_mm,
                "hc_interval": dataclasses.asdict(interval) if interval else None,
                "interval_note": self.no_interval_reason,
                "biometry": (dataclasses.asdict(self.biometry()) if self.found else None),
                "center_mm": (list(self.center_mm) if self.found else None),
                "semi_axes_mm": (list(self.semi_axes_mm) if self.found else None),
                "angle_rad": self.angle_rad,
                "ellipse_px": (dataclasses.asdict(self.ellipse) if self.found else None)}


def not_found(reason: str, pixel_size_mm: float) -> Measurement:
    """A not-found `Measurement` with its `reason`."""
    return Measurement(found=False, reason=reason, ellipse=None, pixel_size_mm=pixel_size_mm)
