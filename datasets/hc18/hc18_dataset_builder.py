"""HC18: fetal head circumference on 2D ultrasound, as a TFDS dataset.

Splits: `train` and `validation` are carved from the labelled images by subject
(010_HC and 010_2HC are one fetus) and stratified by head circumference;
`test` is the challenge's unlabelled set. Every example keeps the image as
stored; the head mask is rasterised from an ellipse fitted to the expert's
outline (never flood-filled: outlines of large heads run off the image).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, Iterator, List

import numpy as np
import tensorflow_datasets as tfds

from hc_tf import defaults
from hc_tf import measure as measure_lib
from hc_tf_datasets.hc18 import sources, subjects
from hc_tf_datasets.hc18.subjects import subject_id


@dataclasses.dataclass
class Hc18Config(tfds.core.BuilderConfig):
    """Args:
      validation_fraction: share of labelled *subjects* held out for validation.
      skip_invalid: skip invalid files (reporting their count) instead of failing.
    """

    validation_fraction: float = defaults.VALIDATION_FRACTION
    skip_invalid: bool = False


def config_for(validation_fraction: float = defaults.VALIDATION_FRACTION, skip_invalid: bool = False) -> Hc18Config:
    """The builder config of a validation fraction; each gets its own data folder."""
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {validation_fraction}")
    name = f"val{round(validation_fraction * 100):02d}" + ("_skip_invalid" if skip_invalid else "")
    return Hc18Config(name=name, description=f"{validation_fraction:.0%} of subjects held out",
                      validation_fraction=validation_fraction, skip_invalid=skip_invalid)


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for HC18."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: subject-wise stratified split, fitted masks."}
    BUILDER_CONFIGS = [config_for(defaults.VALIDATION_FRACTION), config_for(0.1)]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Put the HC18 release (Zenodo record 1327317) in `manual_dir`, either
    extracted (`training_set/`, `test_set/`, `training_set_pixel_size_and_HC.csv`,
    `test_set_pixel_size.csv`) or as the original zips plus the two CSVs.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        info = self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 1), dtype=np.uint8),
                "mask": tfds.features.Image(shape=(None, None, 1), dtype=np.uint8),
                "ellipse": tfds.features.FeaturesDict({
                    k: tfds.features.Scalar(np.float64) for k in ("cx", "cy", "a", "b", "angle")
                }),
                "pixel_size_mm": tfds.features.Scalar(np.float64),
                "hc_mm": tfds.features.Scalar(np.float64),
                "has_label": tfds.features.Scalar(np.bool_),
                "filename": tfds.features.Text(),
                "subject_id": tfds.features.Scalar(np.int32),
            }),
            homepage="https://hc18.grand-challenge.org/",
        )
        # HC18 is not on TFDS's GCS bucket: the lookup an unprepared builder makes there only
        # leaves an empty temp folder behind (tensorflow-datasets 4.9: one a builder made).
        info.initialize_from_bucket = lambda: None
        return info

    def _source_dirs(self, dl_manager: tfds.download.DownloadManager) -> Dict[str, str]:
        """Paths of the sources: the manual dir when it holds anything (it must then
        be complete: no download behind the user's back), else the Zenodo download.

        Raises:
          MissingSourceError: the manual dir holds an incomplete release.
          DownloadUnavailableError: nothing local and Zenodo can't be reached.
        """
        try:
            manual = os.fspath(dl_manager.manual_dir)
        except AssertionError:  # TFDS: the manual dir is missing or empty
            manual = None
        if manual:
            paths = sources.locate_sources(manual)
            for key in ("training_set", "test_set"):
                if key in paths and paths[key].endswith(".zip"):
                    paths[key] = os.path.join(os.fspath(dl_manager.extract(paths[key])), key)
            return paths
        # Nothing local: download (needs internet and registered checksums, see README).
        sources.check_zenodo_reachable()
        got = dl_manager.download_and_extract({k: sources.ZENODO_RECORD + f for k, f in sources.FILES.items()})
        return {k: (os.path.join(os.fspath(v), k) if k.endswith("_set") else os.fspath(v))
                for k, v in got.items()}

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        src = self._source_dirs(dl_manager)
        labelled, problems = sources.scan_labelled(src["training_set"], src["train_csv"])
        unlabelled: List[sources.SourceImage] = []
        if "test_set" in src and "test_csv" in src:
            unlabelled, test_problems = sources.scan_unlabelled(src["test_set"], src["test_csv"])
            problems += test_problems
        if problems and not self.builder_config.skip_invalid:
            raise sources.InvalidSourceError(problems)
        if problems:
            print(f"hc18: skipped {len(problems)} invalid file(s)")
        if not labelled:
            raise sources.InvalidSourceError([(src["training_set"], "no valid labelled image")])
        if len({subject_id(x.filename) for x in labelled}) < 2:
            raise sources.InvalidSourceError([(src["training_set"], "labelled images of one subject "
                                               "only: a train/validation split needs at least two")])
        _, held_out = subjects.split_subjects(
            subjects.mean_hc_by_subject({x.filename: x.hc_mm for x in labelled}),
            self.builder_config.validation_fraction)
        held_out = set(held_out)
        folder = src["training_set"]
        splits = {
            "train": self._generate_examples(
                folder, [x for x in labelled if subject_id(x.filename) not in held_out]),
            "validation": self._generate_examples(
                folder, [x for x in labelled if subject_id(x.filename) in held_out]),
        }
        if unlabelled:  # a release without test_set/ gives no test split (TFDS can't write empty ones)
            splits["test"] = self._generate_examples(src["test_set"], unlabelled)
        return splits

    def _generate_examples(self, folder: str, items: List[sources.SourceImage]) -> Iterator:
        for item in items:
            image = sources.read_png(os.path.join(folder, item.filename))
            labelled = item.ellipse is not None
            mask = (measure_lib.rasterize_ellipse(item.ellipse, image.shape, filled=True)
                    if labelled else np.zeros_like(image))
            yield item.filename, {
                "image": image[:, :, None], "mask": mask[:, :, None],
                "ellipse": (dataclasses.asdict(item.ellipse) if labelled
                            else {k: 0.0 for k in ("cx", "cy", "a", "b", "angle")}),
                "pixel_size_mm": item.pixel_size_mm, "hc_mm": item.hc_mm, "has_label": labelled,
                "filename": item.filename, "subject_id": subject_id(item.filename),
            }


__all__ = ["Builder", "Hc18Config", "config_for"]
