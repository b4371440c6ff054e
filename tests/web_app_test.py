"""The offline web app (web_app/): its Node unit tests, its goldens, and the
built app in headless Chromium (Playwright driving Debian's /usr/bin/chromium).

The browser tests serve web_app/dist (build it: cd web_app && npm ci && npm run build)
from loopback with COOP/COEP headers and check: every bundled sample measured with
golden's mask checksum and HC within 1e-6 mm, its GA and review flag (threads on and
off); the flagged sample's "please review" with its reason; the HC centile for a typed
GA and the message for a bad one; readable messages for a non-image and a missing/absurd
pixel size; calibration by two clicks; no request
beyond loopback; once the page says it is ready offline (every file stored), the server
stopped and the browser offline, a reload still measures (service worker). Each part skips with the reason printed when node,
the built app, chromium or playwright is missing: never a silent pass.

HC_TF_WEB_SCREENSHOT=path saves a 390x844 screenshot after a measurement;
HC_TF_WEB_BENCH=path writes in-browser timings (threads on/off, with a per-stage breakdown)
next to the native LiteRT runtime's at 2 threads (the issue's goal) and at 1 thread (the fair
comparison for the single-thread build), median of 20 per image.
"""

import dataclasses
import functools
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading

import pytest

from hc_tf import clinical
from hc_tf.clinical import biometry
from hc_tf.clinical import interval_table
from hc_tf.clinical import intervals
from hc_tf.report import records
from tests.scripts import NODE_FLAGS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEB = os.path.join(REPO, "web_app")
DIST = os.path.join(WEB, "dist")
BUNDLE = os.path.join(REPO, "android_demo_assets")
CHROMIUM = os.environ.get("HC_TF_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOL_MM = 1e-6
LOAD_TIMEOUT_MS = 180_000  # model load + self-test on 2 busy cores


def _skip(reason):
    print(f"\nSKIP web app test: {reason}")
    pytest.skip(reason)


def _node():
    node = shutil.which("node")
    if node is None:
        _skip("node not found (Node 20 runs the web app's unit tests and build)")
    return node


@pytest.fixture(scope="module")
def golden():
    with open(os.path.join(BUNDLE, "golden.json")) as f:
        return json.load(f)


# ---------------------------------------------------------------------------
# Node unit tests and the post-processing goldens.
# ---------------------------------------------------------------------------

def test_node_unit_tests():
    """node --test: the JS port reproduces postprocess_golden.json (and gray/letterbox exactly)."""
    res = subprocess.run([_node(), *NODE_FLAGS, "--test", "test/"], cwd=WEB, capture_output=True, text=True, timeout=600)
    summary = [text for text in res.stdout.splitlines() if text.startswith(("# pass", "# fail", "not ok"))]
    print("\n" + "\n".join(summary))
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "# fail 0" in res.stdout


def test_postprocess_goldens_are_current(tmp_path):
    """Regenerating the goldens with today's hc_tf gives the committed file (arrays and results)."""
    out = tmp_path / "pp.json"
    subprocess.run([sys.executable, os.path.join(REPO, "scripts", "make_postprocess_goldens.py"),
                    "--out", str(out)], check=True, capture_output=True, timeout=600)
    with open(os.path.join(BUNDLE, "postprocess_golden.json")) as f:
        committed = json.load(f)
    fresh = json.loads(out.read_text())
    for key in ("gray", "letterbox", "measure", "samples"):
        assert len(fresh[key]) == len(committed[key]), key
        for a, b in zip(fresh[key], committed[key]):
            for field in ("found", "reason", "mask_sha256", "input_sha256", "gray_sha256", "n_points", "points_sha256"):
                assert a.get(field) == b.get(field), (key, a["name"], field)
            if a.get("hc_mm") is not None:
                assert abs(a["hc_mm"] - b["hc_mm"]) <= TOL_MM, (key, a["name"])
            for field in ("review", "review_reasons", "gestational_age"):
                assert a.get(field) == b.get(field), (key, a["name"], field)
            for name, value in (a.get("quality") or {}).items():
                assert value == pytest.approx(b["quality"][name], abs=1e-12), (key, a["name"], name)
    assert fresh["clinical"] == committed["clinical"]


# ---------------------------------------------------------------------------
# The built app in headless Chromium.
# ---------------------------------------------------------------------------

class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json",
                      ".webmanifest": "application/manifest+json", ".svg": "image/svg+xml",
                      ".tflite": "application/octet-stream"}

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    if not os.path.isfile(os.path.join(DIST, "index.html")):
        _skip("web_app/dist missing: build it with `cd web_app && npm ci && npm run build`")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=DIST))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{httpd.server_address[1]}/", "httpd": httpd}
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not os.path.isfile(CHROMIUM):
        _skip(f"{CHROMIUM} missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        _skip(f"playwright not installed ({err}; pip install -e '.[test]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _wait_ready(page):
    page.wait_for_selector("body[data-ready='1'], #status[data-state='error']", timeout=LOAD_TIMEOUT_MS)
    assert page.locator("#status").get_attribute("data-state") == "ready", page.locator("#status").text_content()


def _measure_sample(page, name):
    page.select_option("#sample", name)
    page.wait_for_selector(f"#result[data-name='{name}'][data-state='found'], "
                           f"#result[data-name='{name}'][data-state='not-found']", timeout=60_000)
    r = page.locator("#result")
    hc = r.get_attribute("data-hc-mm")
    ga = {li.get_attribute("data-method"): (li.get_attribute("data-status"), li.inner_text())
          for li in page.locator("#ga li").all()}
    return {"state": r.get_attribute("data-state"), "hc_mm": float(hc) if hc else None,
            "mask_sha256": r.get_attribute("data-mask-sha256"), "text": page.locator("#hc").inner_text(),
            "review": r.get_attribute("data-review"), "review_text": page.locator("#review").inner_text(),
            "ga": ga, "biometry": [li.inner_text() for li in page.locator("#biometry li").all()]}


def _assert_matches_golden(res, s):
    assert res["mask_sha256"] == s["mask_sha256"], s["filename"]
    assert res["state"] == ("found" if s["found"] else "not-found")
    if s["found"]:
        assert abs(res["hc_mm"] - s["hc_mm"]) <= TOL_MM, (s["filename"], res["hc_mm"], s["hc_mm"])
        lb = s["letterbox"]  # the model-pixel size, as Measurement.model_pixel_mm has it
        mpx = interval_table.model_pixel_mm(s["pixel_size_mm"], 1.0 / min(lb["scale_x"], lb["scale_y"]))
        interval = intervals.hc_interval(s["hc_mm"], s["quality"], model_pixel_mm=mpx).display()
        assert res["text"] == f"HC {s['hc_mm']:.1f} mm ({interval})"
        row = s["submission_row"]
        b = biometry.biometry_from_axes(row["semi_axes_a_mm"], row["semi_axes_b_mm"])
        # Each axis with its own 95% interval (its table, at the head's HC and signals), none
        # beyond that table's calibration.
        axes, ga_bpd_line = {}, []
        for q in ("bpd", "ofd"):
            value, table = getattr(b, f"{q}_mm"), interval_table.load_table(interval_table.AXIS_TABLE_PATHS[q])
            axes[q] = f"{value:.1f} mm"
            if not intervals.beyond_calibration(s["hc_mm"], s["quality"], table, mpx):
                iv = intervals.axis_interval(q, value, s["hc_mm"], s["quality"], model_pixel_mm=mpx)
                axes[q] += f" ({iv.display()})"
                if q == "bpd":  # and the GA its interval spans (records.ga_bpd_interval_record)
                    g = records.ga_bpd_interval_record({**dataclasses.asdict(iv), "display": iv.display()})
                    ga_bpd_line = [f"GA from the BPD's 95% interval, Hadlock 1984 (BPD): {g['display']}"]
        assert res["biometry"][0].startswith(f"BPD {axes['bpd']}, OFD {axes['ofd']}"), res["biometry"]
        shape = b.head_shape_text[1:]  # and the cephalic index's own interval, within its table
        ci_table = interval_table.load_table(interval_table.AXIS_TABLE_PATHS["ci"])
        if not intervals.beyond_calibration(s["hc_mm"], s["quality"], ci_table, mpx):
            shape += ", " + intervals.cephalic_index_interval(
                b.cephalic_index, s["hc_mm"], s["quality"], model_pixel_mm=mpx).display()
        cbpd = f"corrected BPD {b.corrected_bpd_mm:.1f} mm"
        cbpd_table = interval_table.load_table(interval_table.AXIS_TABLE_PATHS["cbpd"])
        if not intervals.beyond_calibration(s["hc_mm"], s["quality"], cbpd_table, mpx):
            cbpd += f" ({intervals.axis_interval('cbpd', b.corrected_bpd_mm, s['hc_mm'], s['quality'], model_pixel_mm=mpx).display()})"
        assert f"{shape}; {cbpd}" in res["biometry"][1], res["biometry"]
        assert f"{b.ga_bpd.uncertainty_text}" in res["biometry"][2] or b.ga_bpd.message in res["biometry"][2]
        assert res["biometry"][3:] == ga_bpd_line, res["biometry"]
        assert res["review"] == str(s["review"]).lower(), s["filename"]
        want_review = f"please review: {'; '.join(s['review_reasons'])}" if s["review"] else ""
        assert res["review_text"] == want_review, s["filename"]
        for key, g in s["gestational_age"].items():
            status, text = res["ga"][key]
            assert status == g["status"], (s["filename"], key)
            assert (f": {g['ga']} weeks" in text) if g["ga"] else ("out of range" in text), text


def test_browser_app(server, browser, golden, tmp_path):
    base = server["url"]
    outside = []
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    context.on("request", lambda req: None if req.url.startswith((base, "data:", "blob:"))
               else outside.append(req.url))
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(base, wait_until="load", timeout=60_000)
        _wait_ready(page)
        assert page.evaluate("crossOriginIsolated") is True
        assert "threads" in page.locator("#status").text_content()
        assert page.locator("#selftest").get_attribute("data-state") == "pass", page.locator("#selftest").text_content()

        # Every bundled sample: golden's mask checksum, HC within 1e-6 mm, GA and review flag.
        results = {}
        for s in golden["samples"]:
            results[s["filename"]] = _measure_sample(page, s["filename"])
            _assert_matches_golden(results[s["filename"]], s)
        # The flagged sample (measured last), with a known GA typed: "please review" with its
        # reason, GA, centile.
        flagged = golden["samples"][-1]
        assert flagged["filename"] == "213_HC.png"
        assert flagged["review_reasons"] == ["boundary unclear"]
        res = results[flagged["filename"]]
        assert res["review_text"] == "please review: boundary unclear"
        had = flagged["gestational_age"]["hadlock"]
        spread = had["uncertainty_days"] / 7  # the 2 SD of its GA band, in weeks
        assert res["ga"]["hadlock"] == ("ok", f"GA Hadlock 1984: {had['ga']} weeks (±{spread:.1f} wk, "
                                              "2 SD); in range (14+0 to 42+0 weeks)")
        page.fill("#known-ga", "20+0")
        page.wait_for_selector("#centile[data-state='ok']", timeout=10_000)
        centile_line = page.locator("#centile").inner_text()
        assert centile_line.startswith("At 20+0 weeks (INTERGROWTH-21st): HC centile ")
        lb = flagged["letterbox"]  # and the centiles its HC interval spans
        iv = intervals.hc_interval(flagged["hc_mm"], flagged["quality"], model_pixel_mm=interval_table.model_pixel_mm(
            flagged["pixel_size_mm"], 1.0 / min(lb["scale_x"], lb["scale_y"])))
        ci = clinical.centile_interval(iv.lower_mm, iv.upper_mm, 20.0, iv.level)
        assert centile_line.endswith(f"; {ci.display()}"), centile_line
        for bad, text in (("abc", "is not a number of weeks"), ("50", "outside 10-45 weeks")):
            page.fill("#known-ga", bad)  # the entry's error is the field's (the centile line says none)
            page.wait_for_selector(f"#known-ga-error:has-text('{text}')", timeout=10_000)
            page.wait_for_selector("#centile[data-state='error']", state="attached", timeout=10_000)
        page.fill("#known-ga", "20+0")
        page.wait_for_selector("#centile[data-state='ok']", timeout=10_000)
        shot = os.environ.get("HC_TF_WEB_SCREENSHOT")
        if shot:
            page.screenshot(path=shot, full_page=True)
            print(f"\nscreenshot: {shot}")

        # The file picker path, with a typed pixel size.
        s = golden["samples"][1]
        page.fill("#px", "")
        page.set_input_files("#file", os.path.join(BUNDLE, "samples", s["filename"]))
        page.wait_for_function("() => document.querySelector('#view').width > 320")
        page.click("#measure")
        page.wait_for_selector("#message:has-text('Enter the pixel size')", timeout=30_000)
        for bad, text in (("1e6", "implausible"), ("-0.2", "implausible"), ("abc", "not a number"),
                          ("0", "implausible")):
            page.fill("#px", bad)
            page.click("#measure")
            page.wait_for_selector(f"#message:has-text('{text}')", timeout=30_000)
        page.fill("#px", repr(s["pixel_size_mm"]))
        page.click("#measure")
        page.wait_for_selector(f"#result[data-name='{s['filename']}'][data-state='found']", timeout=60_000)
        assert abs(float(page.get_attribute("#result", "data-hc-mm")) - s["hc_mm"]) <= TOL_MM
        assert page.locator("#message").inner_text() == ""

        # Calibration: two clicks 400 image px apart, 40 mm -> 0.1 mm per pixel.
        page.click("#calibrate")
        box = page.locator("#view").bounding_box()
        cw = page.evaluate("document.querySelector('#view').width")
        k = box["width"] / cw
        for y in (50, 450):
            page.mouse.click(box["x"] + (100 + 0.5) * k, box["y"] + (y + 0.5) * k)
        page.fill("#calib-mm", "40")
        page.click("#calib-apply")
        page.wait_for_function("() => document.querySelector('#result').dataset.pixelSizeMm !== undefined"
                               " && Math.abs(Number(document.querySelector('#px').value) - 0.1) < 1e-3",
                               timeout=60_000)

        # A non-image gives a readable message.
        page.set_input_files("#file", files=[{"name": "notes.png", "mimeType": "image/png",
                                              "buffer": b"not an image"}])
        page.wait_for_selector("#message:has-text('notes.png: not a readable image file')", timeout=30_000)

        # Drag and drop: a file dropped on the page is opened with the pixel size kept by "same
        # patient, same settings" (typed before the drop), and measured when Measure is pressed.
        s = golden["samples"][3]
        page.check("#carry")
        page.fill("#px", repr(s["pixel_size_mm"]))
        page.evaluate("""async (name) => {
            const blob = await (await fetch('./assets/samples/' + name)).blob();
            const dt = new DataTransfer();
            dt.items.add(new File([blob], name, {type: 'image/png'}));
            document.querySelector('#drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
        }""", s["filename"])
        page.wait_for_selector(f"#view[data-name='{s['filename']}']", timeout=60_000)
        page.wait_for_selector("#result[data-state='needs-measure']", state="attached", timeout=60_000)
        assert not page.is_checked("#carry")  # used up: one image
        page.click("#measure")
        page.wait_for_selector(f"#result[data-name='{s['filename']}'][data-state='found']", timeout=60_000)
        assert abs(float(page.get_attribute("#result", "data-hc-mm")) - s["hc_mm"]) <= TOL_MM

        # Threads off (a new page load: LiteRT.js loads once per page).
        page.goto(base + "?threads=0", wait_until="load", timeout=60_000)
        _wait_ready(page)
        assert "single thread" in page.locator("#status").text_content()
        s = golden["samples"][0]
        _assert_matches_golden(_measure_sample(page, s["filename"]), s)

        # Offline: the service worker serves everything after the server is gone.
        page.goto(base, wait_until="load", timeout=60_000)
        _wait_ready(page)
        # A sync predicate (an async one returns a Promise, which is truthy: no wait at all).
        page.wait_for_selector("#offline[data-state='ready']", state="attached", timeout=120_000)
        assert page.evaluate("!!navigator.serviceWorker.controller")
        server["httpd"].shutdown()
        context.set_offline(True)
        page.reload(wait_until="load", timeout=60_000)
        _wait_ready(page)
        s = golden["samples"][2]
        _assert_matches_golden(_measure_sample(page, s["filename"]), s)
    finally:
        context.close()
    assert not errors, errors
    assert outside == [], f"the page reached beyond loopback: {outside}"


def _native_runs(runner, golden, n):
    from hc_tf import inference
    out = {}
    for s in golden["samples"]:
        path = os.path.join(BUNDLE, "samples", s["filename"])
        runs = [inference.measure_file(runner, path, s["pixel_size_mm"])[1] for _ in range(n)]
        out[s["filename"]] = {"model_runs": [t["invoke_ms"] for t in runs], "end_to_end_runs": [t["total_ms"] for t in runs]}
    return out


def _summary(per_sample):
    """Per image the median of its runs, then the median over the images."""
    samples = {k: {"model_ms": statistics.median(v["model_runs"]), "end_to_end_ms": statistics.median(v["end_to_end_runs"])}
               for k, v in per_sample.items()}
    return {"samples": samples, "model_ms": statistics.median(v["model_ms"] for v in samples.values()),
            "end_to_end_ms": statistics.median(v["end_to_end_ms"] for v in samples.values())}


def test_browser_benchmark(browser, golden):
    """In-browser model and end-to-end times (threads on/off) next to native LiteRT's, in
    interleaved rounds (a load change hits all three alike): HC_TF_WEB_BENCH=path."""
    out = os.environ.get("HC_TF_WEB_BENCH")
    if not out:
        pytest.skip("set HC_TF_WEB_BENCH=path to run the benchmark")
    if not os.path.isfile(os.path.join(DIST, "index.html")):
        _skip("web_app/dist missing")
    from hc_tf import edge
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=DIST))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/"
    n = int(os.environ.get("HC_TF_WEB_BENCH_N", "20"))
    rounds = 4
    labels = {"browser_threads": "?sw=0", "browser_single_thread": "?sw=0&threads=0"}
    natives = {"native_litert_2_threads": 2, "native_litert_1_thread": 1}
    runs = {k: {} for k in [*labels, *natives]}
    stages = {k: [] for k in labels}
    result = {"n_per_image": n, "rounds": rounds,
              "median_over": f"per image median, then median of the {len(golden['samples'])} images",
              "chromium": browser.version, "cpu_count": os.cpu_count(), "load_average_before": os.getloadavg()}
    runners = {k: edge.LiteRunner(os.path.join(BUNDLE, golden["model"]), num_threads=t) for k, t in natives.items()}
    contexts = []
    try:
        pages = {}
        for label, query in labels.items():
            contexts.append(browser.new_context())
            pages[label] = contexts[-1].new_page()
            pages[label].goto(base + query, wait_until="load", timeout=60_000)
            _wait_ready(pages[label])
        for _ in range(rounds):
            for label, page in pages.items():
                r = page.evaluate(f"hcApp.benchmark({max(1, n // rounds)})")
                result.setdefault(label, {"threads": r["threads"], "numThreads": r["numThreads"]})
                stages[label].append(r.get("stages_ms", {}))
                for name, v in r["samples"].items():
                    acc = runs[label].setdefault(name, {"model_runs": [], "end_to_end_runs": []})
                    acc["model_runs"] += v["model_runs"]
                    acc["end_to_end_runs"] += v["end_to_end_runs"]
            for native, runner in runners.items():
                for name, v in _native_runs(runner, golden, max(1, n // rounds)).items():
                    acc = runs[native].setdefault(name, {"model_runs": [], "end_to_end_runs": []})
                    acc["model_runs"] += v["model_runs"]
                    acc["end_to_end_runs"] += v["end_to_end_runs"]
    finally:
        for c in contexts:
            c.close()
        httpd.shutdown()
    for label, per_sample in runs.items():
        result[label] = {**result.get(label, {}), **_summary(per_sample)}
    native, native1 = result["native_litert_2_threads"], result["native_litert_1_thread"]
    for label in labels:
        # Per stage: the median over the rounds of each round's median (decode, letterbox, model, ...).
        keys = sorted({k for st in stages[label] for k in st})
        result[label]["stages_ms"] = {k: statistics.median(st[k] for st in stages[label] if k in st) for k in keys}
        result[label]["ratio_to_native"] = {k: result[label][k] / native[k] for k in ("model_ms", "end_to_end_ms")}
        result[label]["ratio_to_native_1_thread"] = {k: result[label][k] / native1[k] for k in ("model_ms", "end_to_end_ms")}
    result["load_average_after"] = os.getloadavg()
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: (v if not isinstance(v, dict) else {kk: vv for kk, vv in v.items() if kk != "samples"})
                      for k, v in result.items()}, indent=1))
