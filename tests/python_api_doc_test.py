"""docs/python_api.md runs: its ```python blocks in order, as one session; and the import and
example in the docstrings of hc_tf.edge and hc_tf.surfaces.demo work as written."""

import os
import re

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")
PAGE = os.path.join(ROOT, "docs", "python_api.md")


def _blocks():
    with open(PAGE, encoding="utf-8") as f:
        return re.findall(r"^```python\n(.*?)^```$", f.read(), re.S | re.M)


def test_every_python_block_of_the_page_runs(capsys):
    blocks = _blocks()
    assert len(blocks) >= 6
    namespace = {"__name__": "python_api_doc"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{PAGE} block {i + 1}", "exec"), namespace)  # noqa: S102
    out = capsys.readouterr().out
    assert "HC " in out and "mm" in out


def test_the_page_is_linked():
    for doc in ("README.md", os.path.join("docs", "architecture.md")):
        with open(os.path.join(ROOT, doc), encoding="utf-8") as f:
            assert "python_api.md" in f.read(), doc


def test_the_edge_docstring_example_runs(capsys):
    """Its relative "hc_effunet_int8.tflite" resolved nowhere."""
    from hc_tf import edge
    lines = re.findall(r"^    (\S.*)$", edge.__doc__, re.M)
    assert lines
    exec("\n".join(lines), {})  # noqa: S102
    hc, timings = capsys.readouterr().out.split(" ", 1)
    assert 250 < float(hc) < 350 and "total_ms" in timings


@pytest.mark.parametrize("module", ["hc_tf.surfaces.demo"])
def test_the_demo_packages_import_line_works(module):
    """It said `from hc_tf import demo`, which fails."""
    import importlib
    doc = importlib.import_module(module).__doc__
    (line,) = re.findall(r"`(from hc_tf[\w.]* import \w+)`", doc)
    namespace = {}
    exec(line, namespace)  # noqa: S102
    assert namespace["demo"].__name__ == module
