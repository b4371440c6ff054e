"""The one CSV and JSON writers of per-image rows and summaries (atomic, like every output)."""

from __future__ import annotations

import csv
import io
import json
from typing import Dict, Sequence

from hc_tf.io import atomic


# A spreadsheet runs a cell that starts so as a formula; a file name or a DICOM file's UID is
# the sender's text (`=HYPERLINK(...)`, `=cmd|...`), so such a text cell gets a leading "'"
# (OWASP's CSV-injection rule). Numbers are written as numbers.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str) -> str:
    """A text cell as written: with a leading "'" when a spreadsheet would run it."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _cell(value: object, digits: int) -> object:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return text_cell(value) if isinstance(value, str) else value


def write_rows_csv(path: str, rows: Sequence[Dict[str, object]], fields: Sequence[str],
                   digits: int = 4) -> None:
    """Writes one row per dict (None as empty, floats to `digits`, text as `text_cell`),
    atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: _cell(r.get(k), digits) for k in fields})
    atomic.atomic_write_text(path, buf.getvalue())


def write_json(path: str, doc: Dict[str, object]) -> None:
    """Writes `doc` as indented JSON, atomically."""
    atomic.atomic_write_text(path, json.dumps(doc, indent=2) + "\n")
