"""DICOM decode + measure + SR write per image vs the PNG path, on the same heads, one run.

    python -m benchmarks.dicom_benchmark [--hc18 ../shared/hc18] [--images 24]
        [--syntax explicit|rle|jpegls|j2k] [--threads 2]

Each HC18 training head (the embedded sample by default, or --hc18's training_set) is wrapped
once in DICOM (MONOCHROME2, its CSV pixel size as the region calibration, --syntax) outside
the clock. Then, per head, interleaved: the PNG path (decode PNG -> letterbox -> model -> HC)
and the DICOM path (header + calibration + decode -> the same -> region choice -> SR built
and written), each timed; FHIR JSON is timed on its own. Prints the medians per image, the
DICOM/PNG ratio, the largest HC difference between the two paths, and the CPU model.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import cv2


from hc_tf import inference
from hc_tf import preprocess
from hc_tf.io import hc18_csv
from hc_tf.report import dicom_sr
from hc_tf.report import dicom_sr_document
from hc_tf.report import fhir
from hc_tf.report import records as report_lib
from hc_tf.surfaces import dicom_predict
try:  # the tests' fixtures: importable from the repository root, as `python -m benchmarks.X`
    from tests import dicom_files
except ModuleNotFoundError as err:
    if err.name != "tests":
        raise
    sys.exit("run it from the repository root as: python -m benchmarks.dicom_benchmark "
             "(it uses the tests' fixtures, which `python benchmarks/dicom_benchmark.py` cannot import)")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MODEL = os.path.join(REPO, "hc_tf", "models", "hc_effunet_int8.tflite")


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "unknown CPU"
    return next((line.split(":", 1)[1].strip() for line in out.splitlines()
                 if line.startswith("Model name")), "unknown CPU")


def heads(hc18, n):
    """[(png path, pixel size mm)] of the first n training heads."""
    root = hc18 or dicom_files.SAMPLE
    table = hc18_csv.read_hc18_csv(os.path.join(root, "training_set_pixel_size_and_HC.csv"))
    return [(os.path.join(root, "training_set", r.filename), r.pixel_size_mm)
            for r in table.rows[:n]]


def wrap(png, px, syntax, folder):
    from pydicom import uid
    gray = cv2.imread(png, cv2.IMREAD_GRAYSCALE)
    h, w = gray.shape
    ds = dicom_files.dataset([gray], regions=[dicom_files.region((0, 0, w - 1, h - 1), px)])
    target = {"rle": uid.RLELossless, "jpegls": uid.JPEGLSLossless,
              "j2k": uid.JPEG2000Lossless}.get(syntax)
    if target:
        ds.compress(target)
    return dicom_files.save(ds, os.path.join(folder, os.path.basename(png)[:-4] + ".dcm"))


def png_path(runner, png, px):
    t0 = time.perf_counter()
    gray = preprocess.read_gray_image(png)
    t1 = time.perf_counter()
    m = inference.predict_batch(runner, [inference.Sample("x", gray, px)])[0].measurement
    return m, (t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3


def dicom_path(runner, path, run, folder):
    t0 = time.perf_counter()
    [sample] = list(dicom_predict.samples(path, None, None, False))
    t1 = time.perf_counter()
    pred, fields = dicom_predict.finish(runner, inference.predict_batch(runner, [sample])[0])
    t2 = time.perf_counter()
    m = pred.measurement
    record = report_lib.image_record(sample.filename, m)
    sr = dicom_sr.build_sr(sample.header.dataset, None, m.ellipse, m.hc_mm,
                           record["gestational_age"], m.review, m.review_reasons,
                           run.model, *run.next_in_series(fields["dicom"]["study_instance_uid"]),
                           biometry=record["biometry"])
    dicom_sr_document.write_sr(sr, os.path.join(folder, "out.sr.dcm"))
    t3 = time.perf_counter()
    fhir.head_bundle(m.hc_mm, fields["dicom"], None, run.model, m.review, m.review_reasons,
                     biometry=record["biometry"])
    t4 = time.perf_counter()
    return m, [(b - a) * 1e3 for a, b in ((t0, t1), (t1, t2), (t2, t3), (t3, t4))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hc18", default=None, help="HC18 release folder (default: the sample)")
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--syntax", default="explicit",
                        choices=("explicit", "rle", "jpegls", "j2k"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    runner = inference.load_runner(MODEL, num_threads=args.threads)
    run = dicom_predict.run_context(MODEL)
    with tempfile.TemporaryDirectory() as folder:
        pairs = [(png, px, wrap(png, px, args.syntax, folder))
                 for png, px in heads(args.hc18, args.images)]
        png_path(runner, *pairs[0][:2])  # warm-up: interpreter, decoders, imports
        dicom_path(runner, pairs[0][2], run, folder)
        png_ms, dcm_ms, parts, diffs = [], [], [], []
        for png, px, dcm in pairs:
            m_png, dec, meas = png_path(runner, png, px)
            m_dcm, stages = dicom_path(runner, dcm, run, folder)
            png_ms.append(dec + meas)
            dcm_ms.append(sum(stages[:3]))
            parts.append(stages)
            if m_png.found and m_dcm.found:
                diffs.append(abs(m_png.hc_mm - m_dcm.hc_mm))
    med = statistics.median
    stage = [med(p[i] for p in parts) for i in range(4)]
    print(f"CPU: {cpu_model()}; {len(pairs)} heads ({args.hc18 or 'embedded sample'}), "
          f"DICOM {args.syntax}, {args.threads} interpreter threads")
    print(f"PNG   decode+measure:          median {med(png_ms):7.2f} ms/image")
    print(f"DICOM decode+measure+SR write: median {med(dcm_ms):7.2f} ms/image "
          f"(read+decode {stage[0]:.2f}, measure {stage[1]:.2f}, SR {stage[2]:.2f}; "
          f"FHIR JSON {stage[3]:.2f} more)")
    print(f"ratio DICOM/PNG: {med(dcm_ms) / med(png_ms):.2f}x; "
          f"largest HC difference {max(diffs) if diffs else float('nan'):.2e} mm")


if __name__ == "__main__":
    main()
