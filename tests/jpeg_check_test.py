"""hc_tf.io.jpeg_check: a JPEG file checked by libjpeg-turbo, strictly, before OpenCV decodes
it (the web app's jpeg_check.js keeps the same rule: tests/web_app_ui_test.py compares both on
damaged files)."""

import io
import re
import struct

import cv2
import numpy as np
import pytest

from hc_tf.io import images, jpeg_check

REFUSED = r"^{}: not a readable image file \(damaged: the JPEG data is corrupt: {}\)$"


def _image(colour=False):
    """A 96 x 64 test picture with edges (gray, or BGR)."""
    gray = ((np.arange(96 * 64).reshape(64, 96) * 7) % 251).astype(np.uint8)
    return np.dstack([gray, 255 - gray, gray // 2]) if colour else gray


def _jpeg(colour=False, progressive=False):
    ok, enc = cv2.imencode(".jpg", _image(colour), [cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive)])
    assert ok
    return enc.tobytes()


def _in_scan(data, insert):
    """`data` with bytes inserted half way through its scan's entropy-coded data."""
    sos = data.index(b"\xff\xda")
    at = sos + (len(data) - sos) // 2
    return data[:at] + insert + data[at:]


def _opencv_decodes(data):
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) is not None


@pytest.mark.parametrize("colour,progressive", [(False, False), (True, False), (False, True), (True, True)])
def test_valid_jpegs_pass_and_decode_as_before(colour, progressive):
    data = _jpeg(colour, progressive)
    assert jpeg_check.jpeg_damage(data) is None
    want = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(images.decode_gray(data, "ok.jpg"), want)  # OpenCV's pixels, unchanged


def test_a_cmyk_jpeg_passes():
    """libjpeg-turbo turns CMYK to gray too (the web app refuses CMYK in words: its wasm
    build decodes none)."""
    from PIL import Image
    out = io.BytesIO()
    Image.fromarray(np.dstack([_image()] * 4), "CMYK").save(out, "JPEG")
    assert jpeg_check.jpeg_damage(out.getvalue()) is None


def test_not_a_jpeg_is_not_judged():
    ok, png = cv2.imencode(".png", _image())
    assert jpeg_check.jpeg_damage(png.tobytes()) is None


def test_a_jpeg_cut_in_the_middle_is_refused():
    data = _jpeg()
    cut = data[:len(data) // 2]
    with pytest.raises(ValueError, match=REFUSED.format("cut.jpg", "Premature end of JPEG file")):
        images.decode_gray(cut, "cut.jpg")


def test_a_bogus_marker_length_is_refused():
    """A restart-interval marker (DRI, always 4 bytes long) of length 1 within the scan: OpenCV
    decodes the file (the fuzz campaign's case), libjpeg-turbo strict refuses it."""
    data = _in_scan(_jpeg(), b"\xff\xdd" + struct.pack(">H", 1))
    assert _opencv_decodes(data)
    with pytest.raises(ValueError, match=REFUSED.format("bogus.jpg", "Bogus marker length")):
        images.decode_gray(data, "bogus.jpg")


def test_extraneous_bytes_before_a_marker_are_refused():
    data = _jpeg()
    eoi = len(data) - 2
    junk = data[:eoi] + b"\x00\x01\x02" + data[eoi:]  # after the scan, before EOI
    assert _opencv_decodes(junk)  # only a warning
    with pytest.raises(ValueError, match=REFUSED.format(
            "junk.jpg", r"Corrupt JPEG data: \d+ extraneous bytes before marker 0xd9")):
        images.decode_gray(junk, "junk.jpg")


@pytest.mark.parametrize("progressive,junk", [(False, b"\x12"), (True, b"\x55" * 6)])
def test_coded_data_that_ends_before_the_data_does_is_refused(progressive, junk):
    """Bytes before the EOI that the decoding never reaches, as damage to the coefficients
    leaves them: libjpeg-turbo warns of them only when it finishes, which simplejpeg does not
    hear (it passes these), and the app's wasm build refused them. Decoded again without the
    last coded byte, a whole file needs more than is there; this one decodes as well."""
    import simplejpeg
    data = _jpeg(progressive=progressive)
    junk_at_end = data[:-2] + junk + data[-2:]
    simplejpeg.decode_jpeg(junk_at_end, colorspace="GRAY", strict=True)  # no warning heard
    assert jpeg_check.jpeg_damage(junk_at_end) == f"{jpeg_check.DAMAGE}: {jpeg_check.UNREAD_END}"
    with pytest.raises(ValueError, match=REFUSED.format("junk.jpg", re.escape(jpeg_check.UNREAD_END))):
        images.decode_gray(junk_at_end, "junk.jpg")


def test_files_read_to_their_end_pass_the_unread_end_check():
    """Whole files of other encoders and layouts: restart markers, Pillow's optimized Huffman
    tables and 4:2:2 chroma, fill bytes (0xFF) before the EOI marker, a coded byte stuffed as
    0xFF 0x00 last (a 16 x 16 noise image, found by search)."""
    from PIL import Image
    image = _image(colour=True)
    ok, restarts = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_RST_INTERVAL, 2])
    out = io.BytesIO()
    Image.fromarray(image).save(out, "JPEG", quality=80, optimize=True, subsampling=1)
    plain = _jpeg()
    files = {"restarts": restarts.tobytes(), "pillow": out.getvalue(),
             "fill": plain[:-2] + b"\xff\xff" + plain[-2:]}
    noise = np.random.default_rng(0).integers(0, 256, (16, 16), dtype=np.uint8)
    files["stuffed"] = cv2.imencode(".jpg", noise, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    assert files["stuffed"][-4:-2] == b"\xff\x00"
    for name, data in files.items():
        assert jpeg_check.unread_end(data) is None, name


def with_scans(data, scans):
    """`data` (a progressive JPEG) with its last scan repeated until it has `scans` scans: each
    one costs libjpeg a pass over the image, a few bytes each (the copies' refinement bits are
    bogus, which only a decoder would notice)."""
    sos = data.rindex(b"\xff\xda")
    eoi = data.rindex(b"\xff\xd9")
    return data[:eoi] + data[sos:eoi] * (scans - data.count(b"\xff\xda")) + data[eoi:]


def test_scans_are_counted_before_decoding_and_over_100_refused(monkeypatch):
    """A progressive JPEG of many tiny scans is a time bomb (docs/limits.md): counted from its
    markers and refused before libjpeg or OpenCV sees it, predict's words the app's."""
    assert jpeg_check.too_many_scans(_jpeg(progressive=False), 100) is None
    progressive = _jpeg(colour=True, progressive=True)
    assert jpeg_check.too_many_scans(progressive, 100) is None
    assert jpeg_check.too_many_scans(with_scans(progressive, 100), 100) is None
    bomb = with_scans(progressive, 1001)
    assert jpeg_check.too_many_scans(bomb, 100) == (
        "1001 JPEG scans, over the 100-scan input limit (each scan is a pass over the image); "
        "refused before decoding")
    assert jpeg_check.too_many_scans(b"\x89PNG\r\n\x1a\n", 100) is None  # not a JPEG

    def decoder(*args, **kwargs):
        raise AssertionError("decoded")
    monkeypatch.setattr(jpeg_check, "_decode_gray", decoder)
    monkeypatch.setattr(images, "_decode_unchecked", decoder)
    with pytest.raises(ValueError, match=r"^bomb\.jpg: 1001 JPEG scans, over the 100-scan "):
        images.decode_gray(bomb, "bomb.jpg")


def test_the_message_is_short_and_one_line():
    assert jpeg_check._said(ValueError("tjDecompressHeader3(): Could not determine\nsubsampling")) \
        == "Could not determine subsampling"
    assert len(jpeg_check._said(ValueError("x" * 500))) == jpeg_check._MAX_SAID
