"""Reading DICOM ultrasound files: detection, the bounded read, the header checked against the
input limits before any pixel is decoded, and the UIDs that reference the image.

TF-free; pydicom (the [dicom] extra) is imported when a DICOM file is read, so the base
install still imports this module. Every refusal is a `DicomError` whose message names the
file and the tag at fault; patient fields are never put into a message. Frames become 8-bit
gray in `hc_tf.io.dicom_frames`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import stat
import struct
import warnings
import zlib
from typing import Any, Iterator, Optional, Sequence, Tuple

from hc_tf import defaults
from hc_tf.io import images

DICOM_EXTENSIONS = (".dcm", ".dicom")
PREAMBLE_BYTES = 128
MAGIC = b"DICM"
DEFLATED = "1.2.840.10008.1.2.1.99"  # Deflated Explicit VR Little Endian
_PIXEL_DATA_TAGS = (0x7FE00008, 0x7FE00009, 0x7FE00010)  # (Double) Float / Pixel Data
_CHUNK = 1 << 20
# JPEG (ISO 10918-1 B.1.1.3) and JPEG-LS (ISO 14495-1) markers: frame headers SOF0-SOF15 (not
# DHT C4, JPG C8, DAC CC), DHP (hierarchical image size) and JPEG-LS SOF55; markers without a
# length (RSTn, TEM); DNL and JPEG-LS LSE, which may set the size after the frame header.
_JPEG_FRAME_HEADERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC} | {0xDE, 0xF7}
_JPEG_NO_LENGTH = frozenset(range(0xD0, 0xD8)) | {0x01}
_JPEG_SOS, _JPEG_EOI, _JPEG_DNL, _JPEG_LSE = 0xDA, 0xD9, 0xDC, 0xF8
_LSE_OVERSIZE = 4  # LSE id 4: oversize image dimensions (wider or taller than 65535)
# Inside entropy-coded data 0xFF is followed by 0x00 (JPEG) or a byte < 0x80 (JPEG-LS), or
# starts a RSTn: anything else is the next marker.
_MARKER_AFTER_SCAN = re.compile(rb"\xff[\xc0-\xcf\xd8-\xfe]")
_COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420")
_GRAY = ("MONOCHROME1", "MONOCHROME2")


NO_PREAMBLE = ("not a readable DICOM file (no 'DICM' marker at byte 128: truncated, or saved "
               "without the DICOM Part 10 file preamble)")


class DicomError(ValueError):
    """A DICOM file that cannot be measured; the message names the file and the problem."""


def is_dicom(path: str) -> bool:
    """True for a file with the DICOM Part 10 preamble (`DICM` at byte 128), any name."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block, a device never end
            return False
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
            head = f.read(PREAMBLE_BYTES + len(MAGIC))
    except OSError:
        return False
    return head[PREAMBLE_BYTES:] == MAGIC


def is_dicom_name(path: str) -> bool:
    """A DICOM file by its extension (folders are listed by content as well)."""
    return path.lower().endswith(DICOM_EXTENSIONS)


def _pydicom():
    try:
        import pydicom
    except ImportError as err:  # the CLI turns this into an install hint
        raise ImportError("reading DICOM needs pydicom: pip install 'hc-tf[dicom]' (or pip install "
                          "-e '.[dicom]' in a checkout)",
                          name="pydicom") from err
    return pydicom


@dataclasses.dataclass(frozen=True)
class Header:
    """What a DICOM header says, read before any pixel is decoded (no patient fields)."""

    path: str
    dataset: Any  # pydicom Dataset without pixel data (calibration, UIDs, SR references)
    rows: int
    columns: int
    frames: int
    samples: int
    photometric: str

    @property
    def name(self) -> str:
        """The file name as messages give it."""
        return os.path.basename(self.path)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No warning and no pydicom or highdicom log line below ERROR inside the block: they quote
    the values they find invalid (a UID with a leading zero, a name without '^', a date), and
    stderr is a log (the node's, a batch job's)."""
    logs = [logging.getLogger(name) for name in ("pydicom", "highdicom")]
    with images.WARNINGS_LOCK, warnings.catch_warnings():  # (process-wide state)
        warnings.simplefilter("ignore")
        levels = [log.level for log in logs]
        for log in logs:
            log.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for log, level in zip(logs, levels):
                log.setLevel(level)


def _check_size(path: str) -> None:
    size, limit = os.path.getsize(path), images.max_input_bytes()  # HC_TF_MAX_INPUT_BYTES
    if size > limit:
        raise DicomError(f"{path}: {size} bytes, over the {limit}-byte input limit")


def max_decoded_samples() -> int:
    """Decoded samples (rows x columns x frames x samples) of one file: the byte limit
    (HC_TF_MAX_INPUT_BYTES, else the default) applies to what a compressed file expands to as
    well, so a small hostile file cannot fill the memory."""
    return images.max_input_bytes()


def _inflate(f: Any, out: Any, path: str, limit: int) -> None:
    """Writes the raw deflate stream from `f`'s position on into `out`, at most `limit` bytes.

    Raises:
      DicomError: naming the file, when it inflates past `limit` or is not a deflate stream.
    """
    inflater, size = zlib.decompressobj(-zlib.MAX_WBITS), 0
    try:
        while not inflater.eof and (chunk := f.read(_CHUNK)):
            # max_length caps each call's output: a 1000:1 stream never expands past the limit.
            size += out.write(inflater.decompress(chunk, limit + 1 - size))
            if size > limit:
                raise DicomError(f"{path}: the deflated dataset (transfer syntax {DEFLATED}) "
                                 f"inflates past the {limit}-byte input limit "
                                 f"({images.BYTES_ENV})")
    except zlib.error as err:
        raise DicomError(f"{path}: not a readable DICOM file (deflated dataset: {err})") from None


def _dcmread(path: str, stop_before_pixels: bool = False) -> Any:
    """`pydicom.dcmread`, except that a deflated dataset is inflated here under the byte limit.

    pydicom 3 inflates a Deflated Explicit VR Little Endian file whole (zlib.decompress) before
    anything can be checked, and deflate reaches about 1000:1; the node accepts the syntax.
    """
    pydicom = _pydicom()
    from pydicom import filereader
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.filebase import DicomBytesIO

    with open(path, "rb") as f:
        try:
            preamble = filereader.read_preamble(f, False)
        except pydicom.errors.InvalidDicomError:  # pydicom's own words advise force=True
            raise DicomError(f"{path}: {NO_PREAMBLE}") from None
        # The file meta group is always explicit VR little endian (PS3.10 7.1), never deflated.
        meta = FileMetaDataset(filereader.read_dataset(
            f, is_implicit_VR=False, is_little_endian=True,
            stop_when=lambda tag, vr, length: tag >> 16 != 2))
        if meta.get("TransferSyntaxUID") != DEFLATED:
            return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
        body = DicomBytesIO()
        _inflate(f, body, path, images.max_input_bytes())
    body.seek(0)
    # As pydicom's read_partial does with the inflated bytes (explicit VR little endian).
    stop = (lambda tag, vr, length: tag in _PIXEL_DATA_TAGS) if stop_before_pixels else None
    dataset = filereader.read_dataset(body, is_implicit_VR=False, is_little_endian=True,
                                      stop_when=stop)
    ds = FileDataset(path, dataset, preamble, meta, is_implicit_VR=False, is_little_endian=True)
    ds.set_original_encoding(False, True, dataset.original_character_set)
    return ds


def _int_tag(ds: Any, keyword: str, tag: str, path: str, default: Optional[int] = None) -> int:
    value = ds.get(keyword, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise DicomError(f"{path}: {keyword} {tag} missing or not a number") from None
    if number < 1:
        raise DicomError(f"{path}: {keyword} {tag} is {number}; must be at least 1")
    return number


def read_header(path: str) -> Header:
    """Reads and checks a DICOM header against the input limits, without its pixels.

    Raises:
      DicomError: naming the file (and tag), for a file over MAX_INPUT_BYTES, one that is not
        DICOM or is malformed, no image (Rows/Columns), Rows x Columns over MAX_INPUT_PIXELS,
        decoded samples over `max_decoded_samples()`, or an unsupported photometric
        interpretation or bit depth.
    """
    _pydicom()  # its ImportError (the install hint) before the except below
    _check_size(path)
    try:
        with quiet():  # pydicom quotes a value it converts and finds invalid (a UID)
            ds = _dcmread(path, stop_before_pixels=True)
            # Vendors' private fields are never needed and may identify; the walk converts
            # every element (sequences too), so later reads of the header warn no more.
            ds.remove_private_tags()
    except DicomError:
        raise
    except Exception as err:  # pydicom raises many kinds on malformed input  # noqa: BLE001
        raise DicomError(f"{path}: not a readable DICOM file ({type(err).__name__}: "
                         f"{short(err)})") from None
    rows = _int_tag(ds, "Rows", "(0028,0010)", path)
    columns = _int_tag(ds, "Columns", "(0028,0011)", path)
    frames = _int_tag(ds, "NumberOfFrames", "(0028,0008)", path, default=1)
    samples = _int_tag(ds, "SamplesPerPixel", "(0028,0002)", path, default=1)
    if frames > defaults.MAX_INPUT_FRAMES:
        raise DicomError(f"{path}: NumberOfFrames (0028,0008) {frames}, over the "
                         f"{defaults.MAX_INPUT_FRAMES}-frame input limit")
    max_pixels = images.max_input_pixels()  # HC_TF_MAX_INPUT_PIXELS, as for PNG and JPEG
    if rows * columns > max_pixels:
        raise DicomError(f"{path}: Rows x Columns (0028,0010/0011) = {rows} x {columns} = "
                         f"{rows * columns} pixels, over the {max_pixels}-pixel input limit")
    total, limit = rows * columns * frames * samples, max_decoded_samples()
    if total > limit:
        raise DicomError(f"{path}: {frames} frames (0028,0008) of {rows} x {columns} x {samples} "
                         f"would decode to {total} samples, over the {limit} limit "
                         f"({images.BYTES_ENV})")
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    _check_pixel_format(ds, path, photometric, samples)
    return Header(path, ds, rows, columns, frames, samples, photometric)


def _check_pixel_format(ds: Any, path: str, photometric: str, samples: int) -> None:
    if photometric not in _GRAY + _COLOUR + ("PALETTE COLOR",):
        raise DicomError(f"{path}: PhotometricInterpretation (0028,0004) {photometric!r} "
                         "is not supported (monochrome, RGB, YBR or palette colour)")
    if (samples == 3) != (photometric in _COLOUR):
        raise DicomError(f"{path}: SamplesPerPixel (0028,0002) {samples} does not fit "
                         f"PhotometricInterpretation (0028,0004) {photometric}")
    bits = _bits_stored(ds)
    if photometric != "PALETTE COLOR" and bits > 8:
        # As the PNG path: gray values are 8-bit; a windowing choice would be a guess.
        raise DicomError(f"{path}: BitsStored (0028,0101) {bits}; hc-tf measures 8-bit "
                         "ultrasound pixels")


def _bits_stored(ds: Any) -> int:
    return int(ds.get("BitsStored", 8) or 8)


def short(err: Exception, limit: int = 160) -> str:
    """An exception's words on one line, cut to `limit` characters, for a refusal's message."""
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def frame_numbers(header: Header, frame: Optional[int]) -> Tuple[int, ...]:
    """The 1-based frames to measure: `frame`, or every frame when None.

    Raises:
      DicomError: for a frame the file does not have.
    """
    if frame is None:
        return tuple(range(1, header.frames + 1))
    if not 1 <= int(frame) <= header.frames:
        raise DicomError(f"{header.path}: no frame {frame} (NumberOfFrames (0028,0008) is "
                         f"{header.frames})")
    return (int(frame),)


def read_pixels(header: Header) -> Any:
    """The whole dataset with its pixel data (bounded by MAX_INPUT_BYTES on disk and, when
    deflated, inflated).

    Raises:
      DicomError: for a file with no Pixel Data (7FE0,0010) or that cannot be read.
    """
    _pydicom()
    try:
        ds = _dcmread(header.path)
    except DicomError:
        raise
    except Exception as err:  # noqa: BLE001
        raise DicomError(f"{header.path}: not a readable DICOM file ({short(err)})") from None
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise DicomError(f"{header.path}: no Pixel Data (7FE0,0010)")
    return ds


def _jpeg_frame_sizes(data: bytes) -> Optional[Tuple[Tuple[int, int, int, int], ...]]:
    """(rows, columns, components, sample precision in bits) of each frame header (SOFn, DHP,
    JPEG-LS SOF55) of a JPEG or JPEG-LS codestream, read by walking its markers without
    decoding.

    None when it does not start with SOI, has no frame header, a marker is not where one must
    be, or a DNL or an LSE oversize segment could set a size the frame header does not say.
    """
    if not data.startswith(b"\xff\xd8"):
        return None
    pos, sizes = 2, []
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # a fill byte before a marker
            pos += 1
            continue
        if marker == _JPEG_EOI:
            break
        if marker in _JPEG_NO_LENGTH:
            pos += 2
            continue
        if marker == _JPEG_DNL or (marker == _JPEG_LSE and data[pos + 4:pos + 5] ==
                                   bytes([_LSE_OVERSIZE])):
            return None
        if marker in _JPEG_FRAME_HEADERS:
            if pos + 10 > len(data):
                return None
            rows, columns = struct.unpack(">HH", data[pos + 5:pos + 9])
            sizes.append((rows, columns, data[pos + 9], data[pos + 4]))
        pos += 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker == _JPEG_SOS:  # entropy-coded data runs to the next marker
            found = _MARKER_AFTER_SCAN.search(data, pos)
            pos = found.start() if found else len(data)
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


def check_codestream(header: Header, ds: Any, frame: int, where: str) -> None:
    """Refuses a compressed frame whose codestream declares another size than Rows x Columns x
    SamplesPerPixel, before decoding: decoders allocate what the codestream says (a 64 x 64
    header over an 8000 x 8000 JPEG decoded 8000 x 8000), and read_header bounded the header's.

    Raises:
      DicomError: naming the file and frame.
    """
    from pydicom import uid
    from pydicom.encaps import get_frame
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if syntax is None or syntax in uid.UncompressedTransferSyntaxes:
        return  # native frames are Rows x Columns
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
        raise DicomError(f"{where}: pixel data cannot be decoded ({short(err)})") from None
    if rle:
        _check_rle_segments(data, header.rows * header.columns, where)
        return
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
        return
    deepest, bits = max(s[3] for s in sizes), _bits_stored(ds)
    if deepest > bits:
        raise DicomError(f"{where}: the codestream's samples are {deepest}-bit but BitsStored "
                         f"(0028,0101) says {bits}; refused before decoding")


def uids(header: Header) -> dict:
    """The UIDs that reference the image (study, series, instance, SOP class); no patient data."""
    ds = header.dataset
    return {"study_instance_uid": str(ds.get("StudyInstanceUID", "")),
            "series_instance_uid": str(ds.get("SeriesInstanceUID", "")),
            "sop_instance_uid": str(ds.get("SOPInstanceUID", "")),
            "sop_class_uid": str(ds.get("SOPClassUID", ""))}


def missing_uids(header: Header, keys: Sequence[str] = ("study_instance_uid",
                                                        "sop_instance_uid",
                                                        "sop_class_uid")) -> Tuple[str, ...]:
    """Which referencing UIDs the file lacks (an SR cannot point at it without them)."""
    found = uids(header)
    return tuple(k for k in keys if not found[k])
