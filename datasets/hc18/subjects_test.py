"""The subject rules the split and the folds share, and the TF-free side of the folder."""

import os
import subprocess
import sys

import pytest

from hc_tf_datasets.hc18 import subjects


def test_subject_id_reads_the_numeric_prefix_and_refuses_other_names():
    assert subjects.subject_id("010_HC.png") == subjects.subject_id("dir/010_2HC.png") == 10
    with pytest.raises(ValueError, match="x.png: not an HC18 image name"):
        subjects.subject_id("x.png")


def test_mean_hc_by_subject_does_not_depend_on_the_callers_order():
    """The split sorts subjects by this mean: a float sum in another order could swap two
    subjects of equal HC and move an image from train to validation."""
    names = [f"{s:03d}_{k}HC.png" for s in range(1, 40) for k in ("", "2", "3")]
    hc = {n: 0.1 * (i % 7) + 100.0 / 3.0 for i, n in enumerate(names)}
    forward = subjects.mean_hc_by_subject(hc)
    backward = subjects.mean_hc_by_subject(dict(reversed(list(hc.items()))))
    assert forward == backward and len(forward) == 39
    assert forward[1] == pytest.approx((hc["001_HC.png"] + hc["001_2HC.png"] + hc["001_3HC.png"]) / 3)


def test_split_and_folds_import_without_tensorflow():
    """Only the builder and `prepared` need TFDS: reading the release and assigning folds
    import with the base install (as the folder's README says)."""
    code = ("import sys; import hc_tf_datasets.hc18.folds, hc_tf_datasets.hc18.sources; "
            "bad = [m for m in ('tensorflow', 'tensorflow_datasets', 'keras') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stdout + done.stderr
