"""A training run's directory, written the same way by both trainers.

  config.json          the run's settings (a different run's config is refused)
  best.keras           the kept model (best validation ADF, or the last epoch when the
                       validation images were trained on), float32, no optimizer state
  best.json            its epoch and validation figures (absent after a kill while a new
                       best.keras was being saved: never naming another epoch's model)
  log.csv              one row per epoch
  training_curve.png   loss, Dice and validation ADF per epoch
Every file is written atomically: an interrupted run leaves the previous version.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from typing import Dict, Iterable, Mapping

import numpy as np

from hc_tf.io import atomic as io_utils

# Keys that may differ when a run is resumed (more epochs, new data location, how often it
# measures the validation images).
_RESUMABLE_KEYS = ("epochs", "data_dir", "steps_per_epoch", "val_every")
# Keys added after runs were made: a config.json without one holds the default.
_ADDED_KEY_DEFAULTS = {"distribute": "none", "folds": 0, "fold": 0,
                       "large_head_repeat": 1, "boundary_weight": 0.0, "hc_weight": 0.0,
                       "train_on_all": False, "val_every": 1}


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


def prepare_run_dir(config) -> bool:
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
    import keras
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
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
        if ax.get_legend_handles_labels()[0]:  # an epoch not validated yet has no ADF line
            ax.legend()
    fig.tight_layout()
    with io_utils.atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def read_json(path: str) -> Dict:
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_config(run_dir: str, config: Mapping) -> None:
    """The run's settings as config.json."""
    io_utils.atomic_write_text(os.path.join(run_dir, "config.json"),
                               json.dumps(dict(config), indent=2) + "\n")


def best_adf(run_dir: str) -> float:
    """The validation ADF of the kept model so far (inf before the first, and when a kill
    mid-save left best.keras unlabelled: the next validated epoch is kept)."""
    return read_json(os.path.join(run_dir, "best.json")).get("val_adf_mm", math.inf)


def keep_model(model, run_dir: str, doc: Mapping) -> None:
    """Saves `model` as the run's best.keras and `doc` (epoch, figures) as best.json.

    A kill at any point leaves best.json describing best.keras, or no best.json (the model
    unlabelled), never best.json naming the previous epoch beside the new model: the old
    best.json goes first, each file is written under a temporary name and renamed, and the
    new best.json only once best.keras is in place (sweep.sh's SIGKILL can come mid-save)."""
    text = json.dumps(dict(doc), indent=2, default=float) + "\n"
    label = os.path.join(run_dir, "best.json")
    if os.path.exists(label):
        os.remove(label)
    save_model_atomic(model, os.path.join(run_dir, "best.keras"))
    io_utils.atomic_write_text(label, text)


def write_log(path: str, rows: Iterable[Mapping]) -> None:
    """Rows of per-epoch figures as one CSV (the union of their keys, in first-seen order)."""
    rows = list(rows)
    keys = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\r\n")  # csv's default
    writer.writeheader()
    writer.writerows(rows)
    io_utils.atomic_write_text(path, buf.getvalue())
