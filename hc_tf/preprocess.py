"""The one definition of the model's input: letterbox a grayscale image.

Both the Keras path (training, evaluation) and the edge runtime call this module,
so the two models always see byte-identical inputs and parity measures the
network alone. NumPy and OpenCV only: never TensorFlow.

Normalization is *not* done here: the network takes raw 0..255 gray values and
rescales them itself (its first layer), so normalization is applied exactly once
and an int8 TFLite model can take the uint8 pixels as they are.

Coordinates follow OpenCV: x is the column, y the row, pixel centres at integers.
"""

from __future__ import annotations

import dataclasses
from typing import Tuple

import cv2
import numpy as np

from hc_tf import defaults

DEFAULT_INPUT_SIZE: Tuple[int, int] = defaults.INPUT_HW  # why 224x320: see hc_tf.defaults
PAD_VALUE = 0  # ultrasound background is black
# Smaller images can't be letterboxed meaningfully (and hold no measurable head).
MIN_IMAGE_SIDE = 2


@dataclasses.dataclass(frozen=True)
class Letterbox:
    """Maps original-image pixels to model-input pixels and back, exactly.

    A point (x, y) of the original image lands at
    ``x_model = (x + 0.5) * scale_x - 0.5 + offset_x`` (same for y), the
    pixel-centre convention of ``cv2.resize``.

    Attributes:
      scale_x, scale_y: resized width / original width (height likewise); equal
        up to the rounding of the resized size.
      offset_x, offset_y: padding before the resized image, in model pixels.
      src_width, src_height: the original image size.
      dst_width, dst_height: the model input size.
    """

    scale_x: float
    scale_y: float
    offset_x: float
    offset_y: float
    src_width: int
    src_height: int
    dst_width: int
    dst_height: int

    def to_model(self, points: np.ndarray) -> np.ndarray:
        """Maps (N, 2) original (x, y) points to model-input coordinates."""
        p = np.asarray(points, dtype=np.float64)
        return np.stack(
            [(p[:, 0] + 0.5) * self.scale_x - 0.5 + self.offset_x,
             (p[:, 1] + 0.5) * self.scale_y - 0.5 + self.offset_y], axis=1)

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """Maps (N, 2) model-input (x, y) points back to original pixels."""
        p = np.asarray(points, dtype=np.float64)
        return np.stack(
            [(p[:, 0] - self.offset_x + 0.5) / self.scale_x - 0.5,
             (p[:, 1] - self.offset_y + 0.5) / self.scale_y - 0.5], axis=1)

    def as_array(self) -> np.ndarray:
        """[scale_x, scale_y, offset_x, offset_y] as float32, for tf.data."""
        return np.array([self.scale_x, self.scale_y, self.offset_x, self.offset_y],
                        dtype=np.float32)


def letterbox_transform(src_hw: Tuple[int, int],
                        dst_hw: Tuple[int, int] = DEFAULT_INPUT_SIZE) -> Letterbox:
    """Computes the letterbox that fits an image of `src_hw` into `dst_hw`.

    Args:
      src_hw: (height, width) of the original image.
      dst_hw: (height, width) of the model input.

    Returns:
      The `Letterbox`; the image is scaled to fit and centred.

    Raises:
      ValueError: for a non-positive size.
    """
    sh, sw = int(src_hw[0]), int(src_hw[1])
    dh, dw = int(dst_hw[0]), int(dst_hw[1])
    if min(sh, sw, dh, dw) <= 0:
        raise ValueError(f"image and model sizes must be positive, got {src_hw} -> {dst_hw}")
    scale = min(dw / sw, dh / sh)
    nw = min(dw, max(1, int(round(sw * scale))))
    nh = min(dh, max(1, int(round(sh * scale))))
    return Letterbox(scale_x=nw / sw, scale_y=nh / sh,
                     offset_x=float((dw - nw) // 2), offset_y=float((dh - nh) // 2),
                     src_width=sw, src_height=sh, dst_width=dw, dst_height=dh)


def _resize_into(array: np.ndarray, box: Letterbox, fill: float) -> np.ndarray:
    nw = int(round(box.scale_x * box.src_width))
    nh = int(round(box.scale_y * box.src_height))
    # INTER_AREA: the model input is a 2-3x downscale; area averaging avoids aliasing.
    interp = cv2.INTER_AREA if nw <= box.src_width else cv2.INTER_LINEAR
    resized = cv2.resize(array, (nw, nh), interpolation=interp)
    out = np.full((box.dst_height, box.dst_width), fill, dtype=array.dtype)
    ox, oy = int(box.offset_x), int(box.offset_y)
    out[oy:oy + nh, ox:ox + nw] = resized
    return out


def to_gray_uint8(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Returns a 2-D uint8 grayscale view of `image`: the rules for an image given as an array.

    Accepts (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA uint8 arrays, channels in
    RGB order (Pillow's, matplotlib's, imageio's), made gray by OpenCV's RGB weights, the
    numbers a file of those pixels gives. An array from `cv2.imread` is in BGR order:
    convert it (`cv2.cvtColor(a, cv2.COLOR_BGR2RGB)` or `COLOR_BGR2GRAY`) or read the file
    with `read_gray_image` (predict's reader); taken as RGB, its red and blue swap weights
    and a tinted image measures differently (`cv2.IMREAD_GRAYSCALE` is libpng's or libjpeg's
    own conversion, which may differ by a gray level). An RGBA array with a pixel
    not fully opaque is refused (`TRANSLUCENT`), as such a file is.

    Raises:
      ValueError: naming `name`, for any other shape or dtype, a translucent RGBA array, or an
        image smaller than MIN_IMAGE_SIDE in either dimension.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"{name}: expected 8-bit pixels, got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    elif image.ndim == 3 and image.shape[2] in (3, 4):
        if image.shape[2] == 4 and image[:, :, 3].min() < 255:  # a file's rule (io.images)
            raise ValueError(f"{name}: {TRANSLUCENT}")
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY if image.shape[2] == 3
                             else cv2.COLOR_RGBA2GRAY)
    if image.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D grayscale image, got shape {image.shape}")
    if min(image.shape) < MIN_IMAGE_SIDE:
        raise ValueError(f"{name}: image too small ({image.shape[1]} x {image.shape[0]} pixels; "
                         f"at least {MIN_IMAGE_SIDE} x {MIN_IMAGE_SIDE})")
    return image


def letterbox_image(image: np.ndarray,
                    dst_hw: Tuple[int, int] = DEFAULT_INPUT_SIZE
                    ) -> Tuple[np.ndarray, Letterbox]:
    """Letterboxes a grayscale uint8 image to the model input.

    Args:
      image: (H, W) or (H, W, 1) uint8.
      dst_hw: model input (height, width).

    Returns:
      (model_input, box): model_input is (dst_h, dst_w, 1) uint8, raw gray values.
    """
    gray = to_gray_uint8(image)
    box = letterbox_transform(gray.shape, dst_hw)
    return letterbox_image_into(gray, box), box


def letterbox_image_into(image: np.ndarray, box: Letterbox) -> np.ndarray:
    """Draws a grayscale uint8 image through a given `box` (e.g. another scale than
    `letterbox_transform`'s): (box.dst_height, box.dst_width, 1) uint8, padding black."""
    return _resize_into(to_gray_uint8(image), box, PAD_VALUE)[:, :, None]


def letterbox_mask(mask: np.ndarray, box: Letterbox) -> np.ndarray:
    """Letterboxes a {0,1} mask with the image's transform into a soft float32 mask.

    Area interpolation gives each model pixel the fraction of it the head covers,
    a better training target than a hard, aliased edge.
    """
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m[:, :, 0]
    return _resize_into(m.astype(np.float32), box, 0.0)[:, :, None]


def read_gray_image(path: str) -> np.ndarray:
    """Decodes an image file to 2-D uint8 gray, upright (EXIF orientation); RGB is converted.

    Reads through `hc_tf.io.images`, the bounded reader of untrusted files (regular files
    only, byte and pixel limits checked before decoding).

    Raises:
      ValueError: naming the file, when it is refused, can't be decoded or is not 8-bit.
      OSError: naming the file, when it cannot be read (FileNotFoundError when missing).
    """
    from hc_tf.io import images  # it imports this module
    return images.read_gray_image(path)


def deeper_than_8_bits(dtype: np.dtype) -> str:
    """The words for a decoded image of more than 8 bits a sample (web_app/src/core/imagefile.js
    checkFile says a 16-bit PNG's the same)."""
    dtype = np.dtype(dtype)
    bits = f"{8 * dtype.itemsize}-bit" + (" floating-point" if dtype.kind == "f" else "")
    return f"a {bits} image; hc-tf measures 8-bit images (save it as 8-bit)"


# An image with a pixel that is not fully opaque: a viewer shows such pixels blank or blended
# with what is behind them, not as the colour values measured (a fully transparent head PNG was
# measured, 66.81 mm, from pixels shown as blank). The web app refuses it in the same words
# (imagefile.js TRANSLUCENT).
TRANSLUCENT = ("the image has pixels that are not fully opaque (transparency); hc-tf measures "
               "opaque images only: save it without transparency")
