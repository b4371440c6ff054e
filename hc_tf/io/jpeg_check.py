"""A JPEG file checked whole by libjpeg-turbo, strictly, before OpenCV decodes its pixels.

OpenCV's decoder (libjpeg-turbo too) only warns of "Premature end of JPEG file", "Corrupt JPEG
data: premature end of data segment", "N extraneous bytes before marker" and the like, and fills
what it could not decode with gray: predict would measure a damaged image. A browser's decoder
refuses some of those files and decodes others (fuzzed copies went either way). So the rule is
the one DICOM JPEG frames already follow on both sides (`dicom_frames`): libjpeg-turbo through
simplejpeg with `strict=True` (a warning is an error), here and in the web app (its wasm build
of libjpeg-turbo, web_app/src/core/jpeg_check.js). The check decodes and drops the pixels:
OpenCV's stay the ones measured (the app's equality tests rely on them). 12-bit JPEGs never get
here: Pillow's header read refuses them first.
"""

from __future__ import annotations

import re
from typing import Optional

JPEG_MAGIC = b"\xff\xd8\xff"
DAMAGE = "the JPEG data is corrupt"
_MAX_SAID = 80  # characters of libjpeg's message kept


def _said(err: Exception) -> str:
    """libjpeg's message, short: TurboJPEG's "tjFunction(): " prefix dropped, one line."""
    text = re.sub(r"^tj\w*\(\):\s*", "", " ".join(str(err).split()))
    return text[:_MAX_SAID].rstrip() or "no reason given"


def jpeg_damage(data: bytes) -> Optional[str]:
    """None when `data` is not a JPEG or libjpeg-turbo decodes it without a warning, else why
    not ("the JPEG data is corrupt: <libjpeg's message>").

    Gray output, whatever the file's colour space (libjpeg-turbo turns YCbCr, RGB and CMYK to
    gray): every component is still entropy-decoded, where the damage shows (gray and RGB
    output gave the same verdicts on 300 fuzzed copies, gray and colour), with no chroma
    upsampling or colour conversion. The header is not read apart: decode_jpeg_header would
    say "Could not determine subsampling level" where decode_jpeg names the damage.
    """
    if not data.startswith(JPEG_MAGIC):
        return None
    import simplejpeg  # a base requirement (setup.cfg): the rule is libjpeg-turbo's

    try:
        simplejpeg.decode_jpeg(data, colorspace="GRAY", fastdct=True, fastupsample=True, strict=True)
    except (ValueError, RuntimeError) as err:  # simplejpeg's refusals
        return f"{DAMAGE}: {_said(err)}"
    return None
