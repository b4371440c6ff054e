"""Issue 24 item 1: every clinical read-out takes any HC from 0 to 1e6 mm without crashing.

An HC of metres (a huge image at a plausible pixel size) once overflowed INTERGROWTH's exp
before its range check ran (`OverflowError: math range error`) and ended the whole predict
run. Each function must return its result, OUT_OF_RANGE, or a ValueError with a message.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from hc_tf import clinical
from hc_tf import measure as measure_lib
from hc_tf.measure.geometry import Ellipse
from hc_tf.report import records as report_lib

# 0, tiny, the valid spans' edges and every magnitude up to 1e6 mm (4.8 m once overflowed).
HC_SWEEP = sorted({0.0, *np.geomspace(1e-6, 1e6, 600).tolist(),
                   *np.linspace(0.0, 1e6, 201).tolist(), 4800.0, 4900.0, 1e5,
                   *(x for m in clinical.GaMethod for x in clinical.valid_hc_range_mm(m))})


def _measurement(hc_mm: float) -> measure_lib.Measurement:
    """A found measurement of a circle whose perimeter is `hc_mm` at 1 mm pixels."""
    r = hc_mm / (2 * math.pi)
    q = clinical.QualitySignals(0.01, 0.9, 0.99, 0.1, 0.0, hc_mm, 0.0)
    return measure_lib.Measurement(True, "", Ellipse(0.0, 0.0, r, r, 0.0), 1.0, q)


def _calls(hc):
    yield "ga_from_hc_all", lambda: clinical.ga_from_hc_all(hc)
    for m in clinical.GaMethod:
        yield f"ga_from_hc {m.value}", lambda m=m: clinical.ga_from_hc(hc, m)
        yield f"ga_record {m.value}", lambda m=m: report_lib.ga_record(clinical.ga_from_hc(hc, m))
        yield f"ga_line {m.value}", lambda m=m: report_lib.ga_line(clinical.ga_from_hc(hc, m))
    yield "hadlock_ga_weeks", lambda: clinical.hadlock_ga_weeks(hc)
    yield "intergrowth_ga_days", lambda: clinical.intergrowth_ga_days(hc)
    for ga in ("14+0", 27.4, "40+0", 44.0):
        yield f"hc_centile {ga}", lambda ga=ga: clinical.hc_centile(hc, ga).display()
    yield "format_hc_mm", lambda: clinical.format_hc_mm(hc)
    yield "review_flag", lambda: clinical.review_flag(clinical.QualitySignals(hc_mm=hc))
    if hc > 0:
        yield "image_record", lambda: report_lib.csv_row(
            report_lib.image_record("x.png", _measurement(hc), 27.0))


def test_every_clinical_function_takes_any_hc():
    failures = []
    for hc in HC_SWEEP:
        for name, call in _calls(hc):
            try:
                call()
            except ValueError as err:
                assert str(err), (name, hc)
            except Exception as err:  # what the test looks for
                failures.append(f"{name}({hc!r}): {type(err).__name__}: {err}")
    assert not failures, "\n".join(failures[:20])


@pytest.mark.parametrize("hc", [400.0, 4800.0, 5000.0, 1e5, 1e6])
def test_huge_hc_is_out_of_range_by_both_formulas(hc):
    for est in clinical.ga_from_hc_all(hc):
        assert est.status is clinical.Status.OUT_OF_RANGE and est.ga_days is None
        assert est.message.startswith(f"out of range: HC {hc:.1f} mm is outside ")


def test_zero_and_negative_hc_are_refused_in_words():
    for hc in (0.0, -1.0):
        with pytest.raises(ValueError, match="HC \\(mm\\) must be positive"):
            clinical.ga_from_hc(hc)


def test_range_edges_unchanged():
    """The HC pre-check does not move the edges: the GA range still decides them."""
    for m in clinical.GaMethod:
        lo, hi = clinical.valid_hc_range_mm(m)
        assert clinical.ga_from_hc(lo + 1e-6, m).status is clinical.Status.OK
        assert clinical.ga_from_hc(hi - 1e-6, m).status is clinical.Status.OK
        assert clinical.ga_from_hc(lo - 1e-3, m).status is clinical.Status.OUT_OF_RANGE
        assert clinical.ga_from_hc(hi + 1e-3, m).status is clinical.Status.OUT_OF_RANGE


def test_the_docs_hc_ranges_hold_only_values_in_range():
    """docs/clinical.md's GA table names each formula's HC range; every HC in it, its ends
    included, gives a GA (357.7 mm, written before, is beyond Hadlock's 357.66)."""
    import os
    import re
    from hc_tf import clinical
    path = os.path.join(os.path.dirname(__file__), "..", "docs", "clinical.md")
    with open(path, encoding="utf-8") as f:
        rows = [line for line in f if line.startswith("| `hadlock_1984`")
                or line.startswith("| `intergrowth21_hc_2016`")]
    assert len(rows) == 2
    for row in rows:
        method = row.split("`")[1]
        lo, hi = (float(x) for x in re.search(r"HC (\d+\.\d+)-(\d+\.\d+) mm", row).groups())
        for hc in (lo, hi, (lo + hi) / 2):
            assert clinical.ga_from_hc(hc, method).status is clinical.Status.OK, (method, hc)
