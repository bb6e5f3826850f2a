"""The repository's own promises: dependencies in step, notebooks clean and Colab-ready, README complete."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest
import tomllib
from course import colab_badge, setup_cell_source

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PLAN = ROOT.parent / "shared" / "COURSE_PLAN.md"
# Conda has no separate package for these pip-only names, and ships libsndfile beside soundfile.
CONDA_ONLY = {"python", "pip", "libsndfile"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    conda, section = set(), None
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if re.match(r"^\w+:", line):
            section = line.split(":")[0]
        item = re.match(r"^\s*- ([^#]+)$", line)
        if section == "dependencies" and item and line.strip() != "- pip:":
            conda.add(_name(item.group(1)))
    assert conda - CONDA_ONLY == wanted, (
        f"only in environment.yml: {sorted(conda - CONDA_ONLY - wanted)}; "
        f"only in pyproject: {sorted(wanted - conda)}"
    )


def test_torch_requirement_is_loose_so_colab_keeps_its_own():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    torch = next(d for d in deps if _name(d) == "torch")
    assert "==" not in torch and ">=" in torch


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ is empty"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; run scripts/sync_notebooks.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_opens_with_badge_and_setup_cell(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown"
    assert nb.cells[0].source.split("\n")[0] == colab_badge(path.name)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code.source == setup_cell_source(), f"{path.name}: run scripts/sync_notebooks.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_readme_lists_every_chapter_with_its_badge(path):
    readme = (ROOT / "README.md").read_text()
    assert f"notebooks/{path.name}" in readme and colab_badge(path.name) in readme


@pytest.mark.skipif(not PLAN.exists(), reason=f"course plan not found at {PLAN}")
def test_notebooks_follow_the_course_plan():
    planned = re.findall(r"`(\d\d_\w+\.ipynb)`", PLAN.read_text())
    names = [p.name for p in NOTEBOOKS]
    assert set(names) <= set(planned), f"not in the course plan: {sorted(set(names) - set(planned))}"
    assert names == [n for n in planned if n in names], "chapter order differs from the plan"


@pytest.mark.skipif(not PLAN.exists(), reason=f"course plan not found at {PLAN}")
def test_every_preset_and_shipped_model_the_course_plan_names_exists():
    # The plan is the contract other chapters, tests and the CLI rely on: every name it gives must exist.
    # The code may offer more (the plan lives beside the repo and is kept by whoever files the issues).
    from tasnet_edu import pretrained, train

    plan = PLAN.read_text()
    presets = re.search(r"`tasnet_edu\.train`: `Trainer`, presets (.*)\.", plan).group(1)
    planned_presets = set(re.findall(r"`([\w-]+)`", presets))
    assert planned_presets, "no presets found in the plan's `tasnet_edu.train` line"
    assert not planned_presets - set(train.PRESETS), sorted(planned_presets - set(train.PRESETS))
    bullet = plan.split("- `tasnet_edu.pretrained`:", 1)[1].split("\n- ", 1)[0]  # the entry, over its lines
    shipped = re.sub(r"\([^)]*\)", "", bullet.split("shipped model", 1)[1]).split(".", 1)[0]
    planned_models = set(re.findall(r"`([\w-]+)`", shipped))
    assert planned_models, "no shipped model found in the plan's `tasnet_edu.pretrained` line"
    assert not planned_models - set(pretrained.SHIPPED), sorted(planned_models - set(pretrained.SHIPPED))


def test_setup_cell_is_a_no_op_outside_colab():
    assert "google.colab" not in sys.modules
    before = set(sys.modules)
    exec(compile(setup_cell_source(), "<setup cell>", "exec"), {})
    assert Path.cwd().exists() and "google.colab" not in set(sys.modules) - before


def test_sync_points_readme_badges_at_the_repository_course_names(monkeypatch):
    """A fork sets REPOSITORY in scripts/course.py; scripts/sync_notebooks.py re-points every badge."""
    import importlib.util

    import course

    spec = importlib.util.spec_from_file_location("sync_notebooks", ROOT / "scripts" / "sync_notebooks.py")
    sync = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sync)
    readme = (ROOT / "README.md").read_text()
    assert sync.readme_badges(readme) == readme  # already in step
    monkeypatch.setattr(course, "REPOSITORY", "someone/fork")
    forked = sync.readme_badges(readme)
    assert all(colab_badge(path.name) in forked for path in NOTEBOOKS)
    assert forked.count("github/someone/fork/blob/") == len(NOTEBOOKS)
    assert "tasnet-edu/tasnet-edu" not in forked


def test_setup_cell_says_in_one_line_what_to_change_when_the_clone_fails(monkeypatch, tmp_path):
    import subprocess
    import types

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    calls = []

    def failing_run(args, **kwargs):
        calls.append(args)
        return subprocess.CompletedProcess(args, 128)  # what git exits with for a missing repository

    monkeypatch.setattr(subprocess, "run", failing_run)
    with pytest.raises(SystemExit) as stop:
        exec(compile(setup_cell_source(), "<setup cell>", "exec"), {})
    message = str(stop.value)
    assert calls and calls[0][:2] == ["git", "clone"] and len(calls) == 1  # nothing installed after it
    assert "\n" not in message and "scripts/course.py" in message and calls[0][-2] in message
