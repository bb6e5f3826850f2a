"""Fixtures shared by the package tests: a fake corpus in the wsj0-2mix layout (writers in ``fakes.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import numbered, write_wsj_split


@pytest.fixture
def wsj_tree(tmp_path) -> Path:
    """``tmp_path/data`` with 8 training, 2 validation and 2 test mixtures of 1.2 s."""
    for split, n in (("tr", 8), ("cv", 2), ("tt", 2)):
        write_wsj_split(tmp_path / "data", split, numbered(n, 1.2), seed=len(split) + n)
    return tmp_path / "data"
