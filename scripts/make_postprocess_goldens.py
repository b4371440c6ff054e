"""Writes android_demo_assets/postprocess_golden.json: golden vectors for an app's port.

    python scripts/make_postprocess_goldens.py [--out android_demo_assets/postprocess_golden.json]

Everything is computed by the Python reference (hc_tf.preprocess, hc_tf.measure,
hc_tf.edge): gray conversion, letterbox (every cv2.resize path the letterbox can
take) and `measure` on small synthetic probability maps for the cases the four
bundled samples do not exercise (holes, near-equal and tied blobs, heads cut by
the image or array edge, unequal scales, enlarging letterbox, rejection rules,
outliers near the rejection limit), the contrast check on blank frames and its
limits, plus the int8 model's output on the bundled samples; each found head with
its quality signals, GA and review flag, and crafted heads at model size that the
flag must catch (ragged, blurred, cut by the edge, a notch). A "clinical" section
holds GA, centile, input-check and review-flag cases (hc_tf.clinical,
hc_tf.report.records). Arrays are stored zlib-compressed, base64. Deterministic (fixed seeds).
web_app/test/*.test.js runs the JavaScript port on every vector.
"""

import argparse
import base64
import dataclasses
import hashlib
import json
import math
import os
import types
import zlib

import cv2
import numpy as np


from hc_tf import __version__
from hc_tf import clinical as C
from hc_tf.clinical import biometry as biometry_lib
from hc_tf.clinical import dating as dating_lib
from hc_tf.clinical import intervals as intervals_lib
from hc_tf.report import records as report
from hc_tf import measure as M
from hc_tf.measure import fit as fit_lib
from hc_tf.measure import probmap
from hc_tf import preprocess as P

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BUNDLE = os.path.join(REPO, "android_demo_assets")
OUT_SCALE = np.float32(0.00390625)  # the int8 model's output scale (zero point 0)


def b64z(array: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(np.ascontiguousarray(array, np.uint8).tobytes(), 9)).decode()


def sha(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, np.uint8).tobytes()).hexdigest()


def box_dict(box):
    return dataclasses.asdict(box) if box is not None else None


# ---------------------------------------------------------------- gray

def gray_cases(rng):
    cases = []
    v = np.arange(256, dtype=np.uint8)
    rgb_equal = np.stack([v, v, v], axis=1).reshape(16, 16, 3)
    cases.append(("rgb_r_eq_g_eq_b_all_256_values", rgb_equal))
    cases.append(("rgb_random", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)))
    rgba = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    cases.append(("rgba_random_opaque", rgba))
    # every value where a truncating rule would differ: a dense ramp of colours
    r, g, b = np.meshgrid(np.arange(0, 256, 5), np.arange(0, 256, 7), np.arange(0, 256, 11), indexing="ij")
    ramp = np.stack([r, g, b], axis=-1).reshape(-1, 1, 3).astype(np.uint8)
    ramp = ramp[: (len(ramp) // 64) * 64].reshape(-1, 64, 3)
    cases.append(("rgb_ramp", ramp))
    out = []
    for name, img in cases:
        gray = P.to_gray_uint8(img)
        out.append({"name": name, "height": int(img.shape[0]), "width": int(img.shape[1]),
                    "channels": int(img.shape[2]), "data": b64z(img), "gray": b64z(gray),
                    "gray_sha256": sha(gray)})
    return out


# ---------------------------------------------------------------- letterbox

LETTERBOX = [  # (name, (h0, w0), (H, W), what)
    ("area_2_5x_like_hc18", (54, 80), (24, 32),
     "INTER_AREA, non-integer factor 2.5 (the HC18 800x540 -> 320x216 path)"),
    ("area_fast_2x", (40, 64), (24, 32), "INTER_AREA, exact factor 2 (cv2's integer fast path, (sum + 2) >> 2)"),
    ("area_fast_3x", (60, 96), (24, 32), "INTER_AREA, exact factor 3 (integer fast path, float scale)"),
    ("area_odd_sizes", (77, 101), (24, 32), "INTER_AREA, unequal non-integer factors"),
    ("tall_narrow", (200, 30), (24, 32), "INTER_AREA to 4 x 24, left/right padding"),
    ("extreme_wide", (3, 500), (24, 32), "INTER_AREA to 32 x 1 (the max(1, .) rule)"),
    ("same_size", (24, 32), (24, 32), "no resize (cv2 copies)"),
    ("enlarging", (13, 20), (24, 32), "INTER_LINEAR (nw > w0): 20x13 -> 32x21"),
    ("enlarging_big", (5, 7), (24, 32), "INTER_LINEAR, 7x5 -> 32x23"),
    ("width_same_height_grows", (23, 10), (24, 32),
     "nw == w0 so INTER_AREA is asked for, but the height grows: cv2's area-mode linear weights"),
    ("width_shrinks_height_grows_model_shape", (223, 100), (224, 320),
     "nw == w0 = 100, nh = 224 > 223: INTER_AREA requested while one side grows"),
]


def letterbox_cases(rng):
    out = []
    for name, (h0, w0), (h, w), what in LETTERBOX:
        img = rng.integers(0, 256, (h0, w0), dtype=np.uint8)
        boxed, box = P.letterbox_image(img, (h, w))
        nw = int(round(box.scale_x * w0))
        out.append({"name": name, "what": what, "src_hw": [h0, w0], "dst_hw": [h, w],
                    "image": b64z(img), "box": box_dict(box),
                    "interpolation": "area" if nw <= w0 else "linear",
                    "input": b64z(boxed[:, :, 0]), "input_sha256": sha(boxed[:, :, 0])})
    return out


# ---------------------------------------------------------------- contrast

def _split_levels(n_low: int, low: int, high: int, hw=(224, 320)) -> np.ndarray:
    """A model-size image: its first n_low pixels (row-major) at `low`, the rest at `high`."""
    img = np.full(hw[0] * hw[1], high, np.uint8)
    img[:n_low] = low
    return img.reshape(hw)


def _calipers(gray: np.ndarray) -> np.ndarray:
    img = gray.copy()
    img[100:104, 100:300] = 255  # a caliper line, under 1% of the pixels
    return img


CONTRAST = [
    ("black_frame", lambda: np.zeros((270, 400), np.uint8), "all black: a span of 0"),
    ("gray_frame", lambda: np.full((540, 800), 128, np.uint8), "one gray level"),
    ("gray_frame_with_calipers", lambda: _calipers(np.full((540, 800), 60, np.uint8)),
     "marks on under 1% of the pixels are not contrast"),
    ("uniform_image_in_padding", lambda: np.full((300, 300), 200, np.uint8),
     "the black padding is not the image: a span of 0, not 200"),
    ("span_16_measured", lambda: _split_levels(224 * 160, 100, 116), "span 16: enough"),
    ("span_15_refused", lambda: _split_levels(224 * 160, 100, 115), "span 15: one short"),
    ("tail_716_of_71680_ignored", lambda: _split_levels(716, 0, 128),
     "716 dark pixels: 100 x 716 <= 71680, not more than 1%: lo stays 128"),
    ("tail_717_of_71680_counts", lambda: _split_levels(717, 0, 128),
     "717 dark pixels: more than 1%: lo = 0, span 128"),
]


def contrast_cases(rng):
    """hc_tf.measure.image_contrast on letterboxed inputs: blank frames and the limits' edges."""
    from hc_tf.measure import image_contrast
    noise = ("speckle", lambda: rng.integers(0, 256, (540, 800), dtype=np.uint8), "an image")
    out = []
    for name, make, what in CONTRAST + [noise]:
        boxed, box = P.letterbox_image(make(), (224, 320))
        lo, hi = image_contrast.contrast_levels(boxed, box)
        out.append({"name": name, "what": what, "hw": [224, 320], "input": b64z(boxed[:, :, 0]),
                    "box": box_dict(box), "lo": lo, "hi": hi,
                    "reason": image_contrast.too_uniform_reason(boxed, box) or None})
    return out


# ---------------------------------------------------------------- EXIF orientation

def orientation_cases():
    """PNG files carrying an orientation, and the upright gray predict's reader makes of them
    (hc_tf.io.images.decode_gray): eXIf 1-8, and one XMP tiff:Orientation with no EXIF."""
    import io
    from PIL import Image
    from hc_tf.io import images
    stored = (np.arange(4 * 7).reshape(4, 7) * 9).astype(np.uint8)  # 7 wide, 4 high, no symmetry
    files = []
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        buf = io.BytesIO()
        Image.fromarray(stored).save(buf, format="PNG", exif=exif.tobytes())
        files.append((f"png_exif_{o}", o, "eXIf", buf.getvalue()))
    buf = io.BytesIO()
    Image.fromarray(stored).save(buf, format="PNG")
    xmp = b'<x:xmpmeta><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'
    body = b"iTXt" + b"XML:com.adobe.xmp\0\0\0\0\0" + xmp
    chunk = len(body[4:]).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")
    data = buf.getvalue()
    files.append(("png_xmp_6", 6, "XMP tiff:Orientation", data[:33] + chunk + data[33:]))
    out = []
    for name, o, source, data in files:
        gray = images.decode_gray(data, name)
        out.append({"name": name, "orientation": o, "source": source,
                    "file": base64.b64encode(data).decode("ascii"), "stored_hw": list(stored.shape),
                    "hw": list(gray.shape), "gray": b64z(gray), "gray_sha256": sha(gray)})
    return out


# ---------------------------------------------------------------- measure

def soft_map(hw, inside_fn, sharpness=2.5):
    """uint8 q map: 256 * sigmoid(sharpness * signed distance-ish), like the model's output."""
    h, w = hw
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    s = inside_fn(xs, ys)
    q = np.round(256.0 / (1.0 + np.exp(-sharpness * s)))
    return np.clip(q, 0, 255).astype(np.uint8)


def ellipse_sdf(cx, cy, a, b, angle):
    c, s = math.cos(angle), math.sin(angle)

    def f(xs, ys):
        dx, dy = xs - cx, ys - cy
        u, v = (dx * c + dy * s) / a, (-dx * s + dy * c) / b
        r = np.sqrt(u * u + v * v)
        return (1.0 - r) * min(a, b)  # > 0 inside, about pixels near the outline
    return f


def union(*fns):
    return lambda xs, ys: np.max([f(xs, ys) for f in fns], axis=0)


def measure_traced(q, box, px):
    """M.measure on q / 256, and the contour points plus each outlier round's tightest margin."""
    prob = q.astype(np.float32) * OUT_SCALE
    seen = {}
    original = probmap.robust_fit_ellipse  # the name `measure` calls

    def spy(points, floor_px=1.0, rounds=fit_lib.OUTLIER_ROUNDS):
        seen["points"] = np.array(points, dtype=np.float64)
        seen["floor_px"] = floor_px
        return original(points, floor_px=floor_px, rounds=rounds)

    probmap.robust_fit_ellipse = spy
    try:
        m = M.measure(prob, box, px)
    finally:
        probmap.robust_fit_ellipse = original
    rounds = []
    if "points" in seen:  # replay the rejection rounds to record how close points came to the limit
        pts = seen["points"]
        e = M.fit_ellipse(pts)
        for _ in range(fit_lib.OUTLIER_ROUNDS):
            if e is None:
                break
            d = M.ellipse_distance(e, pts)
            med = float(np.median(d))
            mad = float(np.median(np.abs(d - med)))
            limit = med + max(fit_lib.OUTLIER_MADS * 1.4826 * mad, seen["floor_px"])
            keep = d <= limit
            rounds.append({"n": int(len(pts)), "kept": int(keep.sum()), "limit": limit,
                           "closest_margin": float(np.min(np.abs(d - limit)))})
            if keep.all() or keep.sum() < max(5, len(pts) // 2):
                break
            pts = pts[keep]
            e = M.fit_ellipse(pts) or e
    return m, seen.get("points"), rounds


# The file's format in words (also android_demo_assets/README.md, "postprocess_golden.json").
FIELDS = {
    "gray": "data: the image, height x width x channels uint8, channels in R, G, B(, A) order (not "
            "OpenCV's BGR); gray: the 8-bit gray a port must compute; gray_sha256: its sha256",
    "letterbox": "image: the src_hw gray image; input: the dst_hw model input a port must compute "
                 "(input_sha256 its sha256); box: the letterbox (scale_x, scale_y, offset_x, "
                 "offset_y, src_width, src_height, dst_width, dst_height); interpolation: area or linear",
    "contrast": "input: a letterboxed model input (hw) and its box; lo, hi: the contrast levels; "
                "reason: the refusal, null when the image is measured",
    "orientation": "file: a PNG file's bytes (base64, not zlib) whose orientation (eXIf tag 0x0112, or "
                   "XMP tiff:Orientation with no EXIF) is `orientation`; stored_hw: the stored "
                   "pixels' height x width; gray (hw), gray_sha256: the upright gray image predict "
                   "decodes (hc_tf.io.images.decode_gray), which the letterbox then takes",
    "measure": "q: a model output (hw, p = q / 256); box: its letterbox, null = none (the map is "
               "the image: x = column, y = row, scales 1, one model pixel = one original pixel, "
               "the whole array is the valid rect); pixel_size_mm; found, reason, ellipse_px "
               "(original pixels: cx, cy, a >= b, angle in [0, pi)), hc_mm; mask_sha256: of (q > "
               "128) as 0/1 bytes; n_points: the contour points (Contract 4.4); points_sha256: "
               "sha256 of those points as float64 little-endian, x and y interleaved (x0 y0 x1 y1 "
               "...), in original pixels (after 4.5's mapping), in contour order (4.4: horizontal "
               "pairs row-major, then vertical pairs), before outlier rejection; points_first: the "
               "first 3 [x, y]; outlier_rounds: each rejection round the fit evaluated (4.7, at most "
               "2), replayed: n points in, kept (d <= limit), limit (px), closest_margin = min "
               "|d - limit| over its points (how near a point came to the other side); a round "
               "with kept == n or kept < max(5, floor(n / 2)) dropped nothing and ended them; "
               "quality ... csv_row: the clinical read-outs as golden.json and "
               "report.csv have them (csv_row with a GA from dating of 20.0 weeks)",
    "samples": "as measure, for the bundled samples: q is the int8 model's output on LiteRT's "
               "default XNNPACK path (golden.json's runtime); gray_sha256: the decoded sample; "
               "input_sha256: its letterboxed model input (check a port's input bytes here)",
    "clinical": "GA, centile, GA-entry, interval, biometry, dating and review-flag cases: inputs and "
                "the records hc_tf.report.records writes",
}
TOLERANCE_NOTE = ("for the post-processing of a given q, the arithmetic a faithful float64 port "
                  "repeats (the JavaScript port: within 3e-14 px); golden.json's looser hc_mm 1e-3 "
                  "and quality 1e-9 are pass marks for its end-to-end check, which reaches these "
                  "too when its input bytes and q are exact; angle: compare |d angle| x a with "
                  "ellipse_px, modulo pi")

KNOWN_GA_WEEKS = 20.0  # the GA from dating every case's csv_row is written with


def clinical_fields(name, m):
    """The measurement's quality signals, GA records and review flag, as golden.json has them;
    its HC and GA intervals and biometry (hc_tf.report.records), and its report.csv row with a
    GA from dating of KNOWN_GA_WEEKS."""
    rec = report.image_record(name, m)
    return {**{k: rec[k] for k in ("quality", "gestational_age", "review", "review_reasons",
                                   "hc_interval", "ga_interval", "biometry", "bpd_interval",
                                   "ofd_interval", "cephalic_index_interval",
                                   "corrected_bpd_interval")},
            "csv_row": report.csv_row(report.image_record(name, m, KNOWN_GA_WEEKS))}


def outlier_case(hw, box):
    """An ellipse with a bump merged into it, bump chosen so a point lies close to (not at) the limit."""
    best = None
    for r in np.linspace(1.6, 3.2, 17):
        for dx in np.linspace(0.0, 2.0, 9):
            fn = union(ellipse_sdf(32.3, 24.6, 17.2, 12.9, 0.4), ellipse_sdf(47.5 + dx, 22.0, r, r, 0.0))
            q = soft_map(hw, fn)
            m, pts, rounds = measure_traced(q, box, 0.1)
            if not m.found or not rounds or rounds[0]["kept"] == rounds[0]["n"]:
                continue
            margin = min(rr["closest_margin"] for rr in rounds)
            if margin > 1e-4 and (best is None or margin < best[0]):
                best = (margin, q, float(r), float(dx))
    return best


def measure_cases():
    hw = (48, 64)
    b_hc18 = P.letterbox_transform((540, 800), hw)  # scale 0.08, offset_y 2: rows 2..44 show the image
    b_unequal = P.letterbox_transform((130, 97), hw)  # scale_x 36/97 != scale_y 48/130
    b_enlarge = P.letterbox_transform((30, 40), hw)  # scale 1.6: one model px = 0.625 original px
    b_pad = P.letterbox_transform((540, 300), hw)  # tall image: padding left and right
    b_rows = P.letterbox_transform((200, 800), hw)  # offset_y 16: rows 16..31 show the image
    cases = []

    def add(name, what, q, box, px=0.12, **extra):
        cases.append((name, what, q, box, px, extra))

    el = ellipse_sdf(31.2, 23.7, 19.3, 13.6, 0.3)
    add("clean_ellipse", "a soft ellipse, HC18-like letterbox", soft_map(hw, el), b_hc18)
    q = soft_map(hw, el)
    q[20:23, 28:31] = 40  # a 3x3 hole
    q[27, 36] = 0  # a 1-pixel hole
    q[15:18, 22] = 100  # a thin slit hole
    add("holes", "holes inside the head are filled (4-connected background), their rims are not outline",
        q, b_hc18)
    q = soft_map(hw, el)
    # a pocket reaching inside, connected to the outside only through a diagonal step
    q[10:13, 31:33] = 0
    q[13, 33] = 0
    add("diagonal_pocket", "background touching the outside only diagonally counts as a hole (4-connectivity)",
        q, b_hc18)
    a1 = ellipse_sdf(16.0, 24.0, 10.0, 7.0, 0.0)
    a2 = ellipse_sdf(46.0, 24.0, 10.1, 7.0, 0.0)
    add("two_near_equal_blobs", "two blobs differing by a few pixels: the larger wins",
        soft_map(hw, union(a1, a2), 4.0), b_hc18)
    # identical blobs, B starts a row higher but further right: cv2's block order picks A
    qa = soft_map(hw, ellipse_sdf(14.0, 24.0, 9.0, 6.0, 0.2), 4.0)
    qt = qa.copy()
    qt[:-1, 30:] = np.maximum(qt[:-1, 30:], qa[1:, :-30])
    add("two_equal_blobs_tie", "an exact tie: the component of the earliest 2x2 block (row-pair raster order) wins",
        qt, None)
    add("head_cut_by_image_edge", "the head runs into the letterbox padding: only edges inside the image count",
        soft_map(hw, ellipse_sdf(30.5, 12.0, 20.0, 14.0, -0.2)), b_hc18)
    add("head_cut_by_array_edge", "no letterbox; the head runs off the left edge",
        soft_map(hw, ellipse_sdf(6.0, 25.0, 18.0, 15.0, 0.5)), None, 0.2)
    add("unequal_scales", "scale_x != scale_y: one model pixel is 1 / min(scale_x, scale_y) original px",
        soft_map(hw, ellipse_sdf(32.0, 24.0, 12.0, 16.0, 0.1)), b_unequal, 0.3)
    add("enlarging_letterbox", "scale 1.6 > 1: points map to a smaller original image",
        soft_map(hw, ellipse_sdf(31.0, 25.0, 16.0, 11.0, 2.0)), b_enlarge, 0.5)
    add("padding_left_right", "a tall image's letterbox: padding columns left and right",
        soft_map(hw, ellipse_sdf(32.0, 24.0, 9.0, 14.0, 0.05)), b_pad)
    q = soft_map(hw, ellipse_sdf(21.0, 24.0, 8.0, 12.0, 0.1))
    q[:, :16] = 0  # the image shows columns 18..44: the head spills 2 columns into the padding
    q[:, 45:] = 0
    add("head_cut_at_padded_edge",
        "a head cut by the image's left edge, which the letterbox pads: the mask-vs-ellipse Dice "
        "counts the image area only (not the filled ellipse running on into the padding, nor "
        "the mask's 2 columns of spill there): 1.0, not flagged as a mismatch",
        q, b_pad)
    q = np.zeros(hw, np.uint8)
    q[6:17, 20:28] = 230  # rows 6..16; the image starts at row 16
    add("too_few_points", "most of the region is in the padding: fewer than 20 outline points inside the image",
        q, b_rows)
    add("runaway_axis", "the tip of a 4:1 ellipse 280 px long: the fit's axis exceeds 2x the image size",
        soft_map(hw, ellipse_sdf(-100.0, 24.0, 140.0, 35.0, 0.0)), None)
    add("shallow_arc", "a shallow arc of a huge circle: the fit collapses to a flat ellipse",
        soft_map(hw, lambda xs, ys: 400.0 - np.hypot(xs - 32.0, ys - 436.0)), b_hc18)
    add("too_elongated", "a 6:1 ellipse",
        soft_map(hw, ellipse_sdf(32.0, 24.0, 27.0, 4.5, 0.2), 4.0), b_hc18)
    add("line", "a thin line: minor semi-axis under 2 model px",
        soft_map(hw, ellipse_sdf(32.0, 24.0, 25.0, 1.5, 0.0), 6.0), b_hc18)
    add("speck", "largest region under 50 model px",
        soft_map(hw, ellipse_sdf(30.0, 20.0, 3.0, 2.5, 0.0), 4.0), b_hc18)
    add("empty", "nothing above the threshold", np.full(hw, 128, np.uint8), b_hc18)
    add("full", "everything inside the image above the threshold",
        np.where(np.arange(hw[0])[:, None] % 7 == 3, 200, 129).astype(np.uint8) + np.zeros(hw, np.uint8), b_hc18)
    add("blob_in_right_padding",
        "a region entirely in the right padding: no outline inside the image (empty contour window)",
        soft_map(hw, ellipse_sdf(55.0, 24.0, 7.5, 12.0, 0.0), 4.0), b_pad)
    add("threshold_exact_128", "q == 128 is background (p > 0.5 strictly), q == 129 foreground",
        np.where(soft_map(hw, el) > 128, 129, 128).astype(np.uint8), b_hc18)
    best = outlier_case(hw, b_hc18)
    if best is not None:
        margin, q, r, dx = best
        add("outliers_near_threshold",
            f"an ellipse with a merged bump (r {r:.2f}, shift {dx:.2f}); "
            f"closest point {margin:.2e} px from the rejection limit",
            q, b_hc18, 0.1)
    cases += review_cases()
    out = []
    for name, what, q, box, px, _ in cases:
        m, pts, rounds = measure_traced(q, box, px)
        rec = {"name": name, "what": what, "hw": list(q.shape), "q": b64z(q), "box": box_dict(box),
               "pixel_size_mm": px, "found": m.found, "reason": m.reason,
               "ellipse_px": dataclasses.asdict(m.ellipse) if m.found else None,
               "hc_mm": m.hc_mm, "mask_sha256": sha(q > 128),
               "n_points": None if pts is None else int(len(pts)), "outlier_rounds": rounds,
               **clinical_fields(name, m)}
        if pts is not None:
            rec.update(points_fields(pts))
        out.append(rec)
    return out


def points_fields(pts):
    """The contour points the fit saw (original pixels, contour order) as FIELDS describes them."""
    xy = np.ascontiguousarray(pts, dtype="<f8")  # (N, 2): x0, y0, x1, y1, ... little-endian
    return {"points_sha256": hashlib.sha256(xy.tobytes()).hexdigest(), "points_first": xy[:3].tolist()}


def ragged_sdf(e, amplitude, lobes):
    """An ellipse whose radius swings by `amplitude` px, `lobes` times around."""
    c, s = math.cos(e[4]), math.sin(e[4])

    def f(xs, ys):
        dx, dy = xs - e[0], ys - e[1]
        u, v = (dx * c + dy * s) / e[2], (-dx * s + dy * c) / e[3]
        edge = 1.0 + amplitude / e[3] * np.sin(lobes * np.arctan2(v, u))
        return (edge - np.hypot(u, v)) * e[3]
    return f


def notched_sdf(e, half_angle):
    """An ellipse with a wedge of 2 half_angle (radians, around its +a direction) cut out."""
    inside = ellipse_sdf(*e)

    def f(xs, ys):
        t = np.arctan2(ys - e[1], xs - e[0]) - e[4]
        wedge = np.abs(np.arctan2(np.sin(t), np.cos(t))) - half_angle  # > 0 outside the wedge
        return np.minimum(inside(xs, ys), wedge * 20.0)
    return f


def review_cases():
    """Heads at model size (HC18 letterbox) for the review flag: one it passes, one per reason."""
    hw = (224, 320)
    box = P.letterbox_transform((540, 800), hw)
    head = (158.3, 111.6, 82.4, 63.1, 0.35)
    return [
        ("review_clean", "a clean head: GA in both formulas' ranges, not flagged",
         soft_map(hw, ellipse_sdf(*head)), box, 0.15, {}),
        ("review_ragged", "a wavy outline (radius +-3 px, 23 lobes): flagged as ragged, few inliers",
         soft_map(hw, ragged_sdf(head, 3.0, 23)), box, 0.15, {}),
        ("review_blurred", "a blurred boundary (sigmoid slope 0.5): flagged as unclear",
         soft_map(hw, ellipse_sdf(*head), 0.5), box, 0.15, {}),
        ("review_cut", "a head running off the image's left edge: flagged as cut",
         soft_map(hw, ellipse_sdf(40.0, 112.0, 80.0, 60.0, 0.0)), box, 0.15, {}),
        ("review_notch", "a head with a 70 degree wedge missing: flagged as ragged, mask and ellipse differ",
         soft_map(hw, notched_sdf(head, math.radians(35.0))), box, 0.15, {}),
    ]


# ---------------------------------------------------------------- clinical read-outs

GA_HCS_MM = (45.0, 89.0, 89.4, 97.6, 97.7, 120.0, 150.0, 174.1311707456397, 211.8, 237.6,
             237.7, 260.0, 295.51088029102846, 340.0, 357.6, 357.7, 400.0,
             89.36, 357.665)  # at the bounds' rounding: more decimals, never "89.4 outside 89.4-"
CENTILE_CASES = ((172.5, 20), (150.0, "20+0"), (200.0, "20+3"), (333.9, 40), (309.0, 40.0),
                 (250.0, " 27.5 "), (120.0, "16+6"), (350.0, "41+0"), (95.0, 12),
                 (300.0, "14+0"), (60.0, 20), (170.0, "10.0"),
                 (158.44, 20), (186.52, 20))  # the 2.96th / 97.04th: flagged, never "3.0"
BAD_GA = ("abc", "", "9", "9.99", "46", "45.01", "27+7", "27,5", "100+0", "1e3", "27 + 3 days",
          "1e1", "2.5E1", "nan", "inf", "2_7", "\u0662\u0667", "\u0662\u0667+3")  # text: the two forms only
GA_DAYS = (0.0, 0.49, 0.5, 97.5, 188.5, 189.5, 192.0, 293.99, 294.0)
NAN = "NaN"  # JSON has no NaN: the tests turn this string back into one


def _review_case(what, **signals):
    q = C.QualitySignals(**{k: (math.nan if v == NAN else v) for k, v in signals.items()})
    try:
        review, reasons = C.review_flag(q)
        return {"what": what, "signals": signals, "review": review, "reasons": reasons}
    except ValueError as err:
        return {"what": what, "signals": signals, "error": str(err)}


def review_flag_cases():
    ok = dict(fit_rms_frac=0.01, inlier_fraction=0.8, mask_ellipse_dice=0.99,
              uncertain_band_fraction=0.3, outside_fraction=0.0, hc_mm=180.0)
    t = C.DEFAULT_REVIEW_THRESHOLDS
    return [
        _review_case("all clear", **ok),
        _review_case("each limit itself does not fire", fit_rms_frac=t.max_fit_rms_frac,
                     inlier_fraction=t.min_inlier_fraction,
                     mask_ellipse_dice=t.min_mask_ellipse_dice,
                     uncertain_band_fraction=t.max_uncertain_band_fraction,
                     outside_fraction=t.max_outside_fraction, hc_mm=t.min_hc_mm),
        _review_case("every rule fires, reasons in order", fit_rms_frac=0.05, inlier_fraction=0.1,
                     mask_ellipse_dice=0.5, uncertain_band_fraction=0.9, outside_fraction=0.4,
                     hc_mm=30.0),
        _review_case("HC above the range", **{**ok, "hc_mm": 401.0}),
        _review_case("NaN signals are reasons", **{**ok, "fit_rms_frac": NAN,
                                                   "uncertain_band_fraction": NAN}),
        _review_case("absent signals are skipped", fit_rms_frac=0.02),
        _review_case("no signals", ),
        _review_case("a fraction above 1 is an error", **{**ok, "inlier_fraction": 1.5}),
        _review_case("a negative signal is an error", **{**ok, "fit_rms_frac": -0.1}),
    ]


# (HC mm, signals incl. model_pixel_mm): the model pixel below its floor, inside, above its cap,
# missing and NaN; quality signals a table may use; edges of GA ranges
INTERVAL_CASES = ((0.5, {"model_pixel_mm": 0.14}), (45.0, {"model_pixel_mm": 0.05}),
                  (97.7, {"model_pixel_mm": 0.2}),
                  (150.0, {"fit_rms_frac": 0.01, "model_pixel_mm": 0.3}), (160.0, {}),
                  (174.8, {"inlier_fraction": NAN, "model_pixel_mm": NAN}),
                  (237.6, {"model_pixel_mm": 0.45}), (290.9, {"model_pixel_mm": 0.5}),
                  (333.3, {"mask_ellipse_dice": 0.9, "model_pixel_mm": 0.7}),
                  (357.7, {"model_pixel_mm": 1.5}), (420.0, {"model_pixel_mm": 0.6}),
                  # beyond the calibrated range: a note, no interval (one feature, then two)
                  (250.0, {"mask_ellipse_dice": 0.5, "model_pixel_mm": 0.4}),
                  (300.0, {"inlier_fraction": 0.1, "model_pixel_mm": 1.2}),
                  # a Mondrian table's bin edges (bin i: edges[i-1] <= HC < edges[i])
                  (120.0, {"model_pixel_mm": 0.2}), (199.99, {"model_pixel_mm": 0.3}),
                  (200.0, {"model_pixel_mm": 0.3}), (260.0, {"model_pixel_mm": 0.4}),
                  (900.0, {}),
                  # a GA in range whose HC interval reaches past Hadlock's span (at either end)
                  (352.0, {"model_pixel_mm": 0.6}), (92.0, {"model_pixel_mm": 0.2}))
# semi-axes (mm): normal, dolicho-, brachycephalic, GA from BPD out of range both ways, each band
BIOMETRY_AXES_MM = ((50.0, 40.0), (40.0, 50.0), (60.0, 40.0), (45.0, 41.0), (8.0, 6.0),
                    (80.0, 60.0), (20.0, 16.0), (30.0, 24.5), (40.0, 33.0), (48.0, 39.0),
                    (55.0, 45.0), (62.0, 48.5),
                    # CI 73.96 / 83.04 and a BPD of 13.97 weeks: flagged, never printed as the limit
                    (50.0, 36.98), (50.0, 41.52), (14.0, 11.8))


def interval_cases():
    """HC intervals and the GA intervals they imply (records.interval_record / ga_interval_records)."""
    out = []
    for hc, sig in INTERVAL_CASES:
        signals = {k: (math.nan if v == NAN else v) for k, v in sig.items()}
        note = intervals_lib.beyond_calibration(hc, signals)  # as Measurement.hc_interval
        iv = None if note else intervals_lib.hc_interval(hc, signals)
        m = types.SimpleNamespace(hc_interval=lambda iv=iv: iv, found=True, no_interval_reason=note)
        out.append({"hc_mm": hc, "signals": sig, "record": report.interval_record(m),
                    "ga_interval": report.ga_interval_records(m)})
    return out


def biometry_cases():
    """records.biometry_record of a head's semi-axes in mm."""
    return [{"semi_axes_mm": [a, b], "record": report.biometry_record(biometry_lib.biometry_from_axes(a, b))}
            for a, b in BIOMETRY_AXES_MM]


def clinical_cases():
    """GA, centile, GA entry and review-flag cases from hc_tf.clinical / hc_tf.report.records."""
    ga = []
    for hc in GA_HCS_MM:
        for est in C.ga_from_hc_all(hc):
            ga.append({"hc_mm": hc, "record": report.ga_record(est), "line": report.ga_line(est)})
    centiles = [{"hc_mm": hc, "ga_input": g,
                 "record": report.centile_record(C.hc_centile(hc, g))} for hc, g in CENTILE_CASES]
    bad = []
    for g in BAD_GA:
        try:
            C.parse_ga_weeks(g)
            raise AssertionError(f"{g!r} was accepted")
        except ValueError as err:
            bad.append({"ga_input": g, "error": str(err)})
    return {"ga_from_hc": ga, "centile": centiles, "bad_ga_input": bad,
            "hc_interval": interval_cases(), "biometry": biometry_cases(),
            "dating": [{"ga_input": g, "display": dating_lib.dating_ga(g, report.DATING_SOURCE).display()}
                       for g in ("20", "27+3", " 27.5 ", "40+6", "14+0")],
            "format_ga": [{"days": d, "text": C.format_ga(d)} for d in GA_DAYS],
            "review_flag": review_flag_cases()}


def sample_cases():
    """The bundled samples: letterboxed input and the int8 model's output, through hc_tf.edge."""
    from hc_tf import edge
    with open(os.path.join(BUNDLE, "golden.json")) as f:
        golden = json.load(f)
    runner = edge.LiteRunner(os.path.join(BUNDLE, golden["model"]), num_threads=1)
    out = []
    for s in golden["samples"]:
        gray = P.read_gray_image(os.path.join(BUNDLE, "samples", s["filename"]))
        boxed, box = P.letterbox_image(gray, runner.input_hw)
        runner.interpreter.set_tensor(runner._in["index"], runner.quantize_input(boxed))
        runner.interpreter.invoke()
        q = runner.interpreter.get_tensor(runner._out["index"]).reshape(runner.input_hw)
        m, pts, rounds = measure_traced(q, box, s["pixel_size_mm"])
        out.append({"name": s["filename"], "hw": list(runner.input_hw), "gray_sha256": sha(gray),
                    "input_sha256": sha(boxed[:, :, 0]), "q": b64z(q), "box": box_dict(box),
                    "pixel_size_mm": s["pixel_size_mm"], "found": m.found, "reason": m.reason,
                    "ellipse_px": dataclasses.asdict(m.ellipse) if m.found else None,
                    "hc_mm": m.hc_mm, "mask_sha256": sha(q > 128), "n_points": int(len(pts)),
                    "outlier_rounds": rounds, **clinical_fields(s["filename"], m),
                    # Added after the fields above: the contour points, as the measure cases have them.
                    **points_fields(pts)})
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(BUNDLE, "postprocess_golden.json"))
    ap.add_argument("--no-samples", action="store_true", help="skip the model run on the bundled samples")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(20261127)
    doc = {"format": "hc-tf postprocess golden v1",
           "generated_by": "scripts/make_postprocess_goldens.py",
           "hc_tf_version": __version__, "opencv": cv2.__version__, "numpy": np.__version__,
           "encoding": "arrays: zlib-compressed uint8, base64, row-major; q maps are the int8 model's "
                       "output (p = q / 256, float32); masks: sha256 of (q > 128) as 0/1 bytes",
           "tolerance": {"ellipse_px": 1e-6, "hc_mm": 1e-6, "gray_and_letterbox": "exact",
                         "quality": 1e-12, "ga_days": 1e-9, "centile": 1e-9,
                         "interval_mm": 1e-9, "biometry": 1e-9},
           "tolerance_note": TOLERANCE_NOTE, "fields": FIELDS,
           "gray": gray_cases(rng), "letterbox": letterbox_cases(rng), "measure": measure_cases(),
           "contrast": contrast_cases(rng),
           "orientation": orientation_cases(),
           "samples": [] if args.no_samples else sample_cases(),
           "clinical": clinical_cases()}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}: {len(doc['gray'])} gray, {len(doc['letterbox'])} letterbox, "
          f"{len(doc['measure'])} measure, {len(doc['contrast'])} contrast, "
          f"{len(doc['samples'])} sample cases "
          f"({os.path.getsize(args.out) // 1024} KiB)")
    for c in doc["measure"] + doc["samples"]:
        hc = f"{c['hc_mm']:.3f} mm" if c["found"] else c["reason"]
        print(f"  {c['name']}: {c['n_points']} points, {hc}")


if __name__ == "__main__":
    main()
