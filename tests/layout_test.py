"""The package's layout: one module, one job, none over 400 lines (web_app/test/layout.test.js
holds the JavaScript port to the same). Reads files only: no hc_tf import."""

import os
from typing import List

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_LINES = 400


def modules_over(root: str, max_lines: int = MAX_LINES) -> List[str]:
    """"hc_tf/x.py: 401 lines > 400" for each .py under `root` longer than `max_lines` lines,
    the path from `root`'s parent."""
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(n for n in files if n.endswith(".py")):
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                n = len(f.read().splitlines())
            if n > max_lines:
                out.append(f"{os.path.relpath(path, os.path.dirname(root))}: {n} lines > {max_lines}")
    return out


def test_no_python_module_of_the_package_is_over_400_lines():
    over = modules_over(os.path.join(REPO, "hc_tf"))
    assert not over, "split by job (one module, one job): " + "; ".join(over)


def test_a_module_over_the_limit_is_named(tmp_path):
    # Guards the check itself: 401 lines fail, naming the file; 400 pass.
    package = tmp_path / "hc_tf" / "sub"
    package.mkdir(parents=True)
    (package / "long.py").write_text("x = 1\n" * 401)
    (package / "fine.py").write_text("x = 1\n" * 400)
    (package / "notes.txt").write_text("x\n" * 500)
    assert modules_over(str(tmp_path / "hc_tf")) == [
        os.path.join("hc_tf", "sub", "long.py") + ": 401 lines > 400"]
