"""Exercises of chapter 04 (deep clustering).

1. ``check_affinity_loss(fn)``: write the affinity loss ‖VVᵀ − YYᵀ‖²_F in its low-rank form.
2. ``check_naive_memory(n_bytes)``: how much memory the full TF × TF affinity matrix would need.
3. ``check_active_bins(fn)``: write the silent-bin weights (bins within 40 dB of the loudest one).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tasnet_edu import SAMPLE_RATE
from tasnet_edu.masks import stft
from tasnet_edu.models.deep_clustering import active_bins, affinity_loss

SECONDS = 4.0
N_FFT, HOP = 256, 64


def _example(seed: int = 0, bins: int = 200, D: int = 6, C: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    V = F.normalize(torch.randn(1, bins, D, generator=g, dtype=torch.float64), dim=-1)
    Y = F.one_hot(torch.randint(0, C, (1, bins), generator=g), C).to(torch.float64)
    return V, Y


# --- 1. the low-rank affinity loss ------------------------------------------------------------------
def _solution_affinity_loss(V: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Unweighted, unnormalised ‖VVᵀ − YYᵀ‖²_F for one example ``V (TF, D)``, ``Y (TF, C)``."""
    return (V.T @ V).pow(2).sum() - 2 * (V.T @ Y).pow(2).sum() + (Y.T @ Y).pow(2).sum()


def check_affinity_loss(fn) -> None:
    """``fn(V (TF, D), Y (TF, C)) -> scalar``: ‖VVᵀ − YYᵀ‖²_F without building a TF × TF matrix.

    No weights, no normalisation: the package's ``affinity_loss`` divides by TF², so ``fn`` must give
    TF² times its value.
    """
    for seed in range(3):
        V, Y = _example(seed)
        expected = affinity_loss(V, Y) * V.shape[1] ** 2
        got = torch.as_tensor(fn(V[0], Y[0]), dtype=torch.float64)
        assert got.numel() == 1, f"return one number (a scalar tensor), got shape {tuple(got.shape)}"
        assert torch.allclose(got, expected, rtol=1e-6), (
            f"got {float(got):.4f}, expected {float(expected):.4f}. Hint: expand "
            "‖A − B‖² = ‖A‖² − 2⟨A, B⟩ + ‖B‖² and use ‖VVᵀ‖² = ‖VᵀV‖² (a D × D matrix), "
            "⟨VVᵀ, YYᵀ⟩ = ‖VᵀY‖² (D × C)."
        )
    print("Correct: three small products (D×D, D×C, C×C) replace a TF × TF matrix.")


# --- 2. memory of the naive loss ---------------------------------------------------------------------
def _solution_naive_memory() -> int:
    """Bytes of one float32 TF × TF affinity matrix for a 4 s mixture (n_fft=256, hop=64, centred frames)."""
    n_bins = N_FFT // 2 + 1
    frames = int(SECONDS * SAMPLE_RATE) // HOP + 1
    return (n_bins * frames) ** 2 * 4


def check_naive_memory(n_bytes) -> None:
    """How many bytes does ``V @ V.T`` take in float32 for one 4 s, 8 kHz mixture (n_fft=256, hop=64)?

    Count the frames as ``tasnet_edu.masks.stft`` does (centred frames: ``time // hop + 1``).
    """
    expected = _solution_naive_memory()
    frames = stft(torch.zeros(int(SECONDS * SAMPLE_RATE)), N_FFT, HOP).shape
    assert abs(float(n_bytes) - expected) <= 0.01 * expected, (
        f"got {float(n_bytes):.3g} bytes. Hint: the STFT of 4 s has shape {tuple(frames)} "
        "(frequency bins × frames); TF is their product, the matrix has TF² entries of 4 bytes."
    )
    print(f"Correct: {expected / 1e9:.1f} GB for a single example — hence the low-rank form.")


# --- 3. silent-bin weights --------------------------------------------------------------------------
def _solution_active_bins(magnitude: torch.Tensor) -> torch.Tensor:
    """1.0 where ``magnitude (F, T)`` is within 40 dB of its maximum, else 0.0."""
    return (20 * torch.log10(magnitude / magnitude.max()) > -40).float()


def check_active_bins(fn) -> None:
    """``fn(magnitude (F, T)) -> weights (F, T)``: 1.0 for bins within 40 dB of the loudest bin, else 0.0."""
    g = torch.Generator().manual_seed(0)
    magnitude = torch.rand(129, 50, generator=g).pow(6) * 3.0  # many quiet bins, a few loud ones
    expected = active_bins(magnitude[None])[0]
    got = torch.as_tensor(fn(magnitude)).float()
    assert got.shape == expected.shape, (
        f"return the shape of the input {tuple(expected.shape)}, got {tuple(got.shape)}")
    wrong = int((got != expected).sum())
    assert wrong == 0, (
        f"{wrong} of {expected.numel()} bins differ. Hint: 40 dB below the maximum of a *magnitude* is a "
        "factor of 10^(40/20) = 100, not 10^4 (that would be for a power)."
    )
    print(f"Correct: {int(expected.sum())} of {expected.numel()} bins take part in the loss.")
