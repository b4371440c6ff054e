"""Run by tests/jax_data_parallel_test.py with a Python that has JAX, under
XLA_FLAGS=--xla_force_host_platform_device_count=2: trains a model on one device at global
batch 2B, then under train_jax.py's `--data-parallel` (keras.distribution.DataParallel over
the two CPU devices) at B per device, from the same initial weights; prints JSON with both
runs' per-step losses and final weights, and those of a control: one device with each batch's
images reversed (the same steps but for the order of float sums).

    python tests/jax_data_parallel_check.py {conv_bn,unet} STEPS B
"""

from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

from hc_tf.train.jax_backend import train_jax  # noqa: E402  (sets KERAS_BACKEND=jax and segmentation-models' shims)

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from tests.tiny_models import TINY_HW, synthetic_images  # noqa: E402

from hc_tf.modeling import model as model_lib  # noqa: E402
from hc_tf.train import losses  # noqa: E402


def _build(kind: str):
    keras.utils.set_random_seed(0)
    if kind == "unet":
        model = model_lib.build_unet(TINY_HW, decoder_filters=(16, 8, 8, 8, 8), precision="float32")
        for layer in model._flatten_layers(include_self=False):
            if isinstance(layer, keras.layers.Dropout):
                layer.rate = 0.0  # drop-connect masks are random on one device too
        return model
    gray = keras.Input(TINY_HW + (1,))
    x = keras.layers.Rescaling(1.0 / 255.0)(gray)
    x = keras.layers.Conv2D(8, 3, padding="same")(x)
    x = keras.layers.BatchNormalization(momentum=0.5)(x)  # plain BN: SPMD sees the global batch
    x = keras.layers.Activation("relu")(x)
    return keras.Model(gray, keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(x))


def _fit(kind: str, global_batch: int, steps: int, data):
    model = _build(kind)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss=losses.bce_dice_loss)
    step_losses = []
    x, y = data
    for i in range(steps):  # train_on_batch: each step's own loss
        sl = slice(i * global_batch, (i + 1) * global_batch)
        step_losses.append(float(model.train_on_batch(x[sl], y[sl])))
    return step_losses, [np.asarray(w).tolist() for w in model.get_weights()]


def main() -> None:
    kind, steps, per_device = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    images, masks, _ = synthetic_images(2 * per_device * steps, seed=3)
    data = (images.astype(np.float32), masks[..., None].astype(np.float32))
    loss_1, w_1 = _fit(kind, 2 * per_device, steps, data)
    # Control: one device again, each batch's images in reverse order. The same steps in exact
    # arithmetic; only the order of float sums (BN statistics, the loss mean) differs.
    order = np.concatenate([np.arange(i, i + 2 * per_device)[::-1]
                            for i in range(0, len(images), 2 * per_device)])
    loss_r, w_r = _fit(kind, 2 * per_device, steps, (data[0][order], data[1][order]))
    args = argparse.Namespace(data_parallel=True, coordinator_address=None, num_processes=1,
                              process_id=None, batch_size=per_device)
    global_batch = train_jax.setup_data_parallel(args)
    assert global_batch == 2 * per_device and len(jax.devices()) == 2, jax.devices()
    loss_2, w_2 = _fit(kind, global_batch, steps, data)
    batches = train_jax.AugmentedBatches(data[0][..., 0], data[1][..., 0] * 255, global_batch, 0,
                                         process_index=1, process_count=2)
    half = batches[0][0].shape[0]
    print("RESULT " + json.dumps({"one_device": {"losses": loss_1, "weights": w_1},
                                  "data_parallel": {"losses": loss_2, "weights": w_2},
                                  "reordered": {"losses": loss_r, "weights": w_r},
                                  "devices": len(jax.devices()), "process_batch": half}))


if __name__ == "__main__":
    main()
