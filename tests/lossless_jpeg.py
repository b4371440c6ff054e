"""Test helper: a JPEG Lossless (Process 14) encoder written from ITU-T T.81 alone, one sample
at a time, so that tests can make scans no other encoder here makes (restart intervals, a point
transform, a table of their choosing) and check readers against it (no test functions)."""

import numpy as np

# T.81 Table K.3 (luminance DC): categories 0-11, plenty for 8-bit differences.
BITS = bytes([0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
VALUES = bytes(range(12))


def image(rows=24, columns=32, seed=0):
    """8-bit gray with edges, gradients and noise: every category a selection value may need."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:rows, :columns]
    ring = (np.hypot(y - rows / 2, x - columns / 2) < rows / 3) * 120
    return np.clip(ring + 3 * x + rng.integers(-20, 21, (rows, columns)), 0, 255).astype(np.uint8)


def _huffman_codes(bits, values):
    """Annex C: value -> (code, length) of a table (BITS, HUFFVAL)."""
    codes, code, k = {}, 0, 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            codes[values[k]] = (code, length)
            code, k = code + 1, k + 1
        code <<= 1
    return codes


def _predict(x, r, c, first_row, predictor, pt):
    """H.1.2.1, one sample at a time."""
    if first_row:
        return 1 << (8 - pt - 1) if c == 0 else x[r][c - 1]
    if c == 0:
        return x[r - 1][c]
    a, b, d = x[r][c - 1], x[r - 1][c], x[r - 1][c - 1]
    return {1: a, 2: b, 3: d, 4: a + b - d, 5: a + ((b - d) >> 1), 6: b + ((a - d) >> 1),
            7: (a + b) >> 1}[predictor]


def _entropy_bytes(bits):
    """A bit string padded with ones to a byte, 0xFF stuffed with 0x00 (F.1.2.3, B.1.1.5)."""
    bits += "1" * (-len(bits) % 8)
    out = bytearray()
    for i in range(0, len(bits), 8):
        out.append(int(bits[i:i + 8], 2))
        if out[-1] == 0xFF:
            out.append(0)
    return bytes(out)


def lossless_jpeg(gray, predictor=1, restart_rows=0, pt=0, table=(BITS, VALUES)):
    """A JPEG Lossless (Process 14) codestream of 8-bit `gray`, coded sample by sample."""
    codes, rows, columns = _huffman_codes(*table), *gray.shape
    x = [[int(v) >> pt for v in row] for row in gray]
    pieces, bits = [], ""
    for r in range(rows):
        if restart_rows and r and r % restart_rows == 0:
            pieces.append(_entropy_bytes(bits))
            bits = ""
        first_row = r % (restart_rows or rows) == 0
        for c in range(columns):
            diff = x[r][c] - _predict(x, r, c, first_row, predictor, pt)
            category = abs(diff).bit_length()
            code, length = codes[category]
            extra = diff if diff >= 0 else diff + (1 << category) - 1
            bits += format(code, f"0{length}b") + (format(extra, f"0{category}b") if category else "")
    pieces.append(_entropy_bytes(bits))
    data = b"".join(piece + (bytes([0xFF, 0xD0 + i % 8]) if i < len(pieces) - 1 else b"")
                    for i, piece in enumerate(pieces))
    sof = bytes([0xFF, 0xC3, 0, 11, 8]) + rows.to_bytes(2, "big") + columns.to_bytes(2, "big") + bytes([1, 1, 0x11, 0])
    dht = bytes([0xFF, 0xC4, 0, 2 + 1 + 16 + len(table[1]), 0x00]) + table[0] + table[1]
    dri = bytes([0xFF, 0xDD, 0, 4]) + (restart_rows * columns).to_bytes(2, "big") if restart_rows else b""
    sos = bytes([0xFF, 0xDA, 0, 8, 1, 1, 0x00, predictor, 0, pt])
    return b"\xff\xd8" + sof + dht + dri + sos + data + b"\xff\xd9"
