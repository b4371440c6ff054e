"""A compressed DICOM frame's own size, read from its codestream and checked before decoding.

Decoders allocate what the codestream declares, whatever the header says, so the size
`dicom.read_header` bounded is compared with each frame's JPEG, JPEG-LS or JPEG 2000 frame
header, or counted from its RLE segments, by walking the bytes without decoding them. Apart
from `hc_tf.io.dicom` because it reads codestreams (ISO 10918-1, ISO 14495-1, ISO 15444-1,
PS3.5 G.3), not the DICOM file; `dicom_frames.decode_frame` calls `check_codestream` first.
"""

from __future__ import annotations

import struct
from typing import Any, Optional, Tuple

from hc_tf import defaults
from hc_tf.io import dicom
from hc_tf.io import jpeg_check
from hc_tf.io.dicom import DicomError
from hc_tf.io.dicom import Header

# JPEG (ISO 10918-1 B.1.1.3) and JPEG-LS (ISO 14495-1) markers: frame headers SOF0-SOF15 (not
# DHT C4, JPG C8, DAC CC), DHP (hierarchical image size) and JPEG-LS SOF55; DNL and JPEG-LS
# LSE, which may set the size after the frame header (the walk: jpeg_check.marker_segments).
_JPEG_FRAME_HEADERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC} | {0xDE, 0xF7}
_JPEG_DNL, _JPEG_LSE = 0xDC, 0xF8
_LSE_OVERSIZE = 4  # LSE id 4: oversize image dimensions (wider or taller than 65535)


def _jpeg_frame_sizes(data: bytes) -> Optional[Tuple[Tuple[int, int, int, int], ...]]:
    """(rows, columns, components, sample precision in bits) of each frame header (SOFn, DHP,
    JPEG-LS SOF55) of a JPEG or JPEG-LS codestream, read by walking its markers without
    decoding.

    None when it does not start with SOI, has no frame header, a marker is not where one must
    be, or a DNL or an LSE oversize segment could set a size the frame header does not say.
    """
    if not data.startswith(b"\xff\xd8"):
        return None
    sizes = []
    for marker, pos in jpeg_check.marker_segments(data):
        if marker is None:
            return None
        if marker == _JPEG_DNL or (marker == _JPEG_LSE and data[pos + 4:pos + 5] ==
                                   bytes([_LSE_OVERSIZE])):
            return None
        if marker in _JPEG_FRAME_HEADERS:
            if pos + 10 > len(data):
                return None
            rows, columns = struct.unpack(">HH", data[pos + 5:pos + 9])
            sizes.append((rows, columns, data[pos + 9], data[pos + 4]))
    return tuple(sizes) or None


def _j2k_size(data: bytes) -> Optional[Tuple[int, int, int]]:
    """(rows, columns, components) from a JPEG 2000 codestream's SIZ marker (ISO 15444-1
    A.5.1: SOC, then SIZ), inside a JP2 file's jp2c box when wrapped; None when absent."""
    start = 0
    if data.startswith(b"\x00\x00\x00\x0cjP  "):  # JP2 signature box: walk to jp2c
        start = 12
        while start + 8 <= len(data) and data[start + 4:start + 8] != b"jp2c":
            length = struct.unpack(">I", data[start:start + 4])[0]
            if length == 1 and start + 16 <= len(data):  # XLBox: a 64-bit length
                length = struct.unpack(">Q", data[start + 8:start + 16])[0]
            if length < 8:  # 0 (to the end) or malformed: no jp2c after it
                return None
            start += length
        start += 8
    siz = data[start:start + 42]
    if len(siz) < 42 or siz[:4] != b"\xff\x4f\xff\x51":
        return None
    xsiz, ysiz, x0, y0 = struct.unpack(">IIII", siz[8:24])
    return ysiz - y0, xsiz - x0, struct.unpack(">H", siz[40:42])[0]


def _rle_segment_size(segment: bytes, limit: int) -> int:
    """Bytes an RLE segment decodes to (PS3.5 G.3.1: a header byte n < 128 copies the next n + 1
    bytes, n > 128 repeats the next byte 257 - n times, 128 is nothing), counted without
    decoding; the count stops once past `limit`."""
    size, pos = 0, 0
    while pos < len(segment) and size <= limit:
        n = segment[pos]
        if n < 128:
            size, pos = size + n + 1, pos + n + 2
        else:
            size, pos = size + (257 - n if n > 128 else 0), pos + (2 if n > 128 else 1)
    return size


def _check_rle_segments(data: bytes, plane: int, where: str) -> None:
    """Refuses an RLE frame a segment of which decodes to more than twice a Rows x Columns
    plane: RLE has no size of its own and pydicom decodes a whole segment before it compares
    its length (a repeat run turns 2 bytes into 128, so a small file could fill the memory)."""
    header = data[:64]
    count = struct.unpack("<I", header[:4])[0] if len(header) == 64 else 0
    offsets = list(struct.unpack("<15I", header[4:])[:count]) if 1 <= count <= 15 else []
    if not offsets or offsets != sorted(offsets) or offsets[-1] > len(data):
        raise DicomError(f"{where}: the RLE header has no readable segment table")
    for start, end in zip(offsets, offsets[1:] + [len(data)]):
        if _rle_segment_size(data[start:end], 2 * plane) > 2 * plane:
            raise DicomError(f"{where}: an RLE segment expands beyond Rows x Columns "
                             f"({plane} bytes); refused before decoding")


def check_codestream(header: Header, ds: Any, frame: int, where: str) -> Optional[bytes]:
    """Refuses a compressed frame whose codestream declares another size than Rows x Columns x
    SamplesPerPixel, before decoding: decoders allocate what the codestream says (a 64 x 64
    header over an 8000 x 8000 JPEG decoded 8000 x 8000), and read_header bounded the header's;
    and a JPEG-family codestream of more scans than `defaults.MAX_JPEG_SCANS` (decoding time).
    Returns the frame's codestream as checked (None for a native frame).

    Raises:
      DicomError: naming the file and frame.
    """
    from pydicom import uid
    from pydicom.encaps import get_frame
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if not syntax:  # pydicom reads the header by its first element's look, but not the pixels
        raise DicomError(f"{where}: no TransferSyntaxUID (0002,0010) in its file meta "
                         "information: how its pixel data is encoded is not known")
    if syntax in uid.UncompressedTransferSyntaxes:
        return None  # native frames are Rows x Columns
    rle = syntax in uid.RLETransferSyntaxes
    jpeg = syntax in uid.JPEGTransferSyntaxes + uid.JPEGLSTransferSyntaxes
    if not (rle or jpeg) and syntax not in uid.JPEG2000TransferSyntaxes:
        raise DicomError(f"{where}: transfer syntax {syntax} is not supported (its frames' size "
                         "cannot be checked before decoding)")
    offsets = None
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        offsets = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    try:  # the frame's bytes as pydicom's decoder takes them
        data = get_frame(ds.PixelData, frame - 1, number_of_frames=header.frames,
                         extended_offsets=offsets)
    except Exception as err:  # malformed encapsulation raises many kinds  # noqa: BLE001
        raise DicomError(f"{where}: pixel data cannot be decoded ({dicom.short(err)})") from None
    if rle:
        _check_rle_segments(data, header.rows * header.columns, where)
        return data
    sizes = _jpeg_frame_sizes(data) if jpeg else (_j2k_size(data),)
    if not sizes or None in sizes:
        raise DicomError(f"{where}: the {'JPEG' if jpeg else 'JPEG 2000'} codestream has no "
                         "readable frame size (or sets it where it cannot be checked)")
    expected = (header.rows, header.columns, header.samples)
    for rows, columns, components in (s[:3] for s in sizes):
        if (rows, columns, components) != expected:
            raise DicomError(f"{where}: the codestream is {rows} x {columns} x {components} "
                             f"(rows x columns x components) but Rows x Columns x "
                             f"SamplesPerPixel (0028,0010/0011/0002) say {header.rows} x "
                             f"{header.columns} x {header.samples}; refused before decoding")
    # pydicom clears a JPEG sample's bits above BitsStored (a 12-bit 264 under BitsStored 8
    # reads 8), which the 8-bit check after decoding cannot see; JPEG-LS is held to the same.
    # (JPEG 2000 decodes at its codestream's precision: values past 255 reach that check.)
    if not jpeg:
        return data
    scans = jpeg_check.too_many_scans(data, defaults.MAX_JPEG_SCANS)
    if scans:
        raise DicomError(f"{where}: {scans}")
    deepest, bits = max(s[3] for s in sizes), dicom.bits_stored(ds, where)
    if deepest > bits:
        raise DicomError(f"{where}: the codestream's samples are {deepest}-bit but BitsStored "
                         f"(0028,0101) says {bits}; refused before decoding")
    return data
