"""A Python with JAX for the tests of scripts/gpu_jax (JAX is not an hc-tf dependency).

This Python if it has JAX, else $HC_TF_JAX_PYTHON (a Python with jax, keras and
segmentation-models), else None: the tests then skip with the reason.
"""

import os
import subprocess
import sys

import pytest


def _jax_python():
    for python in (sys.executable, os.environ.get("HC_TF_JAX_PYTHON")):
        if python and subprocess.run([python, "-c", "import jax"], capture_output=True,
                                     env={**os.environ, "KERAS_BACKEND": "jax"}).returncode == 0:
            return python
    return None


JAX_PYTHON = _jax_python()
needs_jax = pytest.mark.skipif(
    JAX_PYTHON is None, reason="jax is not installed (not an hc-tf dependency): set "
    "HC_TF_JAX_PYTHON to a Python with jax, keras and segmentation-models to run these")
