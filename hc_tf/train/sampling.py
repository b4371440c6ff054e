"""Size-weighted sampling, one rule for both trainers (`--large-head-repeat R`): every
training image whose reference HC is over `defaults.LARGE_HEAD_MM` appears R times an epoch,
the others once. Deterministic (no draw): the shuffle mixes the copies and the augmentation,
keyed by position, makes each copy differ. NumPy only: the JAX trainer imports it too.
"""

from __future__ import annotations

import numpy as np

from hc_tf import defaults


def check_repeat(repeat: int) -> None:
    """Raises ValueError for a repeat below 1."""
    if int(repeat) != repeat or repeat < 1:
        raise ValueError(f"--large-head-repeat {repeat}: need a whole number >= 1 (1: off)")


def copies(hc_mm, repeat: int, threshold_mm: float = defaults.LARGE_HEAD_MM) -> np.ndarray:
    """How many times each image appears an epoch: `repeat` for a head over the threshold."""
    check_repeat(repeat)
    return np.where(np.asarray(hc_mm, np.float64) > threshold_mm, int(repeat), 1)


def epoch_index(hc_mm, repeat: int, threshold_mm: float = defaults.LARGE_HEAD_MM) -> np.ndarray:
    """Image indices of one (unshuffled) epoch, each as often as `copies` says; for
    repeat 1 exactly arange(n)."""
    return np.repeat(np.arange(len(hc_mm)), copies(hc_mm, repeat, threshold_mm))


def describe(n_images: int, n_epoch: int, repeat: int,
             threshold_mm: float = defaults.LARGE_HEAD_MM) -> str:
    """One line for the log: an epoch's size and its repeated large heads."""
    n_large = (n_epoch - n_images) // max(1, repeat - 1)
    return (f"large-head repeat {repeat}: {n_epoch} images an epoch ({n_images} + {n_large} "
            f"heads over {threshold_mm:g} mm x {repeat - 1} more)")
