"""`hc-tf evaluate --reference-csv`: DICOM scans against reference HCs by file name.

Each DICOM frame is measured as `hc-tf predict` measures it (its pixel size from the file,
chosen by the head's region: `dicom_predict`), then scored against the CSV's HC with the
challenge's DF/ADF, GA error and review figures (`evaluate_summary.summarize`); there is no
reference outline, so no Dice or Hausdorff. A file that cannot be measured is one line in
unreadable.csv and the rest are scored.
"""

from __future__ import annotations

import math
import os
from typing import Dict, List, Optional, Sequence, Set, Tuple

from hc_tf.io import tables
from hc_tf.surfaces import evaluate_plots
from hc_tf import inference
from hc_tf.io import hc18_csv
from hc_tf.surfaces import dicom_predict
from hc_tf.surfaces import evaluate as evaluate_lib
from hc_tf.surfaces import evaluate_summary
from hc_tf.console import progress

def read_reference_csv(path: str) -> Dict[str, float]:
    """filename -> reference HC (mm) from a CSV with a header naming `filename` and a column
    starting with "head circumference" or "hc" (HC18's training CSV qualifies). A frame of a
    multi-frame file is named "scan.dcm#N"; a plain "scan.dcm" row serves every frame.

    Raises:
      ValueError: naming the file (and row), for a missing column, a column named twice, an
        HC that is not a plain decimal number (`hc18_csv.PLAIN_NUMBER`), a row with more fields
        than the header, a bad or non-positive HC, a file name listed twice, or a file that is
        not a regular file or over the byte limit.
    """
    from hc_tf.io import images  # OpenCV, Pillow: lazily

    # Bounded as every untrusted input (regular files only, the byte limit).
    rows = hc18_csv.decode_rows(images.read_file_bytes(path), path)
    if not rows:
        raise ValueError(f"{path}: empty CSV")
    hc18_csv.check_unique_columns(path, rows[0])
    header = [h.strip().lower() for h in rows[0]]
    hc_col = next((i for i, h in enumerate(header)
                   if h.startswith("head circumference") or h in ("hc", "hc_mm", "hc (mm)")), None)
    if "filename" not in header or hc_col is None:
        raise ValueError(f"{path}: the header needs a filename and a head circumference column")
    name_col, refs = header.index("filename"), {}
    for number, fields in enumerate(rows[1:], 2):
        if not any(f.strip() for f in fields):
            continue
        name = fields[name_col].strip() if name_col < len(fields) else ""
        hc18_csv.check_field_count(path, number, name, fields, len(header))  # a decimal comma
        cell = fields[hc_col].strip() if hc_col < len(fields) else ""
        hc = hc18_csv.plain_number(cell)  # "0.1_5", "nan": float() reads them, not a person
        if hc is None:
            hc = math.nan
        if not name or not (math.isfinite(hc) and hc > 0):
            raise ValueError(f"{path} row {number}: needs a file name and a positive HC, "
                             f"got {name!r}, {cell!r}")
        if hc > hc18_csv.MAX_REFERENCE_HC_MM:
            raise ValueError(f"{path} row {number} ({name}): reference HC {cell} mm is over "
                             f"{hc18_csv.MAX_REFERENCE_HC_MM:g} mm, no fetal head's (a value in "
                             "another unit?)")
        if name in refs:
            raise ValueError(f"{path} row {number}: {name} is listed twice")
        refs[name] = hc
    return refs


def evaluate_dicom(runner: inference.Runner, inputs: Sequence[str], reference_csv: str,
                   out_dir: str, frame: Optional[int] = None, show_progress: bool = False
                   ) -> Tuple[Dict[str, object], List[Tuple[str, str]]]:
    """Measures every DICOM frame with a reference HC; writes per_image.csv, summary.json,
    bland_altman.png and unreadable.csv into `out_dir`.

    Every CSV row is scored or accounted for: a named file that is missing, not DICOM or
    refused, and a named frame the file lacks, is a line in unreadable.csv; summary.json's
    `reference_csv` says how many rows were scored and names the others.

    Returns:
      (summary, unreadable (path, error) pairs).

    Raises:
      ValueError: for a bad CSV, no DICOM input, or no frame with a reference HC.
    """
    refs = read_reference_csv(reference_csv)
    files = evaluate_paths(inputs)
    if not any(dicom_predict.is_dicom_path(p) for p in files):
        raise ValueError(f"no DICOM file in {', '.join(inputs)}")
    named = {k.split("#")[0] for k in refs}
    paths = [p for p in files if os.path.basename(p) in named]  # the others are not read
    unreadable = missing_files(named, paths, reference_csv, inputs)
    seen: Dict[str, str] = {}  # frame name -> its file, for every frame read
    scored = set()  # the CSV rows with a scored frame

    def frames():
        for path in progress.bar(paths, show_progress, desc="evaluate"):
            try:  # any named file goes to the DICOM reader, which refuses a non-DICOM one by name
                for s in dicom_predict.samples(path, frame, None, False):
                    seen[s.filename] = path
                    if reference_of(refs, s.filename) is not None:
                        yield s
            except (OSError, ValueError) as err:
                unreadable.append((path, str(err) if path in str(err) else f"{path}: {err}"))

    rows = []
    for pred in inference.predict_samples(runner, frames()):
        try:
            pred, _ = dicom_predict.finish(runner, pred)
        except ValueError as err:
            unreadable.append((pred.sample.header.path, str(err)))
            continue
        scored.add(reference_key(refs, pred.sample.filename))
        rows.append(evaluate_lib.hc_row(pred, reference_of(refs, pred.sample.filename)))
    unreadable += missing_frames(refs, seen, reference_csv)
    if not rows:
        raise ValueError(f"no DICOM frame named in {reference_csv} could be measured"
                         + (f" ({len(unreadable)} refused: {unreadable[0][1]})" if unreadable
                            else ""))
    os.makedirs(out_dir, exist_ok=True)
    summary = evaluate_summary.summarize(rows, getattr(runner, "interval_note", ""))
    summary["reference_csv"] = {"path": reference_csv, "rows": len(refs), "rows_scored": len(scored),
                                "not_scored": sorted(set(refs) - scored)}
    tables.write_rows_csv(os.path.join(out_dir, "per_image.csv"), rows, evaluate_lib.PER_IMAGE_FIELDS)
    tables.write_json(os.path.join(out_dir, "summary.json"), summary)
    evaluate_plots.plot_bland_altman(rows, summary["bland_altman"],
                                   os.path.join(out_dir, evaluate_lib.BLAND_ALTMAN_NAME))
    evaluate_lib.write_unreadable(out_dir, unreadable)
    return summary, unreadable


def missing_files(named: Set[str], paths: Sequence[str], reference_csv: str,
                  inputs: Sequence[str]) -> List[Tuple[str, str]]:
    """(name, error) for each file the CSV names that is not among the inputs' files."""
    found = {os.path.basename(p) for p in paths}
    return [(name, f"{name}: named in {reference_csv} but not in {', '.join(inputs)}")
            for name in sorted(named - found)]


def missing_frames(refs: Dict[str, float], seen: Dict[str, str], reference_csv: str
                   ) -> List[Tuple[str, str]]:
    """(path, error) for each "scan.dcm#N" row whose file was read but has no frame N.

    Args:
      seen: frame name ("scan.dcm#2", or "scan.dcm" for a single frame) -> its file's path.
    """
    files = {os.path.basename(p): p for p in seen.values()}
    out = []
    for key in refs:
        name, _, number = key.partition("#")
        if not number or name not in files or key in seen or (number == "1" and name in seen):
            continue  # a whole-file row, a file not read (listed already), a frame read
        path = files[name]
        frames = sum(1 for p in seen.values() if p == path)
        out.append((path, f"{path}: {reference_csv} names frame {number}, which the file does "
                          f"not have ({frames} frame{'' if frames == 1 else 's'} read)"))
    return out


def reference_key(refs: Dict[str, float], filename: str) -> Optional[str]:
    """The CSV row that gives a frame its reference HC: its own ("scan.dcm#2"), its file's
    ("scan.dcm"), or for a single-frame file "scan.dcm#1" (its only frame)."""
    base = filename.split("#")[0]
    candidates = (filename, base) if "#" in filename else (filename, f"{filename}#1")
    return next((k for k in candidates if k in refs), None)


def reference_of(refs: Dict[str, float], filename: str) -> Optional[float]:
    """A frame's reference HC (`reference_key`), or None."""
    key = reference_key(refs, filename)
    return None if key is None else refs[key]


def evaluate_paths(inputs: Sequence[str]) -> List[str]:
    """Files as given, folders expanded to their files (sorted)."""
    out: List[str] = []
    for item in inputs:
        if os.path.isdir(item):
            out += sorted(os.path.join(item, n) for n in os.listdir(item)
                          if os.path.isfile(os.path.join(item, n)))
        elif os.path.isfile(item):
            out.append(item)
        else:
            raise ValueError(f"{item}: no such file or folder")
    return out
