"""The JAX trainer's --large-head-repeat: its epoch index list repeats the heads
over defaults.LARGE_HEAD_MM, repeat 1 is today's order and augmentation, the held-out fold is
never repeated, and the run's config.json records the levers.

Runs with a Python that has JAX (tests/jax_python.py), else skips; the training run is `large`.
"""

import json
import os
import subprocess
import textwrap

import numpy as np
import pytest

from jax_python import JAX_PYTHON, needs_jax  # beside this file
from train_jax_test import _tiny_pack, _train_jax  # beside this file

HERE = os.path.dirname(os.path.abspath(__file__))

# AugmentedBatches over one epoch: which image each row is (a constant image per index), for
# repeat 3 with two large heads; and, for repeat 1, the batches against today's formula
# (order = a permutation of the images, augmentation keyed by the image index).
_CHECK = textwrap.dedent("""
    import json, sys
    import numpy as np
    from hc_tf.train.jax_backend import train_jax
    from hc_tf.train.jax_backend.augment_np import augment_np
    n, seed = 6, 5
    x = np.repeat(np.arange(n, dtype=np.uint8)[:, None, None] * 40, 64 * 96, 1).reshape(n, 64, 96)
    y = np.zeros((n, 64, 96), np.uint8)
    hc = np.array([100.0, 300.0, 200.0, 261.0, 120.0, 140.0])
    data = {"train_hc": hc, "validation_hc": np.array([400.0])}
    index = train_jax.training_index(data, False, 3)
    plain = train_jax.AugmentedBatches(x, y, 2, seed, index=index)
    rows = [int(k) for i in range(len(plain)) for k in plain.index[plain.order[2 * i:2 * i + 2]]]
    today = train_jax.AugmentedBatches(x, y, 2, seed, index=train_jax.training_index(data, False, 1))
    order = np.random.default_rng((seed, 0)).permutation(n)
    same = all(np.array_equal(today[i][0], np.stack([augment_np(x[k], y[k],
               np.random.default_rng((seed, 0, int(k))))[0] for k in order[2 * i:2 * i + 2]]))
               for i in range(len(today)))
    default = train_jax.AugmentedBatches(x, y, 2, seed)
    same_default = all(np.array_equal(default[i][0], today[i][0]) for i in range(len(today)))
    all_index = train_jax.training_index(data, True, 2)
    json.dump({"len": len(plain), "rows": rows, "today": bool(same),
               "default": bool(same_default), "all_index": all_index.tolist()}, sys.stdout)
""")


@needs_jax
def test_the_epoch_index_repeats_large_heads_and_repeat_one_is_todays_batches():
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.path.dirname(HERE)}
    out = subprocess.run([JAX_PYTHON, "-c", _CHECK], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    # 6 images, two over 260 mm (1 and 3) three times each: 10 an epoch, 5 batches of 2.
    assert got["len"] == 5
    assert sorted(got["rows"]) == [0, 1, 1, 1, 2, 3, 3, 3, 4, 5]
    assert got["today"] and got["default"]
    # --train-on-all: the validation images train too, so theirs repeat as well.
    assert got["all_index"] == [0, 1, 1, 2, 3, 3, 4, 5, 6, 6]


@pytest.mark.large  # JAX training in a subprocess
@needs_jax
def test_a_fold_run_repeats_only_its_training_part_and_records_the_levers(tmp_path):
    pack, run = str(tmp_path / "pack.npz"), str(tmp_path / "run")
    _tiny_pack(pack, n_train=8, n_val=4)
    with np.load(pack) as f:
        arrays = dict(f)
    # Fold 0 = the validation split, as pack_hc18 stores it; 3 training and 2 held-out heads
    # marked large: the held-out ones must not be repeated.
    arrays.update(train_fold=np.array([1, 2, 3, 4, 1, 2, 3, 4], np.int8),
                  validation_fold=np.zeros(4, np.int8), n_folds=np.asarray(5))
    arrays["train_hc"] = arrays["train_hc"].copy()
    arrays["train_hc"][:3] = 300.0
    arrays["validation_hc"] = arrays["validation_hc"].copy()
    arrays["validation_hc"][:2] = 300.0
    np.savez_compressed(pack, **arrays)
    out = _train_jax("--data", pack, "--run-dir", run, "--folds", "5", "--fold", "0",
                     "--epochs", "1", "--val-every", "1", "--batch-size", "2", "--workers", "1",
                     "--precision", "float32", "--decoder-filters", "16,8,8,8,8",
                     "--large-head-repeat", "3")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "8 training images (folds other than 0 of 5), 4 validation images" in out.stdout
    assert "large-head repeat 3: 14 images an epoch (8 + 3 heads over 260 mm x 2 more)" in out.stdout
    assert "7/7" in out.stdout  # 14 images, batches of 2
    config = json.load(open(os.path.join(run, "config.json")))
    assert config["large_head_repeat"] == 3 and config["boundary_weight"] == 0.0


@needs_jax
def test_a_repeat_below_one_is_refused():
    out = _train_jax("--data", "unused.npz", "--run-dir", "unused", "--large-head-repeat", "0")
    assert out.returncode == 2 and "--large-head-repeat needs a whole number >= 1" in out.stderr
