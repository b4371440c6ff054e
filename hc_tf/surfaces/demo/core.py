"""The demo's computation without the page: measuring, the texts shown (the input checks and
decoding: `inputs`).

`predict` (image array + pixel size -> overlay, HC text, HC18 submission row, timings) is
testable without a browser or Gradio; `measure_upload` adds file decoding and turns bad input
into a message. No TensorFlow and no Gradio here: letterbox and ellipse fit are
`hc_tf.preprocess` / `hc_tf.measure`, the same code as every other path.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple

import cv2
import numpy as np

from hc_tf import clinical
from hc_tf import defaults
from hc_tf import inference
from hc_tf import measure as measure_lib
from hc_tf import models
from hc_tf.report import records as report_lib
from hc_tf.surfaces.demo import dicom_upload
from hc_tf.surfaces.demo.inputs import (DemoInputError, check_frame, check_ga, check_pixel_size,
                                        read_image_file, to_gray)

# hc_tf/surfaces/demo/core.py -> the repository root (the app bundle's samples live there).
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DEFAULT_MODEL = models.released_edge_model()
BUNDLE_DIR = os.path.join(REPO_ROOT, "android_demo_assets")


@dataclasses.dataclass(frozen=True)
class DemoResult:
    """What the page shows for one image.

    Attributes:
      overlay_rgb: (H, W, 3) uint8 RGB image with the fitted ellipse and its HC.
      hc_text: "HC 299.70 mm", or "No head found: <reason>".
      submission_csv: the HC18 submission header and row (mm, radians).
      time_text: the inference time in ms, with its parts.
      measurement: the measurement itself.
      timings_ms: letterbox_ms, invoke_ms, measure_ms, total_ms (+ decode_ms from a file).
      ga_text: GA by each formula, one line each, weeks+days with its range status
        (`format_ga_text`); "" when no head was found.
      centile_text: the HC's centile and z at the GA entered (`format_centile_text`); ""
        when none was entered or no head was found.
      review_text: "please review: <reasons>" when flagged (`format_review`).
      pixel_size_text: for a DICOM upload, the pixel size used and why
        (`dicom_upload.pixel_size_text`); "" for a typed one.
      dicom_fields: for a DICOM upload, predict's report fields (frame, pixel_size_source,
        pixel_size_note, dicom); {} otherwise.
    """

    overlay_rgb: np.ndarray
    hc_text: str
    submission_csv: str
    time_text: str
    measurement: measure_lib.Measurement
    timings_ms: Dict[str, float]
    ga_text: str = ""
    centile_text: str = ""
    review_text: str = ""
    pixel_size_text: str = ""
    dicom_fields: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def format_hc(m: measure_lib.Measurement) -> str:
    """"HC 299.70 mm", or "No head found: <reason>"."""
    return f"HC {m.hc_mm:.2f} mm" if m.found else f"No head found: {m.reason}"


def format_ga_text(m: measure_lib.Measurement) -> str:
    """GA by each formula, one line each (weeks+days, uncertainty, range status); "" when
    no head was found."""
    return "\n".join(report_lib.ga_line(g) for g in m.gestational_age())


def format_centile_text(m: measure_lib.Measurement, ga_weeks: Optional[float]) -> str:
    """"At 27+3 weeks: centile 12.3 (z -1.16); 95%: 5.1 to 24.6 (INTERGROWTH-21st fetal HC
    standard)" (the centiles the HC's interval spans, when it has one), the out-of-range
    message, or "" without a GA or a head."""
    if ga_weeks is None or not m.found:
        return ""
    c = clinical.hc_centile(m.hc_mm, ga_weeks)
    at = f"At {clinical.format_ga(clinical.weeks_to_days(ga_weeks))} weeks: "
    if c.status is not clinical.Status.OK:
        return at + c.message
    ci = report_lib.centile_interval_record(m, ga_weeks)
    spans = f"; {ci['display']}" if ci else ""
    return at + f"{c.display()}{spans} (INTERGROWTH-21st fetal HC standard)"


def format_review(m: measure_lib.Measurement) -> str:
    """"please review: <reasons>" when flagged; "not flagged for review" for a measurement
    within the flag's limits; "" when no head was found."""
    if not m.found:
        return ""
    return report_lib.review_text(m) or "not flagged for review"


def format_submission(filename: str, m: measure_lib.Measurement) -> str:
    """The HC18 submission header and this image's row, as two CSV lines (zeros if not found)."""
    row = measure_lib.submission_row(filename, m)
    values = ",".join(f"{float(v):.4f}" for v in row[1:])
    return ",".join(measure_lib.SUBMISSION_HEADER) + "\n" + f"{row[0]},{values}"


def format_time(timings_ms: Mapping[str, float]) -> str:
    """"31.2 ms (decode 3.1, letterbox 0.8, model 24.0, measure 3.3)"."""
    parts = [("decode", "decode_ms"), ("letterbox", "letterbox_ms"), ("model", "invoke_ms"),
             ("measure", "measure_ms")]
    detail = ", ".join(f"{label} {timings_ms[key]:.1f}" for label, key in parts if key in timings_ms)
    return f"{timings_ms['total_ms']:.1f} ms ({detail})"


def predict(runner: inference.Runner, image: np.ndarray, pixel_size_mm: Any,
            filename: str = "image.png", ga: Any = None) -> DemoResult:
    """Measures the head in one image: the page's whole computation, without the page.

    Args:
      runner: a model runner (`inference.load_runner`: edge `.tflite` or `.keras`).
      image: the image, (H, W) gray or (H, W, 3/4) RGB(A) uint8.
      pixel_size_mm: its pixel size in mm (checked: a number > 0).
      filename: the name written in the submission row.
      ga: the known GA (optional): weeks or "weeks+days"; adds the centile.

    Returns:
      A `DemoResult` (overlay, HC, GA, centile and review texts, submission row, time).

    Raises:
      DemoInputError: for a bad image, pixel size or GA.
    """
    pixel_size = check_pixel_size(pixel_size_mm)
    ga_weeks = check_ga(ga)
    gray = to_gray(image)
    m, timings = inference.measure_image(runner, gray, pixel_size)
    return _result(gray, m, filename, timings, ga_weeks)


def _result(gray: np.ndarray, m: measure_lib.Measurement, filename: str,
            timings: Dict[str, float], ga_weeks: Optional[float],
            region: Optional[Tuple[int, int, int, int]] = None,
            **extra: Any) -> DemoResult:
    """The page's texts and overlay (with `region`, the part of a DICOM frame the model saw)
    for one measured image."""
    overlay = cv2.cvtColor(measure_lib.draw_overlay(gray, m, region=region), cv2.COLOR_BGR2RGB)
    return DemoResult(overlay_rgb=overlay, hc_text=format_hc(m),
                      submission_csv=format_submission(filename, m),
                      time_text=format_time(timings), measurement=m, timings_ms=timings,
                      ga_text=format_ga_text(m), centile_text=format_centile_text(m, ga_weeks),
                      review_text=format_review(m), **extra)


def predict_dicom(runner: inference.Runner, path: str, pixel_size_mm: Any = None,
                  name: Optional[str] = None, ga: Any = None, override: bool = False,
                  frame: int = 1) -> DemoResult:
    """`predict` on a DICOM file's first frame (or `frame`), the pixel size from its
    calibration by `hc-tf predict`'s rules (`dicom_upload.measure`).

    Args:
      runner, name, ga: as for `predict_file`.
      path: the DICOM file.
      pixel_size_mm: a typed pixel size, or None/blank to use the file's; one that disagrees
        with the file is refused unless `override`.
      override: use the typed pixel size over the file's calibration (recorded as such).
      frame: the 1-based frame to measure.

    Returns:
      A `DemoResult` with `pixel_size_text` and `dicom_fields`.

    Raises:
      DemoInputError: for a refused file, calibration, pixel size or GA, in words.
    """
    name = name or os.path.basename(path)
    # None, blank, or 0 (what the page's number box sends when left empty): none typed.
    blank = not pixel_size_mm or (isinstance(pixel_size_mm, str) and not pixel_size_mm.strip())
    typed = None if blank else check_pixel_size(pixel_size_mm)
    if override and typed is None:
        raise DemoInputError("Override asked without a pixel size: type the pixel size to use "
                             "instead of the file's, or clear the override.")
    ga_weeks = check_ga(ga)
    try:
        pred, fields, timings = dicom_upload.measure(runner, path, name, typed, override, frame)
    except dicom_upload.DicomUploadError as err:
        raise DemoInputError(str(err)) from None
    m = pred.measurement
    return _result(pred.sample.image, m, pred.sample.filename, timings, ga_weeks,
                   region=pred.sample.region,
                   pixel_size_text=dicom_upload.pixel_size_text(m, fields), dicom_fields=fields)


def predict_file(runner: inference.Runner, path: str, pixel_size_mm: Any,
                 name: Optional[str] = None, ga: Any = None, override: bool = False,
                 frame: int = 1) -> DemoResult:
    """`predict` on an image file; the timings include decoding. A DICOM file (by content)
    goes to `predict_dicom`, where the pixel size may be blank.

    Args:
      runner: a model runner.
      path: the image file.
      pixel_size_mm: its pixel size in mm.
      name: the file's name to show (an upload's original name); default its basename.
      ga: the known GA (optional), as for `predict`.
      override: for a DICOM file, as `predict_dicom`.
      frame: for a DICOM file, the 1-based frame (`predict_dicom`); an image file has frame 1 only.

    Returns:
      A `DemoResult`.

    Raises:
      DemoInputError: for a bad file, pixel size, frame or GA.
    """
    name = name or os.path.basename(path)
    if dicom_upload.is_dicom(path):
        return predict_dicom(runner, path, pixel_size_mm, name=name, ga=ga, override=override,
                             frame=frame)
    if frame != 1:
        raise DemoInputError(f"{name}: an image file has one frame; frame {frame} is for a "
                             "multi-frame DICOM file.")
    check_pixel_size(pixel_size_mm)  # before decoding: the cheap checks first
    check_ga(ga)
    t0 = time.perf_counter()
    gray = read_image_file(path, name)
    decode_ms = (time.perf_counter() - t0) * 1e3
    result = predict(runner, gray, pixel_size_mm, filename=name, ga=ga)
    timings = {"decode_ms": decode_ms, **result.timings_ms}
    timings["total_ms"] = result.timings_ms["total_ms"] + decode_ms
    return dataclasses.replace(result, time_text=format_time(timings), timings_ms=timings)


# (overlay, HC, GA, centile, review, submission row, time): the page's outputs, in order.
PageOutputs = Tuple[Optional[np.ndarray], str, str, str, str, str, str]


def measure_upload(runner: inference.Runner, upload: Optional[Mapping[str, Any]],
                   pixel_size_mm: Any, ga: Any = None, override: bool = False,
                   frame: Any = 1, *,
                   retention_s: int = defaults.DEMO_UPLOAD_RETENTION_S) -> PageOutputs:
    """The page's handler: an uploaded file + pixel size (+ GA) -> the seven outputs, never
    an exception.

    Bad input comes back as a message in the HC box, the other texts empty (the server
    keeps serving).

    Args:
      runner: a model runner.
      upload: Gradio's file payload ({"path": ..., "orig_name": ...}) or None.
      pixel_size_mm: the number box's value.
      ga: the GA box's value (optional).
      override: the DICOM override box (`predict_dicom`).
      frame: the frame box (a DICOM file's 1-based frame; blank is 1).
      retention_s: how long the server keeps an upload (`app.build_app`), said when one is gone.

    Returns:
      (overlay RGB or None, HC text or message (a DICOM's adds the pixel size used and why),
      GA text, centile text, review text, submission CSV, time text).
    """
    try:
        if not upload or not upload.get("path"):
            raise DemoInputError("No image: upload an ultrasound image (PNG, JPEG or DICOM) "
                                 "first.")
        name = os.path.basename(upload.get("orig_name") or upload["path"])
        if not os.path.lexists(upload["path"]):  # deleted after the retention (guard)
            raise DemoInputError(f"{name}: no longer on the server (uploads are deleted "
                                 f"{retention_s / 60:g} minutes after they are sent): upload it "
                                 "again.")
        if override is not None and not isinstance(override, bool):  # bool("false") is True
            raise DemoInputError(f"the override box takes true or false, not {override!r:.40}.")
        r = predict_file(runner, upload["path"], pixel_size_mm, name=name, ga=ga,
                         override=bool(override), frame=check_frame(frame))
    except DemoInputError as err:
        return None, f"Error: {err}", "", "", "", "", ""
    hc_text = f"{r.hc_text}\n{r.pixel_size_text}" if r.pixel_size_text else r.hc_text
    return (r.overlay_rgb, hc_text, r.ga_text, r.centile_text, r.review_text,
            r.submission_csv, r.time_text)


def load_examples(bundle_dir: str = BUNDLE_DIR) -> List[Tuple[str, float]]:
    """The bundled samples and their pixel sizes (from the bundle's golden.json).

    Args:
      bundle_dir: the Android bundle folder (samples/ + golden.json).

    Returns:
      [(image path, pixel size mm)], empty when the bundle is not there (an
      install without the repository's android_demo_assets/).
    """
    golden = os.path.join(bundle_dir, "golden.json")
    if not os.path.isfile(golden):
        return []
    with open(golden, encoding="utf-8") as f:
        samples = json.load(f)["samples"]
    out = [(os.path.join(bundle_dir, "samples", s["filename"]), float(s["pixel_size_mm"]))
           for s in samples]
    return [(path, px) for path, px in out if os.path.isfile(path)]
