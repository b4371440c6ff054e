"""Tests of hc_tf.measure: measurement, HC18 submission rows, metrics, overlays."""

import csv
import dataclasses
import json
import math
import os
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from hc_tf import clinical as C
from hc_tf import measure as M
from hc_tf.measure import contour
from hc_tf import preprocess as P

PX = 0.1  # mm per original pixel; any positive value works
BOX = P.letterbox_transform((540, 800), (224, 320))


# --- rendering a known ellipse at model size --------------------------------

def _implicit(ref, box, ox=0.0, oy=0.0):
    """(u, v, f) of the reference ellipse at model pixel centres (+ offset), f < 0 inside."""
    h, w = box.dst_height, box.dst_width
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    o = box.to_original(np.stack([xs.ravel() + ox, ys.ravel() + oy], axis=1))
    c, s = math.cos(ref.angle), math.sin(ref.angle)
    dx, dy = o[:, 0] - ref.cx, o[:, 1] - ref.cy
    u, v = (dx * c + dy * s) / ref.a, (-dx * s + dy * c) / ref.b
    return u, v, u * u + v * v - 1.0


def render(ref, box, mode):
    """The ellipse (original pixels) as the network would see it at model size.

    hard: 0/1 pixel-centre mask; soft: sigmoid of the signed distance (about 0.7
    model px wide); aa: 4x4-supersampled area coverage. Letterbox padding is 0.
    """
    h, w = box.dst_height, box.dst_width
    if mode == "aa":
        offs = (np.arange(4) + 0.5) / 4 - 0.5
        p = sum((_implicit(ref, box, ox, oy)[2] <= 0).astype(np.float64)
                for oy in offs for ox in offs).reshape(h, w) / 16
    else:
        u, v, f = _implicit(ref, box)
        grad = np.maximum(2 * np.sqrt((u / ref.a) ** 2 + (v / ref.b) ** 2), 1e-12)
        sd = f / grad * box.scale_x
        sd = sd.reshape(h, w)
        p = 1 / (1 + np.exp(sd / 0.7)) if mode == "soft" else (sd <= 0).astype(np.float64)
    x0, y0, x1, y1 = contour.valid_rect(box, (h, w))
    out = np.zeros((h, w), np.float32)
    out[y0:y1 + 1, x0:x1 + 1] = p[y0:y1 + 1, x0:x1 + 1]
    return out


def inside_fraction(ref, hw):
    ring = ref.points(720)
    return float(np.mean((ring[:, 0] >= 0) & (ring[:, 0] <= hw[1] - 1)
                         & (ring[:, 1] >= 0) & (ring[:, 1] <= hw[0] - 1)))


def cv2_fit(points):
    (x, y), (w, h), deg = cv2.fitEllipse(np.asarray(points, np.float32))
    return M.Ellipse(x, y, w / 2, h / 2, math.radians(deg)).normalized()


def arc_points(ref, rng, span_deg, n, noise):
    t = rng.uniform(0, 2 * math.pi) + np.radians(rng.uniform(0, span_deg, n))
    c, s = math.cos(ref.angle), math.sin(ref.angle)
    x, y = ref.a * np.cos(t), ref.b * np.sin(t)
    pts = np.stack([ref.cx + x * c - y * s, ref.cy + x * s + y * c], axis=1)
    return pts + rng.normal(0, noise, pts.shape)


def angle_diff(a, b):
    d = abs(a - b) % math.pi
    return min(d, math.pi - d)


# --- property tests: known ellipses through letterboxes ----------------------

@st.composite
def scenes(draw):
    sh, sw = draw(st.integers(300, 700)), draw(st.integers(300, 900))
    model_hw = draw(st.sampled_from([(224, 320), (256, 256), (192, 288)]))
    box = P.letterbox_transform((sh, sw), model_hw)
    b = draw(st.floats(20, 70)) / box.scale_x  # minor semi-axis: 20..70 model px
    ref = M.Ellipse(draw(st.floats(0, sw)), draw(st.floats(0, sh)),
                    b * draw(st.floats(1.0, 1.7)), b, draw(st.floats(0, math.pi))).normalized()
    # Heads cut by the image edge keep most of their outline; shorter arcs are
    # ill-posed for any fit.
    assume(inside_fraction(ref, (sh, sw)) >= 0.75)
    return ref, box


# Tolerances, from the discretisation: a hard mask's pixel-edge midpoints are
# off by up to 0.5 model px each, but unbiased around the outline, and over
# hundreds of points the fitted HC lands within ~0.15% (measured max 0.13% over
# 150 random scenes, b >= 20 model px); soft maps interpolate the iso-contour to
# ~0.01 px (measured max 0.005% sigmoid, 0.03% supersampled). The bounds keep a
# 3-10x margin: HC 0.5% hard / 0.1% soft, centre 0.5 / 0.1 model px. Supersampled coverage
# moves in 1/16 steps, and on a circle centred on the pixel grid its errors add up instead
# of averaging out: Hypothesis found 0.11% on the smallest such circle (the example below),
# so "aa" gets 0.2%.
TOL = {"hard": (5e-3, 0.5), "soft": (1e-3, 0.1), "aa": (2e-3, 0.1)}
GRID_CENTRED_CIRCLE = (M.Ellipse(335.0625, 335.09375, 66.04166666666667, 66.04166666666667, 0.0),
                       P.Letterbox(0.3028391167192429, 0.3028391167192429, 48.0, 0.0,
                                   634, 634, 288, 192))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(scene=scenes(), mode=st.sampled_from(["hard", "soft", "aa"]))
@example(scene=GRID_CENTRED_CIRCLE, mode="aa")
def test_measure_recovers_known_ellipse(scene, mode):
    ref, box = scene
    m = M.measure(render(ref, box, mode), box, PX)
    assert m.found, m.reason
    hc_tol, centre_tol = TOL[mode]
    assert abs(m.hc_mm / (ref.perimeter() * PX) - 1) < hc_tol
    e = m.ellipse
    assert math.hypot(e.cx - ref.cx, e.cy - ref.cy) * box.scale_x < centre_tol
    if ref.a > 1.1 * ref.b:  # the angle of a near-circle is undefined
        assert angle_diff(e.angle, ref.angle) < 0.05


def test_measure_maps_through_the_letterbox():
    ref = M.Ellipse(400, 270, 200, 150, 0.4)
    m = M.measure(render(ref, BOX, "soft"), BOX, 0.07)
    assert m.found
    assert m.hc_mm == pytest.approx(ref.perimeter() * 0.07, rel=1e-4)
    assert m.center_mm == pytest.approx((400 * 0.07, 270 * 0.07), abs=1e-3)
    assert m.semi_axes_mm == pytest.approx((200 * 0.07, 150 * 0.07), abs=1e-3)
    assert m.angle_rad == pytest.approx(0.4, abs=1e-3)


def test_a_region_wholly_in_the_padding_has_no_outline_in_the_image():
    # A tall image letterboxed into 224x320 leaves wide side padding; a blob right of the
    # image area must not be measured (an earlier slice read its outline from the padding).
    box = P.letterbox_transform((800, 400), (224, 320))
    x_end = int(box.offset_x + round(400 * box.scale_x))  # first padding column on the right
    prob = np.zeros((224, 320), np.float32)
    cv2.ellipse(prob, (x_end + 25, 112), (12, 40), 0, 0, 360, 1.0, -1)
    m = M.measure(prob, box, PX)
    assert not m.found and "too short" in m.reason, m


def test_identity_box_and_channel_axis():
    box = P.letterbox_transform((224, 320), (224, 320))
    ref = M.Ellipse(160, 112, 80, 60, 1.0)
    p = render(ref, box, "soft")
    a, b = M.measure(p, None, PX), M.measure(p[:, :, None], box, PX)
    assert a.found and b.found
    assert a.ellipse.a == pytest.approx(ref.a, abs=0.02)
    assert b.ellipse.a == pytest.approx(a.ellipse.a, abs=1e-6)


@pytest.mark.parametrize("encode", [
    lambda m: m.astype(bool), lambda m: m.astype(np.uint8),
    lambda m: m.astype(np.uint8) * 255, lambda m: m.astype(np.float64),
    lambda m: m.astype(np.int64)])
def test_binary_mask_encodings_agree(encode):
    ref = M.Ellipse(400, 270, 200, 150, 0.4)
    hard = render(ref, BOX, "hard") > 0.5
    m = M.measure(encode(hard), BOX, PX)
    assert m.found
    assert m.hc_mm == pytest.approx(M.measure(hard, BOX, PX).hc_mm, abs=1e-9)


def test_largest_blob_wins_and_stray_points_are_rejected():
    ref = M.Ellipse(400, 270, 200, 150, 0.4)
    p = render(ref, BOX, "soft")
    p[10:18, 12:20] = 1.0  # a separate speck: another component
    cv2.circle(p, (160, 112), 6, 0.0, -1)  # a hole inside the head
    x0 = int(BOX.offset_x) + 3
    p[100:104, x0:x0 + 60] = 1.0  # a spur glued to the head: stray outline points
    m = M.measure(p, BOX, PX)
    assert m.found
    assert abs(m.hc_mm / (ref.perimeter() * PX) - 1) < 0.01


def test_head_running_off_the_image_ignores_the_image_edge():
    ref = M.Ellipse(700, 300, 260, 200, 0.2)  # about a quarter outside the right edge
    assert inside_fraction(ref, (540, 800)) < 0.85
    m = M.measure(render(ref, BOX, "soft"), BOX, PX)
    assert m.found
    assert abs(m.hc_mm / (ref.perimeter() * PX) - 1) < 1e-3


# --- fit quality vs cv2.fitEllipse --------------------------------------------

def test_agrees_with_cv2_fit_ellipse_on_clean_points():
    rng = np.random.default_rng(0)
    for _ in range(20):
        ref = M.Ellipse(rng.uniform(200, 600), rng.uniform(150, 400), rng.uniform(60, 200),
                        0, rng.uniform(0, math.pi))
        ref = M.Ellipse(ref.cx, ref.cy, ref.a, ref.a / rng.uniform(1.05, 1.7), ref.angle)
        pts = arc_points(ref, rng, 360, 200, 0.0)
        ours, theirs = M.robust_fit_ellipse(pts), cv2_fit(pts)
        for e in (ours, theirs, M.fit_ellipse(pts)):
            assert (e.cx, e.cy, e.a, e.b) == pytest.approx((ref.cx, ref.cy, ref.a, ref.b), abs=0.01)
            assert angle_diff(e.angle, ref.angle) < 1e-3


@pytest.mark.parametrize("span", [360, 270, 240])
def test_at_least_as_accurate_as_cv2_on_noisy_arcs(span):
    """On noisy partial arcs the fits differ; ours (algebraic + geometric
    refinement) must be at least as close to the true ellipse on average.

    Arcs down to 2/3 of the outline: a head cut by the image edge keeps most of
    it. On half-ellipses (180 deg, 1.5 px noise) the two are on par (ours ~4%
    larger mean HC error, the ML fit's variance); below that cv2 does better.
    """
    rng = np.random.default_rng(span)
    ours_hc, cv_hc, ours_hd, cv_hd = [], [], [], []
    for _ in range(60):
        ref = M.Ellipse(rng.uniform(200, 600), rng.uniform(150, 400), rng.uniform(80, 200),
                        0, rng.uniform(0, math.pi))
        ref = M.Ellipse(ref.cx, ref.cy, ref.a, ref.a / rng.uniform(1.0, 1.7), ref.angle)
        pts = arc_points(ref, rng, span, 300, 1.5)
        ours, theirs = M.robust_fit_ellipse(pts, rounds=0), cv2_fit(pts)
        ours_hc.append(abs(ours.perimeter() - ref.perimeter()))
        cv_hc.append(abs(theirs.perimeter() - ref.perimeter()))
        ours_hd.append(M.hausdorff_mm(ours, ref, 1.0))
        cv_hd.append(M.hausdorff_mm(theirs, ref, 1.0))
    assert np.mean(ours_hc) <= np.mean(cv_hc) * 1.02
    assert np.mean(ours_hd) <= np.mean(cv_hd) * 1.02


# --- bad input ---------------------------------------------------------------

GOOD = render(M.Ellipse(400, 270, 200, 150, 0.4), BOX, "soft")


@pytest.mark.parametrize("prob", [np.zeros((224,)), np.zeros((2, 224, 320)),
                                  np.zeros((224, 320, 3)), np.zeros((1, 224, 320, 1)),
                                  np.array([["a"] * 320] * 224), np.zeros((224, 320), complex),
                                  np.empty((224, 320), object), np.zeros((2, 2))])
def test_bad_shape_or_dtype_raises(prob):
    with pytest.raises(ValueError, match="prob"):
        M.measure(prob, None, PX)


@pytest.mark.parametrize("px", [0, -0.1, math.nan, math.inf, None, "abc", True])
def test_bad_pixel_size_raises(px):
    with pytest.raises(ValueError, match="pixel_size_mm"):
        M.measure(GOOD, BOX, px)


@pytest.mark.parametrize("kwargs", [{"threshold": 0}, {"threshold": 1.0}, {"min_area_px": -1}])
def test_bad_parameters_raise(kwargs):
    with pytest.raises(ValueError):
        M.measure(GOOD, BOX, PX, **kwargs)


def test_box_of_another_model_size_raises():
    with pytest.raises(ValueError, match="letterbox"):
        M.measure(GOOD[:, :256], BOX, PX)


def _line():
    p = np.zeros((224, 320), np.float32)
    p[110:113, 40:280] = 1.0
    return p


def _speck():
    p = np.zeros((224, 320), np.float32)
    p[100:105, 100:105] = 1.0
    return p


def _nan():
    p = GOOD.copy()
    p[50, 50] = np.nan
    return p


@pytest.mark.parametrize("prob,reason", [
    (np.zeros((224, 320), np.float32), "empty"),
    (np.ones((224, 320), np.float32), "whole image"),
    (np.pad(np.ones((216, 320), np.float32), ((4, 4), (0, 0))), "whole image"),  # the image, not the padding
    (_line(), "line"),
    (_speck(), "speck"),
    (_nan(), "NaN"),
    (GOOD * 255.0, "out of range"),
    (GOOD - 0.5, "out of range"),
    (np.full((224, 320), 300, np.int32), "out of range"),
    (np.where(np.arange(320) < 160, 1.0, 0.0)[None].repeat(224, 0).astype(np.float32),
     "ellipse|line|whole|short|runaway|ran away|elongated"),
])
def test_degenerate_input_is_not_found_with_reason(prob, reason):
    m = M.measure(prob, BOX, PX)
    assert not m.found
    assert m.reason and __import__("re").search(reason, m.reason), m.reason
    assert m.hc_mm is None and m.center_mm is None and m.semi_axes_mm is None
    assert m.angle_rad is None
    json.dumps(m.to_dict())
    assert M.submission_row("x.png", m) == ["x.png", 0.0, 0.0, 0.0, 0.0, 0.0]


def test_slightly_out_of_range_probabilities_are_clipped():
    p = GOOD * 1.005 - 0.002
    m = M.measure(p, BOX, PX)
    assert m.found and m.hc_mm == pytest.approx(M.measure(GOOD, BOX, PX).hc_mm, rel=1e-3)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2 ** 31), density=st.floats(0.0, 1.0))
def test_random_noise_never_raises_or_returns_nan(seed, density):
    rng = np.random.default_rng(seed)
    p = (rng.random((64, 96)) < density).astype(np.float32) * rng.random((64, 96)).astype(np.float32)
    m = M.measure(cv2.GaussianBlur(p, (5, 5), 0), None, PX, min_area_px=10)
    d = m.to_dict()
    json.dumps(d)
    if m.found:
        assert all(math.isfinite(v) for v in (m.hc_mm, *m.center_mm, *m.semi_axes_mm, m.angle_rad))
    else:
        assert m.reason


def test_measurement_invariants_and_dict():
    with pytest.raises(ValueError):
        M.Measurement(found=True, reason="", ellipse=None, pixel_size_mm=PX)
    with pytest.raises(ValueError):
        M.Measurement(found=False, reason="", ellipse=None, pixel_size_mm=PX)
    m = M.measure(GOOD, BOX, PX)
    d = json.loads(json.dumps(m.to_dict()))
    assert d["found"] and d["hc_mm"] == pytest.approx(m.hc_mm)
    assert d["ellipse_px"]["a"] == pytest.approx(m.ellipse.a)


# --- HC18 submission rows ----------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(cx=st.floats(0, 800), cy=st.floats(0, 540), b=st.floats(20, 300),
       ratio=st.floats(1.05, 1.8), angle=st.floats(0, math.pi, exclude_max=True),
       px=st.floats(0.05, 0.4))
def test_submission_row_round_trips(cx, cy, b, ratio, angle, px):
    e = M.Ellipse(cx, cy, b * ratio, b, angle).normalized()
    m = M.Measurement(True, "", e, px)
    row = M.submission_row("001_HC.png", m)
    assert row[0] == "001_HC.png" and len(row) == len(M.SUBMISSION_HEADER)
    assert 0 <= row[5] < math.pi
    back = M.ellipse_from_submission_row(row, px)
    assert (back.cx, back.cy, back.a, back.b) == pytest.approx((e.cx, e.cy, e.a, e.b), rel=1e-9, abs=1e-9)
    assert angle_diff(back.angle, e.angle) < 1e-9
    as_text = dict(zip(M.SUBMISSION_HEADER, [str(v) for v in row]))
    assert M.ellipse_from_submission_row(as_text, px).a == pytest.approx(e.a)


def _peer_row(filename, outline, px):
    """An independent re-implementation of the leaderboard-scored peer pipeline
    (Jonas1312/ChallengeHC18's generate_csv.py):
    cv2.fitEllipse on np.argwhere(mask), i.e. on (row, col) pairs, written as
    center_x = yy * px, center_y = xx * px, a = h / 2 * px, b = w / 2 * px,
    angle = (-deg in radians) mod pi."""
    points = np.argwhere(outline > 0).astype(np.float32)  # (row, col)
    (xx, yy), (w, h), deg = cv2.fitEllipse(points)
    return [filename, yy * px, xx * px, h / 2 * px, w / 2 * px, (-math.radians(deg)) % math.pi]


def _with_a_major(row):
    """The same ellipse's row with a >= b (a row may list the axes either way)."""
    name, x, y, a, b, angle = row
    return row if a >= b else [name, x, y, b, a, (angle + math.pi / 2) % math.pi]


# (column, row, a, b, degrees of a from +x towards +y): the case first.
PEER_CASES = [(500, 200, 150, 90, 30), (250, 350, 120, 100, 100), (400, 270, 200, 140, 165),
              (150, 150, 100, 60, 75), (620, 380, 130, 95, 0), (300, 260, 160, 110, 90)]


@pytest.mark.parametrize("col,row,a,b,deg", PEER_CASES)
@pytest.mark.parametrize("px", [1.0, 0.15])
def test_submission_row_matches_the_peer_pipeline(col, row, a, b, deg, px):
    """Our row is the natural-frame row (x = column, y = row, angle of a from +x
    towards +y) that the peer pipeline writes for the same drawn outline."""
    outline = np.zeros((540, 800), np.uint8)
    cv2.ellipse(outline, (col, row), (a, b), deg, 0, 360, 255, 1)
    theirs = _with_a_major(_peer_row("f.png", outline, px))
    ours = M.submission_row("f.png", M.Measurement(True, "", M.fit_outline(outline), px))
    assert ours[0] == theirs[0]
    assert ours[1:5] == pytest.approx(theirs[1:5], abs=0.5 * px)
    assert angle_diff(ours[5], theirs[5]) < 0.01
    # Both are the drawn ellipse in the natural frame.
    assert ours[1:3] == pytest.approx([col * px, row * px], abs=0.5 * px)
    assert angle_diff(ours[5], math.radians(deg)) < 0.01


def test_submission_row_is_the_natural_frame():
    e = M.Ellipse(cx=500.0, cy=200.0, a=150.0, b=90.0, angle=math.radians(30))
    row = M.submission_row("f.png", M.Measurement(True, "", e, 0.2))
    assert row == pytest.approx(["f.png", 100.0, 40.0, 30.0, 18.0, math.radians(30)])
    back = M.ellipse_from_submission_row(row, 0.2)
    assert (back.cx, back.cy, back.a, back.b, back.angle) == pytest.approx(
        (e.cx, e.cy, e.a, e.b, e.angle), rel=1e-12)


def test_write_submission_csv_is_atomic_and_exact(tmp_path):
    path = tmp_path / "sub" / "submission.csv"
    m = M.measure(GOOD, BOX, 0.0691358)
    rows = [M.submission_row("000_HC.png", m),
            M.submission_row("001_HC.png", M.measure(np.zeros((224, 320)), BOX, 0.1))]
    M.write_submission_csv(path, rows)
    with open(path, newline="") as f:
        got = list(csv.reader(f))
    assert tuple(got[0]) == M.SUBMISSION_HEADER
    assert got[2] == ["001_HC.png", "0.0", "0.0", "0.0", "0.0", "0.0"]
    back = M.ellipse_from_submission_row(got[1], 0.0691358)
    assert back.a == pytest.approx(m.ellipse.a, rel=1e-12)
    before = path.read_bytes()
    with pytest.raises(ValueError):
        M.write_submission_csv(path, [rows[0], ["x.png", math.nan, 0, 0, 0, 0]])
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == ["submission.csv"]


@pytest.mark.parametrize("row", [["f", 1, 2, 3], ["f", 1, 2, 3, 4, "x"],
                                 ["f", 1, 2, math.nan, 4, 0], ["f", 0, 0, 0, 0, 0]])
def test_bad_submission_rows_raise(row):
    with pytest.raises(ValueError):
        M.ellipse_from_submission_row(row, PX)


# --- the perimeter ----------------------------------------------------------------

def test_ramanujan_perimeter_matches_the_exact_perimeter_over_hc18s_range():
    """HC is Ramanujan's second approximation (as HC18's reference); over HC18's heads
    (semi-axes 20-250 px, aspect up to 1.7) it is the exact perimeter, 4 a E(e^2) with
    scipy's complete elliptic integral, to 3.5e-11 relative (4e-8 px)."""
    from scipy.special import ellipe
    for a in np.linspace(20, 250, 24):
        for ratio in np.linspace(1.0, 1.7, 15):
            b = a / ratio
            exact = 4 * a * ellipe(1 - (b / a) ** 2)
            assert M.ramanujan_perimeter(a, b) == pytest.approx(exact, rel=1e-10)
            # Either axis order, any angle: HC is the same.
            assert M.Ellipse(0, 0, b, a, 1.0).perimeter() == pytest.approx(exact, rel=1e-10)


# --- metrics -----------------------------------------------------------------

def test_dice():
    a = np.zeros((10, 10), np.uint8)
    assert M.dice(a, a) == 1.0
    b, c = a.copy(), a.copy()
    b[:5] = 1
    c[5:] = 1
    assert M.dice(b, b) == 1.0 and M.dice(b, c) == 0.0 and M.dice(b, a) == 0.0
    d = a.copy()
    d[:, :5] = 1
    assert M.dice(b, d) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        M.dice(a, np.zeros((9, 10)))


def test_hausdorff_exact_cases():
    c1 = M.Ellipse(100, 100, 50, 50, 0)
    assert M.hausdorff_mm(c1, c1, PX) == pytest.approx(0, abs=1e-9)
    assert M.hausdorff_mm(c1, M.Ellipse(100, 100, 53, 53, 0), PX) == pytest.approx(0.3, abs=1e-9)
    # The sup runs over 720 samples, so it may miss the exact maximum by ~R(1-cos(pi/720)).
    assert M.hausdorff_mm(c1, M.Ellipse(104, 103, 50, 50, 1), 1.0) == pytest.approx(5.0, abs=1e-4)
    # Concentric axis-aligned ellipses: the largest gap is at the ends of the axes.
    e1, e2 = M.Ellipse(0, 0, 100, 60, 0), M.Ellipse(0, 0, 103, 61, 0)
    assert M.hausdorff_mm(e1, e2, 1.0) == pytest.approx(3.0, abs=1e-6)
    assert M.hausdorff_mm(e1, e2, 1.0) == M.hausdorff_mm(e2, e1, 1.0)


def test_distance_to_outline_is_exact():
    e = M.Ellipse(10, -5, 120, 40, 0.7)
    rng = np.random.default_rng(0)
    pts = rng.uniform(-200, 200, (300, 2))
    # The nearest of 200,000 outline points to each, found exactly by a k-d tree (the same
    # minimum as every pairwise distance, without the 300 x 200,000 array).
    from scipy.spatial import cKDTree
    nearest = cKDTree(e.points(200_000)).query(pts)[0]
    assert np.allclose(M.distance_to_outline(e, pts), nearest, atol=1e-4)


def test_hausdorff_matches_scipy_on_dense_outlines():
    """Against scipy's directed_hausdorff on 20,000-point outlines (HC18-sized ellipses)."""
    from scipy.spatial.distance import directed_hausdorff
    rng = np.random.default_rng(3)
    for _ in range(8):
        a = rng.uniform(20, 250)
        ref = M.Ellipse(rng.uniform(0, 800), rng.uniform(0, 540), a, a / rng.uniform(1, 1.7),
                        rng.uniform(0, math.pi))
        pred = M.Ellipse(ref.cx + rng.normal(0, 3), ref.cy + rng.normal(0, 3),
                         ref.a * rng.uniform(0.95, 1.05), ref.b * rng.uniform(0.95, 1.05),
                         ref.angle + rng.normal(0, 0.1))
        p, r = pred.points(20_000), ref.points(20_000)
        theirs = max(directed_hausdorff(p, r)[0], directed_hausdorff(r, p)[0])
        # Measured: ours is below by at most 2.6e-4 px (the sup over 720 samples).
        assert M.hausdorff_mm(pred, ref, 1.0) == pytest.approx(theirs, abs=2e-3)


def test_hc_difference():
    assert M.hc_difference_mm(101.5, 100.0) == pytest.approx((1.5, 1.5))
    assert M.hc_difference_mm(98.0, 100.0) == pytest.approx((-2.0, 2.0))
    with pytest.raises(ValueError):
        M.hc_difference_mm(None, 100.0)
    with pytest.raises(ValueError):
        M.hc_difference_mm(math.nan, 100.0)


# --- overlay -----------------------------------------------------------------

def test_draw_overlay():
    gray = np.full((540, 800), 60, np.uint8)
    m = M.measure(GOOD, BOX, PX)
    out = M.draw_overlay(gray, m, label="000_HC.png")
    assert out.shape == (540, 800, 3) and out.dtype == np.uint8
    x, y = (m.ellipse.points(1)[0] + 0.5).astype(int)
    assert out[y, x, 1] > 200 and out[y, x, 2] < 100  # green on the outline
    assert (gray == 60).all()  # input untouched
    missing = M.draw_overlay(gray[:, :, None], M.measure(np.zeros((224, 320)), BOX, PX))
    assert missing.shape == (540, 800, 3)
    with pytest.raises(ValueError):
        M.draw_overlay(gray.astype(np.float32), m)


def test_overlay_lines_show_hc_and_ga_and_review_only_when_flagged():
    m = M.measure(GOOD, BOX, PX)  # HC ~ 110 mm at 0.1 mm/px: both GA formulas in range
    assert not m.review
    (hc, _), (ga, _) = M.overlay_lines(m)
    h, i = m.gestational_age()
    assert hc == f"HC {m.hc_mm:.1f} mm ({m.hc_interval().display()})"
    assert ga == f"GA Hadlock {C.format_ga(h.ga_days)}, INTERGROWTH {C.format_ga(i.ga_days)}"
    small = dataclasses.replace(m, pixel_size_mm=0.05)  # ~55 mm: below both ranges
    assert M.overlay_lines(small)[1][0] == "GA Hadlock out of range, INTERGROWTH out of range"
    cut = dataclasses.replace(m, quality=dataclasses.replace(m.quality, outside_fraction=0.3))
    assert cut.review
    lines = [t for t, _ in M.overlay_lines(cut, label="x.png")]
    assert lines[0].startswith("x.png  HC ") and lines[2] == f"REVIEW: {C.REASON_CUT}"
    missing = M.measure(np.zeros((224, 320)), BOX, PX)
    assert [t for t, _ in M.overlay_lines(missing)] == [f"no head: {missing.reason}"]


def test_flagged_overlay_has_a_red_frame_and_a_clean_one_none():
    gray = np.full((540, 800), 60, np.uint8)
    m = M.measure(GOOD, BOX, PX)
    flagged = dataclasses.replace(m, quality=dataclasses.replace(m.quality, fit_rms_frac=0.05))

    def red(img):
        return (img[..., 2] > 200) & (img[..., 1] < 60) & (img[..., 0] < 60)

    clean, marked = M.draw_overlay(gray, m), M.draw_overlay(gray, flagged)
    edges = np.concatenate([marked[:3].reshape(-1, 3), marked[-3:].reshape(-1, 3),
                            marked[:, :3].reshape(-1, 3), marked[:, -3:].reshape(-1, 3)])
    assert red(edges[None]).mean() > 0.95
    assert not red(clean[-100:]).any()  # below the text: no red anywhere on a clean one
    assert red(marked[30:80, :400]).sum() > red(clean[30:80, :400]).sum() + 50  # REVIEW text


def test_overlay_text_sits_on_a_dark_box_and_wraps_within_the_image():
    """Legible over a scanner's burnt-in header (bright text there): a dark box under the
    lines; a REVIEW line longer than a narrow image is broken after "; " and stays inside."""
    from hc_tf.measure import overlay
    bright = np.full((270, 300), 230, np.uint8)
    m = M.measure(GOOD, BOX, PX)
    flagged = dataclasses.replace(m, quality=dataclasses.replace(
        m.quality, fit_rms_frac=0.05, outside_fraction=0.3))
    assert len(flagged.review_reasons) >= 2
    out = M.draw_overlay(bright, flagged, label="a_long_file_name.png")
    box = out[4:7, 12:40]  # inside the box, under the red frame and above the letters
    assert (box.max(axis=2) < 30).all()
    reasons = "; ".join(flagged.review_reasons)
    lines = overlay._wrapped(f"REVIEW: {reasons}", 280, 0.4, 1)
    assert len(lines) >= 2 and lines[0].endswith(";") and lines[1].startswith("  ")
    assert all(cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)[0][0] <= 280 for t in lines)
    assert " ".join(t.strip() for t in lines) == f"REVIEW: {reasons}"
    # Narrower than a word and its indent (a tiny image): it ends. A break inside a
    # continuation's indent left the text as it was, and looped forever on a fuzzed DICOM frame.
    import signal

    def hung(*_):
        raise TimeoutError("the wrapping does not end")
    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    try:
        narrow = cv2.getTextSize("aa", cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)[0][0]
        assert overlay._wrapped("aa bb cc", narrow, 0.4, 1) == ["aa", "  bb cc"]
        assert overlay._wrapped("a bb ccc", 1, 0.4, 1) == ["a bb ccc"]
        assert M.draw_overlay(np.full((8, 8), 90, np.uint8), flagged, label="x.png").shape == (8, 8, 3)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# --- no TensorFlow -----------------------------------------------------------

def test_import_without_tensorflow():
    code = textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "tensorflow" or name.startswith("tensorflow."):
                    raise ImportError("tensorflow is blocked in this test")
                return None
        sys.meta_path.insert(0, Block())
        try:
            import tensorflow
        except ImportError:
            pass
        else:
            raise SystemExit("the blocker did not block tensorflow")
        import hc_tf.measure
        assert "tensorflow" not in sys.modules, "hc_tf.measure imported tensorflow"
        print("ok")
    """)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr
