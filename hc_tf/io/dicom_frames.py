"""DICOM frames -> 8-bit gray, decoded one at a time from a header `dicom.read_header` checked.

Apart from `hc_tf.io.dicom` (the file, the bounded read and the header's limits) because
decoding is its own step: it runs only after every limit has passed, and a compressed frame's
own size is checked first (`check_codestream`). Every refusal is a `DicomError` naming the
file and the frame.

Colour becomes gray by the PNG path's one rule (`hc_tf.preprocess.to_gray_uint8`: OpenCV's
RGB->gray): PALETTE COLOR through pydicom's `apply_color_lut` (`dicom_palette`), stored YBR
samples (uncompressed, RLE) by DICOM's equations (`ybr_full_to_rgb`), other YBR through
pydicom's colour-space conversion (`as_rgb`), then the same cv2 formula.

A JPEG Baseline frame (what most scanners export; 8-bit JPEG Extended too) is decoded by
libjpeg-turbo, through simplejpeg, which also turns its YCbCr into RGB: the web app decodes it
with libjpeg-turbo as well (its wasm build), so both read the same pixels and measure the same
HC, and both refuse a frame libjpeg-turbo finds corrupt. pydicom's first choice,
libjpeg (pylibjpeg-libjpeg), upsamples 4:2:2 chroma and rounds YCbCr->RGB otherwise (up to
5 levels apart on pydicom's own ultrasound cine).
"""

from __future__ import annotations

from typing import Any, Iterator, Optional, Tuple

import numpy as np

from hc_tf import preprocess
from hc_tf.io import dicom
from hc_tf.io import dicom_codestream
from hc_tf.io import dicom_palette
from hc_tf.io import dicom_pixel_values
from hc_tf.io import jpeg_check
from hc_tf.io import jpeg_lossless_check
from hc_tf.io.dicom import DicomError
from hc_tf.io.dicom import Header

# JPEG Baseline and JPEG Extended (8-bit here: read_header refuses deeper samples), decoded by
# libjpeg-turbo here and in the app, in these photometric interpretations: gray, and YCbCr
# that the decoder turns to RGB. An RGB-coded JPEG (no colour transform) stays with pydicom,
# which knows the markers that tell it so.
LIBJPEG_TURBO_SYNTAXES = ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51")
LIBJPEG_TURBO_PHOTOMETRICS = ("MONOCHROME1", "MONOCHROME2", "YBR_FULL", "YBR_FULL_422")
# Stored YBR samples (uncompressed or RLE) -> RGB (`ybr_full_to_rgb`): PS3.3 C.7.6.3.1.2.
YBR_FULL = ("YBR_FULL", "YBR_FULL_422")
RLE_LOSSLESS = "1.2.840.10008.1.2.5"
# JPEG Lossless (Process 14, and its SV1 form): libjpeg's samples checked against the scan
# (`jpeg_lossless_check`), where they are its own (as_rgb converts only YBR).
JPEG_LOSSLESS_SYNTAXES = ("1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70")
# One decoder a transfer syntax, never a fallback: pydicom tries its plugins in turn, and a
# laxer second one read what the first refused as damaged (pylibjpeg's libjpeg decoded JPEG-LS
# frames CharLS refuses to garbage, 90% of their pixels wrong). JPEG-LS: CharLS, and JPEG 2000:
# OpenJPEG (pylibjpeg-openjpeg; Pillow's refuses pydicom's valid GDCMJ2K_TextGBR.dcm), the app's
# decoders too; an RGB-coded JPEG: Pillow, pydicom's first choice so far. RLE, JPEG Lossless and
# HTJ2K have one plugin here.
DECODING_PLUGINS = {
    "1.2.840.10008.1.2.4.80": "pyjpegls", "1.2.840.10008.1.2.4.81": "pyjpegls",
    "1.2.840.10008.1.2.4.90": "pylibjpeg", "1.2.840.10008.1.2.4.91": "pylibjpeg",
    "1.2.840.10008.1.2.4.50": "pillow", "1.2.840.10008.1.2.4.51": "pillow",
}
YBR_R_CR, YBR_B_CB = 1.402, 1.772
YBR_G_CB, YBR_G_CR = -0.114 * 1.772 / 0.587, -0.299 * 1.402 / 0.587


def decode_frame(header: Header, ds: Any, frame: int) -> np.ndarray:
    """One frame (1-based) as (H, W) uint8 gray, by the PNG path's colour rule.

    Raises:
      DicomError: naming the file and frame, when the pixel data is truncated, corrupt or
        needs a decoder that is not installed, or a compressed frame's own size is not the
        header's.
    """
    from pydicom.pixels import pixel_array
    from pydicom.uid import UID
    where = f"{header.path} frame {frame}" if header.frames > 1 else header.path
    codestream = dicom_codestream.check_codestream(header, ds, frame, where)
    syntax = UID(str(ds.file_meta.get("TransferSyntaxUID") or ""))
    ybr_samples = header.photometric in YBR_FULL and (
        syntax == RLE_LOSSLESS or not syntax.is_compressed)
    point_transform = (jpeg_lossless_check.point_transform(codestream)
                       if syntax in JPEG_LOSSLESS_SYNTAXES else 0)
    if point_transform:
        raise DicomError(f"{where}: JPEG Lossless with a point transform (Pt {point_transform}) "
                         "is not supported (its decoders read it wrong, not as ITU-T T.81 says)")
    bits, signed = dicom.bits_stored(ds, where), ds.get("PixelRepresentation") == 1
    try:  # quiet: pydicom's decoders log each failure with its traceback, and warn
        with dicom.quiet():
            if syntax in LIBJPEG_TURBO_SYNTAXES and (
                    header.photometric in LIBJPEG_TURBO_PHOTOMETRICS
                    or header.photometric == "RGB" and _libjpeg_reads_rgb(codestream)):
                pixels = _libjpeg_turbo_pixels(codestream, header)
            else:  # as_rgb: YBR (incl. JPEG's) -> RGB by pydicom's convert_color_space, but
                # stored YBR samples (YBR_FULL_422's chroma repeated by pydicom), converted below.
                if syntax in LIBJPEG_TURBO_SYNTAXES:  # RGB-coded: Pillow fills damage with gray
                    _check_jpeg(codestream)
                # The bits above BitsStored as stored (pydicom clears them), as the app reads
                # them: a value past BitsStored is refused below, not measured with bits gone.
                pixels = pixel_array(ds, index=frame - 1, as_rgb=not ybr_samples,
                                     decoding_plugin=DECODING_PLUGINS.get(syntax, ""),
                                     correct_unused_bits=False)
                if syntax in JPEG_LOSSLESS_SYNTAXES and not header.photometric.startswith("YBR"):
                    _check_lossless_scan(codestream, pixels)
            dicom_pixel_values.check_bits_stored(pixels, bits, signed, where)
            if header.photometric == "PALETTE COLOR":
                pixels = dicom_palette.palette_rgb(pixels, ds)
    except DicomError:
        raise
    except Exception as err:  # decoders raise many kinds on corrupt data  # noqa: BLE001
        raise DicomError(f"{where}: pixel data cannot be decoded ({dicom.short(err)})") from None
    # The range check comes before the MONOCHROME1 inversion: casting first would wrap signed
    # or deep values into 0..255 (-5 -> 251 -> 4) and measure them silently.
    if pixels.dtype != np.uint8:
        if (pixels.dtype.kind not in "ui" or pixels.max(initial=0) > 255
                or pixels.min(initial=0) < 0):
            raise DicomError(f"{where}: pixel values are not 8-bit ({pixels.dtype})")
        pixels = pixels.astype(np.uint8)
    if ybr_samples:
        pixels = ybr_full_to_rgb(pixels)
    if header.photometric == "MONOCHROME1":  # 0 is white: invert to the usual display
        pixels = np.iinfo(np.uint8).max - pixels
    return preprocess.to_gray_uint8(pixels, name=where)


def ybr_full_to_rgb(ybr: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 YBR_FULL -> RGB by PS3.3 C.7.6.3.1.2's equations (pydicom's coefficients),
    rounded half up and clipped. In float64, one operation at a time, where pydicom's
    convert_color_space multiplies float32 matrices through BLAS, whose fused multiply-adds
    round ~1 in 400,000 colours one level apart from this: IEEE arithmetic in this order gives
    the web app's port (frames.js ybrFullToRgb) the same bytes on every machine."""
    y = ybr[..., 0].astype(np.float64)
    cb = ybr[..., 1].astype(np.float64) - 128.0
    cr = ybr[..., 2].astype(np.float64) - 128.0
    rgb = (y + YBR_R_CR * cr, y + YBR_G_CB * cb + YBR_G_CR * cr, y + YBR_B_CB * cb)
    return np.stack([np.clip(np.floor(c + 0.5), 0, 255) for c in rgb], -1).astype(np.uint8)


def _libjpeg_turbo_pixels(codestream: bytes, header: Header) -> np.ndarray:
    """A JPEG Baseline or Extended frame (its size checked by check_codestream) decoded by
    libjpeg-turbo through simplejpeg: (H, W) gray or (H, W, 3) RGB, with libjpeg's default
    (accurate) IDCT and upsampling, as the app's wasm build decodes it. Strict: a stream that
    libjpeg-turbo warns about (corrupt data, bytes where a marker should be) is refused, as the
    app refuses it, where Pillow would measure what was decoded. No EXIF orientation, as pydicom."""
    import simplejpeg
    gray = header.samples == 1
    pixels = simplejpeg.decode_jpeg(codestream, colorspace="GRAY" if gray else "RGB",
                                    fastdct=False, fastupsample=False, strict=True)
    damage = jpeg_check.unread_end(codestream)  # the app's wasm build refuses those bytes
    if damage:
        raise ValueError(damage)
    if gray:
        pixels = pixels[:, :, 0]
    expected = (header.rows, header.columns) + (() if gray else (3,))
    if pixels.shape != expected or pixels.dtype != np.uint8:
        raise ValueError(f"decoded to {pixels.shape} {pixels.dtype}, not {expected} uint8")
    return pixels


def _libjpeg_reads_rgb(codestream: bytes) -> bool:
    """Whether libjpeg takes an RGB-coded JPEG frame's samples for RGB as its markers say: an
    Adobe APP14 marker (12 bytes or more: its transform flag decides), or no JFIF APP0 marker
    (14 or more) and components named R, G, B. pydicom's Pillow reads a frame without APP14 as
    stored, so those are decoded by libjpeg-turbo, as the app's build decodes them (Pillow
    failed on the R, G, B ones: "broken data stream"); the rest stay with pydicom's Pillow."""
    found = jpeg_check.header_segments(codestream)
    segments = found[0] if found else []
    if any(m == 0xEE and len(body) >= 12 and body.startswith(b"Adobe") for m, body in segments):
        return True
    jfif = any(m == 0xE0 and len(body) >= 14 and body.startswith(b"JFIF\0") for m, body in segments)
    names = [bytes(body[6:15:3]) for m, body in segments if m in (0xC0, 0xC1) and len(body) >= 15
             and body[5] == 3]
    return not jfif and names[:1] == [b"RGB"]


def _check_jpeg(codestream: bytes) -> None:
    """Refuses a JPEG frame libjpeg-turbo finds corrupt, strictly, as a JPEG file is refused
    (`jpeg_check`): the frame's other decoder, Pillow's, decodes it with a warning at most."""
    damage = jpeg_check.jpeg_damage(codestream)
    if damage:
        raise ValueError(damage)


def _check_lossless_scan(codestream: bytes, pixels: np.ndarray) -> None:
    """Refuses samples libjpeg made up past the end of a JPEG Lossless scan, in the app's words."""
    damage = jpeg_lossless_check.lossless_scan_damage(codestream, pixels)
    if damage:
        raise ValueError(f"the JPEG Lossless codestream is damaged: {damage}")


def iter_frames(path: str, frame: Optional[int] = None,
                header: Optional[Header] = None) -> Iterator[Tuple[Header, int, np.ndarray]]:
    """(header, frame number, gray image) for each frame asked for, decoded one at a time.

    Raises:
      DicomError: as `read_header`, `frame_numbers`, `read_pixels` and `decode_frame`.
    """
    header = header or dicom.read_header(path)
    numbers = dicom.frame_numbers(header, frame)
    ds = dicom.read_pixels(header)
    for n in numbers:
        yield header, n, decode_frame(header, ds, n)
