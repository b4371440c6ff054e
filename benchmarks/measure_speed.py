"""Times hc_tf.measure.measure on one realistic soft probability map.

A 224x320 map of a head (an 800x540 image's letterbox), soft edges like a
network's sigmoid output; single-threaded OpenCV. Prints the median ms.

    python benchmarks/measure_speed.py [--runs 300]   (at least 200 runs, said when raised)
"""

import argparse
import math
import statistics
import sys
import time

import cv2
import numpy as np

from hc_tf import measure as measure_lib
from hc_tf import preprocess

TARGET_MS = 5.0
MIN_RUNS = 200  # fewer runs: the median moves with whatever else the machine does


def head_probability(box: preprocess.Letterbox, head: measure_lib.Ellipse) -> np.ndarray:
    """Sigmoid of the (first-order) signed distance to `head`, at model size."""
    ys, xs = np.mgrid[0:box.dst_height, 0:box.dst_width].astype(np.float64)
    o = box.to_original(np.stack([xs.ravel(), ys.ravel()], axis=1))
    c, s = math.cos(head.angle), math.sin(head.angle)
    dx, dy = o[:, 0] - head.cx, o[:, 1] - head.cy
    u, v = (dx * c + dy * s) / head.a, (-dx * s + dy * c) / head.b
    grad = np.maximum(2 * np.hypot(u / head.a, v / head.b), 1e-12)
    sd = (u * u + v * v - 1) / grad * box.scale_x
    prob = (1 / (1 + np.exp(sd / 0.8))).reshape(box.dst_height, box.dst_width)
    prob[:int(box.offset_y)] = 0  # letterbox padding
    prob[box.dst_height - int(box.offset_y):] = 0
    return prob.astype(np.float32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    box = preprocess.letterbox_transform((540, 800), (224, 320))
    head = measure_lib.Ellipse(cx=410, cy=260, a=230, b=175, angle=0.35)  # HC18-sized head
    prob = head_probability(box, head)
    for _ in range(10):  # warm-up
        m = measure_lib.measure(prob, box, 0.1)
    runs = max(args.runs, MIN_RUNS)
    if runs != args.runs:
        print(f"note: --runs {args.runs} raised to {runs}, the fewest for a steady median",
              file=sys.stderr)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        measure_lib.measure(prob, box, 0.1)
        times.append((time.perf_counter() - t0) * 1e3)
    med = statistics.median(times)
    print(f"measure 224x320 soft map -> 800x540: median {med:.2f} ms over {len(times)} runs "
          f"(p90 {np.percentile(times, 90):.2f} ms, min {min(times):.2f} ms), "
          f"HC {m.hc_mm:.3f} mm vs true {head.perimeter() * 0.1:.3f} mm; target < {TARGET_MS} ms")
    return 0 if med < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
