"""A JPEG Lossless frame's decoded samples checked against the scan they came from.

libjpeg (pylibjpeg-libjpeg, pydicom's decoder for JPEG Lossless) reads a scan that ends early,
or runs into a marker, as if zero bits followed, without a word: predict measured a frame cut
in half. The web app walks the scan by ITU-T T.81's procedures before decoding
(web_app/src/core/dicom/lossless_scan.js) and refuses it; walking it sample by sample in
Python costs seconds a frame. Here the decoded samples are coded again instead, in NumPy:
Process 14 codes each sample's difference from its prediction (T.81 H.1.2.1) as a Huffman code
for its category and that many bits (H.1.2.2, F.1.2.1), so a decode that read only the scan's
data consumed exactly as many bits as the samples' codes add up to. More than the scan holds
(before its next marker, or each restart interval's) is a decode that ran past the end. The
words are the app's for the same damage. Judged: one scan of all components, each sampled 1x1
(what ultrasound's lossless frames are), restart intervals of whole rows; any other layout is
left to the decoder, as the app leaves it.
"""

from __future__ import annotations

import re
import struct
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from hc_tf.io import jpeg_check

_EOI, _SOF3, _DHT, _DRI = 0xD9, 0xC3, 0xC4, 0xDD
_OTHER_FRAMES = frozenset(range(0xC0, 0xD0)) - {_SOF3, _DHT, 0xC8, 0xCC}
_RST0 = 0xD0
_MARKER = re.compile(rb"\xff[^\x00]")  # in coded data 0xFF is followed by a stuffed 0x00
_NO_CODE = -1
_UNCODED = 1 << 40  # more bits than any scan holds: a category without a code
ENDS = "the data ends before the last sample"
MARKER = "a marker stands where a sample is still to come"
NOT_CODED = "samples its Huffman table cannot code (the decoder made up missing data)"


class _Scan(NamedTuple):
    precision: int                  # P, bits a sample
    rows: int
    columns: int
    predictor: int                  # Ss, the selection value 1-7
    point_transform: int            # Al
    code_lengths: Tuple[np.ndarray, ...]  # a length for each category 0-16, a frame component each
    restart: int                    # MCUs (samples) a restart interval; 0: none
    data_start: int


def _code_lengths(bits: bytes, values: bytes) -> np.ndarray:
    """Annex C: the length of each category's Huffman code (BITS, HUFFVAL), -1 where none."""
    lengths = np.full(17, _NO_CODE, np.int64)
    k = 0
    for length, count in enumerate(bits, start=1):
        for value in values[k:k + count]:
            if value <= 16:
                lengths[value] = length
        k += count
    return lengths


def _dht_tables(body: bytes, tables: Dict[int, np.ndarray]) -> bool:
    """A DHT segment's lossless (class 0) tables by id into `tables`; False when it overruns."""
    at = 0
    while at < len(body):
        bits = body[at + 1:at + 17]
        end = at + 17 + sum(bits)
        if len(bits) < 16 or end > len(body):
            return False
        if body[at] >> 4 == 0:
            tables[body[at] & 0x0F] = _code_lengths(bits, body[at + 17:end])
        at = end
    return True


def point_transform(codestream: bytes) -> int:
    """The first scan's point transform (Al, H.1.2.1), 0 when it cannot be read. Both decoders
    read a scan with one wrong (libjpeg starts its prediction at 2^(P-1) where T.81 says
    2^(P-Pt-1): a frame of dcmtk's with Pt 2 decoded white), so it is refused on both sides."""
    found = jpeg_check.header_segments(codestream)
    body = found[0][-1][1] if found else b""
    at = 3 + 2 * body[0] if body else len(body)
    return body[at] & 0x0F if at < len(body) else 0


def _scan_header(data: bytes) -> Optional[_Scan]:
    """The first scan's settings, when it is one judged here (module docstring)."""
    found = jpeg_check.header_segments(data)
    if found is None:
        return None
    tables, frame, restart = {}, None, 0
    for marker, body in found[0]:
        if marker in _OTHER_FRAMES or (marker == _DHT and not _dht_tables(body, tables)):
            return None
        if marker == _DRI and len(body) >= 2:
            restart = struct.unpack(">H", body[:2])[0]
        if marker == _SOF3 and len(body) >= 6 + 3 * body[5]:
            if any(hv != 0x11 for hv in body[7::3][:body[5]]):
                return None
            frame = (body[0],) + struct.unpack(">HH", body[1:5]) + (tuple(body[6::3][:body[5]]),)
    return _scan(frame, tables, restart, found[0][-1][1], found[1])


def _scan(frame, tables, restart, body, data_start) -> Optional[_Scan]:
    """The first scan's settings, when it holds every frame component and its tables."""
    if frame is None or len(body) < 1 + 2 * body[0] + 3:
        return None
    precision, rows, columns, frame_ids = frame
    count = body[0]
    selectors = {body[1 + 2 * i]: body[2 + 2 * i] >> 4 for i in range(count)}
    predictor, point_transform = body[1 + 2 * count], body[3 + 2 * count] & 0x0F
    if (sorted(selectors) != sorted(frame_ids) or len(set(frame_ids)) != len(frame_ids)
            or not rows or not 1 <= predictor <= 7 or not 2 <= precision <= 16
            or point_transform >= precision or any(t not in tables for t in selectors.values())
            or (restart and restart % columns)):
        return None
    lengths = tuple(tables[selectors[i]] for i in frame_ids)
    return _Scan(precision, rows, columns, predictor, point_transform, lengths, restart,
                 data_start)


def _segments(data: bytes, start: int) -> List[Tuple[int, Optional[int]]]:
    """The coded data from `start` cut at its restart markers: (bits, the marker that ends it,
    None at the end of the data) for each piece, up to and with the first other marker."""
    pieces, pos = [], start
    for found in _MARKER.finditer(data, start):
        if found.start() < pos:  # the second byte of a marker already taken
            continue
        piece = data[pos:found.start()]
        marker = data[found.start() + 1]
        if marker == 0xFF:  # fill bytes before a marker: the next match finds it
            pieces.append((8 * (len(piece) - piece.count(b"\xff\x00")), _EOI))
            return pieces
        pieces.append((8 * (len(piece) - piece.count(b"\xff\x00")), marker))
        if not _RST0 <= marker < _RST0 + 8:
            return pieces
        pos = found.end()
    piece = data[pos:]
    pieces.append((8 * (len(piece) - piece.count(b"\xff\x00")), None))
    return pieces


def _predictions(x: np.ndarray, scan: _Scan) -> np.ndarray:
    """H.1.2.1: each sample's prediction from its left (Ra), upper (Rb) and upper-left (Rc)
    neighbours by the selection value; the first row of the scan and of each restart interval
    predicted from the left, its first sample from 2^(P - Pt - 1); a row's first from above."""
    def shifted(rows: int, columns: int) -> np.ndarray:
        out = np.zeros_like(x)
        out[rows:, columns:] = x[:x.shape[0] - rows, :x.shape[1] - columns]
        return out

    ra, rb = shifted(0, 1), shifted(1, 0)
    rc = shifted(1, 1) if scan.predictor in (3, 4, 5, 6) else None
    # 1-3 are a neighbour array itself: the edits below read only x and rb's first column
    pred = {1: lambda: ra, 2: lambda: rb, 3: lambda: rc, 4: lambda: ra + rb - rc,
            5: lambda: ra + ((rb - rc) >> 1), 6: lambda: rb + ((ra - rc) >> 1),
            7: lambda: (ra + rb) >> 1}[scan.predictor]()
    pred[:, 0] = rb[:, 0]
    interval_rows = scan.restart // scan.columns if scan.restart else scan.rows
    first = np.arange(0, scan.rows, interval_rows)
    pred[first, 1:] = x[first, :-1]
    pred[first, 0] = 1 << (scan.precision - scan.point_transform - 1)
    return pred


def _bits_by_row(x: np.ndarray, lengths: np.ndarray, scan: _Scan) -> Optional[np.ndarray]:
    """The bits each row of one component's samples codes to (H.1.2.2: the difference modulo
    2^16, its category's code and as many bits, none for category 16); None when a category
    has no code in its table (no decode of the scan made those samples)."""
    diff = (x - _predictions(x, scan)) & 0xFFFF
    magnitude = np.minimum(diff, 0x10000 - diff)  # |difference| as a signed 16-bit number
    category = np.frexp(magnitude.astype(np.float32))[1]  # its bit length, exactly
    extra = np.arange(17)
    extra[16] = 0
    code_bits = np.where(lengths == _NO_CODE, _UNCODED, lengths + extra)
    bits = code_bits[category].sum(axis=1, dtype=np.int64)
    return None if (bits >= _UNCODED).any() else bits


def lossless_scan_damage(codestream: bytes, samples: np.ndarray) -> Optional[str]:
    """Why `samples` (the frame as decoded, (rows, columns[, components]) in the frame's
    component order) cannot be a decode of `codestream`'s scan alone, or None when they can or
    the layout is not judged here (module docstring). The words are the app's."""
    scan = _scan_header(codestream)
    if scan is None:
        return None
    planes = samples.reshape(samples.shape[:2] + (-1,))
    if planes.shape != (scan.rows, scan.columns, len(scan.code_lengths)):
        return None
    mask = (1 << scan.precision) - 1
    row_bits = np.zeros(scan.rows, np.int64)
    for c, lengths in enumerate(scan.code_lengths):
        # the decoder's samples are the coded ones shifted left by Pt (H.1.2.1)
        x = (planes[:, :, c].astype(np.int32) & mask) >> scan.point_transform
        bits = _bits_by_row(x, lengths, scan)
        if bits is None:
            return NOT_CODED
        row_bits += bits
    return _interval_damage(row_bits, _segments(codestream, scan.data_start), scan)


def _interval_damage(row_bits: np.ndarray, pieces, scan: _Scan) -> Optional[str]:
    """Each restart interval's bits against its piece of coded data, as the app reads them:
    every piece but the last read to its byte boundary and ended by the next RSTm (m counting
    0-7 from 0); the last may hold bytes beyond its samples."""
    interval_rows = scan.restart // scan.columns if scan.restart else scan.rows
    needed = np.add.reduceat(row_bits, np.arange(0, scan.rows, interval_rows))
    for i, bits in enumerate(needed):
        if i >= len(pieces):
            return ENDS
        held, ended_by = pieces[i]
        if bits > held:
            return ENDS if ended_by is None else MARKER
        last = i == len(needed) - 1
        if not last and (held - bits >= 8 or ended_by != _RST0 + i % 8):
            return f"restart marker {i % 8} is not where the restart interval puts it"
    return None
