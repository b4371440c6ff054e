"""hc_tf.io.gif_check: a GIF's first image walked and its LZW data counted before decoding (the
web app's gif_check.js keeps the same rule and words: tests/web_app_ui_test.py compares both on
damaged copies)."""

import io
import struct

import cv2
import numpy as np
import pytest
from PIL import Image

from hc_tf.io import gif_check, images

GRAY = (np.add.outer(np.arange(48), np.arange(64)) * 3 % 251).astype(np.uint8)


def _gif(array=GRAY, **save):
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="GIF", **save)
    return out.getvalue()


def _descriptor(data):
    """Where the first image descriptor (0x2C) starts (Pillow writes no extension before it
    for these images, after the global colour table)."""
    at = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    while data[at] == 0x21:  # an extension: its label, then sub-blocks
        at += 2
        while data[at]:
            at += 1 + data[at]
        at += 1
    assert data[at] == 0x2C
    return at


def _with_height(data, height):
    at = _descriptor(data)
    return data[:at + 7] + struct.pack("<H", height) + data[at + 9:]


@pytest.mark.parametrize("array,save", [
    (GRAY, {}), (GRAY, {"interlace": True}), (np.dstack([GRAY, 255 - GRAY, GRAY // 2]), {}),
    (GRAY > 100, {}), (np.zeros((40, 40), np.uint8), {})])
def test_whole_gifs_pass_and_are_opencvs_pixels(array, save):
    data = _gif(array, **save)
    assert gif_check.gif_damage(data) is None
    want = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(images.decode_gray(data, "x.gif"), want)


def test_lzw_data_that_cannot_be_the_image_is_refused_in_words():
    data = _gif()
    at = _descriptor(data) + 10  # the LZW minimum code size, then the first sub-block
    size = data[at + 1]
    junk = data[:at + 2] + b"\xff" * size + data[at + 2 + size:]  # codes past the table
    cases = {
        "an LZW code its table does not hold yet": junk,
        "its LZW data gives more pixels than its 64 x 47": _with_height(data, 47),
        "its LZW data gives fewer pixels than its 64 x 49": _with_height(data, 49),
        "the file ends inside a block": data[:at + 5],
        "the file ends before its first image": data[:_descriptor(data)],
        f"an LZW code size of {12}": data[:at] + bytes([12]) + data[at + 1:],
    }
    for words, damaged in cases.items():
        assert gif_check.gif_damage(damaged) == f"the GIF data is corrupt: {words}", words
    with pytest.raises(ValueError, match=r"^x\.gif: not a readable image file \(damaged: the GIF "
                                         r"data is corrupt: an LZW code its table"):
        images.decode_gray(junk, "x.gif")
    assert gif_check.gif_damage(b"\x89PNG\r\n\x1a\n not a GIF") is None
