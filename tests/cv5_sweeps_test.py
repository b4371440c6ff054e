"""The cross-validation device calls without a GPU: sweeps/cv5_levers.txt and cv5_full_tier.txt
against cv5.txt (the same five folds and recipe, one change each), cv5_device.sh sending one
prefix's runs with the encoder the call carried (a stub sweep.sh), and sweep.sh holding back what
exceeds one call's return for return_rest.sh (a stand-in python3: no training)."""

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
                                           ("cv5lhr2_", ["--large-head-repeat", "2"]),
                                           ("cv5hc1_", ["--hc-weight", "1"])])
def test_each_lever_is_the_cv5_recipe_plus_one_flag_over_the_five_folds(prefix, lever):
    base, levers = _runs("cv5.txt"), _runs("cv5_levers.txt")
    mine = {name: args for name, args in levers.items() if name.startswith(prefix)}
    assert sorted(mine) == [f"{prefix}f{k}" for k in range(5)]
    for k in range(5):
        assert mine[f"{prefix}f{k}"] == base[f"cv5_f{k}"] + lever


def _fake_checkout(tmp_path):
    """The two scripts and the sweep files in a fake checkout, sweep.sh replaced by a stub
    that prints its arguments and the sweep file it was given, and the carried files present."""
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


@pytest.mark.parametrize("prefix, backbone", [("cv5l1_", "efficientnetlite1"),
                                              ("cv5l2_", "efficientnetlite2")])
def test_each_full_tier_encoder_is_the_cv5_recipe_with_its_own_encoder(prefix, backbone):
    base, tier = _runs("cv5.txt"), _runs("cv5_full_tier.txt")
    mine = {name: args for name, args in tier.items() if name.startswith(prefix)}
    assert sorted(mine) == [f"{prefix}f{k}" for k in range(5)]
    variant = backbone.replace("efficientnet", "")
    for k in range(5):
        expected = base[f"cv5_f{k}"] + ["--backbone", backbone]
        expected[expected.index("--encoder-weights") + 1] = f".gpu/{variant}_imagenet_k16.npz"
        assert mine[f"{prefix}f{k}"] == expected


def test_the_device_call_refuses_a_sweep_whose_encoder_the_call_did_not_carry(tmp_path):
    root = _fake_checkout(tmp_path)  # the call carried Lite0's encoder only
    out = _device(root, "scripts/gpu_jax/sweeps/cv5_full_tier.txt", "cv5l2_")
    assert out.returncode == 1
    assert "the sweep needs .gpu/lite2_imagenet_k16.npz, which the call did not carry" in out.stdout
    (root / ".gpu" / "cv5b" / "lite2_imagenet_k16.npz").write_bytes(b"w")
    out = _device(root, "scripts/gpu_jax/sweeps/cv5_full_tier.txt", "cv5l2_")
    assert out.returncode == 0, out.stdout + out.stderr
    assert [line.split()[0] for line in out.stdout.splitlines()[1:]] == [f"cv5l2_f{k}" for k in range(5)]


def test_packs_over_one_calls_return_wait_for_the_next_call(tmp_path):
    # sweep.sh with a stand-in python3 (training does nothing, each pack is 0.4 MiB): with
    # RETURN_MIB=1 two packs go back in this call's OUT, the other three wait on the machine
    # until return_rest.sh copies them out, as many as one call returns, over the next calls.
    root = _fake_checkout(tmp_path)
    shutil.copy(os.path.join(REPO, "scripts", "gpu_jax", "sweep.sh"), root / "scripts" / "gpu_jax")
    shutil.copy(os.path.join(REPO, "scripts", "gpu_jax", "return_rest.sh"), root / "scripts" / "gpu_jax")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python3"
    fake.write_text('#!/usr/bin/env bash\n'
                    'if [ "$3" = pack ]; then head -c 419430 /dev/zero > "$5"; fi\nexit 0\n')
    fake.chmod(0o755)
    out1, out2, runs = tmp_path / "out1", tmp_path / "out2", tmp_path / "runs"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "RUNS_DIR": str(runs),
           "RETURN_MIB": "1", "WHEELS": "none"}
    sweep = subprocess.run(["bash", "scripts/gpu_jax/sweep.sh", "scripts/gpu_jax/sweeps/cv5.txt",
                            "10", str(out1)], capture_output=True, text=True, cwd=str(root),
                           env=env, timeout=120)
    assert sweep.returncode == 0, sweep.stdout + sweep.stderr
    assert sorted(p.name for p in out1.glob("*.npz")) == ["cv5_f0.npz", "cv5_f1.npz"]
    log = (out1 / "sweep.log").read_text()
    assert "held back cv5_f4.npz (over 1 MiB this call): send scripts/gpu_jax/return_rest.sh next" in log
    # One warm-up compile for the five folds (one setup: folds and seeds share the compiled step).
    assert "warm-up: 1 setup(s) compiled" in log
    out2.mkdir()
    rest = subprocess.run(["bash", "scripts/gpu_jax/return_rest.sh"], capture_output=True, text=True,
                          cwd=str(root), env={**env, "OUT": str(out2)}, timeout=60)
    assert rest.returncode == 0, rest.stdout + rest.stderr
    assert sorted(p.name for p in out2.glob("*.npz")) == ["cv5_f2.npz", "cv5_f3.npz"]
    assert "1 more held back: send scripts/gpu_jax/return_rest.sh again" in rest.stdout
    out3 = tmp_path / "out3"
    out3.mkdir()
    rest = subprocess.run(["bash", "scripts/gpu_jax/return_rest.sh"], capture_output=True, text=True,
                          cwd=str(root), env={**env, "OUT": str(out3)}, timeout=60)
    assert rest.returncode == 0 and "more held back" not in rest.stdout, rest.stdout + rest.stderr
    assert [p.name for p in out3.glob("*.npz")] == ["cv5_f4.npz"]
    cold = subprocess.run(["bash", "scripts/gpu_jax/return_rest.sh"], capture_output=True, text=True,
                          cwd=str(root), env={**env, "OUT": str(out2), "RUNS_DIR": str(tmp_path / "cold")},
                          timeout=60)
    assert cold.returncode == 1 and "nothing held back" in cold.stdout


def test_the_sweep_compiles_each_training_setup_once_before_its_runs(tmp_path):
    # cv5_levers.txt: fifteen runs, three compiled setups (the loss terms; --large-head-repeat
    # only lengthens an epoch, so it shares the plain step). A stand-in python3 logs each call.
    root = _fake_checkout(tmp_path)
    shutil.copy(os.path.join(REPO, "scripts", "gpu_jax", "sweep.sh"), root / "scripts" / "gpu_jax")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.txt"
    fake = bin_dir / "python3"
    fake.write_text(f'#!/usr/bin/env bash\necho "$*" >> {calls}\nexit 0\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "RUNS_DIR": str(tmp_path / "runs"),
           "WHEELS": "none", "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "cache")}
    sweep = subprocess.run(["bash", "scripts/gpu_jax/sweep.sh", "scripts/gpu_jax/sweeps/cv5_levers.txt",
                            "300", str(tmp_path / "out")], capture_output=True, text=True,
                           cwd=str(root), env=env, timeout=120)
    assert sweep.returncode == 0, sweep.stdout + sweep.stderr
    lines = calls.read_text().splitlines()
    warmups = [line for line in lines if "/_warmup" in line]
    assert len(warmups) == 3
    assert all(line.endswith("--epochs 1 --limit 48 --val-every 1") for line in warmups)
    assert sorted("--hc-weight" in w for w in warmups) == [False, False, True]
    assert sorted("--boundary-weight" in w for w in warmups) == [False, False, True]
    trains = [line for line in lines if "train_jax" in line and "/_warmup" not in line]
    assert len(trains) == 15
    # Every run's time budget is what the warm-up left of the sweep's 300 s.
    assert all(0 < int(t.split("--time-budget-s ")[1].split()[0]) <= 300 for t in trains)
    assert "warm-up: 3 setup(s) compiled" in (tmp_path / "out" / "sweep.log").read_text()


def test_the_release_call_is_the_cv5_recipe_and_the_same_recipe_on_all_images():
    base, release = _runs("cv5.txt"), _runs("cv5_release.txt")
    assert list(release) == [f"cv5_f{k}" for k in range(5)] + ["all_e50"]
    for k in range(5):
        assert release[f"cv5_f{k}"] == base[f"cv5_f{k}"]
    # measured every 5th epoch (the curve only: nothing is chosen by it), as the folds
    assert base["cv5_f0"][-6:-4] == ["--val-every", "5"]
    assert release["all_e50"] == base["cv5_f0"][:-4] + ["--train-on-all"]
