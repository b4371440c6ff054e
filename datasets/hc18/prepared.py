"""Finding a prepared HC18 dataset: the builder of a validation fraction, whichever way it
was built, or an error that says what is there and how to prepare it."""

from __future__ import annotations

from typing import List, Optional

from etils import epath

from hc_tf import defaults
from hc_tf_datasets.hc18.hc18_dataset_builder import Builder, config_for


def make_builder(data_dir: Optional[str] = None, validation_fraction: float = defaults.VALIDATION_FRACTION,
                 skip_invalid: bool = False) -> Builder:
    """The HC18 builder of a validation fraction (its own config and data folder)."""
    config = config_for(validation_fraction, skip_invalid)
    if config.name in Builder.builder_configs:  # TFDS wants predefined configs by name
        return Builder(config=config.name, data_dir=data_dir)
    return Builder(config=config, data_dir=data_dir)


def find_prepared(data_dir: str, validation_fraction: float = defaults.VALIDATION_FRACTION) -> Optional[Builder]:
    """The prepared HC18 builder of a validation fraction, whichever way it was built.

    `prepare --skip-invalid` writes its own config (valNN_skip_invalid); readers
    take the complete one (valNN) when both are present, else that one.

    Returns:
      The builder, or None when neither config is prepared in `data_dir`.
    """
    for skip_invalid in (False, True):
        builder = make_builder(data_dir, validation_fraction, skip_invalid)
        if builder.is_prepared():
            return builder
    return None


def prepared_configs(data_dir: str) -> List[str]:
    """Names of the HC18 configs with a prepared version in `data_dir`, sorted."""
    root = epath.Path(data_dir) / Builder.name
    if not root.is_dir():
        return []
    return sorted(config.name for config in root.iterdir()
                  if config.is_dir() and any(v.joinpath("dataset_info.json").exists()
                                             for v in config.iterdir() if v.is_dir()))


def load_prepared(data_dir: str, validation_fraction: float = defaults.VALIDATION_FRACTION) -> Builder:
    """`find_prepared`, or an error naming what was looked for and what is there.

    Raises:
      FileNotFoundError: when neither config of `validation_fraction` is prepared.
    """
    builder = find_prepared(data_dir, validation_fraction)
    if builder is not None:
        return builder
    wanted = [config_for(validation_fraction, skip).name for skip in (False, True)]
    present = prepared_configs(data_dir)
    hint = (f"present: {', '.join(present)} (choose it with --validation-fraction)" if present
            else f"run `hc-tf prepare --manual-dir DIR --data-dir {data_dir}` first")
    raise FileNotFoundError(f"{data_dir}: no prepared HC18 dataset ({' or '.join(wanted)}); {hint}")


__all__ = ["make_builder", "find_prepared", "prepared_configs", "load_prepared"]
