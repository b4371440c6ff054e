"""Carries trained weights off the GPU machine at half the size, and rebuilds the model here.

A device run returns at most 64 MiB; a float32 `.keras` of the B0 UNet is 40 MiB.
`pack` (on the device, Keras on JAX) writes the weights as float16 (float32 for any array
float16 cannot hold) with the run's config, training log and best epoch (one file per run: a
call returns at most 8 files); `rebuild` (here, with TensorFlow) builds the same network with
`hc_tf.modeling.model.build_unet`, loads them, and writes the log, best epoch and training curve
beside the model. The rebuilt model is what gets evaluated
and exported: its figures are measured here, on the weights as carried.

    python -m hc_tf.train.jax_backend.half_weights pack RUN_DIR OUT.npz          # device
    python -m hc_tf.train.jax_backend.half_weights rebuild OUT.npz MODEL.keras   # here
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np


RUN_FILES = ("log.csv", "best.json")  # carried with the weights, written back by `rebuild`


def pack(run_dir: str, out_path: str) -> None:
    """best.keras of a `train_jax.py` run -> float16 weights + config (one .npz)."""
    import keras
    if keras.backend.backend() != "tensorflow":
        from hc_tf.train.jax_backend import train_jax  # noqa: F401  (the Keras 2 names segmentation-models needs on JAX)
    from hc_tf.modeling import model as model_lib
    model = model_lib.load_model(os.path.join(run_dir, "best.keras"))
    with open(os.path.join(run_dir, "config.json")) as f:
        config = json.load(f)
    arrays = {}
    for i, w in enumerate(model.get_weights()):
        half = w.astype(np.float16)
        arrays[f"w{i:04d}"] = half if np.all(np.isfinite(half)) else w
    config["weight_names"] = [v.path for v in model.weights]
    for name in RUN_FILES:
        path = os.path.join(run_dir, name)
        if os.path.isfile(path):
            with open(path) as f:
                arrays[f"file:{name}"] = np.array(f.read())
    np.savez(out_path, config=json.dumps(config), **arrays)


def rebuild(npz_path: str, out_path: str) -> None:
    """float16 weights + config -> a float32 `.keras` built by `hc_tf.modeling.model.build_unet`."""
    from hc_tf.io import atomic as io_utils
    from hc_tf.modeling import model as model_lib
    from hc_tf.train import run_dir as run_dir_lib
    with np.load(npz_path) as f:
        config = json.loads(str(f["config"]))
        weights = [f[k].astype(np.float32) for k in sorted(f.files) if k.startswith("w")]
        files = {k[len("file:"):]: str(f[k]) for k in f.files if k.startswith("file:")}
    decoder = tuple(int(v) for v in config["decoder_filters"].split(","))
    model = model_lib.build_unet(tuple(config["input_hw"]), config["backbone"], "float32",
                                 decoder_filters=decoder)
    names = [v.path for v in model.weights]
    if names != config["weight_names"]:
        raise ValueError(f"{npz_path}: weights do not match {config['backbone']} "
                         f"decoder {decoder} ({len(names)} here, {len(weights)} carried)")
    model.set_weights(weights)
    out_dir = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(out_dir, exist_ok=True)
    run_dir_lib.save_model_atomic(model, out_path)
    for name, text in files.items():
        io_utils.atomic_write_text(os.path.join(out_dir, name), text)
    if "log.csv" in files:
        run_dir_lib.plot_curves(os.path.join(out_dir, "log.csv"),
                              os.path.join(out_dir, "training_curve.png"))
    print(f"{out_path}: {model_lib.summary_line(model)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("run_dir")
    p.add_argument("out")
    r = sub.add_parser("rebuild")
    r.add_argument("npz")
    r.add_argument("out")
    args = parser.parse_args()
    if args.cmd == "pack":
        pack(args.run_dir, args.out)
    else:
        rebuild(args.npz, args.out)


if __name__ == "__main__":
    main()
