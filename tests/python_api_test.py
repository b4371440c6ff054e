"""hc-tf used as a Python library: the runners, arrays and files, errors and pixel sizes, each
as `hc-tf predict` has them (the reviewer's findings). No TensorFlow: the released model."""

import os
import threading

import numpy as np
import pytest

from hc_tf import edge
from hc_tf import inference
from hc_tf import models

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "hc_tf", "sample_data", "test_set")


@pytest.fixture(scope="module")
def runner():
    return inference.load_runner(models.released_edge_model(), num_threads=1)


def test_one_lite_runner_is_safe_from_several_threads(runner):
    """Unlocked, concurrent predicts on one LiteRunner raised LiteRT's RuntimeError ("There is
    at least 1 reference to internal data in the interpreter ...")."""
    assert isinstance(runner, edge.LiteRunner)
    x = np.random.default_rng(0).integers(0, 256, (2,) + runner.input_hw + (1,), np.uint8)
    want = runner.predict(x)
    errors, barrier = [], threading.Barrier(4)

    def work():
        try:
            barrier.wait()
            for _ in range(5):
                np.testing.assert_array_equal(runner.predict(x), want)
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(repr(err))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def _tinted(tmp_path):
    """A sample head tinted (red and blue differ): its RGB array and the PNG of those pixels."""
    import cv2
    gray = cv2.imread(os.path.join(SAMPLES, "000_HC.png"), cv2.IMREAD_GRAYSCALE)
    rgb = np.stack([gray, (gray * 0.8).astype(np.uint8), (gray * 0.5).astype(np.uint8)], axis=2)
    path = str(tmp_path / "tinted.png")
    assert cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return rgb, path


def test_an_array_in_rgb_order_measures_as_its_file(runner, tmp_path):
    import cv2
    rgb, path = _tinted(tmp_path)
    by_file = inference.measure_file(runner, path, 0.4717)[0].hc_mm
    assert inference.measure_image(runner, rgb, 0.4717)[0].hc_mm == by_file
    bgr = cv2.imread(path)  # BGR: converted as the docstring says, the file's numbers again
    assert inference.measure_image(runner, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
                                   0.4717)[0].hc_mm == by_file
    assert inference.measure_image(runner, cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY),
                                   0.4717)[0].hc_mm == by_file
    assert inference.measure_image(runner, bgr, 0.4717)[0].hc_mm != by_file  # why it's said


def test_a_translucent_rgba_array_is_refused_as_its_file_is(runner, tmp_path):
    """An RGBA array with alpha < 255 was measured where the same pixels as a file were refused."""
    import cv2
    from hc_tf import preprocess
    rgb, _ = _tinted(tmp_path)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    opaque = inference.measure_image(runner, rgba, 0.4717)[0]
    assert opaque.hc_mm == inference.measure_image(runner, rgb, 0.4717)[0].hc_mm
    rgba[0, 0, 3] = 128
    path = str(tmp_path / "translucent.png")
    assert cv2.imwrite(path, cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    with pytest.raises(ValueError) as by_file:
        inference.measure_file(runner, path, 0.4717)
    with pytest.raises(ValueError) as by_array:
        inference.measure_image(runner, rgba, 0.4717)
    assert str(by_file.value) == f"{path}: {preprocess.TRANSLUCENT}"
    assert str(by_array.value) == f"image: {preprocess.TRANSLUCENT}"


def test_a_missing_image_is_an_oserror_naming_it_as_documented(runner, tmp_path):
    """measure_file's docstring promised ValueError; a missing file raises FileNotFoundError."""
    missing = str(tmp_path / "missing.png")
    with pytest.raises(FileNotFoundError, match="missing.png"):
        inference.measure_file(runner, missing, 0.2)
    assert "OSError" in inference.measure_file.__doc__


def test_load_runner_takes_a_pathlib_path():
    """load_runner(pathlib.Path(...)) raised AttributeError ('endswith')."""
    import pathlib
    r = inference.load_runner(pathlib.Path(models.released_edge_model()), num_threads=1)
    assert r.input_hw == (224, 320) and r.interval_table is None and r.interval_note == ""
    with pytest.raises(ValueError, match="no such model file"):
        inference.load_runner(pathlib.Path("nope.tflite"))


def test_the_batch_entry_points_refuse_an_implausible_pixel_size(runner):
    """predict_batch/predict_samples used a pixel size unchecked: Sample(..., 50.0) gave HC
    31358 mm, where measure_image and the CLI refuse it."""
    from hc_tf import measure
    from hc_tf import preprocess
    gray = preprocess.read_gray_image(os.path.join(SAMPLES, "000_HC.png"))
    with pytest.raises(measure.ImplausiblePixelSizeError, match="^x.png: pixel size 50.0 "):
        inference.predict_batch(runner, [inference.Sample("x.png", gray, 50.0)])
    with pytest.raises(measure.ImplausiblePixelSizeError, match="^x.png: pixel size 50.0 "):
        list(inference.predict_samples(runner, [inference.Sample("x.png", gray, 50.0)]))
    with pytest.raises(ValueError, match="not positive"):
        inference.predict_batch(runner, [inference.Sample("x.png", gray, 0.0,
                                                          allow_implausible_pixel_size=True)])
    allowed = inference.Sample("x.png", gray, 2.5, allow_implausible_pixel_size=True)
    (pred,) = inference.predict_batch(runner, [allowed])  # the user's explicit choice
    m, _ = inference.measure_image(runner, gray, 2.5, allow_implausible_pixel_size=True)
    assert pred.measurement.hc_mm == m.hc_mm
    with pytest.raises(measure.ImplausiblePixelSizeError):
        inference.measure_image(runner, gray, 2.5)


def test_a_models_metadata_is_found_by_one_rule(tmp_path):
    """dicom_sr.model_info read `splitext(path) + .json`: a .keras took the model_version of
    the .tflite's model.json exported beside it; every reader now uses edge.metadata_path."""
    import json
    from hc_tf import __version__
    from hc_tf.report import dicom_sr
    (tmp_path / "model.tflite").write_bytes(b"tflite bytes")
    (tmp_path / "model.keras").write_bytes(b"keras bytes")
    (tmp_path / "model.json").write_text(json.dumps({"model_version": "9.9"}))
    lite = dicom_sr.model_info(str(tmp_path / "model.tflite"))
    assert lite.version == "9.9"
    assert lite.sha256 == edge.sha256_file(str(tmp_path / "model.tflite"))
    keras = dicom_sr.model_info(str(tmp_path / "model.keras"))
    assert edge.metadata_path(str(tmp_path / "model.keras")).endswith("model.keras.json")
    assert keras.version == __version__
    assert models.released_sha256s() == {
        json.load(open(edge.metadata_path(models.released_edge_model())))[k]
        for k in ("tflite_sha256", "source_model_sha256")}
