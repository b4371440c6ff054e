"""Which image files the released model trained on, by their bytes: the sha256 (first 16 hex
digits) of each of the 896 labelled HC18 training images it saw, so `hc-tf evaluate` can say
its figures on an HC18-layout folder are in-sample (the HC18 release's own files match byte for
byte; a re-encoded or renamed copy of one may not, and is then not counted).

    python -m hc_tf.models.training_images PATH/TO/hc18 > hc_tf/models/hc_effunet_int8.training_images.json

writes the list for a release trained on all of PATH's labelled images.
"""

from __future__ import annotations

import glob
import importlib.resources
import json
import os
import sys
from typing import FrozenSet, Iterable, Optional

from hc_tf import defaults

FILE_NAME = os.path.splitext(defaults.EDGE_MODEL_NAME)[0] + ".training_images.json"
DIGITS = 16  # 64 bits: no two of a few thousand images collide


def digest(path: str) -> str:
    """The first DIGITS hex digits of the sha256 of a file's bytes."""
    from hc_tf import edge
    return edge.sha256_file(path)[:DIGITS]


def released_digests() -> Optional[FrozenSet[str]]:
    """The digests of the released model's training images, None when the shipped list does not
    belong to the shipped model (its tflite_sha256 differs: a release that forgot to update it
    says nothing rather than something wrong)."""
    from hc_tf import models
    path = importlib.resources.files(__package__).joinpath(FILE_NAME)
    with open(str(path), encoding="utf-8") as f:
        doc = json.load(f)
    if doc.get("tflite_sha256") not in models.released_sha256s():
        return None
    return frozenset(doc["images"])


def count_trained_on(paths: Iterable[str]) -> int:
    """How many of `paths` are, byte for byte, images the released model trained on."""
    seen = released_digests()
    return 0 if seen is None else sum(digest(p) in seen for p in paths)


def main(argv: Optional[list] = None) -> int:
    from hc_tf import models
    folder = (argv or sys.argv[1:])[0]
    names = sorted(glob.glob(os.path.join(glob.escape(folder), "training_set", "*HC.png")))
    from hc_tf import edge
    with open(edge.metadata_path(models.released_edge_model()), encoding="utf-8") as f:
        sha = json.load(f)["tflite_sha256"]
    json.dump({"tflite_sha256": sha,
               "what": f"sha256 of each training image file's bytes, first {DIGITS} hex digits "
                       "(hc_tf/models/training_images.py)",
               "images": sorted({digest(p) for p in names})}, sys.stdout, indent=0)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
