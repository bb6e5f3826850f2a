"""utils.keep_freed_memory: applies on glibc, changes nothing elsewhere; utils.atomic_write: whole files."""

import os
import platform
import sys

import pytest
import torch

from tasnet_edu.errors import CourseError
from tasnet_edu.utils import atomic_write, keep_freed_memory


def test_keep_freed_memory_applies_exactly_where_glibc_is():
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert keep_freed_memory() is glibc
    x = torch.randn(512, 4000)  # large blocks still allocate, free and compute as before
    assert torch.equal(x.clone() * 2, x + x)


def test_atomic_write_replaces_the_file_whole_with_the_usual_mode(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("old")
    old = os.umask(0o022)
    try:
        with atomic_write(path, fsync=True) as tmp:
            assert tmp.parent == tmp_path and tmp.name.startswith(".notes.txt.") and path.read_text() == "old"
            tmp.write_text("new")
    finally:
        os.umask(old)
    assert path.read_text() == "new" and path.stat().st_mode & 0o777 == 0o644  # not mkstemp's private 0600
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_atomic_write_leaves_the_old_file_when_the_block_fails(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="interrupted"), atomic_write(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted mid-write")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_atomic_write_names_a_folder_it_cannot_write_in(tmp_path):
    with pytest.raises(CourseError, match=r"missing/notes.txt: cannot write in .*missing"), \
            atomic_write(tmp_path / "missing" / "notes.txt"):
        pass
