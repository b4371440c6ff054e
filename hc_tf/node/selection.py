r"""Which received images the node measures: `[node] frames` and `[node] measure_only`.

The model was trained on fetal heads in the HC plane and has no way to say "not a head", so
a node that is sent (or pulls) every ultrasound image of an exam would file an HC for the
abdomen and the femur too. `measure_only` names DICOM attributes and a regular expression
each; an image is measured when every one matches (re.search) the attribute's text, so a
department that labels its head images (a series description, a protocol name, an image
comment) keeps the rest out of the PACS's HC results:

    [node.measure_only]
    SeriesDescription = '(?i)\b(head|hc|bpd)\b'   # TOML's single quotes keep backslashes

An image left out is acknowledged and journalled with the attribute's keyword (never its
value: it may hold patient data), no SR.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping, Optional, Tuple

# What a rule reads of a value: a DICOM text value is at most 1024 characters (LT, ST) unless
# it is UT; a bound keeps a pattern's work on an untrusted file's value bounded too.
MAX_VALUE_CHARS = 1024
Rules = Tuple[Tuple[str, str], ...]


@dataclasses.dataclass(frozen=True)
class Selection:
    frames: str = "all"  # "single": a multi-frame file (a cine loop) is not measured
    measure_only: Rules = ()

    def why_not(self, header: Any) -> Optional[str]:
        """None when the image (a dicom.Header) is to be measured, else why not, in words."""
        if self.frames == "single" and header.frames > 1:
            return (f"not measured: {header.frames} frames (a cine loop) and [node] frames = "
                    "\"single\"")
        for keyword, pattern in self.measure_only:
            if not re.search(pattern, attribute_text(header.dataset, keyword)):
                return f"not measured: {keyword} does not match [node] measure_only"
        return None


EVERY_IMAGE = Selection()  # the default: every frame of every image measured


def attribute_text(ds: Any, keyword: str) -> str:
    """The attribute's value as text (values of a multi-valued one joined by backslashes, as
    DICOM writes them), "" when absent; at most MAX_VALUE_CHARS."""
    from pydicom.multival import MultiValue
    value = ds.get(keyword)
    if value is None:
        return ""
    text = "\\".join(str(v) for v in value) if isinstance(value, MultiValue) else str(value)
    return text[:MAX_VALUE_CHARS]


def check_rules(rules: Any) -> Rules:
    """`[node] measure_only` as (keyword, pattern) pairs, in the file's order.

    Raises:
      ValueError: naming the key, for a table that is not one, a name that is not a DICOM
        keyword, a sequence (it has no text), or a pattern that is not a regular expression.
    """
    if not isinstance(rules, Mapping):
        raise ValueError(f"{rules!r}: a table of DICOM keyword = \"regular expression\"")
    from pydicom import datadict
    checked = []
    for keyword, pattern in rules.items():
        tag = datadict.tag_for_keyword(keyword)
        if tag is None:
            raise ValueError(f"{keyword!r} is not a DICOM keyword (e.g. SeriesDescription)")
        if datadict.dictionary_VR(tag) == "SQ":
            raise ValueError(f"{keyword} is a sequence: name an attribute with a text value")
        if not isinstance(pattern, str):
            raise ValueError(f"{keyword} = {pattern!r}: a regular expression in quotes")
        try:
            re.compile(pattern)
        except re.error as err:
            raise ValueError(f"{keyword} = {pattern!r} is not a regular expression ({err})") \
                from None
        checked.append((keyword, pattern))
    return tuple(checked)
