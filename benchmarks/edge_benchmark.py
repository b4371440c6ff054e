"""Size and speed of the TFLite conversions (float32/float16/dynamic/int8) vs Keras.

    python benchmarks/edge_benchmark.py --model export/hc_effunet.keras \
        --data-dir ~/hc-runs/tfds --hc18 ../shared/hc18 [--threads 2] [--runs 20]

Converts each mode into a temporary folder (int8 calibrated on the TFDS train
split, or, without --data-dir, on seeded HC18 training_set images), then prints
per model: file size (MB), single-image latency (the invoke / model call alone,
median of --runs, at least 20, after warm-up) and end-to-end time per image (decode PNG ->
letterbox -> model -> HC, median over --images HC18 test images), and the
int8/float32 ratios. Keras runs with TensorFlow limited to --threads threads.
With --keep-dir, a `model_<mode>.tflite` already there is reused, not converted
again: convert once while the machine is busy, then time on an idle machine.
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np


from hc_tf import edge
from hc_tf.io import hc18_csv
from hc_tf import inference
from hc_tf import preprocess


MODES = ("float32", "float16", "dynamic", "int8")
MIN_RUNS = 20  # fewer invokes: the median moves with whatever else the machine does


def hc18_calibration(hc18, input_hw, n, seed):
    folder = os.path.join(hc18, "training_set")
    names = sorted(f for f in os.listdir(folder) if f.endswith("_HC.png"))
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(names), size=min(n, len(names)), replace=False))
    return np.stack([preprocess.letterbox_image(
        preprocess.read_gray_image(os.path.join(folder, names[i])), input_hw)[0] for i in pick])


def test_images(hc18, n):
    rows = hc18_csv.read_hc18_csv(os.path.join(hc18, hc18_csv.TEST_CSV)).rows
    return [(os.path.join(hc18, "test_set", r.filename), r.pixel_size_mm) for r in rows[:n]]


def median_ms(fn, runs, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def bench_runner(runner, invoke, images, runs):
    path0, _ = images[0]
    boxed, _ = preprocess.letterbox_image(preprocess.read_gray_image(path0), runner.input_hw)
    latency = median_ms(lambda: invoke(boxed), runs)
    e2e, found = [], 0
    for path, px in images:
        inference.measure_file(runner, path, px)  # warm (file cache)
        m, t = inference.measure_file(runner, path, px)
        e2e.append(t["total_ms"])
        found += int(m.found)
    return latency, statistics.median(e2e), found


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="the .keras model")
    p.add_argument("--data-dir", default=None, help="prepared TFDS dir (int8 calibration)")
    p.add_argument("--hc18", required=True, help="the HC18 release folder (its test_set/ and "
                   "CSV for end to end, training_set/ for int8 calibration)")
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--images", type=int, default=10, help="HC18 test images for end-to-end")
    p.add_argument("--n-calibration", type=int, default=None, help="default: lite's default")
    p.add_argument("--keep-dir", default=None,
                   help="keep the .tflite files here (and reuse those already there)")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = p.parse_args(argv)
    if not os.path.isfile(os.path.join(args.hc18, hc18_csv.TEST_CSV)):
        p.error(f"--hc18 {args.hc18}: not an HC18 release folder (no {hc18_csv.TEST_CSV})")
    runs = max(args.runs, MIN_RUNS)
    if runs != args.runs:
        print(f"note: --runs {args.runs} raised to {runs}, the fewest for a steady median",
              file=sys.stderr)

    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from hc_tf.export import export_lib as lite
    from hc_tf.export import convert as lite_convert
    from hc_tf.export import op_report as lite_ops
    from hc_tf.modeling import model as model_lib

    model = model_lib.load_model(args.model)
    hw = lite_convert.model_input_hw(model)
    images = test_images(args.hc18, args.images)
    results = []

    # Keras through a compiled tf.function (an eager model(x) call costs ~0.5 s of
    # Python overhead per image and would say nothing about the network).
    call = tf.function(lambda x: model(x, training=False), jit_compile=False,
                       input_signature=[tf.TensorSpec((1, hw[0], hw[1], 1), tf.float32)])

    class CompiledKeras:
        input_hw = hw

        def predict(self, x):
            return np.stack([np.asarray(call(xi[None].astype(np.float32)))[0, :, :, 0]
                             for xi in np.asarray(x)])

    keras_runner = CompiledKeras()
    lat, e2e, found = bench_runner(keras_runner, lambda x: call(x[None].astype(np.float32)),
                                   images, runs)
    results.append({"model": "keras", "size_mb": os.path.getsize(args.model) / 1e6,
                    "latency_ms": lat, "e2e_ms": e2e, "found": found})

    out_dir = args.keep_dir or tempfile.mkdtemp(prefix="hc_edge_bench_")
    for mode in args.modes:
        path = os.path.join(out_dir, f"model_{mode}.tflite")
        n_calibration = args.n_calibration or lite.DEFAULT_CALIBRATION_SAMPLES
        t = time.perf_counter()
        if args.keep_dir and os.path.exists(path):
            print(f"reusing {path}")
            with open(path, "rb") as f:
                report = lite_ops.op_report(f.read())
        elif mode == "int8" and args.data_dir is None:
            rep = hc18_calibration(args.hc18, hw, n_calibration, 0)
            report = lite.export(model, path, mode, representative=rep)
        else:
            report = lite.export(model, path, mode, data_dir=args.data_dir,
                                 n_calibration=n_calibration)
        convert_s = time.perf_counter() - t
        runner = edge.LiteRunner(path, num_threads=args.threads)

        def invoke(x, r=runner):
            r.interpreter.set_tensor(r._in["index"], r.quantize_input(x))
            r.interpreter.invoke()

        lat, e2e, found = bench_runner(runner, invoke, images, runs)
        results.append({"model": f"tflite_{mode}", "size_mb": os.path.getsize(path) / 1e6,
                        "latency_ms": lat, "e2e_ms": e2e, "found": found,
                        "convert_s": convert_s, "float_ops": len(report["float_ops"])})

    print(f"input {hw[0]}x{hw[1]}, {args.threads} threads, latency = median of {runs} invokes, "
          f"e2e = median over {len(images)} HC18 test images (decode PNG -> HC)")
    print(f"{'model':16s} {'size MB':>9s} {'latency ms':>11s} {'e2e ms':>9s} {'found':>6s} {'float ops':>9s}")
    for r in results:
        print(f"{r['model']:16s} {r['size_mb']:9.2f} {r['latency_ms']:11.1f} {r['e2e_ms']:9.1f} "
              f"{r['found']:>3d}/{len(images):<2d} {r.get('float_ops', ''):>9}")
    by = {r["model"]: r for r in results}
    ratios = {}
    if "tflite_int8" in by and "tflite_float32" in by:
        i8, f32 = by["tflite_int8"], by["tflite_float32"]
        ratios = {"size_int8_over_float32": i8["size_mb"] / f32["size_mb"],
                  "latency_int8_over_float32": i8["latency_ms"] / f32["latency_ms"],
                  "e2e_int8_over_float32": i8["e2e_ms"] / f32["e2e_ms"]}
        print("int8 / float32: size {size_int8_over_float32:.2f}x, latency "
              "{latency_int8_over_float32:.2f}x, end-to-end {e2e_int8_over_float32:.2f}x".format(**ratios))
    if args.keep_dir is None:
        shutil.rmtree(out_dir, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results, "ratios": ratios, "threads": args.threads,
                       "input_hw": list(hw)}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
