"""The decode worker's memory of the last DICOM file (web_app/src/core/dicom/last_file.js), in
headless Chromium: a frame change reuses the file's read and parse, a dual pane's second pass
its decoded frame too, and both give exactly what a fresh worker gives (input, preview, the
file's fields, a refusal's words); a different file with the same name and size is never served
from it; once another file is decoded, or another one chosen on the page, the earlier file's
state is gone. The pure logic: web_app/test/dicom_last_file.test.js. Skips as
tests/web_app_test.py does, and without pydicom.
"""

import base64
import os

import cv2
import numpy as np
import pytest

from web_app_test import BUNDLE, TOL_MM, browser, golden, server  # noqa: F401
from web_app_ui_test import _sample, page  # noqa: F401

pydicom = pytest.importorskip("pydicom", reason="the DICOM fixtures need pydicom (hc-tf[dicom])")
from tests import dicom_files  # noqa: E402
from web_app_dicom_test import _jpeg_baseline  # noqa: E402

SAMPLES = os.path.join(BUNDLE, "samples")
HEADS = ("000_HC.png", "001_HC.png", "002_HC.png")

# Each job decoded by one Decoder (`kept`: its worker keeps the last file) and by a new one (a
# fresh worker): what the page gets of each (sha-256 of the input and the preview, box, region,
# the file's fields), or the refusal in words. `{forget: true}` is a new choice on `kept`.
_JOBS_JS = """async ({ files, jobs }) => {
  const { Decoder } = await import('./core/decoder.js');
  const { decodeOptions } = await import('./core/pipeline.js');
  const blobs = files.map(([name, b64]) => new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name));
  const hex = async (a) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', a))].map((b) => b.toString(16).padStart(2, '0')).join('');
  const view = async (d, { file, frame, region }) => {
    try {
      const blob = blobs[file];
      const p = await d.decode(blob, blob.name, { ...decodeOptions(hcApp.model), frame, ...(region && { region }) });
      const pv = await p.requestPreview();
      return { input: await hex(p.input), preview: [await hex(pv.rgba), pv.width, pv.height, pv.step], box: p.box,
        region: p.region, size: [p.width, p.height], dicom: JSON.stringify(p.dicom), reused: p.reused ?? null };
    } catch (err) { return { error: `${err.constructor.name}: ${err.message}` }; }
  };
  const kept = new Decoder(), out = [];
  for (const job of jobs) {
    if (job.forget) { kept.forget(); continue; }
    const fresh = new Decoder();
    out.push({ kept: await view(kept, job), fresh: await view(fresh, job) });
    fresh.close();
  }
  kept.close();
  return out;
}"""


def _heads(size=None):
    grays = [cv2.imread(os.path.join(SAMPLES, n), cv2.IMREAD_GRAYSCALE) for n in HEADS]
    return [cv2.resize(g, size) for g in grays] if size else grays


def _b64(path):
    with open(path, "rb") as f:
        return [os.path.basename(path), base64.b64encode(f.read()).decode()]


def _run(page, paths, jobs):  # noqa: F811
    """_JOBS_JS on `paths`; per decode job {kept, fresh}, `reused` taken out of `kept` into its own key."""
    out = page.evaluate(_JOBS_JS, {"files": [_b64(p) for p in paths], "jobs": jobs})
    for r in out:
        r["reused"] = r["kept"].pop("reused", None)
        assert r["fresh"].pop("reused", None) is None, r  # a fresh worker reuses nothing
    return out


def _same_size_pair(tmp_path, name="scan.dcm"):
    """Two files called `name` (in folders a and b), as large as each other, holding different heads."""
    a, b = _heads()[:2]
    px = 0.15
    paths = []
    for folder, gray, uid in (("a", a, f"{dicom_files.STUDY_UID}.1"), ("b", b, f"{dicom_files.STUDY_UID}.2")):
        h, w = gray.shape
        ds = dicom_files.dataset([gray], regions=[dicom_files.region((0, 0, w - 1, h - 1), px)])
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid
        ds.SeriesInstanceUID = uid + ".1"
        (tmp_path / folder).mkdir()
        paths.append(dicom_files.save(ds, str(tmp_path / folder / name)))
    assert os.path.getsize(paths[0]) == os.path.getsize(paths[1])
    return paths, px


def test_a_frame_change_and_a_dual_panes_second_pass_give_a_fresh_decodes_result(page, tmp_path):  # noqa: F811
    """Frames of an uncompressed and a JPEG Baseline cine, and the panes of a dual pane, decoded
    by a worker that keeps the file: each exactly a fresh worker's; the file's read and parse
    reused on a frame change, the frame's pixels on a region of it; a frame the file lacks
    refused in the same words, and the file still served after."""
    heads = _heads((320, 240))
    raw = dicom_files.save(dicom_files.dataset(heads), str(tmp_path / "cine.dcm"))
    jpeg = dicom_files.save(_jpeg_baseline(heads, "MONOCHROME2"), str(tmp_path / "cine_jpeg.dcm"))
    panes = [(0, 0, 319, 239), (320, 0, 639, 239)]
    dual = dicom_files.dataset([np.hstack([cv2.flip(h, 1) for h in heads[:2]])],
                               regions=[dicom_files.region(p, 0.2) for p in panes])
    dual = dicom_files.save(dual, str(tmp_path / "dual.dcm"))
    jobs, want = [], []
    for file in (0, 1):
        jobs += [{"file": file, "frame": 1}, {"file": file, "frame": 3},
                 {"file": file, "frame": 3, "region": [40, 30, 279, 209]}, {"file": file, "frame": 2},
                 {"file": file, "frame": 4}, {"file": file, "frame": 2, "region": [0, 0, 159, 239]}]
        want += [None, "file", "frame", "file", None, "file"]  # a refused frame leaves none decoded
    jobs += [{"file": 2, "frame": 1}, {"file": 2, "frame": 1, "region": list(panes[1])},
             {"file": 2, "frame": 1, "region": list(panes[0])}]
    want += [None, "frame", "frame"]
    out = _run(page, [raw, jpeg, dual], jobs)
    for job, r in zip(jobs, out):
        assert r["kept"] == r["fresh"], (job, r)
    assert [r["reused"] for r in out] == want, [r["reused"] for r in out]
    refused = [r["kept"]["error"] for r in out if "error" in r["kept"]]
    assert refused == [f"UserError: {n}: no frame 4 (NumberOfFrames (0028,0008) is 3)"
                       for n in ("cine.dcm", "cine_jpeg.dcm")]
    inputs = [r["kept"]["input"] for r in out if "input" in r["kept"]]
    assert len(set(inputs)) == len(inputs), "every job's input differs from the others'"


def test_another_file_of_the_same_name_and_size_is_never_served_from_the_cache(page, golden, tmp_path):  # noqa: F811
    """Two files both called scan.dcm, as large as each other, different heads: decoded one after
    the other by one worker, each is its own (a fresh worker's); measured in one batch (no new
    choice between them), each row is its own head's HC."""
    paths, px = _same_size_pair(tmp_path)
    out = _run(page, paths, [{"file": 0, "frame": 1}, {"file": 1, "frame": 1},
                             {"file": 1, "frame": 1, "region": [0, 0, 399, 539]}])
    assert [r["reused"] for r in out] == [None, None, "frame"]
    for r in out:
        assert r["kept"] == r["fresh"], r
    assert out[0]["kept"]["input"] != out[1]["kept"]["input"]
    page.set_input_files("#file", paths)
    page.wait_for_selector("#batch-rows tr >> nth=1", timeout=10_000)
    page.click("#measure-all")
    page.wait_for_selector("#batch-downloads:not([hidden])", timeout=60_000)
    rows = page.locator("#batch-rows tr")
    for i, name in enumerate(HEADS[:2]):  # the model's mask does not depend on the pixel size: the HC scales with it
        s = _sample(golden, name)
        hc = float(rows.nth(i).get_attribute("data-hc-mm"))
        assert abs(hc - s["hc_mm"] / s["pixel_size_mm"] * px) <= TOL_MM * hc, (i, name, hc)


_LOG_JS = """() => {
  window.decoderMessages = [];
  const post = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (m, ...rest) {
    if (m?.forget) window.decoderMessages.push('forget');
    else if (m?.blob) window.decoderMessages.push(`decode ${m.name}`);
    return post.call(this, m, ...rest);
  };
}"""


def test_the_earlier_files_state_is_gone_once_another_is_chosen(page, tmp_path):  # noqa: F811
    """A file decoded after another drops it (the earlier one is read again afresh); so does a new
    choice (forget); and the page says forget on every new choice, a batch's too (which decodes
    nothing until Measure all)."""
    paths, _ = _same_size_pair(tmp_path)
    out = _run(page, paths, [{"file": 0, "frame": 1}, {"file": 0, "frame": 1, "region": [0, 0, 399, 539]},
                             {"file": 1, "frame": 1}, {"file": 0, "frame": 1}, {"file": 0, "frame": 1},
                             {"forget": True}, {"file": 0, "frame": 1}])
    assert [r["reused"] for r in out] == [None, "frame", None, None, "frame", None]
    for r in out:
        assert r["kept"] == r["fresh"], r
    page.evaluate(_LOG_JS)
    page.set_input_files("#file", paths[0])
    page.wait_for_selector("#result[data-name='scan.dcm'][data-state='found']", timeout=60_000)
    page.set_input_files("#file", paths)  # several files: a table, nothing decoded yet
    page.wait_for_selector("#batch-rows tr >> nth=1", timeout=10_000)
    page.select_option("#sample", HEADS[0])
    page.wait_for_selector(f"#result[data-name='{HEADS[0]}'][data-state='found']", timeout=60_000)
    sent = page.evaluate("window.decoderMessages")
    # (the page's decoder has no worker before its first file: nothing to forget then)
    assert sent == ["decode scan.dcm", "forget", "forget", f"decode {HEADS[0]}"], sent


def test_the_decode_cache_benchmark_runs(browser, server):  # noqa: F811
    """benchmarks/web_decode_cache.py at its smallest, on the built app: every case measured, the
    cine's frame changes served from the kept file and the dual pane's second pass from its frame."""
    import json
    import subprocess
    import sys
    root = os.path.dirname(BUNDLE)
    res = subprocess.run([sys.executable, "-m", "benchmarks.web_decode_cache", "--frames", "3", "--rounds", "1",
                          "--n", "2", "--probe"], cwd=root, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    [build] = json.loads(res.stdout[res.stdout.index("{"):])["builds"].values()
    assert {n: (v["runs"], v["found"], v["reused"]) for n, v in build.items()} == {
        "cine_raw.dcm": (2, 2, ["file"]), "cine_jpeg.dcm": (2, 2, ["file"]), "dual.dcm": (2, 2, ["frame"])}
