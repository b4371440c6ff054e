"""Small models and synthetic images for the TFLite / edge / parity tests.

Cheap on 2 CPU cores: a tiny EfficientNet-UNet (built once per session, its
final conv fitted by least squares so it outputs a head-like blob rather than
~0.5 everywhere) and a 2-layer "blob" model whose output is a smooth function of
the image, for measurement-level tests.
"""

import functools
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

TINY_HW = (64, 96)


def synthetic_images(n, hw=TINY_HW, seed=0):
    """(images (n, H, W, 1) uint8, masks (n, H, W) uint8, ellipses [(cx, cy, a, b, deg)]):
    a bright elliptical head on dark speckle, like a crude ultrasound frame."""
    rng = np.random.default_rng(seed)
    h, w = hw
    images = np.zeros((n, h, w, 1), np.uint8)
    masks = np.zeros((n, h, w), np.uint8)
    ellipses = []
    for i in range(n):
        img = rng.normal(40, 15, (h, w)).clip(0, 255)
        cx, cy = rng.uniform(0.42, 0.58) * w, rng.uniform(0.42, 0.58) * h
        a, b = rng.uniform(0.2, 0.3) * w, rng.uniform(0.22, 0.32) * h
        deg = rng.uniform(0, 180)
        mask = np.zeros((h, w), np.uint8)
        cv2.ellipse(mask, ((cx, cy), (2 * a, 2 * b), deg), 1, -1)
        img[mask > 0] += 120
        images[i, :, :, 0] = img.clip(0, 255).astype(np.uint8)
        masks[i] = mask
        ellipses.append((cx, cy, a, b, deg))
    return images, masks, ellipses


def blob_model(hw=TINY_HW):
    """gray 0..255 -> probability: sigmoid(20 * local mean(gray / 255) - 8).

    A Keras model shaped like the real one (raw gray in, in-model /255, float32
    probability out) whose 0.5 contour is the synthetic head's edge.
    """
    import keras
    keras.mixed_precision.set_global_policy("float32")
    gray = keras.Input((hw[0], hw[1], 1), name="gray")
    x = keras.layers.Rescaling(1.0 / 255.0, name="normalize")(gray)
    x = keras.layers.Conv2D(1, 5, padding="same", name="smooth")(x)
    prob = keras.layers.Activation("sigmoid", dtype="float32", name="head_probability")(x)
    model = keras.Model(gray, prob, name="blob")
    conv = model.get_layer("smooth")
    conv.kernel.assign(np.full((5, 5, 1, 1), 20.0 / 25.0, np.float32))
    conv.bias.assign(np.array([-8.0], np.float32))
    return model


def saved_blob_model(folder, name="blob.keras"):
    """(blob model, path of it saved as .keras in `folder`)."""
    model = blob_model()
    path = str(folder / name)
    model.save(path)
    return model, path


@functools.lru_cache(maxsize=1)
def tiny_unet():
    """(model, images, masks): the real architecture at 64x96 with a narrow decoder.

    The encoder and decoder keep their random weights; the final 3x3 conv is
    solved by ridge regression on the synthetic images, so the output is a
    non-trivial map (values spread over 0..1, a blob over the head).
    """
    import keras
    from hc_tf.modeling import model as model_lib

    keras.utils.set_random_seed(0)  # the same random encoder every run
    model = model_lib.build_unet(TINY_HW, decoder_filters=(16, 8, 8, 8, 8), precision="float32")
    images, masks, _ = synthetic_images(8, seed=1)
    unet = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    final = unet.get_layer("final_conv")
    features = keras.Model(unet.input, final.input)
    rgb = np.repeat(images.astype(np.float32) / 255.0, 3, axis=-1)
    f = np.asarray(features(rgb, training=False), np.float64)
    h, w = TINY_HW
    c = f.shape[-1]
    fp = np.pad(f, ((0, 0), (1, 1), (1, 1), (0, 0)))
    cols = np.concatenate([fp[:, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)], -1)
    a = np.concatenate([cols.reshape(-1, 9 * c), np.ones((cols.size // (9 * c), 1))], axis=1)
    y = (masks.reshape(-1).astype(np.float64) * 2 - 1) * 3.0
    sol = np.linalg.solve(a.T @ a + 1e-3 * np.eye(a.shape[1]), a.T @ y)
    final.kernel.assign(sol[:-1].reshape(3, 3, c, 1).astype(np.float32))
    final.bias.assign(sol[-1:].astype(np.float32))
    return model, images, masks


def keras_prob(model, images):
    return np.asarray(model(images.astype(np.float32), training=False), np.float32)[..., 0]


def ellipse_hc_px(a, b):
    h = ((a - b) / (a + b)) ** 2
    return math.pi * (a + b) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h)))
