"""Give every notebook its Colab badge and setup cell, and strip outputs; point README's badges there too.

Usage: python scripts/sync_notebooks.py [notebooks/*.ipynb]   (default: all of notebooks/)

The badge is the first line of the first (markdown) cell; the setup cell is the first code cell. Both are
made by ``scripts/course.py`` from the one repository URL. Outputs and execution counts are removed so the
committed notebooks hold sources only.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
from course import SETUP_MARKER, colab_badge, setup_cell_source

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
#: A Colab badge in the README, whatever repository it points at; group 1 is the notebook's file name.
BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\(https://colab\.research\.google\.com/github/[^)]*?"
                   r"/notebooks/([\w.-]+\.ipynb)\)")


def sync(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """Return ``nb`` with badge, setup cell and no outputs."""
    cells = nb.cells
    if not cells or cells[0].cell_type != "markdown":
        cells.insert(0, nbformat.v4.new_markdown_cell(f"# {name}"))
    lines = cells[0].source.split("\n")
    if "colab-badge" in lines[0]:
        lines = lines[1:]
    cells[0].source = "\n".join([colab_badge(name), *lines])

    code = [c for c in cells if c.cell_type == "code"]
    if code and code[0].source.startswith(SETUP_MARKER):
        code[0].source = setup_cell_source()
    else:
        cells.insert(1, nbformat.v4.new_code_cell(setup_cell_source()))
    for cell in cells:
        cell.pop("id", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    nb.nbformat, nb.nbformat_minor = 4, 4
    return nb


def readme_badges(readme: str) -> str:
    """``readme`` with every chapter's Colab badge pointing at the repository ``course`` names."""
    return BADGE.sub(lambda m: colab_badge(m.group(1)), readme)


def main(paths: list[str]) -> int:
    files = [Path(p) for p in paths] or sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in files:
        nb = sync(nbformat.read(path, as_version=4), path.name)
        nbformat.write(nb, path)
        print(f"synced {path}")
    readme = ROOT / "README.md"
    readme.write_text(readme_badges(readme.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
