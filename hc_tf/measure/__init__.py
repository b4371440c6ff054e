"""The measurement package: probability map -> ellipse -> head circumference in mm.

Every model path (Keras, TFLite, evaluation, demo, the goldens, the app's port)
measures through `measure`, so the full and the edge model are judged by the same
code. NumPy and OpenCV only: importing TensorFlow here is a bug
(tests/import_graph_test.py reads the import graph and says so).

One job per module; this file only names the public API:

  geometry     the `Ellipse` type, perimeter, distances, rasterising
  fit          direct least-squares fit, outlier rejection, geometric refinement
  pixel_size   the one pixel-size validator
  result       `Measurement`, what measuring an image returns
  contour      probability map -> sub-pixel outline points
  probmap      `measure`: the whole measurement, with its shape checks
  image_contrast  whether the model input has the contrast a head needs (blank frames)
  annotation   `fit_outline`: the ellipse an expert's outline image draws; `draw_outline`:
               an ellipse drawn as such an outline
  hc18_format  the HC18 submission rows and CSV
  metrics      Dice, Hausdorff, HC18's DF/ADF, head-size bands
  overlay      drawing a measurement on its image
"""

from hc_tf.measure.annotation import AnnotationError
from hc_tf.measure.annotation import draw_outline
from hc_tf.measure.annotation import fit_outline
from hc_tf.measure.fit import fit_ellipse
from hc_tf.measure.fit import refine_ellipse
from hc_tf.measure.fit import robust_fit_ellipse
from hc_tf.measure.geometry import Ellipse
from hc_tf.measure.geometry import distance_to_outline
from hc_tf.measure.geometry import ellipse_distance
from hc_tf.measure.geometry import ramanujan_perimeter
from hc_tf.measure.geometry import rasterize_ellipse
from hc_tf.measure.hc18_format import SUBMISSION_HEADER
from hc_tf.measure.hc18_format import ellipse_from_submission_row
from hc_tf.measure.hc18_format import submission_row
from hc_tf.measure.hc18_format import write_submission_csv
from hc_tf.measure.metrics import challenge_difference_mm
from hc_tf.measure.metrics import dice
from hc_tf.measure.metrics import hausdorff_mm
from hc_tf.measure.metrics import HEAD_SIZE_BAND_LABELS
from hc_tf.measure.metrics import hc_difference_mm
from hc_tf.measure.metrics import head_size_band
from hc_tf.measure.overlay import draw_overlay
from hc_tf.measure.overlay import overlay_lines
from hc_tf.measure.pixel_size import PLAUSIBLE_PIXEL_SIZE_MM
from hc_tf.measure.pixel_size import ImplausiblePixelSizeError
from hc_tf.measure.pixel_size import check_pixel_size
from hc_tf.measure.probmap import measure
from hc_tf.measure.result import Measurement

__all__ = [
    "AnnotationError", "draw_outline", "fit_outline", "fit_ellipse", "refine_ellipse", "robust_fit_ellipse",
    "Ellipse", "distance_to_outline", "ellipse_distance", "ramanujan_perimeter",
    "rasterize_ellipse", "SUBMISSION_HEADER", "ellipse_from_submission_row", "submission_row",
    "write_submission_csv", "challenge_difference_mm", "dice", "hausdorff_mm",
    "hc_difference_mm", "HEAD_SIZE_BAND_LABELS", "head_size_band", "draw_overlay",
    "overlay_lines", "PLAUSIBLE_PIXEL_SIZE_MM",
    "ImplausiblePixelSizeError", "check_pixel_size", "measure", "Measurement",
]
