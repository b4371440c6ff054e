"""scripts/gpu_jax/sweeps/cv5_levers.txt against cv5.txt (the same five folds and recipe, one
lever each), and cv5_device.sh sending one lever's runs (a stub sweep.sh in a copy of the
scripts: no GPU, no training)."""

import hashlib
import os
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEPS = os.path.join(REPO, "scripts", "gpu_jax", "sweeps")


def _runs(name):
    with open(os.path.join(SWEEPS, name), encoding="utf-8") as f:
        lines = [line.split() for line in f if line.strip() and not line.startswith("#")]
    return {words[0]: words[1:] for words in lines}


@pytest.mark.parametrize("prefix, lever", [("cv5bw1_", ["--boundary-weight", "1"]),
                                           ("cv5lhr2_", ["--large-head-repeat", "2"])])
def test_each_lever_is_the_cv5_recipe_plus_one_flag_over_the_five_folds(prefix, lever):
    base, levers = _runs("cv5.txt"), _runs("cv5_levers.txt")
    mine = {name: args for name, args in levers.items() if name.startswith(prefix)}
    assert sorted(mine) == [f"{prefix}f{k}" for k in range(5)]
    for k in range(5):
        assert mine[f"{prefix}f{k}"] == base[f"cv5_f{k}"] + lever


def _fake_checkout(tmp_path):
    """The two scripts and the sweep files in a fake checkout, sweep.sh replaced by a stub
    that prints its arguments and the sweep file it was given, and call 1's files present."""
    root = tmp_path / "repo"
    shutil.copytree(os.path.join(REPO, "scripts", "gpu_jax", "sweeps"),
                    root / "scripts" / "gpu_jax" / "sweeps")
    shutil.copy(os.path.join(REPO, "scripts", "gpu_jax", "cv5_device.sh"), root / "scripts" / "gpu_jax")
    stub = root / "scripts" / "gpu_jax" / "sweep.sh"
    stub.write_text('#!/usr/bin/env bash\necho "ARGS $2 $3"\ncat "$1"\n')
    stub.chmod(0o755)
    for part in ("cv5a", "cv5b", "../.whl"):
        (root / ".gpu" / part).mkdir(parents=True, exist_ok=True)
    (root / ".gpu" / "cv5a" / "pack.part00").write_bytes(b"pack-a")
    (root / ".gpu" / "cv5b" / "pack.part01").write_bytes(b"pack-b")
    (root / ".gpu" / "cv5b" / "pack.sha256").write_text(hashlib.sha256(b"pack-apack-b").hexdigest())
    (root / ".gpu" / "cv5b" / "lite0_imagenet_k16.npz").write_bytes(b"w")
    return root


def _device(root, *args):
    env = {**os.environ, "OUT": "/out-here"}
    env.pop("BUDGET", None)
    return subprocess.run(["bash", str(root / "scripts" / "gpu_jax" / "cv5_device.sh"), *args],
                          capture_output=True, text=True, cwd=str(root), env=env, timeout=60)


def test_the_device_call_sends_only_the_chosen_levers_five_runs(tmp_path):
    root = _fake_checkout(tmp_path)
    out = _device(root, "scripts/gpu_jax/sweeps/cv5_levers.txt", "cv5lhr2_")
    assert out.returncode == 0, out.stderr
    names = [line.split()[0] for line in out.stdout.splitlines()[1:]]
    assert out.stdout.splitlines()[0] == "ARGS 400 /out-here"
    assert names == [f"cv5lhr2_f{k}" for k in range(5)]
    default = _device(root)  # no arguments: the cv5 call as before
    assert [line.split()[0] for line in default.stdout.splitlines()
            if line.startswith("cv5")] == [f"cv5_f{k}" for k in range(5)]
    wrong = _device(root, "scripts/gpu_jax/sweeps/cv5_levers.txt", "nope_")
    assert wrong.returncode == 1 and "no run in scripts/gpu_jax/sweeps/cv5_levers.txt starts with nope_" in wrong.stdout
