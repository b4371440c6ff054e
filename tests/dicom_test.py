"""DICOM reading and calibration (hc_tf/io/dicom*.py) on real files and crafted bad ones."""

import os
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")

from hc_tf import defaults  # noqa: E402
from hc_tf.io import dicom  # noqa: E402
from hc_tf.io import dicom_calibration as cal  # noqa: E402
from hc_tf.io import dicom_pixel_size as pix  # noqa: E402
from hc_tf.io import dicom_codestream  # noqa: E402
from hc_tf.io import dicom_frames  # noqa: E402
from hc_tf.io import dicom_palette  # noqa: E402
from hc_tf.measure import Ellipse  # noqa: E402
from tests import dicom_files  # noqa: E402
from tests.jpeg_check_test import with_scans  # noqa: E402


def real(name):
    from pydicom.data import get_testdata_file
    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"{name}: pydicom-data is not installed (the [test] extra)")
    return path


def calibration_of(path, frame=1):
    return cal.read_calibration(dicom.read_header(path), frame)


def head_at(cx, cy, a=40.0, b=30.0):
    return Ellipse(cx, cy, a, b, 0.3)


# (file, head centre, expected pixel size mm) : the scanner's calibration, found.
CALIBRATED = [
    ("examples_palette.dcm", (450, 200), 0.2622878766196998),
    ("OBXXXX1A.dcm", (450, 300), 0.2622878766196998),
    ("OBXXXX1A_expb.dcm", (450, 300), 0.2622878766196998),
    ("OBXXXX1A_rle.dcm", (450, 300), 0.2622878766196998),
    ("OBXXXX1A_2frame.dcm", (450, 300), 0.2622878766196998),
    ("gdcm-US-ALOKA-16.dcm", (180, 220), 0.3826530650258064),  # left pane
    ("gdcm-US-ALOKA-16_big.dcm", (490, 220), 0.3826530650258064),  # right pane
    ("JPGLosslessP14SV1_1s_1f_8b.dcm", (500, 400), 0.25476696592378157),
    ("color3d_jpeg_baseline.dcm", (340, 220), 0.5104970559477806),
]


@pytest.mark.parametrize("name,centre,expected", CALIBRATED)
def test_real_files_give_the_scanners_pixel_size(name, centre, expected):
    c = calibration_of(real(name))
    choice = pix.choose_pixel_size(c, head_at(*centre))
    assert choice.source == pix.SOURCE_REGION
    assert choice.pixel_size_mm == pytest.approx(expected, rel=1e-12)
    assert "(0018,6011)" in choice.note


def test_a_region_past_the_image_is_clipped_and_a_waveform_region_is_no_candidate():
    c = calibration_of(real("examples_palette.dcm"))  # 350 rows; the 2D region says 518
    assert [r.box for r in c.regions] == [(120, 60, 799, 349)]
    with pytest.raises(dicom.DicomError, match=r"lies in no 2D region of \(0018,6011\)"):
        pix.choose_pixel_size(c, head_at(60, 200))  # left of the 2D region


def test_dual_pane_head_across_both_panes_is_refused():
    c = calibration_of(real("gdcm-US-ALOKA-16.dcm"))
    assert len(c.regions) == 2  # the gray bar region (type 13) is no candidate
    with pytest.raises(dicom.DicomError, match="across two 2D regions") as err:
        pix.choose_pixel_size(c, head_at(330, 220, 60, 50))
    assert "gdcm-US-ALOKA-16.dcm" in str(err.value)


@pytest.mark.parametrize("name", ["US1_UNCR.dcm", "US1_UNCI.dcm", "US1_J2KR.dcm",
                                  "US1_J2KI.dcm", "examples_rgb_color.dcm",
                                  "examples_jpeg2k.dcm"])
def test_files_without_calibration_are_refused_unless_typed(name):
    path = real(name)
    c = calibration_of(path)
    with pytest.raises(dicom.DicomError, match=r"no Sequence of Ultrasound Regions \(0018,6011\) "
                                               r"and no PixelSpacing \(0028,0030\)"):
        pix.choose_pixel_size(c, head_at(200, 150))
    choice = pix.choose_pixel_size(c, head_at(200, 150), typed_mm=0.2)
    assert (choice.source, choice.pixel_size_mm) == (pix.SOURCE_TYPED, 0.2)


def test_typed_pixel_size_that_disagrees_is_refused_unless_overridden():
    c = calibration_of(real("OBXXXX1A.dcm"))
    head = head_at(450, 300)
    with pytest.raises(dicom.DicomError, match="disagrees with the file's calibration .*"
                                               "--override-dicom-calibration"):
        pix.choose_pixel_size(c, head, typed_mm=0.3)
    agreed = pix.choose_pixel_size(c, head, typed_mm=0.2623)
    assert agreed.source == pix.SOURCE_REGION and "agrees" in agreed.note
    forced = pix.choose_pixel_size(c, head, typed_mm=0.3, override=True)
    assert (forced.source, forced.pixel_size_mm) == (pix.SOURCE_OVERRIDE, 0.3)
    assert forced.file_pixel_size_mm == pytest.approx(0.26228787661969977)


REAL = [n for n, _, _ in CALIBRATED] + ["US1_UNCR.dcm", "US1_UNCI.dcm", "US1_J2KR.dcm",
                                         "US1_J2KI.dcm", "examples_rgb_color.dcm",
                                         "examples_jpeg2k.dcm"]


@pytest.mark.parametrize("name", REAL)
def test_every_real_file_decodes_to_8_bit_gray(name):
    path = real(name)
    header = dicom.read_header(path)
    frame = min(header.frames, 2)  # color3d has 120: two are enough to show the way
    [(_, n, gray)] = list(dicom_frames.iter_frames(path, frame=frame))
    assert n == frame and gray.shape == (header.rows, header.columns) and gray.dtype == np.uint8
    assert gray.max() > gray.min()  # an image, not a blank


def test_uncompressed_and_jpeg_2000_lossless_decode_alike():
    a = next(dicom_frames.iter_frames(real("US1_UNCR.dcm")))[2]
    b = next(dicom_frames.iter_frames(real("US1_J2KR.dcm")))[2]
    assert np.array_equal(a, b)


def test_decoding_is_the_same_in_every_transfer_syntax():
    frames = [next(dicom_frames.iter_frames(real(n)))[2]
              for n in ("OBXXXX1A.dcm", "OBXXXX1A_expb.dcm", "OBXXXX1A_rle.dcm")]
    assert frames[0].dtype == np.uint8 and frames[0].mean() > 5  # not a blank image
    assert np.array_equal(frames[0], frames[1]) and np.array_equal(frames[0], frames[2])


@pytest.mark.parametrize("name", ["SC_ybr_full_uncompressed.dcm", "SC_ybr_full_422_uncompressed.dcm"])
def test_stored_ybr_becomes_gray_by_dicoms_equations(name):
    """Uncompressed YBR (and RLE's) is converted by dicom_frames.ybr_full_to_rgb (YBR_FULL_422's
    chroma repeated by pydicom first), then to gray by the PNG rule; pydicom's own conversion
    gives the same gray within one level."""
    from pydicom.pixels import pixel_array
    path = real(name)
    gray = next(dicom_frames.iter_frames(path))[2]
    ybr = pixel_array(path, as_rgb=False)
    assert np.array_equal(gray, cv2.cvtColor(dicom_frames.ybr_full_to_rgb(ybr), cv2.COLOR_RGB2GRAY))
    by_pydicom = cv2.cvtColor(pixel_array(path, as_rgb=True), cv2.COLOR_RGB2GRAY)
    assert np.abs(gray.astype(int) - by_pydicom).max() <= 1


def test_ybr_conversion_is_pydicoms_within_a_level_in_every_colour():
    """In float64, one operation at a time (the web app's port gives the same bytes), where
    pydicom multiplies float32 matrices through BLAS: one level apart in a few colours (42 of
    2^24 on an AVX-512 EPYC), never more."""
    from pydicom.pixels import convert_color_space
    every = np.stack(np.meshgrid(*[np.arange(256, dtype=np.uint8)] * 3, indexing="ij"), -1)
    every = every.reshape(4096, 4096, 3)
    diff = np.abs(dicom_frames.ybr_full_to_rgb(every).astype(int)
                  - convert_color_space(every, "YBR_FULL", "RGB"))
    assert diff.max() <= 1 and (diff.max(-1) > 0).sum() < 1000


def test_palette_colour_becomes_gray_by_the_png_rule():
    from pydicom.pixels import apply_color_lut, pixel_array
    path = real("OBXXXX1A.dcm")
    ds = pydicom.dcmread(path)
    rgb = (apply_color_lut(pixel_array(ds), ds) >> 8).astype(np.uint8)
    expected = cv2.cvtColor(rgb[:, :, ::-1].copy(), cv2.COLOR_BGR2GRAY)  # as a PNG is read
    assert np.array_equal(next(dicom_frames.iter_frames(path))[2], expected)


@pytest.mark.parametrize("bits,big_endian", [(16, False), (16, True), (8, False), (8, True)])
def test_a_segmented_palette_is_counted_as_pydicom_expands_it(bits, big_endian):
    """dicom_palette.check_palette counts without expanding: its count is the length of pydicom's
    expansion, indirect segments (and 8-bit offsets in either byte order) included."""
    from pydicom.pixels.processing import _expand_segmented_lut
    for words in dicom_files.segmented_palette_words(bits, big_endian):
        fmt = f"{'>' if big_endian else '<'}{len(words)}{'B' if bits == 8 else 'H'}"
        assert dicom_palette._segmented_size(list(words), bits == 8, not big_endian) == len(
            _expand_segmented_lut(tuple(words), fmt)) == 256


@pytest.mark.parametrize("name", dicom_files.SEGMENTED_BOMBS)
def test_a_segmented_palette_bomb_is_refused_before_it_is_expanded(tmp_path, monkeypatch, name):
    import pydicom.pixels.processing
    red, expected = dicom_files.SEGMENTED_BOMBS[name]
    _, green, blue = dicom_files.segmented_palette_words(16)
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8)
    path = dicom_files.save(dicom_files.segmented_palette_dataset(gray, [red, green, blue]),
                            str(tmp_path / f"{name}.dcm"))
    expanded = []
    monkeypatch.setattr(pydicom.pixels.processing, "_expand_segmented_lut",
                        lambda *a, **k: expanded.append(a) or [])
    with pytest.raises(dicom.DicomError, match=rf"{name}\.dcm: the segmented red palette "
                                               rf"\(0028,122x\) {expected}; refused before decoding"):
        list(dicom_frames.iter_frames(path))
    assert expanded == []


@pytest.mark.parametrize("depth", [16, 17, 1000])
def test_sequences_nested_too_deep_are_refused_before_pydicom_reads_them(tmp_path, monkeypatch,
                                                                        depth):
    """A header nesting more than MAX_SEQUENCE_DEPTH sequences is refused naming the file, by
    the header scan, before pydicom reads a sequence: 1,000 levels (a 21 KB file) had made a
    recursive walk of the header take 17 GB in a minute, each level formatting the traceback
    of the one below."""
    from pydicom import filereader
    path = dicom_files.save_deep(dicom_files.nested_dataset(depth), str(tmp_path / "deep.dcm"))
    if depth <= defaults.MAX_SEQUENCE_DEPTH:
        assert dicom.read_header(path).rows == 16
        return
    monkeypatch.setattr(filereader, "read_sequence", lambda *a, **k: pytest.fail("read"))
    with pytest.raises(dicom.DicomError, match=r"deep\.dcm: sequences nested more than 16 deep "
                                               r"\(an ultrasound image nests 2 or 3; \(0008,1140\)"):
        dicom.read_header(path)


def test_multi_frame_jpeg_ybr_decodes_the_frame_asked_for():
    path = real("color3d_jpeg_baseline.dcm")
    header = dicom.read_header(path)
    assert (header.frames, header.photometric) == (120, "YBR_FULL_422")
    [(_, n, gray)] = list(dicom_frames.iter_frames(path, frame=60))
    assert n == 60 and gray.shape == (480, 640) and gray.dtype == np.uint8
    with pytest.raises(dicom.DicomError, match=r"no frame 121 \(NumberOfFrames \(0028,0008\)"):
        list(dicom_frames.iter_frames(path, frame=121))


def test_dicom_is_found_by_content_not_by_name(tmp_path):
    plain = tmp_path / "IM0001"
    shutil.copy(real("OBXXXX1A.dcm"), plain)
    assert dicom.is_dicom(str(plain))
    assert not dicom.is_dicom(dicom_files.head_png("000_HC.png"))


# --- crafted bad files: each refused in one line that names the file and the problem -------

def _head_file(tmp_path, name="bad.dcm", **kw):
    gray = np.full((60, 80), 50, np.uint8)
    regions = kw.pop("regions", [dicom_files.region((0, 0, 79, 59), 0.2)])
    return dicom_files.save(dicom_files.dataset([gray], regions=regions, **kw),
                            str(tmp_path / name))


def _refusal(path, head=(40, 30)):
    with pytest.raises(dicom.DicomError) as err:
        c = calibration_of(path)
        list(dicom_frames.iter_frames(path))
        pix.choose_pixel_size(c, head_at(*head, a=10, b=8))
    message = str(err.value)
    assert "\n" not in message and os.path.basename(path) in message
    return message


def test_crafted_calibration_refusals(tmp_path):
    assert "no Sequence of Ultrasound Regions (0018,6011)" in _refusal(
        _head_file(tmp_path, "none.dcm", regions=None))
    assert "(0018,6024/6026) are seconds/cm, not cm (3)" in _refusal(
        _head_file(tmp_path, "unit4.dcm", regions=[
            dicom_files.region((0, 0, 79, 59), 0.2, units=(4, 3))]))
    assert "PhysicalDeltaY (0018,602E) 0.025 cm differ by more than 1%" in _refusal(
        _head_file(tmp_path, "aniso.dcm", regions=[
            dicom_files.region((0, 0, 79, 59), 0.2, delta_y_mm=0.25)]))
    assert "no 2D tissue region" in _refusal(_head_file(tmp_path, "mmode.dcm", regions=[
        dicom_files.region((0, 0, 79, 59), 0.2, spatial=2)]))
    assert "across two 2D regions" in _refusal(_head_file(tmp_path, "panes.dcm", regions=[
        dicom_files.region((0, 0, 39, 59), 0.2), dicom_files.region((40, 0, 79, 59), 0.2)]))



def _with(setter, regions=True):
    def make(ds):
        setter(ds.SequenceOfUltrasoundRegions[0] if regions else ds)
    return make


def _per_frame_spacing(ds):
    from pydicom.dataset import Dataset
    measures, group = Dataset(), Dataset()
    measures.PixelSpacing = 0.2  # one value
    group.PixelMeasuresSequence = [measures]
    ds.PerFrameFunctionalGroupsSequence = [group]


# Empty or wrongly counted values: pydicom reads them as None or a bare number, which int(),
# float() and unpacking turned into a TypeError traceback (or a ValueError naming no tag).
MALFORMED_CALIBRATION = [
    ("spatial_empty.dcm", _with(lambda r: setattr(r, "RegionSpatialFormat", None)),
     "region 1 of (0018,6011): RegionSpatialFormat (0018,6012) is empty"),
    ("type_two.dcm", _with(lambda r: setattr(r, "RegionDataType", [1, 1])),
     "RegionDataType (0018,6014) is not one number"),
    ("box_empty.dcm", _with(lambda r: setattr(r, "RegionLocationMaxX1", None)),
     "RegionLocationMaxX1 (0018,601C) is empty"),
    ("units_empty.dcm", _with(lambda r: setattr(r, "PhysicalUnitsXDirection", None)),
     "PhysicalUnitsXDirection (0018,6024) is empty"),
    ("delta_empty.dcm", _with(lambda r: setattr(r, "PhysicalDeltaY", None)),
     "PhysicalDeltaY (0018,602E) is empty"),
    ("ps_one.dcm", _with(lambda d: setattr(d, "PixelSpacing", 0.2), regions=False),
     "PixelSpacing (0028,0030) has 1 value(s); must be 2"),
    ("ps_three.dcm", _with(lambda d: setattr(d, "PixelSpacing", [0.2] * 3), regions=False),
     "PixelSpacing (0028,0030) has 3 value(s); must be 2"),
    ("ps_empty.dcm", _with(lambda d: setattr(d, "PixelSpacing", None), regions=False),
     "PixelSpacing (0028,0030) is empty"),
    ("ps_frame.dcm", _per_frame_spacing,
     "Per-frame Functional Groups (5200,9230) item 1: PixelSpacing (0028,0030) has 1 value"),
]


@pytest.mark.parametrize("name,make,expected", MALFORMED_CALIBRATION)
def test_empty_or_miscounted_calibration_values_are_one_line(tmp_path, name, make, expected):
    regions = None if name.startswith("ps_") else [dicom_files.region((0, 0, 79, 59), 0.2)]
    ds = dicom_files.dataset([np.full((60, 80), 50, np.uint8)], regions=regions)
    make(ds)
    assert expected in _refusal(dicom_files.save(ds, str(tmp_path / name)))

def test_anisotropic_within_tolerance_is_accepted(tmp_path):
    path = _head_file(tmp_path, regions=[dicom_files.region((0, 0, 79, 59), 0.2,
                                                              delta_y_mm=0.2019)])
    assert pix.choose_pixel_size(calibration_of(path), head_at(40, 30, 10, 8)).pixel_size_mm == \
        pytest.approx(0.20095)


def test_pixel_spacing_is_used_only_without_regions_and_says_so(tmp_path):
    ds = dicom_files.dataset([np.full((60, 80), 50, np.uint8)])
    ds.PixelSpacing = [0.15, 0.15]
    choice = pix.choose_pixel_size(calibration_of(dicom_files.save(ds, str(tmp_path / "ps.dcm"))),
                                   head_at(40, 30, 10, 8))
    assert (choice.source, choice.pixel_size_mm) == (pix.SOURCE_PIXEL_SPACING, 0.15)
    assert "not ultrasound calibration" in choice.note
    ds.SequenceOfUltrasoundRegions = [dicom_files.region((0, 0, 79, 59), 0.2)]
    choice = pix.choose_pixel_size(calibration_of(dicom_files.save(ds, str(tmp_path / "b.dcm"))),
                                   head_at(40, 30, 10, 8))
    assert (choice.source, choice.pixel_size_mm) == (pix.SOURCE_REGION, pytest.approx(0.2))


def test_per_frame_calibration_that_differs_is_refused(tmp_path):
    from pydicom.dataset import Dataset
    frames = [np.full((60, 80), v, np.uint8) for v in (40, 60)]
    ds = dicom_files.dataset(frames, regions=[dicom_files.region((0, 0, 79, 59), 0.2)])
    groups = []
    for spacing in (0.2, 0.3):
        measures, group = Dataset(), Dataset()
        measures.PixelSpacing = [spacing, spacing]
        group.PixelMeasuresSequence = [measures]
        groups.append(group)
    ds.PerFrameFunctionalGroupsSequence = groups
    path = dicom_files.save(ds, str(tmp_path / "perframe.dcm"))
    with pytest.raises(dicom.DicomError, match="calibration differs between frames"):
        pix.provisional_pixel_size(calibration_of(path, 2), None, False)
    del ds.SequenceOfUltrasoundRegions  # no regions: each frame's own PixelSpacing is known
    path = dicom_files.save(ds, str(tmp_path / "perframe_ps.dcm"))
    assert calibration_of(path, 2).pixel_spacing_mm == pytest.approx(0.3)


def test_truncated_file_is_one_line(tmp_path):
    path = _head_file(tmp_path, "trunc.dcm")
    data = open(path, "rb").read()
    open(path, "wb").write(data[:-1500])
    message = _refusal(path)
    assert "trunc.dcm" in message and ("pixel data" in message or "not a readable" in message)


def test_a_file_without_a_transfer_syntax_is_refused_in_words(tmp_path):
    """A file meta group that lost its TransferSyntaxUID: pydicom reads the header by its first
    element's look, but the pixels' encoding is not known; refused naming the tag (pydicom's
    "UID is not a transfer syntax." came through as a bare ValueError)."""
    import struct
    path = _head_file(tmp_path, "nots.dcm")
    data = open(path, "rb").read()
    at = data.index(b"\x02\x00\x10\x00UI")
    length = struct.unpack_from("<H", data, at + 6)[0]
    group_length = struct.unpack_from("<I", data, 140)[0] - 8 - length
    stripped = data[:140] + struct.pack("<I", group_length) + data[144:at] + data[at + 8 + length:]
    open(path, "wb").write(stripped)
    with pytest.raises(dicom.DicomError) as err:
        list(dicom_frames.iter_frames(path))
    assert str(err.value) == (f"{path}: no TransferSyntaxUID (0002,0010) in its file meta "
                              "information: how its pixel data is encoded is not known")


def test_huge_dimensions_are_refused_before_decoding(tmp_path):
    ds = dicom_files.dataset([np.zeros((4, 4), np.uint8)],
                             regions=[dicom_files.region((0, 0, 3, 3), 0.2)])
    ds.Rows = ds.Columns = 60000  # the pixel data stays 16 bytes: a decompression bomb's header
    path = dicom_files.save(ds, str(tmp_path / "huge.dcm"))
    with pytest.raises(dicom.DicomError, match=f"over the {defaults.MAX_INPUT_PIXELS}-pixel"):
        dicom.read_header(path)


def test_too_many_frames_are_refused_before_decoding(tmp_path):
    ds = dicom_files.dataset([np.zeros((1000, 1000), np.uint8)])
    ds.NumberOfFrames = 1000
    path = dicom_files.save(ds, str(tmp_path / "frames.dcm"))
    with pytest.raises(dicom.DicomError, match="1000 frames .* would decode to"):
        dicom.read_header(path)



def test_decoded_size_bound_follows_the_byte_limit_override(tmp_path, monkeypatch):
    ds = dicom_files.dataset([np.zeros((100, 100), np.uint8)])
    ds.NumberOfFrames = 50  # 500,000 samples claimed; the file itself stays 10 kB
    path = dicom_files.save(ds, str(tmp_path / "claims.dcm"))
    assert dicom.read_header(path).frames == 50
    monkeypatch.setenv("HC_TF_MAX_INPUT_BYTES", "100000")
    with pytest.raises(dicom.DicomError, match=r"claims.dcm: 50 frames .* over the 100000 limit"):
        dicom.read_header(path)


def _deflated(tmp_path, name, extra_zeros=0):
    """A head file in Deflated Explicit VR Little Endian, with `extra_zeros` bytes of zeros in a
    private element (they deflate about 1000:1)."""
    from pydicom.uid import DeflatedExplicitVRLittleEndian
    ds = dicom_files.dataset([np.tile(np.arange(80, dtype=np.uint8), (60, 1))],
                             regions=[dicom_files.region((0, 0, 79, 59), 0.2)])
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    if extra_zeros:
        ds.add_new(0x00090010, "LO", "HCTF TEST")
        ds.add_new(0x00091010, "OB", bytes(extra_zeros))
    return dicom_files.save(ds, str(tmp_path / name))


def test_deflated_file_reads_as_its_explicit_twin(tmp_path):
    path = _deflated(tmp_path, "deflated.dcm")
    [(header, _, gray)] = dicom_frames.iter_frames(path)
    assert (header.rows, header.columns, header.photometric) == (60, 80, "MONOCHROME2")
    np.testing.assert_array_equal(gray, np.tile(np.arange(80, dtype=np.uint8), (60, 1)))
    assert calibration_of(path).regions[0].pixel_size_mm == pytest.approx(0.2)


def test_deflate_bomb_is_refused_before_it_is_inflated(tmp_path, monkeypatch):
    path = _deflated(tmp_path, "bomb.dcm", extra_zeros=4_000_000)
    assert os.path.getsize(path) < 20_000
    monkeypatch.setenv("HC_TF_MAX_INPUT_BYTES", "1000000")  # pydicom inflated all 4 MB
    with pytest.raises(dicom.DicomError, match=r"bomb.dcm: the deflated dataset .* inflates past "
                                               r"the 1000000-byte input limit"):
        dicom.read_header(path)


def test_corrupt_deflate_stream_is_one_line(tmp_path):
    path = Path(_deflated(tmp_path, "corrupt.dcm"))
    data = bytearray(path.read_bytes())
    start = 144 + pydicom.filereader.read_file_meta_info(path).FileMetaInformationGroupLength
    data[start] = 0xFF  # the first deflate block: final, of the reserved type 3
    path.write_bytes(bytes(data))
    with pytest.raises(dicom.DicomError, match="corrupt.dcm: not a readable DICOM file "
                                               r"\(deflated dataset: .*invalid block type"):
        list(dicom_frames.iter_frames(str(path)))


def _encapsulated(tmp_path, name, codestreams, syntax, rows=64, columns=64):
    """A 64 x 64 MONOCHROME2 header over the given encoded frames."""
    from pydicom.encaps import encapsulate
    frames = [np.zeros((rows, columns), np.uint8)] * len(codestreams)
    ds = dicom_files.dataset(frames, regions=[dicom_files.region((0, 0, columns - 1,
                                                                   rows - 1), 0.2)])
    ds.file_meta.TransferSyntaxUID = syntax
    ds.PixelData = encapsulate(codestreams)
    ds["PixelData"].VR = "OB"
    return dicom_files.save(ds, str(tmp_path / name))


def _encoded(ext, shape, value=128):
    ok, data = cv2.imencode(ext, np.full(shape, value, np.uint8))
    assert ok
    return data.tobytes()


def _progressive_jpeg(shape):
    ok, data = cv2.imencode(".jpg", np.full(shape, 128, np.uint8), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok
    return data.tobytes()


def _j2k_codestream(shape):
    """The raw codestream (what DICOM carries) out of OpenCV's JP2 file."""
    jp2 = _encoded(".jp2", shape)
    return jp2[jp2.index(b"\xff\x4f\xff\x51"):]


def _rle_frame(segment):
    """One RLE frame of one segment (PS3.5 G.5: the segment count, 15 offsets, the data)."""
    return (1).to_bytes(4, "little") + (64).to_bytes(4, "little") + bytes(56) + segment


OVERSIZE_FRAMES = [  # (file, frames, transfer syntax, what the message says)
    ("jpeg_big.dcm", lambda: [_encoded(".jpg", (640, 640))], "1.2.840.10008.1.2.4.50",
     "codestream is 640 x 640 x 1"),
    ("jpeg_colour.dcm", lambda: [_encoded(".jpg", (64, 64, 3))], "1.2.840.10008.1.2.4.50",
     "codestream is 64 x 64 x 3"),
    ("jpeg_frame2.dcm", lambda: [_encoded(".jpg", (64, 64)), _encoded(".jpg", (64, 6400))],
     "1.2.840.10008.1.2.4.50", "jpeg_frame2.dcm frame 2: the codestream is 64 x 6400 x 1"),
    ("j2k_big.dcm", lambda: [_j2k_codestream((640, 480))], "1.2.840.10008.1.2.4.90",
     "codestream is 640 x 480 x 1"),
    ("jp2_big.dcm", lambda: [_encoded(".jp2", (480, 640))], "1.2.840.10008.1.2.4.91",
     "codestream is 480 x 640 x 1"),
    ("jpeg_scans.dcm", lambda: [with_scans(_progressive_jpeg((64, 64)), 101)],
     "1.2.840.10008.1.2.4.50", "101 JPEG scans, over the 100-scan input limit"),
    ("jpeg_garbage.dcm", lambda: [b"\xff\xd8garbage"], "1.2.840.10008.1.2.4.50",
     "JPEG codestream has no readable frame size"),
    ("rle_bomb.dcm", lambda: [_rle_frame(b"\x81\x00" * 1000)], "1.2.840.10008.1.2.5",
     "RLE segment expands beyond Rows x Columns (4096 bytes)"),  # 128 000 bytes from 2 000
    ("rle_frame2.dcm", lambda: [_rle_frame(b"\x81\x00" * 32), _rle_frame(b"\x81\x00" * 65)],
     "1.2.840.10008.1.2.5", "rle_frame2.dcm frame 2: an RLE segment expands beyond"),
    ("rle_no_table.dcm", lambda: [bytes(64)], "1.2.840.10008.1.2.5",
     "RLE header has no readable segment table"),
]


@pytest.mark.parametrize("name,frames,syntax,expected", OVERSIZE_FRAMES)
def test_a_frame_is_refused_when_its_codestream_is_not_rows_x_columns(
        tmp_path, monkeypatch, name, frames, syntax, expected):
    """Decoders allocate the codestream's size: a 64 x 64 header over an 8000 x 8000 JPEG
    decoded 8000 x 8000 before pydicom refused it. Now it is refused before any decoder runs."""
    import pydicom.pixels
    codestreams = frames()
    path = _encapsulated(tmp_path, name, codestreams, syntax)
    decoded, decode, turbo = [], pydicom.pixels.pixel_array, dicom_frames._libjpeg_turbo_pixels

    def recorded(src, *, index, **kwargs):
        decoded.append(index)
        return decode(src, index=index, **kwargs)

    def recorded_turbo(codestream, header):  # JPEG Baseline's decoder (libjpeg-turbo)
        decoded.append(codestreams.index(codestream))
        return turbo(codestream, header)

    monkeypatch.setattr(pydicom.pixels, "pixel_array", recorded)
    monkeypatch.setattr(dicom_frames, "_libjpeg_turbo_pixels", recorded_turbo)
    with pytest.raises(dicom.DicomError) as err:
        list(dicom_frames.iter_frames(path))
    assert expected in str(err.value) and name in str(err.value)
    assert decoded == list(range(len(codestreams) - 1))  # the last frame is refused undecoded


@pytest.mark.parametrize("syntax,encode", [
    ("1.2.840.10008.1.2.4.50", lambda: _encoded(".jpg", (64, 64))),
    ("1.2.840.10008.1.2.4.90", lambda: _j2k_codestream((64, 64))),
    ("1.2.840.10008.1.2.4.91", lambda: _encoded(".jp2", (64, 64)))])
def test_a_frame_of_the_headers_size_decodes(tmp_path, syntax, encode):
    [(_, _, gray)] = dicom_frames.iter_frames(_encapsulated(tmp_path, "fits.dcm", [encode()], syntax))
    assert gray.shape == (64, 64) and abs(int(gray.mean()) - 128) <= 2


def _segment(marker, payload):
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def test_jpeg_marker_walk_reads_every_frame_header_and_skips_scan_data():
    sof55 = _segment(0xF7, bytes([8]) + (64).to_bytes(2, "big") * 2 + b"\x01\x01\x11\x00")
    sos = _segment(0xDA, b"\x01\x01\x00\x00\x00\x00")
    app_trap = _segment(0xE0, b"\xff\xc0\x00\x11\x08\xff\xff\xff\xff\x03")  # SOF0-like
    scan = b"\x12\xff\x00\x34\xff\xd0\x56\xff\x7f"  # stuffing, RST0, a JPEG-LS bit stuff
    codestream = b"\xff\xd8" + app_trap + sof55 + sos + scan + b"\xff\xd9"
    assert dicom_codestream._jpeg_frame_sizes(codestream) == ((64, 64, 1, 8),)
    hostile = codestream[:-2] + _segment(0xC1, bytes([12]) + (8000).to_bytes(2, "big") * 2
                                         + b"\x01\x01\x11\x00") + b"\xff\xd9"
    assert dicom_codestream._jpeg_frame_sizes(hostile) == ((64, 64, 1, 8), (8000, 8000, 1, 12))
    assert dicom_codestream._jpeg_frame_sizes(codestream[:-2] + _segment(0xDC, b"\x1f\x40")) is None
    assert dicom_codestream._jpeg_frame_sizes(codestream[:-2] + _segment(0xF8, b"\x04\x04")) is None
    assert dicom_codestream._jpeg_frame_sizes(b"\xff\xd8\xff\xd9") is None  # no frame header

def test_a_12_bit_jpeg_is_refused_whatever_bits_stored_says(tmp_path):
    """JPEG Extended with 12-bit samples: pydicom clears the bits above BitsStored, so under a
    header saying BitsStored 8 the file once decoded with 264 read as 8 (its low byte) and was
    measured. Refused before decoding, naming the tag; the honest header (12) is refused too."""
    path = real("JPGExtended.dcm")  # 1.2.840.10008.1.2.4.51, 12-bit samples, BitsStored 12
    with pytest.raises(dicom.DicomError, match=r"BitsStored \(0028,0101\) 12; hc-tf measures 8"):
        dicom.read_header(path)
    ds = pydicom.dcmread(path)
    for allocated in (16, 8):
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = allocated, 8, 7
        out = dicom_files.save(ds, str(tmp_path / f"j12_{allocated}.dcm"))
        with pytest.raises(dicom.DicomError, match=rf"j12_{allocated}.dcm: the codestream's "
                           r"samples are 12-bit but BitsStored \(0028,0101\) says 8"):
            list(dicom_frames.iter_frames(out))


def test_missing_pixel_data_is_one_line(tmp_path):
    ds = dicom_files.dataset([np.zeros((60, 80), np.uint8)],
                             regions=[dicom_files.region((0, 0, 79, 59), 0.2)])
    del ds.PixelData
    path = dicom_files.save(ds, str(tmp_path / "nopix.dcm"))
    with pytest.raises(dicom.DicomError, match=r"nopix.dcm: no Pixel Data \(7FE0,0010\)"):
        list(dicom_frames.iter_frames(path))


def test_not_dicom_inside_is_one_line(tmp_path):
    path = tmp_path / "fake.dcm"
    path.write_bytes(b"\0" * 128 + b"DICM" + b"garbage" * 10)
    with pytest.raises(dicom.DicomError, match="fake.dcm"):
        dicom.read_header(str(path))


def test_millions_of_tiny_frames_are_refused_before_listing_them(tmp_path):
    ds = dicom_files.dataset([np.zeros((1, 1), np.uint8)])
    ds.NumberOfFrames = 50_000_000
    path = dicom_files.save(ds, str(tmp_path / "many.dcm"))
    with pytest.raises(dicom.DicomError, match=f"over the {defaults.MAX_INPUT_FRAMES}-frame"):
        dicom.read_header(path)


def test_pydicom_data_files_are_found_offline(monkeypatch):
    """pydicom-data registers with pydicom's data manager: its files are found with no network
    (a connection attempt would fail the test)."""
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("pydicom-data tried the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    path = real("gdcm-US-ALOKA-16.dcm")
    assert os.path.isfile(path) and dicom.is_dicom(path)


def test_signed_or_deep_monochrome_is_refused_not_wrapped(tmp_path):
    ds = dicom_files.dataset([np.zeros((60, 80), np.uint8)],
                             regions=[dicom_files.region((0, 0, 79, 59), 0.2)])
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelData = np.full((60, 80), 3000, "<u2").tobytes()
    path = dicom_files.save(ds, str(tmp_path / "deep.dcm"))
    with pytest.raises(dicom.DicomError, match=r"deep.dcm: BitsStored \(0028,0101\) 12"):
        dicom.read_header(path)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 1
    ds.PixelData = np.full((60, 80), -5, np.int8).tobytes()
    for photometric in ("MONOCHROME2", "MONOCHROME1"):  # MONOCHROME1 once wrapped -5 to 4
        ds.PhotometricInterpretation = photometric
        path = dicom_files.save(ds, str(tmp_path / f"signed_{photometric}.dcm"))
        with pytest.raises(dicom.DicomError,
                           match=f"signed_{photometric}.dcm: pixel values are not 8-bit"):
            list(dicom_frames.iter_frames(path))


def test_monochrome1_is_inverted(tmp_path):
    gray = np.tile(np.arange(80, dtype=np.uint8), (60, 1))
    path = dicom_files.save(dicom_files.dataset([gray], photometric="MONOCHROME1"),
                            str(tmp_path / "mono1.dcm"))
    [(_, _, decoded)] = dicom_frames.iter_frames(path)
    np.testing.assert_array_equal(decoded, 255 - gray)


@pytest.mark.parametrize("keyword,value,words", [
    ("BitsStored", [8, 8], r"BitsStored \(0028,0101\) missing or not a number"),
    ("BitsStored", 0, r"BitsStored \(0028,0101\) is 0; must be at least 1"),
    ("Rows", [16, 16], r"Rows \(0028,0010\) missing or not a number"),
    ("PixelRepresentation", 2, r"PixelRepresentation \(0028,0103\) missing or not 0 or 1"),
    ("RedPaletteColorLookupTableDescriptor", None, r"RedPaletteColorLookupTableDescriptor "
                                                   r"\(0028,1101\) is not 3 numbers"),
])
def test_a_damaged_pixel_module_integer_is_refused_in_words(tmp_path, keyword, value, words):
    """Two values where one belongs, none, or one out of range: refused by read_header naming
    the file and the tag (a doubled BitsStored and an empty palette descriptor had stopped
    predict with a TypeError's traceback)."""
    from pydicom import examples
    ds = (pydicom.dcmread(examples.get_path("palette_color")) if keyword.startswith("Red") else
          dicom_files.dataset([np.zeros((16, 16), np.uint8)]))
    ds[keyword].value = value
    path = str(tmp_path / "damaged.dcm")
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(dicom.DicomError, match=rf"damaged\.dcm: {words}"):
        list(dicom_frames.iter_frames(path))


def test_damaged_pixel_data_is_refused_without_a_librarys_warning_or_log_line(tmp_path, caplog):
    """pydicom warned on stderr of damage it read past (naming the file) and its decoders logged
    each failure with a traceback at ERROR: the node's log (a root handler) carried 26 of them
    for 200 damaged copies sent to it. The refusal in hc-tf's words is all that is said."""
    import logging
    import warnings
    from pydicom.encaps import encapsulate, get_frame
    from pydicom.uid import RLELossless
    ds = dicom_files.gray_dataset(sorted(dicom_files.head_pixel_sizes())[0])
    ds.compress(RLELossless)
    ds.PixelData = encapsulate([get_frame(ds.PixelData, 0, number_of_frames=1)[:-60]])
    short_segment = dicom_files.save(ds, str(tmp_path / "short_segment.dcm"))
    no_delimiter = str(tmp_path / "no_delimiter.dcm")  # the encapsulated sequence's end cut off
    Path(no_delimiter).write_bytes(Path(short_segment).read_bytes()[:-8])
    for path, words in ((short_segment, "pixel data cannot be decoded (Unable to decode"),
                        (no_delimiter, "no Pixel Data (7FE0,0010)")):
        with warnings.catch_warnings(record=True) as said, \
                caplog.at_level(logging.DEBUG, logger="pydicom"):
            warnings.simplefilter("always")
            with pytest.raises(dicom.DicomError, match=re.escape(f"{path}: {words}")):
                list(dicom_frames.iter_frames(path))
        assert [str(w.message) for w in said] == []
        assert [r.getMessage() for r in caplog.records if r.name.startswith("pydicom")] == []
        caplog.clear()


@pytest.mark.parametrize("name,words", [
    ("SC_rgb_jls_lossy_sample.dcm", "Invalid JPEG-LS stream"),  # CharLS's
    ("SC_rgb_jpeg.dcm", "the JPEG data is corrupt: "),  # RGB-coded: libjpeg-turbo's, strictly
])
def test_a_damaged_frame_is_refused_not_decoded_by_a_laxer_decoder(tmp_path, name, words):
    """pydicom falls back to its next plugin when one refuses: a JPEG-LS frame with one byte of
    its scan changed, which CharLS refuses, was decoded by pylibjpeg's libjpeg to garbage (every
    such copy of this file), and Pillow decodes an RGB-coded JPEG frame libjpeg-turbo finds
    corrupt. Each syntax now has one decoder (dicom_frames.DECODING_PLUGINS) and the RGB-coded
    JPEG the strict check a JPEG file gets; the undamaged file still reads."""
    from pydicom.data import get_testdata_file
    from pydicom.encaps import encapsulate, get_frame
    from pydicom.pixels import pixel_array
    ds = pydicom.dcmread(get_testdata_file(name))
    frame = get_frame(ds.PixelData, 0, number_of_frames=1)
    at = frame.index(b"\xff\xda") + (20 if "jls" in name else 57)  # inside the scan
    damaged = frame[:at] + bytes([frame[at] ^ 0x5A]) + frame[at + 1:]
    ds.PixelData = encapsulate([damaged])
    lax = "pylibjpeg" if "jls" in name else "pillow"
    size = (ds.Rows, ds.Columns)
    assert pixel_array(ds, decoding_plugin=lax).shape == size + (3,)  # why: it reads on
    path, data = str(tmp_path / name), Path(get_testdata_file(name)).read_bytes()
    Path(path).write_bytes(data.replace(frame, damaged))  # (pydicom cannot write this file)
    with pytest.raises(dicom.DicomError, match=re.escape(f"{path}: pixel data cannot be decoded (")
                       + f".*{re.escape(words)}"):
        list(dicom_frames.iter_frames(path))
    (_, _, gray), = dicom_frames.iter_frames(get_testdata_file(name))
    assert gray.shape == size


def test_jpeg_2000_is_openjpegs_as_in_the_app():
    """Pillow's JPEG 2000 decoder refuses pydicom's valid GDCMJ2K_TextGBR.dcm (YBR_RCT), which
    OpenJPEG (pylibjpeg-openjpeg, and the app's wasm build) reads: the syntax's one decoder."""
    from pydicom.data import get_testdata_file
    (_, _, gray), = dicom_frames.iter_frames(get_testdata_file("GDCMJ2K_TextGBR.dcm"))
    assert gray.ndim == 2 and gray.std() > 0
    assert dicom_frames.DECODING_PLUGINS["1.2.840.10008.1.2.4.90"] == "pylibjpeg"
