"""benchmarks/oof_test_time_levers.py: its views measure a known head the same at every scale and
flip (an oracle "network" that thresholds the image), so a lever's figure is the model's."""

import math

import cv2
import numpy as np
import pytest

from hc_tf import preprocess
from hc_tf.measure.geometry import Ellipse

from tests.scripts import load_script


def _levers():
    return load_script("benchmarks/oof_test_time_levers.py")


def _oracle(input_hw):
    """Logits of "head" wherever the image is bright: any view shows the drawn head."""
    return lambda x: (x[..., 0].astype(np.float64) - 127.5) / 8.0


def test_view_box_keeps_the_released_letterbox_at_scale_one_and_grows_the_input_past_it():
    lv = _levers()
    assert lv.view_box((540, 800), 1.0) == preprocess.letterbox_transform((540, 800))
    small, big = lv.view_box((540, 800), 0.8), lv.view_box((540, 800), 1.3)
    assert (small.dst_height, small.dst_width) == preprocess.DEFAULT_INPUT_SIZE
    assert small.scale_x == pytest.approx(0.32, abs=0.002)
    assert big.dst_width % 32 == 0 and big.dst_height % 32 == 0
    assert big.dst_width >= big.scale_x * 800 and big.dst_height >= big.scale_y * 540
    assert big.dst_width > preprocess.DEFAULT_INPUT_SIZE[1]


def test_flipped_views_are_flipped_back_before_they_are_averaged():
    lv = _levers()
    x = np.random.default_rng(0).integers(0, 256, size=(32, 64)).astype(np.uint8)
    views = lv.flip_logits(_oracle(x.shape), x)  # an equivariant "network": every view agrees
    for name in ("h", "hv"):
        np.testing.assert_allclose(views[name], _oracle(x.shape)(x[..., None]), atol=1e-12)


def test_every_view_and_the_average_of_two_runs_measure_the_drawn_head():
    lv = _levers()
    # Off-centre and tilted, so a view whose map were not flipped back would measure another head.
    head = Ellipse(cx=300.0, cy=200.0, a=170.0, b=120.0, angle=math.radians(25))
    image = np.zeros((540, 800), np.uint8)
    cv2.ellipse(image, ((head.cx, head.cy), (2 * head.a, 2 * head.b), math.degrees(head.angle)),
                255, -1, lineType=cv2.LINE_AA)
    pixel_mm = 0.15
    truth = head.perimeter() * pixel_mm
    out = lv.measure_views([_oracle, _oracle], image, pixel_mm, scales=(0.8, 1.3))
    assert set(out) == ({f"run0_s{s}_{v}" for s in ("1", "0.8", "1.3") for v in ("h", "hv")}
                        | {"run1_s1_h", "run1_s1_hv", "both_s1_h", "both_s1_hv"})
    for key, hc in out.items():
        assert hc == pytest.approx(truth, rel=0.005), key


def test_the_report_pairs_every_option_with_the_released_one_by_image():
    lv = _levers()
    rows = [{"filename": f"{i:03d}_HC.png", "fold": i % 2, "reference_hc_mm": 100.0 + 60 * i,
             "model_pixel_mm": 0.3, "run0_s1_h": 101.0 + 60 * i, "run0_s1_hv": 100.5 + 60 * i}
            for i in range(4)]
    text = lv.report(rows, "run0_s1_h")
    assert "| run0_s1_hv | 0.500 |" in text and "-0.500" in text
    assert "3.33 model px" in lv.error_structure(rows)  # |error| 1 mm / 0.3 mm per model px
