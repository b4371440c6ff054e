"""`hc-tf predict` on DICOM: HC18 heads wrapped in DICOM measure as their PNG + CSV, in every
transfer syntax and photometric interpretation; bad files are one line each, the batch goes on."""

import dataclasses
import json
import os

import cv2
import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")

from click.testing import CliRunner  # noqa: E402

from hc_tf import cli  # noqa: E402
from hc_tf import inference  # noqa: E402
from hc_tf.surfaces import predict as predict_lib  # noqa: E402
from hc_tf.surfaces import predict_inputs  # noqa: E402
from tests import dicom_files  # noqa: E402

REPO = os.path.join(os.path.dirname(__file__), "..")
MODEL = os.path.join(REPO, "hc_tf", "models", "hc_effunet_int8.tflite")
HEADS = ("000_HC.png", "019_HC.png", "105_HC.png")
LOSSLESS = ("mono", "implicit", "rle", "jpegls", "j2k", "ybr_full")
COLOUR = ("rgb", "palette")


def _variants(name, out):
    """Writes `name` as every DICOM variant and the colour PNGs; returns {variant: file}."""
    from pydicom.pixels import convert_color_space
    from pydicom.uid import (ImplicitVRLittleEndian, JPEG2000Lossless, JPEGLSLossless,
                             RLELossless)
    gray = cv2.imread(dicom_files.head_png(name), cv2.IMREAD_GRAYSCALE)
    h, w = gray.shape
    px = dicom_files.head_pixel_sizes()[name]
    box = (0, 0, w - 1, h - 1)
    stem = name[:-4]
    files = {}

    def put(variant, ds):
        files[variant] = dicom_files.save(ds, os.path.join(out, f"{stem}.{variant}.dcm"))

    put("mono", dicom_files.gray_dataset(name))
    ds = dicom_files.gray_dataset(name)
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    put("implicit", ds)
    for variant, syntax in (("rle", RLELossless), ("jpegls", JPEGLSLossless),
                            ("j2k", JPEG2000Lossless)):
        ds = dicom_files.gray_dataset(name)
        ds.compress(syntax)
        put(variant, ds)
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
    put("ybr_full", dicom_files.dataset([ybr], photometric="YBR_FULL",
                                        regions=[dicom_files.region(box, px)]))
    colour = dicom_files.tinted(gray)
    put("rgb", dicom_files.dataset([colour], photometric="RGB",
                                   regions=[dicom_files.region(box, px)]))
    cv2.imwrite(os.path.join(out, f"{stem}.rgb_ref.png"), colour[:, :, ::-1])
    ds, pal_rgb = dicom_files.palette_dataset(gray, box, px)
    put("palette", ds)
    cv2.imwrite(os.path.join(out, f"{stem}.palette_ref.png"), pal_rgb[:, :, ::-1])
    put("jpeg422", dicom_files.jpeg_baseline_dataset(colour, box, px))
    return files


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One predict run over every wrapped head, the PNGs (CSV pixel sizes) and bad files."""
    root = tmp_path_factory.mktemp("dicom_predict")
    inputs = root / "in"
    inputs.mkdir()
    sizes = dicom_files.head_pixel_sizes()
    rows = []
    for name in HEADS:
        _variants(name, str(inputs))
        png = inputs / name
        png.write_bytes(open(dicom_files.head_png(name), "rb").read())
        rows += [f"{name},{sizes[name]}"] + [f"{name[:-4]}.{v}_ref.png,{sizes[name]}" for v in COLOUR]
    # Two heads as the two frames of one multi-frame file.
    frames = [cv2.imread(dicom_files.head_png(n), cv2.IMREAD_GRAYSCALE) for n in HEADS[:2]]
    h, w = frames[0].shape
    dicom_files.save(dicom_files.dataset(frames, regions=[dicom_files.region(
        (0, 0, w - 1, h - 1), sizes[HEADS[0]])]), str(inputs / "cine.dcm"))
    _bad_files(inputs, frames[0], sizes[HEADS[0]])
    csv = root / "pixels.csv"
    csv.write_text("filename,pixel size(mm)\n" + "\n".join(rows) + "\n")
    out = root / "out"
    result = CliRunner().invoke(cli.main, ["predict", "--model", MODEL, str(inputs),
                                           "--pixel-csv", str(csv), "--out", str(out), "-q"])
    assert (out / "report.json").is_file(), (result.output, result.exception)
    report = json.loads((out / "report.json").read_text())
    return {"result": result, "out": out, "inputs": inputs,
            "records": {r["filename"]: r for r in report["images"]},
            "unreadable": {os.path.basename(u["path"]): u["error"] for u in report["unreadable"]}}


def _bad_files(folder, gray, px):
    h, w = gray.shape
    full = (0, 0, w - 1, h - 1)
    bad = {"no_regions": dicom_files.dataset([gray]),
           "unit4": dicom_files.dataset([gray], regions=[dicom_files.region(full, px, (4, 4))]),
           "aniso": dicom_files.dataset([gray], regions=[
               dicom_files.region(full, px, delta_y_mm=px * 1.2)]),
           "panes": dicom_files.dataset([gray], regions=[   # split through the head's middle
               dicom_files.region((0, 0, w // 2 - 1, h - 1), px),
               dicom_files.region((w // 2, 0, w - 1, h - 1), px)])}
    huge = dicom_files.dataset([gray], regions=[dicom_files.region(full, px)])
    huge.Rows = huge.Columns = 60000
    bad["huge"] = huge
    nopix = dicom_files.dataset([gray], regions=[dicom_files.region(full, px)])
    del nopix.PixelData
    bad["nopix"] = nopix
    for name, ds in bad.items():
        dicom_files.save(ds, str(folder / f"bad_{name}.dcm"))
    trunc = dicom_files.save(dicom_files.dataset([gray], regions=[dicom_files.region(full, px)]),
                             str(folder / "bad_trunc.dcm"))
    data = open(trunc, "rb").read()
    open(trunc, "wb").write(data[:len(data) // 2])
    # Named .dcm but without the DICM marker: listed by name and refused, never skipped.
    open(folder / "bad_short.dcm", "wb").write(data[:100])
    open(folder / "bad_nopreamble.dcm", "wb").write(data[132:])  # as some older scanners save


@pytest.mark.parametrize("name", HEADS)
@pytest.mark.parametrize("variant", LOSSLESS)
def test_lossless_dicom_hc_equals_the_png_and_csv(run, name, variant):
    png = run["records"][name]
    dcm = run["records"][f"{name[:-4]}.{variant}.dcm"]
    assert png["found"] and dcm["found"]
    assert abs(dcm["hc_mm"] - png["hc_mm"]) <= 1e-9
    assert dcm["pixel_size_source"] == "dicom_us_region"
    assert dcm["pixel_size_mm"] == pytest.approx(png["pixel_size_mm"], rel=1e-12)


@pytest.mark.parametrize("name", HEADS)
@pytest.mark.parametrize("variant", COLOUR)
def test_colour_dicom_becomes_gray_as_its_png_does(run, name, variant):
    png = run["records"][f"{name[:-4]}.{variant}_ref.png"]
    dcm = run["records"][f"{name[:-4]}.{variant}.dcm"]
    assert png["found"] and abs(dcm["hc_mm"] - png["hc_mm"]) <= 1e-9


@pytest.mark.parametrize("name", HEADS)
def test_jpeg_baseline_ybr_422_is_close(run, name):
    png = run["records"][f"{name[:-4]}.rgb_ref.png"]
    dcm = run["records"][f"{name[:-4]}.jpeg422.dcm"]
    assert dcm["found"] and abs(dcm["hc_mm"] - png["hc_mm"]) < 0.01 * png["hc_mm"]


def test_every_frame_is_a_row_with_its_frame_number(run):
    for frame, name in ((1, HEADS[0]), (2, HEADS[1])):
        record = run["records"][f"cine.dcm#{frame}"]
        assert record["frame"] == frame and record["dicom"]["frames_in_file"] == 2
        png = run["records"][name]  # the file's one region has the first head's pixel size
        expected = png["hc_mm"] / png["pixel_size_mm"] * record["pixel_size_mm"]
        assert record["pixel_size_mm"] == pytest.approx(dicom_files.head_pixel_sizes()[HEADS[0]])
        assert abs(record["hc_mm"] - expected) <= 1e-9
        assert (run["out"] / "overlays" / f"cine.frame{frame}.png").is_file()


def test_exams_group_dicom_images_by_study_and_series(run):
    import csv
    with open(run["out"] / "exams.csv", newline="") as f:
        exams = {r["exam"]: r for r in csv.DictReader(f)}
    cine = run["records"]["cine.dcm#1"]["dicom"]
    row = exams[f"{cine['study_instance_uid']}/{cine['series_instance_uid']}"]
    assert row["images"] == "2" and row["filenames"] == "cine.dcm#1; cine.dcm#2"
    # every other file is its own series here (the same study): an exam of its own
    mono = run["records"]["000_HC.mono.dcm"]["dicom"]
    assert exams[f"{mono['study_instance_uid']}/{mono['series_instance_uid']}"]["filenames"] == "000_HC.mono.dcm"
    assert exams["000"]["filenames"] == "000_HC.png"  # a PNG: HC18's name rule


def test_exam_column_labels_every_frame_of_its_file(tmp_path):
    # twins in one series: only the CSV's exam column tells their multi-frame files apart
    from pydicom.uid import generate_uid
    series, sizes, rows = generate_uid(), dicom_files.head_pixel_sizes(), []
    for fname, head, label in (("twinA.dcm", HEADS[0], "fetus A"), ("twinB.dcm", HEADS[2], "fetus B")):
        gray = cv2.imread(dicom_files.head_png(head), cv2.IMREAD_GRAYSCALE)
        h, w = gray.shape
        ds = dicom_files.dataset([gray, gray], regions=[dicom_files.region((0, 0, w - 1, h - 1),
                                                                           sizes[head])])
        ds.SeriesInstanceUID = series
        dicom_files.save(ds, str(tmp_path / fname))
        rows.append(f"{fname},{sizes[head]},{label},{20 if label == 'fetus A' else ''}")
    csv = tmp_path / "sizes.csv"
    csv.write_text("filename,pixel size(mm),exam,ga_weeks\n" + "\n".join(rows) + "\n")
    result = predict_lib.predict_files(MODEL, [str(tmp_path / "twinA.dcm"), str(tmp_path / "twinB.dcm")],
                                       str(tmp_path / "out"), pixel_csv=str(csv))
    assert [r["known_ga_weeks"] for r in result.records] == [20, 20, None, None]
    exams = json.loads((tmp_path / "out" / "report.json").read_text())["exams"]
    assert [(e["exam"], e["filenames"]) for e in exams] == [
        ("fetus A", "twinA.dcm#1; twinA.dcm#2"), ("fetus B", "twinB.dcm#1; twinB.dcm#2")]


BAD = {"bad_no_regions.dcm": "no Sequence of Ultrasound Regions (0018,6011)",
       "bad_unit4.dcm": "are seconds/seconds, not cm (3)",
       "bad_aniso.dcm": "differ by more than 1%",
       "bad_panes.dcm": "across two 2D regions",
       "bad_huge.dcm": "over the 25000000-pixel input limit",
       "bad_nopix.dcm": "no Pixel Data (7FE0,0010)",
       "bad_trunc.dcm": "bad_trunc.dcm",
       "bad_short.dcm": "no 'DICM' marker at byte 128",
       "bad_nopreamble.dcm": "no 'DICM' marker at byte 128"}


def test_bad_files_are_one_line_each_and_the_batch_goes_on(run):
    assert run["result"].exit_code == cli.SOME_UNREADABLE, run["result"].output
    assert set(run["unreadable"]) == set(BAD)
    stderr = [line for line in run["result"].output.splitlines() if line.startswith("unreadable:")]
    assert len(stderr) == len(BAD)
    for name, words in BAD.items():
        assert words in run["unreadable"][name] and name in run["unreadable"][name]
    assert "Traceback" not in run["result"].output
    measured = len(HEADS) * (1 + len(LOSSLESS) + 2 * len(COLOUR) + 1) + 2
    assert len(run["records"]) == measured


def test_sr_and_fhir_for_every_measured_dicom(run):
    for filename, record in run["records"].items():
        is_dicom = ".dcm" in filename
        assert ("dicom" in record) == is_dicom
        if is_dicom and record["found"]:
            assert (run["out"] / record["dicom"]["sr"]).is_file()
            assert (run["out"] / record["dicom"]["fhir"]).is_file()


def test_typed_pixel_size_disagreeing_is_refused_and_override_records_it(tmp_path):
    path = dicom_files.save(dicom_files.gray_dataset(HEADS[0]), str(tmp_path / "h.dcm"))
    with pytest.raises(predict_lib.NothingMeasuredError) as refused:
        predict_lib.predict_files(MODEL, [path], str(tmp_path / "a"), pixel_size_mm=0.3)
    assert "disagrees with the file's calibration" in refused.value.unreadable[0][1]
    forced = predict_lib.predict_files(MODEL, [path], str(tmp_path / "b"), pixel_size_mm=0.3,
                                       override_dicom_calibration=True)
    [record] = forced.records
    assert record["pixel_size_source"] == "typed_override" and record["pixel_size_mm"] == 0.3
    assert "--override-dicom-calibration" in record["pixel_size_note"]


@pytest.mark.parametrize("name", HEADS)
def test_a_scanner_screen_is_measured_in_its_2d_region(run, tmp_path, name):
    """The model sees the file's one 2D tissue region, not the screen's text and margins: the
    head measures as its PNG does, the ellipse (report, SR) in the frame's pixels."""
    gray = cv2.imread(dicom_files.head_png(name), cv2.IMREAD_GRAYSCALE)
    px = dicom_files.head_pixel_sizes()[name]
    path = dicom_files.save(dicom_files.screen_dataset(gray, px), str(tmp_path / "screen.dcm"))
    result = predict_lib.predict_files(MODEL, [path], str(tmp_path / "o"))
    [record] = result.records
    png, _ = inference.measure_image(inference.load_runner(MODEL), gray, px)
    x0, y0 = dicom_files.SCREEN_ORIGIN
    h, w = gray.shape
    assert record["dicom"]["model_region"] == [x0, y0, x0 + w - 1, y0 + h - 1]
    assert record["found"] and record["hc_mm"] == pytest.approx(png.hc_mm, abs=1e-9)
    moved = dict(dataclasses.asdict(png.ellipse), cx=png.ellipse.cx + x0,
                 cy=png.ellipse.cy + y0)
    assert record["dicom"]["ellipse_px"] == pytest.approx(moved, abs=1e-9)
    from hc_tf.report import dicom_sr_read
    scoord = dicom_sr_read.read_back(str(tmp_path / "o" / record["dicom"]["sr"]))["ellipse"]
    assert np.mean(scoord, axis=0) == pytest.approx([moved["cx"] + 0.5, moved["cy"] + 0.5],
                                                    abs=1e-3)  # SCOORD: pixel corners, +0.5
    overlay = cv2.imread(str(tmp_path / "o" / "overlays" / "screen.png"))
    assert overlay.shape[:2] == dicom_files.screen(np.zeros((h, w), np.uint8)).shape
    amber = (0, 200, 255)  # the region the model saw, outlined just outside its pixels
    assert (overlay[y0 - 1, x0 + 10: x0 + w - 10] == amber).all()
    assert (overlay[y0 + 10: y0 + h - 10, x0 + w] == amber).all()


def test_a_dual_pane_head_is_measured_again_on_its_pane(tmp_path):
    """Two 2D regions side by side, a head in each: the whole frame's head picks its pane, then
    the model sees that pane alone (as a frame's one region): the HC is that head's PNG's, the
    ellipse in the frame's pixels, report.json names the pane."""
    a = cv2.imread(dicom_files.head_png(HEADS[0]), cv2.IMREAD_GRAYSCALE)
    h, w = a.shape
    b = cv2.resize(cv2.imread(dicom_files.head_png(HEADS[1]), cv2.IMREAD_GRAYSCALE), (w, h))
    px = dicom_files.head_pixel_sizes()[HEADS[0]]
    panes = [(0, 0, w - 1, h - 1), (w, 0, 2 * w - 1, h - 1)]
    ds = dicom_files.dataset([np.hstack([a, b])], regions=[dicom_files.region(p, px) for p in panes])
    path = dicom_files.save(ds, str(tmp_path / "dual.dcm"))
    [record] = predict_lib.predict_files(MODEL, [path], str(tmp_path / "o")).records
    assert record["found"] and record["dicom"]["model_region"] in [list(p) for p in panes]
    x0 = record["dicom"]["model_region"][0]
    runner = inference.load_runner(MODEL)
    alone, _ = inference.measure_image(runner, a if x0 == 0 else b, px)
    assert record["hc_mm"] == pytest.approx(alone.hc_mm, abs=1e-9)
    assert record["dicom"]["ellipse_px"]["cx"] == pytest.approx(alone.ellipse.cx + x0, abs=1e-9)
    assert record["dicom"]["region"] == (1 if x0 == 0 else 2)


def test_frame_option_measures_that_frame_only(run, tmp_path):
    result = predict_lib.predict_files(MODEL, [str(run["inputs"] / "cine.dcm")],
                                       str(tmp_path / "o"), frame=2)
    [record] = result.records
    assert record["filename"] == "cine.dcm#2" and record["frame"] == 2


def test_png_without_pixel_size_is_still_refused_up_front(tmp_path):
    with pytest.raises(ValueError, match="needed for the images that are not DICOM"):
        predict_lib.predict_files(MODEL, [dicom_files.head_png(HEADS[0])], str(tmp_path / "o"))


def test_implausible_file_calibration_is_refused_unless_allowed(tmp_path):
    gray = cv2.imread(dicom_files.head_png(HEADS[0]), cv2.IMREAD_GRAYSCALE)
    h, w = gray.shape
    path = dicom_files.save(dicom_files.dataset([gray], regions=[
        dicom_files.region((0, 0, w - 1, h - 1), 5.0)]), str(tmp_path / "coarse.dcm"))
    with pytest.raises(predict_lib.NothingMeasuredError) as refused:
        predict_lib.predict_files(MODEL, [path], str(tmp_path / "a"))
    [(_, why)] = refused.value.unreadable
    assert "coarse.dcm: pixel size from dicom_us_region 5.0 mm is outside the plausible" in why \
        and "--allow-any-pixel-size" in why
    allowed = predict_lib.predict_files(MODEL, [path], str(tmp_path / "b"),
                                        allow_implausible_pixel_size=True)
    assert allowed.records[0]["pixel_size_mm"] == pytest.approx(5.0)


def test_evaluate_scores_dicom_frames_against_reference_hcs(run, tmp_path):
    import csv
    refs = {f"{HEADS[0][:-4]}.mono.dcm": 150.0, f"{HEADS[1][:-4]}.rle.dcm": 60.0,
            "cine.dcm": 100.0, "bad_unit4.dcm": 70.0, "bad_nopreamble.dcm": 80.0,
            "gone.dcm": 90.0, f"{HEADS[2][:-4]}.mono.dcm#1": 95.0}
    ref_csv = tmp_path / "ref.csv"
    ref_csv.write_text("filename,head circumference (mm)\n"
                       + "".join(f"{k},{v}\n" for k, v in refs.items()))
    out = tmp_path / "eval"
    result = CliRunner().invoke(cli.main, ["evaluate", "--model", MODEL, "--data-dir",
                                           str(run["inputs"]), "--reference-csv", str(ref_csv),
                                           "--out", str(out), "-q"])
    assert result.exit_code == cli.SOME_UNREADABLE, result.output
    assert "unreadable: " in result.output and "bad_unit4.dcm" in result.output
    # Every row is scored or named: a file not DICOM inside, a missing file.
    assert f"{ref_csv}: 4 of 7 rows scored; not scored: bad_nopreamble.dcm, bad_unit4.dcm, " \
           "gone.dcm" in result.output
    assert f"unreadable: gone.dcm: named in {ref_csv} but not in {run['inputs']}" in result.output
    with open(out / "per_image.csv", newline="") as f:
        rows = {r["filename"]: r for r in csv.DictReader(f)}
    assert set(rows) == {f"{HEADS[0][:-4]}.mono.dcm", f"{HEADS[1][:-4]}.rle.dcm",
                         "cine.dcm#1", "cine.dcm#2", f"{HEADS[2][:-4]}.mono.dcm"}
    for name, row in rows.items():
        predicted = run["records"][name]["hc_mm"]  # what predict measured on the same frame
        assert float(row["predicted_hc_mm"]) == pytest.approx(predicted, abs=1e-3)  # CSV: 4 places
        ref = refs.get(name, refs.get(name.split("#")[0], refs.get(f"{name}#1")))
        assert float(row["adf_mm"]) == pytest.approx(abs(predicted - ref), abs=1e-3)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 5 and summary["dice_mean"] is None
    assert "no Dice or HD (no reference outline)" in result.output and "n/a" not in result.output
    assert summary["reference_csv"]["not_scored"] == ["bad_nopreamble.dcm", "bad_unit4.dcm",
                                                      "gone.dcm"]
    assert len((out / "unreadable.csv").read_text().splitlines()) == 4  # header + 3
    # The sonographers' HCs against the measured HC's 95% interval, as predict reports it.
    for name, row in rows.items():
        record = run["records"][name]
        ref = refs.get(name, refs.get(name.split("#")[0], refs.get(f"{name}#1")))
        low, high = record["hc_interval"]["lower_mm"], record["hc_interval"]["upper_mm"]
        assert float(row["hc_low_mm"]) == pytest.approx(low, abs=1e-3)
        assert row["interval_covers"] == str(low <= ref <= high)
    assert summary["hc_interval"]["n"] == 5 and summary["hc_interval"]["n_without"] == 0


def test_beam_mode_refuses_dicom_up_front(tmp_path):
    path = dicom_files.save(dicom_files.gray_dataset(HEADS[0]), str(tmp_path / "h.dcm"))
    with pytest.raises(ValueError, match="h.dcm: DICOM inputs are measured by hc-tf predict "
                                         "without --beam"):
        predict_inputs.read_inputs([path], None, 0.2, dicom_ok=False)


def test_patient_fields_and_a_refused_sr_keep_the_measurement_and_quote_no_value(
        tmp_path, monkeypatch, capfd):
    """Real exports' patient fields (a name without '^', a dashed birth date, "FEMALE") no longer
    abort the batch, and an SR highdicom refuses all the same is one line naming the file and
    the tag: the head stays measured in the report; no value reaches the output."""
    import warnings
    import highdicom as hd
    inputs = tmp_path / "in"
    inputs.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns, quoting them, as the test sets them
        odd = dicom_files.gray_dataset(HEADS[0])
        odd.PatientName, odd.PatientBirthDate, odd.PatientSex = "JANE DOE", "1980-01-01", "FEMALE"
        dicom_files.save(odd, str(inputs / "odd.dcm"))
        refused = dicom_files.gray_dataset(HEADS[1])
        refused.PatientID = "SECRET-ID-42"
        dicom_files.save(refused, str(inputs / "refused.dcm"))
    real = hd.sr.ComprehensiveSR

    def refuse_one(*args, evidence, **kwargs):
        if str(evidence[0].PatientID) == "SECRET-ID-42":
            raise ValueError("Invalid value 'SECRET-ID-42'")
        return real(*args, evidence=evidence, **kwargs)
    monkeypatch.setattr(hd.sr, "ComprehensiveSR", refuse_one)
    capfd.readouterr()
    out = tmp_path / "out"
    result = CliRunner().invoke(cli.main, ["predict", "--model", MODEL, str(inputs),
                                           "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    said = result.output + "".join(capfd.readouterr())
    assert "refused.dcm: no SR or FHIR" in said and "PatientID (0010,0020)" in said, said
    for value in ("JANE", "1980", "FEMALE", "SECRET"):
        assert value not in said, said
    records = {r["filename"]: r for r in json.loads((out / "report.json").read_text())["images"]}
    assert records["odd.dcm"]["found"] and records["refused.dcm"]["found"]
    assert (out / records["odd.dcm"]["dicom"]["sr"]).is_file()
    assert "(0010,0030)" in " ".join(records["odd.dcm"]["dicom"]["sr_notes"])
    assert "sr" not in records["refused.dcm"]["dicom"]
    assert "SECRET" not in (out / "report.json").read_text()


def test_a_sop_class_dicom_does_not_define_gets_no_sr_and_the_batch_goes_on(tmp_path):
    """A private or damaged SOP Class UID (one byte of a class changed, as a fuzzed copy of a
    pydicom file had it, stopped the whole run with highdicom's KeyError): the image is
    measured, its SR and FHIR are not written and report.json says why; the others are."""
    import warnings
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name, sop_class in (("private.dcm", "1.2.3.4"), ("damaged.dcm", "1.2.840.10008.5.1.4.\x1e.1.7"),
                            ("plain.dcm", None)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns of the damaged UID as it is set
            ds = dicom_files.gray_dataset(HEADS[0])
            if sop_class:
                ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
            dicom_files.save(ds, str(inputs / name))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli.main, ["predict", "--model", MODEL, str(inputs),
                                           "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    records = {r["filename"]: r for r in json.loads((out / "report.json").read_text())["images"]}
    assert records["private.dcm"]["found"] and "sr" not in records["private.dcm"]["dicom"]
    assert records["private.dcm"]["dicom"]["sr_error"] == (
        "private.dcm: no SR or FHIR: SOPClassUID (0008,0016) is not an image class DICOM defines")
    assert records["damaged.dcm"]["found"] and "sr" not in records["damaged.dcm"]["dicom"]
    assert records["damaged.dcm"]["dicom"]["sr_error"] == (  # not a UID at all
        "damaged.dcm: no SR or FHIR: the file lacks a valid sop_class_uid")
    assert (out / records["plain.dcm"]["dicom"]["sr"]).is_file()


def test_a_study_or_series_uid_that_is_no_uid_is_no_reference(tmp_path):
    """A sender's text in the UIDs (`../../../tmp/x`, `=cmd|calc!A1`) was taken as is: an SR
    and a FHIR urn:oid referenced it, and exams.csv's exam id was built of it. Now such a
    value is no UID: no SR or FHIR for the image, and its exam is the file alone."""
    import csv
    inputs = tmp_path / "in"
    inputs.mkdir()
    import warnings
    ds = dicom_files.gray_dataset(HEADS[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns of the values as they are set
        ds.StudyInstanceUID, ds.SeriesInstanceUID = "../../../tmp/x", "=cmd|calc!A1"
        dicom_files.save(ds, str(inputs / "odd.dcm"))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli.main, ["predict", "--model", MODEL, str(inputs),
                                           "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    [record] = json.loads((out / "report.json").read_text())["images"]
    assert record["found"] and record["dicom"]["sr_error"] == (
        "odd.dcm: no SR or FHIR: the file lacks a valid study_instance_uid")
    assert not (out / "sr").exists() and not (out / "fhir").exists()
    with open(out / "exams.csv", newline="", encoding="utf-8") as f:
        [exam] = list(csv.DictReader(f))
    assert "tmp" not in exam["exam"] and "cmd" not in exam["exam"], exam["exam"]


def test_evaluate_names_frames_a_file_lacks():
    from hc_tf.surfaces import dicom_evaluate
    refs = {"cine.dcm#3": 1.0, "cine.dcm#2": 1.0, "one.dcm#1": 1.0, "one.dcm#2": 1.0}
    seen = {"cine.dcm#1": "d/cine.dcm", "cine.dcm#2": "d/cine.dcm", "one.dcm": "d/one.dcm"}
    assert dicom_evaluate.missing_frames(refs, seen, "ref.csv") == [
        ("d/cine.dcm", "d/cine.dcm: ref.csv names frame 3, which the file does not have "
                       "(2 frames read)"),
        ("d/one.dcm", "d/one.dcm: ref.csv names frame 2, which the file does not have "
                      "(1 frame read)")]
    assert dicom_evaluate.reference_of(refs, "one.dcm") == 1.0  # a single frame is frame 1


def test_a_frames_outputs_may_not_overwrite_another_inputs(tmp_path):
    """Frame 1 of scan.dcm writes overlays/scan.frame1.png (and sr/, fhir/), as scan.frame1.png
    or a single-frame scan.frame1.dcm does: refused up front, naming both."""
    gray = cv2.imread(dicom_files.head_png(HEADS[0]), cv2.IMREAD_GRAYSCALE)
    scan = dicom_files.save(dicom_files.dataset([gray, gray]), str(tmp_path / "scan.dcm"))
    png = str(tmp_path / "scan.frame1.png")
    cv2.imwrite(png, gray)
    with pytest.raises(ValueError, match=f"{scan} frame 1 and {png} "
                                         r"\(overlays/scan.frame1.png\); rename"):
        predict_inputs.read_inputs([str(tmp_path)], None, 0.2)
    predict_inputs.check_output_names([scan, png], frame=2)  # frame 1 is not measured
    one = dicom_files.save(dicom_files.dataset([gray]), str(tmp_path / "scan.frame2.dcm"))
    with pytest.raises(ValueError, match=f"{scan} frame 2 and {one}"):
        predict_inputs.check_output_names([scan, one])
    two = dicom_files.save(dicom_files.dataset([gray, gray]), str(tmp_path / "scan.frame2.dcm"))
    predict_inputs.check_output_names([scan, two])  # its outputs are scan.frame2.frameK


CANARY = "CANARY-PID-7f3a9c"


def test_fhir_patient_system_names_the_subject_in_the_fhir_file_only(tmp_path, capfd):
    """--fhir-patient-system: the FHIR subject is the PatientID under that system, in the FHIR
    file and nowhere else (output, report.json, file names); a file without a PatientID gets no
    subject, and the run says so without quoting anything of the patient."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    known = dicom_files.gray_dataset(HEADS[0])
    known.PatientID = CANARY
    known.IssuerOfPatientID = "HOSPITAL A"  # free text: never taken as the system
    dicom_files.save(known, str(inputs / "known.dcm"))
    anonymous = dicom_files.gray_dataset(HEADS[1])
    del anonymous.PatientID
    dicom_files.save(anonymous, str(inputs / "anonymous.dcm"))
    system = "urn:oid:1.2.840.113619.6.1"
    capfd.readouterr()
    out = tmp_path / "out"
    result = CliRunner().invoke(cli.main, ["predict", "--model", MODEL, str(inputs), "--out",
                                           str(out), "--fhir-patient-system", system, "-q"])
    assert result.exit_code == 0, result.output
    records = {r["filename"]: r for r in json.loads((out / "report.json").read_text())["images"]}
    from hc_tf.report import fhir
    obs = fhir.bundle_observations(
        json.loads((out / records["known.dcm"]["dicom"]["fhir"]).read_text()))
    assert len(obs) >= 5 and [o["subject"] for o in obs.values()] == len(obs) * [  # HC, BPD,
        {"type": "Patient", "identifier": {"system": system, "value": CANARY}}]  # ... (GAs)
    assert "fhir_notes" not in records["known.dcm"]["dicom"]
    bare = json.loads((out / records["anonymous.dcm"]["dicom"]["fhir"]).read_text())
    assert len(bare["entry"]) >= 5 and "subject" not in json.dumps(bare)
    [note] = records["anonymous.dcm"]["dicom"]["fhir_notes"]
    assert "PatientID (0010,0020)" in note
    said = result.output + "".join(capfd.readouterr())
    assert f"anonymous.dcm: {note}" in said, said
    assert CANARY not in said and CANARY not in (out / "report.json").read_text()
    names = [n for _, dirs, files in os.walk(tmp_path) for n in dirs + files]
    assert not any(CANARY in n for n in names), names


def test_a_bad_fhir_patient_system_is_a_usage_error_before_anything_loads(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli.main, ["predict", "--model", str(tmp_path / "none.tflite"),
                                           str(tmp_path / "none.dcm"), "--out", str(out),
                                           "--fhir-patient-system", "HOSPITAL A"])
    assert result.exit_code == 2, result.output
    assert "--fhir-patient-system" in result.output and "'HOSPITAL A'" in result.output
    assert "none.tflite" not in result.output and not out.exists()


def test_a_files_last_menstrual_date_dates_it_unless_a_ga_is_typed(tmp_path, capfd, caplog):
    """The centile's GA from the file (Last Menstrual Date at StudyDate), as its pixel size is;
    a GA typed for the image wins (a clinician's dating); a date that cannot date it gives a
    note naming the tags, never the date, and no centile."""
    from hc_tf import clinical
    from hc_tf.io import dicom_dating
    cases = {"lmp": ("20250701", "20260101"), "bad": ("20251399", "20260101"),
             "nostudy": ("20250701", ""), "late": ("20240101", "20260101")}
    paths = {}
    for stem, (lmp, study) in cases.items():
        ds = dicom_files.gray_dataset(HEADS[0])
        with pydicom.config.disable_value_validation():  # a scanner's bad date, as written
            ds.LastMenstrualDate, ds.StudyDate = lmp, study
        paths[stem] = dicom_files.save(ds, str(tmp_path / f"{stem}.dcm"))
    paths["none"] = dicom_files.save(dicom_files.gray_dataset(HEADS[0]), str(tmp_path / "none.dcm"))
    capfd.readouterr()
    run = predict_lib.predict_files(MODEL, list(paths.values()), str(tmp_path / "out"))
    assert "1399" not in "".join(capfd.readouterr()) + caplog.text  # no patient date in a log
    got = {r["filename"][:-4]: r for r in run.records}
    weeks = (184 / 7.0)  # 2025-07-01 to 2026-01-01
    lmp = got["lmp"]
    assert lmp["known_ga_weeks"] == weeks and lmp["dating"]["source"] == dicom_dating.LMP_SOURCE
    assert lmp["centile"]["centile"] == clinical.hc_centile(lmp["hc_mm"], weeks).centile
    assert "dating_note" not in lmp["dicom"]
    for stem, words in [("bad", "Last Menstrual Date (0010,21D0) is not a date"),
                        ("nostudy", "without a StudyDate (0008,0020)"),
                        ("late", "gives 104.4 weeks at StudyDate (0008,0020), outside 10-45 weeks")]:
        assert got[stem]["centile"] is None and got[stem]["known_ga_weeks"] is None
        assert words in got[stem]["dicom"]["dating_note"] and "2024" not in got[stem]["dicom"]["dating_note"]
    assert got["none"]["centile"] is None and "dating_note" not in got["none"]["dicom"]
    typed = predict_lib.predict_files(MODEL, [paths["lmp"]], str(tmp_path / "typed"), ga_weeks="30+0")
    [record] = typed.records
    assert record["known_ga_weeks"] == 30.0 and record["dating"]["source"] != dicom_dating.LMP_SOURCE


LMP_CASES = [("20250701", "20260101"), ("2025-07-01", "2026.01.01"), ("20251399", "20260101"),
             ("20250701", ""), ("20240101", "20260101"), ("20260101", "20250701"),
             ("20240229", "20241201"), ("20250314", "20250523"), ("20250315", "20250523"),
             ("", "20260101"), ("  ", "20260101"), ("20250701 ", "20260101")]


def test_the_web_apps_lmp_dating_is_the_pythons(tmp_path):
    """dating.js lmpGaWeeks against dicom_dating.lmp_ga_weeks: weeks and notes, at the 10-week
    edge (70 days: in, 69: out), a leap day, an LMP after the study, bad and empty dates."""
    from hc_tf.io import dicom_dating
    from tests.scripts import node_json
    python = [list(dicom_dating.lmp_ga_weeks({"LastMenstrualDate": lmp, "StudyDate": study}))
              for lmp, study in LMP_CASES]
    assert python[7][0] == 10.0 and python[8][0] is None  # exactly 10 weeks in, a day less out
    dating = os.path.abspath(os.path.join(REPO, "web_app", "src", "core", "dating.js"))
    script = (f"import {{ lmpGaWeeks }} from {json.dumps(dating)};\n"
              "const spec = { hc_centile: { ga_input_weeks: [10, 45] } };\n"
              f"const cases = {json.dumps(LMP_CASES)};\n"
              "console.log(JSON.stringify(cases.map(([l, s]) => { const r = lmpGaWeeks(spec, l, s);"
              " return [r.weeks, r.note]; })));\n")
    assert node_json(tmp_path, script) == python


def test_the_same_image_under_two_names_is_measured_once(tmp_path):
    """One DICOM image copied under two names (one SOPInstanceUID): the second is refused
    naming the first, so an exam counts it once and it gets one SR and one FHIR file."""
    import shutil
    first = dicom_files.save(dicom_files.gray_dataset(HEADS[0]), str(tmp_path / "a.dcm"))
    shutil.copy(first, tmp_path / "b.dcm")
    other = dicom_files.save(dicom_files.gray_dataset(HEADS[1]), str(tmp_path / "c.dcm"))
    result = predict_lib.predict_files(MODEL, [first, str(tmp_path / "b.dcm"), other],
                                       str(tmp_path / "out"))
    assert [r["filename"] for r in result.records] == ["a.dcm", "c.dcm"]
    [(path, why)] = result.unreadable
    assert path.endswith("b.dcm") and why == (
        f"{tmp_path / 'b.dcm'}: the same DICOM image as {first} (the same SOPInstanceUID "
        "(0008,0018)); measured once, as that file")
    heads = [n for n in os.listdir(tmp_path / "out" / "fhir") if ".obgyn." not in n]
    assert sorted(heads) == ["a.fhir.json", "c.fhir.json"]
