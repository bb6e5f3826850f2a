"""The one place that holds the course's repository, and the two things made from it.

Every notebook opens with a Colab badge (first line of its first markdown cell) and a setup cell (its first
code cell). ``scripts/sync_notebooks.py`` writes both from the functions below, and a test checks that every
notebook matches them, so changing ``REPOSITORY`` here updates the whole course.

Repository tooling, not part of the ``tasnet_edu`` package: the scripts in this folder import it as
``course``, and the tests find it through ``pythonpath`` in ``pyproject.toml``.
"""
from __future__ import annotations

REPOSITORY = "tasnet-edu/tasnet-edu"  # GitHub owner/name
BRANCH = "main"
REPO_URL = f"https://github.com/{REPOSITORY}"
COLAB_CHECKOUT = "/content/tasnet-edu"
SETUP_MARKER = "# Colab setup"


def colab_url(notebook: str) -> str:
    """Colab address of ``notebooks/<notebook>`` on the course's main branch."""
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/notebooks/{notebook}"


def colab_badge(notebook: str) -> str:
    """Markdown for the 'Open in Colab' badge of one notebook."""
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(notebook)})"


def colab_install_command() -> list[str]:
    """The pip command the setup cell runs on Colab: the course package only, never torch or numpy.

    The dependencies are lower bounds that Colab's preinstalled torch and numpy already satisfy, so pip
    leaves them alone (a test runs this command with ``--dry-run --report`` to prove it).
    """
    return ["pip", "install", "-q", "-e", COLAB_CHECKOUT]


def setup_cell_source() -> str:
    """Source of every notebook's first code cell: a no-op outside Colab."""
    pip = ", ".join(f'"{a}"' for a in colab_install_command())
    return "\n".join([
        f"{SETUP_MARKER}: on Google Colab, fetch the course and install its package (Colab's own torch",
        "# and numpy are kept). Anywhere else this cell does nothing.",
        "import os",
        "import subprocess",
        "import sys",
        "",
        'if "google.colab" in sys.modules:',
        f'    if not os.path.isdir("{COLAB_CHECKOUT}"):',
        f'        repo = "{REPO_URL}"',
        f'        cloned = subprocess.run(["git", "clone", "--depth", "1", repo, "{COLAB_CHECKOUT}"])',
        "        if cloned.returncode:",
        '            raise SystemExit(f"Could not clone {repo}. Set REPOSITORY in scripts/course.py "',
        '                             "to your copy and run scripts/sync_notebooks.py (docs/colab.md).")',
        f'        install = [sys.executable, "-m", {pip}]',
        "        subprocess.run(install, check=True)",
        f'    sys.path.insert(0, "{COLAB_CHECKOUT}")',
        f'    os.chdir("{COLAB_CHECKOUT}/notebooks")',
    ])
