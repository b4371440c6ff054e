"""A JPEG file checked whole by libjpeg-turbo, strictly, before OpenCV decodes its pixels.

OpenCV's decoder (libjpeg-turbo too) only warns of "Premature end of JPEG file", "Corrupt JPEG
data: premature end of data segment", "N extraneous bytes before marker" and the like, and fills
what it could not decode with gray: predict would measure a damaged image. A browser's decoder
refuses some of those files and decodes others (fuzzed copies went either way). So the rule is
the one DICOM JPEG frames already follow on both sides (`dicom_frames`): libjpeg-turbo through
simplejpeg with `strict=True` (a warning is an error), here and in the web app (its wasm build
of libjpeg-turbo, web_app/src/core/jpeg_check.js). The check decodes and drops the pixels:
OpenCV's stay the ones measured (the app's equality tests rely on them). 12-bit JPEGs never get
here: Pillow's header read refuses them first.
"""

from __future__ import annotations

import re
import struct
from typing import Iterator, List, Optional, Tuple

JPEG_MAGIC = b"\xff\xd8\xff"
_SOI, _EOI, _SOS = 0xD8, 0xD9, 0xDA
NO_LENGTH = frozenset(range(0xD0, 0xD8)) | {0x01}  # RSTn and TEM: markers without a length
# Inside entropy-coded data 0xFF is followed by 0x00 (JPEG) or a byte < 0x80 (JPEG-LS), or
# starts a RSTn: anything else is the next marker.
_MARKER_AFTER_SCAN = re.compile(rb"\xff[\xc0-\xcf\xd8-\xfe]")
DAMAGE = "the JPEG data is corrupt"
UNREAD_END = "its coded data decodes in full before the data ends (bytes before EOI left unread)"
_MAX_SAID = 80  # characters of libjpeg's message kept


def _said(err: Exception) -> str:
    """libjpeg's message, short: TurboJPEG's "tjFunction(): " prefix dropped, one line."""
    text = re.sub(r"^tj\w*\(\):\s*", "", " ".join(str(err).split()))
    return text[:_MAX_SAID].rstrip() or "no reason given"


def jpeg_damage(data: bytes) -> Optional[str]:
    """None when `data` is not a JPEG or libjpeg-turbo decodes it without a warning and reads it
    to its end (`unread_end`), else why not ("the JPEG data is corrupt: <libjpeg's message>").

    Gray output, whatever the file's colour space (libjpeg-turbo turns YCbCr, RGB and CMYK to
    gray): every component is still entropy-decoded, where the damage shows (gray and RGB
    output gave the same verdicts on 300 fuzzed copies, gray and colour), with no chroma
    upsampling or colour conversion. The header is not read apart: decode_jpeg_header would
    say "Could not determine subsampling level" where decode_jpeg names the damage.
    """
    if not data.startswith(JPEG_MAGIC):
        return None
    try:
        _decode_gray(data)
    except (ValueError, RuntimeError) as err:  # simplejpeg's refusals
        return f"{DAMAGE}: {_said(err)}"
    return unread_end(data)


def _decode_gray(data: bytes) -> None:
    import simplejpeg  # a base requirement (setup.cfg): the rule is libjpeg-turbo's
    simplejpeg.decode_jpeg(data, colorspace="GRAY", fastdct=True, fastupsample=True, strict=True)


def unread_end(data: bytes) -> Optional[str]:
    """Why `data` (a JPEG libjpeg-turbo decodes without a warning) is damaged all the same: its
    last scan's coded data decodes in full before the data ends, the bytes before EOI unread;
    else None.

    Damaged coefficients decode to other ones of other lengths, so the decoding ends early or
    late; late runs into the EOI ("premature end", refused), early leaves bytes that libjpeg
    warns of only in jpeg_finish_decompress, which simplejpeg (TurboJPEG) does not hear, where
    the app's wasm build refuses them. So the coded data is decoded once more without its last
    byte: every byte an encoder writes carries bits of a code, so a whole file then needs more
    than is there and libjpeg-turbo warns; a damaged one decodes as well as before. (0 of 900
    files written by OpenCV, Pillow and simplejpeg, of every quality, progressive, with restart
    markers, gray and colour, and pydicom's JPEG frames, were refused.)
    """
    shorter = _without_last_coded_byte(data)
    if shorter is None:
        return None
    try:
        _decode_gray(shorter)
    except (ValueError, RuntimeError):  # the byte was needed: the whole stream was read
        return None
    return f"{DAMAGE}: {UNREAD_END}"


def _without_last_coded_byte(data: bytes) -> Optional[bytes]:
    """`data` less the last byte of its last scan's coded data (a stuffed 0xFF 0x00 pair as one;
    0xFF fill bytes before the EOI marker kept); None without an EOI after a scan's header."""
    eoi = data.rfind(b"\xff\xd9")
    end = eoi
    while end > 0 and data[end - 1] == 0xFF:  # fill bytes before a marker
        end -= 1
    sos = data.rfind(b"\xff\xda", 0, end)  # 0xFF 0xDA cannot stand inside coded data
    if eoi < 0 or sos < 0 or sos + 4 > end:
        return None
    start = sos + 2 + int.from_bytes(data[sos + 2:sos + 4], "big")
    cut = 2 if data[end - 2:end] == b"\xff\x00" else 1
    if end - cut < start:
        return None
    return data[:end - cut] + data[eoi:]


def marker_segments(data: bytes) -> Iterator[Tuple[Optional[int], int]]:
    """(marker, where its segment starts) of each marker segment of a JPEG or JPEG-LS codestream
    after its SOI, read by their lengths without decoding, up to and with EOI; past an SOS the
    walk goes on at the marker after the entropy-coded data. Fill bytes, RSTn and TEM (markers
    without a length) are passed over; (None, where) ends the walk where something other than a
    marker stands where one must be. The caller checks the SOI and what a segment holds."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            yield None, pos
            return
        marker = data[pos + 1]
        if marker == 0xFF or marker in NO_LENGTH:  # a fill byte; RSTn and TEM stand alone
            pos += 1 if marker == 0xFF else 2
            continue
        yield marker, pos
        if marker == _EOI:
            return
        pos += 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker == _SOS:  # entropy-coded data runs to the next marker
            found = _MARKER_AFTER_SCAN.search(data, pos)
            pos = found.start() if found else len(data)


def too_many_scans(data: bytes, limit: int) -> Optional[str]:
    """Why a JPEG or JPEG-LS codestream of more than `limit` scans (SOS segments, counted by
    `marker_segments` without decoding) is refused before decoding (`defaults.MAX_JPEG_SCANS`:
    each scan is a pass over the image), else None; None for what is not a JPEG codestream."""
    if data[:2] != bytes([0xFF, _SOI]):
        return None
    scans = sum(1 for marker, _ in marker_segments(data) if marker == _SOS)
    if scans <= limit:
        return None
    return (f"{scans} JPEG scans, over the {limit}-scan input limit (each scan is a pass over "
            "the image); refused before decoding")


def header_segments(data: bytes) -> Optional[Tuple[List[Tuple[int, bytes]], int]]:
    """(marker, body) of each segment of a JPEG codestream up to and with its first SOS, and
    where its coded data starts; None when the codestream is not that (no SOI, junk between
    segments, a segment cut short, no scan)."""
    if data[:2] != bytes([0xFF, _SOI]):
        return None
    segments = []
    for marker, pos in marker_segments(data):
        if marker is None or marker == _EOI:
            return None
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        body = data[pos + 4:pos + 2 + length]
        if len(body) != length - 2:
            return None
        segments.append((marker, body))
        if marker == _SOS:
            return segments, pos + 2 + length
    return None
