"""Exercises of chapter 02 (ideal masks and phase).

1. ``check_ideal_ratio_mask(fn)``: write the IRM of the Conv-TasNet paper from source magnitudes.
2. ``check_ideal_binary_mask(fn)``: write the IBM.
3. ``check_true_phase(fn)``: give a masked magnitude the true source's phase.
"""

from __future__ import annotations

import torch

from tasnet_edu import masks


def _magnitudes(seed: int = 0) -> torch.Tensor:
    """``(n_src, freq, frames)`` random magnitudes with a few silent bins, for the checks."""
    g = torch.Generator().manual_seed(seed)
    mag = torch.rand(2 + seed % 2, 17, 9, generator=g) ** 3
    mag[:, 0, 0] = 0.0
    return mag


# --- 1. IRM -------------------------------------------------------------------------------------------
def _solution_ideal_ratio_mask(mag: torch.Tensor) -> torch.Tensor:
    return mag / mag.sum(0, keepdim=True).clamp_min(1e-12)


def check_ideal_ratio_mask(fn) -> None:
    """``fn(mag (n_src, freq, frames)) -> masks (n_src, freq, frames)``: ``|S_i| / Σ_j |S_j|``, 0 where all
    sources are silent."""
    for seed in range(3):
        mag = _magnitudes(seed)
        got = torch.as_tensor(fn(mag.clone()))
        assert got.shape == mag.shape, f"expected shape {tuple(mag.shape)}, got {tuple(got.shape)}"
        assert torch.isfinite(got).all(), "NaN in the mask: guard the bins where every source is silent"
        assert torch.allclose(got, masks.ideal_ratio_mask(mag), atol=1e-5), (
            "not the IRM. Hint: divide each source's magnitude by the sum over sources (dim 0); "
            "the masks of one bin add up to 1."
        )
    print("Correct: the IRM shares each bin's mixture magnitude in proportion to the sources' magnitudes.")


# --- 2. IBM -------------------------------------------------------------------------------------------
def _solution_ideal_binary_mask(mag: torch.Tensor) -> torch.Tensor:
    winner = mag.argmax(0)  # torch returns the first index on a tie
    return (torch.arange(mag.shape[0])[:, None, None] == winner).float()


def check_ideal_binary_mask(fn) -> None:
    """``fn(mag (n_src, freq, frames)) -> masks``: 1 for the loudest source of each bin, 0 for the others
    (on a tie, the first source wins, so every bin belongs to exactly one source)."""
    for seed in range(3):
        mag = _magnitudes(seed)
        got = torch.as_tensor(fn(mag.clone())).float()
        assert got.shape == mag.shape, f"expected shape {tuple(mag.shape)}, got {tuple(got.shape)}"
        assert torch.equal(got, masks.ideal_binary_mask(mag)), (
            "not the IBM. Hint: argmax over the source axis (dim 0) says who wins each bin; compare it with "
            "torch.arange(n_src)[:, None, None]. Silent bins (all zero) go to source 0."
        )
    print("Correct: each bin goes entirely to its loudest source.")


# --- 3. true phase ------------------------------------------------------------------------------------
def _solution_true_phase(masked_magnitude: torch.Tensor, source_spec: torch.Tensor) -> torch.Tensor:
    return torch.polar(masked_magnitude, source_spec.angle())


def check_true_phase(fn) -> None:
    """``fn(masked_magnitude (freq, frames) real, source_spec (freq, frames) complex) -> complex STFT`` with
    the given magnitude and the source's phase."""
    g = torch.Generator().manual_seed(0)
    spec = torch.complex(torch.randn(17, 9, generator=g), torch.randn(17, 9, generator=g))
    magnitude = torch.rand(17, 9, generator=g)
    got = torch.as_tensor(fn(magnitude, spec))
    assert got.is_complex() and got.shape == spec.shape, "return a complex tensor shaped like source_spec"
    assert torch.allclose(got, _solution_true_phase(magnitude, spec), atol=1e-5), (
        "Hint: a complex number is magnitude · exp(i · phase); torch.polar(abs, angle) builds it, "
        "and source_spec.angle() is the phase."
    )
    print("Correct: that is oracle_separate(..., phase='true').")
