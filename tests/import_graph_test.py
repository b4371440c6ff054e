"""The TF-free side's import graph, read from the sources (no import is executed).

Rule 2 of the design: TensorFlow, Keras, TFDS and segmentation-models are imported only
on the TF side. This test walks the static import graph of `hc_tf`:

* from every TF-free module, the imports that run when it is imported (module level,
  followed transitively through hc_tf) never reach one of those packages;
* an import inside a function (run only when it is called) that reaches them is one of
  the few doors listed in LAZY_DOORS (e.g. `inference.load_runner` opening a `.keras`),
  so a new arrow from the TF-free side to the TF side is a decision, not an accident.

tests/edge_test.py complements this by running the edge path with those imports blocked.
"""

from __future__ import annotations

import ast
import os
from typing import Dict, List, Set, Tuple

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "hc_tf"
FORBIDDEN = ("tensorflow", "keras", "tf_keras", "tensorflow_datasets", "segmentation_models")

# The modules that must import with the base install only (DESIGN.md, "two sides").
TF_FREE = ("hc_tf", "hc_tf.defaults", "hc_tf.preprocess", "hc_tf.measure", "hc_tf.quality", "hc_tf.clinical",
           "hc_tf.report", "hc_tf.io_utils", "hc_tf.hc18_csv", "hc_tf.inference", "hc_tf.edge",
           "hc_tf.evaluate", "hc_tf.predict", "hc_tf.parity", "hc_tf.demo", "hc_tf.cli",
           "hc_tf.progress", "hc_tf.quiet", "hc_tf.lite_ops", "hc_tf.lite_metadata",
           "hc_tf.beam_predict")  # beam_predict needs the [beam] extra, never TensorFlow

# (module, function, imported module): function-level imports that lead to the TF side,
# each run only when the user asked for a TF-side thing.
LAZY_DOORS = {
    ("hc_tf.inference", "load_runner", "hc_tf.keras_runner"),  # a .keras model
    ("hc_tf.parity", "run_parity", "hc_tf.keras_runner"),      # parity needs the Keras model
    ("hc_tf.cli", "prepare", "tensorflow_datasets"),           # hc-tf prepare: the TFDS build
    ("hc_tf.cli", "_ensure_prepared", "tensorflow_datasets"),
    ("hc_tf.cli", "train", "hc_tf.train"),
    ("hc_tf.cli", "export", "hc_tf.lite"),
    ("hc_tf.cli", "evaluate", "hc_tf.data"),                   # a prepared TFDS data dir
    ("hc_tf.cli", "parity", "hc_tf.data"),
}


def _module_files() -> Dict[str, str]:
    """Module name -> source file, for every module of the package."""
    out = {}
    root = os.path.join(REPO, PACKAGE)
    for folder, _, files in os.walk(root):
        for name in files:
            if not name.endswith(".py"):
                continue
            rel = os.path.relpath(os.path.join(folder, name), REPO)[:-3].split(os.sep)
            if rel[-1] == "__init__":
                rel = rel[:-1]
            out[".".join(rel)] = os.path.join(folder, name)
    return out


MODULES = _module_files()


def _with_parents(name: str) -> List[str]:
    """`a.b.c` -> [a, a.b, a.b.c]: importing a submodule runs its packages' __init__ too."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _targets(node: ast.AST) -> List[str]:
    """The modules an import statement loads (hc_tf submodules resolved to files)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    assert isinstance(node, ast.ImportFrom)
    if node.level:  # the package uses absolute imports only
        raise AssertionError(f"relative import at line {node.lineno}")
    base = node.module or ""
    out = [base]
    for alias in node.names:  # `from hc_tf import edge` loads the module hc_tf.edge
        if f"{base}.{alias.name}" in MODULES:
            out.append(f"{base}.{alias.name}")
    return out


def _imports(module: str) -> Tuple[Set[str], List[Tuple[str, str]]]:
    """(modules imported when `module` is imported, [(function, module)] imported in functions)."""
    with open(MODULES[module], encoding="utf-8") as f:
        tree = ast.parse(f.read(), MODULES[module])
    eager: Set[str] = set()
    lazy: List[Tuple[str, str]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, function or getattr(child, "name", "<lambda>"))
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in _targets(child):
                    if function:
                        lazy.append((function, target))
                    else:
                        eager.add(target)
            else:
                visit(child, function)

    visit(tree, "")
    return eager, lazy


def _closure(start: str) -> Dict[str, str]:
    """Every module loaded by importing `start`, each with the hc_tf module that imports it."""
    seen: Dict[str, str] = {}
    todo = [(m, "") for m in _with_parents(start)]
    while todo:
        name, parent = todo.pop()
        if name in seen:
            continue
        seen[name] = parent
        if name in MODULES:
            eager, _ = _imports(name)
            todo += [(p, name) for t in eager for p in _with_parents(t)]
    return seen


def _forbidden(modules) -> List[str]:
    return sorted(m for m in modules if m.split(".")[0] in FORBIDDEN)


def _chain(seen: Dict[str, str], name: str) -> str:
    path = [name]
    while seen.get(path[-1]):
        path.append(seen[path[-1]])
    return " <- ".join(path)


@pytest.mark.parametrize("module", TF_FREE)
def test_importing_a_tf_free_module_never_imports_tensorflow(module):
    assert module in MODULES, f"{module}: no such module (update TF_FREE)"
    seen = _closure(module)
    bad = _forbidden(seen)
    assert not bad, "imported at import time: " + "; ".join(_chain(seen, b) for b in bad)


def test_every_clinical_module_is_numpy_and_stdlib_only():
    # clinical is ported to the apps as is: no OpenCV or SciPy either.
    for module in (m for m in MODULES if m == "hc_tf.clinical" or m.startswith("hc_tf.clinical.")):
        seen = _closure(module)
        third_party = {m.split(".")[0] for m in seen if not m.startswith(PACKAGE)}
        assert third_party <= {"__future__", "numpy", "dataclasses", "enum", "math", "numbers",
                               "re", "typing"}, (module, sorted(third_party))


def test_every_measurement_module_is_tf_free():
    for module in (m for m in MODULES if m.startswith("hc_tf.measure.")):
        seen = _closure(module)
        assert not _forbidden(seen), module
        # The module an app ports: NumPy and OpenCV, and the project's own TF-free modules.
        third_party = {m.split(".")[0] for m in seen if not m.startswith(PACKAGE)}
        assert third_party <= {"__future__", "numpy", "cv2", "dataclasses", "math", "typing",
                               "csv", "io", "os", "contextlib", "tempfile", "enum", "re",
                               "numbers"}, (module, sorted(third_party))


def test_the_defaults_import_nothing():
    # Every side reads hc_tf.defaults (the CLI before TensorFlow may load): constants only.
    eager, lazy = _imports("hc_tf.defaults")
    assert eager <= {"__future__", "typing"} and not lazy, (eager, lazy)


def _tf_side(target: str) -> bool:
    """A TF-side module: a forbidden package, or an hc_tf module outside the TF-free list."""
    if target.split(".")[0] in FORBIDDEN:
        return True
    return (target.startswith(PACKAGE + ".") and target in MODULES
            and not any(target == m or (m != PACKAGE and target.startswith(m + "."))
                        for m in TF_FREE))


def test_lazy_imports_into_the_tf_side_are_the_listed_doors():
    # Every module of a TF-free package counts (hc_tf.clinical.review, not only hc_tf.clinical).
    tf_free = [m for m in MODULES if m in TF_FREE or any(
        p != PACKAGE and m.startswith(p + ".") for p in TF_FREE)]
    doors = {(module, function, target) for module in tf_free
             for function, target in _imports(module)[1] if _tf_side(target)}
    assert doors - LAZY_DOORS == set(), "new arrows from the TF-free side to the TF side"
    assert LAZY_DOORS - doors == set(), "LAZY_DOORS lists an import that no longer exists"


def test_the_walk_sees_the_tf_side():
    # Guards the test itself: the TF side's modules must be seen importing TensorFlow.
    for module in ("hc_tf.model", "hc_tf.data", "hc_tf.train"):
        assert _forbidden(_closure(module)), module
