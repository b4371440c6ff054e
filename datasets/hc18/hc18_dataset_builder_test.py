"""hc18 dataset builder test, on dummy_data/ (see dummy_data_generator.py)."""

import pathlib

import tensorflow_datasets as tfds

from hc_tf_datasets.hc18 import hc18_dataset_builder

DUMMY = pathlib.Path(__file__).parent / "dummy_data"


class Hc18DatasetBuilderTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = hc18_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["val20"]
    SPLITS = {"train": 9, "validation": 2, "test": 2}  # subjects 5 and 8 held out


def test_a_subjects_images_land_in_one_split(tmp_path):
    """NNN_HC and NNN_2HC are one subject, never on both sides. The dummy data's one pair (003)
    could share a split by luck, so every subject gets a second image (a copy, as NNN_2HC): a
    split by image would part some of ten pairs, at either fraction."""
    import shutil

    from hc_tf_datasets.hc18 import prepared

    root = tmp_path / "hc18"
    shutil.copytree(DUMMY, root)
    images, table = root / "training_set", root / "training_set_pixel_size_and_HC.csv"
    lines = table.read_text().splitlines()
    for line in list(lines[1:]):
        name = line.split(",")[0]
        twin = name.replace("_HC.png", "_2HC.png")
        if name.endswith("_2HC.png") or (images / twin).exists():
            continue
        for suffix in (".png", "_Annotation.png"):
            shutil.copy(images / name.replace(".png", suffix), images / twin.replace(".png", suffix))
        lines.append(twin + line[len(name):])
    table.write_text("\n".join(lines) + "\n")
    assert (images / "003_2HC.png").read_bytes() == (DUMMY / "training_set" / "003_2HC.png").read_bytes()

    for fraction in (0.2, 0.5):
        builder = prepared.make_builder(str(tmp_path / "tfds"), fraction)
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(root)))
        splits_of, names_of = {}, {}
        for split in ("train", "validation"):
            for ex in tfds.as_numpy(builder.as_dataset(split=split)):
                subject = int(ex["subject_id"])
                splits_of.setdefault(subject, set()).add(split)
                names_of.setdefault(subject, set()).add(ex["filename"].decode())
        assert len(splits_of) == 10, splits_of
        assert all(len(splits) == 1 for splits in splits_of.values()), (fraction, splits_of)
        assert {"validation"} in splits_of.values() and {"train"} in splits_of.values()
        assert names_of[3] == {"003_HC.png", "003_2HC.png"}, names_of[3]


if __name__ == "__main__":
    tfds.testing.test_main()
