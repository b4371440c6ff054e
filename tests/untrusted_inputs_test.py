"""Issue 24 items 2-4, 10 and 16: untrusted image files, read as a user runs `hc-tf predict`
(subprocesses, the committed edge model). Special files, endless files and decompression
bombs are refused in one line each and the batch goes on; names starting with '-' work
after `--`; EXIF orientation is applied."""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

from hc_tf import preprocess
from hc_tf.io import images
from tests.conftest import memory_capped

ROOT = os.path.join(os.path.dirname(__file__), "..")
MODEL = os.path.join(ROOT, "hc_tf", "models", "hc_effunet_int8.tflite")
SAMPLE = os.path.join(ROOT, "hc_tf", "sample_data", "test_set", "000_HC.png")
HC_TF = os.path.join(os.path.dirname(sys.executable), "hc-tf")


def _predict(*args, env=None, cwd=None, timeout=180):
    # Memory capped: before the fix /dev/zero was read until the kernel killed the run.
    return subprocess.run(memory_capped([HC_TF, "predict", "--model", os.path.abspath(MODEL),
                                         *args]),
                          capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, **(env or {})})


def _unreadable_lines(result):
    return [line for line in result.stderr.splitlines() if line.startswith("unreadable:")]


@pytest.fixture()
def folder(tmp_path):
    """One real image, a FIFO named *.png and a symlink to /dev/zero named *.png."""
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(SAMPLE, d / "good.png")
    os.mkfifo(d / "fifo.png")
    os.symlink("/dev/zero", d / "zero.png")
    return d


def test_fifo_and_dev_zero_are_refused_in_one_line_each_and_the_batch_goes_on(folder, tmp_path):
    out = tmp_path / "out"
    result = _predict(folder, "--pixel-size", "0.15", "--out", out, timeout=120)
    assert result.returncode == 3, result.stderr
    lines = _unreadable_lines(result)
    assert len(lines) == 2, result.stderr
    assert any("fifo.png: not a regular file (a FIFO)" in line for line in lines)
    assert any("zero.png: not a regular file (a device)" in line for line in lines)
    assert "Traceback" not in result.stderr
    assert (out / "overlays" / "good.png").is_file()
    assert [n for n in os.listdir(out) if n.startswith(".")] == []


def test_a_fifo_given_directly_is_refused_not_waited_on(folder, tmp_path):
    result = _predict(folder / "fifo.png", folder / "good.png", "--pixel-size", "0.15",
                      "--out", tmp_path / "out", timeout=120)
    assert result.returncode == 3, result.stderr
    assert "fifo.png: not a regular file (a FIFO)" in result.stderr


def test_beam_refuses_fifo_and_dev_zero_as_dead_letters(folder, tmp_path):
    pytest.importorskip("apache_beam")
    out = tmp_path / "out"
    os.mkfifo(tmp_path / "direct.png")
    result = _predict("--beam", "--runner=DirectRunner", "--direct_num_workers=1", folder,
                      tmp_path / "direct.png", "--pixel-size", "0.15", "--out", out, timeout=300)
    assert result.returncode == 3, result.stderr
    dead = (out / "dead_letter.csv").read_text()
    assert dead.count("not a regular file (a FIFO)") == 2, dead
    assert "zero.png: not a regular file (a device)" in dead


def _bomb_png(path, side=6000):
    """A valid gray PNG of side x side black pixels (36 MP, a few kB): a small decompression
    bomb, written row by row so the test itself never holds the image."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    z = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(SAMPLE, d / "good.png")
    _bomb_png(d / "bomb.png")
    assert (d / "bomb.png").stat().st_size < 200_000
    result = _predict(d, "--pixel-size", "0.15", "--out", tmp_path / "out")
    assert result.returncode == 3, result.stderr
    (line,) = _unreadable_lines(result)
    assert "bomb.png: image too large (6000 x 6000 pixels; at most 25,000,000 pixels" in line
    assert not (tmp_path / "out" / "overlays" / "bomb.png").exists()


def test_the_limits_are_configurable_by_environment(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(SAMPLE, d / "good.png")
    pixels = _predict(d, "--pixel-size", "0.15", "--out", tmp_path / "a",
                      env={images.PIXELS_ENV: "100000"})  # the sample image is 400 x 270
    assert pixels.returncode == 1, pixels.stderr  # its only image refused: nothing written
    assert "good.png: image too large (400 x 270 pixels; at most 100,000" in pixels.stderr
    assert not (tmp_path / "a").exists()
    size = (d / "good.png").stat().st_size
    nbytes = _predict(d, "--pixel-size", "0.15", "--out", tmp_path / "b",
                      env={images.BYTES_ENV: str(size - 1)})
    assert nbytes.returncode == 1 and "good.png: file too large" in nbytes.stderr
    bad = _predict(d, "--pixel-size", "0.15", "--out", tmp_path / "c",
                   env={images.BYTES_ENV: "lots"})
    assert bad.returncode == 1 and f"{images.BYTES_ENV}='lots': expected a positive" in bad.stderr
    assert not (tmp_path / "c").exists()


def test_reader_checks_bytes_and_header_before_decoding(tmp_path):
    def header_only(side):  # a PNG header claiming side x side pixels, then no pixel data
        ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
                + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
                + struct.pack(">I", 1 << 20) + b"IDAT")
    with pytest.raises(ValueError, match=r"x.png: image too large \(6000 x 6000 pixels"):
        images.decode_gray(header_only(6000), "x.png")
    # Above Pillow's own guard too (2 x 89 MP): the same refusal, in pixels.
    with pytest.raises(ValueError, match=r"y.png: image too large \(900,000,000 pixels"):
        images.decode_gray(header_only(30000), "y.png")
    grown = tmp_path / "grown.bin"
    grown.write_bytes(b"\0" * 100)
    with pytest.raises(ValueError, match="file too large"):
        images.read_file_bytes(str(grown), max_bytes=99)
    with open(grown, "rb") as f:  # a file longer than it said (or growing): bounded read
        with pytest.raises(ValueError, match="more than"):
            images.read_bounded(f, "grown.bin", 10)


# A fresh interpreter: OpenCV reads OPENCV_IO_MAX_IMAGE_PIXELS once, when cv2 is imported.
# hc_tf first (as every entry point does); argv[1]: the package the child must import.
_BACKSTOP = """
import os, sys
import hc_tf
from hc_tf.io import images
import cv2, numpy as np
assert os.path.dirname(hc_tf.__file__) == sys.argv[1], hc_tf.__file__
print(os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"])
ok, png = cv2.imencode(".png", np.zeros((5000, 6000), np.uint8))  # 30 M pixels, a few kB
try:
    print(images._decode_unchecked(png.tobytes(), "big.png").shape)
except ValueError as err:
    print(err)
"""
_TOO_LARGE = "big.png: image too large for OpenCV's decoder (over OPENCV_IO_MAX_IMAGE_PIXELS pixels)"


@pytest.mark.parametrize("env,limit,outcome", [
    ({}, "25000000", _TOO_LARGE),
    ({images.PIXELS_ENV: "40000000"}, "40000000", "(5000, 6000)"),  # the project's limit raised
    ({images.PIXELS_ENV: "1000"}, "25000000", _TOO_LARGE),  # lowered: the header check's job
    ({images.PIXELS_ENV: "lots"}, "25000000", _TOO_LARGE),  # check_limits refuses it in words
    ({"OPENCV_IO_MAX_IMAGE_PIXELS": "50000000"}, "50000000", "(5000, 6000)"),  # the user's own
], ids=["default", "raised", "lowered", "invalid", "opencv_env_kept"])
def test_opencvs_pixel_guard_is_set_before_cv2_is_imported(env, limit, outcome):
    """Set in hc_tf.io.images, after cv2 was imported, it did nothing (OpenCV decoded 30 M
    pixels); its refusal is one line naming the file, not a cv2.error traceback. A backstop:
    the header check refuses such a file first."""
    root = os.path.abspath(ROOT)
    child_env = {k: v for k, v in os.environ.items()
                 if k not in ("OPENCV_IO_MAX_IMAGE_PIXELS", images.PIXELS_ENV)}
    result = subprocess.run([sys.executable, "-c", _BACKSTOP, os.path.join(root, "hc_tf")],
                            capture_output=True, text=True, timeout=120, cwd=root,
                            env={**child_env, **env})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [limit, outcome]


def test_names_starting_with_a_dash_after_double_dash(tmp_path):
    shutil.copy(SAMPLE, tmp_path / "-dash.png")
    refused = _predict("--pixel-size", "0.15", "--out", "o1", "-dash.png", cwd=tmp_path)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "-dash.png: a file name starting with '-' reads as an option; put -- before" in refused.stderr
    assert not (tmp_path / "o1").exists()
    ok = _predict("--pixel-size", "0.15", "--out", "o2", "--", "-dash.png", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "o2" / "overlays" / "-dash.png").is_file()


def test_a_real_option_is_not_refused_for_a_file_of_its_name(tmp_path):
    """A folder `--overwrite` (left by an earlier `--out --overwrite` typo) made `--overwrite`
    itself refused as a file name; the command's own options, `--opt=value` too, are options."""
    shutil.copy(SAMPLE, tmp_path / "a.png")
    (tmp_path / "--overwrite").mkdir()
    (tmp_path / "--out=o1").write_text("")
    result = _predict("--pixel-size", "0.15", "--out=o1", "--overwrite", "a.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "o1" / "overlays" / "a.png").is_file()


def test_beam_names_starting_with_a_dash_after_double_dash(tmp_path):
    pytest.importorskip("apache_beam")
    shutil.copy(SAMPLE, tmp_path / "-x.png")
    ok = _predict("--beam", "--runner=DirectRunner", "--pixel-size", "0.15", "--out", "o",
                  "--", "-x.png", cwd=tmp_path, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert "-x.png" in (tmp_path / "o" / "submission.csv").read_text()


# --- item 16: EXIF orientation -----------------------------------------------------------

def _oriented_jpeg(orientation):
    from PIL import Image
    rng = np.random.default_rng(0)
    base = np.zeros((60, 100), np.uint8)
    base[5:25, 10:40] = 255  # an asymmetric mark: every orientation moves it differently
    base += rng.integers(0, 20, base.shape, dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(base).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_viewers_show_it(orientation, tmp_path):
    from PIL import Image, ImageOps
    data = _oriented_jpeg(orientation)
    path = tmp_path / f"o{orientation}.jpg"
    path.write_bytes(data)
    got = preprocess.read_gray_image(str(path))  # what predict, evaluate and the demo read with
    with Image.open(io.BytesIO(data)) as im:
        want = np.asarray(ImageOps.exif_transpose(im).convert("L"))
    assert got.shape == want.shape
    assert np.abs(got.astype(int) - want.astype(int)).mean() < 3


def test_no_public_decoder_skips_the_orientation_or_the_checks():
    """preprocess.decode_gray_image, public and documented as read_gray_image of a file's
    bytes, skipped EXIF orientation and every header check: an EXIF-6 JPEG came out sideways
    (and measured 295.09 mm where predict gave 299.37). Bytes decode through images.decode_gray."""
    data = _oriented_jpeg(6)
    assert not hasattr(preprocess, "decode_gray_image")
    public = [getattr(m, n) for m in (preprocess, images) for n in dir(m)
              if "decode" in n and not n.startswith("_") and callable(getattr(m, n))]
    assert public == [images.decode_gray]
    assert images.decode_gray(data, "o6.jpg").shape == (100, 60)  # upright, as predict reads it


def _png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_with(before=b"", after=b"", cut=0):
    """A gray PNG with chunks put in before its image data and after it (before IEND)."""
    import cv2
    png = cv2.imencode(".png", np.arange(60 * 40, dtype=np.uint8).reshape(40, 60))[1].tobytes()
    idat, iend = png.index(b"IDAT") - 4, png.index(b"IEND") - 4
    data = png[:idat] + before + png[idat:iend] + after + png[iend:]
    return data[:len(data) - cut]


def _exif_tiff(orientation):
    from PIL import Image
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()[6:]  # without "Exif\0\0", as an eXIf chunk holds it


def _xmp(orientation):
    return (b"XML:com.adobe.xmp\0\0\0\0\0<x:xmpmeta><rdf:Description tiff:Orientation=\""
            + str(orientation).encode() + b"\"/></x:xmpmeta>")


@pytest.mark.parametrize("case, want, asks_pillow", [
    ("plain", 1, False),
    ("other text", 1, False),
    ("eXIf before the image data", 6, True),
    ("eXIf after it", 3, True),
    ("XMP text", 8, True),
    ("EXIF as tEXt", 1, True),
    ("cut short", 1, True),
])
def test_a_png_is_decoded_for_its_orientation_only_when_a_chunk_can_hold_one(
        case, want, asks_pillow, monkeypatch):
    # Pillow's getexif decodes every pixel of a PNG to look past its image data (half of a
    # read's time on HC18's images), so a PNG whose chunks hold no orientation is not given to
    # it; one that may hold one is, and the answer is Pillow's either way.
    from PIL import Image
    data = _png_with(**{
        "plain": {},
        "other text": {"before": _png_chunk(b"tEXt", b"Software\0hc-tf")
                       + _png_chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"x")),
                       "after": _png_chunk(b"iTXt", b"Title\0\0\0en\0\0head")},
        "eXIf before the image data": {"before": _png_chunk(b"eXIf", _exif_tiff(6))},
        "eXIf after it": {"after": _png_chunk(b"eXIf", _exif_tiff(3))},
        "XMP text": {"after": _png_chunk(b"iTXt", _xmp(8))},
        "EXIF as tEXt": {"before": _png_chunk(b"tEXt", b"exif\0not hex")},
        "cut short": {"cut": 5},
    }[case])
    with Image.open(io.BytesIO(data)) as im:
        try:
            pillow = int(im.getexif().get(0x0112, 1))
        except Exception:  # what exif_orientation reads as "as stored"
            pillow = 1
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda *a, **k: opened.append(1) or real_open(*a, **k))
    assert images.exif_orientation(data) == pillow == want
    assert bool(opened) == asks_pillow


def test_the_readers_warning_filters_are_changed_by_one_thread_at_a_time():
    # warnings.catch_warnings saves and restores the process's filters: a header read in one
    # thread (the demo's, the node's) interleaved with another's restored the wrong filters.
    import threading

    import cv2

    from hc_tf.io import dicom, images
    png = cv2.imencode(".png", np.zeros((8, 8), np.uint8))[1].tobytes()
    done = threading.Event()
    with dicom.quiet():  # holds the readers' lock, as a DICOM header read does
        reader = threading.Thread(target=lambda: (images.image_size(png, "x.png"), done.set()))
        reader.start()
        assert not done.wait(0.3), "image_size changed the filters inside another's block"
    reader.join(10)
    assert done.is_set()
