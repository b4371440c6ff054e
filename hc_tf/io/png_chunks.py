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


def animation_frames(data: bytes) -> int:
    """The images an animated PNG (APNG) holds: the frames its acTL chunk before the image data
    announces, plus the image data itself when no fcTL precedes it (a default image outside the
    animation: OpenCV decodes it, a browser shows the animation's first frame); 0 for a PNG
    without acTL (or not a PNG). OpenCV and a browser's decoder alike read one image of such a
    file and say nothing of the others."""
    if not data.startswith(PNG_SIGNATURE):
        return 0
    frames, framed = 0, False
    for kind, start, end in chunks(data):
        if kind == b"IDAT":
            return frames + (0 if framed or not frames else 1)
        if kind == b"acTL" and end - start >= 4:
            frames = struct.unpack(">I", data[start:start + 4])[0]
        framed = framed or kind == b"fcTL"
    return 0


def gray_transparent_value(data: bytes) -> Optional[int]:
    """The gray level a gray PNG's tRNS chunk makes transparent, as the 8-bit value OpenCV
    decodes it to (a 1-, 2- or 4-bit level scaled up), or None: OpenCV drops a gray PNG's tRNS
    (it decodes no alpha for it) where a browser shows those pixels transparent."""
    if not data.startswith(PNG_SIGNATURE):
        return None
    depth = 0
    for kind, start, end in chunks(data):
        if kind == b"IHDR" and end - start >= 13:
            depth, colour = data[start + 8], data[start + 9]
            if colour != 0 or depth not in (1, 2, 4, 8):
                return None
        elif kind == b"tRNS" and depth and end - start >= 2:
            level = struct.unpack(">H", data[start:start + 2])[0]
            return level * (255 // ((1 << depth) - 1)) if level < 1 << depth else None
        elif kind in (b"IDAT", b"IEND"):
            return None
    return None


# Chunks whose data Pillow inflates as it reads the header (before the image data): a zTXt or
# iTXt text, an iCCP colour profile. Pillow refuses one that inflates beyond its
# PngImagePlugin.MAX_TEXT_CHUNK (1 MiB), a decompression bomb, with a bare ValueError.
COMPRESSED_CHUNKS = (b"zTXt", b"iTXt", b"iCCP")


def _compressed_start(kind: bytes, data: bytes, start: int, end: int) -> Optional[int]:
    """Where a compressed chunk's zlib stream starts (after its keyword or name, its NUL and
    its flags), or None: an iTXt that is not compressed, or a chunk without its NUL."""
    nul = data.find(b"\0", start, end)
    if nul < 0:
        return None
    if kind == b"iTXt":  # keyword NUL, compressed (1), method, language NUL, translated NUL
        if nul + 2 >= end or data[nul + 1] != 1:
            return None
        language = data.find(b"\0", nul + 3, end)
        translated = data.find(b"\0", language + 1, end) if language >= 0 else -1
        return translated + 1 if translated >= 0 else None
    return nul + 2  # zTXt, iCCP: name NUL, method


def inflates_too_far(data: bytes, limit: int) -> Optional[str]:
    """Why a PNG is refused for a COMPRESSED_CHUNKS chunk before its image data that inflates
    to more than `limit` bytes ("its zTXt chunk inflates beyond 1 MiB ..."), else None. At most
    `limit` bytes of each are inflated (as Pillow's _safe_zlib_decompress)."""
    if not data.startswith(PNG_SIGNATURE):
        return None
    for kind, start, end in chunks(data):
        if kind == b"IDAT":
            return None
        at = _compressed_start(kind, data, start, end) if kind in COMPRESSED_CHUNKS else None
        if at is None:
            continue
        inflater = zlib.decompressobj()
        try:
            inflater.decompress(data[at:end], limit)
        except zlib.error:
            continue  # damaged: Pillow's own words, as before
        if inflater.unconsumed_tail:
            return (f"its {kind.decode()} chunk inflates beyond {limit / 2**20:g} MiB, Pillow's "
                    f"limit for a compressed text or colour-profile chunk: a decompression bomb?")
    return None
