"""What a stored pixel value means: the values BitsStored (0028,0101) holds, and the modality
transform (Modality LUT Sequence (0028,3000), RescaleSlope/Intercept (0028,1053/1052)) that
would map them to others.

hc-tf measures ultrasound pixels as stored, and an ultrasound image has no modality transform
(the US Image IOD has no Modality LUT module): one that is not the identity is refused, as is a
stored value past what BitsStored holds (a damaged header: pydicom clears the bits above it, so
8-bit pixels under BitsStored 7 were measured with their high bit gone, where the web app read
them whole). The web app's port: web_app/src/core/dicom/pixel_values.js, the same words.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from hc_tf.io.dicom import DicomError

# The app says these in the same words (pixel_values.js).
AS_STORED = "hc-tf measures ultrasound pixels as stored (no modality transform)"
RESCALE = ("RescaleSlope (0028,1053) and RescaleIntercept (0028,1052) are not 1 and 0: they "
           f"rescale the pixel values, and {AS_STORED}")
MODALITY_LUT = f"Modality LUT Sequence (0028,3000) maps pixel values to others: {AS_STORED}"


def stored_range(bits: int, signed: bool) -> tuple:
    """The lowest and highest values `bits` bits hold (two's complement when `signed`)."""
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def check_bits_stored(pixels: np.ndarray, bits: int, signed: bool, where: str) -> None:
    """Refuses a frame (its values as stored, the bits above BitsStored kept) holding a value
    BitsStored cannot: its header is damaged, and which bits are the pixel is not known.

    Raises:
      DicomError: naming `where` and BitsStored.
    """
    if pixels.dtype.kind not in "ui" or bits >= 8 * pixels.dtype.itemsize:
        return  # every value fits (the 8-bit check after decoding refuses floats)
    low, high = stored_range(bits, signed)
    top, bottom = int(pixels.max(initial=0)), int(pixels.min(initial=0))
    if top > high or bottom < low:
        raise DicomError(f"{where}: a pixel value of {top if top > high else bottom} does not fit "
                         f"BitsStored (0028,0101) {bits} ({low} to {high}): the header is damaged")


def _one_number(ds: Any, keyword: str, tag: str, path: str) -> Optional[float]:
    """A present DS's one number; None when absent or empty."""
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):  # several values, or text
        raise DicomError(f"{path}: {keyword} {tag} is not one number") from None


def _word(value: Any, i: int) -> Optional[int]:
    """The `i`th value of a US (or US/SS) element as an unsigned 16-bit word, None if absent."""
    values = [value] if isinstance(value, int) else list(value or [])
    return int(values[i]) & 0xFFFF if i < len(values) else None


def _lut_is_identity(item: Any, bits: int, signed: bool, little: bool) -> bool:
    """Whether a Modality LUT item maps every value BitsStored holds (from 0: negatives are
    refused after decoding) to itself, as pydicom's apply_modality_lut would map it (below the
    first mapped value: the first entry; past the last: the last)."""
    descriptor = item.get("LUTDescriptor")
    entries, first = _word(descriptor, 0), _word(descriptor, 1)
    if entries is None or first is None or _word(descriptor, 2) is None:
        return False
    entries = entries or 65536
    if signed and first >= 0x8000:  # US or SS: as PixelRepresentation says
        first -= 0x10000
    data = item.get("LUTData")
    if isinstance(data, bytes):  # OW: 16-bit words in the file's byte order
        words = np.frombuffer(data[:len(data) // 2 * 2], "<u2" if little else ">u2")
    else:
        words = np.array([_word(data, i) for i in range(len(data) if data else 0)] if not
                         isinstance(data, int) else [data & 0xFFFF], np.int64)
    if len(words) < entries:
        return False
    values = np.arange(0, stored_range(bits, signed)[1] + 1, dtype=np.int64)
    mapped = words[np.clip(values - first, 0, entries - 1)].astype(np.int64)
    return bool(np.array_equal(mapped, values))


def check_modality(ds: Any, path: str, bits: int, signed: bool) -> None:
    """Refuses a modality transform that is not the identity (above): a Modality LUT Sequence
    item that maps a value BitsStored holds to another (or cannot be read), a RescaleSlope
    other than 1 or a RescaleIntercept other than 0 (each not one number: named).

    Raises:
      DicomError: naming the file and the tag (dicom.read_header calls it, once a file).
    """
    slope = _one_number(ds, "RescaleSlope", "(0028,1053)", path)
    intercept = _one_number(ds, "RescaleIntercept", "(0028,1052)", path)
    if slope not in (None, 1.0) or intercept not in (None, 0.0):
        raise DicomError(f"{path}: {RESCALE}")
    little = ds.file_meta.TransferSyntaxUID.is_little_endian if ds.file_meta.get(
        "TransferSyntaxUID") else True
    for item in ds.get("ModalityLUTSequence") or []:
        if not _lut_is_identity(item, bits, signed, little):
            raise DicomError(f"{path}: {MODALITY_LUT}")
