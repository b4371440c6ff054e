"""`hc-tf demo`: the plain prediction function, the served app through gradio_client, and
the real page in headless Chromium, all against the bundle's golden values.

The server runs `hc-tf demo` in a subprocess with TensorFlow imports blocked (the
int8 `.tflite` path must not need it). HC_TF_DEMO_SCREENSHOT=path saves the
browser test's page after its prediction (docs/demo.png was made so).
"""

import json
import os
import re
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
import zlib

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from hc_tf import cli
from hc_tf import clinical as C
from hc_tf.surfaces import demo
from hc_tf import edge
from hc_tf import inference
from hc_tf import measure as M
from hc_tf import preprocess
from hc_tf.report import records as report

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUNDLE = os.path.join(REPO, "android_demo_assets")
CHROMIUM = os.environ.get("HC_TF_CHROMIUM", "/usr/bin/chromium")  # Debian's package
# Without the background-networking flags Chromium keeps calling home, which a
# closed network refuses; --headless etc. keep it usable on a CI box.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STARTUP_LIMIT_S = 90  # generous for a loaded CI box; ~6 s here on 2 busy cores

pytestmark = pytest.mark.skipif(not os.path.isfile(os.path.join(BUNDLE, "golden.json")),
                                reason="android_demo_assets/golden.json missing")


@pytest.fixture(scope="module")
def golden():
    with open(os.path.join(BUNDLE, "golden.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def sample(golden):
    """The first bundled sample with a head: (path, pixel size, golden entry)."""
    s = next(s for s in golden["samples"] if s["found"])
    return os.path.join(BUNDLE, "samples", s["filename"]), s["pixel_size_mm"], s


@pytest.fixture(scope="module")
def runner():
    return edge.LiteRunner(demo.DEFAULT_MODEL)


def _hc_from_text(text):
    match = re.fullmatch(r"HC (\d+\.\d+) mm", text.strip())
    assert match, text
    return float(match.group(1))


def _assert_row_matches(csv_text, s):
    header, row = csv_text.strip().splitlines()
    assert header.split(",") == list(M.SUBMISSION_HEADER)
    fields = row.split(",")
    assert fields[0] == s["filename"]
    for key, value in zip(M.SUBMISSION_HEADER[1:], fields[1:]):
        assert float(value) == pytest.approx(s["submission_row"][key], abs=1e-3), key


# ---------------------------------------------------------------------------
# The plain function: no browser, no Gradio.
# ---------------------------------------------------------------------------

def test_predict_matches_golden(runner, golden):
    tol = golden["tolerance"]["hc_mm"]
    for s in golden["samples"]:
        path = os.path.join(BUNDLE, "samples", s["filename"])
        r = demo.predict(runner, preprocess.read_gray_image(path), s["pixel_size_mm"],
                         filename=s["filename"])
        assert r.measurement.found == s["found"], s["filename"]
        if s["found"]:
            assert r.measurement.hc_mm == pytest.approx(s["hc_mm"], abs=tol)
            assert _hc_from_text(r.hc_text) == pytest.approx(s["hc_mm"], abs=0.005 + tol)
            _assert_row_matches(r.submission_csv, s)
        assert r.overlay_rgb.shape == tuple(s["image_hw"]) + (3,)
        assert r.overlay_rgb.dtype == np.uint8
        assert re.match(r"\d+\.\d ms \(letterbox", r.time_text), r.time_text
        assert set(r.timings_ms) == {"letterbox_ms", "invoke_ms", "measure_ms", "total_ms"}


def test_overlay_draws_the_ellipse_in_green(runner, sample):
    path, px, _ = sample
    gray = preprocess.read_gray_image(path)
    r = demo.predict(runner, gray, px)
    green = (r.overlay_rgb[..., 1] > 200) & (r.overlay_rgb[..., 0] < 80) & (r.overlay_rgb[..., 2] < 80)
    e = r.measurement.ellipse
    ring = M.rasterize_ellipse(e, gray.shape, filled=False)
    assert green[ring > 0].mean() > 0.5  # the outline is drawn where the fit is


def test_predict_file_rgb_and_jpeg(runner, sample, golden, tmp_path):
    path, px, s = sample
    tol = golden["tolerance"]["hc_mm"]
    gray = preprocess.read_gray_image(path)
    rgb_png = str(tmp_path / "rgb.png")
    cv2.imwrite(rgb_png, cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
    r = demo.predict_file(runner, rgb_png, px)
    assert r.measurement.hc_mm == pytest.approx(s["hc_mm"], abs=tol)
    assert "decode" in r.time_text and r.timings_ms["total_ms"] >= r.timings_ms["decode_ms"]
    jpg = str(tmp_path / "scan.jpg")
    cv2.imwrite(jpg, gray, [cv2.IMWRITE_JPEG_QUALITY, 95])
    r = demo.predict_file(runner, jpg, px)
    assert r.measurement.hc_mm == pytest.approx(s["hc_mm"], rel=0.02)  # lossy, close
    assert r.submission_csv.splitlines()[1].startswith("scan.jpg,")
    rgba = np.dstack([np.stack([gray] * 3, axis=-1), np.full_like(gray, 255)])
    assert demo.predict(runner, rgba, px).measurement.hc_mm == pytest.approx(s["hc_mm"], abs=tol)


# ---------------------------------------------------------------------------
# Clinical read-outs: GA, centile, review flag.
# ---------------------------------------------------------------------------

def test_ga_lines_for_both_formulas_with_range_status(runner, golden):
    for s in golden["samples"]:
        if not s["found"]:
            continue
        path = os.path.join(BUNDLE, "samples", s["filename"])
        r = demo.predict(runner, preprocess.read_gray_image(path), s["pixel_size_mm"])
        lines = r.ga_text.splitlines()
        assert [text.split(":")[0] for text in lines] == ["Hadlock 1984", "INTERGROWTH-21st (HC only)"]
        for line, key in zip(lines, ("hadlock", "intergrowth")):
            g = s["gestational_age"][key]
            if g["status"] == "ok":
                assert f": {g['ga']} weeks (" in line and "in range (" in line, line
            else:
                assert ": out of range: HC " in line, line


def test_known_ga_gives_centile_and_z(runner, sample):
    path, px, s = sample
    gray = preprocess.read_gray_image(path)
    want = C.hc_centile(s["hc_mm"], "32+5")
    for ga in ("32+5", 32 + 5 / 7, str(32 + 5 / 7)):
        r = demo.predict(runner, gray, px, ga=ga)
        assert r.centile_text.startswith("At 32+5 weeks: centile "), r.centile_text
        assert f"(z {C.format_z(want.z)})" in r.centile_text
        iv = r.measurement.hc_interval()  # and the centiles the HC's interval spans
        spans = C.centile_interval(iv.lower_mm, iv.upper_mm, 32 + 5 / 7, iv.level).display()
        assert r.centile_text.endswith(f"; {spans} (INTERGROWTH-21st fetal HC standard)"), r.centile_text
    assert demo.predict(runner, gray, px).centile_text == ""
    assert demo.predict(runner, gray, px, ga=" ").centile_text == ""
    early = demo.predict(runner, gray, px, ga="12+0").centile_text  # accepted, outside the standard
    assert early.startswith("At 12+0 weeks: out of range: GA 12+0 weeks is outside 14+0 to 40+0")


@pytest.mark.parametrize("ga, message", [("abc", "is not a number of weeks"), ("50", "outside 10-45"),
                                         ("9+6", "outside 10-45"), ("27+9", "is not a number"),
                                         (float("nan"), "finite"), ([27], "number")])
def test_bad_ga_is_one_plain_line(runner, ga, message):
    with pytest.raises(demo.DemoInputError, match="GA") as err:
        demo.predict(runner, np.zeros((64, 64), np.uint8), 0.1, ga=ga)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert "leave it empty" in str(err.value)


def test_flagged_sample_says_please_review_with_its_reasons(runner, golden):
    flagged = [s for s in golden["samples"] if s["review"]]
    assert flagged
    for s in golden["samples"]:
        if not s["found"]:
            continue
        path = os.path.join(BUNDLE, "samples", s["filename"])
        r = demo.predict(runner, preprocess.read_gray_image(path), s["pixel_size_mm"])
        if s["review"]:
            assert r.review_text == "please review: " + "; ".join(s["review_reasons"])
            red = (r.overlay_rgb[..., 0] > 200) & (r.overlay_rgb[..., 1] < 60)
            assert red[:3].mean() > 0.9 and red[-3:].mean() > 0.9  # the red frame
        else:
            assert r.review_text == "not flagged for review"


class _EmptyRunner:
    """A model that never sees a head (the real one finds one even in a black frame)."""

    input_hw = (224, 320)

    def predict(self, inputs):
        return np.zeros((len(inputs),) + self.input_hw, np.float32)


def test_no_head_found_says_so():
    r = demo.predict(_EmptyRunner(), np.zeros((540, 800), np.uint8), 0.1, filename="blank.png")
    assert not r.measurement.found
    assert r.hc_text.startswith("No head found: ")
    assert (r.ga_text, r.centile_text, r.review_text) == ("", "", "")
    assert r.submission_csv.splitlines()[1] == "blank.png,0.0000,0.0000,0.0000,0.0000,0.0000"
    assert r.overlay_rgb.shape == (540, 800, 3)


@pytest.mark.parametrize("value", [None, "", " ", "abc", 0, 0.0, -0.1, "-1", float("nan"),
                                   float("inf"), [0.1]])
def test_bad_pixel_size(runner, value):
    with pytest.raises(demo.DemoInputError, match="Pixel size"):
        demo.predict(runner, np.zeros((64, 64), np.uint8), value)


def test_pixel_size_accepts_numbers_and_numeric_strings():
    assert demo.check_pixel_size(0.25) == 0.25
    assert demo.check_pixel_size("0.1") == 0.1
    assert demo.check_pixel_size(1) == 1.0


def test_bad_image_arrays(runner):
    side = int(demo.MAX_IMAGE_PIXELS ** 0.5) + 1
    with pytest.raises(demo.DemoInputError, match="The image: image too large"):
        demo.predict(runner, np.zeros((side, side), np.uint8), 0.1)
    with pytest.raises(demo.DemoInputError, match="8-bit"):
        demo.predict(runner, np.zeros((64, 64), np.uint16), 0.1)
    with pytest.raises(demo.DemoInputError, match="Not an image"):
        demo.predict(runner, np.zeros(64, np.uint8), 0.1)


def test_bad_image_files(tmp_path):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not an image\n" * 10)
    with pytest.raises(demo.DemoInputError, match=r"junk.png: not a readable image"):
        demo.read_image_file(str(junk))
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(demo.DemoInputError, match="not a readable image"):
        demo.read_image_file(str(empty), name="upload.jpg")
    with pytest.raises(demo.DemoInputError, match="no such file"):
        demo.read_image_file(str(tmp_path / "missing.png"))
    # A small file that decodes to 30 MP: refused from its header, never decoded.
    huge = tmp_path / "huge.png"
    cv2.imwrite(str(huge), np.zeros((5000, 6000), np.uint8))
    assert huge.stat().st_size < demo.MAX_UPLOAD_BYTES
    with pytest.raises(demo.DemoInputError, match=r"huge.png: image too large \(6000 x 5000"):
        demo.read_image_file(str(huge))
    sixteen = tmp_path / "deep.png"
    cv2.imwrite(str(sixteen), np.zeros((32, 32), np.uint16))
    with pytest.raises(demo.DemoInputError, match="8-bit"):
        demo.read_image_file(str(sixteen))


def test_a_png_header_past_pillows_own_bomb_guard_is_too_large_not_unreadable(tmp_path):
    # 60000 x 60000 declared in a few bytes: Pillow refuses it itself (DecompressionBombError);
    # the page said "not a readable image (upload a PNG or JPEG)" for a PNG.
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header(60000, 60000))
    with pytest.raises(demo.DemoInputError, match=r"^bomb.png: image too large \(3,600,000,000 "
                                                  r"pixels; at most 25,000,000 pixels"):
        demo.read_image_file(str(bomb))


def _png_header(width, height):
    """A PNG that declares width x height (8-bit gray) with one tiny IDAT: no real pixels."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


def test_measure_upload_never_raises(runner, sample, tmp_path):
    path, px, s = sample
    overlay, hc, ga, centile, review, row, took = demo.measure_upload(
        runner, {"path": path, "orig_name": "x.png"}, px)
    assert _hc_from_text(hc) == pytest.approx(s["hc_mm"], abs=0.006)
    assert ga.startswith("Hadlock 1984: ") and centile == "" and review
    assert row.splitlines()[1].startswith("x.png,") and took.endswith(")")
    assert overlay.shape[2] == 3
    junk = tmp_path / "upload"
    junk.write_bytes(b"%PDF-1.4 not an image")
    cases = [(None, px, "No image"), ({"path": str(junk), "orig_name": "scan.pdf"}, px,
                                       "scan.pdf: not a readable image"),
             ({"path": path}, None, "Pixel size missing"), ({"path": path}, "-2", "not positive")]
    for upload, size, message in cases:
        out = demo.measure_upload(runner, upload, size)
        assert out[0] is None and out[1].startswith("Error: ") and message in out[1], out
        assert out[2:] == ("",) * 5
    out = demo.measure_upload(runner, {"path": path}, px, "27+9")
    assert out[0] is None and out[1].startswith("Error: GA '27+9'") and out[2:] == ("",) * 5


def test_an_expired_upload_asks_for_the_file_again(runner, tmp_path):
    # Uploads are deleted after defaults.DEMO_UPLOAD_RETENTION_S: measuring one again from the
    # page still open says so, not "no such file".
    gone = {"path": str(tmp_path / "0123abcd" / "scan.png"), "orig_name": "scan.png"}
    out = demo.measure_upload(runner, gone, 0.1)
    assert out[0] is None and out[2:] == ("",) * 5
    assert out[1] == ("Error: scan.png: no longer on the server (uploads are deleted 10 minutes "
                      "after they are sent): upload it again."), out[1]
    out = demo.measure_upload(runner, gone, 0.1, retention_s=90)  # the server's, not the default
    assert "(uploads are deleted 1.5 minutes after they are sent)" in out[1], out[1]


def test_load_examples(golden):
    examples = demo.load_examples()
    assert [(os.path.basename(p), px) for p, px in examples] == [
        (s["filename"], s["pixel_size_mm"]) for s in golden["samples"]]
    assert demo.load_examples("/nonexistent") == []


def test_cli_demo_help_and_bad_model(tmp_path):
    res = CliRunner().invoke(cli.main, ["demo", "--help"])
    assert res.exit_code == 0 and "--model" in res.output and "127.0.0.1" in res.output
    res = CliRunner().invoke(cli.main, ["demo", "--model", str(tmp_path / "none.tflite")])
    assert res.exit_code == 1 and "no such model file" in res.output
    assert "Traceback" not in res.output


# ---------------------------------------------------------------------------
# Exposure warning and concurrency.
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.1.1", "localhost", "::1", "[::1]"])
def test_no_warning_on_loopback(host):
    assert demo.exposure_warning(host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "demo.example.org"])
def test_warning_beyond_loopback(host):
    warning = demo.exposure_warning(host)
    assert warning.startswith("Warning: ") and "no authentication" in warning and "\n" not in warning


def test_cli_demo_prints_the_warning_for_a_non_loopback_host(monkeypatch):
    calls = []
    monkeypatch.setattr(demo, "serve", lambda *a, **kw: calls.append((a, kw)))
    res = CliRunner().invoke(cli.main, ["demo", "--host", "0.0.0.0", "--workers", "3"])
    assert res.exit_code == 0, res.output
    assert "Warning: serving on 0.0.0.0" in res.output and "no authentication" in res.output
    assert calls[-1][1] == {"host": "0.0.0.0", "port": 7860, "workers": 3}
    res = CliRunner().invoke(cli.main, ["demo"])
    assert res.exit_code == 0 and "Warning" not in res.output


class _SlowRunner:
    """Records how many predicts run at once."""

    input_hw = (8, 8)
    lock = threading.Lock()
    active = peak = 0

    def predict(self, x):
        with self.lock:
            type(self).active += 1
            type(self).peak = max(type(self).peak, type(self).active)
        time.sleep(0.2)
        with self.lock:
            type(self).active -= 1
        return np.zeros((len(x), 8, 8), np.float32)


@pytest.mark.parametrize("size", [1, 4])
def test_runner_pool_measures_as_many_at_once_as_it_has_runners(size):
    _SlowRunner.active = _SlowRunner.peak = 0
    pool = demo.RunnerPool(_SlowRunner, size)
    threads = [threading.Thread(target=pool.predict, args=(np.zeros((1, 8, 8, 1), np.uint8),))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _SlowRunner.peak == size and pool.made == size


def test_app_allows_one_request_per_runner():
    pytest.importorskip("gradio")
    pool = demo.RunnerPool(_SlowRunner, 3)
    app = demo.build_app(pool)
    assert [f.concurrency_limit for f in app.fns.values() if f.api_name == demo.API_NAME] == [3]
    app = demo.build_app(_SlowRunner())  # a plain runner: one at a time
    assert [f.concurrency_limit for f in app.fns.values() if f.api_name == demo.API_NAME] == [1]


def test_pool_of_interpreters_measures_like_one(runner, sample):
    path, px, s = sample
    pool = demo.runner_pool(demo.DEFAULT_MODEL, workers=2)
    assert pool.made == 1 and pool.input_hw == runner.input_hw
    a = demo.predict_file(pool, path, px)
    b = demo.predict_file(runner, path, px)
    assert a.measurement.hc_mm == b.measurement.hc_mm
    assert a.measurement.hc_interval() == b.measurement.hc_interval() is not None


def test_pool_of_a_custom_model_gives_no_released_interval(sample, tmp_path):
    # A model of one's own (here the released bytes plus a tail, so another sha256) has no
    # interval calibration: one runner says so, and the demo's and the node's pool must too
    # (it read none from its runners, and the released table filled the gap).
    path, px, s = sample
    mine = tmp_path / "mine.tflite"
    mine.write_bytes(open(demo.DEFAULT_MODEL, "rb").read() + bytes(64))
    pool = demo.runner_pool(str(mine), workers=2)
    alone = demo.predict_file(inference.load_runner(str(mine)), path, px).measurement
    pooled = demo.predict_file(pool, path, px).measurement
    assert alone.hc_interval() is None and alone.no_interval_reason
    assert pooled.hc_interval() is None and pooled.no_interval_reason == alone.no_interval_reason
    assert pool.sha256 is None and pool.interval_table is None


# ---------------------------------------------------------------------------
# The served app: `hc-tf demo` in a subprocess, TensorFlow blocked.
# ---------------------------------------------------------------------------

SERVER_SCRIPT = textwrap.dedent("""
    import importlib.abc, sys

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
                raise ImportError(f"blocked import of {name}")
            return None

    sys.meta_path.insert(0, Block())
    from hc_tf import cli
    cli.main(["demo", "--host", "127.0.0.1", "--port", sys.argv[1]], prog_name="hc-tf")
""")


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_serving(url, proc, log_path, limit_s):
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        if proc.poll() is not None:
            with open(log_path) as f:
                pytest.fail(f"hc-tf demo exited with {proc.returncode}:\n{f.read()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return time.monotonic() - t0
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    with open(log_path) as f:
        pytest.fail(f"hc-tf demo not serving after {limit_s} s:\n{f.read()[-3000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`hc-tf demo` on a free loopback port: yields {"url", "startup_s", "log"}."""
    pytest.importorskip("gradio", reason="the demo's server tests need gradio (pip install -e '.[demo]')")
    port = _free_port()
    log_path = str(tmp_path_factory.mktemp("demo") / "server.log")
    env = {**os.environ, "PYTHONPATH": REPO, "GRADIO_TEMP_DIR": str(tmp_path_factory.mktemp("uploads"))}
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-c", SERVER_SCRIPT, str(port)], cwd=REPO, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        startup_s = _wait_until_serving(url, proc, log_path, STARTUP_LIMIT_S)
        print(f"\nhc-tf demo serving {url} after {startup_s:.1f} s")
        yield {"url": url, "startup_s": startup_s, "log": log_path}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_server_starts_offline_without_tensorflow(server):
    with open(server["log"]) as f:
        log = f.read()
    assert "hc-tf demo: serving on http://127.0.0.1:" in log, log
    assert "public link" not in log, log  # Gradio's share-link advice: this demo never shares
    assert "blocked import" not in log and "Traceback" not in log, log
    assert "gradio.live" not in log  # no share link
    assert server["startup_s"] < STARTUP_LIMIT_S


def test_gradio_client_sample_and_bad_upload(server, sample, tmp_path, own_temp_folder):
    from gradio_client import Client, handle_file

    path, px, s = sample
    client = Client(server["url"], verbose=False, download_files=str(own_temp_folder))
    overlay, hc, ga, centile, review, row, took = client.predict(
        handle_file(path), px, "30+0", api_name="/measure")
    assert _hc_from_text(hc) == pytest.approx(s["hc_mm"], abs=0.005 + 1e-3)
    assert ga.splitlines()[0] == report.ga_line(C.ga_from_hc(s["hc_mm"]))
    assert centile.startswith("At 30+0 weeks: centile ") and review == "not flagged for review"
    _assert_row_matches(row, s)
    assert re.match(r"\d+\.\d ms \(decode", took), took
    assert cv2.imread(overlay).shape == tuple(s["image_hw"]) + (3,)

    bad = tmp_path / "not_an_image.png"
    bad.write_bytes(b"GIF89a? no, just text pretending to be an image")
    overlay, hc, *rest = client.predict(handle_file(str(bad)), px, "", api_name="/measure")
    assert overlay is None and rest == [""] * 5
    assert hc == "Error: not_an_image.png: not a readable image (upload a PNG or JPEG)."
    _, hc, *_ = client.predict(handle_file(path), 0, "", api_name="/measure")
    assert hc.startswith("Error: Pixel size 0 is not positive")
    _, hc, *_ = client.predict(handle_file(path), px, "abc", api_name="/measure")
    assert hc.startswith("Error: GA 'abc' is not a number")
    # ... and the server keeps serving.
    _, hc, *_ = client.predict(handle_file(path), px, "", api_name="/measure")
    assert _hc_from_text(hc) == pytest.approx(s["hc_mm"], abs=0.005 + 1e-3)


def test_gradio_client_dicom_upload(server, runner, tmp_path, own_temp_folder):
    pytest.importorskip("pydicom")
    from gradio_client import Client, handle_file

    from tests import dicom_files
    path = dicom_files.save(dicom_files.gray_dataset("000_HC.png"), str(tmp_path / "head.dcm"))
    want = demo.predict_file(runner, path, None)
    client = Client(server["url"], verbose=False, download_files=str(own_temp_folder))
    # (image, pixel size, GA, override, DICOM file): no pixel size, the file's is used.
    overlay, hc, *_ = client.predict(None, None, "", False, handle_file(path), api_name="/measure")
    assert hc == f"{want.hc_text}\n{want.pixel_size_text}" and overlay
    _, hc, *_ = client.predict(None, 0.3, "", False, handle_file(path), api_name="/measure")
    assert hc.startswith("Error: head.dcm: the typed pixel size 0.3 mm disagrees"), hc
    _, hc, *_ = client.predict(handle_file(path), None, "", api_name="/measure")  # by content
    assert hc == f"{want.hc_text}\n{want.pixel_size_text}"


def _playwright_or_skip():
    """Playwright's sync API, or skip with the reason printed (never a silent pass)."""
    reason = None
    if not os.path.isfile(CHROMIUM):
        reason = f"{CHROMIUM} missing (apt-get install chromium)"
    else:
        try:
            from playwright.sync_api import sync_playwright
            return sync_playwright
        except ImportError as err:
            reason = f"playwright not installed ({err}; pip install -e '.[test]')"
    print(f"\nSKIP browser test: {reason}")
    pytest.skip(reason)


def test_browser_upload_measure(server, sample, golden, tmp_path):
    sync_playwright = _playwright_or_skip()
    path, px, s = sample
    base = server["url"].rstrip("/")
    outside = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("request", lambda req: None if req.url.startswith((base, "data:", "blob:"))
                    else outside.append(req.url))
            page.goto(server["url"], wait_until="networkidle", timeout=60_000)
            page.locator("#image input[type=file]").set_input_files(path)
            page.locator("#image img").first.wait_for(state="visible", timeout=30_000)
            page.locator("#pixel-size input").fill(str(px))
            page.locator("#submit").click()
            hc_box = page.locator("#hc textarea")
            page.wait_for_function(
                "() => /^(HC|No head|Error)/.test(document.querySelector('#hc textarea').value)",
                timeout=60_000)
            assert _hc_from_text(hc_box.input_value()) == pytest.approx(s["hc_mm"], abs=0.005 + 1e-3)
            _assert_row_matches(page.locator("#row textarea").input_value(), s)
            assert re.match(r"\d+\.\d ms", page.locator("#time textarea").input_value())
            page.locator("#overlay img").first.wait_for(state="visible", timeout=30_000)
            shot = os.environ.get("HC_TF_DEMO_SCREENSHOT") or str(tmp_path / "demo.png")
            page.screenshot(path=shot, full_page=True)
            print(f"\nscreenshot: {shot}")

            # An example fills in the image and its pixel size.
            other = next(x for x in golden["samples"] if x["found"] and x is not s)
            page.goto(server["url"], wait_until="networkidle", timeout=60_000)
            page.get_by_text(str(other["pixel_size_mm"]), exact=True).first.click()
            page.locator("#image img").first.wait_for(state="visible", timeout=30_000)
            assert float(page.locator("#pixel-size input").input_value()) == other["pixel_size_mm"]
            page.locator("#submit").click()
            page.wait_for_function(
                "() => document.querySelector('#hc textarea').value.startsWith('HC')", timeout=60_000)
            assert _hc_from_text(hc_box.input_value()) == pytest.approx(other["hc_mm"], abs=0.006)

            # A non-image upload (in a fresh page): a plain message in the page.
            bad = tmp_path / "notes.png"
            bad.write_bytes(b"not an image")
            page.goto(server["url"], wait_until="networkidle", timeout=60_000)
            page.locator("#image input[type=file]").set_input_files(str(bad))
            page.locator("#pixel-size input").fill(str(px))
            page.locator("#submit").click()
            page.wait_for_function(
                "() => document.querySelector('#hc textarea').value.startsWith('Error')",
                timeout=60_000)
            assert "notes.png: not a readable image" in hc_box.input_value()
        finally:
            browser.close()
    assert outside == [], f"the page reached beyond the server: {outside}"


def test_browser_dicom_upload_needs_no_pixel_size(server, runner, tmp_path):
    pytest.importorskip("pydicom")
    sync_playwright = _playwright_or_skip()
    from tests import dicom_files
    path = dicom_files.save(dicom_files.gray_dataset("000_HC.png"), str(tmp_path / "head.dcm"))
    want = demo.predict_file(runner, path, None)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(server["url"], wait_until="networkidle", timeout=60_000)
            page.locator("#dicom input[type=file]").set_input_files(path)
            # The uploaded file's row (the name is split over two spans, so not a text match:
            # get_by_text("head.dcm") found the row only some of the time).
            page.locator('#dicom [aria-label="head.dcm"]').wait_for(state="visible", timeout=60_000)
            page.locator("#submit").click()
            page.wait_for_function(
                "() => /^(HC|No head|Error)/.test(document.querySelector('#hc textarea').value)",
                timeout=60_000)
            assert page.locator("#hc textarea").input_value() == \
                f"{want.hc_text}\n{want.pixel_size_text}"
        finally:
            browser.close()


def test_cli_port_taken_is_one_line(server):
    port = server["url"].rstrip("/").rsplit(":", 1)[1]
    res = CliRunner().invoke(cli.main, ["demo", "--port", port])
    assert res.exit_code == 1, res.output
    assert "Cannot find empty port" in res.output and "Traceback" not in res.output
