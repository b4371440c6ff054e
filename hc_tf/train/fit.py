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
Cross-validation (`--folds N --fold K`): trains on the other folds' images of both splits
for the fixed epoch count and keeps the last epoch; fold K's images are measured, never chosen on.
All data (`--train-on-all`, the release's last step once cross-validation fixed the recipe):
trains on train + validation for the fixed epoch count and keeps the last epoch; the validation
images are still measured each epoch, marked as trained on.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from typing import Dict, Optional, Sequence, Tuple


from hc_tf import defaults
from hc_tf.surfaces import evaluate as evaluate_lib
from hc_tf.surfaces import evaluate_summary
from hc_tf import inference
from hc_tf.modeling import keras_runner
from hc_tf.modeling import model as model_lib
from hc_tf.train import losses
from hc_tf.train import run_dir as run_dir_lib
from hc_tf.train import sampling
from hc_tf.train import schedule
from hc_tf.train import validation



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
    # Cross-validation: folds > 0 trains on every fold but `fold` (of both splits) and keeps
    # the LAST epoch; the fold's own images are measured each epoch, never used to choose.
    folds: int = 0
    fold: int = 0
    # Accuracy levers (large heads): heads over defaults.LARGE_HEAD_MM shown this many times an
    # epoch (1: off); the weight of the outline-band BCE in the loss (0: off); the weight of
    # the relative HC error of the masks' moment ellipses in the loss (0: off).
    large_head_repeat: int = 1
    boundary_weight: float = 0.0
    hc_weight: float = 0.0
    # Train on train + validation for the fixed epochs and keep the last (no held-out images).
    train_on_all: bool = False
    # Measure the validation images every this many epochs, and at the last.
    val_every: int = 1

    @property
    def fixed_schedule(self) -> bool:
        """The last epoch is the model (a fold, or all data): nothing held out chooses it."""
        return bool(self.folds) or self.train_on_all

    def to_json(self) -> Dict:
        d = dataclasses.asdict(self)
        d["input_hw"] = list(self.input_hw)
        d["decoder_filters"] = list(self.decoder_filters)
        return d


def check_folds(config: TrainConfig) -> None:
    """Raises ValueError for a fold outside 0..folds-1 or fewer than 2 folds."""
    if config.folds and (config.folds < 2 or not 0 <= config.fold < config.folds):
        raise ValueError(f"--folds {config.folds} --fold {config.fold}: need at least 2 folds "
                         "and 0 <= fold < folds")
    if not config.folds and config.fold:
        raise ValueError(f"--fold {config.fold} needs --folds (e.g. --folds 5)")
    if config.folds and config.train_on_all:
        raise ValueError("--train-on-all trains on every fold: not with --folds")


def check_start_files(config: TrainConfig) -> None:
    """Refuses missing start files (--encoder-weights, --init-from) before any work.

    Raises:
      ValueError: naming the option and the file.
    """
    for option, path in (("--encoder-weights", config.encoder_weights),
                         ("--init-from", config.init_from)):
        if path and not os.path.isfile(path):
            raise ValueError(f"{option} {path}: no such file")


def _callbacks(config: TrainConfig, val_samples: Sequence[inference.Sample],
               is_chief: bool = True):
    """The run's callbacks; a multi-worker run's other workers only save a backup, to a
    temporary folder, because saving reads synchronized variables, a collective op every
    worker must join (the chief alone validates and writes the run directory)."""
    import tempfile

    import keras
    from hc_tf.train import backup as backup_lib

    run = config.run_dir

    class ValidationAdf(keras.callbacks.Callback):
        """Adds val_adf_mm / val_dice_ellipse / val_not_found to the epoch logs,
        and keeps the best model by validation ADF."""

        def on_epoch_end(self, epoch, logs=None):
            logs = logs if logs is not None else {}
            if (epoch + 1) % config.val_every and epoch + 1 != config.epochs:
                # Not measured this epoch: NaN keeps log.csv's columns (the plot skips it).
                logs.update(val_adf_mm=math.nan, val_dice_ellipse=math.nan, val_not_found=math.nan)
                return
            t = time.time()
            runner = keras_runner.KerasRunner(self.model, flip_tta=config.flip_tta_validation)
            rows = [evaluate_lib.score(p) for p in inference.predict_samples(runner, val_samples)]
            summary = evaluate_summary.summarize(rows)
            figures = validation.adf_figures(
                [r["predicted_hc_mm"] if r["found"] else None for r in rows],
                [r["reference_hc_mm"] for r in rows])
            adf = figures["val_adf_mm"]
            logs["val_adf_mm"] = adf
            logs["val_dice_ellipse"] = summary["dice_mean"]
            logs["val_not_found"] = figures["val_not_found"]
            # A fold keeps its last epoch: its test part must not choose the checkpoint; an
            # all-data run too: its validation images are trained on.
            improved = validation.keeps(adf, run_dir_lib.best_adf(run),
                                        last_epoch=epoch + 1 == config.epochs,
                                        trained_on_validation=config.fixed_schedule)
            if improved:
                doc = {"epoch": epoch + 1, "val_adf_mm": adf, "summary": summary}
                if config.fixed_schedule:
                    doc["final"] = epoch + 1 == config.epochs
                if config.folds:
                    doc.update(folds=config.folds, fold=config.fold, note=(
                        "last epoch of a fixed schedule; the figures are on this fold's "
                        "held-out images (out of fold), never used to choose"))
                if config.train_on_all:
                    doc.update(train_on_all=True, note=(
                        "last epoch of a fixed schedule on train + validation: the "
                        "validation figures are on trained-on images, not held out"))
                run_dir_lib.keep_model(self.model, run, doc)
            print(f"\n  validation: ADF {adf:.2f} mm (median {summary['adf_mm_median']:.2f}; "
                  f"over found images {_fmt_mm(summary['adf_found_mm_mean'])}), "
                  f"ellipse Dice {summary['dice_mean'] or 0:.4f}, not found "
                  f"{summary['not_found']}/{summary['n']}"
                  f"{' -> best.keras' if improved else ''} ({time.time() - t:.0f} s)", flush=True)

    class CurvePlot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            path = os.path.join(run, "log.csv")
            if os.path.exists(path):
                run_dir_lib.plot_curves(path, os.path.join(run, "training_curve.png"))

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


def _learning_rate(config: TrainConfig, steps_per_epoch: int):
    if config.lr_schedule == "constant":
        return config.learning_rate
    if config.lr_schedule != "cosine":
        raise ValueError(f"lr schedule must be 'cosine' or 'constant', got {config.lr_schedule!r}")
    return schedule.keras_schedule(config.learning_rate, steps_per_epoch, config.epochs)


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


def _train_and_validation(config: TrainConfig, data_lib, is_chief: bool):
    """Training examples and the measured samples: the train / validation splits, train +
    validation / validation (`config.train_on_all`), or a fold's training part / its held-out
    test part (`config.folds`)."""
    vf = config.validation_fraction
    if config.train_on_all:
        both = (data_lib.load_split(config.data_dir, "train", vf)
                .concatenate(data_lib.load_split(config.data_dir, "validation", vf)))
        n = int(both.cardinality().numpy())
        print(f"all data: train + validation ({n} images), the last of {config.epochs} epochs is "
              "kept; the validation images are measured each epoch, trained on (not held out)")
        return both, (data_lib.load_samples(config.data_dir, "validation", vf) if is_chief else [])
    if not config.folds:
        return (data_lib.load_split(config.data_dir, "train", vf),
                data_lib.load_samples(config.data_dir, "validation", vf) if is_chief else [])
    train_examples = data_lib.load_fold(config.data_dir, config.folds, config.fold, "train", vf)
    test = (data_lib.load_samples(config.data_dir, "", vf, examples=data_lib.load_fold(
        config.data_dir, config.folds, config.fold, "test", vf)) if is_chief else [])
    print(f"fold {config.fold} of {config.folds}: the last of {config.epochs} epochs is kept; "
          f"the fold's {len(test)} held-out images are measured, never used to choose")
    return train_examples, test


def _build_compiled_model(config: TrainConfig, steps: int, synchronized_bn: bool):
    """The network, initial weights and optimizer (call under the strategy's scope)."""
    import keras
    from hc_tf.train import distribute as distribute_lib

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
                  loss=losses.training_loss(config.boundary_weight, config.hc_weight),
                  metrics=[losses.dice_coefficient])
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
    import keras
    from hc_tf.train import data as data_lib
    from hc_tf.train import distribute as distribute_lib

    model_lib.check_input_size(config.input_hw)
    check_folds(config)
    sampling.check_repeat(config.large_head_repeat)
    check_start_files(config)
    plan = distribute_lib.make_plan(config.distribute)  # before any other TF op
    train_examples, val_samples = _train_and_validation(config, data_lib, plan.is_chief)
    n_images = int(train_examples.cardinality().numpy())
    # The held-out part (val_samples) is never repeated: only the training examples.
    train_examples = data_lib.repeat_large_heads(train_examples, config.large_head_repeat)
    n_train = int(train_examples.cardinality().numpy())
    if config.large_head_repeat > 1:
        print(sampling.describe(n_images, n_train, config.large_head_repeat))
    global_batch = config.batch_size * plan.replicas
    steps = steps_per_epoch(config, n_train, global_batch, plan.distributed)

    keras.utils.set_random_seed(config.seed)
    with plan.strategy.scope():
        model = _build_compiled_model(config, steps, synchronized_bn=plan.replicas > 1)
    # Written only now that everything (start weights included) loaded: a failed start leaves
    # no config.json to refuse the corrected rerun. Only the chief writes the run directory;
    # the others find its backup there.
    resuming = run_dir_lib.prepare_run_dir(config) if plan.is_chief else False
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
              # The pipeline shuffles (tf.data); Keras warns that its own shuffle is ignored.
              shuffle=False,
              # A live progress bar for a terminal; one line per epoch in logs and pipes.
              verbose=1 if sys.stdout.isatty() else 2)
    if not plan.is_chief:
        return {}
    best = run_dir_lib.read_json(os.path.join(config.run_dir, "best.json"))
    best["train_seconds_this_session"] = round(time.time() - t, 1)
    return best
