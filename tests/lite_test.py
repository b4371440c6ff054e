"""Tests of hc_tf.export.export_lib and its parts (lite_convert, lite_ops, lite_metadata, lite_bias):
Keras -> TFLite conversion, op report, metadata, export."""

import hashlib
import json
import os

import numpy as np
import pytest

import tiny_models as T
from hc_tf import __version__
from hc_tf import edge
from hc_tf.export import export_lib as lite
from hc_tf.export import int8_bias as lite_bias
from hc_tf.export import convert as lite_convert
from hc_tf.export import metadata as lite_metadata
from hc_tf.export import op_report as lite_ops

STEP = 1.0 / 256.0  # the int8 sigmoid output's quantization step


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny UNet exported as float32 and int8 (uint8 I/O), and its Keras output."""
    model, images, _ = T.tiny_unet()
    out = tmp_path_factory.mktemp("lite")
    f32 = str(out / "tiny_float32.tflite")
    i8 = str(out / "tiny_int8.tflite")
    reports = {
        "float32": lite.export(model, f32, "float32"),
        "int8": lite.export(model, i8, "int8", representative=images,
                            validation={"adf_mm_mean": 1.23, "split": "validation"}),
    }
    return {"model": model, "images": images, "keras": T.keras_prob(model, images),
            "float32": f32, "int8": i8, "reports": reports}


@pytest.fixture(scope="module")
def blob(tmp_path_factory):
    out = tmp_path_factory.mktemp("blob")
    model, path = T.saved_blob_model(out)
    images, _, _ = T.synthetic_images(4, seed=3)
    return {"model": model, "path": path, "dir": out, "images": images,
            "keras": T.keras_prob(model, images)}


def test_tiny_model_output_is_not_trivial(tiny):
    p = tiny["keras"]
    assert p.min() < 0.2 and p.max() > 0.8, "the test model should output a real blob"


def test_float32_matches_keras(tiny):
    runner = edge.LiteRunner(tiny["float32"])
    assert runner.input_hw == T.TINY_HW
    assert runner.input_dtype == np.uint8 and runner.output_dtype == np.float32
    p = runner.predict(tiny["images"])
    assert p.shape == tiny["keras"].shape and p.dtype == np.float32
    np.testing.assert_allclose(p, tiny["keras"], atol=1e-4)


def test_int8_within_a_few_quantization_steps(tiny):
    runner = edge.LiteRunner(tiny["int8"])
    assert runner.output_scale == pytest.approx(STEP)
    diff = np.abs(runner.predict(tiny["images"]) - tiny["keras"])
    # A random (untrained) encoder quantizes worse than a trained one (seeded: mean
    # ~4 steps, 99th percentile ~22, 1.3% of mask pixels flip); the bounds catch a
    # broken conversion (wrong scale / zero point gives tens of steps everywhere).
    # Real accuracy is the parity report on HC18 with the trained model.
    assert diff.mean() < 6 * STEP, diff.mean() / STEP
    assert np.percentile(diff, 99) < 32 * STEP, np.percentile(diff, 99) / STEP
    assert ((runner.predict(tiny["images"]) > 0.5) != (tiny["keras"] > 0.5)).mean() < 0.03


def test_int8_report_has_no_float_ops(tiny):
    report = tiny["reports"]["int8"]
    assert report["float_ops"] == [] and report["float_tensors"] == []
    assert report["ops"]["CONV_2D"] > 0 and report["ops"]["DEPTHWISE_CONV_2D"] > 0
    assert set(report["ops"]) <= {"ADD", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D",
                                  "LOGISTIC", "MEAN", "MUL", "QUANTIZE", "DEPTH_TO_SPACE",
                                  "PAD"}, report["ops"]
    # The decoder's nearest upsampling runs as DEPTH_TO_SPACE (XNNPACK), not TILE + RESHAPE.
    assert report["ops"]["DEPTH_TO_SPACE"] == 5
    assert report["input"]["dtype"] == "uint8"
    assert (report["input"]["scale"], report["input"]["zero_point"]) == (1.0, 0)
    assert report["output"]["dtype"] == "uint8"
    assert report["output"]["scale"] == pytest.approx(STEP) and report["output"]["zero_point"] == 0
    assert report["input"]["shape"] == [1, 64, 96, 1] and report["output"]["shape"] == [1, 64, 96, 1]
    lite_ops.check_int8(report, "uint8")  # no raise


def test_float_model_fails_the_int8_check(tiny):
    report = tiny["reports"]["float32"]
    assert report["float_ops"] and report["float_tensors"]
    assert {t["dtype"] for t in report["float_tensors"]} == {"float32"}
    with pytest.raises(lite_ops.FloatOpsError, match="computes in float: .*CONV_2D"):
        lite_ops.check_int8(report, "uint8")


def test_int8_size_is_about_a_quarter(tiny):
    f32 = os.path.getsize(tiny["float32"])
    i8 = os.path.getsize(tiny["int8"])
    assert 0.2 < i8 / f32 < 0.4
    assert tiny["reports"]["int8"]["size_bytes"] == i8


def test_metadata_json(tiny):
    path = lite_metadata.metadata_path(tiny["int8"])
    assert path.endswith("tiny_int8.json") and tiny["reports"]["int8"]["metadata_path"] == path
    with open(path) as f:
        meta = json.load(f)
    with open(tiny["int8"], "rb") as f:
        assert meta["tflite_sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert meta["model_version"] == __version__ and meta["mode"] == "int8"
    assert (meta["input"]["height"], meta["input"]["width"]) == (64, 96)
    assert meta["input"]["dtype"] == "uint8"
    assert (meta["input"]["scale"], meta["input"]["zero_point"]) == (1.0, 0)
    assert meta["output"]["dtype"] == "uint8" and meta["output"]["zero_point"] == 0
    assert meta["output"]["scale"] == pytest.approx(STEP)
    assert meta["output"]["threshold"] == 0.5
    assert meta["output"]["quantized_threshold_exclusive"] == pytest.approx(128.0)
    lb = meta["preprocessing"]["letterbox"]
    assert "x_model = (x + 0.5) * scale_x - 0.5 + offset_x" in lb["original_to_model"]
    assert "INTER_AREA" in lb["interpolation"] and lb["pad_value"] == 0
    assert "gray / 255" in meta["preprocessing"]["normalization"]
    assert "HC18" in meta["training_data"]
    assert meta["validation"] == {"adf_mm_mean": 1.23, "split": "validation"}
    assert meta["calibration"]["n"] == len(tiny["images"])


def test_export_checks_its_arguments(tiny, tmp_path):
    with pytest.raises(ValueError, match="data-dir"):
        lite.export(tiny["model"], str(tmp_path / "x.tflite"), "int8", data_dir=None)
    with pytest.raises(ValueError, match="representative"):
        lite_convert.convert(tiny["model"], "int8")
    with pytest.raises(ValueError, match="mode"):
        lite_convert.convert(tiny["model"], "int4")
    with pytest.raises(ValueError, match="io_dtype"):
        lite_convert.convert(tiny["model"], "float32", io_dtype="int8")
    with pytest.raises(ValueError, match="representative must be"):
        lite_convert.convert(tiny["model"], "int8", representative=np.zeros((2, 32, 32, 1), np.uint8))
    with pytest.raises(ValueError, match="no such model file"):
        lite.export(str(tmp_path / "missing.keras"), str(tmp_path / "x.tflite"), "float32")
    assert not os.path.exists(tmp_path / "x.tflite")


def test_float16_and_dynamic_from_a_saved_model(blob):
    for mode, tol in (("float16", 2e-3), ("dynamic", 2e-2)):
        out = str(blob["dir"] / f"blob_{mode}.tflite")
        report = lite.export(blob["path"], out, mode)
        assert report["mode"] == mode and os.path.isfile(out)
        with open(lite_metadata.metadata_path(out)) as f:
            meta = json.load(f)
        assert meta["source_model"] == "blob.keras" and len(meta["source_model_sha256"]) == 64
        assert meta["input"]["dtype"] == "uint8" and meta["output"]["dtype"] == "float32"
        p = edge.LiteRunner(out).predict(blob["images"])
        np.testing.assert_allclose(p, blob["keras"], atol=tol)


def test_int8_with_float_io(blob):
    data = lite_convert.convert(blob["model"], "int8", representative=blob["images"], io_dtype="float32")
    report = lite_ops.op_report(data)
    assert report["float_ops"] == []  # only the input QUANTIZE / output DEQUANTIZE touch float
    assert report["input"]["dtype"] == "float32" and report["output"]["dtype"] == "float32"
    assert "QUANTIZE" in report["ops"] and "DEQUANTIZE" in report["ops"]
    path = blob["dir"] / "blob_int8_float_io.tflite"
    path.write_bytes(data)
    diff = np.abs(edge.LiteRunner(str(path)).predict(blob["images"]) - blob["keras"])
    assert diff.max() < 4 * STEP


def test_int8_with_int8_io(blob):
    data = lite_convert.convert(blob["model"], "int8", representative=blob["images"], io_dtype="int8")
    report = lite_ops.op_report(data)
    assert report["float_ops"] == [] and report["float_tensors"] == []
    assert report["input"]["dtype"] == "int8" and report["input"]["zero_point"] == -128
    path = blob["dir"] / "blob_int8_int8_io.tflite"
    path.write_bytes(data)
    diff = np.abs(edge.LiteRunner(str(path)).predict(blob["images"]) - blob["keras"])
    assert diff.max() < 4 * STEP


def test_cli_export_records_the_validation_summary(blob):
    from click.testing import CliRunner
    from hc_tf import cli
    summary = blob["dir"] / "summary.json"
    summary.write_text(json.dumps({"n": 3, "adf_mm_mean": 1.5}))
    out = blob["dir"] / "blob_cli.tflite"
    result = CliRunner().invoke(cli.main, ["export", "--model", blob["path"], "--out", str(out),
                                           "--validation-summary", str(summary)])
    assert result.exit_code == 0, result.output
    assert "float tensors" in result.output
    with open(lite_metadata.metadata_path(str(out))) as f:
        meta = json.load(f)
    assert meta["validation"]["source_model_summary"] == {"n": 3, "adf_mm_mean": 1.5}
    assert meta["validation"]["file"] == "summary.json"  # its name, not the machine's path
    summary.write_text("not json")
    result = CliRunner().invoke(cli.main, ["export", "--model", blob["path"], "--out", str(out),
                                           "--validation-summary", str(summary)])
    assert result.exit_code != 0 and "summary.json: not a JSON summary" in result.output


def test_cli_export_of_an_all_data_model_records_the_cross_validated_figures(blob):
    from click.testing import CliRunner
    from hc_tf import cli
    summary = blob["dir"] / "cv_summary.json"
    summary.write_text(json.dumps({"int8": {"all": {"n": 896, "adf_mm_mean": 1.9}}}))
    out = blob["dir"] / "blob_all.tflite"
    result = CliRunner().invoke(cli.main, ["export", "--model", blob["path"], "--out", str(out),
                                           "--cross-validation-summary", str(summary)])
    assert result.exit_code == 0, result.output
    with open(lite_metadata.metadata_path(str(out))) as f:
        meta = json.load(f)
    assert meta["validation"]["cross_validated"]["int8"]["all"]["n"] == 896
    assert meta["validation"]["file"] == "cv_summary.json"
    assert "source_model_summary" not in meta["validation"]
    assert "all labelled images" in meta["training_data"]
    both = CliRunner().invoke(cli.main, ["export", "--model", blob["path"], "--out", str(out),
                                         "--cross-validation-summary", str(summary),
                                         "--validation-summary", str(summary)])
    assert both.exit_code != 0 and "not both" in both.output


def test_cli_export_keeps_the_source_model_and_an_existing_output(blob, tmp_path):
    from click.testing import CliRunner
    from hc_tf import cli
    model = tmp_path / "m.keras"
    model.write_bytes(open(blob["path"], "rb").read())
    before = model.read_bytes()
    # --out naming the model itself wrote the TFLite bytes over it.
    result = CliRunner().invoke(cli.main, ["export", "--model", str(model), "--out", str(model)])
    assert result.exit_code == 2 and "not a .tflite file name" in result.output
    assert model.read_bytes() == before and not (tmp_path / "m.keras.json").exists()
    out = tmp_path / "m.tflite"
    assert CliRunner().invoke(cli.main, ["export", "--model", str(model)]).exit_code == 0
    first = out.read_bytes()
    out.write_bytes(b"the user's own file")
    again = CliRunner().invoke(cli.main, ["export", "--model", str(model)])
    assert again.exit_code == 1 and f"{out}: exists; pass --overwrite" in again.output
    assert out.read_bytes() == b"the user's own file"
    forced = CliRunner().invoke(cli.main, ["export", "--model", str(model), "--overwrite"])
    assert forced.exit_code == 0, forced.output
    assert out.read_bytes() == first


def test_head_logit_gap_measures_a_known_shift(blob):
    """A float model whose head logits are shifted by +0.5 shows a gap of -0.5."""
    shifted = lite_bias.shift_head_logits(blob["model"], 0.5)
    z = np.log(blob["keras"] / (1 - blob["keras"]))
    p = T.keras_prob(shifted, blob["images"])
    ok = np.abs(z) < 6
    np.testing.assert_allclose(p[ok], 1 / (1 + np.exp(-(z[ok] + 0.5))), atol=1e-5)
    gap = lite_bias.head_logit_gap(blob["model"], lite_convert.convert(shifted, "float32"), blob["images"])
    assert gap == pytest.approx(-0.5, abs=1e-3)


def test_int8_export_records_its_head_bias_correction(tiny):
    fix = tiny["reports"]["int8"]["calibration"]["head_bias_correction"]
    assert fix["images"] == len(tiny["images"])
    assert fix["logit_gap_before"] is not None
    assert abs(fix["logit_gap_after"]) <= max(abs(fix["logit_gap_before"]), 1e-3)
    with open(lite_metadata.metadata_path(tiny["int8"])) as f:
        assert json.load(f)["calibration"]["head_bias_correction"] == fix


@pytest.mark.parametrize("gaps, kept, applied, after", [
    ((-0.055, 0.069), b"plain", False, -0.055),   # the shift overshoots: not kept
    ((0.23, -0.01), b"shifted", True, -0.01),     # the shift closes the gap: kept
])
def test_head_bias_correction_keeps_the_conversion_with_the_smaller_gap(
        monkeypatch, gaps, kept, applied, after):
    conversions = iter([b"plain", b"shifted"])
    measured = iter(gaps)
    monkeypatch.setattr(lite_bias, "convert", lambda *args: next(conversions))
    monkeypatch.setattr(lite_bias, "shift_head_logits", lambda model, shift: model)
    monkeypatch.setattr(lite_bias, "head_logit_gap", lambda *args: next(measured))
    tflite, info = lite_bias.convert_int8_bias_corrected(object(), np.zeros((4, 8, 8, 1)))
    assert tflite == kept
    assert info["applied"] is applied
    assert info["logit_gap_after"] == after and info["logit_gap_shifted"] == gaps[1]


@pytest.mark.parametrize("fix, printed", [
    (dict(applied=True, logit_gap_before=0.23, logit_gap_after=-0.01, logit_gap_shifted=-0.01),
     "logit gap +0.2300 -> -0.0100 on 64"),
    (dict(applied=False, logit_gap_before=-0.055, logit_gap_after=-0.055, logit_gap_shifted=0.069),
     "logit gap -0.0550 not applied (shifted model +0.0690, no smaller) on 64"),
])
def test_export_prints_whether_the_head_bias_correction_was_applied(monkeypatch, tmp_path,
                                                                     fix, printed):
    from click.testing import CliRunner
    from hc_tf import cli
    report = {"ops": {"CONV_2D": 1}, "size_mb": 1.0, "float_tensors": [],
              "calibration": {"head_bias_correction": dict(fix, images=64)}}
    monkeypatch.setattr(lite, "export", lambda *args, **kwargs: report)
    result = CliRunner().invoke(cli.main, ["export", "--model", str(tmp_path / "m.keras"),
                                           "--int8"])
    assert result.exit_code == 0, result.output
    assert f"head bias correction: {printed} calibration images" in result.output


def test_flip_tta_model_converts_to_int8_and_takes_a_small_head_shift(tiny):
    """On the flip-TTA model a head shift under one int8 logit step must still reach the
    edge model (applied before the average it folds into the conv bias; after it, an
    int8 ADD rounded 0.05 logit away and bias correction silently did nothing)."""
    from hc_tf.modeling import model as model_lib
    tta = model_lib.with_flip_tta(tiny["model"])
    plain = lite_convert.convert(tta, "int8", tiny["images"])
    assert "REVERSE_V2" in lite_ops.op_report(plain)["ops"]
    shifted = lite_bias.shift_head_logits(tta, 0.05)
    assert model_lib.has_flip_tta(shifted)
    before = lite_bias.head_logit_gap(tta, plain, tiny["images"])
    after = lite_bias.head_logit_gap(
        tta, lite_convert.convert(shifted, "int8", tiny["images"]), tiny["images"])
    assert after - before == pytest.approx(-0.05, abs=0.02)
