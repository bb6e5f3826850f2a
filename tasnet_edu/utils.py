"""Small helpers shared by the chapters: seeding, devices, parameter counts, input checks."""

from __future__ import annotations

import ctypes
import ctypes.util
import random

import numpy as np
import torch

from tasnet_edu.errors import CourseError


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch so that a notebook re-run gives the same numbers.

    Returns a ``torch.Generator`` seeded the same way, for code that wants its own stream.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def default_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast_dtype(device, allowed: bool = True) -> torch.dtype | None:
    """The course's one mixed-precision decision: bf16 on a CUDA GPU with native bf16 (Ampere and newer),
    ``None`` (float32) elsewhere, e.g. on a T4 or a CPU, or when ``allowed`` is false. Never fp16."""
    device = torch.device(device)
    if allowed and device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False):
        return torch.bfloat16
    return None


def autocast(device, dtype: torch.dtype | None):
    """``torch.autocast`` context for ``dtype`` from ``autocast_dtype`` (``None``: a no-op, float32)."""
    device = torch.device(device)
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def count_parameters(module: torch.nn.Module) -> int:
    """Number of trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def check_finite(x: torch.Tensor, name: str = "input") -> None:
    """Raise ``CourseError`` if ``x`` holds NaN or Inf (silently wrong output is worse than an error)."""
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).sum())
        raise CourseError(
            f"{name} has {bad} NaN/Inf value(s) (shape {tuple(x.shape)}); clean the signal first"
        )


def check_waveform_batch(x, who: str, min_samples: int = 0, window: str = "window", hint: str = "") -> None:
    """Raise ``CourseError`` unless ``x`` is a ``(batch, time)`` tensor with at least ``min_samples`` samples.

    ``who`` names the caller in the message, ``window`` says what ``min_samples`` samples are
    (``"window (L=16)"``), ``hint`` is appended to the too-short message.
    NaN/Inf are not checked here (``check_finite``).
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else f"a {type(x).__name__}, not a torch.Tensor"
        raise CourseError(f"{who} expects a waveform tensor shaped (batch, time), got {shape}; "
                          "add a batch axis with x.unsqueeze(0)")
    if x.shape[-1] < min_samples:
        raise CourseError(f"{who}: the waveform of shape {tuple(x.shape)} is too short: "
                          f"{x.shape[-1]} samples, fewer than one {window}{hint}")


def check_mixture(mix, who: str, min_samples: int = 0, window: str = "window") -> None:
    """The models' input check: ``mix`` is a finite ``(batch, time)`` tensor of at least ``min_samples``
    samples (one ``window``), else a ``CourseError`` naming ``who`` and the problem."""
    check_waveform_batch(mix, who, min_samples, window)
    check_finite(mix, "mixture")


def check_same_shape(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str] = ("est", "ref")) -> None:
    """Raise ``CourseError`` naming both shapes when ``a`` and ``b`` differ in shape."""
    if a.shape != b.shape:
        raise CourseError(
            f"{names[0]} and {names[1]} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def as_tensor(x, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """NumPy array or tensor → float tensor (no copy when already a tensor of that dtype)."""
    if isinstance(x, torch.Tensor):
        return x.to(dtype)
    return torch.as_tensor(np.asarray(x), dtype=dtype)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, glibc's malloc.h


def keep_freed_memory(mmap_threshold: int = 32 * 2**20, trim_threshold: int = 2**30) -> bool:
    """Ask glibc's allocator to reuse freed memory instead of giving it back to the kernel (Linux only).

    A forward pass allocates and frees tensors of several MB per layer. By default glibc serves blocks
    that large with fresh ``mmap`` pages, or trims the top of its heap when they are freed, so the next
    pass page-faults the same memory in again. Serving blocks up to ``mmap_threshold`` bytes from the heap
    and trimming only above ``trim_threshold`` freed bytes avoids that (measured in
    ``benchmarks/bench_conv_tasnet.py``). The memory a process holds then stays at its peak instead of
    shrinking between passes. Returns ``False`` where there is no glibc (macOS, Windows, musl), and then
    changes nothing.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallopt") or not hasattr(libc, "gnu_get_libc_version"):
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold) and libc.mallopt(_M_TRIM_THRESHOLD,
                                                                                 trim_threshold))
