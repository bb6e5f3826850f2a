"""Only the layers name their submodules: the rest of the package reads ``describe()`` and ``stream()``.

A Conv-TasNet's submodules (``block.conv_in``, ``block.dconv``, ``model.bottleneck[0]``, ``encoder.conv``,
…) are its layers' private business: ``tcn``, ``encoders``, ``_depthwise`` and ``models`` own them, and
renaming one must not break a distant file. Other modules read a layer's declared description
(``tcn.BlockSpec``, ``models.conv_tasnet.ConvTasNetSpec``) or run its ``stream()``. The names are read from
the model itself (``named_modules``), so a new submodule is covered too; the source is read with ``ast``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tasnet_edu.models import ConvTasNet

PACKAGE = Path(__file__).resolve().parents[1] / "tasnet_edu"

#: The layers' own files, which may name their submodules.
OWNERS = {"tcn.py", "encoders.py", "_depthwise.py", "models"}
#: Submodule names that are also ordinary words elsewhere (the ONNX writer's ``conv`` method, any
#: ``encoder``, ``decoder``, ``tcn``): flagged only where they reach inside the model (``encoder.conv``).
COMMON = {"conv", "encoder", "decoder", "tcn"}


def submodule_paths() -> list[list[str]]:
    """Every submodule of a Conv-TasNet as its attribute path (``["tcn", "blocks", "0", "conv_in"]``)."""
    return [name.split(".") for name, _ in ConvTasNet.tiny(causal=True, norm="cLN").named_modules() if name]


def forbidden() -> tuple[set[str], set[tuple[str, str]]]:
    """Attribute names no other module may use, and ``(parent, child)`` pairs for the common words."""
    names, pairs = set(), set()
    for path in submodule_paths():
        leaf = path[-1]
        if leaf.isdigit():
            continue
        if leaf not in COMMON:
            names.add(leaf)
        elif len(path) > 1 and not path[-2].isdigit():
            pairs.add((path[-2], leaf))
    return names, pairs


def scanned_files() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if p.relative_to(PACKAGE).parts[0] not in OWNERS]


def reaches_inside(tree: ast.AST, names: set[str], pairs: set[tuple[str, str]]) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        parent = node.value.attr if isinstance(node.value, ast.Attribute) else None
        if node.attr in names or (parent, node.attr) in pairs:
            found.append((node.lineno, ast.unparse(node)))
    return sorted(found)


def test_the_forbidden_names_come_from_the_model():
    names, pairs = forbidden()
    assert {"conv_in", "prelu1", "norm1", "dconv", "prelu2", "norm2", "res", "skip", "blocks", "bottleneck",
            "mask_conv", "deconv"} == names
    assert pairs == {("encoder", "conv")}


def test_the_scan_finds_what_it_looks_for():
    names, pairs = forbidden()
    code = "a = block.conv_in.weight\nb = model.encoder.conv\nc = g.conv(x)\nd = model.mask_conv[1]\n"
    assert [text for _, text in reaches_inside(ast.parse(code), names, pairs)] == [
        "block.conv_in", "model.encoder.conv", "model.mask_conv"]


def test_no_module_outside_the_layers_names_their_submodules():
    names, pairs = forbidden()
    files = scanned_files()
    assert {"compiled.py", "viz.py", "streaming.py", "ch07.py", "ch08.py"} <= {p.name for p in files}
    wrong = [f"{path.relative_to(PACKAGE.parent)}:{line}: {text}" for path in files
             for line, text in reaches_inside(ast.parse(path.read_text(), str(path)), names, pairs)]
    assert not wrong, ("these name a Conv-TasNet submodule outside its layer; read the layer's describe() "
                       f"or stream() instead, or move the code into the layer: {wrong}")
