"""The refusals the Android contract lists (hc_tf.export.metadata.refusals, the bundle metadata's
input_limits.refusals, android_demo_assets/README.md 'Refusals') are the messages predict's
reader gives: each is produced here from a crafted file and matched against its template, and
every template is quoted in the README. The EXIF orientation sources the metadata names are
each read by hc_tf.io.images."""

import io
import json
import os
import re
import stat
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from hc_tf import measure
from hc_tf.export import metadata as M
from hc_tf.io import images

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUNDLE = os.path.join(REPO, "android_demo_assets")
GRAY = (np.add.outer(np.arange(60), np.arange(80)) * 3 % 251).astype(np.uint8)


def _template(message):
    """A template's regex: <...> placeholders match any text."""
    parts = re.split(r"<[^<>]+>", message)
    return "^" + ".+".join(re.escape(p) for p in parts) + "$"


def _save(array, fmt, mode=None, **kw):
    out = io.BytesIO()
    Image.fromarray(array, mode).save(out, format=fmt, **kw)
    return out.getvalue()


def _chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _with_chunk(png, chunk):
    return png[:33] + chunk + png[33:]  # after IHDR


def _jpeg_of_scans(n):
    data = _save(GRAY, "JPEG", progressive=True)
    sos = data.index(b"\xff\xda", data.index(b"\xff\xda") + 2)  # a later scan, repeated
    last = data[data.rindex(b"\xff\xda"):-2]
    return data[:-2] + last * n + b"\xff\xd9" if sos else data


def _damaged_png():
    data = bytearray(_save(GRAY, "PNG"))
    i = data.index(b"IDAT") + 8
    data[i] ^= 0xFF
    return bytes(data)


def _refusal(data, **kw):
    with pytest.raises(ValueError) as err:
        images.decode_gray(data, "scan.png", **kw)
    return str(err.value).replace("scan.png", "<file>", 1)


def _produced():
    """Each rule's message as predict's reader gives it, in metadata.refusals' order."""
    rgba = np.dstack([GRAY] * 3 + [np.full_like(GRAY, 255)])
    rgba[0, 0, 3] = 254
    bomb = _chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"x" * ((1 << 20) + 1)))
    out = []
    big = os.stat_result((stat.S_IFREG | 0o644, 0, 0, 1, 0, 0, images.max_input_bytes() + 1, 0, 0, 0))
    with pytest.raises(ValueError) as err:
        images.check_regular(big, "<file>", images.max_input_bytes())
    out.append(str(err.value))
    out += [_refusal(b""), _refusal(b"not an image at all"),
            _refusal(_with_chunk(_save(GRAY, "PNG"), bomb))]
    with pytest.raises(ValueError) as err:  # decode_gray's check, on the header's size
        images.check_pixels(5001, 5000, "<file>")
    out += [str(err.value),
            _refusal(_jpeg_of_scans(120)),
            _refusal(_damaged_png()),
            _refusal(_save(GRAY, "PNG", save_all=True, append_images=[Image.fromarray(GRAY)] * 2))]
    # a PNG header Pillow reads whose data OpenCV cannot decode: a TIFF header alone
    out.append(_refusal(b"II*\x00" + struct.pack("<I", 8) + b"\x00\x00" + b"\x00" * 8))
    out += [_refusal(_save(GRAY.astype(np.uint16) * 257, "PNG")),
            _refusal(_save(rgba, "PNG", "RGBA")),
            _refusal(_save(GRAY[:1], "PNG")),
            _refusal(_save(GRAY, "PNG", "L", transparency=int(GRAY[5, 5])))]
    with pytest.raises(ValueError) as err:
        measure.check_pixel_size(5.0)
    out.append(str(err.value).replace("5.0", "<value>", 1))
    return out


def test_every_listed_refusal_is_the_message_predict_gives():
    rules = M.refusals()
    produced = _produced()
    assert len(produced) == len(rules)
    for rule, message in zip(rules, produced):
        assert re.match(_template(rule["message"]), message), (rule["rule"], message)


def test_the_bundle_metadata_and_the_readme_list_them():
    with open(os.path.join(BUNDLE, "hc_effunet_int8.json"), encoding="utf-8") as f:
        assert json.load(f)["input_limits"]["refusals"] == M.refusals()
    with open(os.path.join(BUNDLE, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    section = readme[readme.index("#### Refusals"):]
    section = section[:section.index("\n### ")]
    for rule in M.refusals():
        assert f"`{rule['message']}`" in section, rule["message"]


def _oriented(fmt, where):
    exif = Image.Exif()
    exif[0x0112] = 6
    if where == "exif":
        return _save(GRAY, fmt, exif=exif.tobytes())
    xmp = b'<x:xmpmeta><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'
    if fmt == "PNG":
        return _with_chunk(_save(GRAY, "PNG"), _chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + xmp))
    return _save(GRAY, fmt, xmp=xmp)


@pytest.mark.parametrize("fmt,where", [("PNG", "exif"), ("JPEG", "exif"), ("WEBP", "exif"),
                                       ("TIFF", "exif"), ("PNG", "xmp"), ("JPEG", "xmp")])
def test_each_orientation_source_the_metadata_names_is_applied(fmt, where):
    assert images.exif_orientation(_oriented(fmt, where)) == 6
    text = M.ORIENTATION_SOURCES
    assert {"PNG": "eXIf", "JPEG": "APP1", "WEBP": "WebP", "TIFF": "TIFF"}[fmt] in text
    assert M.ORIENTATION_OPS["6"] == "rotate 90 degrees clockwise"
    np.testing.assert_array_equal(images.apply_orientation(GRAY, 6), np.rot90(GRAY, -1))


def test_the_orientation_goldens_are_what_predict_decodes():
    """postprocess_golden.json's "orientation" cases (README 'Contract', 1): each file's upright
    gray is decode_gray's, and the stored image turned by ORIENTATION_OPS."""
    import base64
    import hashlib
    with open(os.path.join(BUNDLE, "postprocess_golden.json"), encoding="utf-8") as f:
        doc = json.load(f)
    cases = doc["orientation"]
    assert sorted({c["orientation"] for c in cases}) == list(range(1, 9))
    assert any(c["source"].startswith("XMP") for c in cases)
    for c in cases:
        gray = images.decode_gray(base64.b64decode(c["file"]), c["name"])
        assert list(gray.shape) == c["hw"], c["name"]
        assert hashlib.sha256(gray.tobytes()).hexdigest() == c["gray_sha256"], c["name"]
        want = images.apply_orientation(images.decode_gray(base64.b64decode(cases[0]["file"]), "s"),
                                        c["orientation"])
        np.testing.assert_array_equal(gray, want)
    assert all(c["reason"] is None or c["reason"] for c in doc["contrast"])
    assert any(c["reason"] is None for c in doc["contrast"])
