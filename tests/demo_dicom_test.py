"""The demo's core on DICOM uploads (no browser, no Gradio): detected by content, the pixel size
from the file by predict's rules, the same HC as `hc-tf predict`, refusals in words."""

import functools
import json
import os

import cv2
import pytest

pytest.importorskip("pydicom")

from click.testing import CliRunner  # noqa: E402

from hc_tf import cli  # noqa: E402
from hc_tf import edge  # noqa: E402
from hc_tf.surfaces import demo  # noqa: E402
from hc_tf.surfaces.demo import dicom_upload  # noqa: E402
from tests import dicom_files  # noqa: E402

HEAD = "000_HC.png"
pytestmark = pytest.mark.usefixtures("own_temp_folder")


@pytest.fixture(scope="module")
def runner():
    return edge.LiteRunner(demo.DEFAULT_MODEL)


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    """An HC18 head wrapped in DICOM with its CSV pixel size, saved without a .dcm name (the
    demo must find it by content, as an upload's temporary file may be named anything)."""
    folder = tmp_path_factory.mktemp("demo_dicom")
    return dicom_files.save(dicom_files.gray_dataset(HEAD), str(folder / "upload_0001"))


def _upload(path, name="scan.dcm"):
    return {"path": path, "orig_name": name}


def test_dicom_upload_gives_the_hc_of_hc_tf_predict(runner, head, tmp_path):
    out = tmp_path / "out"
    res = CliRunner().invoke(cli.main, ["predict", head, "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    [record] = json.loads((out / "report.json").read_text())["images"]

    r = demo.predict_file(runner, head, None, name="scan.dcm")
    assert r.measurement.found and record["found"]
    assert abs(r.measurement.hc_mm - record["hc_mm"]) <= 1e-9
    assert r.measurement.pixel_size_mm == record["pixel_size_mm"]
    assert r.measurement.pixel_size_mm == pytest.approx(dicom_files.head_pixel_sizes()[HEAD])
    for key in ("frame", "pixel_size_source", "pixel_size_note"):
        assert r.dicom_fields[key] == record[key], key
    assert r.submission_csv.splitlines()[1].startswith("scan.dcm,")
    assert r.timings_ms["decode_ms"] > 0 and "decode" in r.time_text

    overlay, hc, ga, _, review, row, took = demo.measure_upload(runner, _upload(head), "")
    hc_line, px_line = hc.splitlines()
    assert hc_line == f"HC {record['hc_mm']:.2f} mm"
    assert px_line == (f"Pixel size {record['pixel_size_mm']:g} mm from dicom_us_region: "
                       + record["pixel_size_note"])
    assert "holds the head" in px_line and ga and review and overlay.shape[2] == 3
    # The page's number box sends 0 when empty: for a DICOM that means "none typed".
    assert demo.measure_upload(runner, _upload(head), 0)[1] == hc
    assert demo.measure_upload(runner, _upload(head), "-1")[1].startswith("Error: Pixel size '-1' is not positive")


def test_agreeing_typed_pixel_size_is_used_and_said(runner, head):
    px = dicom_files.head_pixel_sizes()[HEAD]
    r = demo.predict_file(runner, head, str(px), name="scan.dcm")
    assert r.dicom_fields["pixel_size_source"] == "dicom_us_region"
    assert r.pixel_size_text.endswith(f"the typed pixel size {px:g} mm agrees")


def test_disagreeing_typed_pixel_size_is_refused_unless_overridden(runner, head):
    overlay, hc, *rest = demo.measure_upload(runner, _upload(head), 0.3)
    assert overlay is None and rest == [""] * 5
    assert hc.startswith("Error: scan.dcm: the typed pixel size 0.3 mm disagrees with the "
                         "file's calibration"), hc
    assert "PhysicalDeltaX/Y (0018,602C/602E)" in hc and hc.endswith(dicom_upload.OVERRIDE_LABEL)
    assert os.path.dirname(head) not in hc  # the upload's name, not its temporary path

    r = demo.predict_file(runner, head, 0.3, name="scan.dcm", override=True)
    assert r.measurement.pixel_size_mm == 0.3
    assert r.dicom_fields["pixel_size_source"] == "typed_override"
    assert "forced by the page's 'use the typed pixel size over the file's calibration' box" \
        in r.pixel_size_text
    _, hc, *_ = demo.measure_upload(runner, _upload(head), 0.3, override=True)
    assert "Pixel size 0.3 mm from typed_override" in hc.splitlines()[1]
    _, hc, *_ = demo.measure_upload(runner, _upload(head), "", override=True)
    assert hc.startswith("Error: Override asked without a pixel size")
    # An API caller's string is not a tick: bool("false") would have forced the typed size.
    overlay, hc, *_ = demo.measure_upload(runner, _upload(head), 0.3, override="false")
    assert overlay is None and hc == "Error: the override box takes true or false, not 'false'."


def test_uncalibrated_file_is_refused_in_words(runner, tmp_path):
    gray = cv2.imread(dicom_files.head_png(HEAD), cv2.IMREAD_GRAYSCALE)
    path = dicom_files.save(dicom_files.dataset([gray]), str(tmp_path / "plain.dcm"))
    overlay, hc, *rest = demo.measure_upload(runner, _upload(path, "plain.dcm"), None)
    assert overlay is None and rest == [""] * 5
    assert hc.startswith("Error: plain.dcm: ") and "Traceback" not in hc
    assert "no Sequence of Ultrasound Regions (0018,6011)" in hc, hc
    assert hc.endswith("give a typed pixel size") and "--" not in hc, hc
    r = demo.predict_file(runner, path, 0.1, name="plain.dcm")  # a typed size stands in
    assert r.dicom_fields["pixel_size_source"] == "typed" and r.measurement.pixel_size_mm == 0.1
    assert r.pixel_size_text == "Pixel size 0.1 mm from typed: the typed pixel size: the file has no calibration"


def test_reader_refusals_are_words_and_bounded(runner, tmp_path):
    gray = cv2.imread(dicom_files.head_png(HEAD), cv2.IMREAD_GRAYSCALE)
    h, w = gray.shape
    huge = dicom_files.dataset([gray], regions=[dicom_files.region((0, 0, w - 1, h - 1), 0.1)])
    huge.Rows = huge.Columns = 60000  # refused from the header, before any pixel is decoded
    cases = {"huge.dcm": (huge, "over the 25000000-pixel input limit"),
             "unit4.dcm": (dicom_files.dataset([gray], regions=[dicom_files.region(
                 (0, 0, w - 1, h - 1), 0.1, (4, 4))]), "not cm (3)")}
    for name, (ds, words) in cases.items():
        path = dicom_files.save(ds, str(tmp_path / name))
        _, hc, *_ = demo.measure_upload(runner, _upload(path, name), None)
        assert hc.startswith(f"Error: {name}: ") and words in hc, hc
    coarse = dicom_files.dataset([gray], regions=[dicom_files.region((0, 0, w - 1, h - 1), 5.0)])
    path = dicom_files.save(coarse, str(tmp_path / "coarse.dcm"))
    _, hc, *_ = demo.measure_upload(runner, _upload(path, "coarse.dcm"), None)
    assert hc.startswith("Error: coarse.dcm: pixel size from dicom_us_region 5.0 mm is outside "
                         "the plausible") and "--" not in hc, hc
    trunc = dicom_files.save(dicom_files.gray_dataset(HEAD), str(tmp_path / "trunc.dcm"))
    data = open(trunc, "rb").read()
    open(trunc, "wb").write(data[:len(data) // 2])
    _, hc, *_ = demo.measure_upload(runner, _upload(trunc, "trunc.dcm"), None)
    assert hc.startswith("Error: trunc.dcm: ") and "Traceback" not in hc, hc


def test_first_frame_of_a_multi_frame_file(runner, tmp_path):
    frames = [cv2.imread(dicom_files.head_png(n), cv2.IMREAD_GRAYSCALE)
              for n in (HEAD, "019_HC.png")]
    h, w = frames[0].shape
    px = dicom_files.head_pixel_sizes()[HEAD]
    path = dicom_files.save(dicom_files.dataset(frames, regions=[dicom_files.region(
        (0, 0, w - 1, h - 1), px)]), str(tmp_path / "cine.dcm"))
    first = demo.predict_file(runner, path, None)
    alone = demo.predict_file(runner, dicom_files.save(dicom_files.gray_dataset(HEAD),
                                                       str(tmp_path / "one.dcm")), None)
    assert first.dicom_fields["frame"] == 1 and first.dicom_fields["dicom"]["frames_in_file"] == 2
    assert first.submission_csv.splitlines()[1].startswith("cine.dcm#1,")
    assert first.measurement.hc_mm == alone.measurement.hc_mm
    second = demo.predict_dicom(runner, path, None, frame=2)
    assert second.dicom_fields["frame"] == 2
    assert second.measurement.hc_mm != first.measurement.hc_mm


def test_png_uploads_still_need_a_typed_pixel_size(runner):
    path = dicom_files.head_png(HEAD)
    _, hc, *_ = demo.measure_upload(runner, _upload(path, HEAD), None)
    assert hc.startswith("Error: Pixel size missing")
    assert os.path.isfile(path)


def test_page_handler_takes_the_dicom_box_and_refuses_two_uploads(runner, head):
    from hc_tf.surfaces.demo import app
    png = {"path": dicom_files.head_png(HEAD), "orig_name": HEAD}
    handle = functools.partial(app._handle, runner, 600)  # as build_app binds it
    want = demo.measure_upload(runner, _upload(head), None)
    assert handle(None, None, "", False, _upload(head))[1] == want[1]
    overlay, hc, *_ = handle(png, None, "", False, _upload(head))
    assert overlay is None and hc == "Error: two uploads: clear the image or the DICOM file."


def test_the_page_measures_the_frame_asked_for(runner, tmp_path):
    """The page measured a DICOM file's first frame only (no frame box); now the frame box's
    frame, as `predict --frame N`, and a frame the file lacks, or a frame for a PNG, in words."""
    from hc_tf.surfaces.demo import app
    from hc_tf.surfaces import predict
    frames = [cv2.imread(dicom_files.head_png(n), cv2.IMREAD_GRAYSCALE) for n in (HEAD, "019_HC.png")]
    h, w = frames[0].shape
    px = dicom_files.head_pixel_sizes()[HEAD]
    path = dicom_files.save(dicom_files.dataset(frames, regions=[dicom_files.region(
        (0, 0, w - 1, h - 1), px)]), str(tmp_path / "cine.dcm"))
    want = predict.predict_files(demo.DEFAULT_MODEL, [path], str(tmp_path / "p"), frame=2).records[0]
    handle = functools.partial(app._handle, runner, 600)  # as build_app binds it
    _, hc, *_, row, _ = handle(None, None, "", False, _upload(path, "cine.dcm"), 2.0)  # Gradio's 2
    assert hc.startswith(f"HC {want['hc_mm']:.2f} mm") and row.splitlines()[1].startswith("cine.dcm#2,")
    assert handle(None, None, "", False, _upload(path, "cine.dcm"))[5] \
        .splitlines()[1].startswith("cine.dcm#1,")  # no frame given: frame 1, as before
    assert "no frame 3" in handle(None, None, "", False, _upload(path, "cine.dcm"), 3)[1]
    for bad in (0, 1.5, "two", True):
        assert handle(None, None, "", False, _upload(path, "cine.dcm"), bad)[1].startswith(
            "Error: the frame takes a whole number from 1"), bad
    png = {"path": dicom_files.head_png(HEAD), "orig_name": HEAD}
    assert "an image file has one frame" in handle(png, px, "", False, None, 2)[1]
