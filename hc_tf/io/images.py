"""The one reader of untrusted image files (predict, its Beam mode, evaluate, the demo).

Every file is bounded before it is decoded:
- regular files only: a FIFO, a device (`/dev/zero`) or a socket is refused from `os.stat`,
  and the file is opened non-blocking, so nothing swapped in between can hang the read;
- bytes: at most `max_input_bytes()`, read with a bounded read (a file that grows is caught);
- pixels: rows x columns from the header (Pillow reads it without decoding the pixels) at most
  `max_input_pixels()`, so a decompression bomb is refused before it is decoded.
Then `_decode_unchecked` (the project's one decoder, private: on its own it skips all this) decodes, and the EXIF
orientation is applied, so pixels and coordinates are the image as viewers show it.

The limits are `hc_tf.defaults.MAX_INPUT_BYTES` / `MAX_INPUT_PIXELS`, overridden by the
environment variables HC_TF_MAX_INPUT_BYTES / HC_TF_MAX_INPUT_PIXELS (whole numbers), which
reach every reader, Beam workers on this machine included. Errors are ValueErrors with one
line naming the file.
"""

from __future__ import annotations

import io
import os
import stat
import threading
import warnings
from typing import BinaryIO, Optional, Tuple

import cv2
import numpy as np

from hc_tf import defaults
from hc_tf import preprocess
from hc_tf.io import gif_check
from hc_tf.io import jpeg_check
from hc_tf.io import png_chunks
from hc_tf.io import png_zlib
from hc_tf.io import tiff_check
from hc_tf.io import webp_check

BYTES_ENV = "HC_TF_MAX_INPUT_BYTES"
PIXELS_ENV = "HC_TF_MAX_INPUT_PIXELS"  # also read by hc_tf/__init__.py, for OpenCV's guard

_EXIF_ORIENTATION = 0x0112
# warnings.catch_warnings saves and restores process-wide filters: two threads' blocks
# interleaved (the demo's, the node's) restore each other's, and warnings stay off for good or
# come through. Every such block of the readers holds this one lock (dicom.quiet too).
WARNINGS_LOCK = threading.RLock()
# Pillow's PngImagePlugin.MAX_TEXT_CHUNK: a zTXt, iTXt or iCCP chunk inflating beyond it fails
# Pillow's header read (`png_chunks.inflates_too_far` says why).
_PILLOW_TEXT_LIMIT = 1 << 20


def _env_limit(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"{name}={text!r}: expected a positive whole number")
    return value


def max_input_bytes() -> int:
    """The byte limit of one input file (HC_TF_MAX_INPUT_BYTES, else the default)."""
    return _env_limit(BYTES_ENV, defaults.MAX_INPUT_BYTES)


def max_input_pixels() -> int:
    """The pixel limit (rows x columns) of one image (HC_TF_MAX_INPUT_PIXELS, else the default)."""
    return _env_limit(PIXELS_ENV, defaults.MAX_INPUT_PIXELS)


def check_limits() -> Tuple[int, int]:
    """(bytes, pixels) limits, read now so a bad environment value fails before any work.

    Raises:
      ValueError: naming the variable, for a value that is not a positive whole number.
    """
    return max_input_bytes(), max_input_pixels()


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def check_regular(st: os.stat_result, name: str, max_bytes: int) -> None:
    """Refuses anything but a regular file of at most `max_bytes`.

    Raises:
      ValueError: naming the file and what it is, or its size and the limit.
    """
    if not stat.S_ISREG(st.st_mode):
        kind = ("a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode) else "a special file")
        raise ValueError(f"{name}: not a regular file ({kind}); only regular files are read")
    if st.st_size > max_bytes:
        raise ValueError(f"{name}: file too large ({_mb(st.st_size)}; at most {_mb(max_bytes)}, "
                         f"see {BYTES_ENV})")


def read_bounded(f: BinaryIO, name: str, max_bytes: int) -> bytes:
    """At most `max_bytes` of `f`; one byte more is an error (the file grew, or lied about
    its size)."""
    data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{name}: file too large (more than {_mb(max_bytes)}, see {BYTES_ENV})")
    return data


def missing_reason(path: str) -> str:
    """Why a path os.stat cannot find is missing: "no such file", or, for a symlink whose target
    is gone, "a link to a missing file (TARGET)": os.stat said "[Errno 2] No such file or
    directory: 'PATH'" of both, and a folder's listing shows the link as a file."""
    if os.path.islink(path):
        target = os.fsencode(os.readlink(path)).decode("utf-8", "backslashreplace")
        return f"a link to a missing file ({target})"
    return "no such file"


def missing_file_error(path: str) -> FileNotFoundError:
    """"PATH: `missing_reason`", one line (str() of it, as the commands print errors)."""
    return FileNotFoundError(f"{path}: {missing_reason(path)}")


def read_file_bytes(path: str, max_bytes: Optional[int] = None) -> bytes:
    """The bytes of a local regular file, bounded.

    Raises:
      ValueError: not a regular file, too large (both named).
      FileNotFoundError: "PATH: no such file", or "PATH: a link to a missing file (TARGET)".
      OSError: unreadable (the error names the file).
    """
    limit = max_input_bytes() if max_bytes is None else max_bytes
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise missing_file_error(path) from None
    check_regular(st, path, limit)
    # O_NONBLOCK: should a FIFO replace the file after the stat, open() does not wait for
    # a writer; the fstat below then refuses it.
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except PermissionError:  # str() was "[Errno 13] Permission denied: '...'"
        raise PermissionError(f"{path}: permission denied (this user may not read it)") from None
    with os.fdopen(fd, "rb") as f:
        check_regular(os.fstat(fd), path, limit)
        return read_bounded(f, path, limit)


class TooLargeError(ValueError):
    """An image of more pixels than the limit (its file named): unlike an unreadable file, a
    caller may say so as it stands."""


def image_size(data: bytes, name: str) -> Tuple[int, int]:
    """(width, height) from the header, without decoding the pixels.

    Raises:
      TooLargeError: past Pillow's own bomb guard (far above ours).
      ValueError: naming the file, when it is empty or no image header is recognised.
    """
    from PIL import Image  # Pillow: a base requirement

    if not data:  # "not a readable image file" sent people looking for damage in it
        raise ValueError(f"{name}: empty file")
    try:
        with WARNINGS_LOCK, warnings.catch_warnings():  # Pillow warns above its own limit
            warnings.simplefilter("ignore")  # (ours decides) and of a TIFF's corrupt EXIF
            with Image.open(io.BytesIO(data)) as im:
                return int(im.size[0]), int(im.size[1])
    except Image.DecompressionBombError as err:  # Pillow's own guard, far above ours
        pixels = next((w for w in str(err).replace("(", " ").split() if w.isdigit()), "?")
        shown = f"{int(pixels):,}" if pixels != "?" else pixels
        raise TooLargeError(f"{name}: image too large ({shown} pixels; at most "
                            f"{max_input_pixels():,} pixels, see {PIXELS_ENV})") from None
    except Exception:  # Pillow raises many kinds on junk
        raise ValueError(f"{name}: not a readable image file") from None


def check_pixels(width: int, height: int, name: str, max_pixels: Optional[int] = None) -> None:
    """Refuses an image of more than the pixel limit (rows x columns).

    Raises:
      TooLargeError: naming the file, its size and the limit.
    """
    limit = max_input_pixels() if max_pixels is None else max_pixels
    if width * height > limit:
        raise TooLargeError(f"{name}: image too large ({width} x {height} pixels; at most "
                            f"{limit:,} pixels, see {PIXELS_ENV})")


def exif_orientation(data: bytes) -> int:
    """The EXIF orientation (1-8) of an encoded image; 1 (as stored) when it has none."""
    if png_chunks.no_orientation_chunk(data):
        return 1  # spares Pillow's decoding the whole image to look for one
    from PIL import Image

    try:
        with WARNINGS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                value = int(im.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # a broken EXIF block: as stored
        return 1
    return value if 1 <= value <= 8 else 1


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """The image as a viewer shows it, for an EXIF orientation 1-8 (as Pillow's
    ImageOps.exif_transpose)."""
    ops = {
        2: lambda a: a[:, ::-1],            # mirrored
        3: lambda a: a[::-1, ::-1],         # rotated 180
        4: lambda a: a[::-1, :],            # mirrored vertically
        5: lambda a: a.T,                   # transposed
        6: lambda a: np.rot90(a, -1),       # rotated 90 clockwise to view
        7: lambda a: a[::-1, ::-1].T,       # transversed
        8: lambda a: np.rot90(a, 1),        # rotated 90 counter-clockwise to view
    }
    op = ops.get(int(orientation))
    return image if op is None else np.ascontiguousarray(op(image))


def _refuse_damage(damage: Optional[str], name: str) -> None:
    if damage:
        raise ValueError(f"{name}: not a readable image file (damaged: {damage})") from None


def multi_frame(data: bytes) -> Optional[str]:
    """Why a file of several images (an animated PNG, GIF or WebP, a multi-page TIFF) is
    refused, from its header walk, else None: OpenCV (and a browser) measured its first frame
    without a word. A DICOM file's frames are each measured (`dicom_frames`). The web app says
    the same of the formats it reads (frames_check.js)."""
    for kind, what, frames in (("an animated PNG", "frame", png_chunks.animation_frames(data)),
                               ("an animated GIF", "frame", gif_check.frame_count(data)),
                               ("an animated WebP", "frame", webp_check.frame_count(data)),
                               ("a multi-page TIFF", "page", tiff_check.page_count(data))):
        if frames > 1:
            return (f"{kind} ({frames} {what}s); hc-tf measures one image a file: save the "
                    f"{what} to measure as its own image")
    return None


def _refuse_gray_transparency(data: bytes, gray: np.ndarray, name: str) -> None:
    """Refuses a gray PNG whose tRNS level some pixel has: OpenCV decodes no alpha for it."""
    level = png_chunks.gray_transparent_value(data)
    if level is not None and bool((gray == level).any()):
        raise ValueError(f"{name}: {preprocess.TRANSLUCENT}")


def _decode_unchecked(data: "bytes | np.ndarray", name: str) -> np.ndarray:
    """OpenCV's decode of a file's bytes to gray, and nothing more: `decode_gray`'s last step.

    Private on purpose: it checks no header, limit or stream and applies no EXIF orientation,
    so on its own it can give other pixels than `decode_gray` (a rotated JPEG comes out
    sideways). Everything outside this module decodes with `decode_gray`/`read_gray_image`.

    Args:
      data: the encoded file (bytes or a uint8 array).
      name: the file, as messages name it.

    Returns:
      (H, W) uint8.

    Raises:
      ValueError: naming the file, when it can't be decoded, is not 8-bit or has a pixel that
        is not fully opaque (`preprocess.TRANSLUCENT`).
    """
    buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray)) else data
    try:
        image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    except cv2.error as err:  # OpenCV's size guard (hc_tf/__init__.py) raises, not returns None
        if "MAX_IMAGE_PIXELS" in str(err):
            raise ValueError(f"{name}: image too large for OpenCV's decoder (over "
                             f"OPENCV_IO_MAX_IMAGE_PIXELS pixels)") from None
        raise ValueError(f"{name}: not a readable image file") from None
    if image is None:
        raise ValueError(f"{name}: not a readable image file")
    if image.dtype != np.uint8:  # a 16-bit PNG or TIFF: said as the web app says it
        raise ValueError(f"{name}: {preprocess.deeper_than_8_bits(image.dtype)}")
    if image.ndim == 3 and image.shape[2] == 4 and image[:, :, 3].min() < 255:
        raise ValueError(f"{name}: {preprocess.TRANSLUCENT}")  # the alpha channel a view: no copy
    if image.ndim == 3 and image.shape[2] in (3, 4):
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY if image.shape[2] == 3
                             else cv2.COLOR_BGRA2GRAY)
    return preprocess.to_gray_uint8(image, name=name)


def decode_gray(data: bytes, name: str, max_pixels: Optional[int] = None) -> np.ndarray:
    """Encoded image bytes -> (H, W) uint8 gray, upright: header checked, then decoded.

    Raises:
      ValueError: naming the file: not an image, too many pixels or JPEG scans, a PNG's
        damaged chunks (`png_chunks`) or image data (`png_zlib`), a JPEG libjpeg-turbo finds corrupt
        (`jpeg_check`), a TIFF Pillow's libtiff cannot decode (`tiff_check`), a GIF whose
        first image's LZW data is not whole (`gif_check`), several frames (`multi_frame`), a
        pixel not fully opaque (`preprocess.TRANSLUCENT`), not 8-bit, too small.
    """
    try:
        width, height = image_size(data, name)
    except TooLargeError:
        raise
    except ValueError:  # Pillow refuses a header chunk's bad CRC: say which, as the app does
        _refuse_damage(png_chunks.chunk_damage(data), name)
        bomb = png_chunks.inflates_too_far(data, _PILLOW_TEXT_LIMIT)  # and a zTXt bomb
        if bomb:
            raise ValueError(f"{name}: not a readable image file ({bomb})") from None
        raise
    check_pixels(width, height, name, max_pixels)
    scans = jpeg_check.too_many_scans(data, defaults.MAX_JPEG_SCANS)
    if scans:
        raise ValueError(f"{name}: {scans}")
    _refuse_damage(png_chunks.chunk_damage(data), name)
    frames = multi_frame(data)
    if frames:
        raise ValueError(f"{name}: {frames}")
    _refuse_damage(png_zlib.stream_damage(data, 8 * width * height + 8 * height + 1024)
                   or jpeg_check.jpeg_damage(data) or tiff_check.tiff_damage(data)
                   or gif_check.gif_damage(data), name)
    gray = _decode_unchecked(data, name)
    _refuse_gray_transparency(data, gray, name)
    return apply_orientation(gray, exif_orientation(data))


def read_gray_image(path: str) -> np.ndarray:
    """A local image file -> (H, W) uint8 gray, upright, within the byte and pixel limits.

    Raises:
      ValueError: naming the file, for a special file, too many bytes or pixels, or a file
        that is not an 8-bit image.
      OSError: missing or unreadable.
    """
    return decode_gray(read_file_bytes(path), path)
