"""The demo's DICOM uploads: one frame, its pixel size chosen by `hc-tf predict`'s rules.

Reading, limits, calibration and refusals are `hc_tf.surfaces.dicom_predict` and
`hc_tf.io.dicom*` (nothing repeated here); this module only words their refusals for the page
(the upload's name instead of its temporary path, the page's override box instead of the CLI
flag) and says which pixel size was used and why. No Gradio here.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Dict, Optional, Tuple

from hc_tf import inference
from hc_tf import measure as measure_lib
from hc_tf.io import dicom_pixel_size
from hc_tf.surfaces import dicom_predict

TYPED_LABEL = "the typed pixel size"
OVERRIDE_LABEL = "the page's 'use the typed pixel size over the file's calibration' box"
# The CLI's words in the calibration's messages, and the page's for them.
_PAGE_WORDS = ((dicom_pixel_size.OVERRIDE_FLAG, OVERRIDE_LABEL),
               ("a typed --pixel-size", "a typed pixel size"),
               ("--pixel-size", "a typed pixel size"),
               ("; pass --allow-any-pixel-size to use it", ""))  # the page has no such option


class DicomUploadError(ValueError):
    """A DICOM upload that cannot be measured; the message is for the page."""


def is_dicom(path: str) -> bool:
    """A DICOM upload, by content (the DICM preamble), whatever its name: as predict detects it."""
    return dicom_predict.is_dicom_input(path)


def _words(err: Exception, path: str, name: str) -> str:
    """A reader's refusal as the page says it: the upload's name, the page's boxes."""
    return _page_words(str(err).replace(path, name))


def _page_words(text: str) -> str:
    for cli_words, page_words in _PAGE_WORDS:
        text = text.replace(cli_words, page_words)
    return text


def measure(runner: inference.Runner, path: str, name: str, typed_mm: Optional[float],
            override: bool = False, frame: int = 1
            ) -> Tuple[inference.Prediction, Dict[str, Any], Dict[str, float]]:
    """Measures one frame of a DICOM upload, its pixel size from the file (as predict does).

    Args:
      runner: a model runner.
      path: the uploaded file.
      name: its original name (shown instead of the temporary path).
      typed_mm: a pixel size typed in the page (checked), or None to use the file's.
      override: use `typed_mm` where the file's calibration differs or is refused.
      frame: the 1-based frame to measure.

    Returns:
      (prediction, predict's report fields (frame, pixel_size_source, pixel_size_note,
      dicom), timings in ms: decode, letterbox, model, measure, total).

    Raises:
      DicomUploadError: for every refusal of the reader and the calibration, in words.
    """
    t0 = time.perf_counter()
    try:
        # The header's byte, pixel and frame limits and every frame's calibration are checked
        # before any pixel is decoded (dicom_predict.samples).
        sample = next(dicom_predict.samples(path, frame, typed_mm, override, TYPED_LABEL))
        decode_ms = (time.perf_counter() - t0) * 1e3
        sample = dataclasses.replace(sample, filename=dicom_predict.frame_filename(
            name, sample.frame, dicom_predict.is_multi_frame(sample)))
        timings: Dict[str, float] = {}
        pred = inference.predict_batch(runner, [sample], timings)[0]
        pred, fields = dicom_predict.finish(runner, pred)
    except ImportError as err:  # pydicom missing: the install hint
        raise DicomUploadError(f"{name}: {err}") from None
    except ValueError as err:
        raise DicomUploadError(_words(err, path, name)) from None
    return pred, fields, {"decode_ms": decode_ms, **timings,
                          "total_ms": (time.perf_counter() - t0) * 1e3}


def pixel_size_text(m: measure_lib.Measurement, fields: Dict[str, Any]) -> str:
    """"Pixel size 0.0691 mm from dicom_us_region: 2D tissue region 1 of (0018,6011) ... holds
    the head": the pixel size used, its source and note as report.json records them."""
    note = _page_words(str(fields["pixel_size_note"]))
    return f"Pixel size {m.pixel_size_mm:g} mm from {fields['pixel_size_source']}: {note}"

