"""datasets/hc18/folds.py: 5 folds by subject, stratified by HC, fold 0 = the validation split."""

import numpy as np
import pytest

from hc_tf_datasets.hc18 import folds
from hc_tf_datasets.hc18.subjects import split_subjects


def _subjects(n: int, seed: int = 3) -> dict:
    rng = np.random.default_rng(seed)
    return {int(s): float(h) for s, h in zip(rng.permutation(1000)[:n], rng.uniform(40, 350, n))}


@pytest.mark.parametrize("n", [203, 200, 7])
def test_fold_zero_is_the_validation_split(n):
    hc = _subjects(n)
    assigned = folds.assign_folds(hc, 5)
    _, validation = split_subjects(hc, 0.2)
    assert sorted(s for s, k in assigned.items() if k == 0) == validation
    assert set(assigned) == set(hc) and set(assigned.values()) <= set(range(5))


def test_every_stratum_of_five_is_spread_over_all_folds():
    hc = _subjects(203)
    assigned = folds.assign_folds(hc, 5)
    order = sorted(hc, key=lambda s: (hc[s], s))
    full = [order[i:i + 5] for i in range(0, 200, 5)]
    assert all(sorted(assigned[s] for s in group) == [0, 1, 2, 3, 4] for group in full)
    # Hence every HC band holds each fold about equally (within one subject per stratum cut).
    sizes = np.bincount(list(assigned.values()), minlength=5)
    assert sizes.max() - sizes.min() <= 1


def test_the_other_folds_do_not_depend_on_the_validation_seed_only():
    hc = _subjects(100)
    a, b = folds.assign_folds(hc, 5), folds.assign_folds(hc, 5, fold_seed=7)
    assert [s for s in a if a[s] == 0] == [s for s in b if b[s] == 0]
    assert a != b  # a different draw of folds 1-4, the same fold 0


def test_images_of_one_subject_share_a_fold():
    names = ["010_HC.png", "010_2HC.png", "010_3HC.png", "011_HC.png", "012_HC.png",
             "013_HC.png", "014_HC.png", "015_HC.png", "016_HC.png", "017_HC.png"]
    hc = [100.0, 101.0, 99.0, 50.0, 60.0, 200.0, 210.0, 300.0, 310.0, 150.0]
    by_name = folds.folds_by_filename(names, hc)
    assert by_name["010_HC.png"] == by_name["010_2HC.png"] == by_name["010_3HC.png"]
    assert set(by_name) == set(names)


def test_fewer_than_two_folds_is_refused():
    with pytest.raises(ValueError, match="at least 2 folds"):
        folds.assign_folds({1: 100.0, 2: 200.0}, 1)


def test_a_pack_stores_every_images_fold_and_loads_with_a_limit(tmp_path):
    from hc_tf.train.jax_backend import pack_hc18
    names = {"train": ["010_HC.png", "011_HC.png", "012_HC.png", "010_2HC.png"],
             "validation": ["013_HC.png", "014_HC.png"]}
    arrays = {}
    for split, split_names in names.items():
        n = len(split_names)
        arrays.update({f"{split}_x_{k}": v for k, v in pack_hc18.encode_images(
            np.zeros((n, 8, 8), np.uint8)).items()})
        arrays.update({f"{split}_names": np.asarray(split_names),
                       f"{split}_hc": np.linspace(100, 300, n), f"{split}_y": np.zeros((n, 8, 8), np.uint8)})
    arrays.update(pack_hc18.fold_arrays(arrays, 5))
    expected = folds.folds_by_filename(names["train"] + names["validation"],
                                       list(arrays["train_hc"]) + list(arrays["validation_hc"]))
    assert [expected[n] for n in names["train"]] == list(arrays["train_fold"])
    assert arrays["train_fold"][0] == arrays["train_fold"][3]  # one subject, one fold
    path = str(tmp_path / "pack.npz")
    np.savez(path, **arrays)
    loaded = pack_hc18.load_packed(path, limit=2)  # the scalar n_folds is left whole
    assert int(loaded["n_folds"]) == 5 and len(loaded["train_fold"]) == 2
    assert loaded["train_x"].shape == (2, 8, 8)
