"""Bad input ends in one line naming the file (and row) and the problem.

Runs the committed int8 model through the TensorFlow-free edge runtime: fast.
"""


import os
import types

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from hc_tf import cli
from hc_tf.surfaces import demo
from hc_tf import edge
from hc_tf.surfaces import hc18_folder
from hc_tf import inference
from hc_tf.io import file_names
from hc_tf import measure as M
from hc_tf import preprocess
from hc_tf.surfaces import dicom_predict
from hc_tf.surfaces import predict as predict_lib
from hc_tf.surfaces import predict_inputs

MODEL = demo.DEFAULT_MODEL


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    """One 270x400 image of a bright filled ellipse."""
    d = tmp_path_factory.mktemp("images")
    mask = M.rasterize_ellipse(M.Ellipse(200, 135, 120, 90, 0.3), (270, 400))
    cv2.imwrite(str(d / "000_HC.png"), np.where(mask > 0, 200, 20).astype(np.uint8))
    return d


def _predict(*args):
    return CliRunner().invoke(cli.main, ["predict", "--model", MODEL, *map(str, args)])


def _one_line_error(result, *parts):
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), result.exception  # a handled error
    error = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1, result.output
    for part in parts:
        assert part in error[0], result.output


# --- item 6: one plausible pixel-size range ---------------------------------

@pytest.mark.parametrize("value", [1e300, 1e-5, 2.5, 0.009])
def test_check_pixel_size_refuses_implausible_values(value):
    with pytest.raises(M.ImplausiblePixelSizeError, match="plausible range 0.01-2 mm"):
        M.check_pixel_size(value)
    assert M.check_pixel_size(value, allow_implausible=True) == value


@pytest.mark.parametrize("value", [0.01, 0.052, 0.326, "0.1", 2])
def test_check_pixel_size_accepts_plausible_values(value):
    assert M.check_pixel_size(value) == float(value)


def test_predict_refuses_an_absurd_pixel_size_unless_allowed(image_dir, tmp_path):
    _one_line_error(_predict(image_dir, "--pixel-size", "1e300", "--out", tmp_path / "a"),
                    "--pixel-size 1e+300 mm is outside the plausible range",
                    "--allow-any-pixel-size")
    assert not (tmp_path / "a").exists()
    result = _predict(image_dir, "--pixel-size", "3", "--allow-any-pixel-size",
                      "--out", tmp_path / "b")
    assert result.exit_code == 0, result.output


def test_predict_names_the_csv_row_with_an_absurd_pixel_size(image_dir, tmp_path):
    csv_path = tmp_path / "pixels.csv"
    csv_path.write_text("filename,pixel size(mm)\n000_HC.png,1e300\n")
    _one_line_error(_predict(image_dir, "--pixel-csv", csv_path, "--out", tmp_path / "o"),
                    f"{csv_path} row 2 (000_HC.png): pixel size '1e300' mm is outside the "
                    "plausible range")


def test_demo_refuses_an_absurd_pixel_size():
    for value in (1e300, "1e300"):
        with pytest.raises(demo.DemoInputError, match="outside the plausible range"):
            demo.check_pixel_size(value)


def test_edge_runtime_refuses_an_absurd_pixel_size_unless_allowed(image_dir):
    runner = edge.LiteRunner(MODEL)
    png = str(image_dir / "000_HC.png")
    with pytest.raises(ValueError, match="outside the plausible range"):
        inference.measure_file(runner, png, 1e300)
    gray = preprocess.read_gray_image(png)
    with pytest.raises(ValueError, match="outside the plausible range"):
        inference.measure_image(runner, gray, 5.0)
    m, _ = inference.measure_image(runner, gray, 5.0, allow_implausible_pixel_size=True)
    assert m.pixel_size_mm == 5.0


# --- item 10: evaluate's CSV, a binary pixel CSV, a tiny image ----------------

def _hc18_folder(root, hc="80.79"):
    """An HC18-layout folder with one image (and its annotation) and the CSV."""
    train = root / "training_set"
    train.mkdir(parents=True)
    e = M.Ellipse(200, 135, 120, 90, 0.3)
    cv2.imwrite(str(train / "000_HC.png"),
                np.where(M.rasterize_ellipse(e, (270, 400)) > 0, 200, 20).astype(np.uint8))
    cv2.imwrite(str(train / "000_HC_Annotation.png"),
                M.rasterize_ellipse(e, (270, 400), filled=False) * 255)
    (root / "training_set_pixel_size_and_HC.csv").write_text(
        f"filename,pixel size(mm),head circumference (mm)\n000_HC.png,0.1,{hc}\n")
    return root


@pytest.mark.parametrize("hc,problem", [("nan", "HC 'nan' is not a number (a plain decimal one"),
                                        ("-3", "HC '-3' is not a finite positive number"),
                                        ("abc", "HC 'abc' is not a number")])
def test_evaluate_names_the_csv_row_with_a_bad_hc(tmp_path, hc, problem):
    folder = _hc18_folder(tmp_path / "hc18", hc)
    result = CliRunner().invoke(cli.main, ["evaluate", "--model", MODEL, "--data-dir",
                                           str(folder), "--out", str(tmp_path / "out")])
    csv_path = folder / "training_set_pixel_size_and_HC.csv"
    _one_line_error(result, f"{csv_path} row 2 (000_HC.png): {problem}")


def test_a_good_hc18_folder_still_evaluates(tmp_path):
    samples = list(hc18_folder.samples_from_hc18_folder(str(_hc18_folder(tmp_path))))
    assert [(s.filename, s.pixel_size_mm, s.reference_hc_mm) for s in samples] == [
        ("000_HC.png", 0.1, 80.79)]


def _evaluate(folder, out):
    return CliRunner().invoke(cli.main, ["evaluate", "--model", MODEL, "--data-dir", str(folder),
                                         "--out", str(out), "-q"])


def test_evaluate_scores_the_rest_when_one_hc18_image_is_unreadable(tmp_path):
    folder = _hc18_folder(tmp_path / "hc18")
    (folder / "training_set" / "001_HC.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with open(folder / "training_set_pixel_size_and_HC.csv", "a") as f:
        f.write("001_HC.png,0.1,70.0\n")
    out = tmp_path / "out"
    result = _evaluate(folder, out)
    assert result.exit_code == cli.SOME_UNREADABLE, result.output  # as predict's
    assert "Traceback" not in result.output
    bad = folder / "training_set" / "001_HC.png"
    assert f"unreadable: {bad}: " in result.output
    assert "1 image (1 unreadable, listed in unreadable.csv)" in result.output
    assert (out / "per_image.csv").read_text().splitlines()[1].startswith("000_HC.png,")
    rows = (out / "unreadable.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith(f"{bad},")


def test_evaluate_on_part_of_hc18_says_in_one_line_which_images_are_absent(tmp_path):
    """A folder holding some of the CSV's images (HC18's 896-row CSV beside 10 images): one
    line for the absent ones, each still in unreadable.csv; a damaged one named as before."""
    folder = _hc18_folder(tmp_path / "hc18")
    (folder / "training_set" / "031_HC.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with open(folder / "training_set_pixel_size_and_HC.csv", "a") as f:
        f.write("".join(f"{k:03d}_HC.png,0.1,70.0\n" for k in range(1, 32)))
    out = tmp_path / "out"
    result = _evaluate(folder, out)
    assert result.exit_code == cli.SOME_UNREADABLE, result.output
    train = folder / "training_set"
    assert f"not found: 30 images the CSV lists (001_HC.png first) are not in {train}\n" \
        in result.output
    assert [line for line in result.output.splitlines() if line.startswith("unreadable: ")] \
        == [f"unreadable: {train / '031_HC.png'}: not a readable image file (damaged: the file "
            "ends before its IEND chunk (cut short?))"]
    assert len((out / "unreadable.csv").read_text().splitlines()) == 1 + 31


def test_evaluate_refuses_a_data_dir_it_cannot_read_before_loading_anything(tmp_path, monkeypatch):
    """A missing folder, HC18's training_set/ itself, or another folder: one line saying what
    to give, before TensorFlow (or any model) loads."""
    from hc_tf import inference
    monkeypatch.setattr(inference, "load_runner", lambda *a, **k: pytest.fail("model loaded"))
    folder = _hc18_folder(tmp_path / "hc18")
    cases = {tmp_path / "nope": "no such folder",
             folder / "training_set": "holds HC18 images itself; give the folder that holds "
                                      "training_set/ and training_set_pixel_size_and_HC.csv",
             tmp_path: "neither an HC18 folder (training_set/ and training_set_pixel_size_and_"
                       f"HC.csv) nor a prepared TFDS data dir (hc-tf prepare --manual-dir "
                       f"HC18_FOLDER --data-dir {tmp_path} makes one)"}
    for data_dir, why in cases.items():
        result = CliRunner().invoke(cli.main, ["evaluate", "--data-dir", str(data_dir),
                                               "--out", str(tmp_path / "out")])
        assert result.exit_code == 1 and result.output == f"Error: {data_dir}: {why}\n", result.output
    assert not (tmp_path / "out").exists()


def test_a_missing_hc18_image_or_annotation_is_named_and_the_rest_are_read(tmp_path):
    folder = _hc18_folder(tmp_path / "hc18")
    train = folder / "training_set"
    for name in ("001_HC.png", "002_HC.png"):
        (train / name).write_bytes((train / "000_HC.png").read_bytes())
    (train / "002_HC_Annotation.png").write_bytes((train / "000_HC_Annotation.png").read_bytes())
    (train / "000_HC_Annotation.png").unlink()
    with open(folder / "training_set_pixel_size_and_HC.csv", "a") as f:
        f.write("001_HC.png,0.1,70.0\n003_HC.png,0.1,70.0\n002_HC.png,0.1,70.0\n")
    unreadable = []
    samples = list(hc18_folder.samples_from_hc18_folder(str(folder), unreadable))
    assert [s.filename for s in samples] == ["002_HC.png"]
    assert unreadable == [
        (str(train / "000_HC.png"), f"{train / '000_HC_Annotation.png'}: no such file"),
        (str(train / "001_HC.png"), f"{train / '001_HC_Annotation.png'}: no such file"),
        (str(train / "003_HC.png"), f"{train / '003_HC.png'}: no such file")]


def test_an_hc18_annotation_of_another_size_than_its_image_is_unreadable(tmp_path):
    folder = _hc18_folder(tmp_path / "hc18")
    train = folder / "training_set"
    (train / "001_HC.png").write_bytes((train / "000_HC.png").read_bytes())
    outline = cv2.imread(str(train / "000_HC_Annotation.png"), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(train / "001_HC_Annotation.png"),
                cv2.resize(outline, (800, 540), interpolation=cv2.INTER_NEAREST))
    with open(folder / "training_set_pixel_size_and_HC.csv", "a") as f:
        f.write("001_HC.png,0.1,80.79\n")
    unreadable = []
    samples = list(hc18_folder.samples_from_hc18_folder(str(folder), unreadable))
    # Scored, its reference ellipse was in the larger frame: Dice 0, HD tens of mm.
    assert [s.filename for s in samples] == ["000_HC.png"]
    assert unreadable == [(str(train / "001_HC.png"), f"{train / '001_HC_Annotation.png'}: "
                           "annotation is 800 x 540 pixels, its image 400 x 270")]


def test_a_reference_csv_is_bounded_as_every_untrusted_file(tmp_path, monkeypatch):
    from hc_tf.surfaces import dicom_evaluate
    big = tmp_path / "ref.csv"
    big.write_text("filename,head circumference (mm)\n" + "a.dcm,150\n" * 20)
    with monkeypatch.context() as env:
        env.setenv("HC_TF_MAX_INPUT_BYTES", "100")
        with pytest.raises(ValueError, match=f"{big}: file too large"):
            dicom_evaluate.read_reference_csv(str(big))
    # /dev/zero was read until memory ran out; a FIFO waited for a writer.
    with pytest.raises(ValueError, match="/dev/zero: not a regular file"):
        dicom_evaluate.read_reference_csv("/dev/zero")


def test_binary_pixel_csv_names_the_file(image_dir, tmp_path):
    csv_path = tmp_path / "pixels.csv"
    csv_path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    _one_line_error(_predict(image_dir, "--pixel-csv", csv_path, "--out", tmp_path / "o"),
                    f"{csv_path}: not a UTF-8 text CSV")


def test_a_1x1_image_is_too_small_not_3d(tmp_path, image_dir):
    png = tmp_path / "tiny.png"
    cv2.imwrite(str(png), np.zeros((1, 1), np.uint8))
    with pytest.raises(ValueError, match=r"tiny.png: image too small \(1 x 1 pixels"):
        preprocess.read_gray_image(str(png))
    # predict measures what it can and names each unreadable image (exit code 3); with no other
    # image, nothing is measured: an error (exit code 1), --out left as it was.
    result = _predict(png, "--pixel-size", "0.1", "--out", tmp_path / "o")
    assert result.exit_code == 1, result.output
    assert f"unreadable: {png}: image too small (1 x 1 pixels" in result.output
    assert result.output.rstrip().endswith("Error: no image could be measured (1 unreadable, "
                                           "each named above); nothing was written")
    assert not (tmp_path / "o").exists()
    both = _predict(png, image_dir / "000_HC.png", "--pixel-size", "0.1", "--out", tmp_path / "p")
    assert both.exit_code == 3 and (tmp_path / "p" / "unreadable.csv").exists(), both.output


# --- output names: only known extensions are stripped ---------------------------

UIDS = ["exp/1.2.826.0.1.3680043.8.498.101", "exp/1.2.826.0.1.3680043.8.498.102"]


def test_dicom_files_named_by_uid_are_not_the_same_file_name():
    predict_inputs.check_unique_names(UIDS)  # ".101" is a UID's last part, not an extension
    assert [file_names.file_stem(p) for p in UIDS + ["a/scan.DCM", "b/x.Tiff"]] == [
        "1.2.826.0.1.3680043.8.498.101", "1.2.826.0.1.3680043.8.498.102", "scan", "x"]
    with pytest.raises(ValueError, match="a/000_HC.png and b/000_HC.JPG"):
        predict_inputs.check_unique_names(["a/000_HC.png", "b/000_HC.JPG"])


def test_uid_named_dicom_outputs_keep_the_whole_name():
    header = types.SimpleNamespace(path=UIDS[0], frames=2)
    sample = dicom_predict.DicomSample("x", np.zeros((2, 2), np.uint8), 0.1, header=header, frame=2)
    assert dicom_predict.stem(sample) == "1.2.826.0.1.3680043.8.498.101.frame2"
    overlays = predict_lib.outputs_of(UIDS).folders[predict_lib.OVERLAYS_NAME]
    assert overlays("1.2.826.0.1.3680043.8.498.102.png")  # --overwrite may replace it
    assert not overlays("1.2.826.0.1.3680043.8.498.png")  # nor anything of another input


# --- a file name that is not UTF-8 -----------------------------------------------

def test_a_non_utf8_file_name_is_refused_by_name_and_the_rest_measured(image_dir, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    good = (image_dir / "000_HC.png").read_bytes()
    (folder / "000_HC.png").write_bytes(good)
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.png"), "wb") as f:  # Latin-1 bytes
        f.write(good)
    printable = f"{folder}/caf\\xe9.png"
    job = predict_inputs.read_inputs([str(folder)], None, 0.1)
    assert job.paths == [str(folder / "000_HC.png")]
    assert job.refused == [(printable, f"{printable}: the file name is not valid UTF-8; rename it")]
    result = predict_lib.predict_files(MODEL, [str(folder)], str(tmp_path / "out"), pixel_size_mm=0.1)
    assert len(result.records) == 1 and result.unreadable == job.refused
    assert printable in (tmp_path / "out" / "unreadable.csv").read_text(encoding="utf-8")


def test_a_folder_measures_every_format_a_named_file_is_measured_in(tmp_path):
    """The reader decodes WebP and GIF (the web app opens them too) when a file is named; a
    folder holding them skipped them without a word, so "3 images" was said of 5."""
    from PIL import Image
    gray = (np.arange(64 * 96, dtype=np.uint32).reshape(64, 96) % 251).astype(np.uint8)
    folder = tmp_path / "scans"
    folder.mkdir()
    for name in ("a.png", "b.jpg", "c.webp", "d.gif", "e.tif"):
        Image.fromarray(gray).save(folder / name)
    (folder / "notes.txt").write_text("not an image")
    listed = predict_inputs.list_images([str(folder)])
    assert [os.path.basename(p) for p in listed] == ["a.png", "b.jpg", "c.webp", "d.gif", "e.tif"]
    assert [file_names.file_stem(p) for p in listed] == ["a", "b", "c", "d", "e"]
    with pytest.raises(ValueError, match="c.png and .*c.webp"):
        predict_inputs.check_unique_names([str(folder / "c.png"), str(folder / "c.webp")])


def test_the_web_apps_known_extensions_are_pythons():
    """Output names and exam grouping strip the same extensions in the app (its port of
    file_names.py keeps its own list, which must not drift)."""
    import re
    js = open(os.path.join(os.path.dirname(__file__), "..", "web_app", "src", "core",
                           "file_names.js"), encoding="utf-8").read()
    listed = re.search(r"const KNOWN_EXTENSIONS = \[([^\]]*)\]", js).group(1)
    assert tuple(re.findall(r"'([^']+)'", listed)) == file_names.KNOWN_EXTENSIONS
