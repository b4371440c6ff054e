"""`hc-tf train --distribute` on the CPU, loopback only.

Two logical CPU devices (a subprocess: the split must precede TensorFlow's start) stand in
for two GPUs; two `hc-tf train` processes with a 127.0.0.1 TF_CONFIG stand in for two hosts.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from hc_tf.train import distribute as distribute_lib

HERE = os.path.dirname(os.path.abspath(__file__))
HC_TF = os.path.join(os.path.dirname(sys.executable), "hc-tf")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "CI": "1"}


def _equivalence(kind, steps=3, per_replica=2):
    """Runs tests/distribute_equivalence.py; (one-device run, two-replica run)."""
    out = subprocess.run([sys.executable, "-m", "tests.distribute_equivalence", kind,
                          str(steps), str(per_replica)],
                         capture_output=True, text=True, env=ENV, timeout=300,
                         cwd=os.path.dirname(HERE))
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert out.returncode == 0 and lines, out.stdout[-2000:] + out.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    return result["one_device"], result["two_replicas"]


def _max_weight_difference(a, b):
    return max(float(np.abs(np.array(x) - np.array(y)).max()) for x, y in zip(a, b))


@pytest.mark.parametrize("kind", ["conv", "conv_bn"])
def test_two_replicas_at_batch_b_equal_one_device_at_batch_2b(kind):
    # SGD without momentum: a gradient off by the replica count would show at step 2.
    one, two = _equivalence(kind)
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-5)
    assert _max_weight_difference(one["weights"], two["weights"]) < 1e-5
    if kind == "conv_bn":  # synchronized: one set of moving statistics on both replicas
        assert two["synchronized_bn"] == 1
        assert two["replica_spread"] and max(two["replica_spread"].values()) == 0.0


def test_the_real_networks_bn_unsynchronized_keeps_one_statistic_per_replica():
    """Why `--distribute` synchronizes BN: left alone, each of the UNet's BN layers
    normalizes with its replica's own batch and updates that replica's copy of the moving
    statistics only (Keras 3 gives them aggregation "none"): the copies diverge, and the
    saved model would carry replica 0's."""
    one, two = _equivalence("unet_unsynced", steps=2)
    assert two["synchronized_bn"] == 0
    assert max(two["replica_spread"].values()) > 1e-4  # the copies disagree
    assert abs(two["losses"][0] - one["losses"][0]) > 1e-5  # per-replica statistics


def test_every_bn_layer_of_the_real_network_is_synchronized_and_saved_plain(tmp_path, float32_policy):
    import keras
    from hc_tf.modeling import model as model_lib
    from hc_tf.train import run_dir as run_dir_lib
    from conftest import TINY_DECODER, TINY_HW

    model = model_lib.build_unet(TINY_HW, decoder_filters=TINY_DECODER)
    layers = [layer for layer in model._flatten_layers(include_self=False)
              if isinstance(layer, keras.layers.BatchNormalization)]
    assert distribute_lib.synchronize_batch_norm(model) == len(layers) > 50
    assert all(layer.synchronized for layer in layers)
    path = str(tmp_path / "m.keras")
    run_dir_lib.save_model_atomic(model, path)  # loadable on JAX, which refuses synchronized BN
    assert '"synchronized": true' not in json.dumps(keras.models.load_model(path).get_config())


def test_tf_config_is_checked_before_anything_runs():
    with pytest.raises(distribute_lib.DistributeError, match="needs TF_CONFIG"):
        distribute_lib.read_tf_config({})
    with pytest.raises(distribute_lib.DistributeError, match="not a cluster"):
        distribute_lib.read_tf_config({"TF_CONFIG": "{not json"})
    with pytest.raises(distribute_lib.DistributeError, match="is not a worker"):
        distribute_lib.read_tf_config({"TF_CONFIG": json.dumps(
            {"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}})})
    cluster = {"worker": ["a:1", "b:1"]}
    assert distribute_lib.is_chief_task({"cluster": cluster, "task": {"type": "worker", "index": 0}})
    assert not distribute_lib.is_chief_task({"cluster": cluster, "task": {"type": "worker", "index": 1}})
    with_chief = {"chief": ["c:1"], **cluster}
    assert not distribute_lib.is_chief_task({"cluster": with_chief, "task": {"type": "worker", "index": 0}})


def test_cli_refuses_multi_worker_without_tf_config_or_with_sample(tmp_path):
    env = {k: v for k, v in ENV.items() if k != "TF_CONFIG"}
    base = [HC_TF, "train", "--run-dir", str(tmp_path / "run"), "--distribute", "multi-worker"]
    sample = subprocess.run(base + ["--sample"], capture_output=True, text=True, env=env, timeout=120)
    assert sample.returncode == 1 and "run `hc-tf prepare` once first" in sample.stderr
    bare = subprocess.run(base + ["--data-dir", str(tmp_path)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert bare.returncode == 1 and "needs TF_CONFIG on every worker" in bare.stderr, bare.stderr[-2000:]
    assert "Traceback" not in bare.stderr


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_two_workers_on_loopback_train_one_epoch_and_only_the_chief_writes(sample_data_dir, tmp_path):
    run = tmp_path / "run"
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    args = [HC_TF, "train", "--data-dir", sample_data_dir, "--run-dir", str(run), "--epochs", "1",
            "--steps-per-epoch", "2", "--batch-size", "2", "--input-size", "64x96", "--small",
            "--lr-schedule", "constant", "--no-augmentation", "--distribute", "multi-worker"]
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        procs.append(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      env={**ENV, "TF_CONFIG": json.dumps(tf_config)}))
    outs = [p.communicate(timeout=400) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, out[-2000:] + err[-3000:]
        assert "2 replicas" in out and "global batch 4 = 2 per replica x 2" in out
    assert "(chief)" in outs[0][0] and "worker done" in outs[1][0]
    assert "best: epoch 1" in outs[0][0]
    assert sorted(os.listdir(run)) == ["backup", "best.json", "best.keras", "config.json", "log.csv",
                                       "tb", "training_curve.png"]
    assert json.loads((run / "backup" / "training_metadata.json").read_text())["weights"]
