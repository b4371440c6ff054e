"""Clinical read-outs of a head circumference: gestational age, growth centile, review flag.

NumPy and the standard library only (no TensorFlow, OpenCV or SciPy), so the CLI, the demo
and the app's port can all use it. Sources, ranges and check values: `docs/clinical.md`.
One module per job; import this package (`from hc_tf import clinical`) and use the names below.

- `units`: units, rounding, display and input checks.
- `gestational_age`: GA from HC (Hadlock 1984, INTERGROWTH-21st 2016).
- `centiles`: HC centile for a known GA (INTERGROWTH-21st fetal HC standard).
- `review`: the review flag on a measurement's quality signals.

Units live in `units` and nowhere else:
- HC in millimetres (float) at every entry point.
- GA in days (float) inside results; GA entered by a user in weeks (float, "exact weeks")
  or as "weeks+days" text ("27+3"); shown as "weeks+days" with days rounded to the nearest
  whole day (`format_ga`).
- Outside the range a formula or standard was derived on, a result has status
  `Status.OUT_OF_RANGE` and no number: an extrapolated GA or centile means nothing.
- Bad input (NaN, infinite, non-positive or non-numeric HC; unreadable GA, GA outside
  10-45 weeks) raises ValueError with a message that can be shown as it is.
"""

from hc_tf.clinical.centiles import (HIGH_CENTILE, INTERGROWTH_HC_SOURCE, INTERGROWTH_HC_WEEKS,
                                     LOW_CENTILE, CentileInterval, HcCentile, centile_interval,
                                     hc_at_centile, hc_centile, intergrowth_hc_mean_sd,
                                     normal_cdf, normal_ppf)
from hc_tf.clinical.gestational_age import (HADLOCK_2SD_WEEKS, HADLOCK_GA_WEEKS, HADLOCK_SOURCE,
                                            INTERGROWTH_GA_DAYS, INTERGROWTH_GA_SOURCE,
                                            INTERGROWTH_PI_TEXT, GaEstimate, GaMethod,
                                            GaUncertainty, ga_from_hc, ga_from_hc_all, ga_source,
                                            hadlock_ga_weeks, hc_at_ga_days, intergrowth_ga_days,
                                            valid_ga_days, valid_hc_range_mm)
from hc_tf.clinical.review import (DEFAULT_REVIEW_THRESHOLDS, REASON_CUT, REASON_FEW_INLIERS,
                                   REASON_FLIP, REASON_HC_RANGE, REASON_MASK_MISMATCH,
                                   REASON_MISSING, REASON_RAGGED, REASON_UNCLEAR, QualitySignals,
                                   ReviewThresholds, review_flag)
from hc_tf.clinical.units import (CENTILE_DECIMALS, DAYS_PER_WEEK, GA_INPUT_WEEKS, HC_DECIMALS,
                                  Z_DECIMALS, GaInput, Status, days_to_weeks, format_beyond,
                                  format_centile,
                                  format_ga, format_hc_mm, format_outside, format_z, parse_ga_weeks,
                                  round_ga_days, weeks_to_days)

__all__ = [
    # units
    "CENTILE_DECIMALS", "DAYS_PER_WEEK", "GA_INPUT_WEEKS", "HC_DECIMALS", "Z_DECIMALS",
    "GaInput", "Status", "days_to_weeks", "format_beyond", "format_centile", "format_ga", "format_hc_mm",
    "format_outside", "format_z", "parse_ga_weeks", "round_ga_days", "weeks_to_days",
    # GA from HC
    "HADLOCK_2SD_WEEKS", "HADLOCK_GA_WEEKS", "HADLOCK_SOURCE", "INTERGROWTH_GA_DAYS",
    "INTERGROWTH_GA_SOURCE", "INTERGROWTH_PI_TEXT", "GaEstimate", "GaMethod", "GaUncertainty",
    "ga_from_hc", "ga_from_hc_all", "ga_source", "hadlock_ga_weeks", "hc_at_ga_days",
    "intergrowth_ga_days", "valid_ga_days", "valid_hc_range_mm",
    # HC centiles
    "HIGH_CENTILE", "INTERGROWTH_HC_SOURCE", "INTERGROWTH_HC_WEEKS", "LOW_CENTILE", "HcCentile",
    "CentileInterval", "centile_interval", "hc_at_centile", "hc_centile",
    "intergrowth_hc_mean_sd", "normal_cdf", "normal_ppf",
    # review flag
    "DEFAULT_REVIEW_THRESHOLDS", "REASON_CUT", "REASON_FEW_INLIERS", "REASON_FLIP",
    "REASON_HC_RANGE", "REASON_MASK_MISMATCH", "REASON_MISSING", "REASON_RAGGED",
    "REASON_UNCLEAR", "QualitySignals", "ReviewThresholds", "review_flag",
]
