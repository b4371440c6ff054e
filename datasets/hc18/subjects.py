"""Who an HC18 image belongs to, and which subjects are held out for validation.

010_HC.png and 010_2HC.png are one fetus: every split and fold is by subject, read from the
file name, so two images of one head never fall on both sides.
"""

from __future__ import annotations

import os
import re
from typing import Dict, List, Tuple

import numpy as np

NAME = re.compile(r"^(\d+)_(\d*)HC\.png$")
NOT_A_NAME = "not an HC18 image name (NNN_HC.png or NNN_kHC.png): its subject is unknown"


def subject_id(filename: str) -> int:
    """010_HC.png and 010_2HC.png -> 10: one subject, never split apart."""
    match = NAME.match(os.path.basename(filename))
    if not match:
        raise ValueError(f"{filename}: not an HC18 image name (NNN_HC.png or NNN_kHC.png)")
    return int(match.group(1))


def split_subjects(hc_by_subject: Dict[int, float], validation_fraction: float,
                   seed: int = 0) -> Tuple[List[int], List[int]]:
    """Deterministic subject split, stratified by head circumference.

    Subjects are sorted by HC and cut into consecutive strata of
    round(1 / fraction); one subject of each stratum, drawn with a fixed seed,
    goes to validation. IDs follow gestational age, so a contiguous cut would
    hold out only the largest heads. With two or more subjects both sides get at
    least one (TFDS can't write an empty split).
    """
    order = sorted(hc_by_subject, key=lambda s: (hc_by_subject[s], s))
    stratum = max(2, int(round(1.0 / validation_fraction)))
    rng = np.random.default_rng(seed)
    val = []
    for start in range(0, len(order), stratum):
        group = order[start:start + stratum]
        if len(group) == stratum or rng.random() < len(group) / stratum:
            val.append(group[int(rng.integers(len(group)))])
    if not val and len(order) >= 2:
        val.append(order[int(rng.integers(len(order)))])
    val_set = set(val)
    return [s for s in order if s not in val_set], sorted(val_set)


def mean_hc_by_subject(hc_by_filename: Dict[str, float]) -> Dict[int, float]:
    """subject -> the mean HC of its labelled images, summed in filename order (so the
    float sum, hence the HC order the split and the folds sort by, never depends on how
    the caller ordered them)."""
    per_subject: Dict[int, List[float]] = {}
    for name in sorted(hc_by_filename):
        per_subject.setdefault(subject_id(name), []).append(float(hc_by_filename[name]))
    return {s: float(np.mean(v)) for s, v in per_subject.items()}
