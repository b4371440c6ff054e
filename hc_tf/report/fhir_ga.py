"""The gestational age (GA) an HC gives, as FHIR R4 Observations: an image's, in its head's
Bundle (`fhir.head_bundle`), and an exam's, in its DiagnosticReport (`fhir_exam`), one form.

One Observation per equation (Hadlock 1984, INTERGROWTH-21st), as the SR has a GA per
equation: LOINC 18185-9, the equation in the code's text and in the method ("Hadlock 1984 (HC)
from this image's HC"), the value in days (UCUM "d", to 2 decimals), and its 95% interval
riding on the value as the HC's does (`fhir.with_interval`), by exams.csv's rule
(`exams.ga_interval_bounds`): the HC interval through the equation combined with the
equation's own spread (Hadlock's 2 SD), its method saying so. INTERGROWTH-21st publishes no
per-estimate spread, so its GA has no interval (the measurement's part alone would make it look
several times more precise than it is), and a note quoting the paper's prediction interval
instead. An equation whose range the HC is outside gives no Observation.

Both share code 18185-9, so `short_name` tells them apart by the code's text: the node files
each under an id of its own (`fhir.bundle_observations`).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from hc_tf.report import fhir
from hc_tf.report import loinc

GA_KEYS = ("hadlock", "intergrowth")  # in this order, in a bundle as in the SR
GA_TEXT = {"hadlock": "Hadlock 1984 (HC)", "intergrowth": "INTERGROWTH-21st 2016 (HC)"}
# The node's id suffixes: short, as a FHIR id holds 64 of [A-Za-z0-9.-] and the base id ~55.
SHORT_NAMES = {"hadlock": "gahl", "intergrowth": "gaig"}


def ga_code(key: str) -> Dict[str, Any]:
    """The GA's code by equation `key`: LOINC 18185-9, the equation in its text."""
    return {"coding": [{"system": fhir.LOINC, "code": loinc.GESTATIONAL_AGE}],
            "text": f"Gestational age by fetal head circumference, {GA_TEXT[key]}"}


def short_name(doc: Mapping[str, Any]) -> Optional[str]:
    """"gahl" | "gaig" for a GA Observation of `ga_observation`'s, else None."""
    for key in GA_KEYS:
        if doc.get("code") == ga_code(key):
            return SHORT_NAMES[key]
    return None


def spread_note(ga: Mapping[str, Any]) -> List[Dict[str, str]]:
    """The note of a GA whose equation publishes no per-estimate spread (a GA record's
    "uncertainty_days" None: INTERGROWTH-21st), quoting its "uncertainty" text; [] else."""
    if ga.get("uncertainty_days") is not None or not ga.get("uncertainty"):
        return []
    return [{"text": f"no 95% interval of the GA (the equation's own spread: "
                     f"{ga['uncertainty']})"}]


def ga_observation(key: str, days: float, whose: str, interval: Optional[Dict[str, Any]],
                   model: Any, derived: List[Dict[str, Any]], notes: List[Dict[str, str]],
                   effective: Optional[str], subject: Optional[Dict[str, Any]]
                   ) -> Dict[str, Any]:
    """The GA by equation `key` of `whose` HC ("the exam's", "this image's"), in days, with its
    interval record (days; None: no interval), `derived` and `notes` as given (the interval's
    method note after them); other arguments as `fhir.head_observation`'s."""
    doc = fhir.head_observation(ga_code(key), round(float(days), 2),
                                f"{GA_TEXT[key]} from {whose} HC", model, derived, notes,
                                effective, subject, unit="d")
    return fhir.with_interval(doc, "GA", interval, "d")


def image_ga_observations(gestational_age: Optional[Mapping[str, Any]],
                          ga_interval: Optional[Mapping[str, Any]], model: Any,
                          derived: List[Dict[str, Any]], notes: List[Dict[str, str]],
                          effective: Optional[str], subject: Optional[Dict[str, Any]]
                          ) -> List[Dict[str, Any]]:
    """An image's GA Observations, one per equation in range (report.json's
    "gestational_age"[key] with status "ok"), each with its interval from "ga_interval"[key]
    (`exams.image_ga_interval_record`) and the image's `derived` and review `notes`."""
    from hc_tf.report import exams
    out = []
    for key in GA_KEYS:
        ga = (gestational_age or {}).get(key) or {}
        if ga.get("status") == "ok":
            interval = exams.image_ga_interval_record((ga_interval or {}).get(key), key)
            out.append(ga_observation(key, ga["ga_days"], "this image's", interval, model,
                                      derived, list(notes) + spread_note(ga), effective,
                                      subject))
    return out
