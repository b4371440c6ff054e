"""The demo's Gradio page around `core.measure_upload`, served on loopback and offline
(analytics off, no share link, nothing fetched from outside).

Gradio is imported only by `build_app`/`launch` (`_import_gradio`), so the rest of the demo
imports with the base install.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
from typing import Any, Optional, Sequence, Tuple

import cv2

from hc_tf import defaults
from hc_tf import inference
from hc_tf.io import images
from hc_tf.surfaces.demo import guard
from hc_tf.surfaces.demo.core import DEFAULT_MODEL, PageOutputs, load_examples, measure_upload
from hc_tf.surfaces.demo.pool import runner_pool

API_NAME = "measure"


_is_loopback = guard.is_loopback


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
        import gradio as gr
    except ImportError as err:
        raise ImportError(f"hc-tf demo needs Gradio ({err}): pip install 'hc-tf[demo]' "
                          "(or pip install -e '.[demo]' in a checkout)") from None
    return gr


DESCRIPTION = """\
Upload a 2D fetal head ultrasound image (PNG/JPEG) and enter its pixel size in mm, or pick a
sample below (it fills in both). A DICOM file (any name; frame 1, or the frame you pick) needs
no pixel size: it is read from the file's calibration as `hc-tf predict` reads it, and the page
says which was used and why; a typed size that disagrees with the file is refused unless you tick the override.
The model segments the skull, an ellipse is fitted to its
outline, and the head circumference (HC) is the ellipse's perimeter (HC18 conventions).
The GA it implies is shown by Hadlock 1984 and INTERGROWTH-21st, each only within its range;
enter a known GA (weeks, or weeks+days such as 27+3) for the HC's centile. A measurement whose
fit looks doubtful says "please review" with the reasons.
A research demo, not a medical device."""


def _with_overlay_file(outputs: PageOutputs) -> Tuple[Any, ...]:
    """The page's outputs with the overlay as a file of this request's own (`guard.overlay_file`)."""
    overlay = outputs[0]
    if overlay is None:
        return outputs
    ok, png = cv2.imencode(".png", cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
    if not ok:
        return (None, "Error: the overlay could not be encoded.", "", "", "", "", "")
    return (guard.overlay_file(png.tobytes()), *outputs[1:])


def _one_upload(image: Any, dicom_file: Any) -> Any:
    """The upload to measure: the image box's or the DICOM box's; both at once is refused
    (a stale upload must not be measured in place of the one meant)."""
    if image and dicom_file:
        return {"path": "", "both": True}
    return dicom_file or image


def _handle(runner: Any, retention_s: int, image: Any, px: Any, ga: Any, override: Any = False,
            dicom_file: Any = None, frame: Any = 1) -> Tuple[Any, ...]:
    upload = _one_upload(image, dicom_file)
    if upload and upload.get("both"):
        return (None, "Error: two uploads: clear the image or the DICOM file.", "", "", "", "", "")
    return _with_overlay_file(measure_upload(runner, upload, px, ga, override, frame,
                                             retention_s=retention_s))


def build_app(runner: inference.Runner, examples: Sequence[Tuple[str, float]] = (),
              model_name: str = "", retention_s: int = defaults.DEMO_UPLOAD_RETENTION_S) -> Any:
    """The Gradio page around `measure_upload`.

    Args:
      runner: a model runner, or a `RunnerPool`: as many requests are measured at
        once as the pool has runners (one for a plain runner, which may not be
        thread-safe).
      examples: [(image path, pixel size mm)] for the examples gallery.
      model_name: shown in the page's header.
      retention_s: uploads and overlays are deleted this long after they were written
        (the examples stay).

    Returns:
      A `gradio.Blocks` (not launched); its API endpoint is `/measure`.

    Raises:
      ImportError: when Gradio is missing.
    """
    gr = _import_gradio()
    # delete_cache: Gradio deletes the uploads and the overlays it served (it keeps the
    # examples) once they are retention_s old, so a demo left running does not keep every scan.
    with gr.Blocks(title="hc-tf: fetal head circumference", analytics_enabled=False,
                   delete_cache=(guard.sweep_every_s(retention_s), int(retention_s))) as app:
        gr.Markdown(f"## Fetal head circumference{f' — `{model_name}`' if model_name else ''}\n"
                    + DESCRIPTION)
        with gr.Row():
            with gr.Column():
                # image_mode=None: the upload reaches us as the file it was, decoded by our decoder.
                image = gr.Image(label="Ultrasound image", type="filepath", image_mode=None,
                                 sources=["upload", "clipboard"], elem_id="image", height=360)
                # Any file: a DICOM is found by content, whatever its name (as predict does).
                dicom_file = gr.File(label="...or a DICOM file (pixel size from the file)",
                                     type="filepath", elem_id="dicom", height=80)
                pixel_size = gr.Number(label="Pixel size (mm); blank for a calibrated DICOM",
                                       minimum=0, step=0.001, elem_id="pixel-size")
                override = gr.Checkbox(label="DICOM: use the typed pixel size over the file's "
                                       "calibration", value=False, elem_id="override")
                frame = gr.Number(label="DICOM frame (of a multi-frame file)", value=1, minimum=1,
                                  step=1, precision=0, elem_id="frame")
                ga = gr.Textbox(label="Known GA (optional): weeks or weeks+days, e.g. 27+3",
                                elem_id="ga", value="")
                submit = gr.Button("Measure", variant="primary", elem_id="submit")
            with gr.Column():
                # No label chip: it would sit over the overlay's own HC and GA lines.
                overlay = gr.Image(label="Fitted ellipse", show_label=False, type="numpy",
                                   format="png", interactive=False, elem_id="overlay", height=360)
                hc = gr.Textbox(label="Head circumference (DICOM: and the pixel size used)",
                                elem_id="hc", lines=2, interactive=False)
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
        # The override, DICOM and frame inputs come last, with defaults: API callers may omit them.
        # Gradio reads the defaults from the handler's signature (a lambda *args has none).
        submit.click(functools.partial(_handle, runner, retention_s),
                     inputs=[image, pixel_size, ga, override, dicom_file, frame],
                     outputs=[overlay, hc, ga_out, centile, review, row, elapsed],
                     api_name=API_NAME, preprocess=False,
                     concurrency_limit=getattr(runner, "size", 1))
    return app


def _guard_middleware(host: str) -> Any:
    """The Host check and anti-framing headers (`guard.HostAndFrameGuard`) for a server on `host`."""
    from starlette.middleware import Middleware  # Gradio's

    return Middleware(guard.HostAndFrameGuard, allowed=guard.allowed_hosts(host))


def launch(app: Any, host: str = defaults.DEMO_HOST, port: int = defaults.DEMO_PORT,
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
    # quiet: Gradio would also suggest a public share link, which this demo never makes.
    if block:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        print(f"hc-tf demo: serving on http://{shown}:{int(port)}/ (Ctrl+C stops it)", flush=True)
    _, local_url, _ = app.launch(
        server_name=host, server_port=int(port), share=False, inbrowser=False,
        prevent_thread_lock=not block, show_error=True, quiet=True,
        max_file_size=images.max_input_bytes(), allowed_paths=list(allowed_paths),
        ssr_mode=False, mcp_server=False,
        app_kwargs={"middleware": [_guard_middleware(host)]})
    return local_url


def serve(model_path: Optional[str] = None, host: str = defaults.DEMO_HOST, port: int = defaults.DEMO_PORT,
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
    private = contextlib.ExitStack()  # uploads and overlays: this user's only, removed on exit
    private.enter_context(guard.private_temp_dir())
    if not block:
        atexit.register(private.close)
    with private if block else contextlib.nullcontext():
        app = build_app(pool, examples, model_name=os.path.basename(model_path))
        url = launch(app, host=host, port=port, block=block,
                     allowed_paths=sorted({os.path.dirname(p) for p, _ in examples}))
    return app, url
