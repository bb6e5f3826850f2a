"""The package's layers: imports only point down, no cycle, no import hidden in a function, a light models.

Read from the source with ``ast`` (nothing is imported to find the imports), so a cycle that lazy imports
would hide is still seen.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tasnet_edu"

#: Each module's layer: a module imports modules of lower layers only (or, within one sub-package such as
#: ``data`` or ``models``, its siblings). A new module must be given its place here.
LAYERS = {
    "errors": 0, "tasnet_edu": 0.5,  # the package itself: CourseError, SAMPLE_RATE, __version__
    "utils": 1, "_depthwise": 1, "separator": 1,
    "audio": 2, "masks": 2, "encoders": 2, "tcn": 2,
    "perceptual": 2.5, "metrics": 2.6,  # perceptual resamples with audio; metrics re-exports perceptual
    "data": 3, "models": 3,
    "checkpoints": 4,
    "train": 5, "inference": 5, "compiled": 5,
    "pretrained": 5.5,  # loads a checkpoint as a ready separator: an engine (compiled), shift averaging
    "streaming": 6, "averaging": 6,
    "evaluate": 7,
    "separate": 9, "viz": 9,
    "cli": 10, "__main__": 11, "exercises": 11,  # cli: one module per command, over the library
}
#: ``data`` reads and writes audio; it knows nothing of models, metrics or training.
DATA_MAY_IMPORT = {"tasnet_edu", "errors", "audio", "data"}
#: The readers of data on disk and what they may reach, directly or not: the layout they share with the
#: writer, never a speech generator (``mixtures``, ``speech``, ``pico``, ``natural``, …). Dynamic mixing
#: (``data.dynamic``) changes voices with ``data.voices``, so it is no reader here.
DATA_READERS = {"tasnet_edu.data.datasets", "tasnet_edu.data.layout"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def absolute(name: str, node: ast.ImportFrom) -> str:
    """The module a ``from`` import in module ``name`` reads, relative imports resolved
    (``from ..audio import load`` in ``tasnet_edu.data.speech`` → ``tasnet_edu.audio``)."""
    if not node.level:
        return node.module or ""
    parts = name.split(".")
    is_package = (PACKAGE.parent.joinpath(*parts) / "__init__.py").is_file()
    return ".".join([*parts[: len(parts) + is_package - node.level], *filter(None, [node.module])])


def imported(name: str, node: ast.AST) -> list[str]:
    """The tasnet_edu modules an import statement names (``from tasnet_edu import audio`` → the module)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "tasnet_edu"]
    if not isinstance(node, ast.ImportFrom):
        return []
    module = absolute(name, node)
    if module.split(".")[0] != "tasnet_edu":
        return []
    names = [f"{module}.{a.name}" for a in node.names]
    return [name if name in modules_cache else module for name in names]


def group(module: str) -> str:
    """The layer key of a module: ``tasnet_edu.data.speech`` → ``data``, ``tasnet_edu`` → ``tasnet_edu``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


modules_cache = modules()


def graph() -> dict[str, set[str]]:
    edges = {}
    for name, tree in modules_cache.items():
        targets = {t for node in ast.walk(tree) for t in imported(name, node)}
        edges[name] = {t for t in targets if t != name and t in modules_cache}
    return edges


@pytest.mark.parametrize("name, statement, expected", [
    ("tasnet_edu.data.speech", "from . import mixtures", ["tasnet_edu.data.mixtures"]),
    ("tasnet_edu.data.speech", "from ..audio import load", ["tasnet_edu.audio"]),
    ("tasnet_edu.data", "from .speech import SPLITS", ["tasnet_edu.data.speech"]),
    ("tasnet_edu", "from .errors import CourseError", ["tasnet_edu.errors"]),
    ("tasnet_edu.models.tasnet", "from tasnet_edu import masks", ["tasnet_edu.masks"]),
])
def test_relative_imports_resolve_to_their_module(name, statement, expected):
    assert imported(name, ast.parse(statement).body[0]) == expected


def test_every_module_has_a_layer():
    assert {group(m) for m in modules_cache} <= set(LAYERS), "give the new module a layer in LAYERS"


def test_the_readme_table_and_the_package_docstring_name_every_module():
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    docstring = ast.get_docstring(modules_cache["tasnet_edu"])
    public = {group(m) for m in modules_cache} - {"tasnet_edu", "__main__"}
    not_in_readme = sorted(m for m in public if f"`tasnet_edu.{m}`" not in readme)
    assert not not_in_readme, f"add {not_in_readme} to README.md's package table"
    not_in_docstring = sorted(m for m in public if not m.startswith("_") and f"``{m}``" not in docstring)
    assert not not_in_docstring, f"add {not_in_docstring} to tasnet_edu/__init__.py's docstring"


def test_the_readme_table_lists_the_layers_in_order():
    """README's package table claims each row imports only the rows above it: its layers must not go down."""
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("## The package", 1)[1].split("\n## ", 1)[0]
    rows = [re.findall(r"`tasnet_edu\.(\w+)", line.split("|")[1]) for line in table.splitlines()
            if line.startswith("| `tasnet_edu.")]
    assert rows, "README.md has no package table under '## The package'"
    layers = [[LAYERS[name] for name in row] for row in rows]
    wrong = [f"{rows[i]} (layers {layers[i]}) above {rows[i + 1]} (layers {layers[i + 1]})"
             for i in range(len(rows) - 1) if max(layers[i]) > min(layers[i + 1])]
    assert not wrong, wrong


def test_imports_only_point_down():
    wrong = []
    for source, targets in graph().items():
        for target in targets:
            same_package = group(source) == group(target)
            if not same_package and LAYERS[group(target)] >= LAYERS[group(source)]:
                wrong.append(f"{source} → {target}")
            if group(source) == "data" and group(target) not in DATA_MAY_IMPORT:
                wrong.append(f"{source} → {target} (data depends on audio only)")
    assert not wrong, wrong


def test_the_data_readers_reach_no_generator():
    edges, wrong = graph(), []
    for reader in DATA_READERS:
        seen, todo = set(), [reader]
        while todo:
            for target in edges[todo.pop()] - seen:
                seen.add(target)
                todo.append(target)
        wrong += [f"{reader} → {t}" for t in sorted(seen) if group(t) == "data" and t not in DATA_READERS]
    assert not wrong, wrong


def test_the_import_graph_has_no_cycle():
    edges, state, cycles = graph(), {}, []

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def test_no_package_import_is_deferred_into_a_function():
    """The ``tasnet-edu`` dispatcher imports its command modules by name (``importlib``); those modules, like
    every other, import at the top, where the tests above see them."""
    deferred = []
    for name, tree in modules_cache.items():
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                deferred += [f"{name}.{fn.name}: {t}" for node in ast.walk(fn) for t in imported(name, node)]
    assert not deferred, deferred


def imports_argparse(tree: ast.Module) -> bool:
    return any(isinstance(node, ast.Import) and any(a.name == "argparse" for a in node.names)
               or isinstance(node, ast.ImportFrom) and node.module == "argparse" for node in ast.walk(tree))


def test_only_the_cli_parses_command_lines():
    """``argparse`` belongs to ``tasnet_edu.cli``: library functions take typed arguments, not a Namespace."""
    parsing = sorted(name for name, tree in modules_cache.items()
                     if group(name) != "cli" and imports_argparse(tree))
    assert not parsing, f"move the command line of {parsing} to tasnet_edu/cli/"


@pytest.mark.parametrize("module", ["tasnet_edu.models", "tasnet_edu.checkpoints"])
def test_the_models_need_torch_alone(module):
    """Importing the models loads none of librosa, soundfile, scipy, tqdm, matplotlib beyond what
    ``import torch`` itself loads (torch 2.13 imports tqdm)."""
    heavy = ("librosa", "soundfile", "scipy", "tqdm", "matplotlib")
    code = (f"import sys, torch; before = set(sys.modules); import {module}; "
            "new = set(sys.modules) - before; "
            f"print(' '.join(sorted({{m.split('.')[0] for m in new}} & set({heavy!r}))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "", f"importing {module} loads {loaded.strip()}"


def test_every_module_imports_alone_in_a_fresh_interpreter():
    names = [m for m in modules_cache if m != "tasnet_edu.__main__"]
    # One interpreter per module: an import that works only after another module's fails here. Four at a
    # time: each holds torch (~150 MB), and sixty at once ran a busy 24 GiB machine out of memory.
    def stderr_if_failed(name: str) -> list[str]:
        run = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True)
        return run.stderr.strip().splitlines()[-1:] if run.returncode else []

    with ThreadPoolExecutor(max_workers=4) as pool:
        errors = dict(zip(names, pool.map(stderr_if_failed, names), strict=True))
    failed = {name: err for name, err in errors.items() if err}
    assert not failed, failed
