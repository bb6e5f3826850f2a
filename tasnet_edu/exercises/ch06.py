"""Exercises of chapter 06 (TasNet).

1. ``check_gated_code(fn)``: code one segment the way TasNet's encoder does.

(The latency of a window is chapter 01's exercise 2; it is not asked again here.)
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

