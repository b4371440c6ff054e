"""DICOM in the web app, in headless Chromium: an HC18 head wrapped as a DICOM file (its CSV pixel
size as the region's calibration) gives the same HC as the PNG path with that pixel size typed;
the field is filled from the file and locked unless overridden; RLE Lossless is read as Python
reads it (damaged frames refused alike), JPEG Baseline too (libjpeg-turbo on both sides, sizes
checked first); another compressed file is refused in words; any frame of a multi-frame file.
The calibration rules themselves: web_app/test/dicom_calibration.test.js against
tests/fixtures/dicom_calibration/cases.json. Skips as tests/web_app_test.py does, and without
pydicom.
"""

import os
import re
import struct

import cv2
import pytest

from web_app_test import BUNDLE, TOL_MM, browser, golden, server  # noqa: F401
from web_app_ui_test import _found, _sample, page  # noqa: F401

pydicom = pytest.importorskip("pydicom", reason="the DICOM fixtures need pydicom (hc-tf[dicom])")
from tests import dicom_files  # noqa: E402
from tests.scripts import NODE_FLAGS  # noqa: E402

NAME = "000_HC.png"


def _wrapped(tmp_path, s, name="head.dcm", **kw):
    gray = cv2.imread(os.path.join(BUNDLE, "samples", s["filename"]), cv2.IMREAD_GRAYSCALE)
    h, w = gray.shape
    ds = dicom_files.dataset([gray], regions=[dicom_files.region((0, 0, w - 1, h - 1), s["pixel_size_mm"])], **kw)
    return ds, str(tmp_path / name)


def test_wrapped_head_measures_as_the_png_path(page, golden, tmp_path):  # noqa: F811
    s = _sample(golden, NAME)
    page.set_input_files("#file", os.path.join(BUNDLE, "samples", NAME))
    page.wait_for_selector("#result[data-state='needs-pixel-size']", state="attached", timeout=60_000)
    page.fill("#px", repr(s["pixel_size_mm"]))
    page.click("#measure")
    png_hc = _found(page, NAME)
    png_mask = page.get_attribute("#result", "data-mask-sha256")
    ds, path = _wrapped(tmp_path, s)
    dicom_files.save(ds, path)
    page.set_input_files("#file", path)
    dcm_hc = _found(page, "head.dcm")
    assert abs(dcm_hc - png_hc) <= 1e-9 and abs(dcm_hc - s["hc_mm"]) <= TOL_MM, (dcm_hc, png_hc, s["hc_mm"])
    assert page.get_attribute("#result", "data-mask-sha256") == png_mask == s["mask_sha256"]
    assert page.evaluate("document.querySelector('#px').readOnly") is True
    assert abs(float(page.input_value("#px")) - s["pixel_size_mm"]) <= 1e-12
    # Where the size came from, in words (report.json keeps predict's source and note).
    assert page.inner_text("#px-source") == "from the file's ultrasound region 1", page.inner_text("#px-source")
    assert page.get_attribute("#px-source", "data-source") == "dicom_us_region"
    import json
    with page.expect_download() as d:
        page.click("#dl-json")
    rec = json.loads(open(d.value.path(), encoding="utf-8").read())["images"][0]
    _check_fhir(page, path, dcm_hc, golden, s, rec["hc_interval"])
    assert (rec["pixel_size_source"], rec["dicom"]["region"], rec["dicom"]["frames_in_file"]) == ("dicom_us_region", 1, 1)
    assert rec["pixel_size_note"].startswith("2D tissue region 1 of (0018,6011) (box ")
    assert rec["dicom"]["sop_instance_uid"] == str(ds.SOPInstanceUID)
    # Override: the typed size is used, and said so.
    page.check("#px-override")
    assert page.evaluate("document.querySelector('#px').readOnly") is False
    page.fill("#px", "0.3")
    page.click("#measure")
    page.wait_for_selector("#result[data-name='head.dcm'][data-state='found'][data-pixel-size-mm='0.3']", timeout=60_000)
    hc = float(page.get_attribute("#result", "data-hc-mm"))
    assert abs(hc - s["hc_mm"] / s["pixel_size_mm"] * 0.3) <= 1e-6 * hc
    text = page.inner_text("#px-source")
    assert text.startswith("typed, overriding the file's ") and "typed_override" not in text, text
    assert page.get_attribute("#px-source", "data-source") == "typed_override"


def test_download_names_carry_nothing_of_the_file_name(page, golden, tmp_path):  # noqa: F811
    """Opening PRIVID12345_PRIVNAME.dcm, FHIR saved PRIVID12345_PRIVNAME.fhir.json and the reports
    were all report.csv / report.json (two patients' as "report (1).csv"). Now one neutral stem per
    measurement for all its files; the report's contents still name the file (as predict's)."""
    ds, path = _wrapped(tmp_path, _sample(golden, NAME), name="PRIVID12345_PRIVNAME.dcm")
    dicom_files.save(ds, path)
    names = []
    for _ in range(2):  # the same file measured twice: two measurements, two stems
        page.set_input_files("#file", path)
        _found(page, "PRIVID12345_PRIVNAME.dcm")
        got = []
        for b in ("#dl-csv", "#dl-json", "#dl-fhir"):
            with page.expect_download() as d:
                page.click(b)
            got.append(d.value.suggested_filename)
            if b == "#dl-csv":
                assert "PRIVID12345_PRIVNAME.dcm" in open(d.value.path(), encoding="utf-8").read()
        stem = re.fullmatch(r"(hc-tf-\d{8}-\d{6}-\d+)\.report\.csv", got[0]).group(1)
        assert got == [f"{stem}.report.csv", f"{stem}.report.json", f"{stem}.fhir.json"]
        names.append(stem)
    assert names[0] != names[1]


def test_a_scanner_screen_is_measured_in_its_2d_region_as_predict_does(page, golden, tmp_path):  # noqa: F811
    """The model sees the file's one 2D tissue region (dicom_predict.samples): the head framed
    by a scanner's text, bar and margins measures as the golden (the region alone), its ellipse
    in the frame's pixels."""
    import json
    s = _sample(golden, NAME)
    gray = cv2.imread(os.path.join(BUNDLE, "samples", NAME), cv2.IMREAD_GRAYSCALE)
    path = dicom_files.save(dicom_files.screen_dataset(gray, s["pixel_size_mm"]), str(tmp_path / "screen.dcm"))
    page.set_input_files("#file", path)
    hc = _found(page, "screen.dcm")
    assert abs(hc - s["hc_mm"]) <= TOL_MM
    assert page.get_attribute("#result", "data-mask-sha256") == s["mask_sha256"]
    with page.expect_download() as d:
        page.click("#dl-json")
    rec = json.loads(open(d.value.path(), encoding="utf-8").read())["images"][0]
    (x0, y0), (h, w) = dicom_files.SCREEN_ORIGIN, gray.shape
    assert rec["dicom"]["model_region"] == [x0, y0, x0 + w - 1, y0 + h - 1]
    e, want = rec["dicom"]["ellipse_px"], s["ellipse_px"]
    assert abs(e["cx"] - (want["cx"] + x0)) <= 1e-6 and abs(e["cy"] - (want["cy"] + y0)) <= 1e-6
    assert all(abs(e[k] - want[k]) <= 1e-6 for k in ("a", "b", "angle"))
    # The region the model saw is outlined on the image, just outside its pixels.
    page.wait_for_selector("#view[data-name='screen.dcm']", state="attached", timeout=10_000)
    edge = page.evaluate(f"""() => {{ const c = document.querySelector('#view'), k = 1 / Number(c.dataset.step);
        const at = (x, y) => Array.from(c.getContext('2d').getImageData(Math.floor(x * k), Math.floor(y * k), 1, 1).data);
        return [at({x0} + 40, {y0} - 1), at({x0} + 40, {y0} + 40)]; }}""")
    assert edge[0][:3] == [255, 200, 0] and edge[1][:3] != [255, 200, 0], edge
    assert "the 2D region the model saw outlined" in page.get_attribute("#view", "aria-label")


def test_rle_compressed_head_measures_as_the_golden(page, golden, tmp_path):  # noqa: F811
    """RLE Lossless, which scanners and PACS use, was refused as "compressed"; it is lossless, so
    the head measures to the golden's HC and mask."""
    from pydicom.uid import RLELossless
    s = _sample(golden, NAME)
    ds, path = _wrapped(tmp_path, s, name="head_rle.dcm")
    ds.compress(RLELossless)
    dicom_files.save(ds, path)
    page.set_input_files("#file", path)
    hc = _found(page, "head_rle.dcm")
    assert abs(hc - s["hc_mm"]) <= TOL_MM
    assert page.get_attribute("#result", "data-mask-sha256") == s["mask_sha256"]


@pytest.mark.parametrize("syntax", ["jpeg_lossless", "jpeg_ls", "jpeg_2000"])
def test_lossless_compressed_head_measures_as_the_golden(page, golden, tmp_path, syntax):  # noqa: F811
    """JPEG Lossless, JPEG-LS and JPEG 2000 (PACS archives use them) were refused as
    "compressed"; lossless, so the head measures to the golden's HC and mask, through the
    vendored decoders in the worker (the wasm ones loaded on first need)."""
    import shutil
    import subprocess
    from pydicom.uid import JPEG2000Lossless, JPEGLSLossless
    s = _sample(golden, NAME)
    ds, plain = _wrapped(tmp_path, s, name="plain.dcm")
    path = str(tmp_path / f"head_{syntax}.dcm")
    if syntax == "jpeg_lossless":  # pydicom cannot encode it: dcmtk can
        if shutil.which("dcmcjpeg") is None:
            pytest.skip("dcmtk's dcmcjpeg (the CI installs it) makes the JPEG Lossless file")
        dicom_files.save(ds, plain)
        subprocess.run(["dcmcjpeg", "+e1", plain, path], check=True, capture_output=True, timeout=60)
    else:
        ds.compress(JPEGLSLossless if syntax == "jpeg_ls" else JPEG2000Lossless)
        dicom_files.save(ds, path)
    page.set_input_files("#file", path)
    hc = _found(page, f"head_{syntax}.dcm")
    assert abs(hc - s["hc_mm"]) <= TOL_MM
    assert page.get_attribute("#result", "data-mask-sha256") == s["mask_sha256"]


def test_carried_pixel_size_note_goes_when_the_file_gives_its_own(page, golden, tmp_path):  # noqa: F811
    """"Same patient" kept 0.2 mm, the DICOM file's region says otherwise: the note does not say
    0.2 was kept; the known GA, still kept, is still said (and the file waits for Measure). The
    file's own calibration is never carried to another file: only a typed size is."""
    s = _sample(golden, NAME)
    page.select_option("#sample", NAME)
    _found(page, NAME)
    page.check("#carry")
    page.fill("#px", "0.2")
    page.fill("#known-ga", "30+0")
    page.click("#measure")
    page.wait_for_selector(f"#result[data-name='{NAME}'][data-pixel-size-mm='0.2']", timeout=60_000)
    ds, path = _wrapped(tmp_path, s)
    dicom_files.save(ds, path)
    page.set_input_files("#file", path)
    page.wait_for_selector("#result[data-state='needs-measure']", state="attached", timeout=60_000)
    page.click("#measure")
    _found(page, "head.dcm")
    assert abs(float(page.get_attribute("#result", "data-pixel-size-mm")) - s["pixel_size_mm"]) <= 1e-12
    kept = page.inner_text("#carried")
    assert "pixel size" not in kept and "known GA 30+0" in kept, kept
    # Ticked again: a plain image after it gets the known GA, not the file's calibration.
    page.check("#carry")
    page.set_input_files("#file", os.path.join(BUNDLE, "samples", "002_HC.png"))
    page.wait_for_selector("#result[data-state='needs-pixel-size']", state="attached", timeout=60_000)
    assert page.input_value("#px") == "" and page.input_value("#known-ga") == "30+0"
    assert "pixel size" not in page.inner_text("#carried") and page.get_attribute("#result", "data-hc-mm") is None
    # A size typed over the image is kept for the next one (ticked), and said until it is edited.
    page.fill("#px", "0.2")
    page.check("#carry")
    page.set_input_files("#file", os.path.join(BUNDLE, "samples", "003_HC.png"))
    page.wait_for_selector("#result[data-state='needs-measure']", state="attached", timeout=60_000)
    assert "pixel size 0.2 mm" in page.inner_text("#carried")
    page.fill("#px", "0.25")
    assert "pixel size" not in page.inner_text("#carried")


def _check_fhir(page, path, hc_mm, golden, s, report_interval):  # noqa: F811
    """The FHIR download is hc_tf.report.fhir.head_bundle's for the same file and HC (BPD and OFD
    the golden ellipse's, the GA by each equation in range with its interval), its 95% interval
    (quantity-confidenceInterval) and the interval's note included; that interval is
    report.json's (`report_interval`, the app's own) and Measurement.hc_interval's, the model
    pixel's size among its features (read as unknown, the widest, it was ~8 mm wider)."""
    import dataclasses
    import json
    from types import SimpleNamespace
    try:
        from hc_tf.report import fhir
        from fhir.resources.R4B import observation  # noqa: F401
    except ImportError:
        return  # fhir.resources (the [dicom] extra) missing: the Python side cannot say
    from hc_tf import clinical
    from hc_tf.clinical import biometry, interval_table, intervals
    from hc_tf.io import dicom
    from hc_tf.report import records
    from hc_tf.report.dicom_sr import ModelInfo
    with page.expect_download() as d:
        page.click("#dl-fhir")
    assert re.fullmatch(r"hc-tf-\d{8}-\d{6}-\d+\.fhir\.json", d.value.suggested_filename), d.value.suggested_filename
    got = json.loads(open(d.value.path(), encoding="utf-8").read())
    header = dicom.read_header(path)
    review = page.get_attribute("#result", "data-review") == "true"
    reasons = [r for r in (page.get_attribute("#result", "data-review-reasons") or "").split("; ") if r]
    with open(os.path.join(BUNDLE, golden["metadata"]), encoding="utf-8") as f:
        version = json.load(f)["model_version"]
    box = s["letterbox"]
    model_pixel = interval_table.model_pixel_mm(s["pixel_size_mm"], 1 / min(box["scale_x"], box["scale_y"]))
    hc_iv = intervals.hc_interval(hc_mm, s["quality"], model_pixel_mm=model_pixel)
    interval = dataclasses.asdict(hc_iv)
    ga = {records.GA_KEYS[g.method]: records.ga_record(g) for g in clinical.ga_from_hc_all(hc_mm)}
    ga_interval = records.ga_interval_records(SimpleNamespace(hc_interval=lambda: hc_iv))
    assert (report_interval["lower_mm"], report_interval["upper_mm"]) == pytest.approx(
        (interval["lower_mm"], interval["upper_mm"]), abs=1e-9)
    px, e = s["pixel_size_mm"], s["ellipse_px"]  # BPD and OFD from the golden's ellipse
    axes = records.biometry_record(biometry.biometry_from_axes(e["a"] * px, e["b"] * px))
    axis_intervals = {q: dataclasses.asdict(intervals.axis_interval(
        q, axes[f"{q}_mm"], hc_mm, s["quality"], model_pixel_mm=model_pixel)) for q in ("bpd", "ofd")}
    axis_intervals["ci"] = dataclasses.asdict(intervals.cephalic_index_interval(
        axes["cephalic_index"], hc_mm, s["quality"], model_pixel_mm=model_pixel))
    axis_intervals["cbpd"] = dataclasses.asdict(intervals.axis_interval(
        "cbpd", axes["corrected_bpd_mm"], hc_mm, s["quality"], model_pixel_mm=model_pixel))
    want = fhir.head_bundle(hc_mm, dicom.uids(header), None,
                            ModelInfo(golden["model"], version, golden["model_sha256"]),
                            review, reasons, fhir.study_datetime(header.dataset), hc_interval=interval,
                            biometry=axes, axis_intervals=axis_intervals, gestational_age=ga,
                            ga_interval=ga_interval)
    got_obs, want_obs = fhir.bundle_observations(got), fhir.bundle_observations(want)
    in_range = [n for k, n in (("hadlock", "gahl"), ("intergrowth", "gaig")) if ga[k]["status"] == "ok"]
    assert list(got_obs) == ["hc", "bpd", "ofd", "cbpd", "ci"] + in_range and "gahl" in in_range
    for name, doc in got_obs.items():  # the numbers within 1e-6 mm (the golden's ellipse), the rest exact
        assert fhir.read_interval(doc) == pytest.approx(fhir.read_interval(want_obs[name]), abs=1e-6)
        assert doc["valueQuantity"].pop("value") == pytest.approx(want_obs[name]["valueQuantity"].pop("value"), abs=1e-6)
        for one in doc, want_obs[name]:
            for ext in one["valueQuantity"].get("extension", [{}])[0].get("extension", []):
                for end in ext.get("valueRange", {}).values():
                    end.pop("value")
    assert got == want


def _check_frame_fhir(got, predicted_path, frame):
    """A frame's FHIR download: predict's Observations (the GA's by each equation in range among
    them), each from that frame of the file."""
    import json
    from hc_tf.report import fhir
    want = json.loads(predicted_path.read_text())
    assert list(fhir.bundle_observations(got)) == list(fhir.bundle_observations(want))
    assert [e["resource"]["derivedFrom"][1]["display"] for e in got["entry"]] == len(want["entry"]) * [
        f"source image, frame {frame}"]


def test_multi_frame_file_is_named_as_predict_names_its_frame(page, golden, tmp_path):  # noqa: F811
    """Frame 1 of a two-frame file: report.json, report.csv and exams.csv name it as
    `hc-tf predict --frame 1` does ("cine.dcm#1"), not as the whole file; its FHIR download is
    named neutrally, not as predict's fhir/ file ("cine.frame1.fhir.json": a file name may hold
    a patient's ID), with its report's stem. Frame 2, picked on the page, measures and is named
    as `--frame 2` (the app read frame 1 only), its files with a stem of their own."""
    import csv
    import io
    import json
    from hc_tf.surfaces import predict
    s = _sample(golden, NAME)
    gray = cv2.imread(os.path.join(BUNDLE, "samples", NAME), cv2.IMREAD_GRAYSCALE)
    h, w = gray.shape
    ds = dicom_files.dataset([gray, gray[:, ::-1].copy()],
                             regions=[dicom_files.region((0, 0, w - 1, h - 1), s["pixel_size_mm"])])
    path = str(tmp_path / "cine.dcm")
    dicom_files.save(ds, path)
    out = tmp_path / "predict"
    want = predict.predict_files(os.path.join(BUNDLE, golden["model"]), [path], str(out), frame=1).records[0]
    page.set_input_files("#file", path)
    _found(page, "cine.dcm")

    def download(button):
        with page.expect_download() as d:
            page.click(button)
        return d.value.suggested_filename, open(d.value.path(), encoding="utf-8").read()

    json_name, text = download("#dl-json")
    doc = json.loads(text)
    stem = re.fullmatch(r"(hc-tf-\d{8}-\d{6}-\d+)\.report\.json", json_name).group(1)
    assert want["filename"] == "cine.dcm#1"
    assert doc["images"][0]["filename"] == want["filename"]
    assert doc["exams"][0]["filenames"] == want["filename"]
    csv_name, text = download("#dl-csv")
    assert csv_name == f"{stem}.report.csv"
    assert [r["filename"] for r in csv.DictReader(io.StringIO(text))] == [want["filename"]]
    # predict's frame's FHIR (and its exam's report, which the app does not write)
    assert sorted(os.listdir(out / "fhir")) == ["cine.frame1.fhir.json", "cine.obgyn.fhir.json"]
    name, text = download("#dl-fhir")
    assert name == f"{stem}.fhir.json"
    _check_frame_fhir(json.loads(text), out / "fhir" / "cine.frame1.fhir.json", 1)

    # Another frame, as `hc-tf predict --frame 2`: decoded, measured and named as predict's.
    assert page.is_visible("#frame-row") and page.input_value("#frame") == "1"
    assert page.inner_text("#frame-of") == "of 2"
    want2 = predict.predict_files(os.path.join(BUNDLE, golden["model"]), [path], str(tmp_path / "p2"),
                                  frame=2).records[0]
    page.fill("#frame", "2")
    page.dispatch_event("#frame", "change")
    page.wait_for_selector("#result[data-name='cine.dcm'][data-state='found'][data-frame='2']", timeout=60_000)
    assert abs(float(page.get_attribute("#result", "data-hc-mm")) - want2["hc_mm"]) <= TOL_MM
    assert page.input_value("#frame") == "2"
    doc = json.loads(download("#dl-json")[1])
    assert doc["images"][0]["filename"] == want2["filename"] == "cine.dcm#2"
    assert doc["images"][0]["dicom"]["frame"] == 2
    name, text = download("#dl-fhir")
    assert re.fullmatch(r"hc-tf-\d{8}-\d{6}-\d+\.fhir\.json", name) and not name.startswith(stem), name
    _check_frame_fhir(json.loads(text), tmp_path / "p2" / "fhir" / "cine.frame2.fhir.json", 2)
    page.fill("#frame", "3")
    page.dispatch_event("#frame", "change")
    page.wait_for_selector("#message:has-text('no frame 3')", timeout=10_000)
    assert page.get_attribute("#result", "data-state") == "error"
    # Frames asked for while another still decodes: the latest choice wins.
    page.evaluate("""() => { const f = document.querySelector('#frame');
        for (const v of ['1', '2']) { f.value = v; f.dispatchEvent(new Event('change')); } }""")
    page.wait_for_selector("#result[data-name='cine.dcm'][data-state='found'][data-frame='2']", timeout=60_000)
    assert page.input_value("#frame") == "2"


def test_compressed_dicom_is_refused_in_words(page, golden, tmp_path):  # noqa: F811
    from pydicom.encaps import encapsulate
    ds, path = _wrapped(tmp_path, _sample(golden, NAME), name="h264.dcm")
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.102"  # MPEG-4 AVC/H.264: a video cine
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xd9"])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    page.set_input_files("#file", path)
    page.wait_for_selector("#message:has-text('compressed')", timeout=60_000)
    text = page.inner_text("#message")
    assert text.startswith("h264.dcm:") and "1.2.840.10008.1.2.4.102" in text, text
    assert page.get_attribute("#result", "data-state") == "error"


def _deflated_heads(tmp_path, s):
    """The wrapped head deflated, as pydicom writes it: its stream even, odd (padded with one
    0x00, which Chromium's inflater refuses as bytes after the stream's end), and with 7 bytes
    after it; name -> path."""
    import zlib
    from pydicom.filereader import read_file_meta_info
    from pydicom.uid import DeflatedExplicitVRLittleEndian
    out = {}
    for extra in range(16):  # a longer Manufacturer until both lengths of stream were written
        ds, path = _wrapped(tmp_path, s, name=f"dfl{extra}.dcm")
        ds.Manufacturer += "x" * extra
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        dicom_files.save(ds, path)
        start = 144 + read_file_meta_info(path).FileMetaInformationGroupLength
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        inflater.decompress(open(path, "rb").read()[start:])
        out.setdefault(f"head_dfl_pad{len(inflater.unused_data)}.dcm", path)
        if len(out) == 2:
            break
    assert sorted(out) == ["head_dfl_pad0.dcm", "head_dfl_pad1.dcm"], out
    for name in list(out):  # named as the page shows them
        os.rename(out[name], str(tmp_path / name))
        out[name] = str(tmp_path / name)
    out["head_dfl_tail.dcm"] = str(tmp_path / "head_dfl_tail.dcm")
    open(out["head_dfl_tail.dcm"], "wb").write(open(out["head_dfl_pad0.dcm"], "rb").read() + b"abcdefg")
    return out


def test_deflated_head_measures_as_predict(page, golden, tmp_path):  # noqa: F811
    """Deflated Explicit VR Little Endian (refused by the app: "which this app does not read")
    is inflated in the worker by the browser's DecompressionStream: the head measures to
    predict's HC on the same file and the golden's mask, the stream odd (pydicom's pad byte) or
    even or followed by other bytes (zlib, so predict, reads past them; Chromium refuses them)."""
    from hc_tf.surfaces import predict
    s = _sample(golden, NAME)
    files = _deflated_heads(tmp_path, s)
    want = predict.predict_files(os.path.join(BUNDLE, golden["model"]), list(files.values()),
                                 str(tmp_path / "p")).records
    for (name, path), rec in zip(files.items(), want):
        page.set_input_files("#file", path)
        hc = _found(page, name)
        assert rec["found"] and abs(hc - rec["hc_mm"]) <= 1e-9 and abs(hc - s["hc_mm"]) <= TOL_MM, (name, hc, rec["hc_mm"])
        assert page.get_attribute("#result", "data-mask-sha256") == s["mask_sha256"], name
        assert page.get_attribute("#px-source", "data-source") == "dicom_us_region"


def test_deflated_files_past_the_bundles_byte_limit_are_refused_as_predict_refuses_them(
        browser, server, golden, tmp_path, monkeypatch):  # noqa: F811
    """The app's byte limit is the bundle metadata's input_limits.max_input_bytes (served here
    at 1,000,000, HC_TF_MAX_INPUT_BYTES for predict): a deflate bomb (4 MB of zeros, a 20 kB
    file) is refused in dicom._inflate's words, a damaged stream in words naming the file, and
    a deflated head within the limit measures as predict measures it."""
    import json
    from pydicom.uid import DeflatedExplicitVRLittleEndian
    from hc_tf.io import dicom
    from hc_tf.surfaces import predict
    from web_app_ui_test import _wait_ready
    limit = 1_000_000
    monkeypatch.setenv("HC_TF_MAX_INPUT_BYTES", str(limit))
    s = _sample(golden, NAME)
    head = _deflated_heads(tmp_path, s)["head_dfl_pad0.dcm"]
    ds, bomb = _wrapped(tmp_path, s, name="bomb.dcm")
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.add_new(0x00090010, "LO", "HCTF TEST")
    ds.add_new(0x00091010, "OB", bytes(4_000_000))
    dicom_files.save(ds, bomb)
    data = open(head, "rb").read()
    corrupt = str(tmp_path / "corrupt.dcm")
    start = 144 + pydicom.filereader.read_file_meta_info(head).FileMetaInformationGroupLength
    open(corrupt, "wb").write(data[:start] + b"\xff" + data[start + 1:])
    assert os.path.getsize(bomb) < limit and os.path.getsize(head) < limit
    with open(os.path.join(BUNDLE, "hc_effunet_int8.json"), encoding="utf-8") as f:
        meta = json.load(f)
    meta["input_limits"]["max_input_bytes"] = limit
    context = browser.new_context(accept_downloads=True)
    try:
        page, errors = context.new_page(), []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route("**/assets/hc_effunet_int8.json", lambda r: r.fulfill(
            status=200, content_type="application/json", body=json.dumps(meta)))
        page.goto(server["url"] + "?sw=0", wait_until="load", timeout=60_000)
        _wait_ready(page)
        with pytest.raises(dicom.DicomError) as err:
            dicom.read_header(bomb)
        page.set_input_files("#file", bomb)
        page.wait_for_selector("#message:has-text('bomb.dcm:')", timeout=60_000)
        assert page.get_attribute("#result", "data-state") == "error"
        # predict names the environment variable that sets its limit; the app's is the bundle's
        assert page.inner_text("#message") == str(err.value).replace(bomb, "bomb.dcm").replace(" (HC_TF_MAX_INPUT_BYTES)", "")
        assert "inflates past the 1000000-byte input limit" in page.inner_text("#message")
        with pytest.raises(dicom.DicomError, match="invalid block type"):
            dicom.read_header(corrupt)
        page.set_input_files("#file", corrupt)
        page.wait_for_selector("#message:has-text('corrupt.dcm:')", timeout=60_000)
        assert page.get_attribute("#result", "data-state") == "error"
        text = page.inner_text("#message")
        assert text.startswith("corrupt.dcm: not a readable DICOM file (deflated dataset: ") and "invalid block type" in text, text
        [want] = predict.predict_files(os.path.join(BUNDLE, golden["model"]), [head], str(tmp_path / "p")).records
        page.set_input_files("#file", head)
        assert abs(_found(page, "head_dfl_pad0.dcm") - want["hc_mm"]) <= 1e-9
        assert not errors, errors
    finally:
        context.close()


def _jpeg_head(golden, tmp_path, name, colour):  # noqa: F811
    """A bundled head as a JPEG Baseline DICOM (YBR_FULL_422 colour, or MONOCHROME2 gray) with
    its pixel size as the region's, and what `hc-tf predict` measures on that file."""
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit
    from hc_tf.surfaces import predict
    s = _sample(golden, NAME)
    gray = cv2.imread(os.path.join(BUNDLE, "samples", NAME), cv2.IMREAD_GRAYSCALE)
    h, w = gray.shape
    if colour:
        ds = dicom_files.jpeg_baseline_dataset(dicom_files.tinted(gray), (0, 0, w - 1, h - 1),
                                               s["pixel_size_mm"])
    else:
        ok, jpg = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, 95])
        ds = dicom_files.dataset([gray], regions=[dicom_files.region((0, 0, w - 1, h - 1), s["pixel_size_mm"])])
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds.PixelData = encapsulate([jpg.tobytes()])
        ds["PixelData"].VR = "OB"
    path = dicom_files.save(ds, str(tmp_path / name))
    want = predict.predict_files(os.path.join(BUNDLE, golden["model"]), [path], str(tmp_path / f"p_{name}"),
                                 frame=1).records[0]
    return path, want


@pytest.mark.parametrize("colour", [False, True], ids=["gray", "ybr_422"])
def test_jpeg_baseline_head_measures_as_predict(page, golden, tmp_path, colour):  # noqa: F811
    """JPEG Baseline, what most scanners export: the app's worker decodes it with libjpeg-turbo's
    wasm build, predict with simplejpeg's libjpeg-turbo, so the HC is predict's (it was only close
    while the app used the browser's decoder and predict pydicom's libjpeg)."""
    path, want = _jpeg_head(golden, tmp_path, "head_jpeg.dcm", colour)
    page.set_input_files("#file", path)
    hc = _found(page, "head_jpeg.dcm")
    assert want["found"] and abs(hc - want["hc_mm"]) <= 1e-9, (hc, want["hc_mm"])
    print(f"JPEG {'YBR_422' if colour else 'gray'}: app {hc:.3f} mm, predict {want['hc_mm']:.3f} mm")


@pytest.mark.parametrize("photometric", ["YBR_FULL", "YBR_FULL_422"])
def test_stored_ybr_head_measures_as_predict(page, golden, tmp_path, photometric):  # noqa: F811
    """A head stored as uncompressed YBR (the app refused it: "measure it with hc-tf predict") is
    measured as predict measures it, both converting by DICOM's equations."""
    from pydicom.pixels import convert_color_space
    from hc_tf.surfaces import predict
    s = _sample(golden, NAME)
    gray = cv2.imread(os.path.join(BUNDLE, "samples", NAME), cv2.IMREAD_GRAYSCALE)
    h, w = gray.shape
    ybr = convert_color_space(cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB), "RGB", "YBR_FULL")
    ds = dicom_files.dataset([ybr], photometric=photometric,
                             regions=[dicom_files.region((0, 0, w - 1, h - 1), s["pixel_size_mm"])])
    if photometric == "YBR_FULL_422":
        ds.PixelData = _ybr422(ybr)
    path = dicom_files.save(ds, str(tmp_path / "head_ybr.dcm"))
    want = predict.predict_files(os.path.join(BUNDLE, golden["model"]), [path], str(tmp_path / "p")).records[0]
    page.set_input_files("#file", path)
    hc = _found(page, "head_ybr.dcm")
    assert want["found"] and abs(hc - want["hc_mm"]) <= 1e-9, (hc, want["hc_mm"])


def test_a_jpeg_frame_of_another_size_is_refused_before_decoding(page, golden, tmp_path):  # noqa: F811
    """A JPEG frame header claiming another size than Rows x Columns (a decoder allocates what it
    says) is refused before decoding, as hc_tf.io.dicom_codestream refuses it."""
    import pydicom
    from hc_tf.io import dicom, dicom_frames
    path, _ = _jpeg_head(golden, tmp_path, "head_jpeg.dcm", False)
    ds = pydicom.dcmread(path)
    ds.Rows, ds.Columns = ds.Rows // 2, ds.Columns // 2
    bad = str(tmp_path / "lying.dcm")
    ds.save_as(bad, enforce_file_format=True)
    with pytest.raises(dicom.DicomError, match="refused before decoding"):
        list(dicom_frames.iter_frames(bad, frame=1))
    page.set_input_files("#file", bad)
    page.wait_for_selector("#message:has-text('refused before decoding')", timeout=60_000)
    assert page.inner_text("#message").startswith("lying.dcm: the codestream is ")
    assert page.get_attribute("#result", "data-state") == "error"


_DECODE_JS = """
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { readDicomHeader } from './src/core/dicom/deflated.js';
import { decodeFrame } from './src/core/dicom/frames.js';
const parser = createRequire(import.meta.url)('dicom-parser');
const req = createRequire(import.meta.url);
const quiet = { print: () => {}, printErr: () => {} };
const codecs = { jpegLossless: req('jpeg-lossless-decoder-js'),
  charls: await req('@cornerstonejs/codec-charls/decodewasmjs')(quiet),
  openjpeg: await req('@cornerstonejs/codec-openjpeg/decodewasmjs')(quiet),
  libjpegTurbo: await req('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs')(quiet) };
const limits = JSON.parse(readFileSync('../android_demo_assets/hc_effunet_int8.json', 'utf8')).input_limits;
if (process.env.MAX_INPUT_BYTES) limits.max_input_bytes = Number(process.env.MAX_INPUT_BYTES);  // a test's own
for (const arg of process.argv.slice(1)) {  // PATH, or PATH@FRAME
  const [f, frame] = arg.includes('@') ? [arg.slice(0, arg.lastIndexOf('@')), Number(arg.slice(arg.lastIndexOf('@') + 1))] : [arg, 1];
  try {
    const h = await readDicomHeader(parser, new Uint8Array(readFileSync(f)), f, limits);
    console.log(`${h.frames} ${createHash('sha256').update(decodeFrame(h, frame, codecs)).digest('hex')}`);
  } catch (err) { console.log(`error: ${err.message}`); }
}
"""


def _js_decode(args, script=None, max_input_bytes=None):
    """The app's DICOM reader in Node on each of `args` (PATH or PATH@FRAME): its output line
    each ("FRAMES SHA256" of the gray, or "error: MESSAGE"; `script`: another reader's snippet;
    `max_input_bytes`: the byte limit, else the bundle metadata's). Skips without node or
    `npm ci`."""
    import shutil
    import subprocess
    node = shutil.which("node")
    web = os.path.join(os.path.dirname(BUNDLE), "web_app")
    if node is None or not os.path.isdir(os.path.join(web, "node_modules", "@cornerstonejs")):
        pytest.skip("node or web_app/node_modules (npm ci) missing")
    env = {**os.environ, **({"MAX_INPUT_BYTES": str(max_input_bytes)} if max_input_bytes else {})}
    res = subprocess.run([node, *NODE_FLAGS, "--input-type=module", "-e", script or _DECODE_JS, *args],
                         cwd=web, capture_output=True, text=True, timeout=120, check=True, env=env)
    return res.stdout.split("\n")[:len(args)]


def _saved(tmp_path, datasets):
    """name -> path of each dataset saved as tmp_path/<name>.dcm."""
    files = {}
    for name, ds in datasets.items():
        files[name] = str(tmp_path / f"{name}.dcm")
        ds.save_as(files[name], enforce_file_format=True)
    return files


def _ybr422(ybr):
    """A YBR_FULL frame stored as YBR_FULL_422: each pair of pixels (in row order, across rows
    when the width is odd) as Y1 Y2 and the first pixel's Cb Cr."""
    import numpy as np
    flat = ybr.reshape(-1, 3)
    first, second = flat[0::2], flat[1::2]
    return np.stack([first[:, 0], second[:, 0], first[:, 1], first[:, 2]], 1).tobytes()


def _dicom_variants(tmp_path):
    """name -> path: gray both ways, RGB interleaved and planar, big endian, an implicit-VR cine,
    the pydicom palette, deflated ones."""
    import numpy as np
    from pydicom import examples
    from pydicom.uid import (DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian,
                             ImplicitVRLittleEndian, RLELossless)
    gray = cv2.imread(os.path.join(BUNDLE, "samples", NAME), cv2.IMREAD_GRAYSCALE)[:120, :160]
    rgb = np.stack([gray, 255 - gray, (gray // 2 + 60).astype(np.uint8)], axis=2)
    out = {}

    def save(name, ds, ts=None):
        if ts is not None:
            ds.file_meta.TransferSyntaxUID = ts
        out[name] = str(tmp_path / name)
        ds.save_as(out[name], enforce_file_format=True)

    save("mono2.dcm", dicom_files.dataset([gray]))
    save("mono1.dcm", dicom_files.dataset([gray], photometric="MONOCHROME1"))
    save("implicit.dcm", dicom_files.dataset([gray]), ImplicitVRLittleEndian)
    # NumberOfFrames (IS) "2 " in implicit VR: text, not the two bytes 0x2032.
    save("implicit_cine.dcm", dicom_files.dataset([gray, 255 - gray]), ImplicitVRLittleEndian)
    save("bigendian.dcm", dicom_files.dataset([gray]), ExplicitVRBigEndian)
    save("rgb.dcm", dicom_files.dataset([rgb], photometric="RGB"))
    planar = dicom_files.dataset([rgb], photometric="RGB")
    planar.PlanarConfiguration = 1
    planar.PixelData = np.ascontiguousarray(rgb.transpose(2, 0, 1)).tobytes()
    save("rgb_planar.dcm", planar)
    out["palette.dcm"] = examples.get_path("palette_color")
    # Stored YBR samples (both sides convert them by DICOM's equations, dicom_frames.ybr_full_to_rgb):
    # YBR_FULL, YBR_FULL_422 (Y1 Y2 Cb Cr for two pixels) in one and two frames and at an odd width,
    # RLE YBR_FULL, and pydicom-data's two uncompressed files.
    from pydicom.data import get_testdata_file
    from pydicom.pixels import convert_color_space
    ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
    save("ybr_full.dcm", dicom_files.dataset([ybr], photometric="YBR_FULL"))
    for name, frames in (("ybr_422.dcm", [ybr]), ("ybr_422_cine.dcm", [ybr, ybr[::-1].copy()]),
                         ("ybr_422_odd.dcm", [ybr[:, :-1].copy()])):
        ds = dicom_files.dataset(frames, photometric="YBR_FULL_422")
        ds.PixelData = b"".join(_ybr422(f) for f in frames)
        save(name, ds)
    rle_ybr = dicom_files.dataset([ybr], photometric="YBR_FULL")
    rle_ybr.compress(RLELossless)
    save("rle_ybr_full.dcm", rle_ybr)
    for name in ("SC_ybr_full_uncompressed.dcm", "SC_ybr_full_422_uncompressed.dcm"):
        out[name] = get_testdata_file(name)
    # Deflated Explicit VR Little Endian (the app inflates the data set first): gray, RGB, a
    # cine, YBR_FULL_422, the palette, and pydicom-data's file.
    ybr422 = dicom_files.dataset([ybr], photometric="YBR_FULL_422")
    ybr422.PixelData = _ybr422(ybr)
    for name, ds in (("dfl_mono2.dcm", dicom_files.dataset([gray])),
                     ("dfl_rgb.dcm", dicom_files.dataset([rgb], photometric="RGB")),
                     ("dfl_cine.dcm", dicom_files.dataset([gray, 255 - gray])),
                     ("dfl_ybr_422.dcm", ybr422), ("dfl_palette.dcm", examples.palette_color)):
        save(name, ds, DeflatedExplicitVRLittleEndian)
    out["image_dfl.dcm"] = get_testdata_file("image_dfl.dcm")
    # RLE Lossless (the app decodes it): gray, MONOCHROME1, RGB (one segment a colour), a cine
    # (frame 1 is the first fragment), 16-bit samples (two segments each), the palette.
    for name, ds in (("rle_mono2.dcm", dicom_files.dataset([gray])),
                     ("rle_mono1.dcm", dicom_files.dataset([gray], photometric="MONOCHROME1")),
                     ("rle_rgb.dcm", dicom_files.dataset([rgb], photometric="RGB")),
                     ("rle_cine.dcm", dicom_files.dataset([255 - gray, gray])),
                     ("rle_palette.dcm", examples.palette_color)):
        ds.compress(RLELossless)
        save(name, ds)
    # A Philips scanner's own files (pydicom-data, the [test] extra): palette colour, 1 and 2
    # frames, RLE, and big endian (8-bit samples in OW words, each word's bytes swapped).
    from pydicom.data import get_testdata_file
    for name in ("OBXXXX1A_rle.dcm", "OBXXXX1A_rle_2frame.dcm", "OBXXXX1A_expb.dcm",
                 "OBXXXX1A_expb_2frame.dcm"):
        out[name] = get_testdata_file(name)
    # 16-bit samples holding 8-bit values: two segments, the high bytes' first.
    save("rle_16bit.dcm", _rle_frame(gray, [_literal(bytes(gray.size)), _literal(gray.tobytes())],
                                     bits=16))
    # JPEG Lossless (the app decodes it with jpeg-lossless-decoder-js): a scanner's file from
    # pydicom-data, and ours encoded by dcmtk (SV1 and Process 14 with predictor 6).
    out["JPGLosslessP14SV1_1s_1f_8b.dcm"] = get_testdata_file("JPGLosslessP14SV1_1s_1f_8b.dcm")
    out.update(_jpeg_lossless(tmp_path, out))
    # JPEG-LS and JPEG 2000 (cornerstone's CharLS and OpenJPEG wasm builds): lossless and lossy,
    # gray, RGB (sample- and plane-interleaved JPEG-LS), a cine.
    from pydicom.uid import JPEG2000, JPEG2000Lossless, JPEGLSLossless, JPEGLSNearLossless
    for name, ds, syntax, kw in (
            ("ls_mono2.dcm", dicom_files.dataset([gray]), JPEGLSLossless, {}),
            ("ls_mono1.dcm", dicom_files.dataset([gray], photometric="MONOCHROME1"), JPEGLSLossless, {}),
            ("ls_rgb.dcm", dicom_files.dataset([rgb], photometric="RGB"), JPEGLSLossless, {}),
            ("ls_rgb_planes.dcm", dicom_files.dataset([rgb], photometric="RGB"), JPEGLSLossless,
             {"interleave_mode": 0}),
            ("ls_cine.dcm", dicom_files.dataset([gray, 255 - gray]), JPEGLSLossless, {}),
            ("ls_near.dcm", dicom_files.dataset([gray]), JPEGLSNearLossless, {"jls_error": 3}),
            ("j2k_mono2.dcm", dicom_files.dataset([gray]), JPEG2000Lossless, {}),
            ("j2k_rgb.dcm", dicom_files.dataset([rgb], photometric="RGB"), JPEG2000Lossless, {}),
            ("j2k_cine.dcm", dicom_files.dataset([255 - gray, gray]), JPEG2000Lossless, {}),
            ("j2k_lossy.dcm", dicom_files.dataset([gray]), JPEG2000, {"j2k_cr": [20]}),
            # Colour JPEG 2000 as PACS store it: the component transform in the codestream and
            # PhotometricInterpretation YBR_RCT (lossless) or YBR_ICT (lossy), decoded to RGB.
            ("j2k_rct.dcm", dicom_files.dataset([rgb], photometric="RGB"), JPEG2000Lossless, {}),
            ("j2k_ict.dcm", dicom_files.dataset([rgb], photometric="RGB"), JPEG2000, {"j2k_cr": [10]})):
        ds.compress(syntax, **kw)
        if name in ("j2k_rct.dcm", "j2k_ict.dcm"):  # the encoder's component transform, named
            ds.PhotometricInterpretation = "YBR_RCT" if syntax == JPEG2000Lossless else "YBR_ICT"
        save(name, ds)
    for name in ("US1_J2KR.dcm", "US1_J2KI.dcm"):  # an ultrasound frame, both ways (pydicom-data)
        out[name] = get_testdata_file(name)
    # Segmented palettes (PS3.3 C.7.9): an Aloka scanner's, both byte orders, and ours with
    # 8- and 16-bit words and an indirect segment.
    for name in ("gdcm-US-ALOKA-16.dcm", "gdcm-US-ALOKA-16_big.dcm"):
        out[name] = get_testdata_file(name)
    plain8 = dicom_files.dataset([gray], photometric="PALETTE COLOR")  # a plain table of 8-bit entries
    for i, colour in enumerate(("Red", "Green", "Blue")):
        setattr(plain8, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 8])
        setattr(plain8, f"{colour}PaletteColorLookupTableData", bytes((v * (i + 1)) % 256 for v in range(256)))
    save("palette8.dcm", plain8)
    save("palette8_be.dcm", plain8, ExplicitVRBigEndian)  # 8-bit entries have no byte order
    for bits in (8, 16):
        for big in (False, True):
            save(f"segmented{bits}_{'be' if big else 'le'}.dcm", dicom_files.segmented_palette_dataset(
                gray, dicom_files.segmented_palette_words(bits, big), bits, big))
    from pydicom.encaps import encapsulate, get_frame
    from pydicom.uid import JPEGExtended12Bit
    # JPEG Baseline (libjpeg-turbo on both sides): gray both ways, YBR_FULL_422 (OpenCV's 4:2:2)
    # and YBR_FULL (4:4:4), a cine, and scanner and dcmtk files from pydicom-data.
    save("jpeg_mono2.dcm", _jpeg_baseline([gray], "MONOCHROME2"))
    save("jpeg_mono1.dcm", _jpeg_baseline([gray], "MONOCHROME1"))
    save("jpeg_ybr422.dcm", dicom_files.jpeg_baseline_dataset(rgb, (0, 0, 159, 119), 0.2))
    save("jpeg_ybr422_cine.dcm", _jpeg_baseline([rgb, rgb[::-1].copy()], "YBR_FULL_422"))
    save("jpeg_ybr444.dcm", _jpeg_baseline([rgb], "YBR_FULL", cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444))
    # JPEG Extended (.4.51) at 8 bits: the same streams under an SOF1 frame header (a baseline
    # stream is a valid extended sequential one).
    for name, photometric, frame in (("jpeg_ext_mono2.dcm", "MONOCHROME2", gray),
                                     ("jpeg_ext_ybr422.dcm", "YBR_FULL_422", rgb)):
        ds = _jpeg_baseline([frame], photometric)
        ds.file_meta.TransferSyntaxUID = JPEGExtended12Bit
        ds.PixelData = encapsulate([get_frame(ds.PixelData, 0, number_of_frames=1).replace(b"\xff\xc0", b"\xff\xc1", 1)])
        save(name, ds)
    for name in ("color3d_jpeg_baseline.dcm", "SC_rgb_jpeg_dcmtk.dcm", "SC_rgb_dcmtk_+eb+cy+np.dcm"):
        out[name.replace("color3d", "cine_color3d")] = get_testdata_file(name)
    return out


def _jpeg_baseline(frames, photometric, sampling=cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422):
    """A JPEG Baseline file of `frames` (gray, or RGB coded by OpenCV as YCbCr, 4:2:2 unless
    `sampling` says otherwise), one fragment a frame."""
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit
    params = [cv2.IMWRITE_JPEG_QUALITY, 90, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, sampling]
    ds = dicom_files.dataset(frames, photometric=photometric)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([cv2.imencode(".jpg", f if f.ndim == 2 else f[:, :, ::-1], params)[1].tobytes()
                                for f in frames])
    ds["PixelData"].VR = "OB"
    return ds


def _jpeg_lossless(tmp_path, plain):
    """jl_<name> (SV1) and jl6_mono2.dcm (selection value 6) of the uncompressed variants, by
    dcmtk's dcmcjpeg; none without it (the CI installs it)."""
    import shutil
    import subprocess
    if shutil.which("dcmcjpeg") is None:
        return {}
    out = {}
    for name, opts in (("mono2.dcm", ["+e1"]), ("mono1.dcm", ["+e1"]), ("rgb.dcm", ["+e1"]),
                       ("implicit_cine.dcm", ["+e1"]), ("mono2.dcm", ["+el", "+sv", "6"])):
        target = str(tmp_path / f"jl{'6' if '+el' in opts else ''}_{name}")
        subprocess.run(["dcmcjpeg", *opts, plain[name], target], check=True, capture_output=True,
                       timeout=60)
        out[os.path.basename(target)] = target
    return out


def _rle_frame(gray, segments=None, header=None, bits=8):
    """An RLE Lossless file of `gray` (in `bits`-bit samples) whose one fragment is `header` +
    `segments` (bytes each), or the encoder's own fragment when they are None."""
    from pydicom.encaps import encapsulate
    from pydicom.uid import RLELossless
    ds = dicom_files.dataset([gray])
    ds.compress(RLELossless)
    ds.BitsAllocated = bits
    if segments is not None:
        table = [64 + sum(len(x) for x in segments[:i]) for i in range(len(segments))]
        head = header if header is not None else struct.pack("<16I", len(segments), *table,
                                                              *[0] * (15 - len(table)))
        ds.PixelData = encapsulate([head + b"".join(segments)])
    return ds


def test_js_converts_every_ybr_colour_as_the_python():
    """All 2^24 YBR_FULL colours to RGB: the app's ybrFullToRgb gives dicom_frames.ybr_full_to_rgb's
    bytes (IEEE float64, the same operations in the same order); pydicom's own conversion (float32
    through BLAS) differs from both in a few dozen."""
    import hashlib
    import numpy as np
    from pydicom.pixels import convert_color_space
    from hc_tf.io import dicom_frames
    every = np.stack(np.meshgrid(*[np.arange(256, dtype=np.uint8)] * 3, indexing="ij"), -1).reshape(-1, 3)
    rgb = dicom_frames.ybr_full_to_rgb(every)
    differ = int((rgb != convert_color_space(every.reshape(4096, 4096, 3), "YBR_FULL", "RGB").reshape(-1, 3)).any(1).sum())
    assert differ < 1000, differ  # one level apart at most, where BLAS rounds otherwise
    script = ("import { createHash } from 'node:crypto';\n"
              "import { ybrFullToRgb } from './src/core/dicom/frames.js';\n"
              "const every = new Uint8Array(3 * 2 ** 24);\n"
              "for (let i = 0; i < 2 ** 24; i++) { every[3 * i] = i >> 16; every[3 * i + 1] = i >> 8; every[3 * i + 2] = i; }\n"
              "console.log(createHash('sha256').update(ybrFullToRgb(every)).digest('hex'));\n")
    [got] = _js_decode(["all"], script)
    assert got == hashlib.sha256(rgb.tobytes()).hexdigest()


def test_js_decodes_dicom_pixels_as_the_python(tmp_path):
    """Every pixel layout the app reads gives Python's gray (hc_tf.io.dicom_frames) byte for byte,
    and its frame count."""
    import hashlib
    from hc_tf.io import dicom_frames
    variants = {n: str(p) for n, p in _dicom_variants(tmp_path).items()}
    # Frame 2 of each cine too (the app measures the frame the user picks), and a frame too many.
    files = {**variants, **{f"{n}@2": f"{p}@2" for n, p in variants.items() if "cine" in n or "2frame" in n}}
    files["rle_cine.dcm@3"] = f"{variants['rle_cine.dcm']}@3"
    got = dict(zip(files, _js_decode(list(files.values()))))
    assert len(files) >= 40 and got["rle_cine.dcm@3"].endswith("no frame 3 (NumberOfFrames (0028,0008) is 2)")
    del files["rle_cine.dcm@3"]
    for name, arg in files.items():
        path, _, frame = arg.partition("@")
        (header, _, gray), = dicom_frames.iter_frames(path, frame=int(frame or 1))
        assert got[name] == f"{header.frames} {hashlib.sha256(gray.tobytes()).hexdigest()}", (name, got[name])


def _literal(data):
    """An RLE segment copying `data` literally (runs of at most 128 bytes)."""
    return b"".join(bytes([len(data[i:i + 128]) - 1]) + data[i:i + 128] for i in range(0, len(data), 128))


def test_js_reads_and_refuses_rle_frames_as_the_python(tmp_path):
    """Damaged RLE: the app refuses what hc_tf.io.dicom_frames refuses (an unreadable segment
    table, the wrong number of segments, a segment that would expand past twice a plane, one that
    holds too few bytes) and reads what it reads (a padded segment) to the same gray."""
    import hashlib
    import numpy as np
    from hc_tf.io import dicom, dicom_frames
    gray = cv2.imread(os.path.join(BUNDLE, "samples", NAME), cv2.IMREAD_GRAYSCALE)[:60, :80].copy()
    plane = gray.tobytes()
    bomb = b"\x81\x00" * (2 * len(plane) // 128 + 2)  # 2 bytes a run of 128
    cases = {"ok_padded": _rle_frame(gray, [_literal(plane + b"\x00")]),
             "bad_no_table": _rle_frame(gray, [_literal(plane)], header=bytes(64)),
             "bad_two_segments": _rle_frame(gray, [_literal(plane), _literal(plane)]),
             "bad_bomb": _rle_frame(gray, [bomb]),
             "bad_short": _rle_frame(gray, [_literal(plane[:-10])])}
    # One frame in two fragments (allowed for a single frame): joined, as pydicom's get_frame does.
    from pydicom.encaps import encapsulate, get_frame
    two = _rle_frame(gray)
    two.PixelData = encapsulate([get_frame(two.PixelData, 0, number_of_frames=1)], fragments_per_frame=2)
    cases["ok_two_fragments"] = two
    files = _saved(tmp_path, cases)
    got = dict(zip(files, _js_decode(list(files.values()))))
    for name, path in files.items():
        if name.startswith("ok"):
            (_, _, py_gray), = dicom_frames.iter_frames(path, frame=1)
            assert np.array_equal(py_gray, gray)
            assert got[name] == f"1 {hashlib.sha256(py_gray.tobytes()).hexdigest()}", (name, got[name])
        else:
            with pytest.raises(dicom.DicomError):
                list(dicom_frames.iter_frames(path, frame=1))
            assert got[name].startswith(f"error: {path}: "), (name, got[name])


def test_js_refuses_pixel_data_the_file_cuts_short_as_the_python(tmp_path):
    """A file cut short inside its pixel data (uncompressed, or inside an RLE or JPEG fragment):
    the app read what was missing as zeros and measured it (a fuzzed copy of pydicom's
    SC_rgb_jpeg_dcmd.dcm, cut at 63%); now it refuses, as hc_tf.io.dicom_frames does."""
    from hc_tf.io import dicom_frames
    gray = cv2.imread(os.path.join(BUNDLE, "samples", NAME), cv2.IMREAD_GRAYSCALE)[:120, :160].copy()
    from pydicom.uid import ImplicitVRLittleEndian
    implicit = dicom_files.dataset([gray])
    implicit.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    whole = _saved(tmp_path, {"native": dicom_files.dataset([gray]), "native_implicit": implicit,
                              "rle": _rle_frame(gray), "jpeg": _jpeg_baseline([gray], "MONOCHROME2")})
    files = {}
    for name, path in whole.items():
        data = open(path, "rb").read()
        files[name] = str(tmp_path / f"cut_{name}.dcm")
        open(files[name], "wb").write(data[:len(data) - 400])  # the pixel data's last 400 bytes
    got = dict(zip(files, _js_decode(list(files.values()))))
    for name, path in files.items():
        with pytest.raises(ValueError):
            list(dicom_frames.iter_frames(path, frame=1))
        assert got[name].startswith(f"error: {path}: "), (name, got[name])


def test_js_refuses_jpeg_ls_and_jpeg_2000_frames_as_the_python(tmp_path):
    """A JPEG-LS or JPEG 2000 frame whose codestream says another size than the header (or sets
    it where it cannot be checked: an LSE oversize segment, no SIZ) is refused before decoding,
    in the words hc_tf.io.dicom_codestream uses; damaged data is refused, never a crash."""
    from pydicom.encaps import encapsulate, get_frame
    from pydicom.uid import JPEG2000Lossless, JPEGLSLossless
    from hc_tf.io import dicom, dicom_frames
    gray = cv2.imread(os.path.join(BUNDLE, "samples", NAME), cv2.IMREAD_GRAYSCALE)[:60, :80].copy()

    def coded(syntax, change=None, rows=None):
        ds = dicom_files.dataset([gray])
        ds.compress(syntax)
        if change:
            ds.PixelData = encapsulate([change(get_frame(ds.PixelData, 0, number_of_frames=1))])
        if rows:
            ds.Rows = rows
        return ds

    lse_oversize = b"\xff\xf8\x00\x0d\x04\x02" + bytes(8)  # LSE id 4: a size set after the SOF
    cases = {"ls_rows": coded(JPEGLSLossless, rows=30),
             "ls_oversize": coded(JPEGLSLossless, lambda f: f[:2] + lse_oversize + f[2:]),
             "ls_no_sof": coded(JPEGLSLossless, lambda f: b"\xff\xd8\xff\xd9"),
             "j2k_rows": coded(JPEG2000Lossless, rows=30),
             "j2k_no_siz": coded(JPEG2000Lossless, lambda f: f[:2] + b"\xff\x52" + f[4:])}
    damaged = {"ls_damaged": coded(JPEGLSLossless, lambda f: f[:60] + bytes(len(f) - 60)),
               "j2k_damaged": coded(JPEG2000Lossless, lambda f: f[:len(f) // 3])}
    files = _saved(tmp_path, {**cases, **damaged})
    got = dict(zip(files, _js_decode(list(files.values()))))
    for name in cases:
        with pytest.raises(dicom.DicomError) as err:
            list(dicom_frames.iter_frames(files[name], frame=1))
        assert got[name] == f"error: {err.value}", (name, got[name], str(err.value))
    for name in damaged:  # a refusal naming the file, or pixels: never a crash or a hang
        assert got[name].startswith(f"error: {files[name]}: ") or got[name].startswith("1 "), got[name]


def test_js_reads_damaged_jpeg_baseline_frames_as_the_python(tmp_path):
    """A damaged JPEG Baseline frame: cut short (half of it, or only its EOI marker missing) or
    with bytes where a marker should be, both sides refuse, never gray filler measured
    (pydicom's libjpeg, predict's decoder before libjpeg-turbo, filled a half frame silently;
    Pillow's libjpeg-turbo measured through libjpeg-turbo's warnings); a byte before EOI left
    unread, or a flipped byte after which the decoding ends that early, refused in the same
    words; another flipped byte (a decoder reads on) gives the same pixels on both sides; bytes
    after EOI are ignored alike."""
    import hashlib
    from pydicom.encaps import encapsulate, get_frame
    from hc_tf.io import dicom, dicom_frames, jpeg_check
    gray = cv2.imread(os.path.join(BUNDLE, "samples", NAME), cv2.IMREAD_GRAYSCALE)

    def damaged(change, photometric="MONOCHROME2"):
        frame = gray if photometric.startswith("MONO") else cv2.merge([gray, gray // 2, 255 - gray])
        ds = _jpeg_baseline([frame], photometric)
        ds.PixelData = encapsulate([change(get_frame(ds.PixelData, 0, number_of_frames=1))])
        return ds

    refused = {"cut_half": damaged(lambda f: f[:len(f) // 2]),
               "cut_eoi": damaged(lambda f: f[:-2]),
               # libjpeg-turbo warns "3 extraneous bytes before marker 0xd9" (Pillow measured it)
               "junk_before_eoi": damaged(lambda f: f[:-2] + bytes(3) + f[-2:]),
               "cut_ybr": damaged(lambda f: f[:len(f) // 3], "YBR_FULL_422")}
    # a byte before EOI that decoding never reaches: libjpeg-turbo warns only as it finishes,
    # which simplejpeg does not hear; both decode it again without it (jpeg_check.unread_end)
    def before_eoi(f):  # a fragment is padded to even length after its EOI
        eoi = f.rindex(b"\xff\xd9")
        return f[:eoi] + b"\x12" + f[eoi:]
    # (this flipped byte makes the decoding end that early: both had read it on, alike)
    unread = {"unread_end": damaged(before_eoi), "unread_end_ybr": damaged(before_eoi, "YBR_FULL_422"),
              "flipped": damaged(lambda f: f[:1000] + bytes([f[1000] ^ 0xFF]) + f[1001:])}
    read = {"flipped_ybr": damaged(lambda f: f[:3000] + bytes([f[3000] ^ 0x55]) + f[3001:], "YBR_FULL_422"),
            "after_eoi": damaged(lambda f: f + b"\x12\x34")}
    files = _saved(tmp_path, {**refused, **unread, **read})
    got = dict(zip(files, _js_decode(list(files.values()))))
    for name in refused:
        with pytest.raises(dicom.DicomError, match="pixel data cannot be decoded"):
            list(dicom_frames.iter_frames(files[name], frame=1))
        assert got[name] == f"error: {files[name]}: pixel data cannot be decoded (the JPEG codestream is damaged)", got[name]
    for name in unread:
        with pytest.raises(dicom.DicomError) as python:
            list(dicom_frames.iter_frames(files[name], frame=1))
        assert str(python.value) == (f"{files[name]}: pixel data cannot be decoded "
                                     f"(the JPEG data is corrupt: {jpeg_check.UNREAD_END})")
        assert got[name] == f"error: {python.value}", got[name]
    for name in read:
        (_, _, py_gray), = dicom_frames.iter_frames(files[name], frame=1)
        assert got[name] == f"1 {hashlib.sha256(py_gray.tobytes()).hexdigest()}", (name, got[name])


def test_js_refuses_damaged_jpeg_lossless_scans_as_the_python(tmp_path):
    """A JPEG Lossless frame whose coded data holds a Huffman code its table does not, or whose
    scan runs into its EOI marker before its last sample (one byte changed in each, or the scan
    cut short), is refused by predict and by the app alike in the same words
    (jpeg-lossless-decoder-js read on through each, and predict's libjpeg through the scan cut
    short, filling the rest: fuzzed copies); the frame undamaged reads the same pixels."""
    import hashlib
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.encaps import encapsulate, get_frame
    from hc_tf.io import dicom, dicom_frames
    source = get_testdata_file("SC_rgb_jpeg_gdcm.dcm")  # JPEG Lossless SV1, 100 x 100 RGB

    def damaged(change):
        ds = pydicom.dcmread(source)
        ds.PixelData = encapsulate([change(get_frame(ds.PixelData, 0, number_of_frames=1))])
        return ds

    def byte(at, value):
        return damaged(lambda frame: frame[:at] + bytes([value]) + frame[at + 1:])

    marker = "a marker stands where a sample is still to come"
    refused = {"invalid_code": (byte(1448, 0x0F), "a Huffman code its table does not hold"),
               "runs_into_eoi": (byte(1025, 0x71), marker),
               "cut_short": (damaged(lambda frame: frame[:len(frame) * 6 // 10] + b"\xff\xd9"),
                             marker)}
    files = _saved(tmp_path, {**{k: ds for k, (ds, _) in refused.items()},
                              "undamaged": pydicom.dcmread(source)})
    got = dict(zip(files, _js_decode(list(files.values()))))
    for name, (_, words) in refused.items():
        with pytest.raises(dicom.DicomError, match="pixel data cannot be decoded") as python:
            list(dicom_frames.iter_frames(files[name], frame=1))
        assert got[name] == (f"error: {files[name]}: pixel data cannot be decoded (the JPEG "
                             f"Lossless codestream is damaged: {words})"), got[name]
        if name == "cut_short":  # libjpeg's own words for the others
            assert got[name] == f"error: {python.value}"
    (_, _, py_gray), = dicom_frames.iter_frames(files["undamaged"], frame=1)
    assert got["undamaged"] == f"1 {hashlib.sha256(py_gray.tobytes()).hexdigest()}"


def test_js_refuses_a_point_transformed_jpeg_lossless_frame_as_the_python(tmp_path):
    """Both decoders read a JPEG Lossless scan with a point transform wrong (each its own way:
    dcmtk's Pt 1 frame read shifted or white), so both refuse it, in the same words."""
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGLossless
    from hc_tf.io import dicom, dicom_frames
    from tests.lossless_jpeg import image, lossless_jpeg
    gray = image()
    ds = dicom_files.dataset([gray])
    ds.file_meta.TransferSyntaxUID = JPEGLossless
    ds.PixelData = encapsulate([lossless_jpeg(gray, predictor=1, pt=1)])
    ds["PixelData"].VR = "OB"
    files = _saved(tmp_path, {"pt1": ds})
    (got,) = _js_decode([files["pt1"]])
    with pytest.raises(dicom.DicomError) as python:
        list(dicom_frames.iter_frames(files["pt1"]))
    assert got == f"error: {python.value}"
    assert "JPEG Lossless with a point transform (Pt 1) is not supported" in got


_CALIBRATION_JS = """
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { readDicomHeader } from './src/core/dicom/deflated.js';
import { calibrationFields } from './src/core/dicom/file.js';
import { readCalibration } from './src/core/dicom/calibration.js';
const parser = createRequire(import.meta.url)('dicom-parser');
const limits = JSON.parse(readFileSync('../android_demo_assets/hc_effunet_int8.json', 'utf8')).input_limits;
for (const f of process.argv.slice(1)) {
  try {
    const cal = readCalibration(calibrationFields(await readDicomHeader(parser, new Uint8Array(readFileSync(f)), f, limits)), 1);
    console.log(`problem: ${cal.problem} mm: ${cal.pixel_spacing_mm}`);
  } catch (err) { console.log(`error: ${err.message}`); }
}
"""


def test_js_reads_a_pixel_spacing_that_is_not_two_numbers_as_the_python(tmp_path):
    """A PixelSpacing (0028,0030) of one value or three (top level, shared or per
    frame) is read as dicom_calibration._number_pair reads it: the frame decodes, and the
    calibration is refused in the Python's words (the app threw dicom-parser's "Cannot read
    properties of undefined (reading 'trim')" reading the header of a fuzzed copy of pydicom's
    SC_rgb_dcmtk_+eb+cy+n2.dcm whose PixelSpacing had lost its second value)."""
    import hashlib
    import numpy as np
    from pydicom.dataset import Dataset
    from hc_tf.io import dicom, dicom_calibration, dicom_frames
    gray = np.arange(64 * 48, dtype=np.uint32).reshape(48, 64).astype(np.uint8)

    def spaced(value, where="top"):
        ds = dicom_files.dataset([gray])
        if where == "top":
            ds.PixelSpacing = value
            return ds
        item = Dataset()
        item.PixelMeasuresSequence = [Dataset()]
        item.PixelMeasuresSequence[0].PixelSpacing = value
        if where == "shared":
            ds.SharedFunctionalGroupsSequence = [item]
        else:
            ds.PerFrameFunctionalGroupsSequence = [item]
        return ds

    files = _saved(tmp_path, {"one": spaced("0.5"), "three": spaced("0.5\\0.5\\0.5"),
                              "two": spaced("0.5\\0.5"),
                              "shared_one": spaced("0.5", "shared"), "frame_one": spaced("0.5", "frame")})
    decoded = dict(zip(files, _js_decode(list(files.values()))))
    calibrated = dict(zip(files, _js_decode(list(files.values()), script=_CALIBRATION_JS)))
    for name, path in files.items():
        (header, _, py_gray), = dicom_frames.iter_frames(path, frame=1)
        assert decoded[name] == f"1 {hashlib.sha256(py_gray.tobytes()).hexdigest()}", (name, decoded[name])
        try:
            cal = dicom_calibration.read_calibration(header, 1)
            expected = f"problem: {cal.problem} mm: {cal.pixel_spacing_mm}".replace("None", "null")
        except dicom.DicomError as err:
            expected = f"error: {err}"
        assert calibrated[name] == expected, (name, calibrated[name])
    assert "has 1 value(s); must be 2" in calibrated["one"]


@pytest.mark.parametrize("name", dicom_files.SEGMENTED_BOMBS)
def test_js_refuses_segmented_palette_bombs_as_the_python(tmp_path, name):
    """A segmented palette that would expand past 65,536 entries, or nests indirect segments
    without end, is refused by the app in hc_tf.io.dicom_frames' words, before it grows."""
    import numpy as np
    from hc_tf.io import dicom, dicom_frames
    red, _ = dicom_files.SEGMENTED_BOMBS[name]
    _, green, blue = dicom_files.segmented_palette_words(16)
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8)
    files = _saved(tmp_path, {name: dicom_files.segmented_palette_dataset(gray, [red, green, blue])})
    with pytest.raises(dicom.DicomError) as err:
        list(dicom_frames.iter_frames(files[name]))
    assert _js_decode([files[name]]) == [f"error: {err.value}"]


def test_js_names_why_it_cannot_read_a_file():
    """A file dicom-parser cannot walk is refused in words naming the file and the cause (it had
    read "[object Object]"); a deflated data set, refused alike until the app inflated it
    ("i.copy is not a function", then "which this app does not read"), is read as predict
    reads it."""
    import hashlib
    from pydicom.data import get_testdata_file
    from hc_tf.io import dicom_frames
    deflated, overrun = get_testdata_file("image_dfl.dcm"), get_testdata_file("SC_rgb_jpeg.dcm")
    (header, _, gray), = dicom_frames.iter_frames(deflated)
    assert _js_decode([deflated, overrun]) == [
        f"{header.frames} {hashlib.sha256(gray.tobytes()).hexdigest()}",
        f"error: {overrun}: not a readable DICOM file (dicomParser:parseDicomDataSetExplicit: "
        "buffer overrun)"]


def _deflated_cases(tmp_path):
    """name -> path: a head's gray deflated (its stream even, and odd: pydicom pads it with one
    0x00), with 7 bytes after the stream, a bomb (4 MB of zeros in a private element, a 20 kB
    file), cut short, and its first block of the reserved type 3."""
    import zlib
    from pydicom.filereader import read_file_meta_info
    from pydicom.uid import DeflatedExplicitVRLittleEndian
    gray = cv2.imread(os.path.join(BUNDLE, "samples", NAME), cv2.IMREAD_GRAYSCALE)[:120, :160]
    out = {}
    for extra in range(16):  # a longer Manufacturer until both lengths of stream were written
        ds = dicom_files.dataset([gray])
        ds.Manufacturer += "x" * extra
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        path = dicom_files.save(ds, str(tmp_path / f"dfl{extra}.dcm"))
        start = 144 + read_file_meta_info(path).FileMetaInformationGroupLength
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        inflater.decompress(open(path, "rb").read()[start:])
        out.setdefault(f"padded{len(inflater.unused_data)}.dcm", path)
        if "padded0.dcm" in out and "padded1.dcm" in out:
            break
    assert sorted(out) == ["padded0.dcm", "padded1.dcm"], out
    even = open(out["padded0.dcm"], "rb").read()
    start = 144 + read_file_meta_info(out["padded0.dcm"]).FileMetaInformationGroupLength
    for name, data in (("tail.dcm", even + b"abcdefg"), ("cut.dcm", even[:-40]),
                       ("corrupt.dcm", even[:start] + b"\xff" + even[start + 1:])):
        out[name] = str(tmp_path / name)
        open(out[name], "wb").write(data)
    bomb = dicom_files.dataset([gray])
    bomb.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    bomb.add_new(0x00090010, "LO", "HCTF TEST")
    bomb.add_new(0x00091010, "OB", bytes(4_000_000))
    out["bomb.dcm"] = dicom_files.save(bomb, str(tmp_path / "bomb.dcm"))
    return out


def test_js_inflates_and_refuses_deflated_files_as_the_python(tmp_path, monkeypatch):
    """Deflated files: the same gray as hc_tf.io.dicom_frames whatever the stream's parity or the
    bytes after it; a bomb past the byte limit refused in dicom._inflate's words (less the
    environment variable, which the app does not read: its limit is the bundle metadata's); a
    damaged stream refused alike, naming the file ("not a readable DICOM file"), the zlib
    messages being each platform's own."""
    import hashlib
    from hc_tf.io import dicom, dicom_frames
    files = _deflated_cases(tmp_path)
    limit = 1_000_000
    assert os.path.getsize(files["bomb.dcm"]) < 20_000
    got = dict(zip(files, _js_decode(list(files.values()), max_input_bytes=limit)))
    monkeypatch.setenv("HC_TF_MAX_INPUT_BYTES", str(limit))
    for name in ("padded0.dcm", "padded1.dcm", "tail.dcm"):
        (header, _, gray), = dicom_frames.iter_frames(files[name])
        assert got[name] == f"{header.frames} {hashlib.sha256(gray.tobytes()).hexdigest()}", (name, got[name])
    with pytest.raises(dicom.DicomError) as err:
        dicom.read_header(files["bomb.dcm"])
    assert "inflates past the 1000000-byte input limit" in str(err.value)
    assert got["bomb.dcm"] == f"error: {str(err.value).replace(' (HC_TF_MAX_INPUT_BYTES)', '')}"
    with pytest.raises(dicom.DicomError, match="invalid block type"):
        dicom.read_header(files["corrupt.dcm"])
    assert got["corrupt.dcm"] == f"error: {files['corrupt.dcm']}: not a readable DICOM file (deflated dataset: invalid block type)"
    # Cut short: both refuse the stream in the same words (zlib handed back what it held, and
    # predict refused only the pixel data that came short; a cut past the pixels was read).
    with pytest.raises(dicom.DicomError) as err:
        dicom.read_header(files["cut.dcm"])
    assert str(err.value) == f"{files['cut.dcm']}: not a readable DICOM file (deflated dataset: {dicom.CUT_STREAM})"
    assert got["cut.dcm"] == f"error: {err.value}"


def test_js_refuses_a_jpeg_frame_of_too_many_scans_as_the_python(tmp_path):
    """A progressive JPEG frame of 101 scans (a time bomb for libjpeg: docs/limits.md) is
    refused by the app before decoding, in dicom_codestream's words, its limit the bundle
    metadata's max_jpeg_scans."""
    from pydicom.encaps import encapsulate
    from hc_tf.io import dicom, dicom_frames
    from tests.jpeg_check_test import with_scans
    gray = cv2.imread(os.path.join(BUNDLE, "samples", NAME), cv2.IMREAD_GRAYSCALE)[:64, :64].copy()
    ok, data = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    ds = dicom_files.dataset([gray])
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.50"
    ds.PixelData = encapsulate([with_scans(data.tobytes(), 101)])
    ds["PixelData"].VR = "OB"
    path = _saved(tmp_path, {"scans": ds})["scans"]
    with pytest.raises(dicom.DicomError) as err:
        list(dicom_frames.iter_frames(path))
    assert "101 JPEG scans, over the 100-scan input limit" in str(err.value)
    assert _js_decode([path]) == [f"error: {err.value}"]


def test_js_refuses_sequences_nested_too_deep_as_the_python(tmp_path):
    """Headers nesting 16, 17 and 1,000 sequences: read, and refused in dicom.read_header's words."""
    from hc_tf.io import dicom
    paths = [dicom_files.save_deep(dicom_files.nested_dataset(d), str(tmp_path / f"deep{d}.dcm"))
             for d in (16, 17, 1000)]
    got = _js_decode(paths)
    assert got[0].startswith("1 ") and dicom.read_header(paths[0]).rows == 16
    for path, line in zip(paths[1:], got[1:]):
        with pytest.raises(dicom.DicomError) as err:
            dicom.read_header(path)
        assert line == f"error: {err.value}"


_CHECK_JS = """
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { readHeader } from './src/core/dicom/file.js';
import { checkCodestream } from './src/core/dicom/codestream.js';
const parser = createRequire(import.meta.url)('dicom-parser');
const limits = JSON.parse(readFileSync('../android_demo_assets/hc_effunet_int8.json', 'utf8')).input_limits;
for (const f of process.argv.slice(1)) {
  try {
    const h = readHeader(parser, new Uint8Array(readFileSync(f)), f, limits);
    const frag = h.dataset.elements.x7fe00010.fragments[0];
    const data = h.dataset.byteArray.subarray(frag.position, frag.position + frag.length);
    checkCodestream(h, data, h.transferSyntax.startsWith('1.2.840.10008.1.2.4.9') ? 'j2k' : 'jpeg');
    console.log('ok');
  } catch (err) { console.log(`error: ${err.message}`); }
}
"""


def test_js_checks_mutated_codestreams_as_the_python(tmp_path):
    """The codestream size check is a port: on JPEG-LS and JPEG 2000 frames with one to three
    header bytes changed at random (fixed seeds), the app accepts what
    hc_tf.io.dicom_codestream accepts and refuses the rest in the same words."""
    import random
    from pydicom.encaps import encapsulate, get_frame
    from pydicom.uid import JPEG2000Lossless, JPEGLSLossless
    from hc_tf.io import dicom, dicom_codestream
    gray = cv2.imread(os.path.join(BUNDLE, "samples", NAME), cv2.IMREAD_GRAYSCALE)[:60, :80].copy()
    files = {}
    for syntax in (JPEGLSLossless, JPEG2000Lossless):
        base = dicom_files.dataset([gray])
        base.compress(syntax)
        frame = get_frame(base.PixelData, 0, number_of_frames=1)
        rng = random.Random(str(syntax))
        for k in range(40):
            data = bytearray(frame)
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(2, min(len(data), 64))] = rng.randrange(256)
            ds = dicom_files.dataset([gray])
            ds.compress(syntax)
            ds.PixelData = encapsulate([bytes(data)])
            files[f"{syntax.name}_{k}"] = ds
    paths = _saved(tmp_path, files)
    got = dict(zip(paths, _js_decode(list(paths.values()), _CHECK_JS)))
    refused = 0
    for name, path in paths.items():
        header = dicom.read_header(path)
        try:
            dicom_codestream.check_codestream(header, dicom.read_pixels(header), 1, path)
            want = "ok"
        except dicom.DicomError as err:
            want, refused = f"error: {err}", refused + 1
        assert got[name] == want, (name, got[name], want)
    assert 10 <= refused <= len(paths) - 10  # both verdicts were exercised


def test_a_scanners_jpeg_cine_opens_at_any_frame(page, golden, tmp_path):  # noqa: F811
    """pydicom-data's color3d_jpeg_baseline.dcm (a scanner's 120-frame YBR_FULL_422 JPEG cine,
    one region): frames 1 and 60 decode in the browser and measure as predict does on them
    (found alike; HC within 1%: not a fetal head, so its fit is not a close one)."""
    from pydicom.data import get_testdata_file
    from hc_tf.surfaces import predict
    path = get_testdata_file("color3d_jpeg_baseline.dcm")
    page.set_input_files("#file", path)
    page.wait_for_selector("#result[data-name='color3d_jpeg_baseline.dcm'][data-frame='1']", timeout=60_000)
    for frame in (1, 60):
        if frame != 1:
            page.fill("#frame", str(frame))
            page.dispatch_event("#frame", "change")
            page.wait_for_selector(f"#result[data-frame='{frame}']", timeout=60_000)
        want = predict.predict_files(os.path.join(BUNDLE, golden["model"]), [path],
                                     str(tmp_path / f"p{frame}"), frame=frame).records[0]
        state = page.get_attribute("#result", "data-state")
        assert state == ("found" if want["found"] else "not-found"), (frame, state, want["reason"])
        if want["found"]:
            hc = float(page.get_attribute("#result", "data-hc-mm"))
            print(f"frame {frame}: app {hc:.2f} mm, predict {want['hc_mm']:.2f} mm")
            assert abs(hc - want["hc_mm"]) <= 0.01 * want["hc_mm"], (frame, hc, want["hc_mm"])


def test_several_dicom_files_measure_as_predict_and_group_into_their_exam(page, golden, tmp_path):  # noqa: F811
    """Several files at once refused a DICOM row ("open it on its own"); now a row takes its
    pixel size from the file as predict does (a typed one must agree), and the study's series
    is an exam: rows, HCs and the exams table as `hc-tf predict` gives them on the same files."""
    import csv
    import io
    from pydicom.uid import generate_uid
    from hc_tf.surfaces import predict
    from web_app_ui_test import _download
    names = ["000_HC.png", "001_HC.png"]
    series = generate_uid()
    paths = []
    for n in names:
        ds, path = _wrapped(tmp_path, _sample(golden, n), name=n.replace(".png", ".dcm"))
        ds.SeriesInstanceUID = series  # two images of one series: one exam
        paths.append(dicom_files.save(ds, path))
    png = os.path.join(BUNDLE, "samples", "213_HC.png")
    want = predict.predict_files(os.path.join(BUNDLE, golden["model"]), paths, str(tmp_path / "p"))
    page.set_input_files("#file", paths + [png])
    page.wait_for_selector("#batch-rows tr >> nth=2", timeout=10_000)
    assert page.locator("#batch-rows .batch-px").nth(0).get_attribute("placeholder") == "from the file"
    page.locator("#batch-rows .batch-px").nth(2).fill(repr(_sample(golden, "213_HC.png")["pixel_size_mm"]))
    page.click("#measure-all")
    page.wait_for_selector("#batch-downloads:not([hidden])", timeout=60_000)
    trs = page.locator("#batch-rows tr")
    for i, rec in enumerate(want.records):
        assert trs.nth(i).get_attribute("data-state") == "found", trs.nth(i).inner_text()
        assert abs(float(trs.nth(i).get_attribute("data-hc-mm")) - rec["hc_mm"]) <= TOL_MM
    with page.expect_download() as d:
        page.click("#batch-dl-csv")
    stem = re.fullmatch(r"(hc-tf-\d{8}-\d{6}-\d+)\.report\.csv", d.value.suggested_filename).group(1)
    rows = list(csv.DictReader(io.StringIO(open(d.value.path(), encoding="utf-8").read())))
    assert [r["filename"] for r in rows] == [r["filename"] for r in want.records] + ["213_HC.png"]
    import json
    doc = json.loads(_download(page, "#batch-dl-json"))
    assert [im.get("pixel_size_source") for im in doc["images"]] == ["dicom_us_region"] * 2 + [None]
    exams = list(csv.DictReader(io.StringIO(_download(page, "#batch-dl-exams"))))
    assert [(e["exam"], e["images"]) for e in exams] == [(f"{dicom_files.STUDY_UID}/{series}", "2"),
                                                          ("213", "1")]
    with open(tmp_path / "p" / "exams.csv", newline="", encoding="utf-8") as f:
        (py_exam,) = csv.DictReader(f)  # predict's exams.csv of the two DICOM files
    assert py_exam["exam"] == exams[0]["exam"]
    assert abs(float(exams[0]["hc_mean_mm"]) - float(py_exam["hc_mean_mm"])) <= TOL_MM
    # The exam's FHIR report: predict's fhir/<first stem>.obgyn.fhir.json less its SR (no
    # identifier, no SR in derivedFrom), with its ids (they derive from the images), named by the
    # batch's stem (nothing of the files' names); the PNG's exam has none.
    with page.expect_download() as d:
        page.click("#batch-dl-exam-fhir")
    assert d.value.suggested_filename == f"{stem}.exam1.obgyn.fhir.json"
    app = json.loads(open(d.value.path(), encoding="utf-8").read())
    py = json.loads((tmp_path / "p" / want.records[0]["dicom"]["obgyn_fhir"]).read_text())
    assert [e["fullUrl"] for e in app["entry"]] == [e["fullUrl"] for e in py["entry"]]
    report, py_report = app["entry"][0]["resource"], py["entry"][0]["resource"]
    assert "identifier" not in report and "identifier" in py_report
    assert report.get("effectiveDateTime") == py_report.get("effectiveDateTime")
    hc, py_hc = app["entry"][1]["resource"], py["entry"][1]["resource"]
    assert abs(hc["valueQuantity"]["value"] - py_hc["valueQuantity"]["value"]) <= TOL_MM
    assert hc["derivedFrom"] == [ref for ref in py_hc["derivedFrom"] if ref.get("type")]
    # A typed size that disagrees with the file is refused, as predict refuses it.
    page.set_input_files("#file", paths)
    page.wait_for_selector("#batch-rows tr >> nth=1", timeout=10_000)
    page.locator("#batch-rows .batch-px").nth(0).fill("0.5")
    page.click("#measure-all")
    page.wait_for_selector("#batch-downloads:not([hidden])", timeout=60_000)
    assert trs.nth(0).get_attribute("data-state") == "error" and "0.5" in trs.nth(0).inner_text()
    assert trs.nth(1).get_attribute("data-state") == "found"


def test_every_frame_of_a_cine_in_a_batch_measures_as_predict(page, golden, tmp_path):  # noqa: F811
    """Several files at once measured frame 1 of a multi-frame file only ("open it on its own
    for another"); predict measures every frame. Now each frame is a row named as predict names
    it, with predict's HC, in the report and the exams; a size typed for the file stands for all
    its frames, and editing it makes every frame's result stale."""
    import csv
    import io
    from hc_tf.surfaces import predict
    from web_app_ui_test import _download
    s = _sample(golden, NAME)
    gray = cv2.imread(os.path.join(BUNDLE, "samples", NAME), cv2.IMREAD_GRAYSCALE)
    h, w = gray.shape
    frames = [gray, gray[:, ::-1].copy(), gray[::-1, :].copy()]
    ds = dicom_files.dataset(frames, regions=[dicom_files.region((0, 0, w - 1, h - 1), s["pixel_size_mm"])])
    cine = dicom_files.save(ds, str(tmp_path / "cine.dcm"))
    single, _ = _wrapped(tmp_path, _sample(golden, "001_HC.png"), name="one.dcm")
    one = dicom_files.save(single, str(tmp_path / "one.dcm"))
    want = predict.predict_files(os.path.join(BUNDLE, golden["model"]), [cine, one], str(tmp_path / "p"))
    assert [r["filename"] for r in want.records] == ["cine.dcm#1", "cine.dcm#2", "cine.dcm#3", "one.dcm"]
    page.set_input_files("#file", [cine, one])
    page.wait_for_selector("#batch-rows tr >> nth=1", timeout=10_000)
    page.click("#measure-all")
    page.wait_for_selector("#batch-downloads:not([hidden])", timeout=120_000)
    trs = page.locator("#batch-rows tr")
    assert trs.count() == 4
    for i, rec in enumerate(want.records):
        assert trs.nth(i).get_attribute("data-state") == "found", trs.nth(i).inner_text()
        assert abs(float(trs.nth(i).get_attribute("data-hc-mm")) - rec["hc_mm"]) <= TOL_MM
    rows = list(csv.DictReader(io.StringIO(_download(page, "#batch-dl-csv"))))
    assert [r["filename"] for r in rows] == [r["filename"] for r in want.records]
    exams = list(csv.DictReader(io.StringIO(_download(page, "#batch-dl-exams"))))
    with open(tmp_path / "p" / "exams.csv", newline="", encoding="utf-8") as f:
        py_exams = list(csv.DictReader(f))
    assert [(e["exam"], e["images"]) for e in exams] == [(e["exam"], e["images"]) for e in py_exams]
    # A typed size for the file: its frames take it too (here it agrees with the file's), and an
    # edit makes all of them stale.
    page.locator("#batch-rows .batch-px").nth(0).fill(repr(s["pixel_size_mm"]))
    for i in range(3):
        assert trs.nth(i).get_attribute("data-state") == "stale"
    assert trs.nth(3).get_attribute("data-state") == "found"
    page.click("#measure-all")
    page.wait_for_selector("#batch-downloads:not([hidden])", timeout=120_000)
    assert trs.count() == 4 and all(trs.nth(i).get_attribute("data-state") == "found" for i in range(4))


def test_a_dual_pane_measures_on_its_heads_pane_as_predict(page, golden, tmp_path):  # noqa: F811
    """Two 2D regions side by side: measured whole, then again on the head's pane (as
    dicom_predict.region_pass), alone and in a batch; predict's HC and pane; the image drawn."""
    import json
    import numpy as np
    from hc_tf.surfaces import predict
    s = _sample(golden, NAME)
    a = cv2.imread(os.path.join(BUNDLE, "samples", NAME), cv2.IMREAD_GRAYSCALE)
    h, w = a.shape
    b = cv2.resize(cv2.imread(os.path.join(BUNDLE, "samples", "001_HC.png"), cv2.IMREAD_GRAYSCALE), (w, h))
    panes = [(0, 0, w - 1, h - 1), (w, 0, 2 * w - 1, h - 1)]
    ds = dicom_files.dataset([np.hstack([a, b])], regions=[dicom_files.region(p, s["pixel_size_mm"]) for p in panes])
    path = dicom_files.save(ds, str(tmp_path / "dual.dcm"))
    [want] = predict.predict_files(os.path.join(BUNDLE, golden["model"]), [path], str(tmp_path / "p")).records
    assert want["dicom"]["model_region"] in [list(p) for p in panes]
    page.set_input_files("#file", path)
    hc = _found(page, "dual.dcm")
    assert abs(hc - want["hc_mm"]) <= TOL_MM
    with page.expect_download() as d:
        page.click("#dl-json")
    rec = json.loads(open(d.value.path(), encoding="utf-8").read())["images"][0]
    assert rec["dicom"]["model_region"] == want["dicom"]["model_region"]
    assert rec["dicom"]["region"] == want["dicom"]["region"]
    page.wait_for_selector("#view[data-state='image'][data-name='dual.dcm']", state="attached", timeout=10_000)
    # Several files at once: the same.
    page.set_input_files("#file", [path, path.replace("dual.dcm", "p/../dual.dcm")])
    page.wait_for_selector("#batch-rows tr >> nth=1", timeout=10_000)
    page.click("#measure-all")
    page.wait_for_selector("#batch-downloads:not([hidden])", timeout=60_000)
    assert abs(float(page.locator("#batch-rows tr").nth(0).get_attribute("data-hc-mm")) - want["hc_mm"]) <= TOL_MM


_SCAN_JS = """
import { readFileSync } from 'node:fs';
import { checkHeader } from './src/core/dicom/header_scan.js';
import { inflatedOf } from './src/core/dicom/deflated.js';
const limits = JSON.parse(readFileSync('../android_demo_assets/hc_effunet_int8.json', 'utf8')).input_limits;
for (const f of process.argv.slice(1)) {
  try {
    const bytes = new Uint8Array(readFileSync(f));
    console.log(`${checkHeader(bytes, f, (m) => new Error(m), await inflatedOf(bytes, f, limits))}`);
  } catch (err) { console.log(`error: ${err.message}`); }
}
"""


def test_js_header_scan_counts_and_refuses_as_the_python(tmp_path, monkeypatch):
    """The app's port of dicom_header_scan on pydicom-data's files in every encoding (a deflated
    data set walked once inflated, as predict walks it), on crafted headers and on 100 damaged
    copies: the same count, element for element, and a header of 200,001 empty items (a 1.6 MB
    file, or its data set deflated to a few kB) refused in read_header's words."""
    import struct

    import numpy as np

    from hc_tf.io import dicom
    from hc_tf.io.dicom_header_scan import HeaderScan
    from tests import dicom_header_scan_test as scan_test
    paths = [scan_test.real(name) for name in scan_test.REAL]
    for encoding, what in [("explicit", "items"), ("implicit", "items"), ("big_endian", "items"),
                           ("deflated", "items"), ("implicit", "elements"), ("explicit", "meta")]:
        paths.append(scan_test.many(tmp_path / f"{encoding}_{what}.dcm", 50, encoding, what))
    paths += [scan_test.crafted(tmp_path / f"{kind}.dcm", kind) for kind in ("fragments", "odd_items")]
    rng = np.random.default_rng(0)
    damaged = [scan_test.mutated(tmp_path / f"damaged{name}{k}.dcm", open(scan_test.real(name), "rb").read(), rng)
               for name in scan_test.MUTATED for k in range(25)]
    counts, expected, compared = [], [], []
    init = HeaderScan.__init__
    monkeypatch.setattr(HeaderScan, "__init__", lambda self, path: init(self, path) or counts.append(self))
    for path in paths + damaged:
        try:
            dicom._dcmread(path, stop_before_pixels=True)
            expected.append(str(counts[-1].count))
        except dicom.DicomError as err:  # the scan's refusal
            expected.append(f"error: {err}")
        except Exception:  # noqa: BLE001  pydicom failed (its meta group, say): the app's parser will
            continue
        compared.append(path)
    assert len(compared) > len(paths) + 80
    paths = compared
    bomb = scan_test.many(tmp_path / "bomb.dcm", 0, "explicit", "items")
    data = open(bomb, "rb").read()
    at = data.index(b"\xe0\x7f\x10\x00")
    items = struct.pack("<HH2sHI", 0x0008, 0x1140, b"SQ", 0, 0xFFFFFFFF) + \
        b"\xfe\xff\x00\xe0\x00\x00\x00\x00" * 200_001 + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    open(bomb, "wb").write(data[:at] + items + data[at:])
    # The same items in a deflated data set (pydicom pads an odd stream with one 0x00).
    import zlib
    from pydicom.filereader import read_file_meta_info
    deflated = scan_test.many(tmp_path / "bomb_dfl.dcm", 0, "deflated", "items")
    start = 144 + read_file_meta_info(deflated).FileMetaInformationGroupLength
    data = open(deflated, "rb").read()
    body = zlib.decompressobj(-zlib.MAX_WBITS).decompress(data[start:])
    at = body.index(b"\xe0\x7f\x10\x00")
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    stream = compressor.compress(body[:at] + items + body[at:]) + compressor.flush()
    open(deflated, "wb").write(data[:start] + stream + bytes(len(stream) % 2))
    assert os.path.getsize(deflated) < 20_000
    errors = []
    for path in (bomb, deflated):
        with pytest.raises(dicom.DicomError) as err:
            dicom.read_header(path)
        errors.append(f"error: {err.value}")
    got = _js_decode([*paths, bomb, deflated], script=_SCAN_JS)
    assert got == expected + errors
    assert all("over 200000 elements and sequence items" in e for e in errors)


def _malformed_headers(tmp_path):
    """name -> path: files whose pixel-module integers or palette descriptor are damaged (two
    values where one belongs, or none), as a broken export writes them."""
    import pydicom
    from pydicom import examples
    gray = cv2.imread(os.path.join(BUNDLE, "samples", NAME), cv2.IMREAD_GRAYSCALE)[:60, :80]
    cases = {"rows_twice": ("Rows", [60, 60]), "samples_twice": ("SamplesPerPixel", [1, 1]),
             "frames_twice": ("NumberOfFrames", "1\\1"), "bits_twice": ("BitsStored", [8, 8]),
             "bits_empty": ("BitsStored", None), "bits_zero": ("BitsStored", 0),
             "allocated_empty": ("BitsAllocated", 8), "signed_twice": ("PixelRepresentation", [0, 0]),
             "signed_two": ("PixelRepresentation", 2), "signed_none": ("PixelRepresentation", None)}
    out = {}
    for name, (keyword, value) in cases.items():
        ds = dicom_files.dataset([gray])
        if keyword == "NumberOfFrames":
            ds.NumberOfFrames = 1
        ds[keyword].value = value
        out[name] = str(tmp_path / f"{name}.dcm")
        ds.save_as(out[name], enforce_file_format=True)
    # An empty BitsAllocated (pydicom will not write one: it picks the pixels' VR by it)
    data = open(out["allocated_empty"], "rb").read()
    at = data.index(b"\x28\x00\x00\x01US\x02\x00\x08\x00")
    open(out["allocated_empty"], "wb").write(data[:at + 6] + b"\x00\x00" + data[at + 10:])
    for name, value in {"descriptor_empty": None, "descriptor_twice": [256, 0, 8, 256, 0, 8],
                        "descriptor_two": [256, 0]}.items():
        ds = pydicom.dcmread(examples.get_path("palette_color"))
        ds.RedPaletteColorLookupTableDescriptor = value
        out[name] = str(tmp_path / f"{name}.dcm")
        ds.save_as(out[name], enforce_file_format=True)
    return out


def test_js_refuses_damaged_pixel_module_integers_as_the_python(tmp_path):
    """Two values where the pixel module holds one (Rows, SamplesPerPixel, NumberOfFrames,
    BitsStored, PixelRepresentation), none (BitsStored, BitsAllocated, PixelRepresentation), a
    BitsStored of 0, a PixelRepresentation of 2, and a palette descriptor that is not three
    numbers: refused in read_header's words on both sides. The app had measured the first value
    or a default where predict refused in pydicom's words, or, on a doubled BitsStored or a
    damaged descriptor, failed with a traceback."""
    import hashlib
    from hc_tf.io import dicom_frames
    files = _malformed_headers(tmp_path)
    got = dict(zip(files, _js_decode(list(files.values()))))
    for name, path in files.items():
        try:
            (header, _, gray), = dicom_frames.iter_frames(path)
            want = f"{header.frames} {hashlib.sha256(gray.tobytes()).hexdigest()}"
        except ValueError as err:
            want = f"error: {err}"
        assert got[name] == want, name
        assert want.startswith("error: "), (name, want)
    assert got["bits_twice"].endswith("BitsStored (0028,0101) missing or not a number")
    assert got["bits_zero"].endswith("BitsStored (0028,0101) is 0; must be at least 1")
    assert got["signed_two"].endswith("PixelRepresentation (0028,0103) missing or not 0 or 1")
    assert got["descriptor_two"].endswith("RedPaletteColorLookupTableDescriptor (0028,1101) is not 3 "
                                          "numbers (entries, first index, bits)")


def test_a_files_last_menstrual_date_dates_its_centile_as_predict_does(page, golden, tmp_path):  # noqa: F811
    """A DICOM file's Last Menstrual Date at its StudyDate gives the centile when no GA is
    typed (dicom_dating.lmp_ga_weeks): the app's report.json as predict's (GA, dating source,
    centile with its interval, a bad date's note); the view says where the GA came from; a GA
    typed wins."""
    import json
    import pydicom
    from hc_tf.io import dicom_dating
    from hc_tf.surfaces import predict
    from web_app_ui_test import _download
    paths = []
    for n, lmp in [("000_HC.png", "20250701"), ("001_HC.png", "20251399")]:
        ds, path = _wrapped(tmp_path, _sample(golden, n), name=n.replace(".png", ".dcm"))
        with pydicom.config.disable_value_validation():  # a scanner's bad date, as written
            ds.LastMenstrualDate = lmp
        ds.StudyTime, ds.TimezoneOffsetFromUTC = "102030", "+0530"  # the FHIR's time, zoned
        paths.append(dicom_files.save(ds, path))
    want = predict.predict_files(os.path.join(BUNDLE, golden["model"]), paths, str(tmp_path / "p")).records
    assert want[0]["dating"]["source"] == dicom_dating.LMP_SOURCE and "dating_note" in want[1]["dicom"]
    page.set_input_files("#file", paths)
    page.wait_for_selector("#batch-rows tr >> nth=1", timeout=10_000)
    page.click("#measure-all")
    page.wait_for_selector("#batch-downloads:not([hidden])", timeout=60_000)
    doc = json.loads(_download(page, "#batch-dl-json"))
    for got, predicted in zip(doc["images"], want):
        assert (got["known_ga_weeks"], got["dating"]) == (predicted["known_ga_weeks"], predicted["dating"])
        assert got["dicom"].get("dating_note") == predicted["dicom"].get("dating_note")
        assert (got["centile"] or {}).get("display") == (predicted["centile"] or {}).get("display")
        assert ((got["centile"] or {}).get("interval") or {}).get("display") == \
            ((predicted["centile"] or {}).get("interval") or {}).get("display")
    assert doc["images"][0]["centile"]["z"] == pytest.approx(want[0]["centile"]["z"], rel=1e-12)
    page.fill("#known-ga", "30+0")  # a GA typed wins over the file's
    doc = json.loads(_download(page, "#batch-dl-json"))
    assert [im["known_ga_weeks"] for im in doc["images"]] == [30.0, 30.0]
    page.fill("#known-ga", "")
    page.set_input_files("#file", paths[0])  # one file: the view dates it by the file
    _found(page, "000_HC.dcm")
    page.wait_for_selector("#centile[data-state='ok']", timeout=10_000)
    assert page.inner_text("#centile").startswith("At 26+2 weeks (INTERGROWTH-21st): HC centile ")
    assert dicom_dating.LMP_SOURCE in page.inner_text("#dating")
    _check_fhir_centile(page, tmp_path / "p" / "fhir" / "000_HC.fhir.json")


def _check_fhir_centile(page, predicted_path):  # noqa: F811
    """The FHIR download's HC read at the file's GA as predict's fhir/ file reads it (normal
    range, interpretation, centile and z components), at the study's time in its zone; a GA
    typed reads it at that GA."""
    import json
    from hc_tf.report import fhir
    from hc_tf.report import records

    def downloaded_hc():
        with page.expect_download() as d:
            page.click("#dl-fhir")
        return fhir.bundle_observations(json.loads(open(d.value.path(), encoding="utf-8").read()))["hc"]

    got = downloaded_hc()
    want = fhir.bundle_observations(json.loads(predicted_path.read_text()))["hc"]
    assert got["effectiveDateTime"] == want["effectiveDateTime"] == "2026-01-01T10:20:30+05:30"
    assert got["interpretation"] == want["interpretation"]
    assert got["interpretation"][0]["coding"][0]["code"] == "H"  # this head: above the 97th
    [g], [w] = got["referenceRange"], want["referenceRange"]
    for end in ("low", "high"):
        assert g[end].pop("value") == pytest.approx(w[end].pop("value"), rel=1e-12)
    assert g == w
    for g, w in zip(got["component"], want["component"], strict=True):
        assert g["valueQuantity"].pop("value") == pytest.approx(w["valueQuantity"].pop("value"), rel=1e-9)
        assert g == w
    page.fill("#known-ga", "30+0")  # a GA typed wins, in the FHIR too
    typed = downloaded_hc()
    assert typed["referenceRange"][0]["text"].endswith(f"at 30+0 weeks (GA from dating: {records.DATING_SOURCE})")
    page.fill("#known-ga", "")


def test_js_refuses_bits_allocated_other_than_8_or_16_as_the_python(tmp_path):
    """1-bit packed pixels (pydicom-data's liver segmentation, which predict had measured as an
    image of 0s and 1s) and 32-bit allocated ones: refused on both sides in the same words."""
    import numpy as np
    from pydicom.data import get_testdata_file
    from hc_tf.io import dicom, dicom_frames
    ds = dicom_files.dataset([np.zeros((8, 8), np.uint32)])
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 32, 8, 7
    files = {"one_bit": get_testdata_file("liver_1frame.dcm"), **_saved(tmp_path, {"thirty_two": ds})}
    got = dict(zip(files, _js_decode(list(files.values()))))
    for name, bits in (("one_bit", 1), ("thirty_two", 32)):
        with pytest.raises(dicom.DicomError) as python:
            list(dicom_frames.iter_frames(files[name]))
        assert str(python.value) == (f"{files[name]}: BitsAllocated (0028,0100) {bits}; "
                                     f"{dicom.ALLOCATED_8_OR_16}")
        assert got[name] == f"error: {python.value}", got[name]


def test_js_reads_rgb_coded_jpeg_frames_as_the_python_where_their_markers_say_rgb(tmp_path):
    """An RGB-coded JPEG frame (PhotometricInterpretation RGB) whose markers say RGB (an Adobe
    APP14 marker: pydicom-data's dcmtk and dcmd files; components named R, G, B without it,
    crafted): both decode it by libjpeg-turbo, alike (predict's Pillow had failed on the
    crafted one); one whose samples libjpeg would take for YCbCr is read as stored by predict
    and refused in words by the app (which had refused all of them)."""
    import hashlib
    from pydicom.data import get_testdata_file
    from pydicom.encaps import encapsulate, get_frame
    from hc_tf.io import dicom_frames
    read = {name: get_testdata_file(f"{name}.dcm") for name in
            ("SC_rgb_dcmtk_+eb+cr", "SC_rgb_jpeg_app14_dcmd", "SC_jpeg_no_color_transform_2")}
    ds = pydicom.dcmread(read["SC_rgb_jpeg_app14_dcmd"])
    frame = get_frame(ds.PixelData, 0, number_of_frames=1)
    at = frame.index(b"\xff\xee")
    without_app14 = frame[:at] + frame[at + 2 + int.from_bytes(frame[at + 2:at + 4], "big"):]
    named = bytearray(without_app14)  # component ids R, G, B in the frame and scan headers
    sof, sos = named.index(b"\xff\xc0"), named.index(b"\xff\xda")
    ids = {named[sof + 10 + 3 * c]: rgb for c, rgb in enumerate(b"RGB")}
    for c in range(3):
        named[sof + 10 + 3 * c] = ids[named[sof + 10 + 3 * c]]
        named[sos + 5 + 2 * c] = ids[named[sos + 5 + 2 * c]]
    ds.PixelData = encapsulate([bytes(named)])
    read.update(_saved(tmp_path, {"named_rgb": ds}))
    refused = get_testdata_file("SC_jpeg_no_color_transform.dcm")
    got = _js_decode(list(read.values()) + [refused])
    for (name, path), line in zip(read.items(), got):
        (header, _, gray), = dicom_frames.iter_frames(path)
        assert line == f"1 {hashlib.sha256(gray.tobytes()).hexdigest()}", (name, line)
    assert got[-1] == (f"error: {refused}: an RGB JPEG frame whose markers do not say it is RGB (no "
                       "Adobe APP14 marker, components not named R, G, B) is not read here: "
                       "measure it with hc-tf predict")


def test_js_checks_offset_tables_bits_stored_and_modality_as_the_python(tmp_path):
    """The files of tests/dicom_tables_test.py: a Basic Offset Table that does not point at the
    fragments (the app took frame k from fragment k and measured what predict, splitting by the
    table, measured as another frame), pixel values past BitsStored (pydicom cleared the bits the
    app read) and a modality transform that is not the identity: refused on both sides in the same
    words, the valid ones read to the same gray. A file with an Extended Offset Table is refused
    by the app whatever its table (dicom-parser does not know VR OV)."""
    import hashlib
    from hc_tf.io import dicom_frames
    from tests import dicom_tables_test as tables
    cases = {**tables.tables_cases(), **tables.bits_cases(), **tables.modality_cases()}
    files = _saved(tmp_path, cases)
    args = {**files, **{f"{n}@2": f"{p}@2" for n, p in files.items() if n.endswith("bot")}}
    got = dict(zip(args, _js_decode(list(args.values()))))
    for name, arg in args.items():
        path, _, frame = arg.partition("@")
        if name.endswith("eot"):
            assert got[name] == (f"error: {path}: an Extended Offset Table (7FE0,0001), which "
                                 "this app cannot read; measure the file with hc-tf predict"), (
                name, got[name])
            continue
        try:
            [(header, _, gray)] = dicom_frames.iter_frames(path, frame=int(frame or 1))
            want = f"{header.frames} {hashlib.sha256(gray.tobytes()).hexdigest()}"
        except ValueError as err:
            want = f"error: {err}"
        assert name.startswith("ok") == (not want.startswith("error")), (name, want)
        assert got[name] == want, (name, got[name], want)
