"""`hc-tf train`: fit the EfficientNet-UNet on HC18, in a resumable run directory.

A run directory holds:
  config.json          the run's settings (a different run's config is refused)
  best.keras           the best model by validation ADF, saved without optimizer
  best.json            its epoch and validation figures
  backup/              Keras BackupAndRestore state, saved atomically (hc_tf.train.fit.backup):
                       an interrupted run resumes
  log.csv, tb/         per-epoch CSV log and TensorBoard logs
  training_curve.png   loss and Dice per epoch
The best checkpoint is picked by validation ADF (mm), measured through the
shared measurement module: the number users care about, not a pixel loss.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from hc_tf import defaults
from hc_tf.surfaces import evaluate as evaluate_lib
from hc_tf import inference
from hc_tf.io import atomic as io_utils
from hc_tf.modeling import keras_runner
from hc_tf.modeling import model as model_lib

# Keys that may differ when a run is resumed (more epochs, new data location).
_RESUMABLE_KEYS = ("epochs", "data_dir", "steps_per_epoch")
# Keys added after runs were made: a config.json without one holds the default.
_ADDED_KEY_DEFAULTS = {"distribute": "none"}


@dataclasses.dataclass
class TrainConfig:
    data_dir: str
    run_dir: str
    epochs: int = defaults.EPOCHS
    batch_size: int = defaults.BATCH_SIZE
    input_hw: Tuple[int, int] = defaults.INPUT_HW
    backbone: str = defaults.DEFAULT_BACKBONE
    precision: str = defaults.DEFAULT_PRECISION
    learning_rate: float = defaults.LEARNING_RATE
    lr_schedule: str = defaults.DEFAULT_LR_SCHEDULE  # one of defaults.LR_SCHEDULES
    seed: int = 0
    validation_fraction: float = defaults.VALIDATION_FRACTION
    augmentation: bool = True
    flip_tta_validation: bool = False
    steps_per_epoch: Optional[int] = None  # None: one pass over the train split
    decoder_filters: Tuple[int, ...] = defaults.DEFAULT_DECODER_FILTERS
    bn_momentum: float = model_lib.BN_MOMENTUM
    encoder_weights: Optional[str] = None
    init_from: Optional[str] = None  # a .keras model whose weights start this run (fine-tuning)
    distribute: str = "none"  # defaults.DISTRIBUTE_MODES; batch_size is then per replica

    def to_json(self) -> Dict:
        d = dataclasses.asdict(self)
        d["input_hw"] = list(self.input_hw)
        d["decoder_filters"] = list(self.decoder_filters)
        return d


class RunDirError(ValueError):
    """The run directory belongs to another run."""


def _read_config(path: str) -> Dict:
    """A run's config.json as a dict.

    Raises:
      RunDirError: naming the file, when it is not JSON or not a JSON object.
    """
    try:
        with open(path, encoding="utf-8") as f:
            theirs = json.load(f)
    except ValueError as err:
        raise RunDirError(f"{path}: not an hc-tf config (not JSON: {err}); "
                          "choose a new --run-dir") from None
    if not isinstance(theirs, dict):
        raise RunDirError(f"{path}: not an hc-tf config (a JSON {type(theirs).__name__}, not "
                          "an object); choose a new --run-dir")
    return theirs


def check_start_files(config: TrainConfig) -> None:
    """Refuses missing start files (--encoder-weights, --init-from) before any work.

    Raises:
      ValueError: naming the option and the file.
    """
    for option, path in (("--encoder-weights", config.encoder_weights),
                         ("--init-from", config.init_from)):
        if path and not os.path.isfile(path):
            raise ValueError(f"{option} {path}: no such file")


def prepare_run_dir(config: TrainConfig) -> bool:
    """Creates the run dir or checks it holds this run; returns True when resuming.

    Raises:
      RunDirError: when it holds another run's config, or files but no config.
    """
    path = os.path.join(config.run_dir, "config.json")
    mine = config.to_json()
    if os.path.exists(path):
        theirs = _read_config(path)
        diff = sorted(k for k in set(mine) | set(theirs) if k not in _RESUMABLE_KEYS
                      and mine.get(k) != theirs.get(k, _ADDED_KEY_DEFAULTS.get(k)))
        if diff:
            raise RunDirError(
                f"{config.run_dir} holds another run (config differs in: {', '.join(diff)}); "
                "choose a new --run-dir")
        io_utils.atomic_write_text(path, json.dumps(mine, indent=2) + "\n")
        return True
    if os.path.isdir(config.run_dir) and os.listdir(config.run_dir):
        raise RunDirError(f"{config.run_dir} is not empty and holds no hc-tf config.json; "
                          "choose a new --run-dir")
    io_utils.atomic_write_text(path, json.dumps(mine, indent=2) + "\n")
    return False


def per_image_dice(y_true, y_pred, smooth: float = 1.0):
    """Soft Dice of each image: shape (batch,)."""
    import keras  # pylint: disable=g-import-not-at-top
    ops = keras.ops
    y_pred = ops.cast(y_pred, "float32")
    y_true = ops.cast(y_true, "float32")
    inter = ops.sum(y_true * y_pred, axis=(1, 2, 3))
    total = ops.sum(y_true, axis=(1, 2, 3)) + ops.sum(y_pred, axis=(1, 2, 3))
    return (2.0 * inter + smooth) / (total + smooth)


def dice_coefficient(y_true, y_pred, smooth: float = 1.0):
    """Soft Dice per image, averaged over the batch."""
    import keras  # pylint: disable=g-import-not-at-top
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
    import keras  # pylint: disable=g-import-not-at-top
    y_pred = keras.ops.cast(y_pred, "float32")
    bce = keras.ops.mean(keras.losses.binary_crossentropy(y_true, y_pred), axis=(1, 2))
    return bce + 1.0 - per_image_dice(y_true, y_pred)


def boundary_bce(y_true, y_pred, band_px: int = 5):
    """Binary cross-entropy over the band around the reference outline, per image: (batch,).

    The band is the mask's dilation minus its erosion (a `band_px` square, about
    `band_px // 2` pixels each side), so errors where the HC is measured weigh as much as
    the whole image's; the plain BCE is dominated by the easy interior and background.
    """
    import keras  # pylint: disable=g-import-not-at-top
    ops = keras.ops
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    dilated = ops.max_pool(y_true, band_px, strides=1, padding="same")
    eroded = 1.0 - ops.max_pool(1.0 - y_true, band_px, strides=1, padding="same")
    band = (dilated - eroded)[..., 0]
    bce = keras.losses.binary_crossentropy(y_true, y_pred)
    return ops.sum(band * bce, axis=(1, 2)) / (ops.sum(band, axis=(1, 2)) + 1e-6)


def bce_dice_boundary_loss(boundary_weight: float):
    """`bce_dice_loss` + boundary_weight x `boundary_bce` (issue 16, lever 5); weight 0 is
    `bce_dice_loss` itself."""
    if boundary_weight == 0:
        return bce_dice_loss

    def loss(y_true, y_pred):
        return bce_dice_loss(y_true, y_pred) + boundary_weight * boundary_bce(y_true, y_pred)

    loss.__name__ = f"bce_dice_boundary{boundary_weight:g}_loss"
    return loss


def float32_config(config):
    """A model config with every layer's dtype policy set to float32.

    Mixed precision is for training on a GPU; the saved model is for inference
    anywhere (float16 kernels are missing on CPU) and for TFLite export. Master
    weights are float32 under any policy, so they carry over unchanged.
    """
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy" and isinstance(config.get("config"), dict):
            return {**config, "config": {**config["config"], "name": "float32"}}
        return {k: ("float32" if k == "dtype" and isinstance(v, str) and v.startswith("mixed_")
                    else float32_config(v)) for k, v in config.items()}
    if isinstance(config, list):
        return [float32_config(v) for v in config]
    return config


def unsynchronized_config(config):
    """A model config with every BatchNormalization's `synchronized` off: synchronized BN
    is for distributed training, and Keras refuses it on any backend but TensorFlow."""
    if isinstance(config, dict):
        return {k: (False if k == "synchronized" and v is True else unsynchronized_config(v))
                for k, v in config.items()}
    if isinstance(config, list):
        return [unsynchronized_config(v) for v in config]
    return config


def save_model_atomic(model, path: str) -> None:
    """Saves weights+architecture in float32 with plain BN, without optimizer state, via a
    temp file + rename."""
    import keras  # pylint: disable=g-import-not-at-top
    # Same graph, no compile state, float32 whatever the training policy was
    # (layers whose config names no policy take the global one).
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        clean = keras.Model.from_config(
            unsynchronized_config(float32_config(model.get_config())))
    finally:
        keras.mixed_precision.set_global_policy(policy)
    clean.set_weights(model.get_weights())
    with io_utils.atomic_path(path) as tmp:
        clean.save(tmp)


def plot_curves(log_csv: str, out_png: str) -> None:
    """Loss and Dice per epoch (train and validation), written atomically."""
    import csv  # pylint: disable=g-import-not-at-top
    import matplotlib  # pylint: disable=g-import-not-at-top
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

    with open(log_csv, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    epochs = [int(r["epoch"]) + 1 for r in rows]

    def series(key):
        return [float(r[key]) if r.get(key) not in (None, "", "nan") else np.nan for r in rows]

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    panels = (("BCE + Dice loss", [("train", "loss")]),
              ("Dice", [("train (soft)", "dice_coefficient"), ("validation (ellipse)", "val_dice_ellipse")]),
              ("validation ADF (mm)", [("validation", "val_adf_mm")]))
    for ax, (title, lines) in zip(axes, panels):
        for label, key in lines:
            # Only epochs that have the value (a run may validate every few epochs).
            points = [(e, v) for e, v in zip(epochs, series(key)) if np.isfinite(v)]
            if points:
                ax.plot(*zip(*points), "-o", ms=3, label=label)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    with io_utils.atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def _callbacks(config: TrainConfig, val_samples: Sequence[inference.Sample],
               is_chief: bool = True):
    """The run's callbacks; a multi-worker run's other workers only save a backup, to a
    temporary folder, because saving reads synchronized variables, a collective op every
    worker must join (the chief alone validates and writes the run directory)."""
    import tempfile  # pylint: disable=g-import-not-at-top

    import keras  # pylint: disable=g-import-not-at-top
    from hc_tf.train import backup as backup_lib  # pylint: disable=g-import-not-at-top

    run = config.run_dir
    best_json = os.path.join(run, "best.json")

    class ValidationAdf(keras.callbacks.Callback):
        """Adds val_adf_mm / val_dice_ellipse / val_not_found to the epoch logs,
        and keeps the best model by validation ADF."""

        def on_epoch_end(self, epoch, logs=None):
            logs = logs if logs is not None else {}
            t = time.time()
            runner = keras_runner.KerasRunner(self.model, flip_tta=config.flip_tta_validation)
            rows = [evaluate_lib.score(p) for p in inference.predict_samples(runner, val_samples)]
            summary = evaluate_lib.summarize(rows)
            adf = summary["adf_mm_mean"]  # the challenge's: a not-found image scores ADF = HC
            logs["val_adf_mm"] = adf
            logs["val_dice_ellipse"] = summary["dice_mean"]
            logs["val_not_found"] = summary["not_found"]
            best = _read_json(best_json).get("val_adf_mm", math.inf)
            improved = adf < best
            if improved:
                save_model_atomic(self.model, os.path.join(run, "best.keras"))
                io_utils.atomic_write_text(best_json, json.dumps(
                    {"epoch": epoch + 1, "val_adf_mm": adf, "summary": summary}, indent=2) + "\n")
            print(f"\n  validation: ADF {adf:.2f} mm (median {summary['adf_mm_median']:.2f}; "
                  f"over found images {_fmt_mm(summary['adf_found_mm_mean'])}), "
                  f"ellipse Dice {summary['dice_mean'] or 0:.4f}, not found "
                  f"{summary['not_found']}/{summary['n']}"
                  f"{' -> best.keras' if improved else ''} ({time.time() - t:.0f} s)", flush=True)

    class CurvePlot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            path = os.path.join(run, "log.csv")
            if os.path.exists(path):
                plot_curves(path, os.path.join(run, "training_curve.png"))

    backup_dir = os.path.join(run, "backup")
    if not is_chief:
        return [backup_lib.AtomicBackupAndRestore(
            backup_dir, delete_checkpoint=False, write_dir=tempfile.mkdtemp(prefix="hc_tf_worker_"))]
    # Order matters: the ADF must be in the logs before the CSV logger writes them.
    # BackupAndRestore last: an epoch is marked done only after its best model is saved.
    return [
        ValidationAdf(),
        keras.callbacks.CSVLogger(os.path.join(run, "log.csv"), append=True),
        keras.callbacks.TensorBoard(os.path.join(run, "tb"), write_graph=False),
        CurvePlot(),
        # Kept after the last epoch: rerunning a finished run is then a no-op (or, with
        # more --epochs, continues) instead of silently starting again from scratch.
        # Atomic: an interruption mid-save leaves the previous epoch's state loadable.
        backup_lib.AtomicBackupAndRestore(backup_dir, delete_checkpoint=False),
    ]


def _fmt_mm(value: Optional[float]) -> str:
    """"1.94 mm", or "n/a" when there is no value (e.g. no image found)."""
    return "n/a" if value is None else f"{value:.2f} mm"


def load_initial_weights(model, path: str) -> None:
    """Starts `model` from the weights of the saved model at `path` (same backbone and
    decoder; the input size may differ, convolution weights don't depend on it).

    Raises:
      ValueError: naming the file, when it can't be loaded or its weights don't fit.
    """
    source = model_lib.load_model(path)
    mine, theirs = model.get_weights(), source.get_weights()
    mismatch = len(mine) != len(theirs) or any(a.shape != b.shape for a, b in zip(mine, theirs))
    if mismatch:
        raise ValueError(f"{path}: its weights don't fit this model ({source.name}, "
                         f"{source.count_params():,} parameters, vs {model.name}, "
                         f"{model.count_params():,}); use the same backbone and decoder")
    model.set_weights(theirs)


def _read_json(path: str) -> Dict:
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _learning_rate(config: TrainConfig, steps_per_epoch: int):
    import keras  # pylint: disable=g-import-not-at-top
    if config.lr_schedule == "constant":
        return config.learning_rate
    if config.lr_schedule != "cosine":
        raise ValueError(f"lr schedule must be 'cosine' or 'constant', got {config.lr_schedule!r}")
    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(steps_per_epoch, total // 10)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate * 0.1 if warmup else config.learning_rate,
        decay_steps=max(1, total - warmup), alpha=0.01,
        warmup_target=config.learning_rate if warmup else None, warmup_steps=warmup)


def steps_per_epoch(config: TrainConfig, n_train: int, global_batch: int, distributed: bool) -> int:
    """Optimizer steps per epoch.

    One device keeps a last partial batch; distributed, only full global batches run (the
    pipeline repeats), so every replica gets an equal, non-empty share of every step.

    Raises:
      ValueError: when distributed and the train split is smaller than one global batch.
    """
    if config.steps_per_epoch:
        return config.steps_per_epoch
    if not distributed:
        return math.ceil(n_train / global_batch)
    if n_train < global_batch:
        raise ValueError(f"{n_train} training images are fewer than one global batch of "
                         f"{global_batch}; lower --batch-size (it is per replica)")
    return n_train // global_batch


def _build_compiled_model(config: TrainConfig, steps: int, synchronized_bn: bool):
    """The network, initial weights and optimizer (call under the strategy's scope)."""
    import keras  # pylint: disable=g-import-not-at-top
    from hc_tf.train import distribute as distribute_lib  # pylint: disable=g-import-not-at-top

    precision = model_lib.resolve_precision(config.precision)
    model = model_lib.build_unet(config.input_hw, config.backbone, precision,
                                 config.encoder_weights, tuple(config.decoder_filters),
                                 config.bn_momentum)
    print(model_lib.summary_line(model))
    if synchronized_bn:
        n = distribute_lib.synchronize_batch_norm(model)
        print(f"{n} BatchNormalization layers synchronized across replicas")
    if config.init_from:
        # On resume BackupAndRestore then overwrites these with the interrupted state.
        load_initial_weights(model, config.init_from)
        print(f"initial weights: {config.init_from}")
    model.compile(optimizer=keras.optimizers.Adam(_learning_rate(config, steps)),
                  loss=bce_dice_loss, metrics=[dice_coefficient])
    return model


def train(config: TrainConfig) -> Dict:
    """Trains (or resumes) a run; returns the best validation figures (a multi-worker
    run's other workers return {} : the chief holds them).

    Raises:
      RunDirError: the run dir belongs to another run.
      backup.BackupError: the run's backup can't be loaded (the message says what to do).
      distribute.DistributeError: the distribution mode can't run here (the message says why).
      FileNotFoundError: no prepared HC18 in `config.data_dir`.
      ValueError: bad input size, backbone, precision or schedule.
    """
    import keras  # pylint: disable=g-import-not-at-top
    from hc_tf.train import data as data_lib  # pylint: disable=g-import-not-at-top
    from hc_tf.train import distribute as distribute_lib  # pylint: disable=g-import-not-at-top

    model_lib.check_input_size(config.input_hw)
    check_start_files(config)
    plan = distribute_lib.make_plan(config.distribute)  # before any other TF op
    train_examples = data_lib.load_split(config.data_dir, "train", config.validation_fraction)
    val_samples = (data_lib.load_samples(config.data_dir, "validation", config.validation_fraction)
                   if plan.is_chief else [])
    n_train = int(train_examples.cardinality().numpy())
    global_batch = config.batch_size * plan.replicas
    steps = steps_per_epoch(config, n_train, global_batch, plan.distributed)

    keras.utils.set_random_seed(config.seed)
    with plan.strategy.scope():
        model = _build_compiled_model(config, steps, synchronized_bn=plan.replicas > 1)
    # Written only now that everything (start weights included) loaded: a failed start leaves
    # no config.json to refuse the corrected rerun. Only the chief writes the run directory;
    # the others find its backup there.
    resuming = prepare_run_dir(config) if plan.is_chief else False
    if plan.distributed:
        print(f"distribute {plan.mode}: {plan.replicas} replicas, worker {plan.worker_index} of "
              f"{plan.num_workers}{' (chief)' if plan.is_chief else ''}; global batch "
              f"{global_batch} = {config.batch_size} per replica x {plan.replicas}")
    print(f"data: {n_train} train images, {len(val_samples)} validation images; "
          f"{steps} steps/epoch; {'resuming' if resuming else 'new run'} in {config.run_dir}")

    pipeline = data_lib.training_pipeline(train_examples, config.input_hw, global_batch,
                                          config.seed, config.augmentation,
                                          drop_remainder=plan.distributed)
    if config.steps_per_epoch or plan.distributed:
        pipeline = pipeline.repeat()
    if plan.distributed:
        pipeline = distribute_lib.shard_by_data(pipeline)
    t = time.time()
    model.fit(pipeline, epochs=config.epochs, steps_per_epoch=steps if plan.distributed else
              config.steps_per_epoch, callbacks=_callbacks(config, val_samples, plan.is_chief),
              verbose=2 if os.environ.get("CI") else 1)
    if not plan.is_chief:
        return {}
    best = _read_json(os.path.join(config.run_dir, "best.json"))
    best["train_seconds_this_session"] = round(time.time() - t, 1)
    return best
