"""The cross-validation device calls without a GPU: sweeps/cv5_levers.txt and cv5_full_tier.txt
against cv5.txt (the same five folds and recipe, one change each), cv5_device.sh sending one
prefix's runs with the encoder the call carried (a stub sweep.sh), and sweep.sh holding back what
exceeds one call's return for return_rest.sh (a stand-in python3: no training)."""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time

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


def _device(root, *args, env=None):
    env = {**{k: v for k, v in os.environ.items() if k not in ("BUDGET", "TIMEOUT_S")},
           "OUT": "/out-here", **(env or {})}
    return subprocess.run(["bash", str(root / "scripts" / "gpu_jax" / "cv5_device.sh"), *args],
                          capture_output=True, text=True, cwd=str(root), env=env, timeout=60)


def test_the_device_call_sends_only_the_chosen_levers_five_runs(tmp_path):
    root = _fake_checkout(tmp_path)
    out = _device(root, "scripts/gpu_jax/sweeps/cv5_levers.txt", "cv5lhr2_")
    assert out.returncode == 0, out.stderr
    names = [line.split()[0] for line in out.stdout.splitlines()[1:]]
    assert out.stdout.splitlines()[0] == "ARGS 460 /out-here"  # BUDGET: timeout_s 600 - 140
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
    # The runs are packed as each exits, so which two come first is the order they finished.
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
                            "300", str(out1)], capture_output=True, text=True, cwd=str(root),
                           env=env, timeout=120)
    assert sweep.returncode == 0, sweep.stdout + sweep.stderr
    first = sorted(p.name for p in out1.glob("*.npz"))
    assert len(first) == 2 and not list(out1.glob("*.tmp"))
    log = (out1 / "sweep.log").read_text()
    assert log.count("over 1 MiB or 7 files this call): send scripts/gpu_jax/return_rest.sh next") == 3
    # One warm-up compile for the five folds (one setup: folds and seeds share the compiled step).
    assert "warm-up: 1 setup(s) compiled" in log
    out2.mkdir()
    rest = subprocess.run(["bash", "scripts/gpu_jax/return_rest.sh"], capture_output=True, text=True,
                          cwd=str(root), env={**env, "OUT": str(out2)}, timeout=60)
    assert rest.returncode == 0, rest.stdout + rest.stderr
    second = sorted(p.name for p in out2.glob("*.npz"))
    assert len(second) == 2
    assert "1 more held back: send scripts/gpu_jax/return_rest.sh again" in rest.stdout
    out3 = tmp_path / "out3"
    out3.mkdir()
    rest = subprocess.run(["bash", "scripts/gpu_jax/return_rest.sh"], capture_output=True, text=True,
                          cwd=str(root), env={**env, "OUT": str(out3)}, timeout=60)
    assert rest.returncode == 0 and "more held back" not in rest.stdout, rest.stdout + rest.stderr
    third = [p.name for p in out3.glob("*.npz")]
    assert sorted(first + second + third) == [f"cv5_f{k}.npz" for k in range(5)]
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
           "WHEELS": "none", "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "cache"),
           "FORCE": "1"}  # fifteen runs: over the six at once sweep.sh allows without it
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


def _script_var(path, name):
    """NAME's number as a script sets it (`NAME=N`, or in a list of such assignments)."""
    with open(os.path.join(REPO, "scripts", "gpu_jax", path), encoding="utf-8") as f:
        return int(re.search(rf"\b{name}=(\d+)", f.read()).group(1))


def test_a_calls_budget_leaves_its_timeout_the_stop_kill_and_pack(tmp_path):
    # sweep.sh ends by BUDGET + stop + kill + pack (+ 10 s to start): cv5_device.sh derives
    # BUDGET from the call's timeout_s (TIMEOUT_S) with that margin, and refuses a larger one.
    margin = _script_var("cv5_device.sh", "MARGIN_S")
    assert margin == 140 == sum(_script_var("sweep.sh", k) for k in ("STOP_S", "KILL_S", "PACK_S")) + 10
    root = _fake_checkout(tmp_path)
    for timeout_s, budget in ((540, 400), (420, 280), (600, 460)):
        out = _device(root, "scripts/gpu_jax/sweeps/cv5.txt", env={"TIMEOUT_S": str(timeout_s)})
        assert out.returncode == 0 and out.stdout.splitlines()[0] == f"ARGS {budget} /out-here"
    ok = _device(root, env={"TIMEOUT_S": "480", "BUDGET": "300"})
    assert ok.returncode == 0 and ok.stdout.splitlines()[0] == "ARGS 300 /out-here"
    late = _device(root, env={"TIMEOUT_S": "430", "BUDGET": "340"})  # 2026-12-04's lever call
    assert late.returncode == 1
    assert "BUDGET=340 does not fit a call of timeout_s 430 (TIMEOUT_S): at most 290" in late.stdout


def _fake_python(tmp_path):
    """A stand-in python3 for sweep.sh: pip and warm-ups do nothing; a run sources
    FAKE_DIR/NAME.sh if there (its own end), else saves a model; `pack` packs a run that has
    best.keras, and fails on one without, as half_weights does."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python3"
    fake.write_text(
        '#!/usr/bin/env bash\n'
        'if [ "$2" = hc_tf.train.jax_backend.train_jax ]; then\n'
        '  prev=; for a in "$@"; do [ "$prev" = --run-dir ] && dir=$a; prev=$a; done\n'
        '  name=$(basename "$dir")\n'
        '  case "$name" in _warmup*) exit 0 ;; esac\n'
        '  [ ! -f "$FAKE_DIR/$name.sh" ] || source "$FAKE_DIR/$name.sh"\n'
        '  echo model > "$dir/best.keras"; echo "{}" > "$dir/best.json"; echo "done: best val ADF 1.9 mm"\n'
        '  exit 0\n'
        'elif [ "$3" = pack ]; then\n'
        '  [ -f "$4/best.keras" ] || { echo "FileNotFoundError: $4/best.keras"; exit 1; }\n'
        '  head -c 1000 /dev/zero > "$5"\n'
        'fi\n'
        'exit 0\n')
    fake.chmod(0o755)
    behaviours = tmp_path / "fake"
    behaviours.mkdir()
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "RUNS_DIR": str(tmp_path / "runs"),
           "WHEELS": "none", "FAKE_DIR": str(behaviours), "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "cache")}
    return env, behaviours


def _sweep_checkout(tmp_path):
    root = _fake_checkout(tmp_path)
    shutil.copy(os.path.join(REPO, "scripts", "gpu_jax", "sweep.sh"), root / "scripts" / "gpu_jax")
    return root


def test_each_run_is_packed_as_it_exits_so_a_killed_call_returns_the_finished_ones(tmp_path):
    root = _sweep_checkout(tmp_path)
    env, behaviours = _fake_python(tmp_path)
    (behaviours / "cv5_f4.sh").write_text("sleep 120\n")  # still training at the call's timeout
    out = tmp_path / "out"
    sweep = subprocess.Popen(["bash", "scripts/gpu_jax/sweep.sh", "scripts/gpu_jax/sweeps/cv5.txt",
                              "300", str(out)], cwd=str(root), env=env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while len(list(out.glob("*.npz"))) < 4 and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        os.killpg(sweep.pid, signal.SIGKILL)  # the device tool's timeout: everything at once
        sweep.wait()
    assert sorted(p.name for p in out.glob("*.npz")) == [f"cv5_f{k}.npz" for k in range(4)]
    log = (out / "sweep.log").read_text()
    assert all(f"== cv5_f{k}\n" in log for k in range(4)) and "== cv5_f4" not in log


def test_the_log_shows_a_stopped_runs_epochs_and_a_rerun_never_packs_an_old_attempt(tmp_path):
    root = _sweep_checkout(tmp_path)
    env, behaviours = _fake_python(tmp_path)
    runs = tmp_path / "runs"
    # An earlier call on this warm machine left cv5_f0's folder and a held-back pack.
    (runs / "cv5_f0").mkdir(parents=True)
    (runs / "cv5_f0" / "best.keras").write_text("the earlier attempt's model")
    (runs / "_rest").mkdir()
    (runs / "_rest" / "cv5_f0.npz").write_text("the earlier attempt's pack")
    (behaviours / "cv5_f0.sh").write_text('echo "RuntimeError: out of memory"; exit 1\n')  # before any validation
    validated = 'echo "  epoch {e}: val ADF 2.{e:03d} mm (fold 1 held out; the last epoch is kept), not found 0"; '
    epochs = "".join(f'echo "Epoch {e}/50"; echo "44/44 - 3s - loss: 0.1"; '
                     + (validated.format(e=e) if e % 5 == 0 else "") for e in range(1, 48))
    (behaviours / "cv5_f1.sh").write_text(
        epochs + 'echo model > "$dir/best.keras"; echo "{}" > "$dir/best.json"\n'
        'for i in $(seq 100); do echo "  File x.py, line $i, in fit"; done; echo KeyboardInterrupt; exit 124\n')
    (behaviours / "cv5_f2.sh").write_text('echo model > "$dir/best.keras"; exit 137\n')  # killed mid-save
    out = tmp_path / "out"
    sweep = subprocess.run(["bash", "scripts/gpu_jax/sweep.sh", "scripts/gpu_jax/sweeps/cv5.txt",
                            "300", str(out)], capture_output=True, text=True, cwd=str(root),
                           env=env, timeout=120)
    assert sweep.returncode == 0, sweep.stdout + sweep.stderr
    assert sorted(p.name for p in out.glob("*.npz")) == [f"cv5_f{k}.npz" for k in range(1, 5)]
    assert not (runs / "_rest" / "cv5_f0.npz").exists()
    log = (out / "sweep.log").read_text()
    f0 = log.split("== cv5_f0 (exit 1)\n")[1].split("== ")[0]
    assert "RuntimeError: out of memory" in f0 and "no model to pack" in f0
    f1 = log.split("== cv5_f1 (stopped at the budget: SIGINT)\n")[1].split("== ")[0]
    head = f1.split("File x.py")[0]  # before the traceback: the validated epochs, the last one started
    assert "  epoch 45: val ADF 2.045 mm" in head and "last started: Epoch 47/50" in head
    assert "== cv5_f2 (killed: SIGKILL 30 s after the SIGINT)" in log
    assert "no best.json: killed while saving, the packed model's epoch is unknown" in log


def test_more_than_six_runs_at_once_are_refused_unless_forced(tmp_path):
    root = _sweep_checkout(tmp_path)
    env, _ = _fake_python(tmp_path)
    out = tmp_path / "out"
    levers = subprocess.run(["bash", "scripts/gpu_jax/sweep.sh", "scripts/gpu_jax/sweeps/cv5_levers.txt",
                             "300", str(out)], capture_output=True, text=True, cwd=str(root),
                            env=env, timeout=60)
    assert levers.returncode == 2 and not out.exists()
    assert "holds 15 runs, over 6 at once" in levers.stdout and "FORCE=1" in levers.stdout
    release = subprocess.run(["bash", "scripts/gpu_jax/sweep.sh", "scripts/gpu_jax/sweeps/cv5_release.txt",
                              "300", str(out)], capture_output=True, text=True, cwd=str(root),
                             env=env, timeout=120)
    assert release.returncode == 0, release.stdout + release.stderr  # six: the release's call
    # The default RETURN_MIB returns five Lite0 folds (12.4 MB each, 62.1 MB) in one call, with
    # room for sweep.log under the tool's 64 MiB; return_rest.sh uses the same default.
    for script in ("sweep.sh", "return_rest.sh"):
        with open(os.path.join(REPO, "scripts", "gpu_jax", script), encoding="utf-8") as f:
            mib = {int(m) for m in re.findall(r"RETURN_MIB:-(\d+)", f.read())}
        assert len(mib) == 1 and 5 * 12.42e6 <= mib.pop() << 20 <= (64 << 20) - (1 << 20)


def _section6():
    with open(os.path.join(REPO, "docs", "reproducing.md"), encoding="utf-8") as f:
        text = f.read()
    return text[text.index("## 6. Cross-validation"):]


def test_the_docs_calls_give_each_timeout_to_the_script_and_fit_the_return():
    doc = _section6()
    calls = re.findall(r"carry `(\[[^]]*\])`,\s+timeout_s (\d+), command\s+`TIMEOUT_S=(\d+) "
                       r"scripts/gpu_jax/cv5_device.sh ([^ `]+)(?: ([^ `]+))?`", doc)
    assert len(calls) == 2  # the next session: call 1 the recipe, call 2 the lever
    for carry, timeout_s, script_timeout, sweep, prefix in calls:
        assert json.loads(carry) == [".gpu/cv5a", ".gpu/cv5b", ".whl"]
        assert timeout_s == script_timeout and int(timeout_s) <= 600
        runs = [n for n in _runs(os.path.basename(sweep)) if n.startswith(prefix)]
        assert len(runs) == 5  # five Lite0 folds: one call's return, no return_rest.sh
    assert [c[3:] for c in calls] == [("scripts/gpu_jax/sweeps/cv5.txt", ""),
                                      ("scripts/gpu_jax/sweeps/cv5_levers.txt", "cv5lhr2_")]
    # The tracked model comes back only after the last call (with it the tree is over 64 MiB).
    steps = doc[doc.index("1. Here: `rm export/hc_effunet.keras`"):]
    assert steps.index("git checkout -- export/hc_effunet.keras") > steps.index("3. Call 2")
    assert "cp -f FILES_AT/*.npz ~/hc-runs/cv5_out/" in steps
    # BUDGET is derived (timeout_s - 140), never set by hand: every TIMEOUT_S in the docs and
    # sweep files equals the timeout_s named just before it, and the BUDGET said after it is
    # that less 140.
    texts = [doc] + [open(os.path.join(SWEEPS, n), encoding="utf-8").read() for n in sorted(os.listdir(SWEEPS))]
    pairs = budgets = 0
    for text in texts:
        assert not re.search(r"\bBUDGET=\d", text)
        for m in re.finditer(r"TIMEOUT_S=(\d+)", text):
            before = re.findall(r"timeout_s (\d+)", text[max(0, m.start() - 120):m.start()])
            if before:
                pairs += 1
                assert before[-1] == m.group(1)
            after = re.search(r"BUDGET (\d+)", text[m.end():m.end() + 200])
            if after:
                budgets += 1
                assert int(after.group(1)) == int(m.group(1)) - 140
    assert pairs >= 6 and budgets >= 4
