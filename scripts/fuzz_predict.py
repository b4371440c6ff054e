"""Damaged copies of real DICOM and PNG files through `hc-tf predict`: every one must end as a
measured row or a named refusal, never a traceback, a hang or a lost file.

Each copy is one of pydicom's bundled image files (every transfer syntax it ships), an
embedded HC18 sample PNG, or one of those PNGs as a JPEG (gray or colour, baseline or
progressive), cut short or with 1-8 bytes or 4-byte words changed anywhere past the
preamble (headers, lengths, item tags, pixel data); every other PNG has its chunks' CRCs made
right again, so that the damage reaches the decoder rather than the checksum check. Campaigns
of 300-500 DICOM and 300 PNG copies found one bug (a SOP class DICOM does not define stopped
the whole batch); the large test tier runs two fixed-seed ones (tests/fuzz_predict_test.py).

Usage: python scripts/fuzz_predict.py --seed 1 --count 500 --kind dicom --work /tmp/fuzz1
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
from typing import List

import numpy as np

# Words that damage the structure, not only a value: lengths (undefined, zero, huge, one) and
# DICOM's item and delimiter tags.
WORDS = (b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff", b"\x01\x00\x00\x00",
         b"\xfe\xff\x00\xe0", b"\xfe\xff\xdd\xe0")
MAX_SOURCE_BYTES = 400_000  # small files: many copies a minute


def sources(kind: str) -> List[str]:
    """The files to damage: pydicom's bundled images, or the embedded sample's PNGs (JPEGs are
    made from those: `source_bytes`)."""
    if kind == "dicom":
        import pydicom.data
        folder = os.path.join(os.path.dirname(pydicom.data.__file__), "test_files")
        paths = glob.glob(os.path.join(folder, "*.dcm"))
    else:
        root = os.path.join(os.path.dirname(__file__), "..", "hc_tf", "sample_data")
        paths = [p for p in glob.glob(os.path.join(root, "**", "*.png"), recursive=True)
                 if not p.endswith("_Annotation.png")]  # HC18's outlines: predict skips them
    return sorted(p for p in paths if 1000 < os.path.getsize(p) < MAX_SOURCE_BYTES)


def source_bytes(path: str, kind: str, k: int) -> bytes:
    """A source file's bytes; for "jpeg" the PNG encoded as JPEG, colour for odd `k`, every
    third one progressive."""
    if kind != "jpeg":
        with open(path, "rb") as f:
            return f.read()
    import cv2
    gray = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    image = np.dstack([gray, 255 - gray, gray // 2 + 60]) if k % 2 else gray
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, int(k % 3 == 0)])
    return buf.tobytes()


def damaged(data: bytes, rng: np.random.Generator) -> bytes:
    """`data` cut short (15%) or with 1-8 bytes or words changed past the first 128 bytes."""
    out = bytearray(data)
    if rng.random() < 0.15:
        return bytes(out[:int(rng.integers(132, len(out)))])
    for _ in range(int(rng.integers(1, 9))):
        at = int(rng.integers(128, len(out) - 4))
        if rng.random() < 0.5:
            out[at] = int(rng.integers(256))
        else:
            out[at:at + 4] = WORDS[int(rng.integers(len(WORDS)))]
    return bytes(out)


def with_png_crcs(data: bytes) -> bytes:
    """A damaged PNG with each whole chunk's CRC-32 made right again, so the damage gets past
    the checksum check to the decoder (a chunk cut short is left as it is)."""
    import struct
    import zlib
    out, at = bytearray(data), 8
    while at + 12 <= len(out):
        (length,) = struct.unpack(">I", out[at:at + 4])
        end = at + 8 + length
        if end + 4 > len(out):
            break
        out[end:end + 4] = struct.pack(">I", zlib.crc32(out[at + 4:end]))
        at = end + 4
    return bytes(out)


def write_copies(folder: str, kind: str, count: int, seed: int) -> List[str]:
    """`count` damaged copies in `folder`, named <k>_<source name> (no source is overwritten)."""
    rng = np.random.default_rng(seed)
    paths, names = [], sources("png" if kind == "jpeg" else kind)
    os.makedirs(folder, exist_ok=True)
    for k in range(count):
        src = names[int(rng.integers(len(names)))]
        name = os.path.basename(src).replace(".png", ".jpg") if kind == "jpeg" else \
            os.path.basename(src)
        path = os.path.join(folder, f"{k:04d}_{name}")
        with open(path, "wb") as out:
            data = damaged(source_bytes(src, kind, k), rng)
            # half the PNGs with their checksums right: damage the decoder sees, not the CRC
            out.write(with_png_crcs(data) if kind == "png" and k % 2 else data)
        paths.append(path)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--kind", choices=("dicom", "png", "jpeg"), default="dicom")
    parser.add_argument("--work", required=True, help="an empty folder for the copies and OUT")
    parser.add_argument("--timeout-s", type=float, default=1800)
    args = parser.parse_args()
    inputs = write_copies(os.path.join(args.work, "in"), args.kind, args.count, args.seed)
    out = os.path.join(args.work, "out")
    cmd = [sys.executable, "-m", "hc_tf.cli", "predict", os.path.dirname(inputs[0]),
           "--out", out] + (["--pixel-size", "0.1"] if args.kind != "dicom" else [])
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout_s)
    except subprocess.TimeoutExpired:
        print(f"HANG: predict still running after {args.timeout_s:.0f} s")
        return 1
    said = run.stdout + run.stderr
    with open(os.path.join(args.work, "predict.log"), "w") as f:
        f.write(said)
    measured = len(json.load(open(os.path.join(out, "report.json")))["images"]) \
        if os.path.isfile(os.path.join(out, "report.json")) else 0
    refused = said.count("unreadable: ")
    print(f"{len(inputs)} copies: exit {run.returncode}, {measured} report rows, {refused} "
          f"refused; traceback: {'yes' if 'Traceback' in said else 'no'}")
    # exit 1 is fine only as "no image could be measured" (every copy refused, each named)
    nothing = run.returncode == 1 and "Error: no image could be measured" in said
    return 0 if (run.returncode in (0, 3) or nothing) and "Traceback" not in said else 1


if __name__ == "__main__":
    sys.exit(main())
