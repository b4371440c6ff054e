"""`hc-tf predict`'s inputs: what a folder's listing leaves out and says, the --pixel-csv columns
it reads, and the words of a missing, empty or 16-bit file."""

import os

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from hc_tf import cli
from hc_tf.surfaces import demo
from hc_tf.surfaces import predict_inputs

MODEL = demo.DEFAULT_MODEL


@pytest.fixture(scope="module")
def png(tmp_path_factory):
    """A 270x400 8-bit PNG of a bright filled ellipse."""
    gray = np.full((270, 400), 20, np.uint8)
    cv2.ellipse(gray, (200, 135), (120, 90), 17, 0, 360, 200, -1)
    return cv2.imencode(".png", gray)[1].tobytes()


def _folder(tmp_path, png, names):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes(png)
    return folder


def _predict(*args):
    return CliRunner().invoke(cli.main, ["predict", "--model", MODEL, *map(str, args)])


# --- annotation masks ----------------------------------------------------------------

def test_only_a_mask_beside_its_image_is_left_out_and_said(tmp_path, png):
    """"_Annotation" anywhere in a name left the file out without a word (my_Annotation_scan.png);
    only HC18's layout, NAME_Annotation.EXT beside the image NAME.EXT, is left out now."""
    folder = _folder(tmp_path, png, ["000_HC.png", "000_HC_Annotation.png", "001_HC.jpg",
                                     "001_HC_Annotation.PNG", "my_Annotation_scan.png",
                                     "lone_Annotation.png", "x_annotation.png", "x.png"])
    listed = predict_inputs.list_images([str(folder)])
    assert [os.path.basename(p) for p in listed] == [
        "000_HC.png", "001_HC.jpg", "lone_Annotation.png", "my_Annotation_scan.png", "x.png",
        "x_annotation.png"]
    job = predict_inputs.read_inputs([str(folder)], None, 0.1)
    assert job.paths == listed and job.refused == []
    assert job.notes == [f"left out 2 annotation masks (NAME_Annotation.png beside the image "
                         f"NAME.png, as HC18's): {folder}/000_HC_Annotation.png, "
                         f"{folder}/001_HC_Annotation.PNG; give one as a file to measure it"]


def test_a_mask_named_as_a_file_or_in_another_folder_is_measured(tmp_path, png):
    folder = _folder(tmp_path, png, ["000_HC_Annotation.png"])
    (tmp_path / "000_HC.png").write_bytes(png)  # beside the folder, not in it
    notes = []
    assert predict_inputs.list_images([str(folder)], notes=notes) == [
        str(folder / "000_HC_Annotation.png")] and notes == []
    named = [str(tmp_path / "000_HC.png"), str(folder / "000_HC_Annotation.png")]
    assert predict_inputs.list_images(named, notes=notes) == named and notes == []


def test_a_globs_masks_are_left_out_as_a_folders(tmp_path, png):
    folder = _folder(tmp_path, png, ["000_HC.png", "000_HC_Annotation.png", "a_Annotation_b.png"])
    notes = []
    listed = predict_inputs.list_images(["in/*"], match=lambda _: [str(p) for p in folder.iterdir()],
                                        notes=notes)
    assert listed == [str(folder / "000_HC.png"), str(folder / "a_Annotation_b.png")]
    assert len(notes) == 1 and notes[0].startswith(f"left out 1 annotation mask (NAME_Annotation.png "
                                                   f"beside the image NAME.png, as HC18's): "
                                                   f"{folder}/000_HC_Annotation.png; ")


def test_predict_says_the_masks_it_left_out_on_stderr(tmp_path, png):
    folder = _folder(tmp_path, png, [f"{n:03d}_HC{s}.png" for n in range(5) for s in ("", "_Annotation")])
    result = _predict(folder, "--pixel-size", "0.1", "--out", tmp_path / "out", "--no-overlays", "-q")
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if line.startswith("note: ")]
    assert notes == [f"note: left out 5 annotation masks (NAME_Annotation.png beside the image NAME.png, "
                     f"as HC18's): {folder}/000_HC_Annotation.png, {folder}/001_HC_Annotation.png, "
                     f"{folder}/002_HC_Annotation.png and 2 more; give one as a file to measure it"]
    assert "5 images" in result.output


# --- --pixel-csv columns not read -------------------------------------------------------

READS = ("predict reads the file name and pixel size (the first two columns) and, by header name, "
         "ga_weeks (a known GA) and exam (an exam's label)")


@pytest.mark.parametrize("header,row,unread", [
    ("filename,pixel size(mm),ga", "000_HC.png,0.1,27", "column not read: 'ga'"),  # gave no centile, no word
    ("filename,pixel size(mm),GA (weeks),Exam,notes", "000_HC.png,0.1,27,e,x",
     "columns not read: 'GA (weeks)', 'notes'"),
    ("filename,pixel size(mm),,", "000_HC.png,0.1,,27", "column not read: column 4 (no name)"),
    ("filename,pixel size(mm)", "000_HC.png,0.1", None),
    ("filename,pixel size(mm),", "000_HC.png,0.1,", None),  # a trailing ',' is no column
    ("filename,pixel size(mm),GA_Weeks,exam", "000_HC.png,0.1,27,e", None),
    ("filename,pixel size(mm),head circumference (mm)", "000_HC.png,0.1,150", None),  # HC18's training CSV
])
def test_the_columns_predict_does_not_read_are_named_once(tmp_path, png, header, row, unread):
    folder = _folder(tmp_path, png, ["000_HC.png"])
    csv_path = tmp_path / "sizes.csv"
    csv_path.write_text(f"{header}\r\n{row}\r\n")
    job = predict_inputs.read_inputs([str(folder)], str(csv_path), None)
    assert job.notes == ([f"{csv_path}: {unread}; {READS}"] if unread else [])


def test_hc18s_own_csvs_read_without_a_note():
    root = os.path.join(os.path.dirname(predict_inputs.__file__), "..", "sample_data")
    for name in ("test_set_pixel_size.csv", "training_set_pixel_size_and_HC.csv"):
        notes = []
        assert predict_inputs.read_pixel_csv(os.path.join(root, name), notes=notes)[0]
        assert notes == []


def test_predict_says_the_columns_it_does_not_read(tmp_path, png):
    folder = _folder(tmp_path, png, ["000_HC.png"])
    csv_path = tmp_path / "sizes.csv"
    csv_path.write_text("filename,pixel size(mm),ga\n000_HC.png,0.1,27\n")
    result = _predict(folder, "--pixel-csv", csv_path, "--out", tmp_path / "out", "--no-overlays", "-q")
    assert result.exit_code == 0, result.output
    assert f"note: {csv_path}: column not read: 'ga'; {READS}\n" in result.output


# --- the words of a missing, empty or 16-bit file, and of subfolders -------------------------

def test_a_missing_pixel_csv_is_named_in_one_line(tmp_path, png):
    folder = _folder(tmp_path, png, ["000_HC.png"])
    missing = tmp_path / "nonexist.csv"
    result = _predict(folder, "--pixel-csv", missing, "--out", tmp_path / "out")
    assert result.exit_code == 1 and result.output == f"Error: {missing}: no such file\n"


def test_a_dangling_link_is_said_to_be_one(tmp_path, png):
    """"[Errno 2] No such file or directory: '...'" was unreadable.csv's line for a link whose
    target is gone, and an extension-less one (a scanner export's IM0001) was passed over."""
    folder = _folder(tmp_path, png, ["000_HC.png"])
    for name in ("gone.png", "lost.dcm", "IM0001"):
        os.symlink(tmp_path / "moved" / name, folder / name)
    job = predict_inputs.read_inputs([str(folder)], None, 0.1)
    assert job.refused == [(f"{folder}/IM0001", f"{folder}/IM0001: not measured: a link to a missing "
                                                f"file ({tmp_path}/moved/IM0001)")]
    result = _predict(folder, "--pixel-size", "0.1", "--out", tmp_path / "out", "--no-overlays", "-q")
    assert result.exit_code == 3, result.output
    unreadable = [line for line in result.output.splitlines() if line.startswith("unreadable: ")]
    assert unreadable == [f"unreadable: {folder}/IM0001: not measured: a link to a missing file "
                          f"({tmp_path}/moved/IM0001)"] + [
        f"unreadable: {folder}/{name}: a link to a missing file ({tmp_path}/moved/{name})"
        for name in ("gone.png", "lost.dcm")]
    named = _predict(folder / "gone.png", "--pixel-size", "0.1", "--out", tmp_path / "o2")
    assert named.output == f"Error: {folder}/gone.png: a link to a missing file ({tmp_path}/moved/gone.png)\n"


def test_an_empty_file_is_said_to_be_empty(tmp_path, png):
    from hc_tf.io import images
    with pytest.raises(ValueError, match=r"^e\.png: empty file$"):
        images.decode_gray(b"", "e.png")
    folder = _folder(tmp_path, png, ["000_HC.png"])
    (folder / "empty.png").write_bytes(b"")
    (folder / "void.dcm").write_bytes(b"")
    result = _predict(folder, "--pixel-size", "0.1", "--out", tmp_path / "out", "--no-overlays", "-q")
    assert [line for line in result.output.splitlines() if line.startswith("unreadable: ")] == [
        f"unreadable: {folder}/empty.png: empty file", f"unreadable: {folder}/void.dcm: empty file"]


SIXTEEN_BITS = "a 16-bit image; hc-tf measures 8-bit images (save it as 8-bit)"


@pytest.mark.parametrize("ext,dtype,words", [
    (".png", np.uint16, SIXTEEN_BITS),  # the web app says the same (web_app/test/imagefile.test.js)
    (".tif", np.uint16, SIXTEEN_BITS),
    (".tif", np.float32, "a 32-bit floating-point image; hc-tf measures 8-bit images (save it as 8-bit)"),
])
def test_an_image_deeper_than_8_bits_is_said_to_be_so(tmp_path, ext, dtype, words):
    """It was "expected 8-bit pixels, got dtype uint16", numpy's words."""
    from hc_tf.io import images
    data = cv2.imencode(ext, np.full((40, 60), 300, dtype))[1].tobytes()
    with pytest.raises(ValueError) as err:
        images.decode_gray(data, f"deep{ext}")
    assert str(err.value) == f"deep{ext}: {words}"


def test_a_folder_whose_images_are_in_subfolders_says_they_are_not_searched(tmp_path, png):
    root = tmp_path / "export"
    for sub in ("day1", "day2", ".hidden"):
        (root / sub).mkdir(parents=True)
        (root / sub / "000_HC.png").write_bytes(png)
    result = _predict(root, "--pixel-size", "0.1", "--out", tmp_path / "out")
    assert result.exit_code == 1 and result.output == (
        f"Error: no images found in {root}; subfolders are not searched: give them as inputs "
        f"({root}/day1, {root}/day2)\n")
    (root / "day1" / "000_HC.png").rename(root / "000_HC.png")
    (root / "empty").mkdir()
    notes = []
    assert predict_inputs.list_images([str(root)], notes=notes) == [str(root / "000_HC.png")]
    assert notes == [f"subfolders are not searched: 1 with images left out ({root}/day2); give "
                     "them as inputs to measure theirs"]
