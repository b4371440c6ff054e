"""Test helper: wraps images into DICOM ultrasound files with pydicom (no test functions)."""

from __future__ import annotations

import os
import shutil
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

SAMPLE = os.path.join(os.path.dirname(__file__), "..", "hc_tf", "sample_data")
HEADS_CSV = os.path.join(SAMPLE, "training_set_pixel_size_and_HC.csv")
US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
STUDY_UID = "1.2.826.0.1.3680043.8.498.1001"


def head_pixel_sizes() -> dict:
    """HC18 sample file name -> pixel size (mm), from the sample's CSV."""
    with open(HEADS_CSV, encoding="utf-8") as f:
        rows = [line.strip().split(",") for line in f.readlines()[1:] if line.strip()]
    return {r[0]: float(r[1]) for r in rows}


def head_png(name: str) -> str:
    return os.path.join(SAMPLE, "training_set", name)


def region(box: Tuple[int, int, int, int], delta_mm: float, units: Tuple[int, int] = (3, 3),
           delta_y_mm: Optional[float] = None, spatial: int = 1, data_type: int = 1):
    """One (0018,6011) item; deltas given in mm, stored in cm as the standard says."""
    from pydicom.dataset import Dataset
    r = Dataset()
    r.RegionSpatialFormat, r.RegionDataType, r.RegionFlags = spatial, data_type, 0
    r.RegionLocationMinX0, r.RegionLocationMinY0 = box[0], box[1]
    r.RegionLocationMaxX1, r.RegionLocationMaxY1 = box[2], box[3]
    r.PhysicalUnitsXDirection, r.PhysicalUnitsYDirection = units
    r.PhysicalDeltaX = delta_mm / 10.0
    r.PhysicalDeltaY = (delta_y_mm if delta_y_mm is not None else delta_mm) / 10.0
    return r


def dataset(frames: Sequence[np.ndarray], photometric: str = "MONOCHROME2",
            regions: Optional[list] = None, sop_class: Optional[str] = None):
    """A US (multi-frame) image dataset holding `frames` uncompressed (explicit VR LE)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
    first = np.asarray(frames[0])
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    multi = len(frames) > 1
    ds.SOPClassUID = sop_class or (US_MULTIFRAME if multi else US_IMAGE)
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = STUDY_UID, generate_uid()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Test^Fetus", "T1", "", "F"
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber, ds.ReferringPhysicianName = "20260101", "", "", ""
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber, ds.Modality = "1", 1, 1, "US"
    ds.Manufacturer = "hc-tf tests"
    ds.Rows, ds.Columns = first.shape[:2]
    ds.SamplesPerPixel = 3 if first.ndim == 3 else 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    if ds.SamplesPerPixel == 3:
        ds.PlanarConfiguration = 0
    if multi:
        ds.NumberOfFrames = len(frames)
        ds.FrameIncrementPointer = 0x00181063
        ds.FrameTime = 40.0
    if regions:
        ds.SequenceOfUltrasoundRegions = regions
    ds.PixelData = np.stack([np.asarray(f, dtype=np.uint8) for f in frames]).tobytes()
    return ds


def gray_dataset(name: str, **kw):
    """An HC18 head as MONOCHROME2 with its CSV pixel size as the whole image's region."""
    gray = cv2.imread(head_png(name), cv2.IMREAD_GRAYSCALE)
    h, w = gray.shape
    return dataset([gray], regions=[region((0, 0, w - 1, h - 1), head_pixel_sizes()[name])], **kw)


# Where `screen` puts the head: the scanner frame's 2D tissue region starts here.
SCREEN_ORIGIN = (90, 60)


def screen(gray: np.ndarray) -> np.ndarray:
    """`gray` as a scanner's screen shows it: inside a larger black frame at SCREEN_ORIGIN, with
    burnt-in text, a gray bar and depth ticks around it (the frame DICOM files carry)."""
    h, w = gray.shape
    x0, y0 = SCREEN_ORIGIN
    frame = np.zeros((h + y0 + 50, w + x0 + 60), np.uint8)
    frame[y0:y0 + h, x0:x0 + w] = gray
    cv2.putText(frame, "HOSPITAL OB 12/03/2026", (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 230, 1)
    frame[y0:y0 + h, w + x0 + 20:w + x0 + 30] = np.linspace(255, 0, h).astype(np.uint8)[:, None]
    frame[y0:y0 + h:25, x0 - 12:x0 - 4] = 255
    return frame


def screen_dataset(gray: np.ndarray, pixel_size_mm: float):
    """A head image on a scanner `screen`; its one 2D region is the head image, calibrated
    at `pixel_size_mm`."""
    h, w = gray.shape
    x0, y0 = SCREEN_ORIGIN
    return dataset([screen(gray)], regions=[region((x0, y0, x0 + w - 1, y0 + h - 1),
                                                   pixel_size_mm)])


def nested_dataset(depth: int):
    """A gray image whose header nests `depth` sequences, one in the other (saved with the
    recursion limit raised: pydicom's writer recurses a few frames a level)."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence
    ds = dataset([np.zeros((16, 16), np.uint8)])
    inner = Dataset()
    inner.ReferencedSOPInstanceUID = "1.2.3"
    for _ in range(depth):
        outer = Dataset()
        outer.ReferencedImageSequence = Sequence([inner])
        inner = outer
    ds.ReferencedImageSequence = inner.ReferencedImageSequence
    return ds


def save_deep(ds, path: str) -> str:
    """`save` for a deeply nested dataset."""
    import sys
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))
    try:
        return save(ds, path)
    finally:
        sys.setrecursionlimit(limit)


def save(ds, path: str) -> str:
    ds.save_as(path, enforce_file_format=True)
    return path


def tinted(gray: np.ndarray) -> np.ndarray:
    """A colour (RGB) version of a gray head: each channel a different gain."""
    g = gray.astype(np.float64)
    return np.stack([g, g * 0.85, g * 0.6], axis=2).round().astype(np.uint8)


def palette_dataset(gray: np.ndarray, box, delta_mm: float):
    """PALETTE COLOR: the gray values index a tinting LUT of 16-bit entries (v * 257)."""
    lut = tinted(np.arange(256, dtype=np.uint8)[None, :])[0]  # (256, 3) uint8
    ds = dataset([gray], photometric="PALETTE COLOR", regions=[region(box, delta_mm)])
    for i, colour in enumerate(("Red", "Green", "Blue")):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(ds, f"{colour}PaletteColorLookupTableData",
                (lut[:, i].astype("<u2") * 257).tobytes())
    return ds, lut[gray]


def segmented_palette_words(bits: int, big_endian: bool = False):
    """Red, green and blue segment data of 256 entries each: discrete and linear segments
    (rising, falling, flat), and green's indirect segment, which copies its last two segments
    (an 8-bit table's 4-byte offset is ordered by the file's endianness, PS3.3 C.7.9.2.3)."""
    if bits == 16:
        return ([0, 5, 0, 1000, 2000, 3000, 4000, 1, 100, 30000, 1, 151, 65535],
                [0, 2, 500, 600, 1, 50, 20000, 2, 2, 11, 0, 1, 50, 40000, 1, 52, 1000],
                [0, 1, 7000, 1, 100, 7000, 1, 155, 0])
    offset = [0, 13, 0, 0] if big_endian else [13, 0, 0, 0]
    return ([0, 5, 0, 10, 20, 30, 40, 1, 100, 150, 1, 151, 255],
            [0, 2, 5, 6, 1, 50, 200, 2, 2, *offset, 1, 50, 120, 1, 52, 250],
            [0, 1, 70, 1, 100, 70, 1, 155, 0])


SEGMENTED_BOMBS = {  # red segment data -> what the refusal says
    # 2,000 of these (12 KB) expanded to 131 million entries in pydicom (2.9 s, a Python list)
    "expands": ([0, 1, 5] + [1, 65535, 200] * 3, "expands past 65,536 entries"),
    # an indirect segment that copies the table's first two segments, itself the second:
    # pydicom recurses until Python's limit
    "nests": ([0, 1, 5, 2, 2, 0, 0], "nests indirect segments deeper than 4"),
}


def segmented_palette_dataset(gray: np.ndarray, words: Sequence[Sequence[int]], bits: int = 16,
                              big_endian: bool = False):
    """PALETTE COLOR through segmented tables (PS3.3 C.7.9.2): `words` are the red, green and
    blue segment data as words of `bits` (8 or 16), stored in the file's byte order."""
    from pydicom.uid import ExplicitVRBigEndian
    ds = dataset([gray], photometric="PALETTE COLOR")
    if big_endian:
        ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    for colour, data in zip(("Red", "Green", "Blue"), words):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, bits])
        kind = np.uint8 if bits == 8 else (">u2" if big_endian else "<u2")
        setattr(ds, f"Segmented{colour}PaletteColorLookupTableData", np.asarray(data, kind).tobytes())
    return ds


def jpeg_baseline_dataset(rgb: np.ndarray, box, delta_mm: float):
    """JPEG baseline, YBR_FULL_422 (4:2:2 chroma), encoded by OpenCV: lossy."""
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit
    ok, jpg = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95,
                                                     cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                                                     cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422])
    assert ok
    ds = dataset([rgb], photometric="YBR_FULL_422", regions=[region(box, delta_mm)])
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([jpg.tobytes()])
    ds["PixelData"].VR = "OB"
    return ds


EXAM_DATED_HEAD = "207_HC.png"  # within the INTERGROWTH-21st standard's weeks


def write_exam_inputs(folder) -> None:
    """Exam "twice": one dated head, stored twice in one series (the second image flipped);
    exam "cine": two different heads in one file, which disagree; the Philips two-frame file,
    its frame 2 a flagged non-head."""
    from pydicom.data import get_testdata_file
    first = gray_dataset(EXAM_DATED_HEAD)
    second = gray_dataset(EXAM_DATED_HEAD)
    second.PixelData = cv2.flip(second.pixel_array, 1).tobytes()
    second.SeriesInstanceUID = first.SeriesInstanceUID
    for ds in (first, second):
        ds.StudyDate, ds.LastMenstrualDate = "20260601", "20260122"
    save(first, str(folder / "twice1.dcm"))
    save(second, str(folder / "twice2.dcm"))
    frames = [cv2.imread(head_png(n), cv2.IMREAD_GRAYSCALE)
              for n in ("000_HC.png", EXAM_DATED_HEAD)]
    h, w = frames[0].shape
    px = head_pixel_sizes()["000_HC.png"]
    save(dataset(frames, regions=[region((0, 0, w - 1, h - 1), px)]), str(folder / "cine.dcm"))
    philips = get_testdata_file("OBXXXX1A_2frame.dcm")
    if philips:
        shutil.copy(philips, folder / "philips.dcm")


def predict_exam_inputs(root, model: str, **options) -> dict:
    """`hc-tf predict` on `write_exam_inputs` in root/in, out to root/out: {"out", "records"
    (report.json's images), "exams" (exams.csv's rows by their filenames)}."""
    import csv
    import json
    from hc_tf.surfaces import predict as predict_lib
    (root / "in").mkdir()
    write_exam_inputs(root / "in")
    out = root / "out"
    predict_lib.predict_files(model, [str(root / "in")], str(out), **options)
    report = json.loads((out / "report.json").read_text())
    with open(out / "exams.csv", newline="") as f:
        exams = {row["filenames"]: row for row in csv.DictReader(f)}
    return {"out": out, "records": report["images"], "exams": exams}
