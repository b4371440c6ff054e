"""A blank frame (black, one gray level) is refused with a reason, never given a "head"; every
real image the project ships passes the check. The JavaScript port is held to the same verdicts
by postprocess_golden.json's "contrast" cases (web_app/test/image_contrast.test.js)."""

import dataclasses
import glob
import json
import os

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from hc_tf import SAMPLE_DIR, cli, defaults, inference, preprocess
from hc_tf.measure import image_contrast

ROOT = os.path.join(os.path.dirname(__file__), "..")
MODEL = os.path.join(ROOT, "hc_tf", "models", "hc_effunet_int8.tflite")
UNIFORM = "image too uniform to measure"


@pytest.fixture(scope="module")
def runner():
    return inference.load_runner(MODEL, num_threads=1)


def _levels(img):
    return image_contrast.contrast_levels(*preprocess.letterbox_image(img, defaults.INPUT_HW))


def _split(n_low, low, high):
    img = np.full(defaults.INPUT_HW, high, np.uint8)
    img.flat[:n_low] = low
    return img


def test_the_padding_is_not_the_image():
    # A uniform square letterboxed onto black: 0 and 200 would span 200; the image spans 0.
    assert _levels(np.full((300, 300), 200, np.uint8)) == (200, 200)


def test_each_tail_needs_more_than_one_percent_of_the_pixels():
    n = defaults.INPUT_HW[0] * defaults.INPUT_HW[1]  # 71680: 1% is 716.8 pixels
    assert _levels(_split(716, 0, 128)) == (128, 128)
    assert _levels(_split(717, 0, 128)) == (0, 128)
    assert _levels(_split(n - 717, 128, 255)) == (128, 255)
    assert _levels(_split(n - 716, 128, 255)) == (128, 128)


def test_the_span_limit():
    ok = _split(224 * 160, 100, 100 + defaults.MIN_CONTRAST_LEVELS)
    short = _split(224 * 160, 100, 99 + defaults.MIN_CONTRAST_LEVELS)
    assert image_contrast.too_uniform_reason(*preprocess.letterbox_image(ok, defaults.INPUT_HW)) == ""
    reason = image_contrast.too_uniform_reason(*preprocess.letterbox_image(short, defaults.INPUT_HW))
    assert reason == (f"{UNIFORM}: 98% of its pixels lie in gray levels 100-115, a span of 15 "
                      f"(at least {defaults.MIN_CONTRAST_LEVELS} needed): a blank frame?")


def _blank_frames():
    marked = np.full((540, 800), 60, np.uint8)
    cv2.putText(marked, "FROZEN", (40, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 255, 3)  # burnt-in text
    return {"black": np.zeros((270, 400), np.uint8), "gray": np.full((540, 800), 128, np.uint8),
            "text_on_gray": marked}


@pytest.mark.parametrize("name", sorted(_blank_frames()))
def test_a_blank_frame_is_not_measured(runner, name):
    m = inference.predict_batch(runner, [inference.Sample(name, _blank_frames()[name], 0.2)])[0].measurement
    assert not m.found and m.reason.startswith(UNIFORM), m.reason
    assert m.hc_mm is None or not m.found


def test_every_shipped_ultrasound_image_has_contrast_and_a_head(runner):
    paths = sorted(glob.glob(os.path.join(SAMPLE_DIR, "*_set", "*_HC.png"))
                   + glob.glob(os.path.join(ROOT, "android_demo_assets", "samples", "*.png")))
    assert len(paths) >= 20
    samples = [inference.Sample(os.path.basename(p), preprocess.read_gray_image(p), 0.15)
               for p in paths]
    for s in samples:
        lo, hi = _levels(s.image)
        assert hi - lo >= 4 * defaults.MIN_CONTRAST_LEVELS, (s.filename, lo, hi)
    for pred in inference.predict_samples(runner, samples):
        assert pred.measurement.found, (pred.sample.filename, pred.measurement.reason)


def test_predict_reports_a_blank_frame_as_not_found_beside_a_head(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    cv2.imwrite(str(folder / "black.png"), np.zeros((540, 800), np.uint8))
    head = sorted(glob.glob(os.path.join(SAMPLE_DIR, "test_set", "*_HC.png")))[0]
    (folder / "head.png").write_bytes(open(head, "rb").read())
    out = tmp_path / "out"
    result = CliRunner().invoke(cli.main, ["predict", "--model", MODEL, str(folder),
                                           "--pixel-size", "0.15", "--out", str(out), "-q"])
    records = {r["filename"]: r for r in json.loads((out / "report.json").read_text())["images"]}
    assert records["head.png"]["found"], result.output
    assert not records["black.png"]["found"]
    assert records["black.png"]["reason"].startswith(UNIFORM)
    assert records["black.png"]["hc_mm"] is None


def test_a_blank_dicom_frame_stays_not_found_when_its_pixel_size_is_chosen(tmp_path, monkeypatch):
    """dicom_predict re-measures a frame when the head's region gives another pixel size; a
    refused blank frame must not come back as a "head" from its probability map."""
    pytest.importorskip("pydicom")
    from hc_tf.io import dicom_pixel_size
    from hc_tf.surfaces import dicom_predict
    from tests import dicom_files
    gray = np.full((540, 800), 128, np.uint8)
    path = dicom_files.save(dicom_files.dataset(
        [gray], regions=[dicom_files.region((0, 0, 799, 539), 0.15)]), str(tmp_path / "blank.dcm"))
    real = dicom_pixel_size.choose_pixel_size
    monkeypatch.setattr(dicom_pixel_size, "choose_pixel_size", lambda *a, **k: dataclasses.replace(
        real(*a, **k), pixel_size_mm=0.2))  # as if the head's region differed from the first
    runner = inference.load_runner(MODEL, num_threads=1)
    (pred,) = inference.predict_samples(runner, dicom_predict.samples(path, None, None, False))
    pred, _ = dicom_predict.finish(runner, pred)
    assert not pred.measurement.found and pred.measurement.reason.startswith(UNIFORM)
    assert pred.measurement.pixel_size_mm == 0.2
