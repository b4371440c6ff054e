"""AURC / AUGRC of benchmarks/risk_coverage.py and the soft-Dice confidence, on crafted cases."""

import numpy as np
import pytest

from tests.scripts import load_script


def test_aurc_and_augrc_by_hand():
    rc = load_script("benchmarks/risk_coverage.py")
    failure = np.array([0.0, 1.0, 0.0, 1.0])
    best = rc.areas(np.array([4.0, 1.0, 3.0, 2.0]), failure)  # failures ranked last
    # kept 1..4: risks 0, 0, 1/3, 2/4; generalized: 0, 0, 1/4, 2/4
    assert best["aurc"] == pytest.approx((0 + 0 + 1 / 3 + 0.5) / 4)
    assert best["augrc"] == pytest.approx((0 + 0 + 0.25 + 0.5) / 4)
    worst = rc.areas(-np.array([4.0, 1.0, 3.0, 2.0]), failure)
    assert worst["aurc"] > best["aurc"] and worst["augrc"] > best["augrc"]


def test_flag_margin_is_positive_exactly_when_the_shipped_rule_flags():
    rc = load_script("benchmarks/risk_coverage.py")
    from hc_tf import clinical
    from hc_tf.clinical.review import CALIBRATED_SIGNALS
    t = clinical.DEFAULT_REVIEW_THRESHOLDS
    # Every signal clear of its limit, then each calibrated one just past it in turn.
    clear = dict(fit_rms_frac=0.005, inlier_fraction=0.95, mask_ellipse_dice=0.995,
                 uncertain_band_fraction=0.2, outside_fraction=0.0, hc_mm=200.0)
    rows = [clear] + [{**clear, name: getattr(t, field) + 0.001 * direction}
                      for name, field, direction in CALIBRATED_SIGNALS]
    cols = {"filename": np.array([str(i) for i in range(len(rows))])}
    cols.update({name: np.array([r[name] for r in rows]) for name, _, _ in CALIBRATED_SIGNALS})
    shipped = [clinical.review_flag(clinical.QualitySignals(**r))[0] for r in rows]
    assert shipped == [False] + [True] * len(CALIBRATED_SIGNALS)
    assert list(rc.flag_margin(cols) > 0) == shipped


def test_the_calibrated_pair_is_one_the_calibration_search_can_choose():
    cal = load_script("benchmarks/review_flag_calibration.py")
    from hc_tf.clinical.review import CALIBRATED_SIGNALS
    assert 1 <= len(CALIBRATED_SIGNALS) <= 2  # the search's rules have at most two signals
    for name, field, direction in CALIBRATED_SIGNALS:
        assert cal.SIGNALS[name] == (field, direction)


def test_soft_dice_confidence_is_one_for_a_crisp_map_and_lower_for_a_soft_one():
    from hc_tf.surfaces import interval_predictions as cal
    crisp = np.zeros((20, 20))
    crisp[5:15, 5:15] = 1.0
    assert cal.soft_dice_confidence(crisp) == pytest.approx(1.0)
    soft = np.where(crisp > 0, 0.6, 0.4)
    assert cal.soft_dice_confidence(soft) < 0.6
    assert cal.soft_dice_confidence(np.zeros((4, 4))) == 0.0
