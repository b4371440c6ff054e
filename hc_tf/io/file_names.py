"""A file's name without its extension: the one rule for output names (predict) and for
grouping by name (exams, calibration subjects: `source_stem`)."""

from __future__ import annotations

import os
import re

from hc_tf.io import dicom

# The formats the image reader decodes (a file named on the command line is read by content):
# a folder measures the files these name, so it measures what naming each file would.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")
# Only these are stripped: a DICOM file named by its UID (1.2.840...498.101) has no extension,
# and os.path.splitext would make every instance of a series the same name.
KNOWN_EXTENSIONS = IMAGE_EXTENSIONS + dicom.DICOM_EXTENSIONS
_FRAME_SUFFIX = re.compile(r"#[0-9]+\Z")  # a DICOM frame's rows: "scan.dcm#3"


def file_stem(path: str) -> str:
    """The file's name without a known image or DICOM extension (any case), else whole."""
    name = os.path.basename(path)
    root, ext = os.path.splitext(name)
    return root if ext.lower() in KNOWN_EXTENSIONS else name


def source_stem(name: str) -> str:
    """The stem of the file a report row came from: a DICOM frame's row ("scan.dcm#3") is its
    file's, so one file's frames group together."""
    return file_stem(_FRAME_SUFFIX.sub("", os.path.basename(name)))
