"""`hc-tf predict` in one process vs `hc-tf predict --beam` on the DirectRunner, same images.

    python benchmarks/beam_predict_benchmark.py --hc18 ../shared/hc18 [--images 100] \
        [--model hc_tf/models/hc_effunet_int8.tflite] [--workers 2]

Measures the first --images HC18 test images (pixel sizes from test_set_pixel_size.csv)
three ways, each end to end as a user runs it (model loading, pipeline start-up, writing
the outputs all included): predict in one process (2 interpreter threads, and it also
writes overlay PNGs), Beam's DirectRunner in process (1 worker), and the DirectRunner with
--workers worker processes (multi_processing, 1 interpreter thread each). Prints images/s
for each and checks that all three wrote the same submission.csv and report.csv.
"""

import argparse
import functools
import logging
import os
import sys
import tempfile
import time


from hc_tf.surfaces import beam_predict
from hc_tf.io import hc18_csv
from hc_tf.surfaces import predict as predict_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hc18", required=True, help="HC18 folder (test_set/ and its CSV)")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--model", default=os.path.join(REPO, "hc_tf", "models", "hc_effunet_int8.tflite"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # Beam's start-up chatter; errors still raise

    csv_path = os.path.join(args.hc18, hc18_csv.TEST_CSV)
    rows = hc18_csv.read_hc18_csv(csv_path).rows[:args.images]
    images = [os.path.join(args.hc18, "test_set", r.filename) for r in rows]
    common = dict(pixel_csv=csv_path)
    runs = {
        "predict, one process": lambda out: predict_lib.predict_files(
            args.model, images, out, **common),
        "Beam DirectRunner, in process (1 worker)": lambda out: beam_predict.predict_files(
            args.model, images, out, ["--runner=DirectRunner", "--direct_num_workers=1"],
            **common),
        f"Beam DirectRunner, multi_processing, {args.workers} workers":
            lambda out: beam_predict.predict_files(
                args.model, images, out,
                ["--runner=DirectRunner", "--direct_running_mode=multi_processing",
                 f"--direct_num_workers={args.workers}"], **common),
    }
    print(f"{len(images)} HC18 test images, {os.path.basename(args.model)}, "
          f"{os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        outs = []
        for i, (name, run) in enumerate(runs.items()):
            out = os.path.join(tmp, f"out{i}")
            seconds = timed(functools.partial(run, out))
            outs.append(out)
            print(f"{name:55s} {seconds:6.1f} s  {len(images) / seconds:6.1f} images/s")
        same = all(read(os.path.join(o, n)) == read(os.path.join(outs[0], n))
                   for o in outs[1:] for n in ("submission.csv", "report.csv"))
        print(f"same submission.csv and report.csv in all three: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
