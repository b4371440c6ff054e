"""Shared calibration golden cases: small DICOM files -> expected pixel size or refusal.

    PYTHONPATH=$PWD python -m tests.dicom_goldens   # rewrites tests/fixtures/dicom_calibration/

The Python reader (tests/dicom_calibration_golden_test.py) and any port of the calibration
rules (e.g. the web app's) are checked against the same files and cases.json: for each case, a
file, the measured head ellipse (pixels, centres at integers), an optional typed pixel size and
override, and either {"pixel_size_mm", "source", "region"} or {"refusal": words the message
contains}; and per file the part of the frame the model sees ("model_regions"). The files are
deterministic (fixed UIDs), so rewriting them changes nothing.
"""

import json
import os

import numpy as np

from tests import dicom_files

FOLDER = os.path.join(os.path.dirname(__file__), "fixtures", "dicom_calibration")
ROWS, COLUMNS = 64, 96
FULL = (0, 0, COLUMNS - 1, ROWS - 1)


def _files():
    """name -> dataset of every golden file."""
    r = dicom_files.region
    left, right = (0, 0, 47, ROWS - 1), (48, 0, COLUMNS - 1, ROWS - 1)
    specs = {
        "one_region.dcm": dict(regions=[r(FULL, 0.2)]),
        "clipped_region.dcm": dict(regions=[r((10, 5, 200, 300), 0.25)]),
        "dual_pane.dcm": dict(regions=[r(left, 0.2), r(right, 0.3),
                                       r((0, 0, 5, 20), 0.0, units=(0, 0), data_type=13)]),
        "no_calibration.dcm": dict(),
        "unit_seconds.dcm": dict(regions=[r(FULL, 0.2, units=(4, 3))]),
        "anisotropic.dcm": dict(regions=[r(FULL, 0.2, delta_y_mm=0.22)]),
        "half_region.dcm": dict(regions=[r(left, 0.2)]),
        "waveform_only.dcm": dict(regions=[r(FULL, 0.2, spatial=4)]),
        "pixel_spacing_only.dcm": dict(pixel_spacing=[0.15, 0.15]),
        "small_region.dcm": dict(regions=[r((10, 10, 40, 30), 0.2)]),
    }
    out = {}
    for i, (name, spec) in enumerate(sorted(specs.items()), 1):
        ds = dicom_files.dataset([np.zeros((ROWS, COLUMNS), np.uint8)],
                                 regions=spec.get("regions"))
        uid = f"1.2.826.0.1.3680043.8.498.77{i:02d}"
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid + ".1"
        ds.SeriesInstanceUID = uid + ".2"
        if "pixel_spacing" in spec:
            ds.PixelSpacing = spec["pixel_spacing"]
        out[name] = ds
    return out


def _head(cx, cy, a=10.0, b=8.0, angle=0.0):
    return {"cx": cx, "cy": cy, "a": a, "b": b, "angle": angle}


CASES = [
    ("one_region.dcm", _head(48, 32), None, False,
     {"pixel_size_mm": 0.2, "source": "dicom_us_region", "region": 1}),
    ("clipped_region.dcm", _head(60, 50), None, False,
     {"pixel_size_mm": 0.25, "source": "dicom_us_region", "region": 1}),
    ("clipped_region.dcm", _head(4, 30, 3, 2), None, False, {"refusal": "lies in no 2D region"}),
    ("dual_pane.dcm", _head(22, 32), None, False,
     {"pixel_size_mm": 0.2, "source": "dicom_us_region", "region": 1}),
    ("dual_pane.dcm", _head(72, 32), None, False,
     {"pixel_size_mm": 0.3, "source": "dicom_us_region", "region": 2}),
    ("dual_pane.dcm", _head(48, 32, 14, 10), None, False,
     {"refusal": "across two 2D regions"}),
    ("no_calibration.dcm", _head(48, 32), None, False,
     {"refusal": "no Sequence of Ultrasound Regions (0018,6011) and no PixelSpacing (0028,0030)"}),
    ("no_calibration.dcm", _head(48, 32), 0.2, False,
     {"pixel_size_mm": 0.2, "source": "typed", "region": None}),
    ("unit_seconds.dcm", _head(48, 32), None, False, {"refusal": "not cm (3)"}),
    ("unit_seconds.dcm", _head(48, 32), 0.2, True,
     {"pixel_size_mm": 0.2, "source": "typed_override", "region": None}),
    ("anisotropic.dcm", _head(48, 32), None, False, {"refusal": "differ by more than 1%"}),
    ("half_region.dcm", _head(72, 32), None, False, {"refusal": "lies in no 2D region"}),
    ("waveform_only.dcm", _head(48, 32), None, False, {"refusal": "no 2D tissue region"}),
    ("pixel_spacing_only.dcm", _head(48, 32), None, False,
     {"pixel_size_mm": 0.15, "source": "dicom_pixel_spacing", "region": None}),
    ("one_region.dcm", _head(48, 32), 0.3, False,
     {"refusal": "disagrees with the file's calibration"}),
    ("one_region.dcm", _head(48, 32), 0.2015, False,  # within 1%: the file's size is used
     {"pixel_size_mm": 0.2, "source": "dicom_us_region", "region": 1}),
    ("one_region.dcm", _head(48, 32), 0.3, True,
     {"pixel_size_mm": 0.3, "source": "typed_override", "region": None}),
]


# file -> the part of its frame the model sees (dicom_pixel_size.model_region): the one 2D
# tissue region's box, or None (the whole frame).
MODEL_REGIONS = {
    "anisotropic.dcm": None,  # its one region is the whole frame
    "clipped_region.dcm": [10, 5, 95, 63],  # clipped to the image
    "dual_pane.dcm": None,  # two 2D regions: the head decides which calibrates
    "half_region.dcm": [0, 0, 47, 63],
    "no_calibration.dcm": None,
    "one_region.dcm": None,
    "pixel_spacing_only.dcm": None,
    "small_region.dcm": None,  # 31 x 21 pixels: too small to hold a head
    "unit_seconds.dcm": None,
    "waveform_only.dcm": None,  # no 2D tissue region
}


def cases():
    return [{"file": f, "head": h, "typed_mm": t, "override": o, "expect": e}
            for f, h, t, o, e in CASES]


def write(folder=FOLDER):
    """Writes the files and cases.json into `folder`."""
    os.makedirs(folder, exist_ok=True)
    for name, ds in _files().items():
        dicom_files.save(ds, os.path.join(folder, name))
    with open(os.path.join(folder, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"about": "file -> expected pixel size or refusal (tests/dicom_goldens.py; "
                            "rules in docs/dicom.md)", "cases": cases(),
                   "model_regions": MODEL_REGIONS}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    write()
