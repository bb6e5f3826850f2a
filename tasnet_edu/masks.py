"""The STFT and ideal (oracle) time-frequency masks: the ceiling of magnitude masking.

A mask-based separator multiplies the mixture's STFT by one mask per source and inverts the result. The
*ideal* masks below are computed from the true sources, so they show the best any magnitude-mask system can
do in this representation — the numbers Conv-TasNet was compared with (Luo & Mesgarani 2019, eqs. 16–18 and
Table IV: IBM, IRM, WFM from an STFT with a 32 ms Hann window and 8 ms hop, at 8 kHz ``n_fft=256,
hop_length=64``). Arguments are named as librosa names them (``n_fft``, ``hop_length``).

With ``S_i(t, f)`` the STFT of source i:

- IBM (ideal binary mask): 1 where source i is the loudest, ``|S_i| > |S_j|`` for every j ≠ i, else 0
  (an exact tie goes to the lower index, so every bin belongs to exactly one source).
- IRM (ideal ratio mask): ``|S_i| / Σ_j |S_j|``.
- WFM (Wiener-filter-like mask): ``|S_i|² / Σ_j |S_j|²``.

The masked magnitude needs a phase to be inverted: the mixture's (what a real masking system has) or, as an
upper bound, the true source's (``oracle_separate(..., phase="true")``).
"""

from __future__ import annotations

import torch

from tasnet_edu.errors import CourseError
from tasnet_edu.utils import as_tensor, check_finite

WINDOWS = ("hann", "sqrt_hann")


def _window(name: str, n_fft: int, x: torch.Tensor) -> torch.Tensor:
    """Periodic analysis/synthesis window; ``sqrt_hann`` is its own perfect-reconstruction dual."""
    if name not in WINDOWS:
        raise CourseError(f"window must be one of {WINDOWS}, got {name!r}")
    window = torch.hann_window(n_fft, periodic=True, dtype=x.dtype, device=x.device)
    return window.sqrt() if name == "sqrt_hann" else window


def stft(x, n_fft: int = 256, hop_length: int = 64, window: str = "hann") -> torch.Tensor:
    """Short-time Fourier transform of ``x`` ``(..., time)`` → complex ``(..., n_fft // 2 + 1, frames)``.

    Frames are centred (the signal is padded by ``n_fft // 2`` on both sides, so frame k is centred on
    sample ``k * hop_length``), ``frames = time // hop_length + 1``. Bin f is at ``f * sample_rate / n_fft``
    Hz. The defaults are the paper's 32 ms window and 8 ms hop at 8 kHz.

    Example:
        >>> stft(torch.randn(2, 8000)).shape   # 32 ms window, 8 ms hop at 8 kHz
        torch.Size([2, 129, 126])
        >>> stft(torch.randn(8000), hop_length=80).shape   # 10 ms hop
        torch.Size([129, 101])
    """
    x = as_tensor(x)
    check_finite(x, "x")
    if x.shape[-1] < n_fft // 2 + 1:
        raise CourseError(f"x {tuple(x.shape)} is too short for n_fft={n_fft}: need > {n_fft // 2} samples")
    lead = x.shape[:-1]
    spec = torch.stft(
        x.reshape(-1, x.shape[-1]), n_fft, hop_length=hop_length, window=_window(window, n_fft, x),
        center=True, return_complex=True,
    )
    return spec.reshape(*lead, *spec.shape[-2:])


def istft(X: torch.Tensor, n_fft: int = 256, hop_length: int = 64, length: int | None = None,
          window: str = "hann") -> torch.Tensor:
    """Inverse of ``stft``: complex ``(..., freq, frames)`` → ``(..., time)`` by weighted overlap-add.

    ``istft(stft(x), length=x.shape[-1])`` gives ``x`` back to float precision for both windows (the
    overlap-add divides by the summed squared window). Pass ``length`` to trim to the original length.

    Example:
        >>> x = torch.randn(8000)
        >>> bool(torch.allclose(istft(stft(x, hop_length=80), hop_length=80, length=8000), x, atol=1e-5))
        True
    """
    lead = X.shape[:-2]
    x = torch.istft(
        X.reshape(-1, *X.shape[-2:]), n_fft, hop_length=hop_length,
        window=_window(window, n_fft, X.real), center=True, length=length,
    )
    return x.reshape(*lead, x.shape[-1])


def _magnitudes(sources_spec: torch.Tensor) -> torch.Tensor:
    if sources_spec.ndim < 3:
        raise CourseError(
            f"masks need source spectrograms (..., n_src, freq, frames), got {tuple(sources_spec.shape)}"
        )
    return sources_spec.abs() if sources_spec.is_complex() else sources_spec


def _ratio(part: torch.Tensor) -> torch.Tensor:
    """``part_i / Σ_j part_j`` over the source axis; 0 (not 0/0) in bins where every source is silent."""
    # The smallest positive float guards only exact zeros, so the masks still sum to 1 in quiet bins.
    return part / (part.sum(dim=-3, keepdim=True) + torch.finfo(part.dtype).tiny)


def ideal_binary_mask(sources_spec: torch.Tensor) -> torch.Tensor:
    """IBM: 1 in the bins where source i is the loudest, else 0; ``(..., n_src, freq, frames)`` → same shape.

    Accepts complex STFTs or magnitudes. Ties go to the lower source index, so the masks sum to exactly 1.
    """
    mag = _magnitudes(sources_spec)
    winner = mag.argmax(dim=-3, keepdim=True)
    return (torch.arange(mag.shape[-3], device=mag.device).view(-1, 1, 1) == winner).to(mag.dtype)


def ideal_ratio_mask(sources_spec: torch.Tensor) -> torch.Tensor:
    """IRM as in Conv-TasNet: ``|S_i| / Σ_j |S_j|`` per bin; ``(..., n_src, freq, frames)`` → same shape."""
    return _ratio(_magnitudes(sources_spec))


def wiener_filter_mask(sources_spec: torch.Tensor) -> torch.Tensor:
    """WFM (Wiener-filter-like mask) as in Conv-TasNet: ``|S_i|² / Σ_j |S_j|²``; same shape in and out."""
    return _ratio(_magnitudes(sources_spec).pow(2))


MASKS = {"ibm": ideal_binary_mask, "irm": ideal_ratio_mask, "wfm": wiener_filter_mask}


def oracle_separate(mix, sources, mask: str = "irm", n_fft: int = 256, hop_length: int = 64,
                    phase: str = "mixture", window: str = "hann") -> torch.Tensor:
    """Separate ``mix`` with an ideal mask computed from the true ``sources``.

    Args:
        mix: ``(..., time)`` mixture.
        sources: ``(..., n_src, time)`` the true sources (the oracle's knowledge).
        mask: ``"ibm"``, ``"irm"`` or ``"wfm"`` (see the module docstring).
        n_fft, hop_length: STFT window and hop in samples (256 / 64 = 32 ms / 8 ms at 8 kHz, as in the paper).
        phase: ``"mixture"`` — mask applied to the complex mixture STFT (what a masking system can do);
            ``"true"`` — the same masked magnitude ``M_i |X|`` given each source's own phase (an upper bound).

    Returns:
        ``(..., n_src, time)`` estimates, the length of ``mix``.
    """
    mix, sources = as_tensor(mix), as_tensor(sources)
    if sources.ndim < 2 or mix.shape != sources.shape[:-2] + sources.shape[-1:]:
        raise CourseError(
            f"mix must be shaped like sources without the source axis: sources {tuple(sources.shape)}, "
            f"mix {tuple(mix.shape)}"
        )
    if mask not in MASKS:
        raise CourseError(f"mask must be one of {sorted(MASKS)}, got {mask!r}")
    if phase not in ("mixture", "true"):
        raise CourseError(f"phase must be 'mixture' or 'true', got {phase!r}")
    check_finite(sources, "sources")
    mix_spec = stft(mix, n_fft, hop_length, window).unsqueeze(-3)  # (..., 1, freq, frames)
    src_spec = stft(sources, n_fft, hop_length, window)
    masks = MASKS[mask](src_spec)
    if phase == "mixture":
        est_spec = masks * mix_spec
    else:
        est_spec = torch.polar(masks * mix_spec.abs(), src_spec.angle())
    return istft(est_spec, n_fft, hop_length, length=mix.shape[-1], window=window)
