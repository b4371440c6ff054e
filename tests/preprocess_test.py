"""Letterbox: the one model-input definition shared by the Keras and edge paths."""

import numpy as np
import pytest

from hc_tf import preprocess


@pytest.mark.parametrize("src_hw", [(540, 800), (541, 738), (563, 799), (100, 60), (224, 320)])
def test_letterbox_keeps_aspect_and_round_trips_points_exactly(src_hw):
    box = preprocess.letterbox_transform(src_hw, (224, 320))
    assert abs(box.scale_x - box.scale_y) < 0.01 * box.scale_x  # aspect kept up to rounding
    pts = np.array([[0.0, 0.0], [src_hw[1] - 1.0, src_hw[0] - 1.0], [123.25, 45.5]])
    np.testing.assert_allclose(box.to_original(box.to_model(pts)), pts, atol=1e-9)
    # The image's outer pixel edges land on the padding boundary, centred.
    edges = box.to_model(np.array([[-0.5, -0.5], [src_hw[1] - 0.5, src_hw[0] - 0.5]]))
    np.testing.assert_allclose(edges[0], [box.offset_x - 0.5, box.offset_y - 0.5], atol=1e-9)
    assert edges[1][0] <= 320 - 0.5 + 1e-9 and edges[1][1] <= 224 - 0.5 + 1e-9


@pytest.mark.parametrize("src_hw", [(540, 800), (541, 738), (563, 799), (123, 457), (50, 60)])
def test_the_point_map_is_cv2_resizes_pixel_centre_convention(src_hw):
    """Resizing ramps (each pixel holding its own x or y) through the letterbox gives each model
    pixel the original coordinate `to_original` assigns it: INTER_AREA's box averages oscillate
    by up to 0.085 px around it (piecewise-constant pixels), INTER_LINEAR (upscale) is exact. A
    half-pixel convention slip would move every point by 0.5 / scale - 0.5 px (0.75 at 0.4)."""
    box = preprocess.letterbox_transform(src_hw, (224, 320))
    ys, xs = np.mgrid[0:src_hw[0], 0:src_hw[1]].astype(np.float32)
    x0, y0 = int(box.offset_x), int(box.offset_y)
    nw, nh = round(box.scale_x * src_hw[1]), round(box.scale_y * src_hw[0])
    my, mx = np.mgrid[y0 + 2:y0 + nh - 2, x0 + 2:x0 + nw - 2]  # away from the resize's edges
    expected = box.to_original(np.stack([mx.ravel(), my.ravel()], axis=1).astype(np.float64))
    for axis, ramp in ((0, xs), (1, ys)):
        got = preprocess.letterbox_mask(ramp, box)[my.ravel(), mx.ravel(), 0]
        err = got - expected[:, axis]
        assert np.abs(err).max() < 0.1 and abs(err.mean()) < 0.005


def test_letterbox_image_places_content_where_the_transform_says():
    image = np.zeros((540, 800), np.uint8)
    image[200:340, 300:500] = 255  # a bright block with centre (399.5, 269.5)
    boxed, box = preprocess.letterbox_image(image, (224, 320))
    assert boxed.shape == (224, 320, 1) and boxed.dtype == np.uint8
    ys, xs = np.nonzero(boxed[:, :, 0] > 127)
    centre = box.to_original(np.array([[xs.mean(), ys.mean()]]))[0]
    np.testing.assert_allclose(centre, [399.5, 269.5], atol=1.5)
    # Padding rows stay black.
    assert boxed[: int(box.offset_y)].max(initial=0) == 0


def test_letterbox_mask_is_soft_and_aligned_with_image():
    mask = np.zeros((540, 800), np.uint8)
    mask[100:300, 200:600] = 1
    box = preprocess.letterbox_transform(mask.shape, (224, 320))
    soft = preprocess.letterbox_mask(mask, box)
    assert soft.dtype == np.float32 and soft.shape == (224, 320, 1)
    assert 0.0 <= soft.min() and soft.max() <= 1.0
    area_orig = mask.sum() * box.scale_x * box.scale_y
    assert abs(soft.sum() - area_orig) < 0.01 * area_orig


def test_bad_images_get_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="8-bit"):
        preprocess.to_gray_uint8(np.zeros((10, 10), np.uint16))
    with pytest.raises(ValueError, match="grayscale"):
        preprocess.to_gray_uint8(np.zeros((10,), np.uint8))
    bad = tmp_path / "not_an_image.png"
    bad.write_bytes(b"hello")
    with pytest.raises(ValueError, match="not_an_image.png"):
        preprocess.read_gray_image(str(bad))
    rgb = np.zeros((4, 4, 3), np.uint8)
    assert preprocess.to_gray_uint8(rgb).shape == (4, 4)
