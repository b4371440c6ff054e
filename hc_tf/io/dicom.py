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
    """No warning and no pydicom or highdicom log line below CRITICAL inside the block: they
    quote the values they find invalid (a UID with a leading zero, a name without '^', a date),
    pydicom's decoders log each failure with its traceback before raising it, and stderr is a
    log (the node's, a batch job's). What fails inside reaches the caller as an exception, said
    in hc-tf's words."""
    logs = [logging.getLogger(name) for name in ("pydicom", "highdicom")]
    with images.WARNINGS_LOCK, warnings.catch_warnings():  # (process-wide state)
        warnings.simplefilter("ignore")
        levels = [log.level for log in logs]
        for log in logs:
            log.setLevel(logging.CRITICAL)
        try:
            yield
        finally:
            for log, level in zip(logs, levels):
                log.setLevel(level)


# The app says these in the same words (frames.js, deflated.js).
ALLOCATED_8_OR_16 = "hc-tf reads 8- or 16-bit allocated pixels"
CUT_STREAM = "the deflate stream ends before its last block (cut short?)"


def _check_size(path: str) -> None:
    try:
        size, limit = os.path.getsize(path), images.max_input_bytes()  # HC_TF_MAX_INPUT_BYTES
    except FileNotFoundError:  # "[Errno 2] ..." named neither the problem nor a link's
        raise images.missing_file_error(path) from None
    if size == 0:  # not "no 'DICM' marker ... truncated, or saved without the preamble"
        raise DicomError(f"{path}: empty file")
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
      DicomError: naming the file, when it inflates past `limit`, is not a deflate stream or
        ends before its last block.
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
    if not inflater.eof:  # zlib hands back what a stream cut short holds, without a word
        raise DicomError(f"{path}: not a readable DICOM file (deflated dataset: {CUT_STREAM})")


def _dcmread(path: str, stop_before_pixels: bool = False) -> Any:
    """`pydicom.dcmread`, except that a deflated dataset is inflated here under the byte limit
    and that the header is first counted (`dicom_header_scan`).

    pydicom 3 inflates a Deflated Explicit VR Little Endian file whole (zlib.decompress) before
    anything can be checked, and deflate reaches about 1000:1; the node accepts the syntax.
    """
    pydicom = _pydicom()
    from pydicom import filereader
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.filebase import DicomBytesIO

    from hc_tf.io.dicom_header_scan import HeaderScan, encoding  # it imports DicomError

    # Elements and items counted before pydicom holds each one. read_header's read walks the
    # whole file, past the pixel data too; read_pixels rereads the file read_header checked.
    walk = HeaderScan(path).walk if stop_before_pixels else (lambda *args, **kwargs: None)
    with open(path, "rb") as f:
        try:
            preamble = filereader.read_preamble(f, False)
        except pydicom.errors.InvalidDicomError:  # pydicom's own words advise force=True
            raise DicomError(f"{path}: {NO_PREAMBLE}") from None
        # The file meta group is always explicit VR little endian (PS3.10 7.1), never deflated.
        meta_start = f.tell()
        walk(f, implicit=False, little_endian=True, meta_only=True)
        f.seek(meta_start)
        meta = FileMetaDataset(filereader.read_dataset(
            f, is_implicit_VR=False, is_little_endian=True,
            stop_when=lambda tag, vr, length: tag >> 16 != 2))
        syntax = meta.get("TransferSyntaxUID")
        if syntax != DEFLATED:
            walk(f, *encoding(syntax, f))
            return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
        body = DicomBytesIO()
        _inflate(f, body, path, images.max_input_bytes())
    body.seek(0)
    walk(body, implicit=False, little_endian=True)
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
            _remove_private_tags(ds)
    except DicomError:
        raise
    except PermissionError:  # not the file's fault: as an image file's (images.read_file_bytes)
        raise DicomError(f"{path}: permission denied (this user may not read it)") from None
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
    if photometric == "PALETTE COLOR":  # a header limit, checked once for every frame
        from hc_tf.io import dicom_palette  # it imports DicomError from here
        dicom_palette.check_palette(ds, path)
    return Header(path, ds, rows, columns, frames, samples, photometric)


def _remove_private_tags(ds: Any) -> None:
    """Drops the vendors' private fields at every level (never needed, and they may identify),
    converting every other element (sequences too: later reads of the header warn no more).
    A loop, not pydicom's recursive `walk` (the scan bounded the depth, but each recursion
    level formats the traceback of the one below when something fails)."""
    items = [ds]
    while items:
        item = items.pop()
        for tag in [tag for tag in item.keys() if tag.is_private]:
            del item[tag]
        for element in item:  # converts it (a sequence: its items, one level)
            if element.VR == "SQ" and element.value:
                items.extend(element.value)


def _check_pixel_format(ds: Any, path: str, photometric: str, samples: int) -> None:
    if photometric not in _GRAY + _COLOUR + ("PALETTE COLOR",):
        raise DicomError(f"{path}: PhotometricInterpretation (0028,0004) {photometric!r} "
                         "is not supported (monochrome, RGB, YBR or palette colour)")
    if (samples == 3) != (photometric in _COLOUR):
        raise DicomError(f"{path}: SamplesPerPixel (0028,0002) {samples} does not fit "
                         f"PhotometricInterpretation (0028,0004) {photometric}")
    # The Image Pixel module's own integers (PS3.3 C.7.6.3, Type 1), one number each: pydicom
    # needs them to decode, and a damaged one (two values, none) is named here, before it.
    allocated = _int_tag(ds, "BitsAllocated", "(0028,0100)", path)
    if allocated not in (8, 16):  # 1-bit packed is a segmentation or overlay, never an image
        raise DicomError(f"{path}: BitsAllocated (0028,0100) {allocated}; {ALLOCATED_8_OR_16}")
    bits = bits_stored(ds, path)
    signed = _flag_tag(ds, "PixelRepresentation", "(0028,0103)", path) == 1
    if samples > 1:
        _flag_tag(ds, "PlanarConfiguration", "(0028,0006)", path)
    if photometric != "PALETTE COLOR" and bits > 8:
        # As the PNG path: gray values are 8-bit; a windowing choice would be a guess.
        raise DicomError(f"{path}: BitsStored (0028,0101) {bits}; hc-tf measures 8-bit "
                         "ultrasound pixels")
    from hc_tf.io import dicom_pixel_values  # it imports DicomError from here
    dicom_pixel_values.check_modality(ds, path, bits, signed)  # pixels are measured as stored


def _flag_tag(ds: Any, keyword: str, tag: str, path: str) -> int:
    value = ds.get(keyword)
    if isinstance(value, int) and value in (0, 1):
        return value
    raise DicomError(f"{path}: {keyword} {tag} missing or not 0 or 1")


def bits_stored(ds: Any, path: str) -> int:
    """BitsStored (0028,0101), one number of at least 1.

    Raises:
      DicomError: naming the file, for a value missing, not one number or 0.
    """
    return _int_tag(ds, "BitsStored", "(0028,0101)", path)


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
      DicomError: for a file with no Pixel Data (7FE0,0010) or that cannot be read, or whose
        offset tables do not point at its fragments (`dicom_offsets`).
    """
    _pydicom()
    try:
        with quiet():  # pydicom warns of damage it reads past, naming values
            ds = _dcmread(header.path)
    except DicomError:
        raise
    except Exception as err:  # noqa: BLE001
        raise DicomError(f"{header.path}: not a readable DICOM file ({short(err)})") from None
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise DicomError(f"{header.path}: no Pixel Data (7FE0,0010)")
    from hc_tf.io import dicom_offsets  # it imports DicomError from here
    dicom_offsets.check_offset_tables(ds, header.frames, header.path)  # before a frame is split
    return ds


# A UID as PS3.5 9.1 has it, dotted numbers of at most 64 characters, but for the leading
# zeros older scanners write in a component (their SRs are made, as PACS take them).
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")


def valid_uid(value: str) -> str:
    """`value` when it is a UID (`_UID`), else "": a sender's text such as `../../x` or
    `=cmd|...` is no reference (an SR, a FHIR urn:oid, an exam's id would carry it as one)."""
    return value if len(value) <= 64 and _UID.fullmatch(value) else ""


def uids(header: Header) -> dict:
    """The UIDs that reference the image (study, series, instance, SOP class); no patient data.
    One that is absent or not a UID (`valid_uid`) is ""."""
    ds = header.dataset
    return {key: valid_uid(str(ds.get(keyword, "")).strip("\0 "))
            for key, keyword in (("study_instance_uid", "StudyInstanceUID"),
                                 ("series_instance_uid", "SeriesInstanceUID"),
                                 ("sop_instance_uid", "SOPInstanceUID"),
                                 ("sop_class_uid", "SOPClassUID"))}


def missing_uids(header: Header, keys: Sequence[str] = ("study_instance_uid",
                                                        "sop_instance_uid",
                                                        "sop_class_uid")) -> Tuple[str, ...]:
    """Which referencing UIDs the file lacks, or holds as no UID (an SR cannot point at it
    without them)."""
    found = uids(header)
    return tuple(k for k in keys if not found[k])
