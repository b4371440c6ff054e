"""hc-tf: fetal head circumference measurement on 2D ultrasound."""

import os as _os

from hc_tf import defaults as _defaults

__version__ = "0.1.0"
# The embedded HC18 sample (package data): `prepare`'s default, and images the released model
# trained on.
SAMPLE_DIR = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "sample_data")


def _set_opencv_pixel_guard() -> None:
    """OpenCV's own decoder guard, a backstop behind the header check of `hc_tf.io.images`.

    OpenCV reads OPENCV_IO_MAX_IMAGE_PIXELS once, when cv2 is imported, so it is set here,
    before any hc_tf module imports cv2 (set later, it did nothing). It is never tighter than
    the project's limit (HC_TF_MAX_INPUT_PIXELS raises it; an invalid value is left for
    `images.check_limits` to refuse in words) nor looser than the default; a value the user
    set is kept. A program that imported cv2 before hc_tf keeps OpenCV's own limit.
    """
    limit = _defaults.MAX_INPUT_PIXELS
    text = _os.environ.get("HC_TF_MAX_INPUT_PIXELS", "").strip()
    if text.isdigit():
        limit = max(limit, int(text))
    _os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(limit))


_set_opencv_pixel_guard()
