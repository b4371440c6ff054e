"""The released int8 model and its metadata, shipped inside the package.

`hc-tf predict`, the demo and `--beam` measure with it when no `--model` is given, so a
wheel installed anywhere measures out of the box (its sha256 is checked against the
metadata beside it, as for any `.tflite`).
"""

from __future__ import annotations

import importlib.resources
from typing import Optional

from hc_tf import defaults


def released_edge_model() -> str:
    """The path of the released int8 `.tflite` (its metadata JSON lies beside it).

    Installed from a wheel or a checkout, package data are plain files on disk.
    """
    return str(importlib.resources.files(__name__).joinpath(defaults.EDGE_MODEL_NAME))


def released_sha256s() -> frozenset:
    """The sha256 of the released int8 model and of the `.keras` it was exported from (its
    metadata records both): the models the package's interval table was calibrated on."""
    import json

    from hc_tf import edge
    meta = edge.metadata_path(released_edge_model())
    with open(meta, encoding="utf-8") as f:
        doc = json.load(f)
    return frozenset(doc[k] for k in ("tflite_sha256", "source_model_sha256") if doc.get(k))


def is_released(model_path: str, sha256: Optional[str] = None) -> bool:
    """Whether `model_path` is the released int8 model or the `.keras` it came from, by sha256
    (`sha256`: the file's, when the caller has it already)."""
    from hc_tf import edge
    return (sha256 or edge.sha256_file(model_path)) in released_sha256s()
