"""hc_tf/modeling/add_flip_tta.py, the release step that puts flip TTA inside the model, and the
refusal to add flip TTA again at inference."""


import numpy as np
import pytest
from click.testing import CliRunner

from hc_tf import cli
from hc_tf import inference
from hc_tf.modeling import add_flip_tta
from hc_tf.modeling import keras_runner
from hc_tf.modeling import model as model_lib
from tests.conftest import TINY_DECODER, TINY_HW



@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """(single-pass model, path of its best.keras, path of the flip-TTA copy)."""
    folder = tmp_path_factory.mktemp("release")
    model = model_lib.build_unet(TINY_HW, "efficientnetlite0", "float32",
                                 decoder_filters=TINY_DECODER)
    best, out = str(folder / "best.keras"), str(folder / "hc_effunet.keras")
    model.save(best)
    assert add_flip_tta.main([best, out]) == 0
    return model, best, out


def test_the_copy_is_the_network_with_flip_tta_inside(released):
    model, _, out = released
    tta = model_lib.load_model(out)
    assert model_lib.has_flip_tta(tta)
    x = np.random.default_rng(1).uniform(0, 255, (2, *TINY_HW, 1)).astype(np.float32)
    np.testing.assert_allclose(tta.predict(x, verbose=0),
                               model_lib.with_flip_tta(model).predict(x, verbose=0), atol=1e-6)


def test_the_script_names_the_file_it_cannot_use(released, tmp_path, capsys):
    _, _, out = released
    assert add_flip_tta.main([out, str(tmp_path / "twice.keras")]) == 1
    assert "hc_effunet.keras: " in capsys.readouterr().err
    assert not (tmp_path / "twice.keras").exists()
    assert add_flip_tta.main([str(tmp_path / "missing.keras"), str(tmp_path / "x.keras")]) == 1
    assert "missing.keras: no such model file" in capsys.readouterr().err


def test_flip_tta_is_not_added_twice_at_inference(released, tmp_path):
    _, best, out = released
    assert keras_runner.KerasRunner(best, flip_tta=True).flip_tta
    with pytest.raises(ValueError, match="drop --flip-tta"):
        keras_runner.KerasRunner(out, flip_tta=True)
    image = tmp_path / "1_HC.png"
    import cv2
    cv2.imwrite(str(image), np.full((60, 90), 90, np.uint8))
    result = CliRunner().invoke(cli.main, ["predict", "--model", out, "--flip-tta",
                                           "--pixel-size", "0.1", "--out",
                                           str(tmp_path / "out"), str(image)])
    assert result.exit_code == 1
    assert "already averages over the mirrored image" in result.output
    assert "Traceback" not in result.output


def test_flip_tta_is_refused_for_an_edge_model(tmp_path):
    tflite = tmp_path / "m.tflite"
    tflite.write_bytes(b"not read: the flag is refused first")
    with pytest.raises(ValueError, match="m.tflite: --flip-tta is for a .keras model"):
        inference.load_runner(str(tflite), flip_tta=True)
