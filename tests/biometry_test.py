"""Head biometry (hc_tf.clinical.biometry), dating vs sizing (hc_tf.clinical.dating) and their
place in the report records; each published value names its source."""

import math

import numpy as np
import pytest

from hc_tf import clinical
from hc_tf.clinical import biometry as B
from hc_tf.clinical import dating as D
from hc_tf.measure.geometry import Ellipse
from hc_tf.measure.result import Measurement
from hc_tf.report import records


def _measurement(a_px, b_px, angle=0.3, px=0.2, quality=None):
    return Measurement(True, "", Ellipse(400.0, 270.0, a_px, b_px, angle), px, quality)


@pytest.mark.parametrize("a_px,b_px,angle", [(300, 240, 0.0), (240, 300, 1.1), (410, 280, 2.9)])
def test_bpd_ofd_on_analytic_ellipses_are_the_axes_outer_to_outer(a_px, b_px, angle):
    px = 0.15
    m = _measurement(a_px, b_px, angle, px)
    bio = m.biometry()
    assert bio.bpd_mm == pytest.approx(2 * min(a_px, b_px) * px)
    assert bio.ofd_mm == pytest.approx(2 * max(a_px, b_px) * px)
    # check on the drawn ellipse: the widest chord through the centre along the axis
    pts = Ellipse(0.0, 0.0, a_px, b_px, angle).points(3600)
    d = np.hypot(pts[:, 0], pts[:, 1])
    assert 2 * d.max() * px == pytest.approx(bio.ofd_mm, rel=1e-4)
    assert 2 * d.min() * px == pytest.approx(bio.bpd_mm, rel=1e-4)
    assert "outer-to-outer" in bio.convention


def test_hadlock_bpd_formula_by_hand_and_range():
    # Hadlock 1984 (Radiology 152:497), BPD alone: MA = 9.54 + 1.482 BPD + 0.1676 BPD^2 (cm)
    assert B.hadlock_bpd_ga_weeks(50.0) == pytest.approx(9.54 + 7.41 + 4.19)   # 21.14 weeks
    assert B.hadlock_bpd_ga_weeks(90.0) == pytest.approx(9.54 + 13.338 + 13.5756)
    g = B.ga_from_bpd(50.0)
    assert g.status is clinical.Status.OK and g.ga_days == pytest.approx(21.14 * 7)
    assert g.plus_minus_days == pytest.approx(1.73 * 7) and "18-24" in g.uncertainty_text
    assert B.ga_from_bpd(15.0).status is clinical.Status.OUT_OF_RANGE   # ~12 weeks
    assert "outside 14-42 weeks" in B.ga_from_bpd(15.0).message


def test_cephalic_index_normal_range_hadlock_1981_and_words_when_abnormal():
    # Hadlock et al. AJR 1981;137:83: mean 78.3; beyond 1 SD (<74, >83) BPD is unreliable
    assert B.CEPHALIC_INDEX_NORMAL == (74.0, 83.0)
    assert B.cephalic_index(78.3, 100.0) == pytest.approx(78.3)
    assert B.head_shape(78.3)[0] == "normal"
    shape, text = B.head_shape(70.0)
    assert shape == "dolichocephalic" and text.endswith("prefer the HC for dating, where it gives a GA")
    shape, text = B.head_shape(88.0)
    assert shape == "brachycephalic" and text.endswith("prefer the HC for dating, where it gives a GA")


def test_head_shape_never_calls_an_hc_beyond_every_ga_formula_the_dating_measurement():
    """000_HC (HC ~46 mm, brachycephalic): no formula dates it, so its head-shape text must not
    say "HC is the preferred dating measurement"; the advice holds only where the HC gives a GA."""
    assert all(g.ga_days is None for g in clinical.ga_from_hc_all(46.0))
    b = B.biometry_from_axes(8.0, 7.0)  # a small brachycephalic head, HC ~47 mm
    assert b.head_shape == "brachycephalic"
    assert "preferred dating" not in b.head_shape_text
    assert b.head_shape_text.endswith("; prefer the HC for dating, where it gives a GA")


def test_text_never_rounds_onto_the_limit_its_flag_says_is_crossed():
    # 73.96 printed "74.0 below 74" contradicted its own flag; within the range stays plain
    assert B.head_shape(73.96) == ("dolichocephalic", B.head_shape(73.96)[1])
    assert B.head_shape(73.96)[1].startswith("cephalic index <74.0 below 74 ")
    assert B.head_shape(83.04)[1].startswith("cephalic index >83.0 above 83 ")
    assert B.head_shape(73.94)[1].startswith("cephalic index 73.9 below 74 ")
    assert B.head_shape(74.0)[1] == "cephalic index 74.0 within 74-83 (normal head shape)"
    assert B.head_shape(83.0)[0] == "normal"
    # BPD whose GA is 13.96 / 42.04 weeks: out of range, never "14.0 weeks, outside 14-42"
    for weeks, shown in ((13.96, "<14.0"), (42.04, ">42.0"), (13.5, "13.5")):
        bpd_cm = (-1.482 + (1.482 ** 2 - 4 * 0.1676 * (9.54 - weeks)) ** 0.5) / (2 * 0.1676)
        g = B.ga_from_bpd(bpd_cm * 10)
        assert g.status is clinical.Status.OUT_OF_RANGE
        assert f"gives {shown} weeks, outside 14-42 weeks" in g.message


def test_corrected_bpd_doubilet_greenes():
    # Doubilet & Greenes AJR 1984;142:797: cBPD = sqrt(BPD x OFD / 1.265); a head of average
    # shape (OFD = 1.265 BPD) keeps its BPD
    assert B.corrected_bpd_mm(80.0, 80.0 * 1.265) == pytest.approx(80.0)
    assert B.corrected_bpd_mm(70.0, 110.0) == pytest.approx(math.sqrt(70 * 110 / 1.265))


def test_bad_axes_are_refused():
    with pytest.raises(ValueError, match="must be positive"):
        B.bpd_ofd_mm(0.0, 3.0)
    with pytest.raises(ValueError, match="finite"):
        B.biometry_from_axes(float("nan"), 3.0)


def test_centile_against_hc_derived_ga_is_refused():
    hc = 250.0
    derived = clinical.ga_from_hc(hc)
    with pytest.raises(ValueError, match="GA from dating"):
        D.size_for_dates(hc, derived)
    with pytest.raises(ValueError, match="GA from dating"):
        D.dating_ga(derived, "x")
    with pytest.raises(ValueError, match="dating_ga"):
        D.size_for_dates(hc, 27.0)   # a bare number must be declared as dating
    with pytest.raises(ValueError, match="GA from dating"):
        records.image_record("x.png", _measurement(300, 240), derived)
    ok = D.size_for_dates(hc, D.dating_ga("27+3", "LMP"))
    assert ok.centile == pytest.approx(clinical.hc_centile(hc, "27+3").centile)


def test_report_record_says_ga_from_dating_and_not_a_redating():
    m = _measurement(300, 240)
    rec = records.image_record("x.png", m, 27.0)
    assert rec["dating"]["label"] == "GA from dating"
    assert rec["dating"]["display"].startswith("GA from dating: 27+0")
    assert "not a re-dating" in rec["dating"]["note"] and rec["centile"]["status"] == "ok"
    row = records.csv_row(rec)
    assert "not a re-dating" in row["dating_note"]
    none = records.image_record("x.png", m)
    assert none["dating"] is None and none["centile"] is None


def test_report_record_and_csv_carry_interval_and_biometry():
    typical = clinical.QualitySignals(fit_rms_frac=0.012, inlier_fraction=0.9,
                                      mask_ellipse_dice=0.992, uncertain_band_fraction=0.3,
                                      outside_fraction=0.0)
    m = _measurement(300, 240, quality=typical)
    rec = records.image_record("x.png", m)
    iv = m.hc_interval()
    assert rec["hc_interval"]["lower_mm"] == pytest.approx(iv.lower_mm)
    assert rec["hc_interval"]["level"] == 0.95 and "conformal" in rec["hc_interval"]["method"]
    assert rec["hc_interval"]["lower_mm"] < m.hc_mm < rec["hc_interval"]["upper_mm"]
    had = rec["ga_interval"]["hadlock"]
    assert had["combined_lower_days"] < had["ga_days"] < had["combined_upper_days"]
    assert "2 SD" in had["formula_part"] and "HC 95%" in had["measurement_part"]
    assert rec["ga_interval"]["intergrowth"]["formula_part"].endswith("none published per estimate")
    assert rec["biometry"]["bpd_mm"] == pytest.approx(96.0)
    assert rec["biometry"]["ofd_mm"] == pytest.approx(120.0)
    assert rec["biometry"]["cephalic_index"] == pytest.approx(80.0)
    row = records.csv_row(rec)
    assert set(records.REPORT_FIELDS) == set(row)
    assert row["hc_upper_95_mm"] == pytest.approx(iv.upper_mm)
    assert row["head_shape"] == "normal" and row["ga_bpd"] is not None
    missing = records.csv_row(records.image_record("y.png", Measurement(False, "none", None, 0.2)))
    assert missing["hc_lower_95_mm"] is None and missing["bpd_mm"] is None
