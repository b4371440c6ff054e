"""Input pipeline vs training step vs inference, measured in one run on this CPU.

Prints:
  * dataset build time for the real data (with --build-from HC18_DIR; builds into a temp dir),
  * tf.data input-pipeline throughput with augmentation at the model size (images/s,
    after the letterbox cache is warm, as in every epoch after the first),
  * the training step's consumption (images/s, s/step, s/epoch) of the EfficientNet-UNet
    (by default the network `hc-tf train` builds: Lite0, decoder 128,64,32,16,16, 224x320),
  * Keras inference time per image at batch 1 and batch 8,
and the ratio pipeline / training step (issue target: >= 5x, so training never waits).

    python benchmarks/train_benchmark.py --data-dir ~/hc-runs/tfds [--build-from ../shared/hc18]
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import tempfile
import time

import numpy as np

from hc_tf import defaults

PIPELINE_TARGET_RATIO = 5.0


def build_time(hc18_dir: str) -> float:
    """Seconds to build the HC18 TFDS dataset from `hc18_dir` into a temporary data dir."""
    import tensorflow_datasets as tfds
    from hc_tf_datasets.hc18 import prepared

    tmp = tempfile.mkdtemp(prefix="hc18_build_")
    try:
        t = time.perf_counter()
        prepared.make_builder(tmp, 0.2).download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=hc18_dir))
        return time.perf_counter() - t
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def pipeline_images_per_s(data_dir: str, input_hw, batch_size: int, batches: int) -> float:
    """Augmented training batches per second x batch size, cache already warm."""
    from hc_tf.train import data as data_lib

    examples = data_lib.load_split(data_dir, "train")
    ds = data_lib.training_pipeline(examples, input_hw, batch_size, seed=0).repeat()
    it = iter(ds)
    n_train = int(examples.cardinality().numpy())
    for _ in range(math.ceil(n_train / batch_size) + 2):  # one epoch: fills the cache
        next(it)
    t = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * batch_size / (time.perf_counter() - t)


def training_step_seconds(model, batch, steps: int) -> float:
    """Median seconds per optimizer step on a fixed batch (after two warm-up steps)."""
    import keras
    from hc_tf.train import losses

    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=losses.bce_dice_loss)
    x, y = batch
    for _ in range(2):  # traces the step function
        model.train_on_batch(x, y)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def inference_ms_per_image(model, x: np.ndarray, batch_size: int, runs: int) -> float:
    """Median ms per image of a jitted forward pass at `batch_size`."""
    import tensorflow as tf

    forward = tf.function(lambda t: model(t, training=False))
    xb = tf.constant(np.repeat(x[:1], batch_size, axis=0))
    forward(xb)  # trace
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        forward(xb).numpy()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3 / batch_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="TFDS data dir with HC18 prepared")
    parser.add_argument("--build-from", help="HC18 release folder: also time a fresh build")
    # The network `hc-tf train` builds by default (hc_tf/defaults.py: the released one); the
    # batch stays 8, the batch the documented figures (docs/benchmarks.md) were measured at.
    parser.add_argument("--input-size", default="x".join(map(str, defaults.INPUT_HW)))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--backbone", default=defaults.DEFAULT_BACKBONE,
                        choices=defaults.BACKBONES)
    parser.add_argument("--decoder-filters",
                        default=",".join(map(str, defaults.DEFAULT_DECODER_FILTERS)))
    parser.add_argument("--steps", type=int, default=5, help="timed training steps")
    parser.add_argument("--pipeline-batches", type=int, default=60)
    parser.add_argument("--inference-runs", type=int, default=10)
    args = parser.parse_args()

    from hc_tf.train import data as data_lib
    from hc_tf.modeling import model as model_lib

    hw = tuple(int(v) for v in args.input_size.lower().split("x"))
    if args.build_from:
        print(f"dataset build ({args.build_from}): {build_time(args.build_from):.0f} s")

    pipe = pipeline_images_per_s(args.data_dir, hw, args.batch_size, args.pipeline_batches)
    print(f"input pipeline (letterbox cached, augmentation on, {hw[0]}x{hw[1]}): "
          f"{pipe:.0f} images/s")

    examples = data_lib.load_split(args.data_dir, "train")
    n_train = int(examples.cardinality().numpy())
    batch = next(iter(data_lib.training_pipeline(examples, hw, args.batch_size, seed=0)))
    decoder = tuple(int(v) for v in args.decoder_filters.split(","))
    model = model_lib.build_unet(hw, args.backbone, "float32", decoder_filters=decoder)
    step = training_step_seconds(model, batch, args.steps)
    train_ips = args.batch_size / step
    epoch_s = math.ceil(n_train / args.batch_size) * step
    print(f"training step ({args.backbone}, batch {args.batch_size}, float32): {step:.2f} s/step, "
          f"{train_ips:.2f} images/s, {epoch_s / 60:.1f} min/epoch over {n_train} images "
          "(without the per-epoch validation)")
    ratio = pipe / train_ips
    print(f"pipeline / training step: {ratio:.0f}x (target >= {PIPELINE_TARGET_RATIO:.0f}x)")

    x = batch[0].numpy()
    for bs in (1, 8):
        ms = inference_ms_per_image(model, x, bs, args.inference_runs)
        print(f"Keras inference, batch {bs}: {ms:.0f} ms/image")
    return 0 if ratio >= PIPELINE_TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
