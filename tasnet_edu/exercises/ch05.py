"""Exercises of chapter 05 (learned encoder vs STFT).

1. ``check_code_ratio_mask(fn)``: write the oracle ratio mask that works in any basis.
2. ``check_bin_frequency(fn)``: the centre frequency in Hz of an STFT channel, from its DFT bin.
"""

from __future__ import annotations

import torch

from tasnet_edu.encoders import STFTEncoder, code_ratio_masks, filter_responses


# --- 1. the oracle ratio mask in any basis ------------------------------------------------------------
def _solution_code_ratio_mask(source_codes: torch.Tensor) -> torch.Tensor:
    """``|W_i| / Σ_j |W_j|`` for codes ``(n_src, N, frames)`` of each source."""
    mag = source_codes.abs()
    return mag / (mag.sum(dim=0, keepdim=True) + 1e-8)


def check_code_ratio_mask(fn) -> None:
    """``fn(source_codes (n_src, N, frames)) -> masks (n_src, N, frames)``: ``|W_i| / Σ_j |W_j|``."""
    g = torch.Generator().manual_seed(5)
    for n_src in (2, 3):
        codes = torch.randn(n_src, 12, 7, generator=g, dtype=torch.float64)
        expected = code_ratio_masks(codes.unsqueeze(0))[0]
        got = torch.as_tensor(fn(codes), dtype=torch.float64)
        assert got.shape == expected.shape, f"return one mask per source, shape {tuple(expected.shape)}; " \
            f"got {tuple(got.shape)}"
        assert got.min() >= 0, "a ratio of magnitudes is never negative: did you forget the absolute value?"
        assert torch.allclose(got, expected, atol=1e-6), (
            "the masks differ from |W_i| / Σ_j |W_j|. Hint: sum the magnitudes over the source axis (dim 0) "
            "and keep that axis so the division broadcasts."
        )
    print("Correct: the masks lie in [0, 1] and share out each coefficient of the mixture among the sources.")


# --- 2. which frequency does an STFT channel hold? ----------------------------------------------------
def _solution_bin_frequency(k: int, L: int, sample_rate: int) -> float:
    """Bin k of an L-point DFT is centred on k · sample_rate / L Hz."""
    return k * sample_rate / L


def check_bin_frequency(fn) -> None:
    """``fn(k, L, sample_rate) -> Hz``: centre frequency of DFT bin k for a window of L samples."""
    for L, sample_rate in ((16, 8000), (40, 8000), (64, 16000)):
        enc = STFTEncoder(L)
        freqs, db, order = filter_responses(enc.weight, sample_rate, n_fft=L * 64)
        peaks = freqs[db.argmax(dim=-1)]
        for row in (1, L // 3, L - 2):
            k = int(enc.bins[row])
            got = float(fn(k, L, sample_rate))
            assert abs(got - float(peaks[row])) < sample_rate / L / 2, (
                f"for k={k}, L={L}, sample_rate={sample_rate} the STFT channel peaks near "
                f"{float(peaks[row]):.0f} Hz, you gave {got:.0f} Hz. "
                "Hint: the L bins are spaced sample_rate / L apart, from 0 Hz."
            )
    print("Correct: an L-sample window resolves frequency in steps of sample_rate / L "
          "(200 Hz for 5 ms at 8 kHz), which is why short STFT windows blur harmonics.")
