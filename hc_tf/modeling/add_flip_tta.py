"""Writes a copy of a trained hc-tf model with flip test-time augmentation inside it.

The release step between a run's `best.keras` and `export/hc_effunet.keras`: the copy runs
the network on the image and its left-right mirror as one batch of two and averages the
logits (`hc_tf.modeling.model.with_flip_tta`), so every consumer of the file (predict, evaluate,
Beam, the int8 TFLite export and the apps) gets it with no flag. Same weights, same
input and output; twice the compute.

    python -m hc_tf.modeling.add_flip_tta RUN/best.keras export/hc_effunet.keras
"""

from __future__ import annotations

import argparse
import sys

from hc_tf.modeling import model as model_lib


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a trained .keras model (single pass)")
    parser.add_argument("out", help="the .keras file to write (atomically)")
    args = parser.parse_args(argv)
    try:
        net = model_lib.load_model(args.model)  # its errors name the file
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    try:
        tta = model_lib.with_flip_tta(net)
    except ValueError as err:
        print(f"error: {args.model}: {err}", file=sys.stderr)
        return 1
    model_lib.save_model(tta, args.out)
    print(f"{args.out}: {model_lib.summary_line(tta)}, flip TTA inside")
    return 0


if __name__ == "__main__":
    sys.exit(main())
