"""PALETTE COLOR -> RGB: pydicom's `apply_color_lut`, its tables checked first and read in the
file's byte order, 16-bit entries keeping their high byte (as a display shows them).

Apart from `dicom_frames` because a palette is data of its own, plain (PS3.3 C.7.6.3.1.5) or
segmented (C.7.9): a segmented table is expanded by pydicom from segments that may repeat
each other, so its size is counted here, without expanding it, before pydicom is given it.
The web app's port: web_app/src/core/dicom/palette.js.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from hc_tf.io.dicom import DicomError

# The most entries a palette has (its descriptor's 0 means 2^16): a segmented one that would
# expand past it is refused before pydicom expands it (12 KB of linear segments expanded to 131
# million entries, a Python list). Indirect segments nest at most this deep.
MAX_PALETTE_ENTRIES = 65536
MAX_INDIRECT_DEPTH = 4


def palette_rgb(indices: np.ndarray, ds: Any) -> np.ndarray:
    """A frame's palette indices as (H, W, 3) uint8 RGB (pydicom's errors pass through)."""
    from pydicom.pixels import apply_color_lut
    return _rgb_bytes(apply_color_lut(indices, _palette_source(ds)), ds)


def check_palette(ds: Any, where: str) -> None:
    """Refuses a red descriptor that is not three numbers (pydicom reads every colour by it),
    and a segmented palette (PS3.3 C.7.9) whose segments would expand past
    MAX_PALETTE_ENTRIES or nest indirect segments past MAX_INDIRECT_DEPTH, by walking them as
    pydicom's `_expand_segmented_lut` does, counting instead of expanding.

    Raises:
      DicomError: naming the file (and the colour) (dicom.read_header calls it, once a file).
    """
    descriptor = ds.get("RedPaletteColorLookupTableDescriptor")
    present = "RedPaletteColorLookupTableDescriptor" in ds  # (an empty one reads None)
    if present and (descriptor is None or isinstance(descriptor, (bytes, str, int, float))
                    or len(descriptor) != 3):
        raise DicomError(f"{where}: RedPaletteColorLookupTableDescriptor (0028,1101) is not 3 "
                         "numbers (entries, first index, bits)")
    if "SegmentedRedPaletteColorLookupTableData" not in ds or "RedPaletteColorLookupTableData" in ds:
        return  # plain tables are bounded by their own length; pydicom reads plain ones first
    if descriptor is None:
        return  # decoding says what is missing
    eight_bit = int(descriptor[2]) // 8 == 1  # as pydicom's fmt
    little = ds.file_meta.TransferSyntaxUID.is_little_endian
    for colour in ("Red", "Green", "Blue", "Alpha"):
        raw = ds.get(f"Segmented{colour}PaletteColorLookupTableData")
        if raw is None:
            continue
        words = (np.frombuffer(raw, np.uint8) if eight_bit else
                 np.frombuffer(raw[:len(raw) // 2 * 2], "<u2" if little else ">u2")).tolist()
        try:
            _segmented_size(words, eight_bit, little)
        except ValueError as err:
            raise DicomError(f"{where}: the segmented {colour.lower()} palette (0028,122x) "
                             f"{err}; refused before decoding") from None


def _segmented_size(words: list, eight_bit: bool, little: bool,
                    segments: Optional[int] = None, depth: int = 0) -> int:
    """How many entries `words` expand to (the first `segments` of them, for an indirect
    segment), raising ValueError past the limits."""
    def word(i: int) -> int:
        return words[i] if i < len(words) else 0

    size = offset = done = 0
    while offset + 1 < len(words):
        opcode, length = words[offset], words[offset + 1]
        offset += 2
        if opcode == 0:  # discrete: `length` values follow
            size += len(words[offset:offset + length])
            offset += length
        elif opcode == 1:  # linear: to the one value that follows
            size += length
            offset += 1
        elif opcode == 2:  # indirect: `length` segments from a word offset
            if depth == MAX_INDIRECT_DEPTH:
                raise ValueError(f"nests indirect segments deeper than {MAX_INDIRECT_DEPTH}")
            if eight_bit:  # four bytes, ordered by the file's endianness (as pydicom reads them)
                b = [word(offset + i) for i in ([3, 2, 1, 0] if little else [2, 3, 0, 1])]
                start = (b[0] << 8 | b[1]) << 16 | (b[2] << 8 | b[3])
            else:
                start = word(offset + 1) << 16 | word(offset)
            offset += 4 if eight_bit else 2
            size += _segmented_size(words[start:], eight_bit, little, length, depth + 1)
        else:
            return size  # an unknown segment type: pydicom refuses it when it expands
        if size > MAX_PALETTE_ENTRIES:
            raise ValueError(f"expands past {MAX_PALETTE_ENTRIES:,} entries")
        done += 1
        if done == segments:
            break
    return size


def _palette_source(ds: Any) -> Any:
    """`ds`, or for a big-endian file a copy of its palette with the 16-bit LUT data in little
    endian: pydicom 3.0.2's apply_color_lut reads plain LUT data in the machine's byte order
    (OBXXXX1A_expb.dcm decodes to a dark image without this). 8-bit entries have no byte order."""
    if ds.file_meta.TransferSyntaxUID.is_little_endian:
        return ds
    from pydicom.dataset import Dataset
    lut = Dataset()
    for colour in ("Red", "Green", "Blue"):
        desc = f"{colour}PaletteColorLookupTableDescriptor"
        data = f"{colour}PaletteColorLookupTableData"
        setattr(lut, desc, ds[desc].value)
        if data not in ds:
            return ds  # segmented LUTs: pydicom handles their byte order itself
        raw = ds[data].value
        if len(raw) == 2 * (ds[desc].value[0] or 65536):  # 16-bit entries (pydicom's depth)
            raw = np.frombuffer(raw, dtype=">u2").astype("<u2").tobytes()
        setattr(lut, data, raw)
    return lut


def _rgb_bytes(rgb: np.ndarray, ds: Any) -> np.ndarray:
    """A palette's RGB as uint8: 16-bit LUT entries (descriptor's third value) keep their high
    byte, as a display shows them."""
    bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
    if bits == 16:
        return (rgb.astype(np.uint32) >> 8).astype(np.uint8)
    return rgb.astype(np.uint8)
