"""The HC18 challenge's submission format: rows, their inverse and the CSV."""

from __future__ import annotations

import csv
import io
import math
import os
from typing import Any, Iterable, List, Mapping, Sequence, Tuple, Union

from hc_tf.io import atomic as io_utils
from hc_tf.io import tables
from hc_tf.measure.geometry import Ellipse
from hc_tf.measure.geometry import wrap_pi
from hc_tf.measure.pixel_size import positive_pixel_size
from hc_tf.measure.result import Measurement

# ----------------------------------------------------------------------------
# HC18 submission rows.
#
# HC18 (hc18.grand-challenge.org) wants one CSV row per test image with
# SUBMISSION_HEADER as the first row, in mm, in the natural image frame: x along
# the image columns, y along the rows (pointing down), center = pixel size x
# pixel coordinates (pixel centres at integers), and angle_rad the direction of
# semi-axis a, measured from +x towards +y, in [0, pi). That is this module's own
# ellipse convention scaled to mm, the usual x = column of imaging toolkits, and
# what leaderboard-scored submission code writes, e.g.
#   github.com/Jonas1312/ChallengeHC18, src/models/generate_csv.py (scored 1.91 mm):
# it fits cv2.fitEllipse to np.argwhere(mask), i.e. to (row, col) pairs, so its
# ((xx, yy), (w, h), deg) has xx the row and yy the column, and it writes
#   center_x_mm = yy * px (column), center_y_mm = xx * px (row),
#   semi_axes_a_mm = h / 2 * px, semi_axes_b_mm = w / 2 * px,
#   angle_rad = (-deg * pi / 180) mod pi,
# where cv2's h-axis, (-sin, cos)(deg) in (row, col), is (cos, -sin)(deg) in
# (x, y): at -deg from +x towards +y, as written. tests/measure_test.py
# re-implements that pipeline and compares rows. The grader's code is not public;
# HC (and so the ranking's ADF) uses a and b symmetrically; we write a >= b.
# Not-found images get a row of zeros (HC 0 mm: scored as a miss, as it should
# be); never NaN, which could break or skip the grader's parsing.
# ----------------------------------------------------------------------------

SUBMISSION_HEADER: Tuple[str, ...] = ("filename", "center_x_mm", "center_y_mm",
                                      "semi_axes_a_mm", "semi_axes_b_mm", "angle_rad")


def submission_row(filename: str, m: Measurement) -> List[Union[str, float]]:
    """One HC18 submission row (see the convention above).

    Args:
      filename: the test image's file name, e.g. "000_HC.png".
      m: its measurement.

    Returns:
      [filename, center_x_mm, center_y_mm, semi_axes_a_mm, semi_axes_b_mm,
      angle_rad]; zeros after the filename when nothing was found.
    """
    if not m.found:
        return [filename, 0.0, 0.0, 0.0, 0.0, 0.0]
    e, px = m.ellipse, m.pixel_size_mm
    return [filename, e.cx * px, e.cy * px, e.a * px, e.b * px, wrap_pi(e.angle)]


def ellipse_from_submission_row(row: Union[Sequence[Any], Mapping[str, Any]],
                                pixel_size_mm: float) -> Ellipse:
    """The inverse of `submission_row`: the ellipse in pixels (our convention).

    Args:
      row: a sequence [filename, 5 values] or [5 values], or a mapping with the
        SUBMISSION_HEADER keys (a csv.DictReader row); values may be strings.
      pixel_size_mm: the image's pixel size.

    Returns:
      The normalized `Ellipse`.

    Raises:
      ValueError: for a malformed row, non-finite values, an all-zero
        (not-found) row, or a bad pixel size.
    """
    px = positive_pixel_size(pixel_size_mm)
    if isinstance(row, Mapping):
        values = [row.get(k) for k in SUBMISSION_HEADER[1:]]
    else:
        values = list(row)
        if len(values) == 6:
            values = values[1:]
    if len(values) != 5:
        raise ValueError(f"a submission row has 5 values after the filename, got {row!r}")
    try:
        cx_mm, cy_mm, a_mm, b_mm, angle = (float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"submission row values must be numbers, got {row!r}") from None
    if not all(math.isfinite(v) for v in (cx_mm, cy_mm, a_mm, b_mm, angle)):
        raise ValueError(f"submission row has non-finite values: {row!r}")
    if a_mm <= 0 or b_mm <= 0:
        raise ValueError(f"submission row has no ellipse (semi-axes {a_mm}, {b_mm}): {row!r}")
    return Ellipse(cx=cx_mm / px, cy=cy_mm / px, a=a_mm / px, b=b_mm / px,
                   angle=wrap_pi(angle)).normalized()


def write_submission_csv(path: Union[str, os.PathLike],
                         rows: Iterable[Sequence[Union[str, float]]]) -> None:
    """Writes the HC18 submission CSV atomically (temporary sibling + os.replace).

    Args:
      path: destination file.
      rows: rows from `submission_row`.

    Raises:
      ValueError: for a row without 6 fields or with a non-finite value; the
        destination is then left untouched.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(SUBMISSION_HEADER)
    for row in rows:
        row = list(row)
        if len(row) != len(SUBMISSION_HEADER):
            raise ValueError(f"a submission row has {len(SUBMISSION_HEADER)} fields, got {row!r}")
        values = [float(v) for v in row[1:]]
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"submission row has non-finite values: {row!r}")
        # repr: exact round trip; the name as every CSV's text cell (a spreadsheet's formula)
        writer.writerow([tables.text_cell(str(row[0]))] + [repr(v) for v in values])
    io_utils.atomic_write_text(os.fspath(path), buf.getvalue())

