"""`python -m hc_tf` is the `hc-tf` command, for an environment whose scripts are not on PATH."""

import subprocess
import sys


def test_python_m_hc_tf_runs_the_command_line():
    out = subprocess.run([sys.executable, "-m", "hc_tf", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Usage: hc-tf ") and "predict" in out.stdout
