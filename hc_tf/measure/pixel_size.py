"""The one pixel-size validator: every path that takes a pixel size checks it here."""

from __future__ import annotations

import math
from typing import Any, Tuple

import numpy as np


# HC18's pixel sizes are 0.049-0.393 mm; 2-D ultrasound in general is within about
# 0.01-2 mm per pixel. Outside this range a value is a typo or a unit mix-up (um,
# cm, pixels per mm), and would print an absurd HC; callers may allow it explicitly.
PLAUSIBLE_PIXEL_SIZE_MM: Tuple[float, float] = (0.01, 2.0)


class ImplausiblePixelSizeError(ValueError):
    """A pixel size outside PLAUSIBLE_PIXEL_SIZE_MM (callers may offer to allow it)."""


def check_pixel_size(value: Any, what: str = "pixel size", allow_implausible: bool = False
                     ) -> float:
    """The one pixel-size validator (CLI, demo, edge runtime, measurement).

    Args:
      value: the pixel size in mm: a number or a numeric string.
      what: how messages name the value, e.g. "pixels.csv row 3: pixel size".
      allow_implausible: accept any finite positive value, not only values in
        PLAUSIBLE_PIXEL_SIZE_MM (an explicit user choice).

    Returns:
      The pixel size as a float.

    Raises:
      ValueError: naming `what` and the value, when it is not a number, not
        finite or not positive.
      ImplausiblePixelSizeError: (a ValueError) when, unless allowed, it is
        outside PLAUSIBLE_PIXEL_SIZE_MM.
    """
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{what} {value!r} is not a number")
    try:
        size = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {value!r} is not a number") from None
    if not math.isfinite(size):
        raise ValueError(f"{what} {value!r} is not finite")
    if size <= 0:
        raise ValueError(f"{what} {value!r} is not positive")
    lo, hi = PLAUSIBLE_PIXEL_SIZE_MM
    if not allow_implausible and not lo <= size <= hi:
        raise ImplausiblePixelSizeError(f"{what} {value!r} mm is outside the plausible range "
                                        f"{lo:g}-{hi:g} mm per pixel (HC18: 0.049-0.393 mm)")
    return size


def positive_pixel_size(pixel_size_mm: Any) -> float:
    """`check_pixel_size` for the geometry itself: any finite positive value.

    Args:
      pixel_size_mm: the pixel size in mm.

    Returns:
      It as a float.

    Raises:
      ValueError: when it is not a finite positive number.
    """
    return check_pixel_size(pixel_size_mm, "pixel_size_mm", allow_implausible=True)
