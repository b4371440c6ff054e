"""Training step time with 1 vs 2 logical CPU devices (`--distribute mirrored` plumbing).

Each setting runs in its own process (the CPU split must precede TensorFlow's start): the
EfficientNet-UNet at --input-size, --batch-size images per replica, synchronized BN as
`hc-tf train --distribute mirrored` builds it. Two logical devices share the same cores:
this checks that the distributed step runs and what it costs, not a speed-up.

    python benchmarks/distribute_benchmark.py [--input-size 64x96 --batch-size 2 --steps 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def child(devices: int, hw, per_replica: int, steps: int, decoder) -> dict:
    """Times `steps` training steps under `devices` logical CPU devices (run in a subprocess)."""
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
    import keras
    from hc_tf.train import distribute as distribute_lib
    from hc_tf.modeling import model as model_lib
    from hc_tf.train import losses

    plan = distribute_lib.make_plan("mirrored" if devices > 1 else "none")
    with plan.strategy.scope():
        model = model_lib.build_unet(hw, precision="float32", decoder_filters=decoder)
        if plan.replicas > 1:
            distribute_lib.synchronize_batch_norm(model)
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=losses.bce_dice_loss)
    batch = per_replica * plan.replicas
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch,) + tuple(hw) + (1,)).astype(np.float32)
    y = (rng.random((batch,) + tuple(hw) + (1,)) > 0.5).astype(np.float32)
    ds = tf.data.Dataset.from_tensors((x, y)).repeat()
    times = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.t = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.t)

    model.fit(ds, epochs=1, steps_per_epoch=steps + 2, callbacks=[Timer()], verbose=0)
    step = statistics.median(times[2:])  # the first steps trace the function
    return {"replicas": plan.replicas, "global_batch": batch, "step_s": step,
            "images_per_s": batch / step}


# A child builds TensorFlow, the model and a few steps (under a minute on 2 cores); one that
# hangs (a collective waiting on a device) is stopped rather than waited on forever.
CHILD_TIMEOUT_S = 900


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-size", default="64x96")
    parser.add_argument("--batch-size", type=int, default=2, help="per replica")
    parser.add_argument("--steps", type=int, default=5, help="timed steps (after 2 warm-up steps)")
    parser.add_argument("--decoder-filters", default="16,8,8,8,8")
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    hw = tuple(int(v) for v in args.input_size.lower().split("x"))
    decoder = tuple(int(v) for v in args.decoder_filters.split(","))
    if args.child:
        print("RESULT " + json.dumps(child(args.child, hw, args.batch_size, args.steps, decoder)))
        return 0
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    print(f"EfficientNet-UNet {hw[0]}x{hw[1]}, decoder {args.decoder_filters}, {args.batch_size} "
          f"images per replica, {os.cpu_count()} CPU cores shared by the logical devices")
    for devices in (1, 2):
        try:
            out = subprocess.run([sys.executable, __file__, "--child", str(devices)]
                                 + sys.argv[1:], capture_output=True, text=True, env=env,
                                 check=False, timeout=CHILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print(f"{devices} logical device(s): no result within {CHILD_TIMEOUT_S} s (a hung "
                  "collective?): stopped")
            return 1
        lines = [text for text in out.stdout.splitlines() if text.startswith("RESULT ")]
        if out.returncode or not lines:
            print(out.stderr[-2000:])
            return 1
        r = json.loads(lines[-1][7:])
        print(f"{devices} logical device(s): {r['replicas']} replica(s), global batch "
              f"{r['global_batch']}: {r['step_s'] * 1e3:.0f} ms/step, {r['images_per_s']:.1f} images/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
