"""hc_tf.io.tiff_check: a damaged TIFF OpenCV would return with made-up rows is refused, in
libtiff's words and nothing on stderr; an intact one is measured as OpenCV decodes it."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from hc_tf.io import images, tiff_check

REPO = os.path.join(os.path.dirname(__file__), "..")
GRAY = (np.add.outer(np.arange(48), np.arange(64)) * 3 % 251).astype(np.uint8)


def _tiff():
    ok, enc = cv2.imencode(".tif", GRAY)  # LZW, one strip
    assert ok
    return enc.tobytes()


def _flipped(data, at):
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


def test_an_intact_tiff_passes_and_is_opencvs_pixels():
    data = _tiff()
    assert tiff_check.tiff_damage(data) is None
    assert np.array_equal(images.decode_gray(data, "x.tif"), GRAY)
    assert tiff_check.tiff_damage(b"\x89PNG\r\n\x1a\n not a TIFF") is None


@pytest.mark.parametrize("at,reason", [(100, "Not enough data at scanline 0"),
                                       (200, "Using code not yet in table")])
def test_a_damaged_strip_is_refused_in_libtiffs_words_and_nothing_else_is_said(capfd, at,
                                                                              reason):
    data = _flipped(_tiff(), at)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert decoded.shape == GRAY.shape and not np.array_equal(decoded, GRAY)  # why: it returns
    capfd.readouterr()
    with pytest.raises(ValueError, match=rf"^x\.tif: not a readable image file \(damaged: the "
                                         rf"TIFF data is corrupt: {reason}"):
        images.decode_gray(data, "x.tif")
    assert capfd.readouterr().err == ""  # libtiff's own line is the reason, not stderr's


def test_predict_says_nothing_but_its_refusals_for_damaged_tiffs_and_gifs(tmp_path):
    """OpenCV's log lines ("[ERROR:0@0.1] global grfmt_tiff.cpp:117 TIFF_Error ...", a GIF's
    "can't read data" with its assertion) and Pillow's "Corrupt EXIF data" warning reached
    predict's stderr beside its own refusals."""
    from PIL import Image
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "strip.tif").write_bytes(_flipped(_tiff(), 200))
    Image.fromarray(GRAY).save(tmp_path / "gif.gif")
    gif = (tmp_path / "gif.gif").read_bytes()
    (tmp_path / "in" / "cut.gif").write_bytes(gif[:len(gif) // 2])
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_LOG_LEVEL"}
    run = subprocess.run([sys.executable, "-m", "hc_tf.cli", "predict", str(tmp_path / "in"),
                          "--pixel-size", "0.1", "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert run.returncode == 1, run.stderr  # no image measured: an error after the refusals
    said = [line for line in run.stderr.splitlines() if line]
    assert len(said) == 3 and all(line.startswith("unreadable: ") for line in said[:2]), said
    assert said[2] == ("Error: no image could be measured (2 unreadable, each named above); "
                       "nothing was written")
    assert any("the TIFF data is corrupt: Using code not yet in table" in line for line in said)
