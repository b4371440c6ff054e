"""The project's defaults and choices, in one place (TF-free: constants only).

The CLI, the model and trainer, the TFLite export and its metadata, and the
measurement read these names rather than repeating the literals, so a changed
default changes everywhere at once. Importing this module imports nothing.
"""

from __future__ import annotations

from typing import Dict, Tuple

# --- Model input -------------------------------------------------------------
# HC18 images are mostly 800x540 (W x H); 224x320 (H x W) keeps that 0.675 shape
# with little padding and is divisible by 32, as the UNet needs.
INPUT_HW: Tuple[int, int] = (224, 320)

# --- Measurement -------------------------------------------------------------
# The head is where probability > THRESHOLD; its sub-pixel THRESHOLD iso-contour is
# the measured outline (the trained probabilities are calibrated around it).
THRESHOLD: float = 0.5
# Smallest head, in model pixels: a smaller largest component is a speck.
MIN_AREA_PX: int = 50
# An image to measure has contrast: the gray levels between its 1st and 99th percentile (model
# input, image area) must span MIN_CONTRAST_LEVELS. A blank frame (black, one gray, a frozen
# screen) spans 0 and the model still answers with a "head"; HC18's flattest image spans 82, and
# HC18 images scaled down to a span of 9-13 were measured up to 27 mm off (docs/limits.md).
MIN_CONTRAST_LEVELS: int = 16
CONTRAST_TAIL_PERCENT: int = 1

# --- Network -----------------------------------------------------------------
# EfficientNet-Lite's recipe on segmentation-models' EfficientNet builder: no
# squeeze-excitation and ReLU6 for swish (what post-training int8 handles badly), stem (32)
# and head (1280) filters and the first and last stages' repeats never scaled. Per variant:
# (width coefficient, blocks per stage), from tensorflow/tpu efficientnet_lite_builder.py
# (Lite1: depth 1.1, Lite2: width 1.1, depth 1.2; ceil(depth x B0's repeats) inside).
LITE_VARIANTS: Dict[str, Tuple[float, Tuple[int, ...]]] = {
    "efficientnetlite0": (1.0, (1, 2, 2, 3, 3, 4, 1)),
    "efficientnetlite1": (1.0, (1, 3, 3, 4, 4, 5, 1)),
    "efficientnetlite2": (1.1, (1, 3, 3, 4, 4, 5, 1)),
}
LITE_BACKBONE: str = "efficientnetlite0"  # the edge model's encoder
BACKBONES: Tuple[str, ...] = ("efficientnetb0", "efficientnetb1", "efficientnetb2",
                              "efficientnetb3", *LITE_VARIANTS)
# The released recipe (export/README.md): the Lite encoder kept int8 parity where B0
# lost it, and the narrow decoder halves the MACs (edge latency) at the same ADF.
DEFAULT_BACKBONE: str = LITE_BACKBONE
DEFAULT_DECODER_FILTERS: Tuple[int, ...] = (128, 64, 32, 16, 16)
SMALL_DECODER_FILTERS: Tuple[int, ...] = (64, 32, 16, 16, 8)  # `--small`: quick demo runs
# "auto": mixed_float16 where a GPU is visible, float32 on CPU (hc_tf.modeling.model).
PRECISIONS: Tuple[str, ...] = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
DEFAULT_PRECISION: str = "auto"

# --- Training ----------------------------------------------------------------
# The release recipe's (docs/reproducing.md, sections 5-6: with ImageNet Lite0 weights, a 50-epoch
# cosine at batch 16); `hc-tf train` alone then trains what the release and its folds trained.
EPOCHS: int = 50
BATCH_SIZE: int = 16
LEARNING_RATE: float = 1e-3
LR_SCHEDULES: Tuple[str, ...] = ("cosine", "constant")
# Augmentation, the same in both trainers' twins (hc_tf/train/data.py, jax_backend/augment_np.py):
# geometry (flips, rotation, scale, shift) and intensity (gain, gamma, offset), each drawn
# uniformly within +- these ranges.
AUG_MAX_ROTATION_DEG: float = 15.0
AUG_MAX_SCALE: float = 0.1       # zoom 0.9-1.1
AUG_MAX_SHIFT_PX: float = 16.0
AUG_MAX_GAIN: float = 0.2        # gain 0.8-1.2
AUG_MAX_GAMMA: float = 1.25      # gamma 1/1.25-1.25
AUG_MAX_OFFSET: float = 20.0     # gray levels
# The cosine schedule of both trainers (hc_tf/train/schedule.py): a linear warm-up over
# this many epochs (at most a tenth of the run), then cosine decay to LR_FLOOR x the peak.
WARMUP_EPOCHS: int = 2
LR_FLOOR: float = 0.01
DEFAULT_LR_SCHEDULE: str = "cosine"
VALIDATION_FRACTION: float = 0.2  # share of subjects held out
# Heads over this reference HC (mm) err most (docs/model_experiments.md, "why they err": 123 of
# the 896 labelled images); `train --large-head-repeat R` shows each of them R times an epoch.
LARGE_HEAD_MM: float = 260.0
DISTRIBUTE_MODES: Tuple[str, ...] = ("none", "mirrored", "multi-worker")

# --- TFLite export -----------------------------------------------------------
EXPORT_MODES: Tuple[str, ...] = ("float32", "float16", "dynamic", "int8")
IO_DTYPES: Tuple[str, ...] = ("uint8", "int8", "float32")
DEFAULT_IO_DTYPE: str = "uint8"  # the letterboxed gray pixel as it is
# More calibration images give the int8 ranges fewer outliers to miss; 256 measurably
# narrowed the edge-vs-full HC gap over 64 (export/README.md, "int8 TFLite").
CALIBRATION_SAMPLES: int = 256

# --- Released models (relative to the repository root) -------------------------
KERAS_MODEL: str = "export/hc_effunet.keras"  # the full model: in a checkout only (TF side)
# The released int8 model ships inside the package (hc_tf/models/, `hc_tf.models.released_edge_model`).
EDGE_MODEL_NAME: str = "hc_effunet_int8.tflite"

# --- The demo (hc-tf demo) --------------------------------------------------------
DEMO_HOST: str = "127.0.0.1"  # loopback: not reachable from the network unless --host says so
DEMO_PORT: int = 7860
# Uploads (patient images, under their own names) and overlays are deleted this long after
# they were written, not kept until the server stops; the page asks for the file again.
DEMO_UPLOAD_RETENTION_S: int = 600

# --- Input limits (every reader: predict, Beam, evaluate, the demo, DICOM) ------
# Untrusted files are checked against these before they are decoded: bytes from the file
# system, pixels (rows x columns, per frame) from the header. A 2D ultrasound frame is at most
# a few megapixels; 25 MP keeps the demo's earlier limit and refuses decompression bombs.
MAX_INPUT_BYTES: int = 512 * 1024 * 1024
MAX_INPUT_PIXELS: int = 25_000_000
# Frames of one multi-frame (DICOM cine) file: a few seconds of cine are hundreds; a header that
# claims millions of tiny frames is refused before anything is listed or decoded.
MAX_INPUT_FRAMES: int = 10_000
# Sequences inside sequences in a DICOM header, counted in its bytes (dicom_header_scan): an
# ultrasound image nests 2 or 3 deep. pydicom walks them recursively, and 1,000 levels (a 20 KB
# file) took 17 GB as each level formatted the traceback of the one below it.
MAX_SEQUENCE_DEPTH: int = 16
# Elements and sequence items of one DICOM header, counted in its bytes before pydicom reads it:
# pydicom holds each as an object of 0.4-0.8 KB, though an empty one is 8 bytes of file (200,000
# took 217 MB and 4 s). An ultrasound image has a few hundred; pydicom-data's files at most 1,484
# (an ECG waveform).
MAX_HEADER_ELEMENTS: int = 200_000
# Scans of one JPEG codestream (a file or a DICOM frame), counted by walking its markers: libjpeg
# passes over every block of a scan's components once per scan, so a progressive file of many
# tiny scans is a time bomb that the byte and pixel limits let through (a 64-byte scan repeated
# 1,000 times over 25 MP: 113 kB, 2.2 s in OpenCV and 4.6 s in jpeg_check). Encoders write 1-4
# scans (sequential) or 6-10 (libjpeg's progressive script); cjpeg's own scan scripts stop at 100.
MAX_JPEG_SCANS: int = 100
