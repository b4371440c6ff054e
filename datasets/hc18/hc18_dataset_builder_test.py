"""hc18 dataset builder test, on dummy_data/ (see dummy_data_generator.py)."""

import tensorflow_datasets as tfds

from hc_tf_datasets.hc18 import hc18_dataset_builder


class Hc18DatasetBuilderTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = hc18_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["val20"]
    SPLITS = {"train": 9, "validation": 2, "test": 2}  # subjects 5 and 8 held out


if __name__ == "__main__":
    tfds.testing.test_main()
