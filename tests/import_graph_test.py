"""The TF-free side's import graph, read from the sources (no import is executed).

TensorFlow, Keras, TFDS and segmentation-models are imported only on the TF side, and the
TF side is a set of folders: `hc_tf/modeling/`, `hc_tf/train/`, `hc_tf/export/`. This test
walks the static import graph of `hc_tf`:

* from every module outside those folders, the imports that run when it is imported
  (module level, followed transitively through hc_tf) never reach one of those packages
  nor a module in a TF-side folder;
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

# The TF side of the house is three folders (docs/architecture.md); every other module of
# hc_tf must import with the base install only. A module in a TF-side folder may be TF-free
# itself (the op report, the bundle metadata): the folder says which side it serves.
TF_SIDE = ("hc_tf.modeling", "hc_tf.train", "hc_tf.export")

# (module, function, TF-side folder): imports inside a function (run only when the user asked
# for a TF-side thing) that cross from the TF-free side into a TF-side folder or package.
LAZY_DOORS = {
    ("hc_tf.inference", "load_runner", "hc_tf.modeling"),  # a .keras model
    ("hc_tf.console.tfds_build", "build", "tensorflow_datasets"),  # hc-tf prepare (or train --sample)
    ("hc_tf.console.model_commands", "train", "hc_tf.train"),
    ("hc_tf.console.model_commands", "export", "hc_tf.export"),
    ("hc_tf.console.model_commands", "parity", "hc_tf.export"),  # parity compares the Keras and int8 models
    ("hc_tf.cli", "evaluate", "hc_tf.train"),              # a prepared TFDS data dir (tf.data)
    ("hc_tf.console.model_commands", "parity", "hc_tf.train"),
    ("hc_tf.surfaces.interval_predictions", "collect", "hc_tf.train"),  # the validation split (TFDS)
}


def side_of(module: str) -> str:
    """The TF-side folder a module lives in, or "" on the TF-free side."""
    return next((f for f in TF_SIDE if module == f or module.startswith(f + ".")), "")


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


TF_FREE = sorted(m for m in MODULES if not side_of(m))


def test_the_folders_split_the_package():
    # Guards the rule itself: both sides hold modules, and the surfaces are on the TF-free side.
    assert {"hc_tf.surfaces.predict", "hc_tf.measure.probmap", "hc_tf.edge"} <= set(TF_FREE)
    assert {"hc_tf.modeling.model", "hc_tf.train.data", "hc_tf.export.convert"} <= set(MODULES) - set(TF_FREE)


@pytest.mark.parametrize("module", TF_FREE)
def test_importing_a_tf_free_module_never_imports_tensorflow(module):
    seen = _closure(module)
    bad = _forbidden(seen)
    assert not bad, "imported at import time: " + "; ".join(_chain(seen, b) for b in bad)
    tf_side = sorted(m for m in seen if m in MODULES and side_of(m))
    assert not tf_side, "a TF-free module imports a TF-side folder: " + "; ".join(
        _chain(seen, m) for m in tf_side)


def test_every_clinical_module_is_numpy_and_stdlib_only():
    # clinical is ported to the apps as is: no OpenCV or SciPy either.
    for module in (m for m in MODULES if m == "hc_tf.clinical" or m.startswith("hc_tf.clinical.")):
        seen = _closure(module)
        third_party = {m.split(".")[0] for m in seen if not m.startswith(PACKAGE)}
        # json, os: clinical.interval_table reads its calibration table (package data)
        assert third_party <= {"__future__", "numpy", "dataclasses", "enum", "math", "numbers",
                               "re", "typing", "json", "os"}, (module, sorted(third_party))


def test_every_measurement_module_is_numpy_and_opencv_only():
    for module in (m for m in MODULES if m.startswith("hc_tf.measure.")):
        seen = _closure(module)
        # The module an app ports: NumPy and OpenCV, and the project's own TF-free modules.
        third_party = {m.split(".")[0] for m in seen if not m.startswith(PACKAGE)}
        assert third_party <= {"__future__", "numpy", "cv2", "dataclasses", "math", "typing",
                               "csv", "io", "os", "contextlib", "tempfile", "enum", "re",
                               "numbers", "json"}, (module, sorted(third_party))


def test_the_defaults_import_nothing():
    # Every side reads hc_tf.defaults (the CLI before TensorFlow may load): constants only.
    eager, lazy = _imports("hc_tf.defaults")
    assert eager <= {"__future__", "typing"} and not lazy, (eager, lazy)


def _door(target: str) -> str:
    """The TF-side folder or forbidden package an import target opens, or ""."""
    if target.split(".")[0] in FORBIDDEN:
        return target.split(".")[0]
    return side_of(target) if target in MODULES else ""


def test_lazy_imports_into_the_tf_side_are_the_listed_doors():
    doors = {(module, function, _door(target)) for module in TF_FREE
             for function, target in _imports(module)[1] if _door(target)}
    assert doors - LAZY_DOORS == set(), "new arrows from the TF-free side to the TF side"
    assert LAZY_DOORS - doors == set(), "LAZY_DOORS lists an import that no longer exists"


def test_the_jax_trainer_never_imports_tensorflow():
    # It runs on a borrowed GPU machine that has JAX and Keras 3 but no TensorFlow.
    for module in (m for m in MODULES if m.startswith("hc_tf.train.jax_backend")):
        seen = _closure(module)
        bad = sorted(m for m in seen if m.split(".")[0] in ("tensorflow", "tensorflow_datasets"))
        assert not bad, "; ".join(_chain(seen, b) for b in bad)


def test_the_walk_sees_the_tf_side():
    # Guards the test itself: the TF side's modules must be seen importing TensorFlow.
    for module in ("hc_tf.modeling.model", "hc_tf.train.data", "hc_tf.train.fit"):
        assert _forbidden(_closure(module)), module
