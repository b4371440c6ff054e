"""The TF-free inference core: the runner protocol and the one letterbox -> run -> measure.

A *runner* turns a batch of letterboxed uint8 inputs (B, H, W, 1) into probabilities
(B, H, W): `hc_tf.edge.LiteRunner` (no TensorFlow) or `hc_tf.modeling.keras_runner.KerasRunner`
(TF side, imported only when a `.keras` model is loaded). Every path that measures a
model's output (evaluate, predict, parity, demo, the bundle's goldens) goes through
`predict_batch`, so pre-processing and measurement cannot drift between them.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Dict, Iterable, Iterator, List, Optional, Protocol, Sequence, Tuple

import numpy as np

from hc_tf import measure as measure_lib
from hc_tf import preprocess
from hc_tf.clinical import interval_table as interval_table_lib
from hc_tf.measure import image_contrast
from hc_tf.measure.pixel_size import positive_pixel_size
from hc_tf.measure.result import not_found


class Runner(Protocol):
    """What evaluation, prediction and the demo need of a model."""

    input_hw: Tuple[int, int]

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """(B, H, W, 1) uint8 -> (B, H, W) float32 probabilities."""


@dataclasses.dataclass
class Sample:
    """One image to measure, with its reference when it has one."""

    filename: str
    image: np.ndarray  # (H, W) uint8 as stored
    pixel_size_mm: float
    reference: Optional[measure_lib.Ellipse] = None
    reference_hc_mm: Optional[float] = None
    # The part of `image` the model sees, (x0, y0, x1, y1) inclusive: a DICOM's one 2D tissue
    # region, so the head gets the model pixels the scanner's text and bars would take.
    # None: the whole image. Ellipses are in `image`'s pixels either way.
    region: Optional[Tuple[int, int, int, int]] = None
    # Accept any finite positive `pixel_size_mm`, not only measure.PLAUSIBLE_PIXEL_SIZE_MM: the
    # user's explicit choice (--allow-any-pixel-size), or a size checked later (a DICOM frame's
    # provisional size, dicom_predict.finish checks the one it chooses).
    allow_implausible_pixel_size: bool = False


@dataclasses.dataclass
class Prediction:
    """A sample, its letterbox, the model's probability map (model size) and the measurement."""

    sample: Sample
    box: preprocess.Letterbox
    prob: np.ndarray  # (H, W) at model size
    measurement: measure_lib.Measurement


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1e3


def model_view(sample: Sample) -> np.ndarray:
    """The pixels the model sees: `sample.region` of the image, or all of it."""
    if sample.region is None:
        return sample.image
    x0, y0, x1, y1 = sample.region
    return sample.image[y0:y1 + 1, x0:x1 + 1]


def in_image_pixels(m: measure_lib.Measurement, sample: Sample) -> measure_lib.Measurement:
    """`m`, measured on `model_view(sample)`, with its ellipse in the whole image's pixels (the
    region's corner added: integers, so exact)."""
    if sample.region is None or not m.found:
        return m
    x0, y0 = sample.region[:2]
    return dataclasses.replace(m, ellipse=dataclasses.replace(
        m.ellipse, cx=m.ellipse.cx + x0, cy=m.ellipse.cy + y0))


def _measure_input(model_input: np.ndarray, box: preprocess.Letterbox, prob: np.ndarray,
                   pixel_size_mm: float) -> measure_lib.Measurement:
    """`measure`, unless the input has too little contrast to hold a head (a blank frame)."""
    uniform = image_contrast.too_uniform_reason(model_input, box)
    if uniform:
        return not_found(uniform, positive_pixel_size(pixel_size_mm))
    return measure_lib.measure(prob, box, pixel_size_mm)


def predict_batch(runner: Runner, samples: Sequence[Sample],
                  timings: Optional[Dict[str, float]] = None) -> List[Prediction]:
    """Letterboxes, runs and measures one batch: the project's one inference glue.

    Args:
      runner: a model runner.
      samples: the images; each pixel size is checked as `measure_image` checks one
        (`measure.check_pixel_size`; any finite positive one if the sample allows it).
      timings: when given, gets letterbox_ms, invoke_ms and measure_ms for the batch.

    Returns:
      One `Prediction` per sample, in order.

    Raises:
      ValueError: for an image or pixel size that `preprocess` or `measure` refuse (a pixel
        size before anything runs, naming the sample).
    """
    for s in samples:  # unchecked, Sample(..., 50.0) gave HC 31358 mm
        measure_lib.check_pixel_size(s.pixel_size_mm, f"{s.filename}: pixel size",
                                     allow_implausible=s.allow_implausible_pixel_size)
    t0 = time.perf_counter()
    boxed = [preprocess.letterbox_image(model_view(s), runner.input_hw) for s in samples]
    t1 = time.perf_counter()
    probs = runner.predict(np.stack([b[0] for b in boxed]))
    t2 = time.perf_counter()
    calibration = {"interval_table": getattr(runner, "interval_table", None),
                   "interval_note": getattr(runner, "interval_note", "")}
    preds = [Prediction(s, box, p, dataclasses.replace(
                 in_image_pixels(_measure_input(x, box, p, s.pixel_size_mm), s), **calibration))
             for s, (x, box), p in zip(samples, boxed, probs)]
    if timings is not None:
        timings.update(letterbox_ms=(t1 - t0) * 1e3, invoke_ms=(t2 - t1) * 1e3,
                       measure_ms=_ms(t2))
    return preds


def remeasure(pred: Prediction, pixel_size_mm: float) -> Prediction:
    """`pred` measured again at another pixel size (the same probability map; e.g. a DICOM
    frame's head in another region than the first size assumed). A head not found stays so:
    a blank frame's map may hold a "head". The model's interval calibration is kept."""
    m = pred.measurement
    if m.found:
        new = in_image_pixels(measure_lib.measure(pred.prob, pred.box, pixel_size_mm), pred.sample)
        m = dataclasses.replace(new, interval_table=m.interval_table,
                                interval_note=m.interval_note)
    else:
        m = dataclasses.replace(m, pixel_size_mm=pixel_size_mm)
    return dataclasses.replace(pred, measurement=m)


def predict_samples(runner: Runner, samples: Iterable[Sample], batch_size: int = 8
                    ) -> Iterator[Prediction]:
    """`predict_batch` over `samples`, `batch_size` at a time (lazily: any iterable works).

    Args:
      runner: a model runner.
      samples: the images.
      batch_size: images per `runner.predict` call.

    Yields:
      One `Prediction` per sample, in order.

    Raises:
      ValueError: as `predict_batch`, when the batch holding the sample is reached.
    """
    batch: List[Sample] = []
    for sample in samples:
        batch.append(sample)
        if len(batch) == batch_size:
            yield from predict_batch(runner, batch)
            batch = []
    if batch:
        yield from predict_batch(runner, batch)


def measure_image(runner: Runner, gray: np.ndarray, pixel_size_mm: float,
                  allow_implausible_pixel_size: bool = False
                  ) -> Tuple[measure_lib.Measurement, Dict[str, float]]:
    """Letterbox, invoke and measure one decoded image (a NumPy array), timed.

    Args:
      runner: a model runner.
      gray: the pixels, as `preprocess.to_gray_uint8` takes them: (H, W) or (H, W, 1) uint8
        gray, or (H, W, 3) RGB / (H, W, 4) fully opaque RGBA uint8 in RGB order (a
        `cv2.imread` array is BGR: convert it with `cv2.COLOR_BGR2RGB`). Upright as shown: an
        array carries no EXIF orientation (`measure_file` applies a file's).
      pixel_size_mm: its pixel size, within `measure.PLAUSIBLE_PIXEL_SIZE_MM`.
      allow_implausible_pixel_size: accept any finite positive pixel size.

    Returns:
      (measurement, timings): timings in ms for letterbox, invoke, measure and total.

    Raises:
      ValueError: for a bad pixel size or image (another shape or dtype, a translucent RGBA
        array: `preprocess.TRANSLUCENT`, as for a file).
    """
    pixel_size_mm = measure_lib.check_pixel_size(
        pixel_size_mm, allow_implausible=allow_implausible_pixel_size)
    t: Dict[str, float] = {}
    t0 = time.perf_counter()
    pred = predict_batch(runner, [Sample("image", gray, pixel_size_mm, allow_implausible_pixel_size=
                                         allow_implausible_pixel_size)], t)[0]
    t["total_ms"] = _ms(t0)
    return pred.measurement, t


def measure_file(runner: Runner, image_path: "str | os.PathLike[str]", pixel_size_mm: float,
                 allow_implausible_pixel_size: bool = False
                 ) -> Tuple[measure_lib.Measurement, Dict[str, float]]:
    """Decode an image file, then `measure_image`; timings add decode_ms and cover it in total_ms.

    Args:
      runner: a model runner.
      image_path: the image file.
      pixel_size_mm: its pixel size (checked before decoding).
      allow_implausible_pixel_size: accept any finite positive pixel size.

    Returns:
      (measurement, timings) as `measure_image`, with decode_ms first.

    Raises:
      ValueError: naming the file, for a bad pixel size or a file refused (not an 8-bit
        image, too large, damaged, translucent, several frames; `hc_tf.io.images`).
      OSError: naming the file, when it cannot be read (FileNotFoundError when missing).
    """
    measure_lib.check_pixel_size(pixel_size_mm, allow_implausible=allow_implausible_pixel_size)
    t0 = time.perf_counter()
    gray = preprocess.read_gray_image(os.fspath(image_path))
    decode_ms = _ms(t0)
    m, t = measure_image(runner, gray, pixel_size_mm, allow_implausible_pixel_size)
    t = {"decode_ms": decode_ms, **t}
    t["total_ms"] = _ms(t0)
    return m, t


def load_runner(model_path: "str | os.PathLike[str]", flip_tta: bool = False,
                num_threads: int = 2) -> Runner:
    """A runner for a `.tflite` (edge runtime, no TensorFlow) or a `.keras` model.

    Args:
      model_path: the model file (a str or any os.PathLike, e.g. a pathlib.Path).
      flip_tta: average with the horizontally flipped input (`.keras` only).
      num_threads: interpreter threads (`.tflite` only).

    Returns:
      The runner.

    Raises:
      ValueError: for a missing file, another extension, or flip_tta with a `.tflite`.
    """
    model_path = os.fspath(model_path)
    if not os.path.isfile(model_path):
        raise ValueError(f"{model_path}: no such model file")
    # Imported here so that loading one kind never imports the other's runtime.
    if model_path.endswith(".tflite"):
        if flip_tta:  # an edge model runs as converted; ignoring the flag would mislead
            raise ValueError(f"{model_path}: --flip-tta is for a .keras model; a .tflite runs "
                             "as converted (flip TTA is inside it if its .keras had it)")
        from hc_tf import edge
        runner = edge.LiteRunner(model_path, num_threads=num_threads)
    elif model_path.endswith(".keras"):
        from hc_tf.modeling import keras_runner
        runner = keras_runner.KerasRunner(model_path, flip_tta=flip_tta)
    else:
        raise ValueError(f"{model_path}: expected a .keras or .tflite model")
    runner.interval_table, runner.interval_note = interval_table_for(
        model_path, flip_tta, getattr(runner, "sha256", None))
    return runner


INTERVAL_TABLE_SUFFIX = ".interval_table.json"  # MODEL.tflite -> MODEL.interval_table.json


def interval_table_for(model_path: str, flip_tta: bool = False, sha256: Optional[str] = None
                       ) -> Tuple[Optional[interval_table_lib.IntervalTable], str]:
    """The HC interval calibration that belongs to a model: (table, "") or (None, why none).

    An interval's coverage holds only for the model whose errors calibrated it: the package's
    table for the released model (its int8 file or the `.keras` it came from, by sha256, run as
    released), a table beside any other model (`calibrate_intervals fit --table
    MODEL.interval_table.json`), else none, said in words rather than borrowed. `sha256`: the
    model file's, when the caller has it already (`LiteRunner` checks it at load).

    Raises:
      ValueError: naming the file, for a table beside the model that does not load.
    """
    from hc_tf import models

    beside = os.path.splitext(model_path)[0] + INTERVAL_TABLE_SUFFIX
    if os.path.isfile(beside):
        return interval_table_lib.load_table(beside), ""
    if not flip_tta and models.is_released(model_path, sha256):
        return None, ""
    return None, (f"no calibrated HC interval for {os.path.basename(model_path)}"
                  f"{' with --flip-tta' if flip_tta else ''}: the package's interval is "
                  "calibrated on the released model's errors; fit one for this model "
                  f"(python -m hc_tf.surfaces.calibrate_intervals) as {os.path.basename(beside)}")
