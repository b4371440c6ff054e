"""hc_tf/train/jax_backend/train_jax.py --data-parallel on two forced CPU devices (XLA_FLAGS).

JAX is not a dependency of hc-tf: these run with this Python if it has JAX, else with
$HC_TF_JAX_PYTHON (a Python with jax, keras, segmentation-models), else they skip.
"""

import json
import os
import subprocess

import numpy as np
import pytest

from jax_python import JAX_PYTHON, needs_jax  # beside this file

HERE = os.path.dirname(os.path.abspath(__file__))


@needs_jax
@pytest.mark.parametrize("kind", ["conv_bn", "unet"])
def test_data_parallel_on_two_devices_equals_one_device_at_twice_the_batch(kind):
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "PYTHONPATH": os.path.dirname(HERE)}
    out = subprocess.run([JAX_PYTHON, "-m", "tests.jax_data_parallel_check", kind, "3", "2"],
                         capture_output=True, text=True, env=env, timeout=300)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert out.returncode == 0 and lines, out.stdout[-2000:] + out.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["devices"] == 2 and result["process_batch"] == 2  # half of each global batch
    one, two, reordered = result["one_device"], result["data_parallel"], result["reordered"]
    # BN included, unsynchronized: one SPMD program normalizes over the global batch.
    np.testing.assert_allclose(two["losses"][0], one["losses"][0], rtol=1e-5)
    if kind == "unet":
        # The real UNet's first step agrees to 1e-6; later steps drift (3e-4 relative at
        # step 3, some small weights by 0.4). The control shows why: on ONE device, only
        # reversing each batch's images (float sums in another order, nothing else) drifts
        # 3e-5 by step 3 (weights by 0.06): this network's training amplifies summation-order
        # noise (BN over 4 tiny images, 60+ layers), and data parallel reorders every
        # gradient and BN sum across devices. The TF mirrored path drifts alike.
        rel = abs(reordered["losses"][-1] - one["losses"][-1]) / one["losses"][-1]
        assert rel > 1e-6, rel  # the amplification is real, not a data-parallel artefact
        np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-3)
        return
    # The tiny network does not amplify: reordering alone stays at float rounding.
    np.testing.assert_allclose(reordered["losses"], one["losses"], rtol=1e-6)
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-5)
    diff = max(float(np.abs(np.array(a) - np.array(b)).max())
               for a, b in zip(one["weights"], two["weights"]))
    assert diff < 1e-4, diff
