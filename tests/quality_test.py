"""hc_tf/measure/quality.py through `measure.measure`: the review flag on crafted probability maps.

A clean ellipse is not flagged; a ragged, a blurred and a cut one are, each with its reason
(the calibrated thresholds of `clinical.DEFAULT_REVIEW_THRESHOLDS`).
"""

import math

import cv2
import numpy as np
import pytest

from hc_tf import clinical
from hc_tf import measure as M
from hc_tf import preprocess

HW = (224, 320)
HEAD = M.Ellipse(160.0, 112.0, 80.0, 60.0, 0.3)


def _prob(e=HEAD, blur=1.0):
    mask = M.rasterize_ellipse(e, HW).astype(np.float32)
    return cv2.GaussianBlur(mask, (0, 0), blur)


def _ragged(amplitude=6.0, lobes=23):
    """The head's outline with a wavy edge: a radius that swings by `amplitude` px."""
    yy, xx = np.mgrid[0:HW[0], 0:HW[1]].astype(np.float64)
    c, s = math.cos(HEAD.angle), math.sin(HEAD.angle)
    u, v = (xx - HEAD.cx) * c + (yy - HEAD.cy) * s, -(xx - HEAD.cx) * s + (yy - HEAD.cy) * c
    t = np.arctan2(v / HEAD.b, u / HEAD.a)
    r = np.hypot(u / HEAD.a, v / HEAD.b)
    edge = 1.0 + amplitude / HEAD.b * np.sin(lobes * t)
    return cv2.GaussianBlur((r < edge).astype(np.float32), (0, 0), 1.0)


def test_clean_ellipse_is_not_flagged():
    m = M.measure(_prob(), None, 0.1)
    assert m.found and m.quality is not None
    assert m.quality.fit_rms_frac < 0.005 and m.quality.mask_ellipse_dice > 0.98
    assert (m.review, m.review_reasons) == (False, [])


def test_ragged_outline_is_flagged_as_ragged():
    m = M.measure(_ragged(), None, 0.1)
    assert m.found
    assert clinical.REASON_RAGGED in m.review_reasons, m.quality


def test_blurred_outline_is_flagged_as_unclear():
    m = M.measure(_prob(blur=6.0), None, 0.1)
    assert m.found
    assert m.review_reasons == [clinical.REASON_UNCLEAR], m.quality


def test_head_cut_by_the_image_edge_is_flagged_as_cut():
    m = M.measure(_prob(M.Ellipse(40.0, 112.0, 80.0, 60.0, 0.0)), None, 0.1)
    assert m.found
    assert m.quality.outside_fraction > 0.2
    assert clinical.REASON_CUT in m.review_reasons, m.quality


def _cut_in_letterbox(src_hw, e, px=0.1):
    """A head cut by an image edge, letterboxed from an image of `src_hw` into the model grid."""
    box = preprocess.letterbox_transform(src_hw, HW)
    prob = preprocess.letterbox_mask(M.rasterize_ellipse(e, src_hw).astype(np.float32), box)
    return M.measure(prob[:, :, 0], box, px)


@pytest.mark.parametrize("edge", ["left", "top"])
def test_cut_head_dice_does_not_depend_on_the_letterbox_padding(edge):
    """The same head, cut by the same share of its outline, in a wide and a tall image: the
    filled ellipse runs past the cut edge, into the padding when that edge is padded. Dice
    counts the image area only, so it stays near 1 either way and the flag says "cut", not
    "mask does not match its ellipse" (counted over the padding too it was 0.86 vs 0.9995)."""
    if edge == "left":  # the tall image is padded left and right, the wide one is not
        padded = _cut_in_letterbox((800, 540), M.Ellipse(60.0, 400.0, 150.0, 110.0, 0.0))
        unpadded = _cut_in_letterbox((540, 800), M.Ellipse(60.0, 270.0, 150.0, 110.0, 0.0))
    else:  # the wide image is padded top and bottom (4 px), the tall one is not
        padded = _cut_in_letterbox((540, 800), M.Ellipse(400.0, 60.0, 150.0, 110.0, math.pi / 2))
        unpadded = _cut_in_letterbox((800, 540), M.Ellipse(270.0, 60.0, 150.0, 110.0, math.pi / 2))
    for m in (padded, unpadded):
        assert m.found and m.quality.outside_fraction > 0.3, m.quality
        assert m.quality.mask_ellipse_dice > 0.995, m.quality
        assert clinical.REASON_MASK_MISMATCH not in m.review_reasons, m.review_reasons
        assert clinical.REASON_CUT in m.review_reasons
    assert padded.quality.mask_ellipse_dice == pytest.approx(
        unpadded.quality.mask_ellipse_dice, abs=0.002)


def test_dice_ignores_mask_and_ellipse_in_the_padding():
    """A head mask reaching into the padding (as a model's output may) counts only where the
    image is: Dice is that of the two masks cropped to the image area."""
    box = preprocess.letterbox_transform((800, 540), HW)  # 84-85 px of padding left and right
    e = M.Ellipse(60.0, 400.0, 150.0, 110.0, 0.0)
    prob = preprocess.letterbox_mask(M.rasterize_ellipse(e, (800, 540)).astype(np.float32), box)
    prob = prob[:, :, 0]
    spill = prob.copy()
    x0 = int(box.offset_x)
    assert x0 > 20
    spill[:, x0 - 20:x0] = spill[:, x0:x0 + 1]  # the head runs on 20 px into the padding
    m, m_spill = M.measure(prob, box, 0.1), M.measure(spill, box, 0.1)
    assert m.found and m_spill.found
    # The outline is taken inside the image only, so the fit is the same, and so is the Dice.
    assert m_spill.ellipse == m.ellipse
    assert m_spill.quality.mask_ellipse_dice == m.quality.mask_ellipse_dice > 0.995


def test_measurement_dict_carries_quality_review_and_ga():
    d = M.measure(_prob(M.Ellipse(160.0, 112.0, 100.0, 80.0, 0.3)), None, 0.3).to_dict()
    assert set(d["quality"]) >= {"fit_rms_frac", "inlier_fraction", "mask_ellipse_dice",
                                 "uncertain_band_fraction", "outside_fraction", "hc_mm"}
    assert d["review"] is False and d["review_reasons"] == []
    methods = [g["method"] for g in d["gestational_age"]]
    assert methods == [m.value for m in clinical.GaMethod]
    assert d["gestational_age"][0]["ga_days"] == pytest.approx(
        clinical.ga_from_hc(d["hc_mm"]).ga_days)


def test_not_found_has_no_quality_and_no_review():
    m = M.measure(np.zeros(HW, np.float32), None, 0.1)
    assert not m.found and m.quality is None and not m.review and m.gestational_age() == ()
