"""`hc-tf demo`: a local web page: upload an ultrasound image, get the head ellipse and its HC.

One module per job; import this package (`from hc_tf.surfaces import demo`) and use the names
below.

- `inputs`: what the page sends, checked: pixel size, GA, the image array or file (decoded by
  every reader's rules); bad input is a `DemoInputError`.
- `core`: the page's computation without the page: `predict` (image array + pixel size ->
  overlay, HC, GA, centile and review texts, HC18 submission row, timings), `measure_upload`
  (the page's handler: bad input becomes a message).
- `dicom_upload`: DICOM uploads (`predict_dicom`): the pixel size from the file by
  `hc-tf predict`'s rules, its refusals in the page's words.
- `pool`: `RunnerPool`, one model runner per concurrent request.
- `app`: the Gradio page (`build_app`), serving it on loopback and offline (`launch`,
  `serve`), and the warning for a non-loopback host.

Gradio is imported only by `build_app`/`launch`. No TensorFlow here: a `.tflite` model runs
through the edge runtime (`hc_tf.edge`); a `.keras` one goes through `inference.load_runner`,
which imports TensorFlow itself.

    python -m hc_tf.cli demo --port 7860     # then open http://127.0.0.1:7860
"""

from hc_tf.surfaces.demo.app import (API_NAME, DESCRIPTION, build_app, exposure_warning, launch,
                            serve)
from hc_tf.surfaces.demo.core import (BUNDLE_DIR, DEFAULT_MODEL, REPO_ROOT, DemoResult,
                                      PageOutputs, format_centile_text, format_ga_text, format_hc,
                                      format_review, format_submission, format_time,
                                      load_examples, measure_upload, predict, predict_dicom,
                                      predict_file)
from hc_tf.surfaces.demo.inputs import (GA_HINT, MAX_IMAGE_PIXELS, MAX_UPLOAD_BYTES,
                                        DemoInputError, check_ga, check_pixel_size,
                                        read_image_file, to_gray)
from hc_tf.surfaces.demo.pool import RunnerPool, runner_pool

__all__ = [
    # inputs
    "GA_HINT", "MAX_IMAGE_PIXELS", "MAX_UPLOAD_BYTES", "DemoInputError", "check_ga",
    "check_pixel_size", "read_image_file", "to_gray",
    # core
    "BUNDLE_DIR", "DEFAULT_MODEL", "REPO_ROOT", "DemoResult", "PageOutputs",
    "format_centile_text", "format_ga_text", "format_hc", "format_review", "format_submission",
    "format_time", "load_examples", "measure_upload", "predict", "predict_dicom", "predict_file",
    # pool
    "RunnerPool", "runner_pool",
    # app
    "API_NAME", "DESCRIPTION", "build_app", "exposure_warning", "launch", "serve",
]
