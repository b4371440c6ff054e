"""The loss and metric both trainers compile (`hc-tf train` on TensorFlow, the JAX trainer).

Backend-neutral `keras.ops` only, so the one definition runs under TensorFlow and JAX alike.
"""

from __future__ import annotations


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


def bce_dice_boundary_loss(boundary_weight: float):
    """`bce_dice_loss` + boundary_weight x `boundary_bce` (the boundary term); weight 0 is
    `bce_dice_loss` itself."""
    if boundary_weight == 0:
        return bce_dice_loss

    def loss(y_true, y_pred):
        return bce_dice_loss(y_true, y_pred) + boundary_weight * boundary_bce(y_true, y_pred)

    loss.__name__ = f"bce_dice_boundary{boundary_weight:g}_loss"
    return loss
