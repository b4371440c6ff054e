"""What predict trusts of a DICOM file's tables before measuring its pixels: the Basic and
Extended Offset Tables of encapsulated pixel data (`hc_tf.io.dicom_offsets`), the values
BitsStored holds and the modality transform (`hc_tf.io.dicom_pixel_values`). The web app's
port says the same (web_app/test/dicom_tables.test.js; tests/web_app_dicom_test.py runs both
on the files below).
"""

import copy
import struct

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom", reason="DICOM input needs pydicom (hc-tf[dicom])")
from hc_tf.io import dicom, dicom_frames, dicom_offsets, dicom_pixel_values  # noqa: E402
from tests import dicom_files  # noqa: E402

# Two frames that differ everywhere (frame 1 a ramp, frame 2 its negative).
RAMP = np.tile(np.arange(0, 240, 3, dtype=np.uint8), (60, 1))
FRAMES = [RAMP, 255 - RAMP]


def _item(value: bytes) -> bytes:
    return struct.pack("<HHI", 0xFFFE, 0xE000, len(value)) + value


def rle_two_frames():
    """A 2-frame RLE Lossless dataset (RAMP, its negative) and its two fragments."""
    from pydicom.encaps import generate_frames
    from pydicom.uid import RLELossless
    ds = dicom_files.dataset(FRAMES, regions=[dicom_files.region((0, 0, 79, 59), 0.2)])
    ds.compress(RLELossless, encoding_plugin="pydicom")
    return ds, list(generate_frames(ds.PixelData, number_of_frames=2))


def with_bot(frags, bot) -> bytes:
    """Encapsulated pixel data of `frags`, its Basic Offset Table holding `bot`."""
    return _item(struct.pack(f"<{len(bot)}I", *bot)) + b"".join(_item(f) for f in frags)


def tables_cases():
    """name -> dataset: offset tables true, empty, swapped, pointing elsewhere, miscounted."""
    from pydicom.encaps import encapsulate_extended
    ds, frags = rle_two_frames()
    second = len(frags[0]) + 8
    cases = {}
    for name, bot in (("ok_bot", [0, second]), ("ok_empty_bot", []), ("bad_swapped_bot", [second, 0]),
                      ("bad_bogus_bot", [0, 12345]), ("bad_inside_bot", [0, second - 2]),
                      ("bad_short_bot", [0])):
        case = copy.deepcopy(ds)
        case.PixelData = with_bot(frags, bot)
        cases[name] = case
    data, offsets, lengths = encapsulate_extended(frags)
    for name, (o, n) in {"ok_eot": ((0, second), (len(frags[0]), len(frags[1]))),
                         "bad_swapped_eot": ((second, 0), (len(frags[1]), len(frags[0]))),
                         "bad_long_eot": ((0, second), (len(frags[0]) + 8, len(frags[1])))}.items():
        case = copy.deepcopy(ds)
        case.PixelData = data
        case.ExtendedOffsetTable, case.ExtendedOffsetTableLengths = struct.pack("<2Q", *o), struct.pack("<2Q", *n)
        cases[name] = case
    assert offsets == cases["ok_eot"].ExtendedOffsetTable and lengths == cases["ok_eot"].ExtendedOffsetTableLengths
    return cases


BAD_TABLES = {"bad_swapped_bot": dicom_offsets.BOT_ORDER, "bad_bogus_bot": dicom_offsets.BOT_ORDER,
              "bad_inside_bot": dicom_offsets.BOT_ORDER,
              "bad_short_bot": "Basic Offset Table (FFFE,E000) is 4 bytes, not 4 for each of its 2 "
                               "frames (NumberOfFrames (0028,0008))",
              "bad_swapped_eot": dicom_offsets.EOT_ORDER, "bad_long_eot": dicom_offsets.EOT_ORDER}


def test_offset_tables_that_do_not_point_at_the_fragments_are_refused(tmp_path):
    """A swapped Basic Offset Table had frame 1 measured as frame 2 and frame 2 as frame 1, exit
    0, no word (a swapped Extended Offset Table the same); one pointing elsewhere was refused in
    pydicom's words. True and empty tables read each frame as itself."""
    for name, ds in tables_cases().items():
        path = dicom_files.save(ds, str(tmp_path / f"{name}.dcm"))
        if name.startswith("ok"):
            got = [gray for _, _, gray in dicom_frames.iter_frames(path)]
            assert all(np.array_equal(g, f) for g, f in zip(got, FRAMES)) and len(got) == 2, name
            continue
        with pytest.raises(dicom.DicomError) as err:
            list(dicom_frames.iter_frames(path))
        assert str(err.value) == f"{path}: {BAD_TABLES[name]}", name


def test_a_table_of_several_fragments_a_frame_is_read_by_its_offsets(tmp_path):
    """A frame in two fragments, the table pointing at each frame's first: valid, and read."""
    ds, frags = rle_two_frames()
    parts = [frags[0][:64], frags[0][64:], frags[1][:100], frags[1][100:]]
    ds.PixelData = with_bot(parts, [0, len(parts[0]) + len(parts[1]) + 16])
    path = dicom_files.save(ds, str(tmp_path / "split.dcm"))
    got = [gray for _, _, gray in dicom_frames.iter_frames(path)]
    assert all(np.array_equal(g, f) for g, f in zip(got, FRAMES))


def bits_cases():
    """name -> dataset: 8-bit pixels (0-237) under BitsStored 7 (uncompressed and RLE), 8 bits
    stored in 16 (read) and the same with a high bit set."""
    from pydicom.uid import RLELossless
    cases = {}
    ds = dicom_files.dataset([RAMP])
    ds.BitsStored, ds.HighBit = 7, 6
    cases["bad_stored_7"] = ds
    rle = dicom_files.dataset([RAMP])
    rle.compress(RLELossless, encoding_plugin="pydicom")
    rle.BitsStored, rle.HighBit = 7, 6
    cases["bad_stored_7_rle"] = rle
    words = dicom_files.dataset([RAMP])
    words.BitsAllocated, words.PixelData = 16, RAMP.astype("<u2").tobytes()
    cases["ok_8_in_16"] = words
    junk = copy.deepcopy(words)
    junk.PixelData = (RAMP.astype("<u2") | np.uint16(0x1000)).tobytes()
    cases["bad_8_in_16_high_bit"] = junk
    return cases


def test_pixel_values_past_bits_stored_are_refused_not_masked(tmp_path):
    """pydicom clears the bits above BitsStored: 8-bit pixels under BitsStored 7 were measured with
    their high bit gone (91.89 mm for 90.30), and 8 bits stored in 16 with a high bit set as if
    it were not; the app read them whole. Both refuse them now, naming BitsStored."""
    for name, ds in bits_cases().items():
        path = dicom_files.save(ds, str(tmp_path / f"{name}.dcm"))
        if name.startswith("ok"):
            [(_, _, gray)] = dicom_frames.iter_frames(path)
            np.testing.assert_array_equal(gray, RAMP)
            continue
        with pytest.raises(dicom.DicomError) as err:
            list(dicom_frames.iter_frames(path))
        value, bits, top = (4333, 8, 255) if "high_bit" in name else (237, 7, 127)
        assert str(err.value) == (f"{path}: a pixel value of {value} does not fit BitsStored "
                                  f"(0028,0101) {bits} (0 to {top}): the header is damaged"), name


def test_a_palettes_indices_are_held_to_bits_stored(tmp_path):
    """PALETTE COLOR (OBXXXX1A-like, 8-bit indices): 8 bits stored in 16 read; past them refused."""
    ds, rgb = dicom_files.palette_dataset(RAMP, (0, 0, 79, 59), 0.2)
    ds.BitsAllocated, ds.PixelData = 16, RAMP.astype("<u2").tobytes()
    [(_, _, gray)] = dicom_frames.iter_frames(dicom_files.save(ds, str(tmp_path / "p.dcm")))
    import cv2
    np.testing.assert_array_equal(gray, cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    ds.BitsStored, ds.HighBit = 7, 6
    with pytest.raises(dicom.DicomError, match=r"does not fit BitsStored \(0028,0101\) 7"):
        list(dicom_frames.iter_frames(dicom_files.save(ds, str(tmp_path / "p7.dcm"))))


def modality_lut(data, descriptor=(256, 0, 8)):
    from pydicom.dataset import Dataset
    item = Dataset()
    item.LUTDescriptor, item.ModalityLUTType = list(descriptor), "US"
    item.add_new(0x00283006, "US", list(data))
    return [item]


def modality_cases():
    """name -> dataset: identity and other rescales and Modality LUTs."""
    cases = {}
    for name, (slope, intercept) in {"ok_rescale": ("1", "0"), "ok_rescale_written_out": ("1.0", "-0"),
                                     "bad_rescale_inverted": ("-1", "255"), "bad_rescale_slope": ("2", "0"),
                                     "bad_rescale_intercept": ("1", "5"),
                                     "bad_rescale_two_slopes": (["1", "2"], "0")}.items():
        ds = dicom_files.dataset([RAMP])
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        cases[name] = ds
    identity = list(range(256))
    for name, lut in {"ok_lut": modality_lut(identity),
                      "ok_lut_longer": modality_lut(list(range(300)), (300, 0, 16)),
                      "bad_lut_inverted": modality_lut(identity[::-1]),
                      "bad_lut_short": modality_lut(identity[:200])}.items():
        ds = dicom_files.dataset([RAMP])
        ds.ModalityLUTSequence = lut
        cases[name] = ds
    return cases


def test_a_modality_transform_that_is_not_the_identity_is_refused(tmp_path):
    """A Modality LUT or a rescale was not applied, silently (an inverting LUT gave the same HC):
    one that is not the identity is refused, naming its tag; the identity is read."""
    for name, ds in modality_cases().items():
        path = dicom_files.save(ds, str(tmp_path / f"{name}.dcm"))
        if name.startswith("ok"):
            [(_, _, gray)] = dicom_frames.iter_frames(path)
            np.testing.assert_array_equal(gray, RAMP)
            continue
        with pytest.raises(dicom.DicomError) as err:
            dicom.read_header(path)
        words = (dicom_pixel_values.MODALITY_LUT if "lut" in name else
                 "RescaleSlope (0028,1053) is not one number" if "two" in name else
                 dicom_pixel_values.RESCALE)
        assert str(err.value) == f"{path}: {words}", name
