"""What the demo's page sends, checked: the pixel size and the GA typed, the image (an array,
or an uploaded file read by every reader's rules). Bad input is a `DemoInputError`, whose
message the page shows as it is.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import numpy as np

from hc_tf import clinical
from hc_tf import defaults
from hc_tf import measure as measure_lib
from hc_tf import preprocess
from hc_tf.io import images

# Every reader's limits (hc_tf.defaults; HC_TF_MAX_INPUT_* override them, see hc_tf.io.images):
# the pixels are checked on the header, before a decompression bomb could be decoded.
MAX_IMAGE_PIXELS = defaults.MAX_INPUT_PIXELS
MAX_UPLOAD_BYTES = defaults.MAX_INPUT_BYTES


class DemoInputError(ValueError):
    """Bad input from the page (image, pixel size or GA): the message is shown as it is."""


def check_pixel_size(value: Any) -> float:
    """The pixel size typed in the page, as a float.

    Args:
      value: what the number box sent (a number, a string, or None when empty).

    Returns:
      The pixel size in mm.

    Raises:
      DemoInputError: when it is missing, not a number, not finite, not > 0, or
        outside the plausible range (`measure.PLAUSIBLE_PIXEL_SIZE_MM`).
    """
    lo, hi = measure_lib.PLAUSIBLE_PIXEL_SIZE_MM
    hint = f"enter the image's pixel size in mm (a number from {lo:g} to {hi:g}, e.g. 0.1)"
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DemoInputError(f"Pixel size missing: {hint}.")
    try:
        return measure_lib.check_pixel_size(value, what="Pixel size")
    except ValueError as err:
        raise DemoInputError(f"{err}: {hint}.") from None


GA_HINT = "enter the known GA in weeks (e.g. 27.4) or weeks+days (27+3), or leave it empty"


def check_ga(value: Any) -> Optional[float]:
    """The known GA typed in the page (optional), in weeks.

    Args:
      value: the GA box's value: None or blank (no GA), weeks ("27.4", 27.4) or
        weeks+days ("27+3").

    Returns:
      GA in weeks, or None when the box is empty.

    Raises:
      DemoInputError: for text that is not a GA, or a GA outside 10-45 weeks.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return clinical.parse_ga_weeks(value if isinstance(value, str) else float(value))
    except (TypeError, ValueError) as err:
        raise DemoInputError(f"{err}: {GA_HINT}.") from None


def check_frame(value: Any) -> int:
    """The frame box's value as a 1-based frame number (blank is frame 1).

    Raises:
      DemoInputError: for anything but a whole number from 1 (Gradio's number box sends 2.0).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return 1
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not number.is_integer() or number < 1:
        raise DemoInputError(f"the frame takes a whole number from 1, not {value!r:.40}.")
    return int(number)


def to_gray(image: np.ndarray) -> np.ndarray:
    """An uploaded image array as 2-D uint8 gray (RGB/RGBA converted), size-checked.

    Args:
      image: (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) fully opaque RGBA uint8 (RGB
        order: `preprocess.to_gray_uint8`).

    Returns:
      (H, W) uint8.

    Raises:
      DemoInputError: for another shape or dtype, or an image over MAX_IMAGE_PIXELS.
    """
    image = np.asarray(image)
    if image.ndim < 2:
        raise DemoInputError(f"Not an image: an array of shape {image.shape}.")
    try:
        images.check_pixels(int(image.shape[1]), int(image.shape[0]), "the image")
    except images.TooLargeError as err:
        raise DemoInputError(f"{str(err)[0].upper()}{str(err)[1:]}.") from None
    try:
        return preprocess.to_gray_uint8(image)
    except ValueError as err:
        raise DemoInputError(f"Unsupported image: {err}.") from None


def read_image_file(path: str, name: Optional[str] = None) -> np.ndarray:
    """Decodes an uploaded image file to 2-D uint8 gray, refusing what isn't a sane image.

    Read by `hc_tf.io.images`, every reader's: a regular file within the byte limit, its
    size checked from the header (Pillow reads it without decoding the pixels), so a small
    file that decodes to a huge image is refused cheaply; the pixels are then decoded by
    `images.decode_gray` (the project's one decoder) and turned upright (EXIF).

    Args:
      path: the file.
      name: the name to show in messages (the uploaded file's own name).

    Returns:
      (H, W) uint8.

    Raises:
      DemoInputError: for a missing, empty, too large or undecodable file, or a
        non-8-bit image.
    """
    name = name or os.path.basename(path)
    try:
        data = images.read_file_bytes(path)
    except FileNotFoundError:
        raise DemoInputError(f"{name}: no such file.") from None
    except (OSError, ValueError) as err:
        raise DemoInputError(f"{str(err).replace(path, name)}.") from None
    try:
        width, height = images.image_size(data, name)
        images.check_pixels(width, height, name)
    except images.TooLargeError as err:  # the reader's line, past Pillow's bomb guard too
        raise DemoInputError(f"{err}.") from None
    except ValueError:
        raise DemoInputError(f"{name}: not a readable image (upload a PNG or JPEG).") from None
    try:
        return images.decode_gray(data, name)
    except ValueError as err:
        raise DemoInputError(f"{err} (upload an 8-bit PNG or JPEG).") from None
