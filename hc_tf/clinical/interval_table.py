"""The interval calibration table: its difficulty features, the fitted table (IntervalTable),
and its JSON file checked, read and written (NumPy + stdlib only). `hc_tf.clinical.intervals`
applies it to a measurement.

Normalized split-conformal regression: the half-width at level L is q_L * sigma, where
sigma = max(min_sigma_mm, sum_i c_i * f_i) is a difficulty estimate, linear in a few
features of the measurement (head size, quality signals), and q_L the conformal quantile of
|HC error| / sigma on calibration images. Everything a port needs is in the table JSON
(`interval_table.json`, fitted by `hc_tf/surfaces/calibrate_intervals.py` on held-out
predictions: the validation split, or a cross-validation's out-of-fold predictions): feature
names (defined in FEATURES below, each a one-line formula), coefficients, per-feature caps and
floors (the calibration range: no extrapolation to a narrower interval than any seen there),
the domain's caps (the model pixel and quality signals calibration saw at most, weighted or
not: no interval for an image beyond them), the sigma floor, and the quantile per level.
Applying it is plain arithmetic, so the web app's port reproduces it exactly from the bundle
metadata.

A Mondrian table (`bin_edges_mm`) holds one quantile per level for each head-size bin of the
*measured* HC (bin i: edges[i-1] <= HC < edges[i]): calibrated per bin, so small and large
heads each get their own coverage rather than sharing one quantile that covers small heads too
widely and large ones too narrowly.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

TABLE_FORMAT = "hc-tf interval table v1"
TABLE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "interval_table.json")
# BPD's, OFD's, the cephalic index's and the corrected BPD's tables (the released model's, as
# TABLE_PATH is the HC's): fitted on their errors (`calibrate_intervals fit --quantity
# bpd|ofd|ci|cbpd`) with the HC's features and bins; the cephalic index's half-widths are in
# index points, not mm.
AXIS_TABLE_PATHS = {q: os.path.join(os.path.dirname(TABLE_PATH), f"{q}_interval_table.json")
                    for q in ("bpd", "ofd", "ci", "cbpd")}
DEFAULT_LEVEL = 0.95
MIN_SIGMA_MM = 0.2  # floor of the difficulty: no interval narrower than q * 0.2 mm
# Features whose calibrated range bounds a table even where its difficulty does not weigh them:
# conformal coverage is measured on images like the calibration's, and one drawn coarser, or
# fitted worse, than any of them is not one, whichever features the fit happened to choose.
QUALITY_FEATURES = ("fit_rms_frac", "one_minus_inlier_fraction", "one_minus_mask_ellipse_dice",
                    "uncertain_band_fraction")
DOMAIN_FEATURES = ("model_pixel_mm",) + QUALITY_FEATURES

Signals = Mapping[str, Optional[float]]


def _signal(name: str, fill: float = math.nan) -> Callable[[float, Signals], float]:
    def get(hc_mm: float, s: Signals) -> float:
        v = s.get(name)
        return fill if v is None else float(v)
    return get


def model_pixel_mm(pixel_size_mm: float, original_px_per_model_px: float) -> float:
    """The size in mm of one model-input pixel: the original pixel size times the original
    pixels one model pixel spans (1 / the letterbox scale, `preprocess.Letterbox`:
    1 / min(scale_x, scale_y)). The model's HC error is roughly constant in these pixels, not
    in mm; one multiplication, so a port computes the same bits."""
    return float(pixel_size_mm) * float(original_px_per_model_px)


def _one_minus(name: str) -> Callable[[float, Signals], float]:
    def get(hc_mm: float, s: Signals) -> float:
        v = s.get(name)
        return math.nan if v is None else 1.0 - float(v)
    return get


# name -> f(hc_mm, quality signals). A missing signal (None or NaN) gives NaN, which the table
# replaces by the feature's cap (the largest value seen in calibration): unknown = difficult.
# "model_pixel_mm" is not a quality signal: `intervals.hc_interval` adds it to the mapping.
FEATURES: Dict[str, Callable[[float, Signals], float]] = {
    "one": lambda hc, s: 1.0,
    "hc_mm": lambda hc, s: hc / 100.0,              # HC in units of 100 mm
    "hc_mm_sq_100": lambda hc, s: (hc / 100.0) ** 2,  # (HC / 100 mm)^2
    "hc_over_160mm": lambda hc, s: max(0.0, hc - 160.0) / 100.0,  # hinge: late heads
    "hc_over_200mm": lambda hc, s: max(0.0, hc - 200.0) / 100.0,
    "fit_rms_frac": _signal("fit_rms_frac"),
    "one_minus_inlier_fraction": _one_minus("inlier_fraction"),
    "one_minus_mask_ellipse_dice": _one_minus("mask_ellipse_dice"),
    "uncertain_band_fraction": _signal("uncertain_band_fraction"),
    "model_pixel_mm": _signal("model_pixel_mm"),  # mm per model-input pixel (model_pixel_mm())
}


def as_mapping(signals: Any) -> Dict[str, Optional[float]]:
    """Quality signals (a dataclass such as QualitySignals, a mapping, or None) as a new dict."""
    if signals is None:
        return {}
    if dataclasses.is_dataclass(signals):
        return dataclasses.asdict(signals)
    return dict(signals)


def feature_vector(hc_mm: float, signals: Any, names: Sequence[str]) -> Tuple[float, ...]:
    """The named features of one measurement (NaN where a signal is missing)."""
    s = as_mapping(signals)
    out = []
    for n in names:
        if n not in FEATURES:
            raise ValueError(f"unknown interval feature {n!r}; known: {sorted(FEATURES)}")
        v = FEATURES[n](float(hc_mm), s)
        out.append(v if math.isfinite(v) else math.nan)
    return tuple(out)


def bin_of(edges_mm: Sequence[float], hc_mm: float) -> int:
    """The Mondrian bin of a measured HC: the number of edges <= HC (bin i: edges[i-1] <= HC <
    edges[i]), as the table is fitted (`interval_fitting.fit_table`) and applied."""
    return sum(hc_mm >= e for e in edges_mm)


def _apart(value: float, cap: float) -> Tuple[str, str]:
    """The two numbers to 3 decimals, or to as many more (up to 9) as it takes for them to read
    apart: "0.871 is above ... (up to 0.871)" said nothing."""
    digits = 3
    while f"{value:.{digits}f}" == f"{cap:.{digits}f}" and digits < 9:
        digits += 1
    return f"{value:.{digits}f}", f"{cap:.{digits}f}"


@dataclasses.dataclass(frozen=True)
class IntervalTable:
    """A fitted calibration table (see the module docstring for how it is applied)."""

    method: str
    feature_names: Tuple[str, ...]
    coefficients: Tuple[float, ...]
    min_sigma_mm: float
    quantiles: Dict[str, float]  # level as "0.95" -> conformal quantile of |error| / sigma
    n_calibration: int
    feature_caps: Optional[Tuple[float, ...]] = None  # clip each feature to [floor, cap]
    source: str = ""
    feature_floors: Optional[Tuple[float, ...]] = None  # None: 0 (tables before floors)
    bin_edges_mm: Optional[Tuple[float, ...]] = None  # Mondrian bins of the measured HC
    bin_quantiles: Optional[Tuple[Dict[str, float], ...]] = None  # per bin, as `quantiles`
    domain_caps: Optional[Dict[str, float]] = None  # DOMAIN_FEATURES' largest calibration values

    def sigma_from_features(self, x: Sequence[float]) -> float:
        """Difficulty (mm) from a feature vector: clipped to [floor, cap], NaN -> cap, the
        sigma floor applied."""
        total = 0.0
        for i, (c, v) in enumerate(zip(self.coefficients, x)):
            cap = self.feature_caps[i] if self.feature_caps else math.inf
            lo = self.feature_floors[i] if self.feature_floors else 0.0
            v = cap if math.isnan(v) else min(max(v, lo), cap)
            if math.isinf(v):  # missing signal and no cap: no honest interval
                return math.inf
            total += c * v
        return max(self.min_sigma_mm, total)

    def beyond_calibration(self, x: Sequence[float], domain: Sequence[float] = ()) -> str:
        """Why this calibration cannot speak for a measurement, in words ("" when it can): each
        feature of `x` above the largest value calibration saw, if weighted (`sigma_from_features`
        caps it: the interval would claim a coverage nothing measured) or one of DOMAIN_FEATURES
        (weighted or not, an image drawn coarser or fitted worse than any calibration image is not
        like them); then each value of `domain` (the features `domain_caps` names, in its order,
        for a table that does not list them) above its cap. Each feature named once."""
        listed = [(n, v, cap) for n, c, v, cap in zip(self.feature_names, self.coefficients, x,
                                                       self.feature_caps or ())
                  if c != 0.0 or n in DOMAIN_FEATURES]
        named = set(self.feature_names if self.feature_caps else ())
        unlisted = [(n, v, cap) for (n, cap), v in zip((self.domain_caps or {}).items(), domain)
                    if n not in named]
        beyond = ["{} {} is above the calibrated range (up to {})".format(n, *_apart(v, cap))
                  for n, v, cap in listed + unlisted if not math.isnan(v) and v > cap]
        return "no calibrated interval: " + "; ".join(beyond) if beyond else ""

    def sigma_mm(self, hc_mm: float, signals: Any) -> float:
        """Difficulty (mm) of one measurement."""
        return self.sigma_from_features(feature_vector(hc_mm, signals, self.feature_names))

    def quantile(self, level: float, hc_mm: Optional[float] = None) -> float:
        """The conformal quantile for `level` (one of the fitted levels); in a Mondrian table,
        that of the bin of the measured `hc_mm` (required there)."""
        key = f"{float(level):.2f}"
        if key not in self.quantiles:
            raise ValueError(f"no interval fitted at level {level}; fitted: "
                             f"{sorted(self.quantiles)}")
        if self.bin_edges_mm is None:
            return self.quantiles[key]
        if hc_mm is None:
            raise ValueError("a Mondrian interval table needs the measured HC")
        return self.bin_quantiles[bin_of(self.bin_edges_mm, hc_mm)][key]

    def half_width_mm(self, hc_mm: float, signals: Any, level: float = DEFAULT_LEVEL) -> float:
        """The interval's half-width (mm) at `level`."""
        return self.quantile(level, hc_mm) * self.sigma_mm(hc_mm, signals)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready (the file format and the bundle metadata)."""
        d = dataclasses.asdict(self)
        d["feature_names"] = list(self.feature_names)
        d["coefficients"] = list(self.coefficients)
        d["feature_caps"] = list(self.feature_caps) if self.feature_caps else None
        d["feature_floors"] = list(self.feature_floors) if self.feature_floors else None
        if d["feature_floors"] is None:
            del d["feature_floors"]  # an older table's JSON, unchanged
        if self.domain_caps is None:
            del d["domain_caps"]
        else:
            d["domain_caps"] = dict(self.domain_caps)
        if self.bin_edges_mm is None:
            del d["bin_edges_mm"], d["bin_quantiles"]  # not Mondrian: the JSON as before
        else:
            d["bin_edges_mm"] = list(self.bin_edges_mm)
            d["bin_quantiles"] = [dict(q) for q in self.bin_quantiles]
        return {"format": TABLE_FORMAT, **d}


_REQUIRED = ("method", "feature_names", "coefficients", "min_sigma_mm", "quantiles",
             "n_calibration")


def _number(where: str, field: str, v: Any, positive: bool = False) -> float:
    """A finite number (> 0 when `positive`): a NaN coefficient would give the sigma floor,
    the narrowest interval, without a word."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or (
            positive and v <= 0):
        raise ValueError(f"{where}: {field} is {v!r}, not a finite "
                         f"{'positive ' if positive else ''}number")
    return float(v)


def _numbers(where: str, field: str, v: Any) -> Tuple[float, ...]:
    if not isinstance(v, list):
        raise ValueError(f"{where}: {field} is {type(v).__name__}, not a list of numbers")
    return tuple(_number(where, f"{field}[{i}]", x) for i, x in enumerate(v))


def _quantiles(where: str, field: str, v: Any) -> Dict[str, float]:
    """Level ("0.95") -> a positive quantile; the default level is required, since every
    measurement asks for it (`intervals.hc_interval`)."""
    if not isinstance(v, dict):
        raise ValueError(f"{where}: {field} is {type(v).__name__}, not an object of levels")
    out = {str(k): _number(where, f"{field}[{k!r}]", q, positive=True) for k, q in v.items()}
    if f"{DEFAULT_LEVEL:.2f}" not in out:
        raise ValueError(f"{where}: {field} has no level {DEFAULT_LEVEL:.2f} (has "
                         f"{sorted(out) or 'none'})")
    return out


def table_from_dict(d: Any, where: str = "interval table") -> IntervalTable:
    """An IntervalTable from its JSON form, checked whole: a bad table is refused here, in
    words, not met later as a traceback or a silently narrow interval.

    Raises:
        ValueError: naming `where` and the problem: not an object, a wrong format, a missing
          key, a value that is not a finite number (positive for quantiles and the sigma
          floor), no quantile at the default level, or inconsistent lengths or bins.
    """
    if not isinstance(d, dict):
        raise ValueError(f"{where}: a JSON {type(d).__name__}, not an {TABLE_FORMAT!r} object")
    if d.get("format") != TABLE_FORMAT:
        raise ValueError(f"{where}: not an {TABLE_FORMAT!r} file")
    missing = [k for k in _REQUIRED if k not in d]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    names = d["feature_names"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{where}: feature_names is not a list of names")
    names, coef = tuple(names), _numbers(where, "coefficients", d["coefficients"])
    caps, floors = (None if d.get(k) is None else _numbers(where, k, d[k])
                    for k in ("feature_caps", "feature_floors"))
    if len(names) != len(coef) or any(v is not None and len(v) != len(names)
                                       for v in (caps, floors)):
        raise ValueError(f"{where}: feature names, coefficients, caps and floors differ in "
                         "length")
    for n in names:
        if n not in FEATURES:
            raise ValueError(f"{where}: unknown feature {n!r}")
    quantiles = _quantiles(where, "quantiles", d["quantiles"])
    n_cal = d["n_calibration"]
    if isinstance(n_cal, bool) or not isinstance(n_cal, int) or n_cal < 0:
        raise ValueError(f"{where}: n_calibration is {n_cal!r}, not a count")
    edges, bin_q = d.get("bin_edges_mm"), d.get("bin_quantiles")
    if edges is not None:
        edges = _numbers(where, "bin_edges_mm", edges)
        if not isinstance(bin_q, list):
            bin_q = None  # refused just below
        else:
            bin_q = tuple(_quantiles(where, f"bin_quantiles[{i}]", q) for i, q in enumerate(bin_q))
    if (edges is None) != (bin_q is None) or (edges is not None and (
            len(bin_q) != len(edges) + 1 or list(edges) != sorted(edges)
            or any(set(q) != set(quantiles) for q in bin_q))):
        raise ValueError(f"{where}: Mondrian bins need ascending edges and, for each of the "
                         "len(edges) + 1 bins, a quantile at every level")
    return IntervalTable(str(d["method"]), names, coef,
                         _number(where, "min_sigma_mm", d["min_sigma_mm"], positive=True),
                         quantiles, n_cal, caps, str(d.get("source", "")), floors, edges, bin_q,
                         _domain_caps(where, d.get("domain_caps")))


def _domain_caps(where: str, v: Any) -> Optional[Dict[str, float]]:
    """The table's `domain_caps` (absent in older tables): DOMAIN_FEATURES names -> a number."""
    if v is None:
        return None
    if not isinstance(v, dict) or any(k not in DOMAIN_FEATURES for k in v):
        raise ValueError(f"{where}: domain_caps is not an object of {', '.join(DOMAIN_FEATURES)}")
    return {k: _number(where, f"domain_caps[{k!r}]", c) for k, c in v.items()}


def write_table(table: IntervalTable, path: str) -> None:
    """Writes the table JSON (sorted keys, one file a port reads as is)."""
    with open(path, "w") as f:
        json.dump(table.to_dict(), f, indent=1, sort_keys=True)
        f.write("\n")


_CACHE: Dict[Tuple[str, int, int], IntervalTable] = {}


def load_table(path: str = TABLE_PATH) -> IntervalTable:
    """The table at `path` (the package's by default), read once per version of the file (a
    table refitted beside a model is read again).

    Raises:
        ValueError: naming the file, when it is missing, too large or malformed.
    """
    try:
        stat = os.stat(path)
        key = (path, stat.st_mtime_ns, stat.st_size)
        if key not in _CACHE:
            if stat.st_size > 1 << 20:
                raise ValueError(f"{path}: over 1 MiB, not an interval table")
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
            _CACHE[key] = table_from_dict(d, path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"{path}: cannot read the interval table ({err})") from None
    return _CACHE[key]

