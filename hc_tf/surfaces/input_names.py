"""Input file names: which can be written to a report, and how to print those that cannot.
The stem rule predict's outputs, its duplicate-name check and `--overwrite` share is
`hc_tf.io.file_names.file_stem`."""

from __future__ import annotations

import os
from typing import List, Sequence, Tuple


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
