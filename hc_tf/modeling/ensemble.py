"""Writes one model that averages several trained hc-tf models: a server-side full tier from,
e.g., the five cross-validation folds' networks.

The members run on the same image and their logits are averaged under one sigmoid head, so
the file is an ordinary hc-tf model: predict, evaluate, Beam and the DICOM node take it with
`--model` and measure through the same module. Flip TTA is taken out of each member and, by
default, put around the whole (one mirrored batch for all members). N members cost N times
one network. An ensemble of the folds has no out-of-fold figure of its own (every image was
trained on by all but one member): it is judged on labelled images none of them saw. (Two runs
of each fold averaged, which have one, gained 0.03 mm: docs/model_experiments.md, "Test-time levers".)

    python -m hc_tf.modeling.ensemble --out full_tier.keras CV/fold0/best.keras ... CV/fold4/best.keras
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

import keras

from hc_tf.modeling import model as model_lib

ENSEMBLE_MEAN = "ensemble_mean_logits"


def average_logits(models: Sequence[keras.Model], name: str = "hc_unet_ensemble") -> keras.Model:
    """One model: every member's logits (the input of its `HEAD_LAYER`) averaged, then the sigmoid.

    Args:
      models: two or more gray -> probability models of one input size (`build_unet`'s,
        with or without flip TTA inside: it is taken out).

    Returns:
      The ensemble (members' weights shared, not copied), single pass.

    Raises:
      ValueError: for fewer than two members, different input sizes, or a member without
        the sigmoid head.
    """
    if len(models) < 2:
        raise ValueError(f"an ensemble needs at least two models, got {len(models)}")
    members = [model_lib.without_flip_tta(m) for m in models]
    shapes = {tuple(m.input.shape[1:]) for m in members}
    if len(shapes) != 1:
        raise ValueError(f"the models take different input sizes: {sorted(shapes)}")
    gray = keras.Input(shapes.pop(), name="gray")
    logits = []
    for i, member in enumerate(members):
        if model_lib.HEAD_LAYER not in [layer.name for layer in member.layers]:
            raise ValueError(f"model {i + 1} ({member.name}) has no {model_lib.HEAD_LAYER!r} sigmoid head")
        body = keras.Model(member.inputs, member.get_layer(model_lib.HEAD_LAYER).input,
                           name=f"member{i}")
        logits.append(body(gray))
    z = keras.layers.Average(name=ENSEMBLE_MEAN)(logits)
    return keras.Model(gray, model_lib.sigmoid_head()(z), name=name)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="trained .keras models (two or more)")
    parser.add_argument("--out", required=True, help="the .keras file to write (atomically)")
    parser.add_argument("--no-flip-tta", action="store_true", help="leave the ensemble single pass")
    args = parser.parse_args(argv)
    try:
        nets = [model_lib.load_model(path) for path in args.models]  # its errors name the file
        ensemble = average_logits(nets)
        if not args.no_flip_tta:
            ensemble = model_lib.with_flip_tta(ensemble)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    model_lib.save_model(ensemble, args.out)
    tta = "" if args.no_flip_tta else ", flip TTA around it"
    print(f"{args.out}: {len(nets)} members averaged in logits{tta}; {model_lib.summary_line(ensemble)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
