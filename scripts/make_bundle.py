"""Regenerates android_demo_assets/: the int8 model, its metadata, samples, goldens.

    python scripts/make_bundle.py --tflite export/hc_effunet_int8.tflite \
        [--hc18 ../shared/hc18] [--out android_demo_assets] [--samples 000_HC.png ...]

Copies the int8 .tflite and its .json (hc_tf.lite.export writes both) as
hc_effunet_int8.tflite / hc_effunet_int8.json, copies 4 HC18 test images into
samples/, runs the edge runtime (hc_tf.edge.LiteRunner + hc_tf.ellipse.measure)
on each and writes golden.json: what an app port must reproduce. README.md in
the bundle is kept (it documents these fixed names). tests/bundle_test.py
re-runs the runtime against golden.json. No TensorFlow needed.
"""

import argparse
import csv
import dataclasses
import hashlib
import json
import os
import shutil
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from hc_tf import __version__  # noqa: E402
from hc_tf import edge  # noqa: E402
from hc_tf import ellipse as ellipse_lib  # noqa: E402
from hc_tf import evaluate  # noqa: E402
from hc_tf import preprocess  # noqa: E402

MODEL_NAME = "hc_effunet_int8.tflite"
META_NAME = "hc_effunet_int8.json"
DEFAULT_SAMPLES = ("000_HC.png", "001_HC.png", "002_HC.png", "003_HC.png")
ATTRIBUTION = ("HC18 grand challenge test images: T. L. A. van den Heuvel, D. de Bruijn, "
               "C. L. de Korte, B. van Ginneken, 'Automated measurement of fetal head "
               "circumference using 2D ultrasound images', Zenodo, doi:10.5281/zenodo.1322001, "
               "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/). Unmodified copies.")


sha256_file = edge.sha256_file


def mask_sha256(prob):
    """sha256 of (prob > 0.5) as uint8 0/1, model size, row-major (H * W bytes)."""
    return hashlib.sha256(np.ascontiguousarray(prob > 0.5, dtype=np.uint8).tobytes()).hexdigest()


def golden_entry(runner, image_path, filename, pixel_size_mm):
    """What the runtime gives for one image: the measurement and the mask checksum."""
    gray = preprocess.read_gray_image(image_path)
    prob, box = edge.predict_prob(runner, gray)
    m = ellipse_lib.measure(prob, box, pixel_size_mm)
    row = ellipse_lib.submission_row(filename, m)
    return {
        "filename": filename, "pixel_size_mm": pixel_size_mm,
        "image_hw": list(gray.shape), "image_sha256": sha256_file(image_path),
        "letterbox": {k: float(v) if isinstance(v, float) else v
                      for k, v in dataclasses.asdict(box).items()},
        "found": m.found, "reason": m.reason,
        "ellipse_px": dataclasses.asdict(m.ellipse) if m.found else None,
        "submission_row": dict(zip(ellipse_lib.SUBMISSION_HEADER, row)),
        "hc_mm": m.hc_mm,
        "mask_sha256": mask_sha256(prob), "mask_pixels": int((prob > 0.5).sum()),
    }


def read_pixel_sizes(csv_path):
    with open(csv_path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        return {r[0]: float(r[1]) for r in reader if r}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tflite", required=True, help="the int8 .tflite (its .json alongside)")
    p.add_argument("--hc18", default=os.path.join(REPO, "..", "shared", "hc18"),
                   help="HC18 release folder (test_set/, test_set_pixel_size.csv)")
    p.add_argument("--out", default=os.path.join(REPO, "android_demo_assets"))
    p.add_argument("--samples", nargs="+", default=list(DEFAULT_SAMPLES))
    p.add_argument("--num-threads", type=int, default=2)
    args = p.parse_args(argv)

    meta_src = os.path.splitext(args.tflite)[0] + ".json"
    for path in (args.tflite, meta_src):
        if not os.path.isfile(path):
            p.error(f"{path}: not found (run hc-tf export --mode int8 first)")
    with open(meta_src) as f:
        meta = json.load(f)
    if meta.get("mode") != "int8":
        p.error(f"{meta_src}: mode is {meta.get('mode')!r}; the bundle ships the int8 model")
    sizes = read_pixel_sizes(os.path.join(args.hc18, "test_set_pixel_size.csv"))

    os.makedirs(os.path.join(args.out, "samples"), exist_ok=True)
    model_dst = os.path.join(args.out, MODEL_NAME)
    shutil.copyfile(args.tflite, model_dst)
    shutil.copyfile(meta_src, os.path.join(args.out, META_NAME))
    runner = edge.LiteRunner(model_dst, num_threads=args.num_threads)
    entries = []
    for name in args.samples:
        if name not in sizes:
            p.error(f"{name}: not in test_set_pixel_size.csv")
        dst = os.path.join(args.out, "samples", name)
        shutil.copyfile(os.path.join(args.hc18, "test_set", name), dst)
        entries.append(golden_entry(runner, dst, name, sizes[name]))
        e = entries[-1]
        print(f"{name}: HC {e['hc_mm']:.2f} mm" if e["found"] else f"{name}: not found ({e['reason']})")
    golden = {
        "format": "hc-tf android bundle golden v1",
        "hc_tf_version": __version__,
        "model": MODEL_NAME, "model_sha256": sha256_file(model_dst), "metadata": META_NAME,
        "input_hw": list(runner.input_hw), "threshold": 0.5,
        "mask_checksum": "sha256 of (probability > 0.5) as uint8 0/1 bytes, model input size, "
                         "row-major (H*W bytes); for the uint8 output: q > 128",
        "tolerance": {"hc_mm": 1e-3},
        "attribution": ATTRIBUTION,
        "samples": entries,
    }
    evaluate.atomic_write_text(os.path.join(args.out, "golden.json"),
                               json.dumps(golden, indent=2) + "\n")
    print(f"bundle written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
