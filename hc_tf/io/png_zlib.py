"""A PNG's image data (its IDAT chunks' zlib stream) checked whole before it is decoded.

libpng (OpenCV's PNG decoder) refuses a stream that breaks off or fails its Adler-32 checksum
only while image rows are still to come: past the last row the same damage is a warning, and the
file decodes with whatever pixels the damaged stream gave (fuzzed copies with right chunk CRCs
went either way), while a browser's decoder never checks the checksum. So the rule is this
module's, the same here and in the web app (web_app/src/core/png_zlib.js): the stream must
inflate whole with its checksum right; bytes after a whole stream are allowed (libpng warns of
them and reads the image as it is).
"""

from __future__ import annotations

import zlib
from typing import List, Optional

from hc_tf.io import png_chunks
from hc_tf.io.png_chunks import PNG_SIGNATURE

DAMAGE = "its image data fails its zlib check (the stream breaks off or its Adler-32 is wrong)"
_STEP = 1 << 20  # output inflated (and dropped) at a time


def idat_parts(data: bytes) -> List[bytes]:
    """The IDAT chunks' data of a PNG, in order (a chunk cut short ends the walk)."""
    return [data[start:end] for kind, start, end in png_chunks.chunks(data) if kind == b"IDAT"]


def stream_damage(data: bytes, max_bytes: int) -> Optional[str]:
    """None when `data` is not a PNG, or its IDATs' zlib stream inflates whole with a right
    Adler-32 (or to more than `max_bytes`: not judged, not inflated further); else why not."""
    if not data.startswith(PNG_SIGNATURE):
        return None
    parts = idat_parts(data)
    if not parts:
        return None
    inflater, out = zlib.decompressobj(), 0
    try:
        for part in parts:
            while part and not inflater.eof:
                out += len(inflater.decompress(part, _STEP))
                if out > max_bytes:
                    return None
                part = inflater.unconsumed_tail
            if inflater.eof:  # bytes after the stream: allowed
                return None
    except zlib.error:
        return DAMAGE
    return None if inflater.eof else DAMAGE
