"""Run in a subprocess by tests/distribute_test.py (the CPU must be split into logical
devices before TensorFlow starts): trains one model twice from the same initial weights,
on one device at global batch 2B and under `--distribute mirrored` on two logical CPU
devices at B per replica, and prints JSON with both runs' per-step losses and weights.

    python tests/distribute_equivalence.py {conv,conv_bn,unet,unet_unsynced} STEPS B [LR]
"""

from __future__ import annotations

import json
import os
import sys
from typing import Dict, List, Tuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_CPU, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

from tests.tiny_models import TINY_HW, synthetic_images  # noqa: E402  (beside this file)

from hc_tf.train import distribute as distribute_lib  # noqa: E402
from hc_tf.modeling import model as model_lib  # noqa: E402
from hc_tf.train import losses  # noqa: E402


def _build(kind: str):
    """A freshly built model of `kind`, same initial weights every call."""
    keras.utils.set_random_seed(0)
    if kind.startswith("unet"):
        model = model_lib.build_unet(TINY_HW, decoder_filters=(16, 8, 8, 8, 8), precision="float32")
        # The encoder's drop-connect draws its own masks on every replica: off, so that the
        # runs can be compared step by step (it is random on one device too).
        for layer in model._flatten_layers(include_self=False):
            if isinstance(layer, keras.layers.Dropout):
                layer.rate = 0.0
        return model
    gray = keras.Input(TINY_HW + (1,))
    x = keras.layers.Rescaling(1.0 / 255.0)(gray)
    x = keras.layers.Conv2D(8, 3, padding="same")(x)
    if kind == "conv_bn":
        x = keras.layers.BatchNormalization(momentum=0.5)(x)
    x = keras.layers.Activation("relu")(x)
    prob = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(x)
    return keras.Model(gray, prob)


class StepLosses(keras.callbacks.Callback):
    """Each step's own loss, recovered from Keras's running mean over the epoch."""

    def __init__(self):
        super().__init__()
        self.means: List[float] = []

    def on_train_batch_end(self, batch, logs=None):
        self.means.append(float(logs["loss"]))

    def losses(self) -> List[float]:
        return [m * (i + 1) - (self.means[i - 1] * i if i else 0.0) for i, m in enumerate(self.means)]


def _fit(kind: str, plan, global_batch: int, steps: int, data, lr: float) -> Tuple[List[float], Dict]:
    """Trains `steps` SGD steps (momentum-free, so a gradient scaled wrongly shows)."""
    synchronized = 0
    with plan.strategy.scope():
        model = _build(kind)
        if plan.replicas > 1 and kind != "unet_unsynced":
            synchronized = distribute_lib.synchronize_batch_norm(model)
        model.compile(optimizer=keras.optimizers.SGD(lr), loss=losses.bce_dice_loss)
    x, y = data
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(global_batch, drop_remainder=True)
    record = StepLosses()
    model.fit(ds.repeat(), epochs=1, steps_per_epoch=steps, callbacks=[record], verbose=0)
    weights = [np.asarray(w).tolist() for w in model.get_weights()]
    replicas = {}
    for v in model.non_trainable_weights:  # each replica's own copy of BN moving statistics
        copies = getattr(v.value, "values", None)
        if copies and len(copies) > 1:
            replicas[v.name] = float(np.abs(copies[0].numpy() - copies[1].numpy()).max())
    return record.losses(), {"weights": weights, "replica_spread": replicas,
                             "synchronized_bn": synchronized}


def main() -> None:
    kind, steps, per_replica = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    lr = float(sys.argv[4]) if len(sys.argv) > 4 else 0.5
    images, masks, _ = synthetic_images(2 * per_replica * steps, seed=3)
    data = (images.astype(np.float32), masks[..., None].astype(np.float32))
    one = distribute_lib.make_plan("none")
    two = distribute_lib.make_plan("mirrored")
    assert two.replicas == 2, two.replicas
    loss_1, state_1 = _fit(kind, one, 2 * per_replica, steps, data, lr)
    loss_2, state_2 = _fit(kind, two, two.replicas * per_replica, steps, data, lr)
    print("RESULT " + json.dumps({"one_device": {"losses": loss_1, **state_1},
                                  "two_replicas": {"losses": loss_2, **state_2}}))


if __name__ == "__main__":
    main()
