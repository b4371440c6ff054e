"""Writes `dummy_data/`: a tiny HC18 release (same layout, synthetic images).

Ten subjects (one with a second image, 003_2HC) of two image sizes, one head
running off the image border, and two test images. Each annotation is drawn as HC18 draws
its outlines, a band centred on the ellipse (`hc_tf.measure.draw_outline`), so the ellipse
fitted to it gives back the CSV's HC.
Run: python datasets/hc18/dummy_data_generator.py
"""

import csv
import os

import cv2
import numpy as np

from hc_tf.measure.annotation import draw_outline
from hc_tf.measure.geometry import Ellipse
from hc_tf.measure.geometry import rasterize_ellipse

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dummy_data")


def _image(rng, shape, e):
    img = rng.normal(40, 12, shape)
    img += 120 * rasterize_ellipse(e, shape, filled=False)
    return np.clip(img, 0, 255).astype(np.uint8)


def main():
    rng = np.random.default_rng(0)
    for d in ("training_set", "test_set"):
        os.makedirs(os.path.join(OUT, d), exist_ok=True)
    names = [f"{i:03d}_HC.png" for i in range(10)] + ["003_2HC.png"]
    with open(os.path.join(OUT, "training_set_pixel_size_and_HC.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(["filename", "pixel size(mm)", "head circumference (mm)"])
        for k, name in enumerate(names):
            shape = (54, 80) if k % 3 else (60, 84)
            a = 12 + 2 * k
            # 009 runs off the right border, as large HC18 heads do.
            cx = 40 if name != "009_HC.png" else 62
            e = Ellipse(cx, 28, a, a * 0.75, 0.3 * k).normalized()
            cv2.imwrite(os.path.join(OUT, "training_set", name), _image(rng, shape, e))
            outline = draw_outline(e, shape)
            cv2.imwrite(os.path.join(OUT, "training_set", name[:-4] + "_Annotation.png"), outline)
            pixel = 0.1 + 0.01 * k
            w.writerow([name, f"{pixel:.6f}", f"{e.perimeter() * pixel:.2f}"])
    with open(os.path.join(OUT, "test_set_pixel_size.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(["filename", "pixel size(mm)"])
        for k, name in enumerate(["100_HC.png", "101_HC.png"]):
            e = Ellipse(40, 27, 18, 14, 0.5)
            cv2.imwrite(os.path.join(OUT, "test_set", name), _image(rng, (54, 80), e))
            w.writerow([name, f"{0.12 + 0.01 * k:.6f}"])


if __name__ == "__main__":
    main()
