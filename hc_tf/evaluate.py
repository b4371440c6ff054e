"""Per-image evaluation of a model through the shared measurement module.

A *runner* turns a batch of letterboxed uint8 inputs (B, H, W, 1) into
probabilities (B, H, W). `KerasRunner` here; the edge runtime's `LiteRunner`
(hc_tf.edge) has the same interface. Whatever the runner, measurement is
`hc_tf.ellipse.measure`, so the two models are judged by the same code.
TensorFlow is imported only by `KerasRunner`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
from typing import Dict, Iterable, Iterator, List, Optional, Protocol, Sequence, Tuple

import numpy as np

from hc_tf import ellipse as ellipse_lib
from hc_tf import preprocess


class Runner(Protocol):
    input_hw: Tuple[int, int]

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """(B, H, W, 1) uint8 -> (B, H, W) float32 probabilities."""


class KerasRunner:
    """Runs a Keras model (object or `.keras` path); optional flip test-time augmentation."""

    def __init__(self, model, flip_tta: bool = False, batch_size: int = 8):
        if isinstance(model, (str, os.PathLike)):
            from hc_tf import model as model_lib  # pylint: disable=g-import-not-at-top
            model = model_lib.load_model(os.fspath(model))
        self.model = model
        self.flip_tta = flip_tta
        self.batch_size = batch_size
        self.input_hw = (int(model.input.shape[1]), int(model.input.shape[2]))

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        x = np.asarray(inputs, dtype=np.float32)
        probs = []
        for start in range(0, len(x), self.batch_size):
            chunk = x[start:start + self.batch_size]
            p = np.asarray(self.model(chunk, training=False), dtype=np.float32)[..., 0]
            if self.flip_tta:
                flipped = np.asarray(self.model(chunk[:, :, ::-1], training=False),
                                     dtype=np.float32)[..., 0]
                p = 0.5 * (p + flipped[:, :, ::-1])
            probs.append(p)
        return np.concatenate(probs, axis=0)


@dataclasses.dataclass
class Sample:
    """One image to measure, with its reference when it has one."""

    filename: str
    image: np.ndarray  # (H, W) uint8 as stored
    pixel_size_mm: float
    reference: Optional[ellipse_lib.Ellipse] = None
    reference_hc_mm: Optional[float] = None


@dataclasses.dataclass
class Prediction:
    sample: Sample
    box: preprocess.Letterbox
    prob: np.ndarray  # (H, W) at model size
    measurement: ellipse_lib.Measurement


def predict_samples(runner: Runner, samples: Iterable[Sample], batch_size: int = 8
                    ) -> Iterator[Prediction]:
    """Letterboxes, runs and measures samples, batch by batch."""
    batch: List[Sample] = []

    def flush():
        boxed = [preprocess.letterbox_image(s.image, runner.input_hw) for s in batch]
        probs = runner.predict(np.stack([b[0] for b in boxed]))
        for s, (_, box), p in zip(batch, boxed, probs):
            yield Prediction(s, box, p, ellipse_lib.measure(p, box, s.pixel_size_mm))

    for sample in samples:
        batch.append(sample)
        if len(batch) == batch_size:
            yield from flush()
            batch = []
    if batch:
        yield from flush()


PER_IMAGE_FIELDS = ("filename", "reference_hc_mm", "predicted_hc_mm", "df_mm", "adf_mm",
                    "dice", "hd_mm", "found", "reason")


def score(pred: Prediction) -> Dict[str, object]:
    """The per-image row: reference vs predicted HC, Dice and Hausdorff of the ellipses.

    DF and ADF follow the challenge (`ellipse.challenge_difference_mm`): a
    not-found image scores ADF = reference HC; its Dice is 0 and it has no
    Hausdorff distance.
    """
    s, m = pred.sample, pred.measurement
    row: Dict[str, object] = {"filename": s.filename, "reference_hc_mm": s.reference_hc_mm,
                              "predicted_hc_mm": m.hc_mm, "found": m.found, "reason": m.reason,
                              "df_mm": None, "adf_mm": None, "dice": None, "hd_mm": None}
    if s.reference is None or s.reference_hc_mm is None:
        return row
    df, adf = ellipse_lib.challenge_difference_mm(m.hc_mm, s.reference_hc_mm)
    row.update(df_mm=df, adf_mm=adf)
    if not m.found:
        row["dice"] = 0.0
        return row
    shape = s.image.shape[:2]
    row.update(dice=ellipse_lib.dice(ellipse_lib.rasterize_ellipse(m.ellipse, shape),
                                     ellipse_lib.rasterize_ellipse(s.reference, shape)),
               hd_mm=ellipse_lib.hausdorff_mm(m.ellipse, s.reference, s.pixel_size_mm))
    return row


def summarize(rows: Sequence[Dict[str, object]]) -> Dict[str, float]:
    """Summary figures over labelled rows.

    ADF and DF are the challenge's (a not-found image scores ADF = reference
    HC); `adf_found_mm_*` are over the found images only, for reading a model's
    accuracy apart from its misses. Dice counts a not-found image as 0;
    Hausdorff is over found images.
    """
    labelled = [r for r in rows if r["reference_hc_mm"] is not None]
    found = [r for r in labelled if r["found"]]

    def stat(key, fn, among=labelled):
        vals = [float(r[key]) for r in among if r[key] is not None]
        return float(fn(vals)) if vals else None

    return {
        "n": len(labelled), "not_found": len(labelled) - len(found),
        "dice_mean": stat("dice", np.mean), "dice_median": stat("dice", np.median),
        "adf_mm_mean": stat("adf_mm", np.mean), "adf_mm_std": stat("adf_mm", np.std),
        "adf_mm_median": stat("adf_mm", np.median), "adf_mm_max": stat("adf_mm", np.max),
        "df_mm_mean": stat("df_mm", np.mean), "df_mm_std": stat("df_mm", np.std),
        "adf_found_mm_mean": stat("adf_mm", np.mean, found),
        "adf_found_mm_median": stat("adf_mm", np.median, found),
        "hd_mm_mean": stat("hd_mm", np.mean, found), "hd_mm_std": stat("hd_mm", np.std, found),
    }


# The atomic writers, re-exported for train/parity/lite.
atomic_write_text = ellipse_lib.atomic_write_text
atomic_path = ellipse_lib.atomic_path


def write_per_image_csv(path: str, rows: Sequence[Dict[str, object]],
                        fields: Sequence[str] = PER_IMAGE_FIELDS, digits: int = 4) -> None:
    """Writes one row per image (None as empty, floats to `digits`), atomically."""
    import io  # pylint: disable=g-import-not-at-top
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r.get(k) is None else
                             (f"{r[k]:.{digits}f}" if isinstance(r[k], float) else r[k]))
                         for k in fields})
    atomic_write_text(path, buf.getvalue())


def write_summary_json(path: str, summary: Dict[str, object]) -> None:
    atomic_write_text(path, json.dumps(summary, indent=2) + "\n")


def is_hc18_folder(folder: str) -> bool:
    """True for a folder in the HC18 release layout (training_set/ + its CSV)."""
    return (os.path.isdir(os.path.join(folder, "training_set"))
            and os.path.isfile(os.path.join(folder, "training_set_pixel_size_and_HC.csv")))


def read_csv_rows(csv_path: str) -> List[Tuple[int, List[str]]]:
    """The data rows of a CSV with a header row, as (line number, fields).

    Blank rows and rows with an empty first field are skipped; CRLF is fine.

    Raises:
      ValueError: naming the file, when it is not UTF-8 text CSV (e.g. binary).
    """
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as err:
        raise ValueError(f"{csv_path}: not a UTF-8 text CSV (undecodable byte at offset "
                         f"{err.start})") from None
    except csv.Error as err:
        raise ValueError(f"{csv_path}: not a readable CSV ({err})") from None
    return [(i, r) for i, r in enumerate(rows, start=1)
            if i > 1 and r and r[0].strip()]


def _reference_row(csv_path: str, i: int, row: List[str]) -> Tuple[str, float, float]:
    """(filename, pixel size mm, reference HC mm) of HC18's training CSV row `i`.

    Raises:
      ValueError: naming the file and row, for a missing field, a bad or
        implausible pixel size, or an HC that is not a finite positive number.
    """
    if len(row) < 3:
        raise ValueError(f"{csv_path} row {i}: expected filename, pixel size, HC")
    name = row[0].strip()
    pixel = ellipse_lib.check_pixel_size(row[1], f"{csv_path} row {i} ({name}): pixel size")
    try:
        hc = float(row[2])
    except ValueError:
        raise ValueError(f"{csv_path} row {i} ({name}): HC {row[2]!r} is not a number") from None
    if not (math.isfinite(hc) and hc > 0):
        raise ValueError(f"{csv_path} row {i} ({name}): HC {row[2]!r} is not a finite "
                         "positive number of mm")
    return name, pixel, hc


def samples_from_hc18_folder(folder: str) -> Iterator[Sample]:
    """Labelled samples straight from HC18 files (no TensorFlow): the reference
    ellipse is fitted to each annotation outline, the reference HC is the CSV's.

    Raises:
      ValueError: naming the file, for an unreadable image, annotation or CSV row.
    """
    csv_path = os.path.join(folder, "training_set_pixel_size_and_HC.csv")
    for i, row in read_csv_rows(csv_path):
        name, pixel, hc = _reference_row(csv_path, i, row)
        path = os.path.join(folder, "training_set", name)
        image = preprocess.read_gray_image(path)
        outline = preprocess.read_gray_image(path[:-len(".png")] + "_Annotation.png")
        try:
            reference = ellipse_lib.fit_outline(outline)
        except ellipse_lib.AnnotationError as err:
            raise ValueError(f"{path[:-4]}_Annotation.png: {err}") from None
        yield Sample(name, image, pixel, reference, hc)


def load_runner(model_path: str, flip_tta: bool = False, num_threads: int = 2) -> Runner:
    """A runner for a `.tflite` (edge runtime, no TensorFlow) or a `.keras` model.

    Raises:
      ValueError: for a missing file or another extension.
    """
    if not os.path.isfile(model_path):
        raise ValueError(f"{model_path}: no such model file")
    if model_path.endswith(".tflite"):
        from hc_tf import edge  # pylint: disable=g-import-not-at-top
        return edge.LiteRunner(model_path, num_threads=num_threads)
    if model_path.endswith(".keras"):
        return KerasRunner(model_path, flip_tta=flip_tta)
    raise ValueError(f"{model_path}: expected a .keras or .tflite model")


def plot_distributions(rows: Sequence[Dict[str, object]], out_png: str) -> None:
    """Histogram and box plot of Dice and ADF over the labelled images (challenge ADF)."""
    import matplotlib  # pylint: disable=g-import-not-at-top
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

    dice = [float(r["dice"]) for r in rows if r.get("dice") is not None]
    adf = [float(r["adf_mm"]) for r in rows if r.get("adf_mm") is not None]
    fig, axes = plt.subplots(2, 2, figsize=(10, 6))
    for col, (vals, name) in enumerate(((dice, "Dice"), (adf, "ADF (mm)"))):
        if vals:
            axes[0, col].hist(vals, bins=30, color="tab:blue" if col == 0 else "tab:orange")
            axes[1, col].boxplot(vals, vert=False)
        axes[0, col].set_title(f"{name}: mean {np.mean(vals) if vals else float('nan'):.3f}, "
                               f"n={len(vals)}")
        axes[1, col].set_xlabel(name)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def evaluate(runner: Runner, samples: Iterable[Sample], out_dir: str) -> Dict[str, object]:
    """Measures every sample, writes per_image.csv, summary.json and evaluation.png."""
    os.makedirs(out_dir, exist_ok=True)
    rows = [score(p) for p in predict_samples(runner, samples)]
    if not rows:
        raise ValueError("no images to evaluate")
    summary = summarize(rows)
    write_per_image_csv(os.path.join(out_dir, "per_image.csv"), rows)
    write_summary_json(os.path.join(out_dir, "summary.json"), summary)
    plot_distributions(rows, os.path.join(out_dir, "evaluation.png"))
    return summary
