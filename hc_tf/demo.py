"""`hc-tf demo`: a local web page: upload an ultrasound image, get the head ellipse and its HC.

The prediction is the plain function `predict` (image array + pixel size ->
overlay, HC text, HC18 submission row, timings), testable without a browser or
Gradio; `measure_upload` adds file decoding and turns bad input into a message;
`build_app` wraps that in a Gradio page and `launch` serves it on loopback,
offline (analytics off, no share link, nothing fetched from outside).

Gradio is imported only by `build_app`/`launch`. No TensorFlow here: a `.tflite`
model runs through the edge runtime (`hc_tf.edge`); a `.keras` one goes through
`inference.load_runner`, which imports TensorFlow itself. Letterbox and ellipse
fit are `hc_tf.preprocess` / `hc_tf.measure`, the same code as every other path.

    python -m hc_tf.cli demo --port 7860     # then open http://127.0.0.1:7860
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import os
import queue
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np

from hc_tf import clinical
from hc_tf import inference
from hc_tf import measure as measure_lib
from hc_tf import preprocess
from hc_tf import report as report_lib

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(REPO_ROOT, "export", "hc_effunet_int8.tflite")
BUNDLE_DIR = os.path.join(REPO_ROOT, "android_demo_assets")
# HC18 images are 800 x 540; 25 MP is far above any ultrasound frame, and the
# check runs on the header, before a decompression bomb could be decoded.
MAX_IMAGE_PIXELS = 25_000_000
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
API_NAME = "measure"


class DemoInputError(ValueError):
    """Bad input from the page (image, pixel size or GA): the message is shown as it is."""


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


def check_pixel_size(value: Any) -> float:
    """The pixel size typed in the page, as a float.

    Args:
      value: what the number box sent (a number, a string, or None when empty).

    Returns:
      The pixel size in mm.

    Raises:
      DemoInputError: when it is missing, not a number, not finite, not > 0, or
        outside the plausible range (`measure.PLAUSIBLE_PIXEL_SIZE_MM`).
    """
    lo, hi = measure_lib.PLAUSIBLE_PIXEL_SIZE_MM
    hint = f"enter the image's pixel size in mm (a number from {lo:g} to {hi:g}, e.g. 0.1)"
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DemoInputError(f"Pixel size missing: {hint}.")
    try:
        return measure_lib.check_pixel_size(value, what="Pixel size")
    except ValueError as err:
        raise DemoInputError(f"{err}: {hint}.") from None


GA_HINT = "enter the known GA in weeks (e.g. 27.4) or weeks+days (27+3), or leave it empty"


def check_ga(value: Any) -> Optional[float]:
    """The known GA typed in the page (optional), in weeks.

    Args:
      value: the GA box's value: None or blank (no GA), weeks ("27.4", 27.4) or
        weeks+days ("27+3").

    Returns:
      GA in weeks, or None when the box is empty.

    Raises:
      DemoInputError: for text that is not a GA, or a GA outside 10-45 weeks.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return clinical.parse_ga_weeks(value if isinstance(value, str) else float(value))
    except (TypeError, ValueError) as err:
        raise DemoInputError(f"{err}: {GA_HINT}.") from None


def _check_pixel_count(height: int, width: int) -> None:
    """Raises DemoInputError for an image over MAX_IMAGE_PIXELS."""
    if height * width > MAX_IMAGE_PIXELS:
        raise DemoInputError(f"Image too large: {width} x {height} pixels "
                             f"(at most {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels).")


def to_gray(image: np.ndarray) -> np.ndarray:
    """An uploaded image array as 2-D uint8 gray (RGB/RGBA converted), size-checked.

    Args:
      image: (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA uint8.

    Returns:
      (H, W) uint8.

    Raises:
      DemoInputError: for another shape or dtype, or an image over MAX_IMAGE_PIXELS.
    """
    image = np.asarray(image)
    if image.ndim < 2:
        raise DemoInputError(f"Not an image: an array of shape {image.shape}.")
    _check_pixel_count(int(image.shape[0]), int(image.shape[1]))
    try:
        return preprocess.to_gray_uint8(image)
    except ValueError as err:
        raise DemoInputError(f"Unsupported image: {err}.") from None


def read_image_file(path: str, name: Optional[str] = None) -> np.ndarray:
    """Decodes an uploaded image file to 2-D uint8 gray, refusing what isn't a sane image.

    The size is checked from the header (Pillow reads it without decoding the
    pixels), so a small file that decodes to a huge image is refused cheaply;
    the pixels are then decoded by `preprocess.read_gray_image`, the project's
    one decoder (the bundle's golden values come from it).

    Args:
      path: the file.
      name: the name to show in messages (the uploaded file's own name).

    Returns:
      (H, W) uint8.

    Raises:
      DemoInputError: for a missing, empty, too large or undecodable file, or a
        non-8-bit image.
    """
    from PIL import Image  # pylint: disable=g-import-not-at-top  (Pillow: via matplotlib)

    name = name or os.path.basename(path)
    if not os.path.isfile(path):
        raise DemoInputError(f"{name}: no such file.")
    n_bytes = os.path.getsize(path)
    if n_bytes > MAX_UPLOAD_BYTES:
        raise DemoInputError(f"{name}: file too large ({n_bytes / 2**20:.1f} MB; "
                             f"at most {MAX_UPLOAD_BYTES / 2**20:.0f} MB).")
    try:
        with Image.open(path) as im:
            width, height = im.size
    except Image.DecompressionBombError:
        raise DemoInputError(f"{name}: image too large (decompression bomb).") from None
    except Exception:  # pylint: disable=broad-except  (Pillow raises many kinds here)
        raise DemoInputError(f"{name}: not a readable image (upload a PNG or JPEG).") from None
    _check_pixel_count(height, width)
    try:
        return preprocess.read_gray_image(path)
    except ValueError as err:
        detail = str(err).replace(path, name)
        raise DemoInputError(f"{detail} (upload an 8-bit PNG or JPEG).") from None


def format_hc(m: measure_lib.Measurement) -> str:
    """"HC 299.70 mm", or "No head found: <reason>"."""
    return f"HC {m.hc_mm:.2f} mm" if m.found else f"No head found: {m.reason}"


def format_ga_text(m: measure_lib.Measurement) -> str:
    """GA by each formula, one line each (weeks+days, uncertainty, range status); "" when
    no head was found."""
    return "\n".join(report_lib.ga_line(g) for g in m.gestational_age())


def format_centile_text(m: measure_lib.Measurement, ga_weeks: Optional[float]) -> str:
    """"At 27+3 weeks: centile 12.3 (z -1.16) (INTERGROWTH-21st fetal HC standard)", the
    out-of-range message, or "" without a GA or a head."""
    if ga_weeks is None or not m.found:
        return ""
    c = clinical.hc_centile(m.hc_mm, ga_weeks)
    at = f"At {clinical.format_ga(clinical.weeks_to_days(ga_weeks))} weeks: "
    if c.status is not clinical.Status.OK:
        return at + c.message
    return at + f"{c.display()} (INTERGROWTH-21st fetal HC standard)"


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
    overlay = cv2.cvtColor(measure_lib.draw_overlay(gray, m), cv2.COLOR_BGR2RGB)
    return DemoResult(overlay_rgb=overlay, hc_text=format_hc(m),
                      submission_csv=format_submission(filename, m),
                      time_text=format_time(timings), measurement=m, timings_ms=timings,
                      ga_text=format_ga_text(m), centile_text=format_centile_text(m, ga_weeks),
                      review_text=format_review(m))


def predict_file(runner: inference.Runner, path: str, pixel_size_mm: Any,
                 name: Optional[str] = None, ga: Any = None) -> DemoResult:
    """`predict` on an image file; the timings include decoding.

    Args:
      runner: a model runner.
      path: the image file.
      pixel_size_mm: its pixel size in mm.
      name: the file's name to show (an upload's original name); default its basename.
      ga: the known GA (optional), as for `predict`.

    Returns:
      A `DemoResult`.

    Raises:
      DemoInputError: for a bad file, pixel size or GA.
    """
    name = name or os.path.basename(path)
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
                   pixel_size_mm: Any, ga: Any = None) -> PageOutputs:
    """The page's handler: an uploaded file + pixel size (+ GA) -> the seven outputs, never
    an exception.

    Bad input comes back as a message in the HC box, the other texts empty (the server
    keeps serving).

    Args:
      runner: a model runner.
      upload: Gradio's file payload ({"path": ..., "orig_name": ...}) or None.
      pixel_size_mm: the number box's value.
      ga: the GA box's value (optional).

    Returns:
      (overlay RGB or None, HC text or message, GA text, centile text, review text,
      submission CSV, time text).
    """
    try:
        if not upload or not upload.get("path"):
            raise DemoInputError("No image: upload an ultrasound image (PNG or JPEG) first.")
        name = os.path.basename(upload.get("orig_name") or upload["path"])
        r = predict_file(runner, upload["path"], pixel_size_mm, name=name, ga=ga)
    except DemoInputError as err:
        return None, f"Error: {err}", "", "", "", "", ""
    return (r.overlay_rgb, r.hc_text, r.ga_text, r.centile_text, r.review_text,
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


class RunnerPool:
    """Up to `size` model runners, one per concurrent request.

    A TFLite interpreter must not be invoked from two threads at once, so each
    request borrows a runner of its own for its invoke (letterbox and ellipse fit
    run outside, in parallel). Runners are made on first need, so an idle demo
    holds one. Has the runner interface (`input_hw`, `predict`), so the page's
    code takes a pool where it takes a runner.
    """

    def __init__(self, factory: Callable[[], inference.Runner], size: int):
        """Makes the first runner at once (a bad model fails here, not at a request).

        Args:
          factory: makes one runner.
          size: the most runners, hence concurrent invokes; >= 1.

        Raises:
          ValueError: for size < 1, or what `factory` raises.
        """
        if int(size) < 1:
            raise ValueError(f"a runner pool needs at least 1 runner, got {size}")
        self.size = int(size)
        self._factory = factory
        self._idle: "queue.Queue[inference.Runner]" = queue.Queue()
        self._lock = threading.Lock()
        first = factory()
        self._made = 1
        self.input_hw: Tuple[int, int] = tuple(first.input_hw)
        self._idle.put(first)

    @property
    def made(self) -> int:
        """How many runners exist so far."""
        return self._made

    def _acquire(self) -> inference.Runner:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            grow = self._made < self.size
            if grow:
                self._made += 1
        if not grow:
            return self._idle.get()  # all busy and the pool is full: wait for one
        try:
            return self._factory()
        except BaseException:
            with self._lock:
                self._made -= 1
            raise

    @contextlib.contextmanager
    def runner(self) -> Iterator[inference.Runner]:
        """Borrows a runner for the `with` block."""
        r = self._acquire()
        try:
            yield r
        finally:
            self._idle.put(r)

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """`Runner.predict` on a borrowed runner."""
        with self.runner() as r:
            return r.predict(inputs)


def runner_pool(model_path: str, workers: int) -> RunnerPool:
    """The demo's runners: `workers` TFLite interpreters, or one Keras runner.

    Each interpreter gets cores / workers threads, so a full pool uses each core
    about once. A `.keras` model gets one runner (TensorFlow spreads one call over
    the cores itself).

    Args:
      model_path: a `.tflite` or `.keras` model.
      workers: the most concurrent measurements (TFLite).

    Returns:
      A `RunnerPool` whose runners are warmed up (one invoke each).

    Raises:
      ValueError: for a missing or unloadable model, or workers < 1.
    """
    if int(workers) < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    tflite = model_path.endswith(".tflite")
    threads = max(1, (os.cpu_count() or 1) // int(workers))

    def make() -> inference.Runner:
        runner = inference.load_runner(model_path, num_threads=threads)
        # One warm-up invoke: the first one allocates, and would show a misleading time.
        runner.predict(np.zeros((1,) + tuple(runner.input_hw) + (1,), np.uint8))
        return runner

    return RunnerPool(make, int(workers) if tflite else 1)


def _is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # another host name: it may resolve to any interface


def exposure_warning(host: str) -> Optional[str]:
    """The warning to print when the demo is served beyond this machine, else None.

    Args:
      host: the interface `launch` binds.

    Returns:
      A one-line warning for a non-loopback host; None for loopback.
    """
    if _is_loopback(host):
        return None
    return (f"Warning: serving on {host} exposes the demo beyond this machine. It has no "
            "authentication: anyone who can reach the port can use it. Expose it only on a "
            "trusted network.")


def _import_gradio():
    """Imports Gradio with its telemetry off (the env var covers the calls that don't
    take `analytics_enabled`, e.g. error reports and the version check).

    Raises:
      ImportError: with the install command, when Gradio is missing.
    """
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    try:
        import gradio as gr  # pylint: disable=g-import-not-at-top
    except ImportError as err:
        raise ImportError(f"hc-tf demo needs Gradio ({err}): pip install -e '.[demo]'") from None
    return gr


DESCRIPTION = """\
Upload a 2D fetal head ultrasound image (PNG/JPEG) and enter its pixel size in mm, or pick a
sample below (it fills in both). The model segments the skull, an ellipse is fitted to its
outline, and the head circumference (HC) is the ellipse's perimeter (HC18 conventions).
The GA it implies is shown by Hadlock 1984 and INTERGROWTH-21st, each only within its range;
enter a known GA (weeks, or weeks+days such as 27+3) for the HC's centile. A measurement whose
fit looks doubtful says "please review" with the reasons.
A research demo, not a medical device."""


def build_app(runner: inference.Runner, examples: Sequence[Tuple[str, float]] = (),
              model_name: str = "") -> Any:
    """The Gradio page around `measure_upload`.

    Args:
      runner: a model runner, or a `RunnerPool`: as many requests are measured at
        once as the pool has runners (one for a plain runner, which may not be
        thread-safe).
      examples: [(image path, pixel size mm)] for the examples gallery.
      model_name: shown in the page's header.

    Returns:
      A `gradio.Blocks` (not launched); its API endpoint is `/measure`.

    Raises:
      ImportError: when Gradio is missing.
    """
    gr = _import_gradio()
    with gr.Blocks(title="hc-tf: fetal head circumference", analytics_enabled=False) as app:
        gr.Markdown(f"## Fetal head circumference{f' — `{model_name}`' if model_name else ''}\n"
                    + DESCRIPTION)
        with gr.Row():
            with gr.Column():
                # image_mode=None: the upload reaches us as the file it was, decoded by our decoder.
                image = gr.Image(label="Ultrasound image", type="filepath", image_mode=None,
                                 sources=["upload", "clipboard"], elem_id="image", height=360)
                pixel_size = gr.Number(label="Pixel size (mm)", minimum=0, step=0.001,
                                       elem_id="pixel-size")
                ga = gr.Textbox(label="Known GA (optional): weeks or weeks+days, e.g. 27+3",
                                elem_id="ga", value="")
                submit = gr.Button("Measure", variant="primary", elem_id="submit")
            with gr.Column():
                overlay = gr.Image(label="Fitted ellipse", type="numpy", format="png",
                                   interactive=False, elem_id="overlay", height=360)
                hc = gr.Textbox(label="Head circumference", elem_id="hc", interactive=False)
                review = gr.Textbox(label="Review flag", elem_id="review", interactive=False)
                ga_out = gr.Textbox(label="Gestational age from HC", elem_id="ga-out", lines=2,
                                    interactive=False)
                centile = gr.Textbox(label="HC centile at the known GA", elem_id="centile",
                                     interactive=False)
                row = gr.Textbox(label="HC18 submission row (mm, rad)", elem_id="row", lines=2,
                                 interactive=False)
                elapsed = gr.Textbox(label="Inference time", elem_id="time", interactive=False)
        if examples:
            gr.Examples(examples=[[p, px] for p, px in examples], inputs=[image, pixel_size],
                        label="HC18 test samples (pixel size filled in)")
        # preprocess=False: Gradio's own decoding would fail on a non-image with a
        # developer's traceback; `measure_upload` decodes and words the error itself.
        # One request per runner: a TFLite interpreter is not thread-safe.
        submit.click(lambda upload, px, g: measure_upload(runner, upload, px, g),
                     inputs=[image, pixel_size, ga],
                     outputs=[overlay, hc, ga_out, centile, review, row, elapsed],
                     api_name=API_NAME, preprocess=False,
                     concurrency_limit=getattr(runner, "size", 1))
    return app


def launch(app: Any, host: str = "127.0.0.1", port: int = 7860,
           allowed_paths: Sequence[str] = (), block: bool = True) -> str:
    """Serves the page: local only (no share link), no telemetry.

    Args:
      app: from `build_app`.
      host: interface to bind (loopback by default; 0.0.0.0 exposes it to the network).
      port: TCP port.
      allowed_paths: folders the page may serve files from (the examples).
      block: wait until interrupted (the CLI); False returns once serving (tests).

    Returns:
      The local URL.

    Raises:
      OSError: when the port is taken.
    """
    _import_gradio()  # telemetry off, whoever built `app`
    # Gradio 6's default theme serves its fonts itself: the page needs nothing from outside.
    _, local_url, _ = app.launch(
        server_name=host, server_port=int(port), share=False, inbrowser=False,
        prevent_thread_lock=not block, show_error=True, quiet=False,
        max_file_size=MAX_UPLOAD_BYTES, allowed_paths=list(allowed_paths),
        ssr_mode=False, mcp_server=False)
    return local_url


def serve(model_path: Optional[str] = None, host: str = "127.0.0.1", port: int = 7860,
          block: bool = True, workers: Optional[int] = None) -> Tuple[Any, str]:
    """Loads the model and serves the demo (what `hc-tf demo` runs).

    Args:
      model_path: a `.tflite` or `.keras` model; default the committed int8 model.
      host: interface to bind.
      port: TCP port.
      block: see `launch`.
      workers: the most concurrent measurements (see `runner_pool`); default
        one per CPU core.

    Returns:
      (the Gradio app, its local URL); with block=True only after the server stops.

    Raises:
      ValueError: for a missing or unloadable model.
      ImportError: when Gradio is missing.
      OSError: when the port is taken.
    """
    model_path = os.fspath(model_path or DEFAULT_MODEL)
    pool = runner_pool(model_path, workers or os.cpu_count() or 1)
    examples = load_examples()
    app = build_app(pool, examples, model_name=os.path.basename(model_path))
    url = launch(app, host=host, port=port, block=block,
                 allowed_paths=sorted({os.path.dirname(p) for p, _ in examples}))
    return app, url
