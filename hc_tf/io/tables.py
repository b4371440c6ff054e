"""The one CSV and JSON writers of per-image rows and summaries (atomic, like every output)."""

from __future__ import annotations

import csv
import io
import json
from typing import Dict, Sequence

from hc_tf.io import atomic


def write_rows_csv(path: str, rows: Sequence[Dict[str, object]], fields: Sequence[str],
                   digits: int = 4) -> None:
    """Writes one row per dict (None as empty, floats to `digits`), atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r.get(k) is None else
                             (f"{r[k]:.{digits}f}" if isinstance(r[k], float) else r[k]))
                         for k in fields})
    atomic.atomic_write_text(path, buf.getvalue())


def write_json(path: str, doc: Dict[str, object]) -> None:
    """Writes `doc` as indented JSON, atomically."""
    atomic.atomic_write_text(path, json.dumps(doc, indent=2) + "\n")
