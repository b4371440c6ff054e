"""hc_tf.io.png_zlib: a PNG's zlib stream checked whole (the web app's png_zlib.js keeps the
same rule: tests/web_app_ui_test.py compares both on damaged files)."""

import struct
import zlib

import cv2
import numpy as np
import pytest

from hc_tf.io import images, png_zlib


def _png(edit=lambda stream: stream, parts=2):
    """A 64 x 48 gray PNG whose zlib stream is `edit`ed, in `parts` IDATs with right CRCs."""
    ok, enc = cv2.imencode(".png", (np.arange(64 * 48) % 251).astype(np.uint8).reshape(48, 64))
    data = enc.tobytes()
    stream, head, at = b"", data[:33], 33
    while at < len(data):
        (n,) = struct.unpack(">I", data[at:at + 4])
        if data[at + 4:at + 8] == b"IDAT":
            stream += data[at + 8:at + 8 + n]
        at += 12 + n
    stream = edit(stream)
    cut = -(-len(stream) // parts)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (head + b"".join(chunk(b"IDAT", stream[k:k + cut]) for k in range(0, len(stream), cut))
            + chunk(b"IEND", b""))


def test_a_whole_stream_passes_and_bytes_after_it_are_allowed():
    assert png_zlib.stream_damage(_png(), 10**6) is None
    assert png_zlib.stream_damage(_png(lambda s: s + b"\x00\x01\x02\x03"), 10**6) is None
    assert png_zlib.stream_damage(b"\xff\xd8\xff not a PNG", 10**6) is None


@pytest.mark.parametrize("edit", [lambda s: s[:-1] + bytes([s[-1] ^ 1]),  # the Adler-32
                                  lambda s: s[:-4],  # no checksum
                                  lambda s: s[:len(s) // 2],  # broken off
                                  lambda s: s[:6] + bytes([s[6] ^ 0xff]) + s[7:]])  # inside
def test_a_wrong_checksum_or_a_broken_stream_is_refused_by_the_reader(edit):
    data = _png(edit)
    assert png_zlib.stream_damage(data, 10**6) == png_zlib.DAMAGE
    with pytest.raises(ValueError, match=r"^x\.png: not a readable image file \(damaged: its "
                                         r"image data fails its zlib check"):
        images.decode_gray(data, "x.png")


def test_past_the_bound_the_stream_is_not_judged_nor_inflated_further():
    data = _png(lambda s: s[:-1] + bytes([s[-1] ^ 1]))
    assert png_zlib.stream_damage(data, 100) is None
