"""Input file names -> output names: the one rule predict's outputs (overlays, SRs, FHIR), its
duplicate-name check and `--overwrite` share."""

from __future__ import annotations

import os
from typing import List, Sequence, Tuple

from hc_tf.io import dicom

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
# Only these are stripped: a DICOM file named by its UID (1.2.840...498.101) has no extension,
# and os.path.splitext would make every instance of a series the same name.
KNOWN_EXTENSIONS = IMAGE_EXTENSIONS + dicom.DICOM_EXTENSIONS


def file_stem(path: str) -> str:
    """The file's name without a known image or DICOM extension (any case), else whole."""
    name = os.path.basename(path)
    root, ext = os.path.splitext(name)
    return root if ext.lower() in KNOWN_EXTENSIONS else name


def is_utf8_name(path: str) -> bool:
    """Whether `path` can be written to a UTF-8 report: a name of non-UTF-8 bytes (Latin-1
    from copied media) arrives from os.listdir as lone surrogates, which cannot."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable_name(path: str) -> str:
    """`path` with its undecodable bytes escaped ("caf\\xe9.png"), safe to print and write."""
    try:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    except UnicodeError:  # a surrogate os.fsencode cannot turn back into a byte
        return path.encode("utf-8", "backslashreplace").decode("utf-8")


def refuse_non_utf8(paths: Sequence[str]) -> Tuple[List[str], List[Tuple[str, str]]]:
    """(the paths with UTF-8 names, (printable path, error) for each of the others)."""
    refused = [(printable_name(p), f"{printable_name(p)}: the file name is not valid UTF-8; "
                                   "rename it") for p in paths if not is_utf8_name(p)]
    return [p for p in paths if is_utf8_name(p)], refused
