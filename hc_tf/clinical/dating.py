"""Dating versus sizing: a centile (size for age) only against a GA that comes from dating.

A GA from the LMP or an earlier scan dates the pregnancy; the HC measured today is then read
as size (centile, z) for that age. The GA derived from the same HC (Hadlock, INTERGROWTH) is
not a date to size that head against: its centile would be ~50th by construction. So the
centile takes a `DatingGa` only, and refuses an HC-derived `GaEstimate` by its type.
"""

from __future__ import annotations

import dataclasses

from hc_tf.clinical.centiles import HcCentile, hc_centile
from hc_tf.clinical.gestational_age import GaEstimate
from hc_tf.clinical.units import GaInput, format_ga, parse_ga_weeks, weeks_to_days

DATING_LABEL = "GA from dating"
NOT_A_REDATING = ("the HC-derived GA is not a re-dating: with a GA from dating, this HC is read "
                  "as size for that age (centile, z)")
REFUSAL = ("a centile needs a GA from dating (LMP or an earlier scan); the GA derived from this "
           "same HC would compare the head with itself")


@dataclasses.dataclass(frozen=True)
class DatingGa:
    """A GA from dating (LMP or an earlier scan), typed in or given per image.

    weeks: exact weeks; source: where it came from, for the report (e.g. "--ga-weeks").
    """

    weeks: float
    source: str

    def display(self) -> str:
        """e.g. "GA from dating: 27+3 (--ga-weeks)"."""
        return f"{DATING_LABEL}: {format_ga(weeks_to_days(self.weeks))} ({self.source})"


def dating_ga(value: GaInput, source: str) -> DatingGa:
    """A typed GA as a DatingGa.

    Raises:
        ValueError: an HC-derived GaEstimate (see REFUSAL), or a GA `parse_ga_weeks` refuses.
    """
    if isinstance(value, (GaEstimate, DatingGa)):
        if isinstance(value, DatingGa):
            return value
        raise ValueError(REFUSAL)
    return DatingGa(parse_ga_weeks(value), source)


def size_for_dates(hc_mm: float, ga: DatingGa) -> HcCentile:
    """The HC's centile and z at a GA from dating (`clinical.hc_centile`).

    Raises:
        ValueError: `ga` is not a DatingGa (an HC-derived GaEstimate or a bare number: a bare
            number could be either, so it must be declared through `dating_ga`).
    """
    if not isinstance(ga, DatingGa):
        raise ValueError(REFUSAL if isinstance(ga, GaEstimate) else
                         f"{REFUSAL}; wrap a typed GA with dating_ga(value, source)")
    return hc_centile(hc_mm, ga.weeks)
