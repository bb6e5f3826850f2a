"""The Colab path, simulated: the setup cell keeps Colab's torch and numpy, and no notebook needs a file that
only a developer's checkout has.

Colab comes with its own torch and numpy. A fresh venv stands in for it: a real numpy of another version
than ours (from PyPI) and a metadata-only distribution named ``torch`` at another version (a real torch is
gigabytes, and pip only looks at the metadata). Each notebook's setup-cell pip command then runs there with
``--dry-run --report``, and the report must not replace torch or numpy. The venv is cached under ``build/``.
The badge and the setup cell being first are checked by ``tests/test_repo.py``.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from course import COLAB_CHECKOUT, SETUP_MARKER

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
DATA_SAMPLES = REPO / "data_samples"
# What Colab could have instead of ours (ours: the versions in this venv; both must differ from them).
COLAB_TORCH = "2.5.1+cu121"
COLAB_NUMPY = "2.0.2"
KEPT = ("torch", "numpy")
VENV = REPO / "build" / f"colab-venv-py{sys.version_info.major}{sys.version_info.minor}"
PIP_TIMEOUT_S = 600
OFFLINE = re.compile(r"Failed to establish a new connection|Temporary failure in name resolution|"
                     r"Network is unreachable|No matching distribution found for numpy")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pip(python: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([str(python), "-m", "pip", *args], capture_output=True, text=True, env=env,
                          timeout=PIP_TIMEOUT_S)


def _metadata_only_wheel(folder: Path, name: str, version: str) -> Path:
    """A wheel that installs nothing but the ``name==version`` metadata (a stand-in for Colab's torch)."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                 "Summary: metadata-only stand-in for a preinstalled package\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tasnet-edu tests\nRoot-Is-Purelib: true\n"
                              "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{dist_info}/RECORD"] = "\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel


def _installed(python: Path) -> dict[str, str]:
    listing = _pip(python, "list", "--format=json")
    assert listing.returncode == 0, listing.stderr
    return {_canonical(d["name"]): d["version"] for d in json.loads(listing.stdout)}


@pytest.fixture(scope="module")
def colab_python(tmp_path_factory) -> Path:
    """Python of a venv holding only Colab-like torch and numpy (built once, then reused from build/)."""
    python = VENV / "bin" / "python"
    stamp = VENV / "colab-stand-in.json"
    wanted = {"torch": COLAB_TORCH, "numpy": COLAB_NUMPY}
    if stamp.exists() and python.exists() and json.loads(stamp.read_text()) == wanted:
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True, timeout=PIP_TIMEOUT_S)
    wheel = _metadata_only_wheel(tmp_path_factory.mktemp("wheels"), "torch", COLAB_TORCH)
    for args in (["--no-index", "--no-deps", str(wheel)], [f"numpy=={COLAB_NUMPY}"]):
        result = _pip(python, "install", "-q", *args)
        if result.returncode and OFFLINE.search(result.stderr):
            pytest.skip(f"the package registry cannot be reached, no Colab-like venv: {result.stderr[-300:]}")
        assert result.returncode == 0, f"building the Colab stand-in venv failed:\n{result.stderr[-2000:]}"
    assert {k: _installed(python).get(k) for k in wanted} == wanted
    stamp.write_text(json.dumps(wanted))
    return python


@pytest.fixture(scope="module")
def fresh_checkout(tmp_path_factory) -> Path:
    """What the setup cell's ``git clone`` gives pip to install: the package's sources, no build leftovers."""
    checkout = tmp_path_factory.mktemp("colab") / Path(COLAB_CHECKOUT).name
    checkout.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, checkout / name)
    shutil.copytree(REPO / "tasnet_edu", checkout / "tasnet_edu",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
    return checkout


def setup_cell_pip_args(path: Path) -> list[str]:
    """Arguments after ``python -m pip`` in the notebook's setup cell, read from its code (not retyped)."""
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code")
    assert cell.source.startswith(SETUP_MARKER), f"{path.name}: first code cell is not the Colab setup cell"
    for node in ast.walk(ast.parse(cell.source)):
        if isinstance(node, ast.List):  # the command's argument list, e.g. [sys.executable, "-m", "pip", ...]
            values = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
            if "pip" in values:
                return [str(v) for v in values[values.index("pip") + 1:]]
    raise AssertionError(f"{path.name}: the setup cell runs no pip command; run scripts/sync_notebooks.py")


@pytest.fixture(scope="module")
def dry_run(colab_python, fresh_checkout, tmp_path_factory):
    """``dry_run(args) -> {package: version}`` that pip would install in the Colab stand-in (memoised: every
    notebook has the same setup cell, so pip resolves once)."""
    reports: dict[tuple[str, ...], dict[str, str]] = {}

    def run(args: list[str]) -> dict[str, str]:
        args = tuple(str(fresh_checkout) if a == COLAB_CHECKOUT else a for a in args)
        if args not in reports:
            report = tmp_path_factory.mktemp("pip-report") / "report.json"
            result = _pip(colab_python, *args, "--dry-run", "--report", str(report))
            assert result.returncode == 0, f"pip {' '.join(args)} fails:\n{result.stderr[-3000:]}"
            reports[args] = {_canonical(i["metadata"]["name"]): i["metadata"]["version"]
                             for i in json.loads(report.read_text())["install"]}
        return reports[args]

    return run


def test_colab_stand_in_differs_from_our_versions():
    """The simulation only means something if Colab's versions are not the ones this venv has."""
    ours = _installed(Path(sys.executable))
    assert ours["torch"].split("+")[0] != COLAB_TORCH.split("+")[0] and ours["numpy"] != COLAB_NUMPY


@pytest.mark.skipif(not NOTEBOOKS, reason="notebooks/ has no notebook yet")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_install_keeps_colabs_torch_and_numpy(path, dry_run):
    args = setup_cell_pip_args(path)
    planned = dry_run(args)
    assert "tasnet-edu" in planned, f"the report does not install the course package: {sorted(planned)}"
    replaced = {name: planned[name] for name in KEPT if name in planned}
    assert not replaced, (
        f"{path.name}: the setup cell would replace Colab's torch {COLAB_TORCH} / numpy {COLAB_NUMPY} "
        f"with {replaced}; loosen the requirement that asks for it (pip {' '.join(args)})"
    )


# ---------------------------------------------------------------- files a notebook reads

# A string literal names a file when it has no spaces and either a folder separator or a data-file suffix.
FILE_SUFFIX = re.compile(r"\.(wav|flac|mp3|ogg|npy|npz|pt|pth|ckpt|json|csv|tsv|txt|ya?ml|pkl|pickle|h5|hdf5|"
                         r"png|jpe?g|ipynb|zip|tar|gz|tgz)$", re.IGNORECASE)
COLAB_ROOT = str(Path(COLAB_CHECKOUT).parent) + "/"
# Calls whose path arguments the notebook writes itself (so reading them later is fine).
WRITERS = re.compile(r"save|write|dump|savefig|to_csv|mkdir|make_mixtures|ensure_mixtures|copy|export|"
                     r"archived_folder")


def _code_of(cell) -> str:
    """Cell source without IPython magics and shell lines, which are not Python."""
    return "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))


def _format_spec_ids(tree: ast.AST) -> set[int]:
    return {id(c) for n in ast.walk(tree) if isinstance(n, ast.FormattedValue) and n.format_spec
            for c in ast.walk(n.format_spec)}


def _joined_ids(tree: ast.AST) -> set[int]:
    """Literals appended to a folder expression (``out / "best.pt"``, ``os.path.join(root, "x.wav")``):
    where they point is decided by that folder, which is checked where it is written down."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            ids.add(id(node.right))
        elif isinstance(node, ast.Call) and re.search(r"(^|\.)(join|Path|PurePath|joinpath)$",
                                                      ast.unparse(node.func)):
            ids |= {id(a) for a in node.args[1:]}
    return ids


def _is_path_like(text: str) -> bool:
    if not text or re.search(r"\s|://|[*?]", text) or not re.search(r"\w", text):
        return False
    if text.startswith(COLAB_ROOT):  # Colab's own file system (the checkout, a mounted Drive)
        return False
    return "/" in text or "\\" in text or bool(FILE_SUFFIX.search(text)) or text.startswith("~")


def path_literals(nb: nbformat.NotebookNode) -> tuple[list[tuple[int, str]], set[str]]:
    """``[(cell index, literal)]`` of every path-like string in the code (setup cell excluded), and the
    literals that appear inside a writing call (the notebook makes those files itself)."""
    found, written = [], set()
    code_cells = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    for index, cell in code_cells[1:]:
        tree = ast.parse(_code_of(cell), filename=f"cell {index}")
        skip = _format_spec_ids(tree) | _joined_ids(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
                if _is_path_like(node.value) and not (node.value.count("\n") or node.value in ("/", "//")):
                    found.append((index, node.value))
            if isinstance(node, ast.Call) and WRITERS.search(ast.unparse(node.func)):
                written |= {n.value for n in ast.walk(node) if isinstance(n, ast.Constant)}
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "open" and any(
                    isinstance(a, ast.Constant) and str(a.value)[:1] in "wax" for a in node.args[1:2]):
                written |= {n.value for n in ast.walk(node.args[0]) if isinstance(n, ast.Constant)}
    return found, written


def _tracked_files(folder: Path) -> set[Path] | None:
    """Files under ``folder`` that git tracks (what a fresh clone has), or None outside a git checkout."""
    git = shutil.which("git")
    if git is None or not (REPO / ".git").exists():
        return None
    out = subprocess.run([git, "ls-files", "-z", "--", str(folder)], cwd=REPO, capture_output=True,
                         check=True)
    return {REPO / p for p in out.stdout.decode().split("\0") if p}


def resolves_to_shipped_data(literal: str, shipped: set[Path]) -> bool:
    """True when ``literal`` is a committed file under data_samples/: as a path from notebooks/ (the working
    directory) or from the repository root, or as a name or tail of one (``NAME = "manifest.json"``)."""
    rel = literal.replace("\\", "/").strip("/")
    candidates = {(REPO / "notebooks" / literal).resolve(), (REPO / literal).resolve()}
    if candidates & shipped:
        return True
    return any(p.as_posix().endswith("/" + rel) for p in shipped)


def foreign_paths(nb: nbformat.NotebookNode, shipped: set[Path]) -> list[tuple[int, str]]:
    """``[(cell index, path)]`` the notebook names that neither ``shipped`` data nor the notebook provides."""
    literals, written = path_literals(nb)
    return [(cell, text) for cell, text in literals
            if text not in written and not resolves_to_shipped_data(text, shipped)]


@pytest.mark.skipif(not NOTEBOOKS, reason="notebooks/ has no notebook yet")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_reads_only_shipped_or_generated_files(path):
    shipped = _tracked_files(DATA_SAMPLES)
    if shipped is None:
        shipped = {p.resolve() for p in DATA_SAMPLES.rglob("*") if p.is_file()}
    foreign = foreign_paths(nbformat.read(path, as_version=4), shipped)
    assert not foreign, (
        f"{path.name} names files that neither data_samples/ (committed) nor the notebook itself provides, "
        f"so a fresh clone or Colab lacks them (cell index, path): {foreign}. Read data through the package "
        "(tasnet_edu.data.samples_dir(), load_sample_mixture, ensure_mixtures) or commit it to data_samples/."
    )


def test_path_scan_tells_shipped_and_generated_from_local_files():
    """The scanner itself, on a notebook made here: what it must flag and what it must let pass."""
    shipped = {REPO / "data_samples" / "tt" / "mix" / "00000.wav", REPO / "data_samples" / "manifest.json"}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in [
        "# Colab setup: '/anything/here.pt' is not scanned",
        "a = load('/home/me/model.pt'); b = load('../checkpoints/best.pt'); c = torch.load('my_model.pt')",
        "d = load('../data_samples/tt/mix/00000.wav'); e = json.loads((root / 'manifest.json').read_text())",
        "NAME = 'manifest.json'; f = out / 'best.pt'; torch.save(m, 'mine.pt'); g = torch.load('mine.pt')",
        "print(f'{x:.2f} {y:6.1f}'); DRIVE = Path('/content/drive/MyDrive'); h = glob('*.wav')",
    ]])
    assert [text for _, text in foreign_paths(nb, shipped)] == [
        "/home/me/model.pt", "../checkpoints/best.pt", "my_model.pt"]


def test_shipped_data_is_committed():
    """Everything the package serves to notebooks from the repository (data_samples/, package resources) is
    tracked by git: a file that exists only here would work for its author and fail on Colab and in CI."""
    folders = [DATA_SAMPLES, REPO / "tasnet_edu" / "resources"]
    tracked = _tracked_files(REPO)
    if tracked is None:
        pytest.skip("not a git checkout: cannot tell committed files from local ones")
    local = [p.relative_to(REPO).as_posix() for folder in folders if folder.exists()
             for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts]
    uncommitted = [p for p in local if REPO / p not in tracked]
    assert not uncommitted, f"files notebooks may read exist only in this checkout (git add): {uncommitted}"
