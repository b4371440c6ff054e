"""The web app between images, in headless Chromium: no value carried over without
the user saying so, no stale result, the latest choice wins, a responsive page with progress,
the Python side's limits, offline readiness, the about panel, report downloads, several
images as a table, the desktop layout. Skips as tests/web_app_test.py does.

HC_TF_WEB_SCREENSHOT_DESKTOP=path saves a 1440x900 screenshot (the phone one:
HC_TF_WEB_SCREENSHOT in web_app_test.py).
"""

import csv
import functools
import http.server
import io
import json
import os
import re
import struct
import threading
import time
import zlib

import cv2
import numpy as np
import pytest
from playwright.sync_api import expect

from web_app_test import (BUNDLE, DIST, TOL_MM, _Handler, _wait_ready, browser, golden,  # noqa: F401
                          server)

SAMPLES = os.path.join(BUNDLE, "samples")


def _sample(golden, name):  # noqa: F811
    return next(s for s in golden["samples"] if s["filename"] == name)


def _png(array):
    ok, buf = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    assert ok
    return buf.tobytes()


def _file(name, data):
    return {"name": name, "mimeType": "image/png", "buffer": data}


def _png_header_only(width, height):
    """A PNG signature and IHDR claiming a size (no pixels): refused before any decoding."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk


def _jpeg_header_only(width, height):
    """A JPEG whose SOF (claiming a size, no pixels) follows 130 KB of APP1/APP2 (EXIF, ICC)."""
    app = b"".join(bytes([0xFF, m]) + struct.pack(">H", 65002) + bytes(65000) for m in (0xE1, 0xE2))
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app + sof + b"\xff\xd9"


@pytest.fixture(scope="module")
def big_png():
    """An upscaled sample just under the 25 MP limit: slow to decode (the race, the busy page)."""
    gray = cv2.imread(os.path.join(SAMPLES, "000_HC.png"), cv2.IMREAD_GRAYSCALE)
    return _png(cv2.resize(gray, (6000, 4050), interpolation=cv2.INTER_NEAREST))


@pytest.fixture()
def page(browser, server):  # noqa: F811
    context = browser.new_context(viewport={"width": 390, "height": 844}, accept_downloads=True)
    p = context.new_page()
    errors = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.goto(server["url"] + "?sw=0", wait_until="load", timeout=60_000)
    _wait_ready(p)
    yield p
    context.close()
    assert not errors, errors


def _wait_image(page, name):
    """Until `name` is on screen (on older builds too: its result, or a redrawn canvas)."""
    page.wait_for_function("""(name) => { const v = document.querySelector('#view');
        return v.dataset.name === name || document.querySelector('#result').dataset.name === name
          || (v.dataset.state === undefined && v.width !== 320); }""", arg=name, timeout=60_000)


def _open(page, name):
    page.set_input_files("#file", os.path.join(SAMPLES, name))
    _wait_image(page, name)


def _carry(page):
    """Ticks "same patient, same settings" (older builds carried values silently)."""
    if page.locator("#carry").count():
        page.check("#carry")


def _measure_kept(page, name):
    """An image given values kept by "same patient, same settings": shown, not measured until
    Measure is pressed (it was measured at once); presses it."""
    page.wait_for_selector(f"#view[data-name='{name}'][data-state='image']", timeout=120_000)
    page.wait_for_selector("#result[data-state='needs-measure']", state="attached", timeout=30_000)
    assert page.get_attribute("#result", "data-hc-mm") is None
    page.click("#measure")


def _found(page, name):
    page.wait_for_selector(f"#result[data-name='{name}'][data-state='found']", timeout=60_000)
    return float(page.get_attribute("#result", "data-hc-mm"))


def _state(page):
    return page.get_attribute("#result", "data-state")


def test_next_image_never_gets_the_previous_pixel_size_or_ga(page, golden):  # noqa: F811
    a, b, c = (_sample(golden, n) for n in ("000_HC.png", "001_HC.png", "002_HC.png"))
    _open(page, a["filename"])
    assert page.input_value("#px") == "" and page.get_attribute("#result", "data-hc-mm") is None
    page.fill("#px", repr(a["pixel_size_mm"]))
    page.fill("#known-ga", "30+0")
    page.click("#measure")
    assert abs(_found(page, a["filename"]) - a["hc_mm"]) <= TOL_MM
    # A new image: nothing measured, no pixel size, no GA (the 231 -> 004 case).
    _open(page, b["filename"])
    page.wait_for_selector("#result[data-state='needs-pixel-size'], #result[data-name='001_HC.png'][data-state='found']",
                           state="attached", timeout=30_000)
    assert _state(page) == "needs-pixel-size", page.locator("#result").inner_text()
    assert page.input_value("#px") == "" and page.input_value("#known-ga") == ""
    assert page.locator("#hc").inner_text() == "" and page.locator("#ga li").count() == 0
    assert "Enter the pixel size of 001_HC.png" in page.locator("#message").inner_text()
    # "Same patient, same settings" ticked: the user says so, the values are kept.
    _carry(page)
    page.fill("#px", repr(b["pixel_size_mm"]))
    page.fill("#known-ga", "20+0")
    page.click("#measure")
    assert abs(_found(page, b["filename"]) - b["hc_mm"]) <= TOL_MM
    _open(page, c["filename"])
    # The next image keeps them, says so, and is not measured until Measure is pressed; the tick
    # is used up (it stayed ticked and measured every later image with them: HC 109.8 mm, true 180.7).
    page.wait_for_selector("#result[data-state='needs-measure']", state="attached", timeout=30_000)
    page.wait_for_timeout(500)
    assert page.get_attribute("#result", "data-hc-mm") is None and page.locator("#hc").inner_text() == ""
    assert not page.is_checked("#carry")
    kept = page.locator("#carried").inner_text()
    assert "same patient, same settings" in kept and f"pixel size {b['pixel_size_mm']!r} mm" in kept, kept
    assert "known GA 20+0" in kept and "press Measure" in kept and "now unticked" in kept, kept
    assert page.input_value("#known-ga") == "20+0" and page.input_value("#px") == repr(b["pixel_size_mm"])
    page.click("#measure")
    _found(page, c["filename"])
    assert float(page.get_attribute("#result", "data-pixel-size-mm")) == b["pixel_size_mm"]
    page.wait_for_selector("#centile[data-state='ok']", timeout=10_000)
    assert "press Measure" not in page.locator("#carried").inner_text()
    # A third image (another patient): nothing kept, nothing measured.
    d = _sample(golden, "003_HC.png")
    _open(page, d["filename"])
    page.wait_for_selector("#result[data-state='needs-pixel-size']", state="attached", timeout=30_000)
    page.wait_for_timeout(500)
    assert _state(page) == "needs-pixel-size" and page.get_attribute("#result", "data-hc-mm") is None
    assert page.input_value("#px") == "" and page.input_value("#known-ga") == ""
    assert page.locator("#carried").inner_text() == ""


def test_a_result_never_outlives_its_input(page, golden):  # noqa: F811
    s = _sample(golden, "003_HC.png")
    _open(page, s["filename"])
    page.fill("#px", repr(s["pixel_size_mm"]))
    page.click("#measure")
    _found(page, s["filename"])
    # A rejected pixel size: the old HC, GA and ellipse go.
    page.fill("#px", "abc")
    page.click("#measure")
    page.wait_for_selector("#message:has-text('not a number')", timeout=10_000)
    assert _state(page) == "error"
    assert page.locator("#hc").inner_text() == "" and page.locator("#ga li").count() == 0
    assert page.get_attribute("#result", "data-hc-mm") is None
    # Edited without pressing Measure: the result is not for this input any more.
    page.fill("#px", repr(s["pixel_size_mm"]))
    page.click("#measure")
    _found(page, s["filename"])
    page.fill("#px", "0.2")
    assert _state(page) == "stale" and page.locator("#hc").inner_text() == ""
    assert "pixel size changed" in page.locator("#stale").inner_text()
    # A bundled sample brings its own pixel size; a new image clears the old result at once.
    page.select_option("#sample", "002_HC.png")
    _found(page, "002_HC.png")


def _record_results(page):
    """Logs every result the page shows (name, HC) from now on."""
    page.evaluate("""() => { window.shown = [];
        new MutationObserver(() => { const d = document.querySelector('#result').dataset;
          if (d.state === 'found' || d.state === 'not-found') window.shown.push([d.name, d.hcMm || null]); })
        .observe(document.querySelector('#result'), {attributes: true});
        window.longest = 0;
        new PerformanceObserver((l) => { for (const e of l.getEntries()) window.longest = Math.max(window.longest, e.duration); })
        .observe({type: 'longtask'});
        window.busySeen = [];
        if (document.querySelector('#busy')) new MutationObserver(() => { const t = document.querySelector('#busy-text').textContent; if (t) window.busySeen.push(t); })
        .observe(document.querySelector('#busy'), {attributes: true, childList: true, subtree: true}); }""")


def test_big_image_keeps_the_page_responsive(page, golden, big_png):  # noqa: F811
    s = _sample(golden, "001_HC.png")
    _carry(page)
    page.fill("#px", repr(s["pixel_size_mm"]))
    _record_results(page)
    page.set_input_files("#file", files=[_file("big.png", big_png)])
    _measure_kept(page, "big.png")
    page.wait_for_selector("#result[data-name='big.png'][data-state='found']", timeout=120_000)
    # No single task held the page for long (decoding is in a worker); busy was shown.
    print(f"\nlongest task while the big image ran: {page.evaluate('window.longest'):.0f} ms")
    assert page.evaluate("window.longest") < 1000, page.evaluate("window.longest")
    assert any(b.startswith("Decoding big.png") for b in page.evaluate("window.busySeen"))
    shown_ms = float(page.get_attribute("#result", "data-shown-ms"))  # to 0.1 ms; the text to 1 ms
    said = page.locator("#timing").inner_text().split(" ms from choosing the image")
    assert len(said) == 2 and abs(int(said[0]) - shown_ms) <= 0.55, (said, shown_ms)
    page.wait_for_selector("#view[data-name='big.png'][data-state='image']", timeout=30_000)


def test_latest_choice_wins(page, golden, big_png):  # noqa: F811
    s = _sample(golden, "001_HC.png")
    t = time.monotonic()
    page.set_input_files("#file", files=[_file("big.png", big_png)])
    page.wait_for_selector("#view[data-name='big.png'][data-state='image']", timeout=120_000)
    alone_s = time.monotonic() - t
    # The slow image, then at once a quick one (a sample: measured with its own size): the
    # quick one's result is shown and stays, and so does its image.
    _record_results(page)
    page.set_input_files("#file", files=[_file("big.png", big_png)])
    page.select_option("#sample", s["filename"])
    _wait_image(page, s["filename"])
    page.wait_for_timeout(int(1500 * alone_s) + 2000)  # longer than the big image takes alone
    shown = page.evaluate("window.shown")
    assert shown and all(n == s["filename"] for n, _ in shown), shown
    assert page.get_attribute("#result", "data-name") == s["filename"]
    assert abs(float(page.get_attribute("#result", "data-hc-mm")) - s["hc_mm"]) <= TOL_MM
    assert page.get_attribute("#view", "data-name") == s["filename"]


def test_limits_and_refusals_are_the_python_sides(page, golden):  # noqa: F811
    meta = json.load(open(os.path.join(BUNDLE, "hc_effunet_int8.json")))
    lo, hi = meta["input_limits"]["pixel_size_mm"]["min"], meta["input_limits"]["pixel_size_mm"]["max"]
    s = _sample(golden, "000_HC.png")
    _open(page, s["filename"])
    for bad, text in (("0x1", "not a number"), ("0,1", "decimal point"), (repr(hi * 2), "implausible"),
                      (repr(lo / 2), "implausible"), ("inf", "not finite")):
        page.fill("#px", bad)
        page.click("#measure")
        page.wait_for_selector(f"#message:has-text('{text}')", timeout=10_000)
        assert page.get_attribute("#result", "data-hc-mm") is None, bad
    # Refused images say why and clear the canvas (no previous image or ellipse left).
    rgba = np.dstack([cv2.imread(os.path.join(SAMPLES, s["filename"]))] + [np.full((540, 800), 128, np.uint8)])
    for name, data, text in (("damaged.png", _bad_crc(_png(rgba[:, :, :3]), b"IDAT"),
                              "not a readable image file (damaged: its IDAT chunk fails its CRC-32 check)"),
                             ("half_alpha.png", _png(rgba), "pixels that are not fully opaque"),
                             *((f"anim.{fmt.lower()}", _animated(fmt), f"an animated {said} (3 frames)")
                               for fmt, said in (("PNG", "PNG"), ("GIF", "GIF"), ("WEBP", "WebP"))),
                             ("dot.png", _png(np.zeros((1, 1), np.uint8)), "image too small"),
                             ("huge.png", _png_header_only(6000, 4200), "image too large"),
                             ("camera.jpg", _jpeg_header_only(6000, 4200), "image too large"),
                             ("mystery.img", b"\0" * 4096, "not a readable image file (its size could not")):
        page.fill("#px", repr(s["pixel_size_mm"]))
        page.click("#measure")
        _found(page, s["filename"])
        page.set_input_files("#file", files=[_file(name, data)])
        page.wait_for_selector(f"#message:has-text('{name}: ')", timeout=30_000)
        assert text in page.locator("#message").inner_text()
        assert page.get_attribute("#view", "data-state") == "empty" and _state(page) == "error"
        _open(page, s["filename"])


def _animated(fmt):
    """Three frames of a gray ramp as an animated PNG, GIF or WebP (predict's refusal:
    tests/image_refusals_test.py)."""
    from PIL import Image
    ramp = (np.add.outer(np.arange(270), np.arange(400)) % 251).astype(np.uint8)
    frames = [Image.fromarray(np.roll(ramp, 9 * i, axis=1)) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, format=fmt, save_all=True, append_images=frames[1:],
                   **({"lossless": True} if fmt == "WEBP" else {}))
    return out.getvalue()


def _chunks(png):
    """[(type, offset of its length field, its length)] of a PNG's chunks."""
    out, i = [], 8
    while i < len(png):
        n = struct.unpack(">I", png[i:i + 4])[0]
        out.append((png[i + 4:i + 8], i, n))
        i += 12 + n
    return out


def _bad_crc(png, kind, which=0):
    """`png` with one bit of its `which`th `kind` chunk's CRC flipped (its data intact)."""
    _, i, n = [c for c in _chunks(png) if c[0] == kind][which]
    out = bytearray(png)
    out[i + 8 + n + 3] ^= 1
    return bytes(out)


def _split_idat(png, parts, edit=lambda data: data):
    """`png` with its image data (`edit`ed: the zlib stream changed) cut into `parts` IDAT
    chunks, each with its right CRC."""
    chunks = _chunks(png)
    data = edit(b"".join(png[i + 8:i + 8 + n] for t, i, n in chunks if t == b"IDAT"))
    cut = -(-len(data) // parts)
    idats = b"".join(struct.pack(">I", len(d)) + b"IDAT" + d + struct.pack(">I", zlib.crc32(b"IDAT" + d))
                     for d in (data[k:k + cut] for k in range(0, len(data), cut)))
    first = next(i for t, i, _ in chunks if t == b"IDAT")
    end = next(i for t, i, _ in chunks if t == b"IEND")
    return png[:first] + idats + png[end:]


def _insert_chunk(png, before, kind, body, crc_ok=True):
    """`png` with a chunk inserted before its first `before` chunk (its CRC one bit off unless `crc_ok`)."""
    at = next(i for t, i, _ in _chunks(png) if t == before)
    crc = zlib.crc32(kind + body) ^ (0 if crc_ok else 1)
    return png[:at] + struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc) + png[at:]


def test_png_checksums_are_checked_where_predict_checks_them(page):  # noqa: F811
    """A damaged PNG (a chunk's CRC-32 wrong) is refused where hc-tf predict refuses it: any chunk
    up to the image data (IHDR, ancillary ones before the first IDAT: Pillow reads the header)
    and every IDAT (libpng); a bad CRC after the image data (tEXt, IEND) is only a libpng warning,
    and both measure the file the same. Chromium's decoders ignore CRCs, so the app checks them
    (gray PNGs through its own reader, RGB through ImageDecoder). A file cut before the end of
    its IEND chunk is refused too (Chromium read one cut inside it; libpng refuses it). Both say
    why in the same words."""
    from hc_tf import preprocess
    from hc_tf.io import images
    meta = json.load(open(os.path.join(BUNDLE, "hc_effunet_int8.json")))
    hw = (meta["input"]["height"], meta["input"]["width"])
    gray = cv2.imread(os.path.join(SAMPLES, "003_HC.png"), cv2.IMREAD_GRAYSCALE)[100:220, 200:360]
    text, gama = (b"tEXt", b"Comment\0hello"), (b"gAMA", struct.pack(">I", 45455))
    for kind, png in (("gray", _split_idat(_png(gray), 3)), ("rgb", _split_idat(_png(cv2.merge([gray, 255 - gray, gray])), 3))):
        refused = {"ihdr": (_bad_crc(png, b"IHDR"), "IHDR"), "idat": (_bad_crc(png, b"IDAT"), "IDAT"),
                   "last_idat": (_bad_crc(png, b"IDAT", -1), "IDAT"),
                   "text_before_idat": (_insert_chunk(png, b"IDAT", *text, crc_ok=False), "tEXt"),
                   "gama_before_idat": (_insert_chunk(png, b"IDAT", *gama, crc_ok=False), "gAMA")}
        measured = {"good": png, "text_after_idat": _insert_chunk(png, b"IEND", *text, crc_ok=False),
                    "iend": _bad_crc(png, b"IEND")}
        why = {case: f"its {chunk} chunk fails its CRC-32 check" for case, (_, chunk) in refused.items()}
        for cut in (1, 4, 12):  # inside IEND (Chromium read these), or all of it
            refused[f"cut{cut}"], why[f"cut{cut}"] = (png[:-cut], None), "the file ends before its IEND chunk (cut short?)"
        for case, (data, _) in refused.items():
            name = f"{kind}_{case}.png"
            with pytest.raises(ValueError) as python:
                images.decode_gray(data, name)
            got = _decode_in_app(page, name, data)
            assert got.get("error") == str(python.value) == f"{name}: not a readable image file (damaged: {why[case]})", got
        for case, data in measured.items():
            name = f"{kind}_{case}.png"
            want = preprocess.letterbox_image(images.decode_gray(data, name), hw)[0]
            got = _decode_in_app(page, name, data)
            assert "input" in got and np.array_equal(got["input"], want.ravel()), (name, got.get("error"))


def test_an_empty_file_and_a_16_bit_png_are_refused_in_predicts_words(page, tmp_path):  # noqa: F811
    """predict said "not a readable image file" of an empty file and "expected 8-bit pixels, got
    dtype uint16" of a 16-bit PNG (the app: "got a 16-bit PNG"); both now say the same."""
    from hc_tf.io import dicom, images
    gray = cv2.imread(os.path.join(SAMPLES, "003_HC.png"), cv2.IMREAD_GRAYSCALE)[100:220, 200:360]
    deep = cv2.imencode(".png", gray.astype(np.uint16) * 257)[1].tobytes()
    for name, data in (("empty.png", b""), ("deep.png", deep)):
        with pytest.raises(ValueError) as python:
            images.decode_gray(data, name)
        assert _decode_in_app(page, name, data).get("error") == str(python.value)
    (tmp_path / "void.dcm").write_bytes(b"")  # the DICOM reader's words (by name: no content)
    with pytest.raises(dicom.DicomError) as python:
        dicom.read_header(str(tmp_path / "void.dcm"))
    assert _decode_in_app(page, "void.dcm", b"").get("error") == str(python.value).replace(
        str(tmp_path / "void.dcm"), "void.dcm") == "void.dcm: empty file"


def test_png_zlib_streams_are_checked_as_predicts_libpng_checks_them(page):  # noqa: F811
    """A PNG whose chunk CRCs are right but whose zlib stream is not (its Adler-32 wrong, or the
    stream broken off: fuzzed copies were measured here and refused by predict, Chromium's
    decoder skipping the checksum) is refused as predict's libpng refuses it; bytes after a whole
    stream are a libpng warning, and both measure that file the same."""
    from hc_tf import preprocess
    from hc_tf.io import images
    meta = json.load(open(os.path.join(BUNDLE, "hc_effunet_int8.json")))
    hw = (meta["input"]["height"], meta["input"]["width"])
    gray = cv2.imread(os.path.join(SAMPLES, "003_HC.png"), cv2.IMREAD_GRAYSCALE)[100:220, 200:360]
    why = "not a readable image file (damaged: its image data fails its zlib check"
    for kind, png in (("gray", _png(gray)), ("rgb", _png(cv2.merge([gray, 255 - gray, gray])))):
        refused = {"adler": lambda d: d[:-1] + bytes([d[-1] ^ 1]), "cut": lambda d: d[:-40]}
        for case, edit in refused.items():
            name, data = f"{kind}_{case}.png", _split_idat(png, 2, edit)
            with pytest.raises(ValueError, match="not a readable image file"):
                images.decode_gray(data, name)
            got = _decode_in_app(page, name, data)
            assert got.get("error", "").startswith(f"{name}: {why}"), got
        name, data = f"{kind}_junk.png", _split_idat(png, 2, lambda d: d + b"\x00\x01\x02\x03")
        want = preprocess.letterbox_image(images.decode_gray(data, name), hw)[0]
        got = _decode_in_app(page, name, data)
        assert "input" in got and np.array_equal(got["input"], want.ravel()), (name, got.get("error"))


def test_fuzzed_pngs_are_refused_and_measured_as_predict_does(page, tmp_path):  # noqa: F811
    """Damaged copies of the sample PNGs (scripts/fuzz_predict.py's, half with right chunk CRCs:
    such copies were measured here and refused by predict before the zlib check): the app
    refuses each one predict refuses and gives the model predict's input for the others (with
    the zlib check predict refuses them all: their bytes past 128 are image data, IEND or CRCs)."""
    import sys
    from hc_tf import preprocess
    from hc_tf.io import images
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
    import fuzz_predict
    meta = json.load(open(os.path.join(BUNDLE, "hc_effunet_int8.json")))
    hw = (meta["input"]["height"], meta["input"]["width"])
    verdicts = {"measured": 0, "refused": 0}
    for path in fuzz_predict.write_copies(str(tmp_path), "png", 60, seed=2):
        name, data = os.path.basename(path), open(path, "rb").read()
        got = _decode_in_app(page, name, data)
        try:
            want = preprocess.letterbox_image(images.decode_gray(data, name), hw)[0]
        except ValueError:
            assert "error" in got, (name, "measured here, refused by predict")
            verdicts["refused"] += 1
            continue
        assert "input" in got and np.array_equal(got["input"], want.ravel()), (name, got.get("error"))
        verdicts["measured"] += 1
    assert verdicts["refused"], verdicts


def _fuzz_jpegs(count, seed):
    """name -> bytes: the first 10 sample PNGs as JPEGs (every other one in colour, every third
    progressive), undamaged, then `count` damaged copies (scripts/fuzz_predict.py's `damaged`)."""
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
    import fuzz_predict
    jpegs = {}
    for k, path in enumerate(fuzz_predict.sources("png")[:10]):
        gray = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        image = np.dstack([gray, 255 - gray, gray // 2 + 60]) if k % 2 else gray
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, int(k % 3 == 0)])
        assert ok
        jpegs[f"{k}_{'colour' if k % 2 else 'gray'}{'_progressive' if k % 3 == 0 else ''}.jpg"] = buf.tobytes()
    rng, sources = np.random.default_rng(seed), list(jpegs.items())
    damaged = {}
    for k in range(count):
        name, data = sources[int(rng.integers(len(sources)))]
        damaged[f"{k:03d}_damaged_{name}"] = fuzz_predict.damaged(data, rng)
    return {**jpegs, **damaged}


def test_fuzzed_jpegs_are_refused_and_measured_as_predict_does(page):  # noqa: F811
    """Damaged JPEG copies of the sample images, gray and colour, baseline and progressive: the
    app (libjpeg-turbo's wasm build checks, the browser decodes) refuses each one predict
    (libjpeg-turbo through simplejpeg, strict, then OpenCV) refuses, and gives the model
    predict's input for the others. Before the check, predict measured copies the app refused
    and both measured copies libjpeg-turbo finds corrupt; then both measured copies whose coded
    data ends before the data does (seed 1: 3 of its first 100), which libjpeg-turbo warns of only when
    it finishes (jpeg_check.unread_end)."""
    from hc_tf import preprocess
    from hc_tf.io import images, jpeg_check
    meta = json.load(open(os.path.join(BUNDLE, "hc_effunet_int8.json")))
    hw = (meta["input"]["height"], meta["input"]["width"])
    verdicts = {"measured": 0, "refused": 0, "damaged": 0, "unread end": 0}
    for name, data in _fuzz_jpegs(120, seed=1).items():
        got = _decode_in_app(page, name, data)
        try:
            want = preprocess.letterbox_image(images.decode_gray(data, name), hw)[0]
        except ValueError as err:
            assert "error" in got, (name, "measured here, refused by predict", str(err))
            generic = f"{name}: not a readable image file (damaged: the JPEG data is corrupt)"
            if jpeg_check.UNREAD_END in str(err):  # the one reason the app's check can give
                # (unless its wasm build refused the file already, where simplejpeg heard nothing)
                assert got["error"] in (str(err), generic), got
                verdicts["unread end"] += got["error"] == str(err)
            elif "(damaged: the JPEG data is corrupt: " in str(err):  # the app's wasm gives no reason
                verdicts["damaged"] += 1
                assert got["error"] == generic, got
            verdicts["refused"] += 1
            continue
        assert "input" in got and np.array_equal(got["input"], want.ravel()), (name, got.get("error"))
        verdicts["measured"] += 1
    assert verdicts["measured"] >= 10 and verdicts["damaged"] >= 20 and verdicts["unread end"] >= 2, verdicts


def _png_chunk(png, kind, body):
    """`png` with a chunk inserted after IHDR."""
    chunk = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return png[:33] + chunk + png[33:]


def _png_variants():
    """name -> PNG bytes: the layouts and colour chunks a PNG may come with."""
    from PIL import Image
    gray = cv2.imread(os.path.join(SAMPLES, "003_HC.png"), cv2.IMREAD_GRAYSCALE)[100:220, 200:360]
    bgr = np.dstack([gray, 255 - gray, (gray // 3 + 80).astype(np.uint8)])

    def pil(img, **kw):
        out = io.BytesIO()
        img.save(out, "PNG", **kw)
        return out.getvalue()

    rgb = Image.fromarray(bgr[:, :, ::-1].copy())
    return {"gray.png": _png(gray), "rgb.png": _png(bgr),
            "rgba_opaque.png": _png(np.dstack([bgr, np.full(gray.shape, 255, np.uint8)])),
            "gray_alpha_opaque.png": pil(Image.fromarray(np.dstack([gray, np.full(gray.shape, 255, np.uint8)]), "LA")),
            "palette.png": pil(rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=200)),
            "bilevel.png": pil(Image.fromarray(gray > 100)),
            "gray_gamma.png": _png_chunk(_png(gray), b"gAMA", struct.pack(">I", 45455)),
            "rgb_srgb_gamma.png": _png_chunk(_png_chunk(_png(bgr), b"gAMA", struct.pack(">I", 100000)), b"sRGB", b"\x00"),
            # predict turns these upright (images.exif_orientation): an eXIf chunk, XMP text.
            "gray_exif6.png": _png_chunk(_png(gray), b"eXIf", _exif_orientation(6)),
            "gray_exif3_mm.png": _png_chunk(_png(gray), b"eXIf", _exif_orientation(3, "MM")),
            "gray_xmp8.png": _png_chunk(_png(gray), b"tEXt",
                                        b'XML:com.adobe.xmp\0<rdf:Description tiff:Orientation="8"/>')}


def _exif_orientation(value, order="II"):
    """A TIFF block whose IFD0 holds Orientation (0x0112, SHORT) = value."""
    e = "<" if order == "II" else ">"
    return (order.encode() + struct.pack(f"{e}HI", 42, 8) + struct.pack(f"{e}H", 1)
            + struct.pack(f"{e}HHIHH", 0x0112, 3, 1, value, 0) + struct.pack(f"{e}I", 0))


def test_fuzzed_gifs_are_refused_and_measured_as_predict_does(page):  # noqa: F811
    """Damaged GIF copies of the sample images (scripts/fuzz_predict.py's damage) and crafted
    ones: the app refuses each one predict refuses, in predict's words where gif_check says why
    (Chromium's decoder read through LZW damage OpenCV refuses: 6 of 40 copies were measured
    here), and gives the model predict's input for the others."""
    import sys
    from PIL import Image
    from hc_tf import preprocess
    from hc_tf.io import gif_check, images
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
    import fuzz_predict
    meta = json.load(open(os.path.join(BUNDLE, "hc_effunet_int8.json")))
    hw = (meta["input"]["height"], meta["input"]["width"])
    rng, copies = np.random.default_rng(1), {}
    for k, path in enumerate(fuzz_predict.sources("png")[:6]):
        out = io.BytesIO()
        Image.fromarray(cv2.imread(path, cv2.IMREAD_GRAYSCALE)).save(out, format="GIF", interlace=k % 2 == 1)
        copies[f"{k}.gif"] = out.getvalue()
    for k in range(40):
        copies[f"damaged_{k}.gif"] = fuzz_predict.damaged(copies[f"{k % 6}.gif"], rng)
    verdicts = {"measured": 0, "refused": 0, "said": 0}
    for name, data in copies.items():
        got = _decode_in_app(page, name, data)
        try:
            want = preprocess.letterbox_image(images.decode_gray(data, name), hw)[0]
        except ValueError as err:
            assert "error" in got, (name, "measured here, refused by predict", str(err))
            if gif_check.gif_damage(data):
                assert got["error"] == str(err), (got, str(err))
                verdicts["said"] += 1
            verdicts["refused"] += 1
            continue
        assert "input" in got and np.array_equal(got["input"], want.ravel()), (name, got.get("error"))
        verdicts["measured"] += 1
    assert verdicts["measured"] >= 6 and verdicts["said"] >= 10, verdicts


def test_png_layouts_decode_as_predict(page):  # noqa: F811
    """Every PNG layout gives the model the bytes hc-tf predict gives it (cv2 decode, gray, EXIF
    orientation, letterbox): plain 8-bit gray through the app's own reader (core/png_gray.js),
    turned upright as predict turns it, the rest through the browser's ImageDecoder; an
    oriented PNG that the app would not turn itself is refused in words."""
    import base64
    import hashlib
    from hc_tf import preprocess
    from hc_tf.io import images
    meta = json.load(open(os.path.join(BUNDLE, "hc_effunet_int8.json")))
    hw = (meta["input"]["height"], meta["input"]["width"])
    for name, data in _png_variants().items():
        want, _ = preprocess.letterbox_image(images.decode_gray(data, name), hw)
        got = page.evaluate("""async ([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const { Decoder } = await import('./core/decoder.js');
            const { decodeOptions, sha256Hex } = await import('./core/pipeline.js');
            const d = new Decoder();
            try {
              const prep = await d.decode(new Blob([bytes]), name, decodeOptions(hcApp.model));
              return { sha: await sha256Hex(prep.input), by: prep.decoded_by };
            } finally { d.close(); }
        }""", [name, base64.b64encode(data).decode()])
        by = "png-gray" if name.startswith("gray") and "alpha" not in name else "ImageDecoder"
        assert got == {"sha": hashlib.sha256(want.tobytes()).hexdigest(), "by": by}, name
    rgb = cv2.imread(os.path.join(SAMPLES, "003_HC.png"))[100:220, 200:360]
    page.set_input_files("#file", files=[_file("rgb_exif6.png", _png_chunk(_png(rgb), b"eXIf", _exif_orientation(6)))])
    page.wait_for_selector("#message:has-text('rgb_exif6.png: ')", timeout=30_000)
    assert "EXIF orientation (6)" in page.inner_text("#message") and _state(page) == "error"


def _jpeg(gray, *segments):
    """A gray JPEG (cv2) with APP1 `segments` (marker payloads) inserted right after SOI."""
    ok, buf = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    app1 = b"".join(b"\xff\xe1" + struct.pack(">H", len(s) + 2) + s for s in segments)
    return buf[:2].tobytes() + app1 + buf[2:].tobytes()


def _jpeg_exif(value):
    return b"Exif\0\0" + _exif_orientation(value)


def _jpeg_xmp(value):
    return b"http://ns.adobe.com/xap/1.0/\0" + f'<rdf:Description tiff:Orientation="{value}"/>'.encode()


def _decode_in_app(page, name, data):
    """The app's model input for `data` (base64 bytes, decoded_by), or its refusal's message."""
    import base64
    got = page.evaluate("""async ([name, b64]) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const { Decoder } = await import('./core/decoder.js');
        const { decodeOptions } = await import('./core/pipeline.js');
        const d = new Decoder();
        try {
          const prep = await d.decode(new Blob([bytes]), name, decodeOptions(hcApp.model));
          let s = ''; for (const v of prep.input) s += String.fromCharCode(v);
          return { input: btoa(s), by: prep.decoded_by };
        } catch (err) { return { error: String(err.message) }; } finally { d.close(); }
    }""", [name, base64.b64encode(data).decode()])
    if "input" in got:
        got["input"] = np.frombuffer(base64.b64decode(got["input"]), np.uint8)
    return got


def test_jpeg_orientations_decode_as_predict(page):  # noqa: F811
    """A JPEG's orientation (APP1 EXIF; XMP tiff:Orientation, which Pillow reads only when EXIF
    has none): the browser's decoder turns it by EXIF as predict does, so the model gets predict's
    bytes; an orientation it would not apply as predict does (XMP) is refused in words."""
    from hc_tf import preprocess
    from hc_tf.io import images
    meta = json.load(open(os.path.join(BUNDLE, "hc_effunet_int8.json")))
    hw = (meta["input"]["height"], meta["input"]["width"])
    gray = cv2.imread(os.path.join(SAMPLES, "003_HC.png"), cv2.IMREAD_GRAYSCALE)[100:220, 200:360]
    no_orientation = b"Exif\0\0II*\0" + struct.pack("<IHI", 8, 0, 0)
    cases = {"plain.jpg": _jpeg(gray), "xmp1.jpg": _jpeg(gray, _jpeg_xmp(1)),
             "exif6_mm.jpg": _jpeg(gray, b"Exif\0\0" + _exif_orientation(6, "MM")),
             "exif1_xmp6.jpg": _jpeg(gray, _jpeg_exif(1), _jpeg_xmp(6)),
             "exif_twice.jpg": _jpeg(gray, _jpeg_exif(6), _jpeg_exif(3)),
             **{f"exif{v}.jpg": _jpeg(gray, _jpeg_exif(v)) for v in range(10)}}
    refused = {"xmp6.jpg": _jpeg(gray, _jpeg_xmp(6)),
               "exif_without_orientation_xmp8.jpg": _jpeg(gray, no_orientation, _jpeg_xmp(8))}
    for name, data in {**cases, **refused}.items():
        got = _decode_in_app(page, name, data)
        if name in refused:
            assert images.exif_orientation(data) != 1 and got.get("error", "").startswith(
                f"{name}: its orientation metadata (an XMP orientation"), (name, got)
            assert "measure it with hc-tf predict" in got["error"]
            continue
        want = preprocess.letterbox_image(images.decode_gray(data, name), hw)[0]
        assert got.get("by") == "canvas", (name, got)
        assert np.array_equal(got["input"], want.ravel()), name


def test_offline_ready_is_shown_and_every_build_is_stored(browser, golden):  # noqa: F811
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=DIST))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/"
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(base, wait_until="load", timeout=60_000)
        _wait_ready(page)
        page.wait_for_selector("#offline[data-state='ready']", state="attached", timeout=120_000)
        assert "Ready offline" in page.locator("#offline").text_content()
        httpd.shutdown()
        context.set_offline(True)
        # The single-thread build was never loaded online: it is stored all the same.
        page.goto(base + "?threads=0", wait_until="load", timeout=60_000)
        _wait_ready(page)
        assert "single thread" in page.locator("#status").text_content()
        s = golden["samples"][0]
        page.select_option("#sample", s["filename"])
        assert abs(_found(page, s["filename"]) - s["hc_mm"]) <= TOL_MM
    finally:
        context.close()
        httpd.shutdown()


def _download(page, button):
    with page.expect_download() as d:
        page.click(button)
    return open(d.value.path(), encoding="utf-8").read()


def test_about_panel_reports_and_several_images(page, golden):  # noqa: F811
    from hc_tf.report import records
    header = page.locator("header").inner_text()
    assert "Research software, not a medical device" in header
    assert "sha256" not in header and "thread" not in header and "checksum" not in header
    assert "sha256" in page.locator("#about").text_content()
    s = _sample(golden, "213_HC.png")
    page.select_option("#sample", s["filename"])
    _found(page, s["filename"])
    page.fill("#known-ga", "20+0")
    rows = list(csv.DictReader(io.StringIO(_download(page, "#dl-csv"))))
    assert list(rows[0].keys()) == list(records.REPORT_FIELDS) and len(rows) == 1
    assert rows[0]["hc_mm"] == f"{s['hc_mm']:.6f}" and rows[0]["review"] == "True"
    assert rows[0]["ga_hadlock"] == s["gestational_age"]["hadlock"]["ga"] and rows[0]["known_ga"] == "20+0"
    # Every column (intervals, biometry, dating note included) as the Python wrote the same
    # image's row from the same model output (postprocess_golden.json, known GA 20.0 weeks).
    with open(os.path.join(BUNDLE, "postprocess_golden.json")) as f:
        want = next(c for c in json.load(f)["samples"] if c["name"] == s["filename"])["csv_row"]
    cell = lambda v: "" if v is None else str(v) if isinstance(v, (bool, str)) else f"{v:.6f}"  # noqa: E731
    assert {k: rows[0][k] for k in want} == {k: cell(v) for k, v in want.items()}
    assert rows[0]["hc_lower_95_mm"] and rows[0]["bpd_mm"] and rows[0]["dating_note"]
    doc = json.loads(_download(page, "#dl-json"))
    assert abs(doc["images"][0]["hc_mm"] - s["hc_mm"]) <= TOL_MM
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click("#dl-copy")
    page.wait_for_selector("#copied:has-text('copied')", timeout=10_000)
    assert page.evaluate("navigator.clipboard.readText()").startswith(",".join(records.REPORT_FIELDS))
    # Several images: one row each, each with its own pixel size; a missing one is said.
    names = ["000_HC.png", "001_HC.png", "213_HC.png"]
    page.set_input_files("#file", [os.path.join(SAMPLES, n) for n in names])
    page.wait_for_selector("#batch-rows tr >> nth=2", timeout=10_000)
    assert _state(page) == "none" and page.get_attribute("#view", "data-state") == "empty"
    for i in (0, 2):
        page.locator("#batch-rows .batch-px").nth(i).fill(repr(_sample(golden, names[i])["pixel_size_mm"]))
    page.click("#measure-all")
    page.wait_for_selector("#batch-downloads:not([hidden])", timeout=60_000)
    trs = page.locator("#batch-rows tr")
    for i in (0, 2):
        assert abs(float(trs.nth(i).get_attribute("data-hc-mm")) - _sample(golden, names[i])["hc_mm"]) <= TOL_MM
    assert trs.nth(1).get_attribute("data-state") == "error" and "Enter the pixel size" in trs.nth(1).inner_text()
    assert "please review" in trs.nth(2).inner_text()
    rows = list(csv.DictReader(io.StringIO(_download(page, "#batch-dl-csv"))))
    assert [r["filename"] for r in rows] == ["000_HC.png", "213_HC.png"]
    doc = json.loads(_download(page, "#batch-dl-json"))
    assert doc["counts"] == {"images": 2, "found": 2, "flagged": 1, "unreadable": 1}
    # Not measured: predict's unreadable entry, {path, error}, the error naming the file.
    from hc_tf.surfaces import predict
    assert list(doc["unreadable"][0]) == list(predict.UNREADABLE_FIELDS)
    assert doc["unreadable"][0]["path"] == "001_HC.png"
    assert doc["unreadable"][0]["error"].startswith("001_HC.png: Enter the pixel size"), doc["unreadable"]
    # Exams (one head each here): the port's rows are the Python's from the same records.
    from hc_tf.report import exams as exams_lib
    want = exams_lib.exam_records(doc["images"])
    assert [e["exam"] for e in doc["exams"]] == [e["exam"] for e in want] == ["000", "213"]
    for got, exp in zip(doc["exams"], want):
        assert got == {k: pytest.approx(v, rel=1e-12) if isinstance(v, float) else v for k, v in exp.items()}
    assert page.locator("#exam-rows tr").count() == 2 and not page.is_hidden("#exams")
    assert page.locator("#exam-rows tr").nth(0).locator(".e-hc").inner_text() == f"{want[0]['hc_mean_mm']:.1f} mm"
    assert page.locator("#exam-rows tr").nth(0).locator(".e-axes").inner_text() == (
        f"{want[0]['bpd_mean_mm']:.1f} / {want[0]['ofd_mean_mm']:.1f} mm")
    from hc_tf import clinical
    hadlock = page.locator("#exam-rows tr").nth(0).locator(".e-ga-hadlock").inner_text()
    assert hadlock == (f"{want[0]['ga_hadlock']} wk ({clinical.format_ga(want[0]['ga_hadlock_lower_95_days'])}"
                       f" to {clinical.format_ga(want[0]['ga_hadlock_upper_95_days'])})")
    # INTERGROWTH-21st's GA has no interval (its equation publishes no per-estimate spread)
    dated = [i for i, e in enumerate(want) if e["ga_intergrowth"]]
    assert dated and all(want[i]["ga_intergrowth_lower_95_days"] is None for i in dated)
    for i in dated:
        assert page.locator("#exam-rows tr").nth(i).locator(".e-ga-intergrowth").inner_text() == (
            f"{want[i]['ga_intergrowth']} wk")
    table = list(csv.DictReader(io.StringIO(_download(page, "#batch-dl-exams"))))
    assert [r["hc_mean_mm"] for r in table] == [f"{e['hc_mean_mm']:.6f}" for e in want]
    assert [r["hc_mean_lower_95_mm"] for r in table] == [f"{e['hc_mean_lower_95_mm']:.6f}" for e in want]


def test_desktop_layout_uses_the_width(browser, server, golden):  # noqa: F811
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        page.goto(server["url"] + "?sw=0", wait_until="load", timeout=60_000)
        _wait_ready(page)
        page.select_option("#sample", "213_HC.png")
        _found(page, "213_HC.png")
        page.fill("#known-ga", "20+0")
        canvas, result = page.locator("#view").bounding_box(), page.locator("#result").bounding_box()
        assert canvas["width"] > 800, canvas
        assert result["x"] >= canvas["x"] + canvas["width"], (canvas, result)  # beside, not below
        shot = os.environ.get("HC_TF_WEB_SCREENSHOT_DESKTOP")
        if shot:
            page.screenshot(path=shot, full_page=True)
            print(f"\nscreenshot: {shot}")
    finally:
        context.close()


def test_copied_note_names_its_report_and_goes_with_it(page, golden):  # noqa: F811
    """"Report copied" is said for the image copied, beside the button pressed, and goes when that
    result goes: the next patient's result never shows it while the clipboard holds the last one's."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.select_option("#sample", "000_HC.png")
    _found(page, "000_HC.png")
    page.click("#dl-copy")
    page.wait_for_selector("#copied:has-text('Report of 000_HC.png copied')", timeout=10_000)
    page.select_option("#sample", "002_HC.png")
    _found(page, "002_HC.png")
    assert page.locator("#copied").inner_text() == ""
    page.click("#dl-copy")
    page.wait_for_selector("#copied:has-text('Report of 002_HC.png copied')", timeout=10_000)
    page.fill("#known-ga", "30+0")  # the report changed: the copy is not of it any more
    assert page.locator("#copied").inner_text() == ""
    # Several images: the note is beside the table's Copy button, where it can be seen.
    names = ["000_HC.png", "001_HC.png"]
    _measure_batch(page, golden, names)
    page.click("#batch-dl-copy")
    page.wait_for_selector("#batch-copied:has-text('Report of 2 images copied')", state="visible", timeout=10_000)
    assert page.evaluate("navigator.clipboard.readText()").count("_HC.png") == 2


def _measure_batch(page, golden, names):  # noqa: F811
    """Opens the samples `names` together, types each one's pixel size, measures them all."""
    page.set_input_files("#file", [os.path.join(SAMPLES, n) for n in names])
    page.wait_for_selector("#batch-rows tr >> nth=1", timeout=10_000)
    for i, n in enumerate(names):
        page.locator("#batch-rows .batch-px").nth(i).fill(repr(_sample(golden, n)["pixel_size_mm"]))
    page.click("#measure-all")
    page.wait_for_selector("#batch-downloads:not([hidden])", timeout=60_000)


def test_a_sample_that_cannot_be_read_leaves_nothing_of_the_previous_image(page, golden):  # noqa: F811
    page.select_option("#sample", "000_HC.png")
    _found(page, "000_HC.png")
    for how in ("abort", "404"):
        page.route("**/assets/samples/003_HC.png",
                   (lambda r: r.abort()) if how == "abort" else (lambda r: r.fulfill(status=404, body="not here")))
        page.select_option("#sample", "003_HC.png")
        page.wait_for_selector("#message:has-text('003_HC.png')", timeout=30_000)
        assert _state(page) == "error", how
        assert page.get_attribute("#result", "data-name") is None and page.locator("#hc").inner_text() == ""
        assert page.get_attribute("#view", "data-state") == "empty" and page.is_hidden("#downloads")
        assert page.input_value("#px") == ""
        page.unroute("**/assets/samples/003_HC.png")
        page.select_option("#sample", "000_HC.png")
        _found(page, "000_HC.png")


def test_batch_row_edited_after_measuring_shows_no_old_hc(page, golden):  # noqa: F811
    names = ["000_HC.png", "001_HC.png"]
    _measure_batch(page, golden, names)
    tr = page.locator("#batch-rows tr").nth(0)
    assert tr.get_attribute("data-state") == "found" and tr.locator(".b-hc").inner_text()
    page.locator("#batch-rows .batch-px").nth(0).fill("0.1")
    # The row's HC and GA go; no report of the old sizes is offered; the other row stays.
    assert tr.get_attribute("data-state") == "stale" and tr.get_attribute("data-hc-mm") is None
    assert tr.locator(".b-hc").inner_text() == "" and "Measure all again" in tr.inner_text()
    assert page.is_hidden("#batch-downloads") and page.is_hidden("#exams")
    assert page.locator("#batch-rows tr").nth(1).get_attribute("data-state") == "found"
    page.click("#measure-all")
    page.wait_for_selector("#batch-downloads:not([hidden])", timeout=60_000)
    rows = list(csv.DictReader(io.StringIO(_download(page, "#batch-dl-csv"))))
    assert rows[0]["pixel_size_mm"] == "0.100000"
    assert float(rows[0]["hc_mm"]) == pytest.approx(float(tr.get_attribute("data-hc-mm")), abs=1e-6)


def test_batch_report_has_the_known_ga_as_predict_ga_weeks(page, golden, tmp_path):  # noqa: F811
    """Several images with a known GA typed: report.csv is `hc-tf predict --ga-weeks`'s, byte
    for byte (each row's centile, z and dating note), and report.json's records carry it."""
    from hc_tf.surfaces import predict
    names = ["000_HC.png", "213_HC.png"]
    pixel_csv = tmp_path / "px.csv"
    pixel_csv.write_text("filename,pixel size(mm)\n" + "".join(
        f"{n},{_sample(golden, n)['pixel_size_mm']!r}\n" for n in names))
    out = tmp_path / "predict"
    want = predict.predict_files(os.path.join(BUNDLE, golden["model"]), [os.path.join(SAMPLES, n) for n in names],
                                 str(out), pixel_csv=str(pixel_csv), ga_weeks="20+0").records
    _measure_batch(page, golden, names)
    page.fill("#known-ga", "20+0")  # typed after measuring: the report is of the GA typed now, as for one image
    with page.expect_download() as d:
        page.click("#batch-dl-csv")
    assert open(d.value.path(), encoding="utf-8", newline="").read() == open(out / "report.csv", encoding="utf-8", newline="").read()
    doc = json.loads(_download(page, "#batch-dl-json"))
    assert [r["known_ga_weeks"] for r in doc["images"]] == [r["known_ga_weeks"] for r in want] == [20.0, 20.0]
    assert [r["centile"]["display"] for r in doc["images"]] == [r["centile"]["display"] for r in want]
    # and the centiles each HC interval spans (records.centile_interval_record), as predict's
    for got, predicted in zip(doc["images"], want):
        mine, theirs = got["centile"]["interval"], predicted["centile"]["interval"]
        assert mine.pop("display") == theirs.pop("display")
        assert mine == pytest.approx(theirs, rel=1e-12, abs=1e-12)
    # report.json's other keys as predict writes them (its own format name aside).
    top = json.loads((out / "report.json").read_text())
    assert {k: doc.get(k) for k in top if k not in ("format", "images", "exams")} == {
        k: v for k, v in top.items() if k not in ("format", "images", "exams")}
    # The exams too: exams.csv is predict's byte for byte, the GA's centile and z included (they
    # were empty: the exams were built from the records measured without the GA typed).
    with page.expect_download() as d:
        page.click("#batch-dl-exams")
    got = open(d.value.path(), encoding="utf-8", newline="").read()
    assert got == open(out / "exams.csv", encoding="utf-8", newline="").read()
    rows = list(csv.DictReader(io.StringIO(got)))
    assert [r["known_ga_weeks"] for r in rows] == ["20.000000", "20.000000"] and all(r["hc_mean_centile"] and r["hc_mean_z"] for r in rows)
    assert [e["known_ga_weeks"] for e in doc["exams"]] == [20.0, 20.0]


def test_a_refused_known_ga_offers_no_report(page, golden):  # noqa: F811
    """A mistyped known GA ("27+9") was said, yet CSV/JSON/Copy stayed offered and saved a report
    with empty known_ga and centile columns (predict refuses the run): while the GA is refused, no
    report is offered, for one image and for several; corrected, it is offered again."""
    page.select_option("#sample", "000_HC.png")
    _found(page, "000_HC.png")
    assert page.is_visible("#dl-csv")
    page.fill("#known-ga", "27+9")
    page.wait_for_selector("#centile[data-state='error']", state="attached", timeout=10_000)
    assert page.is_hidden("#downloads") and page.is_hidden("#dl-copy")
    assert "No report is offered" in page.locator("#known-ga-error").inner_text()  # shown by the field
    page.press("#known-ga", "Tab")  # announced once the entry is left (quiet while typing)
    assert "No report is offered" in page.locator("#ga-alert").text_content()
    page.fill("#known-ga", "27+6")
    assert page.is_visible("#dl-csv") and page.is_hidden("#known-ga-error") and page.locator("#ga-alert").text_content() == ""
    page.fill("#known-ga", "27+9")
    page.click("#measure")  # measured again: still none offered
    page.wait_for_selector("#result[data-state='found']", timeout=60_000)
    assert page.is_hidden("#downloads")
    names = ["000_HC.png", "001_HC.png"]
    page.set_input_files("#file", [os.path.join(SAMPLES, n) for n in names])
    page.wait_for_selector("#batch-rows tr >> nth=1", timeout=10_000)
    for i, n in enumerate(names):
        page.locator("#batch-rows .batch-px").nth(i).fill(repr(_sample(golden, n)["pixel_size_mm"]))
    page.fill("#known-ga", "27+9")
    page.click("#measure-all")
    page.wait_for_selector("#batch-msg:has-text('2 of 2 images measured')", timeout=60_000)
    assert page.is_hidden("#batch-downloads") and "No report is offered" in page.locator("#ga-alert").text_content()
    assert "No report is offered" in page.locator("#known-ga-error").inner_text()
    page.fill("#known-ga", "")
    assert page.is_visible("#batch-dl-csv") and page.is_hidden("#known-ga-error")
    page.fill("#known-ga", "abc")
    assert page.is_hidden("#batch-downloads")


def test_several_images_show_only_the_controls_that_apply(page, golden):  # noqa: F811
    """Batch mode: the one image's pixel size, Calibrate and Measure stayed active (Measure said a
    red "Open an image first." that stayed after "3 of 3 images measured.") above an empty black
    canvas. They are hidden while the table is shown, and back for the next single image."""
    names = ["000_HC.png", "001_HC.png", "002_HC.png"]
    page.set_input_files("#file", [os.path.join(SAMPLES, n) for n in names])
    page.wait_for_selector("#batch-rows tr >> nth=2", timeout=10_000)
    for sel in ("#px", "#calibrate", "#measure", "#view"):
        assert page.is_hidden(sel), sel
    assert page.is_visible("#known-ga") and page.is_visible("#measure-all") and page.is_visible("#sample")
    for i, n in enumerate(names):
        page.locator("#batch-rows .batch-px").nth(i).fill(repr(_sample(golden, n)["pixel_size_mm"]))
    page.click("#measure-all")
    page.wait_for_selector("#batch-msg:has-text('3 of 3 images measured')", timeout=60_000)
    assert page.locator("#message").inner_text() == ""
    _open(page, "003_HC.png")
    for sel in ("#px", "#measure", "#view"):
        assert page.is_visible(sel), sel
    assert page.is_hidden("#batch")
    # The last batch's rows, exams and note are gone from the page, not only hidden (they stayed
    # in the DOM: another patient's file names and HCs for any script or screen reader).
    assert page.locator("#batch-rows tr, #exam-rows tr").count() == 0
    assert page.locator("#batch-msg").text_content() == ""


def test_a_head_beyond_the_interval_calibration_is_said_in_plain_words(page, golden):  # noqa: F811
    """The HC line read "HC ... mm (no calibrated interval: model_pixel_mm 1.562 is above the
    calibrated range (up to 0.983))": it says "(no calibrated interval)", the reason in words in
    the details; report.json keeps the technical note."""
    s = _sample(golden, "000_HC.png")
    _open(page, s["filename"])
    page.fill("#px", "0.5")  # a coarse pixel: mm per model pixel beyond the calibration
    page.click("#measure")
    _found(page, s["filename"])
    hc = page.locator("#hc").inner_text()
    assert re.fullmatch(r"HC \d+\.\d mm \(no calibrated interval\)", hc), hc
    details = page.locator("#details").inner_text()
    assert "No 95% interval" in details and "coarser than any the interval was calibrated on" in details, details
    assert "model_pixel_mm" not in details + hc
    doc = json.loads(_download(page, "#dl-json"))
    assert doc["images"][0]["hc_interval"]["note"].startswith("no calibrated interval: model_pixel_mm ")


def test_a_new_choice_leaves_no_busy_note_of_the_old_one(page, golden, big_png):  # noqa: F811
    """An image still decoding, then several files chosen: the table is shown, and "Decoding
    big.png…" (cancelled) is not left on screen as if it were still working."""
    s = _sample(golden, "001_HC.png")
    _carry(page)
    page.fill("#px", repr(s["pixel_size_mm"]))
    page.set_input_files("#file", files=[_file("big.png", big_png)])
    page.wait_for_selector("#busy-text:has-text('Decoding big.png')", timeout=10_000)
    page.set_input_files("#file", [os.path.join(SAMPLES, n) for n in ("000_HC.png", "001_HC.png")])
    page.wait_for_selector("#batch-rows tr >> nth=1", timeout=10_000)
    page.wait_for_timeout(1000)
    assert page.is_hidden("#busy"), page.locator("#busy-text").inner_text()
    assert page.get_attribute("body", "data-busy") == "0"


def test_batch_copied_note_goes_when_the_known_ga_changes(page, golden):  # noqa: F811
    """As for one image: the table's "Report of 2 images copied" goes when a known GA typed
    makes the report another than the one copied."""
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    _measure_batch(page, golden, ["000_HC.png", "001_HC.png"])
    page.click("#batch-dl-copy")
    page.wait_for_selector("#batch-copied:has-text('Report of 2 images copied')", state="visible", timeout=10_000)
    page.fill("#known-ga", "30+0")
    assert page.locator("#batch-copied").inner_text() == ""


def test_pixel_size_edited_while_measuring_leaves_no_busy_note(page, golden, big_png):  # noqa: F811
    """Measure pressed, then the pixel size edited before the result came: that result is dropped,
    and its "Measuring …" note goes with it (nothing is being measured any more)."""
    page.set_input_files("#file", files=[_file("big.png", big_png)])
    page.wait_for_selector("#result[data-state='needs-pixel-size']", state="attached", timeout=120_000)
    page.fill("#px", "0.15")
    _record_results(page)
    page.evaluate("""() => { document.querySelector('#measure').click(); const px = document.querySelector('#px');
        px.value = '0.16'; px.dispatchEvent(new Event('input')); }""")
    page.wait_for_timeout(5000)
    assert any(b.startswith("Measuring big.png") for b in page.evaluate("window.busySeen"))
    assert page.evaluate("window.shown") == []
    assert page.get_attribute("#result", "data-name") is None
    assert page.is_hidden("#busy"), page.locator("#busy-text").inner_text()


def test_carry_unticked_while_decoding_still_says_what_the_image_kept(page, golden, big_png):  # noqa: F811
    """"Same patient" ticked when the image was chosen (it unticks itself then: one image only):
    the image is measured with the kept pixel size once Measure is pressed, so the note saying it
    was kept stays; it went, leaving a result measured with the last patient's size, unsaid."""
    _carry(page)
    page.fill("#px", "0.15")
    page.set_input_files("#file", files=[_file("big.png", big_png)])
    page.wait_for_selector("#busy-text:has-text('Decoding big.png')", timeout=10_000)
    assert "pixel size 0.15 mm" in page.locator("#carried").inner_text()
    assert not page.is_checked("#carry")
    _measure_kept(page, "big.png")
    page.wait_for_selector("#result[data-name='big.png'][data-state='found']", timeout=120_000)
    assert page.get_attribute("#result", "data-pixel-size-mm") == "0.15"
    assert "pixel size 0.15 mm" in page.locator("#carried").inner_text()
    # The next image: nothing kept, nothing said.
    page.set_input_files("#file", os.path.join(SAMPLES, "001_HC.png"))
    page.wait_for_selector("#result[data-state='needs-pixel-size']", state="attached", timeout=60_000)
    assert page.input_value("#px") == "" and page.locator("#carried").inner_text() == ""


def test_several_images_do_not_say_a_kept_pixel_size_their_rows_do_not_use(page, golden):  # noqa: F811
    """"Same patient" ticked, then several images: each row takes its own pixel size, so the
    note said "Kept ...: pixel size 0.15 mm" of a value no row used. The known GA, which the
    batch report does use, is still said."""
    _carry(page)
    page.fill("#px", "0.15")
    page.fill("#known-ga", "30+0")
    page.set_input_files("#file", [os.path.join(SAMPLES, n) for n in ("000_HC.png", "001_HC.png")])
    page.wait_for_selector("#batch-rows tr >> nth=1", timeout=10_000)
    kept = page.locator("#carried").inner_text()
    assert "pixel size" not in kept and "known GA 30+0" in kept, kept


def _file_input(page):
    return page.eval_on_selector("#file", "e => [e.value, e.files.length]")


def test_the_file_input_is_emptied_so_the_same_file_can_be_picked_again(page, golden):  # noqa: F811
    """A browser fires no change event for the file the input already holds: the same file
    picked again after a sample or an error did nothing. The input is emptied once its files
    are taken (Playwright fires change either way, so its value is what is checked)."""
    s = _sample(golden, "000_HC.png")
    _open(page, s["filename"])
    assert _file_input(page) == ["", 0]
    page.select_option("#sample", "001_HC.png")
    _found(page, "001_HC.png")
    page.set_input_files("#file", os.path.join(SAMPLES, s["filename"]))  # the same file again
    page.wait_for_selector(f"#view[data-name='{s['filename']}']", timeout=60_000)
    page.fill("#px", repr(s["pixel_size_mm"]))
    page.click("#measure")
    assert abs(_found(page, s["filename"]) - s["hc_mm"]) <= TOL_MM
    assert _file_input(page) == ["", 0]
    page.set_input_files("#file", files=[_file("notes.png", b"not an image")])
    page.wait_for_selector("#message:has-text('notes.png: ')", timeout=30_000)
    assert _file_input(page) == ["", 0]
    page.set_input_files("#file", [os.path.join(SAMPLES, n) for n in ("000_HC.png", "001_HC.png")])
    page.wait_for_selector("#batch-rows tr >> nth=1", timeout=10_000)
    assert _file_input(page) == ["", 0]


def test_measure_all_pressed_twice_runs_one_pass(page, golden):  # noqa: F811
    """Measure all pressed again while it ran started a second pass: its decodes cancelled the
    first pass's, which then cleared the busy note and report while the second ran. The button
    is disabled while a pass runs, and enabled again after it."""
    names = ["000_HC.png", "001_HC.png"]
    page.set_input_files("#file", [os.path.join(SAMPLES, n) for n in names])
    page.wait_for_selector("#batch-rows tr >> nth=1", timeout=10_000)
    for i, n in enumerate(names):
        page.locator("#batch-rows .batch-px").nth(i).fill(repr(_sample(golden, n)["pixel_size_mm"]))
    # Counts the images sent to the decoder (one per row and pass).
    disabled = page.evaluate("""() => { window.decodes = 0; const post = Worker.prototype.postMessage;
        Worker.prototype.postMessage = function (msg, ...rest) { if (msg?.blob) window.decodes += 1; return post.call(this, msg, ...rest); };
        const b = document.querySelector('#measure-all'); b.click(); b.click(); return b.disabled; }""")
    assert disabled
    page.wait_for_selector("#batch-downloads:not([hidden])", timeout=60_000)
    page.wait_for_timeout(1000)
    assert page.evaluate("window.decodes") == len(names)
    assert page.locator("#batch-msg").inner_text() == "2 of 2 images measured."
    assert page.is_hidden("#busy") and page.is_enabled("#measure-all")
    page.click("#measure-all")  # enabled again: a later pass runs
    page.wait_for_selector("#batch-downloads:not([hidden])", timeout=60_000)
    page.wait_for_function("window.decodes === 4 && !document.querySelector('#measure-all').disabled", timeout=60_000)
    # New files chosen while a pass runs: their table's button is enabled (the old pass's end leaves it so).
    assert page.evaluate("() => { const b = document.querySelector('#measure-all'); b.click(); return b.disabled; }")
    page.set_input_files("#file", [os.path.join(SAMPLES, n) for n in ("002_HC.png", "003_HC.png")])
    page.wait_for_selector("#batch-rows tr[data-name='003_HC.png']", timeout=10_000)
    assert page.is_enabled("#measure-all")
    page.wait_for_timeout(1000)
    assert page.is_enabled("#measure-all") and page.is_hidden("#busy")


# Accessibility: sonographers on a workstation, often keyboard-only or with a screen reader.
_LIVE = "(el) => !!el.closest('[role=status], [role=alert], [aria-live]:not([aria-live=off])')"


def test_the_hc_and_the_centile_are_announced(page, golden):  # noqa: F811
    """A screen reader heard the review flag (a status) but not the HC, "No head found", the
    self-test refusal, nor the centile or its refusal of the known GA: they were plain text.
    Then only the HC line was said: now one status says the result in short (HC, the GA by
    each formula, the review flag), the lines on screen no second time."""
    s = _sample(golden, "213_HC.png")
    page.select_option("#sample", s["filename"])
    _found(page, s["filename"])
    page.fill("#known-ga", "30+0")
    for sel in ("#result-said", "#centile", "#message", "#stale"):
        assert page.locator(sel).evaluate(_LIVE), sel
    for sel in ("#hc", "#review"):
        assert not page.locator(sel).evaluate(_LIVE), sel
    said = page.locator("#result-said").text_content()
    ga = s["gestational_age"]
    assert said.startswith(f"HC {s['hc_mm']:.1f} mm. GA: Hadlock 1984 {ga['hadlock']['ga']} weeks; "), said
    assert "INTERGROWTH-21st" in said and said.endswith("Please review: boundary unclear."), said


def test_no_head_found_is_announced_with_its_reason(page, golden):  # noqa: F811
    """The reason was in #details, which is not announced: a screen reader heard only "No head
    found" (the demo says "No head found: <reason>" in one line)."""
    import cv2
    import numpy as np
    noise = np.random.default_rng(0).integers(0, 255, (270, 400)).astype(np.uint8)
    ok, png = cv2.imencode(".png", noise)  # no head in it
    page.set_input_files("#file", files=[_file("noise.png", png.tobytes())])
    _wait_image(page, "noise.png")
    page.fill("#px", "0.2")  # a new image carries no pixel size
    page.click("#measure")
    page.wait_for_selector("#result[data-name='noise.png'][data-state='not-found']", timeout=60_000)
    hc = page.locator("#hc")
    assert re.fullmatch(r"No head found: \S.*", hc.inner_text()), hc.inner_text()
    said = page.locator("#result-said")
    assert said.evaluate(_LIVE) and said.text_content() == hc.inner_text()


def test_a_blank_frame_is_refused_with_the_python_reason(page, golden):  # noqa: F811
    """A black frame got a "head" (flagged, but a number); now the reason predict gives."""
    from hc_tf import inference
    from hc_tf.edge import LiteRunner
    black = np.zeros((270, 400), np.uint8)
    runner = LiteRunner(os.path.join(BUNDLE, "hc_effunet_int8.tflite"), num_threads=1)
    want = inference.predict_batch(runner, [inference.Sample("black.png", black, 0.2)])[0]
    assert want.measurement.reason.startswith("image too uniform to measure")
    page.set_input_files("#file", files=[_file("black.png", _png(black))])
    _wait_image(page, "black.png")
    page.fill("#px", "0.2")
    page.click("#measure")
    page.wait_for_selector("#result[data-name='black.png'][data-state='not-found']", timeout=60_000)
    assert page.locator("#hc").inner_text() == f"No head found: {want.measurement.reason}"


def test_the_image_has_a_text_alternative(page, golden):  # noqa: F811
    """The canvas had an aria-label but no role: it was left out of the accessibility tree."""
    view = page.locator("#view")
    expect(view).to_have_role("img")
    expect(view).to_have_accessible_name(re.compile("no image", re.I))
    page.select_option("#sample", "000_HC.png")
    _found(page, "000_HC.png")
    expect(view).to_have_accessible_name(re.compile(r"000_HC\.png.*ellipse"))


def test_inputs_are_labelled_with_their_units(page, golden):  # noqa: F811
    """The calibration distance had only a placeholder for a name; the known GA's label had no unit."""
    expect(page.locator("#px")).to_have_accessible_name(re.compile(r"\(mm\)"))
    expect(page.locator("#known-ga")).to_have_accessible_name(re.compile("weeks"))
    _open(page, "000_HC.png")
    page.click("#calibrate")
    expect(page.locator("#calib-mm")).to_have_accessible_name(re.compile(r"distance.*\(mm\)", re.I))
    for sel in ("#px", "#known-ga", "#calib-mm"):  # a placeholder is no label: it goes as soon as one types
        assert page.locator(sel).evaluate("(el) => el.labels.length > 0 || !!el.getAttribute('aria-label')"), sel


def test_the_pixel_size_says_where_it_came_from(page, golden):  # noqa: F811
    """The note beside the pixel size ("from the bundled sample", "from the DICOM file") is its
    description: a screen reader on the box heard the number but not whose it was."""
    page.select_option("#sample", "000_HC.png")
    _found(page, "000_HC.png")
    expect(page.locator("#px")).to_have_accessible_description(re.compile("bundled sample"))


def test_report_buttons_say_what_they_do(page, golden):  # noqa: F811
    """Tabbing to them, a screen reader said only "CSV", "JSON", "Copy", "Exams CSV"."""
    page.select_option("#sample", "000_HC.png")
    _found(page, "000_HC.png")
    for b in ("dl-csv", "dl-json", "dl-copy"):
        expect(page.locator(f"#{b}")).to_have_accessible_name(re.compile("report", re.I))
    for b in ("dl-csv", "dl-json", "dl-copy", "dl-fhir", "batch-dl-csv", "batch-dl-json", "batch-dl-copy", "batch-dl-exams",
              "batch-dl-exam-fhir"):
        word, name = page.locator(f"#{b}").evaluate("(el) => [el.textContent, el.getAttribute('aria-label') || '']")
        assert re.search("report|exams|observation", name, re.I) and word in name, (b, name)  # the visible word too


def test_calibration_by_keyboard_keeps_the_focus(page, golden):  # noqa: F811
    """Cancel or Apply hid the row holding the focused button: the focus fell to the page's start.
    Enter in the distance did nothing (Enter in the pixel size measures)."""
    _open(page, "000_HC.png")
    active = "() => document.activeElement.id"
    page.focus("#calibrate")
    page.keyboard.press("Enter")
    assert page.is_visible("#calib") and page.evaluate(active) == "view"  # where the points go
    page.focus("#calib-mm")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate(active) == "calib-cancel"
    page.keyboard.press("Space")
    assert page.is_hidden("#calib") and page.evaluate(active) == "calibrate"
    page.keyboard.press("Enter")
    box = page.locator("#view").bounding_box()
    k = box["width"] / page.evaluate("document.querySelector('#view').width")
    for y in (50, 450):
        page.mouse.click(box["x"] + 100.5 * k, box["y"] + (y + 0.5) * k)
    assert page.evaluate(active) == "calib-mm"
    page.keyboard.type("40")
    page.keyboard.press("Enter")
    _found(page, "000_HC.png")
    assert abs(float(page.locator("#px").input_value()) - 0.1) < 1e-3
    assert page.is_hidden("#calib") and page.evaluate(active) == "calibrate"


def _cross_shown(page, x, y):
    """Whether the keyboard's cross is drawn around image pixel (x, y): its colour on an arm."""
    return page.evaluate("""([x, y]) => { const v = document.querySelector('#view'), s = Number(v.dataset.step);
        const d = v.getContext('2d').getImageData(Math.floor((x + 0.5) / s) + 12, Math.floor((y + 0.5) / s), 1, 1).data;
        return d[0] === 0 && d[1] === 229 && d[2] === 255; }""", [x, y])


def test_calibration_points_by_keyboard_alone(page, golden):  # noqa: F811
    """Placing the calibration points needed a mouse (WCAG 2.1.1): the canvas was no tab stop and
    took no keys. Keyboard points are the same image pixels a click gives, and each step is said."""
    _open(page, "000_HC.png")  # 800 x 540: the cross starts at (400, 270)
    view, status, keys = page.locator("#view"), page.locator("#calib-status"), page.keyboard
    active = "() => document.activeElement.id"
    page.focus("#calibrate")
    keys.press("Enter")
    expect(view).to_have_accessible_description(re.compile("arrow keys.*Enter.*Backspace.*Escape"))
    # Calibrate puts the focus on the image (a Tab away from its row before): the cross shows.
    assert status.evaluate(_LIVE) and page.evaluate(active) == "view" and _cross_shown(page, 400, 270)

    def press(key, times):
        for _ in range(times):
            keys.press(key)

    press("Enter", 1)
    expect(status).to_have_text("Point 1 placed at x 400, y 270 (image pixels).")
    press("Backspace", 1)
    expect(status).to_have_text("Point 1 removed; 0 of 2 points.")
    expect(view).to_have_accessible_name(re.compile("calibration: 0 of 2 points"))
    press("Shift+ArrowLeft", 1), press("ArrowLeft", 3), press("ArrowUp", 8)
    expect(status).to_have_text("Cross at x 387, y 262.")
    assert _cross_shown(page, 387, 262)
    press("Space", 1)
    expect(status).to_have_text("Point 1 placed at x 387, y 262 (image pixels).")
    expect(view).to_have_accessible_name(re.compile("calibration: 1 of 2 points"))
    press("Shift+ArrowRight", 20), press("ArrowRight", 2), press("Shift+ArrowDown", 3), press("ArrowDown", 1)
    press("Enter", 1)
    dist = float(np.hypot(589 - 387, 293 - 262))
    expect(status).to_have_text(f"Point 2 placed at x 589, y 293 (image pixels). Distance {dist:.1f} px: type its length in mm.")
    assert page.evaluate(active) == "calib-mm"  # as after a second click
    keys.type("30")
    keys.press("Enter")
    _found(page, "000_HC.png")
    # The app's formula on the same two points: what clicks on those pixels give (their centres).
    assert float(page.locator("#px").input_value()) == pytest.approx(30 / dist, rel=1e-5)
    assert page.evaluate(active) == "calibrate"
    # Escape closes as Cancel does; the canvas is an image again, no tab stop.
    keys.press("Enter")
    view.focus()
    keys.press("Escape")
    assert page.is_hidden("#calib") and page.evaluate(active) == "calibrate"
    expect(view).to_have_role("img")
    assert view.get_attribute("tabindex") is None
    # ... and in the distance box (it did nothing there).
    keys.press("Enter")
    page.focus("#calib-mm")
    keys.press("Escape")
    assert page.is_hidden("#calib") and page.evaluate(active) == "calibrate"


def test_status_notes_are_announced(page, golden):  # noqa: F811
    """"Ready", "N of M images measured" and "Report copied" were plain text: not heard."""
    for sel in ("#summary", "#batch-msg", "#copied", "#batch-copied", "#carried", "#busy"):
        assert page.locator(sel).evaluate(_LIVE), sel


_RECORD_SAID = """() => { window.said = [];
    const o = new MutationObserver(() => { for (const id of ['message', 'ga-alert', 'centile']) {
      const t = document.getElementById(id).textContent; if (t) window.said.push([id, t]); } });
    for (const id of ['message', 'ga-alert', 'centile']) o.observe(document.getElementById(id), { childList: true, characterData: true, subtree: true }); }"""


def test_a_known_ga_is_checked_quietly_while_typed(page, golden):  # noqa: F811
    """Typing 27+3 fired the alert "GA 2.00 weeks is outside..." after the "2" (and #centile, a
    status, said it again), at every keystroke that made a refused entry. Now the entry is checked
    quietly while typed (aria-invalid, its error in the field's description) and a refusal is
    announced once, when the field is left; the format hint is visible and is its description."""
    page.select_option("#sample", "000_HC.png")
    _found(page, "000_HC.png")
    ga = page.locator("#known-ga")
    assert page.is_visible("#known-ga-hint") and ga.get_attribute("placeholder") is None
    expect(ga).to_have_accessible_description(re.compile(r"27\+3"))
    page.evaluate(_RECORD_SAID)
    ga.click()
    page.keyboard.type("27+3")
    said = page.evaluate("window.said")
    assert not [t for k, t in said if k != "centile"], said  # no alert ...
    assert all(t.startswith("At ") for k, t in said if k == "centile"), said  # ... and centiles, no refusal
    assert ga.get_attribute("aria-invalid") is None and page.is_visible("#dl-csv")
    ga.fill("")
    page.evaluate("window.said = []")
    page.keyboard.type("27+9")
    assert ga.get_attribute("aria-invalid") == "true" and page.is_hidden("#downloads")
    expect(ga).to_have_accessible_description(re.compile(r"27\+3.*Known GA: .*No report is offered"))
    assert page.is_visible("#known-ga-error") and page.locator("#ga-alert").text_content() == ""
    page.keyboard.press("Tab")  # left: said once
    assert "No report is offered" in page.locator("#ga-alert").text_content()
    assert page.locator("#ga-alert").evaluate(_LIVE)
    said = page.evaluate("window.said")
    assert [k for k, t in said if k != "centile"] == ["ga-alert"], said
    assert all(t.startswith("At ") for k, t in said if k == "centile"), said  # ("27": a centile; no refusal)
    # Measure with the GA refused: the focus goes to the field to correct.
    page.click("#measure")
    assert page.evaluate("document.activeElement.id") == "known-ga"
    _found(page, "000_HC.png")
    ga.fill("27+3")
    assert ga.get_attribute("aria-invalid") is None and page.is_hidden("#known-ga-error")


def test_field_errors_are_tied_to_their_fields(page, golden):  # noqa: F811
    """A refused pixel size or calibration distance was said only in #message, apart from its
    field: now the field is aria-invalid, described by its error, and takes the focus."""
    _open(page, "000_HC.png")
    px = page.locator("#px")
    page.click("#measure")  # no pixel size
    page.wait_for_selector("#px[aria-invalid='true']", timeout=10_000)
    assert page.evaluate("document.activeElement.id") == "px"
    expect(px).to_have_accessible_description(re.compile(page.locator("#message").text_content()[:20], re.I))
    px.fill("abc")
    assert px.get_attribute("aria-invalid") is None  # typing takes it back
    page.keyboard.press("Enter")
    page.wait_for_selector("#px[aria-invalid='true']", timeout=10_000)
    px.fill("0.1")
    page.click("#calibrate")
    box = page.locator("#view").bounding_box()
    k = box["width"] / page.evaluate("document.querySelector('#view').width")
    for y in (50, 450):
        page.mouse.click(box["x"] + 100.5 * k, box["y"] + (y + 0.5) * k)
    mm = page.locator("#calib-mm")
    mm.fill("-3")
    page.click("#calib-apply")
    assert mm.get_attribute("aria-invalid") == "true" and page.evaluate("document.activeElement.id") == "calib-mm"
    expect(mm).to_have_accessible_description(re.compile("positive number"))
    mm.fill("40")
    assert mm.get_attribute("aria-invalid") is None
    page.keyboard.press("Enter")
    _found(page, "000_HC.png")


def test_sections_tables_and_selects_are_reachable(page, golden):  # noqa: F811
    """axe: the tables' scroll boxes were not focusable (a keyboard could not scroll them on a
    phone), the page had no headings under its h1, and the samples' select ran off a narrow
    screen at 200% text."""
    for name in ("Image and settings", "Result", "Several images"):
        assert page.locator("h2", has_text=name).count() == 1, name
    names = ["000_HC.png", "001_HC.png"]
    page.set_input_files("#file", [os.path.join(SAMPLES, n) for n in names])
    page.wait_for_selector("#batch-rows tr >> nth=1", timeout=10_000)
    wraps = page.locator(".table-wrap")
    assert wraps.count() == 2
    for i in range(2):
        w = wraps.nth(i)
        assert w.get_attribute("tabindex") == "0" and w.get_attribute("role") == "region"
        assert re.fullmatch(r"(Images|Exams) \(scrolls sideways\)", w.get_attribute("aria-label") or "")
    expect(wraps.nth(0)).to_have_accessible_name(re.compile("Images"))  # (the exams' is hidden until measured)
    assert page.locator("#sample").evaluate("(el) => getComputedStyle(el).maxWidth") == "100%"
