"""A PNG's chunks checked before it is decoded: their CRC-32s where libpng refuses a wrong one,
and a whole IEND chunk at the end.

libpng (OpenCV's PNG decoder) refuses a wrong CRC in every chunk before the image data (Pillow,
reading the header, refuses those too) and in every IDAT, and refuses a file that ends before
its IEND chunk; it says so only on stderr, in its own words ("libpng error: IDAT: CRC error"),
and the reader then said "not a readable image file". A browser's decoder need not check
either: Chromium measured a PNG cut inside its IEND chunk that predict refused. So the rule is
this module's, said in the same words here and in the web app (imagefile.js pngChunkDamage):
a CRC after the image data (an ancillary chunk's, IEND's) is a libpng warning, and both read
that file. Chunks are walked by their lengths; one cut short ends the CRC walk (the zlib check,
`png_zlib`, or the IEND rule refuses the file then).

The same walk tells when a PNG holds no EXIF orientation (`no_orientation_chunk`): Pillow, asked
for one, decodes the whole image to look past the image data when none came before it.
"""

from __future__ import annotations

import struct
import zlib
from typing import Iterator, Optional, Tuple

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NO_IEND = "the file ends before its IEND chunk (cut short?)"
TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
# The text keywords whose values Pillow's getexif reads an orientation from (EXIF as text, XMP).
ORIENTATION_KEYWORDS = (b"exif", b"Raw profile type exif", b"XML:com.adobe.xmp", b"xmp")


def chunks(data: bytes) -> Iterator[Tuple[bytes, int, int]]:
    """(type, start of its data, end of its data) of each whole chunk, in order: the CRC's four
    bytes follow the data; the walk stops at a chunk cut short."""
    at = len(PNG_SIGNATURE)
    while at + 12 <= len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        end = at + 8 + length
        if end + 4 > len(data):
            return
        yield data[at + 4:at + 8], at + 8, end
        at = end + 4


def _crc_error(data: bytes) -> Optional[bytes]:
    """The type of the first chunk whose CRC-32 libpng would refuse: any before the first IDAT,
    and every IDAT; None when there is none."""
    seen_idat = False
    for kind, start, end in chunks(data):
        if kind == b"IDAT":
            seen_idat = True
        elif seen_idat or kind == b"IEND":
            return None  # past the image data: a warning
        if zlib.crc32(memoryview(data)[start - 4:end]) != struct.unpack(">I", data[end:end + 4])[0]:
            return kind
    return None


def chunk_damage(data: bytes) -> Optional[str]:
    """None when `data` is not a PNG or its chunks pass (above); else why not, in the app's
    words: "its IDAT chunk fails its CRC-32 check", or NO_IEND."""
    if not data.startswith(PNG_SIGNATURE):
        return None
    kind = _crc_error(data)
    if kind is not None:
        named = kind.decode("latin-1")
        chunk = f"its {named} chunk" if named.isascii() and named.isalpha() else "one of its chunks"
        return f"{chunk} fails its CRC-32 check"
    if not any(kind == b"IEND" for kind, _, _ in chunks(data)):
        return NO_IEND
    return None


def no_orientation_chunk(data: bytes) -> bool:
    """True only for a PNG walked whole to its IEND without an eXIf chunk or a text chunk of an
    ORIENTATION_KEYWORDS keyword: Pillow's getexif has nothing to read an orientation from (it
    would say 1, after decoding every pixel to look). False for anything else: ask Pillow."""
    if not data.startswith(PNG_SIGNATURE):
        return False
    for kind, start, end in chunks(data):
        if kind == b"IEND":
            return True
        if kind == b"eXIf":
            return False
        if kind in TEXT_CHUNKS:
            nul = data.find(b"\0", start, end)  # a keyword without its NUL is the whole chunk
            if data[start:nul if nul >= 0 else end] in ORIENTATION_KEYWORDS:
                return False
    return False  # cut short: what followed is unknown
