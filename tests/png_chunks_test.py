"""hc_tf.io.png_chunks: a PNG's CRCs where libpng refuses them and a whole IEND chunk, checked
before decoding and said in hc-tf's words (the web app's pngChunkDamage keeps the same rule:
tests/web_app_ui_test.py compares both)."""

import os
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest

from hc_tf.io import images, png_chunks

REPO = os.path.join(os.path.dirname(__file__), "..")


def _png():
    ok, enc = cv2.imencode(".png", (np.arange(64 * 48) % 251).astype(np.uint8).reshape(48, 64))
    assert ok
    return enc.tobytes()


def _chunk(kind, body, crc_ok=True):
    crc = zlib.crc32(kind + body) ^ (0 if crc_ok else 1)
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _with(data, before, kind, body, crc_ok=True):
    """`data` with a chunk inserted before the first `before` chunk."""
    at = data.index(before) - 4
    return data[:at] + _chunk(kind, body, crc_ok) + data[at:]


def _bad_crc(data, kind):
    at = data.index(kind)
    (length,) = struct.unpack(">I", data[at - 4:at])
    crc = at + 4 + length
    return data[:crc] + bytes([data[crc] ^ 1]) + data[crc + 1:]


def test_a_whole_png_passes_as_do_bad_crcs_after_its_image_data():
    png = _png()
    assert png_chunks.chunk_damage(png) is None
    assert png_chunks.chunk_damage(png + b"junk after IEND") is None
    assert png_chunks.chunk_damage(_bad_crc(png, b"IEND")) is None  # libpng warns, reads it
    assert png_chunks.chunk_damage(_with(png, b"IEND", b"tEXt", b"a\0b", crc_ok=False)) is None
    assert png_chunks.chunk_damage(b"\xff\xd8\xff not a PNG") is None


@pytest.mark.parametrize("case,chunk", [("ihdr", "IHDR"), ("idat", "IDAT"),
                                        ("text_before_idat", "tEXt")])
def test_a_crc_libpng_refuses_is_refused_in_words(case, chunk):
    png = _png()
    data = {"ihdr": lambda: _bad_crc(png, b"IHDR"), "idat": lambda: _bad_crc(png, b"IDAT"),
            "text_before_idat": lambda: _with(png, b"IDAT", b"tEXt", b"a\0b", crc_ok=False)}[case]()
    assert png_chunks.chunk_damage(data) == f"its {chunk} chunk fails its CRC-32 check"
    with pytest.raises(ValueError, match=rf"^x\.png: not a readable image file \(damaged: its "
                                         rf"{chunk} chunk fails its CRC-32 check\)$"):
        images.decode_gray(data, "x.png")


@pytest.mark.parametrize("cut", [1, 4, 8, 12])
def test_a_png_cut_before_the_end_of_its_iend_chunk_is_refused(cut):
    """Chromium read one cut inside its IEND (1-4 bytes short) that libpng refuses."""
    data = _png()[:-cut]
    assert png_chunks.chunk_damage(data) == png_chunks.NO_IEND
    with pytest.raises(ValueError, match=r"\(damaged: the file ends before its IEND chunk"):
        images.decode_gray(data, "x.png")


@pytest.mark.parametrize("cut", [10, 20, 30])
def test_a_png_cut_inside_its_header_is_refused_in_the_apps_words(cut):
    """Cut inside its IHDR chunk: Pillow reads no size; the IEND rule says why, as the app
    now says (web_app/test/imagefile.test.js; it had said its size could not be read)."""
    with pytest.raises(ValueError) as refused:
        images.decode_gray(_png()[:cut], "x.png")
    assert str(refused.value) == f"x.png: not a readable image file (damaged: {png_chunks.NO_IEND})"


def test_predict_says_why_in_its_words_and_nothing_of_libpngs_or_opencvs(tmp_path):
    """libpng's "libpng error: PNG input buffer is incomplete" and OpenCV's "[ WARN:0@0.2] global
    grfmt_png.cpp ... PNG input buffer is incomplete" reached predict's stderr for such files."""
    png = _png()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "cut.png").write_bytes(png[:-4])
    (tmp_path / "in" / "crc.png").write_bytes(_bad_crc(png, b"IDAT"))
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_LOG_LEVEL"}
    run = subprocess.run([sys.executable, "-m", "hc_tf.cli", "predict", str(tmp_path / "in"),
                          "--pixel-size", "0.1", "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert run.returncode == 1, run.stderr  # no image measured: an error after the refusals
    said = sorted(line for line in run.stderr.splitlines() if line)
    assert said == [
        "Error: no image could be measured (2 unreadable, each named above); nothing was written",
        f"unreadable: {tmp_path / 'in' / 'crc.png'}: not a readable image file (damaged: its "
        "IDAT chunk fails its CRC-32 check)",
        f"unreadable: {tmp_path / 'in' / 'cut.png'}: not a readable image file (damaged: "
        f"{png_chunks.NO_IEND})"], said
