"""The EfficientNet-UNet: the only module that imports segmentation-models.

segmentation-models 1.0.1 is unmaintained since 2020; it works on Keras 3 via
`SM_FRAMEWORK=tf.keras`. Keeping every use of it here, behind `build_unet`,
means a Keras upgrade that breaks it breaks one module and one test
(`tests/model_test.py`), loudly.

The network takes raw gray values (H, W, 1) in 0..255 and does its own input
normalization (x / 255, repeated to 3 channels for the encoder's stem): the one
place normalization happens, so training, evaluation and the TFLite model
(whose uint8 input is then the pixel itself) agree by construction.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import zipfile
from typing import Optional, Tuple

os.environ.setdefault("SM_FRAMEWORK", "tf.keras")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from hc_tf import defaults  # noqa: E402

# EfficientNet-Lite's recipe for integer inference, applied to segmentation-models'
# EfficientNetB0: no squeeze-excitation and ReLU6 for swish. Both are what post-training
# int8 handles badly (swish's and SE's activation ranges; SE's sigmoid gating multiplies
# every channel by a quantized scale); ReLU6 also bounds each activation to [0, 6].
# The choices and defaults live in hc_tf.defaults (the CLI reads them without Keras).
LITE_BACKBONE = defaults.LITE_BACKBONE
LITE_VARIANTS = defaults.LITE_VARIANTS
LITE_HEAD_FILTERS = 1280  # Lite keeps the head's width at every width coefficient
BACKBONES = defaults.BACKBONES
DEFAULT_BACKBONE = defaults.DEFAULT_BACKBONE
DEFAULT_DECODER_FILTERS = defaults.DEFAULT_DECODER_FILTERS
PRECISIONS = defaults.PRECISIONS
INPUT_SCALE = 1.0 / 255.0  # documented normalization: x / 255, nothing else
BN_MOMENTUM = 0.9  # 0.99 leaves inference-mode BN statistics poor after short runs
HEAD_LAYER = "head_probability"  # the float32 sigmoid head
# Flip test-time augmentation inside the graph (`with_flip_tta`): the network runs on the
# image and its left-right mirror as one batch of two and averages the logits, so every
# consumer (predict, evaluate, Beam, the int8 TFLite, the apps) gets it with no flag.
FLIP_TTA_BATCH = "flip_tta_batch"
FLIP_TTA_MEAN = "flip_tta_mean"


class SegmentationModelsError(RuntimeError):
    """segmentation-models failed to build on this Keras: pin or replace it."""


def resolve_precision(precision: str = defaults.DEFAULT_PRECISION) -> str:
    """`auto` is mixed_float16 where a GPU is visible and float32 on CPU.

    On CPU float16 kernels are missing (a step takes minutes); bfloat16 runs but
    brings no speed, so float32 is the right CPU default.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    import tensorflow as tf
    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"


def check_input_size(input_hw: Tuple[int, int]) -> None:
    """The UNet downsamples 5 times: each side must be a positive multiple of 32.

    Raises:
      ValueError: naming the size and the nearest valid one.
    """
    for side in input_hw:
        if side <= 0 or side % 32:
            near = max(32, int(round(side / 32.0)) * 32)
            raise ValueError(f"input size {input_hw[0]}x{input_hw[1]}: each side must be a "
                             f"positive multiple of 32 (e.g. {near})")


def _import_sm():
    try:
        # Its import prints a banner to stdout, where commands write their results
        # (`hc-tf parity` writes JSON there).
        with contextlib.redirect_stdout(io.StringIO()):
            import segmentation_models as sm
    except Exception as err:  # any import-time breakage of the unmaintained package
        raise SegmentationModelsError(
            f"segmentation-models could not be imported with keras {keras.__version__}: {err}. "
            "hc-tf pins segmentation-models==1.0.1; check the Keras version.") from err
    return sm


def build_unet(input_hw: Tuple[int, int] = defaults.INPUT_HW, backbone: str = DEFAULT_BACKBONE,
               precision: str = "float32", encoder_weights: Optional[str] = None,
               decoder_filters: Tuple[int, ...] = DEFAULT_DECODER_FILTERS,
               bn_momentum: float = BN_MOMENTUM) -> keras.Model:
    """Builds the EfficientNet-UNet for 1-channel gray input and a 1-channel probability.

    Args:
      input_hw: (height, width), multiples of 32.
      backbone: one of `BACKBONES`.
      precision: a resolved policy ("float32", "mixed_float16", "mixed_bfloat16");
        sets the global Keras dtype policy before building.
      encoder_weights: None (random init) or an `.npz` of encoder weights keyed by Keras
        layer name (`hc_tf/modeling/lite_pytorch_weights.py`: ImageNet EfficientNet-Lite0/1/2),
        loaded by `load_encoder_weights` with the input normalization folded in.
      decoder_filters: UNet decoder widths (smaller for tiny test models).
      bn_momentum: BatchNormalization momentum.

    Returns:
      A Keras model: (B, H, W, 1) float gray 0..255 -> (B, H, W, 1) float32 probability.

    Raises:
      ValueError: for an unknown backbone or precision, or a bad input size.
      SegmentationModelsError: when segmentation-models cannot build on this Keras.
    """
    if backbone not in BACKBONES:
        raise ValueError(f"backbone must be one of {BACKBONES}, got {backbone!r}")
    if precision not in PRECISIONS or precision == "auto":
        raise ValueError(f"resolve the precision first; got {precision!r}")
    check_input_size(input_hw)
    keras.mixed_precision.set_global_policy(precision)
    sm = _import_sm()
    h, w = input_hw
    lite = backbone in LITE_VARIANTS
    try:
        if lite:
            _register_lite_backbone(sm, backbone)
        unet = sm.Unet(backbone, input_shape=(h, w, 3), classes=1, activation="linear",
                       encoder_weights=None, decoder_filters=decoder_filters)
    except Exception as err:
        raise SegmentationModelsError(
            f"segmentation-models failed to build {backbone} on keras {keras.__version__}: "
            f"{type(err).__name__}: {err}") from err
    if lite:
        _swish_to_relu6(unet)
    if encoder_weights:
        load_encoder_weights(unet, encoder_weights, backbone=backbone)
    for layer in unet.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = bn_momentum

    gray = keras.Input((h, w, 1), name="gray")
    x = keras.layers.Rescaling(INPUT_SCALE, name="normalize")(gray)
    x = keras.layers.Concatenate(name="gray_to_rgb")([x, x, x])
    logits = unet(x)
    return keras.Model(gray, sigmoid_head()(logits), name=f"hc_unet_{backbone}")


def _register_lite_backbone(sm, backbone: str) -> None:
    """Adds an "efficientnetliteN" to segmentation-models' backbone factory: the efficientnet
    package's builder with blocks without squeeze-excitation, Lite's repeats per stage and its
    unscaled stem and head, and B0's skip-connection layers (the names are unchanged), so
    `sm.Unet` builds its decoder on it as on any backbone."""
    from efficientnet import model as effnet
    width, repeats = LITE_VARIANTS[backbone]
    blocks = [block._replace(se_ratio=None, num_repeat=n)
              for block, n in zip(effnet.DEFAULT_BLOCKS_ARGS, repeats)]

    def efficientnet_lite(include_top=True, weights=None, input_tensor=None, input_shape=None,
                          pooling=None, classes=1000, **kwargs):
        # depth 1.0: the repeats above are final. The builder rounds every width with
        # `round_filters`; the stem's 32 stays 32 at width <= 1.1, the head's 1280 is pinned.
        with _lite_head_width(effnet):
            return effnet.EfficientNet(width, 1.0, 224, 0.2, blocks_args=blocks,
                                       model_name=backbone.replace("efficientnet", "efficientnet-"),
                                       include_top=include_top, weights=weights,
                                       input_tensor=input_tensor, input_shape=input_shape,
                                       pooling=pooling, classes=classes, **kwargs)

    factory = sm.Backbones
    factory._models_update[backbone] = [efficientnet_lite, effnet.preprocess_input]
    factory._default_feature_layers[backbone] = factory._default_feature_layers["efficientnetb0"]


@contextlib.contextmanager
def _lite_head_width(effnet):
    """While building, `round_filters(1280, ...)` (only the head asks for 1280) returns 1280."""
    round_filters = effnet.round_filters

    def lite_round_filters(filters, width_coefficient, depth_divisor):
        if filters == LITE_HEAD_FILTERS:
            return LITE_HEAD_FILTERS
        return round_filters(filters, width_coefficient, depth_divisor)

    effnet.round_filters = lite_round_filters
    try:
        yield
    finally:
        effnet.round_filters = round_filters


def _swish_to_relu6(unet: keras.Model) -> None:
    """Swaps the encoder's swish activations for ReLU6 (the efficientnet package hard-codes
    swish). A functional model calls its layers again on every call, so this changes the
    network, and the layers serialize as "relu6": a saved model reloads as it was built.

    Raises:
      SegmentationModelsError: when no swish was found (the encoder changed upstream).
    """
    swapped = 0
    for layer in unet.layers:
        if (isinstance(layer, keras.layers.Activation)
                and getattr(layer.activation, "__name__", "") == "swish"):
            layer.activation = keras.activations.relu6
            swapped += 1
    if not swapped:
        raise SegmentationModelsError("no swish activation found in the EfficientNet encoder: "
                                      "the Lite variant cannot be built on this version")


def load_encoder_weights(unet: keras.Model, path: str, fold_normalization: bool = True,
                         backbone: Optional[str] = None) -> int:
    """Loads converted encoder weights (`{"layer/i": array}` + JSON `__meta__`) by layer name.

    The pretrained encoder expects (rgb - mean) / std; hc-tf feeds x / 255. With
    `fold_normalization`, the difference goes into the stem: its kernel is scaled by
    255 / std and the constant offset (-mean / std times the kernel's sum) moves into the
    stem BN's moving mean, so the network and its TFLite export keep their one documented
    normalization (exact in the interior; the zero-padded border row differs slightly).

    Args:
      unet: the segmentation-models network (3-channel input) whose encoder is loaded.
      path: the `.npz`.
      fold_normalization: False loads the weights as they are (for feature checks).
      backbone: the network's backbone; the file's (its `__meta__`, Lite0 for files from
        before Lite1/2) must be the same. Lite0's layers all exist in Lite1 with Lite1's
        shapes, so without this check Lite0 weights load into a Lite1 network silently,
        its five extra blocks left random.

    Returns:
      The number of layers loaded.

    Raises:
      ValueError: naming the file, when it is unreadable, made for another backbone, a
        layer is missing from the network, or a shape differs.
    """
    try:
        with np.load(path) as f:
            meta = json.loads(str(f["__meta__"]))
            weights = {}
            for key in f.files:
                if "/" in key and not key.startswith("check/"):
                    name, i = key.rsplit("/", 1)
                    weights.setdefault(name, {})[int(i)] = f[key].astype(np.float32)
    except Exception as err:
        raise ValueError(f"{path}: not an encoder weights file ({type(err).__name__}: {err})") from err
    made_for = meta.get("backbone", LITE_BACKBONE)
    if backbone is not None and made_for != backbone:
        raise ValueError(f"{path}: encoder weights for {made_for}, but the network is {backbone} "
                         f"(convert that variant's: python -m hc_tf.modeling.lite_pytorch_weights)")
    weights = {name: [ws[i] for i in sorted(ws)] for name, ws in weights.items()}
    layers = {}
    for name, values in weights.items():
        try:
            layers[name] = unet.get_layer(name)
        except ValueError as err:
            raise ValueError(f"{path}: layer {name!r} is not in {unet.name}") from err
        shapes = [tuple(w.shape) for w in layers[name].weights]
        if shapes != [v.shape for v in values]:
            raise ValueError(f"{path}: {name} has shapes {[v.shape for v in values]}, "
                             f"the network {shapes}")
    if fold_normalization:
        missing = [k for k in ("mean_rgb", "stddev_rgb") if k not in meta]
        missing += [k for k in ("stem_conv", "stem_bn") if k not in weights]
        if missing:
            raise ValueError(f"{path}: cannot fold the input normalization: no {missing}")
        mean, std = float(meta["mean_rgb"]), float(meta["stddev_rgb"])
        kernel = weights["stem_conv"][0]
        offset = (mean / std) * kernel.sum(axis=(0, 1, 2))  # per output channel
        weights["stem_conv"] = [kernel * (1.0 / INPUT_SCALE / std)]
        gamma, beta, moving_mean, moving_var = weights["stem_bn"]
        weights["stem_bn"] = [gamma, beta, moving_mean + offset, moving_var]
    for name, values in weights.items():
        layers[name].set_weights(values)
    return len(weights)


@keras.saving.register_keras_serializable(package="hc_tf")
class FlipTTABatch(keras.layers.Layer):
    """(B, H, W, C) -> (2B, H, W, C): the batch, then the same batch mirrored left-right."""

    def call(self, x):
        return keras.ops.concatenate([x, keras.ops.flip(x, axis=2)], axis=0)

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        return (None if batch is None else 2 * batch,) + tuple(input_shape[1:])


@keras.saving.register_keras_serializable(package="hc_tf")
class FlipTTAMean(keras.layers.Layer):
    """(2B, H, W, C) from `FlipTTABatch` -> (B, H, W, C): each output averaged with its
    mirror's output mirrored back."""

    def call(self, y):
        half = keras.ops.shape(y)[0] // 2
        return 0.5 * (y[:half] + keras.ops.flip(y[half:], axis=2))

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        return (None if batch is None else batch // 2,) + tuple(input_shape[1:])


def has_flip_tta(model: keras.Model) -> bool:
    """Whether the model averages over the mirrored image itself (`with_flip_tta`)."""
    return any(layer.name == FLIP_TTA_MEAN for layer in model.layers)


def sigmoid_head() -> keras.layers.Layer:
    # The probability head stays float32 under any policy (sigmoid in fp16 saturates).
    return keras.layers.Activation("sigmoid", dtype="float32", name=HEAD_LAYER)


def with_flip_tta(model: keras.Model) -> keras.Model:
    """The same network (shared weights) averaging its logits over the image and its
    left-right mirror, run as one batch of two: twice the compute, same parameters,
    same input and output. Averaging logits (not probabilities) keeps the sigmoid head
    last, where `hc_tf.export.int8_bias` corrects it.

    Args:
      model: gray -> probability with the `HEAD_LAYER` sigmoid on top (`build_unet`).

    Returns:
      The flip-averaging model; its weights are `model`'s, in the same order.

    Raises:
      ValueError: when the model already averages flips or has no `HEAD_LAYER`.
    """
    if has_flip_tta(model):
        raise ValueError(f"{model.name} already averages over the mirrored image")
    if HEAD_LAYER not in [layer.name for layer in model.layers]:
        raise ValueError(f"{model.name} has no {HEAD_LAYER!r} sigmoid head: cannot add flip TTA")
    logits = keras.Model(model.inputs, model.get_layer(HEAD_LAYER).input, name="logits")
    gray = keras.Input(tuple(model.input.shape[1:]), name="gray")
    z = FlipTTAMean(name=FLIP_TTA_MEAN)(logits(FlipTTABatch(name=FLIP_TTA_BATCH)(gray)))
    return keras.Model(gray, sigmoid_head()(z), name=model.name)


def without_flip_tta(model: keras.Model) -> keras.Model:
    """The single-pass network inside a `with_flip_tta` model (shared weights); any
    other model as it is."""
    if not has_flip_tta(model):
        return model
    logits = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    gray = keras.Input(tuple(model.input.shape[1:]), name="gray")
    return keras.Model(gray, sigmoid_head()(logits(gray)), name=model.name)


def summary_line(model: keras.Model) -> str:
    """One line: name, input, output and parameter count."""
    return (f"{model.name}: input {tuple(model.input.shape[1:])} -> output "
            f"{tuple(model.output.shape[1:])}, {model.count_params():,} parameters, "
            f"policy {keras.mixed_precision.global_policy().name}")


def save_model(model: keras.Model, path: str) -> None:
    """Writes `model` as a .keras file through a temporary file and a rename: a reader (or a
    rerun after a kill) never finds half a model."""
    from hc_tf.io import atomic
    with atomic.atomic_path(path) as tmp:
        model.save(tmp)


def load_model(path: str) -> keras.Model:
    """Loads a saved `.keras` model (for inference: not compiled).

    Raises:
      ValueError: naming the file, when it is missing or not a Keras model.
    """
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such model file")
    if not zipfile.is_zipfile(path):  # Keras would say "File not found" of it
        raise ValueError(f"{path}: not a .keras file (not a zip archive)")
    _import_sm()  # registers the encoder's custom objects (swish, FixedDropout)
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as err:
        raise ValueError(f"{path}: not a loadable Keras model ({type(err).__name__}: {err})") from err
