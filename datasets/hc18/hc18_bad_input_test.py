"""Bad HC18 sources: one error listing every offending file and why."""

import shutil

import cv2
import numpy as np
import pytest

from hc_tf_datasets.hc18 import prepared, sources

DUMMY = __file__.rsplit("/", 1)[0] + "/dummy_data"


def _broken_copy(tmp_path):
    root = tmp_path / "hc18"
    shutil.copytree(DUMMY, root)
    ts = root / "training_set"
    (ts / "000_HC_Annotation.png").unlink()                                   # no annotation
    (ts / "001_HC.png").unlink()                                              # CSV row, no image
    (ts / "002_HC.png").write_bytes(b"\x89PNG\r\n\x1a\ngarbage")              # corrupt PNG
    (ts / "003_HC.png").write_bytes(b"GIF89a not a png")                      # not a PNG
    cv2.imwrite(str(ts / "004_HC.png"), np.zeros((54, 80, 3), np.uint8))      # RGB
    cv2.imwrite(str(ts / "005_HC.png"), np.zeros((54, 80), np.uint16))        # 16-bit
    line = np.zeros((60, 84), np.uint8)
    line[30, 5:70] = 255
    cv2.imwrite(str(ts / "006_HC_Annotation.png"), line)                      # not an ellipse
    csv_path = root / "training_set_pixel_size_and_HC.csv"
    text = csv_path.read_text().replace("007_HC.png,0.170000", "007_HC.png,-1")  # bad pixel size
    csv_path.write_text(text)
    return root


def test_every_bad_file_is_named_with_its_reason(tmp_path):
    root = _broken_copy(tmp_path)
    good, problems = sources.scan_labelled(str(root / "training_set"),
                                           str(root / "training_set_pixel_size_and_HC.csv"))
    reasons = dict(problems)
    assert "image without annotation" in reasons["000_HC.png"]
    assert "without image" in reasons["001_HC.png"]
    assert "corrupt" in reasons["002_HC.png"]
    assert "not a PNG" in reasons["003_HC.png"]
    assert "3-channel" in reasons["004_HC.png"]
    assert "16-bit" in reasons["005_HC.png"]
    assert "ellipse" in reasons["006_HC_Annotation.png"] or "outline" in reasons["006_HC_Annotation.png"]
    assert "pixel size" in reasons["007_HC.png"]
    assert {g.filename for g in good} == {"003_2HC.png", "008_HC.png", "009_HC.png"}
    message = str(sources.InvalidSourceError(problems))
    assert "8 invalid file(s)" in message and "005_HC.png: 16-bit" in message


def test_build_fails_without_leaving_a_complete_dataset(tmp_path):
    import tensorflow_datasets as tfds
    root = _broken_copy(tmp_path)
    builder = prepared.make_builder(str(tmp_path / "tfds"), 0.2)
    with pytest.raises(sources.InvalidSourceError):
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(root)))
    assert not prepared.make_builder(str(tmp_path / "tfds"), 0.2).is_prepared()


def test_skip_invalid_builds_from_the_good_files_and_reports_the_count(tmp_path, capsys):
    import tensorflow_datasets as tfds
    root = _broken_copy(tmp_path)
    builder = prepared.make_builder(str(tmp_path / "tfds"), 0.2, skip_invalid=True)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(root)))
    assert "skipped 8 invalid file(s)" in capsys.readouterr().out
    names = {ex["filename"].decode() for split in ("train", "validation")
             for ex in tfds.as_numpy(builder.as_dataset(split=split))}
    assert names == {"003_2HC.png", "008_HC.png", "009_HC.png"}


def test_a_row_that_is_not_an_hc18_image_name_is_an_invalid_file(tmp_path, capsys):
    import tensorflow_datasets as tfds
    root = tmp_path / "hc18"
    shutil.copytree(DUMMY, root)
    for folder, old, new in (("training_set", "008_HC", "scan8"), ("test_set", "101_HC", "x")):
        for suffix in (".png", "_Annotation.png"):
            if (root / folder / f"{old}{suffix}").exists():
                (root / folder / f"{old}{suffix}").rename(root / folder / f"{new}{suffix}")
        csv_path = root / ("training_set_pixel_size_and_HC.csv" if folder == "training_set"
                           else "test_set_pixel_size.csv")
        csv_path.write_text(csv_path.read_text().replace(f"{old}.png", f"{new}.png"))
    _, problems = sources.scan_labelled(str(root / "training_set"),
                                        str(root / "training_set_pixel_size_and_HC.csv"))
    assert problems == [("scan8.png", "not an HC18 image name (NNN_HC.png or NNN_kHC.png): "
                                      "its subject is unknown")]
    # --skip-invalid builds without them; it raised "scan8.png: not an HC18 image name"
    # after the scan, whatever it skipped.
    builder = prepared.make_builder(str(tmp_path / "tfds"), 0.2, skip_invalid=True)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(root)))
    assert "skipped 2 invalid file(s)" in capsys.readouterr().out
    assert {k: v.num_examples for k, v in builder.info.splits.items()}["test"] == 1


def test_an_image_over_the_pixel_limit_is_an_invalid_file_not_a_traceback(tmp_path, monkeypatch):
    root = tmp_path / "hc18"
    shutil.copytree(DUMMY, root)
    # A few kB of PNG whose header says 6000 x 5000: OpenCV's guard raised cv2.error.
    cv2.imwrite(str(root / "training_set" / "008_HC.png"), np.zeros((5000, 6000), np.uint8))
    monkeypatch.setenv("HC_TF_MAX_INPUT_PIXELS", "1000000")
    monkeypatch.setenv("OPENCV_IO_MAX_IMAGE_PIXELS", "1000000")
    _, problems = sources.scan_labelled(str(root / "training_set"),
                                        str(root / "training_set_pixel_size_and_HC.csv"))
    assert problems == [("008_HC.png", "image too large (6000 x 5000 pixels; at most 1,000,000 "
                                       "pixels, see HC_TF_MAX_INPUT_PIXELS)")]
    monkeypatch.setenv("HC_TF_MAX_INPUT_BYTES", "100")
    good, problems = sources.scan_labelled(str(root / "training_set"),
                                           str(root / "training_set_pixel_size_and_HC.csv"))
    assert not good and all(why.startswith("file too large (") for _, why in problems)


def test_a_skip_invalid_build_is_found_by_train_and_evaluate(tmp_path):
    import os

    import tensorflow_datasets as tfds
    from click.testing import CliRunner

    from hc_tf import cli
    from hc_tf.train import data as data_lib

    root = _broken_copy(tmp_path)
    data_dir = str(tmp_path / "tfds")
    builder = prepared.make_builder(data_dir, 0.2, skip_invalid=True)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(root)))
    train = {ex["filename"].decode() for ex in tfds.as_numpy(data_lib.load_split(data_dir, "train"))}
    assert train and train < {"003_2HC.png", "008_HC.png", "009_HC.png"}

    model = os.path.join(os.path.dirname(DUMMY), "..", "..", "hc_tf", "models", "hc_effunet_int8.tflite")
    result = CliRunner().invoke(cli.main, ["evaluate", "--model", model, "--data-dir", data_dir,
                                           "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "eval" / "per_image.csv").is_file()

    # Another validation fraction: the message names what is there.
    with pytest.raises(FileNotFoundError, match="present: val20_skip_invalid"):
        data_lib.load_split(data_dir, "train", validation_fraction=0.1)


def _no_network(monkeypatch):
    """Fails the test on any connection attempt."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.parametrize("keep, missing", [
    ("training_set", "training_set_pixel_size_and_HC.csv"),        # images, no CSV
    ("training_set_pixel_size_and_HC.csv", "training_set/"),       # the CSV only
])
def test_an_incomplete_manual_dir_names_what_is_missing_without_downloading(
        tmp_path, monkeypatch, keep, missing):
    import tensorflow_datasets as tfds
    _no_network(monkeypatch)
    manual = tmp_path / "manual"
    manual.mkdir()
    source = tmp_path / "copy"
    shutil.copytree(DUMMY, source)
    shutil.move(str(source / keep), str(manual / keep))
    builder = prepared.make_builder(str(tmp_path / "tfds"), 0.2)
    with pytest.raises(sources.MissingSourceError, match=f"incomplete HC18 release, missing {missing}"):
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))


def test_an_offline_download_fails_within_seconds_with_advice(tmp_path, monkeypatch):
    import socket
    import time

    import tensorflow_datasets as tfds

    def offline(*args, **kwargs):
        raise OSError("Network is unreachable")
    monkeypatch.setattr(socket, "create_connection", offline)
    builder = prepared.make_builder(str(tmp_path / "tfds"), 0.2)  # no manual dir: download
    t = time.time()
    with pytest.raises(sources.DownloadUnavailableError, match="cannot reach zenodo.org.*--manual-dir"):
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig())
    assert time.time() - t < 10


def test_a_png_predict_refuses_as_damaged_is_an_invalid_file(tmp_path):
    """The builder decodes with OpenCV as predict does, and checks first as predict does
    (hc_tf.io.png_chunks, png_zlib): a PNG cut inside its IEND chunk was built into the dataset,
    libpng reading it, where predict refuses it."""
    root = tmp_path / "hc18"
    shutil.copytree(DUMMY, root)
    image = root / "training_set" / "008_HC.png"
    image.write_bytes(image.read_bytes()[:-6])
    good, problems = sources.scan_labelled(str(root / "training_set"),
                                           str(root / "training_set_pixel_size_and_HC.csv"))
    assert dict(problems)["008_HC.png"] == ("corrupt PNG (the file ends before its IEND chunk "
                                            "(cut short?))")
    assert "008_HC.png" not in {g.filename for g in good}
