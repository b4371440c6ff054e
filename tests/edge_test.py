"""Tests of hc_tf.edge: the TensorFlow-free TFLite runtime."""

import json
import math
import os
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

import tiny_models as T
from hc_tf import edge
from hc_tf import inference

STEP = 1.0 / 256.0
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The blob model as int8 (uint8 I/O) and float32 .tflite files, and a test image."""
    from hc_tf.export import convert as lite_convert
    out = tmp_path_factory.mktemp("edge")
    model = T.blob_model()
    images, _, _ = T.synthetic_images(6, seed=5)
    paths = {}
    for mode in ("int8", "float32"):
        paths[mode] = str(out / f"blob_{mode}.tflite")
        (out / f"blob_{mode}.tflite").write_bytes(
            lite_convert.convert(model, mode, representative=images if mode == "int8" else None))
    # A 3x larger "scan" (192x288) of a known head: letterboxed to 64x96 by the runtime.
    big, _, ells = T.synthetic_images(1, hw=(192, 288), seed=7)
    png = str(out / "scan.png")
    cv2.imwrite(png, big[0, :, :, 0])
    return {"paths": paths, "images": images, "keras": T.keras_prob(model, images),
            "png": png, "ellipse": ells[0], "dir": out}


def test_runner_io(models):
    runner = edge.LiteRunner(models["paths"]["int8"], num_threads=2)
    assert runner.input_hw == T.TINY_HW
    assert runner.input_dtype == np.uint8 and runner.output_dtype == np.uint8
    assert (runner.input_scale, runner.input_zero_point) == (1.0, 0)
    x = models["images"][0]
    q = runner.quantize_input(x)
    assert q.dtype == np.uint8 and q.shape == (1, 64, 96, 1)
    np.testing.assert_array_equal(q[0], x)  # the raw pixel goes in as it is
    p = runner.predict(models["images"])
    assert p.shape == (6, 64, 96) and p.dtype == np.float32
    assert 0.0 <= p.min() and p.max() <= 1.0
    np.testing.assert_array_equal(runner.predict(models["images"][..., 0]), p)  # (B, H, W) too
    # Dequantized output is on the 1/256 grid and within a few steps of Keras.
    np.testing.assert_allclose(p * 256, np.round(p * 256), atol=1e-4)
    assert np.abs(p - models["keras"]).max() < 4 * STEP


def test_float_runner_matches_keras(models):
    runner = edge.LiteRunner(models["paths"]["float32"])
    assert runner.input_dtype == np.uint8 and runner.output_dtype == np.float32
    np.testing.assert_allclose(runner.predict(models["images"]), models["keras"], atol=1e-5)


def test_runner_errors(models, tmp_path):
    missing = str(tmp_path / "nope.tflite")
    with pytest.raises(ValueError, match="nope.tflite: no such"):
        edge.LiteRunner(missing)
    bad = tmp_path / "corrupt.tflite"
    bad.write_bytes(b"this is not a flatbuffer" * 10)
    with pytest.raises(ValueError, match="corrupt.tflite: not a loadable TFLite model"):
        edge.LiteRunner(str(bad))
    runner = edge.LiteRunner(models["paths"]["int8"])
    with pytest.raises(ValueError, match="expected"):
        runner.predict(np.zeros((1, 32, 32, 1), np.uint8))


def test_the_kernels_are_chosen_and_a_bad_choice_is_refused(models):
    for kernels in edge.KERNELS:
        runner = edge.LiteRunner(models["paths"]["int8"], kernels=kernels)
        assert runner.kernels == kernels and runner.predict(models["images"]).shape == (6, 64, 96)
    with pytest.raises(ValueError, match="kernels must be one of xnnpack, builtin, got 'gpu'"):
        edge.LiteRunner(models["paths"]["int8"], kernels="gpu")


def test_measure_file(models):
    runner = edge.LiteRunner(models["paths"]["int8"])
    m, ms = inference.measure_file(runner, models["png"], pixel_size_mm=0.2)
    assert m.found, m.reason
    cx, cy, a, b, _ = models["ellipse"]
    assert m.ellipse.cx == pytest.approx(cx, abs=3) and m.ellipse.cy == pytest.approx(cy, abs=3)
    true_hc = T.ellipse_hc_px(a, b) * 0.2
    assert m.hc_mm == pytest.approx(true_hc, rel=0.05)
    assert set(ms) == {"decode_ms", "letterbox_ms", "invoke_ms", "measure_ms", "total_ms"}
    assert all(v >= 0 and math.isfinite(v) for v in ms.values())
    assert ms["total_ms"] >= ms["invoke_ms"]
    gray = cv2.imread(models["png"], cv2.IMREAD_GRAYSCALE)
    m2, ms2 = inference.measure_image(runner, gray, 0.2)
    assert m2 == m and "decode_ms" not in ms2
    with pytest.raises((ValueError, FileNotFoundError), match="missing.png"):
        inference.measure_file(runner, str(models["dir"] / "missing.png"), 0.2)


NO_TF_SCRIPT = textwrap.dedent("""
    import importlib.abc, json, sys

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "keras", "tf_keras", "segmentation_models",
                                      "tensorflow_datasets"):
                raise ImportError(f"blocked import of {name}")
            return None

    sys.meta_path.insert(0, Block())
    from hc_tf import edge
    from hc_tf import inference
    runner = edge.LiteRunner(sys.argv[1])
    m, ms = inference.measure_file(runner, sys.argv[2], 0.2)
    bad = sorted(k for k in sys.modules if k.split(".")[0] in ("tensorflow", "keras"))
    print(json.dumps({"found": m.found, "hc_mm": m.hc_mm, "hw": runner.input_hw, "bad": bad}))
""")


def test_edge_runs_without_tensorflow(models):
    res = subprocess.run([sys.executable, "-c", NO_TF_SCRIPT, models["paths"]["int8"], models["png"]],
                         capture_output=True, text=True, cwd=REPO, timeout=120,
                         env={**os.environ, "PYTHONPATH": REPO})
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["bad"] == [] and out["found"] and out["hw"] == [64, 96]
    runner = edge.LiteRunner(models["paths"]["int8"])
    assert out["hc_mm"] == pytest.approx(inference.measure_file(runner, models["png"], 0.2)[0].hc_mm,
                                         abs=1e-9)


# --- the model's sha256 against its metadata ---------------

COMMITTED = os.path.join(REPO, "hc_tf", "models", "hc_effunet_int8.tflite")


def _copy_with_metadata(folder, flip_bytes=0):
    """The committed int8 model and its metadata copied to `folder`, with `flip_bytes`
    bytes of the model inverted in its middle."""
    data = bytearray(open(COMMITTED, "rb").read())
    mid = len(data) // 2
    data[mid:mid + flip_bytes] = bytes(255 - b for b in data[mid:mid + flip_bytes])
    path = folder / "model.tflite"
    path.write_bytes(bytes(data))
    (folder / "model.json").write_bytes(open(edge.metadata_path(COMMITTED), "rb").read())
    return path


def test_a_model_matching_its_metadata_loads(tmp_path):
    runner = edge.LiteRunner(_copy_with_metadata(tmp_path))
    assert runner.input_hw == (224, 320)


def test_a_corrupted_model_is_refused_by_its_metadata_checksum(tmp_path):
    path = _copy_with_metadata(tmp_path, flip_bytes=2000)
    with pytest.raises(ValueError, match=r"model.tflite: sha256 .* differs from tflite_sha256 "
                                         r".* in .*model.json: the model file is corrupt"):
        edge.LiteRunner(path)
    from click.testing import CliRunner
    from hc_tf import cli
    result = CliRunner().invoke(cli.main, ["predict", "--model", str(path), "--pixel-size", "0.1",
                                           "--out", str(tmp_path / "out"), COMMITTED])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith("Error: ") and "differs from tflite_sha256" in result.output


def test_unreadable_metadata_is_refused(tmp_path):
    path = _copy_with_metadata(tmp_path)
    (tmp_path / "model.json").write_bytes(b"{not json")
    with pytest.raises(ValueError, match="model.json: the metadata beside .* is not readable JSON"):
        edge.LiteRunner(path)
