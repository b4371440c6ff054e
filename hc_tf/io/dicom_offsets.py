"""Encapsulated pixel data's offset tables, checked against its fragments before any frame is
split from them.

pydicom splits frames by the Basic Offset Table (FFFE,E000) or, when present, the Extended
Offset Table (7FE0,0001) and its Lengths (7FE0,0002), and trusts them: a 2-frame file whose
table was swapped measured each frame as the other, without a word, and one pointing inside a
fragment was refused in pydicom's words. PS3.5 A.4 (and PS3.3 C.7.6.3.1.8 for the extended
table): one offset a frame, the first 0, each the start of a fragment's item measured from the
first fragment's, in order; an extended table's lengths are its frames' (one fragment a frame,
even-padded). The fragment items are walked where they lie (their 8-byte headers read, nothing
copied). An empty Basic Offset Table is not checked: frames are then pydicom's (one fragment a
frame when the counts match). The web app's port: web_app/src/core/dicom/offsets.js (which
reads no extended table: its parser does not know VR OV).
"""

from __future__ import annotations

import struct
from typing import Any, List, Tuple

from hc_tf.io.dicom import DicomError

_ITEM, _DELIMITER = 0xFFFEE000, 0xFFFEE0DD
# The app says these in the same words (offsets.js).
BOT_ORDER = "Basic Offset Table (FFFE,E000) offsets do not point at the fragments in order"
EOT_ORDER = ("Extended Offset Table (7FE0,0001/0002) offsets and lengths do not point at the "
             "fragments in order")


def fragments(data: bytes, start: int) -> List[Tuple[int, int]]:
    """(offset from `start`, value length) of each fragment item from `start` on, as pydicom
    walks them: up to the sequence delimiter, another tag, or the end of `data`."""
    found, pos = [], start
    while pos + 8 <= len(data):
        tag_group, tag_element, length = struct.unpack_from("<HHI", data, pos)
        if (tag_group << 16 | tag_element) != _ITEM:
            break  # the delimiter, or damage pydicom names when it splits the frames
        found.append((pos - start, length))
        pos += 8 + length
    return found


def in_order(offsets: List[int], starts: dict) -> bool:
    """Whether `offsets` start at 0, increase and each is a fragment's start (a key of `starts`)."""
    return (bool(offsets) and offsets[0] == 0 and all(b > a for a, b in zip(offsets, offsets[1:]))
            and all(o in starts for o in offsets))


def check_offset_tables(ds: Any, frames: int, path: str) -> None:
    """Refuses encapsulated pixel data whose Basic or Extended Offset Table does not point at
    its fragments as PS3.5 A.4 says (above), before pydicom splits a frame by it.

    Raises:
      DicomError: naming the file and the table (dicom.read_pixels calls it, once a file).
    """
    data = ds.get("PixelData")
    if not isinstance(data, bytes) or len(data) < 8 or not ds.file_meta.get(
            "TransferSyntaxUID") or not ds.file_meta.TransferSyntaxUID.is_encapsulated:
        return
    tag_group, tag_element, length = struct.unpack_from("<HHI", data, 0)
    if (tag_group << 16 | tag_element) != _ITEM or 8 + length > len(data):
        return  # not encapsulated as PS3.5 A.4 says: pydicom refuses it in its words
    starts = dict(fragments(data, 8 + length))
    if length:
        if length % 4 or length // 4 != frames:
            raise DicomError(f"{path}: Basic Offset Table (FFFE,E000) is {length} bytes, not 4 "
                             f"for each of its {frames} frames (NumberOfFrames (0028,0008))")
        if not in_order(list(struct.unpack_from(f"<{frames}I", data, 8)), starts):
            raise DicomError(f"{path}: {BOT_ORDER}")
    if "ExtendedOffsetTable" not in ds and "ExtendedOffsetTableLengths" not in ds:
        return
    tables = [ds.get(k) or b"" for k in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths")]
    if any(not isinstance(t, bytes) or len(t) != 8 * frames for t in tables):
        raise DicomError(f"{path}: Extended Offset Table (7FE0,0001/0002) does not hold one "
                         f"offset and one length for each of its {frames} frames")
    offsets, lengths = (list(struct.unpack(f"<{frames}Q", t)) for t in tables)
    if not in_order(offsets, starts) or any(
            n > starts[o] or n + 1 < starts[o] for o, n in zip(offsets, lengths)):
        raise DicomError(f"{path}: {EOT_ORDER}")
