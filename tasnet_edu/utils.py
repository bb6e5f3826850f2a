"""Small helpers shared by the chapters: seeding, devices and precision, parameter counts, input checks,
atomic file writes."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import random
import shutil
import tarfile
import tempfile
from pathlib import Path

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


def module_device(module: torch.nn.Module, default=None) -> torch.device:
    """The device of ``module``'s first parameter or buffer; ``default`` (else CPU) when it has none."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device(default) if default is not None else torch.device("cpu")


def native_bf16(device) -> bool:
    """True on a CUDA GPU with bf16 units: compute capability 8.0 or more (A100, L4, H100), not a T4 (7.5).

    Read from the capability rather than ``torch.cuda.is_bf16_supported``: its ``including_emulation``
    keyword (without it, a T4 counts as supporting bf16, emulated and slow) is missing from some of the
    torch versions that ``torch>=2.1`` admits. ROCm GPUs answer through ``is_bf16_supported()``.
    """
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    if getattr(torch.version, "hip", None):
        return bool(torch.cuda.is_bf16_supported())
    return torch.cuda.get_device_capability(device) >= (8, 0)


#: Precisions a ``Trainer`` can run its forward pass in (``"auto"``: ``autocast_dtype`` decides).
PRECISIONS = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}


def autocast_dtype(device, allowed: bool = True) -> torch.dtype | None:
    """The course's one mixed-precision decision for ``device``.

    * bf16 on a CUDA GPU with bf16 units (``native_bf16``: A100, L4, H100): float32's range, no scaling;
    * fp16 on a CUDA GPU with tensor cores but no bf16 units (compute capability 7.x: T4, V100), where
      fp16 is what the tensor cores multiply; training then needs loss scaling (``grad_scaler``);
    * ``None`` (float32) on a CPU, an older GPU, or when ``allowed`` is false.

    In every case the SI-SNR loss is computed in float32 (``tasnet_edu.metrics`` turns autocast off).
    """
    device = torch.device(device)
    if not allowed or device.type != "cuda" or not torch.cuda.is_available():
        return None
    if native_bf16(device):
        return torch.bfloat16
    return torch.float16 if torch.cuda.get_device_capability(device) >= (7, 0) else None


def autocast(device, dtype: torch.dtype | None):
    """``torch.autocast`` context for ``dtype`` from ``autocast_dtype`` (``None``: a no-op, float32)."""
    device = torch.device(device)
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def grad_scaler(device, dtype: torch.dtype | None):
    """A gradient scaler, enabled only for fp16 autocast (fp16 gradients underflow without scaling).

    ``torch.amp.GradScaler`` where torch has it (2.3 on), else ``torch.cuda.amp.GradScaler``.
    """
    device = torch.device(device)
    enabled = dtype == torch.float16
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler(device.type, enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled and device.type == "cuda")


@contextlib.contextmanager
def cudnn_benchmark(enabled: bool):
    """Set ``torch.backends.cudnn.benchmark`` inside the block, and put the old value back after it.

    Benchmark mode times several convolution algorithms for each new input shape and keeps the fastest:
    a gain for training steps (one crop length), a loss for validation (every utterance a new length).
    """
    old = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = old


def _umask() -> int:
    """The process's umask: the only portable way to read it is to set it, so it is put back at once."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path, fsync: bool = False):
    """Make ``path`` appear whole: the block writes the temporary file this yields, which then takes the name.

    The temporary file (``.<name>.<random>.part``) lies in ``path``'s folder, so the rename (``os.replace``)
    is atomic: no reader, and no process killed mid-write, ever sees half a file under the real name. An
    error inside the block removes it and leaves ``path`` as it was. The file gets the mode of an ordinary
    new file (0o666 less the umask; ``mkstemp`` makes it private). ``fsync=True`` also flushes it to the disk
    before the rename, so that it survives a power cut (a checkpoint at the end of hours of training).

    Raises:
        CourseError: the folder is missing or not writable.

    Example:
        >>> with atomic_write(folder / "notes.txt") as tmp:  # doctest: +SKIP
        ...     tmp.write_text("written whole or not at all")
    """
    path = Path(path)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as err:
        raise CourseError(f"{path}: cannot write in {path.parent} ({err.strerror or err}); choose a writable "
                          "folder") from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if fsync:
            fd = os.open(tmp, os.O_RDWR)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def archived_folder(archive, make, local_parent) -> Path:
    """A folder that is slow to make (a generated data set), kept as one tar file on lasting storage.

    When ``archive`` exists its folder is unpacked under ``local_parent`` (local disk: reading thousands of
    small files from a network drive is slow) unless already there, and ``make`` is not called; otherwise
    ``make()`` builds the folder and returns its path, and the folder is written to ``archive``
    (``atomic_write``: a session that ends mid-write leaves no truncated archive).
    On Colab: ``archive`` on Google Drive outlives the runtime, ``local_parent`` under ``/content`` does not.

    Returns the local folder. ``CourseError`` when the archive does not hold exactly one top-level folder.
    """
    archive, local_parent = Path(archive), Path(local_parent)
    if not archive.is_file():
        folder = Path(make())
        archive.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(archive) as partial, tarfile.open(partial, "w") as tar:
            tar.add(folder, arcname=folder.name)
        return folder
    with tarfile.open(archive) as tar:
        tops = {Path(name).parts[0] for name in tar.getnames() if name not in ("", ".")}
        if len(tops) != 1:
            raise CourseError(f"{archive} should hold one folder, found {len(tops)} top-level entries "
                              f"{sorted(tops)[:5]}; delete it and let the folder be made again")
        folder = local_parent / tops.pop()
        if not folder.is_dir():
            local_parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=local_parent))
            try:
                tar.extractall(staging, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
                (staging / folder.name).replace(folder)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    return folder


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


def defer_non_finite(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x or zeros, factor)``: a loss on the first, times ``factor``, is NaN exactly when ``x`` holds NaN or
    Inf (a trainer then must not step, whatever the gradients hold); no value is read back from the GPU to
    decide.

    For training losses whose input checks (``check_finite``) would raise on one process only: the
    divergence then shows in the loss and gradients, which the trainer checks on every process at once.
    Shapes: ``x`` any; ``factor`` a 0-dim tensor (1.0 or NaN) on ``x``'s device.
    """
    finite = torch.isfinite(x).all()
    factor = torch.where(finite, 1.0, float("nan")).to(torch.promote_types(x.dtype, torch.float32))
    return torch.where(finite, x, torch.zeros((), dtype=x.dtype, device=x.device)), factor


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
