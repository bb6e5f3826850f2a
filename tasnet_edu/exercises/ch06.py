"""Exercises of chapter 06 (TasNet).

1. ``check_gated_code(fn)``: code one segment the way TasNet's encoder does.
2. ``check_latency_ms(fn)``: the minimum latency of a frame-based separator with a window of L samples.
"""

from __future__ import annotations

import torch

from tasnet_edu.encoders import GatedEncoder


# --- 1. TasNet's gated code of one segment ------------------------------------------------------------
def _solution_gated_code(segment: torch.Tensor, U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """``ReLU(U x̂) ⊙ sigmoid(V x̂)`` with ``x̂ = x / ‖x‖₂`` for one segment ``(L,)`` and weights ``(N, L)``."""
    x = segment / segment.norm()
    return torch.relu(U @ x) * torch.sigmoid(V @ x)


def check_gated_code(fn) -> None:
    """``fn(segment (L,), U (N, L), V (N, L)) -> codes (N,)``, compared with ``GatedEncoder``."""
    torch.manual_seed(6)
    enc = GatedEncoder(N=24, L=40).double()
    U, V = enc.conv_U.weight[:, 0].detach(), enc.conv_V.weight[:, 0].detach()
    for scale in (1.0, 0.01):
        segment = scale * torch.randn(40, dtype=torch.float64)
        expected = enc(segment.view(1, -1))[0][0, :, 0].detach()
        got = torch.as_tensor(fn(segment, U, V), dtype=torch.float64).reshape(-1)
        assert got.shape == expected.shape, f"return N = 24 codes, got shape {tuple(got.shape)}"
        assert torch.allclose(got, expected, atol=1e-6), (
            "codes differ from TasNet's. Hints: divide the segment by its L2 norm first (the codes must not "
            "change when the segment is 100 times quieter), then ReLU(U x̂) times sigmoid(V x̂)."
        )
    print("Correct: non-negative codes, independent of the segment's loudness.")


# --- 2. latency of a window ----------------------------------------------------------------------------
def _solution_latency_ms(L: int, sample_rate: int) -> float:
    """A frame can be processed only once all its L samples have arrived: L / sample_rate seconds."""
    return 1000.0 * L / sample_rate


def check_latency_ms(fn) -> None:
    """``fn(L, sample_rate) -> ms``: the minimum algorithmic latency of a causal model with window L."""
    for L, sample_rate in ((40, 8000), (256, 8000), (16, 8000), (512, 16000)):
        expected = _solution_latency_ms(L, sample_rate)
        got = float(fn(L, sample_rate))
        assert abs(got - expected) < 1e-6, (
            f"L={L}, sample_rate={sample_rate}: got {got} ms. Hint: the first output sample of a frame "
            "needs the whole frame, L samples, which take L / sample_rate seconds to arrive; answer in ms."
        )
    print("Correct: 5 ms for TasNet's 40-sample window at 8 kHz, 32 ms for a 256-sample STFT window.")
