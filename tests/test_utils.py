"""utils.keep_freed_memory: applies on glibc, changes nothing elsewhere."""

import platform
import sys

import torch

from tasnet_edu.utils import keep_freed_memory


def test_keep_freed_memory_applies_exactly_where_glibc_is():
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert keep_freed_memory() is glibc
    x = torch.randn(512, 4000)  # large blocks still allocate, free and compute as before
    assert torch.equal(x.clone() * 2, x + x)
