"""A TIFF file checked whole by libtiff, through Pillow, before OpenCV decodes its pixels.

OpenCV's TIFF decoder (libtiff too) logs a strip it cannot decode ("LZWDecode: Not enough data
at scanline 20", "Using code not yet in table") and returns the image with whatever the strip
left: predict measured 29 of 40 damaged TIFF copies, every one with pixels other than its
source's. Pillow's libtiff decoder raises on the same damage (27 of those 29), so a TIFF is
decoded once by Pillow first, as a JPEG is by libjpeg-turbo (`jpeg_check`), and its pixels
dropped: OpenCV's stay the ones measured. libtiff writes its reason to stderr only; it is held
back and said as the reason. The web app reads no TIFF.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from typing import List, Optional

TIFF_MAGIC = (b"II*\x00", b"MM\x00*")
DAMAGE = "the TIFF data is corrupt"
# libtiff's default error and warning lines: "<module or file>: <message>."
_LIBTIFF_LINE = re.compile(r"^[\w.]+: .+")
_MAX_SAID = 80  # characters of libtiff's message kept


def _reason(held: List[str], err: Exception) -> str:
    """libtiff's first line, without its module's name, else Pillow's words."""
    text = held[0].split(": ", 1)[1] if held else str(err)
    return " ".join(text.split()).rstrip(".")[:_MAX_SAID] or "no reason given"


def tiff_damage(data: bytes) -> Optional[str]:
    """None when `data` is not a TIFF or Pillow decodes its first image without an error, else
    why not ("the TIFF data is corrupt: <libtiff's message>"). Call it after the pixel limit is
    checked (Pillow decodes the whole image)."""
    if not data.startswith(TIFF_MAGIC):
        return None
    from PIL import Image

    from hc_tf.io import held_stderr, images

    held: List[str] = []
    failed = None
    with held_stderr.filtered_stderr(lambda line: bool(_LIBTIFF_LINE.match(line)), held):
        try:
            with images.WARNINGS_LOCK, warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Pillow's "Corrupt EXIF data": its tags
                with Image.open(io.BytesIO(data)) as image:
                    image.load()
        except Exception as err:  # Pillow raises many kinds on damaged data  # noqa: BLE001
            failed = err
    return None if failed is None else f"{DAMAGE}: {_reason(held, failed)}"


BIGTIFF_MAGIC = (b"II+\x00", b"MM\x00+")
_MAX_PAGES = 10_000  # pages counted at most


def page_count(data: bytes) -> int:
    """The pages (image directories, IFDs) of a TIFF, by their next-IFD offsets from the first
    (BigTIFF too): a next offset that is not 0 is one more page, one outside the file or seen
    before ends the count; 0 for a file that is not a TIFF. OpenCV reads the first page of a
    multi-page TIFF and says nothing of the others."""
    big = data[:4] in BIGTIFF_MAGIC
    if not (big or data[:4] in TIFF_MAGIC) or len(data) < (16 if big else 8):
        return 0
    order = "<" if data[:2] == b"II" else ">"
    count_fmt, count_size, entry, offset_fmt = ("Q", 8, 20, "Q") if big else ("H", 2, 12, "I")
    offset_size = struct.calcsize(offset_fmt)
    offset = struct.unpack(order + offset_fmt, data[8 if big else 4:][:offset_size])[0]
    pages, seen = 0, set()
    while offset and pages < _MAX_PAGES:
        if offset in seen or offset + count_size > len(data):
            break  # a damaged link, not a page: OpenCV and Pillow read one page of such a file
        seen.add(offset)
        pages += 1
        (entries,) = struct.unpack(order + count_fmt, data[offset:offset + count_size])
        at = offset + count_size + entries * entry
        if at + offset_size > len(data):
            break
        (offset,) = struct.unpack(order + offset_fmt, data[at:at + offset_size])
    return pages
