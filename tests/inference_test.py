"""The inference glue's region handling: the model sees `Sample.region`, the ellipse comes back
in the whole image's pixels, and measuring again at another pixel size keeps both that and the
model's interval calibration."""

import dataclasses

import cv2
import numpy as np
import pytest

from hc_tf import inference
from hc_tf import preprocess


class DiskRunner:
    """A "model" whose probability is 1 where the input is bright: the drawn head itself."""

    input_hw = (224, 320)
    interval_table = None
    interval_note = "this model has no HC interval calibration"

    def predict(self, inputs):
        return (inputs[..., 0] > 127).astype(np.float32)


def _head_image(h=300, w=420, centre=(250, 170), axes=(90, 70)):
    img = np.zeros((h, w), np.uint8)
    cv2.ellipse(img, centre, axes, 20, 0, 360, 200, -1)
    img[::7, :] |= 40  # some texture: the contrast check wants a spread of gray levels
    return img


def test_the_model_sees_the_region_and_the_ellipse_is_in_the_image():
    image = _head_image()
    region = (100, 60, 399, 279)
    framed = inference.Sample("f.png", image, 0.2, region=region)
    crop = inference.Sample("c.png", np.ascontiguousarray(image[60:280, 100:400]), 0.2)
    [pf, pc] = inference.predict_batch(DiskRunner(), [framed, crop])
    assert pf.box == pc.box and np.array_equal(pf.prob, pc.prob)  # the region, letterboxed
    mf, mc = pf.measurement, pc.measurement
    assert mf.found and mf.hc_mm == mc.hc_mm
    assert (mf.ellipse.cx, mf.ellipse.cy) == (mc.ellipse.cx + 100, mc.ellipse.cy + 60)
    assert mf.ellipse.cx == pytest.approx(250, abs=1.5) and mf.ellipse.cy == pytest.approx(170, abs=1.5)


def test_remeasure_keeps_the_region_and_the_interval_calibration():
    image = _head_image()
    sample = inference.Sample("f.png", image, 0.2, region=(100, 60, 399, 279))
    [pred] = inference.predict_batch(DiskRunner(), [sample])
    assert pred.measurement.interval_note == DiskRunner.interval_note
    again = inference.remeasure(pred, 0.3).measurement
    assert again.pixel_size_mm == 0.3 and again.hc_mm == pytest.approx(pred.measurement.hc_mm * 1.5)
    assert dataclasses.astuple(again.ellipse) == dataclasses.astuple(pred.measurement.ellipse)
    assert again.interval_note == DiskRunner.interval_note  # was dropped on a re-measure
    assert again.hc_interval() is None


def test_remeasure_leaves_a_head_not_found_not_found():
    blank = inference.Sample("b.png", np.full((300, 420), 128, np.uint8), 0.2)
    [pred] = inference.predict_batch(DiskRunner(), [blank])
    assert not pred.measurement.found and "too uniform" in pred.measurement.reason
    again = inference.remeasure(pred, 0.3).measurement
    assert not again.found and again.pixel_size_mm == 0.3 and again.reason == pred.measurement.reason


def test_no_region_is_the_whole_image():
    image = _head_image()
    sample = inference.Sample("w.png", image, 0.2)
    assert inference.model_view(sample) is image
    [pred] = inference.predict_batch(DiskRunner(), [sample])
    assert pred.box == preprocess.letterbox_transform(image.shape, DiskRunner.input_hw)
