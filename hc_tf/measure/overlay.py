"""Overlays: the measured ellipse, HC, GA and review mark drawn on the image (OpenCV)."""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

import cv2
import numpy as np

from hc_tf import clinical
from hc_tf import preprocess
from hc_tf.measure.result import Measurement

_OVERLAY_FOUND = (0, 255, 0)  # BGR green
_OVERLAY_MISSING = (0, 0, 255)  # BGR red
_OVERLAY_REVIEW = (0, 0, 255)  # BGR red: the review mark
_OVERLAY_GA = (255, 255, 0)  # BGR cyan
_OVERLAY_REGION = (0, 200, 255)  # BGR amber: the part of a DICOM frame the model saw
_SHIFT = 4  # cv2 fixed-point bits: draws the ellipse at 1/16 px precision
_GA_SHORT = {clinical.GaMethod.HADLOCK_1984: "Hadlock",
             clinical.GaMethod.INTERGROWTH_2016: "INTERGROWTH"}


def overlay_lines(m: Measurement, label: Optional[str] = None
                  ) -> List[Tuple[str, Tuple[int, int, int]]]:
    """The text an overlay carries, top down, with each line's BGR colour.

    Args:
      m: the measurement.
      label: optional text put before the HC, e.g. the file name.

    Returns:
      [("HC 123.4 mm (95%: 119.6-127.2)", green), ("GA Hadlock 20+1, INTERGROWTH 20+0", cyan),
      ("REVIEW: <reasons>", red)]: the GA line only when a head was found (a formula out of
      its range reads "out of range"), the REVIEW line only when flagged; not found:
      [("no head: <reason>", red)].
    """
    prefix = f"{label}  " if label else ""
    if not m.found:
        return [(f"{prefix}no head: {m.reason}", _OVERLAY_MISSING)]
    ga = ", ".join(f"{_GA_SHORT[g.method]} "
                   + (clinical.format_ga(g.ga_days) if g.ga_days is not None else "out of range")
                   for g in m.gestational_age())
    iv = m.hc_interval()
    doubt = iv.display() if iv else "no calibrated interval"
    lines = [(f"{prefix}HC {m.hc_mm:.1f} mm ({doubt})", _OVERLAY_FOUND),
             (f"GA {ga}", _OVERLAY_GA)]
    if m.review:
        lines.append((f"REVIEW: {'; '.join(m.review_reasons)}", _OVERLAY_REVIEW))
    return lines


def draw_overlay(gray_image: np.ndarray, m: Measurement, label: Optional[str] = None,
                 region: Optional[Tuple[int, int, int, int]] = None) -> np.ndarray:
    """Draws the measured ellipse, its HC and GA on the original image; a measurement
    flagged for review gets a red frame and a red "REVIEW: <reasons>" line.

    Args:
      gray_image: the original image, (H, W), (H, W, 1) gray or (H, W, 3) BGR, uint8.
      m: its measurement (ellipse in the image's pixels).
      label: optional text put before the HC, e.g. the file name.
      region: the part of the image the model saw (x0, y0, x1, y1, inclusive: a DICOM's 2D
        region, `inference.Sample.region`), outlined thin in amber; None: the whole image.

    Returns:
      (H, W, 3) uint8 BGR image (a new array).

    Raises:
      ValueError: for an image that is not 8-bit gray or BGR.
    """
    img = np.asarray(gray_image)
    if img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8:
        out = img.copy()
    else:
        out = cv2.cvtColor(preprocess.to_gray_uint8(img, name="overlay image"),
                           cv2.COLOR_GRAY2BGR)
    h, w = out.shape[:2]
    thick = max(1, int(round(max(h, w) / 400)))
    if region is not None:  # around the region's pixels, not over them
        x0, y0, x1, y1 = region
        cv2.rectangle(out, (max(x0 - 1, 0), max(y0 - 1, 0)),
                      (min(x1 + 1, w - 1), min(y1 + 1, h - 1)), _OVERLAY_REGION, 1)
    if m.found:
        e = m.ellipse
        one = 1 << _SHIFT
        cv2.ellipse(out, (int(round(e.cx * one)), int(round(e.cy * one))),
                    (int(round(e.a * one)), int(round(e.b * one))), math.degrees(e.angle),
                    0, 360, _OVERLAY_FOUND, thick, cv2.LINE_AA, _SHIFT)
    if m.review:
        # A frame, not only text: seen at a glance, even in a thumbnail.
        frame = max(3, 3 * thick)
        cv2.rectangle(out, (0, 0), (w - 1, h - 1), _OVERLAY_REVIEW, 2 * frame)
    scale = max(0.4, max(h, w) / 1600)
    step = int(30 * scale) + thick
    inset = 3 * thick if m.review else 0
    lines = [(part, color) for text, color in overlay_lines(m, label)
             for part in _wrapped(text, w - 2 * (8 + inset), scale, thick)]
    # A dark box under the text: legible over a scanner's burnt-in header or bright tissue.
    widths = [cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)[0][0] for t, _ in lines]
    bottom = 8 + inset + int(24 * scale) + (len(lines) - 1) * step + int(8 * scale) + thick
    cv2.rectangle(out, (inset, inset), (min(w - 1 - inset, 16 + inset + max(widths)), bottom),
                  (0, 0, 0), cv2.FILLED)
    for k, (text, color) in enumerate(lines):
        org = (8 + inset, 8 + int(24 * scale) + k * step + inset)
        cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)
    return out


def _wrapped(text: str, width: int, scale: float, thick: int) -> List[str]:
    """`text` in lines that fit `width` pixels, each continuation indented (a single word
    wider than that stays whole)."""
    def fits(t: str) -> bool:
        return cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)[0][0] <= width
    lines: List[str] = []
    while not fits(text):
        cut = _last_break(text, fits)
        if cut is None:
            break
        lines.append(text[:cut].rstrip())
        text = "  " + text[cut:]
    return lines + [text]


def _last_break(text: str, fits) -> Optional[int]:
    """Where to break `text`: after the last "; " (else ", ", else " ") whose head fits and holds
    more than a continuation's indent (so every break shortens what is left: no endless loop)."""
    for sep in ("; ", ", ", " "):
        for i in range(len(text) - len(sep), 0, -1):
            if text.startswith(sep, i) and text[:i].strip() and fits(text[:i + len(sep)].rstrip()):
                return i + len(sep)
    return None
