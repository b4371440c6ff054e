"""K-fold assignment of the labelled HC18 subjects, by subject and stratified by HC.

Fold 0 is exactly the validation split of the builder's config with fraction 1/K
(`split_subjects`: sorted by HC, strata of K, one subject of each drawn with seed 0).
The other K-1 subjects of each stratum get folds 1..K-1 in an order drawn by a separate
generator, so the validation draws stay as they always were. Hence, for K = 5, the model
trained on the `train` split of `val20` is fold 0's model, and every fold holds one
subject of every stratum: each head-size band is spread evenly over the folds.
"""

from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

from hc_tf_datasets.hc18.subjects import mean_hc_by_subject, split_subjects, subject_id

FOLD_SEED = 1  # the folds 1..K-1 draw; seed 0 is split_subjects' own


def assign_folds(hc_by_subject: Dict[int, float], n_folds: int = 5, seed: int = 0,
                 fold_seed: int = FOLD_SEED) -> Dict[int, int]:
    """subject -> fold in 0..n_folds-1 (fold 0 = split_subjects(..., 1 / n_folds, seed)'s).

    Raises:
      ValueError: for fewer than 2 folds.
    """
    if n_folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {n_folds}")
    _, validation = split_subjects(hc_by_subject, 1.0 / n_folds, seed)
    folds = {s: 0 for s in validation}
    order = sorted(hc_by_subject, key=lambda s: (hc_by_subject[s], s))  # split_subjects' order
    rng = np.random.default_rng(fold_seed)
    for start in range(0, len(order), n_folds):
        rest = [s for s in order[start:start + n_folds] if s not in folds]
        # A stratum has n_folds - 1 subjects left (one fewer if partial), so the folds are
        # distinct within it; np.resize only matters for split_subjects' tiny-set fallback.
        labels = np.resize(rng.permutation(np.arange(1, n_folds)), len(rest))
        folds.update({s: int(k) for s, k in zip(rest, labels)})
    return folds


def folds_by_filename(filenames: Sequence[str], hc_mm: Sequence[float], n_folds: int = 5
                      ) -> Dict[str, int]:
    """filename -> fold for labelled images (all of them: the train and validation splits).

    A subject's HC is the mean over its images, as the builder takes it (`mean_hc_by_subject`).
    """
    folds = assign_folds(mean_hc_by_subject(dict(zip(filenames, hc_mm))), n_folds)
    return {name: folds[subject_id(name)] for name in filenames}


__all__ = ["FOLD_SEED", "assign_folds", "folds_by_filename"]
