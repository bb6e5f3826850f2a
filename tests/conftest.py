"""Fixtures shared by the package tests: a fake corpus in the wsj0-2mix layout (writers in ``fakes.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fakes import numbered, write_wsj_split


@pytest.fixture
def wsj_tree(tmp_path) -> Path:
    """``tmp_path/data`` with 8 training, 2 validation and 2 test mixtures of 1.2 s."""
    for split, n in (("tr", 8), ("cv", 2), ("tt", 2)):
        write_wsj_split(tmp_path / "data", split, numbered(n, 1.2), seed=len(split) + n)
    return tmp_path / "data"



def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: needs a CUDA GPU; skipped without one (scripts/gpu_check.sh "
                                       "runs them with -m cuda)")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no CUDA GPU here (scripts/gpu_check.sh runs these on one)")
    for item in items:
        if item.get_closest_marker("cuda"):
            item.add_marker(skip)
