"""Counts a DICOM file's header elements and sequence items before pydicom reads them.

pydicom keeps a Python object for every element and sequence item it reads, about 0.4 and
0.8 KB, though an empty one is 8 bytes of file: 200,000 empty items (a 1.6 MB file) took
217 MB and 4 s to read, and a file at the byte limit would take tens of GB. This walks the raw
bytes by pydicom 3's own reading rules (its `data_element_generator`, `read_sequence_item` and
`_is_implicit_vr`: each data set's encoding checked at its first element, undefined lengths,
a value it may later convert to a sequence walked alone, as its conversion reads it), skipping
every other value, and refuses a file past MAX_HEADER_ELEMENTS, or nesting sequences past
MAX_SEQUENCE_DEPTH, before pydicom is given it. It also refuses a value or item whose length runs
past the end of the file (or of the item or sequence holding it): pydicom reads what is there,
so damage that inflates a deflated data set to other bytes, or a length changed, was read on
(dicom-parser, in the app, calls it a buffer overrun). Imported by `dicom` once pydicom (the [dicom]
extra) is known to be there. The web app's port: web_app/src/core/dicom/header_scan.js.
"""

from __future__ import annotations

import struct
from typing import BinaryIO, List, Optional

from pydicom.datadict import dictionary_VR
from pydicom.tag import ItemDelimiterTag, ItemTag, SequenceDelimiterTag
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

from hc_tf import defaults
from hc_tf.io.dicom import DicomError

UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQUENCE_END = int(ItemTag), int(ItemDelimiterTag), int(SequenceDelimiterTag)
LONG_VRS = frozenset(vr.encode("ascii") for vr in EXPLICIT_VR_LENGTH_32)  # 4-byte lengths
_CHUNK = 1 << 20
# The app's header_scan.js says it in the same words.
OVERRUN = ("not a readable DICOM file ({what} of {length} bytes runs {past} bytes past the end "
           "of what holds it: cut short or damaged)")


class _Level:
    """An open sequence (its items follow) or item (its elements follow); `end` is None for an
    undefined length, ended by a delimiter."""
    __slots__ = ("end", "is_sequence", "implicit", "tag")

    def __init__(self, end: Optional[int], is_sequence: bool, implicit: bool, tag: int):
        self.end, self.is_sequence, self.implicit, self.tag = end, is_sequence, implicit, tag


class _Bytes:
    """Bytes read as a file, and sliced without a copy (`view`)."""

    def __init__(self, data):
        self.data, self.pos = memoryview(data), 0
        self.size = len(self.data)

    def read(self, n: int = -1) -> bytes:
        end = self.size if n < 0 else min(self.size, self.pos + n)
        out = self.data[self.pos:end].tobytes()
        self.pos = max(self.pos, end)
        return out

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset if whence == 0 else self.pos + offset if whence == 1 else self.size + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def view(self, n: int) -> "_Bytes":
        """The next `n` bytes (fewer at the end) as a `_Bytes` of their own, read past."""
        part = _Bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return part


def encoding(transfer_syntax: Optional[str], f: BinaryIO) -> tuple:
    """(implicit VR, little endian) as pydicom's `read_partial` chooses them; a file without a
    transfer syntax is judged by its first element, as pydicom does."""
    if transfer_syntax is None:
        start = f.tell()
        head = f.read(6)
        f.seek(start)
        if len(head) == 6 and _is_vr(head[4:6]):
            return False, struct.unpack("<H", head[:2])[0] < 1024  # big endian reads >= 1024
        return True, True
    if transfer_syntax == ImplicitVRLittleEndian:
        return True, True
    return False, transfer_syntax != ExplicitVRBigEndian


class HeaderScan:
    """One file's count of header elements and items, across its meta group and data set."""

    def __init__(self, path: str):
        self.path, self.count, self.size = path, 0, 0

    def walk(self, f: BinaryIO, implicit: bool, little_endian: bool,
             meta_only: bool = False) -> None:
        """Walks `f` from its position to the end of the data set (or, `meta_only`, to the
        first element past group 0002, left at its start).

        Raises:
          DicomError: naming the file, past MAX_HEADER_ELEMENTS or MAX_SEQUENCE_DEPTH, or for a
            value or item that runs past the end of what holds it.
        """
        at = f.tell()
        self.size = f.seek(0, 2)
        f.seek(at)
        self._walk(f, _first_is_implicit(f, implicit, nested=False), little_endian, meta_only, [], 0)

    def _walk(self, f: BinaryIO, implicit: bool, little_endian: bool, meta_only: bool,
              levels: List[_Level], outer: int) -> None:
        """The data set's elements as pydicom reads them, sequences of undefined length and
        their items in the stream; `levels` not empty: one defined-length sequence's value
        alone (`outer` sequences around it), as pydicom converts it later, apart."""
        end = ">" if not little_endian else "<"
        tag_of, u16, u32 = struct.Struct(end + "HH"), struct.Struct(end + "H"), struct.Struct(end + "L")
        apart = bool(levels)
        while True:
            start = f.tell()
            while levels and levels[-1].end is not None and start >= levels[-1].end:
                levels.pop()
            if apart and not levels:
                return  # pydicom reads the sequence alone, nothing after it
            head = f.read(8)
            if len(head) < 8:
                return  # the end, or a truncated file pydicom will refuse
            group, element = tag_of.unpack_from(head)
            tag = group << 16 | element
            if levels and levels[-1].is_sequence:  # any tag but the delimiter opens an item
                if tag == SEQUENCE_END:
                    levels.pop()
                    continue
                length = u32.unpack_from(head, 4)[0]
                self._count()
                self._check_depth(levels, outer)
                if length != UNDEFINED:
                    self._check_fits(levels, f.tell(), length, "an item")
                item_implicit = _first_is_implicit(f, levels[-1].implicit, nested=True)
                levels.append(_Level(None if length == UNDEFINED else f.tell() + length,
                                     False, item_implicit, levels[-1].tag))
                continue
            if meta_only and not levels and group != 2:
                f.seek(start)
                return
            data_set_implicit = levels[-1].implicit if levels else implicit
            vr, length = _vr_and_length(head, f, data_set_implicit, u16, u32)
            if tag == ITEM_END:  # ends an item, or at the top the whole data set
                if not levels:
                    return
                levels.pop()
                continue
            self._count()
            if length != UNDEFINED:
                self._check_fits(levels, f.tell(), length,
                                 f"element ({group:04X},{element:04X})")
            if length == UNDEFINED:
                if _undefined_is_sequence(vr, tag, f, tag_of):
                    levels.append(_Level(None, True, data_set_implicit, tag))
                elif not _skip_to_sequence_end(f, little_endian):
                    return
            elif vr == b"SQ" or (vr in (None, b"UN") and _may_be_sequence(tag, f, length, tag_of)):
                # read past here; converted to a sequence later, alone. Read once: a sequence
                # inside it is a view of these bytes, not a copy (16 nested copies of a 512 MiB
                # value would be 8 GiB).
                value = f.view(length) if isinstance(f, _Bytes) else _Bytes(f.read(length))
                self._walk(value, data_set_implicit, little_endian, False,
                           [_Level(value.size, True, data_set_implicit, tag)],
                           outer + sum(level.is_sequence for level in levels))
            else:
                f.seek(length, 1)

    def _count(self) -> None:
        self.count += 1
        if self.count > defaults.MAX_HEADER_ELEMENTS:
            raise DicomError(f"{self.path}: over {defaults.MAX_HEADER_ELEMENTS} elements and "
                             f"sequence items in its header (an ultrasound image has a few "
                             f"hundred)")

    def _check_fits(self, levels: List[_Level], at: int, length: int, what: str) -> None:
        """Refuses a value (or item) of `length` bytes from `at` that runs past the end of the
        innermost item or sequence of defined length holding it, else of the data."""
        ends = [level.end for level in levels if level.end is not None]
        end = min(ends) if ends else self.size
        if at + length > end:
            raise DicomError(f"{self.path}: {OVERRUN.format(what=what, length=length, past=at + length - end)}")

    def _check_depth(self, levels: List[_Level], outer: int) -> None:
        limit = defaults.MAX_SEQUENCE_DEPTH
        if outer + sum(level.is_sequence for level in levels) > limit:
            tag = levels[-1].tag
            raise DicomError(f"{self.path}: sequences nested more than {limit} deep (an "
                             f"ultrasound image nests 2 or 3; ({tag >> 16:04X},{tag & 0xFFFF:04X}) "
                             f"goes deeper)")


def _is_vr(two: bytes) -> bool:
    return 0x40 < two[0] < 0x5B and 0x40 < two[1] < 0x5B


def _first_is_implicit(f: BinaryIO, implicit: bool, nested: bool) -> bool:
    """pydicom's `_is_implicit_vr`: a data set whose first element has no VR letters is read as
    implicit VR; an item stays implicit in an implicit data set."""
    if nested and implicit:
        return True
    start = f.tell()
    head = f.read(6)
    f.seek(start)
    if len(head) < 6:
        return implicit
    return not _is_vr(head[4:6])


def _vr_and_length(head: bytes, f: BinaryIO, implicit: bool, u16, u32) -> tuple:
    """An element's VR (None when implicit) and length, as pydicom's generator reads them: an
    explicit VR that is not two letters is read as implicit."""
    if implicit:
        return None, u32.unpack_from(head, 4)[0]
    vr = head[4:6]
    if vr in LONG_VRS:
        extra = f.read(4)
        return vr, (u32.unpack(extra)[0] if len(extra) == 4 else 0)
    if b"AA" <= vr <= b"ZZ":
        return vr, u16.unpack_from(head, 6)[0]
    return None, u32.unpack_from(head, 4)[0]


def _dictionary_vr(tag: int) -> Optional[str]:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return None


def _next_tag(f: BinaryIO, tag_of) -> Optional[int]:
    start = f.tell()
    head = f.read(4)
    f.seek(start)
    if len(head) < 4:
        return None
    group, element = tag_of.unpack(head)
    return group << 16 | element


def _undefined_is_sequence(vr: Optional[bytes], tag: int, f: BinaryIO, tag_of) -> bool:
    """pydicom reads an undefined length UN or SQ as a sequence, and an implicit one when the
    dictionary says SQ or, for a tag it does not know, an item follows."""
    if vr in (b"UN", b"SQ"):
        return True
    if vr is not None:
        return False
    known = _dictionary_vr(tag)
    return known == "SQ" if known is not None else _next_tag(f, tag_of) == ITEM


def _may_be_sequence(tag: int, f: BinaryIO, length: int, tag_of) -> bool:
    """A defined-length implicit or UN value that pydicom may convert to a sequence later: the
    dictionary says SQ, or the value starts with an item (a private creator's sequence)."""
    return length >= 8 and (_dictionary_vr(tag) == "SQ" or _next_tag(f, tag_of) == ITEM)


def _skip_to_sequence_end(f: BinaryIO, little_endian: bool) -> bool:
    """Past the value's sequence delimiter and its length, as pydicom's
    `read_undefined_length_value` reads an undefined-length value (encapsulated pixel data):
    item by item by their lengths, else, when that walk meets another tag or the end, by looking
    for the delimiter's bytes; False when the file ends first."""
    start = f.tell()
    if _skip_items(f, little_endian):
        return True
    f.seek(start)
    delimiter = struct.pack("<HH" if little_endian else ">HH", 0xFFFE, 0xE0DD)
    tail = b""
    while chunk := f.read(_CHUNK):
        data = tail + chunk
        at = data.find(delimiter)
        if at >= 0:
            f.seek(f.tell() - len(data) + at + 8)
            return True
        tail = data[-3:]
    return False


def _skip_items(f: BinaryIO, little_endian: bool) -> bool:
    """pydicom's `_try_read_encapsulated_pixel_data`: items skipped by their lengths up to the
    sequence delimiter, and past its length (whatever it holds); False at another tag or the
    end. A fragment may hold the delimiter's bytes: the search alone would stop there."""
    end = "<" if little_endian else ">"
    delimiter, item = struct.pack(end + "HH", 0xFFFE, 0xE0DD), struct.pack(end + "HH", 0xFFFE, 0xE000)
    while True:
        tag = f.read(4)
        if tag == delimiter:
            f.seek(4, 1)
            return True
        if tag != item:
            return False
        length = f.read(4)
        if len(length) < 4:
            return False
        f.seek(struct.unpack(end + "L", length)[0], 1)
