"""What the web app's decode worker spends on a second decode of the same DICOM file.

Times, in headless Chromium on one or more built web apps (web_app/dist by default; another
build's dist beside it, in interleaved rounds: a load change hits both alike):

- a frame change on a multi-frame DICOM file (uncompressed and JPEG Baseline cines of
  800x600 heads): the worker's decode of the new frame, then its measurement (model, fit,
  signals), as web_app/src/app.js openFrame does;
- a dual pane (two 800x600 panes side by side, a head in each): the file opened, measured whole,
  then its frame prepared again on the head's pane and measured (ui/dicom.js measureDicomFrame
  with repreparer), as the page's Measure does.

The files are written to a temporary folder (pydicom, tests/dicom_files.py) and chosen through a
file input, as a user's are (disk-backed Files). Each round opens each file afresh
(`decoder.forget()`, where the build has it: a new choice). Prints medians (ms) per build and
case, with `reused`: what the worker said it reused ('file': the read and parse, 'frame': the
decoded frame; nothing before it kept the last file). `--probe` also times the file's read and
header parse on the page's thread (what keeping them saves). Figures: docs/benchmarks.md.

    python -m benchmarks.web_decode_cache [--dist web_app/dist --dist /tmp/before/web_app/dist]
        [--frames 100] [--rounds 4] [--n 6] [--probe]

Needs pydicom, opencv, playwright and Debian's chromium (as tests/web_app_test.py).
"""

import argparse
import functools
import http.server
import json
import os
import statistics
import sys
import tempfile
import threading

import cv2
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests"))
from tests import dicom_files  # noqa: E402
from web_app_test import CHROMIUM, CHROMIUM_ARGS, _Handler, _wait_ready  # noqa: E402

SAMPLES = os.path.join(REPO, "android_demo_assets", "samples")
PX_MM = 0.15
W, H = 800, 600

# One case on the page: `file` (a File from the input), frames changed `n` times (a cine), or
# the dual pane opened and measured `n` times. Per run: the decode's round trip and the worker's
# own stages, the measurement, and (dual) the second decode on the pane.
_JS = """async ({ index, kind, n, frames }) => {
  const { Decoder } = await import('./core/decoder.js');
  const { decodeOptions } = await import('./core/pipeline.js');
  const { measureDicomFrame, repreparer } = await import('./ui/dicom.js');
  const m = hcApp.model, file = document.querySelector('#bench-file').files[index];
  const dec = window.benchDecoder ??= new Decoder();
  const runs = [];
  const decode = async (frame) => {
    const t = performance.now();
    const prep = await dec.decode(file, file.name, { ...decodeOptions(m), frame });
    return { prep, ms: performance.now() - t };
  };
  const measure = async (prep, frame) => {
    let second = null;
    const again = repreparer(dec, m, file, file.name, frame);
    const reprepare = async (region) => { const t = performance.now(); const p = await again(region); second = { ms: performance.now() - t, timings: p.timings, reused: p.reused }; return p; };
    const t = performance.now();
    const r = await measureDicomFrame(m, prep, null, false, undefined, reprepare);
    return { ms: performance.now() - t, found: r.found, second };
  };
  dec.forget?.(); // a new choice: the file is read afresh
  if (kind === 'cine') {
    let { prep } = await decode(1);
    await measure(prep, 1);
    for (let i = 0; i < n; i++) {
      const frame = 2 + (i * 7) % (frames - 1);
      const d = await decode(frame);
      const r = await measure(d.prep, frame);
      runs.push({ decode_ms: d.ms, timings: d.prep.timings, reused: d.prep.reused, measure_ms: r.ms, found: r.found, round_trip_ms: d.ms + r.ms });
    }
  } else {
    for (let i = 0; i < n; i++) {
      dec.forget?.();
      const d = await decode(1);
      const r = await measure(d.prep, 1);
      runs.push({ decode_ms: d.ms, timings: d.prep.timings, reused: d.prep.reused, measure_ms: r.ms, found: r.found, second: r.second,
        round_trip_ms: d.ms + r.ms });
    }
  }
  return runs;
}"""


# What a cache of the file's bytes and parse would save, timed on the page's thread: the file
# read (a disk-backed File) and its header read and checked (readDicomHeader), `n` times.
_PROBE_JS = """async ({ index, n }) => {
  const { readDicomHeader } = await import('./core/dicom/deflated.js');
  const { decodeOptions } = await import('./core/pipeline.js');
  const { default: parser } = await import('./vendor/dicom-parser/index.js');
  const file = document.querySelector('#bench-file').files[index], { limits } = decodeOptions(hcApp.model);
  const out = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const bytes = new Uint8Array(await file.arrayBuffer());
    const t1 = performance.now();
    await readDicomHeader(parser, bytes, file.name, limits);
    out.push({ read_ms: t1 - t0, parse_ms: performance.now() - t1 });
  }
  return out;
}"""


def _heads():
    return [cv2.resize(cv2.imread(os.path.join(SAMPLES, f), cv2.IMREAD_GRAYSCALE), (W, H))
            for f in sorted(os.listdir(SAMPLES))]


def write_files(folder, frames):
    """cine_raw.dcm, cine_jpeg.dcm (`frames` frames each) and dual.dcm in `folder`."""
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit
    heads = _heads()
    cine = [np.roll(heads[i % len(heads)], (i // len(heads)) * 3, axis=1) for i in range(frames)]
    whole = [dicom_files.region((0, 0, W - 1, H - 1), PX_MM)]
    dicom_files.save(dicom_files.dataset(cine, regions=whole), os.path.join(folder, "cine_raw.dcm"))
    ds = dicom_files.dataset(cine, regions=whole)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes() for f in cine])
    ds["PixelData"].VR = "OB"
    dicom_files.save(ds, os.path.join(folder, "cine_jpeg.dcm"))
    panes = [(0, 0, W - 1, H - 1), (W, 0, 2 * W - 1, H - 1)]
    dual = dicom_files.dataset([np.hstack([heads[0], heads[1]])], regions=[dicom_files.region(p, PX_MM) for p in panes])
    dicom_files.save(dual, os.path.join(folder, "dual.dcm"))
    return ["cine_raw.dcm", "cine_jpeg.dcm", "dual.dcm"]


def _serve(dist):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=dist))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def _summary(runs):
    med = lambda key: statistics.median(key(r) for r in runs)  # noqa: E731
    out = {"runs": len(runs), "found": sum(r["found"] for r in runs),
           "decode_ms": med(lambda r: r["decode_ms"]), "worker_ms": med(lambda r: r["timings"]["worker_ms"]),
           "measure_ms": med(lambda r: r["measure_ms"]), "round_trip_ms": med(lambda r: r["round_trip_ms"])}
    if runs[0].get("second"):
        out["second_decode_ms"] = med(lambda r: r["second"]["ms"])
        out["second_worker_ms"] = med(lambda r: r["second"]["timings"]["worker_ms"])
    cached = {r.get("reused") for r in runs} | {(r.get("second") or {}).get("reused") for r in runs}
    out["reused"] = sorted(c for c in cached if c)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dist", action="append", help="a built web_app/dist (repeat to compare builds)")
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--n", type=int, default=6, help="frame changes (or dual-pane measurements) a round")
    ap.add_argument("--probe", action="store_true", help="also time the file read and header parse on the page")
    ap.add_argument("--threads", choices=["on", "off"], default="on")
    args = ap.parse_args(argv)
    dists = args.dist or [os.path.join(REPO, "web_app", "dist")]
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as tmp:
        names = write_files(tmp, args.frames)
        sizes = {n: os.path.getsize(os.path.join(tmp, n)) for n in names}
        servers = [_serve(d) for d in dists]
        runs = {d: {n: [] for n in names} for d in dists}
        probes = {n: [] for n in names}
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                pages = {}
                for d, httpd in zip(dists, servers):
                    page = browser.new_context().new_page()
                    query = "?sw=0" + ("" if args.threads == "on" else "&threads=0")
                    page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/{query}", wait_until="load", timeout=60_000)
                    _wait_ready(page)
                    page.evaluate("""() => { const i = document.createElement('input');
                        i.type = 'file'; i.id = 'bench-file'; i.multiple = true; document.body.append(i); }""")
                    page.set_input_files("#bench-file", [os.path.join(tmp, n) for n in names])
                    pages[d] = page
                for _ in range(args.rounds):
                    for d, page in pages.items():
                        for i, n in enumerate(names):
                            kind = "dual" if n.startswith("dual") else "cine"
                            runs[d][n] += page.evaluate(_JS, {"index": i, "kind": kind, "n": args.n, "frames": args.frames})
                    if args.probe:
                        for i, n in enumerate(names):
                            probes[n] += pages[dists[0]].evaluate(_PROBE_JS, {"index": i, "n": args.n})
                version = browser.version
                browser.close()
        finally:
            for s in servers:
                s.shutdown()
    result = {"chromium": version, "threads": args.threads, "frames": args.frames, "sizes_bytes": sizes,
              "load_average": os.getloadavg(),
              "page_read_parse_ms": {n: {k: statistics.median(r[k] for r in v) for k in ("read_ms", "parse_ms")}
                                     for n, v in probes.items() if v},
              "builds": {d: {n: _summary(r) for n, r in per.items()} for d, per in runs.items()}}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
