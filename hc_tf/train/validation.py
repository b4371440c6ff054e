"""Validation during training, the same for both trainers: the challenge's ADF over the
validation split, measured through the shared measurement module, and the rule that keeps
a model (the lowest ADF so far; the last epoch when the validation images were trained on).
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np

from hc_tf import measure as measure_lib


def adf_figures(pred_hcs: Sequence[Optional[float]], ref_hcs: Sequence[float]) -> Dict[str, float]:
    """Validation ADF as HC18 scores it (a head not found counts as HC 0 mm).

    Args:
      pred_hcs: predicted HC per image in mm, None where no head was found.
      ref_hcs: the reference HCs.

    Returns:
      {"val_adf_mm", "val_adf_median_mm", "val_not_found"}.
    """
    adf = [measure_lib.challenge_difference_mm(p, r)[1] for p, r in zip(pred_hcs, ref_hcs)]
    return {"val_adf_mm": float(np.mean(adf)), "val_adf_median_mm": float(np.median(adf)),
            "val_not_found": int(sum(p is None for p in pred_hcs))}


def keeps(adf_mm: float, best_adf_mm: float, last_epoch: bool, trained_on_validation: bool) -> bool:
    """Whether this epoch's model becomes the run's best.keras: the lowest ADF so far; or, on a
    fixed schedule whose last epoch is the model (validation trained on, or a cross-validation
    fold's held-out part, never chosen on), every validated epoch: a run stopped early (a
    device call's time limit) still leaves its latest model, marked not final (`last_epoch`
    False in its best.json), and the last epoch's replaces it at the end."""
    del last_epoch  # recorded by the callers in best.json ("final")
    return True if trained_on_validation else adf_mm < best_adf_mm
