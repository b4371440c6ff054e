"""jpeg_lossless_check: JPEG Lossless samples libjpeg made up past a scan's end are refused;
every intact scan (each selection value, restart intervals, 8 and 16 bits, gray and RGB)
passes; a point transform, which libjpeg reads wrong, is refused."""

import shutil
import subprocess

import numpy as np
import pytest

import dicom_files
from lossless_jpeg import image, lossless_jpeg
from hc_tf.io import dicom
from hc_tf.io import dicom_frames
from hc_tf.io.jpeg_lossless_check import (ENDS, MARKER, NOT_CODED, lossless_scan_damage,
                                          point_transform)

def _libjpeg(codestream):
    """pydicom's decoder for JPEG Lossless (pylibjpeg-libjpeg), as predict uses it."""
    from libjpeg import decode
    return decode(codestream)


def _scan_end(codestream):
    return codestream.rindex(b"\xff\xd9")


@pytest.mark.parametrize("predictor", range(1, 8))
@pytest.mark.parametrize("restart_rows", [0, 5])
def test_every_intact_scan_passes_and_libjpeg_reads_it_exactly(predictor, restart_rows):
    """The test's own encoder, checked by libjpeg reading its pixels back, for each selection
    value, with and without restart intervals (every 5 rows of 24: a short last one)."""
    gray = image()
    codestream = lossless_jpeg(gray, predictor, restart_rows)
    decoded = _libjpeg(codestream)
    assert np.array_equal(decoded, gray)
    assert lossless_scan_damage(codestream, decoded) is None


def test_a_point_transform_is_read_and_refused_because_libjpeg_reads_it_wrong(tmp_path):
    """T.81 starts a point-transformed scan's prediction at 2^(P-Pt-1); pydicom's libjpeg at
    2^(P-1), so every sample comes out shifted (Pt 1) or white (Pt 2): predict refuses the
    frame before decoding. (Should libjpeg come to read it right, this test says so.)"""
    gray = image()
    for pt in (1, 2):
        codestream = lossless_jpeg(gray, predictor=4, pt=pt)
        assert point_transform(codestream) == pt
        assert not np.array_equal(_libjpeg(codestream), (gray >> pt) << pt)
    assert point_transform(lossless_jpeg(gray, predictor=4)) == 0
    assert point_transform(b"\xff\xd8\xff\xda") == 0  # cut inside its header: not read
    import pydicom
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGLossless
    ds = dicom_files.dataset([gray])
    ds.file_meta.TransferSyntaxUID = JPEGLossless
    ds.PixelData = encapsulate([lossless_jpeg(gray, predictor=4, pt=2)])
    ds["PixelData"].VR = "OB"
    path = dicom_files.save(ds, str(tmp_path / "pt2.dcm"))
    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == JPEGLossless
    with pytest.raises(dicom.DicomError) as refused:
        list(dicom_frames.iter_frames(path))
    assert str(refused.value) == (f"{path}: JPEG Lossless with a point transform (Pt 2) is not "
                                  "supported (its decoders read it wrong, not as ITU-T T.81 says)")


@pytest.mark.parametrize("restart_rows", [0, 5])
def test_a_scan_cut_short_is_refused_in_the_apps_words(restart_rows):
    """A scan cut short, ended by a marker (EOI, written after the cut) or by the end of the
    data, cannot be what the samples code to. libjpeg reads such a scan without a word when no
    restart marker is still to come (zero bits for the rest): the reason for the check."""
    gray = image()
    codestream = lossless_jpeg(gray, 6, restart_rows)
    cut = codestream[:int(_scan_end(codestream) * 0.8)]
    assert cut[-1] != 0xFF
    for damaged, words in ((cut + b"\xff\xd9", MARKER), (cut, ENDS)):
        assert lossless_scan_damage(damaged, gray) == words
        if not restart_rows:
            decoded = _libjpeg(damaged)  # no error
            assert not np.array_equal(decoded, gray)
            assert lossless_scan_damage(damaged, decoded) == words


def test_a_restart_marker_out_of_place_is_refused():
    codestream = lossless_jpeg(image(), 1, restart_rows=5)
    first = codestream.index(b"\xff\xd0")
    renumbered = codestream[:first + 1] + b"\xd3" + codestream[first + 2:]
    assert lossless_scan_damage(renumbered, image()) == (
        "restart marker 0 is not where the restart interval puts it")
    padded = codestream[:first] + b"\x12" + codestream[first:]  # a byte before RST0
    assert lossless_scan_damage(padded, image()) == (
        "restart marker 0 is not where the restart interval puts it")


def test_samples_the_scan_cannot_code_are_refused():
    """A category the scan's table has no code for cannot have come from its data."""
    gray = np.zeros((8, 8), np.uint8)  # differences of category 8 (the first) and 0 only
    codestream = lossless_jpeg(gray, table=(bytes([0, 2] + [0] * 14), bytes([0, 8])))
    assert np.array_equal(_libjpeg(codestream), gray)
    assert lossless_scan_damage(codestream, gray) is None
    made_up = gray.copy()
    made_up[4, 4] = 3  # category 2
    assert lossless_scan_damage(codestream, made_up) == NOT_CODED


def test_layouts_not_judged_are_left_to_the_decoder():
    gray = image()
    codestream = lossless_jpeg(gray, restart_rows=5)
    dri = codestream.index(b"\xff\xdd")
    odd_interval = codestream[:dri + 4] + (5 * 32 + 1).to_bytes(2, "big") + codestream[dri + 6:]
    assert lossless_scan_damage(odd_interval, gray) is None  # not whole rows
    assert lossless_scan_damage(codestream, gray[:, :-1]) is None  # not the frame's size
    assert lossless_scan_damage(b"\xff\xd8\xff\xc0" + codestream[4:], gray) is None  # baseline


@pytest.mark.parametrize("name", ["JPGLosslessP14SV1_1s_1f_8b.dcm", "JPEG-LL.dcm",
                                  "SC_rgb_jpeg_gdcm.dcm"])
def test_pydicoms_lossless_files_pass_and_their_scans_cut_short_do_not(name):
    """8-bit gray 768 x 1024, 16-bit signed gray, 8-bit RGB: intact, and cut at 60% of their
    coded data with an EOI after it (as pydicom returns the samples: signed, interleaved)."""
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.encaps import encapsulate, get_frame
    from pydicom.pixels import pixel_array
    ds = pydicom.dcmread(get_testdata_file(name))
    codestream = get_frame(ds.PixelData, 0, number_of_frames=1)
    assert lossless_scan_damage(codestream, pixel_array(ds, raw=True)) is None
    cut = codestream[:int(len(codestream) * 0.6)] + b"\xff\xd9"
    ds.PixelData = encapsulate([cut])
    assert lossless_scan_damage(cut, pixel_array(ds, raw=True)) == MARKER


def test_predict_refuses_a_frame_whose_scan_was_cut_short(tmp_path):
    """Through dicom_frames: libjpeg's made-up rows were measured; now refused, naming the file."""
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.encaps import encapsulate, get_frame
    ds = pydicom.dcmread(get_testdata_file("JPGLosslessP14SV1_1s_1f_8b.dcm"))
    codestream = get_frame(ds.PixelData, 0, number_of_frames=1)
    intact = dicom_files.save(ds, str(tmp_path / "intact.dcm"))
    ds.PixelData = encapsulate([codestream[:len(codestream) // 2] + b"\xff\xd9"])
    cut = dicom_files.save(ds, str(tmp_path / "cut.dcm"))
    (_, _, gray), = dicom_frames.iter_frames(intact)
    assert gray.shape == (768, 1024)
    with pytest.raises(dicom.DicomError) as refused:
        list(dicom_frames.iter_frames(cut))
    assert str(refused.value) == (f"{cut}: pixel data cannot be decoded (the JPEG Lossless "
                                  f"codestream is damaged: {MARKER})")


@pytest.mark.skipif(shutil.which("dcmcjpeg") is None,
                    reason="dcmtk's dcmcjpeg (the CI installs it) writes the files")
@pytest.mark.parametrize("options", [["+e1"], *(["+el", "+sv", str(v)] for v in range(2, 8))])
def test_dcmtks_scans_of_every_selection_value_pass(tmp_path, options):
    """Another encoder's scans (dcmtk's, gray and RGB) read through predict: no false alarm."""
    for name, frame in (("gray", image(60, 80, 1)),
                        ("rgb", np.dstack([image(60, 80, s) for s in (2, 3, 4)]))):
        plain = dicom_files.save(dicom_files.dataset([frame], "RGB" if frame.ndim == 3 else
                                                     "MONOCHROME2"), str(tmp_path / f"{name}.dcm"))
        target = str(tmp_path / f"{name}_jl.dcm")
        subprocess.run(["dcmcjpeg", *options, plain, target], check=True, capture_output=True,
                       timeout=60)
        (_, _, gray), = dicom_frames.iter_frames(target)
        assert gray.shape == (60, 80)
