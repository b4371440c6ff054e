"""Input file names: which can be written to a report, and how to print those that cannot.
The stem rule predict's outputs, its duplicate-name check and `--overwrite` share is
`hc_tf.io.file_names.file_stem`."""

from __future__ import annotations

import os
import re
from typing import List, Sequence, Tuple


def is_utf8_name(path: str) -> bool:
    """Whether `path` can be written to a UTF-8 report: a name of non-UTF-8 bytes (Latin-1
    from copied media) arrives from os.listdir as lone surrogates, which cannot."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# What a file name may hold that a terminal acts on or a reader takes for a line break: C0 and C1
# controls (LF, CR, ESC...), DEL, Unicode's line and paragraph separators, and the bidirectional
# controls that reorder what is shown. `printable_name` escapes them.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: "re.Match[str]") -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def printable_name(text: str) -> str:
    """A file name, or a line naming one, safe to print: undecodable bytes escaped ("caf\\xe9.png"),
    and so is every control character (`_CONTROLS`: "z\\nunreadable: all good.png" stays one
    line, and "\\x1b[2J" clears no terminal). Every line naming an input on stderr goes through
    it (the CLI's `console.text.echo_err`, its errors, the node's commands); standard library
    only, so the CLI imports it at once."""
    try:
        text = os.fsencode(text).decode("utf-8", "backslashreplace")
    except UnicodeError:  # a surrogate os.fsencode cannot turn back into a byte
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROLS.sub(_escaped, text)


def refuse_non_utf8(paths: Sequence[str]) -> Tuple[List[str], List[Tuple[str, str]]]:
    """(the paths with UTF-8 names, (printable path, error) for each of the others)."""
    refused = [(printable_name(p), f"{printable_name(p)}: the file name is not valid UTF-8; "
                                   "rename it") for p in paths if not is_utf8_name(p)]
    return [p for p in paths if is_utf8_name(p)], refused
