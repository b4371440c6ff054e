"""Head biometry from the fitted head ellipse: BPD, OFD, cephalic index, corrected BPD and the
GA from BPD by Hadlock 1984 (NumPy + stdlib only). Sources and checks: docs/clinical.md.

Convention (stated on every report): the ellipse is fitted to the OUTER skull outline (as
HC18's annotations are drawn), so BPD = minor axis and OFD = major axis of that ellipse, both
outer-to-outer along the fitted axes. Hadlock's BPD formula was derived on an outer-to-inner
("leading edge") BPD; an outer-to-outer BPD is larger by one skull thickness (2-3 mm: BPDoo =
0.556 + 1.027 x BPDoi mm, Wong et al., Australas J Ultrasound Med 2018;21:161), so the GA from
it reads high, by about 4 days at 21 weeks to about 10 days near term -- the HC GA is the one
to date by.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional, Tuple

from hc_tf.clinical.units import (Status, check_positive, format_beyond,
                                  weeks_to_days)

BPD_CONVENTION = ("outer-to-outer along the fitted ellipse's axes (BPD = minor axis, "
                  "OFD = major axis); Hadlock's BPD formula assumes outer-to-inner")
HADLOCK_BPD_SOURCE = ("Hadlock FP, Deter RL, Harrist RB, Park SK. Estimating fetal age: "
                      "computer-assisted analysis of multiple fetal growth parameters. "
                      "Radiology 1984;152:497-501 (BPD alone)")
CEPHALIC_INDEX_SOURCE = ("Hadlock FP, Deter RL, Carpenter RJ, Park SK. Estimating fetal age: "
                         "effect of head shape on BPD. AJR 1981;137:83-85 (mean 78.3; "
                         "beyond 1 SD, <74 or >83, BPD is unreliable and HC dates better)")
CORRECTED_BPD_SOURCE = ("Doubilet PM, Greenes RA. Improved prediction of gestational age from "
                        "fetal head measurements. AJR 1984;142:797-800: "
                        "cBPD = sqrt(BPD x OFD / 1.265)")
CEPHALIC_INDEX_NORMAL = (74.0, 83.0)   # Hadlock 1981, mean 78.3 +- 1 SD
CORRECTED_BPD_RATIO = 1.265            # Doubilet & Greenes 1984: mean OFD/BPD
HADLOCK_BPD_GA_WEEKS = (14.0, 42.0)    # the 1984 study's range (as for HC)
# Hadlock 1984, variability (+-2 SD, weeks) of menstrual age from BPD alone by 6-week interval
# of menstrual age (as reproduced in obstetric texts; see docs/clinical.md for its check).
HADLOCK_BPD_2SD_WEEKS = ((12.0, 18.0, 1.19), (18.0, 24.0, 1.73), (24.0, 30.0, 2.18),
                         (30.0, 36.0, 3.08), (36.0, 42.0, 3.20))


def hadlock_bpd_ga_weeks(bpd_mm: float) -> float:
    """Hadlock 1984 BPD formula, unchecked: GA(weeks) = 9.54 + 1.482*BPD + 0.1676*BPD^2,
    BPD in cm. Prefer `ga_from_bpd`, which enforces the 14-42 week range."""
    b = float(bpd_mm) / 10.0
    return 9.54 + 1.482 * b + 0.1676 * b * b


def bpd_ofd_mm(semi_a_mm: float, semi_b_mm: float) -> Tuple[float, float]:
    """(BPD, OFD) in mm from the ellipse's semi-axes: outer-to-outer, BPD the shorter."""
    a = check_positive(semi_a_mm, "semi-axis (mm)")
    b = check_positive(semi_b_mm, "semi-axis (mm)")
    return 2.0 * min(a, b), 2.0 * max(a, b)


def cephalic_index(bpd_mm: float, ofd_mm: float) -> float:
    """BPD / OFD x 100."""
    return 100.0 * check_positive(bpd_mm, "BPD (mm)") / check_positive(ofd_mm, "OFD (mm)")


def corrected_bpd_mm(bpd_mm: float, ofd_mm: float) -> float:
    """Doubilet & Greenes' corrected BPD: sqrt(BPD x OFD / 1.265), the BPD of a head of
    average shape with the same cross-section area."""
    return math.sqrt(check_positive(bpd_mm, "BPD (mm)") * check_positive(ofd_mm, "OFD (mm)")
                     / CORRECTED_BPD_RATIO)


# True whether or not the HC gives a GA (an HC of 46 mm is beyond every GA formula): the advice,
# not a claim that this head's HC dates it.
PREFER_HC = "prefer the HC for dating, where it gives a GA"


def head_shape(ci: float) -> Tuple[str, str]:
    """("normal" | "dolichocephalic" | "brachycephalic", sentence for a report)."""
    lo, hi = CEPHALIC_INDEX_NORMAL
    if ci < lo:
        return "dolichocephalic", (f"cephalic index {format_beyond(ci, lo, 1)} below {lo:g} "
                                   "(dolichocephalic head): BPD underestimates age; "
                                   f"{PREFER_HC}")
    if ci > hi:
        return "brachycephalic", (f"cephalic index {format_beyond(ci, hi, 1)} above {hi:g} "
                                  "(brachycephalic head): BPD overestimates age; "
                                  f"{PREFER_HC}")
    return "normal", f"cephalic index {ci:.1f} within {lo:g}-{hi:g} (normal head shape)"


@dataclasses.dataclass(frozen=True)
class BpdGa:
    """GA from BPD by Hadlock 1984: ga_days and plus_minus_days (2 SD) None unless OK."""

    bpd_mm: float
    status: Status
    ga_days: Optional[float]
    plus_minus_days: Optional[float]
    uncertainty_text: str
    message: str = ""
    source: str = HADLOCK_BPD_SOURCE


def ga_from_bpd(bpd_mm: float) -> BpdGa:
    """GA from BPD by Hadlock 1984, within 14-42 weeks only, with its published 2 SD.

    Raises:
        ValueError: BPD not a finite positive number.
    """
    bpd = check_positive(bpd_mm, "BPD (mm)")
    weeks = hadlock_bpd_ga_weeks(bpd)
    lo, hi = HADLOCK_BPD_GA_WEEKS
    if not lo <= weeks <= hi:
        shown = format_beyond(weeks, lo if weeks < lo else hi, 1)
        return BpdGa(bpd, Status.OUT_OF_RANGE, None, None, "",
                     f"out of range: BPD {bpd:.1f} mm gives {shown} weeks, outside "
                     f"{lo:g}-{hi:g} weeks where Hadlock's BPD formula applies")
    b_lo, b_hi, sd2 = next((b for b in HADLOCK_BPD_2SD_WEEKS if weeks < b[1]),
                           HADLOCK_BPD_2SD_WEEKS[-1])
    return BpdGa(bpd, Status.OK, weeks_to_days(weeks), weeks_to_days(sd2),
                 f"±{sd2:.2f} weeks (2 SD) for {b_lo:g}-{b_hi:g} weeks, Hadlock 1984 (BPD)")


@dataclasses.dataclass(frozen=True)
class Biometry:
    """BPD, OFD, cephalic index, corrected BPD and GA from BPD of one head ellipse."""

    bpd_mm: float
    ofd_mm: float
    cephalic_index: float
    head_shape: str
    head_shape_text: str
    corrected_bpd_mm: float
    ga_bpd: BpdGa
    convention: str = BPD_CONVENTION


def biometry_from_axes(semi_a_mm: float, semi_b_mm: float) -> Biometry:
    """Everything above from the ellipse's semi-axes in mm.

    Raises:
        ValueError: a semi-axis not a finite positive number.
    """
    bpd, ofd = bpd_ofd_mm(semi_a_mm, semi_b_mm)
    ci = cephalic_index(bpd, ofd)
    shape, text = head_shape(ci)
    return Biometry(bpd, ofd, ci, shape, text, corrected_bpd_mm(bpd, ofd), ga_from_bpd(bpd))
