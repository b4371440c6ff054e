"""The reader's refusals of images that would be measured other than as they are seen: several
frames (an animated PNG, GIF or WebP, a multi-page TIFF), pixels that are not fully opaque, a
compressed PNG chunk that inflates too far; and file names printed one line each whatever they
hold. The web app's side: web_app/test/frames_check.test.js."""

import io
import os
import struct
import zlib

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from hc_tf import cli
from hc_tf.io import gif_check, images, png_chunks, tiff_check, webp_check
from hc_tf.surfaces import input_names

ROOT = os.path.join(os.path.dirname(__file__), "..")
MODEL = os.path.join(ROOT, "hc_tf", "models", "hc_effunet_int8.tflite")
SAMPLE = os.path.join(ROOT, "hc_tf", "sample_data", "test_set", "000_HC.png")
GRAY = (np.add.outer(np.arange(60), np.arange(80)) * 3 % 251).astype(np.uint8)


def _saved(frames, fmt, **save):
    out = io.BytesIO()
    frames[0].save(out, format=fmt, save_all=len(frames) > 1, append_images=frames[1:], **save)
    return out.getvalue()


def _frames(n):
    return [Image.fromarray(np.roll(GRAY, 7 * i, axis=1)) for i in range(n)]


FORMATS = [("PNG", {}, "an animated PNG (3 frames)"), ("GIF", {}, "an animated GIF (3 frames)"),
           ("WEBP", {"lossless": True}, "an animated WebP (3 frames)"),
           ("TIFF", {}, "a multi-page TIFF (3 pages)")]


@pytest.mark.parametrize("fmt,save,said", FORMATS)
def test_a_file_of_several_frames_is_refused_from_its_header_walk(fmt, save, said):
    data = _saved(_frames(3), fmt, **save)
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE) is not None  # was
    with pytest.raises(ValueError) as err:  # measured on its first frame without a word
        images.decode_gray(data, "scan")
    assert str(err.value) == (f"scan: {said}; hc-tf measures one image a file: save the "
                              f"{said.split()[-1][:-2]} to measure as its own image")


def test_an_apng_whose_image_data_is_outside_its_animation_is_two_images():
    # acTL says 1 frame, but the image data before the first fcTL is a default image outside the
    # animation: OpenCV decodes it (black), a browser shows the animation's frame (the ramp).
    data = _saved([Image.fromarray(np.zeros_like(GRAY)), Image.fromarray(GRAY)], "PNG",
                  default_image=True)
    assert png_chunks.animation_frames(data) == 2
    with pytest.raises(ValueError, match="^scan: an animated PNG \\(2 frames\\); "):
        images.decode_gray(data, "scan")


@pytest.mark.parametrize("fmt,save,said", FORMATS)
def test_one_frame_of_each_format_is_still_read(fmt, save, said):
    gray = images.decode_gray(_saved(_frames(1), fmt, **save), "scan")
    assert gray.shape == GRAY.shape


def test_the_frame_walks_are_bounded_and_count_what_they_can():
    tiff = bytearray(_saved(_frames(2), "TIFF"))
    assert tiff_check.page_count(bytes(tiff)) == 2
    first = struct.unpack("<I", tiff[4:8])[0]
    entries = struct.unpack("<H", tiff[first:first + 2])[0]
    link = slice(first + 2 + 12 * entries, first + 6 + 12 * entries)  # IFD0's next-IFD offset
    tiff[link] = struct.pack("<I", first)  # a loop back to itself: one page, not two
    assert tiff_check.page_count(bytes(tiff)) == 1
    tiff[link] = struct.pack("<I", 0x7FFFFFFF)  # past the end: one page
    assert tiff_check.page_count(bytes(tiff)) == 1
    gif = _saved(_frames(3), "GIF")
    assert gif_check.frame_count(gif[:len(gif) // 2]) >= 1  # cut short: the images before it
    assert webp_check.frame_count(b"RIFF\x04\x00\x00\x00WEBP") == 0
    assert png_chunks.animation_frames(open(SAMPLE, "rb").read()) == 0


def _png(array, mode, **save):
    out = io.BytesIO()
    Image.fromarray(array, mode).save(out, format="PNG", **save)
    return out.getvalue()


def test_a_transparent_png_is_refused_and_an_opaque_rgba_one_read():
    head = cv2.imread(SAMPLE, cv2.IMREAD_GRAYSCALE)
    rgba = np.dstack([head, head, head, np.zeros_like(head)])  # a viewer shows it blank
    with pytest.raises(ValueError, match="000_HC.png: the image has pixels that are not fully "
                                         "opaque"):
        images.decode_gray(_png(rgba, "RGBA"), "000_HC.png")
    rgba[..., 3] = 255
    rgba[0, 0, 3] = 254  # one pixel is enough
    with pytest.raises(ValueError, match="not fully opaque"):
        images.decode_gray(_png(rgba, "RGBA"), "000_HC.png")
    rgba[0, 0, 3] = 255
    np.testing.assert_array_equal(images.decode_gray(_png(rgba, "RGBA"), "x"), head)


def test_a_gray_pngs_transparent_level_counts_only_where_a_pixel_has_it():
    # OpenCV decodes no alpha for a gray PNG's tRNS; a browser shows those pixels transparent
    with pytest.raises(ValueError, match="not fully opaque"):
        images.decode_gray(_png(GRAY, "L", transparency=int(GRAY[5, 5])), "g")
    assert images.decode_gray(_png(GRAY, "L", transparency=252), "g").shape == GRAY.shape
    one_bit = _png(GRAY % 2 == 1, "1", transparency=1)  # level 1 of 1 bit: OpenCV's 255
    assert png_chunks.gray_transparent_value(one_bit) == 255
    with pytest.raises(ValueError, match="not fully opaque"):
        images.decode_gray(one_bit, "g")


def test_a_gif_with_a_transparent_index_in_use_is_refused():
    frame = Image.fromarray(GRAY).convert("P")
    out = io.BytesIO()
    frame.save(out, format="GIF", transparency=int(np.asarray(frame)[3, 3]))
    with pytest.raises(ValueError, match="not fully opaque"):
        images.decode_gray(out.getvalue(), "t.gif")


def _chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@pytest.mark.parametrize("kind,head", [(b"zTXt", b"Comment\0\0"), (b"iCCP", b"icc\0\0"),
                                       (b"iTXt", b"Comment\0\x01\0en\0\0")])
def test_a_compressed_chunk_bomb_is_refused_with_its_reason(kind, head):
    png = _png(GRAY, "L")
    bomb = png[:33] + _chunk(kind, head + zlib.compress(b"\0" * (8 << 20), 9)) + png[33:]
    with pytest.raises(ValueError) as err:
        images.decode_gray(bomb, "b.png")
    assert str(err.value) == (f"b.png: not a readable image file (its {kind.decode()} chunk "
                              "inflates beyond 1 MiB, Pillow's limit for a compressed text or "
                              "colour-profile chunk: a decompression bomb?)")
    small = png[:33] + _chunk(kind, head + zlib.compress(b"text " * 100)) + png[33:]
    assert images.decode_gray(small, "s.png").shape == GRAY.shape


@pytest.mark.parametrize("name,shown", [
    ("z\nunreadable: all good.png", "z\\nunreadable: all good.png"),
    ("a\rb.png", "a\\rb.png"), ("e\x1b[2J.png", "e\\x1b[2J.png"), ("t\tab.png", "t\\tab.png"),
    ("l\u2028s\u202e.png", "l\\u2028s\\u202e.png"), ("c\x85\x7f.png", "c\\x85\\x7f.png"),
    ("caf\udce9.png", "caf\\xe9.png"), ("plain é.png", "plain é.png")])
def test_printable_name_escapes_control_characters(name, shown):
    assert input_names.printable_name(name) == shown


def test_a_file_name_cannot_forge_or_overwrite_a_line_on_stderr(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "z\nunreadable: all good.png").write_bytes(b"not an image")
    (d / "r\rok.png").write_bytes(b"not an image")
    (d / "good.png").write_bytes(open(SAMPLE, "rb").read())
    result = CliRunner().invoke(cli.main, ["predict", "--model", MODEL, "--pixel-size", "0.15",
                                           "--out", str(tmp_path / "out"), str(d)])
    assert result.exit_code == 3, result.output
    lines = result.stderr.splitlines()
    assert [line for line in lines if line.startswith("unreadable:")] == [
        f"unreadable: {d}/r\\rok.png: not a readable image file",
        f"unreadable: {d}/z\\nunreadable: all good.png: not a readable image file"]
    assert "\r" not in result.stderr


def test_a_file_this_user_may_not_read_is_said_so_in_words(tmp_path, monkeypatch):
    """`[Errno 13] Permission denied: '...'` was the message (the tests run as root, who may
    read anything: the denial is made here)."""
    import builtins
    pydicom = pytest.importorskip("pydicom")
    from hc_tf.io import dicom
    png = tmp_path / "a.png"
    cv2.imwrite(str(png), np.zeros((8, 8), np.uint8))
    dcm = tmp_path / "b.dcm"
    ds = pydicom.Dataset()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = "1.2.3"
    ds.save_as(str(dcm), enforce_file_format=True)
    real_os_open, real_open = os.open, builtins.open

    def denied(path):
        if str(path) in (str(png), str(dcm)):
            raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(os, "open", lambda p, *a, **k: denied(p) or real_os_open(p, *a, **k))
    monkeypatch.setattr(builtins, "open", lambda p, *a, **k: denied(p) or real_open(p, *a, **k))
    monkeypatch.setattr(io, "open", builtins.open)
    with pytest.raises(PermissionError, match=r"a\.png: permission denied \(this user may not "):
        images.read_file_bytes(str(png))
    with pytest.raises(dicom.DicomError, match=r"b\.dcm: permission denied \(this user may not"):
        dicom.read_header(str(dcm))
