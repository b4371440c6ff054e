"""The loss and metric both trainers compile (`hc-tf train` on TensorFlow, the JAX trainer).

Backend-neutral `keras.ops` only, so the one definition runs under TensorFlow and JAX alike.
"""

from __future__ import annotations

import math


def per_image_dice(y_true, y_pred, smooth: float = 1.0):
    """Soft Dice of each image: shape (batch,)."""
    import keras
    ops = keras.ops
    y_pred = ops.cast(y_pred, "float32")
    y_true = ops.cast(y_true, "float32")
    inter = ops.sum(y_true * y_pred, axis=(1, 2, 3))
    total = ops.sum(y_true, axis=(1, 2, 3)) + ops.sum(y_pred, axis=(1, 2, 3))
    return (2.0 * inter + smooth) / (total + smooth)


def dice_coefficient(y_true, y_pred, smooth: float = 1.0):
    """Soft Dice per image, averaged over the batch."""
    import keras
    return keras.ops.mean(per_image_dice(y_true, y_pred, smooth))


def bce_dice_loss(y_true, y_pred):
    """Binary cross-entropy + (1 - soft Dice) of each image, shape (batch,): BCE for
    calibrated probabilities (the 0.5 iso-contour is the measured boundary), Dice against
    class imbalance.

    Per image, not a scalar: Keras averages it over the batch and, under tf.distribute,
    divides it by the replicas before the gradients are summed across them. Keras 3 skips
    that division for a loss that is already a scalar (`losses.loss.reduce_values`), which
    would multiply the gradients by the number of replicas.
    """
    import keras
    y_pred = keras.ops.cast(y_pred, "float32")
    bce = keras.ops.mean(keras.losses.binary_crossentropy(y_true, y_pred), axis=(1, 2))
    return bce + 1.0 - per_image_dice(y_true, y_pred)


def boundary_bce(y_true, y_pred, band_px: int = 5):
    """Binary cross-entropy over the band around the reference outline, per image: (batch,).

    The band is the mask's dilation minus its erosion (a `band_px` square, about
    `band_px // 2` pixels each side), so errors where the HC is measured weigh as much as
    the whole image's; the plain BCE is dominated by the easy interior and background.
    """
    import keras
    ops = keras.ops
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    dilated = ops.max_pool(y_true, band_px, strides=1, padding="same")
    eroded = 1.0 - ops.max_pool(1.0 - y_true, band_px, strides=1, padding="same")
    band = (dilated - eroded)[..., 0]
    bce = keras.losses.binary_crossentropy(y_true, y_pred)
    return ops.sum(band * bce, axis=(1, 2)) / (ops.sum(band, axis=(1, 2)) + 1e-6)


def moment_ellipse_perimeter(mask):
    """The perimeter (pixels) of the ellipse with each mask's first and second moments: (batch,).

    A filled ellipse of semi-axes a >= b has covariance eigenvalues a^2/4 and b^2/4, so
    a = 2 sqrt(l1), b = 2 sqrt(l2); the perimeter is Ramanujan's second approximation, as the
    measurement's (`measure.geometry.ramanujan_perimeter`). Smooth in a soft mask; unlike
    Dice it does not change when the head is moved or turned, only when its size does.
    """
    import keras
    ops = keras.ops
    p = ops.cast(mask, "float32")[..., 0]
    h, w = p.shape[1], p.shape[2]
    ys = ops.reshape(ops.arange(h, dtype="float32"), (1, h, 1))
    xs = ops.reshape(ops.arange(w, dtype="float32"), (1, 1, w))
    m0 = ops.sum(p, axis=(1, 2)) + 1e-6
    mx = ops.sum(p * xs, axis=(1, 2)) / m0
    my = ops.sum(p * ys, axis=(1, 2)) / m0
    dx = xs - mx[:, None, None]
    dy = ys - my[:, None, None]
    cxx = ops.sum(p * dx * dx, axis=(1, 2)) / m0
    cyy = ops.sum(p * dy * dy, axis=(1, 2)) / m0
    cxy = ops.sum(p * dx * dy, axis=(1, 2)) / m0
    mean = (cxx + cyy) / 2.0
    root = ops.sqrt(((cxx - cyy) / 2.0) ** 2 + cxy ** 2 + 1e-12)
    a = 2.0 * ops.sqrt(mean + root)
    b = 2.0 * ops.sqrt(ops.maximum(mean - root, 1e-12))
    hh = ((a - b) / (a + b)) ** 2
    return math.pi * (a + b) * (1.0 + 3.0 * hh / (10.0 + ops.sqrt(4.0 - 3.0 * hh)))


def hc_log_error(y_true, y_pred):
    """|log(perimeter of the prediction / of the reference)| per image, each from its moments
    (`moment_ellipse_perimeter`): the relative HC error, the challenge's measure up to the
    pixel size, which the letterboxed masks share."""
    import keras
    ops = keras.ops
    return ops.abs(ops.log(moment_ellipse_perimeter(y_pred) + 1e-6)
                   - ops.log(moment_ellipse_perimeter(y_true) + 1e-6))


def training_loss(boundary_weight: float = 0.0, hc_weight: float = 0.0):
    """`bce_dice_loss` + boundary_weight x `boundary_bce` + hc_weight x `hc_log_error` (the
    levers' terms); both weights 0 is `bce_dice_loss` itself."""
    if boundary_weight == 0 and hc_weight == 0:
        return bce_dice_loss

    def loss(y_true, y_pred):
        out = bce_dice_loss(y_true, y_pred)
        if boundary_weight:
            out = out + boundary_weight * boundary_bce(y_true, y_pred)
        if hc_weight:
            out = out + hc_weight * hc_log_error(y_true, y_pred)
        return out

    terms = (f"_boundary{boundary_weight:g}" if boundary_weight else "") + (f"_hc{hc_weight:g}" if hc_weight else "")
    loss.__name__ = f"bce_dice{terms}_loss"
    return loss
