"""Trains the hc-tf EfficientNet-UNet on a GPU machine that has JAX but no TensorFlow.

Same network (`hc_tf.modeling.model.build_unet`, segmentation-models' keras path), same
loss and metric (`hc_tf.train.fit`), same validation ADF through the shared
measurement module, same best-by-validation-ADF rule as `hc-tf train`; only the
backend (Keras 3 on JAX) and the input pipeline (NumPy/OpenCV over the arrays
`pack_hc18.py` wrote) differ. The saved `best.keras` loads in hc-tf as any other.

    KERAS_BACKEND=jax python -m hc_tf.train.jax_backend.train_jax --data .gpu/hc18_224x320.npz \
        --run-dir /tmp/run --time-budget-s 420

Data parallel (`--data-parallel`): `keras.distribution.DataParallel` over every device of
every process; `--batch-size` is then per device, the global batch that times the devices.
The step is one SPMD program over the global batch, so BatchNormalization statistics are
those of the global batch (synchronized by construction). Across hosts, start one process
per host with `--coordinator-address HOST0:PORT --num-processes N --process-id I`
(`jax.distributed.initialize`); each process feeds its slice of every global batch.

All labelled images (`--train-on-all --epochs N`): the final step of a challenge model, once
the recipe and epoch count are fixed on validation. The validation images join the training
set, so the model kept is the last epoch's (best-by-validation would select on trained-on
images); the validation ADF is still logged, marked as not held out.

Cross-validation (`--folds N --fold K --epochs E`): the pack's images of both splits are
regrouped by their stored fold; the run trains on every fold but K for the fixed E epochs and
keeps the last epoch; fold K's images take the validation slot, logged as out-of-fold
figures and never used to choose (`scripts/gpu_jax/sweeps/cv5.txt`: all folds in one call).

Levers (the same flags as `hc-tf train`, recorded in config.json): `--boundary-weight W`
adds W x BCE over the reference outline's band to the loss; `--hc-weight W` adds W x the
relative HC error of the soft masks' moment ellipses; `--large-head-repeat R` puts every
training head over defaults.LARGE_HEAD_MM R times into each epoch's index list
(`hc_tf.train.sampling`), never the validation slot (`scripts/gpu_jax/sweeps/cv5_levers.txt`).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
import types
from typing import Optional

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ["SM_FRAMEWORK"] = "keras"  # the tf.keras path imports TensorFlow

import cv2  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

# segmentation-models' `keras` path expects Keras 2 names (on the tf.keras path,
# TensorFlow's legacy keras.backend provides them): give Keras 3 the ones it uses.
if not hasattr(keras.utils, "generic_utils"):
    keras.utils.generic_utils = types.SimpleNamespace(
        get_custom_objects=keras.utils.get_custom_objects)
for _name in ("sigmoid", "shape"):  # efficientnet's swish; FixedDropout
    if not hasattr(keras.backend, _name):
        setattr(keras.backend, _name, getattr(keras.ops, _name))

from hc_tf import defaults  # noqa: E402
from hc_tf import measure as measure_lib  # noqa: E402
from hc_tf.modeling import model as model_lib  # noqa: E402
from hc_tf import preprocess  # noqa: E402
from hc_tf.train import losses  # noqa: E402
from hc_tf.train import run_dir as run_dir_lib  # noqa: E402
from hc_tf.train import sampling  # noqa: E402
from hc_tf.train import schedule  # noqa: E402
from hc_tf.train import validation  # noqa: E402

from hc_tf.train.jax_backend import pack_hc18  # noqa: E402  (beside this file)
from hc_tf.train.jax_backend.augment_np import augment_np  # noqa: E402  (beside this file; hc_tf.train.data.augment's twin)


class AugmentedBatches(keras.utils.PyDataset):
    """Shuffled, augmented full batches (a fixed batch shape: one jit trace).

    Args:
      x, y: images and masks.
      batch_size: the global batch.
      seed: seeds the order and the augmentation (the same on every process).
      process_index, process_count: this process yields rows
        [index * B / count, (index + 1) * B / count) of each global batch of B.
      index: the image of each position of an epoch (`hc_tf.train.sampling.epoch_index`:
        large heads repeated); None: each image once (arange, as before the levers).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int,
                 process_index: int = 0, process_count: int = 1,
                 index: Optional[np.ndarray] = None):
        super().__init__(workers=8, use_multiprocessing=False, max_queue_size=16)
        if batch_size % process_count:
            raise ValueError(f"global batch {batch_size} does not split over {process_count} processes")
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.local = batch_size // process_count
        self.offset = process_index * self.local
        self.index = np.arange(len(x)) if index is None else np.asarray(index)
        self.epoch = 0
        self._shuffle()

    def _shuffle(self):
        # A permutation of the epoch's positions (for index = arange: of the images, as before).
        self.order = np.random.default_rng((self.seed, self.epoch)).permutation(len(self.index))

    def __len__(self):
        return len(self.index) // self.batch_size

    def __getitem__(self, i):
        idx = self.order[i * self.batch_size:(i + 1) * self.batch_size]
        local = idx[self.offset:self.offset + self.local]
        # One generator per position (= per image without repeats): its augmentation does not
        # depend on which process draws it, and a repeated image's copies differ.
        pairs = [augment_np(self.x[self.index[p]], self.y[self.index[p]],
                            np.random.default_rng((self.seed, self.epoch, int(p))))
                 for p in local]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])

    def on_epoch_end(self):
        self.epoch += 1
        self._shuffle()


def _measure_one(args):
    prob, box_row, px = args
    sx, sy, ox, oy, sw, sh = box_row
    h, w = prob.shape
    box = preprocess.Letterbox(float(sx), float(sy), float(ox), float(oy), int(sw), int(sh), w, h)
    m = measure_lib.measure(prob, box, float(px))
    return m.hc_mm if m.found else None


def validation_adf(model, data, pool) -> dict:
    """Validation ADF as `hc-tf train` computes it (a head not found counts as HC 0)."""
    x = data["validation_x"][..., None].astype(np.float32)
    n = len(x)
    pad = -n % 32  # whole batches only: a ragged last batch would trigger a second jit trace
    x = np.concatenate([x, np.zeros((pad,) + x.shape[1:], x.dtype)])
    probs = model.predict(x, batch_size=32, verbose=0)[:n, ..., 0].astype(np.float32)
    hcs = pool.map(_measure_one, zip(probs, data["validation_box"], data["validation_px"]))
    return validation.adf_figures(hcs, data["validation_hc"])


def fold_data(data: dict, n_folds: int, fold: int) -> dict:
    """`data` regrouped for fold `fold`: train_* = the other folds' images (both splits),
    validation_* = this fold's.

    Raises:
      SystemExit: the pack holds no folds, or another number of them.
    """
    if "train_fold" not in data or int(data["n_folds"]) != n_folds:
        have = int(data["n_folds"]) if "n_folds" in data else "no"
        raise SystemExit(f"--folds {n_folds}: the pack holds {have} folds; "
                         f"repack with pack_hc18 --folds {n_folds}")
    keys = [k[len("train_"):] for k in data if k.startswith("train_")]
    merged = {k: np.concatenate([data[f"train_{k}"], data[f"validation_{k}"]]) for k in keys}
    held_out = merged["fold"] == fold
    return {**{f"train_{k}": v[~held_out] for k, v in merged.items()},
            **{f"validation_{k}": v[held_out] for k, v in merged.items()}}


def training_arrays(data: dict, train_on_all: bool):
    """Images and masks to train on: the train split, or train + validation (`--train-on-all`)."""
    if not train_on_all:
        return data["train_x"], data["train_y"]
    return (np.concatenate([data["train_x"], data["validation_x"]]),
            np.concatenate([data["train_y"], data["validation_y"]]))


def training_index(data: dict, train_on_all: bool, repeat: int) -> np.ndarray:
    """The epoch's index into `training_arrays`: heads over defaults.LARGE_HEAD_MM `repeat`
    times (`hc_tf.train.sampling`); the validation slot (a fold's held-out part) is never in it."""
    hc = (np.concatenate([data["train_hc"], data["validation_hc"]]) if train_on_all
          else data["train_hc"])
    return sampling.epoch_index(hc, repeat)


class Schedule(keras.callbacks.Callback):
    """Cosine learning rate over a fixed epoch count, or one set from a time budget
    (after two timed epochs, the count that fits what is left); validation every
    `val_every` epochs and at the end; keeps the best model by validation ADF, or the last
    epoch's with `--train-on-all` (validation was trained on)."""

    def __init__(self, args, data, pool, t_start: float):
        super().__init__()
        self.args, self.data, self.pool, self.t_start = args, data, pool, t_start
        self.epochs = args.epochs or 10_000
        self.best = run_dir_lib.best_adf(args.run_dir)
        self.epoch_times = []
        self.rows = []

    def on_epoch_begin(self, epoch, logs=None):
        self.t_epoch = time.time()
        self.model.optimizer.learning_rate = schedule.per_epoch_rate(epoch, self.epochs, self.args.lr)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        self.epoch_times.append(time.time() - self.t_epoch)
        if not self.args.epochs and epoch == 1:  # epoch 0 holds the jit compile
            per_epoch = self.epoch_times[1] * (1 + 0.6 / self.args.val_every)
            left = self.args.time_budget_s - (time.time() - self.t_start) - 60
            self.epochs = 2 + max(1, int(left / per_epoch))
            print(f"  {self.epoch_times[1]:.2f} s/epoch -> {self.epochs} epochs in the budget",
                  flush=True)
        last = epoch + 1 >= self.epochs
        if (epoch + 1) % self.args.val_every == 0 or last:
            logs.update(validation_adf(self.model, self.data, self.pool))
            keep_last = self.args.train_on_all or bool(self.args.folds)
            if validation.keeps(logs["val_adf_mm"], self.best, last, keep_last):
                self.best = logs["val_adf_mm"]
                self._save(epoch, logs, last)
            kept = ("trained on, not held out; the last epoch is kept" if self.args.train_on_all
                    else f"fold {self.args.fold} held out; the last epoch is kept" if self.args.folds
                    else f"best {self.best:.3f}")
            print(f"  epoch {epoch + 1}: val ADF {logs['val_adf_mm']:.3f} mm ({kept}), "
                  f"not found {logs['val_not_found']}", flush=True)
        logs.update(epoch=epoch, lr=schedule.per_epoch_rate(epoch, self.epochs, self.args.lr),
                    seconds=round(self.epoch_times[-1], 2))
        self.rows.append(logs)
        run_dir_lib.write_log(os.path.join(self.args.run_dir, "log.csv"), self.rows)
        if last:
            self.model.stop_training = True


    def _save(self, epoch: int, logs: dict, last: bool) -> None:
        doc = {"epoch": epoch + 1, **logs}
        if self.args.train_on_all or self.args.folds:
            doc["final"] = last  # False: the run was stopped before its last epoch
        if self.args.train_on_all:
            doc["train_on_all"] = True
            doc["note"] = ("last epoch of a fixed schedule on train + validation: the "
                           "validation figures are on trained-on images, not held out")
        if self.args.folds:
            doc.update(folds=self.args.folds, fold=self.args.fold, note=(
                "last epoch of a fixed schedule; the validation figures are this fold's "
                "held-out images (out of fold), never used to choose"))
        run_dir_lib.keep_model(self.model, self.args.run_dir, doc)


def setup_data_parallel(args) -> int:
    """Joins the cluster and sets the Keras distribution, before the model is built.

    Args:
      args: the parsed flags (`data_parallel`, `coordinator_address`, `num_processes`,
        `process_id`, `batch_size` per device).

    Returns:
      The global batch: `--batch-size` times the devices of all processes (or as given,
      without `--data-parallel`).

    Raises:
      SystemExit: multi-process flags without `--data-parallel`, or incomplete.
    """
    import jax
    if args.num_processes > 1:
        if not args.data_parallel or not args.coordinator_address or args.process_id is None:
            raise SystemExit("--num-processes > 1 needs --data-parallel, --coordinator-address "
                             "and --process-id")
        jax.distributed.initialize(coordinator_address=args.coordinator_address,
                                   num_processes=args.num_processes, process_id=args.process_id)
    if not args.data_parallel:
        return args.batch_size
    devices = jax.devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    print(f"data parallel: {len(devices)} devices over {jax.process_count()} processes; global "
          f"batch {args.batch_size * len(devices)} = {args.batch_size} per device x {len(devices)}",
          flush=True)
    return args.batch_size * len(devices)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help=".npz from pack_hc18.py")
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--epochs", type=int, default=0, help="0: as many as the budget fits")
    parser.add_argument("--time-budget-s", type=float, default=420.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--precision", default="mixed_bfloat16",
                        choices=[p for p in model_lib.PRECISIONS if p != "auto"])
    parser.add_argument("--backbone", default=model_lib.DEFAULT_BACKBONE, choices=model_lib.BACKBONES)
    parser.add_argument("--decoder-filters",
                        default=",".join(map(str, model_lib.DEFAULT_DECODER_FILTERS)))
    parser.add_argument("--encoder-weights", default=None,
                        help="converted encoder .npz (hc_tf/modeling/lite_pytorch_weights.py)")
    parser.add_argument("--val-every", type=int, default=3)
    parser.add_argument("--workers", type=int, default=6, help="measuring processes")
    parser.add_argument("--limit", type=int, default=0, help="use the first N images (tests)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--boundary-weight", type=float, default=0.0,
                        help="adds this x BCE over the outline's band to the loss (0: off)")
    parser.add_argument("--hc-weight", type=float, default=0.0,
                        help="adds this x the relative HC error of the masks' moment ellipses (0: off)")
    parser.add_argument("--large-head-repeat", type=int, default=1,
                        help=f"each training head over {defaults.LARGE_HEAD_MM:g} mm this many times an "
                             "epoch (1: off); the epoch's step count grows with it")
    parser.add_argument("--train-on-all", action="store_true",
                        help="train on train + validation for a fixed --epochs; keep the last epoch")
    parser.add_argument("--folds", type=int, default=0,
                        help="cross-validation: N folds (the pack's); train on all but --fold")
    parser.add_argument("--fold", type=int, default=0, help="the held-out fold, 0..N-1")
    parser.add_argument("--data-parallel", action="store_true",
                        help="keras.distribution.DataParallel over all devices; --batch-size per device")
    parser.add_argument("--coordinator-address", default=None,
                        help="multi-host: HOST:PORT of process 0 (jax.distributed.initialize)")
    parser.add_argument("--num-processes", type=int, default=1, help="multi-host: processes")
    parser.add_argument("--process-id", type=int, default=None, help="multi-host: this process")
    args = parser.parse_args()
    if args.train_on_all and not args.epochs:
        parser.error("--train-on-all needs a fixed --epochs (the count chosen on validation)")
    if args.large_head_repeat < 1:
        parser.error("--large-head-repeat needs a whole number >= 1 (1: off)")
    if args.folds and (not args.epochs or args.train_on_all or not 0 <= args.fold < args.folds):
        parser.error("--folds needs a fixed --epochs, 0 <= --fold < --folds, no --train-on-all")
    t_start = time.time()
    cv2.setNumThreads(1)
    # Fork the measuring workers before JAX starts its threads.
    pool = multiprocessing.get_context("fork").Pool(args.workers)
    global_batch = setup_data_parallel(args)
    if args.num_processes > 1 and args.process_id != 0:
        # Validation and the run directory are process 0's; the others write elsewhere.
        args.run_dir = os.path.join(args.run_dir, f".process_{args.process_id}")
    os.makedirs(args.run_dir, exist_ok=True)
    data = pack_hc18.load_packed(args.data, args.limit)
    if args.folds:
        data = fold_data(data, args.folds, args.fold)
    hw = data["train_x"].shape[1:3]
    keras.utils.set_random_seed(args.seed)
    decoder = tuple(int(v) for v in args.decoder_filters.split(","))
    model = model_lib.build_unet(hw, args.backbone, args.precision,
                                 encoder_weights=args.encoder_weights, decoder_filters=decoder)
    print(model_lib.summary_line(model), f"backend {keras.backend.backend()}", flush=True)
    x, y = training_arrays(data, args.train_on_all)
    source = ("train + validation" if args.train_on_all
              else f"folds other than {args.fold} of {args.folds}" if args.folds else "train")
    print(f"{len(x)} training images ({source}), "
          f"{len(data['validation_x'])} validation images", flush=True)
    index = training_index(data, args.train_on_all, args.large_head_repeat)
    if args.large_head_repeat > 1:
        print(sampling.describe(len(x), len(index), args.large_head_repeat), flush=True)
    # Not prepare_run_dir's resume check: a sweep's run folder already holds its stdout.log,
    # and a JAX run is never resumed (it is one device call).
    run_dir_lib.write_config(args.run_dir, {**vars(args), "input_hw": list(hw)})
    model.compile(optimizer=keras.optimizers.Adam(args.lr),
                  loss=losses.training_loss(args.boundary_weight, args.hc_weight),
                  metrics=[losses.dice_coefficient])
    import jax
    batches = AugmentedBatches(x, y, global_batch, args.seed,
                               jax.process_index(), jax.process_count(), index)
    with pool:
        schedule = Schedule(args, data, pool, t_start)
        model.fit(batches, epochs=args.epochs or 10_000, callbacks=[schedule], verbose=2)
    run_dir_lib.plot_curves(os.path.join(args.run_dir, "log.csv"),
                          os.path.join(args.run_dir, "training_curve.png"))
    print(f"done: best val ADF {schedule.best:.3f} mm, {len(schedule.rows)} epochs, "
          f"{time.time() - t_start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
