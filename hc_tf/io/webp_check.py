"""A WebP file's RIFF chunks walked before it is decoded, for the frames of an animated one.

An animated WebP holds its frames in ANMF chunks (after a VP8X chunk whose animation flag is set
and an ANIM chunk): OpenCV and a browser's canvas read its first frame and say nothing of the
others. The walk is by the chunks' lengths (each padded to an even size), bounded by the file;
the same in the web app (web_app/src/core/frames_check.js).
"""

from __future__ import annotations

import struct

_ANIMATION_FLAG = 0x02  # in the VP8X chunk's first byte


def frame_count(data: bytes) -> int:
    """The frames of an animated WebP (its ANMF chunks; 1 for a VP8X chunk that says it is
    animated without any); 0 for a WebP that is not animated, or a file that is not a WebP."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return 0
    at, frames, animated = 12, 0, False
    while at + 8 <= len(data):
        kind, (size,) = data[at:at + 4], struct.unpack("<I", data[at + 4:at + 8])
        if kind == b"VP8X" and size >= 1 and at + 8 < len(data):
            animated = bool(data[at + 8] & _ANIMATION_FLAG)
        frames += kind == b"ANMF"
        at += 8 + size + (size & 1)
    return max(frames, 1) if animated or frames else 0
